//! The request's authority (`Host`, or the absolute-form URI's), checked as
//! an RFC 3986 authority before anything routes on it or repeats it.
//!
//! A `Host` is repeated to the app (`Host` with `preserve_host`,
//! `X-Forwarded-Host`) and into links the portal builds, so a value that
//! is not a plain `host[:port]` must never get that far: the outside probe
//! of issue 14 (finding 8) had `demo.localhost:x.evil.example`,
//! `demo.localhost:80/../evil` and `DEMO.localhost:99999999` routed to the
//! app and forwarded verbatim. Such requests are refused with 400
//! (RFC 9112 §3.2: "a server MUST respond with 400 to any request message
//! that … contains … a Host header field with an invalid field value"), and
//! what is forwarded is the normalised form: host lower-cased, a trailing
//! dot dropped, the port as digits without leading zeros.

use std::fmt;
use std::net::Ipv6Addr;

/// The longest host name we accept (RFC 1035 limits names to 253 octets).
const MAX_HOST: usize = 253;

/// A checked authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority {
    /// Lower-case host without the port or a trailing dot; an IPv6 literal
    /// keeps its brackets (`[::1]`), as `Host` writes it.
    pub host: String,
    pub port: Option<u16>,
}

impl Authority {
    /// `:port` (or empty), to build URLs on other hosts of the same
    /// listener.
    pub fn port_suffix(&self) -> String {
        self.port.map(|p| format!(":{p}")).unwrap_or_default()
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// Why an authority was refused (logged, never shown in detail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadAuthority {
    Empty,
    Host,
    Port,
}

impl BadAuthority {
    pub fn as_str(self) -> &'static str {
        match self {
            BadAuthority::Empty => "empty_host",
            BadAuthority::Host => "bad_host",
            BadAuthority::Port => "bad_port",
        }
    }
}

/// The request's authority as sent: the absolute-form URI's (RFC 9112
/// §3.2.2: it wins over `Host`), else the `Host` header's; empty when
/// neither is there or readable.
pub fn raw(req: &pingora::http::RequestHeader) -> &str {
    req.uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers.get("host").and_then(|v| v.to_str().ok()))
        .unwrap_or("")
}

/// Parses `host[:port]`: a registered name of letters, digits, `-`, `.`,
/// `_` and `~` (no user info, percent-encoding or sub-delimiters, which
/// no real host name needs and which parsers disagree on), an IPv4 address,
/// or a bracketed IPv6 address; the port all digits and at most 65535. An
/// empty port (`host:`, which RFC 3986 allows) is the same as none.
pub fn parse(value: &str) -> Result<Authority, BadAuthority> {
    if value.is_empty() {
        return Err(BadAuthority::Empty);
    }
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let end = rest.find(']').ok_or(BadAuthority::Host)?;
        let literal = &rest[..end];
        literal
            .parse::<Ipv6Addr>()
            .map_err(|_| BadAuthority::Host)?;
        let after = &rest[end + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(BadAuthority::Port)?),
        };
        (format!("[{}]", literal.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match value.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (value, None),
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        let ok = !host.is_empty()
            && host.len() <= MAX_HOST
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
            && !host.starts_with('.')
            && !host.ends_with('.')
            && !host.contains("..");
        if !ok {
            return Err(BadAuthority::Host);
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| BadAuthority::Port)?)
        }
        Some(_) => return Err(BadAuthority::Port),
    };
    Ok(Authority { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str) -> String {
        parse(v)
            .map(|a| a.to_string())
            .unwrap_or_else(|e| panic!("{v}: {e:?}"))
    }

    #[test]
    fn plain_hosts_are_normalised() {
        assert_eq!(ok("demo.localhost"), "demo.localhost");
        assert_eq!(ok("DEMO.Localhost:8080"), "demo.localhost:8080");
        assert_eq!(ok("demo.localhost.:80"), "demo.localhost:80");
        assert_eq!(ok("demo.localhost:"), "demo.localhost");
        assert_eq!(ok("demo.localhost:0080"), "demo.localhost:80");
        assert_eq!(ok("127.0.0.1:65535"), "127.0.0.1:65535");
        assert_eq!(ok("[::1]"), "[::1]");
        assert_eq!(ok("[2001:DB8::1]:443"), "[2001:db8::1]:443");
        assert_eq!(ok("under_score.test"), "under_score.test");
        let a = parse("Wiki.Test:8443").expect("parses");
        assert_eq!(a.host, "wiki.test");
        assert_eq!(a.port_suffix(), ":8443");
    }

    /// Issue 14, finding 8: what the outside probe had routed and forwarded.
    #[test]
    fn the_probes_hosts_are_refused() {
        for bad in [
            "demo.localhost:x.evil.example",
            "demo.localhost:80/../evil",
            "DEMO.localhost:99999999",
            "demo.localhost:65536",
            "demo.localhost:-1",
            "demo.localhost:80:80",
            "user@demo.localhost",
            "demo.localhost/",
            "demo.localhost\\evil",
            "demo%2elocalhost",
            "demo.localhost,evil.test",
            "demo.localhost evil.test",
            "[::1",
            "[::1]x",
            "[not-ip]:80",
            "[::1]:99999",
            ".demo.localhost",
            "demo..localhost",
            // Found by the `host` fuzz target: one trailing dot was taken
            // off and `demo.` kept.
            "demo..",
            "1..:80",
            ":80",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse(&"a".repeat(254)).is_err());
    }
}
