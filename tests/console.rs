//! The admin console end to end (issue 19): the real `portcullis serve`
//! with a local IdP of members, `console: { admins, helpdesk }`, the file
//! outbox, the decision log, and the stand-in browser. Who gets which page
//! and action (a table), forged forms, every action through the shared
//! operations audited with the signed-in person, the MFA step, and the
//! help desk finding a 403 by its request id.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use portcullis::store::AuditQuery;
use reqwest::Url;
use rules::UserType;
use support::browser::{Browser, Page};
use support::gateway::{AppSpec, Gateway, app};
use support::upstream::Upstream;
use support::{WAIT, poll};
use time::OffsetDateTime;

const AUTH: &str = "auth.test";
/// An administrator (by e-mail).
const ADA: &str = "ada@tailwindtraders.com";
/// The help desk (through the directory group `helpdesk`).
const HAL: &str = "hal@tailwindtraders.com";
/// Owns wiki; no console role.
const OLIVIA: &str = "olivia@tailwindtraders.com";
/// A member without any role.
const NATE: &str = "nate@tailwindtraders.com";
const PW: &str = "console-password-1";
const GUESTS: &str = "/.portcullis/admin/guests";

/// An action, its fields, and the status the help desk gets.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16);

/// Guests are refused `/admin/*` on wiki: the 403 the help desk is asked
/// about.
const RULES: &str = "\
policies:
  - name: block-admin-for-guests
    users: { include: [guests] }
    apps: { include: [wiki] }
    paths: { include: [\"/admin/*\"] }
    grant: block
";

struct Env {
    gw: Gateway,
    _up: Upstream,
}

async fn start() -> Env {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let hash = portcullis::local_idp::hash_password(PW).unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        format!(
            "users:\n  \
             - {{ email: {ADA}, name: Ada, password_hash: \"{hash}\" }}\n  \
             - {{ email: {HAL}, name: Hal, password_hash: \"{hash}\", groups: [HelpDesk] }}\n  \
             - {{ email: {OLIVIA}, name: Olivia, password_hash: \"{hash}\" }}\n  \
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
        app("docs", &ups, "title: docs app"),
    ];
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!(
        "sign_in: {{ host: {AUTH} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n\
         decision_log: {{ sample_allows: 1.0 }}\n\
         console: {{ admins: [{ADA}], helpdesk: [\"group:helpdesk\"] }}\n"
    );
    let gw = Gateway::start_configured(dir, &apps, RULES, &[], idps, &top).await;
    Env { gw, _up: up }
}

impl Env {
    fn url(&self, path: &str) -> String {
        self.gw.url(AUTH, path)
    }

    async fn user_id(&self, email: &str) -> String {
        self.gw
            .store
            .get_user_by_email(email)
            .await
            .unwrap()
            .unwrap()
            .id
    }

    /// A browser signed in on the auth host as `email` (a session as the
    /// portal issues; `amr` says whether it carries MFA, `groups` are the
    /// session's, as the local IdP gives them).
    async fn browser_as(
        &self,
        email: &str,
        user_type: UserType,
        groups: &[&str],
        amr: &[&str],
    ) -> Browser {
        let id = self.user_id(email).await;
        let cookie = self
            .gw
            .mint_cookie(AUTH, &id, email, user_type, groups, amr, 60)
            .await;
        let mut b = Browser::new(self.gw.http, &[AUTH, "wiki.test"]);
        let (name, value) = cookie.split_once('=').unwrap();
        b.cookies
            .entry(AUTH.to_string())
            .or_default()
            .insert(name.to_string(), value.to_string());
        b
    }

    async fn admin(&self) -> Browser {
        self.browser_as(ADA, UserType::Member, &[], &["pwd", "mfa"])
            .await
    }

    async fn helpdesk(&self) -> Browser {
        self.browser_as(HAL, UserType::Member, &["helpdesk"], &["pwd", "mfa"])
            .await
    }

    /// Posts a console form with the CSRF token of `page` (Origin included,
    /// as a browser sends it); no redirect followed.
    async fn post(&self, b: &mut Browser, page: &Page, fields: &[(&str, &str)]) -> Page {
        let csrf = page.field("csrf").expect("a CSRF token on the page");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        b.post(&Url::parse(&self.url(GUESTS)).unwrap(), &all).await
    }

    async fn audit_of(&self, subject: &str) -> Vec<(String, String)> {
        self.gw
            .store
            .list_audit(&AuditQuery {
                subject: Some(subject.to_string()),
                ..AuditQuery::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action))
            .collect()
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

    /// A guest of wiki for ten days, with a refused request recorded in the
    /// decision log: their id and that request's id.
    async fn guest_with_a_403(&self, local: &str) -> (String, String) {
        let gw = &self.gw;
        let (id, cookie) = gw.guest("wiki.test", local).await;
        gw.assign(
            &id,
            "wiki",
            Some(OffsetDateTime::now_utc() + time::Duration::days(10)),
        )
        .await;
        let r = gw
            .get("wiki.test", "/admin/settings")
            .header("cookie", &cookie)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        // The id the person is shown (the refusal's JSON carries it).
        let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        let rid = body["request_id"].as_str().unwrap().to_string();
        let store = &gw.store;
        poll(WAIT, || async {
            store.get_decision(&rid).await.unwrap().map(|_| ())
        })
        .await
        .expect("the refusal is in the decision log");
        (id, rid)
    }
}

/// Who gets which page: signed out → sign-in; a guest, an app owner and a
/// member without a role → 403; the help desk and an admin → the page; a
/// role holder without MFA → the MFA step (and a 403 for a post). Then
/// every action for each: the help desk may resend and reset MFA only.
#[tokio::test]
async fn each_person_gets_exactly_what_their_role_allows() {
    let env = start().await;
    let gw = &env.gw;
    let (greg, rid) = env.guest_with_a_403("greg").await;
    let greg_email = "greg@contoso.com";
    let pages = [
        "/.portcullis/admin".to_string(),
        GUESTS.to_string(),
        format!("{GUESTS}/{greg}"),
        "/.portcullis/admin/decisions".to_string(),
        format!("/.portcullis/admin/decisions/{rid}"),
        "/.portcullis/admin/audit".to_string(),
        "/.portcullis/admin/audit?format=csv".to_string(),
    ];
    let guest_cookie = gw
        .mint_cookie(
            AUTH,
            &greg,
            greg_email,
            UserType::Guest,
            &["helpdesk"],
            &["pwd", "mfa"],
            60,
        )
        .await;
    let (name, value) = guest_cookie.split_once('=').unwrap();
    let mut guest = Browser::new(gw.http, &[AUTH]);
    guest
        .cookies
        .entry(AUTH.to_string())
        .or_default()
        .insert(name.to_string(), value.to_string());
    let mut people: Vec<(&str, Browser, u16)> = vec![
        ("signed out", Browser::new(gw.http, &[AUTH]), 302),
        // A guest in a group named `helpdesk` still holds no role.
        ("guest", guest, 403),
        (
            "app owner",
            env.browser_as(OLIVIA, UserType::Member, &[], &["pwd", "mfa"])
                .await,
            403,
        ),
        (
            "member",
            env.browser_as(NATE, UserType::Member, &["helpdesk-team"], &["pwd", "mfa"])
                .await,
            403,
        ),
        ("helpdesk", env.helpdesk().await, 200),
        ("admin", env.admin().await, 200),
    ];
    for (who, b, want) in &mut people {
        for p in &pages {
            let page = b.get(&env.url(p)).await;
            assert_eq!(page.status, *want, "{who} GET {p}: {}", page.body);
            match *want {
                302 => assert_eq!(
                    page.location.as_ref().unwrap().path(),
                    "/.portcullis/sign-in",
                    "{who} {p}"
                ),
                403 => assert!(
                    page.body.contains("Not allowed"),
                    "{who} {p}: {}",
                    page.body
                ),
                _ => {}
            }
        }
    }
    // Without MFA, a role holder is sent through the MFA step and back.
    let mut no_mfa = env.browser_as(ADA, UserType::Member, &[], &["pwd"]).await;
    let p = no_mfa.get(&env.url(GUESTS)).await;
    assert_eq!(p.status, 302);
    let to = p.location.unwrap();
    assert_eq!(to.path(), "/.portcullis/mfa");
    assert_eq!(to.query_pairs().find(|(k, _)| k == "rd").unwrap().1, GUESTS);

    // Actions, from the page each role sees (its CSRF token).
    let inv = gw.store.list_invitations().await.unwrap();
    assert!(inv.is_empty());
    let admin_page = {
        let b = &mut people[5].1;
        b.get(&env.url(GUESTS)).await
    };
    // An invitation to resend and withdraw.
    let invited = env
        .post(
            &mut people[5].1,
            &admin_page,
            &[
                ("action", "invite"),
                ("email", "ivy@contoso.com"),
                ("apps", "wiki"),
                ("days", "5"),
            ],
        )
        .await;
    assert_eq!(invited.status, 302, "{}", invited.body);
    let ivy_inv = gw.store.list_invitations().await.unwrap()[0].id.clone();
    let help_page = {
        let b = &mut people[4].1;
        b.get(&env.url(&format!("{GUESTS}/{greg}"))).await
    };
    let cases: &[Case] = &[
        (
            "invite",
            &[("email", "x@contoso.com"), ("apps", "wiki"), ("days", "5")],
            403,
        ),
        (
            "extend",
            &[("user", &greg), ("app", "wiki"), ("days", "20")],
            403,
        ),
        (
            "end",
            &[("user", &greg), ("app", "wiki"), ("confirm", "yes")],
            403,
        ),
        ("remove", &[("user", &greg), ("confirm", "yes")], 403),
        ("revoke", &[("invitation", &ivy_inv)], 403),
        ("resend", &[("invitation", &ivy_inv)], 302),
        ("reset_mfa", &[("user", &greg)], 302),
    ];
    for (action, fields, want) in cases {
        let mut all = vec![("action", *action)];
        all.extend_from_slice(fields);
        let r = env.post(&mut people[4].1, &help_page, &all).await;
        assert_eq!(r.status, *want, "helpdesk {action}: {}", r.body);
    }
    // The refused ones changed nothing.
    let a = gw.store.assignments_of_user(&greg).await.unwrap();
    assert!(a[0].is_live(OffsetDateTime::now_utc()));
    assert!(gw.store.get_user(&greg).await.unwrap().is_some());
    assert_eq!(gw.store.list_invitations().await.unwrap().len(), 1);
    let greg_trail = env.audit_of(&greg).await;
    assert!(
        greg_trail.contains(&(HAL.to_string(), "mfa_reset".to_string())),
        "{greg_trail:?}"
    );
    assert!(
        !greg_trail.iter().any(|(_, a)| a.starts_with("assignment_")),
        "{greg_trail:?}"
    );
    // Owner, member and guest: every action 403, nothing done.
    for (who, b, _) in &mut people[1..=3] {
        // They have no console page to take a token from: the token of
        // their own browser, from the sign-out page.
        let signed_in = b.get(&env.url("/.portcullis/sign-out")).await;
        assert!(
            signed_in.field("csrf").is_some(),
            "{who}: {}",
            signed_in.body
        );
        for (action, fields, _) in cases {
            let mut all = vec![("action", *action)];
            all.extend_from_slice(fields);
            let r = env.post(b, &signed_in, &all).await;
            assert_eq!(r.status, 403, "{who} {action}: {}", r.body);
        }
    }
    assert_eq!(env.audit_of(&greg).await.len(), greg_trail.len());
    // Without MFA a post is refused outright.
    let r = env
        .post(
            &mut no_mfa,
            &help_page,
            &[("action", "reset_mfa"), ("user", &greg)],
        )
        .await;
    assert_eq!(r.status, 403);
}

/// A form without the CSRF token, with a foreign `Origin`, or with no
/// `Origin` at all is refused with a 403 and changes nothing.
#[tokio::test]
async fn forged_console_forms_are_refused() {
    let env = start().await;
    let gw = &env.gw;
    let (greg, _) = env.guest_with_a_403("greg").await;
    let mut b = env.admin().await;
    let page = b.get(&env.url(&format!("{GUESTS}/{greg}"))).await;
    assert_eq!(page.status, 200);
    let csrf = page.field("csrf").unwrap();
    let url = env.url(GUESTS);
    let cookie = b.cookies[AUTH]
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let body = |with_csrf: bool| {
        let mut f = vec![
            ("action", "end"),
            ("user", greg.as_str()),
            ("app", "wiki"),
            ("confirm", "yes"),
        ];
        if with_csrf {
            f.push(("csrf", csrf.as_str()));
        }
        Url::parse_with_params("http://x/", &f)
            .unwrap()
            .query()
            .unwrap()
            .to_string()
    };
    let origin = format!("http://{AUTH}:{}", gw.http.port());
    let forged = [
        ("no token", body(false), Some(origin.clone())),
        (
            "foreign origin",
            body(true),
            Some("http://evil.example".to_string()),
        ),
        ("no origin", body(true), None),
    ];
    for (what, body, origin) in forged {
        let client = reqwest::Client::builder()
            .resolve(AUTH, gw.http)
            .build()
            .unwrap();
        let mut req = client
            .post(&url)
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 403, "{what} ({url})");
    }
    let a = gw.store.assignments_of_user(&greg).await.unwrap();
    assert!(a[0].is_live(OffsetDateTime::now_utc()), "nothing ended");
    assert!(
        !env.audit_of(&greg)
            .await
            .iter()
            .any(|(_, a)| a == "assignment_revoked")
    );
}

/// An admin's day: invite with a message (the mail carries it), extend,
/// end (after a confirmation that changes nothing by itself), reset MFA,
/// resend and withdraw an invitation, remove a guest; each is audited with
/// the admin's e-mail as actor, and ended access is refused at once.
#[tokio::test]
async fn admin_actions_use_the_shared_operations_and_are_audited_with_the_admin() {
    let env = start().await;
    let gw = &env.gw;
    let (greg, _) = env.guest_with_a_403("greg").await;
    let greg_cookie = gw
        .mint_cookie(
            "wiki.test",
            &greg,
            "greg@contoso.com",
            UserType::Guest,
            &[],
            &["pwd"],
            60,
        )
        .await;
    let mut b = env.admin().await;
    let list = b.get(&env.url(GUESTS)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("greg@contoso.com"), "{}", list.body);
    assert!(!list.body.contains("<script"));

    // Invite, with a message, to two apps.
    let r = env
        .post(
            &mut b,
            &list,
            &[
                ("action", "invite"),
                ("email", "Gina@Contoso.com"),
                ("apps", "wiki"),
                ("apps", "docs"),
                ("days", "14"),
                ("message", "Welcome to the project, Gina"),
            ],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let gina_page = b.follow(r).await;
    assert_eq!(gina_page.status, 200);
    assert!(
        gina_page.body.contains("Invitation sent."),
        "{}",
        gina_page.body
    );
    let mails = env.mails_to("gina@contoso.com");
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("Welcome to the project, Gina"),
        "{}",
        mails[0]
    );
    let inv = gw.store.list_invitations().await.unwrap();
    let inv = inv
        .iter()
        .find(|i| i.email == "gina@contoso.com")
        .unwrap()
        .clone();
    let mut apps = inv.apps.clone();
    apps.sort();
    assert_eq!(apps, ["docs", "wiki"]);
    assert_eq!((inv.access_days, inv.inviter.as_str()), (Some(14), ADA));
    // Bad input is said on the page.
    let bad = env
        .post(
            &mut b,
            &list,
            &[
                ("action", "invite"),
                ("email", "x@contoso.com"),
                ("days", "5"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("choose at least one app"), "{}", bad.body);

    // Resend, then withdraw Gina's invitation.
    for (action, done) in [("resend", "resent"), ("revoke", "revoked")] {
        let r = env
            .post(
                &mut b,
                &gina_page,
                &[("action", action), ("invitation", &inv.id)],
            )
            .await;
        assert_eq!(r.status, 302, "{action}: {}", r.body);
        assert!(
            r.location
                .unwrap()
                .as_str()
                .ends_with(&format!("done={done}"))
        );
    }
    assert_eq!(env.mails_to("gina@contoso.com").len(), 2);

    // Extend Greg's access.
    let page = b.get(&env.url(&format!("{GUESTS}/{greg}"))).await;
    assert!(
        page.body.contains("block-admin-for-guests") || page.body.contains("/admin/settings"),
        "recent decisions: {}",
        page.body
    );
    let r = env
        .post(
            &mut b,
            &page,
            &[
                ("action", "extend"),
                ("user", &greg),
                ("app", "wiki"),
                ("days", "60"),
            ],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let end = gw.store.assignments_of_user(&greg).await.unwrap()[0]
        .expires_at
        .unwrap();
    assert!(end > OffsetDateTime::now_utc() + time::Duration::days(59));

    // End: first a confirmation that changes nothing, then the end.
    let confirm = env
        .post(
            &mut b,
            &page,
            &[("action", "end"), ("user", &greg), ("app", "wiki")],
        )
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(confirm.heading(), "End access?");
    assert!(
        gw.store.assignments_of_user(&greg).await.unwrap()[0].is_live(OffsetDateTime::now_utc())
    );
    let r = env
        .post(
            &mut b,
            &confirm,
            &[
                ("action", "end"),
                ("user", &greg),
                ("app", "wiki"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(
        !gw.store
            .assignments_of_user(&greg)
            .await
            .unwrap()
            .iter()
            .any(|a| a.is_live(OffsetDateTime::now_utc()))
    );
    let refused = gw
        .get("wiki.test", "/")
        .header("cookie", &greg_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "ended access is refused at once");

    // Reset MFA.
    let r = env
        .post(&mut b, &page, &[("action", "reset_mfa"), ("user", &greg)])
        .await;
    assert_eq!(r.status, 302, "{}", r.body);

    // Remove: confirmation, then the guest is gone.
    let confirm = env
        .post(&mut b, &page, &[("action", "remove"), ("user", &greg)])
        .await;
    assert_eq!(confirm.heading(), "Remove this guest?");
    assert!(gw.store.get_user(&greg).await.unwrap().is_some());
    let r = env
        .post(
            &mut b,
            &confirm,
            &[("action", "remove"), ("user", &greg), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(gw.store.get_user(&greg).await.unwrap().is_none());

    // Every action audited, with Ada as actor.
    let greg_trail = env.audit_of(&greg).await;
    for action in [
        "assignment_extended",
        "assignment_revoked",
        "mfa_reset",
        "guest_removed",
    ] {
        assert!(
            greg_trail.contains(&(ADA.to_string(), action.to_string())),
            "{action}: {greg_trail:?}"
        );
    }
    let gina_trail = env.audit_of(&inv.user_id).await;
    for action in ["guest_invited", "invitation_resent", "invitation_revoked"] {
        assert!(
            gina_trail.contains(&(ADA.to_string(), action.to_string())),
            "{action}: {gina_trail:?}"
        );
    }
    // The audit page shows them, and its CSV export too.
    let audit = b.get(&env.url("/.portcullis/admin/audit?actor=ada")).await;
    assert_eq!(audit.status, 200);
    assert!(audit.body.contains("guest_removed"), "{}", audit.body);
    let csv = b
        .get(&env.url("/.portcullis/admin/audit?action=assignment_revoked&format=csv"))
        .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.body
            .starts_with("id,at,actor,action,subject,app,detail\r\n"),
        "{}",
        csv.body
    );
    assert!(
        csv.body
            .contains(&format!("\"{ADA}\",\"assignment_revoked\"")),
        "{}",
        csv.body
    );
    assert!(
        !csv.body.contains("guest_removed"),
        "filtered: {}",
        csv.body
    );
}

/// The help desk types the request id from a guest's 403 page into the
/// search box and reads why; the decisions list finds it by user and
/// decision too.
#[tokio::test]
async fn the_help_desk_finds_a_403_by_its_request_id() {
    let env = start().await;
    let (_greg, rid) = env.guest_with_a_403("greg").await;
    let mut b = env.helpdesk().await;
    let found = b
        .open(&env.url(&format!(
            "/.portcullis/admin/decisions?id={}",
            rid.to_ascii_uppercase()
        )))
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(
        found.url.path(),
        format!("/.portcullis/admin/decisions/{rid}")
    );
    assert_eq!(found.by_id("decision").as_deref(), Some("block"));
    assert_eq!(found.by_id("reason").as_deref(), Some("policy_block"));
    assert_eq!(
        found.by_id("deciding-policy").as_deref(),
        Some("block-admin-for-guests")
    );
    assert!(found.body.contains("greg@contoso.com"), "{}", found.body);
    // Not an id; an id with nothing recorded.
    let bad = b
        .get(&env.url("/.portcullis/admin/decisions?id=nope"))
        .await;
    assert_eq!(bad.status, 400);
    let none = b
        .get(&env.url(&format!("/.portcullis/admin/decisions/{}", "0".repeat(32))))
        .await;
    assert_eq!(none.status, 404);
    // The list, by user and decision.
    let list = b
        .get(
            &env.url(
                "/.portcullis/admin/decisions?user=greg%40contoso.com&decision=block&since=1h",
            ),
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains(&rid), "{}", list.body);
    // The chart of the last day and the top reasons for blocks.
    assert!(list.body.contains("id=\"chart\""), "{}", list.body);
    assert!(
        list.body.contains("Blocked: <strong>1</strong>"),
        "{}",
        list.body
    );
    assert!(list.body.contains("policy_block</a> (1)"), "{}", list.body);
    let other = b
        .get(&env.url("/.portcullis/admin/decisions?app=docs"))
        .await;
    assert!(!other.body.contains(&rid));
    // Every console page has the search box.
    for p in ["/.portcullis/admin", GUESTS, "/.portcullis/admin/audit"] {
        let page = b.get(&env.url(p)).await;
        assert!(page.body.contains("id=\"find-request\""), "{p}");
        let csp = page.status;
        assert_eq!(csp, 200);
    }
}

/// A real sign-in with the local password has no MFA: the console sends
/// the admin through enrolment and back to the page they asked for.
#[tokio::test]
async fn signing_in_to_the_console_takes_mfa() {
    let env = start().await;
    let mut b = Browser::new(env.gw.http, &[AUTH]);
    let first = b.get(&env.url(GUESTS)).await;
    assert_eq!(first.status, 302);
    let form = b.follow(first).await;
    assert_eq!(form.heading(), "Sign in", "{}", form.body);
    let pw = b
        .submit(&form, "/.portcullis/sign-in", &[("email", ADA)])
        .await;
    let enroll = b
        .submit(&pw, "/.portcullis/sign-in/password", &[("password", PW)])
        .await;
    assert_eq!(
        enroll.heading(),
        "Set up two-step verification",
        "{}",
        enroll.body
    );
    let secret = enroll.by_id("secret").unwrap();
    let codes = b
        .submit(
            &enroll,
            "/.portcullis/mfa",
            &[("action", "confirm"), ("code", &totp_now(&secret))],
        )
        .await;
    assert_eq!(codes.status, 200, "{}", codes.body);
    let next = codes
        .links()
        .into_iter()
        .find(|l| l.path() == "/.portcullis/mfa")
        .expect("a way on from the recovery codes");
    let console = b.open(next.as_str()).await;
    assert_eq!(console.status, 200, "{}", console.body);
    assert_eq!(console.url.path(), GUESTS);
    assert_eq!(console.heading(), "Guests");
    assert_eq!(console.by_id("staff").as_deref(), Some(ADA));
}

fn base32(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u64, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = alphabet
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .unwrap() as u64;
        buf = (buf << 5) | v;
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

/// The console in Chromium: an admin invites a guest with a message and
/// ends another guest's access (after the confirmation); the help desk
/// types a 403's request id into the search box and reads the trace.
/// Screenshots of every page in `target/browser-artifacts/console_admin/`
/// and `…/console_helpdesk/`; axe-core finds no serious violation.
#[tokio::test]
async fn console_journeys_in_chromium() {
    support::chromium::assert_installed();
    let env = start().await;
    let gw = &env.gw;
    let (greg, rid) = env.guest_with_a_403("greg").await;
    let cookie = |c: String| c.split_once('=').unwrap().1.to_string();
    let ada = env.user_id(ADA).await;
    let hal = env.user_id(HAL).await;
    let admin_cookie = cookie(
        gw.mint_cookie(AUTH, &ada, ADA, UserType::Member, &[], &["pwd", "mfa"], 60)
            .await,
    );
    let helpdesk_cookie = cookie(
        gw.mint_cookie(
            AUTH,
            &hal,
            HAL,
            UserType::Member,
            &["helpdesk"],
            &["pwd", "mfa"],
            60,
        )
        .await,
    );
    let admin_shots = support::chromium::artifacts("console_admin");
    let helpdesk_shots = support::chromium::artifacts("console_helpdesk");
    let input = serde_json::json!({
        "port": gw.http.port(),
        "auth_host": AUTH,
        "admin_cookie": admin_cookie,
        "helpdesk_cookie": helpdesk_cookie,
        "guest_id": greg,
        "guest_email": "greg@contoso.com",
        "request_id": rid,
        "invitee": "gina@contoso.com",
        "message": "Welcome to the wiki, Gina: the project notes are under Reports.",
        "admin_screenshots": admin_shots,
        "helpdesk_screenshots": helpdesk_shots,
        "timeout_ms": 10_000,
    });
    let input_file = gw.path("console-journey.json");
    std::fs::write(&input_file, input.to_string()).unwrap();
    let (ok, stdout, stderr) = support::chromium::run(
        "console.mjs",
        &input_file,
        std::time::Duration::from_secs(120),
    )
    .await;
    assert!(
        ok,
        "the console journey failed (screenshots in {}):\n{stderr}\n{stdout}",
        admin_shots.display()
    );
    for (dir, pages) in [
        (
            &admin_shots,
            &[
                "01-overview",
                "02-guests",
                "03-invite-form",
                "04-invited",
                "05-guest",
                "06-confirm-end",
                "07-ended",
                "08-decisions",
                "09-audit",
            ][..],
        ),
        (
            &helpdesk_shots,
            &["01-overview", "02-trace", "03-guest"][..],
        ),
    ] {
        for p in pages {
            for f in [format!("{p}.png"), format!("{p}-phone.png")] {
                let len = std::fs::metadata(dir.join(&f))
                    .unwrap_or_else(|e| panic!("screenshot {f}: {e}"))
                    .len();
                assert!(len > 1000, "{f} is only {len} bytes");
            }
        }
    }
    // What the server kept: the invitation with its message, by Ada; the
    // access ended by Ada.
    let mails = env.mails_to("gina@contoso.com");
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("Welcome to the wiki, Gina"),
        "{}",
        mails[0]
    );
    assert!(
        env.audit_of(&greg)
            .await
            .contains(&(ADA.to_string(), "assignment_revoked".to_string()))
    );
}
