//! A partner's whole journey in a real browser: headless Chromium (Debian's
//! `/usr/bin/chromium`, driven by playwright-core in `tests/browser/journey.mjs`)
//! against the real `portcullis serve`, a real OpenID Provider for
//! partner.example and an upstream that echoes the identity headers it gets.
//! The browser signs in at the partner's IdP, consents, enrolls TOTP, reaches
//! app 1 and then app 2 without signing in again, and signs out; then an
//! address no IdP serves meets the e-mailed code page, and an unknown host
//! its error page. A laptop and a phone screenshot of every page is kept in
//! `target/browser-artifacts/<test>/`, and axe-core checks every page of the
//! gateway's own (no serious or critical WCAG 2 A/AA violation).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use portcullis::session::UserType;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::chromium;
use support::gateway::{Gateway, app, free_port};
use support::op::{CLIENT_ID, CLIENT_SECRET, Op};
use time::OffsetDateTime;
use tokio::net::TcpListener;

const AUTH: &str = "auth.test";
const PARTNER: &str = "pia@partner.example";
const PARTNER_PW: &str = "pia-password-1";
/// The whole journey, browser start-up included.
const JOURNEY_LIMIT: Duration = Duration::from_secs(120);

const RULES: &str = "\
policies:
  - name: wiki-needs-mfa
    users: { include: [all] }
    apps: { include: [wiki] }
    grant: { require: [mfa] }
";

/// Every page of the journey (a laptop and a `-phone` screenshot each).
const SCREENSHOTS: [&str; 12] = [
    "01-sign-in",
    "02-idp-login",
    "03-consent",
    "04-mfa-enroll",
    "05-recovery-codes",
    "06-app1",
    "07-app2",
    "08-signed-out",
    "09-sign-in-again",
    "10-passcode",
    "11-passcode-wrong",
    "12-not-found",
];

/// The pages that are not the gateway's own (the IdP's, the app's): not
/// checked with axe-core.
const NOT_OURS: [&str; 3] = ["02-idp-login", "06-app1", "07-app2"];

/// An upstream that answers every request with an HTML page showing the
/// `x-portcullis-*` headers it received as JSON in `<pre id="identity">`.
async fn echo_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    Ok::<_, Infallible>(identity_page(&req))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

fn identity_page(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-portcullis-"))
        .map(|(n, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (n.as_str().to_string(), serde_json::Value::String(v))
        })
        .collect();
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("?");
    let json = serde_json::to_string_pretty(&headers).unwrap();
    let html = format!(
        "<!doctype html><title>{host}</title><h1>App at {host}</h1>\
         <p>Path: {}</p><p>The gateway sent these identity headers:</p>\
         <pre id=\"identity\" style=\"white-space:pre-wrap;word-break:break-all\">{}</pre>",
        escape(&req.uri().to_string()),
        escape(&json)
    );
    Response::builder()
        .header("content-type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(html)))
        .unwrap()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A guest from partner.example, invited to wiki and docs: opens wiki,
/// signs in at their own IdP, consents, enrolls TOTP (wiki asks for MFA),
/// sees wiki with their identity headers, opens docs without signing in
/// again, signs out, and wiki asks them to sign in again.
#[tokio::test]
async fn partner_journey_in_chromium() {
    run_journey("partner_journey_in_chromium", false, false, None).await;
}

/// The same partner, invited from the CLI: the link from the e-mail in the
/// outbox → the invitation page → sign-in at their IdP → consent → the apps
/// page → app 1 → MFA → … → sign-out (issue 6).
#[tokio::test]
async fn invited_partner_follows_the_emailed_link_in_chromium() {
    run_journey(
        "invited_partner_follows_the_emailed_link_in_chromium",
        true,
        false,
        None,
    )
    .await;
}

/// The invited partner's organisation is an Entra ID tenant (issue 15):
/// `preset: microsoft` through the multi-tenant `organizations` authority
/// (discovery read from the loopback OP), an ID token shaped as Entra's (the
/// tenant's own issuer, `tid`, `oid`, `xms_edov` and no `email_verified`,
/// no RFC 9207 `iss`), the same journey end to end.
#[tokio::test]
async fn invited_entra_guest_follows_the_emailed_link_in_chromium() {
    run_journey(
        "invited_entra_guest_follows_the_emailed_link_in_chromium",
        true,
        true,
        None,
    )
    .await;
}

/// The same journey in German (issue 17): Chromium asks for
/// `Accept-Language: de`; every page of the gateway's own, the proxy's
/// unknown-host page included, is `<html lang="de">`, shows its German
/// words and none of the English ones of the English journey.
#[tokio::test]
async fn partner_journey_in_german_in_chromium() {
    run_journey(
        "partner_journey_in_german_in_chromium",
        false,
        false,
        Some(GERMAN),
    )
    .await;
}

/// The German journey: the words it looks for, the words each page must
/// show, and the English words no page may show.
struct Language {
    accept_language: &'static str,
    words: &'static [(&'static str, &'static str)],
    /// (page, a German phrase it shows)
    present: &'static [(&'static str, &'static str)],
    absent: &'static [&'static str],
}

const GERMAN: &Language = &Language {
    accept_language: "de",
    words: &[
        ("sign_in", "Anmelden"),
        ("consent", "Berechtigungen prüfen"),
        ("enroll", "Bestätigung in zwei Schritten einrichten"),
        ("qr_alt", "QR-Code"),
        ("recovery", "Wiederherstellungscodes speichern"),
        ("continue", "Weiter"),
        ("signed_out", "Sie sind abgemeldet"),
        ("code", "Code eingeben"),
        ("wrong_code", "Dieser Code stimmt nicht"),
    ],
    present: &[
        ("01-sign-in", "Ihre geschäftliche oder schulische E-Mail-Adresse"),
        ("03-consent", "erhält aus Ihrer Anmeldung"),
        ("04-mfa-enroll", "Scannen Sie diesen Code"),
        ("05-recovery-codes", "Bewahren Sie sie sicher auf"),
        ("08-signed-out", "Erneut bei docs app anmelden"),
        ("09-sign-in-again", "weiter zu"),
        ("10-passcode", "Andere Adresse verwenden"),
        ("11-passcode-wrong", "Dieser Code stimmt nicht."),
        ("12-not-found", "Unter dieser Adresse gibt es keine App."),
    ],
    absent: &[
        "Sign in",
        "Sign out",
        "Your work or school e-mail",
        "never sees your password",
        "to continue to",
        "Review permissions",
        "will receive from your sign-in",
        "your e-mail address",
        "Accept",
        "Cancel",
        "Set up two-step verification",
        "Scan this code",
        "On this phone?",
        "Or type this key",
        "Verify",
        "Save your recovery codes",
        "keep them somewhere safe",
        "Continue",
        "You are signed out",
        "Enter your code",
        "we have sent a code",
        "No code?",
        "Use another address",
        "Send a new code",
        "after 30 seconds",
        "That code is not right",
        "tries left",
        "Not found",
        "There is no app at this address",
        "What you can do",
        "Your apps",
        "Request id",
        "quote the request id",
    ],
};

/// An Entra tenant of the partner (`entra` journeys).
const PARTNER_TENANT: &str = "3c4d5e6f-0000-4a1b-8c2d-0123456789ab";

async fn run_journey(name: &str, invited: bool, entra: bool, language: Option<&Language>) {
    chromium::assert_installed();
    let shots = chromium::artifacts(name);
    let started = OffsetDateTime::now_utc() - time::Duration::seconds(1);

    let up = echo_upstream().await.to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("op.secret"), format!("{CLIENT_SECRET}\n")).unwrap();
    let op_port = free_port();
    let idps = if entra {
        format!(
            "  - {{ name: partner, type: oidc, preset: microsoft, \
             discovery_url: \"http://127.0.0.1:{op_port}/.well-known/openid-configuration\", \
             client_id: {CLIENT_ID}, client_secret_file: op.secret, domains: [partner.example] }}\n"
        )
    } else {
        format!(
            "  - {{ name: partner, type: oidc, issuer: \"http://127.0.0.1:{op_port}\", client_id: {CLIENT_ID}, \
             client_secret_file: op.secret, domains: [partner.example] }}\n"
        )
    };
    let top = format!(
        "sign_in: {{ host: {AUTH} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n"
    );
    let apps: Vec<_> = ["wiki", "docs"]
        .iter()
        .map(|n| app(n, std::slice::from_ref(&up), &format!("title: {n} app")))
        .collect();
    let gw = Gateway::start_configured(dir, &apps, RULES, &[], &idps, &top).await;
    let callback = format!("http://{AUTH}:{}/.portcullis/callback", gw.http.port());
    let accounts = format!(
        r#"{{ "{PARTNER}": {{ "password": "{PARTNER_PW}", "name": "Pia", "email_verified": true }} }}"#
    );
    // Not trusted for MFA: Portcullis asks for its own TOTP.
    let _op = if entra {
        let accounts = format!(
            r#"{{ "{PARTNER}": {{ "password": "{PARTNER_PW}", "name": "Pia", "email_verified": null,
                 "claims": {{ "tid": "{PARTNER_TENANT}", "oid": "0000aaaa-0000-0000-0000-0000000000b1", "ver": "2.0", "xms_edov": true }} }} }}"#
        );
        Op::start_shaped(
            gw.dir.path(),
            op_port,
            "https://login.microsoftonline.com/{tenantid}/v2.0",
            &accounts,
            "pwd",
            &callback,
            &[
                "--conform-id-token-claims",
                "false",
                "--iss-response",
                "false",
            ],
        )
    } else {
        Op::start(gw.dir.path(), op_port, &accounts, "pwd", &callback)
    };

    let mut invitation = None;
    let pia = if invited {
        let config = gw.path("portcullis.yaml");
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["invite", "--config"])
            .arg(&config)
            .args([
                "--email", PARTNER, "--app", "wiki", "--app", "docs", "--days", "7",
            ])
            .args(["--inviter", "Alice", "--message", "Welcome to the wiki"])
            .stdin(Stdio::null())
            .output()
            .expect("run portcullis invite");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mail = std::fs::read_dir(gw.path("outbox"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| std::fs::read(e.path()).unwrap())
            .next()
            .expect("the invitation in the outbox");
        let parsed = mailparse::parse_mail(&mail).unwrap();
        let text = parsed
            .subparts
            .iter()
            .find(|p| p.ctype.mimetype == "text/plain")
            .and_then(|p| p.get_body().ok())
            .unwrap();
        let link = text
            .split_whitespace()
            .find(|w| w.contains("/.portcullis/invite?token="))
            .expect("a link in the mail")
            .to_string();
        // Built from the config (HTTPS preferred); Chromium here talks to
        // the HTTP listener.
        let https = format!("https://{AUTH}:{}", gw.https.port());
        assert!(link.starts_with(&https), "{link}");
        invitation = Some(link.replace(&https, &gw.url(AUTH, "")));
        gw.store
            .get_user_by_email(PARTNER)
            .await
            .unwrap()
            .expect("the invitation made the guest")
            .id
    } else {
        let until = OffsetDateTime::now_utc() + time::Duration::days(7);
        let pia = gw.add_user(PARTNER, UserType::Guest).await;
        gw.assign(&pia, "wiki", Some(until)).await;
        gw.assign(&pia, "docs", Some(until)).await;
        pia
    };

    let port = gw.http.port();
    let input = serde_json::json!({
        "port": port,
        // From the apps page the partner lands on the app's start page.
        "app1": gw.url("wiki.test", if invited { "/" } else { "/reports?q=1" }),
        "app2": gw.url("docs.test", "/"),
        "auth_host": AUTH,
        "idp_origin": format!("http://127.0.0.1:{op_port}"),
        "email": PARTNER,
        "password": PARTNER_PW,
        "screenshots": shots,
        "timeout_ms": 10_000,
        "invitation": invitation,
        "accept_language": language.map(|l| l.accept_language),
        "words": language.map(|l| l.words.iter().copied().collect::<std::collections::HashMap<_, _>>()),
    });
    let input_file = gw.path("journey.json");
    std::fs::write(&input_file, input.to_string()).unwrap();

    let t = Instant::now();
    let (ok, stdout, stderr) = chromium::run("journey.mjs", &input_file, JOURNEY_LIMIT).await;
    eprintln!(
        "browser journey: {:.1} s; screenshots in {}\n{stdout}",
        t.elapsed().as_secs_f64(),
        shots.display()
    );
    assert!(
        ok,
        "the browser journey failed (screenshots in {}):\n{stderr}\n{stdout}",
        shots.display()
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("journey summary is not JSON ({e}): {stdout}"));
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["app1_identity"]["x-portcullis-email"], PARTNER);
    assert_eq!(summary["app1_identity"]["x-portcullis-user-type"], "guest");
    let extra: &[&str] = if invited { &["00-invitation"] } else { &[] };
    // An accepted invitation goes to the IdP without the sign-in page.
    let skipped: &[&str] = if invited { &["01-sign-in"] } else { &[] };
    for page in SCREENSHOTS
        .iter()
        .filter(|p| !skipped.contains(p))
        .chain(extra)
    {
        for name in [format!("{page}.png"), format!("{page}-phone.png")] {
            let len = std::fs::metadata(shots.join(&name))
                .unwrap_or_else(|e| panic!("screenshot {name}: {e}"))
                .len();
            assert!(len > 1000, "screenshot {name} is only {len} bytes");
        }
        // axe-core ran on each of our pages (the journey fails on a serious
        // or critical violation; lesser ones are reported here).
        if !NOT_OURS.contains(page) {
            let found = &summary["axe"][page];
            assert!(found.is_array(), "axe-core did not check {page}: {summary}");
        }
    }

    if let Some(language) = language {
        let texts = &summary["texts"];
        for (page, phrase) in language.present {
            let text = texts[page].as_str().unwrap_or_else(|| panic!("no text of {page}: {summary}"));
            assert!(text.contains(phrase), "{page} does not say {phrase:?}:\n{text}");
        }
        for page in SCREENSHOTS.iter().filter(|p| !NOT_OURS.contains(p)) {
            let text = texts[page].as_str().unwrap_or_else(|| panic!("no text of {page}: {summary}"));
            for english in language.absent {
                assert!(!text.contains(english), "{page} still says {english:?}:\n{text}");
            }
            assert_eq!(
                texts[format!("{page}-lang")].as_str(),
                Some(language.accept_language),
                "<html lang> of {page}"
            );
        }
    }
    // What the server kept: the consent, a confirmed TOTP factor, no live
    // session after sign-out (each one revoked).
    let user = gw.store.get_user_by_email(PARTNER).await.unwrap().unwrap();
    assert_eq!(user.id, pia, "the invited guest was linked, not duplicated");
    if entra {
        // Keyed by the tenant and the object id, not the per-app `sub`.
        assert_eq!(
            user.identity.map(|i| i.subject),
            Some(format!(
                "{PARTNER_TENANT}|0000aaaa-0000-0000-0000-0000000000b1"
            ))
        );
    }
    let consent = gw.store.consent_of(&pia).await.unwrap();
    assert!(consent.is_some(), "no consent recorded");
    let factor = gw.store.get_totp_factor(&pia).await.unwrap();
    assert!(
        factor.as_ref().is_some_and(|f| f.confirmed_at.is_some()),
        "no confirmed TOTP factor"
    );
    let now = OffsetDateTime::now_utc();
    let live = gw.store.sessions_of_user(&pia, now).await.unwrap();
    assert!(
        live.is_empty(),
        "sessions still live after sign-out: {live:?}"
    );
    let revoked = gw.store.revocations_since(started).await.unwrap();
    assert!(!revoked.is_empty(), "sign-out revoked no session");
}
