//! Policy semantics (DESIGN.md, "Policy semantics (binding)"): each test is a
//! rule snippet, a request, and the expected decision and reasons.

use geoip::Country;
use rules::*;
use std::path::PathBuf;
use std::time::Duration;

const APPS: &[&str] = &["payroll", "wiki", "crm"];

fn ctx() -> CompileContext {
    CompileContext {
        apps: APPS.iter().map(|s| s.to_string()).collect(),
    }
}

fn compile(yaml: &str) -> RuleSet {
    match RuleSet::from_sources(&[(PathBuf::from("t.yaml"), yaml.to_string())], &ctx()) {
        Ok(r) => r,
        Err(e) => panic!("rules did not compile: {e:#?}"),
    }
}

fn guest(email: &str) -> RequestFacts {
    RequestFacts {
        user: Some(email.into()),
        user_type: Some(UserType::Guest),
        app: "payroll".into(),
        ..Default::default()
    }
}

fn member(email: &str) -> RequestFacts {
    RequestFacts {
        user_type: Some(UserType::Member),
        ..guest(email)
    }
}

struct Outcome {
    decision: Decision,
    why: Why,
    reasons: Vec<(String, &'static str)>,
}

/// Decides with both the indexed and the full evaluator and insists they agree.
fn decide(rules: &RuleSet, facts: &RequestFacts) -> Outcome {
    let resolved = facts
        .resolve(rules, &[], &|_| Country::Unknown)
        .expect("resolve");
    let req = resolved.request();
    let fast = evaluate(rules, &req);
    let full = explain(rules, &req);
    assert_eq!(
        fast.decision, full.decision,
        "evaluate and explain disagree"
    );
    assert_eq!(fast.why, full.why, "evaluate and explain disagree on why");
    Outcome {
        decision: full.decision,
        why: full.why,
        reasons: full
            .policies
            .iter()
            .map(|t| (t.policy.name.to_string(), t.reason.as_str()))
            .collect(),
    }
}

fn reason<'a>(o: &'a Outcome, policy: &str) -> &'a str {
    o.reasons
        .iter()
        .find(|(n, _)| n == policy)
        .map(|(_, r)| *r)
        .expect("policy traced")
}

const EXAMPLE: &str = r#"
named_locations:
  - name: tailwind-offices
    ip_ranges: [203.0.113.0/24, "2001:db8:10::/48"]
    trusted: true
  - name: embargoed
    countries: [KP, IR, SY, CU]
policies:
  - name: block-embargoed-countries
    users: { include: [all] }
    apps: { include: [all] }
    locations: { include: [embargoed] }
    grant: block
  - name: guests-need-mfa
    users: { include: [guests], exclude: ["group:break-glass"] }
    apps: { include: [all] }
    grant: { require: [mfa] }
    session: { sign_in_frequency: 12h }
  - name: payroll-no-phones
    state: report_only
    users: { include: [guests] }
    apps: { include: [payroll] }
    platforms: { include: [android, ios] }
    grant: block
"#;

#[test]
fn member_with_no_applying_policy_is_allowed() {
    let r = compile(EXAMPLE);
    let o = decide(&r, &member("bob@tailwindtraders.com"));
    assert_eq!(o.decision, Decision::Allow);
    assert_eq!(o.why, Why::NoPolicyApplied);
    assert_eq!(reason(&o, "guests-need-mfa"), "user_not_included");
}

#[test]
fn guest_without_mfa_is_asked_for_it_and_with_mfa_is_allowed() {
    let r = compile(EXAMPLE);
    let o = decide(&r, &guest("anna@contoso.com"));
    assert_eq!(o.decision, Decision::Mfa);
    assert_eq!(reason(&o, "guests-need-mfa"), "applies");
    let o = decide(
        &r,
        &RequestFacts {
            mfa: MfaStrength::Mfa,
            ..guest("anna@contoso.com")
        },
    );
    assert_eq!(o.decision, Decision::Allow);
    assert_eq!(o.why, Why::GrantsMet);
}

#[test]
fn exclusion_beats_inclusion() {
    let r = compile(EXAMPLE);
    let facts = RequestFacts {
        groups: vec!["Break-Glass".into()],
        ..guest("anna@contoso.com")
    };
    let o = decide(&r, &facts);
    assert_eq!(o.decision, Decision::Allow);
    assert_eq!(reason(&o, "guests-need-mfa"), "user_excluded");
    let resolved = facts
        .resolve(&r, &[], &|_| Country::Unknown)
        .expect("resolve");
    let req = resolved.request();
    let e = explain(&r, &req);
    let t = e
        .policies
        .iter()
        .find(|t| &*t.policy.name == "guests-need-mfa")
        .expect("traced");
    assert_eq!(t.detail(&r, &req), "users: excluded by group:break-glass");
}

#[test]
fn block_wins_over_everything() {
    let r = compile(EXAMPLE);
    let o = decide(
        &r,
        &RequestFacts {
            country: Some(Country::parse("KP").expect("KP")),
            mfa: MfaStrength::Mfa,
            ..guest("anna@contoso.com")
        },
    );
    assert_eq!(o.decision, Decision::Block);
    assert_eq!(o.why, Why::BlockedByPolicy(0));
}

#[test]
fn report_only_never_changes_the_outcome_but_is_reported() {
    let r = compile(EXAMPLE);
    let o = decide(
        &r,
        &RequestFacts {
            platform: Some(Platform::Android),
            mfa: MfaStrength::Mfa,
            ..guest("anna@contoso.com")
        },
    );
    assert_eq!(o.decision, Decision::Allow);
    assert_eq!(reason(&o, "payroll-no-phones"), "applies");
}

#[test]
fn disabled_policies_are_skipped_and_explained() {
    let r = compile(
        r#"
policies:
  - name: off
    state: disabled
    users: { include: [all] }
    apps: { include: [all] }
    grant: block
"#,
    );
    let o = decide(&r, &member("bob@tailwindtraders.com"));
    assert_eq!(o.decision, Decision::Allow);
    assert_eq!(reason(&o, "off"), "disabled");
}

#[test]
fn anonymous_requests_sign_in_unless_an_everyone_block_applies() {
    let r = compile(EXAMPLE);
    let anon = RequestFacts {
        app: "wiki".into(),
        ..Default::default()
    };
    let o = decide(&r, &anon);
    assert_eq!(o.decision, Decision::SignIn);
    assert_eq!(o.why, Why::NotSignedIn);
    assert_eq!(reason(&o, "guests-need-mfa"), "not_signed_in");
    let o = decide(
        &r,
        &RequestFacts {
            country: Some(Country::parse("IR").expect("IR")),
            ..anon
        },
    );
    assert_eq!(o.decision, Decision::Block);
}

#[test]
fn guest_without_assignment_is_blocked_even_when_policies_apply() {
    let r = compile(EXAMPLE);
    let o = decide(
        &r,
        &RequestFacts {
            assigned: Some(false),
            mfa: MfaStrength::Mfa,
            ..guest("anna@contoso.com")
        },
    );
    assert_eq!(o.decision, Decision::Block);
    assert_eq!(o.why, Why::NotAssigned);
    // Members need no assignment.
    let o = decide(
        &r,
        &RequestFacts {
            assigned: Some(false),
            ..member("bob@tailwindtraders.com")
        },
    );
    assert_eq!(o.decision, Decision::Allow);
}

#[test]
fn strictest_sign_in_frequency_wins() {
    let r = compile(
        r#"
policies:
  - name: daily
    users: { include: [all] }
    apps: { include: [all] }
    session: { sign_in_frequency: 1d }
  - name: payroll-hourly
    users: { include: [all] }
    apps: { include: [payroll] }
    session: { sign_in_frequency: 1h }
"#,
    );
    let at = |app: &str, ago: u64| RequestFacts {
        app: app.into(),
        signed_in_ago: Some(Duration::from_secs(ago)),
        ..member("bob@tailwindtraders.com")
    };
    assert_eq!(decide(&r, &at("payroll", 3599)).decision, Decision::Allow);
    assert_eq!(decide(&r, &at("payroll", 3601)).decision, Decision::SignIn);
    assert_eq!(decide(&r, &at("wiki", 3601)).decision, Decision::Allow);
    assert_eq!(decide(&r, &at("wiki", 86_401)).why, Why::SignInTooOld);
}

#[test]
fn grant_operator_any_and_all() {
    let r = compile(
        r#"
policies:
  - name: any
    users: { include: [all] }
    apps: { include: [wiki] }
    grant: { require: [mfa], operator: any }
"#,
    );
    let f = RequestFacts {
        app: "wiki".into(),
        ..member("bob@tailwindtraders.com")
    };
    assert_eq!(decide(&r, &f).decision, Decision::Mfa);
    assert_eq!(
        decide(
            &r,
            &RequestFacts {
                mfa: MfaStrength::Mfa,
                ..f
            }
        )
        .decision,
        Decision::Allow
    );
}

#[test]
fn users_by_domain_email_and_group() {
    let r = compile(
        r#"
policies:
  - name: contoso
    users: { include: ["domain:contoso.com"] }
    apps: { include: [all] }
    grant: block
  - name: one-person
    users: { include: [Eve@Fabrikam.com] }
    apps: { include: [crm] }
    grant: block
  - name: auditors
    users: { include: ["group:Auditors"] }
    apps: { include: [all] }
    grant: { require: [mfa] }
"#,
    );
    assert_eq!(
        decide(&r, &guest("anna@contoso.com")).decision,
        Decision::Block
    );
    assert_eq!(
        decide(&r, &guest("anna@sub.contoso.com")).decision,
        Decision::Allow
    );
    let eve = RequestFacts {
        app: "crm".into(),
        ..guest("eve@fabrikam.com")
    };
    assert_eq!(decide(&r, &eve).decision, Decision::Block);
    assert_eq!(
        decide(
            &r,
            &RequestFacts {
                app: "wiki".into(),
                ..eve
            }
        )
        .decision,
        Decision::Allow
    );
    let auditor = RequestFacts {
        groups: vec!["auditors".into()],
        ..member("carol@tailwindtraders.com")
    };
    assert_eq!(decide(&r, &auditor).decision, Decision::Mfa);
}

#[test]
fn apps_exclusion() {
    let r = compile(
        r#"
policies:
  - name: not-wiki
    users: { include: [all] }
    apps: { include: [all], exclude: [wiki] }
    grant: { require: [mfa] }
"#,
    );
    let f = member("bob@tailwindtraders.com");
    assert_eq!(decide(&r, &f).decision, Decision::Mfa);
    let o = decide(
        &r,
        &RequestFacts {
            app: "wiki".into(),
            ..f
        },
    );
    assert_eq!(o.decision, Decision::Allow);
    assert_eq!(reason(&o, "not-wiki"), "app_excluded");
}

#[test]
fn locations_trusted_ranges_and_unknown_country() {
    let r = compile(
        r#"
named_locations:
  - name: office
    ip_ranges: [203.0.113.0/24, "2001:db8:10::/48"]
    trusted: true
  - name: lab
    ip_ranges: [203.0.113.128/25]
  - name: nowhere
    countries: [unknown]
policies:
  - name: mfa-outside-trusted
    users: { include: [all] }
    apps: { include: [all] }
    locations: { include: [all], exclude: [trusted] }
    grant: { require: [mfa] }
  - name: lab-block
    users: { include: [guests] }
    apps: { include: [all] }
    locations: { include: [lab] }
    grant: block
  - name: unplaceable
    users: { include: [all] }
    apps: { include: [crm] }
    locations: { include: [nowhere] }
    grant: block
"#,
    );
    let bob = |ip: &str| RequestFacts {
        ip: Some(ip.parse().expect("ip")),
        ..member("bob@tailwindtraders.com")
    };
    let o = decide(&r, &bob("203.0.113.7"));
    assert_eq!(o.decision, Decision::Allow);
    assert_eq!(reason(&o, "mfa-outside-trusted"), "location_excluded");
    assert_eq!(decide(&r, &bob("2001:db8:10::5")).decision, Decision::Allow);
    assert_eq!(
        decide(&r, &bob("::ffff:203.0.113.7")).decision,
        Decision::Allow
    );
    assert_eq!(decide(&r, &bob("198.51.100.7")).decision, Decision::Mfa);
    // Nested ranges of two locations: both match.
    let anna = RequestFacts {
        ip: Some("203.0.113.200".parse().expect("ip")),
        ..guest("anna@contoso.com")
    };
    assert_eq!(decide(&r, &anna).decision, Decision::Block);
    // Unknown country only matches `countries: [unknown]`.
    let crm = RequestFacts {
        app: "crm".into(),
        ..bob("198.51.100.7")
    };
    assert_eq!(
        decide(
            &r,
            &RequestFacts {
                mfa: MfaStrength::Mfa,
                ..crm.clone()
            }
        )
        .decision,
        Decision::Block
    );
    let placed = RequestFacts {
        country: Some(Country::parse("DE").expect("DE")),
        mfa: MfaStrength::Mfa,
        ..crm
    };
    assert_eq!(decide(&r, &placed).decision, Decision::Allow);
}

#[test]
fn location_detail_names_the_address_and_country() {
    let r = compile(EXAMPLE);
    let facts = RequestFacts {
        ip: Some("198.51.100.7".parse().expect("ip")),
        ..guest("anna@contoso.com")
    };
    let resolved = facts
        .resolve(&r, &[], &|_| Country::Unknown)
        .expect("resolve");
    let req = resolved.request();
    let e = explain(&r, &req);
    assert_eq!(
        e.policies[0].detail(&r, &req),
        "locations: 198.51.100.7 (country unknown) not in embargoed"
    );
}

#[test]
fn platforms_client_apps_paths_and_methods() {
    let r = compile(
        r#"
policies:
  - name: phones-api
    users: { include: [all] }
    apps: { include: [crm] }
    platforms: { include: [all], exclude: [windows, macos] }
    client_apps: { include: [api] }
    grant: block
  - name: admin-writes
    users: { include: [all] }
    apps: { include: [wiki] }
    paths: { include: ["/admin/*"], exclude: ["/admin/help"] }
    methods: [POST, PUT, PATCH, DELETE]
    grant: { require: [mfa] }
"#,
    );
    let crm = |p: Platform, c: ClientApp| RequestFacts {
        app: "crm".into(),
        platform: Some(p),
        client_app: Some(c),
        ..member("bob@tailwindtraders.com")
    };
    assert_eq!(
        decide(&r, &crm(Platform::Ios, ClientApp::Api)).decision,
        Decision::Block
    );
    let o = decide(&r, &crm(Platform::Windows, ClientApp::Api));
    assert_eq!(reason(&o, "phones-api"), "platform_excluded");
    let o = decide(&r, &crm(Platform::Ios, ClientApp::Browser));
    assert_eq!(reason(&o, "phones-api"), "client_app_not_included");

    let wiki = |path: &str, method: &str| RequestFacts {
        app: "wiki".into(),
        path: Some(path.into()),
        method: Some(method.into()),
        ..member("bob@tailwindtraders.com")
    };
    assert_eq!(decide(&r, &wiki("/admin", "POST")).decision, Decision::Mfa);
    assert_eq!(
        decide(&r, &wiki("/admin/users/1", "delete")).decision,
        Decision::Mfa
    );
    let o = decide(&r, &wiki("/admin/users", "GET"));
    assert_eq!(reason(&o, "admin-writes"), "method_not_included");
    let o = decide(&r, &wiki("/admin/help", "POST"));
    assert_eq!(reason(&o, "admin-writes"), "path_excluded");
    let o = decide(&r, &wiki("/wiki/admin", "POST"));
    assert_eq!(reason(&o, "admin-writes"), "path_not_included");
}

#[test]
fn evaluate_traces_what_applies_and_explain_traces_everything() {
    let r = compile(EXAMPLE);
    let guest_on_a_phone = RequestFacts {
        platform: Some(Platform::Ios),
        ..guest("anna@contoso.com")
    };
    let resolved = guest_on_a_phone
        .resolve(&r, &[], &|_| Country::Unknown)
        .expect("resolve");
    let req = resolved.request();
    let fast = evaluate(&r, &req);
    let names: Vec<&str> = fast.policies.iter().map(|t| &*t.policy.name).collect();
    assert_eq!(names, ["guests-need-mfa", "payroll-no-phones"]);
    assert!(fast.policies.iter().all(|t| t.applies));
    let full = explain(&r, &req);
    assert_eq!(full.policies.len(), 3);
    assert_eq!(full.decision, fast.decision);
    // A member: nothing applies, so the hot path traces nothing.
    let resolved = member("bob@tailwindtraders.com")
        .resolve(&r, &[], &|_| Country::Unknown)
        .expect("resolve");
    assert!(evaluate(&r, &resolved.request()).policies.is_empty());
}

#[test]
fn several_files_make_one_policy_set() {
    let a = r#"
named_locations:
  - name: embargoed
    countries: [KP]
"#;
    let b = r#"
policies:
  - name: geo
    users: { include: [all] }
    apps: { include: [all] }
    locations: { include: [embargoed] }
    grant: block
tests:
  - name: kp is blocked
    request: { user: a@b.example, app: wiki, country: KP }
    expect: block
    applied: [geo]
"#;
    let r = RuleSet::from_sources(
        &[
            (PathBuf::from("a.yaml"), a.into()),
            (PathBuf::from("b.yaml"), b.into()),
        ],
        &ctx(),
    )
    .expect("compiles");
    let outcomes = run_tests(&r, &[], &|_| Country::Unknown);
    assert_eq!(outcomes.len(), 1);
    assert!(outcomes[0].passed, "{}", outcomes[0].failure);
}

#[test]
fn failing_rule_test_explains_itself() {
    let r = compile(
        r#"
policies:
  - name: geo
    users: { include: [all] }
    apps: { include: [all] }
    grant: { require: [mfa] }
tests:
  - name: wrong on purpose
    request: { user: a@b.example, app: wiki }
    expect: allow
"#,
    );
    let outcomes = run_tests(&r, &[], &|_| Country::Unknown);
    assert!(!outcomes[0].passed);
    assert!(
        outcomes[0]
            .failure
            .starts_with("expected allow, got mfa (mfa_required)"),
        "{}",
        outcomes[0].failure
    );
    assert!(
        outcomes[0].failure.contains("geo [enabled]: mfa"),
        "{}",
        outcomes[0].failure
    );
}

#[test]
fn member_domains_decide_the_default_user_type() {
    let r = compile(EXAMPLE);
    let facts = RequestFacts {
        user: Some("Bob@TailwindTraders.com".into()),
        app: "payroll".into(),
        ..Default::default()
    };
    let resolved = facts
        .resolve(&r, &["tailwindtraders.com".into()], &|_| Country::Unknown)
        .expect("resolve");
    assert_eq!(resolved.user_type, UserType::Member);
    assert_eq!(resolved.email.as_deref(), Some("bob@tailwindtraders.com"));
    let resolved = facts
        .resolve(&r, &[], &|_| Country::Unknown)
        .expect("resolve");
    assert_eq!(resolved.user_type, UserType::Guest);
}

/// Above 4,096 policies `evaluate` merges its candidate lists instead of
/// marking a stack bitset; both paths must decide like `explain`.
#[test]
fn large_rule_sets_decide_like_explain() {
    let mut yaml = String::from("policies:\n");
    for i in 0..5000 {
        let users = match i % 4 {
            0 => "[all]".to_string(),
            1 => "[guests]".to_string(),
            2 => format!("[\"group:g{}\"]", i % 50),
            _ => format!("[\"domain:d{}.example\"]", i % 20),
        };
        let app = ["payroll", "wiki", "crm", "all"][i % 4];
        let grant = if i % 997 == 0 {
            "block".to_string()
        } else {
            "{ require: [mfa] }".to_string()
        };
        let platform = if i % 3 == 0 {
            "\n    platforms: { include: [android] }"
        } else {
            ""
        };
        yaml.push_str(&format!(
            "  - name: p{i}\n    users: {{ include: {users} }}\n    apps: {{ include: [{app}] }}{platform}\n    grant: {grant}\n"
        ));
    }
    let r = compile(&yaml);
    for (email, groups, platform) in [
        (
            "a@d3.example",
            vec!["g7".to_string(), "g12".to_string()],
            Platform::Android,
        ),
        ("b@d4.example", vec![], Platform::Windows),
        ("c@elsewhere.example", vec!["g1".to_string()], Platform::Ios),
    ] {
        for app in APPS {
            for mfa in [MfaStrength::None, MfaStrength::Mfa] {
                let facts = RequestFacts {
                    groups: groups.clone(),
                    platform: Some(platform),
                    app: app.to_string(),
                    mfa,
                    ..guest(email)
                };
                // `decide` asserts evaluate == explain (decision and why).
                let o = decide(&r, &facts);
                assert_ne!(o.decision, Decision::SignIn);
            }
        }
    }
}
