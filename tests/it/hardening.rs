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
    let huge =
        format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Huge: {}\r\n\r\n", "y".repeat(256 * 1024));
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
        raw_exchange(&addr, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", Duration::from_secs(20))
            .await;
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
            stream
                .write_all(b"GET /api/blog/samples.json HTTP/1.1\r\nHost: localhost\r\nX-Half: ")
                .await
                .unwrap();
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
    let request =
        b"GET /api/blog/samples.json HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000\r\n\r\nabc";
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

/// Sends one raw request and returns the status line of the answer (empty when the
/// connection closed without one).
async fn raw_status(addr: &str, request: &str) -> String {
    let (answer, _) = raw_exchange(addr, request.as_bytes(), Duration::from_secs(5)).await;
    answer.lines().next().unwrap_or_default().to_owned()
}

/// The attack classes that were refused stay refused: path escapes (a dozen and more
/// spellings of `..`, `.`, `//` and encoded slashes outside a show id) and request
/// smuggling (`Content-Length` with `Transfer-Encoding`, two `Content-Length`s,
/// obs-fold), each over a raw connection; none reaches AppSignal.
#[tokio::test]
async fn path_escapes_and_smuggling_stay_refused() {
    let gw = TestGateway::start(|_| {}).await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let escapes = [
        "/api/blog/../x",
        "/api/blog/../blog/samples.json",
        "/api/blog/samples/../../x",
        "/api/%2e%2e/blog/samples.json",
        "/api/blog/%2e%2e/samples.json",
        "/api/blog/%2E%2E/samples.json",
        "/api/blog/.%2e/samples.json",
        "/api/blog/./samples.json",
        "/api/blog/%2e/samples.json",
        "/api/blog//samples.json",
        "//api/blog/samples.json",
        "/api//blog/samples.json",
        "/api/blog%2Fsamples.json",
        "/api/blog%2fsamples.json",
        "/api/blog/samples%2Ferrors.json",
        "/api/blog/samples%2Fabc.json",
        "/api%2Fblog%2Fsamples.json",
        "/api/blog/samples.json/",
        "/api/blog/samples.json/..",
        "/api/blog/samples.json%00",
        "/api/blog/samples.json;x=1",
        "/api/blog/samples/a/b.json",
        "/api/blog/samples/a%5Cb.json",
        "/api/blog/%252e%252e/samples.json",
    ];
    for path in escapes {
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let status = raw_status(&addr, &request).await;
        assert!(
            status.starts_with("HTTP/1.1 404") || status.starts_with("HTTP/1.1 400"),
            "{path}: {status:?}"
        );
    }
    let smuggled = "GET /api/blog/markers.json?kind=smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let smuggling = [
        format!(
            "GET /api/blog/samples.json HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
            5
        ),
        format!(
            "GET /api/blog/samples.json HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        format!(
            "GET /api/blog/samples.json HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{smuggled}",
            smuggled.len()
        ),
        format!(
            "GET /api/blog/samples.json HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0, {}\r\n\r\n{smuggled}",
            smuggled.len()
        ),
        format!(
            "GET /api/blog/samples.json HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n Transfer-Encoding: chunked\r\n\r\n{smuggled}"
        ),
        format!(
            "GET /api/blog/samples.json HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        format!("GET /api/blog/samples.json HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{smuggled}"),
    ];
    for (i, request) in smuggling.iter().enumerate() {
        let (answer, closed) = raw_exchange(&addr, request.as_bytes(), Duration::from_secs(20)).await;
        let statuses: Vec<&str> = answer.lines().filter(|l| l.starts_with("HTTP/1.1 ")).collect();
        assert!(closed, "{request:?}: the connection stayed open for what follows");
        match i {
            // Both framings: Transfer-Encoding wins and the connection is closed after the
            // one answer (RFC 9112 §6.1), so what follows is never read as a request.
            0 | 1 => assert_eq!(statuses.len(), 1, "{request:?}: {statuses:?}"),
            _ => assert_eq!(statuses, ["HTTP/1.1 400 Bad Request"], "{request:?}"),
        }
    }
    let reached: Vec<String> = gw.fake.received().iter().map(|r| format!("{}?{}", r.path, r.query)).collect();
    assert!(
        reached.iter().all(|p| !p.contains("smuggled")),
        "a smuggled request reached AppSignal: {reached:?}"
    );
    assert!(
        reached.iter().all(|p| p.starts_with(&format!("/api/{}/samples.json?", support::APP_ID))),
        "{reached:?}"
    );
}

/// Issue 26, finding 3: both ports answer only the `Host` names they are meant to be
/// reached by (421 before any work), and the admin port's actions refuse what a page on
/// another site could send without a preflight (403, nothing done).
#[tokio::test]
async fn both_ports_answer_only_their_hosts() {
    let gw = TestGateway::start(|_| {}).await;
    let samples = format!("{}/api/blog/samples.json", gw.url);
    let metrics = format!("{}/metrics", gw.admin_url);
    let purge = format!("{}/cache/purge", gw.admin_url);
    for host in ["attacker.example", "attacker.example:8080", "127.0.0.1.attacker.example"] {
        for (method, url) in [
            (Method::GET, &samples),
            (Method::GET, &format!("{}/openapi.json", gw.url)),
            (Method::GET, &metrics),
            (Method::POST, &purge),
        ] {
            let answer = support::send(method.clone(), url, &[("host", host)]).await;
            assert_eq!(answer.status, 421, "{method} {url} with Host {host}");
            assert_eq!(answer.code(), "misdirected_request");
            assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        }
    }
    assert_eq!(gw.fake.count(), 0, "a refused Host did some work");
    let port = gw.url.rsplit(':').next().unwrap().to_owned();
    for host in [
        "localhost".to_owned(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        assert_eq!(support::send(Method::GET, &samples, &[("host", &host)]).await.status, 200, "{host}");
    }
    // Probes name whatever address they dial.
    assert_eq!(
        support::send(Method::GET, &format!("{}/healthz", gw.url), &[("host", "10.1.2.3")]).await.status,
        200
    );

    let listed = TestGateway::start(|raw| raw.allowed_hosts = vec!["gateway.example.com".into()]).await;
    let samples = format!("{}/api/blog/samples.json", listed.url);
    let answer = support::send(Method::GET, &samples, &[("host", "Gateway.Example.com:443")]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(support::send(Method::GET, &samples, &[("host", "attacker.example")]).await.status, 421);
}

#[tokio::test]
async fn admin_actions_refuse_cross_site_requests() {
    let gw = TestGateway::start(|_| {}).await;
    assert_eq!(gw.get("/api/blog/samples.json").await.status, 200);
    let purge = format!("{}/cache/purge", gw.admin_url);
    let reload = format!("{}/config/reload", gw.admin_url);
    let page_sends: [&[(&str, &str)]; 7] = [
        &[("origin", "https://evil.example")],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site")],
        &[("content-type", "text/plain;charset=UTF-8")],
        &[("content-type", "application/x-www-form-urlencoded")],
        &[("content-type", "multipart/form-data; boundary=x")],
    ];
    for headers in page_sends {
        for url in [&purge, &reload] {
            let answer = support::send(Method::POST, url, headers).await;
            assert_eq!(answer.status, 403, "{url} with {headers:?}");
            assert_eq!(answer.code(), "forbidden_cross_site");
        }
    }
    let again = gw.get("/api/blog/samples.json").await;
    assert!(again.header("cache-status").unwrap().contains("hit"), "a refused purge emptied the cache");
    assert_eq!(gw.fake.count(), 1);
    for headers in [&[][..], &[("sec-fetch-site", "none")][..], &[("content-type", "application/json")][..]] {
        assert_eq!(support::send(Method::POST, &purge, headers).await.status, 200, "{headers:?}");
    }
}
