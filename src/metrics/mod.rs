//! Prometheus metrics, served as text on the admin listener.
//!
//! The counters a request touches on the hit path (requests by route and status, cache
//! outcomes) have a slot each, made at startup for every route and every status the
//! gateway answers and filled on first use; recording one is then an atomic load and an
//! atomic add, with no lock taken, and a route/status pair never seen prints no series.
//! Rarer label values fall back to the family's own map.
//!
//! A scrape gets OpenMetrics or the Prometheus text format by its `Accept`
//! ([`exposition`]).

mod exposition;
mod queries;
mod security;
mod shared;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::{text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub use exposition::Format;
pub use queries::{QueryMetrics, QUERY_APIS};
pub use security::{SecurityMetrics, Untrusted};
pub use shared::{BudgetDecision, LockWait, SharedMetrics, SharedRead};

use crate::route::ROUTES;

/// The statuses the gateway answers with, given their counters up front.
const STATUSES: &[u16] = &[200, 204, 304, 400, 401, 403, 404, 405, 414, 429, 431, 500, 502, 503, 504];
/// Route labels besides the route table's: health, the API description, anything
/// unmatched, every declared GraphQL operation's GET route (one label) and `/graphql`.
const OTHER_ROUTES: &[&str] = &["healthz", "openapi", "-", crate::route::GRAPHQL_GET, "graphql"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusClass {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabel {
    scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabel {
    protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabel {
    key: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// Why a request was refused by a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// The client's own limit.
    Client,
    /// The gateway's upstream budget.
    Upstream,
    /// AppSignal's 429 and the back-off after it.
    AppSignal,
}

/// How the cache answered a request, as the cache counters tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A fresh entry.
    Hit,
    /// A fresh entry in the shared tier (this replica's own cache had none).
    SharedHit,
    /// An upstream call this request made (an expired entry refetched included).
    Miss,
    /// The request waited for another request's upstream call.
    Collapsed,
    /// An expired entry served at once while one refresh runs.
    StaleRevalidating,
    /// An expired entry served because AppSignal failed.
    StaleUpstreamError,
}

/// Every metric the gateway records.
#[derive(Debug)]
pub struct Metrics {
    /// What `/metrics` encodes.
    registry: Registry,
    /// `requests_total{route,status}`, for lookups that miss `request_handles`.
    requests: Family<RequestLabels, Counter>,
    /// A slot per route and status the gateway answers with, filled with its series of
    /// `requests` on first use: read without a lock, and no always-zero series.
    request_handles: HashMap<(&'static str, u16), OnceLock<Counter>, foldhash::fast::FixedState>,
    /// Fresh hits.
    cache_hits: Counter,
    /// Misses of this replica's cache answered by a fresh shared entry.
    cache_shared_hits: Counter,
    /// Requests that needed an upstream call: answered by it (expired entries refetched
    /// included) or failed with nothing stale to serve.
    cache_misses: Counter,
    /// Stale answers, by reason; index 0 revalidating, 1 upstream error.
    cache_stale: [Counter; 2],
    /// Requests that waited for another request's upstream call.
    cache_collapsed: Counter,
    /// Upstream calls by status class.
    upstream_calls: Family<StatusClass, Counter>,
    /// Upstream call latency.
    upstream_seconds: Histogram,
    /// Rate-limited requests, by scope: client, upstream, appsignal.
    rate_limited: [Counter; 3],
    /// Config reloads; index 0 ok, 1 failed.
    reloads: [Counter; 2],
    /// Requests by dashboard key name (names come from config, so the set is bounded).
    key_requests: Family<KeyLabel, Counter>,
    /// Request handlers that panicked.
    panics: Counter,
    /// Configured keys that differ from what is running until a restart.
    restart_required: Gauge,
    /// Bytes the cache holds (its weigher's count), set at scrape.
    cached_bytes: Gauge,
    /// Entries the cache holds, set at scrape.
    cached_entries: Gauge,
    /// The shared tier's metrics.
    pub shared: SharedMetrics,
    /// Scrubs, untrusted shared entries, client-share refusals.
    pub security: SecurityMetrics,
    /// V2 query slots: in flight, waiting, waits timed out.
    pub queries: QueryMetrics,
    /// Client connections by protocol; index 0 HTTP/1.1, 1 HTTP/2.
    connections: [Counter; 2],
    /// TLS handshakes that failed or did not finish in time.
    tls_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, names prefixed `appsignal_gateway_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("appsignal_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("requests", "Requests answered, by route and status", requests.clone());
        let routes = ROUTES.iter().map(|r| r.name).chain(OTHER_ROUTES.iter().copied());
        let request_handles = routes
            .flat_map(|route| STATUSES.iter().map(move |&status| ((route, status), OnceLock::new())))
            .collect();

        let cache_hits = Counter::default();
        registry.register("cache_hits", "Requests answered from a fresh cache entry", cache_hits.clone());
        let cache_shared_hits = Counter::default();
        registry.register(
            "cache_shared_hits",
            "Requests this replica's cache missed and the shared tier answered fresh",
            cache_shared_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "cache_misses",
            "Requests that needed a call to AppSignal (answered by it or failed)",
            cache_misses.clone(),
        );
        let stale = Family::<ReasonLabel, Counter>::default();
        registry.register("cache_stale", "Requests answered from an expired entry, by reason", stale.clone());
        let cache_stale = ["revalidating", "upstream-error"]
            .map(|reason| stale.get_or_create_owned(&ReasonLabel { reason }));
        let cache_collapsed = Counter::default();
        // The series keeps its first name (dashboards and alerts use it); what it counts
        // is called `collapsed` everywhere else, as RFC 9211's `Cache-Status` does.
        registry.register(
            "cache_coalesced",
            "Requests that waited for another request's upstream call (collapsed)",
            cache_collapsed.clone(),
        );

        let upstream_calls = Family::<StatusClass, Counter>::default();
        registry.register("upstream_calls", "Calls to AppSignal, by status class", upstream_calls.clone());
        let upstream_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        registry.register(
            "upstream_duration_seconds",
            "Latency of calls to AppSignal",
            upstream_seconds.clone(),
        );

        let limited = Family::<ScopeLabel, Counter>::default();
        registry.register("rate_limited", "Requests refused by a rate limit, by scope", limited.clone());
        let rate_limited = ["client", "upstream", "appsignal"]
            .map(|scope| limited.get_or_create_owned(&ScopeLabel { scope }));

        let reload_family = Family::<OutcomeLabel, Counter>::default();
        registry.register("config_reloads", "Configuration reloads, by outcome", reload_family.clone());
        let reloads =
            ["ok", "failed"].map(|outcome| reload_family.get_or_create_owned(&OutcomeLabel { outcome }));

        let key_requests = Family::<KeyLabel, Counter>::default();
        registry.register("key_requests", "Requests by dashboard key name", key_requests.clone());
        let panics = Counter::default();
        registry.register("panics", "Request handlers that panicked (answered 500)", panics.clone());
        let restart_required = Gauge::default();
        registry.register(
            "restart_required",
            "Configured keys whose new value awaits a restart (0: the configuration file is what runs)",
            restart_required.clone(),
        );
        let cached_bytes = Gauge::default();
        registry.register(
            "cache_bytes",
            "Bytes held by the cache, as its weigher counts them",
            cached_bytes.clone(),
        );
        let cached_entries = Gauge::default();
        registry.register("cache_entries", "Entries held by the cache", cached_entries.clone());
        registry.register(
            "build",
            "Build information",
            Info::new(VersionLabel { version: env!("CARGO_PKG_VERSION") }),
        );
        let shared = SharedMetrics::register(&mut registry);
        let security = SecurityMetrics::register(&mut registry);
        let queries = QueryMetrics::register(&mut registry);
        let by_protocol = Family::<ProtocolLabel, Counter>::default();
        registry.register("connections", "Client connections accepted, by protocol", by_protocol.clone());
        let connections =
            ["h1", "h2"].map(|protocol| by_protocol.get_or_create_owned(&ProtocolLabel { protocol }));
        let tls_failures = Counter::default();
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or did not finish within limits.header_read_timeout",
            tls_failures.clone(),
        );
        Metrics {
            shared,
            security,
            queries,
            connections,
            tls_failures,
            registry,
            requests,
            request_handles,
            cache_hits,
            cache_shared_hits,
            cache_misses,
            cache_stale,
            cache_collapsed,
            upstream_calls,
            upstream_seconds,
            rate_limited,
            reloads,
            key_requests,
            panics,
            restart_required,
            cached_bytes,
            cached_entries,
        }
    }

    /// One answered request.
    pub fn request(&self, route: &'static str, status: u16) {
        let labels = || RequestLabels { route, status };
        match self.request_handles.get(&(route, status)) {
            Some(slot) => slot.get_or_init(|| self.requests.get_or_create_owned(&labels())).inc(),
            None => self.requests.get_or_create(&labels()).inc(),
        };
    }

    /// How the cache answered a request.
    pub fn cache(&self, outcome: CacheOutcome) {
        match outcome {
            CacheOutcome::Hit => self.cache_hits.inc(),
            CacheOutcome::SharedHit => self.cache_shared_hits.inc(),
            CacheOutcome::Miss => self.cache_misses.inc(),
            CacheOutcome::Collapsed => self.cache_collapsed.inc(),
            CacheOutcome::StaleRevalidating => self.cache_stale[0].inc(),
            CacheOutcome::StaleUpstreamError => self.cache_stale[1].inc(),
        };
    }

    /// One call to AppSignal: its status (`None` when it did not answer) and duration.
    pub fn upstream_call(&self, status: Option<u16>, took: Duration) {
        let class = match status {
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(500..=599) => "5xx",
            Some(_) => "other",
            None => "no-answer",
        };
        self.upstream_calls.get_or_create(&StatusClass { status: class }).inc();
        self.upstream_seconds.observe(took.as_secs_f64());
    }

    /// A request refused by a rate limit.
    pub fn rate_limited(&self, scope: LimitScope) {
        self.rate_limited[scope as usize].inc();
    }

    /// A configuration reload, successful or not.
    pub fn reload(&self, ok: bool) {
        self.reloads[usize::from(!ok)].inc();
    }

    /// The counter of requests made with the dashboard key named `name`, made once per
    /// configuration generation: a request then only adds to it (no lock, no allocation).
    pub fn key_requests(&self, name: &str) -> Counter {
        self.key_requests.get_or_create_owned(&KeyLabel { key: name.to_owned() })
    }

    /// How many configured keys a reload found awaiting a restart.
    pub fn restart_required(&self, keys: usize) {
        self.restart_required.set(i64::try_from(keys).unwrap_or(i64::MAX));
    }

    /// A client connection, HTTP/2 or HTTP/1.1.
    pub fn connection(&self, http2: bool) {
        self.connections[usize::from(http2)].inc();
    }

    /// A TLS handshake that failed or timed out.
    pub fn tls_failure(&self) {
        self.tls_failures.inc();
    }

    /// A request handler that panicked.
    pub fn panic(&self) {
        self.panics.inc();
    }

    /// The Prometheus text exposition, with the cache's current size.
    pub fn encode(&self, cached_entries: u64, cached_bytes: u64) -> String {
        self.encode_as(cached_entries, cached_bytes, Format::PrometheusText)
    }

    /// The exposition in `format`, with the cache's current size.
    pub fn encode_as(&self, cached_entries: u64, cached_bytes: u64, format: Format) -> String {
        self.cached_entries.set(i64::try_from(cached_entries).unwrap_or(i64::MAX));
        self.cached_bytes.set(i64::try_from(cached_bytes).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing to a String cannot fail.
        text::encode(&mut out, &self.registry).expect("encoding to a String");
        match format {
            Format::OpenMetrics => out,
            Format::PrometheusText => exposition::to_prometheus_text(&out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        let metrics = Metrics::new();
        metrics.request("samples", 200);
        metrics.request("samples", 418);
        metrics.cache(CacheOutcome::Hit);
        metrics.cache(CacheOutcome::StaleUpstreamError);
        metrics.upstream_call(Some(503), Duration::from_millis(12));
        metrics.rate_limited(LimitScope::AppSignal);
        metrics.reload(false);
        let text = metrics.encode(3, 1024);
        assert!(!text.contains("# EOF") && !text.contains(" info\n"), "OpenMetrics only:\n{text}");
        assert!(text.contains("# TYPE appsignal_gateway_requests_total counter\n"), "{text}");
        assert!(text.contains("# TYPE appsignal_gateway_build_info gauge\n"), "{text}");
        let openmetrics = metrics.encode_as(3, 1024, Format::OpenMetrics);
        assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
        assert!(openmetrics.contains("# TYPE appsignal_gateway_build info\n"), "{openmetrics}");
        assert!(!text.contains("route=\"healthz\""), "a series nobody used is printed:\n{text}");
        for line in [
            "appsignal_gateway_requests_total{route=\"samples\",status=\"200\"} 1",
            "appsignal_gateway_requests_total{route=\"samples\",status=\"418\"} 1",
            "appsignal_gateway_cache_hits_total 1",
            "appsignal_gateway_cache_stale_total{reason=\"upstream-error\"} 1",
            "appsignal_gateway_upstream_calls_total{status=\"5xx\"} 1",
            "appsignal_gateway_rate_limited_total{scope=\"appsignal\"} 1",
            "appsignal_gateway_config_reloads_total{outcome=\"failed\"} 1",
            "appsignal_gateway_cache_entries 3",
            "appsignal_gateway_cache_bytes 1024",
            "appsignal_gateway_build_info{version=",
            "appsignal_gateway_upstream_duration_seconds_bucket{le=\"0.02\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
