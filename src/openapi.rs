//! The OpenAPI 3.1 description of the HTTP surface, made from the route table.
//!
//! Nothing here is written per route: paths come from [`ROUTES`], parameters and their
//! rules from each route's [`ParamSpec`]s, error codes from [`crate::error::CODES`]. A
//! route added or a rule changed in `route/` changes the document with it. The document
//! is built with `serde_json` values rather than an OpenAPI model crate: it is one
//! function of the route table, and the model crates bring proc-macro builds for types
//! this needs a few dozen of (ARCHITECTURE.md).
//!
//! It is safe to serve without a key: the allowlist is not listed (`{app}` is a string),
//! and neither the token nor a key digest is read.

mod v2;

use serde_json::{json, Map, Value};

use crate::config::Settings;
use crate::error::CODES;
use crate::route::{ParamKind, ParamSpec, Route, Shape, MAX_TEXT, MAX_TIME, ROUTES};

/// The statuses every API route can answer besides 200, with what each means.
const ERRORS: &[(u16, &str)] = &[
    (400, "A bad parameter or JSONP callback; `message` names the parameter."),
    (403, "A page whose `Origin` is not in `cors.allowed_origins`, or a JSONP request with neither an allowed `Origin`/`Referer` nor a key (JSONP errors are answered 200 with this object passed to the callback)."),
    (404, "An unknown app or path, an app outside the key's scope, or AppSignal's own 404."),
    (405, "A method other than GET, HEAD or OPTIONS."),
    (414, "The request target is longer than `limits.max_uri_length`."),
    (421, "The request's `Host` is not a name the gateway answers (`allowed_hosts`; loopback names on a loopback listener)."),
    (429, "The client is over its rate limit."),
    (431, "The request headers are larger than `limits.max_header_size`."),
    (502, "AppSignal unreachable, failing, refusing the gateway's token, or answering with no JSON."),
    (503, "The gateway's budget of AppSignal calls is spent, or AppSignal is rate-limiting it."),
    (504, "AppSignal did not answer within `upstream.timeout`."),
];

/// The dotted JavaScript identifier a JSONP callback must be (`jsonp::valid_callback`):
/// identifier parts joined by dots, none of them a reserved word.
fn callback_pattern() -> String {
    let reserved = crate::jsonp::RESERVED.join("|");
    let part = format!(r"(?!(?:{reserved})(?:\.|$))[A-Za-z_$][A-Za-z0-9_$]*");
    format!(r"^{part}(?:\.{part})*$")
}
/// No control characters (Unicode category Cc), as free-text parameters require.
const TEXT_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]+$";

/// The document for a gateway configured with `settings`.
pub fn document(settings: &Settings) -> Value {
    let keys = !settings.clients.keys.is_empty();
    let mut paths = Map::new();
    for route in ROUTES {
        paths.insert(path_of(route), json!({ "get": operation(route, settings, keys) }));
    }
    for declared in settings.graphql.operations.iter() {
        let mut get = operation(declared.route, settings, keys);
        get["operationId"] = json!(format!("graphql_{}", declared.name));
        get["summary"] = json!(format!(
            "The declared GraphQL operation `{}`, cached for {}",
            declared.name,
            match declared.ttl {
                Some(ttl) => format!("{}s (its own `ttl`)", ttl.as_secs()),
                None => "`cache.ttl.graphql`".into(),
            }
        ));
        paths.insert(path_of(declared.route), json!({ "get": get }));
    }
    if settings.graphql.enabled {
        paths.insert("/graphql".into(), graphql_endpoint(keys));
    }
    paths.insert("/healthz".into(), health());
    let mut schemas = Map::new();
    v2::add(&mut paths, &mut schemas, settings, keys);
    let mut components = json!({
        "schemas": {
            "Error": error_schema(),
            "Time": {
                "description": "Unix seconds, or an RFC 3339 time (year 0000 to 9999 once in UTC).",
                "anyOf": [
                    { "type": "integer", "minimum": 0, "maximum": MAX_TIME },
                    { "type": "string", "format": "date-time" }
                ],
                "examples": [1_700_000_000, "2023-11-14T22:13:20Z"]
            }
        },
        "headers": headers(),
    });
    components["schemas"].as_object_mut().expect("an object").extend(schemas);
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "appsignal-gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "AppSignal's read API for browser dashboards: the gateway holds the \
                AppSignal token, caches answers, and serves CORS and JSONP. Paths mirror AppSignal's; \
                `{app}` is an allowlisted app id or its alias.",
            "license": { "name": env!("CARGO_PKG_LICENSE"), "identifier": env!("CARGO_PKG_LICENSE") },
        },
        "servers": servers(settings),
        "paths": paths,
        "components": components.take(),
    });
    if keys {
        document["components"]["securitySchemes"] = json!({
            "bearer": { "type": "http", "scheme": "bearer", "description": "A dashboard key." },
            "key": {
                "type": "apiKey", "in": "query", "name": crate::auth::KEY_PARAM,
                "description": "A dashboard key, for JSONP script tags that cannot send headers."
            }
        });
        document["security"] = json!([{ "bearer": [] }, { "key": [] }]);
        document["components"]["headers"]["WWW-Authenticate"] = json!({
            "description": "`Bearer`.", "schema": { "type": "string" }
        });
    }
    document
}

/// Where the API is, for a generated client: the origin the document was fetched from
/// (`/`, which also fits a gateway behind a proxy or nested in another router), and with
/// `tls` the HTTPS origin of `listen` (`localhost` for an unspecified address), its host a
/// variable a client may change.
fn servers(settings: &Settings) -> Value {
    let same_origin = json!({ "url": "/", "description": "The origin this document was served from." });
    if settings.tls.is_none() {
        return json!([same_origin]);
    }
    let listen = settings.listen;
    let host = match listen.ip().is_unspecified() {
        true => format!("localhost:{}", listen.port()),
        false => listen.to_string(),
    };
    json!([same_origin, {
        "url": "https://{host}",
        "description": "The gateway's HTTPS listener (`tls` is configured).",
        "variables": { "host": { "default": host, "description": "Host and port of `listen`." } }
    }])
}

/// `/api/{app}/samples.json`, `/api/{app}/samples/{id}.json`, ...
pub(crate) fn path_of(route: &Route) -> String {
    match route.shape {
        Shape::Fixed(fixed) => format!("/api/{{app}}/{fixed}"),
        Shape::Item { prefix } => format!("/api/{{app}}/{prefix}{{id}}.json"),
        Shape::V2(path) => format!("/api/v2/{path}"),
        Shape::V2Lookup { prefix, metric: false } => format!("/api/v2/{prefix}{{app}}"),
        Shape::V2Lookup { prefix, metric: true } => format!("/api/v2/{prefix}{{app}}/{{metric}}"),
        Shape::GraphQl { operation } => format!("/api/{{app}}/graphql/{operation}.json"),
    }
}

pub(crate) fn operation(route: &Route, settings: &Settings, keys: bool) -> Value {
    let mut parameters = vec![json!({
        "name": "app", "in": "path", "required": true,
        "description": "An allowlisted app id, or its alias.",
        "schema": { "type": "string", "minLength": 1 }
    })];
    if let Shape::V2Lookup { metric: true, .. } = route.shape {
        parameters.push(json!({
            "name": "metric", "in": "path", "required": true,
            "description": "A metric name, percent-encoded as one path segment.",
            "schema": { "type": "string", "minLength": 1 }
        }));
    }
    if let Shape::Item { .. } = route.shape {
        parameters.push(json!({
            "name": "id", "in": "path", "required": true,
            "description": "A sample id as a list gives it (`encodeURIComponent` of it), or sanitized \
                (`#` → `-hash-`, `/` → `-slash-`, `.` → `-dot-`).",
            "schema": { "type": "string", "minLength": 1 }
        }));
    }
    parameters.extend(route.params.iter().map(parameter));
    if settings.jsonp.enabled {
        parameters.push(json!({
            "name": settings.jsonp.callback_param, "in": "query",
            "description": "JSONP: the answer is `callback(json)` as `text/javascript`.",
            "schema": { "type": "string", "maxLength": crate::jsonp::MAX_CALLBACK, "pattern": callback_pattern() }
        }));
    }
    parameters.push(json!({
        "name": "_", "in": "query", "description": "A cache-buster (jQuery's); accepted and ignored.",
        "schema": { "type": "string" }
    }));
    let mut responses = Map::new();
    responses.insert("200".into(), success(route));
    responses.insert(
        "304".into(),
        json!({ "description": "`If-None-Match` names the current ETag.", "headers": cache_headers() }),
    );
    for (status, description) in ERRORS {
        responses.insert(status.to_string(), error_response(*status, description));
    }
    if keys {
        let mut unauthorized = error_response(401, "No dashboard key, or an unknown one.");
        unauthorized["headers"]["WWW-Authenticate"] =
            json!({ "$ref": "#/components/headers/WWW-Authenticate" });
        responses.insert("401".into(), unauthorized);
    }
    let mut description = String::from("Unknown parameters are a 400 naming them.");
    if !route.rules.is_empty() {
        description = format!("Rules across parameters (a 400 otherwise): {} {description}", route.rules);
    }
    let mut operation = json!({
        "operationId": route.name,
        "summary": format!("AppSignal's `{}`, cached for `cache.ttl.{}`", path_of(route), ttl_key(route)),
        "description": description,
        "parameters": parameters,
        "responses": responses,
    });
    if !keys {
        // Public without dashboard keys: said explicitly, so a reader (or a linter) does
        // not take the missing requirement for an omission.
        operation["security"] = json!([]);
    }
    operation
}

pub(crate) fn ttl_key(route: &Route) -> &'static str {
    use crate::route::TtlClass;
    match route.ttl {
        TtlClass::List => "list",
        TtlClass::Show => "show",
        TtlClass::Graphs => "graphs",
        TtlClass::Markers => "markers",
        TtlClass::Metrics => "metrics",
        TtlClass::Logs => "logs",
        TtlClass::Traces => "traces",
        TtlClass::Deploys => "deploys",
        TtlClass::GraphQl | TtlClass::Fixed(_) => "graphql",
    }
}

/// One query parameter with its rules.
fn parameter(spec: &ParamSpec) -> Value {
    let text = json!({ "type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": TEXT_PATTERN });
    let (schema, description) = match spec.kind {
        ParamKind::Action => (text, "An action name, raw (`Posts#show`) or escaped (`Posts-hash-show`)."),
        ParamKind::ActionWithException => {
            (text, "An action name, raw or escaped, optionally followed by `:|:` and an exception name.")
        }
        ParamKind::Text => (text, "Free text: no control characters."),
        ParamKind::UnixTime => (json!({ "$ref": "#/components/schemas/Time" }), "Forwarded as Unix seconds."),
        ParamKind::IsoTime => (json!({ "$ref": "#/components/schemas/Time" }), "Forwarded as RFC 3339 UTC."),
        ParamKind::Limit => {
            (json!({ "type": "integer", "minimum": 1, "maximum": 1000 }), "At most this many.")
        }
        ParamKind::Bool => (json!({ "type": "string", "enum": ["true", "false"] }), "`true` or `false`."),
        ParamKind::OneOf(words) => (json!({ "type": "string", "enum": words }), "One of these words."),
        ParamKind::SetOf(words) => (
            json!({ "type": "array", "items": { "type": "string", "enum": words } }),
            "Repeatable; de-duplicated and sorted.",
        ),
        ParamKind::Ranged(..) | ParamKind::Float | ParamKind::Ident => scalar(spec.kind),
        ParamKind::ListOf(inner) => {
            let (items, _) = scalar(*inner);
            (
                json!({ "type": "array", "items": items }),
                "A list: repeat `name[]=`; de-duplicated and sorted.",
            )
        }
    };
    let mut parameter =
        json!({ "name": spec.name, "in": "query", "description": description, "schema": schema });
    if spec.required {
        parameter["required"] = json!(true);
    }
    if spec.repeatable() {
        parameter["style"] = json!("form");
        parameter["explode"] = json!(true);
    }
    parameter
}

/// The schema of one GraphQL variable's value (of a scalar kind), and what it is.
fn scalar(kind: ParamKind) -> (Value, &'static str) {
    match kind {
        ParamKind::Ranged(min, max) => {
            (json!({ "type": "integer", "minimum": min, "maximum": max }), "A whole number in this range.")
        }
        ParamKind::Float => (json!({ "type": "number" }), "A decimal number."),
        ParamKind::Ident => (
            json!({ "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$" }),
            "An enum value: an identifier.",
        ),
        ParamKind::Bool => (json!({ "type": "string", "enum": ["true", "false"] }), "`true` or `false`."),
        ParamKind::IsoTime => (json!({ "$ref": "#/components/schemas/Time" }), "Forwarded as RFC 3339 UTC."),
        _ => (
            json!({ "type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": TEXT_PATTERN }),
            "Free text: no control characters.",
        ),
    }
}

/// `/graphql`: GraphQL over HTTP, for declared operations only.
fn graphql_endpoint(keys: bool) -> Value {
    let graphql_error = json!({
        "type": "object", "required": ["errors"],
        "properties": { "errors": { "type": "array", "items": {
            "type": "object", "required": ["message", "extensions"],
            "properties": {
                "message": { "type": "string" },
                "extensions": { "type": "object", "required": ["code"], "properties": {
                    "code": { "type": "string" }, "status": { "type": "integer" }
                } }
            }
        } } }
    });
    let answer = json!({
        "description": "AppSignal's GraphQL answer, byte for byte; with `errors` and `data` it is not             stored (`Cache-Control: no-store`). An unknown persisted-query hash without text answers             `PERSISTED_QUERY_NOT_FOUND` in `errors`, as Apollo Client expects.",
        "headers": cache_headers(),
        "content": { "application/json": { "schema": { "type": "object" } } }
    });
    let mut responses = Map::new();
    responses.insert("200".into(), answer);
    let statuses: &[(u16, &str)] = &[
        (400, "Malformed JSON, a bad variable (named by its path), or `persisted_query_mismatch`."),
        (403, "`operation_not_allowed`: the document or hash is not a declared operation; or a foreign `Origin`."),
        (404, "`variables.appId` is not an allowed app (or not in the key's scope)."),
        (405, "A method other than GET, POST or OPTIONS."),
        (408, "The body was not sent within `limits.body_read_timeout`."),
        (413, "The body is larger than `limits.max_body_size`."),
        (415, "A POST without `Content-Type: application/json`."),
        (429, "The client is over its rate limit."),
        (502, "AppSignal failed, or answered `errors` with `data: null` (`appsignal_graphql_error`)."),
        (503, "The gateway's budget or query slots are spent, or AppSignal is rate-limiting GraphQL."),
        (504, "AppSignal did not answer within `upstream.timeout`."),
    ];
    for (status, description) in statuses {
        responses.insert(
            status.to_string(),
            json!({ "description": description, "content": { "application/json": { "schema": graphql_error } } }),
        );
    }
    if keys {
        responses.insert(
            "401".into(),
            json!({ "description": "No dashboard key, or an unknown one.", "content": { "application/json": { "schema": graphql_error } } }),
        );
    }
    let body = json!({
        "type": "object",
        "properties": {
            "query": { "type": "string", "description": "A declared operation's text (compared after parsing)." },
            "operationName": { "type": "string" },
            "variables": { "type": "object", "description": "`appId` (an allowed app) and the operation's variables." },
            "extensions": { "type": "object", "description": "`persistedQuery: {version: 1, sha256Hash}`." }
        }
    });
    let query_param = |name: &str, description: &str| json!({ "name": name, "in": "query", "description": description, "schema": { "type": "string" } });
    let security = if keys { json!([{ "bearer": [] }, { "key": [] }]) } else { json!([]) };
    json!({
        "post": {
            "operationId": "graphql_post",
            "summary": "GraphQL over HTTP: a declared operation by its text or persisted-query hash.",
            "security": security,
            "requestBody": { "required": true, "content": { "application/json": { "schema": body } } },
            "responses": responses.clone()
        },
        "get": {
            "operationId": "graphql_get",
            "summary": "GraphQL over HTTP as a GET (Apollo's `useGETForHashedQueries`).",
            "security": security,
            "parameters": [
                query_param("query", "A declared operation's text."),
                query_param("operationName", "The operation's name."),
                query_param("variables", "The variables, as JSON."),
                query_param("extensions", "`{\"persistedQuery\":{\"version\":1,\"sha256Hash\":…}}`, as JSON.")
            ],
            "responses": responses
        }
    })
}

/// 200: AppSignal's JSON as it sent it, or wrapped for JSONP.
fn success(route: &Route) -> Value {
    let object = |description: &str, properties: Value| json!({ "type": "object", "description": description, "properties": properties });
    let loose = json!({ "type": "object" });
    let array_of_objects = json!({ "type": "array", "items": loose });
    let schema = match (route.shape, route.name) {
        (Shape::Item { .. }, _) => object("One sample, as AppSignal's samples show answers it.", json!({})),
        (Shape::V2Lookup { .. }, _) => {
            json!({ "description": "AppSignal's V2 answer: names, or a metric's type and tags." })
        }
        (_, "graphs") => object(
            "Graph data: `from`, `to`, `resolution` and `data` points.",
            json!({ "from": { "type": "string" }, "to": { "type": "string" }, "data": array_of_objects }),
        ),
        (_, "markers") => object(
            "Markers, or only their count with `count_only=true`.",
            json!({ "count": { "type": "integer" }, "markers": array_of_objects }),
        ),
        _ => object(
            "Samples, or only their count with `count_only=true`.",
            json!({ "count": { "type": "integer" }, "log_entries": array_of_objects }),
        ),
    };
    json!({
        "description": "AppSignal's JSON body, byte for byte (fields AppSignal adds pass through).",
        "headers": cache_headers(),
        "content": {
            "application/json": { "schema": schema },
            "text/javascript": { "schema": { "type": "string" } }
        }
    })
}

pub(crate) fn error_response(status: u16, description: &str) -> Value {
    let mut headers = json!({ "X-Request-Id": { "$ref": "#/components/headers/X-Request-Id" } });
    if matches!(status, 429 | 503) {
        headers["Retry-After"] = json!({ "$ref": "#/components/headers/Retry-After" });
    }
    if status == 429 {
        headers["RateLimit"] = json!({ "$ref": "#/components/headers/RateLimit" });
        headers["RateLimit-Policy"] = json!({ "$ref": "#/components/headers/RateLimit-Policy" });
    }
    if status == 404 {
        headers["Cache-Status"] = json!({ "$ref": "#/components/headers/Cache-Status" });
        headers["Age"] = json!({ "$ref": "#/components/headers/Age" });
    }
    if status == 405 {
        headers["Allow"] = json!({ "schema": { "type": "string" } });
    }
    json!({
        "description": description,
        "headers": headers,
        "content": {
            "application/json": { "schema": { "$ref": "#/components/schemas/Error" } },
            "text/javascript": { "schema": { "type": "string" } }
        }
    })
}

pub(crate) fn cache_headers() -> Value {
    json!({
        "Cache-Status": { "$ref": "#/components/headers/Cache-Status" },
        "Age": { "$ref": "#/components/headers/Age" },
        "ETag": { "$ref": "#/components/headers/ETag" },
        "Cache-Control": { "$ref": "#/components/headers/Cache-Control" },
        "X-Request-Id": { "$ref": "#/components/headers/X-Request-Id" }
    })
}

fn headers() -> Value {
    let string = |description: &str| json!({ "description": description, "schema": { "type": "string" } });
    json!({
        "Cache-Status": string("RFC 9211, e.g. `appsignal-gateway; hit; ttl=12` or `appsignal-gateway; fwd=miss; stored`."),
        "Age": { "description": "Seconds since the answer was stored.", "schema": { "type": "integer", "minimum": 0 } },
        "ETag": string("A strong validator of the body sent (one per encoding); send it back in `If-None-Match`."),
        "Cache-Control": string("`private, max-age=N`."),
        "X-Request-Id": string("The request's id, also on its log line."),
        "Retry-After": { "description": "Seconds to wait.", "schema": { "type": "integer", "minimum": 1 } },
        "RateLimit": string("`\"client\";r=0;t=N`: nothing left, N seconds to wait."),
        "RateLimit-Policy": string("`\"client\";q=BURST;w=SECONDS`.")
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "code", "message"],
                "properties": {
                    "status": { "type": "integer", "description": "The HTTP status." },
                    "code": { "type": "string", "enum": CODES },
                    "message": { "type": "string" }
                }
            }
        }
    })
}

fn health() -> Value {
    json!({
        "get": {
            "operationId": "healthz",
            "summary": "Liveness: `ok` while the process serves.",
            "security": [],
            "responses": {
                "200": { "description": "Alive.", "content": { "text/plain": { "schema": { "const": "ok" } } } },
                "405": error_response(405, "A method other than GET or HEAD.")
            }
        }
    })
}
