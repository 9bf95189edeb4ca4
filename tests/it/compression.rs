//! Pre-compressed cached bodies.

use crate::support;

use std::io::Read;
use std::sync::Arc;

use appsignal_gateway::compress::compressions;
use appsignal_gateway::config;
use appsignal_gateway::gateway::{Gateway, NO_PEER};
use http::{Method, Request};
use support::{Reply, TestGateway};

/// A JSON body comfortably over the default 1 KiB `compression.min_size`.
fn big_json() -> &'static str {
    let entries: Vec<String> = (0..60)
        .map(|i| format!(r#"{{"id":"{i:024x}_BlogPostsController#show_1700000000","action":"BlogPostsController#show","path":"/blog","duration":{i}.5}}"#))
        .collect();
    Box::leak(format!(r#"{{"count":60,"log_entries":[{}]}}"#, entries.join(",")).into_boxed_str())
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap();
    out
}

fn unbrotli(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap();
    out
}

#[tokio::test]
async fn gzip_and_brotli_decompress_to_the_identity_body() {
    let gw = TestGateway::start(|_| {}).await;
    gw.fake.always(Reply::Json(200, big_json()));
    let identity = gw.get("/api/blog/samples.json").await;
    assert_eq!(identity.text(), big_json());
    assert!(identity.header("content-encoding").is_none());
    assert_eq!(identity.header("vary"), Some("accept-encoding"));
    let br =
        gw.send(Method::GET, "/api/blog/samples.json", &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(unbrotli(&br.body), identity.body);
    assert!(
        br.body.len() * 4 < identity.body.len(),
        "brotli saved little: {} of {}",
        br.body.len(),
        identity.body.len()
    );
    assert_eq!(br.header("content-length"), Some(br.body.len().to_string().as_str()));
    let gz = gw.send(Method::GET, "/api/blog/samples.json", &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&gz.body), identity.body);
    assert_eq!(gw.fake.count(), 1);
}

#[tokio::test]
async fn q_values_and_identity_refusal() {
    let gw = TestGateway::start(|_| {}).await;
    gw.fake.always(Reply::Json(200, big_json()));
    let encoding = |accept: &'static str| {
        let gw = &gw;
        async move {
            let answer = gw.send(Method::GET, "/api/blog/samples.json", &[("accept-encoding", accept)]).await;
            answer.header("content-encoding").unwrap_or("identity").to_owned()
        }
    };
    assert_eq!(encoding("br;q=0.4, gzip;q=0.9").await, "gzip");
    assert_eq!(encoding("br;q=0, gzip;q=0").await, "identity");
    assert_eq!(encoding("identity;q=0, gzip;q=0.2").await, "gzip");
    assert_eq!(encoding("identity, gzip;q=0.5").await, "identity");
    assert_eq!(encoding("*").await, "br");
    assert_eq!(encoding("deflate").await, "identity");
}

#[tokio::test]
async fn etags_and_304s_are_per_encoding() {
    let gw = TestGateway::start(|_| {}).await;
    gw.fake.always(Reply::Json(200, big_json()));
    let get = |accept: &'static str, tag: Option<String>| {
        let gw = &gw;
        async move {
            let mut headers = vec![("accept-encoding", accept)];
            let tag = tag.unwrap_or_default();
            if !tag.is_empty() {
                headers.push(("if-none-match", &tag));
            }
            gw.send(Method::GET, "/api/blog/samples.json", &headers).await
        }
    };
    let identity = get("identity", None).await;
    let gzip = get("gzip", None).await;
    let br = get("br", None).await;
    let tags = [identity.header("etag").unwrap(), gzip.header("etag").unwrap(), br.header("etag").unwrap()];
    assert!(tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2], "{tags:?}");
    assert_eq!(get("gzip", Some(tags[1].to_owned())).await.status, 304);
    assert_eq!(get("br", Some(tags[2].to_owned())).await.status, 304);
    assert_eq!(get("identity", Some(tags[0].to_owned())).await.status, 304);
    // A validator of another encoding does not match this one.
    let mismatched = get("gzip", Some(tags[0].to_owned())).await;
    assert_eq!(mismatched.status, 200);
    assert_eq!(mismatched.header("content-encoding"), Some("gzip"));
}

#[tokio::test]
async fn small_bodies_jsonp_and_disabled_compression_stay_identity() {
    let gw = TestGateway::start(|_| {}).await;
    let small = gw.send(Method::GET, "/api/blog/samples.json", &[("accept-encoding", "br")]).await;
    assert!(small.header("content-encoding").is_none(), "a body under min_size was compressed");
    gw.fake.always(Reply::Json(200, big_json()));
    let jsonp =
        gw.send(Method::GET, "/api/blog/samples/errors.json?callback=cb", &[("accept-encoding", "br")]).await;
    assert!(jsonp.header("content-encoding").is_none());
    assert!(jsonp.text().starts_with("/**/ typeof cb"));

    let off = TestGateway::start(|raw| raw.compression.enabled = false).await;
    off.fake.always(Reply::Json(200, big_json()));
    let answer = off.send(Method::GET, "/api/blog/samples.json", &[("accept-encoding", "br, gzip")]).await;
    assert!(answer.header("content-encoding").is_none());
    assert!(answer.header("vary").is_none());
}

#[tokio::test]
async fn the_weigher_counts_compressed_forms() {
    let usage = |enabled: bool| async move {
        let fake = support::FakeAppSignal::start().await;
        fake.always(Reply::Json(200, big_json()));
        let mut raw = support::raw_config(&fake.url);
        raw.compression.enabled = enabled;
        let gateway = Gateway::new(Arc::new(config::validate(&raw).unwrap())).unwrap();
        let request = Request::get("/api/blog/samples.json").body(String::new()).unwrap();
        assert_eq!(gateway.handle(request, NO_PEER).await.status(), 200);
        gateway.cache().usage().1
    };
    let plain = usage(false).await;
    let compressed = usage(true).await;
    assert!(plain > big_json().len() as u64);
    assert!(compressed > plain + 100, "compressed forms not weighed: {compressed} vs {plain}");
}

/// The compression counter is kept per thread, so this test (on its own current-thread
/// runtime, with a body small enough to be compressed in place) sees only its own.
#[tokio::test]
async fn hits_perform_no_compression() {
    let fake = support::FakeAppSignal::start().await;
    let body: &'static str = Box::leak(format!("[{}1]", "1234567890,".repeat(300)).into_boxed_str());
    fake.always(Reply::Json(200, body));
    let raw = support::raw_config(&fake.url);
    let gateway = Gateway::new(Arc::new(config::validate(&raw).unwrap())).unwrap();
    let get = |accept: &'static str| {
        let request = Request::get("/api/blog/samples.json")
            .header("accept-encoding", accept)
            .body(String::new())
            .unwrap();
        gateway.handle(request, NO_PEER)
    };
    let before = compressions();
    assert_eq!(get("br").await.status(), 200);
    assert_eq!(compressions() - before, 2, "a miss makes the gzip and brotli forms once");
    let after_miss = compressions();
    for accept in ["br", "gzip", "identity", "br;q=0.1, gzip", "*"] {
        for _ in 0..10 {
            assert_eq!(get(accept).await.status(), 200);
        }
    }
    assert_eq!(compressions(), after_miss, "a hit compressed");
    assert_eq!(fake.count(), 1);
}
