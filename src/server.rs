//! Serving a handler on a listener the caller bound, until a shutdown future fires.
//!
//! HTTP/1.1 through hyper; each connection is a task. At shutdown the accept loop
//! stops, idle connections close, and in-flight requests get a grace period to finish.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::error::GatewayError;
use crate::response::Body;

/// Something that answers requests; implemented by the gateway and the admin surface.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request from `peer`.
    fn call(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send;

    /// Called when `call` panicked; the request is answered 500 and serving goes on.
    fn on_panic(&self, message: &str) {
        tracing::error!(panic = message, "a request handler panicked; answered 500");
    }
}

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: NonZeroUsize,
    /// A client that has not sent a whole request head by then is dropped. hyper's
    /// timer also runs while a keep-alive connection waits for its next request, so
    /// this bounds idle keep-alive connections too.
    pub header_read_timeout: Duration,
    /// hyper's read buffer: the largest request head it accepts at all. Above the
    /// configured URI and header limits, so those are answered with the JSON error;
    /// past it hyper answers a bare 431.
    pub max_head: usize,
    /// How long in-flight requests may run on after shutdown begins.
    pub grace: Duration,
}

/// Serves `handler` on `listener` until `shutdown` completes, then drains.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.get()));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head.max(8192));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = service_fn(move |request| {
            let handler = handler.clone();
            async move {
                // A panic fails this request only: 500, logged, counted; the process serves on.
                let response = match AssertUnwindSafe(handler.call(request, peer)).catch_unwind().await {
                    Ok(response) => response,
                    Err(panic) => {
                        let message = panic
                            .downcast_ref::<&str>()
                            .copied()
                            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                            .unwrap_or("(no message)");
                        handler.on_panic(message);
                        GatewayError::Internal.into_response(None)
                    }
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?limits.grace, "requests still in flight after the grace period; closing");
    }
}
