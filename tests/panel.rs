//! The access panel (issue 17), end to end against the real `portcullis
//! serve` with a local IdP, the file outbox and the stand-in browser; then
//! the panel's pages in headless Chromium (`tests/browser/panel.mjs`) at
//! laptop and phone size, with axe-core and a keyboard-focus check.
//!
//! - The apps page: a tile per app with its icon (a file the gateway serves
//!   under `/.portcullis/icons/` with a year's cache, or an `https://` URL
//!   its CSP then allows) or a letter, the end of the guest's access, and
//!   the apps they can see but not open with the way to ask the owners.
//! - The signed-out page names the app and offers to sign in again.
//! - Every sign-in method ends on the auth-host page asked for.
//!
//! Security info has its own file, `tests/security_info.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use std::time::Duration;
use support::browser::Browser;
use support::panel::*;
use time::OffsetDateTime;

/// The apps page of a guest: tiles with the icon file, the URL icon and a
/// letter, the end date, an ended app with an e-mail to its owners, an app
/// that takes requests with its form (then "you asked"); the icon answer;
/// the page's CSP names exactly the icon origins. A member sees every app.
#[tokio::test]
async fn the_apps_page_shows_tiles_end_dates_and_ways_to_ask() {
    let env = start(false).await;
    let gw = &env.gw;
    let bob = user_id(&env, BOB).await;
    let now = OffsetDateTime::now_utc();
    let wiki_end = now + time::Duration::days(40);
    gw.assign(&bob, "wiki", Some(wiki_end)).await;
    // An access that ended (the store takes only ends in the future).
    let payroll_end = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    gw.assign(&bob, "payroll", Some(payroll_end)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let date = portcullis::invitations::date;

    let mut b = env.browser();
    // Signed out: the panel signs in first and comes back.
    let form = b.open(&env.url(AUTH, "/.portcullis/apps")).await;
    assert_eq!(form.field("rd").as_deref(), Some("/.portcullis/apps"));
    let apps = env.password(&mut b, &form, BOB).await;
    assert_eq!(
        (apps.status, apps.url.path(), apps.heading().as_str()),
        (200, "/.portcullis/apps", "Your apps"),
        "{}",
        apps.body
    );
    let wiki = tile(&apps, "Wiki");
    let wiki_icon = wiki
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an <img> for wiki")
        .to_string();
    assert!(
        wiki_icon.starts_with("/.portcullis/icons/wiki?v="),
        "{wiki}"
    );
    assert!(wiki.contains("The team&#39;s pages"), "{wiki}");
    assert!(
        wiki.contains(&format!("Access until {}", date(wiki_end))),
        "{wiki}"
    );
    assert!(wiki.contains("href=\"http://wiki.test:"), "{wiki}");
    let docs = tile(&apps, "Docs");
    assert!(
        docs.contains("src=\"https://cdn.example/docs.png\""),
        "{docs}"
    );
    // An ended app: the date and an e-mail to its owners.
    let payroll = tile(&apps, "Payroll");
    assert!(
        payroll.contains(&format!("Your access ended on {}", date(payroll_end))),
        "{payroll}"
    );
    assert!(payroll.contains("letter"), "a letter tile: {payroll}");
    assert!(
        payroll
            .contains("href=\"mailto:olivia%40tailwindtraders.com?subject=Access%20to%20Payroll\""),
        "{payroll}"
    );
    assert!(
        !payroll.contains("href=\"http://payroll.test"),
        "not a link to open it"
    );
    // An app that takes requests: its form.
    let crm = tile(&apps, "CRM");
    assert!(crm.contains(">C</span>"), "{crm}");
    assert!(
        crm.contains("href=\"/.portcullis/sign-up/form?app=crm\""),
        "{crm}"
    );
    // Nothing about an app never shared that takes no requests.
    assert!(!apps.body.contains(">HR<"), "{}", apps.body);
    assert!(apps.links().iter().any(|l| l.path() == SECURITY));

    // The page's CSP allows this host's icons and the icon URL's origin.
    let client = raw(&env);
    let raw = client
        .get(env.url(AUTH, "/.portcullis/apps"))
        .header("cookie", cookie_header(&b, AUTH))
        .send()
        .await
        .unwrap();
    let csp = raw.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("img-src data: 'self' https://cdn.example;"),
        "{csp}"
    );
    assert!(csp.contains("default-src 'none'"), "{csp}");

    // The icon: the file's bytes, its type, a year's cache, no script.
    let icon = client.get(env.url(AUTH, &wiki_icon)).send().await.unwrap();
    assert_eq!(icon.status(), 200);
    let h = icon.headers().clone();
    assert_eq!(h["content-type"], "image/svg+xml");
    assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(&icon.bytes().await.unwrap()[..], ICON);
    // On an app host too; an app without an icon file is a 404.
    let on_app = client
        .get(env.url("wiki.test", &wiki_icon))
        .send()
        .await
        .unwrap();
    assert_eq!(on_app.status(), 200);
    for path in ["/.portcullis/icons/docs", "/.portcullis/icons/nope"] {
        assert_eq!(
            client
                .get(env.url(AUTH, path))
                .send()
                .await
                .unwrap()
                .status(),
            404,
            "{path}"
        );
    }

    // Ask for CRM: the form, then the panel says the request waits.
    let ask = b
        .open(&env.url(AUTH, "/.portcullis/sign-up/form?app=crm"))
        .await;
    assert_eq!(ask.heading(), "Your request", "{}", ask.body);
    let sent = b
        .submit(&ask, "/.portcullis/sign-up/form?app=crm", &[("app", "crm")])
        .await;
    assert_eq!(sent.heading(), "Request sent", "{}", sent.body);
    let after = b.open(&env.url(AUTH, "/.portcullis/apps")).await;
    let crm = tile(&after, "CRM");
    assert!(
        crm.contains(&format!("You asked on {}", date(now))),
        "{crm}"
    );
    assert!(!crm.contains("sign-up/form"), "{crm}");

    // A member: every app opens, none has an end, nothing to ask for.
    let mut ob = env.browser();
    let hers = env.sign_in(&mut ob, OLIVIA).await;
    assert_eq!(hers.url.path(), "/.portcullis/apps", "{hers:?}");
    for title in ["Wiki", "Docs", "CRM", "Payroll", "HR"] {
        assert!(
            tile(&hers, title).contains("class=\"tile\" href=\"http://"),
            "{title}"
        );
    }
    assert!(!hers.body.contains("Access until") && !hers.body.contains("id=\"ask\""));
}

/// `portcullis check` reports a bad icon at its line and column; the
/// gateway's config loader does the same (`config::check::icons` has the
/// unit tests for every kind of mistake).
#[test]
fn check_reports_a_bad_icon_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/a.yaml"), "policies: []\n").unwrap();
    let config = dir.path().join("portcullis.yaml");
    std::fs::write(
        &config,
        "listen: { http: 127.0.0.1:8080 }\nrules: [\"rules/*.yaml\"]\n\
         organisation: { name: T }\napps:\n  - name: wiki\n    icon: icons/missing.png\n    \
         hosts: [wiki.localhost]\n    upstreams: [127.0.0.1:9001]\n  \
         - { name: docs, icon: \"http://cdn.example/d.png\", hosts: [docs.localhost], upstreams: [127.0.0.1:9001] }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["check", "--config", config.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let file = config.display().to_string();
    assert!(
        stderr.contains(&format!("{file}:6:11: icon `")) && stderr.contains("cannot be read"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:9:"))
            && stderr.contains("icon `http://cdn.example/d.png`: use https://cdn.example/d.png"),
        "{stderr}"
    );
}

/// The signed-out page: no "close the browser"; after an app's sign-out it
/// names the app and signs in to it again; from the auth host it offers to
/// sign in again.
#[tokio::test]
async fn the_signed_out_page_names_the_app_and_offers_to_sign_in_again() {
    let env = start(true).await;
    let mut b = env.browser();
    let form = b.open(&env.url("wiki.test", "/")).await;
    env.password(&mut b, &form, BOB).await;
    let out = b.open(&env.url("wiki.test", "/.portcullis/sign-out")).await;
    assert_eq!(out.heading(), "You are signed out", "{}", out.body);
    assert!(
        !out.body.to_lowercase().contains("close the browser"),
        "{}",
        out.body
    );
    assert!(
        out.body.contains("You were using <strong>Wiki</strong>"),
        "{}",
        out.body
    );
    let again = out
        .links()
        .into_iter()
        .find(|l| l.host_str() == Some("wiki.test"))
        .expect("sign in again to the app");
    assert_eq!(again.path(), "/");
    let form = b.open(again.as_str()).await;
    assert_eq!(form.heading(), "Sign in", "{}", form.body);
    let shown_out = out.body.clone();

    // From the auth host: the confirmation, then the page.
    let mut b = env.browser();
    env.sign_in(&mut b, BOB).await;
    let confirm = b.open(&env.url(AUTH, "/.portcullis/sign-out")).await;
    assert_eq!(confirm.heading(), "Sign out");
    let done = b.submit(&confirm, "/.portcullis/sign-out", &[]).await;
    assert_eq!(done.heading(), "You are signed out", "{}", done.body);
    assert!(!done.body.to_lowercase().contains("close the browser"));
    assert_eq!(
        done.by_id("sign-in-again").as_deref(),
        Some("Sign in again")
    );
    // An app name that is not configured names nothing.
    let odd = b
        .open(&env.url(AUTH, "/.portcullis/sign-out?app=%3Cb%3Ex"))
        .await;
    assert!(odd.by_id("sign-in-app").is_none() && !odd.body.contains("<b>x"));
    support::chromium::render_pages(
        "signed_out_pages",
        &[
            ("40-signed-out-of-an-app", shown_out.as_str()),
            ("41-sign-out-confirm", confirm.body.as_str()),
            ("42-signed-out", done.body.as_str()),
        ],
    )
    .await;
}

/// Every sign-in method ends on the auth-host page asked for: the password
/// (security info) and the e-mailed code (the owners' page is in
/// `partner.rs`; the apps page above).
#[tokio::test]
async fn each_sign_in_method_lands_on_the_page_asked_for() {
    let env = start(true).await;
    let mut b = env.browser();
    let form = b.open(&env.url(AUTH, SECURITY)).await;
    assert_eq!(form.field("rd").as_deref(), Some(SECURITY));
    let landed = env.password(&mut b, &form, BOB).await;
    assert_eq!(
        (landed.url.path(), landed.heading().as_str()),
        (SECURITY, "Security info"),
        "{}",
        landed.body
    );

    // A guest without an IdP: the e-mailed code.
    let frank = env
        .gw
        .add_user(
            "frank@contoso.example",
            portcullis::session::UserType::Guest,
        )
        .await;
    env.gw
        .assign(
            &frank,
            "wiki",
            Some(OffsetDateTime::now_utc() + time::Duration::days(5)),
        )
        .await;
    let mut fb = env.browser();
    let form = fb.open(&env.url(AUTH, SECURITY)).await;
    let code_page = fb
        .submit(
            &form,
            "/.portcullis/sign-in",
            &[("email", "frank@contoso.example")],
        )
        .await;
    assert_eq!(code_page.heading(), "Enter your code", "{}", code_page.body);
    let codes = env.codes("frank@contoso.example", 1).await;
    let mut page = fb
        .submit(
            &code_page,
            "/.portcullis/sign-in/passcode",
            &[("code", &codes[0])],
        )
        .await;
    if page.heading() == "Review permissions" {
        page = fb
            .submit(&page, "/.portcullis/consent", &[("answer", "accept")])
            .await;
    }
    assert_eq!(
        (page.url.path(), page.heading().as_str()),
        (SECURITY, "Security info"),
        "{}",
        page.body
    );
    assert!(page.body.contains("a code sent by e-mail"), "{}", page.body);
}

/// The apps page, security info (with sessions and an authenticator) and
/// the owners' pages in headless Chromium from the gateway itself, at
/// laptop and phone size: icons load under the CSP, keyboard focus shows,
/// axe-core finds nothing serious.
#[tokio::test]
async fn panel_pages_in_chromium() {
    support::chromium::assert_installed();
    let env = start(true).await;
    let gw = &env.gw;
    let bob = user_id(&env, BOB).await;
    let now = OffsetDateTime::now_utc();
    gw.assign(&bob, "wiki", Some(now + time::Duration::days(40)))
        .await;
    gw.assign(&bob, "payroll", Some(now + time::Duration::seconds(2)))
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut b = env.browser();
    env.sign_in(&mut b, BOB).await;
    enroll_from_security_info(&env, &mut b).await;
    let mut other = env.browser();
    env.sign_in(&mut other, BOB).await;
    let mut ob = env.browser();
    env.sign_in(&mut ob, OLIVIA).await;

    let shots = support::chromium::artifacts("panel_pages");
    let cookies = |br: &Browser| -> Vec<serde_json::Value> {
        br.cookies[AUTH]
            .iter()
            .map(|(k, v)| serde_json::json!({ "name": k, "value": v, "domain": AUTH }))
            .collect()
    };
    let run = |name: &str, cookies: Vec<serde_json::Value>, pages: serde_json::Value| {
        let input = serde_json::json!({
            "screenshots": shots, "timeout_ms": 10_000, "cookies": cookies, "pages": pages,
        });
        let file = gw.path(&format!("{name}.json"));
        std::fs::write(&file, input.to_string()).unwrap();
        file
    };
    let bob_input = run(
        "bob",
        cookies(&b),
        serde_json::json!([
            { "name": "30-apps", "url": env.url(AUTH, "/.portcullis/apps"), "h1": "Your apps" },
            { "name": "31-security-info", "url": env.url(AUTH, SECURITY), "h1": "Security info" },
        ]),
    );
    let olivia_input = run(
        "olivia",
        cookies(&ob),
        serde_json::json!([
            { "name": "32-member-apps", "url": env.url(AUTH, "/.portcullis/apps"), "h1": "Your apps" },
            { "name": "33-owner-apps", "url": env.url(AUTH, "/.portcullis/manage"), "h1": "Apps you own" },
            { "name": "34-owner-guests", "url": env.url(AUTH, "/.portcullis/manage/app?name=wiki"), "h1": "Guests of Wiki" },
            { "name": "35-security-not-set-up", "url": env.url(AUTH, SECURITY), "h1": "Security info" },
        ]),
    );
    for input in [bob_input, olivia_input] {
        let (ok, stdout, stderr) =
            support::chromium::run("panel.mjs", &input, Duration::from_secs(90)).await;
        assert!(
            ok,
            "the panel pages failed in Chromium (screenshots in {}):\n{stderr}\n{stdout}",
            shots.display()
        );
        let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        for (name, violations) in summary["axe"].as_object().unwrap() {
            assert!(violations.is_array(), "{name}: {summary}");
        }
    }
    for name in [
        "30-apps",
        "31-security-info",
        "32-member-apps",
        "33-owner-apps",
        "34-owner-guests",
        "35-security-not-set-up",
    ] {
        for file in [
            format!("{name}.png"),
            format!("{name}-phone.png"),
            format!("{name}-focus.png"),
        ] {
            let len = std::fs::metadata(shots.join(&file))
                .unwrap_or_else(|e| panic!("{file}: {e}"))
                .len();
            assert!(len > 1000, "{file}");
        }
    }
}
