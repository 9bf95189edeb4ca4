//! Scoped dashboard keys.

use crate::support;

use appsignal_gateway::auth::digest_hex;
use appsignal_gateway::config::{RawConfig, RawKey, RawRate};
use http::Method;
use support::binary::{self, Process};
use support::{FakeAppSignal, TestGateway, APP_ID, TOKEN};

const WALL: &str = "wall-key-0123456789abcdef";
const BLOG_ONLY: &str = "blog-only-key-fedcba9876543210";
const OTHER: &str = "/api/other0000000000000000022/samples.json";

fn with_keys(raw: &mut RawConfig) {
    raw.clients.keys = vec![
        RawKey { name: "ops-wall".into(), sha256: digest_hex(WALL), apps: None },
        RawKey { name: "blog-dash".into(), sha256: digest_hex(BLOG_ONLY), apps: Some(vec!["blog".into()]) },
    ];
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

#[tokio::test]
async fn missing_or_unknown_key_is_401() {
    let gw = TestGateway::start(with_keys).await;
    for answer in [
        gw.get("/api/blog/samples.json").await,
        gw.get("/api/blog/samples.json?key=nope").await,
        gw.send(Method::GET, "/api/blog/samples.json", &[("authorization", "Bearer nope")]).await,
        gw.send(Method::GET, "/api/blog/samples.json", &[("authorization", &format!("Basic {WALL}"))]).await,
        gw.get("/api/unknown/samples.json").await,
    ] {
        assert_eq!(answer.status, 401, "{}", answer.text());
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
        assert_eq!(answer.code(), "unauthorized");
    }
    assert_eq!(gw.fake.count(), 0);
}

#[tokio::test]
async fn key_in_header_or_query_reads_and_never_reaches_appsignal() {
    let gw = TestGateway::start(with_keys).await;
    let by_header =
        gw.send(Method::GET, "/api/blog/samples.json?limit=3", &[("authorization", &bearer(WALL))]).await;
    assert_eq!(by_header.status, 200, "{}", by_header.text());
    let by_query = gw.get(&format!("/api/blog/samples.json?key={BLOG_ONLY}&limit=3")).await;
    assert_eq!(by_query.status, 200, "{}", by_query.text());
    assert_eq!(by_query.body, by_header.body);
    // `key` is not part of the cache key: both keys read the one entry.
    assert_eq!(gw.fake.count(), 1);
    let received = &gw.fake.received()[0];
    assert!(!received.query.contains(WALL) && !received.query.contains("key="), "{}", received.query);
    assert!(received.headers.get("authorization").is_none());
}

#[tokio::test]
async fn out_of_scope_app_looks_exactly_like_an_unknown_app() {
    let gw = TestGateway::start(with_keys).await;
    // The wall key fills the cache for the other app...
    let filled = gw.send(Method::GET, OTHER, &[("authorization", &bearer(WALL))]).await;
    assert_eq!(filled.status, 200);
    // ...and the blog-only key still may not read it.
    let denied = gw.send(Method::GET, OTHER, &[("authorization", &bearer(BLOG_ONLY))]).await;
    let unknown =
        gw.send(Method::GET, "/api/nope/samples.json", &[("authorization", &bearer(BLOG_ONLY))]).await;
    assert_eq!(denied.status, 404);
    assert_eq!(denied.body, unknown.body);
    assert_eq!(denied.header("content-type"), unknown.header("content-type"));
    assert_eq!(gw.fake.count(), 1);
}

#[tokio::test]
async fn preflight_and_health_need_no_key() {
    let gw = TestGateway::start(|raw| {
        with_keys(raw);
        raw.cors.allowed_origins = vec!["https://dash.example.com".into()];
    })
    .await;
    let preflight = [
        ("origin", "https://dash.example.com"),
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "authorization"),
    ];
    let answer = gw.send(Method::OPTIONS, "/api/blog/samples.json", &preflight).await;
    assert_eq!(answer.status, 204);
    assert!(answer.header("access-control-allow-headers").unwrap().contains("authorization"));
    assert!(answer.header("access-control-allow-credentials").is_none());
    assert_eq!(gw.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn rate_limit_counts_per_key_name() {
    let gw = TestGateway::start(|raw| {
        with_keys(raw);
        raw.clients.rate_limit = RawRate { per_second: 1, burst: 2 };
        raw.clients.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let as_key = |key: &'static str, ip: &'static str| {
        let gw = &gw;
        async move {
            let auth = bearer(key);
            gw.send(
                Method::GET,
                "/api/blog/samples.json",
                &[("authorization", &auth), ("x-forwarded-for", ip)],
            )
            .await
        }
    };
    // One key from two addresses shares one bucket...
    assert_eq!(as_key(WALL, "203.0.113.1").await.status, 200);
    assert_eq!(as_key(WALL, "203.0.113.2").await.status, 200);
    assert_eq!(as_key(WALL, "203.0.113.3").await.status, 429);
    // ...and another key from the same address has its own.
    assert_eq!(as_key(BLOG_ONLY, "203.0.113.1").await.status, 200);
}

#[tokio::test]
async fn key_new_round_trips_through_check_and_serving() {
    let (status, stdout, _) = binary::run(&["key", "new", "--name", "ops-wall", "--apps", "blog"], &[]);
    assert!(status.success());
    let key = stdout.lines().find_map(|l| l.strip_prefix("key: ")).unwrap().to_owned();
    assert!(key.len() >= 32 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let entry: String = stdout.lines().filter(|l| l.starts_with("  ")).map(|l| format!("{l}\n")).collect();
    assert!(!entry.contains(&key), "the plain key is in the config entry");

    let fake = FakeAppSignal::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "listen: \"127.0.0.1:0\"\nadmin_listen: \"127.0.0.1:0\"\nupstream:\n  base_url: \"{}\"\n\
         apps:\n  - id: \"{APP_ID}\"\n    name: \"blog\"\nclients:\n  keys:\n{entry}log:\n  format: \"json\"\n  level: \"debug\"\n",
        fake.url
    );
    let path = binary::write_config(dir.path(), &yaml);
    let env = [("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)];
    let (status, stdout, stderr) = binary::run(&["check", "--config", &path], &env);
    assert!(status.success(), "{stderr}\n{yaml}");
    assert!(stdout.contains("ops-wall"));

    let mut process = Process::spawn(&["--config", &path], &env);
    let (listen, _) = process.wait_serving();
    let base = format!("http://{listen}");
    let ok = support::send(Method::GET, &format!("{base}/api/blog/samples.json?key={key}"), &[]).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let denied = support::send(Method::GET, &format!("{base}/api/blog/samples.json"), &[]).await;
    assert_eq!(denied.status, 401);
    assert!(process.terminate().success());
    let logs = process.all_output();
    assert!(!logs.contains(&key), "the key was logged");
    assert!(logs.contains("\"key\":\"ops-wall\""), "the key name is not on the access line:\n{logs}");
}

#[test]
fn key_new_refuses_what_config_loading_would_refuse() {
    for args in [&["--name", ".hidden"][..], &["--name", "ok", "--apps", "blog,.x"], &["--name", "a b"]] {
        let argv: Vec<&str> = ["key", "new"].iter().chain(args).copied().collect();
        let (status, stdout, stderr) = binary::run(&argv, &[]);
        assert_eq!(status.code(), Some(2), "{args:?} accepted:\n{stdout}");
        assert!(stderr.contains("not starting with '.'"), "{stderr}");
        assert!(!stdout.contains("key:"), "a key was printed for {args:?}");
    }
}

/// Issue 26, finding 6: with keys configured, a preflight (no key) answers the same on
/// every path under `/api/`, for a listed app or not, with an `Origin` or without, so
/// nothing about which apps exist can be probed.
#[tokio::test]
async fn preflights_tell_nothing_about_which_apps_exist() {
    let gw = TestGateway::start(|raw| {
        with_keys(raw);
        raw.cors.allowed_origins = vec!["https://dash.example.com".into()];
    })
    .await;
    let preflight = [("origin", "https://dash.example.com"), ("access-control-request-method", "GET")];
    let bare: [(&str, &str); 0] = [];
    let paths = ["/api/blog/samples.json", "/api/no-such-app/samples.json", "/api/blog/nothing-here"];
    for headers in [&preflight[..], &bare[..]] {
        let answers: Vec<_> = {
            let mut answers = Vec::new();
            for path in paths {
                answers.push(gw.send(Method::OPTIONS, path, headers).await);
            }
            answers
        };
        let shape = |a: &support::Answer| {
            let mut names: Vec<String> = a
                .headers
                .iter()
                .filter(|(name, _)| *name != "x-request-id" && *name != "date")
                .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
                .collect();
            names.sort();
            (a.status, names, a.body.clone())
        };
        for (path, answer) in paths.iter().zip(&answers) {
            assert_eq!(answer.status, 204, "{path} with {headers:?}");
            assert_eq!(shape(answer), shape(&answers[0]), "{path} answers differently with {headers:?}");
        }
    }
    assert_eq!(gw.fake.count(), 0);
}
