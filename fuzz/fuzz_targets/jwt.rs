//! Tokens against the two verifiers on the request path: the gateway's
//! session token (`KeyRing::verify`, the cookie) and external bearer tokens
//! (`BearerVerifier::verify`, `Authorization: Bearer`).
//!
//! Inputs are either arbitrary bytes, or a token built from a fuzzed header
//! and claims (the forgeries of RFC 8725 §2: `alg: none`, HS256 keyed with
//! the public key, `kid`/`jku`/`jwk` injection, `crit`, `exp`/`nbf` as
//! strings, empty, zero and bit-flipped signatures, one kind of token
//! presented as the other) and signed with a real key, a wrong one or none.
//! Properties:
//! - nothing panics; arbitrary bytes never verify;
//! - a token verifies only when a key the verifier trusts signed exactly
//!   those bytes with an allowed algorithm (`EdDSA` and the session `typ`
//!   for the cookie; an allow-listed, non-HMAC `alg` for bearer tokens);
//! - what verifies has the configured issuer and audience, is inside its
//!   time window (with the 60 s leeway), and for bearer tokens has numeric
//!   `exp`/`nbf`/`iat` (GHSA-h395-gr6q-cpjc: a string `exp` is not a
//!   date) and a non-empty `sub`.
#![no_main]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use portcullis::session::{BearerConfig, BearerVerifier, JwksSource, KeyRing};
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

const NOW: i64 = 1_900_000_000;
const LEEWAY: i64 = 60;
const ISSUER: &str = "https://gateway.test";
const HOST: &str = "app.test";
const IDP_ISSUER: &str = "https://idp.test";
const IDP_AUDIENCE: &str = "api://portcullis";
const SESSION_TYP: &str = "portcullis-session+jwt";

struct Keys {
    ring: KeyRing,
    ring_signer: Ed25519KeyPair,
    bearer: BearerVerifier,
    ed: Ed25519KeyPair,
    ec: EcdsaKeyPair,
    /// An Ed25519 key no verifier knows.
    stranger: Ed25519KeyPair,
    jwks: String,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let ring = KeyRing::generate(ISSUER, NOW - 3600, 90 * 24 * 3600).expect("a key ring");
    let record = &ring.records()[0];
    let ring_signer = Ed25519KeyPair::from_pkcs8(&record.private_pkcs8_der).expect("ring key");
    let ed = Ed25519KeyPair::generate().expect("ed25519");
    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("p-256");
    let p = ec.public_key().as_ref();
    let jwks = json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key().as_ref()), "kid": "ed",
         "use": "sig", "alg": "EdDSA"},
        {"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..65]), "kid": "ec",
         "use": "sig"},
    ]})
    .to_string();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, &jwks).expect("write jwks");
    let bearer = BearerVerifier::new(BearerConfig::new(
        "partner",
        IDP_ISSUER,
        IDP_AUDIENCE,
        JwksSource::File(file),
    ))
    .expect("bearer verifier");
    drop(dir);
    Keys {
        ring,
        ring_signer,
        bearer,
        ed,
        ec,
        stranger: Ed25519KeyPair::generate().expect("ed25519"),
        jwks,
    }
});

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&k, msg).as_ref().to_vec()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signer {
    Ring,
    BearerEd,
    BearerEc,
    Stranger,
    /// HS256 keyed with public key material (key confusion).
    HmacWithPublicKey,
    Empty,
    Zeros,
    Garbage,
}

const SIGNERS: &[Signer] = &[
    Signer::Ring,
    Signer::BearerEd,
    Signer::BearerEc,
    Signer::Stranger,
    Signer::HmacWithPublicKey,
    Signer::Empty,
    Signer::Zeros,
    Signer::Garbage,
];

fn pick_json(u: &mut Unstructured<'_>, options: &[Value]) -> Result<Option<Value>> {
    Ok(match u.int_in_range(0..=9)? {
        0 => None,
        1 => Some(Value::String(String::arbitrary(u)?)),
        2 => Some(json!(i64::arbitrary(u)?)),
        _ => Some(u.choose(options)?.clone()),
    })
}

fn time_value(u: &mut Unstructured<'_>, around: i64) -> Result<Option<Value>> {
    let t = around + i64::from(i32::arbitrary(u)? % 7200);
    Ok(match u.int_in_range(0..=9)? {
        0 => None,
        1 => Some(json!(t.to_string())),
        2 => Some(json!(t as f64 + 0.5)),
        3 => Some(json!(u64::MAX)),
        4 => Some(json!(i64::MIN)),
        5 => Some(json!(1e300)),
        6 => Some(Value::Null),
        7 => Some(json!([t])),
        _ => Some(json!(t)),
    })
}

fn header(u: &mut Unstructured<'_>, kid: &str) -> Result<Map<String, Value>> {
    let mut h = Map::new();
    let algs = [
        json!("EdDSA"),
        json!("ES256"),
        json!("RS256"),
        json!("PS256"),
        json!("HS256"),
        json!("none"),
        json!("None"),
        json!("eddsa"),
        json!(""),
    ];
    let typs = [
        json!(SESSION_TYP),
        json!("JWT"),
        json!("at+jwt"),
        json!(null),
    ];
    let kids = [
        json!(kid),
        json!("ed"),
        json!("ec"),
        json!(""),
        json!("../../etc/passwd"),
    ];
    for (name, options) in [("alg", &algs[..]), ("typ", &typs[..]), ("kid", &kids[..])] {
        if let Some(v) = pick_json(u, options)? {
            h.insert(name.into(), v);
        }
    }
    if u.ratio(1, 8)? {
        h.insert("crit".into(), json!(["exp"]));
    }
    if u.ratio(1, 8)? {
        h.insert("jku".into(), json!("https://attacker.test/jwks.json"));
    }
    if u.ratio(1, 8)? {
        let stranger = b64(KEYS.stranger.public_key().as_ref());
        h.insert(
            "jwk".into(),
            json!({"kty": "OKP", "crv": "Ed25519", "x": stranger}),
        );
    }
    Ok(h)
}

fn claims(u: &mut Unstructured<'_>, now: i64) -> Result<Map<String, Value>> {
    let mut c = Map::new();
    let isss = [
        json!(ISSUER),
        json!(IDP_ISSUER),
        json!("https://idp.test/"),
        json!(null),
    ];
    let auds = [
        json!(HOST),
        json!(IDP_AUDIENCE),
        json!([IDP_AUDIENCE, "other"]),
        json!(["other"]),
        json!("APP.TEST"),
    ];
    let subs = [json!("user-1"), json!(""), json!(7)];
    for (name, options) in [("iss", &isss[..]), ("aud", &auds[..]), ("sub", &subs[..])] {
        if let Some(v) = pick_json(u, options)? {
            c.insert(name.into(), v);
        }
    }
    for (name, around) in [
        ("exp", now + 600),
        ("iat", now - 60),
        ("nbf", now - 60),
        ("auth_time", now - 120),
    ] {
        if let Some(v) = time_value(u, around)? {
            c.insert(name.into(), v);
        }
    }
    let fixed = [
        ("email", json!("anna@contoso.com")),
        (
            "user_type",
            json!(if bool::arbitrary(u)? {
                "member"
            } else {
                "guest"
            }),
        ),
        ("groups", json!(["staff", "admins"])),
        ("idp", json!("partner")),
        ("amr", json!(["pwd", "mfa"])),
        ("sid", json!("s1")),
        ("jti", json!("j1")),
    ];
    for (name, v) in fixed {
        if u.ratio(4, 5)? {
            c.insert(name.into(), v);
        }
    }
    Ok(c)
}

fn sign(u: &mut Unstructured<'_>, signer: Signer, input: &[u8]) -> Result<Vec<u8>> {
    let k = &*KEYS;
    Ok(match signer {
        Signer::Ring => k.ring_signer.sign(input).as_ref().to_vec(),
        Signer::BearerEd => k.ed.sign(input).as_ref().to_vec(),
        Signer::BearerEc => {
            k.ec.sign(&SystemRandom::new(), input)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default()
        }
        Signer::Stranger => k.stranger.sign(input).as_ref().to_vec(),
        Signer::HmacWithPublicKey => {
            let secret = match u.int_in_range(0..=2)? {
                0 => k.jwks.as_bytes().to_vec(),
                1 => k.ed.public_key().as_ref().to_vec(),
                _ => k.ring.records()[0].public.clone(),
            };
            hmac_sha256(&secret, input)
        }
        Signer::Empty => Vec::new(),
        Signer::Zeros => vec![0; *u.choose(&[64usize, 32, 1])?],
        Signer::Garbage => Vec::<u8>::arbitrary(u)?,
    })
}

/// Numeric date as the bearer verifier must read it (RFC 7519 §2).
fn numeric(c: &Map<String, Value>, name: &str) -> Option<Option<i64>> {
    match c.get(name) {
        None => Some(None),
        Some(v) if v.is_i64() => v.as_i64().map(Some),
        Some(v) if v.is_u64() => Some(Some(i64::MAX)),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| Some(f.floor() as i64)),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let keys = &*KEYS;
    let Ok(mode) = u.int_in_range(0..=3) else {
        return;
    };
    let Ok(skew) = u.int_in_range(-900i64..=900) else {
        return;
    };
    let now = NOW + skew;

    if mode == 0 {
        // Any bytes at all never verify.
        let raw = u.take_rest();
        let token = String::from_utf8_lossy(raw);
        assert!(keys.ring.verify(&token, HOST, now).is_err(), "{token:?}");
        assert!(keys.bearer.verify(&token, now).is_err(), "{token:?}");
        return;
    }

    let (Ok(h), Ok(c), Ok(signer)) = (
        header(&mut u, keys.ring.active_kid()),
        claims(&mut u, now),
        u.choose(SIGNERS).copied(),
    ) else {
        return;
    };
    let header_json = if mode == 3 {
        // Header bytes as given: duplicate keys, odd encodings, not JSON.
        match Vec::<u8>::arbitrary(&mut u) {
            Ok(b) => b,
            Err(_) => return,
        }
    } else {
        Value::Object(h.clone()).to_string().into_bytes()
    };
    let mut token = format!(
        "{}.{}",
        b64(&header_json),
        b64(Value::Object(c.clone()).to_string().as_bytes())
    );
    let Ok(mut sig) = sign(&mut u, signer, token.as_bytes()) else {
        return;
    };
    let flipped = mode == 2 && !sig.is_empty();
    if flipped {
        let i = usize::from(u.arbitrary::<u16>().unwrap_or(0)) % sig.len();
        sig[i] ^= 1 << (u.arbitrary::<u8>().unwrap_or(0) % 8);
    }
    token.push('.');
    token.push_str(&b64(&sig));
    // Parsed independently, to say what may verify.
    let parsed: Option<Map<String, Value>> = serde_json::from_slice(&header_json).ok();
    let hdr = |name: &str| {
        parsed
            .as_ref()
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
    };

    if let Ok(got) = keys.ring.verify(&token, HOST, now) {
        assert_eq!(signer, Signer::Ring, "{token}");
        assert!(!flipped, "a flipped signature verified: {token}");
        assert_eq!(hdr("alg"), Some("EdDSA"), "{token}");
        assert_eq!(hdr("typ"), Some(SESSION_TYP), "{token}");
        assert_eq!(hdr("kid"), Some(keys.ring.active_kid()), "{token}");
        assert!(
            parsed.as_ref().is_some_and(|p| !p.contains_key("crit")),
            "{token}"
        );
        assert_eq!(&*got.iss, ISSUER);
        assert_eq!(&*got.aud, HOST);
        assert!(now < got.exp.saturating_add(LEEWAY), "expired: {token}");
        assert!(
            got.iat <= now.saturating_add(LEEWAY),
            "issued in the future: {token}"
        );
        assert_eq!(
            c.get("exp").and_then(Value::as_i64),
            Some(got.exp),
            "exp as a number"
        );
    }

    if let Ok(got) = keys.bearer.verify(&token, now) {
        assert!(
            matches!(signer, Signer::BearerEd | Signer::BearerEc),
            "{signer:?} verified as bearer: {token}"
        );
        assert!(!flipped, "a flipped signature verified: {token}");
        let alg = hdr("alg");
        assert!(
            matches!(
                (signer, alg),
                (Signer::BearerEd, Some("EdDSA")) | (Signer::BearerEc, Some("ES256"))
            ),
            "{signer:?} with alg {alg:?}: {token}"
        );
        assert!(
            parsed.as_ref().is_some_and(|p| !p.contains_key("crit")),
            "{token}"
        );
        assert_eq!(c.get("iss").and_then(Value::as_str), Some(IDP_ISSUER));
        assert_eq!(&*got.aud, IDP_AUDIENCE);
        let aud_ok = match c.get("aud") {
            Some(Value::String(a)) => a == IDP_AUDIENCE,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(IDP_AUDIENCE)),
            _ => false,
        };
        assert!(aud_ok, "{token}");
        let exp = numeric(&c, "exp").flatten().expect("a numeric exp");
        assert_eq!(got.exp, exp);
        assert!(now < exp.saturating_add(LEEWAY), "expired: {token}");
        for name in ["nbf", "iat", "auth_time"] {
            let t = numeric(&c, name).unwrap_or_else(|| panic!("{name} verified as a non-number"));
            if name != "auth_time" {
                assert!(
                    t.is_none_or(|t| t <= now.saturating_add(LEEWAY)),
                    "{name} in the future: {token}"
                );
            }
        }
        assert!(!got.sub.is_empty());
        // The subject, qualified by the idp's name (never a directory id).
        let sub = c
            .get("sub")
            .and_then(Value::as_str)
            .map(|s| format!("partner:{s}"));
        assert_eq!(sub.as_deref(), Some(got.sub.as_str()));
    }
});
