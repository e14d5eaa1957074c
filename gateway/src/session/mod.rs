//! Sessions: the gateway cookie and bearer tokens.
//!
//! Who is asking, worked out once per request and cached:
//! - [`KeyRing`] signs and verifies the gateway's own session token (an EdDSA
//!   JWT carried in the [`cookie`]) and the short-lived upstream assertion, and
//!   publishes the public keys as JWKS at `/.portcullis/jwks.json`.
//! - [`BearerVerifier`] checks `Authorization: Bearer` tokens from the external
//!   issuers configured as `idps` of `type: jwt`.
//! - [`VerifiedCache`] keeps verified claims so that a token is verified once,
//!   not on every request (a cold verify costs 20–55 µs, more than the rest of
//!   the hot path together; see `shared/notes/performance.md`), and
//!   [`AssertionCache`] reuses signed upstream assertions for the same reason.
//!
//! Time is always an input (`now`, Unix seconds) so tests can skew the clock.
//! Tokens are never logged: errors carry no token material, only a
//! [`SessionError::as_str`] name that is safe as a metric label.

mod bearer;
mod cache;
pub mod cookie;
mod jwt;
mod keys;
mod revoked;

#[cfg(test)]
mod test_support;

use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use bearer::{
    BearerConfig, BearerVerifier, DEFAULT_ALGORITHMS, JwksSource, parse_algorithm,
    unverified_issuer,
};
pub use cache::{AssertionCache, DEFAULT_CACHE_BYTES, DEFAULT_CACHE_MAX_TTL, VerifiedCache};
pub use jwt::{DEFAULT_LEEWAY_SECS, MAX_TOKEN_LEN};
pub(crate) use keys::rotation_due;
pub use keys::{ASSERTION_TTL_SECS, AssertionClaims, KeyRing, SigningKeyRecord};
pub use revoked::{DEFAULT_REVOKED_CAPACITY, RevokedSessions};

/// Whether the user belongs to the organisation or is an external partner.
pub use rules::UserType;

/// The `amr` value a gateway session carries when its MFA was
/// phishing-resistant (a passkey here, or an IdP's method named in its
/// `phishing_resistant_values`); always beside `mfa`. The name is the
/// OpenID EAP ACR value for phishing-resistant authentication. Like `mfa`,
/// it is put in only by the gateway: what an IdP sends under this name is
/// removed at sign-in unless the IdP is trusted for it.
pub const PHISHING_RESISTANT_AMR: &str = "phr";

/// The issuer of the gateway's own tokens (session cookies, assertions).
pub const ISSUER: &str = "portcullis";

/// The longest session the gateway issues (seconds); a signing key must
/// outlive every session it signed.
pub const MAX_SESSION: i64 = 7 * 86_400;

/// The verified identity of a request: the claims of the gateway session
/// cookie, or the claims of an external bearer token mapped to the same
/// fields (see [`BearerVerifier::verify`]).
///
/// The values many sessions share — `iss`, `aud`, `idp`, the group list and
/// `amr` — are `Arc`s, so the verified-token cache keeps each once for all
/// its entries (issue 21: an entry is ≤ 512 bytes; see `VerifiedCache`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// Who issued the token: the gateway's issuer string for cookies, the
    /// idp's `issuer` for bearer tokens.
    pub iss: Arc<str>,
    /// Stable user id.
    pub sub: String,
    /// For cookies the app host the cookie was issued for (cookies are
    /// host-only, one per app host); for bearer tokens the idp's `audience`.
    pub aud: Arc<str>,
    /// The user's e-mail address; empty when the issuer gave none.
    pub email: String,
    /// Guest or member.
    pub user_type: UserType,
    /// Group names, as the identity provider gave them.
    #[serde(default)]
    pub groups: Arc<[String]>,
    /// The configured name of the identity provider the user signed in with.
    pub idp: Arc<str>,
    /// Authentication methods (RFC 8176); see [`SessionClaims::mfa`].
    #[serde(default)]
    pub amr: Arc<[String]>,
    /// When the user signed in (Unix seconds); `sign_in_frequency` is measured
    /// from here, not from `iat`.
    pub auth_time: i64,
    /// When this token was issued (Unix seconds).
    pub iat: i64,
    /// When this token stops being valid (Unix seconds).
    pub exp: i64,
    /// Random session id, the handle for server-side revocation; for bearer
    /// tokens the `jti` claim, or empty.
    pub sid: String,
}

/// Who a request was decided for: the session's user with the facts the
/// decision used (the directory's user type and groups win over the
/// token's). The identity headers and the upstream assertion are both
/// written from this one value, so they can never disagree (issue 14,
/// finding 2: the assertion said guest with no groups while the headers
/// said member of finance).
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub sub: &'a str,
    pub email: &'a str,
    pub user_type: UserType,
    /// Lower-case, sorted, without duplicates when they come from a
    /// decision; as the token says when built from its claims alone.
    pub groups: &'a [String],
}

impl<'a> From<&'a SessionClaims> for Subject<'a> {
    /// The token's own word, for callers with no decision (tests, tools).
    fn from(c: &'a SessionClaims) -> Subject<'a> {
        Subject {
            sub: &c.sub,
            email: &c.email,
            user_type: c.user_type,
            groups: &c.groups,
        }
    }
}

impl SessionClaims {
    /// True when the sign-in carried multi-factor authentication, i.e. `amr`
    /// contains `"mfa"`.
    pub fn mfa(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }

    /// The strength of the session's MFA, for the rules: phishing-resistant
    /// when `amr` has both `mfa` and [`PHISHING_RESISTANT_AMR`], plain MFA
    /// with `mfa` alone, else none.
    pub fn mfa_strength(&self) -> rules::MfaStrength {
        if !self.mfa() {
            rules::MfaStrength::None
        } else if self.amr.iter().any(|m| m == PHISHING_RESISTANT_AMR) {
            rules::MfaStrength::PhishingResistant
        } else {
            rules::MfaStrength::Mfa
        }
    }

    /// Seconds since the user signed in, never negative.
    pub fn signed_in_ago(&self, now: i64) -> i64 {
        now.saturating_sub(self.auth_time).max(0)
    }
}

/// Writes the gateway's own MFA markers into `amr` for `strength`: first
/// removes any `mfa` and [`PHISHING_RESISTANT_AMR`] the IdP sent (they count
/// only as far as the gateway vouches, DESIGN.md "Trust boundary"), then
/// adds `mfa` for any MFA and both for phishing-resistant MFA.
pub fn set_mfa_amr(amr: &mut Vec<String>, strength: rules::MfaStrength) {
    amr.retain(|m| m != "mfa" && m != PHISHING_RESISTANT_AMR);
    if strength.is_mfa() {
        amr.push("mfa".into());
    }
    if strength == rules::MfaStrength::PhishingResistant {
        amr.push(PHISHING_RESISTANT_AMR.into());
    }
}

/// A fresh random session id: 128 bits from the OS-seeded CSPRNG, base64url.
pub fn new_sid() -> String {
    use base64::Engine as _;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Why a token was not accepted, or why keys could not be loaded.
///
/// No variant carries token material, so errors are safe to log. Use
/// [`SessionError::as_str`] as a metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// `exp` (plus leeway) is in the past.
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` (minus leeway) is in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The signature does not match the key named by `kid`.
    #[error("the token signature is invalid")]
    BadSignature,
    /// No key with the token's `kid` (or the token names none and the key set
    /// has more than one key).
    #[error("the token is signed with an unknown key")]
    UnknownKid,
    /// The token's key was retired: every session it signed has expired.
    #[error("the token is signed with a retired key")]
    KeyRetired,
    /// `aud` is not the expected audience (another app host, another API).
    #[error("the token is for another audience")]
    WrongAudience,
    /// `iss` is not the expected issuer.
    #[error("the token is from another issuer")]
    WrongIssuer,
    /// The header's `typ` says this is another kind of token (for example an
    /// upstream assertion presented as a session cookie).
    #[error("the token is of another type")]
    WrongTokenType,
    /// The header's `alg` is not allowed (`none`, HMAC, not in the allow-list)
    /// or does not match the key.
    #[error("the token's algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The token is not a well-formed JWT; the text says which part.
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    /// A key record or JWK could not be used; the text says why.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The key ring has no key to sign with, or the active key retires
    /// before the token to sign would expire.
    #[error("no signing key for this token; generate one or rotate keys")]
    NoSigningKey,
    /// A JWKS could not be read, fetched or parsed; the text says why.
    #[error("JWKS unavailable: {0}")]
    Jwks(String),
    /// A configuration value is unusable; the text says which and what to do.
    #[error("{0}")]
    Config(String),
    /// A bearer token's e-mail is in a domain its issuer does not speak for
    /// (not in the idp's `domains`, or a member domain of ours).
    #[error("the token's e-mail domain is not one its issuer may assert")]
    DomainNotAllowed,
}

impl SessionError {
    /// A stable snake_case name for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionError::Expired => "expired",
            SessionError::NotYetValid => "not_yet_valid",
            SessionError::BadSignature => "bad_signature",
            SessionError::UnknownKid => "unknown_kid",
            SessionError::KeyRetired => "key_retired",
            SessionError::WrongAudience => "wrong_audience",
            SessionError::WrongIssuer => "wrong_issuer",
            SessionError::WrongTokenType => "wrong_token_type",
            SessionError::AlgorithmNotAllowed => "algorithm_not_allowed",
            SessionError::Malformed(_) => "malformed",
            SessionError::InvalidKey(_) => "invalid_key",
            SessionError::NoSigningKey => "no_signing_key",
            SessionError::Jwks(_) => "jwks_unavailable",
            SessionError::Config(_) => "config",
            SessionError::DomainNotAllowed => "domain_not_allowed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything here lives in the shared snapshot or is shared between
    /// Pingora's worker threads.
    #[test]
    fn shared_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<KeyRing>();
        check::<BearerVerifier>();
        check::<VerifiedCache>();
        check::<AssertionCache>();
        check::<RevokedSessions>();
        check::<SessionClaims>();
        check::<SessionError>();
    }

    #[test]
    fn error_names_are_stable_snake_case() {
        let all = [
            SessionError::Expired,
            SessionError::NotYetValid,
            SessionError::BadSignature,
            SessionError::UnknownKid,
            SessionError::KeyRetired,
            SessionError::WrongAudience,
            SessionError::WrongIssuer,
            SessionError::WrongTokenType,
            SessionError::AlgorithmNotAllowed,
            SessionError::Malformed("x"),
            SessionError::InvalidKey("x".into()),
            SessionError::NoSigningKey,
            SessionError::Jwks("x".into()),
            SessionError::Config("x".into()),
        ];
        let names: std::collections::HashSet<&str> = all.iter().map(SessionError::as_str).collect();
        assert_eq!(names.len(), all.len());
        for n in names {
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
        }
    }

    #[test]
    fn sids_are_random_and_url_safe() {
        let (a, b) = (new_sid(), new_sid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        assert!(jwt::is_b64url(&a));
    }
}

#[cfg(test)]
mod strength_tests {
    use super::*;
    use rules::MfaStrength;

    /// Issue 20: the session's strength comes only from the markers the
    /// gateway writes, and writing them first removes what an IdP sent.
    #[test]
    fn the_gateway_writes_the_mfa_markers_and_reads_the_strength_from_them() {
        let mut amr = vec!["pwd".to_string(), "phr".into(), "mfa".into()];
        set_mfa_amr(&mut amr, MfaStrength::None);
        assert_eq!(amr, ["pwd"]);
        set_mfa_amr(&mut amr, MfaStrength::Mfa);
        assert_eq!(amr, ["pwd", "mfa"]);
        set_mfa_amr(&mut amr, MfaStrength::PhishingResistant);
        assert_eq!(amr, ["pwd", "mfa", "phr"]);
        let claims = |amr: &[&str]| SessionClaims {
            iss: ISSUER.into(),
            sub: "u".into(),
            aud: "a".into(),
            email: "a@b.example".into(),
            user_type: UserType::Guest,
            groups: Arc::default(),
            idp: "i".into(),
            amr: amr.iter().map(|s| s.to_string()).collect(),
            auth_time: 0,
            iat: 0,
            exp: 1,
            sid: "s".into(),
        };
        assert_eq!(
            claims(&["mfa", "phr"]).mfa_strength(),
            MfaStrength::PhishingResistant
        );
        assert_eq!(claims(&["otp", "mfa"]).mfa_strength(), MfaStrength::Mfa);
        // `phr` without `mfa` is not MFA at all.
        assert_eq!(claims(&["phr"]).mfa_strength(), MfaStrength::None);
    }
}
