//! Limits on everything a client controls, and surviving panics and slow clients.

use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use appsignal_gateway::config;
use appsignal_gateway::gateway::Gateway;
use appsignal_gateway::response::Body;
use appsignal_gateway::server::{self, ConnLimits, Handler};
use http::{Method, Request, Response};
use support::TestGateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn long_targets_are_414_and_large_headers_431_as_json() {
    let gw = TestGateway::start(|raw| {
        raw.limits.max_uri_length = "1KiB".into();
        raw.limits.max_header_size = "2KiB".into();
    })
    .await;
    let long = format!("/api/blog/samples.json?action_id={}", "a".repeat(1100));
    let answer = gw.get(&long).await;
    assert_eq!(answer.status, 414);
    assert_eq!(answer.code(), "uri_too_long");
    let big = "x".repeat(2100);
    let answer = gw.send(Method::GET, "/api/blog/samples.json", &[("x-big", &big)]).await;
    assert_eq!(answer.status, 431);
    assert_eq!(answer.code(), "headers_too_large");
    assert_eq!(gw.fake.count(), 0);
}

/// Sends raw bytes and reads until the server closes (true) or `limit` passes (false).
async fn raw_exchange(addr: &str, bytes: &[u8], limit: Duration) -> (String, bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let mut out = Vec::new();
    let closed = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await.is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[tokio::test]
async fn heads_beyond_the_buffer_are_refused_without_hanging() {
    let gw = TestGateway::start(|raw| raw.limits.max_header_size = "1KiB".into()).await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let huge = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: {}\r\n\r\n", "y".repeat(256 * 1024));
    let (answer, closed) = raw_exchange(&addr, huge.as_bytes(), Duration::from_secs(20)).await;
    assert!(closed, "the connection was left hanging");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 431"), "{answer:.80}");
    // The server is fine afterwards.
    assert_eq!(gw.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn partial_heads_are_dropped_after_the_header_read_timeout() {
    let gw = TestGateway::start(|raw| raw.limits.header_read_timeout = "300ms".into()).await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let (answer, closed) =
        raw_exchange(&addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", Duration::from_secs(20)).await;
    assert!(closed, "a client that never finished its head was not dropped");
    assert!(!answer.contains("200 OK"), "a partial head was answered: {answer}");
}

#[tokio::test]
async fn connection_cap_holds() {
    let gw = TestGateway::start(|raw| raw.limits.max_connections = 2).await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let first = TcpStream::connect(&addr).await.unwrap();
    let _second = TcpStream::connect(&addr).await.unwrap();
    // Both slots are held by idle connections: a third client waits in the accept queue.
    let url = format!("{}/healthz", gw.url);
    let third = tokio::spawn(async move { support::send(Method::GET, &url, &[]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "a third connection was served while two held the cap");
    drop(first);
    assert_eq!(third.await.unwrap().status, 200);
}

#[tokio::test]
async fn a_thousand_idle_and_half_sent_connections_do_not_block_a_normal_client() {
    let gw = TestGateway::start(|_| {}).await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for i in 0..1000 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 0 {
            stream.write_all(b"GET /api/blog/samples.json HTTP/1.1\r\nHost: slow\r\nX-Half: ").await.unwrap();
        }
        held.push(stream);
    }
    let answer = gw.get("/api/blog/samples.json").await;
    assert_eq!(answer.status, 200);
    assert_eq!(held.len(), 1000);
}

#[tokio::test]
async fn a_get_body_is_not_read() {
    let gw = TestGateway::start(|_| {}).await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    // Announces a gigabyte, sends a few bytes: the answer must not wait for the rest.
    let request = b"GET /api/blog/samples.json HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\nabc";
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut head = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut head))
        .await
        .expect("answered")
        .unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
}

/// The real gateway behind a test-only path that panics.
struct Panicky(Arc<Gateway>);

impl Handler for Panicky {
    async fn call(&self, request: Request<hyper::body::Incoming>, peer: SocketAddr) -> Response<Body> {
        if request.uri().path() == "/panic" {
            panic!("injected by the test");
        }
        self.0.call(request, peer).await
    }

    fn on_panic(&self, message: &str) -> Response<Body> {
        self.0.on_panic(message)
    }
}

#[tokio::test]
async fn a_panic_is_a_500_for_that_request_only() {
    let fake = support::FakeAppSignal::start().await;
    let raw = support::raw_config(&fake.url);
    let gateway = Arc::new(Gateway::new(Arc::new(config::validate(&raw).unwrap())).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let limits = ConnLimits {
        max_connections: 16.try_into().unwrap(),
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_head: 64 * 1024,
        grace: Duration::from_secs(1),
    };
    tokio::spawn(server::serve(
        listener,
        Arc::new(Panicky(gateway.clone())),
        limits,
        None,
        std::future::pending(),
    ));
    let panicked = support::send(Method::GET, &format!("{base}/panic"), &[]).await;
    assert_eq!(panicked.status, 500);
    assert_eq!(panicked.code(), "internal_error");
    assert!(!panicked.text().contains("injected"), "panic details reached the client");
    let next = support::send(Method::GET, &format!("{base}/api/blog/samples.json"), &[]).await;
    assert_eq!(next.status, 200);
    let (entries, bytes) = gateway.cache().usage();
    let metrics = gateway.metrics().encode(entries, bytes);
    assert!(metrics.contains("appsignal_gateway_panics_total 1"), "{metrics}");
}
