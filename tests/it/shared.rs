//! The shared tier against real `redis-server` processes: several gateways in one test,
//! one fake AppSignal behind them all, one Redis (or a three-master Cluster) between.

use crate::support;

use std::time::{Duration, Instant};

use appsignal_gateway::config::{self, RawConfig, RedisUrl};
use appsignal_gateway::lifecycle;
use futures_util::future::join_all;
use http::Method;
use support::redis::{self, RedisServer};
use support::{send, Answer, FakeAppSignal, Reply, TestGateway, APP_ID, TOKEN};

/// One replica of a fleet: a test gateway sharing through a Redis, in front of a fake
/// that other replicas share.
struct Replica(TestGateway);

impl std::ops::Deref for Replica {
    type Target = TestGateway;

    fn deref(&self) -> &TestGateway {
        &self.0
    }
}

impl Replica {
    /// Starts a gateway in front of `fake` sharing through `redis_url`, changed by `tweak`.
    async fn start(fake: &FakeAppSignal, redis_url: &str, tweak: impl FnOnce(&mut RawConfig)) -> Self {
        let tweak = |raw: &mut RawConfig| {
            raw.shared.redis_url = Some(RedisUrl::new(redis_url));
            raw.shared.command_timeout = "200ms".into();
            tweak(raw);
        };
        Replica(TestGateway::start_before(fake.clone(), tweak, lifecycle::SHUTDOWN_GRACE).await)
    }

    /// Waits (bounded) until the shared tier's state is `up`.
    async fn wait_shared(&self, up: bool) {
        let want = if up { 1.0 } else { 0.0 };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.metric("appsignal_gateway_shared_up ").await != want {
            assert!(Instant::now() < deadline, "shared_up never became {want}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A fake, a Redis and `n` replicas sharing it, each seeing Redis up.
async fn fleet(n: usize, tweak: impl Fn(&mut RawConfig)) -> (FakeAppSignal, RedisServer, Vec<Replica>) {
    let fake = FakeAppSignal::start().await;
    let server = RedisServer::start().await;
    let mut replicas = Vec::new();
    for _ in 0..n {
        replicas.push(Replica::start(&fake, &server.url(), &tweak).await);
    }
    for replica in &replicas {
        replica.wait_shared(true).await;
    }
    (fake, server, replicas)
}

fn path(n: usize) -> String {
    format!("/api/{APP_ID}/samples.json?limit={n}")
}

fn cache_status(answer: &Answer) -> String {
    answer.header("cache-status").unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_across_replicas_make_one_upstream_call() {
    if !redis::available() {
        return;
    }
    // A Redis command slower than its timeout makes a replica act alone, by design: on a
    // loaded machine give it room, so the test counts coalescing, not the machine's load.
    let (fake, _server, replicas) = fleet(3, |raw| raw.shared.command_timeout = "2s".into()).await;
    fake.always(Reply::Delay(Duration::from_millis(300), Box::new(Reply::Echo)));
    let key = path(1);
    let requests = (0..99).map(|i| replicas[i % 3].get(&key));
    let answers = join_all(requests).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.assert_no_token();
    }
    assert_eq!(fake.count(), 1, "one upstream call for the whole fleet");
    let bodies: std::collections::HashSet<_> = answers.iter().map(|a| a.body.clone()).collect();
    assert_eq!(bodies.len(), 1);
    let collapsed = answers.iter().filter(|a| cache_status(a).contains("collapsed")).count();
    assert!(collapsed >= 90, "{collapsed} collapsed");
    let waited: f64 = join_all(
        replicas.iter().map(|r| r.metric("appsignal_gateway_shared_lock_waits_total{outcome=\"filled\"}")),
    )
    .await
    .iter()
    .sum();
    assert!(waited >= 1.0, "the other replicas waited on the lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_stored_by_one_replica_is_answered_by_another() {
    if !redis::available() {
        return;
    }
    let (fake, server, replicas) = fleet(2, |_| {}).await;
    let first = replicas[0].get(&path(2)).await;
    assert_eq!(cache_status(&first), "appsignal-gateway; fwd=miss; stored");
    // The store runs in the background of the first answer.
    wait_stored(&server, &path(2)).await;
    let second = replicas[1].get(&path(2)).await;
    assert!(
        cache_status(&second).starts_with("appsignal-gateway-shared; hit; ttl="),
        "{}",
        cache_status(&second)
    );
    assert!(cache_status(&second).ends_with(", appsignal-gateway; fwd=miss; stored"));
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("etag"), first.header("etag"));
    let age: u64 = second.header("age").unwrap().parse().unwrap();
    assert!(age <= 30, "age {age}");
    // Now in the second replica's own cache: a plain hit.
    let third = replicas[1].get(&path(2)).await;
    assert!(cache_status(&third).starts_with("appsignal-gateway; hit"), "{}", cache_status(&third));
    assert_eq!(fake.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_budget_is_the_fleets() {
    if !redis::available() {
        return;
    }
    let (fake, _server, replicas) = fleet(3, |raw| {
        raw.upstream.rate_limit = config::RawUpstreamRate { per_second: 1, burst: 4, client_share: 1.0 };
    })
    .await;
    let mut refused = 0;
    for i in 0..15 {
        let answer = replicas[i % 3].get(&path(100 + i)).await;
        match answer.status.as_u16() {
            200 => {}
            503 => {
                assert_eq!(answer.code(), "upstream_budget_exhausted");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", answer.text()),
        }
    }
    // Standing alone, each replica would spend its own burst of 4: 12 calls.
    let calls = fake.count();
    assert!(calls <= 6, "{calls} upstream calls for a fleet budget of 4 + 1/s");
    assert_eq!(calls + refused, 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_seen_by_one_replica_stops_the_others() {
    if !redis::available() {
        return;
    }
    let (fake, _server, replicas) = fleet(2, |_| {}).await;
    fake.then(Reply::Throttle("30"));
    let first = replicas[0].get(&path(3)).await;
    assert_eq!(first.code(), "upstream_rate_limited");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // The back-off reaches Redis in the background of the first answer.
        let other = replicas[1].get(&path(4)).await;
        if other.code() == "upstream_rate_limited" {
            break;
        }
        assert!(Instant::now() < deadline, "the other replica never backed off");
        replicas[1].purge("").await;
    }
    assert!(fake.count() <= 2);
    let before = fake.count();
    let again = replicas[1].get(&path(5)).await;
    assert_eq!(again.code(), "upstream_rate_limited");
    assert_eq!(fake.count(), before, "no upstream call during the fleet's back-off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_on_one_replica_empties_every_replica_within_a_second() {
    if !redis::available() {
        return;
    }
    let (fake, _server, replicas) = fleet(3, |_| {}).await;
    warm_everywhere(&replicas, &path(6)).await;
    let old = replicas[2].get(&path(6)).await.body;
    let calls = fake.count();
    let purged = replicas[0].purge("?app=blog").await;
    assert_eq!(purged.json()["shared"], true);
    let started = Instant::now();
    for replica in &replicas[1..] {
        // Every replica answers with the entry fetched after the purge (the Echo's body
        // counts calls), never the purged one from its own cache or the shared tier.
        while replica.get(&path(6)).await.body == old {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "a replica still serves the purged entry after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    eprintln!("every replica missed {:?} after the purge", started.elapsed());
    assert!(fake.count() > calls, "the purged entry was fetched again");
    let received: f64 =
        replicas[1].metric("appsignal_gateway_shared_purges_total{outcome=\"received\"}").await;
    assert!(received >= 1.0);
}

/// Waits (bounded) until the shared tier holds an entry for `path`: stores run in the
/// background of the answer that fetched it.
async fn wait_stored(server: &RedisServer, path: &str) {
    let key = format!("appsignal-gateway:{{{APP_ID}}}:e:{APP_ID}:rest:{path}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.cli(&["EXISTS", &key]).await.contains('1') {
        assert!(Instant::now() < deadline, "{path} was never stored in the shared tier");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Fetches `path` on the first replica, then waits until every other answers it as a hit.
async fn warm_everywhere(replicas: &[Replica], path: &str) {
    assert_eq!(replicas[0].get(path).await.status, 200);
    for replica in replicas {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = replica.get(path).await;
            if cache_status(&answer).contains("hit") {
                break;
            }
            assert!(Instant::now() < deadline, "{path} never became a hit: {}", cache_status(&answer));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_fails_no_request_and_sharing_resumes_after_a_restart() {
    if !redis::available() {
        return;
    }
    let (fake, mut server, replicas) = fleet(2, |_| {}).await;
    warm_everywhere(&replicas, &path(7)).await;
    server.kill().await;
    let requests = (0..40).map(|i| {
        let path = if i % 2 == 0 { path(7) } else { path(200 + i) };
        let replica = &replicas[i % 2];
        async move { replica.get(&path).await }
    });
    for answer in join_all(requests).await {
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    // The misses went to the second replica; the first answered from its own cache.
    replicas[1].wait_shared(false).await;
    let ready = send(Method::GET, &format!("{}/readyz", replicas[1].admin_url), &[]).await;
    assert_eq!(ready.status, 200, "a replica without its Redis is still ready");
    assert!(replicas[1].metric("appsignal_gateway_shared_fallbacks_total").await >= 1.0);
    server.restart().await;
    for replica in &replicas {
        replica.wait_shared(true).await;
    }
    let calls = fake.count();
    assert_eq!(replicas[0].get(&path(8)).await.status, 200);
    wait_stored(&server, &path(8)).await;
    let answer = replicas[1].get(&path(8)).await;
    assert!(cache_status(&answer).starts_with("appsignal-gateway-shared; hit"), "{}", cache_status(&answer));
    assert_eq!(fake.count(), calls + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_costs_a_request_at_most_a_command_timeout() {
    if !redis::available() {
        return;
    }
    let (_fake, server, replicas) = fleet(1, |_| {}).await;
    server.pause();
    let mut slowest = Duration::ZERO;
    for i in 0..10 {
        let started = Instant::now();
        let answer = replicas[0].get(&path(300 + i)).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    server.resume();
    eprintln!("slowest request with Redis paused: {slowest:?} (command_timeout 200 ms)");
    // Generous margin for a loaded machine: a hang would take the upstream timeout (5 s).
    assert!(slowest < Duration::from_secs(3), "{slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_whose_holder_died_is_taken_over_after_it_expires() {
    if !redis::available() {
        return;
    }
    let (fake, server, replicas) = fleet(1, |_| {}).await;
    let lock = format!("appsignal-gateway:{{{APP_ID}}}:l:{APP_ID}:rest:{}", path(9));
    assert!(server.cli(&["SET", &lock, "dead-holder", "PX", "1500"]).await.contains("OK"));
    let started = Instant::now();
    let answer = replicas[0].get(&path(9)).await;
    assert_eq!(answer.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "it waited for the lock: {:?}",
        started.elapsed()
    );
    assert_eq!(fake.count(), 1);
    assert_eq!(
        replicas[0].metric("appsignal_gateway_shared_lock_waits_total{outcome=\"took-over\"}").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_are_loaded_again_after_a_script_flush() {
    if !redis::available() {
        return;
    }
    let (_fake, server, replicas) = fleet(1, |_| {}).await;
    assert_eq!(replicas[0].get(&path(10)).await.status, 200);
    assert!(server.cli(&["SCRIPT", "FLUSH"]).await.contains("OK"));
    let fallbacks = replicas[0].metric("appsignal_gateway_shared_fallbacks_total").await;
    for i in 0..5 {
        assert_eq!(replicas[0].get(&path(11 + i)).await.status, 200);
    }
    assert_eq!(replicas[0].metric("appsignal_gateway_shared_fallbacks_total").await, fallbacks);
    let allowed =
        replicas[0].metric("appsignal_gateway_shared_budget_decisions_total{outcome=\"allowed\"}").await;
    assert!(allowed >= 6.0, "{allowed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_started_without_redis_serves_alone_and_joins_later() {
    if !redis::available() {
        return;
    }
    let fake = FakeAppSignal::start().await;
    let port = redis::free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let alone = Replica::start(&fake, &url, |_| {}).await;
    assert_eq!(alone.get(&path(12)).await.status, 200);
    assert!(cache_status(&alone.get(&path(12)).await).starts_with("appsignal-gateway; hit"));
    let server = RedisServer::start_on(port, false).await;
    alone.wait_shared(true).await;
    let other = Replica::start(&fake, &server.url(), |_| {}).await;
    other.wait_shared(true).await;
    assert_eq!(alone.get(&path(13)).await.status, 200);
    wait_stored(&server, &path(13)).await;
    let answer = other.get(&path(13)).await;
    assert!(cache_status(&answer).starts_with("appsignal-gateway-shared; hit"), "{}", cache_status(&answer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_from_purges_drops_its_cache_when_it_reconnects() {
    if !redis::available() {
        return;
    }
    let (_fake, server, replicas) = fleet(2, |_| {}).await;
    warm_everywhere(&replicas, &path(14)).await;
    // A purge whose broadcast this replica never got (as while its subscription was
    // cut): the shared tier's generation moves, no message is sent. Then the cut.
    let generation = format!("appsignal-gateway:{{{APP_ID}}}:gen");
    server.cli(&["INCR", &generation]).await;
    assert!(
        cache_status(&replicas[1].get(&path(14)).await).contains("hit"),
        "no message: still in its own cache"
    );
    server.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = replicas[1].get(&path(14)).await;
        if !cache_status(&answer).contains("hit") {
            break;
        }
        assert!(Instant::now() < deadline, "the purged entry is still served");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_written_to_redis_holds_the_token_or_a_key() {
    if !redis::available() {
        return;
    }
    const KEY: &str = "dashboard-key-0123456789abcdef0123456789";
    let digest = appsignal_gateway::auth::digest_hex(KEY);
    let (_fake, server, replicas) = fleet(2, |raw| {
        raw.clients.keys = vec![config::RawKey { name: "wall".into(), sha256: digest.clone(), apps: None }];
    })
    .await;
    for i in 0..6 {
        let answer = send(
            Method::GET,
            &format!("{}{}", replicas[i % 2].url, path(20 + i % 3)),
            &[("authorization", &format!("Bearer {KEY}"))],
        )
        .await;
        answer.assert_no_token();
    }
    let everything = redis::dump(server.port).await;
    assert!(everything.iter().any(|(k, _)| k.contains(":e:")), "entries were stored: {everything:?}");
    for (key, value) in &everything {
        for secret in [TOKEN, KEY, digest.as_str()] {
            assert!(!key.contains(secret), "{key}");
            assert!(!value.windows(secret.len()).any(|w| w == secret.as_bytes()), "{key} holds a secret");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_coalesces_and_budgets_too() {
    if !redis::available() {
        return;
    }
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(RedisServer::start_cluster_node().await);
    }
    let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addresses.iter().map(String::as_str));
    args.push("--cluster-yes");
    let created = redis::cli(nodes[0].port, &args).await;
    assert!(created.contains("All 16384 slots covered"), "{created}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !nodes[0].cli(&["CLUSTER", "INFO"]).await.contains("cluster_state:ok") {
        assert!(Instant::now() < deadline, "the cluster never became ok");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fake = FakeAppSignal::start().await;
    let url = format!("redis://127.0.0.1:{}", nodes[1].port);
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(
            Replica::start(&fake, &url, |raw| {
                raw.shared.cluster = true;
                // Room for a loaded machine, as in the three-replica coalescing test.
                raw.shared.command_timeout = "2s".into();
                raw.upstream.rate_limit =
                    config::RawUpstreamRate { per_second: 1, burst: 20, client_share: 1.0 };
            })
            .await,
        );
    }
    for replica in &replicas {
        replica.wait_shared(true).await;
    }
    fake.always(Reply::Delay(Duration::from_millis(300), Box::new(Reply::Echo)));
    let key = path(30);
    let answers = join_all((0..40).map(|i| replicas[i % 2].get(&key))).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(fake.count(), 1, "one call for the fleet on a cluster");
    // The budget of 20: distinct keys across both replicas, answered at once.
    fake.always(Reply::Echo);
    let mut refused = 0;
    for i in 0..40 {
        if replicas[i % 2].get(&path(400 + i)).await.status == 503 {
            refused += 1;
        }
    }
    let calls = fake.count();
    assert!(calls <= 1 + 20 + 3, "{calls} calls");
    assert!(refused >= 15, "{refused} refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_entries_stay_in_a_replicas_own_cache_and_foreign_values_are_misses() {
    if !redis::available() {
        return;
    }
    let (fake, server, replicas) = fleet(2, |raw| raw.shared.max_entry_size = "2KiB".into()).await;
    fake.always(Reply::Huge(6 * 1024));
    let first = replicas[0].get(&path(40)).await;
    assert_eq!(first.status, 200);
    // A small entry is stored by the same kind of request; the large one never is.
    fake.always(Reply::Echo);
    assert_eq!(replicas[0].get(&path(41)).await.status, 200);
    wait_stored(&server, &path(41)).await;
    let large = format!("appsignal-gateway:{{{APP_ID}}}:e:{APP_ID}:rest:{}", path(40));
    assert!(server.cli(&["EXISTS", &large]).await.contains('0'), "a 6 KiB answer went to the shared tier");
    assert!(cache_status(&replicas[0].get(&path(40)).await).starts_with("appsignal-gateway; hit"));

    // Garbage under an entry's key (another program, another version): a miss, not an error.
    let key = format!("appsignal-gateway:{{{APP_ID}}}:e:{APP_ID}:rest:{}", path(42));
    assert!(server.cli(&["SET", &key, "not an envelope"]).await.contains("OK"));
    let calls = fake.count();
    let answer = replicas[1].get(&path(42)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(cache_status(&answer), "appsignal-gateway; fwd=miss; stored");
    assert_eq!(fake.count(), calls + 1);
}

/// Stale is served only for upstream faults, judged by each replica's own windows: an
/// entry another replica (with longer windows) stored is no entry to a replica whose
/// windows it is past, so that replica calls AppSignal and, if the call fails, answers
/// the error rather than an entry labelled `upstream-error` when no call failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_past_a_replicas_own_stale_windows_is_no_entry_to_it() {
    if !redis::available() {
        return;
    }
    let fake = FakeAppSignal::start().await;
    let server = RedisServer::start().await;
    let windows = |stale_if_error: &'static str| {
        move |raw: &mut RawConfig| {
            raw.shared.command_timeout = "2s".into();
            raw.cache.ttl.list = "1s".into();
            raw.cache.stale_while_revalidate = "0s".into();
            raw.cache.stale_if_error = stale_if_error.into();
        }
    };
    let long = Replica::start(&fake, &server.url(), windows("1h")).await;
    let short = Replica::start(&fake, &server.url(), windows("0s")).await;
    let late_long = Replica::start(&fake, &server.url(), windows("1h")).await;
    for replica in [&long, &short, &late_long] {
        replica.wait_shared(true).await;
    }
    fake.always(Reply::Echo);
    let key = path(77);
    let first = long.get(&key).await;
    assert_eq!(first.status, 200);
    assert_eq!(cache_status(&first), "appsignal-gateway; fwd=miss; stored");
    // Wait out the TTL (a real one: moka and the shared tier's wall-clock store time
    // both count it), with AppSignal now failing.
    let stored = Instant::now();
    fake.always(Reply::Json(500, "{}"));
    tokio::time::sleep(Duration::from_millis(1300).saturating_sub(stored.elapsed())).await;

    // Past the short replica's windows: it calls, the call fails, it answers the error.
    let short_answer = short.get(&key).await;
    assert_eq!(short_answer.status, 502, "{}", short_answer.text());
    assert_eq!(fake.count(), 2, "the short replica called AppSignal itself");
    assert!(short_answer.header("cache-status").is_none_or(|s| !s.contains("upstream-error")));

    // Within the long replica's windows, from the shared tier alone (its own cache is
    // empty): the call fails, and the stale entry is served, labelled as what it is.
    let long_answer = late_long.get(&key).await;
    assert_eq!(long_answer.status, 200, "{}", long_answer.text());
    assert_eq!(long_answer.body, first.body);
    assert_eq!(cache_status(&long_answer), "appsignal-gateway; fwd=stale; detail=upstream-error");
    assert_eq!(fake.count(), 3, "the stale entry was served because a call failed");

    // With AppSignal back, the short replica's miss is an ordinary stored miss.
    fake.always(Reply::Echo);
    let recovered = short.get(&key).await;
    assert_eq!(recovered.status, 200);
    assert_eq!(cache_status(&recovered), "appsignal-gateway; fwd=miss; stored");
}

/// An envelope as the gateway lays it out (see `cache::envelope`): header, forms, and —
/// when `mac` is given — its HMAC-SHA256 over the cache key, a zero byte and the rest.
struct Forged<'a> {
    version: u8,
    status: u16,
    ttl_ms: u64,
    retain_ms: u64,
    identity: &'a [u8],
    gzip: Option<&'a [u8]>,
}

/// How a forged envelope is sealed.
enum Seal<'a> {
    /// No MAC at all: the layout of a gateway that had none.
    None,
    /// 32 bytes that are no MAC.
    Wrong,
    /// The right MAC for this cache key: what a replica of the fleet itself could write.
    Right(&'a str),
}

/// The key a fleet holding [`TOKEN`] seals entries with.
fn fleet_mac_key() -> Vec<u8> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(b"appsignal-gateway entry mac v1");
    mac.finalize().into_bytes().to_vec()
}

impl Forged<'_> {
    fn bytes(&self, seal: Seal<'_>) -> Vec<u8> {
        let now_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        let mut out = b"AGW".to_vec();
        out.push(self.version);
        out.extend_from_slice(&self.status.to_be_bytes());
        for n in [42u64, 0, self.ttl_ms, self.retain_ms, now_ms] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.push(0);
        for form in [Some(self.identity), self.gzip, None] {
            match form {
                Some(body) => {
                    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
                    out.extend_from_slice(body);
                }
                None => out.extend_from_slice(&u32::MAX.to_be_bytes()),
            }
        }
        match seal {
            Seal::None => {}
            Seal::Wrong => out.extend_from_slice(&[0x5a; 32]),
            Seal::Right(key) => {
                use hmac::Mac;
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&fleet_mac_key()).unwrap();
                mac.update(cache_key(key).as_bytes());
                mac.update(&[0]);
                mac.update(&out);
                out.extend_from_slice(&mac.finalize().into_bytes());
            }
        }
        out
    }
}

/// The cache key of a v1 request for `path` (the gateway's `{app}:rest:{target}`).
fn cache_key(path: &str) -> String {
    format!("{APP_ID}:rest:{path}")
}

/// Whether the gateway under test seals its envelopes: a genuine value is longer than
/// its header and forms.
fn is_sealed(value: &[u8]) -> bool {
    let mut at = 3 + 1 + 2 + 8 * 5 + 1;
    for _ in 0..3 {
        let len = u32::from_be_bytes(value[at..at + 4].try_into().unwrap());
        at += 4 + if len == u32::MAX { 0 } else { len as usize };
    }
    value.len() > at
}

/// Issue 26, finding 5: whoever can write to the Redis cannot make the gateway serve
/// anything. Forged envelopes (a JSONP payload, HTML, statuses 101/204/302/500/999, a
/// TTL of `u64::MAX`, a bogus gzip form, an oversize value, a genuine entry moved to
/// another key) are each a miss: AppSignal is asked and its answer served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_entries_in_redis_are_misses() {
    if !redis::available() {
        return;
    }
    let (fake, server, replicas) = fleet(1, |raw| raw.shared.max_entry_size = "64KiB".into()).await;
    // A genuine entry, to learn the layout and version this gateway writes.
    assert_eq!(replicas[0].get(&path(200)).await.status, 200);
    wait_stored(&server, &path(200)).await;
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let name = |p: &str| format!("appsignal-gateway:{{{APP_ID}}}:e:{}", cache_key(p));
    let genuine: Vec<u8> = ::redis::cmd("GET").arg(name(&path(200))).query_async(&mut conn).await.unwrap();
    let version = genuine[3];
    let sealed = is_sealed(&genuine);
    // Without a MAC in the layout, "the right one" and "a wrong one" are both none.
    let right = |key: &'static str| if sealed { Seal::Right(key) } else { Seal::None };
    let wrong = || if sealed { Seal::Wrong } else { Seal::None };
    let ok = |body: &'static [u8]| Forged {
        version,
        status: 200,
        ttl_ms: 60_000,
        retain_ms: 600_000,
        identity: body,
        gzip: None,
    };
    let huge = format!("[\"{}\"]", "x".repeat(200 * 1024)).into_bytes().leak();
    let keys: Vec<&'static str> = (201..=213).map(|n| &*path(n).leak()).collect();
    let forged: Vec<(&str, Vec<u8>)> = vec![
        ("jsonp payload", ok(b"alert(document.domain)").bytes(wrong())),
        ("html", ok(b"<html><script>alert(1)</script></html>").bytes(wrong())),
        ("html, sealed", ok(b"<html><script>alert(1)</script></html>").bytes(right(keys[2]))),
        ("status 101", Forged { status: 101, ..ok(b"{}") }.bytes(right(keys[3]))),
        ("status 204", Forged { status: 204, ..ok(b"{}") }.bytes(right(keys[4]))),
        ("status 302", Forged { status: 302, ..ok(b"{}") }.bytes(right(keys[5]))),
        ("status 500", Forged { status: 500, ..ok(b"{}") }.bytes(right(keys[6]))),
        ("status 999", Forged { status: 999, ..ok(b"{}") }.bytes(right(keys[7]))),
        (
            "ttl u64::MAX",
            Forged { ttl_ms: u64::MAX, retain_ms: u64::MAX, ..ok(b"{\"forged\":1}") }.bytes(right(keys[8])),
        ),
        (
            "bogus gzip",
            Forged { gzip: Some(b"not gzip at all"), ..ok(b"{\"forged\":2}") }.bytes(right(keys[9])),
        ),
        ("oversize", ok(huge).bytes(right(keys[10]))),
        ("moved from another key", ok(b"{\"forged\":3}").bytes(right(keys[0]))),
        ("forged, plain", ok(b"{\"forged\":4}").bytes(wrong())),
    ];
    assert_eq!(forged.len(), keys.len());
    for ((what, value), key) in forged.iter().zip(&keys) {
        let _: () = ::redis::cmd("SET").arg(name(key)).arg(value).query_async(&mut conn).await.unwrap();
        let calls = fake.count();
        // A fresh replica: nothing of its own cached, so it reads the forged entry.
        let reader =
            Replica::start(&fake, &server.url(), |raw| raw.shared.max_entry_size = "64KiB".into()).await;
        reader.wait_shared(true).await;
        let answer = reader.get(key).await;
        assert_eq!(answer.status, 200, "{what}: {}", answer.text());
        assert_eq!(fake.count(), calls + 1, "{what}: AppSignal was not asked");
        assert!(answer.json()["seq"].is_number(), "{what}: served {}", answer.text());
        assert!(!cache_status(&answer).contains("shared; hit"), "{what}: {}", cache_status(&answer));
        if sealed {
            let mut untrusted = 0.0;
            for outcome in ["mac", "size", "bounds", "form"] {
                let line =
                    format!("appsignal_gateway_shared_entries_untrusted_total{{outcome=\"{outcome}\"}}");
                untrusted += reader.metric(&line).await;
            }
            // Read once before taking the lock and once after: counted each time.
            assert!(untrusted >= 1.0, "{what}: not counted as untrusted");
        }
    }
}
