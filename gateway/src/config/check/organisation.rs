//! `organisation`: who runs the gateway, whose users are members (everyone
//! else is a guest), and how its pages look and speak: logo, accent
//! colour, support contact, language and template overrides.

use super::Checker;
use crate::config::file::{OrganisationFile, S, SupportFile};
use crate::config::runtime::{Organisation, Support};
use crate::i18n::Lang;
use std::sync::Arc;

/// The background of the pages around their cards (`layout.html`).
const PAGE_BACKGROUND: (u8, u8, u8) = (0xf4, 0xf5, 0xf7);
/// WCAG 2.x AA for normal text.
const MIN_CONTRAST: f64 = 4.5;

impl Checker<'_> {
    /// `organisation`: a name, lower-case member domains, a logo that
    /// exists, a language we speak, a readable accent colour, a support
    /// contact, template overrides that compile.
    pub(super) fn organisation(&mut self, f: &OrganisationFile) -> Organisation {
        let language = match &f.language {
            None => Lang::EN,
            Some(l) => Lang::parse(&l.value).unwrap_or_else(|| {
                self.err(
                    l,
                    format_args!(
                        "`organisation.language`: `{}` is not a language of the gateway; use {}",
                        l.value,
                        Lang::tags().join(" or ")
                    ),
                );
                Lang::EN
            }),
        };
        let organisation = Organisation {
            name: f.name.value.clone(),
            member_domains: f
                .member_domains
                .iter()
                .map(|d| d.value.trim().to_ascii_lowercase())
                .collect(),
            logo: f.logo.as_ref().and_then(|l| self.image(l, "logo")),
            language,
            accent_colour: f.accent_colour.as_ref().and_then(|c| self.accent_colour(c)),
            support: f.support.as_ref().and_then(|s| self.support(s)),
            templates: Arc::new(match &f.templates_dir {
                Some(d) => self.templates_dir(d),
                None => crate::templates::Overrides::default(),
            }),
        };
        if organisation.name.trim().is_empty() {
            self.err(&f.name, "`organisation.name` must not be empty");
        }
        // The built-in catalogues: a message one language lacks would
        // show its key to the people of that language.
        for problem in crate::i18n::missing_messages() {
            self.errors.push(crate::config::ConfigError {
                file: std::path::PathBuf::from("gateway/locales"),
                line: 0,
                column: 0,
                message: problem,
            });
        }
        organisation
    }

    /// `#rrggbb` with a contrast of at least 4.5:1 against white (button
    /// text, the cards) and the page background.
    fn accent_colour(&mut self, s: &S<String>) -> Option<String> {
        let text = s.value.trim();
        let Some(rgb) = parse_hex(text) else {
            self.err(
                s,
                format_args!(
                    "`organisation.accent_colour`: `{text}` is not a colour; write #rrggbb, such as #0b57d0"
                ),
            );
            return None;
        };
        let on_white = contrast(rgb, (255, 255, 255));
        let on_page = contrast(rgb, PAGE_BACKGROUND);
        if on_white < MIN_CONTRAST || on_page < MIN_CONTRAST {
            self.err(
                s,
                format_args!(
                    "`organisation.accent_colour` `{text}` is too light: its contrast is {on_white:.2}:1 against white \
                     and {on_page:.2}:1 against the page background (#f4f5f7); buttons and links need at least 4.5:1. \
                     Choose a darker shade"
                ),
            );
            return None;
        }
        Some(text.to_ascii_lowercase())
    }

    fn support(&mut self, f: &SupportFile) -> Option<Support> {
        let email = f.email.as_ref().and_then(|e| {
            let v = e.value.trim();
            if crate::mail::is_plain_address(v) {
                Some(v.to_string())
            } else {
                self.err(
                    e,
                    format_args!("`organisation.support.email`: `{v}` is not an e-mail address"),
                );
                None
            }
        });
        let url = f.url.as_ref().and_then(|u| {
            let v = u.value.trim();
            match openidconnect::url::Url::parse(v) {
                Ok(p) if p.scheme() == "https" && p.host_str().is_some() => Some(v.to_string()),
                _ => {
                    self.err(
                        u,
                        format_args!(
                            "`organisation.support.url`: `{v}` is not an https:// URL"
                        ),
                    );
                    None
                }
            }
        });
        let text = f
            .text
            .as_ref()
            .map(|t| t.value.trim().to_string())
            .filter(|t| !t.is_empty());
        if f.email.is_none() && f.url.is_none() {
            if let Some(t) = &f.text {
                self.err(
                    t,
                    "`organisation.support` needs an `email` or a `url` for people to reach it",
                );
            }
            return None;
        }
        if email.is_none() && url.is_none() {
            return None;
        }
        Some(Support { email, url, text })
    }

    /// Reads and compiles the overrides, each problem reported at the
    /// override's own file and line.
    fn templates_dir(&mut self, s: &S<String>) -> crate::templates::Overrides {
        let dir = self.dir.join(&s.value);
        if !dir.is_dir() {
            self.err(
                s,
                format_args!(
                    "`organisation.templates_dir` `{}` is not a folder (paths are relative to the config file)",
                    dir.display()
                ),
            );
            return crate::templates::Overrides::default();
        }
        let (overrides, errors) = crate::templates::Overrides::load(&dir);
        for e in errors {
            self.errors.push(crate::config::ConfigError {
                file: e.file,
                line: e.line as u64,
                column: 0,
                message: e.message,
            });
        }
        overrides
    }
}

fn parse_hex(s: &str) -> Option<(u8, u8, u8)> {
    let hex = s.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some((byte(0)?, byte(2)?, byte(4)?))
}

/// WCAG 2.x relative luminance.
fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let channel = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
}

/// WCAG 2.x contrast ratio, 1 to 21.
fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_matches_wcag_examples() {
        assert!((contrast((0, 0, 0), (255, 255, 255)) - 21.0).abs() < 0.01);
        // The built-in blue passes on both backgrounds.
        let blue = parse_hex("#0b57d0").expect("hex");
        assert!(contrast(blue, (255, 255, 255)) >= MIN_CONTRAST);
        assert!(contrast(blue, PAGE_BACKGROUND) >= MIN_CONTRAST);
        // #767676 is the classic 4.54:1 grey on white, but not on #f4f5f7.
        let grey = parse_hex("#767676").expect("hex");
        assert!(contrast(grey, (255, 255, 255)) >= MIN_CONTRAST);
        assert!(contrast(grey, PAGE_BACKGROUND) < MIN_CONTRAST);
        assert_eq!(parse_hex("#12345"), None);
        assert_eq!(parse_hex("0b57d0"), None);
        assert_eq!(parse_hex("#gg0000"), None);
    }
}
