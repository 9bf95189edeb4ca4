//! The built binary: `check`, token sources, overrides, exit codes, logs, signals, demo.

use crate::support;

use std::time::Duration;

use http::Method;
use support::binary::{self, Process};
use support::{FakeAppSignal, Reply, APP_ID, TOKEN};

fn yaml(upstream: &str, extra: &str) -> String {
    format!(
        "listen: \"127.0.0.1:0\"\nadmin_listen: \"127.0.0.1:0\"\n\
         upstream:\n  base_url: \"{upstream}\"\n  timeout: \"2s\"\n{extra}\n\
         apps:\n  - id: \"{APP_ID}\"\n    name: \"blog\"\n\
         log:\n  format: \"json\"\n  level: \"debug\"\n"
    )
}

#[test]
fn check_prints_settings_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let path =
        binary::write_config(dir.path(), &yaml("https://appsignal.com", &format!("  token: \"{TOKEN}\"")));
    let (status, stdout, stderr) = binary::run(&["check", "--config", &path], &[]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("token: '[redacted]'"), "{stdout}");
    assert!(stdout.contains("base_url: https://appsignal.com"));
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
}

#[test]
fn check_redacts_the_redis_password_and_names_a_bad_redis_url() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = yaml("https://appsignal.com", &format!("  token: \"{TOKEN}\""));
    config.push_str("shared:\n  redis_url: \"rediss://gw:pa55-w0rd-redis@redis.internal:6380/1\"\n");
    let path = binary::write_config(dir.path(), &config);
    let env = [("APPSIGNAL_GATEWAY_SHARED__CLUSTER", "true")];
    let (status, stdout, stderr) = binary::run(&["check", "--config", &path], &env);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("redis_url: rediss://gw:[redacted]@redis.internal:6380/1"), "{stdout}");
    assert!(stdout.contains("cluster: true"), "{stdout}");
    assert!(!stdout.contains("pa55-w0rd-redis") && !stderr.contains("pa55-w0rd-redis"));

    let bad = yaml("https://appsignal.com", &format!("  token: \"{TOKEN}\""))
        + "shared:\n  redis_url: \"http://user:pa55-w0rd-redis@host\"\n  command_timeout: \"soon\"\n";
    let path = binary::write_config(dir.path(), &bad);
    let (status, stdout, stderr) = binary::run(&["check", "--config", &path], &[]);
    assert!(!status.success());
    assert!(stderr.contains("shared.redis_url") && stderr.contains("redis://"), "{stderr}");
    assert!(stderr.contains("shared.command_timeout"), "{stderr}");
    assert!(!stdout.contains("pa55-w0rd-redis") && !stderr.contains("pa55-w0rd-redis"));
}

#[test]
fn check_names_every_bad_key_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "listen: \"nowhere\"\nupstream:\n  token: \"t\"\n  timeout: \"soon\"\n  rate_limit:\n    per_second: 0\n\
               apps:\n  - id: \"a1\"\n    nmae: \"x\"\ncache:\n  ttl:\n    lst: \"1s\"\n  max_size: \"lots\"\n";
    let path = binary::write_config(dir.path(), bad);
    let (status, _, stderr) = binary::run(&["check", "--config", &path], &[]);
    assert_eq!(status.code(), Some(2));
    for key in [
        "listen:",
        "upstream.timeout:",
        "upstream.rate_limit.per_second:",
        "apps[0].nmae:",
        "cache.ttl.lst:",
        "cache.max_size:",
    ] {
        assert!(stderr.contains(key), "{key} not reported in:\n{stderr}");
    }
    assert!(stderr.contains("unknown key"));
}

#[test]
fn missing_token_refuses_to_start_and_says_how() {
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml("https://appsignal.com", ""));
    for args in [vec!["--config", &path], vec!["check", "--config", &path]] {
        let (status, _, stderr) = binary::run(&args, &[]);
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN") && stderr.contains("token_file"),
            "{stderr}"
        );
    }
}

#[test]
fn missing_config_file_is_an_error() {
    let (status, _, stderr) = binary::run(&["check", "--config", "/nonexistent/gateway.yaml"], &[]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("/nonexistent/gateway.yaml"));
}

#[test]
fn shipped_example_config_is_valid() {
    let (status, _, stderr) = binary::run(
        &["check", "--config", "config/gateway.yaml"],
        &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", "x")],
    );
    assert!(status.success(), "{stderr}");
}

/// Starts the binary against `fake`, makes one request, and returns what the fake got.
async fn token_seen_upstream(extra: &str, envs: &[(&str, &str)]) -> String {
    let fake = FakeAppSignal::start().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = extra.replace("{dir}", &dir.path().to_string_lossy());
    std::fs::write(dir.path().join("token.txt"), format!("{TOKEN}\n")).unwrap();
    let path = binary::write_config(dir.path(), &yaml(&fake.url, &extra));
    let mut process = Process::spawn(&["--config", &path], envs);
    let (listen, _) = process.wait_serving();
    let answer = support::send(Method::GET, &format!("http://{listen}/api/blog/samples.json"), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(process.terminate().success());
    let received = fake.received();
    received[0].pairs().into_iter().find(|(k, _)| k == "token").unwrap().1
}

#[tokio::test]
async fn token_file_is_read_and_trimmed() {
    assert_eq!(token_seen_upstream("  token_file: \"{dir}/token.txt\"", &[]).await, TOKEN);
}

#[tokio::test]
async fn environment_overrides_the_file() {
    let token = token_seen_upstream(
        "  token: \"from-file\"",
        &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", "from-env-77")],
    )
    .await;
    assert_eq!(token, "from-env-77");
}

#[tokio::test]
async fn an_unreachable_redis_is_logged_without_its_password_and_costs_no_request() {
    let fake = FakeAppSignal::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let path = binary::write_config(dir.path(), &yaml(&fake.url, ""));
    let url = format!("redis://gw:pa55-w0rd-redis@127.0.0.1:{port}/0");
    let envs =
        [("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN), ("APPSIGNAL_GATEWAY_SHARED__REDIS_URL", url.as_str())];
    let mut process = Process::spawn(&["--config", &path], &envs);
    let (listen, _) = process.wait_serving();
    // The warning may come before or after the "serving" line that `wait_serving` read past.
    let unreachable = |l: &str| l.contains("the shared tier does not answer");
    let seen = process.all_output().lines().find(|l| unreachable(l)).map(str::to_owned);
    let warning = seen.unwrap_or_else(|| process.wait_line(unreachable));
    assert!(warning.contains("redis://gw:[redacted]@127.0.0.1"), "{warning}");
    let answer =
        support::send(Method::GET, &format!("http://{listen}/api/blog/samples.json?limit=3"), &[]).await;
    assert_eq!(answer.status, 200, "a replica without its Redis serves alone");
    assert!(process.terminate().success());
    let output = process.all_output();
    assert!(!output.contains("pa55-w0rd-redis"), "Redis password in logs:\n{output}");
}

#[tokio::test]
async fn logs_never_contain_the_token() {
    let fake = FakeAppSignal::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml(&fake.url, ""));
    let mut process = Process::spawn(&["--config", &path], &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)]);
    let (listen, _) = process.wait_serving();
    let base = format!("http://{listen}");
    for (i, reply) in [
        Reply::Echo,
        Reply::EchoUrl(500),
        Reply::EchoUrl(401),
        Reply::EchoUrl(429),
        Reply::NotJson,
        Reply::Reset,
        Reply::Json(404, "{}"),
    ]
    .into_iter()
    .enumerate()
    {
        fake.then(reply);
        // A distinct query per request, so each one is a cache miss that reaches the fake.
        let url = format!("{base}/api/blog/samples.json?token=client-tok&limit={}", i + 1);
        let answer = support::send(Method::GET, &url, &[]).await;
        answer.assert_no_token();
    }
    let answer = support::send(Method::GET, &format!("{base}/api/blog/samples.json?bogus=1"), &[]).await;
    assert_eq!(answer.status, 400);
    assert!(process.terminate().success());
    let output = process.all_output();
    assert!(!output.contains(TOKEN), "token in logs:\n{output}");
    assert!(output.contains("[redacted]"), "the echoed URL should have been logged scrubbed:\n{output}");
    // One access line per request, with the fields an operator needs.
    let access: Vec<serde_json::Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|j| j["message"] == "request")
        .collect();
    assert_eq!(access.len(), 8, "{output}");
    let first = &access[0];
    assert_eq!(
        (first["method"].as_str(), first["route"].as_str(), first["app"].as_str()),
        (Some("GET"), Some("samples"), Some(APP_ID))
    );
    assert_eq!((first["status"].as_u64(), first["upstream"].as_u64()), (Some(200), Some(200)));
    assert!(first["duration_ms"].as_f64().is_some());
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let fake = FakeAppSignal::start().await;
    fake.always(Reply::Delay(Duration::from_millis(500), Box::new(Reply::Echo)));
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml(&fake.url, ""));
    let mut process = Process::spawn(&["--config", &path], &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)]);
    let (listen, _) = process.wait_serving();
    let request = tokio::spawn(support::send(
        Method::GET,
        format!("http://{listen}/api/blog/samples.json").leak(),
        &[],
    ));
    fake.wait_for(1).await;
    let status = tokio::task::spawn_blocking(move || process.terminate()).await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(request.await.unwrap().status, 200);
}

#[test]
fn bind_failure_exits_non_zero_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml("https://appsignal.com", ""));
    let (status, _, stderr) = binary::run(
        &["--config", &path],
        &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN), ("APPSIGNAL_GATEWAY_LISTEN", &addr)],
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
}

#[tokio::test]
async fn demo_serves_simulated_samples() {
    let mut process = Process::spawn(&["demo", "--listen", "127.0.0.1:0"], &[]);
    let line = process.wait_line(|l| l.trim_start().starts_with("gateway: http://"));
    let base = line.trim().trim_start_matches("gateway: ").to_owned();
    let answer =
        support::send(Method::GET, &format!("{base}/api/blog/samples/errors.json?limit=2"), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let entries = answer.json()["log_entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2);
    let id = entries[0]["id"].as_str().unwrap().replace('#', "%23");
    let one = support::send(Method::GET, &format!("{base}/api/blog/samples/{id}.json"), &[]).await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json()["id"], entries[0]["id"]);
    let missing = support::send(Method::GET, &format!("{base}/api/blog/samples/nope.json"), &[]).await;
    assert_eq!(missing.status, 404);
    let graphs =
        support::send(Method::GET, &format!("{base}/api/blog/graphs.json?kind=web&timeframe=day"), &[]).await;
    assert_eq!(graphs.status, 200);
    assert!(process.terminate().success());
}

#[test]
fn demo_tls_serves_h2_and_http1_with_a_certificate_curl_trusts() {
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "curl is missing under CI");
        eprintln!("SKIPPED: curl is not installed");
        return;
    }
    // The demo's temporary directory goes under one of the test's own, so nothing is
    // left behind even when this test fails before the demo stops.
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().to_str().unwrap();
    let mut process = Process::spawn(&["demo", "--tls", "--listen", "127.0.0.1:0"], &[("TMPDIR", tmpdir)]);
    let line = process.wait_line(|l| l.trim_start().starts_with("gateway: https://"));
    let base = line.trim().trim_start_matches("gateway: ").to_owned();
    let note = process.wait_line(|l| l.contains("self-signed certificate made at start:"));
    let cert = note.rsplit(' ').next().unwrap().trim().to_owned();
    let curl = |extra: &[&str]| {
        let output = std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "--max-time", "20"])
            .args(["--cacert", &cert])
            .args(extra)
            .arg(format!("{base}/api/blog/samples.json?limit=2"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
    };
    assert_eq!(curl(&[]), "2 200", "HTTP/2 by ALPN");
    assert_eq!(curl(&["--http1.1"]), "1.1 200");
    let cert_dir = std::path::Path::new(&cert).parent().unwrap().to_owned();
    assert!(cert_dir.starts_with(tmp.path()) && cert_dir.is_dir(), "{cert_dir:?}");
    assert!(process.terminate().success());
    assert!(!cert_dir.exists(), "the demo left its certificate behind in {cert_dir:?}");
}

#[tokio::test]
async fn demo_honours_its_config_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "apps:\n  - id: \"abc123\"\n    name: \"mine\"\ncors:\n  allowed_origins: [\"http://localhost:3000\"]\n";
    let path = binary::write_config(dir.path(), yaml);
    let env = [("APPSIGNAL_GATEWAY_CLIENTS__RATE_LIMIT__BURST", "3")];
    let mut process = Process::spawn(&["demo", "--listen", "127.0.0.1:0", "--config", &path], &env);
    let line = process.wait_line(|l| l.trim_start().starts_with("gateway: http://"));
    let base = line.trim().trim_start_matches("gateway: ").to_owned();
    let origin = [("origin", "http://localhost:3000")];
    let answer = support::send(Method::GET, &format!("{base}/api/mine/samples.json?limit=2"), &origin).await;
    assert_eq!(answer.status, 200, "the file's app is not served: {}", answer.text());
    assert_eq!(answer.header("access-control-allow-origin"), Some("http://localhost:3000"));
    let demo_app = support::send(Method::GET, &format!("{base}/api/blog/samples.json"), &[]).await;
    assert_eq!(demo_app.status, 404, "the file lists its own apps");
    // The environment's burst of 3 holds: the fourth and later requests are refused.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(support::send(Method::GET, &format!("{base}/api/mine/samples.json"), &[]).await.status);
    }
    assert!(statuses.contains(&http::StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    assert!(process.terminate().success());
}

#[tokio::test]
async fn access_lines_name_the_path_and_the_error_code_but_no_secret() {
    let fake = FakeAppSignal::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml(&fake.url, ""));
    let mut process = Process::spawn(&["--config", &path], &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)]);
    let (listen, _) = process.wait_serving();
    let secrets = "token=client-tok-7e1d&key=dash-key-93ab";
    let cases = [
        ("/api/nope/samples.json", 404, "not_found"),
        ("/api/blog/nothing.json", 404, "not_found"),
        ("/api/blog/samples.json", 400, "invalid_parameter"),
        // AppSignal's own 404, answered from the entry it made.
        ("/api/blog/samples/gone.json", 404, "not_found"),
    ];
    fake.then(Reply::Json(404, "{}"));
    for (target, status, _) in cases {
        let query = if status == 400 { format!("{secrets}&limit=0") } else { secrets.to_owned() };
        let answer = support::send(Method::GET, &format!("http://{listen}{target}?{query}"), &[]).await;
        assert_eq!(answer.status, status, "{target}");
    }
    assert!(process.terminate().success());
    let output = process.all_output();
    for secret in ["client-tok-7e1d", "dash-key-93ab", TOKEN] {
        assert!(!output.contains(secret), "{secret} in logs:\n{output}");
    }
    let access: Vec<serde_json::Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|j| j["message"] == "request")
        .collect();
    assert_eq!(access.len(), cases.len(), "{output}");
    for (line, (target, status, code)) in access.iter().zip(cases) {
        assert_eq!(line["path"], target, "{line}");
        assert_eq!(line["status"], status, "{line}");
        assert_eq!(line["code"], code, "{line}");
    }
}

#[test]
fn openapi_needs_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), "apps:\n  - id: \"app1\"\n    name: \"blog\"\n");
    let (status, stdout, stderr) = binary::run(&["openapi", "--config", &path], &[]);
    assert!(status.success(), "{stderr}");
    let document: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON document");
    assert!(document["paths"]["/api/{app}/samples.json"].is_object(), "{stdout}");
    // Any other bad key is still an error.
    let path = binary::write_config(dir.path(), "apps: []\ncache:\n  ttl:\n    list: 30\n");
    let (status, _, stderr) = binary::run(&["openapi", "--config", &path], &[]);
    assert_eq!(status.code(), Some(2), "{stderr}");
}

#[test]
fn a_bare_number_for_a_duration_is_told_its_unit_and_check_prints_durations_normalised() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        format!("upstream:\n  token: \"{TOKEN}\"\napps:\n  - id: \"app1\"\ncache:\n  ttl:\n    list: 30\n");
    let path = binary::write_config(dir.path(), &config);
    let (status, _, stderr) = binary::run(&["check", "--config", &path], &[]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("cache.ttl.list: `30` is not a duration; write `30s`"), "{stderr}");
    let config = format!(
        "upstream:\n  token: \"{TOKEN}\"\napps:\n  - id: \"app1\"\ncache:\n  ttl:\n    show: \"90 secs\"\n"
    );
    let path = binary::write_config(dir.path(), &config);
    let env = [("APPSIGNAL_GATEWAY_CACHE__TTL__LIST", "10")];
    let (status, _, stderr) = binary::run(&["check", "--config", &path], &env);
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains(
            "cache.ttl.list (set by APPSIGNAL_GATEWAY_CACHE__TTL__LIST): `10` is not a duration; write `10s`"
        ),
        "{stderr}"
    );
    let (status, stdout, stderr) = binary::run(&["check", "--config", &path], &[]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("    show: 1m 30s\n") && stdout.contains("    list: 30s\n"), "{stdout}");
    assert!(!stdout.contains("secs"), "{stdout}");
}

#[test]
fn loopback_inside_a_container_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml("http://127.0.0.1:9", ""));
    let mut process = Process::spawn(
        &["--config", &path],
        &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN), ("container", "podman")],
    );
    process.wait_serving();
    assert!(process.terminate().success());
    let output = process.all_output();
    let warning = output.lines().find(|l| l.contains("loopback address inside a container"));
    let warning = warning.unwrap_or_else(|| panic!("no warning:\n{output}"));
    assert!(warning.contains("APPSIGNAL_GATEWAY_LISTEN=0.0.0.0:8080"), "{warning}");
}

/// Issue 26, finding 8: a secret pasted into the wrong key is never quoted back: not by
/// `check`, not by the admin reload's 400, not in the error log; a `base_url` with
/// userinfo is printed redacted.
#[tokio::test]
async fn configuration_errors_never_quote_a_secret() {
    const PASSWORD: &str = "r3dis-pa55word";
    const BASIC: &str = "b4sic-auth-pw";
    let dir = tempfile::tempdir().unwrap();
    let misplaced = format!(
        "listen: \"127.0.0.1:0\"\nadmin_listen: \"127.0.0.1:0\"\n\
         upstream:\n  token: \"{TOKEN}\"\n  timeout: \"{TOKEN}\"\n  max_response_size: \"{TOKEN}\"\n  \
         rate_limit:\n    per_second: \"{TOKEN}\"\n\
         apps:\n  - id: \"{APP_ID}\"\n\
         shared:\n  redis_url: \"redis://gw:{PASSWORD}@127.0.0.1:1/0\"\n  connect_timeout: \"{PASSWORD}\"\n"
    );
    let path = binary::write_config(dir.path(), &misplaced);
    let (status, stdout, stderr) = binary::run(&["check", "--config", &path], &[]);
    assert!(!status.success());
    assert!(
        stderr.contains("upstream.timeout") && stderr.contains("upstream.rate_limit.per_second"),
        "{stderr}"
    );
    assert!(stderr.contains("shared.connect_timeout"), "{stderr}");
    for secret in [TOKEN, PASSWORD] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} quoted:\n{stdout}\n{stderr}");
    }
    // The token from the environment, pasted into the file's wrong key.
    let only_timeout = format!("upstream:\n  timeout: \"{TOKEN}\"\napps:\n  - id: \"{APP_ID}\"\n");
    let path = binary::write_config(dir.path(), &only_timeout);
    let (status, stdout, stderr) =
        binary::run(&["check", "--config", &path], &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)]);
    assert!(!status.success() && stderr.contains("upstream.timeout"), "{stderr}");
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN), "{stderr}");
    // A base URL with userinfo is shown without it.
    let basic = yaml(&format!("https://gw:{BASIC}@appsignal.com"), &format!("  token: \"{TOKEN}\""));
    let path = binary::write_config(dir.path(), &basic);
    let (status, stdout, stderr) = binary::run(&["check", "--config", &path], &[]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("base_url: https://[redacted]@appsignal.com"), "{stdout}");
    assert!(!stdout.contains(BASIC) && !stderr.contains(BASIC), "{stdout}");

    // The admin reload's 400 and the error log.
    let fake = FakeAppSignal::start().await;
    let path = binary::write_config(dir.path(), &yaml(&fake.url, &format!("  token: \"{TOKEN}\"")));
    let mut process = Process::spawn(&["--config", &path], &[]);
    let (_, admin) = process.wait_serving();
    std::fs::write(
        &path,
        yaml(&fake.url, &format!("  token: \"{TOKEN}\"")).replace("\"2s\"", &format!("\"{TOKEN}\"")),
    )
    .unwrap();
    let answer = support::send(Method::POST, &format!("http://{admin}/config/reload"), &[]).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(answer.text().contains("upstream.timeout"), "{}", answer.text());
    assert!(!answer.text().contains(TOKEN), "token in the reload's answer: {}", answer.text());
    assert!(process.terminate().success());
    let output = process.all_output();
    assert!(output.contains("upstream.timeout"), "the failed reload was not logged:\n{output}");
    assert!(!output.contains(TOKEN), "token in logs:\n{output}");
}

#[tokio::test]
async fn v2_queries_from_the_built_binary_never_log_the_token() {
    let fake = FakeAppSignal::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml(&fake.url, ""));
    let mut process = Process::spawn(&["--config", &path], &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)]);
    let (listen, _) = process.wait_serving();
    let url = format!("http://{listen}/api/v2/tracing/trace");
    let json = [("content-type", "application/json")];
    let echoed: &'static str =
        Box::leak(format!(r#"{{"error":"bad_query","message":"token {TOKEN} refused"}}"#).into_boxed_str());
    for (i, reply) in [Reply::Echo, Reply::EchoUrl(500), Reply::Json(422, echoed), Reply::Throttle("1")]
        .into_iter()
        .enumerate()
    {
        fake.then(reply);
        let body = bytes::Bytes::from(format!(r#"{{"site_ids":["blog"],"trace_id":"t{i}"}}"#));
        support::send_body(Method::POST, &url, &json, body).await.assert_no_token();
    }
    assert!(process.terminate().success());
    let output = process.all_output();
    assert!(!output.contains(TOKEN), "token in logs:\n{output}");
    let received = fake.received();
    assert!(received.iter().all(|r| r.method == "POST" && !r.query.contains(TOKEN)));
}
