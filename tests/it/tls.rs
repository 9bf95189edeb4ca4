//! HTTPS and HTTP/2 on `listen`: ALPN, per-stream limits, rapid reset, certificate
//! reloads, handshake deadlines and graceful drain, against a test CA made here.

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use appsignal_gateway::config::{self, RawConfig};
use appsignal_gateway::lifecycle;
use bytes::Bytes;
use futures_util::future::join_all;
use http::Method;
use support::tls::{self, H2Answer, TestCa};
use support::{binary, send, FakeAppSignal, Reply, TestGateway};
use tokio::io::AsyncReadExt;

/// A gateway serving HTTPS with a fresh leaf of `ca`, changed by `tweak`.
async fn https(
    ca: &TestCa,
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut RawConfig),
) -> (TestGateway, SocketAddr) {
    let leaf = ca.leaf(dir, "server");
    let gateway = TestGateway::start(|raw| {
        raw.tls.cert_file = Some(leaf.cert.to_string_lossy().into_owned());
        raw.tls.key_file = Some(leaf.key.to_string_lossy().into_owned());
        tweak(raw);
    })
    .await;
    let addr = gateway.url.trim_start_matches("http://").parse().unwrap();
    (gateway, addr)
}

async fn metric(gateway: &TestGateway, line_start: &str) -> f64 {
    let text = send(Method::GET, &format!("{}/metrics", gateway.admin_url), &[]).await.text();
    let line = text.lines().find(|l| l.starts_with(line_start));
    line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_is_negotiated_and_http1_still_served() {
    let (ca, dir) = (TestCa::new(), tempfile::tempdir().unwrap());
    let (gateway, addr) = https(&ca, dir.path(), |_| {}).await;
    let client = tls::h2(addr, &ca).await;
    let answer = tls::h2_get(&client, "/api/blog/samples.json?limit=1", &[]).await;
    assert_eq!(answer.status, 200);
    assert!(answer.headers.contains_key("cache-status"));
    let (status, chosen) = tls::h1_get(addr, &ca, &[b"http/1.1"], "/api/blog/samples.json?limit=1").await;
    assert_eq!((status, chosen.as_deref()), (200, Some(&b"http/1.1"[..])));
    let (status, chosen) = tls::h1_get(addr, &ca, &[], "/api/blog/samples.json?limit=1").await;
    assert_eq!((status, chosen), (200, None), "a client that offers no ALPN gets HTTP/1.1");
    // Plain HTTP on the HTTPS port is refused, not served.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut plain, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut reply)).await;
    assert!(!String::from_utf8_lossy(&reply).contains("200 OK"));
    assert_eq!(metric(&gateway, "appsignal_gateway_connections_total{protocol=\"h2\"}").await, 1.0);
    assert_eq!(metric(&gateway, "appsignal_gateway_connections_total{protocol=\"h1\"}").await, 2.0);
    assert!(metric(&gateway, "appsignal_gateway_tls_handshake_failures_total").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_streams_on_one_connection_make_one_upstream_call() {
    let (ca, dir) = (TestCa::new(), tempfile::tempdir().unwrap());
    let (gateway, addr) = https(&ca, dir.path(), |_| {}).await;
    gateway.fake.always(Reply::Delay(Duration::from_millis(300), Box::new(Reply::Echo)));
    let client = tls::h2(addr, &ca).await;
    let answers: Vec<H2Answer> =
        join_all((0..100).map(|_| tls::h2_get(&client, "/api/blog/samples.json?limit=7", &[]))).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(gateway.fake.count(), 1);
    let bodies: std::collections::HashSet<&Bytes> = answers.iter().map(|a| &a.body).collect();
    assert_eq!(bodies.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_per_stream() {
    let (ca, dir) = (TestCa::new(), tempfile::tempdir().unwrap());
    let (_gateway, addr) = https(&ca, dir.path(), |raw| {
        raw.limits.max_uri_length = "1KiB".into();
        raw.limits.max_header_size = "2KiB".into();
        raw.clients.rate_limit = config::RawRate { per_second: 1, burst: 3 };
    })
    .await;
    let client = tls::h2(addr, &ca).await;
    let long = format!("/api/blog/samples.json?action_id={}", "a".repeat(2000));
    assert_eq!(tls::h2_get(&client, &long, &[]).await.status, 414);
    let big = "b".repeat(3000);
    assert_eq!(tls::h2_get(&client, "/api/blog/samples.json", &[("x-big", &big)]).await.status, 431);
    // A burst of 3 per client address: the fourth stream in a row is limited.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(tls::h2_get(&client, "/api/blog/samples.json", &[]).await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");

    let keyed = tempfile::tempdir().unwrap();
    let digest = appsignal_gateway::auth::digest_hex("k-0123456789abcdef0123456789abcdef");
    let (_gateway, addr) = https(&ca, keyed.path(), |raw| {
        raw.clients.keys = vec![config::RawKey { name: "wall".into(), sha256: digest, apps: None }];
    })
    .await;
    let client = tls::h2(addr, &ca).await;
    assert_eq!(tls::h2_get(&client, "/api/blog/samples.json", &[]).await.status, 401);
    let bearer = [("authorization", "Bearer k-0123456789abcdef0123456789abcdef")];
    assert_eq!(tls::h2_get(&client, "/api/blog/samples.json", &bearer).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_client_is_cut_off_while_others_are_served() {
    let (ca, dir) = (TestCa::new(), tempfile::tempdir().unwrap());
    let (gateway, addr) = https(&ca, dir.path(), |_| {}).await;
    gateway.fake.always(Reply::Delay(Duration::from_millis(200), Box::new(Reply::Echo)));
    let stream = tls::connect(addr, &ca.client(&[b"h2"])).await;
    let (mut attacker, connection) = h2::client::handshake(stream).await.unwrap();
    let connection = tokio::spawn(connection);
    let mut opened = 0;
    for i in 0..10_000 {
        let Ok(ready) = tokio::time::timeout(Duration::from_secs(10), attacker.ready()).await else { break };
        let Ok(ready) = ready else { break };
        attacker = ready;
        let request =
            http::Request::get(format!("https://127.0.0.1/api/blog/samples.json?limit={}", i % 1000 + 1))
                .body(())
                .unwrap();
        let Ok((_, mut stream)) = attacker.send_request(request, true) else { break };
        stream.send_reset(h2::Reason::CANCEL);
        opened += 1;
    }
    let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
    let error = ended.expect("the server closed the attacker's connection").unwrap();
    assert!(opened < 10_000, "the attacker opened and reset {opened} streams unhindered");
    eprintln!("the rapid-reset client was cut off after {opened} streams");
    let error = error.expect_err("closed with an error");
    assert!(error.is_go_away() || error.is_io(), "{error:?}");
    // Another client is served meanwhile and after.
    let client = tls::h2(addr, &ca).await;
    assert_eq!(tls::h2_get(&client, "/api/blog/samples.json?limit=1", &[]).await.status, 200);
}

/// One HTTP/2 frame: a 9-byte header and its payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_flood_is_cut_off() {
    let (ca, dir) = (TestCa::new(), tempfile::tempdir().unwrap());
    let (_gateway, addr) = https(&ca, dir.path(), |_| {}).await;
    let stream = tls::connect(addr, &ca.client(&[b"h2"])).await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    // Reads until the server closes the connection (or says GOAWAY); returns when it did.
    let closed = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
            // Walk the frames read so far, looking for a GOAWAY (type 7).
            let mut at = 0;
            while seen.len() >= at + 9 {
                let len = (usize::from(seen[at]) << 16)
                    | (usize::from(seen[at + 1]) << 8)
                    | usize::from(seen[at + 2]);
                if seen[at + 3] == 7 {
                    return true;
                }
                at += 9 + len;
            }
        }
    });
    use tokio::io::AsyncWriteExt;
    let mut opening = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    opening.extend(frame(0x4, 0, 0, &[]));
    // HEADERS for stream 1 (GET https /), END_STREAM but never END_HEADERS.
    opening.extend(frame(0x1, 0x1, 1, &[0x82, 0x87, 0x84]));
    writer.write_all(&opening).await.unwrap();
    // Then CONTINUATION frames of 1 KB header fields, without end.
    let mut field = vec![0x00, 0x03, b'x', b'-', b'a', 0x7f, 0xE9, 0x06];
    field.extend(std::iter::repeat_n(b'a', 1000));
    let continuation = frame(0x9, 0, 1, &field);
    let mut sent = 0;
    for _ in 0..20_000 {
        if closed.is_finished() || writer.write_all(&continuation).await.is_err() {
            break;
        }
        sent += 1;
    }
    let cut = tokio::time::timeout(Duration::from_secs(10), closed).await;
    assert!(
        matches!(cut, Ok(Ok(true))),
        "the server never closed the flooding connection ({sent} frames sent)"
    );
    assert!(sent < 20_000, "all 20,000 CONTINUATION frames were accepted");
    eprintln!("the CONTINUATION flood was cut off after {sent} frames");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_is_dropped_after_its_timeout() {
    let (ca, dir) = (TestCa::new(), tempfile::tempdir().unwrap());
    let (gateway, addr) = https(&ca, dir.path(), |raw| raw.limits.header_read_timeout = "500ms".into()).await;
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(20), stalled.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the connection was closed: {read:?}");
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    assert_eq!(metric(&gateway, "appsignal_gateway_tls_handshake_failures_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_open_h2_streams() {
    let (ca, dir) = (TestCa::new(), tempfile::tempdir().unwrap());
    let (mut gateway, addr) = https(&ca, dir.path(), |_| {}).await;
    gateway.fake.always(Reply::Delay(Duration::from_millis(800), Box::new(Reply::Echo)));
    let client = tls::h2(addr, &ca).await;
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { tls::h2_get(&client, "/api/blog/samples.json?limit=9", &[]).await })
    };
    gateway.fake.wait_for(1).await;
    gateway.shutdown().await;
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, 200, "the open stream finished during the drain");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no new connections after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_swaps_the_certificate_and_rejects_a_bad_pair_whole() {
    let (ca, dir) = (TestCa::new(), tempfile::tempdir().unwrap());
    let fake = FakeAppSignal::start().await;
    let first = ca.leaf(dir.path(), "first");
    let mut raw = support::raw_config(&fake.url);
    raw.tls.cert_file = Some(dir.path().join("live.crt").to_string_lossy().into_owned());
    raw.tls.key_file = Some(dir.path().join("live.key").to_string_lossy().into_owned());
    std::fs::copy(&first.cert, dir.path().join("live.crt")).unwrap();
    std::fs::copy(&first.key, dir.path().join("live.key")).unwrap();
    // The file a reload re-reads: the test configuration with the token inline.
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, serde_yaml::to_string(&raw).unwrap().replace("'[redacted]'", support::TOKEN))
        .unwrap();
    let (_, settings) = config::load(&path).unwrap();
    let options = lifecycle::StartOptions { config_path: Some(path.clone()), ..Default::default() };
    let running = lifecycle::start(settings, options).await.unwrap();
    let addr = running.listen;
    let presented = |stream: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>| {
        stream.get_ref().1.peer_certificates().unwrap()[0].clone()
    };
    let old = tls::connect(addr, &ca.client(&[b"h2"])).await;
    assert_eq!(presented(&old), first.der);
    let (old_client, connection) = h2::client::handshake(old).await.unwrap();
    tokio::spawn(connection);

    let second = ca.leaf(dir.path(), "second");
    std::fs::copy(&second.cert, dir.path().join("live.crt")).unwrap();
    std::fs::copy(&second.key, dir.path().join("live.key")).unwrap();
    running.reloader.reload().expect("the new pair is accepted");
    let new = tls::connect(addr, &ca.client(&[b"h2"])).await;
    assert_eq!(presented(&new), second.der, "a new connection gets the new certificate");
    assert_eq!(
        tls::h2_get(&old_client, "/api/blog/samples.json?limit=2", &[]).await.status,
        200,
        "the open one is served"
    );

    // A key of another certificate: the whole reload is rejected and the served pair stays.
    let third = ca.leaf(dir.path(), "third");
    std::fs::copy(&third.key, dir.path().join("live.key")).unwrap();
    let error = running.reloader.reload().expect_err("a mismatched pair is rejected");
    assert!(
        error.to_string().contains("tls.key_file") || format!("{error:?}").contains("tls.key_file"),
        "{error:?}"
    );
    let after = tls::connect(addr, &ca.client(&[b"h2"])).await;
    assert_eq!(presented(&after), second.der);
    running.shutdown().await;
}

#[test]
fn check_names_a_missing_file_a_mismatched_key_and_warns_of_expiry() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let leaf = ca.leaf(dir.path(), "a");
    let other = ca.leaf(dir.path(), "b");
    let token = [("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", "t")];
    let config = |cert: &std::path::Path, key: &std::path::Path| {
        let yaml = format!(
            "apps:\n  - id: \"abc\"\ntls:\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
            cert.display(),
            key.display()
        );
        binary::write_config(dir.path(), &yaml)
    };
    let (status, _, stderr) = binary::run(&["check", "--config", &config(&leaf.cert, &leaf.key)], &token);
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let (status, _, stderr) = binary::run(&["check", "--config", &config(&leaf.cert, &other.key)], &token);
    assert!(!status.success());
    assert!(stderr.contains("tls.key_file") && stderr.contains("does not match"), "{stderr}");
    let missing = dir.path().join("missing.crt");
    let (status, _, stderr) = binary::run(&["check", "--config", &config(&missing, &leaf.key)], &token);
    assert!(!status.success());
    assert!(stderr.contains("tls.cert_file") && stderr.contains("missing.crt"), "{stderr}");

    // Expiring in five days: valid, with a warning.
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(5);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.path().join("soon.crt"), dir.path().join("soon.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let (status, _, stderr) = binary::run(&["check", "--config", &config(&c, &k)], &token);
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("warning") && stderr.contains("expires on"), "{stderr}");
}

/// A client generated from the API description of an HTTPS gateway knows the scheme.
#[test]
fn the_api_description_names_the_https_origin() {
    let dir = tempfile::tempdir().unwrap();
    let leaf = TestCa::new().leaf(dir.path(), "server");
    let mut raw = support::raw_config("http://127.0.0.1:9");
    raw.listen = "0.0.0.0:8443".into();
    raw.tls.cert_file = Some(leaf.cert.to_string_lossy().into_owned());
    raw.tls.key_file = Some(leaf.key.to_string_lossy().into_owned());
    let doc = appsignal_gateway::openapi::document(&config::validate(&raw).unwrap());
    assert_eq!(doc["servers"][0]["url"], "/");
    assert_eq!(doc["servers"][1]["url"], "https://{host}");
    assert_eq!(doc["servers"][1]["variables"]["host"]["default"], "localhost:8443");
}

/// Issue 26, finding 3 over HTTP/2: a stream is judged by its `:authority` when it sends
/// no `Host`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_streams_are_judged_by_their_authority() {
    let (ca, dir) = (TestCa::new(), tempfile::tempdir().unwrap());
    let (gateway, addr) = https(&ca, dir.path(), |_| {}).await;
    let client = tls::h2(addr, &ca).await;
    let port = addr.port().to_string();
    let refused = tls::h2_get_at(&client, "attacker.example", "/api/blog/samples.json", &[]).await;
    assert_eq!(refused.status, 421);
    let refused = tls::h2_get_at(&client, &format!("attacker.example:{port}"), "/openapi.json", &[]).await;
    assert_eq!(refused.status, 421);
    assert_eq!(gateway.fake.count(), 0);
    let served = tls::h2_get_at(&client, &format!("localhost:{port}"), "/api/blog/samples.json", &[]).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.headers["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_queries_are_posted_over_http2() {
    let (ca, dir) = (TestCa::new(), tempfile::tempdir().unwrap());
    let (gateway, addr) = https(&ca, dir.path(), |raw| raw.limits.max_body_size = "1KiB".into()).await;
    let client = tls::h2(addr, &ca).await;
    let json = [("content-type", "application/json")];
    let body = Bytes::from_static(br#"{"site_ids":["blog"],"trace_id":"t"}"#);
    let answer = tls::h2_post(&client, "/api/v2/tracing/trace", &json, body.clone()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let again = tls::h2_post(&client, "/api/v2/tracing/trace", &json, body.clone()).await;
    assert!(again.headers["cache-status"].to_str().unwrap().contains("hit"));
    let plain = tls::h2_post(&client, "/api/v2/tracing/trace", &[("content-type", "text/plain")], body).await;
    assert_eq!(plain.status, 415);
    let big = Bytes::from(format!(r#"{{"site_ids":["blog"],"trace_id":"{}"}}"#, "x".repeat(2000)));
    assert_eq!(tls::h2_post(&client, "/api/v2/tracing/trace", &json, big).await.status, 413);
    assert_eq!(gateway.fake.count(), 1);
    assert_eq!(gateway.fake.received()[0].method, "POST");
}
