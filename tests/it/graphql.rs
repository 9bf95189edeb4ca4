//! AppSignal's GraphQL API through declared operations: the GET routes with typed
//! variables, `POST`/`GET /graphql` by text or persisted-query hash, hostile documents
//! refused before any upstream work, `errors` answers never stored, the token nowhere.

use http::Method;
use serde_json::{json, Value};

use crate::support::{Answer, Reply, TestGateway, APP_ID, TOKEN};

const EXCEPTIONS: &str = include_str!("../../src/graphql/builtin/ExceptionIncidents.graphql");
const INCIDENT: &str = include_str!("../../src/graphql/builtin/Incident.graphql");

fn sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// `POST /graphql` with `body` as JSON.
async fn post(gateway: &TestGateway, body: &Value) -> Answer {
    gateway.post("/graphql", &body.to_string()).await
}

/// The GraphQL-shaped error code of an answer.
fn gql_code(answer: &Answer) -> String {
    answer.json()["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned()
}

/// Asserts the answer, and every upstream request so far, hold no token but where it
/// belongs (the upstream URL's `token` parameter).
fn clean(gateway: &TestGateway, answer: &Answer) {
    answer.assert_no_token();
    for request in gateway.fake.graphql() {
        assert!(!request.body.to_string().contains(TOKEN), "token in an upstream body");
        assert_eq!(request.token.as_deref(), Some(TOKEN));
    }
}

#[tokio::test]
async fn a_get_route_sends_the_declared_document_with_typed_canonical_variables() {
    let gateway = TestGateway::start(|_| {}).await;
    let first = gateway.get("/api/blog/graphql/ExceptionIncidents.json?state=OPEN&limit=5&namespaces[]=web&namespaces[]=background").await;
    assert_eq!(first.status, 200, "{}", first.text());
    let rows = first.json()["data"]["app"]["paginatedExceptionIncidents"]["rows"].clone();
    assert!(rows.as_array().is_some_and(|r| !r.is_empty() && r.len() <= 5), "{rows}");
    assert!(first.header("cache-status").unwrap().contains("stored"));
    assert!(first.header("etag").is_some());
    assert_eq!(first.header("cache-control"), Some("private, max-age=30"), "cache.ttl.graphql");
    clean(&gateway, &first);
    let sent = &gateway.fake.graphql()[0];
    assert_eq!(sent.query, EXCEPTIONS, "the declared document, as shipped");
    assert_eq!(sent.operation_name.as_deref(), Some("ExceptionIncidents"));
    assert_eq!(
        sent.body["variables"].to_string(),
        json!({"appId": APP_ID, "limit": 5, "namespaces": ["background", "web"], "state": "OPEN"})
            .to_string(),
        "canonical: keys sorted, the alias resolved, a list sorted, an Int a number"
    );
    assert!(sent.body.get("extensions").is_none());
    let received = &gateway.fake.received()[0];
    assert_eq!((received.method.as_str(), received.path.as_str()), ("POST", "/graphql"));
    // Another spelling of the same question: one entry, no second call.
    let again = gateway
        .get(&format!("/api/{APP_ID}/graphql/ExceptionIncidents.json?namespaces%5B%5D=web&limit=05&state=OPEN&namespaces[]=background&_=1"))
        .await;
    assert!(again.header("cache-status").unwrap().contains("hit"), "{:?}", again.header("cache-status"));
    let etag = again.header("etag").unwrap().to_owned();
    let revalidated = gateway
        .send(Method::GET, "/api/blog/graphql/ExceptionIncidents.json?state=OPEN&limit=5&namespaces[]=web&namespaces[]=background", &[("if-none-match", &etag)])
        .await;
    assert_eq!(revalidated.status, 304);
    assert_eq!(gateway.fake.graphql().len(), 1);
}

#[tokio::test]
async fn a_get_route_refuses_bad_missing_and_unknown_parameters_naming_them() {
    let gateway = TestGateway::start(|_| {}).await;
    for (query, named) in [
        ("", "incidentNumber"),
        ("incidentNumber=abc", "incidentNumber"),
        ("incidentNumber=2147483648", "incidentNumber"),
        ("incidentNumber=1&bogus=2", "bogus"),
        ("incidentNumber=1&incidentNumber=2", "incidentNumber"),
        ("incidentNumber=1&appId=other", "appId"),
    ] {
        let answer = gateway.get(&format!("/api/blog/graphql/Incident.json?{query}")).await;
        assert_eq!((answer.status.as_u16(), answer.code().as_str()), (400, "invalid_parameter"), "{query}");
        assert!(
            answer.json()["error"]["message"].as_str().unwrap().contains(&format!("`{named}`")),
            "{query}: {}",
            answer.text()
        );
    }
    for (query, named) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("state=open%20now", "state"),
        ("timeframe=1h", "timeframe"),
        ("namespaces=web", "namespaces"),
    ] {
        let answer = gateway.get(&format!("/api/blog/graphql/ExceptionIncidents.json?{query}")).await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.text());
        assert!(answer.text().contains(&format!("`{named}")), "{query}: {}", answer.text());
    }
    let dates = gateway
        .get("/api/blog/graphql/DeployMarkers.json?start=1700000000&end=2023-11-15T01:00:00%2B01:00")
        .await;
    assert_eq!(dates.status, 200, "{}", dates.text());
    let sent = gateway.fake.graphql().pop().unwrap();
    assert_eq!(
        sent.variables["start"], "2023-11-14T22:13:20Z",
        "DateTime as `since` reads it, RFC 3339 UTC out"
    );
    assert_eq!(sent.variables["end"], "2023-11-15T00:00:00Z");
    assert_eq!(gateway.fake.graphql().len(), 1, "no refused request reached AppSignal");
    for path in [
        "/api/blog/graphql/NotDeclared.json",
        "/api/not-listed/graphql/Incident.json?incidentNumber=1",
        "/api/blog/graphql/Incident",
        "/api/blog/graphql/incident.json?incidentNumber=1",
    ] {
        let answer = gateway.get(path).await;
        assert_eq!((answer.status.as_u16(), answer.code().as_str()), (404, "not_found"), "{path}");
    }
    let post = gateway.post("/api/blog/graphql/Incident.json?incidentNumber=1", "{}").await;
    assert_eq!(post.status, 405);
    assert_eq!(gateway.fake.graphql().len(), 1);
}

#[tokio::test]
async fn a_get_route_serves_jsonp_and_cors_as_every_get_route() {
    let gateway =
        TestGateway::start(|raw| raw.cors.allowed_origins = vec!["https://dash.example".into()]).await;
    let page = [("origin", "https://dash.example")];
    let cors = gateway.send(Method::GET, "/api/blog/graphql/Incident.json?incidentNumber=1", &page).await;
    assert_eq!(cors.status, 200, "{}", cors.text());
    assert_eq!(cors.header("access-control-allow-origin"), Some("https://dash.example"));
    let script = [("referer", "https://dash.example/wall")];
    let jsonp = gateway
        .send(Method::GET, "/api/blog/graphql/Incident.json?incidentNumber=1&callback=show", &script)
        .await;
    assert_eq!(jsonp.status, 200);
    assert!(jsonp.text().starts_with("/**/ typeof show === 'function' && show({"), "{}", jsonp.text());
    assert!(jsonp.header("content-type").unwrap().starts_with("text/javascript"));
    let foreign = gateway
        .send(Method::GET, "/api/blog/graphql/Incident.json?incidentNumber=1&callback=show", &[])
        .await;
    assert!(foreign.text().contains("forbidden_origin"), "JSONP without an allowed page: {}", foreign.text());
    let preflight = gateway
        .send(
            Method::OPTIONS,
            "/graphql",
            &[("origin", "https://dash.example"), ("access-control-request-method", "POST")],
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert!(preflight.header("access-control-allow-methods").unwrap().contains("POST"));
    assert_eq!(preflight.header("allow"), Some("GET, HEAD, POST, OPTIONS"));
    assert_eq!(gateway.fake.graphql().len(), 1, "one entry for the CORS and the JSONP request");
}

#[tokio::test]
async fn declared_text_in_another_layout_is_served_and_typenames_reach_appsignal() {
    let gateway = TestGateway::start(|_| {}).await;
    // Other whitespace and comments, commas: the same operation.
    let relaid = format!("# my copy\n{}", EXCEPTIONS.replace("\n  ", "\n\t, ").replace("  ", " "));
    let answer =
        post(&gateway, &json!({"query": relaid, "variables": {"appId": "blog", "state": "OPEN"}})).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    clean(&gateway, &answer);
    assert_eq!(
        gateway.fake.graphql_documents(),
        [EXCEPTIONS],
        "the declared document, not the client's bytes"
    );
    // The GET route asks the same question: one entry.
    let get = gateway.get("/api/blog/graphql/ExceptionIncidents.json?state=OPEN").await;
    assert!(get.header("cache-status").unwrap().contains("hit"), "{:?}", get.header("cache-status"));
    // Apollo Client's `__typename`s: the gateway's printing of the client's operation goes up.
    let typed = EXCEPTIONS.replace("rows {", "rows { __typename").replace("total", "__typename total");
    let answer = post(
        &gateway,
        &json!({"query": typed, "operationName": "ExceptionIncidents", "variables": {"appId": APP_ID}}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let rows = &answer.json()["data"]["app"]["paginatedExceptionIncidents"]["rows"];
    assert_eq!(rows[0]["__typename"], "ExceptionIncident", "{}", answer.text());
    let sent = gateway.fake.graphql_documents().pop().unwrap();
    assert!(sent.contains("__typename") && !sent.contains('\n'), "the gateway's printing: {sent}");
}

#[tokio::test]
async fn foreign_apps_by_path_and_by_variables_are_404_with_no_upstream_call() {
    let gateway = TestGateway::start(|_| {}).await;
    let by_path = gateway.get("/api/not-listed/graphql/ExceptionIncidents.json").await;
    assert_eq!(by_path.status, 404);
    for app in [json!("not-listed"), json!("v2"), json!("")] {
        let answer = post(&gateway, &json!({"query": EXCEPTIONS, "variables": {"appId": app}})).await;
        assert_eq!((answer.status.as_u16(), gql_code(&answer).as_str()), (404, "not_found"), "{app}");
    }
    let missing = post(&gateway, &json!({"query": EXCEPTIONS, "variables": {"state": "OPEN"}})).await;
    assert_eq!((missing.status.as_u16(), gql_code(&missing).as_str()), (400, "invalid_parameter"));
    let wrong =
        post(&gateway, &json!({"query": EXCEPTIONS, "variables": {"appId": "blog", "limit": 500}})).await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.text().contains("variables.limit"), "{}", wrong.text());
    let unknown =
        post(&gateway, &json!({"query": EXCEPTIONS, "variables": {"appId": "blog", "query": "x"}})).await;
    assert!(unknown.text().contains("variables.query"), "{}", unknown.text());
    assert_eq!(gateway.fake.count(), 0);
}

#[tokio::test]
async fn a_key_outside_its_scope_reads_no_app_through_variables() {
    let key = "k-0123456789abcdef";
    let gateway = TestGateway::start(|raw| {
        raw.clients.keys = vec![appsignal_gateway::config::RawKey {
            name: "wall".into(),
            sha256: sha256(key),
            apps: Some(vec!["other0000000000000000022".into()]),
        }]
    })
    .await;
    let bearer = format!("Bearer {key}");
    let headers = [("content-type", "application/json"), ("authorization", bearer.as_str())];
    let body = json!({"query": EXCEPTIONS, "variables": {"appId": "blog"}}).to_string();
    let answer = gateway.post_with("/graphql", &body, &headers).await;
    assert_eq!((answer.status.as_u16(), gql_code(&answer).as_str()), (404, "not_found"));
    let unkeyed = gateway.post("/graphql", &body).await;
    assert_eq!((unkeyed.status.as_u16(), gql_code(&unkeyed).as_str()), (401, "unauthorized"));
    assert_eq!(gateway.fake.count(), 0);
}

/// Documents a client might send to read what no dashboard may: each is refused 403
/// over POST and GET, before any upstream work.
fn hostile() -> Vec<String> {
    let viewer = "query V { viewer { token } }".to_owned();
    let organization = "query ExceptionIncidents($appId: String!) { app(id: $appId) { organization { apps { id pushApiKey } } } }".to_owned();
    let mutation =
        "mutation ExceptionIncidents($appId: String!) { deleteApp(appId: $appId) { id } }".to_owned();
    let extra_field = EXCEPTIONS.replace("total", "total frontendApiKey");
    let fragment =
        format!("{}\nfragment F on App {{ pushApiKey }}", EXCEPTIONS.replace("total", "total ...F"));
    let second = format!("{EXCEPTIONS}\nquery Two {{ viewer {{ token }} }}");
    let root = EXCEPTIONS.replacen("app(id: $appId) {", "viewer { token } app(id: $appId) {", 1);
    let anonymous = "{ viewer { token } }".to_owned();
    let garbage = "}{".to_owned();
    vec![viewer, organization, mutation, extra_field, fragment, second, root, anonymous, garbage]
}

#[tokio::test]
async fn hostile_documents_over_post_and_get_are_403_with_no_upstream_request() {
    let gateway = TestGateway::start(|_| {}).await;
    for document in hostile() {
        let answer = post(&gateway, &json!({"query": document, "variables": {"appId": "blog"}})).await;
        assert_eq!(
            (answer.status.as_u16(), gql_code(&answer).as_str()),
            (403, "operation_not_allowed"),
            "{document}"
        );
        assert_eq!(answer.header("content-type"), Some("application/json"));
        answer.assert_no_token();
        let query = format!(
            "/graphql?query={}&variables={}",
            percent_encoding::utf8_percent_encode(&document, percent_encoding::NON_ALPHANUMERIC),
            percent_encoding::utf8_percent_encode(r#"{"appId":"blog"}"#, percent_encoding::NON_ALPHANUMERIC)
        );
        let answer = gateway.get(&query).await;
        assert_eq!(
            (answer.status.as_u16(), gql_code(&answer).as_str()),
            (403, "operation_not_allowed"),
            "GET {document}"
        );
        answer.assert_no_token();
    }
    // The declared text, but naming another operation.
    let renamed = post(
        &gateway,
        &json!({"query": EXCEPTIONS, "operationName": "Incident", "variables": {"appId": "blog"}}),
    )
    .await;
    assert_eq!(renamed.status, 403);
    assert_eq!(gateway.fake.count(), 0, "nothing reached AppSignal: {:?}", gateway.fake.graphql_documents());
}

#[tokio::test]
async fn the_graphql_endpoint_checks_method_media_type_and_body_first() {
    let gateway = TestGateway::start(|raw| raw.limits.max_body_size = "1KiB".into()).await;
    let put = gateway.send(Method::PUT, "/graphql", &[]).await;
    assert_eq!((put.status.as_u16(), gql_code(&put).as_str()), (405, "method_not_allowed"));
    assert_eq!(put.header("allow"), Some("GET, HEAD, POST, OPTIONS"));
    let text = gateway.post_with("/graphql", "{}", &[("content-type", "text/plain")]).await;
    assert_eq!((text.status.as_u16(), gql_code(&text).as_str()), (415, "unsupported_media_type"));
    let large = gateway.post("/graphql", &format!(r#"{{"query":"{}"}}"#, "x".repeat(2000))).await;
    assert_eq!((large.status.as_u16(), gql_code(&large).as_str()), (413, "body_too_large"));
    let malformed = gateway.post("/graphql", "{\"query\":").await;
    assert_eq!((malformed.status.as_u16(), gql_code(&malformed).as_str()), (400, "invalid_body"));
    let unknown = gateway.post("/graphql", r#"{"query":"x","bogus":1}"#).await;
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    let empty = gateway.post("/graphql", "{}").await;
    assert_eq!((empty.status.as_u16(), gql_code(&empty).as_str()), (400, "invalid_body"));
    let jsonp = gateway.get("/graphql?callback=cb").await;
    assert_eq!((jsonp.status.as_u16(), gql_code(&jsonp).as_str()), (400, "invalid_parameter"));
    let foreign = gateway
        .post_with(
            "/graphql",
            "{}",
            &[("content-type", "application/json"), ("origin", "https://evil.example")],
        )
        .await;
    assert_eq!((foreign.status.as_u16(), gql_code(&foreign).as_str()), (403, "forbidden_origin"));
    assert_eq!(gateway.fake.count(), 0);
}

#[tokio::test]
async fn the_persisted_query_handshake_learns_only_true_hashes_of_declared_text() {
    let gateway = TestGateway::start(|_| {}).await;
    // Apollo's own printing of the operation: its layout, its `__typename`s.
    let apollo = INCIDENT.replace("  ", " ").replace("digests\n", "digests\n __typename\n");
    let hash = sha256(&apollo);
    let extensions =
        json!({"persistedQuery": {"version": 1, "sha256Hash": hash}, "clientLibrary": {"name": "x"}});
    let variables = json!({"appId": "blog", "incidentNumber": 1});
    let first = post(
        &gateway,
        &json!({"operationName": "Incident", "variables": variables, "extensions": extensions}),
    )
    .await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.text(),
        r#"{"errors":[{"message":"PersistedQueryNotFound","extensions":{"code":"PERSISTED_QUERY_NOT_FOUND"}}]}"#
    );
    // A text with a hash that is not its SHA-256 teaches nothing.
    let lie = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256("something else")}});
    let mismatch = post(&gateway, &json!({"query": apollo, "variables": variables, "extensions": lie})).await;
    assert_eq!((mismatch.status.as_u16(), gql_code(&mismatch).as_str()), (400, "persisted_query_mismatch"));
    // A hostile text with its true hash teaches nothing either.
    let viewer = "query V { viewer { token } }";
    let true_hash = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256(viewer)}});
    let refused = post(&gateway, &json!({"query": viewer, "extensions": true_hash})).await;
    assert_eq!(refused.status, 403);
    let unknown = post(&gateway, &json!({"extensions": true_hash, "variables": variables})).await;
    assert!(unknown.text().contains("PERSISTED_QUERY_NOT_FOUND"));
    assert_eq!(gateway.fake.count(), 0);
    // Apollo's retry: text and hash.
    let retry =
        post(&gateway, &json!({"query": apollo, "variables": variables, "extensions": extensions})).await;
    assert_eq!(retry.status, 200, "{}", retry.text());
    assert_eq!(
        retry.json()["data"]["app"]["incident"]["__typename"],
        "ExceptionIncident",
        "{}",
        retry.text()
    );
    // Learned: the hash alone now, over POST and GET (`useGETForHashedQueries`).
    let hashed = post(
        &gateway,
        &json!({"operationName": "Incident", "variables": variables, "extensions": extensions}),
    )
    .await;
    assert_eq!(hashed.status, 200);
    assert!(
        hashed.header("cache-status").unwrap().contains("hit"),
        "the same document and variables: one entry"
    );
    let enc = |v: &Value| {
        percent_encoding::utf8_percent_encode(&v.to_string(), percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let other = json!({"appId": "blog", "incidentNumber": 2});
    let get = gateway
        .get(&format!(
            "/graphql?operationName=Incident&variables={}&extensions={}",
            enc(&other),
            enc(&extensions)
        ))
        .await;
    assert_eq!(get.status, 200, "{}", get.text());
    assert_eq!(get.json()["data"]["app"]["incident"]["number"], 2, "{}", get.text());
    // The declared document's own hash is known without a handshake.
    let declared = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256(INCIDENT)}});
    let shipped = post(&gateway, &json!({"variables": variables, "extensions": declared})).await;
    assert_eq!(shipped.status, 200, "{}", shipped.text());
    let documents = gateway.fake.graphql_documents();
    assert_eq!(documents.len(), 3, "{documents:?}");
    assert!(documents[..2].iter().all(|d| d.contains("__typename") && *d != INCIDENT));
    assert_eq!(documents[2], INCIDENT);
    assert!(
        gateway.fake.graphql().iter().all(|r| r.body.get("extensions").is_none()),
        "extensions never forwarded"
    );
}

#[tokio::test]
async fn answers_with_errors_are_never_stored() {
    let gateway = TestGateway::start(|_| {}).await;
    let path = "/api/blog/graphql/ExceptionIncidents.json?state=OPEN";
    for _ in 0..2 {
        gateway.fake.then(Reply::GraphQlPartial);
        let partial = gateway.get(path).await;
        assert_eq!(partial.status, 200, "{}", partial.text());
        assert_eq!(partial.header("cache-control"), Some("no-store"));
        assert!(partial.json()["errors"].is_array() && partial.json()["data"]["app"].is_object());
        assert!(!partial.header("cache-status").unwrap().contains("stored"));
    }
    assert_eq!(gateway.fake.graphql().len(), 2, "each partial answer went upstream");
    gateway.fake.then(Reply::GraphQlRefused(200, "Field 'gone' doesn't exist on type 'App' (asked {url})"));
    let refused = gateway.get(path).await;
    assert_eq!((refused.status.as_u16(), refused.code().as_str()), (502, "appsignal_graphql_error"));
    let message = refused.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("Field 'gone' doesn't exist"), "{message}");
    refused.assert_no_token();
    gateway.fake.then(Reply::GraphQlRefused(400, "Variable $x of type String was provided invalid value"));
    let over_post =
        post(&gateway, &json!({"query": EXCEPTIONS, "variables": {"appId": "blog", "state": "OPEN"}})).await;
    assert_eq!((over_post.status.as_u16(), gql_code(&over_post).as_str()), (502, "appsignal_graphql_error"));
    // Nothing was stored: the next request is answered fresh, and stored.
    let fresh = gateway.get(path).await;
    assert_eq!(fresh.status, 200);
    assert!(fresh.header("cache-status").unwrap().contains("stored"));
    assert_eq!(gateway.fake.graphql().len(), 5);
}

#[tokio::test]
async fn a_graphql_429_backs_off_graphql_only() {
    let gateway = TestGateway::start(|_| {}).await;
    gateway.fake.then(Reply::Throttle("30"));
    let throttled = gateway.get("/api/blog/graphql/ExceptionIncidents.json").await;
    assert_eq!((throttled.status.as_u16(), throttled.code().as_str()), (503, "upstream_rate_limited"));
    let again = gateway.get("/api/blog/graphql/ExceptionIncidents.json?limit=3").await;
    assert_eq!(again.status, 503, "GraphQL backs off");
    gateway.fake.on("/api/5114f7e38c5ce90000000011/samples.json", Reply::Json(200, "[]"));
    let v1 = gateway.get("/api/blog/samples.json").await;
    assert_eq!(v1.status, 200, "the REST API goes on");
    assert_eq!(gateway.fake.graphql().len(), 1);
}

#[tokio::test]
async fn graphql_off_answers_404_everywhere() {
    let gateway = TestGateway::start(|raw| raw.graphql.enabled = false).await;
    assert_eq!(gateway.get("/api/blog/graphql/Incident.json?incidentNumber=1").await.status, 404);
    assert_eq!(post(&gateway, &json!({"query": INCIDENT})).await.status, 404);
    let builtin_off = TestGateway::start(|raw| raw.graphql.builtin = false).await;
    assert_eq!(builtin_off.get("/api/blog/graphql/Incident.json?incidentNumber=1").await.status, 404);
}

#[tokio::test]
async fn the_token_stays_out_of_answers_to_every_failure() {
    let gateway = TestGateway::start(|_| {}).await;
    for reply in [
        Reply::GraphQlRefused(200, "bad request to {url}"),
        Reply::GraphQlRefused(400, "bad request to {url}"),
        Reply::EchoUrl(500),
        Reply::Reset,
        Reply::NotJson,
    ] {
        gateway.fake.then(reply.clone());
        let answer = gateway.get("/api/blog/graphql/ExceptionIncidents.json?limit=7").await;
        assert!(answer.status.is_server_error(), "{reply:?}: {}", answer.status);
        answer.assert_no_token();
    }
}

/// The architecture invariant "no client document ever reaches AppSignal", kept by the
/// sources: a `Sendable` (the only thing an upstream GraphQL body is written from) is made
/// only in `src/graphql/mod.rs`, and only `src/gateway/graphql.rs` writes the body.
#[test]
fn only_the_graphql_module_makes_a_sendable_document() {
    fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    sources(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")), &mut files);
    assert!(files.len() > 50);
    let writer = files.iter().find(|(p, _)| p.ends_with("src/gateway/graphql.rs")).unwrap();
    assert!(writer.1.contains(",\"operationName\":"), "the check looks for the body's real spelling");
    for (path, text) in &files {
        // The code, without comments and tests (a test may write any body it likes).
        let code = text.split("#[cfg(test)]").next().unwrap();
        let code: String =
            code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        if !path.ends_with("src/graphql/mod.rs") {
            assert!(!code.contains("Sendable {"), "{path} makes a Sendable");
        }
        if !path.ends_with("src/gateway/graphql.rs") {
            // The upstream body's own spelling: `{"query":…,"operationName":…,"variables":…}`.
            assert!(!code.contains(",\"operationName\":"), "{path} writes a GraphQL body");
        }
    }
}

#[tokio::test]
async fn graphql_entries_coalesce_serve_stale_and_are_purged_by_app() {
    let gateway = TestGateway::start(|raw| {
        raw.cache.ttl.graphql = "300ms".into();
        raw.cache.stale_while_revalidate = "0s".into();
        raw.cache.stale_if_error = "10m".into();
    })
    .await;
    let path = "/api/blog/graphql/ExceptionIncidents.json?state=OPEN";
    // Eight clients at once, over the GET route and POST: one upstream call.
    gateway.fake.then(Reply::Delay(std::time::Duration::from_millis(300), Box::new(Reply::GraphQl)));
    let body = json!({"query": EXCEPTIONS, "variables": {"appId": "blog", "state": "OPEN"}}).to_string();
    let gets = (0..4).map(|_| gateway.get(path));
    let posts = (0..4).map(|_| gateway.post("/graphql", &body));
    let (gets, posts) =
        tokio::join!(futures_util::future::join_all(gets), futures_util::future::join_all(posts));
    assert!(gets.iter().chain(&posts).all(|a| a.status == 200));
    assert_eq!(gateway.fake.graphql().len(), 1, "coalesced into one call");
    let fresh = gets[0].body.clone();
    // Expired, and AppSignal failing: the stale entry answers.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    gateway.fake.then(Reply::Json(503, "{}"));
    let stale = gateway.get(path).await;
    assert_eq!((stale.status.as_u16(), &stale.body), (200, &fresh));
    assert_eq!(stale.header("cache-status"), Some("appsignal-gateway; fwd=stale; detail=upstream-error"));
    // A purge of the app drops it: the next request calls AppSignal again.
    let refreshed = gateway.get(path).await;
    assert!(refreshed.header("cache-status").unwrap().contains("stored"));
    assert_eq!(gateway.purge("?app=blog").await.status, 200);
    let after = gateway.get(path).await;
    assert!(after.header("cache-status").unwrap().contains("fwd=miss"), "{:?}", after.header("cache-status"));
    assert_eq!(gateway.fake.graphql().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_one_replica_stored_is_a_shared_hit_on_another() {
    use crate::support::redis::{self, RedisServer};
    use appsignal_gateway::config::RedisUrl;
    if !redis::available() {
        return;
    }
    let server = RedisServer::start().await;
    let fake = crate::support::FakeAppSignal::start().await;
    let replica = |fake: &crate::support::FakeAppSignal| {
        let url = server.url();
        TestGateway::start_before(
            fake.clone(),
            move |raw| {
                raw.shared.redis_url = Some(RedisUrl::new(&url));
                raw.shared.command_timeout = "2s".into();
            },
            appsignal_gateway::lifecycle::SHUTDOWN_GRACE,
        )
    };
    let (a, b) = (replica(&fake).await, replica(&fake).await);
    for gateway in [&a, &b] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while gateway.metric("appsignal_gateway_shared_up ").await != 1.0 {
            assert!(std::time::Instant::now() < deadline, "the shared tier never came up");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let path = "/api/blog/graphql/Incident.json?incidentNumber=1";
    let first = a.get(path).await;
    assert_eq!(first.header("cache-status"), Some("appsignal-gateway; fwd=miss; stored"), "{}", first.text());
    // The store runs in the background of the first answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let key = loop {
        let keys = server.cli(&["KEYS", "*:graphql:*"]).await;
        if let Some(key) = keys.lines().find(|l| l.contains(":graphql:Incident ")) {
            break key.trim().to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "never stored in the shared tier");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert!(key.contains(&format!("{{{APP_ID}}}")), "the app's hash tag: {key}");
    assert!(!server.cli(&["GET", &key]).await.contains(TOKEN));
    let second = b.get(path).await;
    assert!(
        second.header("cache-status").unwrap().starts_with("appsignal-gateway-shared; hit"),
        "{:?}",
        second.header("cache-status")
    );
    assert_eq!(second.body, first.body);
    assert_eq!(fake.graphql().len(), 1, "one call for the fleet");
}

/// A `POST /graphql` body is resolved once per configuration and remembered for every
/// key, so each request's key is checked again: the same bytes a wider key had resolved
/// are a 404, with no upstream call, for a key that may not read the app; and a
/// remembered body is answered from the same entry.
#[tokio::test]
async fn a_remembered_post_is_still_scoped_by_each_requests_key() {
    const WIDE: &str = "wide-0123456789abcdef";
    const NARROW: &str = "narrow-0123456789abcdef";
    let gateway =
        TestGateway::start(|raw| {
            let key = |name: &str, secret: &str, apps: Option<Vec<String>>| {
                appsignal_gateway::config::RawKey { name: name.into(), sha256: sha256(secret), apps }
            };
            raw.clients.keys = vec![
                key("wide", WIDE, None),
                key("narrow", NARROW, Some(vec!["other0000000000000000022".into()])),
            ];
        })
        .await;
    let declared = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256(EXCEPTIONS)}});
    let body = json!({"variables": {"appId": "blog", "state": "OPEN"}, "extensions": declared}).to_string();
    let post = |key: &'static str| {
        let (gateway, body) = (&gateway, &body);
        async move {
            let bearer = format!("Bearer {key}");
            let headers = [("content-type", "application/json"), ("authorization", bearer.as_str())];
            gateway.post_with("/graphql", body, &headers).await
        }
    };
    let first = post(WIDE).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let narrow = post(NARROW).await;
    assert_eq!((narrow.status.as_u16(), gql_code(&narrow).as_str()), (404, "not_found"));
    let again = post(WIDE).await;
    assert_eq!(again.status, 200);
    assert!(again.header("cache-status").unwrap().contains("hit"), "{:?}", again.header("cache-status"));
    assert_eq!(again.text(), first.text());
    assert_eq!(gateway.fake.count(), 1, "the refused request cost no call");
}
