//! The gateway as a `tower::Service` inside another service's axum router: prefix
//! stripped by `nest_service`, the host's layer around it, the gateway's rules intact.

use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;

use appsignal_gateway::config;
use appsignal_gateway::gateway::Gateway;
use appsignal_gateway::service::{GatewayService, PeerAddr};
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use http_body_util::BodyExt;
use support::{FakeAppSignal, APP_ID, TOKEN};
use tower::ServiceExt;

async fn host_layer(mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(PeerAddr(SocketAddr::from(([192, 0, 2, 7], 4000))));
    let mut response = next.run(request).await;
    response.headers_mut().insert("x-served-by", "host-service".parse().unwrap());
    response
}

async fn get(router: &Router, uri: &str) -> (http::StatusCode, http::HeaderMap, String) {
    let request = http::Request::get(uri).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let text = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (parts.status, parts.headers, text)
}

#[tokio::test]
async fn nested_under_a_prefix_with_the_hosts_layer() {
    let fake = FakeAppSignal::start().await;
    let settings = config::validate(&support::raw_config(&fake.url)).unwrap();
    let gateway = Arc::new(Gateway::new(Arc::new(settings)).unwrap());
    let router = Router::new()
        .nest_service("/appsignal", GatewayService(gateway.clone()))
        .layer(middleware::from_fn(host_layer));

    let (status, headers, body) = get(&router, "/appsignal/api/blog/samples.json?limit=2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-served-by"], "host-service");
    assert!(headers["cache-status"].to_str().unwrap().contains("stored"));
    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].path.starts_with(&format!("/api/{APP_ID}/samples.json")), "{:?}", received[0].path);
    assert!(!body.contains(TOKEN));

    let (status, _, _) = get(&router, "/appsignal/api/blog/samples.json?limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(fake.count(), 1, "the second answer is a cache hit");
    let (status, _, body) = get(&router, "/appsignal/api/blog/samples.json?limit=0").await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = get(&router, "/appsignal/openapi.json").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"openapi\":\"3.1.0\""));
    assert_eq!(get(&router, "/elsewhere").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_serve_puts_any_tower_service_on_a_listener_with_the_peer_address() {
    use appsignal_gateway::server::{self, ConnLimits};
    use appsignal_gateway::service::Tower;
    use tower::service_fn;

    // A tower service of the host's: it answers with the peer address it was given.
    let echo_peer = service_fn(|request: http::Request<hyper::body::Incoming>| async move {
        let peer = request.extensions().get::<PeerAddr>().map(|p| p.0.ip().to_string()).unwrap_or_default();
        let body = bytes::Bytes::from(peer);
        let plain = http::HeaderValue::from_static("text/plain");
        Ok::<_, std::convert::Infallible>(appsignal_gateway::response::with_body(
            http::StatusCode::OK,
            plain,
            body,
        ))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ConnLimits {
        max_connections: std::num::NonZeroUsize::new(8).unwrap(),
        header_read_timeout: std::time::Duration::from_secs(10),
        idle_timeout: std::time::Duration::from_secs(10),
        max_head: 16 * 1024,
        grace: std::time::Duration::ZERO,
    };
    tokio::spawn(server::serve(listener, Arc::new(Tower(echo_peer)), limits, None, std::future::pending()));
    let answer = support::send(http::Method::GET, &format!("http://{addr}/anything"), &[]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text(), "127.0.0.1");

    // The gateway itself, as a tower service on a listener of the host's.
    let fake = FakeAppSignal::start().await;
    let settings = config::validate(&support::raw_config(&fake.url)).unwrap();
    let gateway = Arc::new(Gateway::new(Arc::new(settings)).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = Tower(GatewayService(gateway));
    tokio::spawn(server::serve(listener, Arc::new(service), limits, None, std::future::pending()));
    let answer =
        support::send(http::Method::GET, &format!("http://{addr}/api/blog/samples.json?limit=4"), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(fake.count(), 1);
}
