//! The request context, worked out once per request (STYLE.md §2): client IP
//! through trusted proxies, country, device platform, client app type and
//! the session. Nothing re-derives these later.

use crate::session::{KeyRing, SessionClaims, SessionError, cookie};
use crate::snapshot::Snapshot;
use crate::state::Gateway;
use geoip::{ClientIpError, Country};
use pingora::http::RequestHeader;
use rules::{ClientApp, Platform};
use std::net::IpAddr;
use std::sync::Arc;

/// Who is asking.
pub enum Identity {
    Anonymous,
    /// A valid gateway session cookie or bearer token.
    Signed {
        claims: Arc<SessionClaims>,
        /// Came as `Authorization: Bearer` (consumed; not forwarded unless the app opts in).
        bearer: bool,
    },
    /// A bearer token was presented and refused; the `SessionError` name.
    BadToken(&'static str),
}

pub struct Facts {
    pub client_ip: IpAddr,
    pub country: Country,
    pub platform: Platform,
    pub client_app: ClientApp,
    pub identity: Identity,
}

fn header<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn all<'a>(req: &'a RequestHeader, name: &str) -> Vec<&'a [u8]> {
    req.headers
        .get_all(name)
        .iter()
        .map(|v| v.as_bytes())
        .collect()
}

/// The client address: the peer, or through `trusted_proxies` the
/// right-most untrusted `X-Forwarded-For` / `Forwarded` entry.
pub fn client_ip(
    snapshot: &Snapshot,
    peer: IpAddr,
    req: &RequestHeader,
) -> Result<IpAddr, ClientIpError> {
    let peer = peer.to_canonical();
    if snapshot.trusted_proxies.is_empty() {
        return Ok(peer);
    }
    geoip::client_ip(
        peer,
        &all(req, "x-forwarded-for"),
        &all(req, "forwarded"),
        &snapshot.trusted_proxies,
    )
}

/// The bearer token of an `Authorization` header, if it uses that scheme.
pub fn bearer_token(req: &RequestHeader) -> Option<&str> {
    let v = header(req, "authorization")?.trim_start();
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Builds the facts. Session checks hit the verified-token cache first; a
/// miss verifies a signature (no network, no database).
/// Browser (a navigation) or API client (DESIGN.md): worked out once per
/// request, first, because error pages before the decision need it too.
pub fn client_app(req: &RequestHeader) -> ClientApp {
    rules::platform::client_app(
        bearer_token(req).is_some(),
        header(req, "sec-fetch-mode"),
        header(req, "accept"),
    )
}

#[allow(clippy::too_many_arguments)]
pub fn build(
    gateway: &Gateway,
    keys: &KeyRing,
    snapshot: &Snapshot,
    req: &RequestHeader,
    client_ip: IpAddr,
    client_app: ClientApp,
    host: &str,
    https: bool,
    now: i64,
) -> Facts {
    let bearer = bearer_token(req);
    let platform = platform(
        gateway,
        header(req, "user-agent"),
        header(req, "sec-ch-ua-platform"),
    );
    let identity = match bearer {
        Some(token) => verify_bearer(gateway, token, now),
        None => verify_cookie(gateway, keys, req, host, https, now),
    };
    Facts {
        client_ip,
        country: snapshot.country(client_ip),
        platform,
        client_app,
        identity,
    }
}

/// The device platform, with User-Agent parses cached: real traffic repeats
/// a few thousand User-Agent strings, and a woothee parse costs 1–4 µs.
/// The client hint, when present, is cheap and decides alone.
fn platform(gateway: &Gateway, ua: Option<&str>, hint: Option<&str>) -> Platform {
    if let Some(p) = hint.and_then(rules::platform::from_client_hint) {
        return p;
    }
    let Some(ua) = ua.filter(|u| u.len() <= rules::platform::MAX_USER_AGENT_BYTES) else {
        return rules::platform::detect(ua, None);
    };
    if let Some(p) = gateway.platforms.get(ua) {
        return p;
    }
    let p = rules::platform::detect(Some(ua), None);
    gateway.platforms.insert(ua.to_string(), p);
    p
}

fn verify_cookie(
    gateway: &Gateway,
    keys: &KeyRing,
    req: &RequestHeader,
    host: &str,
    https: bool,
    now: i64,
) -> Identity {
    let Some(token) = cookie::find_session_cookie(all(req, "cookie"), https) else {
        return Identity::Anonymous;
    };
    let result = gateway.sessions.get_or_verify(host, token, now, || {
        let r = keys.verify(token, host, now);
        count(gateway, "cookie", &r);
        r
    });
    match result {
        // Checked on every request, also when the verification was a cache
        // hit: a signed-out (stolen, shared) cookie must stop working at
        // once, not when its cache entry or token expires.
        Ok(claims) if gateway.revoked.contains(&claims.sid) => Identity::Anonymous,
        Ok(claims) => Identity::Signed {
            claims,
            bearer: false,
        },
        // An expired or foreign cookie: sign in again.
        Err(_) => Identity::Anonymous,
    }
}

fn verify_bearer(gateway: &Gateway, token: &str, now: i64) -> Identity {
    // Only the idps whose `issuer` is the token's `iss` judge it. Trying
    // every idp in order let the first one with a key of the same `kid`
    // refuse another issuer's valid token (`bad_signature`), so with several
    // `jwt` idps only the first one's tokens worked. The choice is made on
    // the unverified claim; the chosen verifier checks `iss` and the
    // signature again, so a forged `iss` gains nothing.
    let Some(iss) = crate::session::unverified_issuer(token) else {
        let r = Err(SessionError::Malformed("no issuer"));
        count(gateway, "bearer", &r);
        return Identity::BadToken(SessionError::Malformed("no issuer").as_str());
    };
    let mut last = SessionError::WrongIssuer;
    let mut tried = false;
    for v in gateway.bearer.iter().filter(|v| v.issuer() == iss) {
        tried = true;
        let r = gateway.sessions.get_or_verify(v.name(), token, now, || {
            let r = v.verify(token, now);
            count(gateway, "bearer", &r);
            r
        });
        match r {
            Ok(claims) => {
                return Identity::Signed {
                    claims,
                    bearer: true,
                };
            }
            // Two idps may share an issuer (e.g. one audience each): an
            // audience the first does not accept may be the next one's.
            Err(e @ SessionError::WrongAudience) => last = e,
            Err(e) => return Identity::BadToken(e.as_str()),
        }
    }
    if !tried {
        count(gateway, "bearer", &Err(SessionError::WrongIssuer));
    }
    Identity::BadToken(last.as_str())
}

fn count(gateway: &Gateway, kind: &str, r: &Result<SessionClaims, SessionError>) {
    let result = match r {
        Ok(_) => "ok",
        Err(e) => e.as_str(),
    };
    gateway
        .metrics
        .token_verifications
        .with_label_values(&[kind, result])
        .inc();
}
