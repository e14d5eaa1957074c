//! Self-service sign-up requests on PostgreSQL (see `Store`'s access-request
//! operations).
//! The SQL is in `store/shared/requests.rs`, shared with the other backend.

use super::{PostgresStore as Backend, from_unix};

/// This dialect's spellings for the shared SQL.
macro_rules! text_param {
    () => {
        "::text"
    };
}

include!("../shared/requests.rs");
