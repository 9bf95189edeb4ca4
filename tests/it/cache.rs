//! The response cache, end to end against the fake AppSignal.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use appsignal_gateway::config;
use appsignal_gateway::gateway::{Gateway, NO_PEER};
use http::{Method, Request};
use support::{Reply, TestGateway, APP_ID};

fn cache_status(answer: &support::Answer) -> &str {
    answer.header("cache-status").unwrap_or("")
}

fn seq(answer: &support::Answer) -> u64 {
    answer.json()["seq"].as_u64().unwrap()
}

#[tokio::test]
async fn second_request_is_a_hit_without_an_upstream_call() {
    let gw = TestGateway::start(|_| {}).await;
    let first = gw.get("/api/blog/samples.json?limit=5").await;
    assert_eq!(first.status, 200);
    assert_eq!(cache_status(&first), "appsignal-gateway; fwd=miss; stored");
    let second = gw.get("/api/blog/samples.json?limit=5").await;
    assert_eq!(second.body, first.body);
    assert!(cache_status(&second).starts_with("appsignal-gateway; hit; ttl="), "{}", cache_status(&second));
    assert_eq!(second.header("etag"), first.header("etag"));
    assert_eq!(gw.fake.count(), 1);
}

#[tokio::test]
async fn every_spelling_of_one_question_is_one_entry() {
    let gw = TestGateway::start(|_| {}).await;
    let spellings = [
        "/api/blog/samples.json?limit=5&action_id=BlogPostsController%23show&since=1700000000",
        "/api/blog/samples.json?since=2023-11-14T22:13:20Z&action_id=BlogPostsController-hash-show&limit=5",
        &format!("/api/{APP_ID}/samples.json?action_id=BlogPostsController-hash-show&limit=5&since=1700000000"),
        "/api/blog/samples.json?limit=5&since=1700000000&action_id=BlogPostsController%23show&callback=cb&_=1700000001",
        "/api/blog/samples.json?_=9&token=someone-elses&limit=5&action_id=BlogPostsController%23show&since=2023-11-15T00:13:20%2B02:00",
    ];
    for spelling in spellings {
        let answer = gw.get(spelling).await;
        assert_eq!(answer.status, 200, "{spelling}: {}", answer.text());
    }
    assert_eq!(gw.fake.count(), 1, "{:?}", gw.fake.received());
    // A different question is a different entry.
    gw.get("/api/blog/samples.json?limit=6").await;
    gw.get("/api/blog/samples/errors.json?limit=5").await;
    assert_eq!(gw.fake.count(), 3);
}

#[tokio::test]
async fn graphs_spellings_share_one_entry() {
    let gw = TestGateway::start(|_| {}).await;
    for spelling in [
        "/api/blog/graphs.json?action_name=Posts%23show&fields[]=pct&fields[]=mean&from=1700000000",
        "/api/blog/graphs.json?fields%5B%5D=mean&fields[]=pct&fields[]=mean&action_name=Posts-hash-show&from=2023-11-14T22:13:20Z",
    ] {
        assert_eq!(gw.get(spelling).await.status, 200);
    }
    assert_eq!(gw.fake.count(), 1);
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let gw = TestGateway::start(|raw| {
        raw.cache.ttl.list = "300ms".into();
        raw.cache.stale_while_revalidate = "0s".into();
        raw.cache.stale_if_error = "0s".into();
    })
    .await;
    assert_eq!(seq(&gw.get("/api/blog/samples.json").await), 1);
    assert_eq!(seq(&gw.get("/api/blog/samples.json").await), 1);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let refreshed = gw.get("/api/blog/samples.json").await;
    assert_eq!(seq(&refreshed), 2);
    assert_eq!(gw.fake.count(), 2);
}

#[tokio::test]
async fn concurrent_misses_make_one_upstream_call() {
    let gw = Arc::new(TestGateway::start(|_| {}).await);
    gw.fake.always(Reply::Delay(Duration::from_millis(300), Box::new(Reply::Echo)));
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let gw = gw.clone();
            tokio::spawn(async move { gw.get("/api/blog/samples/errors.json?limit=7").await })
        })
        .collect();
    let mut bodies = Vec::new();
    for request in requests {
        let answer = request.await.unwrap();
        assert_eq!(answer.status, 200);
        bodies.push(answer.body);
    }
    assert_eq!(gw.fake.count(), 1);
    assert!(bodies.iter().all(|b| *b == bodies[0]));
}

#[tokio::test]
async fn concurrent_failures_are_shared_but_not_stored() {
    let gw = Arc::new(TestGateway::start(|_| {}).await);
    gw.fake.then(Reply::Delay(Duration::from_millis(300), Box::new(Reply::Json(500, "{}"))));
    let requests: Vec<_> = (0..10)
        .map(|_| {
            let gw = gw.clone();
            tokio::spawn(async move { gw.get("/api/blog/samples.json").await.status })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), 502);
    }
    assert_eq!(gw.fake.count(), 1);
    assert_eq!(gw.get("/api/blog/samples.json").await.status, 200);
    assert_eq!(gw.fake.count(), 2);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let gw = TestGateway::start(|_| {}).await;
    for reply in [Reply::Json(500, "{}"), Reply::NotJson, Reply::Reset, Reply::Json(401, "{}")] {
        gw.fake.then(reply);
        assert_eq!(gw.get("/api/blog/samples.json").await.status, 502);
    }
    assert_eq!(gw.get("/api/blog/samples.json").await.status, 200);
    assert_eq!(gw.fake.count(), 5);
}

#[tokio::test]
async fn not_found_is_cached_for_its_own_ttl() {
    let gw = TestGateway::start(|raw| {
        raw.cache.ttl.not_found = "300ms".into();
        raw.cache.stale_while_revalidate = "0s".into();
        raw.cache.stale_if_error = "0s".into();
    })
    .await;
    gw.fake.always(Reply::Json(404, r#"{"error":"not found"}"#));
    let first = gw.get("/api/blog/samples/abc.json").await;
    assert_eq!((first.status.as_u16(), first.code().as_str()), (404, "not_found"));
    let second = gw.get("/api/blog/samples/abc.json").await;
    assert_eq!(second.status, 404);
    assert!(cache_status(&second).contains("hit"));
    assert_eq!(gw.fake.count(), 1);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(gw.get("/api/blog/samples/abc.json").await.status, 404);
    assert_eq!(gw.fake.count(), 2);
}

#[tokio::test]
async fn stale_if_error_serves_the_old_body_when_appsignal_fails() {
    let gw = TestGateway::start(|raw| {
        raw.cache.ttl.list = "200ms".into();
        raw.cache.stale_while_revalidate = "0s".into();
        raw.cache.stale_if_error = "10m".into();
        raw.upstream.timeout = "300ms".into();
    })
    .await;
    let fresh = gw.get("/api/blog/samples.json").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for reply in [Reply::Json(503, "{}"), Reply::Reset, Reply::NotJson, Reply::Hang] {
        gw.fake.then(reply);
        let stale = gw.get("/api/blog/samples.json").await;
        assert_eq!(stale.status, 200);
        assert_eq!(stale.body, fresh.body);
        assert_eq!(cache_status(&stale), "appsignal-gateway; fwd=stale; detail=upstream-error");
        assert_eq!(stale.header("cache-control"), Some("private, max-age=0"));
    }
    // Client errors are never answered from the stale entry.
    assert_eq!(gw.get("/api/blog/samples.json?limit=0").await.status, 400);
    // Once AppSignal answers again, the entry is replaced.
    let refreshed = gw.get("/api/blog/samples.json").await;
    assert_eq!(cache_status(&refreshed), "appsignal-gateway; fwd=stale; stored");
    assert_ne!(refreshed.body, fresh.body);
}

#[tokio::test]
async fn stale_if_error_ends_with_its_window() {
    let gw = TestGateway::start(|raw| {
        raw.cache.ttl.list = "100ms".into();
        raw.cache.stale_while_revalidate = "0s".into();
        raw.cache.stale_if_error = "200ms".into();
    })
    .await;
    assert_eq!(gw.get("/api/blog/samples.json").await.status, 200);
    tokio::time::sleep(Duration::from_millis(450)).await;
    gw.fake.always(Reply::Json(500, "{}"));
    assert_eq!(gw.get("/api/blog/samples.json").await.status, 502);
}

#[tokio::test]
async fn stale_while_revalidate_answers_at_once_and_refreshes_once() {
    let gw = TestGateway::start(|raw| {
        raw.cache.ttl.list = "200ms".into();
        raw.cache.stale_while_revalidate = "30s".into();
    })
    .await;
    assert_eq!(seq(&gw.get("/api/blog/samples.json").await), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The refresh takes a while; the answers during it are the old body, at once.
    gw.fake.always(Reply::Delay(Duration::from_millis(500), Box::new(Reply::Echo)));
    for _ in 0..10 {
        let stale = gw.get("/api/blog/samples.json").await;
        assert_eq!(seq(&stale), 1);
        assert_eq!(cache_status(&stale), "appsignal-gateway; hit; fwd=stale; detail=revalidating");
    }
    gw.fake.wait_for(2).await;
    // The refresh lands in the background; poll (bounded) until a request sees it.
    let mut refreshed = None;
    for _ in 0..200 {
        let answer = gw.get("/api/blog/samples.json").await;
        if seq(&answer) == 2 {
            refreshed = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let refreshed = refreshed.expect("the background refresh never landed");
    assert!(cache_status(&refreshed).starts_with("appsignal-gateway; hit; ttl="));
    assert_eq!(gw.fake.count(), 2, "more than one refresh ran");
}

#[tokio::test]
async fn etag_and_if_none_match_give_304() {
    let gw = TestGateway::start(|_| {}).await;
    let first = gw.get("/api/blog/samples.json").await;
    let etag = first.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "strong etag: {etag}");
    let not_modified = gw.send(Method::GET, "/api/blog/samples.json", &[("if-none-match", &etag)]).await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    let other = gw.send(Method::GET, "/api/blog/samples.json", &[("if-none-match", "\"other\"")]).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.body, first.body);
}

#[tokio::test]
async fn max_age_is_the_whole_lifetime_and_age_follows_the_clock() {
    // RFC 9111 §4.2.3: a browser keeps an answer for max-age minus Age. max-age is the
    // entry's whole TTL, so the remaining time is not counted twice.
    let gw = TestGateway::start(|raw| raw.cache.ttl.list = "30s".into()).await;
    let first = gw.get("/api/blog/samples.json").await;
    assert_eq!(first.header("cache-control"), Some("private, max-age=30"));
    assert_eq!(first.header("age"), Some("0"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = gw.get("/api/blog/samples.json").await;
    assert_eq!(later.header("cache-control"), Some("private, max-age=30"));
    let age: u64 = later.header("age").unwrap().parse().unwrap();
    let ttl_left: u64 = cache_status(&later).rsplit("ttl=").next().unwrap().parse().unwrap();
    assert!(age >= 1, "age did not grow: {age}");
    // Both are whole seconds, rounded down: they may differ by the one rounding.
    assert!((30 - age).abs_diff(ttl_left) <= 1, "browser keeps {} s, gateway {ttl_left} s", 30 - age);
}

#[tokio::test]
async fn a_cached_404_has_no_validator() {
    let gw = TestGateway::start(|_| {}).await;
    gw.fake.always(Reply::Json(404, "{}"));
    let first = gw.get("/api/blog/samples/nope.json").await;
    assert_eq!(first.status, 404);
    assert_eq!(first.header("etag"), None);
    let again = gw.send(http::Method::GET, "/api/blog/samples/nope.json", &[("if-none-match", "*")]).await;
    assert_eq!(again.status, 404, "If-None-Match on a cached 404 is ignored");
    assert!(cache_status(&again).contains("hit"));
}

#[tokio::test]
async fn cached_bytes_stay_under_max_size() {
    let fake = support::FakeAppSignal::start().await;
    fake.always(Reply::Huge(8 * 1024));
    let mut raw = support::raw_config(&fake.url);
    raw.cache.max_size = "64KiB".into();
    let gateway = Gateway::new(Arc::new(config::validate(&raw).unwrap())).unwrap();
    for limit in 1..=40 {
        let request =
            Request::get(format!("/api/blog/samples.json?limit={limit}")).body(String::new()).unwrap();
        assert_eq!(gateway.handle(request, NO_PEER).await.status(), 200);
    }
    let (entries, bytes) = gateway.cache().usage();
    assert!(bytes <= 64 * 1024, "{bytes} bytes cached");
    assert!((3..40).contains(&entries), "{entries} entries");
    assert_eq!(fake.count(), 40);
}

#[tokio::test]
async fn purge_all_and_per_app() {
    let gw = TestGateway::start(|_| {}).await;
    let other = "/api/other0000000000000000022/samples.json";
    gw.get("/api/blog/samples.json").await;
    gw.get(other).await;
    assert_eq!(gw.fake.count(), 2);
    let purge = |query: &str| {
        let url = format!("{}/cache/purge{query}", gw.admin_url);
        async move { support::send(Method::POST, &url, &[]).await }
    };
    let answer = purge("?app=blog").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["purged"], APP_ID);
    gw.get("/api/blog/samples.json").await;
    gw.get(other).await;
    assert_eq!(gw.fake.count(), 3, "only blog's entry should have been purged");
    assert_eq!(purge("").await.status, 200);
    gw.get("/api/blog/samples.json").await;
    gw.get(other).await;
    assert_eq!(gw.fake.count(), 5);
    assert_eq!(purge("?app=nope").await.status, 404);
    assert_eq!(purge("?bogus=1").await.status, 400);
    let get = support::send(Method::GET, &format!("{}/cache/purge", gw.admin_url), &[]).await;
    assert_eq!(get.status, 405);
    // The purge is not served on the public listener.
    assert_eq!(gw.send(Method::POST, "/cache/purge", &[]).await.status, 404);
}

#[tokio::test]
async fn head_and_get_share_an_entry() {
    let gw = TestGateway::start(|_| {}).await;
    let head = gw.send(Method::HEAD, "/api/blog/markers.json", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let get = gw.get("/api/blog/markers.json").await;
    assert!(cache_status(&get).contains("hit"));
    assert_eq!(gw.fake.count(), 1);
}
