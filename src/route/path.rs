//! Path matching: `/api/{app}/{route}` exactly, or nothing.

use std::sync::Arc;

use percent_encoding::{percent_decode_str, utf8_percent_encode};

use super::escape_action;
use super::table::{Route, Shape, ROUTES, V2_LOOKUPS};
use super::Apps;
use crate::urlencoded::QUERY_VALUE;

/// The longest item id accepted, decoded; AppSignal's sample ids are far shorter.
const MAX_ID: usize = 512;

/// A path that names a route of an allowlisted app.
#[derive(Debug, Clone)]
pub struct PathMatch {
    /// The route table entry the path matched: its parameters, TTL class and name.
    pub route: &'static Route,
    /// The app's id, an alias in the path already resolved.
    pub app_id: Arc<str>,
    /// The upstream path, `/api/{app_id}/...json`, with any item id sanitized and encoded.
    pub upstream_path: String,
}

/// Matches a raw (still percent-encoded) request path.
///
/// Returns `None` for anything that is not exactly a route of an allowlisted app:
/// other prefixes, empty or dot segments, encoded slashes, a trailing slash, other
/// letter case, control characters. The app segment must be an id or alias as written
/// in the configuration, without percent-encoding.
pub fn match_path(path: &str, apps: &Apps) -> Option<PathMatch> {
    let rest = path.strip_prefix("/api/")?;
    if let Some(rest) = rest.strip_prefix("v2/") {
        return match_lookup(rest, apps);
    }
    let (app, rest) = rest.split_once('/')?;
    let app_id = apps.resolve(app)?.clone();
    for route in ROUTES {
        let mut upstream_path = String::with_capacity(app_id.len() + rest.len() + 64);
        upstream_path.push_str("/api/");
        upstream_path.push_str(&app_id);
        upstream_path.push('/');
        match route.shape {
            Shape::Fixed(fixed) if rest == fixed => upstream_path.push_str(fixed),
            Shape::Fixed(_) | Shape::V2(_) | Shape::V2Lookup { .. } | Shape::GraphQl { .. } => continue,
            Shape::Item { prefix } => match item_id(rest, prefix) {
                Some(id) => {
                    upstream_path.push_str(prefix);
                    upstream_path.push_str(&id);
                    upstream_path.push_str(".json");
                }
                None => continue,
            },
        }
        return Some(PathMatch { route, app_id, upstream_path });
    }
    None
}

/// A V2 lookup: `{prefix}{app}` or `{prefix}{app}/{metric}`, the app an allowlisted id
/// or name, the metric name one segment (percent-decoded, checked, re-encoded: names
/// may hold dots, never a slash).
fn match_lookup(rest: &str, apps: &Apps) -> Option<PathMatch> {
    for route in V2_LOOKUPS {
        let Shape::V2Lookup { prefix, metric } = route.shape else { continue };
        let Some(tail) = rest.strip_prefix(prefix) else { continue };
        let (app, name) = match metric {
            false => (tail, None),
            true => {
                let (app, name) = tail.split_once('/')?;
                (app, Some(name))
            }
        };
        let app_id = apps.resolve(app)?.clone();
        let mut upstream_path = format!("/api/v2/{prefix}{app_id}");
        if let Some(name) = name {
            let decoded = percent_decode_str(name).decode_utf8().ok()?;
            let bad = decoded.is_empty()
                || decoded.chars().count() > MAX_ID
                || decoded.chars().any(|c| c.is_control() || c == '/' || c == '\\');
            if bad || name.contains('/') {
                return None;
            }
            upstream_path.push('/');
            upstream_path.extend(utf8_percent_encode(&decoded, QUERY_VALUE));
        }
        return Some(PathMatch { route, app_id, upstream_path });
    }
    None
}

/// The sanitized, percent-encoded id of `{prefix}{id}.json`, or `None`.
///
/// The id is what a dashboard took from a list and passed through `encodeURIComponent`,
/// so inside this one segment an encoded `/`, `#` or `.` is part of the id: decoded here
/// and forwarded sanitized (`-slash-`, `-hash-`, `-dot-`), never as a path separator. A
/// literal `/` (another segment) or a bare `.`/`..` id is still no route.
fn item_id(rest: &str, prefix: &str) -> Option<String> {
    let raw = rest.strip_prefix(prefix)?.strip_suffix(".json")?;
    if raw.is_empty() || raw.contains('/') || raw == "." || raw == ".." {
        return None;
    }
    let id = percent_decode_str(raw).decode_utf8().ok()?;
    let bad = id.len() > MAX_ID || id.chars().any(|c| c.is_control() || c == '\\');
    if bad {
        return None;
    }
    let sanitized = escape_action(&id);
    Some(utf8_percent_encode(&sanitized, QUERY_VALUE).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::App;

    fn apps() -> Apps {
        Apps::new(vec![App { id: "5114f7e38c5ce90000000011".into(), name: Some("blog".into()) }])
    }

    fn upstream(path: &str) -> Option<String> {
        match_path(path, &apps()).map(|m| m.upstream_path)
    }

    #[test]
    fn routes_and_aliases_match() {
        let id = "5114f7e38c5ce90000000011";
        assert_eq!(upstream("/api/blog/samples.json").unwrap(), format!("/api/{id}/samples.json"));
        assert_eq!(
            upstream(&format!("/api/{id}/samples/errors.json")).unwrap(),
            format!("/api/{id}/samples/errors.json")
        );
        assert_eq!(upstream("/api/blog/graphs.json").unwrap(), format!("/api/{id}/graphs.json"));
    }

    #[test]
    fn raw_and_sanitized_ids_meet() {
        let raw = upstream("/api/blog/samples/51f2_SlowController%23show_1476962400.json").unwrap();
        let sanitized = upstream("/api/blog/samples/51f2_SlowController-hash-show_1476962400.json").unwrap();
        assert_eq!(raw, sanitized);
        assert!(raw.ends_with("/samples/51f2_SlowController-hash-show_1476962400.json"));
        let dotted = upstream("/api/blog/samples/a_Api.Posts%23show_1.json").unwrap();
        assert!(dotted.ends_with("/samples/a_Api-dot-Posts-hash-show_1.json"));
        // What `encodeURIComponent` makes of an id with a slash, a dot and a hash.
        let encoded = upstream("/api/blog/samples/a_reports%2Fexport.csv%23create_1.json").unwrap();
        assert!(encoded.ends_with("/samples/a_reports-slash-export-dot-csv-hash-create_1.json"), "{encoded}");
        let dots = upstream("/api/blog/samples/%2e%2e.json").unwrap();
        assert!(dots.ends_with("/samples/-dot--dot-.json"), "{dots}");
    }

    #[test]
    fn everything_else_is_not_found() {
        for path in [
            "/",
            "/api",
            "/api/",
            "/api/blog",
            "/api/blog/",
            "/api/nope/samples.json",
            "/api/Blog/samples.json",
            "/api/blog/Samples.json",
            "/api/blog/samples.json/",
            "/api//samples.json",
            "/api/blog//samples.json",
            "/api/blog/./samples.json",
            "/api/blog/../blog/samples.json",
            "/api/%62log/samples.json",
            "/api/blog%2Fsamples.json",
            "/api/blog/samples%2Ferrors.json",
            "/api/blog/samples/..json",
            "/api/blog/samples/.json",
            "/api/blog/samples/a%5Cb.json",
            "/api/blog/samples/a%00b.json",
            "/api/blog/samples/%ff.json",
            "/api/blog/samples/a/b.json",
            "/api/blog/samples.JSON",
            "/API/blog/samples.json",
            "/api/blog/markers",
        ] {
            assert_eq!(upstream(path), None, "{path} matched");
        }
    }
}
