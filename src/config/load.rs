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

use super::durations;
use super::error::Secrets;
use super::raw::RawConfig;
use super::{validate, ConfigError, KeyError, Settings};

/// The environment prefix; `__` separates levels (`APPSIGNAL_GATEWAY_UPSTREAM__TOKEN`).
pub const ENV_PREFIX: &str = "APPSIGNAL_GATEWAY_";

/// How many bad keys are collected before giving up on finding more.
const MAX_ERRORS: usize = 64;

/// Loads and validates the configuration at `path` with the environment's overrides.
pub fn load(path: &Path) -> Result<(RawConfig, Settings), ConfigError> {
    let raw = load_raw(path)?;
    let settings = validated(&raw)?;
    Ok((raw, settings))
}

/// Reads the raw configuration: defaults, then the file, then the environment.
pub fn load_raw(path: &Path) -> Result<RawConfig, ConfigError> {
    load_layers(Some(path))
}

/// Reads the raw configuration of a run without a file (the demo): the defaults, then
/// the environment.
pub fn load_raw_env() -> Result<RawConfig, ConfigError> {
    load_layers(None)
}

fn load_layers(path: Option<&Path>) -> Result<RawConfig, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
    if let Some(path) = path {
        if !path.is_file() {
            return Err(ConfigError::single(
                "--config",
                format!("{} does not exist or is not a file", path.display()),
            ));
        }
        figment = figment.merge(Yaml::file_exact(path));
    }
    let figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
    let secrets = Secrets::of(&figment);
    let tree: Value = figment.extract().map_err(|e| {
        let errors = e.into_iter().map(|e| key_error(&e)).collect();
        secrets.scrub(from_environment(ConfigError { errors }))
    })?;
    extract_all(tree).map_err(|e| secrets.scrub(from_environment(e)))
}

/// Loads and validates, naming the environment variable behind each bad key that one set.
fn validated(raw: &RawConfig) -> Result<Settings, ConfigError> {
    // `validate` scrubs its own messages of the secrets `raw` holds.
    validate(raw).map_err(from_environment)
}

/// Marks each error whose key an `APPSIGNAL_GATEWAY_*` variable set, so the user is sent
/// to the variable, not to a file that may not even hold the key.
fn from_environment(mut error: ConfigError) -> ConfigError {
    let overrides: Vec<(String, String)> = std::env::vars()
        .filter_map(|(name, _)| {
            let key = name.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase().replace("__", ".");
            Some((key, name))
        })
        .collect();
    for e in &mut error.errors {
        let set_by = overrides.iter().find(|(key, _)| {
            e.key == *key || e.key.strip_prefix(key.as_str()).is_some_and(|rest| rest.starts_with(['.', '[']))
        });
        if let Some((_, variable)) = set_by {
            e.env = Some(variable.clone());
        }
    }
    error
}

/// Extracts [`RawConfig`] from a merged tree, collecting every structural error.
fn extract_all(mut tree: Value) -> Result<RawConfig, ConfigError> {
    let mut errors: Vec<KeyError> = Vec::new();
    // Keys taken out of the tree after an error: that they are now missing, or that
    // validation finds them empty, is the same error again, not a new one.
    let mut removed: Vec<String> = Vec::new();
    loop {
        match Figment::from(Serialized::defaults(&tree)).extract::<RawConfig>() {
            Ok(raw) if errors.is_empty() => return Ok(raw),
            Ok(raw) => {
                // Validation of what did parse may find more to report.
                if let Err(more) = validate(&raw) {
                    errors.extend(more.errors.into_iter().filter(|e| !removed.contains(&e.key)));
                }
                return Err(ConfigError { errors });
            }
            Err(e) => {
                let path = bad_path(&e);
                if let Kind::MissingField(field) = &e.kind {
                    let missing = key_name(&[path.clone(), vec![field.to_string()]].concat());
                    if removed.contains(&missing) {
                        // Nothing more can be extracted without the key already reported.
                        return Err(ConfigError { errors });
                    }
                }
                errors.push(key_error(&e));
                removed.push(key_name(&path));
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

/// `["apps", "0", "id"]` as `apps[0].id`.
fn key_name(path: &[String]) -> String {
    let mut key = String::new();
    for part in path {
        if part.parse::<usize>().is_ok() {
            key.push_str(&format!("[{part}]"));
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(part);
        }
    }
    key
}

fn key_error(e: &figment::Error) -> KeyError {
    let key = key_name(&bad_path(e));
    let reason = match &e.kind {
        Kind::UnknownField(_, expected) => {
            format!("unknown key; expected one of: {}", expected.join(", "))
        }
        Kind::MissingField(field) => format!("missing required key `{field}`"),
        Kind::InvalidType(actual, _) => {
            durations::bare_number(&key, actual).unwrap_or_else(|| e.kind.to_string())
        }
        other => other.to_string(),
    };
    KeyError { key: if key.is_empty() { "(root)".into() } else { key }, reason, env: None }
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
