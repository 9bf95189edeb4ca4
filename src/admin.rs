//! The admin surface on `admin_listen`: liveness and readiness. Never public.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};

use crate::error::GatewayError;
use crate::response::{self, Body};
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
}

impl Admin {
    /// An admin surface reporting `readiness`.
    pub fn new(readiness: Arc<Readiness>) -> Self {
        Admin { readiness }
    }

    /// Answers one admin request.
    pub fn handle<B>(&self, request: &Request<B>) -> Response<Body> {
        let get = matches!(*request.method(), Method::GET | Method::HEAD);
        let mut response = match request.uri().path() {
            "/healthz" if get => response::text(StatusCode::OK, "ok"),
            "/readyz" if get && self.readiness.get() => response::text(StatusCode::OK, "ready"),
            "/readyz" if get => response::text(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
            "/healthz" | "/readyz" => GatewayError::MethodNotAllowed.into_response(),
            _ => GatewayError::NotFound.into_response(),
        };
        if request.method() == Method::HEAD {
            response::strip_body(&mut response);
        }
        response
    }
}

impl Handler for Admin {
    async fn call(
        &self,
        request: Request<hyper::body::Incoming>,
        _peer: SocketAddr,
    ) -> Response<Body> {
        self.handle(&request)
    }
}
