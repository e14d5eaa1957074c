//! The values the store reads and writes; backend-neutral.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use time::OffsetDateTime;

/// A user's kind, as in the rule vocabulary (`guests`, `members`).
pub use rules::UserType;

/// Whether a user may sign in at all. `Blocked` denies every request of the
/// user whatever the policies say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserState {
    Active,
    Blocked,
}

impl UserState {
    /// The stored and displayed name: `active` or `blocked`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Blocked => "blocked",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(UserState::Active),
            "blocked" => Some(UserState::Blocked),
            _ => None,
        }
    }
}

impl fmt::Display for UserState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The account at an identity provider a user signs in with: the IdP's name
/// from the config and its stable subject (`sub`/`oid`), never the e-mail.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub idp: String,
    pub subject: String,
}

/// A user as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Stable id (`X-Portcullis-User`); never reused, independent of e-mail.
    pub id: String,
    /// The e-mail as last given (case kept); unique ignoring case.
    pub email: String,
    pub display_name: Option<String>,
    pub user_type: UserType,
    pub state: UserState,
    pub created_at: OffsetDateTime,
    /// `None` until the user first signs in (an invited guest).
    pub identity: Option<Identity>,
}

/// What [`Store::upsert_user`](super::Store::upsert_user) writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    /// The stable id; use [`new_user_id`] for a new user.
    pub id: String,
    pub email: String,
    /// `None` keeps the stored name on update.
    pub display_name: Option<String>,
    pub user_type: UserType,
    /// `None` keeps the stored identity on update (an invitation re-sent to a
    /// guest who has already signed in does not unlink them).
    pub identity: Option<Identity>,
}

/// A fresh stable user id: `u_` and 128 random bits, URL-safe.
pub fn new_user_id() -> String {
    new_id("u_")
}

/// A fresh id: `prefix` followed by 128 random bits in unpadded URL-safe
/// base64 (22 characters), the format of session ids. Used for the rows the
/// store creates itself (invitations `inv_…`, access requests `req_…`);
/// 128 bits make a collision or a guess out of reach.
pub fn new_id(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::random();
    let mut id = String::with_capacity(prefix.len() + 22);
    id.push_str(prefix);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes, &mut id);
    id
}

/// The form e-mail addresses are compared in: trimmed and lower-cased, so
/// `Anna@Contoso.com` and `anna@contoso.com` are one user.
pub(crate) fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A user's assignment to an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub user_id: String,
    pub app: String,
    pub granted_at: OffsetDateTime,
    /// `None`: no end (members only).
    pub expires_at: Option<OffsetDateTime>,
    /// Who granted it (an admin, an app owner's user id), if recorded.
    pub granted_by: Option<String>,
}

impl Assignment {
    /// Whether the assignment is in force at `now`: the end is exclusive.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|end| now < end)
    }
}

/// A session-signing key shared by all replicas.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// Key id, as in the JWT header `kid` and the JWKS.
    pub kid: String,
    /// JOSE algorithm name (`EdDSA`, `ES256`, …).
    pub algorithm: String,
    /// Private key bytes in the encoding the session module chose (e.g. PKCS#8 DER).
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// After this the key neither signs nor verifies.
    pub not_after: OffsetDateTime,
}

impl fmt::Debug for SigningKey {
    // The private key must never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"<redacted>")
            .field("public_key_len", &self.public_key.len())
            .field("created_at", &self.created_at)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// A session revoked before its natural end (sign-out, admin action).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedSession {
    pub sid: String,
    /// When the session would have expired anyway; the row may be pruned then.
    pub expires_at: OffsetDateTime,
    pub revoked_at: OffsetDateTime,
}

/// An audit record to append.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAuditEntry {
    pub at: OffsetDateTime,
    /// Who acted: a user id, `admin`, `system`, ….
    pub actor: String,
    /// What happened, a stable snake_case name (`guest_invited`, `assignment_revoked`).
    pub action: String,
    /// The user (or other object) acted on.
    pub subject: Option<String>,
    pub app: Option<String>,
    /// Anything else, as a JSON object.
    pub detail: serde_json::Value,
}

/// An audit record as stored; `id` grows with every append.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub app: Option<String>,
    pub detail: serde_json::Value,
}

/// Which audit records [`Store::list_audit`](super::Store::list_audit) returns:
/// newest first, at most `limit`, older than `before_id` when paging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    pub subject: Option<String>,
    pub app: Option<String>,
    /// Entries whose actor contains this text, in any case (`ada` finds
    /// `ada@tailwindtraders.com`).
    pub actor: Option<String>,
    /// Entries of exactly this action (`guest_blocked`).
    pub action: Option<String>,
    /// Only records with a smaller id (the last id of the previous page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

impl Default for AuditQuery {
    /// Everything, newest 100 first.
    fn default() -> Self {
        AuditQuery {
            subject: None,
            app: None,
            actor: None,
            action: None,
            before_id: None,
            limit: 100,
        }
    }
}

/// A guest as the console's list shows them: the user, every assignment
/// (live or ended, by app), the inviter of their latest invitation, and
/// whether an invitation of theirs is pending at the time asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestSummary {
    pub user: User,
    pub assignments: Vec<Assignment>,
    pub inviter: Option<String>,
    pub invitation_pending: bool,
}

/// An app the user is assigned to and until when; part of [`DirectoryUser`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignmentWindow {
    pub app: String,
    pub expires_at: Option<OffsetDateTime>,
}

/// Everything the request path needs to know about one existing user, as
/// loaded in one read. The [`DirectoryCache`](super::DirectoryCache) holds these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    pub user_type: UserType,
    pub state: UserState,
    /// Group names, sorted.
    pub groups: Arc<[String]>,
    /// Every assignment of the user, live or not, sorted by app.
    pub assignments: Arc<[AssignmentWindow]>,
}

/// The directory's answer for one user and one app at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryFacts {
    /// `false`: no user has this id (deleted, or a token from elsewhere).
    pub user_exists: bool,
    /// `None` when the user does not exist.
    pub user_type: Option<UserType>,
    /// The user is blocked; deny whatever else is true.
    pub blocked: bool,
    /// Group names, sorted (for `group:NAME`).
    pub groups: Arc<[String]>,
    /// An assignment row exists, live or not.
    pub assigned: bool,
    /// Its end; `None` with `assigned` means no end.
    pub assignment_expires_at: Option<OffsetDateTime>,
    /// The assignment is in force at the instant these facts were made for:
    /// it exists, its end is after that instant, and an assignment without
    /// an end counts only for a member (a guest's never does, even if a row
    /// got one by a type change). Does not look at `blocked`.
    pub assigned_live: bool,
}

impl DirectoryFacts {
    /// The facts for `app` at `now` from a loaded user (`None`: unknown user).
    ///
    /// `assigned_live` is computed here, from `now`, every time: a cached
    /// entry whose assignment ends while it is cached reads as not live.
    pub fn evaluate(user: Option<&DirectoryUser>, app: &str, now: OffsetDateTime) -> Self {
        let Some(user) = user else {
            return DirectoryFacts {
                user_exists: false,
                user_type: None,
                blocked: false,
                groups: Arc::from([]),
                assigned: false,
                assignment_expires_at: None,
                assigned_live: false,
            };
        };
        let window = user
            .assignments
            .binary_search_by(|w| w.app.as_str().cmp(app))
            .ok()
            .map(|i| &user.assignments[i]);
        let assignment_expires_at = window.and_then(|w| w.expires_at);
        let assigned_live = match window {
            None => false,
            Some(AssignmentWindow {
                expires_at: Some(end),
                ..
            }) => now < *end,
            Some(AssignmentWindow {
                expires_at: None, ..
            }) => user.user_type == UserType::Member,
        };
        DirectoryFacts {
            user_exists: true,
            user_type: Some(user.user_type),
            blocked: user.state == UserState::Blocked,
            groups: Arc::clone(&user.groups),
            assigned: window.is_some(),
            assignment_expires_at,
            assigned_live,
        }
    }
}

/// A user's TOTP factor (Portcullis's own MFA) as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub user_id: String,
    /// The raw HMAC key shared with the authenticator app. Never logged:
    /// `Debug` prints only its length.
    pub secret: Vec<u8>,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    /// Code length, 6 to 8.
    pub digits: u32,
    /// Step length in seconds (30).
    pub period: u32,
    /// `None` while enrollment waits for the first correct code.
    pub confirmed_at: Option<OffsetDateTime>,
    /// The highest step (unix time / `period`) accepted so far; a code of
    /// this step or an earlier one is a replay.
    pub last_used_step: Option<i64>,
    /// Failed attempts since the last success or lock.
    pub failed_attempts: u32,
    /// While in the future, every attempt is refused unchecked.
    pub locked_until: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// A new key waiting to replace `secret` (security info), with when it
    /// was made: `secret` stays the factor until a code from this key
    /// confirms it. Same algorithm, digits and period. Never logged.
    pub replacement: Option<(Vec<u8>, OffsetDateTime)>,
}

impl TotpFactor {
    /// Whether the lockout is in force at `now` (its end is exclusive).
    pub fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }
}

impl fmt::Debug for TotpFactor {
    // The secret must never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpFactor")
            .field("user_id", &self.user_id)
            .field("secret", &"<redacted>")
            .field("secret_len", &self.secret.len())
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_used_step", &self.last_used_step)
            .field("failed_attempts", &self.failed_attempts)
            .field("locked_until", &self.locked_until)
            .field("created_at", &self.created_at)
            .field(
                "replacement_started_at",
                &self.replacement.as_ref().map(|(_, at)| at),
            )
            .finish()
    }
}

/// What [`Store::begin_totp_enrollment`](super::Store::begin_totp_enrollment) writes.
#[derive(Clone, PartialEq, Eq)]
pub struct NewTotpFactor {
    pub user_id: String,
    pub secret: Vec<u8>,
    pub algorithm: String,
    pub digits: u32,
    pub period: u32,
}

impl fmt::Debug for NewTotpFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewTotpFactor")
            .field("user_id", &self.user_id)
            .field("secret", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .finish()
    }
}

/// The lockout state after [`Store::record_mfa_failure`](super::Store::record_mfa_failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfaFailures {
    /// Failures counted towards the next lock (0 right after a lock).
    pub failed_attempts: u32,
    pub locked_until: Option<OffsetDateTime>,
}

/// The form a secret (a ticket key, a passcode, a rate-limit key) is stored
/// in: the lower-case hex SHA-256 of `parts`, each followed by a NUL byte so
/// that no two different part lists hash the same input. Callers of the store
/// pass raw values; only this digest reaches the database.
pub(crate) fn secret_hash(parts: &[&str]) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            use fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// The outcome of [`Store::check_passcode`](super::Store::check_passcode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PasscodeCheck {
    /// The code was right and is now used up; the e-mail address is proven.
    Accepted,
    /// The code was wrong and counted; `attempts_left` more may be tried
    /// (0: the code is now dead, like [`PasscodeCheck::TooManyAttempts`]).
    Wrong { attempts_left: u32 },
    /// The code's time is up; nothing was counted. Send a new one.
    Expired,
    /// Earlier wrong guesses used up every attempt; the code is dead even if
    /// this guess was right. Send a new one.
    TooManyAttempts,
    /// No code is waiting for this address (never sent, already used, or
    /// replaced while this check ran).
    NotFound,
}

/// One counter a request is checked against in
/// [`Store::hit_rate_limits`](super::Store::hit_rate_limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit<'a> {
    /// The limit's name (`passcode-ip`, `password-address`, …); counters of
    /// two buckets never meet.
    pub bucket: &'a str,
    /// What is counted: a client key, an e-mail address. Only its SHA-256
    /// is stored.
    pub key: &'a str,
    /// Hits allowed per window; the one after them is over the limit.
    pub max: u32,
}

/// What [`Store::hit_rate_limits`](super::Store::hit_rate_limits) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RateVerdict {
    /// Every counter was counted and is within its limit.
    Within,
    /// `bucket`'s counter is over its limit; the counters after it were not
    /// touched.
    Over { bucket: String },
    /// `bucket` already counts `max_counters` keys in this window and this
    /// key is not one of them: refused without a counter, like
    /// [`RateVerdict::Over`], until the window ends.
    Full { bucket: String },
}

/// The terms a user last accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    /// The version string of the terms, as the config names it.
    pub terms_version: String,
    pub accepted_at: OffsetDateTime,
}

/// A session issued at sign-in, as [`Store::insert_session`](super::Store::insert_session)
/// writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session id carried in the session token (`sid`).
    pub sid: String,
    pub user_id: String,
    /// The config name of the IdP the user signed in with (or the name the
    /// e-mail passcode sign-in uses).
    pub idp: String,
    pub created_at: OffsetDateTime,
    /// When the token lapses; also how long a revocation is kept.
    pub expires_at: OffsetDateTime,
    /// The browser and platform it signed in from, in words ("Chrome on
    /// Windows"); `None` when unknown or recorded before this existed.
    pub device: Option<String>,
}

/// A guest invitation as stored (the link's token only as a hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    /// The invited address (case kept).
    pub email: String,
    /// The guest user made for it (no identity until the first sign-in).
    pub user_id: String,
    pub apps: Vec<String>,
    /// Access ends at this time, or …
    pub access_until: Option<OffsetDateTime>,
    /// … this many days after redemption.
    pub access_days: Option<u32>,
    /// The inviter's personal message.
    pub message: Option<String>,
    /// Who invited (a name or e-mail, shown in the mail).
    pub inviter: String,
    pub created_at: OffsetDateTime,
    /// The link works until then (exclusive).
    pub expires_at: OffsetDateTime,
    pub redeemed_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl Invitation {
    /// `pending`, `redeemed`, `revoked` or `expired` at `now`.
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        if self.redeemed_at.is_some() {
            "redeemed"
        } else if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at <= now {
            "expired"
        } else {
            "pending"
        }
    }

    /// When the access it grants ends, for a redemption at `at`.
    pub fn access_end(&self, at: OffsetDateTime) -> OffsetDateTime {
        match (self.access_until, self.access_days) {
            (Some(t), _) => t,
            (None, Some(d)) => at + time::Duration::days(i64::from(d)),
            (None, None) => at,
        }
    }
}

/// What [`Store::create_invitation`](super::Store::create_invitation) writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInvitation {
    pub email: String,
    pub user_id: String,
    pub apps: Vec<String>,
    pub access_until: Option<OffsetDateTime>,
    pub access_days: Option<u32>,
    pub message: Option<String>,
    pub inviter: String,
    pub expires_at: OffsetDateTime,
}

/// The outcome of [`Store::redeem_invitation`](super::Store::redeem_invitation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redemption {
    /// This call used the link (the only one that ever will).
    Redeemed(Box<Invitation>),
    NotFound,
    Expired,
    Revoked,
    AlreadyUsed,
}

/// Where a sign-up request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
}

impl RequestStatus {
    /// The stored and displayed name: `pending`, `approved` or `denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Denied => "denied",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(RequestStatus::Pending),
            "approved" => Some(RequestStatus::Approved),
            "denied" => Some(RequestStatus::Denied),
            _ => None,
        }
    }
}

/// A partner's self-service request for access to one app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRequest {
    pub id: String,
    pub app: String,
    pub user_id: String,
    /// The answers to the app's sign-up attributes (name → trimmed value).
    pub attributes: std::collections::BTreeMap<String, String>,
    pub status: RequestStatus,
    pub created_at: OffsetDateTime,
    pub decided_at: Option<OffsetDateTime>,
    /// Who decided: an owner's e-mail, or `automatic`.
    pub decided_by: Option<String>,
}

/// What [`Store::create_access_request`](super::Store::create_access_request) writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccessRequest {
    pub app: String,
    pub user_id: String,
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// A guest assignment whose ending reminder this caller claimed
/// ([`Store::claim_reminders`](super::Store::claim_reminders)); send it, or
/// give it back with
/// [`Store::release_reminder`](super::Store::release_reminder).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueReminder {
    pub user_id: String,
    pub app: String,
    pub expires_at: OffsetDateTime,
    /// The claim's time, as stored in `reminded_at`.
    pub claimed_at: OffsetDateTime,
}

/// A guest whose last assignment ended, claimed once
/// ([`Store::end_guest_access`](super::Store::end_guest_access)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndedGuest {
    pub user_id: String,
    pub email: String,
    /// The end of their last assignment.
    pub ended_at: OffsetDateTime,
    /// Whether this claim blocked them (and audited `guest_blocked`).
    pub blocked: bool,
}

impl EndedGuest {
    /// The audit entries (action, JSON detail) the claim writes with it, in
    /// its transaction: `access_expired`, then `guest_blocked` if it blocked.
    pub(crate) fn audit_entries(&self) -> Vec<(&'static str, String)> {
        let mut entries = vec![(
            "access_expired",
            serde_json::json!({ "ended_at": self.ended_at.unix_timestamp() }).to_string(),
        )];
        if self.blocked {
            entries.push((
                "guest_blocked",
                serde_json::json!({ "reason": "last_assignment_ended" }).to_string(),
            ));
        }
        entries
    }
}

/// Guests by state, for the `portcullis_guests` gauge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestCounts {
    /// Active with at least one live assignment.
    pub active: u64,
    pub blocked: u64,
    /// Active, no live assignment (invited and not yet redeemed, or ended
    /// and `on_last_assignment_end: none`).
    pub without_access: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_id_is_the_prefix_then_128_random_bits_in_url_safe_base64() {
        let (a, b) = (new_id("inv_"), new_id("inv_"));
        assert_ne!(a, b);
        let rest = a.strip_prefix("inv_").expect("the prefix comes first");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(rest)
            .expect("unpadded URL-safe base64");
        assert_eq!(bytes.len(), 16);
        assert!(new_user_id().starts_with("u_"));
    }
}

/// A registered passkey (WebAuthn credential) as stored: public material
/// only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passkey {
    /// The authenticator's credential id (raw bytes); unique across users.
    pub credential_id: Vec<u8>,
    pub user_id: String,
    /// What the person called it ("YubiKey", "Laptop").
    pub name: String,
    /// The WebAuthn library's serialised credential (public key, counter,
    /// flags), JSON.
    pub credential: String,
    /// The highest signature counter accepted so far (0: the authenticator
    /// keeps none).
    pub sign_count: u32,
    /// The authenticator may sync the key to other devices (BE); fixed at
    /// registration.
    pub backup_eligible: bool,
    /// The key is synced now (BS), as last seen.
    pub backup_state: bool,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// A passkey to register.
#[derive(Clone, Debug)]
pub struct NewPasskey {
    pub credential_id: Vec<u8>,
    pub user_id: String,
    pub name: String,
    pub credential: String,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
}

/// A verified assertion to record (see `Store::record_passkey_use`).
#[derive(Clone, Copy, Debug)]
pub struct PasskeyUse<'a> {
    pub credential_id: &'a [u8],
    /// Whose the assertion says the credential is; another user's
    /// credential id matches no row.
    pub user_id: &'a str,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// The credential as updated by the assertion (counter, flags).
    pub credential: &'a str,
}

/// Where a guest's request to set up MFA again stands (issue 20,
/// `recovery_requests`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryStatus {
    /// Asked; no owner has decided.
    Pending,
    /// An owner approved: the re-enrolment link was mailed.
    Approved,
    Denied,
    /// The link was redeemed (once).
    Used,
}

impl RecoveryStatus {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryStatus::Pending => "pending",
            RecoveryStatus::Approved => "approved",
            RecoveryStatus::Denied => "denied",
            RecoveryStatus::Used => "used",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(RecoveryStatus::Pending),
            "approved" => Some(RecoveryStatus::Approved),
            "denied" => Some(RecoveryStatus::Denied),
            "used" => Some(RecoveryStatus::Used),
            _ => None,
        }
    }
}

/// A guest's request to set up a new second factor after losing theirs.
/// The browser binding and the link's token are stored only as digests and
/// never read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryRequest {
    pub id: String,
    pub user_id: String,
    /// The app the guest was on the way to; `None`: any app they hold.
    pub app: Option<String>,
    pub status: RecoveryStatus,
    pub created_at: OffsetDateTime,
    pub decided_at: Option<OffsetDateTime>,
    /// The deciding owner's e-mail.
    pub decided_by: Option<String>,
    /// Approved: the re-enrolment link works until then (exclusive).
    pub link_expires_at: Option<OffsetDateTime>,
    pub used_at: Option<OffsetDateTime>,
}

/// What a re-enrolment link is for this browser and user
/// ([`Store::recovery_link`](super::Store::recovery_link),
/// [`Store::redeem_recovery_link`](super::Store::redeem_recovery_link)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryLink {
    /// Good (and, from `redeem_recovery_link`, now used up).
    Valid(RecoveryRequest),
    /// No approved request has this link.
    Unknown,
    /// Redeemed before.
    Used,
    /// Past its 30 minutes.
    Expired,
    /// Opened in a browser other than the one that asked.
    OtherBrowser,
    /// Opened while signed in as someone else.
    OtherUser,
}
