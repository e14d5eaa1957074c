//! The passkey pages around the ceremonies (issue 20), against the real
//! gateway: the security-info page links the passkeys page; ceremony
//! starts (registration, step-up and sign-in options) are rate-limited per
//! session (or browser) and per client; "Sign in with a passkey" exists
//! only where `sign_in.passkeys.sign_in` allows it. The ceremonies
//! themselves are in `tests/passkeys.rs` and the Chromium tests.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use support::browser::{Browser, Page};
use support::gateway::{Gateway, app};
use support::upstream::Upstream;

const AUTH: &str = "auth.test";
const BOB: &str = "bob@fabrikam.example";
const PW: &str = "passkey-pages-password-1";
/// Ceremony starts one session may make in the window (`passkeys_page`).
const PER_SESSION: usize = 20;

async fn start(passkey_sign_in: bool) -> (Gateway, Upstream) {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let hash = portcullis::local_idp::hash_password(PW).unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        format!("users:\n  - {{ email: {BOB}, password_hash: \"{hash}\", apps: [wiki] }}\n"),
    )
    .unwrap();
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!(
        "sign_in: {{ host: {AUTH}, passkeys: {{ sign_in: {passkey_sign_in} }} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n"
    );
    let apps = vec![app("wiki", &[up.address()], "title: Wiki")];
    let gw = Gateway::start_configured(dir, &apps, "policies: []\n", &[], idps, &top).await;
    (gw, up)
}

async fn signed_in(gw: &Gateway) -> Browser {
    let mut b = Browser::new(gw.http, &[AUTH, "wiki.test"]);
    let form = b.open(&gw.url(AUTH, "/.portcullis/sign-in")).await;
    let pw = b
        .submit(&form, "/.portcullis/sign-in", &[("email", BOB)])
        .await;
    let mut page = b
        .submit(&pw, "/.portcullis/sign-in/password", &[("password", PW)])
        .await;
    if page.heading() == "Review permissions" {
        page = b
            .submit(&page, "/.portcullis/consent", &[("answer", "accept")])
            .await;
    }
    assert_eq!(page.status, 200, "{}", page.body);
    b
}

/// Posts `action` to `path` with `page`'s CSRF token, as the script does.
async fn options(gw: &Gateway, b: &mut Browser, page: &Page, path: &str, action: &str) -> u16 {
    let csrf = page.field("csrf").expect("a CSRF token");
    let url = reqwest::Url::parse(&gw.url(AUTH, path)).unwrap();
    b.post(&url, &[("csrf", &csrf), ("action", action)])
        .await
        .status
}

#[tokio::test]
async fn security_info_links_the_passkeys_page() {
    let (gw, _up) = start(false).await;
    let mut b = signed_in(&gw).await;
    let page = b.open(&gw.url(AUTH, "/.portcullis/security")).await;
    assert_eq!(page.heading(), "Security info", "{}", page.body);
    assert_eq!(
        page.by_id("passkey-count")
            .as_deref()
            .map(|t| t.starts_with("You have no passkeys yet.")),
        Some(true),
        "{}",
        page.body
    );
    let link = page
        .links()
        .into_iter()
        .find(|l| l.path() == "/.portcullis/security/passkeys")
        .expect("a link to the passkeys page");
    let passkeys = b.open(link.as_str()).await;
    assert_eq!(passkeys.heading(), "Passkeys", "{}", passkeys.body);
}

#[tokio::test]
async fn registration_ceremony_starts_are_rate_limited_per_session() {
    let (gw, _up) = start(false).await;
    let mut b = signed_in(&gw).await;
    let page = b
        .open(&gw.url(AUTH, "/.portcullis/security/passkeys"))
        .await;
    for i in 0..PER_SESSION {
        let status = options(
            &gw,
            &mut b,
            &page,
            "/.portcullis/security/passkeys",
            "register-options",
        )
        .await;
        assert_eq!(status, 200, "start {i}");
    }
    let status = options(
        &gw,
        &mut b,
        &page,
        "/.portcullis/security/passkeys",
        "register-options",
    )
    .await;
    assert_eq!(status, 429);
    // Another session of the same person from the same client still may
    // (the per-client limit is higher).
    let mut other = signed_in(&gw).await;
    let page = other
        .open(&gw.url(AUTH, "/.portcullis/security/passkeys"))
        .await;
    let status = options(
        &gw,
        &mut other,
        &page,
        "/.portcullis/security/passkeys",
        "register-options",
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn passkey_sign_in_starts_are_rate_limited_per_browser() {
    let (gw, _up) = start(true).await;
    let mut b = Browser::new(gw.http, &[AUTH]);
    let page = b.open(&gw.url(AUTH, "/.portcullis/sign-in")).await;
    assert!(
        page.body.contains("Sign in with a passkey"),
        "{}",
        page.body
    );
    for i in 0..PER_SESSION {
        let status = options(
            &gw,
            &mut b,
            &page,
            "/.portcullis/sign-in/passkey",
            "passkey-options",
        )
        .await;
        assert_eq!(status, 200, "start {i}");
    }
    let status = options(
        &gw,
        &mut b,
        &page,
        "/.portcullis/sign-in/passkey",
        "passkey-options",
    )
    .await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn passkey_sign_in_is_off_unless_the_config_allows_it() {
    let (gw, _up) = start(false).await;
    let mut b = Browser::new(gw.http, &[AUTH]);
    let page = b.open(&gw.url(AUTH, "/.portcullis/sign-in")).await;
    assert_eq!(page.heading(), "Sign in", "{}", page.body);
    assert!(
        !page.body.contains("Sign in with a passkey"),
        "{}",
        page.body
    );
    let status = options(
        &gw,
        &mut b,
        &page,
        "/.portcullis/sign-in/passkey",
        "passkey-options",
    )
    .await;
    assert_eq!(status, 404);
}
