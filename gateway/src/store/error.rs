//! The one error type of the store.

use std::time::Duration;

/// Why a store operation failed.
///
/// Every variant names the operation (`op`, e.g. `"grant_assignment"`) so a log
/// line says what was being done. Messages never carry SQL or bound values: a
/// user's e-mail or a session id does not end up in a log through an error. The
/// driver's error is kept as the `source()` for `{:#}`/`?e` formatting; its text
/// is the database's own message (constraint and column names, no values).
///
/// For callers on the request path every variant means the same thing: the
/// question was not answered, so the request is denied (fail closed).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or created at `location`.
    #[error("store: cannot open the database at {location}")]
    Open {
        location: String,
        #[source]
        source: sqlx::Error,
    },
    /// Creating the database's parent directory failed.
    #[error("store: cannot create the directory {dir}")]
    CreateDir {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    /// The store location names a backend this build does not have.
    #[error("store: {location:?} is not supported: {reason}")]
    Unsupported {
        location: String,
        reason: &'static str,
    },
    /// Applying the embedded schema migrations failed.
    #[error("store: migrating the schema failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The database answered with an error, or the pool is closed.
    #[error("store: {op} failed")]
    Database {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A uniqueness rule was violated: `what` is the thing that already exists
    /// (`"email"`, `"identity"`, `"signing key"`, `"ticket"`, `"session"`, …).
    #[error("store: {op}: that {what} already exists")]
    Conflict {
        op: &'static str,
        what: &'static str,
    },
    /// The row the operation needs does not exist (`what`: `"user"`, `"assignment"`).
    #[error("store: {op}: no such {what}")]
    NotFound {
        op: &'static str,
        what: &'static str,
    },
    /// The request breaks a rule of the directory; `reason` says which and what to do.
    #[error("store: {op}: {reason}")]
    Invalid {
        op: &'static str,
        reason: &'static str,
    },
    /// A value read back from the database is not one the store writes
    /// (an unknown user type, a time out of range, bad JSON).
    #[error("store: {op}: unexpected value in column {column}")]
    Corrupt {
        op: &'static str,
        column: &'static str,
    },
    /// The operation did not finish within its bound (hot-path loads).
    #[error("store: {op} timed out after {}ms", .after.as_millis())]
    Timeout { op: &'static str, after: Duration },
}

impl StoreError {
    /// Wraps a driver error for `op`, turning constraint violations into
    /// [`StoreError::Conflict`] / [`StoreError::NotFound`] so callers can answer
    /// 409 or 404 instead of 500.
    pub(crate) fn db(op: &'static str, source: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &source {
            if db.is_unique_violation() {
                return StoreError::Conflict {
                    op,
                    what: conflict_target(db.constraint().unwrap_or(db.message())),
                };
            }
            if db.is_foreign_key_violation() {
                // Every foreign key of the schema points at a user or a group,
                // and groups are created on demand, so the missing row is a user.
                return StoreError::NotFound { op, what: "user" };
            }
        }
        StoreError::Database { op, source }
    }
}

/// Names the unique rule that `text` (a PostgreSQL constraint name or a SQLite
/// message such as `UNIQUE constraint failed: users.email_lower`) refers to.
fn conflict_target(text: &str) -> &'static str {
    if text.contains("email") {
        "email"
    } else if text.contains("idp") {
        "identity"
    } else if text.contains("signing_keys") || text.contains("kid") {
        "signing key"
    } else if text.contains("tickets") {
        "ticket"
    } else if text.contains("revoked_sessions") {
        "revoked session"
    } else if text.contains("sessions") {
        "session"
    } else if text.contains("users") {
        "user"
    } else {
        "row"
    }
}
