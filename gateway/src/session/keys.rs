//! The gateway's own signing keys: session cookies, upstream assertions, JWKS.

use std::collections::HashMap;
use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::jwt::{self, DEFAULT_LEEWAY_SECS, b64d, b64e};
use super::{SessionClaims, SessionError, Subject, UserType};

/// Lifetime of an upstream assertion (`X-Portcullis-Assertion`), in seconds.
/// Short because the app may log or forward it; it only has to outlive one
/// request.
pub const ASSERTION_TTL_SECS: i64 = 60;

/// `typ` of a session token. Explicit typing (RFC 8725 §3.11) stops token
/// substitution: an assertion handed to an app, which is signed by the same
/// keys, can never be replayed to us as a session cookie.
const SESSION_TYP: &str = "portcullis-session+jwt";
/// `typ` of an upstream assertion: plain `JWT`, what any app's JWT library
/// expects.
const ASSERTION_TYP: &str = "JWT";

/// One Ed25519 signing key as persisted by the store (SQLite or PostgreSQL),
/// so that every replica signs and verifies with the same keys.
///
/// Records are never changed after creation (the store only inserts and
/// deletes): a key's whole life is fixed when it is generated. The newest key
/// signs; an older one only verifies, until its `not_after`. So `not_after`
/// must be at least `rotate_after + longest session + leeway` after
/// `created_at` (see [`KeyRing::needs_rotation`]).
///
/// Serde writes the byte fields as base64url strings. `Debug` never shows
/// the private key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// Key id, the `kid` header of every token this key signs: the RFC 7638
    /// JWK thumbprint of the public key.
    pub kid: String,
    /// JOSE algorithm name; always `EdDSA` for now.
    pub algorithm: String,
    /// The private key, PKCS#8 DER (v2, with the public key). Secret.
    #[serde(with = "b64_bytes")]
    pub private_pkcs8_der: Vec<u8>,
    /// The raw 32-byte Ed25519 public key.
    #[serde(with = "b64_bytes")]
    pub public: Vec<u8>,
    /// When the key was generated (Unix seconds). The newest key signs.
    pub created_at: i64,
    /// From this time on (Unix seconds) the key neither signs nor verifies,
    /// and the store may delete it.
    pub not_after: i64,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("private_pkcs8_der", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("not_after", &self.not_after)
            .finish()
    }
}

impl SigningKeyRecord {
    /// Generates a new Ed25519 key with the OS random source, created at
    /// `now` and usable until `not_after`.
    pub fn generate(now: i64, not_after: i64) -> Result<Self, SessionError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| SessionError::InvalidKey("Ed25519 key generation failed".into()))?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|e| SessionError::InvalidKey(format!("generated key rejected: {e}")))?;
        let public = pair.public_key().as_ref().to_vec();
        Ok(SigningKeyRecord {
            kid: thumbprint(&public),
            algorithm: "EdDSA".into(),
            private_pkcs8_der: pkcs8.as_ref().to_vec(),
            public,
            created_at: now,
            not_after,
        })
    }

    /// True once the key may no longer verify anything: the store may delete
    /// the record.
    pub fn is_retired(&self, now: i64) -> bool {
        now >= self.not_after
    }
}

/// Reading the store's row: timestamps become Unix seconds.
impl From<crate::store::SigningKey> for SigningKeyRecord {
    fn from(k: crate::store::SigningKey) -> Self {
        SigningKeyRecord {
            kid: k.kid,
            algorithm: k.algorithm,
            private_pkcs8_der: k.private_key,
            public: k.public_key,
            created_at: k.created_at.unix_timestamp(),
            not_after: k.not_after.unix_timestamp(),
        }
    }
}

/// Writing the store's row; fails only on a timestamp out of range.
impl TryFrom<&SigningKeyRecord> for crate::store::SigningKey {
    type Error = SessionError;

    fn try_from(r: &SigningKeyRecord) -> Result<Self, SessionError> {
        let at = |t: i64| {
            time::OffsetDateTime::from_unix_timestamp(t)
                .map_err(|e| SessionError::InvalidKey(format!("key {}: {e}", r.kid)))
        };
        Ok(crate::store::SigningKey {
            kid: r.kid.clone(),
            algorithm: r.algorithm.clone(),
            private_key: r.private_pkcs8_der.clone(),
            public_key: r.public.clone(),
            created_at: at(r.created_at)?,
            not_after: at(r.not_after)?,
        })
    }
}

/// RFC 7638 thumbprint of an Ed25519 public key: SHA-256 over the required
/// members in lexicographic order, base64url.
fn thumbprint(public: &[u8]) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64e(public));
    b64e(Sha256::digest(canonical.as_bytes()))
}

struct VerifyingKey {
    public: Vec<u8>,
    not_after: i64,
}

/// The gateway's keys: one active key that signs, and older keys that still
/// verify until the last session they signed has expired.
///
/// Immutable: built from the store's records at start-up and on every key
/// change, then swapped whole into the snapshot. Rotation adds a record
/// ([`KeyRing::rotate`]) from which the next ring is built.
pub struct KeyRing {
    issuer: String,
    leeway: i64,
    active_kid: String,
    active_created_at: i64,
    active_not_after: i64,
    signer: Ed25519KeyPair,
    /// base64url headers for the active key, computed once.
    session_header: String,
    assertion_header: String,
    verifying: HashMap<String, VerifyingKey>,
    records: Vec<SigningKeyRecord>,
    jwks: String,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("issuer", &self.issuer)
            .field("active_kid", &self.active_kid)
            .field("keys", &self.records.len())
            .finish_non_exhaustive()
    }
}

/// What the app receives in `X-Portcullis-Assertion`, verifiable with
/// `/.portcullis/jwks.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// The gateway's issuer string.
    pub iss: String,
    /// Stable user id.
    pub sub: String,
    /// The app's name from the config.
    pub aud: String,
    /// The user's e-mail address.
    pub email: String,
    /// Guest or member.
    pub user_type: UserType,
    /// Group names.
    pub groups: Vec<String>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expiry (Unix seconds), at most [`ASSERTION_TTL_SECS`] after `iat`.
    pub exp: i64,
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// The rotation rule of [`KeyRing::needs_rotation`] for a key created at
/// `created_at` that verifies until `not_after`.
pub(crate) fn rotation_due(
    created_at: i64,
    not_after: i64,
    now: i64,
    rotate_after_secs: i64,
    max_session_secs: i64,
) -> bool {
    now >= created_at.saturating_add(rotate_after_secs)
        || now.saturating_add(max_session_secs) > not_after
}

impl KeyRing {
    /// Builds the ring from persisted records.
    ///
    /// Records already retired at `now` are left out. The newest record
    /// (by `created_at`, then `kid`, so that every replica picks the same one)
    /// signs; every other record only verifies. Fails with
    /// [`SessionError::NoSigningKey`] when no record is left, and with
    /// [`SessionError::InvalidKey`] when a record is not `EdDSA`, does not
    /// parse, or its public key does not match its private key.
    /// Leeway for clock skew between replicas defaults to
    /// [`DEFAULT_LEEWAY_SECS`].
    pub fn from_records(
        issuer: impl Into<String>,
        records: Vec<SigningKeyRecord>,
        now: i64,
    ) -> Result<Self, SessionError> {
        let records: Vec<SigningKeyRecord> =
            records.into_iter().filter(|r| !r.is_retired(now)).collect();
        let mut verifying = HashMap::with_capacity(records.len());
        let mut active: Option<(&SigningKeyRecord, Ed25519KeyPair)> = None;
        for r in &records {
            if r.kid.is_empty() {
                return Err(SessionError::InvalidKey(
                    "a key record has an empty kid".into(),
                ));
            }
            if r.algorithm != "EdDSA" {
                return Err(SessionError::InvalidKey(format!(
                    "key {}: algorithm `{}` is not supported; only EdDSA",
                    r.kid, r.algorithm
                )));
            }
            let pair = Ed25519KeyPair::from_pkcs8(&r.private_pkcs8_der)
                .map_err(|e| SessionError::InvalidKey(format!("key {}: {e}", r.kid)))?;
            if pair.public_key().as_ref() != r.public.as_slice() {
                return Err(SessionError::InvalidKey(format!(
                    "key {}: public key does not match the private key",
                    r.kid
                )));
            }
            let previous = verifying.insert(
                r.kid.clone(),
                VerifyingKey {
                    public: r.public.clone(),
                    not_after: r.not_after,
                },
            );
            if previous.is_some() {
                return Err(SessionError::InvalidKey(format!("duplicate kid {}", r.kid)));
            }
            let newer = match &active {
                None => true,
                Some((a, _)) => (r.created_at, &r.kid) > (a.created_at, &a.kid),
            };
            if newer {
                active = Some((r, pair));
            }
        }
        let Some((active, signer)) = active else {
            return Err(SessionError::NoSigningKey);
        };
        let active_kid = active.kid.clone();
        let (active_created_at, active_not_after) = (active.created_at, active.not_after);
        let header = |typ| {
            let h = HeaderOut {
                alg: "EdDSA",
                typ,
                kid: &active_kid,
            };
            serde_json::to_vec(&h)
                .map(b64e)
                .map_err(|e| SessionError::InvalidKey(format!("header: {e}")))
        };
        let session_header = header(SESSION_TYP)?;
        let assertion_header = header(ASSERTION_TYP)?;
        let jwks = jwks_json(&records, &active_kid)?;
        Ok(KeyRing {
            issuer: issuer.into(),
            leeway: DEFAULT_LEEWAY_SECS,
            active_kid,
            active_created_at,
            active_not_after,
            signer,
            session_header,
            assertion_header,
            verifying,
            records,
            jwks,
        })
    }

    /// A ring with one freshly generated key living `lifetime_secs`: the
    /// first start of a new deployment. Persist [`KeyRing::records`] so
    /// replicas share the key.
    pub fn generate(
        issuer: impl Into<String>,
        now: i64,
        lifetime_secs: i64,
    ) -> Result<Self, SessionError> {
        let record = SigningKeyRecord::generate(now, now.saturating_add(lifetime_secs))?;
        KeyRing::from_records(issuer, vec![record], now)
    }

    /// Sets the allowance for clock skew (seconds) applied to `exp` and `iat`.
    pub fn with_leeway(mut self, leeway_secs: i64) -> Self {
        self.leeway = leeway_secs.max(0);
        self
    }

    /// The `iss` of every token this ring issues and accepts.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `kid` new tokens carry.
    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    /// The records this ring was built from (retired ones left out), for the
    /// store to persist.
    pub fn records(&self) -> &[SigningKeyRecord] {
        &self.records
    }

    /// When the active key stops verifying (Unix seconds). No session it
    /// signs may outlive this; see [`KeyRing::issue`].
    pub fn active_not_after(&self) -> i64 {
        self.active_not_after
    }

    /// True when the active key is `rotate_after_secs` old, or so close to
    /// its `not_after` that a session of `max_session_secs` issued now would
    /// outlive it. The key task checks this periodically and then calls
    /// [`KeyRing::rotate`].
    pub fn needs_rotation(&self, now: i64, rotate_after_secs: i64, max_session_secs: i64) -> bool {
        rotation_due(
            self.active_created_at,
            self.active_not_after,
            now,
            rotate_after_secs,
            max_session_secs,
        )
    }

    /// A new key record to insert into the store; once a ring is built with
    /// it (e.g. [`KeyRing::with_record`]), it signs and the current key only
    /// verifies until its own `not_after`. `lifetime_secs` should be at least
    /// `rotate_after + longest session + leeway`. Replicas that rotate at the
    /// same moment each add a key; all of them pick the newest to sign and
    /// the others still verify, so the race is harmless.
    pub fn rotate(&self, now: i64, lifetime_secs: i64) -> Result<SigningKeyRecord, SessionError> {
        SigningKeyRecord::generate(now, now.saturating_add(lifetime_secs))
    }

    /// The next ring: this ring's records plus `record`, at `now`.
    pub fn with_record(&self, record: SigningKeyRecord, now: i64) -> Result<Self, SessionError> {
        let mut records = self.records.clone();
        records.push(record);
        KeyRing::from_records(self.issuer.clone(), records, now).map(|r| r.with_leeway(self.leeway))
    }

    /// The public keys as a JWKS document (`{"keys":[…]}`, OKP/Ed25519,
    /// `use: sig`, `alg: EdDSA`), the active key first. Served at
    /// `/.portcullis/jwks.json` and used by apps to verify assertions.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// Signs a session token for the cookie. The caller fills in the claims:
    /// `iss` should be [`KeyRing::issuer`] and `aud` the app host, or
    /// [`KeyRing::verify`] will refuse the token.
    ///
    /// Fails with [`SessionError::NoSigningKey`] when `exp` is past the
    /// active key's `not_after`: such a session would stop verifying early,
    /// which means key rotation is not running (see
    /// [`KeyRing::needs_rotation`]).
    pub fn issue(&self, claims: &SessionClaims) -> Result<String, SessionError> {
        if claims.exp > self.active_not_after {
            return Err(SessionError::NoSigningKey);
        }
        self.sign(&self.session_header, claims)
    }

    /// Verifies a session token for the app host `expected_aud` at `now`.
    ///
    /// Runs on a cache miss for every request carrying a session cookie.
    /// Checks, in order: shape, `alg` (only `EdDSA`), `typ`, `kid`, the key's
    /// retirement, the signature, then `iss`, `aud`, `exp` and `iat` (the
    /// last two with the ring's leeway).
    pub fn verify(
        &self,
        token: &str,
        expected_aud: &str,
        now: i64,
    ) -> Result<SessionClaims, SessionError> {
        let claims: SessionClaims = self.verify_signed(token, SESSION_TYP, now)?;
        if *claims.iss != *self.issuer {
            return Err(SessionError::WrongIssuer);
        }
        // Cookies are host-only, but a token copied from one app host to
        // another would otherwise grant access there too.
        if &*claims.aud != expected_aud {
            return Err(SessionError::WrongAudience);
        }
        jwt::check_times(claims.exp, None, Some(claims.iat), now, self.leeway)?;
        Ok(claims)
    }

    /// Signs the upstream assertion for `app_name`: who the user is, valid for
    /// [`ASSERTION_TTL_SECS`] from `now`. Sent as `X-Portcullis-Assertion`.
    pub fn assertion<'a>(
        &self,
        user: impl Into<Subject<'a>>,
        app_name: &str,
        now: i64,
    ) -> Result<String, SessionError> {
        let user: Subject<'a> = user.into();
        let claims = AssertionClaims {
            iss: self.issuer.clone(),
            sub: user.sub.to_owned(),
            aud: app_name.to_owned(),
            email: user.email.to_owned(),
            user_type: user.user_type,
            groups: user.groups.to_vec(),
            iat: now,
            exp: now.saturating_add(ASSERTION_TTL_SECS),
        };
        self.sign(&self.assertion_header, &claims)
    }

    /// Verifies an upstream assertion for `app_name`, the check an app does;
    /// used by tests and tooling.
    pub fn verify_assertion(
        &self,
        token: &str,
        app_name: &str,
        now: i64,
    ) -> Result<AssertionClaims, SessionError> {
        let claims: AssertionClaims = self.verify_signed(token, ASSERTION_TYP, now)?;
        if *claims.iss != *self.issuer {
            return Err(SessionError::WrongIssuer);
        }
        if claims.aud != app_name {
            return Err(SessionError::WrongAudience);
        }
        jwt::check_times(claims.exp, None, Some(claims.iat), now, self.leeway)?;
        Ok(claims)
    }

    fn sign(&self, header_b64: &str, claims: &impl Serialize) -> Result<String, SessionError> {
        let payload = serde_json::to_vec(claims)
            .map_err(|_| SessionError::Malformed("claims do not serialize"))?;
        let mut out = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 100);
        out.push_str(header_b64);
        out.push('.');
        out.push_str(&b64e(payload));
        let sig = self.signer.sign(out.as_bytes());
        out.push('.');
        out.push_str(&b64e(sig.as_ref()));
        Ok(out)
    }

    /// Shape, algorithm, type, key and signature; then the payload decoded.
    fn verify_signed<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        now: i64,
    ) -> Result<T, SessionError> {
        let parts = jwt::split(token)?;
        // We only ever sign with EdDSA. Accepting whatever `alg` the token
        // names is the classic JWT flaw: `none` skips the signature, and
        // `HS256` with our public key as the HMAC secret lets anyone forge
        // tokens (algorithm / key confusion).
        if parts.header.alg != "EdDSA" {
            return Err(SessionError::AlgorithmNotAllowed);
        }
        if parts.header.typ.as_deref() != Some(typ) {
            return Err(SessionError::WrongTokenType);
        }
        let kid = parts
            .header
            .kid
            .as_deref()
            .ok_or(SessionError::UnknownKid)?;
        let key = self.verifying.get(kid).ok_or(SessionError::UnknownKid)?;
        if now >= key.not_after {
            return Err(SessionError::KeyRetired);
        }
        let sig = b64d(parts.signature).map_err(|_| SessionError::Malformed("signature"))?;
        UnparsedPublicKey::new(&ED25519, &key.public)
            .verify(parts.signing_input.as_bytes(), &sig)
            .map_err(|_| SessionError::BadSignature)?;
        let payload = b64d(parts.payload).map_err(|_| SessionError::Malformed("payload"))?;
        serde_json::from_slice(&payload).map_err(|_| SessionError::Malformed("claims"))
    }
}

fn jwks_json(records: &[SigningKeyRecord], active_kid: &str) -> Result<String, SessionError> {
    let mut keys: Vec<&SigningKeyRecord> = records.iter().collect();
    // Active key first, then newest first: some clients try keys in order.
    keys.sort_by(|a, b| {
        (b.kid == active_kid, b.created_at, &b.kid).cmp(&(
            a.kid == active_kid,
            a.created_at,
            &a.kid,
        ))
    });
    let keys: Vec<serde_json::Value> = keys
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64e(&r.public),
                "kid": r.kid,
                "use": "sig",
                "alg": "EdDSA",
            })
        })
        .collect();
    serde_json::to_string(&serde_json::json!({ "keys": keys }))
        .map_err(|e| SessionError::InvalidKey(format!("jwks: {e}")))
}

/// Serde for byte fields as base64url strings.
mod b64_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::b64e(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        super::b64d(&s).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests;
