//! Logging: `tracing` to standard error, as pretty lines or JSON, with a level that a
//! reload can change.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Registry};

use crate::config::{LogFormat, LogSettings};

/// Changes the log filter of the installed subscriber.
pub type LevelHandle = reload::Handle<Targets, Registry>;

/// Installs the global subscriber and returns the handle that changes its level.
/// Fails if one is already installed.
pub fn init(log: &LogSettings) -> Result<LevelHandle, tracing_subscriber::util::TryInitError> {
    let (filter, handle) = reload::Layer::new(log.level.clone());
    let registry = tracing_subscriber::registry().with(filter);
    match log.format {
        LogFormat::Pretty => {
            registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init()?
        }
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(std::io::stderr))
            .try_init()?,
    }
    Ok(handle)
}
