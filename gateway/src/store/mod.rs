//! The state store: users, groups, app assignments, session signing keys,
//! sessions and their revocations, the audit log, and the sign-in state
//! (single-use tickets, e-mail passcodes, rate limits, consent), behind one
//! interface with two backends, SQLite (one file, one replica) and PostgreSQL
//! (several replicas on one database) (DESIGN.md, "one state store interface,
//! two backends").
//!
//! # Why an enum and not a trait object
//!
//! [`Store`] is `enum Store { Sqlite(SqliteStore), Postgres(PostgresStore) }`
//! and every operation is an inherent `async fn` that matches on the backend.
//! With a closed set of two backends that gives static dispatch and plain
//! `async fn` (no boxed futures or `async_trait`), and an operation added to
//! one backend only does not compile until the other has it too. A trait
//! would only pay off for backends written outside this crate, which we do
//! not want. Both backends run the same tests (`tests.rs`, once per backend,
//! against a real SQLite file and a real PostgreSQL server).
//!
//! # One SQL, two dialects
//!
//! Each operation is written once, in `sql/`: its checks, its statements
//! and the decoding of its rows. `sqlite.rs` and `postgres.rs` hold only
//! what differs: opening the pool, the migrations, and a handful of dialect
//! macros (byte-order collation, JSONB casts, a typed `NULL` parameter, the
//! `BEGIN` of a snapshot read; listed in `sql/mod.rs`). Each backend then
//! compiles `sql/` as its own child module, on its own concrete types, so
//! both copies are type-checked and every statement is a static string
//! (`concat!` of SQL and a dialect macro).
//!
//! We did not write the operations once as generics over sqlx's `Database`
//! with a dialect trait: sqlx's executor, encode and decode bounds are not
//! implied by a trait, so every impl block would repeat a wall of
//! higher-ranked bounds, and dialect strings held in trait constants cannot
//! be `concat!`ed, so each statement would be built at run time and wrapped
//! in `AssertSqlSafe`. The module compiled twice keeps the SQL readable as
//! written and checked by the compiler for both backends.
//!
//! # Contract
//!
//! - Times are `time::OffsetDateTime` here and unix seconds (`INTEGER` in
//!   SQLite, `BIGINT` in PostgreSQL) in the database; sub-second precision is
//!   dropped on write.
//! - Operations that depend on "now" take it as an argument, so tests and the
//!   request path decide the clock.
//! - Every failure is a [`StoreError`] naming the operation. On the request
//!   path any error is a deny (fail closed); see [`DirectoryCache`].
//! - Secrets used as keys (ticket keys, passcodes, rate-limit keys) are
//!   passed raw and stored only as SHA-256 digests computed by the store.
//! - The request hot path never calls the store directly: it reads
//!   [`DirectoryCache::cached`] and, on a miss, the bounded
//!   [`DirectoryCache::get_or_load`].
//!
//! # Several replicas on one PostgreSQL
//!
//! Replicas share nothing but the database, and a change made through one
//! (a guest removed or blocked, an assignment revoked or ended, a session
//! signed out) reaches the others' request paths within 5 s, by polling
//! rather than by notification:
//! - Directory facts (user state, groups, assignment windows) are read
//!   through [`DirectoryCache`], whose entries live for its TTL (default
//!   4 s, leaving room for the request itself within the 5 s). The replica that made the change invalidates its own entry at
//!   once; every other replica reloads the user when its entry expires, so
//!   it acts on the change at most one TTL later. An assignment's end needs
//!   no message at all: the cache keeps the end time and judges liveness at
//!   each request.
//! - Session revocations are polled every second (`replica_sync`,
//!   `REVOCATION_POLL`) with [`Store::revocations_since`], so a revoked sid
//!   is denied on every replica within about a second plus the poll's query.
//! - Everything else the request path reads (tickets, passcodes, TOTP
//!   steps) is decided by one statement in the database, and rate-limit
//!   counters by one transaction, so there is no replica-local copy to go
//!   stale.
//!
//! `LISTEN/NOTIFY` could cut the directory delay below the TTL, but the 5 s
//! bound already holds without it, and a lost notification (a dropped
//! listener connection) would still leave the TTL as the real bound.

mod cache;
pub mod decisions;
mod error;
mod model;
mod postgres;
mod sqlite;
#[cfg(test)]
mod test_postgres;
#[cfg(test)]
mod tests;

use std::path::Path;

use time::OffsetDateTime;

pub use cache::{DirectoryCache, DirectoryCacheConfig};
pub use error::StoreError;
pub use model::{AccessRequest, NewAccessRequest, RequestStatus};
pub use model::{
    Assignment, AssignmentWindow, AuditEntry, AuditQuery, DirectoryFacts, DirectoryUser, Identity,
    NewAuditEntry, NewUser, RevokedSession, SigningKey, User, UserState, UserType, new_id,
    new_user_id,
};
pub use model::{Consent, PasscodeCheck, RateLimit, RateVerdict, SessionRecord};
pub use model::{DueReminder, EndedGuest};
pub use model::{GuestCounts, GuestSummary, Invitation, NewInvitation, Redemption};
pub use model::{MfaFailures, NewTotpFactor, TotpFactor};
pub use model::{NewPasskey, Passkey, PasskeyUse};
pub use model::{RecoveryLink, RecoveryRequest, RecoveryStatus};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// The state store. Cheap to clone: clones share one connection pool.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// Calls the same operation on whichever backend `$store` is.
macro_rules! on_backend {
    ($store:expr, $b:ident => $call:expr) => {
        match $store {
            Store::Sqlite($b) => $call,
            Store::Postgres($b) => $call,
        }
    };
}

impl Store {
    /// Opens the store named in the config: a PostgreSQL URL
    /// (`postgres://USER:PASSWORD@HOST:PORT/DB` or `postgresql://…`), or else
    /// a SQLite path, `sqlite://PATH` or `sqlite:PATH`. Runs at startup and
    /// applies the embedded migrations of that backend (a no-op when the
    /// schema is current).
    ///
    /// SQLite: creates the file and its parent directory if missing and
    /// switches on WAL, foreign keys and a busy timeout. PostgreSQL: the
    /// database must exist; see [`Store::open_postgres`].
    pub async fn open(location: &str) -> Result<Self, StoreError> {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            return Self::open_postgres(location).await;
        }
        if location.is_empty() || location.contains(":memory:") {
            // An in-memory database is one per pooled connection: every
            // connection would see a different, empty directory.
            return Err(StoreError::Unsupported {
                location: location.to_owned(),
                reason: "give the path of a database file",
            });
        }
        Self::open_sqlite(&sqlite::sqlite_path(location)).await
    }

    /// Opens the SQLite database file at `path`, as [`Store::open`] does.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        SqliteStore::open(path).await.map(Store::Sqlite)
    }

    /// Connects to the PostgreSQL database at `url` (a pool of a few
    /// connections, each wait bounded at 5 s) and migrates it. Every replica
    /// opens the same database; migrations take an advisory lock, so
    /// replicas may start together. [`StoreError::Open`] names the server
    /// and database but never the password.
    pub async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        PostgresStore::open(url).await.map(Store::Postgres)
    }

    /// Closes the pool; every later operation fails with
    /// [`StoreError::Database`]. Waits for checked-out connections to return.
    pub async fn close(&self) {
        on_backend!(self, b => b.close().await)
    }

    // ---- users ------------------------------------------------------------

    /// Creates the user `user.id`, or updates it. On update the e-mail and the
    /// type are replaced, the display name and identity only when given;
    /// `state` and `created_at` are never changed (signing in again must not
    /// unblock a blocked user). New users are `active`, created at `now`.
    ///
    /// Returns the stored user. [`StoreError::Conflict`] with `what` `"email"`
    /// when another user has that e-mail ignoring case, `"identity"` when
    /// another user has that IdP subject.
    pub async fn upsert_user(
        &self,
        user: &NewUser,
        now: OffsetDateTime,
    ) -> Result<User, StoreError> {
        on_backend!(self, b => b.upsert_user(user, now).await)
    }

    /// The user with this stable id, if any.
    pub async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        on_backend!(self, b => b.get_user(id).await)
    }

    /// The user with this e-mail, compared ignoring case and surrounding blanks.
    pub async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        on_backend!(self, b => b.get_user_by_email(email).await)
    }

    /// The user linked to `subject` at the IdP named `idp` (sign-in callback).
    pub async fn get_user_by_identity(
        &self,
        idp: &str,
        subject: &str,
    ) -> Result<Option<User>, StoreError> {
        on_backend!(self, b => b.get_user_by_identity(idp, subject).await)
    }

    /// All users, or those of one type, ordered by e-mail.
    pub async fn list_users(&self, user_type: Option<UserType>) -> Result<Vec<User>, StoreError> {
        on_backend!(self, b => b.list_users(user_type).await)
    }

    /// Every guest with their assignments, latest inviter and whether an
    /// invitation is pending at `now`, ordered by e-mail: one query (the
    /// console's list; no query per guest).
    pub async fn guest_summaries(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<GuestSummary>, StoreError> {
        on_backend!(self, b => b.guest_summaries(now).await)
    }

    /// Blocks or unblocks a user. [`StoreError::NotFound`] for an unknown id.
    /// Callers must then [`DirectoryCache::invalidate_user`].
    pub async fn set_user_state(&self, id: &str, state: UserState) -> Result<(), StoreError> {
        on_backend!(self, b => b.set_user_state(id, state).await)
    }

    /// Deletes a user with their memberships and assignments; `false` when
    /// there was no such user.
    pub async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        on_backend!(self, b => b.delete_user(id).await)
    }

    // ---- groups -----------------------------------------------------------

    /// Adds the user to `group`, creating the group if it is new. Adding twice
    /// is not an error. [`StoreError::NotFound`] for an unknown user.
    pub async fn add_group_member(
        &self,
        group: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.add_group_member(group, user_id, now).await)
    }

    /// Removes the user from `group`; `false` when they were not a member.
    pub async fn remove_group_member(
        &self,
        group: &str,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.remove_group_member(group, user_id).await)
    }

    /// The names of the user's groups, sorted; empty for an unknown user.
    pub async fn groups_of(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        on_backend!(self, b => b.groups_of(user_id).await)
    }

    // ---- assignments ------------------------------------------------------

    /// Assigns the user to `app` until `expires_at` (exclusive), or re-grants
    /// an existing assignment with the new end (keeping its `granted_at`).
    ///
    /// `expires_at: None` (no end) is for members only: for a guest it is
    /// [`StoreError::Invalid`], because a guest's access must lapse on its own.
    /// An end at or before `now` is [`StoreError::Invalid`]; an unknown user
    /// is [`StoreError::NotFound`].
    pub async fn grant_assignment(
        &self,
        user_id: &str,
        app: &str,
        expires_at: Option<OffsetDateTime>,
        granted_by: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Assignment, StoreError> {
        on_backend!(self, b => b.grant_assignment(user_id, app, expires_at, granted_by, now).await)
    }

    /// Moves the end of an existing assignment (longer or shorter), with the
    /// rules of [`Store::grant_assignment`]. [`StoreError::NotFound`] with
    /// `what` `"assignment"` when there is none to extend.
    pub async fn extend_assignment(
        &self,
        user_id: &str,
        app: &str,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Assignment, StoreError> {
        on_backend!(self, b => b.extend_assignment(user_id, app, expires_at, now).await)
    }

    /// Removes the assignment; `false` when there was none. For a guest,
    /// removing one that had not yet ended (and been acted on) counts as an
    /// end for [`Store::end_guest_access`].
    pub async fn revoke_assignment(&self, user_id: &str, app: &str) -> Result<bool, StoreError> {
        on_backend!(self, b => b.revoke_assignment(user_id, app).await)
    }

    /// The user's assignments, live and expired, ordered by app; use
    /// [`Assignment::is_live`] to tell them apart.
    pub async fn assignments_of_user(&self, user_id: &str) -> Result<Vec<Assignment>, StoreError> {
        on_backend!(self, b => b.assignments_of_user(user_id).await)
    }

    /// Who is assigned to `app`, live and expired, ordered by user id.
    pub async fn assignments_of_app(&self, app: &str) -> Result<Vec<Assignment>, StoreError> {
        on_backend!(self, b => b.assignments_of_app(app).await)
    }

    // ---- directory --------------------------------------------------------

    /// Everything the request path needs about one user (type, state, groups,
    /// every assignment window) in one read transaction of two statements;
    /// `None` for an unknown id. What [`DirectoryCache`] loads.
    pub async fn directory_user(&self, user_id: &str) -> Result<Option<DirectoryUser>, StoreError> {
        on_backend!(self, b => b.directory_user(user_id).await)
    }

    /// The directory's answer for `user_id` and `app` at `now`, uncached.
    /// An unknown user is `Ok` with `user_exists: false`; only an unanswered
    /// question is `Err`.
    pub async fn directory_facts(
        &self,
        user_id: &str,
        app: &str,
        now: OffsetDateTime,
    ) -> Result<DirectoryFacts, StoreError> {
        let user = self.directory_user(user_id).await?;
        Ok(DirectoryFacts::evaluate(user.as_ref(), app, now))
    }

    // ---- signing keys -----------------------------------------------------

    /// Stores a new session-signing key for all replicas.
    /// [`StoreError::Conflict`] when the `kid` exists (keys are never replaced).
    pub async fn insert_signing_key(&self, key: &SigningKey) -> Result<(), StoreError> {
        on_backend!(self, b => b.insert_signing_key(key).await)
    }

    /// All stored keys, newest first, expired ones included (the caller
    /// filters on `not_after`).
    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        on_backend!(self, b => b.list_signing_keys().await)
    }

    /// Deletes keys whose `not_after` is at or before `now`; returns how many.
    pub async fn delete_signing_keys_expired(
        &self,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        on_backend!(self, b => b.delete_signing_keys_expired(now).await)
    }

    // ---- revoked sessions -------------------------------------------------

    /// Records that session `sid` is revoked (sign-out, admin action) until
    /// `expires_at`, when its token would lapse anyway. Revoking twice is fine.
    pub async fn revoke_session(
        &self,
        sid: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.revoke_session(sid, expires_at, now).await)
    }

    /// Whether `sid` was revoked. Off the hot path: sessions keep a local
    /// revocation set fed by [`Store::revocations_since`].
    pub async fn is_revoked(&self, sid: &str) -> Result<bool, StoreError> {
        on_backend!(self, b => b.is_revoked(sid).await)
    }

    /// Revocations recorded at or after `since` (second resolution, so poll
    /// with overlap), oldest first.
    pub async fn revocations_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        on_backend!(self, b => b.revocations_since(since).await)
    }

    /// Forgets revocations of sessions that have expired by `now`.
    pub async fn prune_revoked_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_revoked_sessions(now).await)
    }

    // ---- audit ------------------------------------------------------------

    /// Appends an audit record; returns its id (ids grow with every append).
    pub async fn append_audit(&self, entry: &NewAuditEntry) -> Result<i64, StoreError> {
        on_backend!(self, b => b.append_audit(entry).await)
    }

    /// Audit records matching `query`, newest (highest id) first.
    pub async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        on_backend!(self, b => b.list_audit(query).await)
    }

    // ---- TOTP factors and recovery codes (mfa) ---------------------------

    /// Starts (or restarts) TOTP enrollment: stores an unconfirmed factor,
    /// replacing an earlier unconfirmed one (a fresh QR code), keeping the
    /// lockout counters. [`StoreError::Conflict`] when the user already has a
    /// confirmed factor (reset it first); [`StoreError::NotFound`] for an
    /// unknown user.
    pub async fn begin_totp_enrollment(
        &self,
        factor: &NewTotpFactor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.begin_totp_enrollment(factor, now).await)
    }

    /// The user's TOTP factor, confirmed or not, if any.
    pub async fn get_totp_factor(&self, user_id: &str) -> Result<Option<TotpFactor>, StoreError> {
        on_backend!(self, b => b.get_totp_factor(user_id).await)
    }

    /// Confirms an unconfirmed factor with the step of the first correct code
    /// (which counts as used) and replaces the recovery codes with
    /// `recovery_code_hashes`, in one transaction. `false` (nothing written)
    /// when there is no unconfirmed factor, it is locked at `now`, or the step
    /// is not newer than one already used.
    pub async fn confirm_totp_factor(
        &self,
        user_id: &str,
        step: i64,
        recovery_code_hashes: &[String],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.confirm_totp_factor(user_id, step, recovery_code_hashes, now).await)
    }

    /// Accepts a verified code's time step for a confirmed factor if, and only
    /// if, it is newer than every step accepted before and the factor is not
    /// locked at `now` (one compare-and-set statement, so it holds across
    /// replicas). Clears the failure count on success. `false`: a replay (or
    /// an older code), a lock, or no confirmed factor.
    pub async fn record_totp_step(
        &self,
        user_id: &str,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.record_totp_step(user_id, step, now).await)
    }

    /// Counts one failed second-factor attempt; the `max_failures`-th one
    /// locks the factor until `now + lockout` and restarts the count. `None`
    /// when the user has no factor.
    pub async fn record_mfa_failure(
        &self,
        user_id: &str,
        max_failures: u32,
        lockout: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<Option<MfaFailures>, StoreError> {
        on_backend!(self, b => b.record_mfa_failure(user_id, max_failures, lockout, now).await)
    }

    /// The argon2id PHC strings of the user's unused recovery codes.
    pub async fn unused_recovery_code_hashes(
        &self,
        user_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        on_backend!(self, b => b.unused_recovery_code_hashes(user_id).await)
    }

    /// Marks the recovery code with this hash used and clears the failure
    /// count, atomically. `false` (nothing written) when the code was already
    /// used (a concurrent request won), or the factor is unconfirmed or locked.
    pub async fn consume_recovery_code(
        &self,
        user_id: &str,
        code_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.consume_recovery_code(user_id, code_hash, now).await)
    }

    /// Deletes the user's TOTP factor and recovery codes; `false` when there
    /// was none. Callers audit it (see `mfa::Totp::reset`).
    pub async fn delete_totp_factor(&self, user_id: &str) -> Result<bool, StoreError> {
        on_backend!(self, b => b.delete_totp_factor(user_id).await)
    }

    /// Stores `secret` as the new key waiting to replace the user's
    /// confirmed factor (see [`TotpFactor::replacement`]), unless one
    /// started at or after `stale_before` is already waiting. `false`
    /// (nothing written): no confirmed factor, or a replacement in time
    /// is waiting (read it and show that one).
    pub async fn begin_totp_replacement(
        &self,
        user_id: &str,
        secret: &[u8],
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.begin_totp_replacement(user_id, secret, now, stale_before).await)
    }

    /// The waiting key `secret` becomes the factor's key, with `step` (of
    /// its first correct code) as the last one used; clears the failure
    /// count. One compare-and-set: `false` (nothing written) when that
    /// key is no longer the one waiting, or the factor is locked at `now`.
    /// The recovery codes stay.
    pub async fn finish_totp_replacement(
        &self,
        user_id: &str,
        secret: &[u8],
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.finish_totp_replacement(user_id, secret, step, now).await)
    }

    /// Forgets a waiting replacement key; the factor is unchanged. `false`
    /// when none was waiting.
    pub async fn cancel_totp_replacement(&self, user_id: &str) -> Result<bool, StoreError> {
        on_backend!(self, b => b.cancel_totp_replacement(user_id).await)
    }

    /// Replaces the recovery codes of the user's confirmed factor with
    /// `hashes`, in one transaction; `false` (nothing written) when there
    /// is no confirmed factor.
    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.replace_recovery_codes(user_id, hashes).await)
    }

    // ---- passkeys (WebAuthn) ----------------------------------------------

    /// Registers a passkey. [`StoreError::Conflict`] when its credential id
    /// is already registered (to this user or another: an authenticator
    /// cannot be claimed twice); [`StoreError::NotFound`]-like foreign-key
    /// errors for an unknown user.
    pub async fn add_passkey(&self, p: &NewPasskey, now: OffsetDateTime) -> Result<(), StoreError> {
        on_backend!(self, b => b.add_passkey(p, now).await)
    }

    /// The user's passkeys, oldest first.
    pub async fn list_passkeys(&self, user_id: &str) -> Result<Vec<Passkey>, StoreError> {
        on_backend!(self, b => b.list_passkeys(user_id).await)
    }

    /// The passkey with this credential id, whoever's it is.
    pub async fn get_passkey(&self, credential_id: &[u8]) -> Result<Option<Passkey>, StoreError> {
        on_backend!(self, b => b.get_passkey(credential_id).await)
    }

    /// Accepts a verified assertion if, and only if, the credential is
    /// `u.user_id`'s, its signature counter rose (or both are 0: an
    /// authenticator without a counter), and its backup-eligible flag is
    /// the one registered; one compare-and-set statement, so a replayed or
    /// cloned assertion is accepted at most once across replicas. `false`:
    /// refused, nothing written.
    pub async fn record_passkey_use(
        &self,
        u: &PasskeyUse<'_>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.record_passkey_use(u, now).await)
    }

    /// Renames one of the user's passkeys; `false` when it has none by
    /// that id.
    pub async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &[u8],
        name: &str,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.rename_passkey(user_id, credential_id, name).await)
    }

    /// Removes one of the user's passkeys; `false` when it has none by that
    /// id (another user's id removes nothing). Callers audit it.
    pub async fn delete_passkey(
        &self,
        user_id: &str,
        credential_id: &[u8],
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.delete_passkey(user_id, credential_id).await)
    }

    // ---- single-use tickets (sign-in) -------------------------------------

    /// Stores a single-use ticket: `payload` (e.g. a pending OIDC sign-in as
    /// JSON) under `key` (its `state`, a hand-off code) until `expires_at`
    /// (exclusive). `kind` names the use, so keys of different uses never
    /// meet. Only the SHA-256 of `key` is stored.
    ///
    /// [`StoreError::Conflict`] with `what` `"ticket"` when a live ticket has
    /// this kind and key (an expired one is replaced);
    /// [`StoreError::Invalid`] for an empty kind or key or an end not after
    /// `now`.
    pub async fn put_ticket(
        &self,
        kind: &str,
        key: &str,
        payload: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.put_ticket(kind, key, payload, expires_at, now).await)
    }

    /// Takes a ticket: deletes it and returns its payload if it is live at
    /// `now`. One statement, so of any number of concurrent takers (on any
    /// replica) exactly one gets `Some`. An expired ticket is deleted too and
    /// reads as `None`, like one that never existed.
    pub async fn take_ticket(
        &self,
        kind: &str,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        on_backend!(self, b => b.take_ticket(kind, key, now).await)
    }

    /// Deletes tickets expired by `now`; returns how many.
    pub async fn prune_tickets(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_tickets(now).await)
    }

    // ---- e-mail one-time passcodes ----------------------------------------

    /// Stores the passcode sent to `email` until `expires_at` (exclusive),
    /// replacing any earlier code for the address (compared ignoring case and
    /// surrounding blanks) and clearing its attempt count. Only the SHA-256
    /// of the lower-cased address and the code is stored. Pair it with
    /// [`Store::hit_rate_limits`]: sending a new code restarts the attempts.
    ///
    /// [`StoreError::Invalid`] for an empty address or code or an end not
    /// after `now`.
    pub async fn create_passcode(
        &self,
        email: &str,
        code: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.create_passcode(email, code, expires_at, now).await)
    }

    /// When the live passcode for `email` (compared as
    /// [`Store::create_passcode`] does) was made, if there is one at `now`:
    /// the sign-in page's "send a new code" waits a while after it.
    pub async fn passcode_sent_at(
        &self,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        on_backend!(self, b => b.passcode_sent_at(email, now).await)
    }

    /// Checks `code` against the passcode waiting for `email` (hashes are
    /// compared, never codes).
    ///
    /// A right code that is live and has attempts left is
    /// [`PasscodeCheck::Accepted`] and used up in the same statement: of
    /// racing checks exactly one is accepted. A wrong one is counted in one
    /// statement too, so racing guesses all count; the `max_attempts`-th
    /// wrong guess kills the code, and every later check, right or not, is
    /// [`PasscodeCheck::TooManyAttempts`]. An expired code counts nothing.
    /// [`StoreError::Invalid`] when `max_attempts` is 0.
    pub async fn check_passcode(
        &self,
        email: &str,
        code: &str,
        max_attempts: u32,
        now: OffsetDateTime,
    ) -> Result<PasscodeCheck, StoreError> {
        on_backend!(self, b => b.check_passcode(email, code, max_attempts, now).await)
    }

    /// Deletes passcodes expired by `now` (dead ones too, once expired);
    /// returns how many.
    pub async fn prune_passcodes(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_passcodes(now).await)
    }

    // ---- rate limits --------------------------------------------------------

    /// Counts one hit for `key` (an IP address, an e-mail; only its SHA-256 is
    /// stored) in `bucket` (the limit's name) and returns the hits in the
    /// current fixed window, this one included. Windows are `window` long
    /// (whole seconds, at least one) and start at unix time multiples of it,
    /// so every replica counts in the same window. One UPSERT … RETURNING,
    /// so concurrent hits all count and each sees its own number.
    ///
    /// It counts without bound and makes a counter for any key: the doors
    /// people reach from outside use [`Store::hit_rate_limits`], which does
    /// neither.
    pub async fn hit_rate_limit(
        &self,
        bucket: &str,
        key: &str,
        window: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        on_backend!(self, b => b.hit_rate_limit(bucket, key, window, now).await)
    }

    /// Checks one request against `limits` in their order, in the same
    /// fixed windows as [`Store::hit_rate_limit`], and stops at the first
    /// that refuses it: the counters after that one are not touched. Put the
    /// client's limit first, so a client over its limit adds no counter for
    /// the addresses it tries (issue 14, finding 6: 500 requests from one IP
    /// made 500 rows).
    ///
    /// A counter over its `max` is not written again (its hits stay at
    /// `max + 1`), so a refused request changes nothing in the store but the
    /// tally of a full window. A key with no counter in this window gets one
    /// only while its bucket has counted fewer than `max_counters` keys in
    /// the window; past that it is [`RateVerdict::Full`]. So each bucket
    /// holds at most `max_counters` counters per window, however many
    /// addresses the clients have, and [`Store::prune_rate_limits`] deletes
    /// ended windows: the table holds at most `max_counters` × buckets ×
    /// the windows not yet pruned.
    ///
    /// One transaction, so with the store slow or locked a request waits
    /// once, not once per counter. Concurrent hits all count (a key's
    /// counter is made once), and on PostgreSQL they take their locks in
    /// `limits`' order, so they cannot deadlock. [`StoreError::Invalid`] for
    /// a window under a second, an empty bucket or `max_counters` of 0.
    pub async fn hit_rate_limits(
        &self,
        limits: &[RateLimit<'_>],
        window: std::time::Duration,
        max_counters: u32,
        now: OffsetDateTime,
    ) -> Result<RateVerdict, StoreError> {
        on_backend!(self, b => b.hit_rate_limits(limits, window, max_counters, now).await)
    }

    /// Deletes counters of windows that ended by `now`, and those windows'
    /// tallies of keys; returns how many counters.
    pub async fn prune_rate_limits(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_rate_limits(now).await)
    }

    /// How many rate-limit counters the store holds, of every bucket and
    /// window (what [`Store::hit_rate_limits`] bounds).
    pub async fn rate_limit_counters(&self) -> Result<u64, StoreError> {
        on_backend!(self, b => b.rate_limit_counters().await)
    }

    // ---- consent --------------------------------------------------------------

    /// Records that the user accepted the terms `terms_version` at `now`,
    /// replacing what they accepted before (only the latest is kept).
    /// [`StoreError::NotFound`] for an unknown user. Deleted with the user.
    pub async fn record_consent(
        &self,
        user_id: &str,
        terms_version: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.record_consent(user_id, terms_version, now).await)
    }

    /// The terms the user last accepted, if any.
    pub async fn consent_of(&self, user_id: &str) -> Result<Option<Consent>, StoreError> {
        on_backend!(self, b => b.consent_of(user_id).await)
    }

    // ---- sessions -----------------------------------------------------------

    /// Records a session issued at sign-in. [`StoreError::Conflict`] with
    /// `what` `"session"` when the sid exists; [`StoreError::NotFound`] for
    /// an unknown user. Deleting the user deletes its rows but does not
    /// revoke them: call [`Store::revoke_sessions_of_user`] first.
    pub async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        on_backend!(self, b => b.insert_session(session).await)
    }

    /// The user's live sessions at `now` (not expired, not revoked), oldest
    /// first.
    pub async fn sessions_of_user(
        &self,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        on_backend!(self, b => b.sessions_of_user(user_id, now).await)
    }

    /// Ends all of the user's live sessions: records each one's sid in the
    /// revoked sessions until its own end, as [`Store::revoke_session`]
    /// does, in one statement. Returns the sids revoked now, sorted (sessions
    /// already revoked are not repeated), for the local revocation set.
    pub async fn revoke_sessions_of_user(
        &self,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        on_backend!(self, b => b.revoke_sessions_of_user(user_id, now).await)
    }

    /// Deletes sessions expired by `now`; returns how many. Their revocations
    /// go with [`Store::prune_revoked_sessions`].
    pub async fn prune_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_sessions(now).await)
    }

    // ---- identity linking -------------------------------------------------

    /// Links the user to `subject` at the IdP `idp` if, and only if, the user
    /// has no identity yet (first sign-in of an invited user); linking again
    /// to the same identity is `Ok`. Unlike [`Store::upsert_user`], it never
    /// replaces an identity. One conditional statement, so two first
    /// sign-ins cannot both link.
    ///
    /// [`StoreError::Conflict`] with `what` `"identity"` when the user is
    /// linked to a different identity or another user has this one;
    /// [`StoreError::NotFound`] for an unknown user.
    pub async fn link_identity(
        &self,
        user_id: &str,
        idp: &str,
        subject: &str,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.link_identity(user_id, idp, subject).await)
    }

    // ---- invitations --------------------------------------------------------

    /// Stores an invitation whose link carries `token` (kept only as a
    /// hash). At least one app and exactly one of `access_until` /
    /// `access_days`, else [`StoreError::Invalid`].
    pub async fn create_invitation(
        &self,
        inv: &NewInvitation,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Invitation, StoreError> {
        on_backend!(self, b => b.create_invitation(inv, token, now).await)
    }

    pub async fn get_invitation(&self, id: &str) -> Result<Option<Invitation>, StoreError> {
        on_backend!(self, b => b.get_invitation(id).await)
    }

    /// The invitation whose link carries `token` (any status); opening a
    /// link reads it, never consumes it.
    pub async fn invitation_by_token(&self, token: &str) -> Result<Option<Invitation>, StoreError> {
        on_backend!(self, b => b.invitation_by_token(token).await)
    }

    /// All invitations, newest first.
    pub async fn list_invitations(&self) -> Result<Vec<Invitation>, StoreError> {
        on_backend!(self, b => b.list_invitations().await)
    }

    /// The invitations of one user, newest first (by its index, not a read
    /// of every invitation).
    pub async fn invitations_of_user(&self, user_id: &str) -> Result<Vec<Invitation>, StoreError> {
        on_backend!(self, b => b.invitations_of_user(user_id).await)
    }

    /// Revokes a pending invitation; false when it was not pending.
    pub async fn revoke_invitation(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.revoke_invitation(id, now).await)
    }

    /// Gives a pending invitation a new link (`token`) and expiry: the old
    /// link stops working. False when it was not pending (resend).
    pub async fn reissue_invitation(
        &self,
        id: &str,
        token: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.reissue_invitation(id, token, expires_at, now).await)
    }

    /// Uses the link: one conditional statement, so of racing redemptions
    /// exactly one gets [`Redemption::Redeemed`]; the others learn why not.
    pub async fn redeem_invitation(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Redemption, StoreError> {
        on_backend!(self, b => b.redeem_invitation(token, now).await)
    }
    // ---- self-service sign-up requests --------------------------------------

    /// Stores a pending request of `req.user_id` for `req.app`, or, when
    /// that user already has a pending one for the app, returns it: the
    /// `bool` says whether this call created it (asking twice is
    /// idempotent; a partial unique index holds this across replicas).
    /// [`StoreError::NotFound`] for an unknown user.
    pub async fn create_access_request(
        &self,
        req: &NewAccessRequest,
        now: OffsetDateTime,
    ) -> Result<(AccessRequest, bool), StoreError> {
        on_backend!(self, b => b.create_access_request(req, now).await)
    }

    pub async fn get_access_request(&self, id: &str) -> Result<Option<AccessRequest>, StoreError> {
        on_backend!(self, b => b.get_access_request(id).await)
    }

    /// The user's pending request for `app`, if any.
    pub async fn pending_access_request(
        &self,
        app: &str,
        user_id: &str,
    ) -> Result<Option<AccessRequest>, StoreError> {
        on_backend!(self, b => b.pending_access_request(app, user_id).await)
    }

    /// Requests (all statuses) for `app`, or for every app, newest first.
    pub async fn list_access_requests(
        &self,
        app: Option<&str>,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        on_backend!(self, b => b.list_access_requests(app).await)
    }

    /// Approves or denies a pending request: one conditional statement, so
    /// of racing decisions (two owners, two replicas) exactly one gets
    /// `Some`; `None` when the request is unknown or already decided.
    /// [`StoreError::Invalid`] for `Pending` or an empty `decided_by`.
    pub async fn decide_access_request(
        &self,
        id: &str,
        decision: RequestStatus,
        decided_by: &str,
        now: OffsetDateTime,
    ) -> Result<Option<AccessRequest>, StoreError> {
        on_backend!(self, b => b.decide_access_request(id, decision, decided_by, now).await)
    }

    // ---- MFA recovery requests (issue 20) ----------------------------------

    /// Stores `user_id`'s pending request to set up MFA again, bound to the
    /// browser secret `browser` (kept as a digest). When the user already
    /// has a pending one, it is bound to `browser` instead and returned; the
    /// `bool` says whether this call created it (a partial unique index
    /// holds one pending request per user across replicas).
    /// [`StoreError::NotFound`] for an unknown user.
    pub async fn create_recovery_request(
        &self,
        user_id: &str,
        app: Option<&str>,
        browser: &str,
        now: OffsetDateTime,
    ) -> Result<(RecoveryRequest, bool), StoreError> {
        on_backend!(self, b => b.create_recovery_request(user_id, app, browser, now).await)
    }

    pub async fn get_recovery_request(
        &self,
        id: &str,
    ) -> Result<Option<RecoveryRequest>, StoreError> {
        on_backend!(self, b => b.get_recovery_request(id).await)
    }

    /// Approves (with `link`: the re-enrolment token, kept as a digest, and
    /// its end) or denies (`None`) a request that is pending and was asked
    /// after `asked_after` (older ones have lapsed): one conditional
    /// statement, so of racing owners exactly one gets `Some`.
    pub async fn decide_recovery_request(
        &self,
        id: &str,
        link: Option<(&str, OffsetDateTime)>,
        decided_by: &str,
        asked_after: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<RecoveryRequest>, StoreError> {
        on_backend!(self, b => b.decide_recovery_request(id, link, decided_by, asked_after, now).await)
    }

    /// What the re-enrolment link `token` is for `user_id` in the browser
    /// holding `browser`, without using it.
    pub async fn recovery_link(
        &self,
        token: &str,
        browser: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<RecoveryLink, StoreError> {
        on_backend!(self, b => b.recovery_link(token, browser, user_id, now).await)
    }

    /// Uses the re-enrolment link `token`: one conditional statement that
    /// checks it is approved, unused, unexpired, and this user's and this
    /// browser's, so it is redeemed at most once across replicas.
    /// [`RecoveryLink::Valid`] only to the one caller that redeemed it.
    pub async fn redeem_recovery_link(
        &self,
        token: &str,
        browser: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<RecoveryLink, StoreError> {
        on_backend!(self, b => b.redeem_recovery_link(token, browser, user_id, now).await)
    }

    // ---- guest lifecycle ----------------------------------------------------

    /// Claims the reminders due: every live assignment of an active guest
    /// that ends after `now` and by `ending_by` and has not been reminded of
    /// this end. One conditional UPDATE sets `reminded_at` to `now`, so of
    /// racing callers (replicas) each assignment goes to exactly one. The
    /// caller sends, or gives a claim back with [`Store::release_reminder`].
    /// Moving the end ([`Store::grant_assignment`],
    /// [`Store::extend_assignment`]) clears the mark. Sorted by user, app.
    pub async fn claim_reminders(
        &self,
        ending_by: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<DueReminder>, StoreError> {
        on_backend!(self, b => b.claim_reminders(ending_by, now).await)
    }

    /// Gives back a claimed reminder (the e-mail was not sent) so the next
    /// run claims it again; `false` when the assignment changed meanwhile.
    pub async fn release_reminder(&self, due: &DueReminder) -> Result<bool, StoreError> {
        on_backend!(self, b => b.release_reminder(due).await)
    }

    /// Claims every guest whose assignments have all ended by `now` and whose
    /// last end has not been acted on: in one transaction, marks that end
    /// (`access_ended_at`), blocks them when `block` (stamping `blocked_at`
    /// unless already stamped) and appends the audit entries `access_expired`
    /// and, if it blocked, `guest_blocked` (actor `system`). Removing a live
    /// assignment ([`Store::revoke_assignment`]) counts as an end at `now`; a
    /// guest who never had an assignment (a pending invitation) is not
    /// touched, nor is a member. Racing callers
    /// claim each guest once; a later grant that ends later makes the guest
    /// eligible again. Callers must then [`DirectoryCache::invalidate_user`]
    /// and end the sessions of the blocked ones.
    pub async fn end_guest_access(
        &self,
        block: bool,
        now: OffsetDateTime,
    ) -> Result<Vec<EndedGuest>, StoreError> {
        on_backend!(self, b => b.end_guest_access(block, now).await)
    }

    /// Guests the lifecycle blocked (`blocked_at` set, still blocked) who
    /// still have live, unrevoked sessions at `now`: what
    /// [`Store::revoke_sessions_of_user`] has yet to end. Sorted ids.
    pub async fn lifecycle_blocked_with_sessions(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        on_backend!(self, b => b.lifecycle_blocked_with_sessions(now).await)
    }

    /// Guests the lifecycle blocked at or before `blocked_by` who are still
    /// blocked and have no live assignment at `now`, sorted by id.
    pub async fn guests_due_for_deletion(
        &self,
        blocked_by: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<User>, StoreError> {
        on_backend!(self, b => b.guests_due_for_deletion(blocked_by, now).await)
    }

    /// Deletes the guest if, and only if, they are still due (the rules of
    /// [`Store::guests_due_for_deletion`]), with the audit entry
    /// `guest_deleted` (its detail keeps the e-mail), in one transaction;
    /// `false` when not due (unblocked, re-granted, or deleted by a racing
    /// replica). Revoke their sessions first.
    pub async fn delete_ended_guest(
        &self,
        user_id: &str,
        blocked_by: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.delete_ended_guest(user_id, blocked_by, now).await)
    }

    /// The members of `group`, ordered by e-mail (owners named `group:…`).
    pub async fn members_of_group(&self, group: &str) -> Result<Vec<User>, StoreError> {
        on_backend!(self, b => b.members_of_group(group).await)
    }

    /// Guests by state at `now` (one aggregate query; the lifecycle task
    /// exports it as `portcullis_guests{state}`).
    pub async fn count_guests(&self, now: OffsetDateTime) -> Result<GuestCounts, StoreError> {
        on_backend!(self, b => b.count_guests(now).await)
    }
}
