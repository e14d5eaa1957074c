//! Passkeys (WebAuthn credentials, issue 20): registration, the list a
//! person manages, and the compare-and-set on the signature counter that
//! accepts an assertion once.

use sqlx::FromRow;
use time::OffsetDateTime;

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::{NewPasskey, Passkey, PasskeyUse};

impl Backend {
    pub async fn add_passkey(&self, p: &NewPasskey, now: OffsetDateTime) -> Result<(), StoreError> {
        const OP: &str = "add_passkey";
        // A credential id already registered (to anyone) is a conflict:
        // the insert never replaces a row.
        let done = sqlx::query(
            "INSERT INTO passkeys (credential_id, user_id, name, credential, sign_count,
                                   backup_eligible, backup_state, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(&p.credential_id)
        .bind(&p.user_id)
        .bind(&p.name)
        .bind(&p.credential)
        .bind(i64::from(p.sign_count))
        .bind(p.backup_eligible)
        .bind(p.backup_state)
        .bind(now.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        super::wrote_row(done.rows_affected(), OP, "passkey with this credential id")
    }

    pub async fn list_passkeys(&self, user_id: &str) -> Result<Vec<Passkey>, StoreError> {
        const OP: &str = "list_passkeys";
        let rows: Vec<PasskeyRow> = sqlx::query_as(
            "SELECT credential_id, user_id, name, credential, sign_count, backup_eligible,
                    backup_state, created_at, last_used_at
             FROM passkeys WHERE user_id = $1 ORDER BY created_at, credential_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_passkey(OP)).collect()
    }

    pub async fn get_passkey(&self, credential_id: &[u8]) -> Result<Option<Passkey>, StoreError> {
        const OP: &str = "get_passkey";
        let row: Option<PasskeyRow> = sqlx::query_as(
            "SELECT credential_id, user_id, name, credential, sign_count, backup_eligible,
                    backup_state, created_at, last_used_at
             FROM passkeys WHERE credential_id = $1",
        )
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_passkey(OP)).transpose()
    }

    pub async fn record_passkey_use(
        &self,
        u: &PasskeyUse<'_>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const OP: &str = "record_passkey_use";
        // One statement: the counter must rise (or stay 0 for an
        // authenticator that keeps none), and the credential must be this
        // user's. A backup-eligible flag never changes after registration
        // (WebAuthn §6.1.3): a change is refused like a replay.
        let done = sqlx::query(
            "UPDATE passkeys SET sign_count = $3, backup_state = $5, credential = $6,
                    last_used_at = $7
             WHERE credential_id = $1 AND user_id = $2
               AND (sign_count < $3 OR (sign_count = 0 AND $3 = 0))
               AND backup_eligible = $4",
        )
        .bind(u.credential_id)
        .bind(u.user_id)
        .bind(i64::from(u.sign_count))
        .bind(u.backup_eligible)
        .bind(u.backup_state)
        .bind(u.credential)
        .bind(now.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &[u8],
        name: &str,
    ) -> Result<bool, StoreError> {
        const OP: &str = "rename_passkey";
        let done =
            sqlx::query("UPDATE passkeys SET name = $3 WHERE credential_id = $1 AND user_id = $2")
                .bind(credential_id)
                .bind(user_id)
                .bind(name)
                .execute(&self.pool)
                .await
                .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_passkey(
        &self,
        user_id: &str,
        credential_id: &[u8],
    ) -> Result<bool, StoreError> {
        const OP: &str = "delete_passkey";
        let done = sqlx::query("DELETE FROM passkeys WHERE credential_id = $1 AND user_id = $2")
            .bind(credential_id)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() == 1)
    }
}

#[derive(FromRow)]
struct PasskeyRow {
    credential_id: Vec<u8>,
    user_id: String,
    name: String,
    credential: String,
    sign_count: i64,
    backup_eligible: bool,
    backup_state: bool,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl PasskeyRow {
    fn into_passkey(self, op: &'static str) -> Result<Passkey, StoreError> {
        Ok(Passkey {
            credential_id: self.credential_id,
            user_id: self.user_id,
            name: self.name,
            credential: self.credential,
            sign_count: u32::try_from(self.sign_count).map_err(|_| StoreError::Corrupt {
                op,
                column: "passkeys.sign_count",
            })?,
            backup_eligible: self.backup_eligible,
            backup_state: self.backup_state,
            created_at: from_unix(op, "passkeys.created_at", self.created_at)?,
            last_used_at: self
                .last_used_at
                .map(|t| from_unix(op, "passkeys.last_used_at", t))
                .transpose()?,
        })
    }
}
