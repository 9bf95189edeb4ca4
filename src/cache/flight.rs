//! Single-flight: at most one fill per key at a time, shared by every request that
//! wants its result.
//!
//! The fill runs in its own task, so a client that goes away does not cancel the call
//! others are waiting for, and a background refresh needs no one waiting at all.
//! A fill ends with a [`Landed`], which only [`ResponseCache::land`] makes: the type
//! keeps "a fill stores its entry before the flight is over" (see [`Flights::join`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::entry::{CacheStatus, Entry};
#[cfg(doc)]
use super::ResponseCache;

/// The entry a fill landed with, and how it relates to the cache.
///
/// Made only by [`ResponseCache::land`], which stores the entry first (when it is
/// cacheable), so a fill cannot end a flight without having stored what it got.
#[derive(Debug, Clone)]
pub struct Landed {
    /// The answer, already in the replica's own cache when it is cacheable.
    entry: Arc<Entry>,
    /// What the request that started the flight reports.
    status: CacheStatus,
}

impl Landed {
    /// Only the cache lands a fill (see the type's doc).
    pub(super) fn new(entry: Arc<Entry>, status: CacheStatus) -> Self {
        Landed { entry, status }
    }

    /// The entry and its status as the request that started the flight sees them.
    pub fn into_parts(self) -> (Arc<Entry>, CacheStatus) {
        (self.entry, self.status)
    }
}

/// A flight's task ended without landing: it panicked. Every error type a flight can
/// carry says what that means to its callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlightLost;

/// Where a flight's outcome appears: `None` until it lands.
type Outcome<E> = watch::Receiver<Option<Result<Landed, E>>>;

/// The flights under way, by key, each ending in a [`Landed`] or an `E`.
#[derive(Debug)]
pub struct Flights<E> {
    inflight: Mutex<HashMap<Arc<str>, Outcome<E>>>,
}

impl<E> Default for Flights<E> {
    fn default() -> Self {
        Flights { inflight: Mutex::default() }
    }
}

/// A flight joined or started by a request.
#[derive(Debug)]
pub struct Ticket<E> {
    /// Resolves with the outcome.
    receiver: Outcome<E>,
    /// Whether this request started the flight or joined one under way.
    role: Role,
}

/// A request's part in a flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// It started the flight: the fill is its own.
    Leader,
    /// It joined a flight another request started.
    Follower,
}

impl<E: Clone + From<FlightLost>> Ticket<E> {
    /// Waits for the flight to land: the entry and what this request reports about it
    /// (a follower's miss is `collapsed`).
    pub async fn outcome(mut self) -> Result<(Arc<Entry>, CacheStatus), E> {
        let landed = match self.receiver.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().expect("waited for Some")?,
            // The task ended without sending: it panicked.
            Err(_) => return Err(E::from(FlightLost)),
        };
        let (entry, status) = landed.into_parts();
        Ok(match self.role {
            Role::Leader => (entry, status),
            Role::Follower => (entry, status.for_follower()),
        })
    }
}

impl<E: Send + Sync + 'static> Flights<E> {
    /// Joins the flight for `key`, or starts one running `fill` when none is under way.
    /// `fill` is built only when it will run.
    pub fn join<F, Fut>(self: &Arc<Self>, key: &Arc<str>, fill: F) -> Ticket<E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Landed, E>> + Send + 'static,
    {
        let mut inflight = self.inflight.lock().expect("flight map lock");
        if let Some(receiver) = inflight.get(key) {
            return Ticket { receiver: receiver.clone(), role: Role::Follower };
        }
        let (sender, receiver) = watch::channel(None);
        inflight.insert(key.clone(), receiver.clone());
        drop(inflight);
        let landing = Landing { flights: self.clone(), key: key.clone() };
        let fill = fill();
        tokio::spawn(async move {
            let outcome = fill.await;
            // Remove first, then publish: a request arriving in between finds the
            // entry the fill stored (a `Landed` proves it did) rather than a finished
            // flight.
            drop(landing);
            let _ = sender.send(Some(outcome));
        });
        Ticket { receiver, role: Role::Leader }
    }
}

/// Removes a flight from the map when its task ends, even by panic.
struct Landing<E> {
    flights: Arc<Flights<E>>,
    key: Arc<str>,
}

impl<E> Drop for Landing<E> {
    fn drop(&mut self) {
        if let Ok(mut inflight) = self.flights.inflight.lock() {
            inflight.remove(&self.key);
        }
    }
}
