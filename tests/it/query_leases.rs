//! The fleet-wide query bound against a real `redis-server`: three replicas, each
//! behind its own prefix of one fake AppSignal (`{fake}/r0`, `/r1`, `/r2`), so the fake
//! tells how many queries the fleet and each replica had in flight at once.

use crate::support;

use std::time::{Duration, Instant};

use appsignal_gateway::config::RedisUrl;
use appsignal_gateway::lifecycle;
use futures_util::future::join_all;
use support::redis::{self, RedisServer};
use support::{FakeAppSignal, Reply, TestGateway};

const TRACE: &str = "/api/v2/tracing/trace";
/// How long the fake takes over each query.
const SLOW: Duration = Duration::from_millis(300);

/// `n` replicas sharing `server`, replica `i` behind `{fake}/r{i}`, with a bound of 2.
async fn fleet(fake: &FakeAppSignal, server: &RedisServer, n: usize) -> Vec<TestGateway> {
    let mut replicas = Vec::new();
    for i in 0..n {
        let tweak = |raw: &mut appsignal_gateway::config::RawConfig| {
            raw.upstream.base_url = format!("{}/r{i}", fake.url);
            raw.upstream.max_concurrent_queries = 2;
            raw.shared.redis_url = Some(RedisUrl::new(&server.url()));
            raw.shared.command_timeout = "200ms".into();
        };
        replicas.push(TestGateway::start_before(fake.clone(), tweak, lifecycle::SHUTDOWN_GRACE).await);
    }
    // Each sees the whole fleet, so its share without Redis is 2 / n.
    let deadline = Instant::now() + Duration::from_secs(20);
    for replica in &replicas {
        while replica.metric("appsignal_gateway_shared_replicas ").await != n as f64 {
            assert!(Instant::now() < deadline, "the replicas never all saw each other");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    replicas
}

/// `per_replica` distinct slow queries on each replica at once; their statuses.
async fn queries(replicas: &[TestGateway], per_replica: usize, tag: &str) -> Vec<u16> {
    let all = (0..per_replica * replicas.len()).map(|i| {
        let replica = &replicas[i % replicas.len()];
        let body = format!(r#"{{"site_ids":["blog"],"trace_id":"{tag}{i}"}}"#);
        async move {
            let answer = replica.post(TRACE, &body).await;
            assert_eq!(answer.status, 200, "{}", answer.text());
            answer.status.as_u16()
        }
    });
    join_all(all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_bound_is_the_fleets_and_each_replicas_share_without_redis() {
    if !redis::available() {
        return;
    }
    let fake = FakeAppSignal::start().await;
    fake.always(Reply::Delay(SLOW, Box::new(Reply::Json(200, "[]"))));
    let mut server = RedisServer::start().await;
    let replicas = fleet(&fake, &server, 3).await;

    // 6 slow distinct queries, 2 on each replica: AppSignal sees at most 2 at once.
    assert_eq!(queries(&replicas, 2, "a").await.len(), 6);
    assert_eq!(fake.count(), 6);
    assert_eq!(fake.max_in_flight(), 2, "the fleet used its bound, and no more");

    // Redis killed mid-run: the queries under way and those after all answer.
    let running = queries(&replicas, 3, "b");
    let kill = async {
        fake.wait_for(8).await;
        server.kill().await;
    };
    let (statuses, ()) = tokio::join!(running, kill);
    assert_eq!(statuses.len(), 9);

    // Without Redis each replica keeps within its share: 2 over 3 replicas, so 1.
    fake.reset_max_in_flight();
    let before = fake.count();
    assert_eq!(queries(&replicas, 3, "c").await.len(), 9);
    assert_eq!(fake.count(), before + 9);
    for i in 0..3 {
        let most = fake.max_in_flight_under(&format!("r{i}"));
        assert_eq!(most, 1, "replica {i} had {most} queries in flight without Redis");
    }
    for replica in &replicas {
        assert!(replica.metric("appsignal_gateway_shared_fallbacks_total").await >= 1.0);
        assert_eq!(replica.metric("appsignal_gateway_queries_in_flight").await, 0.0);
        assert_eq!(replica.metric("appsignal_gateway_queries_waiting").await, 0.0);
        assert_eq!(replica.metric("appsignal_gateway_query_waits_timed_out_total").await, 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_leases_free_themselves() {
    if !redis::available() {
        return;
    }
    let fake = FakeAppSignal::start().await;
    let server = RedisServer::start().await;
    let replicas = fleet(&fake, &server, 1).await;
    // A replica that died holding both leases, which end in 700 ms by Redis's clock.
    let time = server.cli(&["TIME"]).await;
    // `1) "seconds"` and `2) "microseconds"`.
    let mut parts = time.lines().map(|l| l.rsplit('"').nth(1).unwrap().parse::<u64>().unwrap());
    let now_ms = parts.next().unwrap() * 1000 + parts.next().unwrap() / 1000;
    let leases = "appsignal-gateway:{fleet}:queries";
    let end = (now_ms + 700).to_string();
    server.cli(&["ZADD", leases, &end, "dead-1", &end, "dead-2"]).await;
    let started = Instant::now();
    let answer = replicas[0].post(TRACE, r#"{"site_ids":["blog"],"trace_id":"after"}"#).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(started.elapsed() >= Duration::from_millis(500), "it waited for the dead leases to end");
    assert_eq!(fake.count(), 1);
    // Its own lease is given back at the end: none held once it answered.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.cli(&["ZCARD", leases]).await.trim() != "(integer) 0" {
        assert!(Instant::now() < deadline, "the lease was never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
