//! The benchmark: the gateway's cache-hit path against nginx `proxy_cache`, Varnish and a
//! bare hyper server (the ceiling), its miss path, and its memory by entry count.
//!
//! Run it through `bench/run.sh`, which installs wrk, nginx and Varnish, builds, and pins
//! this program and wrk to core 1 while the servers run on core 0. Everything listens on
//! 127.0.0.1 and every measurement is bounded in time. With `--results FILE` the hit
//! figures are also written as TSV, which `bench/chart.py` draws `docs/bench.svg` from.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use appsignal_gateway::config::{RawApp, RawConfig, RawRate, RawUpstreamRate, Token};
use appsignal_gateway::demo::SimulatedAppSignal;
use bytes::Bytes;
use clap::Parser;
use fake_appsignal::{FakeAppSignal, Reply};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const TOKEN: &str = "bench-token-5f0c";
const APP: &str = "5114f7e38c5ce90000000011";
/// The servers' core; this program and wrk use the other one.
const SERVER_CORE: &str = "0";
const CLIENT_CORE: &str = "1";
/// Both cores: for filling the cache, where only the outcome is measured.
const ANY_CORE: &str = "0,1";

#[derive(Parser)]
struct Args {
    /// A short run that only checks the program works (1 round of 1 s, small fills).
    #[arg(long)]
    quick: bool,
    /// Paired rounds per measurement.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seconds per wrk run.
    #[arg(long, default_value_t = 1)]
    seconds: u64,
    /// Only the cache-hit table (for quick comparisons while optimising).
    #[arg(long)]
    hits_only: bool,
    /// Directory of the release build.
    #[arg(long, default_value = "target/release")]
    target: PathBuf,
    /// Also write the cache-hit figures to this file, one tab-separated line per server and
    /// connection count (`protocol server connections rps p50_us p99_us`), for the chart.
    #[arg(long)]
    results: Option<PathBuf>,
}

type Http = Client<HttpConnector, Empty<Bytes>>;

fn client() -> Http {
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(512).build_http()
}

async fn get(client: &Http, url: &str, accept: Option<&str>) -> (u16, Bytes) {
    let mut request = http::Request::get(url);
    if let Some(accept) = accept {
        request = request.header("accept-encoding", accept);
    }
    let response = client.request(request.body(Empty::new()).unwrap()).await.expect("request");
    let status = response.status().as_u16();
    (status, response.into_body().collect().await.expect("body").to_bytes())
}

fn pinned(core: &str, program: &Path) -> Command {
    let mut command = Command::new("taskset");
    command.args(["-c", core]).arg(program);
    command
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// A server process, stopped when dropped.
struct Server {
    child: Child,
    addr: String,
    /// The admin listener, for the gateway.
    admin: String,
    /// A working directory of the server's own, removed after the process has stopped
    /// (fields drop after `Drop::drop` has waited for it).
    _scratch: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM, so that nginx's master takes its workers with it.
        let stopped = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        if !stopped.is_ok_and(|s| s.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The configuration every benchmarked gateway starts from: limits out of the way, JSON
/// logs (the start line gives the addresses), then `tweak`.
fn gateway_config(upstream: &str, tweak: impl FnOnce(&mut RawConfig)) -> RawConfig {
    let mut raw = RawConfig {
        listen: "127.0.0.1:0".into(),
        admin_listen: "127.0.0.1:0".into(),
        ..RawConfig::default()
    };
    raw.upstream.base_url = upstream.to_owned();
    raw.upstream.rate_limit =
        RawUpstreamRate { per_second: 10_000_000, burst: 10_000_000, client_share: 1.0 };
    raw.apps = vec![RawApp { id: APP.into(), name: Some("blog".into()) }];
    raw.clients.rate_limit = RawRate { per_second: 100_000_000, burst: 100_000_000 };
    raw.limits.max_upstream_concurrency = 256;
    raw.log.format = "json".into();
    raw.log.level = "warn,appsignal_gateway::lifecycle=info".into();
    tweak(&mut raw);
    raw
}

fn start_gateway(args: &Args, dir: &Path, name: &str, raw: &RawConfig, core: &str) -> Server {
    let config = dir.join(format!("{name}.yaml"));
    // The token never goes into a file: it is given as the environment override.
    std::fs::write(&config, serde_yaml::to_string(raw).expect("a configuration serialises")).unwrap();
    let mut child = pinned(core, &args.target.join("appsignal-gateway"))
        .args(["--config", &config.to_string_lossy()])
        .env("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gateway starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (addr, admin) = loop {
        let line = lines.next().expect("gateway output").expect("readable");
        if line.contains("appsignal-gateway is serving") {
            let json: serde_json::Value = serde_json::from_str(&line).unwrap();
            break (json["listen"].as_str().unwrap().to_owned(), json["admin"].as_str().unwrap().to_owned());
        }
    };
    // Keep draining its output so a chatty gateway never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr, admin, _scratch: None }
}

fn start_ceiling(args: &Args, body: &Path, core: &str) -> Server {
    let mut child = pinned(core, &args.target.join("examples/ceiling"))
        .args(["127.0.0.1:0", &body.to_string_lossy()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ceiling starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    Server { child, addr: line.trim().to_owned(), admin: String::new(), _scratch: None }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_nginx(dir: &Path, upstream: &str) -> Option<Server> {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists())?;
    let port = free_port();
    let root = dir.join("nginx");
    std::fs::create_dir_all(root.join("cache")).unwrap();
    let upstream = upstream.trim_start_matches("http://");
    let root_s = root.to_string_lossy();
    let conf = format!(
        "worker_processes 1;\ndaemon off;\npid {root_s}/nginx.pid;\nerror_log {root_s}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {root_s}/body;\n  proxy_temp_path {root_s}/proxy;\n\
           fastcgi_temp_path {root_s}/fastcgi;\n  uwsgi_temp_path {root_s}/uwsgi;\n  scgi_temp_path {root_s}/scgi;\n\
           open_file_cache max=1000 inactive=60s;\n\
           proxy_cache_path {root_s}/cache levels=1:2 keys_zone=api:10m max_size=256m inactive=10m use_temp_path=off;\n\
           upstream appsignal {{ server {upstream}; keepalive 32; }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    location /api/ {{\n\
               proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
               proxy_pass http://appsignal$uri?$args&token={TOKEN};\n\
               proxy_cache api;\n      proxy_cache_key $uri?$args;\n      proxy_cache_valid 200 30s;\n\
               proxy_cache_lock on;\n      proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;\n\
               add_header Cache-Status $upstream_cache_status;\n    }}\n  }}\n}}\n"
    );
    std::fs::write(root.join("nginx.conf"), conf).unwrap();
    let child = pinned(SERVER_CORE, Path::new(nginx))
        .args(["-p", &root_s, "-c", &format!("{root_s}/nginx.conf"), "-e", &format!("{root_s}/error.log")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // Built before waiting, so that an nginx that never listens is stopped, not left behind.
    let server = Server { child, addr: format!("127.0.0.1:{port}"), admin: String::new(), _scratch: None };
    for _ in 0..200 {
        if std::net::TcpStream::connect(&server.addr).is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// The VCL: the proxy nginx's configuration above is. The cache key is the client's URL
/// (the builtin `vcl_hash`), the token is appended only to the backend request, and only
/// 200 answers are kept, for an hour as the gateway's lists are here (nginx keeps them 30 s).
fn varnish_vcl(host: &str, port: &str) -> String {
    format!(
        r#"vcl 4.1;
backend appsignal {{ .host = "{host}"; .port = "{port}"; }}
sub vcl_backend_fetch {{
  if (bereq.url ~ "\?") {{ set bereq.url = bereq.url + "&token={TOKEN}"; }}
  else {{ set bereq.url = bereq.url + "?token={TOKEN}"; }}
}}
sub vcl_backend_response {{
  if (beresp.status == 200) {{ set beresp.ttl = 1h; return (deliver); }}
  set beresp.ttl = 0s;
  set beresp.uncacheable = true;
  return (deliver);
}}
sub vcl_deliver {{
  if (obj.hits > 0) {{ set resp.http.Cache-Status = "HIT"; }} else {{ set resp.http.Cache-Status = "MISS"; }}
}}
"#
    )
}

/// Varnish with one thread pool pinned to the servers' core, its objects in memory, and
/// no log reader (its shared-memory log is always written; nothing reads it).
fn start_varnish(dir: &Path, upstream: &str) -> Option<Server> {
    let varnishd = ["/usr/sbin/varnishd", "/usr/bin/varnishd"].into_iter().find(|p| Path::new(p).exists())?;
    let (host, backend_port) = upstream.trim_start_matches("http://").rsplit_once(':')?;
    let vcl = dir.join("varnish.vcl");
    std::fs::write(&vcl, varnish_vcl(host, backend_port)).unwrap();
    // Varnish writes its log to a file it maps in its working directory on every request:
    // on tmpfs, as its packaging sets up, rather than paying for page writeback on disk.
    let scratch = tempfile::Builder::new()
        .prefix("bench-varnish")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir_in(dir))
        .ok()?;
    let work = scratch.path().join("varnish");
    let addr = format!("127.0.0.1:{}", free_port());
    let child = pinned(SERVER_CORE, Path::new(varnishd))
        // `-j none`: run as this user; Varnish's default jail would run its worker as
        // another user who cannot enter this program's private temporary directories.
        .args(["-F", "-j", "none", "-n"])
        .arg(&work)
        .args(["-a", &addr, "-f"])
        .arg(&vcl)
        .args(["-s", "malloc,256m", "-p", "thread_pools=1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = Server { child, addr, admin: String::new(), _scratch: Some(scratch) };
    // The manager opens the listening socket before its worker process has compiled the VCL
    // and started, so a connection being accepted does not mean Varnish answers: ask it.
    for _ in 0..300 {
        let status = Command::new("varnishadm").arg("-n").arg(&work).arg("status").output();
        if status.is_ok_and(|s| String::from_utf8_lossy(&s.stdout).contains("running")) {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// One wrk run's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    errors: u64,
}

const WRK_SCRIPT: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"#;

/// Runs wrk without blocking this runtime: the fake AppSignal lives on it and must keep
/// answering while wrk runs.
async fn wrk(dir: &Path, url: &str, connections: usize, seconds: u64, headers: &[&str]) -> Run {
    let script = dir.join("report.lua");
    if !script.exists() {
        std::fs::write(&script, WRK_SCRIPT).unwrap();
    }
    let mut command = tokio::process::Command::new("taskset");
    command.args(["-c", CLIENT_CORE, "wrk", "-t1", &format!("-c{connections}"), &format!("-d{seconds}s")]);
    command.args(["--timeout", "5s", "-s", &script.to_string_lossy()]);
    for header in headers {
        command.args(["-H", header]);
    }
    let out = command.arg(url).output().await.expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("wrk printed no result:\n{text}"));
    let n: Vec<f64> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect();
    Run { rps: n[0] / (n[1] / 1e6), p50_us: n[2], p99_us: n[3], p999_us: n[4], errors: n[5] as u64 }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    if values.is_empty() {
        return f64::NAN;
    }
    values[values.len() / 2]
}

const FILL_SCRIPT: &str = r#"
local from, count, n = 0, 1, 0
init = function(args)
  from = tonumber(args[1]); count = tonumber(args[2])
end
request = function()
  n = n + 1
  return wrk.format("GET", "/api/blog/samples.json?limit=10&since=" .. (from + n % count))
end
"#;

/// A gauge from the gateway's `/metrics`.
async fn gauge(client: &Http, admin: &str, name: &str) -> f64 {
    let metrics = get(client, &format!("http://{admin}/metrics"), None).await.1;
    String::from_utf8_lossy(&metrics)
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Fills the cache of `gateway` with distinct entries `from..to`: wrk asks for those
/// keys round and round (on both cores) until the gateway holds `to` entries, or stops
/// gaining them (the cache is full).
async fn fill(client: &Http, dir: &Path, gateway: &Server, from: u64, to: u64) {
    let script = dir.join("fill.lua");
    std::fs::write(&script, FILL_SCRIPT).unwrap();
    let mut wrk = tokio::process::Command::new("taskset")
        .args(["-c", ANY_CORE, "wrk", "-t1", "-c128", "-d600s", "-s", &script.to_string_lossy()])
        .arg(format!("http://{}/", gateway.addr))
        .args(["--", &from.to_string(), &(to - from).to_string()])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("wrk runs");
    let (mut last, mut since) = (0.0, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let entries = gauge(client, &gateway.admin, "appsignal_gateway_cache_entries").await;
        if entries >= to as f64 || since.elapsed() > Duration::from_secs(5) {
            break;
        }
        if entries > last {
            (last, since) = (entries, Instant::now());
        }
    }
    let _ = wrk.kill().await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = Args::parse();
    if args.quick {
        args.rounds = 1;
        args.seconds = 1;
    }
    let dir = tempfile::tempdir().unwrap();
    let sim = SimulatedAppSignal::new(Token::new(TOKEN), &[APP], 1_700_000_000);
    let (_, list) = sim.answer(&format!("/api/{APP}/samples.json"), &format!("limit=10&token={TOKEN}"));
    let body: &'static str = Box::leak(list.to_string().into_boxed_str());
    let body_file = dir.path().join("body.json");
    std::fs::File::create(&body_file).unwrap().write_all(body.as_bytes()).unwrap();
    let fake = FakeAppSignal::start().await;
    fake.always(Reply::Json(200, body));
    let client = client();

    println!("# appsignal-gateway benchmark");
    println!("body: {} bytes (a 10-sample list from the demo data); servers on core {SERVER_CORE}, wrk and this program on core {CLIENT_CORE}", body.len());
    println!(
        "{} paired rounds of {} s per figure; ratios are medians of per-round ratios\n",
        args.rounds, args.seconds
    );

    // A long TTL: this part measures fresh hits, not the stale paths.
    let hit = gateway_config(&fake.url, |raw| {
        raw.cache.ttl.list = "1h".into();
        raw.cache.ttl.show = "1h".into();
    });
    let gateway = start_gateway(&args, dir.path(), "hit", &hit, SERVER_CORE);
    let ceiling = start_ceiling(&args, &body_file, SERVER_CORE);
    let nginx = start_nginx(dir.path(), &fake.url);
    let varnish = start_varnish(dir.path(), &fake.url);
    let path = "/api/blog/samples.json?limit=10";
    let proxy_path = format!("/api/{APP}/samples.json?limit=10");
    let mut targets = vec![
        ("gateway", format!("http://{}{path}", gateway.addr)),
        ("ceiling", format!("http://{}{path}", ceiling.addr)),
    ];
    match &nginx {
        Some(nginx) => targets.push(("nginx", format!("http://{}{proxy_path}", nginx.addr))),
        None => println!("nginx is not installed: its row is skipped (bench/run.sh installs it with apt)\n"),
    }
    match &varnish {
        Some(varnish) => targets.push(("varnish", format!("http://{}{proxy_path}", varnish.addr))),
        None => println!(
            "Varnish is not installed or did not start: its row is skipped (bench/run.sh installs it with apt)\n"
        ),
    }
    for (name, url) in &targets {
        let calls = fake.count();
        let (status, got) = get(&client, url, None).await;
        assert_eq!((status, &got[..]), (200, body.as_bytes()), "{name} ({url}) did not answer the body");
        // A proxy that forgot the token would still be answered by the fake: check it went.
        if let Some(sent) = fake.received().get(calls) {
            assert!(sent.pairs().contains(&("token".into(), TOKEN.into())), "{name} did not send the token");
        }
        let filled = fake.count();
        for _ in 0..2 {
            let (status, got) = get(&client, url, None).await;
            assert_eq!((status, &got[..]), (200, body.as_bytes()), "{name} ({url}) did not answer the body");
        }
        // What is measured below must be hits: no server may call the upstream again.
        assert_eq!(fake.count(), filled, "{name}: the second request was not a cache hit");
    }

    let mut results = args.results.as_ref().map(|path| {
        let mut file = std::fs::File::create(path).expect("the results file can be written");
        writeln!(file, "# protocol\tserver\tconnections\trps\tp50_us\tp99_us").unwrap();
        let rounds =
            if args.rounds == 1 { "1 round".to_owned() } else { format!("{} paired rounds", args.rounds) };
        writeln!(
            file,
            "# note: HTTP/1.1: examples/bench.rs, wrk -t1, medians of {rounds} of {} s",
            args.seconds
        )
        .unwrap();
        file
    });
    println!("## Cache hits\n");
    println!("| connections | server | req/s | p50 µs | p99 µs | p99.9 µs | errors |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut summary = Vec::new();
    let conns: &[usize] = if args.quick { &[1, 64] } else { &[1, 64, 256] };
    for &c in conns {
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); targets.len()];
        for round in 0..args.rounds {
            for k in 0..targets.len() {
                let t = (k + round) % targets.len();
                runs[t].push(wrk(dir.path(), &targets[t].1, c, args.seconds, &[]).await);
            }
        }
        for (t, (name, _)) in targets.iter().enumerate() {
            let m = |f: fn(&Run) -> f64| median(runs[t].iter().map(f).collect());
            let errors: u64 = runs[t].iter().map(|r| r.errors).sum();
            let (rps, p50, p99) = (m(|r| r.rps), m(|r| r.p50_us), m(|r| r.p99_us));
            println!(
                "| {c} | {name} | {rps:.0} | {p50:.0} | {p99:.0} | {:.0} | {errors} |",
                m(|r| r.p999_us)
            );
            if let Some(file) = &mut results {
                writeln!(file, "http1\t{name}\t{c}\t{rps:.0}\t{p50:.0}\t{p99:.0}").unwrap();
            }
        }
        let ratio = |a: usize, b: usize, f: fn(&Run) -> f64| {
            median((0..args.rounds).map(|i| f(&runs[a][i]) / f(&runs[b][i])).collect())
        };
        let vs = |server: &str| {
            let other = targets.iter().position(|(name, _)| *name == server)?;
            Some(ratio(0, other, |r| r.rps))
        };
        summary.push((c, vs("nginx"), vs("varnish"), ratio(0, 1, |r| r.rps), ratio(0, 1, |r| r.p99_us)));
    }
    drop(results);
    println!(
        "\n| connections | gateway/nginx req/s | gateway/varnish req/s | gateway/ceiling req/s | gateway/ceiling p99 |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let or_na = |ratio: &Option<f64>| ratio.map_or("n/a".to_owned(), |r| format!("{r:.2}"));
    for (c, vs_nginx, vs_varnish, vs_ceiling, p99) in &summary {
        println!("| {c} | {} | {} | {vs_ceiling:.2} | {p99:.2} |", or_na(vs_nginx), or_na(vs_varnish));
    }

    if args.hits_only {
        return;
    }
    println!("\n## Compressed hits (64 connections)\n");
    println!("| Accept-Encoding | req/s | p99 µs | body bytes |");
    println!("| --- | --- | --- | --- |");
    for accept in ["identity", "gzip", "br"] {
        let (_, got) = get(&client, &targets[0].1, Some(accept)).await;
        let header = format!("Accept-Encoding: {accept}");
        let run = wrk(dir.path(), &targets[0].1, 64, args.seconds, &[&header]).await;
        println!("| {accept} | {:.0} | {:.0} | {} |", run.rps, run.p99_us, got.len());
    }

    println!("\n## Misses\n");
    let samples = if args.quick { 200 } else { 2000 };
    // Both sides call a separate upstream process (the ceiling serves the same body for
    // any path): direct, and through a gateway whose every request is a new key.
    let upstream = format!("http://{}", ceiling.addr);
    let miss_gateway =
        start_gateway(&args, dir.path(), "miss", &gateway_config(&upstream, |_| {}), SERVER_CORE);
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for i in 0..samples {
        let started = Instant::now();
        get(&client, &format!("{upstream}/api/{APP}/samples.json?limit=10&since={i}&token={TOKEN}"), None)
            .await;
        direct.push(started.elapsed().as_secs_f64() * 1e6);
        let started = Instant::now();
        let (status, _) = get(
            &client,
            &format!("http://{}/api/blog/samples.json?limit=10&since={i}", miss_gateway.addr),
            None,
        )
        .await;
        assert_eq!(status, 200);
        through.push(started.elapsed().as_secs_f64() * 1e6);
    }
    drop(miss_gateway);
    let (direct, through) = (median(direct), median(through));
    println!("median latency of {samples} sequential misses (compression on): direct to the upstream {direct:.0} µs, through the gateway {through:.0} µs: **{:.0} µs added**", through - direct);
    let before = fake.count();
    let url = format!("http://{}/api/blog/samples/errors.json?limit=99", gateway.addr);
    fake.always(Reply::Delay(Duration::from_millis(50), Box::new(Reply::Json(200, body))));
    let concurrent: Vec<_> = (0..100)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { get(&client, &url, None).await.0 })
        })
        .collect();
    for request in concurrent {
        assert_eq!(request.await.unwrap(), 200);
    }
    fake.always(Reply::Json(200, body));
    println!("100 concurrent identical misses: **{} upstream call(s)**", fake.count() - before);
    drop(targets);
    drop((gateway, ceiling, nginx, varnish));

    println!("\n## Memory by entry count\n");
    println!("cache.max_size 1GiB; each entry a {}-byte list under its own key, filled through a gateway and an upstream on both cores; RSS of the gateway process after the fill, and the hit rate on one key afterwards (64 connections, gateway on core 0)\n", body.len());
    println!(
        "| compression | entries filled | RSS MiB | cached entries | cached MiB (weigher) | hit req/s |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let levels: &[u64] = if args.quick { &[1_000, 10_000] } else { &[10_000, 100_000, 1_000_000] };
    let fill_upstream = start_ceiling(&args, &body_file, ANY_CORE);
    for compression in [false, true] {
        let upstream = format!("http://{}", fill_upstream.addr);
        let memory = gateway_config(&upstream, |raw| {
            raw.cache.max_size = "1GiB".into();
            raw.cache.ttl.list = "1h".into();
            raw.compression.enabled = compression;
        });
        let gateway = start_gateway(&args, dir.path(), "memory", &memory, ANY_CORE);
        let base = format!("http://{}", gateway.addr);
        let mut filled = 0;
        for &level in levels {
            // With compression on, a million entries would spend most of the run compressing.
            if compression && level > 100_000 {
                break;
            }
            fill(&client, dir.path(), &gateway, filled, level).await;
            filled = level;
            let rss = rss_mib(gateway.child.id());
            let entries = gauge(&client, &gateway.admin, "appsignal_gateway_cache_entries").await;
            let bytes =
                gauge(&client, &gateway.admin, "appsignal_gateway_cache_bytes").await / (1024.0 * 1024.0);
            let _ = Command::new("taskset")
                .args(["-a", "-pc", SERVER_CORE, &gateway.child.id().to_string()])
                .output();
            let hit = wrk(
                dir.path(),
                &format!("{base}/api/blog/samples.json?limit=10&since=1"),
                64,
                args.seconds.max(2),
                &[],
            )
            .await;
            let _ = Command::new("taskset")
                .args(["-a", "-pc", ANY_CORE, &gateway.child.id().to_string()])
                .output();
            let on = if compression { "on" } else { "off" };
            println!("| {on} | {level} | {rss:.0} | {entries:.0} | {bytes:.0} | {:.0} |", hit.rps);
        }
    }
}
