//! Routing and parameter normalisation: from a request target to the one upstream
//! request it stands for.
//!
//! Everything here is a pure function of the path, the query and the allowlist, so it
//! is unit- and property-tested without a socket. The normalised upstream path and
//! query (without the token) is also the cache key, so every spelling of the same
//! question is one entry.

mod apps;
mod memo;
mod params;
mod path;
mod query;
mod table;

use crate::key::{CacheKey, KeyKind};
use std::sync::Arc;

pub use apps::{App, Apps};
pub use memo::Memo;
pub use params::{
    escape_action, is_ident, ParamError, ParamKind, ParamSpec, BOOL, DATE_TIME, FLOAT, IDENT, INT, MAX_TEXT,
    MAX_TIME, TEXT,
};
pub use path::{match_path, PathMatch};
pub use query::Normalised;
pub use table::{
    graphql_route, match_v2, BodyKind, GraphQlRoute, Route, Shape, TtlClass, GRAPHQL_GET, ROUTES, V2_LOOKUPS,
    V2_ROUTES,
};

/// A request the gateway can forward: the route, the app, and the normalised upstream
/// path and query.
#[derive(Debug, Clone)]
pub struct Target {
    /// The route matched.
    pub route: &'static Route,
    /// The app's id (an alias in the path is resolved).
    pub app_id: Arc<str>,
    /// `/api/{app_id}/{path}?{normalised query}`, without the token: what is sent
    /// upstream before the token is appended.
    pub upstream: Arc<str>,
    /// The cache key: the app and the upstream target, so every spelling of one question
    /// is one entry.
    pub key: CacheKey,
    /// The JSONP callback, when one was given and JSONP is enabled; already validated.
    pub callback: Option<String>,
    /// The canonical JSON body a V2 query sends upstream (`None` for a GET): written by
    /// the gateway, and also the question in `key`.
    pub body: Option<bytes::Bytes>,
}

/// Why a matched path's query has no target (an unmatched path is `None` from
/// [`match_path`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// A bad query parameter.
    Param(ParamError),
    /// A JSONP callback that is not a dotted JavaScript identifier.
    Callback,
}

/// Query-handling options that come from configuration.
#[derive(Debug, Clone, Copy)]
pub struct QueryOptions<'a> {
    /// The JSONP callback parameter's name (`jsonp.callback_param`).
    pub callback_param: &'a str,
    /// Whether JSONP is enabled; when it is not, the callback parameter is ignored.
    pub jsonp: bool,
}

/// Whether some route already reads a query parameter of this name (or ignores it on
/// every route), so `jsonp.callback_param` must not take it.
pub fn is_reserved_param(name: &str) -> bool {
    query::IGNORED.contains(&name) || ROUTES.iter().any(|r| r.params.iter().any(|p| p.name == name))
}

/// Builds the target of a matched path from its query string.
pub fn target(m: PathMatch, query: Option<&str>, opts: QueryOptions<'_>) -> Result<Target, RouteError> {
    let (normalised, callback) = Normalised::from_query(m.route, query.unwrap_or(""), opts)?;
    let mut upstream = m.upstream_path;
    normalised.append_to(&mut upstream);
    let kind = match m.route.shape {
        Shape::V2Lookup { .. } => KeyKind::V2,
        Shape::Fixed(_) | Shape::Item { .. } | Shape::V2(_) | Shape::GraphQl { .. } => KeyKind::Rest,
    };
    let key = CacheKey::new(&m.app_id, kind, &upstream);
    Ok(Target { route: m.route, app_id: m.app_id, upstream: upstream.into(), key, callback, body: None })
}

#[cfg(test)]
mod tests {
    use super::is_reserved_param;

    #[test]
    fn reserved_params_come_from_the_route_table() {
        for name in [
            "action_id",
            "exception",
            "since",
            "before",
            "limit",
            "count_only",
            "kind",
            "action_name",
            "from",
            "to",
            "timeframe",
            "fields[]",
            "_",
            "token",
            "key",
        ] {
            assert!(is_reserved_param(name), "{name}");
        }
        for name in ["callback", "jsonp", "cb", "app"] {
            assert!(!is_reserved_param(name), "{name}");
        }
    }
}
