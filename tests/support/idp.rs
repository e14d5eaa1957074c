//! The partner's identity provider (`idps: [{ type: jwt }]`): an Ed25519 key
//! whose JWKS the gateway reads from a file, and bearer tokens signed with it
//! (or forged in the usual ways).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::path::Path;

pub const ISSUER: &str = "https://idp.partner.example";
pub const AUDIENCE: &str = "portcullis";
pub const KID: &str = "partner-1";

pub struct PartnerIdp {
    pkcs8: Vec<u8>,
    /// The raw 32-byte public key (the JWK's `x`).
    pub public: Vec<u8>,
}

fn ed25519() -> (Vec<u8>, Vec<u8>) {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("Ed25519 key");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("Ed25519 pair");
    (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
}

impl PartnerIdp {
    pub fn new() -> PartnerIdp {
        let (pkcs8, public) = ed25519();
        PartnerIdp { pkcs8, public }
    }

    /// The JWKS document the gateway is configured with.
    pub fn jwks(&self) -> String {
        json!({ "keys": [{
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
            "kid": KID, "x": B64.encode(&self.public),
        }]})
        .to_string()
    }

    pub fn write_jwks(&self, path: &Path) {
        std::fs::write(path, self.jwks()).expect("write JWKS");
    }

    /// Valid claims for `sub` / `email`, issued now, valid for an hour.
    pub fn claims(&self, sub: &str, email: &str) -> Value {
        let now = super::unix_now();
        json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "email": email,
            "groups": ["partners"], "iat": now, "exp": now + 3600,
        })
    }

    /// A token over `claims`, signed with the IdP's key.
    pub fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(KID.to_string());
        jsonwebtoken::encode(&h, claims, &EncodingKey::from_ed_der(&self.pkcs8)).expect("sign")
    }

    /// A token with exactly this header over `claims`, signed with the IdP's
    /// real Ed25519 key (for headers `jsonwebtoken` would not write).
    #[allow(dead_code, reason = "only the token corpus writes odd headers")]
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let pair = Ed25519KeyPair::from_pkcs8(&self.pkcs8).expect("Ed25519 pair");
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = pair.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    /// The same claims signed by another key that claims the IdP's `kid`.
    pub fn sign_with_other_key(&self, claims: &Value) -> String {
        let (pkcs8, _) = ed25519();
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(KID.to_string());
        jsonwebtoken::encode(&h, claims, &EncodingKey::from_ed_der(&pkcs8)).expect("sign")
    }

    /// An unsigned token: `alg: none`, empty signature.
    pub fn unsigned(&self, claims: &Value) -> String {
        let header = json!({ "alg": "none", "typ": "JWT", "kid": KID }).to_string();
        format!("{}.{}.", B64.encode(header), B64.encode(claims.to_string()))
    }

    /// Algorithm confusion: HS256 with the IdP's public key (as published in
    /// the JWKS) as the HMAC secret.
    pub fn hs256_with_public_key(&self, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(KID.to_string());
        let secret = B64.encode(&self.public);
        jsonwebtoken::encode(&h, claims, &EncodingKey::from_secret(secret.as_bytes()))
            .expect("sign HS256")
    }
}
