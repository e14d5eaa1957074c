//! The "what if" answer: a decision and the per-policy explanation, as JSON
//! (the `whatif --json` contract, also served by the admin API) or as a
//! table a person reads at a glance.
//!
//! The decision is the gateway's own ([`crate::proxy::decide::judge`], the
//! function the proxy decides with), on the directory's facts when the
//! store is read ([`WhatIf::with_directory`]): the user's type, groups,
//! blocked state and assignment to the app. Offline ([`WhatIf::new`]) the
//! facts are the question's alone and a live assignment is assumed unless
//! the question says `unassigned`. The answer says which facts came from
//! where (`facts_from`).

use crate::decision_log::{Early, reason_of, write_policy_table};
use crate::proxy::decide::{Asked, Claimed, Judgement, Policies, UnknownUser, judge};
use crate::refusal::Reason;
use crate::snapshot::Snapshot;
use crate::store::{DirectoryFacts, Store};
use rules::{Decision, RequestFacts, ResolvedFacts, User, Why, format_duration};
use serde_json::{Value, json};
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The session's MFA in the tables' `From:` line.
pub(crate) fn mfa_words(m: rules::MfaStrength) -> &'static str {
    match m {
        rules::MfaStrength::None => "no",
        rules::MfaStrength::Mfa => "yes",
        rules::MfaStrength::PhishingResistant => "yes (phishing-resistant)",
    }
}

/// Resolves the facts against the snapshot and explains the decision.
pub struct WhatIf {
    pub facts: ResolvedFacts,
    /// What the directory said about the user; `None`: answered from the
    /// files alone (offline, or not signed in).
    pub directory: Option<Heard>,
}

/// The directory's answer about the question's user.
pub struct Heard {
    /// The user's id; `None`: the directory has no user with the e-mail.
    pub user_id: Option<String>,
    pub facts: DirectoryFacts,
}

/// Why a question got no answer.
#[derive(Debug)]
pub enum WhatIfError {
    /// The question is wrong (an unknown app): exit 2, HTTP 400.
    Input(String),
    /// The directory could not be read: exit 1, HTTP 503.
    Directory(String),
}

/// The decision as the gateway would make it, and the facts it was made on.
struct Answer<'r> {
    decision: Decision,
    /// `rules::Why` name, or `account_blocked` / `unknown_user`.
    why: &'static str,
    reason: Option<&'static str>,
    /// `None` when the directory decided before the rules.
    eval: Option<rules::Evaluation<'r>>,
    user_type: Option<rules::UserType>,
    groups: Vec<String>,
    assigned: bool,
    access_ended: Option<i64>,
}

impl WhatIf {
    /// From the question alone (`--offline`).
    pub fn new(snapshot: &Snapshot, facts: &RequestFacts) -> Result<WhatIf, String> {
        let facts = facts.resolve(
            &snapshot.rules,
            &snapshot.config.organisation.member_domains,
            &|ip| snapshot.country(ip),
        )?;
        Ok(WhatIf {
            facts,
            directory: None,
        })
    }

    /// With the directory's facts about the user, read from `store` now.
    /// A user the directory does not know is decided with no groups and no
    /// assignment, as the gateway decides a token from an IdP for them.
    pub async fn with_directory(
        snapshot: &Snapshot,
        facts: &RequestFacts,
        store: &Store,
        now: OffsetDateTime,
    ) -> Result<WhatIf, WhatIfError> {
        let mut w = WhatIf::new(snapshot, facts).map_err(WhatIfError::Input)?;
        let Some(email) = w.facts.email.clone() else {
            return Ok(w);
        };
        let unreadable = |e: crate::store::StoreError| {
            WhatIfError::Directory(format!("the directory cannot be read: {e}"))
        };
        let app = rules_app_name(snapshot, &w);
        let user = store.get_user_by_email(&email).await.map_err(unreadable)?;
        let heard = match user {
            Some(u) => Heard {
                facts: store
                    .directory_facts(&u.id, &app, now)
                    .await
                    .map_err(unreadable)?,
                user_id: Some(u.id),
            },
            None => Heard {
                user_id: None,
                facts: DirectoryFacts::evaluate(None, &app, now),
            },
        };
        w.directory = Some(heard);
        Ok(w)
    }

    /// Decides through the gateway's own path.
    fn answer<'r>(&self, snapshot: &'r Snapshot) -> Answer<'r> {
        let f = &self.facts;
        // Offline: the question's facts stand for the directory's.
        let assumed = DirectoryFacts {
            user_exists: true,
            user_type: None,
            blocked: false,
            groups: Arc::from([]),
            assigned: true,
            assignment_expires_at: None,
            assigned_live: f.assigned,
        };
        let dir = self.directory.as_ref().map_or(&assumed, |h| &h.facts);
        let user = f.email.as_deref().map(|email| {
            let claimed = Claimed {
                email,
                user_type: f.user_type,
                groups: &f.groups,
                mfa: f.mfa,
                signed_in_ago: f.signed_in_ago,
            };
            (claimed, dir)
        });
        match judge(
            &snapshot.rules,
            Policies::All,
            &self.asked(),
            user,
            UnknownUser::NoFacts,
        ) {
            Judgement::Directory {
                decision,
                early,
                user_type,
            } => Answer {
                decision,
                why: early.as_str().unwrap_or("directory"),
                reason: reason_of(decision, early, None, false, None).map(Reason::as_str),
                eval: None,
                user_type,
                groups: dir.groups.to_vec(),
                assigned: dir.assigned_live,
                access_ended: None,
            },
            Judgement::Rules {
                eval,
                user_type,
                groups,
                assigned,
                access_ended,
            } => {
                let blocked_by = match eval.why {
                    Why::BlockedByPolicy(i) => snapshot.rules.policies().get(i as usize),
                    _ => None,
                };
                Answer {
                    decision: eval.decision,
                    why: eval.why.as_str(),
                    reason: reason_of(
                        eval.decision,
                        Early::Rules,
                        Some(eval.why),
                        access_ended.is_some(),
                        blocked_by,
                    )
                    .map(Reason::as_str),
                    eval: Some(eval),
                    user_type,
                    groups,
                    assigned,
                    access_ended,
                }
            }
        }
    }

    fn asked(&self) -> Asked<'_> {
        let f = &self.facts;
        Asked {
            app: f.app as usize,
            path: &f.path,
            method: &f.method,
            ip: f.ip,
            country: f.country,
            platform: f.platform,
            client_app: f.client_app,
        }
    }

    /// The request the rules saw, for the per-policy detail.
    fn request<'a>(&'a self, a: &'a Answer<'_>) -> rules::Request<'a> {
        let mut req = self.facts.request();
        req.user = match (self.facts.email.as_deref(), a.user_type) {
            (Some(email), Some(user_type)) => Some(User {
                email,
                user_type,
                groups: &a.groups,
                assigned: a.assigned,
            }),
            _ => None,
        };
        req
    }

    /// Where each fact about the user came from.
    fn facts_from(&self) -> Value {
        if self.facts.email.is_none() {
            return Value::Null;
        }
        match &self.directory {
            Some(h) if h.user_id.is_some() => json!({
                "user_type": "directory",
                "groups": if self.facts.groups.is_empty() { "directory" } else { "directory+question" },
                "assignment": "directory",
                "blocked": "directory",
            }),
            // Asked, and the directory has no such user.
            Some(_) => json!({
                "user_type": "question",
                "groups": "question",
                "assignment": "directory",
                "blocked": "directory",
            }),
            None => json!({
                "user_type": "question",
                "groups": "question",
                "assignment": "question",
                "blocked": "not_checked",
            }),
        }
    }

    fn directory_json(&self) -> Value {
        let Some(h) = &self.directory else {
            return Value::Null;
        };
        let d = &h.facts;
        json!({
            "user_id": h.user_id,
            "known": d.user_exists,
            "user_type": d.user_type.map(|t| t.as_str()),
            "blocked": d.blocked,
            "groups": &*d.groups,
            "assignment": assignment_state(d),
            "assignment_ends": d.assignment_expires_at.map(rfc3339),
        })
    }

    /// The JSON object of DESIGN.md's contract, plus `why`, `reason`,
    /// `client_ip`, `client_app`, `sign_in_frequency`, the directory's
    /// answer and `facts_from`, and per-policy `detail`, `satisfied` and
    /// `source`.
    pub fn json(&self, snapshot: &Snapshot) -> Value {
        let rules = &snapshot.rules;
        let a = self.answer(snapshot);
        let req = self.request(&a);
        let f = &self.facts;
        let locations = rules.locations_of(f.ip, f.country);
        let policies: Vec<Value> = a.eval.as_ref().map_or_else(Vec::new, |eval| {
            eval.policies
                .iter()
                .map(|t| {
                    json!({
                        "name": &*t.policy.name,
                        "state": t.policy.state.as_str(),
                        "applies": t.applies,
                        "result": t.result.as_str(),
                        "satisfied": t.applies.then_some(t.satisfied),
                        "reason": t.reason.as_str(),
                        "detail": t.detail(rules, &req),
                        "source": t.policy.source.to_string(),
                    })
                })
                .collect()
        });
        json!({
            "decision": a.decision.as_str(),
            "why": a.why,
            "reason": a.reason,
            "access_ended": a.access_ended.map(rfc3339_unix),
            "user": f.email,
            "user_type": f.email.as_ref().and(a.user_type).map(|t| t.as_str()),
            "groups": f.email.as_ref().map(|_| &a.groups),
            "assigned": f.email.as_ref().map(|_| a.assigned),
            "app": rules.app_name(f.app),
            "path": f.path,
            "method": f.method,
            "client_ip": f.ip.map(|ip| ip.to_string()),
            "country": f.country.as_str(),
            "platform": f.platform.as_str(),
            "client_app": f.client_app.as_str(),
            "mfa": f.mfa.is_mfa(),
            "mfa_strength": f.mfa.as_str(),
            "mfa_asked": a.eval.as_ref().map(|e| e.mfa_asked.as_str()),
            "locations": rules.location_names(&locations),
            "sign_in_frequency": a.eval.as_ref().and_then(|e| e.sign_in_frequency).map(format_duration),
            "directory": self.directory_json(),
            "facts_from": self.facts_from(),
            "policies": policies,
        })
    }

    /// A fixed-width table for a terminal.
    pub fn table(&self, snapshot: &Snapshot) -> String {
        let rules = &snapshot.rules;
        let a = self.answer(snapshot);
        let req = self.request(&a);
        let f = &self.facts;
        let locations = rules.location_names(&rules.locations_of(f.ip, f.country));
        let who = match (&f.email, a.user_type) {
            (Some(e), Some(t)) => format!("{e} ({})", t.as_str()),
            (Some(e), None) => e.clone(),
            (None, _) => "not signed in".into(),
        };
        let mut out = String::new();
        // The reason when it says more than `why` (`mfa_required` twice
        // says nothing new).
        let reason = match (a.reason, a.access_ended) {
            (Some(r), Some(end)) => format!(", {r} on {}", rfc3339_unix(end)),
            (Some(r), None) if r != a.why => format!(", {r}"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "Decision: {} ({}{reason})\n",
            a.decision.as_str().to_uppercase(),
            a.why,
        ));
        out.push_str(&format!(
            "Request:  {who} -> {} {} {}\n",
            rules.app_name(f.app).unwrap_or("?"),
            f.method,
            f.path
        ));
        out.push_str(&format!(
            "From:     {} (country {}, locations: {}), {} via {}, MFA {}\n",
            f.ip.map_or("no address".into(), |ip| ip.to_string()),
            f.country,
            if locations.is_empty() {
                "none".into()
            } else {
                locations.join(", ")
            },
            f.platform,
            f.client_app,
            mfa_words(f.mfa),
        ));
        if f.email.is_some() {
            out.push_str(&format!("Directory: {}\n", self.directory_line(&a)));
        }
        if let Some(eval) = &a.eval
            && eval.mfa_asked.is_mfa()
        {
            out.push_str(&format!(
                "Strength: asked {}, present {}\n",
                eval.mfa_asked, f.mfa
            ));
        }
        let Some(eval) = &a.eval else {
            out.push_str("\nThe directory decided before any policy was evaluated.\n");
            return out;
        };
        if rules.policies().is_empty() {
            out.push_str("\nNo policies.\n");
            return out;
        }
        let rows: Vec<[String; 5]> = eval
            .policies
            .iter()
            .map(|t| {
                [
                    t.policy.name.to_string(),
                    t.policy.state.as_str().to_string(),
                    if t.applies { "yes" } else { "no" }.to_string(),
                    if t.applies { t.result.as_str() } else { "-" }.to_string(),
                    t.detail(rules, &req),
                ]
            })
            .collect();
        write_policy_table(&mut out, &rows);
        out
    }

    /// The directory's part in one line: what it said, or that it was not
    /// asked.
    fn directory_line(&self, a: &Answer<'_>) -> String {
        let groups = |g: &[String]| {
            if g.is_empty() {
                "none".to_string()
            } else {
                g.join(", ")
            }
        };
        let Some(h) = &self.directory else {
            return format!(
                "not read (--offline): groups {}, {} assumed",
                groups(&a.groups),
                if a.assigned {
                    "a live assignment"
                } else {
                    "no assignment"
                }
            );
        };
        let d = &h.facts;
        if h.user_id.is_none() {
            return "no such user (never invited, never signed in): no groups, no assignment"
                .into();
        }
        let assignment = match (assignment_state(d), d.assignment_expires_at) {
            ("live", Some(end)) => format!("assigned until {}", rfc3339(end)),
            ("live", None) => "assigned".into(),
            ("ended", Some(end)) => format!("assignment ended {}", rfc3339(end)),
            _ => "not assigned to this app".into(),
        };
        format!(
            "{}{}, groups {}, {assignment}",
            d.user_type.map_or("user", |t| t.as_str()),
            if d.blocked { ", BLOCKED" } else { "" },
            groups(&d.groups),
        )
    }
}

fn rules_app_name(snapshot: &Snapshot, w: &WhatIf) -> String {
    snapshot
        .rules
        .app_name(w.facts.app)
        .unwrap_or_default()
        .to_string()
}

/// `live`, `ended` or `none`.
fn assignment_state(d: &DirectoryFacts) -> &'static str {
    match (d.assigned, d.assigned_live) {
        (_, true) => "live",
        (true, false) => "ended",
        (false, false) => "none",
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn rfc3339_unix(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(rfc3339)
        .unwrap_or_default()
}
