//! The API description: made from the route table, served and printed alike, safe to
//! publish, and every status it documents reached by a real request.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use appsignal_gateway::auth::digest_hex;
use appsignal_gateway::config::{self, RawConfig, RawKey, RawRate};
use appsignal_gateway::route::{BodyKind, ParamKind, Shape, ROUTES, V2_LOOKUPS, V2_ROUTES};
use http::Method;
use serde_json::Value;
use support::binary;
use support::{Reply, TestGateway, APP_ID, TOKEN};

const KEY: &str = "openapi-key-0123456789abcdef";

fn with_key(raw: &mut RawConfig) {
    raw.clients.keys = vec![RawKey { name: "wall".into(), sha256: digest_hex(KEY), apps: None }];
}

fn document(tweak: impl FnOnce(&mut RawConfig)) -> Value {
    let mut raw = support::raw_config("http://127.0.0.1:9");
    tweak(&mut raw);
    appsignal_gateway::openapi::document(&config::validate(&raw).unwrap())
}

fn path_of(shape: Shape) -> String {
    match shape {
        Shape::Fixed(fixed) => format!("/api/{{app}}/{fixed}"),
        Shape::Item { prefix } => format!("/api/{{app}}/{prefix}{{id}}.json"),
        Shape::V2(path) => format!("/api/v2/{path}"),
        Shape::V2Lookup { prefix, metric: false } => format!("/api/v2/{prefix}{{app}}"),
        Shape::V2Lookup { prefix, metric: true } => format!("/api/v2/{prefix}{{app}}/{{metric}}"),
        Shape::GraphQl { operation } => format!("/api/{{app}}/graphql/{operation}.json"),
    }
}

/// The table's GET routes and every declared GraphQL operation's, with their operation ids.
fn routes() -> Vec<(&'static appsignal_gateway::route::Route, String)> {
    let settings = config::validate(&support::raw_config("http://127.0.0.1:9")).unwrap();
    let declared = settings.graphql.operations.iter().map(|o| (o.route, format!("graphql_{}", o.name)));
    ROUTES.iter().map(|r| (r, r.name.to_owned())).chain(declared).collect()
}

/// The schema of a parameter, with `$ref`s to components followed.
fn schema<'a>(doc: &'a Value, parameter: &'a Value) -> &'a Value {
    let schema = &parameter["schema"];
    match schema["$ref"].as_str() {
        Some(reference) => doc.pointer(reference.trim_start_matches('#')).unwrap(),
        None => schema,
    }
}

#[test]
fn every_route_and_parameter_of_the_table_is_described_with_its_rules() {
    let doc = document(|_| {});
    let paths = doc["paths"].as_object().unwrap();
    let routes = routes();
    assert_eq!(routes.len(), ROUTES.len() + 4, "the built-in GraphQL operations");
    let all = routes.len() + V2_ROUTES.len() + V2_LOOKUPS.len();
    assert_eq!(paths.len(), all + 2, "the routes, /graphql and /healthz: {:?}", paths.keys());
    assert!(paths["/graphql"]["post"].is_object() && paths["/graphql"]["get"].is_object());
    let lookups = V2_LOOKUPS.iter().map(|r| (r, r.name.to_owned()));
    for (route, id) in routes.into_iter().chain(lookups) {
        let operation = &paths[&path_of(route.shape)]["get"];
        assert_eq!(operation["operationId"], id.as_str());
        let parameters = operation["parameters"].as_array().unwrap();
        let find = |name: &str| parameters.iter().find(|p| p["name"] == name);
        assert_eq!(
            find("app").unwrap()["schema"]["type"],
            "string",
            "{{app}} must not enumerate the allowlist"
        );
        assert!(find("app").unwrap()["schema"].get("enum").is_none());
        for spec in route.params {
            let parameter =
                find(spec.name).unwrap_or_else(|| panic!("{}: {} missing", route.name, spec.name));
            let schema = schema(&doc, parameter);
            match spec.kind {
                ParamKind::Limit => {
                    assert_eq!(
                        (schema["minimum"].as_u64(), schema["maximum"].as_u64()),
                        (Some(1), Some(1000))
                    )
                }
                ParamKind::OneOf(words) => assert_eq!(schema["enum"], serde_json::json!(words)),
                ParamKind::SetOf(words) => {
                    assert_eq!(schema["items"]["enum"], serde_json::json!(words));
                    assert_eq!(parameter["explode"], true);
                }
                ParamKind::Bool => assert_eq!(schema["enum"], serde_json::json!(["true", "false"])),
                ParamKind::UnixTime | ParamKind::IsoTime => {
                    let forms: Vec<&Value> = schema["anyOf"].as_array().unwrap().iter().collect();
                    assert_eq!(forms[0]["type"], "integer");
                    assert_eq!(forms[1]["format"], "date-time");
                }
                ParamKind::Action | ParamKind::ActionWithException | ParamKind::Text => {
                    assert_eq!(schema["maxLength"].as_u64(), Some(appsignal_gateway::route::MAX_TEXT as u64));
                    assert!(schema["pattern"].is_string());
                }
                ParamKind::Ranged(min, max) => {
                    assert_eq!(
                        (schema["minimum"].as_i64(), schema["maximum"].as_i64()),
                        (Some(min), Some(max))
                    )
                }
                ParamKind::Float => assert_eq!(schema["type"], "number"),
                ParamKind::Ident => assert!(schema["pattern"].is_string()),
                ParamKind::ListOf(_) => {
                    assert_eq!(schema["type"], "array");
                    assert_eq!(parameter["explode"], true);
                }
            }
            assert_eq!(parameter["required"].as_bool().unwrap_or(false), spec.required, "{}", spec.name);
        }
        let documented: BTreeSet<&str> = parameters.iter().filter_map(|p| p["name"].as_str()).collect();
        let expected: BTreeSet<&str> = route
            .params
            .iter()
            .map(|p| p.name)
            .chain(["app", "callback", "_"])
            .chain(matches!(route.shape, Shape::Item { .. }).then_some("id"))
            .chain(matches!(route.shape, Shape::V2Lookup { metric: true, .. }).then_some("metric"))
            .collect();
        assert_eq!(documented, expected, "{}: parameters differ from the route table", route.name);
        let callback = find("callback").unwrap();
        assert_eq!(callback["schema"]["maxLength"], 128);
        let pattern = callback["schema"]["pattern"].as_str().unwrap();
        for reserved in appsignal_gateway::jsonp::RESERVED {
            assert!(
                pattern.contains(&format!("|{reserved}|"))
                    || pattern.contains(&format!("{reserved}|"))
                    || pattern.contains(&format!("|{reserved})")),
                "{reserved} not excluded by {pattern}"
            );
        }
        let responses = operation["responses"].as_object().unwrap();
        let statuses: Vec<&str> = responses.keys().map(String::as_str).collect();
        for status in ["200", "304", "400", "404", "405", "414", "429", "431", "502", "503", "504"] {
            assert!(statuses.contains(&status), "{}: {status} not documented", route.name);
        }
        assert!(!statuses.contains(&"401"), "401 is documented only when keys are configured");
        assert!(responses["200"]["content"]["text/javascript"].is_object(), "the JSONP variant");
        for header in ["Cache-Status", "ETag", "Age"] {
            assert!(responses["200"]["headers"][header].is_object(), "{header}");
        }
        for header in ["Retry-After", "RateLimit", "RateLimit-Policy"] {
            assert!(responses["429"]["headers"][header].is_object(), "{header}");
        }
        if !route.rules.is_empty() {
            assert!(operation["description"].as_str().unwrap().contains(route.rules));
        }
    }
    let codes = &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"];
    assert!(codes.as_array().unwrap().len() >= 17);
}

#[test]
fn with_keys_the_bearer_scheme_and_key_parameter_are_described_and_no_secret_is() {
    let doc = document(with_key);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(doc["components"]["securitySchemes"]["key"]["name"], "key");
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], serde_json::json!([]));
    let samples = &doc["paths"]["/api/{app}/samples.json"]["get"]["responses"]["401"];
    assert!(samples["headers"]["WWW-Authenticate"].is_object());
    assert!(doc["components"]["headers"]["WWW-Authenticate"].is_object(), "the 401s use it");
    // The document-wide requirement applies: no operation of the API overrides it.
    assert!(doc["paths"]["/api/{app}/samples.json"]["get"].get("security").is_none());
    let text = doc.to_string();
    for secret in [TOKEN, KEY, &digest_hex(KEY), APP_ID, "other0000000000000000022"] {
        assert!(!text.contains(secret), "{secret} is in the document");
    }
}

/// The schemathesis run skips one check only on routes with rules across parameters:
/// its configuration must name exactly those.
#[test]
fn schemathesis_relaxes_only_the_routes_with_cross_parameter_rules() {
    let config = std::fs::read_to_string("tests/api/schemathesis.toml").unwrap();
    let named: BTreeSet<&str> = config
        .lines()
        .filter_map(|l| l.strip_prefix("include-operation-id = \"")?.strip_suffix('"'))
        .collect();
    let windowed =
        |kind: BodyKind| appsignal_gateway::v2::schema::rules(kind).contains("`from` is not after");
    let with_rules: BTreeSet<&str> = ROUTES
        .iter()
        .filter(|r| !r.rules.is_empty())
        .chain(V2_ROUTES.iter().filter(|r| r.body.is_some_and(windowed)))
        .map(|r| r.name)
        .chain(["graphql_post", "graphql_get"])
        .collect();
    assert_eq!(named, with_rules);
}

#[tokio::test]
async fn served_without_a_key_like_any_answer_and_printed_alike() {
    let gw = TestGateway::start(with_key).await;
    let served = gw.get("/openapi.json").await;
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(served.header("content-type"), Some("application/json"));
    let etag = served.header("etag").unwrap().to_owned();
    let again = gw.send(Method::GET, "/openapi.json", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    let gzip = gw.send(Method::GET, "/openapi.json", &[("accept-encoding", "gzip")]).await;
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert_eq!(gw.send(Method::POST, "/openapi.json", &[]).await.status, 405);
    assert_eq!(gw.fake.count(), 0, "the document never reaches AppSignal");

    // `appsignal-gateway openapi` prints the same document for the same configuration.
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "upstream:\n  base_url: \"{}\"\n  token: \"{TOKEN}\"\napps:\n  - id: \"{APP_ID}\"\n    name: \"blog\"\n\
         clients:\n  keys:\n    - name: \"wall\"\n      sha256: \"{}\"\n",
        gw.fake.url,
        digest_hex(KEY)
    );
    let path = binary::write_config(dir.path(), &yaml);
    let (status, stdout, stderr) = binary::run(&["openapi", "--config", &path], &[]);
    assert!(status.success(), "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed, served.json());
}

/// Each status the document lists for a route, reached by a real request.
#[tokio::test]
async fn every_documented_status_is_reached() {
    let doc = document(with_key);
    let listed: BTreeSet<String> = doc["paths"]["/api/{app}/samples.json"]["get"]["responses"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut reached = BTreeSet::new();
    let auth = format!("Bearer {KEY}");
    let key = [("authorization", auth.as_str())];
    let samples = "/api/blog/samples.json";

    let gw = TestGateway::start(|raw| {
        with_key(raw);
        raw.limits.max_uri_length = "1KiB".into();
        raw.limits.max_header_size = "2KiB".into();
        raw.clients.rate_limit = RawRate { per_second: 1, burst: 1000 };
    })
    .await;
    let mut hit = |status: u16| {
        reached.insert(status.to_string());
    };
    let ok = gw.send(Method::GET, samples, &key).await;
    hit(ok.status.as_u16());
    let etag = ok.header("etag").unwrap().to_owned();
    hit(gw.send(Method::GET, samples, &[key[0], ("if-none-match", &etag)]).await.status.as_u16());
    hit(gw.send(Method::GET, "/api/blog/samples.json?limit=0", &key).await.status.as_u16());
    hit(gw.send(Method::GET, samples, &[]).await.status.as_u16());
    hit(gw.send(Method::GET, samples, &[key[0], ("origin", "https://evil.example")]).await.status.as_u16());
    hit(gw.send(Method::GET, "/api/nope/samples.json", &key).await.status.as_u16());
    hit(gw.send(Method::DELETE, samples, &key).await.status.as_u16());
    hit(gw.send(Method::GET, &format!("{samples}?_={}", "x".repeat(2048)), &key).await.status.as_u16());
    hit(gw.send(Method::GET, samples, &[key[0], ("host", "attacker.example")]).await.status.as_u16());
    let big = "y".repeat(4096);
    hit(gw.send(Method::GET, samples, &[key[0], ("x-big", &big)]).await.status.as_u16());
    gw.fake.always(Reply::Json(500, "{}"));
    hit(gw.send(Method::GET, "/api/blog/samples.json?limit=7", &key).await.status.as_u16());
    gw.fake.always(Reply::Throttle("30"));
    hit(gw.send(Method::GET, "/api/blog/samples.json?limit=8", &key).await.status.as_u16());
    // The limiter's bucket (burst 1000, refilled 1/s) is drained by a loop of cache hits.
    let mut limited = false;
    for _ in 0..1100 {
        if gw.send(Method::GET, samples, &key).await.status == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the client limit never answered 429");
    hit(429);

    let slow = TestGateway::start(|raw| {
        raw.upstream.timeout = "300ms".into();
    })
    .await;
    slow.fake.always(Reply::Delay(Duration::from_secs(5), Box::new(Reply::Echo)));
    hit(slow.get(samples).await.status.as_u16());

    let missing = TestGateway::start(|_| {}).await;
    missing.fake.always(Reply::Json(404, "{}"));
    hit(missing.get("/api/blog/samples/abc.json").await.status.as_u16());

    let unreached: Vec<&String> = listed.iter().filter(|s| !reached.contains(*s)).collect();
    assert!(unreached.is_empty(), "documented but never reached: {unreached:?} (reached {reached:?})");
}

/// What a standard linter (Redocly's recommended rules, tests/api/run.sh) asks of any
/// description: where the API is, what a public operation requires, the license, and no
/// unused component.
#[test]
fn servers_security_and_license_are_stated() {
    let doc = document(|_| {});
    assert_eq!(doc["servers"][0]["url"], "/");
    assert_eq!(doc["servers"].as_array().unwrap().len(), 1, "no HTTPS server without tls");
    assert_eq!(doc["info"]["license"]["identifier"], env!("CARGO_PKG_LICENSE"));
    assert!(doc.get("security").is_none());
    for (path, item) in doc["paths"].as_object().unwrap() {
        let operation = item.get("get").or_else(|| item.get("post")).unwrap();
        assert_eq!(operation["security"], serde_json::json!([]), "{path}: public, and it says so");
    }
    assert!(doc["components"]["headers"].get("WWW-Authenticate").is_none(), "unused without keys");
    let text = doc.to_string();
    for (name, _) in doc["components"]["headers"].as_object().unwrap() {
        assert!(text.contains(&format!("#/components/headers/{name}\"")), "{name} is never used");
    }
}

/// The fields serde reads for a body, in its own words: the list its "unknown field"
/// error gives.
fn serde_fields(kind: BodyKind) -> BTreeSet<String> {
    use appsignal_gateway::v2::body as b;
    let unknown = r#"{"not-a-field":0}"#;
    let error = match kind {
        BodyKind::Timeseries => serde_json::from_str::<b::Timeseries>(unknown).unwrap_err(),
        BodyKind::MetricsList => serde_json::from_str::<b::MetricsList>(unknown).unwrap_err(),
        BodyKind::LogLines => serde_json::from_str::<b::LogLines>(unknown).unwrap_err(),
        BodyKind::Traces => serde_json::from_str::<b::Traces>(unknown).unwrap_err(),
        BodyKind::OneTrace => serde_json::from_str::<b::OneTrace>(unknown).unwrap_err(),
        BodyKind::Actions => serde_json::from_str::<b::Actions>(unknown).unwrap_err(),
        BodyKind::DeployStats => serde_json::from_str::<b::DeployStats>(unknown).unwrap_err(),
    }
    .to_string();
    // "expected one of `a`, `b`", "expected `a` or `b`": every name quoted after "expected".
    let list = error.split("expected").nth(1).unwrap_or_else(|| panic!("{error}"));
    list.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[test]
fn every_v2_query_route_is_a_post_whose_body_schema_is_its_struct() {
    let doc = document(|_| {});
    for route in V2_ROUTES {
        let kind = route.body.unwrap();
        let operation = &doc["paths"][&path_of(route.shape)]["post"];
        assert_eq!(operation["operationId"], route.name);
        let body = &operation["requestBody"];
        assert_eq!(body["required"], true);
        let reference = body["content"]["application/json"]["schema"]["$ref"].as_str().unwrap();
        let schema = doc.pointer(reference.trim_start_matches('#')).unwrap();
        assert_eq!(schema["additionalProperties"], false, "{}: unknown fields are refused", route.name);
        let properties: BTreeSet<String> =
            schema["properties"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(properties, serde_fields(kind), "{}: the schema is the struct", route.name);
        for required in schema["required"].as_array().unwrap() {
            assert!(properties.contains(required.as_str().unwrap()));
        }
        let responses = operation["responses"].as_object().unwrap();
        for status in ["200", "400", "403", "404", "405", "408", "413", "415", "422", "503"] {
            assert!(responses.contains_key(status), "{}: {status} not documented", route.name);
        }
        assert!(operation.get("parameters").is_none(), "no query parameters, no JSONP");
    }
    // Bounds and enums as the field types check them.
    let schemas = &doc["components"]["schemas"];
    let timeseries = &schemas["V2TimeseriesQuery"];
    assert_eq!(timeseries["required"], serde_json::json!(["site_id", "from", "to", "select"]));
    assert_eq!(timeseries["properties"]["select"]["maxItems"], 32);
    let selector = &timeseries["properties"]["select"]["items"];
    assert_eq!(selector["properties"]["tags"]["maxProperties"], 16);
    assert_eq!(selector["properties"]["name"]["maxLength"], 512);
    assert_eq!(selector["properties"]["field"]["maxLength"], 32);
    let logs = &schemas["V2LogLinesQuery"]["properties"];
    assert_eq!(logs["pagination"]["properties"]["order"]["enum"], serde_json::json!(["ASC", "DESC"]));
    let per_page = &logs["pagination"]["properties"]["per_page"];
    assert_eq!((per_page["minimum"].as_u64(), per_page["maximum"].as_u64()), (Some(1), Some(100)));
    assert_eq!(logs["source_ids"]["maxItems"], 32);
    let traces = &schemas["V2TracesQuery"]["properties"];
    assert_eq!(traces["site_ids"]["maxItems"], 16);
    assert_eq!(traces["digests"]["anyOf"][0]["maxItems"], 100);
    assert!(schemas["V2Time"]["anyOf"].is_array());
}

/// Each status the document lists for a V2 query, reached by a real request.
#[tokio::test]
async fn every_documented_v2_status_is_reached() {
    let doc = document(with_key);
    let path = "/api/v2/metrics/timeseries";
    let listed: BTreeSet<String> =
        doc["paths"][path]["post"]["responses"].as_object().unwrap().keys().cloned().collect();
    let mut reached = BTreeSet::new();
    let auth = format!("Bearer {KEY}");
    let json = ("content-type", "application/json");
    // Windows 1000 s apart: aligned to 30 s, each is its own entry.
    let body = |n: u32| {
        let from = n * 1000;
        format!(
            r#"{{"site_id":"blog","from":{from},"to":{},"select":[{{"name":"m","tags":{{}},"field":"MEAN"}}]}}"#,
            from + 60
        )
    };
    let gw = TestGateway::start(|raw| {
        with_key(raw);
        raw.limits.max_uri_length = "1KiB".into();
        raw.limits.max_header_size = "2KiB".into();
        raw.limits.max_body_size = "1KiB".into();
        raw.limits.body_read_timeout = "300ms".into();
        raw.upstream.timeout = "300ms".into();
        raw.clients.rate_limit = RawRate { per_second: 1, burst: 1000 };
    })
    .await;
    let post = |b: String, extra: Vec<(&'static str, String)>| {
        let gw = &gw;
        let auth = auth.clone();
        async move {
            let mut headers: Vec<(&str, &str)> = vec![("authorization", auth.as_str()), json];
            for (k, v) in &extra {
                headers.retain(|(h, _)| h != k);
                headers.push((k, v.as_str()));
            }
            let url = format!("{}{path}", gw.url);
            support::send_body(Method::POST, &url, &headers, bytes::Bytes::from(b)).await.status.as_u16()
        }
    };
    let mut hit = |s: u16| {
        reached.insert(s.to_string());
    };
    hit(post(body(1), vec![]).await);
    hit(post("{".into(), vec![]).await);
    hit(post(body(2), vec![("authorization", "Bearer nope".into())]).await);
    hit(post(body(3), vec![("origin", "https://evil.example".into())]).await);
    hit(post(body(4).replace("blog", "nope"), vec![]).await);
    hit(gw.send(Method::GET, path, &[("authorization", &auth)]).await.status.as_u16());
    hit(post("x".repeat(2048), vec![]).await);
    hit(post(body(5), vec![("content-type", "text/plain".into())]).await);
    hit(post(body(6), vec![("host", "attacker.example".into())]).await);
    hit(post(body(7), vec![("x-big", "y".repeat(4096))]).await);
    let long = format!("{}{path}?_={}", gw.url, "x".repeat(2048));
    hit(support::send_body(Method::POST, &long, &[("authorization", &auth), json], body(8).into())
        .await
        .status
        .as_u16());
    gw.fake.always(Reply::Json(422, r#"{"error":"ungrouped_wildcard","message":"m"}"#));
    hit(post(body(9), vec![]).await);
    gw.fake.always(Reply::Json(500, "{}"));
    hit(post(body(10), vec![]).await);
    gw.fake.always(Reply::Hang);
    hit(post(body(12), vec![]).await);
    // Last of the upstream answers: V2 then backs off for 30 s.
    gw.fake.always(Reply::Throttle("30"));
    hit(post(body(11), vec![]).await);
    // 408: a body that stops arriving.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = gw.url.trim_start_matches("http://").to_owned();
        let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: {auth}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{");
        stalled.write_all(head.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), stalled.read_to_string(&mut answer))
            .await
            .unwrap()
            .unwrap();
        hit(answer[9..12].parse().unwrap());
    }
    let mut limited = false;
    for _ in 0..1100 {
        if post(body(1), vec![]).await == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the client limit never answered 429");
    hit(429);
    let unreached: Vec<&String> = listed.iter().filter(|s| !reached.contains(*s)).collect();
    assert!(unreached.is_empty(), "documented but never reached: {unreached:?} (reached {reached:?})");
    let undocumented: Vec<&String> = reached.iter().filter(|s| !listed.contains(*s)).collect();
    assert!(undocumented.is_empty(), "reached but not documented: {undocumented:?}");
}
