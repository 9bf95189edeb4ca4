//! The API description: made from the route table, served and printed alike, safe to
//! publish, and every status it documents reached by a real request.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use appsignal_gateway::auth::digest_hex;
use appsignal_gateway::config::{self, RawConfig, RawKey, RawRate};
use appsignal_gateway::route::{ParamKind, Shape, ROUTES};
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
    assert_eq!(paths.len(), routes.len() + 2, "the routes, /graphql and /healthz: {:?}", paths.keys());
    assert!(paths["/graphql"]["post"].is_object() && paths["/graphql"]["get"].is_object());
    for (route, id) in routes {
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
    let with_rules: BTreeSet<&str> = ROUTES
        .iter()
        .filter(|r| !r.rules.is_empty())
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
        assert_eq!(item["get"]["security"], serde_json::json!([]), "{path}: public, and it says so");
    }
    assert!(doc["components"]["headers"].get("WWW-Authenticate").is_none(), "unused without keys");
    let text = doc.to_string();
    for (name, _) in doc["components"]["headers"].as_object().unwrap() {
        assert!(text.contains(&format!("#/components/headers/{name}\"")), "{name} is never used");
    }
}
