//! The guest lifecycle on SQLite (see `Store`'s lifecycle operations): the
//! conditional UPDATEs that claim a reminder or an expiry exactly once, and
//! the deletion of guests blocked long enough.
//! The SQL is in `store/shared/lifecycle.rs`, shared with the other backend.

use super::{SqliteStore as Backend, UserRow, from_unix};

/// This dialect's spellings for the shared SQL.
macro_rules! jsonb {
    () => {
        ""
    };
}

include!("../shared/lifecycle.rs");
