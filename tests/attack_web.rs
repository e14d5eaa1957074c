//! Attack corpus (issue 8, item 2): the web side of sign-in against the real
//! `portcullis serve` — published open-redirect payloads against every
//! return parameter, CSRF on every form, cookie attributes over HTTP and
//! HTTPS, Host-header poisoning of generated links, and the admin API's
//! token and reachability. `tests/signin.rs` already replays 16 redirect
//! payloads against the auth host's `rd` and three against an app host's;
//! the payloads here are others, and every return parameter gets all of them.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use reqwest::Url;
use std::collections::BTreeMap;
use support::browser::Browser;
use support::gateway::{AppSpec, Gateway, app};
use support::upstream::Upstream;
use support::{WAIT, poll};

const AUTH: &str = "auth.test";
const BOB: &str = "bob@fabrikam.example";
const BOB_PW: &str = "bob-password-1";
const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

fn apps(up: &Upstream) -> Vec<AppSpec> {
    let u = [up.address()];
    vec![
        app("wiki", &u, "title: Wiki"),
        app("docs", &u, "title: Docs"),
    ]
}

/// The gateway with a local idp (Bob, a guest of wiki and docs) and the
/// file outbox; sign-in on `auth.test`.
async fn start() -> (Gateway, Upstream) {
    start_with(", passcode: { per_address: 5, max_attempts: 3 }").await
}

/// Like [`start`], with more `sign_in:` fields.
async fn start_with(sign_in: &str) -> (Gateway, Upstream) {
    start_with_top(sign_in, "").await
}

/// Like [`start_with`], with more top-level config lines (`trusted_proxies`).
async fn start_with_top(sign_in: &str, more_top: &str) -> (Gateway, Upstream) {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let hash = portcullis::local_idp::hash_password(BOB_PW).unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        format!(
            "users:\n  - {{ email: {BOB}, name: Bob, password_hash: \"{hash}\", apps: [wiki, docs] }}\n"
        ),
    )
    .unwrap();
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!(
        "sign_in: {{ host: {AUTH}{sign_in} }}\nmail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n{more_top}"
    );
    let gw = Gateway::start_configured(dir, &apps(&up), "policies: []\n", &[], idps, &top).await;
    (gw, up)
}

fn browser(gw: &Gateway) -> Browser {
    Browser::new(gw.http, &[AUTH, "wiki.test", "docs.test"])
}

/// Bob signed in (password, consent) in a fresh browser.
async fn bob(gw: &Gateway) -> Browser {
    let mut b = browser(gw);
    let form = b.open(&gw.url("wiki.test", "/")).await;
    let pw = b
        .submit(&form, "/.portcullis/sign-in", &[("email", BOB)])
        .await;
    let consent = b
        .submit(
            &pw,
            "/.portcullis/sign-in/password",
            &[("password", BOB_PW)],
        )
        .await;
    let wiki = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!((wiki.status, wiki.url.host_str()), (200, Some("wiki.test")));
    b
}

/// Open-redirect payloads: PortSwigger's URL-validation-bypass cheat sheet,
/// the oauth2-proxy advisories (GHSA-qqxw-m5fj-f7gv / CVE-2020-5233 `/\`,
/// GHSA-j7px-6hwj-hpjg tab between slashes, GHSA-5m6c-jp6f-2vcv /
/// CVE-2020-4037 `/%09/`), and Pomerium-style host confusions. `{p}` is the
/// gateway's port.
const REDIRECTS: &[&str] = &[
    "///evil.example/",
    "////evil.example/",
    "/\\/evil.example/",
    "/\t/evil.example/",
    "/%09/evil.example/",
    "/%5cevil.example/",
    "//%5cevil.example/",
    "/%2f%2fevil.example/",
    "https:evil.example",
    "http:/evil.example",
    "http:\\\\evil.example",
    "http:/\\/\\evil.example",
    "//evil%E3%80%82example/",
    "//evil.example%23.wiki.test/",
    "//evil.example?.wiki.test/",
    "http://evil.example?http://wiki.test:{p}/",
    "http://wiki.test:{p}.evil.example/",
    "http://wiki.test%2eevil.example:{p}/",
    "http://wiki.test%252f@evil.example/",
    "http://wiki.test%00.evil.example:{p}/",
    "http://evil.example%00.wiki.test:{p}/",
    "http://evil.example:{p}/wiki.test",
    "http://evil.example/%2f%2e%2e/wiki.test:{p}/",
    "http://127.0.0.1:{p}/",
    "http://[::1]:{p}/",
    "http://0x7f.1:{p}/",
    "http://2130706433:{p}/",
    "http://localhost:{p}/",
    "http://auth.test:{p}@evil.example/",
    "//evil.example@wiki.test:{p}/",
    " //evil.example/",
    "\u{3000}//evil.example/",
    "http://wiki.test:{p}\r\nLocation: http://evil.example/",
    "/.portcullis/invite?\r\nLocation:%20http://evil.example/",
    "/.portcullis/sign-up/..//evil.example/",
    "/.portcullis/invite?x=1\\@evil.example",
    "vbscript:msgbox(1)",
    "JaVaScRiPt:alert(1)",
    "java%0d%0ascript%0d%0a:alert(0)",
    "http://evil.example",
];

/// Where a Location may lead: a host of this gateway on its own port.
fn lands_on_ours(gw: &Gateway, from: &Url, location: &str) -> Result<Url, String> {
    if location.contains(['\r', '\n']) {
        return Err(format!("CR/LF in Location {location:?}"));
    }
    let url = from
        .join(location)
        .map_err(|e| format!("{location:?}: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    if url.scheme() == "http"
        && [AUTH, "wiki.test", "docs.test"].contains(&host)
        && url.port() == Some(gw.http.port())
        && url.username().is_empty()
    {
        Ok(url)
    } else {
        Err(format!("Location {location:?} leads to {url}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_redirect_payloads_never_leave_the_gateways_hosts() {
    let (gw, _up) = start().await;
    let mut b = bob(&gw).await;
    let p = gw.http.port().to_string();
    // Every return parameter: the auth host's sign-in and MFA (signed in:
    // they hand off at once), and an app host's sign-in and MFA (they send
    // the browser to the auth host with a return URL on this app host).
    let endpoints = [
        (AUTH, "/.portcullis/sign-in"),
        (AUTH, "/.portcullis/mfa"),
        ("wiki.test", "/.portcullis/sign-in"),
        ("wiki.test", "/.portcullis/mfa"),
    ];
    let mut wrong = Vec::new();
    let mut checked = 0;
    for payload in REDIRECTS {
        let rd = payload.replace("{p}", &p);
        for (host, path) in endpoints {
            let url = Url::parse_with_params(&gw.url(host, path), &[("rd", rd.as_str())]).unwrap();
            let page = b.get(url.as_str()).await;
            checked += 1;
            let Some(location) = page.location.clone() else {
                continue;
            };
            // Relative to the page, as a browser would resolve it.
            if let Err(e) = lands_on_ours(&gw, &url, location.as_str()) {
                wrong.push(format!("{host}{path} rd={rd:?}: {e}"));
                continue;
            }
            // From an app host the return URL handed to the auth host must be
            // on this same app host.
            if host != AUTH
                && let Some(back) = location
                    .query_pairs()
                    .find(|(k, _)| k == "rd")
                    .map(|(_, v)| v.into_owned())
            {
                match Url::parse(&back) {
                    Ok(u) if u.host_str() == Some(host) && u.port() == Some(gw.http.port()) => {}
                    _ => wrong.push(format!("{host}{path} rd={rd:?}: return URL {back:?}")),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} redirects ({} payloads x {} parameters) left the gateway:\n{}",
        wrong.len(),
        REDIRECTS.len(),
        endpoints.len(),
        wrong.join("\n")
    );
}

/// A response, with its `Set-Cookie` headers, read whole.
struct Resp {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let set_cookies = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    Resp {
        status,
        location,
        set_cookies,
        body: r.text().await.unwrap_or_default(),
    }
}

/// `application/x-www-form-urlencoded` text of `fields`.
fn form_body(fields: &[(&str, &str)]) -> String {
    Url::parse_with_params("http://x/", fields)
        .unwrap()
        .query()
        .unwrap_or_default()
        .to_string()
}

fn jar_header(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn keep(jar: &mut BTreeMap<String, String>, r: &Resp) {
    for c in &r.set_cookies {
        if let Some((k, v)) = c.split(';').next().and_then(|p| p.split_once('=')) {
            jar.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
}

fn field(body: &str, name: &str) -> Option<String> {
    let at = body.find(&format!("name=\"{name}\""))?;
    let tag_start = body[..at].rfind('<')?;
    let tag_end = at + body[at..].find('>')?;
    let v = body[tag_start..tag_end]
        .split("value=\"")
        .nth(1)?
        .split('"')
        .next()?;
    Some(v.replace("&#x2f;", "/").replace("&amp;", "&"))
}

/// Bob's password sign-in on the auth host with a plain client (to see every
/// `Set-Cookie`), over HTTP or HTTPS; returns every `Set-Cookie` seen.
async fn sign_in_cookies(gw: &Gateway, https: bool) -> Vec<String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(WAIT);
    let (scheme, port) = if https {
        // The harness's certificate names the app hosts only; what is
        // tested here is the cookies, not the certificate.
        builder = builder
            .danger_accept_invalid_certs(true)
            .resolve(AUTH, gw.https);
        ("https", gw.https.port())
    } else {
        builder = builder.resolve(AUTH, gw.http);
        ("http", gw.http.port())
    };
    let client = builder.build().unwrap();
    let origin = format!("{scheme}://{AUTH}:{port}");
    let mut jar = BTreeMap::new();
    let mut all = Vec::new();
    let page = send(
        client
            .get(format!("{origin}/.portcullis/sign-in"))
            .header("accept", "text/html"),
    )
    .await;
    keep(&mut jar, &page);
    all.extend(page.set_cookies.clone());
    let mut body = page.body;
    for (path, fields) in [
        ("/.portcullis/sign-in", vec![("email", BOB)]),
        ("/.portcullis/sign-in/password", vec![("password", BOB_PW)]),
        ("/.portcullis/consent", vec![("answer", "accept")]),
    ] {
        // A second sign-in skips the consent already given.
        if path == "/.portcullis/consent" && !body.contains("/.portcullis/consent") {
            break;
        }
        assert!(
            field(&body, "csrf").is_some(),
            "no csrf on the page: {body}"
        );
        // The page's hidden fields, as a browser posts them.
        let hidden: Vec<(&str, String)> = ["csrf", "rd", "email", "idp"]
            .into_iter()
            .filter(|n| !fields.iter().any(|(k, _)| k == n))
            .filter_map(|n| Some((n, field(&body, n)?)))
            .collect();
        let mut form: Vec<(&str, &str)> = hidden.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.extend(fields);
        let mut r = send(
            client
                .post(format!("{origin}{path}"))
                .header("origin", &origin)
                .header("cookie", jar_header(&jar))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(&form)),
        )
        .await;
        keep(&mut jar, &r);
        all.extend(r.set_cookies.clone());
        // Follow redirects that stay on the auth host.
        while let Some(next) = r
            .location
            .clone()
            .filter(|l| l.starts_with('/') && !l.starts_with("//"))
        {
            r = send(
                client
                    .get(format!("{origin}{next}"))
                    .header("cookie", jar_header(&jar))
                    .header("accept", "text/html"),
            )
            .await;
            keep(&mut jar, &r);
            all.extend(r.set_cookies.clone());
        }
        body = r.body;
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_host_only_http_only_same_site_and_host_prefixed_on_https() {
    let (gw, _up) = start().await;
    let mut wrong = Vec::new();
    for https in [false, true] {
        let cookies = sign_in_cookies(&gw, https).await;
        assert!(
            cookies.iter().any(|c| c.contains("portcullis_session=")),
            "https={https}: the sign-in set no session cookie: {cookies:?}"
        );
        for c in &cookies {
            let attrs: Vec<String> = c
                .split(';')
                .skip(1)
                .map(|a| a.trim().to_ascii_lowercase())
                .collect();
            let has = |a: &str| {
                attrs
                    .iter()
                    .any(|x| x == a || x.starts_with(&format!("{a}=")))
            };
            // RFC 6265bis §4.1.2: HttpOnly (no script reads it), SameSite
            // (no cross-site sends: CSRF), Path=/ and no Domain (host-only).
            let mut missing = Vec::new();
            for a in ["httponly", "samesite", "path"] {
                if !has(a) {
                    missing.push(a);
                }
            }
            if has("domain") || !attrs.iter().any(|a| a == "path=/") {
                missing.push("host-only with Path=/");
            }
            if attrs.iter().any(|a| a == "samesite=none") {
                missing.push("SameSite other than None");
            }
            // RFC 6265bis §4.1.3.2: on HTTPS the `__Host-` prefix and Secure,
            // so no sibling domain or plain-HTTP page can plant it.
            if https && (!c.starts_with("__Host-") || !has("secure")) {
                missing.push("__Host- prefix and Secure");
            }
            if !missing.is_empty() {
                wrong.push(format!("https={https}: {c:?} lacks {missing:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every form endpoint of the portal, posted on the auth host.
const FORMS: &[&str] = &[
    "/.portcullis/sign-in",
    "/.portcullis/sign-in/password",
    "/.portcullis/sign-in/choose",
    "/.portcullis/sign-in/passcode",
    "/.portcullis/consent",
    "/.portcullis/mfa",
    "/.portcullis/sign-out",
    "/.portcullis/invite",
    "/.portcullis/sign-up",
    "/.portcullis/manage/app?name=wiki",
    "/.portcullis/sign-up/review?id=1",
    "/.portcullis/security",
];

/// CSRF (OWASP CSRF Prevention Cheat Sheet: synchroniser token plus Origin
/// check; login CSRF, Barth et al. 2008): every form refuses a post without
/// this browser's token, with another browser's token, from another origin
/// or from an opaque (`null`) origin — even from a signed-in browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_refuses_cross_site_posts() {
    let (gw, up) = start().await;
    let b = bob(&gw).await;
    let jar = b.cookies[AUTH].clone();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(WAIT)
        .resolve(AUTH, gw.http)
        .build()
        .unwrap();
    let origin = format!("http://{AUTH}:{}", gw.http.port());
    // Bob's own token, as his sign-in page carries it.
    let page = send(
        client
            .get(format!("{origin}/.portcullis/sign-in?reauth=1"))
            .header("cookie", jar_header(&jar))
            .header("accept", "text/html"),
    )
    .await;
    let token = field(&page.body, "csrf");
    // Another browser's token (valid for its own flow cookie only).
    let other = send(client.get(format!("{origin}/.portcullis/sign-in"))).await;
    let other_token = field(&other.body, "csrf").expect("csrf on a fresh sign-in page");
    let before = up.count();
    let mut wrong = Vec::new();
    let mut cases = 0;
    for path in FORMS {
        for (what, csrf, from) in [
            ("no token", None, Some(origin.as_str())),
            (
                "another browser's token",
                Some(other_token.as_str()),
                Some(origin.as_str()),
            ),
            (
                "cross-origin",
                token.as_deref(),
                Some("http://evil.example"),
            ),
            ("opaque origin", token.as_deref(), Some("null")),
            ("sibling origin", token.as_deref(), Some("http://wiki.test")),
        ] {
            cases += 1;
            let mut form = vec![
                ("email", BOB),
                ("password", BOB_PW),
                ("answer", "accept"),
                ("action", "revoke"),
            ];
            if let Some(t) = csrf {
                form.push(("csrf", t));
            }
            let mut rb = client
                .post(format!("{origin}{path}"))
                .header("cookie", jar_header(&jar))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(&form));
            if let Some(o) = from {
                rb = rb.header("origin", o);
            }
            let r = send(rb).await;
            let sets_session = r
                .set_cookies
                .iter()
                .any(|c| c.contains("portcullis_session=") && !c.contains("Max-Age=0"));
            let to_sign_in = r
                .location
                .as_deref()
                .is_some_and(|l| l.contains("/.portcullis/sign-in"));
            if !(r.status == 403 || (r.status == 302 && to_sign_in)) || sets_session {
                wrong.push(format!(
                    "{path} ({what}): {} location={:?} set-cookie={:?}",
                    r.status, r.location, r.set_cookies
                ));
            }
        }
    }
    // Bob is still signed in: no forged post signed him out.
    let still = send(
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve("wiki.test", gw.http)
            .build()
            .unwrap()
            .get(gw.url("wiki.test", "/after"))
            .header("cookie", jar_header(&b.cookies["wiki.test"])),
    )
    .await;
    assert!(
        wrong.is_empty(),
        "{} of {cases} forged posts accepted:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(still.status, 200, "a forged post signed Bob out");
    assert_eq!(up.count(), before + 1);
}

/// The admin API and metrics live only on the admin listener: the public
/// listener never serves them under any Host (OWASP API8: security
/// misconfiguration; DESIGN.md "never public"). On the admin listener the
/// token must match exactly, from one `Authorization` header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_is_never_public_and_its_token_must_match_exactly() {
    let (gw, up) = start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap();
    let admin = gw.admin.to_string();
    let public = gw.http.to_string();
    let mut wrong = Vec::new();
    let hosts = [
        AUTH.to_string(),
        "wiki.test".into(),
        admin.clone(),
        public.clone(),
        "localhost".into(),
        "127.0.0.1".into(),
    ];
    let paths = [
        "/api/v1/guests",
        "/api/v1/invitations",
        "/metrics",
        "/healthz",
        "/readyz",
        "/.portcullis/../api/v1/guests",
        "/%61pi/v1/guests",
    ];
    for host in &hosts {
        for path in paths {
            let r = send(
                client
                    .get(format!("http://{public}{path}"))
                    .header("host", host)
                    .header("authorization", format!("Bearer {ADMIN_TOKEN}")),
            )
            .await;
            if r.body.contains("\"guests\"")
                || r.body.contains("\"invitations\"")
                || r.body.contains("# TYPE portcullis_")
            {
                wrong.push(format!("public {host}{path}: {} {}", r.status, r.body));
            }
        }
    }
    // The admin token never reaches an app either.
    assert!(
        up.seen().iter().all(|s| s.all("authorization").is_empty()),
        "the admin bearer token was proxied"
    );

    let url = format!("http://{admin}/api/v1/guests");
    let ok = send(
        client
            .get(&url)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}")),
    )
    .await;
    assert_eq!(ok.status, 200, "control: {}", ok.body);
    let almost: Vec<(&str, Vec<String>)> = vec![
        ("no header", vec![]),
        ("empty bearer", vec!["Bearer ".into()]),
        (
            "prefix of the token",
            vec![format!("Bearer {}", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1])],
        ),
        ("token plus a byte", vec![format!("Bearer {ADMIN_TOKEN}x")]),
        (
            "token in upper case",
            vec![format!("Bearer {}", ADMIN_TOKEN.to_uppercase())],
        ),
        (
            "last byte changed",
            vec![format!("Bearer {}8", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1])],
        ),
        (
            "first byte changed",
            vec![format!("Bearer u{}", &ADMIN_TOKEN[1..])],
        ),
        ("Basic with the token", vec![format!("Basic {ADMIN_TOKEN}")]),
        ("token without scheme", vec![ADMIN_TOKEN.to_string()]),
        (
            "token with a NUL suffix",
            vec![format!("Bearer {ADMIN_TOKEN}%00")],
        ),
        (
            "a wrong and the right header",
            vec!["Bearer wrong".into(), format!("Bearer {ADMIN_TOKEN}")],
        ),
        (
            "the right and a wrong header",
            vec![format!("Bearer {ADMIN_TOKEN}"), "Bearer wrong".into()],
        ),
    ];
    for (what, headers) in &almost {
        let mut rb = client.get(&url);
        for h in headers {
            rb = rb.header("authorization", h.as_str());
        }
        let r = send(rb).await;
        if r.status != 401 {
            wrong.push(format!("admin {what}: {}", r.status));
        }
    }
    let r = send(client.get(format!("{url}?token={ADMIN_TOKEN}"))).await;
    if r.status != 401 {
        wrong.push(format!("admin token in the query: {}", r.status));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Host-header poisoning (PortSwigger "HTTP Host header attacks"): links
/// the gateway generates — the sign-in redirect from an app host, the
/// hand-off back to the app, the passcode mail's text — use the configured
/// hosts; a request's `Host` (or `X-Forwarded-Host`) cannot make them point
/// elsewhere, and an unknown `Host` is not served at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_links_ignore_a_poisoned_host() {
    let (gw, up) = start().await;
    let port = gw.http.port();
    let mut wrong = Vec::new();
    let poisons: &[(&str, &[&str])] = &[
        ("evil.example", &[]),
        ("wiki.test@evil.example", &[]),
        ("evil.example#wiki.test", &[]),
        ("wiki.test", &["X-Forwarded-Host: evil.example"]),
        ("wiki.test", &["X-Host: evil.example"]),
        ("wiki.test", &["Forwarded: host=evil.example"]),
        ("wiki.test:1@evil.example", &[]),
        ("auth.test", &["X-Forwarded-Host: evil.example"]),
    ];
    for (host, extra) in poisons {
        for path in [
            "/.portcullis/sign-in?rd=/x",
            "/private",
            "/.portcullis/mfa?rd=/x",
        ] {
            let host_line = if host.contains(':') {
                host.to_string()
            } else {
                format!("{host}:{port}")
            };
            let mut headers = vec!["Accept: text/html"];
            headers.extend_from_slice(extra);
            let r =
                support::raw::send(gw.http, &support::raw::get(path, &host_line, &headers)).await;
            let text = format!("{}\n{}", r.head, r.body);
            if text.contains("evil.example") {
                wrong.push(format!("Host {host_line} {extra:?} {path}: {text}"));
            }
        }
    }
    // The passcode mail, requested with a poisoned forwarding header, names
    // only the configured sign-in host.
    let frank = gw
        .add_user(
            "frank@contoso.example",
            portcullis::session::UserType::Guest,
        )
        .await;
    gw.assign(
        &frank,
        "wiki",
        Some(time::OffsetDateTime::now_utc() + time::Duration::days(1)),
    )
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(WAIT)
        .resolve(AUTH, gw.http)
        .build()
        .unwrap();
    let origin = format!("http://{AUTH}:{port}");
    let page = send(client.get(format!("{origin}/.portcullis/sign-in"))).await;
    let mut jar = BTreeMap::new();
    keep(&mut jar, &page);
    let csrf = field(&page.body, "csrf").unwrap();
    let r = send(
        client
            .post(format!("{origin}/.portcullis/sign-in"))
            .header("origin", &origin)
            .header("x-forwarded-host", "evil.example")
            .header("forwarded", "host=evil.example")
            .header("cookie", jar_header(&jar))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[
                ("csrf", csrf.as_str()),
                ("email", "frank@contoso.example"),
            ])),
    )
    .await;
    assert!(r.status < 500, "{}", r.body);
    // Sent after the answer: wait (bounded) for it.
    let mails: Vec<String> = poll(WAIT, || async {
        let mails: Vec<String> = std::fs::read_dir(gw.path("outbox"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        (!mails.is_empty()).then_some(mails)
    })
    .await
    .map(|(mails, _)| mails)
    .unwrap_or_default();
    assert!(!mails.is_empty(), "no passcode mail was written");
    for m in &mails {
        if m.contains("evil.example") {
            wrong.push(format!("passcode mail: {m}"));
        }
    }
    assert_eq!(up.count(), 0, "nothing was proxied");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The text of every mail to `to` so far (the outbox).
fn mail_texts(gw: &Gateway, to: &str) -> Vec<String> {
    let mails: Vec<String> = std::fs::read_dir(gw.path("outbox"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    support::smtp::texts_to(&mails, to)
}

/// Every 8-digit code mailed to `to`, once there are at least `n`
/// (passcodes are sent after the answer; the wait is bounded).
async fn wait_for_codes(gw: &Gateway, to: &str, n: usize) -> Vec<String> {
    poll(WAIT, || async {
        let codes = mailed_codes(gw, to);
        (codes.len() >= n).then_some(codes)
    })
    .await
    .map(|(codes, _)| codes)
    .unwrap_or_else(|| panic!("{n} mailed codes for {to}: {:?}", mailed_codes(gw, to)))
}

/// Every 8-digit code mailed to `to` so far.
fn mailed_codes(gw: &Gateway, to: &str) -> Vec<String> {
    mail_texts(gw, to)
        .iter()
        .filter_map(|body| {
            body.split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 8)
                .map(str::to_string)
        })
        .collect()
}

/// A fresh sign-in as `email` up to the passcode page: the client, the
/// flow cookie jar and the page's hidden fields.
async fn passcode_page(
    gw: &Gateway,
    email: &str,
) -> (reqwest::Client, String, Vec<(String, String)>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(WAIT)
        .resolve(AUTH, gw.http)
        .build()
        .unwrap();
    let origin = format!("http://{AUTH}:{}", gw.http.port());
    let page = send(client.get(format!("{origin}/.portcullis/sign-in"))).await;
    let mut jar = BTreeMap::new();
    keep(&mut jar, &page);
    let csrf = field(&page.body, "csrf").unwrap();
    let r = send(
        client
            .post(format!("{origin}/.portcullis/sign-in"))
            .header("origin", &origin)
            .header("cookie", jar_header(&jar))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("csrf", csrf.as_str()), ("email", email)])),
    )
    .await;
    keep(&mut jar, &r);
    assert!(r.body.contains("Enter your code"), "{}", r.body);
    let hidden = ["csrf", "rd", "email", "idp"]
        .into_iter()
        .filter_map(|n| Some((n.to_string(), field(&r.body, n)?)))
        .collect();
    (client, jar_header(&jar), hidden)
}

/// Posts `code` on the passcode form `n` times at once; returns how many
/// posts signed in (set a session cookie or went on to consent).
async fn race_codes(
    gw: &Gateway,
    client: &reqwest::Client,
    cookie: &str,
    hidden: &[(String, String)],
    codes: &[String],
) -> (usize, Vec<u16>) {
    let url = format!(
        "http://{AUTH}:{}/.portcullis/sign-in/passcode",
        gw.http.port()
    );
    let origin = format!("http://{AUTH}:{}", gw.http.port());
    let posts = codes.iter().map(|code| {
        let mut form: Vec<(&str, &str)> = hidden
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form.push(("code", code.as_str()));
        send(
            client
                .post(&url)
                .header("origin", &origin)
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(&form)),
        )
    });
    let answers = futures_util::future::join_all(posts).await;
    let wins = answers
        .iter()
        .filter(|r| {
            r.set_cookies
                .iter()
                .any(|c| c.contains("portcullis_session=") && !c.contains("Max-Age=0"))
                || r.body.contains("Review permissions")
        })
        .count();
    (wins, answers.iter().map(|r| r.status).collect())
}

/// Passcode replay, races and brute force (OWASP Authentication Cheat
/// Sheet; CWE-367 time-of-check/time-of-use on a one-time secret): ten
/// concurrent posts of the right code sign in exactly once; ten concurrent
/// wrong guesses all count against `max_attempts: 3`, so the right code
/// after them is refused; a used code is refused in another browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passcodes_are_single_use_under_races_and_brute_force() {
    let (gw, up) = start().await;
    let email = "frank@contoso.example";
    let frank = gw
        .add_user(email, portcullis::session::UserType::Guest)
        .await;
    gw.assign(
        &frank,
        "wiki",
        Some(time::OffsetDateTime::now_utc() + time::Duration::days(1)),
    )
    .await;

    let (client, cookie, hidden) = passcode_page(&gw, email).await;
    let codes = wait_for_codes(&gw, email, 1).await;
    assert_eq!(codes.len(), 1, "one code mailed");
    let code = codes[0].clone();
    let (wins, statuses) =
        race_codes(&gw, &client, &cookie, &hidden, &vec![code.clone(); 10]).await;
    assert_eq!(wins, 1, "10 concurrent posts of one code: {statuses:?}");

    // Replayed from another browser.
    let (client2, cookie2, hidden2) = passcode_page(&gw, email).await;
    let (wins, statuses) = race_codes(
        &gw,
        &client2,
        &cookie2,
        &hidden2,
        std::slice::from_ref(&code),
    )
    .await;
    assert_eq!(wins, 0, "a used code in another browser: {statuses:?}");

    // Brute force at once: more wrong guesses than allowed, concurrently,
    // then the right code.
    let (client3, cookie3, hidden3) = passcode_page(&gw, email).await;
    // The three codes so far (one per passcode page) have all arrived.
    let fresh = wait_for_codes(&gw, email, 3)
        .await
        .into_iter()
        .find(|c| *c != code && !c.is_empty())
        .expect("a new code");
    let guesses: Vec<String> = (0..10).map(|i| format!("{:08}", 10_000_000 + i)).collect();
    let (wins, statuses) = race_codes(&gw, &client3, &cookie3, &hidden3, &guesses).await;
    assert_eq!(wins, 0, "wrong guesses: {statuses:?}");
    let latest: Vec<String> = mailed_codes(&gw, email);
    let mut after = Vec::new();
    for c in latest.iter().filter(|c| **c != code) {
        let (wins, _) =
            race_codes(&gw, &client3, &cookie3, &hidden3, std::slice::from_ref(c)).await;
        after.push(wins);
    }
    assert!(
        after.iter().all(|w| *w == 0),
        "a right code ({fresh}) worked after 10 concurrent wrong guesses with max_attempts 3"
    );
    assert_eq!(up.count(), 0);
}

/// A client on the sign-in page, ready to ask for codes: the client, the
/// flow cookie and the form's CSRF token.
async fn passcode_client(gw: &Gateway) -> (reqwest::Client, String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(WAIT)
        .resolve(AUTH, gw.http)
        .build()
        .unwrap();
    let origin = format!("http://{AUTH}:{}", gw.http.port());
    let page = send(client.get(format!("{origin}/.portcullis/sign-in"))).await;
    let mut jar = BTreeMap::new();
    keep(&mut jar, &page);
    let csrf = field(&page.body, "csrf").unwrap();
    (client, jar_header(&jar), csrf)
}

/// Asks for a passcode for each of `emails` at once, as a client at `ip`
/// behind the trusted proxy (`None`: the peer itself); the statuses.
async fn ask_for_codes(
    gw: &Gateway,
    (client, cookie, csrf): &(reqwest::Client, String, String),
    ip: Option<&str>,
    emails: &[String],
) -> Vec<u16> {
    let origin = format!("http://{AUTH}:{}", gw.http.port());
    let posts = emails.iter().map(|email| {
        let mut rb = client
            .post(format!("{origin}/.portcullis/sign-in/passcode"))
            .header("origin", &origin)
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("csrf", csrf.as_str()), ("email", email)]));
        if let Some(ip) = ip {
            rb = rb.header("x-forwarded-for", ip);
        }
        send(rb)
    });
    let answers = futures_util::future::join_all(posts).await;
    answers.iter().map(|r| r.status).collect()
}

/// Issue 14, finding 6 ("the passcode rate limiter writes a store row per
/// address even after the client is over its limit"): passcode requests from one IP, each for another address, wrote one
/// rate-limit counter per request even after the client was refused (500
/// requests: 495 × 429 and 500 new rows). Now the client's limit is checked
/// first and a refused request writes no counter: 100 requests make the
/// client's counter and one per address let through, and nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_passcode_limit_adds_no_counters() {
    let (gw, _up) = start_with(", passcode: { per_ip: 5 }").await;
    let form = passcode_client(&gw).await;
    let before = gw.store.rate_limit_counters().await.unwrap();
    let mut statuses = Vec::new();
    for batch in 0..10 {
        let emails: Vec<String> = (0..10)
            .map(|i| format!("probe{batch}-{i}@contoso.example"))
            .collect();
        statuses.extend(ask_for_codes(&gw, &form, None, &emails).await);
    }
    let sent = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((sent, refused), (5, 95), "{statuses:?}");
    let after = gw.store.rate_limit_counters().await.unwrap();
    assert_eq!(
        after - before,
        1 + 5,
        "counters: the client's and the 5 addresses let through, not one per request"
    );
    // Another 100 refused requests change nothing.
    let emails: Vec<String> = (0..100)
        .map(|i| format!("again{i}@contoso.example"))
        .collect();
    let statuses = ask_for_codes(&gw, &form, None, &emails).await;
    assert!(statuses.iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(gw.store.rate_limit_counters().await.unwrap(), after);
}

/// Issue 14, finding 7 ("per-IP limits are keyed on the full IPv6
/// address"): per-IP limits were keyed on the full IPv6 address, so 30 addresses of
/// one /64 each got the whole allowance. Now a /64 is one client (by
/// default); another /64 has its own allowance, and IPv4 stays per address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_addresses_of_one_64_share_one_passcode_allowance() {
    let (gw, _up) = start_with_top(
        ", passcode: { per_ip: 5 }",
        "trusted_proxies: [127.0.0.1/32]\n",
    )
    .await;
    let form = passcode_client(&gw).await;
    let mut statuses = Vec::new();
    for n in 1..=30 {
        let ip = format!("2001:db8:1:2::{n:x}");
        let email = vec![format!("six{n}@contoso.example")];
        statuses.extend(ask_for_codes(&gw, &form, Some(&ip), &email).await);
    }
    let sent = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(sent, 5, "30 addresses of 2001:db8:1:2::/64: {statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");

    // The next /64 is another client, with its own five.
    let emails: Vec<String> = (0..6).map(|n| format!("next{n}@contoso.example")).collect();
    let statuses = ask_for_codes(&gw, &form, Some("2001:db8:1:3::1"), &emails[..5]).await;
    assert_eq!(statuses, [200; 5], "2001:db8:1:3::/64");
    let statuses = ask_for_codes(&gw, &form, Some("2001:db8:1:3::2"), &emails[5..]).await;
    assert_eq!(statuses, [429], "2001:db8:1:3::/64, sixth code");

    // IPv4 clients are still one address each: 198.51.100.7 used up its
    // five, 198.51.100.8 has its own.
    let emails: Vec<String> = (0..6).map(|n| format!("v4{n}@contoso.example")).collect();
    let mut statuses = Vec::new();
    for email in &emails {
        statuses.extend(
            ask_for_codes(
                &gw,
                &form,
                Some("198.51.100.7"),
                std::slice::from_ref(email),
            )
            .await,
        );
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429], "198.51.100.7");
    // (Another address: asking again for v40@ within `resend_after` would
    // be told to wait, whoever asks.)
    let other = ask_for_codes(
        &gw,
        &form,
        Some("198.51.100.8"),
        &["v4-other@contoso.example".to_string()],
    )
    .await;
    assert_eq!(other, [200], "198.51.100.8");
}

/// Invitation replay and races (CWE-367; OWASP "Testing for Race
/// Conditions"): the invited person accepting the link in ten requests at
/// once redeems it exactly once; afterwards the link says it was used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_is_redeemed_once_under_concurrent_accepts() {
    let (gw, _up) = start().await;
    let b = bob(&gw).await;
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let r = http
        .post(format!("http://{}/api/v1/invitations", gw.admin))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "email": BOB, "apps": ["docs"], "inviter": "Alice" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let link = mail_texts(&gw, BOB)
        .iter()
        .find_map(|t| {
            t.split_whitespace()
                .find(|w| w.contains("/.portcullis/invite?token="))
                .map(str::to_string)
        })
        .expect("an invitation link in the mail");
    // The mail links to the HTTPS listener; the browser's cookies here are
    // the plain-HTTP listener's.
    let token = link.split("token=").nth(1).unwrap().to_string();
    let link = gw.url(AUTH, &format!("/.portcullis/invite?token={token}"));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(WAIT)
        .resolve(AUTH, gw.http)
        .build()
        .unwrap();
    let cookie = jar_header(&b.cookies[AUTH]);
    let accepts = (0..10).map(|_| {
        send(
            client
                .get(format!("{link}&accept=1"))
                .header("cookie", &cookie)
                .header("accept", "text/html"),
        )
    });
    let answers = futures_util::future::join_all(accepts).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    let wins = answers
        .iter()
        .filter(|r| r.status == 302 && !r.location.as_deref().unwrap_or("").contains("sign-in"))
        .count();
    assert_eq!(wins, 1, "10 concurrent accepts: {statuses:?}");
    let again = send(client.get(&link).header("cookie", &cookie)).await;
    assert!(
        again.status >= 400,
        "a used link: {} {}",
        again.status,
        again.body
    );
}
