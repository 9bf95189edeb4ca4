//! V2 (and later GraphQL) queries against AppSignal's per-account concurrency cap
//! (`upstream.max_concurrent_queries`): how many are in flight, how many wait for a
//! slot, and how many waits ran out.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The query-slot metrics.
#[derive(Debug)]
pub struct QueryMetrics {
    /// Queries holding a slot now.
    in_flight: Gauge,
    /// Queries waiting for a slot now.
    waiting: Gauge,
    /// Waits that reached `upstream.timeout` without a slot.
    timed_out: Counter,
}

impl QueryMetrics {
    /// Registers the metrics in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let in_flight = Gauge::default();
        registry.register(
            "queries_in_flight",
            "V2 queries being answered by AppSignal now",
            in_flight.clone(),
        );
        let waiting = Gauge::default();
        registry.register(
            "queries_waiting",
            "V2 queries waiting for a slot (upstream.max_concurrent_queries)",
            waiting.clone(),
        );
        let timed_out = Counter::default();
        registry.register(
            "query_waits_timed_out",
            "V2 queries that waited upstream.timeout for a slot and gave up",
            timed_out.clone(),
        );
        QueryMetrics { in_flight, waiting, timed_out }
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
}
