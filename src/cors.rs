//! CORS for browser dashboards on other origins.
//!
//! Written here rather than with tower-http's layer because the contract differs from
//! its defaults: preflights answer 204, and an unlisted origin gets no CORS header at
//! all. Credentials are never allowed.

use http::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ALLOW, VARY,
};
use http::{HeaderMap, Response, StatusCode};

use crate::config::{AllowedOrigins, CorsSettings};
use crate::error::Allowed;
use crate::response::{self, Body};

/// The methods a cross-origin page may use: POST for the V2 queries, which are reads.
const METHODS: HeaderValue = HeaderValue::from_static("GET, HEAD, POST");
/// Request headers a page may send: a dashboard key, a validator (a browser revalidating),
/// and what fetch wrappers add to a GET.
const HEADERS: HeaderValue =
    HeaderValue::from_static("authorization, if-none-match, content-type, x-requested-with");
/// Response headers a page's script may read besides the CORS-safelisted ones.
const EXPOSED: HeaderValue = HeaderValue::from_static(
    "cache-status, age, etag, x-request-id, retry-after, ratelimit, ratelimit-policy, www-authenticate",
);

/// The CORS policy from `cors.*`.
#[derive(Debug, Clone)]
pub struct Cors {
    /// Exact origins, as configured.
    origins: Vec<HeaderValue>,
    /// Whether `*` was configured: every origin is allowed.
    any: bool,
    /// `Access-Control-Max-Age`, in seconds.
    max_age: HeaderValue,
}

impl Cors {
    /// The policy of `settings` (validated: every origin it lists is kept).
    pub fn new(settings: &CorsSettings) -> Self {
        let (any, origins) = match &settings.allowed_origins {
            AllowedOrigins::Any => (true, Vec::new()),
            AllowedOrigins::List(origins) => (false, origins.clone()),
        };
        Cors { origins, any, max_age: HeaderValue::from(settings.max_age.as_secs()) }
    }

    /// Whether any origin is allowed at all.
    pub fn enabled(&self) -> bool {
        self.any || !self.origins.is_empty()
    }

    /// Whether `origin` (`scheme://host[:port]`) may read answers.
    pub fn allows(&self, origin: &[u8]) -> bool {
        self.any || self.origins.iter().any(|o| o.as_bytes() == origin)
    }

    /// Whether a request's `Origin` (looked up once per request) names a page that may
    /// not read answers. Requests without one (curl, servers, same-origin GETs) pass.
    pub fn foreign_origin(&self, origin: Option<&HeaderValue>) -> bool {
        origin.is_some_and(|origin| !self.allows(origin.as_bytes()))
    }

    /// Whether the page behind a request is allowed, by its `Origin` or, for a
    /// `<script>` tag (which sends none), the origin of its `Referer`.
    pub fn page_allowed(&self, headers: &HeaderMap) -> bool {
        if let Some(origin) = headers.get(http::header::ORIGIN) {
            return self.allows(origin.as_bytes());
        }
        let Some(referer) = headers.get(http::header::REFERER).and_then(|r| r.to_str().ok()) else {
            return false;
        };
        referer_origin(referer).is_some_and(|origin| self.allows(origin.as_bytes()))
    }

    /// The request's `Origin`, if it is allowed.
    pub fn allowed<'a>(&self, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let origin = headers.get(http::header::ORIGIN)?;
        self.allows(origin.as_bytes()).then_some(origin)
    }

    /// Whether `OPTIONS` with these headers is a CORS preflight.
    pub fn is_preflight(headers: &HeaderMap) -> bool {
        headers.contains_key(http::header::ORIGIN)
            && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The answer to `OPTIONS` on a route: 204 with `Allow` (the methods `allowed` on
    /// it), plus the CORS grant for an allowed origin's preflight.
    pub fn options(&self, headers: &HeaderMap, allowed: Allowed) -> Response<Body> {
        let mut response = response::text(StatusCode::NO_CONTENT, "");
        let out = response.headers_mut();
        out.remove(http::header::CONTENT_TYPE);
        out.insert(ALLOW, HeaderValue::from_static(allowed.header()));
        if let (true, Some(origin)) = (Self::is_preflight(headers), self.allowed(headers)) {
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, METHODS);
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, HEADERS);
            out.insert(ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        }
        if self.enabled() {
            out.append(VARY, HeaderValue::from_static("origin"));
        }
        response
    }

    /// Adds the CORS headers to an answer for a request with this `Origin`.
    pub fn decorate(&self, origin: Option<&HeaderValue>, response: &mut Response<Body>) {
        if !self.enabled() {
            return;
        }
        let out = response.headers_mut();
        out.append(VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = origin.filter(|o| self.allows(o.as_bytes())) {
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
        }
    }
}

/// `scheme://host[:port]` of a `Referer` URL: what an `Origin` header would say.
fn referer_origin(referer: &str) -> Option<String> {
    let url = url::Url::parse(referer).ok()?;
    // A page's address carries no credentials; one that does is no page of ours.
    let plain =
        matches!(url.scheme(), "http" | "https") && url.username().is_empty() && url.password().is_none();
    plain.then(|| url.origin().ascii_serialization())
}

#[cfg(test)]
mod origin_tests {
    use super::*;
    use crate::config::CorsSettings;
    use std::time::Duration;

    fn cors(origins: &[&'static str]) -> Cors {
        let allowed_origins = match origins.contains(&"*") {
            true => AllowedOrigins::Any,
            false => AllowedOrigins::List(origins.iter().map(|o| HeaderValue::from_static(o)).collect()),
        };
        let settings = CorsSettings { allowed_origins, max_age: Duration::from_secs(600) };
        Cors::new(&settings)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(n, v)| (http::HeaderName::from_static(n), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn referer_origins() {
        let origin = |referer| referer_origin(referer);
        assert_eq!(origin("https://dash.example.com/board?x=1").as_deref(), Some("https://dash.example.com"));
        assert_eq!(origin("http://127.0.0.1:8082/").as_deref(), Some("http://127.0.0.1:8082"));
        assert_eq!(origin("http://127.0.0.1:8082").as_deref(), Some("http://127.0.0.1:8082"));
        // The default port is no part of an origin, as browsers serialise it.
        assert_eq!(origin("https://dash.example.com:443/x").as_deref(), Some("https://dash.example.com"));
        assert_eq!(referer_origin("https://user@evil.example/"), None);
        assert_eq!(referer_origin("file:///tmp/x.html"), None);
    }

    #[test]
    fn pages_are_judged_by_origin_then_referer() {
        let cors = cors(&["https://dash.example.com"]);
        assert!(cors.page_allowed(&headers(&[("origin", "https://dash.example.com")])));
        assert!(cors.page_allowed(&headers(&[("referer", "https://dash.example.com/a")])));
        assert!(!cors.page_allowed(&headers(&[("referer", "https://dash.example.com.evil.example/")])));
        assert!(!cors.page_allowed(&headers(&[("origin", "https://evil.example")])));
        assert!(!cors.page_allowed(&headers(&[])));
        let evil = HeaderValue::from_static("https://evil.example");
        assert!(cors.foreign_origin(Some(&evil)));
        assert!(!cors.foreign_origin(Some(&HeaderValue::from_static("https://dash.example.com"))));
        assert!(!cors.foreign_origin(None));
        assert!(self::cors(&["*"]).page_allowed(&headers(&[("referer", "https://any.example/")])));
    }
}
