//! End-to-end sign-in: the real `portcullis serve`, a real OpenID Provider
//! (oidc-provider on Node), real upstreams, the file outbox for e-mail, and a
//! browser stand-in that keeps host-only cookies per host. Each test walks
//! what a partner does: the app → the auth host → their IdP, a password or
//! an e-mailed code → consent → MFA when a policy asks → back to the app.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use portcullis::session::UserType;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::browser::{Browser, Page, idp_login};
use support::gateway::{AppSpec, Gateway, app, free_port};
use support::op::{CLIENT_ID, CLIENT_SECRET, Op};
use support::relay::{Fault, Relay};
use support::smtp::SmtpSink;
use support::upstream::Upstream;
use support::{WAIT, poll};
use time::OffsetDateTime;

const AUTH: &str = "auth.test";
const BOB: &str = "bob@fabrikam.example";
const BOB_PW: &str = "bob-password-1";

const RULES: &str = "\
policies:
  - name: demo-needs-mfa
    users: { include: [all] }
    apps: { include: [demo] }
    grant: { require: [mfa] }
  - name: payroll-recent-sign-in
    users: { include: [all] }
    apps: { include: [payroll] }
    session: { sign_in_frequency: 1h }
";

struct Env {
    gw: Gateway,
    up: Upstream,
    /// partner.example: not trusted for MFA (though it sends `amr: mfa`).
    op: Option<Op>,
    /// mfa-partner.example: `mfa: trusted`.
    op_mfa: Option<Op>,
    /// The SMTP server mail goes to, when the test asked for one (else the
    /// file outbox).
    smtp: Option<SmtpSink>,
}

impl Env {
    fn browser(&self) -> Browser {
        Browser::new(
            self.gw.http,
            &[AUTH, "wiki.test", "docs.test", "demo.test", "payroll.test"],
        )
    }

    fn url(&self, host: &str, path: &str) -> String {
        self.gw.url(host, path)
    }

    /// Bob's (or anyone's) local password sign-in from `app_host`, up to the
    /// page after the password (consent for a first sign-in).
    async fn password_sign_in(
        &self,
        b: &mut Browser,
        app_host: &str,
        email: &str,
        pw: &str,
    ) -> Page {
        let form = b.open(&self.url(app_host, "/")).await;
        assert_eq!(form.url.host_str(), Some(AUTH), "{form:?}");
        assert_eq!(form.heading(), "Sign in");
        let pw_page = b
            .submit(&form, "/.portcullis/sign-in", &[("email", email)])
            .await;
        assert_eq!(pw_page.heading(), "Enter your password", "{}", pw_page.body);
        b.submit(
            &pw_page,
            "/.portcullis/sign-in/password",
            &[("password", pw)],
        )
        .await
    }
}

fn apps(up: &Upstream) -> Vec<AppSpec> {
    let ups = vec![up.address()];
    ["wiki", "docs", "demo", "payroll"]
        .iter()
        .map(|n| app(n, &ups, &format!("title: {n} app")))
        .collect()
}

/// The gateway with a local IdP (Bob, a guest of wiki, docs and demo), an
/// OIDC IdP for partner.example on a port chosen here (started only when
/// `op_accounts` is given, after the gateway: its discovery at start fails
/// and is retried on first use), and the file outbox.
async fn start(op_accounts: Option<&str>, extra_sign_in: &str) -> Env {
    start_mail(op_accounts, extra_sign_in, None, "").await
}

/// Like [`start`], with mail through `smtp` (else the outbox) and more
/// top-level config lines (`extra_top`).
async fn start_mail(
    op_accounts: Option<&str>,
    extra_sign_in: &str,
    smtp: Option<SmtpSink>,
    extra_top: &str,
) -> Env {
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
    std::fs::write(dir.path().join("op.secret"), format!("{CLIENT_SECRET}\n")).unwrap();
    let op_port = free_port();
    let op_mfa_port = free_port();
    let idps = format!(
        "  - {{ name: local, type: local, users_file: users.yaml }}\n  \
         - {{ name: partner, type: oidc, issuer: \"http://127.0.0.1:{op_port}\", client_id: {CLIENT_ID}, \
         client_secret_file: op.secret, domains: [partner.example, tailwindtraders.com] }}\n  \
         - {{ name: partner-mfa, type: oidc, issuer: \"http://127.0.0.1:{op_mfa_port}\", client_id: {CLIENT_ID}, \
         client_secret_file: op.secret, domains: [mfa-partner.example], mfa: trusted }}\n"
    );
    let top = format!(
        "sign_in: {{ host: {AUTH}{extra_sign_in} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", {} }}\n{extra_top}",
        match &smtp {
            Some(s) => format!("smtp: {{ host: 127.0.0.1, port: {}, tls: none }}", s.port),
            None => "outbox: outbox".to_string(),
        }
    );
    let gw = Gateway::start_configured(dir, &apps(&up), RULES, &[], &idps, &top).await;
    let callback = format!("http://{AUTH}:{}/.portcullis/callback", gw.http.port());
    let op = op_accounts
        .map(|accounts| Op::start(gw.dir.path(), op_port, accounts, "pwd,mfa", &callback));
    let op_mfa = op_accounts.map(|_| {
        let dir = gw.dir.path().join("op-mfa");
        std::fs::create_dir_all(&dir).unwrap();
        Op::start(&dir, op_mfa_port, MFA_ACCOUNTS, "pwd,mfa", &callback)
    });
    Env {
        gw,
        up,
        op,
        op_mfa,
        smtp,
    }
}

/// A guest's first sign-in with a local password: consent once, then every
/// shared app without signing in again (SSO through one-time codes, each
/// host its own cookie); the app sees who it is.
#[tokio::test]
async fn guest_signs_in_consents_once_and_reaches_every_shared_app() {
    let env = start(None, "").await;
    let mut b = env.browser();
    let form = b.open(&env.url("wiki.test", "/reports?q=1")).await;
    let pw_page = b
        .submit(
            &form,
            "/.portcullis/sign-in",
            &[("email", "Bob@Fabrikam.Example")],
        )
        .await;
    let wrong = b
        .submit(
            &pw_page,
            "/.portcullis/sign-in/password",
            &[("password", "nope")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("not right"), "{}", wrong.body);

    let consent = b
        .submit(
            &wrong,
            "/.portcullis/sign-in/password",
            &[("password", BOB_PW)],
        )
        .await;
    assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
    assert!(consent.body.contains(BOB));
    let landed = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(landed.status, 200, "{landed:?}");
    assert_eq!(landed.url.as_str(), env.url("wiki.test", "/reports?q=1"));
    let seen = env.up.last();
    assert_eq!(seen.header("x-portcullis-email"), Some(BOB));
    assert_eq!(seen.header("x-portcullis-user-type"), Some("guest"));
    assert!(
        seen.header("cookie")
            .is_none_or(|c| !c.contains("portcullis"))
    );

    // Host-only cookies: the auth host's and wiki's, never a shared one.
    assert!(b.cookies[AUTH].contains_key("portcullis_session"));
    assert!(b.cookies["wiki.test"].contains_key("portcullis_session"));
    assert_ne!(
        b.cookies[AUTH]["portcullis_session"],
        b.cookies["wiki.test"]["portcullis_session"]
    );

    // Single sign-on: another shared app, no form, no consent again.
    let before = env.up.count();
    let docs = b.open(&env.url("docs.test", "/")).await;
    assert_eq!((docs.status, docs.url.host_str()), (200, Some("docs.test")));
    assert_eq!(env.up.count(), before + 1);

    // Consent is recorded with the terms version; a new browser is not asked.
    let user = env.gw.store.get_user_by_email(BOB).await.unwrap().unwrap();
    let consent = env.gw.store.consent_of(&user.id).await.unwrap().unwrap();
    assert_eq!(consent.terms_version, "1");
    let mut b2 = env.browser();
    let again = env
        .password_sign_in(&mut b2, "docs.test", BOB, BOB_PW)
        .await;
    assert_eq!(
        (again.status, again.url.host_str()),
        (200, Some("docs.test"))
    );

    // The landing page lists Bob's apps only.
    let panel = b.open(&env.url(AUTH, "/.portcullis/apps")).await;
    assert!(
        panel.body.contains("wiki app") && panel.body.contains("docs app"),
        "{}",
        panel.body
    );
    assert!(!panel.body.contains("payroll app"), "{}", panel.body);

    // An app Bob is not assigned to: signed in, still refused.
    let payroll = b.open(&env.url("payroll.test", "/")).await;
    assert_eq!(payroll.status, 403, "{payroll:?}");

    let metrics = env.gw.metrics().await;
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"local\",result=\"ok\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("portcullis_sign_ins_total{idp=\"local\",result=\"bad_password\"} 1"));
}

/// RFC 4648 base32 (no padding), as the enrollment page shows the key.
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

/// The authenticator app: the current 6-digit code for `secret`.
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

/// Step-up: a policy asks for MFA; the guest enrolls an authenticator,
/// gets recovery codes once, and comes back to the URL they asked for with
/// a session that carries MFA. A code is never accepted twice; a recovery
/// code works once.
#[tokio::test]
async fn mfa_step_up_enrolls_then_verifies_and_never_accepts_a_code_twice() {
    let env = start(None, "").await;
    let mut b = env.browser();
    let consent = env.password_sign_in(&mut b, "demo.test", BOB, BOB_PW).await;
    let enroll = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(
        enroll.heading(),
        "Set up two-step verification",
        "{}",
        enroll.body
    );
    assert!(enroll.body.contains("data:image/svg+xml;base64,"));
    let secret = enroll.by_id("secret").unwrap();
    let bad = b
        .submit(&enroll, "/.portcullis/mfa", &[("code", "000000")])
        .await;
    assert_eq!(bad.heading(), "Set up two-step verification");
    assert!(bad.body.contains("not right"));
    // A wrong code keeps the key (issue 17: the entry already in the app
    // stays right; it used to make a new one).
    let secret2 = bad.by_id("secret").unwrap();
    assert_eq!(secret, secret2);
    let code = totp_now(&secret2);
    let codes = b.submit(&bad, "/.portcullis/mfa", &[("code", &code)]).await;
    assert_eq!(
        codes.heading(),
        "Save your recovery codes",
        "{}",
        codes.body
    );
    let recovery: Vec<String> = codes
        .body
        .split("<li><code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next().map(str::to_string))
        .collect();
    assert_eq!(recovery.len(), 10);
    let next = codes
        .links()
        .into_iter()
        .find(|l| l.path() == "/.portcullis/mfa")
        .unwrap();
    let demo = b.open(next.as_str()).await;
    assert_eq!(
        (demo.status, demo.url.host_str()),
        (200, Some("demo.test")),
        "{demo:?}"
    );

    // A second browser: the factor exists, so the code is asked for.
    let mut b2 = env.browser();
    let first = b2.open(&env.url("demo.test", "/x")).await;
    let pw = b2
        .submit(&first, "/.portcullis/sign-in", &[("email", BOB)])
        .await;
    let verify = b2
        .submit(
            &pw,
            "/.portcullis/sign-in/password",
            &[("password", BOB_PW)],
        )
        .await;
    assert_eq!(verify.heading(), "Verify it's you", "{}", verify.body);
    let replay = b2
        .submit(&verify, "/.portcullis/mfa", &[("code", &code)])
        .await;
    assert_eq!(replay.status, 401);
    assert!(replay.body.contains("already used") || replay.body.contains("not right"));
    let ok = b2
        .submit(&replay, "/.portcullis/mfa", &[("code", &recovery[0])])
        .await;
    assert_eq!((ok.status, ok.url.path()), (200, "/x"), "{ok:?}");

    // The same recovery code never works twice.
    let mut b3 = env.browser();
    let first = b3.open(&env.url("demo.test", "/")).await;
    let pw = b3
        .submit(&first, "/.portcullis/sign-in", &[("email", BOB)])
        .await;
    let verify = b3
        .submit(
            &pw,
            "/.portcullis/sign-in/password",
            &[("password", BOB_PW)],
        )
        .await;
    let reused = b3
        .submit(&verify, "/.portcullis/mfa", &[("code", &recovery[0])])
        .await;
    assert_eq!(reused.status, 401);

    let metrics = env.gw.metrics().await;
    assert!(
        metrics.contains("portcullis_mfa_total{method=\"enroll\",result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("portcullis_mfa_total{method=\"recovery_code\",result=\"ok\"} 1"));
}

const MFA_ACCOUNTS: &str = r#"{
  "grace@mfa-partner.example": { "password": "grace-pw", "name": "Grace", "email_verified": true }
}"#;

const OP_ACCOUNTS: &str = r#"{
  "carol@partner.example": { "password": "carol-pw", "name": "Carol", "groups": ["Partner-Admins"], "email_verified": true },
  "dave@partner.example": { "password": "dave-pw", "name": "Dave", "email_verified": true },
  "erin@tailwindtraders.com": { "password": "erin-pw", "name": "Erin", "email_verified": true }
}"#;

/// Opens `app_host` and posts `email` on the sign-in form, without
/// following the answer (a redirect towards the IdP).
async fn ask_idp(env: &Env, b: &mut Browser, app_host: &str, email: &str) -> Page {
    let form = b.open(&env.url(app_host, "/")).await;
    let action = form.url.join("/.portcullis/sign-in").unwrap();
    let csrf = form.field("csrf").unwrap();
    let rd = form.field("rd").unwrap();
    b.post(&action, &[("csrf", &csrf), ("rd", &rd), ("email", email)])
        .await
}

/// A partner signs in with their own OIDC IdP (PKCE, state and nonce bound
/// to the browser): an invited guest is linked by iss+sub on first sign-in;
/// an uninvited one is refused; a member domain the IdP claims creates a
/// member; callbacks are single use and belong to the browser that started.
#[tokio::test]
async fn partner_signs_in_with_their_own_oidc_idp() {
    let env = start(Some(OP_ACCOUNTS), "").await;
    assert!(env.op.is_some());
    let carol = env
        .gw
        .add_user("carol@partner.example", UserType::Guest)
        .await;
    let until = OffsetDateTime::now_utc() + time::Duration::days(7);
    env.gw.assign(&carol, "wiki", Some(until)).await;

    let mut b = env.browser();
    let at_idp = ask_idp(&env, &mut b, "wiki.test", "carol@partner.example").await;
    let callback = idp_login(&mut b, at_idp, "carol@partner.example", "carol-pw").await;

    // The callback in another browser: refused (login CSRF).
    let mut other = env.browser();
    let stolen = other.get(callback.as_str()).await;
    assert_eq!(stolen.status, 400, "{stolen:?}");
    // …and that consumed the pending sign-in: the right browser must start again.
    let late = b.get(callback.as_str()).await;
    assert_eq!(late.status, 400);
    assert_eq!(late.heading(), "Sign-in expired");

    let at_idp = ask_idp(&env, &mut b, "wiki.test", "carol@partner.example").await;
    let callback = idp_login(&mut b, at_idp, "carol@partner.example", "carol-pw").await;
    let cb = b.get(callback.as_str()).await;
    let consent = b.follow(cb).await;
    assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
    let wiki = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(
        (wiki.status, wiki.url.host_str()),
        (200, Some("wiki.test")),
        "{wiki:?}"
    );
    let seen = env.up.last();
    assert_eq!(
        seen.header("x-portcullis-email"),
        Some("carol@partner.example")
    );
    // Issue 15: a partner IdP's group arrives qualified by the IdP's name
    // (a bare `group:partner-admins` would be the directory's own).
    assert_eq!(
        seen.header("x-portcullis-groups"),
        Some("partner:partner-admins")
    );
    let user = env.gw.store.get_user(&carol).await.unwrap().unwrap();
    let identity = user.identity.expect("linked on first sign-in");
    assert_eq!(identity.idp, "partner");
    // A replayed callback (code and state used once) is refused.
    let replay = b.get(callback.as_str()).await;
    assert_eq!(replay.status, 400);

    // Not invited: refused, and no user is created.
    let mut d = env.browser();
    let at_idp = ask_idp(&env, &mut d, "wiki.test", "dave@partner.example").await;
    let callback = idp_login(&mut d, at_idp, "dave@partner.example", "dave-pw").await;
    let refused = d.open(callback.as_str()).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.heading(), "No access yet");
    assert!(
        env.gw
            .store
            .get_user_by_email("dave@partner.example")
            .await
            .unwrap()
            .is_none()
    );

    // A member domain this IdP claims: a member is created and let in.
    let mut e = env.browser();
    let at_idp = ask_idp(&env, &mut e, "payroll.test", "erin@tailwindtraders.com").await;
    let callback = idp_login(&mut e, at_idp, "erin@tailwindtraders.com", "erin-pw").await;
    let payroll = e.open(callback.as_str()).await;
    assert_eq!(
        (payroll.status, payroll.url.host_str()),
        (200, Some("payroll.test")),
        "{payroll:?}"
    );
    assert_eq!(
        env.up.last().header("x-portcullis-user-type"),
        Some("member")
    );

    let metrics = env.gw.metrics().await;
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"partner\",result=\"ok\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"partner\",result=\"not_invited\"} 1")
    );
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"partner\",result=\"other_browser\"} 1")
    );
}

/// The text parts of every mail to `to` (the SMTP server's, else the
/// outbox's), in no particular order.
fn mail_texts(env: &Env, to: &str) -> Vec<String> {
    let mails: Vec<String> = match &env.smtp {
        Some(smtp) => smtp.messages(),
        None => std::fs::read_dir(env.gw.path("outbox"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default(),
    };
    support::smtp::texts_to(&mails, to)
}

/// How long a check that no mail came waits first: passcodes are sent
/// after the answer (a loopback SMTP server takes milliseconds).
const MAIL_SETTLES: Duration = Duration::from_secs(1);

/// The codes in every mail to `to`, once there are at least `n` (passcodes
/// are sent after the answer; the wait is bounded).
async fn wait_for_codes(env: &Env, to: &str, n: usize) -> Vec<String> {
    wait_for_codes_within(env, to, n, WAIT).await
}

/// [`wait_for_codes`], waiting at most `limit`.
async fn wait_for_codes_within(env: &Env, to: &str, n: usize, limit: Duration) -> Vec<String> {
    poll(limit, || async {
        let codes = mailed_codes(env, to);
        (codes.len() >= n).then_some(codes)
    })
    .await
    .map(|(codes, _)| codes)
    .unwrap_or_else(|| panic!("{n} mailed codes for {to}: {:?}", mailed_codes(env, to)))
}

/// The codes in every mail to `to` so far.
fn mailed_codes(env: &Env, to: &str) -> Vec<String> {
    mail_texts(env, to)
        .iter()
        .filter_map(|body| {
            body.split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 8)
                .map(str::to_string)
        })
        .collect()
}

/// A guest whose domain has no IdP gets a one-time code by e-mail: single
/// use, a limited number of tries, rate-limited per address; an address
/// nobody invited gets the same page and no mail.
#[tokio::test]
async fn guest_without_an_idp_signs_in_with_an_emailed_passcode() {
    let env = start_mail(
        None,
        ", passcode: { per_address: 2, max_attempts: 3 }",
        Some(SmtpSink::start()),
        "",
    )
    .await;
    let frank = env
        .gw
        .add_user("frank@contoso.example", UserType::Guest)
        .await;
    let until = OffsetDateTime::now_utc() + time::Duration::days(7);
    env.gw.assign(&frank, "wiki", Some(until)).await;

    let mut b = env.browser();
    let form = b.open(&env.url("wiki.test", "/")).await;
    let code_page = b
        .submit(
            &form,
            "/.portcullis/sign-in",
            &[("email", "frank@contoso.example")],
        )
        .await;
    assert_eq!(code_page.heading(), "Enter your code", "{}", code_page.body);
    let codes = wait_for_codes(&env, "frank@contoso.example", 1).await;
    assert_eq!(codes.len(), 1, "one mail with a code");
    let code = codes[0].clone();
    let wrong = b
        .submit(
            &code_page,
            "/.portcullis/sign-in/passcode",
            &[("code", "00000000")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("2 tries left"), "{}", wrong.body);
    let consent = b
        .submit(&wrong, "/.portcullis/sign-in/passcode", &[("code", &code)])
        .await;
    assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
    let wiki = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!((wiki.status, wiki.url.host_str()), (200, Some("wiki.test")));

    // Single use: the same code in another browser is refused.
    let mut b2 = env.browser();
    let form = b2.open(&env.url("wiki.test", "/")).await;
    let page = b2
        .submit(
            &form,
            "/.portcullis/sign-in",
            &[("email", "frank@contoso.example")],
        )
        .await;
    let codes = wait_for_codes(&env, "frank@contoso.example", 2).await;
    assert_eq!(codes.len(), 2);
    assert!(codes.iter().any(|c| *c != code), "a new code: {codes:?}");
    let reused = b2
        .submit(&page, "/.portcullis/sign-in/passcode", &[("code", &code)])
        .await;
    assert_eq!(reused.status, 401);
    // Brute force: the reused code counted as a wrong guess; two more and
    // even the right code is refused.
    let code2 = codes.iter().find(|c| **c != code).unwrap().clone();
    let mut last = reused;
    for guess in ["11111111", "22222222"] {
        last = b2
            .submit(&last, "/.portcullis/sign-in/passcode", &[("code", guess)])
            .await;
        assert_eq!(last.status, 401);
    }
    assert_eq!(last.heading(), "Code no longer valid", "{}", last.body);
    let url = reqwest::Url::parse(&env.url(AUTH, "/.portcullis/sign-in/passcode")).unwrap();
    let csrf = page.field("csrf").unwrap();
    let dead = b2
        .post(
            &url,
            &[
                ("csrf", &csrf),
                ("email", "frank@contoso.example"),
                ("code", &code2),
            ],
        )
        .await;
    assert_eq!(dead.status, 401);
    assert!(!b2.cookies[AUTH].contains_key("portcullis_session"));

    // Rate limit: a third code for the address within the window is refused.
    let form = b2.open(&env.url("wiki.test", "/")).await;
    let limited = b2
        .submit(
            &form,
            "/.portcullis/sign-in",
            &[("email", "frank@contoso.example")],
        )
        .await;
    assert_eq!(limited.status, 429, "{limited:?}");
    tokio::time::sleep(MAIL_SETTLES).await;
    assert_eq!(mailed_codes(&env, "frank@contoso.example").len(), 2);

    // Nobody invited this address: same page, no mail.
    let mut s = env.browser();
    let form = s.open(&env.url("wiki.test", "/")).await;
    let page = s
        .submit(
            &form,
            "/.portcullis/sign-in",
            &[("email", "stranger@contoso.example")],
        )
        .await;
    assert_eq!(page.heading(), "Enter your code");
    tokio::time::sleep(MAIL_SETTLES).await;
    assert_eq!(mailed_codes(&env, "stranger@contoso.example").len(), 0);

    // The mail never reaches the logs.
    assert!(!env.gw.log().contains(&code));
}

/// Issue 17: "Send a new code" waited 30 s only in CSS; a resend before
/// `resend_after` is now refused by the server with the seconds left, and
/// costs nothing: no mail, no new code, no count towards `per_address`
/// (two codes allowed here, and three early resends do not use them up).
#[tokio::test]
async fn a_resend_before_the_countdown_ends_is_refused_and_costs_nothing() {
    let env = start_mail(
        None,
        ", passcode: { per_address: 2, resend_after: 2s }",
        Some(SmtpSink::start()),
        "",
    )
    .await;
    const FRANK: &str = "frank@contoso.example";
    let frank = env.gw.add_user(FRANK, UserType::Guest).await;
    let until = OffsetDateTime::now_utc() + time::Duration::days(7);
    env.gw.assign(&frank, "wiki", Some(until)).await;
    let mut b = env.browser();
    let form = b.open(&env.url("wiki.test", "/")).await;
    let page = b
        .submit(&form, "/.portcullis/sign-in", &[("email", FRANK)])
        .await;
    assert_eq!(page.heading(), "Enter your code", "{}", page.body);
    assert!(
        page.body
            .contains("You can ask for a new code in <span class=\"countdown\" style=\"--from:2;"),
        "{}",
        page.body
    );
    let first = wait_for_codes(&env, FRANK, 1).await[0].clone();
    for _ in 0..3 {
        let early = b.submit(&page, "/.portcullis/sign-in/passcode", &[]).await;
        assert_eq!(early.status, 429, "{}", early.body);
        assert!(
            early.body.contains("You can ask for a new one in ")
                && early.body.contains("This did not count towards the limit."),
            "{}",
            early.body
        );
        assert_eq!(early.heading(), "Enter your code");
    }
    tokio::time::sleep(MAIL_SETTLES).await;
    assert_eq!(mailed_codes(&env, FRANK), std::slice::from_ref(&first));
    // After the wait: a new code, within `per_address: 2`.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let resent = b.submit(&page, "/.portcullis/sign-in/passcode", &[]).await;
    assert_eq!(resent.status, 200, "{}", resent.body);
    let codes = wait_for_codes(&env, FRANK, 2).await;
    let second = codes
        .iter()
        .find(|c| **c != first)
        .expect("a new code")
        .clone();
    let signed_in = b
        .submit(
            &resent,
            "/.portcullis/sign-in/passcode",
            &[("code", &second)],
        )
        .await;
    assert_eq!(
        signed_in.heading(),
        "Review permissions",
        "{}",
        signed_in.body
    );
}

/// Opens `wiki.test` (which sends the browser to sign in) and asks for a
/// code as `email`: the page, and how long the POST took.
async fn ask_for_code(env: &Env, b: &mut Browser, email: &str) -> (Page, Duration) {
    let form = b.open(&env.url("wiki.test", "/")).await;
    assert_eq!(form.heading(), "Sign in", "{}", form.body);
    let started = Instant::now();
    let page = b
        .submit(&form, "/.portcullis/sign-in", &[("email", email)])
        .await;
    (page, started.elapsed())
}

/// Issue 14 finding 3, account enumeration by timing on the passcode step:
/// the code was mailed inside the request, and only to addresses the
/// directory knows, so with a slow SMTP server a known address answered in
/// seconds and an unknown one in milliseconds. Both now do the same work on
/// the request path and the mail leaves from a queue after the answer.
/// Here the SMTP server sits behind a relay that holds every chunk 250 ms
/// (half a second per reply, seconds per mail): asking for a code answers
/// within a second, and about as fast, for a known and an unknown address
/// (medians of five tries each, taken in turns). The known address still
/// gets its code and signs in with it; the unknown one gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passcode_step_takes_as_long_for_a_known_address_as_for_an_unknown_one() {
    const KNOWN: &str = "frank@contoso.example";
    const UNKNOWN: &str = "nobody@contoso.example";
    const TRIES: usize = 5;
    let sink = SmtpSink::start();
    let relay = Relay::start(SocketAddr::from(([127, 0, 0, 1], sink.port)));
    relay.set(Fault::Delay(Duration::from_millis(250)));
    let up = Upstream::start("app").await;
    let top = format!(
        "sign_in: {{ host: {AUTH}, passcode: {{ per_address: 10 }} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", \
         smtp: {{ host: 127.0.0.1, port: {}, tls: none, timeout: 30s }} }}\n",
        relay.addr.port()
    );
    let gw = Gateway::start_configured(
        tempfile::tempdir().unwrap(),
        &apps(&up),
        RULES,
        &[],
        "",
        &top,
    )
    .await;
    let env = Env {
        gw,
        up,
        op: None,
        op_mfa: None,
        smtp: Some(sink),
    };
    let frank = env.gw.add_user(KNOWN, UserType::Guest).await;
    let until = OffsetDateTime::now_utc() + time::Duration::days(7);
    env.gw.assign(&frank, "wiki", Some(until)).await;

    let mut b = env.browser();
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..TRIES {
        for (email, took) in [(KNOWN, &mut known), (UNKNOWN, &mut unknown)] {
            let (page, t) = ask_for_code(&env, &mut b, email).await;
            assert_eq!(
                (page.status, page.heading().as_str()),
                (200, "Enter your code"),
                "{email}: {}",
                page.body
            );
            took.push(t);
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    eprintln!(
        "FIGURE passcode step, SMTP at ~0.5 s per reply: known address median {} ms, unknown {} ms (known {known:?}, unknown {unknown:?})",
        k.as_millis(),
        u.as_millis()
    );
    let second = Duration::from_secs(1);
    assert!(
        k < second && u < second,
        "known {k:?}, unknown {u:?}: the mail is sent inside the request"
    );
    // A ratio, with a floor: a few milliseconds either way is noise.
    let floor = Duration::from_millis(20);
    assert!(
        k <= 3 * u.max(floor) && u <= 3 * k.max(floor),
        "known {known:?} and unknown {unknown:?} take different times"
    );

    // Every code reached the known address; a new one, the live one, signs
    // in (each request replaced the code before it).
    let earlier = wait_for_codes_within(&env, KNOWN, TRIES, Duration::from_secs(40)).await;
    let (page, t) = ask_for_code(&env, &mut b, KNOWN).await;
    assert!(t < second, "{t:?}");
    let codes = wait_for_codes_within(&env, KNOWN, TRIES + 1, Duration::from_secs(40)).await;
    let live = codes
        .iter()
        .find(|c| !earlier.contains(c))
        .expect("a new code")
        .clone();
    let consent = b
        .submit(&page, "/.portcullis/sign-in/passcode", &[("code", &live)])
        .await;
    assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
    assert_eq!(mailed_codes(&env, UNKNOWN).len(), 0, "no mail to {UNKNOWN}");
    assert!(!env.gw.log().contains(&live), "the code is not logged");
}

/// Return URLs only ever lead to an app host of this gateway (published
/// open-redirect payloads); forms need this browser's CSRF token and
/// origin; a hand-off code works once, on its own host.
#[tokio::test]
async fn return_urls_forms_and_handoff_codes_cannot_be_abused() {
    let env = start(None, "").await;
    let mut b = env.browser();
    let consent = env.password_sign_in(&mut b, "wiki.test", BOB, BOB_PW).await;
    b.submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    let port = env.gw.http.port();
    let payloads = [
        "https://evil.example/".to_string(),
        "//evil.example/".into(),
        "/\\evil.example".into(),
        "\\\\evil.example".into(),
        format!("http://wiki.test:{port}@evil.example/"),
        format!("http://evil.example\\@wiki.test:{port}/"),
        format!("http://evil.example#@wiki.test:{port}/"),
        "javascript:alert(1)".into(),
        format!("http://wiki.test.evil.example:{port}/"),
        "HTTP://EVIL.EXAMPLE/".into(),
        "http:evil.example".into(),
        "\thttp://evil.example".into(),
        format!("https://wiki.test:{port}/"),
        "http://wiki.test:1/".into(),
        format!("http://{AUTH}:{port}/.portcullis/apps"),
        "data:text/html,<script>alert(1)</script>".into(),
    ];
    for rd in &payloads {
        let url = reqwest::Url::parse_with_params(
            &env.url(AUTH, "/.portcullis/sign-in"),
            &[("rd", rd.as_str())],
        )
        .unwrap();
        let page = b.get(url.as_str()).await;
        let location = page
            .location
            .clone()
            .unwrap_or_else(|| panic!("{rd}: {page:?}"));
        assert_eq!(
            (location.host_str(), location.path()),
            (Some(AUTH), "/.portcullis/apps"),
            "rd {rd:?} led to {location}"
        );
    }
    // The app host's own sign-in keeps the return path on that host.
    for rd in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let url = reqwest::Url::parse_with_params(
            &env.url("wiki.test", "/.portcullis/sign-in"),
            &[("rd", rd)],
        )
        .unwrap();
        let page = b.get(url.as_str()).await;
        let location = page.location.unwrap();
        let back: String = location
            .query_pairs()
            .find(|(k, _)| k == "rd")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        assert_eq!(back, format!("http://wiki.test:{port}/"), "{rd}");
    }

    // A form without this browser's CSRF token, or from another origin.
    let sign_in = reqwest::Url::parse(&env.url(AUTH, "/.portcullis/sign-in")).unwrap();
    let forged = b
        .post(&sign_in, &[("email", BOB), ("csrf", "forged")])
        .await;
    assert_eq!(forged.status, 403);
    let page = b.get(sign_in.as_str()).await;
    let page = b.follow(page).await;
    let csrf = page.field("csrf");
    if let Some(csrf) = csrf {
        let client = reqwest::Client::builder()
            .resolve(AUTH, env.gw.http)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(WAIT)
            .build()
            .unwrap();
        let flow = b.cookies[AUTH]["portcullis_flow"].clone();
        let r = client
            .post(sign_in.clone())
            .header("origin", "http://evil.example")
            .header("cookie", format!("portcullis_flow={flow}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("email={BOB}&csrf={csrf}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }

    // A hand-off code for wiki: not on docs, and only once.
    let url = reqwest::Url::parse_with_params(
        &env.url(AUTH, "/.portcullis/sign-in"),
        &[("rd", env.url("wiki.test", "/"))],
    )
    .unwrap();
    let handoff = b.get(url.as_str()).await.location.unwrap();
    assert_eq!(handoff.path(), "/.portcullis/session");
    let mut on_docs = handoff.clone();
    on_docs.set_host(Some("docs.test")).unwrap();
    let mut fresh = env.browser();
    assert_eq!(fresh.get(on_docs.as_str()).await.status, 400);
    // Taken by the attempt on docs: useless on wiki now.
    assert_eq!(fresh.get(handoff.as_str()).await.status, 400);
}

/// Sign-out ends the session everywhere: the app host's cookie is cleared,
/// the auth host's session revoked, and other app hosts' cookies from the
/// same sign-in stop working within seconds.
#[tokio::test]
async fn sign_out_ends_the_session_on_every_app_host() {
    let env = start(None, "").await;
    let mut b = env.browser();
    let consent = env.password_sign_in(&mut b, "wiki.test", BOB, BOB_PW).await;
    b.submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(b.open(&env.url("docs.test", "/")).await.status, 200);
    let docs_cookie = b.cookies["docs.test"]["portcullis_session"].clone();

    // Signing out on an app host: its cookie goes, the session is revoked
    // by its sid, and the auth host's page clears the auth cookie too.
    let done = b.open(&env.url("wiki.test", "/.portcullis/sign-out")).await;
    assert_eq!(done.url.host_str(), Some(AUTH));
    assert!(done.body.contains("You are signed out"), "{}", done.body);
    assert!(!b.cookies["wiki.test"].contains_key("portcullis_session"));
    assert!(!b.cookies[AUTH].contains_key("portcullis_session"));
    // The docs cookie (never sent to the auth host) is revoked by its sid.
    let client = reqwest::Client::builder()
        .resolve("docs.test", env.gw.http)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(WAIT)
        .build()
        .unwrap();
    let url = env.url("docs.test", "/");
    let refused = poll(Duration::from_secs(6), || {
        let client = client.clone();
        let url = url.clone();
        let cookie = format!("portcullis_session={docs_cookie}");
        async move {
            let r = client
                .get(url)
                .header("cookie", cookie)
                .header("accept", "text/html")
                .send()
                .await
                .ok()?;
            (r.status() == 302).then_some(())
        }
    })
    .await;
    assert!(
        refused.is_some(),
        "the docs cookie still works after sign-out"
    );
    // Signing in again shows the form, not a silent hand-off.
    let again = b.open(&env.url("docs.test", "/")).await;
    assert_eq!(again.heading(), "Sign in");

    // On the auth host, signing out takes a confirming POST (a cross-site
    // link cannot sign anyone out), then ends the session.
    let docs = env.password_sign_in(&mut b, "docs.test", BOB, BOB_PW).await;
    assert_eq!(docs.status, 200);
    let confirm = b.open(&env.url(AUTH, "/.portcullis/sign-out")).await;
    assert!(
        confirm.body.contains("Sign out of every app"),
        "{}",
        confirm.body
    );
    let forged = b.post(&confirm.url, &[("csrf", "not-the-token")]).await;
    assert_eq!(forged.status, 403);
    assert!(b.cookies[AUTH].contains_key("portcullis_session"));
    let done = b.submit(&confirm, "/.portcullis/sign-out", &[]).await;
    assert!(done.body.contains("You are signed out"), "{}", done.body);
    assert!(!b.cookies[AUTH].contains_key("portcullis_session"));
    let user = env.gw.store.get_user_by_email(BOB).await.unwrap().unwrap();
    assert!(
        env.gw
            .store
            .sessions_of_user(&user.id, OffsetDateTime::now_utc())
            .await
            .unwrap()
            .is_empty()
    );
}

/// MFA from the partner's IdP counts only when that IdP is `mfa: trusted`;
/// an untrusted IdP's `amr: mfa` still gets Portcullis's own TOTP. A
/// callback mixing one IdP's pending sign-in with another's code and issuer
/// is refused (IdP mix-up). When an IdP is down, its sign-in page says so and
/// people already signed in keep working.
#[tokio::test]
async fn trusted_idp_mfa_counts_mixed_up_callbacks_fail_and_a_dead_idp_is_named() {
    let mut env = start(Some(OP_ACCOUNTS), "").await;
    let until = OffsetDateTime::now_utc() + time::Duration::days(7);
    let grace = env
        .gw
        .add_user("grace@mfa-partner.example", UserType::Guest)
        .await;
    env.gw.assign(&grace, "demo", Some(until)).await;
    let carol = env
        .gw
        .add_user("carol@partner.example", UserType::Guest)
        .await;
    env.gw.assign(&carol, "demo", Some(until)).await;

    // Trusted: straight to the app after consent.
    let mut g = env.browser();
    let at_idp = ask_idp(&env, &mut g, "demo.test", "grace@mfa-partner.example").await;
    let cb = idp_login(&mut g, at_idp, "grace@mfa-partner.example", "grace-pw").await;
    let consent = g.open(cb.as_str()).await;
    let demo = g
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(
        (demo.status, demo.url.host_str()),
        (200, Some("demo.test")),
        "{demo:?}"
    );

    // Untrusted, though its amr says mfa: Portcullis's own second factor.
    let mut c = env.browser();
    let at_idp = ask_idp(&env, &mut c, "demo.test", "carol@partner.example").await;
    let cb = idp_login(&mut c, at_idp, "carol@partner.example", "carol-pw").await;
    let consent = c.open(cb.as_str()).await;
    let enroll = c
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(
        enroll.heading(),
        "Set up two-step verification",
        "{}",
        enroll.body
    );

    // Mix-up: the pending sign-in at `partner`, answered with the code and
    // issuer from `partner-mfa`.
    let mut m = env.browser();
    let to_a = ask_idp(&env, &mut m, "demo.test", "carol@partner.example").await;
    let state_a: String = to_a
        .location
        .as_ref()
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let to_b = ask_idp(&env, &mut m, "demo.test", "grace@mfa-partner.example").await;
    let cb_b = idp_login(&mut m, to_b, "grace@mfa-partner.example", "grace-pw").await;
    let mut mixed = cb_b.clone();
    let pairs: Vec<(String, String)> = cb_b
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                state_a.clone()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    mixed.query_pairs_mut().clear().extend_pairs(pairs);
    let refused = m.get(mixed.as_str()).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(
        m.cookies
            .get(AUTH)
            .is_none_or(|j| !j.contains_key("portcullis_session"))
    );

    // partner's IdP goes down: its sign-in page says so; Grace keeps working.
    drop(env.op.take());
    let mut late = env.browser();
    let down = ask_idp(&env, &mut late, "demo.test", "carol@partner.example").await;
    assert_eq!(down.status, 503, "{down:?}");
    assert_eq!(down.heading(), "Sign-in service unavailable");
    assert_eq!(g.open(&env.url("demo.test", "/again")).await.status, 200);
    assert!(env.op_mfa.is_some());

    let metrics = env.gw.metrics().await;
    assert!(
        metrics.contains("portcullis_mfa_total{method=\"idp\",result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"partner\",result=\"idp_unreachable\"} 1")
    );
}

/// A session older than an app's sign-in frequency goes back to the IdP
/// for a fresh sign-in (`prompt=login`), even though the auth host and the
/// IdP both still have a session; then the app lets the person in.
#[tokio::test]
async fn sign_in_frequency_asks_the_idp_for_a_fresh_sign_in() {
    let env = start(Some(OP_ACCOUNTS), "").await;
    let erin = env
        .gw
        .add_user("erin@tailwindtraders.com", UserType::Member)
        .await;
    let mut b = env.browser();
    for host in [AUTH, "payroll.test"] {
        let c = env
            .gw
            .mint_cookie(
                host,
                &erin,
                "erin@tailwindtraders.com",
                UserType::Member,
                &[],
                &["pwd"],
                7200,
            )
            .await;
        let (k, v) = c.split_once('=').unwrap();
        b.cookies
            .entry(host.to_string())
            .or_default()
            .insert(k.into(), v.into());
    }
    let form = b.open(&env.url("payroll.test", "/pay")).await;
    assert_eq!(
        (form.url.host_str(), form.heading().as_str()),
        (Some(AUTH), "Sign in"),
        "{form:?}"
    );
    assert!(form.body.contains("recent sign-in"), "{}", form.body);
    let action = form.url.join("/.portcullis/sign-in").unwrap();
    let fields = [
        ("csrf", form.field("csrf").unwrap()),
        ("rd", form.field("rd").unwrap()),
        ("reauth", form.field("reauth").unwrap()),
        ("email", "erin@tailwindtraders.com".to_string()),
    ];
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let to_idp = b.post(&action, &refs).await;
    let authorize = to_idp.location.clone().unwrap();
    assert!(
        authorize
            .query_pairs()
            .any(|(k, v)| k == "prompt" && v == "login"),
        "{authorize}"
    );
    let cb = idp_login(&mut b, to_idp, "erin@tailwindtraders.com", "erin-pw").await;
    let pay = b.open(cb.as_str()).await;
    assert_eq!((pay.status, pay.url.path()), (200, "/pay"), "{pay:?}");
}

fn portcullis(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run portcullis")
}

/// The invitation links in every mail to `to`.
fn mailed_link(env: &Env, to: &str) -> Vec<String> {
    mail_texts(env, to)
        .iter()
        .filter_map(|text| {
            text.split_whitespace()
                .find(|w| w.contains("/.portcullis/invite?token="))
                .map(str::to_string)
        })
        .collect()
}

/// An owner invites a partner from the CLI: the e-mail (with the personal
/// message) reaches a real SMTP server; opening the link (as a mail scanner
/// does) uses nothing; the partner signs in with an e-mailed code, consents,
/// and lands on their apps with the date access ends; the link then works
/// no more. A withdrawn link and one accepted by the wrong person say so.
#[tokio::test]
async fn invited_partner_redeems_the_link_once_and_lands_on_their_apps() {
    let env = start_mail(
        None,
        "",
        Some(SmtpSink::start()),
        "guests: { invitation_lifetime: 3d }\n",
    )
    .await;
    let config = env.gw.path("portcullis.yaml");
    let config = config.to_str().unwrap();
    let out = portcullis(&[
        "invite",
        "--config",
        config,
        "--email",
        "Frank@Contoso.Example",
        "--app",
        "wiki",
        "--days",
        "10",
        "--message",
        "Welcome <b>aboard</b>",
        "--inviter",
        "Alice Smith",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("invited frank@contoso.example to wiki"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("token"),
        "the CLI never prints the link: {stdout}"
    );
    let links = mailed_link(&env, "frank@contoso.example");
    assert_eq!(links.len(), 1, "one invitation mail");
    // The link is built from the config (HTTPS preferred), never from a
    // request's Host; the browser here talks to the HTTP listener.
    let https_base = format!(
        "https://{AUTH}:{}/.portcullis/invite?token=",
        env.gw.https.port()
    );
    assert!(links[0].starts_with(&https_base), "{}", links[0]);
    let to_http = |l: &str| l.replace(&https_base, &env.url(AUTH, "/.portcullis/invite?token="));
    let link = to_http(&links[0]);

    // A mail scanner opens the link twice: nothing is used.
    for _ in 0..2 {
        let mut scanner = env.browser();
        let page = scanner.open(&link).await;
        assert_eq!(page.heading(), "You are invited", "{}", page.body);
        assert!(
            page.body.contains("Alice Smith")
                && page.body.contains("Welcome &lt;b&gt;aboard&lt;/b&gt;")
        );
    }
    let inv = env.gw.store.list_invitations().await.unwrap().remove(0);
    assert_eq!(inv.status(OffsetDateTime::now_utc()), "pending");
    let lifetime = inv.expires_at - inv.created_at;
    assert_eq!(
        lifetime,
        time::Duration::days(3),
        "guests.invitation_lifetime"
    );

    // Frank accepts: sign-in by e-mailed code (sent to the invited address
    // without his retyping it, issue 17), consent, then the invited app.
    let mut b = env.browser();
    let page = b.open(&link).await;
    let code_page = b.submit(&page, "/.portcullis/invite", &[]).await;
    assert_eq!(code_page.heading(), "Enter your code", "{}", code_page.body);
    let codes = wait_for_codes(&env, "frank@contoso.example", 1).await;
    let consent = b
        .submit(
            &code_page,
            "/.portcullis/sign-in/passcode",
            &[("code", &codes[0])],
        )
        .await;
    assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
    let landed = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(
        (landed.status, landed.url.host_str()),
        (200, Some("wiki.test")),
        "lands on the invited app: {landed:?}"
    );
    let panel = b.open(&env.url(AUTH, "/.portcullis/apps")).await;
    assert!(
        panel.body.contains("wiki app") && panel.body.contains("Access until "),
        "{}",
        panel.body
    );
    let wiki = b.open(&env.url("wiki.test", "/")).await;
    assert_eq!((wiki.status, wiki.url.host_str()), (200, Some("wiki.test")));
    let user = env
        .gw
        .store
        .get_user_by_email("frank@contoso.example")
        .await
        .unwrap()
        .unwrap();
    let a = env.gw.store.assignments_of_user(&user.id).await.unwrap();
    let end = a[0].expires_at.unwrap() - OffsetDateTime::now_utc();
    assert!(
        end > time::Duration::days(9) && end <= time::Duration::days(10),
        "{end}"
    );

    assert!(
        env.gw
            .metrics()
            .await
            .contains("portcullis_invitations_total{event=\"redeemed\"} 1")
    );
    // Used once: the link now says so.
    let mut later = env.browser();
    let used = later.open(&link).await;
    assert_eq!(
        (used.status, used.heading().as_str()),
        (410, "Invitation already used")
    );

    // Withdrawn.
    let out = portcullis(&[
        "invite",
        "--config",
        config,
        "--email",
        "gina@contoso.example",
        "--app",
        "docs",
    ]);
    assert!(out.status.success());
    let invitation_of = |email: &'static str| {
        let store = env.gw.store.clone();
        async move {
            store
                .list_invitations()
                .await
                .unwrap()
                .into_iter()
                .find(|i| i.email == email)
                .unwrap()
        }
    };
    let gina = invitation_of("gina@contoso.example").await;
    let out = portcullis(&["invitations", "revoke", "--config", config, &gina.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gina_link = to_http(&mailed_link(&env, "gina@contoso.example").remove(0));
    let withdrawn = later.open(&gina_link).await;
    assert_eq!(
        (withdrawn.status, withdrawn.heading().as_str()),
        (410, "Invitation withdrawn")
    );

    // Accepted by someone else (Bob, signed in): refused, the link stays usable.
    let out = portcullis(&[
        "invite",
        "--config",
        config,
        "--email",
        "hank@contoso.example",
        "--app",
        "docs",
    ]);
    assert!(out.status.success());
    let hank_link = to_http(&mailed_link(&env, "hank@contoso.example").remove(0));
    let mut bob = env.browser();
    let consent = env
        .password_sign_in(&mut bob, "wiki.test", BOB, BOB_PW)
        .await;
    bob.submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    let page = bob.open(&hank_link).await;
    assert!(
        page.body
            .contains("You are signed in as bob@fabrikam.example"),
        "{}",
        page.body
    );
    let refused = bob.submit(&page, "/.portcullis/invite", &[]).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let hank = invitation_of("hank@contoso.example").await;
    assert_eq!(hank.status(OffsetDateTime::now_utc()), "pending");

    // Bad input names the field; unknown apps get a suggestion.
    let out = portcullis(&[
        "invite",
        "--config",
        config,
        "--email",
        "x@contoso.example",
        "--app",
        "wikki",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `wiki`"));
    let out = portcullis(&[
        "invite",
        "--config",
        config,
        "--email",
        "erin@tailwindtraders.com",
        "--app",
        "wiki",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("member"));

    // Two redemptions racing: exactly one wins.
    let user = env
        .gw
        .add_user("ivy@contoso.example", UserType::Guest)
        .await;
    let now = OffsetDateTime::now_utc();
    env.gw
        .store
        .create_invitation(
            &portcullis::store::NewInvitation {
                email: "ivy@contoso.example".into(),
                user_id: user,
                apps: vec!["wiki".into()],
                access_until: None,
                access_days: Some(3),
                message: None,
                inviter: "test".into(),
                expires_at: now + time::Duration::days(1),
            },
            "race-token",
            now,
        )
        .await
        .unwrap();
    let (s1, s2) = (env.gw.store.clone(), env.gw.store.clone());
    let (a, b2) = tokio::join!(
        tokio::spawn(async move { s1.redeem_invitation("race-token", now).await.unwrap() }),
        tokio::spawn(async move { s2.redeem_invitation("race-token", now).await.unwrap() }),
    );
    let wins = [a.unwrap(), b2.unwrap()]
        .iter()
        .filter(|r| matches!(r, portcullis::store::Redemption::Redeemed(_)))
        .count();
    assert_eq!(wins, 1);
}

/// Issue 14, finding 9, through the admin API: a look-alike domain
/// (`fabrıkam` with a dotless ı) and an inviter with a line break are
/// refused with a 400 that names the field and says why; nothing is stored
/// or mailed. A real internationalised domain is invited.
#[tokio::test]
async fn regression_admin_api_refuses_lookalike_domains_and_multiline_inviters() {
    let env = start(None, "").await;
    let api = format!("http://{}/api/v1/invitations", env.gw.admin);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let post = |body: serde_json::Value| {
        http.post(&api)
            .header("authorization", "Bearer test-admin-token-0123456789")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    for (body, field, says) in [
        (
            serde_json::json!({"email": "bob@fabrıkam.example", "apps": ["wiki"], "inviter": "Alice"}),
            "email",
            "looks like `fabrikam`",
        ),
        (
            serde_json::json!({"email": "bob@fabrikam.example", "apps": ["wiki"], "inviter": "Alice\r\nClick http://evil"}),
            "inviter",
            "line break",
        ),
    ] {
        let r = post(body).await.unwrap();
        assert_eq!(r.status(), 400);
        let answer: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(answer["field"], field, "{answer}");
        assert!(
            answer["error"].as_str().unwrap_or_default().contains(says),
            "{answer}"
        );
    }
    assert!(env.gw.store.list_invitations().await.unwrap().is_empty());
    assert!(mail_texts(&env, "bob@fabrikam.example").is_empty());
    let r =
        post(serde_json::json!({"email": "ivan@пример.рф", "apps": ["wiki"], "inviter": "Alice"}))
            .await
            .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

/// The admin API does what the CLI does, token-authenticated, with errors
/// that name the field, and never returns the link.
#[tokio::test]
async fn admin_api_invites_lists_resends_and_revokes() {
    let env = start(None, "").await;
    let api = format!("http://{}/api/v1/invitations", env.gw.admin);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let token = "Bearer test-admin-token-0123456789";
    let until = (OffsetDateTime::now_utc() + time::Duration::days(100))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = serde_json::json!({
        "email": "jo@contoso.example", "apps": ["wiki", "docs"],
        "access_until": until, "inviter": "Alice", "message": "Hi Jo"
    });
    let unauthorised = http
        .post(&api)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), 401);
    let r = http
        .post(&api)
        .header("authorization", token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let text = r.text().await.unwrap();
    assert!(!text.contains("token="), "no link in the answer: {text}");
    let created: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["status"], "pending");
    assert_eq!(created["apps"], serde_json::json!(["wiki", "docs"]));
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(mailed_link(&env, "jo@contoso.example").len(), 1);

    let bad = http
        .post(&api)
        .header("authorization", token)
        .header("content-type", "application/json")
        .body(r#"{"email": "jo@contoso.example", "apps": ["wikki"], "inviter": "A"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad: serde_json::Value = serde_json::from_str(&bad.text().await.unwrap()).unwrap();
    assert_eq!(bad["field"], "apps", "{bad}");

    let list: serde_json::Value = http
        .get(&api)
        .header("authorization", token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str::<serde_json::Value>(&t).unwrap())
        .unwrap();
    assert_eq!(list["invitations"].as_array().unwrap().len(), 1);

    // Resend: a new link; the first one stops working.
    let resent = http
        .post(format!("{api}/{id}/resend"))
        .header("authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(resent.status(), 200);
    let links = mailed_link(&env, "jo@contoso.example");
    assert_eq!(links.len(), 2);
    let old_token = links
        .iter()
        .map(|l| l.split("token=").nth(1).unwrap().to_string());
    let mut live = 0;
    for t in old_token {
        if env
            .gw
            .store
            .invitation_by_token(&t)
            .await
            .unwrap()
            .is_some()
        {
            live += 1;
        }
    }
    assert_eq!(live, 1, "only the newest link is known");

    let revoked = http
        .delete(format!("{api}/{id}"))
        .header("authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let again = http
        .delete(format!("{api}/{id}"))
        .header("authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let missing = http
        .get(format!("{api}/inv_nope"))
        .header("authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let metrics = env.gw.metrics().await;
    for event in ["created", "resent", "revoked"] {
        assert!(
            metrics.contains(&format!(
                "portcullis_invitations_total{{event=\"{event}\"}} 1"
            )),
            "{event}: {metrics}"
        );
    }
}
