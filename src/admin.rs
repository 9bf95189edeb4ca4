//! The admin surface on `admin_listen`: liveness, readiness, metrics, cache purge and
//! reload. Never public: none of it is served on `listen`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode};

use crate::error::{Allowed, GatewayError};
use crate::gateway::Gateway;
use crate::metrics::Format;
use crate::reload::{ReloadError, Reloader};
use crate::response::{self, Body};
use crate::route::ParamError;
use crate::server::Handler;
use crate::urlencoded::decode_query;

/// Whether the gateway should receive traffic: set once both listeners are bound,
/// cleared when draining begins.
#[derive(Debug, Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    /// Marks the gateway ready or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether the gateway is ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The admin handler.
#[derive(Debug)]
pub struct Admin {
    /// Shared with the lifecycle, which flips it.
    readiness: Arc<Readiness>,
    /// The gateway whose cache and metrics this surface shows.
    gateway: Arc<Gateway>,
    /// What `POST /config/reload` runs, as SIGHUP does.
    reloader: Arc<Reloader>,
}

impl Admin {
    /// An admin surface for `gateway`, reporting `readiness`.
    pub fn new(readiness: Arc<Readiness>, gateway: Arc<Gateway>, reloader: Arc<Reloader>) -> Self {
        Admin { readiness, gateway, reloader }
    }

    /// Answers one admin request.
    pub async fn handle<B>(&self, request: &Request<B>) -> Response<Body> {
        let method = request.method();
        let get = matches!(*method, Method::GET | Method::HEAD);
        let post = method == Method::POST;
        let path = request.uri().path();
        let probe = matches!(path, "/healthz" | "/readyz");
        // Before any work: a page that rebound its DNS name to this port reads nothing.
        if !probe && !self.gateway.admin_host_allowed(request.headers(), request.uri()) {
            return GatewayError::MisdirectedHost.into_response();
        }
        if post && cross_site(request.headers()) {
            return GatewayError::CrossSite.into_response();
        }
        let mut response = match path {
            "/healthz" if get => response::text(StatusCode::OK, "ok"),
            "/readyz" if get && self.readiness.get() => response::text(StatusCode::OK, "ready"),
            "/readyz" if get => response::text(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
            "/metrics" if get => self.metrics(request.headers()).await,
            "/cache/purge" if post => self.purge(request.uri().query().unwrap_or("")).await,
            "/config/reload" if post => self.reload().await,
            "/healthz" | "/readyz" | "/metrics" => {
                GatewayError::MethodNotAllowed(Allowed::AdminRead).into_response()
            }
            "/cache/purge" | "/config/reload" => {
                GatewayError::MethodNotAllowed(Allowed::AdminPost).into_response()
            }
            _ => GatewayError::NotFound.into_response(),
        };
        if method == Method::HEAD {
            response::strip_body(&mut response);
        }
        response
    }

    /// `GET /metrics`: OpenMetrics to a scraper that accepts it, else Prometheus text.
    async fn metrics(&self, headers: &http::HeaderMap) -> Response<Body> {
        let (entries, bytes) = self.gateway.cache().usage();
        let format = Format::negotiate(headers.get(http::header::ACCEPT));
        let text = self.gateway.metrics().encode_as(entries, bytes, format);
        let content_type = HeaderValue::from_static(format.content_type());
        response::with_body(StatusCode::OK, content_type, Bytes::from(text))
    }

    /// `POST /cache/purge[?app={id or alias}]`: drops every cached answer, or one app's,
    /// in this replica and (with a shared tier) the fleet; `shared` says whether the shared
    /// tier was reached.
    async fn purge(&self, query: &str) -> Response<Body> {
        let pairs = match decode_query(query) {
            Ok(pairs) => pairs,
            Err(e) => return GatewayError::BadParameter(e.into()).into_response(),
        };
        let mut app = None;
        for (name, value) in pairs {
            if name != "app" {
                let error = ParamError::new(&name, "is not a parameter of /cache/purge");
                return GatewayError::BadParameter(error).into_response();
            }
            app = Some(value);
        }
        let id = match app {
            None => None,
            Some(app) => match self.gateway.settings().apps.resolve(&app) {
                Some(id) => Some(id.clone()),
                None => return GatewayError::NotFound.into_response(),
            },
        };
        let purged = id.as_deref().unwrap_or("all").to_owned();
        let mut body = serde_json::json!({ "purged": purged });
        if let Some(shared) = self.gateway.purge(id).await {
            body["shared"] = shared.into();
        }
        tracing::info!(purged = %purged, "cache purged");
        json(StatusCode::OK, body)
    }

    /// `POST /config/reload`: 200 with what needs a restart, or 400 with every bad key.
    /// Reloading reads a file: on the blocking pool, off the workers, as SIGHUP does.
    async fn reload(&self) -> Response<Body> {
        let reloader = self.reloader.clone();
        let Ok(outcome) = tokio::task::spawn_blocking(move || reloader.reload()).await else {
            return GatewayError::Internal.into_response();
        };
        match outcome {
            Ok(restart) => {
                json(StatusCode::OK, serde_json::json!({ "reloaded": true, "restart_required": restart }))
            }
            Err(ReloadError::Invalid(config)) => {
                let errors: Vec<_> = config
                    .errors
                    .iter()
                    .map(|e| serde_json::json!({ "key": e.key, "reason": e.reason }))
                    .collect();
                let error = serde_json::json!({
                    "status": 400, "code": "invalid_config", "message": config.to_string(), "errors": errors
                });
                json(StatusCode::BAD_REQUEST, serde_json::json!({ "error": error }))
            }
            Err(other) => {
                let error = serde_json::json!({ "status": 400, "code": "reload_failed", "message": other.to_string() });
                json(StatusCode::BAD_REQUEST, serde_json::json!({ "error": error }))
            }
        }
    }
}

/// Whether a POST could have been sent by a web page on another site without a
/// preflight (a form, `fetch` in `no-cors` mode, `sendBeacon`): such a request carries an
/// `Origin`, or a `Sec-Fetch-Site` saying it is cross-site, or a "simple" content type.
/// `curl` and scripts send none of these; a browser never omits `Origin` on a POST.
fn cross_site(headers: &http::HeaderMap) -> bool {
    let fetch_site_ok = headers.get("sec-fetch-site").is_none_or(|v| {
        v.as_bytes().eq_ignore_ascii_case(b"none") || v.as_bytes().eq_ignore_ascii_case(b"same-origin")
    });
    let content_type_ok = headers.get(http::header::CONTENT_TYPE).is_none_or(|v| {
        let media = v.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
        media.eq_ignore_ascii_case("application/json")
    });
    headers.contains_key(http::header::ORIGIN) || !fetch_site_ok || !content_type_ok
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    response::with_body(status, response::JSON, Bytes::from(body.to_string()))
}

impl Handler for Admin {
    async fn call(&self, request: Request<hyper::body::Incoming>, _peer: SocketAddr) -> Response<Body> {
        self.handle(&request).await
    }

    fn on_panic(&self, message: &str) -> Response<Body> {
        self.gateway.metrics().panic();
        tracing::error!(panic = message, "an admin request handler panicked; answered 500");
        GatewayError::Internal.into_response()
    }
}
