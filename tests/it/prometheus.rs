//! `/metrics` as the real tools read it: Debian's `prometheus` scrapes a running gateway
//! (it asks for OpenMetrics; the target is `up` with no scrape error and the gateway's
//! series are queryable), and `promtool check metrics` lints the Prometheus text format
//! that every other client gets.
//!
//! Without `prometheus` / `promtool` the tests print `SKIPPED` and pass; with `CI` set
//! they fail (`.ci/run` installs the package).

use crate::support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::Method;
use support::binary::Process;
use support::{Answer, TestGateway};

/// What Prometheus 2 sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                                 version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Whether `program` runs here; false (after a `SKIPPED` line) when it does not and
/// `CI` is unset; a failure when `CI` is set.
fn available(program: &str) -> bool {
    let found = Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but `{program}` is missing (apt-get install prometheus)"
        );
        eprintln!("SKIPPED: `{program}` is not installed (Debian: apt-get install prometheus)");
    }
    found
}

/// A child process killed and reaped however the test ends, panics included.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free port on 127.0.0.1 for a program that binds its own: bound, read, released.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn scrape(gw: &TestGateway, accept: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
    support::send(Method::GET, &format!("{}/metrics", gw.admin_url), &headers).await
}

/// Runs `promtool check metrics` on `exposition`: its exit status and what it said.
fn promtool_check(exposition: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

#[tokio::test]
async fn promtool_accepts_the_text_exposition_and_openmetrics_holds_the_same_samples() {
    if !available("promtool") {
        return;
    }
    let gw = TestGateway::start(|_| {}).await;
    // Every kind of family with a sample: counters, gauges, the histogram, build info.
    assert_eq!(gw.get("/api/blog/samples.json").await.status, 200);
    assert_eq!(gw.get("/api/nope/samples.json").await.status, 404);
    let text = scrape(&gw, None).await;
    assert_eq!(text.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let openmetrics = scrape(&gw, Some(PROMETHEUS_ACCEPT)).await;
    assert_eq!(
        openmetrics.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(openmetrics.text().ends_with("# EOF\n"), "{}", openmetrics.text());
    assert!(text.text().contains("\nappsignal_gateway_build_info{version="), "{}", text.text());
    let (ok, said) = promtool_check(&text.text());
    assert!(ok, "promtool check metrics refused the Prometheus text exposition:\n{said}\n{}", text.text());
    // promtool reads only the Prometheus text format (an `info` type is an unknown type to
    // it), so the OpenMetrics form is checked by Prometheus's own OpenMetrics parser in
    // `a_real_prometheus_scrapes_the_gateway`, and here against the text form: the same
    // samples, line for line.
    let samples = |exposition: &str| -> Vec<String> {
        let mut lines: Vec<String> =
            exposition.lines().filter(|l| !l.starts_with('#')).map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(samples(&openmetrics.text()), samples(&text.text()));
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_gateway_and_the_demo() {
    if !available("prometheus") {
        return;
    }
    let gw = TestGateway::start(|_| {}).await;
    assert_eq!(gw.get("/api/blog/samples.json").await.status, 200);
    let mut demo = Process::spawn(&["demo", "--listen", "127.0.0.1:0"], &[]);
    let line = demo.wait_line(|l| l.trim_start().starts_with("admin:"));
    let demo_admin = line.trim().trim_start_matches("admin:").trim().trim_start_matches("http://");
    let demo_admin = demo_admin.trim_end_matches("/readyz").to_owned();
    let dir = tempfile::tempdir().unwrap();
    let target = gw.admin_url.trim_start_matches("http://");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: gateway\n    static_configs:\n      - targets: [\"{target}\"]\n\
         \x20 - job_name: demo\n    static_configs:\n      - targets: [\"{demo_admin}\"]\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let api = format!("http://127.0.0.1:{}", free_port());
    let _prometheus = start_prometheus(dir.path(), api.trim_start_matches("http://"));

    for job in ["gateway", "demo"] {
        let up = wait_for_result(&api, &format!("up{{job=\"{job}\"}}"), |value| value == "1").await;
        assert_eq!(up, "1", "the {job}'s target is not up");
        let build = format!("appsignal_gateway_build_info{{job=\"{job}\"}}");
        assert_eq!(wait_for_result(&api, &build, |v| v == "1").await, "1");
    }
    let series = "appsignal_gateway_requests_total{job=\"gateway\",route=\"samples\",status=\"200\"}";
    assert_eq!(wait_for_result(&api, series, |value| value == "1").await, "1");
    let targets = support::send(Method::GET, &format!("{api}/api/v1/targets"), &[]).await.json();
    for target in targets["data"]["activeTargets"].as_array().unwrap() {
        assert_eq!(target["health"], "up", "{target}");
        assert_eq!(target["lastError"], "", "{target}");
    }
    assert!(demo.terminate().success());
}

/// Starts Prometheus on `listen` with the configuration in `dir`, its data there too.
fn start_prometheus(dir: &Path, listen: &str) -> Killed {
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={listen}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    Killed(child)
}

/// Polls Prometheus's query API (bounded: 60 s) until `query` has a sample whose value
/// satisfies `wanted`, and returns that value. Prometheus answers nothing until it is
/// ready and has scraped, which it says only through this API.
async fn wait_for_result(api: &str, query: &str, wanted: impl Fn(&str) -> bool) -> String {
    let url = format!("{api}/api/v1/query?query={}", percent_encode(query));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::from("(no answer yet)");
    while Instant::now() < deadline {
        if let Some(value) = query_once(&url).await {
            if wanted(&value) {
                return value;
            }
            last = value;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("`{query}` never satisfied the test within 60 s; last value: {last}");
}

/// One query: the first sample's value, or `None` while Prometheus is not answering or
/// has no sample yet.
async fn query_once(url: &str) -> Option<String> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let request = async {
        let response = client.get(url.parse().ok()?).await.ok()?;
        let body = http_body_util::BodyExt::collect(response.into_body()).await.ok()?.to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).ok()?;
        json["data"]["result"][0]["value"][1].as_str().map(str::to_owned)
    };
    tokio::time::timeout(Duration::from_secs(5), request).await.ok().flatten()
}

fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
