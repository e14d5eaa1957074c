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

#[cfg(test)]
mod tests {
    use super::escape;

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
