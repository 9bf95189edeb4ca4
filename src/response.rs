//! Response building blocks shared by the gateway and admin surfaces.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{Response, StatusCode};
use http_body_util::Full;

/// The body type of every response: the whole body is known before the head is sent.
pub type Body = Full<Bytes>;

/// `X-Request-Id`, on every answer.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `Cache-Status` (RFC 9211), on every cached route's answer.
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// `application/json`, as every JSON answer says.
pub const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// `text/plain; charset=utf-8`, for health checks.
pub const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// `nosniff`, on every answer: a browser must never read a JSON or text answer as
/// script or HTML, whatever its bytes look like.
pub const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");

/// A response with `status`, `content_type` and `body`, its length set, and
/// `X-Content-Type-Options: nosniff`.
pub fn with_body(status: StatusCode, content_type: HeaderValue, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    *response.body_mut() = Full::new(body);
    response
}

/// A short plain-text answer, such as `ok` from `/healthz`.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    with_body(status, TEXT, Bytes::from_static(body.as_bytes()))
}

/// Drops the body of a response to `HEAD`, keeping its headers (`Content-Length` too).
pub fn strip_body(response: &mut Response<Body>) {
    *response.body_mut() = Full::new(Bytes::new());
}
