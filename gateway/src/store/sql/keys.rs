//! The session-signing keys every replica shares.

use sqlx::FromRow;
use time::OffsetDateTime;

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::SigningKey;

impl Backend {
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
        let rows: Vec<SigningKeyRow> = sqlx::query_as(concat!(
            "SELECT kid, algorithm, private_key, public_key, created_at, not_after
             FROM signing_keys ORDER BY created_at DESC, kid",
            byte_order!()
        ))
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
