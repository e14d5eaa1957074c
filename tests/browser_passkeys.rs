//! Passkeys in headless Chromium (issue 20): `tests/browser/passkeys.mjs`
//! with Chromium's virtual authenticator registers a passkey on the
//! passkeys page, steps up with it where an app asks for phishing-resistant
//! MFA (no code form offered), reaches the app, and removes it. Screenshots
//! in `target/browser-artifacts/passkeys/passkeys_*`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};
use support::chromium;
use support::gateway::{AppSpec, Gateway};
use support::upstream::Upstream;

// WebAuthn needs a secure context: on plain http only localhost names.
const AUTH: &str = "auth.localhost";
const BOB: &str = "bob@fabrikam.example";
const BOB_PW: &str = "bob-password-1";
const LIMIT: Duration = Duration::from_secs(120);

const RULES: &str = "\
policies:
  - name: wiki-needs-mfa
    users: { include: [all] }
    apps: { include: [wiki] }
    grant: { require: [mfa] }
  - name: pay-needs-phishing-resistant-mfa
    users: { include: [all] }
    apps: { include: [pay] }
    grant: { require: [phishing_resistant_mfa] }
";

#[tokio::test]
async fn a_partner_registers_a_passkey_steps_up_with_it_and_removes_it_in_chromium() {
    chromium::assert_installed();
    let shots = chromium::artifacts("passkeys");
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let hash = portcullis::local_idp::hash_password(BOB_PW).unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        format!(
            "users:\n  - {{ email: {BOB}, name: Bob, password_hash: \"{hash}\", apps: [wiki, pay] }}\n"
        ),
    )
    .unwrap();
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!("sign_in: {{ host: {AUTH} }}\n");
    let apps: Vec<AppSpec> = ["wiki", "pay"]
        .iter()
        .map(|n| AppSpec {
            name: n.to_string(),
            hosts: vec![format!("{n}.localhost")],
            upstreams: vec![up.address()],
            extra: format!("title: {n} app"),
        })
        .collect();
    let gw = Gateway::start_configured(dir, &apps, RULES, &[], idps, &top).await;
    let port = gw.http.port();
    let input = serde_json::json!({
        "port": port,
        "auth_host": AUTH,
        "app": format!("http://pay.localhost:{port}/"),
        "mfa_app": format!("http://wiki.localhost:{port}/"),
        "email": BOB,
        "password": BOB_PW,
        "screenshots": shots,
        "timeout_ms": 10_000,
    });
    let input_file = gw.path("passkeys.json");
    std::fs::write(&input_file, input.to_string()).unwrap();
    let t = Instant::now();
    let (ok, stdout, stderr) = chromium::run("passkeys.mjs", &input_file, LIMIT).await;
    eprintln!(
        "passkeys journey: {:.1} s; screenshots in {}\n{stdout}",
        t.elapsed().as_secs_f64(),
        shots.display()
    );
    assert!(ok, "the passkeys journey failed:\n{stderr}\n{stdout}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    for page in [
        "01-none",
        "02-registered",
        "03-step-up",
        "04-app",
        "05-removed",
    ] {
        for name in [
            format!("passkeys_{page}.png"),
            format!("passkeys_{page}-phone.png"),
        ] {
            let len = std::fs::metadata(shots.join(&name)).unwrap().len();
            assert!(len > 1000, "screenshot {name} is only {len} bytes");
        }
    }
    // The server's side: the passkey was used once, then removed; both
    // audited.
    let user = gw.store.get_user_by_email(BOB).await.unwrap().unwrap();
    assert!(gw.store.list_passkeys(&user.id).await.unwrap().is_empty());
}
