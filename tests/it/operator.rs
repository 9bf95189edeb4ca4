//! What a new operator tripped over: a reload that forgets a pending restart, the admin's
//! `Allow` headers, colour codes in files, confusing errors, noisy metrics and log lines.

use crate::support;

use std::process::Stdio;

use appsignal_gateway::config;
use appsignal_gateway::lifecycle::{self, StartOptions};
use http::Method;
use support::binary::{self, Process};
use support::{FakeAppSignal, Reply, TestGateway, TOKEN};

fn yaml(upstream: &str, listen: &str, format: &str) -> String {
    format!(
        "listen: \"{listen}\"\nadmin_listen: \"127.0.0.1:0\"\n\
         upstream:\n  base_url: \"{upstream}\"\n  token: \"{TOKEN}\"\n\
         apps:\n  - id: \"5114f7e38c5ce90000000011\"\n    name: \"blog\"\n\
         log:\n  format: \"{format}\"\n  level: \"info\"\n"
    )
}

async fn reload(admin: std::net::SocketAddr) -> serde_json::Value {
    let answer = support::send(Method::POST, &format!("http://{admin}/config/reload"), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

#[tokio::test]
async fn a_pending_restart_is_reported_by_every_reload_until_it_happens() {
    let fake = FakeAppSignal::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml(&fake.url, "127.0.0.1:0", "json")).unwrap();
    let (_, settings) = config::load(&path).unwrap();
    let options = StartOptions { config_path: Some(path.clone()), ..Default::default() };
    let running = lifecycle::start(settings, options).await.unwrap();

    // A new listen address cannot be applied by a reload: said once, and said again.
    std::fs::write(&path, yaml(&fake.url, "127.0.0.2:0", "json")).unwrap();
    assert_eq!(reload(running.admin).await["restart_required"], serde_json::json!(["listen"]));
    assert_eq!(reload(running.admin).await["restart_required"], serde_json::json!(["listen"]));
    let metrics = support::send(Method::GET, &format!("http://{}/metrics", running.admin), &[]).await;
    assert!(metrics.text().contains("appsignal_gateway_restart_required 1"), "{}", metrics.text());

    // Joining a shared tier, or turning HTTPS on, takes a restart too: both are named.
    let extra = "shared:\n  redis_url: \"redis://127.0.0.1:1/0\"\n";
    std::fs::write(&path, yaml(&fake.url, "127.0.0.1:0", "json") + extra).unwrap();
    assert_eq!(reload(running.admin).await["restart_required"], serde_json::json!(["shared"]));
    let ca_dir = tempfile::tempdir().unwrap();
    let (cert, key) = (ca_dir.path().join("c.pem"), ca_dir.path().join("k.pem"));
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let certificate =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&key_pair).unwrap();
    std::fs::write(&cert, certificate.pem()).unwrap();
    std::fs::write(&key, key_pair.serialize_pem()).unwrap();
    let tls = format!("tls:\n  cert_file: \"{}\"\n  key_file: \"{}\"\n", cert.display(), key.display());
    std::fs::write(&path, yaml(&fake.url, "127.0.0.1:0", "json") + &tls).unwrap();
    assert_eq!(reload(running.admin).await["restart_required"], serde_json::json!(["tls"]));

    // Putting the running value back clears it.
    std::fs::write(&path, yaml(&fake.url, "127.0.0.1:0", "json")).unwrap();
    assert_eq!(reload(running.admin).await["restart_required"], serde_json::json!([]));
    let metrics = support::send(Method::GET, &format!("http://{}/metrics", running.admin), &[]).await;
    assert!(metrics.text().contains("appsignal_gateway_restart_required 0"), "{}", metrics.text());
    running.shutdown().await;
}

#[tokio::test]
async fn each_admin_path_names_its_own_methods() {
    let gw = TestGateway::start(|_| {}).await;
    for (method, path, allow) in [
        (Method::GET, "/cache/purge", "POST"),
        (Method::GET, "/config/reload", "POST"),
        (Method::OPTIONS, "/metrics", "GET, HEAD"),
        (Method::POST, "/metrics", "GET, HEAD"),
        (Method::DELETE, "/healthz", "GET, HEAD"),
        (Method::PUT, "/readyz", "GET, HEAD"),
    ] {
        let answer = support::send(method.clone(), &format!("{}{path}", gw.admin_url), &[]).await;
        assert_eq!(answer.status, 405, "{method} {path}");
        assert_eq!(answer.header("allow"), Some(allow), "{method} {path}");
        let message = answer.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(allow.split(',').next().unwrap()), "{method} {path}: {message}");
        assert!(!message.contains("OPTIONS"), "{method} {path} claims OPTIONS: {message}");
    }
    // The public routes keep theirs.
    let answer = gw.send(Method::POST, "/api/blog/samples.json", &[]).await;
    assert_eq!(answer.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[tokio::test]
async fn pretty_logs_carry_no_colour_codes_off_a_terminal() {
    let fake = FakeAppSignal::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml(&fake.url, "127.0.0.1:0", "pretty"));
    let mut process = Process::spawn(&["--config", &path], &[]);
    process.wait_line(|l| l.contains("appsignal-gateway is serving"));
    assert!(process.terminate().success());
    let output = process.all_output();
    assert!(output.contains("INFO"), "{output}");
    assert!(!output.contains('\u{1b}'), "ANSI escapes in piped logs:\n{output:?}");
}

#[test]
fn a_bind_error_names_its_cause_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml("http://127.0.0.1:9", &addr, "pretty"));
    let (status, _, stderr) = binary::run(&["--config", &path], &[]);
    assert!(!status.success());
    let error = stderr.lines().find(|l| l.contains("cannot listen")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(error.contains(&addr), "{error}");
    assert_eq!(error.matches("in use").count(), 1, "the cause is repeated: {error}");
    assert_eq!(stderr.matches("in use").count(), 1, "reported more than once:\n{stderr}");
    assert!(error.contains("APPSIGNAL_GATEWAY_LISTEN") && error.contains("--listen"), "{error}");
}

#[test]
fn a_bad_environment_override_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml("http://127.0.0.1:9", "127.0.0.1:0", "json"));
    let env = [("APPSIGNAL_GATEWAY_CACHE__MAX_SIZE", "lots")];
    let (status, _, stderr) = binary::run(&["check", "--config", &path], &env);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("cache.max_size (set by APPSIGNAL_GATEWAY_CACHE__MAX_SIZE)"), "{stderr}");
    // A key the file sets is not blamed on the environment.
    let (_, _, stderr) =
        binary::run(&["check", "--config", &path], &[("APPSIGNAL_GATEWAY_LISTEN", "nowhere")]);
    assert!(stderr.contains("listen (set by APPSIGNAL_GATEWAY_LISTEN)"), "{stderr}");
    assert!(!stderr.contains("admin_listen (set by"), "{stderr}");
}

#[test]
fn a_type_error_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "listen: \"127.0.0.1:0\"\nupstream:\n  token: \"{TOKEN}\"\n\
         apps:\n  - id: 5\n    name: [1]\nclients:\n  keys:\n    - name: 3\n      sha256: \"x\"\n"
    );
    let path = binary::write_config(dir.path(), &yaml);
    let (status, _, stderr) = binary::run(&["check", "--config", &path], &[]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("apps[0].id: invalid type"), "{stderr}");
    assert!(!stderr.contains("missing required key"), "a spurious error:\n{stderr}");
    let (_, _, stderr) = binary::run(&["check", "--config", &write_apps(dir.path(), "\"x\"")], &[]);
    assert!(stderr.contains("apps: invalid type"), "{stderr}");
    assert!(!stderr.contains("list at least one"), "a spurious error:\n{stderr}");
}

fn write_apps(dir: &std::path::Path, apps: &str) -> String {
    binary::write_config(dir, &format!("upstream:\n  token: \"{TOKEN}\"\napps: {apps}\n"))
}

#[test]
fn check_into_a_closed_pipe_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml("http://127.0.0.1:9", "127.0.0.1:0", "json"));
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = binary::command(&["check", "--config", &path], &[])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn log_lines_round_durations_and_tie_upstream_failures_to_their_request() {
    let fake = FakeAppSignal::start().await;
    fake.always(Reply::Json(500, "{\"error\":\"boom\"}"));
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml(&fake.url, "127.0.0.1:0", "json"));
    let mut process = Process::spawn(&["--config", &path], &[]);
    let (listen, admin) = process.wait_serving();
    let answer = support::send(Method::GET, &format!("http://{listen}/api/blog/samples.json"), &[]).await;
    assert_eq!(answer.status, 502);
    let id = answer.header("x-request-id").unwrap().to_owned();
    let warning = process.wait_line(|l| l.contains("upstream call failed"));
    let warning: serde_json::Value = serde_json::from_str(&warning).unwrap();
    assert_eq!(warning["request_id"], id.as_str(), "{warning}");
    let access = process.wait_line(|l| l.contains("\"request\"") && l.contains(&id));
    let access: serde_json::Value = serde_json::from_str(&access).unwrap();
    let duration = access["duration_ms"].to_string();
    let decimals = duration.split('.').nth(1).map_or(0, str::len);
    assert!(decimals <= 3, "duration_ms not rounded to the microsecond: {duration}");

    // Only series that happened are printed.
    let metrics = support::send(Method::GET, &format!("http://{admin}/metrics"), &[]).await.text();
    assert!(metrics.contains("requests_total{route=\"samples\",status=\"502\"} 1"), "{metrics}");
    assert!(!metrics.contains("route=\"healthz\""), "always-zero series:\n{metrics}");
    assert!(!metrics.contains("status=\"504\""), "always-zero series:\n{metrics}");
    assert!(process.terminate().success());
}

/// On a terminal (a pseudo-terminal from util-linux's `script`) pretty logs are coloured,
/// unless `NO_COLOR` is set.
#[test]
fn pretty_logs_are_coloured_on_a_terminal_unless_no_color() {
    if !std::path::Path::new("/usr/bin/script").exists() {
        assert!(std::env::var_os("CI").is_none(), "CI is set but util-linux's script is missing");
        eprintln!("SKIPPED: /usr/bin/script (util-linux) is needed for a pseudo-terminal");
        return;
    }
    // A bind error: logged through the pretty subscriber, then the process exits.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml("http://127.0.0.1:9", &addr, "pretty"));
    let on_a_terminal = |no_color: Option<&str>| {
        let line = format!("{} --config {path}", env!("CARGO_BIN_EXE_appsignal-gateway"));
        let mut command = std::process::Command::new("/usr/bin/script");
        command.args(["-qec", &line, "/dev/null"]).stdin(Stdio::null()).env_remove("NO_COLOR");
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        let out = command.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_a_terminal(None);
    assert!(coloured.contains("cannot listen"), "{coloured}");
    assert!(coloured.contains('\u{1b}'), "no colour on a terminal: {coloured:?}");
    let plain = on_a_terminal(Some("1"));
    assert!(plain.contains("cannot listen"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "colour despite NO_COLOR: {plain:?}");
}
