//! Configuration errors: every bad key, with its dotted path and the reason.

use std::fmt;

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
