//! `rules lint`: findings about a compiled rule set that compile cannot call
//! errors — rules that are valid but almost surely not what the author
//! meant. Pure like the rest of the crate: the date and the GeoIP countries
//! come in as [`LintOptions`].
//!
//! Precise rather than clever: `shadowed` and `conflicting` are reported
//! only when the overlap is proven from the conditions as written (see
//! `covers` and `overlaps`); a pair whose overlap depends on what IP ranges
//! or path globs have in common is not reported. Each finding points at the
//! `name:` of the policy it is about (the later one of a pair) or of the
//! named location.

use crate::error::SourcePos;
use crate::model::{
    Grant, LocationCondition, MaskCondition, Policy, RuleSet, State, UserCondition, UserEntry,
};
use geoip::{Country, CountryCode, LocationSet};
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// What a finding is about; `as_str` is the rule id printed and in `--json`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LintKind {
    Shadowed,
    Conflicting,
    Overbroad,
    Unreachable,
    Unused,
    StaleReportOnly,
}

impl LintKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LintKind::Shadowed => "shadowed",
            LintKind::Conflicting => "conflicting",
            LintKind::Overbroad => "overbroad",
            LintKind::Unreachable => "unreachable",
            LintKind::Unused => "unused",
            LintKind::StaleReportOnly => "stale-report-only",
        }
    }
}

/// One finding: where, which rule, what is wrong and the one-line fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub at: SourcePos,
    pub kind: LintKind,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}; fix: {}",
            self.at,
            self.kind.as_str(),
            self.message,
            self.fix
        )
    }
}

/// The inputs of a lint beyond the rules.
#[derive(Clone, Debug, Default)]
pub struct LintOptions {
    /// `lint.break_glass`: accounts every tenant-wide block must exclude.
    /// Empty: any user exclusion will do.
    pub break_glass: Vec<UserEntry>,
    /// `lint.report_only_max_age`.
    pub report_only_max_age: Duration,
    /// Today, for `stale-report-only`; `None` skips that kind.
    pub today: Option<time::Date>,
    /// The countries the GeoIP database places some address in; `None`
    /// (no database configured) skips the country check.
    pub known_countries: Option<BTreeSet<CountryCode>>,
}

/// Every finding, ordered by file position.
pub fn lint(rules: &RuleSet, opts: &LintOptions) -> Vec<Finding> {
    let mut out = Vec::new();
    unused_locations(rules, &mut out);
    unreachable_locations(rules, opts, &mut out);
    let unreachable: Vec<bool> = rules
        .policies
        .iter()
        .map(|p| unreachable_policy(rules, p, &mut out))
        .collect();
    for (i, p) in rules.policies.iter().enumerate() {
        overbroad(p, opts, &mut out);
        stale(p, opts, &mut out);
        if unreachable[i] || p.state != State::Enabled {
            continue;
        }
        // Pairs: the finding is about `p`, the later policy.
        for (j, q) in rules.policies[..i].iter().enumerate() {
            if unreachable[j] || q.state != State::Enabled {
                continue;
            }
            pair(rules, q, p, &mut out);
        }
    }
    out.sort_by(|a, b| {
        (&a.at.file, a.at.line, a.at.column, a.kind).cmp(&(
            &b.at.file,
            b.at.line,
            b.at.column,
            b.kind,
        ))
    });
    // A policy shadowed by several others is reported once.
    out.dedup_by(|b, a| a.kind == b.kind && a.at == b.at);
    out
}

fn finding(at: &SourcePos, kind: LintKind, message: String, fix: impl Into<String>) -> Finding {
    Finding {
        at: at.clone(),
        kind,
        message,
        fix: fix.into(),
    }
}

fn unused_locations(rules: &RuleSet, out: &mut Vec<Finding>) {
    let mut used = LocationSet::new();
    for p in &rules.policies {
        if let Some(c) = &p.locations {
            used.union_with(&c.include);
            used.union_with(&c.exclude);
        }
    }
    for (i, l) in rules.locations.iter().enumerate() {
        if !used.contains(i) {
            out.push(finding(
                &l.source,
                LintKind::Unused,
                format!("no policy names the location `{}`", l.name),
                "name it in a policy's `locations` or delete it",
            ));
        }
    }
}

fn unreachable_locations(rules: &RuleSet, opts: &LintOptions, out: &mut Vec<Finding>) {
    let Some(known) = &opts.known_countries else {
        return;
    };
    for l in &rules.locations {
        let absent: Vec<&str> = l
            .countries
            .iter()
            .filter_map(|c| match c {
                Country::Known(code) if !known.contains(code) => Some(code.as_str()),
                _ => None,
            })
            .collect();
        if !absent.is_empty() {
            out.push(finding(
                &l.source,
                LintKind::Unreachable,
                format!(
                    "the GeoIP database places no address in {} (location `{}`)",
                    absent.join(", "),
                    l.name
                ),
                "check the country code, or use a database that covers it",
            ));
        }
    }
}

/// Reports a policy whose conditions no request can meet, and says so.
fn unreachable_policy(rules: &RuleSet, p: &Policy, out: &mut Vec<Finding>) -> bool {
    if p.state == State::Disabled {
        return false;
    }
    let why = if users_empty(&p.users) {
        Some("every user it includes is also excluded".to_string())
    } else if apps_of(rules, p).is_empty() {
        Some("every app it includes is also excluded".into())
    } else if p.platforms.is_some_and(|m| mask(Some(m)) == 0) {
        Some("every platform it includes is also excluded".into())
    } else if p.client_apps.is_some_and(|m| mask(Some(m)) == 0) {
        Some("every client app type it includes is also excluded".into())
    } else if p
        .locations
        .as_ref()
        .is_some_and(|c| !c.include_all && c.include.iter().all(|i| c.exclude.contains(i)))
    {
        Some("every location it includes is also excluded".into())
    } else if p.paths.as_ref().is_some_and(|c| {
        c.include_patterns
            .iter()
            .all(|i| c.exclude_patterns.contains(i))
    }) {
        Some("every path pattern it includes is also excluded".into())
    } else {
        None
    };
    match why {
        Some(why) => {
            out.push(finding(
                &p.source,
                LintKind::Unreachable,
                format!("no request can meet policy `{}`: {why}", p.name),
                "remove the exclusion that cancels the inclusion, or delete the policy",
            ));
            true
        }
        None => false,
    }
}

/// Whether no signed-in user (and so no request) can match.
fn users_empty(u: &UserCondition) -> bool {
    let everyone_out =
        u.exclude.contains(&UserEntry::Guests) && u.exclude.contains(&UserEntry::Members);
    everyone_out || u.include.iter().all(|e| u.exclude.contains(e))
}

fn overbroad(p: &Policy, opts: &LintOptions, out: &mut Vec<Finding>) {
    let everyone = p.users.include.contains(&UserEntry::All);
    let every_app = p.apps.all && p.apps.exclude.is_empty();
    if p.state != State::Enabled || p.grant != Some(Grant::Block) || !everyone || !every_app {
        return;
    }
    let (ok, fix) = if opts.break_glass.is_empty() {
        (
            !p.users.exclude.is_empty(),
            "exclude the emergency accounts in `users.exclude` (and list them in the config's `lint.break_glass`)".to_string(),
        )
    } else {
        let names: Vec<String> = opts.break_glass.iter().map(ToString::to_string).collect();
        (
            opts.break_glass.iter().any(|b| p.users.exclude.contains(b)),
            format!("add one of {} to `users.exclude`", names.join(", ")),
        )
    };
    if !ok {
        out.push(finding(
            &p.source,
            LintKind::Overbroad,
            format!(
                "policy `{}` blocks all users on all apps and excludes no break-glass account",
                p.name
            ),
            fix,
        ));
    }
}

fn stale(p: &Policy, opts: &LintOptions, out: &mut Vec<Finding>) {
    let (Some(today), Some((since, _))) = (opts.today, &p.since) else {
        return;
    };
    if p.state != State::ReportOnly {
        return;
    }
    let age_days = (today - *since).whole_days();
    let max_days = (opts.report_only_max_age.as_secs() / 86_400) as i64;
    if age_days > max_days {
        out.push(finding(
            &p.source,
            LintKind::StaleReportOnly,
            format!(
                "policy `{}` has been report-only since {since} ({age_days} days, more than {max_days})",
                p.name
            ),
            "switch it to `enabled` or `disabled` (and update `since`)",
        ));
    }
}

/// `later` against an earlier enabled policy: shadowed (an earlier block,
/// or the same grant, covers every request it applies to) or conflicting.
fn pair(rules: &RuleSet, earlier: &Policy, later: &Policy, out: &mut Vec<Finding>) {
    let same_grant_covers = match (&earlier.grant, &later.grant) {
        (Some(Grant::Block), _) => true,
        (Some(a @ Grant::Require { .. }), Some(b)) => {
            a == b
                && match (earlier.sign_in_frequency, later.sign_in_frequency) {
                    (_, None) => true,
                    (Some(e), Some(l)) => e <= l,
                    (None, Some(_)) => false,
                }
        }
        _ => false,
    };
    // Of two blocks the first in file order is the one a refusal names
    // (and its reason), so an earlier block covered by a later one still
    // matters.
    let reverse_covers = match (&later.grant, &earlier.grant) {
        (Some(Grant::Block), Some(Grant::Block)) => false,
        (Some(Grant::Block), _) => true,
        (Some(a @ Grant::Require { .. }), Some(b)) => {
            a == b
                && match (later.sign_in_frequency, earlier.sign_in_frequency) {
                    (_, None) => true,
                    (Some(l), Some(e)) => l <= e,
                    (None, Some(_)) => false,
                }
        }
        _ => false,
    };
    if !(same_grant_covers && covers(rules, earlier, later))
        && reverse_covers
        && covers(rules, later, earlier)
    {
        out.push(shadow(earlier, later));
        return;
    }
    if same_grant_covers && covers(rules, earlier, later) {
        out.push(shadow(later, earlier));
        return;
    }
    let (block, grant) = match (&earlier.grant, &later.grant) {
        (Some(Grant::Block), Some(Grant::Require { .. })) => (earlier, later),
        (Some(Grant::Require { .. }), Some(Grant::Block)) => (later, earlier),
        _ => return,
    };
    if users_equal(&block.users, &grant.users)
        && apps_of(rules, block) == apps_of(rules, grant)
        && overlaps(block, grant)
    {
        out.push(finding(
            &later.source,
            LintKind::Conflicting,
            format!(
                "policies `{}` and `{}` apply to the same users and apps and overlap: there the block wins and the grant of `{}` is never offered",
                earlier.name, later.name, grant.name
            ),
            format!(
                "if `{}` is meant as an exception, exclude its case from `{}`",
                grant.name, block.name
            ),
        ));
    }
}

/// `shadowed` is reported at the policy that never matters.
fn shadow(shadowed: &Policy, by: &Policy) -> Finding {
    let what = if by.grant == Some(Grant::Block) {
        "blocks"
    } else {
        "demands the same"
    };
    finding(
        &shadowed.source,
        LintKind::Shadowed,
        format!(
            "policy `{}` never changes an outcome: `{}` ({}) {what} for every request it applies to",
            shadowed.name, by.name, by.source
        ),
        "delete it, or narrow the other policy",
    )
}

/// The apps a policy applies to, by id.
fn apps_of(rules: &RuleSet, p: &Policy) -> Vec<u32> {
    (0..rules.apps.len() as u32)
        .filter(|id| (p.apps.all || p.apps.include.contains(id)) && !p.apps.exclude.contains(id))
        .collect()
}

/// The bits a mask condition lets through (`None`: all).
fn mask(m: Option<MaskCondition>) -> u8 {
    m.map_or(u8::MAX, |m| m.include & !m.exclude)
}

fn subset(a: &LocationSet, b: &LocationSet) -> bool {
    a.iter().all(|i| b.contains(i))
}

/// Proven: `a` applies to every request `b` applies to.
fn covers(rules: &RuleSet, a: &Policy, b: &Policy) -> bool {
    let users = a.users.exclude.iter().all(|e| b.users.exclude.contains(e))
        && (a.users.include.contains(&UserEntry::All)
            || b.users.include.iter().all(|e| a.users.include.contains(e)));
    let apps = {
        let of_a = apps_of(rules, a);
        apps_of(rules, b).iter().all(|id| of_a.contains(id))
    };
    let masks = mask(b.platforms) & !mask(a.platforms) == 0
        && mask(b.client_apps) & !mask(a.client_apps) == 0;
    let methods = match (a.methods, b.methods) {
        (None, _) => true,
        (Some(ma), Some(mb)) => mb & !ma == 0,
        (Some(_), None) => false,
    };
    let locations = match (&a.locations, &b.locations) {
        (None, _) => true,
        (Some(la), None) => la.include_all && la.exclude.is_empty(),
        (Some(la), Some(lb)) => {
            subset(&la.exclude, &lb.exclude)
                && (la.include_all || (!lb.include_all && subset(&lb.include, &la.include)))
        }
    };
    let paths = match (&a.paths, &b.paths) {
        (None, _) => true,
        (Some(pa), Some(pb)) => same_paths(pa, pb),
        (Some(_), None) => false,
    };
    users && apps && masks && methods && locations && paths
}

fn same_paths(a: &crate::paths::PathCondition, b: &crate::paths::PathCondition) -> bool {
    a.include_patterns == b.include_patterns && a.exclude_patterns == b.exclude_patterns
}

fn users_equal(a: &UserCondition, b: &UserCondition) -> bool {
    let same = |x: &[UserEntry], y: &[UserEntry]| {
        x.iter().all(|e| y.contains(e)) && y.iter().all(|e| x.contains(e))
    };
    same(&a.include, &b.include) && same(&a.exclude, &b.exclude)
}

/// Proven: some request meets both policies' other conditions (users and
/// apps are compared by the caller). Locations and paths count only when one
/// side has none or both are written the same: whether two sets of IP
/// ranges or globs meet is not decided here.
fn overlaps(a: &Policy, b: &Policy) -> bool {
    let masks = mask(a.platforms) & mask(b.platforms) != 0
        && mask(a.client_apps) & mask(b.client_apps) != 0;
    let methods = a.methods.unwrap_or(u16::MAX) & b.methods.unwrap_or(u16::MAX) != 0;
    let locations = match (&a.locations, &b.locations) {
        (None, _) | (_, None) => true,
        (Some(x), Some(y)) => same_locations(x, y),
    };
    let paths = match (&a.paths, &b.paths) {
        (None, _) | (_, None) => true,
        (Some(x), Some(y)) => same_paths(x, y),
    };
    masks && methods && locations && paths
}

fn same_locations(a: &LocationCondition, b: &LocationCondition) -> bool {
    a.include_all == b.include_all
        && subset(&a.include, &b.include)
        && subset(&b.include, &a.include)
        && subset(&a.exclude, &b.exclude)
        && subset(&b.exclude, &a.exclude)
}

#[cfg(test)]
#[path = "lint_tests.rs"]
mod tests;
