//! In a real browser: CORS as Chromium enforces it, JSONP by `<script>` tag, the
//! browser's own HTTP cache revalidating, and the demo dashboard. Chromium is Debian's
//! (`chromium`, `chromium-driver`), driven by WebDriver through `fantoccini`.

use crate::support;

use appsignal_gateway::auth::digest_hex;
use appsignal_gateway::config::RawKey;
use serde_json::Value;
use support::browser::{Browser, PageOrigin};
use support::{Reply, TestGateway, TOKEN};

/// A gateway allowing `page`'s origin, with keys or not.
async fn gateway_for(page: &PageOrigin, key: Option<&str>) -> TestGateway {
    let origin = page.origin.clone();
    let key = key.map(str::to_owned);
    TestGateway::start(move |raw| {
        raw.cors.allowed_origins = vec![origin];
        if let Some(key) = key {
            raw.clients.keys = vec![RawKey { name: "wall".into(), sha256: digest_hex(&key), apps: None }];
        }
    })
    .await
}

/// `fetch(url)` in the page: status, body and the headers the page may read.
const FETCH: &str = r#"
  const res = await fetch(URL, OPTIONS);
  const text = await res.text();
  const read = (h) => res.headers.get(h);
  return { status: res.status, text, cacheStatus: read("Cache-Status"), etag: read("ETag"),
           age: read("Age"), requestId: read("X-Request-Id"), wwwAuthenticate: read("WWW-Authenticate") };
"#;

fn fetch_script(url: &str, options: &str) -> String {
    FETCH.replace("URL", &format!("{url:?}")).replace("OPTIONS", options)
}

/// A jQuery-style JSONP request by `<script>` tag: what the callback got, or the error event.
fn jsonp_script(url: &str, referrer_policy: &str) -> String {
    format!(
        r#"
  return await new Promise((resolve) => {{
    const name = "jQuery3710_" + Date.now();
    const script = document.createElement("script");
    window[name] = (data) => resolve({{ called: true, data }});
    script.onerror = () => resolve({{ called: false, error: "script error event" }});
    if ({referrer_policy:?}) script.referrerPolicy = {referrer_policy:?};
    script.src = {url:?} + "&callback=" + name + "&_=" + Date.now();
    document.head.append(script);
  }});"#
    )
}

#[tokio::test]
async fn fetch_from_an_allowed_page_reads_the_body_and_the_exposed_headers() {
    let Some(browser) = Browser::start().await else { return };
    let page = PageOrigin::start().await;
    let gw = gateway_for(&page, None).await;
    browser.client.goto(&page.origin).await.unwrap();
    let url = format!("{}/api/blog/samples.json?limit=2", gw.url);
    let first = browser.run(&fetch_script(&url, "{}")).await;
    assert_eq!(first["status"], 200, "{first}");
    assert!(first["text"].as_str().unwrap().starts_with('{'));
    for header in ["cacheStatus", "etag", "age", "requestId"] {
        assert!(first[header].is_string(), "{header} unreadable from the page: {first}");
    }
    assert!(!first.to_string().contains(TOKEN));
    browser.close().await;
}

#[tokio::test]
async fn an_unlisted_page_reads_nothing_by_fetch_or_script() {
    let Some(browser) = Browser::start().await else { return };
    let page = PageOrigin::start().await;
    let gw =
        TestGateway::start(|raw| raw.cors.allowed_origins = vec!["https://dash.example.com".into()]).await;
    browser.client.goto(&page.origin).await.unwrap();
    let url = format!("{}/api/blog/samples.json?limit=2", gw.url);
    let fetched = browser.run(&fetch_script(&url, "{}")).await;
    assert!(
        fetched["thrown"].as_str().is_some_and(|e| e.contains("TypeError")),
        "the read was not blocked: {fetched}"
    );
    for policy in ["", "no-referrer"] {
        let script = browser.run(&jsonp_script(&url, policy)).await;
        assert_eq!(script["called"], true, "{script}");
        assert_eq!(script["data"]["error"]["code"], "forbidden_origin", "policy {policy:?}: {script}");
        assert!(script["data"]["log_entries"].is_null(), "rows leaked to an unlisted page: {script}");
    }
    assert_eq!(gw.fake.count(), 0, "refused requests cost no upstream call");
    browser.close().await;
}

#[tokio::test]
async fn an_unlisted_page_reads_no_v2_answer() {
    let Some(browser) = Browser::start().await else { return };
    let page = PageOrigin::start().await;
    let gw =
        TestGateway::start(|raw| raw.cors.allowed_origins = vec!["https://dash.example.com".into()]).await;
    gw.fake.always(Reply::Json(200, r#"{"series":[{"name":"secret-series"}]}"#));
    browser.client.goto(&page.origin).await.unwrap();
    let url = format!("{}/api/v2/metrics/timeseries", gw.url);
    let body = r#"{"site_id":"blog","from":1,"to":2,"select":[{"name":"n","tags":{},"field":"MEAN"}]}"#;
    // A JSON POST needs a preflight, which grants this origin nothing.
    let json =
        format!("{{ method: 'POST', headers: {{ 'Content-Type': 'application/json' }}, body: {body:?} }}");
    let fetched = browser.run(&fetch_script(&url, &json)).await;
    assert!(fetched["thrown"].as_str().is_some_and(|e| e.contains("TypeError")), "not blocked: {fetched}");
    // A simple POST (text/plain, no preflight) is sent, refused 415 before any work, and
    // unreadable; `no-cors` gives an opaque answer.
    for options in [
        format!("{{ method: 'POST', body: {body:?} }}"),
        format!("{{ method: 'POST', mode: 'no-cors', body: {body:?} }}"),
    ] {
        let simple = browser.run(&fetch_script(&url, &options)).await;
        assert!(!simple.to_string().contains("secret-series"), "{simple}");
        assert!(simple["thrown"].is_string() || simple["status"] == 0, "{simple}");
    }
    assert_eq!(gw.fake.count(), 0, "no query reached AppSignal");
    browser.close().await;
}

#[tokio::test]
async fn a_bearer_key_passes_its_preflight_and_reads() {
    const KEY: &str = "browser-key-0123456789abcdef";
    let Some(browser) = Browser::start().await else { return };
    let page = PageOrigin::start().await;
    let gw = gateway_for(&page, Some(KEY)).await;
    browser.client.goto(&page.origin).await.unwrap();
    let url = format!("{}/api/blog/samples.json?limit=2", gw.url);
    let options =
        format!(r#"{{ headers: {{ Authorization: "Bearer {KEY}", "Content-Type": "application/json" }} }}"#);
    let read = browser.run(&fetch_script(&url, &options)).await;
    assert_eq!(read["status"], 200, "{read}");
    // Not from the browser's cache, which would hand back the keyed answer above.
    let without = browser.run(&fetch_script(&url, r#"{ cache: "no-store" }"#)).await;
    assert_eq!(without["status"], 401, "{without}");
    assert_eq!(without["wwwAuthenticate"], "Bearer", "the page can tell a missing key: {without}");
    browser.close().await;
}

#[tokio::test]
async fn a_jsonp_widget_loads_by_script_tag() {
    let Some(browser) = Browser::start().await else { return };
    let page = PageOrigin::start().await;
    let gw = gateway_for(&page, None).await;
    browser.client.goto(&page.origin).await.unwrap();
    let loaded = browser.run(&jsonp_script(&format!("{}/api/blog/samples.json?limit=2", gw.url), "")).await;
    assert_eq!(loaded["called"], true, "{loaded}");
    assert!(loaded["data"]["error"].is_null(), "{loaded}");
    // An error reaches the page's callback with its status, not as a script error event.
    let bad = browser.run(&jsonp_script(&format!("{}/api/blog/samples.json?limit=5000", gw.url), "")).await;
    assert_eq!(bad["called"], true, "{bad}");
    assert_eq!(bad["data"]["error"]["status"], 400, "{bad}");
    browser.close().await;
}

#[tokio::test]
async fn the_browser_cache_revalidates_with_if_none_match_once_stale() {
    let Some(browser) = Browser::start().await else { return };
    let page = PageOrigin::start().await;
    let origin = page.origin.clone();
    let gw = TestGateway::start(move |raw| {
        raw.cors.allowed_origins = vec![origin];
        raw.cache.ttl.list = "1s".into();
    })
    .await;
    gw.fake.always(Reply::Json(200, "{\"count\":1,\"log_entries\":[]}"));
    browser.client.goto(&page.origin).await.unwrap();
    let url = format!("{}/api/blog/samples.json?limit=3", gw.url);
    // Fresh by max-age: answered from the browser's cache; stale: revalidated.
    let script = format!(
        r#"
  const get = async () => {{ const r = await fetch({url:?}); await r.text(); return r.status; }};
  const a = await get();
  const b = await get();
  await new Promise((r) => setTimeout(r, 2200));
  const c = await get();
  return [a, b, c];"#
    );
    let statuses = browser.run(&script).await;
    assert_eq!(statuses, serde_json::json!([200, 200, 200]), "{statuses}");
    let metrics = support::send(http::Method::GET, &format!("{}/metrics", gw.admin_url), &[]).await.text();
    assert!(
        metrics.contains("requests_total{route=\"samples\",status=\"304\"} 1"),
        "the browser did not revalidate with If-None-Match:\n{metrics}"
    );
    assert!(metrics.contains("requests_total{route=\"samples\",status=\"200\"} 1"), "{metrics}");
    browser.close().await;
}

#[tokio::test]
async fn the_demo_dashboard_renders_with_no_console_errors() {
    let Some(browser) = Browser::start().await else { return };
    let mut process = open_demo_dashboard(&browser).await;
    let state = browser
        .run(
            r##"
  const until = async (test) => { for (let i = 0; i < 200 && !test(); i++) await new Promise((r) => setTimeout(r, 50)); };
  await until(() => document.querySelector("#errors tbody") && document.querySelector("#chart svg")
                     && document.getElementById("slow-count") && document.querySelector("#v2-chart svg")
                     && document.querySelector("#v2-logs-table tbody"));
  return { rows: document.querySelectorAll("#errors tbody tr").length,
           lines: document.querySelectorAll("#chart polyline").length,
           deploys: document.querySelectorAll("#chart line.deploy").length,
           slow: (document.getElementById("slow-count") || {}).textContent,
           slowWindow: (document.getElementById("slow-window") || {}).textContent,
           v2Lines: document.querySelectorAll("#v2-chart polyline").length,
           v2Points: (document.querySelector("#v2-chart polyline") || { getAttribute: () => "" })
             .getAttribute("points").split(" ").length,
           v2Cache: document.getElementById("v2-chart-meta").textContent,
           v2LogRows: [...document.querySelectorAll("#v2-logs-table tbody tr")].map((r) => r.children[1].textContent),
           failures: [...document.querySelectorAll(".state.error")].map((e) => e.textContent),
           html: document.documentElement.outerHTML };"##,
        )
        .await;
    let path = browser.screenshot("demo-dashboard").await;
    eprintln!("screenshot: {}", path.display());
    assert!(state["rows"].as_u64().unwrap_or(0) > 0, "no error rows: {}", state["failures"]);
    assert_eq!(state["lines"], 2, "mean and 90th percentile: {}", state["failures"]);
    assert!(state["deploys"].as_u64().unwrap_or(0) > 0, "no deploy markers");
    assert!(state["slow"].as_str().is_some_and(|s| s.parse::<u64>().is_ok()), "JSONP widget: {state:?}");
    let window = state["slowWindow"].as_str().unwrap_or_default();
    assert!(window.contains("in the last 24 hours (since "), "the card says which window: {window:?}");
    // The V2 widgets: a timeseries of the last hour (mean and p95, a point a minute) and
    // the latest error lines, each POSTed by fetch through the gateway.
    assert_eq!(state["v2Lines"], 2, "mean and p95: {}", state["failures"]);
    assert!(state["v2Points"].as_u64().unwrap_or(0) >= 59, "a point a minute: {state:?}");
    let cache = state["v2Cache"].as_str().unwrap_or_default();
    assert!(cache.starts_with("Cache-Status: appsignal-gateway;"), "its Cache-Status is shown: {cache:?}");
    let severities = state["v2LogRows"].as_array().unwrap();
    assert!(!severities.is_empty() && severities.iter().all(|s| s == "error"), "{severities:?}");
    assert_eq!(state["failures"], serde_json::json!([]));
    let errors: Vec<Value> =
        browser.console().await.into_iter().filter(|entry| entry["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    assert!(!state["html"].as_str().unwrap().contains("demo-"), "the demo token is in the page");
    browser.close().await;
    assert!(process.terminate().success());
}

/// The demo dashboard's incident table: open exception incidents read from AppSignal's
/// GraphQL through the `ExceptionIncidents` GET route, each number linking to its own
/// `Incident` call, rendered with no console error (the page's CSP allows it all).
#[tokio::test]
async fn the_demo_dashboards_incident_table_renders_with_no_console_errors() {
    let Some(browser) = Browser::start().await else { return };
    let mut process = open_demo_dashboard(&browser).await;
    let state = browser
        .run(
            r##"
  const until = async (test) => { for (let i = 0; i < 200 && !test(); i++) await new Promise((r) => setTimeout(r, 50)); };
  await until(() => document.querySelector("#incident-table tbody") || document.querySelector("#incidents .state.error"));
  const rows = [...document.querySelectorAll("#incident-table tbody tr")];
  const first = rows.length ? rows[0].querySelector("a").href : null;
  let linked = null;
  if (first) { const res = await fetch(first); linked = { status: res.status, body: await res.json() }; }
  return { headers: [...document.querySelectorAll("#incident-table th")].map((th) => th.textContent),
           cells: rows.map((tr) => [...tr.children].map((td) => td.textContent)),
           links: rows.map((tr) => tr.querySelector("a").href),
           severities: rows.map((tr) => tr.querySelector(".sev").textContent),
           linked,
           failures: [...document.querySelectorAll(".state.error")].map((e) => e.textContent),
           html: document.documentElement.outerHTML };"##,
        )
        .await;
    let path = browser.screenshot("demo-dashboard-incidents").await;
    eprintln!("screenshot: {}", path.display());
    assert_eq!(state["failures"], serde_json::json!([]), "{}", state["failures"]);
    assert_eq!(
        state["headers"],
        serde_json::json!(["#", "Exception", "Action", "Count", "Last seen", "Severity"])
    );
    let cells = state["cells"].as_array().unwrap();
    assert!(!cells.is_empty(), "no incident rows");
    for (row, link) in cells.iter().zip(state["links"].as_array().unwrap()) {
        let number = row[0].as_str().unwrap().trim_start_matches('#');
        assert!(number.parse::<u32>().is_ok(), "{row}");
        assert!(row[3].as_str().unwrap().parse::<u32>().is_ok_and(|n| n > 0), "a count: {row}");
        let expected = format!("/api/blog/graphql/Incident.json?incidentNumber={number}");
        assert!(link.as_str().unwrap().ends_with(&expected), "{link} links to its incident");
    }
    assert!(state["severities"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s.as_str().is_some_and(|s| !s.is_empty())));
    let linked = &state["linked"];
    assert_eq!(linked["status"], 200, "{linked}");
    let incident = &linked["body"]["data"]["app"]["incident"];
    assert_eq!(format!("#{}", incident["number"]), cells[0][0].as_str().unwrap(), "{linked}");
    assert_eq!(incident["state"], "OPEN");
    let errors: Vec<Value> =
        browser.console().await.into_iter().filter(|entry| entry["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    assert!(!state["html"].as_str().unwrap().contains("demo-"), "the demo token is in the page");
    browser.close().await;
    assert!(process.terminate().success());
}

/// A test that panics with a browser open leaves no Chromium or chromedriver running.
#[tokio::test]
async fn a_panicking_test_leaves_no_browser_behind() {
    let Some(browser) = Browser::start().await else { return };
    let page = PageOrigin::start().await;
    browser.client.goto(&page.origin).await.unwrap();
    let group = browser.process_group();
    assert!(live_members(group) >= 2, "chromedriver and Chromium run in the group");
    let failing = tokio::spawn(async move {
        let _browser = browser;
        panic!("a failing browser test");
    });
    assert!(failing.await.unwrap_err().is_panic());
    // SIGKILL is delivered at once but takes effect as each process is scheduled.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while live_members(group) > 0 {
        assert!(std::time::Instant::now() < deadline, "browser processes outlived the test");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Processes of process group `group` that are not zombies, from /proc.
fn live_members(group: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // After "pid (comm)": state, ppid, pgrp.
            let fields: Vec<&str> =
                stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == group.to_string()
        })
        .count()
}

/// Starts the demo on free ports and opens its dashboard in `browser`; the demo runs
/// until the returned process is stopped.
async fn open_demo_dashboard(browser: &Browser) -> support::binary::Process {
    let process = support::binary::Process::spawn(&["demo", "--listen", "127.0.0.1:0"], &[]);
    let line = process.wait_line(|l| l.trim_start().starts_with("dashboard: http://"));
    let dashboard =
        line.trim().trim_start_matches("dashboard: ").split_whitespace().next().unwrap().to_owned();
    browser.client.goto(&dashboard).await.unwrap();
    process
}
