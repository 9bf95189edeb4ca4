//! A cached answer, its compressed forms, and the headers it is served with.

use std::hash::{DefaultHasher, Hasher};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT_ENCODING, AGE, CACHE_CONTROL, ETAG, IF_NONE_MATCH, VARY};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;

use super::headers;
use crate::compress::{self, Coding};
use crate::jsonp;
use crate::metrics::CacheOutcome;
use crate::response::{Body, CACHE_STATUS, X_REQUEST_ID};

/// One encoding of a body, with what a hit sends alongside it.
#[derive(Debug)]
pub(super) struct Form {
    /// The bytes sent.
    pub(super) body: Bytes,
    /// Strong validator of these bytes, quoted.
    etag: HeaderValue,
    /// Their length, ready to send.
    content_length: HeaderValue,
    /// How the bytes are encoded.
    coding: Coding,
}

impl Form {
    pub(super) fn new(body: Bytes, hash: u64, coding: Coding) -> Self {
        let suffix = match coding {
            Coding::Identity => "",
            Coding::Gzip => "-gz",
            Coding::Brotli => "-br",
        };
        let etag = HeaderValue::from_str(&format!("\"{hash:016x}{suffix}\"")).expect("hex is a valid header");
        Form { content_length: HeaderValue::from(body.len()), etag, coding, body }
    }
}

/// One cached answer: AppSignal's JSON (200) or the gateway's not-found error (404).
///
/// Everything a hit needs that does not depend on the clock is computed once, here:
/// the compressed forms, their ETags and lengths.
#[derive(Debug)]
pub struct Entry {
    /// 200 or 404.
    pub status: StatusCode,
    /// The body as AppSignal sent it.
    pub(super) identity: Form,
    /// gzip form, when compression is on and the body is large enough.
    pub(super) gzip: Option<Form>,
    /// brotli form, likewise.
    pub(super) brotli: Option<Form>,
    /// Whether answers vary by `Accept-Encoding` (compression is on).
    pub(super) vary_encoding: bool,
    /// The hash of the identity body that every form's ETag is made from.
    pub(super) hash: u64,
    /// When the answer arrived; freshness and `Age` count from here.
    pub stored_at: Instant,
    /// How long it is fresh.
    pub ttl: Duration,
    /// `Cache-Control: private, max-age={ttl}`: the whole freshness lifetime, with `Age`
    /// beside it (RFC 9111 §4.2.3), so a browser keeps it exactly as long as we do.
    cache_control: HeaderValue,
    /// How long moka keeps it: `ttl` plus the longest stale window.
    pub retain: Duration,
}

/// How an answer relates to the cache, for `Cache-Status` (RFC 9211).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// A fresh entry.
    Hit,
    /// No entry of this replica's own, a fresh one in the shared tier.
    SharedHit,
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
            CacheStatus::SharedHit => "shared-hit",
            CacheStatus::MissStored => "miss",
            CacheStatus::MissCollapsed => "collapsed",
            CacheStatus::MissNotStored => "miss-not-stored",
            CacheStatus::StaleStored => "stale-refetched",
            CacheStatus::StaleRevalidating => "stale-revalidating",
            CacheStatus::StaleUpstreamError => "stale-upstream-error",
        }
    }

    /// What the cache counters record for this answer.
    pub fn outcome(self) -> CacheOutcome {
        match self {
            CacheStatus::Hit => CacheOutcome::Hit,
            CacheStatus::SharedHit => CacheOutcome::SharedHit,
            CacheStatus::MissStored | CacheStatus::MissNotStored | CacheStatus::StaleStored => {
                CacheOutcome::Miss
            }
            CacheStatus::MissCollapsed => CacheOutcome::Coalesced,
            CacheStatus::StaleRevalidating => CacheOutcome::StaleRevalidating,
            CacheStatus::StaleUpstreamError => CacheOutcome::StaleUpstreamError,
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
            CacheStatus::Hit => return headers::hit(ttl_left),
            CacheStatus::SharedHit => {
                let text = format!(
                    "appsignal-gateway-shared; hit; ttl={ttl_left}, appsignal-gateway; fwd=miss; stored"
                );
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
}

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

impl Entry {
    /// A new entry for `body`, fresh for `ttl` and kept for `retain`. With
    /// `compress_from` set, bodies at least that large also get gzip and brotli forms.
    pub fn new(
        status: StatusCode,
        body: Bytes,
        ttl: Duration,
        retain: Duration,
        compress_from: Option<u64>,
    ) -> Self {
        let mut hasher = DefaultHasher::new();
        hasher.write(&body);
        let hash = hasher.finish();
        let compress = compress_from.is_some_and(|min| body.len() as u64 >= min);
        let vary = compress_from.is_some();
        let gzip = compress.then(|| Form::new(compress::gzip(&body), hash, Coding::Gzip));
        let brotli = compress.then(|| Form::new(compress::brotli(&body), hash, Coding::Brotli));
        let identity = Form::new(body, hash, Coding::Identity);
        Self::assemble(status, (identity, gzip, brotli), hash, vary, Instant::now(), ttl, retain)
    }

    /// An entry from forms already made (by this gateway or, through the shared tier,
    /// by another replica), stored at `stored_at`.
    pub(super) fn assemble(
        status: StatusCode,
        (identity, gzip, brotli): (Form, Option<Form>, Option<Form>),
        hash: u64,
        vary_encoding: bool,
        stored_at: Instant,
        ttl: Duration,
        retain: Duration,
    ) -> Self {
        let cache_control = headers::cache_control(ttl.as_secs());
        Entry { status, identity, gzip, brotli, vary_encoding, hash, stored_at, ttl, cache_control, retain }
    }

    /// Bytes of every form's body together: what the shared tier would hold.
    pub fn body_bytes(&self) -> usize {
        [Some(&self.identity), self.gzip.as_ref(), self.brotli.as_ref()]
            .iter()
            .flatten()
            .map(|f| f.body.len())
            .sum()
    }

    /// How long ago it was stored.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.stored_at)
    }

    /// Fresh time left, zero once expired.
    pub fn ttl_left(&self, now: Instant) -> Duration {
        self.ttl.saturating_sub(self.age(now))
    }

    /// The form for `coding`; negotiation only picks forms that were made.
    fn form(&self, coding: Coding) -> &Form {
        let form = match coding {
            Coding::Identity => None,
            Coding::Gzip => self.gzip.as_ref(),
            Coding::Brotli => self.brotli.as_ref(),
        };
        form.unwrap_or(&self.identity)
    }

    /// The response for this entry: the chosen form (or 304 when `If-None-Match` names
    /// it), with `Cache-Status`, `Age`, `ETag`, `Cache-Control` and `request_id`.
    pub fn respond(
        &self,
        cache_status: CacheStatus,
        now: Instant,
        ask: Ask<'_>,
        request_id: &HeaderValue,
    ) -> Response<Body> {
        let coding = match ask.callback {
            Some(_) => Coding::Identity,
            None => compress::negotiate(ask.accept_encoding, self.gzip.is_some(), self.brotli.is_some()),
        };
        let form = self.form(coding);
        // Only a 200 has a validator: a cached 404 is sent whole.
        let validated = self.status == StatusCode::OK;
        let not_modified = ask.callback.is_none()
            && validated
            && ask.if_none_match.is_some_and(|tags| matches(tags, &form.etag));
        let ttl_left = self.ttl_left(now).as_secs();
        let status_header = cache_status.header(ttl_left);
        let age = headers::age(self.age(now).as_secs());
        let cache_control = self.cache_control.clone();
        if not_modified {
            // Rare enough to build by hand: a 304 carries no content headers.
            let mut headers = HeaderMap::with_capacity(8);
            headers.insert(CACHE_STATUS, status_header);
            headers.insert(AGE, age);
            headers.insert(CACHE_CONTROL, cache_control);
            headers.insert(X_REQUEST_ID, request_id.clone());
            headers.insert(ETAG, form.etag.clone());
            headers.insert(http::header::X_CONTENT_TYPE_OPTIONS, crate::response::NOSNIFF);
            if self.vary_encoding {
                headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
            }
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            *response.headers_mut() = headers;
            return response;
        }
        let template = headers::template(form.coding, self.vary_encoding);
        let values = [
            status_header,
            age,
            cache_control,
            request_id.clone(),
            form.etag.clone(),
            form.content_length.clone(),
        ];
        let mut response = Response::new(Full::new(form.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = headers::filled(template, values);
        if !validated {
            response.headers_mut().remove(ETAG);
        }
        if let Some(callback) = ask.callback {
            jsonp::wrap_response(&mut response, callback, &self.identity.body);
        }
        response
    }

    /// What the weigher charges for this entry under `key`: key, every form with its
    /// header values, and fixed overheads (the entry's own fields, moka's node and timer
    /// bookkeeping, allocator rounding) measured as RSS growth per entry with the
    /// gateway on two worker threads (BENCHMARKS.md), so that `cache.max_size` bounds
    /// memory, not just payload.
    pub fn weight(&self, key: &str) -> u32 {
        const PER_ENTRY: usize = 896;
        const PER_FORM: usize = 256;
        let forms = [Some(&self.identity), self.gzip.as_ref(), self.brotli.as_ref()];
        let bytes: usize = forms.iter().flatten().map(|f| f.body.len() + f.etag.len() + PER_FORM).sum();
        u32::try_from(key.len() + bytes + PER_ENTRY).unwrap_or(u32::MAX)
    }
}

/// Whether `If-None-Match` names `etag` (weak comparison, `*` too).
fn matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(text) = if_none_match.to_str() else { return false };
    let ours = etag.to_str().unwrap_or_default();
    text.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

#[cfg(test)]
mod tests {
    use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};

    use super::*;

    fn entry(body: &'static [u8], compress_from: Option<u64>) -> Entry {
        let ttl = Duration::from_secs(30);
        Entry::new(StatusCode::OK, Bytes::from_static(body), ttl, ttl * 2, compress_from)
    }

    fn id() -> HeaderValue {
        HeaderValue::from_static("req-1")
    }

    fn etag(response: &Response<Body>) -> String {
        response.headers()[ETAG].to_str().unwrap().to_owned()
    }

    #[test]
    fn etag_is_strong_and_follows_the_body() {
        let now = Instant::now();
        let a = etag(&entry(b"{}", None).respond(CacheStatus::Hit, now, Ask::default(), &id()));
        let b = etag(&entry(b"{}", None).respond(CacheStatus::Hit, now, Ask::default(), &id()));
        let c = etag(&entry(b"[]", None).respond(CacheStatus::Hit, now, Ask::default(), &id()));
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
        let entry = entry(b"{}", None);
        let later = entry.stored_at + Duration::from_secs(12);
        let response = entry.respond(CacheStatus::Hit, later, Ask::default(), &id());
        assert_eq!(response.headers()["cache-status"], "appsignal-gateway; hit; ttl=18");
        assert_eq!(response.headers()[AGE], "12");
        // RFC 9111 §4.2.3: the browser subtracts Age from max-age itself.
        assert_eq!(response.headers()[CACHE_CONTROL], "private, max-age=30");
        assert_eq!(response.headers()[X_REQUEST_ID], "req-1");
        let tag = response.headers()[ETAG].clone();
        let ask = Ask { if_none_match: Some(&tag), ..Ask::default() };
        let response = entry.respond(CacheStatus::Hit, later, ask, &id());
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert!(response.headers().get(CONTENT_LENGTH).is_none());
    }

    #[test]
    fn small_bodies_are_not_compressed_and_weights_count_forms() {
        let small = entry(b"{}", Some(1024));
        let accept = HeaderValue::from_static("br");
        let ask = Ask { accept_encoding: Some(&accept), ..Ask::default() };
        let response = small.respond(CacheStatus::Hit, Instant::now(), ask, &id());
        assert!(response.headers().get(CONTENT_ENCODING).is_none());
        assert_eq!(response.headers()[VARY], "accept-encoding");
        let big: &'static [u8] = Box::leak(b"{\"a\":\"xxxxxxxx\"}".repeat(200).into_boxed_slice());
        let plain = entry(big, None);
        let compressed = entry(big, Some(1024));
        assert!(compressed.weight("k") > plain.weight("k"));
        let response = compressed.respond(CacheStatus::Hit, Instant::now(), ask, &id());
        assert_eq!(response.headers()[CONTENT_ENCODING], "br");
    }
}
