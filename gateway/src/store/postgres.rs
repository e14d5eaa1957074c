//! The PostgreSQL backend: one connection pool per replica, every replica on
//! the same database. Opening and migrating are here; the operations are
//! `sql/`, shared with SQLite, and this file gives them PostgreSQL's
//! spellings (the dialect macros below).

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::error::StoreError;

/// Migrations embedded at build time from `gateway/migrations/postgres`.
/// The migrator holds a PostgreSQL advisory lock while it runs, so replicas
/// starting together apply each migration once.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per replica. Statements are short; this bounds what one
/// replica takes of the server's `max_connections` (default 100).
const MAX_CONNECTIONS: u32 = 8;
/// Longest wait for a free pooled connection, and for a new connection to
/// the server.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL store. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

/// `url` with the password left out, for error messages and logs.
fn redacted(url: &str, options: Option<&PgConnectOptions>) -> String {
    match options {
        Some(o) => format!(
            "postgres://{}@{}:{}/{}",
            o.get_username(),
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("")
        ),
        None => {
            // Unparsable: keep only the scheme, the rest may hold a password.
            let scheme = url.split("://").next().unwrap_or("postgres");
            format!("{scheme}://…")
        }
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`,
    /// with libpq's query parameters such as `sslmode`) and brings its schema
    /// up to date. The database must exist; the tables are created in it.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::Open {
            location: redacted(url, None),
            source,
        })?;
        let location = redacted(url, Some(&options));
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open { location, source })?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(PostgresStore { pool })
    }

    /// The pool for the request path's read transactions: the one pool
    /// (PostgreSQL's readers never wait for writers' locks).
    fn reads(&self) -> &PgPool {
        &self.pool
    }

    /// Every pool with its size (tests that exhaust them).
    #[cfg(test)]
    fn pools(&self) -> [(&PgPool, u32); 1] {
        [(&self.pool, MAX_CONNECTIONS)]
    }
}

// ---- the dialect (see `sql/mod.rs`) ----------------------------------------

/// Byte order, as SQLite's BINARY, whatever locale the database was
/// created with.
macro_rules! byte_order {
    () => {
        " COLLATE \"C\""
    };
}

/// The audit detail is a JSONB column; the text bound for it is cast.
macro_rules! jsonb {
    () => {
        "::jsonb"
    };
}

/// A JSONB column read back as the text the store decodes.
macro_rules! json_text {
    ($column:literal) => {
        concat!($column, "::text AS ", $column)
    };
}

/// Each policy that applied in the decisions from `$1` (a time) on, at
/// most the newest `$2` (`newest_rows_floor!`, in `sql/decisions.rs`), by
/// its recorded state, with a count: the traces' `policies` lists
/// expanded with `jsonb_array_elements`. A row of one decision is read as
/// a batch of one. A compact allow is an array (`COMPACT_ALLOW_FIELDS`:
/// its policies at 15, each `[name, state, …]`, all of which applied); in
/// a batch of allows, each is the fifth element of `[request_id, at, app,
/// user_id, allow]`.
macro_rules! policy_counts_sql {
    () => {
        concat!(
            "SELECT COALESCE(p.value->>'name', p.value->>0) AS policy,
                COALESCE(p.value->>'state', p.value->>1) AS state, COUNT(*) AS n
         FROM decisions,
              jsonb_array_elements(CASE WHEN decisions.first_request_id IS NULL
                                        THEN jsonb_build_array(decisions.entry)
                                        ELSE decisions.entry END) AS e(value),
              jsonb_array_elements(CASE WHEN decisions.first_request_id IS NOT NULL
                                        THEN e.value->4->15
                                        WHEN jsonb_typeof(e.value) = 'array' THEN e.value->15
                                        ELSE e.value->'policies' END) AS p(value)
         WHERE decisions.id >= COALESCE(
                 (SELECT id FROM decisions WHERE COALESCE(last_at, at) >= $1 ORDER BY id LIMIT 1),
                 9223372036854775807)
           AND decisions.id >= ",
            newest_rows_floor!("$2"),
            "
           AND COALESCE(p.value->>'applies', 'true') = 'true'
         GROUP BY 1, 2"
        )
    };
}

/// PostgreSQL numbers its parameters (`$1`, `$2`, …).
macro_rules! numbered_params {
    () => {
        true
    };
}

/// `$N IS NULL` alone does not tell PostgreSQL the parameter's type.
macro_rules! text_param {
    () => {
        "::text"
    };
}

/// One snapshot for the whole transaction: the default `READ COMMITTED`
/// would take a new one for each statement.
macro_rules! begin_snapshot {
    () => {
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    };
}

/// The store type `sql/` writes its operations for.
type Backend = PostgresStore;
/// Its sqlx database, for the test helpers in `sql/`.
#[cfg(test)]
type Database = sqlx::Postgres;

#[expect(
    clippy::duplicate_mod,
    reason = "the operations are compiled once per backend, on purpose (sql/mod.rs)"
)]
#[path = "sql/mod.rs"]
mod sql;
