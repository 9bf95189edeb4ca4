//! Limits: per-client rate limits, the upstream budget, and AppSignal's 429 back-off.

use crate::support;

use std::time::Duration;

use appsignal_gateway::config::{RawRate, RawUpstreamRate};
use http::Method;
use support::{Reply, TestGateway};

fn tight_clients(raw: &mut appsignal_gateway::config::RawConfig) {
    raw.clients.rate_limit = RawRate { per_second: 1, burst: 3 };
}

#[tokio::test]
async fn client_over_its_burst_gets_429_with_headers() {
    let gw = TestGateway::start(tight_clients).await;
    for _ in 0..3 {
        assert_eq!(gw.get("/api/blog/samples.json").await.status, 200);
    }
    let limited = gw.get("/api/blog/samples.json").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.code(), "rate_limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(limited.header("ratelimit-policy"), Some("\"client\";q=3;w=3"));
    assert!(limited.header("ratelimit").unwrap().starts_with("\"client\";r=0;t="));
    // Cache hits count too: the limit is on the client, not on AppSignal.
    assert_eq!(gw.fake.count(), 1);
}

#[tokio::test]
async fn spoofed_forwarded_for_does_not_dodge_the_limit() {
    let gw = TestGateway::start(tight_clients).await;
    for i in 0..3 {
        let xff = format!("10.0.0.{i}");
        assert_eq!(
            gw.send(Method::GET, "/api/blog/samples.json", &[("x-forwarded-for", &xff)]).await.status,
            200
        );
    }
    let answer = gw.send(Method::GET, "/api/blog/samples.json", &[("x-forwarded-for", "10.9.9.9")]).await;
    assert_eq!(answer.status, 429, "an untrusted peer's X-Forwarded-For was believed");
}

#[tokio::test]
async fn trusted_proxy_clients_are_limited_separately() {
    let gw = TestGateway::start(|raw| {
        tight_clients(raw);
        raw.clients.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let as_client = |ip: &'static str| {
        let gw = &gw;
        async move { gw.send(Method::GET, "/api/blog/samples.json", &[("x-forwarded-for", ip)]).await }
    };
    for _ in 0..3 {
        assert_eq!(as_client("203.0.113.7").await.status, 200);
    }
    assert_eq!(as_client("203.0.113.7").await.status, 429);
    assert_eq!(as_client("198.51.100.4").await.status, 200, "another client was limited too");
    // A client prepending its own address cannot become someone else.
    assert_eq!(as_client("198.51.100.99, 203.0.113.7").await.status, 429);
}

#[tokio::test]
async fn preflights_and_health_are_not_limited() {
    let gw = TestGateway::start(|raw| {
        tight_clients(raw);
        raw.cors.allowed_origins = vec!["https://dash.example.com".into()];
    })
    .await;
    let preflight = [("origin", "https://dash.example.com"), ("access-control-request-method", "GET")];
    for _ in 0..10 {
        assert_eq!(gw.send(Method::OPTIONS, "/api/blog/samples.json", &preflight).await.status, 204);
        assert_eq!(gw.get("/healthz").await.status, 200);
    }
    assert_eq!(gw.get("/api/blog/samples.json").await.status, 200);
}

#[tokio::test]
async fn spent_upstream_budget_is_503_and_hits_still_answer() {
    let gw = TestGateway::start(|raw| {
        raw.upstream.rate_limit = RawUpstreamRate { per_second: 1, burst: 2, client_share: 1.0 }
    })
    .await;
    assert_eq!(gw.get("/api/blog/samples.json?limit=1").await.status, 200);
    assert_eq!(gw.get("/api/blog/samples.json?limit=2").await.status, 200);
    let spent = gw.get("/api/blog/samples.json?limit=3").await;
    assert_eq!(spent.status, 503);
    assert_eq!(spent.code(), "upstream_budget_exhausted");
    assert!(spent.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(gw.fake.count(), 2);
    // Cached answers never spend the budget.
    for _ in 0..5 {
        assert_eq!(gw.get("/api/blog/samples.json?limit=1").await.status, 200);
    }
    assert_eq!(gw.fake.count(), 2);
}

#[tokio::test]
async fn appsignal_429_makes_the_gateway_back_off_then_recover() {
    let gw = TestGateway::start(|_| {}).await;
    gw.fake.then(Reply::Throttle("1"));
    let throttled = gw.get("/api/blog/samples.json?limit=1").await;
    assert_eq!(throttled.status, 503);
    assert_eq!(throttled.code(), "upstream_rate_limited");
    assert_eq!(throttled.header("retry-after"), Some("1"));
    // During the back-off no call is made, whatever the key.
    let during = gw.get("/api/blog/samples.json?limit=2").await;
    assert_eq!(during.status, 503);
    assert_eq!(during.header("retry-after"), Some("1"));
    assert_eq!(gw.fake.count(), 1, "the gateway called AppSignal during its back-off");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(gw.get("/api/blog/samples.json?limit=2").await.status, 200);
    assert_eq!(gw.fake.count(), 2);
}

#[tokio::test]
async fn back_off_serves_stale_where_it_can() {
    let gw = TestGateway::start(|raw| {
        raw.cache.ttl.list = "100ms".into();
        raw.cache.stale_while_revalidate = "0s".into();
        raw.cache.stale_if_error = "10m".into();
    })
    .await;
    let fresh = gw.get("/api/blog/samples.json").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.fake.then(Reply::Throttle("30"));
    for _ in 0..3 {
        let stale = gw.get("/api/blog/samples.json").await;
        assert_eq!(stale.status, 200);
        assert_eq!(stale.body, fresh.body);
        assert_eq!(stale.header("cache-status"), Some("appsignal-gateway; fwd=stale; detail=upstream-error"));
    }
    assert_eq!(gw.fake.count(), 2);
}

/// Issue 26, finding 4: one client busting the cache at full speed spends at most its
/// `client_share` of the upstream budget, so a second client's misses are still answered
/// within the budget; its cached answers still serve it.
#[tokio::test]
async fn one_client_cannot_spend_everyone_s_upstream_budget() {
    let gw = TestGateway::start(|raw| {
        raw.upstream.rate_limit = RawUpstreamRate { per_second: 1, burst: 10, client_share: 0.5 };
        raw.clients.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let busy = [("x-forwarded-for", "203.0.113.7")];
    let quiet = [("x-forwarded-for", "198.51.100.9")];
    let started = std::time::Instant::now();
    let mut answered = 0;
    for n in 1..=40 {
        let answer = gw.send(Method::GET, &format!("/api/blog/samples.json?limit={n}"), &busy).await;
        match answer.status.as_u16() {
            200 => answered += 1,
            503 => assert_eq!(answer.code(), "upstream_budget_exhausted"),
            other => panic!("unexpected {other}: {}", answer.text()),
        }
    }
    // Half the burst, and half the refill over the loop (generously rounded up).
    let allowed = 5 + (started.elapsed().as_secs_f64() * 0.5).ceil() as usize;
    assert!(
        (5..=allowed).contains(&answered),
        "the busy client got {answered} misses answered (at most {allowed})"
    );
    for n in 1..=4 {
        let answer = gw.send(Method::GET, &format!("/api/blog/markers.json?limit={n}"), &quiet).await;
        assert_eq!(answer.status, 200, "the quiet client's miss {n}: {}", answer.text());
    }
    // A cached answer costs no share: the busy client still reads what it has.
    let cached = gw.send(Method::GET, "/api/blog/samples.json?limit=1", &busy).await;
    assert_eq!(cached.status, 200);
    assert!(cached.header("cache-status").unwrap().contains("hit"));
    let metrics = support::send(Method::GET, &format!("{}/metrics", gw.admin_url), &[]).await.text();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("appsignal_gateway_upstream_share_refused_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
}
