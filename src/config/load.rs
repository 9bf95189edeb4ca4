//! Step one of loading: defaults → YAML file → environment, through figment.
//!
//! Serde stops at the first bad key, but a user deserves to see them all. So the merged
//! tree is extracted as a plain value first; each failed extraction records the key it
//! failed on, removes that key from the tree, and tries again, so that unknown keys and
//! ill-typed values are all collected before validation adds its own errors.

use std::path::Path;

use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Yaml};
use figment::value::Value;
use figment::Figment;

use super::raw::RawConfig;
use super::{validate, ConfigError, KeyError, Settings};

/// The environment prefix; `__` separates levels (`APPSIGNAL_GATEWAY_UPSTREAM__TOKEN`).
pub const ENV_PREFIX: &str = "APPSIGNAL_GATEWAY_";

/// How many bad keys are collected before giving up on finding more.
const MAX_ERRORS: usize = 64;

/// Loads and validates the configuration at `path` with the environment's overrides.
pub fn load(path: &Path) -> Result<(RawConfig, Settings), ConfigError> {
    let raw = load_raw(path)?;
    let settings = validate(&raw)?;
    Ok((raw, settings))
}

/// Reads the raw configuration: defaults, then the file, then the environment.
pub fn load_raw(path: &Path) -> Result<RawConfig, ConfigError> {
    if !path.is_file() {
        return Err(ConfigError::single(
            "--config",
            format!("{} does not exist or is not a file", path.display()),
        ));
    }
    let figment = Figment::from(Serialized::defaults(RawConfig::default()))
        .merge(Yaml::file_exact(path))
        .merge(Env::prefixed(ENV_PREFIX).split("__"));
    let tree: Value = figment.extract().map_err(|e| {
        let errors = e.into_iter().map(|e| key_error(&e)).collect();
        ConfigError { errors }
    })?;
    extract_all(tree)
}

/// Extracts [`RawConfig`] from a merged tree, collecting every structural error.
fn extract_all(mut tree: Value) -> Result<RawConfig, ConfigError> {
    let mut errors = Vec::new();
    loop {
        match Figment::from(Serialized::defaults(&tree)).extract::<RawConfig>() {
            Ok(raw) if errors.is_empty() => return Ok(raw),
            Ok(raw) => {
                // Validation of what did parse may find more to report.
                if let Err(more) = validate(&raw) {
                    errors.extend(more.errors);
                }
                return Err(ConfigError { errors });
            }
            Err(e) => {
                let path = bad_path(&e);
                errors.push(key_error(&e));
                if errors.len() >= MAX_ERRORS || !remove(&mut tree, &path) {
                    return Err(ConfigError { errors });
                }
            }
        }
    }
}

/// The path of the value that made `e` (figment includes an unknown field's own name).
fn bad_path(e: &figment::Error) -> Vec<String> {
    e.path.clone()
}

fn key_error(e: &figment::Error) -> KeyError {
    let path = bad_path(e);
    let mut key = String::new();
    for part in &path {
        if part.parse::<usize>().is_ok() {
            key.push_str(&format!("[{part}]"));
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(part);
        }
    }
    let reason = match &e.kind {
        Kind::UnknownField(_, expected) => {
            format!("unknown key; expected one of: {}", expected.join(", "))
        }
        Kind::MissingField(field) => format!("missing required key `{field}`"),
        other => other.to_string(),
    };
    KeyError { key: if key.is_empty() { "(root)".into() } else { key }, reason }
}

/// Removes the value at `path` from the tree; false if there is nothing to remove,
/// which would make the retry loop spin.
fn remove(tree: &mut Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = tree;
    for part in parents {
        node = match node {
            Value::Dict(_, dict) => match dict.get_mut(part) {
                Some(child) => child,
                None => return false,
            },
            Value::Array(_, items) => match part.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(child) => child,
                None => return false,
            },
            _ => return false,
        };
    }
    match node {
        Value::Dict(_, dict) => dict.remove(last).is_some(),
        Value::Array(_, items) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => {
                items.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    }
}
