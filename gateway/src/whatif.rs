//! The "what if" answer: a decision and the per-policy explanation, as JSON
//! (the `whatif --json` contract, also served by the admin API) or as a
//! table a person reads at a glance.

use crate::snapshot::Snapshot;
use rules::{Evaluation, RequestFacts, ResolvedFacts, explain, format_duration};
use serde_json::{Value, json};

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
}

impl WhatIf {
    pub fn new(snapshot: &Snapshot, facts: &RequestFacts) -> Result<WhatIf, String> {
        let facts = facts.resolve(
            &snapshot.rules,
            &snapshot.config.organisation.member_domains,
            &|ip| snapshot.country(ip),
        )?;
        Ok(WhatIf { facts })
    }

    fn evaluation<'r>(&self, snapshot: &'r Snapshot) -> Evaluation<'r> {
        explain(&snapshot.rules, &self.facts.request())
    }

    /// The JSON object of DESIGN.md's contract, plus `why`, `client_ip`,
    /// `client_app`, `sign_in_frequency` and per-policy `detail`, `satisfied`
    /// and `source`.
    pub fn json(&self, snapshot: &Snapshot) -> Value {
        let rules = &snapshot.rules;
        let req = self.facts.request();
        let eval = self.evaluation(snapshot);
        let locations = rules.locations_of(self.facts.ip, self.facts.country);
        json!({
            "decision": eval.decision.as_str(),
            "why": eval.why.as_str(),
            "user": self.facts.email,
            "user_type": self.facts.email.as_ref().map(|_| self.facts.user_type.as_str()),
            "app": rules.app_name(self.facts.app),
            "path": self.facts.path,
            "method": self.facts.method,
            "client_ip": self.facts.ip.map(|ip| ip.to_string()),
            "country": self.facts.country.as_str(),
            "platform": self.facts.platform.as_str(),
            "client_app": self.facts.client_app.as_str(),
            "mfa": self.facts.mfa.is_mfa(),
            "mfa_strength": self.facts.mfa.as_str(),
            "mfa_asked": eval.mfa_asked.as_str(),
            "locations": rules.location_names(&locations),
            "sign_in_frequency": eval.sign_in_frequency.map(format_duration),
            "policies": eval.policies.iter().map(|t| json!({
                "name": &*t.policy.name,
                "state": t.policy.state.as_str(),
                "applies": t.applies,
                "result": t.result.as_str(),
                "satisfied": t.applies.then_some(t.satisfied),
                "reason": t.reason.as_str(),
                "detail": t.detail(rules, &req),
                "source": t.policy.source.to_string(),
            })).collect::<Vec<_>>(),
        })
    }

    /// A fixed-width table for a terminal.
    pub fn table(&self, snapshot: &Snapshot) -> String {
        let rules = &snapshot.rules;
        let req = self.facts.request();
        let eval = self.evaluation(snapshot);
        let f = &self.facts;
        let locations = rules.location_names(&rules.locations_of(f.ip, f.country));
        let who = match &f.email {
            Some(e) => format!("{e} ({})", f.user_type.as_str()),
            None => "not signed in".into(),
        };
        let mut out = String::new();
        out.push_str(&format!(
            "Decision: {} ({})\n",
            eval.decision.as_str().to_uppercase(),
            eval.why.as_str()
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
        if eval.mfa_asked.is_mfa() {
            out.push_str(&format!(
                "Strength: asked {}, present {}\n",
                eval.mfa_asked, f.mfa
            ));
        }
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
