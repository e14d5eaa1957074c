//! The templates' side: `{{ t("key", name=value) }}` and
//! `{{ date(unix_seconds) }}`, in the language of the render context's
//! `lang` (a tag; English when it is missing).

use super::{Arg, Lang, format};
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State};
use std::borrow::Cow;

/// Registers `t` and `date` on `env`.
pub fn add_to(env: &mut Environment<'_>) {
    env.add_function("t", t);
    env.add_function("date", date);
}

fn lang_of(state: &State<'_, '_>) -> Lang {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Lang::parse))
        .unwrap_or_default()
}

/// `t("key", name=value, …)`: in an HTML template, markup (escaped text
/// and arguments; an argument that is markup already stays as it is); in a
/// text template, text.
fn t(state: &State<'_, '_>, key: &str, kwargs: Kwargs) -> Result<Value, Error> {
    let html = !matches!(state.auto_escape(), AutoEscape::None);
    let mut args: Vec<(&str, Arg<'_>)> = Vec::new();
    let names: Vec<&str> = kwargs.args().collect();
    for name in names {
        let value: Value = kwargs.get(name)?;
        let arg = match value.kind() {
            ValueKind::Number => match f64::try_from(value.clone()) {
                Ok(n) => Arg::Number(n),
                Err(_) => Arg::Text(Cow::Owned(value.to_string())),
            },
            ValueKind::Undefined | ValueKind::None => Arg::Text(Cow::Borrowed("")),
            _ => {
                let text = value.as_str().map_or_else(|| value.to_string(), str::to_string);
                if html && !value.is_safe() {
                    Arg::Text(Cow::Owned(crate::html::escape(&text)))
                } else {
                    Arg::Text(Cow::Owned(text))
                }
            }
        };
        args.push((name, arg));
    }
    kwargs.assert_all_used()?;
    let out = format(lang_of(state), key, &args, html);
    Ok(if html {
        Value::from_safe_string(out)
    } else {
        Value::from(out)
    })
}

/// `date(unix_seconds)`: the day in the page's language.
fn date(state: &State<'_, '_>, unix_seconds: i64) -> Result<String, Error> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    Ok(super::date(lang_of(state), t))
}

/// The message keys a template's source names in `t("…")` calls (literal
/// keys only), with the line of each: what `check` and the tests compare
/// with the catalogues.
pub fn keys_used_in(source: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("t(") {
            let before = &rest[..at];
            let call_start = before
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
            rest = &rest[at + 2..];
            if !call_start {
                continue;
            }
            let trimmed = rest.trim_start();
            let Some(quote) = trimmed.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            if let Some(end) = trimmed[1..].find(quote) {
                out.push((trimmed[1..=end].to_string(), i + 1));
            }
        }
    }
    out
}
