//! The route table: every upstream endpoint the gateway fronts, as data.
//!
//! A route is its path shape under `/api/{app}/`, the query parameters it takes and how
//! each normalises, the rules that tie parameters together, and its TTL class. Adding
//! an endpoint is one more entry here.

use super::params::{cross_checks, ParamKind, ParamSpec};

/// Which typed body a V2 query route takes (its fields: `crate::v2::body`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `metrics/timeseries`.
    Timeseries,
    /// `metrics/list`.
    MetricsList,
    /// `logs/lines`.
    LogLines,
    /// The `TracesQuery` routes.
    Traces,
    /// `tracing/trace`, `tracing/locator`.
    OneTrace,
    /// `tracing/actions`.
    Actions,
    /// `deploys/stats`.
    DeployStats,
}

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
    /// The request body a V2 query route takes (it is then a `POST`); `None`: a `GET`
    /// route, whose body is never read.
    pub body: Option<BodyKind>,
}

impl Route {
    /// The method the route serves besides `OPTIONS` (and `HEAD` for a `GET` route).
    pub fn method(&self) -> http::Method {
        match self.body {
            Some(_) => http::Method::POST,
            None => http::Method::GET,
        }
    }
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
    /// `/api/v2/{path}`: a V2 query; the app is named in its body.
    V2(&'static str),
    /// `/api/v2/{prefix}{app}`, or `/api/v2/{prefix}{app}/{metric}` when `metric`: a V2
    /// lookup, a GET whose app is a path segment.
    V2Lookup {
        /// Text before the app segment.
        prefix: &'static str,
        /// Whether a metric name segment follows the app.
        metric: bool,
    },
    /// `graphql/{operation}.json`: a declared GraphQL operation as a GET route, its
    /// variables the route's parameters (see [`graphql_route`]).
    GraphQl {
        /// The operation's name.
        operation: &'static str,
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
    /// `cache.ttl.metrics`
    Metrics,
    /// `cache.ttl.logs`
    Logs,
    /// `cache.ttl.traces`
    Traces,
    /// `cache.ttl.deploys`
    Deploys,
    /// `cache.ttl.graphql`: a declared GraphQL operation without a `ttl` of its own.
    GraphQl,
    /// A declared GraphQL operation's own `ttl`.
    Fixed(std::time::Duration),
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
        body: None,
    },
    Route {
        name: "samples_performance",
        shape: Shape::Fixed("samples/performance.json"),
        params: SAMPLE_LIST,
        check: cross_checks::none,
        rules: "",
        ttl: TtlClass::List,
        body: None,
    },
    Route {
        name: "samples_errors",
        shape: Shape::Fixed("samples/errors.json"),
        params: SAMPLE_LIST,
        check: cross_checks::none,
        rules: "",
        ttl: TtlClass::List,
        body: None,
    },
    Route {
        name: "sample",
        shape: Shape::Item { prefix: "samples/" },
        params: &[],
        check: cross_checks::none,
        rules: "",
        ttl: TtlClass::Show,
        body: None,
    },
    Route {
        name: "graphs",
        shape: Shape::Fixed("graphs.json"),
        params: GRAPHS,
        check: cross_checks::graphs,
        rules: "Exactly one of `kind` and `action_name`; either `timeframe` or `from`/`to`, never both; \
            `from` before `to`.",
        ttl: TtlClass::Graphs,
        body: None,
    },
    Route {
        name: "markers",
        shape: Shape::Fixed("markers.json"),
        params: MARKERS,
        check: cross_checks::from_before_to,
        rules: "`from` before `to`.",
        ttl: TtlClass::Markers,
        body: None,
    },
];

/// A V2 query route: `POST /api/v2/{path}` with a body of `kind`.
const fn v2(name: &'static str, path: &'static str, kind: BodyKind, ttl: TtlClass) -> Route {
    Route {
        name,
        shape: Shape::V2(path),
        params: &[],
        check: cross_checks::none,
        rules: "",
        ttl,
        body: Some(kind),
    }
}

/// AppSignal's Public API V2 query routes, mirroring its paths. Their bodies' fields are
/// in `crate::v2::body`, one line each.
pub static V2_ROUTES: &[Route] = &[
    v2("v2_metrics_timeseries", "metrics/timeseries", BodyKind::Timeseries, TtlClass::Metrics),
    v2("v2_metrics_list", "metrics/list", BodyKind::MetricsList, TtlClass::Metrics),
    v2("v2_logs_lines", "logs/lines", BodyKind::LogLines, TtlClass::Logs),
    v2("v2_traces_performance", "tracing/traces/performance", BodyKind::Traces, TtlClass::Traces),
    v2("v2_traces_errors", "tracing/traces/errors", BodyKind::Traces, TtlClass::Traces),
    v2("v2_trace", "tracing/trace", BodyKind::OneTrace, TtlClass::Traces),
    v2("v2_trace_performance", "tracing/trace/performance", BodyKind::Traces, TtlClass::Traces),
    v2("v2_trace_error", "tracing/trace/error", BodyKind::Traces, TtlClass::Traces),
    v2("v2_locator", "tracing/locator", BodyKind::OneTrace, TtlClass::Traces),
    v2("v2_actions", "tracing/actions", BodyKind::Actions, TtlClass::Traces),
    v2("v2_deploys_stats", "deploys/stats", BodyKind::DeployStats, TtlClass::Deploys),
];

/// AppSignal's Public API V2 lookup routes: GETs whose app is a path segment, served
/// like the v1 routes (memo, JSONP, key scope by path).
pub static V2_LOOKUPS: &[Route] = &[
    Route {
        name: "v2_metrics_names",
        shape: Shape::V2Lookup { prefix: "metrics/names/", metric: false },
        params: &[],
        check: cross_checks::none,
        rules: "",
        ttl: TtlClass::Metrics,
        body: None,
    },
    Route {
        name: "v2_metrics_type_and_tags",
        shape: Shape::V2Lookup { prefix: "metrics/type_and_tags/", metric: true },
        params: &[],
        check: cross_checks::none,
        rules: "",
        ttl: TtlClass::Metrics,
        body: None,
    },
];

/// The V2 query route of a request path, if it is one.
pub fn match_v2(path: &str) -> Option<&'static Route> {
    let rest = path.strip_prefix("/api/v2/")?;
    V2_ROUTES.iter().find(|r| matches!(r.shape, Shape::V2(p) if p == rest))
}

/// What a declared GraphQL operation's GET route is made of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GraphQlRoute {
    /// The operation's name.
    pub operation: String,
    /// One parameter per variable but `$appId`: its name (`name[]` for a list), kind and
    /// whether it is required.
    pub params: Vec<(String, ParamKind, bool)>,
    /// Its freshness.
    pub ttl: TtlClass,
}

/// The name every declared operation's GET route has in logs and metrics (the path
/// names the operation; one label keeps the series bounded and pre-created).
pub const GRAPHQL_GET: &str = "graphql_operation";

/// The `&'static Route` of a declared operation's GET route, made once per distinct
/// operation (name, variables, TTL) for the life of the process: a reload that keeps an
/// operation as it was finds its route again, so reloads do not grow memory, and a
/// route can live in the table's `&'static` world like every other one.
pub fn graphql_route(spec: GraphQlRoute) -> &'static Route {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static ROUTES: OnceLock<Mutex<HashMap<GraphQlRoute, &'static Route>>> = OnceLock::new();
    let mut routes = ROUTES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(route) = routes.get(&spec) {
        return route;
    }
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let params: Vec<ParamSpec> = spec
        .params
        .iter()
        .map(|(name, kind, required)| {
            let param = ParamSpec::new(leak(name), *kind);
            if *required {
                param.required()
            } else {
                param
            }
        })
        .collect();
    let route: &'static Route = Box::leak(Box::new(Route {
        name: GRAPHQL_GET,
        shape: Shape::GraphQl { operation: leak(&spec.operation) },
        params: Box::leak(params.into_boxed_slice()),
        check: cross_checks::none,
        rules: "",
        ttl: spec.ttl,
        body: None,
    }));
    routes.insert(spec, route);
    route
}
