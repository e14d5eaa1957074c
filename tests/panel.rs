//! The access panel and the person's own security info (issue 17), end to
//! end against the real `portcullis serve` with a local IdP, the file
//! outbox and the stand-in browser; then the same pages in headless
//! Chromium (`tests/browser/panel.mjs`) at laptop and phone size, with
//! axe-core and a keyboard-focus check.
//!
//! - The apps page: a tile per app with its icon (a file the gateway serves
//!   under `/.portcullis/icons/` with a year's cache, or an `https://` URL
//!   its CSP then allows) or a letter, the end of the guest's access, and
//!   the apps they can see but not open with the way to ask the owners.
//! - Security info: set up the authenticator, replace it only with a
//!   current code, make new recovery codes (the old ones stop working),
//!   sign out the other sessions.
//! - The signed-out page names the app and offers to sign in again.
//! - Every sign-in method ends on the auth-host page asked for.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use std::time::Duration;
use support::browser::{Browser, Page};
use support::gateway::{AppSpec, Gateway, app};
use support::upstream::Upstream;
use support::{WAIT, poll};
use time::OffsetDateTime;

const AUTH: &str = "auth.test";
/// A guest with a local password: wiki and docs, once payroll.
const BOB: &str = "bob@fabrikam.example";
/// A member who owns wiki, crm and payroll.
const OLIVIA: &str = "olivia@tailwindtraders.com";
const PW: &str = "panel-password-1";
const SECURITY: &str = "/.portcullis/security";
const ICON: &[u8] =
    b"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 48 48\"><rect width=\"48\" height=\"48\" rx=\"10\" fill=\"#0b57d0\"/><path d=\"M12 14h24v4H12zm0 8h24v4H12zm0 8h16v4H12z\" fill=\"#fff\"/></svg>";

struct Env {
    gw: Gateway,
    _up: Upstream,
}

impl Env {
    fn browser(&self) -> Browser {
        Browser::new(
            self.gw.http,
            &[AUTH, "wiki.test", "docs.test", "crm.test", "payroll.test"],
        )
    }

    fn url(&self, host: &str, path: &str) -> String {
        self.gw.url(host, path)
    }

    /// Signs in with the local password from `form` (a sign-in page),
    /// accepting consent when asked; the page it ends on.
    async fn password(&self, b: &mut Browser, form: &Page, email: &str) -> Page {
        assert_eq!(form.heading(), "Sign in", "{}", form.body);
        let pw = b
            .submit(form, "/.portcullis/sign-in", &[("email", email)])
            .await;
        assert_eq!(pw.heading(), "Enter your password", "{}", pw.body);
        let mut page = b
            .submit(&pw, "/.portcullis/sign-in/password", &[("password", PW)])
            .await;
        if page.heading() == "Review permissions" {
            page = b
                .submit(&page, "/.portcullis/consent", &[("answer", "accept")])
                .await;
        }
        page
    }

    /// Signs in on the auth host; the page it ends on.
    async fn sign_in(&self, b: &mut Browser, email: &str) -> Page {
        let form = b.open(&self.url(AUTH, "/.portcullis/sign-in")).await;
        self.password(b, &form, email).await
    }

    /// Posts a security-info form with `page`'s CSRF token; follows.
    async fn act(&self, b: &mut Browser, page: &Page, fields: &[(&str, &str)]) -> Page {
        let csrf = page.field("csrf").expect("a CSRF token on the page");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let url = reqwest::Url::parse(&self.url(AUTH, SECURITY)).unwrap();
        let p = b.post(&url, &all).await;
        b.follow(p).await
    }

    /// The 8-digit passcodes in the outbox for `to`, once there are `n`.
    async fn codes(&self, to: &str, n: usize) -> Vec<String> {
        let read = || {
            let mut mails: Vec<(std::time::SystemTime, String)> =
                std::fs::read_dir(self.gw.path("outbox"))
                    .map(|rd| {
                        rd.filter_map(Result::ok)
                            .filter_map(|e| {
                                let t = e.metadata().ok()?.modified().ok()?;
                                Some((t, std::fs::read_to_string(e.path()).ok()?))
                            })
                            .filter(|(_, m)| m.contains(to))
                            .collect()
                    })
                    .unwrap_or_default();
            mails.sort();
            mails
                .iter()
                .filter_map(|(_, m)| {
                    m.split(|c: char| !c.is_ascii_digit())
                        .find(|w| w.len() == 8)
                        .map(str::to_string)
                })
                .collect::<Vec<_>>()
        };
        poll(WAIT, || async {
            let c = read();
            (c.len() >= n).then_some(c)
        })
        .await
        .map(|(c, _)| c)
        .unwrap_or_else(|| panic!("{n} codes for {to}"))
    }
}

/// wiki (an icon file), docs (an `https://` icon unless `local_icons_only`,
/// for the browser, which has no network), crm (takes sign-up requests from
/// fabrikam.example), payroll and hr; Bob is a guest of wiki and docs.
async fn start(local_icons_only: bool) -> Env {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let hash = portcullis::local_idp::hash_password(PW).unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        format!(
            "users:\n  \
             - {{ email: {BOB}, name: Bob, password_hash: \"{hash}\", apps: [wiki, docs] }}\n  \
             - {{ email: {OLIVIA}, name: Olivia, password_hash: \"{hash}\" }}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("icons")).unwrap();
    std::fs::write(dir.path().join("icons/wiki.svg"), ICON).unwrap();
    let ups = vec![up.address()];
    let docs_icon = if local_icons_only {
        String::new()
    } else {
        ", icon: \"https://cdn.example/docs.png\"".into()
    };
    let apps: Vec<AppSpec> = vec![
        app(
            "wiki",
            &ups,
            &format!(
                "title: Wiki, description: \"The team's pages\", icon: icons/wiki.svg, owners: [{OLIVIA}]"
            ),
        ),
        app(
            "docs",
            &ups,
            &format!("title: Docs, description: Specifications{docs_icon}"),
        ),
        app(
            "crm",
            &ups,
            &format!(
                "title: CRM, description: Customers and deals, owners: [{OLIVIA}], sign_up: {{ domains: [fabrikam.example] }}"
            ),
        ),
        app(
            "payroll",
            &ups,
            &format!("title: Payroll, owners: [{OLIVIA}]"),
        ),
        app("hr", &ups, "title: HR"),
    ];
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!(
        "sign_in: {{ host: {AUTH} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n"
    );
    let gw = Gateway::start_configured(dir, &apps, "policies: []\n", &[], idps, &top).await;
    Env { gw, _up: up }
}

async fn user_id(env: &Env, email: &str) -> String {
    env.gw
        .store
        .get_user_by_email(email)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// A client that reaches the auth host and wiki at the gateway (answers
/// as they come, headers and all).
fn raw(env: &Env) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(WAIT)
        .resolve(AUTH, env.gw.http)
        .resolve("wiki.test", env.gw.http)
        .build()
        .unwrap()
}

/// The `Cookie` header the browser sends to `host`.
fn cookie_header(b: &Browser, host: &str) -> String {
    b.cookies[host]
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The text of the tile (`<li>`) that names `title`.
fn tile(page: &Page, title: &str) -> String {
    let needle = format!("<span class=\"t\">{title}</span>");
    let at = page
        .body
        .find(&needle)
        .unwrap_or_else(|| panic!("no tile {title}: {}", page.body));
    let start = page.body[..at].rfind("<li>").unwrap();
    let end = at + page.body[at..].find("</li>").unwrap();
    page.body[start..end].to_string()
}

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

/// RFC 4648 base32; blanks and padding ignored.
fn base32(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u64, 0u32);
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {s}"),
        };
        buf = (buf << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// The authenticator's code for `secret`, `steps` periods from now (the
/// gateway accepts one step either side; a later step lets a test use a
/// second code without waiting 30 s).
fn totp(secret: &str, steps: u64) -> String {
    let g = totp_rs::Builder::new()
        .with_secret(base32(secret))
        .build()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    g.generate(now + 30 * steps).to_string()
}

/// Security info from the panel: sets up the authenticator (enrollment,
/// recovery codes, back here with a notice); the recovery codes left; a
/// wrong code makes no new codes; a right one makes ten new ones and the
/// old ones stop working.
async fn enroll_from_security_info(env: &Env, b: &mut Browser) -> (Page, String, Vec<String>) {
    let page = b.open(&env.url(AUTH, SECURITY)).await;
    assert_eq!(page.heading(), "Security info", "{}", page.body);
    assert!(page.body.contains("Not set up"), "{}", page.body);
    let enroll = b
        .open(&env.url(AUTH, "/.portcullis/security?step=enroll"))
        .await;
    assert_eq!(
        enroll.heading(),
        "Set up two-step verification",
        "{}",
        enroll.body
    );
    let secret = enroll.by_id("secret").unwrap();
    let codes_page = b
        .submit(&enroll, "/.portcullis/mfa", &[("code", &totp(&secret, 0))])
        .await;
    assert_eq!(
        codes_page.heading(),
        "Save your recovery codes",
        "{}",
        codes_page.body
    );
    let codes: Vec<String> = codes_page
        .body
        .split("<code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next())
        .map(str::to_string)
        .collect();
    assert_eq!(codes.len(), 10, "{}", codes_page.body);
    let next = codes_page
        .links()
        .into_iter()
        .find(|l| l.path() == "/.portcullis/mfa")
        .expect("Continue");
    let back = b.open(next.as_str()).await;
    assert_eq!(
        (back.url.path(), back.heading().as_str()),
        (SECURITY, "Security info"),
        "{}",
        back.body
    );
    assert_eq!(
        back.by_id("notice").as_deref(),
        Some("Your new authenticator is set up.")
    );
    assert_eq!(
        back.by_id("recovery-left").as_deref(),
        Some("10 unused recovery codes left.")
    );
    (back, secret, codes)
}

#[tokio::test]
async fn security_info_sets_up_the_authenticator_and_renews_recovery_codes() {
    let env = start(true).await;
    let gw = &env.gw;
    let bob = user_id(&env, BOB).await;
    let mut b = env.browser();
    env.sign_in(&mut b, BOB).await;
    let (page, secret, old_codes) = enroll_from_security_info(&env, &mut b).await;

    // A wrong code: said on the page, the codes stay.
    let hashes = gw.store.unused_recovery_code_hashes(&bob).await.unwrap();
    let wrong = env
        .act(
            &mut b,
            &page,
            &[("action", "recovery_codes"), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(
        wrong.body.contains("That code is not right."),
        "{}",
        wrong.body
    );
    // Not a code at all: said, and no try counted.
    let junk = env
        .act(
            &mut b,
            &page,
            &[("action", "recovery_codes"), ("code", "abc")],
        )
        .await;
    assert_eq!(junk.status, 400);
    assert!(
        junk.body.contains("did not count as a try"),
        "{}",
        junk.body
    );
    assert_eq!(
        gw.store.unused_recovery_code_hashes(&bob).await.unwrap(),
        hashes
    );

    // The next step's code: ten new codes, shown once; the old ones fail.
    let renewed = env
        .act(
            &mut b,
            &page,
            &[("action", "recovery_codes"), ("code", &totp(&secret, 1))],
        )
        .await;
    assert_eq!(
        renewed.heading(),
        "Save your recovery codes",
        "{}",
        renewed.body
    );
    assert!(renewed.body.contains("the earlier ones no longer work"));
    let new_codes: Vec<&str> = renewed
        .body
        .split("<code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next())
        .collect();
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !old_codes.iter().any(|o| o == c)));
    let totp_check = portcullis::mfa::Totp::default();
    let now = OffsetDateTime::now_utc();
    assert!(
        totp_check
            .use_recovery_code(&gw.store, &bob, &old_codes[0], now)
            .await
            .is_err(),
        "an old code no longer works"
    );
    assert_eq!(
        totp_check
            .use_recovery_code(&gw.store, &bob, new_codes[0], now)
            .await
            .unwrap(),
        9
    );
    let left = b.open(&env.url(AUTH, SECURITY)).await;
    assert_eq!(
        left.by_id("recovery-left").as_deref(),
        Some("9 unused recovery codes left.")
    );
    let audit = gw
        .store
        .list_audit(&portcullis::store::AuditQuery {
            subject: Some(bob.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "recovery_codes_regenerated" && e.actor == bob),
        "{audit:?}"
    );
}

/// Replacing the authenticator takes a current code: a wrong one keeps
/// the factor as it was; the right one shows a new key, confirmed by a
/// code from it, and the old key no longer works.
#[tokio::test]
async fn replacing_the_authenticator_needs_a_current_code() {
    let env = start(true).await;
    let gw = &env.gw;
    let bob = user_id(&env, BOB).await;
    let mut b = env.browser();
    env.sign_in(&mut b, BOB).await;
    let (page, old_secret, _) = enroll_from_security_info(&env, &mut b).await;
    let before = gw.store.get_totp_factor(&bob).await.unwrap().unwrap();

    let wrong = env
        .act(&mut b, &page, &[("action", "reenroll"), ("code", "000000")])
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(wrong.heading(), "Security info");
    let same = gw.store.get_totp_factor(&bob).await.unwrap().unwrap();
    assert_eq!(same.secret, before.secret);
    assert!(same.confirmed_at.is_some());
    // The enrollment link does not replace a confirmed factor either.
    let sneak = b
        .open(&env.url(AUTH, "/.portcullis/security?step=enroll"))
        .await;
    assert_eq!(sneak.status, 409, "{}", sneak.body);
    assert_eq!(
        gw.store
            .get_totp_factor(&bob)
            .await
            .unwrap()
            .unwrap()
            .secret,
        before.secret
    );

    let enroll = env
        .act(
            &mut b,
            &page,
            &[("action", "reenroll"), ("code", &totp(&old_secret, 1))],
        )
        .await;
    assert_eq!(
        enroll.heading(),
        "Set up two-step verification",
        "{}",
        enroll.body
    );
    assert!(
        enroll.body.contains("Your new authenticator"),
        "{}",
        enroll.body
    );
    let new_secret = enroll.by_id("secret").unwrap();
    assert_ne!(new_secret.replace(' ', ""), old_secret.replace(' ', ""));
    let codes = b
        .submit(
            &enroll,
            "/.portcullis/mfa",
            &[("code", &totp(&new_secret, 0))],
        )
        .await;
    assert_eq!(
        codes.heading(),
        "Save your recovery codes",
        "{}",
        codes.body
    );
    support::chromium::render_pages(
        "security_pages",
        &[
            ("36-security-wrong-code", wrong.body.as_str()),
            ("37-security-new-key", enroll.body.as_str()),
            ("38-security-new-codes", codes.body.as_str()),
        ],
    )
    .await;
    let factor = gw.store.get_totp_factor(&bob).await.unwrap().unwrap();
    assert!(factor.confirmed_at.is_some());
    assert_ne!(factor.secret, before.secret);
    let audit = gw
        .store
        .list_audit(&portcullis::store::AuditQuery {
            subject: Some(bob.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "mfa_reset" && e.actor == bob),
        "{audit:?}"
    );
}

/// The sessions list and "sign out everywhere else": the other browser's
/// session is refused on the auth host and on the app host; this one stays.
#[tokio::test]
async fn security_info_signs_out_the_other_sessions() {
    let env = start(true).await;
    let mut b = env.browser();
    env.sign_in(&mut b, BOB).await;
    let alone = b.open(&env.url(AUTH, SECURITY)).await;
    assert!(
        alone.body.contains("You are signed in only here."),
        "{}",
        alone.body
    );
    assert!(alone.by_id("sign-out-others").is_none());

    let mut other = env.browser();
    let wiki = other.open(&env.url("wiki.test", "/")).await;
    let on_wiki = env.password(&mut other, &wiki, BOB).await;
    assert_eq!(
        (on_wiki.status, on_wiki.url.host_str()),
        (200, Some("wiki.test"))
    );

    let page = b.open(&env.url(AUTH, SECURITY)).await;
    let list = page.body.split("id=\"session-list\"").nth(1).unwrap();
    let list = list.split("</ul>").next().unwrap();
    assert_eq!(list.matches("<li>").count(), 2, "{list}");
    assert_eq!(list.matches("This browser").count(), 1, "{list}");
    assert!(list.contains("signed in with a password on "), "{list}");
    assert_eq!(
        page.by_id("sign-out-others").as_deref(),
        Some("Sign out everywhere else (1)")
    );
    let done = env
        .act(&mut b, &page, &[("action", "sign_out_others")])
        .await;
    assert_eq!(
        done.by_id("notice").as_deref(),
        Some("Your other sessions are signed out.")
    );
    assert!(
        done.body.contains("You are signed in only here."),
        "{}",
        done.body
    );
    // The other browser: signed out on the auth host and on the app.
    let panel = other.get(&env.url(AUTH, "/.portcullis/apps")).await;
    assert_eq!(panel.status, 302, "{panel:?}");
    assert_eq!(
        panel.location.as_ref().unwrap().path(),
        "/.portcullis/sign-in"
    );
    let app = other.get(&env.url("wiki.test", "/")).await;
    assert_eq!(app.status, 302, "{app:?}");
    // This browser: still in.
    let mine = b.open(&env.url(AUTH, "/.portcullis/apps")).await;
    assert_eq!(mine.heading(), "Your apps");
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
