//! The gateway's own restraint towards AppSignal: a back-off after a 429, a call
//! budget, and a cap on calls in flight. Checked before every call, so cache hits and
//! stale answers, which make no call, never spend any of it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::UpstreamError;
use crate::config::{Rate, UpstreamSettings};
use crate::limit::{quota, ClientId, ClientLimiter};

/// Shared by every clone of the upstream client.
#[derive(Debug)]
pub struct Guard {
    /// `upstream.rate_limit`.
    budget: DefaultDirectRateLimiter,
    /// The budget itself, for shares of it.
    rate: Rate,
    /// This replica's share of the fleet's budget, used while the shared tier is
    /// unavailable: the budget divided by the replicas last seen alive.
    share: ArcSwap<Share>,
    /// The budget's clock, for wait times.
    clock: DefaultClock,
    /// No call before this instant: AppSignal asked the gateway to back off.
    backoff_until: Mutex<Option<Instant>>,
    /// `limits.max_upstream_concurrency` permits.
    slots: Semaphore,
    /// Each client's share of the budget (`upstream.rate_limit.client_share`), so that
    /// one client's misses leave the rest of the budget to the others; `None` at 1.0.
    /// Idle clients are forgotten by [`Guard::housekeeping`], as the client limiter's.
    clients: Option<ClientLimiter>,
}

impl Guard {
    /// The guard for `settings`, allowing `concurrency` calls at once.
    pub fn new(settings: &UpstreamSettings, concurrency: usize) -> Self {
        let clock = DefaultClock::default();
        Guard {
            budget: RateLimiter::direct_with_clock(quota(settings.rate_limit), clock.clone()),
            rate: settings.rate_limit,
            share: ArcSwap::from_pointee(Share::new(settings.rate_limit, 1, &clock)),
            clock,
            backoff_until: Mutex::new(None),
            slots: Semaphore::new(concurrency),
            clients: (settings.client_share < 1.0)
                .then(|| ClientLimiter::share_of(settings.rate_limit, settings.client_share)),
        }
    }

    /// Refuses a call for `client` when it has spent its share of the budget. Checked
    /// before the whole budget, on top of it: with a fleet, the share is of the fleet's
    /// configured budget, kept by this replica.
    pub fn spend_client_share(&self, client: &ClientId) -> Result<(), UpstreamError> {
        match &self.clients {
            Some(clients) => {
                clients.check(client).map_err(|refusal| UpstreamError::BudgetSpent(refusal.retry_after))
            }
            None => Ok(()),
        }
    }

    /// Forgets clients whose share is whole again.
    pub fn housekeeping(&self) {
        if let Some(clients) = &self.clients {
            clients.housekeeping();
        }
    }

    /// Refuses a call during a back-off or when the budget is spent.
    pub fn spend_budget(&self) -> Result<(), UpstreamError> {
        if let Some(wait) = self.backing_off() {
            return Err(UpstreamError::Throttled(wait));
        }
        self.budget
            .check()
            .map_err(|not_until| UpstreamError::BudgetSpent(not_until.wait_time_from(self.clock.now())))
    }

    /// Like [`Guard::admit`], with the budget divided among `members` replicas: what a
    /// replica of a fleet spends while it cannot reach the fleet's shared budget.
    pub fn spend_replica_share(&self, members: u32) -> Result<(), UpstreamError> {
        if let Some(wait) = self.backing_off() {
            return Err(UpstreamError::Throttled(wait));
        }
        let mut share = self.share.load_full();
        if share.members != members {
            self.share.store(std::sync::Arc::new(Share::new(self.rate, members, &self.clock)));
            share = self.share.load_full();
        }
        share
            .limiter
            .check()
            .map_err(|not_until| UpstreamError::BudgetSpent(not_until.wait_time_from(self.clock.now())))
    }

    /// Waits for a free slot among the calls in flight.
    pub async fn slot(&self) -> SemaphorePermit<'_> {
        self.slots.acquire().await.expect("the semaphore is never closed")
    }

    /// Makes no call for `wait` from now (a longer back-off already set stands).
    pub fn back_off(&self, wait: Duration) {
        self.hold_off(wait);
        tracing::warn!(?wait, "AppSignal asked the gateway to back off");
    }

    /// Makes no call for `wait` from now, without a log line: the fleet's back-off,
    /// which the replica that saw the 429 logged.
    pub fn hold_off(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut current = self.backoff_until.lock().expect("back-off lock");
        if current.is_none_or(|c| c < until) {
            *current = Some(until);
        }
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

/// A replica's share of the budget when it must decide alone.
#[derive(Debug)]
struct Share {
    members: u32,
    limiter: DefaultDirectRateLimiter,
}

impl Share {
    fn new(rate: Rate, members: u32, clock: &DefaultClock) -> Self {
        let members = members.max(1);
        let period = Duration::from_secs_f64(f64::from(members) / f64::from(rate.per_second.get()));
        let burst =
            std::num::NonZeroU32::new(rate.burst.get() / members).unwrap_or(std::num::NonZeroU32::MIN);
        let quota = Quota::with_period(period).map_or_else(|| quota(rate), |q| q.allow_burst(burst));
        Share { members, limiter: RateLimiter::direct_with_clock(quota, clock.clone()) }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn a_replica_alone_spends_its_share_of_the_burst() {
        let rate = Rate { per_second: NonZeroU32::new(1).unwrap(), burst: NonZeroU32::new(6).unwrap() };
        let share = Share::new(rate, 3, &DefaultClock::default());
        assert!(share.limiter.check().is_ok());
        assert!(share.limiter.check().is_ok());
        assert!(share.limiter.check().is_err(), "a third of a burst of 6 is 2");
    }
}
