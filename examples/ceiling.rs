//! The benchmark's ceiling: a bare hyper server that answers every request with the same
//! body from memory, with no routing, cache or validation. What the gateway's hit path
//! is measured against.
//!
//!     ceiling 127.0.0.1:0 body.json      # prints the bound address, then serves

use std::convert::Infallible;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let body =
        Bytes::from(std::fs::read(args.next().expect("usage: ceiling ADDR BODY_FILE")).expect("body file"));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("{}", listener.local_addr().unwrap());
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let mut response = Response::new(Full::new(body.clone()));
                *response.status_mut() = StatusCode::OK;
                response.headers_mut().insert("content-type", "application/json".parse().unwrap());
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
