//! V2 and GraphQL queries against AppSignal's per-account concurrency cap
//! (`upstream.max_concurrent_queries`): how many are in flight, how many wait for a
//! slot, how many waits ran out, and how often each API was backed off by a 429.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The query APIs, as `api` labels: `upstream::QueryApi::label` gives one of these.
pub const QUERY_APIS: [&str; 2] = ["v2", "graphql"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabel {
    api: &'static str,
}

/// The query-slot metrics.
#[derive(Debug)]
pub struct QueryMetrics {
    /// Queries holding a slot now.
    in_flight: Gauge,
    /// Queries waiting for a slot now.
    waiting: Gauge,
    /// Waits that reached `upstream.timeout` without a slot.
    timed_out: Counter,
    /// AppSignal 429s on a query, each backing its API off, by API.
    /// In [`QUERY_APIS`] order.
    back_offs: [Counter; 2],
}

impl QueryMetrics {
    /// Registers the metrics in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let in_flight = Gauge::default();
        registry.register(
            "queries_in_flight",
            "V2 and GraphQL queries being answered by AppSignal now",
            in_flight.clone(),
        );
        let waiting = Gauge::default();
        registry.register(
            "queries_waiting",
            "V2 and GraphQL queries waiting for a slot (upstream.max_concurrent_queries)",
            waiting.clone(),
        );
        let timed_out = Counter::default();
        registry.register(
            "query_waits_timed_out",
            "V2 and GraphQL queries that waited upstream.timeout for a slot and gave up",
            timed_out.clone(),
        );
        let family = Family::<ApiLabel, Counter>::default();
        let back_offs = QUERY_APIS.map(|api| family.get_or_create_owned(&ApiLabel { api }));
        registry.register(
            "query_back_offs",
            "AppSignal 429s on a query, each backing that API (v2, graphql) off for its Retry-After",
            family,
        );
        QueryMetrics { in_flight, waiting, timed_out, back_offs }
    }

    /// A query starts or stops waiting for a slot (`+1` / `-1`).
    pub fn waiting(&self, delta: i64) {
        self.waiting.inc_by(delta);
    }

    /// A query takes or gives back a slot (`+1` / `-1`).
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.inc_by(delta);
    }

    /// A wait ran out.
    pub fn timed_out(&self) {
        self.timed_out.inc();
    }

    /// AppSignal's 429 backed off the API labelled `api` (one of [`QUERY_APIS`]).
    pub fn backed_off(&self, api: &str) {
        if let Some(i) = QUERY_APIS.iter().position(|a| *a == api) {
            self.back_offs[i].inc();
        }
    }
}
