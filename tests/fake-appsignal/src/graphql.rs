//! The fake's `POST /graphql?token=…`: AppSignal's GraphQL API as a gateway test needs it.
//!
//! It executes whatever document arrives over the world in [`data`] (so an answer is shaped
//! exactly like the document's selections, `__typename`s included), honouring `state`,
//! `order`, `namespaces`, `timeframe`, `limit`, `offset`, `incidentNumber`, `start`, `end`.
//! Like the real API it answers `viewer { token }` with the token the request carried, and
//! `app { organization { apps } }` with other apps: a test in which such a document reaches
//! the fake sees the secret in the answer and fails loudly. Bad requests get AppSignal's
//! error shape (`{"errors":[{"message","locations","extensions"}]}`, HTTP 400).
//!
//! Faults reuse [`Reply`]: [`Reply::GraphQlPartial`] (`errors` beside the data),
//! [`Reply::GraphQlRefused`] (`data: null`), and [`Reply::Throttle`] for a 429.

pub mod data;
mod execute;

use http::{Request, Response};
use serde_json::{json, Value};

use crate::{json, Chunks, FakeAppSignal, Received, Reply};

/// One GraphQL request the fake received, decoded.
#[derive(Debug, Clone)]
pub struct GraphQlRequest {
    /// The `token` query parameter, as sent.
    pub token: Option<String>,
    /// The document text, exactly as sent.
    pub query: String,
    /// `operationName`, when sent.
    pub operation_name: Option<String>,
    /// `variables`, as sent (`null` when absent).
    pub variables: Value,
    /// The whole body, for assertions on anything else it carried (e.g. no `extensions`).
    pub body: Value,
}

impl GraphQlRequest {
    fn from(received: &Received) -> Option<Self> {
        if received.path != "/graphql" {
            return None;
        }
        let body: Value = serde_json::from_slice(&received.body).unwrap_or(Value::Null);
        let token = received.pairs().into_iter().find(|(k, _)| k == "token").map(|(_, v)| v);
        Some(GraphQlRequest {
            token,
            query: body["query"].as_str().unwrap_or_default().to_owned(),
            operation_name: body["operationName"].as_str().map(str::to_owned),
            variables: body["variables"].clone(),
            body,
        })
    }
}

#[allow(dead_code)]
impl FakeAppSignal {
    /// Every request to `/graphql` so far, decoded, in order.
    pub fn graphql(&self) -> Vec<GraphQlRequest> {
        self.received().iter().filter_map(GraphQlRequest::from).collect()
    }

    /// The documents received on `/graphql` so far, in order.
    pub fn graphql_documents(&self) -> Vec<String> {
        self.graphql().into_iter().map(|r| r.query).collect()
    }
}

/// Answers one `/graphql` request according to `reply` (one of the GraphQL replies).
pub(crate) fn answer(req: &Request<()>, body: &[u8], reply: &Reply) -> Response<Chunks> {
    if req.method() != http::Method::POST {
        return errors(405, "GraphQL takes POST requests only", req);
    }
    let token = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("token="))
        .map(|t| percent_encoding::percent_decode_str(t).decode_utf8_lossy().into_owned());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return errors(401, "Unauthorized: pass a personal API token as ?token=", req);
    };
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return errors(400, "The request body is not JSON", req);
    };
    let Some(query) = request["query"].as_str() else {
        return errors(400, "No query string was present", req);
    };
    let variables = match &request["variables"] {
        Value::Null => json!({}),
        Value::Object(_) => request["variables"].clone(),
        _ => return errors(400, "variables must be an object", req),
    };
    let world = data::World { token };
    let data = match execute::run(query, request["operationName"].as_str(), &variables, &world) {
        execute::Outcome::Data(data) => data,
        execute::Outcome::Refused(errs) => return json(400, json!({ "errors": errs }).to_string()),
    };
    match reply {
        Reply::GraphQlPartial => {
            let error = json!({
                "message": "Internal server error while resolving a field",
                "path": ["app"], "locations": [{"line": 1, "column": 1}],
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            });
            json(200, json!({ "data": data, "errors": [error] }).to_string())
        }
        Reply::GraphQlRefused(status, message) => errors(*status, message, req),
        _ => json(200, json!({ "data": data }).to_string()),
    }
}

/// `{"data": null, "errors": [{message, extensions.code}]}`; `{url}` in `message` becomes the
/// request URL, token included, for tests of scrubbing.
fn errors(status: u16, message: &str, req: &Request<()>) -> Response<Chunks> {
    let message = message.replace("{url}", &req.uri().to_string());
    let code = match status {
        401 => "UNAUTHENTICATED",
        400 | 405 => "BAD_REQUEST",
        _ => "ACCOUNT_RESTRICTED",
    };
    let body = json!({ "data": null, "errors": [{ "message": message, "extensions": { "code": code } }] });
    json(status, body.to_string())
}
