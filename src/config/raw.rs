//! The configuration exactly as the YAML file and the environment give it.
//!
//! Step one of two: figment fills these structs (defaults → file → environment) and
//! rejects unknown keys; [`super::validate`] then turns them into typed
//! [`super::Settings`]. Durations and sizes stay strings here so that validation can
//! report every bad one with its path. Each field's meaning is documented on the typed
//! settings and in `config/gateway.yaml`.

use serde::{Deserialize, Serialize};

use super::{RedisUrl, Token};

/// The whole file: see `config/gateway.yaml` for every key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawConfig {
    pub listen: String,
    pub admin_listen: String,
    pub allowed_hosts: Vec<String>,
    pub tls: RawTls,
    pub upstream: RawUpstream,
    pub apps: Vec<RawApp>,
    pub cache: RawCache,
    pub clients: RawClients,
    pub compression: RawCompression,
    pub cors: RawCors,
    pub jsonp: RawJsonp,
    pub limits: RawLimits,
    pub log: RawLog,
    pub shared: RawShared,
    pub graphql: RawGraphql,
}

/// `graphql.*`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawGraphql {
    pub enabled: bool,
    pub builtin: bool,
    pub operations: Vec<RawOperation>,
}

impl Default for RawGraphql {
    fn default() -> Self {
        RawGraphql { enabled: true, builtin: true, operations: Vec::new() }
    }
}

/// One entry of `graphql.operations`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawOperation {
    pub name: String,
    pub file: String,
    #[serde(default)]
    pub ttl: Option<String>,
}

/// `tls.*`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawTls {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
}

/// `upstream.*`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawUpstream {
    /// Printed (by `check`) with any userinfo redacted.
    #[serde(serialize_with = "redacted_base_url")]
    pub base_url: String,
    pub token: Option<Token>,
    pub token_file: Option<String>,
    pub ca_file: Option<String>,
    pub connect_timeout: String,
    pub timeout: String,
    pub max_response_size: String,
    pub max_concurrent_queries: u64,
    pub max_query_range: String,
    pub rate_limit: RawUpstreamRate,
}

/// `upstream.rate_limit`: a token-bucket rate and the share of it one client may spend.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawUpstreamRate {
    pub per_second: u64,
    pub burst: u64,
    pub client_share: f64,
}

impl Default for RawUpstreamRate {
    fn default() -> Self {
        RawUpstreamRate { per_second: 10, burst: 20, client_share: 0.5 }
    }
}

fn redacted_base_url<S: serde::Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&super::redis_url::redact_userinfo(url))
}

/// A token-bucket rate: `per_second` refill, `burst` capacity.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawRate {
    pub per_second: u64,
    pub burst: u64,
}

/// One entry of `apps`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawApp {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// `cache.*`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawCache {
    pub max_size: String,
    pub ttl: RawTtl,
    pub align_times: bool,
    pub stale_while_revalidate: String,
    pub stale_if_error: String,
}

/// `cache.ttl.*`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawTtl {
    pub list: String,
    pub show: String,
    pub not_found: String,
    pub graphs: String,
    pub markers: String,
    pub metrics: String,
    pub logs: String,
    pub traces: String,
    pub deploys: String,
    pub graphql: String,
}

/// `clients.*`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawClients {
    pub rate_limit: RawRate,
    pub trusted_proxies: Vec<String>,
    pub keys: Vec<RawKey>,
}

/// One entry of `clients.keys`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawKey {
    pub name: String,
    pub sha256: String,
    #[serde(default)]
    pub apps: Option<Vec<String>>,
}

/// `compression.*`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawCompression {
    pub enabled: bool,
    pub min_size: String,
}

/// `cors.*`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawCors {
    pub allowed_origins: Vec<String>,
    pub max_age: String,
}

/// `jsonp.*`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawJsonp {
    pub enabled: bool,
    pub callback_param: String,
}

/// `limits.*`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawLimits {
    pub max_connections: u64,
    pub max_uri_length: String,
    pub max_header_size: String,
    pub header_read_timeout: String,
    pub idle_timeout: String,
    pub max_upstream_concurrency: u64,
    pub max_body_size: String,
    pub body_read_timeout: String,
}

/// `shared.*`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawShared {
    pub redis_url: Option<RedisUrl>,
    pub cluster: bool,
    pub key_prefix: String,
    pub connect_timeout: String,
    pub command_timeout: String,
    pub max_entry_size: String,
}

/// `log.*`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawLog {
    pub format: String,
    pub level: String,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:9090".into(),
            allowed_hosts: Vec::new(),
            tls: RawTls::default(),
            upstream: RawUpstream::default(),
            apps: Vec::new(),
            cache: RawCache::default(),
            clients: RawClients::default(),
            compression: RawCompression::default(),
            cors: RawCors::default(),
            jsonp: RawJsonp::default(),
            limits: RawLimits::default(),
            log: RawLog::default(),
            shared: RawShared::default(),
            graphql: RawGraphql::default(),
        }
    }
}

impl Default for RawUpstream {
    fn default() -> Self {
        RawUpstream {
            base_url: "https://appsignal.com".into(),
            token: None,
            token_file: None,
            ca_file: None,
            connect_timeout: "3s".into(),
            timeout: "20s".into(),
            max_response_size: "32MiB".into(),
            max_concurrent_queries: 4,
            max_query_range: "31d".into(),
            rate_limit: RawUpstreamRate::default(),
        }
    }
}

impl Default for RawCache {
    fn default() -> Self {
        RawCache {
            max_size: "256MiB".into(),
            ttl: RawTtl::default(),
            align_times: true,
            stale_while_revalidate: "30s".into(),
            stale_if_error: "10m".into(),
        }
    }
}

impl Default for RawTtl {
    fn default() -> Self {
        RawTtl {
            list: "30s".into(),
            show: "1h".into(),
            not_found: "30s".into(),
            graphs: "60s".into(),
            markers: "5m".into(),
            metrics: "30s".into(),
            logs: "10s".into(),
            traces: "60s".into(),
            deploys: "5m".into(),
            graphql: "30s".into(),
        }
    }
}

impl Default for RawClients {
    fn default() -> Self {
        RawClients {
            rate_limit: RawRate { per_second: 20, burst: 40 },
            trusted_proxies: Vec::new(),
            keys: Vec::new(),
        }
    }
}

impl Default for RawCompression {
    fn default() -> Self {
        RawCompression { enabled: true, min_size: "1KiB".into() }
    }
}

impl Default for RawCors {
    fn default() -> Self {
        RawCors { allowed_origins: Vec::new(), max_age: "10m".into() }
    }
}

impl Default for RawJsonp {
    fn default() -> Self {
        RawJsonp { enabled: true, callback_param: "callback".into() }
    }
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_connections: 10_000,
            max_uri_length: "8KiB".into(),
            max_header_size: "16KiB".into(),
            header_read_timeout: "10s".into(),
            idle_timeout: "60s".into(),
            max_upstream_concurrency: 64,
            max_body_size: "64KiB".into(),
            body_read_timeout: "10s".into(),
        }
    }
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog { format: "pretty".into(), level: "info".into() }
    }
}

impl Default for RawShared {
    fn default() -> Self {
        RawShared {
            redis_url: None,
            cluster: false,
            key_prefix: "appsignal-gateway:".into(),
            connect_timeout: "1s".into(),
            command_timeout: "100ms".into(),
            max_entry_size: "4MiB".into(),
        }
    }
}
