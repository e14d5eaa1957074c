//! Where a session signed in from, in words a person recognises on the
//! security-info page ("Chrome on Windows"). Recorded once at sign-in
//! (`signin::session`), from a closed vocabulary: the raw User-Agent is
//! never stored, so the sessions table holds no fingerprint and nothing a
//! client wrote reaches a page unfiltered.

use crate::i18n::{Lang, t};
use http::HeaderMap;
use rules::Platform;

/// Browser tokens, in the order they must be looked for: Edge, Opera and
/// Samsung Internet also say `Chrome/`, and Chrome also says `Safari/`.
const BROWSERS: [(&str, &str); 10] = [
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
];

/// "Chrome on Windows", "Safari on iOS", "Firefox", "a Linux device", or
/// `None` when the request names neither a browser nor a platform we know.
/// The `Sec-CH-UA-Platform` client hint wins over the User-Agent, as it does
/// for the rules.
pub fn describe(headers: &HeaderMap) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let ua = header("user-agent")
        .map(|ua| {
            ua.get(..rules::platform::MAX_USER_AGENT_BYTES)
                .unwrap_or(ua)
        })
        .unwrap_or_default();
    let platform = platform_words(rules::platform::detect(
        Some(ua),
        header("sec-ch-ua-platform"),
    ));
    let browser = BROWSERS
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| *name);
    match (browser, platform) {
        (Some(b), Some(p)) => Some(format!("{b} on {p}")),
        (Some(b), None) => Some(b.to_string()),
        (None, Some(p)) => Some(format!("a {p} device")),
        (None, None) => None,
    }
}

/// A recorded description in `lang`'s words: the browser and platform
/// names stay as they are (product names), the words joining them are
/// translated. The stored form is [`describe`]'s English, a closed
/// vocabulary, so it parses back; anything else is shown as stored.
pub fn words(lang: Lang, stored: &str) -> String {
    if let Some((browser, platform)) = stored.split_once(" on ") {
        return t!(
            lang,
            "device-browser-on",
            browser = browser,
            platform = platform
        );
    }
    if let Some(platform) = stored
        .strip_prefix("a ")
        .and_then(|rest| rest.strip_suffix(" device"))
    {
        return t!(lang, "device-platform", platform = platform);
    }
    stored.to_string()
}

fn platform_words(p: Platform) -> Option<&'static str> {
    Some(match p {
        Platform::Android => "Android",
        Platform::Ios => "iOS",
        Platform::Windows => "Windows",
        Platform::Macos => "macOS",
        Platform::Linux => "Linux",
        Platform::Chromeos => "ChromeOS",
        Platform::Unknown => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::{describe, words};
    use crate::i18n::Lang;

    #[test]
    fn words_translate_the_joins_and_keep_the_names() {
        let de = Lang::parse("de").expect("German");
        assert_eq!(words(de, "Chrome on Windows"), "Chrome unter Windows");
        assert_eq!(words(de, "a Linux device"), "ein Linux-Gerät");
        assert_eq!(words(de, "Firefox"), "Firefox");
        assert_eq!(words(Lang::EN, "Safari on iOS"), "Safari on iOS");
    }
    use http::HeaderMap;

    fn with(ua: &str, hint: Option<&str>) -> Option<String> {
        let mut h = HeaderMap::new();
        h.insert("user-agent", ua.parse().expect("header"));
        if let Some(hint) = hint {
            h.insert("sec-ch-ua-platform", hint.parse().expect("header"));
        }
        describe(&h)
    }

    #[test]
    fn browsers_and_platforms_in_words() {
        let chrome_win = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
        assert_eq!(with(chrome_win, None).as_deref(), Some("Chrome on Windows"));
        let edge = format!("{chrome_win} Edg/126.0.0.0");
        assert_eq!(with(&edge, None).as_deref(), Some("Edge on Windows"));
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(with(iphone, None).as_deref(), Some("Safari on iOS"));
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(with(firefox, None).as_deref(), Some("Firefox on Linux"));
        // The client hint wins over the User-Agent.
        assert_eq!(
            with(chrome_win, Some("\"macOS\"")).as_deref(),
            Some("Chrome on macOS")
        );
        assert_eq!(with("curl/8.5.0", None), None);
        assert_eq!(describe(&HeaderMap::new()), None);
    }
}
