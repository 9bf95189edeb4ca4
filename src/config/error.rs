//! Configuration errors: every bad key, with its dotted path and the reason.

use std::fmt;

use super::{Token, REDACTED};

/// One bad key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// The dotted path of the key, such as `cache.ttl.list` or `apps[1].id`.
    pub key: String,
    /// Why it was refused, in words a user can act on.
    pub reason: String,
    /// The environment variable that set the key, when one did: that is where to look.
    pub env: Option<String>,
}

/// Everything wrong with a configuration, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Each bad key once, in the order found.
    pub errors: Vec<KeyError>,
}

impl ConfigError {
    /// A configuration error about one key.
    pub fn single(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError { errors: vec![KeyError { key: key.into(), reason: reason.into(), env: None }] }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(f, "invalid configuration ({n} error{}):", if n == 1 { "" } else { "s" })?;
        for error in &self.errors {
            match &error.env {
                Some(variable) => write!(f, "\n  - {} (set by {variable}): {}", error.key, error.reason)?,
                None => write!(f, "\n  - {}: {}", error.key, error.reason)?,
            }
        }
        Ok(())
    }
}

/// The shortest token scrubbed from configuration messages.
const MIN_SECRET: usize = 6;

/// The secrets a configuration holds, so that no message about it quotes them: a token
/// pasted into the wrong key (`upstream.timeout: "<token>"`) would otherwise be shown by
/// `check`, by the admin reload's 400 and in the error log.
#[derive(Default)]
pub(super) struct Secrets {
    /// The token, when one was given (by `upstream.token`, the file or the environment).
    token: Option<Token>,
    /// The Redis password, and `upstream.base_url`'s userinfo.
    others: Vec<String>,
}

impl Secrets {
    /// What the merged layers hold, read value by value, so a key that fails to parse
    /// does not hide the others.
    pub(super) fn of(figment: &figment::Figment) -> Self {
        use figment::value::Value;
        let text = |key: &str| match figment.find_value(key) {
            Ok(Value::String(_, s)) => Some(s),
            Ok(Value::Num(_, n)) => {
                n.to_u128().map(|n| n.to_string()).or_else(|| n.to_i128().map(|n| n.to_string()))
            }
            _ => None,
        };
        let token = text("upstream.token").or_else(|| {
            let file = text("upstream.token_file")?;
            std::fs::read_to_string(file).ok()
        });
        Self::from_parts(token, text("shared.redis_url"), text("upstream.base_url"))
    }

    /// What a raw configuration holds.
    pub(super) fn of_raw(raw: &super::RawConfig) -> Self {
        let token = raw.upstream.token.as_ref().map(|t| t.expose().to_owned()).or_else(|| {
            let file = raw.upstream.token_file.as_ref()?;
            std::fs::read_to_string(file).ok()
        });
        let redis = raw.shared.redis_url.as_ref().map(|u| u.expose().to_owned());
        Self::from_parts(token, redis, Some(raw.upstream.base_url.clone()))
    }

    fn from_parts(token: Option<String>, redis_url: Option<String>, base_url: Option<String>) -> Self {
        // A value this short is no real token: replacing it everywhere would mangle every
        // message (a test's `token: "t"`) and hide nothing.
        let token = token.map(|t| Token::new(&t)).filter(|t| t.expose().len() >= MIN_SECRET);
        let mut others = Vec::new();
        for url in redis_url.iter().chain(&base_url) {
            others.extend(super::redis_url::userinfo_secrets(url));
        }
        Secrets { token, others }
    }

    /// `error` with every secret replaced by `[redacted]`, in keys and reasons alike.
    pub(super) fn scrub(&self, mut error: ConfigError) -> ConfigError {
        for e in &mut error.errors {
            for text in [&mut e.key, &mut e.reason] {
                *text = self.scrub_text(text);
            }
        }
        error
    }

    fn scrub_text(&self, text: &str) -> String {
        let mut text = match &self.token {
            Some(token) => token.scrub(text).into_owned(),
            None => text.to_owned(),
        };
        for secret in &self.others {
            text = text.replace(secret.as_str(), REDACTED);
        }
        text
    }
}
