//! The decision log's records in the store (issue 18): what the log's
//! writer appends in batches, and what `explain`, the admin API and
//! `rules diff` read back. The trace itself is JSON
//! (`decision_log::Trace` gives it its shape); the store knows the
//! columns it filters on, and how an allow is stored compactly
//! ([`whole_entry`]).

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
    /// The trace as JSON text: whole for a refusal; for an allow, the
    /// compact form [`whole_entry`] fills back in.
    pub entry: Arc<str>,
}

#[cfg(test)]
impl NewDecision {
    /// The whole trace of this row, as every reader gets it back.
    pub fn whole_entry(&self) -> serde_json::Result<serde_json::Value> {
        Ok(whole_entry(
            serde_json::from_str(&self.entry)?,
            Columns {
                request_id: &self.request_id,
                at: self.at,
                app: &self.app,
                user_id: self.user_id.as_deref(),
                decision: self.decision,
                reason: self.reason,
            },
        ))
    }
}

/// The first element of an allow's compact entry (the layout's version).
pub const COMPACT_ALLOW: u64 = 1;

/// The trace's fields an allow's compact entry holds, by position (the
/// first is [`COMPACT_ALLOW`]).
pub const COMPACT_ALLOW_FIELDS: [&str; 16] = [
    "v",
    "why",
    "host",
    "method",
    "path",
    "user",
    "client_ip",
    "country",
    "locations",
    "platform",
    "client_app",
    "mfa_strength",
    "mfa_asked",
    "signed_in_ago",
    "access_ended",
    "policies",
];
/// The user's fields in a compact allow, by position.
pub const COMPACT_USER_FIELDS: [&str; 4] = ["email", "type", "groups", "assigned"];
/// Each applying policy's fields in a compact allow, by position.
pub const COMPACT_POLICY_FIELDS: [&str; 4] = ["name", "state", "result", "satisfied"];

/// A row's columns, which an allow's compact entry leaves out.
pub(crate) struct Columns<'a> {
    pub request_id: &'a str,
    pub at: OffsetDateTime,
    pub app: &'a str,
    pub user_id: Option<&'a str>,
    pub decision: &'a str,
    pub reason: Option<&'a str>,
}

/// The `why` of a policy that applied and asked for `result`.
pub fn applied_why(result: &str, satisfied: bool) -> String {
    let met = if satisfied { "met" } else { "not met" };
    format!("all conditions match; asks {result} ({met})")
}

/// The whole trace of a stored entry. An allow is stored compactly
/// (issue 18's budget of 2 µs per recorded request): a JSON array of
/// [`COMPACT_ALLOW_FIELDS`] by position, without what its row's columns
/// hold (request id, time, app, user id, decision, reason) and without
/// what every allow's trace says alike (no deciding policy, not a
/// re-check, only the policies that applied, each with the condition
/// `applies`); about a third of the bytes, and no keys to write. This
/// turns it back into the trace's object, so every reader (`explain`, the
/// API, the console, `rules diff`) sees one shape. Any other entry is
/// returned as stored.
pub(crate) fn whole_entry(entry: serde_json::Value, row: Columns<'_>) -> serde_json::Value {
    use serde_json::{Map, Value};
    let items = match entry {
        Value::Array(items) if items.first().and_then(Value::as_u64) == Some(COMPACT_ALLOW) => {
            items
        }
        other => return other,
    };
    // Positions to keys; a missing element reads as null.
    fn object(keys: &[&str], items: Vec<Value>) -> Map<String, Value> {
        let mut items = items.into_iter();
        keys.iter()
            .map(|k| ((*k).to_owned(), items.next().unwrap_or(Value::Null)))
            .collect()
    }
    let mut m = object(&COMPACT_ALLOW_FIELDS, items);
    m.remove("v");
    let time = row
        .at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mfa = m
        .get("mfa_strength")
        .and_then(Value::as_str)
        .is_some_and(|s| s != "none");
    let fill = [
        ("request_id", Value::from(row.request_id)),
        ("time", time.into()),
        ("decision", row.decision.into()),
        ("reason", row.reason.into()),
        ("deciding_policy", Value::Null),
        ("recheck", false.into()),
        ("app", row.app.into()),
        ("mfa", mfa.into()),
        ("policies_complete", false.into()),
    ];
    for (key, value) in fill {
        m.insert(key.into(), value);
    }
    if let Some(user) = m.get_mut("user")
        && let Value::Array(items) = user.take()
    {
        let mut u = object(&COMPACT_USER_FIELDS, items);
        u.insert("id".into(), row.user_id.unwrap_or_default().into());
        *user = Value::Object(u);
    }
    if let Some(Value::Array(policies)) = m.get_mut("policies") {
        for p in policies {
            let Value::Array(items) = p.take() else {
                continue;
            };
            let mut o = object(&COMPACT_POLICY_FIELDS, items);
            let result = o.get("result").and_then(Value::as_str).unwrap_or("none");
            let satisfied = o.get("satisfied").and_then(Value::as_bool) == Some(true);
            let why = applied_why(result, satisfied);
            o.insert("applies".into(), true.into());
            o.insert("condition".into(), "applies".into());
            o.insert("why".into(), why.into());
            *p = Value::Object(o);
        }
    }
    Value::Object(m)
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
