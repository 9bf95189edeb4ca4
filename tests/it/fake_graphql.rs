//! The fake AppSignal's GraphQL endpoint, tested on its own: the gateway's GraphQL tests
//! rely on it answering like AppSignal (shapes, filters, errors, secrets), so it is held to
//! that here, directly, without a gateway in between.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::fake::graphql::data::{incident_state, EXCEPTION_INCIDENTS, LAST_INCIDENT};
use crate::support::{send_body, Answer, FakeAppSignal, Reply, TOKEN};

const EXCEPTIONS: &str = include_str!("../../src/graphql/builtin/ExceptionIncidents.graphql");
const PERFORMANCE: &str = include_str!("../../src/graphql/builtin/PerformanceIncidents.graphql");
const INCIDENT: &str = include_str!("../../src/graphql/builtin/Incident.graphql");
const DEPLOYS: &str = include_str!("../../src/graphql/builtin/DeployMarkers.graphql");
const SLOW_ACTIONS: &str = include_str!("../../config/graphql/slow-actions.graphql");

async fn ask(fake: &FakeAppSignal, query: &str, operation: &str, variables: Value) -> Answer {
    let body = json!({ "query": query, "operationName": operation, "variables": variables });
    let url = format!("{}/graphql?token={TOKEN}", fake.url);
    let headers = [("content-type", "application/json")];
    send_body(Method::POST, &url, &headers, Bytes::from(body.to_string())).await
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn exception_incidents_are_filtered_paged_and_shaped_like_the_document() {
    let fake = FakeAppSignal::start().await;
    let open = (1..=EXCEPTION_INCIDENTS).filter(|n| incident_state(*n) == "OPEN").count();
    let vars = json!({"appId": "app-1", "state": "OPEN", "limit": 5});
    let answer = ask(&fake, EXCEPTIONS, "ExceptionIncidents", vars).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let page = &answer.json()["data"]["app"]["paginatedExceptionIncidents"];
    assert_eq!(page["total"], open);
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["state"] == "OPEN"));
    assert_eq!(
        keys(&rows[0]),
        [
            "actionNames",
            "count",
            "createdAt",
            "digests",
            "exceptionMessage",
            "exceptionName",
            "firstBacktraceLine",
            "firstMarker",
            "id",
            "lastOccurredAt",
            "namespace",
            "number",
            "scopedCount",
            "severity",
            "state",
            "updatedAt",
        ],
        "exactly the document's selection, nothing more"
    );
    assert_eq!(keys(&rows[0]["firstMarker"]), ["createdAt", "revision", "shortRevision"]);

    // The default limit (25) and an offset past most of them.
    let all = ask(&fake, EXCEPTIONS, "ExceptionIncidents", json!({"appId": "app-1"})).await.json();
    assert_eq!(all["data"]["app"]["paginatedExceptionIncidents"]["rows"].as_array().unwrap().len(), 25);
    let vars = json!({"appId": "app-1", "state": "OPEN", "offset": open - 2});
    let tail = ask(&fake, EXCEPTIONS, "ExceptionIncidents", vars).await.json();
    assert_eq!(tail["data"]["app"]["paginatedExceptionIncidents"]["rows"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn performance_incidents_and_the_example_operation_answer() {
    let fake = FakeAppSignal::start().await;
    let vars = json!({"appId": "app-1", "state": "CLOSED"});
    let answer = ask(&fake, PERFORMANCE, "PerformanceIncidents", vars).await.json();
    let rows = answer["data"]["app"]["paginatedPerformanceIncidents"]["rows"].as_array().unwrap().clone();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r["state"] == "CLOSED" && r["number"].as_i64().unwrap() > EXCEPTION_INCIDENTS));
    assert!(rows[0]["mean"].is_f64());

    let vars = json!({"appId": "app-1", "namespaces": ["background"]});
    let answer = ask(&fake, SLOW_ACTIONS, "SlowActions", vars).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let rows = answer.json()["data"]["app"]["paginatedPerformanceIncidents"]["rows"].clone();
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r["namespace"] == "background"));
    assert!(
        rows.iter().all(|r| incident_state(r["number"].as_i64().unwrap()) == "OPEN"),
        "state: OPEN in the document"
    );
}

#[tokio::test]
async fn one_incident_by_number_of_either_kind_or_none() {
    let fake = FakeAppSignal::start().await;
    let exception = ask(&fake, INCIDENT, "Incident", json!({"appId": "a", "incidentNumber": 3})).await.json();
    let incident = &exception["data"]["app"]["incident"];
    assert_eq!(incident["__typename"], "ExceptionIncident");
    assert_eq!(incident["number"], 3);
    assert!(incident["exceptionName"].is_string());
    let vars = json!({"appId": "a", "incidentNumber": LAST_INCIDENT});
    let slow = ask(&fake, INCIDENT, "Incident", vars).await.json();
    assert_eq!(slow["data"]["app"]["incident"]["__typename"], "PerformanceIncident");
    assert!(slow["data"]["app"]["incident"].get("exceptionName").is_none());
    let none = ask(&fake, INCIDENT, "Incident", json!({"appId": "a", "incidentNumber": 9999})).await.json();
    assert_eq!(none["data"]["app"]["incident"], Value::Null);
    let missing = ask(&fake, INCIDENT, "Incident", json!({"appId": "a"})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "incidentNumber is Int!");
}

#[tokio::test]
async fn deploy_markers_honour_the_window_and_the_limit() {
    let fake = FakeAppSignal::start().await;
    let all = ask(&fake, DEPLOYS, "DeployMarkers", json!({"appId": "a"})).await.json();
    let markers = all["data"]["app"]["deployMarkers"].as_array().unwrap().clone();
    assert!(markers.len() > 3);
    assert!(
        markers.windows(2).all(|w| w[0]["createdAt"].as_str() > w[1]["createdAt"].as_str()),
        "newest first"
    );
    let two = ask(&fake, DEPLOYS, "DeployMarkers", json!({"appId": "a", "limit": 2})).await.json();
    assert_eq!(two["data"]["app"]["deployMarkers"].as_array().unwrap().len(), 2);
    let vars = json!({"appId": "a", "start": markers[1]["createdAt"], "end": markers[0]["createdAt"]});
    let window = ask(&fake, DEPLOYS, "DeployMarkers", vars).await.json();
    assert_eq!(window["data"]["app"]["deployMarkers"].as_array().unwrap().len(), 2);
    let day = ask(&fake, DEPLOYS, "DeployMarkers", json!({"appId": "a", "timeframe": "R12H"})).await.json();
    assert_eq!(day["data"]["app"]["deployMarkers"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn like_the_real_api_it_hands_out_secrets_to_whoever_asks() {
    let fake = FakeAppSignal::start().await;
    let answer = ask(&fake, "query Steal { viewer { token } }", "Steal", json!({})).await;
    assert_eq!(answer.json()["data"]["viewer"]["token"], TOKEN, "a document reaching it gets the token");
    let walk = "query Walk($appId: String!) { app(id: $appId) { organization { apps { id pushApiKey } } } }";
    let answer = ask(&fake, walk, "Walk", json!({"appId": "a"})).await.json();
    assert!(answer["data"]["app"]["organization"]["apps"][0]["pushApiKey"].is_string());
    let mutation = r#"mutation Drop { deleteApp(appId: "a") { id } }"#;
    assert_eq!(ask(&fake, mutation, "Drop", json!({})).await.json()["data"]["deleteApp"]["id"], "a");
}

#[tokio::test]
async fn apollo_clients_typenames_and_fragments_are_answered() {
    let fake = FakeAppSignal::start().await;
    let query = "query ExceptionIncidents($appId: String!) { app(id: $appId) { \
        paginatedExceptionIncidents(limit: 1) { ...Page __typename } __typename } } \
        fragment Page on PaginatedExceptionIncidents { total rows { number @include(if: true) state @skip(if: true) __typename } }";
    let answer = ask(&fake, query, "ExceptionIncidents", json!({"appId": "a"})).await.json();
    let page = &answer["data"]["app"]["paginatedExceptionIncidents"];
    assert_eq!(answer["data"]["app"]["__typename"], "App");
    assert_eq!(page["__typename"], "PaginatedExceptionIncidents");
    assert_eq!(keys(&page["rows"][0]), ["__typename", "number"]);
}

#[tokio::test]
async fn bad_requests_get_appsignals_error_shape() {
    let fake = FakeAppSignal::start().await;
    let vars = json!({"appId": "a", "state": "OPENED"});
    let bad_enum = ask(&fake, EXCEPTIONS, "ExceptionIncidents", vars).await;
    assert_eq!(bad_enum.status, StatusCode::BAD_REQUEST);
    let error = &bad_enum.json()["errors"][0];
    assert!(error["message"].as_str().unwrap().contains("$state"), "{error}");
    assert!(error["locations"][0]["line"].is_u64());

    let unknown =
        ask(&fake, "query Q($appId: String!) { app(id: $appId) { nope } }", "Q", json!({"appId": "a"})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.json()["errors"][0]["message"], "Field 'nope' doesn't exist on type 'App'");
    let unparsable = ask(&fake, "query {", "Q", json!({})).await;
    assert_eq!(unparsable.status, StatusCode::BAD_REQUEST);
    let wrong_name = ask(&fake, EXCEPTIONS, "Other", json!({"appId": "a"})).await;
    assert_eq!(wrong_name.json()["errors"][0]["message"], "No operation named \"Other\"");

    let url = format!("{}/graphql", fake.url);
    let body = Bytes::from(json!({"query": INCIDENT}).to_string());
    let no_token = send_body(Method::POST, &url, &[], body).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn faults_partial_data_refusals_and_throttling() {
    let fake = FakeAppSignal::start().await;
    let vars = json!({"appId": "a", "incidentNumber": 3});
    fake.then(Reply::GraphQlPartial);
    let partial = ask(&fake, INCIDENT, "Incident", vars.clone()).await.json();
    assert_eq!(partial["data"]["app"]["incident"]["number"], 3);
    assert!(partial["errors"][0]["message"].is_string());

    fake.then(Reply::GraphQlRefused(200, "API access is restricted. {url}"));
    let refused = ask(&fake, INCIDENT, "Incident", vars.clone()).await;
    assert_eq!(refused.status, StatusCode::OK);
    assert_eq!(refused.json()["data"], Value::Null);
    assert!(refused.text().contains(TOKEN), "the message quotes the URL, token included, to test scrubbing");

    fake.then(Reply::Throttle("7"));
    let throttled = ask(&fake, INCIDENT, "Incident", vars.clone()).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.header("retry-after"), Some("7"));

    // The default reply is for the REST routes; GraphQL still answers.
    fake.always(Reply::Json(500, "{}"));
    assert_eq!(ask(&fake, INCIDENT, "Incident", vars).await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_request_is_recorded_with_its_document_and_variables() {
    let fake = FakeAppSignal::start().await;
    ask(&fake, INCIDENT, "Incident", json!({"appId": "a", "incidentNumber": 3})).await;
    let seen = fake.graphql();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].query, INCIDENT);
    assert_eq!(seen[0].operation_name.as_deref(), Some("Incident"));
    assert_eq!(seen[0].variables, json!({"appId": "a", "incidentNumber": 3}));
    assert_eq!(seen[0].token.as_deref(), Some(TOKEN));
    assert_eq!(fake.graphql_documents(), [INCIDENT]);
}
