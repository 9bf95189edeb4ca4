//! The gateway's request handler: route → key → validate → limit → cache → upstream.
//!
//! Built from typed [`Settings`] and callable without a socket ([`Gateway::handle`]),
//! so tests can drive it directly; [`crate::server`] puts it on a listener. The parts a
//! reload replaces live in one [`Generation`] behind an atomic pointer; the cache outlives
//! reloads.

mod generation;
mod lookup;
mod request_id;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};

pub use generation::{needs_restart, Generation};

use crate::cache::{Ask, CacheStatus, ResponseCache};
use crate::config::Settings;
use crate::error::GatewayError;
use crate::jsonp;
use crate::limit::{self, ClientId};
use crate::metrics::{LimitScope, Metrics};
use crate::response::{self, Body, X_REQUEST_ID};
use crate::route::{self, PathMatch, QueryOptions, Route, RouteError, Target};
use crate::server::Handler;

/// The peer address [`Gateway::handle`] assumes when a test calls it without a socket.
pub const NO_PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The gateway: the current configuration generation, the cache, the metrics.
#[derive(Debug)]
pub struct Gateway {
    /// Swapped whole by a reload; each request loads it once.
    generation: ArcSwap<Generation>,
    /// Answers by normalised upstream target; shared with the flights that fill it.
    cache: Arc<ResponseCache>,
    /// Shared with the upstream client and the admin surface.
    metrics: Arc<Metrics>,
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
        let metrics = Arc::new(Metrics::new());
        let cache = Arc::new(ResponseCache::new(settings.cache.max_size));
        let generation = Generation::new(settings, &metrics)?;
        Ok(Gateway { generation: ArcSwap::from_pointee(generation), cache, metrics })
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        self.generation.load().settings.clone()
    }

    /// The response cache.
    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Replaces the configuration for new requests; requests under way finish with the
    /// one they started with. Returns the changed keys that need a restart (not applied).
    pub fn reload(&self, settings: Settings) -> std::io::Result<Vec<&'static str>> {
        let current = self.generation.load();
        let restart = needs_restart(&current.settings, &settings);
        let next = current.next(Arc::new(settings), &self.metrics)?;
        self.generation.store(Arc::new(next));
        Ok(restart)
    }

    /// Periodic upkeep: forgets idle clients' rate-limit state.
    pub fn housekeeping(&self) {
        self.generation.load().limiter.housekeeping();
    }

    /// Answers one request from `peer`. The request body is never read: every route
    /// is a GET.
    pub async fn handle<B>(&self, request: Request<B>, peer: IpAddr) -> Response<Body> {
        // The access line's duration; no clock read when the line is filtered out.
        let started = tracing::enabled!(tracing::Level::INFO).then(Instant::now);
        let rt = self.generation.load_full();
        let (parts, _body) = request.into_parts();
        let settings = &rt.settings;
        let id = request_id::request_id(peer, &parts.headers, &settings.clients.trusted_proxies);
        let mut log = AccessLog { route: "-", ..AccessLog::default() };
        let mut response = match self.respond(&rt, &parts, peer, &mut log, &id).await {
            Ok(response) => response,
            Err(error) => {
                if let GatewayError::RateLimited(_) = error {
                    self.metrics.rate_limited(LimitScope::Client);
                }
                // Errors are wrapped for a JSONP caller too, even when its query was invalid.
                let jsonp = &settings.jsonp;
                let callback = match jsonp.enabled {
                    true => jsonp::requested_callback(parts.uri.query(), &jsonp.callback_param),
                    false => None,
                };
                match callback {
                    Some(callback) => error.into_jsonp_response(&callback),
                    None => error.into_response(),
                }
            }
        };
        if parts.method != Method::OPTIONS {
            rt.cors.decorate(&parts.headers, &mut response);
        }
        if parts.method == Method::HEAD {
            response::strip_body(&mut response);
        }
        let status = response.status().as_u16();
        self.metrics.request(log.route, status);
        if let Some(status) = log.cache {
            self.metrics.cache(status.outcome());
        }
        if let Some(key) = &log.key {
            self.metrics.key_request(key);
        }
        tracing::info!(
            request_id = id.to_str().unwrap_or("-"),
            method = %parts.method,
            route = log.route,
            app = log.app.as_deref().unwrap_or("-"),
            status,
            duration_ms = started.map(|s| s.elapsed().as_secs_f64() * 1000.0),
            key = log.key.as_deref(),
            cache = log.cache.map(CacheStatus::name),
            upstream = log.upstream,
            "request"
        );
        // Cached answers carry it already.
        if let http::header::Entry::Vacant(slot) = response.headers_mut().entry(X_REQUEST_ID) {
            slot.insert(id);
        }
        response
    }

    async fn respond(
        &self,
        rt: &Generation,
        request: &Parts,
        peer: IpAddr,
        log: &mut AccessLog,
        request_id: &HeaderValue,
    ) -> Result<Response<Body>, GatewayError> {
        let (method, uri, headers) = (&request.method, &request.uri, &request.headers);
        let settings = &rt.settings;
        let limits = &settings.limits;
        if target_length(uri) > limits.max_uri_length {
            return Err(GatewayError::UriTooLong);
        }
        let header_bytes: usize =
            headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
        if header_bytes > limits.max_header_size {
            return Err(GatewayError::HeadersTooLarge);
        }
        let path = uri.path();
        if path == "/healthz" {
            log.route = "healthz";
            return match *method {
                Method::GET | Method::HEAD => Ok(response::text(StatusCode::OK, "ok")),
                _ => Err(GatewayError::MethodNotAllowed),
            };
        }
        // A target seen before skips matching and normalisation: the memo holds only
        // what this generation's settings resolved it to.
        let raw = uri.path_and_query().map_or(path, |p| p.as_str());
        let matched = match rt.targets.get(raw) {
            Some(target) => Some(Matched::Known(target)),
            None => route::match_path(path, &settings.apps).map(Matched::Path),
        };
        if *method == Method::OPTIONS {
            // Preflights carry no key: answered here, never limited, never upstream.
            log.route = matched.as_ref().ok_or(GatewayError::NotFound)?.route().name;
            return Ok(rt.cors.options(headers));
        }
        let key = match rt.keys.required() {
            true => Some(rt.keys.authenticate(headers, uri.query()).ok_or(GatewayError::Unauthorized)?),
            false => None,
        };
        log.key = key.map(|k| k.name.clone());
        // An app outside the key's scope is answered exactly like an unknown app.
        let matched =
            matched.filter(|m| key.is_none_or(|k| k.may_read(m.app_id()))).ok_or(GatewayError::NotFound)?;
        log.route = matched.route().name;
        log.app = Some(matched.app_id().clone());
        if !matches!(*method, Method::GET | Method::HEAD) {
            return Err(GatewayError::MethodNotAllowed);
        }
        let target = match matched {
            Matched::Known(target) => target,
            Matched::Path(m) => {
                let opts = QueryOptions {
                    callback_param: &settings.jsonp.callback_param,
                    jsonp: settings.jsonp.enabled,
                };
                let target = route::target(m, uri.query(), opts).map_err(|e| match e {
                    RouteError::Param(p) => GatewayError::BadParameter(p),
                    RouteError::Callback => GatewayError::BadCallback,
                })?;
                let target = Arc::new(target);
                rt.targets.remember(raw, target.clone());
                target
            }
        };
        let client = match key {
            Some(key) => ClientId::Key(key.name.clone()),
            None => ClientId::Addr(limit::client_addr(peer, headers, &settings.clients.trusted_proxies)),
        };
        rt.limiter.check(&client).map_err(GatewayError::RateLimited)?;
        let now = Instant::now();
        let (entry, status) = self.lookup_or_fetch(rt, &target, now).await.inspect_err(|e| {
            if let GatewayError::Upstream(error) = e {
                log.upstream = error.status();
            }
        })?;
        log.cache = Some(status);
        if status.went_upstream() {
            log.upstream = Some(entry.status.as_u16());
        }
        let ask = Ask::from_headers(headers, target.callback.as_deref());
        Ok(entry.respond(status, now, ask, request_id))
    }
}

/// The route and app a request names: resolved before (from the memo), or only matched.
enum Matched {
    /// The whole target, remembered from an earlier request with the same raw target.
    Known(Arc<Target>),
    /// The path matched; the query is still to be normalised.
    Path(PathMatch),
}

impl Matched {
    fn route(&self) -> &'static Route {
        match self {
            Matched::Known(target) => target.route,
            Matched::Path(m) => m.route,
        }
    }

    fn app_id(&self) -> &Arc<str> {
        match self {
            Matched::Known(target) => &target.app_id,
            Matched::Path(m) => &m.app_id,
        }
    }
}

/// The length of the request target as the client sent it.
fn target_length(uri: &http::Uri) -> usize {
    let origin = uri.path_and_query().map_or(0, |p| p.as_str().len());
    let absolute =
        uri.scheme_str().map_or(0, |s| s.len() + 3) + uri.authority().map_or(0, |a| a.as_str().len());
    origin + absolute
}

impl Handler for Gateway {
    async fn call(&self, request: Request<hyper::body::Incoming>, peer: SocketAddr) -> Response<Body> {
        self.handle(request, peer.ip()).await
    }

    fn on_panic(&self, message: &str) -> Response<Body> {
        self.metrics.panic();
        tracing::error!(panic = message, "a request handler panicked; answered 500");
        GatewayError::Internal.into_response()
    }
}
