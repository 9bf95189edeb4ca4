//! AppSignal's Public API V2 through the gateway: bodies read bounded and typed, scope in
//! the body, one canonical body per question, aligned windows, the token as Bearer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, Reply, TestGateway, APP_ID, TOKEN};

const TIMESERIES: &str = "/api/v2/metrics/timeseries";

fn timeseries(site: &str, from: &str, to: &str) -> String {
    format!(
        r#"{{"site_id":"{site}","from":{from},"to":{to},
            "select":[{{"name":"transaction_duration","tags":{{"namespace":"web"}},"field":"mean"}}]}}"#
    )
}

#[tokio::test]
async fn a_query_goes_up_as_a_bearer_post_of_the_canonical_body_and_is_cached() {
    let gateway = TestGateway::start(|_| {}).await;
    gateway.fake.on(TIMESERIES, Reply::Json(200, r#"[{"id":"s","data":[]}]"#));
    let first =
        gateway.post(TIMESERIES, &timeseries("blog", "\"2026-06-22T02:00:00+02:00\"", "1782093600")).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.text(), r#"[{"id":"s","data":[]}]"#, "a bare array, byte for byte");
    assert!(first.header("cache-status").unwrap().contains("stored"));
    first.assert_no_token();
    let received = &gateway.fake.received()[0];
    assert_eq!(
        (received.method.as_str(), received.path.as_str(), received.query.as_str()),
        ("POST", TIMESERIES, "")
    );
    assert_eq!(received.headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(received.headers["content-type"], "application/json");
    assert_eq!(received.headers["accept"], "application/json");
    assert!(!received.headers.contains_key("origin"));
    let canonical = format!(
        r#"{{"site_id":"{APP_ID}","from":"2026-06-22T00:00:00Z","to":"2026-06-22T02:00:00Z","select":[{{"name":"transaction_duration","tags":{{"namespace":"web"}},"field":"mean"}}]}}"#
    );
    assert_eq!(received.body, canonical.as_bytes(), "the gateway writes the body it sends");
    // Another spelling of the same question: keys reordered, whitespace, id for alias.
    let other = format!(
        r#"{{ "select": [ {{"field":"mean","tags":{{"namespace":"web"}},"name":"transaction_duration"}} ],
             "to": "2026-06-22T02:00:00Z", "from": 1782086400, "site_id": "{APP_ID}" }}"#
    );
    let second = gateway.post(TIMESERIES, &other).await;
    assert_eq!(second.status, 200);
    assert!(second.header("cache-status").unwrap().contains("hit"), "{:?}", second.header("cache-status"));
    assert!(second.header("etag").is_some());
    assert_eq!(gateway.fake.count(), 1);
}

#[tokio::test]
async fn apps_outside_the_scope_are_404_with_no_upstream_call() {
    let gateway = TestGateway::start(|_| {}).await;
    let foreign = gateway.post(TIMESERIES, &timeseries("not-listed", "1", "2")).await;
    assert_eq!((foreign.status.as_u16(), foreign.code().as_str()), (404, "not_found"));
    let one_foreign = r#"{"site_ids":["blog","not-listed"],"trace_id":"t"}"#;
    assert_eq!(gateway.post("/api/v2/tracing/trace", one_foreign).await.status, 404);
    assert_eq!(gateway.post("/api/v2/no/such/route", "{}").await.status, 404);
    assert_eq!(gateway.fake.count(), 0);
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field() {
    let gateway = TestGateway::start(|_| {}).await;
    let cases = [
        (
            r#"{"site_id":"blog","from":1,"to":2,"select":[{"name":"n","tags":{},"field":"mean","colour":"red"}]}"#,
            "select[0].colour",
        ),
        (
            r#"{"site_id":"blog","source_ids":["s"],"query":"","pagination":{"per_page":500,"order":"ASC"}}"#,
            "pagination.per_page",
        ),
        (r#"{"site_id":"blog","from":5,"to":2,"select":[{"name":"n","tags":{},"field":"mean"}]}"#, "from"),
    ];
    for (body, path) in cases {
        let route = if body.contains("source_ids") { "/api/v2/logs/lines" } else { TIMESERIES };
        let answer = gateway.post(route, body).await;
        assert_eq!((answer.status.as_u16(), answer.code().as_str()), (400, "invalid_parameter"), "{body}");
        assert!(
            answer.json()["error"]["message"].as_str().unwrap().contains(&format!("`{path}`")),
            "{}",
            answer.text()
        );
    }
    let malformed = gateway.post(TIMESERIES, "{\n\"site_id\": }").await;
    assert_eq!((malformed.status.as_u16(), malformed.code().as_str()), (400, "invalid_body"));
    assert!(malformed.text().contains("line 2 column"), "{}", malformed.text());
    let deep = format!("{{\"site_id\":{}{}}}", "[".repeat(20_000), "]".repeat(20_000));
    assert_eq!(gateway.post(TIMESERIES, &deep).await.status, 400);
    let wide = format!(r#"{{"site_ids":[{}"x"],"trace_id":"t"}}"#, "\"x\",".repeat(10_000));
    assert_eq!(gateway.post("/api/v2/tracing/trace", &wide).await.status, 400);
    let url = format!("{}{TIMESERIES}", gateway.url);
    let invalid_utf8 = Bytes::from_static(b"{\"site_id\":\"\xff\"}");
    let answer =
        support::send_body(Method::POST, &url, &[("content-type", "application/json")], invalid_utf8).await;
    assert_eq!((answer.status.as_u16(), answer.code().as_str()), (400, "invalid_body"));
    assert_eq!(gateway.fake.count(), 0);
}

#[tokio::test]
async fn the_method_the_media_type_and_jsonp_are_checked_before_the_body() {
    let gateway = TestGateway::start(|_| {}).await;
    let body = timeseries("blog", "1", "2");
    let plain = gateway.post_with(TIMESERIES, &body, &[("content-type", "text/plain")]).await;
    assert_eq!((plain.status.as_u16(), plain.code().as_str()), (415, "unsupported_media_type"));
    let form =
        gateway.post_with(TIMESERIES, &body, &[("content-type", "application/x-www-form-urlencoded")]).await;
    assert_eq!(form.status, 415);
    let get = gateway.get(TIMESERIES).await;
    assert_eq!((get.status.as_u16(), get.header("allow")), (405, Some("POST, OPTIONS")));
    let jsonp = gateway.post(&format!("{TIMESERIES}?callback=cb"), &body).await;
    assert_eq!(jsonp.status, 400);
    assert_eq!(gateway.fake.count(), 0);
}

#[tokio::test]
async fn a_query_route_allows_post_and_options_only() {
    let gateway =
        TestGateway::start(|raw| raw.cors.allowed_origins = vec!["https://dash.example".into()]).await;
    let options = gateway.send(Method::OPTIONS, TIMESERIES, &[]).await;
    assert_eq!((options.status.as_u16(), options.header("allow")), (204, Some("POST, OPTIONS")));
    let preflight = [("origin", "https://dash.example"), ("access-control-request-method", "POST")];
    let granted = gateway.send(Method::OPTIONS, "/api/v2/logs/lines", &preflight).await;
    assert_eq!((granted.status.as_u16(), granted.header("allow")), (204, Some("POST, OPTIONS")));
    assert_eq!(granted.header("access-control-allow-origin"), Some("https://dash.example"));
    for method in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
        let refused = gateway.send(method.clone(), TIMESERIES, &[]).await;
        assert_eq!(
            (refused.status.as_u16(), refused.header("allow")),
            (405, Some("POST, OPTIONS")),
            "{method}"
        );
    }
    // The GET routes, the V2 lookups among them, keep their own.
    for path in ["/api/blog/samples.json", "/api/v2/metrics/names/blog"] {
        let options = gateway.send(Method::OPTIONS, path, &[]).await;
        assert_eq!(options.header("allow"), Some("GET, HEAD, OPTIONS"), "{path}");
    }
    assert_eq!(gateway.fake.count(), 0);
}

#[tokio::test]
async fn an_unlisted_origin_is_refused_before_the_body() {
    let gateway =
        TestGateway::start(|raw| raw.cors.allowed_origins = vec!["https://dash.example".into()]).await;
    let body = timeseries("blog", "1", "2");
    let headers = [("content-type", "application/json"), ("origin", "https://evil.example")];
    assert_eq!(gateway.post_with(TIMESERIES, &body, &headers).await.status, 403);
    let preflight = gateway
        .send(
            Method::OPTIONS,
            TIMESERIES,
            &[("origin", "https://dash.example"), ("access-control-request-method", "POST")],
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-methods"), Some("GET, HEAD, POST"));
    assert_eq!(gateway.fake.count(), 0);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_declared_or_chunked() {
    let gateway = TestGateway::start(|raw| raw.limits.max_body_size = "1KiB".into()).await;
    let big = format!(r#"{{"site_ids":["blog"],"trace_id":"{}"}}"#, "x".repeat(2000));
    let declared = gateway.post("/api/v2/tracing/trace", &big).await;
    assert_eq!((declared.status.as_u16(), declared.code().as_str()), (413, "body_too_large"));
    let chunks: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> =
        (0..4).map(|_| Ok(http_body::Frame::data(Bytes::from(vec![b' '; 512])))).collect();
    let stream = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
    let url = format!("{}/api/v2/tracing/trace", gateway.url);
    let chunked =
        support::send_request(Method::POST, &url, &[("content-type", "application/json")], stream).await;
    assert_eq!(chunked.status, 413);
    assert_eq!(gateway.fake.count(), 0);
}

#[tokio::test]
async fn a_client_stalling_mid_body_gets_408_while_others_are_served() {
    let gateway = TestGateway::start(|raw| raw.limits.body_read_timeout = "300ms".into()).await;
    let addr = gateway.url.trim_start_matches("http://").to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {TIMESERIES} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"site_id\""
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    // Served meanwhile.
    let other = gateway.post(TIMESERIES, &timeseries("blog", "1", "2")).await;
    assert_eq!(other.status, 200);
    let mut answer = String::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stalled.read_to_string(&mut answer)).await;
    read.expect("the gateway answered and closed").unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    assert!(answer.contains("body_timeout"));
}

#[tokio::test]
async fn aligned_windows_share_one_entry_and_one_call() {
    let step = 30;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / step * step;
    let window = |to: u64| timeseries("blog", &(to - 3600).to_string(), &to.to_string());
    let gateway = TestGateway::start(|_| {}).await;
    assert_eq!(gateway.post(TIMESERIES, &window(now + 3)).await.status, 200);
    assert_eq!(gateway.post(TIMESERIES, &window(now + 17)).await.status, 200);
    assert_eq!(gateway.fake.count(), 1, "two 'now' windows within one step are one query");
    let sent = gateway.fake.received()[0].json();
    assert_eq!(sent["to"].as_str().unwrap().len(), 20);
    let unaligned = TestGateway::start(|raw| raw.cache.align_times = false).await;
    assert_eq!(unaligned.post(TIMESERIES, &window(now + 3)).await.status, 200);
    assert_eq!(unaligned.post(TIMESERIES, &window(now + 17)).await.status, 200);
    assert_eq!(unaligned.fake.count(), 2);
}

#[tokio::test]
async fn appsignals_422_is_relayed_scrubbed_and_cached() {
    let gateway = TestGateway::start(|_| {}).await;
    let envelope: &'static str = Box::leak(
        format!(
            r#"{{"error":"ungrouped_wildcard","message":"Wildcard for tag 'namespace' (token {TOKEN})"}}"#
        )
        .into_boxed_str(),
    );
    gateway.fake.on("/api/v2/metrics/list", Reply::Json(422, envelope));
    let body = r#"{"site_id":"blog","from":1,"to":2,"select":[{"name":"n","tags":{"namespace":"*"},"field":"MEAN"}]}"#;
    let answer = gateway.post("/api/v2/metrics/list", body).await;
    assert_eq!((answer.status.as_u16(), answer.code().as_str()), (422, "appsignal_rejected"));
    assert_eq!(answer.json()["error"]["appsignal_error"], "ungrouped_wildcard");
    assert!(answer.text().contains("Wildcard for tag"));
    answer.assert_no_token();
    assert_eq!(gateway.post("/api/v2/metrics/list", body).await.status, 422);
    assert_eq!(gateway.fake.count(), 1, "the same body gets the same verdict: cached");
}

#[tokio::test]
async fn every_query_route_reaches_its_upstream_path() {
    let gateway = TestGateway::start(support::no_cache).await;
    let traces = r#"{"site_ids":["blog"],"pagination":{"per_page":10,"order":"DESC","cursor":"Time"}}"#;
    let one = r#"{"site_ids":["blog"],"trace_id":"t"}"#;
    let cases = [
        ("metrics/timeseries", timeseries("blog", "1", "2")),
        ("metrics/list", r#"{"site_id":"blog","from":1,"to":2,"select":[{"id":"c","name":"n","tags":{"a":"b"},"field":"COUNT","aggregation":"SUM"}],"group_by":["Name",{"Tag":"action"}],"limit":10}"#.into()),
        ("logs/lines", r#"{"site_id":"blog","source_ids":["s"],"query":"severity=error","pagination":{"per_page":100,"order":"DESC","cursor":{"time":"2026-06-22T00:00:00.123+01:00"}}}"#.into()),
        ("tracing/traces/performance", traces.into()),
        ("tracing/traces/errors", r#"{"site_ids":["blog"],"digests":["d"]}"#.into()),
        ("tracing/trace", one.into()),
        ("tracing/trace/performance", r#"{"site_ids":["blog"],"trace_id":"t","namespace":"web","action_name":"A#b"}"#.into()),
        ("tracing/trace/error", r#"{"site_ids":["blog"],"trace_id":"t","digests":["d"]}"#.into()),
        ("tracing/locator", one.into()),
        ("tracing/actions", r#"{"site_id":"blog","from":1,"to":2,"namespaces":["web"]}"#.into()),
        ("deploys/stats", r#"{"site_id":"blog","revision":"abc123"}"#.into()),
    ];
    for (i, (path, body)) in cases.iter().enumerate() {
        let answer = gateway.post(&format!("/api/v2/{path}"), body).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text());
        let received = &gateway.fake.received()[i];
        assert_eq!(received.path, format!("/api/v2/{path}"));
        assert!(!received.body.windows(4).any(|w| w == b"blog"), "names are resolved: {path}");
    }
    let logs = gateway.fake.received()[2].json();
    assert_eq!(logs["pagination"]["cursor"]["time"], "2026-06-21T23:00:00.123Z", "cursor keeps ms");
}

#[test]
fn an_app_spelled_v2_is_a_configuration_error() {
    let mut raw = support::raw_config("http://127.0.0.1:1");
    raw.apps[0].name = Some("v2".into());
    raw.apps[1].id = "v2".into();
    let errors = format!("{:?}", appsignal_gateway::config::validate(&raw).unwrap_err());
    assert!(errors.contains("apps[0].name") && errors.contains("apps[1].id"), "{errors}");
}

#[tokio::test]
async fn lookups_are_gets_with_the_app_in_the_path_and_the_token_as_bearer() {
    let gateway = TestGateway::start(|_| {}).await;
    gateway.fake.on(&format!("/api/v2/metrics/names/{APP_ID}"), Reply::Json(200, r#"["cpu","memory"]"#));
    let names = gateway.get("/api/v2/metrics/names/blog").await;
    assert_eq!((names.status.as_u16(), names.text().as_str()), (200, r#"["cpu","memory"]"#));
    let again = gateway.get(&format!("/api/v2/metrics/names/{APP_ID}")).await;
    assert!(again.header("cache-status").unwrap().contains("hit"));
    let tags = gateway.get("/api/v2/metrics/type_and_tags/blog/my.metric%20x").await;
    assert_eq!(tags.status, 200);
    let received = gateway.fake.received();
    assert_eq!(received.len(), 2);
    assert_eq!((received[0].method.as_str(), received[0].query.as_str()), ("GET", ""));
    assert_eq!(received[0].headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(received[1].path, format!("/api/v2/metrics/type_and_tags/{APP_ID}/my.metric%20x"));
    for path in [
        "/api/v2/metrics/names/not-listed",
        "/api/v2/metrics/type_and_tags/blog/a%2Fb",
        "/api/v2/metrics/type_and_tags/blog/a/b",
        "/api/v2/metrics/names/blog/extra",
    ] {
        assert_eq!(gateway.get(path).await.status, 404, "{path}");
    }
    assert_eq!(gateway.post("/api/v2/metrics/names/blog", "{}").await.status, 405);
    assert_eq!(gateway.fake.count(), 2);
}

#[tokio::test]
async fn at_most_max_concurrent_queries_reach_appsignal_at_once() {
    let gateway = TestGateway::start(|raw| raw.upstream.max_concurrent_queries = 2).await;
    let slow = Reply::Delay(Duration::from_millis(300), Box::new(Reply::Json(200, "[]")));
    gateway.fake.on("/api/v2/tracing/trace", slow);
    let queries = (0..6).map(|i| {
        let body = format!(r#"{{"site_ids":["blog"],"trace_id":"t{i}"}}"#);
        let gateway = &gateway;
        async move { gateway.post("/api/v2/tracing/trace", &body).await.status }
    });
    let statuses = futures_util::future::join_all(queries).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(gateway.fake.count(), 6);
    assert!(gateway.fake.max_in_flight() <= 2, "AppSignal saw {} at once", gateway.fake.max_in_flight());
    assert_eq!(gateway.metric("appsignal_gateway_queries_in_flight").await, 0.0);
    assert_eq!(gateway.metric("appsignal_gateway_queries_waiting").await, 0.0);
}

/// One slot, three queries, each answered after 2 s with a 3 s timeout: the first holds
/// the slot; of the two waiting, one gets it when the first ends (at 2 s) and holds it
/// to 4 s, so the other's wait ends (at 3 s) with no slot. Each bound has a second of
/// margin on a loaded machine, and the order is set by events, not sleeps.
#[tokio::test]
async fn a_query_waits_at_most_the_timeout_for_a_slot() {
    let gateway = TestGateway::start(|raw| {
        raw.upstream.max_concurrent_queries = 1;
        raw.upstream.timeout = "3s".into();
    })
    .await;
    gateway
        .fake
        .on("/api/v2/tracing/trace", Reply::Delay(Duration::from_secs(2), Box::new(Reply::Json(200, "[]"))));
    let first = gateway.post("/api/v2/tracing/trace", r#"{"site_ids":["blog"],"trace_id":"a"}"#);
    let waiting = async {
        gateway.fake.wait_for(1).await;
        let second = gateway.post("/api/v2/tracing/trace", r#"{"site_ids":["blog"],"trace_id":"b"}"#);
        let third = gateway.post("/api/v2/tracing/trace", r#"{"site_ids":["blog"],"trace_id":"c"}"#);
        tokio::join!(second, third)
    };
    let (first, (second, third)) = tokio::join!(first, waiting);
    assert_eq!(first.status, 200);
    let busy: Vec<_> = [&second, &third].into_iter().filter(|a| a.status == 503).collect();
    assert_eq!(busy.len(), 1, "{} {}", second.status, third.status);
    assert_eq!(busy[0].code(), "upstream_queries_busy");
    assert!(busy[0].header("retry-after").is_some());
    assert!(gateway.metric("appsignal_gateway_query_waits_timed_out_total").await >= 1.0);
}

#[tokio::test]
async fn a_v2_429_backs_off_v2_and_not_v1() {
    let gateway = TestGateway::start(|_| {}).await;
    gateway.fake.on("/api/v2/tracing/trace", Reply::Throttle("30"));
    let throttled = gateway.post("/api/v2/tracing/trace", r#"{"site_ids":["blog"],"trace_id":"t"}"#).await;
    assert_eq!((throttled.status.as_u16(), throttled.code().as_str()), (503, "upstream_rate_limited"));
    let other = gateway.post("/api/v2/tracing/locator", r#"{"site_ids":["blog"],"trace_id":"t"}"#).await;
    assert_eq!(other.status, 503, "V2 is backing off");
    assert_eq!(gateway.fake.count(), 1, "the back-off costs AppSignal nothing");
    assert_eq!(gateway.get("/api/blog/samples.json").await.status, 200, "v1 goes on");
    assert_eq!(gateway.fake.count(), 2);
    let backed_off = |api: &'static str| {
        let gateway = &gateway;
        async move { gateway.metric(&format!(r#"appsignal_gateway_query_back_offs_total{{api="{api}"}}"#)).await }
    };
    assert_eq!(
        (backed_off("v2").await, backed_off("graphql").await),
        (1.0, 0.0),
        "V2 backed off, GraphQL not"
    );
}

#[tokio::test]
async fn a_dashboard_key_is_required_and_scopes_the_apps_in_the_body() {
    use appsignal_gateway::auth::digest_hex;
    use appsignal_gateway::config::RawKey;
    const KEY: &str = "blog-only-key-fedcba9876543210";
    let gateway = TestGateway::start(|raw| {
        raw.clients.keys = vec![RawKey {
            name: "blog-dash".into(),
            sha256: digest_hex(KEY),
            apps: Some(vec!["blog".into()]),
        }];
    })
    .await;
    let body = |site: &str| format!(r#"{{"site_ids":["{site}"],"trace_id":"t"}}"#);
    assert_eq!(gateway.post("/api/v2/tracing/trace", &body("blog")).await.status, 401);
    let bearer = format!("Bearer {KEY}");
    let headers = [("content-type", "application/json"), ("authorization", bearer.as_str())];
    assert_eq!(gateway.post_with("/api/v2/tracing/trace", &body("blog"), &headers).await.status, 200);
    let other = gateway.post_with("/api/v2/tracing/trace", &body("other0000000000000000022"), &headers).await;
    assert_eq!(other.status, 404, "an app outside the key's scope is an unknown app");
    assert_eq!(gateway.fake.count(), 1);
    assert!(!gateway.fake.received()[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .contains(KEY));
}

/// A body is resolved once per configuration and remembered for every key, so the
/// scope must be checked on each request: the same bytes a wider key had resolved
/// are still a 404, with no upstream call, for a key that may not read one of its apps.
#[tokio::test]
async fn a_remembered_body_is_still_scoped_by_each_requests_key() {
    use appsignal_gateway::auth::digest_hex;
    use appsignal_gateway::config::RawKey;
    const WIDE: &str = "wide-key-0123456789abcdef0123";
    const NARROW: &str = "narrow-key-0123456789abcdef01";
    let gateway = TestGateway::start(|raw| {
        raw.clients.keys = vec![
            RawKey { name: "wide".into(), sha256: digest_hex(WIDE), apps: None },
            RawKey { name: "narrow".into(), sha256: digest_hex(NARROW), apps: Some(vec!["blog".into()]) },
        ];
    })
    .await;
    let body = r#"{"site_ids":["blog","other0000000000000000022"],"trace_id":"t"}"#;
    let post = |key: &'static str| {
        let bearer = format!("Bearer {key}");
        let gateway = &gateway;
        async move {
            let headers = [("content-type", "application/json"), ("authorization", bearer.as_str())];
            gateway.post_with("/api/v2/tracing/trace", body, &headers).await
        }
    };
    assert_eq!(post(WIDE).await.status, 200);
    assert_eq!(post(NARROW).await.status, 404, "one app of the remembered body is outside its scope");
    let again = post(WIDE).await;
    assert_eq!(again.status, 200);
    assert!(again.header("cache-status").unwrap().contains("hit"), "{:?}", again.header("cache-status"));
    assert_eq!(gateway.fake.count(), 1, "the refused request cost no call");
}
