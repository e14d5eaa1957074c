//! Every store operation, written once for both backends.
//!
//! This module is compiled twice: `sqlite.rs` and `postgres.rs` each load it
//! as their child `sql` (`#[path = "sql/mod.rs"]`), after naming their store
//! type `Backend` and defining the dialect macros below. So each copy is
//! type-checked against that backend's own sqlx types, and every statement
//! stays one static string (sqlx 0.9 takes only `&'static str` SQL without
//! an `AssertSqlSafe`), built with `concat!` where a dialect differs.
//!
//! The dialect macros each backend defines (all expand to string literals):
//! - `byte_order!()`: appended to an `ORDER BY` on text, so lists come out
//!   in byte order on both (SQLite's BINARY; PostgreSQL's `COLLATE "C"`,
//!   whatever locale the database was created with);
//! - `jsonb!()`: appended to a placeholder that carries JSON text into a
//!   JSON column (`::jsonb` on PostgreSQL, nothing on SQLite's TEXT);
//! - `json_text!("column")`: reads a JSON column back as text, under its
//!   own name;
//! - `text_param!()`: appended to a placeholder whose only use is
//!   `$N IS NULL` (PostgreSQL cannot infer its type there);
//! - `begin_snapshot!()`: the `BEGIN` of a read transaction that sees one
//!   snapshot for all its statements.
//!
//! Everything else is the same SQL on both: `$N` placeholders, `INSERT … ON
//! CONFLICT … DO UPDATE` with `excluded`, `UPDATE/DELETE … RETURNING`,
//! `SELECT EXISTS (…)` probes decoded as `bool`, times as unix seconds in
//! 64-bit integers. Constraint violations become typed errors in
//! [`StoreError::db`](crate::store::StoreError), which reads both drivers'
//! error kinds.
//!
//! Atomicity is the same on both: each decision is one statement (the rate
//! limits' is one transaction of such statements, `signin.rs`). On SQLite
//! writers are serialised; on PostgreSQL at `READ COMMITTED` a conditional
//! `UPDATE`/`DELETE` that waited on a concurrent writer re-evaluates its
//! `WHERE` against the row that writer left (so a ticket is taken once,
//! every wrong passcode guess counts, and a TOTP step is accepted once,
//! across replicas).

use time::OffsetDateTime;

use super::Backend;
use crate::store::StoreError;

mod assignments;
mod audit;
mod decisions;
mod invitations;
mod keys;
mod lifecycle;
mod passkeys;
mod recovery;
mod requests;
mod sessions;
mod signin;
mod totp;
mod users;

impl Backend {
    /// Checks out every pooled connection (tests of pool exhaustion).
    #[cfg(test)]
    pub(crate) async fn hold_all_connections(
        &self,
    ) -> Vec<sqlx::pool::PoolConnection<super::Database>> {
        let mut held = Vec::new();
        for (pool, size) in self.pools() {
            for _ in 0..size {
                held.push(pool.acquire().await.expect("acquire"));
            }
        }
        held
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.reads().close().await;
    }

    /// Runs `sql`, one `DELETE … WHERE expires_at <= $1`, with `now`: the
    /// pruning every table of expiring rows shares.
    async fn delete_expired(
        &self,
        op: &'static str,
        sql: &'static str,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(sql)
            .bind(now.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::db(op, e))?;
        Ok(done.rows_affected())
    }
}

/// `Ok` when a conditional insert or update wrote its row; otherwise the
/// row it would have replaced (`what`) was there first.
fn wrote_row(rows_affected: u64, op: &'static str, what: &'static str) -> Result<(), StoreError> {
    if rows_affected == 0 {
        return Err(StoreError::Conflict { op, what });
    }
    Ok(())
}

/// A unix time read from `column`; [`StoreError::Corrupt`] when out of range.
fn from_unix(op: &'static str, column: &'static str, t: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(t).map_err(|_| StoreError::Corrupt { op, column })
}
