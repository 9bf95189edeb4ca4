//! The request path as named phases over one per-request context, run in this order:
//!
//! 0. [`Exchange::check_host`] — the `Host` names this listener answers (421).
//! 1. [`Exchange::check_size`] — URI and header limits (414, 431).
//! 2. [`Exchange::route`] — `/healthz`, or the route and app, remembered or matched (404 later).
//! 3. [`Exchange::authorize`] — preflight, page origin, dashboard key, key scope, method
//!    (204, 403, 401, 404, 405).
//! 4. [`Exchange::resolve_target`] — the query normalised into the upstream target (400).
//! 5. [`Exchange::allow_script`], [`Exchange::limit_client`] — JSONP only for allowed pages or keys
//!    (403), then the client's rate limit (429).
//! 6. the cache step, `Gateway::entry` (`fill.rs`): the entry from this replica's cache or
//!    one fill per key — the only phase that may await, and only on a miss.
//! 7. [`Exchange::finish`] — errors to responses, CORS, HEAD, metrics, the access line.
//!
//! Every phase before the cache step is synchronous, so a hit awaits nothing.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};

use super::generation::Generation;
use super::render::{render, Ask};
use crate::cache::CacheStatus;
use crate::config::DashboardKey;
use crate::error::{Allowed, GatewayError};
use crate::jsonp;
use crate::limit::{self, ClientId};
use prometheus_client::metrics::counter::Counter;

use crate::metrics::{LimitScope, Metrics};
use crate::response::{self, Body, X_REQUEST_ID};
use crate::route::{self, PathMatch, QueryOptions, Route, RouteError, Shape, Target};

/// One request as it moves through the phases: what it asked, the configuration
/// generation it was loaded with, and what the access line will say.
pub(super) struct Exchange<'a> {
    /// The generation this request loaded at its start; it keeps it to the end.
    pub generation: &'a Generation,
    /// Method, target and headers; the body, read only for a V2 query, is not here.
    pub parts: &'a Parts,
    /// The socket peer.
    pub peer: IpAddr,
    /// `X-Request-Id`, the proxy's or ours.
    pub id: HeaderValue,
    /// Filled in as the phases learn things.
    pub log: AccessLog,
    /// When the request started, only when the access line will be written.
    started: Option<Instant>,
    /// Its `Origin`, looked up once: the 403 rule and the CORS headers both read it.
    origin: Option<&'a HeaderValue>,
    /// Where `finish` records the outcome.
    metrics: &'a Metrics,
    /// The dashboard key's request counter, once the key is known (made at reload).
    pub(super) key_requests: Option<&'a Counter>,
    /// Whether this is a `/graphql` request, whose errors are GraphQL-shaped.
    pub(super) graphql: bool,
}

/// What the access log line says about a request, filled in as it is handled.
#[derive(Debug)]
pub(super) struct AccessLog {
    /// The route's name, `healthz`, or `-` when nothing matched.
    pub route: &'static str,
    /// The app's id, once known.
    pub app: Option<Arc<str>>,
    /// The dashboard key's name, when keys are configured.
    pub key: Option<Arc<str>>,
    /// How the cache answered, when the route is cached.
    pub cache: Option<CacheStatus>,
    /// AppSignal's status, when this request's answer came from an upstream call.
    pub upstream: Option<u16>,
    /// The error's own status when the answer says 200 (a JSONP error): what the access
    /// line and the metrics record.
    pub status: Option<u16>,
    /// The error's `code` when the request ended in one, so a refusal says why.
    pub code: Option<&'static str>,
}

/// Where [`Exchange::route`] sends a request.
pub(super) enum Routed {
    /// `/healthz`: answered at once.
    Health,
    /// `/openapi.json`: the API description, served without a key.
    OpenApi,
    /// A path under the API: the route and app, or `None` when nothing matched (a 404
    /// once the key check has had its say).
    Api(Option<Matched>),
    /// A V2 query route (`POST /api/v2/...`): its app is in the body.
    Query(&'static Route),
    /// `/graphql` (GraphQL over HTTP), when GraphQL is enabled.
    GraphQl,
}

/// What [`Exchange::authorize`] decided.
pub(super) enum Authorized<'g> {
    /// A CORS preflight, answered without a key.
    Preflight(Response<Body>),
    /// A GET or HEAD the key (if keys are configured) may make.
    Read(Matched, Option<&'g DashboardKey>),
}

/// The route and app a request names: resolved before (from the memo), or only matched.
pub(super) enum Matched {
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

impl<'a> Exchange<'a> {
    /// Starts a request under `generation`.
    #[inline]
    pub fn new(generation: &'a Generation, parts: &'a Parts, peer: IpAddr, metrics: &'a Metrics) -> Self {
        // The access line's duration; no clock read when the line is filtered out.
        let started = tracing::enabled!(tracing::Level::INFO).then(Instant::now);
        let trusted = &generation.settings.clients.trusted_proxies;
        let id = super::request_id::request_id(peer, &parts.headers, trusted);
        let log = AccessLog {
            route: "-",
            app: None,
            key: None,
            cache: None,
            upstream: None,
            status: None,
            code: None,
        };
        let origin = parts.headers.get(http::header::ORIGIN);
        Exchange {
            generation,
            parts,
            peer,
            id,
            log,
            started,
            origin,
            metrics,
            key_requests: None,
            graphql: false,
        }
    }

    /// Phase 0: a `Host` this listener answers (`allowed_hosts`), before any work, so a
    /// page that rebound its DNS name to the gateway reads nothing. `/healthz` is
    /// exempt: probes name the address they dial, and it tells nothing.
    #[inline]
    pub fn check_host(&self) -> Result<(), GatewayError> {
        let parts = self.parts;
        match self.generation.hosts.allows(&parts.headers, &parts.uri) || parts.uri.path() == "/healthz" {
            true => Ok(()),
            false => Err(GatewayError::MisdirectedHost),
        }
    }

    /// Phase 1: the request target and headers within `limits`.
    #[inline]
    pub fn check_size(&self) -> Result<(), GatewayError> {
        let limits = &self.generation.settings.limits;
        if target_length(&self.parts.uri) > limits.max_uri_length {
            return Err(GatewayError::UriTooLong);
        }
        let header_bytes: usize =
            self.parts.headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
        if header_bytes > limits.max_header_size {
            return Err(GatewayError::HeadersTooLarge);
        }
        Ok(())
    }

    /// Phase 2: health, or the route and app. A target seen before skips matching and
    /// normalisation: the memo holds only what this generation resolved it to.
    #[inline]
    pub fn route(&mut self) -> Routed {
        let path = self.parts.uri.path();
        if path == "/healthz" {
            self.log.route = "healthz";
            return Routed::Health;
        }
        if path == "/openapi.json" {
            self.log.route = "openapi";
            return Routed::OpenApi;
        }
        let generation = self.generation;
        // The memo never holds a V2 query (its question is in the body), so a GET hit
        // is answered before the V2 table is looked at.
        let matched = match generation.targets.get(self.raw_target()) {
            Some(target) => Some(Matched::Known(target)),
            None => {
                if let Some(route) = route::match_v2(path) {
                    self.log.route = route.name;
                    return Routed::Query(route);
                }
                if path == "/graphql" && generation.settings.graphql.enabled {
                    self.log.route = "graphql";
                    self.graphql = true;
                    return Routed::GraphQl;
                }
                route::match_path(path, &generation.settings.apps)
                    .or_else(|| super::graphql::match_operation(path, generation))
                    .map(Matched::Path)
            }
        };
        Routed::Api(matched)
    }

    /// `/healthz`: `ok` to GET and HEAD.
    pub fn health(&self) -> Result<Response<Body>, GatewayError> {
        match self.parts.method {
            Method::GET | Method::HEAD => Ok(response::text(StatusCode::OK, "ok")),
            _ => Err(GatewayError::MethodNotAllowed(Allowed::Read)),
        }
    }

    /// `/openapi.json`: the generation's description to GET and HEAD, with its ETag
    /// and compressed forms, as fresh as when the generation was made.
    pub fn openapi(&self) -> Result<Response<Body>, GatewayError> {
        if !matches!(self.parts.method, Method::GET | Method::HEAD) {
            return Err(GatewayError::MethodNotAllowed(Allowed::Read));
        }
        let entry = &self.generation.openapi;
        let ask = Ask::from_headers(&self.parts.headers, None);
        Ok(render(entry, CacheStatus::Hit, entry.stored_at, ask, &self.id))
    }

    /// Phase 3: preflights (no key, never limited), a page whose `Origin` the allowlist
    /// does not name (403), then the dashboard key, its scope and the method. An app
    /// outside the key's scope is answered exactly like an unknown app.
    #[inline]
    pub fn authorize(&mut self, matched: Option<Matched>) -> Result<Authorized<'a>, GatewayError> {
        let generation = self.generation;
        let (method, headers) = (&self.parts.method, &self.parts.headers);
        if *method == Method::OPTIONS {
            // An allowed page's preflight is granted on any path under /api/, so a
            // mistyped path shows in its console as the JSON 404 it is, not a CORS error.
            // Matched or not, with or without an `Origin`, the answer is the same, so a
            // preflight never tells which apps exist (it asks for no key).
            match &matched {
                Some(m) => self.log.route = m.route().name,
                None if self.parts.uri.path().starts_with("/api/") => {}
                None => return Err(GatewayError::NotFound),
            }
            return Ok(Authorized::Preflight(generation.cors.options(headers, Allowed::Read)));
        }
        let key = self.page_and_key()?;
        let matched =
            matched.filter(|m| key.is_none_or(|k| k.may_read(m.app_id()))).ok_or(GatewayError::NotFound)?;
        self.log.route = matched.route().name;
        self.log.app = Some(matched.app_id().clone());
        if !matches!(*method, Method::GET | Method::HEAD) {
            return Err(GatewayError::MethodNotAllowed(Allowed::Read));
        }
        Ok(Authorized::Read(matched, key))
    }

    /// The part of phase 3 every API route shares: a page the allowlist does not name is
    /// refused (403) before any work, then the dashboard key, when keys are configured, is
    /// asked for (401) and counted and logged.
    pub fn page_and_key(&mut self) -> Result<Option<&'a DashboardKey>, GatewayError> {
        let generation = self.generation;
        if generation.cors.foreign_origin(self.origin) {
            return Err(GatewayError::ForbiddenOrigin);
        }
        let key = match generation.keys.required() {
            true => {
                let (key, requests) = generation
                    .keys
                    .authenticate(&self.parts.headers, self.parts.uri.query())
                    .ok_or(GatewayError::Unauthorized)?;
                self.key_requests = Some(requests);
                Some(key)
            }
            false => None,
        };
        self.log.key = key.map(|k| k.name.clone());
        Ok(key)
    }

    /// Phase 4: the normalised upstream target, remembered for the next request with
    /// the same raw target.
    #[inline]
    pub fn resolve_target(&self, matched: Matched) -> Result<Arc<Target>, GatewayError> {
        let m = match matched {
            Matched::Known(target) => return Ok(target),
            Matched::Path(m) => m,
        };
        let settings = &self.generation.settings;
        let opts =
            QueryOptions { callback_param: &settings.jsonp.callback_param, jsonp: settings.jsonp.enabled };
        let target = match m.route.shape {
            Shape::GraphQl { operation } => {
                super::graphql::route_target(self.generation, m, operation, self.parts.uri.query(), opts)
            }
            _ => route::target(m, self.parts.uri.query(), opts),
        };
        let target = target.map_err(|e| match e {
            RouteError::Param(p) => GatewayError::BadParameter(p),
            RouteError::Callback => GatewayError::BadCallback,
        })?;
        let target = Arc::new(target);
        self.generation.targets.remember(self.raw_target(), target.clone());
        Ok(target)
    }

    /// Phase 5a: a `<script>` tag can be included by any page, so JSONP (which no CORS
    /// rule protects) is served only to a page the allowlist names, by `Origin` or
    /// `Referer`, or to a request with a valid dashboard key.
    #[inline]
    pub fn allow_script(&self, target: &Target, key: Option<&DashboardKey>) -> Result<(), GatewayError> {
        let refused = target.callback.is_some()
            && key.is_none()
            && !self.generation.cors.page_allowed(&self.parts.headers);
        match refused {
            true => Err(GatewayError::ForbiddenOrigin),
            false => Ok(()),
        }
    }

    /// Phase 5b: the client's rate limit, per key name when keys are configured, else per
    /// client address; the client, whose misses spend its share of the upstream budget.
    #[inline]
    pub fn limit_client(&self, key: Option<&DashboardKey>) -> Result<ClientId, GatewayError> {
        let settings = &self.generation.settings;
        let client = match key {
            Some(key) => ClientId::Key(key.name.clone()),
            None => ClientId::Addr(limit::client_addr(
                self.peer,
                &self.parts.headers,
                &settings.clients.trusted_proxies,
            )),
        };
        self.generation.limiter.check(&client).map_err(GatewayError::RateLimited)?;
        Ok(client)
    }

    /// The response to an error that ended the request: wrapped for a JSONP caller, even
    /// when its query was invalid.
    pub fn error_response(&mut self, error: GatewayError) -> Response<Body> {
        if let GatewayError::RateLimited(_) = error {
            self.metrics.rate_limited(LimitScope::Client);
        }
        let view = error.client_view();
        self.log.status = Some(view.status.as_u16());
        self.log.code = Some(view.code);
        let jsonp = &self.generation.settings.jsonp;
        // A `<script>` tag cannot POST: a POST's error is never wrapped, so a V2 query
        // with a `callback` sees its 400.
        let callback = match jsonp.enabled && self.parts.method != Method::POST {
            true => jsonp::requested_callback(self.parts.uri.query(), &jsonp.callback_param),
            false => None,
        };
        match callback {
            _ if self.graphql => error.into_graphql_response(),
            Some(callback) => error.into_jsonp_response(&callback),
            None => error.into_response(),
        }
    }

    /// Phase 7: the answer as sent: CORS, HEAD, metrics, the access line and
    /// `X-Request-Id`. Works on the response in place: nothing large is moved.
    pub fn finish(&self, response: &mut Response<Body>) {
        let Exchange { generation, parts, id, log, started, origin, metrics, key_requests, .. } = self;
        if parts.method != Method::OPTIONS {
            generation.cors.decorate(*origin, response);
        }
        if parts.method == Method::HEAD {
            response::strip_body(response);
        }
        let status = log.status.unwrap_or(response.status().as_u16());
        metrics.request(log.route, status);
        if let Some(status) = log.cache {
            metrics.cache(status.outcome());
        }
        if let Some(requests) = key_requests {
            requests.inc();
        }
        tracing::info!(
            request_id = id.to_str().unwrap_or("-"),
            method = %parts.method,
            route = log.route,
            app = log.app.as_deref().unwrap_or("-"),
            // The path only: the query may hold a `token` or a dashboard `key`.
            path = parts.uri.path(),
            status,
            // A cached AppSignal 404 is an entry, not an error, but its body's code is this.
            code = log.code.or((status == 404).then_some("not_found")),
            // Milliseconds to the microsecond: `0.026`, not `0.025908999999999998`.
            duration_ms = started.map(|s| s.elapsed().as_micros() as f64 / 1000.0),
            key = log.key.as_deref(),
            cache = log.cache.map(CacheStatus::name),
            upstream = log.upstream,
            "request"
        );
        // Answers rendered from an entry carry it already (a filled template slot); only
        // the others get it here, so a hit looks no header name up for it.
        if log.cache.is_none() {
            response.headers_mut().insert(X_REQUEST_ID, id.clone());
        }
    }

    /// The path and query as the client sent them: the memo's key.
    fn raw_target(&self) -> &str {
        let uri = &self.parts.uri;
        uri.path_and_query().map_or(uri.path(), |p| p.as_str())
    }
}

/// The length of the request target as the client sent it.
fn target_length(uri: &http::Uri) -> usize {
    let origin = uri.path_and_query().map_or(0, |p| p.as_str().len());
    let absolute =
        uri.scheme_str().map_or(0, |s| s.len() + 3) + uri.authority().map_or(0, |a| a.as_str().len());
    origin + absolute
}
