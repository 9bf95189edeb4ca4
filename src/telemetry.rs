//! Logging: `tracing` to standard error, as pretty lines or JSON.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. Fails if one is already installed.
pub fn init(log: &LogSettings) -> Result<(), tracing_subscriber::util::TryInitError> {
    let registry = tracing_subscriber::registry().with(log.level.clone());
    match log.format {
        LogFormat::Pretty => {
            registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init()
        }
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(std::io::stderr))
            .try_init(),
    }
}
