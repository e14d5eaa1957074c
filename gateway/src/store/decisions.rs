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

/// How a recorded decision's public id ([`StoredDecision::id`]) is made
/// from its row: `row id × ENTRY_ID_STRIDE + its place in the row`. A row
/// of one decision is place 0; a batch of allows ([`AllowBatch`]) holds
/// at most this many. Ids so made keep the order entries were appended
/// in, across single rows and batches, so a page of a list ends where the
/// next begins.
pub const ENTRY_ID_STRIDE: i64 = 1024;

/// The allows of one flush of the log's writer, stored as one row (issue
/// 18's budget of 2 µs per recorded request: a row each cost ~7k
/// instructions in SQLite alone, and binding its seven values ~4k more).
/// The row's `entry` is a JSON array of `[request_id, at, app, user_id,
/// compact allow]` ([`whole_entry`] reads the last); its `request_id` is
/// the greatest id it holds and `first_request_id` the least, which is how
/// `get_decision` finds an allow by its (time-ordered) request id.
///
/// The JSON is written as the allows come, into one buffer kept from
/// batch to batch: no allocation per allow.
#[derive(Debug, Default)]
pub struct AllowBatch {
    /// Always a closed JSON array (`[]`-less only while empty).
    json: Vec<u8>,
    first_request_id: String,
    last_request_id: String,
    first_at: i64,
    last_at: i64,
    len: usize,
}

impl AllowBatch {
    /// Allows one batch holds at most.
    pub const MAX: usize = ENTRY_ID_STRIDE as usize;

    /// Appends one allow: its columns and its compact entry (see
    /// [`COMPACT_ALLOW_FIELDS`]). `false` (and nothing appended) when the
    /// batch is full or the entry does not serialise.
    pub fn push(
        &mut self,
        request_id: &str,
        at: i64,
        app: &str,
        user_id: Option<&str>,
        compact: &impl serde::Serialize,
    ) -> bool {
        if self.len >= Self::MAX {
            return false;
        }
        let before = self.json.len();
        match self.json.pop() {
            Some(b']') => self.json.push(b','),
            _ => self.json.push(b'['),
        }
        if serde_json::to_writer(&mut self.json, &(request_id, at, app, user_id, compact)).is_err()
        {
            self.json.truncate(before.saturating_sub(1));
            if before > 0 {
                self.json.push(b']');
            }
            return false;
        }
        self.json.push(b']');
        let first = self.len == 0;
        if first || request_id < self.first_request_id.as_str() {
            self.first_request_id.clear();
            self.first_request_id.push_str(request_id);
        }
        if first || request_id > self.last_request_id.as_str() {
            self.last_request_id.clear();
            self.last_request_id.push_str(request_id);
        }
        if first || at < self.first_at {
            self.first_at = at;
        }
        if first || at > self.last_at {
            self.last_at = at;
        }
        self.len += 1;
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the batch, keeping its buffer.
    pub fn clear(&mut self) {
        self.json.clear();
        self.len = 0;
    }

    /// The row's values: entry JSON, least and greatest request id, first
    /// and last time, count. `None` when empty.
    pub(crate) fn row(&self) -> Option<(&str, &str, &str, i64, i64, i64)> {
        if self.len == 0 {
            return None;
        }
        let json = std::str::from_utf8(&self.json).ok()?;
        Some((
            json,
            &self.first_request_id,
            &self.last_request_id,
            self.first_at,
            self.last_at,
            self.len as i64,
        ))
    }
}

#[cfg(test)]
impl AllowBatch {
    /// The stored JSON.
    pub fn json(&self) -> &str {
        std::str::from_utf8(&self.json).unwrap_or_default()
    }

    /// Each allow's whole trace, as every reader gets it back.
    pub fn whole_entries(&self) -> serde_json::Result<Vec<serde_json::Value>> {
        let items: Vec<BatchItem> = serde_json::from_slice(&self.json)?;
        Ok(items
            .into_iter()
            .map(|(request_id, at, app, user_id, compact)| {
                whole_entry(
                    compact,
                    Columns {
                        request_id: &request_id,
                        at: OffsetDateTime::from_unix_timestamp(at)
                            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                        app: &app,
                        user_id: user_id.as_deref(),
                        decision: "allow",
                        reason: None,
                    },
                )
            })
            .collect())
    }
}

/// One allow of a batch row, as stored: `[request_id, at, app, user_id,
/// compact allow]`.
pub(crate) type BatchItem = (String, i64, String, Option<String>, serde_json::Value);

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
    /// In the order decisions were appended (see [`ENTRY_ID_STRIDE`]), so a
    /// page of a list ends where the next begins (`before`).
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
    /// Only decisions with a smaller id (the last id of the previous page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

impl DecisionQuery {
    /// Whether `d` is one this query lists (its filters; not the paging).
    /// The SQL applies them to rows of one decision; a batch of allows is
    /// filtered here, decision by decision.
    pub(crate) fn matches(&self, d: &StoredDecision) -> bool {
        fn same(want: &Option<String>, have: Option<&str>) -> bool {
            want.as_deref().is_none_or(|w| have == Some(w))
        }
        same(&self.user, d.user_id.as_deref())
            && same(&self.app, Some(&d.app))
            && same(&self.decision, Some(&d.decision))
            && same(&self.reason, d.reason.as_deref())
            // In whole seconds, as the SQL compares them.
            && self
                .since
                .is_none_or(|t| d.at.unix_timestamp() >= t.unix_timestamp())
            && self
                .until
                .is_none_or(|t| d.at.unix_timestamp() < t.unix_timestamp())
    }
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
    /// Appends a batch in one transaction: each of `rows` as a row, and
    /// `allows` (if not empty) as one row. Returns how many decisions were
    /// new (a request id seen before is skipped).
    pub async fn append_decisions(
        &self,
        rows: &[NewDecision],
        allows: &AllowBatch,
    ) -> Result<u64, StoreError> {
        on_backend!(self, b => b.append_decisions(rows, allows).await)
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
    /// query over the newest `max_rows` decisions (and the rest of the
    /// batch of allows the oldest of them is in; the cost grows
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
    /// `max_entries` (0: no count bound); returns how many went. A batch of
    /// allows goes or stays whole: it goes when its first time is before
    /// `before`, and stays when any of its allows is among the newest
    /// `max_entries`.
    pub async fn prune_decisions(
        &self,
        before: OffsetDateTime,
        max_entries: u64,
    ) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_decisions(before, max_entries).await)
    }
}
