//! The gateway and the admin surface as `tower::Service`s, so another Rust service can
//! mount them (`axum::Router::nest_service`, a `tower::ServiceBuilder` stack, hyper).
//!
//! The gateway's own listener does not go through these: it calls the handlers directly
//! (`server::serve`), which keeps a cache hit free of a boxed future and a service clone.
//! These adapters are for embedding, where the host's stack owns the connection; and
//! [`Tower`] turns any tower service into a handler `server::serve` can put on a
//! listener (plain or TLS, HTTP/1.1 or HTTP/2), with the peer address in [`PeerAddr`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};

use crate::admin::Admin;
use crate::error::GatewayError;
use crate::gateway::{Gateway, NO_PEER};
use crate::response::Body;
use crate::server::Handler;

/// The client's address, for a host that knows it: insert it into the request's
/// extensions (as axum's `ConnectInfo` does) and the gateway limits per client address.
/// Without it, every request counts as one loopback client (dashboard keys, when
/// configured, are counted per key either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// A future answering one request.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

/// The gateway's public surface (`/api/...`, `/healthz`, `/openapi.json`) as a service.
/// Cloning is cheap: clones share the gateway, its cache and its configuration.
#[derive(Debug, Clone)]
pub struct GatewayService(pub Arc<Gateway>);

impl<B> tower::Service<Request<B>> for GatewayService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        let gateway = self.0.clone();
        let peer = request.extensions().get::<PeerAddr>().map_or(NO_PEER, |p| p.0.ip());
        Box::pin(async move { Ok(gateway.handle(request, peer).await) })
    }
}

/// The admin surface (`/metrics`, `/readyz`, purge, reload) as a service. Mount it where
/// only operators reach it: it has no authentication of its own.
#[derive(Debug, Clone)]
pub struct AdminService(pub Arc<Admin>);

impl<B: Send + 'static> tower::Service<Request<B>> for AdminService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        let admin = self.0.clone();
        // The admin reads only the head; the body (never read) stays here.
        let (parts, _) = request.into_parts();
        let head = Request::from_parts(parts, ());
        Box::pin(async move { Ok(admin.handle(&head).await) })
    }
}

/// Any `tower::Service` as a [`Handler`], so `server::serve` serves it: each request gets
/// the peer's address as a [`PeerAddr`] extension (as axum's `ConnectInfo`), and a clone
/// of the service, readied and called once.
#[derive(Debug, Clone)]
pub struct Tower<S>(pub S);

impl<S> Handler for Tower<S>
where
    S: tower::Service<Request<hyper::body::Incoming>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    async fn call(&self, mut request: Request<hyper::body::Incoming>, peer: SocketAddr) -> Response<Body> {
        request.extensions_mut().insert(PeerAddr(peer));
        let mut service = self.0.clone();
        let ready = std::future::poll_fn(|cx| service.poll_ready(cx)).await;
        let answered = match ready {
            Ok(()) => service.call(request).await,
            Err(never) => Err(never),
        };
        match answered {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    fn on_panic(&self, _message: &str) -> Response<Body> {
        GatewayError::Internal.into_response()
    }
}
