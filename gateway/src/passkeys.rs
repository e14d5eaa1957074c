//! Passkeys (WebAuthn, issue 20): a second factor bound to the auth host, so
//! a phishing page on another origin can neither use nor relay it. A session
//! that used one is phishing-resistant MFA (`amr` `mfa` + `phr`, see
//! `session::set_mfa_amr`), which is what `require: [phishing_resistant_mfa]`
//! asks for.
//!
//! The WebAuthn checks are `webauthn-rs`'s (origin, relying party id hash,
//! challenge, signature, user verification, allowed credentials, counter);
//! this module adds what needs the store:
//! - the ceremony state lives server-side, in a single-use ticket keyed by
//!   the session id (`Store::put_ticket`/`take_ticket`): an assertion is
//!   checked against a challenge at most once, so a replayed one finds no
//!   ceremony;
//! - the credential must be the signed-in user's (the ceremony allows only
//!   their credentials, and the store's row must say so too);
//! - the counter is accepted only by a compare-and-set in the store
//!   (`Store::record_passkey_use`), so two replicas cannot both accept one
//!   assertion and a counter going backwards (a cloned authenticator) is
//!   refused even where the ceremony's copy was stale;
//! - the backup-eligible flag must stay what it was at registration.
//!
//! The relying party id is the auth host (without a port); the only allowed
//! origin is the auth host's own origin. User verification is required at
//! registration and at every use.

use crate::store::{NewPasskey, PasskeyUse, Store, StoreError, User};
use sha2::Digest as _;
use time::OffsetDateTime;
use webauthn_rs::prelude::{
    AuthenticationResult, Credential, CredentialID, DiscoverableAuthentication, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

/// Ticket kinds of the two ceremonies (the key is the session id).
pub const REGISTRATION_TICKET: &str = "passkey_registration";
pub const AUTHENTICATION_TICKET: &str = "passkey_authentication";
/// Ticket kind of a passkey sign-in (the key is derived from the browser's
/// flow cookie: there is no session yet).
pub const SIGN_IN_TICKET: &str = "passkey_sign_in";

/// How long a started ceremony may take (the browser's prompt included).
pub const CEREMONY_TTL: time::Duration = time::Duration::minutes(5);

/// Longest name a person may give a passkey.
pub const MAX_NAME_LEN: usize = 64;

/// Why a passkey step failed. No variant carries key material or the
/// browser's answer, so errors are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// No ceremony for this session: expired, never started, or already
    /// used (a replayed answer ends here).
    #[error("passkey: no ceremony in progress; start again")]
    NoCeremony,
    /// The browser's answer is malformed or fails a WebAuthn check (another
    /// origin or relying party, a wrong signature or challenge, no user
    /// verification, a credential not offered).
    #[error("passkey: the answer was refused: {0}")]
    Rejected(String),
    /// The counter did not rise, or the backup-eligible flag changed: a
    /// replayed assertion or a cloned authenticator.
    #[error("passkey: the authenticator's counter did not rise")]
    Replayed,
    /// The credential is registered to someone else, or to nobody.
    #[error("passkey: this passkey is not registered to you")]
    NotYours,
    /// The authenticator is registered already (to this user or another).
    #[error("passkey: this authenticator is already registered")]
    AlreadyRegistered,
    /// The user has no passkey to authenticate with.
    #[error("passkey: no passkey registered")]
    NoneRegistered,
    #[error("passkey: store: {0}")]
    Store(#[from] StoreError),
    #[error("passkey: internal error: {0}")]
    Internal(String),
}

impl PasskeyError {
    /// A stable snake_case name for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            PasskeyError::NoCeremony => "no_ceremony",
            PasskeyError::Rejected(_) => "rejected",
            PasskeyError::Replayed => "replayed",
            PasskeyError::NotYours => "not_yours",
            PasskeyError::AlreadyRegistered => "already_registered",
            PasskeyError::NoneRegistered => "none_registered",
            PasskeyError::Store(_) => "store",
            PasskeyError::Internal(_) => "internal",
        }
    }
}

fn rejected(e: WebauthnError) -> PasskeyError {
    match e {
        // webauthn-rs's own counter check (the ceremony's copy of it).
        WebauthnError::CredentialPossibleCompromise => PasskeyError::Replayed,
        other => PasskeyError::Rejected(other.to_string()),
    }
}

/// The relying party: the auth host. Built once per config snapshot.
pub struct Passkeys {
    webauthn: Webauthn,
}

impl Passkeys {
    /// `origin` is the auth host's origin (`https://auth.example`, with a
    /// port when not the default); the relying party id is its host.
    /// `Err` names what is wrong with it.
    pub fn new(origin: &str, org: &str) -> Result<Passkeys, String> {
        let url = Url::parse(origin).map_err(|e| format!("`{origin}` is not an origin: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("`{origin}` has no host"))?
            .to_string();
        let webauthn = WebauthnBuilder::new(&host, &url)
            .and_then(|b| b.rp_name(org).build())
            .map_err(|e| format!("passkeys for `{origin}`: {e}"))?;
        Ok(Passkeys { webauthn })
    }

    /// Starts registering a passkey for `user`: the options for
    /// `navigator.credentials.create` (JSON), with the user's passkeys
    /// excluded; the ceremony is kept under `ceremony` (the session id).
    pub async fn start_registration(
        &self,
        store: &Store,
        user: &User,
        ceremony: &str,
        now: OffsetDateTime,
    ) -> Result<serde_json::Value, PasskeyError> {
        let existing: Vec<CredentialID> = store
            .list_passkeys(&user.id)
            .await?
            .into_iter()
            .map(|p| p.credential_id)
            .collect();
        let name = user.display_name.as_deref().unwrap_or(&user.email);
        let (options, state) = self
            .webauthn
            .start_passkey_registration(user_handle(&user.id), &user.email, name, Some(existing))
            .map_err(|e| PasskeyError::Internal(e.to_string()))?;
        let state =
            serde_json::to_string(&state).map_err(|e| PasskeyError::Internal(e.to_string()))?;
        keep(store, REGISTRATION_TICKET, ceremony, &state, now).await?;
        let mut options =
            serde_json::to_value(options).map_err(|e| PasskeyError::Internal(e.to_string()))?;
        // Ask for a discoverable credential where the authenticator can
        // keep one (webauthn-rs says "discouraged"), so the passkey can
        // also be the whole sign-in (`start_sign_in`). Only a hint to the
        // authenticator: nothing the server checks depends on it.
        if let Some(sel) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(|v| v.as_object_mut())
        {
            sel.insert("residentKey".into(), "preferred".into());
        }
        Ok(options)
    }

    /// Finishes a registration with the browser's answer (JSON of the
    /// `PublicKeyCredential`) and stores the passkey under `name`.
    pub async fn finish_registration(
        &self,
        store: &Store,
        user: &User,
        ceremony: &str,
        name: &str,
        answer: &str,
        now: OffsetDateTime,
    ) -> Result<(), PasskeyError> {
        let state: PasskeyRegistration = take(store, REGISTRATION_TICKET, ceremony, now).await?;
        let answer: RegisterPublicKeyCredential =
            serde_json::from_str(answer).map_err(|e| PasskeyError::Rejected(e.to_string()))?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&answer, &state)
            .map_err(rejected)?;
        let credential =
            serde_json::to_string(&passkey).map_err(|e| PasskeyError::Internal(e.to_string()))?;
        let c = Credential::from(passkey);
        let name = clean_name(name);
        let new = NewPasskey {
            credential_id: c.cred_id.clone(),
            user_id: user.id.clone(),
            name,
            credential,
            sign_count: c.counter,
            backup_eligible: c.backup_eligible,
            backup_state: c.backup_state,
        };
        match store.add_passkey(&new, now).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(PasskeyError::AlreadyRegistered),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts an assertion with `user_id`'s passkeys: the options for
    /// `navigator.credentials.get` (JSON).
    pub async fn start_authentication(
        &self,
        store: &Store,
        user_id: &str,
        ceremony: &str,
        now: OffsetDateTime,
    ) -> Result<serde_json::Value, PasskeyError> {
        let mut keys = Vec::new();
        for p in store.list_passkeys(user_id).await? {
            let k: Passkey = serde_json::from_str(&p.credential)
                .map_err(|e| PasskeyError::Internal(format!("stored passkey: {e}")))?;
            keys.push(k);
        }
        if keys.is_empty() {
            return Err(PasskeyError::NoneRegistered);
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(|e| PasskeyError::Internal(e.to_string()))?;
        let state =
            serde_json::to_string(&state).map_err(|e| PasskeyError::Internal(e.to_string()))?;
        keep(store, AUTHENTICATION_TICKET, ceremony, &state, now).await?;
        serde_json::to_value(options).map_err(|e| PasskeyError::Internal(e.to_string()))
    }

    /// Checks the browser's assertion for `user_id` and records the use.
    /// `Ok` only when every check passed and the store accepted the counter.
    pub async fn finish_authentication(
        &self,
        store: &Store,
        user_id: &str,
        ceremony: &str,
        answer: &str,
        now: OffsetDateTime,
    ) -> Result<(), PasskeyError> {
        // Taken first, whatever follows: one ceremony, one try.
        let state: PasskeyAuthentication =
            take(store, AUTHENTICATION_TICKET, ceremony, now).await?;
        let answer: PublicKeyCredential =
            serde_json::from_str(answer).map_err(|e| PasskeyError::Rejected(e.to_string()))?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&answer, &state)
            .map_err(rejected)?;
        let Some(stored) = store.get_passkey(result.cred_id()).await? else {
            return Err(PasskeyError::NotYours);
        };
        // Another user's credential id: the ceremony offered only this
        // user's, but the row decides.
        if stored.user_id != user_id {
            return Err(PasskeyError::NotYours);
        }
        accept(store, &stored, &result, now).await
    }

    /// Starts a passkey sign-in (no user known yet): the options for
    /// `navigator.credentials.get` with no credentials listed, so the
    /// authenticator offers its discoverable ones for this relying party.
    /// The ceremony is kept under `ceremony` (derived from the browser's
    /// flow cookie).
    pub async fn start_sign_in(
        &self,
        store: &Store,
        ceremony: &str,
        now: OffsetDateTime,
    ) -> Result<serde_json::Value, PasskeyError> {
        let (options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| PasskeyError::Internal(e.to_string()))?;
        let state =
            serde_json::to_string(&state).map_err(|e| PasskeyError::Internal(e.to_string()))?;
        keep(store, SIGN_IN_TICKET, ceremony, &state, now).await?;
        let mut options =
            serde_json::to_value(options).map_err(|e| PasskeyError::Internal(e.to_string()))?;
        // webauthn-rs asks for conditional mediation (autofill); ours is a
        // button, which wants the browser's ordinary prompt.
        if let Some(o) = options.as_object_mut() {
            o.remove("mediation");
        }
        Ok(options)
    }

    /// Finishes a passkey sign-in: the id of the user whose passkey
    /// answered. The credential id must be registered, the user handle the
    /// authenticator returned must be that user's, and every WebAuthn
    /// check and the counter's compare-and-set must pass.
    pub async fn finish_sign_in(
        &self,
        store: &Store,
        ceremony: &str,
        answer: &str,
        now: OffsetDateTime,
    ) -> Result<String, PasskeyError> {
        // Taken first, whatever follows: one ceremony, one try.
        let state: DiscoverableAuthentication = take(store, SIGN_IN_TICKET, ceremony, now).await?;
        let answer: PublicKeyCredential =
            serde_json::from_str(answer).map_err(|e| PasskeyError::Rejected(e.to_string()))?;
        let (handle, credential_id) = self
            .webauthn
            .identify_discoverable_authentication(&answer)
            .map_err(rejected)?;
        let Some(stored) = store.get_passkey(credential_id).await? else {
            return Err(PasskeyError::NotYours);
        };
        // The handle is the authenticator's word for whose key this is; it
        // must agree with the row (a credential moved between accounts, or
        // a forged answer naming another user's credential).
        if user_handle(&stored.user_id) != handle {
            return Err(PasskeyError::NotYours);
        }
        let passkey: Passkey = serde_json::from_str(&stored.credential)
            .map_err(|e| PasskeyError::Internal(format!("stored passkey: {e}")))?;
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(&answer, state, &passkey)
            .map_err(rejected)?;
        accept(store, &stored, &result, now).await?;
        Ok(stored.user_id)
    }
}

/// Records a checked assertion of the stored passkey `stored`: `Ok` only
/// when the store's compare-and-set accepted the counter (and the
/// backup-eligible flag is unchanged).
async fn accept(
    store: &Store,
    stored: &crate::store::Passkey,
    result: &AuthenticationResult,
    now: OffsetDateTime,
) -> Result<(), PasskeyError> {
    let mut passkey: Passkey = serde_json::from_str(&stored.credential)
        .map_err(|e| PasskeyError::Internal(format!("stored passkey: {e}")))?;
    passkey.update_credential(result);
    let credential =
        serde_json::to_string(&passkey).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    let accepted = store
        .record_passkey_use(
            &PasskeyUse {
                credential_id: &stored.credential_id,
                user_id: &stored.user_id,
                sign_count: result.counter(),
                backup_eligible: result.backup_eligible(),
                backup_state: result.backup_state(),
                credential: &credential,
            },
            now,
        )
        .await?;
    if accepted {
        Ok(())
    } else {
        Err(PasskeyError::Replayed)
    }
}

/// Keeps a new ceremony's state under `ceremony`, replacing one not
/// finished (a prompt the person cancelled, a second click): a session has
/// one ceremony of a kind at a time, and starting again must not fail.
async fn keep(
    store: &Store,
    kind: &str,
    ceremony: &str,
    state: &str,
    now: OffsetDateTime,
) -> Result<(), PasskeyError> {
    store.take_ticket(kind, ceremony, now).await?;
    store
        .put_ticket(kind, ceremony, state, now + CEREMONY_TTL, now)
        .await?;
    Ok(())
}

/// A ceremony's state, taken once.
async fn take<T: serde::de::DeserializeOwned>(
    store: &Store,
    kind: &str,
    ceremony: &str,
    now: OffsetDateTime,
) -> Result<T, PasskeyError> {
    let Some(state) = store.take_ticket(kind, ceremony, now).await? else {
        return Err(PasskeyError::NoCeremony);
    };
    serde_json::from_str(&state).map_err(|e| PasskeyError::Internal(format!("ceremony state: {e}")))
}

/// The WebAuthn user handle for a user: stable, and not the e-mail (an
/// authenticator may show or keep it): the first 16 bytes of SHA-256 of
/// the user id.
pub fn user_handle(user_id: &str) -> Uuid {
    let digest = sha2::Sha256::digest(user_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// A passkey's name as shown: trimmed, control characters dropped, at most
/// [`MAX_NAME_LEN`] characters; "Passkey" when nothing is left.
pub fn clean_name(name: &str) -> String {
    let n: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_LEN)
        .collect();
    if n.is_empty() { "Passkey".into() } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_auth_host() {
        assert!(Passkeys::new("https://auth.example", "Tailwind").is_ok());
        assert!(Passkeys::new("http://auth.localhost:8080", "Tailwind").is_ok());
        assert!(Passkeys::new("not a url", "Tailwind").is_err());
    }

    #[test]
    fn names_are_cleaned_and_handles_are_stable() {
        assert_eq!(clean_name("  YubiKey\u{7}\n "), "YubiKey");
        assert_eq!(clean_name(""), "Passkey");
        assert_eq!(clean_name(&"x".repeat(100)).len(), MAX_NAME_LEN);
        assert_eq!(user_handle("u_anna"), user_handle("u_anna"));
        assert_ne!(user_handle("u_anna"), user_handle("u_ben"));
    }
}
