//! Declared GraphQL operations as the built binary loads them: `check` names every refused
//! document's cause (file, line, field path), a reload with a bad operation is rejected
//! whole, and an operator's operation is served with its own TTL, the token in no log.

use http::Method;

use crate::support::binary::{self, Process};
use crate::support::{self, FakeAppSignal, Reply, APP_ID, TOKEN};

/// A configuration declaring one operation `name` from `file`.
fn yaml(upstream: &str, name: &str, file: &str) -> String {
    format!(
        "listen: \"127.0.0.1:0\"\nadmin_listen: \"127.0.0.1:0\"\n\
         upstream:\n  base_url: \"{upstream}\"\n  timeout: \"2s\"\n\
         apps:\n  - id: \"{APP_ID}\"\n    name: \"blog\"\n\
         graphql:\n  operations:\n    - name: \"{name}\"\n      file: \"{file}\"\n      ttl: \"2m\"\n\
         log:\n  format: \"json\"\n  level: \"debug\"\n"
    )
}

/// `check` on a configuration declaring `document` as `Q`: its exit and what it printed.
fn check(document: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.graphql");
    std::fs::write(&file, document).unwrap();
    let path = binary::write_config(dir.path(), &yaml("https://appsignal.com", "Q", file.to_str().unwrap()));
    let (status, stdout, stderr) =
        binary::run(&["check", "--config", &path], &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)]);
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    (status.success(), format!("{stdout}{stderr}").replace(file.to_str().unwrap(), "q.graphql"))
}

#[test]
fn check_names_the_cause_of_each_refused_document() {
    let (ok, out) = check("query Q($appId: String!, $limit: Int) {\n  app(id: $appId) { name }\n}\n");
    assert!(ok, "{out}");
    for (document, said) in [
        (
            "mutation Q($appId: String!) {\n  deleteApp(appId: $appId) { id }\n}",
            "q.graphql line 1: is a `mutation`",
        ),
        (
            "subscription Q($appId: String!) {\n  app(id: $appId) { name }\n}",
            "q.graphql line 1: is a `subscription`",
        ),
        (
            "query Q($appId: String!) {\n  viewer {\n    token\n  }\n}",
            "q.graphql line 2: `viewer`: the field `viewer` is never allowed",
        ),
        (
            "query Q($appId: String!) {\n  app(id: $appId) {\n    organization { apps { id } }\n  }\n}",
            "q.graphql line 3: `app.organization`: the field `organization` is never allowed",
        ),
        (
            "query Q($appId: String!) {\n  app(id: $appId) { ...F }\n}\nfragment F on App {\n  pushApiKey\n}",
            "q.graphql line 5: `app.(...F).pushApiKey`",
        ),
        (
            "query Q($appId: String!) {\n  app(id: $appId) { name }\n  timezones { name }\n}",
            "q.graphql line 3: `timezones`: is a root field other than `app(id: $appId)`",
        ),
        ("query Q {\n  app(id: \"5114\") { name }\n}", "`$appId`: must be declared `$appId: String!`"),
    ] {
        let (ok, out) = check(document);
        assert!(!ok, "{document} passed");
        assert!(out.contains("graphql.operations[0].file"), "{out}");
        assert!(out.contains(said), "expected {said:?} in:\n{out}");
    }
    // Every problem at once, beside the other keys' errors.
    let (ok, out) = check("mutation Other { viewer { token } }");
    assert!(!ok);
    for said in ["`mutation`", "declared as `Q`", "`viewer`", "`viewer.token`", "$appId"] {
        assert!(out.contains(said), "{said} missing:\n{out}");
    }
}

#[test]
fn check_names_an_unreadable_operation_file_and_a_bad_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = binary::write_config(
        dir.path(),
        &yaml("https://appsignal.com", "Incident", "/nonexistent/x.graphql"),
    );
    let (status, stdout, stderr) =
        binary::run(&["check", "--config", &path], &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)]);
    assert!(!status.success());
    let out = format!("{stdout}{stderr}");
    assert!(
        out.contains("graphql.operations[0].file") && out.contains("cannot read /nonexistent/x.graphql"),
        "{out}"
    );
    assert!(out.contains("graphql.operations[0].name") && out.contains("built-in"), "{out}");
}

#[test]
fn the_shipped_example_operation_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/config/graphql/slow-actions.graphql");
    let path = binary::write_config(dir.path(), &yaml("https://appsignal.com", "SlowActions", file));
    let envs = [("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)];
    let (status, stdout, stderr) = binary::run(&["check", "--config", &path], &envs);
    assert!(status.success(), "{stdout}{stderr}");
    // config/gateway.yaml shows it commented out, as written here.
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/gateway.yaml")).unwrap();
    assert!(
        shipped.contains("#  - name: \"SlowActions\"")
            && shipped.contains("#    file: \"config/graphql/slow-actions.graphql\"")
    );
}

#[tokio::test]
async fn a_reload_with_a_bad_operation_is_rejected_whole_and_the_old_one_serves_on() {
    let fake = FakeAppSignal::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.graphql");
    let good = "query Slow($appId: String!, $limit: Int) {\n  app(id: $appId) {\n    paginatedPerformanceIncidents(limit: $limit) { total rows { number mean } }\n  }\n}\n";
    std::fs::write(&file, good).unwrap();
    let path = binary::write_config(dir.path(), &yaml(&fake.url, "Slow", file.to_str().unwrap()));
    let mut process = Process::spawn(&["--config", &path], &[("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", TOKEN)]);
    let (listen, admin) = process.wait_serving();
    let url = format!("http://{listen}/api/blog/graphql/Slow.json?limit=3");
    let served = support::send(Method::GET, &url, &[]).await;
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(served.header("cache-control"), Some("private, max-age=120"), "the operation's own ttl");
    assert_eq!(fake.graphql_documents(), [good]);
    // The same file, now walking out of the app: the reload is refused, nothing changes.
    std::fs::write(&file, good.replace("mean", "mean organization { apps { id } }")).unwrap();
    let reload = support::send(Method::POST, &format!("http://{admin}/config/reload"), &[]).await;
    assert_eq!(reload.status, 400, "{}", reload.text());
    assert!(reload.text().contains("graphql.operations[0].file"), "{}", reload.text());
    assert!(
        reload.text().contains("app.paginatedPerformanceIncidents.rows.organization"),
        "{}",
        reload.text()
    );
    let still =
        support::send(Method::GET, &format!("http://{listen}/api/blog/graphql/Slow.json?limit=4"), &[]).await;
    assert_eq!(still.status, 200);
    assert!(fake.graphql_documents().iter().all(|d| d == good), "the refused document never went up");
    // AppSignal failing in every way it can, some quoting the request URL (token included):
    // neither the answers nor the log lines hold the token.
    for (i, reply) in [
        Reply::GraphQlRefused(200, "refused {url}"),
        Reply::GraphQlRefused(400, "bad request to {url}"),
        Reply::EchoUrl(500),
        Reply::Reset,
        Reply::Throttle("1"),
    ]
    .into_iter()
    .enumerate()
    {
        fake.then(reply);
        let url = format!("http://{listen}/api/blog/graphql/Slow.json?limit={}", 10 + i);
        let answer = support::send(Method::GET, &url, &[]).await;
        assert!(answer.status.is_server_error(), "{}", answer.status);
        answer.assert_no_token();
    }
    assert!(process.terminate().success());
    let output = process.all_output();
    assert!(!output.contains(TOKEN), "token in logs:\n{output}");
    assert!(output.contains("AppSignal answered an error"), "the failures were logged:\n{output}");
    let received = fake.received();
    assert!(received.iter().all(|r| r.path == "/graphql" && r.query == format!("token={TOKEN}")));
}
