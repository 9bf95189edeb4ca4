//! The fleet's query leases: what the upstream client asks before a V2 or GraphQL query
//! when replicas share one `upstream.max_concurrent_queries`. Implemented by the shared
//! tier; declared here so the client does not depend on it.

use std::time::Duration;

use super::BoxFuture;

/// What the fleet said to a request for a query lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// Held until given back or until its life ends: the random token naming it.
    Held(String),
    /// Every lease is held; the first of them ends by itself after this long.
    Full(Duration),
}

/// Query leases shared by the replicas of a fleet.
pub trait FleetLeases: std::fmt::Debug + Send + Sync {
    /// Asks for one of `max` leases, living `life` unless given back first; `None` when
    /// the fleet cannot be asked (the caller then keeps within its share alone).
    fn lease(&self, max: u32, life: Duration) -> BoxFuture<'_, Option<Lease>>;

    /// Gives the lease named `token` back.
    fn release(&self, token: String) -> BoxFuture<'_, ()>;
}
