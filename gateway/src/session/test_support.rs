//! Test keys, hand-built tokens and a tiny JWKS server. Test-only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair, RsaPublicKeyComponents,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::jwt::b64e;

/// `b64(header).b64(claims).b64(sign(signing input))`, any header at all.
pub fn token(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let mut t = format!(
        "{}.{}",
        b64e(serde_json::to_vec(header).unwrap()),
        b64e(serde_json::to_vec(claims).unwrap())
    );
    let sig = sign(t.as_bytes());
    t.push('.');
    t.push_str(&b64e(sig));
    t
}

/// HMAC-SHA256 by hand (RFC 2104), to forge key-confusion tokens.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

pub struct EdKey(pub Ed25519KeyPair);

impl EdKey {
    pub fn new() -> Self {
        EdKey(Ed25519KeyPair::generate().unwrap())
    }
    pub fn jwk(&self, kid: &str) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64e(self.0.public_key().as_ref()),
               "kid": kid, "use": "sig", "alg": "EdDSA"})
    }
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        token(
            &json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}),
            claims,
            |m| self.0.sign(m).as_ref().to_vec(),
        )
    }
}

pub struct EcKey(pub EcdsaKeyPair);

impl EcKey {
    pub fn new() -> Self {
        EcKey(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }
    pub fn jwk(&self, kid: &str) -> Value {
        let p = self.0.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": b64e(&p[1..33]), "y": b64e(&p[33..65]),
               "kid": kid, "use": "sig", "alg": "ES256"})
    }
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        token(
            &json!({"alg": "ES256", "typ": "JWT", "kid": kid}),
            claims,
            |m| {
                self.0
                    .sign(&SystemRandom::new(), m)
                    .unwrap()
                    .as_ref()
                    .to_vec()
            },
        )
    }
}

pub struct RsaKey(pub RsaKeyPair);

impl RsaKey {
    pub fn new() -> Self {
        RsaKey(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }
    /// Without `alg`: the key may verify any RSA algorithm in the allow-list.
    pub fn jwk(&self, kid: &str) -> Value {
        let c = RsaPublicKeyComponents::<Vec<u8>>::from(self.0.public_key());
        json!({"kty": "RSA", "n": b64e(&c.n), "e": b64e(&c.e), "kid": kid})
    }
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        token(&json!({"alg": "RS256", "kid": kid}), claims, |m| {
            let mut sig = vec![0; self.0.public_modulus_len()];
            self.0
                .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), m, &mut sig)
                .unwrap();
            sig
        })
    }
}

pub fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

/// A JWKS server on 127.0.0.1:0 answering every request with the current
/// body. Dies on `Drop` or `stop()` (connections are then refused).
pub struct JwksServer {
    pub url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(body: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let body = Arc::new(Mutex::new(body));
        let hits = Arc::new(AtomicUsize::new(0));
        let (b, h) = (Arc::clone(&body), Arc::clone(&hits));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let (b, h) = (Arc::clone(&b), Arc::clone(&h));
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let body = b.lock().unwrap().clone();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(resp.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        JwksServer {
            url,
            body,
            hits,
            task,
        }
    }

    pub fn set_body(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stops listening; returns once the listener is closed.
    pub async fn stop(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
