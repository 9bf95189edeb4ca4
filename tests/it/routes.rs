//! Graphs and markers beside samples: their rules, and every route's TTL class.

use crate::support;

use std::time::Duration;

use http::Method;
use support::TestGateway;

#[tokio::test]
async fn graphs_and_markers_rule_violations_are_400_naming_the_parameter() {
    let gw = TestGateway::start(|_| {}).await;
    for (path, name) in [
        ("/api/blog/graphs.json?timeframe=day", "kind"),
        ("/api/blog/graphs.json?kind=web&action_name=Posts%23show", "action_name"),
        ("/api/blog/graphs.json?kind=web&timeframe=day&from=1700000000", "timeframe"),
        ("/api/blog/graphs.json?kind=web&from=2023-11-15T00:00:00Z&to=1700000000", "from"),
        ("/api/blog/graphs.json?kind=web&from=1700000000&to=1700000000", "from"),
        ("/api/blog/graphs.json?kind=web&timeframe=week", "timeframe"),
        ("/api/blog/graphs.json?kind=web&fields[]=median", "fields[]"),
        ("/api/blog/graphs.json?kind=web&fields=mean", "fields"),
        ("/api/blog/graphs.json?kind=web&from=yesterday", "from"),
        ("/api/blog/graphs.json?kind=web&kind=background", "kind"),
        ("/api/blog/graphs.json?kind=&timeframe=day", "kind"),
        ("/api/blog/graphs.json?action_name=Posts%23show%3A%7C%3A", "action_name"),
        ("/api/blog/graphs.json?kind=web&limit=5", "limit"),
        ("/api/blog/markers.json?kind=release", "kind"),
        ("/api/blog/markers.json?limit=0", "limit"),
        ("/api/blog/markers.json?count_only=1", "count_only"),
        ("/api/blog/markers.json?from=1700000100&to=1700000000", "from"),
        ("/api/blog/markers.json?timeframe=day", "timeframe"),
        ("/api/blog/markers.json?action_id=x", "action_id"),
    ] {
        let answer = gw.get(path).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.text());
        let message = answer.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(&format!("`{name}`")), "{path}: {message}");
    }
    assert_eq!(gw.fake.count(), 0, "an invalid request reached AppSignal");
}

#[tokio::test]
async fn markers_are_read_only() {
    let gw = TestGateway::start(|_| {}).await;
    let answer = gw.send(Method::POST, "/api/blog/markers.json?kind=deploy", &[]).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(gw.fake.count(), 0);
}

#[tokio::test]
async fn each_route_keeps_its_ttl_class() {
    let gw = TestGateway::start(|raw| {
        raw.cache.ttl.list = "30s".into();
        raw.cache.ttl.show = "300ms".into();
        raw.cache.ttl.graphs = "300ms".into();
        raw.cache.ttl.markers = "30s".into();
        raw.cache.stale_while_revalidate = "0s".into();
        raw.cache.stale_if_error = "0s".into();
    })
    .await;
    let paths = [
        ("/api/blog/samples.json", false),
        ("/api/blog/samples/abc.json", true),
        ("/api/blog/graphs.json?kind=web", true),
        ("/api/blog/markers.json", false),
    ];
    for (path, _) in paths {
        assert_eq!(gw.get(path).await.status, 200);
    }
    let graphs = gw.get("/api/blog/graphs.json?kind=web").await;
    assert_eq!(graphs.header("cache-control"), Some("private, max-age=0"), "graphs.json uses ttl.graphs");
    let markers = gw.get("/api/blog/markers.json").await;
    let max_age: u64 =
        markers.header("cache-control").unwrap().trim_start_matches("private, max-age=").parse().unwrap();
    assert!(max_age > 20, "markers.json uses ttl.markers, not ttl.graphs: max-age={max_age}");
    tokio::time::sleep(Duration::from_millis(450)).await;
    for (path, expired) in paths {
        let answer = gw.get(path).await;
        let status = answer.header("cache-status").unwrap();
        assert_eq!(status.contains("fwd=miss"), expired, "{path}: {status}");
    }
    assert_eq!(gw.fake.count(), 6);
}
