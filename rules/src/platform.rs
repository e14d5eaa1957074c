//! Device platform and client app type: two facts `context` derives once per
//! request from its headers, and the `platforms` / `client_apps` conditions of
//! the rule files match on.
//!
//! Platform: the `Sec-CH-UA-Platform` client hint wins when present and
//! recognised; otherwise the User-Agent is parsed with `woothee`, corrected by a
//! few explicit token checks for clients woothee misses (see [`from_user_agent`]).
//!
//! Known limits (by design, pinned by `tests/platform_corpus.rs`):
//! - iPadOS Safari in its default desktop-class mode sends the macOS Safari UA
//!   byte for byte (`Macintosh; Intel Mac OS X 10_15_7 … Version/26.x Safari/…`)
//!   and no client hint (Safari sends none), so an iPad comes out `macos`. Only
//!   in-page JavaScript (`navigator.maxTouchPoints`) could tell. Chrome, Edge and
//!   Firefox on iPad keep an iOS-only token (`CriOS/`, `EdgiOS/`, `FxiOS/`) and
//!   do come out `ios`.
//! - Windows 11 sends `Windows NT 10.0`, so it reads as `windows` like Windows
//!   10; only `Sec-CH-UA-Platform-Version` (not used here) tells them apart.
//! - Both headers are chosen by the client and trivially forged. A platform
//!   condition is a hint to pick the right requirement (e.g. "MFA on phones"),
//!   not a security boundary on its own: a policy that *allows* more for one
//!   platform must not be the only thing keeping an attacker out.
//! - Crawlers, game consoles, TVs, feature phones, BlackBerry, Windows Phone,
//!   Firefox OS and BSD are `unknown`: the rule vocabulary has no word for them.

use std::fmt;
use std::sync::LazyLock;

use woothee::parser::{Parser, WootheeResult};

/// The device platform of a request, in the rule-file vocabulary.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Platform {
    Android,
    Ios,
    Windows,
    Macos,
    Linux,
    Chromeos,
    /// No header named a platform we know (also: empty User-Agent, bots,
    /// consoles, feature phones).
    Unknown,
}

impl Platform {
    /// Every platform, in declaration (and `bit`) order.
    pub const ALL: [Platform; 7] = [
        Platform::Android,
        Platform::Ios,
        Platform::Windows,
        Platform::Macos,
        Platform::Linux,
        Platform::Chromeos,
        Platform::Unknown,
    ];

    /// The rule-file word for this platform (`platforms: { include: [ios] }`).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Windows => "windows",
            Platform::Macos => "macos",
            Platform::Linux => "linux",
            Platform::Chromeos => "chromeos",
            Platform::Unknown => "unknown",
        }
    }

    /// Parses a rule-file word: exactly one of the lowercase words `as_str`
    /// returns. `None` for anything else (`all` is the rule parser's business).
    pub fn parse(s: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// `1 << discriminant`: the platform's bit in a compiled `u8` mask.
    pub const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Works out the device platform of a request; runs once per request while
/// `context` builds the request facts.
///
/// `ch_ua_platform` is the raw `Sec-CH-UA-Platform` value (an sf-string, so
/// with its double quotes: `"macOS"`). When it names a platform it wins over
/// the User-Agent; when it is `"Unknown"`, empty or unrecognised the
/// User-Agent decides. A missing or empty User-Agent is [`Platform::Unknown`].
pub fn detect(user_agent: Option<&str>, ch_ua_platform: Option<&str>) -> Platform {
    // The hint first: it is a few byte compares and lets us skip woothee.
    if let Some(platform) = ch_ua_platform.and_then(from_client_hint) {
        return platform;
    }
    match user_agent {
        Some(ua) => from_user_agent(ua),
        None => Platform::Unknown,
    }
}

/// The platform a `Sec-CH-UA-Platform` value names, or `None` when it names
/// none we know (including `"Unknown"`), so the caller falls back to the UA.
///
/// Accepts the wire form with double quotes and, leniently, the bare token;
/// surrounding spaces/tabs are ignored and the comparison is ASCII
/// case-insensitive. Values per MDN: `"Android"`, `"Chrome OS"`,
/// `"Chromium OS"`, `"iOS"`, `"Linux"`, `"macOS"`, `"Windows"`, `"Unknown"`.
pub fn from_client_hint(value: &str) -> Option<Platform> {
    let value = value.trim_matches([' ', '\t']);
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    const HINTS: [(&str, Platform); 7] = [
        ("Windows", Platform::Windows),
        ("macOS", Platform::Macos),
        ("Android", Platform::Android),
        ("iOS", Platform::Ios),
        ("Linux", Platform::Linux),
        ("Chrome OS", Platform::Chromeos),
        ("Chromium OS", Platform::Chromeos),
    ];
    HINTS
        .iter()
        .find(|(name, _)| value.eq_ignore_ascii_case(name))
        .map(|&(_, platform)| platform)
}

/// The woothee parser, built once. (In woothee 0.13 `Parser` is an empty
/// struct and its regexes are its own lazy statics, but the API promises
/// nothing about construction cost, so we never build one per request.)
static PARSER: LazyLock<Parser> = LazyLock::new(Parser::new);

/// The platform a User-Agent string names on its own (no client hint).
/// Empty, `-` and unparseable strings are [`Platform::Unknown`].
///
/// Order: iOS/Android-only app tokens first (they beat a `Macintosh` that
/// woothee would trust), then a cheap scan that skips woothee for strings that
/// cannot name a platform, then woothee, then a Linux fallback for strings
/// woothee files under "HTTP library" without looking at the OS.
pub fn from_user_agent(ua: &str) -> Platform {
    let ua = head(ua, MAX_USER_AGENT_BYTES);
    if ua.is_empty() {
        return Platform::Unknown;
    }
    if let Some(platform) = mobile_app_token(ua) {
        return platform;
    }
    if !may_name_platform(ua) {
        // python-requests, Go-http-client, node, curl/8.x: woothee would run
        // every check (≈2.5 µs) only to find no OS.
        return Platform::Unknown;
    }
    with_woothee(ua)
}

/// Only this much of a User-Agent is read. Real ones are far shorter (the
/// longest in our corpora is 239 bytes; the OS is named in the first
/// parenthesis), while woothee's cost grows with the length (≈60 substring
/// scans and a lowercase copy): a 64 KiB header took ≈80 µs instead of ≈1 µs.
/// The cap stops a client from buying that much CPU per request.
pub const MAX_USER_AGENT_BYTES: usize = 512;

/// The first at most `max` bytes of `s`, cut at a char boundary.
fn head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// woothee's verdict mapped to our vocabulary, plus the GNU-triple fallback.
fn with_woothee(ua: &str) -> Platform {
    let Some(parsed) = PARSER.parse(ua) else {
        // woothee knows nothing of it.
        return os_triple_fallback(ua);
    };
    match woothee_os(&parsed) {
        Platform::Unknown if parsed.category != "crawler" => os_triple_fallback(ua),
        platform => platform,
    }
}

/// Whether `with_woothee` could return anything but `Unknown`: false means
/// none of the substrings any of its platform outcomes needs is present, so
/// the parse can be skipped. woothee 0.13 sets an OS we map to a platform
/// only from `Windows`, `(Win98;`, `Sleipnir/` (Windows), `Mac OS X`,
/// `Macintosh; U; PPC;`, `Mac_PowerPC`, `iPhone`, `iPad`, `iPod`,
/// `CFNetwork`, `Android`, `Linux` and `X11; CrOS `; our fallback needs
/// `linux` in any case. The needles below are prefixes/parts of those (a
/// false "may" only costs the parse). `tests::prefilter_agrees_with_woothee`
/// checks the claim.
fn may_name_platform(ua: &str) -> bool {
    const NEEDLES: [&str; 7] = [
        "Win",
        "Mac",
        "iP",
        "CFNetwork",
        "Android",
        "CrOS",
        "Sleipnir",
    ];
    NEEDLES.iter().any(|n| ua.contains(n)) || contains_ignore_ascii_case(ua.as_bytes(), b"linux")
}

/// Tokens only iOS (resp. Android) builds of a browser or app send. They are
/// checked before woothee because woothee trusts `Macintosh`: Chrome, Edge and
/// Firefox on an iPad in desktop mode send `Macintosh; Intel Mac OS X …` plus
/// `CriOS/`, `EdgiOS/` or `FxiOS/` (woothee says Mac OSX; uap-core says iOS),
/// and Outlook for iOS sends only `Outlook-iOS/…` (woothee: no result).
fn mobile_app_token(ua: &str) -> Option<Platform> {
    // Every iOS token below contains "iOS": one scan rejects most UAs.
    if ua.contains("iOS") {
        const IOS_TOKENS: [&str; 5] = [
            "CriOS/",          // Chrome for iOS
            "EdgiOS/",         // Edge for iOS
            "FxiOS/",          // Firefox for iOS
            "Outlook-iOS/",    // Outlook for iOS (app HTTP client)
            "TeamsMobile-iOS", // Teams mobile in-app browser
        ];
        // `Outlook-iOS-Android/` is Microsoft's cloud sync service acting for
        // both mobile apps, not a device: the `/` after `Outlook-iOS` keeps it
        // out of the list, and woothee would call it Android, so say so here.
        if ua.contains("Outlook-iOS-Android/") {
            return Some(Platform::Unknown);
        }
        if IOS_TOKENS.iter().any(|t| ua.contains(t)) {
            return Some(Platform::Ios);
        }
    }
    // Teams and Outlook for Android; woothee already reads the Teams web view's
    // `Linux; Android` part, the token only saves the parse.
    if ua.contains("TeamsMobile-Android") || ua.contains("Outlook-Android/") {
        return Some(Platform::Android);
    }
    None
}

/// Maps woothee's `os` to our vocabulary. woothee 0.13 `os` values (dataset
/// `type: os` names, plus the `os` of its mobile-phone and appliance entries):
/// - `Windows 10`/`8.1`/`8`/`7`/`Vista`/`XP`/`2000`/`NT 4.0`/`Me`/`98`/`95`,
///   `Windows UNKNOWN Ver` → windows (all desktop Windows; the vocabulary
///   names the device family, not the release).
/// - `Windows Phone OS`, `Windows CE` → unknown: phones/handhelds, not the
///   desktop Windows a `windows` rule means.
/// - `Mac OSX`, `Mac OS Classic` → macos (Apple desktop, old or new).
/// - `iPhone`, `iPad`, `iPod`, `iOS` (CFNetwork apps) → ios.
/// - `Android` → android, `Linux` → linux, `ChromeOS` → chromeos.
/// - `BSD`, `Firefox OS`, `BlackBerry`, `BlackBerry 10`, Japanese feature
///   phones (`docomo`, `au`, `SoftBank`, `WILLCOM`, `emobile`, `jig`),
///   `SymbianOS`, `Mobile Transcoder`, consoles and TVs, `UNKNOWN` → unknown.
fn woothee_os(parsed: &WootheeResult<'_>) -> Platform {
    let os = parsed.os;
    if let Some(release) = os.strip_prefix("Windows ") {
        return match release {
            "Phone OS" | "CE" => Platform::Unknown,
            _ => Platform::Windows,
        };
    }
    match os {
        "Mac OSX" | "Mac OS Classic" => Platform::Macos,
        "iPhone" | "iPad" | "iPod" | "iOS" => Platform::Ios,
        "Android" => Platform::Android,
        "Linux" => Platform::Linux,
        "ChromeOS" => Platform::Chromeos,
        _ => Platform::Unknown,
    }
}

/// For non-crawler strings woothee gave no OS: command-line tools and
/// libraries put their GNU target triple in the UA (`curl/7.19.7
/// (x86_64-redhat-linux-gnu) …`, `Wget/1.12 (linux-gnu)`) in lowercase;
/// woothee looks only for `Linux` with a capital L, finds none and files the
/// string as "HTTP library" with OS UNKNOWN. A triple with `linux` names the
/// OS the client was built for, so it is linux; one that also says `android`
/// is Android's (`aarch64-linux-android`). Crawlers stay unknown: a bot is not
/// a device, whatever platform its UA imitates (woothee's verdict too).
fn os_triple_fallback(ua: &str) -> Platform {
    let bytes = ua.as_bytes();
    if !contains_ignore_ascii_case(bytes, b"linux") {
        Platform::Unknown
    } else if contains_ignore_ascii_case(bytes, b"android") {
        Platform::Android
    } else {
        Platform::Linux
    }
}

/// ASCII case-insensitive substring search, without allocating. `needle`
/// must be lowercase ASCII.
fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    // Cheap first-byte test before comparing the rest (this runs on every
    // woothee-less UA, so it is worth the loop).
    haystack.iter().enumerate().any(|(i, b)| {
        b.to_ascii_lowercase() == first
            && haystack
                .get(i + 1..i + needle.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(rest))
    })
}

/// How the client talks to us: a browser navigating, or a program calling an
/// API. Decides 302-to-sign-in vs 401, and the `client_apps` condition.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum ClientApp {
    Browser,
    Api,
}

impl ClientApp {
    /// The rule-file word: `browser` or `api`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientApp::Browser => "browser",
            ClientApp::Api => "api",
        }
    }

    /// Parses a rule-file word, exact lowercase; `None` for anything else.
    pub fn parse(s: &str) -> Option<ClientApp> {
        match s {
            "browser" => Some(ClientApp::Browser),
            "api" => Some(ClientApp::Api),
            _ => None,
        }
    }

    /// `1 << discriminant`: the client app's bit in a compiled `u8` mask.
    pub const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for ClientApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies a request (DESIGN.md `client_apps`); runs once per request while
/// `context` builds the request facts.
///
/// - `bearer`: an `Authorization` header with scheme `Bearer` is present. Such
///   a request is [`ClientApp::Api`] even if it also looks like a navigation.
/// - Otherwise it is [`ClientApp::Browser`] when it is a navigation:
///   `Sec-Fetch-Mode: navigate` (ASCII case-insensitive), or an `Accept` that
///   lists `text/html` with a non-zero weight. `Accept` is matched per media
///   range on the type token only (case-insensitive, parameters ignored except
///   `q`): `text/html;q=0` is a refusal, and `*/*` or `text/*` do not count
///   (curl and most libraries send `*/*`). Pass all `Accept` lines joined with
///   `,`.
/// - Anything else (no headers at all, `application/json`, …) is `Api`.
pub fn client_app(bearer: bool, sec_fetch_mode: Option<&str>, accept: Option<&str>) -> ClientApp {
    if bearer {
        return ClientApp::Api;
    }
    let navigate = sec_fetch_mode.is_some_and(|m| m.trim().eq_ignore_ascii_case("navigate"));
    if navigate || accept.is_some_and(accepts_html) {
        ClientApp::Browser
    } else {
        ClientApp::Api
    }
}

/// Whether an `Accept` value lists `text/html` with a weight above zero.
fn accepts_html(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        media.eq_ignore_ascii_case("text/html") && !parts.any(is_zero_weight)
    })
}

/// Whether a media-range parameter is `q=0` (RFC 9110 qvalue: `0`, `0.`,
/// `0.0` … `0.000`), i.e. "not acceptable".
fn is_zero_weight(param: &str) -> bool {
    let Some((name, value)) = param.split_once('=') else {
        return false;
    };
    if !name.trim().eq_ignore_ascii_case("q") {
        return false;
    }
    let value = value.trim();
    match value.strip_prefix('0') {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('.')
            .is_some_and(|zeros| zeros.len() <= 3 && zeros.bytes().all(|b| b == b'0')),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOWS_CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
         (KHTML, like Gecko) Chrome/151.0.0.0 Safari/537.36";
    const MAC_SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) \
         AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.6 Safari/605.1.15";

    /// `from_user_agent` without the skip-woothee scan.
    fn from_user_agent_unfiltered(ua: &str) -> Platform {
        if ua.is_empty() {
            return Platform::Unknown;
        }
        mobile_app_token(ua).unwrap_or_else(|| with_woothee(ua))
    }

    #[test]
    fn vocabulary_round_trips() {
        for (i, p) in Platform::ALL.into_iter().enumerate() {
            assert_eq!(Platform::parse(p.as_str()), Some(p));
            assert_eq!(p.to_string(), p.as_str());
            assert_eq!(p.bit(), 1 << i);
        }
        assert_eq!(
            Platform::parse("iOS"),
            None,
            "rule words are exact lowercase"
        );
        assert_eq!(Platform::parse("all"), None);
        assert_eq!(Platform::parse(""), None);
        for c in [ClientApp::Browser, ClientApp::Api] {
            assert_eq!(ClientApp::parse(c.as_str()), Some(c));
            assert_eq!(c.to_string(), c.as_str());
        }
        assert_eq!(ClientApp::Browser.bit() | ClientApp::Api.bit(), 0b11);
        assert_eq!(ClientApp::parse("Browser"), None);
    }

    #[test]
    fn client_hint_wins_over_user_agent() {
        assert_eq!(
            detect(Some(WINDOWS_CHROME), Some("\"macOS\"")),
            Platform::Macos
        );
        assert_eq!(
            detect(Some(MAC_SAFARI), Some("\"Windows\"")),
            Platform::Windows
        );
        assert_eq!(detect(None, Some("\"Android\"")), Platform::Android);
        assert_eq!(detect(Some(""), Some("\"iOS\"")), Platform::Ios);
    }

    #[test]
    fn every_documented_hint_value() {
        let cases = [
            ("\"Windows\"", Some(Platform::Windows)),
            ("\"macOS\"", Some(Platform::Macos)),
            ("\"iOS\"", Some(Platform::Ios)),
            ("\"Android\"", Some(Platform::Android)),
            ("\"Linux\"", Some(Platform::Linux)),
            ("\"Chrome OS\"", Some(Platform::Chromeos)),
            ("\"Chromium OS\"", Some(Platform::Chromeos)),
            ("\"Unknown\"", None),
        ];
        for (hint, want) in cases {
            assert_eq!(from_client_hint(hint), want, "{hint}");
        }
    }

    #[test]
    fn unquoted_and_padded_hints_are_accepted() {
        assert_eq!(from_client_hint("Windows"), Some(Platform::Windows));
        assert_eq!(from_client_hint("Chromium OS"), Some(Platform::Chromeos));
        assert_eq!(from_client_hint("  \"macOS\"\t"), Some(Platform::Macos));
        assert_eq!(from_client_hint("\"MACOS\""), Some(Platform::Macos));
        assert_eq!(detect(Some(MAC_SAFARI), Some("Linux")), Platform::Linux);
    }

    #[test]
    fn garbage_or_unknown_hint_falls_back_to_user_agent() {
        for hint in [
            "\"Unknown\"",
            "Unknown",
            "",
            "\"\"",
            "\"",
            "\"Windows",
            "Windows\"",
            "\"Windows 11\"",
            "\"Mac OS X\"",
            "\"Windoẅs\"",
            "?1",
            "\"Linux\", \"Windows\"",
        ] {
            assert_eq!(
                detect(Some(WINDOWS_CHROME), Some(hint)),
                Platform::Windows,
                "{hint:?}"
            );
            assert_eq!(detect(None, Some(hint)), Platform::Unknown, "{hint:?}");
        }
    }

    #[test]
    fn empty_or_missing_user_agent_is_unknown() {
        assert_eq!(detect(None, None), Platform::Unknown);
        assert_eq!(detect(Some(""), None), Platform::Unknown);
        assert_eq!(detect(Some("-"), None), Platform::Unknown);
        assert_eq!(detect(Some("   "), None), Platform::Unknown);
    }

    #[test]
    fn ios_app_tokens_beat_macintosh() {
        let ipad_chrome = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_5) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) CriOS/102 Version/11.1.1 Safari/605.1.15";
        assert_eq!(detect(Some(ipad_chrome), None), Platform::Ios);
        let ipad_firefox = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) FxiOS/128.0 Safari/605.1.15";
        assert_eq!(detect(Some(ipad_firefox), None), Platform::Ios);
        assert_eq!(
            detect(Some("Outlook-iOS/665.29827.prod.iphone (2.63.0)"), None),
            Platform::Ios
        );
        assert_eq!(detect(Some("Outlook-Android/2.0"), None), Platform::Android);
        // Microsoft's sync service for both mobile apps is not a device.
        assert_eq!(
            detect(Some("Outlook-iOS-Android/1.0"), None),
            Platform::Unknown
        );
        // The hint still wins (Chrome on iPad sends none, but a forger may).
        assert_eq!(
            detect(Some(ipad_chrome), Some("\"macOS\"")),
            Platform::Macos
        );
    }

    #[test]
    fn only_the_head_of_a_long_user_agent_is_read() {
        let long = format!("{MAC_SAFARI} {}", "x".repeat(10_000));
        assert_eq!(detect(Some(&long), None), Platform::Macos);
        let late = format!("curl/8.5.0 {} (x86_64-pc-linux-gnu)", "x".repeat(600));
        assert_eq!(detect(Some(&late), None), Platform::Unknown);
        assert_eq!(head("aé", 2), "a", "cut falls inside 'é'");
        assert_eq!(head("aé", 3), "aé");
        assert_eq!(head("", 0), "");
    }

    #[test]
    fn gnu_triples_say_linux_but_crawlers_stay_unknown() {
        assert_eq!(detect(Some("Wget/1.12 (linux-gnu)"), None), Platform::Linux);
        assert_eq!(
            detect(Some("curl/8.5.0 (aarch64-unknown-linux-android)"), None),
            Platform::Android
        );
        assert_eq!(detect(Some("curl/7.88.1"), None), Platform::Unknown);
        let adsbot = "Mozilla/5.0 (Linux; Android 5.0; SM-G920A) AppleWebKit (KHTML, like Gecko) \
             Chrome Mobile Safari (compatible; AdsBot-Google-Mobile; +http://www.google.com/mobile/adsbot.html)";
        assert_eq!(detect(Some(adsbot), None), Platform::Unknown);
    }

    #[test]
    fn client_app_truth_table() {
        use ClientApp::{Api, Browser};
        let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        let cases: [(bool, Option<&str>, Option<&str>, ClientApp); 24] = [
            // bearer always wins
            (true, Some("navigate"), Some(html), Api),
            (true, None, Some(html), Api),
            (true, Some("navigate"), None, Api),
            (true, None, None, Api),
            // navigation by Sec-Fetch-Mode
            (false, Some("navigate"), None, Browser),
            (false, Some("NAVIGATE"), Some("application/json"), Browser),
            (false, Some(" navigate "), None, Browser),
            (false, Some("cors"), None, Api),
            (false, Some("no-cors"), Some("*/*"), Api),
            (false, Some("nested-navigate"), None, Api),
            // navigation by Accept
            (false, Some("cors"), Some(html), Browser),
            (false, None, Some(html), Browser),
            (false, None, Some("text/html"), Browser),
            (false, None, Some("Text/HTML"), Browser),
            (
                false,
                None,
                Some("application/json, TEXT/html ; charset=utf-8"),
                Browser,
            ),
            (false, None, Some("text/html;q=0.5"), Browser),
            (false, None, Some("text/html;level=1;q=0.001"), Browser),
            (false, None, Some("text/html;q=0"), Api),
            (
                false,
                None,
                Some("text/html; Q=0.000, application/json"),
                Api,
            ),
            (false, None, Some("*/*"), Api),
            (false, None, Some("text/*"), Api),
            (false, None, Some("application/json"), Api),
            (false, None, Some("text/htmlx, application/text/html"), Api),
            (false, None, None, Api),
        ];
        for (bearer, mode, accept, want) in cases {
            assert_eq!(
                client_app(bearer, mode, accept),
                want,
                "{bearer} {mode:?} {accept:?}"
            );
        }
    }

    #[test]
    fn zero_weight_forms() {
        for q in ["q=0", "q=0.", "q=0.0", "q=0.00", " q = 0.000 "] {
            assert!(is_zero_weight(q), "{q}");
        }
        for q in ["q=0.0001", "q=0.1", "q=1", "q=", "q", "level=0", "q=00"] {
            assert!(!is_zero_weight(q), "{q}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        #[test]
        fn detect_never_panics(ua in proptest::option::of(".*"), hint in proptest::option::of(".*")) {
            let p = detect(ua.as_deref(), hint.as_deref());
            proptest::prop_assert!(Platform::ALL.contains(&p));
        }

        #[test]
        fn detect_never_panics_on_ua_like_strings(
            ua in r"(Mozilla/5\.0 \()?[ -~]{0,40}(Linux|Android|iOS|CriOS/|Mac OS X|Windows|CrOS |linux)?[^\x00]{0,40}",
            hint in r#""?[A-Za-z ]{0,12}"?"#,
        ) {
            let _ = detect(Some(&ua), Some(&hint));
            let _ = from_user_agent(&ua);
        }

        #[test]
        fn prefilter_agrees_with_woothee(
            ua in r"((Mozilla/5\.0 \(|compatible; |curl/7|Wget/1 |python-requests/2|Go-http-client/1\.1|okhttp/4|Googlebot/2\.1|bingbot|Yahoo! Slurp|msnbot|DoCoMo/2\.0 |KDDI-|SoftBank/1\.0/|Nintendo Wii;|PlayStation 4 |Xbox|Opera|Firefox/9|Safari/6|Chrome/1|rss|bot|crawler|Trident/7|MSIE 9\.0;|Win|Windows NT 10\.0|\(Win98;|Mac|Mac OS X|Macintosh; U; PPC;|Mac_PowerPC|like Mac OS X|iP|iPhone;|iPad;|iPod|Linux|linux|LINUX|CrOS |Android|android|CFNetwork/|Sleipnir/|Mobile; rv:|X11; |FreeBSD |\(|\)|; | |[ -~]{1,6}|[^\x00]{1,3})){0,10}",
        ) {
            if !may_name_platform(&ua) {
                proptest::prop_assert_eq!(with_woothee(&ua), Platform::Unknown, "{:?}", ua);
            }
            proptest::prop_assert_eq!(from_user_agent(&ua), from_user_agent_unfiltered(&ua), "{:?}", ua);
        }

        #[test]
        fn client_app_never_panics(
            bearer in proptest::bool::ANY,
            mode in proptest::option::of(".*"),
            accept in proptest::option::of(".*"),
        ) {
            let _ = client_app(bearer, mode.as_deref(), accept.as_deref());
        }
    }
}
