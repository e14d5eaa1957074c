#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;
use crate::session::MAX_TOKEN_LEN;
use crate::session::test_support::{hmac_sha256, token};
use crate::session::{BearerConfig, BearerVerifier, JwksSource};

const ISS: &str = "https://portcullis.example";
const HOST: &str = "payroll.localhost";
const NOW: i64 = 1_700_000_000;
const TTL: i64 = 8 * 3600;
/// Key lifetime: rotate daily, plus the longest session and the leeway.
const ROTATE: i64 = 24 * 3600;
const LIFETIME: i64 = ROTATE + TTL + 60;

fn claims(now: i64) -> SessionClaims {
    SessionClaims {
        iss: ISS.into(),
        sub: "user-42".into(),
        aud: HOST.into(),
        email: "anna@contoso.com".into(),
        user_type: UserType::Guest,
        groups: ["partners", "payroll-readers"].map(String::from).into(),
        idp: "contoso".into(),
        amr: ["pwd", "mfa"].map(String::from).into(),
        auth_time: now - 30,
        iat: now,
        exp: now + TTL,
        sid: crate::session::new_sid(),
    }
}

fn ring() -> KeyRing {
    KeyRing::generate(ISS, NOW, LIFETIME).unwrap()
}

/// Re-encodes the token's payload with `edit` applied, keeping the header and
/// the (now wrong) signature.
fn tamper(tok: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let parts: Vec<&str> = tok.split('.').collect();
    let mut payload: serde_json::Value = serde_json::from_slice(&b64d(parts[1]).unwrap()).unwrap();
    edit(&mut payload);
    format!(
        "{}.{}.{}",
        parts[0],
        b64e(serde_json::to_vec(&payload).unwrap()),
        parts[2]
    )
}

fn header_of(tok: &str) -> serde_json::Value {
    serde_json::from_slice(&b64d(tok.split('.').next().unwrap()).unwrap()).unwrap()
}

#[test]
fn issue_and_verify_round_trip() {
    let ring = ring();
    let c = claims(NOW);
    let tok = ring.issue(&c).unwrap();
    let h = header_of(&tok);
    assert_eq!(h["alg"], "EdDSA");
    assert_eq!(h["kid"], ring.active_kid());
    assert_eq!(h["typ"], "portcullis-session+jwt");
    let v = ring.verify(&tok, HOST, NOW + 10).unwrap();
    assert_eq!(v, c);
    assert!(v.mfa());
    assert_eq!(v.signed_in_ago(NOW + 10), 40);
}

#[test]
fn mfa_is_false_without_mfa_in_amr() {
    let mut c = claims(NOW);
    c.amr = vec!["pwd".to_string()].into();
    assert!(!c.mfa());
}

#[test]
fn wrong_audience_and_issuer_are_rejected() {
    let ring = ring();
    let tok = ring.issue(&claims(NOW)).unwrap();
    assert_eq!(
        ring.verify(&tok, "hr.localhost", NOW),
        Err(SessionError::WrongAudience)
    );
    let mut c = claims(NOW);
    c.iss = "https://elsewhere".into();
    let tok = ring.issue(&c).unwrap();
    assert_eq!(ring.verify(&tok, HOST, NOW), Err(SessionError::WrongIssuer));
}

#[test]
fn expiry_and_clock_skew() {
    let ring = ring(); // leeway 60 s
    let tok = ring.issue(&claims(NOW)).unwrap();
    let exp = NOW + TTL;
    assert!(ring.verify(&tok, HOST, exp - 1).is_ok());
    assert!(ring.verify(&tok, HOST, exp + 59).is_ok(), "within leeway");
    assert_eq!(
        ring.verify(&tok, HOST, exp + 60),
        Err(SessionError::Expired)
    );
    // iat in the future: a replica whose clock is ahead issued it.
    assert!(
        ring.verify(&tok, HOST, NOW - 60).is_ok(),
        "skew within leeway"
    );
    assert_eq!(
        ring.verify(&tok, HOST, NOW - 61),
        Err(SessionError::NotYetValid)
    );

    let strict = KeyRing::from_records(ISS, ring.records().to_vec(), NOW)
        .unwrap()
        .with_leeway(0);
    assert_eq!(strict.verify(&tok, HOST, exp), Err(SessionError::Expired));
    assert_eq!(
        strict.verify(&tok, HOST, NOW - 1),
        Err(SessionError::NotYetValid)
    );
}

#[test]
fn tampered_payload_fails_the_signature() {
    let ring = ring();
    let tok = ring.issue(&claims(NOW)).unwrap();
    let forged = tamper(&tok, |p| p["user_type"] = json!("member"));
    assert_eq!(
        ring.verify(&forged, HOST, NOW),
        Err(SessionError::BadSignature)
    );
    let forged = tamper(&tok, |p| p["amr"] = json!(["mfa"]));
    assert_eq!(
        ring.verify(&forged, HOST, NOW),
        Err(SessionError::BadSignature)
    );
    // A flipped signature byte.
    let mut bad = tok.clone().into_bytes();
    let last = bad.len() - 2;
    bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    assert_eq!(
        ring.verify(&bad, HOST, NOW),
        Err(SessionError::BadSignature)
    );
}

#[test]
fn alg_none_is_rejected() {
    let ring = ring();
    let c = serde_json::to_value(claims(NOW)).unwrap();
    for alg in ["none", "None", "NONE"] {
        let h = json!({"alg": alg, "typ": "portcullis-session+jwt", "kid": ring.active_kid()});
        let tok = token(&h, &c, |_| Vec::new());
        assert!(tok.ends_with('.'));
        assert_eq!(
            ring.verify(&tok, HOST, NOW),
            Err(SessionError::AlgorithmNotAllowed)
        );
    }
}

/// Algorithm / key confusion (CVE-2015-9235 and friends): an HS256 token
/// whose HMAC secret is our *public* key, taken from the JWKS.
#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    let ring = ring();
    let c = serde_json::to_value(claims(NOW)).unwrap();
    let jwks: serde_json::Value = serde_json::from_str(ring.jwks()).unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let raw = b64d(&x).unwrap();
    for secret in [raw.as_slice(), x.as_bytes(), ring.jwks().as_bytes()] {
        let h = json!({"alg": "HS256", "typ": "portcullis-session+jwt", "kid": ring.active_kid()});
        let tok = token(&h, &c, |m| hmac_sha256(secret, m));
        assert_eq!(
            ring.verify(&tok, HOST, NOW),
            Err(SessionError::AlgorithmNotAllowed)
        );
    }
}

#[test]
fn token_from_an_unknown_key_is_rejected() {
    let ours = ring();
    let theirs = KeyRing::generate(ISS, NOW, LIFETIME).unwrap();
    let tok = theirs.issue(&claims(NOW)).unwrap();
    assert_eq!(ours.verify(&tok, HOST, NOW), Err(SessionError::UnknownKid));
    // Same kid as ours but their key: the signature fails.
    let h = json!({"alg": "EdDSA", "typ": "portcullis-session+jwt", "kid": ours.active_kid()});
    let c = serde_json::to_value(claims(NOW)).unwrap();
    let tok = token(&h, &c, |m| theirs.signer.sign(m).as_ref().to_vec());
    assert_eq!(
        ours.verify(&tok, HOST, NOW),
        Err(SessionError::BadSignature)
    );
    // No kid at all.
    let h = json!({"alg": "EdDSA", "typ": "portcullis-session+jwt"});
    let tok = token(&h, &c, |m| ours.signer.sign(m).as_ref().to_vec());
    assert_eq!(ours.verify(&tok, HOST, NOW), Err(SessionError::UnknownKid));
}

#[test]
fn malformed_tokens_are_rejected_without_panicking() {
    let ring = ring();
    let long = "a".repeat(MAX_TOKEN_LEN + 1);
    for t in [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "!!.b.c",
        "e30.e30.",
        "e30..",
        "\u{e9}.\u{e9}.\u{e9}",
        "eyJhbGciOiJFZERTQSJ9.e30.AAAA",
        long.as_str(),
    ] {
        let r = ring.verify(t, HOST, NOW);
        assert!(r.is_err(), "{t:?}");
    }
    assert_eq!(
        ring.verify("a.b", HOST, NOW).unwrap_err().as_str(),
        "malformed"
    );
}

#[test]
fn an_assertion_is_not_a_session() {
    let ring = ring();
    let a = ring.assertion(&claims(NOW), HOST, NOW).unwrap();
    // Even with aud equal to the host, explicit typing keeps it out.
    assert_eq!(
        ring.verify(&a, HOST, NOW),
        Err(SessionError::WrongTokenType)
    );
    let s = ring.issue(&claims(NOW)).unwrap();
    assert_eq!(
        ring.verify_assertion(&s, HOST, NOW),
        Err(SessionError::WrongTokenType)
    );
}

#[test]
fn rotation_new_key_signs_old_key_verifies_until_retired() {
    let r1 = ring();
    let old_kid = r1.active_kid().to_owned();
    let old_not_after = NOW + LIFETIME;
    assert_eq!(r1.active_not_after(), old_not_after);
    assert!(!r1.needs_rotation(NOW + ROTATE - 1, ROTATE, TTL));
    assert!(r1.needs_rotation(NOW + ROTATE, ROTATE, TTL));
    // Late rotation: a session issued now would outlive the key.
    assert!(r1.needs_rotation(old_not_after - TTL + 1, 10 * ROTATE, TTL));

    // A session signed just before rotation, living the full TTL.
    let rotate_at = NOW + ROTATE;
    let old_tok = r1.issue(&claims(rotate_at - 1)).unwrap();

    let new_record = r1.rotate(rotate_at, LIFETIME).unwrap();
    let r2 = r1.with_record(new_record.clone(), rotate_at).unwrap();
    assert_ne!(r2.active_kid(), old_kid);
    assert_eq!(r2.records().len(), 2);

    // New tokens carry the new kid.
    let new_tok = r2.issue(&claims(rotate_at)).unwrap();
    assert_eq!(header_of(&new_tok)["kid"], r2.active_kid());
    assert!(r2.verify(&new_tok, HOST, rotate_at).is_ok());

    // The old session still verifies until it expires: retire_after covers it…
    assert!(r2.verify(&old_tok, HOST, rotate_at + 10).is_ok());
    assert!(r2.verify(&old_tok, HOST, rotate_at - 1 + TTL + 59).is_ok());
    // …and its key is still published for apps.
    assert!(r2.jwks().contains(&old_kid));

    // At not_after the old key no longer verifies, even a token whose own
    // exp would still be acceptable (a forged long-lived one).
    let mut long = claims(NOW);
    long.exp = old_not_after; // the longest the old key will sign
    let long_tok = r1.issue(&long).unwrap();
    assert!(r2.verify(&long_tok, HOST, old_not_after - 1).is_ok());
    assert_eq!(
        r2.verify(&long_tok, HOST, old_not_after),
        Err(SessionError::KeyRetired)
    );

    // A ring built after retirement leaves the key out entirely.
    let r3 = KeyRing::from_records(ISS, r2.records().to_vec(), old_not_after).unwrap();
    assert_eq!(r3.records(), &[new_record][..]);
    assert!(!r3.jwks().contains(&old_kid));
    assert_eq!(
        r3.verify(&long_tok, HOST, old_not_after),
        Err(SessionError::UnknownKid)
    );
    let fresh = r3.issue(&claims(old_not_after)).unwrap();
    assert!(r3.verify(&fresh, HOST, old_not_after).is_ok());
    assert_eq!(header_of(&fresh)["kid"], header_of(&new_tok)["kid"]);
}

#[test]
fn a_session_longer_than_the_key_is_not_issued() {
    let r = ring();
    let mut c = claims(NOW);
    c.exp = r.active_not_after() + 1;
    assert_eq!(r.issue(&c), Err(SessionError::NoSigningKey));
}

#[test]
fn replicas_rotating_together_agree_on_the_signer() {
    let r = ring();
    let a = r.rotate(NOW + 10, LIFETIME).unwrap();
    let b = r.rotate(NOW + 10, LIFETIME).unwrap();
    let mut all = r.records().to_vec();
    all.extend([a.clone(), b.clone()]);
    let x = KeyRing::from_records(ISS, all.clone(), NOW + 10).unwrap();
    all.reverse();
    let y = KeyRing::from_records(ISS, all, NOW + 10).unwrap();
    assert_eq!(x.active_kid(), y.active_kid());
    assert_eq!(x.active_kid(), a.kid.clone().max(b.kid.clone()));
    // Whichever signed, the other verifies.
    let tok = x.issue(&claims(NOW + 10)).unwrap();
    assert!(y.verify(&tok, HOST, NOW + 10).is_ok());
}

#[test]
fn records_round_trip_through_the_store_type() {
    let r = ring();
    let rec = r.records()[0].clone();
    let row = crate::store::SigningKey::try_from(&rec).unwrap();
    assert_eq!(row.kid, rec.kid);
    assert_eq!(row.algorithm, "EdDSA");
    assert_eq!(SigningKeyRecord::from(row), rec);
    let mut bad = rec.clone();
    bad.not_after = i64::MAX;
    assert!(crate::store::SigningKey::try_from(&bad).is_err());
}

#[test]
fn records_serialize_and_rebuild_the_same_ring() {
    let r1 = ring();
    let json = serde_json::to_string(r1.records()).unwrap();
    let back: Vec<SigningKeyRecord> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r1.records());
    let r2 = KeyRing::from_records(ISS, back, NOW).unwrap();
    assert_eq!(r2.active_kid(), r1.active_kid());
    let tok = r1.issue(&claims(NOW)).unwrap();
    assert!(r2.verify(&tok, HOST, NOW).is_ok());
    // Debug never shows the private key.
    let dbg = format!("{:?}", r1.records()[0]);
    assert!(dbg.contains("redacted"));
    assert!(!dbg.contains(&b64e(&r1.records()[0].private_pkcs8_der)));
}

#[test]
fn from_records_rejects_bad_records() {
    assert_eq!(
        KeyRing::from_records(ISS, vec![], NOW).unwrap_err(),
        SessionError::NoSigningKey
    );
    let r = SigningKeyRecord::generate(NOW - 100, NOW).unwrap();
    assert_eq!(
        KeyRing::from_records(ISS, vec![r], NOW).unwrap_err(),
        SessionError::NoSigningKey,
        "a retired key alone cannot sign"
    );
    let mut es = SigningKeyRecord::generate(NOW, NOW + 10).unwrap();
    es.algorithm = "ES256".into();
    assert!(matches!(
        KeyRing::from_records(ISS, vec![es], NOW),
        Err(SessionError::InvalidKey(_))
    ));
    let mut mismatched = SigningKeyRecord::generate(NOW, NOW + LIFETIME).unwrap();
    mismatched.public = SigningKeyRecord::generate(NOW, NOW + LIFETIME)
        .unwrap()
        .public;
    assert!(matches!(
        KeyRing::from_records(ISS, vec![mismatched], NOW),
        Err(SessionError::InvalidKey(_))
    ));
    let mut garbage = SigningKeyRecord::generate(NOW, NOW + LIFETIME).unwrap();
    garbage.private_pkcs8_der = vec![1, 2, 3];
    assert!(matches!(
        KeyRing::from_records(ISS, vec![garbage], NOW),
        Err(SessionError::InvalidKey(_))
    ));
    let a = SigningKeyRecord::generate(NOW, NOW + LIFETIME).unwrap();
    assert!(matches!(
        KeyRing::from_records(ISS, vec![a.clone(), a], NOW),
        Err(SessionError::InvalidKey(_))
    ));
}

#[test]
fn kid_is_the_rfc7638_thumbprint() {
    // RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
    let x = b64d("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
    assert_eq!(
        thumbprint(&x),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
}

#[test]
fn jwks_lists_public_keys_only() {
    let r = ring();
    let jwks: serde_json::Value = serde_json::from_str(r.jwks()).unwrap();
    let k = &jwks["keys"][0];
    assert_eq!(k["kty"], "OKP");
    assert_eq!(k["crv"], "Ed25519");
    assert_eq!(k["use"], "sig");
    assert_eq!(k["alg"], "EdDSA");
    assert_eq!(k["kid"], r.active_kid());
    assert!(k.get("d").is_none(), "no private part");
}

#[test]
fn assertion_verifies_against_jwks() {
    let ring = ring();
    let user = claims(NOW);
    let a = ring.assertion(&user, "payroll", NOW).unwrap();

    let back = ring.verify_assertion(&a, "payroll", NOW).unwrap();
    assert_eq!(back.sub, user.sub);
    assert_eq!(back.email, user.email);
    assert_eq!(back.user_type, UserType::Guest);
    assert_eq!(back.groups, *user.groups);
    assert_eq!(back.aud, "payroll");
    assert!(back.exp - back.iat <= 60);
    assert_eq!(
        ring.verify_assertion(&a, "hr", NOW),
        Err(SessionError::WrongAudience)
    );
    assert_eq!(
        ring.verify_assertion(&a, "payroll", NOW + 120),
        Err(SessionError::Expired)
    );

    // What an app does: take /.portcullis/jwks.json and verify with a
    // stock JWT library.
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(ring.jwks()).unwrap();
    let jwk = set.find(ring.active_kid()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_audience(&["payroll"]);
    v.set_issuer(&[ISS]);
    v.validate_exp = false; // the library reads the real clock; NOW is fixed
    v.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<AssertionClaims>(&a, &key, &v).unwrap();
    assert_eq!(data.claims, back);

    // And through our own bearer verifier fed with the same JWKS.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, ring.jwks()).unwrap();
    let cfg = BearerConfig::new("self", ISS, "payroll", JwksSource::File(path));
    let bv = BearerVerifier::new(cfg).unwrap();
    let c = bv.verify(&a, NOW).unwrap();
    // A bearer token's subject is qualified by the idp that issued it.
    assert_eq!(c.sub, format!("self:{}", user.sub));
}
