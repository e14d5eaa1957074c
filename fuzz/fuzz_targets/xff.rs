//! The client address through trusted proxies (`geoip::client_ip`, called by
//! the proxy's `context::client_ip` for every request when
//! `trusted_proxies` is set), for any peer and any `X-Forwarded-For` and
//! `Forwarded` headers. Properties:
//! - it never panics, and a client that is not a trusted proxy is always
//!   its own address (its headers are not read);
//! - the answer is a trusted proxy only when every hop is: the peer and
//!   every entry of the header that was walked (spoofing an office address
//!   by sending `X-Forwarded-For: <office>` must not work);
//! - the answer is the peer or one of the entries, never made up;
//! - for `X-Forwarded-For`, it equals a plain reference walk written here,
//!   including `Malformed` (the proxy's deny signal, a 400) exactly when
//!   the walk reaches an entry that is not an address, and `TooManyHops`.
#![no_main]

use geoip::{ClientIpError, MAX_HOPS, TrustedProxies, client_ip};
use ipnet::IpNet;
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

static TRUSTED: LazyLock<TrustedProxies> = LazyLock::new(|| {
    let nets: Vec<IpNet> = [
        "10.0.0.0/8",
        "192.168.1.0/24",
        "2001:db8:1::/48",
        "::ffff:172.16.0.0/108",
    ]
    .iter()
    .map(|n| n.parse().expect("net"))
    .collect();
    TrustedProxies::new(&nets)
});

fn addr(u: &mut Unstructured<'_>) -> Result<IpAddr> {
    Ok(match u.int_in_range(0..=6)? {
        0 => IpAddr::V4(Ipv4Addr::new(10, u8::arbitrary(u)?, 0, u8::arbitrary(u)?)),
        1 => IpAddr::V4(Ipv4Addr::new(
            192,
            168,
            *u.choose(&[0, 1, 2])?,
            u8::arbitrary(u)?,
        )),
        2 => IpAddr::V4(Ipv4Addr::new(172, *u.choose(&[15, 16, 31, 32])?, 0, 1)),
        3 => IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            *u.choose(&[0, 1, 2])?,
            0,
            0,
            0,
            0,
            u16::arbitrary(u)?,
        )),
        4 => IpAddr::V6(Ipv4Addr::new(*u.choose(&[10, 172, 192, 203])?, 16, 1, 7).to_ipv6_mapped()),
        5 => IpAddr::V4(Ipv4Addr::from(u32::arbitrary(u)?)),
        _ => IpAddr::V6(Ipv6Addr::from(u128::arbitrary(u)?)),
    })
}

/// One entry as a proxy (or an attacker) might write it.
fn entry(u: &mut Unstructured<'_>, forwarded: bool) -> Result<String> {
    let ip = addr(u)?;
    let port = *u.choose(&[
        "", ":80", ":65535", ":65536", ":0", ":", ":_obf", ":123456", ":8a",
    ])?;
    let host = match ip {
        IpAddr::V4(v4) => format!("{v4}{port}"),
        IpAddr::V6(v6) => match u.int_in_range(0..=2)? {
            0 => format!("{v6}"),
            1 => format!("[{v6}]{port}"),
            _ => format!("[{v6}"),
        },
    };
    let garbage = [
        "unknown", "_hidden", "", " ", "1.2.3", "::ffff:", "[]", "\"", "a,b", "\u{e9}",
    ];
    let host = if u.ratio(1, 8)? {
        u.choose(&garbage)?.to_string()
    } else if u.ratio(1, 16)? {
        String::arbitrary(u)?
    } else {
        host
    };
    if !forwarded {
        return Ok(host);
    }
    let value = match u.int_in_range(0..=3)? {
        0 => host,
        _ => format!("\"{}\"", host.replace('"', "\\\"")),
    };
    let name = *u.choose(&["for", "For", "FOR", "by", "for ", "fro"])?;
    Ok(match u.int_in_range(0..=4)? {
        0 => format!("{name}={value}"),
        1 => format!("proto=https;{name}={value}"),
        2 => format!("{name}={value};by=10.0.0.1;host=\"a,b\""),
        3 => format!("{name}={value};for=1.2.3.4"),
        _ => format!("by={value}"),
    })
}

fn instances(u: &mut Unstructured<'_>, forwarded: bool) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        if u.ratio(1, 10)? {
            out.push(Vec::<u8>::arbitrary(u)?);
            continue;
        }
        let mut v = String::new();
        let n = if u.ratio(1, 20)? {
            70
        } else {
            u.int_in_range(0..=5)?
        };
        for i in 0..n {
            if i > 0 {
                v.push_str(u.choose(&[",", ", ", " ,\t", ",,"])?);
            }
            v.push_str(&entry(u, forwarded)?);
        }
        out.push(v.into_bytes());
    }
    Ok(out)
}

/// The reference walk over `X-Forwarded-For`, written plainly.
fn reference_xff(peer: IpAddr, xff: &[Vec<u8>]) -> Option<std::result::Result<IpAddr, bool>> {
    let mut entries: Vec<&[u8]> = Vec::new();
    for v in xff {
        for e in v.split(|&b| b == b',') {
            let mut e = e;
            while let [rest @ .., b' ' | b'\t'] = e {
                e = rest;
            }
            while let [b' ' | b'\t', rest @ ..] = e {
                e = rest;
            }
            if !e.is_empty() {
                entries.push(e);
            }
        }
    }
    if entries.is_empty() {
        return None;
    }
    let mut leftmost = peer;
    for (hop, e) in entries.iter().rev().enumerate() {
        if hop >= MAX_HOPS {
            return Some(Err(false));
        }
        let Some(ip) = parse_entry(e) else {
            return Some(Err(true));
        };
        let ip = ip.to_canonical();
        if !TRUSTED.contains(ip) {
            return Some(Ok(ip));
        }
        leftmost = ip;
    }
    Some(Ok(leftmost))
}

fn parse_entry(e: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(e).ok()?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    let port_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = v6.parse().ok()?;
        return match after {
            "" => Some(IpAddr::V6(ip)),
            _ => port_ok(after.strip_prefix(':')?).then_some(IpAddr::V6(ip)),
        };
    }
    let (v4, port) = s.split_once(':')?;
    let ip: Ipv4Addr = v4.parse().ok()?;
    port_ok(port).then_some(IpAddr::V4(ip))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(peer), Ok(xff), Ok(fwd)) = (
        addr(&mut u),
        instances(&mut u, false),
        instances(&mut u, true),
    ) else {
        return;
    };
    let xff_refs: Vec<&[u8]> = xff.iter().map(Vec::as_slice).collect();
    let fwd_refs: Vec<&[u8]> = fwd.iter().map(Vec::as_slice).collect();
    let trusted = &*TRUSTED;
    let result = client_ip(peer, &xff_refs, &fwd_refs, trusted);
    let peer = peer.to_canonical();

    if !trusted.contains(peer) {
        assert_eq!(result, Ok(peer), "an untrusted peer is the client");
        return;
    }
    match reference_xff(peer, &xff) {
        Some(expected) => match (&result, expected) {
            (Ok(ip), Ok(want)) => assert_eq!(*ip, want, "{xff:?}"),
            (Err(ClientIpError::Malformed { .. }), Err(true)) => {}
            (Err(ClientIpError::TooManyHops { .. }), Err(false)) => {}
            (got, want) => panic!("{xff:?}: got {got:?}, the reference walk {want:?}"),
        },
        None => {
            // Forwarded (or no header): the general properties only.
            if let Ok(ip) = result {
                let text = |v: &[Vec<u8>]| {
                    v.iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                if ip != peer {
                    let all = text(&fwd);
                    let v4 = ip.to_string();
                    let mapped = match ip {
                        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_string(),
                        IpAddr::V6(v6) => v6.to_string(),
                    };
                    // Textual forms may differ (`::ffff:a.b.c.d`, leading
                    // zeros in v6); parse every candidate token instead.
                    let found = all
                        .split(|c: char| {
                            matches!(c, ',' | ';' | '"' | '=' | ' ' | '\t' | '[' | ']')
                        })
                        .filter_map(|t| {
                            t.parse::<IpAddr>()
                                .ok()
                                .or_else(|| t.rsplit_once(':').and_then(|(h, _)| h.parse().ok()))
                        })
                        .any(|t: IpAddr| t.to_canonical() == ip);
                    assert!(
                        found || all.contains(&v4) || all.contains(&mapped),
                        "{ip} is not in {all:?}"
                    );
                }
                if trusted.contains(ip) {
                    // Every element must then be a trusted `for=`: checked
                    // by the walk itself; here at least no element may be
                    // an untrusted address we can read.
                    for e in all_for_values(&fwd) {
                        if let Some(a) = e {
                            assert!(trusted.contains(a), "{ip} returned past untrusted {a}");
                        }
                    }
                }
            }
        }
    }
    if let Ok(ip) = result
        && trusted.contains(ip)
    {
        // Trusted answer: every X-Forwarded-For hop must have been trusted.
        if let Some(entries) = xff_entries(&xff) {
            for e in entries {
                let a = parse_entry(e)
                    .expect("a walked entry parses")
                    .to_canonical();
                assert!(trusted.contains(a), "{ip} returned past untrusted {a}");
            }
        }
    }
});

fn xff_entries(xff: &[Vec<u8>]) -> Option<Vec<&[u8]>> {
    let v: Vec<&[u8]> = xff
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|e| {
            let mut e = e;
            while let [b' ' | b'\t', rest @ ..] = e {
                e = rest;
            }
            while let [rest @ .., b' ' | b'\t'] = e {
                e = rest;
            }
            e
        })
        .filter(|e| !e.is_empty())
        .collect();
    (!v.is_empty()).then_some(v)
}

/// The plainly readable `for=` addresses of `Forwarded` elements (`None` for
/// those we cannot read here).
fn all_for_values(fwd: &[Vec<u8>]) -> Vec<Option<IpAddr>> {
    let mut out = Vec::new();
    for v in fwd {
        let Ok(s) = std::str::from_utf8(v) else {
            continue;
        };
        if s.contains('"') {
            continue;
        }
        for element in s.split(',') {
            let fors: Vec<&str> = element
                .split(';')
                .filter_map(|p| p.trim_matches([' ', '\t']).split_once('='))
                .filter(|(n, _)| n.eq_ignore_ascii_case("for"))
                .map(|(_, v)| v)
                .collect();
            if let [one] = fors.as_slice() {
                out.push(parse_entry(one.as_bytes()).map(|a| a.to_canonical()));
            }
        }
    }
    out
}
