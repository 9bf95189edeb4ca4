//! Serving a handler on a listener the caller bound, until a shutdown future fires.
//!
//! Plain HTTP/1.1, or HTTPS with `h2` and `http/1.1` by ALPN (a rustls acceptor the
//! caller builds); each connection is a task, its deadlines kept by a
//! [`watchdog::Watchdog`] that counts the requests (HTTP/2 streams) in flight; an HTTP/2
//! stream is answered in its connection's task when it can be (`streams`). At shutdown the
//! accept loop stops, idle connections close (HTTP/2: GOAWAY), and in-flight requests get a
//! grace period.

mod streams;
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
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use self::streams::StreamExecutor;
use self::watchdog::{ConnState, Deadlines, Watchdog, Watched};
use crate::response::Body;

/// Concurrent HTTP/2 streams one connection may have open; more wait at the client.
pub const MAX_STREAMS: u32 = 128;
/// HTTP/2 streams a client may reset before the server accepted them, at once, before
/// the connection is closed (rapid reset, CVE-2023-44487).
const MAX_PENDING_RESETS: usize = 20;
/// HTTP/2 streams the server may have to reset because of the client's errors before it
/// closes the connection.
const MAX_ERROR_RESETS: usize = 256;

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1, plain or over TLS.
    Http1,
    /// HTTP/2 over TLS.
    Http2,
}

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

    /// A connection was established speaking `protocol`.
    fn on_connection(&self, _protocol: Protocol) {}

    /// A TLS handshake failed or did not finish in time.
    fn on_tls_failure(&self) {}
}

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: NonZeroUsize,
    /// A client that has not sent a whole request head this long after its connection
    /// or the request's first byte is dropped; also the bound on a TLS handshake.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request this long after its last response is closed.
    pub idle_timeout: Duration,
    /// hyper's read buffer (HTTP/1.1) and header list bound (HTTP/2): the largest request
    /// head it accepts at all. Above the configured URI and header limits, so those are
    /// answered with the JSON error; past it hyper refuses the request itself.
    pub max_head: usize,
    /// How long in-flight requests may run on after shutdown begins.
    pub grace: Duration,
}

/// What every connection of one listener shares.
struct Serving<H> {
    handler: Arc<H>,
    limits: ConnLimits,
    http1: http1::Builder,
    http2: http2::Builder<StreamExecutor>,
    tls: Option<TlsAcceptor>,
}

/// Serves `handler` on `listener` (over TLS when `tls` is given) until `shutdown`
/// completes, then drains.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: ConnLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.get()));
    let deadlines = Deadlines { header_read: limits.header_read_timeout, idle: limits.idle_timeout };
    let watchdog = Watchdog::new(deadlines);
    tokio::spawn(watchdog.sweeper());
    let mut h1 = http1::Builder::new();
    // Deadlines are the watchdog's: no timer per request head.
    h1.header_read_timeout(None).max_buf_size(limits.max_head.max(8192));
    let mut h2 = http2::Builder::new(StreamExecutor);
    h2.max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(u32::try_from(limits.max_head).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(MAX_ERROR_RESETS);
    let shared = Arc::new(Serving { handler, limits, http1: h1, http2: h2, tls });
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
        let task =
            tokio::spawn(connection(shared.clone(), stream, peer, conn.clone(), graceful.watcher(), permit));
        conn.serve_in(task.abort_handle());
    }
    drop(listener);
    if tokio::time::timeout(limits.grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?limits.grace, "requests still in flight after the grace period; closing");
    }
}

/// One connection, from the TLS handshake (if any) to its end.
async fn connection<H: Handler>(
    shared: Arc<Serving<H>>,
    stream: TcpStream,
    peer: SocketAddr,
    conn: Arc<ConnState>,
    graceful: Watcher,
    permit: OwnedSemaphorePermit,
) {
    let Some(acceptor) = &shared.tls else {
        serve_http1(&shared, stream, peer, conn, graceful).await;
        drop(permit);
        return;
    };
    let handshake = tokio::time::timeout(shared.limits.header_read_timeout, acceptor.accept(stream));
    let stream = match handshake.await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
            shared.handler.on_tls_failure();
            return;
        }
        Err(_) => {
            tracing::debug!(peer = %peer, "TLS handshake not finished in time");
            shared.handler.on_tls_failure();
            return;
        }
    };
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        shared.handler.on_connection(Protocol::Http2);
        let io = TokioIo::new(Watched::new(stream, conn.clone()));
        let served = graceful.watch(shared.http2.serve_connection(io, service(&shared, peer, conn, true)));
        if let Err(e) = served.await {
            tracing::debug!(peer = %peer, error = %e, "HTTP/2 connection ended with an error");
        }
    } else {
        serve_http1(&shared, stream, peer, conn, graceful).await;
    }
    drop(permit);
}

async fn serve_http1<H: Handler, S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    shared: &Arc<Serving<H>>,
    stream: S,
    peer: SocketAddr,
    conn: Arc<ConnState>,
    graceful: Watcher,
) {
    shared.handler.on_connection(Protocol::Http1);
    let io = TokioIo::new(Watched::new(stream, conn.clone()));
    let served = graceful.watch(shared.http1.serve_connection(io, service(shared, peer, conn, false)));
    if let Err(e) = served.await {
        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
    }
}

/// The service answering each request (HTTP/2: each stream) of one connection. A
/// `multiplexed` connection (HTTP/2) counts its requests in flight for the watchdog; an
/// HTTP/1.1 one has one at a time, which its phase word tells.
fn service<H: Handler>(
    shared: &Arc<Serving<H>>,
    peer: SocketAddr,
    conn: Arc<ConnState>,
    multiplexed: bool,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response<Body>, std::convert::Infallible>> + Send,
> + Clone {
    let handler = shared.handler.clone();
    service_fn(move |request| {
        let in_flight = match multiplexed {
            true => Some(conn.start_request()),
            false => {
                conn.busy();
                None
            }
        };
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
            drop(in_flight);
            Ok::<_, std::convert::Infallible>(response)
        }
    })
}
