//! A cached answer and its compressed forms, with the values a hit sends beside each
//! (ETag, `Content-Length`, `Cache-Control`) made once when it is stored. How an entry
//! becomes a response is the gateway's business (`gateway::render`).

use std::hash::{DefaultHasher, Hasher};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HeaderValue;
use http::StatusCode;

use crate::metrics::CacheOutcome;

/// Which encoding a form holds; its ETag carries the encoding's suffix, so a validator
/// never names two different byte strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FormKind {
    Identity,
    Gzip,
    Brotli,
}

impl FormKind {
    fn etag_suffix(self) -> &'static str {
        match self {
            FormKind::Identity => "",
            FormKind::Gzip => "-gz",
            FormKind::Brotli => "-br",
        }
    }
}

/// One encoding of a body, with what a hit sends alongside it.
#[derive(Debug)]
pub struct Form {
    /// The bytes sent.
    body: Bytes,
    /// Strong validator of these bytes, quoted.
    etag: HeaderValue,
    /// Their length, ready to send.
    content_length: HeaderValue,
}

impl Form {
    pub(super) fn new(body: Bytes, hash: u64, kind: FormKind) -> Self {
        let suffix = kind.etag_suffix();
        let etag = HeaderValue::from_str(&format!("\"{hash:016x}{suffix}\"")).expect("hex is a valid header");
        Form { content_length: HeaderValue::from(body.len()), etag, body }
    }

    /// The bytes sent.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Strong validator of these bytes, quoted.
    pub fn etag(&self) -> &HeaderValue {
        &self.etag
    }

    /// Their length, as a header value.
    pub fn content_length(&self) -> &HeaderValue {
        &self.content_length
    }
}

/// The compressed forms of a body, made by whoever builds the entry.
#[derive(Debug, Clone, Default)]
pub struct Compressed {
    /// The gzip form.
    pub gzip: Bytes,
    /// The brotli form.
    pub brotli: Bytes,
}

/// One cached answer: AppSignal's JSON (200) or the gateway's not-found error (404).
///
/// Everything a hit needs that does not depend on the clock is computed once, here:
/// the compressed forms, their ETags and lengths.
#[derive(Debug)]
pub struct Entry {
    /// 200, 404, or 422 (a V2 query AppSignal refused).
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

/// How an answer relates to the cache: what `Cache-Status` (RFC 9211), the access line
/// and the cache counters say about it.
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
            CacheStatus::MissCollapsed => CacheOutcome::Collapsed,
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

    /// What a request whose own entry had expired reports when the fill it waited for
    /// brought a new one: that entry, refetched.
    pub fn refetched(self) -> CacheStatus {
        match self {
            CacheStatus::MissStored | CacheStatus::MissCollapsed | CacheStatus::MissNotStored => {
                CacheStatus::StaleStored
            }
            other => other,
        }
    }

    /// What a request that joined another request's flight reports: the answer came
    /// from a call it waited for, not one it made.
    pub fn for_follower(self) -> CacheStatus {
        match self {
            CacheStatus::MissStored | CacheStatus::MissNotStored => CacheStatus::MissCollapsed,
            other => other,
        }
    }
}

impl Entry {
    /// A new entry for `body` and its `compressed` forms (if any were made), fresh for
    /// `ttl` and kept for `retain`. `vary_encoding`: answers vary by `Accept-Encoding`
    /// (compression is on, whether or not this body was large enough for it).
    pub fn new(
        status: StatusCode,
        body: Bytes,
        compressed: Option<Compressed>,
        vary_encoding: bool,
        ttl: Duration,
        retain: Duration,
    ) -> Self {
        let mut hasher = DefaultHasher::new();
        hasher.write(&body);
        let hash = hasher.finish();
        let (gzip, brotli) = match compressed {
            Some(c) => (
                Some(Form::new(c.gzip, hash, FormKind::Gzip)),
                Some(Form::new(c.brotli, hash, FormKind::Brotli)),
            ),
            None => (None, None),
        };
        let identity = Form::new(body, hash, FormKind::Identity);
        Self::assemble(status, (identity, gzip, brotli), hash, vary_encoding, Instant::now(), ttl, retain)
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
        // Made once per stored entry, never per hit. An answer fresh for no time is one
        // that is not stored (a GraphQL answer carrying `errors`): no browser keeps it either.
        let cache_control = match ttl.is_zero() {
            true => HeaderValue::from_static("no-store"),
            false => HeaderValue::try_from(format!("private, max-age={}", ttl.as_secs()))
                .expect("digits are a valid header"),
        };
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

    /// The body as AppSignal sent it.
    pub fn identity(&self) -> &Form {
        &self.identity
    }

    /// The gzip form, when one was made.
    pub fn gzip(&self) -> Option<&Form> {
        self.gzip.as_ref()
    }

    /// The brotli form, when one was made.
    pub fn brotli(&self) -> Option<&Form> {
        self.brotli.as_ref()
    }

    /// Whether answers vary by `Accept-Encoding` (compression is on).
    pub fn vary_encoding(&self) -> bool {
        self.vary_encoding
    }

    /// `Cache-Control: private, max-age={ttl}`, made when the entry was.
    pub fn cache_control(&self) -> &HeaderValue {
        &self.cache_control
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
