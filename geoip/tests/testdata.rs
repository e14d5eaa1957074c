//! Lookups against MaxMind's synthetic test databases; expected values are
//! the verified table in `shared/testdata/geoip/README.md`.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use geoip::{Country, CountryDb, GeoIpError};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/geoip");

fn file(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

fn open(name: &str) -> CountryDb {
    CountryDb::open(&file(name)).unwrap()
}

fn lookup(db: &CountryDb, ip: &str) -> String {
    db.lookup(ip.parse::<IpAddr>().unwrap()).to_string()
}

/// (ip, GeoIP2-Country, GeoLite2-Country, GeoIP2-City, GeoLite2-City);
/// "-" = not found, "none" = a record without a country. Both give `unknown`.
const TABLE: &[(&str, &str, &str, &str, &str)] = &[
    ("81.2.69.142", "GB", "GB", "GB", "GB"),
    ("216.160.83.56", "US", "US", "US", "US"),
    ("89.160.20.112", "SE", "SE", "SE", "SE"),
    ("67.43.156.1", "BT", "BT", "BT", "BT"),
    ("202.196.224.1", "PH", "PH", "PH", "PH"),
    ("175.16.199.1", "CN", "-", "CN", "CN"),
    ("2.125.160.216", "GB", "GB", "GB", "GB"),
    ("217.65.48.1", "GI", "GI", "-", "-"),
    ("50.114.0.1", "US", "US", "-", "-"),
    ("214.78.120.5", "US", "-", "US", "-"),
    ("214.1.1.1", "none", "-", "none", "-"),
    ("1.1.1.1", "-", "-", "-", "-"),
    ("127.0.0.1", "-", "-", "-", "-"),
    ("10.0.0.1", "-", "-", "-", "-"),
    ("::ffff:81.2.69.142", "GB", "GB", "GB", "GB"),
    ("2001:218::1", "JP", "JP", "JP", "JP"),
    ("2001:220::1", "KR", "KR", "KR", "KR"),
    ("2001:220::", "SE", "KR", "KR", "KR"),
    ("2a02:cf40::1", "NO", "NO", "NO", "NO"),
    ("2a02:d3c0::1", "GB", "GB", "GB", "GB"),
    ("2a02:d500::1", "none", "none", "none", "none"),
    ("2001:480:10::1", "US", "US", "US", "US"),
    ("::1", "-", "-", "-", "-"),
    ("2001:db8::1", "-", "-", "-", "-"),
];

fn expected(cell: &str) -> &str {
    match cell {
        "-" | "none" => "unknown",
        code => code,
    }
}

#[test]
fn verified_table_all_four_databases() {
    let dbs = [
        open("GeoIP2-Country-Test.mmdb"),
        open("GeoLite2-Country-Test.mmdb"),
        open("GeoIP2-City-Test.mmdb"),
        open("GeoLite2-City-Test.mmdb"),
    ];
    let mut checked = 0;
    for &(ip, a, b, c, d) in TABLE {
        for (db, cell) in dbs.iter().zip([a, b, c, d]) {
            assert_eq!(
                lookup(db, ip),
                expected(cell),
                "{ip} in {}",
                db.database_type()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 96);
}

#[test]
fn mapped_v4_equals_v4_for_every_row() {
    let db = open("GeoIP2-Country-Test.mmdb");
    for &(ip, ..) in TABLE {
        if let Ok(IpAddr::V4(v4)) = ip.parse::<IpAddr>() {
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            assert_eq!(db.lookup(mapped), db.lookup(IpAddr::V4(v4)), "{ip}");
        }
    }
}

#[test]
fn country_not_registered_country() {
    let db = open("GeoIP2-Country-Test.mmdb");
    // country / registered_country differ for these blocks.
    assert_eq!(lookup(&db, "81.2.69.142"), "GB"); // registered US
    assert_eq!(lookup(&db, "216.160.83.56"), "US"); // registered GB
    assert_eq!(lookup(&db, "89.160.20.112"), "SE"); // registered DE
    assert_eq!(lookup(&db, "67.43.156.1"), "BT"); // registered RO
    assert_eq!(lookup(&db, "2.125.160.216"), "GB"); // registered FR
}

#[test]
fn record_without_country_is_unknown() {
    let db = open("GeoIP2-Country-Test.mmdb");
    assert_eq!(db.lookup("214.1.1.1".parse().unwrap()), Country::Unknown);
    assert_eq!(db.lookup("2a02:d500::1".parse().unwrap()), Country::Unknown);
}

#[test]
fn metadata() {
    let db = open("GeoIP2-Country-Test.mmdb");
    assert_eq!(db.database_type(), "GeoIP2-Country");
    assert_eq!(db.path(), file("GeoIP2-Country-Test.mmdb"));
    // 2026-02-04, any time of day.
    assert!(
        (1_770_163_200..1_770_249_600).contains(&db.build_epoch()),
        "{}",
        db.build_epoch()
    );
    assert_eq!(
        open("GeoLite2-City-Test.mmdb").database_type(),
        "GeoLite2-City"
    );
}

#[test]
fn broken_database_is_rejected_naming_the_file() {
    let path = file("GeoIP2-City-Test-Broken-Double-Format.mmdb");
    let err = CountryDb::open(&path).unwrap_err();
    assert!(matches!(err, GeoIpError::Invalid { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}: invalid database", path.display())),
        "{msg}"
    );
    // verify() walks the data section in no fixed order, so which bad double
    // it reports first (offset, size) varies from run to run.
    assert!(msg.contains(": double of size "), "{msg}");
    assert!(!msg.contains("invalid database: invalid database"), "{msg}");
    assert!(msg.ends_with("download the database again"), "{msg}");
}

#[test]
fn asn_database_is_rejected() {
    let path = file("GeoLite2-ASN-Test.mmdb");
    let err = CountryDb::open(&path).unwrap_err();
    assert!(
        matches!(err, GeoIpError::WrongType { ref database_type, .. } if database_type == "GeoLite2-ASN")
    );
    assert!(
        err.to_string()
            .starts_with(&format!("{}: database type `GeoLite2-ASN`", path.display()))
    );
}

/// A scratch directory under the target dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("geoip-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn garbage_file_is_rejected_naming_the_file() {
    let dir = Scratch::new("garbage");
    let path = dir.0.join("country.mmdb");
    std::fs::write(&path, b"this is not a MaxMind database\n").unwrap();
    let err = CountryDb::open(&path).unwrap_err();
    assert!(matches!(err, GeoIpError::Invalid { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: invalid database: could not find MaxMind DB metadata in file; download the database again",
            path.display()
        )
    );
    std::fs::write(&path, b"").unwrap();
    assert!(CountryDb::open(&path).is_err());
}

#[test]
fn missing_file_is_rejected_naming_the_file() {
    let path = file("no-such.mmdb");
    let err = CountryDb::open(&path).unwrap_err();
    assert!(matches!(err, GeoIpError::Open { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "{}: cannot open: No such file or directory",
            path.display()
        )),
        "{err}"
    );
    // A directory is not a database either.
    assert!(CountryDb::open(Path::new(DIR)).is_err());
}

#[test]
fn reload_returns_new_data_and_old_db_still_answers() {
    let dir = Scratch::new("reload");
    let path = dir.0.join("country.mmdb");
    std::fs::copy(file("GeoIP2-Country-Test.mmdb"), &path).unwrap();
    let old = CountryDb::open(&path).unwrap();
    assert_eq!(lookup(&old, "175.16.199.1"), "CN");
    assert_eq!(lookup(&old, "2001:220::"), "SE");

    // Replace the file in place (an updater overwriting it) with the GeoLite2
    // one, which lacks 175.16.199.1 and says KR for 2001:220::.
    std::fs::write(
        &path,
        std::fs::read(file("GeoLite2-Country-Test.mmdb")).unwrap(),
    )
    .unwrap();
    let new = old.reload().unwrap();
    assert_eq!(new.database_type(), "GeoLite2-Country");
    assert_eq!(new.path(), path);
    assert_eq!(lookup(&new, "175.16.199.1"), "unknown");
    assert_eq!(lookup(&new, "2001:220::"), "KR");
    // The old snapshot is untouched.
    assert_eq!(old.database_type(), "GeoIP2-Country");
    assert_eq!(lookup(&old, "175.16.199.1"), "CN");
    assert_eq!(lookup(&old, "2001:220::"), "SE");

    // A bad replacement is an error; the current one keeps answering.
    std::fs::write(
        &path,
        std::fs::read(file("GeoIP2-City-Test-Broken-Double-Format.mmdb")).unwrap(),
    )
    .unwrap();
    assert!(matches!(new.reload(), Err(GeoIpError::Invalid { .. })));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(new.reload(), Err(GeoIpError::Open { .. })));
    assert_eq!(lookup(&new, "81.2.69.142"), "GB");
    assert_eq!(lookup(&old, "81.2.69.142"), "GB");
}

#[test]
fn db_with_locations_end_to_end() {
    use geoip::{LocationTableBuilder, TrustedProxies, client_ip};
    let db = open("GeoIP2-Country-Test.mmdb");
    let mut b = LocationTableBuilder::new();
    b.add(0, &["81.2.69.0/24".parse().unwrap()], &[]);
    b.add(1, &[], &[Country::parse("GB").unwrap()]);
    b.add(2, &[], &[Country::Unknown]);
    let table = b.build();
    let trusted = TrustedProxies::new(&["10.0.0.0/8".parse().unwrap()]);
    let ip = client_ip(
        "::ffff:10.0.0.1".parse().unwrap(),
        &[b"81.2.69.142, 10.0.0.2"],
        &[],
        &trusted,
    )
    .unwrap();
    let m = table.matching(Some(ip), db.lookup(ip));
    assert_eq!(m.iter().collect::<Vec<_>>(), vec![0, 1]);
    let ip: IpAddr = "214.1.1.1".parse().unwrap();
    assert_eq!(
        table
            .matching(Some(ip), db.lookup(ip))
            .iter()
            .collect::<Vec<_>>(),
        vec![2]
    );
}
