//! Any `Host` (or absolute-form authority) through `proxy::authority::parse`,
//! which admission runs before anything routes on the host or repeats it
//! (issue 14, finding 8: `demo.localhost:x.evil.example`,
//! `demo.localhost:80/../evil` and `DEMO.localhost:99999999` were routed and
//! forwarded verbatim). Properties:
//! - nothing panics, whatever the text;
//! - what is accepted is normal: its `to_string()` parses again to the same
//!   authority; the host is a name of `a-z 0-9 . - _ ~` (not empty, at most
//!   253 bytes, no leading, trailing or doubled dot) or `[` + a literal that
//!   parses as an IPv6 address, in lower case + `]`; the port, when there,
//!   is written as digits without leading zeros (so at most 65535); the text
//!   has no `/ \ @ ? # %`, whitespace, control or non-ASCII character, and
//!   brackets only around the IPv6 literal;
//! - it is the input's authority: the host is the input's, lower-cased and
//!   without a trailing dot, and the port has the input's value;
//! - `http`'s authority parser (an upstream reparsing the forwarded `Host`)
//!   reads the same host and port from it;
//! - reference: `host:N`, with a valid host (name, IPv4 or IPv6 literal) and
//!   N a decimal number without leading zeros, is accepted if and only if
//!   N ≤ 65535, as exactly that host and port; zero-padded to at most five
//!   digits it means the same; a valid host alone or with an empty port is
//!   accepted without a port; one forbidden character inserted anywhere in
//!   any of these makes it refused.
//!
//! The input is used twice: as is (UTF-8, lossy), so the seeds are readable
//! values, and as the source of the structured cases.
#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use portcullis::proxy::authority::{Authority, parse};
use std::net::Ipv6Addr;

/// Characters that never belong in an authority we accept. No `:` (it can
/// turn one valid IPv6 literal into another), `.` or `[`/`]` at some places.
const FORBIDDEN: &[&str] = &[
    "/", "\\", "@", "?", "#", "%", "%2e", " ", "\t", "\r\n", "\0", ",", ";", "\"", "<", "{", "|",
    "^", "`", "!", "$", "&", "'", "(", "*", "+", "=", "\u{e9}", "\u{ff0e}", "\u{7f}",
];

const PIECES: &[&str] = &[
    "demo",
    "DEMO",
    "localhost",
    "Localhost",
    ".",
    "..",
    ":",
    "80",
    "0080",
    "65535",
    "65536",
    "99999999",
    "0",
    "",
    "[",
    "]",
    "::1",
    "::",
    "2001:DB8::1",
    "fe80::1%25eth0",
    "::ffff:1.2.3.4",
    "127.0.0.1",
    "x.evil.example",
    "/../evil",
    "-",
    "_",
    "~",
    "user@",
    "/",
    "\\",
    "?",
    "#",
    "%2e",
    " ",
];

/// Checks whatever `parse` accepts, and that it is the input's authority.
fn check_accepted(input: &str, a: &Authority) {
    let text = a.to_string();
    assert_eq!(parse(&text).as_ref(), Ok(a), "{input:?} -> {text:?}");

    if let Some(literal) = a.host.strip_prefix('[') {
        let literal = literal.strip_suffix(']').expect("a closing bracket");
        assert!(literal.parse::<Ipv6Addr>().is_ok(), "{input:?} -> {text:?}");
        assert!(
            literal
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b':' | b'.')),
            "{input:?} -> {text:?}"
        );
    } else {
        let h = &a.host;
        assert!(
            !h.is_empty()
                && h.len() <= 253
                && !h.starts_with('.')
                && !h.ends_with('.')
                && !h.contains("..")
                && h.bytes().all(|b| matches!(
                    b,
                    b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~'
                )),
            "{input:?} -> {text:?}"
        );
    }
    if let Some((_, port)) = text.rsplit_once(':').filter(|_| a.port.is_some()) {
        assert!(port.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
        assert!(port == "0" || !port.starts_with('0'), "{text:?}");
        assert!(port.parse::<u32>().is_ok_and(|p| p <= 65535), "{text:?}");
    }
    assert!(
        text.bytes().all(|b| b.is_ascii_graphic()
            && !matches!(b, b'/' | b'\\' | b'@' | b'?' | b'#' | b'%')),
        "{input:?} -> {text:?}"
    );

    // The input's own host and port.
    let (host, port) = match input.strip_prefix('[') {
        Some(_) => {
            let end = input.find(']').expect("accepted, so bracketed") + 1;
            (&input[..end], input[end..].strip_prefix(':'))
        }
        None => match input.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (input, None),
        },
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    assert_eq!(a.host, host.to_ascii_lowercase(), "{input:?}");
    let port = port.filter(|p| !p.is_empty()).map(|p| p.parse::<u32>());
    assert_eq!(
        a.port.map(u32::from),
        port.map(|p| p.expect("accepted, so digits")),
        "{input:?}"
    );

    let reread: http::uri::Authority = text.parse().expect("http reads what we forward");
    assert_eq!(reread.host().to_ascii_lowercase(), a.host, "{text:?}");
    assert_eq!(reread.port_u16(), a.port, "{text:?}");
}

fn check(input: &str) {
    if let Ok(a) = parse(input) {
        check_accepted(input, &a);
    }
}

/// A valid host in random case, and the host `parse` must return for it;
/// `None` for a name over 253 bytes.
fn valid_host(u: &mut Unstructured<'_>) -> Result<(String, Option<String>)> {
    const NAME: &[u8] = b"abcdexyzABCXYZ0189-_~";
    match u.int_in_range(0..=5)? {
        0 => {
            let a = <[u8; 4]>::arbitrary(u)?;
            let ip = format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
            Ok((ip.clone(), Some(ip)))
        }
        1 => {
            let literal = match u.int_in_range(0..=2)? {
                0 => Ipv6Addr::from(u128::arbitrary(u)?).to_string(),
                1 => u
                    .choose(&["::1", "::", "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4", "FE80::A"])?
                    .to_string(),
                _ => {
                    let groups = <[u16; 8]>::arbitrary(u)?;
                    groups.map(|g| format!("{g:x}")).join(":")
                }
            };
            let literal: String = literal
                .chars()
                .map(|c| {
                    if u.ratio(1, 2).unwrap_or(false) {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            let expected = format!("[{}]", literal.to_ascii_lowercase());
            Ok((format!("[{literal}]"), Some(expected)))
        }
        _ => {
            let mut name = String::new();
            for i in 0..u.int_in_range(1..=5)? {
                if i > 0 {
                    name.push('.');
                }
                let len = if u.ratio(1, 8)? {
                    u.int_in_range(40..=63)?
                } else {
                    u.int_in_range(1..=8)?
                };
                for _ in 0..len {
                    name.push(*u.choose(NAME)? as char);
                }
            }
            let expected = (name.len() <= 253).then(|| name.to_ascii_lowercase());
            if u.ratio(1, 4)? {
                name.push('.');
            }
            Ok((name, expected))
        }
    }
}

/// The reference cases: a valid host with no port, an empty one, or a
/// number; then maybe one forbidden character inserted.
fn reference(u: &mut Unstructured<'_>) -> Result<()> {
    let (host, expected_host) = valid_host(u)?;
    let (mut input, mut expected_port) = (host.clone(), None);
    match u.int_in_range(0..=3)? {
        0 => {}
        1 => input.push(':'),
        _ => {
            let n: u64 = match u.int_in_range(0..=3)? {
                0 => u.int_in_range(0..=65535)?,
                1 => u.int_in_range(65530..=65545)?,
                2 => u.int_in_range(0..=99_999)?,
                _ => u64::arbitrary(u)?,
            };
            let mut digits = n.to_string();
            if n <= 65535 {
                expected_port = Some(Ok(n as u16));
                if u.ratio(1, 4)? {
                    digits = format!("{n:05}");
                }
            } else {
                expected_port = Some(Err(()));
            }
            input.push(':');
            input.push_str(&digits);
        }
    }
    let expected = match (expected_host, expected_port) {
        (None, _) | (_, Some(Err(()))) => None,
        (Some(host), port) => Some(Authority {
            host,
            port: port.map(|p| p.expect("checked")),
        }),
    };
    assert_eq!(parse(&input).ok(), expected, "{input:?}");
    check(&input);

    let at = u.int_in_range(0..=input.len())?;
    let mut bad = input.clone();
    bad.insert_str(at, u.choose(FORBIDDEN)?);
    assert!(parse(&bad).is_err(), "{bad:?} accepted");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    check(&String::from_utf8_lossy(data));

    let mut u = Unstructured::new(data);
    if let Ok(s) = String::arbitrary(&mut u) {
        check(&s);
    }
    let mut built = String::new();
    for _ in 0..u.int_in_range(0..=8).unwrap_or(0) {
        match u.choose(PIECES) {
            Ok(p) => built.push_str(p),
            Err(_) => break,
        }
    }
    check(&built);
    let _ = reference(&mut u);
});
