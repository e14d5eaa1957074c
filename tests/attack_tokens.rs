//! Attack corpus (issue 8, item 2): JWT forgeries against the bearer
//! (`type: jwt`) idps and the session cookie, and tokens of one kind
//! presented as another, against the real `portcullis serve`.
//!
//! Three bearer idps with real keys of each family — the harness's partner
//! (Ed25519), an EC P-256 and an RSA-2048 one — each first proven to accept
//! a good token (so a refusal below is the forgery's, not a broken setup).
//! Invariant for every forged case: `401` and the recording upstream sees
//! nothing. `tests/gateway.rs` already covers, for the Ed25519 idp, `alg:
//! none`, HS256 with its raw public key, another key under its `kid`, wrong
//! `aud`/`iss`, an expired token, and an assertion replayed as a cookie;
//! those are not repeated here.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64STD, URL_SAFE_NO_PAD as B64};
use portcullis::session::{SessionClaims, UserType};
use serde_json::{Value, json};
use std::path::Path;
use support::gateway::{Gateway, MEMBER_DOMAIN, app};
use support::idp::{AUDIENCE, ISSUER, KID};
use support::unix_now;
use support::upstream::Upstream;

/// `(name, source, host, bearer, cookie)`.
type Substitution = (
    &'static str,
    &'static str,
    &'static str,
    Option<String>,
    Option<String>,
);

const EC_ISSUER: &str = "https://ec.partner.example";
const EC_KID: &str = "ec-1";
const RSA_ISSUER: &str = "https://rsa.partner.example";
const RSA_KID: &str = "rsa-1";

/// The EC and RSA idps' keys, written as JWKS files the gateway reads.
struct Keys {
    ec: Vec<u8>,
    /// SubjectPublicKeyInfo PEM of the EC key (what an attacker would try
    /// as an HMAC secret).
    ec_pem: String,
    rsa: Vec<u8>,
    rsa_pem: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b = B64STD.encode(der);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
    out.stdout
}

impl Keys {
    fn write(dir: &Path) -> Keys {
        let rng = SystemRandom::new();
        let ec = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &ec).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 65);
        let ec_jwks = json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": EC_KID,
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]),
        }]});
        std::fs::write(dir.join("ec.jwks.json"), ec_jwks.to_string()).unwrap();
        let mut spki = hex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
        spki.extend_from_slice(&point);
        let ec_pem = pem("PUBLIC KEY", &spki);

        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-outform",
                "DER",
                "-out",
                "rsa.der",
            ],
        );
        let rsa = std::fs::read(dir.join("rsa.der")).unwrap();
        let rsa_pem = String::from_utf8(openssl(
            dir,
            &["pkey", "-inform", "DER", "-in", "rsa.der", "-pubout"],
        ))
        .unwrap();
        let modulus = String::from_utf8(openssl(
            dir,
            &[
                "rsa", "-inform", "DER", "-in", "rsa.der", "-noout", "-modulus",
            ],
        ))
        .unwrap();
        let n = hex(modulus.trim().trim_start_matches("Modulus="));
        let rsa_jwks = json!({ "keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": RSA_KID,
            "n": B64.encode(&n), "e": "AQAB",
        }]});
        std::fs::write(dir.join("rsa.jwks.json"), rsa_jwks.to_string()).unwrap();
        Keys {
            ec,
            ec_pem,
            rsa,
            rsa_pem,
        }
    }

    fn es256(&self, input: &[u8]) -> Vec<u8> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.ec).unwrap();
        pair.sign(&SystemRandom::new(), input)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    /// A valid ECDSA signature in ASN.1 DER instead of JOSE's fixed R‖S.
    fn es256_der(&self, input: &[u8]) -> Vec<u8> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.ec).unwrap();
        pair.sign(&SystemRandom::new(), input)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    fn rsa(&self, pss: bool, input: &[u8]) -> Vec<u8> {
        // `openssl genpkey -outform DER` writes PKCS#1 for RSA.
        let pair = RsaKeyPair::from_der(&self.rsa).unwrap();
        let mut sig = vec![0u8; pair.public_modulus_len()];
        let alg = if pss {
            &RSA_PSS_SHA256
        } else {
            &RSA_PKCS1_SHA256
        };
        pair.sign(alg, &SystemRandom::new(), input, &mut sig)
            .unwrap();
        sig
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `header.claims.signature` with `sign` over the signing input.
fn jws(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig))
}

fn hs(alg: &str, secret: &[u8], header_kid: &str, claims: &Value) -> String {
    let algorithm = match alg {
        "HS256" => aws_lc_rs::hmac::HMAC_SHA256,
        "HS384" => aws_lc_rs::hmac::HMAC_SHA384,
        _ => aws_lc_rs::hmac::HMAC_SHA512,
    };
    let key = aws_lc_rs::hmac::Key::new(algorithm, secret);
    jws(
        &json!({ "alg": alg, "typ": "JWT", "kid": header_kid }),
        claims,
        |m| aws_lc_rs::hmac::sign(&key, m).as_ref().to_vec(),
    )
}

fn attacker_ed25519() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

fn claims_for(iss: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": iss, "aud": AUDIENCE, "sub": "svc-9", "email": format!("svc@{MEMBER_DOMAIN}"),
        "iat": now, "exp": now + 3600,
    })
}

const IDPS: &str = "  - { name: ec-partner, type: jwt, issuer: \"https://ec.partner.example\", audience: portcullis, jwks_file: ec.jwks.json, domains: [tailwindtraders.com] }\n  - { name: rsa-partner, type: jwt, issuer: \"https://rsa.partner.example\", audience: portcullis, jwks_file: rsa.jwks.json, domains: [tailwindtraders.com] }\n";

async fn start() -> (Gateway, Upstream, Keys) {
    let up = Upstream::start("main").await;
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::write(dir.path());
    let u = [up.address()];
    let mut collide = app("collide", &u, "");
    // A single-label app host spelled like the partner idp's name: the
    // verified-token cache is keyed by (host or idp name, token), so a
    // cookie verified for this host must not pass as that idp's bearer
    // token. (Today bearer tokens only go to idps whose `issuer` is the
    // token's `iss`, which the gateway's own issuer never is.)
    collide.hosts = vec!["partner-api".into()];
    let apps = [app("open", &u, ""), app("other", &u, ""), collide];
    let gw = Gateway::start_configured(dir, &apps, "policies: []\n", &[], IDPS, "").await;
    (gw, up, keys)
}

async fn status(gw: &Gateway, host: &str, auth: Option<&str>, cookie: Option<&str>) -> u16 {
    let mut rb = gw
        .get(host, "/api/items")
        .header("accept", "application/json");
    if let Some(t) = auth {
        rb = rb.header("authorization", format!("Bearer {t}"));
    }
    if let Some(c) = cookie {
        rb = rb.header("cookie", c);
    }
    rb.send().await.expect("request").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_bearer_tokens_are_refused() {
    let (gw, up, keys) = start().await;
    let attacker = Upstream::start("attacker").await;
    let evil = format!("http://{}/jwks.json", attacker.address());
    let idp = &gw.idp;
    let partner = claims_for(ISSUER);
    let ec = claims_for(EC_ISSUER);
    let rsa = claims_for(RSA_ISSUER);
    let ec_h = json!({ "alg": "ES256", "typ": "JWT", "kid": EC_KID });
    let rsa_h = json!({ "alg": "RS256", "typ": "JWT", "kid": RSA_KID });
    let ed_h = json!({ "alg": "EdDSA", "typ": "JWT", "kid": KID });

    // Controls: each idp accepts a good token.
    for (what, token) in [
        ("Ed25519", idp.sign(&partner)),
        ("ES256", jws(&ec_h, &ec, |m| keys.es256(m))),
        ("RS256", jws(&rsa_h, &rsa, |m| keys.rsa(false, m))),
    ] {
        assert_eq!(
            status(&gw, "open.test", Some(&token), None).await,
            200,
            "{what} control"
        );
    }
    let before = up.count();

    let with = |mut c: Value, k: &str, v: Value| {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        idp.sign_raw(&ed_h, &c)
    };
    let now = unix_now();
    let atk = attacker_ed25519();
    let atk_jwk =
        json!({ "kty": "OKP", "crv": "Ed25519", "x": B64.encode(atk.public_key().as_ref()) });
    let atk_sign = |h: Value, c: &Value| jws(&h, c, |m| atk.sign(m).as_ref().to_vec());
    let good = idp.sign(&partner);
    let (gh, gp, gs) = {
        let mut p = good.split('.');
        (
            p.next().unwrap().to_string(),
            p.next().unwrap().to_string(),
            p.next().unwrap().to_string(),
        )
    };
    let unsigned = |alg: &str| {
        format!(
            "{}.{gp}.",
            B64.encode(json!({ "alg": alg, "typ": "JWT", "kid": KID }).to_string())
        )
    };
    let p256_order = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

    // (name, source, token)
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "alg: None",
            "RFC 8725 §3.1; PortSwigger JWT 'none' case variants",
            unsigned("None"),
        ),
        ("alg: NONE", "RFC 8725 §3.1", unsigned("NONE")),
        ("alg: nOnE", "RFC 8725 §3.1", unsigned("nOnE")),
        (
            "alg: none keeping the real signature",
            "RFC 8725 §3.1",
            format!(
                "{}.{gp}.{gs}",
                B64.encode(json!({ "alg": "none", "kid": KID }).to_string())
            ),
        ),
        ("signature stripped", "RFC 7515 §5.2", format!("{gh}.{gp}.")),
        ("two parts", "RFC 7515 §7.1", format!("{gh}.{gp}")),
        (
            "five parts (JWE shape)",
            "RFC 7516 §7.1",
            format!("{gh}.{gp}.{gs}.x.y"),
        ),
        (
            "JWS JSON serialization",
            "RFC 7515 §7.2",
            json!({ "payload": gp, "protected": gh, "signature": gs }).to_string(),
        ),
        (
            "HS256 with the RSA public key PEM",
            "CVE-2015-9235 (algorithm confusion); RFC 8725 §2.1",
            hs("HS256", keys.rsa_pem.as_bytes(), RSA_KID, &rsa),
        ),
        (
            "HS384 with the RSA public key PEM",
            "CVE-2015-9235",
            hs("HS384", keys.rsa_pem.as_bytes(), RSA_KID, &rsa),
        ),
        (
            "HS512 with the RSA public key PEM",
            "CVE-2015-9235",
            hs("HS512", keys.rsa_pem.as_bytes(), RSA_KID, &rsa),
        ),
        (
            "HS256 with the EC public key PEM",
            "CVE-2015-9235; RFC 8725 §2.1",
            hs("HS256", keys.ec_pem.as_bytes(), EC_KID, &ec),
        ),
        (
            "HS256 with the JWKS document as secret",
            "RFC 8725 §3.1",
            hs("HS256", idp.jwks().as_bytes(), KID, &partner),
        ),
        (
            "ES256, r = s = 0 ('psychic signature')",
            "CVE-2022-21449",
            jws(&ec_h, &ec, |_| vec![0u8; 64]),
        ),
        (
            "ES256, r = s = n (the curve order)",
            "CVE-2022-21449 variant",
            jws(&ec_h, &ec, |_| {
                [p256_order.clone(), p256_order.clone()].concat()
            }),
        ),
        (
            "ES256, empty signature",
            "CVE-2022-21449 class",
            jws(&ec_h, &ec, |_| Vec::new()),
        ),
        (
            "ES256, a valid signature in DER instead of R‖S",
            "RFC 7518 §3.4",
            jws(&ec_h, &ec, |m| keys.es256_der(m)),
        ),
        (
            "ES256 naming the Ed25519 idp's kid",
            "RFC 8725 §3.1 (key/algorithm binding)",
            jws(&json!({ "alg": "ES256", "kid": KID }), &partner, |m| {
                keys.es256(m)
            }),
        ),
        (
            "PS256 with the key published for RS256",
            "RFC 7517 §4.4 (alg binds the key); RFC 8725 §3.1",
            jws(&json!({ "alg": "PS256", "kid": RSA_KID }), &rsa, |m| {
                keys.rsa(true, m)
            }),
        ),
        (
            "signed by the EC idp, claiming the partner's issuer",
            "RFC 8725 §3.8 (validate issuer against the key); mix-up",
            jws(&ec_h, &partner, |m| keys.es256(m)),
        ),
        (
            "signed by the RSA idp, claiming the EC idp's issuer",
            "RFC 8725 §3.8",
            jws(&rsa_h, &ec, |m| keys.rsa(false, m)),
        ),
        (
            "embedded jwk of the attacker's key",
            "CVE-2018-0114 (node-jose); RFC 7515 §4.1.3",
            atk_sign(
                json!({ "alg": "EdDSA", "kid": KID, "jwk": atk_jwk }),
                &partner,
            ),
        ),
        (
            "embedded jwk without kid",
            "CVE-2018-0114",
            atk_sign(json!({ "alg": "EdDSA", "jwk": atk_jwk }), &partner),
        ),
        (
            "jku pointing at the attacker",
            "RFC 7515 §4.1.2; RFC 8725 §3.10",
            atk_sign(
                json!({ "alg": "EdDSA", "kid": "atk", "jku": evil }),
                &partner,
            ),
        ),
        (
            "x5u pointing at the attacker",
            "RFC 7515 §4.1.5",
            atk_sign(
                json!({ "alg": "EdDSA", "kid": "atk", "x5u": evil }),
                &partner,
            ),
        ),
        (
            "x5c with a junk chain",
            "RFC 7515 §4.1.6",
            atk_sign(json!({ "alg": "EdDSA", "x5c": ["MIIBAA=="] }), &partner),
        ),
        (
            "kid path traversal",
            "PortSwigger JWT kid injection",
            atk_sign(
                json!({ "alg": "EdDSA", "kid": "../../../../../../dev/null" }),
                &partner,
            ),
        ),
        (
            "kid SQL injection",
            "PortSwigger JWT kid injection; RFC 8725 §3.10",
            atk_sign(
                json!({ "alg": "EdDSA", "kid": "x' UNION SELECT 'key" }),
                &partner,
            ),
        ),
        (
            "kid with a NUL suffix",
            "RFC 8725 §3.10",
            atk_sign(
                json!({ "alg": "EdDSA", "kid": format!("{KID}\u{0}x") }),
                &partner,
            ),
        ),
        (
            "kid missing, attacker's key",
            "RFC 7515 §4.1.4",
            atk_sign(json!({ "alg": "EdDSA" }), &partner),
        ),
        (
            "crit naming an unknown extension",
            "RFC 7515 §4.1.11 (MUST reject)",
            idp.sign_raw(
                &json!({ "alg": "EdDSA", "kid": KID, "crit": ["x-unknown"], "x-unknown": 1 }),
                &partner,
            ),
        ),
        (
            "exp as a string",
            "RFC 7519 §2 NumericDate, §4.1.4",
            with(partner.clone(), "exp", json!((now + 3600).to_string())),
        ),
        (
            "exp missing",
            "RFC 7519 §4.1.4; RFC 8725 §3.10",
            with(partner.clone(), "exp", Value::Null),
        ),
        (
            "exp true",
            "RFC 7519 §2",
            with(partner.clone(), "exp", json!(true)),
        ),
        (
            "exp as an array",
            "RFC 7519 §2",
            with(partner.clone(), "exp", json!([now + 3600])),
        ),
        (
            "exp in the past by a day",
            "RFC 7519 §4.1.4",
            with(partner.clone(), "exp", json!(now - 86_400)),
        ),
        (
            "nbf as a string in the future",
            "RFC 7519 §4.1.5",
            with(partner.clone(), "nbf", json!((now + 86_400).to_string())),
        ),
        (
            "nbf in the future",
            "RFC 7519 §4.1.5",
            with(partner.clone(), "nbf", json!(now + 86_400)),
        ),
        (
            "iat a day in the future",
            "RFC 7519 §4.1.6",
            with(partner.clone(), "iat", json!(now + 86_400)),
        ),
        (
            "sub missing",
            "RFC 8725 §3.8",
            with(partner.clone(), "sub", Value::Null),
        ),
        (
            "sub empty",
            "RFC 8725 §3.8",
            with(partner.clone(), "sub", json!("")),
        ),
        (
            "sub a number",
            "RFC 7519 §4.1.2 (StringOrURI)",
            with(partner.clone(), "sub", json!(42)),
        ),
        (
            "aud missing",
            "RFC 8725 §3.9",
            with(partner.clone(), "aud", Value::Null),
        ),
        (
            "aud a list without us",
            "RFC 7519 §4.1.3",
            with(partner.clone(), "aud", json!(["someone-else"])),
        ),
        (
            "aud differs in case",
            "RFC 7519 §4.1.3 (case-sensitive)",
            with(partner.clone(), "aud", json!(AUDIENCE.to_uppercase())),
        ),
        (
            "iss with a trailing slash",
            "RFC 8725 §3.8",
            with(partner.clone(), "iss", json!(format!("{ISSUER}/"))),
        ),
        (
            "iss in upper case",
            "RFC 8725 §3.8",
            with(partner.clone(), "iss", json!(ISSUER.to_uppercase())),
        ),
        (
            "iss missing",
            "RFC 8725 §3.8",
            with(partner.clone(), "iss", Value::Null),
        ),
    ];
    let mut wrong = Vec::new();
    for (name, _source, token) in &cases {
        let s = status(&gw, "open.test", Some(token), None).await;
        if s != 401 {
            wrong.push(format!("{name}: {s}"));
        }
    }
    let seen: Vec<String> = up.seen()[before..].iter().map(|s| s.uri.clone()).collect();
    assert!(
        wrong.is_empty() && seen.is_empty(),
        "{} of {} forged bearer tokens accepted:\n{}\nupstream saw {seen:?}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    assert_eq!(
        attacker.count(),
        0,
        "the gateway fetched an attacker's jku/x5u"
    );
}

/// Session cookies (our own Ed25519 tokens) forged, misused or presented as
/// another kind of token, and other kinds presented as them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_tokens_of_the_wrong_kind_or_host_are_refused() {
    let (gw, up, _keys) = start().await;
    let (id, cookie) = gw.member("open.test", "tess", &["pwd"]).await;
    let token = cookie
        .strip_prefix("portcullis_session=")
        .unwrap()
        .to_string();
    // The cookie works where it was issued.
    assert_eq!(status(&gw, "open.test", None, Some(&cookie)).await, 200);
    let assertion = up
        .last()
        .header("x-portcullis-assertion")
        .unwrap()
        .to_string();
    let (_, collide_cookie) = gw.member("partner-api", "cole", &["pwd"]).await;
    assert_eq!(
        status(&gw, "partner-api", None, Some(&collide_cookie)).await,
        200
    );
    let collide_token = collide_cookie.strip_prefix("portcullis_session=").unwrap();

    let keys = gw.keys().await;
    let now = unix_now();
    let claims = |f: &dyn Fn(&mut SessionClaims)| {
        let mut c = SessionClaims {
            iss: portcullis::server::ISSUER.into(),
            sub: id.clone(),
            aud: "open.test".into(),
            email: format!("tess@{MEMBER_DOMAIN}"),
            user_type: UserType::Member,
            groups: Default::default(),
            idp: "partner-api".into(),
            amr: vec!["pwd".to_string()].into(),
            auth_time: now - 60,
            iat: now,
            exp: now + 3600,
            sid: portcullis::session::new_sid(),
        };
        f(&mut c);
        c
    };
    let issue = |c: SessionClaims| format!("portcullis_session={}", keys.issue(&c).unwrap());
    let header: Value =
        serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    let payload = token.split('.').nth(1).unwrap().to_string();
    let mut none = header.clone();
    none["alg"] = json!("none");
    let atk = attacker_ed25519();
    let resigned = format!(
        "portcullis_session={}",
        jws(
            &header,
            &serde_json::from_slice::<Value>(&B64.decode(&payload).unwrap()).unwrap(),
            |m| atk.sign(m).as_ref().to_vec()
        )
    );
    // An assertion for an "app" named like the host: same key, same
    // claims shape, only its `typ` says it is not a session (RFC 8725 §3.11).
    let host_named_assertion = keys.assertion(&claims(&|_| {}), "open.test", now).unwrap();
    let partner = gw.idp.sign(&claims_for(ISSUER));
    let before = up.count();

    // (name, source, host, bearer, cookie)
    let cases: Vec<Substitution> = vec![
        (
            "session cookie as a bearer token",
            "RFC 8725 §2.8 (cross-JWT confusion)",
            "open.test",
            Some(token.clone()),
            None,
        ),
        (
            "session cookie on another app host",
            "RFC 8725 §3.9 (audience)",
            "other.test",
            None,
            Some(cookie.clone()),
        ),
        (
            "assertion as a bearer token",
            "RFC 8725 §2.8",
            "open.test",
            Some(assertion.clone()),
            None,
        ),
        (
            "assertion for an app named like the host, as a cookie",
            "RFC 8725 §3.11 (explicit typing)",
            "open.test",
            None,
            Some(format!("portcullis_session={host_named_assertion}")),
        ),
        (
            "partner bearer token as a cookie",
            "RFC 8725 §2.8",
            "open.test",
            None,
            Some(format!("portcullis_session={partner}")),
        ),
        (
            "session with alg none",
            "RFC 8725 §3.1",
            "open.test",
            None,
            Some(format!(
                "portcullis_session={}.{payload}.",
                B64.encode(none.to_string())
            )),
        ),
        (
            "session re-signed by another key under our kid",
            "RFC 7515 §5.2",
            "open.test",
            None,
            Some(resigned),
        ),
        (
            "session expired",
            "RFC 7519 §4.1.4",
            "open.test",
            None,
            Some(issue(claims(&|c| {
                c.iat = now - 7200;
                c.exp = now - 3600;
            }))),
        ),
        (
            "session issued in the future",
            "RFC 7519 §4.1.6",
            "open.test",
            None,
            Some(issue(claims(&|c| c.iat = now + 86_400))),
        ),
        (
            "session from another issuer",
            "RFC 8725 §3.8",
            "open.test",
            None,
            Some(issue(claims(&|c| c.iss = "https://evil.example".into()))),
        ),
        (
            "session for the host in upper case",
            "RFC 8725 §3.9",
            "open.test",
            None,
            Some(issue(claims(&|c| c.aud = "OPEN.TEST".into()))),
        ),
        (
            "session for the host with a port",
            "RFC 8725 §3.9",
            "open.test",
            None,
            Some(issue(claims(&|c| c.aud = "open.test:80".into()))),
        ),
        (
            "a cookie verified for host `partner-api` as a bearer token (idp of that name)",
            "verified-token cache scope",
            "open.test",
            Some(collide_token.to_string()),
            None,
        ),
    ];
    let mut wrong = Vec::new();
    for (name, _source, host, bearer, cookie) in &cases {
        let s = status(&gw, host, bearer.as_deref(), cookie.as_deref()).await;
        if s != 401 {
            wrong.push(format!("{name}: {s}"));
        }
    }
    let seen: Vec<String> = up.seen()[before..].iter().map(|s| s.uri.clone()).collect();
    assert!(
        wrong.is_empty() && seen.is_empty(),
        "{} of {} session substitutions accepted:\n{}\nupstream saw {seen:?}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}
