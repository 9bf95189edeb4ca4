//! From a validated target to its cached entry: lookup, stale serving, single-flight.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use super::fleet::{self, Fill};
use super::generation::Generation;
use super::Gateway;
use crate::cache::{judge, CacheStatus, Entry, Landed, Lookup, ResponseCache, Role, Ticket, Via};
use crate::config::CacheSettings;
use crate::error::GatewayError;
use crate::limit::ClientId;
use crate::route::Target;
use crate::upstream::{Fetched, Upstream, UpstreamError};

/// Bodies at least this large are compressed on the blocking pool; smaller ones take
/// well under a millisecond and are compressed in place.
const BLOCKING_COMPRESSION: usize = 64 * 1024;

impl Gateway {
    /// The entry answering `target`: from this replica's cache, the shared tier, or
    /// AppSignal through the single-flight, falling back to a stale entry when AppSignal
    /// fails.
    pub(super) async fn lookup_or_fetch(
        &self,
        generation: &Generation,
        target: &Target,
        now: Instant,
        request_id: &HeaderValue,
        client: &ClientId,
    ) -> Result<(Arc<Entry>, CacheStatus), GatewayError> {
        match self.cache.lookup(&target.upstream, now, &generation.settings.cache) {
            Lookup::Fresh(entry) => Ok((entry, CacheStatus::Hit)),
            Lookup::Miss => self.miss(generation, target, now, request_id, client).await,
            Lookup::Revalidate(entry) => Ok(self.revalidate(generation, target, request_id, entry)),
            Lookup::Fallback(stale) => {
                Ok(self.fall_back(generation, target, request_id, stale, client).await)
            }
        }
    }

    /// Serves an expired entry at once; one refresh runs in the background.
    fn revalidate(
        &self,
        generation: &Generation,
        target: &Target,
        request_id: &HeaderValue,
        entry: Arc<Entry>,
    ) -> (Arc<Entry>, CacheStatus) {
        // Joining a refresh already under way starts nothing: one per key. The answer
        // was cached, so no client's share pays for the refresh.
        drop(self.join_flight(generation, target, request_id, Fill::Refresh, None));
        (entry, CacheStatus::StaleRevalidating)
    }

    /// Refetches an entry past its revalidation window, serving it if AppSignal fails.
    async fn fall_back(
        &self,
        generation: &Generation,
        target: &Target,
        request_id: &HeaderValue,
        stale: Arc<Entry>,
        client: &ClientId,
    ) -> (Arc<Entry>, CacheStatus) {
        let flight = self.join_flight(generation, target, request_id, Fill::Refresh, Some(client));
        match flight.outcome().await {
            Ok(landed) => (landed.entry, CacheStatus::StaleStored),
            Err(_) => (stale, CacheStatus::StaleUpstreamError),
        }
    }

    /// Nothing usable in this replica's cache: the shared tier or AppSignal.
    async fn miss(
        &self,
        generation: &Generation,
        target: &Target,
        now: Instant,
        request_id: &HeaderValue,
        client: &ClientId,
    ) -> Result<(Arc<Entry>, CacheStatus), GatewayError> {
        let ticket = self.join_flight(generation, target, request_id, Fill::Miss, Some(client));
        let role = ticket.role;
        let Landed { entry, via } = ticket.outcome().await?;
        let status = match (via, role) {
            (Via::Shared, _) => {
                return Ok(match judge(entry.clone(), now, &generation.settings.cache) {
                    Lookup::Fresh(entry) => (entry, CacheStatus::SharedHit),
                    Lookup::Revalidate(entry) => self.revalidate(generation, target, request_id, entry),
                    Lookup::Fallback(stale) => {
                        self.fall_back(generation, target, request_id, stale, client).await
                    }
                    // Settings differ between replicas: the other one's windows were longer.
                    Lookup::Miss => (entry, CacheStatus::StaleUpstreamError),
                });
            }
            (Via::Fleet, _) | (Via::Upstream, Role::Follower) => CacheStatus::MissCollapsed,
            (Via::Upstream, Role::Leader) if entry.ttl.is_zero() => CacheStatus::MissNotStored,
            (Via::Upstream, Role::Leader) => CacheStatus::MissStored,
        };
        Ok((entry, status))
    }

    /// Joins or starts the flight for `target`: through the shared tier when there is
    /// one, else straight to AppSignal; what it gets is stored. A failure is logged with
    /// the id of the request that started the flight, whose `client` pays for the call.
    fn join_flight(
        &self,
        generation: &Generation,
        target: &Target,
        request_id: &HeaderValue,
        fill: Fill,
        client: Option<&ClientId>,
    ) -> Ticket {
        let call = Call {
            request_id: request_id.clone(),
            client: client.cloned(),
            key: target.upstream.clone(),
            upstream: generation.upstream.clone(),
            cache: self.cache.clone(),
            cache_settings: generation.settings.cache.clone(),
            ttl: generation.ttl(target.route.ttl),
            compress_from: generation
                .settings
                .compression
                .enabled
                .then_some(generation.settings.compression.min_size),
            route: target.route.name,
        };
        let shared = self.shared.clone();
        let timeout = generation.settings.upstream.timeout;
        self.cache.flights().join(&target.upstream.clone(), move || async move {
            match shared {
                Some(shared) => {
                    fleet::fill(&shared, &call.cache.clone(), &call.key.clone(), fill, timeout, || call.run())
                        .await
                }
                None => call.run().await.map(|entry| Landed { entry, via: Via::Upstream }),
            }
        })
    }
}

/// One upstream call for a key and what it needs to turn the answer into a stored entry.
struct Call {
    request_id: HeaderValue,
    /// Whose share of the upstream budget the call spends; `None` for a refresh.
    client: Option<ClientId>,
    key: Arc<str>,
    upstream: Upstream,
    cache: Arc<ResponseCache>,
    cache_settings: CacheSettings,
    ttl: std::time::Duration,
    compress_from: Option<u64>,
    route: &'static str,
}

impl Call {
    /// Calls AppSignal and stores the entry in this replica's cache (unless its TTL is 0).
    async fn run(self) -> Result<Arc<Entry>, UpstreamError> {
        let (status, body, ttl) = match self.upstream.fetch(&self.key, self.client.as_ref()).await {
            Ok(Fetched::Found(body)) => (StatusCode::OK, body, self.ttl),
            Ok(Fetched::NotFound) => (
                StatusCode::NOT_FOUND,
                GatewayError::UpstreamNotFound.body(),
                self.cache_settings.ttl.not_found,
            ),
            Err(error) => {
                let request_id = self.request_id.to_str().unwrap_or("-");
                tracing::warn!(request_id, route = self.route, error = %error, "upstream call failed");
                return Err(error);
            }
        };
        let entry = Arc::new(
            build(status, body, ttl, self.cache_settings.retain_for(ttl), self.compress_from).await?,
        );
        if !ttl.is_zero() {
            self.cache.store(self.key, entry.clone());
        }
        Ok(entry)
    }
}

/// The entry for an answer, compressing a large body on the blocking pool: that takes
/// milliseconds, which must not hold an async worker.
async fn build(
    status: StatusCode,
    body: Bytes,
    ttl: std::time::Duration,
    retain: std::time::Duration,
    compress_from: Option<u64>,
) -> Result<Entry, UpstreamError> {
    if compress_from.is_some_and(|min| body.len() as u64 >= min) && body.len() >= BLOCKING_COMPRESSION {
        let make = move || Entry::new(status, body, ttl, retain, compress_from);
        tokio::task::spawn_blocking(make)
            .await
            .map_err(|_| UpstreamError::Broken("compressing the answer failed".into()))
    } else {
        Ok(Entry::new(status, body, ttl, retain, compress_from))
    }
}
