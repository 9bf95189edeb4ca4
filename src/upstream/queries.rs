//! The bound on queries in flight, and each query API's own back-off.
//!
//! AppSignal caps concurrent queries per account (V2 and GraphQL alike) and answers 429
//! past it, so the gateway keeps at most `upstream.max_concurrent_queries` queries in
//! flight; the rest wait for a slot, at most `upstream.timeout` in all, then fail as
//! [`UpstreamError::Busy`] (stale, or 503 + `Retry-After`). Coalescing happens before
//! this, so N identical queries take one slot. A 429 on a query backs off that API only
//! ([`QueryApi`]): the other query API and the v1 routes go on.
//!
//! With a fleet (`shared`), the bound is the fleet's: a query first takes one of this
//! replica's `max` local slots (so at most `max` of its queries ask Redis at once), then
//! one of the fleet's leases ([`FleetLeases`]), asking again as leases end. When Redis
//! cannot be asked, it keeps within this replica's share instead: `max` divided by the
//! replicas alive at the last heartbeat (at least one), counting every query this
//! replica has in flight however it got its slot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, SemaphorePermit};

use super::{FleetBudget, Lease, UpstreamError};
use crate::metrics::QueryMetrics;

/// How long a client is told to wait after a query found no slot.
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// The longest pause between two asks for a fleet lease (a lease given back elsewhere
/// is seen within this).
const LEASE_POLL: Duration = Duration::from_millis(50);
/// How much longer than `upstream.timeout` a lease lives, so it outlasts its exchange.
const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// Which of AppSignal's query APIs a query is for: the slots are shared, each backs off
/// on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryApi {
    /// The Public API V2 (`/api/v2/...`).
    V2,
    /// The GraphQL API (`/graphql`).
    Graphql,
}

impl QueryApi {
    /// Every query API, in [`QueryApi::index`] order.
    pub const ALL: [QueryApi; 2] = [QueryApi::V2, QueryApi::Graphql];

    /// The API's name as a metric label.
    pub fn label(self) -> &'static str {
        crate::metrics::QUERY_APIS[self.index()]
    }

    /// The API's place in [`QueryApi::ALL`], for per-API arrays.
    pub fn index(self) -> usize {
        match self {
            QueryApi::V2 => 0,
            QueryApi::Graphql => 1,
        }
    }
}

/// The query slots, the fleet's leases and each API's back-off.
#[derive(Debug)]
pub(super) struct Queries {
    /// `upstream.max_concurrent_queries`.
    max: usize,
    /// `max` local permits: the whole bound without a fleet, the most of this replica's
    /// queries that ask the fleet at once with one.
    slots: Semaphore,
    /// The fleet's leases, when replicas share the bound.
    fleet: Option<Arc<dyn FleetBudget>>,
    /// How long a fleet lease lives: `upstream.timeout` and a margin.
    lease_life: Duration,
    /// Queries of this replica in flight now, by lease or by share: what the share is
    /// checked against while Redis cannot be asked.
    in_flight: AtomicUsize,
    /// Woken whenever a query here ends.
    ended: Notify,
    /// Per [`QueryApi`]: no query before this instant (AppSignal's last 429 said so).
    backing_off: [Mutex<Option<Instant>>; 2],
}

/// A slot held while one query is in flight; counted out (and its lease given back)
/// when dropped.
pub(super) struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
    /// The fleet lease's token, when the slot is one.
    lease: Option<String>,
    queries: &'a Queries,
    metrics: &'a QueryMetrics,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight(-1);
        self.queries.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.queries.ended.notify_waiters();
        if let (Some(token), Some(fleet)) = (self.lease.take(), &self.queries.fleet) {
            // Given back in the background; were it lost, the lease ends with its life.
            let fleet = fleet.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { fleet.release(token).await });
            }
        }
    }
}

/// How a slot was got.
enum Got {
    Lease(String),
    Share,
}

impl Queries {
    /// `max` queries in flight at once, from the whole fleet when there is one; a
    /// fleet lease lives `timeout` (and a margin).
    pub fn new(max: usize, timeout: Duration, fleet: Option<Arc<dyn FleetBudget>>) -> Self {
        Queries {
            max,
            slots: Semaphore::new(max),
            fleet,
            lease_life: timeout + LEASE_MARGIN,
            in_flight: AtomicUsize::new(0),
            ended: Notify::new(),
            backing_off: Default::default(),
        }
    }

    /// A slot for a query to `api`, waiting at most `wait` in all; refused at once while
    /// `api` is backing off.
    pub async fn slot<'a>(
        &'a self,
        api: QueryApi,
        wait: Duration,
        metrics: &'a QueryMetrics,
    ) -> Result<Slot<'a>, UpstreamError> {
        if let Some(left) = self.backing_off(api) {
            return Err(UpstreamError::Throttled(left));
        }
        metrics.waiting(1);
        let acquired = tokio::time::timeout(wait, async {
            let permit = self.slots.acquire().await.ok()?;
            let got = match &self.fleet {
                Some(fleet) => self.fleet_slot(fleet.as_ref()).await,
                None => {
                    self.in_flight.fetch_add(1, Ordering::AcqRel);
                    Got::Share
                }
            };
            Some((permit, got))
        })
        .await;
        metrics.waiting(-1);
        match acquired {
            Ok(Some((permit, got))) => {
                metrics.in_flight(1);
                let lease = match got {
                    Got::Lease(token) => Some(token),
                    Got::Share => None,
                };
                Ok(Slot { _permit: permit, lease, queries: self, metrics })
            }
            Ok(None) | Err(_) => {
                metrics.timed_out();
                Err(UpstreamError::Busy(BUSY_RETRY))
            }
        }
    }

    /// Asks the fleet for a lease until one is free, or, while the fleet cannot be
    /// asked, waits until this replica is within its share. Counted in `in_flight`
    /// either way. Cancelled by the caller's deadline.
    async fn fleet_slot(&self, fleet: &dyn FleetBudget) -> Got {
        let max = u32::try_from(self.max).unwrap_or(u32::MAX);
        loop {
            let ended = self.ended.notified();
            let pause = match fleet.lease(max, self.lease_life).await {
                Some(Lease::Held(token)) => {
                    self.in_flight.fetch_add(1, Ordering::AcqRel);
                    return Got::Lease(token);
                }
                Some(Lease::Full(first_ends)) => first_ends.min(LEASE_POLL),
                None => {
                    let share = (self.max / fleet.members().max(1) as usize).max(1);
                    let taken = self
                        .in_flight
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < share).then_some(n + 1));
                    if taken.is_ok() {
                        return Got::Share;
                    }
                    LEASE_POLL
                }
            };
            // A query here ending frees a local share at once; another replica's lease
            // is seen at the next ask.
            tokio::select! {
                () = ended => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Backs `api` off for `wait` after AppSignal's 429 on one of its queries.
    pub fn back_off(&self, api: QueryApi, wait: Duration, metrics: &QueryMetrics) {
        metrics.backed_off(api.label());
        let until = Instant::now() + wait;
        let mut slot = self.backing_off[api.index()].lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(slot.map_or(until, |t| t.max(until)));
    }

    fn backing_off(&self, api: QueryApi) -> Option<Duration> {
        let until = (*self.backing_off[api.index()].lock().unwrap_or_else(|e| e.into_inner()))?;
        until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[tokio::test]
    async fn slots_bound_both_apis_together() {
        let metrics = Metrics::new();
        let queries = Queries::new(1, Duration::from_secs(1), None);
        let wait = Duration::from_millis(10);
        let held = queries.slot(QueryApi::V2, wait, &metrics.queries).await.unwrap();
        let waited = queries.slot(QueryApi::Graphql, wait, &metrics.queries).await;
        assert!(matches!(waited, Err(UpstreamError::Busy(_))));
        drop(held);
        assert!(queries.slot(QueryApi::Graphql, wait, &metrics.queries).await.is_ok());
    }

    #[tokio::test]
    async fn a_429_backs_off_that_api_only() {
        let metrics = Metrics::new();
        let queries = Queries::new(2, Duration::from_secs(1), None);
        let wait = Duration::from_millis(10);
        for (throttled, other) in [(QueryApi::V2, QueryApi::Graphql), (QueryApi::Graphql, QueryApi::V2)] {
            let queries = Queries::new(2, Duration::from_secs(1), None);
            queries.back_off(throttled, Duration::from_secs(5), &metrics.queries);
            let refused = queries.slot(throttled, wait, &metrics.queries).await;
            assert!(matches!(refused, Err(UpstreamError::Throttled(left)) if left > Duration::from_secs(4)));
            assert!(queries.slot(other, wait, &metrics.queries).await.is_ok(), "{other:?} goes on");
        }
        // A shorter Retry-After never shortens a back-off already running.
        queries.back_off(QueryApi::V2, Duration::from_secs(5), &metrics.queries);
        queries.back_off(QueryApi::V2, Duration::from_millis(1), &metrics.queries);
        assert!(queries.backing_off(QueryApi::V2).is_some_and(|left| left > Duration::from_secs(4)));
        let text = metrics.encode(0, 0);
        assert!(text.contains(r#"query_back_offs_total{api="v2"} 3"#), "{text}");
        assert!(text.contains(r#"query_back_offs_total{api="graphql"} 1"#), "{text}");
        assert_eq!(QueryApi::ALL.map(QueryApi::label), ["v2", "graphql"]);
    }

    /// A fleet whose Redis cannot be asked, of `members` replicas.
    #[derive(Debug)]
    struct Unreachable {
        members: u32,
    }

    impl super::super::FleetLeases for Unreachable {
        fn lease(&self, _: u32, _: Duration) -> super::super::BoxFuture<'_, Option<Lease>> {
            Box::pin(async { None })
        }

        fn release(&self, _: String) -> super::super::BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    impl FleetBudget for Unreachable {
        fn spend(&self, _: crate::config::Rate) -> super::super::BoxFuture<'_, Option<super::super::Budget>> {
            Box::pin(async { None })
        }

        fn back_off(&self, _: Duration) -> super::super::BoxFuture<'_, ()> {
            Box::pin(async {})
        }

        fn members(&self) -> u32 {
            self.members
        }

        fn decided_alone(&self) {}
    }

    #[tokio::test]
    async fn without_redis_a_replica_keeps_within_its_share() {
        let metrics = Metrics::new();
        let wait = Duration::from_millis(30);
        // 5 slots over 2 replicas: 2 each; 2 over 3: still 1 each, never none.
        for (max, members, share) in [(5, 2, 2), (2, 3, 1)] {
            let fleet: Arc<dyn FleetBudget> = Arc::new(Unreachable { members });
            let queries = Queries::new(max, Duration::from_secs(1), Some(fleet));
            let mut held = Vec::new();
            for _ in 0..share {
                held.push(queries.slot(QueryApi::V2, wait, &metrics.queries).await.unwrap());
            }
            let over = queries.slot(QueryApi::Graphql, wait, &metrics.queries).await;
            assert!(matches!(over, Err(UpstreamError::Busy(_))), "{max} over {members}: share {share}");
            // A query ending frees its share at once for one that waits.
            let waiting = queries.slot(QueryApi::V2, Duration::from_secs(5), &metrics.queries);
            let ended = async {
                tokio::task::yield_now().await;
                held.pop();
            };
            let (got, ()) = tokio::join!(waiting, ended);
            assert!(got.is_ok());
        }
    }
}
