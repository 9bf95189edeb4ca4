//! The gateway mounted inside someone else's axum service, under `/appsignal`, with a
//! layer of that service's own around it.
//!
//!   APPSIGNAL_GATEWAY_UPSTREAM__TOKEN=... cargo run --example embed_axum -- config/gateway.yaml 127.0.0.1:3000
//!   curl 'http://127.0.0.1:3000/appsignal/api/blog/samples.json?limit=3'

use std::net::SocketAddr;
use std::sync::Arc;

use appsignal_gateway::config;
use appsignal_gateway::gateway::Gateway;
use appsignal_gateway::service::{GatewayService, PeerAddr};
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

/// The host's own router: its routes, the gateway under `/appsignal`, and its layer.
fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/", get(|| async { "the host service" }))
        .nest_service("/appsignal", GatewayService(gateway))
        .layer(middleware::from_fn(host_layer))
}

/// A layer of the host's: hands the client address to the gateway (for its per-client
/// limits) and stamps every answer.
async fn host_layer(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(PeerAddr(peer));
    let mut response = next.run(request).await;
    response.headers_mut().insert("x-served-by", "host-service".parse().expect("ascii"));
    response
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "config/gateway.yaml".into());
    let listen: SocketAddr = args.next().unwrap_or_else(|| "127.0.0.1:3000".into()).parse()?;
    let (_, settings) = config::load(path.as_ref())?;
    let gateway = Arc::new(Gateway::new(Arc::new(settings))?);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("host service on http://{listen}/, the gateway under /appsignal");
    let app = router(gateway).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}
