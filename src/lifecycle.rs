//! Starting and stopping: bind both listeners, serve, drain on request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{Admin, Readiness};
use crate::config::Settings;
use crate::gateway::Gateway;
use crate::server::{self, ConnLimits};

/// How long in-flight requests may finish after a stop is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({key}): {source}")]
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

/// A running gateway: its bound addresses and the handle that stops it.
#[derive(Debug)]
pub struct Running {
    /// The bound `listen` address (its real port when configured as 0).
    pub listen: SocketAddr,
    /// The bound `admin_listen` address.
    pub admin: SocketAddr,
    /// Flipped to true to begin the drain.
    stop: watch::Sender<bool>,
    /// Cleared when draining begins.
    readiness: Arc<Readiness>,
    /// The two server tasks.
    tasks: Vec<JoinHandle<()>>,
}

/// Binds both listeners and starts serving.
pub async fn start(settings: Settings, grace: Duration) -> Result<Running, StartError> {
    let settings = Arc::new(settings);
    let gateway = Arc::new(Gateway::new(settings.clone()).map_err(StartError::Upstream)?);
    let public = bind("listen", settings.listen).await?;
    let admin_listener = bind("admin_listen", settings.admin_listen).await?;
    let listen = public.local_addr().map_err(|source| StartError::Bind {
        key: "listen",
        addr: settings.listen,
        source,
    })?;
    let admin = admin_listener.local_addr().map_err(|source| StartError::Bind {
        key: "admin_listen",
        addr: settings.admin_listen,
        source,
    })?;
    let readiness = Arc::new(Readiness::default());
    let (stop, stopped) = watch::channel(false);
    let limits = ConnLimits {
        max_connections: settings.limits.max_connections,
        header_read_timeout: settings.limits.header_read_timeout,
        grace,
    };
    let admin_limits =
        ConnLimits { max_connections: std::num::NonZeroUsize::new(64).expect("64 > 0"), ..limits };
    tokio::spawn(housekeeping(Arc::downgrade(&gateway)));
    let tasks = vec![
        tokio::spawn(server::serve(public, gateway.clone(), limits, wait_for(stopped.clone()))),
        tokio::spawn(server::serve(
            admin_listener,
            Arc::new(Admin::new(readiness.clone(), gateway)),
            admin_limits,
            wait_for(stopped),
        )),
    ];
    readiness.set(true);
    tracing::info!(%listen, %admin, "appsignal-gateway is serving");
    Ok(Running { listen, admin, stop, readiness, tasks })
}

impl Running {
    /// Stops accepting, lets in-flight requests finish within the grace period, and
    /// returns when both servers have stopped.
    pub async fn shutdown(self) {
        self.readiness.set(false);
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        tracing::info!("appsignal-gateway stopped");
    }
}

/// How often idle rate-limit state is dropped.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

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

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|source| StartError::Bind { key, addr, source })
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = stopped.wait_for(|stop| *stop).await;
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
