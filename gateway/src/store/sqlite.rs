//! The SQLite backend: one file, WAL, two small pools (writes, request-path reads). Opening and migrating
//! are here; the operations are `sql/`, shared with PostgreSQL, and this
//! file gives them SQLite's spellings (the dialect macros below).

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::error::StoreError;

/// Migrations embedded at build time from `gateway/migrations/sqlite`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for another writer's lock before `SQLITE_BUSY`.
/// Writes are single short statements, so this is only reached under abuse.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite serialises writers anyway; a few connections let reads overlap.
const MAX_CONNECTIONS: u32 = 4;
/// Read-only connections kept apart for the request path's loads (the
/// directory), so they never queue behind writers: a writer waiting up to
/// [`BUSY_TIMEOUT`] for the write lock holds its pooled connection all that
/// time, and four of them would starve a read that must answer within the
/// directory's load timeout.
const MAX_READERS: u32 = 2;
/// Longest wait for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite store. Cheap to clone (the pools are shared).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Read-only connections for the request path (see [`MAX_READERS`]).
    readers: SqlitePool,
}

/// Turns `sqlite://path`, `sqlite:path` or a plain path into a file path.
pub(crate) fn sqlite_path(location: &str) -> PathBuf {
    let rest = location
        .strip_prefix("sqlite://")
        .or_else(|| location.strip_prefix("sqlite:"))
        .unwrap_or(location);
    PathBuf::from(rest)
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and brings its
    /// schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| StoreError::CreateDir {
                    dir: dir.display().to_string(),
                    source,
                })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|source| StoreError::Open {
                location: path.display().to_string(),
                source,
            })?
            .filename(path)
            .create_if_missing(true)
            // WAL: readers never wait for the writer, and the hot path only reads.
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode; only an
            // OS crash can lose the last commits, which is acceptable here.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|source| StoreError::Open {
                location: path.display().to_string(),
                source,
            })?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        // Ordinary connections (a read-only one could not recreate the WAL
        // files after every connection had closed); only reads run on them.
        let readers = SqlitePoolOptions::new()
            .max_connections(MAX_READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                location: path.display().to_string(),
                source,
            })?;
        Ok(SqliteStore { pool, readers })
    }

    /// The pool for the request path's read transactions.
    fn reads(&self) -> &SqlitePool {
        &self.readers
    }

    /// Every pool with its size (tests that exhaust them).
    #[cfg(test)]
    fn pools(&self) -> [(&SqlitePool, u32); 2] {
        [(&self.pool, MAX_CONNECTIONS), (&self.readers, MAX_READERS)]
    }

    /// Checks out every connection of the writing pool only, as writers
    /// waiting for the write lock would (tests that reads go on).
    #[cfg(test)]
    pub(crate) async fn hold_writer_connections(
        &self,
    ) -> Vec<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            held.push(self.pool.acquire().await.expect("acquire"));
        }
        held
    }
}

// ---- the dialect (see `sql/mod.rs`) ----------------------------------------

/// Text compares byte by byte already (the BINARY collation).
macro_rules! byte_order {
    () => {
        ""
    };
}

/// JSON is stored as TEXT.
macro_rules! jsonb {
    () => {
        ""
    };
}

/// JSON is stored as TEXT, so the column is read as it is.
macro_rules! json_text {
    ($column:literal) => {
        $column
    };
}

/// Each policy that applied in the decisions from `$1` (a time) on, at
/// most the newest `$2` (`newest_rows_floor!`, in `sql/decisions.rs`), by
/// its recorded state, with a count: the traces' `policies` lists
/// expanded with `json_each` (the JSON is TEXT; `true` reads as 1). A row
/// of one decision is read as a batch of one. A compact allow is an array
/// (`COMPACT_ALLOW_FIELDS`: its policies at 15, each `[name, state, …]`,
/// all of which applied); in a batch of allows, each is the fifth element
/// of `[request_id, at, app, user_id, allow]`.
macro_rules! policy_counts_sql {
    () => {
        concat!(
            "SELECT COALESCE(json_extract(p.value, '$.name'), json_extract(p.value, '$[0]')) AS policy,
                COALESCE(json_extract(p.value, '$.state'), json_extract(p.value, '$[1]')) AS state,
                COUNT(*) AS n
         FROM decisions,
              json_each(CASE WHEN decisions.first_request_id IS NULL
                             THEN json_array(json(decisions.entry))
                             ELSE decisions.entry END) AS e,
              json_each(e.value,
                        CASE WHEN decisions.first_request_id IS NOT NULL THEN '$[4][15]'
                             WHEN json_type(e.value) = 'array' THEN '$[15]'
                             ELSE '$.policies' END) AS p
         WHERE decisions.id >= COALESCE(
                 (SELECT id FROM decisions WHERE COALESCE(last_at, at) >= $1 ORDER BY id LIMIT 1),
                 9223372036854775807)
           AND decisions.id >= ",
            newest_rows_floor!("$2"),
            "
           AND COALESCE(json_extract(p.value, '$.applies'), 1) = 1
         GROUP BY 1, 2"
        )
    };
}

/// Generated statements with many parameters use anonymous `?` ones:
/// sqlx asks SQLite for each numbered parameter's name, and SQLite finds
/// a name by a linear scan, so a 448-parameter `INSERT` cost ~100k steps.
macro_rules! numbered_params {
    () => {
        false
    };
}

/// Parameters need no type.
macro_rules! text_param {
    () => {
        ""
    };
}

/// A deferred transaction: in WAL mode its first read fixes the snapshot
/// that every later read in it sees, and it never blocks the writer.
macro_rules! begin_snapshot {
    () => {
        "BEGIN"
    };
}

/// The store type `sql/` writes its operations for.
type Backend = SqliteStore;
/// Its sqlx database, for the test helpers in `sql/`.
#[cfg(test)]
type Database = sqlx::Sqlite;

#[expect(
    clippy::duplicate_mod,
    reason = "the operations are compiled once per backend, on purpose (sql/mod.rs)"
)]
#[path = "sql/mod.rs"]
mod sql;
