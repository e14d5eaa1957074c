//! Test-data generators for the Portcullis micro-benchmarks.
//!
//! [`RuleGen`] writes realistic rule files (YAML text, the same text a
//! security team would commit) with N policies, so a benchmark goes through
//! the real parser and compiler; [`RequestGen`] writes request facts of the
//! kinds the gateway sees (a partner guest with a few groups, a member, an
//! anonymous request). Both are deterministic: the same seed gives the same
//! bytes, so results are comparable between runs and machines.
//!
//! The mix (see [`RuleGen::generate`]) follows the policy-core issue: half the
//! policies name specific apps (over about N/10 apps), the rest apply to all
//! apps, some with app exclusions; users are `all`, `guests`, `members`,
//! groups, partner domains and single e-mails, often with a break-glass
//! exclusion; conditions on named locations, platforms, client apps, paths
//! and methods; mostly enabled, some report-only, a few disabled; grants
//! block (always narrowed by a condition, as real block rules are) or require
//! MFA, plus sign-in frequencies.
#![forbid(unsafe_code)]

use geoip::Country;
use ipnet::IpNet;
use rules::{ClientApp, CompileContext, RequestFacts, ResolvedFacts, RuleError, RuleSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

/// The organisation's member domain in generated data.
pub const MEMBER_DOMAIN: &str = "tailwindtraders.com";

/// A tiny deterministic PRNG (xorshift64*): no external crate, same sequence
/// on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Zero is xorshift's fixed point; mix the seed so small seeds differ.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Country codes used in generated locations and requests (all assigned ISO
/// 3166-1 codes; some are in MaxMind's test database).
pub const COUNTRIES: &[&str] = &[
    "US", "GB", "DE", "FR", "NL", "SE", "NO", "JP", "KR", "CN", "IN", "BR", "CA", "AU", "ES", "IT",
    "PL", "CH", "GI", "BT", "PH", "RU", "KP", "IR", "SY", "CU",
];

/// A named location as generated: written to YAML by [`RuleGen`], or fed to
/// a `geoip::LocationTableBuilder` directly by the location benchmark.
#[derive(Clone, Debug)]
pub struct GenLocation {
    pub name: String,
    pub trusted: bool,
    pub ranges: Vec<IpNet>,
    pub countries: Vec<Country>,
}

/// `n` (at least 3) named locations: `hq` (trusted offices, v4 and v6),
/// `embargoed` (countries), `unplaceable` (country unknown), then a mix of
/// offices (v4 /24 + v6 /48, a third trusted), country lists, VPN egress
/// ranges (/24 to /28) and mixed ones.
pub fn locations(n: usize, rng: &mut Rng) -> Vec<GenLocation> {
    let net = |s: &str| s.parse::<IpNet>().expect("generated CIDR is valid");
    let country = |s: &str| Country::parse(s).expect("generated country is valid");
    let mut out = vec![
        GenLocation {
            name: "hq".into(),
            trusted: true,
            ranges: vec![net("203.0.113.0/24"), net("2001:db8:10::/48")],
            countries: vec![],
        },
        GenLocation {
            name: "embargoed".into(),
            trusted: false,
            ranges: vec![],
            countries: ["KP", "IR", "SY", "CU"].map(country).to_vec(),
        },
        GenLocation {
            name: "unplaceable".into(),
            trusted: false,
            ranges: vec![],
            countries: vec![Country::Unknown],
        },
    ];
    const FIRST_OCTETS: &[u8] = &[23, 45, 52, 81, 89, 146, 175, 185, 198, 202, 216];
    let v4 = |rng: &mut Rng, prefix: u8| {
        let a = *rng.pick(FIRST_OCTETS);
        let (b, c) = (rng.below(256) as u8, rng.below(256) as u8);
        let d = if prefix >= 25 {
            (rng.below(256) as u8) & !(((1u16 << (32 - prefix)) - 1) as u8)
        } else {
            0
        };
        net(&format!("{a}.{b}.{c}.{d}/{prefix}"))
    };
    for i in out.len()..n.max(3) {
        let countries = |rng: &mut Rng, k: usize| -> Vec<Country> {
            let mut v: Vec<Country> = (0..k)
                .map(|_| country(rng.pick::<&str>(COUNTRIES)))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let loc = match i % 4 {
            0 => GenLocation {
                name: format!("office{i}"),
                trusted: i % 3 == 0,
                ranges: vec![v4(rng, 24), net(&format!("2001:db8:{:x}::/48", 0x100 + i))],
                countries: vec![],
            },
            1 => GenLocation {
                name: format!("countries{i}"),
                trusted: false,
                ranges: vec![],
                countries: {
                    let k = 2 + rng.below(5);
                    countries(rng, k)
                },
            },
            2 => GenLocation {
                name: format!("vpn{i}"),
                trusted: rng.chance(0.3),
                ranges: (0..1 + rng.below(3))
                    .map(|_| {
                        let p = 24 + rng.below(5) as u8;
                        v4(rng, p)
                    })
                    .collect(),
                countries: vec![],
            },
            _ => GenLocation {
                name: format!("site{i}"),
                trusted: false,
                ranges: vec![v4(rng, 24)],
                countries: {
                    let k = 1 + rng.below(2);
                    countries(rng, k)
                },
            },
        };
        out.push(loc);
    }
    out
}

/// Generated rule files plus the app list they were written against.
#[derive(Clone, Debug)]
pub struct Generated {
    /// `(file name, YAML text)`: locations in one file, policies in files of
    /// at most [`POLICIES_PER_FILE`].
    pub sources: Vec<(PathBuf, String)>,
    /// App names for [`CompileContext`] (`app0`, `app1`, …).
    pub apps: Vec<String>,
    pub policies: usize,
    pub locations: Vec<GenLocation>,
    /// Group names (`g0`, …) and partner domains (`partner0.example`, …) the
    /// policies were drawn from; requests draw from the same pools.
    pub groups: usize,
    pub domains: usize,
}

pub const POLICIES_PER_FILE: usize = 500;

impl Generated {
    pub fn context(&self) -> CompileContext {
        CompileContext {
            apps: self.apps.clone(),
        }
    }

    /// Parses and compiles the rule files (the reload path).
    pub fn compile(&self) -> Result<RuleSet, Vec<RuleError>> {
        RuleSet::from_sources(&self.sources, &self.context())
    }

    /// Total YAML bytes.
    pub fn bytes(&self) -> usize {
        self.sources.iter().map(|(_, t)| t.len()).sum()
    }
}

/// Settings for [`RuleGen::generate`].
#[derive(Clone, Debug)]
pub struct RuleGen {
    pub seed: u64,
    pub policies: usize,
}

impl RuleGen {
    pub fn new(policies: usize) -> RuleGen {
        RuleGen {
            seed: 0x5eed_0000 + policies as u64,
            policies,
        }
    }

    /// Pool sizes scale with N: about N/10 apps, N/5 groups, N/20 partner
    /// domains and N/10 named locations (at least 1, 8, 4 and 4; at most 100
    /// locations).
    pub fn generate(&self) -> Generated {
        let n = self.policies;
        let mut rng = Rng::new(self.seed);
        let apps: Vec<String> = (0..(n / 10).max(1)).map(|i| format!("app{i}")).collect();
        let groups = (n / 5).max(8);
        let domains = (n / 20).max(4);
        let locs = locations((n / 10).clamp(4, 100), &mut rng);

        let mut sources = Vec::new();
        let mut text = String::from("# generated by benches::RuleGen\nnamed_locations:\n");
        for l in &locs {
            let _ = writeln!(text, "  - name: {}", l.name);
            if !l.ranges.is_empty() {
                let r: Vec<String> = l.ranges.iter().map(|r| format!("\"{r}\"")).collect();
                let _ = writeln!(text, "    ip_ranges: [{}]", r.join(", "));
            }
            if !l.countries.is_empty() {
                let c: Vec<&str> = l.countries.iter().map(|c| c.as_str()).collect();
                let _ = writeln!(text, "    countries: [{}]", c.join(", "));
            }
            if l.trusted {
                text.push_str("    trusted: true\n");
            }
        }
        sources.push((PathBuf::from("rules/locations.yaml"), text));

        let mut text = String::new();
        for i in 0..n {
            if i % POLICIES_PER_FILE == 0 {
                if i > 0 {
                    let file = format!("rules/policies{}.yaml", i / POLICIES_PER_FILE - 1);
                    sources.push((PathBuf::from(file), std::mem::take(&mut text)));
                }
                text.push_str("policies:\n");
            }
            policy(&mut text, i, &mut rng, &apps, groups, domains, &locs);
        }
        if n > 0 {
            let file = format!("rules/policies{}.yaml", (n - 1) / POLICIES_PER_FILE);
            sources.push((PathBuf::from(file), text));
        }
        Generated {
            sources,
            apps,
            policies: n,
            locations: locs,
            groups,
            domains,
        }
    }
}

fn quoted(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", q.join(", "))
}

fn policy(
    out: &mut String,
    i: usize,
    rng: &mut Rng,
    apps: &[String],
    groups: usize,
    domains: usize,
    locs: &[GenLocation],
) {
    // Users.
    let r = rng.unit();
    let (kind, include): (&str, Vec<String>) = if r < 0.12 {
        ("all", vec!["all".into()])
    } else if r < 0.24 {
        ("guests", vec!["guests".into()])
    } else if r < 0.36 {
        ("members", vec!["members".into()])
    } else if r < 0.70 {
        let k = 1 + rng.below(2);
        let g = (0..k)
            .map(|_| format!("group:g{}", rng.below(groups)))
            .collect::<Vec<_>>();
        ("group", g)
    } else if r < 0.85 {
        (
            "domain",
            vec![format!("domain:partner{}.example", rng.below(domains))],
        )
    } else {
        let k = 1 + rng.below(3);
        let e = (0..k)
            .map(|_| {
                if rng.chance(0.5) {
                    format!("user{}@{MEMBER_DOMAIN}", rng.below(1000))
                } else {
                    format!(
                        "user{}@partner{}.example",
                        rng.below(1000),
                        rng.below(domains)
                    )
                }
            })
            .collect::<Vec<_>>();
        ("email", e)
    };
    let mut include = include;
    include.dedup();
    let mut exclude = Vec::new();
    if rng.chance(0.35) {
        exclude.push("group:break-glass".to_string());
    }
    if rng.chance(0.10) {
        exclude.push(format!("group:g{}", rng.below(groups)));
    }

    // State.
    let r = rng.unit();
    let state = if r < 0.85 {
        None
    } else if r < 0.97 {
        Some("report_only")
    } else {
        Some("disabled")
    };

    // Grant kind: block, mfa, or session only.
    let r = rng.unit();
    let grant = if r < 0.12 {
        "block"
    } else if r < 0.85 {
        "mfa"
    } else {
        "session"
    };
    let _ = writeln!(out, "  - name: p{i:05}-{grant}-{kind}");
    if let Some(s) = state {
        let _ = writeln!(out, "    state: {s}");
    }
    let _ = write!(out, "    users: {{ include: {}", quoted(&include));
    if !exclude.is_empty() {
        let _ = write!(out, ", exclude: {}", quoted(&exclude));
    }
    out.push_str(" }\n");

    // Apps: even indices name 1-2 apps, odd ones all apps (a quarter of
    // those with exclusions).
    let app_specific = i.is_multiple_of(2);
    if app_specific {
        let mut a: Vec<String> = (0..1 + rng.below(2))
            .map(|_| rng.pick(apps).clone())
            .collect();
        a.sort();
        a.dedup();
        let _ = writeln!(out, "    apps: {{ include: {} }}", quoted(&a));
    } else if rng.chance(0.25) {
        let mut a: Vec<String> = (0..1 + rng.below(2))
            .map(|_| rng.pick(apps).clone())
            .collect();
        a.sort();
        a.dedup();
        let _ = writeln!(
            out,
            "    apps: {{ include: [all], exclude: {} }}",
            quoted(&a)
        );
    } else {
        out.push_str("    apps: { include: [all] }\n");
    }

    // Conditions. A block rule is always narrowed to named locations (an
    // embargo list or a specific site), as real block rules are; the others
    // sometimes require MFA outside trusted locations, and so on.
    if grant == "block" {
        let k = 1 + rng.below(2);
        let mut names: Vec<String> = (0..k)
            .map(|_| {
                if rng.chance(0.4) {
                    "embargoed".to_string()
                } else {
                    rng.pick(locs).name.clone()
                }
            })
            .collect();
        names.sort();
        names.dedup();
        let _ = writeln!(out, "    locations: {{ include: {} }}", quoted(&names));
    } else if rng.chance(0.30) {
        let r = rng.unit();
        let line = if r < 0.5 {
            "{ include: [all], exclude: [trusted] }".to_string()
        } else if r < 0.7 {
            "{ include: [trusted] }".to_string()
        } else {
            let k = 1 + rng.below(2);
            let names: Vec<String> = (0..k).map(|_| rng.pick(locs).name.clone()).collect();
            format!("{{ include: {} }}", quoted(&names))
        };
        let _ = writeln!(out, "    locations: {line}");
    }
    if rng.chance(0.20) {
        let line = *rng.pick(&[
            "{ include: [android, ios] }",
            "{ include: [all], exclude: [windows, macos] }",
            "{ include: [linux, chromeos] }",
            "{ include: [unknown] }",
        ]);
        let _ = writeln!(out, "    platforms: {line}");
    }
    if rng.chance(0.10) {
        let line = *rng.pick(&["{ include: [api] }", "{ include: [browser] }"]);
        let _ = writeln!(out, "    client_apps: {line}");
    }
    if app_specific && rng.chance(0.20) {
        let line = *rng.pick(&[
            "{ include: [\"/admin/*\"], exclude: [\"/admin/help\"] }",
            "{ include: [\"/api/v1/export/**\"] }",
            "{ include: [\"/reports/*/download\", \"/finance/**\"] }",
        ]);
        let _ = writeln!(out, "    paths: {line}");
        if rng.chance(0.5) {
            out.push_str("    methods: [POST, PUT, PATCH, DELETE]\n");
        }
    }

    match grant {
        "block" => out.push_str("    grant: block\n"),
        "mfa" => {
            if rng.chance(0.1) {
                out.push_str("    grant: { require: [mfa], operator: any }\n");
            } else {
                out.push_str("    grant: { require: [mfa] }\n");
            }
            if rng.chance(0.25) {
                let f = rng.pick(&["4h", "12h", "7d"]);
                let _ = writeln!(out, "    session: {{ sign_in_frequency: {f} }}");
            }
        }
        _ => {
            let f = rng.pick(&["12h", "1d", "7d"]);
            let _ = writeln!(out, "    session: {{ sign_in_frequency: {f} }}");
        }
    }
}

/// User agents by platform, as real browsers and tools send them.
pub const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "curl/8.5.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "python-requests/2.32.3",
];

const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/admin",
    "/admin/users",
    "/admin/help",
    "/api/v1/export/2024/q3.csv",
    "/reports/7/download",
    "/finance/ledger",
    "/docs/start",
];

/// Request facts drawn from the same pools as a [`Generated`] rule set.
#[derive(Clone, Debug)]
pub struct RequestGen {
    rng: Rng,
    n: u64,
}

/// The three request kinds the benchmarks time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A partner guest (`partner3.example`) in 3 groups, on an iPhone, in GB, with MFA.
    Guest,
    /// A member on Windows in the trusted HQ range, in 2 groups, with MFA.
    Member,
    /// Not signed in: curl from a CN address.
    Anonymous,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Guest, Kind::Member, Kind::Anonymous];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Guest => "guest",
            Kind::Member => "member",
            Kind::Anonymous => "anonymous",
        }
    }
}

/// The fixed request of one kind the `decision/*` benchmarks time (the same
/// facts for every N, on `app0`, which exists for every N).
pub fn fixed_request(kind: Kind) -> RequestFacts {
    let ip = |s: &str| s.parse::<IpAddr>().ok();
    let country = |s: &str| Country::parse(s).ok();
    match kind {
        Kind::Guest => RequestFacts {
            user: Some("anna@partner3.example".into()),
            user_type: None,
            groups: vec!["g1".into(), "g5".into(), "g7".into()],
            app: "app0".into(),
            path: Some("/reports/7/download".into()),
            method: Some("GET".into()),
            ip: ip("81.2.69.142"),
            country: country("GB"),
            user_agent: Some(USER_AGENTS[1].into()),
            platform: None,
            client_app: Some(ClientApp::Browser),
            mfa: rules::MfaStrength::Mfa,
            signed_in_ago: Some(Duration::from_secs(2 * 3600)),
            assigned: Some(true),
        },
        Kind::Member => RequestFacts {
            user: Some(format!("bob@{MEMBER_DOMAIN}")),
            user_type: None,
            groups: vec!["g2".into(), "g3".into()],
            app: "app0".into(),
            path: Some("/admin/users".into()),
            method: Some("POST".into()),
            ip: ip("203.0.113.10"),
            country: country("US"),
            user_agent: Some(USER_AGENTS[0].into()),
            platform: None,
            client_app: Some(ClientApp::Browser),
            mfa: rules::MfaStrength::Mfa,
            signed_in_ago: Some(Duration::from_secs(20 * 60)),
            assigned: None,
        },
        Kind::Anonymous => RequestFacts {
            user: None,
            app: "app0".into(),
            path: Some("/".into()),
            ip: ip("175.16.199.1"),
            country: country("CN"),
            user_agent: Some(USER_AGENTS[3].into()),
            client_app: Some(ClientApp::Api),
            ..RequestFacts::default()
        },
    }
}

/// Resolves facts against a rule set (no GeoIP database: the facts carry
/// their country).
pub fn resolve(rules: &RuleSet, facts: &RequestFacts) -> ResolvedFacts {
    facts
        .resolve(rules, &[MEMBER_DOMAIN.to_string()], &|_| Country::Unknown)
        .expect("generated requests name configured apps")
}

impl RequestGen {
    pub fn new(seed: u64) -> RequestGen {
        RequestGen {
            rng: Rng::new(seed),
            n: 0,
        }
    }

    /// The next request, cycling guest, member, anonymous, with varied app,
    /// groups, path, method, address (HQ, an office, a public v4 or v6,
    /// none), country, user agent, client app, MFA, sign-in age and
    /// assignment.
    pub fn next(&mut self, g: &Generated) -> RequestFacts {
        let kind = Kind::ALL[(self.n % 3) as usize];
        self.n += 1;
        let rng = &mut self.rng;
        let groups = |rng: &mut Rng, k: usize| -> Vec<String> {
            let mut v: Vec<String> = (0..k)
                .map(|_| format!("g{}", rng.below(g.groups)))
                .collect();
            if rng.chance(0.05) {
                v.push("break-glass".into());
            }
            // Some directories send mixed case; the gateway lower-cases.
            if rng.chance(0.05) {
                v.push(format!("G{}", rng.below(g.groups)));
            }
            v
        };
        let (user, user_type, gs) = match kind {
            Kind::Guest => {
                let k = 2 + rng.below(2);
                (
                    Some(format!(
                        "guest{}@partner{}.example",
                        rng.below(1000),
                        rng.below(g.domains + 2)
                    )),
                    None,
                    groups(rng, k),
                )
            }
            Kind::Member => {
                let k = rng.below(4);
                (
                    Some(format!("user{}@{MEMBER_DOMAIN}", rng.below(1000))),
                    None,
                    groups(rng, k),
                )
            }
            Kind::Anonymous => (None, None, Vec::new()),
        };
        let ip = {
            let r = rng.unit();
            if r < 0.2 {
                Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, rng.below(256) as u8)))
            } else if r < 0.4 {
                // Inside some generated location's range (or its network
                // address if it is v6).
                let l = rng.pick(&g.locations);
                l.ranges.first().map(|r| match r {
                    IpNet::V4(n) => {
                        let hosts = 1usize << (32 - u32::from(n.prefix_len())).min(16);
                        let offset = rng.below(hosts) as u32;
                        IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) + offset))
                    }
                    IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) + 7)),
                })
            } else if r < 0.75 {
                Some(IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32)))
            } else if r < 0.9 {
                Some(IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    rng.below(0x200) as u16,
                    0,
                    0,
                    0,
                    0,
                    rng.below(0xffff) as u16,
                )))
            } else {
                None
            }
        };
        let country = if rng.chance(0.15) {
            Country::Unknown
        } else {
            Country::parse(rng.pick::<&str>(COUNTRIES)).unwrap_or(Country::Unknown)
        };
        let client_app = if (kind == Kind::Anonymous && rng.chance(0.5)) || rng.chance(0.2) {
            ClientApp::Api
        } else {
            ClientApp::Browser
        };
        let method = if rng.chance(0.7) {
            "GET"
        } else {
            rng.pick(&["POST", "PUT", "DELETE", "HEAD", "PROPFIND"])
        };
        let signed_in_ago = match rng.below(5) {
            0 => Duration::from_secs(5 * 60),
            1 => Duration::from_secs(45 * 60),
            2 => Duration::from_secs(2 * 3600),
            3 => Duration::from_secs(13 * 3600),
            _ => Duration::from_secs(8 * 86400),
        };
        RequestFacts {
            user,
            user_type,
            groups: gs,
            app: rng.pick(&g.apps).clone(),
            path: Some(rng.pick(PATHS).to_string()),
            method: Some(method.into()),
            ip,
            country: Some(country),
            user_agent: Some(rng.pick(USER_AGENTS).to_string()),
            platform: None,
            client_app: Some(client_app),
            mfa: if rng.chance(0.5) {
                rules::MfaStrength::Mfa
            } else {
                rules::MfaStrength::None
            },
            signed_in_ago: Some(signed_in_ago),
            assigned: Some(rng.chance(0.9)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::{Decision, evaluate, explain};
    use std::collections::BTreeSet;

    #[test]
    fn generation_is_deterministic() {
        let a = RuleGen::new(100).generate();
        let b = RuleGen::new(100).generate();
        assert_eq!(a.sources, b.sources);
        let mut ra = RequestGen::new(1);
        let mut rb = RequestGen::new(1);
        for _ in 0..10 {
            assert_eq!(format!("{:?}", ra.next(&a)), format!("{:?}", rb.next(&b)));
        }
    }

    #[test]
    fn generated_rule_sets_compile() {
        for n in [10, 100, 1000] {
            let g = RuleGen::new(n).generate();
            let rules = g.compile().unwrap_or_else(|e| {
                panic!(
                    "N={n}: {}",
                    e.iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            });
            assert_eq!(rules.policies().len(), n, "N={n}");
            assert_eq!(rules.apps().len(), g.apps.len());
            assert_eq!(rules.named_locations().len(), g.locations.len());
        }
    }

    /// `evaluate` (indexed candidates) and `explain` (every policy) must agree
    /// on the decision, the reason, the sign-in frequency and the set of
    /// applying policies: every applying policy must be a candidate.
    #[test]
    fn evaluate_agrees_with_explain() {
        for n in [10, 100, 1000] {
            let g = RuleGen::new(n).generate();
            let rules = g.compile().expect("compiles");
            let mut requests = RequestGen::new(42 + n as u64);
            let mut decisions = BTreeSet::new();
            let mut fixed: Vec<RequestFacts> = Kind::ALL.into_iter().map(fixed_request).collect();
            fixed.extend((0..300).map(|_| requests.next(&g)));
            for facts in &fixed {
                let resolved = resolve(&rules, facts);
                let req = resolved.request();
                let fast = evaluate(&rules, &req);
                let full = explain(&rules, &req);
                assert_eq!(fast.decision, full.decision, "N={n} {facts:?}");
                assert_eq!(fast.why, full.why, "N={n} {facts:?}");
                assert_eq!(fast.sign_in_frequency, full.sign_in_frequency, "N={n}");
                let applied = |e: &rules::Evaluation<'_>| -> Vec<u32> {
                    e.policies
                        .iter()
                        .filter(|t| t.applies)
                        .map(|t| t.index)
                        .collect()
                };
                assert_eq!(applied(&fast), applied(&full), "N={n} {facts:?}");
                assert_eq!(full.policies.len(), n);
                assert!(fast.policies.len() <= n);
                decisions.insert(fast.decision.as_str());
            }
            // The generated mix exercises more than one outcome.
            assert!(decisions.len() >= 3, "N={n}: only {decisions:?}");
            assert!(decisions.contains(Decision::Allow.as_str()) || n < 100);
        }
    }

    #[test]
    fn fixed_requests_resolve_for_every_size() {
        for n in [10, 10_000] {
            let g = RuleGen::new(n).generate();
            let rules =
                RuleSet::from_sources(&g.sources[..1], &g.context()).expect("locations compile");
            for kind in Kind::ALL {
                let r = resolve(&rules, &fixed_request(kind));
                assert_eq!(r.email.is_none(), kind == Kind::Anonymous);
            }
        }
    }

    #[test]
    fn locations_are_valid() {
        let mut rng = Rng::new(7);
        let l = locations(100, &mut rng);
        assert_eq!(l.len(), 100);
        for loc in &l {
            assert!(!loc.ranges.is_empty() || !loc.countries.is_empty());
            for r in &loc.ranges {
                assert_eq!(r.trunc(), *r, "{r}");
            }
        }
    }
}
