//! Any set of request headers through the header sanitiser
//! (`proxy::headers::sanitize`, run on every proxied request before our own
//! identity headers are added). Properties:
//! - no inbound `X-Portcullis-*` survives, in any case and with `_` for any
//!   `-` (CGI-style servers read `X_Portcullis_User` as `X-Portcullis-User`);
//! - no forwarding header (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`, same
//!   variants) survives: only we tell the upstream who the client is;
//! - no header named in `Connection` survives (a client naming our headers
//!   there would have a later hop drop them), and `Connection` itself is
//!   gone, or exactly `upgrade` when the request has `Upgrade`;
//! - every other header is kept, with all its values in order.
#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pingora_http::RequestHeader;
use portcullis::proxy::headers;

const NAMES: &[&str] = &[
    "x-portcullis-user",
    "x-portcullis-email",
    "x-portcullis-user-type",
    "x-portcullis-groups",
    "x-portcullis-assertion",
    "x-portcullis-anything",
    "x-portcullis",
    "x-portcullisuser",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "forwarded",
    "x-real-ip",
    "connection",
    "upgrade",
    "keep-alive",
    "te",
    "cookie",
    "accept",
    "x-custom",
    "authorization",
];

/// A name from the list with random case and `-`/`_` swaps, or anything.
fn name(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(1, 5)? {
        return String::arbitrary(u);
    }
    let base = u.choose(NAMES)?;
    let mut out = String::with_capacity(base.len());
    for c in base.chars() {
        let c = match c {
            '-' if u.ratio(1, 3)? => '_',
            c if u.ratio(1, 3)? => c.to_ascii_uppercase(),
            c => c,
        };
        out.push(c);
    }
    Ok(out)
}

fn value(u: &mut Unstructured<'_>, header: &str) -> Result<String> {
    if header.eq_ignore_ascii_case("connection") && u.ratio(3, 4)? {
        let mut v = String::new();
        for i in 0..u.int_in_range(1..=4)? {
            if i > 0 {
                v.push_str(u.choose(&[",", ", ", " ,", ",,"])?);
            }
            v.push_str(&name(u)?);
        }
        return Ok(v);
    }
    String::arbitrary(u)
}

fn normalised(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

fn is_ours(name: &str) -> bool {
    normalised(name).starts_with("x-portcullis-")
}

fn is_forwarding(name: &str) -> bool {
    matches!(
        normalised(name).as_str(),
        "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-forwarded-host"
            | "x-forwarded-port"
            | "forwarded"
            | "x-real-ip"
    )
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut req = RequestHeader::build("GET", b"/", None).expect("request");
    let Ok(n) = u.int_in_range(0..=12) else {
        return;
    };
    for _ in 0..n {
        let Ok(k) = name(&mut u) else { return };
        let Ok(v) = value(&mut u, &k) else { return };
        // Names or values `http` refuses never reach us.
        let _ = req.append_header(k, v);
    }
    let before: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    let named: Vec<String> = req
        .headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty() && !matches!(t.as_str(), "close" | "keep-alive" | "upgrade"))
        .collect();
    let upgrade = req.headers.contains_key("upgrade");

    headers::sanitize(&mut req);

    for (k, v) in req.headers.iter() {
        let k = k.as_str();
        assert!(!is_ours(k), "{k} survived");
        assert!(!headers::looks_like_ours(k), "{k} survived");
        assert!(!is_forwarding(k), "{k} survived");
        if k == "connection" {
            assert!(upgrade && v.as_bytes() == b"upgrade", "connection: {v:?}");
        } else {
            assert!(!named.iter().any(|c| c == k), "{k} was named in Connection");
        }
    }
    assert_eq!(req.headers.contains_key("connection"), upgrade);
    // Everything else is kept, values in order.
    let kept: Vec<(String, Vec<u8>)> = before
        .into_iter()
        .filter(|(k, _)| {
            k != "connection" && !is_ours(k) && !is_forwarding(k) && !named.contains(k)
        })
        .collect();
    let after: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .filter(|(k, _)| k.as_str() != "connection")
        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    let mut kept_sorted = kept.clone();
    let mut after_sorted = after.clone();
    kept_sorted.sort();
    after_sorted.sort();
    assert_eq!(kept_sorted, after_sorted);
    for (k, _) in &kept {
        let a: Vec<&[u8]> = kept
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_slice())
            .collect();
        let b: Vec<&[u8]> = req
            .headers
            .get_all(k.as_str())
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        assert_eq!(a, b, "values of {k} kept in order");
    }
});
