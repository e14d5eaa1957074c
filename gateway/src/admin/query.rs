//! Decoding of query-string parts and path segments, shared by the routes
//! that read them.

use std::borrow::Cow;

/// Decodes one query-string part or path segment the way forms encode
/// them: `%XX` escapes, and `+` for a space (`%2B` is a plus). `None` for a
/// broken escape (`%4`, `%zz`) or bytes that are not UTF-8, which the
/// caller refuses: a mistyped id must not quietly mean something else.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    // `percent_encoding` passes a broken escape through as text; check first.
    let well_formed = s.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}
