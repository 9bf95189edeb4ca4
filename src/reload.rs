//! Hot reload: re-read the configuration file and environment, validate, swap.
//!
//! A valid configuration replaces apps, TTLs, CORS, JSONP, limits, keys, the log level
//! and the token for new requests, atomically, keeping the cache. An invalid one is
//! rejected whole: the old one stays and every error is logged. Changes that need a
//! restart (the keys `gateway::needs_restart` lists: the listen addresses, the cache
//! size, the log format, the connection limits and timeouts, turning `tls` on or off,
//! `shared`) are reported and not applied.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{self, ConfigError};
use crate::gateway::Gateway;
use crate::telemetry::LevelHandle;

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The gateway was started without a configuration file (the demo).
    #[error("there is no configuration file to reload (demo mode)")]
    NoConfigFile,
    /// The new configuration is invalid; the old one stays.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// The new configuration could not be put to use (an unreadable `upstream.ca_file`).
    #[error("cannot apply the configuration: {0}")]
    Apply(std::io::Error),
}

/// Reloads one gateway from one file.
#[derive(Debug)]
pub struct Reloader {
    /// The file the gateway was started with.
    path: Option<PathBuf>,
    /// The gateway whose configuration is replaced.
    gateway: Arc<Gateway>,
    /// The log filter to update, when logging was set up by this process.
    log_level: Option<LevelHandle>,
}

impl Reloader {
    /// A reloader for `gateway`, reading `path`.
    pub fn new(path: Option<PathBuf>, gateway: Arc<Gateway>, log_level: Option<LevelHandle>) -> Self {
        Reloader { path, gateway, log_level }
    }

    /// Reloads; returns the changed keys that need a restart and were not applied.
    pub fn reload(&self) -> Result<Vec<&'static str>, ReloadError> {
        let result = self.try_reload();
        self.gateway.metrics().reload(result.is_ok());
        match &result {
            Ok(restart) if restart.is_empty() => tracing::info!("configuration reloaded"),
            Ok(restart) => tracing::warn!(
                needs_restart = restart.join(", "),
                "configuration reloaded; changes to these keys need a restart and were not applied"
            ),
            Err(ReloadError::Invalid(errors)) => {
                for error in &errors.errors {
                    tracing::error!(key = %error.key, reason = %error.reason, "configuration reload rejected");
                }
            }
            Err(other) => tracing::error!(error = %other, "configuration reload failed"),
        }
        result
    }

    fn try_reload(&self) -> Result<Vec<&'static str>, ReloadError> {
        let path = self.path.as_ref().ok_or(ReloadError::NoConfigFile)?;
        let (_, settings) = config::load(path)?;
        let level = settings.log.level.clone();
        let restart = self.gateway.reload(settings).map_err(ReloadError::Apply)?;
        if let Some(handle) = &self.log_level {
            if let Err(e) = handle.reload(level) {
                tracing::warn!(error = %e, "the log level could not be changed");
            }
        }
        Ok(restart)
    }
}
