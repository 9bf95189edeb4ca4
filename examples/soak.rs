//! Soak: drives the release gateway at high concurrency against a fake AppSignal that
//! injects faults every few seconds, and reports what happened.
//!
//!     cargo build --release && cargo run --release --example soak -- --duration 10m
//!
//! With `--fleet 3`, three replicas share one `redis-server` (started here, on a free
//! port), the load is spread over them, and Redis is killed, paused and restarted in
//! turn every `--redis-every`; no request may fail because of it, the fleet's upstream
//! calls must stay within the one budget, and no Redis key or value may hold the token.
//!
//! Everything runs on 127.0.0.1 and stops by itself. Exit status 1 when a 5xx is not
//! explained by an injected fault or the budget, a request hangs, or the token appears
//! in any response or log line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use appsignal_gateway::config::{RawApp, RawConfig, RawRate, RawUpstreamRate, RedisUrl};
use bytes::Bytes;
use clap::Parser;
use fake_appsignal::{FakeAppSignal, Reply};
use http::{Method, Request};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncWriteExt;

const TOKEN: &str = "soak-SECRET-token-9c1e5d";
const ORIGIN: &str = "https://dash.example.com";
/// After a fault phase ends, answers may still carry it this long (timeouts, back-off).
const FAULT_TAIL: Duration = Duration::from_secs(3);
/// `upstream.timeout` in this run.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(1);
/// The gateway's upstream budget in this run.
const BUDGET_PER_SECOND: u64 = 200;
const BUDGET_BURST: u64 = 400;

#[derive(Parser)]
struct Args {
    /// How long to drive load ("20s", "10m").
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Concurrent request loops.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Slow-loris connections held open.
    #[arg(long, default_value_t = 20)]
    slow_clients: usize,
    /// Seconds per fault phase.
    #[arg(long, default_value = "4s", value_parser = humantime::parse_duration)]
    phase: Duration,
    /// The gateway binary.
    #[arg(long, default_value = "target/release/appsignal-gateway")]
    binary: String,
    /// Replicas sharing one Redis; 0 runs one gateway standing alone.
    #[arg(long, default_value_t = 0)]
    fleet: usize,
    /// With `--fleet`: how often Redis is hurt (killed, paused, restarted in turn).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    redis_every: Duration,
}

/// One gateway process and its log lines.
struct Replica {
    child: std::process::Child,
    pid: u32,
    base: String,
    listen: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Replica {
    /// Starts `binary` with `config` and waits until it serves.
    fn start(binary: &str, config: &std::path::Path) -> Self {
        let mut child = Command::new(binary)
            .args(["--config", &config.to_string_lossy()])
            .env("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {binary} (build it with cargo build --release): {e}"));
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let logs = Arc::new(Mutex::new(Vec::<String>::new()));
        let stderr = child.stderr.take().unwrap();
        let log_store = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                log_store.lock().unwrap().push(line);
            }
        });
        let listen = loop {
            let line = rx.recv_timeout(Duration::from_secs(30)).expect("the gateway did not start");
            if line.contains("appsignal-gateway is serving") {
                let json: serde_json::Value = serde_json::from_str(&line).unwrap();
                break json["listen"].as_str().unwrap().to_owned();
            }
        };
        Replica { child, pid, base: format!("http://{listen}"), listen, logs }
    }

    /// SIGTERM, and whether it then exited cleanly.
    fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        self.child.wait().unwrap()
    }
}

/// The fleet's Redis, hurt in turn: killed (and started again), paused, restarted.
struct Redis {
    port: u16,
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = Redis { port, child: None, dir: tempfile::tempdir().unwrap() };
        redis.launch();
        redis
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", &self.dir.path().to_string_lossy()])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt install redis-server redis-tools)");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not listen on {}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill").args([signal, &child.id().to_string()]).status();
        }
    }

    /// Every key and value, as `redis-cli` prints them.
    fn dump(&self) -> String {
        let cli = |args: &[&str]| {
            let output = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output();
            output.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
        };
        let mut all = String::new();
        for key in cli(&["--scan"]).lines() {
            all.push_str(key);
            all.push_str(&cli(&["GET", key]));
            all.push_str(&cli(&["ZRANGE", key, "0", "-1"]));
        }
        all
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The injected faults, in the order they cycle.
const PHASES: &[&str] = &["normal", "latency", "5xx", "normal", "reset", "429", "normal", "hang"];

fn reply(phase: &str) -> Reply {
    let body = Reply::Huge(6 * 1024);
    match phase {
        "latency" => Reply::Delay(Duration::from_millis(300), Box::new(body)),
        "5xx" => Reply::Json(503, r#"{"error":"maintenance"}"#),
        "reset" => Reply::Reset,
        "429" => Reply::Throttle("1"),
        "hang" => Reply::Hang,
        _ => body,
    }
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    explained_5xx: u64,
    unexplained: Vec<String>,
    token_seen: u64,
    jsonp: u64,
    cors: u64,
}

/// Fault windows: (start, end, phase) relative to the run's start.
type Timeline = Arc<Mutex<Vec<(Duration, Option<Duration>, &'static str)>>>;

/// Whether a request sent at `at` may carry an injected fault: sent within `lead` before a
/// fault phase began (it reached AppSignal after the switch) or until [`FAULT_TAIL`] after
/// it ended.
fn in_fault(timeline: &Timeline, at: Duration, lead: Duration) -> bool {
    timeline.lock().unwrap().iter().any(|(start, end, phase)| {
        *phase != "normal" && at + lead >= *start && end.is_none_or(|end| at <= end + FAULT_TAIL)
    })
}

fn done_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The soaked gateway's configuration: a small cache with short TTLs and stale windows
/// (so every path is exercised), a budget the load can spend, one Redis when `redis_port`
/// names one. The token is given as the environment override, never in the file.
fn soak_config(upstream: &str, redis_port: Option<u16>) -> RawConfig {
    let mut raw = RawConfig {
        listen: "127.0.0.1:0".into(),
        admin_listen: "127.0.0.1:0".into(),
        ..RawConfig::default()
    };
    raw.upstream.base_url = upstream.to_owned();
    raw.upstream.timeout = format!("{}ms", UPSTREAM_TIMEOUT.as_millis());
    // Every soak client is 127.0.0.1: one client, so no share of the budget is kept back.
    raw.upstream.rate_limit =
        RawUpstreamRate { per_second: BUDGET_PER_SECOND, burst: BUDGET_BURST, client_share: 1.0 };
    raw.apps = vec![RawApp { id: "5114f7e38c5ce90000000011".into(), name: Some("blog".into()) }];
    raw.cache.max_size = "4MiB".into();
    raw.cache.ttl.list = "5s".into();
    raw.cache.ttl.show = "5s".into();
    raw.cache.stale_while_revalidate = "1s".into();
    raw.cache.stale_if_error = "5s".into();
    raw.clients.rate_limit = RawRate { per_second: 1_000_000, burst: 1_000_000 };
    raw.cors.allowed_origins = vec![ORIGIN.into()];
    raw.limits.header_read_timeout = "2s".into();
    raw.limits.max_upstream_concurrency = 32;
    raw.log.format = "json".into();
    raw.log.level = "warn,appsignal_gateway::lifecycle=info".into();
    raw.shared.redis_url = redis_port.map(|port| RedisUrl::new(&format!("redis://127.0.0.1:{port}/0")));
    raw
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let fake = FakeAppSignal::start().await;
    fake.always(reply("normal"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    let redis = (args.fleet > 0).then(Redis::start);
    let raw = soak_config(&fake.url, redis.as_ref().map(|r| r.port));
    std::fs::write(&config, serde_yaml::to_string(&raw).expect("a configuration serialises")).unwrap();
    let mut replicas: Vec<Replica> =
        (0..args.fleet.max(1)).map(|_| Replica::start(&args.binary, &config)).collect();
    let pids: Vec<u32> = replicas.iter().map(|r| r.pid).collect();
    let bases: Arc<Vec<String>> = Arc::new(replicas.iter().map(|r| r.base.clone()).collect());
    let listen = replicas[0].listen.clone();
    let started = Instant::now();
    let rss_start: u64 = pids.iter().map(|&pid| rss_kib(pid)).sum();
    let rss_peak = Arc::new(AtomicU64::new(rss_start));
    let timeline: Timeline = Arc::new(Mutex::new(Vec::new()));
    println!(
        "soak: {} for {:?}, {} loops, {} slow clients, phases of {:?}",
        bases.join(" "),
        args.duration,
        args.concurrency,
        args.slow_clients,
        args.phase
    );
    if let Some(redis) = &redis {
        println!(
            "fleet: {} replicas on redis-server :{}, hurt every {:?}",
            args.fleet, redis.port, args.redis_every
        );
    }
    let redis = Arc::new(Mutex::new(redis));

    // Redis hurt in turn: killed and started again, paused for a few seconds, restarted.
    let chaos = {
        let (redis, done, every) = (redis.clone(), done_flag(), args.redis_every);
        let stop = done.clone();
        let task = tokio::spawn(async move {
            let hurts = ["kill", "pause", "restart"];
            let mut round = 0usize;
            let mut log = Vec::new();
            loop {
                tokio::time::sleep(every).await;
                if stop.load(Ordering::Relaxed) || redis.lock().unwrap().is_none() {
                    return log;
                }
                let hurt = hurts[round % hurts.len()];
                round += 1;
                log.push(format!("{:.0?} {hurt}", started.elapsed()));
                let outage = (every / 6).max(Duration::from_secs(1));
                match hurt {
                    "kill" => {
                        redis.lock().unwrap().as_mut().unwrap().kill();
                        tokio::time::sleep(outage).await;
                        redis.lock().unwrap().as_mut().unwrap().launch();
                    }
                    "pause" => {
                        redis.lock().unwrap().as_ref().unwrap().signal("-STOP");
                        tokio::time::sleep(outage).await;
                        redis.lock().unwrap().as_ref().unwrap().signal("-CONT");
                    }
                    _ => {
                        let mut guard = redis.lock().unwrap();
                        let server = guard.as_mut().unwrap();
                        server.kill();
                        server.launch();
                    }
                }
            }
        });
        (task, done)
    };
    let done = chaos.1.clone();

    // Faults, switched every phase.
    let faults = {
        let (fake, timeline, done, phase_len) = (fake.clone(), timeline.clone(), done.clone(), args.phase);
        tokio::spawn(async move {
            for phase in PHASES.iter().cycle() {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                {
                    let mut timeline = timeline.lock().unwrap();
                    let now = started.elapsed();
                    if let Some(last) = timeline.last_mut() {
                        last.1 = Some(now);
                    }
                    timeline.push((now, None, *phase));
                }
                fake.always(reply(phase));
                tokio::time::sleep(phase_len).await;
            }
            fake.always(reply("normal"));
        })
    };

    // RSS sampling.
    let sampler = {
        let (peak, done, pids) = (rss_peak.clone(), done.clone(), pids.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(pids.iter().map(|&pid| rss_kib(pid)).sum(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    // Slow-loris clients: a byte of header every 500 ms, reconnecting when dropped.
    let slow_drops = Arc::new(AtomicU64::new(0));
    let slow: Vec<_> = (0..args.slow_clients)
        .map(|_| {
            let (listen, done, drops) = (listen.clone(), done.clone(), slow_drops.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    let Ok(mut stream) = tokio::net::TcpStream::connect(&listen).await else { break };
                    let _ =
                        stream.write_all(b"GET /api/blog/samples.json HTTP/1.1\r\nHost: localhost\r\n").await;
                    loop {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        if done.load(Ordering::Relaxed) || stream.write_all(b"X").await.is_err() {
                            break;
                        }
                    }
                    drops.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // The load. A request reaches AppSignal at once standing alone; in a fleet it may
    // first wait up to the upstream timeout (1 s) for another replica's call to the same
    // key, then make its own, so a fault can reach it that long after it was sent.
    let lead = match args.fleet {
        0 => Duration::from_millis(50),
        _ => Duration::from_millis(50) + UPSTREAM_TIMEOUT,
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    let client: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let deadline = started + args.duration;
    let loops: Vec<_> = (0..args.concurrency)
        .map(|n| {
            let (client, bases, tally, timeline) =
                (client.clone(), bases.clone(), tally.clone(), timeline.clone());
            tokio::spawn(async move {
                let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (n as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                while Instant::now() < deadline {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let route = ["samples", "samples/performance", "samples/errors"][(seed % 3) as usize];
                    let limit = 1 + (seed >> 8) % 200;
                    let kind = (seed >> 20) % 20;
                    let base = &bases[(seed >> 40) as usize % bases.len()];
                    let mut path = format!("{base}/api/blog/{route}.json?limit={limit}");
                    let mut request = Request::builder().method(Method::GET);
                    if kind < 3 {
                        path.push_str(&format!("&callback=cb_{}", seed % 97));
                    } else if kind < 5 {
                        request = request.header("origin", ORIGIN);
                    } else if kind == 5 {
                        request = request.header("accept-encoding", "br, gzip");
                    }
                    let request = request.uri(&path).body(Empty::new()).unwrap();
                    let sent = started.elapsed();
                    let exchange = async {
                        let response = client.request(request).await.ok()?;
                        let (parts, body) = response.into_parts();
                        let body = body.collect().await.ok()?.to_bytes();
                        Some((parts, body))
                    };
                    let outcome = tokio::time::timeout(Duration::from_secs(10), exchange).await;
                    let mut tally = tally.lock().unwrap();
                    let Ok(Some((parts, body))) = outcome else {
                        tally.unexplained.push(format!("{path}: no answer within 10 s"));
                        continue;
                    };
                    let status = parts.status.as_u16();
                    *tally.statuses.entry(status).or_default() += 1;
                    tally.jsonp += u64::from(kind < 3);
                    tally.cors += u64::from(parts.headers.contains_key("access-control-allow-origin"));
                    let leaked = body.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes())
                        || parts
                            .headers
                            .values()
                            .any(|v| v.as_bytes().windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
                    tally.token_seen += u64::from(leaked);
                    if status >= 500 {
                        let text = String::from_utf8_lossy(&body);
                        if text.contains("upstream_budget_exhausted") || in_fault(&timeline, sent, lead) {
                            tally.explained_5xx += 1;
                        } else {
                            tally.unexplained.push(format!("{status} at {sent:?}: {text:.120}"));
                        }
                    }
                }
            })
        })
        .collect();
    for handle in loops {
        let _ = handle.await;
    }
    done.store(true, Ordering::Relaxed);
    let _ = faults.await;
    let _ = sampler.await;
    let hurts = chaos.0.await.unwrap_or_default();
    for handle in slow {
        handle.abort();
    }
    let rss_end: u64 = pids.iter().map(|&pid| rss_kib(pid)).sum();
    let elapsed = started.elapsed();
    let redis_dump = redis.lock().unwrap().as_ref().map(Redis::dump).unwrap_or_default();
    let exits: Vec<_> = replicas.iter_mut().map(Replica::stop).collect();
    let exit_ok = exits.iter().all(|e| e.success());
    std::thread::sleep(Duration::from_millis(200));
    let token_in_logs: usize =
        replicas.iter().map(|r| r.logs.lock().unwrap().iter().filter(|l| l.contains(TOKEN)).count()).sum();
    let token_in_redis = redis_dump.contains(TOKEN);

    let tally = tally.lock().unwrap();
    let total: u64 = tally.statuses.values().sum();
    let fives: u64 = tally.statuses.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum();
    // The fleet's budget lives in Redis: a Redis that comes back empty (killed, restarted)
    // has forgotten what was spent, so each such outage may let one more burst through,
    // and the replicas' own shares (the budget divided among them, used while Redis is
    // away) start full once: one burst in all.
    let emptied = hurts.iter().filter(|h| !h.ends_with("pause")).count() as u64;
    let forgotten = if args.fleet > 0 { BUDGET_BURST * (emptied + 1) } else { 0 };
    let budget = BUDGET_BURST + BUDGET_PER_SECOND * elapsed.as_secs() + forgotten;
    println!(
        "requests            {total} in {:.1} s ({:.0}/s)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!("statuses            {:?}", tally.statuses);
    println!("jsonp / cors        {} / {}", tally.jsonp, tally.cors);
    println!(
        "5xx                 {fives}: {} explained by injected faults or the budget, {} unexplained",
        tally.explained_5xx,
        fives - tally.explained_5xx
    );
    println!(
        "failures            {} unexplained (5xx outside faults, or no answer)",
        tally.unexplained.len()
    );
    for line in tally.unexplained.iter().take(10) {
        println!("                    {line}");
    }
    println!("upstream calls      {} (budget allowed at most {budget}, {forgotten} of it bursts that Redis restarts forgot)", fake.count());
    println!("slow clients        {} dropped by the header read timeout", slow_drops.load(Ordering::Relaxed));
    if args.fleet > 0 {
        println!("redis hurt          {}", hurts.join(", "));
        println!("token in redis      {}", if token_in_redis { "YES" } else { "no" });
    }
    println!(
        "RSS                 start {:.1} MiB, peak {:.1} MiB, end {:.1} MiB (all replicas; cache.max_size 4 MiB each)",
        rss_start as f64 / 1024.0,
        rss_peak.load(Ordering::Relaxed) as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    println!(
        "token in responses  {}",
        if tally.token_seen == 0 { "no".to_owned() } else { format!("YES ({})", tally.token_seen) }
    );
    println!(
        "token in logs       {}",
        if token_in_logs == 0 { "no".to_owned() } else { format!("YES ({token_in_logs} lines)") }
    );
    println!("gateway exit        {exits:?}");
    let ok = tally.unexplained.is_empty()
        && tally.token_seen == 0
        && token_in_logs == 0
        && !token_in_redis
        && exit_ok
        && fake.count() as u64 <= budget;
    println!("{}", if ok { "soak: PASS" } else { "soak: FAIL" });
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
