//! The session cookie: its `Set-Cookie` value and finding it in `Cookie`
//! headers.
//!
//! The cookie is host-only (no `Domain`), one per app host, and carries a
//! [`KeyRing`](super::KeyRing) session token whose `aud` is that host.

use super::jwt::{MAX_TOKEN_LEN, is_b64url_byte};

/// Cookie name on plain HTTP listeners.
pub const COOKIE_NAME: &str = "portcullis_session";

/// Cookie name on HTTPS listeners. Browsers only accept a `__Host-` cookie
/// that is `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain or
/// a plain-HTTP man in the middle cannot plant one for our host.
pub const SECURE_COOKIE_NAME: &str = "__Host-portcullis_session";

/// The cookie name for a listener: [`SECURE_COOKIE_NAME`] on HTTPS,
/// [`COOKIE_NAME`] on HTTP.
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The `Set-Cookie` header value that stores `token` for `max_age_secs`
/// (clamped at 0): host-only, `Path=/`, `HttpOnly`, `SameSite=Lax`, and
/// `Secure` on HTTPS.
///
/// `Lax` keeps the cookie on top-level navigations from other sites (links
/// in invitation e-mails, the IdP's redirect back) while withholding it from
/// cross-site subrequests and form posts (CSRF).
pub fn set_cookie(token: &str, https: bool, max_age_secs: i64) -> String {
    let mut v = String::with_capacity(token.len() + 96);
    v.push_str(cookie_name(https));
    v.push('=');
    v.push_str(token);
    v.push_str("; Path=/; Max-Age=");
    v.push_str(&max_age_secs.max(0).to_string());
    v.push_str("; HttpOnly; SameSite=Lax");
    if https {
        v.push_str("; Secure");
    }
    v
}

/// The `Set-Cookie` header value that deletes the session cookie (sign-out).
pub fn clear_cookie(https: bool) -> String {
    set_cookie("", https, 0)
}

/// Whether a `Set-Cookie` value from an upstream would store a cookie that
/// browsers send back under one of our session cookie names, so the
/// response filter drops it (session fixation through an app).
///
/// Parsed as browsers do (RFC 6265bis §5.6): the name-value pair ends at
/// the first `;`; without `=` the name is empty and the whole pair is the
/// value; name and value are trimmed of spaces and tabs. A nameless cookie
/// is sent back as its bare value, so `=portcullis_session=<jwt>` comes
/// back as `portcullis_session=<jwt>` (issue 14, finding 5: comparing only
/// the text before the first `=` let that through). So the cookie is judged
/// by what the browser will send: `name=value`, or the bare value. Names
/// are compared ignoring ASCII case, which is stricter than browsers.
pub fn planted_by_upstream(set_cookie: &[u8]) -> bool {
    let pair = set_cookie.split(|&b| b == b';').next().unwrap_or_default();
    let sent_back = match pair.iter().position(|&b| b == b'=') {
        Some(eq) if !trim(&pair[..eq]).is_empty() => pair,
        // Nameless: the browser sends the value alone.
        Some(eq) => &pair[eq + 1..],
        None => pair,
    };
    let name = match sent_back.iter().position(|&b| b == b'=') {
        Some(eq) => &sent_back[..eq],
        None => sent_back,
    };
    let name = trim(name);
    [COOKIE_NAME, SECURE_COOKIE_NAME]
        .iter()
        .any(|ours| name.eq_ignore_ascii_case(ours.as_bytes()))
}

/// Finds our session cookie in one or more `Cookie` header values.
///
/// Runs on every request. Returns the first cookie named
/// [`cookie_name(https)`](cookie_name) whose value looks like a JWT (base64url
/// and dots, at most [`MAX_TOKEN_LEN`] bytes, optionally in double quotes);
/// `None` if there is none. Splits on `;` without allocating and never panics,
/// whatever the bytes.
///
/// On HTTPS only the `__Host-` name is read: a plain `portcullis_session`
/// there may have been set by a sibling subdomain with `Domain=` (cookie
/// tossing / session fixation).
pub fn find_session_cookie<'a, I>(headers: I, https: bool) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let name = cookie_name(https).as_bytes();
    headers.into_iter().flat_map(pairs).find_map(|pair| {
        let pair = trim(pair);
        let eq = memchr::memchr(b'=', pair)?;
        let (n, v) = pair.split_at(eq);
        if trim(n) != name {
            return None;
        }
        let v = trim(v.get(1..)?);
        let v = match v {
            [b'"', inner @ .., b'"'] => inner,
            _ => v,
        };
        let v = std::str::from_utf8(v).ok()?;
        looks_like_jwt(v).then_some(v)
    })
}

/// Three base64url segments (each may be empty) joined by two dots; one
/// pass over the bytes, as this runs on every request's cookie.
fn looks_like_jwt(v: &str) -> bool {
    if v.is_empty() || v.len() > MAX_TOKEN_LEN {
        return false;
    }
    let mut dots = 0;
    for &b in v.as_bytes() {
        if b == b'.' {
            dots += 1;
        } else if !is_b64url_byte(b) {
            return false;
        }
    }
    dots == 2
}

/// The `;`-separated parts of a `Cookie` header value, as `split` on `;`
/// gives them (empty ones included), found with `memchr`: the session
/// cookie alone is ~500 bytes, scanned on every request.
pub(crate) fn pairs(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(v);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(b';', r) {
            Some(i) => {
                rest = r.get(i + 1..);
                r.get(..i)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln";

    fn find(headers: &[&str], https: bool) -> Option<String> {
        find_session_cookie(headers.iter().map(|h| h.as_bytes()), https).map(str::to_owned)
    }

    #[test]
    fn set_cookie_on_https_is_host_prefixed_and_secure() {
        let v = set_cookie(TOKEN, true, 3600);
        assert_eq!(
            v,
            format!(
                "__Host-portcullis_session={TOKEN}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure"
            )
        );
        assert!(!v.contains("Domain"));
    }

    #[test]
    fn set_cookie_on_http_has_no_secure() {
        let v = set_cookie(TOKEN, false, 60);
        assert_eq!(
            v,
            format!("portcullis_session={TOKEN}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax")
        );
        assert_eq!(
            clear_cookie(false),
            "portcullis_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
        assert!(set_cookie(TOKEN, false, -5).contains("Max-Age=0;"));
    }

    #[test]
    fn finds_cookie_among_others_and_across_headers() {
        let h = format!("a=1; portcullis_session={TOKEN}; b=2");
        assert_eq!(find(&[&h], false).as_deref(), Some(TOKEN));
        let h2 = format!("portcullis_session={TOKEN}");
        assert_eq!(find(&["a=1; b=2", &h2], false).as_deref(), Some(TOKEN));
        // No spaces, tabs, trailing semicolons, quoted values.
        let h3 = format!("x=y;portcullis_session=\"{TOKEN}\";");
        assert_eq!(find(&[&h3], false).as_deref(), Some(TOKEN));
        let h4 = format!("\t portcullis_session = {TOKEN} \t;z");
        assert_eq!(find(&[&h4], false).as_deref(), Some(TOKEN));
    }

    #[test]
    fn https_reads_only_the_host_prefixed_name() {
        let plain = format!("portcullis_session={TOKEN}");
        assert_eq!(
            find(&[&plain], true),
            None,
            "a tossed plain cookie is ignored on HTTPS"
        );
        let host = format!("portcullis_session=bad; __Host-portcullis_session={TOKEN}");
        assert_eq!(find(&[&host], true).as_deref(), Some(TOKEN));
        assert_eq!(
            find(&[&host], false),
            None,
            "plain value 'bad' is not a JWT"
        );
    }

    #[test]
    fn skips_garbage_and_lookalike_names() {
        let other = format!("xportcullis_session={TOKEN}; portcullis_sessionx={TOKEN}");
        assert_eq!(find(&[&other], false), None);
        assert_eq!(find(&["portcullis_session=not a jwt"], false), None);
        assert_eq!(find(&["portcullis_session=a.b"], false), None);
        assert_eq!(find(&["portcullis_session=a.b.c.d"], false), None);
        assert_eq!(find(&["portcullis_session="], false), None);
        assert_eq!(find(&["portcullis_session=\""], false), None);
        assert_eq!(find(&["portcullis_session"], false), None);
        assert_eq!(find(&[";;;==;=; ;"], false), None);
        assert_eq!(find(&[""], false), None);
        assert_eq!(find(&[], false), None);
        // A bad first value does not hide a good later one.
        let h = format!("portcullis_session=%%%; portcullis_session={TOKEN}");
        assert_eq!(find(&[&h], false).as_deref(), Some(TOKEN));
        let long = format!("portcullis_session={}.b.c", "a".repeat(MAX_TOKEN_LEN));
        assert_eq!(find(&[&long], false), None);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let raw: [&[u8]; 6] = [
            b"\xff\xfe=\x00;portcullis_session=\xff.\xff.\xff",
            b"portcullis_session=\"",
            b"=",
            b"\"\"",
            b"portcullis_session=\"a.b.c",
            b"portcullis_session=a.b.c\"",
        ];
        for h in raw {
            let _ = find_session_cookie([h], false);
            let _ = find_session_cookie([h], true);
        }
        // Pseudo-random bytes from a fixed seed.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let mut buf = Vec::with_capacity(64);
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let alphabet = b"portcullis_session=.;\" \tab\xff";
                buf.push(alphabet[x as usize % alphabet.len()]);
            }
            let _ = find_session_cookie([buf.as_slice()], false);
        }
    }

    /// Issue 14, finding 5: an upstream planted the session cookie with a
    /// nameless `Set-Cookie`, which browsers send back as its bare value.
    #[test]
    fn an_upstream_cannot_plant_our_cookie_under_any_spelling() {
        for planted in [
            "portcullis_session=eyJ.x.y; Path=/",
            "=portcullis_session=eyJ.x.y",
            " = portcullis_session=eyJ.x.y; HttpOnly",
            "=\tportcullis_session =eyJ.x.y",
            "Portcullis_Session=x",
            "__Host-portcullis_session=x; Secure; Path=/",
            "=__Host-portcullis_session=x",
            "portcullis_session",
            "=portcullis_session",
        ] {
            assert!(planted_by_upstream(planted.as_bytes()), "{planted:?} kept");
        }
        for fine in [
            "app_session=1; Path=/",
            "=app=1",
            "x=portcullis_session=1",
            "portcullis_sessionx=1",
            "=",
            "",
            "; portcullis_session=1",
        ] {
            assert!(!planted_by_upstream(fine.as_bytes()), "{fine:?} dropped");
        }
    }

    proptest::proptest! {
        /// Issue 21: the one-pass scans give what the plain definitions
        /// give: `pairs` is `split(';')`, `looks_like_jwt` is "three
        /// base64url segments".
        #[test]
        fn the_fast_scans_agree_with_their_definitions(v in "[a-zA-Z0-9._;= +/-]{0,40}") {
            let by_split: Vec<&[u8]> = v.as_bytes().split(|&b| b == b';').collect();
            let by_pairs: Vec<&[u8]> = pairs(v.as_bytes()).collect();
            proptest::prop_assert_eq!(by_pairs, by_split);
            let plain = !v.is_empty()
                && v.len() <= MAX_TOKEN_LEN
                && v.split('.').count() == 3
                && v.split('.').all(super::super::jwt::is_b64url);
            proptest::prop_assert_eq!(looks_like_jwt(&v), plain);
        }
    }
}
