//! The V2 routes of the description: each query route a `post` whose `requestBody` is
//! its body struct's schema ([`crate::v2::schema`]), each lookup a `get` like the v1
//! routes. Made from [`V2_ROUTES`] and [`V2_LOOKUPS`], as the rest is from the table.

use serde_json::{json, Map, Value};

use super::{cache_headers, error_response, path_of, ttl_key};
use crate::config::Settings;
use crate::route::{Route, V2_LOOKUPS, V2_ROUTES};
use crate::v2::schema;

/// The statuses a V2 query can answer besides 200, with what each means.
const QUERY_ERRORS: &[(u16, &str)] = &[
    (400, "Malformed JSON (`invalid_body`, with line and column), or a field unknown, of the wrong type, missing or out of bounds (`invalid_parameter`, naming its path, e.g. `select[0].name`); a `callback` (JSONP is for GET routes)."),
    (403, "A page whose `Origin` is not in `cors.allowed_origins` (refused before the body is read)."),
    (404, "An app in the body that is not allowlisted or outside the key's apps, or AppSignal's own 404."),
    (405, "A method other than POST or OPTIONS (`Allow: POST, OPTIONS`)."),
    (408, "The body did not arrive within `limits.body_read_timeout`; the connection is closed."),
    (413, "The body is larger than `limits.max_body_size`."),
    (414, "The request target is longer than `limits.max_uri_length`."),
    (415, "`Content-Type` is not `application/json` (checked before the body is read)."),
    (421, "The request's `Host` is not a name the gateway answers."),
    (422, "AppSignal refused the query (`appsignal_rejected`; its slug in `appsignal_error`)."),
    (429, "The client is over its rate limit."),
    (431, "The request headers are larger than `limits.max_header_size`."),
    (502, "AppSignal unreachable, failing, refusing the gateway's token, or answering with no JSON."),
    (503, "The gateway's budget of AppSignal calls is spent, AppSignal is rate-limiting V2, or no query slot freed within `upstream.timeout` (`upstream_queries_busy`)."),
    (504, "AppSignal did not answer within `upstream.timeout`."),
];

/// Adds the V2 paths to `paths`, and the bodies' schemas to `schemas`.
pub fn add(
    paths: &mut Map<String, Value>,
    schemas: &mut Map<String, Value>,
    settings: &Settings,
    keys: bool,
) {
    schemas.insert("V2Time".into(), schema::time());
    for route in V2_ROUTES {
        let Some(kind) = route.body else { continue };
        let (name, body) = schema::body(kind);
        schemas.insert(name.into(), body);
        paths.insert(path_of(route), json!({ "post": query(route, name, &schema::rules(kind), keys) }));
    }
    for route in V2_LOOKUPS {
        paths.insert(path_of(route), json!({ "get": super::operation(route, settings, keys) }));
    }
}

fn query(route: &Route, body: &str, rules: &str, keys: bool) -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "AppSignal's JSON answer (an object or a bare array), byte for byte.",
            "headers": cache_headers(),
            "content": { "application/json": { "schema": {} } }
        }),
    );
    for (status, description) in QUERY_ERRORS {
        let mut response = error_response(*status, description);
        // A query's errors are JSON only: there is no JSONP on a POST.
        if let Some(content) = response["content"].as_object_mut() {
            content.remove("text/javascript");
        }
        responses.insert(status.to_string(), response);
    }
    if keys {
        let mut unauthorized = error_response(401, "No dashboard key, or an unknown one.");
        unauthorized["headers"]["WWW-Authenticate"] =
            json!({ "$ref": "#/components/headers/WWW-Authenticate" });
        if let Some(content) = unauthorized["content"].as_object_mut() {
            content.remove("text/javascript");
        }
        responses.insert("401".into(), unauthorized);
    }
    let mut operation = json!({
        "operationId": route.name,
        "summary": format!("AppSignal's `POST {}`, cached for `cache.ttl.{}`", path_of(route), ttl_key(route)),
        "description": format!(
            "The gateway writes the body it sends AppSignal itself, from the validated fields (names \
            resolved to ids, times as RFC 3339 UTC); the cache key is the route and that body. {rules}"
        ),
        "requestBody": {
            "required": true,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{body}") } } }
        },
        "responses": responses,
    });
    if !keys {
        operation["security"] = json!([]);
    }
    operation
}
