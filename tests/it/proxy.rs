//! Forwarding: what reaches AppSignal, and what never does.

use crate::support;

use http::Method;
use support::{no_cache, Reply, TestGateway, APP_ID, TOKEN};

#[tokio::test]
async fn token_is_injected_last_and_client_token_dropped() {
    let gw = TestGateway::start(no_cache).await;
    let answer = gw.get("/api/blog/samples.json?token=client-token&limit=5").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type"), Some("application/json"));
    answer.assert_no_token();
    let received = gw.fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, "GET");
    assert_eq!(received[0].path, format!("/api/{APP_ID}/samples.json"));
    let pairs = received[0].pairs();
    assert_eq!(pairs, vec![("limit".into(), "5".into()), ("token".into(), TOKEN.into())]);
}

#[tokio::test]
async fn body_is_relayed_byte_for_byte() {
    let gw = TestGateway::start(no_cache).await;
    let body = r#"{"count": 1,  "log_entries": [{"id": "a\u2028b"}] }"#;
    gw.fake.always(support::Reply::Json(200, body));
    let answer = gw.get("/api/blog/samples/errors.json").await;
    assert_eq!(answer.text(), body);
    assert_eq!(answer.header("content-length"), Some(body.len().to_string().as_str()));
}

#[tokio::test]
async fn alias_and_id_reach_the_same_upstream_path() {
    let gw = TestGateway::start(no_cache).await;
    assert_eq!(gw.get("/api/blog/samples/performance.json").await.status, 200);
    assert_eq!(gw.get(&format!("/api/{APP_ID}/samples/performance.json")).await.status, 200);
    let received = gw.fake.received();
    assert_eq!(received[0].path, received[1].path);
    assert_eq!(received[0].path, format!("/api/{APP_ID}/samples/performance.json"));
}

#[tokio::test]
async fn parameters_are_normalised_before_forwarding() {
    let gw = TestGateway::start(|raw| {
        no_cache(raw);
        raw.cors.allowed_origins = vec!["https://dash.example.com".into()];
    })
    .await;
    let raw = "/api/blog/samples.json?since=2023-11-14T22:13:20Z&action_id=Api%2FV1%2EPosts%23show\
               &count_only=true&exception=ActionView%3A%3ATemplate%3A%3AError&before=1700003600&_=123&callback=cb";
    // A JSONP request from an allowed page (its Referer), as a <script> tag sends it.
    let script = gw.send(Method::GET, raw, &[("referer", "https://dash.example.com/board")]).await;
    assert_eq!(script.status, 200);
    assert!(!script.text().contains("\"error\""), "{}", script.text());
    let escaped = "/api/blog/samples.json?action_id=Api-slash-V1-dot-Posts-hash-show&before=1700003600\
                   &count_only=true&exception=ActionView::Template::Error&since=1700000000";
    assert_eq!(gw.get(escaped).await.status, 200);
    let received = gw.fake.received();
    assert_eq!(received[0].query, received[1].query, "raw and escaped forms differ upstream");
    let pairs = received[0].pairs();
    let expect =
        |k: &str, v: &str| assert!(pairs.contains(&(k.into(), v.into())), "{k}={v} missing in {pairs:?}");
    expect("action_id", "Api-slash-V1-dot-Posts-hash-show");
    expect("since", "1700000000");
    expect("before", "1700003600");
    expect("count_only", "true");
    expect("exception", "ActionView::Template::Error");
    assert!(!pairs.iter().any(|(k, _)| k == "_" || k == "callback"));
    assert_eq!(pairs.last().unwrap().0, "token");
}

#[tokio::test]
async fn raw_and_sanitized_sample_ids_are_one_upstream_path() {
    let gw = TestGateway::start(no_cache).await;
    let raw = "/api/blog/samples/51f29e7b183d700800150358_SlowController%23show_1476962400.json";
    let sanitized = "/api/blog/samples/51f29e7b183d700800150358_SlowController-hash-show_1476962400.json";
    assert_eq!(gw.get(raw).await.status, 200);
    assert_eq!(gw.get(sanitized).await.status, 200);
    let received = gw.fake.received();
    assert_eq!(received[0].path, received[1].path);
    assert_eq!(
        received[0].path,
        format!("/api/{APP_ID}/samples/51f29e7b183d700800150358_SlowController-hash-show_1476962400.json")
    );
}

#[tokio::test]
async fn no_client_header_reaches_appsignal() {
    let gw = TestGateway::start(|raw| {
        no_cache(raw);
        raw.cors.allowed_origins = vec!["https://dash.example.com".into()];
    })
    .await;
    let headers = [
        ("cookie", "session=abc"),
        ("authorization", "Bearer dashboard-key"),
        ("x-forwarded-for", "10.1.2.3"),
        ("x-custom", "1"),
        ("origin", "https://dash.example.com"),
        ("user-agent", "browser/1.0"),
    ];
    assert_eq!(gw.send(Method::GET, "/api/blog/samples.json", &headers).await.status, 200);
    let received = &gw.fake.received()[0];
    let names: Vec<&str> = received.headers.keys().map(|k| k.as_str()).collect();
    for (name, _) in headers.iter().filter(|(n, _)| *n != "user-agent") {
        assert!(!names.contains(name), "{name} forwarded: {names:?}");
    }
    assert_ne!(received.headers["user-agent"], "browser/1.0");
    let allowed = ["host", "accept", "user-agent"];
    assert!(names.iter().all(|n| allowed.contains(n)), "unexpected upstream headers {names:?}");
}

#[tokio::test]
async fn bad_parameters_are_400_naming_them_and_never_forwarded() {
    let gw = TestGateway::start(no_cache).await;
    for (query, name) in [
        ("bogus=1", "bogus"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=1&limit=2", "limit"),
        ("count_only=yes", "count_only"),
        ("since=yesterday", "since"),
        ("before=2023-13-45T00:00:00Z", "before"),
        ("action_id=", "action_id"),
        ("exception=%ff", "exception"),
    ] {
        let answer = gw.get(&format!("/api/blog/samples.json?{query}")).await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.text());
        assert_eq!(answer.code(), "invalid_parameter");
        let message = answer.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(&format!("`{name}`")), "{query}: {message}");
    }
    let answer = gw.get("/api/blog/samples.json?callback=alert(1)//").await;
    assert_eq!((answer.status.as_u16(), answer.code().as_str()), (400, "invalid_callback"));
    assert!(!answer.text().contains("alert"));
    assert_eq!(gw.fake.count(), 0);
}

#[tokio::test]
async fn unknown_paths_and_apps_are_404_and_never_forwarded() {
    let gw = TestGateway::start(no_cache).await;
    for path in [
        "/",
        "/api/unknown/samples.json",
        "/api/BLOG/samples.json",
        "/api/blog/samples",
        "/api/blog/Samples.json",
        "/api/blog/samples.json/",
        "/api//samples.json",
        "/api/blog//samples.json",
        "/api/blog/../blog/samples.json",
        "/api/blog/%2e%2e/samples.json",
        "/api/blog%2Fsamples.json",
        "/api/blog/samples%2Ferrors.json",
        "/api/blog/samples/a%00b.json",
        "/api/blog/samples/a/b.json",
        "/api/blog/incidents.json",
        "/metrics",
    ] {
        let answer = gw.get(path).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text());
        assert_eq!(answer.code(), "not_found");
    }
    assert_eq!(gw.fake.count(), 0);
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let gw = TestGateway::start(no_cache).await;
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let answer = gw.send(method.clone(), "/api/blog/markers.json", &[]).await;
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(answer.header("allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(answer.code(), "method_not_allowed");
    }
    assert_eq!(gw.fake.count(), 0);
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let gw = TestGateway::start(no_cache).await;
    gw.fake.always(support::Reply::Json(200, r#"{"count":0,"log_entries":[]}"#));
    let get = gw.get("/api/blog/samples.json").await;
    let head = gw.send(Method::HEAD, "/api/blog/samples.json", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), get.header("content-length"));
    assert_eq!(head.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn healthz_answers_ok_without_upstream() {
    let gw = TestGateway::start(no_cache).await;
    let answer = gw.get("/healthz").await;
    assert_eq!((answer.status.as_u16(), answer.text().as_str()), (200, "ok"));
    let admin = support::send(Method::GET, &format!("{}/readyz", gw.admin_url), &[]).await;
    assert_eq!(admin.status, 200);
    assert_eq!(gw.fake.count(), 0);
}

#[tokio::test]
async fn graphs_and_markers_are_forwarded_normalised() {
    let gw = TestGateway::start(no_cache).await;
    let answer = gw.get("/api/blog/graphs.json?fields[]=pct&action_name=Posts%23show&fields%5B%5D=mean&from=1700000000&to=2023-11-15T00:00:00Z").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = gw.get("/api/blog/markers.json?kind=deploy&limit=3").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let received = gw.fake.received();
    assert_eq!(received[0].path, format!("/api/{APP_ID}/graphs.json"));
    assert_eq!(
        received[0].pairs(),
        vec![
            ("action_name".into(), "Posts-hash-show".into()),
            ("fields[]".into(), "mean".into()),
            ("fields[]".into(), "pct".into()),
            ("from".into(), "2023-11-14T22:13:20Z".into()),
            ("to".into(), "2023-11-15T00:00:00Z".into()),
            ("token".into(), TOKEN.into()),
        ]
    );
    assert_eq!(received[1].path, format!("/api/{APP_ID}/markers.json"));
}

/// Issue 26, finding 2: a 200 that echoes the request URL is scrubbed of the token once,
/// when it is stored; the hit that follows serves the scrubbed entry and scrubs nothing.
#[tokio::test]
async fn a_success_body_echoing_the_token_is_scrubbed_once_when_stored() {
    let gw = TestGateway::start(|_| {}).await;
    gw.fake.always(Reply::EchoUrl(200));
    let miss = gw.get("/api/blog/samples.json?limit=3").await;
    assert_eq!(miss.status, 200);
    miss.assert_no_token();
    assert!(miss.text().contains("token=[redacted]"), "{}", miss.text());
    let hit = gw.send(Method::GET, "/api/blog/samples.json?limit=3", &[("accept-encoding", "gzip")]).await;
    assert!(hit.header("cache-status").unwrap().contains("hit"));
    let metrics = support::send(Method::GET, &format!("{}/metrics", gw.admin_url), &[]).await.text();
    let scrubs = metrics.lines().find(|l| l.starts_with("appsignal_gateway_token_scrubs_total "));
    assert_eq!(scrubs, Some("appsignal_gateway_token_scrubs_total 1"), "{metrics}");
    assert_eq!(gw.fake.count(), 1);
}
