//! The integration tests: one crate, one binary, a module per area.
//!
//! Every test starts what it needs itself (a gateway on `127.0.0.1:0`, the in-process fake
//! AppSignal from the `fake-appsignal` crate, real `redis-server`, `chromium` or
//! `prometheus` processes on free ports), so the modules run in any order and in parallel.

mod support;

mod browser;
mod cache;
mod chromium;
mod cli;
mod compression;
mod connections;
mod deploy;
mod embed;
mod fake_graphql;
mod graphql;
mod graphql_load;
mod hardening;
mod jsonp_props;
mod keys;
mod lifecycle;
mod limits;
mod module_graph;
mod openapi;
mod operations;
mod operator;
mod prometheus;
mod proxy;
mod query_leases;
mod readme;
mod route_props;
mod routes;
mod shared;
mod tls;
mod upstream_faults;
mod v2;
