//! A cache hit never compresses. Alone in its own test binary because the counter is
//! process-wide and other tests would move it.

mod support;

use std::sync::Arc;

use appsignal_gateway::compress::compressions;
use appsignal_gateway::config;
use appsignal_gateway::gateway::{Gateway, NO_PEER};
use http::Request;
use support::Reply;

#[tokio::test]
async fn hits_perform_no_compression() {
    let fake = support::FakeAppSignal::start().await;
    let body: &'static str = Box::leak(format!("[{}1]", "1234567890,".repeat(300)).into_boxed_str());
    fake.always(Reply::Json(200, body));
    let raw = support::raw_config(&fake.url);
    let gateway = Gateway::new(Arc::new(config::validate(&raw).unwrap())).unwrap();
    let get = |accept: &'static str| {
        let request =
            Request::get("/api/blog/samples.json").header("accept-encoding", accept).body(()).unwrap();
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
