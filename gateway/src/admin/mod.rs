//! The admin listener: a plain-HTTP Pingora service on `admin.address`,
//! never on the public port (the config loader refuses the same address).
//!
//! Routes:
//! - `GET /metrics`: Prometheus text of [`crate::metrics::Metrics`].
//! - `GET /healthz`: 200 `ok` while the process serves requests.
//! - `GET /readyz`: 200 once [`Gateway::is_ready`], else 503.
//! - `GET|POST /api/v1/whatif`: "what if" against the live snapshot
//!   (`whatif.rs`).
//! - `/api/v1/invitations…`: guest invitations (`invitations.rs`).
//! - `/api/v1/guests…`: guests and their assignments (`guests.rs`).
//! - `GET /api/v1/audit`: the audit log (`audit.rs`).
//! - `GET /api/v1/openapi.json`: an OpenAPI 3.1 document of these routes
//!   (`openapi.rs`).
//!
//! How the parts fit: this file is the listener (the Pingora service and
//! the body reading); `routes.rs` parses the path and judges a request head
//! in order, with `auth.rs` first; each resource's file parses its input,
//! calls the operation it names (`crate::invitations`, `crate::guests`, the
//! store) and renders the answer with `response.rs`.
//!
//! Authentication: every path under `/api/` needs `Authorization: Bearer
//! <token>`, the token being the trimmed content of `admin.token_file`. It is
//! checked before routing, so an unauthenticated client cannot even learn
//! which API routes exist (401, `WWW-Authenticate: Bearer`). Without a
//! `token_file` the API is off: `/api/` answers 403 saying to set one. The
//! probes and the scrape endpoint (`/metrics`, `/healthz`, `/readyz`) stay
//! open either way, as orchestrators and Prometheus expect; they reveal no
//! user, address or path (see `metrics.rs`), and the listener is meant for a
//! private network.
//!
//! Errors are JSON `{"error": …}`, plus `"field"` when one input was wrong.
//! Request bodies are bounded by [`MAX_BODY`] (413) and read only after the
//! request was authorised. The token is never logged.

mod audit;
mod auth;
mod decisions;
mod guests;
mod invitations;
mod openapi;
mod query;
mod response;
mod routes;
mod whatif;

pub use audit::audit_json;
pub use auth::read_token;
pub use decisions::{REASONS, parse_time};
pub use guests::guest_json;
// Where they were before the guest operations had a module of their own.
pub use crate::guests::{access_end, find as find_guest, parse_until};

use crate::config::Admin;
use crate::state::Gateway;
use async_trait::async_trait;
use http::Response;
use http::header::{self, HeaderMap};
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;
use response::{BadInput, too_large};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, warn};

/// Prometheus scrape endpoint (open).
pub const METRICS_PATH: &str = "/metrics";
/// Liveness probe (open).
pub const HEALTHZ_PATH: &str = "/healthz";
/// Readiness probe (open).
pub const READYZ_PATH: &str = "/readyz";
/// Everything under this prefix needs the bearer token.
pub const API_PREFIX: &str = "/api/";
/// The "what if" explanation, as `portcullis whatif --json`.
pub const WHATIF_PATH: &str = "/api/v1/whatif";

/// Guest invitations (and `…/{id}`, `…/{id}/resend`).
pub const INVITATIONS_PATH: &str = "/api/v1/invitations";

/// Guests (and `…/{id}`, `…/{id}/assignments/{app}`).
pub const GUESTS_PATH: &str = "/api/v1/guests";
/// The audit log.
pub const AUDIT_PATH: &str = "/api/v1/audit";
/// The decision log: `GET` lists, `GET …/{request_id}` one trace.
pub const DECISIONS_PATH: &str = "/api/v1/decisions";
/// The OpenAPI document of the API.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The largest request body accepted (larger: 413).
pub const MAX_BODY: usize = 64 * 1024;

/// How long one read of a request body may stall before the request fails
/// (a slow client must not hold an admin worker forever).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The admin listener's Pingora service.
use crate::connections::Limited;

pub type AdminService = Service<Limited<HttpServer<AdminApp>>>;

/// Builds the admin service listening on `admin.address` (TCP, plain HTTP),
/// with one worker thread: the admin API must not compete with the proxy
/// for cores. Reads `admin.token_file` now; fails when it cannot be read or
/// is empty. Without a token file, the API answers 403 (see the module doc).
pub fn service(gateway: Arc<Gateway>, admin: &Admin) -> Result<AdminService, String> {
    let token = match &admin.token_file {
        Some(path) => Some(read_token(path)?),
        None => {
            warn!(
                address = %admin.address,
                "admin.token_file is not set; the admin API (/api/) is disabled"
            );
            None
        }
    };
    // The connection limits apply here too: a slowloris client held this
    // listener's connections as long as the public one's.
    let mut service = Service::new(
        "portcullis admin".to_string(),
        Limited::new(
            Arc::new(HttpServer::new_app(AdminApp::new(gateway.clone(), token))),
            gateway,
        ),
    );
    service.add_tcp(&admin.address.to_string());
    service.threads = Some(1);
    Ok(service)
}

/// Answers the admin listener's requests (see the module doc).
pub struct AdminApp {
    gateway: Arc<Gateway>,
    /// `None`: no `admin.token_file`, the API is disabled.
    token: Option<Arc<[u8]>>,
}

// By hand so that the token can never reach a log through `{:?}`.
impl std::fmt::Debug for AdminApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApp")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl AdminApp {
    /// `token`: the bearer token `/api/` requires; `None` disables the API.
    pub fn new(gateway: Arc<Gateway>, token: Option<Arc<[u8]>>) -> AdminApp {
        AdminApp { gateway, token }
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let method = req.method.clone();
        let path = req.uri.path().to_string();
        let query = req.uri.query().map(str::to_string);
        let headers = req.headers.clone();
        // Authorise before reading the body, so that an unauthenticated
        // client cannot make us read (and buffer) anything.
        let response = match self.admit(&method, &path, &headers) {
            Err(refused) => *refused,
            Ok(_) if declared_length(&headers).is_some_and(|n| n > MAX_BODY as u64) => too_large(),
            Ok(route) => {
                session.set_read_timeout(Some(BODY_READ_TIMEOUT));
                match read_body(session).await {
                    Ok(body) if body.len() > MAX_BODY => too_large(),
                    Ok(body) => self.answer(&method, route, query.as_deref(), &body).await,
                    Err(e) => {
                        debug!(error = %e, "admin request body could not be read");
                        BadInput::general("could not read the request body").response()
                    }
                }
            }
        };
        // A body we did not read would be drained for keep-alive; close the
        // connection instead so an oversized or refused upload ends here.
        if !session.is_body_done() {
            session.set_keepalive(None);
        }
        response
    }
}

/// Reads the request body, stopping once it exceeds [`MAX_BODY`] (the
/// caller then answers 413).
async fn read_body(session: &mut ServerSession) -> pingora::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = session.read_request_body().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            break;
        }
    }
    Ok(body)
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests;
