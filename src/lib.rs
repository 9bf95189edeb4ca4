//! appsignal-gateway: a caching, token-injecting gateway in front of AppSignal's REST API.
//!
//! Browser dashboards call the gateway instead of AppSignal; it holds the token, checks
//! every request against a route table and an app allowlist, and forwards one
//! normalised request upstream.
//!
//! # Layout
//!
//! - [`config`] — figment loading and validation into typed [`config::Settings`]; the
//!   [`config::Token`] type, the only holder of the AppSignal token.
//! - [`route`] — the route table as data, path matching and parameter normalisation
//!   (pure functions).
//! - [`graphql`] — AppSignal's GraphQL API through declared read operations: the
//!   load-time checks, the checked form and hashes, typed variables, learned
//!   persisted-query hashes, the built-in documents (pure but for one lock).
//! - [`v2`] — AppSignal's Public API V2 bodies: read bounded, typed per route, scoped,
//!   normalised and written back out as the one canonical body (pure but for the read).
//! - `urlencoded` — query-string decoding and the forwarded percent-encode set (a leaf).
//! - [`jsonp`] — the JSONP callback validator and wrapper.
//! - `cors` — cross-origin grants and preflights.
//! - `hosts` — the `Host` rule both listeners apply first (DNS-rebinding defence; a leaf).
//! - `limit` — per-client rate limits and who the client is.
//! - [`auth`] — dashboard keys: digests, constant-time checks, app scopes.
//! - [`compress`] — gzip / brotli forms made at store time, `Accept-Encoding` negotiation.
//! - `upstream` — the AppSignal client, the only code that opens outbound connections.
//! - `error` — the request-level error and its one mapping to statuses.
//! - [`response`] — response building blocks.
//! - `key` — the cache key's one layout (app, kind of question, question); a leaf.
//! - `cache` — the moka response cache, the one freshness rule, single-flight fills; it
//!   renders no HTTP.
//! - `shared` — the tier replicas share through Redis: entries, per-key locks, the
//!   fleet's budget, purges, membership.
//! - [`tls`] — the listener's certificate and its reload (a leaf).
//! - [`gateway`] — the request handler tying the above together: its phases, the fill
//!   (the miss path), rendering an entry as a response.
//! - `metrics` — Prometheus metrics; hit-path counters are pre-created, lock-free.
//! - [`openapi`] — the OpenAPI 3.1 description, made from the route table.
//! - `admin` — liveness, readiness, metrics, cache purge and reload on the admin listener.
//! - [`service`] — the gateway and admin as `tower::Service`s, for embedding.
//! - [`server`] — serving a handler on a bound listener with graceful drain.
//! - [`lifecycle`] — binding both listeners, starting and stopping.
//! - [`telemetry`] — logging, with a reloadable level.
//! - `reload` — hot reload (SIGHUP, `POST /config/reload`).
//! - [`demo`] — a simulated AppSignal API for `appsignal-gateway demo`.
//!
//! Modules named in code font are private; what of them appears in the public interface
//! is re-exported below.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin;
pub mod auth;
mod cache;
pub mod compress;
pub mod config;
mod cors;
pub mod demo;
mod error;
pub mod gateway;
pub mod graphql;
mod hosts;
pub mod jsonp;
mod key;
pub mod lifecycle;
mod limit;
mod metrics;
pub mod openapi;
mod reload;
pub mod response;
pub mod route;
pub mod server;
pub mod service;
mod shared;
pub mod telemetry;
pub mod tls;
mod upstream;
mod urlencoded;
pub mod v2;

pub use admin::{Admin, Readiness};
pub use cache::ResponseCache;
pub use error::GatewayError;
pub use metrics::Metrics;
pub use reload::{ReloadError, Reloader};
