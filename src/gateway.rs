//! The gateway's request handler: route → validate → upstream → answer.
//!
//! Built from typed [`Settings`] and callable without a socket
//! ([`Gateway::handle`]), so tests can drive it directly; [`crate::server`] puts it on
//! a listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderValue, ALLOW};
use http::{Method, Request, Response, StatusCode, Uri};

use crate::config::Settings;
use crate::error::{GatewayError, ALLOWED_METHODS};
use crate::response::{self, Body};
use crate::route::{self, QueryOptions, RouteError};
use crate::server::Handler;
use crate::upstream::{Fetched, Upstream, UpstreamError};

/// The gateway: its settings and its one upstream client.
#[derive(Debug)]
pub struct Gateway {
    /// The validated configuration this gateway was built from.
    settings: Arc<Settings>,
    /// The client for AppSignal, holding the token.
    upstream: Upstream,
}

/// What the access log line says about a request, filled in as it is handled.
#[derive(Debug, Default)]
struct AccessLog {
    route: &'static str,
    app: Option<Arc<str>>,
    /// AppSignal's status, or `None` when no upstream call answered.
    upstream: Option<u16>,
}

impl Gateway {
    /// Builds the gateway; fails only if the upstream TLS roots cannot be loaded.
    pub fn new(settings: Arc<Settings>) -> std::io::Result<Self> {
        let upstream = Upstream::new(&settings.upstream)?;
        Ok(Gateway { settings, upstream })
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Answers one request. The request body is never read: every route is a GET.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<Body> {
        let started = Instant::now();
        let (parts, _body) = request.into_parts();
        let mut log = AccessLog::default();
        let mut response = match self.respond(&parts.method, &parts.uri, &mut log).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        };
        if parts.method == Method::HEAD {
            response::strip_body(&mut response);
        }
        tracing::info!(
            method = %parts.method,
            route = log.route,
            app = log.app.as_deref().unwrap_or("-"),
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            upstream = log.upstream,
            "request"
        );
        response
    }

    async fn respond(
        &self,
        method: &Method,
        uri: &Uri,
        log: &mut AccessLog,
    ) -> Result<Response<Body>, GatewayError> {
        let path = uri.path();
        if path == "/healthz" {
            log.route = "healthz";
            return match *method {
                Method::GET | Method::HEAD => Ok(response::text(StatusCode::OK, "ok")),
                _ => Err(GatewayError::MethodNotAllowed),
            };
        }
        let matched = route::match_path(path, &self.settings.apps).ok_or(GatewayError::NotFound)?;
        log.route = matched.route.name;
        log.app = Some(matched.app_id.clone());
        match *method {
            Method::GET | Method::HEAD => {}
            Method::OPTIONS => return Ok(options()),
            _ => return Err(GatewayError::MethodNotAllowed),
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
        let fetched = self.upstream.fetch(&target.upstream).await;
        log.upstream = upstream_status(&fetched);
        match fetched {
            Ok(Fetched::Found(body)) => {
                Ok(response::with_body(StatusCode::OK, response::JSON, body))
            }
            Ok(Fetched::NotFound) => Err(GatewayError::UpstreamNotFound),
            Err(error) => {
                tracing::warn!(route = log.route, error = %error, "upstream call failed");
                Err(error.into())
            }
        }
    }
}

/// The status AppSignal answered, for the access log.
fn upstream_status(fetched: &Result<Fetched, UpstreamError>) -> Option<u16> {
    match fetched {
        Ok(Fetched::Found(_)) => Some(200),
        Ok(Fetched::NotFound) => Some(404),
        Err(UpstreamError::Unauthorized(s) | UpstreamError::Status(s)) => Some(*s),
        Err(UpstreamError::Throttled(_)) => Some(429),
        Err(UpstreamError::NotJson | UpstreamError::TooLarge(_)) => Some(200),
        Err(UpstreamError::Connect(_) | UpstreamError::Broken(_) | UpstreamError::Timeout(_)) => {
            None
        }
    }
}

/// `OPTIONS` on a route: the methods it allows.
fn options() -> Response<Body> {
    let mut response = response::text(StatusCode::NO_CONTENT, "");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
    response.headers_mut().remove(http::header::CONTENT_TYPE);
    response
}

impl Handler for Gateway {
    async fn call(
        &self,
        request: Request<hyper::body::Incoming>,
        _peer: SocketAddr,
    ) -> Response<Body> {
        self.handle(request).await
    }
}
