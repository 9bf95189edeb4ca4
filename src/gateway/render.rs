//! An entry as a response: the form the client accepts (or a 304 when `If-None-Match`
//! names it), with `Cache-Status`, `Age`, `ETag`, `Cache-Control` and `X-Request-Id`,
//! JSONP-wrapped when a callback was given.

use std::time::Instant;

use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT_ENCODING, AGE, CACHE_CONTROL, ETAG, IF_NONE_MATCH, VARY, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;

use super::headers;
use crate::cache::{CacheStatus, Entry, Form};
use crate::compress::{self, Coding};
use crate::jsonp;
use crate::response::{Body, CACHE_STATUS, NOSNIFF, X_REQUEST_ID};

/// What a request asks of an entry besides its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ask<'a> {
    /// `If-None-Match`, for a 304.
    pub if_none_match: Option<&'a HeaderValue>,
    /// `Accept-Encoding`, to pick a form.
    pub accept_encoding: Option<&'a HeaderValue>,
    /// A JSONP callback: the answer is wrapped, never compressed, and has no ETag.
    pub callback: Option<&'a str>,
}

impl<'a> Ask<'a> {
    /// What the request headers ask, with an optional JSONP callback.
    pub fn from_headers(headers: &'a HeaderMap, callback: Option<&'a str>) -> Self {
        Ask {
            if_none_match: headers.get(IF_NONE_MATCH),
            accept_encoding: headers.get(ACCEPT_ENCODING),
            callback,
        }
    }
}

/// The response for `entry` as of `now`, labelled `status`.
pub fn render(
    entry: &Entry,
    status: CacheStatus,
    now: Instant,
    ask: Ask<'_>,
    request_id: &HeaderValue,
) -> Response<Body> {
    let coding = match ask.callback {
        Some(_) => Coding::Identity,
        None => compress::negotiate(ask.accept_encoding, entry.gzip().is_some(), entry.brotli().is_some()),
    };
    let form = form(entry, coding);
    // Only a 200 has a validator: a cached 404 is sent whole.
    let validated = entry.status == StatusCode::OK;
    let not_modified = ask.callback.is_none()
        && validated
        && ask.if_none_match.is_some_and(|tags| matches(tags, form.etag()));
    let status_header = cache_status(status, entry.ttl_left(now).as_secs());
    let age = headers::age(entry.age(now).as_secs());
    let cache_control = entry.cache_control().clone();
    if not_modified {
        // Rare enough to build by hand: a 304 carries no content headers.
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(CACHE_STATUS, status_header);
        headers.insert(AGE, age);
        headers.insert(CACHE_CONTROL, cache_control);
        headers.insert(X_REQUEST_ID, request_id.clone());
        headers.insert(ETAG, form.etag().clone());
        headers.insert(X_CONTENT_TYPE_OPTIONS, NOSNIFF);
        if entry.vary_encoding() {
            headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        }
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        *response.headers_mut() = headers;
        return response;
    }
    let template = headers::template(coding, entry.vary_encoding(), validated);
    let values = [status_header, age, cache_control, request_id.clone(), form.content_length().clone()];
    let mut response = Response::new(Full::new(form.body().clone()));
    *response.status_mut() = entry.status;
    *response.headers_mut() = headers::filled(template, values, validated.then(|| form.etag().clone()));
    if let Some(callback) = ask.callback {
        jsonp::wrap_response(&mut response, callback, entry.identity().body());
    }
    response
}

/// The form for `coding`; negotiation only picks forms that were made.
fn form(entry: &Entry, coding: Coding) -> &Form {
    let form = match coding {
        Coding::Identity => None,
        Coding::Gzip => entry.gzip(),
        Coding::Brotli => entry.brotli(),
    };
    form.unwrap_or(entry.identity())
}

/// The `Cache-Status` value (RFC 9211) for an answer with `ttl_left` fresh seconds.
fn cache_status(status: CacheStatus, ttl_left: u64) -> HeaderValue {
    let text = match status {
        CacheStatus::Hit => return headers::hit(ttl_left),
        CacheStatus::SharedHit => {
            let text =
                format!("appsignal-gateway-shared; hit; ttl={ttl_left}, appsignal-gateway; fwd=miss; stored");
            return HeaderValue::try_from(text).expect("digits are a valid header");
        }
        CacheStatus::MissStored => "appsignal-gateway; fwd=miss; stored",
        CacheStatus::MissCollapsed => "appsignal-gateway; fwd=miss; collapsed",
        CacheStatus::MissNotStored => "appsignal-gateway; fwd=miss",
        CacheStatus::StaleStored => "appsignal-gateway; fwd=stale; stored",
        CacheStatus::StaleRevalidating => "appsignal-gateway; hit; fwd=stale; detail=revalidating",
        CacheStatus::StaleUpstreamError => "appsignal-gateway; fwd=stale; detail=upstream-error",
    };
    HeaderValue::from_static(text)
}

/// Whether `If-None-Match` names `etag` (weak comparison, `*` too).
fn matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(text) = if_none_match.to_str() else { return false };
    let ours = etag.to_str().unwrap_or_default();
    text.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};

    use super::*;
    use crate::cache::Compressed;

    fn entry(body: &'static [u8], compressed: bool) -> Entry {
        let ttl = Duration::from_secs(30);
        let forms =
            compressed.then(|| Compressed { gzip: compress::gzip(body), brotli: compress::brotli(body) });
        Entry::new(StatusCode::OK, Bytes::from_static(body), forms, compressed, ttl, ttl * 2)
    }

    fn id() -> HeaderValue {
        HeaderValue::from_static("req-1")
    }

    fn etag(response: &Response<Body>) -> String {
        response.headers()[ETAG].to_str().unwrap().to_owned()
    }

    fn hit(entry: &Entry, now: Instant, ask: Ask<'_>) -> Response<Body> {
        render(entry, CacheStatus::Hit, now, ask, &id())
    }

    #[test]
    fn etag_is_strong_and_follows_the_body() {
        let now = Instant::now();
        let a = etag(&hit(&entry(b"{}", false), now, Ask::default()));
        let b = etag(&hit(&entry(b"{}", false), now, Ask::default()));
        let c = etag(&hit(&entry(b"[]", false), now, Ask::default()));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with('"'));
        let tag = |s: &str| HeaderValue::from_str(s).unwrap();
        assert!(matches(&tag(&a), &tag(&a)));
        assert!(matches(&tag(&format!("\"x\", W/{a}")), &tag(&a)));
        assert!(matches(&tag("*"), &tag(&a)));
        assert!(!matches(&tag(&c), &tag(&a)));
    }

    #[test]
    fn age_counts_up_beside_the_whole_max_age() {
        let entry = entry(b"{}", false);
        let later = entry.stored_at + Duration::from_secs(12);
        let response = hit(&entry, later, Ask::default());
        assert_eq!(response.headers()["cache-status"], "appsignal-gateway; hit; ttl=18");
        assert_eq!(response.headers()[AGE], "12");
        // RFC 9111 §4.2.3: the browser subtracts Age from max-age itself.
        assert_eq!(response.headers()[CACHE_CONTROL], "private, max-age=30");
        assert_eq!(response.headers()[X_REQUEST_ID], "req-1");
        let tag = response.headers()[ETAG].clone();
        let ask = Ask { if_none_match: Some(&tag), ..Ask::default() };
        let response = hit(&entry, later, ask);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert!(response.headers().get(CONTENT_LENGTH).is_none());
    }

    #[test]
    fn uncompressed_bodies_vary_and_compressed_ones_are_chosen() {
        let small = entry(b"{}", false);
        let small =
            Entry::new(StatusCode::OK, small.identity().body().clone(), None, true, small.ttl, small.retain);
        let accept = HeaderValue::from_static("br");
        let ask = Ask { accept_encoding: Some(&accept), ..Ask::default() };
        let response = hit(&small, Instant::now(), ask);
        assert!(response.headers().get(CONTENT_ENCODING).is_none());
        assert_eq!(response.headers()[VARY], "accept-encoding");
        let big: &'static [u8] = Box::leak(b"{\"a\":\"xxxxxxxx\"}".repeat(200).into_boxed_slice());
        let plain = entry(big, false);
        let compressed = entry(big, true);
        assert!(compressed.weight("k") > plain.weight("k"));
        let response = hit(&compressed, Instant::now(), ask);
        assert_eq!(response.headers()[CONTENT_ENCODING], "br");
    }

    #[test]
    fn a_cached_404_has_no_validator() {
        let ttl = Duration::from_secs(30);
        let entry = Entry::new(StatusCode::NOT_FOUND, Bytes::from_static(b"{}"), None, false, ttl, ttl);
        let response = render(&entry, CacheStatus::Hit, Instant::now(), Ask::default(), &id());
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(response.headers().get(ETAG).is_none());
        assert_eq!(response.headers()[AGE], "0");
    }
}
