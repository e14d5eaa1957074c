//! The words a person reads, in their language (issue 17): message
//! catalogues in Project Fluent's format (`gateway/locales/LANG/*.ftl`, one
//! folder per language, compiled into the binary), the choice of language
//! from `Accept-Language`, and the one translation function that templates
//! (`{{ t("key", name=value) }}`) and Rust code (`t!(lang, "key", name =
//! value)`) both call.
//!
//! # Contract
//! - Every language has every message: `portcullis check` fails otherwise
//!   ([`missing_messages`]), naming the key and the language; so does a
//!   unit test, and one that every key the templates and the code use
//!   exists.
//! - A message that is missing at run time all the same (a template from
//!   `organisation.templates_dir` naming a key `check` never saw) shows its
//!   key, never an empty string or an error page.
//! - In HTML, the catalogue's text and every argument are escaped; an
//!   argument that is already markup (a `{% set %}` block of the template)
//!   goes in as it is. Catalogue text is ours; arguments come from users.
//! - No Unicode isolation marks around arguments: an e-mail address or a
//!   code copied from a page must be the bytes it shows.

mod negotiate;
mod template;

pub use negotiate::negotiate;
pub use template::{add_to, keys_used_in};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::borrow::Cow;
use std::sync::LazyLock;

/// The languages the gateway speaks, with their catalogue files. To add
/// one: a folder `gateway/locales/TAG/` with the same files, a line here
/// (docs/languages.md).
const LANGUAGES: &[(&str, &[(&str, &str)])] = &[
    (
        "en",
        &[
            ("common.ftl", include_str!("../../locales/en/common.ftl")),
            ("pages.ftl", include_str!("../../locales/en/pages.ftl")),
            ("errors.ftl", include_str!("../../locales/en/errors.ftl")),
            ("mail.ftl", include_str!("../../locales/en/mail.ftl")),
            (
                "messages.ftl",
                include_str!("../../locales/en/messages.ftl"),
            ),
            ("console.ftl", include_str!("../../locales/en/console.ftl")),
        ],
    ),
    (
        "de",
        &[
            ("common.ftl", include_str!("../../locales/de/common.ftl")),
            ("pages.ftl", include_str!("../../locales/de/pages.ftl")),
            ("errors.ftl", include_str!("../../locales/de/errors.ftl")),
            ("mail.ftl", include_str!("../../locales/de/mail.ftl")),
            (
                "messages.ftl",
                include_str!("../../locales/de/messages.ftl"),
            ),
            ("console.ftl", include_str!("../../locales/de/console.ftl")),
        ],
    ),
];

/// A language the gateway speaks (an index into [`LANGUAGES`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lang(usize);

impl Lang {
    /// English, the language of the catalogue every other is compared to.
    pub const EN: Lang = Lang(0);

    /// Its tag (`en`, `de`): `<html lang>` and `organisation.language`.
    pub fn tag(self) -> &'static str {
        LANGUAGES[self.0].0
    }

    /// The language tagged `tag` (exactly, case-insensitive), if we speak it.
    pub fn parse(tag: &str) -> Option<Lang> {
        LANGUAGES
            .iter()
            .position(|(t, _)| t.eq_ignore_ascii_case(tag.trim()))
            .map(Lang)
    }

    /// Every language we speak, English first.
    pub fn all() -> impl Iterator<Item = Lang> {
        (0..LANGUAGES.len()).map(Lang)
    }

    /// The tags of every language, for error messages ("use en or de").
    pub fn tags() -> Vec<&'static str> {
        LANGUAGES.iter().map(|(t, _)| *t).collect()
    }
}

impl Default for Lang {
    fn default() -> Self {
        Lang::EN
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}

impl serde::Serialize for Lang {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.tag())
    }
}

/// One language's messages twice: for plain text, and for HTML (the
/// catalogue's own text escaped by Fluent's transform, which sees only
/// the text between placeables).
struct Catalogue {
    text: FluentBundle<FluentResource>,
    html: FluentBundle<FluentResource>,
    /// Every message id, for the comparisons of `check`.
    keys: Vec<String>,
    /// Syntax errors and duplicate ids (a test and `check` report them).
    errors: Vec<String>,
}

static CATALOGUES: LazyLock<Vec<Catalogue>> = LazyLock::new(|| {
    LANGUAGES
        .iter()
        .map(|(tag, files)| catalogue(tag, files))
        .collect()
});

fn escape_text(s: &str) -> Cow<'_, str> {
    if s.contains(['&', '<', '>', '"', '\'']) {
        Cow::Owned(crate::html::escape(s))
    } else {
        Cow::Borrowed(s)
    }
}

fn catalogue(tag: &str, files: &[(&str, &str)]) -> Catalogue {
    let langid: unic_langid::LanguageIdentifier = tag.parse().unwrap_or_default();
    let mut text = FluentBundle::new_concurrent(vec![langid.clone()]);
    let mut html = FluentBundle::new_concurrent(vec![langid]);
    text.set_use_isolating(false);
    html.set_use_isolating(false);
    html.set_transform(Some(escape_text));
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for (file, source) in files {
        let resource = |s: &str| match FluentResource::try_new(s.to_string()) {
            Ok(r) => r,
            Err((r, _)) => r,
        };
        if let Err((_, errs)) = FluentResource::try_new(source.to_string()) {
            for e in errs {
                let line = source[..e.pos.start.min(source.len())]
                    .lines()
                    .count()
                    .max(1);
                errors.push(format!("locales/{tag}/{file}:{line}: {:?}", e.kind));
            }
        }
        for entry in resource(source).entries() {
            if let fluent_syntax::ast::Entry::Message(m) = entry {
                keys.push(m.id.name.to_string());
            }
        }
        if let Err(errs) = text.add_resource(resource(source)) {
            errors.extend(errs.iter().map(|e| format!("locales/{tag}/{file}: {e}")));
        }
        // The same errors again; reported once.
        let _ = html.add_resource(resource(source));
    }
    keys.sort();
    Catalogue {
        text,
        html,
        keys,
        errors,
    }
}

/// An argument of a message: text or a number (numbers choose plural
/// forms: `{ $count -> [one] … *[other] … }`).
pub enum Arg<'a> {
    Text(Cow<'a, str>),
    Number(f64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(Cow::Borrowed(s))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(Cow::Borrowed(s.as_str()))
    }
}
impl From<String> for Arg<'_> {
    fn from(s: String) -> Self {
        Arg::Text(Cow::Owned(s))
    }
}
macro_rules! number_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg<'_> {
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn from(n: $t) -> Self {
                Arg::Number(n as f64)
            }
        }
    )*};
}
number_arg!(i32, i64, u8, u16, u32, u64, usize);

/// Message `key` in `lang`, plain text (for HTML the templates escape it,
/// as any value). `args` fill its placeables. Use the [`t!`] macro.
pub fn translate(lang: Lang, key: &str, args: &[(&str, Arg<'_>)]) -> String {
    format(lang, key, args, false)
}

/// Message `key` in `lang` as HTML: the text and the arguments escaped.
/// `args` given as `Arg::Text` are escaped here; the template function
/// passes markup it trusts already escaped and so uses [`format`] itself.
fn format(lang: Lang, key: &str, args: &[(&str, Arg<'_>)], html: bool) -> String {
    let Some(catalogue) = CATALOGUES.get(lang.0) else {
        return key.to_string();
    };
    let bundle = if html {
        &catalogue.html
    } else {
        &catalogue.text
    };
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        tracing::warn!(key, lang = lang.tag(), "message missing from the catalogue");
        return key.to_string();
    };
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        let v = match value {
            Arg::Text(s) => FluentValue::from(s.as_ref()),
            Arg::Number(n) => FluentValue::from(*n),
        };
        fluent_args.set(*name, v);
    }
    let mut errors = Vec::new();
    let out = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(key, lang = lang.tag(), errors = ?errors, "message formatted with errors");
    }
    out.into_owned()
}

/// `t!(lang, "key")` or `t!(lang, "key", name = value, count = n)`: the
/// message in `lang` as plain text. Values are `&str`, `String` or
/// integers (plural forms).
#[macro_export]
macro_rules! t {
    ($lang:expr, $key:expr $(,)?) => {
        $crate::i18n::translate($lang, $key, &[])
    };
    ($lang:expr, $key:expr, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::i18n::translate(
            $lang,
            $key,
            &[$((stringify!($name), $crate::i18n::Arg::from($value))),+],
        )
    };
}
pub use t;

/// Whether `lang`'s catalogue has message `key`.
pub fn has(lang: Lang, key: &str) -> bool {
    CATALOGUES
        .get(lang.0)
        .is_some_and(|c| c.keys.binary_search_by(|k| k.as_str().cmp(key)).is_ok())
}

/// A date as people of `lang` write it ("1 December 2025",
/// "1. Dezember 2025"), from the catalogue's `date` and `month-N`.
pub fn date(lang: Lang, t: time::OffsetDateTime) -> String {
    let month = translate(lang, &format!("month-{}", u8::from(t.month())), &[]);
    t!(
        lang,
        "date",
        day = t.day().to_string(),
        month = month,
        year = t.year().to_string()
    )
}

/// Every problem of the built-in catalogues: syntax errors, and messages
/// that one language has and another lacks, as "`KEY` is missing from the
/// `de` catalogue (gateway/locales/de/)". Empty when all is well.
pub fn missing_messages() -> Vec<String> {
    let tags: Vec<&str> = LANGUAGES.iter().map(|(t, _)| *t).collect();
    compare(&CATALOGUES, &tags)
}

/// [`missing_messages`] of `catalogues`, tagged `tags`.
fn compare(catalogues: &[Catalogue], tags: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = catalogues.iter().flat_map(|c| c.errors.clone()).collect();
    let all: std::collections::BTreeSet<&str> = catalogues
        .iter()
        .flat_map(|c| c.keys.iter().map(String::as_str))
        .collect();
    for (catalogue, tag) in catalogues.iter().zip(tags) {
        for key in &all {
            if catalogue
                .keys
                .binary_search_by(|k| k.as_str().cmp(key))
                .is_err()
            {
                out.push(format!(
                    "message `{key}` is missing from the `{tag}` catalogue (gateway/locales/{tag}/)"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
