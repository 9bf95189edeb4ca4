//! The fleet's query leases: at most `upstream.max_concurrent_queries` V2 and GraphQL
//! queries in flight across every replica sharing this Redis.
//!
//! A lease is a random token in one sorted set, scored by when it ends (Redis's clock):
//! taken by [`scripts::LEASE`] only while fewer than the bound are held, given back by
//! `ZREM` when the query ends, and dropped by the next taker once its life is over, so
//! a replica that died holding leases holds them at most one life. Any Redis failure
//! answers `None`: the caller then keeps within its share of the bound alone.

use std::time::Duration;

use super::{random_token, scripts, Shared};
use crate::upstream::{BoxFuture, FleetLeases, Lease};

impl Shared {
    async fn take_lease(&self, max: u32, life: Duration) -> Option<Lease> {
        let token = random_token();
        let mut invocation = scripts::LEASE.key(self.keys.queries());
        invocation.arg(&token).arg(max).arg(life.as_millis().max(1) as u64);
        let result: Result<(i64, u64), _> = self.link.script(&invocation).await;
        match result {
            Ok((1, _)) => Some(Lease::Held(token)),
            Ok((_, wait_ms)) => Some(Lease::Full(Duration::from_millis(wait_ms))),
            Err(_) => {
                self.metrics.shared.fallback();
                None
            }
        }
    }

    async fn give_back(&self, token: String) {
        let _: Result<i64, _> = self.link.query(redis::cmd("ZREM").arg(self.keys.queries()).arg(token)).await;
    }
}

impl FleetLeases for Shared {
    fn lease(&self, max: u32, life: Duration) -> BoxFuture<'_, Option<Lease>> {
        Box::pin(self.take_lease(max, life))
    }

    fn release(&self, token: String) -> BoxFuture<'_, ()> {
        Box::pin(self.give_back(token))
    }
}
