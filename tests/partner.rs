//! The partner's experience (issue 17), end to end against the real
//! `portcullis serve`, a real SMTP server and real upstreams: an invited
//! person never retypes the invited address and lands on the invited app;
//! every sign-in ends on the page asked for; consent names only what is
//! known; TOTP enrollment keeps its key after a wrong code, offers an
//! `otpauth://` link and takes codes typed with blanks or dashes.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use support::browser::{Browser, Page};
use support::gateway::{Gateway, app};
use support::smtp::SmtpSink;
use support::upstream::Upstream;
use support::{WAIT, poll};

const AUTH: &str = "auth.test";
const BOB: &str = "bob@fabrikam.example";
const BOB_PW: &str = "bob-password-1";
const FRANK: &str = "frank@contoso.example";

const RULES: &str = "\
policies:
  - name: demo-needs-mfa
    users: { include: [all] }
    apps: { include: [demo] }
    grant: { require: [mfa] }
";

struct Env {
    gw: Gateway,
    _up: Upstream,
    smtp: SmtpSink,
}

impl Env {
    fn browser(&self) -> Browser {
        Browser::new(self.gw.http, &[AUTH, "wiki.test", "docs.test", "demo.test"])
    }

    fn url(&self, host: &str, path: &str) -> String {
        self.gw.url(host, path)
    }

    fn mail_texts(&self, to: &str) -> Vec<String> {
        support::smtp::texts_to(&self.smtp.messages(), to)
    }

    /// The 8-digit passcodes mailed to `to`, once there are `n`.
    async fn wait_for_codes(&self, to: &str, n: usize) -> Vec<String> {
        let codes = || {
            self.mail_texts(to)
                .iter()
                .filter_map(|body| {
                    body.split(|c: char| !c.is_ascii_digit())
                        .find(|w| w.len() == 8)
                        .map(str::to_string)
                })
                .collect::<Vec<_>>()
        };
        poll(WAIT, || async {
            let c = codes();
            (c.len() >= n).then_some(c)
        })
        .await
        .map(|(c, _)| c)
        .unwrap_or_else(|| panic!("{n} mailed codes for {to}: {:?}", codes()))
    }
}

/// Bob (local password, guest of wiki, docs and demo), wiki, docs and demo
/// (demo needs MFA), mail to a real SMTP server.
async fn start() -> Env {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let hash = portcullis::local_idp::hash_password(BOB_PW).unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        format!(
            "users:\n  - {{ email: {BOB}, name: Bob, password_hash: \"{hash}\", apps: [wiki, docs, demo] }}\n"
        ),
    )
    .unwrap();
    let smtp = SmtpSink::start();
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!(
        "sign_in: {{ host: {AUTH} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", \
         smtp: {{ host: 127.0.0.1, port: {}, tls: none }} }}\n",
        smtp.port
    );
    let ups = vec![up.address()];
    let apps: Vec<_> = ["wiki", "docs", "demo"]
        .iter()
        .map(|n| app(n, &ups, &format!("title: {n} app")))
        .collect();
    let gw = Gateway::start_configured(dir, &apps, RULES, &[], idps, &top).await;
    Env { gw, _up: up, smtp }
}

fn invite(env: &Env, email: &str, apps: &[&str]) -> String {
    let config = env.gw.path("portcullis.yaml");
    let mut args = vec![
        "invite",
        "--config",
        config.to_str().unwrap(),
        "--email",
        email,
    ];
    for a in apps {
        args.extend(["--app", a]);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run portcullis");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let links: Vec<String> = env
        .mail_texts(email)
        .iter()
        .filter_map(|text| {
            text.split_whitespace()
                .find(|w| w.contains("/.portcullis/invite?token="))
                .map(str::to_string)
        })
        .collect();
    let link = links.last().expect("an invitation mail").clone();
    // The mail links to the HTTPS listener; this browser talks plain HTTP.
    let token = link.split("token=").nth(1).unwrap();
    env.url(AUTH, &format!("/.portcullis/invite?token={token}"))
}

/// "Accept and sign in": the invited address goes straight to its way in
/// (here the e-mailed code, sent to it without a sign-in form), consent
/// does not name a name nobody gave, and the person lands on the first app
/// of the invitation, not on the apps page.
#[tokio::test]
async fn invited_partner_never_retypes_the_address_and_lands_on_the_invited_app() {
    let env = start().await;
    let link = invite(&env, FRANK, &["docs", "wiki"]);
    let mut b = env.browser();
    let page = b.open(&link).await;
    assert_eq!(page.heading(), "You are invited", "{}", page.body);
    let code_page = b.submit(&page, "/.portcullis/invite", &[]).await;
    assert_eq!(code_page.heading(), "Enter your code", "{}", code_page.body);
    let codes = env.wait_for_codes(FRANK, 1).await;
    let consent = b
        .submit(
            &code_page,
            "/.portcullis/sign-in/passcode",
            &[("code", &codes[0])],
        )
        .await;
    assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
    assert!(consent.body.contains(FRANK), "{}", consent.body);
    assert!(
        !consent.body.contains("your name"),
        "no name is known: {}",
        consent.body
    );
    let landed = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(
        (landed.status, landed.url.host_str(), landed.url.path()),
        (200, Some("docs.test"), "/"),
        "the first app of the invitation: {landed:?}"
    );
}

/// A link with `accept=1` opened without a session (a bookmark, another
/// browser) reaches the sign-in page with the invited address filled in.
#[tokio::test]
async fn an_accept_link_without_a_session_prefills_the_invited_address() {
    let env = start().await;
    let link = invite(&env, FRANK, &["wiki"]);
    let mut b = env.browser();
    let sign_in = b.open(&format!("{link}&accept=1")).await;
    assert_eq!(sign_in.heading(), "Sign in", "{}", sign_in.body);
    assert_eq!(sign_in.field("email").as_deref(), Some(FRANK));
    let rd = sign_in.field("rd").unwrap();
    assert!(
        rd.starts_with("/.portcullis/invite?token=") && rd.ends_with("&accept=1"),
        "{rd}"
    );
    // A hint that is not an address is not shown.
    let junk = b
        .open(&env.url(AUTH, "/.portcullis/sign-in?login_hint=%3Cscript%3E"))
        .await;
    assert_eq!(junk.field("email").as_deref(), Some(""));
}

/// Any sign-in ends on the page asked for: a deep link into an app (path
/// and query kept), and the owners' page on the auth host.
#[tokio::test]
async fn a_sign_in_ends_on_the_page_asked_for() {
    let env = start().await;
    let mut b = env.browser();
    let form = b.open(&env.url("wiki.test", "/pages/42?tab=history")).await;
    assert_eq!(form.url.host_str(), Some(AUTH), "{form:?}");
    let pw = b
        .submit(&form, "/.portcullis/sign-in", &[("email", BOB)])
        .await;
    assert_eq!(pw.heading(), "Enter your password", "{}", pw.body);
    let consent = b
        .submit(
            &pw,
            "/.portcullis/sign-in/password",
            &[("password", BOB_PW)],
        )
        .await;
    assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
    assert!(consent.body.contains("your name (Bob)"), "{}", consent.body);
    let landed = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(landed.url.host_str(), Some("wiki.test"), "{landed:?}");
    assert_eq!(landed.url.path(), "/pages/42");
    assert_eq!(landed.url.query(), Some("tab=history"));

    // The owners' page, opened signed out, comes back after signing in.
    let mut b = env.browser();
    let form = b.open(&env.url(AUTH, "/.portcullis/manage")).await;
    assert_eq!(form.heading(), "Sign in", "{}", form.body);
    assert_eq!(form.field("rd").as_deref(), Some("/.portcullis/manage"));
    let pw = b
        .submit(&form, "/.portcullis/sign-in", &[("email", BOB)])
        .await;
    let after = b
        .submit(
            &pw,
            "/.portcullis/sign-in/password",
            &[("password", BOB_PW)],
        )
        .await;
    assert_eq!(after.url.path(), "/.portcullis/manage", "{after:?}");
}

/// RFC 4648 base32; blanks (the page groups the key) and padding ignored.
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

/// The authenticator app's current code for `secret`.
fn totp_now(secret: &str) -> String {
    let g = totp_rs::Builder::new()
        .with_secret(base32(secret))
        .build()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    g.generate(now).to_string()
}

/// Enrollment through the pages: the key in blocks of four and an
/// `otpauth://` link with issuer and account; a malformed code is sent back
/// as such; a wrong code keeps the key; the app's code typed "123 456"
/// confirms it.
#[tokio::test]
async fn enrollment_keeps_the_key_offers_a_link_and_takes_grouped_codes() {
    let env = start().await;
    let mut b = env.browser();
    let form = b.open(&env.url("demo.test", "/")).await;
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
    let enroll = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(
        enroll.heading(),
        "Set up two-step verification",
        "{}",
        enroll.body
    );
    let secret = enroll.by_id("secret").unwrap();
    assert!(
        secret.split(' ').all(|block| block.len() == 4),
        "blocks of four: {secret}"
    );
    let link = enroll
        .links()
        .into_iter()
        .find(|l| l.scheme() == "otpauth")
        .unwrap_or_else(|| panic!("an otpauth link: {}", enroll.body));
    let query: std::collections::HashMap<String, String> =
        link.query_pairs().into_owned().collect();
    assert_eq!(query.get("secret"), Some(&secret.replace(' ', "")));
    assert!(query.get("issuer").is_some_and(|i| !i.is_empty()), "{link}");
    assert!(
        link.path().contains("bob%40fabrikam.example") || link.path().contains(BOB),
        "{link}"
    );

    let malformed = b
        .submit(&enroll, "/.portcullis/mfa", &[("code", "12 34")])
        .await;
    assert!(
        malformed.body.contains("did not count"),
        "{}",
        malformed.body
    );
    assert_eq!(malformed.by_id("secret").as_deref(), Some(secret.as_str()));

    let right = totp_now(&secret);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let bad: Page = b
        .submit(&malformed, "/.portcullis/mfa", &[("code", wrong)])
        .await;
    assert!(bad.body.contains("not right"), "{}", bad.body);
    assert_eq!(
        bad.by_id("secret").as_deref(),
        Some(secret.as_str()),
        "a wrong code keeps the key"
    );
    let code = totp_now(&secret);
    let grouped = format!("{} {}", &code[..3], &code[3..]);
    let codes = b
        .submit(&bad, "/.portcullis/mfa", &[("code", &grouped)])
        .await;
    assert_eq!(
        codes.heading(),
        "Save your recovery codes",
        "{}",
        codes.body
    );
}
