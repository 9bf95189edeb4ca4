//! The `appsignal-gateway` command: parse arguments, load configuration, run.
//!
//! Everything testable lives in the library; this file only wires it to a process:
//! exit 0 on a clean stop, 2 on a configuration error, 1 when it cannot start.

#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use appsignal_gateway::config::{self, Settings};
use appsignal_gateway::{auth, demo, lifecycle, telemetry};
use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator (the default `mimalloc` feature): with glibc's
/// malloc a cache filled to `cache.max_size` 1 GiB held 2.6 GiB of RSS, the freed read
/// buffers between entries never returned; with mimalloc 1.03 GiB (BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A caching gateway that lets browser dashboards read the AppSignal REST API
/// without ever seeing the AppSignal token.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The YAML configuration file [default: config/gateway.yaml]. With `demo`: optional,
    /// its settings kept but the upstream and listen address (the environment is read too).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Load and validate the configuration, print the effective settings (token redacted).
    Check,
    /// Print the OpenAPI 3.1 description of the HTTP surface, as `GET /openapi.json` serves it.
    Openapi,
    /// Manage dashboard keys (`clients.keys`).
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Run in front of a built-in simulated AppSignal API: no account needed.
    Demo {
        /// Where the gateway listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Serve HTTPS (HTTP/2 and HTTP/1.1) with a self-signed certificate made at start.
        #[arg(long)]
        tls: bool,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Print a fresh random key and the `clients.keys` entry holding its SHA-256.
    New {
        /// The key's name, shown in logs and metrics.
        #[arg(long)]
        name: String,
        /// Apps the key may read, by id or name, comma-separated; omitted: all listed apps.
        #[arg(long, value_delimiter = ',')]
        apps: Vec<String>,
    },
}

/// Where the configuration is read from when `--config` is not given.
const DEFAULT_CONFIG: &str = "config/gateway.yaml";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = cli.config.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    match cli.command {
        Some(Command::Check) => check(&path),
        Some(Command::Openapi) => match describable(&path) {
            Ok(settings) => {
                let document = appsignal_gateway::openapi::document(&settings);
                print_out(&format!("{document:#}\n"))
            }
            Err(e) => config_error(&path, &e),
        },
        None => match config::load(&path) {
            Ok((_, settings)) => run(Mode::Serve(Box::new(settings), path)),
            Err(e) => config_error(&path, &e),
        },
        Some(Command::Demo { listen, tls }) => {
            // The demo honours `--config` and the environment; it never ignores them.
            let raw = match &cli.config {
                Some(path) => config::load_raw(path),
                None => config::load_raw_env(),
            };
            match raw {
                Ok(raw) => run(Mode::Demo(listen, Box::new(raw), tls)),
                Err(e) => config_error(cli.config.as_deref().unwrap_or(Path::new("(environment)")), &e),
            }
        }
        Some(Command::Key { command: KeyCommand::New { name, apps } }) => new_key(&name, &apps),
    }
}

/// What `run` serves.
enum Mode {
    /// The gateway as configured, from this file.
    Serve(Box<Settings>, PathBuf),
    /// The gateway on `listen` in front of the simulated AppSignal, configured by the
    /// operator's own settings where they have any.
    Demo(SocketAddr, Box<config::RawConfig>, bool),
}

fn check(path: &Path) -> ExitCode {
    match config::load(path) {
        Ok((raw, settings)) => {
            for warning in config::warnings(&settings, std::time::SystemTime::now()) {
                eprintln!("warning: {warning}");
            }
            let text =
                format!("# {}: valid. Effective settings:\n{}", path.display(), config::effective_yaml(&raw));
            print_out(&text)
        }
        Err(e) => config_error(path, &e),
    }
}

/// The settings `openapi` describes: the file and the environment, with the token set
/// aside. Describing the HTTP surface needs no secret (a CI pipeline has none), and the
/// document never holds one, so a missing token is not an error here.
fn describable(path: &Path) -> Result<Settings, config::ConfigError> {
    let mut raw = config::load_raw(path)?;
    raw.upstream.token = Some(config::Token::new("unused-by-openapi"));
    raw.upstream.token_file = None;
    config::validate(&raw)
}

fn new_key(name: &str, apps: &[String]) -> ExitCode {
    if !config::is_identifier(name) || !apps.iter().all(|a| config::is_identifier(a)) {
        eprintln!("error: names and apps {}", config::IDENTIFIER_RULE);
        return ExitCode::from(2);
    }
    match auth::generate_key() {
        Ok(key) => print_out(&format!(
            "# Dashboard key \"{name}\": give it to the dashboard now; it is not stored anywhere.\n\
             key: {key}\n# Add this entry under clients.keys in the gateway configuration:\n{}",
            auth::key_entry(name, &key, apps)
        )),
        Err(e) => {
            eprintln!("error: cannot read the operating system's random generator: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` to standard output. A reader that went away (`check | head -1`) ends
/// the command quietly and successfully, as Unix tools do; `print!` would panic.
fn print_out(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config_error(path: &Path, e: &config::ConfigError) -> ExitCode {
    eprintln!("error: {}: {e}", path.display());
    ExitCode::from(2)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// Serves until SIGINT or SIGTERM, reloading on SIGHUP; `demo` also prints where to look.
fn run(mode: Mode) -> ExitCode {
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let (settings, config_path, mut simulation) = match mode {
                Mode::Serve(settings, path) => (*settings, Some(path), None),
                Mode::Demo(listen, raw, tls) => {
                    let simulation = demo::start_simulation(listen, *raw, tls)
                        .await
                        .context("cannot start the simulated AppSignal")?;
                    (simulation.settings.clone(), None, Some(simulation))
                }
            };
            // The demo's certificate directory, removed when this is dropped: after the
            // gateway has stopped, on every way out of this block.
            let _certificate_dir = simulation.as_mut().and_then(|s| s.certificate_dir.take());
            let log_level = telemetry::init(&settings.log)
                .inspect_err(|e| eprintln!("warning: logging not set up: {e}"))
                .ok();
            let stop = lifecycle::StopSignal::install().context("cannot install signal handlers")?;
            let hangup = lifecycle::Hangup::install().context("cannot install the SIGHUP handler")?;
            let options = lifecycle::StartOptions { grace: None, config_path, log_level };
            let running = lifecycle::start(settings, options).await?;
            hangup.reload_with(running.reloader.clone());
            if let Some(simulation) = simulation {
                let dashboard = simulation.dashboard.local_addr().context("the dashboard's address")?;
                let scheme = if simulation.certificate.is_some() { "https" } else { "http" };
                let gateway = format!("{scheme}://{}", running.listen);
                demo::serve_dashboard(simulation.dashboard, &gateway, &simulation.dashboard_app);
                let banner = demo::banner(
                    running.listen,
                    running.admin,
                    dashboard,
                    simulation.dashboard_allowed,
                    simulation.certificate.as_deref(),
                );
                let _ = print_out(&format!("{banner}\n"));
            }
            stop.wait().await;
            tracing::info!("stop requested; draining");
            running.shutdown().await;
            anyhow::Ok(())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once: through the log when it is set up (it writes to standard error in the
            // configured format), else on standard error directly.
            match tracing::dispatcher::has_been_set() {
                true => tracing::error!("{e:#}"),
                false => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
