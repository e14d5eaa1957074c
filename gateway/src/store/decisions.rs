//! The decision log's records in the store (issue 18): what the log's
//! writer appends in batches, and what `explain`, the admin API and
//! `rules diff` read back. The trace itself is JSON the store keeps
//! whole (`decision_log::Trace` gives it its shape); the store knows only
//! the columns it filters on.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{Store, StoreError};

/// One decision to record. The texts are `Arc<str>`: SQLite's driver
/// takes a shared text as its argument as it is, where it would copy a
/// borrowed one into a new `String` (issue 21).
#[derive(Clone, Debug)]
pub struct NewDecision {
    /// 32 hex digits (the `X-Request-Id` of the answer).
    pub request_id: Arc<str>,
    pub at: OffsetDateTime,
    pub app: Arc<str>,
    /// The user's stable id; `None` when not signed in.
    pub user_id: Option<Arc<str>>,
    /// `allow`, `block`, `mfa` or `sign_in`.
    pub decision: &'static str,
    /// The refusal's reason (DESIGN.md's closed set); `None` for an allow.
    pub reason: Option<&'static str>,
    /// The whole trace, as JSON text.
    pub entry: Arc<str>,
}

/// One recorded decision.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDecision {
    /// The row's key: appends number rows in the order decisions are made,
    /// so a page of a list ends where the next begins (`before`).
    pub id: i64,
    pub request_id: String,
    pub at: OffsetDateTime,
    pub app: String,
    pub user_id: Option<String>,
    pub decision: String,
    pub reason: Option<String>,
    pub entry: serde_json::Value,
}

/// Which recorded decisions to list, newest first.
#[derive(Clone, Debug)]
pub struct DecisionQuery {
    pub user: Option<String>,
    pub app: Option<String>,
    pub decision: Option<String>,
    pub reason: Option<String>,
    /// From this time on (inclusive).
    pub since: Option<OffsetDateTime>,
    /// Before this time (exclusive).
    pub until: Option<OffsetDateTime>,
    /// Only rows with a smaller id (the last id of the previous page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// How often one policy applied over a time range, by the state it had
/// when it did (`enabled`: enforced; `report_only`: counted only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyCount {
    pub policy: String,
    pub state: String,
    pub applied: u64,
}

impl Default for DecisionQuery {
    /// Everything, newest 100 first.
    fn default() -> Self {
        DecisionQuery {
            user: None,
            app: None,
            decision: None,
            reason: None,
            since: None,
            until: None,
            before_id: None,
            limit: 100,
        }
    }
}

/// Calls the same operation on whichever backend `$store` is.
macro_rules! on_backend {
    ($store:expr, $b:ident => $call:expr) => {
        match $store {
            Store::Sqlite($b) => $call,
            Store::Postgres($b) => $call,
        }
    };
}

impl Store {
    /// Appends a batch in one transaction; returns how many were new (an id
    /// seen before is skipped).
    pub async fn append_decisions(&self, batch: &[NewDecision]) -> Result<u64, StoreError> {
        on_backend!(self, b => b.append_decisions(batch).await)
    }

    /// The decision recorded under `request_id`, if any.
    pub async fn get_decision(
        &self,
        request_id: &str,
    ) -> Result<Option<StoredDecision>, StoreError> {
        on_backend!(self, b => b.get_decision(request_id).await)
    }

    /// Recorded decisions matching `q`, newest first (in the order they
    /// were appended), at most `q.limit`.
    pub async fn list_decisions(
        &self,
        q: &DecisionQuery,
    ) -> Result<Vec<StoredDecision>, StoreError> {
        on_backend!(self, b => b.list_decisions(q).await)
    }

    /// How often each policy applied in the decisions recorded since
    /// `since` (allows as sampled), by the state it had: one aggregate
    /// query over at most the newest `max_rows` decisions (the cost grows
    /// with the rows read: about 18 µs a decision of three applying
    /// policies on SQLite). Policies that never applied are not listed.
    pub async fn policy_counts(
        &self,
        since: OffsetDateTime,
        max_rows: u32,
    ) -> Result<Vec<PolicyCount>, StoreError> {
        on_backend!(self, b => b.policy_counts(since, max_rows).await)
    }

    /// Deletes entries from before `before`, then the oldest beyond
    /// `max_entries` (0: no count bound); returns how many went.
    pub async fn prune_decisions(
        &self,
        before: OffsetDateTime,
        max_entries: u64,
    ) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_decisions(before, max_entries).await)
    }
}
