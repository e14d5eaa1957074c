//! Portcullis's own second factor: TOTP (RFC 6238) with an authenticator app,
//! plus single-use recovery codes. Used for step-up when the IdP is not
//! trusted for MFA (DESIGN.md, "MFA ─▶ step-up").
//!
//! Off the hot path: every operation reads and writes the [`Store`], and the
//! sign-in endpoints call it (never the proxy phases). Time comes in as `now`.
//!
//! # What it guarantees
//!
//! - Codes: 6 digits, 30 s steps, HMAC-SHA1 (what every authenticator app
//!   supports), 160-bit random secret, accepted one step either side of `now`
//!   (clock drift, typing time). Comparison is constant time (totp-rs's
//!   `Token` equality), and all steps of the window are always checked, so
//!   timing does not tell which one matched.
//! - Replay (RFC 6238 §5.2): a code is accepted only through a
//!   compare-and-set that raises the factor's `last_used_step`
//!   ([`Store::record_totp_step`]). A code cannot be used twice, nor can a
//!   code of an older step after a newer one was used, on any replica that
//!   shares the database, even when two requests race.
//! - Brute force: [`TotpSettings::max_failures`] (5) failed attempts lock the
//!   factor for [`TotpSettings::lockout`] (15 min). While locked every
//!   attempt is refused without looking at the code, recovery codes
//!   included; a success clears the count. The count restarts at each lock,
//!   so a guesser gets at most 5 tries per 15 minutes (about 3·10⁻⁶ each).
//!   An app owner's [`Totp::reset`] is the way out for a locked-out user.
//!   Blanks and dashes in a code ("581 980") are ignored; input that is not
//!   a TOTP code at all is [`MfaError::Malformed`] and costs no try.
//! - Recovery codes: 10 codes of 10 characters (50 random bits each), shown
//!   once at confirmation, stored as argon2id PHC strings, each usable once
//!   (atomic in the store).
//!
//! # What it does not do (yet)
//!
//! - The TOTP secret is stored unencrypted in the database (a BLOB), so the
//!   database file must be protected like the signing keys it also holds.
//!   It is never logged: every type holding it redacts it in `Debug`.
//!   Encrypting it needs a key from the config.
//! - The metric `portcullis_mfa_total{method,result}` is registered by the
//!   caller; this module gives the label values ([`MfaMethod::as_str`],
//!   [`result_label`]).

mod recovery;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use time::OffsetDateTime;
use totp_rs::{Algorithm, Builder, Totp as Generator};

use crate::store::{NewAuditEntry, NewTotpFactor, Store, StoreError, TotpFactor};

/// Secret length: 160 bits, as RFC 4226 §4 recommends.
const SECRET_BYTES: usize = 20;
/// Enrolled factors use what authenticator apps support everywhere.
const ALGORITHM: Algorithm = Algorithm::SHA1;
const DIGITS: u32 = 6;
const PERIOD: u32 = 30;
/// Side length of the QR code image, in pixels (SVG user units).
const QR_MIN_PIXELS: u32 = 200;

/// How a second factor was presented, the `method` label of
/// `portcullis_mfa_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MfaMethod {
    Totp,
    RecoveryCode,
}

impl MfaMethod {
    /// Stable label value: `totp` or `recovery_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            MfaMethod::Totp => "totp",
            MfaMethod::RecoveryCode => "recovery_code",
        }
    }
}

/// The `result` label of `portcullis_mfa_total` for an outcome: `ok` or the
/// error's [`MfaError::as_str`].
pub fn result_label<T>(result: &Result<T, MfaError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.as_str(),
    }
}

/// Why a second-factor operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The code does not match (wrong, or outside the ±1 step
    /// window; for recovery codes also one already used).
    #[error("mfa: the code is not valid")]
    InvalidCode,
    /// What was typed cannot be a code at all (wrong length, letters in a
    /// TOTP code). Not counted as a failed attempt: a typo of shape gives a
    /// guesser nothing, and refusing it should not cost the user a try.
    #[error("mfa: that is not a code of the expected shape")]
    Malformed,
    /// The code matched, but its step (or that recovery code) was already
    /// used: a replay, or a double submit.
    #[error("mfa: that code was already used; wait for the next one")]
    Replayed,
    /// Too many failed attempts; nothing is checked until `until`.
    #[error("mfa: too many failed attempts; try again after {until}")]
    Locked { until: OffsetDateTime },
    /// The user has no confirmed TOTP factor (never enrolled, enrollment not
    /// confirmed, or reset).
    #[error("mfa: no confirmed TOTP factor; enroll first")]
    NotEnrolled,
    /// No replacement key is waiting to be confirmed: none was started, it
    /// was cancelled, or it took longer than
    /// [`TotpSettings::replacement_window`].
    #[error("mfa: no new authenticator key is waiting; start the replacement again")]
    NoReplacement,
    /// Enrollment or confirmation of a user whose factor is already confirmed.
    #[error("mfa: a TOTP factor is already confirmed; reset it first")]
    AlreadyEnrolled,
    /// The caller's input is unusable (e.g. a `:` in the account label).
    #[error("mfa: {reason}")]
    Invalid { reason: &'static str },
    /// The store did not answer; deny (fail closed).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value or a library call failed in a way that is not the
    /// user's fault (corrupt factor, hashing error, time before 1970).
    #[error("mfa: internal error: {reason}")]
    Internal { reason: &'static str },
}

impl MfaError {
    /// Stable snake_case name, the `result` label of `portcullis_mfa_total`
    /// and the `error` field of logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            MfaError::InvalidCode => "invalid_code",
            MfaError::Malformed => "malformed",
            MfaError::Replayed => "replayed",
            MfaError::Locked { .. } => "locked",
            MfaError::NotEnrolled => "not_enrolled",
            MfaError::NoReplacement => "no_replacement",
            MfaError::AlreadyEnrolled => "already_enrolled",
            MfaError::Invalid { .. } => "invalid_input",
            MfaError::Store(_) => "store_error",
            MfaError::Internal { .. } => "internal",
        }
    }
}

/// What the user needs to add the factor to an authenticator app. Shown once,
/// on the enrollment page; every field contains the secret, so `Debug`
/// redacts them all.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// The secret in base32 without padding, for typing it in by hand.
    pub secret_base32: String,
    /// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…` (Key URI format).
    pub otpauth_uri: String,
    /// The URI as a QR code: `data:image/svg+xml;base64,…`, for an `<img src>`.
    pub qr_svg_data_uri: String,
}

impl Enrollment {
    /// The key in blocks of four (`ABCD EFGH …`), for typing it by hand;
    /// authenticator apps ignore the blanks.
    pub fn secret_grouped(&self) -> String {
        group_by_four(&self.secret_base32)
    }
}

fn group_by_four(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// What the user typed as a TOTP code, without the blanks and dashes people
/// type to group digits ("581 980", "581-980"), or `None` when the rest is
/// not exactly `digits` ASCII digits.
pub fn normalize_totp_code(input: &str, digits: usize) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (code.len() == digits && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// Whether `input` has the shape of an authenticator code (6 digits once
/// blanks and dashes are gone) rather than of a recovery code.
pub fn looks_like_totp_code(input: &str) -> bool {
    normalize_totp_code(input, DIGITS as usize).is_some()
}

/// Whether `input` has the shape of a recovery code (`ABCDE-FGHJK`, case,
/// blanks and dashes aside). The sign-in page sends what has neither shape
/// back as [`MfaError::Malformed`] without trying it.
pub fn looks_like_recovery_code(input: &str) -> bool {
    recovery::normalize(input).is_some()
}

impl fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrollment")
            .field("secret_base32", &"<redacted>")
            .field("otpauth_uri", &"<redacted>")
            .field("qr_svg_data_uri", &"<redacted>")
            .finish()
    }
}

/// The recovery codes made at confirmation, formatted `ABCDE-FGHJK`. Shown
/// to the user once; only their hashes are stored. `Debug` prints the count.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodes(pub Vec<String>);

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes(<{} redacted>)", self.0.len())
    }
}

/// Tunables of [`Totp`]; [`Default`] is what production uses.
#[derive(Clone, Debug)]
pub struct TotpSettings {
    /// Failed attempts (wrong code, replay, wrong recovery code) that lock
    /// the factor. Default 5.
    pub max_failures: u32,
    /// How long a lock lasts. Default 15 minutes.
    pub lockout: Duration,
    /// Steps accepted either side of `now`. Default 1 (RFC 6238 §5.2);
    /// 0 accepts only the current step.
    pub skew_steps: u64,
    /// How many recovery codes confirmation makes. Default 10.
    pub recovery_codes: usize,
    /// argon2id cost for recovery-code hashes. Default argon2's (OWASP's)
    /// m = 19 MiB, t = 2, p = 1. Verification reads the cost from each
    /// stored hash, so changing it affects only new codes.
    pub recovery_hash: argon2::Params,
    /// How long a started authenticator replacement can be confirmed
    /// ([`Totp::begin_replacement`]); later, it starts again with a new
    /// key. Default 15 minutes: it bounds how long a key that is not yet
    /// in use sits in the store.
    pub replacement_window: Duration,
}

impl Default for TotpSettings {
    fn default() -> Self {
        TotpSettings {
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            skew_steps: 1,
            recovery_codes: 10,
            recovery_hash: argon2::Params::DEFAULT,
            replacement_window: Duration::from_secs(15 * 60),
        }
    }
}

/// The TOTP second factor. Cheap to clone; holds only its settings, so one
/// instance serves every user and replica.
#[derive(Clone, Debug, Default)]
pub struct Totp {
    settings: TotpSettings,
}

impl Totp {
    pub fn new(settings: TotpSettings) -> Self {
        Totp { settings }
    }

    pub fn settings(&self) -> &TotpSettings {
        &self.settings
    }

    /// Starts enrollment for `user_id`: makes a new secret and stores it as
    /// an unconfirmed factor (replacing an earlier unconfirmed one, so
    /// reloading the page gives a new QR code). `account_label` (usually the
    /// e-mail) and `issuer` (the organisation's name) are what the app shows;
    /// neither may contain `:`.
    ///
    /// Verification is refused until [`Totp::confirm`]. Errors:
    /// [`MfaError::AlreadyEnrolled`] when a confirmed factor exists,
    /// [`MfaError::Invalid`] for a bad label, `Store(NotFound)` for an
    /// unknown user.
    pub async fn enroll(
        &self,
        store: &Store,
        user_id: &str,
        account_label: &str,
        issuer: &str,
        now: OffsetDateTime,
    ) -> Result<Enrollment, MfaError> {
        check_labels(account_label, issuer)?;
        let secret: [u8; SECRET_BYTES] = rand::random();
        // Built before storing: an unusable label must not leave a factor.
        let enrollment = enrollment_for(&secret, account_label, issuer)?;
        let factor = NewTotpFactor {
            user_id: user_id.to_owned(),
            secret: secret.to_vec(),
            algorithm: ALGORITHM.as_str().to_owned(),
            digits: DIGITS,
            period: PERIOD,
        };
        match store.begin_totp_enrollment(&factor, now).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return Err(MfaError::AlreadyEnrolled),
            Err(e) => return Err(e.into()),
        }
        Ok(enrollment)
    }

    /// The enrollment page's key: the pending (unconfirmed) factor's when
    /// there is one, else a new one as [`Totp::enroll`]. A wrong first code
    /// or a reload then shows the same key, so the entry the user already
    /// added to the authenticator app stays the right one (a new key would
    /// leave a dead entry there). Errors as [`Totp::enroll`].
    pub async fn pending_enrollment(
        &self,
        store: &Store,
        user_id: &str,
        account_label: &str,
        issuer: &str,
        now: OffsetDateTime,
    ) -> Result<Enrollment, MfaError> {
        match store.get_totp_factor(user_id).await? {
            Some(f) if f.confirmed_at.is_some() => Err(MfaError::AlreadyEnrolled),
            Some(f)
                if f.algorithm == ALGORITHM.as_str()
                    && f.digits == DIGITS
                    && f.period == PERIOD =>
            {
                check_labels(account_label, issuer)?;
                enrollment_for(&f.secret, account_label, issuer)
            }
            _ => {
                self.enroll(store, user_id, account_label, issuer, now)
                    .await
            }
        }
    }

    /// Finishes enrollment with the first code from the app: on success the
    /// factor is confirmed, that code counts as used, and a fresh set of
    /// recovery codes replaces any earlier one. Returns the codes in clear,
    /// to show once.
    ///
    /// Errors: [`MfaError::NotEnrolled`] without a pending enrollment,
    /// [`MfaError::AlreadyEnrolled`] when already confirmed, and otherwise as
    /// [`Totp::verify`] (a wrong code counts towards the lockout).
    pub async fn confirm(
        &self,
        store: &Store,
        user_id: &str,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<RecoveryCodes, MfaError> {
        let Some(factor) = store.get_totp_factor(user_id).await? else {
            return Err(MfaError::NotEnrolled);
        };
        if factor.confirmed_at.is_some() {
            return Err(MfaError::AlreadyEnrolled);
        }
        let step = self.check_code(store, &factor, code, now).await?;
        let codes = recovery::generate(self.settings.recovery_codes);
        let hashes = recovery::hash_all(&self.settings.recovery_hash, &codes).await?;
        if store
            .confirm_totp_factor(user_id, step, &hashes, now)
            .await?
        {
            return Ok(RecoveryCodes(codes));
        }
        // Someone changed the factor between our read and the write.
        match store.get_totp_factor(user_id).await? {
            None => Err(MfaError::NotEnrolled),
            Some(f) if f.is_locked(now) => Err(locked(&f)),
            Some(f) if f.confirmed_at.is_some() => Err(MfaError::AlreadyEnrolled),
            Some(_) => Err(self.fail(store, user_id, MfaError::Replayed, now).await),
        }
    }

    /// Checks a code from the user's authenticator app at `now`. `Ok(())`
    /// means the user passed the second factor; the code (its step) is then
    /// used up for every replica.
    ///
    /// Errors: [`MfaError::NotEnrolled`] (no confirmed factor),
    /// [`MfaError::Locked`] (checked before the code), [`MfaError::InvalidCode`],
    /// [`MfaError::Replayed`]. Invalid and replayed codes count towards the
    /// lockout; the attempt that reaches the limit answers `Locked`.
    pub async fn verify(
        &self,
        store: &Store,
        user_id: &str,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<(), MfaError> {
        let factor = confirmed_factor(store, user_id).await?;
        let step = self.check_code(store, &factor, code, now).await?;
        if store.record_totp_step(user_id, step, now).await? {
            return Ok(());
        }
        // The compare-and-set lost: another request (maybe on another
        // replica) used this step or a newer one, locked, or reset the factor.
        match store.get_totp_factor(user_id).await? {
            Some(f) if f.confirmed_at.is_none() => Err(MfaError::NotEnrolled),
            None => Err(MfaError::NotEnrolled),
            Some(f) if f.is_locked(now) => Err(locked(&f)),
            Some(_) => Err(self.fail(store, user_id, MfaError::Replayed, now).await),
        }
    }

    /// Signs in with a recovery code instead of a TOTP code (lost phone).
    /// Case, blanks and dashes are ignored. On success the code is used up
    /// and the number of unused codes left is returned (show it, and suggest
    /// a reset when it is low).
    ///
    /// Errors: [`MfaError::NotEnrolled`], [`MfaError::Locked`],
    /// [`MfaError::InvalidCode`] (also for a code already used),
    /// [`MfaError::Replayed`] (a concurrent request used the same code first).
    /// Failures count towards the same lockout as TOTP codes.
    pub async fn use_recovery_code(
        &self,
        store: &Store,
        user_id: &str,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<usize, MfaError> {
        let factor = confirmed_factor(store, user_id).await?;
        if factor.is_locked(now) {
            return Err(locked(&factor));
        }
        let Some(code) = recovery::normalize(code) else {
            return Err(self.fail(store, user_id, MfaError::InvalidCode, now).await);
        };
        let hashes = store.unused_recovery_code_hashes(user_id).await?;
        let left = hashes.len().saturating_sub(1);
        let Some(hash) = recovery::find_match(hashes, code).await? else {
            return Err(self.fail(store, user_id, MfaError::InvalidCode, now).await);
        };
        if store.consume_recovery_code(user_id, &hash, now).await? {
            return Ok(left);
        }
        match store.get_totp_factor(user_id).await? {
            Some(f) if f.is_locked(now) => Err(locked(&f)),
            Some(f) if f.confirmed_at.is_some() => Err(MfaError::Replayed),
            _ => Err(MfaError::NotEnrolled),
        }
    }

    /// The person's own "new recovery codes" (security info): a current
    /// authenticator code first (as [`Totp::verify`], counting towards the
    /// lockout), then a fresh set replaces every earlier code, used or
    /// not. Returns the codes in clear, to show once; audited
    /// `recovery_codes_regenerated` by the user.
    pub async fn regenerate_recovery_codes(
        &self,
        store: &Store,
        user_id: &str,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<RecoveryCodes, MfaError> {
        self.verify(store, user_id, code, now).await?;
        let codes = recovery::generate(self.settings.recovery_codes);
        let hashes = recovery::hash_all(&self.settings.recovery_hash, &codes).await?;
        if !store.replace_recovery_codes(user_id, &hashes).await? {
            // Reset between the code check and the write.
            return Err(MfaError::NotEnrolled);
        }
        store
            .append_audit(&NewAuditEntry {
                at: now,
                actor: user_id.to_owned(),
                action: "recovery_codes_regenerated".to_owned(),
                subject: Some(user_id.to_owned()),
                app: None,
                detail: serde_json::json!({ "count": codes.len() }),
            })
            .await?;
        Ok(RecoveryCodes(codes))
    }

    /// The person's own "replace my authenticator" (security info), once a
    /// current code was checked ([`Totp::verify`]): the new key, waiting
    /// beside the confirmed one, which keeps working until
    /// [`Totp::finish_replacement`]. A replacement started less than
    /// [`TotpSettings::replacement_window`] ago is shown again rather than
    /// replaced, so a wrong code, a reload or a second tab never leaves a
    /// dead entry in the authenticator app.
    ///
    /// Errors: [`MfaError::NotEnrolled`] without a confirmed factor,
    /// [`MfaError::Invalid`] for a bad label.
    pub async fn begin_replacement(
        &self,
        store: &Store,
        user_id: &str,
        account_label: &str,
        issuer: &str,
        now: OffsetDateTime,
    ) -> Result<Enrollment, MfaError> {
        check_labels(account_label, issuer)?;
        let stale_before = now - self.settings.replacement_window;
        let secret: [u8; SECRET_BYTES] = rand::random();
        store
            .begin_totp_replacement(user_id, &secret, now, stale_before)
            .await?;
        // Written now, or one in time was already waiting: show that one.
        match store.get_totp_factor(user_id).await? {
            Some(f) if f.confirmed_at.is_some() => match &f.replacement {
                Some((key, _)) => enrollment_for(key, account_label, issuer),
                None => Err(MfaError::NoReplacement),
            },
            _ => Err(MfaError::NotEnrolled),
        }
    }

    /// The replacement key waiting for `user_id` and still in time, as the
    /// enrollment page shows it; [`MfaError::NoReplacement`] otherwise.
    pub async fn waiting_replacement(
        &self,
        store: &Store,
        user_id: &str,
        account_label: &str,
        issuer: &str,
        now: OffsetDateTime,
    ) -> Result<Enrollment, MfaError> {
        check_labels(account_label, issuer)?;
        match store.get_totp_factor(user_id).await? {
            Some(f) if f.confirmed_at.is_some() => match self.live_replacement(&f, now) {
                Some(key) => enrollment_for(key, account_label, issuer),
                None => Err(MfaError::NoReplacement),
            },
            _ => Err(MfaError::NotEnrolled),
        }
    }

    /// Finishes a replacement with a code from the new key: that key becomes
    /// the factor (the old one stops working), the code counts as used, and
    /// the recovery codes stay. A wrong code counts towards the lockout and
    /// keeps both keys as they were; audited `mfa_replaced` by the user.
    ///
    /// Errors: [`MfaError::NotEnrolled`], [`MfaError::NoReplacement`], and
    /// as [`Totp::verify`].
    pub async fn finish_replacement(
        &self,
        store: &Store,
        user_id: &str,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<(), MfaError> {
        let factor = confirmed_factor(store, user_id).await?;
        let Some(key) = self.live_replacement(&factor, now).map(<[u8]>::to_vec) else {
            return Err(MfaError::NoReplacement);
        };
        // The new key's codes are checked as a factor of their own: no step
        // of the old key makes one of them a replay.
        let candidate = TotpFactor {
            secret: key.clone(),
            last_used_step: None,
            replacement: None,
            ..factor
        };
        let step = self.check_code(store, &candidate, code, now).await?;
        if !store
            .finish_totp_replacement(user_id, &key, step, now)
            .await?
        {
            // Cancelled, restarted, reset or locked between read and write.
            return match store.get_totp_factor(user_id).await? {
                Some(f) if f.is_locked(now) => Err(locked(&f)),
                Some(f) if f.confirmed_at.is_some() => Err(MfaError::NoReplacement),
                _ => Err(MfaError::NotEnrolled),
            };
        }
        store
            .append_audit(&NewAuditEntry {
                at: now,
                actor: user_id.to_owned(),
                action: "mfa_replaced".to_owned(),
                subject: Some(user_id.to_owned()),
                app: None,
                detail: serde_json::json!({ "method": MfaMethod::Totp.as_str() }),
            })
            .await?;
        Ok(())
    }

    /// The waiting replacement key of `factor`, if started within the
    /// window.
    fn live_replacement<'f>(
        &self,
        factor: &'f TotpFactor,
        now: OffsetDateTime,
    ) -> Option<&'f [u8]> {
        factor
            .replacement
            .as_ref()
            .filter(|(_, started)| *started >= now - self.settings.replacement_window)
            .map(|(key, _)| key.as_slice())
    }

    /// An app owner's or admin's "reset MFA": deletes the user's factor and
    /// recovery codes (the user enrolls again at the next step-up) and
    /// appends an `mfa_reset` audit record by `actor`, also when there was
    /// nothing to delete. Returns whether a factor existed.
    ///
    /// The delete commits before the audit append; if the append fails the
    /// error is returned and the reset has happened unaudited.
    pub async fn reset(
        &self,
        store: &Store,
        user_id: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<bool, MfaError> {
        let existed = store.delete_totp_factor(user_id).await?;
        store
            .append_audit(&NewAuditEntry {
                at: now,
                actor: actor.to_owned(),
                action: "mfa_reset".to_owned(),
                subject: Some(user_id.to_owned()),
                app: None,
                detail: serde_json::json!({ "method": MfaMethod::Totp.as_str(), "had_factor": existed }),
            })
            .await?;
        Ok(existed)
    }

    /// Lock check, code check and replay pre-check shared by confirm and
    /// verify; returns the matched step. Counts failures.
    async fn check_code(
        &self,
        store: &Store,
        factor: &TotpFactor,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<i64, MfaError> {
        // Refuse before looking at the code: a locked factor must not answer
        // whether a guess was right (that would make the lock useless).
        if factor.is_locked(now) {
            return Err(locked(factor));
        }
        let digits = usize::try_from(factor.digits).map_err(|_| MfaError::Internal {
            reason: "stored TOTP digits out of range",
        })?;
        let Some(code) = normalize_totp_code(code, digits) else {
            return Err(MfaError::Malformed);
        };
        let generator = generator_for(factor)?;
        let unix = unix_seconds(now)?;
        let Some(step) = matching_step(&generator, &code, unix, self.settings.skew_steps) else {
            return Err(self
                .fail(store, &factor.user_id, MfaError::InvalidCode, now)
                .await);
        };
        let step = i64::try_from(step).map_err(|_| MfaError::Internal {
            reason: "time step out of range",
        })?;
        // Early answer only; the store's compare-and-set is what decides.
        if factor.last_used_step.is_some_and(|used| step <= used) {
            return Err(self
                .fail(store, &factor.user_id, MfaError::Replayed, now)
                .await);
        }
        Ok(step)
    }

    /// Counts a failure and returns `err`, or [`MfaError::Locked`] when this
    /// failure took the lock. A store error wins (fail closed).
    async fn fail(
        &self,
        store: &Store,
        user_id: &str,
        err: MfaError,
        now: OffsetDateTime,
    ) -> MfaError {
        match store
            .record_mfa_failure(
                user_id,
                self.settings.max_failures,
                self.settings.lockout,
                now,
            )
            .await
        {
            Ok(Some(state)) => match state.locked_until {
                Some(until) if now < until => MfaError::Locked { until },
                _ => err,
            },
            Ok(None) => MfaError::NotEnrolled,
            Err(e) => e.into(),
        }
    }
}

fn check_labels(account_label: &str, issuer: &str) -> Result<(), MfaError> {
    if account_label.trim().is_empty() || account_label.contains(':') {
        return Err(MfaError::Invalid {
            reason: "the account label is empty or contains ':'",
        });
    }
    if issuer.trim().is_empty() || issuer.contains(':') {
        return Err(MfaError::Invalid {
            reason: "the issuer is empty or contains ':'",
        });
    }
    Ok(())
}

/// Key, otpauth URI and QR code for `secret`, as the enrollment page shows
/// them.
fn enrollment_for(
    secret: &[u8],
    account_label: &str,
    issuer: &str,
) -> Result<Enrollment, MfaError> {
    let unusable = || MfaError::Invalid {
        reason: "the account label or issuer is not usable in an otpauth URI",
    };
    let generator = Builder::new()
        .with_algorithm(ALGORITHM)
        .with_digits(DIGITS as u8)
        .with_step_duration(u64::from(PERIOD))
        .with_skew(0)
        .with_secret(secret)
        .with_account_name(account_label)
        .with_issuer(Some(issuer))
        .build()
        .map_err(|_| unusable())?;
    let otpauth_uri = generator.to_url().map_err(|_| unusable())?;
    let qr_svg_data_uri = qr_svg_data_uri(&otpauth_uri)?;
    Ok(Enrollment {
        secret_base32: generator.secret().to_base32(),
        otpauth_uri,
        qr_svg_data_uri,
    })
}

/// The user's confirmed authenticator; [`MfaError::NotEnrolled`] without one.
async fn confirmed_factor(store: &Store, user_id: &str) -> Result<TotpFactor, MfaError> {
    match store.get_totp_factor(user_id).await? {
        Some(f) if f.confirmed_at.is_some() => Ok(f),
        _ => Err(MfaError::NotEnrolled),
    }
}

fn locked(factor: &TotpFactor) -> MfaError {
    MfaError::Locked {
        until: factor.locked_until.unwrap_or(OffsetDateTime::UNIX_EPOCH),
    }
}

fn unix_seconds(now: OffsetDateTime) -> Result<u64, MfaError> {
    u64::try_from(now.unix_timestamp()).map_err(|_| MfaError::Internal {
        reason: "the clock is before 1970",
    })
}

/// The code generator for a stored factor.
fn generator_for(factor: &TotpFactor) -> Result<Generator, MfaError> {
    let algorithm = factor
        .algorithm
        .parse::<Algorithm>()
        .map_err(|_| MfaError::Internal {
            reason: "stored TOTP algorithm is unknown",
        })?;
    generator(algorithm, factor.digits, factor.period, &factor.secret)
}

/// A TOTP generator with skew 0 (the window is [`matching_step`]'s job).
/// The one place codes are made, for enrolled factors and the RFC 6238 tests.
fn generator(
    algorithm: Algorithm,
    digits: u32,
    period: u32,
    secret: &[u8],
) -> Result<Generator, MfaError> {
    let digits = u8::try_from(digits).map_err(|_| MfaError::Internal {
        reason: "stored TOTP digits out of range",
    })?;
    Builder::new()
        .with_algorithm(algorithm)
        .with_digits(digits)
        .with_step_duration(u64::from(period))
        .with_skew(0)
        .with_secret(secret)
        .build()
        .map_err(|_| MfaError::Internal {
            reason: "stored TOTP factor is not RFC 6238 compliant",
        })
}

/// The highest step within `skew` steps of `unix` whose code is `code`, or
/// `None`. Every step of the window is checked (no early exit), each with
/// totp-rs's parse and constant-time token comparison, so the time taken
/// does not depend on the code or on which step matched. The highest step
/// wins so a code valid for two steps is not wrongly refused as a replay.
fn matching_step(generator: &Generator, code: &str, unix: u64, skew: u64) -> Option<u64> {
    let period = generator.step();
    let origin = unix / period;
    let mut found = None;
    for step in origin.saturating_sub(skew)..=origin.saturating_add(skew) {
        if generator.check(code, step * period).is_some() {
            found = Some(step);
        }
    }
    found
}

/// The otpauth URI as an SVG QR code in a data URI.
fn qr_svg_data_uri(uri: &str) -> Result<String, MfaError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|_| MfaError::Internal {
        reason: "the otpauth URI does not fit in a QR code",
    })?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(QR_MIN_PIXELS, QR_MIN_PIXELS)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}
