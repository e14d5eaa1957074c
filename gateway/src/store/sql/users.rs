//! Users, their identity links and their groups.

use sqlx::FromRow;
use time::OffsetDateTime;

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::{
    Assignment, GuestSummary, Identity, NewUser, User, UserState, UserType, email_key,
};

impl Backend {
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
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT id, email, display_name, user_type, state, created_at, idp, idp_subject
             FROM users WHERE ($1 IS NULL OR user_type = $1) ORDER BY email_lower",
            byte_order!()
        ))
        .bind(user_type.map(UserType::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_user(OP)).collect()
    }

    pub async fn guest_summaries(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<GuestSummary>, StoreError> {
        const OP: &str = "guest_summaries";
        // One statement: each guest once per assignment (or once without),
        // with their latest inviter and pending invitation beside.
        let rows: Vec<GuestSummaryRow> = sqlx::query_as(concat!(
            "SELECT u.id, u.email, u.display_name, u.user_type, u.state, u.created_at,
                    u.idp, u.idp_subject,
                    a.app, a.granted_at, a.expires_at, a.granted_by,
                    (SELECT i.inviter FROM invitations i WHERE i.user_id = u.id
                      ORDER BY i.created_at DESC, i.id DESC LIMIT 1) AS inviter,
                    EXISTS (SELECT 1 FROM invitations i WHERE i.user_id = u.id
                      AND i.redeemed_at IS NULL AND i.revoked_at IS NULL
                      AND i.expires_at > $1) AS pending
             FROM users u LEFT JOIN app_assignments a ON a.user_id = u.id
             WHERE u.user_type = 'guest'
             ORDER BY u.email_lower",
            byte_order!(),
            ", u.id, a.app",
            byte_order!()
        ))
        .bind(now.unix_timestamp())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        let mut out: Vec<GuestSummary> = Vec::new();
        for r in rows {
            let assignment = match (r.app, r.granted_at) {
                (Some(app), Some(granted_at)) => Some(Assignment {
                    user_id: r.user.id.clone(),
                    app,
                    granted_at: from_unix(OP, "app_assignments.granted_at", granted_at)?,
                    expires_at: r
                        .expires_at
                        .map(|t| from_unix(OP, "app_assignments.expires_at", t))
                        .transpose()?,
                    granted_by: r.granted_by,
                }),
                _ => None,
            };
            match out.last_mut() {
                Some(last) if last.user.id == r.user.id => last.assignments.extend(assignment),
                _ => out.push(GuestSummary {
                    user: r.user.into_user(OP)?,
                    assignments: assignment.into_iter().collect(),
                    inviter: r.inviter,
                    invitation_pending: r.pending,
                }),
            }
        }
        Ok(out)
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
        // without members is harmless, and on SQLite single statements always
        // wait on busy_timeout (a read-then-write transaction may fail with BUSY).
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
        sqlx::query_scalar(concat!(
            "SELECT group_name FROM group_members WHERE user_id = $1 ORDER BY group_name",
            byte_order!()
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))
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

fn expect_one(op: &'static str, what: &'static str, rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound { op, what })
    } else {
        Ok(())
    }
}

#[derive(FromRow)]
struct GuestSummaryRow {
    #[sqlx(flatten)]
    user: UserRow,
    app: Option<String>,
    granted_at: Option<i64>,
    expires_at: Option<i64>,
    granted_by: Option<String>,
    inviter: Option<String>,
    pending: bool,
}

#[derive(FromRow)]
pub(super) struct UserRow {
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
    pub(super) fn into_user(self, op: &'static str) -> Result<User, StoreError> {
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
