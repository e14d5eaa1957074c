//! Which of our languages a browser gets: its `Accept-Language` in the
//! order of the q-values (RFC 9110 §12.5.4; `q=0` means "not this one"),
//! each range matched to ours by Fluent's negotiation (`de-AT` finds `de`),
//! else the organisation's default.

use super::{LANGUAGES, Lang};
use fluent_langneg::{NegotiationStrategy, negotiate_languages};
use unic_langid::LanguageIdentifier;

/// The language for a request whose `Accept-Language` is `header`
/// (`None`: the header is absent or not text); `default` when none of the
/// browser's languages is one we speak.
pub fn negotiate(header: Option<&str>, default: Lang) -> Lang {
    let Some(header) = header else {
        return default;
    };
    let requested: Vec<LanguageIdentifier> = accept_language::parse_with_quality(header)
        .into_iter()
        .filter(|(_, q)| *q > 0.0)
        .filter_map(|(tag, _)| tag.parse().ok())
        .collect();
    let available: Vec<LanguageIdentifier> = LANGUAGES
        .iter()
        .filter_map(|(tag, _)| tag.parse().ok())
        .collect();
    let chosen = negotiate_languages(
        &requested,
        &available,
        None,
        NegotiationStrategy::Lookup,
    );
    chosen
        .first()
        .and_then(|l| Lang::parse(&l.to_string()))
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn de() -> Lang {
        Lang::parse("de").expect("de")
    }

    #[test]
    fn the_highest_q_value_we_speak_wins() {
        assert_eq!(negotiate(Some("fr, de;q=0.8"), Lang::EN), de());
        assert_eq!(negotiate(Some("de;q=0.5, en;q=0.9"), de()), Lang::EN);
        assert_eq!(negotiate(Some("en;q=0.1, de"), Lang::EN), de());
    }

    #[test]
    fn regions_find_their_language() {
        assert_eq!(negotiate(Some("de-AT"), Lang::EN), de());
        assert_eq!(negotiate(Some("en-GB,en;q=0.9"), de()), Lang::EN);
    }

    #[test]
    fn q_zero_is_a_refusal() {
        assert_eq!(negotiate(Some("de;q=0, en;q=0.5"), de()), Lang::EN);
        assert_eq!(negotiate(Some("de;q=0"), Lang::EN), Lang::EN);
    }

    #[test]
    fn unknown_absent_or_garbled_headers_give_the_default() {
        assert_eq!(negotiate(Some("fr-CA, ja;q=0.5"), de()), de());
        assert_eq!(negotiate(None, de()), de());
        assert_eq!(negotiate(Some(""), de()), de());
        assert_eq!(negotiate(Some(";;,,q=x"), Lang::EN), Lang::EN);
        assert_eq!(negotiate(Some("*"), de()), de());
    }
}
