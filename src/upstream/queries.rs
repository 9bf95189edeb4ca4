//! The bound on V2 queries in flight, and V2's own back-off.
//!
//! AppSignal caps concurrent queries per account and answers 429 past it, so the gateway
//! keeps at most `upstream.max_concurrent_queries` V2 queries in flight; the rest wait for a
//! slot, at most `upstream.timeout`, then fail as [`UpstreamError::Busy`] (stale, or 503 +
//! `Retry-After`). Coalescing happens before this, so N identical queries take one slot.
//! A 429 on a V2 query backs off V2 only: the v1 routes are another API and go on.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::UpstreamError;
use crate::metrics::QueryMetrics;

/// How long a client is told to wait after a query found no slot.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// The query slots and V2's back-off.
#[derive(Debug)]
pub(super) struct Queries {
    /// `upstream.max_concurrent_queries` permits.
    slots: Semaphore,
    /// No V2 query before this instant (AppSignal's last 429 said so).
    backing_off: Mutex<Option<Instant>>,
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
        Queries { slots: Semaphore::new(max), backing_off: Mutex::new(None) }
    }

    /// A slot, waiting at most `wait`; refused at once while V2 is backing off.
    pub async fn slot<'a>(
        &'a self,
        wait: Duration,
        metrics: &'a QueryMetrics,
    ) -> Result<Slot<'a>, UpstreamError> {
        if let Some(left) = self.backing_off() {
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

    /// Backs V2 off for `wait` after AppSignal's 429.
    pub fn back_off(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut slot = self.backing_off.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(slot.map_or(until, |t| t.max(until)));
    }

    fn backing_off(&self) -> Option<Duration> {
        let until = (*self.backing_off.lock().unwrap_or_else(|e| e.into_inner()))?;
        until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[tokio::test]
    async fn slots_bound_and_back_off() {
        let metrics = Metrics::new();
        let queries = Queries::new(1);
        let held = queries.slot(Duration::from_millis(10), &metrics.queries).await.unwrap();
        let waited = queries.slot(Duration::from_millis(10), &metrics.queries).await;
        assert!(matches!(waited, Err(UpstreamError::Busy(_))));
        drop(held);
        assert!(queries.slot(Duration::from_millis(10), &metrics.queries).await.is_ok());
        queries.back_off(Duration::from_secs(5));
        let refused = queries.slot(Duration::from_millis(10), &metrics.queries).await;
        assert!(matches!(refused, Err(UpstreamError::Throttled(_))));
    }
}
