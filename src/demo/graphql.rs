//! The simulated AppSignal's GraphQL API: the built-in operations, answered by name.
//!
//! Incidents are the demo's own samples grouped as AppSignal groups them (an exception
//! incident per exception and action, a performance incident per action with slow requests),
//! numbered in the order they first occurred; deploy markers are the demo's deploys. So the
//! incident table, the error list and the chart tell one story. Every object carries its
//! `__typename`, which Apollo Client's cache reads. An enum value AppSignal does not know
//! (`state=SOMETIMES`) matches nothing instead of being AppSignal's 400: the gateway checks
//! an enum variable only as an identifier, and the demo answers whatever it lets through. An operation other than the built-in
//! ones is answered with a GraphQL error, `data: null`, as AppSignal answers a document it
//! cannot run.

use std::collections::HashMap;

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::data::{iso, AppData, Marker, Sample};

/// A request slower than this (milliseconds) makes its action a performance incident.
const SLOW_MS: f64 = 500.0;

/// Answers one `POST /graphql` body for the apps in `apps`, at `now` (Unix seconds).
pub fn answer(apps: &HashMap<String, AppData>, body: &[u8], now: i64) -> (StatusCode, Value) {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return refused(StatusCode::BAD_REQUEST, "The request body is not JSON".into());
    };
    let query = request["query"].as_str().unwrap_or_default();
    let name = request["operationName"].as_str().map(str::to_owned).or_else(|| operation_name(query));
    let vars = request["variables"].as_object().cloned().unwrap_or_default();
    let Some(app) = vars.get("appId").and_then(Value::as_str).and_then(|id| apps.get(id).map(|a| (id, a)))
    else {
        return (StatusCode::OK, json!({ "data": { "app": null } }));
    };
    let (id, data) = app;
    let world = World::new(data, now);
    let field = match name.as_deref() {
        Some("ExceptionIncidents") => json!({
            "paginatedExceptionIncidents": paginated("PaginatedExceptionIncidents", world.exceptions, &vars, now)
        }),
        Some("PerformanceIncidents") => json!({
            "paginatedPerformanceIncidents": paginated("PaginatedPerformanceIncidents", world.slow, &vars, now)
        }),
        Some("Incident") => {
            let number = vars.get("incidentNumber").and_then(Value::as_i64);
            let mut all = world.exceptions.into_iter().chain(world.slow);
            json!({ "incident": all.find(|i| number.is_some_and(|n| i["number"] == n)) })
        }
        Some("DeployMarkers") => json!({ "deployMarkers": deploys(world.deploys, &vars, now) }),
        other => {
            let message = format!(
                "The simulated AppSignal answers only the built-in operations (ExceptionIncidents, \
                 PerformanceIncidents, Incident, DeployMarkers), not {other:?}"
            );
            return refused(StatusCode::OK, message);
        }
    };
    let mut app = json!({ "__typename": "App", "id": id });
    if let (Value::Object(app), Value::Object(field)) = (&mut app, field) {
        app.extend(field);
    }
    (StatusCode::OK, json!({ "data": { "app": app } }))
}

fn refused(status: StatusCode, message: String) -> (StatusCode, Value) {
    (status, json!({ "data": null, "errors": [{ "message": message }] }))
}

/// The name after the first `query` keyword, for a request without `operationName`.
fn operation_name(query: &str) -> Option<String> {
    let rest = query.split_once("query")?.1.trim_start();
    let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

/// One app's incidents and deploys, newest first.
struct World {
    exceptions: Vec<Value>,
    slow: Vec<Value>,
    deploys: Vec<Value>,
}

/// Samples grouped into one incident.
struct Group<'a> {
    samples: Vec<&'a Sample>,
    exception: Option<&'static str>,
}

impl World {
    fn new(app: &AppData, now: i64) -> Self {
        let deploys: Vec<&Marker> = app.markers.iter().filter(|m| m.kind == "deploy").collect();
        let mut groups: HashMap<(Option<&'static str>, &'static str), Group> = HashMap::new();
        for sample in &app.samples {
            let slow = duration(sample) > SLOW_MS;
            if sample.exception.is_some() || slow {
                let group = groups.entry((sample.exception, sample.action));
                group
                    .or_insert(Group { samples: Vec::new(), exception: sample.exception })
                    .samples
                    .push(sample);
            }
        }
        // Numbered in the order they first occurred, as AppSignal numbers an app's incidents.
        let mut groups: Vec<Group> = groups.into_values().collect();
        groups.sort_by_key(|g| (first(g), g.samples[0].action, g.exception));
        let (mut exceptions, mut slow) = (Vec::new(), Vec::new());
        for (i, group) in groups.iter().enumerate() {
            let number = i as i64 + 1;
            match group.exception {
                Some(name) => exceptions.push(exception_incident(number, name, group, &deploys)),
                None => slow.push(performance_incident(number, group)),
            }
        }
        exceptions.reverse();
        slow.reverse();
        let deploys = deploy_markers(&deploys, app, now);
        World { exceptions, slow, deploys }
    }
}

fn duration(sample: &Sample) -> f64 {
    sample.detail["duration"].as_f64().unwrap_or(0.0)
}

fn first(group: &Group) -> i64 {
    group.samples.iter().map(|s| s.time).min().unwrap_or(0)
}

fn last(group: &Group) -> i64 {
    group.samples.iter().map(|s| s.time).max().unwrap_or(0)
}

/// An incident's state and severity, fixed by its number so every run shows the same.
fn state(number: i64) -> &'static str {
    match number % 6 {
        0 => "CLOSED",
        3 => "WIP",
        _ => "OPEN",
    }
}

fn severity(number: i64) -> &'static str {
    ["CRITICAL", "HIGH", "UNTRIAGED", "LOW", "HIGH", "NONE"][(number % 6) as usize]
}

fn common(typename: &str, number: i64, group: &Group) -> Map<String, Value> {
    let action = group.samples[0].action;
    let digest = group.samples[0].id.split('_').next().unwrap_or_default().to_owned();
    let fields = json!({
        "__typename": typename, "id": format!("incident-{number}"), "number": number,
        "state": state(number), "severity": severity(number), "count": group.samples.len(),
        "namespace": "web", "actionNames": [action], "description": null,
        "createdAt": iso(first(group)), "lastOccurredAt": iso(last(group)), "updatedAt": iso(last(group)),
        "digests": [digest],
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn exception_incident(number: i64, name: &str, group: &Group, deploys: &[&Marker]) -> Value {
    let mut incident = common("ExceptionIncident", number, group);
    let message = group.samples[0].detail["exception"]["message"].clone();
    let line = group.samples[0].detail["exception"]["backtrace"][0].clone();
    let marker = deploys.iter().rev().find(|m| m.time <= first(group)).map(|m| {
        let revision = m.json["revision"].clone();
        json!({ "__typename": "DeployMarker", "revision": revision, "shortRevision": revision,
                "createdAt": m.json["created_at"] })
    });
    incident.extend([
        ("exceptionName".to_owned(), json!(name)),
        ("exceptionMessage".to_owned(), message),
        ("firstBacktraceLine".to_owned(), line),
        ("scopedCount".to_owned(), json!(group.samples.len())),
        ("firstMarker".to_owned(), marker.unwrap_or(Value::Null)),
    ]);
    Value::Object(incident)
}

fn performance_incident(number: i64, group: &Group) -> Value {
    let mut incident = common("PerformanceIncident", number, group);
    let mean = group.samples.iter().map(|s| duration(s)).sum::<f64>() / group.samples.len() as f64;
    incident.extend([
        ("mean".to_owned(), json!((mean * 100.0).round() / 100.0)),
        ("hasNPlusOne".to_owned(), json!(number % 4 == 0)),
    ]);
    Value::Object(incident)
}

/// Deploys newest first, each with how long it was live and the errors seen while it was.
fn deploy_markers(deploys: &[&Marker], app: &AppData, now: i64) -> Vec<Value> {
    let mut out: Vec<Value> = deploys
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let until = deploys.get(i + 1).map_or(now, |next| next.time);
            let live: Vec<&Sample> =
                app.samples.iter().filter(|s| (m.time..until).contains(&s.time)).collect();
            let errors: Vec<&&Sample> = live.iter().filter(|s| s.exception.is_some()).collect();
            let hours = (until - m.time) / 3600;
            let rate = if live.is_empty() { 0.0 } else { 100.0 * errors.len() as f64 / live.len() as f64 };
            json!({
                "__typename": "DeployMarker", "id": m.json["id"], "createdAt": m.json["created_at"],
                "revision": m.json["revision"], "shortRevision": m.json["revision"], "user": m.json["user"],
                "namespace": "web", "gitCompareUrl": null, "liveFor": hours,
                "liveForInWords": format!("{hours} hours"), "exceptionCount": errors.len(),
                "exceptionRate": (rate * 100.0).round() / 100.0,
                "lastOccurredAt": errors.iter().map(|s| s.time).max().map(iso),
            })
        })
        .collect();
    out.reverse();
    out
}

/// `total` and one page of `rows` after the state, namespace, timeframe and order filters.
fn paginated(typename: &str, mut rows: Vec<Value>, vars: &Map<String, Value>, now: i64) -> Value {
    if let Some(state) = vars.get("state").and_then(Value::as_str) {
        rows.retain(|r| r["state"] == state);
    }
    if let Some(namespaces) = vars.get("namespaces").and_then(Value::as_array) {
        rows.retain(|r| namespaces.contains(&r["namespace"]));
    }
    if let Some(since) = vars.get("timeframe").and_then(Value::as_str).and_then(|t| window(t, now)) {
        rows.retain(|r| r["lastOccurredAt"].as_str().and_then(parse).is_some_and(|t| t >= since));
    }
    if vars.get("order").and_then(Value::as_str) == Some("LAST") {
        rows.sort_by_key(|r| std::cmp::Reverse(r["lastOccurredAt"].as_str().and_then(parse)));
    }
    let total = rows.len();
    json!({ "__typename": typename, "total": total, "rows": page(rows, vars) })
}

fn deploys(mut markers: Vec<Value>, vars: &Map<String, Value>, now: i64) -> Vec<Value> {
    let time = |name: &str| vars.get(name).and_then(Value::as_str).and_then(parse);
    let since = vars.get("timeframe").and_then(Value::as_str).and_then(|t| window(t, now));
    let (start, end) = (time("start").or(since).unwrap_or(i64::MIN), time("end").unwrap_or(i64::MAX));
    markers.retain(|m| m["createdAt"].as_str().and_then(parse).is_some_and(|t| (start..=end).contains(&t)));
    page(markers, vars)
}

fn page(rows: Vec<Value>, vars: &Map<String, Value>) -> Vec<Value> {
    let offset = vars.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
    let limit = vars.get("limit").and_then(Value::as_u64).map_or(usize::MAX, |l| l as usize);
    rows.into_iter().skip(offset).take(limit).collect()
}

/// The start of a `TimeframeEnum` window ending at `now`.
fn window(timeframe: &str, now: i64) -> Option<i64> {
    let hours = match timeframe {
        "R1H" => 1,
        "R4H" => 4,
        "R8H" => 8,
        "R12H" => 12,
        "R24H" => 24,
        "R48H" => 48,
        "R7D" => 7 * 24,
        "R30D" => 30 * 24,
        _ => return None,
    };
    Some(now - hours * 3600)
}

fn parse(value: &str) -> Option<i64> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "app1";
    const NOW: i64 = 1_700_000_000;

    fn ask(operation: &str, variables: Value) -> (StatusCode, Value) {
        let apps = HashMap::from([(APP.to_owned(), AppData::generate(7, NOW))]);
        // What the gateway sends, built field by field (only the gateway writes GraphQL bodies).
        let mut body = json!({ "query": format!("query {operation} {{ ... }}"), "variables": variables });
        body["operationName"] = json!(operation);
        answer(&apps, body.to_string().as_bytes(), NOW)
    }

    #[test]
    fn exception_incidents_honour_state_limit_and_offset() {
        let (status, all) = ask("ExceptionIncidents", json!({ "appId": APP }));
        assert_eq!(status, StatusCode::OK);
        let page = &all["data"]["app"]["paginatedExceptionIncidents"];
        let total = page["total"].as_u64().unwrap();
        assert!(total >= 6, "the demo's error samples make several incidents: {total}");
        let (_, open) = ask("ExceptionIncidents", json!({ "appId": APP, "state": "OPEN", "limit": 3 }));
        let rows = open["data"]["app"]["paginatedExceptionIncidents"]["rows"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r["state"] == "OPEN" && r["exceptionName"].is_string()));
        let (_, rest) = ask("ExceptionIncidents", json!({ "appId": APP, "offset": total - 1 }));
        assert_eq!(rest["data"]["app"]["paginatedExceptionIncidents"]["rows"].as_array().unwrap().len(), 1);
        // The gateway checks an enum only as an identifier; the demo answers any (none match)
        // rather than fail a request the gateway's own description allows.
        let (status, odd) = ask("ExceptionIncidents", json!({ "appId": APP, "state": "SOMETIMES" }));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(odd["data"]["app"]["paginatedExceptionIncidents"]["total"], 0);
    }

    #[test]
    fn counts_match_the_samples_and_numbers_find_incidents() {
        let data = AppData::generate(7, NOW);
        let errors = data.samples.iter().filter(|s| s.exception.is_some()).count() as u64;
        let (_, all) = ask("ExceptionIncidents", json!({ "appId": APP, "limit": 100 }));
        let rows = all["data"]["app"]["paginatedExceptionIncidents"]["rows"].as_array().unwrap().clone();
        assert_eq!(rows.iter().map(|r| r["count"].as_u64().unwrap()).sum::<u64>(), errors);
        let number = rows[0]["number"].clone();
        let (_, one) = ask("Incident", json!({ "appId": APP, "incidentNumber": number }));
        assert_eq!(one["data"]["app"]["incident"], rows[0]);
        let (_, none) = ask("Incident", json!({ "appId": APP, "incidentNumber": 100_000 }));
        assert_eq!(none["data"]["app"]["incident"], Value::Null);
        let (_, slow) = ask("PerformanceIncidents", json!({ "appId": APP }));
        let slow = &slow["data"]["app"]["paginatedPerformanceIncidents"]["rows"][0];
        assert_eq!(slow["__typename"], "PerformanceIncident");
        assert!(slow["mean"].as_f64().unwrap() > SLOW_MS);
    }

    #[test]
    fn deploys_are_the_demos_deploys_and_others_are_refused() {
        let (_, markers) = ask("DeployMarkers", json!({ "appId": APP, "limit": 2 }));
        let markers = markers["data"]["app"]["deployMarkers"].as_array().unwrap().clone();
        assert_eq!(markers.len(), 2);
        assert!(markers[0]["createdAt"].as_str() > markers[1]["createdAt"].as_str(), "newest first");
        let (_, day) = ask("DeployMarkers", json!({ "appId": APP, "timeframe": "R8H" }));
        assert_eq!(day["data"]["app"]["deployMarkers"].as_array().unwrap().len(), 1, "one deploy 5 h ago");
        let (status, other) = ask("SlowActions", json!({ "appId": APP }));
        assert_eq!((status, other["data"].clone()), (StatusCode::OK, Value::Null));
        let (_, unknown) = ask("Incident", json!({ "appId": "nope", "incidentNumber": 1 }));
        assert_eq!(unknown["data"]["app"], Value::Null);
    }
}
