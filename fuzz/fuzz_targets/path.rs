//! Any request target through the path normaliser, against a fixed config
//! (three apps on one host, by path prefix, with public paths) and rules with
//! path conditions. The properties behind "the path we decide on is the path
//! we forward" (STYLE.md §2; CVE-2021-41773, Tomcat `..;/`, encoded-slash
//! bypasses):
//! - normalising is idempotent and its output has no dot segments, empty
//!   segments, `;`, `\`, controls or non-ASCII, and is never longer;
//! - the decision (route, reserved, public or protected, and the policy
//!   decision for an anonymous, a guest and a member request) for a path
//!   equals the decision for its normal form, and for every other spelling
//!   of that normal form (dot segments, repeated slashes, escaped unreserved
//!   characters, segment parameters);
//! - the target the proxy forwards (`path::forward_target`, parsed as
//!   `upstream_request_filter` does) has exactly the decided path and the
//!   client's query;
//! - an upstream that percent-decodes once sees the same segments: no
//!   decoded segment is `.` or `..` or holds `/`, `\`, `;` or NUL.
#![no_main]

use geoip::Country;
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pingora_http::RequestHeader;
use portcullis::proxy::{is_public, path};
use portcullis::snapshot::Snapshot;
use rules::{ClientApp, Decision, Platform, Request, User, UserType};
use std::sync::LazyLock;
use std::time::Duration;

const HOST: &str = "app.test";

const CONFIG: &str = r#"
listen: { http: 127.0.0.1:8080 }
rules: [rules.yaml]
organisation: { name: Fuzz }
apps:
  - name: site
    hosts: [app.test]
    upstreams: [127.0.0.1:1]
    public_paths: [/health, /static/, /.well-known/]
  - name: api
    hosts: [app.test]
    path_prefix: /api
    upstreams: [127.0.0.1:2]
    public_paths: [/api/public/, /api/status]
  - name: admin
    hosts: [app.test]
    path_prefix: /admin/
    upstreams: [127.0.0.1:3]
"#;

const RULES: &str = r#"
policies:
  - name: admin-needs-mfa
    users: { include: [all] }
    apps: { include: [admin] }
    grant: { require: [mfa] }
  - name: internal-api-blocked
    users: { include: [all] }
    apps: { include: [api] }
    paths: { include: ["/api/internal/**", "/api/v1/*/admin"] }
    grant: block
  - name: guests-off-secrets
    users: { include: [guests] }
    apps: { include: [site] }
    paths: { include: ["/secret", "/secret/**", "/a%20b/*"] }
    grant: block
"#;

static SNAPSHOT: LazyLock<Snapshot> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("rules.yaml"), RULES).expect("write rules");
    let config = dir.path().join("portcullis.yaml");
    std::fs::write(&config, CONFIG).expect("write config");
    let snapshot = Snapshot::load(&config).expect("the fixed config loads");
    // The files are read; the snapshot keeps no handle on them.
    drop(dir);
    snapshot
});

/// What the proxy does with a normalised path, in `request_filter`'s order.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    NotFound,
    Reserved,
    Public(usize),
    /// The app and the decision for an anonymous, a guest and a member
    /// (with MFA) request.
    Decided(usize, [Decision; 3]),
}

fn decide(s: &Snapshot, path: &str) -> Outcome {
    let Some(app) = s.routes.find(HOST, path) else {
        return Outcome::NotFound;
    };
    if path::is_reserved(path) {
        return Outcome::Reserved;
    }
    if is_public(&s.config.apps[app].public_paths, path) {
        return Outcome::Public(app);
    }
    let groups: Vec<String> = vec!["staff".into()];
    let request = |user: Option<User<'_>>, mfa: bool| {
        let req = Request {
            user,
            app: app as rules::AppId,
            path,
            method: "GET",
            ip: None,
            country: Country::Unknown,
            platform: Platform::Windows,
            client_app: ClientApp::Browser,
            mfa: if mfa {
                rules::MfaStrength::Mfa
            } else {
                rules::MfaStrength::None
            },
            signed_in_ago: Some(Duration::from_secs(60)),
        };
        rules::evaluate(&s.rules, &req).decision
    };
    let user = |user_type| User {
        email: "anna@contoso.com",
        user_type,
        groups: &groups,
        assigned: true,
    };
    Outcome::Decided(
        app,
        [
            request(None, false),
            request(Some(user(UserType::Guest)), false),
            request(Some(user(UserType::Member)), true),
        ],
    )
}

/// Pieces that reach the interesting corners quickly.
const PIECES: &[&str] = &[
    "/",
    "//",
    "/.",
    "/..",
    "/./",
    "/../",
    "%2e",
    "%2E",
    "%2e%2e",
    ".%2e",
    "%2f",
    "%2F",
    "%5c",
    "\\",
    ";",
    ";x=1",
    "..;",
    "%3b",
    "%00",
    "%25",
    "%252e",
    "%41",
    "%7e",
    "%C3%A9",
    "%zz",
    "%",
    "api",
    "API",
    "admin",
    "Admin",
    "public",
    "status",
    "internal",
    "v1",
    "x",
    "secret",
    ".portcullis",
    ".PortCullis",
    "%2eportcullis",
    "health",
    "static",
    ".well-known",
    "a%20b",
    "?",
    "?q=1",
    "#",
    "*",
    " ",
    "\t",
    "\u{e9}",
];

fn target(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(1, 4)? {
        return Ok(String::arbitrary(u)?);
    }
    let mut t = String::from("/");
    for _ in 0..u.int_in_range(0..=12)? {
        t.push_str(u.choose(PIECES)?);
    }
    Ok(t)
}

/// Another spelling of a normalised path that must normalise to it.
fn respell(u: &mut Unstructured<'_>, normal: &str) -> Result<String> {
    let trailing = normal.len() > 1 && normal.ends_with('/');
    let mut out = String::new();
    for seg in normal.split('/').filter(|s| !s.is_empty()) {
        match u.int_in_range(0..=5)? {
            0 => out.push_str("/."),
            1 => out.push('/'),
            2 => out.push_str("/zz;p=1/.."),
            3 => out.push_str("/%2e"),
            _ => {}
        }
        out.push('/');
        for (i, b) in seg.bytes().enumerate() {
            let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
            // Escaping a `.` of a `.`-only segment would still be a dot
            // segment; those never occur in a normal form anyway.
            let escaped_percent =
                seg.as_bytes()[..i].ends_with(b"%") || (i >= 2 && seg.as_bytes()[i - 2] == b'%');
            if unreserved && !escaped_percent && u.ratio(1, 3)? {
                if bool::arbitrary(u)? {
                    out.push_str(&format!("%{b:02x}"));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            } else {
                out.push(b as char);
            }
        }
        if u.ratio(1, 6)? {
            out.push_str(";jsessionid=1");
        }
    }
    if out.is_empty() || trailing {
        out.push_str(*u.choose(&["/", "/.", "/./", "//"])?);
    }
    Ok(out)
}

/// One percent-decoding pass, as an upstream framework does.
fn decode_once(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn check(raw_target: &str, u: &mut Unstructured<'_>) -> Result<()> {
    // As Pingora hands it to `request_filter`: targets `http` cannot parse
    // never reach us.
    let Ok(req) = RequestHeader::build("GET", raw_target.as_bytes(), None) else {
        return Ok(());
    };
    let raw = req.uri.path();
    let Ok(normal) = path::normalize(raw) else {
        // Refused with 400: nothing is decided or forwarded.
        return Ok(());
    };
    assert_eq!(
        path::normalize(&normal).as_deref(),
        Ok(normal.as_str()),
        "{raw:?}"
    );
    assert!(normal.starts_with('/'), "{raw:?} -> {normal:?}");
    assert!(normal.len() <= raw.len().max(1), "{raw:?} -> {normal:?}");
    assert!(
        normal
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b'\\' && b != b';'),
        "{raw:?} -> {normal:?}"
    );
    let body = normal.strip_suffix('/').unwrap_or(&normal);
    if !body.is_empty() {
        for seg in body[1..].split('/') {
            assert!(!matches!(seg, "" | "." | ".."), "{raw:?} -> {normal:?}");
        }
    }

    let snapshot = &*SNAPSHOT;
    let decided = decide(snapshot, &normal);
    assert_eq!(decided, decide(snapshot, &normal), "deterministic");
    let again = respell(u, &normal)?;
    if again.len() > path::MAX_PATH {
        // Refused as too long (400), rightly: the limit is on what is sent.
        return Ok(());
    }
    assert_eq!(
        path::normalize(&again).as_deref(),
        Ok(normal.as_str()),
        "{again:?} is another spelling of {normal:?}"
    );
    assert_eq!(
        decide(snapshot, &again_normal(&again)),
        decided,
        "{again:?}"
    );

    // What `upstream_request_filter` sets on the upstream request.
    let forwarded = path::forward_target(&normal, req.uri.query());
    let uri: http::Uri = forwarded
        .parse()
        .unwrap_or_else(|e| panic!("{forwarded:?} does not parse: {e}"));
    assert_eq!(uri.path(), normal, "{raw_target:?}");
    assert_eq!(uri.query(), req.uri.query(), "{raw_target:?}");

    // An upstream decoding once reads the same segments.
    let decoded = decode_once(&normal);
    for seg in decoded.split(|&b| b == b'/') {
        assert!(
            seg != b"." && seg != b".." && !seg.iter().any(|b| matches!(b, b'\\' | b';' | 0)),
            "{raw:?} -> {normal:?} decodes to {:?}",
            String::from_utf8_lossy(&decoded)
        );
    }
    Ok(())
}

/// The proxy normalises before deciding.
fn again_normal(spelling: &str) -> String {
    path::normalize(spelling).unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(t) = target(&mut u) else { return };
    let _ = check(&t, &mut u);
});
