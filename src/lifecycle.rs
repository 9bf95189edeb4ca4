//! Starting and stopping: bind both listeners, serve, reload on SIGHUP, drain on request.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{Admin, Readiness};
use crate::config::Settings;
use crate::gateway::Gateway;
use crate::reload::Reloader;
use crate::server::{self, ConnLimits};
use crate::telemetry::LevelHandle;

/// How long in-flight requests may finish after a stop is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often idle rate-limit state is dropped.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    // The cause is the error's source, not repeated here: `{:#}` prints the chain once.
    #[error("cannot listen on {addr} ({key}; {hint})", hint = change_hint(key))]
    Bind {
        /// The configuration key naming the address.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The upstream client could not be built (unreadable `upstream.ca_file`).
    #[error("cannot set up the AppSignal client: {0}")]
    Upstream(std::io::Error),
}

/// How to start, besides the settings.
#[derive(Debug, Default)]
pub struct StartOptions {
    /// How long in-flight requests may finish after a stop; [`SHUTDOWN_GRACE`] if unset.
    pub grace: Option<Duration>,
    /// The configuration file a reload re-reads; none in the demo.
    pub config_path: Option<PathBuf>,
    /// The log filter a reload updates.
    pub log_level: Option<LevelHandle>,
}

/// A running gateway: its bound addresses and the handles that reload and stop it.
#[derive(Debug)]
pub struct Running {
    /// The bound `listen` address (its real port when configured as 0).
    pub listen: SocketAddr,
    /// The bound `admin_listen` address.
    pub admin: SocketAddr,
    /// Reloads the configuration, as SIGHUP and `POST /config/reload` do.
    pub reloader: Arc<Reloader>,
    /// The gateway itself, for tests that look inside.
    pub gateway: Arc<Gateway>,
    /// Cleared when draining begins.
    readiness: Arc<Readiness>,
    /// Stops the public server; it drains first.
    stop_public: watch::Sender<bool>,
    /// Stops the admin server, once the public one has drained.
    stop_admin: watch::Sender<bool>,
    /// The public server task.
    public_task: JoinHandle<()>,
    /// The admin server task.
    admin_task: JoinHandle<()>,
}

/// Binds both listeners and starts serving.
pub async fn start(settings: Settings, options: StartOptions) -> Result<Running, StartError> {
    for warning in crate::config::warnings(&settings, std::time::SystemTime::now()) {
        tracing::warn!("{warning}");
    }
    let settings = Arc::new(settings);
    let gateway = Arc::new(Gateway::new(settings.clone()).map_err(StartError::Upstream)?);
    let public = bind("listen", settings.listen).await?;
    let admin_listener = bind("admin_listen", settings.admin_listen).await?;
    let listen = local_addr("listen", &public, settings.listen)?;
    let admin = local_addr("admin_listen", &admin_listener, settings.admin_listen)?;
    if let Some(marker) = listen.ip().is_loopback().then(container_marker).flatten() {
        tracing::warn!(
            %listen,
            container = marker,
            "listening on a loopback address inside a container: nothing outside the container \
             can connect (a published port reaches nothing); listen on 0.0.0.0 \
             (APPSIGNAL_GATEWAY_LISTEN=0.0.0.0:8080) to be reachable"
        );
    }
    let readiness = Arc::new(Readiness::default());
    let reloader = Arc::new(Reloader::new(options.config_path, gateway.clone(), options.log_level));
    let grace = options.grace.unwrap_or(SHUTDOWN_GRACE);
    let limits = ConnLimits {
        max_connections: settings.limits.max_connections,
        header_read_timeout: settings.limits.header_read_timeout,
        idle_timeout: settings.limits.idle_timeout,
        max_head: settings.limits.max_uri_length + settings.limits.max_header_size + 4096,
        grace,
    };
    let admin_limits =
        ConnLimits { max_connections: std::num::NonZeroUsize::new(64).expect("64 > 0"), ..limits };
    let (stop_public, public_stopped) = watch::channel(false);
    let (stop_admin, admin_stopped) = watch::channel(false);
    tokio::spawn(housekeeping(Arc::downgrade(&gateway)));
    let public_task = tokio::spawn(server::serve(
        public,
        gateway.clone(),
        limits,
        gateway.tls_acceptor(),
        wait_for(public_stopped),
    ));
    let admin_handler = Arc::new(Admin::new(readiness.clone(), gateway.clone(), reloader.clone()));
    let admin_task = tokio::spawn(server::serve(
        admin_listener,
        admin_handler,
        admin_limits,
        None,
        wait_for(admin_stopped),
    ));
    readiness.set(true);
    tracing::info!(%listen, %admin, "appsignal-gateway is serving");
    Ok(Running {
        listen,
        admin,
        reloader,
        gateway,
        readiness,
        stop_public,
        stop_admin,
        public_task,
        admin_task,
    })
}

impl Running {
    /// Reports not-ready, stops accepting, lets in-flight requests finish within the
    /// grace period, then stops the admin listener (which says 503 on `/readyz` meanwhile).
    pub async fn shutdown(self) {
        self.readiness.set(false);
        let _ = self.stop_public.send(true);
        let _ = self.public_task.await;
        let _ = self.stop_admin.send(true);
        let _ = self.admin_task.await;
        tracing::info!("appsignal-gateway stopped");
    }
}

/// Where the address behind a configuration key can be changed, for a bind error.
fn change_hint(key: &str) -> String {
    let variable = format!("{}{}", crate::config::ENV_PREFIX, key.to_ascii_uppercase());
    match key {
        "listen" => {
            format!("choose another with `listen:` in the configuration, {variable}, or `demo --listen`")
        }
        _ => format!("choose another with `{key}:` in the configuration or {variable}"),
    }
}

/// What says this process runs in a container, if anything does: the `container`
/// environment variable (set by systemd-nspawn, podman and others), Docker's
/// `/.dockerenv`, or Podman's `/run/.containerenv`. A container's loopback is its own,
/// so a gateway listening there cannot be reached through a published port.
pub fn container_marker() -> Option<&'static str> {
    if std::env::var_os("container").is_some_and(|v| !v.is_empty()) {
        return Some("$container");
    }
    ["/.dockerenv", "/run/.containerenv"].into_iter().find(|path| std::path::Path::new(path).exists())
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|source| StartError::Bind { key, addr, source })
}

fn local_addr(key: &'static str, listener: &TcpListener, addr: SocketAddr) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind { key, addr, source })
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Periodic upkeep for as long as the gateway exists.
async fn housekeeping(gateway: std::sync::Weak<Gateway>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        match gateway.upgrade() {
            Some(gateway) => gateway.housekeeping(),
            None => return,
        }
    }
}

/// SIGINT and SIGTERM handlers, installed when this is made: a signal that arrives
/// before [`StopSignal::wait`] is polled is still caught, not fatal.
#[derive(Debug)]
pub struct StopSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignal {
    /// Installs the handlers; call before binding, so no stop request is ever lost.
    pub fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignal {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignal {})
    }

    /// Resolves on the first SIGINT or SIGTERM.
    pub async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The SIGHUP handler, installed when this is made (before binding, so a SIGHUP right
/// after start is never fatal); [`Hangup::reload_with`] then acts on it.
#[derive(Debug)]
pub struct Hangup {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Hangup {
    /// Installs the handler.
    pub fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        return Ok(Hangup {
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?,
        });
        #[cfg(not(unix))]
        Ok(Hangup {})
    }

    /// Reloads on every SIGHUP, for as long as the process runs.
    pub fn reload_with(self, reloader: Arc<Reloader>) {
        #[cfg(unix)]
        {
            let mut signal = self.signal;
            tokio::spawn(async move {
                while signal.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the configuration");
                    // Reloading reads a file: on the blocking pool, off the workers.
                    let reloader = reloader.clone();
                    let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
                }
            });
        }
        #[cfg(not(unix))]
        drop((self, reloader));
    }
}
