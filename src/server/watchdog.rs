//! Connection deadlines without a timer per request.
//!
//! Each connection publishes, in one atomic word, what it is waiting for and since
//! when; one sweeper per listener wakes a few times per timeout and closes the
//! connections past their deadline. A request costs a few relaxed atomic stores, where
//! arming a timer for every request head (hyper's `header_read_timeout`) costs a timer
//! registration, an allocation and a clock read.
//!
//! A connection is
//! - reading a head, from its accept or from the first byte after a response: closed
//!   after `header_read_timeout`, however slowly the bytes trickle in;
//! - idle, from the end of a response until the next byte: closed after `idle_timeout`;
//! - busy while a request is answered: never closed here (upstream calls have their
//!   own timeout). An HTTP/2 connection carries several requests at once: while any of
//!   them is in flight ([`ConnState::start_request`]) it is never closed here, whatever its
//!   phase word says.
//!
//! The sweeper's clock is coarse (it is read from an atomic the sweeper sets), so a
//! deadline is checked with one tick of margin: a connection is closed between its
//! timeout and two ticks after it, never before.

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::AbortHandle;

/// The deadlines one listener enforces.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// From a connection's accept, or the first byte of a request, to the end of its head.
    pub header_read: Duration,
    /// From the end of a response to the first byte of the next request.
    pub idle: Duration,
}

impl Deadlines {
    /// How often the sweeper looks: an eighth of the shorter timeout, within 5 ms–1 s.
    fn tick(&self) -> Duration {
        (self.header_read.min(self.idle) / 8).clamp(Duration::from_millis(5), Duration::from_secs(1))
    }
}

/// The state word: the phase in the top two bits, milliseconds since the watchdog's
/// start in the rest.
const PHASE_SHIFT: u32 = 62;
const TIME_MASK: u64 = (1 << PHASE_SHIFT) - 1;
const BUSY: u64 = 0;
const IDLE: u64 = 1 << PHASE_SHIFT;
const HEAD: u64 = 2 << PHASE_SHIFT;

/// Milliseconds since `start`, set by the sweeper each tick.
#[derive(Debug)]
struct CoarseClock {
    start: Instant,
    millis: AtomicU64,
}

impl CoarseClock {
    fn now(&self) -> u64 {
        self.millis.load(Ordering::Relaxed)
    }

    /// Reads the real clock and publishes it.
    fn advance(&self) -> u64 {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(TIME_MASK) & TIME_MASK;
        self.millis.store(now, Ordering::Relaxed);
        now
    }
}

/// One listener's connections and their deadlines.
#[derive(Debug)]
pub struct Watchdog {
    deadlines: Deadlines,
    clock: Arc<CoarseClock>,
    conns: Mutex<Vec<Weak<ConnState>>>,
}

impl Watchdog {
    /// A watchdog enforcing `deadlines`; nothing is closed until [`Watchdog::sweeper`] runs.
    pub fn new(deadlines: Deadlines) -> Arc<Self> {
        let clock = Arc::new(CoarseClock { start: Instant::now(), millis: AtomicU64::new(0) });
        Arc::new(Watchdog { deadlines, clock, conns: Mutex::default() })
    }

    /// Starts watching a new connection, in the head-reading phase from now.
    pub fn watch(&self) -> Arc<ConnState> {
        let conn = Arc::new(ConnState {
            state: AtomicU64::new(HEAD | self.clock.now()),
            in_flight: AtomicU32::new(0),
            clock: self.clock.clone(),
            task: OnceLock::new(),
        });
        self.lock().push(Arc::downgrade(&conn));
        conn
    }

    /// Closes overdue connections every tick until the watchdog is dropped (the
    /// listener's server is done); spawn it.
    pub fn sweeper(self: &Arc<Self>) -> impl std::future::Future<Output = ()> + Send + 'static {
        let watchdog = Arc::downgrade(self);
        let mut ticker = tokio::time::interval(self.deadlines.tick());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        async move {
            loop {
                ticker.tick().await;
                let Some(watchdog) = watchdog.upgrade() else { return };
                watchdog.sweep_at(watchdog.clock.advance());
            }
        }
    }

    /// One sweep as of `now` (milliseconds on the watchdog's clock): closes overdue
    /// connections, forgets ended ones. Returns how many it closed.
    fn sweep_at(&self, now: u64) -> usize {
        let margin = millis(self.deadlines.tick());
        let mut closed = 0;
        self.lock().retain(|weak| {
            let Some(conn) = weak.upgrade() else { return false };
            if conn.overdue(now, margin, &self.deadlines) {
                if let Some(task) = conn.task.get() {
                    task.abort();
                    closed += 1;
                }
            }
            true
        });
        closed
    }

    /// Connections watched and not yet forgotten.
    #[cfg(test)]
    fn watched(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<ConnState>>> {
        // The list is only pushed to and filtered: a panic elsewhere cannot leave it torn.
        self.conns.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(TIME_MASK)
}

/// One connection's phase, shared by its IO, its service and the sweeper.
#[derive(Debug)]
pub struct ConnState {
    state: AtomicU64,
    /// Requests (HTTP/2 streams) being answered.
    in_flight: AtomicU32,
    clock: Arc<CoarseClock>,
    /// The connection's task, aborted when it is overdue.
    task: OnceLock<AbortHandle>,
}

impl ConnState {
    /// Names the task serving this connection, so the sweeper can close it.
    pub fn serve_in(&self, task: AbortHandle) {
        let _ = self.task.set(task);
    }

    /// An HTTP/1.1 request head is complete and being answered: busy until its response
    /// is written.
    pub fn busy(&self) {
        self.state.store(BUSY, Ordering::Relaxed);
    }

    /// An HTTP/2 stream's head is complete and being answered: the connection is never
    /// overdue until the returned guard is dropped.
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.state.store(BUSY, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Bytes arrived: an idle connection starts reading a head.
    fn read_some(&self) {
        if self.state.load(Ordering::Relaxed) & !TIME_MASK == IDLE {
            self.state.store(HEAD | self.clock.now(), Ordering::Relaxed);
        }
    }

    /// Bytes of a response left: idle from now until the next byte arrives.
    fn wrote_some(&self) {
        self.state.store(IDLE | self.clock.now(), Ordering::Relaxed);
    }

    /// Records a write that sent bytes.
    fn after_write(&self, polled: &Poll<std::io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.wrote_some();
        }
    }

    fn overdue(&self, now: u64, margin: u64, deadlines: &Deadlines) -> bool {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return false;
        }
        let state = self.state.load(Ordering::Relaxed);
        let limit = match state & !TIME_MASK {
            HEAD => deadlines.header_read,
            IDLE => deadlines.idle,
            _ => return false,
        };
        now.saturating_sub(state & TIME_MASK) > millis(limit).saturating_add(margin)
    }
}

/// One request in flight on a connection; dropping it ends the request.
#[derive(Debug)]
pub struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's IO, reporting reads and writes to its [`ConnState`].
#[derive(Debug)]
pub struct Watched<T> {
    io: T,
    conn: Arc<ConnState>,
}

impl<T> Watched<T> {
    /// Wraps `io`, reporting to `conn`.
    pub fn new(io: T, conn: Arc<ConnState>) -> Self {
        Watched { io, conn }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.read_some();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.conn.after_write(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.conn.after_write(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINES: Deadlines =
        Deadlines { header_read: Duration::from_millis(100), idle: Duration::from_millis(1000) };

    fn overdue(conn: &ConnState, now: u64) -> bool {
        conn.overdue(now, millis(DEADLINES.tick()), &DEADLINES)
    }

    #[test]
    fn each_phase_has_its_own_deadline() {
        let dog = Watchdog::new(DEADLINES);
        let margin = millis(DEADLINES.tick());
        let conn = dog.watch();
        // Reading the first head since 0.
        assert!(!overdue(&conn, 100 + margin), "never before the timeout and its margin");
        assert!(overdue(&conn, 101 + margin));
        // Busy: no deadline at all.
        let request = conn.start_request();
        assert!(!overdue(&conn, u64::MAX / 4));
        drop(request);
        // A response went out at 500: idle, with the idle timeout.
        dog.clock.millis.store(500, Ordering::Relaxed);
        conn.wrote_some();
        assert!(!overdue(&conn, 1500 + margin));
        assert!(overdue(&conn, 1501 + margin));
        // Bytes at 700: reading a head since then; more bytes do not restart it.
        dog.clock.millis.store(700, Ordering::Relaxed);
        conn.read_some();
        dog.clock.millis.store(750, Ordering::Relaxed);
        conn.read_some();
        assert!(!overdue(&conn, 800 + margin));
        assert!(overdue(&conn, 801 + margin), "a trickled head keeps its first byte's deadline");
    }

    #[test]
    fn a_connection_with_a_stream_in_flight_is_never_overdue() {
        let dog = Watchdog::new(DEADLINES);
        let conn = dog.watch();
        let first = conn.start_request();
        let second = conn.start_request();
        // HTTP/2: another stream's response went out, then a frame arrived.
        conn.wrote_some();
        conn.read_some();
        assert!(!overdue(&conn, 1_000_000), "a stream is still being answered");
        drop(first);
        assert!(!overdue(&conn, 1_000_000));
        drop(second);
        assert!(overdue(&conn, 1_000_000), "nothing in flight: the head deadline applies");
    }

    #[tokio::test]
    async fn sweeps_abort_overdue_tasks_and_forget_ended_ones() {
        let dog = Watchdog::new(DEADLINES);
        let stuck = dog.watch();
        let task = tokio::spawn(std::future::pending::<()>());
        stuck.serve_in(task.abort_handle());
        let ended = dog.watch();
        drop(ended);
        assert_eq!(dog.watched(), 2);
        assert_eq!(dog.sweep_at(50), 0, "nothing is overdue yet");
        assert_eq!(dog.watched(), 1, "the ended connection is forgotten");
        // Ten seconds on, the stuck head is overdue.
        assert_eq!(dog.sweep_at(10_000), 1);
        assert!(task.await.unwrap_err().is_cancelled());
    }
}
