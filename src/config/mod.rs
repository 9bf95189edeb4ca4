//! Configuration: loading (figment), validation into typed settings, and the token.
//!
//! Two steps, so the rest of the gateway never sees a raw string: [`load`] merges
//! defaults, the YAML file and `APPSIGNAL_GATEWAY_*` environment overrides into a
//! [`RawConfig`], then [`validate`] turns it into [`Settings`], reporting every bad key
//! with its dotted path.

mod durations;
mod error;
mod graphql;
mod load;
mod raw;
mod redis_url;
mod settings;
mod token;
mod validate;

pub use error::{ConfigError, KeyError};
pub use load::{load, load_raw, load_raw_env, ENV_PREFIX};
pub use raw::*;
pub use redis_url::{redact_userinfo, RedisUrl};
pub use settings::*;
pub use token::{Token, PREFIX_SHOWN, REDACTED};
pub use validate::{is_identifier, validate, IDENTIFIER_RULE};

/// The YAML printed by `check`: the effective settings, with the token redacted.
pub fn effective_yaml(raw: &RawConfig) -> String {
    // The token serialises as `[redacted]`; see `Token`'s `Serialize`.
    let printed = serde_yaml::to_value(raw).and_then(|mut tree| {
        durations::normalise(&mut tree);
        serde_yaml::to_string(&tree)
    });
    printed.unwrap_or_else(|e| format!("# cannot print settings: {e}\n"))
}

/// What is valid but deserves the operator's attention: a certificate that has expired or
/// expires within two weeks, and a listener off loopback that answers any `Host` (no
/// `allowed_hosts`). `check` prints these; the gateway logs them at start.
pub fn warnings(settings: &Settings, now: std::time::SystemTime) -> Vec<String> {
    let tls = settings.tls.as_ref();
    let mut warnings: Vec<String> =
        tls.and_then(|t| crate::tls::expiry_warning(&t.certified, now)).into_iter().collect();
    for (key, addr) in [("listen", settings.listen), ("admin_listen", settings.admin_listen)] {
        if settings.allowed_hosts.is_empty() && !addr.ip().is_loopback() {
            warnings.push(format!(
                "{key} ({addr}) is not a loopback address and allowed_hosts is empty: it answers any \
                 Host, so a page that rebinds its DNS name to this address can read it; list the names \
                 clients use in allowed_hosts"
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_off_loopback_without_allowed_hosts_is_warned_about() {
        let mut raw = RawConfig::default();
        raw.upstream.token = Some(Token::new("t0ken-for-tests"));
        raw.apps = vec![RawApp { id: "a1".into(), name: None }];
        let now = std::time::SystemTime::now();
        assert!(warnings(&validate(&raw).unwrap(), now).is_empty());
        raw.listen = "0.0.0.0:8080".into();
        let found = warnings(&validate(&raw).unwrap(), now);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("listen") && found[0].contains("allowed_hosts"), "{found:?}");
        raw.allowed_hosts = vec!["gateway.example.com".into()];
        assert!(warnings(&validate(&raw).unwrap(), now).is_empty());
        raw.allowed_hosts = vec!["https://gateway.example.com".into(), "[::1]".into()];
        let errors = validate(&raw).unwrap_err().errors;
        assert_eq!(errors.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["allowed_hosts[0]"]);
    }

    #[test]
    fn client_share_is_a_fraction_above_zero_up_to_one() {
        let mut raw = RawConfig::default();
        raw.upstream.token = Some(Token::new("t0ken-for-tests"));
        raw.apps = vec![RawApp { id: "a1".into(), name: None }];
        assert_eq!(validate(&raw).unwrap().upstream.client_share, 0.5);
        for bad in [0.0, -0.5, 1.5, f64::NAN] {
            raw.upstream.rate_limit.client_share = bad;
            let errors = validate(&raw).unwrap_err().errors;
            assert_eq!(errors[0].key, "upstream.rate_limit.client_share", "{bad}");
        }
        raw.upstream.rate_limit.client_share = 1.0;
        assert_eq!(validate(&raw).unwrap().upstream.client_share, 1.0);
    }
}
