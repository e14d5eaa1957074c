//! Fault injection against the real `portcullis serve` on loopback (issue 8,
//! item 4). Filled in by the following commits.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
