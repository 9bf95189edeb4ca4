//! Running the built `appsignal-gateway` binary and reading what it prints.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn command(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_appsignal-gateway"));
    command.args(args).stdin(Stdio::null());
    // The test's own environment must not leak overrides into the child.
    for (key, _) in std::env::vars() {
        if key.starts_with("APPSIGNAL_GATEWAY_") {
            command.env_remove(key);
        }
    }
    command.envs(envs.iter().copied());
    command
}

/// Runs the binary to completion: (exit status, stdout, stderr).
pub fn run(args: &[&str], envs: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let out = command(args, envs).output().expect("binary runs");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `yaml` to a fresh file in `dir` and returns its path as text.
pub fn write_config(dir: &Path, yaml: &str) -> String {
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.to_string_lossy().into_owned()
}

/// A running gateway process whose output lines are collected as they come.
pub struct Process {
    child: Child,
    lines: Receiver<String>,
    /// Every line printed so far, stdout and stderr interleaved.
    pub output: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts the binary.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child =
            command(args, envs).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("binary starts");
        let (tx, lines) = channel();
        let output = Arc::new(Mutex::new(Vec::new()));
        let readers: [Box<dyn Read + Send>; 2] =
            [Box::new(child.stdout.take().unwrap()), Box::new(child.stderr.take().unwrap())];
        for stream in readers {
            let (tx, output) = (tx.clone(), output.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        Process { child, lines, output }
    }

    /// Waits for a line satisfying `wanted` (the event that says the process is ready).
    pub fn wait_line(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("line never printed; output so far:\n{}", self.all_output()),
            }
        }
    }

    /// The gateway's bound public address, from its JSON "serving" log line.
    pub fn wait_serving(&self) -> (String, String) {
        let line = self.wait_line(|l| l.contains("appsignal-gateway is serving"));
        let json: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        (json["listen"].as_str().unwrap().to_owned(), json["admin"].as_str().unwrap().to_owned())
    }

    /// Everything printed so far.
    pub fn all_output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success());
        self.wait()
    }

    /// Waits for the process to exit on its own, within a generous bound.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain what is left.
                while self.lines.recv_timeout(Duration::from_millis(200)).is_ok() {}
                return status;
            }
            assert!(Instant::now() < deadline, "process did not exit:\n{}", self.all_output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
