//! App assignments (who may use which app until when), and the one read
//! the request path's directory cache makes of a user.

use sqlx::FromRow;
use time::OffsetDateTime;

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::{Assignment, AssignmentWindow, DirectoryUser, UserState, UserType};

impl Backend {
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
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM app_assignments WHERE user_id = $1 AND app = $2)",
        )
        .bind(user_id)
        .bind(app)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        if exists {
            Err(self.why_not_assignable(OP, user_id).await)
        } else {
            Err(StoreError::NotFound {
                op: OP,
                what: "assignment",
            })
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
        self.assignments_where(
            "assignments_of_user",
            concat!(
                "SELECT user_id, app, granted_at, expires_at, granted_by
                 FROM app_assignments WHERE user_id = $1 ORDER BY app",
                byte_order!()
            ),
            user_id,
        )
        .await
    }

    pub async fn assignments_of_app(&self, app: &str) -> Result<Vec<Assignment>, StoreError> {
        self.assignments_where(
            "assignments_of_app",
            concat!(
                "SELECT user_id, app, granted_at, expires_at, granted_by
                 FROM app_assignments WHERE app = $1 ORDER BY user_id",
                byte_order!()
            ),
            app,
        )
        .await
    }

    /// The assignments `sql` selects by its one parameter `key`.
    async fn assignments_where(
        &self,
        op: &'static str,
        sql: &'static str,
        key: &str,
    ) -> Result<Vec<Assignment>, StoreError> {
        let rows: Vec<AssignmentRow> = sqlx::query_as(sql)
            .bind(key)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| StoreError::db(op, e))?;
        rows.into_iter().map(|r| r.into_assignment(op)).collect()
    }

    // ---- directory (hot path loads) --------------------------------------

    pub async fn directory_user(&self, user_id: &str) -> Result<Option<DirectoryUser>, StoreError> {
        const OP: &str = "directory_user";
        // Two reads in one read transaction: one snapshot (see
        // `begin_snapshot!`), one connection, and a fixed number of statements
        // however many groups or apps there are.
        let mut tx = self
            .reads()
            .begin_with(begin_snapshot!())
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(concat!(
            "SELECT u.user_type, u.state, m.group_name
             FROM users u LEFT JOIN group_members m ON m.user_id = u.id
             WHERE u.id = $1 ORDER BY m.group_name",
            byte_order!()
        ))
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
        let windows: Vec<(String, Option<i64>)> = sqlx::query_as(concat!(
            "SELECT app, expires_at FROM app_assignments WHERE user_id = $1 ORDER BY app",
            byte_order!()
        ))
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
