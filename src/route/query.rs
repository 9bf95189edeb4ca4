//! Query strings: strict decoding, and the normalised parameter set of a route.

use percent_encoding::utf8_percent_encode;

use super::params::ParamError;
use super::table::Route;
use super::{QueryOptions, RouteError};
use crate::jsonp;
use crate::urlencoded::{decode_query, QUERY_VALUE};

/// Parameters every route accepts and never forwards: the cache-buster, a client's
/// own token, and a dashboard key.
pub(super) const IGNORED: &[&str] = &["_", "token", "key"];

/// A route's parameters, validated and normalised, sorted by name then value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalised {
    pairs: Vec<(&'static str, String)>,
}

impl Normalised {
    /// The normalised value of a (non-repeated) parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// Every parameter and its normalised value, sorted by name then value (a repeated
    /// parameter once per distinct value).
    pub fn pairs(&self) -> &[(&'static str, String)] {
        &self.pairs
    }

    /// Validates and normalises `query` for `route`, returning the parameters to
    /// forward and the JSONP callback, if any.
    pub fn from_query(
        route: &'static Route,
        query: &str,
        opts: QueryOptions<'_>,
    ) -> Result<(Normalised, Option<String>), RouteError> {
        let mut pairs: Vec<(&'static str, String)> = Vec::new();
        let mut callback = None;
        let mut seen_callback = false;
        for (name, value) in decode_query(query).map_err(|e| RouteError::Param(e.into()))? {
            if name == opts.callback_param {
                if !opts.jsonp {
                    continue;
                }
                if seen_callback {
                    return Err(RouteError::Param(ParamError::new(&name, "given more than once")));
                }
                seen_callback = true;
                if !jsonp::valid_callback(&value) {
                    return Err(RouteError::Callback);
                }
                callback = Some(value.into_owned());
                continue;
            }
            if IGNORED.contains(&&*name) {
                continue;
            }
            let Some(spec) = route.params.iter().find(|p| p.name == name) else {
                return Err(RouteError::Param(ParamError::new(&name, "is not a parameter of this route")));
            };
            if !spec.repeatable() && pairs.iter().any(|(n, _)| *n == spec.name) {
                return Err(RouteError::Param(ParamError::new(&name, "given more than once")));
            }
            let value = spec.kind.normalise(spec.name, &value).map_err(RouteError::Param)?;
            pairs.push((spec.name, value));
        }
        pairs.sort();
        pairs.dedup();
        if let Some(missing) =
            route.params.iter().find(|p| p.required && !pairs.iter().any(|(n, _)| *n == p.name))
        {
            return Err(RouteError::Param(ParamError::new(missing.name, "is required")));
        }
        let normalised = Normalised { pairs };
        (route.check)(&normalised).map_err(RouteError::Param)?;
        Ok((normalised, callback))
    }

    /// Appends `?name=value&...` (nothing when empty), percent-encoded.
    pub fn append_to(&self, out: &mut String) {
        for (i, (name, value)) in self.pairs.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.extend(utf8_percent_encode(name, QUERY_VALUE));
            out.push('=');
            out.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{match_path, target, QueryOptions, Target};
    use super::*;
    use crate::route::{App, Apps};

    const OPTS: QueryOptions<'static> = QueryOptions { callback_param: "callback", jsonp: true };

    fn resolve(path: &str, query: &str) -> Result<Target, RouteError> {
        let apps = Apps::new(vec![App { id: "app1".into(), name: Some("blog".into()) }]);
        target(match_path(path, &apps).expect("path matches"), Some(query), OPTS)
    }

    fn upstream(path: &str, query: &str) -> String {
        resolve(path, query).unwrap().upstream.to_string()
    }

    fn rejected(path: &str, query: &str) -> String {
        match resolve(path, query) {
            Err(RouteError::Param(e)) => e.name,
            other => panic!("{query:?} gave {other:?}"),
        }
    }

    #[test]
    fn order_spelling_and_ignored_params_share_one_key() {
        let a = upstream(
            "/api/blog/samples.json",
            "limit=5&action_id=BlogPostsController%23show&since=2023-11-14T22:13:20Z&token=x&_=123&callback=cb",
        );
        let b = upstream(
            "/api/blog/samples.json",
            "since=1700000000&action_id=BlogPostsController-hash-show&limit=5",
        );
        assert_eq!(a, b);
        assert_eq!(
            a,
            "/api/app1/samples.json?action_id=BlogPostsController-hash-show&limit=5&since=1700000000"
        );
    }

    #[test]
    fn unknown_and_repeated_params_are_named() {
        assert_eq!(rejected("/api/blog/samples.json", "limit=5&bogus=1"), "bogus");
        assert_eq!(rejected("/api/blog/samples.json", "limit=5&limit=6"), "limit");
        assert_eq!(rejected("/api/blog/samples.json", "limit=0"), "limit");
        assert_eq!(rejected("/api/blog/samples.json", "count_only=yes"), "count_only");
        assert_eq!(rejected("/api/blog/samples/abc.json", "limit=5"), "limit");
        assert_eq!(rejected("/api/blog/samples.json", "since=%ff"), "since");
    }

    #[test]
    fn bad_callback_is_its_own_error() {
        assert_eq!(resolve("/api/blog/samples.json", "callback=alert(1)").unwrap_err(), RouteError::Callback);
        assert_eq!(
            resolve("/api/blog/samples.json", "callback=a.b").unwrap().callback.as_deref(),
            Some("a.b")
        );
    }

    #[test]
    fn graphs_fields_are_sorted_and_deduplicated() {
        let a = upstream(
            "/api/blog/graphs.json",
            "kind=web&fields[]=pct&fields%5B%5D=mean&fields[]=pct&timeframe=day",
        );
        let b = upstream("/api/blog/graphs.json", "timeframe=day&fields[]=mean&kind=web&fields[]=pct");
        assert_eq!(a, b);
        assert_eq!(a, "/api/app1/graphs.json?fields%5B%5D=mean&fields%5B%5D=pct&kind=web&timeframe=day");
    }

    #[test]
    fn graphs_rules() {
        assert_eq!(rejected("/api/blog/graphs.json", "timeframe=day"), "kind");
        assert_eq!(rejected("/api/blog/graphs.json", "kind=web&action_name=A%23b"), "action_name");
        assert_eq!(rejected("/api/blog/graphs.json", "kind=web&timeframe=day&from=1"), "timeframe");
        assert_eq!(rejected("/api/blog/graphs.json", "kind=web&from=20&to=10"), "from");
        assert_eq!(rejected("/api/blog/graphs.json", "kind=web&fields[]=median"), "fields[]");
        assert_eq!(rejected("/api/blog/graphs.json", "kind=web&timeframe=week"), "timeframe");
        let ok = upstream(
            "/api/blog/graphs.json",
            "action_name=Posts%23show&from=1700000000&to=2023-11-15T00:00:00Z",
        );
        assert_eq!(
            ok,
            "/api/app1/graphs.json?action_name=Posts-hash-show&from=2023-11-14T22%3A13%3A20Z&to=2023-11-15T00%3A00%3A00Z"
        );
    }

    #[test]
    fn markers_rules() {
        assert_eq!(rejected("/api/blog/markers.json", "kind=other"), "kind");
        assert_eq!(rejected("/api/blog/markers.json", "limit=1001"), "limit");
        assert_eq!(rejected("/api/blog/markers.json", "from=10&to=10"), "from");
        assert_eq!(rejected("/api/blog/markers.json", "timeframe=day"), "timeframe");
        assert_eq!(
            upstream("/api/blog/markers.json", "kind=deploy&count_only=true"),
            "/api/app1/markers.json?count_only=true&kind=deploy"
        );
    }
}
