//! The data path: the only `impl ProxyHttp`; each phase calls a module named
//! after its job (STYLE.md §1). A request is decided in `request_filter`
//! before a byte reaches the app; anything that fails while deciding is a
//! deny.
//!
//! ```text
//! new_ctx               the snapshot, loaded once for the whole request
//! request_filter        admission::admit → reserved paths (the portal)
//!                       or decide::decide → respond (deny) / proceed (allow)
//! upstream_peer         the pool of the admitted app, in that same snapshot
//! upstream_request_filter  headers::sanitize, forwarding facts, identity
//! response_filter       cookie::planted_by_upstream, X-Request-Id
//! logging               metrics and the access log
//! ```

pub mod access_log;
pub mod admission;
pub mod authority;
pub mod context;
pub mod decide;
pub mod forward_auth;
pub mod headers;
pub mod live;
pub mod path;
pub mod respond;

use crate::metrics::NO_APP;
use crate::reserved::{MAX_FORM_BYTES, PortalRequest, ReservedPaths};
use crate::session::{SessionClaims, SessionError};
use crate::snapshot::Snapshot;
use crate::state::{Gateway, now};
use admission::{Admitted, Refusal, Target};
use async_trait::async_trait;
use headers::Identity;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use respond::Answer;
use rules::{ClientApp, Decision};
use std::sync::Arc;
use std::time::Instant;

pub use path::is_public;

/// The proxy service: the shared services, what answers reserved paths,
/// and the data path's own state (open long-lived connections, the access
/// log).
pub struct Proxy {
    pub gateway: Arc<Gateway>,
    /// The portal: sign-in and every page under `/.portcullis/`.
    pub reserved: Arc<dyn ReservedPaths>,
    /// Open long-lived connections, re-decided while open (`live`).
    pub live: Arc<live::LiveConnections>,
    /// The buffered access-log writer (`access_log`).
    pub access_log: Arc<access_log::AccessLog>,
}

/// Per-request state. The snapshot is loaded once, when the request starts
/// (`new_ctx`), and every phase reads that one value: the route, the rules
/// and the upstream pool of one request always belong to one version
/// (docs/design-notes.md, "One snapshot per request").
pub struct Ctx {
    start: Instant,
    request_id: RequestId,
    snapshot: Arc<Snapshot>,
    /// Set once the request passed admission.
    admitted: Option<Admitted>,
    /// The `decision` label of `portcullis_requests_total`.
    outcome: &'static str,
    /// What an allowed, signed-in request tells the app.
    identity: Option<Identity>,
    /// The verified session, for the access log's user id.
    claims: Option<Arc<SessionClaims>>,
    /// The session came as `Authorization: Bearer` (consumed: not forwarded
    /// unless the app opts in).
    bearer: bool,
    applied: Vec<Arc<str>>,
    /// A refusal's reason (the decision log's computation), for the answer
    /// and the access log.
    reason: Option<crate::refusal::Reason>,
    /// The end of an assignment that has ended (unix seconds).
    access_ended: Option<i64>,
    /// `:port` of the `Host` of a request refused before admission (its
    /// page links to the sign-in host on the same port).
    port_hint: String,
    /// For `preserve_host: false`: the chosen upstream as configured
    /// (`host:port`), the `Host` the app gets.
    upstream_host: Option<String>,
    /// A long-lived request (WebSocket, event stream) being re-decided
    /// while it is open; see `live`.
    live: Option<live::Registration>,
}

/// A request id (`decision_log::new_request_id`: 32 lower-case hex
/// digits, time-ordered), kept as a header value so that the two headers
/// carrying it share one buffer.
pub struct RequestId(http::HeaderValue);

impl RequestId {
    fn new() -> RequestId {
        let out = crate::decision_log::new_request_id();
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
    /// The routed app of an admitted request.
    fn app(&self) -> Option<usize> {
        self.admitted.as_ref().and_then(Admitted::app)
    }

    /// What is forwarded (normalised path and raw query); empty before
    /// admission.
    fn forward_uri(&self) -> &str {
        self.admitted
            .as_ref()
            .map_or("", |a| a.forward_uri.as_str())
    }

    /// Answers an error page or JSON (400, 404, 503…) instead of proxying:
    /// the request stops here, counted under `outcome`.
    async fn refuse(
        &mut self,
        session: &mut Session,
        outcome: &'static str,
        status: u16,
        client_app: ClientApp,
        code: &str,
        words: (&str, &str),
    ) -> Result<bool> {
        self.outcome = outcome;
        if self.admitted.is_none() {
            self.port_hint = port_of_host(session.req_header());
        }
        let answer = self.answer(session.req_header(), client_app, None);
        respond::error(session, status, &answer, code, words).await?;
        Ok(true)
    }

    /// The proxy's answer to a request that admission refused.
    async fn refuse_admission(
        &mut self,
        session: &mut Session,
        refusal: Refusal,
        client_app: ClientApp,
    ) -> Result<bool> {
        tracing::info!(request_id = %self.request_id, reason = refusal.as_str(), "refused before deciding");
        let (outcome, status, code, words) = match refusal {
            Refusal::Path(_) => (
                "bad_request",
                400,
                "bad_request",
                ("error-bad-request-title", "error-path-not-allowed"),
            ),
            Refusal::Authority(_) => (
                "bad_request",
                400,
                "bad_request",
                ("error-bad-request-title", "error-host-not-valid"),
            ),
            Refusal::UnknownHost => (
                "not_found",
                404,
                "not_found",
                ("error-not-found-title", "error-no-app-here"),
            ),
            Refusal::ForwardingHeaders(_) => (
                "bad_request",
                400,
                "bad_request",
                ("error-bad-request-title", "error-forwarding-headers"),
            ),
            Refusal::NoPeer => (
                "error",
                503,
                "unavailable",
                ("error-unavailable-title", "error-not-checked"),
            ),
        };
        self.refuse(session, outcome, status, client_app, code, words)
            .await
    }

    /// Deciding failed (the directory did not answer in time, or the
    /// assertion could not be signed): a deny, never a pass.
    async fn unavailable(&mut self, session: &mut Session, client_app: ClientApp) -> Result<bool> {
        self.refuse(
            session,
            "error",
            503,
            client_app,
            "unavailable",
            ("error-unavailable-title", "error-check-later"),
        )
        .await
    }

    /// The answer to a request that is not let through. Works out the
    /// page's language and look here, off the path of allowed requests.
    fn answer(
        &self,
        req: &RequestHeader,
        client_app: ClientApp,
        token_problem: Option<&'static str>,
    ) -> Answer<'_> {
        let config = &self.snapshot.config;
        // Only refusals build an answer: the origin is worked out here,
        // not for every request.
        let auth_origin = config.sign_in.as_ref().map(|s| match &self.admitted {
            Some(a) => format!(
                "{}://{}{}",
                if a.https { "https" } else { "http" },
                s.host,
                a.authority.port_suffix()
            ),
            // Refused before admission: the port the client used, if
            // it wrote a plain one.
            None => format!("http://{}{}", s.host, self.port_hint),
        });
        let lang = self.snapshot.language(
            req.headers
                .get("accept-language")
                .and_then(|v| v.to_str().ok()),
        );
        // A host that is no app's serves no `/.portcullis/logo`: the
        // sign-in host's does.
        let logo_origin = if self.app().is_none() {
            auth_origin.as_deref()
        } else {
            None
        };
        let chrome = self.snapshot.chrome(lang, logo_origin);
        Answer {
            request_id: &self.request_id,
            org: &config.organisation.name,
            app: self.app().and_then(|i| config.apps.get(i)),
            client_app,
            path_and_query: self.forward_uri(),
            token_problem,
            reason: self.reason,
            access_ended: self.access_ended,
            auth_origin,
            signed_in_as: self.claims.as_ref().map(|c| c.email.as_str()),
            mfa_asked: rules::MfaStrength::None,
            mfa_present: rules::MfaStrength::None,
            chrome,
            templates: &self.snapshot.templates,
        }
    }

    /// Keeps what the verdict says for the later phases and the log; for an
    /// allowed, signed-in request also the identity to send (headers and
    /// assertion from the decision's own facts). `Err` when the assertion
    /// could not be signed: the caller denies.
    fn accept(
        &mut self,
        g: &Gateway,
        verdict: &mut decide::Verdict,
        app: usize,
    ) -> Result<(), SessionError> {
        self.outcome = verdict.outcome;
        self.bearer = verdict.bearer;
        self.applied = std::mem::take(&mut verdict.applied);
        self.reason = verdict.reason;
        self.access_ended = verdict.access_ended;
        self.claims.clone_from(&verdict.claims);
        if verdict.decision == Decision::Allow
            && let (Some(subject), Some(keys)) = (verdict.subject(), verdict.keys.as_deref())
        {
            let app = &self.snapshot.config.apps[app].name;
            let identity = Identity::new(subject, keys, &g.assertions, app, now()).inspect_err(
                |e| tracing::warn!(error = %e, "cannot sign the upstream assertion; denying"),
            )?;
            self.identity = Some(identity);
        }
        Ok(())
    }
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            start: Instant::now(),
            request_id: RequestId::new(),
            snapshot: self.gateway.snapshot.load_full(),
            admitted: None,
            outcome: "error",
            identity: None,
            claims: None,
            bearer: false,
            applied: Vec::new(),
            reason: None,
            access_ended: None,
            port_hint: String::new(),
            upstream_host: None,
            live: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let g = &self.gateway;
        if g.draining.load(std::sync::atomic::Ordering::Relaxed) {
            session.set_keepalive(None);
        }
        let client_app = context::client_app(session.req_header());
        if admission::framing_is_ambiguous(session) {
            return ctx
                .refuse(
                    session,
                    "bad_request",
                    400,
                    client_app,
                    "bad_request",
                    ("error-bad-request-title", "error-framing"),
                )
                .await;
        }
        // Before normalising: Envoy appends the original path to the
        // endpoint's, and that one is normalised on its own.
        if let Some(caller) = forward_auth::endpoint(session.req_header().uri.path()) {
            return forward_auth::serve(g, session, ctx, caller).await;
        }
        let https = session.digest().is_some_and(|d| d.ssl_digest.is_some())
            || forward_auth::trusted_https(&ctx.snapshot, session);
        let admitted = match admission::raw_of(session, https)
            .and_then(|raw| admission::admit(&ctx.snapshot, &raw))
        {
            Ok(a) => a,
            Err(refusal) => return ctx.refuse_admission(session, refusal, client_app).await,
        };
        let target = admitted.target;
        let reserved = admitted.is_reserved();
        ctx.admitted = Some(admitted);
        let app = match target {
            Target::App(app) if !reserved => app,
            // The sign-in host serves only the portal; app hosts serve
            // their app and the portal's reserved paths.
            _ => {
                ctx.outcome = "reserved";
                return self.reserved(session, ctx, client_app).await;
            }
        };
        let Some(a) = ctx.admitted.as_ref() else {
            return Err(Error::explain(ErrorType::InternalError, "not admitted"));
        };
        let req = session.req_header();
        let question = decide::Question {
            app,
            host: a.host(),
            path: &a.path,
            method: req.method.as_str(),
            client_ip: a.client_ip,
            client_app,
            https: a.https,
            recheck: false,
        };
        let Ok(mut verdict) =
            decide::decide(g, &ctx.snapshot, req, &question, &ctx.request_id).await
        else {
            return ctx.unavailable(session, client_app).await;
        };
        let live = match &verdict.claims {
            Some(c) if verdict.decision == Decision::Allow && live::is_long_lived(req) => {
                let opened = live::Opened {
                    req,
                    app: &ctx.snapshot.config.apps[app].name,
                    question: &question,
                    user: &c.sub,
                };
                Some(live::watch(&self.live, &g.metrics, opened))
            }
            _ => None,
        };
        if ctx.accept(g, &mut verdict, app).is_err() {
            return ctx.unavailable(session, client_app).await;
        }
        if verdict.decision == Decision::Allow {
            ctx.live = live;
            return Ok(false);
        }
        let a = Answer {
            mfa_asked: verdict.mfa_asked,
            mfa_present: verdict.mfa_present,
            ..ctx.answer(
                session.req_header(),
                verdict.client_app,
                verdict.token_problem,
            )
        };
        respond::deny(session, verdict.decision, &a).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let app = ctx
            .app()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no app routed"))?;
        // The pool of the app this request was admitted to, from the same
        // snapshot: a reload meanwhile cannot send it to another app.
        let Some(selected) = ctx.snapshot.pools.select(app) else {
            ctx.outcome = "error";
            let mut e = Error::explain(
                ErrorType::ConnectNoRoute,
                "every upstream of the app is down",
            );
            // The upstreams' fault: 502 Bad Gateway. Pingora answers 500 for
            // an error of no source, which blames the gateway.
            e.esource = pingora::ErrorSource::Upstream;
            return Err(e);
        };
        if !ctx.snapshot.config.apps[app].preserve_host {
            ctx.upstream_host = Some(selected.upstream.address.clone());
        }
        let mut peer = selected.peer;
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
        let (Some(a), Some(app)) = (&ctx.admitted, ctx.app()) else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "request was not decided",
            ));
        };
        let app = &ctx.snapshot.config.apps[app];
        // The path that was decided is the path that is forwarded.
        let uri: http::Uri = a.forward_uri.parse().map_err(|_| {
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
        // The client's authority, checked and normalised by admission
        // (never the raw `Host`), or the upstream's own.
        let client_authority =
            http::HeaderValue::try_from(a.authority.to_string()).map_err(|_| {
                Error::explain(ErrorType::InternalError, "authority is not a header value")
            })?;
        match &ctx.upstream_host {
            Some(own) => up.insert_header("host", own.as_str())?,
            None => up.insert_header("host", client_authority.clone())?,
        }
        up.insert_header("x-forwarded-for", a.client_ip.to_string())?;
        up.insert_header("x-forwarded-proto", if a.https { "https" } else { "http" })?;
        up.insert_header("x-forwarded-host", client_authority)?;
        up.insert_header(headers::REQUEST_ID, ctx.request_id.header())?;
        if let Some(identity) = &ctx.identity {
            for (name, value) in identity.headers() {
                up.insert_header(name, value.clone())?;
            }
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // An app must not plant or overwrite the gateway's session cookie.
        headers::drop_planted_cookies(resp)?;
        resp.insert_header(headers::REQUEST_ID, ctx.request_id.header())?;
        Ok(())
    }

    /// A client that closes its connection while its request is in flight
    /// (a closed tab, a dropped keep-alive connection) is the client's
    /// doing, not an error of the gateway: counted and logged at debug
    /// instead of Pingora's ERROR line (issue 14, finding 12: 78 such lines
    /// in 20 minutes of soak). Every other failure is still logged.
    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, error: &Error) -> bool {
        let client_gone = *error.esource() == pingora::ErrorSource::Downstream
            && matches!(
                error.etype(),
                ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
            );
        if client_gone {
            self.gateway.metrics.client_disconnects.inc();
            tracing::debug!(request_id = %ctx.request_id, error = %error, "the client closed the connection");
        }
        client_gone
    }

    /// A request that failed on its way to the app (down, reset, timed
    /// out): the same card as every other error page, with the request id,
    /// instead of Pingora's bare one. Once the app's answer has started,
    /// nothing more can be sent: the connection is closed.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Ctx,
    ) -> pingora::proxy::FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            _ => match e.esource() {
                pingora::ErrorSource::Upstream => 502,
                pingora::ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                pingora::ErrorSource::Internal | pingora::ErrorSource::Unset => 500,
            },
        };
        if code > 0 && session.response_written().is_none() {
            let (json_code, words) = match code {
                502 | 504 => (
                    "app_unavailable",
                    ("error-app-unavailable-title", "error-app-no-answer"),
                ),
                400..=499 => (
                    "bad_request",
                    ("error-bad-request-title", "error-unreadable"),
                ),
                _ => (
                    "something_went_wrong",
                    ("error-went-wrong-title", "error-not-completed"),
                ),
            };
            let client_app = context::client_app(session.req_header());
            let a = ctx.answer(session.req_header(), client_app, None);
            if let Err(err) = respond::error(session, code, &a, json_code, words).await {
                tracing::debug!(request_id = %ctx.request_id, error = %err, "error page not sent");
            }
        }
        pingora::proxy::FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let app = ctx
            .app()
            .and_then(|i| ctx.snapshot.config.apps.get(i))
            .map_or(NO_APP, |a| a.name.as_str());
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.start.elapsed();
        let m = &self.gateway.metrics;
        m.requests.with_label_values(&[app, ctx.outcome]).inc();
        m.request_duration
            .with_label_values(&[app])
            .observe(elapsed.as_secs_f64());
        // Never tokens, cookies or query strings.
        self.access_log.log(&access_log::Entry {
            request_id: &ctx.request_id,
            app,
            decision: ctx.outcome,
            reason: ctx.reason.map_or("", crate::refusal::Reason::as_str),
            policies: &ctx.applied,
            status,
            method: session.req_header().method.as_str(),
            path: ctx.forward_uri().split('?').next().unwrap_or_default(),
            client_ip: ctx.admitted.as_ref().map(|a| a.client_ip),
            user: ctx.claims.as_ref().map_or("", |c| c.sub.as_str()),
            latency_us: elapsed.as_micros() as u64,
            error: e.map_or("", |e| e.etype().as_str()),
        });
    }
}

impl Proxy {
    /// `/.portcullis/…` on an app host, and everything on the sign-in
    /// host: answered by the portal, never proxied.
    async fn reserved(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        client_app: ClientApp,
    ) -> Result<bool> {
        let body = if session.req_header().method == http::Method::POST {
            // A SAML response (base64, certificates inside) is larger than
            // any of our forms; only its ACS gets the larger limit.
            let limit = if session
                .req_header()
                .uri
                .path()
                .starts_with(crate::saml::PREFIX)
            {
                crate::saml::verify::MAX_RESPONSE_B64 * 2
            } else {
                MAX_FORM_BYTES
            };
            match read_body(session, limit).await? {
                Some(b) => b,
                None => {
                    return ctx
                        .refuse(
                            session,
                            "bad_request",
                            413,
                            client_app,
                            "request_too_large",
                            ("error-too-large-title", "error-too-large"),
                        )
                        .await;
                }
            }
        } else {
            bytes::Bytes::new()
        };
        let Some(a) = &ctx.admitted else {
            return Err(Error::explain(ErrorType::InternalError, "not admitted"));
        };
        let req = session.req_header();
        // Only the portal builds URLs for other hosts: worked out here,
        // not for every request.
        let port_suffix = a.authority.port_suffix();
        let request = PortalRequest {
            request_id: &ctx.request_id,
            method: req.method.as_str(),
            host: a.host(),
            port_suffix: &port_suffix,
            https: a.https,
            path: &a.path,
            query: req.uri.query(),
            headers: &req.headers,
            body,
            client_ip: Some(a.client_ip),
            app: a.app(),
        };
        let reply = self.reserved.serve(&ctx.snapshot, &request).await;
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(reply.headers.len() + 1);
        for (name, value) in &reply.headers {
            if *name == crate::reserved::REASON_HEADER {
                ctx.reason = crate::refusal::Reason::parse(value);
            } else {
                headers.push((name, value.as_str()));
            }
        }
        headers.push((headers::REQUEST_ID, &ctx.request_id));
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

/// `:port` of the request's `Host` when it ends in one (digits only), else
/// empty.
fn port_of_host(req: &RequestHeader) -> String {
    req.headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, port)| port)
        .filter(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
        .map(|p| format!(":{p}"))
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_32_hex_digits_and_differ() {
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
}
