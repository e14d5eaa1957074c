//! `Set-Cookie` from an upstream: `session::cookie::planted_by_upstream`,
//! which the response filter uses to drop cookies an app would plant under
//! our session cookie names (session fixation through an app; issue 14,
//! finding 5). Checked against a reference browser written here: RFC 6265bis
//! §5.6 (the pair ends at the first `;`; without `=` the name is empty and
//! the whole pair is the value; name and value trimmed of SP and HTAB) and
//! §5.7.3 (a cookie is sent back as `name=value`, a nameless one as its bare
//! value). The reference stores every cookie whatever its attributes, bytes
//! or length: real browsers refuse more (controls, `__Host-` without
//! `Secure`, over 4096 bytes), so it is the worst case. Properties:
//! - nothing panics, whatever the bytes;
//! - exact: `planted_by_upstream(v)` is true if and only if the name of the
//!   pair the browser sends back (its text before the first `=`, trimmed of
//!   SP and HTAB; the whole trimmed pair when it has no `=`, as servers that
//!   read a bare `name` do) equals `portcullis_session` or
//!   `__Host-portcullis_session` ignoring ASCII case;
//! - safe: when `find_session_cookie` reads what the browser sends back,
//!   alone or between other cookies, as our session cookie on either
//!   listener, `planted_by_upstream` is true;
//! - the response filter's step (`proxy::headers::drop_planted_cookies`, the
//!   gateway's own function) keeps every other `Set-Cookie` in
//!   order, and a browser that stores every kept cookie (a later one
//!   replacing an earlier one of the same name) sends a `Cookie` header in
//!   which `find_session_cookie` finds nothing on either listener;
//! - our own `Set-Cookie`, echoed by an app, is dropped.
//!
//! The input is used twice: as is, one `Set-Cookie` value per line (so the
//! seeds are readable values), and as the source of a structured response.
#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pingora_http::ResponseHeader;
use portcullis::session::cookie::{
    COOKIE_NAME, SECURE_COOKIE_NAME, clear_cookie, find_session_cookie, planted_by_upstream,
    set_cookie,
};

const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln";

const NAMES: &[&str] = &[
    COOKIE_NAME,
    SECURE_COOKIE_NAME,
    "Portcullis_Session",
    "PORTCULLIS_SESSION",
    "__host-portcullis_session",
    "__HOST-PORTCULLIS_SESSION",
    "__Secure-portcullis_session",
    " portcullis_session",
    "portcullis_session\t",
    "portcullis_session\u{b}",
    "\"portcullis_session\"",
    "portcullis_sessionx",
    "xportcullis_session",
    "portcullis_\u{17f}ession",
    "app_session",
    "a",
    "",
];

const VALUES: &[&str] = &[
    TOKEN,
    "\"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln\"",
    " eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln\t",
    "a.b",
    "x",
    "",
    "=",
    "portcullis_session=eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln",
    " __Host-portcullis_session = eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln",
    "Portcullis_Session=eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln",
    "\tportcullis_session",
];

const ATTRIBUTES: &[&str] = &[
    "; Path=/",
    ";Secure",
    "; HttpOnly",
    "; SameSite=Lax",
    "; Domain=app.test",
    "; Max-Age=0",
    ";",
    "; portcullis_session=eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln",
    "; =portcullis_session=eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln",
];

/// One `Set-Cookie` value: leading `=`s and blanks (nameless cookies), a
/// name, `=`, a value and attributes; sometimes any bytes.
fn set_cookie_value(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    if u.ratio(1, 5)? {
        return Vec::<u8>::arbitrary(u);
    }
    let mut v = String::new();
    for _ in 0..u.int_in_range(0..=2)? {
        v.push_str(u.choose(&["=", " ", "\t", " = ", "=="])?);
    }
    v.push_str(u.choose(NAMES)?);
    v.push_str(u.choose(&["=", " = ", "\t=", "", "=="])?);
    if u.ratio(1, 6)? {
        v.push_str(&String::arbitrary(u)?);
    } else {
        v.push_str(u.choose(VALUES)?);
    }
    for _ in 0..u.int_in_range(0..=3)? {
        v.push_str(u.choose(ATTRIBUTES)?);
    }
    Ok(v.into_bytes())
}

fn trim_wsp(b: &[u8]) -> &[u8] {
    let wsp = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !wsp(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !wsp(c)).map_or(start, |i| i + 1);
    &b[start..end]
}

/// The reference browser's stored cookie, `(name, value)` (§5.6).
fn stored(set_cookie: &[u8]) -> (&[u8], &[u8]) {
    let pair = match set_cookie.iter().position(|&b| b == b';') {
        Some(i) => &set_cookie[..i],
        None => set_cookie,
    };
    match pair.iter().position(|&b| b == b'=') {
        Some(i) => (trim_wsp(&pair[..i]), trim_wsp(&pair[i + 1..])),
        None => (&[], trim_wsp(pair)),
    }
}

/// The pair the reference browser puts in `Cookie` for a stored cookie
/// (§5.7.3).
fn sent_back((name, value): (&[u8], &[u8])) -> Vec<u8> {
    if name.is_empty() {
        value.to_vec()
    } else {
        [name, b"=", value].concat()
    }
}

/// The name a server reads in one `Cookie` pair.
fn name_read(pair: &[u8]) -> &[u8] {
    trim_wsp(pair.split(|&b| b == b'=').next().unwrap_or_default())
}

fn is_ours(name: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == COOKIE_NAME.to_ascii_lowercase().as_bytes()
        || lower == SECURE_COOKIE_NAME.to_ascii_lowercase().as_bytes()
}

fn found_on_either_listener(cookie_header: &[u8]) -> bool {
    [false, true]
        .into_iter()
        .any(|https| find_session_cookie([cookie_header], https).is_some())
}

/// The properties of one `Set-Cookie` value.
fn check_one(value: &[u8]) {
    let planted = planted_by_upstream(value);
    let back = sent_back(stored(value));
    assert_eq!(
        planted,
        is_ours(name_read(&back)),
        "{:?} is sent back as {:?}",
        String::from_utf8_lossy(value),
        String::from_utf8_lossy(&back)
    );
    let among_others = [b"a=1; ".as_slice(), &back, b"; b=2"].concat();
    if found_on_either_listener(&back) || found_on_either_listener(&among_others) {
        assert!(
            planted,
            "{:?} is read back as our session cookie",
            String::from_utf8_lossy(value)
        );
    }
}

/// The response filter's `Set-Cookie` step, the gateway's own function.
fn response_filter(resp: &mut ResponseHeader) {
    portcullis::proxy::headers::drop_planted_cookies(resp).expect("set-cookie");
}

/// A response with these `Set-Cookie` values through the filter, and what
/// a browser that stores the rest sends back.
fn check_response(values: &[Vec<u8>]) {
    let mut resp = ResponseHeader::build(200, None).expect("response");
    for v in values {
        // Values `http` refuses (controls) never reach the filter.
        if let Ok(v) = http::HeaderValue::from_bytes(v) {
            resp.append_header("set-cookie", v).expect("set-cookie");
        }
    }
    let sent: Vec<Vec<u8>> = resp
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    response_filter(&mut resp);
    let kept: Vec<Vec<u8>> = resp
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    let expected: Vec<Vec<u8>> = sent
        .iter()
        .filter(|v| !planted_by_upstream(v))
        .cloned()
        .collect();
    assert_eq!(kept, expected, "every other Set-Cookie is kept in order");

    let mut jar: Vec<(&[u8], &[u8])> = Vec::new();
    for v in &kept {
        let (name, value) = stored(v);
        jar.retain(|(n, _)| *n != name);
        jar.push((name, value));
    }
    let cookie_header = jar
        .iter()
        .map(|&c| sent_back(c))
        .collect::<Vec<_>>()
        .join(b"; ".as_slice());
    assert!(
        !found_on_either_listener(&cookie_header),
        "the browser sends our session cookie back: {:?}",
        String::from_utf8_lossy(&cookie_header)
    );
}

fuzz_target!(|data: &[u8]| {
    // The input as is: one value per line.
    let lines: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    for line in &lines {
        check_one(line);
    }
    check_response(&lines);

    // A structured response from the same bytes.
    let mut u = Unstructured::new(data);
    let mut values = Vec::new();
    for _ in 0..u.int_in_range(1..=4).unwrap_or(1) {
        match set_cookie_value(&mut u) {
            Ok(v) => values.push(v),
            Err(_) => break,
        }
    }
    for v in &values {
        check_one(v);
    }
    check_response(&values);

    for https in [false, true] {
        assert!(planted_by_upstream(set_cookie(TOKEN, https, 60).as_bytes()));
        assert!(planted_by_upstream(clear_cookie(https).as_bytes()));
    }
});
