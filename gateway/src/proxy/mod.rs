//! The data path: the only `impl ProxyHttp`; each phase calls a module named
//! after its job (STYLE.md §1). A request is decided in `request_filter`
//! before a byte reaches the app; anything that fails while deciding is a
//! deny.

pub mod access_log;
pub mod context;
pub mod decide;
pub mod forward_auth;
pub mod headers;
pub mod live;
pub mod path;
pub mod respond;
pub mod route;

use crate::metrics::NO_APP;
use crate::portal;
use crate::session::{SessionClaims, cookie};
use crate::snapshot::Snapshot;
use crate::state::{Gateway, now};
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use respond::Answer;
use rules::{ClientApp, Decision};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// The proxy service.
pub struct Proxy {
    pub gateway: Arc<Gateway>,
}

/// Per-request state, filled by `request_filter`.
pub struct Ctx {
    start: Instant,
    request_id: RequestId,
    snapshot: Option<Arc<Snapshot>>,
    app: Option<usize>,
    /// The `decision` label of `portcullis_requests_total`.
    outcome: &'static str,
    /// The normalised path plus the raw query: what is forwarded.
    forward_uri: String,
    https: bool,
    client_ip: Option<IpAddr>,
    claims: Option<Arc<SessionClaims>>,
    bearer: bool,
    /// Groups of the user (token and directory), lower-case.
    groups: Vec<String>,
    user_type: Option<rules::UserType>,
    applied: Vec<Arc<str>>,
    /// The chosen upstream as configured (`host:port`), for `preserve_host: false`.
    upstream_host: String,
    /// A long-lived request (WebSocket, event stream) being re-decided
    /// while it is open; see `live`.
    live: Option<live::Registration>,
}

/// A request id: 128 random bits as 32 lower-case hex digits, kept as a
/// header value so that the two headers carrying it share one buffer.
pub struct RequestId(http::HeaderValue);

impl RequestId {
    fn new() -> RequestId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = rand::random::<u128>();
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = HEX[((n >> (124 - 4 * i)) & 0xf) as usize];
        }
        // Hex digits are always a valid header value.
        RequestId(
            http::HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(&out))
                .unwrap_or_else(|_| http::HeaderValue::from_static("0")),
        )
    }

    /// The value for `X-Request-Id` (a cheap clone of a shared buffer).
    fn header(&self) -> http::HeaderValue {
        self.0.clone()
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl Ctx {
    /// Answers an error page or JSON (400, 404, 503…) instead of proxying:
    /// the request stops here, counted under `outcome`.
    #[allow(clippy::too_many_arguments)]
    async fn refuse(
        &mut self,
        session: &mut Session,
        snapshot: &Snapshot,
        outcome: &'static str,
        status: u16,
        client_app: ClientApp,
        title: &str,
        detail: &str,
    ) -> Result<bool> {
        self.outcome = outcome;
        respond::error(
            session,
            status,
            &self.answer(snapshot, client_app, None),
            title,
            detail,
        )
        .await?;
        Ok(true)
    }

    fn answer<'a>(
        &'a self,
        snapshot: &'a Snapshot,
        client_app: ClientApp,
        token_problem: Option<&'a str>,
    ) -> Answer<'a> {
        Answer {
            request_id: &self.request_id,
            org: &snapshot.config.organisation.name,
            app: self.app.and_then(|i| snapshot.config.apps.get(i)),
            client_app,
            path_and_query: &self.forward_uri,
            token_problem,
        }
    }
}

/// Refuses requests whose framing two HTTP parsers could read differently
/// (request smuggling, RFC 9112 §6.3): both `Content-Length` and
/// `Transfer-Encoding`, several differing lengths, or a transfer coding
/// other than a final `chunked`.
fn ambiguous_framing(req: &RequestHeader) -> bool {
    let te: Vec<&[u8]> = req
        .headers
        .get_all("transfer-encoding")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let cl: Vec<&[u8]> = req
        .headers
        .get_all("content-length")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    if !te.is_empty() && !cl.is_empty() {
        return true;
    }
    if te.len() > 1
        || te
            .first()
            .is_some_and(|v| !v.trim_ascii().eq_ignore_ascii_case(b"chunked"))
    {
        return true;
    }
    let mut lengths = cl
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|v| v.trim_ascii());
    match lengths.next() {
        None => false,
        Some(first) => {
            !first.iter().all(u8::is_ascii_digit) || first.is_empty() || lengths.any(|v| v != first)
        }
    }
}

/// Pingora drops `Content-Length` when `Transfer-Encoding` is also present
/// (RFC 9112 §6.3 lets a proxy do that), so the parsed header cannot show
/// the conflict; the raw header bytes still can. We refuse such requests
/// rather than guess which length an upstream or a later hop would use.
fn raw_length_with_chunked(session: &Session) -> bool {
    use pingora::protocols::http::server::Session as Downstream;
    if !session
        .req_header()
        .headers
        .contains_key("transfer-encoding")
    {
        return false;
    }
    match session.as_downstream() {
        Downstream::H1(h1) => h1
            .get_headers_raw_bytes()
            .split(|&b| b == b'\n')
            .any(|line| line.len() >= 15 && line[..15].eq_ignore_ascii_case(b"content-length:")),
        _ => false,
    }
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            start: Instant::now(),
            request_id: RequestId::new(),
            snapshot: None,
            app: None,
            outcome: "error",
            forward_uri: String::new(),
            https: false,
            client_ip: None,
            claims: None,
            bearer: false,
            groups: Vec::new(),
            user_type: None,
            applied: Vec::new(),
            upstream_host: String::new(),
            live: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let g = &self.gateway;
        if g.draining.load(std::sync::atomic::Ordering::Relaxed) {
            session.set_keepalive(None);
        }
        let snapshot = g.snapshot.load_full();
        ctx.snapshot = Some(snapshot.clone());
        ctx.https = session.digest().is_some_and(|d| d.ssl_digest.is_some())
            || forward_auth::trusted_https(&snapshot, session);
        let req = session.req_header();
        let client_app = context::client_app(req);

        if ambiguous_framing(req)
            || raw_length_with_chunked(session)
            || req.headers.get_all("host").iter().count() > 1
        {
            return ctx
                .refuse(
                    session,
                    &snapshot,
                    "bad_request",
                    400,
                    client_app,
                    "Bad request",
                    "The request's framing is ambiguous.",
                )
                .await;
        }
        // Before normalising: Envoy appends the original path to the
        // endpoint's, and that one is normalised on its own.
        if let Some(caller) = forward_auth::endpoint(req.uri.path()) {
            return forward_auth::serve(g, session, ctx, &snapshot, caller).await;
        }
        let path = match path::target_path(req).and_then(path::normalize) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(request_id = %ctx.request_id, reason = e.as_str(), "refused path");
                return ctx
                    .refuse(
                        session,
                        &snapshot,
                        "bad_request",
                        400,
                        client_app,
                        "Bad request",
                        "The request path is not allowed.",
                    )
                    .await;
            }
        };
        ctx.forward_uri = path::forward_target(&path, req.uri.query());
        let host = route::host_without_port(route::authority(req)).to_ascii_lowercase();
        // The sign-in host serves only the portal; app hosts serve their app
        // and the portal's reserved paths.
        let on_auth_host = portal::auth_host(&snapshot) == Some(host.as_str());
        ctx.app = if on_auth_host {
            None
        } else {
            snapshot.routes.find(&host, &path)
        };
        if ctx.app.is_none() && !on_auth_host {
            return ctx
                .refuse(
                    session,
                    &snapshot,
                    "not_found",
                    404,
                    client_app,
                    "Not found",
                    "There is no app at this address.",
                )
                .await;
        }
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let req = session.req_header();
        let client_ip = match peer.map(|p| context::client_ip(&snapshot, p, req)) {
            Some(Ok(ip)) => ip,
            Some(Err(e)) => {
                tracing::info!(request_id = %ctx.request_id, error = %e, "refused forwarding headers");
                return ctx
                    .refuse(
                        session,
                        &snapshot,
                        "bad_request",
                        400,
                        client_app,
                        "Bad request",
                        "The forwarding headers are malformed.",
                    )
                    .await;
            }
            None => {
                // No TCP peer address (e.g. a Unix socket): deny, never guess.
                return ctx
                    .refuse(
                        session,
                        &snapshot,
                        "error",
                        503,
                        client_app,
                        "Unavailable",
                        "The request could not be checked.",
                    )
                    .await;
            }
        };
        ctx.client_ip = Some(client_ip);
        if on_auth_host || path::is_reserved(&path) {
            ctx.outcome = "reserved";
            return self
                .reserved(session, ctx, &snapshot, &host, &path, client_app)
                .await;
        }
        let Some(app_index) = ctx.app else {
            return Err(Error::explain(ErrorType::InternalError, "no app routed"));
        };
        let req = session.req_header();
        let question = decide::Question {
            app: app_index,
            host: &host,
            path: &path,
            method: req.method.as_str(),
            client_ip,
            client_app,
            https: ctx.https,
            recheck: false,
        };
        let Ok(verdict) = decide::decide(g, &snapshot, req, &question, &ctx.request_id).await
        else {
            return ctx
                .refuse(
                    session,
                    &snapshot,
                    "error",
                    503,
                    client_app,
                    "Unavailable",
                    "Access could not be checked right now; try again shortly.",
                )
                .await;
        };
        ctx.outcome = verdict.outcome;
        ctx.claims = verdict.claims;
        ctx.bearer = verdict.bearer;
        ctx.groups = verdict.groups;
        ctx.user_type = verdict.user_type;
        ctx.applied = verdict.applied;
        if verdict.decision == Decision::Allow {
            if let Some(c) = ctx.claims.as_ref().filter(|_| live::is_long_lived(req)) {
                ctx.live = Some(live::watch(
                    g,
                    live::Opened {
                        req,
                        app: &snapshot.config.apps[app_index].name,
                        host: &host,
                        path: &path,
                        client_ip,
                        client_app,
                        https: ctx.https,
                        user: &c.sub,
                    },
                ));
            }
            return Ok(false);
        }
        let a = ctx.answer(&snapshot, verdict.client_app, verdict.token_problem);
        respond::deny(session, verdict.decision, &a).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let app = ctx
            .app
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no app routed"))?;
        let mut peer = self.gateway.upstreams.load().peer(app).ok_or_else(|| {
            ctx.outcome = "error";
            let mut e = Error::explain(
                ErrorType::ConnectNoRoute,
                "every upstream of the app is down",
            );
            // The upstreams' fault: 502 Bad Gateway. Pingora answers 500 for
            // an error of no source, which blames the gateway.
            e.esource = pingora::ErrorSource::Upstream;
            e
        })?;
        if let Some(live) = &ctx.live {
            live.arm(&mut peer);
        }
        Ok(peer)
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        up: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let (Some(snapshot), Some(app_index)) = (&ctx.snapshot, ctx.app) else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "request was not decided",
            ));
        };
        let app = &snapshot.config.apps[app_index];
        let host = route::authority(up).to_string();
        // The path that was decided is the path that is forwarded.
        let uri: http::Uri = ctx.forward_uri.parse().map_err(|_| {
            Error::explain(ErrorType::InternalError, "normalised path does not parse")
        })?;
        up.set_uri(uri);
        headers::sanitize(up);
        if !app.forward_session_cookie {
            headers::strip_session_cookies(up);
        }
        if ctx.bearer && !app.forward_authorization {
            up.remove_header("authorization");
        }
        if !app.preserve_host && !ctx.upstream_host.is_empty() {
            up.insert_header("host", ctx.upstream_host.as_str())?;
        }
        if let Some(ip) = ctx.client_ip {
            up.insert_header("x-forwarded-for", ip.to_string())?;
        }
        up.insert_header(
            "x-forwarded-proto",
            if ctx.https { "https" } else { "http" },
        )?;
        if !host.is_empty() {
            up.insert_header("x-forwarded-host", host)?;
        }
        up.insert_header(headers::REQUEST_ID, ctx.request_id.header())?;
        if let Some(c) = &ctx.claims {
            let keys = self.gateway.keys.load();
            let assertion = self
                .gateway
                .assertions
                .get_or_sign(&keys, c, &app.name, now())
                .map_err(|e| Error::explain(ErrorType::InternalError, format!("assertion: {e}")))?;
            up.insert_header(headers::USER, c.sub.as_str())?;
            up.insert_header(headers::EMAIL, c.email.as_str())?;
            up.insert_header(
                headers::USER_TYPE,
                ctx.user_type.map_or("guest", |t| t.as_str()),
            )?;
            up.insert_header(headers::GROUPS, ctx.groups.join(","))?;
            up.insert_header(headers::ASSERTION, &*assertion)?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // An app must not plant or overwrite the gateway's session cookie
        // (session fixation through a compromised or careless upstream).
        if resp.headers.contains_key("set-cookie") {
            let kept: Vec<http::HeaderValue> = resp
                .headers
                .get_all("set-cookie")
                .iter()
                .filter(|v| {
                    let name = v
                        .as_bytes()
                        .split(|&b| b == b'=')
                        .next()
                        .unwrap_or_default()
                        .trim_ascii();
                    name != cookie::COOKIE_NAME.as_bytes()
                        && name != cookie::SECURE_COOKIE_NAME.as_bytes()
                })
                .cloned()
                .collect();
            resp.remove_header("set-cookie");
            for v in kept {
                resp.append_header("set-cookie", v)?;
            }
        }
        resp.insert_header(headers::REQUEST_ID, ctx.request_id.header())?;
        Ok(())
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let app = ctx
            .snapshot
            .as_ref()
            .zip(ctx.app)
            .and_then(|(s, i)| s.config.apps.get(i))
            .map_or(NO_APP, |a| a.name.as_str());
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.start.elapsed();
        let g = &self.gateway;
        let m = &g.metrics;
        m.requests.with_label_values(&[app, ctx.outcome]).inc();
        m.request_duration
            .with_label_values(&[app])
            .observe(elapsed.as_secs_f64());
        // Never tokens, cookies or query strings.
        g.access_log.log(&access_log::Entry {
            request_id: &ctx.request_id,
            app,
            decision: ctx.outcome,
            policies: &ctx.applied,
            status,
            method: session.req_header().method.as_str(),
            path: ctx.forward_uri.split('?').next().unwrap_or_default(),
            client_ip: ctx.client_ip,
            user: ctx.claims.as_ref().map_or("", |c| c.sub.as_str()),
            latency_us: elapsed.as_micros() as u64,
            error: e.map_or("", |e| e.etype().as_str()),
        });
    }
}

impl Proxy {
    /// `/.portcullis/…` on an app host, and everything on the sign-in
    /// host: answered by the portal, never proxied.
    #[allow(clippy::too_many_arguments)]
    async fn reserved(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        snapshot: &Snapshot,
        host: &str,
        path: &str,
        client_app: ClientApp,
    ) -> Result<bool> {
        let body = if session.req_header().method == http::Method::POST {
            match read_body(session, portal::MAX_FORM_BYTES).await? {
                Some(b) => b,
                None => {
                    return ctx
                        .refuse(
                            session,
                            snapshot,
                            "bad_request",
                            413,
                            client_app,
                            "Request too large",
                            "The form is larger than this gateway accepts.",
                        )
                        .await;
                }
            }
        } else {
            bytes::Bytes::new()
        };
        let req = session.req_header();
        let request = portal::PortalRequest {
            request_id: &ctx.request_id,
            method: req.method.as_str(),
            host,
            // Only the portal builds URLs for other hosts: worked out here,
            // not for every request.
            port_suffix: route::port_suffix(route::authority(req)),
            https: ctx.https,
            path,
            query: req.uri.query(),
            headers: &req.headers,
            body,
            client_ip: ctx.client_ip,
            app: ctx.app,
        };
        let reply = portal::serve(&self.gateway, snapshot, &request).await;
        let headers: Vec<(&str, &str)> = reply
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        respond::send(
            session,
            reply.status,
            reply.content_type,
            reply.body,
            &headers,
        )
        .await?;
        Ok(true)
    }
}

/// Reads a request body of at most `limit` bytes; `None` when it is larger.
async fn read_body(session: &mut Session, limit: usize) -> Result<Option<bytes::Bytes>> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = session.read_request_body().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// Public paths: an exact match, or everything under one ending in `/`.
/// Takes the normalised path (`pub` for the fuzz target `path`).
pub fn is_public(public: &[String], path: &str) -> bool {
    public.iter().any(|p| {
        if p.ends_with('/') {
            path.starts_with(p.as_str())
        } else {
            path == p
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/", None).expect("request");
        for (n, v) in headers {
            r.append_header(n.to_string(), *v).expect("header");
        }
        r
    }

    #[test]
    fn framing_that_two_parsers_could_read_differently_is_refused() {
        assert!(ambiguous_framing(&req(&[
            ("content-length", "5"),
            ("transfer-encoding", "chunked")
        ])));
        assert!(ambiguous_framing(&req(&[
            ("content-length", "5"),
            ("content-length", "6")
        ])));
        assert!(ambiguous_framing(&req(&[("content-length", "5, 6")])));
        assert!(ambiguous_framing(&req(&[("content-length", "+5")])));
        assert!(ambiguous_framing(&req(&[(
            "transfer-encoding",
            "gzip, chunked"
        )])));
        assert!(ambiguous_framing(&req(&[
            ("transfer-encoding", "chunked"),
            ("transfer-encoding", "chunked")
        ])));
        assert!(!ambiguous_framing(&req(&[("content-length", "5")])));
        assert!(!ambiguous_framing(&req(&[
            ("content-length", "5"),
            ("content-length", "5")
        ])));
        assert!(!ambiguous_framing(&req(&[(
            "transfer-encoding",
            "Chunked"
        )])));
        assert!(!ambiguous_framing(&req(&[])));
    }

    #[test]
    fn request_ids_are_32_random_hex_digits() {
        let (a, b) = (RequestId::new(), RequestId::new());
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(&*a, &*b);
        assert_eq!(a.header().as_bytes(), a.as_bytes());
        assert_eq!(a.to_string(), &*a);
    }

    #[test]
    fn public_paths_exact_or_folder() {
        let p = vec!["/health".to_string(), "/static/".to_string()];
        assert!(is_public(&p, "/health"));
        assert!(!is_public(&p, "/health/x"));
        assert!(!is_public(&p, "/healthz"));
        assert!(is_public(&p, "/static/app.js"));
        assert!(!is_public(&p, "/static"));
    }
}
