//! The response cache: a moka cache bounded in bytes, with per-entry freshness, the one
//! freshness rule ([`judge`]) and single-flight fills ([`Flights`]).
//!
//! moka keeps each entry for its TTL plus the longest stale window; whether an entry is
//! fresh, revalidatable or only good as a fallback is judged from its own store time.
//! The cache renders no HTTP: the gateway turns entries into responses.

mod entry;
mod envelope;
mod flight;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use entry::{CacheStatus, Compressed, Entry, Form};
pub use envelope::{Bounds, MacKey, Refused, Stored, OVERHEAD};
pub use flight::{FlightLost, Flights, Landed, Ticket};

use crate::config::CacheSettings;
use crate::key::CacheKey;

/// What the cache holds for a key, judged at one instant.
#[derive(Debug)]
pub enum Lookup {
    /// Fresh: serve it.
    Fresh(Arc<Entry>),
    /// Expired within `stale_while_revalidate`: serve it now and refresh in the background.
    Revalidate(Arc<Entry>),
    /// Expired within `stale_if_error` only: refetch, and serve it if AppSignal fails.
    Fallback(Arc<Entry>),
    /// Nothing usable.
    Miss,
}

/// Answers by cache key ([`CacheKey`], kept by its text), bounded in bytes.
#[derive(Debug)]
pub struct ResponseCache {
    /// Entries by cache key.
    entries: moka::sync::Cache<Arc<str>, Arc<Entry>, Hasher>,
}

/// Keeps each entry for its own `retain` time.
struct Retain;

impl moka::Expiry<Arc<str>, Arc<Entry>> for Retain {
    fn expire_after_create(
        &self,
        _: &Arc<str>,
        entry: &Arc<Entry>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(entry.retain)
    }

    fn expire_after_update(
        &self,
        _: &Arc<str>,
        entry: &Arc<Entry>,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.retain)
    }
}

/// Keys are normalised request targets, so clients choose them: a randomly seeded
/// hasher, and a fast one (a hit hashes its key once).
type Hasher = foldhash::quality::RandomState;

/// How `entry` can serve as of `now`, by its own age and TTL and the stale windows in
/// `settings` (this replica's, whoever stored the entry): the one rule for both tiers.
pub fn judge(entry: Arc<Entry>, now: Instant, settings: &CacheSettings) -> Lookup {
    let age = entry.age(now);
    if age < entry.ttl {
        Lookup::Fresh(entry)
    } else if age < entry.ttl + settings.stale_while_revalidate {
        Lookup::Revalidate(entry)
    } else if age < entry.ttl + settings.stale_if_error {
        Lookup::Fallback(entry)
    } else {
        Lookup::Miss
    }
}

impl ResponseCache {
    /// An empty cache bounded by `max_size` bytes.
    pub fn new(max_size: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_size)
            .weigher(|key: &Arc<str>, entry: &Arc<Entry>| entry.weight(key))
            .expire_after(Retain)
            .support_invalidation_closures()
            .build_with_hasher(Hasher::default());
        ResponseCache { entries }
    }

    /// Looks `key` up as of `now`, judging staleness by the windows in `settings`.
    pub fn lookup(&self, key: &CacheKey, now: Instant, settings: &CacheSettings) -> Lookup {
        match self.entries.get(key.as_str()) {
            Some(entry) => judge(entry, now, settings),
            None => Lookup::Miss,
        }
    }

    /// Ends a fill for `key` with `entry`: stores it (unless its TTL is zero, or it is
    /// already what the cache holds for `key`) and returns the proof a flight ends with.
    pub fn land(&self, key: &CacheKey, entry: Arc<Entry>, status: CacheStatus) -> Landed {
        let held = self.entries.get(key.as_str()).is_some_and(|held| Arc::ptr_eq(&held, &entry));
        if !entry.ttl.is_zero() && !held {
            self.entries.insert(key.text().clone(), entry.clone());
        }
        Landed::new(entry, status)
    }

    /// Drops every entry.
    pub fn purge_all(&self) {
        self.entries.invalidate_all();
    }

    /// Drops every entry of app `app_id`.
    pub fn purge_app(&self, app_id: &str) {
        let prefix = CacheKey::app_prefix(app_id);
        let purged = self.entries.invalidate_entries_if(move |key, _| key.starts_with(&prefix));
        // Only fails when invalidation closures are not enabled, which `new` does.
        debug_assert!(purged.is_ok());
    }

    /// Entry count and weighted size in bytes, after moka has applied pending work.
    pub fn usage(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        (self.entries.entry_count(), self.entries.weighted_size())
    }
}
