//! End-to-end self-service sign-up: the real `portcullis serve`, the local
//! IdP for the organisation's members (the app owner Alice, and Carol who
//! owns nothing), the e-mailed passcode for partners, the file outbox, and
//! the browser stand-in. A partner asks for access, signs in, answers the
//! app's questions; automatic approval lands them in the app, owner
//! approval goes through the review link in the owner's e-mail.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use portcullis::store::RequestStatus;
use support::browser::{Browser, Page};
use support::gateway::{Gateway, app};
use support::upstream::Upstream;
use support::{WAIT, poll};
use time::OffsetDateTime;

const AUTH: &str = "auth.test";
const ALICE: &str = "alice@tailwindtraders.com";
const CAROL: &str = "carol@tailwindtraders.com";
/// A partner with an account at the local IdP (the only one `kb` offers).
const JO: &str = "jo@litware.example";
/// A member who owns `kb` through the group `kb-owners`.
const GWEN: &str = "gwen@tailwindtraders.com";
const PW: &str = "member-password-1";

struct Env {
    gw: Gateway,
    up: Upstream,
}

/// wiki: automatic approval for fabrikam.example, 14 days. docs: approval
/// by its owner Alice, any partner domain. payroll: no sign-up.
async fn start() -> Env {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let hash = portcullis::local_idp::hash_password(PW).unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        format!(
            "users:\n  - {{ email: {ALICE}, name: Alice, password_hash: \"{hash}\" }}\n  \
             - {{ email: {CAROL}, name: Carol, password_hash: \"{hash}\" }}\n  \
             - {{ email: {JO}, name: Jo, password_hash: \"{hash}\" }}\n  \
             - {{ email: {GWEN}, name: Gwen, password_hash: \"{hash}\", groups: [kb-owners] }}\n"
        ),
    )
    .unwrap();
    let ups = vec![up.address()];
    let apps = vec![
        app(
            "wiki",
            &ups,
            "title: Wiki, sign_up: { domains: [fabrikam.example], approval: automatic, access_days: 14, \
             attributes: [{ name: company, required: true }] }",
        ),
        app(
            "docs",
            &ups,
            &format!(
                "title: Docs, owners: [{ALICE}], sign_up: {{ approval: owner, \
                 attributes: [{{ name: company, required: true }}, {{ name: reason, label: Why you need access }}] }}"
            ),
        ),
        app("payroll", &ups, "title: Payroll"),
        app(
            "kb",
            &ups,
            &format!(
                "title: KB, owners: [{ALICE}, \"group:kb-owners\"], sign_up: {{ idps: [local] }}"
            ),
        ),
    ];
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!(
        "sign_in: {{ host: {AUTH} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n"
    );
    let gw = Gateway::start_configured(dir, &apps, "policies: []\n", &[], idps, &top).await;
    Env { gw, up }
}

impl Env {
    fn browser(&self) -> Browser {
        Browser::new(
            self.gw.http,
            &[AUTH, "wiki.test", "docs.test", "payroll.test", "kb.test"],
        )
    }

    fn url(&self, host: &str, path: &str) -> String {
        self.gw.url(host, path)
    }

    /// (subject, text body) of every mail to `to`.
    fn mails(&self, to: &str) -> Vec<(String, String)> {
        std::fs::read_dir(self.gw.path("outbox"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter_map(|m| {
                        let parsed = mailparse::parse_mail(m.as_bytes()).ok()?;
                        let rcpt = parsed
                            .headers
                            .iter()
                            .find(|h| h.get_key().eq_ignore_ascii_case("to"))?
                            .get_value();
                        if !rcpt.to_ascii_lowercase().contains(to) {
                            return None;
                        }
                        let subject = parsed
                            .headers
                            .iter()
                            .find(|h| h.get_key().eq_ignore_ascii_case("subject"))
                            .map(|h| h.get_value())
                            .unwrap_or_default();
                        let text = parsed
                            .subparts
                            .iter()
                            .find(|p| p.ctype.mimetype == "text/plain")
                            .and_then(|p| p.get_body().ok())
                            .unwrap_or_else(|| parsed.get_body().unwrap_or_default());
                        Some((subject, text))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The newest 8-digit code mailed to `to`.
    fn code(&self, to: &str) -> String {
        self.mails(to)
            .iter()
            .filter_map(|(_, text)| {
                text.split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 8)
                    .map(str::to_string)
            })
            .next_back()
            .expect("a passcode mail")
    }

    /// A partner asks for `app` with `email` and signs in with the e-mailed
    /// code, consenting; returns the attribute form.
    async fn ask_and_sign_in(&self, b: &mut Browser, app: &str, email: &str) -> Page {
        let start = b
            .open(&self.url(AUTH, &format!("/.portcullis/sign-up?app={app}")))
            .await;
        assert_eq!(start.heading(), "Ask for access", "{}", start.body);
        let sign_in = b
            .submit(
                &start,
                &format!("/.portcullis/sign-up?app={app}"),
                &[("email", email)],
            )
            .await;
        assert_eq!(sign_in.heading(), "Sign in", "{}", sign_in.body);
        let to = email.to_ascii_lowercase();
        let before = self.mails(&to).len();
        let code_page = b.submit(&sign_in, "/.portcullis/sign-in", &[]).await;
        assert_eq!(code_page.status, 200, "{}", code_page.body);
        // The code is mailed after the answer: wait (bounded) for it.
        poll(WAIT, || async {
            (self.mails(&to).len() > before).then_some(())
        })
        .await
        .expect("a passcode mail");
        let code = self.code(&to);
        let consent = b
            .submit(
                &code_page,
                "/.portcullis/sign-in/passcode",
                &[("code", &code)],
            )
            .await;
        assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
        let form = b
            .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
            .await;
        assert_eq!(form.heading(), "Your request", "{}", form.body);
        assert_eq!(form.url.path(), "/.portcullis/sign-up/form");
        form
    }

    /// A member signs in with the local password from wherever `page` sent
    /// them (the sign-in page) and follows on.
    async fn member_sign_in(&self, b: &mut Browser, page: &Page, email: &str) -> Page {
        assert_eq!(page.heading(), "Sign in", "{}", page.body);
        let pw = b
            .submit(page, "/.portcullis/sign-in", &[("email", email)])
            .await;
        assert_eq!(pw.heading(), "Enter your password", "{}", pw.body);
        b.submit(&pw, "/.portcullis/sign-in/password", &[("password", PW)])
            .await
    }

    async fn audit_actions(&self) -> Vec<String> {
        let q = portcullis::store::AuditQuery::default();
        self.gw
            .store
            .list_audit(&q)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

/// `approval: automatic` for an allowed domain: the partner asks, signs in
/// with an e-mailed code, answers (the required answer is enforced) and
/// lands in the app; access lasts `access_days`; the decision is mailed.
#[tokio::test]
async fn automatic_approval_lands_the_partner_in_the_app() {
    let env = start().await;
    let mut b = env.browser();
    let form = env
        .ask_and_sign_in(&mut b, "wiki", "Dana@Fabrikam.Example")
        .await;
    let missing = b
        .submit(
            &form,
            "/.portcullis/sign-up/form?app=wiki",
            &[("attr_company", "   ")],
        )
        .await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert!(
        missing.body.contains("company is required"),
        "{}",
        missing.body
    );
    let too_long = "x".repeat(501);
    let long = b
        .submit(
            &missing,
            "/.portcullis/sign-up/form?app=wiki",
            &[("attr_company", &too_long)],
        )
        .await;
    assert_eq!(long.status, 400, "{}", long.body);

    let landed = b
        .submit(
            &long,
            "/.portcullis/sign-up/form?app=wiki",
            &[("attr_company", "  Fabrikam  ")],
        )
        .await;
    assert_eq!(
        (landed.status, landed.url.host_str()),
        (200, Some("wiki.test")),
        "{landed:?}"
    );
    assert_eq!(
        env.up.last().header("x-portcullis-email"),
        Some("dana@fabrikam.example")
    );

    let store = &env.gw.store;
    let reqs = store.list_access_requests(Some("wiki")).await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].status, RequestStatus::Approved);
    assert_eq!(reqs[0].decided_by.as_deref(), Some("automatic"));
    assert_eq!(reqs[0].attributes["company"], "Fabrikam", "trimmed");
    let user = store
        .get_user_by_email("dana@fabrikam.example")
        .await
        .unwrap()
        .unwrap();
    let a = store.assignments_of_user(&user.id).await.unwrap();
    let ends = a[0].expires_at.expect("a guest's access ends");
    let days = (ends - OffsetDateTime::now_utc()).whole_hours();
    assert!((13 * 24..=14 * 24).contains(&days), "{days} hours");
    let decision = env.mails("dana@fabrikam.example");
    assert!(
        decision
            .iter()
            .any(|(s, _)| s.contains("Your request for Wiki was approved")),
        "{decision:?}"
    );
    let actions = env.audit_actions().await;
    assert!(
        actions.contains(&"access_requested".to_string())
            && actions.contains(&"access_approved".to_string()),
        "{actions:?}"
    );

    // Asking again: access is already there.
    let again = b
        .open(&env.url(AUTH, "/.portcullis/sign-up/form?app=wiki"))
        .await;
    assert_eq!(again.heading(), "You already have access", "{}", again.body);
}

/// `approval: owner`: the request waits (asking twice shows it), the owner
/// gets a mail with the review link; someone who does not own the app (a
/// member, the partner) gets 403; the owner approves, the partner reaches
/// the app and is told; a second decision is refused.
#[tokio::test]
async fn owner_approves_from_the_mailed_link_and_only_the_owner_may() {
    let env = start().await;
    let mut partner = env.browser();
    let form = env
        .ask_and_sign_in(&mut partner, "docs", "erin@contoso.example")
        .await;
    assert!(form.body.contains("Why you need access"), "{}", form.body);
    let sent = partner
        .submit(
            &form,
            "/.portcullis/sign-up/form?app=docs",
            &[("attr_company", "Contoso"), ("attr_reason", "Q3 <audit>")],
        )
        .await;
    assert_eq!(sent.heading(), "Request sent", "{}", sent.body);
    let again = partner
        .open(&env.url(AUTH, "/.portcullis/sign-up/form?app=docs"))
        .await;
    assert_eq!(again.heading(), "Request pending", "{}", again.body);
    // Not yet in the app.
    let docs = partner.open(&env.url("docs.test", "/")).await;
    assert_eq!(docs.status, 403, "{docs:?}");

    let mails = env.mails(ALICE);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0]
            .0
            .contains("erin@contoso.example asks for access to Docs"),
        "{mails:?}"
    );
    let link = mails[0]
        .1
        .split_whitespace()
        .find(|w| w.contains("/.portcullis/sign-up/review?id="))
        .expect("review link")
        .to_string();
    let path = &link[link.find("/.portcullis/").unwrap()..];
    let link = env.url(AUTH, path);
    assert!(env.mails(CAROL).is_empty(), "only owners are told");

    // Carol, a member who does not own docs: refused.
    let mut carol = env.browser();
    let page = carol.open(&link).await;
    let refused = env.member_sign_in(&mut carol, &page, CAROL).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.heading(), "Not an owner of this app");
    // The partner may not approve their own request either.
    let own = partner.open(&link).await;
    assert_eq!(own.status, 403, "{}", own.body);

    // Alice, the owner: signs in from the link and reviews.
    let mut alice = env.browser();
    let page = alice.open(&link).await;
    let review = env.member_sign_in(&mut alice, &page, ALICE).await;
    assert_eq!(review.heading(), "Access request", "{}", review.body);
    assert!(
        review.body.contains("erin@contoso.example")
            && review.body.contains("Contoso")
            && review.body.contains("Q3 &lt;audit&gt;"),
        "{}",
        review.body
    );
    // The owner's page for the app lists the request with its review link.
    let manage = alice
        .open(&env.url(AUTH, "/.portcullis/manage/app?name=docs"))
        .await;
    assert!(
        manage
            .links()
            .iter()
            .any(|l| l.path() == "/.portcullis/sign-up/review"
                && path.ends_with(l.query().unwrap_or("-"))),
        "{}",
        manage.body
    );
    // Carol's POST, with a valid CSRF token of her own, is refused too.
    let id = path.rsplit('=').next().unwrap().to_string();
    let with_token = carol
        .open(&env.url(AUTH, "/.portcullis/sign-up?app=docs"))
        .await;
    assert!(with_token.field("csrf").is_some());
    let carol_post = carol
        .submit(
            &with_token,
            &format!("/.portcullis/sign-up/review?id={id}"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(carol_post.status, 403, "{}", carol_post.body);
    assert_eq!(carol_post.heading(), "Not an owner of this app");
    let approved = alice
        .submit(
            &review,
            &format!("/.portcullis/sign-up/review?id={id}"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(approved.heading(), "Request approved", "{}", approved.body);
    let late = alice
        .submit(
            &review,
            &format!("/.portcullis/sign-up/review?id={id}"),
            &[("decision", "deny")],
        )
        .await;
    assert_eq!(late.status, 409, "{}", late.body);

    let docs = partner.open(&env.url("docs.test", "/")).await;
    assert_eq!(
        (docs.status, docs.url.host_str()),
        (200, Some("docs.test")),
        "{docs:?}"
    );
    let told = env.mails("erin@contoso.example");
    let (_, text) = told
        .iter()
        .find(|(s, _)| s.contains("Your request for Docs was approved"))
        .unwrap_or_else(|| panic!("{told:?}"));
    // The link opens the app, on the configured (HTTPS) listener.
    let app_link = format!("https://docs.test:{}/", env.gw.https.port());
    assert!(text.contains(&app_link), "{text}");
    let req = env.gw.store.get_access_request(&id).await.unwrap().unwrap();
    assert_eq!(
        (req.status, req.decided_by.as_deref()),
        (RequestStatus::Approved, Some(ALICE))
    );
}

/// An owner denies: no access, the partner is told.
#[tokio::test]
async fn owner_denies_and_the_partner_is_told() {
    let env = start().await;
    let mut partner = env.browser();
    let form = env
        .ask_and_sign_in(&mut partner, "docs", "finn@northwind.example")
        .await;
    partner
        .submit(
            &form,
            "/.portcullis/sign-up/form?app=docs",
            &[("attr_company", "Northwind")],
        )
        .await;
    let req = env
        .gw
        .store
        .list_access_requests(Some("docs"))
        .await
        .unwrap()
        .remove(0);
    let mut alice = env.browser();
    let review_url = env.url(AUTH, &format!("/.portcullis/sign-up/review?id={}", req.id));
    let page = alice.open(&review_url).await;
    let review = env.member_sign_in(&mut alice, &page, ALICE).await;
    let denied = alice
        .submit(
            &review,
            &format!("/.portcullis/sign-up/review?id={}", req.id),
            &[("decision", "deny")],
        )
        .await;
    assert_eq!(denied.heading(), "Request denied", "{}", denied.body);
    let docs = partner.open(&env.url("docs.test", "/")).await;
    assert_eq!(docs.status, 403);
    assert!(
        env.mails("finn@northwind.example")
            .iter()
            .any(|(s, _)| s.contains("Your request for Docs was declined"))
    );
    assert!(
        env.audit_actions()
            .await
            .contains(&"access_denied".to_string())
    );
}

/// A domain the app does not allow, and the organisation's own domain, are
/// refused before any user is made; an app without sign-up is a 404.
#[tokio::test]
async fn disallowed_and_member_domains_are_refused() {
    let env = start().await;
    let mut b = env.browser();
    let start = b
        .open(&env.url(AUTH, "/.portcullis/sign-up?app=wiki"))
        .await;
    let other = b
        .submit(
            &start,
            "/.portcullis/sign-up?app=wiki",
            &[("email", "gus@contoso.example")],
        )
        .await;
    assert_eq!(other.status, 403, "{}", other.body);
    assert_eq!(other.heading(), "Not available for your address");
    let member = b
        .submit(
            &start,
            "/.portcullis/sign-up?app=wiki",
            &[("email", "hal@TailwindTraders.com")],
        )
        .await;
    assert_eq!(member.status, 403, "{}", member.body);
    assert_eq!(member.heading(), "No request needed");
    // docs takes any partner domain, but still no member domain.
    let docs = b
        .open(&env.url(AUTH, "/.portcullis/sign-up?app=docs"))
        .await;
    let member = b
        .submit(
            &docs,
            "/.portcullis/sign-up?app=docs",
            &[("email", "hal@tailwindtraders.com")],
        )
        .await;
    assert_eq!(member.heading(), "No request needed");
    for who in ["gus@contoso.example", "hal@tailwindtraders.com"] {
        assert!(env.gw.store.get_user_by_email(who).await.unwrap().is_none());
    }
    for app in ["payroll", "nope", ""] {
        let page = b
            .open(&env.url(AUTH, &format!("/.portcullis/sign-up?app={app}")))
            .await;
        assert_eq!(page.status, 404, "{app}");
        assert_eq!(page.heading(), "No sign-up here");
    }
    // Signed in with a disallowed address (an invited guest, say), the form
    // is refused as well: step 1's address proves nothing.
    let mut b2 = env.browser();
    env.ask_and_sign_in(&mut b2, "docs", "ivy@contoso.example")
        .await;
    let wiki = b2
        .open(&env.url(AUTH, "/.portcullis/sign-up/form?app=wiki"))
        .await;
    assert_eq!(wiki.status, 403, "{}", wiki.body);
}

/// `sign_up.idps`: the partner is offered only those IdPs (not the e-mailed
/// code they would get otherwise), and a forged choice is refused.
#[tokio::test]
async fn sign_up_offers_only_the_apps_idps() {
    let env = start().await;
    let mut b = env.browser();
    let start = b.open(&env.url(AUTH, "/.portcullis/sign-up?app=kb")).await;
    let choose = b
        .submit(&start, "/.portcullis/sign-up?app=kb", &[("email", JO)])
        .await;
    assert_eq!(choose.heading(), "Choose how to sign in", "{}", choose.body);
    assert_eq!(choose.body.matches("name=\"method\"").count(), 1);
    assert!(choose.body.contains("value=\"local\""), "{}", choose.body);
    let forged = b
        .submit(
            &choose,
            "/.portcullis/sign-up/idp?app=kb",
            &[("method", "passcode")],
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(env.mails(JO).is_empty(), "no code was sent");
    let pw = b
        .submit(
            &choose,
            "/.portcullis/sign-up/idp?app=kb",
            &[("method", "local")],
        )
        .await;
    assert_eq!(pw.heading(), "Enter your password", "{}", pw.body);
    let consent = b
        .submit(&pw, "/.portcullis/sign-in/password", &[("password", PW)])
        .await;
    let form = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(form.heading(), "Your request", "{}", form.body);
    let sent = b
        .submit(&form, "/.portcullis/sign-up/form?app=kb", &[])
        .await;
    assert_eq!(sent.heading(), "Request sent", "{}", sent.body);

    // Owners by name and by group are told; the group owner may review.
    assert_eq!(env.mails(ALICE).len(), 1);
    let mails = env.mails(GWEN);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(env.mails(CAROL).is_empty());
    let req = env
        .gw
        .store
        .list_access_requests(Some("kb"))
        .await
        .unwrap()
        .remove(0);
    let mut gwen = env.browser();
    let page = gwen
        .open(&env.url(AUTH, &format!("/.portcullis/sign-up/review?id={}", req.id)))
        .await;
    let review = env.member_sign_in(&mut gwen, &page, GWEN).await;
    assert_eq!(review.heading(), "Access request", "{}", review.body);
}

/// Each e-mail posted may make a guest user: 20 per client IP in 15
/// minutes, then 429 and no user.
#[tokio::test]
async fn sign_up_emails_are_rate_limited_per_client_ip() {
    let env = start().await;
    let mut b = env.browser();
    let start = b
        .open(&env.url(AUTH, "/.portcullis/sign-up?app=docs"))
        .await;
    for i in 0..20 {
        let email = format!("p{i}@contoso.example");
        let page = b
            .submit(
                &start,
                "/.portcullis/sign-up?app=docs",
                &[("email", &email)],
            )
            .await;
        assert_eq!(page.heading(), "Sign in", "{i}: {}", page.body);
    }
    let limited = b
        .submit(
            &start,
            "/.portcullis/sign-up?app=docs",
            &[("email", "p20@contoso.example")],
        )
        .await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    let store = &env.gw.store;
    assert!(
        store
            .get_user_by_email("p19@contoso.example")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_user_by_email("p20@contoso.example")
            .await
            .unwrap()
            .is_none()
    );
}
