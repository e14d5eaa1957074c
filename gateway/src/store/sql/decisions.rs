//! The decision log's table: appended in batches by the log's writer,
//! read by `explain`, the admin API and `rules diff`, pruned by age and
//! count.

use sqlx::FromRow;

use super::{Backend, from_unix};

use std::sync::{Arc, OnceLock};

use crate::store::StoreError;
use crate::store::decisions::{
    Columns, DecisionQuery, NewDecision, PolicyCount, StoredDecision, whole_entry,
};

/// Rows in one `INSERT` at most (7 parameters each: far below both
/// databases' limits on parameters per statement).
const INSERT_ROWS: usize = 64;

/// The multi-row `INSERT` for `rows` rows (a power of two up to
/// [`INSERT_ROWS`]). The seven texts are written once per process rather
/// than for every batch: the statement cache finds them by their text.
fn insert_text(rows: usize) -> &'static str {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    let texts = TEXTS.get_or_init(|| {
        (0..=INSERT_ROWS.ilog2())
            .map(|k| {
                let mut sql = String::from(
                    "INSERT INTO decisions (request_id, at, app, user_id, decision, reason, entry) VALUES ",
                );
                for row in 0..1usize << k {
                    let p = row * 7;
                    if row > 0 {
                        sql.push_str(", ");
                    }
                    if numbered_params!() {
                        sql.push_str(&format!(
                            "(${}, ${}, ${}, ${}, ${}, ${}, ${}{})",
                            p + 1,
                            p + 2,
                            p + 3,
                            p + 4,
                            p + 5,
                            p + 6,
                            p + 7,
                            jsonb!()
                        ));
                    } else {
                        sql.push_str(concat!("(?, ?, ?, ?, ?, ?, ?", jsonb!(), ")"));
                    }
                }
                sql.push_str(" ON CONFLICT (request_id) DO NOTHING");
                sql
            })
            .collect()
    });
    texts.get(rows.ilog2() as usize).map_or("", String::as_str)
}

impl Backend {
    pub async fn append_decisions(&self, batch: &[NewDecision]) -> Result<u64, StoreError> {
        const OP: &str = "append_decisions";
        // One transaction per batch: one commit (one fsync on SQLite)
        // instead of one per entry; and a few multi-row `INSERT`s rather
        // than one statement per row. The chunks are powers of two, so at
        // most seven statement texts are ever prepared (and cached).
        let mut tx = self.pool.begin().await.map_err(|e| StoreError::db(OP, e))?;
        let mut written = 0;
        let mut rest = batch;
        while !rest.is_empty() {
            let n = if rest.len() >= INSERT_ROWS {
                INSERT_ROWS
            } else {
                1 << rest.len().ilog2()
            };
            let (chunk, after) = rest.split_at(n);
            rest = after;
            // The texts are shared `Arc`s: SQLite's arguments take them
            // as they are instead of copying each into a new `String`.
            let mut q = sqlx::query(insert_text(n));
            for d in chunk {
                q = q
                    .bind(Arc::clone(&d.request_id))
                    .bind(d.at.unix_timestamp())
                    .bind(Arc::clone(&d.app))
                    .bind(d.user_id.clone())
                    .bind(d.decision)
                    .bind(d.reason)
                    .bind(Arc::clone(&d.entry));
            }
            written += q
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
            "SELECT id, request_id, at, app, user_id, decision, reason, ",
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
            "SELECT id, request_id, at, app, user_id, decision, reason, ",
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
               AND at >= $5 AND at < $6 AND id < $8
             ORDER BY id DESC LIMIT $7"
        ))
        .bind(q.user.as_deref())
        .bind(q.app.as_deref())
        .bind(q.decision.as_deref())
        .bind(q.reason.as_deref())
        .bind(q.since.map_or(i64::MIN, |t| t.unix_timestamp()))
        .bind(q.until.map_or(i64::MAX, |t| t.unix_timestamp()))
        .bind(i64::from(q.limit))
        .bind(q.before_id.unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_decision(OP)).collect()
    }

    /// How often each policy applied in the decisions recorded since
    /// `since` (at most the newest `max_rows`), by its state then: one
    /// aggregate over the traces' policy lists. The rows are found by id
    /// (appended in time order), as pruning finds them, not by an index on
    /// the time.
    pub async fn policy_counts(
        &self,
        since: time::OffsetDateTime,
        max_rows: u32,
    ) -> Result<Vec<PolicyCount>, StoreError> {
        const OP: &str = "policy_counts";
        let rows: Vec<(Option<String>, Option<String>, i64)> = sqlx::query_as(policy_counts_sql!())
            .bind(since.unix_timestamp())
            .bind(i64::from(max_rows))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(policy, state, n)| {
                Some(PolicyCount {
                    policy: policy?,
                    state: state?,
                    applied: u64::try_from(n).unwrap_or(0),
                })
            })
            .collect())
    }

    pub async fn prune_decisions(
        &self,
        before: time::OffsetDateTime,
        max_entries: u64,
    ) -> Result<u64, StoreError> {
        const OP: &str = "prune_decisions";
        // Rows are appended in the order decisions are made, so `id`
        // orders them by time: the oldest that stays is the first at or
        // after `before` (found by walking the ids up from the oldest,
        // over exactly the rows that go), then the `max_entries`-th newest.
        // Only the table's own key and `request_id` are indexed, which
        // keeps an append to two B-tree inserts.
        let mut pruned = sqlx::query(
            "DELETE FROM decisions WHERE id < COALESCE(
                 (SELECT id FROM decisions WHERE at >= $1 ORDER BY id LIMIT 1),
                 9223372036854775807)",
        )
        .bind(before.unix_timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?
        .rows_affected();
        if max_entries == 0 {
            return Ok(pruned);
        }
        let cutoff: Option<i64> =
            sqlx::query_scalar("SELECT id FROM decisions ORDER BY id DESC LIMIT 1 OFFSET $1")
                .bind(i64::try_from(max_entries - 1).unwrap_or(i64::MAX))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| StoreError::db(OP, e))?;
        if let Some(cutoff) = cutoff {
            pruned += sqlx::query("DELETE FROM decisions WHERE id < $1")
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
    id: i64,
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
        let at = from_unix(op, "decisions.at", self.at)?;
        let stored = serde_json::from_str(&self.entry).map_err(|_| StoreError::Corrupt {
            op,
            column: "decisions.entry",
        })?;
        let entry = whole_entry(
            stored,
            Columns {
                request_id: &self.request_id,
                at,
                app: &self.app,
                user_id: self.user_id.as_deref(),
                decision: &self.decision,
                reason: self.reason.as_deref(),
            },
        );
        Ok(StoredDecision {
            id: self.id,
            request_id: self.request_id,
            at,
            app: self.app,
            user_id: self.user_id,
            decision: self.decision,
            reason: self.reason,
            entry,
        })
    }
}
