//! The cache step: a target's entry from this replica's cache, or from one fill per key.
//!
//! A request first judges this replica's own entry ([`judge`]): fresh, it is the answer;
//! within `stale_while_revalidate`, it is the answer and one background refresh starts;
//! otherwise the request joins the key's flight (one per key, [`Flights`]), keeping an
//! entry within `stale_if_error` as its fallback. The flight runs one fill, a state
//! machine:
//!
//! ```text
//!            ┌───────────── no shared tier, or Redis failed ─────────────┐
//!            │                                                           ▼
//! start ──► SharedRead ── fresh entry ──► land (shared hit)            Call ──► land
//!            │  └─ stale within SWR, for an answer ──► land (revalidating)  ▲    (stored,
//!            ▼                                                           │    or error)
//!           Lock ── taken: re-read; fresh ──► land (collapsed)           │
//!            │ ▲            └─ nothing fresh ────────────────────────────┤ (holding the lock)
//!            │ └── released without an entry ─┐                          │
//!            ▼                                │                          │
//!           Wait ── its entry appears ──► land (collapsed)               │
//!               └── deadline, or Redis failed ───────────────────────────┘ (alone)
//! ```
//!
//! Each entry is judged once: this replica's own when the request starts, the shared
//! tier's when it is read (by this replica's windows, whoever stored it). A fill ends
//! with a [`Landed`] (the cache stored the entry first) or a [`FillError`] that carries
//! the shared tier's stale entry, if it had one within `stale_if_error`. Whether stale
//! is served instead of an error is decided in one place, [`settle`]: only when the
//! upstream call failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderValue;

use super::build::{self, Recipe};
use super::generation::Generation;
use super::Gateway;
use crate::cache::{judge, CacheStatus, Entry, FlightLost, Flights, Landed, Lookup, ResponseCache, Ticket};
use crate::config::CacheSettings;
use crate::error::GatewayError;
use crate::key::CacheKey;
use crate::limit::ClientId;
use crate::metrics::LockWait;
use crate::route::Shape;
use crate::route::Target;
use crate::shared::{Lock, Shared};
use crate::upstream::{Api, Call, Fetched, Upstream, UpstreamError};

/// The first pause between polls while another replica holds the lock; doubled up to
/// [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(50);

/// The flights of this replica, by cache key.
pub(super) type FillFlights = Flights<FillError>;

/// A fill that ended without an entry: the upstream failure (shared by every request
/// of the flight), and the shared tier's stale entry if it had one to fall back on.
#[derive(Debug, Clone)]
pub(super) struct FillError {
    error: UpstreamError,
    stale: Option<Arc<Entry>>,
}

impl From<FlightLost> for FillError {
    fn from(_: FlightLost) -> Self {
        let error = UpstreamError::Broken("the upstream call failed unexpectedly".into());
        FillError { error, stale: None }
    }
}

/// What a fill is for.
#[derive(Debug, Clone, Copy)]
enum Want<'a> {
    /// Requests wait for it: any entry that can answer them now will do. The client
    /// whose request started it pays for its upstream call (its `client_share`).
    Answer(&'a ClientId),
    /// A background refresh of an entry being served stale: only a fresh one saves
    /// the call, and no client's share pays for it (the answer was cached).
    Refresh,
}

impl Gateway {
    /// The entry answering `target` and how it relates to the cache.
    pub(super) async fn entry(
        &self,
        generation: &Generation,
        target: &Target,
        now: Instant,
        request_id: &HeaderValue,
        client: &ClientId,
    ) -> Result<(Arc<Entry>, CacheStatus), GatewayError> {
        let settings = &generation.settings.cache;
        let answer = Want::Answer(client);
        let (entry, status) = match self.cache.lookup(&target.key, now, settings) {
            Lookup::Fresh(entry) => return Ok((entry, CacheStatus::Hit)),
            Lookup::Revalidate(entry) => (entry, CacheStatus::StaleRevalidating),
            Lookup::Fallback(stale) => {
                settle(self.fill(generation, target, request_id, answer).outcome().await, Some(stale))?
            }
            Lookup::Miss => settle(self.fill(generation, target, request_id, answer).outcome().await, None)?,
        };
        if status == CacheStatus::StaleRevalidating {
            // Joining a refresh already under way starts nothing: one per key.
            drop(self.fill(generation, target, request_id, Want::Refresh));
        }
        Ok((entry, status))
    }

    /// Joins the flight for `target`, or starts its fill.
    fn fill(
        &self,
        generation: &Generation,
        target: &Target,
        request_id: &HeaderValue,
        want: Want,
    ) -> Ticket<FillError> {
        self.flights.join(target.key.text(), || {
            let settings = &generation.settings;
            let ttl = generation.ttl(target.route.ttl);
            let client = match want {
                Want::Answer(client) => Some(client.clone()),
                Want::Refresh => None,
            };
            let fill = Fill {
                key: target.key.clone(),
                call: Call {
                    api: match target.route.shape {
                        Shape::V2(_) | Shape::V2Lookup { .. } => Api::V2,
                        Shape::Fixed(_) | Shape::Item { .. } => Api::Rest,
                        Shape::GraphQl { .. } => Api::GraphQl,
                    },
                    path: target.upstream.clone(),
                    body: target.body.clone(),
                },
                client,
                route: target.route.name,
                request_id: request_id.clone(),
                upstream: generation.upstream.clone(),
                recipe: Recipe {
                    status: http::StatusCode::OK,
                    ttl,
                    retain: settings.cache.retain_for(ttl),
                    compression: settings.compression,
                },
                settings: settings.cache.clone(),
                cache: self.cache.clone(),
                timeout: settings.upstream.timeout,
            };
            let shared = self.shared.clone();
            async move {
                match shared {
                    Some(shared) => fill.through(&shared).await,
                    None => fill.call(None).await,
                }
            }
        })
    }
}

/// The answer a request gives from its flight's outcome: stale is served instead of an
/// error only here, and only for an upstream fault (`stale_if_error`): the request's
/// own entry if it had one, else the shared tier's. A request that had a stale entry of
/// its own reports a successful fill as that entry refetched.
fn settle(
    outcome: Result<(Arc<Entry>, CacheStatus), FillError>,
    own_stale: Option<Arc<Entry>>,
) -> Result<(Arc<Entry>, CacheStatus), GatewayError> {
    match (outcome, own_stale) {
        (Ok((entry, status)), None) => Ok((entry, status)),
        (Ok((entry, status)), Some(_)) => Ok((entry, status.refetched())),
        (Err(failed), own) => match own.or(failed.stale) {
            Some(stale) => Ok((stale, CacheStatus::StaleUpstreamError)),
            None => Err(failed.error.into()),
        },
    }
}

/// One fill: everything it needs, owned, since it runs in the flight's own task.
struct Fill {
    /// The cache key.
    key: CacheKey,
    /// What is asked of AppSignal: a GET path, or a V2 path and canonical body.
    call: Call,
    /// Whose share of the upstream budget the call spends: the client whose request
    /// started it, or `None` for a background refresh (which no request waits for).
    client: Option<ClientId>,
    /// For the failure's log line, with the id of the request that started the flight.
    route: &'static str,
    request_id: HeaderValue,
    upstream: Upstream,
    /// What AppSignal's 200 becomes.
    recipe: Recipe,
    /// The stale windows this replica judges by.
    settings: CacheSettings,
    cache: Arc<ResponseCache>,
    /// `upstream.timeout`: how long a lock is held and a wait may last.
    timeout: Duration,
}

/// The states of a fill through the shared tier (see the module doc).
enum State {
    /// Ask the shared tier for the key's entry.
    SharedRead,
    /// Take the fleet's lock for the key; the app's purge epoch as last read.
    Lock(u64),
    /// Another replica holds the lock: wait for its entry.
    Wait,
    /// Call AppSignal, holding the fleet's lock or alone.
    Call(Option<Held>),
}

/// What a state leads to.
enum Step {
    Next(State),
    Land(Arc<Entry>, CacheStatus),
}

/// The fleet's lock for a key, held by this fill, and the purge epoch its store carries.
struct Held {
    lock: Lock,
    epoch: u64,
}

/// What a second look at the shared tier found.
enum Reread {
    /// A fresh entry.
    Fresh(Arc<Entry>),
    /// Nothing fresh; the app's purge epoch.
    Empty(u64),
    /// Redis failed.
    Failed,
}

impl Fill {
    /// Runs the fill through the shared tier, state by state.
    async fn through(self, shared: &Arc<Shared>) -> Result<Landed, FillError> {
        let deadline = Instant::now() + self.timeout;
        let mut stale = None;
        let mut state = State::SharedRead;
        loop {
            let step = match state {
                State::SharedRead => self.shared_read(shared, &mut stale).await,
                State::Lock(epoch) => self.lock(shared, epoch).await,
                State::Wait => self.wait(shared, deadline).await,
                State::Call(held) => {
                    let result = self.call(held.map(|held| (shared.clone(), held))).await;
                    return result.map_err(|failed| FillError { stale, ..failed });
                }
            };
            match step {
                Step::Next(next) => state = next,
                Step::Land(entry, status) => return Ok(self.cache.land(&self.key, entry, status)),
            }
        }
    }

    /// The shared tier's entry, judged once by this replica's windows.
    async fn shared_read(&self, shared: &Shared, stale: &mut Option<Arc<Entry>>) -> Step {
        let now = Instant::now();
        let Ok(read) = shared.read(self.key.as_str(), now).await else {
            return Step::Next(State::Call(None));
        };
        let epoch = read.epoch;
        let Some(entry) = read.entry else { return Step::Next(State::Lock(epoch)) };
        match judge(Arc::new(entry), now, &self.settings) {
            Lookup::Fresh(entry) => return Step::Land(entry, CacheStatus::SharedHit),
            // Requests wait on a fill with a client; a background refresh has none.
            Lookup::Revalidate(entry) if self.client.is_some() => {
                return Step::Land(entry, CacheStatus::StaleRevalidating)
            }
            // Good only if AppSignal fails; a refresh already has this replica's own.
            Lookup::Revalidate(entry) | Lookup::Fallback(entry) => *stale = Some(entry),
            // Past this replica's windows (another replica's are longer): no entry.
            Lookup::Miss => {}
        }
        Step::Next(State::Lock(epoch))
    }

    /// Takes the fleet's lock, or waits for whoever holds it.
    async fn lock(&self, shared: &Arc<Shared>, epoch: u64) -> Step {
        match shared.lock(self.key.as_str(), self.timeout).await {
            Err(_) => Step::Next(State::Call(None)),
            Ok(None) => Step::Next(State::Wait),
            // Another replica may have stored and let go between the read and the lock.
            Ok(Some(lock)) => match reread(shared, self.key.as_str()).await {
                Reread::Fresh(entry) => {
                    let shared = shared.clone();
                    tokio::spawn(async move { shared.unlock(lock).await });
                    Step::Land(entry, CacheStatus::MissCollapsed)
                }
                Reread::Empty(epoch) => Step::Next(State::Call(Some(Held { lock, epoch }))),
                Reread::Failed => Step::Next(State::Call(Some(Held { lock, epoch }))),
            },
        }
    }

    /// Polls, with growing pauses, for the entry another replica is fetching, until it
    /// appears, its lock is gone, or `deadline` passes.
    async fn wait(&self, shared: &Shared, deadline: Instant) -> Step {
        let mut pause = POLL_FIRST;
        let (outcome, step) = loop {
            if Instant::now() + pause >= deadline {
                break (LockWait::GaveUp, Step::Next(State::Call(None)));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
            match reread(shared, self.key.as_str()).await {
                Reread::Fresh(entry) => {
                    break (LockWait::Filled, Step::Land(entry, CacheStatus::MissCollapsed))
                }
                Reread::Failed => break (LockWait::GaveUp, Step::Next(State::Call(None))),
                Reread::Empty(_) => {}
            }
            match shared.locked(self.key.as_str()).await {
                Ok(true) => continue,
                Err(_) => break (LockWait::GaveUp, Step::Next(State::Call(None))),
                // The holder may have stored and let go between the read and now.
                Ok(false) => match reread(shared, self.key.as_str()).await {
                    Reread::Fresh(entry) => {
                        break (LockWait::Filled, Step::Land(entry, CacheStatus::MissCollapsed))
                    }
                    Reread::Empty(epoch) => break (LockWait::TookOver, Step::Next(State::Lock(epoch))),
                    Reread::Failed => break (LockWait::GaveUp, Step::Next(State::Call(None))),
                },
            }
        };
        shared.metrics().shared.lock_wait(outcome);
        step
    }

    /// Calls AppSignal and lands its answer. Holding the fleet's lock, stores the entry
    /// for the fleet and lets go of the lock, in the background so the answer does not
    /// wait for Redis.
    async fn call(self, held: Option<(Arc<Shared>, Held)>) -> Result<Landed, FillError> {
        let fetched = self.fetch().await;
        if let Some((shared, Held { lock, epoch })) = held {
            let stored = fetched.as_ref().ok().filter(|e| !e.ttl.is_zero()).cloned();
            let key = self.key.clone();
            tokio::spawn(async move {
                match stored {
                    Some(entry) => shared.store(key.as_str(), &entry, epoch, lock).await,
                    None => shared.unlock(lock).await,
                }
            });
        }
        match fetched {
            Ok(entry) => {
                let status = match entry.ttl.is_zero() {
                    true => CacheStatus::MissNotStored,
                    false => CacheStatus::MissStored,
                };
                Ok(self.cache.land(&self.key, entry, status))
            }
            Err(error) => {
                let request_id = self.request_id.to_str().unwrap_or("-");
                tracing::warn!(request_id, route = self.route, error = %error, "upstream call failed");
                Err(FillError { error, stale: None })
            }
        }
    }

    /// AppSignal's answer as an entry: its 200, or its 404 as the gateway's own error.
    async fn fetch(&self) -> Result<Arc<Entry>, UpstreamError> {
        let (recipe, body) = match self.upstream.fetch(&self.call, self.client.as_ref()).await? {
            Fetched::Found(body) => (self.recipe, body),
            // GraphQL `errors` beside `data`: relayed as it came, never stored (`no-store`).
            Fetched::Partial(body) => {
                (Recipe { ttl: Duration::ZERO, retain: Duration::ZERO, ..self.recipe }, body)
            }
            // The same body gets the same verdict: kept as long as a 404.
            Fetched::Rejected(envelope) => {
                let ttl = self.settings.ttl.not_found;
                let recipe = Recipe {
                    status: http::StatusCode::UNPROCESSABLE_ENTITY,
                    ttl,
                    retain: self.settings.retain_for(ttl),
                    ..self.recipe
                };
                (recipe, rejected(&envelope, self.upstream.token()).body())
            }
            Fetched::NotFound => {
                let ttl = self.settings.ttl.not_found;
                let recipe = Recipe {
                    status: http::StatusCode::NOT_FOUND,
                    ttl,
                    retain: self.settings.retain_for(ttl),
                    ..self.recipe
                };
                (recipe, GatewayError::UpstreamNotFound.body())
            }
        };
        match build::entry_off_thread(recipe, body).await {
            Some(entry) => Ok(Arc::new(entry)),
            None => Err(UpstreamError::Broken("compressing the answer failed".into())),
        }
    }
}

/// The shared tier's entry for `key` if it is fresh now: the second look taken after
/// the lock is won and after a holder lets go.
async fn reread(shared: &Shared, key: &str) -> Reread {
    let now = Instant::now();
    match shared.read(key, now).await {
        Err(_) => Reread::Failed,
        Ok(read) => match read.entry.filter(|e| !e.ttl_left(now).is_zero()) {
            Some(entry) => Reread::Fresh(Arc::new(entry)),
            None => Reread::Empty(read.epoch),
        },
    }
}

/// AppSignal's 422 envelope (`{"error": slug, "message": …}`) as the gateway's error: the
/// slug only if it is an identifier, the message scrubbed of the token before it is
/// shortened, so no cut can leave part of the token behind.
fn rejected(envelope: &[u8], token: &crate::config::Token) -> GatewayError {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Option<String>,
        message: Option<String>,
    }
    let parsed = serde_json::from_slice::<Envelope>(envelope).ok();
    let (slug, message) = parsed.map(|e| (e.error, e.message)).unwrap_or_default();
    let slug = slug
        .filter(|s| {
            !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .unwrap_or_else(|| "unknown".into());
    let message = message.map(|m| token.scrub(&m).chars().take(512).collect::<String>());
    let message = message.unwrap_or_else(|| "AppSignal refused the query".into());
    GatewayError::AppSignalRejected { slug, message }
}
