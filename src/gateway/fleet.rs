//! A flight through the shared tier: the fleet's entry if it has one, else one upstream
//! call for the whole fleet under a per-key lock in Redis, the others waiting for its
//! entry. Any Redis failure on the way makes this replica call alone: never a client error.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::{Entry, Landed, ResponseCache, Via};
use crate::metrics::LockWait;
use crate::shared::{Lock, Shared};
use crate::upstream::UpstreamError;

/// What a flight takes from the shared tier before it calls AppSignal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// This replica has nothing: any entry the fleet still keeps (the caller judges a
    /// stale one as it would its own).
    Miss,
    /// This replica's entry expired: only a fresh one saves the call.
    Refresh,
}

/// The first pause between polls while another replica holds the lock; doubled up to
/// [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(50);

/// Lands the flight for `key`: from the shared tier, from another replica's call, or
/// from `call` (this replica's, which stores the entry in this replica's cache).
pub async fn fill<F, Fut>(
    shared: &Arc<Shared>,
    cache: &ResponseCache,
    key: &Arc<str>,
    fill: Fill,
    timeout: Duration,
    call: F,
) -> Result<Landed, UpstreamError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Arc<Entry>, UpstreamError>>,
{
    let started = Instant::now();
    let deadline = started + timeout;
    let Ok(read) = shared.read(key, started).await else { return alone(call).await };
    let usable = match fill {
        Fill::Miss => read.entry,
        Fill::Refresh => fresh(read.entry),
    };
    if let Some(entry) = usable {
        return Ok(land(cache, key, Arc::new(entry), Via::Shared));
    }
    let mut generation = read.generation;
    loop {
        match shared.lock(key, timeout).await {
            Err(_) => return alone(call).await,
            Ok(Some(lock)) => {
                // Another replica may have stored and let go between the read and the lock.
                if let Ok(again) = shared.read(key, Instant::now()).await {
                    if let Some(entry) = fresh(again.entry) {
                        let shared = shared.clone();
                        tokio::spawn(async move { shared.unlock(lock).await });
                        return Ok(land(cache, key, Arc::new(entry), Via::Fleet));
                    }
                    generation = again.generation;
                }
                return own_call(shared, key, generation, lock, call).await;
            }
            Ok(None) => {}
        }
        let outcome = wait(shared, key, deadline).await;
        shared.metrics().shared.lock_wait(match &outcome {
            Waited::Filled(_) => LockWait::Filled,
            Waited::Released(_) => LockWait::TookOver,
            Waited::GaveUp => LockWait::GaveUp,
        });
        match outcome {
            Waited::Filled(entry) => return Ok(land(cache, key, entry, Via::Fleet)),
            Waited::Released(now) => generation = now,
            Waited::GaveUp => return alone(call).await,
        }
    }
}

/// This replica holds the lock: it calls, stores the entry for the fleet and lets go of
/// the lock, in the background so the answer does not wait for Redis.
async fn own_call<F, Fut>(
    shared: &Arc<Shared>,
    key: &Arc<str>,
    generation: u64,
    lock: Lock,
    call: F,
) -> Result<Landed, UpstreamError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Arc<Entry>, UpstreamError>>,
{
    let result = call().await;
    let shared = shared.clone();
    let key = key.clone();
    let stored = result.as_ref().ok().filter(|e| !e.ttl.is_zero()).cloned();
    tokio::spawn(async move {
        match stored {
            Some(entry) => shared.store(&key, &entry, generation, lock).await,
            None => shared.unlock(lock).await,
        }
    });
    result.map(|entry| Landed { entry, via: Via::Upstream })
}

async fn alone<F, Fut>(call: F) -> Result<Landed, UpstreamError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Arc<Entry>, UpstreamError>>,
{
    call().await.map(|entry| Landed { entry, via: Via::Upstream })
}

/// The entry, if it is still fresh now.
fn fresh(entry: Option<Entry>) -> Option<Entry> {
    entry.filter(|e| !e.ttl_left(Instant::now()).is_zero())
}

/// Puts an entry from the shared tier in this replica's cache and lands the flight with it.
fn land(cache: &ResponseCache, key: &Arc<str>, entry: Arc<Entry>, via: Via) -> Landed {
    cache.store(key.clone(), entry.clone());
    Landed { entry, via }
}

/// How a wait for another replica's call ended.
enum Waited {
    /// Its entry appeared.
    Filled(Arc<Entry>),
    /// It let go of the lock without an entry (its call failed); the app's generation.
    Released(u64),
    /// The deadline passed or Redis failed.
    GaveUp,
}

/// Polls for the entry another replica is fetching, with growing pauses, until it
/// appears, the lock is gone, or `deadline` passes.
async fn wait(shared: &Shared, key: &str, deadline: Instant) -> Waited {
    let mut pause = POLL_FIRST;
    loop {
        if Instant::now() + pause >= deadline {
            return Waited::GaveUp;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(POLL_MAX);
        let Ok(read) = shared.read(key, Instant::now()).await else { return Waited::GaveUp };
        if let Some(entry) = fresh(read.entry) {
            return Waited::Filled(Arc::new(entry));
        }
        match shared.locked(key).await {
            Ok(true) => {}
            Ok(false) => {
                // The holder may have stored and let go between the read and now.
                let Ok(again) = shared.read(key, Instant::now()).await else { return Waited::GaveUp };
                return match fresh(again.entry) {
                    Some(entry) => Waited::Filled(Arc::new(entry)),
                    None => Waited::Released(again.generation),
                };
            }
            Err(_) => return Waited::GaveUp,
        }
    }
}
