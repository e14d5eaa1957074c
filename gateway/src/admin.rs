//! The admin listener: a plain-HTTP Pingora service on `admin.address`,
//! never on the public port (the config loader refuses the same address).
//!
//! Routes:
//! - `GET /metrics`: Prometheus text of [`crate::metrics::Metrics`].
//! - `GET /healthz`: 200 `ok` while the process serves requests.
//! - `GET /readyz`: 200 once [`Gateway::is_ready`], else 503.
//! - `GET|POST /api/v1/whatif`: the object `portcullis whatif --json` prints,
//!   decided against the live snapshot. `GET` takes the CLI's flags as query
//!   parameters (`group` repeats; `mfa` and `unassigned` are flags: empty,
//!   `true`/`1` or `false`/`0`); `POST` takes a JSON object with the same
//!   names (`group` a string or an array). Without `user` the request is not
//!   signed in, and `user_type`, `group`, `mfa` and `signed_in_ago` are
//!   refused, as the CLI's `--anonymous` refuses them.
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
//! - `GET|POST /api/v1/invitations`, `GET|DELETE /api/v1/invitations/{id}`,
//!   `POST /api/v1/invitations/{id}/resend`: guest invitations, as
//!   `portcullis invite` and `portcullis invitations` (see `crate::invite`).
//!   `POST` takes `{email, apps, access_days | access_until, message,
//!   inviter}`; answers never carry the link (it goes to the guest only).
//!
//! - `GET /api/v1/guests`, `GET|DELETE /api/v1/guests/{id}`,
//!   `PUT|DELETE /api/v1/guests/{id}/assignments/{app}`: guests (by id or
//!   e-mail) with their assignments; `PUT` grants or extends with
//!   `{"days": N}` or `{"until": "YYYY-MM-DD" | RFC 3339}`; deleting a guest
//!   ends their sessions first. As `portcullis guests`.
//! - `GET /api/v1/audit?subject=&app=&before=&limit=`: the audit log, newest
//!   first (`limit` 1 to 1000, default 100).
//! - `GET /api/v1/openapi.json`: an OpenAPI 3.1 document of these routes.
//!
//! Errors are JSON `{"error": …}`, plus `"field"` when one input was wrong.
//! Request bodies are bounded by [`MAX_BODY`] (413) and read only after the
//! request was authorised. The token is never logged.

use crate::config::Admin;
use crate::state::Gateway;
use crate::whatif::WhatIf;
use async_trait::async_trait;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;
use rules::{ClientApp, Platform, RequestFacts, UserType};
use serde_json::{Value, json};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

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
/// The OpenAPI document of the API.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The largest request body accepted (larger: 413).
pub const MAX_BODY: usize = 64 * 1024;

/// How long one read of a request body may stall before the request fails
/// (a slow client must not hold an admin worker forever).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The admin listener's Pingora service.
pub type AdminService = Service<HttpServer<AdminApp>>;

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
    let mut service = Service::new(
        "portcullis admin".to_string(),
        HttpServer::new_app(AdminApp::new(gateway, token)),
    );
    service.add_tcp(&admin.address.to_string());
    service.threads = Some(1);
    Ok(service)
}

/// Reads an admin token file: its content without surrounding whitespace.
/// An unreadable or empty file is an error naming the file.
pub fn read_token(path: &Path) -> Result<Arc<[u8]>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "admin.token_file {}: cannot read the admin API token: {e}",
            path.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "admin.token_file {} is empty; put the admin API token in it (e.g. `openssl rand -hex 32`)",
            path.display()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o004 != 0
        {
            warn!(file = %path.display(), "admin.token_file is readable by every user; chmod o-r it");
        }
    }
    Ok(Arc::from(token.as_bytes()))
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

    /// Answers one request. `target` is the path and query (`/a?b=c`);
    /// `body` is what was read of the request body (longer than
    /// [`MAX_BODY`]: 413). Authorisation comes first, then the route and
    /// method, then the body limit.
    pub fn handle(
        &self,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        if let Some(refused) = self.refusal(method, path, headers) {
            return refused;
        }
        if body.len() > MAX_BODY {
            return too_large();
        }
        match path {
            METRICS_PATH => respond(
                StatusCode::OK,
                prometheus::TEXT_FORMAT,
                self.gateway.metrics.render(),
            ),
            HEALTHZ_PATH => text(StatusCode::OK, "ok\n"),
            READYZ_PATH if self.gateway.is_ready() => text(StatusCode::OK, "ready\n"),
            READYZ_PATH => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
            WHATIF_PATH => self.whatif(method, query, body),
            OPENAPI_PATH => json_response(StatusCode::OK, &openapi()),
            // `refusal` answered every other path.
            _ => not_found(),
        }
    }

    /// Authorisation, route and method, all decided on the request head so
    /// that nothing is read from a request that will be refused. `Some`: the
    /// refusal to send.
    fn refusal(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<Response<Vec<u8>>> {
        if (path == "/api" || path.starts_with(API_PREFIX))
            && let Some(refused) = self.authorise(path, headers)
        {
            return Some(refused);
        }
        let allowed: &[Method] = match (path, invitation_route(path)) {
            (METRICS_PATH | HEALTHZ_PATH | READYZ_PATH | AUDIT_PATH | OPENAPI_PATH, _) => {
                &[Method::GET]
            }
            _ if guest_route(path).is_some() => match guest_route(path) {
                Some(GuestRoute::All) => &[Method::GET],
                Some(GuestRoute::One(_)) => &[Method::GET, Method::DELETE],
                _ => &[Method::PUT, Method::DELETE],
            },
            (WHATIF_PATH, _) => &[Method::GET, Method::POST],
            (_, Some(InvitationRoute::All)) => &[Method::GET, Method::POST],
            (_, Some(InvitationRoute::One(_))) => &[Method::GET, Method::DELETE],
            (_, Some(InvitationRoute::Resend(_))) => &[Method::POST],
            _ => return Some(not_found()),
        };
        if allowed.contains(method) {
            None
        } else {
            Some(method_not_allowed(allowed))
        }
    }

    /// Checks `Authorization: Bearer <token>` against the configured token;
    /// `Some`: the 403 or 401 to send.
    fn authorise(&self, path: &str, headers: &HeaderMap) -> Option<Response<Vec<u8>>> {
        let Some(expected) = &self.token else {
            return Some(json_response(
                StatusCode::FORBIDDEN,
                &json!({"error": "the admin API is disabled; set admin.token_file in the configuration to a file holding its bearer token"}),
            ));
        };
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let given = match (values.next(), values.next()) {
            (Some(v), None) => bearer_token(v),
            // Two `Authorization` headers are ambiguous: refuse rather than
            // pick one that a proxy in front may not have checked.
            _ => None,
        };
        let Some(given) = given else {
            info!(path, "admin API request refused: no bearer token");
            return Some(unauthorised(
                "Bearer realm=\"portcullis admin\"",
                "missing bearer token; send `Authorization: Bearer <token>` with the token from admin.token_file",
            ));
        };
        if token_matches(expected, given) {
            None
        } else {
            info!(path, "admin API request refused: wrong bearer token");
            Some(unauthorised(
                "Bearer realm=\"portcullis admin\", error=\"invalid_token\"",
                "invalid bearer token",
            ))
        }
    }

    fn whatif(&self, method: &Method, query: Option<&str>, body: &[u8]) -> Response<Vec<u8>> {
        let facts = if *method == Method::POST {
            if query.is_some_and(|q| !q.is_empty()) {
                Err(BadInput::general(
                    "POST takes the facts in its JSON body; drop the query string or use GET",
                ))
            } else {
                facts_from_json(body)
            }
        } else {
            facts_from_query(query.unwrap_or(""))
        };
        let facts = match facts {
            Ok(f) => f,
            Err(bad) => return bad.response(),
        };
        // The live snapshot, taken once: the answer is about one version.
        let snapshot = self.gateway.snapshot.load_full();
        match WhatIf::new(&snapshot, &facts) {
            Ok(w) => json_response(StatusCode::OK, &w.json(&snapshot)),
            // Resolving fails only on an app the snapshot does not know.
            Err(e) => BadInput::field(Field::App.name(), e).response(),
        }
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let method = req.method.clone();
        let path = req.uri.path().to_string();
        let target = match req.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let headers = req.headers.clone();
        // Authorise before reading the body, so that an unauthenticated
        // client cannot make us read (and buffer) anything.
        let response = if let Some(refused) = self.refusal(&method, &path, &headers) {
            refused
        } else if declared_length(&headers).is_some_and(|n| n > MAX_BODY as u64) {
            too_large()
        } else {
            session.set_read_timeout(Some(BODY_READ_TIMEOUT));
            match read_body(session).await {
                Ok(body) if body.len() > MAX_BODY => too_large(),
                Ok(body) => match (invitation_route(&path), guest_route(&path)) {
                    (Some(route), _) => self.invitations(&method, route, &body).await,
                    (_, Some(route)) => self.guests(&method, route, &body).await,
                    _ if path == AUDIT_PATH => {
                        self.audit(target.split_once('?').map(|(_, q)| q)).await
                    }
                    _ => self.handle(&method, &target, &headers, &body),
                },
                Err(e) => {
                    debug!(error = %e, "admin request body could not be read");
                    BadInput::general("could not read the request body").response()
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

/// Which invitation endpoint a path is, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InvitationRoute<'a> {
    All,
    One(&'a str),
    Resend(&'a str),
}

fn invitation_route(path: &str) -> Option<InvitationRoute<'_>> {
    let rest = path.strip_prefix(INVITATIONS_PATH)?;
    let valid_id = |id: &str| {
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    match rest.strip_prefix('/') {
        None if rest.is_empty() => Some(InvitationRoute::All),
        Some(tail) => match tail.split_once('/') {
            None if valid_id(tail) => Some(InvitationRoute::One(tail)),
            Some((id, "resend")) if valid_id(id) => Some(InvitationRoute::Resend(id)),
            _ => None,
        },
        None => None,
    }
}

/// An invitation as the API shows it (never the link).
fn invitation_json(i: &crate::store::Invitation, now: time::OffsetDateTime) -> Value {
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    json!({
        "id": i.id,
        "email": i.email,
        "user_id": i.user_id,
        "apps": i.apps,
        "status": i.status(now),
        "inviter": i.inviter,
        "message": i.message,
        "access_until": i.access_until.map(rfc3339),
        "access_days": i.access_days,
        "created_at": rfc3339(i.created_at),
        "expires_at": rfc3339(i.expires_at),
        "redeemed_at": i.redeemed_at.map(rfc3339),
        "revoked_at": i.revoked_at.map(rfc3339),
    })
}

/// The JSON body of `POST /api/v1/invitations`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: String,
    apps: Vec<String>,
    #[serde(default)]
    access_days: Option<u32>,
    /// RFC 3339 time or `YYYY-MM-DD` (UTC midnight).
    #[serde(default)]
    access_until: Option<String>,
    #[serde(default)]
    message: Option<String>,
    inviter: String,
}

pub fn parse_until(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .or_else(|| {
            let f = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(s, &f)
                .ok()
                .map(|d| d.midnight().assume_utc())
        })
}

impl AdminApp {
    /// The invitation endpoints (store and mail: async).
    async fn invitations(
        &self,
        method: &Method,
        route: InvitationRoute<'_>,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        use crate::invite::{self, InviteError};
        let g = &self.gateway;
        let now = time::OffsetDateTime::now_utc();
        let snapshot = g.snapshot.load_full();
        let mailer = g.mailer.load_full();
        let mailer = mailer.as_deref();
        let error = |e: InviteError| -> Response<Vec<u8>> {
            match e {
                InviteError::Invalid { field, message } => {
                    BadInput::field(field, message).response()
                }
                InviteError::NotFound(_) => not_found(),
                InviteError::NotPending => json_response(
                    StatusCode::CONFLICT,
                    &json!({"error": "the invitation is no longer pending (redeemed, revoked or expired)"}),
                ),
                other => {
                    warn!(error = %other, "invitation operation failed");
                    json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &json!({"error": other.to_string()}),
                    )
                }
            }
        };
        let no_mail = || {
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": "mail and sign_in must be configured to send invitations"}),
            )
        };
        match (route, method) {
            (InvitationRoute::All, &Method::GET) => match g.store.list_invitations().await {
                Ok(list) => json_response(
                    StatusCode::OK,
                    &json!({"invitations": list.iter().map(|i| invitation_json(i, now)).collect::<Vec<_>>()}),
                ),
                Err(e) => error(InviteError::Store(e)),
            },
            (InvitationRoute::All, _) => {
                let body: InviteBody = match serde_json::from_slice(body) {
                    Ok(b) => b,
                    Err(e) => {
                        return BadInput::general(format!("invalid JSON body: {e}")).response();
                    }
                };
                let access_until = match body.access_until.as_deref().map(|s| (s, parse_until(s))) {
                    Some((s, None)) => {
                        return BadInput::field(
                            "access_until",
                            format!("`{s}` is not an RFC 3339 time or a date like 2026-12-31"),
                        )
                        .response();
                    }
                    Some((_, t)) => t,
                    None => None,
                };
                let Some(mailer) = mailer else {
                    return no_mail();
                };
                let req = invite::InviteRequest {
                    email: body.email,
                    apps: body.apps,
                    access_until,
                    access_days: body.access_days,
                    message: body.message,
                    inviter: body.inviter,
                };
                let created = invite::invite(&snapshot.config, &g.store, mailer, &req, now).await;
                if created.is_ok() {
                    g.metrics.invitations.with_label_values(&["created"]).inc();
                }
                match created {
                    Ok((inv, _link)) => {
                        json_response(StatusCode::CREATED, &invitation_json(&inv, now))
                    }
                    Err(e) => error(e),
                }
            }
            (InvitationRoute::One(id), &Method::GET) => match g.store.get_invitation(id).await {
                Ok(Some(i)) => json_response(StatusCode::OK, &invitation_json(&i, now)),
                Ok(None) => not_found(),
                Err(e) => error(InviteError::Store(e)),
            },
            (InvitationRoute::One(id), _) => match invite::revoke(&g.store, id, "admin", now).await
            {
                Ok(i) => {
                    g.metrics.invitations.with_label_values(&["revoked"]).inc();
                    json_response(StatusCode::OK, &invitation_json(&i, now))
                }
                Err(e) => error(e),
            },
            (InvitationRoute::Resend(id), _) => {
                let Some(mailer) = mailer else {
                    return no_mail();
                };
                match invite::resend(&snapshot.config, &g.store, mailer, id, "admin", now).await {
                    Ok((i, _link)) => {
                        g.metrics.invitations.with_label_values(&["resent"]).inc();
                        json_response(StatusCode::OK, &invitation_json(&i, now))
                    }
                    Err(e) => error(e),
                }
            }
        }
    }
}

// ---------------------------------------------------------------- guests

/// Which guest endpoint a path is, if any (segments still percent-encoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GuestRoute<'a> {
    All,
    One(&'a str),
    Assignment(&'a str, &'a str),
}

fn guest_route(path: &str) -> Option<GuestRoute<'_>> {
    let rest = path.strip_prefix(GUESTS_PATH)?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 320
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.@+%".contains(&b))
    };
    if rest.is_empty() {
        return Some(GuestRoute::All);
    }
    let mut parts = rest.strip_prefix('/')?.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(id), None, None, None) if valid(id) => Some(GuestRoute::One(id)),
        (Some(id), Some("assignments"), Some(app), None) if valid(id) && valid(app) => {
            Some(GuestRoute::Assignment(id, app))
        }
        _ => None,
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A guest with their assignments, as the API (and `guests show --json`)
/// shows it.
pub fn guest_json(
    u: &crate::store::User,
    assignments: &[crate::store::Assignment],
    now: time::OffsetDateTime,
) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "display_name": u.display_name,
        "state": u.state.as_str(),
        "created_at": rfc3339(u.created_at),
        "idp": u.identity.as_ref().map(|i| i.idp.clone()),
        "assignments": assignments.iter().map(|a| json!({
            "app": a.app,
            "granted_at": rfc3339(a.granted_at),
            "expires_at": a.expires_at.map(rfc3339),
            "granted_by": a.granted_by,
            "live": a.is_live(now),
        })).collect::<Vec<_>>(),
    })
}

/// An audit record as the API shows it.
pub fn audit_json(e: &crate::store::AuditEntry) -> Value {
    json!({
        "id": e.id,
        "at": rfc3339(e.at),
        "actor": e.actor,
        "action": e.action,
        "subject": e.subject,
        "app": e.app,
        "detail": e.detail,
    })
}

/// The end of a grant or extension: `days` from `now` (1 to 366) or
/// `until` (RFC 3339 or `YYYY-MM-DD`, UTC midnight; in the future, at most
/// 366 days ahead). Exactly one. `Err((field, message))` names the input.
pub fn access_end(
    days: Option<i64>,
    until: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<time::OffsetDateTime, (&'static str, String)> {
    let max = i64::from(crate::invite::MAX_ACCESS_DAYS);
    match (days, until) {
        (Some(_), Some(_)) => Err(("until", "give days or until, not both".into())),
        (None, None) => Err(("days", format!("give days (1 to {max}) or until (a date)"))),
        (Some(d), None) if !(1..=max).contains(&d) => {
            Err(("days", format!("`{d}` is out of range; use 1 to {max}")))
        }
        (Some(d), None) => Ok(now + time::Duration::days(d)),
        (None, Some(s)) => match parse_until(s) {
            None => Err((
                "until",
                format!("`{s}` is not an RFC 3339 time or a date like 2026-12-31"),
            )),
            Some(t) if t <= now => Err(("until", format!("`{s}` is not in the future"))),
            Some(t) if t > now + time::Duration::days(max) => {
                Err(("until", format!("`{s}` is more than {max} days ahead")))
            }
            Some(t) => Ok(t),
        },
    }
}

/// The guest with this id or e-mail (`None`: no such user, or a member).
pub async fn find_guest(
    store: &crate::store::Store,
    id_or_email: &str,
) -> Result<Option<crate::store::User>, crate::store::StoreError> {
    let user = if id_or_email.contains('@') {
        store.get_user_by_email(id_or_email).await?
    } else {
        store.get_user(id_or_email).await?
    };
    Ok(user.filter(|u| u.user_type == UserType::Guest))
}

/// The JSON body of `PUT /api/v1/guests/{id}/assignments/{app}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentBody {
    #[serde(default)]
    days: Option<i64>,
    #[serde(default)]
    until: Option<String>,
}

fn no_guest(id: &str) -> Response<Vec<u8>> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": format!("no guest {id}"), "field": "id"}),
    )
}

fn store_failed(e: &crate::store::StoreError) -> Response<Vec<u8>> {
    warn!(error = %e, "admin API store operation failed");
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"error": e.to_string()}),
    )
}

impl AdminApp {
    async fn audit_entry(&self, action: &str, subject: &str, app: Option<&str>, detail: Value) {
        let r = self
            .gateway
            .store
            .append_audit(&crate::store::NewAuditEntry {
                at: time::OffsetDateTime::now_utc(),
                actor: "admin".into(),
                action: action.into(),
                subject: Some(subject.into()),
                app: app.map(str::to_string),
                detail,
            })
            .await;
        if let Err(e) = r {
            warn!(error = %e, action, "audit entry not written");
        }
    }

    /// The guest endpoints (store: async).
    async fn guests(
        &self,
        method: &Method,
        route: GuestRoute<'_>,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let g = &self.gateway;
        let store = &g.store;
        let now = time::OffsetDateTime::now_utc();
        let id = match route {
            GuestRoute::All => {
                let users = match store.list_users(Some(UserType::Guest)).await {
                    Ok(u) => u,
                    Err(e) => return store_failed(&e),
                };
                let mut guests = Vec::with_capacity(users.len());
                for u in &users {
                    match store.assignments_of_user(&u.id).await {
                        Ok(a) => guests.push(guest_json(u, &a, now)),
                        Err(e) => return store_failed(&e),
                    }
                }
                return json_response(StatusCode::OK, &json!({ "guests": guests }));
            }
            GuestRoute::One(id) | GuestRoute::Assignment(id, _) => id,
        };
        let Some(id) = percent_decode(id) else {
            return BadInput::field("id", "not valid percent-encoding").response();
        };
        let guest = match find_guest(store, &id).await {
            Ok(Some(u)) => u,
            Ok(None) => return no_guest(&id),
            Err(e) => return store_failed(&e),
        };
        let guest_ref = &guest;
        let show = |status: StatusCode| async move {
            let guest = guest_ref;
            match store.assignments_of_user(&guest.id).await {
                Ok(a) => json_response(status, &guest_json(guest, &a, now)),
                Err(e) => store_failed(&e),
            }
        };
        match (route, method) {
            (GuestRoute::One(_), &Method::GET) => show(StatusCode::OK).await,
            (GuestRoute::One(_), _) => {
                let sids = match g.revoke_sessions_of_user(&guest.id).await {
                    Ok(s) => s,
                    Err(e) => return store_failed(&e),
                };
                match store.delete_user(&guest.id).await {
                    Ok(_) => {}
                    Err(e) => return store_failed(&e),
                }
                g.directory.invalidate_user(&guest.id);
                self.audit_entry(
                    "guest_removed",
                    &guest.id,
                    None,
                    json!({ "email": guest.email, "sessions_revoked": sids.len() }),
                )
                .await;
                json_response(
                    StatusCode::OK,
                    &json!({ "deleted": guest.id, "sessions_revoked": sids.len() }),
                )
            }
            (GuestRoute::Assignment(_, app), _) => {
                let Some(app) = percent_decode(app) else {
                    return BadInput::field("app", "not valid percent-encoding").response();
                };
                let snapshot = g.snapshot.load_full();
                let names: Vec<&str> = snapshot
                    .config
                    .apps
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect();
                if !names.contains(&app.as_str()) {
                    let hint = rules::closest(&app, names.iter().copied())
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    return BadInput::field("app", format!("no app named `{app}`{hint}"))
                        .response();
                }
                let had = match store.assignments_of_user(&guest.id).await {
                    Ok(a) => a.iter().any(|a| a.app == app),
                    Err(e) => return store_failed(&e),
                };
                if *method == Method::DELETE {
                    if !had {
                        return json_response(
                            StatusCode::NOT_FOUND,
                            &json!({"error": format!("{} has no assignment to {app}", guest.email), "field": "app"}),
                        );
                    }
                    if let Err(e) = store.revoke_assignment(&guest.id, &app).await {
                        return store_failed(&e);
                    }
                    g.directory.invalidate_user(&guest.id);
                    self.audit_entry("assignment_revoked", &guest.id, Some(&app), json!({}))
                        .await;
                    return show(StatusCode::OK).await;
                }
                let body: AssignmentBody = match serde_json::from_slice(body) {
                    Ok(b) => b,
                    Err(e) => {
                        return BadInput::general(format!("invalid JSON body: {e}")).response();
                    }
                };
                let end = match access_end(body.days, body.until.as_deref(), now) {
                    Ok(t) => t,
                    Err((field, message)) => return BadInput::field(field, message).response(),
                };
                if let Err(e) = store
                    .grant_assignment(&guest.id, &app, Some(end), Some("admin"), now)
                    .await
                {
                    return store_failed(&e);
                }
                g.directory.invalidate_user(&guest.id);
                self.audit_entry(
                    if had {
                        "assignment_extended"
                    } else {
                        "assignment_granted"
                    },
                    &guest.id,
                    Some(&app),
                    json!({ "until": rfc3339(end) }),
                )
                .await;
                show(StatusCode::OK).await
            }
            (GuestRoute::All, _) => not_found(),
        }
    }

    /// `GET /api/v1/audit?subject=&app=&before=&limit=`.
    async fn audit(&self, query: Option<&str>) -> Response<Vec<u8>> {
        let mut q = crate::store::AuditQuery::default();
        for (k, v) in openidconnect::url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "subject" if !v.is_empty() => q.subject = Some(v.into_owned()),
                "app" if !v.is_empty() => q.app = Some(v.into_owned()),
                "subject" | "app" => {}
                "before" => match v.parse::<i64>() {
                    Ok(n) => q.before_id = Some(n),
                    Err(_) => {
                        return BadInput::field("before", format!("`{v}` is not an entry id"))
                            .response();
                    }
                },
                "limit" => match v.parse::<u32>() {
                    Ok(n) if (1..=1000).contains(&n) => q.limit = n,
                    _ => {
                        return BadInput::field(
                            "limit",
                            format!("`{v}` is not a number from 1 to 1000"),
                        )
                        .response();
                    }
                },
                other => {
                    return BadInput::field(
                        "query",
                        format!("unknown parameter `{other}`; use subject, app, before or limit"),
                    )
                    .response();
                }
            }
        }
        // A subject given as an e-mail means that user.
        if let Some(s) = q.subject.clone().filter(|s| s.contains('@')) {
            match self.gateway.store.get_user_by_email(&s).await {
                Ok(Some(u)) => q.subject = Some(u.id),
                Ok(None) => {}
                Err(e) => return store_failed(&e),
            }
        }
        match self.gateway.store.list_audit(&q).await {
            Ok(list) => json_response(
                StatusCode::OK,
                &json!({ "entries": list.iter().map(audit_json).collect::<Vec<_>>() }),
            ),
            Err(e) => store_failed(&e),
        }
    }
}

/// The OpenAPI 3.1 document of the lifecycle API (written by hand).
fn openapi() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let err =
        |d: &str| json!({"description": d, "content": {"application/json": {"schema": error}}});
    let ok = |d: &str, schema: Value| json!({"description": d, "content": {"application/json": {"schema": schema}}});
    let guest = json!({"$ref": "#/components/schemas/Guest"});
    let invitation = json!({"$ref": "#/components/schemas/Invitation"});
    let id_param = json!({"name": "id", "in": "path", "required": true,
        "description": "The guest's user id (u_…) or e-mail address", "schema": {"type": "string"}});
    let app_param = json!({"name": "app", "in": "path", "required": true,
        "description": "The app's name in the config", "schema": {"type": "string"}});
    let inv_param =
        json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Portcullis admin API", "version": "1"},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/invitations": {
                "get": {"summary": "List invitations", "responses": {"200": ok("Invitations", json!({"type": "object", "properties": {"invitations": {"type": "array", "items": invitation}}}))}},
                "post": {"summary": "Invite a guest (the link goes only to the guest)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InviteRequest"}}}},
                    "responses": {"201": ok("Created", invitation.clone()), "400": err("Bad input; `field` names it")}}
            },
            "/api/v1/invitations/{id}": {
                "parameters": [inv_param],
                "get": {"summary": "One invitation", "responses": {"200": ok("The invitation", invitation.clone()), "404": err("No such invitation")}},
                "delete": {"summary": "Revoke a pending invitation", "responses": {"200": ok("Revoked", invitation.clone()), "409": err("Not pending")}}
            },
            "/api/v1/invitations/{id}/resend": {
                "parameters": [inv_param],
                "post": {"summary": "Send again with a new link", "responses": {"200": ok("Sent", invitation), "409": err("Not pending")}}
            },
            "/api/v1/guests": {
                "get": {"summary": "Guests with their assignments", "responses": {"200": ok("Guests", json!({"type": "object", "properties": {"guests": {"type": "array", "items": guest}}}))}}
            },
            "/api/v1/guests/{id}": {
                "parameters": [id_param],
                "get": {"summary": "One guest", "responses": {"200": ok("The guest", guest.clone()), "404": err("No such guest")}},
                "delete": {"summary": "End the guest's sessions, then delete the guest", "responses": {"200": ok("Deleted", json!({"type": "object", "properties": {"deleted": {"type": "string"}, "sessions_revoked": {"type": "integer"}}})), "404": err("No such guest")}}
            },
            "/api/v1/guests/{id}/assignments/{app}": {
                "parameters": [id_param, app_param],
                "put": {"summary": "Grant or extend access to an app",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
                        "days": {"type": "integer", "minimum": 1, "maximum": crate::invite::MAX_ACCESS_DAYS, "description": "Access ends this many days from now"},
                        "until": {"type": "string", "description": "Access ends then: RFC 3339 or YYYY-MM-DD (UTC midnight), at most 366 days ahead"}}}}}},
                    "responses": {"200": ok("The guest", guest.clone()), "400": err("Bad input; `field` names it"), "404": err("No such guest")}},
                "delete": {"summary": "End access to an app now", "responses": {"200": ok("The guest", guest), "404": err("No such guest or assignment")}}
            },
            "/api/v1/audit": {
                "get": {"summary": "Audit log, newest first",
                    "parameters": [
                        {"name": "subject", "in": "query", "schema": {"type": "string"}, "description": "A user id or e-mail"},
                        {"name": "app", "in": "query", "schema": {"type": "string"}},
                        {"name": "before", "in": "query", "schema": {"type": "integer"}, "description": "Entries with a smaller id (paging)"},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}],
                    "responses": {"200": ok("Entries", json!({"type": "object", "properties": {"entries": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}}}})), "400": err("Bad input; `field` names it")}}
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "The content of admin.token_file"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "field": {"type": "string"}}},
                "Assignment": {"type": "object", "properties": {"app": {"type": "string"}, "granted_at": {"type": "string", "format": "date-time"}, "expires_at": {"type": ["string", "null"], "format": "date-time"}, "granted_by": {"type": ["string", "null"]}, "live": {"type": "boolean"}}},
                "Guest": {"type": "object", "properties": {"id": {"type": "string"}, "email": {"type": "string"}, "display_name": {"type": ["string", "null"]}, "state": {"enum": ["active", "blocked"]}, "created_at": {"type": "string", "format": "date-time"}, "idp": {"type": ["string", "null"]}, "assignments": {"type": "array", "items": {"$ref": "#/components/schemas/Assignment"}}}},
                "Invitation": {"type": "object", "properties": {"id": {"type": "string"}, "email": {"type": "string"}, "user_id": {"type": "string"}, "apps": {"type": "array", "items": {"type": "string"}}, "status": {"enum": ["pending", "redeemed", "revoked", "expired"]}, "inviter": {"type": "string"}, "message": {"type": ["string", "null"]}, "access_until": {"type": ["string", "null"]}, "access_days": {"type": ["integer", "null"]}, "created_at": {"type": "string"}, "expires_at": {"type": "string"}, "redeemed_at": {"type": ["string", "null"]}, "revoked_at": {"type": ["string", "null"]}}},
                "InviteRequest": {"type": "object", "required": ["email", "apps", "inviter"], "additionalProperties": false, "properties": {"email": {"type": "string"}, "apps": {"type": "array", "items": {"type": "string"}}, "access_days": {"type": "integer"}, "access_until": {"type": "string"}, "message": {"type": "string"}, "inviter": {"type": "string"}}},
                "AuditEntry": {"type": "object", "properties": {"id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}, "actor": {"type": "string"}, "action": {"type": "string"}, "subject": {"type": ["string", "null"]}, "app": {"type": ["string", "null"]}, "detail": {"type": "object"}}}
            }
        }
    })
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

/// The token of `Bearer <token>` (scheme in any case), if that is what the
/// header holds.
fn bearer_token(value: &HeaderValue) -> Option<&[u8]> {
    let value = value.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token.as_bytes())
}

/// Compares a presented token with the configured one in constant time.
/// Both are hashed first so that neither a byte-by-byte timing attack nor
/// the time a length mismatch takes can recover the token.
fn token_matches(expected: &[u8], given: &[u8]) -> bool {
    use aws_lc_rs::digest::{SHA256, digest};
    let expected = digest(&SHA256, expected);
    let given = digest(&SHA256, given);
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), given.as_ref()).is_ok()
}

// ---------------------------------------------------------------- whatif input

/// The facts the "what if" API takes, named as the CLI's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    User,
    App,
    UserType,
    Group,
    Path,
    Method,
    Ip,
    Country,
    UserAgent,
    Platform,
    ClientApp,
    Mfa,
    SignedInAgo,
    Unassigned,
}

impl Field {
    const ALL: [Field; 14] = [
        Field::User,
        Field::App,
        Field::UserType,
        Field::Group,
        Field::Path,
        Field::Method,
        Field::Ip,
        Field::Country,
        Field::UserAgent,
        Field::Platform,
        Field::ClientApp,
        Field::Mfa,
        Field::SignedInAgo,
        Field::Unassigned,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::User => "user",
            Field::App => "app",
            Field::UserType => "user_type",
            Field::Group => "group",
            Field::Path => "path",
            Field::Method => "method",
            Field::Ip => "ip",
            Field::Country => "country",
            Field::UserAgent => "user_agent",
            Field::Platform => "platform",
            Field::ClientApp => "client_app",
            Field::Mfa => "mfa",
            Field::SignedInAgo => "signed_in_ago",
            Field::Unassigned => "unassigned",
        }
    }

    fn parse(name: &str) -> Result<Field, BadInput> {
        if let Some(f) = Field::ALL.iter().find(|f| f.name() == name) {
            return Ok(*f);
        }
        let closest = rules::closest(name, Field::ALL.iter().map(|f| f.name()));
        let message = match closest {
            Some(s) => format!("unknown field `{name}`; did you mean `{s}`?"),
            None => format!(
                "unknown field `{name}`; fields are: {}",
                Field::ALL.map(Field::name).join(", ")
            ),
        };
        Err(BadInput::field(name, message))
    }

    /// Fields that describe a signed-in user (the CLI's `--anonymous`
    /// conflicts with them).
    fn needs_user(self) -> bool {
        matches!(
            self,
            Field::UserType | Field::Group | Field::Mfa | Field::SignedInAgo
        )
    }
}

/// One input value: a query parameter or a JSON value.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Query(&'a str),
    Json(&'a Value),
}

/// A 400: what was wrong and, when one input was, its name.
#[derive(Debug)]
struct BadInput {
    field: Option<String>,
    message: String,
}

impl BadInput {
    fn field(field: &str, message: impl Into<String>) -> BadInput {
        BadInput {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    fn general(message: impl Into<String>) -> BadInput {
        BadInput {
            field: None,
            message: message.into(),
        }
    }

    fn response(&self) -> Response<Vec<u8>> {
        let body = match &self.field {
            Some(f) => json!({"error": self.message, "field": f}),
            None => json!({"error": self.message}),
        };
        json_response(StatusCode::BAD_REQUEST, &body)
    }
}

/// Collects fields into [`RequestFacts`] with the CLI's defaults.
#[derive(Default)]
struct FactsInput {
    facts: RequestFacts,
    /// Every field named, to refuse repeats (but `group` repeats).
    seen: Vec<Field>,
    /// Fields given a value (JSON `null` counts as not given).
    given: Vec<Field>,
}

impl FactsInput {
    fn set(&mut self, name: &str, raw: Raw<'_>) -> Result<(), BadInput> {
        let field = Field::parse(name)?;
        if field != Field::Group && self.seen.contains(&field) {
            return Err(BadInput::field(
                name,
                format!("`{name}` is given more than once"),
            ));
        }
        self.seen.push(field);
        if matches!(raw, Raw::Json(Value::Null)) {
            return Ok(());
        }
        self.given.push(field);
        let f = &mut self.facts;
        match field {
            Field::User => f.user = Some(non_empty(field, raw)?),
            Field::App => f.app = non_empty(field, raw)?,
            Field::UserType => {
                let s = string(field, raw)?;
                f.user_type = Some(UserType::parse(&s).ok_or_else(|| {
                    BadInput::field(
                        name,
                        format!("`{s}` is not a user type; use guest or member"),
                    )
                })?);
            }
            Field::Group => match raw {
                Raw::Json(Value::Array(items)) => {
                    for item in items {
                        f.groups.push(non_empty(field, Raw::Json(item))?);
                    }
                }
                _ => f.groups.push(non_empty(field, raw)?),
            },
            Field::Path => f.path = Some(non_empty(field, raw)?),
            Field::Method => f.method = Some(non_empty(field, raw)?),
            Field::Ip => {
                let s = string(field, raw)?;
                f.ip = Some(s.trim().parse::<IpAddr>().map_err(|_| {
                    BadInput::field(name, format!("`{s}` is not an IPv4 or IPv6 address"))
                })?);
            }
            Field::Country => {
                let s = string(field, raw)?;
                f.country = Some(
                    geoip::Country::parse(&s).map_err(|e| BadInput::field(name, e.to_string()))?,
                );
            }
            Field::UserAgent => f.user_agent = Some(string(field, raw)?),
            Field::Platform => {
                let s = string(field, raw)?;
                f.platform = Some(Platform::parse(&s).ok_or_else(|| {
                    let names: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
                    BadInput::field(
                        name,
                        format!("`{s}` is not a platform; use one of {}", names.join(", ")),
                    )
                })?);
            }
            Field::ClientApp => {
                let s = string(field, raw)?;
                f.client_app = Some(ClientApp::parse(&s).ok_or_else(|| {
                    BadInput::field(
                        name,
                        format!("`{s}` is not a client app type; use browser or api"),
                    )
                })?);
            }
            Field::Mfa => f.mfa = flag(field, raw)?,
            Field::SignedInAgo => {
                let s = string(field, raw)?;
                f.signed_in_ago = Some(rules::parse_duration(s.trim()).ok_or_else(|| {
                    BadInput::field(name, format!("`{s}` is not a duration; use 30m, 12h or 7d"))
                })?);
            }
            Field::Unassigned => f.assigned = Some(!flag(field, raw)?),
        }
        Ok(())
    }

    /// The facts, with the defaults the CLI's flags have.
    fn finish(self) -> Result<RequestFacts, BadInput> {
        let mut facts = self.facts;
        if facts.app.is_empty() {
            return Err(BadInput::field(
                Field::App.name(),
                "`app` is required: an app name from the configuration",
            ));
        }
        if facts.user.is_none()
            && let Some(f) = self.given.iter().find(|f| f.needs_user())
        {
            return Err(BadInput::field(
                f.name(),
                format!(
                    "`{}` describes a signed-in user; give `user` too, or leave it out to ask about a request that is not signed in",
                    f.name()
                ),
            ));
        }
        facts.path.get_or_insert_with(|| "/".to_string());
        facts.method.get_or_insert_with(|| "GET".to_string());
        facts.client_app.get_or_insert(ClientApp::Browser);
        facts.assigned.get_or_insert(true);
        Ok(facts)
    }
}

fn string(field: Field, raw: Raw<'_>) -> Result<String, BadInput> {
    match raw {
        Raw::Query(s) => Ok(s.to_string()),
        Raw::Json(Value::String(s)) => Ok(s.clone()),
        Raw::Json(_) => Err(BadInput::field(
            field.name(),
            format!("`{}` must be a string", field.name()),
        )),
    }
}

fn non_empty(field: Field, raw: Raw<'_>) -> Result<String, BadInput> {
    let s = string(field, raw)?;
    if s.trim().is_empty() {
        return Err(BadInput::field(
            field.name(),
            format!("`{}` must not be empty", field.name()),
        ));
    }
    Ok(s)
}

/// A flag: JSON `true`/`false`; in a query, empty (`?mfa`), `true`/`1` or
/// `false`/`0`.
fn flag(field: Field, raw: Raw<'_>) -> Result<bool, BadInput> {
    match raw {
        Raw::Json(Value::Bool(b)) => Ok(*b),
        Raw::Query("" | "true" | "1") => Ok(true),
        Raw::Query("false" | "0") => Ok(false),
        Raw::Query(s) => Err(BadInput::field(
            field.name(),
            format!("`{s}` is not a flag value; use true or false"),
        )),
        Raw::Json(_) => Err(BadInput::field(
            field.name(),
            format!("`{}` must be true or false", field.name()),
        )),
    }
}

/// Facts from a query string (`application/x-www-form-urlencoded`: `+` is a
/// space, `%2B` a plus).
fn facts_from_query(query: &str) -> Result<RequestFacts, BadInput> {
    let mut input = FactsInput::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(k).ok_or_else(|| {
            BadInput::general("a query parameter name is not valid percent-encoded UTF-8")
        })?;
        let value = percent_decode(v).ok_or_else(|| {
            BadInput::field(
                &name,
                format!("`{name}` is not valid percent-encoded UTF-8"),
            )
        })?;
        input.set(&name, Raw::Query(&value))?;
    }
    input.finish()
}

/// Facts from a JSON object body.
fn facts_from_json(body: &[u8]) -> Result<RequestFacts, BadInput> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BadInput::general(format!("the body is not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(BadInput::general(
            "the body must be a JSON object of the whatif fields",
        ));
    };
    let mut input = FactsInput::default();
    for (name, value) in &map {
        input.set(name, Raw::Json(value))?;
    }
    input.finish()
}

/// Decodes `%XX` escapes and `+`; `None` for a broken escape or bytes that
/// are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

// ------------------------------------------------------------------- responses

fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Vec<u8>> {
    let len = body.len();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn text(status: StatusCode, body: &str) -> Response<Vec<u8>> {
    respond(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

fn json_response(status: StatusCode, value: &Value) -> Response<Vec<u8>> {
    let mut body = value.to_string().into_bytes();
    body.push(b'\n');
    respond(status, "application/json", body)
}

fn not_found() -> Response<Vec<u8>> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": format!(
            "no such admin route; routes are {METRICS_PATH}, {HEALTHZ_PATH}, {READYZ_PATH}, {WHATIF_PATH}, {INVITATIONS_PATH}, {GUESTS_PATH}, {AUDIT_PATH} and {OPENAPI_PATH}"
        )}),
    )
}

fn method_not_allowed(allowed: &[Method]) -> Response<Vec<u8>> {
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": format!("method not allowed; use {allow}")}),
    );
    if let Ok(v) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, v);
    }
    response
}

fn too_large() -> Response<Vec<u8>> {
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &json!({"error": format!("the request body is larger than {MAX_BODY} bytes")}),
    )
}

fn unauthorised(challenge: &'static str, message: &str) -> Response<Vec<u8>> {
    let mut response = json_response(StatusCode::UNAUTHORIZED, &json!({"error": message}));
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::session::KeyRing;
    use crate::snapshot::Snapshot;
    use crate::store::{DirectoryCache, Store};
    use std::path::PathBuf;

    const TOKEN: &str = "s3cret-admin-token";

    const RULES: &str = "\
named_locations:
  - name: office
    ip_ranges: [203.0.113.0/24]
    trusted: true
policies:
  - name: guests-need-mfa
    users: { include: [guests] }
    apps: { include: [all] }
    grant: { require: [mfa] }
  - name: payroll-mfa-outside-the-office
    users: { include: [members] }
    apps: { include: [payroll] }
    locations: { include: [all], exclude: [trusted] }
    grant: { require: [mfa] }
";

    struct Fixture {
        dir: tempfile::TempDir,
        gateway: Arc<Gateway>,
    }

    impl Fixture {
        fn config_path(&self) -> PathBuf {
            self.dir.path().join("portcullis.yaml")
        }

        fn app(&self, token: Option<&str>) -> AdminApp {
            AdminApp::new(self.gateway.clone(), token.map(|t| Arc::from(t.as_bytes())))
        }
    }

    /// A real `Gateway` over a config and rule file in a temporary folder.
    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
        std::fs::write(dir.path().join("rules/access.yaml"), RULES).expect("write rules");
        let config = "listen: { http: 127.0.0.1:8080 }\nrules: [\"rules/*.yaml\"]\n\
             organisation: { name: Test, member_domains: [tailwindtraders.com] }\n\
             apps:\n  - { name: payroll, hosts: [payroll.localhost], upstreams: [127.0.0.1:9001] }\n\
             \x20 - { name: wiki, hosts: [wiki.localhost], upstreams: [127.0.0.1:9002] }\n";
        let config_path = dir.path().join("portcullis.yaml");
        std::fs::write(&config_path, config).expect("write config");
        let snapshot = Snapshot::load(&config_path).expect("snapshot loads");
        let store = Store::open_sqlite(&dir.path().join("portcullis.db"))
            .await
            .expect("store opens");
        let directory = DirectoryCache::new(store.clone(), Default::default());
        let now = crate::state::now();
        let keys = KeyRing::generate("https://portcullis.test", now, 3600).expect("keys");
        let gateway = Gateway::new(
            config_path,
            snapshot,
            keys,
            Vec::new(),
            store,
            directory,
            Metrics::new(),
        );
        Fixture {
            dir,
            gateway: Arc::new(gateway),
        }
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).expect("header value"),
        );
        h
    }

    fn get(app: &AdminApp, target: &str, headers: &HeaderMap) -> Response<Vec<u8>> {
        app.handle(&Method::GET, target, headers, b"")
    }

    fn body_json(r: &Response<Vec<u8>>) -> Value {
        serde_json::from_slice(r.body()).expect("JSON body")
    }

    fn body_text(r: &Response<Vec<u8>>) -> String {
        String::from_utf8(r.body().clone()).expect("utf-8")
    }

    fn header_of(r: &Response<Vec<u8>>, name: header::HeaderName) -> &str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// What `portcullis whatif --json` prints for these facts.
    fn cli_json(f: &Fixture, facts: &RequestFacts) -> Value {
        let snapshot = f.gateway.snapshot.load_full();
        WhatIf::new(&snapshot, facts)
            .expect("facts resolve")
            .json(&snapshot)
    }

    /// The facts of `whatif --user alice@tailwindtraders.com --app payroll
    /// --group Finance --group ops --path /reports --method post --ip
    /// 198.51.100.7 --user-agent … --client-app api --mfa --signed-in-ago 13h`.
    fn alice_facts() -> RequestFacts {
        RequestFacts {
            user: Some("alice@tailwindtraders.com".into()),
            user_type: None,
            groups: vec!["Finance".into(), "ops".into()],
            app: "payroll".into(),
            path: Some("/reports".into()),
            method: Some("post".into()),
            ip: Some("198.51.100.7".parse().expect("ip")),
            country: None,
            user_agent: Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)".into()),
            platform: None,
            client_app: Some(ClientApp::Api),
            mfa: true,
            signed_in_ago: Some(Duration::from_secs(13 * 3600)),
            assigned: Some(true),
        }
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text_without_a_token() {
        let f = fixture().await;
        let r = get(&f.app(Some(TOKEN)), METRICS_PATH, &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        assert!(header_of(&r, header::CONTENT_TYPE).starts_with("text/plain; version=0.0.4"));
        assert!(
            body_text(&r).contains("portcullis_build_info"),
            "{}",
            body_text(&r)
        );
        assert_eq!(
            header_of(&r, header::CONTENT_LENGTH),
            r.body().len().to_string()
        );
    }

    #[tokio::test]
    async fn healthz_is_ok_and_readyz_follows_readiness() {
        let f = fixture().await;
        let app = f.app(None);
        let r = get(&app, HEALTHZ_PATH, &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body_text(&r).trim(), "ok");
        let r = get(&app, READYZ_PATH, &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        f.gateway.set_ready(true);
        let r = get(&app, READYZ_PATH, &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        f.gateway.set_ready(false);
        let r = get(&app, READYZ_PATH, &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn whatif_get_answers_what_the_cli_prints() {
        let f = fixture().await;
        let target = format!(
            "{WHATIF_PATH}?user=alice%40tailwindtraders.com&app=payroll&group=Finance&group=ops\
             &path=%2Freports&method=post&ip=198.51.100.7\
             &user_agent=Mozilla%2F5.0+(iPhone%3B+CPU+iPhone+OS+17_0+like+Mac+OS+X)\
             &client_app=api&mfa&signed_in_ago=13h&unassigned=false"
        );
        let r = get(&f.app(Some(TOKEN)), &target, &bearer(TOKEN));
        assert_eq!(r.status(), StatusCode::OK, "{}", body_text(&r));
        assert_eq!(header_of(&r, header::CONTENT_TYPE), "application/json");
        let answer = body_json(&r);
        assert_eq!(answer, cli_json(&f, &alice_facts()));
        assert_eq!(answer["user"], "alice@tailwindtraders.com");
        assert_eq!(answer["platform"], "ios");
    }

    #[tokio::test]
    async fn whatif_post_answers_what_the_cli_prints() {
        let f = fixture().await;
        let body = json!({
            "user": "alice@tailwindtraders.com",
            "app": "payroll",
            "group": ["Finance", "ops"],
            "path": "/reports",
            "method": "post",
            "ip": "198.51.100.7",
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
            "client_app": "api",
            "mfa": true,
            "signed_in_ago": "13h",
            "unassigned": false,
            "country": null,
        });
        let r = f.app(Some(TOKEN)).handle(
            &Method::POST,
            WHATIF_PATH,
            &bearer(TOKEN),
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status(), StatusCode::OK, "{}", body_text(&r));
        assert_eq!(body_json(&r), cli_json(&f, &alice_facts()));
    }

    #[tokio::test]
    async fn whatif_without_user_is_a_request_that_is_not_signed_in() {
        let f = fixture().await;
        let app = f.app(Some(TOKEN));
        let r = get(&app, &format!("{WHATIF_PATH}?app=wiki"), &bearer(TOKEN));
        assert_eq!(r.status(), StatusCode::OK, "{}", body_text(&r));
        let expected = cli_json(
            &f,
            &RequestFacts {
                app: "wiki".into(),
                path: Some("/".into()),
                method: Some("GET".into()),
                client_app: Some(ClientApp::Browser),
                assigned: Some(true),
                ..Default::default()
            },
        );
        assert_eq!(body_json(&r), expected);
        assert_eq!(body_json(&r)["decision"], "sign_in");
        // A guest without MFA, then with it, and a platform override.
        let r = get(
            &app,
            &format!(
                "{WHATIF_PATH}?app=wiki&user=bob%40example.com&user_type=guest&platform=linux&country=de"
            ),
            &bearer(TOKEN),
        );
        let answer = body_json(&r);
        assert_eq!(answer["decision"], "mfa", "{answer}");
        assert_eq!(answer["country"], "DE");
        assert_eq!(answer["platform"], "linux");
    }

    #[tokio::test]
    async fn whatif_reads_the_live_snapshot() {
        let f = fixture().await;
        let app = f.app(Some(TOKEN));
        let target = format!("{WHATIF_PATH}?app=wiki&user=bob%40example.com");
        assert_eq!(
            body_json(&get(&app, &target, &bearer(TOKEN)))["decision"],
            "mfa"
        );
        // A reload that blocks guests is visible to the next request.
        std::fs::write(
            f.dir.path().join("rules/access.yaml"),
            "policies:\n  - name: no-guests\n    users: { include: [guests] }\n    apps: { include: [all] }\n    grant: block\n",
        )
        .expect("write rules");
        let next = Snapshot::load(&f.config_path()).expect("reload");
        f.gateway.snapshot.store(Arc::new(next));
        let answer = body_json(&get(&app, &target, &bearer(TOKEN)));
        assert_eq!(answer["decision"], "block", "{answer}");
        assert_eq!(answer["policies"][0]["name"], "no-guests");
    }

    #[tokio::test]
    async fn api_needs_the_bearer_token() {
        let f = fixture().await;
        let app = f.app(Some(TOKEN));
        let target = format!("{WHATIF_PATH}?app=wiki");
        let refused = |headers: &HeaderMap| {
            let r = get(&app, &target, headers);
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{}", body_text(&r));
            assert!(header_of(&r, header::WWW_AUTHENTICATE).starts_with("Bearer"));
            assert!(body_json(&r)["error"].is_string());
            assert!(!body_text(&r).contains(TOKEN));
        };
        refused(&HeaderMap::new());
        refused(&bearer("s3cret-admin-tokem"));
        refused(&bearer("s3cret"));
        refused(&bearer(&format!("{TOKEN}x")));
        let mut basic = HeaderMap::new();
        basic.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic czNjcmV0LWFkbWluLXRva2Vu"),
        );
        refused(&basic);
        let mut twice = bearer(TOKEN);
        twice.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer other"),
        );
        refused(&twice);
        // Unknown API routes are not revealed to unauthenticated clients.
        let r = get(&app, "/api/v1/nothing", &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = get(&app, "/api/v1/nothing", &bearer(TOKEN));
        assert_eq!(r.status(), StatusCode::NOT_FOUND);

        assert_eq!(get(&app, &target, &bearer(TOKEN)).status(), StatusCode::OK);
        let mut lower = HeaderMap::new();
        lower.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("bearer  {TOKEN} ")).expect("header value"),
        );
        assert_eq!(get(&app, &target, &lower).status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn without_a_token_file_the_api_is_off_and_probes_stay_open() {
        let f = fixture().await;
        let app = f.app(None);
        let r = get(&app, &format!("{WHATIF_PATH}?app=wiki"), &bearer(TOKEN));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let error = body_json(&r)["error"].as_str().unwrap_or("").to_string();
        assert!(error.contains("admin.token_file"), "{error}");
        for path in [METRICS_PATH, HEALTHZ_PATH] {
            assert_eq!(get(&app, path, &HeaderMap::new()).status(), StatusCode::OK);
        }
    }

    #[test]
    fn tokens_are_compared_in_constant_time_over_their_digests() {
        assert!(token_matches(b"abc", b"abc"));
        assert!(!token_matches(b"abc", b"abd"));
        assert!(!token_matches(b"abc", b"abcd"));
        assert!(!token_matches(b"abc", b""));
        // The comparison must not be `==` on the raw bytes: the source of
        // `token_matches` goes through aws-lc's constant-time verifier.
        let source = include_str!("admin.rs");
        let body = source
            .split("fn token_matches")
            .nth(1)
            .and_then(|s| s.split("\n}\n").next())
            .expect("token_matches is defined");
        assert!(body.contains("constant_time::verify_slices_are_equal"));
        assert!(!body.contains("=="));
    }

    #[tokio::test]
    async fn debug_of_the_app_redacts_the_token() {
        let f = fixture().await;
        let text = format!("{:?}", f.app(Some(TOKEN)));
        assert!(!text.contains(TOKEN), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }

    #[tokio::test]
    async fn bad_input_is_a_400_naming_the_field() {
        let f = fixture().await;
        let app = f.app(Some(TOKEN));
        let auth = bearer(TOKEN);
        let bad_get = |query: &str, field: &str, needle: &str| {
            let r = get(&app, &format!("{WHATIF_PATH}?{query}"), &auth);
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
            let v = body_json(&r);
            assert_eq!(v["field"], field, "{query}: {v}");
            let error = v["error"].as_str().unwrap_or("");
            assert!(error.contains(needle), "{query}: {error}");
        };
        bad_get("app=payrol", "app", "did you mean `payroll`?");
        bad_get("user=a%40b.c", "app", "required");
        bad_get(
            "app=wiki&ip=300.1.1.1",
            "ip",
            "`300.1.1.1` is not an IPv4 or IPv6",
        );
        bad_get("app=wiki&platform=amiga", "platform", "use one of");
        bad_get("app=wiki&client_app=curl", "client_app", "browser or api");
        bad_get("app=wiki&country=XX", "country", "`XX`");
        bad_get(
            "app=wiki&user=a%40b.c&user_type=admin",
            "user_type",
            "guest or member",
        );
        bad_get(
            "app=wiki&user=a%40b.c&signed_in_ago=12x",
            "signed_in_ago",
            "use 30m",
        );
        bad_get("app=wiki&user=a%40b.c&mfa=maybe", "mfa", "true or false");
        bad_get("app=wiki&mfa", "mfa", "give `user` too");
        bad_get("app=wiki&group=ops", "group", "give `user` too");
        bad_get("app=wiki&ap=x", "ap", "did you mean `app`?");
        bad_get("app=wiki&app=payroll", "app", "more than once");
        bad_get("app=wiki&user=%FF", "user", "UTF-8");
        bad_get("app=wiki&user=%4", "user", "UTF-8");

        let bad_post = |body: &str, field: Option<&str>, needle: &str| {
            let r = app.handle(&Method::POST, WHATIF_PATH, &auth, body.as_bytes());
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
            let v = body_json(&r);
            match field {
                Some(field) => assert_eq!(v["field"], field, "{body}: {v}"),
                None => assert!(v.get("field").is_none(), "{body}: {v}"),
            }
            let error = v["error"].as_str().unwrap_or("");
            assert!(error.contains(needle), "{body}: {error}");
        };
        bad_post(
            r#"{"app": "wiki", "groups": ["x"]}"#,
            Some("groups"),
            "did you mean `group`?",
        );
        bad_post(
            r#"{"app": "wiki", "colour": "red"}"#,
            Some("colour"),
            "unknown field",
        );
        bad_post(
            r#"{"app": "wiki", "ip": "nope"}"#,
            Some("ip"),
            "not an IPv4",
        );
        bad_post(
            r#"{"app": "wiki", "platform": "amiga"}"#,
            Some("platform"),
            "not a platform",
        );
        bad_post(r#"{"app": "nope"}"#, Some("app"), "there is no app `nope`");
        bad_post(r#"{"app": 7}"#, Some("app"), "must be a string");
        bad_post(
            r#"{"app": "wiki", "user": "a@b.c", "mfa": "yes"}"#,
            Some("mfa"),
            "true or false",
        );
        bad_post(
            r#"{"app": "wiki", "user": "a@b.c", "group": [1]}"#,
            Some("group"),
            "string",
        );
        bad_post(r#"{"app": "wiki""#, None, "not JSON");
        bad_post(r#"["app", "wiki"]"#, None, "JSON object");
        let r = app.handle(
            &Method::POST,
            &format!("{WHATIF_PATH}?app=wiki"),
            &auth,
            br#"{"app": "wiki"}"#,
        );
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn unknown_routes_wrong_methods_and_large_bodies() {
        let f = fixture().await;
        let app = f.app(Some(TOKEN));
        let auth = bearer(TOKEN);
        for path in ["/", "/metrics/", "/healthz/x", "/api", "/admin"] {
            let r = get(&app, path, &auth);
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(body_json(&r)["error"].is_string());
        }
        let r = app.handle(&Method::POST, METRICS_PATH, &HeaderMap::new(), b"");
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header_of(&r, header::ALLOW), "GET");
        let r = app.handle(&Method::DELETE, WHATIF_PATH, &auth, b"");
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header_of(&r, header::ALLOW), "GET, POST");
        // Authorisation comes before the method check.
        let r = app.handle(&Method::DELETE, WHATIF_PATH, &HeaderMap::new(), b"");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        let big = vec![b' '; MAX_BODY + 1];
        let r = app.handle(&Method::POST, WHATIF_PATH, &auth, &big);
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let mut fits = br#"{"app": "wiki"}"#.to_vec();
        fits.resize(MAX_BODY, b' ');
        let r = app.handle(&Method::POST, WHATIF_PATH, &auth, &fits);
        assert_eq!(r.status(), StatusCode::OK, "{}", body_text(&r));
    }

    #[test]
    fn guest_routes_and_access_ends() {
        assert_eq!(guest_route("/api/v1/guests"), Some(GuestRoute::All));
        assert_eq!(
            guest_route("/api/v1/guests/u_1"),
            Some(GuestRoute::One("u_1"))
        );
        assert_eq!(
            guest_route("/api/v1/guests/a%40b.example/assignments/wiki"),
            Some(GuestRoute::Assignment("a%40b.example", "wiki"))
        );
        for bad in [
            "/api/v1/guestsx",
            "/api/v1/guests/",
            "/api/v1/guests/u_1/assignments",
            "/api/v1/guests/u_1/assignments/wiki/x",
            "/api/v1/guests/u 1",
        ] {
            assert_eq!(guest_route(bad), None, "{bad}");
        }
        let now = time::macros::datetime!(2026-11-24 12:00 UTC);
        assert_eq!(
            access_end(Some(10), None, now),
            Ok(time::macros::datetime!(2026-12-04 12:00 UTC))
        );
        assert_eq!(
            access_end(None, Some("2026-12-31"), now),
            Ok(time::macros::datetime!(2026-12-31 00:00 UTC))
        );
        for (days, until, field) in [
            (None, None, "days"),
            (Some(0), None, "days"),
            (Some(367), None, "days"),
            (Some(1), Some("2026-12-31"), "until"),
            (None, Some("31/12/2026"), "until"),
            (None, Some("2026-01-01"), "until"),
            (None, Some("2028-01-01"), "until"),
        ] {
            assert_eq!(access_end(days, until, now).map_err(|e| e.0), Err(field));
        }
    }

    #[test]
    fn token_files_are_trimmed_and_empty_ones_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("admin.token");
        std::fs::write(&path, format!("  {TOKEN}\n")).expect("write");
        assert_eq!(&*read_token(&path).expect("token"), TOKEN.as_bytes());
        std::fs::write(&path, " \n").expect("write");
        let e = read_token(&path).expect_err("empty");
        assert!(
            e.contains(&path.display().to_string()) && e.contains("empty"),
            "{e}"
        );
        let missing = dir.path().join("missing.token");
        let e = read_token(&missing).expect_err("missing");
        assert!(e.contains(&missing.display().to_string()), "{e}");
    }

    #[tokio::test]
    async fn service_refuses_an_unreadable_token_file() {
        let f = fixture().await;
        let missing = f.dir.path().join("missing.token");
        let e = service(
            f.gateway.clone(),
            &Admin {
                address: "127.0.0.1:0".parse().expect("address"),
                token_file: Some(missing.clone()),
            },
        )
        .err()
        .expect("refused");
        assert!(e.contains(&missing.display().to_string()), "{e}");
    }

    /// One HTTP/1.1 exchange on a fresh connection; the whole response.
    async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let io = async {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut out = Vec::new();
            stream.read_to_end(&mut out).await?;
            std::io::Result::Ok(out)
        };
        let out = tokio::time::timeout(Duration::from_secs(10), io)
            .await
            .expect("the admin listener answers within 10 s")
            .expect("exchange");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_service_answers_on_a_real_socket() {
        use pingora::services::Service as _;
        let f = fixture().await;
        let token_file = f.dir.path().join("admin.token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let mut svc = service(
            f.gateway.clone(),
            &Admin {
                address: addr,
                token_file: Some(token_file),
            },
        )
        .expect("service");
        let (shutdown, watch) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(async move { svc.start_service(None, watch, 1).await });

        // Bounded wait for the listener to come up.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "admin listener never bound"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let r = exchange(
            addr,
            "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.ends_with("\r\n\r\nok\n"), "{r}");

        let r = exchange(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(r.contains("portcullis_build_info"), "{r}");

        let r = exchange(
            addr,
            "GET /api/v1/whatif?app=wiki HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 401"), "{r}");
        assert!(
            r.to_ascii_lowercase().contains("www-authenticate: bearer"),
            "{r}"
        );

        let body = r#"{"app": "wiki", "user": "bob@example.com"}"#;
        let r = exchange(
            addr,
            &format!(
                "POST /api/v1/whatif HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\
                 Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        let json_text = r.split("\r\n\r\n").nth(1).expect("a body");
        let answer: Value = serde_json::from_str(json_text).expect("JSON");
        let expected = cli_json(
            &f,
            &RequestFacts {
                user: Some("bob@example.com".into()),
                app: "wiki".into(),
                path: Some("/".into()),
                method: Some("GET".into()),
                client_app: Some(ClientApp::Browser),
                assigned: Some(true),
                ..Default::default()
            },
        );
        assert_eq!(answer, expected);

        // A declared oversized body is refused without being read.
        let r = exchange(
            addr,
            &format!(
                "POST /api/v1/whatif HTTP/1.1\r\nHost: a\r\n\
                 Authorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{{",
                MAX_BODY + 1
            ),
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 413"), "{r}");

        shutdown.send(true).expect("service is listening");
        tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("the service stops within 10 s")
            .expect("service task");
    }
}
