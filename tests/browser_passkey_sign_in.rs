//! Passkey as the whole sign-in (issue 20, `sign_in.passkeys.sign_in`) in
//! headless Chromium with its virtual authenticator
//! (`tests/browser/passkey_sign_in.mjs`): a guest without an IdP signs in
//! with the e-mailed code, follows the security-info page's link to the
//! passkeys page, registers and renames a passkey, signs out, and signs in
//! with "Sign in with a passkey" alone, straight into an app that asks for
//! phishing-resistant MFA. Screenshots in
//! `target/browser-artifacts/passkey_sign_in/`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use portcullis::session::UserType;
use std::time::{Duration, Instant};
use support::chromium;
use support::gateway::{AppSpec, Gateway};
use support::upstream::Upstream;

// WebAuthn needs a secure context: on plain http only localhost names.
const AUTH: &str = "auth.localhost";
const PIA: &str = "pia@contoso.example";
const LIMIT: Duration = Duration::from_secs(120);

const RULES: &str = "\
policies:
  - name: pay-needs-phishing-resistant-mfa
    users: { include: [all] }
    apps: { include: [pay] }
    grant: { require: [phishing_resistant_mfa] }
";

#[tokio::test]
async fn a_guest_without_an_idp_signs_in_with_a_passkey_alone_in_chromium() {
    chromium::assert_installed();
    let shots = chromium::artifacts("passkey_sign_in");
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let top = format!(
        "sign_in: {{ host: {AUTH}, passkeys: {{ sign_in: true }} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n"
    );
    let apps: Vec<AppSpec> = ["wiki", "pay"]
        .iter()
        .map(|n| AppSpec {
            name: n.to_string(),
            hosts: vec![format!("{n}.localhost")],
            upstreams: vec![up.address()],
            extra: format!("title: {n} app"),
        })
        .collect();
    let gw = Gateway::start_configured(dir, &apps, RULES, &[], "", &top).await;
    // Pia: an invited guest with no IdP (the e-mailed code signs her in).
    let pia = gw.add_user(PIA, UserType::Guest).await;
    let until = time::OffsetDateTime::now_utc() + time::Duration::days(7);
    gw.assign(&pia, "wiki", Some(until)).await;
    gw.assign(&pia, "pay", Some(until)).await;
    let port = gw.http.port();
    let input = serde_json::json!({
        "port": port,
        "auth_host": AUTH,
        "app": format!("http://pay.localhost:{port}/"),
        "email": PIA,
        "outbox": gw.path("outbox"),
        "screenshots": shots,
        "timeout_ms": 10_000,
    });
    let input_file = gw.path("passkey_sign_in.json");
    std::fs::write(&input_file, input.to_string()).unwrap();
    let t = Instant::now();
    let (ok, stdout, stderr) = chromium::run("passkey_sign_in.mjs", &input_file, LIMIT).await;
    eprintln!(
        "passkey sign-in journey: {:.1} s; screenshots in {}\n{stdout}",
        t.elapsed().as_secs_f64(),
        shots.display()
    );
    assert!(
        ok,
        "the passkey sign-in journey failed:\n{stderr}\n{stdout}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    for page in [
        "01-sign-in",
        "02-passcode",
        "03-security",
        "04-renamed",
        "05-app",
    ] {
        for name in [
            format!("passkey_sign_in_{page}.png"),
            format!("passkey_sign_in_{page}-phone.png"),
        ] {
            let len = std::fs::metadata(shots.join(&name)).unwrap().len();
            assert!(len > 1000, "screenshot {name} is only {len} bytes");
        }
    }
    // The server's side: a session signed in by the passkey, with
    // phishing-resistant MFA, audited; the passkey renamed and used.
    let keys = gw.store.list_passkeys(&pia).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "Laptop key");
    assert!(keys[0].last_used_at.is_some());
    let audit = gw
        .store
        .list_audit(&portcullis::store::AuditQuery {
            subject: Some(pia.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let signed_in = audit
        .iter()
        .find(|e| e.action == "signed_in" && e.detail["idp"] == "passkey")
        .expect("a passkey sign-in in the audit log");
    assert_eq!(signed_in.detail["mfa_strength"], "phishing_resistant");
    assert!(audit.iter().any(|e| e.action == "passkey_renamed"));
}
