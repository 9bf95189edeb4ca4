//! Real `redis-server` processes for the shared-tier tests: one per test (or three for a
//! cluster), each on a free port of 127.0.0.1, with persistence off. Where `redis-server`
//! is not installed the tests say so and skip; with `CI` set they fail instead.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Whether `redis-server` can be run here. Panics under CI, where it must be.
pub fn available() -> bool {
    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is not installed, and CI is set: install redis-server and redis-tools"
        );
        eprintln!("SKIPPED: redis-server is not installed (apt install redis-server redis-tools)");
    }
    found
}

/// A free TCP port on 127.0.0.1 (free when this returns; the caller binds it at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One `redis-server`.
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    cluster: bool,
}

impl RedisServer {
    /// Starts a standalone server on a free port and waits until it accepts connections.
    pub async fn start() -> Self {
        Self::start_anywhere(false).await
    }

    /// Starts a cluster node on a free port (its bus port is 10000 above).
    pub async fn start_cluster_node() -> Self {
        Self::start_anywhere(true).await
    }

    /// Starts a server on `port` (a cluster node when `cluster`); panics if it cannot bind it.
    pub async fn start_on(port: u16, cluster: bool) -> Self {
        let mut server = Self::unstarted(port, cluster);
        assert!(server.launch().await, "redis-server on port {port} exited before it was ready");
        server
    }

    /// A port found free can be taken by a parallel test before redis-server binds it (and a
    /// cluster node's bus port was never checked), so a server that exits before it is ready
    /// is started again on another port.
    async fn start_anywhere(cluster: bool) -> Self {
        const ATTEMPTS: usize = 8;
        for _ in 0..ATTEMPTS {
            let mut server = Self::unstarted(free_port(), cluster);
            if server.launch().await {
                return server;
            }
            eprintln!("redis-server could not take port {}; trying another", server.port);
        }
        panic!("redis-server exited before it was ready on {ATTEMPTS} free ports");
    }

    fn unstarted(port: u16, cluster: bool) -> Self {
        RedisServer { port, child: None, dir: tempfile::tempdir().unwrap(), cluster }
    }

    /// `redis://127.0.0.1:{port}/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Spawns it and waits until it is ready: false if it exited first (its port was taken).
    async fn launch(&mut self) -> bool {
        let mut command = Command::new("redis-server");
        command
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", self.dir.path().to_str().unwrap(), "--loglevel", "notice"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if self.cluster {
            command.args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]);
        }
        let mut child = command.spawn().expect("redis-server starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("Ready to accept connections") {
                    return true;
                }
            }
            false
        };
        let ready = tokio::time::timeout(Duration::from_secs(20), ready)
            .await
            .expect("redis-server ready within 20 s");
        if !ready {
            return false;
        }
        // Keep draining its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
        true
    }

    /// SIGKILL, and waits for it to be gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.kill().await;
        assert!(self.launch().await, "redis-server on port {} exited before it was ready", self.port);
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().and_then(Child::id).expect("running");
        let status = std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// SIGSTOP: it holds its connections and answers nothing.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Runs `redis-cli` against it and returns its output.
    pub async fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args).await
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            if let Some(pid) = child.id() {
                // A paused server must be resumed to die by SIGKILL promptly; kill_on_drop sends it.
                let _ = std::process::Command::new("kill").args(["-CONT", &pid.to_string()]).status();
            }
        }
    }
}

/// Runs `redis-cli -p port args…` (raw output) with a bound of 20 s.
pub async fn cli(port: u16, args: &[&str]) -> String {
    let run = Command::new("redis-cli").args(["-p", &port.to_string(), "--no-raw"]).args(args).output();
    let output =
        tokio::time::timeout(Duration::from_secs(20), run).await.expect("redis-cli within 20 s").unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every key and its value (strings as they are, sorted sets as their members), for
/// scanning what the gateway wrote.
pub async fn dump(port: u16) -> Vec<(String, Vec<u8>)> {
    let keys = Command::new("redis-cli").args(["-p", &port.to_string(), "--scan"]).output().await.unwrap();
    let mut all = Vec::new();
    for key in String::from_utf8_lossy(&keys.stdout).lines().filter(|k| !k.is_empty()) {
        let kind =
            Command::new("redis-cli").args(["-p", &port.to_string(), "TYPE", key]).output().await.unwrap();
        let read = match String::from_utf8_lossy(&kind.stdout).trim() {
            "zset" => vec!["ZRANGE", key, "0", "-1"],
            _ => vec!["GET", key],
        };
        let value =
            Command::new("redis-cli").args(["-p", &port.to_string()]).args(&read).output().await.unwrap();
        all.push((key.to_owned(), value.stdout));
    }
    all
}
