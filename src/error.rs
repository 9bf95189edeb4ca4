//! The request-level error: every way a request can fail, and the one mapping of each
//! to a status, a code and a message a client may see.
//!
//! Details (upstream error texts, hosts) go to the log; the client gets a fixed
//! message per kind, so nothing from AppSignal, and never the token, reaches it.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

use crate::jsonp;
use crate::limit::Refusal;
use crate::response::{self, Body};
use crate::route::ParamError;
use crate::upstream::UpstreamError;

/// Every `code` an error body can carry, for the API description.
pub const CODES: &[&str] = &[
    "invalid_parameter",
    "invalid_callback",
    "invalid_body",
    "unsupported_media_type",
    "body_too_large",
    "body_timeout",
    "appsignal_rejected",
    "operation_not_allowed",
    "persisted_query_mismatch",
    "appsignal_graphql_error",
    "not_found",
    "method_not_allowed",
    "unauthorized",
    "forbidden_origin",
    "forbidden_cross_site",
    "misdirected_request",
    "uri_too_long",
    "headers_too_large",
    "internal_error",
    "rate_limited",
    "upstream_unreachable",
    "upstream_timeout",
    "upstream_unauthorized",
    "upstream_rate_limited",
    "upstream_budget_exhausted",
    "upstream_queries_busy",
    "upstream_error",
    "upstream_invalid_response",
    "upstream_response_too_large",
];

/// The methods the gateway serves on its routes.
pub const ALLOWED_METHODS: &str = "GET, HEAD, OPTIONS";

/// The methods a path allows, for a 405's `Allow` header and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// The gateway's routes and `/healthz`: GET, HEAD, and OPTIONS (preflights).
    Read,
    /// The admin's read-only paths: `/healthz`, `/readyz`, `/metrics`.
    AdminRead,
    /// The admin's actions: `/cache/purge`, `/config/reload`.
    AdminPost,
    /// A V2 query route: POST, and OPTIONS (preflights).
    Query,
    /// `/graphql`: GET and HEAD (Apollo's hashed queries), POST, and OPTIONS (preflights).
    GraphQl,
}

impl Allowed {
    /// The `Allow` header's value.
    pub fn header(self) -> &'static str {
        match self {
            Allowed::Read => ALLOWED_METHODS,
            Allowed::AdminRead => "GET, HEAD",
            Allowed::AdminPost => "POST",
            Allowed::Query => "POST, OPTIONS",
            Allowed::GraphQl => "GET, HEAD, POST, OPTIONS",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Allowed::Read => "only GET, HEAD and OPTIONS are allowed",
            Allowed::AdminRead => "only GET and HEAD are allowed",
            Allowed::AdminPost => "only POST is allowed",
            Allowed::Query => "only POST and OPTIONS are allowed: this V2 query takes a JSON body",
            Allowed::GraphQl => "only GET, HEAD, POST and OPTIONS are allowed on /graphql",
        }
    }
}

/// Why a request was not answered with AppSignal's data.
///
/// `Display` is for logs; what a client reads comes only from [`GatewayError::client_view`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// A query parameter is unknown, repeated or malformed.
    #[error("{0}")]
    BadParameter(ParamError),
    /// The JSONP callback is not a dotted JavaScript identifier.
    #[error("the JSONP callback must be a dotted JavaScript identifier of at most 128 characters")]
    BadCallback,
    /// A page that may not read answers: an `Origin` outside `cors.allowed_origins`, or
    /// a JSONP request with neither an allowed `Origin`/`Referer` nor a dashboard key.
    #[error("the requesting page's origin is not allowed")]
    ForbiddenOrigin,
    /// A V2 body that is not one well-formed JSON object (where and why).
    #[error("{0}")]
    BadBody(String),
    /// A V2 query or GraphQL POST without `Content-Type: application/json`.
    #[error("a V2 query or GraphQL POST needs `Content-Type: application/json`")]
    UnsupportedMediaType,
    /// A GraphQL document or persisted-query hash that is not a declared operation (or
    /// a mutation, or several operations): refused before any upstream work.
    #[error("the GraphQL document is not a declared operation")]
    OperationNotAllowed,
    /// A GraphQL text sent with a persisted-query hash that is not its SHA-256.
    #[error("the persisted-query hash is not the SHA-256 of the query text")]
    PersistedQueryMismatch,
    /// A body over `limits.max_body_size`.
    #[error("the request body is larger than limits.max_body_size")]
    BodyTooLarge,
    /// A body not sent whole within `limits.body_read_timeout`.
    #[error("the request body was not sent within limits.body_read_timeout")]
    BodyTimeout,
    /// AppSignal's V2 422: its slug and its message, scrubbed of the token.
    #[error("AppSignal refused the query: {slug}")]
    AppSignalRejected {
        /// AppSignal's `error` slug (`ungrouped_wildcard`).
        slug: String,
        /// AppSignal's `message`, token scrubbed, shortened.
        message: String,
    },
    /// An admin POST a web page could have sent cross-site without a preflight: it
    /// carries an `Origin`, a `Sec-Fetch-Site` other than `none`/`same-origin`, or a
    /// `Content-Type` other than none or `application/json`.
    #[error("an admin action sent the way a web page could send it cross-site")]
    CrossSite,
    /// The request's `Host` (or `:authority`) is not a name this listener answers
    /// (`allowed_hosts`): a DNS-rebinding page, or a misdirected client.
    #[error("the request's Host is not one this gateway answers")]
    MisdirectedHost,
    /// Not a route, or not an allowlisted app.
    #[error("no such route or app")]
    NotFound,
    /// A method the path does not allow.
    #[error("method not allowed (allowed: {})", .0.header())]
    MethodNotAllowed(Allowed),
    /// The request target is longer than `limits.max_uri_length`.
    #[error("the request target is too long")]
    UriTooLong,
    /// The request headers are larger than `limits.max_header_size`.
    #[error("the request headers are too large")]
    HeadersTooLarge,
    /// The gateway failed (a handler panicked); the details are in its log.
    #[error("the gateway failed to answer; see its log")]
    Internal,
    /// Dashboard keys are configured and the request presented none, or an unknown one.
    #[error("a dashboard key is required: send `Authorization: Bearer <key>` or the `key` parameter")]
    Unauthorized,
    /// The client is over its rate limit.
    #[error("too many requests; retry later")]
    RateLimited(Refusal),
    /// AppSignal answered 404.
    #[error("AppSignal has no such resource")]
    UpstreamNotFound,
    /// AppSignal could not give an answer to pass on.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// How an error is told to a client: its status, its machine-readable code and the
/// sentence it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `code` field of the error body.
    pub code: &'static str,
    /// The `message` field of the error body: never upstream details, never the token.
    pub message: Cow<'static, str>,
}

impl GatewayError {
    /// The one mapping of every error to what a client sees. One exhaustive match with
    /// no catch-all arm: a new variant does not compile until it is mapped here, so no
    /// `Display` text reaches a client by accident.
    pub fn client_view(&self) -> ClientView {
        use StatusCode as S;
        use UpstreamError as U;
        let (status, code, message): (StatusCode, &'static str, Cow<'static, str>) = match self {
            GatewayError::BadParameter(e) => (S::BAD_REQUEST, "invalid_parameter", e.to_string().into()),
            GatewayError::BadCallback => (
                S::BAD_REQUEST,
                "invalid_callback",
                "the JSONP callback must be a dotted JavaScript identifier of at most 128 characters".into(),
            ),
            GatewayError::ForbiddenOrigin => (
                S::FORBIDDEN,
                "forbidden_origin",
                "this page's origin may not read the gateway's answers (cors.allowed_origins); \
                 a JSONP page needs an allowed origin or a dashboard key"
                    .into(),
            ),
            GatewayError::BadBody(reason) => (S::BAD_REQUEST, "invalid_body", reason.clone().into()),
            GatewayError::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "a V2 query or GraphQL POST needs `Content-Type: application/json`".into(),
            ),
            GatewayError::OperationNotAllowed => (
                S::FORBIDDEN,
                "operation_not_allowed",
                "only declared GraphQL operations are served: this document or hash is not one \
                 (graphql.operations and the built-in set)"
                    .into(),
            ),
            GatewayError::PersistedQueryMismatch => (
                S::BAD_REQUEST,
                "persisted_query_mismatch",
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query text".into(),
            ),
            GatewayError::BodyTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than the gateway accepts (limits.max_body_size)".into(),
            ),
            GatewayError::BodyTimeout => (
                S::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body was not sent in time (limits.body_read_timeout)".into(),
            ),
            GatewayError::AppSignalRejected { message, .. } => {
                (S::UNPROCESSABLE_ENTITY, "appsignal_rejected", message.clone().into())
            }
            GatewayError::CrossSite => (
                S::FORBIDDEN,
                "forbidden_cross_site",
                "admin actions are refused when sent with an Origin, a cross-site Sec-Fetch-Site, \
                 or a Content-Type other than application/json"
                    .into(),
            ),
            GatewayError::MisdirectedHost => (
                S::MISDIRECTED_REQUEST,
                "misdirected_request",
                "this gateway does not answer for the requested Host (allowed_hosts)".into(),
            ),
            GatewayError::NotFound => (S::NOT_FOUND, "not_found", "no such route or app".into()),
            GatewayError::UpstreamNotFound => {
                (S::NOT_FOUND, "not_found", "AppSignal has no such resource".into())
            }
            GatewayError::MethodNotAllowed(allowed) => {
                (S::METHOD_NOT_ALLOWED, "method_not_allowed", allowed.message().into())
            }
            GatewayError::Unauthorized => (
                S::UNAUTHORIZED,
                "unauthorized",
                "a dashboard key is required: send `Authorization: Bearer <key>` or the `key` parameter"
                    .into(),
            ),
            GatewayError::UriTooLong => {
                (S::URI_TOO_LONG, "uri_too_long", "the request target is too long".into())
            }
            GatewayError::HeadersTooLarge => (
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "the request headers are too large".into(),
            ),
            GatewayError::Internal => (
                S::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the gateway failed to answer; see its log".into(),
            ),
            GatewayError::RateLimited(_) => {
                (S::TOO_MANY_REQUESTS, "rate_limited", "too many requests; retry later".into())
            }
            GatewayError::Upstream(U::Connect(_) | U::Broken(_)) => {
                (S::BAD_GATEWAY, "upstream_unreachable", "AppSignal could not be reached".into())
            }
            GatewayError::Upstream(U::Timeout(_)) => {
                (S::GATEWAY_TIMEOUT, "upstream_timeout", "AppSignal did not answer in time".into())
            }
            GatewayError::Upstream(U::Unauthorized(_)) => (
                S::BAD_GATEWAY,
                "upstream_unauthorized",
                "AppSignal refused the gateway's credentials".into(),
            ),
            GatewayError::Upstream(U::Throttled(_)) => (
                S::SERVICE_UNAVAILABLE,
                "upstream_rate_limited",
                "AppSignal is rate-limiting the gateway; retry later".into(),
            ),
            GatewayError::Upstream(U::BudgetSpent(_)) => (
                S::SERVICE_UNAVAILABLE,
                "upstream_budget_exhausted",
                "the gateway's budget of AppSignal calls is spent; retry later".into(),
            ),
            GatewayError::Upstream(U::Busy(_)) => (
                S::SERVICE_UNAVAILABLE,
                "upstream_queries_busy",
                "every AppSignal query slot is busy (upstream.max_concurrent_queries); retry later".into(),
            ),
            GatewayError::Upstream(U::Status(_)) => {
                (S::BAD_GATEWAY, "upstream_error", "AppSignal answered with an error".into())
            }
            GatewayError::Upstream(U::NotJson) => (
                S::BAD_GATEWAY,
                "upstream_invalid_response",
                "AppSignal answered with a body that is not JSON".into(),
            ),
            GatewayError::Upstream(U::GraphQl(messages)) => (
                S::BAD_GATEWAY,
                "appsignal_graphql_error",
                format!("AppSignal refused the declared operation (has its schema moved?): {messages}")
                    .into(),
            ),
            GatewayError::Upstream(U::TooLarge(_)) => (
                S::BAD_GATEWAY,
                "upstream_response_too_large",
                "AppSignal's answer is larger than the gateway accepts".into(),
            ),
        };
        ClientView { status, code, message }
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.client_view().status
    }

    /// How long the client should wait before retrying, for errors that say so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GatewayError::Upstream(
                UpstreamError::Throttled(d) | UpstreamError::BudgetSpent(d) | UpstreamError::Busy(d),
            ) => Some(*d),
            GatewayError::RateLimited(refusal) => Some(refusal.retry_after),
            _ => None,
        }
    }

    /// The JSON body: `{"error":{"status":..,"code":"..","message":".."}}`.
    ///
    /// `<` is written as `\u003c` so that an echoed parameter name can never close a
    /// script element when the body is served as JSONP.
    pub fn body(&self) -> Bytes {
        let view = self.client_view();
        match self {
            // AppSignal's slug, for a client to branch on, beside the gateway's own code.
            GatewayError::AppSignalRejected { slug, .. } => {
                let body = serde_json::json!({ "error": {
                    "status": view.status.as_u16(), "code": view.code,
                    "appsignal_error": slug, "message": view.message,
                } });
                Bytes::from(body.to_string().replace('<', "\\u003c"))
            }
            _ => Self::body_of(&view),
        }
    }

    fn body_of(view: &ClientView) -> Bytes {
        let body = serde_json::json!({
            "error": { "status": view.status.as_u16(), "code": view.code, "message": view.message }
        });
        Bytes::from(body.to_string().replace('<', "\\u003c"))
    }

    /// The GraphQL-shaped body `/graphql` answers errors with:
    /// `{"errors":[{"message":..,"extensions":{"code":..,"status":..}}]}`.
    pub fn graphql_body(&self) -> Bytes {
        let view = self.client_view();
        let body = serde_json::json!({ "errors": [{
            "message": view.message,
            "extensions": { "code": view.code, "status": view.status.as_u16() },
        }] });
        Bytes::from(body.to_string().replace('<', "\\u003c"))
    }

    /// The whole response on `/graphql`: the GraphQL-shaped body, with this error's
    /// status and headers.
    pub fn into_graphql_response(self) -> Response<Body> {
        let view = self.client_view();
        let mut response = response::with_body(view.status, response::JSON, self.graphql_body());
        self.add_headers(&mut response);
        response
    }

    /// The whole JSON response.
    pub fn into_response(self) -> Response<Body> {
        let view = self.client_view();
        let mut response = response::with_body(view.status, response::JSON, self.body());
        self.add_headers(&mut response);
        response
    }

    /// The whole response to a JSONP request: the error body passed to `callback`,
    /// answered **200** with `Cache-Control: no-store`, because a browser runs a
    /// `<script>` only when it is answered 2xx; the body's `status` is the real one.
    pub fn into_jsonp_response(self, callback: &str) -> Response<Body> {
        let body = self.body();
        let mut response = response::with_body(StatusCode::OK, response::JSON, body.clone());
        jsonp::wrap_response(&mut response, callback, &body);
        self.add_headers(&mut response);
        response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// The headers this error calls for: `Allow`, `WWW-Authenticate`, `Retry-After`, `RateLimit`.
    fn add_headers(&self, response: &mut Response<Body>) {
        let headers = response.headers_mut();
        if let GatewayError::MethodNotAllowed(allowed) = self {
            headers.insert(ALLOW, HeaderValue::from_static(allowed.header()));
        }
        if let GatewayError::BodyTimeout = self {
            // The rest of the body may still be on its way: the connection cannot be reused.
            headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let GatewayError::Unauthorized = self {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_seconds(wait)));
        }
        if let GatewayError::RateLimited(refusal) = self {
            let policy = format!("\"client\";q={};w={}", refusal.burst, refusal.window);
            let state = format!("\"client\";r=0;t={}", retry_seconds(refusal.retry_after));
            headers.insert("ratelimit-policy", HeaderValue::from_str(&policy).expect("ascii"));
            headers.insert("ratelimit", HeaderValue::from_str(&state).expect("ascii"));
        }
    }
}

/// Whole seconds for `Retry-After`, rounded up and at least 1.
pub fn retry_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(error: GatewayError, status: u16, code: &str) {
        let view = error.client_view();
        assert_eq!((view.status.as_u16(), view.code), (status, code), "{error:?}");
        assert!(CODES.contains(&code), "{code} is missing from CODES (the API description)");
        let body: serde_json::Value = serde_json::from_slice(&error.body()).unwrap();
        assert_eq!(body["error"]["status"], status);
        assert_eq!(body["error"]["code"], code);
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(error.into_response().status().as_u16(), status);
    }

    #[test]
    fn client_errors() {
        check(GatewayError::BadParameter(ParamError::new("limit", "bad")), 400, "invalid_parameter");
        check(GatewayError::BadCallback, 400, "invalid_callback");
        check(GatewayError::NotFound, 404, "not_found");
        check(GatewayError::ForbiddenOrigin, 403, "forbidden_origin");
        check(GatewayError::CrossSite, 403, "forbidden_cross_site");
        check(GatewayError::MisdirectedHost, 421, "misdirected_request");
        check(GatewayError::UpstreamNotFound, 404, "not_found");
        check(GatewayError::MethodNotAllowed(Allowed::Read), 405, "method_not_allowed");
        check(GatewayError::MethodNotAllowed(Allowed::AdminRead), 405, "method_not_allowed");
        check(GatewayError::MethodNotAllowed(Allowed::AdminPost), 405, "method_not_allowed");
        check(GatewayError::Unauthorized, 401, "unauthorized");
        check(GatewayError::UriTooLong, 414, "uri_too_long");
        check(GatewayError::HeadersTooLarge, 431, "headers_too_large");
        check(GatewayError::Internal, 500, "internal_error");
        check(GatewayError::BadBody("malformed JSON at line 1 column 2".into()), 400, "invalid_body");
        check(GatewayError::UnsupportedMediaType, 415, "unsupported_media_type");
        check(GatewayError::BodyTooLarge, 413, "body_too_large");
        check(GatewayError::BodyTimeout, 408, "body_timeout");
        check(GatewayError::MethodNotAllowed(Allowed::Query), 405, "method_not_allowed");
        check(GatewayError::MethodNotAllowed(Allowed::GraphQl), 405, "method_not_allowed");
        assert_eq!(
            GatewayError::MethodNotAllowed(Allowed::GraphQl).into_response().headers()[ALLOW],
            "GET, HEAD, POST, OPTIONS"
        );
        check(GatewayError::OperationNotAllowed, 403, "operation_not_allowed");
        check(GatewayError::PersistedQueryMismatch, 400, "persisted_query_mismatch");
        let rejected =
            GatewayError::AppSignalRejected { slug: "ungrouped_wildcard".into(), message: "m".into() };
        let body: serde_json::Value = serde_json::from_slice(&rejected.body()).unwrap();
        assert_eq!(body["error"]["appsignal_error"], "ungrouped_wildcard");
        check(rejected, 422, "appsignal_rejected");
        assert_eq!(GatewayError::BodyTimeout.into_response().headers()[http::header::CONNECTION], "close");
        assert_eq!(GatewayError::Unauthorized.into_response().headers()[WWW_AUTHENTICATE], "Bearer");
        let refusal = Refusal { retry_after: Duration::from_millis(1200), burst: 40, window: 2 };
        check(GatewayError::RateLimited(refusal), 429, "rate_limited");
    }

    #[test]
    fn upstream_errors() {
        use UpstreamError as U;
        check(U::Connect("refused".into()).into(), 502, "upstream_unreachable");
        check(U::Broken("reset".into()).into(), 502, "upstream_unreachable");
        check(U::Timeout(Duration::from_secs(1)).into(), 504, "upstream_timeout");
        check(U::Unauthorized(401).into(), 502, "upstream_unauthorized");
        check(U::Throttled(Duration::from_secs(3)).into(), 503, "upstream_rate_limited");
        check(U::BudgetSpent(Duration::from_secs(1)).into(), 503, "upstream_budget_exhausted");
        check(U::Busy(Duration::from_secs(1)).into(), 503, "upstream_queries_busy");
        check(U::Status(500).into(), 502, "upstream_error");
        check(U::NotJson.into(), 502, "upstream_invalid_response");
        check(U::TooLarge(10).into(), 502, "upstream_response_too_large");
        let refused: GatewayError = U::GraphQl("Field 'x' doesn't exist on type 'App'".into()).into();
        assert!(
            refused.client_view().message.contains("Field 'x' doesn't exist"),
            "AppSignal's messages are told"
        );
        check(refused, 502, "appsignal_graphql_error");
    }

    #[test]
    fn graphql_errors_are_graphql_shaped() {
        let error = GatewayError::OperationNotAllowed;
        let body: serde_json::Value = serde_json::from_slice(&error.graphql_body()).unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "operation_not_allowed");
        assert_eq!(body["errors"][0]["extensions"]["status"], 403);
        assert!(body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()));
        let response = GatewayError::MethodNotAllowed(Allowed::GraphQl).into_graphql_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[ALLOW], "GET, HEAD, POST, OPTIONS");
        assert_eq!(response.headers()[http::header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn upstream_details_stay_out_of_the_message() {
        let error: GatewayError = UpstreamError::Connect("dns error for secret.example".into()).into();
        assert!(!String::from_utf8_lossy(&error.body()).contains("secret.example"));
    }

    #[test]
    fn method_not_allowed_lists_methods_and_throttled_says_when() {
        let response = GatewayError::MethodNotAllowed(Allowed::Read).into_response();
        assert_eq!(response.headers()[ALLOW], ALLOWED_METHODS);
        let response = GatewayError::MethodNotAllowed(Allowed::AdminPost).into_response();
        assert_eq!(response.headers()[ALLOW], "POST");
        let throttled = GatewayError::from(UpstreamError::Throttled(Duration::from_millis(2500)));
        assert_eq!(throttled.into_response().headers()[RETRY_AFTER], "3");
        let refusal = Refusal { retry_after: Duration::from_millis(200), burst: 40, window: 2 };
        let response = GatewayError::RateLimited(refusal).into_response();
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        assert_eq!(response.headers()["ratelimit-policy"], "\"client\";q=40;w=2");
        assert_eq!(response.headers()["ratelimit"], "\"client\";r=0;t=1");
    }

    #[test]
    fn jsonp_errors_reach_the_page_with_their_status_in_the_body() {
        let response = GatewayError::NotFound.into_jsonp_response("cb");
        assert_eq!(response.status(), StatusCode::OK, "a browser runs a script only on 2xx");
        assert_eq!(response.headers()[http::header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(response.headers()[http::header::CACHE_CONTROL], "no-store");
        let response = GatewayError::Unauthorized.into_jsonp_response("cb");
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn angle_brackets_are_escaped() {
        let error = GatewayError::BadParameter(ParamError::new("<script>", "is not a parameter"));
        assert!(!error.body().contains(&b'<'));
    }
}
