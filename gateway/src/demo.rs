//! The built-in demo app (`demo_app` in the config): a tiny upstream that
//! shows a signed-in partner what the gateway tells an app about them. The
//! quickstart routes its `demo` app here, so a newcomer needs nothing else.

use crate::html::escape;
use crate::proxy::headers;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;
use std::net::SocketAddr;

pub struct DemoApp;

/// The demo app's service, listening on `address` (loopback in the quickstart).
pub fn service(address: SocketAddr) -> Service<HttpServer<DemoApp>> {
    let mut s = Service::new("demo app".to_string(), HttpServer::new_app(DemoApp));
    s.add_tcp(&address.to_string());
    s
}

#[async_trait]
impl ServeHttp for DemoApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let (status, ctype, body) = if req.uri.path() == "/health" {
            (200, "text/plain", b"ok\n".to_vec())
        } else {
            let get = |n: &str| {
                req.headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
            };
            let rows: String = [
                ("User id", headers::USER),
                ("E-mail", headers::EMAIL),
                ("User type", headers::USER_TYPE),
                ("Groups", headers::GROUPS),
                ("Request id", headers::REQUEST_ID),
                ("Client address", "x-forwarded-for"),
            ]
            .iter()
            .map(|(label, h)| {
                format!(
                    "<tr><th>{label}</th><td><code>{}</code></td></tr>",
                    escape(get(h))
                )
            })
            .collect();
            let assertion = get(headers::ASSERTION);
            let body = format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Demo app</title>\
                 <style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}}\
                 th{{text-align:left;padding-right:1rem}}code{{word-break:break-all}}</style></head><body>\
                 <h1>Demo app</h1><p>You reached this app through Portcullis. This is what it told the app:</p>\
                 <table>{rows}</table><h2>Signed assertion</h2>\
                 <p>Verify it with <code>/.portcullis/jwks.json</code>; its audience is the app's name.</p>\
                 <p><code>{}</code></p></body></html>",
                if assertion.is_empty() {
                    "(none: not signed in)".to_string()
                } else {
                    escape(assertion)
                }
            );
            (200, "text/html; charset=utf-8", body.into_bytes())
        };
        Response::builder()
            .status(status)
            .header("content-type", ctype)
            .header("content-length", body.len())
            .header("cache-control", "no-store")
            .body(body)
            .unwrap_or_default()
    }
}
