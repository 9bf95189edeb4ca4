//! The browser surface: JSONP and CORS.

use crate::support;

use http::Method;
use support::{Reply, TestGateway};

/// The allowed dashboard origin, and a page on it as a `<script>` tag's `Referer` names it.
const DASH: &str = "https://dash.example.com";
const DASH_PAGE: &str = "https://dash.example.com/board";

/// A gateway that allows [`DASH`], so its pages may load JSONP.
async fn with_dash(tweak: impl FnOnce(&mut appsignal_gateway::config::RawConfig)) -> TestGateway {
    TestGateway::start(|raw| {
        raw.cors.allowed_origins = vec![DASH.into()];
        tweak(raw);
    })
    .await
}

/// A `<script>` tag's GET from a page on [`DASH`]: no `Origin`, a `Referer`.
async fn script(gw: &TestGateway, path: &str) -> support::Answer {
    gw.send(Method::GET, path, &[("referer", DASH_PAGE)]).await
}

/// The JSON inside `/**/ typeof cb === 'function' && cb(<json>);`.
fn unwrap_jsonp<'a>(body: &'a str, callback: &str) -> &'a str {
    let prefix = format!("/**/ typeof {callback} === 'function' && {callback}(");
    body.strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(");"))
        .unwrap_or_else(|| panic!("not JSONP: {body}"))
}

#[tokio::test]
async fn jsonp_wraps_the_same_json_and_shares_its_cache_entry() {
    let gw = with_dash(|_| {}).await;
    let plain = gw.get("/api/blog/samples.json?limit=2").await;
    let jsonp = script(&gw, "/api/blog/samples.json?limit=2&callback=jQuery123_456&_=1700000000").await;
    assert_eq!(jsonp.status, 200);
    assert_eq!(jsonp.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(jsonp.header("x-content-type-options"), Some("nosniff"));
    let inner: serde_json::Value =
        serde_json::from_str(unwrap_jsonp(&jsonp.text(), "jQuery123_456")).unwrap();
    assert_eq!(inner, plain.json());
    assert_eq!(jsonp.header("content-length"), Some(jsonp.body.len().to_string().as_str()));
    assert_eq!(gw.fake.count(), 1, "JSON and JSONP should share one entry");
}

#[tokio::test]
async fn dotted_callbacks_are_allowed() {
    let gw = with_dash(|_| {}).await;
    let answer = script(&gw, "/api/blog/samples.json?callback=window.dash.update_1").await;
    assert_eq!(answer.status, 200);
    assert!(serde_json::from_str::<serde_json::Value>(unwrap_jsonp(&answer.text(), "window.dash.update_1"))
        .unwrap()
        .get("error")
        .is_none());
}

#[tokio::test]
async fn hostile_callbacks_are_400_without_echo() {
    let gw = TestGateway::start(|_| {}).await;
    let long = "a".repeat(300);
    for callback in [
        "alert(1)//",
        "%3Cscript%3E",
        "a%20b",
        &long,
        "a..b",
        "1abc",
        "a%0Ab",
        "a'b",
        "a%22b",
        "constructor%5B0%5D",
        "function",
        "var",
        "a.delete",
        "",
        ".a",
    ] {
        let answer = gw.get(&format!("/api/blog/samples.json?callback={callback}")).await;
        assert_eq!(answer.status, 400, "{callback:?} accepted");
        assert_eq!(answer.code(), "invalid_callback");
        assert!(!answer.text().contains('<'), "{}", answer.text());
        assert_eq!(answer.header("content-type"), Some("application/json"));
        if callback.len() > 3 {
            assert!(!answer.text().contains(callback), "callback echoed: {}", answer.text());
        }
    }
    assert_eq!(gw.fake.count(), 0);
}

#[tokio::test]
async fn line_separators_are_escaped_in_jsonp() {
    let gw = with_dash(|_| {}).await;
    gw.fake.always(Reply::Json(200, "{\"path\":\"/a\u{2028}b\u{2029}c\"}"));
    let answer = script(&gw, "/api/blog/samples.json?callback=cb").await;
    let text = answer.text();
    assert!(!text.contains('\u{2028}') && !text.contains('\u{2029}'));
    assert!(text.contains("\\u2028") && text.contains("\\u2029"));
    let inner: serde_json::Value = serde_json::from_str(unwrap_jsonp(&text, "cb")).unwrap();
    assert_eq!(inner["path"], "/a\u{2028}b\u{2029}c");
}

#[tokio::test]
async fn jsonp_errors_reach_the_page_as_200_with_their_status_inside() {
    // A browser runs a <script> only when it is answered 2xx: errors are 200, no-store,
    // the real status in the object; the access line and the metrics keep the real one.
    let gw = with_dash(|_| {}).await;
    let bad = script(&gw, "/api/blog/samples.json?callback=cb&limit=0").await;
    assert_eq!(bad.status, 200);
    assert_eq!(bad.header("cache-control"), Some("no-store"));
    let inner: serde_json::Value = serde_json::from_str(unwrap_jsonp(&bad.text(), "cb")).unwrap();
    assert_eq!(inner["error"]["code"], "invalid_parameter");
    assert_eq!(inner["error"]["status"], 400);
    let unknown = script(&gw, "/api/nope/samples.json?callback=cb").await;
    assert_eq!(unknown.status, 200);
    let inner: serde_json::Value = serde_json::from_str(unwrap_jsonp(&unknown.text(), "cb")).unwrap();
    assert_eq!(inner["error"]["status"], 404);
    gw.fake.then(Reply::Json(500, "{}"));
    let failed = script(&gw, "/api/blog/samples.json?callback=cb").await;
    assert_eq!(failed.status, 200);
    let inner: serde_json::Value = serde_json::from_str(unwrap_jsonp(&failed.text(), "cb")).unwrap();
    assert_eq!(inner["error"]["code"], "upstream_error");
    assert_eq!(inner["error"]["status"], 502);
    let metrics = support::send(Method::GET, &format!("{}/metrics", gw.admin_url), &[]).await.text();
    for status in [400, 502] {
        let line = format!("requests_total{{route=\"samples\",status=\"{status}\"}} 1");
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
}

#[tokio::test]
async fn jsonp_on_graphs_and_markers() {
    let gw = with_dash(|_| {}).await;
    for path in [
        "/api/blog/graphs.json?kind=web&timeframe=day&callback=g",
        "/api/blog/markers.json?kind=deploy&callback=g",
    ] {
        let answer = script(&gw, path).await;
        assert_eq!(answer.status, 200, "{path}");
        assert!(!unwrap_jsonp(&answer.text(), "g").contains("\"error\""), "{path}");
    }
}

#[tokio::test]
async fn disabled_jsonp_ignores_the_callback() {
    let gw = TestGateway::start(|raw| raw.jsonp.enabled = false).await;
    let answer = gw.get("/api/blog/samples.json?callback=cb").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    answer.json();
}

#[tokio::test]
async fn custom_callback_parameter() {
    let gw = with_dash(|raw| raw.jsonp.callback_param = "jsonp".into()).await;
    assert!(
        !unwrap_jsonp(&script(&gw, "/api/blog/samples.json?jsonp=cb").await.text(), "cb").contains("error")
    );
    assert_eq!(gw.get("/api/blog/samples.json?callback=cb").await.status, 400);
}

#[tokio::test]
async fn listed_origins_get_cors_headers_and_others_none() {
    let gw = TestGateway::start(|raw| raw.cors.allowed_origins = vec![DASH.into()]).await;
    let allowed = gw.send(Method::GET, "/api/blog/samples.json", &[("origin", DASH)]).await;
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(DASH));
    assert!(allowed.headers.get_all("vary").iter().any(|v| v.to_str().unwrap().contains("origin")));
    assert!(allowed.header("access-control-expose-headers").unwrap().contains("cache-status"));
    assert!(allowed.header("access-control-allow-credentials").is_none());
    // An unlisted page is refused before any work: no answer to read, no upstream call.
    let calls = gw.fake.count();
    let denied = gw
        .send(Method::GET, "/api/blog/samples.json?limit=3", &[("origin", "https://evil.example.com")])
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.code(), "forbidden_origin");
    assert!(denied.header("access-control-allow-origin").is_none());
    assert!(denied.headers.keys().all(|k| !k.as_str().starts_with("access-control-")));
    assert_eq!(gw.fake.count(), calls);
    // Errors carry the grant too, so the page can read them.
    let error = gw.send(Method::GET, "/api/blog/samples.json?limit=0", &[("origin", DASH)]).await;
    assert_eq!(error.header("access-control-allow-origin"), Some(DASH));
}

#[tokio::test]
async fn preflight_is_204_and_never_reaches_appsignal() {
    let gw = TestGateway::start(|raw| {
        raw.cors.allowed_origins = vec![DASH.into()];
        raw.cors.max_age = "10m".into();
    })
    .await;
    let preflight = [
        ("origin", DASH),
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "authorization"),
    ];
    let answer = gw.send(Method::OPTIONS, "/api/blog/samples.json?limit=5", &preflight).await;
    assert_eq!(answer.status, 204);
    assert_eq!(answer.header("access-control-allow-origin"), Some(DASH));
    assert_eq!(answer.header("access-control-allow-methods"), Some("GET, HEAD, POST"));
    assert_eq!(answer.header("access-control-max-age"), Some("600"));
    assert!(answer.header("access-control-allow-headers").unwrap().contains("authorization"));
    assert!(answer.header("access-control-allow-credentials").is_none());
    let denied = [("origin", "https://evil.example.com"), ("access-control-request-method", "GET")];
    let answer = gw.send(Method::OPTIONS, "/api/blog/samples.json", &denied).await;
    assert_eq!(answer.status, 204);
    assert!(answer.header("access-control-allow-origin").is_none());
    assert_eq!(gw.fake.count(), 0);
}

#[tokio::test]
async fn wildcard_allows_any_origin_without_credentials() {
    let gw = TestGateway::start(|raw| raw.cors.allowed_origins = vec!["*".into()]).await;
    let answer =
        gw.send(Method::GET, "/api/blog/samples.json", &[("origin", "https://any.example.org")]).await;
    assert_eq!(answer.header("access-control-allow-origin"), Some("https://any.example.org"));
    assert!(answer.header("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn cors_answers_say_what_a_dashboard_script_may_read_and_vary_by_origin() {
    let gw = with_dash(|_| {}).await;
    let allowed = gw.send(Method::GET, "/api/blog/samples.json", &[("origin", DASH)]).await;
    let exposed = allowed.header("access-control-expose-headers").unwrap().to_owned();
    for header in [
        "cache-status",
        "age",
        "etag",
        "x-request-id",
        "retry-after",
        "ratelimit",
        "ratelimit-policy",
        "www-authenticate",
    ] {
        assert!(exposed.split(", ").any(|h| h == header), "{header} not exposed: {exposed}");
    }
    // Every answer on a CORS route varies by Origin, with an Origin or without one.
    for answer in
        [allowed, gw.get("/api/blog/samples.json").await, gw.get("/api/blog/samples.json?limit=0").await]
    {
        let vary: Vec<&str> = answer.headers.get_all("vary").iter().map(|v| v.to_str().unwrap()).collect();
        assert!(vary.iter().any(|v| v.contains("origin")), "no Vary: Origin on {}: {vary:?}", answer.status);
    }
}

#[tokio::test]
async fn preflights_allow_what_browsers_and_fetch_wrappers_send_on_any_api_path() {
    let gw = with_dash(|_| {}).await;
    let asks = "authorization, if-none-match, content-type, x-requested-with";
    let preflight = [
        ("origin", DASH),
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", asks),
    ];
    let answer = gw.send(Method::OPTIONS, "/api/blog/samples.json", &preflight).await;
    let allowed = answer.header("access-control-allow-headers").unwrap().to_owned();
    for header in asks.split(", ") {
        assert!(allowed.contains(header), "{header} not allowed: {allowed}");
    }
    // A mistyped path: the preflight is granted, so the real request's JSON 404 is readable.
    let typo = gw.send(Method::OPTIONS, "/api/blog/sample.json", &preflight).await;
    assert_eq!(typo.status, 204);
    assert_eq!(typo.header("access-control-allow-origin"), Some(DASH));
    let real = gw.send(Method::GET, "/api/blog/sample.json", &[("origin", DASH)]).await;
    assert_eq!(real.status, 404);
    assert_eq!(real.header("access-control-allow-origin"), Some(DASH));
    assert_eq!(real.code(), "not_found");
    // Outside /api/, and for unlisted origins, nothing is granted.
    let outside = gw.send(Method::OPTIONS, "/nope", &preflight).await;
    assert_eq!(outside.status, 404);
    let evil = [("origin", "https://evil.example"), ("access-control-request-method", "GET")];
    let answer = gw.send(Method::OPTIONS, "/api/blog/sample.json", &evil).await;
    assert!(answer.header("access-control-allow-origin").is_none());
    assert_eq!(gw.fake.count(), 0);
}

#[tokio::test]
async fn jsonp_is_served_only_to_allowed_pages_or_keys() {
    const KEY: &str = "script-key-0123456789abcdef";
    let gw = with_dash(|raw| {
        raw.clients.keys = vec![appsignal_gateway::config::RawKey {
            name: "wall".into(),
            sha256: appsignal_gateway::auth::digest_hex(KEY),
            apps: None,
        }];
    })
    .await;
    let path = "/api/blog/samples.json?callback=cb&_=1";
    // Any page can include a <script>: from an unlisted page, or one that sends no
    // Referer, a script gets a 403 (wrapped, 200), and it costs no cache entry or call.
    let error_status = |answer: &support::Answer| -> Option<u64> {
        let inner: serde_json::Value = serde_json::from_str(unwrap_jsonp(&answer.text(), "cb")).unwrap();
        inner["error"]["status"].as_u64()
    };
    // Keys configured and none given: 401 (an unlisted Origin is 403 before that).
    for (headers, status) in [
        (vec![("referer", "https://evil.example/page")], 401),
        (vec![("origin", "https://evil.example")], 403),
        (vec![], 401),
    ] {
        let answer = gw.send(Method::GET, path, &headers).await;
        assert_eq!(answer.status, 200, "JSONP errors are 200 so the page's script runs");
        assert_eq!(error_status(&answer), Some(status), "{headers:?}");
    }
    let with_key = format!("{path}&key={KEY}");
    // A <script> with a key is served whatever page it is on: the key is the grant.
    let answer = gw.send(Method::GET, &with_key, &[("referer", "https://evil.example/page")]).await;
    assert_eq!(error_status(&answer), None, "{}", answer.text());
    // A page's fetch names its Origin: an unlisted one is refused even with a key.
    let answer = gw.send(Method::GET, &with_key, &[("origin", "https://evil.example")]).await;
    assert_eq!(error_status(&answer), Some(403));
    // A no-referrer page uses its key: served.
    let answer = gw.send(Method::GET, &with_key, &[]).await;
    assert!(!unwrap_jsonp(&answer.text(), "cb").contains("\"error\""), "{}", answer.text());
    assert_eq!(gw.fake.count(), 1, "one upstream call, for the keyed requests");

    // Without keys: only the allowlist decides.
    let open = with_dash(|_| {}).await;
    for headers in [vec![("referer", "https://evil.example/page")], vec![]] {
        let answer = open.send(Method::GET, path, &headers).await;
        assert_eq!(answer.status, 200, "JSONP errors are 200 so the page sees them");
        let inner: serde_json::Value = serde_json::from_str(unwrap_jsonp(&answer.text(), "cb")).unwrap();
        assert_eq!(inner["error"]["code"], "forbidden_origin", "{headers:?}");
        assert_eq!(inner["error"]["status"], 403);
    }
    assert_eq!(open.fake.count(), 0, "refused scripts cost no upstream call");
    assert_eq!(script(&open, path).await.status, 200);
    assert_eq!(open.fake.count(), 1);
    // Plain requests with neither Origin nor callback (curl, servers) are unaffected.
    assert_eq!(open.get("/api/blog/samples.json?limit=4").await.status, 200);
}

/// Issue 26, finding 7: every answer carries `X-Content-Type-Options: nosniff`: JSON
/// misses and hits, 304s, errors, preflights, `/openapi.json`, `/healthz`, the admin port.
#[tokio::test]
async fn every_answer_says_nosniff() {
    let gw = with_dash(|_| {}).await;
    let samples = "/api/blog/samples.json";
    let miss = gw.get(samples).await;
    let etag = miss.header("etag").unwrap().to_owned();
    let hit = gw.get(samples).await;
    assert_eq!(hit.header("cache-status").map(|s| s.contains("hit")), Some(true));
    let gzip = gw.send(Method::GET, samples, &[("accept-encoding", "gzip")]).await;
    let not_modified = gw.send(Method::GET, samples, &[("if-none-match", &etag)]).await;
    assert_eq!(not_modified.status, 304);
    let preflight = [("origin", DASH), ("access-control-request-method", "GET")];
    let admin = |path: &str| format!("{}{path}", gw.admin_url);
    let answers = [
        ("miss", miss),
        ("hit", hit),
        ("gzip hit", gzip),
        ("304", not_modified),
        ("404", gw.get("/api/nope/samples.json").await),
        ("400", gw.get("/api/blog/samples.json?limit=0").await),
        ("405", gw.send(Method::DELETE, samples, &[]).await),
        ("403", gw.send(Method::GET, samples, &[("origin", "https://evil.example")]).await),
        ("preflight", gw.send(Method::OPTIONS, samples, &preflight).await),
        ("openapi", gw.get("/openapi.json").await),
        ("healthz", gw.get("/healthz").await),
        ("jsonp", script(&gw, "/api/blog/samples.json?callback=cb").await),
        ("admin metrics", support::send(Method::GET, &admin("/metrics"), &[]).await),
        ("admin healthz", support::send(Method::GET, &admin("/healthz"), &[]).await),
        ("admin 404", support::send(Method::GET, &admin("/nope"), &[]).await),
        ("admin purge", support::send(Method::POST, &admin("/cache/purge"), &[]).await),
    ];
    for (what, answer) in &answers {
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{what}: {answer:?}");
    }
}
