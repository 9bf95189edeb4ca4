//! The parts of the gateway a reload replaces: settings and what is built from them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use super::build::{self, Recipe};
use crate::auth::Keys;
use crate::cache::Entry;
use crate::config::Settings;
use crate::cors::Cors;
use crate::graphql::learned::LearnedHashes;
use crate::hosts::HostRule;
use crate::limit::ClientLimiter;
use crate::metrics::Metrics;
use crate::route::{Memo, TtlClass};
use crate::shared::Shared;
use crate::upstream::{FleetBudget, Upstream};

/// One consistent generation of configuration. A request loads it once and uses it
/// throughout, so a reload never mixes two generations within a request.
#[derive(Debug)]
pub struct Generation {
    /// The validated settings of this generation.
    pub settings: Arc<Settings>,
    /// The AppSignal client (holding the token).
    pub upstream: Upstream,
    /// The CORS policy.
    pub cors: Cors,
    /// The `Host` names `listen` answers.
    pub hosts: HostRule,
    /// The `Host` names `admin_listen` answers.
    pub admin_hosts: HostRule,
    /// Per-client buckets; kept across reloads that leave the rate unchanged.
    pub limiter: Arc<ClientLimiter>,
    /// Dashboard keys.
    pub keys: Keys,
    /// Raw targets this generation resolved; a reload starts a new one.
    pub targets: Memo,
    /// V2 query bodies this generation resolved (route and raw body → canonical target).
    pub(super) queries: Memo<Arc<super::query::Resolved>>,
    /// `GET /openapi.json`: this generation's API description, with its compressed
    /// forms and ETags made once.
    pub openapi: Entry,
    /// Persisted-query hashes clients taught this generation (Apollo's APQ).
    pub learned: LearnedHashes,
}

impl Generation {
    /// Builds a generation from `settings`, spending the fleet's budget through `shared`
    /// when there is one; fails only if `upstream.ca_file` cannot be read.
    pub fn new(
        settings: Arc<Settings>,
        metrics: &Arc<Metrics>,
        shared: Option<&Arc<Shared>>,
    ) -> std::io::Result<Self> {
        let concurrency = settings.limits.max_upstream_concurrency.get();
        let upstream = Upstream::new(&settings.upstream, concurrency, metrics.clone(), fleet(shared))?;
        let limiter = Arc::new(ClientLimiter::new(settings.clients.rate_limit));
        Ok(Self::assemble(settings, upstream, limiter, metrics))
    }

    /// The next generation: `settings`, keeping the upstream client (its pool, budget and
    /// back-off) and the client buckets when their settings did not change.
    pub fn next(
        &self,
        settings: Arc<Settings>,
        metrics: &Arc<Metrics>,
        shared: Option<&Arc<Shared>>,
    ) -> std::io::Result<Self> {
        let concurrency = settings.limits.max_upstream_concurrency;
        let same_upstream = self.settings.upstream == settings.upstream
            && self.settings.limits.max_upstream_concurrency == concurrency;
        let upstream = match same_upstream {
            true => self.upstream.clone(),
            false => Upstream::new(&settings.upstream, concurrency.get(), metrics.clone(), fleet(shared))?,
        };
        let limiter = match self.settings.clients.rate_limit == settings.clients.rate_limit {
            true => self.limiter.clone(),
            false => Arc::new(ClientLimiter::new(settings.clients.rate_limit)),
        };
        Ok(Self::assemble(settings, upstream, limiter, metrics))
    }

    /// A generation around `upstream` and `limiter`, with everything else made anew (the
    /// keys' request counters registered in `metrics`).
    fn assemble(
        settings: Arc<Settings>,
        upstream: Upstream,
        limiter: Arc<ClientLimiter>,
        metrics: &Metrics,
    ) -> Self {
        Generation {
            upstream,
            cors: Cors::new(&settings.cors),
            hosts: HostRule::new(&settings.allowed_hosts, settings.listen),
            admin_hosts: HostRule::new(&settings.allowed_hosts, settings.admin_listen),
            limiter,
            keys: Keys::new(&settings.clients.keys, |name| metrics.key_requests(name)),
            targets: Memo::default(),
            queries: Memo::new(super::query::MAX_REMEMBERED_BODY),
            openapi: openapi_entry(&settings),
            learned: LearnedHashes::default(),
            settings,
        }
    }

    /// The freshness of a route class.
    pub fn ttl(&self, class: TtlClass) -> Duration {
        let ttl = &self.settings.cache.ttl;
        match class {
            TtlClass::List => ttl.list,
            TtlClass::Show => ttl.show,
            TtlClass::Graphs => ttl.graphs,
            TtlClass::Markers => ttl.markers,
            TtlClass::Metrics => ttl.metrics,
            TtlClass::Logs => ttl.logs,
            TtlClass::Traces => ttl.traces,
            TtlClass::Deploys => ttl.deploys,
            TtlClass::GraphQl => ttl.graphql,
            TtlClass::Fixed(ttl) => ttl,
        }
    }
}

/// How long a browser may keep the API description before revalidating it by ETag.
pub const OPENAPI_TTL: Duration = Duration::from_secs(300);

/// The API description as an entry: served like any cached answer (ETag, 304, gzip, br).
fn openapi_entry(settings: &Settings) -> Entry {
    let body = Bytes::from(crate::openapi::document(settings).to_string());
    let recipe = Recipe {
        status: StatusCode::OK,
        ttl: OPENAPI_TTL,
        retain: OPENAPI_TTL,
        compression: settings.compression,
    };
    build::entry(recipe, body)
}

/// The fleet's budget, kept by the shared tier when there is one.
fn fleet(shared: Option<&Arc<Shared>>) -> Option<Arc<dyn FleetBudget>> {
    shared.map(|s| s.clone() as Arc<dyn FleetBudget>)
}

/// The keys whose change a reload cannot apply, with the values that stay in force.
pub fn needs_restart(old: &Settings, new: &Settings) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.listen != new.listen {
        keys.push("listen");
    }
    if old.admin_listen != new.admin_listen {
        keys.push("admin_listen");
    }
    if old.cache.max_size != new.cache.max_size {
        keys.push("cache.max_size");
    }
    if old.log.format != new.log.format {
        keys.push("log.format");
    }
    if old.limits.max_connections != new.limits.max_connections {
        keys.push("limits.max_connections");
    }
    if old.limits.header_read_timeout != new.limits.header_read_timeout {
        keys.push("limits.header_read_timeout");
    }
    if old.limits.idle_timeout != new.limits.idle_timeout {
        keys.push("limits.idle_timeout");
    }
    if old.tls.is_some() != new.tls.is_some() {
        keys.push("tls");
    }
    if old.shared != new.shared {
        keys.push("shared");
    }
    keys
}
