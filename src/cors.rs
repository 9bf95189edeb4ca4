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

use crate::config::CorsSettings;
use crate::error::ALLOWED_METHODS;
use crate::response::{self, Body};

/// The methods a cross-origin page may use.
const METHODS: HeaderValue = HeaderValue::from_static("GET, HEAD");
/// Request headers a page may send: a dashboard key and a validator.
const HEADERS: HeaderValue = HeaderValue::from_static("authorization, if-none-match");
/// Response headers a page may read besides the CORS-safelisted ones.
const EXPOSED: HeaderValue =
    HeaderValue::from_static("cache-status, age, etag, retry-after, ratelimit, ratelimit-policy");

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
    /// The policy of `settings`.
    pub fn new(settings: &CorsSettings) -> Self {
        let any = settings.allowed_origins.iter().any(|o| o == "*");
        let origins = settings.allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
        Cors { origins, any, max_age: HeaderValue::from(settings.max_age.as_secs()) }
    }

    /// Whether any origin is allowed at all.
    pub fn enabled(&self) -> bool {
        self.any || !self.origins.is_empty()
    }

    /// The request's `Origin`, if it is allowed.
    pub fn allowed<'a>(&self, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let origin = headers.get(http::header::ORIGIN)?;
        (self.any || self.origins.contains(origin)).then_some(origin)
    }

    /// Whether `OPTIONS` with these headers is a CORS preflight.
    pub fn is_preflight(headers: &HeaderMap) -> bool {
        headers.contains_key(http::header::ORIGIN)
            && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The answer to `OPTIONS` on a route: 204 with `Allow`, plus the CORS grant for an
    /// allowed origin's preflight.
    pub fn options(&self, headers: &HeaderMap) -> Response<Body> {
        let mut response = response::text(StatusCode::NO_CONTENT, "");
        let out = response.headers_mut();
        out.remove(http::header::CONTENT_TYPE);
        out.insert(ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
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

    /// Adds the CORS headers to an answer for a request with these headers.
    pub fn decorate(&self, request: &HeaderMap, response: &mut Response<Body>) {
        if !self.enabled() {
            return;
        }
        let out = response.headers_mut();
        out.append(VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = self.allowed(request) {
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
        }
    }
}
