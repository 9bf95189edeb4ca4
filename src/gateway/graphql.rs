//! AppSignal's GraphQL API, declared operations only: the GET routes
//! (`/api/{app}/graphql/{Operation}.json`, served as every GET route is, from a target
//! this module makes) and GraphQL over HTTP (`POST /graphql`, `GET /graphql`).
//!
//! `/graphql` in order: preflight, page origin (403), dashboard key (401), method (405),
//! `Content-Type` (415) and no `callback` (400) for a POST, the client's rate limit (429);
//! then the body is read (as a V2 query's: 413, 408) or the query string decoded, the
//! operation found by its text or hash ([`resolve`]: 403 `operation_not_allowed`, 400
//! `persisted_query_mismatch`, or the `PERSISTED_QUERY_NOT_FOUND` answer), `variables.appId`
//! scoped (404) and the variables typed (400), all before any upstream work. From there
//! the target's entry is found as for any GET. Errors here are GraphQL-shaped.
//!
//! What is sent upstream is a declared document, or the gateway's own printing of a
//! client's text whose checked form is a declared operation's (it differs from it only by
//! `__typename` selections): never the client's bytes.

use std::sync::Arc;

use http::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::generation::Generation;
use super::phases::Exchange;
use super::query;
use super::Gateway;
use crate::config::DashboardKey;
use crate::error::{Allowed, GatewayError};
use crate::graphql::canonical::{self, sha256_hex};
use crate::graphql::learned::Learned;
use crate::graphql::{variables, Operation, Sendable};
use crate::key::{CacheKey, KeyKind};
use crate::response::{self, Body};
use crate::route::{Normalised, ParamError, PathMatch, QueryOptions, RouteError, Target};
use crate::urlencoded::decode_query;

/// `POST /graphql` bodies share the generation's query memo with V2's, under this name.
const MEMO_ROUTE: &str = "graphql";

/// The path every GraphQL call is sent to, before the token is appended.
const UPSTREAM_PATH: &str = "/graphql";

/// What Apollo Client expects for a hash it must send the text of.
const PERSISTED_QUERY_NOT_FOUND: &str =
    r#"{"errors":[{"message":"PersistedQueryNotFound","extensions":{"code":"PERSISTED_QUERY_NOT_FOUND"}}]}"#;

/// A GraphQL-over-HTTP request, as a POST body or a GET's parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphQlRequest {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<Map<String, Value>>,
    extensions: Option<Extensions>,
}

/// `extensions`: only `persistedQuery` is read; others (Apollo's `clientLibrary`) are
/// ignored and never forwarded.
#[derive(Debug, Default, Deserialize)]
struct Extensions {
    #[serde(rename = "persistedQuery")]
    persisted_query: Option<PersistedQuery>,
}

#[derive(Debug, Deserialize)]
struct PersistedQuery {
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

/// What a request asks for: a declared operation and the document to send for it, or
/// a hash the gateway does not know (Apollo then sends the text).
enum Resolved {
    /// A declared operation and the document to send; `learned` when found through a
    /// hash a client taught (such a body is never remembered: learned hashes are bounded
    /// per operation, least recently used replaced, and a remembered body would outlive one).
    Operation {
        operation: Arc<Operation>,
        document: Sendable,
        learned: bool,
    },
    HashNotFound,
}

impl Gateway {
    /// Answers `POST /graphql` or `GET /graphql`.
    pub(super) async fn graphql<B>(
        &self,
        request: &mut Exchange<'_>,
        body: B,
    ) -> Result<Response<Body>, GatewayError>
    where
        B: http_body::Body + Send,
        B::Data: Send,
    {
        if request.parts.method == Method::OPTIONS {
            return Ok(request.generation.cors.options(&request.parts.headers, Allowed::GraphQl));
        }
        let key = request.page_and_key()?;
        let mut remember = None;
        let parsed = match request.parts.method {
            Method::POST => {
                request.check_json()?;
                request.refuse_callback()?;
                let client = request.limit_client(key)?;
                let bytes = request.read_query_body(body).await?;
                // A body resolved before (Apollo re-posts the same hash and variables).
                let raw = query::memo_key(MEMO_ROUTE, &bytes);
                if let Some(resolved) = raw.as_deref().and_then(|raw| request.generation.queries.get(raw)) {
                    if !resolved.in_scope(key) {
                        return Err(GatewayError::NotFound);
                    }
                    request.log.app = Some(resolved.target.app_id.clone());
                    return self.answer(request, &resolved.target, &client).await;
                }
                remember = raw;
                (from_body(&bytes)?, client)
            }
            Method::GET | Method::HEAD => {
                drop(body);
                let client = request.limit_client(key)?;
                (from_query(request, request.parts.uri.query())?, client)
            }
            _ => return Err(GatewayError::MethodNotAllowed(Allowed::GraphQl)),
        };
        let (graphql, client) = parsed;
        let (operation, document) = match resolve(request.generation, &graphql)? {
            Resolved::Operation { operation, document, learned } => {
                remember = remember.filter(|_| !learned);
                (operation, document)
            }
            Resolved::HashNotFound => {
                return Ok(response::with_body(
                    StatusCode::OK,
                    response::JSON,
                    bytes::Bytes::from_static(PERSISTED_QUERY_NOT_FOUND.as_bytes()),
                ))
            }
        };
        let target = post_target(request, &operation, &document, graphql.variables.unwrap_or_default(), key)?;
        match remember {
            Some(raw) => {
                let app = target.app_id.clone();
                let resolved = Arc::new(query::Resolved { target, apps: vec![app] });
                request.generation.queries.remember(&raw, resolved.clone());
                self.answer(request, &resolved.target, &client).await
            }
            None => self.answer(request, &target, &client).await,
        }
    }
}

/// `extensions.persistedQuery.sha256Hash`, if the request has one.
fn persisted_hash(request: &GraphQlRequest) -> Option<&String> {
    request.extensions.as_ref().and_then(|e| e.persisted_query.as_ref()).map(|p| &p.sha256_hash)
}

/// The request a POST body holds: one JSON object of the four GraphQL-over-HTTP fields.
fn from_body(bytes: &[u8]) -> Result<GraphQlRequest, GatewayError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize::<_, GraphQlRequest>(&mut de).map_err(|e| {
        let inner = e.inner();
        GatewayError::BadBody(match e.path().to_string().as_str() {
            "." | "" => format!(
                "the body is not a GraphQL request: {inner} (line {}, column {})",
                inner.line(),
                inner.column()
            ),
            at => format!("`{at}`: {inner}"),
        })
    })?;
    de.end().map_err(|e| GatewayError::BadBody(format!("the body holds more than one JSON value: {e}")))?;
    Ok(parsed)
}

/// The request a GET's query string holds (`variables` and `extensions` as JSON text).
fn from_query(request: &Exchange<'_>, query: Option<&str>) -> Result<GraphQlRequest, GatewayError> {
    let callback = &request.generation.settings.jsonp.callback_param;
    let mut out = GraphQlRequest::default();
    let pairs = decode_query(query.unwrap_or("")).map_err(|e| GatewayError::BadParameter(e.into()))?;
    for (name, value) in pairs {
        let json = |what: &str| -> Result<Value, GatewayError> {
            serde_json::from_str(&value)
                .map_err(|e| GatewayError::BadParameter(ParamError::new(what, format!("is not JSON: {e}"))))
        };
        match &*name {
            "query" => out.query = Some(value.into_owned()),
            "operationName" => out.operation_name = Some(value.into_owned()),
            "variables" => {
                out.variables = match json("variables")? {
                    Value::Object(map) => Some(map),
                    Value::Null => None,
                    _ => return Err(bad("variables", "must be a JSON object")),
                }
            }
            "extensions" => {
                out.extensions = Some(
                    serde_json::from_value(json("extensions")?)
                        .map_err(|e| bad("extensions", &format!("is not GraphQL extensions: {e}")))?,
                )
            }
            "_" | "token" | "key" => {}
            other if other == callback => {
                return Err(bad(
                    other,
                    "JSONP is for the GET routes: /graphql answers JSON to GraphQL clients",
                ))
            }
            other => return Err(bad(other, "is not a parameter of /graphql")),
        }
    }
    Ok(out)
}

fn bad(name: &str, reason: &str) -> GatewayError {
    GatewayError::BadParameter(ParamError::new(name, reason))
}

/// The declared operation a request names by its text or hash, and the document sent
/// for it; anything else is `operation_not_allowed`, before any upstream work.
fn resolve(generation: &Generation, request: &GraphQlRequest) -> Result<Resolved, GatewayError> {
    let operations = &generation.settings.graphql.operations;
    let hash = persisted_hash(request);
    let (operation, document, learned) = match (&request.query, hash) {
        (Some(text), hash) => {
            let forms = canonical::forms(text).ok_or(GatewayError::OperationNotAllowed)?;
            let operation = operations.by_checked(&forms.checked).ok_or(GatewayError::OperationNotAllowed)?;
            let document = operation.as_sent(forms).ok_or(GatewayError::OperationNotAllowed)?;
            if let Some(hash) = hash {
                if !sha256_hex(text.as_bytes()).eq_ignore_ascii_case(hash) {
                    return Err(GatewayError::PersistedQueryMismatch);
                }
                let hash = hash.to_ascii_lowercase();
                if hash != operation.sha256 {
                    let learned = Learned { operation: operation.clone(), document: document.clone() };
                    generation.learned.learn(hash, learned);
                }
            }
            (operation.clone(), document, false)
        }
        (None, Some(hash)) => {
            let hash = hash.to_ascii_lowercase();
            match operations.by_hash(&hash) {
                Some(operation) => (operation.clone(), operation.declared(), false),
                None => match generation.learned.get(&hash) {
                    Some(learned) => (learned.operation, learned.document, true),
                    None => return Ok(Resolved::HashNotFound),
                },
            }
        }
        (None, None) => {
            return Err(GatewayError::BadBody(
                "a GraphQL request needs `query`, or `extensions.persistedQuery.sha256Hash`".into(),
            ))
        }
    };
    if request.operation_name.as_deref().is_some_and(|name| name != &*operation.name) {
        return Err(GatewayError::OperationNotAllowed);
    }
    Ok(Resolved::Operation { operation, document, learned })
}

/// The target of a `/graphql` request: `variables.appId` an allowed app in the key's
/// scope (else 404), the other variables typed from the declarations (else 400).
fn post_target(
    request: &mut Exchange<'_>,
    operation: &Arc<Operation>,
    document: &Sendable,
    variables: Map<String, Value>,
    key: Option<&DashboardKey>,
) -> Result<Target, GatewayError> {
    let app = match variables.get("appId") {
        Some(Value::String(app)) => app,
        Some(_) => return Err(bad("variables.appId", "must be a string: an allowed app id or name")),
        None => return Err(bad("variables.appId", "is required: the app to read")),
    };
    let apps = &request.generation.settings.apps;
    let app_id = apps
        .resolve(app)
        .filter(|id| key.is_none_or(|k| k.may_read(id)))
        .cloned()
        .ok_or(GatewayError::NotFound)?;
    request.log.app = Some(app_id.clone());
    let typed = variables::from_json(operation, &variables).map_err(GatewayError::BadParameter)?;
    Ok(target(operation, document, app_id, typed))
}

/// A GET route's target: `{app}` binds `$appId`, each other variable a typed parameter.
pub(super) fn route_target(
    generation: &Generation,
    m: PathMatch,
    name: &str,
    query: Option<&str>,
    opts: QueryOptions<'_>,
) -> Result<Target, RouteError> {
    let operation = generation
        .settings
        .graphql
        .operations
        .named(name)
        .ok_or_else(|| RouteError::Param(ParamError::new(name, "is not a declared operation")))?;
    let (normalised, callback) = Normalised::from_query(m.route, query.unwrap_or(""), opts)?;
    let typed = variables::from_params(operation, normalised.pairs());
    let mut target = target(operation, &operation.declared(), m.app_id, typed);
    target.callback = callback;
    Ok(target)
}

/// `/api/{app}/graphql/{Operation}.json` of a declared operation and an allowlisted app.
pub(super) fn match_operation(path: &str, generation: &Generation) -> Option<PathMatch> {
    let (app, rest) = path.strip_prefix("/api/")?.split_once('/')?;
    let name = rest.strip_prefix("graphql/")?.strip_suffix(".json")?;
    let operation = generation.settings.graphql.operations.named(name)?;
    let app_id = generation.settings.apps.resolve(app)?.clone();
    Some(PathMatch { route: operation.route, app_id, upstream_path: UPSTREAM_PATH.into() })
}

/// The target of `operation` sending `document` for app `app_id` with `variables`: the
/// upstream body the gateway writes, and its key (operation, document hash, app,
/// canonical variables).
fn target(
    operation: &Operation,
    document: &Sendable,
    app_id: Arc<str>,
    variables: std::collections::BTreeMap<String, Value>,
) -> Target {
    let variables = variables::canonical(&app_id, variables);
    let question = format!("{} {} {variables}", operation.name, document.sha256());
    let key = CacheKey::new(&app_id, KeyKind::GraphQl, &question);
    let text = |s: &str| Value::String(s.to_owned()).to_string();
    let body = format!(
        r#"{{"query":{},"operationName":{},"variables":{variables}}}"#,
        text(document.text()),
        text(&operation.name)
    );
    Target {
        route: operation.route,
        app_id,
        upstream: Arc::from(UPSTREAM_PATH),
        key,
        callback: None,
        body: Some(body.into()),
    }
}
