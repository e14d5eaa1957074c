//! Look-alike domains in e-mail addresses. An administrator who pastes
//! `bob@fabrıkam.example` (U+0131 dotless ı for `i`) invites whoever owns
//! that look-alike domain, and the link and the access go to them (issue 14,
//! finding 9). Browsers meet the same attack in host names and show such
//! names as punycode: Chromium's IDN spoof checker and Firefox's
//! `network.IDN.restriction_profile` both start from UTS #39. We refuse the
//! address before anything is stored or sent.
//!
//! The domain is first processed as UTS #46 does (`idna`), so an `xn--`
//! A-label is judged by what it decodes to. Then each label must pass, in
//! this order (the first failure is the one reported):
//! 1. a label of ASCII letters, digits and hyphens passes (most domains);
//! 2. every other character is allowed by the UTS #39 General Security
//!    Profile (`Identifier_Status=Allowed`): no symbols, invisible or
//!    obsolete characters;
//! 3. the label is at most "highly restrictive" (UTS #39 §5.2, what
//!    Chromium requires): one script, or Latin with the Japanese set,
//!    Han with Bopomofo or Han with Hangul. Latin mixed with Cyrillic or
//!    Greek (`pаypal` with a Cyrillic `а`) is refused;
//! 4. the label is not a whole-script confusable of ASCII: its UTS #39
//!    skeleton is not all ASCII. This is what catches `fabrıkam` (one
//!    script, Latin, skeleton `fabrikam`) and an all-Cyrillic `аррӏе`
//!    (skeleton `apple`), which Chromium shows as punycode too.
//!
//! Real internationalised domains pass: `пример.рф`, `例え.jp`,
//! `münchen.de` (the skeleton keeps the diaeresis). The price of rule 4 is
//! that a genuine non-ASCII label made only of letters that look like ASCII
//! ones (a Turkish `kırmızı`) is refused too, in either form (its `xn--`
//! form decodes to the same label): from an address alone we cannot tell
//! that label from a spoof, and a wrong guess hands a stranger access.

use std::fmt;
use unicode_script::{Script, UnicodeScript};
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

/// Why a domain was refused as a possible look-alike. The message says
/// which label and which characters, for the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookalike {
    /// Not a valid internationalised domain name (UTS #46): a broken
    /// `xn--` label, a disallowed code point.
    NotIdna,
    /// Valid, but not written the way it is used (UTS #46 maps it):
    /// upper-case or full-width letters, ligatures. `normal` is the form to
    /// write.
    NotNormal { normal: String },
    /// A character outside the UTS #39 identifier profile.
    Restricted { label: String, ch: char },
    /// The label mixes scripts beyond what UTS #39 calls highly restrictive.
    MixedScripts {
        label: String,
        scripts: Vec<&'static str>,
    },
    /// The label looks like the ASCII `looks_like`; `chars` are the
    /// characters that make it so.
    ConfusableWithAscii {
        label: String,
        looks_like: String,
        chars: Vec<char>,
    },
}

fn code_points(chars: &[char]) -> String {
    chars
        .iter()
        .map(|c| format!("`{c}` (U+{:04X})", u32::from(*c)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Lookalike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lookalike::NotIdna => {
                write!(f, "the domain is not a valid internationalised domain name")
            }
            Lookalike::NotNormal { normal } => write!(
                f,
                "the domain is not written in its normal form; write it as `{normal}`"
            ),
            Lookalike::Restricted { label, ch } => write!(
                f,
                "the domain label `{label}` contains {}, which domain names should not use (UTS #39); \
                 check the address and type it by hand",
                code_points(&[*ch])
            ),
            Lookalike::MixedScripts { label, scripts } => write!(
                f,
                "the domain label `{label}` mixes scripts ({}), as look-alike domains do; \
                 check the address and type it by hand",
                scripts.join(" and ")
            ),
            Lookalike::ConfusableWithAscii {
                label,
                looks_like,
                chars,
            } => write!(
                f,
                "the domain label `{label}` looks like `{looks_like}` but contains {}: \
                 a look-alike domain; check the address and type it by hand",
                code_points(chars)
            ),
        }
    }
}

/// Checks the domain of an e-mail address (the part after `@`) against
/// look-alikes, by the rules in this module's documentation. Pure and
/// cheap: no I/O, no lists of known domains. `Ok` for every ASCII
/// letter-digit-hyphen domain.
pub fn check_domain(domain: &str) -> Result<(), Lookalike> {
    let (unicode, valid) = idna::domain_to_unicode(domain);
    if valid.is_err() {
        return Err(Lookalike::NotIdna);
    }
    // An A-label (`xn--…`) is a fine way to write a domain; a non-ASCII one
    // must already be what UTS #46 makes of it, or the address we store
    // and the one mail servers see would differ.
    if !domain.is_ascii() && unicode != domain {
        return Err(Lookalike::NotNormal { normal: unicode });
    }
    unicode.split('.').try_for_each(check_label)
}

fn check_label(label: &str) -> Result<(), Lookalike> {
    if label.is_ascii() {
        return Ok(());
    }
    let owned = || label.to_string();
    if let Some(ch) = label
        .chars()
        .find(|c| !c.is_ascii() && !c.identifier_allowed())
    {
        return Err(Lookalike::Restricted { label: owned(), ch });
    }
    // Hyphens (and any other ASCII punctuation) are not identifier
    // characters, so UTS #39 would call every hyphenated label
    // "unrestricted"; they carry no script, so leave them out.
    let letters: String = label
        .chars()
        .filter(|c| !c.is_ascii() || c.is_ascii_alphanumeric())
        .collect();
    if letters.as_str().detect_restriction_level() > RestrictionLevel::HighlyRestrictive {
        let mut scripts: Vec<&'static str> = Vec::new();
        for c in label.chars() {
            let s = c.script();
            if !matches!(s, Script::Common | Script::Inherited | Script::Unknown)
                && !scripts.contains(&s.full_name())
            {
                scripts.push(s.full_name());
            }
        }
        return Err(Lookalike::MixedScripts {
            label: owned(),
            scripts,
        });
    }
    if unicode_security::skeleton(label).all(|c| c.is_ascii()) {
        // Said with the label's own ASCII letters and only the look-alikes
        // replaced: the skeleton itself also maps `m` to `rn`.
        let looks_like: String = label
            .chars()
            .map(|c| match c {
                c if c.is_ascii() => c.to_string(),
                c => unicode_security::skeleton(&c.to_string()).collect(),
            })
            .collect();
        let chars = label
            .chars()
            .filter(|c| !c.is_ascii())
            .fold(Vec::new(), |mut v, c| {
                if !v.contains(&c) {
                    v.push(c);
                }
                v
            });
        return Err(Lookalike::ConfusableWithAscii {
            label: owned(),
            looks_like,
            chars,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_single_script_idns_pass() {
        for ok in [
            "fabrikam.example",
            "contoso-ltd.example",
            "mail2.x-y.example",
            "пример.рф",
            "例え.jp",
            "münchen.de",
            "xn--e1afmkfd.xn--p1ai", // пример.рф written as A-labels
            "ελληνικά.gr",
            "한국.kr",
            "中国.cn",
            "ドメイン名例.jp",
            "bücher-shop.de",
        ] {
            assert_eq!(check_domain(ok), Ok(()), "{ok}");
        }
    }

    /// Issue 14, finding 9: the dotless ı (U+0131) in an all-Latin label.
    #[test]
    fn regression_dotless_i_is_a_lookalike() {
        let e = check_domain("fabrıkam.example").expect_err("look-alike");
        assert_eq!(
            e,
            Lookalike::ConfusableWithAscii {
                label: "fabrıkam".into(),
                looks_like: "fabrikam".into(),
                chars: vec!['ı'],
            }
        );
        let message = e.to_string();
        assert!(message.contains("U+0131"), "{message}");
        assert!(message.contains("looks like `fabrikam`"), "{message}");
        // The same domain as an A-label is judged by what it decodes to.
        let ascii = idna::domain_to_ascii("fabrıkam.example").expect("valid IDN");
        assert!(ascii.starts_with("xn--"), "{ascii}");
        assert!(matches!(
            check_domain(&ascii),
            Err(Lookalike::ConfusableWithAscii { .. })
        ));
    }

    #[test]
    fn mixed_scripts_are_refused_with_their_names() {
        // Latin with one Cyrillic а (U+0430).
        let e = check_domain("pаypal.example").expect_err("mixed");
        assert_eq!(
            e,
            Lookalike::MixedScripts {
                label: "pаypal".into(),
                scripts: vec!["Latin", "Cyrillic"],
            }
        );
        // Latin with a Greek ο (U+03BF).
        assert!(matches!(
            check_domain("micrοsoft.example"),
            Err(Lookalike::MixedScripts { .. })
        ));
        // Cyrillic with a Latin letter in a Cyrillic TLD's label.
        assert!(matches!(
            check_domain("примeр.рф"),
            Err(Lookalike::MixedScripts { .. })
        ));
    }

    #[test]
    fn whole_script_confusables_of_ascii_are_refused() {
        // All Cyrillic, reads as "apple".
        assert!(matches!(
            check_domain("аррӏе.example"),
            Err(Lookalike::ConfusableWithAscii { ref looks_like, .. }) if looks_like == "apple"
        ));
    }

    #[test]
    fn invisible_symbols_and_unnormalised_forms_are_refused() {
        // A zero-width joiner hides inside a Latin label.
        assert!(check_domain("fab\u{200D}rikam.example").is_err());
        // A symbol outside the identifier profile.
        assert!(matches!(
            check_domain("fabrikam\u{2665}.example"),
            Err(Lookalike::Restricted { ch: '\u{2665}', .. })
        ));
        // Full-width letters: UTS #46 maps them; the message says to what.
        assert_eq!(
            check_domain("ｆａｂｒｉｋａｍ.example"),
            Err(Lookalike::NotNormal {
                normal: "fabrikam.example".into()
            })
        );
        assert_eq!(check_domain("xn--zz.example"), Err(Lookalike::NotIdna));
    }
}
