//! The response cache: a moka cache bounded in bytes, with per-entry freshness, stale
//! serving and single-flight upstream calls.
//!
//! moka keeps each entry for its TTL plus the longest stale window; whether an entry is
//! fresh, revalidatable or only good as a fallback is judged from its own store time.

mod entry;
mod envelope;
mod flight;
mod headers;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use entry::{Ask, CacheStatus, Entry};
pub use envelope::{Bounds, MacKey, Refused, Stored, OVERHEAD};
pub use flight::{Flights, Landed, Role, Ticket, Via};

use crate::config::CacheSettings;

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

/// Answers by normalised upstream target, bounded in bytes, and the flights that fill it.
#[derive(Debug)]
pub struct ResponseCache {
    /// Entries by normalised upstream target.
    entries: moka::sync::Cache<Arc<str>, Arc<Entry>, Hasher>,
    /// Upstream calls under way, by the same key.
    flights: Arc<Flights>,
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
/// `settings`: the one rule for both tiers.
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
        ResponseCache { entries, flights: Arc::default() }
    }

    /// Looks `key` up as of `now`, judging staleness by the windows in `settings`.
    pub fn lookup(&self, key: &str, now: Instant, settings: &CacheSettings) -> Lookup {
        match self.entries.get(key) {
            Some(entry) => judge(entry, now, settings),
            None => Lookup::Miss,
        }
    }

    /// Stores `entry` under `key`, replacing what was there.
    pub fn store(&self, key: Arc<str>, entry: Arc<Entry>) {
        self.entries.insert(key, entry);
    }

    /// The single-flight table.
    pub fn flights(&self) -> &Arc<Flights> {
        &self.flights
    }

    /// Drops every entry.
    pub fn purge_all(&self) {
        self.entries.invalidate_all();
    }

    /// Drops every entry whose key starts with `prefix` (`/api/{app_id}/` for one app).
    pub fn purge_prefix(&self, prefix: String) {
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
