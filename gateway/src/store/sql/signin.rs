//! The sign-in state: single-use tickets, e-mail passcodes, rate-limit
//! counters and consent to the terms. Each decision is one statement, so
//! racing replicas cannot both take a ticket or accept a code; the one
//! exception, `hit_rate_limits`, is one transaction whose statements each
//! count atomically (see its comments).

use std::time::Duration;

use time::OffsetDateTime;

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::{Consent, PasscodeCheck, RateLimit, RateVerdict, email_key, secret_hash};

impl Backend {
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
        super::wrote_row(done.rows_affected(), OP, "ticket")
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
        self.delete_expired(
            "prune_tickets",
            "DELETE FROM tickets WHERE expires_at <= $1",
            now,
        )
        .await
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

    pub async fn passcode_sent_at(
        &self,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        const OP: &str = "passcode_sent_at";
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT created_at FROM passcodes WHERE email_lower = $1 AND expires_at > $2",
        )
        .bind(email_key(email))
        .bind(now.unix_timestamp())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        at.map(|t| from_unix(OP, "passcodes.created_at", t))
            .transpose()
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
        self.delete_expired(
            "prune_passcodes",
            "DELETE FROM passcodes WHERE expires_at <= $1",
            now,
        )
        .await
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
        let (start, end) = rate_window(OP, window, now)?;
        if bucket.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the rate-limit bucket is empty",
            });
        }
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
        .bind(end)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        u32::try_from(hits).map_err(|_| StoreError::Corrupt {
            op: OP,
            column: "rate_limits.hits",
        })
    }

    pub async fn hit_rate_limits(
        &self,
        limits: &[RateLimit<'_>],
        window: Duration,
        max_counters: u32,
        now: OffsetDateTime,
    ) -> Result<RateVerdict, StoreError> {
        const OP: &str = "hit_rate_limits";
        let (start, end) = rate_window(OP, window, now)?;
        if limits.iter().any(|l| l.bucket.is_empty()) {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "a rate-limit bucket is empty",
            });
        }
        if max_counters == 0 {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "max_counters is 0",
            });
        }
        // One transaction for every counter: with the store slow or locked,
        // a request waits once, not once per counter (c63817f). It starts
        // with a write, so on SQLite it takes the write lock first (waiting
        // on busy_timeout) instead of upgrading a read snapshot.
        let mut tx = self.pool.begin().await.map_err(|e| StoreError::db(OP, e))?;
        let mut verdict = RateVerdict::Within;
        for limit in limits {
            let key_hash = secret_hash(&[limit.key]);
            let max = i64::from(limit.max);
            // A counter already over its limit is not written again: a
            // client hammering away changes nothing (issue 14, finding 6).
            let mut hits: Option<i64> = sqlx::query_scalar(
                "UPDATE rate_limits SET hits = hits + 1
                 WHERE bucket = $1 AND key_hash = $2 AND window_start = $3 AND hits <= $4
                 RETURNING hits",
            )
            .bind(limit.bucket)
            .bind(&key_hash)
            .bind(start)
            .bind(max)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
            if hits.is_none() {
                hits = sqlx::query_scalar(
                    "SELECT hits FROM rate_limits
                     WHERE bucket = $1 AND key_hash = $2 AND window_start = $3 AND hits > $4",
                )
                .bind(limit.bucket)
                .bind(&key_hash)
                .bind(start)
                .bind(max)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| StoreError::db(OP, e))?;
            }
            let hits = match hits {
                Some(h) => h,
                None => {
                    // A key without a counter in this window (or whose
                    // counter a racing request just made): the window's
                    // tally of keys decides whether it may have one.
                    let keys: i64 = sqlx::query_scalar(
                        "INSERT INTO rate_limit_windows (bucket, window_start, expires_at, keys)
                         VALUES ($1, $2, $3, 1)
                         ON CONFLICT (bucket, window_start) DO UPDATE SET
                             keys = rate_limit_windows.keys + 1
                         RETURNING keys",
                    )
                    .bind(limit.bucket)
                    .bind(start)
                    .bind(end)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| StoreError::db(OP, e))?;
                    if keys > i64::from(max_counters) {
                        verdict = RateVerdict::Full {
                            bucket: limit.bucket.to_string(),
                        };
                        break;
                    }
                    // The conflict branch: a racing request made the counter
                    // between our statements; it counts once more, unless
                    // that made it over the limit already.
                    sqlx::query_scalar(
                        "INSERT INTO rate_limits (bucket, key_hash, window_start, expires_at, hits)
                         VALUES ($1, $2, $3, $4, 1)
                         ON CONFLICT (bucket, key_hash, window_start) DO UPDATE SET
                             hits = rate_limits.hits + 1
                         WHERE rate_limits.hits <= $5
                         RETURNING hits",
                    )
                    .bind(limit.bucket)
                    .bind(&key_hash)
                    .bind(start)
                    .bind(end)
                    .bind(max)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| StoreError::db(OP, e))?
                    .unwrap_or(max.saturating_add(1))
                }
            };
            if hits > max {
                verdict = RateVerdict::Over {
                    bucket: limit.bucket.to_string(),
                };
                break;
            }
        }
        tx.commit().await.map_err(|e| StoreError::db(OP, e))?;
        Ok(verdict)
    }

    pub async fn prune_rate_limits(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        const OP: &str = "prune_rate_limits";
        let counters = self
            .delete_expired(OP, "DELETE FROM rate_limits WHERE expires_at <= $1", now)
            .await?;
        self.delete_expired(
            OP,
            "DELETE FROM rate_limit_windows WHERE expires_at <= $1",
            now,
        )
        .await?;
        Ok(counters)
    }

    pub async fn rate_limit_counters(&self) -> Result<u64, StoreError> {
        const OP: &str = "rate_limit_counters";
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rate_limits")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt {
            op: OP,
            column: "COUNT(*) FROM rate_limits",
        })
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
}

/// The fixed window `now` falls in, as unix seconds (its start, its end):
/// windows are `window` long (whole seconds, at least one) and start at
/// multiples of it, so every replica counts in the same window.
fn rate_window(
    op: &'static str,
    window: Duration,
    now: OffsetDateTime,
) -> Result<(i64, i64), StoreError> {
    let secs = i64::try_from(window.as_secs()).unwrap_or(i64::MAX / 4);
    if secs < 1 {
        return Err(StoreError::Invalid {
            op,
            reason: "the rate-limit window is shorter than a second",
        });
    }
    let start = now.unix_timestamp().div_euclid(secs) * secs;
    Ok((start, start.saturating_add(secs)))
}
