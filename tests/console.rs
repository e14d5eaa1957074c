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
const INVITATIONS: &str = "/.portcullis/admin/invitations";
const REQUESTS: &str = "/.portcullis/admin/sign-up-requests";
const POLICIES: &str = "/.portcullis/admin/policies";
const AUDIT: &str = "/.portcullis/admin/audit";
const DECISIONS: &str = "/.portcullis/admin/decisions";

/// A form's address, its action and fields, and the status the help desk
/// gets.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, u16);

/// Guests are refused `/admin/*` on wiki: the 403 the help desk is asked
/// about. A report-only policy counts what MFA for guests would do, and a
/// location nobody names is a lint finding.
const RULES: &str = "\
named_locations:
  - name: old-office
    ip_ranges: [192.0.2.0/24]
policies:
  - name: block-admin-for-guests
    users: { include: [guests] }
    apps: { include: [wiki] }
    paths: { include: [\"/admin/*\"] }
    grant: block
  - name: guests-mfa-trial
    state: report_only
    users: { include: [guests] }
    apps: { include: [wiki] }
    grant: { require: [mfa] }
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
        app(
            "docs",
            &ups,
            &format!(
                "title: docs app, owners: [{OLIVIA}], sign_up: {{ approval: owner, \
                 attributes: [{{ name: company, label: Company, required: true }}] }}"
            ),
        ),
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
        self.post_to(b, GUESTS, page, fields).await
    }

    /// As [`Env::post`], to the form at `path`.
    async fn post_to(
        &self,
        b: &mut Browser,
        path: &str,
        page: &Page,
        fields: &[(&str, &str)],
    ) -> Page {
        let csrf = page.field("csrf").expect("a CSRF token on the page");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        b.post(&Url::parse(&self.url(path)).unwrap(), &all).await
    }

    /// A session of `user_id` as the portal starts one: its record in the
    /// store (so the guest's page lists it and sign-out ends it) and the
    /// cookie for `host`.
    async fn session_of(&self, host: &str, user_id: &str, email: &str) -> String {
        let sid = portcullis::session::new_sid();
        let now = OffsetDateTime::now_utc();
        self.gw
            .store
            .insert_session(&portcullis::store::SessionRecord {
                sid: sid.clone(),
                user_id: user_id.to_string(),
                idp: "partner-api".into(),
                created_at: now,
                expires_at: now + time::Duration::hours(1),
                device: None,
            })
            .await
            .unwrap();
        let unix = now.unix_timestamp();
        let claims = portcullis::session::SessionClaims {
            iss: portcullis::server::ISSUER.into(),
            sub: user_id.to_string(),
            aud: host.into(),
            email: email.to_string(),
            user_type: UserType::Guest,
            groups: Vec::<String>::new().into(),
            idp: "partner-api".into(),
            amr: vec!["pwd".to_string()].into(),
            auth_time: unix - 60,
            iat: unix,
            exp: unix + 3600,
            sid,
        };
        let token = self.gw.keys().await.issue(&claims).unwrap();
        format!("portcullis_session={token}")
    }

    /// A pending sign-up request of a new guest `local@contoso.com` for
    /// docs: its id and the guest's.
    async fn sign_up_request(&self, local: &str) -> (String, String) {
        let id = self
            .gw
            .add_user(&format!("{local}@contoso.com"), UserType::Guest)
            .await;
        let (req, _) = self
            .gw
            .store
            .create_access_request(
                &portcullis::store::NewAccessRequest {
                    app: "docs".into(),
                    user_id: id.clone(),
                    attributes: [("company".to_string(), "Contoso".to_string())].into(),
                },
                OffsetDateTime::now_utc(),
            )
            .await
            .unwrap();
        (req.id, id)
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
/// every action of every console form for each: the help desk may resend
/// and reset MFA only; the others nothing; and what was refused changed
/// nothing.
#[tokio::test]
async fn each_person_gets_exactly_what_their_role_allows() {
    let env = start().await;
    let gw = &env.gw;
    let (greg, rid) = env.guest_with_a_403("greg").await;
    let greg_email = "greg@contoso.com";
    let (req_id, _rita) = env.sign_up_request("rita").await;
    let pages = [
        "/.portcullis/admin".to_string(),
        GUESTS.to_string(),
        format!("{GUESTS}/{greg}"),
        INVITATIONS.to_string(),
        format!("{INVITATIONS}?state=pending"),
        REQUESTS.to_string(),
        format!("{REQUESTS}?state=pending&app=docs"),
        POLICIES.to_string(),
        format!("{POLICIES}?ask=1&user=greg%40contoso.com&app=wiki&path=%2Fadmin%2Fx"),
        DECISIONS.to_string(),
        format!("{DECISIONS}?decision=block&before=9999999"),
        format!("{DECISIONS}/{rid}"),
        AUDIT.to_string(),
        format!("{AUDIT}?actor=ada&action=guest_blocked"),
        format!("{AUDIT}?format=csv"),
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
    // Greg has an open session to sign out of.
    let _greg_session = env.session_of("wiki.test", &greg, greg_email).await;
    // What each role is shown: the help desk no buttons for admins' actions.
    let admin_guest = people[5].1.get(&env.url(&format!("{GUESTS}/{greg}"))).await;
    let help_guest = people[4].1.get(&env.url(&format!("{GUESTS}/{greg}"))).await;
    for button in ["id=\"block\"", "id=\"sign-out-all\"", "Remove guest"] {
        assert!(admin_guest.body.contains(button), "admin sees {button}");
        assert!(!help_guest.body.contains(button), "help desk sees {button}");
    }
    let help_requests = people[4].1.get(&env.url(REQUESTS)).await;
    assert!(help_requests.body.contains("rita@contoso.com"));
    assert!(
        !help_requests.body.contains(">Approve<"),
        "{}",
        help_requests.body
    );

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
    let admin_page = people[5].1.get(&env.url(GUESTS)).await;
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
    let handle = {
        let page = people[4].1.get(&env.url(&format!("{GUESTS}/{greg}"))).await;
        assert!(page.body.contains("id=\"sessions\""), "{}", page.body);
        let sessions = gw
            .store
            .sessions_of_user(&greg, OffsetDateTime::now_utc())
            .await
            .unwrap();
        portcullis::guests::session_handle(&sessions[0].sid)
    };
    let cases: Vec<Case> = vec![
        (
            GUESTS,
            "invite",
            vec![("email", "x@contoso.com"), ("apps", "wiki"), ("days", "5")],
            403,
        ),
        (
            GUESTS,
            "extend",
            vec![("user", &greg), ("app", "wiki"), ("days", "20")],
            403,
        ),
        (
            GUESTS,
            "end",
            vec![("user", &greg), ("app", "wiki"), ("confirm", "yes")],
            403,
        ),
        (
            GUESTS,
            "remove",
            vec![("user", &greg), ("confirm", "yes")],
            403,
        ),
        (
            GUESTS,
            "block",
            vec![("user", &greg), ("confirm", "yes")],
            403,
        ),
        (GUESTS, "unblock", vec![("user", &greg)], 403),
        (
            GUESTS,
            "end_session",
            vec![("user", &greg), ("session", &handle)],
            403,
        ),
        (
            GUESTS,
            "sign_out_all",
            vec![("user", &greg), ("confirm", "yes")],
            403,
        ),
        (
            GUESTS,
            "revoke",
            vec![("invitation", &ivy_inv), ("confirm", "yes")],
            403,
        ),
        (
            INVITATIONS,
            "revoke",
            vec![("invitation", &ivy_inv), ("confirm", "yes")],
            403,
        ),
        (REQUESTS, "approve", vec![("request", &req_id)], 403),
        (
            REQUESTS,
            "deny",
            vec![("request", &req_id), ("confirm", "yes")],
            403,
        ),
        (GUESTS, "resend", vec![("invitation", &ivy_inv)], 302),
        (INVITATIONS, "resend", vec![("invitation", &ivy_inv)], 302),
        (GUESTS, "reset_mfa", vec![("user", &greg)], 302),
    ];
    for (path, action, fields, want) in &cases {
        let mut all = vec![("action", *action)];
        all.extend_from_slice(fields);
        let r = env.post_to(&mut people[4].1, path, &help_guest, &all).await;
        assert_eq!(r.status, *want, "helpdesk {path} {action}: {}", r.body);
    }
    // The refused ones changed nothing.
    let now = OffsetDateTime::now_utc();
    let a = gw.store.assignments_of_user(&greg).await.unwrap();
    assert!(a[0].is_live(now));
    let greg_user = gw.store.get_user(&greg).await.unwrap().unwrap();
    assert_eq!(greg_user.state, portcullis::store::UserState::Active);
    assert_eq!(
        gw.store.sessions_of_user(&greg, now).await.unwrap().len(),
        1
    );
    let invs = gw.store.list_invitations().await.unwrap();
    assert_eq!(invs.len(), 1);
    assert_eq!(invs[0].status(now), "pending");
    let req = gw.store.get_access_request(&req_id).await.unwrap().unwrap();
    assert_eq!(req.status.as_str(), "pending");
    let greg_trail = env.audit_of(&greg).await;
    assert!(
        greg_trail.contains(&(HAL.to_string(), "mfa_reset".to_string())),
        "{greg_trail:?}"
    );
    for (_, action) in &greg_trail {
        assert!(
            !action.starts_with("assignment_")
                && !["guest_blocked", "session_ended", "sessions_ended"].contains(&action.as_str()),
            "{greg_trail:?}"
        );
    }
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
        for (path, action, fields, _) in &cases {
            let mut all = vec![("action", *action)];
            all.extend_from_slice(fields);
            let r = env.post_to(b, path, &signed_in, &all).await;
            assert_eq!(r.status, 403, "{who} {path} {action}: {}", r.body);
        }
    }
    // Signed out: every form refused too (with the token of the sign-in
    // page this browser was given).
    let anon_page = people[0].1.get(&env.url("/.portcullis/sign-in")).await;
    assert!(anon_page.field("csrf").is_some(), "{}", anon_page.body);
    for (path, action, fields, _) in &cases {
        let mut all = vec![("action", *action)];
        all.extend_from_slice(fields);
        let r = env.post_to(&mut people[0].1, path, &anon_page, &all).await;
        assert_eq!(r.status, 403, "signed out {path} {action}: {}", r.body);
    }
    assert_eq!(env.audit_of(&greg).await.len(), greg_trail.len());
    assert_eq!(
        gw.store
            .get_access_request(&req_id)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "pending"
    );
    // Without MFA a post is refused outright.
    let r = env
        .post(
            &mut no_mfa,
            &help_guest,
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
    let (req_id, _) = env.sign_up_request("rita").await;
    let mut b = env.admin().await;
    let page = b.get(&env.url(&format!("{GUESTS}/{greg}"))).await;
    assert_eq!(page.status, 200);
    // A pending invitation to withdraw.
    let invited = env
        .post(
            &mut b,
            &page,
            &[
                ("action", "invite"),
                ("email", "ivy@contoso.com"),
                ("apps", "wiki"),
                ("days", "5"),
            ],
        )
        .await;
    assert_eq!(invited.status, 302, "{}", invited.body);
    let inv = gw.store.list_invitations().await.unwrap()[0].id.clone();
    let csrf = page.field("csrf").unwrap();
    let cookie = b.cookies[AUTH]
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let forms: [(&str, Vec<(&str, &str)>); 4] = [
        (
            GUESTS,
            vec![
                ("action", "end"),
                ("user", greg.as_str()),
                ("app", "wiki"),
                ("confirm", "yes"),
            ],
        ),
        (
            GUESTS,
            vec![
                ("action", "block"),
                ("user", greg.as_str()),
                ("confirm", "yes"),
            ],
        ),
        (
            INVITATIONS,
            vec![
                ("action", "revoke"),
                ("invitation", &inv),
                ("confirm", "yes"),
            ],
        ),
        (REQUESTS, vec![("action", "approve"), ("request", &req_id)]),
    ];
    let origin = format!("http://{AUTH}:{}", gw.http.port());
    for (path, fields) in &forms {
        let url = env.url(path);
        let body = |with_csrf: bool| {
            let mut f = fields.clone();
            if with_csrf {
                f.push(("csrf", csrf.as_str()));
            }
            Url::parse_with_params("http://x/", &f)
                .unwrap()
                .query()
                .unwrap()
                .to_string()
        };
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
            assert_eq!(r.status(), 403, "{what} ({url} {fields:?})");
        }
    }
    let now = OffsetDateTime::now_utc();
    let a = gw.store.assignments_of_user(&greg).await.unwrap();
    assert!(a[0].is_live(now), "nothing ended");
    let greg_user = gw.store.get_user(&greg).await.unwrap().unwrap();
    assert_eq!(greg_user.state, portcullis::store::UserState::Active);
    assert_eq!(
        gw.store
            .get_invitation(&inv)
            .await
            .unwrap()
            .unwrap()
            .status(now),
        "pending"
    );
    assert_eq!(
        gw.store
            .get_access_request(&req_id)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "pending"
    );
    let trail = env.audit_of(&greg).await;
    assert!(
        !trail
            .iter()
            .any(|(_, a)| a == "assignment_revoked" || a == "guest_blocked"),
        "{trail:?}"
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

    // Resend, then withdraw Gina's invitation (confirmed first).
    let confirm = env
        .post(
            &mut b,
            &gina_page,
            &[("action", "revoke"), ("invitation", &inv.id)],
        )
        .await;
    assert_eq!(
        confirm.heading(),
        "Withdraw this invitation?",
        "{}",
        confirm.body
    );
    assert_eq!(
        gw.store
            .get_invitation(&inv.id)
            .await
            .unwrap()
            .unwrap()
            .status(OffsetDateTime::now_utc()),
        "pending"
    );
    for (action, done) in [("resend", "resent"), ("revoke", "revoked")] {
        let r = env
            .post(
                &mut b,
                &gina_page,
                &[
                    ("action", action),
                    ("invitation", &inv.id),
                    ("confirm", "yes"),
                ],
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

/// A request of `cookie` to wiki: its status and, for a refusal, the
/// reason in the JSON answer.
async fn wiki(gw: &Gateway, cookie: &str, path: &str) -> (u16, Option<String>) {
    let r = gw
        .get("wiki.test", path)
        .header("cookie", cookie)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value =
        serde_json::from_str(&r.text().await.unwrap()).unwrap_or_default();
    (status, body["reason"].as_str().map(str::to_string))
}

/// Blocking a guest's sign-in refuses them everywhere at once with
/// `account_blocked` (an open session to an app, the portal's pages)
/// without ending their access; unblocking lets the same session in
/// again. Both after the admin's confirmation, audited with the admin; the
/// admin API's block is the same operation (actor `admin`).
#[tokio::test]
async fn blocking_sign_in_refuses_the_guest_everywhere_at_once_until_unblocked() {
    let env = start().await;
    let gw = &env.gw;
    let (greg, _) = env.guest_with_a_403("greg").await;
    let greg_email = "greg@contoso.com";
    let app_cookie = env.session_of("wiki.test", &greg, greg_email).await;
    let portal_cookie = env.session_of(AUTH, &greg, greg_email).await;
    // The directory cache has greg's facts now.
    assert_eq!(wiki(gw, &app_cookie, "/").await, (200, None));
    let apps_url = env.url("/.portcullis/apps");
    let portal = |cookie: String| {
        let apps_url = apps_url.clone();
        async move {
            let (name, value) = cookie.split_once('=').unwrap();
            let mut b = Browser::new(gw.http, &[AUTH]);
            b.cookies
                .entry(AUTH.to_string())
                .or_default()
                .insert(name.to_string(), value.to_string());
            b.get(&apps_url).await.status
        }
    };
    assert_eq!(portal(portal_cookie.clone()).await, 200);

    let mut b = env.admin().await;
    let page = b.get(&env.url(&format!("{GUESTS}/{greg}"))).await;
    assert!(page.body.contains("id=\"block\""), "{}", page.body);
    let confirm = env
        .post(&mut b, &page, &[("action", "block"), ("user", &greg)])
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(confirm.heading(), "Block sign-in?");
    assert_eq!(wiki(gw, &app_cookie, "/").await, (200, None), "not yet");
    let r = env
        .post(
            &mut b,
            &confirm,
            &[("action", "block"), ("user", &greg), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let blocked_page = b.follow(r).await;
    assert!(
        blocked_page.body.contains("Sign-in blocked"),
        "{}",
        blocked_page.body
    );
    assert!(blocked_page.body.contains("id=\"unblock\""));
    // At once: the open session is refused on the app and on the portal.
    assert_eq!(
        wiki(gw, &app_cookie, "/").await,
        (403, Some("account_blocked".to_string()))
    );
    assert_ne!(portal(portal_cookie.clone()).await, 200);
    // Access and sessions are kept for the unblock.
    let now = OffsetDateTime::now_utc();
    assert!(gw.store.assignments_of_user(&greg).await.unwrap()[0].is_live(now));
    assert_eq!(
        gw.store.sessions_of_user(&greg, now).await.unwrap().len(),
        2
    );
    // The guests list shows the state and filters by it.
    let list = b.get(&env.url(&format!("{GUESTS}?state=blocked"))).await;
    assert!(list.body.contains(greg_email), "{}", list.body);
    let list = b.get(&env.url(&format!("{GUESTS}?state=active"))).await;
    assert!(!list.body.contains(greg_email), "{}", list.body);

    let r = env
        .post(
            &mut b,
            &blocked_page,
            &[("action", "unblock"), ("user", &greg)],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        wiki(gw, &app_cookie, "/").await,
        (200, None),
        "let in again"
    );
    assert_eq!(portal(portal_cookie.clone()).await, 200);
    let trail = env.audit_of(&greg).await;
    for action in ["guest_blocked", "guest_unblocked"] {
        assert!(
            trail.contains(&(ADA.to_string(), action.to_string())),
            "{action}: {trail:?}"
        );
    }

    // The admin API blocks with the same operation.
    let api = |method: reqwest::Method, path: String| {
        reqwest::Client::new()
            .request(method, format!("http://{}{path}", gw.admin))
            .bearer_auth("test-admin-token-0123456789")
            .send()
    };
    let r = api(
        reqwest::Method::POST,
        format!("/api/v1/guests/{greg_email}/block"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["state"], "blocked");
    assert_eq!(
        wiki(gw, &app_cookie, "/").await,
        (403, Some("account_blocked".to_string()))
    );
    let r = api(
        reqwest::Method::POST,
        format!("/api/v1/guests/{greg}/unblock"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(wiki(gw, &app_cookie, "/").await, (200, None));
    let trail = env.audit_of(&greg).await;
    assert!(trail.contains(&("admin".to_string(), "guest_blocked".to_string())));
    // And the API's sessions: listed by handle, never by sid.
    let r = api(
        reqwest::Method::GET,
        format!("/api/v1/guests/{greg}/sessions"),
    )
    .await
    .unwrap();
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let sids: Vec<String> = gw
        .store
        .sessions_of_user(&greg, OffsetDateTime::now_utc())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.sid)
        .collect();
    assert!(!body.to_string().contains(&sids[0]));
}

/// A guest's page lists their open sessions; the admin signs one out (its
/// cookie is refused at once, the other still works), then every session
/// (after a confirmation). Audited with the admin.
#[tokio::test]
async fn an_admin_signs_a_guest_out_of_one_session_or_everywhere() {
    let env = start().await;
    let gw = &env.gw;
    let (greg, _) = env.guest_with_a_403("greg").await;
    let greg_email = "greg@contoso.com";
    let first = env.session_of("wiki.test", &greg, greg_email).await;
    let second = env.session_of("wiki.test", &greg, greg_email).await;
    assert_eq!(wiki(gw, &first, "/").await.0, 200);
    assert_eq!(wiki(gw, &second, "/").await.0, 200);
    let mut b = env.admin().await;
    let page = b.get(&env.url(&format!("{GUESTS}/{greg}"))).await;
    assert_eq!(page.by_id("session-count").as_deref(), Some("2"));
    // The page names sessions by handle, never by the token's sid.
    let sessions = gw
        .store
        .sessions_of_user(&greg, OffsetDateTime::now_utc())
        .await
        .unwrap();
    for s in &sessions {
        assert!(!page.body.contains(&s.sid), "a sid on the page");
    }
    // The first cookie's session: the one with the first cookie's sid.
    let sid_of = |cookie: &str| {
        let token = cookie.split_once('=').unwrap().1;
        let payload = token.split('.').nth(1).unwrap();
        use base64::Engine as _;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        v["sid"].as_str().unwrap().to_string()
    };
    let handle = portcullis::guests::session_handle(&sid_of(&first));
    assert!(page.body.contains(&handle), "{}", page.body);
    let r = env
        .post(
            &mut b,
            &page,
            &[
                ("action", "end_session"),
                ("user", &greg),
                ("session", &handle),
            ],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let signed_out = |(status, _): (u16, Option<String>)| matches!(status, 401 | 302);
    assert!(
        signed_out(wiki(gw, &first, "/").await),
        "signed out at once"
    );
    assert_eq!(wiki(gw, &second, "/").await.0, 200, "the other kept");
    // Again: that session has ended.
    let again = env
        .post(
            &mut b,
            &page,
            &[
                ("action", "end_session"),
                ("user", &greg),
                ("session", &handle),
            ],
        )
        .await;
    assert_eq!(again.status, 400, "{}", again.body);
    // Everywhere: a confirmation first.
    let page = b.get(&env.url(&format!("{GUESTS}/{greg}"))).await;
    assert_eq!(page.by_id("session-count").as_deref(), Some("1"));
    let confirm = env
        .post(
            &mut b,
            &page,
            &[("action", "sign_out_all"), ("user", &greg)],
        )
        .await;
    assert_eq!(confirm.heading(), "Sign out everywhere?");
    assert_eq!(wiki(gw, &second, "/").await.0, 200);
    let r = env
        .post(
            &mut b,
            &confirm,
            &[
                ("action", "sign_out_all"),
                ("user", &greg),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(signed_out(wiki(gw, &second, "/").await));
    let page = b.follow(r).await;
    assert!(page.body.contains("id=\"no-sessions\""), "{}", page.body);
    let trail = env.audit_of(&greg).await;
    for action in ["session_ended", "sessions_ended"] {
        assert!(
            trail.contains(&(ADA.to_string(), action.to_string())),
            "{action}: {trail:?}"
        );
    }
}

/// The invitations page lists every invitation with its state; an admin
/// sends one again and withdraws another (confirmed first). The sign-up
/// requests page shows a partner's answers; an admin approves one (access
/// starts, the partner is mailed) and denies another (confirmed first);
/// a second decision is refused. All audited with the admin.
#[tokio::test]
async fn invitations_and_sign_up_requests_are_handled_from_their_pages() {
    let env = start().await;
    let gw = &env.gw;
    let mut b = env.admin().await;
    let guests = b.get(&env.url(GUESTS)).await;
    for email in ["ivy@contoso.com", "ian@contoso.com"] {
        let r = env
            .post(
                &mut b,
                &guests,
                &[
                    ("action", "invite"),
                    ("email", email),
                    ("apps", "wiki"),
                    ("days", "5"),
                ],
            )
            .await;
        assert_eq!(r.status, 302, "{}", r.body);
    }
    let invs = gw.store.list_invitations().await.unwrap();
    let id_of = |email: &str| invs.iter().find(|i| i.email == email).unwrap().id.clone();
    let (ivy, ian) = (id_of("ivy@contoso.com"), id_of("ian@contoso.com"));
    let list = b.get(&env.url(INVITATIONS)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("ivy@contoso.com") && list.body.contains("ian@contoso.com"));
    let r = env
        .post_to(
            &mut b,
            INVITATIONS,
            &list,
            &[("action", "resend"), ("invitation", &ivy)],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(
        r.location
            .as_ref()
            .unwrap()
            .as_str()
            .ends_with(&format!("{INVITATIONS}?done=resent"))
    );
    assert_eq!(env.mails_to("ivy@contoso.com").len(), 2);
    let confirm = env
        .post_to(
            &mut b,
            INVITATIONS,
            &list,
            &[("action", "revoke"), ("invitation", &ian)],
        )
        .await;
    assert_eq!(confirm.heading(), "Withdraw this invitation?");
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        gw.store
            .get_invitation(&ian)
            .await
            .unwrap()
            .unwrap()
            .status(now),
        "pending"
    );
    let r = env
        .post_to(
            &mut b,
            INVITATIONS,
            &confirm,
            &[
                ("action", "revoke"),
                ("invitation", &ian),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        gw.store
            .get_invitation(&ian)
            .await
            .unwrap()
            .unwrap()
            .status(now),
        "revoked"
    );
    let withdrawn = b
        .get(&env.url(&format!("{INVITATIONS}?state=revoked")))
        .await;
    assert!(
        withdrawn.body.contains("ian@contoso.com"),
        "{}",
        withdrawn.body
    );
    assert!(
        !withdrawn.body.contains("ivy@contoso.com"),
        "{}",
        withdrawn.body
    );
    let pending = b
        .get(&env.url(&format!("{INVITATIONS}?state=pending&q=IVY")))
        .await;
    assert!(pending.body.contains("ivy@contoso.com"), "{}", pending.body);
    let bad = b.get(&env.url(&format!("{INVITATIONS}?state=lost"))).await;
    assert_eq!(bad.status, 400);

    // Sign-up requests.
    let (rita_req, rita) = env.sign_up_request("rita").await;
    let (ron_req, ron) = env.sign_up_request("ron").await;
    let list = b.get(&env.url(REQUESTS)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("rita@contoso.com"), "{}", list.body);
    assert!(
        list.body.contains("<strong>Company</strong>: Contoso"),
        "{}",
        list.body
    );
    let r = env
        .post_to(
            &mut b,
            REQUESTS,
            &list,
            &[("action", "approve"), ("request", &rita_req)],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let a = gw.store.assignments_of_user(&rita).await.unwrap();
    assert_eq!(a.len(), 1);
    assert!(a[0].is_live(OffsetDateTime::now_utc()));
    assert_eq!(a[0].app, "docs");
    assert_eq!(env.mails_to("rita@contoso.com").len(), 1);
    let confirm = env
        .post_to(
            &mut b,
            REQUESTS,
            &list,
            &[("action", "deny"), ("request", &ron_req)],
        )
        .await;
    assert_eq!(confirm.heading(), "Deny this request?");
    assert_eq!(
        gw.store
            .get_access_request(&ron_req)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "pending"
    );
    let r = env
        .post_to(
            &mut b,
            REQUESTS,
            &confirm,
            &[
                ("action", "deny"),
                ("request", &ron_req),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(gw.store.assignments_of_user(&ron).await.unwrap().is_empty());
    // The first decision stands.
    let again = env
        .post_to(
            &mut b,
            REQUESTS,
            &list,
            &[("action", "approve"), ("request", &ron_req)],
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(gw.store.assignments_of_user(&ron).await.unwrap().is_empty());
    let denied = b.get(&env.url(&format!("{REQUESTS}?state=denied"))).await;
    assert!(denied.body.contains("ron@contoso.com") && !denied.body.contains("rita@contoso.com"));
    assert!(
        env.audit_of(&rita)
            .await
            .contains(&(ADA.to_string(), "access_approved".to_string()))
    );
    assert!(
        env.audit_of(&ron)
            .await
            .contains(&(ADA.to_string(), "access_denied".to_string()))
    );
    let ian_user = gw
        .store
        .get_invitation(&ian)
        .await
        .unwrap()
        .unwrap()
        .user_id;
    assert!(
        env.audit_of(&ian_user)
            .await
            .contains(&(ADA.to_string(), "invitation_revoked".to_string()))
    );
}

/// The policies page: every policy with the file it is written in, its
/// applied and report-only counts over the last day from the decision log,
/// the rule file's text, what-if (the API's answer) and the lint findings
/// (`rules lint`'s).
#[tokio::test]
async fn the_policies_page_counts_answers_what_if_and_lints() {
    let env = start().await;
    // Two refusals by block-admin-for-guests; guests-mfa-trial applies to
    // both too (report-only).
    let (_greg, _) = env.guest_with_a_403("greg").await;
    let (_gail, _) = env.guest_with_a_403("gail").await;
    let mut b = env.helpdesk().await;
    let page = b.get(&env.url(POLICIES)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let count = |policy: &str, kind: &str| {
        let marker = format!("data-policy=\"{policy}\" data-kind=\"{kind}\">");
        let at = page
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("{marker}: {}", page.body));
        let rest = &page.body[at + marker.len()..];
        rest[..rest.find('<').unwrap()].parse::<u64>().unwrap()
    };
    assert_eq!(count("block-admin-for-guests", "applied"), 2);
    assert_eq!(count("block-admin-for-guests", "report_only"), 0);
    assert_eq!(count("guests-mfa-trial", "report_only"), 2);
    assert_eq!(count("guests-mfa-trial", "applied"), 0);
    assert!(
        page.body.contains("<code>rules/access.yaml:5</code>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("name: old-office"),
        "the file's text: {}",
        page.body
    );
    // rules lint's finding: the location nobody names.
    assert!(page.body.contains("unused"), "{}", page.body);
    assert!(
        page.body
            .contains("no policy names the location `old-office`"),
        "{}",
        page.body
    );

    // What if, with the directory: greg is a guest of wiki.
    let w = b
        .get(&env.url(&format!(
            "{POLICIES}?ask=1&user=greg%40contoso.com&app=wiki&user_type=&group=&path=%2Fadmin%2Fx&method=&ip=&country=&platform=&client_app=browser&mfa=none&signed_in_ago="
        )))
        .await;
    assert_eq!(w.status, 200, "{}", w.body);
    assert_eq!(w.by_id("whatif-decision").as_deref(), Some("block"));
    assert_eq!(w.by_id("whatif-reason").as_deref(), Some("policy_block"));
    let w = b
        .get(&env.url(&format!("{POLICIES}?ask=1&app=wiki&path=%2F&mfa=none")))
        .await;
    assert_eq!(
        w.by_id("whatif-decision").as_deref(),
        Some("sign_in"),
        "{}",
        w.body
    );
    // A bad question says what is wrong, as the API does.
    let bad = b
        .get(&env.url(&format!("{POLICIES}?ask=1&app=wiki&ip=not-an-ip")))
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body
            .contains("ip: `not-an-ip` is not an IPv4 or IPv6 address"),
        "{}",
        bad.body
    );
}

/// English words of the console's pages that a German admin must not
/// see (labels, headings, notes; technical values such as policy names,
/// reason codes and states are shown as they are).
const CONSOLE_ENGLISH: &[&str] = &[
    "Signed in as",
    "Sign out",
    "Admin console",
    ">Overview<",
    ">Guests<",
    ">Invitations<",
    "Sign-up requests",
    "Sign-ins and decisions",
    "Audit log",
    "Request id",
    ">Find<",
    ">Filter<",
    ">any<",
    "Invite a guest",
    "Send invitation",
    "Open sessions",
    "Recent decisions",
    "Audit trail",
    "Reset MFA",
    "Block sign-in",
    "Remove guest",
    "Last sign-in",
    "Invited by",
    "Link expires",
    "Send again",
    "Withdraw",
    "The last 24 hours",
    "Decisions per hour",
    "hours in UTC",
    "Allowed",
    "Blocked",
    "Top reasons",
    "Find decisions",
    "Newest first",
    "newest first",
    "not signed in",
    "Why:",
    "Blocked by",
    "What if",
    "Lint findings",
    "Rule files",
    "Written in",
    "Export as CSV",
    "Approve",
    "Deny",
    "Answers",
    "Invitation sent.",
    "No authenticator",
];

/// An admin whose browser asks for German gets every console page in
/// German: `<html lang="de">`, German words, none of the English ones;
/// the notice after an action too.
#[tokio::test]
async fn an_admin_with_a_german_browser_gets_the_console_in_german() {
    let env = start().await;
    let (greg, rid) = env.guest_with_a_403("greg").await;
    env.sign_up_request("carla").await;
    let mut b = env.admin().await;
    b.accept_language = Some("de-DE,de;q=0.9,en;q=0.5".into());

    // An invitation sent from the German guests page: its notice is German.
    let page = b.get(&env.url(GUESTS)).await;
    let invited = env
        .post(
            &mut b,
            &page,
            &[
                ("action", "invite"),
                ("email", "ines@contoso.com"),
                ("apps", "wiki"),
                ("days", "5"),
            ],
        )
        .await;
    assert_eq!(invited.status, 302, "{}", invited.body);
    let back = invited.location.expect("back to the guests");
    let after = b.get(back.as_str()).await;
    assert_eq!(
        after.by_id("notice").as_deref(),
        Some("Einladung gesendet."),
        "{}",
        after.body
    );

    let pages: &[(String, &[&str])] = &[
        (
            GUESTS.to_string(),
            &["Gäste", "Gast einladen", "Angemeldet als", "Filtern"],
        ),
        (
            format!("{GUESTS}/{greg}"),
            &[
                "Offene Sitzungen",
                "Letzte Entscheidungen",
                "Kein Authenticator",
                "Anmeldung sperren…",
            ],
        ),
        (
            DECISIONS.to_string(),
            &[
                "Anmeldungen und Entscheidungen",
                "Die letzten 24 Stunden",
                "Blockiert",
                "Entscheidungen finden",
            ],
        ),
        (
            format!("{DECISIONS}/{rid}"),
            &["Warum:", "Blockiert durch", "Richtlinien"],
        ),
        (
            POLICIES.to_string(),
            &[
                "Richtlinien",
                "Was wäre, wenn",
                "Lint-Befunde",
                "Regeldateien",
            ],
        ),
        (
            INVITATIONS.to_string(),
            &[
                "Einladungen",
                "Erneut senden",
                "Zurückziehen…",
                "neueste zuerst",
            ],
        ),
        (
            REQUESTS.to_string(),
            &[
                "Registrierungsanfragen",
                "Genehmigen",
                "Ablehnen…",
                "Antworten",
            ],
        ),
        (
            AUDIT.to_string(),
            &["Audit-Protokoll", "Als CSV exportieren", "Akteur"],
        ),
    ];
    for (path, german) in pages {
        let page = b.get(&env.url(path)).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(
            page.body.contains("<html lang=\"de\">"),
            "{path}: {}",
            page.body
        );
        for word in *german {
            assert!(
                page.body.contains(word),
                "{path}: no {word:?} in {}",
                page.body
            );
        }
        // `<pre>`: the CLI's own output (`portcullis explain`) and the
        // rule files, shown as they are.
        let mut shown = page.body.clone();
        while let (Some(a), Some(b)) = (shown.find("<pre>"), shown.find("</pre>")) {
            shown.replace_range(a..b + "</pre>".len(), "");
        }
        for english in CONSOLE_ENGLISH {
            assert!(
                !shown.contains(english),
                "{path}: {english:?} in {}",
                page.body
            );
        }
    }
    // Technical values stay as they are: the refusal's policy and reason.
    let decision = b.get(&env.url(&format!("{DECISIONS}/{rid}"))).await;
    assert_eq!(decision.by_id("decision").as_deref(), Some("block"));
    assert!(
        decision.body.contains("block-admin-for-guests"),
        "{}",
        decision.body
    );

    // The same admin with an English browser reads English.
    b.accept_language = Some("en".into());
    let page = b.get(&env.url(GUESTS)).await;
    assert!(page.body.contains("<html lang=\"en\">"), "{}", page.body);
    assert!(page.body.contains("Invite a guest"), "{}", page.body);
}

/// The decisions list pages by key with its filters kept; the audit log's
/// actor and action filters are the store's query, so an entry older than
/// a page of others is still found.
#[tokio::test]
async fn decisions_page_by_key_and_audit_filters_reach_past_a_page() {
    let env = start().await;
    let gw = &env.gw;
    let (greg, cookie) = gw.guest("wiki.test", "greg").await;
    gw.assign(
        &greg,
        "wiki",
        Some(OffsetDateTime::now_utc() + time::Duration::days(5)),
    )
    .await;
    for i in 0..56 {
        let r = gw
            .get("wiki.test", &format!("/admin/{i}"))
            .header("cookie", &cookie)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    // And one allow, which the block filter leaves out.
    assert_eq!(wiki(gw, &cookie, "/").await.0, 200);
    let store = &gw.store;
    poll(WAIT, || async {
        let q = portcullis::store::decisions::DecisionQuery {
            limit: 100,
            ..Default::default()
        };
        (store.list_decisions(&q).await.unwrap().len() >= 57).then_some(())
    })
    .await
    .expect("every decision recorded");
    let mut b = env.admin().await;
    let first = b
        .get(&env.url(&format!("{DECISIONS}?decision=block&app=wiki")))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let rows = |p: &Page| p.body.matches("<td><span class=\"badge").count();
    assert_eq!(rows(&first), 50);
    let older = first
        .links()
        .into_iter()
        .find(|l| l.query_pairs().any(|(k, _)| k == "before"))
        .expect("a link to older decisions");
    let kept: Vec<(String, String)> = older
        .query_pairs()
        .filter(|(k, _)| k != "before")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(
        kept,
        [
            ("app".to_string(), "wiki".to_string()),
            ("decision".to_string(), "block".to_string())
        ]
    );
    let second = b.open(older.as_str()).await;
    assert_eq!(rows(&second), 6, "{}", second.body);
    assert!(!second.body.contains("badge allow"), "{}", second.body);
    assert!(second.body.contains("id=\"newest\""));
    assert!(!second.body.contains("id=\"older\""));

    // Audit: Ada's entry, then a page and more of other entries.
    let page = b.get(&env.url(&format!("{GUESTS}/{greg}"))).await;
    let r = env
        .post(&mut b, &page, &[("action", "reset_mfa"), ("user", &greg)])
        .await;
    assert_eq!(r.status, 302);
    for i in 0..120 {
        store
            .append_audit(&portcullis::store::NewAuditEntry {
                at: OffsetDateTime::now_utc(),
                actor: "system".into(),
                action: "reminder_sent".into(),
                subject: Some(greg.clone()),
                app: Some("wiki".into()),
                detail: serde_json::json!({ "n": i }),
            })
            .await
            .unwrap();
    }
    for query in ["actor=ADA%40tailwind", "action=mfa_reset"] {
        let audit = b.get(&env.url(&format!("{AUDIT}?{query}"))).await;
        assert_eq!(audit.status, 200);
        assert!(audit.body.contains("mfa_reset"), "{query}: {}", audit.body);
        assert!(
            !audit.body.contains("reminder_sent"),
            "{query}: {}",
            audit.body
        );
    }
    // `%` and `_` are matched as themselves.
    let none = b.get(&env.url(&format!("{AUDIT}?actor=%25"))).await;
    assert!(none.body.contains("id=\"no-entries\""), "{}", none.body);
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
/// ends another guest's access (after the confirmation), blocks that
/// guest's sign-in, withdraws the invitation, approves a sign-up request
/// and asks what-if on the policies page; the help desk types a 403's
/// request id into the search box, reads the trace, and sees the
/// invitations, requests and policies without the admins' buttons.
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
    // An open session to sign out, and sign-up requests to decide.
    env.session_of("wiki.test", &greg, "greg@contoso.com").await;
    let (_rita_req, rita) = env.sign_up_request("rita").await;
    env.sign_up_request("ron").await;
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
        "requester": "rita@contoso.com",
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
                "10-guest-sessions",
                "11-confirm-block",
                "12-blocked",
                "13-invitations",
                "14-confirm-withdraw",
                "15-requests",
                "16-approved",
                "17-policies",
                "18-whatif",
            ][..],
        ),
        (
            &helpdesk_shots,
            &[
                "01-overview",
                "02-trace",
                "03-guest",
                "04-invitations",
                "05-requests",
                "06-policies",
            ][..],
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
    let greg_trail = env.audit_of(&greg).await;
    for action in ["assignment_revoked", "guest_blocked"] {
        assert!(
            greg_trail.contains(&(ADA.to_string(), action.to_string())),
            "{action}: {greg_trail:?}"
        );
    }
    let gina = gw
        .store
        .get_user_by_email("gina@contoso.com")
        .await
        .unwrap()
        .unwrap();
    assert!(
        env.audit_of(&gina.id)
            .await
            .contains(&(ADA.to_string(), "invitation_revoked".to_string()))
    );
    assert!(
        env.audit_of(&rita)
            .await
            .contains(&(ADA.to_string(), "access_approved".to_string()))
    );
}
