//! What the shared tier adds to a request: latency of shared-tier hits (the replica's own
//! cache empty, the entry in Redis) beside own-cache hits of the same keys on the same
//! replica, at 1 and 64 connections. Run by `bench/shared.sh`, which starts Redis, an
//! upstream and two gateway replicas on loopback.
//!
//!   shared_latency http://127.0.0.1:A http://127.0.0.1:B

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Http = Client<HttpConnector, Empty<Bytes>>;

/// Keys per connection count: each is fetched once from the shared tier, once from L1.
const KEYS: usize = 2000;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (first, second) = (args.next().expect("replica A url"), args.next().expect("replica B url"));
    let client: Http = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(256).build_http();
    println!("| connections | shared-tier hit p50 | p99 | own-cache hit p50 | p99 | added p50 | added p99 |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (phase, connections) in [1usize, 64].into_iter().enumerate() {
        let keys: Arc<Vec<String>> = Arc::new(
            (0..KEYS)
                .map(|i| {
                    format!(
                        "/api/blog/samples.json?limit={}&since={}",
                        i % 1000 + 1,
                        1_700_000_000 + phase * 10 + i / 1000
                    )
                })
                .collect(),
        );
        // Fill the shared tier through replica A; stores run in the background of answers.
        run(&client, &first, &keys, 16, None).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let shared = run(&client, &second, &keys, connections, Some("appsignal-gateway-shared; hit")).await;
        let own = run(&client, &second, &keys, connections, Some("appsignal-gateway; hit")).await;
        let (s50, s99, o50, o99) = (pct(&shared, 50), pct(&shared, 99), pct(&own, 50), pct(&own, 99));
        println!(
            "| {connections} | {} | {} | {} | {} | {} | {} |",
            ms(s50),
            ms(s99),
            ms(o50),
            ms(o99),
            ms(s50.saturating_sub(o50)),
            ms(s99.saturating_sub(o99))
        );
    }
}

/// Requests every key once over `connections` concurrent workers; the latencies of the
/// answers whose `Cache-Status` starts with `want` (all of them when `None`).
async fn run(
    client: &Http,
    base: &str,
    keys: &Arc<Vec<String>>,
    connections: usize,
    want: Option<&'static str>,
) -> Vec<Duration> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (client, keys, next, base) = (client.clone(), keys.clone(), next.clone(), base.to_owned());
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(key) = keys.get(i) else { return seen };
                let started = Instant::now();
                let response = client.get(format!("{base}{key}").parse().unwrap()).await.expect("answered");
                let status = response
                    .headers()
                    .get("cache-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                response.into_body().collect().await.expect("body");
                let took = started.elapsed();
                if want.is_none_or(|w| status.starts_with(w)) {
                    seen.push(took);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    if let Some(want) = want {
        assert!(
            all.len() * 10 >= keys.len() * 9,
            "only {} of {} answers were '{want}'",
            all.len(),
            keys.len()
        );
    }
    all.sort();
    all
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
