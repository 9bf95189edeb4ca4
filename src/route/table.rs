//! The route table: every upstream endpoint the gateway fronts, as data.
//!
//! A route is its path shape under `/api/{app}/`, the query parameters it takes and how
//! each normalises, the rules that tie parameters together, and its TTL class. Adding
//! an endpoint is one more entry here.

use super::params::{cross_checks, ParamKind, ParamSpec};

/// One upstream endpoint.
#[derive(Debug)]
pub struct Route {
    /// Stable short name, used in logs and metric labels.
    pub name: &'static str,
    /// What follows `/api/{app}/` in the path.
    pub shape: Shape,
    /// The query parameters it accepts besides the common ones (`callback`, `_`, `token`, `key`).
    pub params: &'static [ParamSpec],
    /// Rules across parameters, run after each has been normalised.
    pub check: fn(&super::Normalised) -> Result<(), super::ParamError>,
    /// `check` in words, for the API description (empty when there is no rule): OpenAPI
    /// cannot state rules across query parameters, so they are told, not typed.
    pub rules: &'static str,
    /// Which TTL applies to its answers.
    pub ttl: TtlClass,
}

/// The path of a route under `/api/{app}/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Exactly this text, as sent on the wire (no decoding).
    Fixed(&'static str),
    /// `{prefix}{id}.json`: one item by id, the id raw or sanitized, forwarded sanitized.
    Item {
        /// Text before the id, including its slash.
        prefix: &'static str,
    },
}

/// Which of `cache.ttl.*` governs a route's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TtlClass {
    /// `cache.ttl.list`
    List,
    /// `cache.ttl.show`
    Show,
    /// `cache.ttl.graphs`
    Graphs,
    /// `cache.ttl.markers`
    Markers,
}

const SAMPLE_LIST: &[ParamSpec] = &[
    ParamSpec::new("action_id", ParamKind::Action),
    ParamSpec::new("exception", ParamKind::Text),
    ParamSpec::new("since", ParamKind::UnixTime),
    ParamSpec::new("before", ParamKind::UnixTime),
    ParamSpec::new("limit", ParamKind::Limit),
    ParamSpec::new("count_only", ParamKind::Bool),
];

const GRAPHS: &[ParamSpec] = &[
    ParamSpec::new("kind", ParamKind::Text),
    ParamSpec::new("action_name", ParamKind::ActionWithException),
    ParamSpec::new("from", ParamKind::IsoTime),
    ParamSpec::new("to", ParamKind::IsoTime),
    ParamSpec::new("timeframe", ParamKind::OneOf(&["hour", "day", "month", "year"])),
    ParamSpec::new("fields[]", ParamKind::SetOf(&["mean", "count", "ex_count", "ex_rate", "pct"])),
];

const MARKERS: &[ParamSpec] = &[
    ParamSpec::new("kind", ParamKind::OneOf(&["deploy", "custom"])),
    ParamSpec::new("from", ParamKind::IsoTime),
    ParamSpec::new("to", ParamKind::IsoTime),
    ParamSpec::new("limit", ParamKind::Limit),
    ParamSpec::new("count_only", ParamKind::Bool),
];

/// Every route, in matching order: fixed paths before the item shape they could
/// otherwise be read as (`samples/errors.json` is a list, not the sample `errors`).
pub static ROUTES: &[Route] = &[
    Route {
        name: "samples",
        shape: Shape::Fixed("samples.json"),
        params: SAMPLE_LIST,
        check: cross_checks::none,
        rules: "",
        ttl: TtlClass::List,
    },
    Route {
        name: "samples_performance",
        shape: Shape::Fixed("samples/performance.json"),
        params: SAMPLE_LIST,
        check: cross_checks::none,
        rules: "",
        ttl: TtlClass::List,
    },
    Route {
        name: "samples_errors",
        shape: Shape::Fixed("samples/errors.json"),
        params: SAMPLE_LIST,
        check: cross_checks::none,
        rules: "",
        ttl: TtlClass::List,
    },
    Route {
        name: "sample",
        shape: Shape::Item { prefix: "samples/" },
        params: &[],
        check: cross_checks::none,
        rules: "",
        ttl: TtlClass::Show,
    },
    Route {
        name: "graphs",
        shape: Shape::Fixed("graphs.json"),
        params: GRAPHS,
        check: cross_checks::graphs,
        rules: "Exactly one of `kind` and `action_name`; either `timeframe` or `from`/`to`, never both; \
            `from` before `to`.",
        ttl: TtlClass::Graphs,
    },
    Route {
        name: "markers",
        shape: Shape::Fixed("markers.json"),
        params: MARKERS,
        check: cross_checks::from_before_to,
        rules: "`from` before `to`.",
        ttl: TtlClass::Markers,
    },
];
