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
use super::{validate, ConfigError, KeyError, Settings, Token, REDACTED};

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
    validate(raw).map_err(|e| Secrets::of_raw(raw).scrub(from_environment(e)))
}

/// The shortest token scrubbed from configuration messages.
const MIN_SECRET: usize = 6;

/// The secrets a configuration holds, so that no message about it quotes them: a token
/// pasted into the wrong key (`upstream.timeout: "<token>"`) would otherwise be shown by
/// `check`, by the admin reload's 400 and in the error log.
#[derive(Default)]
struct Secrets {
    /// The token, when one was given (by `upstream.token`, the file or the environment).
    token: Option<Token>,
    /// The Redis password, and `upstream.base_url`'s userinfo.
    others: Vec<String>,
}

impl Secrets {
    /// What the merged layers hold, read value by value, so a key that fails to parse
    /// does not hide the others.
    fn of(figment: &Figment) -> Self {
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
    fn of_raw(raw: &RawConfig) -> Self {
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
    fn scrub(&self, mut error: ConfigError) -> ConfigError {
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
