//! The client address, derived through trusted reverse proxies.
//!
//! Forwarding headers are written by whoever sent the request, so they are
//! believed only as far as a chain of trusted proxies vouches for them: the
//! walk starts at the TCP peer and moves left through `X-Forwarded-For` (or
//! RFC 7239 `Forwarded`) only while the hop it stands on is a trusted proxy.
//! The first address that is not a trusted proxy is the client. This stops a
//! client from choosing its own location by sending `X-Forwarded-For: <an
//! office address>`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixSet;

/// The most hops [`client_ip`] walks before giving up with
/// [`ClientIpError::TooManyHops`]. Real chains are a handful of proxies long;
/// the bound keeps a header full of trusted-looking entries cheap.
pub const MAX_HOPS: usize = 64;

/// Longest part of a bad entry kept in [`ClientIpError::Malformed`] (the
/// value is attacker-controlled and ends up in logs).
const MAX_ERROR_VALUE: usize = 64;

/// The proxies whose forwarding headers are believed (`trusted_proxies` in
/// the config). Empty by default: then no header is ever believed.
#[derive(Clone, Default)]
pub struct TrustedProxies {
    v4: PrefixSet<Ipv4Net>,
    v6: PrefixSet<Ipv6Net>,
}

impl TrustedProxies {
    /// A set of the given networks (host bits are ignored; IPv4-mapped IPv6
    /// networks are stored as IPv4, like the addresses they are compared to).
    pub fn new(nets: &[IpNet]) -> Self {
        let mut set = TrustedProxies::default();
        for net in nets {
            match canonical_net(*net) {
                IpNet::V4(n) => set.v4.insert(n),
                IpNet::V6(n) => set.v6.insert(n),
            };
        }
        set
    }

    /// Whether `ip` (canonicalised first) is inside one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.v4.get_spm(&Ipv4Net::from(v4)).is_some(),
            IpAddr::V6(v6) => self.v6.get_spm(&Ipv6Net::from(v6)).is_some(),
        }
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

impl std::fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.v4.iter().map(IpNet::V4))
            .entries(self.v6.iter().map(IpNet::V6))
            .finish()
    }
}

/// Truncates host bits and maps `::ffff:a.b.c.d/(96+n)` to `a.b.c.d/n`.
fn canonical_net(net: IpNet) -> IpNet {
    match net.trunc() {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(IpNet::V6(v6), IpNet::V4),
            None => IpNet::V6(v6),
        },
        other => other,
    }
}

/// Why the client address cannot be told. The caller must deny the request
/// (fail closed), never fall back to the proxy's own address.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClientIpError {
    /// A forwarding entry the walk had to believe is not an address: garbage,
    /// `unknown`, an obfuscated RFC 7239 identifier (`_hidden`), or a
    /// `Forwarded` element without `for=`.
    #[error(
        "forwarded client address `{value}` is not an IP address; make the trusted proxy send \
         X-Forwarded-For entries like 203.0.113.7 or 2001:db8::7, or Forwarded for=203.0.113.7 \
         or for=\"[2001:db8::7]:443\""
    )]
    Malformed {
        /// The entry (lossy UTF-8, control characters escaped, truncated).
        value: String,
    },
    /// More than `limit` trusted hops.
    #[error(
        "more than {limit} trusted forwarding hops; check `trusted_proxies` and the proxies' \
         forwarding headers"
    )]
    TooManyHops {
        /// [`MAX_HOPS`].
        limit: usize,
    },
}

/// The client address of a request.
///
/// `peer` is the TCP peer; `x_forwarded_for` and `forwarded` are every
/// instance of those headers in arrival order (raw bytes).
///
/// * An untrusted peer is the client: its headers are never read (a client
///   cannot claim an office address).
/// * Otherwise walk `X-Forwarded-For` (all instances, comma-separated, as one
///   list) from the right, skipping trusted proxies; the first untrusted
///   address is the client, and if every entry is trusted the left-most is.
///   Entries may carry a port (`192.0.2.7:5678`, `[2001:db8::7]:443`).
/// * Without `X-Forwarded-For`, the same walk runs over the `for=` parameters
///   of RFC 7239 `Forwarded`.
/// * With neither header the trusted peer itself is the client (a request
///   made by the proxy, such as a health check).
///
/// An entry the walk reaches that is not an address is
/// [`ClientIpError::Malformed`]; entries left of the client are not parsed.
/// Returned addresses are canonical (`::ffff:a.b.c.d` becomes `a.b.c.d`).
///
/// Which header a proxy writes is the operator's business: a proxy that sets
/// `Forwarded` must also drop a client's `X-Forwarded-For`, which wins here.
pub fn client_ip(
    peer: IpAddr,
    x_forwarded_for: &[&[u8]],
    forwarded: &[&[u8]],
    trusted: &TrustedProxies,
) -> Result<IpAddr, ClientIpError> {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return Ok(peer);
    }
    let mut xff = xff_entries(x_forwarded_for).peekable();
    if xff.peek().is_some() {
        return walk(peer, xff, parse_xff_entry, trusted);
    }
    let mut fwd = forwarded_entries(forwarded).peekable();
    if fwd.peek().is_some() {
        return walk(peer, fwd, parse_forwarded_element, trusted);
    }
    Ok(peer)
}

/// Walks entries right to left; see [`client_ip`].
fn walk<'a>(
    peer: IpAddr,
    entries: impl Iterator<Item = &'a [u8]>,
    parse: fn(&[u8]) -> Option<IpAddr>,
    trusted: &TrustedProxies,
) -> Result<IpAddr, ClientIpError> {
    let mut leftmost = peer;
    for (hop, raw) in entries.enumerate() {
        if hop >= MAX_HOPS {
            return Err(ClientIpError::TooManyHops { limit: MAX_HOPS });
        }
        let ip = parse(raw).ok_or_else(|| malformed(raw))?.to_canonical();
        if !trusted.contains(ip) {
            return Ok(ip);
        }
        leftmost = ip;
    }
    Ok(leftmost)
}

fn malformed(raw: &[u8]) -> ClientIpError {
    let lossy = String::from_utf8_lossy(raw);
    let mut value = String::new();
    for (n, ch) in lossy.chars().enumerate() {
        if n == MAX_ERROR_VALUE {
            value.push('…');
            break;
        }
        if ch.is_control() {
            value.extend(ch.escape_default());
        } else {
            value.push(ch);
        }
    }
    ClientIpError::Malformed { value }
}

/// Optional whitespace around list elements (RFC 9110 OWS: SP / HTAB).
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// X-Forwarded-For entries, right-most first. Empty list elements
/// (`a, , b`) are list syntax, not hops, and are skipped.
fn xff_entries<'a>(instances: &'a [&'a [u8]]) -> impl Iterator<Item = &'a [u8]> + 'a {
    instances
        .iter()
        .rev()
        .flat_map(|v| v.rsplit(|&b| b == b','))
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// `Forwarded` elements, right-most first, split on commas outside quoted
/// strings. Only this lexical split touches elements left of the client.
fn forwarded_entries<'a>(instances: &'a [&'a [u8]]) -> impl Iterator<Item = &'a [u8]> + 'a {
    instances
        .iter()
        .rev()
        .flat_map(|v| split_unquoted(v, b',').into_iter().rev())
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// Splits on `sep` outside RFC 9110 quoted strings (with `\` escapes). An
/// unterminated quote runs to the end, so that piece fails to parse.
fn split_unquoted(s: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut start, mut in_quote, mut escaped) = (0, false, false);
    for (i, &b) in s.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if in_quote && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_quote = !in_quote;
        } else if b == sep && !in_quote {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// An X-Forwarded-For entry: `192.0.2.7`, `192.0.2.7:5678`, `2001:db8::7`,
/// `[2001:db8::7]` or `[2001:db8::7]:443`.
fn parse_xff_entry(raw: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(raw).ok()?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    parse_node(s, false)
}

/// `host[:port]` with host an IPv4 address or a bracketed IPv6 address.
/// `obfuscated_port` allows RFC 7239 `_obfport`.
fn parse_node(s: &str, obfuscated_port: bool) -> Option<IpAddr> {
    let (ip, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let ip = IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?);
        match after {
            "" => return Some(ip),
            _ => (ip, after.strip_prefix(':')?),
        }
    } else {
        match s.split_once(':') {
            None => return s.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
            Some((v4, port)) => (IpAddr::V4(v4.parse::<Ipv4Addr>().ok()?), port),
        }
    };
    valid_port(port, obfuscated_port).then_some(ip)
}

fn valid_port(port: &str, obfuscated: bool) -> bool {
    if let Some(obf) = port.strip_prefix('_') {
        return obfuscated
            && !obf.is_empty()
            && obf
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    }
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
}

/// The address in a `Forwarded` element's `for=` parameter:
/// `for=192.0.2.7`, `for="192.0.2.7:80"`, `for="[2001:db8::7]"`,
/// `for="[2001:db8::7]:443"`; parameter names are case-insensitive and other
/// parameters (`by`, `proto`, `host`) are ignored. `unknown`, an obfuscated
/// node (`_hidden`), a missing or repeated `for` give `None`.
fn parse_forwarded_element(raw: &[u8]) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_unquoted(raw, b';') {
        let pair = trim_ows(pair);
        if pair.is_empty() {
            continue;
        }
        let eq = pair.iter().position(|&b| b == b'=')?;
        let (name, value) = (&pair[..eq], &pair[eq + 1..]);
        if !name.eq_ignore_ascii_case(b"for") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        found = Some(value);
    }
    let value = unquote(found?)?;
    parse_node(&value, true)
}

/// A token or an RFC 9110 quoted string, unescaped.
fn unquote(value: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(value).ok()?;
    let Some(inner) = s.strip_prefix('"') else {
        return (!s.is_empty() && !s.contains(['"', '\\', ' ', '\t'])).then(|| s.to_owned());
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// The address a client is counted under by per-client limits: an IPv4
/// address (also one written as IPv4-mapped IPv6) is itself; an IPv6
/// address is its network of `ipv6_prefix` leading bits, since one host
/// has a whole /64 (or more) to pick addresses from. A prefix above 128
/// counts the whole address.
pub fn client_network(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) if ipv6_prefix < 128 => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(ipv6_prefix))
                .unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests;
