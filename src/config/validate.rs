//! Step two of loading: raw strings into typed [`Settings`], collecting every error.

use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Uri};
use ipnet::IpNet;
use tracing_subscriber::filter::Targets;

use super::raw::{RawConfig, RawRate, RawShared, RawTls, RawUpstream, RawUpstreamRate};
use super::settings::*;
use super::{ConfigError, KeyError, Token};
use crate::route::{self, App, Apps};

/// What [`is_identifier`] accepts, in words.
pub const IDENTIFIER_RULE: &str = "must be 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'";

/// Whether `value` may be an app id, an app alias or a dashboard key's name: these
/// appear in paths, logs and metric labels. The one rule, for the config and `key new`.
pub fn is_identifier(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !value.starts_with('.')
}

/// Validates a raw configuration into settings, reporting every bad key at once: first
/// the files it names are read ([`Files::read`], the only IO), then every value is
/// checked.
pub fn validate(raw: &RawConfig) -> Result<Settings, ConfigError> {
    let mut c = Collector::default();
    let files = Files::read(&mut c, raw);
    let settings = build(&mut c, raw, files);
    if c.errors.is_empty() {
        Ok(settings)
    } else {
        // A secret pasted into the wrong key must not be quoted back.
        Err(super::error::Secrets::of_raw(raw).scrub(ConfigError { errors: c.errors }))
    }
}

/// What the configuration names on disk, read before any value is checked, so the
/// checks themselves do no IO: the token file and the TLS pair (checked to match).
/// A file that cannot be read is an error in the same collector.
struct Files {
    /// The token read from `upstream.token_file`, when only that is set.
    token: Option<Token>,
    /// The certificate and key of `tls`, when both are set and they load.
    tls: Option<Arc<rustls::sign::CertifiedKey>>,
    /// The document of each of `graphql.operations`, when it could be read.
    graphql: Vec<Option<String>>,
}

impl Files {
    fn read(c: &mut Collector, raw: &RawConfig) -> Self {
        let token = match (&raw.upstream.token, &raw.upstream.token_file) {
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(text) => Some(Token::new(&text)),
                Err(e) => {
                    c.fail("upstream.token_file", format!("cannot read {path}: {e}"));
                    None
                }
            },
            _ => None,
        };
        let tls = match (&raw.tls.cert_file, &raw.tls.key_file) {
            (Some(cert), Some(key)) => match crate::tls::load_pair(&PathBuf::from(cert), &PathBuf::from(key))
            {
                Ok(certified) => Some(certified),
                Err(e) => {
                    c.fail(e.key(), e.to_string());
                    None
                }
            },
            _ => None,
        };
        let graphql = match raw.graphql.enabled {
            true => raw
                .graphql
                .operations
                .iter()
                .enumerate()
                .map(|(i, op)| match std::fs::read_to_string(&op.file) {
                    Ok(text) => Some(text),
                    Err(e) => {
                        c.fail(
                            format!("graphql.operations[{i}].file"),
                            format!("cannot read {}: {e}", op.file),
                        );
                        None
                    }
                })
                .collect(),
            false => Vec::new(),
        };
        Files { token, tls, graphql }
    }
}

fn build(c: &mut Collector, raw: &RawConfig, files: Files) -> Settings {
    let apps = apps(c, raw);
    let graphql = super::graphql::graphql(c, &raw.graphql, files.graphql);
    Settings {
        listen: c.socket_addr("listen", &raw.listen),
        admin_listen: c.socket_addr("admin_listen", &raw.admin_listen),
        allowed_hosts: allowed_hosts(c, &raw.allowed_hosts),
        tls: tls(c, &raw.tls, files.tls),
        upstream: upstream(c, &raw.upstream, files.token),
        cache: CacheSettings {
            max_size: c.size("cache.max_size", &raw.cache.max_size),
            ttl: Ttls {
                list: c.duration("cache.ttl.list", &raw.cache.ttl.list, false),
                show: c.duration("cache.ttl.show", &raw.cache.ttl.show, false),
                not_found: c.duration("cache.ttl.not_found", &raw.cache.ttl.not_found, false),
                graphs: c.duration("cache.ttl.graphs", &raw.cache.ttl.graphs, false),
                markers: c.duration("cache.ttl.markers", &raw.cache.ttl.markers, false),
                metrics: c.duration("cache.ttl.metrics", &raw.cache.ttl.metrics, false),
                logs: c.duration("cache.ttl.logs", &raw.cache.ttl.logs, false),
                traces: c.duration("cache.ttl.traces", &raw.cache.ttl.traces, false),
                deploys: c.duration("cache.ttl.deploys", &raw.cache.ttl.deploys, false),
                graphql: c.duration("cache.ttl.graphql", &raw.cache.ttl.graphql, false),
                longest_operation: graphql.operations.longest_ttl().unwrap_or_default(),
            },
            align_times: raw.cache.align_times,
            stale_while_revalidate: c.duration(
                "cache.stale_while_revalidate",
                &raw.cache.stale_while_revalidate,
                false,
            ),
            stale_if_error: c.duration("cache.stale_if_error", &raw.cache.stale_if_error, false),
        },
        clients: ClientSettings {
            rate_limit: c.rate("clients.rate_limit", &raw.clients.rate_limit),
            trusted_proxies: raw
                .clients
                .trusted_proxies
                .iter()
                .enumerate()
                .filter_map(|(i, s)| c.cidr(&format!("clients.trusted_proxies[{i}]"), s))
                .collect(),
            keys: keys(c, raw, &apps),
        },
        compression: CompressionSettings {
            enabled: raw.compression.enabled,
            min_size: c.size("compression.min_size", &raw.compression.min_size),
        },
        cors: CorsSettings {
            allowed_origins: c.origins(&raw.cors.allowed_origins),
            max_age: c.duration("cors.max_age", &raw.cors.max_age, false),
        },
        jsonp: JsonpSettings {
            enabled: raw.jsonp.enabled,
            callback_param: callback_param(c, &raw.jsonp.callback_param),
        },
        limits: Limits {
            max_connections: c.nonzero_usize("limits.max_connections", raw.limits.max_connections),
            max_uri_length: c.size("limits.max_uri_length", &raw.limits.max_uri_length) as usize,
            max_header_size: c.size("limits.max_header_size", &raw.limits.max_header_size) as usize,
            header_read_timeout: c.duration(
                "limits.header_read_timeout",
                &raw.limits.header_read_timeout,
                true,
            ),
            idle_timeout: c.duration("limits.idle_timeout", &raw.limits.idle_timeout, true),
            max_upstream_concurrency: c
                .nonzero_usize("limits.max_upstream_concurrency", raw.limits.max_upstream_concurrency),
            max_body_size: c.size("limits.max_body_size", &raw.limits.max_body_size) as usize,
            body_read_timeout: c.duration("limits.body_read_timeout", &raw.limits.body_read_timeout, true),
        },
        log: LogSettings {
            format: match raw.log.format.as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                _ => {
                    c.fail("log.format", "must be \"pretty\" or \"json\"");
                    LogFormat::Pretty
                }
            },
            level: Targets::from_str(&raw.log.level).unwrap_or_else(|e| {
                c.fail("log.level", format!("not a level or filter ({e})"));
                Targets::new()
            }),
        },
        shared: shared(c, &raw.shared),
        graphql,
        apps,
    }
}

/// Both files or neither; when both, the pair was read and checked by [`Files::read`],
/// so that a bad pair fails `check`, the start and a reload alike.
fn tls(
    c: &mut Collector,
    raw: &RawTls,
    pair: Option<Arc<rustls::sign::CertifiedKey>>,
) -> Option<TlsSettings> {
    let (cert_file, key_file) = match (&raw.cert_file, &raw.key_file) {
        (None, None) => return None,
        (Some(cert), Some(key)) => (PathBuf::from(cert), PathBuf::from(key)),
        (Some(_), None) => {
            c.fail("tls.key_file", "must be set with tls.cert_file (both, or neither for plain HTTP)");
            return None;
        }
        (None, Some(_)) => {
            c.fail("tls.cert_file", "must be set with tls.key_file (both, or neither for plain HTTP)");
            return None;
        }
    };
    // A pair that did not load is already an error.
    pair.map(|certified| TlsSettings { cert_file, key_file, certified })
}

fn shared(c: &mut Collector, raw: &RawShared) -> Option<SharedSettings> {
    let settings = SharedSettings {
        redis_url: raw.redis_url.clone()?,
        cluster: raw.cluster,
        key_prefix: raw.key_prefix.clone(),
        connect_timeout: c.duration("shared.connect_timeout", &raw.connect_timeout, true),
        command_timeout: c.duration("shared.command_timeout", &raw.command_timeout, true),
        max_entry_size: c.size("shared.max_entry_size", &raw.max_entry_size),
    };
    if let Err(reason) = settings.redis_url.check() {
        c.fail("shared.redis_url", reason);
    }
    if raw.key_prefix.len() > 64
        || raw.key_prefix.contains(['{', '}'])
        || raw.key_prefix.contains(char::is_whitespace)
    {
        c.fail("shared.key_prefix", "must be at most 64 characters, without spaces or braces");
    }
    Some(settings)
}

fn upstream(c: &mut Collector, raw: &RawUpstream, file_token: Option<Token>) -> UpstreamSettings {
    UpstreamSettings {
        base_url: c.base_url("upstream.base_url", &raw.base_url),
        token: token(c, raw, file_token),
        ca_file: raw.ca_file.as_ref().map(PathBuf::from),
        connect_timeout: c.duration("upstream.connect_timeout", &raw.connect_timeout, true),
        timeout: c.duration("upstream.timeout", &raw.timeout, true),
        max_response_size: c.size("upstream.max_response_size", &raw.max_response_size),
        max_concurrent_queries: c
            .nonzero_usize("upstream.max_concurrent_queries", raw.max_concurrent_queries),
        max_query_range: c.duration("upstream.max_query_range", &raw.max_query_range, true),
        rate_limit: c.rate("upstream.rate_limit", &upstream_rate(&raw.rate_limit)),
        client_share: client_share(c, raw.rate_limit.client_share),
    }
}

fn upstream_rate(raw: &RawUpstreamRate) -> RawRate {
    RawRate { per_second: raw.per_second, burst: raw.burst }
}

fn client_share(c: &mut Collector, share: f64) -> f64 {
    if !(share > 0.0 && share <= 1.0) {
        c.fail(
            "upstream.rate_limit.client_share",
            "must be a fraction above 0 and at most 1 (1 turns the per-client share off)",
        );
        return 1.0;
    }
    share
}

/// Host names as `Host` carries them, without a port: letters, digits, `-` and `.`, or
/// an IPv6 literal in brackets.
fn allowed_hosts(c: &mut Collector, raw: &[String]) -> Vec<String> {
    let mut hosts = Vec::new();
    for (i, host) in raw.iter().enumerate() {
        let name = host.trim();
        let ipv6 = name.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        let ok = match ipv6 {
            Some(literal) => literal.parse::<std::net::Ipv6Addr>().is_ok(),
            None => {
                !name.is_empty()
                    && name.len() <= 253
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            }
        };
        if ok {
            hosts.push(name.to_ascii_lowercase());
        } else {
            c.fail(
                format!("allowed_hosts[{i}]"),
                "must be a host name or address as `Host` carries it, without scheme, port or path \
                 (\"gateway.example.com\", \"10.0.0.5\", \"[fd00::5]\")",
            );
        }
    }
    hosts
}

/// The token comes from exactly one of `upstream.token` (the file or the environment
/// override) and `upstream.token_file` (read by [`Files::read`] into `file_token`).
fn token(c: &mut Collector, raw: &RawUpstream, file_token: Option<Token>) -> Token {
    let token = match (&raw.token, &raw.token_file) {
        (Some(_), Some(_)) => {
            c.fail("upstream.token_file", "set either upstream.token or upstream.token_file, not both");
            return Token::new("");
        }
        (Some(token), None) => token.clone(),
        (None, Some(_)) => match file_token {
            Some(token) => token,
            // Unreadable: already an error.
            None => return Token::new(""),
        },
        (None, None) => {
            c.fail(
                "upstream.token",
                "no AppSignal API token: set the environment variable \
                 APPSIGNAL_GATEWAY_UPSTREAM__TOKEN, or upstream.token_file to a file holding it",
            );
            return Token::new("");
        }
    };
    if token.is_empty() {
        let key = if raw.token.is_some() { "upstream.token" } else { "upstream.token_file" };
        c.fail(key, "the AppSignal API token is empty");
    }
    token
}

fn apps(c: &mut Collector, raw: &RawConfig) -> Apps {
    if raw.apps.is_empty() {
        c.fail("apps", "list at least one AppSignal app id: an app not listed is a 404");
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut list = Vec::new();
    for (i, app) in raw.apps.iter().enumerate() {
        let mut ok = c.identifier(&format!("apps[{i}].id"), &app.id);
        if let Some(name) = &app.name {
            ok &= c.identifier(&format!("apps[{i}].name"), name);
        }
        // `/api/v2/...` is AppSignal's V2 API: an app spelled `v2` could never be reached.
        for (field, value) in [("id", Some(&app.id)), ("name", app.name.as_ref())] {
            if value.is_some_and(|v| v == "v2") {
                c.fail(format!("apps[{i}].{field}"), "\"v2\" is reserved for the V2 API paths (/api/v2/...)");
                ok = false;
            }
        }
        for (field, value) in [("id", Some(&app.id)), ("name", app.name.as_ref())] {
            let Some(value) = value else { continue };
            if seen.contains(&value.as_str()) {
                c.fail(format!("apps[{i}].{field}"), format!("\"{value}\" is already used by another app"));
                ok = false;
            }
            seen.push(value);
        }
        if ok {
            list.push(App { id: Arc::from(app.id.as_str()), name: app.name.clone() });
        }
    }
    Apps::new(list)
}

fn keys(c: &mut Collector, raw: &RawConfig, apps: &Apps) -> Vec<DashboardKey> {
    let mut names: Vec<&str> = Vec::new();
    let mut keys = Vec::new();
    for (i, key) in raw.clients.keys.iter().enumerate() {
        let mut ok = c.identifier(&format!("clients.keys[{i}].name"), &key.name);
        if names.contains(&key.name.as_str()) {
            c.fail(format!("clients.keys[{i}].name"), "another key has this name");
            ok = false;
        }
        names.push(&key.name);
        let sha256 = parse_sha256(&key.sha256);
        if sha256.is_none() {
            c.fail(format!("clients.keys[{i}].sha256"), "must be 64 hexadecimal digits (a SHA-256)");
        }
        let mut key_apps = Vec::new();
        for (j, app) in key.apps.iter().flatten().enumerate() {
            match apps.resolve(app) {
                Some(id) => key_apps.push(id.clone()),
                None => {
                    c.fail(format!("clients.keys[{i}].apps[{j}]"), format!("\"{app}\" is not a listed app"));
                    ok = false;
                }
            }
        }
        if let (true, Some(sha256)) = (ok, sha256) {
            let apps = key.apps.as_ref().map(|_| key_apps);
            keys.push(DashboardKey { name: Arc::from(key.name.as_str()), sha256, apps });
        }
    }
    keys
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

fn callback_param(c: &mut Collector, name: &str) -> String {
    let valid =
        !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        c.fail("jsonp.callback_param", "must be 1 to 64 letters, digits or underscores");
    } else if route::is_reserved_param(name) {
        c.fail("jsonp.callback_param", format!("\"{name}\" is already a query parameter of a route"));
    }
    name.to_owned()
}

/// Records errors and hands back placeholder values so validation can go on.
#[derive(Default)]
pub(super) struct Collector {
    errors: Vec<KeyError>,
}

impl Collector {
    pub(super) fn fail(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(KeyError { key: key.into(), reason: reason.into(), env: None });
    }

    pub(super) fn duration(&mut self, key: &str, value: &str, positive: bool) -> Duration {
        match humantime::parse_duration(value) {
            Ok(d) if positive && d.is_zero() => {
                self.fail(key, "must be longer than zero");
                d
            }
            Ok(d) => d,
            Err(e) => {
                self.fail(
                    key,
                    format!("\"{value}\" is not a duration like \"500ms\", \"30s\" or \"10m\" ({e})"),
                );
                Duration::ZERO
            }
        }
    }

    fn size(&mut self, key: &str, value: &str) -> u64 {
        match bytesize::ByteSize::from_str(value) {
            Ok(size) if size.as_u64() == 0 => {
                self.fail(key, "must be larger than zero");
                0
            }
            Ok(size) => size.as_u64(),
            Err(_) => {
                self.fail(key, format!("\"{value}\" is not a size like \"64KiB\", \"256MiB\" or \"1GiB\""));
                0
            }
        }
    }

    fn rate(&mut self, key: &str, rate: &RawRate) -> Rate {
        Rate {
            per_second: self.nonzero_u32(&format!("{key}.per_second"), rate.per_second),
            burst: self.nonzero_u32(&format!("{key}.burst"), rate.burst),
        }
    }

    fn nonzero_u32(&mut self, key: &str, value: u64) -> NonZeroU32 {
        match u32::try_from(value).ok().and_then(NonZeroU32::new) {
            Some(n) => n,
            None => {
                self.fail(key, format!("must be a whole number from 1 to {}", u32::MAX));
                NonZeroU32::MIN
            }
        }
    }

    fn nonzero_usize(&mut self, key: &str, value: u64) -> NonZeroUsize {
        match usize::try_from(value).ok().and_then(NonZeroUsize::new) {
            Some(n) => n,
            None => {
                self.fail(key, "must be a whole number of at least 1");
                NonZeroUsize::MIN
            }
        }
    }

    fn socket_addr(&mut self, key: &str, value: &str) -> SocketAddr {
        value.parse().unwrap_or_else(|_| {
            self.fail(key, format!("\"{value}\" is not an address like \"127.0.0.1:8080\""));
            SocketAddr::from(([127, 0, 0, 1], 0))
        })
    }

    fn cidr(&mut self, key: &str, value: &str) -> Option<IpNet> {
        let parsed = IpNet::from_str(value).ok().or_else(|| IpAddr::from_str(value).ok().map(IpNet::from));
        if parsed.is_none() {
            self.fail(key, format!("\"{value}\" is not an address or CIDR like \"10.0.0.0/8\""));
        }
        parsed
    }

    /// Ids, aliases and key names: they appear in paths, logs and metric labels.
    fn identifier(&mut self, key: &str, value: &str) -> bool {
        let ok = is_identifier(value);
        if !ok {
            self.fail(key, IDENTIFIER_RULE);
        }
        ok
    }

    fn base_url(&mut self, key: &str, value: &str) -> BaseUrl {
        match BaseUrl::parse(value) {
            Ok(url) => url,
            Err(why) => {
                let shown = super::redis_url::redact_userinfo(value);
                self.fail(key, format!("\"{shown}\" is not a base URL: {why}"));
                BaseUrl::parse("http://invalid.invalid").expect("a valid placeholder")
            }
        }
    }

    /// `cors.allowed_origins`: `*` anywhere allows every origin; every other entry must
    /// be an origin, and a bad one is an error (never dropped).
    fn origins(&mut self, values: &[String]) -> AllowedOrigins {
        let mut list = Vec::new();
        for (i, value) in values.iter().enumerate() {
            if let Some(origin) = self.origin(&format!("cors.allowed_origins[{i}]"), value) {
                list.push(origin);
            }
        }
        match values.iter().any(|o| o == "*") {
            true => AllowedOrigins::Any,
            false => AllowedOrigins::List(list),
        }
    }

    /// One entry of `cors.allowed_origins`: `*`, or an origin as a header value.
    fn origin(&mut self, key: &str, value: &str) -> Option<HeaderValue> {
        if value == "*" {
            return Some(HeaderValue::from_static("*"));
        }
        let ok = Uri::from_str(value).is_ok_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.authority().is_some()
                // A bare origin parses with the path "/"; the text itself must not have one.
                && uri.path_and_query().is_none_or(|p| matches!(p.as_str(), "" | "/"))
                && !value.ends_with('/')
        });
        let header = HeaderValue::from_str(value).ok().filter(|_| ok);
        if header.is_none() {
            self.fail(key, format!("\"{value}\" is not \"*\" or an origin like \"https://dash.example.com\" (no path, no trailing slash)"));
        }
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact_scheme_host_port() {
        let mut c = Collector::default();
        for ok in ["*", "https://dash.example.com", "http://127.0.0.1:3000"] {
            assert_eq!(c.origin("o", ok), Some(HeaderValue::from_static(ok)));
        }
        for bad in
            ["dash.example.com", "https://dash.example.com/", "https://dash.example.com/app", "ftp://x.y"]
        {
            assert_eq!(c.origin("o", bad), None, "{bad} accepted");
        }
        assert_eq!(c.errors.len(), 4);
    }

    #[test]
    fn defaults_need_only_a_token_and_an_app() {
        let mut raw = RawConfig::default();
        let errors = validate(&raw).unwrap_err().errors;
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["apps", "upstream.token"]);
        raw.upstream.token = Some(Token::new("t"));
        raw.apps = vec![super::super::RawApp { id: "a1".into(), name: Some("blog".into()) }];
        let settings = validate(&raw).unwrap();
        assert_eq!(settings.cache.ttl.list, Duration::from_secs(30));
        assert_eq!(settings.apps.resolve("blog").map(|id| &**id), Some("a1"));
    }

    #[test]
    fn a_token_pasted_into_the_wrong_key_is_not_quoted() {
        let mut raw = RawConfig::default();
        raw.upstream.token = Some(Token::new("tok-SECRET-0123456789"));
        raw.upstream.timeout = "tok-SECRET-0123456789".into();
        raw.apps = vec![super::super::RawApp { id: "a1".into(), name: None }];
        let errors = validate(&raw).unwrap_err();
        assert_eq!(errors.errors[0].key, "upstream.timeout");
        assert!(!errors.to_string().contains("tok-SECRET"), "{errors}");
        assert!(errors.to_string().contains("[redacted]"), "{errors}");
    }
}
