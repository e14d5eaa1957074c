//! A partner's whole journey in a real browser: headless Chromium (Debian's
//! `/usr/bin/chromium`, driven by playwright-core in `tests/browser/journey.mjs`)
//! against the real `portcullis serve`, a real OpenID Provider for
//! partner.example and an upstream that echoes the identity headers it gets.
//! The browser signs in at the partner's IdP, consents, enrolls TOTP, reaches
//! app 1 and then app 2 without signing in again, and signs out. A
//! screenshot of every page is kept in `target/browser-artifacts/<test>/`.
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
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::gateway::{Gateway, app, free_port};
use support::op::{CLIENT_ID, CLIENT_SECRET, Op};
use time::OffsetDateTime;
use tokio::net::TcpListener;

const CHROMIUM: &str = "/usr/bin/chromium";
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

const SCREENSHOTS: [&str; 9] = [
    "01-sign-in.png",
    "02-idp-login.png",
    "03-consent.png",
    "04-mfa-enroll.png",
    "05-recovery-codes.png",
    "06-app1.png",
    "07-app2.png",
    "08-signed-out.png",
    "09-sign-in-again.png",
];

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

/// `target/browser-artifacts/<test>/`, emptied first; kept after the test.
fn artifacts(test: &str) -> PathBuf {
    let root = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = root.join("browser-artifacts").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `node tests/browser/journey.mjs INPUT`; kills it after `limit`.
/// Returns its exit success, stdout and stderr.
async fn journey(input: &Path, limit: Duration) -> (bool, String, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/journey.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(input)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is installed");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() >= deadline {
            // SIGTERM first: playwright closes the browser it launched (in
            // its own process group) on SIGTERM; then SIGKILL after 3 s.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let grace = Instant::now() + Duration::from_secs(3);
            while Instant::now() < grace && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the browser journey took more than {limit:?} and was killed:\n{}",
                stderr.join().unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    (
        status.success(),
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    )
}

/// A guest from partner.example, invited to wiki and docs: opens wiki,
/// signs in at their own IdP, consents, enrolls TOTP (wiki asks for MFA),
/// sees wiki with their identity headers, opens docs without signing in
/// again, signs out, and wiki asks them to sign in again.
#[tokio::test]
async fn partner_journey_in_chromium() {
    run_journey("partner_journey_in_chromium", false).await;
}

/// The same partner, invited from the CLI: the link from the e-mail in the
/// outbox → the invitation page → sign-in at their IdP → consent → the apps
/// page → app 1 → MFA → … → sign-out (issue 6).
#[tokio::test]
async fn invited_partner_follows_the_emailed_link_in_chromium() {
    run_journey("invited_partner_follows_the_emailed_link_in_chromium", true).await;
}

async fn run_journey(name: &str, invited: bool) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/setup (it installs Debian's chromium)"
    );
    let idp_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/idp");
    assert!(
        idp_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run scripts/test-deps"
    );
    let shots = artifacts(name);
    let started = OffsetDateTime::now_utc() - time::Duration::seconds(1);

    let up = echo_upstream().await.to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("op.secret"), format!("{CLIENT_SECRET}\n")).unwrap();
    let op_port = free_port();
    let idps = format!(
        "  - {{ name: partner, type: oidc, issuer: \"http://127.0.0.1:{op_port}\", client_id: {CLIENT_ID}, \
         client_secret_file: op.secret, domains: [partner.example] }}\n"
    );
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
    let _op = Op::start(gw.dir.path(), op_port, &accounts, "pwd", &callback);

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
    });
    let input_file = gw.path("journey.json");
    std::fs::write(&input_file, input.to_string()).unwrap();

    let t = Instant::now();
    let (ok, stdout, stderr) = journey(&input_file, JOURNEY_LIMIT).await;
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
    let extra: &[&str] = if invited {
        &["00-invitation.png", "03b-apps.png"]
    } else {
        &[]
    };
    for name in SCREENSHOTS.iter().chain(extra) {
        let len = std::fs::metadata(shots.join(name))
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"))
            .len();
        assert!(len > 1000, "screenshot {name} is only {len} bytes");
    }

    // What the server kept: the consent, a confirmed TOTP factor, no live
    // session after sign-out (each one revoked).
    let user = gw.store.get_user_by_email(PARTNER).await.unwrap().unwrap();
    assert_eq!(user.id, pia, "the invited guest was linked, not duplicated");
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
