//! Invitations on SQLite (see `Store`'s invitation operations).
//! The SQL is in `store/shared/invitations.rs`, shared with the other backend.

use super::{SqliteStore as Backend, from_unix};

/// This dialect's spellings for the shared SQL.
macro_rules! byte_order {
    () => {
        ""
    };
}

include!("../shared/invitations.rs");
