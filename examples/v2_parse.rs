//! What a V2 body costs to parse, check and write canonically (`v2::canonical`, the step a
//! V2 POST adds to a hit): a normal `metrics/timeseries` body against hostile bodies of
//! about 64 KiB (deep nesting, a 10^4-entry array, a huge number, invalid UTF-8, a duplicate
//! tag, padding). Prints ns per body and the ratio to the normal one.
//!
//!   cargo run --release --example v2_parse

use std::sync::Arc;
use std::time::{Duration, Instant};

use appsignal_gateway::route::{App, Apps};
use appsignal_gateway::v2::{canonical, BodyKind, Cx};

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let select = r#"[{"name":"transaction_duration","tags":{"namespace":"web"},"field":"MEAN"},{"name":"transaction_duration","tags":{"namespace":"web"},"field":"P95"}]"#;
    let normal = format!(r#"{{"site_id":"blog","from":1700000000,"to":1700003600,"select":{select}}}"#);
    let size = 64 * 1024;
    let deep = format!(r#"{{"site_id":"blog","select":{}"#, "[".repeat(size - 30));
    let mut array = String::from(r#"{"site_id":"blog","from":1,"to":2,"select":["#);
    while array.len() < size - 8 {
        array.push_str("{},");
    }
    array.push_str("{}]}");
    let huge = format!(r#"{{"site_id":"blog","from":{},"to":2,"select":{select}}}"#, "9".repeat(size - 200));
    let mut utf8 = normal.clone().into_bytes();
    utf8.splice(12..12, std::iter::repeat_n(0xFF, size - normal.len()));
    let duplicate = format!(
        r#"{{"site_id":"blog","from":1,"to":2,"select":[{{"name":"n","tags":{{"a":"1","a":"{}"}},"field":"MEAN"}}]}}"#,
        "x".repeat(400)
    );
    let padded = format!("{}{normal}", " ".repeat(size - normal.len()));
    // The largest legal body of about the same size: 32 selectors of 16 long tags each.
    let tags: Vec<String> = (0..16).map(|j| format!(r#""tag{j}":"{}""#, "v".repeat(100))).collect();
    let selector =
        format!(r#"{{"name":"transaction_duration","tags":{{{}}},"field":"MEAN"}}"#, tags.join(","));
    let selectors: Vec<&str> = (0..32).map(|_| selector.as_str()).collect();
    let large = format!(
        r#"{{"site_id":"blog","from":1700000000,"to":1700003600,"select":[{}]}}"#,
        selectors.join(",")
    );
    vec![
        ("normal (210 B)", normal.into_bytes()),
        ("normal, 32 selectors of 16 tags", large.into_bytes()),
        ("64 KiB deep nesting", deep.into_bytes()),
        ("64 KiB array of 21 845 entries", array.into_bytes()),
        ("64 KiB number", huge.into_bytes()),
        ("64 KiB invalid UTF-8", utf8),
        ("duplicate tag", duplicate.into_bytes()),
        ("64 KiB whitespace, then the normal body", padded.into_bytes()),
    ]
}

fn main() {
    let apps = Apps::new(vec![App { id: Arc::from("5114f7e38c5ce90000000011"), name: Some("blog".into()) }]);
    let cx =
        Cx { apps: &apps, max_range: Duration::from_secs(31 * 86_400), align: Some(Duration::from_secs(30)) };
    let mut normal_ns = 0.0;
    println!("{:<42} {:>8} {:>12} {:>8}  outcome", "body", "bytes", "ns/body", "× normal");
    for (name, body) in bodies() {
        let outcome = match canonical(BodyKind::Timeseries, &body, &cx) {
            Ok(_) => "canonical".to_owned(),
            Err(e) => format!("{e:?}").chars().take(60).collect(),
        };
        // Enough rounds for ~0.3 s each.
        let start = Instant::now();
        let mut rounds = 0u32;
        while start.elapsed() < Duration::from_millis(300) {
            std::hint::black_box(canonical(BodyKind::Timeseries, std::hint::black_box(&body), &cx).is_ok());
            rounds += 1;
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(rounds);
        if normal_ns == 0.0 {
            normal_ns = ns;
        }
        println!("{name:<42} {:>8} {ns:>12.0} {:>8.1}  {outcome}", body.len(), ns / normal_ns);
    }
}
