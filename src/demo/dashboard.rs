//! The demo's dashboard page: plain HTML and JavaScript shipped in the binary, served on
//! its own port so the browser really crosses origins (CORS) and really includes a
//! `<script>` from another site (JSONP), as a dashboard beside the gateway would.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use http::{Method, Request, Response, StatusCode};

use crate::response::{self, Body};
use crate::server::Handler;

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");

/// Serves the page for one gateway and app.
#[derive(Debug)]
pub struct Dashboard {
    /// The page, with the gateway's URL and the app filled in.
    page: Bytes,
    /// `Content-Security-Policy`: this page's own script, and the gateway; nothing else.
    policy: HeaderValue,
}

impl Dashboard {
    /// The dashboard of `app` (an id or alias) read through the gateway at `gateway`
    /// (`http://host:port`).
    pub fn new(gateway: &str, app: &str) -> Self {
        let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;");
        let page = PAGE.replace("__GATEWAY__", &escape(gateway)).replace("__APP__", &escape(app));
        let policy = format!(
            "default-src 'none'; script-src 'self' {gateway}; connect-src {gateway}; \
             style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
        );
        Dashboard {
            page: Bytes::from(page),
            policy: HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'self'")),
        }
    }

    /// Answers one request for the page or its script.
    pub fn respond(&self, method: &Method, path: &str) -> Response<Body> {
        if !matches!(*method, Method::GET | Method::HEAD) {
            return response::text(StatusCode::METHOD_NOT_ALLOWED, "GET only");
        }
        let mut response = match path {
            "/" | "/index.html" => {
                let mut page = response::with_body(StatusCode::OK, html(), self.page.clone());
                page.headers_mut().insert(CONTENT_SECURITY_POLICY, self.policy.clone());
                page
            }
            "/dashboard.js" => {
                response::with_body(StatusCode::OK, javascript(), Bytes::from_static(SCRIPT.as_bytes()))
            }
            _ => response::text(StatusCode::NOT_FOUND, "not found"),
        };
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if *method == Method::HEAD {
            response::strip_body(&mut response);
        }
        response
    }
}

fn html() -> HeaderValue {
    HeaderValue::from_static("text/html; charset=utf-8")
}

fn javascript() -> HeaderValue {
    HeaderValue::from_static("text/javascript; charset=utf-8")
}

impl Handler for Dashboard {
    async fn call(&self, request: Request<hyper::body::Incoming>, _peer: SocketAddr) -> Response<Body> {
        self.respond(request.method(), request.uri().path())
    }

    fn on_panic(&self, message: &str) -> Response<Body> {
        tracing::error!(panic = message, "the demo dashboard panicked; answered 500");
        response::text(StatusCode::INTERNAL_SERVER_ERROR, "the dashboard failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_its_gateway_and_app_and_loads_nothing_from_elsewhere() {
        let dashboard = Dashboard::new("http://127.0.0.1:8080", "blog");
        let page = dashboard.respond(&Method::GET, "/");
        assert_eq!(page.status(), StatusCode::OK);
        let policy = page.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        assert!(policy.contains("connect-src http://127.0.0.1:8080"), "{policy}");
        let text = String::from_utf8(dashboard.page.to_vec()).unwrap();
        assert!(text.contains("data-gateway=\"http://127.0.0.1:8080\"") && !text.contains("__GATEWAY__"));
        for html in [PAGE, SCRIPT] {
            assert!(!html.contains("https://") && !html.contains("//cdn"), "something loads from outside");
        }
        assert_eq!(dashboard.respond(&Method::GET, "/dashboard.js").status(), StatusCode::OK);
        assert_eq!(dashboard.respond(&Method::GET, "/nope").status(), StatusCode::NOT_FOUND);
    }
}
