//! The recorded trace of one decision: built by the writer from a
//! [`Pending`] entry (off the request path), stored as JSON, and read back
//! by `explain`, the admin API and `rules diff`.
//!
//! `policies` lists, for a refusal, every policy of the rule set except
//! those not for the request's app (`rules::explain` against the very
//! rules that decided, each with the condition that decided it); for an
//! allow, the policies that applied, as the request's own evaluation
//! traced them (`policies_complete: false`), so a sampled allow costs no
//! second evaluation.

use super::entry::{Applied, Early, Pending};
use crate::refusal::Reason;
use crate::store::decisions::{
    AllowBatch, COMPACT_ALLOW, COMPACT_ALLOW_FIELDS, NewDecision, applied_why,
};
use rules::{Decision, Request, User, Why};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One decision's trace (the `explain --json` object).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub request_id: String,
    /// RFC 3339, UTC, whole seconds.
    pub time: String,
    /// `allow`, `block`, `mfa` or `sign_in`.
    pub decision: String,
    /// The refusal's reason (DESIGN.md's closed set); `null` for an allow.
    pub reason: Option<String>,
    /// How the rules (or the directory before them) got there: a
    /// `rules::Why` name, `account_blocked`, `unknown_user` or `bad_token`.
    pub why: String,
    /// The policy that blocked, if one did.
    pub deciding_policy: Option<String>,
    /// A re-check of an open connection (WebSocket, event stream).
    pub recheck: bool,
    pub app: String,
    pub host: String,
    pub method: String,
    /// Normalised, without the query string.
    pub path: String,
    /// `null` when not signed in.
    pub user: Option<TraceUser>,
    pub client_ip: String,
    pub country: String,
    /// The named locations the address is in.
    pub locations: Vec<String>,
    pub platform: String,
    pub client_app: String,
    pub mfa: bool,
    /// The strength of the session's MFA: `none`, `mfa` or
    /// `phishing_resistant` (absent in traces written before issue 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_strength: Option<String>,
    /// The strength the applying policies asked for (`none` when none
    /// asked for MFA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_asked: Option<String>,
    /// Seconds since the user signed in.
    pub signed_in_ago: Option<u64>,
    /// The end of the user's assignment to the app, when it has ended.
    pub access_ended: Option<String>,
    /// `false`: only the policies that applied are listed (an allow).
    pub policies_complete: bool,
    pub policies: Vec<TracePolicy>,
}

/// The user a decision was made for, with the directory facts it used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceUser {
    pub id: String,
    pub email: String,
    #[serde(rename = "type")]
    pub user_type: String,
    pub groups: Vec<String>,
    /// A live assignment to the app.
    pub assigned: bool,
}

/// One policy's part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TracePolicy {
    pub name: String,
    /// `enabled`, `report_only` or `disabled`.
    pub state: String,
    pub applies: bool,
    /// What it asks when it applies (`block`, `mfa`, `sign_in_frequency`,
    /// `none`); for a report-only policy, what it would have asked.
    pub result: String,
    /// Whether the request meets what it asks (applying policies).
    pub satisfied: Option<bool>,
    /// The condition that decided it (`applies`, `location_not_included`…).
    pub condition: String,
    /// That condition in words.
    pub why: String,
}

/// The refusal's reason from DESIGN.md's closed set, never a policy name.
/// `access_ended`: the user's assignment to the app has ended (rather than
/// never been made). The one computation of it: the proxy's answers and
/// the access log call this too (`proxy::decide`).
pub(crate) fn reason_of(
    decision: Decision,
    early: Early,
    why: Option<Why>,
    access_ended: bool,
    blocked_by: Option<&rules::Policy>,
) -> Option<Reason> {
    Some(match (decision, early) {
        (Decision::Allow, _) => return None,
        (_, Early::AccountBlocked) => Reason::AccountBlocked,
        (Decision::SignIn, _) => Reason::SignInRequired,
        (Decision::Mfa, _) if why == Some(Why::StrongerMfaRequired) => Reason::StrongerMfaRequired,
        (Decision::Mfa, _) => Reason::MfaRequired,
        (Decision::Block, _) => match (why, blocked_by) {
            (Some(Why::NotAssigned), _) if access_ended => Reason::AccessEnded,
            (Some(Why::NotAssigned), _) => Reason::NotShared,
            (_, Some(policy)) if policy.has_location_condition() => Reason::Location,
            (_, Some(policy)) if policy.has_platform_condition() => Reason::DevicePlatform,
            _ => Reason::PolicyBlock,
        },
    })
}

fn reason(p: &Pending, blocked_by: Option<&rules::Policy>) -> Option<&'static str> {
    reason_of(
        p.decision,
        p.early,
        p.why,
        p.access_ended.is_some(),
        blocked_by,
    )
    .map(Reason::as_str)
}

/// A Unix time as RFC 3339, UTC, whole seconds (`2026-12-07T14:40:00Z`),
/// written straight into the JSON (no `String` per time); empty when out of
/// RFC 3339's range, as `time`'s formatter refuses it.
#[derive(Clone, Copy)]
struct Rfc3339Secs(i64);

impl std::fmt::Display for Rfc3339Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Ok(t) = OffsetDateTime::from_unix_timestamp(self.0) else {
            return Ok(());
        };
        if !(0..=9999).contains(&t.year()) {
            return Ok(());
        }
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

/// Serialised as its `Display` text, without an intermediate `String`.
struct Shown<T>(T);

/// A client address as JSON text. An IPv4 address (nearly all of them) is
/// written digit by digit: through `Display` and serde's `collect_str` it
/// cost ~1.3k instructions per recorded request, a tenth of the log's
/// budget. IPv6 goes through `Display`.
struct IpText(std::net::IpAddr);

impl Serialize for IpText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v4 = match self.0 {
            std::net::IpAddr::V4(v4) => v4,
            std::net::IpAddr::V6(v6) => return s.collect_str(&v6),
        };
        let mut text = [0u8; 15];
        let mut n = 0;
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                text[n] = b'.';
                n += 1;
            }
            if octet >= 100 {
                text[n] = b'0' + octet / 100;
                n += 1;
            }
            if octet >= 10 {
                text[n] = b'0' + octet / 10 % 10;
                n += 1;
            }
            text[n] = b'0' + octet % 10;
            n += 1;
        }
        // Digits and dots only.
        s.serialize_str(std::str::from_utf8(&text[..n]).unwrap_or_default())
    }
}

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// [`Trace`] as the writer serialises it: the same fields in the same
/// order (`a_written_trace_reads_back_as_the_same_json` holds them
/// together), borrowed from the entry and its rules rather than copied into
/// ~30 `String`s; building the owned `Trace` was the largest part of the
/// log's cost per allow (issue 21).
#[derive(Serialize)]
struct TraceOut<'a> {
    request_id: &'a str,
    time: Shown<Rfc3339Secs>,
    decision: &'static str,
    reason: Option<&'static str>,
    why: &'static str,
    deciding_policy: Option<&'a str>,
    recheck: bool,
    app: &'a str,
    host: &'a str,
    method: &'a str,
    path: &'a str,
    user: Option<TraceUserOut<'a>>,
    client_ip: IpText,
    country: &'a str,
    locations: Vec<&'a str>,
    platform: &'static str,
    client_app: &'static str,
    mfa: bool,
    mfa_strength: &'static str,
    mfa_asked: &'static str,
    signed_in_ago: Option<u64>,
    access_ended: Option<Shown<Rfc3339Secs>>,
    policies_complete: bool,
    policies: Vec<TracePolicy>,
}

#[derive(Serialize)]
struct TraceUserOut<'a> {
    id: &'a str,
    email: &'a str,
    #[serde(rename = "type")]
    user_type: &'static str,
    groups: GroupsOut<'a>,
    assigned: bool,
}

/// The entry's groups, one after the other from its text buffer.
struct GroupsOut<'a>(&'a Pending);

impl Serialize for GroupsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.groups())
    }
}

/// An allow as stored: a JSON array of its facts by position (no key to
/// write for each: half the serialiser's work), in the order of
/// `store::decisions::COMPACT_ALLOW_FIELDS`, which also turns it back into
/// the trace's object with what the row's columns and the sameness of
/// allows say (`whole_entry`).
struct AllowOut<'a> {
    why: &'static str,
    host: &'a str,
    method: &'a str,
    path: &'a str,
    user: Option<AllowUserOut<'a>>,
    client_ip: IpText,
    country: &'a str,
    locations: Vec<&'a str>,
    platform: &'static str,
    client_app: &'static str,
    mfa_strength: &'static str,
    mfa_asked: &'static str,
    signed_in_ago: Option<u64>,
    access_ended: Option<Shown<Rfc3339Secs>>,
    policies: Vec<AppliedOut<'a>>,
}

impl Serialize for AllowOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(COMPACT_ALLOW_FIELDS.len())?;
        t.serialize_element(&COMPACT_ALLOW)?;
        t.serialize_element(self.why)?;
        t.serialize_element(self.host)?;
        t.serialize_element(self.method)?;
        t.serialize_element(self.path)?;
        t.serialize_element(&self.user)?;
        t.serialize_element(&self.client_ip)?;
        t.serialize_element(self.country)?;
        t.serialize_element(&self.locations)?;
        t.serialize_element(self.platform)?;
        t.serialize_element(self.client_app)?;
        t.serialize_element(self.mfa_strength)?;
        t.serialize_element(self.mfa_asked)?;
        t.serialize_element(&self.signed_in_ago)?;
        t.serialize_element(&self.access_ended)?;
        t.serialize_element(&self.policies)?;
        t.end()
    }
}

/// `[email, type, groups, assigned]` (`COMPACT_USER_FIELDS`).
struct AllowUserOut<'a> {
    email: &'a str,
    user_type: &'static str,
    groups: GroupsOut<'a>,
    assigned: bool,
}

impl Serialize for AllowUserOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.email, self.user_type, &self.groups, self.assigned).serialize(s)
    }
}

/// A policy that applied to an allow, as its evaluation traced it:
/// `[name, state, result, satisfied]` (`COMPACT_POLICY_FIELDS`).
struct AppliedOut<'a> {
    name: &'a str,
    state: &'static str,
    result: &'static str,
    satisfied: bool,
}

impl Serialize for AppliedOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.name, self.state, self.result, self.satisfied).serialize(s)
    }
}

/// Builds the trace of `p`: an allow into `allows` (the batch stored as
/// one row), anything else as the store's row for it.
pub(super) fn build(p: &Pending, allows: &mut AllowBatch) -> Option<NewDecision> {
    let rules = &*p.rules;
    let app = p
        .config
        .apps
        .get(p.app as usize)
        .map_or("", |a| a.name.as_str());
    // Lower-cased only when it is not already (it nearly always is).
    let email: std::borrow::Cow<'_, str> = match &p.claims {
        Some(c) if c.email.bytes().any(|b| b.is_ascii_uppercase()) => {
            c.email.to_ascii_lowercase().into()
        }
        Some(c) => c.email.as_str().into(),
        None => "".into(),
    };
    let strength = p
        .claims
        .as_ref()
        .map_or(rules::MfaStrength::None, |c| c.mfa_strength());
    let signed_in_ago = p
        .claims
        .as_ref()
        .map(|c| c.signed_in_ago(p.at).max(0) as u64);
    let blocked_by = match p.why {
        Some(Why::BlockedByPolicy(i)) => rules.policies().get(i as usize),
        _ => None,
    };
    let complete = p.decision != Decision::Allow && p.early == Early::Rules;
    let locations = rules.location_names(&rules.locations_of(Some(p.client_ip), p.country));
    let row = |entry: String| NewDecision {
        request_id: p.request_id().into(),
        at: OffsetDateTime::from_unix_timestamp(p.at).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        app: app.into(),
        user_id: p.claims.as_ref().map(|c| c.sub.as_str().into()),
        decision: p.decision.as_str(),
        reason: reason(p, blocked_by),
        entry: entry.into(),
    };
    // An allow is not evaluated again: what its applying policies asked is
    // in their results. It is stored compactly (the row's columns and the
    // sameness of allows say the rest).
    if p.decision == Decision::Allow && p.early == Early::Rules && !p.recheck {
        let policies = applied(p, rules)
            .map(|(policy, a)| AppliedOut {
                name: &policy.name,
                state: policy.state.as_str(),
                result: a.result.as_str(),
                satisfied: a.satisfied,
            })
            .collect();
        let allow = AllowOut {
            why: p.why.map_or("none", Why::as_str),
            host: p.host(),
            method: p.method(),
            path: p.path(),
            user: p.claims.as_ref().map(|c| AllowUserOut {
                email: &email,
                user_type: p.user_type.unwrap_or(c.user_type).as_str(),
                groups: GroupsOut(p),
                assigned: p.assigned,
            }),
            client_ip: IpText(p.client_ip),
            country: p.country.as_str(),
            locations,
            platform: p.platform.as_str(),
            client_app: p.client_app.as_str(),
            mfa_strength: strength.as_str(),
            mfa_asked: mfa_asked(p, rules).as_str(),
            signed_in_ago,
            access_ended: p.access_ended.map(|t| Shown(Rfc3339Secs(t))),
            policies,
        };
        let user_id = p.claims.as_ref().map(|c| c.sub.as_str());
        if allows.push(p.request_id(), p.at, app, user_id, &allow) {
            return None;
        }
        // A full batch (the writer's are never): a row of its own.
        return Some(row(to_json(&allow)));
    }
    // A refusal is explained anew against the rules that decided it: every
    // policy for the app, with the condition that decided each. One decided
    // before the rules (the directory, a token) lists what applied.
    let (mfa_asked, policies) = if complete {
        let groups: Vec<String> = p.groups().map(str::to_owned).collect();
        let request = Request {
            user: match (&p.claims, p.user_type) {
                (Some(_), Some(user_type)) => Some(User {
                    email: &email,
                    user_type,
                    groups: &groups,
                    assigned: p.assigned,
                }),
                _ => None,
            },
            app: p.app as rules::AppId,
            path: p.path(),
            method: p.method(),
            ip: Some(p.client_ip),
            country: p.country,
            platform: p.platform,
            client_app: p.client_app,
            mfa: strength,
            signed_in_ago: signed_in_ago.map(std::time::Duration::from_secs),
        };
        let e = rules::explain(rules, &request);
        let policies = e
            .policies
            .iter()
            .filter(|t| t.reason != rules::Reason::AppNotIncluded)
            .map(|t| TracePolicy {
                name: t.policy.name.to_string(),
                state: t.policy.state.as_str().into(),
                applies: t.applies,
                result: t.result.as_str().into(),
                satisfied: t.applies.then_some(t.satisfied),
                condition: t.reason.as_str().into(),
                why: t.detail(rules, &request),
            })
            .collect();
        (e.mfa_asked, policies)
    } else {
        let policies = applied(p, rules)
            .map(|(policy, a)| TracePolicy {
                name: policy.name.to_string(),
                state: policy.state.as_str().into(),
                applies: true,
                result: a.result.as_str().into(),
                satisfied: Some(a.satisfied),
                condition: rules::Reason::Applies.as_str().into(),
                why: applied_why(a.result.as_str(), a.satisfied),
            })
            .collect();
        (mfa_asked(p, rules), policies)
    };
    let trace = TraceOut {
        request_id: p.request_id(),
        time: Shown(Rfc3339Secs(p.at)),
        decision: p.decision.as_str(),
        reason: reason(p, blocked_by),
        why: p
            .early
            .as_str()
            .or(p.why.map(Why::as_str))
            .unwrap_or("none"),
        deciding_policy: blocked_by.map(|b| &*b.name),
        recheck: p.recheck,
        app,
        host: p.host(),
        method: p.method(),
        path: p.path(),
        user: p.claims.as_ref().map(|c| TraceUserOut {
            id: &c.sub,
            email: &email,
            user_type: p.user_type.unwrap_or(c.user_type).as_str(),
            groups: GroupsOut(p),
            assigned: p.assigned,
        }),
        client_ip: IpText(p.client_ip),
        country: p.country.as_str(),
        locations,
        platform: p.platform.as_str(),
        client_app: p.client_app.as_str(),
        mfa: strength.is_mfa(),
        mfa_strength: strength.as_str(),
        mfa_asked: mfa_asked.as_str(),
        signed_in_ago,
        access_ended: p.access_ended.map(|t| Shown(Rfc3339Secs(t))),
        policies_complete: complete,
        policies,
    };
    Some(row(to_json(&trace)))
}

/// JSON text of `value`, written into a buffer sized for a typical entry
/// (growing a `String` from empty took six reallocations).
fn to_json(value: &impl Serialize) -> String {
    let mut out = Vec::with_capacity(512);
    // Strings, numbers and lists always serialise, into valid UTF-8.
    match serde_json::to_writer(&mut out, value) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The policies that applied, as the request's own evaluation traced
/// them (not evaluated again).
fn applied<'a>(
    p: &'a Pending,
    rules: &'a rules::RuleSet,
) -> impl Iterator<Item = (&'a rules::Policy, &'a Applied)> {
    p.applied
        .iter()
        .filter_map(|a| Some((rules.policies().get(a.index as usize)?, a)))
}

/// The strongest MFA the enabled policies among those that applied asked
/// for.
fn mfa_asked(p: &Pending, rules: &rules::RuleSet) -> rules::MfaStrength {
    applied(p, rules)
        .filter(|(policy, _)| policy.state == rules::State::Enabled)
        .map(|(_, a)| match a.result {
            rules::Requirement::PhishingResistantMfa => rules::MfaStrength::PhishingResistant,
            rules::Requirement::Mfa => rules::MfaStrength::Mfa,
            _ => rules::MfaStrength::None,
        })
        .max()
        .unwrap_or_default()
}

impl Trace {
    /// A table a person reads at a glance (`portcullis explain`).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let who = match &self.user {
            Some(u) => format!("{} ({}, id {})", u.email, u.user_type, u.id),
            None => "not signed in".into(),
        };
        out.push_str(&format!(
            "Decision: {} (reason {}, {})\n",
            self.decision.to_uppercase(),
            self.reason.as_deref().unwrap_or("-"),
            self.why
        ));
        out.push_str(&format!("Request:  {} at {}\n", self.request_id, self.time));
        out.push_str(&format!(
            "          {who} -> {} {} {}{}\n",
            self.app, self.method, self.host, self.path
        ));
        out.push_str(&format!(
            "From:     {} (country {}, locations: {}), {} via {}, MFA {}{}\n",
            self.client_ip,
            self.country,
            if self.locations.is_empty() {
                "none".into()
            } else {
                self.locations.join(", ")
            },
            self.platform,
            self.client_app,
            match self.mfa_strength.as_deref() {
                Some("phishing_resistant") => "yes (phishing-resistant)",
                _ if self.mfa => "yes",
                _ => "no",
            },
            self.signed_in_ago
                .map(|s| format!(
                    ", signed in {} ago",
                    rules::format_duration(std::time::Duration::from_secs(s))
                ))
                .unwrap_or_default(),
        ));
        if let Some(u) = &self.user {
            out.push_str(&format!(
                "User:     groups {}; {}\n",
                if u.groups.is_empty() {
                    "none".into()
                } else {
                    u.groups.join(", ")
                },
                if u.assigned {
                    "assigned to the app".to_string()
                } else if let Some(end) = &self.access_ended {
                    format!("access ended {end}")
                } else {
                    "not assigned to the app".to_string()
                }
            ));
        }
        if let Some(asked) = self.mfa_asked.as_deref().filter(|a| *a != "none") {
            out.push_str(&format!(
                "Strength: asked {asked}, present {}\n",
                self.mfa_strength.as_deref().unwrap_or("none")
            ));
        }
        if let Some(p) = &self.deciding_policy {
            out.push_str(&format!("Blocked by: {p}\n"));
        }
        if self.policies.is_empty() {
            out.push_str(if self.policies_complete {
                "\nNo policies for this app.\n"
            } else {
                "\nNo policy applied.\n"
            });
            return out;
        }
        if !self.policies_complete {
            out.push_str("\nPolicies that applied (an allow records only these):\n");
        }
        let rows: Vec<[&str; 5]> = self
            .policies
            .iter()
            .map(|t| {
                [
                    t.name.as_str(),
                    t.state.as_str(),
                    if t.applies { "yes" } else { "no" },
                    if t.applies { t.result.as_str() } else { "-" },
                    t.why.as_str(),
                ]
            })
            .collect();
        write_policy_table(&mut out, &rows);
        out
    }
}

/// Appends the per-policy table of a decision (`whatif`, `explain`):
/// name, state, whether it applied, its result, and why; the columns padded
/// to their widest cell, the last one not.
pub fn write_policy_table<S: AsRef<str>>(out: &mut String, rows: &[[S; 5]]) {
    const HEADER: [&str; 5] = ["POLICY", "STATE", "APPLIES", "RESULT", "WHY"];
    let cells = |row: &[S; 5]| row.each_ref().map(|c| c.as_ref().to_string());
    let all: Vec<[String; 5]> = std::iter::once(HEADER.map(String::from))
        .chain(rows.iter().map(cells))
        .collect();
    let mut widths = [0usize; 4];
    for row in &all {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    out.push('\n');
    for row in &all {
        for (w, cell) in widths.iter().zip(row.iter()) {
            out.push_str(&format!("{cell:<w$}  "));
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::{IpText, Rfc3339Secs};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    #[test]
    fn times_are_written_as_rfc3339_in_whole_seconds() {
        for unix in [0, 1, 59, 951_782_400, 1_800_000_000, 253_402_300_799] {
            let want = OffsetDateTime::from_unix_timestamp(unix)
                .expect("time")
                .format(&Rfc3339)
                .expect("rfc 3339");
            assert_eq!(Rfc3339Secs(unix).to_string(), want);
        }
        // Outside RFC 3339's years: nothing, as before.
        assert_eq!(Rfc3339Secs(253_402_300_800).to_string(), "");
        assert_eq!(Rfc3339Secs(i64::MAX).to_string(), "");
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "9.10.99.100",
            "198.51.100.7",
            "255.255.255.255",
            "10.0.0.1",
            "2001:db8::1",
            "::ffff:192.0.2.1",
        ] {
            let addr: std::net::IpAddr = ip.parse().expect("address");
            let json = serde_json::to_string(&IpText(addr)).expect("json");
            assert_eq!(json, format!("\"{addr}\""));
        }
    }
}
