//! The request side of the log: what is kept, that a full queue drops and
//! counts instead of waiting, the reasons a refusal is given, and what one
//! record costs the request (printed; the load benchmark is the judge).

use super::*;
use crate::snapshot::Snapshot;
use crate::store::decisions::AllowBatch;
use rules::{ClientApp, Decision, Platform, Request, User, UserType};
use std::net::IpAddr;
use std::sync::Arc;

const RULES: &str = r#"
named_locations:
  - name: embargoed
    ip_ranges: [192.0.2.0/24]
policies:
  - name: block-embargoed
    users: { include: [all] }
    apps: { include: [all] }
    locations: { include: [embargoed] }
    grant: block
  - name: no-phones
    users: { include: [guests] }
    apps: { include: [all] }
    platforms: { include: [android] }
    grant: block
  - name: block-admin
    users: { include: [all] }
    apps: { include: [all] }
    paths: { include: ["/admin/*"] }
    grant: block
  - name: guests-mfa-report
    state: report_only
    users: { include: [guests] }
    apps: { include: [all] }
    grant: { require: [mfa] }
"#;

fn snapshot(extra: &str) -> (tempfile::TempDir, Snapshot) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("rules/access.yaml"), RULES).expect("write rules");
    let config = format!(
        "listen: {{ http: 127.0.0.1:8080 }}\nrules: [\"rules/*.yaml\"]\n\
         organisation: {{ name: Test, member_domains: [tailwindtraders.com] }}\n{extra}\
         apps:\n  - {{ name: payroll, hosts: [payroll.localhost], upstreams: [127.0.0.1:9001] }}\n"
    );
    let path = dir.path().join("portcullis.yaml");
    std::fs::write(&path, config).expect("write config");
    let s = Snapshot::load(&path).expect("snapshot loads");
    (dir, s)
}

fn claims(user_type: UserType) -> Arc<crate::session::SessionClaims> {
    Arc::new(crate::session::SessionClaims {
        iss: "https://portcullis.test".into(),
        sub: "u_anna".into(),
        aud: "payroll.localhost".into(),
        email: "Anna@Contoso.com".into(),
        user_type,
        groups: Arc::default(),
        idp: "partner".into(),
        amr: ["pwd".to_string()].into(),
        auth_time: 1_800_000_000 - 600,
        iat: 1_800_000_000 - 600,
        exp: 1_800_000_000 + 3600,
        sid: "s".into(),
    })
}

/// Decides a guest's request the way `decide` does and builds the trace.
fn trace_of(
    s: &Snapshot,
    ip: &str,
    platform: Platform,
    path: &str,
    assigned: bool,
    ended: Option<i64>,
) -> Trace {
    let log = DecisionLog::new(prometheus::IntCounter::new("t", "t").expect("counter"));
    let ip: IpAddr = ip.parse().expect("ip");
    let c = claims(UserType::Guest);
    let groups: Vec<String> = vec!["partners".into()];
    let request = Request {
        user: Some(User {
            email: "anna@contoso.com",
            user_type: UserType::Guest,
            groups: &groups,
            assigned,
        }),
        app: 0,
        path,
        method: "GET",
        ip: Some(ip),
        country: geoip::Country::Unknown,
        platform,
        client_app: ClientApp::Browser,
        mfa: rules::MfaStrength::None,
        signed_in_ago: Some(std::time::Duration::from_secs(600)),
    };
    let eval = rules::evaluate(&s.rules, &request);
    log.record(&Seen {
        config: &s.config,
        rules: &s.rules,
        request_id: "0123456789abcdef0123456789abcdef",
        at: 1_800_000_000,
        app: 0,
        host: "payroll.localhost",
        path,
        method: "GET",
        client_ip: ip,
        country: geoip::Country::Unknown,
        platform,
        client_app: ClientApp::Browser,
        claims: Some(&c),
        user_type: Some(UserType::Guest),
        groups: &groups,
        assigned,
        access_ended: ended,
        decision: eval.decision,
        early: Early::Rules,
        eval: Some(&eval),
        recheck: false,
    });
    let mut rx = log.take_receiver().expect("receiver");
    let p = rx.try_recv().expect("recorded");
    let mut allows = AllowBatch::default();
    let row = trace::build(&p, &mut allows);
    let (whole, stored) = match &row {
        Some(row) => {
            assert!(allows.is_empty());
            (
                row.whole_entry().expect("trace JSON"),
                row.entry.to_string(),
            )
        }
        None => {
            let mut whole = allows.whole_entries().expect("batch JSON");
            assert_eq!(whole.len(), 1, "the allow is in the batch");
            (whole.remove(0), allows.json().to_owned())
        }
    };
    let t: Trace = serde_json::from_value(whole.clone()).expect("a whole Trace");
    // The writer serialises a borrowed view, not a `Trace`: read back, it
    // must be one, every field and no other.
    assert_eq!(
        serde_json::to_value(&t).expect("json"),
        whole,
        "the written trace is a Trace"
    );
    if t.decision == "allow" {
        // In the batch of allows, compactly: `[request_id, at, app,
        // user_id, [1, …]]`, no keys, nothing every allow says alike.
        assert!(row.is_none(), "an allow is not a row of its own");
        let head = format!(
            "[[\"{}\",{},\"{}\",\"u_anna\",[1,",
            t.request_id, 1_800_000_000, t.app
        );
        assert!(stored.starts_with(&head), "{stored}");
        for key in ["request_id", "\"time\"", "applies", "condition"] {
            assert!(!stored.contains(key), "{key} in {stored}");
        }
        let whole_len = serde_json::to_string(&t).expect("json").len();
        assert!(
            stored.len() * 2 < whole_len + 100,
            "{} bytes stored of {whole_len}",
            stored.len()
        );
    } else {
        // A refusal is stored whole, in `explain --json`'s field order.
        assert_eq!(serde_json::to_string(&t).expect("json"), stored);
    }
    t
}

#[test]
fn a_refusal_gets_its_reason_from_the_closed_set_and_every_policy() {
    let (_dir, s) = snapshot("");
    let t = trace_of(&s, "192.0.2.7", Platform::Windows, "/", true, None);
    assert_eq!(
        (t.decision.as_str(), t.reason.as_deref()),
        ("block", Some("location"))
    );
    assert_eq!(t.deciding_policy.as_deref(), Some("block-embargoed"));
    assert_eq!(t.locations, ["embargoed"]);
    assert!(t.policies_complete);
    assert_eq!(t.policies.len(), 4, "every policy for the app: {t:?}");
    assert_eq!(t.policies[1].condition, "platform_not_included");
    assert_eq!(t.policies[3].state, "report_only");
    assert_eq!(t.policies[3].result, "mfa");
    let user = t.user.as_ref().expect("user");
    assert_eq!(
        (user.id.as_str(), user.email.as_str()),
        ("u_anna", "anna@contoso.com")
    );
    assert_eq!(user.groups, ["partners"]);
    assert_eq!(t.signed_in_ago, Some(600));

    let phone = trace_of(&s, "198.51.100.1", Platform::Android, "/", true, None);
    assert_eq!(phone.reason.as_deref(), Some("device_platform"));
    let admin = trace_of(
        &s,
        "198.51.100.1",
        Platform::Windows,
        "/admin/x",
        true,
        None,
    );
    assert_eq!(admin.reason.as_deref(), Some("policy_block"));
    let unshared = trace_of(&s, "198.51.100.1", Platform::Windows, "/", false, None);
    assert_eq!(unshared.reason.as_deref(), Some("not_shared"));
    let ended = trace_of(
        &s,
        "198.51.100.1",
        Platform::Windows,
        "/",
        false,
        Some(1_799_000_000),
    );
    assert_eq!(ended.reason.as_deref(), Some("access_ended"));
    assert_eq!(ended.access_ended.as_deref(), Some("2027-01-03T18:13:20Z"));
}

#[test]
fn an_allow_lists_the_policies_that_applied_without_a_second_evaluation() {
    let (_dir, s) = snapshot("");
    let t = trace_of(&s, "198.51.100.1", Platform::Windows, "/", true, None);
    assert_eq!((t.decision.as_str(), t.reason.as_deref()), ("allow", None));
    assert!(!t.policies_complete);
    let names: Vec<&str> = t.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["guests-mfa-report"]);
    assert_eq!(
        t.policies[0].satisfied,
        Some(false),
        "the report-only outcome"
    );
    // Read back whole from its compact form: the row's columns and what
    // every allow says alike.
    assert_eq!(t.request_id, "0123456789abcdef0123456789abcdef");
    assert_eq!(t.time, "2027-01-15T08:00:00Z");
    assert_eq!(
        (t.app.as_str(), t.host.as_str()),
        ("payroll", "payroll.localhost")
    );
    assert_eq!((t.method.as_str(), t.path.as_str()), ("GET", "/"));
    assert_eq!(
        (t.why.as_str(), t.deciding_policy.as_deref()),
        ("no_policy_applied", None)
    );
    assert!(!t.recheck && !t.mfa);
    assert_eq!(t.mfa_strength.as_deref(), Some("none"));
    assert_eq!(
        t.mfa_asked.as_deref(),
        Some("none"),
        "report-only asks nothing"
    );
    assert_eq!(
        (t.signed_in_ago, t.access_ended.as_deref()),
        (Some(600), None)
    );
    assert_eq!(
        (t.client_ip.as_str(), t.country.as_str()),
        ("198.51.100.1", "unknown")
    );
    assert!(t.locations.is_empty());
    let user = t.user.as_ref().expect("user");
    assert_eq!(
        (
            user.id.as_str(),
            user.email.as_str(),
            user.user_type.as_str()
        ),
        ("u_anna", "anna@contoso.com", "guest")
    );
    assert_eq!(user.groups, ["partners"]);
    assert!(user.assigned);
    let p = &t.policies[0];
    assert_eq!(
        (
            p.state.as_str(),
            p.applies,
            p.result.as_str(),
            p.condition.as_str()
        ),
        ("report_only", true, "mfa", "applies")
    );
    assert_eq!(p.why, "all conditions match; asks mfa (not met)");
}

fn seen<'a>(s: &'a Snapshot, decision: Decision, recheck: bool) -> Seen<'a> {
    Seen {
        config: &s.config,
        rules: &s.rules,
        request_id: "live-recheck",
        at: 1_800_000_000,
        app: 0,
        host: "payroll.localhost",
        path: "/",
        method: "GET",
        client_ip: IpAddr::from([127, 0, 0, 1]),
        country: geoip::Country::Unknown,
        platform: Platform::Linux,
        client_app: ClientApp::Api,
        claims: None,
        user_type: None,
        groups: &[],
        assigned: false,
        access_ended: None,
        decision,
        early: Early::Rules,
        eval: None,
        recheck,
    }
}

#[test]
fn what_is_kept_follows_the_settings() {
    let (_dir, all) = snapshot("");
    assert!(seen(&all, Decision::Allow, false).kept());
    assert!(
        !seen(&all, Decision::Allow, true).kept(),
        "a re-check's allow"
    );
    assert!(
        seen(&all, Decision::Block, true).kept(),
        "a re-check that ends a connection"
    );
    let (_dir, none) = snapshot("decision_log: { sample_allows: 0.0 }\n");
    assert!(!seen(&none, Decision::Allow, false).kept());
    assert!(
        seen(&none, Decision::SignIn, false).kept(),
        "refusals always"
    );
    let (_dir, off) = snapshot("decision_log: { max_entries: 0 }\n");
    assert!(!seen(&off, Decision::Block, false).kept(), "the log is off");
}

#[test]
fn a_full_queue_drops_and_counts_without_waiting() {
    let (_dir, s) = snapshot("");
    let dropped = prometheus::IntCounter::new("t", "t").expect("counter");
    let log = DecisionLog::new(dropped.clone());
    let entry = seen(&s, Decision::Block, false);
    let start = std::time::Instant::now();
    for _ in 0..CAPACITY + 10 {
        log.record(&entry);
    }
    let per_record = start.elapsed() / (CAPACITY as u32 + 10);
    // Indicative only (a debug build); benches/LOAD.md measures W1.
    eprintln!("record(): {per_record:?} per entry (debug build)");
    assert_eq!(dropped.get(), 10);
    let mut rx = log.take_receiver().expect("receiver");
    let p = rx.try_recv().expect("queued");
    assert_eq!(p.request_id().len(), 32, "a re-check gets an id of its own");
    assert!(p.request_id().bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        (p.host(), p.path(), p.method()),
        ("payroll.localhost", "/", "GET")
    );
    assert!(log.take_receiver().is_none(), "one writer");
}

/// A recorded decision of these facts under `s`'s rules, as `explain` and
/// `rules diff` read it back.
#[allow(clippy::too_many_arguments)]
fn recorded(
    s: &Snapshot,
    user_type: Option<UserType>,
    groups: &[String],
    assigned: bool,
    ip: IpAddr,
    platform: Platform,
    client_app: ClientApp,
    path: &str,
    method: &str,
    mfa: bool,
) -> Trace {
    let mut c = (*claims(user_type.unwrap_or(UserType::Guest))).clone();
    if mfa {
        c.amr = vec!["mfa".to_string()].into();
    }
    let c = Arc::new(c);
    let request = Request {
        user: user_type.map(|user_type| User {
            email: "anna@contoso.com",
            user_type,
            groups,
            assigned,
        }),
        app: 0,
        path,
        method,
        ip: Some(ip),
        country: geoip::Country::Unknown,
        platform,
        client_app,
        mfa: if mfa {
            rules::MfaStrength::Mfa
        } else {
            rules::MfaStrength::None
        },
        signed_in_ago: user_type.map(|_| std::time::Duration::from_secs(600)),
    };
    let eval = rules::evaluate(&s.rules, &request);
    let log = DecisionLog::new(prometheus::IntCounter::new("t", "t").expect("counter"));
    log.record(&Seen {
        config: &s.config,
        rules: &s.rules,
        request_id: "0123456789abcdef0123456789abcdef",
        at: 1_800_000_000,
        app: 0,
        host: "payroll.localhost",
        path,
        method,
        client_ip: ip,
        country: geoip::Country::Unknown,
        platform,
        client_app,
        claims: user_type.map(|_| &c),
        user_type,
        groups,
        assigned,
        access_ended: None,
        decision: eval.decision,
        early: Early::Rules,
        eval: Some(&eval),
        recheck: false,
    });
    let mut rx = log.take_receiver().expect("receiver");
    let p = rx.try_recv().expect("recorded");
    let mut allows = AllowBatch::default();
    let whole = match trace::build(&p, &mut allows) {
        Some(row) => row.whole_entry().expect("JSON"),
        None => allows.whole_entries().expect("JSON").remove(0),
    };
    serde_json::from_value(whole).expect("trace JSON")
}

/// The policies `rules diff` must not see as changes.
const INERT: &str = r#"
  - name: trial-report-only
    state: report_only
    users: { include: [all] }
    apps: { include: [all] }
    grant: block
  - name: trial-disabled
    state: disabled
    users: { include: [all] }
    apps: { include: [all] }
    grant: block
"#;

fn snapshot_with(rules: &str) -> (tempfile::TempDir, Snapshot) {
    let (dir, _) = snapshot("");
    std::fs::write(dir.path().join("rules/access.yaml"), rules).expect("write rules");
    let s = Snapshot::load(&dir.path().join("portcullis.yaml")).expect("snapshot loads");
    (dir, s)
}

proptest::proptest! {
    /// `rules diff` of a rule set against itself reports nothing, and
    /// adding a report-only or a disabled policy changes no outcome.
    #[test]
    fn replay_against_the_same_or_inert_rules_changes_nothing(
        user_type in proptest::option::of(proptest::sample::select(vec![UserType::Guest, UserType::Member])),
        in_group in proptest::bool::ANY,
        assigned in proptest::bool::ANY,
        ip in proptest::sample::select(vec!["192.0.2.7", "198.51.100.1", "2001:db8::1"]),
        platform in proptest::sample::select(vec![Platform::Android, Platform::Ios, Platform::Windows, Platform::Linux]),
        client_app in proptest::sample::select(vec![ClientApp::Browser, ClientApp::Api]),
        path in proptest::sample::select(vec!["/", "/admin/x", "/admin", "/reports/q3"]),
        method in proptest::sample::select(vec!["GET", "POST", "DELETE"]),
        mfa in proptest::bool::ANY,
    ) {
        thread_local! {
            static RULESETS: (tempfile::TempDir, Snapshot, tempfile::TempDir, Snapshot) = {
                let (a, base) = snapshot("");
                let (b, inert) = snapshot_with(&format!("{RULES}{INERT}"));
                (a, base, b, inert)
            };
        }
        let groups: Vec<String> = if in_group { vec!["partners".into()] } else { vec![] };
        let ip: IpAddr = ip.parse().expect("ip");
        RULESETS.with(|(_, base, _, inert)| {
            let t = recorded(base, user_type, &groups, assigned, ip, platform, client_app, path, method, mfa);
            assert_eq!(replay(&t, &base.rules), Ok(None), "against itself: {t:?}");
            assert_eq!(replay(&t, &inert.rules), Ok(None), "report-only and disabled additions: {t:?}");
        });
    }
}

/// Issue 20: a step-up for a session whose MFA is too weak is recorded
/// with the reason `stronger_mfa_required`; any other with `mfa_required`.
#[test]
fn a_step_up_for_stronger_mfa_has_its_own_reason() {
    use rules::Why;
    let reason = |why| trace::reason_of(Decision::Mfa, Early::Rules, Some(why), false, None);
    assert_eq!(
        reason(Why::StrongerMfaRequired).map(|r| r.as_str()),
        Some("stronger_mfa_required")
    );
    assert_eq!(
        reason(Why::MfaRequired).map(|r| r.as_str()),
        Some("mfa_required")
    );
}
