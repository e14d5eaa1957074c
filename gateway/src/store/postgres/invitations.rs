//! Invitations on PostgreSQL (see `Store`'s invitation operations).
//! The SQL is in `store/shared/invitations.rs`, shared with the other backend.

use super::{PostgresStore as Backend, from_unix};

/// This dialect's spellings for the shared SQL.
macro_rules! byte_order {
    () => {
        " COLLATE \"C\""
    };
}

include!("../shared/invitations.rs");
