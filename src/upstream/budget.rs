//! The fleet's view of the upstream budget: what the upstream client asks before a
//! call when replicas share one budget. Implemented by the shared tier; declared here
//! so the client does not depend on it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::FleetLeases;
use crate::config::Rate;

/// What the fleet's budget says about one upstream call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Call.
    Allowed,
    /// Spent: the next call fits after this long.
    Spent(Duration),
    /// A replica saw AppSignal's 429: back off this long.
    BackingOff(Duration),
}

/// A future the fleet's budget answers with.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A budget (and query leases) shared by the replicas of a fleet.
pub trait FleetBudget: FleetLeases {
    /// Asks for one call at `rate`; `None` when the fleet cannot be asked (the caller
    /// then spends its share of the budget alone).
    fn spend(&self, rate: Rate) -> BoxFuture<'_, Option<Budget>>;

    /// Tells the fleet to make no call for `wait`.
    fn back_off(&self, wait: Duration) -> BoxFuture<'_, ()>;

    /// Replicas alive at the last count: the budget's (and the query bound's) divisor
    /// when deciding alone.
    fn members(&self) -> u32;

    /// Counts a decision made alone.
    fn decided_alone(&self);
}
