use super::*;
use crate::compile::CompileContext;
use std::path::PathBuf;

fn rules(yaml: &str) -> RuleSet {
    let ctx = CompileContext {
        apps: vec!["wiki".into(), "payroll".into()],
    };
    RuleSet::from_sources(&[(PathBuf::from("r.yaml"), yaml.to_string())], &ctx)
        .expect("the rules compile")
}

fn opts() -> LintOptions {
    LintOptions {
        report_only_max_age: Duration::from_secs(30 * 86_400),
        today: Some(time::macros::date!(2026 - 12 - 07)),
        ..LintOptions::default()
    }
}

/// `kind line:column` of every finding.
fn found(yaml: &str, opts: &LintOptions) -> Vec<String> {
    lint(&rules(yaml), opts)
        .iter()
        .map(|f| format!("{} {}:{}", f.kind.as_str(), f.at.line, f.at.column))
        .collect()
}

#[test]
fn an_earlier_block_shadows_a_narrower_policy_and_a_wider_one_is_not_shadowed() {
    let y = "policies:
  - name: block-guests
    users: { include: [guests] }
    apps: { include: [all] }
    grant: block
  - name: guests-payroll-mfa
    users: { include: [guests] }
    apps: { include: [payroll] }
    platforms: { include: [ios] }
    grant: { require: [mfa] }
  - name: everyone-payroll-mfa
    users: { include: [all] }
    apps: { include: [payroll] }
    grant: { require: [mfa] }
";
    assert_eq!(found(y, &opts()), ["shadowed 6:11"]);
}

#[test]
fn a_later_block_covering_an_earlier_policy_is_reported_at_the_covered_one() {
    let y = "policies:
  - name: wiki-mfa
    users: { include: [members] }
    apps: { include: [wiki] }
    grant: { require: [mfa] }
  - name: block-members
    users: { include: [members] }
    apps: { include: [all] }
    grant: block
";
    assert_eq!(found(y, &opts()), ["shadowed 2:11"]);
    // An earlier block still names the refusal: not shadowed by a later one.
    let y = y.replace("grant: { require: [mfa] }", "grant: block");
    assert!(found(&y, &opts()).is_empty());
}

#[test]
fn an_exclusion_the_covering_policy_lacks_means_no_shadow() {
    let y = "policies:
  - name: block-guests
    users: { include: [guests], exclude: [\"group:partners\"] }
    apps: { include: [all] }
    grant: block
  - name: guests-mfa
    users: { include: [guests] }
    apps: { include: [all] }
    locations: { include: [all] }
    grant: { require: [mfa] }
";
    assert!(found(y, &opts()).is_empty());
}

#[test]
fn a_block_and_a_grant_on_the_same_users_and_apps_conflict() {
    let y = "policies:
  - name: block-phones
    users: { include: [guests] }
    apps: { include: [payroll] }
    platforms: { include: [android, ios] }
    grant: block
  - name: phones-with-mfa
    users: { include: [guests] }
    apps: { include: [payroll] }
    platforms: { include: [ios] }
    methods: [GET]
    grant: { require: [mfa] }
  - name: desktops-with-mfa
    users: { include: [guests] }
    apps: { include: [payroll] }
    platforms: { include: [windows] }
    grant: { require: [mfa] }
";
    // phones-with-mfa is covered by the block (shadowed, not conflicting);
    // desktops-with-mfa does not overlap the block.
    assert_eq!(found(y, &opts()), ["shadowed 7:11"]);
    let y = "named_locations:
  - name: office
    ip_ranges: [203.0.113.0/24]
    trusted: true
policies:
  - name: block-outside
    users: { include: [guests] }
    apps: { include: [payroll] }
    locations: { include: [all], exclude: [trusted] }
    grant: block
  - name: guests-mfa
    users: { include: [guests] }
    apps: { include: [payroll] }
    grant: { require: [mfa] }
";
    assert_eq!(found(y, &opts()), ["conflicting 11:11"]);
}

#[test]
fn overbroad_blocks_need_a_break_glass_exclusion() {
    let y = "policies:
  - name: block-api
    users: { include: [all] }
    apps: { include: [all] }
    client_apps: { include: [api] }
    grant: block
  - name: block-api-but-admins
    users: { include: [all], exclude: [\"group:admins\"] }
    apps: { include: [all] }
    client_apps: { include: [browser] }
    grant: block
";
    assert_eq!(found(y, &opts()), ["overbroad 2:11"]);
    let mut o = opts();
    o.break_glass = vec![UserEntry::Email("root@example.com".into())];
    assert_eq!(found(y, &o), ["overbroad 2:11", "overbroad 7:11"]);
}

#[test]
fn unreachable_conditions_and_countries() {
    let y = "named_locations:
  - name: far
    countries: [KP, DE, unknown]
policies:
  - name: nobody
    users: { include: [guests], exclude: [guests] }
    apps: { include: [all] }
    locations: { include: [far] }
    grant: block
  - name: no-app
    users: { include: [members] }
    apps: { include: [wiki], exclude: [wiki] }
    grant: { require: [mfa] }
";
    let mut o = opts();
    o.known_countries = Some([CountryCode::parse("DE").expect("a code")].into());
    assert_eq!(
        found(y, &o),
        ["unreachable 2:11", "unreachable 5:11", "unreachable 10:11"]
    );
    // Without a GeoIP database the countries are not judged.
    assert_eq!(found(y, &opts()), ["unreachable 5:11", "unreachable 10:11"]);
}

#[test]
fn unused_locations_counting_trusted() {
    let y = "named_locations:
  - name: office
    ip_ranges: [203.0.113.0/24]
    trusted: true
  - name: lab
    ip_ranges: [198.51.100.0/24]
policies:
  - name: mfa-outside
    users: { include: [members] }
    apps: { include: [all] }
    locations: { include: [all], exclude: [trusted] }
    grant: { require: [mfa] }
";
    assert_eq!(found(y, &opts()), ["unused 5:11"]);
}

#[test]
fn report_only_older_than_the_limit_is_stale() {
    let y = "policies:
  - name: old
    state: report_only
    since: 2026-10-01
    users: { include: [guests] }
    apps: { include: [all] }
    grant: { require: [mfa] }
  - name: recent
    state: report_only
    since: 2026-11-20
    users: { include: [members] }
    apps: { include: [all] }
    grant: { require: [mfa] }
  - name: enabled-long-ago
    since: 2020-01-01
    users: { include: [members] }
    apps: { include: [wiki] }
    session: { sign_in_frequency: 12h }
";
    assert_eq!(found(y, &opts()), ["stale-report-only 2:11"]);
    let mut o = opts();
    o.today = None;
    assert!(found(y, &o).is_empty());
}

#[test]
fn a_bad_since_date_is_a_positioned_error() {
    let ctx = CompileContext {
        apps: vec!["wiki".into()],
    };
    let y = "policies:
  - name: p
    since: 2026-13-01
    users: { include: [all] }
    apps: { include: [all] }
    grant: { require: [mfa] }
";
    let errors = RuleSet::from_sources(&[(PathBuf::from("r.yaml"), y.to_string())], &ctx)
        .expect_err("a bad date");
    assert_eq!(
        errors[0].to_string(),
        "r.yaml:3:12: `2026-13-01` is not a date; write it as YYYY-MM-DD, e.g. 2026-11-02"
    );
}
