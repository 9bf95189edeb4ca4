//! The gateway's request handler: route → validate → limit → cache → upstream → answer.
//!
//! Built from typed [`Settings`] and callable without a socket
//! ([`Gateway::handle`]), so tests can drive it directly; [`crate::server`] puts it on
//! a listener.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::request::Parts;
use http::{Method, Request, Response, StatusCode};

use crate::auth::Keys;
use crate::cache::{Ask, CacheStatus, Entry, Lookup, ResponseCache, Ticket};
use crate::config::Settings;
use crate::cors::Cors;
use crate::error::GatewayError;
use crate::jsonp;
use crate::limit::{self, ClientId, ClientLimiter};
use crate::response::{self, Body};
use crate::route::{self, QueryOptions, RouteError, Target, TtlClass};

/// The peer address [`Gateway::handle`] assumes when a test calls it without a socket.
pub const NO_PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
use crate::server::Handler;
use crate::upstream::{Fetched, Upstream, UpstreamError};

/// The gateway: its settings, its cache and its one upstream client.
#[derive(Debug)]
pub struct Gateway {
    /// The validated configuration this gateway was built from.
    settings: Arc<Settings>,
    /// The client for AppSignal, holding the token.
    upstream: Upstream,
    /// Answers by normalised upstream target; shared with the flights that fill it.
    cache: Arc<ResponseCache>,
    /// The CORS policy.
    cors: Cors,
    /// Per-client token buckets.
    limiter: ClientLimiter,
    /// Dashboard keys, when configured.
    keys: Keys,
}

/// What the access log line says about a request, filled in as it is handled.
#[derive(Debug, Default)]
struct AccessLog {
    route: &'static str,
    app: Option<Arc<str>>,
    /// The dashboard key's name, when keys are configured.
    key: Option<Arc<str>>,
    /// How the cache answered, when the route is cached.
    cache: Option<CacheStatus>,
    /// AppSignal's status, when this request's answer came from an upstream call.
    upstream: Option<u16>,
}

impl Gateway {
    /// Builds the gateway; fails only if the upstream TLS roots cannot be loaded.
    pub fn new(settings: Arc<Settings>) -> std::io::Result<Self> {
        let concurrency = settings.limits.max_upstream_concurrency.get();
        let upstream = Upstream::new(&settings.upstream, concurrency)?;
        let cache = Arc::new(ResponseCache::new(&settings.cache));
        let cors = Cors::new(&settings.cors);
        let limiter = ClientLimiter::new(settings.clients.rate_limit);
        let keys = Keys::new(&settings.clients.keys);
        Ok(Gateway { settings, upstream, cache, cors, limiter, keys })
    }

    /// Periodic upkeep: forgets idle clients' rate-limit state.
    pub fn housekeeping(&self) {
        self.limiter.housekeeping();
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The response cache.
    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    /// Answers one request from `peer`. The request body is never read: every route
    /// is a GET.
    pub async fn handle<B>(&self, request: Request<B>, peer: IpAddr) -> Response<Body> {
        let started = Instant::now();
        let (parts, _body) = request.into_parts();
        let mut log = AccessLog::default();
        let jsonp = &self.settings.jsonp;
        let callback = if jsonp.enabled {
            jsonp::requested_callback(parts.uri.query(), &jsonp.callback_param)
        } else {
            None
        };
        let mut response = match self.respond(&parts, peer, &mut log).await {
            Ok(response) => response,
            Err(error) => {
                if let GatewayError::RateLimited(_) = error {
                    tracing::debug!(peer = %peer, scope = "client", "rate limited");
                }
                error.into_response(callback.as_deref())
            }
        };
        if parts.method != Method::OPTIONS {
            self.cors.decorate(&parts.headers, &mut response);
        }
        if parts.method == Method::HEAD {
            response::strip_body(&mut response);
        }
        tracing::info!(
            method = %parts.method,
            route = log.route,
            app = log.app.as_deref().unwrap_or("-"),
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            key = log.key.as_deref(),
            cache = log.cache.map(CacheStatus::name),
            upstream = log.upstream,
            "request"
        );
        response
    }

    async fn respond(
        &self,
        request: &Parts,
        peer: IpAddr,
        log: &mut AccessLog,
    ) -> Result<Response<Body>, GatewayError> {
        let (method, uri, headers) = (&request.method, &request.uri, &request.headers);
        let path = uri.path();
        if path == "/healthz" {
            log.route = "healthz";
            return match *method {
                Method::GET | Method::HEAD => Ok(response::text(StatusCode::OK, "ok")),
                _ => Err(GatewayError::MethodNotAllowed),
            };
        }
        let matched = route::match_path(path, &self.settings.apps);
        if *method == Method::OPTIONS {
            // Preflights carry no key: answered here, never limited, never upstream.
            log.route = matched.as_ref().ok_or(GatewayError::NotFound)?.route.name;
            return Ok(self.cors.options(headers));
        }
        let key = match self.keys.required() {
            true => Some(self.keys.authenticate(headers, uri.query()).ok_or(GatewayError::Unauthorized)?),
            false => None,
        };
        log.key = key.map(|k| k.name.clone());
        // An app outside the key's scope is answered exactly like an unknown app.
        let matched =
            matched.filter(|m| key.is_none_or(|k| k.may_read(&m.app_id))).ok_or(GatewayError::NotFound)?;
        log.route = matched.route.name;
        log.app = Some(matched.app_id.clone());
        if !matches!(*method, Method::GET | Method::HEAD) {
            return Err(GatewayError::MethodNotAllowed);
        }
        let opts = QueryOptions {
            callback_param: &self.settings.jsonp.callback_param,
            jsonp: self.settings.jsonp.enabled,
        };
        let target = route::target(matched, uri.query(), opts).map_err(|e| match e {
            RouteError::NotFound => GatewayError::NotFound,
            RouteError::Param(p) => GatewayError::BadParameter(p),
            RouteError::Callback => GatewayError::BadCallback,
        })?;
        let client = match key {
            Some(key) => ClientId::Key(key.name.clone()),
            None => ClientId::Addr(limit::client_addr(peer, headers, &self.settings.clients.trusted_proxies)),
        };
        self.limiter.check(&client).map_err(GatewayError::RateLimited)?;
        let now = Instant::now();
        let (entry, status) = self.cached(&target, now).await.inspect_err(|e| {
            if let GatewayError::Upstream(error) = e {
                log.upstream = error.status();
            }
        })?;
        log.cache = Some(status);
        if status.went_upstream() {
            log.upstream = Some(entry.status.as_u16());
        }
        Ok(entry.respond(status, now, Ask::from_headers(headers, target.callback.as_deref())))
    }

    /// The entry answering `target`: from the cache, or from AppSignal through the
    /// single-flight, falling back to a stale entry when AppSignal fails.
    async fn cached(&self, target: &Target, now: Instant) -> Result<(Arc<Entry>, CacheStatus), GatewayError> {
        match self.cache.lookup(&target.upstream, now).await {
            Lookup::Fresh(entry) => Ok((entry, CacheStatus::Hit)),
            Lookup::Revalidate(entry) => {
                // Joining a refresh already under way starts nothing: one per key.
                drop(self.fetch(target));
                Ok((entry, CacheStatus::StaleRevalidating))
            }
            Lookup::Fallback(stale) => match self.fetch(target).outcome().await {
                Ok(entry) => Ok((entry, CacheStatus::StaleStored)),
                Err(_) => Ok((stale, CacheStatus::StaleUpstreamError)),
            },
            Lookup::Miss => {
                let ticket = self.fetch(target);
                let leader = ticket.leader;
                let entry = ticket.outcome().await?;
                let status = match (leader, entry.ttl.is_zero()) {
                    (false, _) => CacheStatus::MissCollapsed,
                    (true, false) => CacheStatus::MissStored,
                    (true, true) => CacheStatus::MissNotStored,
                };
                Ok((entry, status))
            }
        }
    }

    /// Joins or starts the upstream call for `target`, which stores what it gets.
    fn fetch(&self, target: &Target) -> Ticket {
        let key: Arc<str> = Arc::from(target.upstream.as_str());
        let upstream = self.upstream.clone();
        let cache = self.cache.clone();
        let ttl = self.ttl(target.route.ttl);
        let not_found_ttl = self.settings.cache.ttl.not_found;
        let compression = self.settings.compression;
        let compress_from = compression.enabled.then_some(compression.min_size);
        let route = target.route.name;
        self.cache.flights().join(&key.clone(), move || async move {
            let (status, body, ttl) = match upstream.fetch(&key).await {
                Ok(Fetched::Found(body)) => (StatusCode::OK, body, ttl),
                Ok(Fetched::NotFound) => {
                    (StatusCode::NOT_FOUND, GatewayError::UpstreamNotFound.body(), not_found_ttl)
                }
                Err(error) => {
                    tracing::warn!(route, error = %error, "upstream call failed");
                    return Err(error);
                }
            };
            let retain = cache.retain_for(ttl);
            let entry = if compress_from.is_some_and(|min| body.len() as u64 >= min) {
                // Compressing is CPU work: keep it off the async workers.
                let build = move || Entry::new(status, body, ttl, retain, compress_from);
                tokio::task::spawn_blocking(build)
                    .await
                    .map_err(|_| UpstreamError::Broken("compressing the answer failed".into()))?
            } else {
                Entry::new(status, body, ttl, retain, compress_from)
            };
            let entry = Arc::new(entry);
            if !ttl.is_zero() {
                cache.store(key, entry.clone()).await;
            }
            Ok(entry)
        })
    }

    fn ttl(&self, class: TtlClass) -> Duration {
        let ttl = &self.settings.cache.ttl;
        match class {
            TtlClass::List => ttl.list,
            TtlClass::Show => ttl.show,
            TtlClass::Graphs => ttl.graphs,
            TtlClass::Markers => ttl.markers,
        }
    }
}

impl Handler for Gateway {
    async fn call(&self, request: Request<hyper::body::Incoming>, peer: SocketAddr) -> Response<Body> {
        self.handle(request, peer.ip()).await
    }
}
