//! Criterion micro-benchmarks of the policy core (issue "Policy core", speed):
//! the decision at 10 to 10,000 policies, `explain`, rule compilation, GeoIP
//! lookup, client-IP derivation, named-location matching and platform /
//! client-app detection.
//!
//! Run: `cargo bench -p benches --bench decision` (release, thin LTO).
//! Request facts are built outside the timed loop; what is timed is exactly
//! what the gateway calls per request.

use benches::{Kind, RuleGen, fixed_request, locations, resolve};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use geoip::{Country, CountryDb, LocationTableBuilder, TrustedProxies, client_ip};
use ipnet::IpNet;
use rules::{evaluate, explain, platform};
use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

const COUNTRY_DB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/testdata/geoip/GeoIP2-Country-Test.mmdb"
);

fn ip(s: &str) -> IpAddr {
    s.parse().expect("benchmark address is valid")
}

fn decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision");
    for n in [10, 100, 1000, 10_000] {
        let generated = RuleGen::new(n).generate();
        let rules = generated.compile().expect("generated rules compile");
        for kind in Kind::ALL {
            let facts = resolve(&rules, &fixed_request(kind));
            let req = facts.request();
            let eval = evaluate(&rules, &req);
            eprintln!(
                "decision/{n}/{}: {} candidates, decision {} ({})",
                kind.as_str(),
                eval.policies.len(),
                eval.decision,
                eval.why.as_str()
            );
            group.bench_with_input(
                BenchmarkId::new(n.to_string(), kind.as_str()),
                &req,
                |b, req| b.iter(|| evaluate(black_box(&rules), black_box(req))),
            );
        }
    }
    group.finish();
}

fn explain_all(c: &mut Criterion) {
    let mut group = c.benchmark_group("explain");
    let n = 1000;
    let rules = RuleGen::new(n).generate().compile().expect("compiles");
    for kind in Kind::ALL {
        let facts = resolve(&rules, &fixed_request(kind));
        let req = facts.request();
        group.bench_with_input(
            BenchmarkId::new(n.to_string(), kind.as_str()),
            &req,
            |b, req| b.iter(|| explain(black_box(&rules), black_box(req))),
        );
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(6));
    for n in [100, 1000] {
        let generated = RuleGen::new(n).generate();
        eprintln!(
            "compile/{n}: {} files, {} bytes of YAML",
            generated.sources.len(),
            generated.bytes()
        );
        let ctx = generated.context();
        group.bench_with_input(BenchmarkId::from_parameter(n), &generated, |b, g| {
            b.iter(|| rules::RuleSet::from_sources(black_box(&g.sources), &ctx).is_ok())
        });
    }
    group.finish();
}

fn geoip_lookup(c: &mut Criterion) {
    let db = CountryDb::open(Path::new(COUNTRY_DB)).expect("test database opens");
    let mut group = c.benchmark_group("geoip/lookup");
    for (name, addr, want) in [
        ("v4_found", "81.2.69.142", "GB"),
        ("v6_found", "2001:218::1", "JP"),
        ("not_found", "1.1.1.1", "unknown"),
    ] {
        let addr = ip(addr);
        assert_eq!(db.lookup(addr).as_str(), want, "{name}");
        group.bench_with_input(BenchmarkId::from_parameter(name), &addr, |b, &a| {
            b.iter(|| db.lookup(black_box(a)))
        });
    }
    group.finish();
}

fn geoip_client_ip(c: &mut Criterion) {
    let nets: Vec<IpNet> = ["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"]
        .iter()
        .map(|s| s.parse().expect("valid net"))
        .collect();
    let trusted = TrustedProxies::new(&nets);
    let peer = ip("10.0.0.5");
    // Client, then two trusted proxies; the peer is the third trusted hop.
    let xff: &[&[u8]] = &[b"198.51.100.23, 10.1.0.4, 10.2.0.7"];
    assert_eq!(
        client_ip(peer, xff, &[], &trusted).expect("derivable"),
        ip("198.51.100.23")
    );
    c.bench_function("geoip/client_ip/xff_3_hops", |b| {
        b.iter(|| client_ip(black_box(peer), black_box(xff), &[], &trusted))
    });
}

fn location_matching(c: &mut Criterion) {
    let mut rng = benches::Rng::new(100);
    let locs = locations(100, &mut rng);
    let mut builder = LocationTableBuilder::new();
    for (i, l) in locs.iter().enumerate() {
        builder.add(i, &l.ranges, &l.countries);
    }
    let table = builder.build();
    // A v4 address inside a generated office range, the HQ v6 range, and an
    // address in no range whose country no location lists.
    let office_v4 = locs
        .iter()
        .find_map(|l| match l.ranges.first() {
            Some(IpNet::V4(n)) if l.name.starts_with("office") => Some(IpAddr::V4(n.network())),
            _ => None,
        })
        .expect("an office range");
    let cases = [
        ("v4_range_and_country", Some(office_v4), "DE"),
        ("v6_range", Some(ip("2001:db8:10::7")), "unknown"),
        ("miss", Some(ip("192.0.2.1")), "AQ"),
    ];
    let mut group = c.benchmark_group("locations/matching_100");
    for (name, addr, country) in cases {
        let country = Country::parse(country).expect("valid country");
        let found = table.matching(addr, country);
        eprintln!("locations/matching_100/{name}: {} locations", found.len());
        group.bench_with_input(
            BenchmarkId::from_parameter(name),
            &(addr, country),
            |b, &(a, c)| b.iter(|| table.matching(black_box(a), black_box(c))),
        );
    }
    group.finish();
}

fn platforms(c: &mut Criterion) {
    let chrome = benches::USER_AGENTS[0];
    let cases: [(&str, &str, Option<&str>); 4] = [
        ("chrome_client_hint", chrome, Some("\"Windows\"")),
        ("safari_iphone", benches::USER_AGENTS[1], None),
        ("firefox_windows", benches::USER_AGENTS[2], None),
        ("curl", benches::USER_AGENTS[3], None),
    ];
    let mut group = c.benchmark_group("platform/detect");
    for (name, ua, hint) in cases {
        eprintln!(
            "platform/detect/{name}: {}",
            platform::detect(Some(ua), hint)
        );
        group.bench_with_input(
            BenchmarkId::from_parameter(name),
            &(ua, hint),
            |b, &(ua, hint)| b.iter(|| platform::detect(black_box(Some(ua)), black_box(hint))),
        );
    }
    group.finish();

    let accept_browser =
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
    let cases: [(&str, bool, Option<&str>, Option<&str>); 3] = [
        ("navigate", false, Some("navigate"), Some(accept_browser)),
        (
            "fetch_json",
            false,
            Some("cors"),
            Some("application/json, */*;q=0.5"),
        ),
        ("bearer", true, None, Some("*/*")),
    ];
    let mut group = c.benchmark_group("platform/client_app");
    for (name, bearer, mode, accept) in cases {
        group.bench_with_input(
            BenchmarkId::from_parameter(name),
            &(bearer, mode, accept),
            |b, &(bearer, mode, accept)| {
                b.iter(|| {
                    platform::client_app(black_box(bearer), black_box(mode), black_box(accept))
                })
            },
        );
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = decision, explain_all, compile, geoip_lookup, geoip_client_ip,
        location_matching, platforms
}
criterion_main!(benches);
