//! The simulated AppSignal's Public API V2: every route the gateway forwards, answered
//! from the same generated world as the REST API (an app's mean response time moves with
//! its deploys), honouring the body's window, selectors, tags and pagination.
//!
//! Values are a function of (app, metric, field, time), so a window asked twice answers
//! the same, and two overlapping windows agree where they overlap.

use std::collections::HashMap;

use http::StatusCode;
use serde_json::{json, Value};

use super::data::{iso, AppData, Rng, ACTIONS, EXCEPTIONS};

/// The metrics the simulation knows, with their type and tag sets.
const METRICS: &[(&str, &str, &[&str])] = &[
    ("transaction_duration", "MEASUREMENT", &["namespace", "action"]),
    ("cpu", "GAUGE", &["hostname"]),
    ("memory", "GAUGE", &["hostname"]),
    ("background_jobs", "COUNTER", &["queue"]),
];
/// The most points one series holds, whatever the window.
const MAX_POINTS: i64 = 1440;
/// Log lines: one every this many seconds, in each source.
const LOG_EVERY: i64 = 17;

/// The answer to `POST /api/v2/{route}` with `body` (already parsed), or to the lookup
/// `GET /api/v2/{route}`; `None` when no such route.
pub fn answer(
    apps: &HashMap<String, AppData>,
    route: &str,
    body: &Value,
    now: i64,
) -> Option<(StatusCode, Value)> {
    let not_found = || (StatusCode::NOT_FOUND, json!({ "error": "not_found", "message": "No such site" }));
    if let Some(site) = route.strip_prefix("metrics/names/") {
        return Some(match apps.contains_key(site) {
            true => (StatusCode::OK, json!(METRICS.iter().map(|m| m.0).collect::<Vec<_>>())),
            false => not_found(),
        });
    }
    if let Some((site, metric)) = route.strip_prefix("metrics/type_and_tags/").and_then(|r| r.split_once('/'))
    {
        let metric = percent_encoding::percent_decode_str(metric).decode_utf8_lossy();
        return Some(match (apps.contains_key(site), METRICS.iter().find(|m| m.0 == metric)) {
            (true, Some((_, kind, tags))) => {
                (StatusCode::OK, json!({ "metric_type": kind, "available_tags": [tags] }))
            }
            _ => not_found(),
        });
    }
    // `site_id`, or every one of `site_ids`, must be a site of the account.
    let sites: Vec<&str> = match (&body["site_id"], body["site_ids"].as_array()) {
        (Value::String(site), _) => vec![site],
        (_, Some(ids)) => ids.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let Some(found) = sites.iter().map(|s| apps.get(*s).map(|a| (*s, a))).collect::<Option<Vec<_>>>() else {
        return Some(not_found());
    };
    let Some(&(site, app)) = found.first() else {
        return Some((StatusCode::BAD_REQUEST, json!({ "error": "bad_request", "message": "no site" })));
    };
    let window = Window::of(body, now);
    let answer = match route {
        "metrics/timeseries" => timeseries(app, body, window),
        "metrics/list" => list(app, body, window),
        "logs/lines" => logs(app, body, window),
        "tracing/traces/performance" | "tracing/traces/errors" => {
            traces(&found, body, window, route.ends_with("errors"))
        }
        "tracing/trace" | "tracing/trace/performance" | "tracing/trace/error" => spans(site, body),
        "tracing/locator" => locator(site, body),
        "tracing/actions" => actions(app, body, window),
        "deploys/stats" => deploy_stats(app, body, window),
        _ => return None,
    };
    Some((StatusCode::OK, answer))
}

/// A body's `from` and `to`, in Unix seconds (the last day to now when absent).
#[derive(Debug, Clone, Copy)]
struct Window {
    from: i64,
    to: i64,
}

impl Window {
    fn of(body: &Value, now: i64) -> Self {
        let to = time(&body["to"]).unwrap_or(now);
        Window { from: time(&body["from"]).unwrap_or(to - 86_400), to }
    }

    fn contains(self, t: i64) -> bool {
        self.from <= t && t <= self.to
    }
}

fn time(value: &Value) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => time::OffsetDateTime::parse(s, &Rfc3339).ok().map(|t| t.unix_timestamp()),
        _ => None,
    }
}

/// The milliseconds of an RFC 3339 time (`cursor.time` keeps them).
fn time_ms(value: &Value) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(value.as_str()?, &Rfc3339).ok()?;
    Some(t.unix_timestamp() * 1000 + i64::from(t.millisecond()))
}

fn iso_ms(ms: i64) -> String {
    let seconds = iso(ms.div_euclid(1000));
    format!("{}.{:03}Z", seconds.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// A reproducible number in [0, 1) for these inputs.
fn noise(seed: u64, parts: &[&str], t: i64) -> f64 {
    let mut h = seed ^ (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for part in parts {
        for b in part.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    }
    Rng::new(h).unit()
}

/// One metric's value for `field` at `t`, tags folded into the noise.
fn value(app: &AppData, name: &str, tags: &str, field: &str, t: i64) -> f64 {
    let n = noise(app.seed(), &[name, tags, field], t / 60);
    let daily = 1.0 + 0.25 * ((t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU).sin();
    let v = match (name, field.to_ascii_lowercase().as_str()) {
        ("transaction_duration", "count") => 30.0 * daily * (0.7 + 0.6 * n),
        ("transaction_duration", "p95") => app.mean_at(t) * 2.6 * (0.85 + 0.3 * n),
        ("transaction_duration", "p90") => app.mean_at(t) * 2.0 * (0.85 + 0.3 * n),
        ("transaction_duration", _) => app.mean_at(t) * daily * (0.9 + 0.2 * n),
        ("cpu", _) => 20.0 + 50.0 * daily * n,
        ("memory", _) => 900.0 + 200.0 * n,
        _ => 10.0 * daily * n,
    };
    (v * 100.0).round() / 100.0
}

/// `name;k=v;k=v`: a selector's identity, its tags sorted.
fn tags_text(tags: &Value) -> String {
    let mut pairs: Vec<String> = tags
        .as_object()
        .map(|t| t.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect())
        .unwrap_or_default();
    pairs.sort();
    pairs.join(";")
}

fn step(resolution: Option<&str>, window: Window) -> (i64, &'static str) {
    match resolution.map(str::to_ascii_uppercase).as_deref() {
        Some("HOURLY") => (3600, "HOURLY"),
        Some("DAILY") => (86_400, "DAILY"),
        Some(_) => (60, "MINUTELY"),
        None if window.to - window.from > 6 * 3600 => (3600, "HOURLY"),
        None => (60, "MINUTELY"),
    }
}

fn timeseries(app: &AppData, body: &Value, window: Window) -> Value {
    let (step, resolution) = step(body["resolution"].as_str(), window);
    // The first point on the step's grid at or after `from`.
    let first = window.from + (step - window.from.rem_euclid(step)) % step;
    let limit = body["limit"].as_u64().unwrap_or(u64::MAX) as usize;
    let series: Vec<Value> = body["select"]
        .as_array()
        .into_iter()
        .flatten()
        .take(limit)
        .map(|selector| {
            let name = selector["name"].as_str().unwrap_or("");
            let field = selector["field"].as_str().unwrap_or("mean");
            let tags = tags_text(&selector["tags"]);
            let known = METRICS.iter().any(|m| m.0 == name);
            let data: Vec<Value> = (0..MAX_POINTS)
                .map(|i| first + i * step)
                .take_while(|t| *t <= window.to)
                .filter(|_| known)
                .map(|t| json!({ "timestamp": iso(t), "value": value(app, name, &tags, field, t) }))
                .collect();
            let values = data.iter().filter_map(|p| p["value"].as_f64());
            let (min, max) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
            json!({
                "id": format!("{name}/{tags}/{field}"), "name": name, "tags": selector["tags"],
                "field": field, "min": if data.is_empty() { Value::Null } else { json!(min) },
                "max": if data.is_empty() { Value::Null } else { json!(max) }, "data": data
            })
        })
        .collect();
    json!({ "resolution": resolution, "from": iso(window.from), "to": iso(window.to), "series": series })
}

fn list(app: &AppData, body: &Value, window: Window) -> Value {
    let by_action = body["group_by"].as_array().is_some_and(|g| g.iter().any(|e| e["Tag"] == "action"));
    let groups: Vec<Value> = match by_action {
        true => ACTIONS.iter().map(|(action, _)| json!({ "action": action, "namespace": "web" })).collect(),
        false => vec![json!({})],
    };
    let limit = body["limit"].as_u64().unwrap_or(100) as usize;
    let rows: Vec<Value> = groups
        .into_iter()
        .take(limit)
        .map(|group| {
            let mut data = serde_json::Map::new();
            for selector in body["select"].as_array().into_iter().flatten() {
                let name = selector["name"].as_str().unwrap_or("");
                let field = selector["field"].as_str().unwrap_or("mean");
                let key = selector["id"].as_str().unwrap_or(name);
                let tags = format!("{};{}", tags_text(&selector["tags"]), tags_text(&group));
                data.insert(key.to_owned(), json!(value(app, name, &tags, field, window.to)));
            }
            json!({ "group": group, "data": data })
        })
        .collect();
    json!({ "rows": rows })
}

/// The generated line at `t` from `source`.
fn log_line(app: &AppData, source: &str, t_ms: i64) -> Value {
    let n = noise(app.seed(), &[source], t_ms);
    let (severity, message) = match (n * 100.0) as u32 {
        0..=11 => (
            "error",
            format!(
                "{} in {}",
                EXCEPTIONS[(n * 1000.0) as usize % EXCEPTIONS.len()],
                ACTIONS[(n * 10_000.0) as usize % ACTIONS.len()].0
            ),
        ),
        12..=24 => ("warn", format!("slow query: {} ms", 200 + (n * 10_000.0) as u32 % 800)),
        _ => ("info", format!("Completed 200 OK in {} ms", 5 + (n * 10_000.0) as u32 % 300)),
    };
    json!({
        "id": format!("{:016x}", (n * 1e15) as u64), "timestamp": iso_ms(t_ms), "source_id": source,
        "severity": severity, "hostname": "web-1", "group": "rails", "message": message, "attributes": {}
    })
}

/// Whether a line passes the (small subset of the) query language the demo knows:
/// `severity=x` or `severity=[x,y]`, and bare words the message must contain.
fn matches(line: &Value, query: &str) -> bool {
    query.split_whitespace().all(|term| match term.split_once('=') {
        Some(("severity", want)) => {
            let have = line["severity"].as_str().unwrap_or("");
            want.trim_matches(|c| c == '[' || c == ']').split(',').any(|w| w.eq_ignore_ascii_case(have))
        }
        Some(_) => true,
        None => line["message"].as_str().is_some_and(|m| m.contains(term)),
    })
}

fn logs(app: &AppData, body: &Value, window: Window) -> Value {
    let sources: Vec<&str> =
        body["source_ids"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let query = body["query"].as_str().unwrap_or("");
    let per_page = body["pagination"]["per_page"].as_u64().unwrap_or(50).min(100) as usize;
    let descending = body["pagination"]["order"] != "ASC";
    let cursor = time_ms(&body["pagination"]["cursor"]["time"]);
    let (from_ms, to_ms) = (window.from * 1000, window.to * 1000);
    let every = LOG_EVERY * 1000;
    // Walk the window's grid from the cursor (inclusive, as AppSignal's is) in order.
    let mut lines = Vec::new();
    let start = match descending {
        true => cursor.unwrap_or(to_ms).min(to_ms),
        false => cursor.unwrap_or(from_ms).max(from_ms),
    };
    let mut t = start - start.rem_euclid(every) + if descending || start % every == 0 { 0 } else { every };
    let mut scanned = 0;
    while lines.len() < per_page && (from_ms..=to_ms).contains(&t) && scanned < 20_000 {
        for source in &sources {
            let at = t + (noise(app.seed(), &[source], t) * 900.0) as i64;
            let line = log_line(app, source, at);
            if matches(&line, query) && lines.len() < per_page {
                lines.push(line);
            }
        }
        t += if descending { -every } else { every };
        scanned += 1;
    }
    Value::Array(lines)
}

/// The trace ids of a site's window: one a minute per action.
fn trace_at(site: &str, action: &str, t: i64) -> String {
    format!("{:032x}", (noise(0x7ACE, &[site, action], t) * 1e30) as u128)
}

fn traces(found: &[(&str, &AppData)], body: &Value, window: Window, errors: bool) -> Value {
    let per_page = body["pagination"]["per_page"].as_u64().unwrap_or(25).min(100) as usize;
    let namespace = body["namespace"].as_str();
    let action_name = body["action_name"].as_str();
    let digests: Vec<&str> =
        body["digests"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut out = Vec::new();
    let mut t = window.to - window.to.rem_euclid(60);
    while out.len() < per_page && t >= window.from && window.contains(t) {
        for (site, app) in found {
            for (i, (action, _)) in ACTIONS.iter().enumerate() {
                let digest = format!("d{i:03}{}", if errors { "e" } else { "p" });
                let wanted = action_name.is_none_or(|a| a == *action)
                    && namespace.is_none_or(|n| n == "web")
                    && (digests.is_empty() || digests.contains(&digest.as_str()));
                if !wanted || out.len() >= per_page || (errors && noise(app.seed(), &[action], t) > 0.2) {
                    continue;
                }
                out.push(json!({
                    "span_id": format!("{:016x}", t as u64 ^ i as u64), "trace_id": trace_at(site, action, t),
                    "site_id": site, "namespace": "web", "revision": "abc123", "action_name": action,
                    "time": iso(t), "duration": (app.mean_at(t) * (0.5 + noise(app.seed(), &[action, "d"], t))).round(),
                    "tags": {}, "has_npo": noise(app.seed(), &[action, "npo"], t) < 0.05, "digest": digest
                }));
            }
        }
        t -= 60;
    }
    Value::Array(out)
}

fn spans(site: &str, body: &Value) -> Value {
    let trace_id = body["trace_id"].as_str().unwrap_or("");
    let names = ["process_action.rails", "sql.active_record", "render_template.action_view"];
    let spans: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "trace_id": trace_id, "span_id": format!("{trace_id:.8}{i:08x}"),
                "parent_span_id": if i == 0 { String::new() } else { format!("{trace_id:.8}{:08x}", 0) },
                "site_id": site, "namespace": "web", "span_name": name, "span_kind": if i == 0 { "server" } else { "internal" },
                "duration": 40 / (i + 1), "status_code": "ok", "span_attributes": {}, "resource_attributes": {}
            })
        })
        .collect();
    Value::Array(spans)
}

fn locator(site: &str, body: &Value) -> Value {
    let known = !body["trace_id"].as_str().unwrap_or("").is_empty();
    let performance: Vec<Value> = known
        .then(|| json!({ "site_id": site, "namespace": "web", "action_name": ACTIONS[0].0 }))
        .into_iter()
        .collect();
    json!({ "performance": performance, "errors": [] })
}

fn actions(app: &AppData, body: &Value, window: Window) -> Value {
    let namespaces: Vec<&str> =
        body["namespaces"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let only = body["action"].as_str();
    let rows: Vec<Value> = ACTIONS
        .iter()
        .enumerate()
        .filter(|(_, (action, _))| only.is_none_or(|a| a == *action))
        .filter(|_| namespaces.is_empty() || namespaces.contains(&"web"))
        .map(|(i, (action, _))| {
            let n = noise(app.seed(), &[action], window.from / 3600);
            json!({
                "namespace": "web", "action": action, "digest": format!("d{i:03}p"),
                "mean": (app.mean_at(window.to) * (0.6 + 0.8 * n)).round(),
                "throughput": ((window.to - window.from).max(60) / 60) as f64 * (1.0 + n),
                "error_rate": (n * 500.0).round() / 100.0, "has_npo": n < 0.1
            })
        })
        .collect();
    Value::Array(rows)
}

fn deploy_stats(app: &AppData, body: &Value, window: Window) -> Value {
    let revision = body["revision"].as_str().unwrap_or("");
    let n = noise(app.seed(), &[revision], 0);
    json!({
        "throughput": (((window.to - window.from).max(60) / 60) as f64 * (1.0 + n)).round(),
        "mean": app.mean_at(window.to).round(), "error_rate": (n * 300.0).round() / 100.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> HashMap<String, AppData> {
        HashMap::from([("a1".to_owned(), AppData::generate(1, 1_800_000_000))])
    }

    #[test]
    fn timeseries_honours_the_window_selectors_and_tags() {
        let body = json!({ "site_id": "a1", "from": "2027-01-15T07:00:00Z", "to": "2027-01-15T08:00:00Z",
            "select": [{ "name": "transaction_duration", "tags": { "namespace": "web" }, "field": "MEAN" },
                       { "name": "transaction_duration", "tags": { "namespace": "web" }, "field": "P95" }] });
        let (status, answer) = answer(&world(), "metrics/timeseries", &body, 0).unwrap();
        assert_eq!(status, 200);
        assert_eq!(answer["resolution"], "MINUTELY");
        let series = answer["series"].as_array().unwrap();
        assert_eq!(series.len(), 2);
        let data = series[0]["data"].as_array().unwrap();
        assert_eq!(data.len(), 61, "one point a minute, both ends in");
        assert_eq!(data[0]["timestamp"], "2027-01-15T07:00:00Z");
        assert!(series[1]["min"].as_f64() > series[0]["min"].as_f64(), "p95 above the mean");
        let again = super::answer(&world(), "metrics/timeseries", &body, 0).unwrap().1;
        assert_eq!(again, answer, "the same window answers the same");
    }

    #[test]
    fn log_lines_page_with_an_inclusive_cursor_and_filter() {
        let body = |cursor: Value| {
            json!({ "site_id": "a1", "source_ids": ["s1", "s2"], "query": "severity=error",
            "from": "2027-01-15T00:00:00Z", "to": "2027-01-15T08:00:00Z",
            "pagination": { "per_page": 5, "order": "DESC", "cursor": { "time": cursor } } })
        };
        let first = answer(&world(), "logs/lines", &body(Value::Null), 0).unwrap().1;
        let lines = first.as_array().unwrap();
        assert_eq!(lines.len(), 5);
        assert!(lines.iter().all(|l| l["severity"] == "error"));
        let last = lines[4]["timestamp"].clone();
        let next = answer(&world(), "logs/lines", &body(last.clone()), 0).unwrap().1;
        assert!(next.as_array().unwrap().iter().all(|l| l["timestamp"].as_str() <= last.as_str()));
    }

    #[test]
    fn a_foreign_site_is_404_and_every_route_answers() {
        let foreign = json!({ "site_ids": ["a1", "nope"], "trace_id": "t" });
        assert_eq!(answer(&world(), "tracing/trace", &foreign, 0).unwrap().0, 404);
        let one = json!({ "site_id": "a1", "site_ids": ["a1"], "trace_id": "t", "revision": "r",
            "from": 1_799_990_000, "to": 1_800_000_000, "select": [], "source_ids": ["s"], "query": "",
            "pagination": { "per_page": 3, "order": "DESC" } });
        for route in [
            "metrics/list",
            "tracing/traces/performance",
            "tracing/traces/errors",
            "tracing/trace/performance",
            "tracing/trace/error",
            "tracing/locator",
            "tracing/actions",
            "deploys/stats",
            "metrics/names/a1",
            "metrics/type_and_tags/a1/cpu",
        ] {
            assert_eq!(answer(&world(), route, &one, 0).unwrap().0, 200, "{route}");
        }
        assert!(answer(&world(), "kubernetes/x", &one, 0).is_none());
        let performance = answer(&world(), "tracing/traces/performance", &one, 0).unwrap().1;
        assert_eq!(performance.as_array().unwrap().len(), 3, "per_page");
    }
}
