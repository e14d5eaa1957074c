//! `Cookie` headers: finding the session cookie (`cookie::find_session_cookie`,
//! every request) and removing it before the upstream
//! (`headers::strip_session_cookies`). Properties:
//! - nothing panics, whatever the bytes;
//! - what is found equals a plain reference reading (split on `;`, trim
//!   spaces and tabs, exact name, optional double quotes, JWT shape), is a
//!   slice of one of the headers, and has the JWT shape;
//! - on HTTPS only the `__Host-` name is read (cookie tossing);
//! - after stripping, no cookie of either session name reaches the upstream,
//!   whatever the listener, and every other cookie is kept in order;
//! - the `Set-Cookie` value we send reads back as the same token.
#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pingora_http::RequestHeader;
use portcullis::proxy::headers;
use portcullis::session::MAX_TOKEN_LEN;
use portcullis::session::cookie::{
    COOKIE_NAME, SECURE_COOKIE_NAME, cookie_name, find_session_cookie, set_cookie,
};

const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln";

fn pair(u: &mut Unstructured<'_>) -> Result<String> {
    let name = *u.choose(&[
        COOKIE_NAME,
        SECURE_COOKIE_NAME,
        "Portcullis_Session",
        " portcullis_session",
        "portcullis_session ",
        "\tportcullis_session",
        "xportcullis_session",
        "__host-portcullis_session",
        "a",
        "",
    ])?;
    let value = match u.int_in_range(0..=7)? {
        0 => TOKEN.to_string(),
        1 => format!("\"{TOKEN}\""),
        2 => format!(" {TOKEN}\t"),
        3 => format!("{TOKEN}.x"),
        4 => "a.b".to_string(),
        5 => String::new(),
        6 => format!("\"{TOKEN}"),
        _ => String::arbitrary(u)?,
    };
    let eq = *u.choose(&["=", " = ", "==", ""])?;
    Ok(format!("{name}{eq}{value}"))
}

fn header_values(u: &mut Unstructured<'_>) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        if u.ratio(1, 6)? {
            out.push(Vec::<u8>::arbitrary(u)?);
            continue;
        }
        let mut v = String::new();
        for i in 0..u.int_in_range(0..=5)? {
            if i > 0 {
                v.push_str(u.choose(&[";", "; ", ";;", " ; ", ",", "\t;"])?);
            }
            v.push_str(&pair(u)?);
        }
        out.push(v.into_bytes());
    }
    Ok(out)
}

fn trim(b: &[u8]) -> &[u8] {
    let mut b = b;
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

fn jwt_shaped(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    !v.is_empty()
        && v.len() <= MAX_TOKEN_LEN
        && parts.len() == 3
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The reference reading.
fn reference(values: &[Vec<u8>], name: &str) -> Option<String> {
    for v in values {
        for p in v.split(|&b| b == b';') {
            let p = trim(p);
            let Some(eq) = p.iter().position(|&b| b == b'=') else {
                continue;
            };
            if trim(&p[..eq]) != name.as_bytes() {
                continue;
            }
            let mut val = trim(&p[eq + 1..]);
            if val.len() >= 2 && val[0] == b'"' && val[val.len() - 1] == b'"' {
                val = &val[1..val.len() - 1];
            }
            if let Ok(s) = std::str::from_utf8(val)
                && jwt_shaped(s)
            {
                return Some(s.to_string());
            }
        }
    }
    None
}

/// Non-empty cookie pairs, trimmed, that are not a session cookie.
fn others(values: &[&[u8]]) -> Vec<Vec<u8>> {
    values
        .iter()
        .flat_map(|v| v.split(|&b| b == b';'))
        .map(<[u8]>::trim_ascii)
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let n = p
                .split(|&b| b == b'=')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            n != COOKIE_NAME.as_bytes() && n != SECURE_COOKIE_NAME.as_bytes()
        })
        .map(<[u8]>::to_vec)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(values) = header_values(&mut u) else {
        return;
    };
    for https in [false, true] {
        let found = find_session_cookie(values.iter().map(Vec::as_slice), https);
        assert_eq!(
            found.map(str::to_string),
            reference(&values, cookie_name(https)),
            "{values:?}"
        );
        if let Some(v) = found {
            assert!(jwt_shaped(v));
            let (start, end) = (v.as_ptr() as usize, v.as_ptr() as usize + v.len());
            let inside = values.iter().any(|h| {
                let r = h.as_ptr_range();
                r.start as usize <= start && end <= r.end as usize
            });
            assert!(inside, "the token is a slice of a header");
        }
    }

    // What the upstream gets.
    let mut req = RequestHeader::build("GET", b"/", None).expect("request");
    for v in &values {
        if let Ok(v) = http::HeaderValue::from_bytes(v) {
            req.append_header("cookie", v).expect("cookie header");
        }
    }
    let sent: Vec<Vec<u8>> = req
        .headers
        .get_all("cookie")
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    let sent_refs: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
    headers::strip_session_cookies(&mut req);
    let left: Vec<&[u8]> = req
        .headers
        .get_all("cookie")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    for https in [false, true] {
        assert_eq!(
            find_session_cookie(left.iter().copied(), https),
            None,
            "{left:?}"
        );
    }
    assert_eq!(
        others(&left),
        others(&sent_refs),
        "other cookies kept in order"
    );

    // Set-Cookie round trip: the browser sends back `name=value`.
    if let Ok(token) = String::arbitrary(&mut u)
        && jwt_shaped(&token)
    {
        for https in [false, true] {
            let set = set_cookie(&token, https, 3600);
            let sent = set.split(';').next().unwrap_or_default();
            assert_eq!(
                find_session_cookie([sent.as_bytes()], https),
                Some(token.as_str())
            );
        }
    }
});
