//! Partners' own identity, for real (issue 15): the real `portcullis serve`
//! against OpenID Providers shaped as Microsoft's and Google's documentation
//! give their ID tokens (oidc-provider on loopback, `tests/idp/op.mjs`), and
//! the trust boundary per IdP: a partner IdP's claims count only as far as
//! the config trusts it.
//!
//! Shapes (claims as documented, issuers as the real services name them,
//! discovery read from loopback through `discovery_url`):
//! - Entra ID multi-tenant (`common`): the discovery document names the
//!   `{tenantid}` template, each token its tenant's issuer; no
//!   `email_verified`; `xms_edov` / `verified_primary_email` optional; `tid`
//!   and `oid`; no RFC 9207 `iss` in the authorization response; groups
//!   overage as `_claim_names`; personal accounts in the consumers tenant.
//! - Microsoft personal accounts (`consumers`): the fixed consumers issuer.
//! - Google: `https://accounts.google.com`, `email_verified`, `hd` only for
//!   Workspace accounts.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use portcullis::session::UserType;
use std::process::Command;
use support::browser::{Browser, Page, idp_login};
use support::gateway::{Gateway, app, free_port};
use support::op::{CLIENT_ID, CLIENT_SECRET, Op};
use support::upstream::Upstream;
use time::OffsetDateTime;

const AUTH: &str = "auth.test";
const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const FABRIKAM: &str = "3c4d5e6f-0000-4a1b-8c2d-0123456789ab";
const EVIL: &str = "deadbeef-0000-4000-8000-000000000666";
const CONSUMERS: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The quickstart's guest policy: MFA for guests, except the directory's
/// `break-glass` group.
const RULES: &str = "\
policies:
  - name: guests-need-mfa
    users: { include: [guests], exclude: [\"group:break-glass\"] }
    apps: { include: [all] }
    grant: { require: [mfa] }
";

/// Only the personal-account rules: nothing asks for MFA.
const OPEN_RULES: &str = "policies: []\n";

struct Env {
    gw: Gateway,
    up: Upstream,
    ops: Vec<Op>,
}

impl Env {
    fn browser(&self) -> Browser {
        Browser::new(self.gw.http, &[AUTH, "wiki.test", "docs.test"])
    }

    fn callback(&self) -> String {
        format!("http://{AUTH}:{}/.portcullis/callback", self.gw.http.port())
    }

    /// An OP on `port` named `issuer`, in its own folder.
    fn op(&mut self, name: &str, port: u16, issuer: &str, accounts: &str, extra: &[&str]) {
        let dir = self.gw.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let cb = self.callback();
        self.ops.push(Op::start_shaped(
            &dir, port, issuer, accounts, "pwd,mfa", &cb, extra,
        ));
    }

    async fn invite(&self, email: &str, app: &str) -> String {
        let id = self.gw.add_user(email, UserType::Guest).await;
        let until = OffsetDateTime::now_utc() + time::Duration::days(7);
        self.gw.assign(&id, app, Some(until)).await;
        id
    }

    /// From `app_host` through the sign-in form to the IdP's login as
    /// `login`, then the callback: the page it ends on (redirects
    /// followed), before consent.
    async fn sign_in(&self, b: &mut Browser, app_host: &str, email: &str, login: &str) -> Page {
        let form = b.open(&self.gw.url(app_host, "/")).await;
        assert_eq!(form.url.host_str(), Some(AUTH), "{form:?}");
        let action = form.url.join("/.portcullis/sign-in").unwrap();
        let csrf = form.field("csrf").unwrap();
        let rd = form.field("rd").unwrap();
        let at_idp = b
            .post(&action, &[("csrf", &csrf), ("rd", &rd), ("email", email)])
            .await;
        let cb = idp_login(b, at_idp, login, "pw").await;
        b.open(cb.as_str()).await
    }

    /// A first sign-in that ends on the app after consent.
    async fn sign_in_to_app(&self, b: &mut Browser, app_host: &str, email: &str) -> Page {
        let consent = self.sign_in(b, app_host, email, email).await;
        assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
        b.submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
            .await
    }

    async fn linked_subject(&self, user: &str) -> Option<(String, String)> {
        let u = self.gw.store.get_user(user).await.unwrap().unwrap();
        u.identity.map(|i| (i.idp, i.subject))
    }
}

/// The gateway with apps wiki and docs (owned by `group:docs-owners`),
/// these idps (besides the support's `partner-api`), `files` written
/// beside the config first, and more `sign_in` fields (`top`).
async fn start(rules: &str, idps: &str, top: &str, files: &[(&str, &str)]) -> Env {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("op.secret"), format!("{CLIENT_SECRET}\n")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let ups = vec![up.address()];
    let apps = [
        app("wiki", &ups, "title: wiki app"),
        app(
            "docs",
            &ups,
            "title: docs app, owners: [\"group:docs-owners\"]",
        ),
    ];
    let top = format!("sign_in: {{ host: {AUTH}{top} }}\n");
    let gw = Gateway::start_configured(dir, &apps, rules, &[], idps, &top).await;
    Env {
        gw,
        up,
        ops: Vec::new(),
    }
}

fn discovery(port: u16) -> String {
    format!("http://127.0.0.1:{port}/.well-known/openid-configuration")
}

fn groups_header(env: &Env) -> String {
    env.up
        .last()
        .header("x-portcullis-groups")
        .unwrap_or_default()
        .to_string()
}

/// Entra ID work and school accounts of several tenants and a personal
/// Microsoft account, through one `common` authority: each signs in by its
/// own tenant's issuer; an address counts as verified only as Microsoft
/// documents it (`xms_edov`, `verified_primary_email`, the consumers
/// tenant), never from `preferred_username`; users are keyed by tenant and
/// object id; a groups overage signs in without groups; a tenant not on
/// `tenants`, an `iss`/`tid` mismatch and a token for another client are
/// refused.
#[tokio::test]
async fn entra_work_and_personal_accounts_sign_in_by_their_tenant() {
    let port = free_port();
    let idps = format!(
        "  - {{ name: entra, type: oidc, preset: microsoft, issuer: \"https://login.microsoftonline.com/common/v2.0\", \
         discovery_url: \"{}\", client_id: {CLIENT_ID}, client_secret_file: op.secret, \
         domains: [contoso.example, fabrikam.example, outlook.example, evil.example], \
         tenants: [{CONTOSO}, {FABRIKAM}, {CONSUMERS}] }}\n",
        discovery(port)
    );
    let mut env = start(OPEN_RULES, &idps, "", &[]).await;
    let work = |tid: &str, oid: &str, extra: &str| {
        format!(
            "\"password\": \"pw\", \"email_verified\": null, \"claims\": {{ \"tid\": \"{tid}\", \"oid\": \"{oid}\", \"ver\": \"2.0\"{extra} }}"
        )
    };
    let accounts = format!(
        "{{\n\
         \"ann@contoso.example\": {{ {}, \"name\": \"Ann\", \"groups\": [\"Engineers\"] }},\n\
         \"ben@contoso.example\": {{ {} }},\n\
         \"cat@fabrikam.example\": {{ {} }},\n\
         \"mia@outlook.example\": {{ {} }},\n\
         \"dan@contoso.example\": {{ {}, \"groups\": null }},\n\
         \"eve@evil.example\": {{ {} }},\n\
         \"pat@contoso.example\": {{ {}, \"email\": null }},\n\
         \"mal@contoso.example\": {{ {}, \"iss_tenant\": \"{FABRIKAM}\" }},\n\
         \"oscar@contoso.example\": {{ {}, \"aud\": \"another-app\" }}\n\
         }}",
        work(
            CONTOSO,
            "0000aaaa-0000-0000-0000-00000000000a",
            ", \"xms_edov\": true, \"preferred_username\": \"ann@contoso.example\""
        ),
        // No `xms_edov`: the tenant's admin could have typed any `mail`.
        work(CONTOSO, "0000aaaa-0000-0000-0000-00000000000b", ""),
        work(
            FABRIKAM,
            "0000aaaa-0000-0000-0000-00000000000c",
            ", \"verified_primary_email\": [\"cat@fabrikam.example\"]"
        ),
        work(CONSUMERS, "0000aaaa-0000-0000-0000-00000000000d", ""),
        work(
            CONTOSO,
            "0000aaaa-0000-0000-0000-00000000000e",
            ", \"xms_edov\": \"1\", \"_claim_names\": { \"groups\": \"src1\" }, \"_claim_sources\": { \"src1\": { \"endpoint\": \"https://graph.microsoft.com/v1.0/users/x/getMemberObjects\" } }"
        ),
        work(
            EVIL,
            "0000aaaa-0000-0000-0000-00000000000f",
            ", \"xms_edov\": true"
        ),
        work(
            CONTOSO,
            "0000aaaa-0000-0000-0000-000000000010",
            ", \"preferred_username\": \"pat@contoso.example\", \"upn\": \"pat@contoso.example\""
        ),
        work(
            CONTOSO,
            "0000aaaa-0000-0000-0000-000000000011",
            ", \"xms_edov\": true"
        ),
        work(
            CONTOSO,
            "0000aaaa-0000-0000-0000-000000000012",
            ", \"xms_edov\": true"
        ),
    );
    env.op(
        "entra",
        port,
        "https://login.microsoftonline.com/{tenantid}/v2.0",
        &accounts,
        &[
            "--conform-id-token-claims",
            "false",
            "--iss-response",
            "false",
        ],
    );

    // A work account with `xms_edov`: linked by tenant + object id; its
    // groups arrive qualified by the IdP.
    let ann = env.invite("ann@contoso.example", "wiki").await;
    let mut b = env.browser();
    let wiki = env
        .sign_in_to_app(&mut b, "wiki.test", "ann@contoso.example")
        .await;
    assert_eq!(
        (wiki.status, wiki.url.host_str()),
        (200, Some("wiki.test")),
        "{wiki:?}"
    );
    assert_eq!(groups_header(&env), "entra:engineers");
    assert_eq!(
        env.linked_subject(&ann).await,
        Some((
            "entra".into(),
            format!("{CONTOSO}|0000aaaa-0000-0000-0000-00000000000a")
        ))
    );

    // The same address without `xms_edov`: not confirmed, never linked.
    let ben = env.invite("ben@contoso.example", "wiki").await;
    let mut b = env.browser();
    let refused = env
        .sign_in(
            &mut b,
            "wiki.test",
            "ben@contoso.example",
            "ben@contoso.example",
        )
        .await;
    assert_eq!(
        (refused.status, refused.heading().as_str()),
        (403, "E-mail not confirmed")
    );
    assert!(refused.body.contains("organisation"), "{}", refused.body);
    assert_eq!(env.linked_subject(&ben).await, None);

    // `verified_primary_email` lists the address: verified.
    env.invite("cat@fabrikam.example", "wiki").await;
    let mut b = env.browser();
    let wiki = env
        .sign_in_to_app(&mut b, "wiki.test", "cat@fabrikam.example")
        .await;
    assert_eq!(wiki.status, 200, "{wiki:?}");

    // A personal Microsoft account (consumers tenant) through `common`.
    let mia = env.invite("mia@outlook.example", "wiki").await;
    let mut b = env.browser();
    let wiki = env
        .sign_in_to_app(&mut b, "wiki.test", "mia@outlook.example")
        .await;
    assert_eq!(wiki.status, 200, "{wiki:?}");
    assert_eq!(
        env.linked_subject(&mia).await.map(|(_, s)| s),
        Some(format!("{CONSUMERS}|0000aaaa-0000-0000-0000-00000000000d"))
    );

    // Groups overage: signed in, with no groups at all (not a partial list).
    env.invite("dan@contoso.example", "wiki").await;
    let mut b = env.browser();
    let wiki = env
        .sign_in_to_app(&mut b, "wiki.test", "dan@contoso.example")
        .await;
    assert_eq!(wiki.status, 200, "{wiki:?}");
    assert_eq!(groups_header(&env), "");

    // A tenant not on `tenants`: its own page.
    env.invite("eve@evil.example", "wiki").await;
    let mut b = env.browser();
    let refused = env
        .sign_in(&mut b, "wiki.test", "eve@evil.example", "eve@evil.example")
        .await;
    assert_eq!(
        (refused.status, refused.heading().as_str()),
        (403, "Your organisation cannot sign in here"),
        "{}",
        refused.body
    );

    // No `email`, only `preferred_username`/`upn` equal to an invitation's:
    // never matched.
    let pat = env.invite("pat@contoso.example", "wiki").await;
    let mut b = env.browser();
    let refused = env
        .sign_in(
            &mut b,
            "wiki.test",
            "pat@contoso.example",
            "pat@contoso.example",
        )
        .await;
    assert!(refused.status >= 400, "{refused:?}");
    assert_eq!(env.linked_subject(&pat).await, None);

    // Attacks: `iss` of one tenant with `tid` of another; an ID token for
    // another client id.
    let mal = env.invite("mal@contoso.example", "wiki").await;
    let mut b = env.browser();
    let refused = env
        .sign_in(
            &mut b,
            "wiki.test",
            "mal@contoso.example",
            "mal@contoso.example",
        )
        .await;
    assert_eq!(
        (refused.status, refused.heading().as_str()),
        (400, "Sign-in failed")
    );
    assert_eq!(env.linked_subject(&mal).await, None);
    let oscar = env.invite("oscar@contoso.example", "wiki").await;
    let mut b = env.browser();
    let refused = env
        .sign_in(
            &mut b,
            "wiki.test",
            "oscar@contoso.example",
            "oscar@contoso.example",
        )
        .await;
    assert_eq!(
        (refused.status, refused.heading().as_str()),
        (400, "Sign-in failed")
    );
    assert_eq!(env.linked_subject(&oscar).await, None);

    let metrics = env.gw.metrics().await;
    for (result, n) in [
        ("ok", 4),
        ("email_unverified", 1),
        ("tenant_not_allowed", 1),
        ("issuer_mismatch", 1),
        ("audience_mismatch", 1),
    ] {
        let line = format!("portcullis_sign_ins_total{{idp=\"entra\",result=\"{result}\"}} {n}");
        assert!(metrics.contains(&line), "{line}\n{metrics}");
    }
}

/// Google consumer accounts (no `hd`) sign in through one Google IdP; a
/// second, with `hosted_domains`, admits only Workspace accounts of those
/// domains (a consumer Google account using a Workspace domain's address is
/// refused there). A personal Microsoft account signs in through the
/// `consumers` authority, whose discovery names the fixed consumers issuer.
#[tokio::test]
async fn google_consumer_and_workspace_accounts_and_the_consumers_authority() {
    let google = free_port();
    let msa = free_port();
    let idps = format!(
        "  - {{ name: google, type: oidc, preset: google, discovery_url: \"{g}\", client_id: {CLIENT_ID}, client_secret_file: op.secret, domains: [gmail.com] }}\n  \
         - {{ name: google-fabrikam, type: oidc, preset: google, discovery_url: \"{g}\", client_id: {CLIENT_ID}, client_secret_file: op.secret, domains: [fabrikam.example], hosted_domains: [fabrikam.example] }}\n  \
         - {{ name: msa, type: oidc, preset: microsoft, issuer: \"https://login.microsoftonline.com/consumers/v2.0\", discovery_url: \"{m}\", client_id: {CLIENT_ID}, client_secret_file: op.secret, domains: [hotmail.example] }}\n",
        g = discovery(google),
        m = discovery(msa),
    );
    let mut env = start(OPEN_RULES, &idps, "", &[]).await;
    env.op(
        "google",
        google,
        "https://accounts.google.com",
        r#"{
  "gus@gmail.com": { "password": "pw", "name": "Gus" },
  "wendy@fabrikam.example": { "password": "pw", "claims": { "hd": "fabrikam.example" } },
  "zed@fabrikam.example": { "password": "pw" },
  "una@gmail.com": { "password": "pw", "email_verified": false }
}"#,
        &["--conform-id-token-claims", "false"],
    );
    env.op(
        "msa",
        msa,
        &format!("https://login.microsoftonline.com/{CONSUMERS}/v2.0"),
        &format!(
            r#"{{ "mo@hotmail.example": {{ "password": "pw", "email_verified": null, "claims": {{ "tid": "{CONSUMERS}", "oid": "00000000-0000-0000-0000-0000000000f1" }} }} }}"#
        ),
        &["--conform-id-token-claims", "false", "--iss-response", "false"],
    );

    let gus = env.invite("gus@gmail.com", "wiki").await;
    let mut b = env.browser();
    let wiki = env
        .sign_in_to_app(&mut b, "wiki.test", "gus@gmail.com")
        .await;
    assert_eq!(wiki.status, 200, "{wiki:?}");
    assert_eq!(env.linked_subject(&gus).await.unwrap().0, "google");

    let wendy = env.invite("wendy@fabrikam.example", "wiki").await;
    let mut b = env.browser();
    let wiki = env
        .sign_in_to_app(&mut b, "wiki.test", "wendy@fabrikam.example")
        .await;
    assert_eq!(wiki.status, 200, "{wiki:?}");
    assert_eq!(
        env.linked_subject(&wendy).await.unwrap().0,
        "google-fabrikam"
    );

    // No `hd`: a consumer account, not fabrikam's Workspace.
    let zed = env.invite("zed@fabrikam.example", "wiki").await;
    let mut b = env.browser();
    let refused = env
        .sign_in(
            &mut b,
            "wiki.test",
            "zed@fabrikam.example",
            "zed@fabrikam.example",
        )
        .await;
    assert_eq!(
        (refused.status, refused.heading().as_str()),
        (400, "Sign-in failed")
    );
    assert_eq!(env.linked_subject(&zed).await, None);

    // `email_verified: false` equal to an invitation's address: not linked.
    let una = env.invite("una@gmail.com", "wiki").await;
    let mut b = env.browser();
    let refused = env
        .sign_in(&mut b, "wiki.test", "una@gmail.com", "una@gmail.com")
        .await;
    assert_eq!(
        (refused.status, refused.heading().as_str()),
        (403, "E-mail not confirmed")
    );
    assert_eq!(env.linked_subject(&una).await, None);

    let mo = env.invite("mo@hotmail.example", "wiki").await;
    let mut b = env.browser();
    let wiki = env
        .sign_in_to_app(&mut b, "wiki.test", "mo@hotmail.example")
        .await;
    assert_eq!(wiki.status, 200, "{wiki:?}");
    assert_eq!(
        env.linked_subject(&mo).await,
        Some((
            "msa".into(),
            format!("{CONSUMERS}|00000000-0000-0000-0000-0000000000f1")
        ))
    );
}

/// The trust boundary's attack cases. A partner IdP asserting `break-glass`
/// still needs MFA on the quickstart's policy (a directory `break-glass`
/// guest does not); its owners' group gives no owner rights; a member-domain
/// e-mail from a partner IdP that does not serve that domain creates no
/// member and links no member. The organisation's own IdP with
/// `trust_groups: true` is the control: its groups count bare.
#[tokio::test]
async fn a_partner_idp_cannot_grant_itself_rights() {
    let partner = free_port();
    let corp = free_port();
    let hash = portcullis::local_idp::hash_password("lou-password-1").unwrap();
    let idps = format!(
        "  - {{ name: local, type: local, users_file: users.yaml }}\n  \
         - {{ name: partner, type: oidc, issuer: \"http://127.0.0.1:{partner}\", client_id: {CLIENT_ID}, client_secret_file: op.secret, domains: [partner.example] }}\n  \
         - {{ name: partner-open, type: oidc, issuer: \"http://127.0.0.1:{partner}\", client_id: {CLIENT_ID}, client_secret_file: op.secret }}\n  \
         - {{ name: corp, type: oidc, issuer: \"http://127.0.0.1:{corp}\", client_id: {CLIENT_ID}, client_secret_file: op.secret, domains: [tailwindtraders.com], trust_groups: true }}\n"
    );
    let dir_users = format!(
        "users:\n  - {{ email: lou@guest.example, name: Lou, password_hash: \"{hash}\", groups: [break-glass], apps: [wiki] }}\n"
    );
    let mut env = start(
        RULES,
        &idps,
        ", idp_order: [partner-open]",
        &[("users.yaml", &dir_users)],
    )
    .await;
    env.op(
        "partner",
        partner,
        &format!("http://127.0.0.1:{partner}"),
        r#"{
  "pia@partner.example": { "password": "pw", "groups": ["break-glass", "docs-owners"] },
  "mal-fred": { "password": "pw", "email": "fred@tailwindtraders.com" },
  "mal-nina": { "password": "pw", "email": "nina@tailwindtraders.com" }
}"#,
        &[],
    );
    env.op(
        "corp",
        corp,
        &format!("http://127.0.0.1:{corp}"),
        r#"{ "erin@tailwindtraders.com": { "password": "pw", "groups": ["Docs-Owners"] } }"#,
        &[],
    );

    // `break-glass` from a partner: still asked for MFA (untrusted amr too).
    env.invite("pia@partner.example", "wiki").await;
    let mut b = env.browser();
    let mfa = env
        .sign_in_to_app(&mut b, "wiki.test", "pia@partner.example")
        .await;
    assert_eq!(
        mfa.heading(),
        "Set up two-step verification",
        "{}",
        mfa.body
    );
    // Its `docs-owners`: not an owner of docs.
    let manage = b
        .open(&env.gw.url(AUTH, "/.portcullis/manage/app?name=docs"))
        .await;
    assert_eq!(
        (manage.status, manage.heading().as_str()),
        (403, "Not your app"),
        "{manage:?}"
    );

    // The control: the directory's own `break-glass` guest skips MFA.
    let mut b = env.browser();
    let form = b.open(&env.gw.url("wiki.test", "/")).await;
    let pw = b
        .submit(
            &form,
            "/.portcullis/sign-in",
            &[("email", "lou@guest.example")],
        )
        .await;
    let consent = b
        .submit(
            &pw,
            "/.portcullis/sign-in/password",
            &[("password", "lou-password-1")],
        )
        .await;
    let wiki = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(
        (wiki.status, wiki.url.host_str()),
        (200, Some("wiki.test")),
        "{wiki:?}"
    );

    // The organisation's own IdP, `trust_groups: true`: a member, whose
    // group counts bare (owner of docs) and qualified.
    let mut b = env.browser();
    let docs = env
        .sign_in(
            &mut b,
            "docs.test",
            "erin@tailwindtraders.com",
            "erin@tailwindtraders.com",
        )
        .await;
    assert_eq!(
        (docs.status, docs.url.host_str()),
        (200, Some("docs.test")),
        "{docs:?}"
    );
    assert_eq!(groups_header(&env), "corp:docs-owners,docs-owners");
    let manage = b
        .open(&env.gw.url(AUTH, "/.portcullis/manage/app?name=docs"))
        .await;
    assert_eq!(manage.status, 200, "{manage:?}");

    // A partner IdP asserting member-domain addresses: an existing member
    // not yet linked, and a new one. Neither is linked nor made.
    let fred = env
        .gw
        .add_user("fred@tailwindtraders.com", UserType::Member)
        .await;
    for (asked, login) in [
        ("mallory@attacker.example", "mal-fred"),
        ("mallory@attacker.example", "mal-nina"),
    ] {
        let mut b = env.browser();
        let refused = env.sign_in(&mut b, "wiki.test", asked, login).await;
        assert_eq!(
            (refused.status, refused.heading().as_str()),
            (403, "Use your organisation's sign-in"),
            "{refused:?}"
        );
    }
    assert_eq!(env.linked_subject(&fred).await, None);
    assert!(
        env.gw
            .store
            .get_user_by_email("nina@tailwindtraders.com")
            .await
            .unwrap()
            .is_none()
    );
    let metrics = env.gw.metrics().await;
    assert!(
        metrics
            .contains("portcullis_sign_ins_total{idp=\"partner-open\",result=\"member_domain\"} 2"),
        "{metrics}"
    );
}

fn portcullis(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .expect("run portcullis")
}

/// `check` refuses `trust_groups` on an IdP that serves a non-member domain
/// (or none), with the position; it warns, with the position and exit 0,
/// about rules and owners naming groups no source can provide.
#[test]
fn check_refuses_trust_groups_on_partners_and_warns_about_unprovided_groups() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("s"), "secret\n").unwrap();
    let write = |idps: &str, rules: &str| {
        std::fs::write(dir.path().join("rules/r.yaml"), rules).unwrap();
        std::fs::write(
            dir.path().join("portcullis.yaml"),
            format!(
                "listen: {{ http: 127.0.0.1:8080 }}\nrules: [\"rules/*.yaml\"]\n\
                 organisation: {{ name: Test, member_domains: [tailwindtraders.com] }}\n\
                 sign_in: {{ host: auth.localhost }}\n\
                 idps:\n{idps}\
                 apps:\n  - {{ name: docs, hosts: [docs.localhost], upstreams: [127.0.0.1:9001], owners: [\"group:nobody\", \"group:partner:leads\"] }}\n"
            ),
        )
        .unwrap();
    };
    let config = dir.path().join("portcullis.yaml");
    let config = config.to_str().unwrap();

    write(
        "  - { name: partner, type: oidc, issuer: \"http://127.0.0.1:9\", client_id: c, client_secret_file: s, domains: [partner.example, tailwindtraders.com],\n      trust_groups: true }\n  \
         - { name: nodomains, type: oidc, issuer: \"http://127.0.0.1:9\", client_id: c, client_secret_file: s, trust_groups: true }\n",
        "policies: []\n",
    );
    let out = portcullis(&["check", "--config", config]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{config}:7:21: `trust_groups` is only for an idp that serves the organisation's own member domains; `partner.example` is not"))
            || err.contains("partner.example` is not in"),
        "{err}"
    );
    assert!(err.contains(":7:"), "the position of `trust_groups`: {err}");
    assert!(err.contains("idp `nodomains` has no `domains`"), "{err}");

    write(
        "  - { name: partner, type: oidc, issuer: \"http://127.0.0.1:9\", client_id: c, client_secret_file: s, domains: [partner.example] }\n  \
         - { name: corp, type: oidc, issuer: \"http://127.0.0.1:9\", client_id: c, client_secret_file: s, domains: [tailwindtraders.com], trust_groups: true }\n",
        "policies:\n  - name: p\n    users: { include: [\"group:partner:engineers\", \"group:nope:x\"] }\n    apps: { include: [all] }\n    grant: block\n",
    );
    let out = portcullis(&["check", "--config", config]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning is not an error: {err}"
    );
    // `corp` trusts groups: any bare name may come from it, `nope:x` too.
    assert!(!err.contains("warning"), "{err}");

    write(
        "  - { name: partner, type: oidc, issuer: \"http://127.0.0.1:9\", client_id: c, client_secret_file: s, domains: [partner.example] }\n",
        "policies:\n  - name: p\n    users: { include: [\"group:partner:engineers\", \"group:engineers\"] }\n    apps: { include: [all] }\n    grant: block\n",
    );
    let out = portcullis(&["check", "--config", config]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let rules = dir.path().join("rules/r.yaml");
    let warning = format!(
        "{}:3:51: warning: `group:engineers` has no members",
        rules.display()
    );
    assert!(err.contains(&warning), "{warning}\n{err}");
    assert!(err.contains("`group:partner:engineers`"), "{err}");
    assert!(!err.contains("`group:partner:engineers` has"), "{err}");
    assert!(
        err.contains(&format!("{config}:8:")) && err.contains("owner `group:nobody`"),
        "{err}"
    );
    assert!(!err.contains("owner `group:partner:leads`"), "{err}");
}

/// Issue 15 item 5: the choice page names each provider as people know it
/// and draws its mark inline (nothing fetched), and passes axe-core.
#[tokio::test]
async fn the_choice_page_names_microsoft_and_google_with_their_marks() {
    let idps = format!(
        "  - {{ name: fabrikam-entra, type: oidc, preset: microsoft, issuer: \"https://login.microsoftonline.com/organizations/v2.0\", discovery_url: \"{m}\", client_id: {CLIENT_ID}, client_secret_file: op.secret }}\n  \
         - {{ name: google, type: oidc, preset: google, discovery_url: \"{g}\", client_id: {CLIENT_ID}, client_secret_file: op.secret }}\n",
        m = discovery(free_port()),
        g = discovery(free_port()),
    );
    let env = start(
        OPEN_RULES,
        &idps,
        ", idp_order: [fabrikam-entra, google]",
        &[],
    )
    .await;
    let mut b = env.browser();
    let form = b.open(&env.gw.url("wiki.test", "/")).await;
    let choose = b
        .submit(
            &form,
            "/.portcullis/sign-in",
            &[("email", "someone@elsewhere.example")],
        )
        .await;
    assert_eq!(choose.heading(), "Choose how to sign in", "{}", choose.body);
    assert!(
        choose.body.contains("Sign in with Microsoft")
            && choose.body.contains("fill=\"#f25022\"")
            && choose.body.contains("Sign in with Google")
            && choose.body.contains("mark letter google"),
        "{}",
        choose.body
    );
    support::chromium::render_pages("identity_choose", &[("choose", choose.body.as_str())]).await;
}
