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
        if let Err(refused) = self.admit(method, path, headers) {
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
            // `admit` refused every other path.
            _ => not_found(),
        }
    }

    /// Authorisation, route and method, all decided on the request head so
    /// that nothing is read from a request that will be refused.
    fn admit(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<(), Response<Vec<u8>>> {
        if path == "/api" || path.starts_with(API_PREFIX) {
            self.authorise(path, headers)?;
        }
        let allowed: &[Method] = match path {
            METRICS_PATH | HEALTHZ_PATH | READYZ_PATH => &[Method::GET],
            WHATIF_PATH => &[Method::GET, Method::POST],
            _ => return Err(not_found()),
        };
        if allowed.contains(method) {
            Ok(())
        } else {
            Err(method_not_allowed(allowed))
        }
    }

    /// Checks `Authorization: Bearer <token>` against the configured token.
    fn authorise(&self, path: &str, headers: &HeaderMap) -> Result<(), Response<Vec<u8>>> {
        let Some(expected) = &self.token else {
            return Err(json_response(
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
            return Err(unauthorised(
                "Bearer realm=\"portcullis admin\"",
                "missing bearer token; send `Authorization: Bearer <token>` with the token from admin.token_file",
            ));
        };
        if token_matches(expected, given) {
            Ok(())
        } else {
            info!(path, "admin API request refused: wrong bearer token");
            Err(unauthorised(
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
        let response = if let Err(refused) = self.admit(&method, &path, &headers) {
            refused
        } else if declared_length(&headers).is_some_and(|n| n > MAX_BODY as u64) {
            too_large()
        } else {
            session.set_read_timeout(Some(BODY_READ_TIMEOUT));
            match read_body(session).await {
                Ok(body) => self.handle(&method, &target, &headers, &body),
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
        let closest = Field::ALL
            .iter()
            .map(|f| (strsim::damerau_levenshtein(name, f.name()), f.name()))
            .filter(|(d, _)| *d <= (name.len() / 3).clamp(1, 3))
            .min_by_key(|(d, _)| *d);
        let message = match closest {
            Some((_, s)) => format!("unknown field `{name}`; did you mean `{s}`?"),
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
            "no such admin route; routes are {METRICS_PATH}, {HEALTHZ_PATH}, {READYZ_PATH} and {WHATIF_PATH}"
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
