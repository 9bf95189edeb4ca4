//! Single-flight: at most one upstream call per key at a time, shared by every request
//! that wants its result.
//!
//! The call runs in its own task, so a client that goes away does not cancel the call
//! others are waiting for, and a background refresh needs no one waiting at all.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::entry::Entry;
use crate::upstream::UpstreamError;

/// What a flight ends with: the entry and where it came from, or the upstream failure
/// (shared, not stored).
pub type Outcome = Result<Landed, UpstreamError>;

/// The entry a flight landed with.
#[derive(Debug, Clone)]
pub struct Landed {
    /// The answer, already in the replica's own cache when it is cacheable.
    pub entry: Arc<Entry>,
    /// Where it came from.
    pub via: Via,
}

/// Where a flight's entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// This replica's upstream call.
    Upstream,
    /// Another replica's upstream call, waited for through the shared tier.
    Fleet,
    /// The shared tier, already there (fresh or stale: judge it).
    Shared,
}

/// The flights under way, by key.
#[derive(Debug, Default)]
pub struct Flights {
    inflight: Mutex<HashMap<Arc<str>, watch::Receiver<Option<Outcome>>>>,
}

/// A flight joined or started by a request.
#[derive(Debug)]
pub struct Ticket {
    /// Resolves with the outcome.
    receiver: watch::Receiver<Option<Outcome>>,
    /// Whether this request started the flight or joined one under way.
    pub role: Role,
}

/// A request's part in a flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It started the flight: the upstream call is its own.
    Leader,
    /// It joined a flight another request started.
    Follower,
}

impl Ticket {
    /// Waits for the flight to land.
    pub async fn outcome(mut self) -> Outcome {
        match self.receiver.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().expect("waited for Some"),
            // The task ended without sending: it panicked.
            Err(_) => Err(UpstreamError::Broken("the upstream call failed unexpectedly".into())),
        }
    }
}

impl Flights {
    /// Joins the flight for `key`, or starts one running `call`. `call` runs only when
    /// no flight is under way; it must store its result before it returns.
    pub fn join<F, Fut>(self: &Arc<Self>, key: &Arc<str>, call: F) -> Ticket
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let mut inflight = self.inflight.lock().expect("flight map lock");
        if let Some(receiver) = inflight.get(key) {
            return Ticket { receiver: receiver.clone(), role: Role::Follower };
        }
        let (sender, receiver) = watch::channel(None);
        inflight.insert(key.clone(), receiver.clone());
        drop(inflight);
        let landing = Landing { flights: self.clone(), key: key.clone() };
        let call = call();
        tokio::spawn(async move {
            let outcome = call.await;
            // Remove first, then publish: a request arriving in between finds the
            // stored entry (the call stored it) rather than a finished flight.
            drop(landing);
            let _ = sender.send(Some(outcome));
        });
        Ticket { receiver, role: Role::Leader }
    }
}

/// Removes a flight from the map when its task ends, even by panic.
struct Landing {
    flights: Arc<Flights>,
    key: Arc<str>,
}

impl Drop for Landing {
    fn drop(&mut self) {
        if let Ok(mut inflight) = self.flights.inflight.lock() {
            inflight.remove(&self.key);
        }
    }
}
