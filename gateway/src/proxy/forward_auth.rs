//! Forward-auth: the decision endpoint that nginx `auth_request`, Traefik
//! `forwardAuth`, Caddy `forward_auth` and Envoy's HTTP `ext_authz` call
//! before they pass a request to an app themselves (docs/forward-auth.md).
//!
//! | path | caller | the original request from |
//! | --- | --- | --- |
//! | `/.portcullis/auth` | Traefik, Caddy | `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri` |
//! | `/.portcullis/auth/nginx` | nginx | `X-Original-Method`, `X-Original-URL` |
//! | `/.portcullis/auth/envoy/<path>` | Envoy | its own method, `Host`, the path after the prefix, `X-Forwarded-Proto` |
//!
//! Each flavour reads exactly one header per fact, the one its proxy always
//! sets: with fallbacks, a client could add the header the proxy does not
//! set (nginx passes every client header on to the subrequest) and have
//! ours decide on a path it chose.
//!
//! # Trust
//!
//! Forwarding headers are written by whoever sends the request, so they are
//! believed only when the TCP peer is in `trusted_proxies`; any other
//! caller gets 403 whatever it sends. Otherwise a client that can reach the
//! gateway could ask about any host and path, and collect identity headers
//! and an assertion to present to an app directly. An empty
//! `trusted_proxies` trusts nobody, so the endpoint then always refuses.
//! A missing, repeated or malformed description is 403 too: a request we
//! cannot read is denied, and nginx turns anything but 2xx, 401 and 403
//! into a 500.
//!
//! # The decision
//!
//! The proxy's own ([`super::decide`]): the same routing by host, the same
//! path normalisation (the decision is on the normalised path, so
//! `/public/../admin` is decided as `/admin`), client IP through
//! `X-Forwarded-For`, session, directory and rules. Allowed: 200 with the
//! identity headers the proxy would send upstream. Sign-in or step-up: the
//! proxy's 302 for browsers (Traefik, Caddy and Envoy hand the auth
//! response to the client) or, for nginx, 401 with an absolute `Location`
//! that its `error_page` turns into the redirect; API clients get 401 with
//! `WWW-Authenticate`. Blocked: 403. Deciding failed: 503.

use super::admission::{self, Refusal, Target};
use super::decide::{self, Question};
use super::{Ctx, authority as request_authority, context, headers, respond};
use crate::reserved::paths;
use crate::snapshot::Snapshot;
use crate::state::Gateway;
use pingora::Result;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use rules::{ClientApp, Decision};

/// Which proxy is asking, by the endpoint it called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Traefik `forwardAuth`, Caddy `forward_auth` (`/.portcullis/auth`).
    Generic,
    /// nginx `auth_request` (`/.portcullis/auth/nginx`).
    Nginx,
    /// Envoy `ext_authz` with `path_prefix: /.portcullis/auth/envoy`.
    Envoy,
}

/// The forward-auth endpoint a request's raw path names, if any. Matched
/// on the raw path, before normalisation: Envoy appends the original path
/// unnormalised, and that path is normalised on its own. Other spellings
/// (`/.portcullis//auth`) are ordinary reserved paths: 404.
pub fn endpoint(raw_path: &str) -> Option<Caller> {
    match raw_path {
        paths::AUTH => Some(Caller::Generic),
        paths::AUTH_NGINX => Some(Caller::Nginx),
        p if p
            .strip_prefix(paths::AUTH_ENVOY)
            .is_some_and(|rest| rest.starts_with('/')) =>
        {
            Some(Caller::Envoy)
        }
        _ => None,
    }
}

/// Whether the client's connection was HTTPS according to a trusted proxy
/// (`X-Forwarded-Proto: https` from a peer in `trusted_proxies`). Behind a
/// proxy that terminates TLS, this picks the `__Host-` cookie and `https`
/// URLs on the portal, as the decision endpoint does for the same request.
pub fn trusted_https(snapshot: &Snapshot, session: &Session) -> bool {
    let trusted = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .is_some_and(|a| snapshot.trusted_proxies.contains(a.ip()));
    trusted
        && matches!(
            one(session.req_header(), "x-forwarded-proto"),
            Ok(Some(p)) if p.eq_ignore_ascii_case("https")
        )
}

/// The original request as the calling proxy describes it.
#[derive(Debug, PartialEq, Eq)]
struct Original {
    https: bool,
    /// `host[:port]` as the client sent it (for an absolute `Location`).
    authority: String,
    method: http::Method,
    /// The raw path, not yet normalised.
    path: String,
    query: Option<String>,
}

/// Why a description was refused.
#[derive(Debug, PartialEq, Eq)]
enum Problem {
    Missing(&'static str),
    Repeated(&'static str),
    Malformed(&'static str),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing(h) => write!(f, "the {h} header is missing"),
            Problem::Repeated(h) => write!(f, "the {h} header is repeated"),
            Problem::Malformed(h) => write!(f, "the {h} header is malformed"),
        }
    }
}

/// The one value of header `name`: `None` when absent; an error when it is
/// repeated (two hops disagreeing), empty or not visible ASCII.
fn one<'a>(req: &'a RequestHeader, name: &'static str) -> Result<Option<&'a str>, Problem> {
    let mut values = req.headers.get_all(name).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Problem::Repeated(name));
    }
    match v.to_str().map(str::trim) {
        Ok(v) if !v.is_empty() => Ok(Some(v)),
        _ => Err(Problem::Malformed(name)),
    }
}

fn required<'a>(req: &'a RequestHeader, name: &'static str) -> Result<&'a str, Problem> {
    one(req, name)?.ok_or(Problem::Missing(name))
}

fn proto(value: &str, name: &'static str) -> Result<bool, Problem> {
    if value.eq_ignore_ascii_case("https") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("http") {
        Ok(false)
    } else {
        Err(Problem::Malformed(name))
    }
}

/// A host with an optional port: letters, digits, `.`, `-`, `:` and IPv6
/// brackets only (it goes into a `Location` header and picks the app).
fn authority(value: &str, name: &'static str) -> Result<String, Problem> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(Problem::Malformed(name))
    }
}

/// `/path?query` → (path, query); it must be origin-form (start with `/`).
fn target(value: &str, name: &'static str) -> Result<(String, Option<String>), Problem> {
    if !value.starts_with('/') {
        return Err(Problem::Malformed(name));
    }
    let pq: http::uri::PathAndQuery = value.parse().map_err(|_| Problem::Malformed(name))?;
    Ok((pq.path().to_string(), pq.query().map(str::to_string)))
}

fn method(value: &str, name: &'static str) -> Result<http::Method, Problem> {
    http::Method::from_bytes(value.as_bytes()).map_err(|_| Problem::Malformed(name))
}

/// Reads the original request from the auth request of `caller`.
fn describe(req: &RequestHeader, caller: Caller) -> Result<Original, Problem> {
    match caller {
        Caller::Generic => {
            const METHOD: &str = "x-forwarded-method";
            const PROTO: &str = "x-forwarded-proto";
            const HOST: &str = "x-forwarded-host";
            const URI: &str = "x-forwarded-uri";
            let (path, query) = target(required(req, URI)?, URI)?;
            Ok(Original {
                https: proto(required(req, PROTO)?, PROTO)?,
                authority: authority(required(req, HOST)?, HOST)?,
                method: method(required(req, METHOD)?, METHOD)?,
                path,
                query,
            })
        }
        Caller::Nginx => {
            const METHOD: &str = "x-original-method";
            const URL: &str = "x-original-url";
            let url = required(req, URL)?;
            let (scheme, rest) = url.split_once("://").ok_or(Problem::Malformed(URL))?;
            let slash = rest.find('/').ok_or(Problem::Malformed(URL))?;
            let (host, pq) = rest.split_at(slash);
            let (path, query) = target(pq, URL)?;
            Ok(Original {
                https: proto(scheme, URL)?,
                authority: authority(host, URL)?,
                method: method(required(req, METHOD)?, METHOD)?,
                path,
                query,
            })
        }
        Caller::Envoy => {
            const PROTO: &str = "x-forwarded-proto";
            let rest = req
                .uri
                .path()
                .strip_prefix(paths::AUTH_ENVOY)
                .ok_or(Problem::Malformed(":path"))?;
            let (path, _) = target(rest, ":path")?;
            Ok(Original {
                https: proto(required(req, PROTO)?, PROTO)?,
                authority: authority(request_authority::raw(req), "host")?,
                method: req.method.clone(),
                path,
                query: req.uri.query().map(str::to_string),
            })
        }
    }
}

/// Answers a forward-auth request (`request_filter` hands over every
/// request whose raw path [`endpoint`] names). Always answers itself:
/// returns `Ok(true)`, never proxies.
pub(super) async fn serve(
    g: &Gateway,
    session: &mut Session,
    ctx: &mut Ctx,
    caller: Caller,
) -> Result<bool> {
    let peer = admission::peer_ip(session);
    if !peer.is_some_and(|p| ctx.snapshot.trusted_proxies.contains(p)) {
        // Forged forwarding headers from a client: never read them.
        tracing::info!(request_id = %ctx.request_id, peer = ?peer, "forward-auth call from an untrusted peer refused");
        return refuse(session, ctx, "bad_request", "untrusted_caller").await;
    }
    let req = session.req_header();
    let original = match describe(req, caller) {
        Ok(o) => o,
        Err(problem) => {
            tracing::info!(request_id = %ctx.request_id, %problem, "forward-auth request refused");
            return refuse(session, ctx, "bad_request", "bad_forwarding_headers").await;
        }
    };
    let raw = admission::Raw {
        authority: &original.authority,
        path: &original.path,
        query: original.query.as_deref(),
        https: original.https,
        peer,
        headers: req,
    };
    let admitted = match admission::admit(&ctx.snapshot, &raw) {
        Ok(a) => a,
        Err(refusal) => {
            tracing::info!(request_id = %ctx.request_id, reason = refusal.as_str(), "forward-auth request refused");
            let (outcome, code) = match refusal {
                Refusal::Path(_) => ("bad_request", "path_refused"),
                Refusal::UnknownHost => ("not_found", "unknown_app"),
                Refusal::Authority(_) | Refusal::ForwardingHeaders(_) | Refusal::NoPeer => {
                    ("bad_request", "bad_forwarding_headers")
                }
            };
            return refuse(session, ctx, outcome, code).await;
        }
    };
    // The portal's own pages (sign-in, hand-off) are served by the gateway
    // itself; a proxy asking about them is misconfigured: deny.
    if admitted.is_reserved() {
        return refuse(session, ctx, "bad_request", "reserved_path").await;
    }
    let Target::App(app) = admitted.target else {
        return refuse(session, ctx, "not_found", "unknown_app").await;
    };
    let question = Question {
        app,
        host: admitted.host(),
        path: &admitted.path,
        method: original.method.as_str(),
        client_ip: admitted.client_ip,
        client_app: context::client_app(req),
        https: original.https,
        recheck: false,
    };
    let verdict = decide::decide(g, &ctx.snapshot, req, &question, &ctx.request_id).await;
    let client_app = question.client_app;
    ctx.admitted = Some(admitted);
    let Ok(mut verdict) = verdict else {
        return ctx.unavailable(session, client_app).await;
    };
    if ctx.accept(g, &mut verdict, app).is_err() {
        return ctx.unavailable(session, ClientApp::Api).await;
    }
    if verdict.decision == Decision::Allow {
        return allow(session, ctx, caller).await;
    }
    let a = respond::Answer {
        mfa_asked: verdict.mfa_asked,
        mfa_present: verdict.mfa_present,
        ..ctx.answer(session.req_header(), verdict.client_app, verdict.token_problem)
    };
    if caller == Caller::Nginx
        && a.redirects()
        && let Some(location) = respond::location(verdict.decision, &a)
    {
        // nginx's auth_request passes on only 2xx, 401 and 403; its
        // `error_page 401` turns this `Location` into the redirect.
        let scheme = if original.https { "https" } else { "http" };
        let location = format!("{scheme}://{}{location}", original.authority);
        respond::send(
            session,
            401,
            "text/plain; charset=utf-8",
            Vec::new(),
            &[
                ("location", &location),
                (headers::REQUEST_ID, &ctx.request_id),
            ],
        )
        .await?;
        return Ok(true);
    }
    respond::deny(session, verdict.decision, &a).await?;
    Ok(true)
}

/// 200 with the identity headers the proxy would send upstream (none for a
/// public path). Envoy is also told to remove any of them the client sent.
async fn allow(session: &mut Session, ctx: &mut Ctx, caller: Caller) -> Result<bool> {
    let remove = headers::IDENTITY.join(",");
    let mut out: Vec<(&str, &str)> = Vec::with_capacity(6);
    if let Some(identity) = &ctx.identity {
        // Visible ASCII by construction (`Identity::new`).
        out.extend(
            identity
                .headers()
                .filter_map(|(name, value)| Some((name, value.to_str().ok()?))),
        );
    } else if caller == Caller::Envoy {
        // Envoy copies only the headers we send; a client's own
        // `X-Portcullis-User` would otherwise reach the app of a public path.
        out.push(("x-envoy-auth-headers-to-remove", &remove));
    }
    out.push((headers::REQUEST_ID, &ctx.request_id));
    respond::send(session, 200, "text/plain; charset=utf-8", Vec::new(), &out).await?;
    Ok(true)
}

/// 403 before deciding, as JSON for the calling proxy; `code` says why
/// (never which policy).
async fn refuse(
    session: &mut Session,
    ctx: &mut Ctx,
    outcome: &'static str,
    code: &'static str,
) -> Result<bool> {
    ctx.refuse(
        session,
        outcome,
        403,
        ClientApp::Api,
        code,
        ("error-refused-title", "error-forward-auth-refused"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build(method, uri.as_bytes(), None).expect("request");
        for (n, v) in headers {
            r.append_header(n.to_string(), *v).expect("header");
        }
        r
    }

    #[test]
    fn endpoints_are_matched_on_the_raw_path() {
        assert_eq!(endpoint("/.portcullis/auth"), Some(Caller::Generic));
        assert_eq!(endpoint("/.portcullis/auth/nginx"), Some(Caller::Nginx));
        assert_eq!(endpoint("/.portcullis/auth/envoy/"), Some(Caller::Envoy));
        assert_eq!(
            endpoint("/.portcullis/auth/envoy/a/../b"),
            Some(Caller::Envoy)
        );
        assert_eq!(endpoint("/.portcullis/auth/envoy"), None);
        assert_eq!(endpoint("/.portcullis/auth/envoyx/a"), None);
        assert_eq!(endpoint("/.portcullis//auth"), None);
        assert_eq!(endpoint("/.Portcullis/auth"), None);
        assert_eq!(endpoint("/x/../.portcullis/auth"), None);
    }

    #[test]
    fn traefik_and_caddy_headers_describe_the_original() {
        let r = req(
            "GET",
            "/.portcullis/auth",
            &[
                ("x-forwarded-method", "POST"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "Wiki.Test:8443"),
                ("x-forwarded-uri", "/public/../admin?a=1"),
            ],
        );
        assert_eq!(
            describe(&r, Caller::Generic),
            Ok(Original {
                https: true,
                authority: "Wiki.Test:8443".into(),
                method: http::Method::POST,
                path: "/public/../admin".into(),
                query: Some("a=1".into()),
            })
        );
    }

    #[test]
    fn nginx_reads_the_original_url_and_method_only() {
        let r = req(
            "GET",
            "/.portcullis/auth/nginx",
            &[
                ("x-original-method", "DELETE"),
                ("x-original-url", "http://wiki.test:8080/admin"),
                // A client's own header is ignored, not preferred.
                ("x-forwarded-uri", "/public"),
            ],
        );
        let o = describe(&r, Caller::Nginx).expect("described");
        assert_eq!(o.path, "/admin");
        assert_eq!(o.method, http::Method::DELETE);
        assert_eq!(o.authority, "wiki.test:8080");
        assert!(!o.https);
        assert_eq!(o.query, None);
    }

    #[test]
    fn envoy_path_follows_the_prefix() {
        let r = req(
            "PUT",
            "/.portcullis/auth/envoy/api/x?y=2",
            &[("host", "wiki.test"), ("x-forwarded-proto", "http")],
        );
        let o = describe(&r, Caller::Envoy).expect("described");
        assert_eq!(o.path, "/api/x");
        assert_eq!(o.query.as_deref(), Some("y=2"));
        assert_eq!(o.method, http::Method::PUT);
        assert_eq!(o.authority, "wiki.test");
    }

    #[test]
    fn missing_repeated_and_malformed_descriptions_are_refused() {
        let full = [
            ("x-forwarded-method", "GET"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "wiki.test"),
            ("x-forwarded-uri", "/"),
        ];
        assert!(describe(&req("GET", "/", &full), Caller::Generic).is_ok());
        for skip in 0..full.len() {
            let h: Vec<(&str, &str)> = full
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, h)| *h)
                .collect();
            assert_eq!(
                describe(&req("GET", "/", &h), Caller::Generic),
                Err(Problem::Missing(full[skip].0))
            );
        }
        let mut twice = full.to_vec();
        twice.push(("x-forwarded-uri", "/admin"));
        assert_eq!(
            describe(&req("GET", "/", &twice), Caller::Generic),
            Err(Problem::Repeated("x-forwarded-uri"))
        );
        for (name, bad) in [
            ("x-forwarded-uri", "http://evil.test/"),
            ("x-forwarded-uri", "admin"),
            ("x-forwarded-host", "a.test/evil"),
            ("x-forwarded-host", "a.test, b.test"),
            ("x-forwarded-host", "a\"b"),
            ("x-forwarded-proto", "ftp"),
            ("x-forwarded-method", "G T"),
        ] {
            let h: Vec<(&str, &str)> = full
                .iter()
                .map(|&(n, v)| if n == name { (n, bad) } else { (n, v) })
                .collect();
            assert_eq!(
                describe(&req("GET", "/", &h), Caller::Generic),
                Err(Problem::Malformed(name)),
                "{name}: {bad}"
            );
        }
        for url in ["wiki.test/admin", "http://wiki.test", "gopher://wiki.test/"] {
            let r = req(
                "GET",
                "/",
                &[("x-original-method", "GET"), ("x-original-url", url)],
            );
            assert_eq!(
                describe(&r, Caller::Nginx),
                Err(Problem::Malformed("x-original-url")),
                "{url}"
            );
        }
    }
}
