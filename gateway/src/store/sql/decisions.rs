//! The decision log's table: appended in batches by the log's writer,
//! read by `explain`, the admin API and `rules diff`, pruned by age and
//! count.

use sqlx::FromRow;

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::decisions::{DecisionQuery, NewDecision, StoredDecision};

impl Backend {
    pub async fn append_decisions(&self, batch: &[NewDecision]) -> Result<u64, StoreError> {
        const OP: &str = "append_decisions";
        // One transaction per batch: one commit (one fsync on SQLite)
        // instead of one per entry.
        let mut tx = self.pool.begin().await.map_err(|e| StoreError::db(OP, e))?;
        let mut written = 0;
        for d in batch {
            written += sqlx::query(concat!(
                "INSERT INTO decisions (request_id, at, app, user_id, decision, reason, entry)
                 VALUES ($1, $2, $3, $4, $5, $6, $7",
                jsonb!(),
                ") ON CONFLICT (request_id) DO NOTHING"
            ))
            .bind(&d.request_id)
            .bind(d.at.unix_timestamp())
            .bind(&d.app)
            .bind(d.user_id.as_deref())
            .bind(d.decision)
            .bind(d.reason)
            .bind(&d.entry)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(OP, e))?
            .rows_affected();
        }
        tx.commit().await.map_err(|e| StoreError::db(OP, e))?;
        Ok(written)
    }

    pub async fn get_decision(
        &self,
        request_id: &str,
    ) -> Result<Option<StoredDecision>, StoreError> {
        const OP: &str = "get_decision";
        let row: Option<DecisionRow> = sqlx::query_as(concat!(
            "SELECT request_id, at, app, user_id, decision, reason, ",
            json_text!("entry"),
            " FROM decisions WHERE request_id = $1"
        ))
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_decision(OP)).transpose()
    }

    pub async fn list_decisions(
        &self,
        q: &DecisionQuery,
    ) -> Result<Vec<StoredDecision>, StoreError> {
        const OP: &str = "list_decisions";
        let rows: Vec<DecisionRow> = sqlx::query_as(concat!(
            "SELECT request_id, at, app, user_id, decision, reason, ",
            json_text!("entry"),
            " FROM decisions
             WHERE ($1",
            text_param!(),
            " IS NULL OR user_id = $1)
               AND ($2",
            text_param!(),
            " IS NULL OR app = $2)
               AND ($3",
            text_param!(),
            " IS NULL OR decision = $3)
               AND ($4",
            text_param!(),
            " IS NULL OR reason = $4)
               AND at >= $5 AND at < $6
             ORDER BY at DESC, request_id",
            byte_order!(),
            " LIMIT $7"
        ))
        .bind(q.user.as_deref())
        .bind(q.app.as_deref())
        .bind(q.decision.as_deref())
        .bind(q.reason.as_deref())
        .bind(q.since.map_or(i64::MIN, |t| t.unix_timestamp()))
        .bind(q.until.map_or(i64::MAX, |t| t.unix_timestamp()))
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_decision(OP)).collect()
    }

    pub async fn prune_decisions(
        &self,
        before: time::OffsetDateTime,
        max_entries: u64,
    ) -> Result<u64, StoreError> {
        const OP: &str = "prune_decisions";
        let mut pruned = sqlx::query("DELETE FROM decisions WHERE at < $1")
            .bind(before.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?
            .rows_affected();
        if max_entries == 0 {
            return Ok(pruned);
        }
        // The time of the oldest entry that stays: everything older goes.
        // Others of that very second stay too (a few over the bound, never
        // one of the newest `max_entries` pruned).
        let cutoff: Option<i64> =
            sqlx::query_scalar("SELECT at FROM decisions ORDER BY at DESC LIMIT 1 OFFSET $1")
                .bind(i64::try_from(max_entries - 1).unwrap_or(i64::MAX))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| StoreError::db(OP, e))?;
        if let Some(cutoff) = cutoff {
            pruned += sqlx::query("DELETE FROM decisions WHERE at < $1")
                .bind(cutoff)
                .execute(&self.pool)
                .await
                .map_err(|e| StoreError::db(OP, e))?
                .rows_affected();
        }
        Ok(pruned)
    }
}

#[derive(FromRow)]
struct DecisionRow {
    request_id: String,
    at: i64,
    app: String,
    user_id: Option<String>,
    decision: String,
    reason: Option<String>,
    entry: String,
}

impl DecisionRow {
    fn into_decision(self, op: &'static str) -> Result<StoredDecision, StoreError> {
        Ok(StoredDecision {
            request_id: self.request_id,
            at: from_unix(op, "decisions.at", self.at)?,
            app: self.app,
            user_id: self.user_id,
            decision: self.decision,
            reason: self.reason,
            entry: serde_json::from_str(&self.entry).map_err(|_| StoreError::Corrupt {
                op,
                column: "decisions.entry",
            })?,
        })
    }
}
