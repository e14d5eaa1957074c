//! Getting back in without the help desk (issue 20): a guest who lost
//! their authenticator asks on the MFA step, an owner of their app approves
//! by the mailed link (signed in, with MFA), and the guest's mailed
//! re-enrolment link lets them set up a new factor, once, in the browser
//! that asked. Against the real gateway, its local IdP, its SQLite store
//! and its mail outbox.
//!
//! Attack cases, each kept: a recovery link used twice, used in another
//! browser, expired; an approval link for another guest's request (an
//! owner of another app); a member asking; asking too often.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use support::browser::{Browser, Page};
use support::gateway::{AppSpec, Gateway, app};
use support::panel::totp;
use support::upstream::Upstream;
use support::{WAIT, poll};

const AUTH: &str = "auth.test";
/// A guest of wiki (owned by Olivia).
const BOB: &str = "bob@fabrikam.example";
/// A guest of docs (owned by Dave).
const CAROL: &str = "carol@contoso.example";
/// A guest of hr (no owners; Dave invited her).
const ERIN: &str = "erin@northwind.example";
const OLIVIA: &str = "olivia@tailwindtraders.com";
const DAVE: &str = "dave@tailwindtraders.com";
/// A member with no apps to own.
const MIA: &str = "mia@tailwindtraders.com";
const PW: &str = "recovery-password-1";
const LOST: &str = "/.portcullis/mfa/lost";

const RULES: &str = "\
policies:
  - name: everyone-needs-mfa
    users: { include: [all] }
    apps: { include: [all] }
    grant: { require: [mfa] }
";

struct Env {
    gw: Gateway,
    _up: Upstream,
}

async fn start() -> Env {
    start_with("").await
}

/// [`start`] with an `organisation:` section (`organisation` ends in a
/// line break).
async fn start_with(organisation: &str) -> Env {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let hash = portcullis::local_idp::hash_password(PW).unwrap();
    let mut users = String::from("users:\n");
    for (email, apps) in [
        (BOB, "[wiki]"),
        (CAROL, "[docs]"),
        (ERIN, "[]"),
        (OLIVIA, "[]"),
        (DAVE, "[]"),
        (MIA, "[]"),
    ] {
        users.push_str(&format!(
            "  - {{ email: {email}, password_hash: \"{hash}\", apps: {apps} }}\n"
        ));
    }
    std::fs::write(dir.path().join("users.yaml"), users).unwrap();
    let ups = vec![up.address()];
    let apps: Vec<AppSpec> = vec![
        app("wiki", &ups, &format!("title: Wiki, owners: [{OLIVIA}]")),
        app("docs", &ups, &format!("title: Docs, owners: [{DAVE}]")),
        app("hr", &ups, "title: HR"),
    ];
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!(
        "{organisation}\
         sign_in: {{ host: {AUTH} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n"
    );
    let gw = Gateway::start_configured(dir, &apps, RULES, &[], idps, &top).await;
    Env { gw, _up: up }
}

impl Env {
    /// A browser asking for English pages (whatever the organisation's
    /// language); a test switches it to German where it checks German.
    fn browser(&self) -> Browser {
        let mut b = Browser::new(self.gw.http, &[AUTH, "wiki.test", "docs.test", "hr.test"]);
        b.accept_language = Some("en".to_string());
        b
    }

    fn url(&self, host: &str, path: &str) -> String {
        self.gw.url(host, path)
    }

    /// Opens `start` and signs in with the password on the way (consent
    /// accepted); the page it ends on.
    async fn sign_in_at(&self, b: &mut Browser, start: &str, email: &str) -> Page {
        let form = b.open(start).await;
        assert_eq!(form.heading(), "Sign in", "{}", form.body);
        let pw = b
            .submit(&form, "/.portcullis/sign-in", &[("email", email)])
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

    /// Sets up an authenticator on the enrollment page `enroll`; the page
    /// after "Continue" and the secret.
    async fn enroll(&self, b: &mut Browser, enroll: &Page) -> (Page, String) {
        assert_eq!(
            enroll.heading(),
            "Set up two-step verification",
            "{}",
            enroll.body
        );
        let secret = enroll.by_id("secret").expect("the key");
        let codes = b
            .submit(enroll, "/.portcullis/mfa", &[("code", &totp(&secret, 0))])
            .await;
        assert_eq!(
            codes.heading(),
            "Save your recovery codes",
            "{}",
            codes.body
        );
        let next = codes
            .links()
            .into_iter()
            .find(|l| l.path() == "/.portcullis/mfa")
            .expect("Continue");
        (b.open(next.as_str()).await, secret)
    }

    /// A guest with an authenticator, signed in again in a new browser
    /// (their first factor only): the browser at the MFA step.
    async fn guest_at_mfa_step(&self, email: &str, app: &str) -> (Browser, Page) {
        let home = self.url(&format!("{app}.test"), "/");
        let mut first = self.browser();
        let enroll = self.sign_in_at(&mut first, &home, email).await;
        self.enroll(&mut first, &enroll).await;
        let mut b = self.browser();
        let step = self.sign_in_at(&mut b, &home, email).await;
        assert_eq!(step.heading(), "Verify it's you", "{}", step.body);
        (b, step)
    }

    /// From the MFA step: "I lost my authenticator", then ask.
    async fn ask(&self, b: &mut Browser, step: &Page) -> Page {
        let lost = step
            .links()
            .into_iter()
            .find(|l| l.path() == LOST)
            .unwrap_or_else(|| panic!("no lost-authenticator link: {}", step.body));
        let page = b.open(lost.as_str()).await;
        assert_eq!(page.heading(), "Lost your authenticator?", "{}", page.body);
        b.submit(&page, LOST, &[]).await
    }

    /// The mails in the outbox to `to`, as (subject, text part), oldest
    /// first, once there are `n`.
    async fn mails_to(&self, to: &str, n: usize) -> Vec<(String, String)> {
        let read = || {
            let mut found: Vec<(std::time::SystemTime, String, String)> =
                std::fs::read_dir(self.gw.path("outbox"))
                    .map(|rd| {
                        rd.filter_map(Result::ok)
                            .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
                            .filter_map(|e| {
                                let t = e.metadata().ok()?.modified().ok()?;
                                let raw = std::fs::read(e.path()).ok()?;
                                let mail = mailparse::parse_mail(&raw).ok()?;
                                let headers = &mail.headers;
                                use mailparse::MailHeaderMap as _;
                                let rcpt = headers.get_first_value("To")?;
                                if !rcpt.to_ascii_lowercase().contains(to) {
                                    return None;
                                }
                                let subject = headers.get_first_value("Subject")?;
                                let text = mail
                                    .subparts
                                    .iter()
                                    .find(|p| p.ctype.mimetype == "text/plain")
                                    .and_then(|p| p.get_body().ok())?;
                                Some((t, subject, text))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
            found.sort();
            found
                .into_iter()
                .map(|(_, s, t)| (s, t))
                .collect::<Vec<_>>()
        };
        poll(WAIT, || async {
            let m = read();
            (m.len() >= n).then_some(m)
        })
        .await
        .map(|(m, _)| m)
        .unwrap_or_else(|| panic!("{n} mails to {to}"))
    }

    /// The link on `path` in `text`, made to point at the HTTP listener
    /// (mail links prefer the configured HTTPS one).
    fn link_in(&self, text: &str, path: &str) -> String {
        let link = text
            .split_whitespace()
            .find(|w| w.contains(path))
            .unwrap_or_else(|| panic!("no {path} link in: {text}"));
        let https = format!("https://{AUTH}:{}", self.gw.https.port());
        assert!(link.starts_with(&https), "{link}");
        link.replace(&https, &self.url(AUTH, ""))
    }

    /// An owner signs in from the review link and passes MFA (setting up
    /// an authenticator the first time); the review page.
    async fn owner_opens(&self, email: &str, review: &str) -> (Browser, Page) {
        let mut b = self.browser();
        let page = self.sign_in_at(&mut b, review, email).await;
        // The review page asks for MFA first.
        let (page, _) = self.enroll(&mut b, &page).await;
        (b, page)
    }

    async fn audit_actions(&self, user_email: &str) -> Vec<String> {
        let user = self
            .gw
            .store
            .get_user_by_email(user_email)
            .await
            .unwrap()
            .unwrap();
        let entries = self
            .gw
            .store
            .list_audit(&portcullis::store::AuditQuery {
                subject: Some(user.id.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        entries.into_iter().map(|e| e.action).collect()
    }
}

#[tokio::test]
async fn a_guest_who_lost_the_authenticator_is_back_in_with_an_owners_approval() {
    let env = start().await;
    let (mut bob, step) = env.guest_at_mfa_step(BOB, "wiki").await;
    let ask_page = bob
        .open(&env.url(
            AUTH,
            &format!("{LOST}?rd={}", step.field("rd").unwrap_or_default()),
        ))
        .await;
    let sent = env.ask(&mut bob, &step).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.by_id("sent").is_some(), "{}", sent.body);

    // Olivia owns wiki: she gets the mail, signs in with MFA, approves.
    let mails = env.mails_to(OLIVIA, 1).await;
    assert!(mails[0].0.contains(BOB), "{:?}", mails[0]);
    let review = env.link_in(&mails[0].1, "/.portcullis/mfa/lost/review?id=");
    let (mut olivia, page) = env.owner_opens(OLIVIA, &review).await;
    assert_eq!(page.heading(), "New authenticator request", "{}", page.body);
    assert!(page.body.contains(BOB), "{}", page.body);
    let done = olivia
        .submit(
            &page,
            "/.portcullis/mfa/lost/review",
            &[("id", &page.field("id").unwrap()), ("decision", "approve")],
        )
        .await;
    assert_eq!(done.heading(), "Request approved", "{}", done.body);

    // Bob's link, in the browser that asked.
    let mails = env.mails_to(BOB, 1).await;
    let link = env.link_in(&mails[0].1, "/.portcullis/mfa/lost/reenrol?token=");
    let confirm = bob.open(&link).await;
    assert_eq!(
        confirm.heading(),
        "Set up a new authenticator",
        "{}",
        confirm.body
    );
    let redeemed = bob
        .submit(&confirm, "/.portcullis/mfa/lost/reenrol", &[])
        .await;
    assert_eq!(redeemed.status, 200, "{}", redeemed.body);
    assert!(redeemed.by_id("notice").is_some(), "{}", redeemed.body);
    // The recovery cookie is spent with the link.
    assert!(!bob.cookies[AUTH].contains_key("portcullis_recovery"));

    // The lost factor is gone: Bob sets up a new one without a code and
    // reaches the app.
    let bob_user = env.gw.store.get_user_by_email(BOB).await.unwrap().unwrap();
    assert!(
        env.gw
            .store
            .get_totp_factor(&bob_user.id)
            .await
            .unwrap()
            .is_none()
    );
    let enroll = bob
        .open(&env.url(AUTH, "/.portcullis/security?step=enroll"))
        .await;
    let (back, _) = env.enroll(&mut bob, &enroll).await;
    assert_eq!(back.heading(), "Security info", "{}", back.body);
    let wiki = bob.open(&env.url("wiki.test", "/")).await;
    assert_eq!(wiki.status, 200, "{}", wiki.body);
    assert!(wiki.url.host_str() == Some("wiki.test"), "{}", wiki.url);

    // Attack: the same link again, in the same browser.
    let again = bob.open(&link).await;
    assert_eq!(again.status, 410, "{}", again.body);
    assert_eq!(again.heading(), "This link was used already");
    let posted = bob
        .submit(&confirm, "/.portcullis/mfa/lost/reenrol", &[])
        .await;
    assert_eq!(posted.status, 410, "{}", posted.body);

    // How the pages look, laptop and phone, and axe-core's check.
    support::chromium::render_pages(
        "mfa_recovery",
        &[
            ("01-mfa-step", step.body.as_str()),
            ("02-ask", ask_page.body.as_str()),
            ("03-asked", sent.body.as_str()),
            ("04-review", page.body.as_str()),
            ("05-approved", done.body.as_str()),
            ("06-reenrol", confirm.body.as_str()),
            ("07-reenrolled", redeemed.body.as_str()),
            ("08-used", again.body.as_str()),
        ],
    )
    .await;

    let actions = env.audit_actions(BOB).await;
    for a in [
        "mfa_recovery_requested",
        "mfa_recovery_approved",
        "mfa_reset",
        "mfa_recovered",
        "mfa_recovery_refused",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
}

#[tokio::test]
async fn a_recovery_link_opened_in_another_browser_does_nothing() {
    let env = start().await;
    let (mut bob, step) = env.guest_at_mfa_step(BOB, "wiki").await;
    env.ask(&mut bob, &step).await;
    let review = env.link_in(&env.mails_to(OLIVIA, 1).await[0].1, "review?id=");
    let (mut olivia, page) = env.owner_opens(OLIVIA, &review).await;
    olivia
        .submit(
            &page,
            "/.portcullis/mfa/lost/review",
            &[("id", &page.field("id").unwrap()), ("decision", "approve")],
        )
        .await;
    let link = env.link_in(&env.mails_to(BOB, 1).await[0].1, "reenrol?token=");

    // Someone with Bob's first factor and the mail, in another browser.
    let mut other = env.browser();
    let refused = env.sign_in_at(&mut other, &link, BOB).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        refused.heading(),
        "Open the link in the browser you asked from"
    );
    // A forged post with that browser's own CSRF token does no better.
    let csrf_page = other.open(&env.url(AUTH, LOST)).await;
    let token = link.split("token=").nth(1).unwrap();
    let posted = other
        .submit(
            &csrf_page,
            "/.portcullis/mfa/lost/reenrol",
            &[("token", token)],
        )
        .await;
    assert_eq!(posted.status, 403, "{}", posted.body);
    let bob_user = env.gw.store.get_user_by_email(BOB).await.unwrap().unwrap();
    assert!(
        env.gw
            .store
            .get_totp_factor(&bob_user.id)
            .await
            .unwrap()
            .is_some()
    );
    // The browser that asked still can.
    let confirm = bob.open(&link).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let redeemed = bob
        .submit(&confirm, "/.portcullis/mfa/lost/reenrol", &[])
        .await;
    assert!(redeemed.by_id("notice").is_some(), "{}", redeemed.body);
}

#[tokio::test]
async fn an_expired_recovery_link_is_refused() {
    let env = start().await;
    let (mut bob, step) = env.guest_at_mfa_step(BOB, "wiki").await;
    env.ask(&mut bob, &step).await;
    let review = env.link_in(&env.mails_to(OLIVIA, 1).await[0].1, "review?id=");
    let id = review.split("id=").nth(1).unwrap().to_string();
    // Approved 31 minutes ago (the store's own decision, with a token we
    // know): its 30 minutes are over.
    let now = time::OffsetDateTime::now_utc();
    let approved_at = now - time::Duration::minutes(31);
    let token = "an-expired-link-token-0123456789abcdefghijk";
    env.gw
        .store
        .decide_recovery_request(
            &id,
            Some((token, approved_at + portcullis::recovery_requests::LINK_TTL)),
            OLIVIA,
            now - portcullis::recovery_requests::PENDING_TTL,
            approved_at,
        )
        .await
        .unwrap()
        .expect("pending");
    let link = env.url(
        AUTH,
        &format!("/.portcullis/mfa/lost/reenrol?token={token}"),
    );
    let page = bob.open(&link).await;
    assert_eq!(page.status, 410, "{}", page.body);
    assert_eq!(page.heading(), "This link has expired");
    let csrf_page = bob.open(&env.url(AUTH, LOST)).await;
    let posted = bob
        .submit(
            &csrf_page,
            "/.portcullis/mfa/lost/reenrol",
            &[("token", token)],
        )
        .await;
    assert_eq!(posted.status, 410, "{}", posted.body);
    let bob_user = env.gw.store.get_user_by_email(BOB).await.unwrap().unwrap();
    assert!(
        env.gw
            .store
            .get_totp_factor(&bob_user.id)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_approval_link_for_another_guest_is_refused_to_an_owner_of_another_app() {
    let env = start().await;
    // Carol, a guest of docs (Dave's), asks.
    let (mut carol, step) = env.guest_at_mfa_step(CAROL, "docs").await;
    env.ask(&mut carol, &step).await;
    let review = env.link_in(&env.mails_to(DAVE, 1).await[0].1, "review?id=");
    // Olivia owns wiki, not docs: she got no mail, and the link (or a
    // forged one with Carol's id) does not let her decide.
    let (mut olivia, page) = env.owner_opens(OLIVIA, &review).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert_eq!(page.heading(), "Not yours to approve");
    let id = review.split("id=").nth(1).unwrap();
    let csrf_page = olivia.open(&env.url(AUTH, "/.portcullis/security")).await;
    let posted = olivia
        .submit(
            &csrf_page,
            "/.portcullis/mfa/lost/review",
            &[("id", id), ("decision", "approve")],
        )
        .await;
    assert_eq!(posted.status, 403, "{}", posted.body);
    let req = env
        .gw
        .store
        .get_recovery_request(id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req.status.as_str(), "pending");
    assert!(
        std::fs::read_dir(env.gw.path("outbox"))
            .unwrap()
            .filter_map(Result::ok)
            .all(|e| !std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .contains(&format!("To: {OLIVIA}"))),
        "Olivia was mailed about Carol"
    );
    // Nor Carol's mailbox: no link was sent.
    assert!(
        env.audit_actions(CAROL)
            .await
            .iter()
            .any(|a| a == "mfa_recovery_refused")
    );
    let carol_mails = std::fs::read_dir(env.gw.path("outbox"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .contains(CAROL)
        })
        .count();
    assert_eq!(carol_mails, 1, "only Dave's mail names Carol");

    // Dave may decide.
    let (_, dave_page) = env.owner_opens(DAVE, &review).await;
    assert_eq!(
        dave_page.heading(),
        "New authenticator request",
        "{}",
        dave_page.body
    );
}

#[tokio::test]
async fn a_guest_of_an_app_without_owners_asks_the_inviter() {
    let env = start().await;
    // Erin's only app, hr, has no owners; Dave granted it.
    let erin = env.gw.store.get_user_by_email(ERIN).await.unwrap().unwrap();
    let now = time::OffsetDateTime::now_utc();
    env.gw
        .store
        .grant_assignment(
            &erin.id,
            "hr",
            Some(now + time::Duration::days(7)),
            Some(DAVE),
            now,
        )
        .await
        .unwrap();
    let (mut b, step) = env.guest_at_mfa_step(ERIN, "hr").await;
    let sent = env.ask(&mut b, &step).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let mails = env.mails_to(DAVE, 1).await;
    assert!(mails[0].0.contains(ERIN), "{:?}", mails[0]);
}

#[tokio::test]
async fn a_member_is_never_offered_recovery() {
    let env = start().await;
    let (mut mia, step) = env.guest_at_mfa_step(MIA, "wiki").await;
    assert!(
        !step.links().iter().any(|l| l.path() == LOST),
        "a member was offered recovery: {}",
        step.body
    );
    assert!(
        step.body
            .contains("own process applies: ask your IT help desk"),
        "{}",
        step.body
    );
    let page = mia.open(&env.url(AUTH, LOST)).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert_eq!(page.heading(), "Ask your organisation");
    let posted = mia.submit(&step, LOST, &[]).await;
    assert_eq!(posted.status, 403, "{}", posted.body);
    assert!(
        !env.audit_actions(MIA)
            .await
            .iter()
            .any(|a| a.starts_with("mfa_recovery")),
        "a member's request was stored"
    );
    support::chromium::render_pages(
        "mfa_recovery_member",
        &[
            ("01-member-mfa-step", step.body.as_str()),
            ("02-member-asks", page.body.as_str()),
        ],
    )
    .await;
}

#[tokio::test]
async fn asking_again_mails_nobody_and_asking_too_often_is_refused() {
    let env = start().await;
    let (mut bob, step) = env.guest_at_mfa_step(BOB, "wiki").await;
    for i in 0..3 {
        let sent = env.ask(&mut bob, &step).await;
        assert_eq!(sent.status, 200, "ask {i}: {}", sent.body);
    }
    let refused = env.ask(&mut bob, &step).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    // One request, one mail, however often Bob asked.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(env.mails_to(OLIVIA, 1).await.len(), 1);
}

#[tokio::test]
async fn a_denied_request_sends_no_link_and_can_be_decided_only_once() {
    let env = start().await;
    let (mut carol, step) = env.guest_at_mfa_step(CAROL, "docs").await;
    env.ask(&mut carol, &step).await;
    let review = env.link_in(&env.mails_to(DAVE, 1).await[0].1, "review?id=");
    let (mut dave, page) = env.owner_opens(DAVE, &review).await;
    let id = page.field("id").unwrap();
    let denied = dave
        .submit(
            &page,
            "/.portcullis/mfa/lost/review",
            &[("id", &id), ("decision", "deny")],
        )
        .await;
    assert_eq!(denied.heading(), "Request denied", "{}", denied.body);
    let mails = env.mails_to(CAROL, 1).await;
    assert!(mails[0].0.contains("declined"), "{:?}", mails[0]);
    assert!(!mails[0].1.contains("reenrol"), "{}", mails[0].1);
    // A second decision (a replayed form) changes nothing.
    let again = dave
        .submit(
            &page,
            "/.portcullis/mfa/lost/review",
            &[("id", &id), ("decision", "approve")],
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    let req = env
        .gw
        .store
        .get_recovery_request(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req.status.as_str(), "denied");
    assert_eq!(req.decided_by.as_deref(), Some(DAVE));
    // The review page now says so.
    let shown = dave.open(&review).await;
    let status = format!("This request was denied by {DAVE}.");
    assert_eq!(shown.by_id("status").as_deref(), Some(status.as_str()));
    assert!(
        env.audit_actions(CAROL)
            .await
            .iter()
            .any(|a| a == "mfa_recovery_denied")
    );
}

/// The English words of the recovery pages and mails, none of which the
/// German ones may say.
const ENGLISH: &[&str] = &[
    "Verify it's you",
    "I lost my authenticator",
    "Lost your authenticator",
    "owners of your apps",
    "in this browser",
    "Ask to set up",
    "New authenticator request",
    "lost their authenticator",
    "asks to set up",
    "Approve only",
    ">Approve<",
    ">Deny<",
    "Request approved",
    "Set up a new authenticator",
    "Set up an authenticator app",
    "Signed in as",
    ">Continue<",
    "no longer work",
    "Add a passkey",
    "This link was used",
    "works once",
    "Review the request",
    "Or open this link",
    "was approved",
    "If you did not ask",
];

fn assert_german(what: &str, text: &str) {
    for english in ENGLISH {
        assert!(!text.contains(english), "{what} says {english:?}:\n{text}");
    }
}

/// A browser asking for German gets every recovery page in German; the
/// mails (no browser asked for them) are in the organisation's language,
/// German here.
#[tokio::test]
async fn the_recovery_pages_and_mails_speak_german() {
    let env = start_with(
        "organisation: { name: Tailwind Traders, member_domains: [tailwindtraders.com], language: de }\n",
    ).await;
    let (mut bob, step) = env.guest_at_mfa_step(BOB, "wiki").await;
    bob.accept_language = Some("de-DE,de;q=0.9".to_string());
    let step = bob.open(step.url.as_str()).await;
    assert_eq!(
        step.heading(),
        "Bestätigen Sie, dass Sie es sind",
        "{}",
        step.body
    );
    assert!(step.body.contains("<html lang=\"de\""), "{}", step.body);
    assert!(
        step.body.contains("Ich habe meinen Authenticator verloren"),
        "{}",
        step.body
    );
    assert_german("the MFA step", &step.body);
    let lost = step
        .links()
        .into_iter()
        .find(|l| l.path() == LOST)
        .unwrap_or_else(|| panic!("no lost-authenticator link: {}", step.body));
    let ask_page = bob.open(lost.as_str()).await;
    assert_eq!(
        ask_page.heading(),
        "Authenticator verloren?",
        "{}",
        ask_page.body
    );
    assert_german("the ask page", &ask_page.body);
    let sent = bob.submit(&ask_page, LOST, &[]).await;
    assert!(sent.by_id("sent").is_some(), "{}", sent.body);
    assert!(
        sent.body.contains("<strong>in diesem Browser</strong>"),
        "{}",
        sent.body
    );
    assert_german("the asked page", &sent.body);

    // Olivia's mail, in German; her review page too once her browser asks.
    let (subject, text) = env.mails_to(OLIVIA, 1).await.remove(0);
    assert_eq!(
        subject,
        format!(
            "{BOB} hat den Authenticator für die Anmeldung verloren und möchte einen neuen einrichten"
        )
    );
    assert!(
        text.contains(&format!(
            "{BOB}, Gast von Wiki bei Tailwind Traders, hat den Authenticator"
        )),
        "{text}"
    );
    assert!(text.contains("Anfrage prüfen:"), "{text}");
    assert_german("the request mail", &format!("{subject}\n{text}"));
    let review = env.link_in(&text, "/.portcullis/mfa/lost/review?id=");
    let (mut olivia, _) = env.owner_opens(OLIVIA, &review).await;
    olivia.accept_language = Some("de".to_string());
    let page = olivia.open(&review).await;
    assert_eq!(
        page.heading(),
        "Anfrage für einen neuen Authenticator",
        "{}",
        page.body
    );
    assert!(page.body.contains(">Genehmigen<"), "{}", page.body);
    assert_german("the review page", &page.body);
    let done = olivia
        .submit(
            &page,
            "/.portcullis/mfa/lost/review",
            &[("id", &page.field("id").unwrap()), ("decision", "approve")],
        )
        .await;
    assert_eq!(done.heading(), "Anfrage genehmigt", "{}", done.body);
    assert_german("the approved page", &done.body);

    // Bob's mail and the re-enrolment pages.
    let (subject, text) = env.mails_to(BOB, 1).await.remove(0);
    assert_eq!(
        subject,
        "Richten Sie einen neuen Authenticator für Tailwind Traders ein"
    );
    assert!(
        text.contains("Öffnen Sie diesen Link innerhalb von 30 Minuten"),
        "{text}"
    );
    assert_german("the decision mail", &format!("{subject}\n{text}"));
    let link = env.link_in(&text, "/.portcullis/mfa/lost/reenrol?token=");
    let confirm = bob.open(&link).await;
    assert_eq!(
        confirm.heading(),
        "Neuen Authenticator einrichten",
        "{}",
        confirm.body
    );
    assert_german("the re-enrol page", &confirm.body);
    let redeemed = bob
        .submit(&confirm, "/.portcullis/mfa/lost/reenrol", &[])
        .await;
    assert!(redeemed.by_id("notice").is_some(), "{}", redeemed.body);
    assert!(
        redeemed.body.contains("Authenticator-App einrichten"),
        "{}",
        redeemed.body
    );
    assert_german("the re-enrolled page", &redeemed.body);
    let again = bob.open(&link).await;
    assert_eq!(again.status, 410, "{}", again.body);
    assert_eq!(again.heading(), "Dieser Link wurde bereits verwendet");
    assert_german("the used-link page", &again.body);

    support::chromium::render_pages(
        "mfa_recovery_de",
        &[
            ("01-mfa-step", step.body.as_str()),
            ("02-ask", ask_page.body.as_str()),
            ("03-asked", sent.body.as_str()),
            ("04-review", page.body.as_str()),
            ("05-approved", done.body.as_str()),
            ("06-reenrol", confirm.body.as_str()),
            ("07-reenrolled", redeemed.body.as_str()),
            ("08-used", again.body.as_str()),
        ],
    )
    .await;
}
