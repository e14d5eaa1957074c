//! The SQLite backend: one file, WAL, a small pool.
//!
//! SQL here uses `$N` placeholders and no SQLite-only functions, so the
//! PostgreSQL backend can start from the same statements.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};
use time::OffsetDateTime;

use super::error::StoreError;
use super::model::{
    Assignment, AssignmentWindow, AuditEntry, AuditQuery, DirectoryUser, Identity, NewAuditEntry,
    NewUser, RevokedSession, SigningKey, User, UserState, UserType, email_key,
};
use super::model::{Consent, PasscodeCheck, SessionRecord, secret_hash};

/// Migrations embedded at build time from `gateway/migrations/sqlite`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for another writer's lock before `SQLITE_BUSY`.
/// Writes are single short statements, so this is only reached under abuse.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite serialises writers anyway; a few connections let reads overlap.
const MAX_CONNECTIONS: u32 = 4;
/// Longest wait for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

mod invitations;
mod lifecycle;
mod requests;

/// The SQLite store. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// Turns `sqlite://path`, `sqlite:path` or a plain path into a file path.
pub(crate) fn sqlite_path(location: &str) -> PathBuf {
    let rest = location
        .strip_prefix("sqlite://")
        .or_else(|| location.strip_prefix("sqlite:"))
        .unwrap_or(location);
    PathBuf::from(rest)
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and brings its
    /// schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| StoreError::CreateDir {
                    dir: dir.display().to_string(),
                    source,
                })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|source| StoreError::Open {
                location: path.display().to_string(),
                source,
            })?
            .filename(path)
            .create_if_missing(true)
            // WAL: readers never wait for the writer, and the hot path only reads.
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode; only an
            // OS crash can lose the last commits, which is acceptable here.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                location: path.display().to_string(),
                source,
            })?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(SqliteStore { pool })
    }

    /// Checks out every pooled connection (tests of pool exhaustion).
    #[cfg(test)]
    pub(crate) async fn hold_all_connections(
        &self,
    ) -> Vec<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            held.push(self.pool.acquire().await.expect("acquire"));
        }
        held
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- users ------------------------------------------------------------

    pub async fn upsert_user(
        &self,
        user: &NewUser,
        now: OffsetDateTime,
    ) -> Result<User, StoreError> {
        const OP: &str = "upsert_user";
        let email = user.email.trim();
        if email.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the e-mail address is empty",
            });
        }
        if user.id.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the user id is empty",
            });
        }
        let (idp, subject) = match &user.identity {
            Some(Identity { idp, subject }) => (Some(idp.as_str()), Some(subject.as_str())),
            None => (None, None),
        };
        // State and created_at are set on insert only: signing in again must
        // not unblock a blocked user.
        let row: UserRow = sqlx::query_as(
            "INSERT INTO users (id, email, email_lower, display_name, user_type, state, created_at, idp, idp_subject)
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8)
             ON CONFLICT (id) DO UPDATE SET
                 email = excluded.email,
                 email_lower = excluded.email_lower,
                 display_name = COALESCE(excluded.display_name, users.display_name),
                 user_type = excluded.user_type,
                 idp = CASE WHEN excluded.idp IS NULL THEN users.idp ELSE excluded.idp END,
                 idp_subject = CASE WHEN excluded.idp IS NULL THEN users.idp_subject ELSE excluded.idp_subject END
             RETURNING id, email, display_name, user_type, state, created_at, idp, idp_subject",
        )
        .bind(&user.id)
        .bind(email)
        .bind(email_key(email))
        .bind(user.display_name.as_deref())
        .bind(user.user_type.as_str())
        .bind(now.unix_timestamp())
        .bind(idp)
        .bind(subject)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.into_user(OP)
    }

    pub async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        const OP: &str = "get_user";
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, display_name, user_type, state, created_at, idp, idp_subject
             FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_user(OP)).transpose()
    }

    pub async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        const OP: &str = "get_user_by_email";
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, display_name, user_type, state, created_at, idp, idp_subject
             FROM users WHERE email_lower = $1",
        )
        .bind(email_key(email))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_user(OP)).transpose()
    }

    pub async fn get_user_by_identity(
        &self,
        idp: &str,
        subject: &str,
    ) -> Result<Option<User>, StoreError> {
        const OP: &str = "get_user_by_identity";
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, display_name, user_type, state, created_at, idp, idp_subject
             FROM users WHERE idp = $1 AND idp_subject = $2",
        )
        .bind(idp)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_user(OP)).transpose()
    }

    pub async fn list_users(&self, user_type: Option<UserType>) -> Result<Vec<User>, StoreError> {
        const OP: &str = "list_users";
        let rows: Vec<UserRow> = sqlx::query_as(
            "SELECT id, email, display_name, user_type, state, created_at, idp, idp_subject
             FROM users WHERE ($1 IS NULL OR user_type = $1) ORDER BY email_lower",
        )
        .bind(user_type.map(UserType::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_user(OP)).collect()
    }

    pub async fn set_user_state(&self, id: &str, state: UserState) -> Result<(), StoreError> {
        const OP: &str = "set_user_state";
        let done = sqlx::query(
            "UPDATE users SET state = $2,
                 blocked_at = CASE WHEN $2 = 'active' THEN NULL ELSE blocked_at END
             WHERE id = $1",
        )
        .bind(id)
        .bind(state.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        expect_one(OP, "user", done.rows_affected())
    }

    pub async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        const OP: &str = "delete_user";
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() > 0)
    }

    // ---- groups -----------------------------------------------------------

    pub async fn add_group_member(
        &self,
        group: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const OP: &str = "add_group_member";
        if group.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the group name is empty",
            });
        }
        // Two autocommit statements rather than a transaction: a group left
        // without members is harmless, and single statements always wait on
        // busy_timeout (a read-then-write transaction may fail with BUSY).
        sqlx::query(
            "INSERT INTO groups (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(group)
        .bind(now.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        sqlx::query(
            "INSERT INTO group_members (group_name, user_id, added_at) VALUES ($1, $2, $3)
             ON CONFLICT (group_name, user_id) DO NOTHING",
        )
        .bind(group)
        .bind(user_id)
        .bind(now.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(())
    }

    pub async fn remove_group_member(
        &self,
        group: &str,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        const OP: &str = "remove_group_member";
        let done = sqlx::query("DELETE FROM group_members WHERE group_name = $1 AND user_id = $2")
            .bind(group)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn groups_of(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        const OP: &str = "groups_of";
        sqlx::query_scalar(
            "SELECT group_name FROM group_members WHERE user_id = $1 ORDER BY group_name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))
    }

    // ---- assignments ------------------------------------------------------

    pub async fn grant_assignment(
        &self,
        user_id: &str,
        app: &str,
        expires_at: Option<OffsetDateTime>,
        granted_by: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Assignment, StoreError> {
        const OP: &str = "grant_assignment";
        check_assignment_end(OP, app, expires_at, now)?;
        // One conditional statement, so the guest rule and the write see the
        // same row (no check-then-act window, no lock upgrade).
        let row: Option<AssignmentRow> = sqlx::query_as(
            "INSERT INTO app_assignments (user_id, app, granted_at, expires_at, granted_by)
             SELECT id, $2, $3, $4, $5 FROM users
             WHERE id = $1 AND ($4 IS NOT NULL OR user_type = 'member')
             ON CONFLICT (user_id, app) DO UPDATE SET
                 expires_at = excluded.expires_at,
                 granted_by = excluded.granted_by,
                 reminded_at = CASE WHEN app_assignments.expires_at IS NOT DISTINCT FROM excluded.expires_at
                                    THEN app_assignments.reminded_at END
             RETURNING user_id, app, granted_at, expires_at, granted_by",
        )
        .bind(user_id)
        .bind(app)
        .bind(now.unix_timestamp())
        .bind(expires_at.map(OffsetDateTime::unix_timestamp))
        .bind(granted_by)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        match row {
            Some(row) => row.into_assignment(OP),
            None => Err(self.why_not_assignable(OP, user_id).await),
        }
    }

    pub async fn extend_assignment(
        &self,
        user_id: &str,
        app: &str,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Assignment, StoreError> {
        const OP: &str = "extend_assignment";
        check_assignment_end(OP, app, expires_at, now)?;
        let row: Option<AssignmentRow> = sqlx::query_as(
            "UPDATE app_assignments SET expires_at = $3,
                 reminded_at = CASE WHEN expires_at IS NOT DISTINCT FROM $3 THEN reminded_at END
             WHERE user_id = $1 AND app = $2
               AND ($3 IS NOT NULL OR EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND u.user_type = 'member'))
             RETURNING user_id, app, granted_at, expires_at, granted_by",
        )
        .bind(user_id)
        .bind(app)
        .bind(expires_at.map(OffsetDateTime::unix_timestamp))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        if let Some(row) = row {
            return row.into_assignment(OP);
        }
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM app_assignments WHERE user_id = $1 AND app = $2")
                .bind(user_id)
                .bind(app)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| StoreError::db(OP, e))?;
        match exists {
            None => Err(StoreError::NotFound {
                op: OP,
                what: "assignment",
            }),
            Some(_) => Err(self.why_not_assignable(OP, user_id).await),
        }
    }

    /// After a conditional assignment write changed nothing: which rule said no.
    async fn why_not_assignable(&self, op: &'static str, user_id: &str) -> StoreError {
        match self.get_user(user_id).await {
            Err(e) => e,
            Ok(None) => StoreError::NotFound { op, what: "user" },
            Ok(Some(_)) => StoreError::Invalid {
                op,
                reason: GUEST_NEEDS_END,
            },
        }
    }

    pub async fn revoke_assignment(&self, user_id: &str, app: &str) -> Result<bool, StoreError> {
        const OP: &str = "revoke_assignment";
        // For the lifecycle task: removing a guest's assignment whose end has
        // not been acted on counts as an end. Marked before the DELETE, so a
        // crash between the two leaves the assignment, not a lost end.
        sqlx::query(
            "UPDATE users SET access_removed = 1
             WHERE id = $1 AND user_type = 'guest'
               AND EXISTS (SELECT 1 FROM app_assignments a WHERE a.user_id = $1 AND a.app = $2
                           AND a.expires_at > COALESCE(users.access_ended_at, -1))",
        )
        .bind(user_id)
        .bind(app)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        let done = sqlx::query("DELETE FROM app_assignments WHERE user_id = $1 AND app = $2")
            .bind(user_id)
            .bind(app)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn assignments_of_user(&self, user_id: &str) -> Result<Vec<Assignment>, StoreError> {
        const OP: &str = "assignments_of_user";
        let rows: Vec<AssignmentRow> = sqlx::query_as(
            "SELECT user_id, app, granted_at, expires_at, granted_by
             FROM app_assignments WHERE user_id = $1 ORDER BY app",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_assignment(OP)).collect()
    }

    pub async fn assignments_of_app(&self, app: &str) -> Result<Vec<Assignment>, StoreError> {
        const OP: &str = "assignments_of_app";
        let rows: Vec<AssignmentRow> = sqlx::query_as(
            "SELECT user_id, app, granted_at, expires_at, granted_by
             FROM app_assignments WHERE app = $1 ORDER BY user_id",
        )
        .bind(app)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_assignment(OP)).collect()
    }

    // ---- directory (hot path loads) --------------------------------------

    pub async fn directory_user(&self, user_id: &str) -> Result<Option<DirectoryUser>, StoreError> {
        const OP: &str = "directory_user";
        // Two reads in one read transaction: one snapshot, one connection, and
        // a fixed number of statements however many groups or apps there are.
        let mut tx = self.pool.begin().await.map_err(|e| StoreError::db(OP, e))?;
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT u.user_type, u.state, m.group_name
             FROM users u LEFT JOIN group_members m ON m.user_id = u.id
             WHERE u.id = $1 ORDER BY m.group_name",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        let Some((user_type, state, _)) = rows.first() else {
            return Ok(None);
        };
        let user_type = UserType::parse(user_type).ok_or(StoreError::Corrupt {
            op: OP,
            column: "users.user_type",
        })?;
        let state = UserState::parse(state).ok_or(StoreError::Corrupt {
            op: OP,
            column: "users.state",
        })?;
        let groups: Vec<String> = rows.into_iter().filter_map(|(_, _, g)| g).collect();
        let windows: Vec<(String, Option<i64>)> = sqlx::query_as(
            "SELECT app, expires_at FROM app_assignments WHERE user_id = $1 ORDER BY app",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        tx.commit().await.map_err(|e| StoreError::db(OP, e))?;
        let mut assignments = windows
            .into_iter()
            .map(|(app, end)| {
                Ok(AssignmentWindow {
                    app,
                    expires_at: end
                        .map(|t| from_unix(OP, "app_assignments.expires_at", t))
                        .transpose()?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Lookups binary-search by app in byte order; the collation of the
        // backend's ORDER BY need not match, so sort here.
        assignments.sort_by(|a, b| a.app.cmp(&b.app));
        Ok(Some(DirectoryUser {
            user_type,
            state,
            groups: groups.into(),
            assignments: assignments.into(),
        }))
    }

    // ---- signing keys -----------------------------------------------------

    pub async fn insert_signing_key(&self, key: &SigningKey) -> Result<(), StoreError> {
        const OP: &str = "insert_signing_key";
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at, not_after)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.private_key)
        .bind(&key.public_key)
        .bind(key.created_at.unix_timestamp())
        .bind(key.not_after.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(())
    }

    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        const OP: &str = "list_signing_keys";
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, algorithm, private_key, public_key, created_at, not_after
             FROM signing_keys ORDER BY created_at DESC, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_key(OP)).collect()
    }

    pub async fn delete_signing_keys_expired(
        &self,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        const OP: &str = "delete_signing_keys_expired";
        let done = sqlx::query("DELETE FROM signing_keys WHERE not_after <= $1")
            .bind(now.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected())
    }

    // ---- revoked sessions -------------------------------------------------

    pub async fn revoke_session(
        &self,
        sid: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const OP: &str = "revoke_session";
        // Revoking twice keeps the first revocation time and the later end.
        sqlx::query(
            "INSERT INTO revoked_sessions (sid, expires_at, revoked_at) VALUES ($1, $2, $3)
             ON CONFLICT (sid) DO UPDATE SET
                 expires_at = CASE WHEN excluded.expires_at > revoked_sessions.expires_at
                                   THEN excluded.expires_at ELSE revoked_sessions.expires_at END",
        )
        .bind(sid)
        .bind(expires_at.unix_timestamp())
        .bind(now.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(())
    }

    pub async fn is_revoked(&self, sid: &str) -> Result<bool, StoreError> {
        const OP: &str = "is_revoked";
        let hit: Option<i64> = sqlx::query_scalar("SELECT 1 FROM revoked_sessions WHERE sid = $1")
            .bind(sid)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(hit.is_some())
    }

    pub async fn revocations_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        const OP: &str = "revocations_since";
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT sid, expires_at, revoked_at FROM revoked_sessions
             WHERE revoked_at >= $1 ORDER BY revoked_at, sid",
        )
        .bind(since.unix_timestamp())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter()
            .map(|(sid, expires_at, revoked_at)| {
                Ok(RevokedSession {
                    sid,
                    expires_at: from_unix(OP, "revoked_sessions.expires_at", expires_at)?,
                    revoked_at: from_unix(OP, "revoked_sessions.revoked_at", revoked_at)?,
                })
            })
            .collect()
    }

    pub async fn prune_revoked_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        const OP: &str = "prune_revoked_sessions";
        let done = sqlx::query("DELETE FROM revoked_sessions WHERE expires_at <= $1")
            .bind(now.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected())
    }

    // ---- audit ------------------------------------------------------------

    pub async fn append_audit(&self, entry: &NewAuditEntry) -> Result<i64, StoreError> {
        const OP: &str = "append_audit";
        let detail = serde_json::to_string(&entry.detail).map_err(|_| StoreError::Invalid {
            op: OP,
            reason: "the detail cannot be written as JSON",
        })?;
        sqlx::query_scalar(
            "INSERT INTO audit_log (at, actor, action, subject, app, detail)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(entry.at.unix_timestamp())
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(entry.subject.as_deref())
        .bind(entry.app.as_deref())
        .bind(detail)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))
    }

    pub async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        const OP: &str = "list_audit";
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, at, actor, action, subject, app, detail FROM audit_log
             WHERE ($1 IS NULL OR subject = $1)
               AND ($2 IS NULL OR app = $2)
               AND ($3 IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4",
        )
        .bind(query.subject.as_deref())
        .bind(query.app.as_deref())
        .bind(query.before_id)
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_entry(OP)).collect()
    }
    // ---- TOTP factors and recovery codes (mfa) ---------------------------

    pub async fn begin_totp_enrollment(
        &self,
        factor: &super::model::NewTotpFactor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const OP: &str = "begin_totp_enrollment";
        // Replaces an unconfirmed factor (a new QR code) but never a confirmed
        // one: the conflict branch's WHERE makes that a no-op, seen as 0 rows.
        // The lockout columns are kept, so re-enrolling does not reset them.
        let done = sqlx::query(
            "INSERT INTO totp_factors (user_id, secret, algorithm, digits, period, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (user_id) DO UPDATE SET
                 secret = excluded.secret,
                 algorithm = excluded.algorithm,
                 digits = excluded.digits,
                 period = excluded.period,
                 last_used_step = NULL,
                 created_at = excluded.created_at
             WHERE totp_factors.confirmed_at IS NULL",
        )
        .bind(&factor.user_id)
        .bind(&factor.secret)
        .bind(&factor.algorithm)
        .bind(i64::from(factor.digits))
        .bind(i64::from(factor.period))
        .bind(now.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict {
                op: OP,
                what: "confirmed TOTP factor",
            });
        }
        Ok(())
    }

    pub async fn get_totp_factor(
        &self,
        user_id: &str,
    ) -> Result<Option<super::model::TotpFactor>, StoreError> {
        const OP: &str = "get_totp_factor";
        let row: Option<TotpFactorRow> = sqlx::query_as(
            "SELECT user_id, secret, algorithm, digits, period, confirmed_at, last_used_step,
                    failed_attempts, locked_until, created_at
             FROM totp_factors WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_factor(OP)).transpose()
    }

    pub async fn confirm_totp_factor(
        &self,
        user_id: &str,
        step: i64,
        recovery_code_hashes: &[String],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const OP: &str = "confirm_totp_factor";
        // The transaction starts with its write, so it takes the write lock
        // first (waiting on busy_timeout) instead of upgrading a read snapshot.
        let mut tx = self.pool.begin().await.map_err(|e| StoreError::db(OP, e))?;
        let done = sqlx::query(
            "UPDATE totp_factors SET confirmed_at = $3, last_used_step = $2,
                    failed_attempts = 0, locked_until = NULL
             WHERE user_id = $1 AND confirmed_at IS NULL
               AND (last_used_step IS NULL OR last_used_step < $2)
               AND (locked_until IS NULL OR locked_until <= $3)",
        )
        .bind(user_id)
        .bind(step)
        .bind(now.unix_timestamp())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(|e| StoreError::db(OP, e))?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        for hash in recovery_code_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(hash)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::db(OP, e))?;
        }
        tx.commit().await.map_err(|e| StoreError::db(OP, e))?;
        Ok(true)
    }

    pub async fn record_totp_step(
        &self,
        user_id: &str,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const OP: &str = "record_totp_step";
        // Compare-and-set: the row changes only if this step is newer than
        // every step accepted before, on any replica. Concurrent requests with
        // the same code serialise on the row; exactly one sees 1 row affected.
        // The lock is re-checked here so a lock taken by a concurrent failure
        // after the caller's read still stops a correct guess.
        let done = sqlx::query(
            "UPDATE totp_factors SET last_used_step = $1, failed_attempts = 0, locked_until = NULL
             WHERE user_id = $2 AND confirmed_at IS NOT NULL
               AND (last_used_step IS NULL OR last_used_step < $1)
               AND (locked_until IS NULL OR locked_until <= $3)",
        )
        .bind(step)
        .bind(user_id)
        .bind(now.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn record_mfa_failure(
        &self,
        user_id: &str,
        max_failures: u32,
        lockout: Duration,
        now: OffsetDateTime,
    ) -> Result<Option<super::model::MfaFailures>, StoreError> {
        const OP: &str = "record_mfa_failure";
        let lock_secs = i64::try_from(lockout.as_secs()).unwrap_or(i64::MAX / 2);
        // One statement, so concurrent failures all count. Right-hand sides
        // see the row before the update (both SQLite and PostgreSQL). The
        // count restarts at each lock: `max_failures` tries per lockout.
        let row: Option<(i64, Option<i64>)> = sqlx::query_as(
            "UPDATE totp_factors SET
                 failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0 ELSE failed_attempts + 1 END,
                 locked_until = CASE WHEN failed_attempts + 1 >= $2 THEN $3 + $4 ELSE locked_until END
             WHERE user_id = $1
             RETURNING failed_attempts, locked_until",
        )
        .bind(user_id)
        .bind(i64::from(max_failures.max(1)))
        .bind(now.unix_timestamp())
        .bind(lock_secs)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|(failed, until)| {
            Ok(super::model::MfaFailures {
                failed_attempts: u32::try_from(failed).map_err(|_| StoreError::Corrupt {
                    op: OP,
                    column: "totp_factors.failed_attempts",
                })?,
                locked_until: until
                    .map(|t| from_unix(OP, "totp_factors.locked_until", t))
                    .transpose()?,
            })
        })
        .transpose()
    }

    pub async fn unused_recovery_code_hashes(
        &self,
        user_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        const OP: &str = "unused_recovery_code_hashes";
        sqlx::query_scalar(
            "SELECT code_hash FROM recovery_codes
             WHERE user_id = $1 AND used_at IS NULL ORDER BY code_hash",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))
    }

    pub async fn consume_recovery_code(
        &self,
        user_id: &str,
        code_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const OP: &str = "consume_recovery_code";
        let mut tx = self.pool.begin().await.map_err(|e| StoreError::db(OP, e))?;
        // Single use: only the request that flips used_at from NULL wins.
        let used = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(code_hash)
        .bind(now.unix_timestamp())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        // A success clears the failures, but only for a confirmed factor that
        // is not locked (a lock taken meanwhile also refuses the code).
        let cleared = if used.rows_affected() == 1 {
            sqlx::query(
                "UPDATE totp_factors SET failed_attempts = 0, locked_until = NULL
                 WHERE user_id = $1 AND confirmed_at IS NOT NULL
                   AND (locked_until IS NULL OR locked_until <= $2)",
            )
            .bind(user_id)
            .bind(now.unix_timestamp())
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(OP, e))?
            .rows_affected()
        } else {
            0
        };
        if cleared == 1 {
            tx.commit().await.map_err(|e| StoreError::db(OP, e))?;
            Ok(true)
        } else {
            tx.rollback().await.map_err(|e| StoreError::db(OP, e))?;
            Ok(false)
        }
    }

    pub async fn delete_totp_factor(&self, user_id: &str) -> Result<bool, StoreError> {
        const OP: &str = "delete_totp_factor";
        let mut tx = self.pool.begin().await.map_err(|e| StoreError::db(OP, e))?;
        // Codes first: they reference the factor (the cascade would do it too,
        // but only with foreign keys switched on).
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        let done = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        tx.commit().await.map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() > 0)
    }

    // ---- single-use tickets (sign-in) -------------------------------------

    pub async fn put_ticket(
        &self,
        kind: &str,
        key: &str,
        payload: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_ticket";
        if kind.is_empty() || key.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the ticket kind or key is empty",
            });
        }
        if expires_at <= now {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "expires_at is not in the future",
            });
        }
        // An expired ticket under the same key is replaced; a live one is a
        // conflict (the conflict branch's WHERE makes that 0 rows).
        let done = sqlx::query(
            "INSERT INTO tickets (kind, key_hash, payload, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (kind, key_hash) DO UPDATE SET
                 payload = excluded.payload,
                 created_at = excluded.created_at,
                 expires_at = excluded.expires_at
             WHERE tickets.expires_at <= excluded.created_at",
        )
        .bind(kind)
        .bind(secret_hash(&[key]))
        .bind(payload)
        .bind(now.unix_timestamp())
        .bind(expires_at.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict {
                op: OP,
                what: "ticket",
            });
        }
        Ok(())
    }

    pub async fn take_ticket(
        &self,
        kind: &str,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        const OP: &str = "take_ticket";
        // One DELETE … RETURNING: of concurrent takers only the one whose
        // statement deletes the row gets it back, on any replica.
        let row: Option<(String, i64)> = sqlx::query_as(
            "DELETE FROM tickets WHERE kind = $1 AND key_hash = $2
             RETURNING payload, expires_at",
        )
        .bind(kind)
        .bind(secret_hash(&[key]))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(row
            .filter(|(_, expires_at)| now.unix_timestamp() < *expires_at)
            .map(|(payload, _)| payload))
    }

    pub async fn prune_tickets(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        const OP: &str = "prune_tickets";
        let done = sqlx::query("DELETE FROM tickets WHERE expires_at <= $1")
            .bind(now.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected())
    }

    // ---- e-mail passcodes ---------------------------------------------------

    pub async fn create_passcode(
        &self,
        email: &str,
        code: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const OP: &str = "create_passcode";
        let email = email_key(email);
        if email.is_empty() || code.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the e-mail address or the code is empty",
            });
        }
        if expires_at <= now {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "expires_at is not in the future",
            });
        }
        sqlx::query(
            "INSERT INTO passcodes (email_lower, code_hash, attempts, created_at, expires_at)
             VALUES ($1, $2, 0, $3, $4)
             ON CONFLICT (email_lower) DO UPDATE SET
                 code_hash = excluded.code_hash,
                 attempts = 0,
                 created_at = excluded.created_at,
                 expires_at = excluded.expires_at",
        )
        .bind(&email)
        .bind(secret_hash(&[&email, code]))
        .bind(now.unix_timestamp())
        .bind(expires_at.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(())
    }

    pub async fn check_passcode(
        &self,
        email: &str,
        code: &str,
        max_attempts: u32,
        now: OffsetDateTime,
    ) -> Result<PasscodeCheck, StoreError> {
        const OP: &str = "check_passcode";
        if max_attempts == 0 {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "max_attempts is 0, which refuses every code; allow at least 1",
            });
        }
        let email = email_key(email);
        let hash = secret_hash(&[&email, code]);
        let max = i64::from(max_attempts);
        let at = now.unix_timestamp();
        // Each step is one statement that decides on the row as it is then,
        // so racing checks cannot both accept a code or lose a wrong guess.
        // 1. The right code, live and not locked: used up by deleting it.
        let accepted = sqlx::query(
            "DELETE FROM passcodes
             WHERE email_lower = $1 AND code_hash = $2 AND expires_at > $3 AND attempts < $4",
        )
        .bind(&email)
        .bind(&hash)
        .bind(at)
        .bind(max)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        if accepted.rows_affected() == 1 {
            return Ok(PasscodeCheck::Accepted);
        }
        // 2. A wrong code against a live, unlocked one: counted.
        let counted: Option<i64> = sqlx::query_scalar(
            "UPDATE passcodes SET attempts = attempts + 1
             WHERE email_lower = $1 AND code_hash <> $2 AND expires_at > $3 AND attempts < $4
             RETURNING attempts",
        )
        .bind(&email)
        .bind(&hash)
        .bind(at)
        .bind(max)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        if let Some(attempts) = counted {
            let attempts = u32::try_from(attempts).map_err(|_| StoreError::Corrupt {
                op: OP,
                column: "passcodes.attempts",
            })?;
            return Ok(PasscodeCheck::Wrong {
                attempts_left: max_attempts.saturating_sub(attempts),
            });
        }
        // 3. Neither: only says why. Nothing is decided from this read.
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT attempts, expires_at FROM passcodes WHERE email_lower = $1")
                .bind(&email)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| StoreError::db(OP, e))?;
        Ok(match row {
            None => PasscodeCheck::NotFound,
            Some((_, expires_at)) if expires_at <= at => PasscodeCheck::Expired,
            Some((attempts, _)) if attempts >= max => PasscodeCheck::TooManyAttempts,
            // A new code replaced the one checked between the statements.
            Some(_) => PasscodeCheck::NotFound,
        })
    }

    pub async fn prune_passcodes(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        const OP: &str = "prune_passcodes";
        let done = sqlx::query("DELETE FROM passcodes WHERE expires_at <= $1")
            .bind(now.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected())
    }

    // ---- rate limits --------------------------------------------------------

    pub async fn hit_rate_limit(
        &self,
        bucket: &str,
        key: &str,
        window: Duration,
        now: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        const OP: &str = "hit_rate_limit";
        let secs = i64::try_from(window.as_secs()).unwrap_or(i64::MAX / 4);
        if secs < 1 {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the rate-limit window is shorter than a second",
            });
        }
        if bucket.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the rate-limit bucket is empty",
            });
        }
        let start = now.unix_timestamp().div_euclid(secs) * secs;
        let hits: i64 = sqlx::query_scalar(
            "INSERT INTO rate_limits (bucket, key_hash, window_start, expires_at, hits)
             VALUES ($1, $2, $3, $4, 1)
             ON CONFLICT (bucket, key_hash, window_start) DO UPDATE SET
                 hits = rate_limits.hits + 1
             RETURNING hits",
        )
        .bind(bucket)
        .bind(secret_hash(&[key]))
        .bind(start)
        .bind(start.saturating_add(secs))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        u32::try_from(hits).map_err(|_| StoreError::Corrupt {
            op: OP,
            column: "rate_limits.hits",
        })
    }

    pub async fn prune_rate_limits(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        const OP: &str = "prune_rate_limits";
        let done = sqlx::query("DELETE FROM rate_limits WHERE expires_at <= $1")
            .bind(now.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected())
    }

    // ---- consent --------------------------------------------------------------

    pub async fn record_consent(
        &self,
        user_id: &str,
        terms_version: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_consent";
        if terms_version.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the terms version is empty",
            });
        }
        sqlx::query(
            "INSERT INTO consents (user_id, terms_version, accepted_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET
                 terms_version = excluded.terms_version,
                 accepted_at = excluded.accepted_at",
        )
        .bind(user_id)
        .bind(terms_version)
        .bind(now.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(())
    }

    pub async fn consent_of(&self, user_id: &str) -> Result<Option<Consent>, StoreError> {
        const OP: &str = "consent_of";
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT terms_version, accepted_at FROM consents WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| StoreError::db(OP, e))?;
        row.map(|(terms_version, accepted_at)| {
            Ok(Consent {
                terms_version,
                accepted_at: from_unix(OP, "consents.accepted_at", accepted_at)?,
            })
        })
        .transpose()
    }

    // ---- sessions ---------------------------------------------------------------

    pub async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        const OP: &str = "insert_session";
        if session.sid.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the session id is empty",
            });
        }
        sqlx::query(
            "INSERT INTO sessions (sid, user_id, idp, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.sid)
        .bind(&session.user_id)
        .bind(&session.idp)
        .bind(session.created_at.unix_timestamp())
        .bind(session.expires_at.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(())
    }

    pub async fn sessions_of_user(
        &self,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        const OP: &str = "sessions_of_user";
        let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT s.sid, s.user_id, s.idp, s.created_at, s.expires_at FROM sessions s
             WHERE s.user_id = $1 AND s.expires_at > $2
               AND NOT EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.sid = s.sid)
             ORDER BY s.created_at, s.sid",
        )
        .bind(user_id)
        .bind(now.unix_timestamp())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter()
            .map(|(sid, user_id, idp, created_at, expires_at)| {
                Ok(SessionRecord {
                    sid,
                    user_id,
                    idp,
                    created_at: from_unix(OP, "sessions.created_at", created_at)?,
                    expires_at: from_unix(OP, "sessions.expires_at", expires_at)?,
                })
            })
            .collect()
    }

    pub async fn revoke_sessions_of_user(
        &self,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        const OP: &str = "revoke_sessions_of_user";
        // One statement: every live, not yet revoked session of the user is
        // revoked until its own end, with revoke_session's rules on conflict
        // (first revocation time kept, later end kept).
        let mut sids: Vec<String> = sqlx::query_scalar(
            "INSERT INTO revoked_sessions (sid, expires_at, revoked_at)
             SELECT s.sid, s.expires_at, $2 FROM sessions s
             WHERE s.user_id = $1 AND s.expires_at > $2
               AND NOT EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.sid = s.sid)
             ON CONFLICT (sid) DO UPDATE SET
                 expires_at = CASE WHEN excluded.expires_at > revoked_sessions.expires_at
                                   THEN excluded.expires_at ELSE revoked_sessions.expires_at END
             RETURNING sid",
        )
        .bind(user_id)
        .bind(now.unix_timestamp())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        sids.sort();
        Ok(sids)
    }

    pub async fn prune_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        const OP: &str = "prune_sessions";
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected())
    }

    // ---- identity linking -----------------------------------------------------

    pub async fn link_identity(
        &self,
        user_id: &str,
        idp: &str,
        subject: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "link_identity";
        if idp.is_empty() || subject.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the IdP name or the subject is empty",
            });
        }
        // The decision is this one conditional UPDATE: it links an unlinked
        // user (or re-states the same link); another user holding the
        // identity fails the unique index, which StoreError::db turns into a
        // Conflict on "identity".
        let done = sqlx::query(
            "UPDATE users SET idp = $2, idp_subject = $3
             WHERE id = $1 AND (idp IS NULL OR (idp = $2 AND idp_subject = $3))",
        )
        .bind(user_id)
        .bind(idp)
        .bind(subject)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        // Nothing changed: only tell a missing user from one linked elsewhere.
        match self.get_user(user_id).await? {
            None => Err(StoreError::NotFound {
                op: OP,
                what: "user",
            }),
            Some(_) => Err(StoreError::Conflict {
                op: OP,
                what: "identity",
            }),
        }
    }
}

const GUEST_NEEDS_END: &str =
    "a guest's assignment needs an end; give expires_at (invitations default to a fixed term)";

/// Rejects an end that is already past: it would grant nothing and read as
/// a successful grant to whoever asked.
fn check_assignment_end(
    op: &'static str,
    app: &str,
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    if app.is_empty() {
        return Err(StoreError::Invalid {
            op,
            reason: "the app name is empty",
        });
    }
    if expires_at.is_some_and(|end| end <= now) {
        return Err(StoreError::Invalid {
            op,
            reason: "expires_at is not in the future",
        });
    }
    Ok(())
}

fn expect_one(op: &'static str, what: &'static str, rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound { op, what })
    } else {
        Ok(())
    }
}

fn from_unix(op: &'static str, column: &'static str, t: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(t).map_err(|_| StoreError::Corrupt { op, column })
}

#[derive(FromRow)]
struct UserRow {
    id: String,
    email: String,
    display_name: Option<String>,
    user_type: String,
    state: String,
    created_at: i64,
    idp: Option<String>,
    idp_subject: Option<String>,
}

impl UserRow {
    fn into_user(self, op: &'static str) -> Result<User, StoreError> {
        let identity = match (self.idp, self.idp_subject) {
            (Some(idp), Some(subject)) => Some(Identity { idp, subject }),
            (None, None) => None,
            _ => {
                return Err(StoreError::Corrupt {
                    op,
                    column: "users.idp_subject",
                });
            }
        };
        Ok(User {
            id: self.id,
            email: self.email,
            display_name: self.display_name,
            user_type: UserType::parse(&self.user_type).ok_or(StoreError::Corrupt {
                op,
                column: "users.user_type",
            })?,
            state: UserState::parse(&self.state).ok_or(StoreError::Corrupt {
                op,
                column: "users.state",
            })?,
            created_at: from_unix(op, "users.created_at", self.created_at)?,
            identity,
        })
    }
}

#[derive(FromRow)]
struct AssignmentRow {
    user_id: String,
    app: String,
    granted_at: i64,
    expires_at: Option<i64>,
    granted_by: Option<String>,
}

impl AssignmentRow {
    fn into_assignment(self, op: &'static str) -> Result<Assignment, StoreError> {
        Ok(Assignment {
            user_id: self.user_id,
            app: self.app,
            granted_at: from_unix(op, "app_assignments.granted_at", self.granted_at)?,
            expires_at: self
                .expires_at
                .map(|t| from_unix(op, "app_assignments.expires_at", t))
                .transpose()?,
            granted_by: self.granted_by,
        })
    }
}

#[derive(FromRow)]
struct SigningKeyRow {
    kid: String,
    algorithm: String,
    private_key: Vec<u8>,
    public_key: Vec<u8>,
    created_at: i64,
    not_after: i64,
}

impl SigningKeyRow {
    fn into_key(self, op: &'static str) -> Result<SigningKey, StoreError> {
        Ok(SigningKey {
            kid: self.kid,
            algorithm: self.algorithm,
            private_key: self.private_key,
            public_key: self.public_key,
            created_at: from_unix(op, "signing_keys.created_at", self.created_at)?,
            not_after: from_unix(op, "signing_keys.not_after", self.not_after)?,
        })
    }
}

#[derive(FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    subject: Option<String>,
    app: Option<String>,
    detail: String,
}

impl AuditRow {
    fn into_entry(self, op: &'static str) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            id: self.id,
            at: from_unix(op, "audit_log.at", self.at)?,
            actor: self.actor,
            action: self.action,
            subject: self.subject,
            app: self.app,
            detail: serde_json::from_str(&self.detail).map_err(|_| StoreError::Corrupt {
                op,
                column: "audit_log.detail",
            })?,
        })
    }
}

#[derive(FromRow)]
struct TotpFactorRow {
    user_id: String,
    secret: Vec<u8>,
    algorithm: String,
    digits: i64,
    period: i64,
    confirmed_at: Option<i64>,
    last_used_step: Option<i64>,
    failed_attempts: i64,
    locked_until: Option<i64>,
    created_at: i64,
}

impl TotpFactorRow {
    fn into_factor(self, op: &'static str) -> Result<super::model::TotpFactor, StoreError> {
        let small = |column: &'static str, v: i64| {
            u32::try_from(v).map_err(|_| StoreError::Corrupt { op, column })
        };
        Ok(super::model::TotpFactor {
            user_id: self.user_id,
            secret: self.secret,
            algorithm: self.algorithm,
            digits: small("totp_factors.digits", self.digits)?,
            period: small("totp_factors.period", self.period)?,
            confirmed_at: self
                .confirmed_at
                .map(|t| from_unix(op, "totp_factors.confirmed_at", t))
                .transpose()?,
            last_used_step: self.last_used_step,
            failed_attempts: small("totp_factors.failed_attempts", self.failed_attempts)?,
            locked_until: self
                .locked_until
                .map(|t| from_unix(op, "totp_factors.locked_until", t))
                .transpose()?,
            created_at: from_unix(op, "totp_factors.created_at", self.created_at)?,
        })
    }
}
