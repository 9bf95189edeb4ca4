//! Logging: `tracing` to standard error, as pretty lines or JSON, with a level that a
//! reload can change.

use std::io::IsTerminal;

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
            let layer = tracing_subscriber::fmt::layer().with_ansi(colour()).with_writer(std::io::stderr);
            registry.with(layer).try_init()?
        }
        LogFormat::Json => {
            let layer =
                tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(std::io::stderr);
            registry.with(layer).try_init()?
        }
    }
    Ok(handle)
}

/// Whether pretty lines are coloured: only on a terminal, and never when `NO_COLOR` is
/// set to anything (no-color.org), so files and the journal get plain text.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
