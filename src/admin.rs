//! The admin surface on `admin_listen`: liveness, readiness and cache purge. Never public.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::response::{self, Body};
use crate::route::{decode_query, ParamError};
use crate::server::Handler;

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
    /// The gateway whose cache this surface purges.
    gateway: Arc<Gateway>,
}

impl Admin {
    /// An admin surface for `gateway`, reporting `readiness`.
    pub fn new(readiness: Arc<Readiness>, gateway: Arc<Gateway>) -> Self {
        Admin { readiness, gateway }
    }

    /// Answers one admin request.
    pub fn handle<B>(&self, request: &Request<B>) -> Response<Body> {
        let get = matches!(*request.method(), Method::GET | Method::HEAD);
        let mut response = match request.uri().path() {
            "/healthz" if get => response::text(StatusCode::OK, "ok"),
            "/readyz" if get && self.readiness.get() => response::text(StatusCode::OK, "ready"),
            "/readyz" if get => response::text(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
            "/cache/purge" if request.method() == Method::POST => {
                self.purge(request.uri().query().unwrap_or(""))
            }
            "/healthz" | "/readyz" | "/cache/purge" => GatewayError::MethodNotAllowed.into_response(None),
            _ => GatewayError::NotFound.into_response(None),
        };
        if request.method() == Method::HEAD {
            response::strip_body(&mut response);
        }
        response
    }
}

impl Admin {
    /// `POST /cache/purge[?app={id or alias}]`: drops every cached answer, or one app's.
    fn purge(&self, query: &str) -> Response<Body> {
        let pairs = match decode_query(query) {
            Ok(pairs) => pairs,
            Err(e) => return GatewayError::BadParameter(e).into_response(None),
        };
        let mut app = None;
        for (name, value) in pairs {
            if name != "app" {
                return GatewayError::BadParameter(ParamError::new(
                    &name,
                    "is not a parameter of /cache/purge",
                ))
                .into_response(None);
            }
            app = Some(value);
        }
        let cache = self.gateway.cache();
        let purged = match app {
            None => {
                cache.purge_all();
                "all".to_owned()
            }
            Some(app) => match self.gateway.settings().apps.resolve(&app) {
                Some(id) => {
                    cache.purge_prefix(format!("/api/{id}/"));
                    id.to_string()
                }
                None => return GatewayError::NotFound.into_response(None),
            },
        };
        tracing::info!(purged = %purged, "cache purged");
        let body = serde_json::json!({ "purged": purged }).to_string();
        response::with_body(StatusCode::OK, response::JSON, Bytes::from(body))
    }
}

impl Handler for Admin {
    async fn call(&self, request: Request<hyper::body::Incoming>, _peer: SocketAddr) -> Response<Body> {
        self.handle(&request)
    }
}
