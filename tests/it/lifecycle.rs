//! Starting and draining in-process.

use crate::support;

use std::time::Duration;

use http::Method;
use support::{Reply, TestGateway};

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_ones() {
    let mut gw = TestGateway::start(|_| {}).await;
    gw.fake.always(Reply::Delay(Duration::from_millis(300), Box::new(Reply::Echo)));
    let url = format!("{}/api/blog/samples.json", gw.url);
    let in_flight = tokio::spawn(async move { support::send(Method::GET, &url, &[]).await });
    gw.fake.wait_for(1).await;
    gw.shutdown().await;
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let refused = tokio::net::TcpStream::connect(gw.url.trim_start_matches("http://")).await;
    assert!(refused.is_err(), "the listener still accepts after shutdown");
}

#[tokio::test]
async fn drain_is_bounded_by_the_grace_period() {
    let mut gw = TestGateway::start_with_grace(|_| {}, Duration::from_millis(200)).await;
    gw.fake.always(Reply::Hang);
    let url = format!("{}/api/blog/samples.json", gw.url);
    let _stuck = tokio::spawn(async move { support::send(Method::GET, &url, &[]).await });
    gw.fake.wait_for(1).await;
    // The upstream never answers and its timeout is 5 s; the 200 ms grace ends the wait.
    tokio::time::timeout(Duration::from_secs(4), gw.shutdown())
        .await
        .expect("shutdown waited past its grace period");
}
