//! `rules diff`'s core: a recorded decision replayed against other rules,
//! with the facts recorded with it (the directory's answer of that time
//! included: groups, assignment, user type), so the question is only "what
//! would these rules have decided", never "what has changed since".
//!
//! Decisions made before the rules (a blocked account, a refused token, a
//! user the directory no longer had) do not depend on rules and never
//! change.

use super::Early;
use super::trace::{Trace, reason_of};
use rules::{ClientApp, Platform, Request, RuleSet, State, User, UserType, Why};
use serde::Serialize;
use std::collections::BTreeSet;

/// One request whose outcome the other rules change.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    pub request_id: String,
    pub time: String,
    /// The user's e-mail (`null`: not signed in).
    pub user: Option<String>,
    pub user_type: Option<String>,
    pub app: String,
    pub method: String,
    pub path: String,
    pub old: String,
    pub new: String,
    pub old_reason: Option<String>,
    pub new_reason: Option<String>,
    /// The enabled policies that apply under one set of rules and not the
    /// other (added, removed or changed); when none, those that apply now.
    pub policies: Vec<String>,
}

/// Why a recorded entry cannot be replayed (a fact that no longer parses,
/// or an app the config no longer has).
#[derive(Debug, PartialEq, Eq)]
pub struct NotReplayable(pub &'static str);

/// The outcome of `t` under `rules`: `Ok(None)` when it is the same.
pub fn replay(t: &Trace, rules: &RuleSet) -> Result<Option<Change>, NotReplayable> {
    if matches!(
        t.why.as_str(),
        "account_blocked" | "unknown_user" | "bad_token"
    ) {
        return Ok(None);
    }
    let app = rules
        .app_id(&t.app)
        .ok_or(NotReplayable("the app is gone"))?;
    let ip = t
        .client_ip
        .parse()
        .map_err(|_| NotReplayable("client_ip"))?;
    let country = geoip::Country::parse(&t.country).map_err(|_| NotReplayable("country"))?;
    let platform = Platform::parse(&t.platform).ok_or(NotReplayable("platform"))?;
    let client_app = ClientApp::parse(&t.client_app).ok_or(NotReplayable("client_app"))?;
    let user = match &t.user {
        Some(u) => Some((
            UserType::parse(&u.user_type).ok_or(NotReplayable("user type"))?,
            u,
        )),
        None => None,
    };
    let request = Request {
        user: user.map(|(user_type, u)| User {
            email: &u.email,
            user_type,
            groups: &u.groups,
            assigned: u.assigned,
        }),
        app,
        path: &t.path,
        method: &t.method,
        ip: Some(ip),
        country,
        platform,
        client_app,
        // Traces from before issue 20 have only the boolean.
        mfa: match t
            .mfa_strength
            .as_deref()
            .and_then(rules::MfaStrength::parse)
        {
            Some(s) => s,
            None if t.mfa => rules::MfaStrength::Mfa,
            None => rules::MfaStrength::None,
        },
        signed_in_ago: t.signed_in_ago.map(std::time::Duration::from_secs),
    };
    let eval = rules::evaluate(rules, &request);
    if eval.decision.as_str() == t.decision {
        return Ok(None);
    }
    let now: BTreeSet<&str> = eval.applied().map(|p| &*p.policy.name).collect();
    let before: BTreeSet<&str> = t
        .policies
        .iter()
        .filter(|p| p.applies && p.state == State::Enabled.as_str())
        .map(|p| p.name.as_str())
        .collect();
    let mut policies: Vec<String> = now
        .symmetric_difference(&before)
        .map(|s| s.to_string())
        .collect();
    if policies.is_empty() {
        policies = now.iter().map(|s| s.to_string()).collect();
    }
    let blocked_by = match eval.why {
        Why::BlockedByPolicy(i) => rules.policies().get(i as usize),
        _ => None,
    };
    let new_reason = reason_of(
        eval.decision,
        Early::Rules,
        Some(eval.why),
        t.access_ended.is_some(),
        blocked_by,
    );
    Ok(Some(Change {
        request_id: t.request_id.clone(),
        time: t.time.clone(),
        user: t.user.as_ref().map(|u| u.email.clone()),
        user_type: t.user.as_ref().map(|u| u.user_type.clone()),
        app: t.app.clone(),
        method: t.method.clone(),
        path: t.path.clone(),
        old: t.decision.clone(),
        new: eval.decision.as_str().to_string(),
        old_reason: t.reason.clone(),
        new_reason: new_reason.map(|r| r.as_str().to_string()),
        policies,
    }))
}
