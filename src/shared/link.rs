//! The connection to Redis, and the rules every command follows: a deadline of
//! `command_timeout`, one retry of a command whose connection had dropped (the first
//! command after an idle disconnect fails once), and a breaker that stops asking while
//! Redis is down, so that a request then pays nothing for it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::config::{RedisUrl, SharedSettings};
use crate::metrics::Metrics;

/// Why a shared-tier step did not happen; the caller acts alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SharedError {
    /// The breaker is open or no connection has been made yet.
    #[error("the shared tier is unavailable")]
    Down,
    /// Redis answered with an error or the connection failed.
    #[error("Redis failed")]
    Failed,
    /// Redis did not answer within `command_timeout`.
    #[error("Redis did not answer in time")]
    Timeout,
}

/// A standalone connection (multiplexed, reconnecting on its own) or a cluster one.
#[derive(Clone)]
pub enum Connection {
    /// One Redis (or Valkey) server.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// The link to Redis shared by every request of a replica.
pub struct Link {
    /// Set once a connection exists (at once for a standalone server, whose manager
    /// connects lazily; once the cluster's topology has been read for a cluster).
    conn: ArcSwapOption<Connection>,
    /// Open: requests skip Redis. Closed again by the heartbeat's next success.
    open: AtomicBool,
    /// The URL, the connection's bounds and the command deadline.
    settings: SharedSettings,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("url", self.url()).field("open", &self.open).finish_non_exhaustive()
    }
}

impl Link {
    /// A link for `settings`, not yet connected; [`Link::connect`] makes the connection.
    pub fn new(settings: &SharedSettings, metrics: Arc<Metrics>) -> Self {
        Link {
            conn: ArcSwapOption::empty(),
            open: AtomicBool::new(true),
            settings: settings.clone(),
            metrics,
        }
    }

    /// Makes the connection if there is none: a standalone manager at once (it connects
    /// on first use and reconnects by itself), a cluster connection once a node answers.
    /// Errors are returned scrubbed of the password.
    pub async fn connect(&self) -> Result<(), String> {
        if self.conn.load().is_some() {
            return Ok(());
        }
        let conn = self.open_conn().await.map_err(|e| self.url().scrub(&e.to_string()))?;
        self.conn.store(Some(Arc::new(conn)));
        Ok(())
    }

    async fn open_conn(&self) -> RedisResult<Connection> {
        let s = &self.settings;
        if s.cluster {
            let client = redis::cluster::ClusterClient::builder(vec![s.redis_url.expose()])
                .connection_timeout(s.connect_timeout)
                .response_timeout(s.command_timeout)
                .retries(1)
                .build()?;
            let connecting = client.get_async_connection();
            match tokio::time::timeout(s.connect_timeout, connecting).await {
                Ok(conn) => Ok(Connection::Cluster(conn?)),
                Err(_) => Err(redis::RedisError::from((redis::ErrorKind::Io, "connect timed out"))),
            }
        } else {
            let client = redis::Client::open(s.redis_url.expose())?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(s.connect_timeout))
                .set_response_timeout(Some(s.command_timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            Ok(Connection::Single(ConnectionManager::new_lazy_with_config(client, config)?))
        }
    }

    /// A new client for a pub/sub connection of its own.
    pub fn pubsub_client(&self) -> RedisResult<redis::Client> {
        redis::Client::open(self.url().expose())
    }

    /// The URL, for messages (redacted when printed).
    pub fn url(&self) -> &RedisUrl {
        &self.settings.redis_url
    }

    /// The bound on opening a connection.
    pub fn connect_timeout(&self) -> Duration {
        self.settings.connect_timeout
    }

    /// Whether requests currently skip Redis.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// Runs `command` unless the breaker is open.
    pub async fn query<T: redis::FromRedisValue>(&self, command: &Cmd) -> Result<T, SharedError> {
        self.run(false, |mut c| async move { command.query_async(&mut c).await }).await
    }

    /// Runs a script unless the breaker is open; EVALSHA, loading it again on NOSCRIPT.
    pub async fn script<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, SharedError> {
        self.run(false, |mut c| async move { invocation.invoke_async(&mut c).await }).await
    }

    /// Runs a script even with the breaker open: the heartbeat's probe, whose success
    /// closes the breaker.
    pub async fn probe<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, SharedError> {
        let result = self.run(true, |mut c| async move { invocation.invoke_async(&mut c).await }).await;
        if result.is_ok() && self.open.swap(false, Ordering::Relaxed) {
            tracing::info!(redis = %self.url(), "the shared tier answers: sharing resumes");
            self.metrics.shared.set_up(true);
        }
        result
    }

    /// One command under the deadline, retried once if its connection had dropped;
    /// a failure opens the breaker.
    async fn run<T, F, Fut>(&self, probe: bool, command: F) -> Result<T, SharedError>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if self.is_open() && !probe {
            self.metrics.shared.fallback();
            return Err(SharedError::Down);
        }
        let Some(conn) = self.conn.load_full() else {
            return Err(SharedError::Down);
        };
        let started = Instant::now();
        let attempts = async {
            match command((*conn).clone()).await {
                Err(e) if e.is_connection_dropped() || e.is_connection_refusal() || e.is_io_error() => {
                    command((*conn).clone()).await
                }
                other => other,
            }
        };
        let result = tokio::time::timeout(self.settings.command_timeout, attempts).await;
        self.metrics.shared.command(started.elapsed().as_secs_f64());
        let error = match result {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => {
                self.trip(&self.url().scrub(&e.to_string()));
                SharedError::Failed
            }
            Err(_) => {
                self.trip("no answer within shared.command_timeout");
                SharedError::Timeout
            }
        };
        if !probe {
            self.metrics.shared.fallback();
        }
        Err(error)
    }

    /// Opens the breaker, logging the first failure of a spell.
    fn trip(&self, reason: &str) {
        if !self.open.swap(true, Ordering::Relaxed) {
            tracing::warn!(redis = %self.url(), reason, "the shared tier failed: this replica acts alone until it answers again");
            self.metrics.shared.set_up(false);
        }
    }
}
