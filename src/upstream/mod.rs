//! The upstream client: the only code that opens outbound connections.
//!
//! One pooled hyper-util client over rustls. A v1 call sends `GET {base_url}{path}`
//! with the token appended last as `token=`; a V2 call sends `POST {base_url}{path}`
//! with the gateway's canonical body and the token as `Authorization: Bearer`, never in
//! its URL. No client header is ever copied. The
//! whole exchange, body included, is bounded by `upstream.timeout`, and the body by
//! `upstream.max_response_size`.

mod budget;
mod error;
mod guard;
mod leases;
mod queries;
mod retry_after;
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::utf8_percent_encode;

pub use budget::{BoxFuture, Budget, FleetBudget};
pub use error::UpstreamError;
pub use leases::{FleetLeases, Lease};
pub use queries::QueryApi;
use retry_after::parse_retry_after;

use crate::config::{Rate, Token, UpstreamSettings};
use crate::limit::ClientId;
use crate::metrics::{LimitScope, Metrics};
use crate::urlencoded::QUERY_VALUE;

/// What AppSignal answered, when it answered something the gateway can pass on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// 200 with a JSON body, byte for byte.
    Found(Bytes),
    /// 404: AppSignal has no such thing.
    NotFound,
    /// A V2 422: AppSignal parsed the query and refused it; its envelope, as sent.
    Rejected(Bytes),
    /// A GraphQL answer with both `data` and `errors` (partial data): relayed as it came,
    /// never stored.
    Partial(Bytes),
}

/// Which of AppSignal's APIs a call is for: how the token is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The original REST API: `GET`, the token as the `token` parameter.
    Rest,
    /// The Public API V2: the token as `Authorization: Bearer`; a `POST` with a body.
    V2,
    /// The GraphQL API: `POST /graphql?token=…` (it takes a personal token only as this
    /// parameter) with the gateway's `{"query","operationName","variables"}` body.
    GraphQl,
}

impl Api {
    /// The query API whose slots and back-off a call takes part in; `None` for the REST
    /// API, which has neither.
    pub fn query_api(self) -> Option<QueryApi> {
        match self {
            Api::Rest => None,
            Api::V2 => Some(QueryApi::V2),
            Api::GraphQl => Some(QueryApi::Graphql),
        }
    }
}

/// One upstream request, written by the gateway: what the fill fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Which API, so which method and where the token goes.
    pub api: Api,
    /// The normalised path and query, without the token.
    pub path: Arc<str>,
    /// The canonical JSON body of a V2 query; `None` for a GET.
    pub body: Option<Bytes>,
}

/// How long to back off after a 429 without a usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);
/// How much of an error body is logged, after scrubbing.
const LOGGED_BODY: usize = 512;

/// The client for AppSignal's REST API.
#[derive(Clone)]
pub struct Upstream {
    /// Pooled HTTP/1.1 client; https or http by the base URL's scheme.
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `{scheme}://{authority}{prefix}`, without a trailing slash.
    base_url: String,
    /// The one copy of the token; appended to each request URI and nowhere else.
    token: Token,
    /// Bound on the whole exchange.
    timeout: Duration,
    /// Bound on the body.
    max_response_size: u64,
    /// The bound on V2 queries in flight and V2's own back-off, shared by all clones.
    queries: Arc<queries::Queries>,
    /// Back-off, budget and concurrency cap, shared by all clones.
    guard: Arc<guard::Guard>,
    /// `upstream.rate_limit`, the fleet's budget when a shared tier is set.
    rate: Rate,
    /// The fleet's budget and back-off, when replicas share them.
    fleet: Option<Arc<dyn FleetBudget>>,
    /// Where calls and refusals are counted.
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let base_url = crate::config::redact_userinfo(&self.base_url);
        f.debug_struct("Upstream").field("base_url", &base_url).finish_non_exhaustive()
    }
}

/// What is logged of an error body: scrubbed first, then cut to [`LOGGED_BODY`] bytes
/// (see [`Token::scrub_cut`]). Only a window a little longer than the cut is read, wide
/// enough that a token beginning before the cut lies in it whole.
fn logged_body(token: &Token, body: &[u8]) -> String {
    let window = LOGGED_BODY + 3 * token.expose().len() + 1;
    let text = String::from_utf8_lossy(&body[..body.len().min(window)]);
    token.scrub_cut(&text, LOGGED_BODY)
}

impl Upstream {
    /// Builds the client, allowing `concurrency` calls in flight and spending the fleet's
    /// budget through `fleet` when there is one; fails only if `ca_file` cannot be read.
    pub fn new(
        settings: &UpstreamSettings,
        concurrency: usize,
        metrics: Arc<Metrics>,
        fleet: Option<Arc<dyn FleetBudget>>,
    ) -> std::io::Result<Self> {
        let tls = tls::client_config(settings.ca_file.as_deref())?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.connect_timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client =
            Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Ok(Upstream {
            client,
            base_url: settings.base_url.prefix().to_owned(),
            token: settings.token.clone(),
            timeout: settings.timeout,
            max_response_size: settings.max_response_size,
            guard: Arc::new(guard::Guard::new(settings, concurrency)),
            queries: Arc::new(queries::Queries::new(
                settings.max_concurrent_queries.get(),
                settings.timeout,
                fleet.clone(),
            )),
            rate: settings.rate_limit,
            fleet,
            metrics,
        })
    }

    /// Makes `call` (a route's normalised upstream request) for `client`
    /// (the one whose miss started the call; `None` for a background refresh, which a
    /// cached answer asked for), unless the client has spent its share of the budget, or
    /// the gateway is backing off or out of budget. Waiting for a free slot counts
    /// towards the timeout.
    pub async fn fetch(&self, call: &Call, client: Option<&ClientId>) -> Result<Fetched, UpstreamError> {
        if let Err(refused) = client.map_or(Ok(()), |c| self.guard.spend_client_share(c)) {
            self.metrics.security.share_refused();
            self.metrics.rate_limited(LimitScope::Upstream);
            return Err(refused);
        }
        if let Err(refused) = self.spend_budget().await {
            let scope = match refused {
                UpstreamError::Throttled(_) => LimitScope::AppSignal,
                _ => LimitScope::Upstream,
            };
            self.metrics.rate_limited(scope);
            return Err(refused);
        }
        // A query also needs one of AppSignal's query slots, waited for apart from (and
        // before) the exchange's own timeout.
        let _query = match call.api.query_api() {
            Some(api) => Some(self.queries.slot(api, self.timeout, &self.metrics.queries).await?),
            None => None,
        };
        let started = Instant::now();
        let exchange = async {
            let _slot = self.guard.slot().await;
            self.exchange(call).await
        };
        let result = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout(self.timeout)),
        };
        let status = match &result {
            Ok(Fetched::Found(_)) => Some(200),
            Ok(Fetched::NotFound) => Some(404),
            Ok(Fetched::Rejected(_)) => Some(422),
            Ok(Fetched::Partial(_)) => Some(200),
            Err(error) => error.status(),
        };
        self.metrics.upstream_call(status, started.elapsed());
        if let (Err(UpstreamError::Throttled(wait)), Some(api)) = (&result, call.api.query_api()) {
            // AppSignal's query concurrency cap: that query API waits, the others go on.
            self.metrics.rate_limited(LimitScope::AppSignal);
            self.queries.back_off(api, *wait, &self.metrics.queries);
        } else if let Err(UpstreamError::Throttled(wait)) = &result {
            self.metrics.rate_limited(LimitScope::AppSignal);
            self.guard.back_off(*wait);
            if let Some(fleet) = &self.fleet {
                fleet.back_off(*wait).await;
            }
        }
        result
    }

    /// Forgets idle clients' shares of the budget; call periodically.
    pub fn housekeeping(&self) {
        self.guard.housekeeping();
    }

    /// Whether a call may be made now: the fleet's budget and back-off when the shared
    /// tier answers, else this replica's (or its share of the fleet's).
    async fn spend_budget(&self) -> Result<(), UpstreamError> {
        let Some(fleet) = &self.fleet else { return self.guard.spend_budget() };
        match fleet.spend(self.rate).await {
            Some(Budget::Allowed) => Ok(()),
            Some(Budget::Spent(wait)) => Err(UpstreamError::BudgetSpent(wait)),
            Some(Budget::BackingOff(wait)) => {
                self.guard.hold_off(wait);
                Err(UpstreamError::Throttled(wait))
            }
            None => {
                fleet.decided_alone();
                self.guard.spend_replica_share(fleet.members())
            }
        }
    }

    async fn exchange(&self, call: &Call) -> Result<Fetched, UpstreamError> {
        let request = self.request(call)?;
        let response = self.client.request(request).await.map_err(|e| {
            let text = self.scrubbed_chain(&e);
            if e.is_connect() {
                UpstreamError::Connect(text)
            } else {
                UpstreamError::Broken(text)
            }
        })?;
        let status = response.status();
        let too_large = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|len| len > self.max_response_size);
        if too_large {
            return Err(UpstreamError::TooLarge(self.max_response_size));
        }
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        let limit = usize::try_from(self.max_response_size).unwrap_or(usize::MAX);
        let body = Limited::new(response.into_body(), limit).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                UpstreamError::TooLarge(self.max_response_size)
            } else {
                UpstreamError::Broken(self.token.scrub(&e.to_string()).into_owned())
            }
        })?;
        // Copied into an allocation of its own: the collected bytes may be a slice of
        // hyper's larger read buffer, which a cached entry would otherwise keep alive
        // (measured: ~7 KiB pinned per 2 KiB entry, uncounted by the cache's weigher).
        let body = Bytes::copy_from_slice(&body.to_bytes());
        if call.api == Api::GraphQl && matches!(status, StatusCode::OK | StatusCode::BAD_REQUEST) {
            return self.graphql_answer(status, body);
        }
        match status {
            StatusCode::OK => match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                Ok(_) => Ok(Fetched::Found(self.scrubbed(body))),
                Err(_) => Err(UpstreamError::NotJson),
            },
            StatusCode::NOT_FOUND => Ok(Fetched::NotFound),
            // Only V2 speaks the 422 envelope; a v1 422 is an unexpected status.
            StatusCode::UNPROCESSABLE_ENTITY if call.api == Api::V2 => Ok(Fetched::Rejected(body)),
            other => {
                self.log_error_body(other, &body);
                Err(match other {
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        UpstreamError::Unauthorized(other.as_u16())
                    }
                    StatusCode::TOO_MANY_REQUESTS => UpstreamError::Throttled(
                        retry_after
                            .as_ref()
                            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()))
                            .unwrap_or(DEFAULT_RETRY_AFTER),
                    ),
                    other => UpstreamError::Status(other.as_u16()),
                })
            }
        }
    }

    fn request(&self, call: &Call) -> Result<Request<Full<Bytes>>, UpstreamError> {
        let mut uri = String::with_capacity(self.base_url.len() + call.path.len() + 80);
        uri.push_str(&self.base_url);
        uri.push_str(&call.path);
        let builder = Request::builder()
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, concat!("appsignal-gateway/", env!("CARGO_PKG_VERSION")));
        let builder = match call.api {
            Api::Rest => {
                uri.push(if call.path.contains('?') { '&' } else { '?' });
                uri.push_str("token=");
                uri.extend(utf8_percent_encode(self.token.expose(), QUERY_VALUE));
                builder.method(Method::GET)
            }
            Api::GraphQl => {
                // AppSignal's GraphQL takes a personal token only as this parameter: the
                // URL is never logged, and errors quoting it are scrubbed.
                uri.push(if call.path.contains('?') { '&' } else { '?' });
                uri.push_str("token=");
                uri.extend(utf8_percent_encode(self.token.expose(), QUERY_VALUE));
                builder.method(Method::POST).header(header::CONTENT_TYPE, "application/json")
            }
            Api::V2 => {
                // The token goes in a header, never the URL: URLs end up in logs.
                let mut bearer = header::HeaderValue::try_from(format!("Bearer {}", self.token.expose()))
                    .map_err(|_| UpstreamError::Broken("the token cannot be sent as a header".into()))?;
                bearer.set_sensitive(true);
                let builder = builder.header(header::AUTHORIZATION, bearer);
                match &call.body {
                    Some(_) => builder.method(Method::POST).header(header::CONTENT_TYPE, "application/json"),
                    None => builder.method(Method::GET),
                }
            }
        };
        builder
            .uri(uri)
            .body(Full::new(call.body.clone().unwrap_or_default()))
            // The URI is built from validated parts; an error here must not quote it.
            .map_err(|_| UpstreamError::Broken("could not build the upstream request".into()))
    }

    /// A GraphQL answer (a 200, or a 400 carrying GraphQL errors): clean data is found;
    /// `errors` beside `data` is partial (relayed, never stored); `errors` with `data`
    /// null or absent is an error carrying AppSignal's messages, scrubbed.
    fn graphql_answer(&self, status: StatusCode, body: Bytes) -> Result<Fetched, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            data: Option<serde::de::IgnoredAny>,
            #[serde(default)]
            errors: Option<Vec<Message>>,
        }
        #[derive(serde::Deserialize)]
        struct Message {
            #[serde(default)]
            message: Option<serde_json::Value>,
        }
        let Ok(answer) = serde_json::from_slice::<Answer>(&body) else {
            if status == StatusCode::OK {
                return Err(UpstreamError::NotJson);
            }
            self.log_error_body(status, &body);
            return Err(UpstreamError::Status(status.as_u16()));
        };
        let errors = answer.errors.unwrap_or_default();
        match (errors.is_empty(), answer.data.is_some()) {
            (true, _) if status == StatusCode::OK => Ok(Fetched::Found(self.scrubbed(body))),
            (false, true) => Ok(Fetched::Partial(self.scrubbed(body))),
            _ => {
                let messages: Vec<String> = errors
                    .iter()
                    .filter_map(|e| e.message.as_ref())
                    .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
                    .collect();
                let text = match messages.is_empty() {
                    true => format!("AppSignal answered {} without data", status.as_u16()),
                    false => messages.join("; "),
                };
                self.log_error_body(status, &body);
                Err(UpstreamError::GraphQl(self.token.scrub_cut(&text, LOGGED_BODY)))
            }
        }
    }

    /// The token, for scrubbing texts AppSignal sends back.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// A 200 body without the token: scrubbed here, once per upstream answer, so the
    /// entry stored (in this replica and in Redis) and every hit served from it are
    /// clean, and no hit pays for it.
    fn scrubbed(&self, body: Bytes) -> Bytes {
        match self.token.scrub_bytes(&body) {
            Some(clean) => {
                self.metrics.security.token_scrubbed();
                tracing::warn!(
                    bytes = body.len(),
                    "AppSignal's answer held the token: scrubbed before it was stored"
                );
                Bytes::from(clean)
            }
            None => body,
        }
    }

    /// An error and its sources as one line, scrubbed of the token.
    fn scrubbed_chain(&self, e: &(dyn std::error::Error + 'static)) -> String {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        let text = self.token.scrub(&text);
        // A base URL with userinfo is a secret too, should an error quote the URL.
        text.replace(&self.base_url, &crate::config::redact_userinfo(&self.base_url))
    }

    fn log_error_body(&self, status: StatusCode, body: &[u8]) {
        let text = logged_body(&self.token, body);
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => tracing::error!(
                status = status.as_u16(),
                body = %text,
                "AppSignal refused the gateway's token: check upstream.token"
            ),
            _ => {
                tracing::warn!(status = status.as_u16(), body = %text, "AppSignal answered an error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PREFIX_SHOWN, REDACTED};

    /// Any prefix of at least `PREFIX_SHOWN` characters of `secret` found in `line`.
    fn shown_prefix(line: &str, secret: &str) -> Option<usize> {
        (PREFIX_SHOWN..=secret.len()).rev().find(|&len| line.contains(&secret[..len]))
    }

    /// AppSignal echoing the request URL in a 500, with the client's query padded by
    /// every length up to 600: the logged part never holds a prefix of the token.
    #[test]
    fn no_padding_puts_a_prefix_of_the_token_in_the_log() {
        let secret = "SECRET-tok-123";
        let token = Token::new(secret);
        for padding in 0..=600 {
            let body = format!(
                "{{\"error\":\"Internal error for GET /api/5114f7e38c5ce90000000011/samples.json?action_id={}&token={secret}\"}}",
                "a".repeat(padding)
            );
            let line = logged_body(&token, body.as_bytes());
            assert!(line.len() <= LOGGED_BODY + REDACTED.len(), "padding {padding}: {} bytes", line.len());
            assert_eq!(shown_prefix(&line, secret), None, "padding {padding}: {line}");
        }
    }

    proptest::proptest! {
        /// Any token, any padding, the token plain or percent-encoded in the echo.
        #[test]
        fn no_echo_leaks_a_prefix(
            secret in "[A-Za-z0-9/+_-]{8,40}",
            padding in 0usize..=600,
            encoded in proptest::bool::ANY,
        ) {
            let token = Token::new(&secret);
            let shown = if encoded {
                utf8_percent_encode(&secret, QUERY_VALUE).to_string()
            } else {
                secret.clone()
            };
            let body = format!("{{\"url\":\"/api/x?q={}&token={shown}\"}}", "b".repeat(padding));
            let line = logged_body(&token, body.as_bytes());
            // What the text says besides the token may share a few characters with it.
            let public = &body[..body.find("&token=").unwrap() + 7];
            let leaked = (PREFIX_SHOWN..=shown.len()).map(|n| &shown[..n]).find(|prefix| {
                line.contains(prefix) && !public.contains(prefix) && !REDACTED.contains(prefix)
            });
            proptest::prop_assert_eq!(leaked, None, "{}", line);
        }
    }
}
