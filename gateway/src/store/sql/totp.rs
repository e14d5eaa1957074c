//! TOTP factors and recovery codes (MFA): enrolment, the compare-and-set
//! that accepts a step once, and the lockout after repeated failures.

use std::time::Duration;

use sqlx::FromRow;
use time::OffsetDateTime;

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::{MfaFailures, NewTotpFactor, TotpFactor};

impl Backend {
    pub async fn begin_totp_enrollment(
        &self,
        factor: &NewTotpFactor,
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
        super::wrote_row(done.rows_affected(), OP, "confirmed TOTP factor")
    }

    pub async fn get_totp_factor(&self, user_id: &str) -> Result<Option<TotpFactor>, StoreError> {
        const OP: &str = "get_totp_factor";
        let row: Option<TotpFactorRow> = sqlx::query_as(
            "SELECT user_id, secret, algorithm, digits, period, confirmed_at, last_used_step,
                    failed_attempts, locked_until, created_at,
                    replacement_secret, replacement_started_at
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
        // The transaction starts with its conditional write. On SQLite that
        // takes the write lock first (waiting on busy_timeout) instead of
        // upgrading a read snapshot; on PostgreSQL it locks the factor's row
        // until commit, so a racing confirmation waits, then finds the factor
        // confirmed and changes nothing.
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
    ) -> Result<Option<MfaFailures>, StoreError> {
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
            Ok(MfaFailures {
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
        sqlx::query_scalar(concat!(
            "SELECT code_hash FROM recovery_codes
             WHERE user_id = $1 AND used_at IS NULL ORDER BY code_hash",
            byte_order!()
        ))
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

    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
    ) -> Result<bool, StoreError> {
        const OP: &str = "replace_recovery_codes";
        let mut tx = self.pool.begin().await.map_err(|e| StoreError::db(OP, e))?;
        // A no-op write first: it takes the row lock (PostgreSQL) or the
        // write lock (SQLite), so a reset racing this one waits, and it
        // tells whether there is a confirmed factor to hold codes.
        let factor = sqlx::query(
            "UPDATE totp_factors SET failed_attempts = failed_attempts
             WHERE user_id = $1 AND confirmed_at IS NOT NULL",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        if factor.rows_affected() == 0 {
            tx.rollback().await.map_err(|e| StoreError::db(OP, e))?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        for hash in hashes {
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

    pub async fn begin_totp_replacement(
        &self,
        user_id: &str,
        secret: &[u8],
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const OP: &str = "begin_totp_replacement";
        // Only beside a confirmed factor, and never over a replacement still
        // in time: a second tab or a reload must show the key already
        // scanned, not a new one.
        let done = sqlx::query(
            "UPDATE totp_factors SET replacement_secret = $2, replacement_started_at = $3
             WHERE user_id = $1 AND confirmed_at IS NOT NULL
               AND (replacement_secret IS NULL OR replacement_started_at IS NULL
                    OR replacement_started_at < $4)",
        )
        .bind(user_id)
        .bind(secret)
        .bind(now.unix_timestamp())
        .bind(stale_before.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn finish_totp_replacement(
        &self,
        user_id: &str,
        secret: &[u8],
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const OP: &str = "finish_totp_replacement";
        // Compare-and-set on the very key that was checked: a replacement
        // cancelled or restarted meanwhile changes nothing. The step is the
        // new key's first used one; the old key's steps mean nothing for it.
        let done = sqlx::query(
            "UPDATE totp_factors SET secret = replacement_secret, last_used_step = $3,
                    replacement_secret = NULL, replacement_started_at = NULL,
                    failed_attempts = 0, locked_until = NULL
             WHERE user_id = $1 AND confirmed_at IS NOT NULL AND replacement_secret = $2
               AND (locked_until IS NULL OR locked_until <= $4)",
        )
        .bind(user_id)
        .bind(secret)
        .bind(step)
        .bind(now.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn cancel_totp_replacement(&self, user_id: &str) -> Result<bool, StoreError> {
        const OP: &str = "cancel_totp_replacement";
        let done = sqlx::query(
            "UPDATE totp_factors SET replacement_secret = NULL, replacement_started_at = NULL
             WHERE user_id = $1 AND replacement_secret IS NOT NULL",
        )
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() == 1)
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
    replacement_secret: Option<Vec<u8>>,
    replacement_started_at: Option<i64>,
}

impl TotpFactorRow {
    fn into_factor(self, op: &'static str) -> Result<TotpFactor, StoreError> {
        let small = |column: &'static str, v: i64| {
            u32::try_from(v).map_err(|_| StoreError::Corrupt { op, column })
        };
        Ok(TotpFactor {
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
            replacement: match (self.replacement_secret, self.replacement_started_at) {
                (Some(secret), Some(at)) => Some((
                    secret,
                    from_unix(op, "totp_factors.replacement_started_at", at)?,
                )),
                _ => None,
            },
        })
    }
}
