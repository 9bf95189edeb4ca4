//! Test support: the fake AppSignal, a gateway started on 127.0.0.1:0 in front of it,
//! and a small HTTP client.

pub mod binary;
pub mod browser;
pub mod redis;
pub mod tls;

pub use fake_appsignal as fake;

use std::time::Duration;

use appsignal_gateway::config::{self, RawApp, RawConfig, Token};
use appsignal_gateway::lifecycle::{self, Running};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub use fake::{FakeAppSignal, Reply};

/// The AppSignal token every test gateway holds; no response or log may contain it.
pub const TOKEN: &str = "tok-SECRET-4f9a2b77";
/// The allowlisted app's id, and its alias.
pub const APP_ID: &str = "5114f7e38c5ce90000000011";
/// The alias of [`APP_ID`].
pub const APP_NAME: &str = "blog";

/// The configuration a test gateway starts from, pointing at `upstream`.
pub fn raw_config(upstream: &str) -> RawConfig {
    let mut raw = RawConfig {
        listen: "127.0.0.1:0".into(),
        admin_listen: "127.0.0.1:0".into(),
        ..RawConfig::default()
    };
    raw.upstream.base_url = upstream.to_owned();
    raw.upstream.token = Some(Token::new(TOKEN));
    raw.upstream.timeout = "5s".into();
    // Limits generous enough not to interfere; the limit tests set their own.
    raw.upstream.rate_limit =
        config::RawUpstreamRate { per_second: 10_000, burst: 10_000, client_share: 1.0 };
    raw.clients.rate_limit = config::RawRate { per_second: 10_000, burst: 10_000 };
    raw.apps = vec![
        RawApp { id: APP_ID.into(), name: Some(APP_NAME.into()) },
        RawApp { id: "other0000000000000000022".into(), name: None },
    ];
    raw
}

/// Turns caching off (every TTL zero), for tests that watch each upstream request.
pub fn no_cache(raw: &mut RawConfig) {
    let ttl = &mut raw.cache.ttl;
    for value in [
        &mut ttl.list,
        &mut ttl.show,
        &mut ttl.not_found,
        &mut ttl.graphs,
        &mut ttl.markers,
        &mut ttl.metrics,
        &mut ttl.logs,
        &mut ttl.traces,
        &mut ttl.deploys,
        &mut ttl.graphql,
    ] {
        *value = "0s".into();
    }
}

/// A running gateway in front of a fake AppSignal.
pub struct TestGateway {
    /// `http://127.0.0.1:{port}` of the public listener.
    pub url: String,
    /// `http://127.0.0.1:{port}` of the admin listener.
    pub admin_url: String,
    /// The fake behind it.
    pub fake: FakeAppSignal,
    running: Option<Running>,
}

impl TestGateway {
    /// Starts a fake and a gateway with the default test configuration, changed by `tweak`.
    pub async fn start(tweak: impl FnOnce(&mut RawConfig)) -> Self {
        Self::start_with_grace(tweak, lifecycle::SHUTDOWN_GRACE).await
    }

    /// As [`TestGateway::start`], with a chosen shutdown grace period.
    pub async fn start_with_grace(tweak: impl FnOnce(&mut RawConfig), grace: Duration) -> Self {
        Self::start_before(FakeAppSignal::start().await, tweak, grace).await
    }

    /// A gateway in front of `fake`, which other gateways (replicas) may share, with the
    /// default test configuration changed by `tweak`.
    pub async fn start_before(
        fake: FakeAppSignal,
        tweak: impl FnOnce(&mut RawConfig),
        grace: Duration,
    ) -> Self {
        let mut raw = raw_config(&fake.url);
        tweak(&mut raw);
        let settings = config::validate(&raw).expect("test configuration is valid");
        let options = lifecycle::StartOptions { grace: Some(grace), ..Default::default() };
        let running = lifecycle::start(settings, options).await.expect("gateway starts");
        TestGateway {
            url: format!("http://{}", running.listen),
            admin_url: format!("http://{}", running.admin),
            fake,
            running: Some(running),
        }
    }

    /// GETs `path_and_query` on the public listener.
    pub async fn get(&self, path_and_query: &str) -> Answer {
        send(Method::GET, &format!("{}{path_and_query}", self.url), &[]).await
    }

    /// Sends any request to the public listener.
    pub async fn send(&self, method: Method, path_and_query: &str, headers: &[(&str, &str)]) -> Answer {
        send(method, &format!("{}{path_and_query}", self.url), headers).await
    }

    /// POSTs `body` as `application/json` to `path` on the public listener.
    pub async fn post(&self, path: &str, body: &str) -> Answer {
        self.post_with(path, body, &[("content-type", "application/json")]).await
    }

    /// POSTs `body` to `path` with exactly these headers.
    pub async fn post_with(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
        send_body(Method::POST, &format!("{}{path}", self.url), headers, Bytes::from(body.to_owned())).await
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        send(Method::GET, &format!("{}/metrics", self.admin_url), &[]).await.text()
    }

    /// The value of the first series in `/metrics` whose line starts with `line_start`
    /// (0 when there is none).
    pub async fn metric(&self, line_start: &str) -> f64 {
        let text = self.metrics().await;
        let line = text.lines().find(|l| l.starts_with(line_start));
        line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
    }

    /// `POST /cache/purge{query}` on the admin listener.
    pub async fn purge(&self, query: &str) -> Answer {
        send(Method::POST, &format!("{}/cache/purge{query}", self.admin_url), &[]).await
    }

    /// Stops the gateway, draining in-flight requests.
    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

/// A whole response.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The error code of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the token appears nowhere in the answer.
    pub fn assert_no_token(&self) {
        assert!(!self.text().contains(TOKEN), "token in body: {}", self.text());
        for (name, value) in &self.headers {
            assert!(
                !value.as_bytes().windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                "token in header {name}"
            );
        }
    }
}

/// Sends one request, with a generous bound so a hang fails the test instead of stalling it.
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)]) -> Answer {
    send_request(method, url, headers, Empty::<Bytes>::new()).await
}

/// Sends one request with a whole body.
pub async fn send_body(method: Method, url: &str, headers: &[(&str, &str)], body: Bytes) -> Answer {
    send_request(method, url, headers, http_body_util::Full::new(body)).await
}

/// Sends one request with any body (a stream, for chunked uploads).
pub async fn send_request<B>(method: Method, url: &str, headers: &[(&str, &str)], body: B) -> Answer
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let client: Client<HttpConnector, B> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body).unwrap();
    let exchange = async {
        let response = client.request(request).await.expect("request sent");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body read").to_bytes();
        Answer { status: parts.status, headers: parts.headers, body }
    };
    tokio::time::timeout(Duration::from_secs(30), exchange).await.expect("the gateway answered within 30 s")
}
