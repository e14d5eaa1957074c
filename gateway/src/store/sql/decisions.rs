//! The decision log's table: appended in batches by the log's writer,
//! read by `explain`, the admin API and `rules diff`, pruned by age and
//! count. A row is one decision, or the allows of one batch
//! (`AllowBatch`: `first_request_id` set, `entry` an array of them).

use sqlx::FromRow;

use super::{Backend, from_unix};

use std::sync::{Arc, OnceLock};

use crate::store::StoreError;
use crate::store::decisions::{
    AllowBatch, BatchItem, Columns, DecisionQuery, ENTRY_ID_STRIDE, NewDecision, PolicyCount,
    StoredDecision, whole_entry,
};

/// The columns a `DecisionRow` reads, and the table.
macro_rules! select_decisions {
    () => {
        concat!(
            "SELECT id, request_id, first_request_id, at, app, user_id, decision, reason, ",
            json_text!("entry"),
            " FROM decisions"
        )
    };
}

/// The least row id among the rows that hold the newest `$N` decisions
/// (0 when there are none): rows newest first, counted by the decisions
/// each holds, up to the one that reaches `$N`. Only the newest `$N` rows
/// are read, as each holds at least one.
macro_rules! newest_rows_floor {
    ($n:literal) => {
        concat!(
            "(SELECT COALESCE(MIN(id), 0) FROM
               (SELECT id, entries, SUM(entries) OVER (ORDER BY id DESC) AS total
                FROM (SELECT id, entries FROM decisions ORDER BY id DESC LIMIT ",
            $n,
            ") AS newest) AS counted
              WHERE total - entries < ",
            $n,
            ")"
        )
    };
}

/// How far past a request id's own time `get_decision` looks for the batch
/// that holds it: a batch's greatest id is an allow decided after it, in
/// the same flush (100 ms, or the seconds a slow store keeps the queue
/// waiting). An hour is far beyond that, and bounds the search for an id
/// that is not there.
const BATCH_SEARCH_MS: u64 = 3_600_000;

/// The greatest request id a batch holding `request_id` can have, if
/// `request_id` is a time-ordered one (12 hex digits of milliseconds, 20
/// random: `decision_log::new_request_id`).
fn batch_search_end(request_id: &str) -> Option<String> {
    if request_id.len() != 32 || !request_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let ms = u64::from_str_radix(request_id.get(..12)?, 16).ok()?;
    let end = ms.saturating_add(BATCH_SEARCH_MS).min(0xffff_ffff_ffff);
    Some(format!("{end:012x}{:f<20}", ""))
}

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
    pub async fn append_decisions(
        &self,
        batch: &[NewDecision],
        allows: &AllowBatch,
    ) -> Result<u64, StoreError> {
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
        // The allows: one row, whatever their number.
        if let Some((json, first, last, first_at, last_at, n)) = allows.row() {
            let new = sqlx::query(concat!(
                "INSERT INTO decisions
                   (request_id, first_request_id, at, last_at, app, decision, entry, entries)
                 VALUES ($1, $2, $3, $4, '', 'allow', $5",
                jsonb!(),
                ", $6) ON CONFLICT (request_id) DO NOTHING"
            ))
            .bind(last)
            .bind(first)
            .bind(first_at)
            .bind(last_at)
            .bind(json)
            .bind(n)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(OP, e))?
            .rows_affected();
            if new > 0 {
                written += u64::try_from(n).unwrap_or(0);
            }
        }
        tx.commit().await.map_err(|e| StoreError::db(OP, e))?;
        Ok(written)
    }

    /// The decision recorded under `request_id`: a row of its own, or an
    /// allow in a batch. A batch is found by its range of request ids,
    /// which are time-ordered: the batches whose greatest id is at or
    /// after `request_id` (within [`BATCH_SEARCH_MS`]) and whose least is
    /// at or before it; usually one.
    pub async fn get_decision(
        &self,
        request_id: &str,
    ) -> Result<Option<StoredDecision>, StoreError> {
        const OP: &str = "get_decision";
        // Its own row, or the batch whose greatest id it is.
        let row: Option<DecisionRow> =
            sqlx::query_as(concat!(select_decisions!(), " WHERE request_id = $1"))
                .bind(request_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| StoreError::db(OP, e))?;
        if let Some(row) = row {
            return row.find(request_id, OP);
        }
        let Some(end) = batch_search_end(request_id) else {
            return Ok(None);
        };
        // The batches around it, a page at a time in the order of their
        // greatest id.
        const PAGE: i64 = 16;
        let mut after = request_id.to_owned();
        loop {
            let rows: Vec<DecisionRow> = sqlx::query_as(concat!(
                select_decisions!(),
                " WHERE request_id > $1 AND request_id <= $2 AND first_request_id <= $3
                 ORDER BY request_id LIMIT $4"
            ))
            .bind(&after)
            .bind(&end)
            .bind(request_id)
            .bind(PAGE)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
            let full = rows.len() as i64 == PAGE;
            for row in rows {
                after.clone_from(&row.request_id);
                if let Some(found) = row.find(request_id, OP)? {
                    return Ok(Some(found));
                }
            }
            if !full {
                return Ok(None);
            }
        }
    }

    pub async fn list_decisions(
        &self,
        q: &DecisionQuery,
    ) -> Result<Vec<StoredDecision>, StoreError> {
        const OP: &str = "list_decisions";
        let want = q.limit as usize;
        let mut out = Vec::with_capacity(want.min(1000));
        if want == 0 {
            return Ok(out);
        }
        // The row the previous page ended in, and the place in it.
        let (cut_row, cut_place) = match q.before_id {
            Some(b) => (b.div_euclid(ENTRY_ID_STRIDE), b.rem_euclid(ENTRY_ID_STRIDE)),
            None => (i64::MAX, ENTRY_ID_STRIDE),
        };
        let mut up_to_row = cut_row;
        // Rows newest first. The filters on user and app are the SQL's for
        // a row of one decision, and `matches`'s for each allow of a batch.
        loop {
            let rows: Vec<DecisionRow> = sqlx::query_as(concat!(
                select_decisions!(),
                " WHERE (first_request_id IS NOT NULL
                        OR (($1",
                text_param!(),
                " IS NULL OR user_id = $1) AND ($2",
                text_param!(),
                " IS NULL OR app = $2)))
                   AND ($3",
                text_param!(),
                " IS NULL OR decision = $3)
                   AND ($4",
                text_param!(),
                " IS NULL OR reason = $4)
                   AND COALESCE(last_at, at) >= $5 AND at < $6 AND id <= $8
                 ORDER BY id DESC LIMIT $7"
            ))
            .bind(q.user.as_deref())
            .bind(q.app.as_deref())
            .bind(q.decision.as_deref())
            .bind(q.reason.as_deref())
            .bind(q.since.map_or(i64::MIN, |t| t.unix_timestamp()))
            .bind(q.until.map_or(i64::MAX, |t| t.unix_timestamp()))
            .bind(i64::from(q.limit))
            .bind(up_to_row)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
            let full = rows.len() == want;
            let mut last_row = up_to_row;
            for row in rows {
                last_row = row.id;
                let kept = row.into_decisions(OP, |d| {
                    q.matches(d)
                        && (last_row != cut_row || d.id.rem_euclid(ENTRY_ID_STRIDE) < cut_place)
                })?;
                for d in kept.into_iter().rev() {
                    out.push(d);
                    if out.len() == want {
                        return Ok(out);
                    }
                }
            }
            if !full || last_row <= 0 {
                return Ok(out);
            }
            up_to_row = last_row - 1;
        }
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
        // orders them by time: the oldest row that stays is the first at
        // or after `before` (found by walking the ids up from the oldest,
        // over exactly the rows that go), or, if younger, the oldest that
        // holds one of the `max_entries` newest decisions. Only the
        // table's own key and `request_id` are indexed, which keeps an
        // append to two B-tree inserts.
        let mut tx = self.pool.begin().await.map_err(|e| StoreError::db(OP, e))?;
        let by_age: i64 = sqlx::query_scalar(
            "SELECT COALESCE(
                 (SELECT id FROM decisions WHERE at >= $1 ORDER BY id LIMIT 1),
                 9223372036854775807)",
        )
        .bind(before.unix_timestamp())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        let by_count: i64 = if max_entries == 0 {
            0
        } else {
            sqlx::query_scalar(concat!("SELECT ", newest_rows_floor!("$1")))
                .bind(i64::try_from(max_entries).unwrap_or(i64::MAX))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| StoreError::db(OP, e))?
        };
        let floor = by_age.max(by_count);
        let pruned: Option<i64> =
            sqlx::query_scalar("SELECT SUM(entries) FROM decisions WHERE id < $1")
                .bind(floor)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| StoreError::db(OP, e))?;
        sqlx::query("DELETE FROM decisions WHERE id < $1")
            .bind(floor)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(OP, e))?;
        tx.commit().await.map_err(|e| StoreError::db(OP, e))?;
        Ok(pruned.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }
}

#[derive(FromRow)]
struct DecisionRow {
    id: i64,
    request_id: String,
    /// Set on a batch of allows.
    first_request_id: Option<String>,
    at: i64,
    app: String,
    user_id: Option<String>,
    decision: String,
    reason: Option<String>,
    entry: String,
}

impl DecisionRow {
    /// The decisions the row holds that `keep` (seeing each with its entry
    /// as stored) wants, in the order they were appended, their entries
    /// made whole. A row of one decision is read as a batch of one; only
    /// what is kept is expanded.
    fn into_decisions(
        self,
        op: &'static str,
        mut keep: impl FnMut(&StoredDecision) -> bool,
    ) -> Result<Vec<StoredDecision>, StoreError> {
        let corrupt = || StoreError::Corrupt {
            op,
            column: "decisions.entry",
        };
        // Where a decision's time is: its row's column, or a batch's entry.
        let at_column = match self.first_request_id {
            None => "decisions.at",
            Some(_) => "decisions.entry",
        };
        let items: Vec<BatchItem> = match self.first_request_id {
            None => vec![(
                self.request_id,
                self.at,
                self.app,
                self.user_id,
                serde_json::from_str(&self.entry).map_err(|_| corrupt())?,
            )],
            Some(_) => serde_json::from_str(&self.entry).map_err(|_| corrupt())?,
        };
        if items.len() > AllowBatch::MAX {
            return Err(corrupt());
        }
        let base = self.id.saturating_mul(ENTRY_ID_STRIDE);
        let mut out = Vec::new();
        for (place, (request_id, at, app, user_id, stored)) in items.into_iter().enumerate() {
            let mut d = StoredDecision {
                id: base + place as i64,
                request_id,
                at: from_unix(op, at_column, at)?,
                app,
                user_id,
                decision: self.decision.clone(),
                // A batch's column is null: allows have no reason.
                reason: self.reason.clone(),
                entry: stored,
            };
            if !keep(&d) {
                continue;
            }
            d.entry = whole_entry(
                std::mem::take(&mut d.entry),
                Columns {
                    request_id: &d.request_id,
                    at: d.at,
                    app: &d.app,
                    user_id: d.user_id.as_deref(),
                    decision: &d.decision,
                    reason: d.reason.as_deref(),
                },
            );
            out.push(d);
        }
        Ok(out)
    }

    /// The decision under `request_id` in this row, if it holds it.
    fn find(
        self,
        request_id: &str,
        op: &'static str,
    ) -> Result<Option<StoredDecision>, StoreError> {
        Ok(self
            .into_decisions(op, |d| d.request_id == request_id)?
            .pop())
    }
}
