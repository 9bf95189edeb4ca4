//! Typed, validated settings: what the rest of the gateway reads.
//!
//! Nothing outside `config` sees a raw string from the file: durations are
//! [`Duration`]s, sizes are byte counts, rates are non-zero, addresses are parsed.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tracing_subscriber::filter::Targets;

use super::{RedisUrl, Token};
use crate::route::Apps;

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where browsers and dashboards connect.
    pub listen: SocketAddr,
    /// Where `/metrics`, `/healthz`, `/readyz` and the cache purge are served; never public.
    pub admin_listen: SocketAddr,
    /// The `Host` names both listeners answer besides the loopback names (lower-case,
    /// without port); empty: loopback names only on a loopback listener, any otherwise.
    pub allowed_hosts: Vec<String>,
    /// HTTPS on `listen` (HTTP/2 and HTTP/1.1 by ALPN); `None` serves plain HTTP/1.1.
    pub tls: Option<TlsSettings>,
    /// How the gateway reaches AppSignal.
    pub upstream: UpstreamSettings,
    /// The allowlisted apps, by id and alias.
    pub apps: Apps,
    /// How answers are cached: the size bound, TTLs per class and the stale windows.
    pub cache: CacheSettings,
    /// Per-client limits and who is trusted to name a client.
    pub clients: ClientSettings,
    /// Response compression for clients that accept it.
    pub compression: CompressionSettings,
    /// Cross-origin access for browsers.
    pub cors: CorsSettings,
    /// JSONP output for script-tag clients.
    pub jsonp: JsonpSettings,
    /// What one client can make the gateway hold.
    pub limits: Limits,
    /// Logging.
    pub log: LogSettings,
    /// The tier replicas share through Redis; `None` stands alone.
    pub shared: Option<SharedSettings>,
    /// AppSignal's GraphQL API, through declared operations only.
    pub graphql: GraphqlSettings,
}

/// `graphql.*`: the declared operations, checked.
#[derive(Debug, Clone)]
pub struct GraphqlSettings {
    /// `graphql.enabled`: whether `/graphql` and the operations' GET routes answer.
    pub enabled: bool,
    /// The built-in operations (when `graphql.builtin`) and `graphql.operations`, each
    /// checked; empty when GraphQL is off.
    pub operations: Arc<crate::graphql::Operations>,
}

/// `upstream.*`: the AppSignal API and the gateway's use of it. Compared whole by a
/// reload (`PartialEq`): any difference builds a new upstream client, so a field added
/// here can never be kept stale across a reload by a hand-written comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSettings {
    /// Where AppSignal is: the gateway calls `{base_url}/api/...`.
    pub base_url: BaseUrl,
    /// The AppSignal personal API token, from `token`, `token_file` or the environment.
    pub token: Token,
    /// Extra PEM root certificates trusted besides the built-in web roots.
    pub ca_file: Option<PathBuf>,
    /// Bound on establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Bound on the whole exchange: connect, headers and body.
    pub timeout: Duration,
    /// A larger upstream body is abandoned and answered 502.
    pub max_response_size: u64,
    /// V2 queries in flight at once (AppSignal caps concurrent queries per account);
    /// more wait for a slot, at most `timeout`.
    pub max_concurrent_queries: NonZeroUsize,
    /// The longest `from`..`to` window a V2 query may ask for; a longer one is a 400.
    pub max_query_range: Duration,
    /// The gateway's own budget for calls to AppSignal.
    pub rate_limit: Rate,
    /// The most of `rate_limit` (of its rate and of its burst) one client may spend, in
    /// (0, 1]; 1 turns the per-client share off.
    pub client_share: f64,
}

/// `upstream.base_url`, parsed: an `http` or `https` URL with a host, no query and no
/// fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// The parsed URL.
    url: url::Url,
    /// Scheme, authority and optional path prefix without a trailing slash: what an
    /// upstream path is appended to.
    prefix: String,
}

impl BaseUrl {
    /// `text` as a base URL, or why it is not one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| e.to_string())?;
        let plain = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.query().is_none()
            && url.fragment().is_none();
        if !plain {
            return Err("must be an http:// or https:// URL with a host and no query".into());
        }
        let prefix = url.as_str().trim_end_matches('/').to_owned();
        Ok(BaseUrl { url, prefix })
    }

    /// What an upstream path (`/api/...`) is appended to.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The parsed URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }
}

/// A token bucket: refilled at `per_second`, holding at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: NonZeroU32,
    /// Bucket capacity: how many calls may come at once after a quiet spell.
    pub burst: NonZeroU32,
}

/// `cache.*`
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Bound on cached bytes, keys and bodies together.
    pub max_size: u64,
    /// Freshness per class of answer.
    pub ttl: Ttls,
    /// Whether V2 `from`/`to` are rounded down to a multiple of the route's TTL, so
    /// dashboards asking for "the last hour" within one step share one entry.
    pub align_times: bool,
    /// How long after expiry an entry is still served at once while one refresh runs.
    pub stale_while_revalidate: Duration,
    /// How long after expiry an entry is served when AppSignal fails.
    pub stale_if_error: Duration,
}

impl CacheSettings {
    /// How long an entry fresh for `ttl` is kept: its TTL plus the longest stale window,
    /// so it can still be served stale afterwards.
    pub fn retain_for(&self, ttl: Duration) -> Duration {
        ttl + self.stale_while_revalidate.max(self.stale_if_error)
    }

    /// The longest TTL of any class: no entry this gateway stores is fresher for longer.
    pub fn max_ttl(&self) -> Duration {
        let t = &self.ttl;
        [
            t.list,
            t.show,
            t.not_found,
            t.graphs,
            t.markers,
            t.metrics,
            t.logs,
            t.traces,
            t.deploys,
            t.graphql,
            t.longest_operation,
        ]
        .into_iter()
        .max()
        .unwrap_or_default()
    }
}

/// `cache.ttl.*`: how long each class of answer stays fresh.
#[derive(Debug, Clone, Copy)]
pub struct Ttls {
    /// The three sample lists.
    pub list: Duration,
    /// One sample by id.
    pub show: Duration,
    /// AppSignal's 404s.
    pub not_found: Duration,
    /// `graphs.json`.
    pub graphs: Duration,
    /// `markers.json`.
    pub markers: Duration,
    /// `/api/v2/metrics/*`.
    pub metrics: Duration,
    /// `/api/v2/logs/lines`.
    pub logs: Duration,
    /// `/api/v2/tracing/*`.
    pub traces: Duration,
    /// `/api/v2/deploys/stats`.
    pub deploys: Duration,
    /// A declared GraphQL operation without a `ttl` of its own.
    pub graphql: Duration,
    /// The longest `ttl` a declared operation sets (zero when none does), so the shared
    /// tier trusts an entry that fresh.
    pub longest_operation: Duration,
}

/// `clients.*`
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Per client address (or per key name when keys are configured).
    pub rate_limit: Rate,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Dashboard keys; when any is listed, every request needs one.
    pub keys: Vec<DashboardKey>,
}

/// One dashboard key from `clients.keys`.
#[derive(Debug, Clone)]
pub struct DashboardKey {
    /// Shown in logs and metrics; the key itself never is.
    pub name: Arc<str>,
    /// SHA-256 of the key.
    pub sha256: [u8; 32],
    /// App ids this key may read; `None` means every allowlisted app.
    pub apps: Option<Vec<Arc<str>>>,
}

/// `compression.*`
#[derive(Debug, Clone, Copy)]
pub struct CompressionSettings {
    /// Whether gzip and brotli are offered at all.
    pub enabled: bool,
    /// Bodies smaller than this are sent as they are.
    pub min_size: u64,
}

impl CompressionSettings {
    /// Whether a body of `len` bytes gets compressed forms: the one threshold rule.
    pub fn applies_to(&self, len: usize) -> bool {
        self.enabled && len as u64 >= self.min_size
    }
}

/// `cors.*`
#[derive(Debug, Clone)]
pub struct CorsSettings {
    /// Which pages may read answers.
    pub allowed_origins: AllowedOrigins,
    /// How long a browser may cache a preflight answer.
    pub max_age: Duration,
}

/// `cors.allowed_origins`, checked: every listed origin a valid `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `"*"` was listed: every origin.
    Any,
    /// Exactly these origins (none: CORS is off), ready to compare with an `Origin`
    /// header and to send back in `Access-Control-Allow-Origin`.
    List(Vec<http::HeaderValue>),
}

/// `jsonp.*`
#[derive(Debug, Clone)]
pub struct JsonpSettings {
    /// Whether a callback parameter turns the answer into JSONP.
    pub enabled: bool,
    /// The query parameter naming the callback.
    pub callback_param: String,
}

/// `limits.*`: what one client can make the gateway hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open client connections; more wait in the accept queue.
    pub max_connections: NonZeroUsize,
    /// A longer request target is answered 414.
    pub max_uri_length: usize,
    /// Larger request headers are answered 431.
    pub max_header_size: usize,
    /// A client that has not sent its whole header by then is dropped.
    pub header_read_timeout: Duration,
    /// Keep-alive connections idle this long are closed.
    pub idle_timeout: Duration,
    /// Upstream calls in flight at once; more wait their turn.
    pub max_upstream_concurrency: NonZeroUsize,
    /// A larger request body (V2 queries) is answered 413, before or while reading it.
    pub max_body_size: usize,
    /// A client that has not sent its whole body by then is answered 408 and its
    /// connection closed.
    pub body_read_timeout: Duration,
}

/// `log.*`
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Human-readable lines or one JSON object per line.
    pub format: LogFormat,
    /// Which events are written, as `tracing` filter directives (`info`, `debug,hyper=info`).
    pub level: Targets,
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when the output is a terminal.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `shared.*`: replicas that name the same Redis behave as one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSettings {
    /// `redis://` or `rediss://` (TLS); its password is redacted in every printed form.
    pub redis_url: RedisUrl,
    /// `redis_url` names one node of a Redis Cluster.
    pub cluster: bool,
    /// Every key the gateway writes starts with it, so several fleets can share one Redis.
    pub key_prefix: String,
    /// Bound on opening a connection to Redis.
    pub connect_timeout: Duration,
    /// Bound on one command: past it the replica acts alone for that request.
    pub command_timeout: Duration,
    /// Larger answers stay in the replica's own cache only.
    pub max_entry_size: u64,
}

/// `tls.*`: the certificate and key `listen` serves, read and checked as a pair when the
/// configuration is loaded (at start and by every reload).
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key: PKCS#8, RSA or EC.
    pub key_file: PathBuf,
    /// The pair as read, its key checked against the leaf.
    pub certified: Arc<rustls::sign::CertifiedKey>,
}
