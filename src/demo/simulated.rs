//! The simulated AppSignal served by the demo: the REST API here, the Public API V2 in
//! [`super::v2`].

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::data::{action_matches, AppData};
use crate::config::Token;
use crate::response::{self, Body};
use crate::server::Handler;
use crate::urlencoded::decode_query;

/// A stand-in for AppSignal: generated data per app, the same paths and parameters.
#[derive(Debug)]
pub struct SimulatedAppSignal {
    /// The token it accepts, as AppSignal accepts one personal token.
    token: Token,
    /// Each app's generated data, by app id.
    apps: HashMap<String, AppData>,
}

impl SimulatedAppSignal {
    /// Generates data for `app_ids` around `now` (Unix seconds).
    pub fn new(token: Token, app_ids: &[&str], now: i64) -> Self {
        let apps = app_ids
            .iter()
            .enumerate()
            .map(|(i, id)| ((*id).to_owned(), AppData::generate(0xA995_1600 + i as u64, now)))
            .collect();
        SimulatedAppSignal { token, apps }
    }

    /// Answers one request as AppSignal would.
    pub fn answer(&self, path: &str, query: &str) -> (StatusCode, Value) {
        let params: HashMap<String, Vec<String>> =
            decode_query(query).unwrap_or_default().into_iter().fold(HashMap::new(), |mut map, (k, v)| {
                map.entry(k.into_owned()).or_default().push(v.into_owned());
                map
            });
        let one = |name: &str| params.get(name).and_then(|v| v.first()).map(String::as_str);
        if one("token") != Some(self.token.expose()) {
            return (StatusCode::UNAUTHORIZED, json!({ "error": "Unauthorized" }));
        }
        let not_found = (StatusCode::NOT_FOUND, json!({ "error": "Not found" }));
        let Some((app_id, rest)) = path.strip_prefix("/api/").and_then(|p| p.split_once('/')) else {
            return not_found;
        };
        let Some(app) = self.apps.get(app_id) else {
            return not_found;
        };
        let answer = match rest {
            "samples.json" => samples(app, &one, |_| true),
            "samples/performance.json" => samples(app, &one, |s| s.exception.is_none()),
            "samples/errors.json" => samples(app, &one, |s| s.exception.is_some()),
            "graphs.json" => graphs(app, &one, params.get("fields[]")),
            "markers.json" => markers(app, &one),
            _ => {
                let id = rest.strip_prefix("samples/").and_then(|r| r.strip_suffix(".json"));
                let id = id.and_then(|id| percent_encoding::percent_decode_str(id).decode_utf8().ok());
                match id.and_then(|id| app.samples.iter().find(|s| s.sanitized_id == id)) {
                    Some(sample) => sample.detail.clone(),
                    None => return not_found,
                }
            }
        };
        (StatusCode::OK, answer)
    }
}

impl SimulatedAppSignal {
    /// `POST /graphql?token=…`: the built-in operations (see [`super::graphql`]).
    async fn graphql(&self, request: Request<hyper::body::Incoming>) -> (StatusCode, Value) {
        let query = request.uri().query().unwrap_or("");
        let token = decode_query(query).unwrap_or_default().into_iter().find(|(k, _)| k == "token");
        if token.is_none_or(|(_, t)| t != self.token.expose()) {
            return (StatusCode::UNAUTHORIZED, json!({ "errors": [{ "message": "Unauthorized" }] }));
        }
        use http_body_util::BodyExt;
        let Ok(body) = http_body_util::Limited::new(request.into_body(), 1 << 20).collect().await else {
            return (StatusCode::BAD_REQUEST, json!({ "errors": [{ "message": "unreadable body" }] }));
        };
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        super::graphql::answer(&self.apps, &body.to_bytes(), now as i64)
    }
}

fn time_param(value: Option<&str>) -> Option<i64> {
    let value = value?;
    value.parse().ok().or_else(|| {
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp())
    })
}

fn limit_and_count<'a>(one: &impl Fn(&str) -> Option<&'a str>) -> (usize, bool) {
    let limit = one("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
    (limit, one("count_only") == Some("true"))
}

fn samples<'a>(
    app: &AppData,
    one: &impl Fn(&str) -> Option<&'a str>,
    kind: impl Fn(&super::data::Sample) -> bool,
) -> Value {
    let since = time_param(one("since")).unwrap_or(i64::MIN);
    let before = time_param(one("before")).unwrap_or(i64::MAX);
    let matching: Vec<&Value> = app
        .samples
        .iter()
        .filter(|s| kind(s) && s.time >= since && s.time < before)
        .filter(|s| one("action_id").is_none_or(|a| action_matches(s.action, a)))
        .filter(|s| one("exception").is_none_or(|e| s.exception == Some(e)))
        .map(|s| &s.summary)
        .collect();
    let (limit, count_only) = limit_and_count(one);
    if count_only {
        return json!({ "count": matching.len() });
    }
    let entries: Vec<&Value> = matching.into_iter().take(limit).collect();
    json!({ "count": entries.len(), "log_entries": entries })
}

fn graphs<'a>(app: &AppData, one: &impl Fn(&str) -> Option<&'a str>, fields: Option<&Vec<String>>) -> Value {
    let newest = app.samples.first().map_or(0, |s| s.time);
    let to = time_param(one("to")).unwrap_or(newest);
    let span = match one("timeframe") {
        Some("hour") => 3600,
        Some("month") => 30 * 86_400,
        Some("year") => 365 * 86_400,
        _ => 86_400,
    };
    let from = time_param(one("from")).unwrap_or(to - span);
    let fields: Vec<&str> = fields.map(|f| f.iter().map(String::as_str).collect()).unwrap_or_default();
    // Hourly points, at most a month of them, so a year's timeframe stays small.
    let first = from - from.rem_euclid(3600);
    let points: Vec<Value> = (0..)
        .map(|i| first + i * 3600)
        .take_while(|hour| *hour <= to)
        .take(24 * 31)
        .map(|hour| app.graph_point(hour, &fields))
        .collect();
    json!({ "from": super::data::iso(from), "to": super::data::iso(to), "resolution": "hourly", "data": points })
}

fn markers<'a>(app: &AppData, one: &impl Fn(&str) -> Option<&'a str>) -> Value {
    let from = time_param(one("from")).unwrap_or(i64::MIN);
    let to = time_param(one("to")).unwrap_or(i64::MAX);
    let matching: Vec<&Value> = app
        .markers
        .iter()
        .filter(|m| one("kind").is_none_or(|k| m.kind == k) && m.time >= from && m.time <= to)
        .map(|m| &m.json)
        .collect();
    let (limit, count_only) = limit_and_count(one);
    if count_only {
        return json!({ "count": matching.len() });
    }
    let markers: Vec<&Value> = matching.into_iter().take(limit).collect();
    json!({ "count": markers.len(), "markers": markers })
}

/// The largest V2 body the simulation reads (the gateway sends far smaller).
const MAX_V2_BODY: usize = 256 * 1024;

impl SimulatedAppSignal {
    /// Answers one V2 request (`/api/v2/{route}`): the token as `Bearer`, the body JSON.
    async fn answer_v2(&self, route: &str, request: Request<hyper::body::Incoming>) -> (StatusCode, Value) {
        let bearer = format!("Bearer {}", self.token.expose());
        let authorized = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == bearer.as_bytes());
        if !authorized {
            return (StatusCode::UNAUTHORIZED, json!({ "error": "unauthorized", "message": "Unauthorized" }));
        }
        let is_post = request.method() == http::Method::POST;
        let limited = http_body_util::Limited::new(request.into_body(), MAX_V2_BODY);
        let bytes = match http_body_util::BodyExt::collect(limited).await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, json!({ "error": "too_large" })),
        };
        let body: Value = match (is_post, serde_json::from_slice(&bytes)) {
            (false, _) => Value::Null,
            (true, Ok(body)) => body,
            (true, Err(e)) => {
                return (StatusCode::BAD_REQUEST, json!({ "error": "bad_request", "message": e.to_string() }))
            }
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        super::v2::answer(&self.apps, route, &body, now)
            .unwrap_or((StatusCode::NOT_FOUND, json!({ "error": "not_found", "message": "No such route" })))
    }
}

impl Handler for SimulatedAppSignal {
    async fn call(&self, request: Request<hyper::body::Incoming>, _peer: SocketAddr) -> Response<Body> {
        let path = request.uri().path().to_owned();
        let (status, body) = match path.strip_prefix("/api/v2/") {
            Some(route) => self.answer_v2(route, request).await,
            None if path == "/graphql" => self.graphql(request).await,
            None => self.answer(&path, request.uri().query().unwrap_or("")),
        };
        response::with_body(status, response::JSON, Bytes::from(body.to_string()))
    }

    fn on_panic(&self, message: &str) -> Response<Body> {
        tracing::error!(panic = message, "the simulated AppSignal panicked; answered 500");
        let body = json!({ "error": "the simulated AppSignal failed" });
        response::with_body(StatusCode::INTERNAL_SERVER_ERROR, response::JSON, Bytes::from(body.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> SimulatedAppSignal {
        SimulatedAppSignal::new(Token::new("t"), &["app1"], 1_700_000_000)
    }

    #[test]
    fn token_is_checked() {
        assert_eq!(sim().answer("/api/app1/samples.json", "token=wrong").0, StatusCode::UNAUTHORIZED);
        assert_eq!(sim().answer("/api/app1/samples.json", "token=t").0, StatusCode::OK);
        assert_eq!(sim().answer("/api/nope/samples.json", "token=t").0, StatusCode::NOT_FOUND);
    }

    #[test]
    fn lists_filter_and_show_finds_listed_samples() {
        let sim = sim();
        let (_, all) = sim.answer("/api/app1/samples/errors.json", "limit=3&token=t");
        let entries = all["log_entries"].as_array().unwrap();
        assert_eq!(entries.len(), 3);
        assert!(entries.iter().all(|e| e["is_exception"] == true));
        let id = crate::route::escape_action(entries[0]["id"].as_str().unwrap());
        let (status, sample) = sim.answer(&format!("/api/app1/samples/{id}.json"), "token=t");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(sample["id"], entries[0]["id"]);
        let (_, count) = sim.answer("/api/app1/samples.json", "count_only=true&token=t");
        assert_eq!(count["count"], 240);
    }

    #[test]
    fn graphs_and_markers() {
        let sim = sim();
        let (_, graph) =
            sim.answer("/api/app1/graphs.json", "kind=web&timeframe=day&fields%5B%5D=mean&token=t");
        let data = graph["data"].as_array().unwrap();
        assert!(data.len() >= 24);
        assert!(data[0]["mean"].is_number() && data[0].get("count").is_none());
        let (_, markers) = sim.answer("/api/app1/markers.json", "kind=deploy&token=t");
        assert_eq!(markers["count"], 3);
    }
}
