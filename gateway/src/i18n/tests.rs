use super::*;

fn de() -> Lang {
    Lang::parse("de").expect("de")
}

#[test]
fn every_language_has_every_message_and_no_syntax_error() {
    let problems = missing_messages();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(Lang::tags(), ["en", "de"]);
}

#[test]
fn every_key_the_templates_use_exists() {
    let mut missing = Vec::new();
    let all = crate::templates::PAGES
        .iter()
        .map(|(n, s)| (n.to_string(), *s))
        .chain(
            crate::templates::MAILS
                .iter()
                .map(|(n, s)| (format!("mail/{n}"), *s)),
        );
    let mut used = 0;
    for (name, source) in all {
        for (key, line) in keys_used_in(source) {
            used += 1;
            for lang in Lang::all() {
                if !has(lang, &key) {
                    missing.push(format!("{name}:{line}: `{key}` missing in {lang}"));
                }
            }
        }
    }
    assert!(used > 100, "only {used} keys found: the scan is broken");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// Prefixes of message keys that nothing else in the code uses (unlike
/// `sign-`, `passcode-`: rate-limit names).
const MESSAGE_PREFIXES: &[&str] = &[
    "console",
    "error",
    "reason",
    "refusal",
    "link",
    "ask",
    "mail",
    "invitation",
    "apps",
    "consent",
    "manage",
    "security",
    "passkeys",
    "nav",
    "button",
    "mfa",
    "recovery",
    "guest",
    "signed",
    "going",
    "layout",
    "month",
    "support",
    "choose",
    "code",
    "notice",
    "flash",
];

/// The keys Rust code names in `t!(lang, "key"…)` and `self.t("key")`
/// (literal keys; keys built with `format!` are checked by the tests of
/// their modules, e.g. `refusal`).
#[test]
fn every_key_the_code_uses_exists() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("src").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut missing = Vec::new();
    let mut used = 0;
    for f in files {
        if f.ends_with("i18n/tests.rs") {
            continue;
        }
        let whole = std::fs::read_to_string(&f).expect("read");
        // Test modules may name keys that do not exist.
        let source = whole.split("#[cfg(test)]").next().unwrap_or_default();
        for marker in ["t!(", ".t("] {
            let mut from = 0;
            while let Some(found) = source[from..].find(marker) {
                let at = from + found;
                from = at + marker.len();
                let boundary = marker.starts_with('.')
                    || source[..at]
                        .chars()
                        .last()
                        .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                if !boundary {
                    continue;
                }
                // The key: the call's first string literal, before any
                // nested call or the end of the statement.
                let rest = &source[from..];
                let Some(q) = rest.find('"') else { break };
                if rest[..q].contains(['(', ')', ';']) {
                    continue;
                }
                let Some(end) = rest[q + 1..].find('"') else {
                    break;
                };
                let key = &rest[q + 1..q + 1 + end];
                let is_key = !key.is_empty()
                    && key.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
                    });
                if !is_key {
                    continue;
                }
                let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
                if source[line_start..at].trim_start().starts_with("//") {
                    continue;
                }
                used += 1;
                if !has(Lang::EN, key) {
                    let line = source[..at].lines().count();
                    missing.push(format!("{}:{line}: `{key}`", f.display()));
                }
            }
        }
        // Keys handed around as literals (`("error-…-title", "error-…")`):
        // every literal with a prefix only messages use.
        for (i, line) in source.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for literal in line.split('"').skip(1).step_by(2) {
                let Some((prefix, _)) = literal.split_once('-') else {
                    continue;
                };
                let is_key = literal
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
                if is_key && MESSAGE_PREFIXES.contains(&prefix) {
                    used += 1;
                    if !has(Lang::EN, literal) {
                        missing.push(format!("{}:{}: `{literal}`", f.display(), i + 1));
                    }
                }
            }
        }
    }
    assert!(used > 20, "only {used} keys found: the scan is broken");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn arguments_plurals_and_dates() {
    assert_eq!(
        t!(Lang::EN, "mail-passcode-valid", minutes = 1, org = "T"),
        "It is valid for 1 minute. Never share it with anyone: T will never ask you for it."
    );
    assert!(
        t!(de(), "mail-passcode-valid", minutes = 10, org = "T")
            .starts_with("Er ist 10 Minuten gültig.")
    );
    let t = time::OffsetDateTime::from_unix_timestamp(1_772_323_200).expect("t");
    assert_eq!(date(Lang::EN, t), "1 March 2026");
    assert_eq!(date(de(), t), "1. März 2026");
}

#[test]
fn a_missing_message_shows_its_key() {
    assert_eq!(t!(de(), "no-such-message"), "no-such-message");
}

#[test]
fn templates_escape_text_and_arguments_but_not_markup_they_made() {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|n| {
        if n.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    add_to(&mut env);
    env.add_template(
        "a.html",
        r#"{% set b %}<strong>{{ who }}</strong>{% endset %}{{ t("refusal-signed-in-as", email=b) }}|{{ t("refusal-signed-in-as", email=who) }}"#,
    )
    .expect("parses");
    env.add_template("a.txt", r#"{{ t("refusal-signed-in-as", email=who) }}"#)
        .expect("parses");
    let ctx = minijinja::context! { lang => "de", who => "<A&B>" };
    let html = env
        .get_template("a.html")
        .and_then(|t| t.render(&ctx))
        .expect("renders");
    assert_eq!(
        html,
        "Sie sind angemeldet als <strong>&lt;A&amp;B&gt;</strong>.|Sie sind angemeldet als &lt;A&amp;B&gt;."
    );
    let text = env
        .get_template("a.txt")
        .and_then(|t| t.render(&ctx))
        .expect("renders");
    assert_eq!(text, "Sie sind angemeldet als <A&B>.");
}

#[test]
fn template_keys_are_found_with_their_lines() {
    let keys =
        keys_used_in("a\n{{ t(\"x-y\") }} {{ t('z', a=1) }}\n{{ format(\"no\") }}{{ date(1) }}");
    assert_eq!(keys, [("x-y".to_string(), 2), ("z".to_string(), 2)]);
}

#[test]
fn a_message_one_language_lacks_is_named_with_its_language() {
    let en = catalogue("en", &[("a.ftl", "one = One\ntwo = Two\n")]);
    let de = catalogue("de", &[("a.ftl", "one = Eins\nbroken = { $\n")]);
    let problems = compare(&[en, de], &["en", "de"]);
    assert!(
        problems.contains(
            &"message `two` is missing from the `de` catalogue (gateway/locales/de/)".to_string()
        ),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("locales/de/a.ftl:2:")),
        "{problems:?}"
    );
}
