use super::*;
use minijinja::context;

#[test]
fn every_page_renders_escapes_and_speaks_the_language_asked() {
    let templates = Templates::default();
    for lang in ["en", "de"] {
        for (name, _) in PAGES {
            if PARTIALS.contains(name) || name.starts_with("console/") {
                continue;
            }
            let html = String::from_utf8(templates.page(
                name,
                context! {
                    lang, org => "Tailwind <Traders>",
                    request_id => "r1",
                    email => "a\"b@example.com",
                    csrf => "c", rd => "/x",
                    title => "T", text => "x",
                },
            ))
            .expect("utf-8");
            assert!(!html.contains("could not be shown"), "{name}: {html}");
            assert!(html.contains("Tailwind &lt;Traders&gt;"), "{name}: {html}");
            assert!(!html.contains("a\"b@"), "{name} did not escape: {html}");
            assert!(
                html.contains(&format!("<html lang=\"{lang}\">")),
                "{name}: {html}"
            );
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

#[test]
fn an_override_replaces_the_built_in_of_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "sign_in.html",
        "{% extends \"layout.html\" %}{% block body %}<p id=own>{{ t(\"refusal-your-apps\") }}</p>{% endblock %}",
    );
    write(dir.path(), "mail/passcode.txt", "Code: {{ code }}\n");
    let (o, errors) = Overrides::load(dir.path());
    assert!(errors.is_empty(), "{errors:?}");
    let t = Templates::new(&o);
    let html = String::from_utf8(t.page("sign_in.html", context! { lang => "de", org => "T" }))
        .expect("utf-8");
    assert!(html.contains("<p id=own>Ihre Apps</p>"), "{html}");
    let text = t
        .mail("passcode.txt", &context! { code => "123" })
        .expect("renders");
    assert_eq!(text, "Code: 123");
    // The others stay built in.
    let apps = String::from_utf8(t.page("apps.html", context! { org => "T" })).expect("utf-8");
    assert!(apps.contains("id=\"no-apps\""), "{apps}");
}

#[test]
fn unknown_names_syntax_errors_and_unknown_keys_are_reported_where_they_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "sign_inn.html", "typo");
    write(dir.path(), "mail/passcode.txt", "line one\n{% if x %}\nnever closed\n");
    write(
        dir.path(),
        "apps.html",
        "a\nb\n{{ t(\"no-such-key\") }}\n",
    );
    let (_, errors) = Overrides::load(dir.path());
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 4, "{text:?}");
    assert!(
        text.iter().any(|e| e.contains("sign_inn.html:0: `sign_inn.html` is not the name of a built-in template")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|e| e.contains("apps.html:3: message `no-such-key` is not in the `en` catalogue")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|e| e.contains("apps.html:3: message `no-such-key` is not in the `de` catalogue")),
        "{text:?}"
    );
    let syntax = errors
        .iter()
        .find(|e| e.file.ends_with("mail/passcode.txt"))
        .expect("syntax error reported");
    assert!(syntax.line >= 2, "{syntax}");
    assert!(syntax.message.contains("syntax error") || syntax.message.contains("unexpected"), "{syntax}");
}

#[test]
fn the_chrome_names_the_help_desk_and_allows_an_https_logo() {
    let mut c = Chrome {
        org: "Tailwind Traders".into(),
        logo: Some("https://cdn.example/logo.svg".into()),
        support: Some(Support {
            email: Some("help@tailwind.example".into()),
            url: None,
            text: None,
        }),
        ..Chrome::default()
    };
    assert_eq!(
        c.support_line().as_deref(),
        Some("the help desk of Tailwind Traders (help@tailwind.example)")
    );
    assert_eq!(
        c.csp("default-src 'none'; img-src data: 'self'"),
        "default-src 'none'; img-src https://cdn.example data: 'self'"
    );
    c.logo = Some("/.portcullis/logo?v=1".into());
    assert_eq!(c.csp("img-src data:"), "img-src data:");
}
