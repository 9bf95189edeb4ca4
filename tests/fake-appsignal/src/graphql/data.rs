//! The fake's GraphQL world: what AppSignal would hold for any app, and how each field with
//! arguments is answered.
//!
//! Every app id is visible and holds the same incidents, so tests can count on them:
//! exception incidents numbered 1..=[`EXCEPTION_INCIDENTS`], performance incidents after
//! them up to [`LAST_INCIDENT`], each in the state [`incident_state`] gives, last seen
//! `number × 7` minutes before [`NOW`]; [`DEPLOYS`] deploy markers, one every six hours.
//! The viewer, the organisation and the apps' keys are there too, secrets included, as on
//! the real API: a document that reaches them gets them.

use serde_json::{json, Map, Value};

/// The fake's "now", `2025-12-09T12:00:00Z`: every time in the world is before it.
pub const NOW: i64 = 1_765_281_600;
/// How many exception incidents every app has (numbers 1..=30).
pub const EXCEPTION_INCIDENTS: i64 = 30;
/// The last performance incident's number (31..=42 are performance incidents).
pub const LAST_INCIDENT: i64 = 42;
/// How many deploy markers every app has.
pub const DEPLOYS: i64 = 8;

/// An incident's state: every fifth is closed, every seventh (not fifth) in progress.
pub fn incident_state(number: i64) -> &'static str {
    match (number % 5, number % 7) {
        (0, _) => "CLOSED",
        (_, 0) => "WIP",
        _ => "OPEN",
    }
}

const EXCEPTIONS: &[(&str, &str, &str)] = &[
    ("NoMethodError", "undefined method `title' for nil", "BlogPostsController#show"),
    ("ActiveRecord::RecordNotFound", "Couldn't find Post with 'id'=9000", "BlogPostsController#show"),
    ("Redis::TimeoutError", "Connection timed out", "CommentsController#create"),
    ("ActionView::Template::Error", "undefined local variable `author'", "BlogPostsController#index"),
    ("Net::ReadTimeout", "Net::ReadTimeout with #<TCPSocket:(closed)>", "WebhookJob#perform"),
];
const SLOW: &[(&str, &str)] = &[
    ("SearchController#show", "web"),
    ("Api::V1::PostsController#index", "web"),
    ("ReportJob#perform", "background"),
];
const SEVERITIES: &[&str] = &["UNTRIAGED", "CRITICAL", "HIGH", "LOW", "NONE", "INFORMATIONAL"];

/// Enum types and their values, for variable coercion.
pub fn enum_values(ty: &str) -> Option<&'static [&'static str]> {
    Some(match ty {
        "IncidentStateEnum" => &["OPEN", "CLOSED", "WIP"],
        "IncidentOrderEnum" => &["ID", "LAST"],
        "IncidentSeverityEnum" => SEVERITIES,
        "TimeframeEnum" => &["R1H", "R4H", "R8H", "R12H", "R24H", "R48H", "R7D", "R30D"],
        "ExceptionIncidentQueryEnum" => &["MOST_RECENT", "RECEIVING_DATA", "SPECIFIC_DEPLOY", "TIMEFRAME"],
        "SampleTypeEnum" => &["EXCEPTION", "PERFORMANCE"],
        _ => return None,
    })
}

/// The world as one request sees it: the token it came with is the viewer's.
pub struct World {
    /// The `token` query parameter of the request, which `viewer { token }` reads.
    pub token: String,
}

impl World {
    /// The value of `field` (with its arguments) on `parent`, an object of `typename`.
    pub fn resolve(
        &self,
        parent: &Value,
        typename: &str,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Value, String> {
        let arg = |name: &str| args.get(name).cloned().unwrap_or(Value::Null);
        let app_id = || parent["id"].as_str().unwrap_or_default().to_owned();
        Ok(match (typename, field) {
            ("Query", "app") => app(arg("id").as_str().unwrap_or_default()),
            ("Query", "viewer") => self.viewer(),
            ("Query", "organization") => organization(),
            ("Query", "timezones") => json!([{"__typename": "Timezone", "name": "UTC", "offset": 0}]),
            ("Mutation", _) => app(arg("appId").as_str().unwrap_or("unknown")),
            ("App", "organization") => organization(),
            ("App", "users") | ("Organization", "users") => users(),
            ("App", "paginatedExceptionIncidents") => {
                paginated("PaginatedExceptionIncidents", exceptions(&app_id()), args)
            }
            ("App", "paginatedPerformanceIncidents") => {
                paginated("PaginatedPerformanceIncidents", slow(&app_id()), args)
            }
            ("App", "exceptionIncidents") => paginated("", exceptions(&app_id()), args)["rows"].clone(),
            ("App", "performanceIncidents") => paginated("", slow(&app_id()), args)["rows"].clone(),
            ("App", "incident") => {
                let number = arg("incidentNumber").as_i64().unwrap_or(0);
                let all = exceptions(&app_id()).into_iter().chain(slow(&app_id()));
                all.into_iter().find(|i| i["number"] == number).unwrap_or(Value::Null)
            }
            ("App", "deployMarkers") => deploy_markers(&app_id(), args),
            _ => match parent.get(field) {
                Some(value) => value.clone(),
                None => return Err(format!("Field '{field}' doesn't exist on type '{typename}'")),
            },
        })
    }

    fn viewer(&self) -> Value {
        json!({
            "__typename": "Viewer", "id": "user-1", "name": "Alice", "email": "alice@example.com",
            "token": self.token, "organizations": [organization()],
        })
    }
}

fn app(id: &str) -> Value {
    json!({
        "__typename": "App", "id": id, "name": format!("app {id}"), "environment": "production",
        "status": "active", "pushApiKey": "app-push-api-key-secret",
        "frontendApiKey": "app-frontend-api-key-secret",
    })
}

fn organization() -> Value {
    json!({
        "__typename": "Organization", "id": "org-1", "slug": "acme", "name": "Acme",
        "pushApiKey": "org-push-api-key-secret",
        "apps": [app("sibling-app-of-another-team"), app("another-organisation-app")],
    })
}

fn users() -> Value {
    json!([{"__typename": "User", "id": "user-1", "name": "Alice", "email": "alice@example.com"}])
}

/// The exception incidents of an app, newest number first.
fn exceptions(app_id: &str) -> Vec<Value> {
    (1..=EXCEPTION_INCIDENTS)
        .rev()
        .map(|n| {
            let (name, message, action) = EXCEPTIONS[(n as usize) % EXCEPTIONS.len()];
            let mut incident = common("ExceptionIncident", app_id, n);
            let namespace = if action.ends_with("Job#perform") { "background" } else { "web" };
            let extra = json!({
                "namespace": namespace, "actionNames": [action],
                "exceptionName": name, "exceptionMessage": message,
                "firstBacktraceLine": format!("app/controllers/posts_controller.rb:{}", 10 + n),
                "scopedCount": incident["count"], "firstMarker": marker(app_id, n % DEPLOYS),
                "errorGroupingStrategy": "TYPE_AND_ACTION", "hasSamplesInRetention": true,
            });
            merge(&mut incident, extra);
            incident
        })
        .collect()
}

/// The performance incidents of an app, newest number first.
fn slow(app_id: &str) -> Vec<Value> {
    (EXCEPTION_INCIDENTS + 1..=LAST_INCIDENT)
        .rev()
        .map(|n| {
            let (action, namespace) = SLOW[(n as usize) % SLOW.len()];
            let mut incident = common("PerformanceIncident", app_id, n);
            let extra = json!({
                "namespace": namespace, "actionNames": [action], "mean": 450.0 + 37.5 * n as f64,
                "hasNPlusOne": n % 3 == 0, "hasSamplesInRetention": true,
            });
            merge(&mut incident, extra);
            incident
        })
        .collect()
}

fn common(typename: &str, app_id: &str, n: i64) -> Value {
    json!({
        "__typename": typename, "id": format!("{app_id}-incident-{n}"), "number": n,
        "state": incident_state(n), "severity": SEVERITIES[(n as usize) % SEVERITIES.len()],
        "count": 3 + n * 11, "description": null,
        "createdAt": iso(NOW - n * 86_400), "lastOccurredAt": iso(NOW - n * 7 * 60),
        "updatedAt": iso(NOW - n * 7 * 60), "lastSampleOccurredAt": iso(NOW - n * 7 * 60),
        "digests": [format!("{:016x}", 0x5eed_0000_0000_0000_u64 + n as u64)],
        "notificationFrequency": "ALWAYS", "notificationThreshold": null,
    })
}

fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(into), Value::Object(extra)) = (into, extra) {
        into.extend(extra);
    }
}

/// `rows` and `total` after AppSignal's filters: state, namespaces, timeframe, order, offset, limit.
fn paginated(typename: &str, mut rows: Vec<Value>, args: &Map<String, Value>) -> Value {
    if let Some(state) = args.get("state").and_then(Value::as_str) {
        rows.retain(|r| r["state"] == state);
    }
    if let Some(namespaces) = args.get("namespaces").and_then(Value::as_array) {
        rows.retain(|r| namespaces.contains(&r["namespace"]));
    }
    if let Some(window) = args.get("timeframe").and_then(Value::as_str).and_then(timeframe) {
        rows.retain(|r| r["lastOccurredAt"].as_str().and_then(parse_time).is_some_and(|t| t >= NOW - window));
    }
    if args.get("order").and_then(Value::as_str) == Some("LAST") {
        rows.sort_by_key(|r| std::cmp::Reverse(r["lastOccurredAt"].as_str().unwrap_or("").to_owned()));
    }
    let total = rows.len();
    let rows = page(rows, args);
    json!({ "__typename": typename, "total": total, "rows": rows })
}

fn page(rows: Vec<Value>, args: &Map<String, Value>) -> Vec<Value> {
    let offset = args.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
    let limit = args.get("limit").and_then(Value::as_u64).map_or(usize::MAX, |l| l as usize);
    rows.into_iter().skip(offset).take(limit).collect()
}

/// The app's deploys, newest first, within `start`..`end` or the `timeframe`.
fn deploy_markers(app_id: &str, args: &Map<String, Value>) -> Value {
    let time = |name: &str| args.get(name).and_then(Value::as_str).and_then(parse_time);
    let since = args.get("timeframe").and_then(Value::as_str).and_then(timeframe).map(|w| NOW - w);
    let (start, end) = (time("start").or(since).unwrap_or(i64::MIN), time("end").unwrap_or(i64::MAX));
    let markers = (0..DEPLOYS)
        .map(|i| marker(app_id, i))
        .filter(|m| m["createdAt"].as_str().and_then(parse_time).is_some_and(|t| (start..=end).contains(&t)))
        .collect();
    Value::Array(page(markers, args))
}

/// Deploy `i` of an app, `i × 6` hours and one before [`NOW`].
fn marker(app_id: &str, i: i64) -> Value {
    let revision = format!("{:040x}", 0xdec0de_u64 * (i as u64 + 1));
    let at = NOW - 3600 - i * 6 * 3600;
    let user = ["alice", "bob", "carol"][i as usize % 3];
    json!({
        "__typename": "DeployMarker", "id": format!("{app_id}-deploy-{i}"), "createdAt": iso(at),
        "revision": revision, "shortRevision": &revision[..7], "user": user,
        "namespace": "web", "gitCompareUrl": format!("https://git.example.com/compare/{}", &revision[..7]),
        "liveFor": 6, "liveForInWords": "about 6 hours", "exceptionCount": 2 * i + 1,
        "exceptionRate": (i as f64 + 1.0) / 10.0, "lastOccurredAt": iso(at + 1800),
    })
}

fn timeframe(value: &str) -> Option<i64> {
    let hour = 3600;
    Some(match value {
        "R1H" => hour,
        "R4H" => 4 * hour,
        "R8H" => 8 * hour,
        "R12H" => 12 * hour,
        "R24H" => 24 * hour,
        "R48H" => 48 * hour,
        "R7D" => 7 * 24 * hour,
        "R30D" => 30 * 24 * hour,
        _ => return None,
    })
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (civil date from days, proleptic Gregorian).
pub fn iso(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `YYYY-MM-DDTHH:MM:SS` followed by anything (fraction, `Z`, offset ignored), as Unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}
