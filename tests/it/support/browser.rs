//! A real headless Chromium driven through chromedriver (WebDriver, by `fantoccini`), and
//! a second local origin to serve pages from. Skipped with a note where Chromium is not
//! installed; a failure instead when `CI` is set.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

use appsignal_gateway::response::{self, Body};
use appsignal_gateway::server::{self, ConnLimits, Handler};
use bytes::Bytes;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use http::{HeaderValue, Request, Response, StatusCode};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A Chromium session; the browser and its driver end with it, on every exit path
/// (a panicking test included: see `Drop`).
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    /// chromedriver, leader of its own process group, which the browsers it starts join.
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium, or `None` (with a note) where
    /// they are not installed and `CI` is not set.
    pub async fn start() -> Option<Browser> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
            );
            eprintln!("SKIPPED: {CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // A group of its own, so one signal ends the driver and every Chromium process
            // it started, which killing the driver alone leaves running.
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Ready when it says so: the event, not a sleep.
        let (tx, rx) = channel();
        let stdout = driver.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("started successfully") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60)).expect("chromedriver reports it started");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,820",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let client = tokio::time::timeout(
            Duration::from_secs(60),
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .expect("a session within 60 s")
        .expect("chromedriver opens a session");
        Some(Browser { client, driver, _profile: profile })
    }

    /// chromedriver's process group: the driver and the browsers it started.
    pub fn process_group(&self) -> u32 {
        self.driver.id()
    }

    /// Runs `body` (an async function body that `return`s a JSON-able value) in the page.
    pub async fn run(&self, body: &str) -> Value {
        let script = format!(
            "const done = arguments[arguments.length - 1];\n\
             (async () => {{ {body} }})().then(done, (e) => done({{ thrown: String(e) }}));"
        );
        self.client.execute_async(&script, vec![]).await.expect("the script ran")
    }

    /// The browser console's messages so far, as chromedriver collects them.
    pub async fn console(&self) -> Vec<Value> {
        let logs = self.client.issue_cmd(BrowserLog).await.expect("chromedriver returns the log");
        logs.as_array().cloned().unwrap_or_default()
    }

    /// Saves a screenshot as `{name}.png` in the directory cargo gives integration tests
    /// for their files (`CARGO_TARGET_TMPDIR`, under whatever target directory is in use),
    /// for people to look at.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session (Chromium exits), then the driver and anything left of its group.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // Drop ends the process group.
    }
}

impl Drop for Browser {
    /// Kills chromedriver's whole process group (the driver and every Chromium process),
    /// then reaps the driver. Runs when a test panics too, so no browser outlives it.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// chromedriver's browser log (the console).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// A second origin: serves `html` at every path, so a page there is cross-origin to
/// the gateway.
pub struct PageOrigin {
    /// `http://127.0.0.1:{port}`
    pub origin: String,
}

struct Page(Bytes);

impl Handler for Page {
    async fn call(&self, _: Request<hyper::body::Incoming>, _: SocketAddr) -> Response<Body> {
        let html = HeaderValue::from_static("text/html; charset=utf-8");
        response::with_body(StatusCode::OK, html, self.0.clone())
    }

    fn on_panic(&self, _: &str) -> Response<Body> {
        response::text(StatusCode::INTERNAL_SERVER_ERROR, "page server failed")
    }
}

impl PageOrigin {
    /// Serves a blank page on a free loopback port.
    pub async fn start() -> PageOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let limits = ConnLimits {
            max_connections: 64.try_into().unwrap(),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_head: 64 * 1024,
            grace: Duration::ZERO,
        };
        let page = Arc::new(Page(Bytes::from_static(b"<!doctype html><title>page</title><body>page</body>")));
        tokio::spawn(server::serve(listener, page, limits, None, std::future::pending()));
        PageOrigin { origin }
    }
}
