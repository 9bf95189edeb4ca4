//! Connection deadlines, from a raw keep-alive client: a head must arrive within
//! `header_read_timeout` of its first byte, an idle connection closes after
//! `idle_timeout`, and neither cuts a request that is being answered.

use crate::support;

use std::time::{Duration, Instant};

use support::{Reply, TestGateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const REQUEST: &[u8] = b"GET /api/blog/samples.json HTTP/1.1\r\nHost: localhost\r\n\r\n";
/// Generous: a loaded machine may close late, never early.
const PATIENCE: Duration = Duration::from_secs(20);

async fn connect(gw: &TestGateway) -> TcpStream {
    TcpStream::connect(gw.url.trim_start_matches("http://")).await.unwrap()
}

/// Sends one request on `stream` and reads its whole response; returns the status line.
async fn exchange(stream: &mut TcpStream) -> String {
    stream.write_all(REQUEST).await.unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk)).await.expect("answered").unwrap();
        assert!(n > 0, "closed before the response was whole");
        seen.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&seen);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if body.len() >= length {
                return head.lines().next().unwrap_or_default().to_owned();
            }
        }
    }
}

/// Waits for the server to close `stream`; returns how long that took, or `None`.
async fn closed_after(stream: &mut TcpStream) -> Option<Duration> {
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await;
    read.ok().map(|_| started.elapsed())
}

#[tokio::test]
async fn an_idle_keep_alive_connection_closes_after_the_idle_timeout() {
    let gw = TestGateway::start(|raw| {
        raw.limits.idle_timeout = "300ms".into();
        raw.limits.header_read_timeout = "60s".into();
    })
    .await;
    let mut stream = connect(&gw).await;
    assert_eq!(exchange(&mut stream).await, "HTTP/1.1 200 OK");
    let took = closed_after(&mut stream).await.expect("an idle connection was kept open");
    assert!(took >= Duration::from_millis(300), "closed after {took:?}, before the idle timeout");
}

#[tokio::test]
async fn idle_time_does_not_count_against_the_header_read_timeout() {
    let gw = TestGateway::start(|raw| {
        raw.limits.idle_timeout = "60s".into();
        raw.limits.header_read_timeout = "200ms".into();
    })
    .await;
    let mut stream = connect(&gw).await;
    assert_eq!(exchange(&mut stream).await, "HTTP/1.1 200 OK");
    // Idle for five header timeouts: still well inside the idle timeout.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(exchange(&mut stream).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn a_head_trickled_after_idling_is_cut_at_the_header_read_timeout() {
    let gw = TestGateway::start(|raw| {
        raw.limits.idle_timeout = "60s".into();
        raw.limits.header_read_timeout = "300ms".into();
    })
    .await;
    let mut stream = connect(&gw).await;
    assert_eq!(exchange(&mut stream).await, "HTTP/1.1 200 OK");
    stream.write_all(b"GET /api/blog/samples.json HTTP/1.1\r\nX-Slow: ").await.unwrap();
    let took = closed_after(&mut stream).await.expect("a half-sent head was kept open");
    assert!(took >= Duration::from_millis(300), "closed after {took:?}, before the header timeout");
}

#[tokio::test]
async fn a_slow_answer_is_not_cut_by_the_connection_deadlines() {
    let gw = TestGateway::start(|raw| {
        raw.limits.idle_timeout = "200ms".into();
        raw.limits.header_read_timeout = "200ms".into();
    })
    .await;
    gw.fake.always(Reply::Delay(Duration::from_millis(1200), Box::new(Reply::Echo)));
    let mut stream = connect(&gw).await;
    assert_eq!(exchange(&mut stream).await, "HTTP/1.1 200 OK");
}
