//! From a validated target to its cached entry: lookup, stale serving, single-flight.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, StatusCode};

use super::generation::Generation;
use super::Gateway;
use crate::cache::{CacheStatus, Entry, Lookup, Role, Ticket};
use crate::error::GatewayError;
use crate::route::Target;
use crate::upstream::{Fetched, UpstreamError};

/// Bodies at least this large are compressed on the blocking pool; smaller ones take
/// well under a millisecond and are compressed in place.
const BLOCKING_COMPRESSION: usize = 64 * 1024;

impl Gateway {
    /// The entry answering `target`: from the cache, or from AppSignal through the
    /// single-flight, falling back to a stale entry when AppSignal fails.
    pub(super) async fn lookup_or_fetch(
        &self,
        generation: &Generation,
        target: &Target,
        now: Instant,
        request_id: &HeaderValue,
    ) -> Result<(Arc<Entry>, CacheStatus), GatewayError> {
        match self.cache.lookup(&target.upstream, now, &generation.settings.cache) {
            Lookup::Fresh(entry) => Ok((entry, CacheStatus::Hit)),
            Lookup::Revalidate(entry) => {
                // Joining a refresh already under way starts nothing: one per key.
                drop(self.join_flight(generation, target, request_id));
                Ok((entry, CacheStatus::StaleRevalidating))
            }
            Lookup::Fallback(stale) => match self.join_flight(generation, target, request_id).outcome().await
            {
                Ok(entry) => Ok((entry, CacheStatus::StaleStored)),
                Err(_) => Ok((stale, CacheStatus::StaleUpstreamError)),
            },
            Lookup::Miss => {
                let ticket = self.join_flight(generation, target, request_id);
                let role = ticket.role;
                let entry = ticket.outcome().await?;
                let status = match (role, entry.ttl.is_zero()) {
                    (Role::Follower, _) => CacheStatus::MissCollapsed,
                    (Role::Leader, false) => CacheStatus::MissStored,
                    (Role::Leader, true) => CacheStatus::MissNotStored,
                };
                Ok((entry, status))
            }
        }
    }

    /// Joins or starts the upstream call for `target`, which stores what it gets. A
    /// failure is logged with the id of the request that started the call.
    fn join_flight(&self, generation: &Generation, target: &Target, request_id: &HeaderValue) -> Ticket {
        let request_id = request_id.clone();
        let key = target.upstream.clone();
        let upstream = generation.upstream.clone();
        let cache = self.cache.clone();
        let cache_settings = generation.settings.cache.clone();
        let ttl = generation.ttl(target.route.ttl);
        let compression = generation.settings.compression;
        let compress_from = compression.enabled.then_some(compression.min_size);
        let route = target.route.name;
        self.cache.flights().join(&key.clone(), move || async move {
            let (status, body, ttl) = match upstream.fetch(&key).await {
                Ok(Fetched::Found(body)) => (StatusCode::OK, body, ttl),
                Ok(Fetched::NotFound) => (
                    StatusCode::NOT_FOUND,
                    GatewayError::UpstreamNotFound.body(),
                    cache_settings.ttl.not_found,
                ),
                Err(error) => {
                    let request_id = request_id.to_str().unwrap_or("-");
                    tracing::warn!(request_id, route, error = %error, "upstream call failed");
                    return Err(error);
                }
            };
            let retain = cache_settings.retain_for(ttl);
            let entry = if compress_from.is_some_and(|min| body.len() as u64 >= min)
                && body.len() >= BLOCKING_COMPRESSION
            {
                // Compressing a large body takes milliseconds: keep it off the async workers.
                let build = move || Entry::new(status, body, ttl, retain, compress_from);
                tokio::task::spawn_blocking(build)
                    .await
                    .map_err(|_| UpstreamError::Broken("compressing the answer failed".into()))?
            } else {
                Entry::new(status, body, ttl, retain, compress_from)
            };
            let entry = Arc::new(entry);
            if !ttl.is_zero() {
                cache.store(key, entry.clone());
            }
            Ok(entry)
        })
    }
}
