//! HTML escaping, the one escaper for everything we write as HTML: the
//! portal's pages and the e-mails (through their template formatters) and
//! the proxy's own pages. The access log escapes JSON, not HTML, and keeps
//! its own.

/// Escapes text for HTML element content and quoted attribute values:
/// `& < > " '` (the five MarkupSafe escapes), so a name or a link from a
/// user stays text and cannot end an attribute. `/` is left alone: links
/// (and `data:` URIs) stay readable in the source.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Everything but RFC 3986's unreserved characters and `/` (kept so that
/// return paths stay readable) is percent-encoded in a query component.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a URL query component (a return path, an app name) for a
/// link or a redirect the gateway builds.
pub fn encode_component(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::{encode_component, escape};

    #[test]
    fn query_components_keep_only_unreserved_characters_and_slashes() {
        assert_eq!(
            encode_component("/a b?x=1&y=//evil"),
            "/a%20b%3Fx%3D1%26y%3D//evil"
        );
        assert_eq!(encode_component("ünï"), "%C3%BCn%C3%AF");
    }

    #[test]
    fn escapes_the_five_markup_characters() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn leaves_everything_else_as_written() {
        let plain = "https://wiki.test/a/b?c=1 — Zoë, 日本, data:image/png;base64,AA==";
        assert_eq!(escape(plain), plain);
        assert_eq!(escape(""), "");
    }

    #[test]
    fn an_attribute_value_cannot_be_ended() {
        let hostile = "x\" onmouseover=\"alert(1)' onclick='alert(2)";
        let escaped = escape(hostile);
        assert!(!escaped.contains(['"', '\'', '<', '>']), "{escaped}");
    }

    #[test]
    fn escaping_twice_escapes_the_ampersands_again() {
        // Callers escape once, at the edge; a second pass shows on the page.
        assert_eq!(escape(&escape("&")), "&amp;amp;");
    }
}
