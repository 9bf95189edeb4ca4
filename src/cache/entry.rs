//! A cached answer and the headers it is served with.

use std::hash::{DefaultHasher, Hasher};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, AGE, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;

use crate::jsonp;
use crate::response::{self, Body};

/// One cached answer: AppSignal's JSON (200) or the gateway's not-found error (404).
///
/// Everything a hit needs that does not depend on the clock is computed once, here.
#[derive(Debug)]
pub struct Entry {
    /// 200 or 404.
    pub status: StatusCode,
    /// The body served, shared by every hit.
    pub body: Bytes,
    /// Strong validator of the body, quoted.
    pub etag: HeaderValue,
    /// The body length, ready to send.
    content_length: HeaderValue,
    /// When the answer arrived; freshness and `Age` count from here.
    pub stored_at: Instant,
    /// How long it is fresh.
    pub ttl: Duration,
    /// How long moka keeps it: `ttl` plus the longest stale window.
    pub retain: Duration,
}

/// How an answer relates to the cache, for `Cache-Status` (RFC 9211).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// A fresh entry.
    Hit,
    /// No entry: fetched and stored.
    MissStored,
    /// No entry: waited for a fetch another request started.
    MissCollapsed,
    /// No entry, and the answer was not stored (a TTL of zero).
    MissNotStored,
    /// An expired entry refetched and replaced.
    StaleStored,
    /// An expired entry served at once while one refresh runs.
    StaleRevalidating,
    /// An expired entry served because AppSignal failed.
    StaleUpstreamError,
}

impl CacheStatus {
    /// A short name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::MissStored => "miss",
            CacheStatus::MissCollapsed => "collapsed",
            CacheStatus::MissNotStored => "miss-not-stored",
            CacheStatus::StaleStored => "stale-refetched",
            CacheStatus::StaleRevalidating => "stale-revalidating",
            CacheStatus::StaleUpstreamError => "stale-upstream-error",
        }
    }

    /// Whether the answer came from an upstream call this request made or waited for.
    pub fn went_upstream(self) -> bool {
        matches!(
            self,
            CacheStatus::MissStored
                | CacheStatus::MissCollapsed
                | CacheStatus::MissNotStored
                | CacheStatus::StaleStored
        )
    }

    /// The `Cache-Status` value.
    fn header(self, ttl_left: u64) -> HeaderValue {
        let text = match self {
            CacheStatus::Hit => {
                return HeaderValue::from_str(&format!("appsignal-gateway; hit; ttl={ttl_left}"))
                    .expect("ascii")
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
}

impl Entry {
    /// A new entry for `body`, fresh for `ttl` and kept for `retain`.
    pub fn new(status: StatusCode, body: Bytes, ttl: Duration, retain: Duration) -> Self {
        let mut hasher = DefaultHasher::new();
        hasher.write(&body);
        let etag = format!("\"{:016x}{:x}\"", hasher.finish(), body.len());
        Entry {
            status,
            etag: HeaderValue::from_str(&etag).expect("hex is a valid header"),
            content_length: HeaderValue::from(body.len()),
            body,
            stored_at: Instant::now(),
            ttl,
            retain,
        }
    }

    /// How long ago it was stored.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.stored_at)
    }

    /// Fresh time left, zero once expired.
    pub fn ttl_left(&self, now: Instant) -> Duration {
        self.ttl.saturating_sub(self.age(now))
    }

    /// Whether `If-None-Match` names this entry's ETag (weak comparison, `*` too).
    pub fn matches(&self, if_none_match: &HeaderValue) -> bool {
        let Ok(text) = if_none_match.to_str() else {
            return false;
        };
        let ours = self.etag.to_str().unwrap_or_default();
        text.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
    }

    /// The response for this entry: the body (or 304 when `not_modified`), with
    /// `Cache-Status`, `Age`, `ETag` and `Cache-Control`; JSONP when `callback` is given.
    pub fn respond(
        &self,
        status: CacheStatus,
        now: Instant,
        not_modified: bool,
        callback: Option<&str>,
    ) -> Response<Body> {
        let ttl_left = self.ttl_left(now).as_secs();
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert("cache-status", status.header(ttl_left));
        headers.insert(AGE, HeaderValue::from(self.age(now).as_secs()));
        headers.insert(CACHE_CONTROL, cache_control(ttl_left));
        headers.insert(ETAG, self.etag.clone());
        let (status, body) = if not_modified {
            (StatusCode::NOT_MODIFIED, Bytes::new())
        } else {
            headers.insert(CONTENT_TYPE, response::JSON);
            headers.insert(CONTENT_LENGTH, self.content_length.clone());
            (self.status, self.body.clone())
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        if let Some(callback) = callback {
            jsonp::wrap_response(&mut response, callback, &self.body);
        }
        response
    }

    /// What the weigher charges for this entry under `key`: key, body, validator and
    /// a fixed overhead for the entry's own fields and moka's bookkeeping.
    pub fn weight(&self, key: &str) -> u32 {
        const OVERHEAD: usize = 160;
        let bytes = key.len() + self.body.len() + self.etag.len() + OVERHEAD;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

fn cache_control(ttl_left: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("private, max-age={ttl_left}")).expect("ascii")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_is_strong_and_follows_the_body() {
        let a = Entry::new(
            StatusCode::OK,
            Bytes::from_static(b"{}"),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let b = Entry::new(
            StatusCode::OK,
            Bytes::from_static(b"{}"),
            Duration::from_secs(9),
            Duration::from_secs(9),
        );
        let c = Entry::new(
            StatusCode::OK,
            Bytes::from_static(b"[]"),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
        assert!(!a.etag.to_str().unwrap().starts_with("W/"));
        assert!(a.matches(&a.etag));
        assert!(a.matches(&HeaderValue::from_str(&format!("\"x\", W/{}", a.etag.to_str().unwrap())).unwrap()));
        assert!(a.matches(&HeaderValue::from_static("*")));
        assert!(!a.matches(&c.etag));
    }

    #[test]
    fn headers_count_down() {
        let entry = Entry::new(
            StatusCode::OK,
            Bytes::from_static(b"{}"),
            Duration::from_secs(30),
            Duration::from_secs(60),
        );
        let later = entry.stored_at + Duration::from_secs(12);
        let response = entry.respond(CacheStatus::Hit, later, false, None);
        assert_eq!(response.headers()["cache-status"], "appsignal-gateway; hit; ttl=18");
        assert_eq!(response.headers()[AGE], "12");
        assert_eq!(response.headers()[CACHE_CONTROL], "private, max-age=18");
        let response = entry.respond(CacheStatus::Hit, later, true, None);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert!(response.headers().get(CONTENT_LENGTH).is_none());
    }
}
