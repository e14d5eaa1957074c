//! The console's policies page: the rule set in force (the snapshot's
//! rules, with the text of each file as it was loaded), each policy's
//! applied and report-only counts over the last day (one aggregate query
//! over the decision log), the what-if form, and the lint findings.
//!
//! Nothing here is a second implementation: what-if parses its question
//! with `admin::whatif_facts` (as `GET /api/v1/whatif`) and answers with
//! `crate::whatif::WhatIf` (as the CLI and the API); the findings are
//! `Snapshot::lint`, as `portcullis rules lint` prints them.

use super::{POLICIES, Staff};
use crate::portal::{Handler, Reply};
use crate::whatif::{WhatIf, WhatIfError};
use minijinja::context;
use rules::{Grant, Operator};
use std::collections::HashMap;
use std::path::Path;

/// The most recorded decisions the counts read (the newest of the last
/// day): measured at about 0.9 s on SQLite for traces of three applying
/// policies each; a busier day is counted from its newest.
pub(super) const MAX_COUNTED: u32 = 50_000;

/// The what-if fields the form sends, in the API's names.
const WHATIF_FIELDS: [&str; 14] = [
    "user",
    "app",
    "user_type",
    "group",
    "path",
    "method",
    "ip",
    "country",
    "user_agent",
    "platform",
    "client_app",
    "mfa",
    "signed_in_ago",
    "offline",
];

/// What a policy asks, in words: `block`, `require mfa`, `require one of
/// mfa, phishing_resistant_mfa`; `nothing` for a policy with only session
/// controls.
fn grant_words(grant: Option<&Grant>) -> String {
    match grant {
        None => "nothing".into(),
        Some(Grant::Block) => "block".into(),
        Some(Grant::Require { controls, operator }) => {
            let names: Vec<&str> = controls.iter().map(|c| c.as_str()).collect();
            match (operator, names.len()) {
                (Operator::Any, n) if n > 1 => format!("require one of {}", names.join(", ")),
                _ => format!("require {}", names.join(" and ")),
            }
        }
    }
}

/// `file` relative to the config's folder when it is inside it.
fn shown_path(file: &Path, config_dir: Option<&Path>) -> String {
    config_dir
        .and_then(|d| file.strip_prefix(d).ok())
        .unwrap_or(file)
        .display()
        .to_string()
}

impl Handler<'_> {
    /// `GET /.portcullis/admin/policies` (with `ask=1` and the what-if
    /// fields: the answer too).
    pub(super) async fn policies_page(&self, staff: &Staff) -> Reply {
        let snapshot = self.snapshot;
        let now = self.time();
        let config_dir = snapshot.config.path.parent();
        // One query for every policy's counts over the last day.
        let counts = match self
            .gateway
            .store
            .policy_counts(now - time::Duration::days(1), MAX_COUNTED)
            .await
        {
            Ok(c) => c,
            Err(e) => return self.unavailable("decisions", &e),
        };
        let mut by_policy: HashMap<(&str, &str), u64> = HashMap::new();
        for c in &counts {
            *by_policy
                .entry((c.policy.as_str(), c.state.as_str()))
                .or_default() += c.applied;
        }
        let policies: Vec<minijinja::Value> = snapshot
            .rules
            .policies()
            .iter()
            .map(|p| {
                let name: &str = &p.name;
                context! {
                    name,
                    description => p.description,
                    state => p.state.as_str(),
                    asks => grant_words(p.grant.as_ref()),
                    frequency => p.sign_in_frequency.map(rules::format_duration),
                    source => format!("{}:{}", shown_path(&p.source.file, config_dir), p.source.line),
                    applied => by_policy.get(&(name, "enabled")).copied().unwrap_or(0),
                    report_only => by_policy.get(&(name, "report_only")).copied().unwrap_or(0),
                }
            })
            .collect();
        let files: Vec<minijinja::Value> = snapshot
            .rules
            .sources()
            .enumerate()
            .map(|(i, (file, text))| {
                context! {
                    anchor => format!("file-{}", i + 1),
                    name => shown_path(file, config_dir),
                    text,
                    lines => text.lines().count(),
                }
            })
            .collect();
        let findings: Vec<minijinja::Value> = snapshot
            .lint(now.date())
            .iter()
            .map(|f| {
                context! {
                    at => format!("{}:{}:{}", shown_path(&f.at.file, config_dir), f.at.line, f.at.column),
                    kind => f.kind.as_str(),
                    message => f.message,
                    fix => f.fix,
                }
            })
            .collect();
        let (whatif, whatif_error, status) = self.console_whatif().await;
        let get = |n: &str| self.query(n).unwrap_or_default();
        let apps: Vec<&str> = snapshot
            .config
            .apps
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        self.console_page(
            staff,
            status,
            "console/policies.html",
            "policies",
            context! {
                policies, files, findings, whatif, apps,
                max_counted => MAX_COUNTED,
                error => whatif_error,
                action => POLICIES,
                platforms => rules::Platform::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                w => context! {
                    user => get("user"), app => get("app"), user_type => get("user_type"),
                    group => get("group"), path => get("path"), method => get("method"),
                    ip => get("ip"), country => get("country"), user_agent => get("user_agent"),
                    platform => get("platform"), client_app => get("client_app"),
                    mfa => get("mfa"), signed_in_ago => get("signed_in_ago"),
                    offline => self.query("offline").is_some(),
                },
            },
        )
    }

    /// The what-if answer when the form was sent (`ask`): the object
    /// `/api/v1/whatif` answers, the error to show, and the page's status.
    async fn console_whatif(&self) -> (Option<minijinja::Value>, Option<String>, u16) {
        if self.query("ask").is_none() {
            return (None, None, 200);
        }
        // The form sends every field; an empty one is not given.
        let question = {
            let mut q = openidconnect::url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in openidconnect::url::form_urlencoded::parse(
                self.req.query.unwrap_or_default().as_bytes(),
            ) {
                // `mfa=none` is the default; given, it would count as a fact
                // about a signed-in user even when no user is.
                let default_mfa = k == "mfa" && v == "none";
                if WHATIF_FIELDS.contains(&&*k) && !v.trim().is_empty() && !default_mfa {
                    q.append_pair(&k, v.trim());
                }
            }
            q.finish()
        };
        let (facts, offline) = match crate::admin::whatif_facts(&question) {
            Ok(f) => f,
            Err(e) => {
                return (
                    None,
                    Some(crate::i18n::t!(
                        self.lang,
                        "console-whatif-error",
                        error = e.to_string()
                    )),
                    400,
                );
            }
        };
        let snapshot = self.snapshot;
        let w = if offline {
            WhatIf::new(snapshot, &facts).map_err(WhatIfError::Input)
        } else {
            WhatIf::with_directory(snapshot, &facts, &self.gateway.store, self.time()).await
        };
        match w {
            Ok(w) => (
                Some(minijinja::Value::from_serialize(w.json(snapshot))),
                None,
                200,
            ),
            Err(WhatIfError::Input(e)) => (
                None,
                Some(crate::i18n::t!(
                    self.lang,
                    "console-whatif-app-error",
                    error = e.to_string()
                )),
                400,
            ),
            Err(WhatIfError::Directory(e)) => (
                None,
                Some(crate::i18n::t!(
                    self.lang,
                    "console-whatif-directory-error",
                    error = e.to_string()
                )),
                503,
            ),
        }
    }
}
