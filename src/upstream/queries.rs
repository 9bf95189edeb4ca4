//! The bound on queries in flight, and each query API's own back-off.
//!
//! AppSignal caps concurrent queries per account (V2 and GraphQL alike) and answers 429
//! past it, so the gateway keeps at most `upstream.max_concurrent_queries` queries in
//! flight; the rest wait for a slot, at most `upstream.timeout`, then fail as
//! [`UpstreamError::Busy`] (stale, or 503 + `Retry-After`). Coalescing happens before
//! this, so N identical queries take one slot. A 429 on a query backs off that API only
//! ([`QueryApi`]): the other query API and the v1 routes go on.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::UpstreamError;
use crate::metrics::QueryMetrics;

/// How long a client is told to wait after a query found no slot.
const BUSY_RETRY: Duration = Duration::from_secs(1);

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

/// The query slots and each API's back-off.
#[derive(Debug)]
pub(super) struct Queries {
    /// `upstream.max_concurrent_queries` permits.
    slots: Semaphore,
    /// Per [`QueryApi`]: no query before this instant (AppSignal's last 429 said so).
    backing_off: [Mutex<Option<Instant>>; 2],
}

/// A slot held while one query is in flight; counted out when dropped.
pub(super) struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
    metrics: &'a QueryMetrics,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight(-1);
    }
}

impl Queries {
    /// `max` queries in flight at once.
    pub fn new(max: usize) -> Self {
        Queries { slots: Semaphore::new(max), backing_off: Default::default() }
    }

    /// A slot for a query to `api`, waiting at most `wait`; refused at once while `api`
    /// is backing off.
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
        let acquired = tokio::time::timeout(wait, self.slots.acquire()).await;
        metrics.waiting(-1);
        match acquired {
            Ok(Ok(permit)) => {
                metrics.in_flight(1);
                Ok(Slot { _permit: permit, metrics })
            }
            Ok(Err(_)) | Err(_) => {
                metrics.timed_out();
                Err(UpstreamError::Busy(BUSY_RETRY))
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
        let queries = Queries::new(1);
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
        let queries = Queries::new(2);
        let wait = Duration::from_millis(10);
        for (throttled, other) in [(QueryApi::V2, QueryApi::Graphql), (QueryApi::Graphql, QueryApi::V2)] {
            let queries = Queries::new(2);
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
}
