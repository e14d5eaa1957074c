//! Sessions issued at sign-in, and the revocations every replica polls.

use time::OffsetDateTime;

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::{RevokedSession, SessionRecord};

impl Backend {
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
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE sid = $1)")
            .bind(sid)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))
    }

    pub async fn revocations_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        const OP: &str = "revocations_since";
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(concat!(
            "SELECT sid, expires_at, revoked_at FROM revoked_sessions
             WHERE revoked_at >= $1 ORDER BY revoked_at, sid",
            byte_order!()
        ))
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
        self.delete_expired(
            "prune_revoked_sessions",
            "DELETE FROM revoked_sessions WHERE expires_at <= $1",
            now,
        )
        .await
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
            "INSERT INTO sessions (sid, user_id, idp, created_at, expires_at, device)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.sid)
        .bind(&session.user_id)
        .bind(&session.idp)
        .bind(session.created_at.unix_timestamp())
        .bind(session.expires_at.unix_timestamp())
        .bind(&session.device)
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
        let rows: Vec<(String, String, String, i64, i64, Option<String>)> =
            sqlx::query_as(concat!(
            "SELECT s.sid, s.user_id, s.idp, s.created_at, s.expires_at, s.device FROM sessions s
             WHERE s.user_id = $1 AND s.expires_at > $2
               AND NOT EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.sid = s.sid)
             ORDER BY s.created_at, s.sid",
            byte_order!()
        ))
            .bind(user_id)
            .bind(now.unix_timestamp())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter()
            .map(|(sid, user_id, idp, created_at, expires_at, device)| {
                Ok(SessionRecord {
                    sid,
                    user_id,
                    idp,
                    created_at: from_unix(OP, "sessions.created_at", created_at)?,
                    expires_at: from_unix(OP, "sessions.expires_at", expires_at)?,
                    device,
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
        self.delete_expired(
            "prune_sessions",
            "DELETE FROM sessions WHERE expires_at <= $1",
            now,
        )
        .await
    }
}
