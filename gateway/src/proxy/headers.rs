//! Request headers on their way to the upstream: what we remove (anything a
//! client could use to pose as someone, our own credentials), what we add
//! (identity, assertion, forwarding facts).

use crate::session::{AssertionCache, KeyRing, SessionError, Subject, cookie};
use pingora::http::RequestHeader;

/// The identity headers an upstream may trust because only we set them.
pub const USER: &str = "x-portcullis-user";
pub const EMAIL: &str = "x-portcullis-email";
pub const USER_TYPE: &str = "x-portcullis-user-type";
pub const GROUPS: &str = "x-portcullis-groups";
pub const ASSERTION: &str = "x-portcullis-assertion";
pub const REQUEST_ID: &str = "x-request-id";

/// The identity headers of an allowed, signed-in request, all written from
/// one [`Subject`] (the facts the decision used), the assertion signed from
/// the same value with the request's own key set. The proxy sends them to
/// the app; forward-auth hands them to the calling proxy. The only writer of
/// these headers. Built as header values once, so sending them only clones
/// shared buffers.
pub struct Identity {
    values: [http::HeaderValue; 5],
}

impl Identity {
    /// Signs (or takes from `cache`) the assertion for `subject` and `app`.
    /// Fails when the assertion cannot be signed or a value is not a valid
    /// header value (an e-mail with a control character).
    pub fn new(
        subject: Subject<'_>,
        keys: &KeyRing,
        cache: &AssertionCache,
        app: &str,
        now: i64,
    ) -> Result<Identity, SessionError> {
        let value = |v: &str| {
            http::HeaderValue::from_str(v)
                .map_err(|_| SessionError::Malformed("an identity value is not a header value"))
        };
        let assertion = cache.get_or_sign(keys, subject, app, now)?;
        Ok(Identity {
            values: [
                value(subject.sub)?,
                value(subject.email)?,
                http::HeaderValue::from_static(subject.user_type.as_str()),
                value(&subject.groups.join(","))?,
                assertion,
            ],
        })
    }

    /// (name, value) pairs, in a fixed order: [`IDENTITY`]'s.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &http::HeaderValue)> {
        IDENTITY.into_iter().zip(self.values.iter())
    }
}

/// Removes every `Set-Cookie` of an upstream's response that would plant or
/// overwrite the gateway's session cookie (session fixation through a
/// compromised or careless app; see `cookie::planted_by_upstream`), keeping
/// the others in order. Runs in `response_filter` for every proxied answer.
pub fn drop_planted_cookies(resp: &mut pingora::http::ResponseHeader) -> pingora::Result<()> {
    if !resp.headers.contains_key("set-cookie") {
        return Ok(());
    }
    let kept: Vec<http::HeaderValue> = resp
        .headers
        .get_all("set-cookie")
        .iter()
        .filter(|v| !cookie::planted_by_upstream(v.as_bytes()))
        .cloned()
        .collect();
    resp.remove_header("set-cookie");
    for v in kept {
        resp.append_header("set-cookie", v)?;
    }
    Ok(())
}

/// The names [`Identity::headers`] writes.
pub const IDENTITY: [&str; 5] = [USER, EMAIL, USER_TYPE, GROUPS, ASSERTION];

/// Whether a header name is, or could be read by some framework as, one of
/// ours: any case, `_` for `-` (CGI-style servers, e.g. Apache/PHP and
/// Django, map `X_Portcullis_User` to the same variable as
/// `X-Portcullis-User`).
pub fn looks_like_ours(name: &str) -> bool {
    const PREFIX: &[u8] = b"x-portcullis-";
    let b = name.as_bytes();
    b.len() >= PREFIX.len()
        && b[..PREFIX.len()]
            .iter()
            .zip(PREFIX)
            .all(|(&c, &p)| c.to_ascii_lowercase() == p || (p == b'-' && c == b'_'))
}

/// Headers about the client, or overriding what was decided, that only we
/// may set for the upstream. A client sending them could otherwise tell an
/// app that trusts them (many do, once behind a proxy) another address,
/// host, scheme, path or method than the one we decided on, or another
/// auth proxy's idea of who it is:
/// - client address: `X-Forwarded-For`, `Forwarded`, `X-Real-IP` and the
///   CDN and load-balancer variants (`True-Client-IP`, `CF-Connecting-IP`, …);
/// - host, scheme and prefix overrides (`X-Host`, `X-Forwarded-Server`, …),
///   the levers of Host-header poisoning;
/// - the URL overrides Symfony and IIS honoured (`X-Original-URL`,
///   `X-Rewrite-URL`, CVE-2018-14773): a path rule on `/admin` would not
///   see the path the app serves;
/// - method overrides (`X-HTTP-Method-Override`, …): a `methods:` rule
///   would not see the method the app runs;
/// - identity headers of other auth proxies (oauth2-proxy's
///   `X-Forwarded-User`, `X-Auth-Request-*`, `Remote-User`, Grafana's
///   `X-WEBAUTH-USER`), which an app moved behind Portcullis may still trust.
const ONLY_OURS: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "client-ip",
    "x-cluster-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "x-proxyuser-ip",
    "x-host",
    "x-forwarded-server",
    "x-http-host-override",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "x-forwarded-prefix",
    "x-scheme",
    "x-url-scheme",
    "front-end-https",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "remote-user",
    "x-remote-user",
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-preferred-username",
    "x-forwarded-groups",
    "x-forwarded-access-token",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-preferred-username",
    "x-auth-request-groups",
    "x-auth-request-access-token",
    "x-webauth-user",
];

/// Whether `name` reads as `canonical` (lower-case, `-`) to some server:
/// any case, `_` for `-` (CGI-style mapping).
fn same_name(name: &str, canonical: &str) -> bool {
    name.len() == canonical.len()
        && name
            .bytes()
            .zip(canonical.bytes())
            .all(|(c, k)| c.to_ascii_lowercase() == k || (k == b'-' && c == b'_'))
}

fn is_forwarding(name: &str) -> bool {
    ONLY_OURS.iter().any(|k| same_name(name, k))
}

/// Removes every inbound header that looks like ours or claims forwarding
/// facts, and the `Connection` header's named hop-by-hop fields (a client
/// could name our headers there to have a later hop drop them). An
/// `Upgrade` request keeps `Connection: upgrade`.
pub fn sanitize(req: &mut RequestHeader) {
    let connection_named: Vec<String> = req
        .headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty() && t != "close" && t != "keep-alive" && t != "upgrade")
        .collect();
    let doomed: Vec<String> = req
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| {
            looks_like_ours(k) || is_forwarding(k) || connection_named.iter().any(|c| c == k)
        })
        .map(String::from)
        .collect();
    for name in doomed {
        req.remove_header(&name);
    }
    let upgrade = req.headers.contains_key("upgrade");
    req.remove_header("connection");
    if upgrade {
        let _ = req.insert_header("connection", "upgrade");
    }
}

/// Removes the gateway's session cookie, under both its names, from every
/// `Cookie` header before the request goes upstream: no app sees our tokens.
///
/// Both names whichever listener the request came in on: a browser sends a
/// cookie that the plain-HTTP listener set (`portcullis_session`, no
/// `Secure`) to the HTTPS listener of the same host too, and that token is
/// just as valid there. (Found by the `cookie` fuzz target's property.)
pub fn strip_session_cookies(req: &mut RequestHeader) {
    strip_cookies(req, &[cookie::COOKIE_NAME, cookie::SECURE_COOKIE_NAME]);
}

/// Removes one cookie by name from every `Cookie` header, keeping the others.
pub fn strip_cookie(req: &mut RequestHeader, cookie: &str) {
    strip_cookies(req, &[cookie]);
}

/// Removes the cookies named `names` from every `Cookie` header, keeping
/// the others in order: one pass to find them, one to rebuild the header
/// when there are any (issue 21: the session cookie's two names were two
/// byte-by-byte passes of their own).
fn strip_cookies(req: &mut RequestHeader, names: &[&str]) {
    let is_ours = |c: &[u8]| {
        let n = memchr::memchr(b'=', c).map_or(c, |eq| &c[..eq]);
        let n = n.trim_ascii();
        names.iter().any(|name| n == name.as_bytes())
    };
    // Most requests carry no such cookie: no allocation then.
    let present = req
        .headers
        .get_all("cookie")
        .iter()
        .any(|v| cookie::pairs(v.as_bytes()).any(|c| is_ours(c.trim_ascii())));
    if !present {
        return;
    }
    let mut kept: Vec<u8> = Vec::new();
    for v in req.headers.get_all("cookie") {
        for c in cookie::pairs(v.as_bytes()).map(<[u8]>::trim_ascii) {
            if c.is_empty() || is_ours(c) {
                continue;
            }
            if !kept.is_empty() {
                kept.extend_from_slice(b"; ");
            }
            kept.extend_from_slice(c);
        }
    }
    req.remove_header("cookie");
    if !kept.is_empty()
        && let Ok(v) = http::HeaderValue::from_bytes(&kept)
    {
        let _ = req.insert_header("cookie", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).expect("request");
        for (n, v) in headers {
            r.append_header(n.to_string(), *v).expect("header");
        }
        r
    }

    #[test]
    fn lookalikes_of_our_headers_are_ours() {
        for n in [
            "x-portcullis-user",
            "X-Portcullis-Email",
            "X_Portcullis_User",
            "x-portcullis_user-type",
            "X-PORTCULLIS-ASSERTION",
        ] {
            assert!(looks_like_ours(n), "{n}");
        }
        for n in [
            "x-portcullis",
            "x-portcullisuser",
            "x-forwarded-for",
            "portcullis-user",
        ] {
            assert!(!looks_like_ours(n), "{n}");
        }
    }

    #[test]
    fn spoofed_identity_and_forwarding_headers_are_removed() {
        let mut r = req(&[
            ("X-Portcullis-User", "admin"),
            ("x_portcullis_email", "ceo@tailwindtraders.com"),
            ("X-Forwarded-For", "1.2.3.4"),
            ("Forwarded", "for=1.2.3.4"),
            ("X-Real-IP", "1.2.3.4"),
            ("Connection", "keep-alive, X-Custom, x-portcullis-user"),
            ("X-Custom", "named in Connection"),
            ("Accept", "text/html"),
        ]);
        sanitize(&mut r);
        let names: Vec<&str> = r.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept"]);
    }

    #[test]
    fn overrides_of_address_host_path_method_and_identity_are_removed() {
        let mut r = req(&[
            ("True-Client-IP", "1.2.3.4"),
            ("X_Client_IP", "1.2.3.4"),
            ("X-Host", "evil.example"),
            ("X-Original-URL", "/admin"),
            ("x-rewrite-url", "/admin"),
            ("X-HTTP-Method-Override", "DELETE"),
            ("Remote-User", "admin"),
            ("X-Forwarded-User", "admin"),
            ("X-Auth-Request-Email", "admin@example.com"),
            ("Accept", "text/html"),
        ]);
        sanitize(&mut r);
        let names: Vec<&str> = r.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept"]);
        assert!(!is_forwarding("x-forwarded-fo"));
        assert!(!is_forwarding("x-original-urls"));
    }

    #[test]
    fn upgrade_keeps_connection_upgrade() {
        let mut r = req(&[("Connection", "Upgrade"), ("Upgrade", "websocket")]);
        sanitize(&mut r);
        assert_eq!(
            r.headers.get("connection").map(|v| v.as_bytes()),
            Some(&b"upgrade"[..])
        );
    }

    #[test]
    fn our_cookie_is_stripped_and_others_kept() {
        let mut r = req(&[
            ("Cookie", "a=1; portcullis_session=secret; b=2"),
            ("Cookie", "portcullis_session=x"),
        ]);
        strip_cookie(&mut r, "portcullis_session");
        let cookies: Vec<&[u8]> = r
            .headers
            .get_all("cookie")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        assert_eq!(cookies, [&b"a=1; b=2"[..]]);
        let mut both = req(&[(
            "Cookie",
            "portcullis_session=a; x=1; __Host-portcullis_session=b",
        )]);
        strip_session_cookies(&mut both);
        assert_eq!(
            both.headers.get("cookie").map(|v| v.as_bytes()),
            Some(&b"x=1"[..]),
            "a plain-HTTP session cookie sent to the HTTPS listener is ours too"
        );
        let mut only = req(&[("Cookie", "portcullis_session=secret")]);
        strip_cookie(&mut only, "portcullis_session");
        assert!(only.headers.get("cookie").is_none());
    }
}
