//! Authentication strengths (issue 20): `phishing_resistant_mfa` beside
//! `mfa`. Each test is a rule snippet, a request with the MFA strength its
//! session carries, and the expected decision, `why` and strength asked.

use geoip::Country;
use rules::*;
use std::path::PathBuf;

const APPS: &[&str] = &["payroll", "wiki"];

fn compile(yaml: &str) -> Result<RuleSet, Vec<RuleError>> {
    RuleSet::from_sources(
        &[(PathBuf::from("s.yaml"), yaml.to_string())],
        &CompileContext {
            apps: APPS.iter().map(|s| s.to_string()).collect(),
        },
    )
}

const RULES: &str = r#"
policies:
  - name: guests-need-mfa
    users: { include: [guests] }
    apps: { include: [all] }
    grant: { require: [mfa] }
  - name: payroll-phishing-resistant
    users: { include: [guests] }
    apps: { include: [payroll] }
    grant: { require: [phishing_resistant_mfa] }
  - name: wiki-either
    users: { include: [guests] }
    apps: { include: [wiki] }
    grant: { require: [phishing_resistant_mfa, mfa], operator: any }
"#;

fn decide(r: &RuleSet, app: &str, mfa: MfaStrength) -> (Decision, Why, MfaStrength, Vec<String>) {
    let facts = RequestFacts {
        user: Some("anna@contoso.com".into()),
        user_type: Some(UserType::Guest),
        app: app.into(),
        mfa,
        ..Default::default()
    };
    let resolved = facts
        .resolve(r, &[], &|_| Country::Unknown)
        .expect("resolve");
    let req = resolved.request();
    let fast = evaluate(r, &req);
    let full = explain(r, &req);
    assert_eq!(fast.decision, full.decision);
    assert_eq!(fast.why, full.why);
    assert_eq!(fast.mfa_asked, full.mfa_asked);
    let results = full
        .policies
        .iter()
        .filter(|t| t.applies)
        .map(|t| format!("{}={}", t.policy.name, t.result.as_str()))
        .collect();
    (full.decision, full.why, full.mfa_asked, results)
}

#[test]
fn plain_mfa_is_told_a_stronger_kind_is_needed() {
    let r = compile(RULES).expect("compiles");
    let (d, why, asked, results) = decide(&r, "payroll", MfaStrength::Mfa);
    assert_eq!(d, Decision::Mfa);
    assert_eq!(why, Why::StrongerMfaRequired);
    assert_eq!(why.as_str(), "stronger_mfa_required");
    assert_eq!(asked, MfaStrength::PhishingResistant);
    assert_eq!(
        results,
        [
            "guests-need-mfa=mfa",
            "payroll-phishing-resistant=phishing_resistant_mfa"
        ]
    );
}

#[test]
fn no_mfa_is_asked_for_mfa_with_the_strength_that_will_do() {
    let r = compile(RULES).expect("compiles");
    let (d, why, asked, _) = decide(&r, "payroll", MfaStrength::None);
    assert_eq!((d, why), (Decision::Mfa, Why::MfaRequired));
    assert_eq!(asked, MfaStrength::PhishingResistant);
    let (d, why, asked, _) = decide(&r, "wiki", MfaStrength::None);
    assert_eq!((d, why), (Decision::Mfa, Why::MfaRequired));
    // `any` of the two: plain MFA will do.
    assert_eq!(asked, MfaStrength::Mfa);
}

#[test]
fn phishing_resistant_meets_both_controls() {
    let r = compile(RULES).expect("compiles");
    for app in APPS {
        let (d, why, _, _) = decide(&r, app, MfaStrength::PhishingResistant);
        assert_eq!((d, why), (Decision::Allow, Why::GrantsMet), "{app}");
    }
}

#[test]
fn any_of_the_two_is_met_by_plain_mfa() {
    let r = compile(RULES).expect("compiles");
    let (d, _, _, results) = decide(&r, "wiki", MfaStrength::Mfa);
    assert_eq!(d, Decision::Allow);
    assert_eq!(results, ["guests-need-mfa=mfa", "wiki-either=mfa"]);
}

#[test]
fn explanation_names_the_strength_present() {
    let r = compile(RULES).expect("compiles");
    let facts = RequestFacts {
        user: Some("anna@contoso.com".into()),
        user_type: Some(UserType::Guest),
        app: "payroll".into(),
        mfa: MfaStrength::Mfa,
        ..Default::default()
    };
    let resolved = facts
        .resolve(&r, &[], &|_| Country::Unknown)
        .expect("resolve");
    let req = resolved.request();
    let e = explain(&r, &req);
    let t = e
        .policies
        .iter()
        .find(|t| &*t.policy.name == "payroll-phishing-resistant")
        .expect("traced");
    assert_eq!(
        t.detail(&r, &req),
        "all conditions match; asks require phishing_resistant_mfa: not met (session MFA: mfa)"
    );
}

#[test]
fn rule_test_cases_state_the_strength_present() {
    let r = compile(&format!(
        "{RULES}{}",
        r#"
tests:
  - name: a passkey session gets payroll
    request: { user: anna@contoso.com, app: payroll, mfa: phishing_resistant }
    expect: allow
  - name: a TOTP session does not
    request: { user: anna@contoso.com, app: payroll, mfa: true }
    expect: mfa
  - name: the words none and mfa are false and true
    request: { user: anna@contoso.com, app: wiki, mfa: mfa }
    expect: allow
  - name: none
    request: { user: anna@contoso.com, app: wiki, mfa: none }
    expect: mfa
"#
    ))
    .expect("compiles");
    let outcomes = run_tests(&r, &[], &|_| Country::Unknown);
    assert_eq!(outcomes.len(), 4);
    for o in &outcomes {
        assert!(o.passed, "{}: {}", o.test.name, o.failure);
    }
}

#[test]
fn a_failing_case_says_stronger_mfa_required() {
    let r = compile(&format!(
        "{RULES}{}",
        r#"
tests:
  - name: wrong on purpose
    request: { user: anna@contoso.com, app: payroll, mfa: true }
    expect: allow
"#
    ))
    .expect("compiles");
    let outcomes = run_tests(&r, &[], &|_| Country::Unknown);
    assert!(
        outcomes[0]
            .failure
            .starts_with("expected allow, got mfa (stronger_mfa_required)"),
        "{}",
        outcomes[0].failure
    );
}

#[test]
fn an_unknown_strength_is_an_error_at_its_place() {
    let errors = compile(&format!(
        "{RULES}{}",
        r#"
tests:
  - name: typo
    request: { user: anna@contoso.com, app: payroll, mfa: phishing_resistent }
    expect: allow
"#
    ))
    .expect_err("an unknown strength");
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(
        text[0].starts_with("s.yaml:18:59: `phishing_resistent` is not an MFA strength; did you mean `phishing_resistant`?"),
        "{text:?}"
    );
}

#[test]
fn an_unknown_control_names_the_new_one() {
    let errors = compile(
        "policies:\n  - name: p\n    users: { include: [all] }\n    apps: { include: [all] }\n    grant: { require: [phishing_resistant] }\n",
    )
    .expect_err("an unknown control");
    let text = errors[0].to_string();
    assert!(
        text.starts_with("s.yaml:5:") && text.contains("phishing_resistant_mfa"),
        "{text}"
    );
}

#[test]
fn strengths_are_ordered_and_meet_controls_only_upwards() {
    use MfaStrength::*;
    assert!(None < Mfa && Mfa < PhishingResistant);
    assert!(!None.meets(Control::Mfa));
    assert!(Mfa.meets(Control::Mfa));
    assert!(!Mfa.meets(Control::PhishingResistantMfa));
    assert!(PhishingResistant.meets(Control::Mfa));
    assert!(PhishingResistant.meets(Control::PhishingResistantMfa));
    for s in [None, Mfa, PhishingResistant] {
        assert_eq!(MfaStrength::parse(s.as_str()), Some(s));
    }
}
