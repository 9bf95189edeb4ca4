//! Failing upstreams: each fault maps to its status, and nothing of AppSignal's answer
//! (least of all the token) is relayed.

use crate::support;

use std::time::{Duration, Instant};

use support::{Reply, TestGateway};

async fn answer_to(
    reply: Reply,
    tweak: impl FnOnce(&mut appsignal_gateway::config::RawConfig),
) -> support::Answer {
    let gw = TestGateway::start(tweak).await;
    gw.fake.always(reply);
    let answer = gw.get("/api/blog/samples.json?limit=3").await;
    answer.assert_no_token();
    answer
}

fn assert_error(answer: &support::Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text());
    assert_eq!(answer.code(), code);
    assert_eq!(answer.json()["error"]["status"], status);
}

#[tokio::test]
async fn slow_upstream_is_504_within_the_timeout() {
    let started = Instant::now();
    let answer = answer_to(Reply::Hang, |raw| raw.upstream.timeout = "300ms".into()).await;
    assert_error(&answer, 504, "upstream_timeout");
    // Generous: the bound is 300 ms; a loaded machine may add a lot, but not a hang.
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn body_that_never_finishes_is_504() {
    let answer = answer_to(Reply::Delay(Duration::from_secs(5), Box::new(Reply::Echo)), |raw| {
        raw.upstream.timeout = "200ms".into()
    })
    .await;
    assert_error(&answer, 504, "upstream_timeout");
}

#[tokio::test]
async fn reset_connection_is_502() {
    assert_error(&answer_to(Reply::Reset, |_| {}).await, 502, "upstream_unreachable");
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let answer =
        answer_to(Reply::Echo, |raw| raw.upstream.base_url = format!("http://127.0.0.1:{port}")).await;
    assert_error(&answer, 502, "upstream_unreachable");
}

#[tokio::test]
async fn non_json_200_is_502() {
    assert_error(&answer_to(Reply::NotJson, |_| {}).await, 502, "upstream_invalid_response");
}

#[tokio::test]
async fn oversized_bodies_are_502_with_or_without_length() {
    let small =
        |raw: &mut appsignal_gateway::config::RawConfig| raw.upstream.max_response_size = "16KiB".into();
    assert_error(&answer_to(Reply::Huge(64 * 1024), small).await, 502, "upstream_response_too_large");
    assert_error(&answer_to(Reply::HugeChunked(64 * 1024), small).await, 502, "upstream_response_too_large");
}

#[tokio::test]
async fn refused_token_is_502() {
    assert_error(
        &answer_to(Reply::Json(401, r#"{"error":"unauthorized"}"#), |_| {}).await,
        502,
        "upstream_unauthorized",
    );
    assert_error(
        &answer_to(Reply::Json(403, r#"{"error":"forbidden"}"#), |_| {}).await,
        502,
        "upstream_unauthorized",
    );
}

#[tokio::test]
async fn server_errors_are_502() {
    assert_error(&answer_to(Reply::Json(500, r#"{"error":"boom"}"#), |_| {}).await, 502, "upstream_error");
    assert_error(&answer_to(Reply::Json(503, r#"{"error":"down"}"#), |_| {}).await, 502, "upstream_error");
}

#[tokio::test]
async fn throttled_upstream_is_503_with_retry_after() {
    let answer = answer_to(Reply::Throttle("7"), |_| {}).await;
    assert_error(&answer, 503, "upstream_rate_limited");
    assert_eq!(answer.header("retry-after"), Some("7"));
}

#[tokio::test]
async fn upstream_404_is_404() {
    assert_error(&answer_to(Reply::Json(404, r#"{"error":"not found"}"#), |_| {}).await, 404, "not_found");
}

#[tokio::test]
async fn echoed_token_never_reaches_the_client() {
    for status in [400, 401, 404, 422, 500] {
        let answer = answer_to(Reply::EchoUrl(status), |_| {}).await;
        assert!(answer.status.is_client_error() || answer.status.is_server_error());
        assert!(!answer.text().contains("bad request to"), "upstream body relayed: {}", answer.text());
    }
}
