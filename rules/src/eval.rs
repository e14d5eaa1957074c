//! The evaluator: request facts in, decision and explanation out. Pure.
//!
//! Semantics (DESIGN.md, binding): a policy applies when all its conditions
//! match, exclusions beating inclusions; `block` in any applying enabled policy
//! wins; otherwise every applying enabled policy's grant must be met (each
//! with its own operator); the strictest sign-in frequency counts;
//! report-only policies are evaluated and reported but never change the
//! outcome; disabled ones are skipped. With no policy applying, a signed-in
//! member is allowed, and so is a guest with a live assignment to the app.
//!
//! Two additions, both fail-closed:
//! - A guest without a live assignment is blocked even when policies apply
//!   (an MFA policy must not become a way in for someone not invited).
//! - A request that is not signed in can only be decided by policies that
//!   apply to every user (`users: include: [all]`, no exclusions): such a
//!   `block` (e.g. embargoed countries) blocks before sign-in; anything else
//!   means `sign_in`.

use crate::duration::format_duration;
use crate::model::*;
use crate::paths::method_bit;
use geoip::LocationSet;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

/// What happens to the request.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    Allow,
    Block,
    /// Step-up: the session needs multi-factor authentication.
    Mfa,
    /// Not signed in, or the sign-in is older than the strictest frequency.
    SignIn,
}

impl Decision {
    pub const NAMES: &'static [&'static str] = &["allow", "block", "mfa", "sign_in"];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Block => "block",
            Decision::Mfa => "mfa",
            Decision::SignIn => "sign_in",
        }
    }

    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "allow" => Some(Decision::Allow),
            "block" => Some(Decision::Block),
            "mfa" => Some(Decision::Mfa),
            "sign_in" => Some(Decision::SignIn),
            _ => None,
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the decision came out as it did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// An applying enabled policy (index into [`RuleSet::policies`]) blocks.
    BlockedByPolicy(u32),
    NotSignedIn,
    /// A guest without a live assignment to the app.
    NotAssigned,
    SignInTooOld,
    MfaRequired,
    /// The session has MFA, but an applying policy asks for a stronger
    /// kind (`phishing_resistant_mfa`) than it carries.
    StrongerMfaRequired,
    /// Every applying policy's grant is met.
    GrantsMet,
    /// No enabled policy applied.
    NoPolicyApplied,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::BlockedByPolicy(_) => "blocked_by_policy",
            Why::NotSignedIn => "not_signed_in",
            Why::NotAssigned => "not_assigned",
            Why::SignInTooOld => "sign_in_too_old",
            Why::MfaRequired => "mfa_required",
            Why::StrongerMfaRequired => "stronger_mfa_required",
            Why::GrantsMet => "grants_met",
            Why::NoPolicyApplied => "no_policy_applied",
        }
    }
}

/// Which condition decided whether a policy applies. Stable snake_case names
/// (`as_str`) are used by `whatif --json`, logs and the admin API.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Every condition matched.
    Applies,
    Disabled,
    NotSignedIn,
    UserNotIncluded,
    UserExcluded,
    AppNotIncluded,
    AppExcluded,
    PlatformNotIncluded,
    PlatformExcluded,
    LocationNotIncluded,
    LocationExcluded,
    ClientAppNotIncluded,
    ClientAppExcluded,
    PathNotIncluded,
    PathExcluded,
    MethodNotIncluded,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Applies => "applies",
            Reason::Disabled => "disabled",
            Reason::NotSignedIn => "not_signed_in",
            Reason::UserNotIncluded => "user_not_included",
            Reason::UserExcluded => "user_excluded",
            Reason::AppNotIncluded => "app_not_included",
            Reason::AppExcluded => "app_excluded",
            Reason::PlatformNotIncluded => "platform_not_included",
            Reason::PlatformExcluded => "platform_excluded",
            Reason::LocationNotIncluded => "location_not_included",
            Reason::LocationExcluded => "location_excluded",
            Reason::ClientAppNotIncluded => "client_app_not_included",
            Reason::ClientAppExcluded => "client_app_excluded",
            Reason::PathNotIncluded => "path_not_included",
            Reason::PathExcluded => "path_excluded",
            Reason::MethodNotIncluded => "method_not_included",
        }
    }
}

/// What an applying policy asks for (`None` when it does not apply).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Requirement {
    None,
    Block,
    /// MFA of any kind (`require: [mfa]`, or a list `any` of whose
    /// controls plain MFA meets).
    Mfa,
    /// Phishing-resistant MFA: the weakest strength that meets the
    /// policy's grant is [`MfaStrength::PhishingResistant`].
    PhishingResistantMfa,
    /// Only a session control (sign-in frequency).
    SignInFrequency,
}

impl Requirement {
    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::None => "none",
            Requirement::Block => "block",
            Requirement::Mfa => "mfa",
            Requirement::PhishingResistantMfa => "phishing_resistant_mfa",
            Requirement::SignInFrequency => "sign_in_frequency",
        }
    }
}

/// One policy's part in a decision.
#[derive(Clone, Debug)]
pub struct PolicyTrace<'r> {
    pub policy: &'r Policy,
    /// Index into [`RuleSet::policies`].
    pub index: u32,
    pub applies: bool,
    pub reason: Reason,
    pub result: Requirement,
    /// For an applying policy: whether the request already meets what it
    /// asks (`false` for block).
    pub satisfied: bool,
    /// For `*Excluded` reasons: the position of the exclusion that matched.
    pub(crate) matched: Option<u16>,
}

#[derive(Clone, Debug)]
pub struct Evaluation<'r> {
    pub decision: Decision,
    pub why: Why,
    /// The strictest sign-in frequency of the applying enabled policies.
    pub sign_in_frequency: Option<Duration>,
    /// The MFA strength the applying enabled policies ask for: the
    /// strongest of what each one's grant needs at least
    /// ([`MfaStrength::None`] when none asks for MFA). With the request's
    /// `mfa` it says which step-up methods would do.
    pub mfa_asked: MfaStrength,
    /// From [`evaluate`]: the policies that apply (enabled and report-only),
    /// in file order — what metrics and the access log need. From
    /// [`explain`]: every policy, each with the condition that decided it.
    pub policies: Vec<PolicyTrace<'r>>,
}

impl Evaluation<'_> {
    /// Enabled policies that applied (what the access log lists).
    pub fn applied(&self) -> impl Iterator<Item = &PolicyTrace<'_>> {
        self.policies
            .iter()
            .filter(|t| t.applies && t.policy.state == State::Enabled)
    }
}

/// Decides a request, looking only at policies that can apply to its app and
/// user (indexed). This is the hot-path entry point.
pub fn evaluate<'r>(rules: &'r RuleSet, req: &Request<'_>) -> Evaluation<'r> {
    let lists = candidate_lists(rules, req);
    if lists.len() <= 1 {
        let only = lists.first().copied().unwrap_or(&[]);
        return decide(rules, req, only.iter().copied(), true);
    }
    // Several lists may name one policy: visit each once. Up to 4,096
    // policies a bit per policy on the stack does it; above, merging the
    // sorted lists is cheaper than a heap bitset.
    const STACK_WORDS: usize = 64;
    let words = rules.policies.len().div_ceil(64);
    if words > STACK_WORDS {
        let merged = merge_sorted(&lists);
        return decide(rules, req, merged.iter().copied(), true);
    }
    let mut seen = [0u64; STACK_WORDS];
    let unique = lists
        .iter()
        .flat_map(|l| l.iter().copied())
        .filter(move |&i| {
            let (word, bit) = (i as usize / 64, 1u64 << (i % 64));
            match seen.get_mut(word) {
                Some(w) if *w & bit == 0 => {
                    *w |= bit;
                    true
                }
                _ => false,
            }
        });
    decide(rules, req, unique, true)
}

/// Decides a request like [`evaluate`], tracing every policy in the set (the
/// "what if" answer). The decision is always the same as `evaluate`'s.
pub fn explain<'r>(rules: &'r RuleSet, req: &Request<'_>) -> Evaluation<'r> {
    decide(rules, req, 0..rules.policies.len() as u32, false)
}

/// `indexed`: the indices came from the user index, so each policy's
/// `users.include` is already known to match a signed-in user.
fn decide<'r>(
    rules: &'r RuleSet,
    req: &Request<'_>,
    indices: impl Iterator<Item = u32>,
    indexed: bool,
) -> Evaluation<'r> {
    let mut locations: Option<LocationSet> = None;
    // The hot path usually traces nothing: allocate only when needed.
    let mut traces = if indexed {
        Vec::new()
    } else {
        Vec::with_capacity(indices.size_hint().0)
    };
    let mut blocked_by = None;
    let mut mfa_unmet = false;
    let mut mfa_asked = MfaStrength::None;
    let mut frequency: Option<Duration> = None;

    let (platform_bit, client_bit, method) = (
        req.platform.bit(),
        req.client_app.bit(),
        method_bit(req.method),
    );
    for index in indices {
        // The hot path rejects most candidates from 8 packed bytes and
        // keeps traces only of policies that apply.
        if indexed
            && !rules
                .hot
                .get(index as usize)
                .is_some_and(|h| h.may_apply(platform_bit, client_bit, method))
        {
            continue;
        }
        let Some(policy) = rules.policies.get(index as usize) else {
            continue;
        };
        let (reason, matched) = check(rules, policy, req, &mut locations, indexed);
        let applies = reason == Reason::Applies;
        let (result, satisfied, asks) = if applies {
            requirement(policy, req)
        } else {
            (Requirement::None, false, MfaStrength::None)
        };
        if applies && policy.state == State::Enabled {
            match &policy.grant {
                Some(Grant::Block) => {
                    // The first blocking policy in file order, whatever
                    // order the candidates came in.
                    blocked_by = Some(blocked_by.map_or(index, |b: u32| b.min(index)));
                }
                Some(Grant::Require { .. }) if !satisfied => mfa_unmet = true,
                _ => {}
            }
            mfa_asked = mfa_asked.max(asks);
            if let Some(f) = policy.sign_in_frequency {
                frequency = Some(frequency.map_or(f, |g| g.min(f)));
            }
        }
        if indexed && !applies {
            continue;
        }
        traces.push(PolicyTrace {
            policy,
            index,
            applies,
            reason,
            result,
            satisfied,
            matched,
        });
    }

    if indexed {
        // Candidates from several lists come in list order.
        traces.sort_unstable_by_key(|t| t.index);
    }
    let any_applied = traces
        .iter()
        .any(|t| t.applies && t.policy.state == State::Enabled);
    let (decision, why) = if let Some(i) = blocked_by {
        (Decision::Block, Why::BlockedByPolicy(i))
    } else {
        match &req.user {
            None => (Decision::SignIn, Why::NotSignedIn),
            Some(u) if u.user_type == UserType::Guest && !u.assigned => {
                (Decision::Block, Why::NotAssigned)
            }
            Some(_)
                if frequency.is_some_and(|f| req.signed_in_ago.unwrap_or(Duration::MAX) > f) =>
            {
                (Decision::SignIn, Why::SignInTooOld)
            }
            // A session with MFA that still falls short was asked for a
            // stronger kind: the person is told so, not to "add MFA".
            Some(_) if mfa_unmet && req.mfa.is_mfa() => (Decision::Mfa, Why::StrongerMfaRequired),
            Some(_) if mfa_unmet => (Decision::Mfa, Why::MfaRequired),
            Some(_) if any_applied => (Decision::Allow, Why::GrantsMet),
            Some(_) => (Decision::Allow, Why::NoPolicyApplied),
        }
    };
    Evaluation {
        decision,
        why,
        sign_in_frequency: frequency,
        mfa_asked,
        policies: traces,
    }
}

/// What an applying policy asks, whether the request meets it, and the
/// weakest MFA strength that would meet it.
fn requirement(policy: &Policy, req: &Request<'_>) -> (Requirement, bool, MfaStrength) {
    match &policy.grant {
        Some(Grant::Block) => (Requirement::Block, false, MfaStrength::None),
        Some(Grant::Require { controls, operator }) => {
            let strengths = controls.iter().map(|c| c.strength());
            // `all` needs the strongest of its controls, `any` the weakest.
            let asks = match operator {
                Operator::All => strengths.max(),
                Operator::Any => strengths.min(),
            }
            .unwrap_or(MfaStrength::None);
            let satisfied = match operator {
                Operator::All => controls.iter().all(|c| req.mfa.meets(*c)),
                Operator::Any => controls.iter().any(|c| req.mfa.meets(*c)),
            };
            let result = if asks == MfaStrength::PhishingResistant {
                Requirement::PhishingResistantMfa
            } else {
                Requirement::Mfa
            };
            (result, satisfied, asks)
        }
        None => (Requirement::SignInFrequency, true, MfaStrength::None),
    }
}

/// Whether a policy applies, and the first condition (in a fixed order:
/// state, users, apps, client apps, platforms, locations, paths, methods)
/// that says otherwise.
fn check(
    rules: &RuleSet,
    p: &Policy,
    req: &Request<'_>,
    locations: &mut Option<LocationSet>,
    indexed: bool,
) -> (Reason, Option<u16>) {
    if p.state == State::Disabled {
        return (Reason::Disabled, None);
    }
    match &req.user {
        None if !p.users.is_everyone() => return (Reason::NotSignedIn, None),
        None => {}
        Some(u) => {
            if let Some(i) = p.users.exclude.iter().position(|e| e.matches(u)) {
                return (Reason::UserExcluded, Some(i as u16));
            }
            if !indexed && !p.users.include.iter().any(|e| e.matches(u)) {
                return (Reason::UserNotIncluded, None);
            }
        }
    }
    if p.apps.exclude.contains(&req.app) {
        return (Reason::AppExcluded, None);
    }
    if !p.apps.all && !p.apps.include.contains(&req.app) {
        return (Reason::AppNotIncluded, None);
    }
    if let Some(m) = &p.client_apps {
        let bit = req.client_app.bit();
        if m.exclude & bit != 0 {
            return (Reason::ClientAppExcluded, None);
        }
        if m.include & bit == 0 {
            return (Reason::ClientAppNotIncluded, None);
        }
    }
    if let Some(m) = &p.platforms {
        let bit = req.platform.bit();
        if m.exclude & bit != 0 {
            return (Reason::PlatformExcluded, None);
        }
        if m.include & bit == 0 {
            return (Reason::PlatformNotIncluded, None);
        }
    }
    if let Some(c) = &p.locations {
        // Computed once per request, and only if some policy asks.
        let here =
            locations.get_or_insert_with(|| rules.location_table.matching(req.ip, req.country));
        if c.exclude.intersects(here) {
            return (Reason::LocationExcluded, None);
        }
        if !c.include_all && !c.include.intersects(here) {
            return (Reason::LocationNotIncluded, None);
        }
    }
    if let Some(c) = &p.paths {
        if c.exclude.is_match(req.path) {
            return (Reason::PathExcluded, None);
        }
        if !c.include.is_match(req.path) {
            return (Reason::PathNotIncluded, None);
        }
    }
    if let Some(mask) = p.methods
        && mask & method_bit(req.method) == 0
    {
        return (Reason::MethodNotIncluded, None);
    }
    (Reason::Applies, None)
}

/// Candidate policies for this request's app and user, in file order,
/// without duplicates: the union of the index lists the user can match.
fn candidate_lists<'r>(rules: &'r RuleSet, req: &Request<'_>) -> SmallVec<[&'r [u32]; 8]> {
    let mut lists: SmallVec<[&'r [u32]; 8]> = SmallVec::new();
    let scopes = std::iter::once(&rules.all_apps).chain(rules.per_app.get(req.app as usize));
    for ix in scopes {
        let Some(u) = &req.user else {
            lists.push(&ix.everyone);
            continue;
        };
        lists.push(match u.user_type {
            UserType::Guest => &ix.guests_or_everyone,
            UserType::Member => &ix.members_or_everyone,
        });
        if !ix.by_group.is_empty() {
            for g in u.groups {
                if let Some(l) = ix.by_group.get(g.as_str()) {
                    lists.push(l);
                } else if g.bytes().any(|b| b.is_ascii_uppercase())
                    && let Some(l) = ix.by_group.get(g.to_ascii_lowercase().as_str())
                {
                    lists.push(l);
                }
            }
        }
        if !ix.by_domain.is_empty()
            && let Some(l) = ix.by_domain.get(u.domain())
        {
            lists.push(l);
        }
        if !ix.by_email.is_empty()
            && let Some(l) = ix.by_email.get(u.email)
        {
            lists.push(l);
        }
    }
    lists.retain(|l| !l.is_empty());
    lists
}

/// Merges sorted lists into one sorted list without duplicates; a single
/// list is borrowed, not copied.
pub(crate) fn merge_sorted<'a>(lists: &[&'a [u32]]) -> Cow<'a, [u32]> {
    let mut out: Vec<u32> = match lists {
        [] => return Cow::Borrowed(&[]),
        [only] => return Cow::Borrowed(only),
        [first, ..] => first.to_vec(),
    };
    let mut scratch = Vec::new();
    for next in &lists[1..] {
        scratch.clear();
        scratch.reserve(out.len() + next.len());
        let (mut i, mut j) = (0, 0);
        while i < out.len() && j < next.len() {
            let (a, b) = (out[i], next[j]);
            scratch.push(a.min(b));
            i += usize::from(a <= b);
            j += usize::from(b <= a);
        }
        scratch.extend_from_slice(&out[i..]);
        scratch.extend_from_slice(&next[j..]);
        std::mem::swap(&mut out, &mut scratch);
    }
    Cow::Owned(out)
}

impl PolicyTrace<'_> {
    /// A sentence on the condition that decided this policy, e.g.
    /// `users: excluded by group:break-glass` or
    /// `locations: 198.51.100.7 (country unknown) not in embargoed`.
    pub fn detail(&self, rules: &RuleSet, req: &Request<'_>) -> String {
        let p = self.policy;
        let who = || match &req.user {
            Some(u) => format!("{} ({})", u.email, u.user_type.as_str()),
            None => "anonymous".into(),
        };
        let list = |entries: &[UserEntry]| {
            entries
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let app = rules.app_name(req.app).unwrap_or("?");
        let mut s = String::new();
        let _ = match self.reason {
            Reason::Applies => {
                let asks = match (&p.grant, p.sign_in_frequency) {
                    (Some(Grant::Block), _) => "block".to_string(),
                    (Some(Grant::Require { controls, operator }), f) => {
                        let names: Vec<&str> = controls.iter().map(|c| c.as_str()).collect();
                        let op = if *operator == Operator::Any {
                            " (any)"
                        } else {
                            ""
                        };
                        let met = if self.satisfied {
                            format!("met (session MFA: {})", req.mfa)
                        } else {
                            format!("not met (session MFA: {})", req.mfa)
                        };
                        let freq = f
                            .map(|f| format!(", sign-in every {}", format_duration(f)))
                            .unwrap_or_default();
                        format!("require {}{op}: {met}{freq}", names.join(", "))
                    }
                    (None, Some(f)) => format!("sign-in every {}", format_duration(f)),
                    (None, None) => "nothing".into(),
                };
                write!(s, "all conditions match; asks {asks}")
            }
            Reason::Disabled => write!(s, "state: disabled"),
            Reason::NotSignedIn => write!(
                s,
                "users: not signed in (only a policy for all users decides before sign-in)"
            ),
            Reason::UserExcluded => {
                let by = self.matched.and_then(|i| p.users.exclude.get(i as usize));
                write!(
                    s,
                    "users: excluded by {}",
                    by.map(ToString::to_string).unwrap_or_default()
                )
            }
            Reason::UserNotIncluded => {
                write!(s, "users: {} not in [{}]", who(), list(&p.users.include))
            }
            Reason::AppExcluded => write!(s, "apps: {app} excluded"),
            Reason::AppNotIncluded => write!(s, "apps: {app} not included"),
            Reason::ClientAppExcluded => write!(s, "client_apps: {} excluded", req.client_app),
            Reason::ClientAppNotIncluded => {
                write!(s, "client_apps: {} not included", req.client_app)
            }
            Reason::PlatformExcluded => write!(s, "platforms: {} excluded", req.platform),
            Reason::PlatformNotIncluded => write!(s, "platforms: {} not included", req.platform),
            Reason::LocationExcluded | Reason::LocationNotIncluded => {
                let ip = req.ip.map_or("no address".to_string(), |ip| ip.to_string());
                let (verb, names) = match (self.reason, &p.locations) {
                    (Reason::LocationExcluded, Some(c)) => {
                        ("in excluded", c.exclude_names.join(", "))
                    }
                    (_, Some(c)) => ("not in", c.include_names.join(", ")),
                    _ => ("not in", String::new()),
                };
                write!(
                    s,
                    "locations: {ip} (country {}) {verb} {names}",
                    req.country
                )
            }
            Reason::PathExcluded | Reason::PathNotIncluded => {
                let (verb, patterns) = match (self.reason, &p.paths) {
                    (Reason::PathExcluded, Some(c)) => {
                        ("excluded by", c.exclude_patterns.join(", "))
                    }
                    (_, Some(c)) => ("not in", c.include_patterns.join(", ")),
                    _ => ("not in", String::new()),
                };
                write!(s, "paths: {} {verb} [{patterns}]", req.path)
            }
            Reason::MethodNotIncluded => write!(s, "methods: {} not included", req.method),
        };
        s
    }
}

#[cfg(test)]
mod tests {
    use super::merge_sorted;

    #[test]
    fn merge_dedups_and_sorts() {
        assert_eq!(
            merge_sorted(&[&[1, 4, 9], &[2, 4, 10], &[0, 9]]),
            vec![0, 1, 2, 4, 9, 10]
        );
        assert_eq!(merge_sorted(&[]), Vec::<u32>::new());
        assert_eq!(merge_sorted(&[&[3]]), vec![3]);
    }
}
