//! End-to-end sign-in with OAuth 2.0 providers that have no OpenID Connect
//! (`idps: - type: oauth2`): the real `portcullis serve`, a real provider
//! on loopback in GitHub's, Facebook's and a generic shape
//! (`support::oauth2_provider`), a real upstream, and the file outbox for
//! invitations. Each test walks what a partner does: the invitation or the
//! app → the auth host → their provider → consent → the app.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use portcullis::session::UserType;
use support::browser::{Browser, Page};
use support::gateway::{Gateway, app};
use support::oauth2_provider::{CLIENT_ID, CLIENT_SECRET, FB_VERSION, Provider, Shape, User};
use support::upstream::Upstream;

const AUTH: &str = "auth.test";

struct Env {
    gw: Gateway,
    up: Upstream,
    github: Provider,
    facebook: Provider,
    sso: Provider,
}

/// The gateway with three oauth2 idps: `github` (a GitHub Enterprise
/// Server at the loopback provider), `facebook` (Facebook's endpoints at
/// another) and `fabrikam-sso` (the generic form, claiming
/// fabrikam.example). `github` and `facebook` are offered in that order to
/// every other address, then the e-mailed code.
async fn start() -> Env {
    let up = Upstream::start("app").await;
    let github = Provider::start(Shape::GitHub).await;
    let facebook = Provider::start(Shape::Facebook).await;
    let sso = Provider::start(Shape::Generic).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("oauth2.secret"),
        format!("{CLIENT_SECRET}\n"),
    )
    .unwrap();
    let (gh, fb, g) = (github.base(), facebook.base(), sso.base());
    let idps = format!(
        "  - {{ name: github, type: oauth2, preset: github, github_url: \"{gh}\", \
         client_id: {CLIENT_ID}, client_secret_file: oauth2.secret }}\n  \
         - {{ name: facebook, type: oauth2, preset: facebook, \
         authorization_url: \"{fb}/{FB_VERSION}/dialog/oauth\", token_url: \"{fb}/{FB_VERSION}/oauth/access_token\", \
         userinfo_url: \"{fb}/{FB_VERSION}/me\", client_id: {CLIENT_ID}, client_secret_file: oauth2.secret }}\n  \
         - {{ name: fabrikam-sso, type: oauth2, authorization_url: \"{g}/authorize\", token_url: \"{g}/token\", \
         userinfo_url: \"{g}/userinfo\", claims: {{ id: /data/uid, email: /data/mail/address, \
         email_verified: /data/mail/confirmed, name: /data/display }}, client_id: {CLIENT_ID}, \
         client_secret_file: oauth2.secret, domains: [fabrikam.example] }}\n"
    );
    let top = format!(
        "sign_in: {{ host: {AUTH}, idp_order: [github, facebook] }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n"
    );
    let ups = vec![up.address()];
    let apps = vec![
        app("wiki", &ups, "title: wiki app"),
        app("docs", &ups, "title: docs app"),
    ];
    let gw = Gateway::start_configured(dir, &apps, "policies: []\n", &[], &idps, &top).await;
    let callback = format!(
        "http://{AUTH}:{}/.portcullis/oauth2/callback",
        gw.http.port()
    );
    for p in [&github, &facebook, &sso] {
        p.set_redirect_uri(&callback);
    }
    Env {
        gw,
        up,
        github,
        facebook,
        sso,
    }
}

impl Env {
    fn browser(&self) -> Browser {
        Browser::new(self.gw.http, &[AUTH, "wiki.test", "docs.test"])
    }

    fn url(&self, host: &str, path: &str) -> String {
        self.gw.url(host, path)
    }

    /// From the app to the choice of ways in for `email`.
    async fn choose_page(&self, b: &mut Browser, email: &str) -> Page {
        let form = b.open(&self.url("wiki.test", "/")).await;
        assert_eq!(form.heading(), "Sign in", "{}", form.body);
        let choose = b
            .submit(&form, "/.portcullis/sign-in", &[("email", email)])
            .await;
        assert_eq!(choose.heading(), "Choose how to sign in", "{}", choose.body);
        choose
    }

    /// Picks `method` on the choice page; returns the provider's redirect
    /// back to the gateway (not followed).
    async fn to_provider(&self, b: &mut Browser, choose: &Page, method: &str) -> Page {
        let action = choose.url.join("/.portcullis/sign-in/choose").unwrap();
        let fields = [
            ("csrf", choose.field("csrf").unwrap()),
            ("rd", choose.field("rd").unwrap_or_default()),
            ("email", choose.field("email").unwrap()),
            ("method", method.to_string()),
        ];
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let to_idp = b.post(&action, &refs).await;
        assert_eq!(to_idp.status, 302, "{to_idp:?}");
        let at_idp = to_idp.location.clone().expect("to the provider");
        assert_eq!(at_idp.host_str(), Some("127.0.0.1"), "{at_idp}");
        let back = b.get(at_idp.as_str()).await;
        assert_eq!(back.status, 302, "{back:?}");
        back
    }

    /// A whole sign-in from the app with `method`, up to the page the
    /// callback leads to (consent for a first sign-in).
    async fn sign_in(&self, b: &mut Browser, email: &str, method: &str) -> Page {
        let choose = self.choose_page(b, email).await;
        let back = self.to_provider(b, &choose, method).await;
        b.follow(back).await
    }
}

fn mailed_link(env: &Env, to: &str) -> String {
    let mails: Vec<String> = std::fs::read_dir(env.gw.path("outbox"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    let link = support::smtp::texts_to(&mails, to)
        .iter()
        .find_map(|t| {
            t.split_whitespace()
                .find(|w| w.contains("/.portcullis/invite?token="))
                .map(str::to_string)
        })
        .expect("an invitation mail");
    // The mail names the HTTPS listener; this browser speaks HTTP.
    let token = link.split("token=").nth(1).unwrap();
    env.url(AUTH, &format!("/.portcullis/invite?token={token}"))
}

fn in_a_week() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::days(7)
}

fn portcullis(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run portcullis")
}

/// An owner invites a partner who signs in with GitHub (Enterprise
/// Server): the sign-in page shows GitHub and Facebook by name with their
/// icons; the primary, verified e-mail of `GET /user/emails` redeems the
/// invitation; the partner reaches the app through the gateway; the
/// account is keyed by GitHub's numeric id. The gateway asked for
/// `user:email`, used PKCE and state, and sent a `User-Agent`.
#[tokio::test]
async fn github_user_with_a_primary_verified_email_redeems_an_invitation() {
    let env = start().await;
    let config = env.gw.path("portcullis.yaml");
    let out = portcullis(&[
        "invite",
        "--config",
        config.to_str().unwrap(),
        "--email",
        "octo@contoso.example",
        "--app",
        "wiki",
        "--days",
        "10",
        "--inviter",
        "Alice Smith",
    ]);
    assert!(out.status.success(), "{out:?}");
    env.github.add_user(User {
        id: 583231,
        login: "octocat".into(),
        name: "The Octocat".into(),
        emails: vec![
            support::oauth2_provider::Email {
                email: "octo-public@elsewhere.example".into(),
                verified: true,
                primary: false,
            },
            support::oauth2_provider::Email {
                email: "Octo@Contoso.Example".into(),
                verified: true,
                primary: true,
            },
        ],
    });
    env.github.sign_in_as(583231);

    let mut b = env.browser();
    let invite = b.open(&mailed_link(&env, "octo@contoso.example")).await;
    assert_eq!(invite.heading(), "You are invited", "{}", invite.body);
    // Accepting runs home-realm discovery with the invited address: no
    // retyping, straight to the choice of IdPs that may serve it.
    let choose = b.submit(&invite, "/.portcullis/invite", &[]).await;
    assert_eq!(choose.heading(), "Choose how to sign in", "{}", choose.body);
    assert!(
        choose
            .body
            .contains("Sign in with GitHub Enterprise (127.0.0.1)")
            && choose.body.contains("Sign in with Facebook")
            && choose.body.contains("<svg class=\"mark\"")
            && choose.body.contains("mark letter facebook"),
        "{}",
        choose.body
    );
    // As a person sees it: laptop and phone screenshots, and axe-core.
    support::chromium::render_pages("oauth2_choose", &[("choose", choose.body.as_str())]).await;
    let back = env.to_provider(&mut b, &choose, "github").await;
    let consent = b.follow(back).await;
    assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
    let landed = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    // The invitation's app, as after any other sign-in from an invitation.
    assert_eq!(
        (landed.status, landed.url.host_str(), landed.body.as_str()),
        (200, Some("wiki.test"), "upstream app ok"),
        "{landed:?}"
    );
    let wiki = b.open(&env.url("wiki.test", "/")).await;
    assert_eq!(
        (wiki.status, wiki.url.host_str()),
        (200, Some("wiki.test")),
        "{wiki:?}"
    );
    let seen = env.up.last();
    assert_eq!(
        seen.header("x-portcullis-email"),
        Some("octo@contoso.example")
    );
    assert_eq!(seen.header("x-portcullis-user-type"), Some("guest"));
    assert!(
        seen.header("x-portcullis-groups").is_none_or(str::is_empty),
        "no groups: {seen:?}"
    );

    let user = env
        .gw
        .store
        .get_user_by_email("octo@contoso.example")
        .await
        .unwrap()
        .unwrap();
    let identity = user.identity.expect("linked on first sign-in");
    assert_eq!(
        (identity.idp.as_str(), identity.subject.as_str()),
        ("github", "583231")
    );

    // What the provider saw.
    let seen = env.github.seen();
    let authorize = seen
        .iter()
        .find(|r| r.path == "/login/oauth/authorize")
        .unwrap();
    assert_eq!(authorize.query["scope"], "user:email");
    assert_eq!(authorize.query["code_challenge_method"], "S256");
    assert!(authorize.query["state"].len() >= 16);
    let token = seen
        .iter()
        .find(|r| r.path == "/login/oauth/access_token")
        .unwrap();
    assert_eq!(token.method, "POST");
    assert!(token.form.contains_key("code_verifier"));
    for api in ["/api/v3/user", "/api/v3/user/emails"] {
        let r = seen.iter().find(|r| r.path == api).unwrap();
        assert!(
            r.headers
                .get("user-agent")
                .is_some_and(|ua| ua.starts_with("Portcullis/")),
            "{r:?}"
        );
    }
    let metrics = env.gw.metrics().await;
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"github\",result=\"ok\"} 1"),
        "{metrics}"
    );
}

/// A GitHub user whose primary address is not verified (though a
/// secondary one is, and the primary equals an invitation's) is refused
/// with a page that says why; the invitation stays unlinked. A Facebook
/// user with no confirmed address (Graph returns no `email`) likewise.
#[tokio::test]
async fn unverified_email_is_refused_with_a_clear_page() {
    let env = start().await;
    let carol = env
        .gw
        .add_user("carol@contoso.example", UserType::Guest)
        .await;
    env.gw.assign(&carol, "wiki", Some(in_a_week())).await;
    env.github.add_user(User {
        id: 1001,
        login: "carol".into(),
        name: "Carol".into(),
        emails: vec![
            support::oauth2_provider::Email {
                email: "carol@contoso.example".into(),
                verified: false,
                primary: true,
            },
            support::oauth2_provider::Email {
                email: "carol@elsewhere.example".into(),
                verified: true,
                primary: false,
            },
        ],
    });
    env.github.sign_in_as(1001);
    let mut b = env.browser();
    let refused = env.sign_in(&mut b, "carol@contoso.example", "github").await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.heading(), "E-mail not confirmed");
    assert!(
        refused
            .body
            .contains("Confirm your primary e-mail address at GitHub"),
        "{}",
        refused.body
    );
    support::chromium::render_pages(
        "oauth2_email_not_confirmed",
        &[("email-not-confirmed", refused.body.as_str())],
    )
    .await;
    let user = env.gw.store.get_user(&carol).await.unwrap().unwrap();
    assert!(
        user.identity.is_none(),
        "not linked by an unverified e-mail"
    );

    env.facebook.add_user(User::new(
        10158000000000042,
        "fay",
        "Fay",
        "carol@contoso.example",
        false,
    ));
    env.facebook.sign_in_as(10158000000000042);
    let mut f = env.browser();
    let refused = env
        .sign_in(&mut f, "carol@contoso.example", "facebook")
        .await;
    assert_eq!(
        (refused.status, refused.heading().as_str()),
        (403, "E-mail not confirmed"),
        "{refused:?}"
    );
    assert!(
        refused.body.contains("Facebook did not confirm"),
        "{}",
        refused.body
    );
    let metrics = env.gw.metrics().await;
    assert!(
        metrics
            .contains("portcullis_sign_ins_total{idp=\"facebook\",result=\"email_unverified\"} 1"),
        "{metrics}"
    );
}

/// The subject is GitHub's numeric id, never the login: a user who renames
/// their login keeps their account, and whoever registers the old login
/// afterwards (with the same address, verified there) gets nothing of it.
#[tokio::test]
async fn renamed_github_login_keeps_the_same_account() {
    let env = start().await;
    let dana = env
        .gw
        .add_user("dana@contoso.example", UserType::Guest)
        .await;
    env.gw.assign(&dana, "wiki", Some(in_a_week())).await;
    env.github.add_user(User::new(
        4242,
        "dana-old",
        "Dana",
        "dana@contoso.example",
        true,
    ));
    env.github.sign_in_as(4242);
    let mut b = env.browser();
    let consent = env.sign_in(&mut b, "dana@contoso.example", "github").await;
    let wiki = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!((wiki.status, wiki.url.host_str()), (200, Some("wiki.test")));
    let first = env
        .up
        .last()
        .header("x-portcullis-user")
        .unwrap()
        .to_string();
    assert_eq!(first, dana);

    env.github.rename(4242, "dana-new");
    let mut again = env.browser();
    let wiki = env
        .sign_in(&mut again, "dana@contoso.example", "github")
        .await;
    assert_eq!(
        (wiki.status, wiki.url.host_str()),
        (200, Some("wiki.test")),
        "{wiki:?}"
    );
    assert_eq!(
        env.up.last().header("x-portcullis-user"),
        Some(dana.as_str())
    );

    // Someone else takes the old login.
    env.github.add_user(User::new(
        9999,
        "dana-old",
        "Not Dana",
        "dana@contoso.example",
        true,
    ));
    env.github.sign_in_as(9999);
    let mut other = env.browser();
    let refused = env
        .sign_in(&mut other, "dana@contoso.example", "github")
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(
        refused.heading(),
        "Use the account you first signed in with"
    );
    let user = env.gw.store.get_user(&dana).await.unwrap().unwrap();
    assert_eq!(user.identity.unwrap().subject, "4242");
}

/// A callback whose `state` is not the one this browser's sign-in sent is
/// refused and signs nobody in; the pending sign-in it did not name is
/// untouched, and one finished in another browser is refused.
#[tokio::test]
async fn wrong_state_is_refused() {
    let env = start().await;
    let erin = env
        .gw
        .add_user("erin@contoso.example", UserType::Guest)
        .await;
    env.gw.assign(&erin, "wiki", Some(in_a_week())).await;
    env.github
        .add_user(User::new(77, "erin", "Erin", "erin@contoso.example", true));
    env.github.sign_in_as(77);
    let mut b = env.browser();
    let choose = env.choose_page(&mut b, "erin@contoso.example").await;
    let back = env.to_provider(&mut b, &choose, "github").await;
    let callback = back.location.clone().unwrap();
    assert_eq!(callback.path(), "/.portcullis/oauth2/callback");
    let mut forged = callback.clone();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    forged
        .query_pairs_mut()
        .clear()
        .append_pair("code", &code)
        .append_pair("state", "forged-state-0123456789abcdef");
    let refused = b.get(forged.as_str()).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(
        b.cookies
            .get(AUTH)
            .is_none_or(|c| !c.keys().any(|k| k.contains("session")))
    );
    let still_out = b.open(&env.url("wiki.test", "/")).await;
    assert_eq!(still_out.heading(), "Sign in");

    // The same callback in another browser: refused, and it used the
    // pending sign-in up.
    let mut other = env.browser();
    let stolen = other.get(callback.as_str()).await;
    assert_eq!(stolen.status, 400, "{stolen:?}");
    let late = b.get(callback.as_str()).await;
    assert_eq!(
        (late.status, late.heading().as_str()),
        (400, "Sign-in expired")
    );
    assert_eq!(env.up.count(), 0, "nothing reached the app");
    let metrics = env.gw.metrics().await;
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"github\",result=\"other_browser\"} 1"),
        "{metrics}"
    );
}

/// The generic form: the provider that claims fabrikam.example is chosen
/// by home-realm discovery; the id, e-mail, its verification and the name
/// are read through the configured JSON pointers; the client authenticates
/// with HTTP Basic. A member domain it does not serve makes no member, and
/// a `confirmed: false` address is refused.
#[tokio::test]
async fn generic_oauth2_provider_reads_claims_through_json_pointers() {
    let env = start().await;
    let gus = env
        .gw
        .add_user("gus@fabrikam.example", UserType::Guest)
        .await;
    env.gw.assign(&gus, "docs", Some(in_a_week())).await;
    env.sso.add_user(User::new(
        31337,
        "gus",
        "Gus Fring",
        "gus@fabrikam.example",
        true,
    ));
    env.sso.sign_in_as(31337);
    let mut b = env.browser();
    let form = b.open(&env.url("docs.test", "/")).await;
    let to_idp = b
        .submit(
            &form,
            "/.portcullis/sign-in",
            &[("email", "gus@fabrikam.example")],
        )
        .await;
    // Discovery went straight to the provider, which came straight back.
    assert_eq!(to_idp.heading(), "Review permissions", "{}", to_idp.body);
    let docs = b
        .submit(&to_idp, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(
        (docs.status, docs.url.host_str()),
        (200, Some("docs.test")),
        "{docs:?}"
    );
    assert_eq!(
        env.up.last().header("x-portcullis-email"),
        Some("gus@fabrikam.example")
    );
    let user = env.gw.store.get_user(&gus).await.unwrap().unwrap();
    assert_eq!(user.identity.unwrap().subject, "31337");
    assert_eq!(user.display_name.as_deref(), Some("Gus Fring"));
    let token = env
        .sso
        .seen()
        .into_iter()
        .find(|r| r.path == "/token")
        .unwrap();
    assert!(token.headers["authorization"].starts_with("Basic "));
    assert!(!token.form.contains_key("client_secret"));

    env.sso.add_user(User::new(
        31338,
        "hank",
        "Hank",
        "hank@fabrikam.example",
        false,
    ));
    env.sso.sign_in_as(31338);
    let hank = env
        .gw
        .add_user("hank@fabrikam.example", UserType::Guest)
        .await;
    env.gw.assign(&hank, "docs", Some(in_a_week())).await;
    let mut h = env.browser();
    let form = h.open(&env.url("docs.test", "/")).await;
    let refused = h
        .submit(
            &form,
            "/.portcullis/sign-in",
            &[("email", "hank@fabrikam.example")],
        )
        .await;
    assert_eq!(
        (refused.status, refused.heading().as_str()),
        (403, "E-mail not confirmed"),
        "{refused:?}"
    );
}

/// A Facebook user with a confirmed address signs in (the Graph answer is
/// asked for `id,name,email` with `appsecret_proof`, which the provider
/// checks) and reaches the app; the subject is Facebook's numeric id.
#[tokio::test]
async fn facebook_user_signs_in_with_a_confirmed_email() {
    let env = start().await;
    let fay = env
        .gw
        .add_user("fay@contoso.example", UserType::Guest)
        .await;
    env.gw.assign(&fay, "wiki", Some(in_a_week())).await;
    env.facebook.add_user(User::new(
        10158000000000001,
        "fay",
        "Fay",
        "fay@contoso.example",
        true,
    ));
    env.facebook.sign_in_as(10158000000000001);
    let mut b = env.browser();
    let consent = env.sign_in(&mut b, "fay@contoso.example", "facebook").await;
    assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
    let wiki = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(
        (wiki.status, wiki.url.host_str()),
        (200, Some("wiki.test")),
        "{wiki:?}"
    );
    let user = env.gw.store.get_user(&fay).await.unwrap().unwrap();
    assert_eq!(user.identity.unwrap().subject, "10158000000000001");
    let me = env
        .facebook
        .seen()
        .into_iter()
        .find(|r| r.path.ends_with("/me"))
        .unwrap();
    assert_eq!(me.query["fields"], "id,name,email");
    assert_eq!(me.query["appsecret_proof"].len(), 64);
}

/// A partner's provider speaks only for what the config gives it: a
/// verified address in the organisation's member domain from GitHub (which
/// serves no member domain) makes no member; the generic provider, given
/// only fabrikam.example, cannot sign anyone in with another domain.
#[tokio::test]
async fn partner_providers_make_no_members_and_keep_to_their_domains() {
    let env = start().await;
    env.github.add_user(User::new(
        5150,
        "mallory",
        "Mallory",
        "ceo@tailwindtraders.com",
        true,
    ));
    env.github.sign_in_as(5150);
    let mut b = env.browser();
    let refused = env
        .sign_in(&mut b, "ceo@tailwindtraders.com", "github")
        .await;
    assert_eq!(
        (refused.status, refused.heading().as_str()),
        // A partner's provider never speaks for the organisation's own
        // domain (the trust boundary of issue 15).
        (403, "Use your organisation's sign-in"),
        "{refused:?}"
    );
    assert!(
        env.gw
            .store
            .get_user_by_email("ceo@tailwindtraders.com")
            .await
            .unwrap()
            .is_none(),
        "no member made by a partner's provider"
    );

    let ivan = env
        .gw
        .add_user("ivan@contoso.example", UserType::Guest)
        .await;
    env.gw.assign(&ivan, "docs", Some(in_a_week())).await;
    env.sso.add_user(User::new(
        31339,
        "ivan",
        "Ivan",
        "ivan@contoso.example",
        true,
    ));
    env.sso.sign_in_as(31339);
    let mut i = env.browser();
    let form = i.open(&env.url("docs.test", "/")).await;
    // Chosen by the domain it claims, it answers for another one.
    let refused = i
        .submit(
            &form,
            "/.portcullis/sign-in",
            &[("email", "x@fabrikam.example")],
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let user = env.gw.store.get_user(&ivan).await.unwrap().unwrap();
    assert!(user.identity.is_none());
    let metrics = env.gw.metrics().await;
    assert!(
        metrics.contains(
            "portcullis_sign_ins_total{idp=\"fabrikam-sso\",result=\"domain_not_allowed\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"github\",result=\"member_domain\"} 1"),
        "{metrics}"
    );
}
