//! App owners end to end: the real `portcullis serve` with a local IdP of
//! members, some listed in `apps[].owners`, the file outbox, and the stand-in
//! browser. An owner manages the guests of their own apps on the auth host
//! (`/.portcullis/manage/…`) and nothing else; the admin API and the CLI
//! act on the same store.
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
/// Owns wiki (by e-mail).
const OLIVIA: &str = "olivia@tailwindtraders.com";
/// Owns docs (through the group `docs-owners` of the users file).
const DORA: &str = "dora@tailwindtraders.com";
/// Owns nothing.
const NATE: &str = "nate@tailwindtraders.com";
const PW: &str = "owner-password-1";
const MANAGE_APP: &str = "/.portcullis/manage/app";

const RULES: &str = "\
policies:
  - name: payroll-needs-mfa
    users: { include: [all] }
    apps: { include: [payroll] }
    grant: { require: [mfa] }
";

struct Env {
    gw: Gateway,
    _up: Upstream,
}

impl Env {
    fn browser(&self) -> Browser {
        Browser::new(
            self.gw.http,
            &[AUTH, "wiki.test", "docs.test", "payroll.test"],
        )
    }

    fn url(&self, host: &str, path: &str) -> String {
        self.gw.url(host, path)
    }

    /// Signs in on the auth host with the local password (consent if asked).
    async fn sign_in(&self, b: &mut Browser, email: &str) -> Page {
        let form = b.open(&self.url(AUTH, "/.portcullis/sign-in")).await;
        assert_eq!(form.heading(), "Sign in", "{}", form.body);
        let pw_page = b
            .submit(&form, "/.portcullis/sign-in", &[("email", email)])
            .await;
        assert_eq!(pw_page.heading(), "Enter your password", "{}", pw_page.body);
        let mut page = b
            .submit(
                &pw_page,
                "/.portcullis/sign-in/password",
                &[("password", PW)],
            )
            .await;
        if page.heading() == "Review permissions" {
            page = b
                .submit(&page, "/.portcullis/consent", &[("answer", "accept")])
                .await;
        }
        assert_eq!(page.status, 200, "{page:?}");
        page
    }

    /// Posts an owner form with the CSRF token of `page` (as the browser
    /// would, Origin included) and follows the redirect.
    async fn act(&self, b: &mut Browser, page: &Page, fields: &[(&str, &str)]) -> Page {
        let csrf = page.field("csrf").expect("a CSRF token on the page");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let url = reqwest::Url::parse(&self.url(AUTH, MANAGE_APP)).unwrap();
        let p = b.post(&url, &all).await;
        b.follow(p).await
    }

    /// A guest's request to `host` with their session cookie: the status.
    async fn guest_status(&self, host: &str, cookie: &str) -> u16 {
        self.gw
            .get(host, "/")
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn mails_to(&self, to: &str) -> Vec<String> {
        std::fs::read_dir(self.gw.path("outbox"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter(|m| m.contains(to))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn config(&self) -> String {
        self.gw
            .path("portcullis.yaml")
            .to_str()
            .unwrap()
            .to_string()
    }
}

async fn start() -> Env {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let hash = portcullis::local_idp::hash_password(PW).unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        format!(
            "users:\n  \
             - {{ email: {OLIVIA}, name: Olivia, password_hash: \"{hash}\" }}\n  \
             - {{ email: {DORA}, name: Dora, password_hash: \"{hash}\", groups: [Docs-Owners] }}\n  \
             - {{ email: {NATE}, name: Nate, password_hash: \"{hash}\" }}\n"
        ),
    )
    .unwrap();
    let ups = vec![up.address()];
    let apps: Vec<AppSpec> = vec![
        app(
            "wiki",
            &ups,
            &format!("title: wiki app, owners: [{OLIVIA}]"),
        ),
        app(
            "docs",
            &ups,
            "title: docs app, owners: [\"group:docs-owners\"]",
        ),
        app("payroll", &ups, "title: payroll app"),
    ];
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!(
        "sign_in: {{ host: {AUTH} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n"
    );
    let gw = Gateway::start_configured(dir, &apps, RULES, &[], idps, &top).await;
    Env { gw, _up: up }
}

fn portcullis(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env("USER", "shell-admin")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run portcullis")
}

async fn assignment_end(env: &Env, user: &str, app: &str) -> Option<Option<OffsetDateTime>> {
    env.gw
        .store
        .assignments_of_user(user)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.app == app)
        .map(|a| a.expires_at)
}

/// An owner sees only the apps they own; on one app's page they invite a
/// guest (the mail is in the outbox), resend and withdraw the invitation,
/// extend a guest's access, reset the guest's MFA, and end the access (the
/// guest's next request is refused within the directory cache's TTL).
/// Every action is audited with the owner as actor.
#[tokio::test]
async fn owner_invites_extends_resets_mfa_and_ends_access_of_their_apps_guests() {
    let env = start().await;
    let gw = &env.gw;
    let olivia_id = gw
        .store
        .get_user_by_email(OLIVIA)
        .await
        .unwrap()
        .unwrap()
        .id;
    // Greg, a guest of wiki for two more days, with an authenticator.
    let (greg, greg_cookie) = gw.guest("wiki.test", "greg").await;
    gw.assign(
        &greg,
        "wiki",
        Some(OffsetDateTime::now_utc() + time::Duration::days(2)),
    )
    .await;
    gw.store
        .begin_totp_enrollment(
            &portcullis::store::NewTotpFactor {
                user_id: greg.clone(),
                secret: vec![7; 20],
                algorithm: "SHA1".into(),
                digits: 6,
                period: 30,
            },
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert_eq!(env.guest_status("wiki.test", &greg_cookie).await, 200);

    let mut b = env.browser();
    // Not signed in: sent to sign in.
    let anon = b.get(&env.url(AUTH, "/.portcullis/manage")).await;
    assert_eq!(anon.status, 302);
    env.sign_in(&mut b, OLIVIA).await;
    // Her apps page leads owners to their guests.
    let apps = b.open(&env.url(AUTH, "/.portcullis/apps")).await;
    assert!(
        apps.links()
            .iter()
            .any(|l| l.path() == "/.portcullis/manage"),
        "{}",
        apps.body
    );

    let list = b.open(&env.url(AUTH, "/.portcullis/manage")).await;
    assert_eq!(
        (list.status, list.heading().as_str()),
        (200, "Apps you own")
    );
    assert!(list.body.contains("wiki app"), "{}", list.body);
    assert!(!list.body.contains("docs app") && !list.body.contains("payroll app"));

    let page = b
        .open(&env.url(AUTH, &format!("{MANAGE_APP}?name=wiki")))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.heading(), "Guests of wiki app");
    assert!(page.body.contains("greg@contoso.com"), "{}", page.body);
    assert!(!page.body.contains("<script"), "plain HTML, no scripts");

    // Invite: the mail (with the message, from the owner) is in the outbox.
    let invited = env
        .act(
            &mut b,
            &page,
            &[
                ("app", "wiki"),
                ("action", "invite"),
                ("email", "Gina@Contoso.Example"),
                ("days", "10"),
                ("message", "Welcome Gina"),
            ],
        )
        .await;
    assert_eq!(invited.status, 200, "{}", invited.body);
    assert!(
        invited.body.contains("Invitation sent."),
        "{}",
        invited.body
    );
    assert!(
        invited.body.contains("gina@contoso.example"),
        "{}",
        invited.body
    );
    let mails = env.mails_to("gina@contoso.example");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("Welcome Gina") && mails[0].contains(OLIVIA));
    let inv = gw.store.list_invitations().await.unwrap();
    let inv = inv
        .iter()
        .find(|i| i.email == "gina@contoso.example")
        .unwrap();
    assert_eq!(inv.apps, ["wiki"]);
    assert_eq!(inv.access_days, Some(10));
    // Bad input is said on the page and changes nothing.
    let bad = env
        .act(
            &mut b,
            &invited,
            &[
                ("app", "wiki"),
                ("action", "invite"),
                ("email", "x@y.example"),
                ("days", "400"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("Days: enter a whole number"),
        "{}",
        bad.body
    );
    assert!(env.mails_to("x@y.example").is_empty());
    // A look-alike domain (dotless ı, issue 14 finding 9) is refused, said
    // on the page.
    let lookalike = env
        .act(
            &mut b,
            &invited,
            &[
                ("app", "wiki"),
                ("action", "invite"),
                ("email", "bob@fabr\u{131}kam.example"),
                ("days", "10"),
            ],
        )
        .await;
    assert_eq!(lookalike.status, 400, "{}", lookalike.body);
    assert!(env.mails_to("bob@fabr\u{131}kam.example").is_empty());
    // The owners' pages as a person sees them (laptop and phone, axe-core).
    support::chromium::render_pages(
        "owner_pages",
        &[
            ("20-owner-apps", list.body.as_str()),
            ("21-owner-guests", page.body.as_str()),
            ("22-owner-invited", invited.body.as_str()),
            ("23-owner-bad-days", bad.body.as_str()),
            ("24-owner-lookalike", lookalike.body.as_str()),
        ],
    )
    .await;

    // Resend (a second mail), then withdraw.
    let resent = env
        .act(
            &mut b,
            &invited,
            &[
                ("app", "wiki"),
                ("action", "resend"),
                ("invitation", &inv.id),
            ],
        )
        .await;
    assert!(resent.body.contains("sent again"), "{}", resent.body);
    assert_eq!(env.mails_to("gina@contoso.example").len(), 2);
    let revoked = env
        .act(
            &mut b,
            &resent,
            &[
                ("app", "wiki"),
                ("action", "revoke"),
                ("invitation", &inv.id),
            ],
        )
        .await;
    assert!(
        revoked.body.contains("Invitation withdrawn."),
        "{}",
        revoked.body
    );
    assert!(
        revoked.body.contains("No pending invitations."),
        "{}",
        revoked.body
    );
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        gw.store
            .get_invitation(&inv.id)
            .await
            .unwrap()
            .unwrap()
            .status(now),
        "revoked"
    );

    // Extend Greg's access by 100 days: added to his current end (two
    // days from now), as the form's label says (issue 17 point 8: it used
    // to count from now).
    let before = assignment_end(&env, &greg, "wiki").await.unwrap().unwrap();
    let extended = env
        .act(
            &mut b,
            &revoked,
            &[
                ("app", "wiki"),
                ("action", "extend"),
                ("user", &greg),
                ("days", "100"),
            ],
        )
        .await;
    assert!(
        extended.body.contains("Access extended."),
        "{}",
        extended.body
    );
    let end = assignment_end(&env, &greg, "wiki").await.unwrap().unwrap();
    let want = before + time::Duration::days(100);
    assert!((end - want).abs() < time::Duration::minutes(2), "{end}");
    assert_eq!(env.guest_status("wiki.test", &greg_cookie).await, 200);

    // Reset Greg's MFA (he lost his phone).
    let reset = env
        .act(
            &mut b,
            &extended,
            &[("app", "wiki"), ("action", "reset_mfa"), ("user", &greg)],
        )
        .await;
    assert!(reset.body.contains("MFA was reset"), "{}", reset.body);
    assert!(gw.store.get_totp_factor(&greg).await.unwrap().is_none());

    // End Greg's access now: asked first (issue 17 point 8), then his next
    // requests are refused.
    let ask = env
        .act(
            &mut b,
            &reset,
            &[("app", "wiki"), ("action", "end"), ("user", &greg)],
        )
        .await;
    assert_eq!(
        ask.heading(),
        "End greg@contoso.com's access?",
        "{}",
        ask.body
    );
    assert!(assignment_end(&env, &greg, "wiki").await.is_some());
    let ended = env
        .act(
            &mut b,
            &ask,
            &[
                ("app", "wiki"),
                ("action", "end"),
                ("user", &greg),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert!(ended.body.contains("Access ended."), "{}", ended.body);
    assert_eq!(assignment_end(&env, &greg, "wiki").await, None);
    let (_, took) = poll(Duration::from_secs(10), || async {
        (env.guest_status("wiki.test", &greg_cookie).await == 403).then_some(())
    })
    .await
    .expect("the guest is refused within the directory cache's TTL");
    assert!(took < Duration::from_secs(6), "{took:?}");

    // The audit log: every action, the owner as actor.
    let entries = gw
        .store
        .list_audit(&portcullis::store::AuditQuery {
            subject: Some(greg.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    for action in ["assignment_extended", "mfa_reset", "assignment_revoked"] {
        let e = entries
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("no {action} in {entries:?}"));
        assert_eq!(e.actor, olivia_id, "{e:?}");
    }
    let all = gw
        .store
        .list_audit(&portcullis::store::AuditQuery {
            app: Some("wiki".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        all.iter()
            .any(|e| e.action == "owner_invited" && e.actor == olivia_id),
        "{all:?}"
    );
    let by_invite = gw
        .store
        .list_audit(&portcullis::store::AuditQuery::default())
        .await
        .unwrap();
    assert!(
        by_invite
            .iter()
            .any(|e| e.action == "invitation_revoked" && e.actor == olivia_id)
    );
}

/// The owner of wiki cannot touch docs, even with a valid CSRF token and a
/// hand-made form, nor a guest of docs through wiki's page; a member who
/// owns nothing sees no apps; ownership through a group works.
#[tokio::test]
async fn owner_cannot_act_on_another_app_and_non_owners_see_nothing() {
    let env = start().await;
    let gw = &env.gw;
    let (dave, dave_cookie) = gw.guest("docs.test", "dave").await;
    let until = OffsetDateTime::now_utc() + time::Duration::days(5);
    gw.assign(&dave, "docs", Some(until)).await;
    assert_eq!(env.guest_status("docs.test", &dave_cookie).await, 200);

    let mut b = env.browser();
    env.sign_in(&mut b, OLIVIA).await;
    let wiki = b
        .open(&env.url(AUTH, &format!("{MANAGE_APP}?name=wiki")))
        .await;
    assert_eq!(wiki.status, 200);
    let audit_before = gw
        .store
        .list_audit(&Default::default())
        .await
        .unwrap()
        .len();
    // Docs' page, and an app that does not exist: the same 403.
    for name in ["docs", "nope"] {
        let p = b
            .open(&env.url(AUTH, &format!("{MANAGE_APP}?name={name}")))
            .await;
        assert_eq!(p.status, 403, "{name}: {}", p.body);
        assert!(!p.body.contains("dave@"), "{}", p.body);
    }
    // Forged forms with a valid CSRF token, for docs.
    for fields in [
        vec![("app", "docs"), ("action", "end"), ("user", dave.as_str())],
        vec![
            ("app", "docs"),
            ("action", "end"),
            ("user", dave.as_str()),
            ("confirm", "yes"),
        ],
        vec![
            ("app", "docs"),
            ("action", "extend"),
            ("user", dave.as_str()),
            ("days", "300"),
        ],
        vec![
            ("app", "docs"),
            ("action", "reset_mfa"),
            ("user", dave.as_str()),
        ],
        vec![
            ("app", "docs"),
            ("action", "invite"),
            ("email", "eve@contoso.example"),
            ("days", "5"),
        ],
        // Wiki's form, but Dave is no guest of wiki.
        vec![("app", "wiki"), ("action", "end"), ("user", dave.as_str())],
        vec![
            ("app", "wiki"),
            ("action", "end"),
            ("user", dave.as_str()),
            ("confirm", "yes"),
        ],
        vec![
            ("app", "wiki"),
            ("action", "extend"),
            ("user", dave.as_str()),
            ("days", "300"),
        ],
    ] {
        let r = env.act(&mut b, &wiki, &fields).await;
        assert_eq!(r.status, 403, "{fields:?}: {}", r.body);
    }
    // Nothing changed.
    assert_eq!(
        assignment_end(&env, &dave, "docs").await,
        Some(Some(until.replace_nanosecond(0).unwrap()))
    );
    assert_eq!(assignment_end(&env, &dave, "wiki").await, None);
    assert!(env.mails_to("eve@contoso.example").is_empty());
    assert_eq!(
        gw.store
            .list_audit(&Default::default())
            .await
            .unwrap()
            .len(),
        audit_before
    );
    assert_eq!(env.guest_status("docs.test", &dave_cookie).await, 200);
    // Without the CSRF token: refused before anything else.
    let url = reqwest::Url::parse(&env.url(AUTH, MANAGE_APP)).unwrap();
    let no_csrf = b
        .post(
            &url,
            &[
                ("app", "wiki"),
                ("action", "invite"),
                ("email", "f@contoso.example"),
                ("days", "5"),
            ],
        )
        .await;
    assert_eq!(no_csrf.status, 403);
    assert!(env.mails_to("f@contoso.example").is_empty());

    // Nate owns nothing.
    let mut nb = env.browser();
    env.sign_in(&mut nb, NATE).await;
    let apps = nb.open(&env.url(AUTH, "/.portcullis/apps")).await;
    assert!(
        !apps
            .links()
            .iter()
            .any(|l| l.path() == "/.portcullis/manage")
    );
    let none = nb.open(&env.url(AUTH, "/.portcullis/manage")).await;
    assert_eq!(none.status, 200);
    assert!(none.by_id("no-apps").is_some(), "{}", none.body);
    assert!(!none.body.contains("wiki app") && !none.body.contains("docs app"));
    let p = nb
        .open(&env.url(AUTH, &format!("{MANAGE_APP}?name=wiki")))
        .await;
    assert_eq!(p.status, 403);

    // Dora owns docs through her group and sees Dave there.
    let mut db = env.browser();
    env.sign_in(&mut db, DORA).await;
    let hers = db.open(&env.url(AUTH, "/.portcullis/manage")).await;
    assert!(
        hers.body.contains("docs app") && !hers.body.contains("wiki app"),
        "{}",
        hers.body
    );
    let docs = db
        .open(&env.url(AUTH, &format!("{MANAGE_APP}?name=docs")))
        .await;
    assert_eq!(docs.status, 200);
    assert!(docs.body.contains("dave@contoso.com"), "{}", docs.body);
}

/// The admin API and the CLI work on one store: an extension made with
/// the CLI shows through the API and the other way round; bad input is a
/// 400 naming the field (API) or exit 2 naming the flag (CLI); the audit
/// log lists every change; removing a guest ends their access.
#[tokio::test]
async fn admin_api_and_cli_manage_guests_on_the_same_store() {
    let env = start().await;
    let gw = &env.gw;
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let token = "Bearer test-admin-token-0123456789";
    let api = |p: &str| format!("http://{}{p}", gw.admin);
    let config = env.config();
    let (hank, hank_cookie) = gw.guest("wiki.test", "hank").await;
    gw.assign(
        &hank,
        "wiki",
        Some(OffsetDateTime::now_utc() + time::Duration::days(3)),
    )
    .await;
    let get = |path: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(path)
                .header("authorization", token)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            (status, v)
        }
    };
    let send = |method: reqwest::Method, path: String, body: &str| {
        let req = http
            .request(method, path)
            .header("authorization", token)
            .header("content-type", "application/json")
            .body(body.to_string());
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            (status, v)
        }
    };

    // Unauthenticated: refused.
    let r = http.get(api("/api/v1/guests")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Extend with the CLI (by e-mail); the API shows it.
    let out = portcullis(&[
        "guests",
        "extend",
        "hank@contoso.com",
        "--app",
        "wiki",
        "--days",
        "60",
        "--config",
        &config,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = (OffsetDateTime::now_utc() + time::Duration::days(60))
        .date()
        .to_string();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&want));
    let (status, one) = get(api(&format!("/api/v1/guests/{hank}"))).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["email"], "hank@contoso.com");
    let a = &one["assignments"][0];
    assert_eq!(
        (a["app"].as_str(), a["live"].as_bool()),
        (Some("wiki"), Some(true))
    );
    assert!(a["expires_at"].as_str().unwrap().starts_with(&want), "{a}");
    let (_, by_email) = get(api("/api/v1/guests/hank%40contoso.com")).await;
    assert_eq!(by_email["id"], hank.as_str());
    let (status, list) = get(api("/api/v1/guests")).await;
    assert_eq!(status, 200);
    assert!(
        list["guests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == hank.as_str())
    );

    // Grant docs through the API; the CLI shows it.
    let (status, granted) = send(
        reqwest::Method::PUT,
        api(&format!("/api/v1/guests/{hank}/assignments/docs")),
        &format!(
            r#"{{"until": "{}"}}"#,
            (OffsetDateTime::now_utc() + time::Duration::days(20)).date()
        ),
    )
    .await;
    assert_eq!(status, 200, "{granted}");
    let out = portcullis(&["guests", "show", &hank, "--json", "--config", &config]);
    assert!(out.status.success());
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["assignments"].as_array().unwrap().len(), 2, "{shown}");
    let out = portcullis(&["guests", "list", "--app", "docs", "--config", &config]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("hank@contoso.com"));
    assert_eq!(env.guest_status("wiki.test", &hank_cookie).await, 200);

    // The CLI blocks sign-in with the operation the console and the API
    // use: a running gateway refuses the guest within its directory TTL,
    // and lets them in again after `unblock`.
    let out = portcullis(&["guests", "block", "hank@contoso.com", "--config", &config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("is blocked"));
    let refused = poll(WAIT, || async {
        (env.guest_status("wiki.test", &hank_cookie).await == 403).then_some(())
    })
    .await;
    assert!(
        refused.is_some(),
        "blocked within the directory cache's TTL"
    );
    let (_, shown) = get(api(&format!("/api/v1/guests/{hank}"))).await;
    assert_eq!(shown["state"], "blocked");
    let out = portcullis(&["guests", "unblock", &hank, "--config", &config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = poll(WAIT, || async {
        (env.guest_status("wiki.test", &hank_cookie).await == 200).then_some(())
    })
    .await;
    assert!(back.is_some(), "let in again");

    // Bad input names the field.
    let put = api(&format!("/api/v1/guests/{hank}/assignments/docs"));
    for (body, field) in [
        ("{}", "days"),
        (r#"{"days": 0}"#, "days"),
        (r#"{"days": 400}"#, "days"),
        (r#"{"until": "soon"}"#, "until"),
        (r#"{"until": "2020-01-01"}"#, "until"),
        (r#"{"days": 3, "until": "2030-01-01"}"#, "until"),
    ] {
        let (status, e) = send(reqwest::Method::PUT, put.clone(), body).await;
        assert_eq!(
            (status, e["field"].as_str()),
            (400, Some(field)),
            "{body}: {e}"
        );
    }
    let (status, e) = send(
        reqwest::Method::PUT,
        api(&format!("/api/v1/guests/{hank}/assignments/wikki")),
        r#"{"days": 3}"#,
    )
    .await;
    assert_eq!((status, e["field"].as_str()), (400, Some("app")), "{e}");
    let (status, _) = get(api("/api/v1/guests/u_nobody")).await;
    assert_eq!(status, 404);
    let (status, e) = get(api("/api/v1/audit?limit=0")).await;
    assert_eq!((status, e["field"].as_str()), (400, Some("limit")));
    for (args, flag) in [
        (vec!["--days", "0"], "--days"),
        (vec!["--until", "31/12/2026"], "--until"),
        (vec!["--days", "400"], "--days"),
    ] {
        let mut all = vec![
            "guests", "extend", &hank, "--app", "wiki", "--config", &config,
        ];
        all.extend(args);
        let out = portcullis(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(flag),
            "{all:?}"
        );
    }
    let out = portcullis(&[
        "guests", "extend", &hank, "--app", "wikki", "--days", "3", "--config", &config,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--app: no app named `wikki`; did you mean `wiki`?")
    );
    let out = portcullis(&[
        "guests", "extend", &hank, "--app", "wiki", "--config", &config,
    ]);
    assert_eq!(out.status.code(), Some(2), "neither --days nor --until");

    // End docs through the API; again: 404.
    let one_docs = api(&format!("/api/v1/guests/{hank}/assignments/docs"));
    let (status, after) = send(reqwest::Method::DELETE, one_docs.clone(), "").await;
    assert_eq!(status, 200);
    assert_eq!(after["assignments"].as_array().unwrap().len(), 1);
    let (status, _) = send(reqwest::Method::DELETE, one_docs, "").await;
    assert_eq!(status, 404);

    // The audit log lists every change, through the API and the CLI.
    let (status, log) = get(api(&format!("/api/v1/audit?subject={hank}&limit=50"))).await;
    assert_eq!(status, 200);
    let entries = log["entries"].as_array().unwrap();
    let has = |action: &str, actor: &str, app: &str| {
        entries
            .iter()
            .any(|e| e["action"] == action && e["actor"] == actor && e["app"] == app)
    };
    assert!(has("assignment_extended", "shell-admin", "wiki"), "{log}");
    assert!(has("assignment_granted", "admin", "docs"), "{log}");
    assert!(has("assignment_revoked", "admin", "docs"), "{log}");
    let (_, wiki_log) = get(api("/api/v1/audit?app=wiki")).await;
    assert!(
        wiki_log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["app"] == "wiki")
    );
    let out = portcullis(&["guests", "show", "hank@contoso.com", "--config", &config]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("assignment_granted by admin (docs)"),
        "{text}"
    );

    let (status, doc) = get(api("/api/v1/openapi.json")).await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/api/v1/guests/{id}/assignments/{app}"]["put"].is_object());

    // Remove Hank through the API: his sessions end and he is gone.
    let (status, gone) = send(
        reqwest::Method::DELETE,
        api(&format!("/api/v1/guests/{hank}")),
        "",
    )
    .await;
    assert_eq!(status, 200, "{gone}");
    poll(Duration::from_secs(10), || async {
        (env.guest_status("wiki.test", &hank_cookie).await != 200).then_some(())
    })
    .await
    .expect("the removed guest is refused");
    let (status, _) = get(api(&format!("/api/v1/guests/{hank}"))).await;
    assert_eq!(status, 404);

    // And one with the CLI: an app, then the whole guest.
    let (ivy, ivy_cookie) = gw.guest("wiki.test", "ivy").await;
    gw.assign(
        &ivy,
        "wiki",
        Some(OffsetDateTime::now_utc() + time::Duration::days(3)),
    )
    .await;
    gw.assign(
        &ivy,
        "docs",
        Some(OffsetDateTime::now_utc() + time::Duration::days(3)),
    )
    .await;
    let out = portcullis(&[
        "guests",
        "remove",
        "ivy@contoso.com",
        "--app",
        "docs",
        "--config",
        &config,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(assignment_end(&env, &ivy, "docs").await, None);
    assert_eq!(env.guest_status("wiki.test", &ivy_cookie).await, 200);
    let out = portcullis(&["guests", "remove", "ivy@contoso.com", "--config", &config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(gw.store.get_user(&ivy).await.unwrap().is_none());
    poll(Duration::from_secs(10), || async {
        (env.guest_status("wiki.test", &ivy_cookie).await != 200).then_some(())
    })
    .await
    .expect("the guest removed with the CLI is refused within the cache TTL");
    let (_, log) = get(api(&format!("/api/v1/audit?subject={ivy}"))).await;
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "guest_removed" && e["actor"] == "shell-admin"),
        "{log}"
    );
}

/// The owner's page as issue 17 (point 8) asks: opened signed out, it comes
/// back after signing in; the invite form comes first; each guest shows
/// their two-step state and last sign-in; "Extend" adds the days to the
/// current end (40 days left plus 30 is 70), and the label says so; "End
/// access now" asks on a page naming the guest, and the notice names them.
#[tokio::test]
async fn owner_page_asks_before_ending_names_the_guest_and_extends_from_the_end() {
    let env = start().await;
    let gw = &env.gw;
    let now = OffsetDateTime::now_utc();
    let date = portcullis::invitations::date;
    // Greg: 40 days left, signed in yesterday, no authenticator.
    let (greg, _) = gw.guest("wiki.test", "greg").await;
    let greg_end = now + time::Duration::days(40);
    gw.assign(&greg, "wiki", Some(greg_end)).await;
    let yesterday = now - time::Duration::days(1);
    gw.store
        .append_audit(&portcullis::store::NewAuditEntry {
            at: yesterday,
            actor: greg.clone(),
            action: "signed_in".into(),
            subject: Some(greg.clone()),
            app: None,
            detail: serde_json::json!({ "idp": "passcode", "mfa": false }),
        })
        .await
        .unwrap();
    // Hana: an authenticator, never signed in.
    let (hana, _) = gw.guest("wiki.test", "hana").await;
    gw.assign(&hana, "wiki", Some(now + time::Duration::days(10)))
        .await;
    gw.store
        .begin_totp_enrollment(
            &portcullis::store::NewTotpFactor {
                user_id: hana.clone(),
                secret: vec![7; 20],
                algorithm: "SHA1".into(),
                digits: 6,
                period: 30,
            },
            now,
        )
        .await
        .unwrap();
    assert!(
        gw.store
            .confirm_totp_factor(&hana, 1, &[], now)
            .await
            .unwrap()
    );

    // Signed out: the sign-in comes back to this very page.
    let mut b = env.browser();
    let here = format!("{MANAGE_APP}?name=wiki");
    let form = b.open(&env.url(AUTH, &here)).await;
    assert_eq!(form.heading(), "Sign in", "{}", form.body);
    assert_eq!(form.field("rd").as_deref(), Some(here.as_str()));
    let pw = b
        .submit(&form, "/.portcullis/sign-in", &[("email", OLIVIA)])
        .await;
    let page = b
        .submit(&pw, "/.portcullis/sign-in/password", &[("password", PW)])
        .await;
    assert_eq!(
        (page.status, page.url.path(), page.url.query()),
        (200, MANAGE_APP, Some("name=wiki")),
        "{}",
        page.body
    );
    assert_eq!(page.heading(), "Guests of wiki app");
    // The invite form first, then the guests.
    let invite_at = page.body.find("id=\"invite\"").expect("invite form");
    let guests_at = page.body.find("id=\"guests\"").expect("guests table");
    assert!(invite_at < guests_at, "the invite form comes first");
    let row = |page: &Page, who: &str| -> String {
        let at = page.body.find(who).unwrap_or_else(|| panic!("{who}"));
        page.body[at..].split("</tr>").next().unwrap().to_string()
    };
    let g = row(&page, "greg@contoso.com");
    assert!(g.contains("Not set up"), "{g}");
    assert!(g.contains(&date(yesterday)), "{g}");
    assert!(
        g.contains(&format!("Add days after {}", date(greg_end))),
        "{g}"
    );
    let h = row(&page, "hana@contoso.com");
    assert!(
        h.contains("Authenticator set up") && h.contains("Never"),
        "{h}"
    );

    // Extend Greg by 30: from his current end, not from now.
    let extended = env
        .act(
            &mut b,
            &page,
            &[
                ("app", "wiki"),
                ("action", "extend"),
                ("user", &greg),
                ("days", "30"),
            ],
        )
        .await;
    let end = assignment_end(&env, &greg, "wiki").await.unwrap().unwrap();
    let want = greg_end + time::Duration::days(30);
    assert!((end - want).abs() < time::Duration::minutes(2), "{end}");
    let notice = extended.by_id("notice").expect("a notice");
    assert_eq!(
        notice,
        format!(
            "Access extended. greg@contoso.com can use wiki app until {}.",
            date(end)
        )
    );
    // Past the longest access from today: refused, said, nothing changed.
    let too_far = env
        .act(
            &mut b,
            &extended,
            &[
                ("app", "wiki"),
                ("action", "extend"),
                ("user", &greg),
                ("days", "366"),
            ],
        )
        .await;
    assert_eq!(too_far.status, 400, "{}", too_far.body);
    assert!(
        too_far
            .body
            .contains("greg@contoso.com already has access until"),
        "{}",
        too_far.body
    );
    assert_eq!(
        assignment_end(&env, &greg, "wiki").await.unwrap().unwrap(),
        end
    );

    // End Hana's access: a page asks first, naming her; Cancel goes back.
    let ask = env
        .act(
            &mut b,
            &extended,
            &[("app", "wiki"), ("action", "end"), ("user", &hana)],
        )
        .await;
    assert_eq!(
        (ask.status, ask.heading().as_str()),
        (200, "End hana@contoso.com's access?")
    );
    assert!(!ask.body.contains("<script"), "no script: strict CSP");
    assert!(
        ask.links()
            .iter()
            .any(|l| l.path() == MANAGE_APP && l.query() == Some("name=wiki")),
        "{}",
        ask.body
    );
    assert!(assignment_end(&env, &hana, "wiki").await.is_some());
    let ended = env
        .act(
            &mut b,
            &ask,
            &[
                ("app", "wiki"),
                ("action", "end"),
                ("user", &hana),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(
        ended.by_id("notice").as_deref(),
        Some("Access ended. hana@contoso.com can no longer open wiki app.")
    );
    assert_eq!(assignment_end(&env, &hana, "wiki").await, None);
    // A notice never names someone who is no guest of this app.
    let olivia = gw.store.get_user_by_email(OLIVIA).await.unwrap().unwrap();
    let forged = b
        .open(&env.url(
            AUTH,
            &format!("{MANAGE_APP}?name=wiki&done=ended&user={}", olivia.id),
        ))
        .await;
    assert_eq!(forged.by_id("notice").as_deref(), Some("Access ended."));

    support::chromium::render_pages(
        "owner_confirm_pages",
        &[
            ("25-owner-extended", extended.body.as_str()),
            ("26-owner-extend-too-far", too_far.body.as_str()),
            ("27-owner-confirm-end", ask.body.as_str()),
            ("28-owner-ended", ended.body.as_str()),
        ],
    )
    .await;
}

/// Issue 17: the app page names who manages the app, a `group:` owner with
/// its members, so an owner sees who else does; and a guest's passkeys
/// count beside the authenticator state.
#[tokio::test]
async fn owner_page_names_the_other_owners_and_a_guests_passkeys() {
    let env = start().await;
    let gw = &env.gw;
    let now = OffsetDateTime::now_utc();
    let (ivy, _) = gw.guest("docs.test", "ivy").await;
    gw.assign(&ivy, "docs", Some(now + time::Duration::days(10)))
        .await;
    gw.store
        .add_passkey(
            &portcullis::store::NewPasskey {
                credential_id: vec![1, 2, 3],
                user_id: ivy.clone(),
                name: "YubiKey".into(),
                credential: "{}".into(),
                sign_count: 0,
                backup_eligible: false,
                backup_state: false,
            },
            now,
        )
        .await
        .unwrap();

    let mut dora = env.browser();
    env.sign_in(&mut dora, DORA).await;
    let docs = dora
        .open(&env.url(AUTH, &format!("{MANAGE_APP}?name=docs")))
        .await;
    assert_eq!(docs.heading(), "Guests of docs app", "{}", docs.body);
    assert_eq!(
        managers(&docs),
        "Managed by the group docs-owners (dora@tailwindtraders.com)."
    );
    let at = docs.body.find("ivy@contoso.com").expect("ivy's row");
    let row = docs.body[at..].split("</tr>").next().unwrap();
    assert!(row.contains("1 passkey"), "{row}");

    let mut olivia = env.browser();
    env.sign_in(&mut olivia, OLIVIA).await;
    let wiki = olivia
        .open(&env.url(AUTH, &format!("{MANAGE_APP}?name=wiki")))
        .await;
    assert_eq!(managers(&wiki), "Managed by olivia@tailwindtraders.com.");
}

/// The text of the page's "Managed by" line, without its tags.
fn managers(page: &Page) -> String {
    let at = page
        .body
        .find("id=\"managers\"")
        .unwrap_or_else(|| panic!("no managers line: {}", page.body));
    let html = &page.body[at..];
    let html = &html[html.find('>').unwrap() + 1..html.find("</p>").unwrap()];
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}
