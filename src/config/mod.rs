//! Configuration: loading (figment), validation into typed settings, and the token.
//!
//! Two steps, so the rest of the gateway never sees a raw string: [`load`] merges
//! defaults, the YAML file and `APPSIGNAL_GATEWAY_*` environment overrides into a
//! [`RawConfig`], then [`validate`] turns it into [`Settings`], reporting every bad key
//! with its dotted path.

mod error;
mod load;
mod raw;
mod redis_url;
mod settings;
mod token;
mod validate;

pub use error::{ConfigError, KeyError};
pub use load::{load, load_raw, load_raw_env, ENV_PREFIX};
pub use raw::*;
pub use redis_url::RedisUrl;
pub use settings::*;
pub use token::{Token, PREFIX_SHOWN, REDACTED};
pub use validate::{is_identifier, validate, IDENTIFIER_RULE};

/// The YAML printed by `check`: the effective settings, with the token redacted.
pub fn effective_yaml(raw: &RawConfig) -> String {
    // The token serialises as `[redacted]`; see `Token`'s `Serialize`.
    serde_yaml::to_string(raw).unwrap_or_else(|e| format!("# cannot print settings: {e}\n"))
}

/// What is valid but deserves the operator's attention: a certificate that has expired or
/// expires within two weeks. `check` prints these; the gateway logs them at start.
pub fn warnings(settings: &Settings, now: std::time::SystemTime) -> Vec<String> {
    let tls = settings.tls.as_ref();
    tls.and_then(|t| crate::tls::expiry_warning(&t.certified, now)).into_iter().collect()
}
