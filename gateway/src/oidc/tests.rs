//! Sign-in against real OpenID Providers (`tests/idp/op.mjs`) on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::test_idp::{
    CLIENT_ID, CLIENT_SECRET, Callback, IdpOptions, POST_LOGOUT_URI, REDIRECT_URI, TestIdp,
    browser_sign_in,
};
use super::*;

const ALICE: &str = "alice@partner.example";
const ALICE_PW: &str = "alice-pw";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn redirect() -> Url {
    Url::parse(REDIRECT_URI).unwrap()
}

/// Builds a client for a test IdP through the real file type
/// (`type: oidc` entry, secret file next to it).
async fn discover(
    name: &str,
    issuer: &str,
    extra: &str,
    timeout: Duration,
) -> Result<OidcClient, OidcError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), format!("{CLIENT_SECRET}\n")).unwrap();
    let yaml = format!(
        "name: {name}\ntype: oidc\nissuer: \"{issuer}\"\nclient_id: {CLIENT_ID}\nclient_secret_file: secret\n{extra}"
    );
    let file: OidcIdpFile = serde_saphyr::from_str(&yaml).unwrap();
    // The secret is read while the client is built; then `dir` may go.
    OidcClient::discover(file.check(dir.path()).unwrap(), timeout).await
}

async fn client(idp: &TestIdp, extra: &str) -> OidcClient {
    discover("partner", &idp.issuer, extra, DEFAULT_TIMEOUT)
        .await
        .unwrap()
}

async fn sign_in(c: &OidcClient) -> (PendingAuth, Callback) {
    let (url, pending) = c.authorize_url(&redirect(), None, false, Some(ALICE), now());
    let cb = browser_sign_in(&url, ALICE, ALICE_PW).await;
    assert!(cb.error.is_none(), "{cb:?}");
    (pending, cb)
}

async fn finish(c: &OidcClient, p: &PendingAuth, cb: &Callback) -> Result<Identity, OidcError> {
    c.finish(
        p,
        cb.code.as_deref().unwrap(),
        cb.state.as_deref().unwrap(),
        cb.iss.as_deref(),
        now(),
    )
    .await
}

#[tokio::test]
async fn oidc_full_flow_yields_the_identity() {
    let idp = TestIdp::start(IdpOptions {
        amr: Some("pwd,mfa"),
        ..Default::default()
    });
    let c = client(&idp, "domains: [partner.example]\n").await;
    let (url, pending) = c.authorize_url(&redirect(), None, false, Some(ALICE), now());
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["state"], pending.state);
    assert_eq!(q["nonce"], pending.nonce);
    // PendingAuth survives the trip through the browser-bound store.
    let pending: PendingAuth =
        serde_json::from_str(&serde_json::to_string(&pending).unwrap()).unwrap();
    assert!(!format!("{pending:?}").contains(&pending.nonce));

    let cb = browser_sign_in(&url, ALICE, ALICE_PW).await;
    assert_eq!(cb.iss.as_deref(), Some(idp.issuer.as_str()));
    let id = finish(&c, &pending, &cb).await.unwrap();
    assert_eq!(id.idp, "partner");
    assert_eq!(id.issuer, idp.issuer);
    assert_eq!(id.subject, ALICE);
    assert_eq!(id.email.as_deref(), Some(ALICE));
    assert!(id.email_verified);
    assert_eq!(id.name.as_deref(), Some("Alice"));
    assert_eq!(id.groups, ["partner-admins", "finance"]);
    assert_eq!(id.amr, ["pwd", "mfa"]);
    assert_eq!(id.acr.as_deref(), Some("urn:portcullis:acr:mfa"));
    assert!(id.auth_time.unwrap() <= now() + 1);
    // mfa: untrusted (the default): the partner's amr is not evidence.
    assert!(!id.mfa);
    assert!(!format!("{id:?}").contains(&id.id_token.0));

    let logout = c
        .end_session_url(
            Some(&id.id_token.0),
            Some(&Url::parse(POST_LOGOUT_URI).unwrap()),
        )
        .unwrap();
    assert!(
        logout
            .as_str()
            .starts_with(&format!("{}/session/end?", idp.issuer))
    );
    assert!(logout.query().unwrap().contains("id_token_hint="));
}

#[tokio::test]
async fn oidc_trusted_mfa_idp_yields_mfa() {
    let idp = TestIdp::start(IdpOptions {
        amr: Some("pwd,mfa"),
        ..Default::default()
    });
    let c = client(&idp, "mfa: trusted\n").await;
    let (p, cb) = sign_in(&c).await;
    let id = finish(&c, &p, &cb).await.unwrap();
    assert!(id.mfa);

    // Trusted, but the IdP only says "password".
    let pwd_only = TestIdp::start(IdpOptions {
        amr: Some("pwd"),
        ..Default::default()
    });
    let c = client(&pwd_only, "mfa: trusted\n").await;
    let (p, cb) = sign_in(&c).await;
    assert!(!finish(&c, &p, &cb).await.unwrap().mfa);
}

#[tokio::test]
async fn oidc_conform_id_token_claims_email_from_userinfo() {
    let idp = TestIdp::start(IdpOptions {
        conform_id_token_claims: true,
        ..Default::default()
    });
    let c = client(&idp, "").await;
    let (p, cb) = sign_in(&c).await;
    let id = finish(&c, &p, &cb).await.unwrap();
    assert_eq!(id.email.as_deref(), Some(ALICE));
    assert!(id.email_verified);
    assert_eq!(id.name.as_deref(), Some("Alice"));
    assert_eq!(id.groups, ["partner-admins", "finance"]);
    // The ID token itself has no e-mail: it came from userinfo.
    assert!(!payload(&id.id_token.0).unwrap().contains_key("email"));
}

#[tokio::test]
async fn oidc_state_mismatch_is_refused() {
    let idp = TestIdp::start(IdpOptions::default());
    let c = client(&idp, "").await;
    let (p, cb) = sign_in(&c).await;
    let mut forged = cb.state.clone().unwrap();
    forged.replace_range(0..1, if forged.starts_with('A') { "B" } else { "A" });
    let e = c
        .finish(
            &p,
            cb.code.as_deref().unwrap(),
            &forged,
            cb.iss.as_deref(),
            now(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.as_str(), "state_mismatch");
    // A state check failure does not burn the pending sign-in.
    finish(&c, &p, &cb).await.unwrap();
}

#[tokio::test]
async fn oidc_replayed_code_is_refused() {
    let idp = TestIdp::start(IdpOptions::default());
    let c = client(&idp, "").await;
    let (p, cb) = sign_in(&c).await;
    finish(&c, &p, &cb).await.unwrap();
    // Same process: the nonce is remembered.
    assert_eq!(finish(&c, &p, &cb).await.unwrap_err().as_str(), "replayed");
    // Another replica (no memory of the nonce): the IdP refuses the used code.
    let other = client(&idp, "").await;
    let e = finish(&other, &p, &cb).await.unwrap_err();
    assert_eq!(e, OidcError::CodeExchangeFailed("invalid_grant".into()));
    assert_eq!(e.as_str(), "code_exchange_failed");
}

#[tokio::test]
async fn oidc_reused_pending_auth_is_refused() {
    let idp = TestIdp::start(IdpOptions::default());
    let c = client(&idp, "").await;
    let (url, p) = c.authorize_url(&redirect(), None, false, None, now());
    let first = browser_sign_in(&url, ALICE, ALICE_PW).await;
    finish(&c, &p, &first).await.unwrap();
    // A second login through the same authorization URL: a fresh code with
    // the same state and nonce.
    let second = browser_sign_in(&url, ALICE, ALICE_PW).await;
    assert_ne!(first.code, second.code);
    assert_eq!(
        finish(&c, &p, &second).await.unwrap_err(),
        OidcError::Replayed
    );
}

#[tokio::test]
async fn oidc_nonce_mismatch_is_refused() {
    let idp = TestIdp::start(IdpOptions::default());
    let c = client(&idp, "").await;
    let (_, p1) = c.authorize_url(&redirect(), None, false, None, now());
    let (p2, cb2) = sign_in(&c).await;
    // The browser's record says nonce 1, the token carries nonce 2.
    let forged = PendingAuth {
        nonce: p1.nonce,
        ..p2
    };
    assert_eq!(
        finish(&c, &forged, &cb2).await.unwrap_err().as_str(),
        "nonce_mismatch"
    );
}

#[tokio::test]
async fn oidc_mix_up_between_idps_is_refused() {
    let a = TestIdp::start(IdpOptions::default());
    let b = TestIdp::start(IdpOptions::default());
    let ca = discover("a", &a.issuer, "", DEFAULT_TIMEOUT).await.unwrap();
    let cb_client = discover("b", &b.issuer, "", DEFAULT_TIMEOUT).await.unwrap();

    // The user started at A; an attacker's response from B (code, iss=B)
    // reaches A's callback with A's state.
    let (_, pa) = ca.authorize_url(&redirect(), None, false, None, now());
    let (pb, from_b) = sign_in(&cb_client).await;
    let e = ca
        .finish(
            &pa,
            from_b.code.as_deref().unwrap(),
            &pa.state,
            from_b.iss.as_deref(),
            now(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.as_str(), "issuer_mismatch");
    // Without `iss` (stripped): A advertises RFC 9207, so that is refused too.
    let e = ca
        .finish(&pa, from_b.code.as_deref().unwrap(), &pa.state, None, now())
        .await
        .unwrap_err();
    assert_eq!(e.as_str(), "issuer_missing");
    // B's pending sign-in presented to A.
    assert_eq!(
        finish(&ca, &pb, &from_b).await.unwrap_err(),
        OidcError::WrongIdp
    );

    // A token from B never validates for A, even with the right nonce.
    let id_b = finish(&cb_client, &pb, &from_b).await.unwrap();
    let as_if_a = PendingAuth {
        nonce: pb.nonce.clone(),
        ..pa.clone()
    };
    let e = ca
        .verify_id_token(&id_b.id_token.0, &as_if_a, now())
        .await
        .unwrap_err();
    // Both IdPs use the same dev key id, so the signature checks out: the
    // issuer is what stops it.
    assert_eq!(e.as_str(), "issuer_mismatch", "{e}");
}

#[tokio::test]
async fn oidc_idp_down_is_unreachable_within_the_timeout() {
    // Nothing listens: discovery fails fast.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = discover(
        "dead",
        &format!("http://127.0.0.1:{port}"),
        "",
        DEFAULT_TIMEOUT,
    )
    .await
    .unwrap_err();
    assert_eq!(e.as_str(), "idp_unreachable", "{e}");

    // Accepts connections but never answers: bounded by the timeout.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = hole.local_addr().unwrap();
    let keep = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = hole.accept().await {
            open.push(s);
        }
    });
    let started = Instant::now();
    let e = discover(
        "hole",
        &format!("http://{addr}"),
        "",
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    assert_eq!(e.as_str(), "idp_unreachable", "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    keep.abort();

    // The IdP dies between the redirect and the callback.
    let mut idp = TestIdp::start(IdpOptions::default());
    let c = discover("partner", &idp.issuer, "", Duration::from_secs(2))
        .await
        .unwrap();
    let (p, cb) = sign_in(&c).await;
    idp.stop();
    let started = Instant::now();
    let e = finish(&c, &p, &cb).await.unwrap_err();
    assert_eq!(e.as_str(), "idp_unreachable", "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn oidc_key_rollover_refetches_the_jwks() {
    let mut old = TestIdp::start(IdpOptions {
        key_id: Some("key-2025"),
        ..Default::default()
    });
    let c = client(&old, "").await;
    let port = old.port;
    old.stop();
    // Same issuer, new signing key.
    let new = TestIdp::start(IdpOptions {
        key_id: Some("key-2026"),
        port,
        ..Default::default()
    });
    assert_eq!(new.port, port);
    let (p, cb) = sign_in(&c).await;
    let id = finish(&c, &p, &cb).await.unwrap();
    assert_eq!(id.subject, ALICE);
}

#[tokio::test]
async fn oidc_wrong_password_is_access_denied() {
    let idp = TestIdp::start(IdpOptions::default());
    let c = client(&idp, "").await;
    let (url, _) = c.authorize_url(&redirect(), None, false, None, now());
    let cb = browser_sign_in(&url, ALICE, "wrong").await;
    assert_eq!(cb.error.as_deref(), Some("access_denied"));
    assert!(cb.code.is_none());
    assert_eq!(
        OidcError::from_callback(cb.error.as_deref().unwrap()).as_str(),
        "access_denied"
    );
}

#[tokio::test]
async fn oidc_max_age_and_domains_are_enforced() {
    let idp = TestIdp::start(IdpOptions::default());
    let c = client(&idp, "").await;
    let (url, p) = c.authorize_url(
        &redirect(),
        Some(Duration::from_secs(60)),
        true,
        None,
        now(),
    );
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["max_age"], "60");
    assert_eq!(q["prompt"], "login");
    let cb = browser_sign_in(&url, ALICE, ALICE_PW).await;
    // Two minutes later (beyond max_age + leeway, within the token's life).
    let e = c
        .finish(
            &p,
            cb.code.as_deref().unwrap(),
            cb.state.as_deref().unwrap(),
            cb.iss.as_deref(),
            now() + 200,
        )
        .await
        .unwrap_err();
    assert_eq!(e.as_str(), "auth_too_old", "{e}");

    // A partner IdP asserting an address in the organisation's domain.
    let c = client(&idp, "domains: [partner.example]\n").await;
    let (url, p) = c.authorize_url(&redirect(), None, false, None, now());
    let cb = browser_sign_in(&url, "mallory@tailwindtraders.com", "mallory-pw").await;
    assert_eq!(
        finish(&c, &p, &cb).await.unwrap_err(),
        OidcError::DomainNotAllowed
    );
}

#[test]
fn oidc_issuer_template_matches_tenants_only() {
    let dir = tempfile::tempdir().unwrap();
    let check = |yaml: &str| {
        serde_saphyr::from_str::<OidcIdpFile>(yaml)
            .unwrap()
            .check(dir.path())
            .unwrap()
    };
    let ms = check("name: ms\ntype: oidc\npreset: microsoft\nclient_id: c\nclient_secret_env: X\n");
    let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let iss = format!("https://login.microsoftonline.com/{t}/v2.0");
    assert!(ms.issuer_matches(&iss, Some(t)));
    assert!(ms.issuer_matches(&iss, None));
    // The token's `tid` must be the tenant in `iss`.
    assert!(!ms.issuer_matches(&iss, Some("00000000-0000-0000-0000-000000000000")));
    assert!(!ms.issuer_matches("https://login.microsoftonline.com/evil/path/v2.0", None));
    assert!(!ms.issuer_matches("https://evil.example/72f988bf/v2.0", None));
    assert!(!ms.issuer_matches("https://login.microsoftonline.com//v2.0", None));

    let g = check("name: g\ntype: oidc\npreset: google\nclient_id: c\nclient_secret_env: X\n");
    assert!(g.issuer_matches("https://accounts.google.com", None));
    assert!(g.issuer_matches("accounts.google.com", None));
    assert!(!g.issuer_matches("https://accounts.google.com/", None));

    let generic = check(
        "name: p\ntype: oidc\nissuer: http://127.0.0.1:9\nclient_id: c\nclient_secret_env: X\n",
    );
    assert!(generic.issuer_matches("http://127.0.0.1:9", None));
    // Exact string: no trailing slash, no other host spelling.
    assert!(!generic.issuer_matches("http://127.0.0.1:9/", None));
    assert!(!generic.issuer_matches("http://localhost:9", None));
}
