//! Passkey attacks (issue 20), each a kept case, against the real WebAuthn
//! checks (`portcullis::passkeys`, `webauthn-rs`) and a real store: a
//! software authenticator (ECDSA P-256 with `ring`, CBOR written by hand)
//! answers the gateway's own challenges, honestly or not.
//!
//! - an assertion made for another origin, or for another relying party id;
//! - a replayed assertion (the ceremony is single-use);
//! - a counter going backwards (a cloned authenticator);
//! - another user's credential id;
//! - a registration without user verification (required here);
//! - for the passkey sign-in (no user known beforehand): a user handle that
//!   is not the credential's owner's, a replayed sign-in assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use base64::Engine as _;
use portcullis::passkeys::{PasskeyError, Passkeys};
use portcullis::store::{NewUser, Store, User, UserType};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

const ORIGIN: &str = "https://auth.example";
const RP_ID: &str = "auth.example";

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A software authenticator with one P-256 key.
struct Authenticator {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    id: Vec<u8>,
}

impl Authenticator {
    fn new(id: u8) -> Authenticator {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Authenticator {
            key,
            rng,
            id: vec![id; 16],
        }
    }

    fn client_data(kind: &str, options: &serde_json::Value, origin: &str) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"].as_str().unwrap();
        serde_json::json!({
            "type": kind,
            "challenge": challenge,
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    /// `navigator.credentials.create`: attestation `none`.
    fn register(&self, options: &serde_json::Value, flags: u8) -> String {
        let client_data = Self::client_data("webauthn.create", options, ORIGIN);
        let public = self.key.public_key().as_ref();
        let (x, y) = (&public[1..33], &public[33..65]);
        let mut cose = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
        cose.extend_from_slice(x);
        cose.extend_from_slice(&[0x22, 0x58, 0x20]);
        cose.extend_from_slice(y);
        let mut auth = Sha256::digest(RP_ID.as_bytes()).to_vec();
        auth.push(flags | AT);
        auth.extend_from_slice(&0u32.to_be_bytes());
        auth.extend_from_slice(&[0u8; 16]);
        auth.extend_from_slice(&(self.id.len() as u16).to_be_bytes());
        auth.extend_from_slice(&self.id);
        auth.extend_from_slice(&cose);
        let mut att = vec![0xa3];
        att.extend_from_slice(&[0x63, b'f', b'm', b't', 0x64, b'n', b'o', b'n', b'e']);
        att.extend_from_slice(&[0x67, b'a', b't', b't', b'S', b't', b'm', b't', 0xa0]);
        att.extend_from_slice(&[0x68, b'a', b'u', b't', b'h', b'D', b'a', b't', b'a']);
        att.extend_from_slice(&[0x58, auth.len() as u8]);
        att.extend_from_slice(&auth);
        serde_json::json!({
            "id": b64(&self.id),
            "rawId": b64(&self.id),
            "type": "public-key",
            "extensions": {},
            "response": {
                "attestationObject": b64(&att),
                "clientDataJSON": b64(&client_data),
                "transports": [],
            },
        })
        .to_string()
    }

    /// `navigator.credentials.get` with counter `count`, for `origin` and
    /// relying party id `rp_id`, naming credential `id`.
    fn assert(
        &self,
        options: &serde_json::Value,
        count: u32,
        origin: &str,
        rp_id: &str,
        id: &[u8],
    ) -> String {
        self.assert_as(options, count, origin, rp_id, id, None)
    }

    /// [`Authenticator::assert`] returning `user_handle` (as a
    /// discoverable credential does).
    fn assert_as(
        &self,
        options: &serde_json::Value,
        count: u32,
        origin: &str,
        rp_id: &str,
        id: &[u8],
        user_handle: Option<&[u8]>,
    ) -> String {
        let client_data = Self::client_data("webauthn.get", options, origin);
        let mut auth = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth.push(UP | UV);
        auth.extend_from_slice(&count.to_be_bytes());
        let mut signed = auth.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature = self.key.sign(&self.rng, &signed).unwrap();
        serde_json::json!({
            "id": b64(id),
            "rawId": b64(id),
            "type": "public-key",
            "extensions": {},
            "response": {
                "authenticatorData": b64(&auth),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_ref()),
                "userHandle": user_handle.map(b64),
            },
        })
        .to_string()
    }
}

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
    rp: Passkeys,
    anna: User,
    ben: User,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("p.db")).await.unwrap();
    let mut users = Vec::new();
    for (id, email) in [
        ("u_anna", "anna@contoso.example"),
        ("u_ben", "ben@fabrikam.example"),
    ] {
        users.push(
            store
                .upsert_user(
                    &NewUser {
                        id: id.into(),
                        email: email.into(),
                        display_name: None,
                        user_type: UserType::Guest,
                        identity: None,
                    },
                    now(),
                )
                .await
                .unwrap(),
        );
    }
    let ben = users.pop().unwrap();
    let anna = users.pop().unwrap();
    Env {
        _dir: dir,
        store,
        rp: Passkeys::new(ORIGIN, "Tailwind Traders").unwrap(),
        anna,
        ben,
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl Env {
    async fn register(
        &self,
        user: &User,
        a: &Authenticator,
        flags: u8,
    ) -> Result<(), PasskeyError> {
        let options = self
            .rp
            .start_registration(&self.store, user, &user.id, now())
            .await
            .unwrap();
        assert_eq!(options["publicKey"]["rp"]["id"], RP_ID);
        let answer = a.register(&options, flags);
        self.rp
            .finish_registration(&self.store, user, &user.id, "Key", &answer, now())
            .await
    }

    /// One assertion ceremony; `make` turns the options into the answer.
    async fn sign_in(
        &self,
        user: &User,
        make: impl FnOnce(&serde_json::Value) -> String,
    ) -> (Result<(), PasskeyError>, String) {
        let options = self
            .rp
            .start_authentication(&self.store, &user.id, &user.id, now())
            .await
            .unwrap();
        let answer = make(&options);
        let r = self
            .rp
            .finish_authentication(&self.store, &user.id, &user.id, &answer, now())
            .await;
        (r, answer)
    }
}

#[tokio::test]
async fn an_honest_passkey_registers_and_signs_in_with_a_rising_counter() {
    let e = env().await;
    let a = Authenticator::new(1);
    e.register(&e.anna, &a, UP | UV).await.unwrap();
    for count in [1, 2, 7] {
        let (r, _) = e
            .sign_in(&e.anna, |o| a.assert(o, count, ORIGIN, RP_ID, &a.id))
            .await;
        r.unwrap();
    }
    let keys = e.store.list_passkeys(&e.anna.id).await.unwrap();
    assert_eq!((keys.len(), keys[0].sign_count), (1, 7));
    assert!(keys[0].last_used_at.is_some());
}

#[tokio::test]
async fn an_assertion_for_another_origin_or_relying_party_is_refused() {
    let e = env().await;
    let a = Authenticator::new(1);
    e.register(&e.anna, &a, UP | UV).await.unwrap();
    let (r, _) = e
        .sign_in(&e.anna, |o| {
            a.assert(o, 1, "https://auth.example.evil.test", RP_ID, &a.id)
        })
        .await;
    assert!(matches!(r, Err(PasskeyError::Rejected(_))), "{r:?}");
    let (r, _) = e
        .sign_in(&e.anna, |o| a.assert(o, 2, ORIGIN, "evil.test", &a.id))
        .await;
    assert!(matches!(r, Err(PasskeyError::Rejected(_))), "{r:?}");
    assert_eq!(
        e.store.list_passkeys(&e.anna.id).await.unwrap()[0].sign_count,
        0
    );
}

#[tokio::test]
async fn a_replayed_assertion_finds_no_ceremony() {
    let e = env().await;
    let a = Authenticator::new(1);
    e.register(&e.anna, &a, UP | UV).await.unwrap();
    let (r, answer) = e
        .sign_in(&e.anna, |o| a.assert(o, 1, ORIGIN, RP_ID, &a.id))
        .await;
    r.unwrap();
    let again =
        e.rp.finish_authentication(&e.store, &e.anna.id, &e.anna.id, &answer, now())
            .await;
    assert!(matches!(again, Err(PasskeyError::NoCeremony)), "{again:?}");
    // Replayed into a fresh ceremony, it answers the wrong challenge.
    let (r, _) = e.sign_in(&e.anna, |_| answer.clone()).await;
    assert!(matches!(r, Err(PasskeyError::Rejected(_))), "{r:?}");
}

#[tokio::test]
async fn a_counter_going_backwards_is_refused() {
    let e = env().await;
    let a = Authenticator::new(1);
    e.register(&e.anna, &a, UP | UV).await.unwrap();
    let (r, _) = e
        .sign_in(&e.anna, |o| a.assert(o, 5, ORIGIN, RP_ID, &a.id))
        .await;
    r.unwrap();
    for count in [5, 3] {
        let (r, _) = e
            .sign_in(&e.anna, |o| a.assert(o, count, ORIGIN, RP_ID, &a.id))
            .await;
        assert!(matches!(r, Err(PasskeyError::Replayed)), "{count}: {r:?}");
    }
    assert_eq!(
        e.store.list_passkeys(&e.anna.id).await.unwrap()[0].sign_count,
        5
    );
}

#[tokio::test]
async fn another_users_credential_id_signs_nobody_in() {
    let e = env().await;
    let anna_key = Authenticator::new(1);
    let ben_key = Authenticator::new(2);
    e.register(&e.anna, &anna_key, UP | UV).await.unwrap();
    e.register(&e.ben, &ben_key, UP | UV).await.unwrap();
    // Ben's authenticator, in Anna's ceremony.
    let (r, _) = e
        .sign_in(&e.anna, |o| {
            ben_key.assert(o, 1, ORIGIN, RP_ID, &ben_key.id)
        })
        .await;
    assert!(r.is_err(), "{r:?}");
    // Ben's key cannot be registered to Anna either.
    let taken = e.register(&e.anna, &ben_key, UP | UV).await;
    assert!(taken.is_err(), "{taken:?}");
    assert_eq!(e.store.list_passkeys(&e.anna.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_registration_without_user_verification_is_refused() {
    let e = env().await;
    let a = Authenticator::new(1);
    let r = e.register(&e.anna, &a, UP).await;
    assert!(matches!(r, Err(PasskeyError::Rejected(_))), "{r:?}");
    assert!(e.store.list_passkeys(&e.anna.id).await.unwrap().is_empty());
}

/// The passkey sign-in: the authenticator names its credential and user
/// handle; the right pair signs its owner in, once per ceremony.
#[tokio::test]
async fn a_discoverable_passkey_signs_its_owner_in() {
    let e = env().await;
    let a = Authenticator::new(1);
    e.register(&e.anna, &a, UP | UV).await.unwrap();
    let handle = portcullis::passkeys::user_handle(&e.anna.id);
    let options = e.rp.start_sign_in(&e.store, "flow-1", now()).await.unwrap();
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty())
    );
    let answer = a.assert_as(&options, 1, ORIGIN, RP_ID, &a.id, Some(handle.as_bytes()));
    let who =
        e.rp.finish_sign_in(&e.store, "flow-1", &answer, now())
            .await;
    assert_eq!(who.unwrap(), e.anna.id);
    // The same answer again: the ceremony is gone.
    let again =
        e.rp.finish_sign_in(&e.store, "flow-1", &answer, now())
            .await;
    assert!(matches!(again, Err(PasskeyError::NoCeremony)), "{again:?}");
}

/// Anna's credential presented with Ben's user handle (a forged answer):
/// the row decides, and it is Anna's.
#[tokio::test]
async fn a_sign_in_with_another_users_handle_is_refused() {
    let e = env().await;
    let a = Authenticator::new(1);
    e.register(&e.anna, &a, UP | UV).await.unwrap();
    let ben = portcullis::passkeys::user_handle(&e.ben.id);
    let options = e.rp.start_sign_in(&e.store, "flow-2", now()).await.unwrap();
    let answer = a.assert_as(&options, 1, ORIGIN, RP_ID, &a.id, Some(ben.as_bytes()));
    let who =
        e.rp.finish_sign_in(&e.store, "flow-2", &answer, now())
            .await;
    assert!(matches!(who, Err(PasskeyError::NotYours)), "{who:?}");
    // And an unregistered credential id names nobody.
    let stranger = Authenticator::new(9);
    let options = e.rp.start_sign_in(&e.store, "flow-3", now()).await.unwrap();
    let handle = portcullis::passkeys::user_handle(&e.anna.id);
    let answer = stranger.assert_as(
        &options,
        1,
        ORIGIN,
        RP_ID,
        &stranger.id,
        Some(handle.as_bytes()),
    );
    let who =
        e.rp.finish_sign_in(&e.store, "flow-3", &answer, now())
            .await;
    assert!(matches!(who, Err(PasskeyError::NotYours)), "{who:?}");
}
