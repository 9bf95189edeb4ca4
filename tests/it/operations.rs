//! Operations: metrics, readiness, reload, request ids.

use crate::support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use appsignal_gateway::config;
use appsignal_gateway::lifecycle::{self, StartOptions};
use http::Method;
use support::binary::{self, Process};
use support::{FakeAppSignal, Reply, TestGateway, APP_ID, TOKEN};

#[tokio::test]
async fn metrics_after_traffic_on_admin_only() {
    let gw = TestGateway::start(|_| {}).await;
    gw.get("/api/blog/samples.json").await;
    gw.get("/api/blog/samples.json").await;
    gw.get("/api/blog/samples.json?limit=0").await;
    let metrics = support::send(Method::GET, &format!("{}/metrics", gw.admin_url), &[]).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").unwrap().starts_with("text/plain"));
    let text = metrics.text();
    for line in [
        "appsignal_gateway_requests_total{route=\"samples\",status=\"200\"} 2",
        "appsignal_gateway_requests_total{route=\"samples\",status=\"400\"} 1",
        "appsignal_gateway_cache_hits_total 1",
        "appsignal_gateway_cache_misses_total 1",
        "appsignal_gateway_upstream_calls_total{status=\"2xx\"} 1",
        "appsignal_gateway_upstream_duration_seconds_bucket{le=",
        "appsignal_gateway_upstream_duration_seconds_count 1",
        "appsignal_gateway_cache_entries 1",
        "appsignal_gateway_cache_bytes ",
        "appsignal_gateway_rate_limited_total{scope=\"client\"} 0",
        "appsignal_gateway_build_info{version=",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert_eq!(gw.get("/metrics").await.status, 404, "metrics served on the public listener");
}

#[tokio::test]
async fn readyz_reports_draining_while_requests_finish() {
    let mut gw = TestGateway::start(|_| {}).await;
    let readyz = format!("{}/readyz", gw.admin_url);
    assert_eq!(support::send(Method::GET, &readyz, &[]).await.status, 200);
    gw.fake.always(Reply::Delay(Duration::from_millis(1500), Box::new(Reply::Echo)));
    let url = format!("{}/api/blog/samples.json", gw.url);
    let in_flight = tokio::spawn(async move { support::send(Method::GET, &url, &[]).await });
    gw.fake.wait_for(1).await;
    let fake = gw.fake.clone();
    let draining = tokio::spawn(async move { gw.shutdown().await });
    let mut saw_503 = false;
    for _ in 0..100 {
        match tokio::time::timeout(Duration::from_secs(2), support::send(Method::GET, &readyz, &[])).await {
            Ok(answer) if answer.status == 503 => {
                saw_503 = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert!(saw_503, "readyz never said 503 while draining");
    assert_eq!(in_flight.await.unwrap().status, 200);
    draining.await.unwrap();
    assert_eq!(fake.count(), 1);
}

fn yaml(upstream: &str, ttl: &str, apps: &[(&str, &str)]) -> String {
    let apps: String =
        apps.iter().map(|(id, name)| format!("  - id: \"{id}\"\n    name: \"{name}\"\n")).collect();
    format!(
        "listen: \"127.0.0.1:0\"\nadmin_listen: \"127.0.0.1:0\"\n\
         upstream:\n  base_url: \"{upstream}\"\n  token: \"{TOKEN}\"\n  rate_limit: {{per_second: 10000, burst: 10000}}\n\
         clients:\n  rate_limit: {{per_second: 10000, burst: 10000}}\n\
         apps:\n{apps}cache:\n  ttl:\n    list: \"{ttl}\"\nlog:\n  format: \"json\"\n  level: \"info\"\n"
    )
}

/// A fake, a config file for it in a fresh directory, and a gateway started from that
/// file (so a reload re-reads it).
async fn start_from_file() -> (FakeAppSignal, tempfile::TempDir, std::path::PathBuf, lifecycle::Running) {
    let fake = FakeAppSignal::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml(&fake.url, "30s", &[(APP_ID, "blog")])).unwrap();
    let (_, settings) = config::load(&path).unwrap();
    let options = StartOptions { config_path: Some(path.clone()), ..Default::default() };
    let running = lifecycle::start(settings, options).await.unwrap();
    (fake, dir, path, running)
}

#[tokio::test]
async fn reload_applies_new_apps_and_ttls_without_failing_a_request() {
    let (fake, _dir, path, running) = start_from_file().await;
    let base = format!("http://{}", running.listen);
    assert_eq!(support::send(Method::GET, &format!("{base}/api/shop/samples.json"), &[]).await.status, 404);

    // A load loop runs through the reload; every one of its requests must succeed.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, base) = (stop.clone(), base.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) && i < 5000 {
                let url = format!("{base}/api/blog/samples.json?limit={}", i % 50 + 1);
                statuses.push(support::send(Method::GET, &url, &[]).await.status.as_u16());
                i += 1;
            }
            statuses
        })
    };
    std::fs::write(&path, yaml(&fake.url, "0s", &[(APP_ID, "blog"), ("5114f7e38c5ce90000000022", "shop")]))
        .unwrap();
    let reload = support::send(Method::POST, &format!("http://{}/config/reload", running.admin), &[]).await;
    assert_eq!(reload.status, 200, "{}", reload.text());
    assert_eq!(reload.json()["reloaded"], true);
    let shop = support::send(Method::GET, &format!("{base}/api/shop/samples.json"), &[]).await;
    assert_eq!(shop.status, 200, "the new app is not served");
    // The list TTL is now zero: a repeated request is not answered from the cache.
    for _ in 0..2 {
        let answer = support::send(Method::GET, &format!("{base}/api/blog/samples/errors.json"), &[]).await;
        assert_eq!(
            answer.header("cache-status"),
            Some("appsignal-gateway; fwd=miss"),
            "the new TTL is not in force"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let statuses = load.await.unwrap();
    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|s| *s == 200), "a request failed during the reload: {statuses:?}");
    let metrics = support::send(Method::GET, &format!("http://{}/metrics", running.admin), &[]).await;
    assert!(metrics.text().contains("appsignal_gateway_config_reloads_total{outcome=\"ok\"} 1"));
    running.shutdown().await;
}

#[tokio::test]
async fn a_reload_that_moves_an_alias_is_followed_at_once() {
    // Resolved targets are remembered per configuration generation: a URL polled before
    // the reload must resolve anew after it.
    let (fake, _dir, path, running) = start_from_file().await;
    let url = format!("http://{}/api/blog/samples.json?limit=3", running.listen);
    for _ in 0..2 {
        assert_eq!(support::send(Method::GET, &url, &[]).await.status, 200);
    }
    assert_eq!(fake.count(), 1, "the second request was a hit");
    let moved = "5114f7e38c5ce90000000022";
    std::fs::write(&path, yaml(&fake.url, "30s", &[(moved, "blog")])).unwrap();
    let reload = support::send(Method::POST, &format!("http://{}/config/reload", running.admin), &[]).await;
    assert_eq!(reload.status, 200, "{}", reload.text());
    assert_eq!(support::send(Method::GET, &url, &[]).await.status, 200);
    let received = fake.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].path, format!("/api/{moved}/samples.json"));
    running.shutdown().await;
}

#[tokio::test]
async fn invalid_reload_keeps_the_old_config_and_names_every_bad_key() {
    let (fake, _dir, path, running) = start_from_file().await;
    let base = format!("http://{}", running.listen);
    std::fs::write(&path, yaml(&fake.url, "soon", &[(APP_ID, "blog")]) + "bogus_key: 1\n").unwrap();
    let reload = support::send(Method::POST, &format!("http://{}/config/reload", running.admin), &[]).await;
    assert_eq!(reload.status, 400);
    let body = reload.json();
    assert_eq!(body["error"]["code"], "invalid_config");
    let keys: Vec<&str> =
        body["error"]["errors"].as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert!(keys.contains(&"cache.ttl.list") && keys.contains(&"bogus_key"), "{keys:?}");
    assert!(!reload.text().contains(TOKEN));
    // The old configuration is still in force.
    assert_eq!(support::send(Method::GET, &format!("{base}/api/blog/samples.json"), &[]).await.status, 200);
    assert_eq!(running.gateway.settings().cache.ttl.list, Duration::from_secs(30));
    running.shutdown().await;
}

#[tokio::test]
async fn request_ids_round_trip_and_stay_off_the_upstream_request() {
    let gw = TestGateway::start(|raw| raw.clients.trusted_proxies = vec!["127.0.0.1/32".into()]).await;
    let given = gw.send(Method::GET, "/api/blog/samples.json", &[("x-request-id", "lb-7f3a-0001")]).await;
    assert_eq!(given.header("x-request-id"), Some("lb-7f3a-0001"));
    let made = gw.get("/api/blog/samples.json?limit=2").await;
    let id = made.header("x-request-id").unwrap();
    assert!(!id.is_empty() && id != "lb-7f3a-0001");
    // A cache hit carries its own id, exactly once.
    let hit = gw.get("/api/blog/samples.json?limit=2").await;
    assert!(hit.header("cache-status").unwrap().contains("; hit;"), "{:?}", hit.headers);
    assert_eq!(hit.headers.get_all("x-request-id").iter().count(), 1);
    assert_ne!(hit.header("x-request-id"), Some(id));
    assert!(gw.fake.received().iter().all(|r| r.headers.get("x-request-id").is_none()));
    // From an untrusted peer, a given id is replaced.
    let untrusted = TestGateway::start(|_| {}).await;
    let answer = untrusted.send(Method::GET, "/api/blog/samples.json", &[("x-request-id", "spoofed")]).await;
    assert_ne!(answer.header("x-request-id"), Some("spoofed"));
}

#[tokio::test]
async fn sighup_reloads_the_binary() {
    let fake = FakeAppSignal::start().await;
    fake.always(Reply::Echo);
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(dir.path(), &yaml(&fake.url, "30s", &[(APP_ID, "blog")]));
    let mut process = Process::spawn(&["--config", &path], &[]);
    let (listen, _) = process.wait_serving();
    let shop = format!("http://{listen}/api/shop/samples.json");
    assert_eq!(support::send(Method::GET, &shop, &[]).await.status, 404);
    std::fs::write(&path, yaml(&fake.url, "30s", &[(APP_ID, "blog"), ("5114f7e38c5ce90000000022", "shop")]))
        .unwrap();
    let pid = process.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    process.wait_line(|l| l.contains("configuration reloaded"));
    assert_eq!(support::send(Method::GET, &shop, &[]).await.status, 200);
    assert!(process.terminate().success());
}

/// README defines a miss as an answer that needed an upstream call: one that failed, with
/// nothing stale to serve, is one too.
#[tokio::test]
async fn a_failed_upstream_call_counts_as_a_miss() {
    let gw = TestGateway::start(|_| {}).await;
    gw.fake.then(Reply::Reset);
    assert_eq!(gw.get("/api/blog/samples.json").await.status, 502);
    let text = support::send(Method::GET, &format!("{}/metrics", gw.admin_url), &[]).await.text();
    for line in [
        "appsignal_gateway_upstream_calls_total{status=\"no-answer\"} 1",
        "appsignal_gateway_cache_misses_total 1",
        "appsignal_gateway_cache_hits_total 0",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}
