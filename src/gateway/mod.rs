//! The gateway's request handler: size → route → authorize → target → admit → cache or
//! upstream → finish, as named phases ([`phases`]).
//!
//! Built from typed [`Settings`] and callable without a socket ([`Gateway::handle`]),
//! so tests can drive it directly; [`crate::server`] puts it on a listener. The parts a
//! reload replaces live in one [`Generation`] behind an atomic pointer; the cache outlives
//! reloads.

mod build;
mod fill;
mod generation;
mod graphql;
mod headers;
mod phases;
mod query;
mod render;
mod request_id;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::{Request, Response};

use fill::FillFlights;
pub use generation::{needs_restart, Generation};
use phases::{Authorized, Routed};
use render::{render, Ask};

use crate::cache::{MacKey, ResponseCache};
use crate::config::Settings;
use crate::error::GatewayError;
use crate::limit::ClientId;
use crate::metrics::{CacheOutcome, Metrics};
use crate::response::Body;
use crate::route;
use crate::server::{Handler, Protocol};
use crate::shared::{Scope, Shared};
use crate::tls;

/// The peer address [`Gateway::handle`] assumes when a test calls it without a socket.
pub const NO_PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The gateway: the current configuration generation, the cache, the metrics.
#[derive(Debug)]
pub struct Gateway {
    /// Swapped whole by a reload; each request loads it once.
    generation: ArcSwap<Generation>,
    /// The settings the process started with: what is in force for every key a reload
    /// cannot apply (listeners, cache size, log format, connection limits).
    started: Arc<Settings>,
    /// Answers by cache key; shared with the fills that store in it.
    cache: Arc<ResponseCache>,
    /// The fills under way, one per cache key.
    flights: Arc<FillFlights>,
    /// Shared with the upstream client and the admin surface.
    metrics: Arc<Metrics>,
    /// The tier replicas share through Redis, when `shared.redis_url` is set. Fixed for
    /// the life of the process: a change of `shared` needs a restart.
    shared: Option<Arc<Shared>>,
    /// The certificate `listen` serves, when `tls` is set; a reload replaces it.
    certs: Option<Arc<tls::Certs>>,
}

impl Gateway {
    /// Builds the gateway; fails only if the upstream TLS roots cannot be loaded. With
    /// `shared` set, joins the shared tier (in the background: within a tokio runtime).
    pub fn new(settings: Arc<Settings>) -> std::io::Result<Self> {
        let metrics = Arc::new(Metrics::new());
        let cache = Arc::new(ResponseCache::new(settings.cache.max_size));
        let mac = || MacKey::new(settings.upstream.token.entry_mac_key());
        let shared = settings
            .shared
            .as_ref()
            .map(|s| Shared::start(s, mac(), &settings.cache, cache.clone(), metrics.clone()));
        let generation = Generation::new(settings.clone(), &metrics, shared.as_ref())?;
        let generation = ArcSwap::from_pointee(generation);
        let certs = settings.tls.as_ref().map(|t| tls::Certs::new(t.certified.clone()));
        let flights = Arc::default();
        Ok(Gateway { generation, started: settings, cache, flights, metrics, shared, certs })
    }

    /// The TLS acceptor for `listen` (h2 and http/1.1 by ALPN), when `tls` is set.
    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        let certs = self.certs.clone()?;
        Some(tokio_rustls::TlsAcceptor::from(tls::server_config(certs)))
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        self.generation.load().settings.clone()
    }

    /// The response cache, shared by every configuration generation (admin reads its size).
    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    /// The metrics registry, for the admin surface to encode.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Replaces the configuration for new requests; requests under way finish with the
    /// one they started with. Returns the keys whose configured value differs from what
    /// is running and needs a restart: compared with the settings the process started
    /// with, so a pending change is reported by every reload until the restart.
    pub fn reload(&self, settings: Settings) -> std::io::Result<Vec<&'static str>> {
        let current = self.generation.load();
        let restart = needs_restart(&self.started, &settings);
        self.metrics.restart_required(restart.len());
        if let Some(shared) = &self.shared {
            shared.set_bounds(&settings.cache);
        }
        let next = current.next(Arc::new(settings), &self.metrics, self.shared.as_ref())?;
        // The pair was read and checked by validation: new connections get it now.
        if let (Some(certs), Some(tls)) = (&self.certs, &next.settings.tls) {
            certs.replace(tls.certified.clone());
        }
        self.generation.store(Arc::new(next));
        Ok(restart)
    }

    /// Empties the cache for every app, or for the app `id`: this replica's own and,
    /// with a shared tier, the fleet's (every replica drops its own within a second).
    /// Returns whether the fleet was told (`None` standing alone); this replica's cache
    /// is emptied either way.
    pub async fn purge(&self, app: Option<Arc<str>>) -> Option<bool> {
        match &app {
            None => self.cache.purge_all(),
            Some(id) => self.cache.purge_app(id),
        }
        let shared = self.shared.as_ref()?;
        let scope = match app {
            None => Scope::All(self.settings().apps.ids()),
            Some(id) => Scope::App(id),
        };
        match shared.purge(&scope).await {
            Ok(()) => Some(true),
            Err(error) => {
                tracing::warn!(%error, "the purge did not reach the shared tier: other replicas keep their entries");
                Some(false)
            }
        }
    }

    /// Whether `admin_listen` answers a request with these headers and URI
    /// (`allowed_hosts`; see [`crate::hosts`]).
    pub fn admin_host_allowed(&self, headers: &http::HeaderMap, uri: &http::Uri) -> bool {
        self.generation.load().admin_hosts.allows(headers, uri)
    }

    /// Periodic upkeep: forgets idle clients' rate-limit state and budget shares.
    pub fn housekeeping(&self) {
        let generation = self.generation.load();
        generation.limiter.housekeeping();
        generation.upstream.housekeeping();
    }

    /// Answers one request from `peer`, phase by phase (see [`phases`]). The body is
    /// read only for a V2 query that passed every check before it ([`query`]); a GET
    /// route drops it unread.
    pub async fn handle<B>(&self, request: Request<B>, peer: IpAddr) -> Response<Body>
    where
        B: http_body::Body + Send,
        B::Data: Send,
    {
        let generation = self.generation.load_full();
        let (parts, body) = request.into_parts();
        let mut request = phases::Exchange::new(&generation, &parts, peer, &self.metrics);
        let mut response = match self.respond(&mut request, body).await {
            Ok(response) => response,
            Err(error) => request.error_response(error),
        };
        request.finish(&mut response);
        response
    }

    /// Phases 1 to 6: the answer, or the error that ends the request.
    async fn respond<B>(
        &self,
        request: &mut phases::Exchange<'_>,
        body: B,
    ) -> Result<Response<Body>, GatewayError>
    where
        B: http_body::Body + Send,
        B::Data: Send,
    {
        request.check_host()?;
        request.check_size()?;
        let matched = match request.route() {
            Routed::Health => return request.health(),
            Routed::OpenApi => return request.openapi(),
            Routed::Query(route) => return self.query(request, route, body).await,
            Routed::GraphQl => return self.graphql(request, body).await,
            Routed::Api(matched) => matched,
        };
        drop(body);
        let (matched, key) = match request.authorize(matched)? {
            Authorized::Preflight(response) => return Ok(response),
            Authorized::Read(matched, key) => (matched, key),
        };
        let target = request.resolve_target(matched)?;
        request.allow_script(&target, key)?;
        let client = request.limit_client(key)?;
        self.answer(request, &target, &client).await
    }

    /// Phase 6 and the render: the target's entry, from the cache or one fill.
    async fn answer(
        &self,
        request: &mut phases::Exchange<'_>,
        target: &route::Target,
        client: &ClientId,
    ) -> Result<Response<Body>, GatewayError> {
        let now = Instant::now();
        let lookup = self.entry(request.generation, target, now, &request.id, client).await;
        let log = &mut request.log;
        let (entry, status) = lookup.inspect_err(|e| {
            // The cache had nothing to serve and the upstream call failed: still a miss,
            // as `cache_misses_total` counts answers that needed an upstream call.
            self.metrics.cache(CacheOutcome::Miss);
            if let GatewayError::Upstream(error) = e {
                log.upstream = error.status();
            }
        })?;
        log.cache = Some(status);
        if status.went_upstream() {
            log.upstream = Some(entry.status.as_u16());
        }
        let ask = Ask::from_headers(&request.parts.headers, target.callback.as_deref());
        Ok(render(&entry, status, now, ask, &request.id))
    }
}

impl Handler for Gateway {
    async fn call(&self, request: Request<hyper::body::Incoming>, peer: SocketAddr) -> Response<Body> {
        self.handle(request, peer.ip()).await
    }

    fn on_connection(&self, protocol: Protocol) {
        self.metrics.connection(protocol == Protocol::Http2);
    }

    fn on_tls_failure(&self) {
        self.metrics.tls_failure();
    }

    fn on_panic(&self, message: &str) -> Response<Body> {
        self.metrics.panic();
        tracing::error!(panic = message, "a request handler panicked; answered 500");
        GatewayError::Internal.into_response()
    }
}
