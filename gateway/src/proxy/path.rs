//! Path normalisation: the path that is decided is the path that is
//! forwarded.
//!
//! Proxies and apps that read one path differently are the classic way past
//! an access gateway (e.g. CVE-2021-41773's `%2e%2e`, Tomcat's `..;/`
//! confusion, encoded-slash tricks against prefix rules). So we decode only
//! what is unambiguous, remove dot segments and repeated slashes ourselves,
//! forward the result, and refuse (400) what an upstream could still read
//! another way:
//! - `%2F` and `%5C` (an encoded `/` or `\`), a raw `\`;
//! - `%00`, control characters, raw bytes outside ASCII;
//! - `%3B` (an encoded `;`), and `;` parameters on `.`, `..` or empty
//!   segments (`..;/`, `/.;x/`, `/;x/`);
//!
//! Path parameters on named segments (`/admin;jsessionid=1/x`) are removed
//! before deciding and forwarding: Tomcat, Jetty and Spring drop them and
//! serve `/admin/x`, so a rule on `/admin/*` (or the reserved prefix) must
//! see `/admin/x` too, and the app gets exactly that.
//! - malformed percent-encoding, anything that is not origin-form.
//!
//! Unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded; every other
//! escape is kept, upper-cased, so nothing is decoded twice downstream.

use std::fmt;

/// Longest path we accept (bytes); longer is refused, not truncated.
pub const MAX_PATH: usize = 8192;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    NotOriginForm,
    TooLong,
    BadEscape,
    EncodedSeparator,
    Backslash,
    ControlOrNonAscii,
    AmbiguousParameter,
}

impl PathError {
    /// Stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            PathError::NotOriginForm => "not_origin_form",
            PathError::TooLong => "too_long",
            PathError::BadEscape => "bad_escape",
            PathError::EncodedSeparator => "encoded_separator",
            PathError::Backslash => "backslash",
            PathError::ControlOrNonAscii => "control_or_non_ascii",
            PathError::AmbiguousParameter => "ambiguous_parameter",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Normalises the path part of a request target (no query). Returns the
/// normalised path, which starts with `/`.
pub fn normalize(raw: &str) -> Result<String, PathError> {
    let raw = raw.as_bytes();
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotOriginForm);
    }
    if raw.len() > MAX_PATH {
        return Err(PathError::TooLong);
    }
    // Pass 1: decode what is unambiguous, keep the rest escaped.
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b'%' => {
                let (Some(h), Some(l)) = (
                    raw.get(i + 1).copied().and_then(hex),
                    raw.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let v = h << 4 | l;
                match v {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    b';' => return Err(PathError::AmbiguousParameter),
                    0..=0x1f | 0x7f => return Err(PathError::ControlOrNonAscii),
                    _ if unreserved(v) => decoded.push(v),
                    _ => {
                        const HEX: &[u8; 16] = b"0123456789ABCDEF";
                        decoded.extend_from_slice(&[
                            b'%',
                            HEX[(v >> 4) as usize],
                            HEX[(v & 15) as usize],
                        ]);
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            0..=0x20 | 0x7f..=0xff => return Err(PathError::ControlOrNonAscii),
            _ => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    // Pass 2: segments; drop empty and `.`, resolve `..`.
    // RFC 3986 §5.2.4: `/a/b/`, `/a/b/.` and `/a/b/..` all end in a slash.
    let trailing_slash =
        decoded.ends_with(b"/") || decoded.ends_with(b"/.") || decoded.ends_with(b"/..");
    let mut segments: Vec<&[u8]> = Vec::new();
    for seg in decoded.split(|&b| b == b'/') {
        let name = seg.split(|&b| b == b';').next().unwrap_or(seg);
        let has_params = name.len() != seg.len();
        if has_params && (name.is_empty() || name == b"." || name == b"..") {
            return Err(PathError::AmbiguousParameter);
        }
        match name {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            _ => segments.push(name),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for seg in &segments {
        out.push('/');
        // Every byte is ASCII (checked above).
        out.extend(seg.iter().map(|&b| b as char));
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(out)
}

/// The request target forwarded upstream: the decided (normalised) path and
/// the query exactly as the client sent it. `request_filter` builds it once;
/// `upstream_request_filter` sets it on the upstream request unchanged, so
/// the path an app serves is the path the policy decided on (the fuzz target
/// `path` checks that it parses back to exactly that path and query).
pub fn forward_target(path: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

/// The path of a request's target, for [`normalize`]. Pingora keeps a target
/// that is neither origin-form nor absolute-form (`admin/x`, `?q`, an opaque
/// `foo:bar`, a `CONNECT` authority) with `/` as its URI path: deciding on
/// that `/` would decide on a path the client never sent (and forward `/`),
/// so such targets are refused (RFC 9112 §3.2). Absolute-form is allowed:
/// Pingora has checked its authority against `Host` and its URI path is the
/// target's own path.
pub fn target_path(req: &pingora::http::RequestHeader) -> Result<&str, PathError> {
    let raw = req.raw_path();
    let absolute = |scheme: &[u8]| {
        raw.len() > scheme.len() && raw[..scheme.len()].eq_ignore_ascii_case(scheme)
    };
    if raw.first() == Some(&b'/') || absolute(b"http://") || absolute(b"https://") {
        Ok(req.uri.path())
    } else {
        Err(PathError::NotOriginForm)
    }
}

/// Whether a normalised path is under the reserved `/.portcullis/` prefix.
/// Case-insensitive: an app that ignores case must never be reachable there.
pub fn is_reserved(path: &str) -> bool {
    const PREFIX: &str = "/.portcullis";
    path.len() >= PREFIX.len()
        && path.as_bytes()[..PREFIX.len()].eq_ignore_ascii_case(PREFIX.as_bytes())
        && matches!(path.as_bytes().get(PREFIX.len()), None | Some(b'/'))
}

/// Public paths: an exact match, or everything under one ending in `/`.
/// Takes the normalised path (`pub` for the fuzz target `path`).
pub fn is_public(public: &[String], path: &str) -> bool {
    public.iter().any(|p| {
        if p.ends_with('/') {
            path.starts_with(p.as_str())
        } else {
            path == p
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        normalize(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn dot_segments_and_repeated_slashes() {
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("/a/b"), "/a/b");
        assert_eq!(ok("/a/./b"), "/a/b");
        assert_eq!(ok("/a/../b"), "/b");
        assert_eq!(ok("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(ok("//a///b//"), "/a/b/");
        assert_eq!(ok("/a/b/.."), "/a/");
        assert_eq!(ok("/a/."), "/a/");
        assert_eq!(ok("/.portcullis/../x"), "/x");
    }

    #[test]
    fn unreserved_escapes_are_decoded_before_dot_segments() {
        assert_eq!(ok("/%2e%2e/admin"), "/admin");
        assert_eq!(ok("/public/%2E%2E/admin"), "/admin");
        assert_eq!(ok("/%61dmin"), "/admin");
        assert_eq!(ok("/a%20b"), "/a%20b");
        assert_eq!(ok("/a%c3%a9"), "/a%C3%A9");
        assert_eq!(ok("/100%25"), "/100%25");
        assert_eq!(ok("/.%70ortcullis/x"), "/.portcullis/x");
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for (raw, err) in [
            ("/a%2fb", PathError::EncodedSeparator),
            ("/a%2Fb", PathError::EncodedSeparator),
            ("/a%5cb", PathError::EncodedSeparator),
            ("/a\\b", PathError::Backslash),
            ("/a%00", PathError::ControlOrNonAscii),
            ("/a%0d%0a", PathError::ControlOrNonAscii),
            ("/a\u{e9}", PathError::ControlOrNonAscii),
            ("/a b", PathError::ControlOrNonAscii),
            ("/public/..;/admin", PathError::AmbiguousParameter),
            ("/public/.;x/admin", PathError::AmbiguousParameter),
            ("/;x/admin", PathError::AmbiguousParameter),
            ("/admin%3b", PathError::AmbiguousParameter),
            ("/a%zz", PathError::BadEscape),
            ("/a%2", PathError::BadEscape),
            ("*", PathError::NotOriginForm),
            ("http://x/", PathError::NotOriginForm),
            ("", PathError::NotOriginForm),
        ] {
            assert_eq!(normalize(raw), Err(err), "{raw}");
        }
        assert_eq!(
            normalize(&format!("/{}", "a".repeat(MAX_PATH))),
            Err(PathError::TooLong)
        );
    }

    #[test]
    fn parameters_on_named_segments_are_removed() {
        assert_eq!(ok("/app;jsessionid=1/page"), "/app/page");
        assert_eq!(ok("/admin;x/secret"), "/admin/secret");
        assert_eq!(ok("/.portcullis;x/jwks.json"), "/.portcullis/jwks.json");
        assert_eq!(ok("/app;x/../y"), "/y");
        assert_eq!(ok("/a/b;v=1"), "/a/b");
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for raw in ["/a/../b/./c//d/", "/%2e/x", "/a%20b/%7e", "/x/..", "/"] {
            let once = ok(raw);
            assert_eq!(ok(&once), once, "{raw}");
        }
    }

    #[test]
    fn targets_that_are_not_origin_or_absolute_form_are_refused() {
        let target = |t: &[u8]| {
            let r = pingora::http::RequestHeader::build("GET", t, None).expect("request");
            target_path(&r).map(str::to_string)
        };
        assert_eq!(target(b"/a/b?q"), Ok("/a/b".to_string()));
        assert_eq!(target(b"http://x.test/a"), Ok("/a".to_string()));
        assert_eq!(target(b"HTTPS://x.test/a?q"), Ok("/a".to_string()));
        for bad in [&b"admin/secret"[..], b"?q", b"foo:bar", b"x.test:443", b"*"] {
            assert_eq!(target(bad), Err(PathError::NotOriginForm), "{bad:?}");
        }
    }

    #[test]
    fn reserved_prefix() {
        assert!(is_reserved("/.portcullis"));
        assert!(is_reserved("/.portcullis/jwks.json"));
        assert!(is_reserved("/.PortCullis/sign-in"));
        assert!(!is_reserved("/.portcullisx"));
        assert!(!is_reserved("/x/.portcullis/"));
    }

    #[test]
    fn public_paths_exact_or_folder() {
        let p = vec!["/health".to_string(), "/static/".to_string()];
        assert!(is_public(&p, "/health"));
        assert!(!is_public(&p, "/health/x"));
        assert!(!is_public(&p, "/healthz"));
        assert!(is_public(&p, "/static/app.js"));
        assert!(!is_public(&p, "/static"));
    }
}
