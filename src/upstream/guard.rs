//! The gateway's own restraint towards AppSignal: a back-off after a 429, a call
//! budget, and a cap on calls in flight. Checked before every call, so cache hits and
//! stale answers, which make no call, never spend any of it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::UpstreamError;
use crate::config::UpstreamSettings;
use crate::limit::quota;

/// Shared by every clone of the upstream client.
#[derive(Debug)]
pub struct Guard {
    /// `upstream.rate_limit`.
    budget: DefaultDirectRateLimiter,
    /// The budget's clock, for wait times.
    clock: DefaultClock,
    /// No call before this instant: AppSignal asked the gateway to back off.
    backoff_until: Mutex<Option<Instant>>,
    /// `limits.max_upstream_concurrency` permits.
    slots: Semaphore,
}

impl Guard {
    /// The guard for `settings`, allowing `concurrency` calls at once.
    pub fn new(settings: &UpstreamSettings, concurrency: usize) -> Self {
        let clock = DefaultClock::default();
        Guard {
            budget: RateLimiter::direct_with_clock(quota(settings.rate_limit), clock.clone()),
            clock,
            backoff_until: Mutex::new(None),
            slots: Semaphore::new(concurrency),
        }
    }

    /// Refuses a call during a back-off or when the budget is spent.
    pub fn admit(&self) -> Result<(), UpstreamError> {
        if let Some(wait) = self.backing_off() {
            return Err(UpstreamError::Throttled(wait));
        }
        self.budget
            .check()
            .map_err(|not_until| UpstreamError::BudgetSpent(not_until.wait_time_from(self.clock.now())))
    }

    /// Waits for a free slot among the calls in flight.
    pub async fn slot(&self) -> SemaphorePermit<'_> {
        self.slots.acquire().await.expect("the semaphore is never closed")
    }

    /// Makes no call for `wait` from now (a longer back-off already set stands).
    pub fn back_off(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut current = self.backoff_until.lock().expect("back-off lock");
        if current.is_none_or(|c| c < until) {
            *current = Some(until);
        }
        tracing::warn!(?wait, "AppSignal asked the gateway to back off");
    }

    /// The back-off time left, if one is in force.
    fn backing_off(&self) -> Option<Duration> {
        let mut current = self.backoff_until.lock().expect("back-off lock");
        let left = (*current)?.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
        if left.is_none() {
            *current = None;
        }
        left
    }
}
