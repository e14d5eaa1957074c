//! Any bytes as a request against a fixed policy set that uses every
//! condition: the indexed evaluator (`evaluate`, the hot path) and the full
//! trace (`explain`) always agree, a request that is not signed in is never
//! allowed, and a second factor never takes access away.
#![no_main]

use geoip::{Country, CountryCode};
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rules::{
    ClientApp, CompileContext, Decision, Platform, Request, RequestFacts, RuleSet, User, UserType,
    evaluate, explain,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

const APPS: &[&str] = &["demo", "payroll", "wiki", "crm"];

const RULES: &str = r#"
named_locations:
  - name: offices
    ip_ranges: [203.0.113.0/24, "2001:db8:10::/48", 10.0.0.0/8]
    trusted: true
  - name: embargoed
    countries: [KP, IR, SY, CU]
  - name: unplaceable
    countries: [unknown]
  - name: lab
    ip_ranges: ["::ffff:192.0.2.0/120", 192.0.2.128/25]
    countries: [DE]
policies:
  - name: block-embargoed
    users: { include: [all] }
    apps: { include: [all] }
    locations: { include: [embargoed] }
    grant: block
  - name: guests-need-mfa
    users: { include: [guests], exclude: ["group:break-glass", "domain:partner.example"] }
    apps: { include: [all], exclude: [demo] }
    grant: { require: [mfa] }
    session: { sign_in_frequency: 12h }
  - name: members-outside-office
    users: { include: [members] }
    apps: { include: [payroll, crm] }
    locations: { include: [all], exclude: [trusted] }
    grant: { require: [mfa], operator: any }
  - name: no-phones-on-payroll
    users: { include: [all], exclude: [boss@tailwindtraders.com] }
    apps: { include: [payroll] }
    platforms: { include: [android, ios] }
    grant: block
  - name: api-writes
    users: { include: ["group:Writers", "domain:Contoso.com", Anna@Contoso.com] }
    apps: { include: [wiki] }
    client_apps: { include: [api] }
    paths: { include: ["/admin/*", "/api/**"], exclude: ["/api/public/*"] }
    methods: [POST, PUT, PATCH, DELETE]
    grant: block
  - name: report-unknown
    state: report_only
    users: { include: [all] }
    apps: { include: [all] }
    locations: { include: [unplaceable] }
    grant: block
  - name: disabled-everything
    state: disabled
    users: { include: [all] }
    apps: { include: [all] }
    grant: block
  - name: short-sessions-lab
    users: { include: [all] }
    apps: { include: [crm] }
    locations: { include: [lab] }
    platforms: { include: [all], exclude: [unknown] }
    session: { sign_in_frequency: 30m }
"#;

static SET: LazyLock<RuleSet> = LazyLock::new(|| {
    let ctx = CompileContext {
        apps: APPS.iter().map(|s| s.to_string()).collect(),
    };
    RuleSet::from_sources(&[(PathBuf::from("fuzz.yaml"), RULES.to_string())], &ctx)
        .expect("the fixed rules compile")
});

const EMAILS: &[&str] = &[
    "anna@contoso.com",
    "ANNA@Contoso.COM",
    "bob@tailwindtraders.com",
    "boss@tailwindtraders.com",
    "eve@partner.example",
    "x@y@contoso.com",
    "@",
    "",
];
const GROUPS: &[&str] = &[
    "writers",
    "Writers",
    "WRITERS",
    "break-glass",
    " writers",
    "x",
];
const PATHS: &[&str] = &[
    "/",
    "/admin",
    "/admin/",
    "/admin/x",
    "/api/v1",
    "/api/public/a",
];
const METHODS: &[&str] = &["GET", "post", "PUT", "DELETE", "PROPFIND", ""];
const COUNTRIES: &[&str] = &["DE", "KP", "US", "IR"];

fn pick<'a>(u: &mut Unstructured<'_>, words: &[&'a str]) -> Result<String> {
    // Mostly known words, sometimes anything.
    if u.ratio(1, 5)? {
        Ok(String::arbitrary(u)?)
    } else {
        Ok(u.choose(words)?.to_string())
    }
}

fn ip(u: &mut Unstructured<'_>) -> Result<Option<IpAddr>> {
    Ok(match u.int_in_range(0..=4)? {
        0 => None,
        1 => Some(IpAddr::V4(Ipv4Addr::from(u32::arbitrary(u)?))),
        2 => Some(IpAddr::V6(Ipv6Addr::from(u128::arbitrary(u)?))),
        // Near the named ranges, v4 and v4-mapped v6.
        3 => Some(IpAddr::V4(Ipv4Addr::new(
            *u.choose(&[10, 192, 203])?,
            *u.choose(&[0, 1, 51])?,
            *u.choose(&[2, 113, 100])?,
            u8::arbitrary(u)?,
        ))),
        _ => Some(IpAddr::V6(
            Ipv4Addr::new(192, 0, 2, u8::arbitrary(u)?).to_ipv6_mapped(),
        )),
    })
}

fn facts(u: &mut Unstructured<'_>) -> Result<RequestFacts> {
    let user = if u.ratio(1, 6)? {
        None
    } else {
        Some(pick(u, EMAILS)?)
    };
    let mut groups = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        groups.push(pick(u, GROUPS)?);
    }
    let country = match u.int_in_range(0..=3)? {
        0 => None,
        1 => Some(Country::Unknown),
        2 => CountryCode::parse(u.choose(COUNTRIES)?)
            .ok()
            .map(Country::Known),
        _ => Country::parse(&String::arbitrary(u)?).ok(),
    };
    Ok(RequestFacts {
        user,
        user_type: *u.choose(&[None, Some(UserType::Guest), Some(UserType::Member)])?,
        groups,
        app: u.choose(APPS)?.to_string(),
        path: Some(pick(u, PATHS)?),
        method: Some(pick(u, METHODS)?),
        ip: ip(u)?,
        country,
        user_agent: if u.ratio(1, 4)? {
            Some(String::arbitrary(u)?)
        } else {
            None
        },
        platform: if u.ratio(3, 4)? {
            Some(*u.choose(&Platform::ALL)?)
        } else {
            None
        },
        client_app: Some(*u.choose(&[ClientApp::Browser, ClientApp::Api])?),
        mfa: *u.choose(&[
            rules::MfaStrength::None,
            rules::MfaStrength::Mfa,
            rules::MfaStrength::PhishingResistant,
        ])?,
        signed_in_ago: Some(Duration::from_secs(u.int_in_range(0..=30 * 24 * 3600)?)),
        assigned: Option::<bool>::arbitrary(u)?,
    })
}

/// Both evaluators agree; the invariants that hold for any request hold.
fn check(req: &Request<'_>) {
    let rules = &*SET;
    let fast = evaluate(rules, req);
    let full = explain(rules, req);
    assert_eq!(fast.decision, full.decision, "{req:?}");
    assert_eq!(fast.why, full.why, "{req:?}");
    assert_eq!(fast.sign_in_frequency, full.sign_in_frequency, "{req:?}");
    for t in full.policies.iter().filter(|t| t.applies) {
        assert!(
            fast.policies
                .iter()
                .any(|c| c.index == t.index && c.applies && c.result == t.result),
            "the index lost {}: {req:?}",
            t.policy.name
        );
        let _ = t.detail(rules, req);
    }
    if req.user.is_none() {
        assert_ne!(full.decision, Decision::Allow, "{req:?}");
    }
    // The strongest MFA a session can have.
    let with_mfa = Request {
        mfa: rules::MfaStrength::PhishingResistant,
        ..req.clone()
    };
    let stepped = evaluate(rules, &with_mfa).decision;
    if full.decision == Decision::Allow {
        assert_eq!(stepped, Decision::Allow, "{req:?}");
    }
    if stepped == Decision::Block {
        assert_eq!(full.decision, Decision::Block, "{req:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(facts) = facts(&mut u) else { return };
    let rules = &*SET;
    // As `whatif` and rule tests build it: defaults filled, e-mail and
    // groups lower-cased.
    let resolved = facts
        .resolve(rules, &["tailwindtraders.com".into()], &|_| {
            Country::Unknown
        })
        .expect("a configured app");
    let req = resolved.request();
    check(&req);
    // As the gateway may build it: the e-mail is lower-case (it normalises
    // it at sign-in), the groups are as the IdP sent them.
    let raw_groups = facts.groups.clone();
    let email = resolved.email.clone();
    if let Some(email) = &email {
        let direct = Request {
            user: Some(User {
                email,
                user_type: resolved.user_type,
                groups: &raw_groups,
                assigned: resolved.assigned,
            }),
            ..req.clone()
        };
        check(&direct);
    }
});
