//! Property tests of the policy semantics (DESIGN.md, "Policy semantics
//! (binding)"): random but valid rule files, written as YAML text from a small
//! model, and random requests with every fact stated explicitly.
//!
//! Each property is its own test with a modest case count so the file runs in
//! a few seconds in a debug build. A failure prints the rule file and the
//! request; proptest shrinks both.

use geoip::Country;
use proptest::prelude::*;
use proptest::sample::{Index, subsequence};
use rules::*;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

const CASES: u32 = 256;

const APPS: &[&str] = &["payroll", "wiki", "crm"];
const LOCATIONS: &[&str] = &["l0", "l1", "l2"];
const GROUPS: &[&str] = &["g0", "g1", "g2"];
const DOMAINS: &[&str] = &["d0.example", "d1.example"];
const LOCALS: &[&str] = &["u0", "u1"];
const CIDRS: &[&str] = &[
    "10.0.0.0/8",
    "10.1.0.0/16",
    "203.0.113.0/24",
    "198.51.100.7/32",
    "2001:db8::/32",
    "2001:db8:10::/48",
    "::1/128",
];
const IPS: &[&str] = &[
    "10.1.2.3",
    "10.200.0.1",
    "203.0.113.9",
    "198.51.100.7",
    "192.0.2.1",
    "2001:db8:10::5",
    "2001:db8:ffff::1",
    "2001:dead::1",
    "::1",
    "::ffff:10.1.2.3",
];
const COUNTRIES: &[&str] = &["DE", "US", "KP", "FR", "unknown"];
const PATHS: &[&str] = &["/", "/admin", "/admin/users", "/api/v1/export", "/public/x"];
const PATTERNS: &[&str] = &["/admin/*", "/api/**", "/", "/public/*", "/api/*/export"];
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const PLATFORMS: &[&str] = &[
    "android", "ios", "windows", "macos", "linux", "chromeos", "unknown",
];
const CLIENT_APPS: &[&str] = &["browser", "api"];
const FREQUENCIES: &[&str] = &["30m", "1h", "12h", "7d"];
const CONTROLS: &[&str] = &[
    "[mfa]",
    "[mfa]",
    "[phishing_resistant_mfa]",
    "[mfa, phishing_resistant_mfa]",
    "[phishing_resistant_mfa, mfa]",
];
const STRENGTHS: &[MfaStrength] = &[
    MfaStrength::None,
    MfaStrength::Mfa,
    MfaStrength::PhishingResistant,
];

// ---------------------------------------------------------------------------
// The model a rule file is written from.

#[derive(Clone, Debug)]
struct Cond {
    include: Vec<String>,
    exclude: Vec<String>,
}

#[derive(Clone, Debug)]
enum GrantModel {
    Block,
    Mfa {
        operator: Option<&'static str>,
        /// `[mfa]`, `[phishing_resistant_mfa]` or both, as written.
        controls: &'static str,
    },
}

#[derive(Clone, Debug)]
struct PolicyModel {
    name: String,
    state: Option<&'static str>,
    users: Cond,
    apps: Cond,
    platforms: Option<Cond>,
    client_apps: Option<Cond>,
    locations: Option<Cond>,
    paths: Option<Cond>,
    methods: Option<Vec<String>>,
    grant: Option<GrantModel>,
    sign_in_frequency: Option<&'static str>,
}

#[derive(Clone, Debug)]
struct LocationModel {
    name: &'static str,
    ip_ranges: Vec<String>,
    countries: Vec<String>,
    trusted: bool,
}

#[derive(Clone, Debug)]
struct FileModel {
    locations: Vec<LocationModel>,
    policies: Vec<PolicyModel>,
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

fn cond_yaml(out: &mut String, field: &str, c: &Cond) {
    let _ = writeln!(
        out,
        "    {field}: {{ include: {}, exclude: {} }}",
        list(&c.include),
        list(&c.exclude)
    );
}

impl FileModel {
    fn yaml(&self) -> String {
        let mut out = String::from("named_locations:\n");
        for l in &self.locations {
            let _ = writeln!(out, "  - name: {}", l.name);
            let _ = writeln!(out, "    ip_ranges: {}", list(&l.ip_ranges));
            let _ = writeln!(out, "    countries: {}", list(&l.countries));
            let _ = writeln!(out, "    trusted: {}", l.trusted);
        }
        if self.policies.is_empty() {
            out.push_str("policies: []\n");
            return out;
        }
        out.push_str("policies:\n");
        for p in &self.policies {
            let _ = writeln!(out, "  - name: {:?}", p.name);
            if let Some(s) = p.state {
                let _ = writeln!(out, "    state: {s}");
            }
            cond_yaml(&mut out, "users", &p.users);
            cond_yaml(&mut out, "apps", &p.apps);
            for (field, c) in [
                ("platforms", &p.platforms),
                ("client_apps", &p.client_apps),
                ("locations", &p.locations),
                ("paths", &p.paths),
            ] {
                if let Some(c) = c {
                    cond_yaml(&mut out, field, c);
                }
            }
            if let Some(m) = &p.methods {
                let _ = writeln!(out, "    methods: {}", list(m));
            }
            match &p.grant {
                None => {}
                Some(GrantModel::Block) => out.push_str("    grant: block\n"),
                Some(GrantModel::Mfa {
                    operator: None,
                    controls,
                }) => {
                    let _ = writeln!(out, "    grant: {{ require: {controls} }}");
                }
                Some(GrantModel::Mfa {
                    operator: Some(o),
                    controls,
                }) => {
                    let _ = writeln!(out, "    grant: {{ require: {controls}, operator: {o} }}");
                }
            }
            if let Some(f) = p.sign_in_frequency {
                let _ = writeln!(out, "    session: {{ sign_in_frequency: {f} }}");
            }
        }
        out
    }

    fn compile(&self) -> RuleSet {
        let yaml = self.yaml();
        let ctx = CompileContext {
            apps: APPS.iter().map(|s| s.to_string()).collect(),
        };
        match RuleSet::from_sources(&[(PathBuf::from("p.yaml"), yaml.clone())], &ctx) {
            Ok(r) => r,
            Err(e) => panic!("a generated rule file did not compile: {e:#?}\n{yaml}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Strategies.

fn owned(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

fn user_words() -> Vec<String> {
    let mut w = owned(&["guests", "members"]);
    w.extend(GROUPS.iter().map(|g| format!("group:{g}")));
    w.extend(DOMAINS.iter().map(|d| format!("domain:{d}")));
    for l in LOCALS {
        for d in DOMAINS {
            w.push(format!("{l}@{d}"));
        }
    }
    w
}

/// `include` is `[all]` or a non-empty subset; `exclude` a small subset
/// (never `all`, which the compiler rejects).
fn cond(words: Vec<String>, all_allowed: bool) -> impl Strategy<Value = Cond> {
    let n = words.len();
    let include = if all_allowed {
        prop_oneof![
            1 => Just(vec!["all".to_string()]),
            2 => subsequence(words.clone(), 1..=n.min(3)),
        ]
        .boxed()
    } else {
        subsequence(words.clone(), 1..=n.min(3)).boxed()
    };
    (include, subsequence(words, 0..=n.min(2)))
        .prop_map(|(include, exclude)| Cond { include, exclude })
}

fn location_words() -> Vec<String> {
    let mut w = owned(LOCATIONS);
    w.push("trusted".into());
    w
}

fn state() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        4 => Just(None),
        2 => Just(Some("enabled")),
        1 => Just(Some("report_only")),
        1 => Just(Some("disabled")),
    ]
}

fn grant() -> impl Strategy<Value = Option<GrantModel>> {
    prop_oneof![
        1 => Just(None),
        2 => Just(Some(GrantModel::Block)),
        3 => (
            prop::option::of(prop::sample::select(vec!["all", "any"])),
            prop::sample::select(CONTROLS),
        )
            .prop_map(|(operator, controls)| Some(GrantModel::Mfa { operator, controls })),
    ]
}

fn policy() -> impl Strategy<Value = PolicyModel> {
    (
        (
            state(),
            cond(user_words(), true),
            cond(owned(APPS), true),
            prop::option::weighted(0.3, cond(owned(PLATFORMS), true)),
            prop::option::weighted(0.2, cond(owned(CLIENT_APPS), true)),
        ),
        (
            prop::option::weighted(0.3, cond(location_words(), true)),
            prop::option::weighted(0.2, cond(owned(PATTERNS), true)),
            prop::option::weighted(0.2, subsequence(owned(METHODS), 1..=3)),
            grant(),
            prop::option::weighted(0.3, prop::sample::select(FREQUENCIES)),
        ),
    )
        .prop_map(
            |(
                (state, users, apps, platforms, client_apps),
                (locations, paths, methods, grant, sign_in_frequency),
            )| {
                // A policy needs a grant or a session control.
                let grant = match (grant, sign_in_frequency) {
                    (None, None) => Some(GrantModel::Mfa {
                        operator: None,
                        controls: "[mfa]",
                    }),
                    (g, _) => g,
                };
                PolicyModel {
                    name: String::new(),
                    state,
                    users,
                    apps,
                    platforms,
                    client_apps,
                    locations,
                    paths,
                    methods,
                    grant,
                    sign_in_frequency,
                }
            },
        )
}

fn location(name: &'static str) -> impl Strategy<Value = LocationModel> {
    (
        subsequence(owned(CIDRS), 0..=2),
        subsequence(owned(COUNTRIES), 0..=2),
        any::<bool>(),
    )
        .prop_map(move |(ip_ranges, mut countries, trusted)| {
            // A named location needs ranges or countries.
            if ip_ranges.is_empty() && countries.is_empty() {
                countries.push("unknown".into());
            }
            LocationModel {
                name,
                ip_ranges,
                countries,
                trusted,
            }
        })
}

fn named(mut policies: Vec<PolicyModel>) -> Vec<PolicyModel> {
    for (i, p) in policies.iter_mut().enumerate() {
        p.name = format!("p{i}");
    }
    policies
}

fn file_with(max_policies: usize) -> impl Strategy<Value = FileModel> {
    (
        (
            location(LOCATIONS[0]),
            location(LOCATIONS[1]),
            location(LOCATIONS[2]),
        ),
        prop::collection::vec(policy(), 0..=max_policies),
    )
        .prop_map(|((a, b, c), policies)| FileModel {
            locations: vec![a, b, c],
            policies: named(policies),
        })
}

fn file() -> impl Strategy<Value = FileModel> {
    file_with(8)
}

fn platform() -> impl Strategy<Value = Platform> {
    prop::sample::select(Platform::ALL.to_vec())
}

fn request() -> impl Strategy<Value = RequestFacts> {
    (
        (
            prop::option::weighted(
                0.85,
                (prop::sample::select(LOCALS), prop::sample::select(DOMAINS)),
            ),
            prop::sample::select(vec![UserType::Guest, UserType::Member]),
            subsequence(owned(GROUPS), 0..=2),
            prop::sample::select(APPS),
            prop::sample::select(PATHS),
            prop::sample::select(METHODS),
        ),
        (
            prop::option::weighted(0.8, prop::sample::select(IPS)),
            prop::sample::select(COUNTRIES),
            platform(),
            prop::sample::select(vec![ClientApp::Browser, ClientApp::Api]),
            prop::sample::select(STRENGTHS),
            prop::option::of(0u64..(10 * 24 * 3600)),
            prop::option::weighted(0.7, any::<bool>()),
        ),
    )
        .prop_map(
            |(
                (user, user_type, groups, app, path, method),
                (ip, country, platform, client_app, mfa, ago, assigned),
            )| RequestFacts {
                user: user.map(|(l, d)| format!("{l}@{d}")),
                user_type: Some(user_type),
                groups,
                app: app.to_string(),
                path: Some(path.to_string()),
                method: Some(method.to_string()),
                ip: ip.map(|s| s.parse::<IpAddr>().expect("test IP")),
                country: Some(Country::parse(country).expect("test country")),
                user_agent: None,
                platform: Some(platform),
                client_app: Some(client_app),
                mfa,
                signed_in_ago: ago.map(Duration::from_secs),
                assigned,
            },
        )
}

// ---------------------------------------------------------------------------
// Deciding.

struct Outcome {
    decision: Decision,
    /// `why` with a blocking policy named rather than numbered, so that rule
    /// sets with different policy indices compare.
    why: String,
}

fn resolve(rules: &RuleSet, facts: &RequestFacts) -> ResolvedFacts {
    facts
        .resolve(rules, &[], &|_| Country::Unknown)
        .expect("the request names a configured app")
}

fn why_key(rules: &RuleSet, why: Why) -> String {
    match why {
        Why::BlockedByPolicy(i) => format!(
            "blocked_by_policy({})",
            rules
                .policies()
                .get(i as usize)
                .map_or("<out of range>", |p| &*p.name)
        ),
        other => other.as_str().to_string(),
    }
}

/// Decides with the indexed evaluator (the hot path).
fn decide(rules: &RuleSet, facts: &RequestFacts) -> Outcome {
    let resolved = resolve(rules, facts);
    let e = evaluate(rules, &resolved.request());
    Outcome {
        decision: e.decision,
        why: why_key(rules, e.why),
    }
}

fn decide_file(f: &FileModel, facts: &RequestFacts) -> Outcome {
    decide(&f.compile(), facts)
}

fn everyone_blocks(name: &str) -> PolicyModel {
    PolicyModel {
        name: name.into(),
        state: None,
        users: Cond {
            include: owned(&["all"]),
            exclude: vec![],
        },
        apps: Cond {
            include: owned(&["all"]),
            exclude: vec![],
        },
        platforms: None,
        client_apps: None,
        locations: None,
        paths: None,
        methods: None,
        grant: Some(GrantModel::Block),
        sign_in_frequency: None,
    }
}

/// Whether a `users` entry (as written) names the request's user; the
/// generated words are lower case, as the resolved request is.
fn user_entry_matches(entry: &str, facts: &RequestFacts) -> bool {
    let Some(email) = facts.user.as_deref() else {
        return false;
    };
    let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
    match entry {
        "all" => true,
        "guests" => facts.user_type == Some(UserType::Guest),
        "members" => facts.user_type == Some(UserType::Member),
        _ if let Some(g) = entry.strip_prefix("group:") => facts.groups.iter().any(|x| x == g),
        _ if let Some(d) = entry.strip_prefix("domain:") => domain == d,
        _ => email == entry,
    }
}

fn enabled_indices(f: &FileModel) -> Vec<usize> {
    f.policies
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.state, None | Some("enabled")))
        .map(|(i, _)| i)
        .collect()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Integration tests have no `lib.rs` beside them to store
        // regressions next to; a failure prints the shrunk input instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(config())]

    /// The index never loses a policy: the hot path and the full trace give
    /// the same decision and the same `why`.
    #[test]
    fn evaluate_and_explain_agree(f in file(), facts in request()) {
        let rules = f.compile();
        let resolved = resolve(&rules, &facts);
        let req = resolved.request();
        let fast = evaluate(&rules, &req);
        let full = explain(&rules, &req);
        prop_assert_eq!(fast.decision, full.decision, "rules:\n{}", f.yaml());
        prop_assert_eq!(fast.why, full.why, "rules:\n{}", f.yaml());
        prop_assert_eq!(fast.sign_in_frequency, full.sign_in_frequency);
        // Every applying non-disabled policy the full trace finds is also a
        // candidate of the indexed evaluation, with the same verdict.
        for t in full.policies.iter().filter(|t| t.applies) {
            let hit = fast.policies.iter().find(|c| c.index == t.index);
            prop_assert!(
                hit.is_some_and(|c| c.applies && c.result == t.result),
                "policy {} applies but the index lost it\nrules:\n{}",
                t.policy.name,
                f.yaml()
            );
        }
        prop_assert_eq!(full.policies.len(), rules.policies().len());
    }

    /// Exclusions beat inclusions: a policy whose `users.exclude` names the
    /// request's user never applies.
    #[test]
    fn an_excluded_user_is_never_matched(f in file(), facts in request()) {
        let rules = f.compile();
        let resolved = resolve(&rules, &facts);
        let full = explain(&rules, &resolved.request());
        for p in &f.policies {
            if !p.users.exclude.iter().any(|e| user_entry_matches(e, &facts)) {
                continue;
            }
            let t = full
                .policies
                .iter()
                .find(|t| *t.policy.name == *p.name)
                .expect("every policy is traced");
            prop_assert!(!t.applies, "{} applies to an excluded user\nrules:\n{}", p.name, f.yaml());
            prop_assert!(
                matches!(t.reason, Reason::UserExcluded | Reason::Disabled),
                "{}: reason {:?}", p.name, t.reason
            );
        }
    }

    /// `block` in any applying enabled policy wins: a block for everyone
    /// (anonymous requests included) always yields Block.
    #[test]
    fn an_applying_block_always_blocks(f in file(), facts in request(), at in any::<Index>()) {
        let before = decide_file(&f, &facts);
        let mut g = f.clone();
        let i = at.index(g.policies.len() + 1);
        g.policies.insert(i, everyone_blocks("zz-block-everyone"));
        let after = decide_file(&g, &facts);
        prop_assert_eq!(after.decision, Decision::Block, "rules:\n{}", g.yaml());
        if before.decision == Decision::Block {
            prop_assert_eq!(after.decision, Decision::Block);
        }
    }

    /// A block whose conditions do not match the request (another platform)
    /// changes nothing.
    #[test]
    fn a_block_that_does_not_apply_changes_nothing(
        f in file(),
        facts in request(),
        other in platform(),
        at in any::<Index>(),
    ) {
        prop_assume!(Some(other) != facts.platform);
        let before = decide_file(&f, &facts);
        let mut g = f.clone();
        let mut block = everyone_blocks("zz-block-other-platform");
        block.platforms = Some(Cond { include: vec![other.as_str().into()], exclude: vec![] });
        let i = at.index(g.policies.len() + 1);
        g.policies.insert(i, block);
        let after = decide_file(&g, &facts);
        prop_assert_eq!(before.decision, after.decision, "rules:\n{}", g.yaml());
        prop_assert_eq!(before.why, after.why);
    }

    /// `report_only` never changes the outcome: switching an enabled policy
    /// to report-only is the same as removing it.
    #[test]
    fn report_only_is_the_same_as_absent(f in file(), facts in request(), pick in any::<Index>()) {
        let enabled = enabled_indices(&f);
        prop_assume!(!enabled.is_empty());
        let i = enabled[pick.index(enabled.len())];
        let mut reported = f.clone();
        reported.policies[i].state = Some("report_only");
        let mut removed = f.clone();
        removed.policies.remove(i);
        let a = decide_file(&reported, &facts);
        let b = decide_file(&removed, &facts);
        prop_assert_eq!(a.decision, b.decision, "rules:\n{}", reported.yaml());
        prop_assert_eq!(a.why, b.why);
    }

    /// Adding any report-only policy never changes the outcome.
    #[test]
    fn adding_a_report_only_policy_changes_nothing(
        f in file(),
        facts in request(),
        extra in policy(),
        at in any::<Index>(),
    ) {
        let before = decide_file(&f, &facts);
        let mut g = f.clone();
        let mut extra = extra;
        extra.name = "zz-report-only".into();
        extra.state = Some("report_only");
        g.policies.insert(at.index(g.policies.len() + 1), extra);
        let after = decide_file(&g, &facts);
        prop_assert_eq!(before.decision, after.decision, "rules:\n{}", g.yaml());
        prop_assert_eq!(before.why, after.why);
    }

    /// `disabled` policies are skipped: disabling one is the same as removing
    /// it, and adding one changes nothing.
    #[test]
    fn disabled_policies_change_nothing(
        f in file(),
        facts in request(),
        pick in any::<Index>(),
        extra in policy(),
        at in any::<Index>(),
    ) {
        let before = decide_file(&f, &facts);
        if !f.policies.is_empty() {
            let i = pick.index(f.policies.len());
            let mut disabled = f.clone();
            disabled.policies[i].state = Some("disabled");
            let mut removed = f.clone();
            removed.policies.remove(i);
            let a = decide_file(&disabled, &facts);
            let b = decide_file(&removed, &facts);
            prop_assert_eq!(a.decision, b.decision, "rules:\n{}", disabled.yaml());
            prop_assert_eq!(a.why, b.why);
        }
        let mut g = f.clone();
        let mut extra = extra;
        extra.name = "zz-disabled".into();
        extra.state = Some("disabled");
        g.policies.insert(at.index(g.policies.len() + 1), extra);
        let after = decide_file(&g, &facts);
        prop_assert_eq!(before.decision, after.decision, "rules:\n{}", g.yaml());
        prop_assert_eq!(before.why, after.why);
    }

    /// Monotonicity: a second factor, or a stronger one, never takes
    /// access away. An Allow stays Allow, and nothing becomes Block that
    /// was not.
    #[test]
    fn mfa_never_makes_things_worse(f in file(), facts in request()) {
        let rules = f.compile();
        for (weaker, stronger) in [
            (MfaStrength::None, MfaStrength::Mfa),
            (MfaStrength::Mfa, MfaStrength::PhishingResistant),
            (MfaStrength::None, MfaStrength::PhishingResistant),
        ] {
            let without = decide(&rules, &RequestFacts { mfa: weaker, ..facts.clone() });
            let with = decide(&rules, &RequestFacts { mfa: stronger, ..facts.clone() });
            if without.decision == Decision::Allow {
                prop_assert_eq!(with.decision, Decision::Allow, "rules:\n{}", f.yaml());
            }
            if with.decision == Decision::Block {
                prop_assert_eq!(without.decision, Decision::Block, "rules:\n{}", f.yaml());
            }
        }
    }

    /// `phishing_resistant_mfa` is met only by phishing-resistant MFA:
    /// with an enabled policy for everyone that asks for it, nothing but a
    /// phishing-resistant session is allowed; a session with plain MFA is
    /// told it needs a stronger kind (`stronger_mfa_required`), one without
    /// any that it needs MFA; and the strength asked is phishing-resistant.
    #[test]
    fn phishing_resistant_mfa_is_met_only_by_a_phishing_resistant_session(
        f in file(),
        facts in request(),
    ) {
        let mut g = f.clone();
        g.policies.push(PolicyModel {
            name: "zz-phishing-resistant".into(),
            state: None,
            users: Cond { include: vec!["all".into()], exclude: vec![] },
            apps: Cond { include: vec!["all".into()], exclude: vec![] },
            platforms: None,
            client_apps: None,
            locations: None,
            paths: None,
            methods: None,
            grant: Some(GrantModel::Mfa { operator: None, controls: "[phishing_resistant_mfa]" }),
            sign_in_frequency: None,
        });
        let rules = g.compile();
        let resolved = resolve(&rules, &facts);
        let req = resolved.request();
        for e in [evaluate(&rules, &req), explain(&rules, &req)] {
            if e.decision == Decision::Allow {
                prop_assert_eq!(facts.mfa, MfaStrength::PhishingResistant, "rules:\n{}", g.yaml());
            }
            if req.user.is_some() {
                prop_assert_eq!(e.mfa_asked, MfaStrength::PhishingResistant);
            }
            if e.decision == Decision::Mfa {
                let want = if facts.mfa == MfaStrength::Mfa {
                    Why::StrongerMfaRequired
                } else {
                    Why::MfaRequired
                };
                prop_assert_eq!(facts.mfa < MfaStrength::PhishingResistant, true);
                prop_assert_eq!(e.why, want);
            }
        }
    }

    /// The strength asked explains the step-up: a request whose session
    /// has at least `mfa_asked` is never sent to step up, and a request sent
    /// to step up always has less than it.
    #[test]
    fn step_up_is_asked_exactly_below_the_strength_asked(f in file(), facts in request()) {
        let rules = f.compile();
        let resolved = resolve(&rules, &facts);
        let e = evaluate(&rules, &resolved.request());
        if e.decision == Decision::Mfa {
            prop_assert!(facts.mfa < e.mfa_asked, "rules:\n{}", f.yaml());
        }
        if facts.mfa >= e.mfa_asked {
            prop_assert_ne!(e.decision, Decision::Mfa, "rules:\n{}", f.yaml());
        }
    }

    /// Policy order does not matter (only which blocking policy is named
    /// first may change).
    #[test]
    fn policy_order_does_not_matter(
        (f, shuffled) in file().prop_flat_map(|f| {
            let policies = f.policies.clone();
            (Just(f), Just(policies).prop_shuffle())
        }),
        facts in request(),
    ) {
        let g = FileModel { locations: f.locations.clone(), policies: shuffled };
        let rules_f = f.compile();
        let rules_g = g.compile();
        let a = evaluate(&rules_f, &resolve(&rules_f, &facts).request());
        let b = evaluate(&rules_g, &resolve(&rules_g, &facts).request());
        prop_assert_eq!(a.decision, b.decision, "rules:\n{}\nshuffled:\n{}", f.yaml(), g.yaml());
        prop_assert_eq!(a.why.as_str(), b.why.as_str());
        prop_assert_eq!(a.sign_in_frequency, b.sign_in_frequency);
    }

    /// Not signed in is never Allow, whatever the policies say.
    #[test]
    fn anonymous_requests_are_never_allowed(f in file(), facts in request()) {
        let facts = RequestFacts { user: None, ..facts };
        let rules = f.compile();
        let resolved = resolve(&rules, &facts);
        let req = resolved.request();
        for e in [evaluate(&rules, &req), explain(&rules, &req)] {
            prop_assert_ne!(e.decision, Decision::Allow, "rules:\n{}", f.yaml());
        }
    }
}

/// The properties above are only as good as the inputs: with a fixed seed,
/// the generators reach every decision, every `why`, excluded users and
/// blocking policies, so no property passes vacuously.
#[test]
fn generators_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeMap;

    let mut runner = TestRunner::deterministic();
    let strategy = (file(), request());
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut excluded = 0;
    for _ in 0..512 {
        let (f, facts) = strategy
            .new_tree(&mut runner)
            .expect("generate a case")
            .current();
        let rules = f.compile();
        let resolved = resolve(&rules, &facts);
        let e = explain(&rules, &resolved.request());
        *seen.entry(e.decision.as_str()).or_default() += 1;
        *seen.entry(e.why.as_str()).or_default() += 1;
        excluded += e
            .policies
            .iter()
            .filter(|t| t.reason == Reason::UserExcluded)
            .count();
    }
    for want in Decision::NAMES.iter().copied().chain([
        "blocked_by_policy",
        "not_signed_in",
        "not_assigned",
        "sign_in_too_old",
        "mfa_required",
        "stronger_mfa_required",
        "grants_met",
        "no_policy_applied",
    ]) {
        assert!(
            seen.get(want).copied().unwrap_or(0) >= 5,
            "generators rarely reach `{want}`: {seen:?}"
        );
    }
    assert!(
        excluded >= 20,
        "generators rarely exclude a user: {excluded}"
    );
}
