#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::session::jwt::b64e;
use crate::session::test_support::{EcKey, EdKey, JwksServer, RsaKey, hmac_sha256, jwks, token};

const ISS: &str = "https://login.partner.example";
const AUD: &str = "portcullis";
const NOW: i64 = 1_700_000_000;

fn claims() -> Value {
    json!({
        "iss": ISS, "aud": AUD, "sub": "p-1", "email": "bob@partner.example",
        "groups": ["api-users"], "amr": ["pwd", "mfa"], "iat": NOW, "exp": NOW + 3600,
        "jti": "j-1",
    })
}

fn with(mut c: Value, k: &str, v: Value) -> Value {
    c[k] = v;
    c
}

fn file_verifier(jwks_json: &str, edit: impl FnOnce(&mut BearerConfig)) -> BearerVerifier {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partner.jwks.json");
    std::fs::write(&path, jwks_json).unwrap();
    let mut cfg = BearerConfig::new("partner-api", ISS, AUD, JwksSource::File(path));
    edit(&mut cfg);
    BearerVerifier::new(cfg).unwrap()
}

#[test]
fn jwks_from_a_file_verifies_ed_ec_and_rsa_tokens() {
    let (ed, ec, rsa) = (EdKey::new(), EcKey::new(), RsaKey::new());
    let v = file_verifier(&jwks(&[ed.jwk("ed"), ec.jwk("ec"), rsa.jwk("rsa")]), |c| {
        c.member_domains = vec!["Partner.Example".into()];
        // A member is made only by an idp that serves the member domain.
        c.domains = vec!["partner.example".into()];
        // Its `amr: mfa` counts only because it is trusted for MFA.
        c.trust.mfa_trusted = true;
    });
    assert_eq!(v.key_count(), 3);
    for tok in [
        ed.sign("ed", &claims()),
        ec.sign("ec", &claims()),
        rsa.sign("rsa", &claims()),
    ] {
        let c = v.verify(&tok, NOW + 5).unwrap();
        // Qualified by the idp: never a directory user's id.
        assert_eq!(c.sub, "partner-api:p-1");
        assert_eq!(c.email, "bob@partner.example");
        // Issue 15: the issuer's groups are its own, qualified by its name.
        assert_eq!(*c.groups, ["partner-api:api-users"]);
        assert_eq!(&*c.idp, "partner-api");
        assert_eq!(c.user_type, UserType::Member);
        assert_eq!(c.sid, "j-1");
        assert_eq!(c.auth_time, NOW);
        assert!(c.mfa());
    }
}

/// Issue 14, finding 1: a jwt idp's token acted as any directory user (its
/// `sub` was looked up as a user id) and made a member from a member-domain
/// e-mail although the idp had no say over that domain.
#[test]
fn a_bearer_token_speaks_only_for_its_idps_domains_and_never_names_a_directory_user() {
    let ed = EdKey::new();
    let token = |sub: &str, email: &str| {
        ed.sign(
            "k",
            &json!({"iss": ISS, "aud": AUD, "sub": sub, "email": email, "exp": NOW + 60}),
        )
    };
    // No `domains`: any partner domain, never a member domain.
    let open = file_verifier(&jwks(&[ed.jwk("k")]), |c| {
        c.member_domains = vec!["tailwindtraders.com".into()];
    });
    let guest = open
        .verify(&token("u_guest", "x@contoso.com"), NOW)
        .unwrap();
    assert_eq!(guest.user_type, UserType::Guest);
    assert_eq!(guest.sub, "partner-api:u_guest");
    assert_eq!(
        open.verify(&token("u_member", "ceo@TailwindTraders.com"), NOW),
        Err(SessionError::DomainNotAllowed)
    );
    // With `domains`: only those; a member only for a listed member domain.
    let scoped = file_verifier(&jwks(&[ed.jwk("k")]), |c| {
        c.member_domains = vec!["tailwindtraders.com".into()];
        c.domains = vec!["contoso.com".into()];
    });
    assert_eq!(
        scoped.verify(&token("s", "x@fabrikam.example"), NOW),
        Err(SessionError::DomainNotAllowed)
    );
    assert_eq!(
        scoped.verify(&token("s", "ceo@tailwindtraders.com"), NOW),
        Err(SessionError::DomainNotAllowed)
    );
    assert_eq!(
        scoped
            .verify(&token("s", "x@contoso.com"), NOW)
            .unwrap()
            .user_type,
        UserType::Guest
    );
    let own = file_verifier(&jwks(&[ed.jwk("k")]), |c| {
        c.member_domains = vec!["tailwindtraders.com".into()];
        c.domains = vec!["tailwindtraders.com".into()];
    });
    assert_eq!(
        own.verify(&token("s", "bot@tailwindtraders.com"), NOW)
            .unwrap()
            .user_type,
        UserType::Member
    );
}

#[test]
fn claim_mapping_uses_configured_claims_and_defaults_to_guest() {
    let ed = EdKey::new();
    let v = file_verifier(&jwks(&[ed.jwk("k")]), |c| {
        c.groups_claim = "roles".into();
        c.email_claim = "upn".into();
    });
    let c = json!({"iss": ISS, "aud": [AUD, "other"], "sub": "s", "upn": "x@contoso.com",
                   "roles": "admin", "exp": NOW as f64 + 60.5, "auth_time": NOW - 100});
    let got = v.verify(&ed.sign("k", &c), NOW).unwrap();
    assert_eq!(got.email, "x@contoso.com");
    assert_eq!(*got.groups, ["partner-api:admin"]);
    assert_eq!(got.user_type, UserType::Guest);
    assert_eq!(got.exp, NOW + 60);
    assert_eq!(got.auth_time, NOW - 100);
    assert!(!got.mfa());
    assert_eq!(got.sid, "");
}

#[test]
fn time_claims_with_leeway() {
    let ed = EdKey::new();
    let v = file_verifier(&jwks(&[ed.jwk("k")]), |_| {});
    let exp = NOW + 3600;
    let tok = ed.sign("k", &claims());
    assert!(v.verify(&tok, exp + 59).is_ok(), "skew within leeway");
    assert_eq!(v.verify(&tok, exp + 60), Err(SessionError::Expired));
    let nbf = ed.sign("k", &with(claims(), "nbf", json!(NOW + 100)));
    assert_eq!(v.verify(&nbf, NOW), Err(SessionError::NotYetValid));
    assert!(v.verify(&nbf, NOW + 40).is_ok(), "nbf within leeway");
    let iat = ed.sign("k", &with(claims(), "iat", json!(NOW + 61)));
    assert_eq!(v.verify(&iat, NOW), Err(SessionError::NotYetValid));

    let strict = file_verifier(&jwks(&[ed.jwk("k")]), |c| c.leeway_secs = 0);
    assert_eq!(strict.verify(&tok, exp), Err(SessionError::Expired));
    assert_eq!(
        strict.verify(&nbf, NOW + 99),
        Err(SessionError::NotYetValid)
    );

    let no_exp = ed.sign("k", &with(claims(), "exp", Value::Null));
    assert_eq!(
        v.verify(&no_exp, NOW),
        Err(SessionError::Malformed("time claim is not a number"))
    );
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        v.verify(&ed.sign("k", &c), NOW),
        Err(SessionError::Malformed("exp missing"))
    );
}

#[test]
fn wrong_issuer_audience_and_missing_sub() {
    let ed = EdKey::new();
    let v = file_verifier(&jwks(&[ed.jwk("k")]), |_| {});
    let t = |c| ed.sign("k", &c);
    assert_eq!(
        v.verify(&t(with(claims(), "iss", json!("https://evil"))), NOW),
        Err(SessionError::WrongIssuer)
    );
    assert_eq!(
        v.verify(&t(with(claims(), "aud", json!("other"))), NOW),
        Err(SessionError::WrongAudience)
    );
    assert_eq!(
        v.verify(&t(with(claims(), "aud", json!(["a", "b"]))), NOW),
        Err(SessionError::WrongAudience)
    );
    assert_eq!(
        v.verify(&t(with(claims(), "aud", json!(null))), NOW),
        Err(SessionError::WrongAudience)
    );
    assert_eq!(
        v.verify(&t(with(claims(), "sub", json!(""))), NOW),
        Err(SessionError::Malformed("sub missing"))
    );
}

#[test]
fn tampered_payload_and_unknown_key() {
    let (ed, other) = (EdKey::new(), EdKey::new());
    let v = file_verifier(&jwks(&[ed.jwk("k")]), |_| {});
    let tok = ed.sign("k", &claims());
    let parts: Vec<&str> = tok.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64e(with(claims(), "sub", json!("admin")).to_string()),
        parts[2]
    );
    assert_eq!(v.verify(&forged, NOW), Err(SessionError::BadSignature));
    assert_eq!(
        v.verify(&other.sign("nope", &claims()), NOW),
        Err(SessionError::UnknownKid)
    );
    assert_eq!(
        v.verify(&other.sign("k", &claims()), NOW),
        Err(SessionError::BadSignature)
    );
}

#[test]
fn alg_none_and_disallowed_algorithms_are_rejected() {
    let (ec, rsa) = (EcKey::new(), RsaKey::new());
    let v = file_verifier(&jwks(&[ec.jwk("ec"), rsa.jwk("rsa")]), |_| {});
    let none = token(&json!({"alg": "none", "kid": "ec"}), &claims(), |_| {
        Vec::new()
    });
    assert_eq!(v.verify(&none, NOW), Err(SessionError::AlgorithmNotAllowed));
    // RS512 is a fine algorithm but not in the default allow-list.
    let rs512 = token(&json!({"alg": "RS512", "kid": "rsa"}), &claims(), |_| {
        vec![0; 256]
    });
    assert_eq!(
        v.verify(&rs512, NOW),
        Err(SessionError::AlgorithmNotAllowed)
    );
    // The token's alg must match the key: ES256 claimed for the RSA key.
    let mismatched = token(&json!({"alg": "ES256", "kid": "rsa"}), &claims(), |_| {
        vec![0; 64]
    });
    assert_eq!(
        v.verify(&mismatched, NOW),
        Err(SessionError::AlgorithmNotAllowed)
    );
    // The EC key is published with alg ES256; EdDSA on it is refused.
    let ed_on_ec = token(&json!({"alg": "EdDSA", "kid": "ec"}), &claims(), |_| {
        vec![0; 64]
    });
    assert_eq!(
        v.verify(&ed_on_ec, NOW),
        Err(SessionError::AlgorithmNotAllowed)
    );
}

/// Algorithm / key confusion: HS256 with the issuer's public key as the HMAC
/// secret. https://auth0.com/blog/critical-vulnerabilities-in-json-web-token-libraries/
#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    let rsa = RsaKey::new();
    let jwk = rsa.jwk("rsa");
    let v = file_verifier(&jwks(std::slice::from_ref(&jwk)), |_| {});
    let n = b64d(jwk["n"].as_str().unwrap()).unwrap();
    for secret in [n.as_slice(), jwk.to_string().as_bytes()] {
        let tok = token(&json!({"alg": "HS256", "kid": "rsa"}), &claims(), |m| {
            hmac_sha256(secret, m)
        });
        assert_eq!(v.verify(&tok, NOW), Err(SessionError::AlgorithmNotAllowed));
    }
    // Nor can the config let HMAC in.
    assert!(matches!(
        parse_algorithm("HS256"),
        Err(SessionError::Config(_))
    ));
    assert!(matches!(
        parse_algorithm("none"),
        Err(SessionError::Config(_))
    ));
    assert!(matches!(
        parse_algorithm("RS1"),
        Err(SessionError::Config(_))
    ));
    assert_eq!(parse_algorithm("ES256").unwrap(), Algorithm::ES256);
    let mut cfg = BearerConfig::new("x", ISS, AUD, JwksSource::File("/nonexistent".into()));
    cfg.algorithms = vec![Algorithm::RS256, Algorithm::HS256];
    assert!(matches!(
        BearerVerifier::new(cfg),
        Err(SessionError::Config(_))
    ));
}

#[test]
fn jwks_parsing_skips_unusable_keys() {
    let ed = EdKey::new();
    let body = jwks(&[
        json!({"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}),
        json!({"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB", "kid": "enc"}),
        json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521"}),
        json!({"kty": "OKP", "crv": "X25519", "x": "AA", "kid": "x25519"}),
        json!({"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "short"}),
        json!({"kty": "weird"}),
        json!("not an object"),
        ed.jwk("good"),
    ]);
    let v = file_verifier(&body, |_| {});
    assert_eq!(v.key_count(), 1);
    assert!(v.verify(&ed.sign("good", &claims()), NOW).is_ok());
    let sym = token(&json!({"alg": "HS256", "kid": "sym"}), &claims(), |m| {
        hmac_sha256(b"secret", m)
    });
    assert_eq!(v.verify(&sym, NOW), Err(SessionError::AlgorithmNotAllowed));

    let dir = tempfile::tempdir().unwrap();
    for bad in ["", "{}", "[]", r#"{"keys": [{"kty": "oct", "k": "AA"}]}"#] {
        let path = dir.path().join("bad.json");
        std::fs::write(&path, bad).unwrap();
        let cfg = BearerConfig::new("x", ISS, AUD, JwksSource::File(path));
        assert!(
            matches!(BearerVerifier::new(cfg), Err(SessionError::Jwks(_))),
            "{bad:?}"
        );
    }
    let cfg = BearerConfig::new("x", ISS, AUD, JwksSource::File(dir.path().join("missing")));
    assert!(matches!(
        BearerVerifier::new(cfg),
        Err(SessionError::Jwks(_))
    ));
}

#[test]
fn token_without_kid_uses_the_only_key() {
    let (ed, ed2) = (EdKey::new(), EdKey::new());
    let one = file_verifier(&jwks(&[ed.jwk("k")]), |_| {});
    let no_kid = token(&json!({"alg": "EdDSA"}), &claims(), |m| {
        ed.0.sign(m).as_ref().to_vec()
    });
    assert!(one.verify(&no_kid, NOW).is_ok());
    let two = file_verifier(&jwks(&[ed.jwk("k"), ed2.jwk("k2")]), |_| {});
    assert_eq!(two.verify(&no_kid, NOW), Err(SessionError::UnknownKid));
}

#[test]
fn jwks_url_must_be_https_unless_loopback() {
    let mk =
        |u: &str| BearerVerifier::new(BearerConfig::new("x", ISS, AUD, JwksSource::Url(u.into())));
    assert!(mk("https://login.example/keys").is_ok());
    assert!(mk("http://127.0.0.1:9/keys").is_ok());
    assert!(mk("http://[::1]:9/keys").is_ok());
    assert!(mk("http://localhost:9/keys").is_ok());
    assert!(matches!(
        mk("http://login.example/keys"),
        Err(SessionError::Config(_))
    ));
    assert!(matches!(
        mk("ftp://127.0.0.1/keys"),
        Err(SessionError::Config(_))
    ));
    assert!(matches!(mk("not a url"), Err(SessionError::Config(_))));
}

fn url_config(url: &str) -> BearerConfig {
    let mut cfg = BearerConfig::new("partner-api", ISS, AUD, JwksSource::Url(url.into()));
    cfg.fetch_timeout = Duration::from_secs(2);
    cfg.refresh_interval = Duration::from_secs(3600);
    cfg.min_refresh_gap = Duration::from_millis(100);
    cfg
}

/// Polls `f` every 20 ms for at most 5 s.
async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn jwks_from_url_with_rollover_and_server_down() {
    let (k1, k2) = (EdKey::new(), EcKey::new());
    let mut server = JwksServer::start(jwks(&[k1.jwk("k1")])).await;
    let v = Arc::new(BearerVerifier::new(url_config(&server.url)).unwrap());
    assert_eq!(v.key_count(), 0, "no network in the constructor");
    assert_eq!(v.refresh().await.unwrap(), 1);
    let t1 = k1.sign("k1", &claims());
    assert!(v.verify(&t1, NOW).is_ok());

    // Rollover at the issuer: k2 appears; a token with the new kid wakes the
    // refresh task, which picks it up.
    let task = v.spawn_refresh().unwrap();
    server.set_body(jwks(&[k1.jwk("k1"), k2.jwk("k2")]));
    let t2 = k2.sign("k2", &claims());
    assert_eq!(v.verify(&t2, NOW), Err(SessionError::UnknownKid));
    assert!(
        eventually(|| v.verify(&t2, NOW).is_ok()).await,
        "refresh picked up k2"
    );
    assert!(v.verify(&t1, NOW).is_ok());

    // The server goes away: fetches fail, the keys we have keep working.
    server.stop().await;
    let hits = server.hits();
    assert!(matches!(v.refresh().await, Err(SessionError::Jwks(_))));
    assert_eq!(
        v.verify(&EdKey::new().sign("k3", &claims()), NOW),
        Err(SessionError::UnknownKid)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.hits(), hits);
    assert!(v.verify(&t1, NOW).is_ok());
    assert!(v.verify(&t2, NOW).is_ok());
    assert_eq!(v.key_count(), 2);
    task.abort();
}

#[tokio::test]
async fn bad_jwks_from_url_keeps_previous_keys() {
    let k1 = EdKey::new();
    let server = JwksServer::start(jwks(&[k1.jwk("k1")])).await;
    let v = BearerVerifier::new(url_config(&server.url)).unwrap();
    v.refresh().await.unwrap();
    for bad in [
        "not json",
        r#"{"keys": []}"#,
        r#"{"keys": [{"kty": "oct", "k": "AA"}]}"#,
    ] {
        server.set_body(bad.into());
        assert!(
            matches!(v.refresh().await, Err(SessionError::Jwks(_))),
            "{bad}"
        );
        assert!(v.verify(&k1.sign("k1", &claims()), NOW).is_ok());
    }
}

#[tokio::test]
async fn unknown_kids_trigger_at_most_one_refresh_per_gap() {
    let k1 = EdKey::new();
    let server = JwksServer::start(jwks(&[k1.jwk("k1")])).await;
    let mut cfg = url_config(&server.url);
    cfg.min_refresh_gap = Duration::from_secs(600);
    let v = Arc::new(BearerVerifier::new(cfg).unwrap());
    let task = v.spawn_refresh().unwrap();
    assert!(eventually(|| v.key_count() == 1).await, "initial fetch");
    assert_eq!(server.hits(), 1);
    let stranger = EdKey::new();
    for i in 0..50 {
        let t = stranger.sign(&format!("made-up-{i}"), &claims());
        assert_eq!(v.verify(&t, NOW), Err(SessionError::UnknownKid));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.hits(), 1, "no refresh before min_refresh_gap");
    task.abort();
}

#[tokio::test]
async fn refresh_task_ends_when_the_verifier_is_dropped() {
    let k1 = EdKey::new();
    let server = JwksServer::start(jwks(&[k1.jwk("k1")])).await;
    let mut cfg = url_config(&server.url);
    cfg.refresh_interval = Duration::from_millis(50);
    let v = Arc::new(BearerVerifier::new(cfg).unwrap());
    let task = v.spawn_refresh().unwrap();
    assert!(eventually(|| server.hits() >= 2).await, "periodic refresh");
    drop(v);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

/// Issue 15: a bearer token's groups never name the directory's groups
/// (`break-glass`), and its `amr: mfa` counts only for an issuer trusted
/// for MFA, and then only the values of its `mfa_values`.
#[test]
fn a_bearer_tokens_groups_and_mfa_count_only_as_far_as_the_issuer_is_trusted() {
    let ed = EdKey::new();
    let tok = ed.sign(
        "k",
        &with(
            with(claims(), "groups", json!(["Break-Glass", "ops"])),
            "acr",
            json!("urn:partner:strong"),
        ),
    );
    let untrusted = file_verifier(&jwks(&[ed.jwk("k")]), |_| {});
    let c = untrusted.verify(&tok, NOW + 5).unwrap();
    assert_eq!(*c.groups, ["partner-api:break-glass", "partner-api:ops"]);
    assert!(
        !c.mfa(),
        "an untrusted issuer's amr is not MFA: {:?}",
        c.amr
    );

    let by_acr = file_verifier(&jwks(&[ed.jwk("k")]), |c| {
        c.trust.mfa_trusted = true;
        c.trust.mfa_values = vec!["urn:partner:strong".into()];
        c.trust.trust_groups = true;
    });
    let c = by_acr.verify(&tok, NOW + 5).unwrap();
    assert!(c.mfa());
    assert_eq!(
        *c.groups,
        [
            "break-glass",
            "ops",
            "partner-api:break-glass",
            "partner-api:ops"
        ]
    );
    let pwd_only = ed.sign("k", &with(claims(), "amr", json!(["pwd"])));
    let only_mfa = file_verifier(&jwks(&[ed.jwk("k")]), |c| c.trust.mfa_trusted = true);
    assert!(!only_mfa.verify(&pwd_only, NOW + 5).unwrap().mfa());
}

/// Issue 20: a bearer token is phishing-resistant MFA (`phr` beside `mfa`)
/// only for an issuer trusted for MFA, and only by a value of its
/// `phishing_resistant_values`; a `phr` the token itself carries counts
/// for nothing.
#[test]
fn a_bearer_token_is_phishing_resistant_only_by_the_issuers_values() {
    let ed = EdKey::new();
    let fido = ed.sign("k", &with(claims(), "amr", json!(["fido", "phr"])));
    let forged = ed.sign("k", &with(claims(), "amr", json!(["mfa", "phr"])));
    let plain = file_verifier(&jwks(&[ed.jwk("k")]), |c| c.trust.mfa_trusted = true);
    let c = plain.verify(&forged, NOW + 5).unwrap();
    assert_eq!(c.mfa_strength(), rules::MfaStrength::Mfa, "{:?}", c.amr);
    assert!(!plain.verify(&fido, NOW + 5).unwrap().mfa());

    let strong = file_verifier(&jwks(&[ed.jwk("k")]), |c| {
        c.trust.mfa_trusted = true;
        c.trust.phishing_resistant_values = vec!["fido".into()];
    });
    let c = strong.verify(&fido, NOW + 5).unwrap();
    assert_eq!(c.mfa_strength(), rules::MfaStrength::PhishingResistant);
    assert_eq!(
        strong.verify(&forged, NOW + 5).unwrap().mfa_strength(),
        rules::MfaStrength::Mfa
    );

    let untrusted = file_verifier(&jwks(&[ed.jwk("k")]), |c| {
        c.trust.phishing_resistant_values = vec!["fido".into()];
    });
    assert_eq!(
        untrusted.verify(&fido, NOW + 5).unwrap().mfa_strength(),
        rules::MfaStrength::None
    );
}
