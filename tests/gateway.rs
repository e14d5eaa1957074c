//! The data path end to end (issue "Gateway data path"): the real
//! `portcullis serve` between real clients (reqwest, curl, raw sockets) and
//! real upstreams (HTTP/1.1, TLS, WebSocket), loopback only, every wait
//! bounded. Each test starts its own gateway and upstreams.

mod support;

use portcullis::session::UserType;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::gateway::{AppSpec, Gateway, MEMBER_DOMAIN, app};
use support::upstream::{Seen, Upstream, WsUpstream};
use support::{WAIT, poll, raw, unix_now};
use time::OffsetDateTime;

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const JSON: &str = "application/json";

/// A policy name that must never reach a client.
const BLOCK_POLICY: &str = "internal-blocklist-7f3a";

fn rules(extra: &str) -> String {
    format!(
        "policies:\n\
         \x20 - name: secure-needs-mfa\n\
         \x20   users: {{ include: [all] }}\n\
         \x20   apps: {{ include: [secure] }}\n\
         \x20   grant: {{ require: [mfa] }}\n\
         \x20 - name: {BLOCK_POLICY}\n\
         \x20   users: {{ include: [all] }}\n\
         \x20   apps: {{ include: [blocked] }}\n\
         \x20   grant: block\n{extra}"
    )
}

/// The apps most tests use, all in front of one recording upstream:
/// `open` (no policy; public `/health`, `/static/`, `/set-cookie-public`),
/// `secure` (MFA), `blocked` (block), `spa` (`on_unauthenticated: deny`,
/// `cors_preflight: allow`) and `fwd` (`forward_session_cookie: true`).
fn standard_apps(up: &Upstream) -> Vec<AppSpec> {
    let u = [up.address()];
    vec![
        app(
            "open",
            &u,
            "public_paths: [/health, /static/, /set-cookie-public]",
        ),
        app("secure", &u, ""),
        app("blocked", &u, ""),
        app("spa", &u, "on_unauthenticated: deny, cors_preflight: allow"),
        app("fwd", &u, "forward_session_cookie: true"),
    ]
}

async fn standard() -> (Gateway, Upstream) {
    let up = Upstream::start("main").await;
    let gw = Gateway::start(&standard_apps(&up), &rules("")).await;
    (gw, up)
}

/// A response, read whole.
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn fetch(rb: reqwest::RequestBuilder) -> Resp {
    let r = rb.send().await.expect("request through the gateway");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.expect("response body");
    Resp {
        status,
        headers,
        body,
    }
}

/// A GET as a browser navigation, with an optional cookie header.
async fn browser(gw: &Gateway, host: &str, path: &str, cookie: Option<&str>) -> Resp {
    let mut rb = gw.get(host, path).header("accept", HTML);
    if let Some(c) = cookie {
        rb = rb.header("cookie", c);
    }
    fetch(rb).await
}

/// A GET as an API client (`Accept: application/json`).
async fn api(gw: &Gateway, host: &str, path: &str, cookie: Option<&str>) -> Resp {
    let mut rb = gw.get(host, path).header("accept", JSON);
    if let Some(c) = cookie {
        rb = rb.header("cookie", c);
    }
    fetch(rb).await
}

async fn bearer(gw: &Gateway, host: &str, path: &str, token: &str) -> Resp {
    fetch(
        gw.get(host, path)
            .header("accept", JSON)
            .header("authorization", format!("Bearer {token}")),
    )
    .await
}

fn is_request_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The request id quoted on an HTML error page.
fn page_request_id(body: &str) -> String {
    let start = body
        .find("Request id: <code>")
        .unwrap_or_else(|| panic!("no request id on the page: {body}"))
        + "Request id: <code>".len();
    let end = body[start..].find("</code>").expect("end of request id") + start;
    body[start..end].to_string()
}

fn assert_nothing_proxied(up: &Upstream, before: usize, what: &str) {
    let seen = up.seen();
    assert_eq!(
        seen.len(),
        before,
        "{what}: the upstream received {:?}",
        seen[before..]
            .iter()
            .map(|s| format!("{} {}", s.method, s.uri))
            .collect::<Vec<_>>()
    );
}

// ------------------------------------------------------------- 1. enforcement

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforcement_answers_browsers_and_api_clients_and_proxies_no_denial() {
    let (gw, up) = standard().await;

    // No session: a browser is sent to sign in (return path kept, query
    // encoded), an API client gets 401 with a Bearer challenge.
    let r = browser(&gw, "open.test", "/reports/q3?x=1&y=2", None).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        r.header("location"),
        "/.portcullis/sign-in?rd=/reports/q3%3Fx%3D1%26y%3D2"
    );
    let r = api(&gw, "open.test", "/reports/q3", None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.header("www-authenticate").starts_with("Bearer"),
        "{:?}",
        r.headers
    );
    assert!(
        !r.header("www-authenticate").contains("invalid_token"),
        "no token was presented: {}",
        r.header("www-authenticate")
    );
    assert_eq!(r.json()["error"], "sign_in_required");
    assert_nothing_proxied(&up, 0, "no session");

    // MFA required, session without `mfa` in amr.
    let (_, weak) = gw.member("secure.test", "mia", &["pwd"]).await;
    let r = browser(&gw, "secure.test", "/payslips", Some(&weak)).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(
        r.header("location")
            .starts_with("/.portcullis/mfa?rd=/payslips"),
        "{}",
        r.header("location")
    );
    let r = api(&gw, "secure.test", "/payslips", Some(&weak)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.header("www-authenticate")
            .contains("error=\"insufficient_user_authentication\""),
        "{}",
        r.header("www-authenticate")
    );
    assert_nothing_proxied(&up, 0, "MFA missing");
    let (_, strong) = gw.member("secure.test", "max", &["pwd", "mfa"]).await;
    let r = browser(&gw, "secure.test", "/payslips", Some(&strong)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(up.count(), 1, "MFA satisfied: proxied");

    // Block: a page with the request id and no policy internals; JSON for APIs.
    let (_, cookie) = gw.member("blocked.test", "bob", &["pwd", "mfa"]).await;
    let r = browser(&gw, "blocked.test", "/", Some(&cookie)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.header("content-type").starts_with("text/html"));
    assert!(is_request_id(&page_request_id(&r.body)), "{}", r.body);
    assert!(
        !r.body.contains(BLOCK_POLICY),
        "policy name leaked: {}",
        r.body
    );
    let r = api(&gw, "blocked.test", "/", Some(&cookie)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.header("content-type").starts_with("application/json"));
    let j = r.json();
    assert!(is_request_id(j["request_id"].as_str().unwrap_or("")), "{j}");
    assert!(
        !r.body.contains(BLOCK_POLICY),
        "policy name leaked: {}",
        r.body
    );
    assert_nothing_proxied(&up, 1, "blocked");

    // A member with no policy in the way: allowed, identity at the upstream.
    let (member_id, cookie) = gw.member("open.test", "meg", &["pwd"]).await;
    let r = browser(&gw, "open.test", "/dashboard", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "upstream main ok");
    let seen = up.last();
    assert_eq!(seen.uri, "/dashboard");
    assert_eq!(seen.header("x-portcullis-user"), Some(member_id.as_str()));
    assert_eq!(up.count(), 2);

    // A guest without an assignment: 403 for both kinds of client.
    let (_, cookie) = gw.guest("open.test", "gina").await;
    let r = browser(&gw, "open.test", "/", Some(&cookie)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = api(&gw, "open.test", "/", Some(&cookie)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_nothing_proxied(&up, 2, "guest without assignment");

    // A guest with a live assignment: allowed.
    let (guest_id, cookie) = gw.guest("open.test", "gus").await;
    gw.assign(
        &guest_id,
        "open",
        Some(OffsetDateTime::now_utc() + time::Duration::days(7)),
    )
    .await;
    let r = browser(&gw, "open.test", "/", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    assert_eq!(seen.header("x-portcullis-user"), Some(guest_id.as_str()));
    assert_eq!(seen.header("x-portcullis-user-type"), Some("guest"));
    assert_eq!(up.count(), 3);

    // `on_unauthenticated: deny`: a browser gets 401 too, never a redirect.
    let r = browser(&gw, "spa.test", "/app", None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.header("location").is_empty());
    assert_nothing_proxied(&up, 3, "spa without session");

    // CORS pre-flight: passes unauthenticated only where the app allows it.
    let preflight = |host: &str| {
        gw.req(Method::OPTIONS, host, "/api/items")
            .header("origin", "https://portal.contoso.com")
            .header("access-control-request-method", "PUT")
    };
    let r = fetch(preflight("open.test")).await;
    assert_eq!(r.status, 401, "pre-flight on an app without cors_preflight");
    assert_nothing_proxied(&up, 3, "pre-flight on open");
    let r = fetch(gw.req(Method::OPTIONS, "spa.test", "/api/items")).await;
    assert_eq!(r.status, 401, "an OPTIONS that is no pre-flight");
    assert_nothing_proxied(&up, 3, "plain OPTIONS on spa");
    let r = fetch(preflight("spa.test")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("OPTIONS", "/api/items")
    );
    assert!(seen.header("x-portcullis-user").is_none());
    assert_eq!(up.count(), 4);
}

// ------------------------------------------------------- 2. identity headers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_gets_identity_headers_and_a_verifiable_short_lived_assertion() {
    let (gw, up) = standard().await;
    let email = format!("Ida.Moss@{MEMBER_DOMAIN}");
    let id = gw.add_user(&email, UserType::Member).await;
    gw.add_to_group(&id, "payroll-admins").await;
    let cookie = gw
        .mint_cookie(
            "open.test",
            &id,
            &email,
            UserType::Member,
            &["Engineering"],
            &["pwd"],
            60,
        )
        .await;
    let r = browser(&gw, "open.test", "/me?full=1", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    assert_eq!(seen.uri, "/me?full=1");
    assert_eq!(seen.header("x-portcullis-user"), Some(id.as_str()));
    assert_eq!(seen.header("x-portcullis-email"), Some(email.as_str()));
    assert_eq!(seen.header("x-portcullis-user-type"), Some("member"));
    assert_eq!(
        seen.header("x-portcullis-groups"),
        Some("engineering,payroll-admins"),
        "token and directory groups, lower-case, sorted"
    );
    let host = format!("open.test:{}", gw.http.port());
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(seen.header("x-forwarded-host"), Some(host.as_str()));
    assert_eq!(seen.header("host"), Some(host.as_str()), "preserve_host");
    let rid = seen.header("x-request-id").expect("x-request-id");
    assert!(is_request_id(rid), "{rid}");
    assert_eq!(r.header("x-request-id"), rid, "the client sees the same id");

    // The assertion verifies against the published JWKS, for this app only.
    let assertion = seen
        .header("x-portcullis-assertion")
        .expect("assertion header");
    let jwks = fetch(gw.get("open.test", "/.portcullis/jwks.json")).await;
    assert_eq!(jwks.status, 200);
    assert_nothing_proxied(&up, 1, "jwks");
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks.body).expect("JWKS");
    let header = jsonwebtoken::decode_header(assertion).expect("assertion header");
    let kid = header.kid.clone().expect("kid");
    let jwk = set.find(&kid).expect("assertion key in the JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("decoding key");
    let verify = |aud: &str| {
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        v.set_audience(&[aud]);
        v.set_issuer(&[portcullis::server::ISSUER]);
        v.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
        jsonwebtoken::decode::<Value>(assertion, &key, &v)
    };
    let claims = verify("open")
        .expect("assertion verifies for aud=open")
        .claims;
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["email"], email.as_str());
    let (iat, exp) = (
        claims["iat"].as_i64().expect("iat"),
        claims["exp"].as_i64().expect("exp"),
    );
    assert!(exp - iat <= 60, "assertion lives {}s", exp - iat);
    assert!(exp > unix_now() && iat <= unix_now() + 1, "{claims}");
    assert!(verify("secure").is_err(), "aud must be the app");
    // The same with the gateway's own key ring from the store.
    let keys = gw.keys().await;
    keys.verify_assertion(assertion, "open", unix_now())
        .expect("KeyRing::verify_assertion");
    // An assertion is never accepted as a session cookie (token substitution).
    let before = up.count();
    let r = api(
        &gw,
        "open.test",
        "/",
        Some(&format!("portcullis_session={assertion}")),
    )
    .await;
    assert_eq!(r.status, 401, "an assertion replayed as a cookie");
    assert_nothing_proxied(&up, before, "assertion as cookie");
}

// ---------------------------------------------------------------- 3. spoofing

const SPOOFS: &[&str] = &[
    "X-Portcullis-User: admin",
    "x_portcullis_email: ceo@tailwindtraders.com",
    "X-PORTCULLIS-GROUPS: admins",
    "X-Portcullis-User-Type: member",
    "X-Portcullis-Assertion: eyJhbGciOiJub25lIn0.e30.",
    "X-Forwarded-For: 6.6.6.6",
    "X-Forwarded-Host: evil.example",
    "X-Forwarded-Proto: https",
    "X-Real-IP: 6.6.6.6",
    "Forwarded: for=6.6.6.6;proto=https",
    "Connection: X-Portcullis-User",
    "Accept: text/html",
];

fn assert_no_spoof(seen: &Seen, host: &str) {
    for name in seen.names() {
        assert!(
            !name.replace('_', "-").starts_with("x-portcullis-") || seen.all(&name).len() == 1,
            "{name} repeated: {:?}",
            seen.all(&name)
        );
    }
    assert!(
        seen.all("x_portcullis_email").is_empty(),
        "{:?}",
        seen.headers
    );
    for (n, v) in &seen.headers {
        assert!(
            !v.contains("6.6.6.6") && !v.contains("evil.example") && v != "admin" && v != "admins",
            "spoofed value reached the upstream: {n}: {v}"
        );
    }
    // Ours, or (see `public_paths_get_our_forwarding_headers`) none.
    assert!(
        seen.all("x-forwarded-for")
            .iter()
            .all(|v| *v == "127.0.0.1"),
        "{:?}",
        seen.all("x-forwarded-for")
    );
    assert!(seen.all("x-forwarded-host").iter().all(|v| *v == host));
    assert!(seen.all("x-forwarded-proto").iter().all(|v| *v == "http"));
    assert!(seen.all("x-real-ip").is_empty());
    assert!(seen.all("forwarded").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_identity_and_forwarding_headers_never_reach_the_upstream() {
    let (gw, up) = standard().await;
    let host = format!("open.test:{}", gw.http.port());

    // A public path, no session: none of them and none of ours.
    let r = raw::send(gw.http, &raw::get("/health", &host, SPOOFS)).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    let seen = up.last();
    assert_no_spoof(&seen, &host);
    assert!(
        !seen
            .names()
            .iter()
            .any(|n| n.replace('_', "-").starts_with("x-portcullis-")),
        "{:?}",
        seen.headers
    );

    // With a session: only our values.
    let (id, session) = gw.member("open.test", "sam", &["pwd"]).await;
    let cookie_line = format!("Cookie: theme=dark; {session}; lang=en");
    let mut headers: Vec<&str> = SPOOFS.to_vec();
    headers.push(&cookie_line);
    let r = raw::send(gw.http, &raw::get("/inbox", &host, &headers)).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    let seen = up.last();
    assert_no_spoof(&seen, &host);
    assert_eq!(seen.all("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(seen.all("x-forwarded-host"), [host.as_str()]);
    assert_eq!(seen.all("x-forwarded-proto"), ["http"]);
    assert_eq!(seen.all("x-portcullis-user"), [id.as_str()]);
    assert_eq!(
        seen.all("x-portcullis-email"),
        [format!("sam@{MEMBER_DOMAIN}").as_str()]
    );
    assert_eq!(seen.all("x-portcullis-user-type"), ["member"]);
    assert_eq!(seen.all("x-portcullis-groups"), [""]);
    assert_eq!(seen.all("x-portcullis-assertion").len(), 1);
    // Our cookie is not forwarded, the others are.
    let cookies = seen.all("cookie").join("; ");
    assert!(!cookies.contains("portcullis_session"), "{cookies}");
    assert!(
        cookies.contains("theme=dark") && cookies.contains("lang=en"),
        "{cookies}"
    );

    // A consumed bearer token is not forwarded either.
    let token = gw
        .idp
        .sign(&gw.idp.claims("svc-7", &format!("svc@{MEMBER_DOMAIN}")));
    let r = bearer(&gw, "open.test", "/api/v1/items", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    // The issuer's subject, qualified by the idp (issue 14, finding 1).
    assert_eq!(seen.header("x-portcullis-user"), Some("partner-api:svc-7"));
    assert!(seen.all("authorization").is_empty(), "{:?}", seen.headers);

    // `forward_session_cookie: true` opts in.
    let (_, session) = gw.member("fwd.test", "fay", &["pwd"]).await;
    let r = fetch(
        gw.get("fwd.test", "/")
            .header("accept", HTML)
            .header("cookie", format!("a=1; {session}")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cookies = up.last().all("cookie").join("; ");
    assert!(cookies.contains(&session), "{cookies}");
    assert!(cookies.contains("a=1"), "{cookies}");
}

/// The upstream of a public path (and of a CORS pre-flight) learns the
/// client address from us like any other: the spoofed values are gone, ours
/// are there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_paths_get_our_forwarding_headers() {
    let (gw, up) = standard().await;
    let host = format!("open.test:{}", gw.http.port());
    let r = raw::send(gw.http, &raw::get("/health", &host, SPOOFS)).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    let seen = up.last();
    assert_no_spoof(&seen, &host);
    let spa = format!("spa.test:{}", gw.http.port());
    let preflight = raw::get(
        "/api",
        &spa,
        &[
            "Origin: https://portal.contoso.com",
            "Access-Control-Request-Method: PUT",
        ],
    );
    let preflight = String::from_utf8_lossy(&preflight).replacen("GET", "OPTIONS", 1);
    let r = raw::send(gw.http, preflight.as_bytes()).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    let pre = up.last();
    let mut missing = Vec::new();
    for (what, s, h) in [("public path", &seen, &host), ("pre-flight", &pre, &spa)] {
        for (name, want) in [
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", h.as_str()),
        ] {
            if s.all(name) != [want] {
                missing.push(format!("{what}: {name} = {:?}, want {want}", s.all(name)));
            }
        }
        if s.header("x-request-id").is_none_or(|v| !is_request_id(v)) {
            missing.push(format!(
                "{what}: x-request-id = {:?}",
                s.all("x-request-id")
            ));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

// ---------------------------------------------------------- 4. reserved paths

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_path_tricks_are_never_proxied() {
    let (gw, up) = standard().await;
    let host = format!("open.test:{}", gw.http.port());

    // Anonymous: `/.portcullis/../x` is decided as `/x`.
    let r = raw::send(
        gw.http,
        &raw::get("/.portcullis/../x", &host, &["Accept: text/html"]),
    )
    .await;
    assert_eq!(r.status, Some(302), "{r:?}");
    assert_eq!(r.header("location"), Some("/.portcullis/sign-in?rd=/x"));

    // Signed in, so that anything that slipped through would be proxied.
    let (_, session) = gw.member("open.test", "rey", &["pwd"]).await;
    let cookie = format!("Cookie: {session}");
    let cases: &[(&str, u16)] = &[
        ("/.portcullis/../x", 200),
        ("/%2e%2e/.portcullis/jwks.json", 200),
        ("//.portcullis/jwks.json", 200),
        ("/./.portcullis/jwks.json", 200),
        ("/.%70ortcullis/jwks.json", 200),
        ("/.PORTCULLIS/x", 404),
        ("/.PortCullis/jwks.json", 200),
        ("/.portcullis", 404),
        ("/.portcullis/", 404),
        ("/.portcullis/anything/else", 404),
        ("/a/..;/x", 400),
        // Path parameters: Tomcat, Jetty and Spring drop `;x`, so this is
        // `/.portcullis/jwks.json` to them, and to us: served by the gateway,
        // never proxied.
        ("/.portcullis;x/jwks.json", 200),
        ("/.PORTCULLIS;/x", 404),
        ("/..;/.portcullis/jwks.json", 400),
        ("/x%2fy", 400),
        ("/x%2Fy", 400),
        ("/%2e%2e%2f.portcullis/jwks.json", 400),
        ("/x%5cy", 400),
        ("/x%3b/y", 400),
        ("/x%00y", 400),
    ];
    let mut wrong = Vec::new();
    for (target, want) in cases {
        let r = raw::send(
            gw.http,
            &raw::get(target, &host, &["Accept: text/html", &cookie]),
        )
        .await;
        if r.status != Some(*want) {
            wrong.push(format!(
                "{target}: {:?} (want {want}), upstream said {:?}",
                r.status,
                r.header("x-upstream")
            ));
        }
        if *want == 200
            && target.to_ascii_lowercase().contains("jwks")
            && !(r
                .header("content-type")
                .is_some_and(|c| c.contains("jwk-set"))
                && r.body.contains("\"keys\""))
        {
            wrong.push(format!("{target}: not the gateway's JWKS: {r:?}"));
        }
    }
    // curl --path-as-is sends the path unchanged too.
    for (target, want) in [
        ("/.portcullis/../x", "200"),
        ("/%2e%2e/.portcullis/jwks.json", "200"),
        ("/.PORTCULLIS/x", "404"),
        ("/x%2fy", "400"),
    ] {
        let out = curl(&gw, &["--path-as-is", "-H", &cookie], "open.test", target);
        assert_eq!(out, want, "curl {target}");
    }

    let seen: Vec<String> = up.seen().into_iter().map(|s| s.uri).collect();
    for uri in &seen {
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("/.portcullis")
            || lower.contains("%2f")
            || lower.contains("%5c")
            || lower.contains("..")
        {
            wrong.push(format!("proxied: {uri}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "reserved-path tricks:\n{}",
        wrong.join("\n")
    );
    assert_eq!(seen, ["/x", "/x"], "only the normalised /x was proxied");
}

/// Path parameters (`;x`) are dropped by Tomcat, Jetty and Spring before
/// routing, so `/admin;x/secret` is `/admin/secret` to such an app: a path
/// rule must not be bypassed by them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_parameters_do_not_bypass_path_rules() {
    let up = Upstream::start("main").await;
    let extra = "  - name: no-admin\n    users: { include: [all] }\n    apps: { include: [open] }\n    paths: { include: [\"/admin/*\"] }\n    grant: block\n";
    let gw = Gateway::start(&standard_apps(&up), &rules(extra)).await;
    let host = format!("open.test:{}", gw.http.port());
    let (_, session) = gw.member("open.test", "pam", &["pwd", "mfa"]).await;
    let cookie = format!("Cookie: {session}");
    let mut wrong = Vec::new();
    for target in [
        "/admin",
        "/admin/secret",
        "/admin;x/secret",
        "/admin;jsessionid=1/secret",
        "/admin;/secret",
    ] {
        let before = up.count();
        let r = raw::send(
            gw.http,
            &raw::get(target, &host, &[&cookie, "Accept: text/html"]),
        )
        .await;
        if !matches!(r.status, Some(400 | 403)) || up.count() != before {
            wrong.push(format!(
                "{target}: {:?}, upstream saw {:?}",
                r.status,
                up.seen().last().map(|s| s.uri.clone())
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "path rule bypassed:\n{}",
        wrong.join("\n")
    );
}

/// `curl` through the gateway; returns the status code it printed.
fn curl(gw: &Gateway, args: &[&str], host: &str, target: &str) -> String {
    let port = gw.http.port();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args([
            "--noproxy",
            "*",
            "--resolve",
            &format!("{host}:{port}:127.0.0.1"),
        ])
        .args(args)
        .arg(format!("http://{host}:{port}{target}"))
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ------------------------------------------------------------ 5. public paths

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_paths_skip_sign_in_only_after_normalisation() {
    let (gw, up) = standard().await;
    let host = format!("open.test:{}", gw.http.port());

    let r = browser(&gw, "open.test", "/health", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api(&gw, "open.test", "/static/app.js", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        curl(&gw, &[], "open.test", "/health"),
        "200",
        "curl /health"
    );
    let seen: Vec<String> = up.seen().into_iter().map(|s| s.uri).collect();
    assert_eq!(seen, ["/health", "/static/app.js", "/health"]);
    assert!(
        up.seen()
            .iter()
            .all(|s| s.header("x-portcullis-user").is_none())
    );

    // Not public: normalised first, exact or folder matches only.
    for target in [
        "/health/../admin",
        "/health/%2e%2e/admin",
        "/static/../admin",
        "/healthz",
        "/health/x",
        "/static",
    ] {
        let r = raw::send(gw.http, &raw::get(target, &host, &["Accept: text/html"])).await;
        assert_eq!(r.status, Some(302), "{target}: {r:?}");
        assert!(
            r.header("location")
                .is_some_and(|l| l.starts_with("/.portcullis/sign-in?rd=/")),
            "{target}: {r:?}"
        );
    }
    assert_eq!(
        curl(&gw, &["--path-as-is"], "open.test", "/health/../admin"),
        "401",
        "curl sends Accept: */*: an API client"
    );
    assert_nothing_proxied(&up, 3, "non-public paths");

    // The normalised path is what is forwarded.
    let r = raw::send(gw.http, &raw::get("/%68ealth", &host, &[])).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    assert_eq!(up.last().uri, "/health");
}

// ----------------------------------------------------------- 6. bearer tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_verified_and_bad_ones_get_invalid_token() {
    let (gw, up) = standard().await;
    let idp = &gw.idp;
    let email = format!("build-bot@{MEMBER_DOMAIN}");

    let good = idp.sign(&idp.claims("bot-1", &email));
    let r = bearer(&gw, "open.test", "/api/builds", &good).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    assert_eq!(seen.header("x-portcullis-user"), Some("partner-api:bot-1"));
    assert_eq!(seen.header("x-portcullis-email"), Some(email.as_str()));
    assert_eq!(seen.header("x-portcullis-user-type"), Some("member"));
    // Issue 15: an issuer's groups are its own, qualified by its name.
    assert_eq!(
        seen.header("x-portcullis-groups"),
        Some("partner-api:partners")
    );
    assert!(seen.header("x-portcullis-assertion").is_some());
    assert!(seen.all("authorization").is_empty());
    let count = up.count();

    let mut wrong_aud = idp.claims("bot-1", &email);
    wrong_aud["aud"] = "someone-else".into();
    let mut expired = idp.claims("bot-1", &email);
    expired["iat"] = (unix_now() - 7200).into();
    expired["exp"] = (unix_now() - 3600).into();
    let mut wrong_iss = idp.claims("bot-1", &email);
    wrong_iss["iss"] = "https://evil.example".into();
    let claims = idp.claims("bot-1", &email);
    let bad = [
        ("bad signature", idp.sign_with_other_key(&claims)),
        ("alg none", idp.unsigned(&claims)),
        ("wrong audience", idp.sign(&wrong_aud)),
        ("expired", idp.sign(&expired)),
        ("wrong issuer", idp.sign(&wrong_iss)),
        (
            "HS256 with the public key",
            idp.hs256_with_public_key(&claims),
        ),
        ("garbage", "not-a-jwt".to_string()),
    ];
    for (what, token) in &bad {
        let r = bearer(&gw, "open.test", "/api/builds", token).await;
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        assert!(
            r.header("www-authenticate")
                .contains("error=\"invalid_token\""),
            "{what}: {}",
            r.header("www-authenticate")
        );
        // Even a browser-looking request with a bad token is an API client.
        let r = fetch(
            gw.get("open.test", "/")
                .header("accept", HTML)
                .header("authorization", format!("Bearer {token}")),
        )
        .await;
        assert_eq!(r.status, 401, "{what} from a browser: {}", r.body);
    }
    assert_nothing_proxied(&up, count, "bad bearer tokens");

    // A valid token of a guest without an assignment: 403.
    let guest = idp.sign(&idp.claims("partner-42", "pat@contoso.com"));
    let r = bearer(&gw, "open.test", "/api/builds", &guest).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_nothing_proxied(&up, count, "unassigned guest token");
}

// ---------------------------------------------------- 7. assignment expiry

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_assignment_is_denied_within_the_cache_ttl() {
    let (gw, up) = standard().await;
    let (id, cookie) = gw.guest("open.test", "tess").await;
    let ends = OffsetDateTime::now_utc() + time::Duration::seconds(3);
    gw.assign(&id, "open", Some(ends)).await;
    let r = browser(&gw, "open.test", "/", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(up.count(), 1);

    // Directory facts are cached for 5 s: the denial comes at the latest
    // then (and in fact from the second the assignment ends).
    let denied = poll(Duration::from_secs(3 + 5 + 3), || async {
        let r = browser(&gw, "open.test", "/", Some(&cookie)).await;
        match r.status {
            403 => Some(()),
            200 => None,
            other => panic!("unexpected {other}: {}", r.body),
        }
    })
    .await;
    assert!(
        denied.is_some(),
        "still allowed 11 s after the assignment was granted for 3 s"
    );
    // The store keeps whole seconds: the assignment ends at the second.
    let ends = ends.replace_nanosecond(0).expect("whole second");
    let late = OffsetDateTime::now_utc() - ends;
    assert!(
        late <= time::Duration::seconds(6),
        "denied {late} after the assignment ended"
    );
    assert!(OffsetDateTime::now_utc() >= ends, "denied before the end");
}

/// The claims of an upstream assertion (read, not verified here).
fn assertion_claims(seen: &Seen) -> Value {
    use base64::Engine as _;
    let token = seen.header("x-portcullis-assertion").unwrap_or_default();
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// Issue 14, findings 1 and 2: a `type: jwt` idp's token acted as any
/// directory user (its `sub` was looked up as a user id, and a member-domain
/// e-mail made a member), and the assertion was signed from the token's
/// claims while the headers used the directory's facts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_never_acts_as_a_directory_user_and_the_assertion_matches_the_headers() {
    let up = Upstream::start("main").await;
    let dir = tempfile::tempdir().expect("tempdir");
    // A second issuer with no `domains` (the same keys, another `iss`).
    let idps = "  - { name: open-api, type: jwt, issuer: \"https://open-api.example\", audience: portcullis, jwks_file: jwks.json }\n";
    let gw = Gateway::start_configured(
        dir,
        &[app("open", &[up.address()], "")],
        "policies: []\n",
        &[],
        idps,
        "",
    )
    .await;
    let guest = gw.add_user("gail@contoso.com", UserType::Guest).await;
    let ends = OffsetDateTime::now_utc() + time::Duration::days(7);
    gw.assign(&guest, "open", Some(ends)).await;
    let member = gw
        .add_user(&format!("finn@{MEMBER_DOMAIN}"), UserType::Member)
        .await;
    gw.add_to_group(&member, "finance").await;
    let open_api = |sub: &str, email: &str| {
        let mut c = gw.idp.claims(sub, email);
        c["iss"] = "https://open-api.example".into();
        gw.idp.sign(&c)
    };

    // The guest's and the member's directory ids as `sub`: neither's rights.
    let r = bearer(&gw, "open.test", "/", &open_api(&guest, "x@contoso.com")).await;
    assert_eq!(r.status, 403, "a token named the guest: {}", r.body);
    let r = bearer(
        &gw,
        "open.test",
        "/",
        &open_api(&member, "x@fabrikam.example"),
    )
    .await;
    assert_eq!(r.status, 403, "a token named the member: {}", r.body);
    // A member-domain e-mail from an idp that does not serve it: refused.
    let r = bearer(
        &gw,
        "open.test",
        "/",
        &open_api("x", &format!("ceo@{MEMBER_DOMAIN}")),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(up.count(), 0, "nothing reached the app");

    // An idp that serves the member domain (the support's `partner-api`):
    // the headers and the assertion say the same, from the decided facts.
    let token = gw
        .idp
        .sign(&gw.idp.claims("svc", &format!("svc@{MEMBER_DOMAIN}")));
    let r = bearer(&gw, "open.test", "/", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    let claims = assertion_claims(&seen);
    assert_eq!(seen.header("x-portcullis-user"), Some("partner-api:svc"));
    assert_eq!(claims["sub"], "partner-api:svc");
    assert_eq!(seen.header("x-portcullis-user-type"), Some("member"));
    assert_eq!(claims["user_type"], "member");
    assert_eq!(
        seen.header("x-portcullis-groups"),
        Some("partner-api:partners")
    );
    assert_eq!(
        claims["groups"],
        serde_json::json!(["partner-api:partners"])
    );
    assert_eq!(claims["aud"], "open");
}

// ------------------------------------------------------- 8. reload under load

const BROKEN_RULES: &str = "policies:\n  - name: block-the-blocked-app\n    users: { include: [all] }\n    apps: { include: [blocked] }\n    grant: blok\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_keeps_serving_and_rejects_a_broken_rule_file() {
    let (gw, up) = standard().await;
    let gw = Arc::new(gw);
    let (_, open_cookie) = gw.member("open.test", "lou", &["pwd", "mfa"]).await;
    let (_, blocked_cookie) = gw.member("blocked.test", "lou2", &["pwd", "mfa"]).await;
    let (_, secure_cookie) = gw.member("secure.test", "lou3", &["pwd", "mfa"]).await;
    assert_eq!(
        browser(&gw, "secure.test", "/", Some(&secure_cookie))
            .await
            .status,
        200
    );

    // Load: a few tasks, each alternating an allowed and a blocked request.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (gw, stop, done) = (gw.clone(), stop.clone(), done.clone());
        let (oc, bc) = (open_cookie.clone(), blocked_cookie.clone());
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                for (host, cookie, want) in [("open.test", &oc, 200), ("blocked.test", &bc, 403)] {
                    match gw
                        .get(host, "/load")
                        .header("accept", JSON)
                        .header("cookie", cookie.as_str())
                        .send()
                        .await
                    {
                        Ok(r) if r.status().as_u16() == want => {}
                        Ok(r) => failures.push(format!("{host}: {}", r.status())),
                        Err(e) => failures.push(format!("{host}: {e}")),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            failures
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A broken file: logged with file:line:column, the old rules stay.
    std::fs::write(gw.rule_file(), BROKEN_RULES).expect("write broken rules");
    let location = format!("{}:5:12", gw.rule_file().display());
    let logged = poll(Duration::from_secs(5), || {
        let found = gw.log().contains(&location);
        async move { found.then_some(()) }
    })
    .await;
    assert!(
        logged.is_some(),
        "no `{location}` in the log:\n{}",
        gw.log()
    );
    assert_eq!(
        browser(&gw, "blocked.test", "/", Some(&blocked_cookie))
            .await
            .status,
        403,
        "old rules in force"
    );
    assert_eq!(
        browser(&gw, "secure.test", "/", Some(&secure_cookie))
            .await
            .status,
        200
    );

    // A valid changed file (written whole, then renamed in): takes effect.
    let changed = rules(
        "  - name: secure-closed\n    users: { include: [all] }\n    apps: { include: [secure] }\n    grant: block\n",
    );
    let tmp = gw.path("access.yaml.tmp");
    std::fs::write(&tmp, changed).expect("write new rules");
    std::fs::rename(&tmp, gw.rule_file()).expect("rename new rules in");
    let applied = poll(Duration::from_secs(5), || async {
        let r = browser(&gw, "secure.test", "/", Some(&secure_cookie)).await;
        (r.status == 403).then_some(())
    })
    .await;
    assert!(
        applied.is_some(),
        "the valid rule file never took effect:\n{}",
        gw.log()
    );

    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(
            tokio::time::timeout(WAIT * 3, t)
                .await
                .expect("load task finished")
                .expect("load task"),
        );
    }
    let n = done.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{} of {n} requests failed: {failures:?}",
        failures.len()
    );
    assert!(n >= 20, "only {n} requests under load");
    assert!(up.count() >= n / 2, "allowed requests reached the upstream");

    // SIGHUP reloads too.
    let reloads = |log: &str| log.matches("reloaded configuration").count();
    let before = reloads(&gw.log());
    gw.signal("HUP");
    let hup = poll(Duration::from_secs(5), || {
        let log = gw.log();
        let ok = log.contains("SIGHUP") && reloads(&log) > before;
        async move { ok.then_some(()) }
    })
    .await;
    assert!(hup.is_some(), "SIGHUP did not reload:\n{}", gw.log());
}

// ------------------------------------------- 9. TLS, WebSocket, dead upstream

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_upstream_with_ca_file_and_a_dead_upstream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tls_up, ca) = Upstream::start_tls("tls", dir.path()).await;
    let dying = Upstream::start("dying").await;
    let ca_name = ca
        .file_name()
        .expect("ca name")
        .to_string_lossy()
        .into_owned();
    let apps = vec![
        app(
            "tls",
            &[format!("https://{}", tls_up.address())],
            &format!("upstream_tls: {{ ca_file: {ca_name} }}"),
        ),
        app("dying", &[dying.address()], ""),
    ];
    let gw = Gateway::start_in(dir, &apps, "policies: []\n").await;

    // TLS upstream verified against ca_file.
    let (id, cookie) = gw.member("tls.test", "tim", &["pwd"]).await;
    let r = browser(&gw, "tls.test", "/secure-page", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, gw.log());
    assert_eq!(r.body, "upstream tls ok");
    assert_eq!(tls_up.last().header("x-portcullis-user"), Some(id.as_str()));

    // A dead upstream: 502.
    let (_, cookie) = gw.member("dying.test", "dan", &["pwd"]).await;
    assert_eq!(
        browser(&gw, "dying.test", "/", Some(&cookie)).await.status,
        200
    );
    dying.die().await;
    let r = api(&gw, "dying.test", "/", Some(&cookie)).await;
    assert_eq!(r.status, 502, "{}", r.body);
    // Two-upstream failover needs the health checker in `serve`, which does
    // not run it yet (`upstream::HealthChecker` is not added as a service).
}

/// Opens a WebSocket through the gateway as `cookie`'s user; `Err` when the
/// handshake or an echo fails.
async fn ws_echo(gw: &Gateway, cookie: Option<&str>, texts: &[&str]) -> Result<(), String> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let mut req = format!("ws://ws.test:{}/chat", gw.http.port())
        .into_client_request()
        .map_err(|e| e.to_string())?;
    if let Some(c) = cookie {
        req.headers_mut()
            .insert("cookie", c.parse().map_err(|_| "cookie header")?);
    }
    let tcp = tokio::net::TcpStream::connect(gw.http)
        .await
        .map_err(|e| e.to_string())?;
    let (mut ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(req, tcp))
        .await
        .map_err(|_| "handshake timed out")?
        .map_err(|e| format!("handshake: {e}"))?;
    if resp.status().as_u16() != 101 {
        return Err(format!("status {}", resp.status()));
    }
    for text in texts {
        ws.send(Message::text(*text))
            .await
            .map_err(|e| format!("send {text:?}: {e}"))?;
        let echoed = tokio::time::timeout(WAIT, ws.next())
            .await
            .map_err(|_| format!("echo of {text:?} timed out"))?
            .ok_or_else(|| format!("closed before the echo of {text:?}"))?
            .map_err(|e| format!("echo of {text:?}: {e}"))?;
        if echoed != Message::text(*text) {
            return Err(format!("echo of {text:?} was {echoed:?}"));
        }
    }
    let _ = ws.close(None).await;
    Ok(())
}

/// WebSocket upgrades pass the gateway with the identity headers, and an
/// anonymous upgrade never reaches the app. Several sessions at once: an
/// upgrade whose `101` is read before the request's empty body is torn down
/// by Pingora 0.9.1 (cloudflare/pingora#946, fix in #947), which on an idle
/// machine shows only now and then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_are_proxied_with_identity() {
    let ws_up = WsUpstream::start().await;
    let gw = Gateway::start(&[app("ws", &[ws_up.address()], "")], "policies: []\n").await;
    let (id, cookie) = gw.member("ws.test", "wes", &["pwd"]).await;

    let mut failures = Vec::new();
    let mut retried = 0;
    match ws_echo_once_more(&gw, Some(&cookie), &["hello", "second message"]).await {
        Ok(r) => retried += r,
        Err(e) => failures.push(e),
    }
    let handshakes = ws_up.seen();
    assert!(
        (1..=2).contains(&handshakes.len()),
        "{} handshakes",
        handshakes.len()
    );
    for h in &handshakes {
        assert_eq!(h.header("x-portcullis-user"), Some(id.as_str()));
        assert!(!h.all("cookie").join(";").contains("portcullis_session"));
    }
    let before = handshakes.len();

    // An anonymous upgrade is refused before it reaches the app.
    assert!(
        ws_echo(&gw, None, &["x"]).await.is_err(),
        "anonymous upgrade accepted"
    );
    assert_eq!(ws_up.seen().len(), before);

    // 24 more sessions, 8 at a time.
    for _ in 0..3 {
        let round: Vec<_> = (0..8)
            .map(|i| {
                let (gw, cookie) = (&gw, &cookie);
                async move { ws_echo_once_more(gw, Some(cookie), &[&format!("message {i}")]).await }
            })
            .collect();
        for r in futures_util::future::join_all(round).await {
            match r {
                Ok(n) => retried += n,
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 25 WebSocket sessions failed: {failures:?}",
        failures.len()
    );
    // The known upstream bug is rare; a flood of retries would be ours.
    assert!(retried <= 6, "{retried} retries over 25 sessions");
}

/// `ws_echo`, tried again (at most twice) when the proxied connection is reset right
/// after the `101`: Pingora 0.9.1 sometimes closes the upgraded body pipe
/// early (cloudflare/pingora#946, fix proposed in #947). Any other failure,
/// or a second reset, fails the session. Returns how many retries it took.
async fn ws_echo_once_more(
    gw: &Gateway,
    cookie: Option<&str>,
    messages: &[&str],
) -> Result<usize, String> {
    let mut retries = 0;
    loop {
        match ws_echo(gw, cookie, messages).await {
            Ok(()) => return Ok(retries),
            // Resets cluster (the bug hits several sessions at once), so
            // allow up to two retries of this one kind of failure.
            Err(e) if retries < 2 && e.contains("without closing handshake") => retries += 1,
            Err(e) => return Err(e),
        }
    }
}

// ---------------------------------------------------------------- 10. framing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_and_obs_fold_are_refused() {
    let (gw, up) = standard().await;
    let host = format!("open.test:{}", gw.http.port());
    let (_, session) = gw.member("open.test", "fra", &["pwd"]).await;

    let requests: Vec<(&str, String)> = vec![
        (
            "Content-Length and Transfer-Encoding",
            format!(
                "POST /health HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
            ),
        ),
        (
            "Transfer-Encoding and Content-Length, signed in",
            format!(
                "POST /submit HTTP/1.1\r\nHost: {host}\r\nCookie: {session}\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\nConnection: close\r\n\r\n0\r\n\r\n"
            ),
        ),
        (
            "two different Content-Length",
            format!(
                "POST /health HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
            ),
        ),
        (
            "a coding other than a final chunked",
            format!(
                "POST /health HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked, identity\r\nConnection: close\r\n\r\n0\r\n\r\n"
            ),
        ),
        (
            "obs-fold",
            format!(
                "GET /health HTTP/1.1\r\nHost: {host}\r\nX-Folded: first\r\n second\r\nConnection: close\r\n\r\n"
            ),
        ),
        (
            "obs-fold with a tab",
            format!(
                "GET /health HTTP/1.1\r\nHost: {host}\r\nX-Portcullis-User: a\r\n\tadmin\r\nConnection: close\r\n\r\n"
            ),
        ),
        (
            "two Host headers",
            format!(
                "GET /health HTTP/1.1\r\nHost: {host}\r\nHost: evil.test\r\nConnection: close\r\n\r\n"
            ),
        ),
    ];
    let mut wrong = Vec::new();
    for (what, req) in &requests {
        let before = up.count();
        let r = raw::send(gw.http, req.as_bytes()).await;
        let refused = r.status == Some(400) || (what.starts_with("obs-fold") && r.status.is_none());
        if !refused || up.count() != before {
            wrong.push(format!(
                "{what}: {:?}, proxied: {:?}",
                r.status,
                up.seen()[before..]
                    .iter()
                    .map(|s| (s.uri.clone(), s.headers.clone()))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(wrong.is_empty(), "not refused:\n{}", wrong.join("\n"));

    // The same request framed one way is fine.
    let ok = format!(
        "POST /health HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    );
    let r = raw::send(gw.http, ok.as_bytes()).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    assert_eq!(up.last().body, b"abc");
}

// ------------------------------------------------- 11. upstream Set-Cookie

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_cannot_plant_the_session_cookie() {
    let (gw, up) = standard().await;
    let (_, session) = gw.member("open.test", "cara", &["pwd"]).await;
    for (path, cookie) in [
        ("/set-cookie", Some(session.as_str())),
        ("/set-cookie-public", None),
    ] {
        let r = browser(&gw, "open.test", path, cookie).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let set: Vec<&str> = r
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert!(
            set.iter().all(|c| !c.contains("portcullis_session")),
            "{path}: {set:?}"
        );
        assert_eq!(set, ["app_pref=dark; Path=/"], "{path}: other cookies pass");
    }
    assert_eq!(up.count(), 2);
}

// ------------------------------------------------------------ 12. HTTPS

/// `curl` over HTTPS to the gateway's TLS listener, trusting its test
/// certificate: returns `(status, http_version)`.
fn curl_https(gw: &Gateway, host: &str, target: &str, headers: &[&str]) -> (String, String) {
    let port = gw.https.port();
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        "--max-time",
        "10",
    ])
    .args(["--noproxy", "*", "--http2", "--cacert"])
    .arg(&gw.tls_ca)
    .args(["--resolve", &format!("{host}:{port}:127.0.0.1")]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(format!("https://{host}:{port}{target}"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, version) = text.split_once(' ').unwrap_or((&text, ""));
    (status.to_string(), version.to_string())
}

/// The HTTPS listener speaks HTTP/2, sends browsers to sign-in, accepts only
/// the `__Host-` cookie (a plain-named cookie could have been planted over
/// HTTP or from a sibling domain, RFC 6265bis §4.1.3.2), and tells the app
/// the request came over https.
// Multi-threaded: `curl` blocks this thread while the upstream answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listener_with_http2_and_host_prefixed_cookie() {
    let (gw, up) = standard().await;
    let (status, version) = curl_https(&gw, "open.test", "/health", &[]);
    assert_eq!((status.as_str(), version.as_str()), ("200", "2"));
    assert_eq!(up.last().header("x-forwarded-proto"), Some("https"));

    let (status, _) = curl_https(&gw, "secure.test", "/page", &["Accept: text/html"]);
    assert_eq!(status, "302");

    let (id, cookie) = gw.member("secure.test", "hana", &["pwd", "mfa"]).await;
    let token = cookie
        .strip_prefix("portcullis_session=")
        .expect("cookie value");
    let plain = format!("Cookie: portcullis_session={token}");
    let (status, _) = curl_https(&gw, "secure.test", "/page", &["Accept: text/html", &plain]);
    assert_eq!(
        status, "302",
        "a cookie without the __Host- prefix is ignored on HTTPS"
    );
    let prefixed = format!("Cookie: __Host-portcullis_session={token}");
    let (status, version) = curl_https(
        &gw,
        "secure.test",
        "/page",
        &["Accept: text/html", &prefixed],
    );
    assert_eq!((status.as_str(), version.as_str()), ("200", "2"));
    let seen = up.last();
    assert_eq!(seen.header("x-portcullis-user"), Some(id.as_str()));
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    assert!(!seen.all("cookie").join(";").contains("portcullis_session"));
}

// --------------------------------------------- 14. session revocation, keys

/// The claims of a minted `portcullis_session=…` cookie for `host`.
async fn cookie_claims(
    gw: &Gateway,
    cookie: &str,
    host: &str,
) -> portcullis::session::SessionClaims {
    let token = cookie
        .strip_prefix("portcullis_session=")
        .expect("cookie value");
    gw.keys()
        .await
        .verify(token, host, unix_now())
        .expect("the minted cookie verifies")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_session_is_refused_within_seconds_even_when_cached() {
    let (gw, up) = standard().await;
    let (id, cookie) = gw.member("open.test", "rhea", &["pwd"]).await;
    let email = format!("rhea@{MEMBER_DOMAIN}");
    let other = gw
        .mint_cookie(
            "open.test",
            &id,
            &email,
            UserType::Member,
            &[],
            &["pwd"],
            60,
        )
        .await;
    // Both sessions are allowed, and now sit in the verified-token cache.
    for c in [&cookie, &other] {
        let r = browser(&gw, "open.test", "/", Some(c)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let claims = cookie_claims(&gw, &cookie, "open.test").await;
    let other_sid = cookie_claims(&gw, &other, "open.test").await.sid;
    assert_ne!(claims.sid, other_sid);

    // Revoked in the shared store, as another replica's sign-out would.
    let now = OffsetDateTime::now_utc();
    let ends = OffsetDateTime::from_unix_timestamp(claims.exp).expect("exp");
    gw.store
        .revoke_session(&claims.sid, ends, now)
        .await
        .expect("revoke the session");
    let denied = poll(Duration::from_secs(5), || async {
        let r = browser(&gw, "open.test", "/", Some(&cookie)).await;
        match r.status {
            302 => Some(r),
            200 => None,
            other => panic!("unexpected {other}: {}", r.body),
        }
    })
    .await;
    let (r, after) = denied.expect("the revoked session was still allowed 5 s later");
    assert!(
        r.header("location")
            .starts_with("/.portcullis/sign-in?rd=/"),
        "a revoked session signs in again: {}",
        r.header("location")
    );
    eprintln!("revocation took effect after {after:?}");

    // Refused for API clients too, and never proxied.
    let count = up.count();
    let r = api(&gw, "open.test", "/data", Some(&cookie)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_nothing_proxied(&up, count, "revoked session");

    // The user's other session is not affected.
    let r = browser(&gw, "open.test", "/", Some(&other)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(up.last().header("x-portcullis-user"), Some(id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signing_key_added_by_another_replica_is_trusted_and_signs() {
    use portcullis::session::{KeyRing, SessionClaims, SigningKeyRecord};
    let up = Upstream::start("main").await;
    let gw = Gateway::start_with_env(
        &standard_apps(&up),
        &rules(""),
        // Also runs the proxy on single-threaded runtimes (the default with
        // `threads: 1`), which the other tests (2 threads) do not.
        &[
            ("PORTCULLIS_KEY_CHECK_INTERVAL_SECS", "1"),
            ("PORTCULLIS_WORK_STEALING", "0"),
        ],
    )
    .await;
    let (id, old_cookie) = gw.member("open.test", "kai", &["pwd"]).await;
    let old_kid = gw.keys().await.active_kid().to_string();

    // Another replica rotates: a newer key, stored, and a session it signed.
    let now = unix_now();
    let record = SigningKeyRecord::generate(now + 1, now + 40 * 86_400).expect("key");
    let stored = portcullis::store::SigningKey::try_from(&record).expect("store record");
    gw.store
        .insert_signing_key(&stored)
        .await
        .expect("insert the new key");
    let ring = KeyRing::from_records(portcullis::server::ISSUER, vec![record.clone()], now + 1)
        .expect("ring of the new key");
    let claims = SessionClaims {
        iss: portcullis::server::ISSUER.into(),
        sub: id.clone(),
        aud: "open.test".into(),
        email: format!("kai@{MEMBER_DOMAIN}"),
        user_type: UserType::Member,
        groups: Default::default(),
        idp: "partner-api".into(),
        amr: vec!["pwd".to_string()].into(),
        auth_time: now - 60,
        iat: now,
        exp: now + 3600,
        sid: portcullis::session::new_sid(),
    };
    let new_cookie = format!(
        "portcullis_session={}",
        ring.issue(&claims).expect("issue with the new key")
    );

    // Trusted within the check interval (1 s here; the bound allows for a
    // busy machine), and it becomes the key that signs assertions.
    let accepted = poll(Duration::from_secs(8), || async {
        let r = browser(&gw, "open.test", "/", Some(&new_cookie)).await;
        match r.status {
            200 => Some(()),
            302 => None,
            other => panic!("unexpected {other}: {}", r.body),
        }
    })
    .await;
    assert!(
        accepted.is_some(),
        "a session signed by the new key was refused 8 s after the key was stored"
    );
    let assertion = up.last();
    let assertion = assertion
        .header("x-portcullis-assertion")
        .expect("assertion");
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            assertion.split('.').next().expect("JWT header"),
        )
        .expect("base64url"),
    )
    .expect("JSON header");
    assert_eq!(header["kid"], record.kid.as_str(), "the newest key signs");
    let jwks = fetch(gw.get("open.test", "/.portcullis/jwks.json"))
        .await
        .json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(kids.contains(&record.kid.as_str()), "{kids:?}");
    assert!(
        kids.contains(&old_kid.as_str()),
        "the old key still verifies: {kids:?}"
    );

    // Sessions signed by the old key keep working until they expire.
    let r = browser(&gw, "open.test", "/", Some(&old_cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

// ------------------------------------------------------------ 15. access log

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_gets_one_json_access_line_without_secrets() {
    let (gw, _up) = standard().await;
    let (id, cookie) = gw.member("open.test", "lou", &["pwd"]).await;
    let r = browser(
        &gw,
        "open.test",
        "/reports/q3?token=s3cr3t-query",
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rid = r.header("x-request-id").to_string();
    let denied = browser(&gw, "blocked.test", "/x", Some(&cookie)).await;
    assert_eq!(denied.status, 403);
    let denied_rid = page_request_id(&denied.body);

    // Lines are written in batches, at most 100 ms late.
    let line = |rid: String| {
        let gw = &gw;
        async move {
            poll(Duration::from_secs(5), || {
                let rid = rid.clone();
                async move {
                    gw.log()
                        .lines()
                        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                        .find(|v| {
                            v["target"] == "access" && v["fields"]["request_id"] == rid.as_str()
                        })
                }
            })
            .await
            .map(|(v, _)| v)
        }
    };
    let v = line(rid.clone())
        .await
        .expect("an access line for the request");
    assert_eq!(v["level"], "INFO");
    assert!(
        v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );
    let f = &v["fields"];
    assert_eq!(f["app"], "open");
    assert_eq!(f["decision"], "allow");
    assert_eq!(f["status"], 200);
    assert_eq!(f["method"], "GET");
    assert_eq!(f["path"], "/reports/q3", "no query string");
    assert_eq!(f["client_ip"], "127.0.0.1");
    assert_eq!(f["user"], id.as_str());
    assert!(f["latency_us"].as_u64().is_some(), "{v}");
    let v = line(denied_rid)
        .await
        .expect("an access line for the denial");
    assert_eq!(v["fields"]["app"], "blocked");
    assert_eq!(v["fields"]["decision"], "block");
    assert_eq!(v["fields"]["policies"], BLOCK_POLICY);
    assert_eq!(v["fields"]["status"], 403);

    let log = gw.log();
    let token = cookie.strip_prefix("portcullis_session=").expect("token");
    assert!(!log.contains(token), "the session token was logged");
    assert!(!log.contains("s3cr3t-query"), "a query string was logged");
    let lines = log
        .lines()
        .filter(|l| {
            l.contains(&format!("\"request_id\":\"{rid}\"")) && l.contains("\"target\":\"access\"")
        })
        .count();
    assert_eq!(lines, 1, "one access line per request");
}
