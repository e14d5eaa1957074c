//! The guest lifecycle (see `Store`'s lifecycle operations): the conditional
//! UPDATEs that claim a reminder or an expiry exactly once, and the deletion
//! of guests blocked long enough.

use super::users::UserRow;
use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::{DueReminder, EndedGuest, GuestCounts, User};
use sqlx::FromRow;
use time::OffsetDateTime;

#[derive(FromRow)]
struct ReminderRow {
    user_id: String,
    app: String,
    expires_at: i64,
    reminded_at: i64,
}

#[derive(FromRow)]
struct EndedRow {
    id: String,
    email: String,
    access_ended_at: i64,
    state: String,
    blocked_at: Option<i64>,
}

/// A guest with no live assignment (`$1` is now), as a condition on `users`.
macro_rules! no_live_assignment {
    () => {
        "NOT EXISTS (SELECT 1 FROM app_assignments a WHERE a.user_id = users.id
                     AND (a.expires_at IS NULL OR a.expires_at > $1))"
    };
}

/// A guest the lifecycle blocked at or before `$2` who still has no live
/// assignment at `$1`: due for deletion.
macro_rules! due_for_deletion {
    () => {
        concat!(
            "users.user_type = 'guest' AND users.state = 'blocked'
             AND users.blocked_at IS NOT NULL AND users.blocked_at <= $2 AND ",
            no_live_assignment!()
        )
    };
}

impl Backend {
    pub async fn claim_reminders(
        &self,
        ending_by: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<DueReminder>, StoreError> {
        const OP: &str = "claim_reminders";
        let rows: Vec<ReminderRow> = sqlx::query_as(
            "UPDATE app_assignments SET reminded_at = $1
             WHERE reminded_at IS NULL AND expires_at IS NOT NULL
               AND expires_at > $1 AND expires_at <= $2
               AND user_id IN (SELECT id FROM users WHERE user_type = 'guest' AND state = 'active')
             RETURNING user_id, app, expires_at, reminded_at",
        )
        .bind(now.unix_timestamp())
        .bind(ending_by.unix_timestamp())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        let mut due = rows
            .into_iter()
            .map(|r| {
                Ok(DueReminder {
                    user_id: r.user_id,
                    app: r.app,
                    expires_at: from_unix(OP, "expires_at", r.expires_at)?,
                    claimed_at: from_unix(OP, "reminded_at", r.reminded_at)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        due.sort_by(|a, b| (&a.user_id, &a.app).cmp(&(&b.user_id, &b.app)));
        Ok(due)
    }

    pub async fn release_reminder(&self, due: &DueReminder) -> Result<bool, StoreError> {
        const OP: &str = "release_reminder";
        let done = sqlx::query(
            "UPDATE app_assignments SET reminded_at = NULL
             WHERE user_id = $1 AND app = $2 AND reminded_at = $3 AND expires_at = $4",
        )
        .bind(&due.user_id)
        .bind(&due.app)
        .bind(due.claimed_at.unix_timestamp())
        .bind(due.expires_at.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn end_guest_access(
        &self,
        block: bool,
        now: OffsetDateTime,
    ) -> Result<Vec<EndedGuest>, StoreError> {
        const OP: &str = "end_guest_access";
        let mut tx = self.pool.begin().await.map_err(|e| StoreError::db(OP, e))?;
        // The write comes first: on SQLite the transaction takes the write
        // lock at once (waiting on busy_timeout) and never upgrades from a
        // read; on PostgreSQL a replica racing on the same row re-checks the
        // WHERE after our commit and finds nothing left to do.
        let rows: Vec<EndedRow> = sqlx::query_as(concat!(
            "UPDATE users SET
                 access_ended_at = CASE WHEN access_removed = 1 THEN $1 ELSE
                     (SELECT MAX(a.expires_at) FROM app_assignments a WHERE a.user_id = users.id) END,
                 access_removed = 0,
                 state = CASE WHEN $2 THEN 'blocked' ELSE state END,
                 blocked_at = CASE WHEN $2 AND blocked_at IS NULL THEN $1 ELSE blocked_at END
             WHERE user_type = 'guest' AND ",
            no_live_assignment!(),
            "
               AND (access_removed = 1 OR COALESCE(access_ended_at, -1) < COALESCE(
                    (SELECT MAX(a.expires_at) FROM app_assignments a WHERE a.user_id = users.id), -1))
             RETURNING id, email, access_ended_at, state, blocked_at"
        ))
        .bind(now.unix_timestamp())
        .bind(block)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        let mut ended = Vec::with_capacity(rows.len());
        for r in rows {
            let blocked =
                block && r.state == "blocked" && r.blocked_at == Some(now.unix_timestamp());
            let g = EndedGuest {
                user_id: r.id,
                email: r.email,
                ended_at: from_unix(OP, "access_ended_at", r.access_ended_at)?,
                blocked,
            };
            for (action, detail) in g.audit_entries() {
                sqlx::query(concat!(
                    "INSERT INTO audit_log (at, actor, action, subject, app, detail)
                     VALUES ($1, 'system', $2, $3, NULL, $4",
                    jsonb!(),
                    ")"
                ))
                .bind(now.unix_timestamp())
                .bind(action)
                .bind(&g.user_id)
                .bind(detail)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::db(OP, e))?;
            }
            ended.push(g);
        }
        tx.commit().await.map_err(|e| StoreError::db(OP, e))?;
        ended.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Ok(ended)
    }

    pub async fn lifecycle_blocked_with_sessions(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        const OP: &str = "lifecycle_blocked_with_sessions";
        sqlx::query_scalar(
            "SELECT id FROM users
             WHERE user_type = 'guest' AND state = 'blocked' AND blocked_at IS NOT NULL
               AND EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id AND s.expires_at > $1
                           AND NOT EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.sid = s.sid))
             ORDER BY id",
        )
        .bind(now.unix_timestamp())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))
    }

    pub async fn guests_due_for_deletion(
        &self,
        blocked_by: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<User>, StoreError> {
        const OP: &str = "guests_due_for_deletion";
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT id, email, display_name, user_type, state, created_at, idp, idp_subject
             FROM users WHERE ",
            due_for_deletion!(),
            " ORDER BY id"
        ))
        .bind(now.unix_timestamp())
        .bind(blocked_by.unix_timestamp())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_user(OP)).collect()
    }

    pub async fn delete_ended_guest(
        &self,
        user_id: &str,
        blocked_by: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const OP: &str = "delete_ended_guest";
        let mut tx = self.pool.begin().await.map_err(|e| StoreError::db(OP, e))?;
        let email: Option<String> = sqlx::query_scalar(concat!(
            "DELETE FROM users WHERE id = $3 AND ",
            due_for_deletion!(),
            " RETURNING email"
        ))
        .bind(now.unix_timestamp())
        .bind(blocked_by.unix_timestamp())
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        let Some(email) = email else {
            return Ok(false);
        };
        sqlx::query(concat!(
            "INSERT INTO audit_log (at, actor, action, subject, app, detail)
             VALUES ($1, 'system', 'guest_deleted', $2, NULL, $3",
            jsonb!(),
            ")"
        ))
        .bind(now.unix_timestamp())
        .bind(user_id)
        .bind(serde_json::json!({ "email": email }).to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        tx.commit().await.map_err(|e| StoreError::db(OP, e))?;
        Ok(true)
    }

    pub async fn members_of_group(&self, group: &str) -> Result<Vec<User>, StoreError> {
        const OP: &str = "members_of_group";
        let rows: Vec<UserRow> = sqlx::query_as(
            "SELECT u.id, u.email, u.display_name, u.user_type, u.state, u.created_at, u.idp, u.idp_subject
             FROM users u JOIN group_members m ON m.user_id = u.id
             WHERE m.group_name = $1 ORDER BY u.email_lower",
        )
        .bind(group)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_user(OP)).collect()
    }

    pub async fn count_guests(&self, now: OffsetDateTime) -> Result<GuestCounts, StoreError> {
        const OP: &str = "count_guests";
        let (active, blocked, without_access): (i64, i64, i64) = sqlx::query_as(
            "SELECT
                 COALESCE(SUM(CASE WHEN u.state = 'active' AND EXISTS (
                     SELECT 1 FROM app_assignments a WHERE a.user_id = u.id
                       AND (a.expires_at IS NULL OR a.expires_at > $1)) THEN 1 ELSE 0 END), 0),
                 COALESCE(SUM(CASE WHEN u.state = 'blocked' THEN 1 ELSE 0 END), 0),
                 COALESCE(SUM(CASE WHEN u.state = 'active' AND NOT EXISTS (
                     SELECT 1 FROM app_assignments a WHERE a.user_id = u.id
                       AND (a.expires_at IS NULL OR a.expires_at > $1)) THEN 1 ELSE 0 END), 0)
             FROM users u WHERE u.user_type = 'guest'",
        )
        .bind(now.unix_timestamp())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(GuestCounts {
            active: n(active),
            blocked: n(blocked),
            without_access: n(without_access),
        })
    }
}
