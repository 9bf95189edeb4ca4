//! The shared tier: replicas that name the same Redis behave as one gateway.
//!
//! Each replica keeps its own cache (L1) in front; this module is what it asks on an L1
//! miss: entries stored by any replica ([`Shared::read`], [`Shared::store`]), a per-key
//! lock so one replica in the fleet calls AppSignal ([`Shared::lock`]), the fleet's
//! upstream budget and back-off (its [`FleetBudget`]), the fleet's query leases
//! ([`leases`]), purges ([`Shared::purge`]) and
//! membership (the [`background`] tasks).
//!
//! Invariants: an L1 hit never reaches this module; every method here is bounded by
//! `shared.command_timeout` and answers `Err` rather than wait longer, and every caller
//! then acts alone, so no Redis failure becomes a client error.

mod background;
mod keys;
mod leases;
mod link;
mod scripts;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use keys::KeyNames;
use link::Link;
pub use link::SharedError;

use crate::cache::{Bounds, Entry, MacKey, Refused, ResponseCache, Stored, OVERHEAD};
use crate::config::{CacheSettings, Rate, SharedSettings};
use crate::metrics::{BudgetDecision, Metrics, SharedRead, Untrusted};
use crate::upstream::{BoxFuture, Budget, FleetBudget};

/// How long a lock outlives the upstream timeout, so a slow holder keeps it to the end.
const LOCK_MARGIN: Duration = Duration::from_secs(1);

/// How many keys an untrusted entry is logged for (once each); past that, only counted,
/// so a neighbour writing junk under many keys cannot grow the set or flood the log.
const LOGGED_KEYS: usize = 1024;

/// What a read found: an entry (if any usable one) and the app's purge epoch, which
/// a store after an upstream call must carry.
#[derive(Debug)]
pub struct Read {
    /// The stored entry, unless it was missing, purged, foreign or past its life.
    pub entry: Option<Entry>,
    /// The app's current purge epoch.
    pub epoch: u64,
}

/// What the read script answers: the app's epoch, the entry if it was fetched, its length.
type ReadReply = (Option<u64>, Option<Vec<u8>>, u64);

/// A held per-key lock: its key and the random token only its owner knows.
#[derive(Debug, Clone)]
pub struct Lock {
    key: String,
    token: String,
}

/// What a purge empties.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every app (the ids listed in `apps`).
    All(Vec<Arc<str>>),
    /// One app, by id.
    App(Arc<str>),
}

/// This replica's handle on the shared tier.
#[derive(Debug)]
pub struct Shared {
    link: Link,
    keys: KeyNames,
    /// Larger entries stay in L1 only.
    max_entry_size: u64,
    /// This replica's id in the members' set: random, never a secret.
    replica: String,
    /// Replicas alive at the last heartbeat (at least 1): what the budget is divided by
    /// when this replica must decide alone.
    members: AtomicU32,
    /// Whether a corrupt or foreign value was already logged.
    warned_foreign: AtomicBool,
    /// What entries are sealed with: derived from the upstream token at start (a change
    /// of token takes effect on restart, like every `shared` key).
    mac: MacKey,
    /// The longest TTL and retain time an entry may claim, in milliseconds: this
    /// replica's configuration, kept current by reloads ([`Shared::set_bounds`]).
    max_ttl_ms: AtomicU64,
    max_retain_ms: AtomicU64,
    /// The keys an untrusted entry was logged for, at most [`LOGGED_KEYS`].
    logged_untrusted: Mutex<HashSet<String>>,
    metrics: Arc<Metrics>,
}

impl Shared {
    /// Joins the shared tier in `settings`, sealing entries with `mac` and bounding what
    /// it reads by `bounds`, spawning the tasks that keep the connection, the heartbeat
    /// and the purge subscription (within a tokio runtime). Never fails: an unreachable
    /// Redis is joined when it answers.
    pub fn start(
        settings: &SharedSettings,
        mac: MacKey,
        bounds: &CacheSettings,
        cache: Arc<ResponseCache>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let shared = Arc::new(Shared {
            mac,
            max_ttl_ms: AtomicU64::new(0),
            max_retain_ms: AtomicU64::new(0),
            logged_untrusted: Mutex::new(HashSet::new()),
            link: Link::new(settings, metrics.clone()),
            keys: KeyNames::new(&settings.key_prefix),
            max_entry_size: settings.max_entry_size,
            replica: random_token(),
            members: AtomicU32::new(1),
            warned_foreign: AtomicBool::new(false),
            metrics,
        });
        shared.set_bounds(bounds);
        background::spawn(&shared, cache);
        shared
    }

    /// The longest TTL and retain time a read entry may claim: what `cache` would ever
    /// store. Called at start and by every reload.
    pub fn set_bounds(&self, cache: &CacheSettings) {
        let max_ttl = cache.max_ttl();
        self.max_ttl_ms.store(max_ttl.as_millis() as u64, Ordering::Relaxed);
        self.max_retain_ms.store(cache.retain_for(max_ttl).as_millis() as u64, Ordering::Relaxed);
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            max_len: self.max_value_len(),
            max_ttl: Duration::from_millis(self.max_ttl_ms.load(Ordering::Relaxed)),
            max_retain: Duration::from_millis(self.max_retain_ms.load(Ordering::Relaxed)),
        }
    }

    /// The longest value read whole: an entry of `max_entry_size` bodies and its envelope.
    fn max_value_len(&self) -> usize {
        usize::try_from(self.max_entry_size).unwrap_or(usize::MAX).saturating_add(OVERHEAD)
    }

    /// The entry stored for `key` and the app's epoch; `Ok(None)`-like misses are
    /// `Read { entry: None, .. }`. Errors mean: act alone.
    pub async fn read(&self, key: &str, now: Instant) -> Result<Read, SharedError> {
        let Some(names) = self.keys.entry(key) else { return Err(SharedError::Down) };
        let mut invocation = scripts::READ.key(&names.epoch);
        invocation.key(&names.entry).arg(self.max_value_len());
        let result: Result<ReadReply, _> = self.link.script(&invocation).await;
        let (epoch, value, length) = match result {
            Ok(found) => found,
            Err(e) => {
                self.metrics.shared.read(match e {
                    SharedError::Timeout => SharedRead::Timeout,
                    _ => SharedRead::Error,
                });
                return Err(e);
            }
        };
        let epoch = epoch.unwrap_or(0);
        let judged = match value {
            Some(value) => Entry::decode(&value, now, key, &self.mac, &self.bounds()),
            None if length > 0 => Err(Refused::Size),
            None => Ok(None),
        };
        let entry = match judged {
            Ok(Some(Stored { entry, epoch: stored })) if stored == epoch => Some(entry),
            Ok(_) => None,
            Err(refused) => {
                self.refused(&names.entry, refused);
                None
            }
        };
        self.metrics.shared.read(if entry.is_some() { SharedRead::Hit } else { SharedRead::Miss });
        Ok(Read { entry, epoch })
    }

    /// Counts a value not trusted, and logs it once per key (a bounded number of keys).
    fn refused(&self, name: &str, refused: Refused) {
        let (why, reason) = match refused {
            Refused::Foreign => {
                if !self.warned_foreign.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        key = %name,
                        "a value in the shared tier is not an entry this gateway can read (another version?): treated as a miss"
                    );
                }
                return;
            }
            Refused::Mac => (
                Untrusted::Mac,
                "its MAC does not verify: not written by a replica holding this fleet's token",
            ),
            Refused::Size => (Untrusted::Size, "it is larger than shared.max_entry_size allows"),
            Refused::Bounds => {
                (Untrusted::Bounds, "it holds a status, TTL, retain time or body the gateway never stores")
            }
            Refused::Form => (Untrusted::Form, "a compressed form does not decode to its body"),
        };
        self.metrics.security.untrusted(why);
        let mut logged = self.logged_untrusted.lock().expect("untrusted-key set lock");
        if logged.len() < LOGGED_KEYS && logged.insert(name.to_owned()) {
            drop(logged);
            tracing::warn!(key = %name, reason, "an entry in the shared tier is not trusted: treated as a miss");
        }
    }

    /// Takes `key`'s lock for `hold` plus a margin; `Ok(None)` when another replica holds it.
    pub async fn lock(&self, key: &str, hold: Duration) -> Result<Option<Lock>, SharedError> {
        let Some(names) = self.keys.entry(key) else { return Err(SharedError::Down) };
        let token = random_token();
        let ms = (hold + LOCK_MARGIN).as_millis() as u64;
        let set: Option<String> = self
            .link
            .query(redis::cmd("SET").arg(&names.lock).arg(&token).arg("NX").arg("PX").arg(ms))
            .await?;
        Ok(set.map(|_| Lock { key: names.lock, token }))
    }

    /// Whether `key`'s lock is held by anyone.
    pub async fn locked(&self, key: &str) -> Result<bool, SharedError> {
        let Some(names) = self.keys.entry(key) else { return Err(SharedError::Down) };
        self.link.query(redis::cmd("EXISTS").arg(&names.lock)).await
    }

    /// Stores `entry` for the fleet under `epoch` (unless it is larger than
    /// `max_entry_size`) and lets go of `lock`.
    pub async fn store(&self, key: &str, entry: &Entry, epoch: u64, lock: Lock) {
        let now = Instant::now();
        let life = entry.retain.saturating_sub(entry.age(now));
        let fits = entry.body_bytes() as u64 <= self.max_entry_size;
        let Some(names) = self.keys.entry(key).filter(|_| fits && !life.is_zero()) else {
            return self.unlock(lock).await;
        };
        let value: Bytes = entry.encode(epoch, now, key, &self.mac);
        let mut invocation = scripts::STORE.key(&names.entry);
        invocation.key(&names.lock).arg(value.as_ref()).arg(life.as_millis().max(1) as u64).arg(lock.token);
        let _: Result<i64, _> = self.link.script(&invocation).await;
    }

    /// Lets go of `lock` if this replica still owns it.
    pub async fn unlock(&self, lock: Lock) {
        let mut invocation = scripts::UNLOCK.key(&lock.key);
        invocation.arg(&lock.token);
        let _: Result<i64, _> = self.link.script(&invocation).await;
    }

    /// Asks the fleet's budget for one upstream call at `rate`.
    async fn spend_call(&self, rate: Rate) -> Result<Budget, SharedError> {
        let interval = 1_000_000 / u64::from(rate.per_second.get()).max(1);
        let tolerance = interval * u64::from(rate.burst.get() - 1);
        let mut invocation = scripts::BUDGET.key(self.keys.budget());
        invocation.key(self.keys.backoff()).arg(interval).arg(tolerance);
        let (allowed, wait_ms, backing_off): (i64, u64, i64) = self.link.script(&invocation).await?;
        let wait = Duration::from_millis(wait_ms);
        let (budget, decision) = match (allowed, backing_off) {
            (1, _) => (Budget::Allowed, BudgetDecision::Allowed),
            (_, 1) => (Budget::BackingOff(wait), BudgetDecision::BackingOff),
            _ => (Budget::Spent(wait), BudgetDecision::Refused),
        };
        self.metrics.shared.budget(decision);
        Ok(budget)
    }

    /// Tells the fleet to make no upstream call for `wait` (AppSignal answered 429).
    async fn back_off_fleet(&self, wait: Duration) {
        let mut invocation = scripts::BACK_OFF.key(self.keys.backoff());
        invocation.arg(wait.as_millis().max(1) as u64);
        let _: Result<i64, _> = self.link.script(&invocation).await;
    }

    /// The metrics this tier records to.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Empties the shared tier for `scope` (by bumping the apps' epochs, so no key
    /// is scanned or deleted) and tells every replica to drop its own entries for it.
    pub async fn purge(&self, scope: &Scope) -> Result<(), SharedError> {
        let apps = match scope {
            Scope::All(apps) => apps.as_slice(),
            Scope::App(app) => std::slice::from_ref(app),
        };
        for app in apps {
            let _: u64 = self.link.query(redis::cmd("INCR").arg(self.keys.epoch(app))).await?;
        }
        let message = match scope {
            Scope::All(_) => background::PURGE_ALL.to_owned(),
            Scope::App(app) => format!("{}{app}", background::PURGE_APP),
        };
        let _: i64 = self.link.query(redis::cmd("PUBLISH").arg(self.keys.channel()).arg(message)).await?;
        self.metrics.shared.purge(true);
        Ok(())
    }
}

impl FleetBudget for Shared {
    fn spend(&self, rate: Rate) -> BoxFuture<'_, Option<Budget>> {
        Box::pin(async move { self.spend_call(rate).await.ok() })
    }

    fn back_off(&self, wait: Duration) -> BoxFuture<'_, ()> {
        Box::pin(self.back_off_fleet(wait))
    }

    fn members(&self) -> u32 {
        self.members.load(Ordering::Relaxed).max(1)
    }

    fn decided_alone(&self) {
        self.metrics.shared.budget(BudgetDecision::Local);
    }
}

/// 128 random bits as hex: lock tokens and replica ids.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness the token is still unique enough per process and time.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bytes[..16].copy_from_slice(&nanos.as_nanos().to_be_bytes());
    }
    hex::encode(bytes)
}
