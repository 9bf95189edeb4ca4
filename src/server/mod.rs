//! Serving a handler on a listener the caller bound, until a shutdown future fires.
//!
//! HTTP/1.1 through hyper; each connection is a task, its deadlines kept by a
//! [`watchdog::Watchdog`]. At shutdown the accept loop stops, idle connections close,
//! and in-flight requests get a grace period to finish.

pub mod watchdog;

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
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use self::watchdog::{Deadlines, Watchdog, Watched};
use crate::response::Body;

/// Something that answers requests; implemented by the gateway and the admin surface.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request from `peer`.
    fn call(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send;

    /// The answer to a request whose `call` panicked (with `message`); serving goes on.
    /// The handler says what a failed request looks like: the server knows no error type.
    fn on_panic(&self, message: &str) -> Response<Body>;
}

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: NonZeroUsize,
    /// A client that has not sent a whole request head this long after its connection
    /// or the request's first byte is dropped.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request this long after its last response is closed.
    pub idle_timeout: Duration,
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
    let deadlines = Deadlines { header_read: limits.header_read_timeout, idle: limits.idle_timeout };
    let watchdog = Watchdog::new(deadlines);
    tokio::spawn(watchdog.sweeper());
    let mut builder = http1::Builder::new();
    // Deadlines are the watchdog's: no timer per request head.
    builder.header_read_timeout(None).max_buf_size(limits.max_head.max(8192));
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
        let conn = watchdog.watch();
        let io = TokioIo::new(Watched::new(stream, conn.clone()));
        let handler = handler.clone();
        let watched = conn.clone();
        let service = service_fn(move |request| {
            watched.busy();
            let handler = handler.clone();
            async move {
                // A panic fails this request only, answered as the handler says; the process serves on.
                let response = match AssertUnwindSafe(handler.call(request, peer)).catch_unwind().await {
                    Ok(response) => response,
                    Err(panic) => {
                        let message = panic
                            .downcast_ref::<&str>()
                            .copied()
                            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                            .unwrap_or("(no message)");
                        handler.on_panic(message)
                    }
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let connection = graceful.watch(builder.serve_connection(io, service));
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
        conn.serve_in(task.abort_handle());
    }
    drop(listener);
    if tokio::time::timeout(limits.grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?limits.grace, "requests still in flight after the grace period; closing");
    }
}
