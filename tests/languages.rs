//! Languages and branding (issue 17), end to end against the real
//! `portcullis serve` with a real SMTP server: pages follow the browser's
//! `Accept-Language` (q-values, fallback to `organisation.language`), a
//! passcode is mailed in the language of the browser that asked for it and
//! an invitation in the language its inviter chose; the organisation's
//! logo, accent colour, help desk and template overrides show on the
//! portal's and the proxy's pages; refusals name whom to ask; and
//! `portcullis check` refuses an unreadable accent colour and a broken or
//! misnamed template override, saying where.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use support::browser::{Browser, Page};
use support::gateway::{Gateway, app};
use support::smtp::SmtpSink;
use support::upstream::Upstream;
use support::{WAIT, poll};

const AUTH: &str = "auth.test";
const FRANK: &str = "frank@contoso.example";
const ERIK: &str = "erik@contoso.example";
const HOSTS: &[&str] = &[AUTH, "wiki.test", "docs.test", "nowhere.test"];

/// A small SVG logo (the file check wants `<svg`).
const LOGO: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 10 10\"><rect width=\"10\" height=\"10\" fill=\"#0f6b3a\"/></svg>";

struct Env {
    gw: Gateway,
    _up: Upstream,
    smtp: SmtpSink,
}

impl Env {
    fn browser(&self, accept_language: Option<&str>) -> Browser {
        let mut b = Browser::new(self.gw.http, HOSTS);
        b.accept_language = accept_language.map(str::to_string);
        b
    }

    fn url(&self, host: &str, path: &str) -> String {
        self.gw.url(host, path)
    }

    /// The mails to `to` as (subject, text part, HTML part), once there
    /// are `n`.
    async fn wait_for_mails(&self, to: &str, n: usize) -> Vec<(String, String, String)> {
        let mails = || {
            self.smtp
                .messages()
                .iter()
                .filter(|m| m.contains(to))
                .filter_map(|m| {
                    let parsed = mailparse::parse_mail(m.as_bytes()).ok()?;
                    let subject = parsed
                        .headers
                        .iter()
                        .find(|h| h.get_key().eq_ignore_ascii_case("subject"))
                        .map(mailparse::MailHeader::get_value)
                        .unwrap_or_default();
                    let part = |mime: &str| {
                        parsed
                            .subparts
                            .iter()
                            .find(|p| p.ctype.mimetype == mime)
                            .and_then(|p| p.get_body().ok())
                            .unwrap_or_default()
                    };
                    Some((subject, part("text/plain"), part("text/html")))
                })
                .collect::<Vec<_>>()
        };
        poll(WAIT, || async {
            let m = mails();
            (m.len() >= n).then_some(m)
        })
        .await
        .map(|(m, _)| m)
        .unwrap_or_else(|| panic!("{n} mails to {to}: {:?}", mails()))
    }
}

/// wiki (owned by a person and a group) and docs; mail to a real SMTP
/// server; `organisation` as given.
async fn start(organisation: &str) -> Env {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("logo.svg"), LOGO).unwrap();
    std::fs::create_dir_all(dir.path().join("brand/mail")).unwrap();
    // An organisation's own sign-in page: its words, the built-in layout.
    std::fs::write(
        dir.path().join("brand/sign_in.html"),
        "{% extends \"layout.html\" %}{% block title %}{{ t(\"sign-in-title\") }}{% endblock %}\
         {% block heading %}{{ t(\"sign-in-title\") }}{% endblock %}{% block body %}\
         <p id=\"own-words\">Tailwind partners</p><label for=\"email\">{{ t(\"sign-in-email-label\") }}</label>\
         <form method=\"post\" action=\"/.portcullis/sign-in\"><input type=\"hidden\" name=\"csrf\" value=\"{{ csrf }}\">\
         <input type=\"hidden\" name=\"rd\" value=\"{{ rd }}\"><input id=\"email\" name=\"email\" type=\"email\" value=\"{{ email }}\">\
         <button type=\"submit\">{{ t(\"button-next\") }}</button></form>{% endblock %}",
    )
    .unwrap();
    let smtp = SmtpSink::start();
    let top = format!(
        "{organisation}\
         sign_in: {{ host: {AUTH} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", \
         smtp: {{ host: 127.0.0.1, port: {}, tls: none }} }}\n",
        smtp.port
    );
    let ups = vec![up.address()];
    let apps = vec![
        app(
            "wiki",
            &ups,
            "title: Wiki, owners: [olga@tailwindtraders.example, \"group:wiki-admins\"]",
        ),
        app("docs", &ups, "title: Docs"),
    ];
    let gw = Gateway::start_configured(dir, &apps, "", &[], "", &top).await;
    Env { gw, _up: up, smtp }
}

/// The default organisation (English) with the help desk set.
async fn start_plain() -> Env {
    start(
        "organisation: { name: Tailwind Traders, member_domains: [tailwindtraders.example], \
         support: { email: helpdesk@tailwindtraders.example, text: the Tailwind service desk } }\n",
    )
    .await
}

/// Invites `email` to wiki from the CLI, with `--language` when given;
/// returns the link (on the HTTP listener).
fn invite(env: &Env, email: &str, language: Option<&str>) {
    let config = env.gw.path("portcullis.yaml");
    let mut args = vec![
        "invite",
        "--config",
        config.to_str().unwrap(),
        "--email",
        email,
        "--app",
        "wiki",
        "--inviter",
        "Alice",
    ];
    if let Some(l) = language {
        args.extend(["--language", l]);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run portcullis");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn link_in(text: &str, env: &Env) -> String {
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/.portcullis/invite?token="))
        .expect("a link in the mail");
    let token = link.split("token=").nth(1).unwrap();
    env.url(AUTH, &format!("/.portcullis/invite?token={token}"))
}

fn html_lang(page: &Page) -> String {
    page.body
        .split("<html lang=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string()
}

/// What the German mails and pages must not say (their English words).
/// A browser the security-info page names "Chrome on Windows".
const CHROME_ON_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

const ENGLISH: &[&str] = &[
    "Use this code",
    "It is valid for",
    "Never share it",
    "If you did not try to sign in",
    "invited you",
    "Accept the invitation",
    "Or open this link",
    "You sign in with your own",
    "expires",
    "Questions?",
    "This message was sent",
];

/// The invitation in the language the inviter chose, the passcode in the
/// language of the browser that asked: German for Frank, whose inviter chose
/// German and whose browser asks for German; English for Erik, invited
/// without a language (the organisation's) whose browser asks for English.
#[tokio::test]
async fn mails_speak_the_language_chosen_for_them() {
    let env = start_plain().await;
    invite(&env, FRANK, Some("de"));
    let mails = env.wait_for_mails(FRANK, 1).await;
    let (subject, text, html) = &mails[0];
    assert_eq!(subject, "Alice hat Sie zu Tailwind Traders eingeladen");
    assert!(
        text.contains("Alice hat Sie eingeladen, diese App bei Tailwind Traders zu nutzen:"),
        "{text}"
    );
    assert!(text.contains("Einladung annehmen:"), "{text}");
    assert!(text.contains("Die Einladung läuft am "), "{text}");
    assert!(
        text.contains("Fragen? Wenden Sie sich an the Tailwind service desk (helpdesk@tailwindtraders.example)."),
        "the help desk: {text}"
    );
    assert!(html.contains("<html lang=\"de\">"), "{html}");
    for english in ENGLISH {
        assert!(!text.contains(english), "{english:?} in {text}");
        assert!(!html.contains(english), "{english:?} in {html}");
    }

    // Frank's browser speaks German: the invitation page, the code page
    // and the mailed code are German.
    let mut b = env.browser(Some("de-DE,de;q=0.9,en;q=0.5"));
    b.user_agent = Some(CHROME_ON_WINDOWS.to_string());
    let page = b.open(&link_in(text, &env)).await;
    assert_eq!(page.heading(), "Sie sind eingeladen", "{}", page.body);
    assert_eq!(html_lang(&page), "de");
    let code_page = b.submit(&page, "/.portcullis/invite", &[]).await;
    assert_eq!(code_page.heading(), "Code eingeben", "{}", code_page.body);
    let mails = env.wait_for_mails(FRANK, 2).await;
    let (subject, text, html) = mails
        .iter()
        .find(|(s, _, _)| s.contains("Anmeldecode"))
        .unwrap_or_else(|| panic!("a German passcode mail: {mails:?}"));
    assert_eq!(subject, "Ihr Anmeldecode für Tailwind Traders");
    assert!(
        text.contains("Mit diesem Code melden Sie sich bei Tailwind Traders an:"),
        "{text}"
    );
    assert!(text.contains("Minuten gültig"), "{text}");
    assert!(html.contains("<html lang=\"de\">"), "{html}");
    for english in ENGLISH {
        assert!(!text.contains(english), "{english:?} in {text}");
        assert!(!html.contains(english), "{english:?} in {html}");
    }
    let code = text
        .split_whitespace()
        .find(|w| w.len() >= 6 && w.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("a code in {text}"))
        .to_string();

    // The resend wait, counted down on the page and held to by the server,
    // in German.
    assert!(
        code_page
            .body
            .contains("Einen neuen Code können Sie in <span class=\"countdown\""),
        "{}",
        code_page.body
    );
    let early = b
        .submit(&code_page, "/.portcullis/sign-in/passcode", &[])
        .await;
    assert_eq!(early.status, 429, "{}", early.body);
    assert!(
        early
            .body
            .contains("angeforderte Code ist vielleicht noch unterwegs")
            && early
                .body
                .contains("anfordern. Das wurde nicht auf das Limit angerechnet."),
        "{}",
        early.body
    );
    assert!(
        !early.body.contains("may still be on its way"),
        "{}",
        early.body
    );

    // Signed in, security info lists the session in German, the browser
    // and platform names as they are.
    let consent = b
        .submit(&early, "/.portcullis/sign-in/passcode", &[("code", &code)])
        .await;
    b.submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    let security = b.open(&env.url(AUTH, "/.portcullis/security")).await;
    assert_eq!(
        security.heading(),
        "Sicherheitsinformationen",
        "{}",
        security.body
    );
    for german in [
        "Wo Sie angemeldet sind",
        "<strong>Dieser Browser</strong> (Chrome unter Windows): angemeldet mit",
        "Sie sind hier",
        "Passkeys",
    ] {
        assert!(
            security.body.contains(german),
            "{german:?}: {}",
            security.body
        );
    }
    for english in [
        "This browser",
        "You are here",
        "Chrome on Windows",
        "signed in with",
    ] {
        assert!(
            !security.body.contains(english),
            "{english:?}: {}",
            security.body
        );
    }

    // Erik: no language chosen (the organisation's, English), and an
    // English browser.
    invite(&env, ERIK, None);
    let mails = env.wait_for_mails(ERIK, 1).await;
    assert_eq!(mails[0].0, "Alice invited you to Tailwind Traders");
    let mut b = env.browser(Some("en-GB,en;q=0.9"));
    let page = b.open(&link_in(&mails[0].1, &env)).await;
    assert_eq!(page.heading(), "You are invited", "{}", page.body);
    b.submit(&page, "/.portcullis/invite", &[]).await;
    let mails = env.wait_for_mails(ERIK, 2).await;
    assert!(
        mails
            .iter()
            .any(|(s, t, _)| s == "Your Tailwind Traders sign-in code"
                && t.contains("Use this code to sign in to Tailwind Traders:")),
        "{mails:?}"
    );
}

/// `Accept-Language` is negotiated with its q-values: the first language
/// we speak in the browser's order of preference, a region finds its
/// language, `q=0` refuses one, and anything else gets the organisation's.
#[tokio::test]
async fn pages_follow_accept_language_with_q_values_and_fall_back_to_the_default() {
    let env = start_plain().await;
    let sign_in = env.url(AUTH, "/.portcullis/sign-in");
    for (header, lang, heading) in [
        (Some("fr, de;q=0.8"), "de", "Anmelden"),
        (Some("de-AT"), "de", "Anmelden"),
        (Some("en;q=0.2, de;q=0.9"), "de", "Anmelden"),
        (Some("de;q=0, en;q=0.5"), "en", "Sign in"),
        (Some("ja, fr-CA;q=0.9"), "en", "Sign in"),
        (None, "en", "Sign in"),
    ] {
        let page = env.browser(header).open(&sign_in).await;
        assert_eq!(html_lang(&page), lang, "{header:?}");
        assert_eq!(page.heading(), heading, "{header:?}");
    }

    // An organisation whose language is German: German unless the browser
    // asks for English.
    let env = start(
        "organisation: { name: Tailwind Traders, member_domains: [tailwindtraders.example], language: de }\n",
    )
    .await;
    let sign_in = env.url(AUTH, "/.portcullis/sign-in");
    for (header, lang) in [(Some("ja"), "de"), (None, "de"), (Some("en-US"), "en")] {
        let page = env.browser(header).open(&sign_in).await;
        assert_eq!(html_lang(&page), lang, "{header:?}");
    }
    // The proxy's own pages too (an unknown host).
    let page = env.browser(None).get(&env.url("nowhere.test", "/")).await;
    assert_eq!(page.status, 404);
    assert_eq!(html_lang(&page), "de");
    assert_eq!(page.heading(), "Nicht gefunden", "{}", page.body);
}

/// The organisation's logo (served by the gateway with a year's cache),
/// accent colour, help desk and its own sign-in template, on the portal's
/// pages and on the proxy's error page of a host that is no app's.
#[tokio::test]
async fn branding_shows_on_every_page_and_the_logo_is_served_once_for_a_year() {
    let env = start(
        "organisation: { name: Tailwind Traders, member_domains: [tailwindtraders.example], \
         logo: logo.svg, accent_colour: \"#0f6b3a\", templates_dir: brand, \
         support: { email: helpdesk@tailwindtraders.example, url: \"https://help.tailwindtraders.example\" } }\n",
    )
    .await;
    let mut b = env.browser(Some("en"));
    let sign_in = b.open(&env.url(AUTH, "/.portcullis/sign-in")).await;
    assert!(
        sign_in.body.contains("id=\"own-words\""),
        "the override: {}",
        sign_in.body
    );
    assert!(sign_in.body.contains("#0f6b3a"), "{}", sign_in.body);
    assert!(
        !sign_in.body.contains("#0b57d0"),
        "the built-in blue: {}",
        sign_in.body
    );
    let logo_src = sign_in
        .body
        .split("<img src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a logo on the sign-in page")
        .to_string();
    assert!(logo_src.starts_with("/.portcullis/logo?v="), "{logo_src}");

    let logo = reqwest::Client::builder()
        .resolve(AUTH, env.gw.http)
        .build()
        .unwrap()
        .get(env.url(AUTH, &logo_src))
        .send()
        .await
        .unwrap();
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    assert_eq!(
        logo.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(logo.text().await.unwrap(), LOGO);

    // The proxy's 404 for a host that is no app's: the logo from the
    // sign-in host (allowed by its CSP), the colour, the help desk.
    let missing = b.get(&env.url("nowhere.test", "/")).await;
    assert_eq!(missing.status, 404);
    let auth_origin = env.url(AUTH, "");
    assert!(
        missing
            .body
            .contains(&format!("<img src=\"{auth_origin}{logo_src}\"")),
        "{}",
        missing.body
    );
    assert!(missing.body.contains("#0f6b3a"), "{}", missing.body);
    assert!(
        missing
            .body
            .contains("mailto:helpdesk@tailwindtraders.example"),
        "{}",
        missing.body
    );
    assert!(
        missing
            .body
            .contains("https://help.tailwindtraders.example"),
        "{}",
        missing.body
    );

    // The branded pages in German, as Chromium shows them (a laptop and a
    // phone screenshot each), and axe-core finds no serious violation with
    // the accent colour.
    let mut de = env.browser(Some("de"));
    let sign_in_de = de.open(&env.url(AUTH, "/.portcullis/sign-in")).await;
    let missing_de = de.get(&env.url("nowhere.test", "/")).await;
    assert!(missing_de.body.contains("Hilfe:"), "{}", missing_de.body);
    render(
        "branding_in_chromium",
        &[
            ("01-sign-in-override", &sign_in.body),
            ("02-sign-in-de", &sign_in_de.body),
            ("03-not-found-de", &missing_de.body),
        ],
    )
    .await;
}

/// Shows `pages` in headless Chromium (tests/browser/render.mjs): a
/// screenshot at laptop and phone size each, axe-core on each.
async fn render(test: &str, pages: &[(&str, &str)]) {
    support::chromium::assert_installed();
    let shots = support::chromium::artifacts(test);
    let dir = tempfile::tempdir().unwrap();
    let list: Vec<serde_json::Value> = pages
        .iter()
        .map(|(name, html)| {
            let file = dir.path().join(format!("{name}.html"));
            std::fs::write(&file, html).unwrap();
            serde_json::json!({ "name": name, "html_file": file })
        })
        .collect();
    let input = dir.path().join("render.json");
    std::fs::write(
        &input,
        serde_json::json!({ "screenshots": shots, "timeout_ms": 10_000, "pages": list })
            .to_string(),
    )
    .unwrap();
    let (ok, stdout, stderr) =
        support::chromium::run("render.mjs", &input, std::time::Duration::from_secs(60)).await;
    assert!(
        ok,
        "render failed (screenshots in {}):\n{stderr}\n{stdout}",
        shots.display()
    );
    for (name, _) in pages {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "no screenshot of {name}"
        );
    }
}

/// A guest refused an app that was not shared with them is told whom to
/// ask: its owners (a person by address, a group by name) and, in German,
/// the help desk.
#[tokio::test]
async fn a_refusal_names_the_owners_and_the_help_desk_in_the_language_asked() {
    let env = start_plain().await;
    let (_, cookie) = env.gw.guest("wiki.test", "gina").await;
    let client = reqwest::Client::builder()
        .resolve("wiki.test", env.gw.http)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |lang: &'static str| {
        client
            .get(env.url("wiki.test", "/"))
            .header("cookie", &cookie)
            .header("accept", "text/html")
            .header("sec-fetch-mode", "navigate")
            .header("accept-language", lang)
            .send()
    };
    let page = get("en").await.unwrap();
    assert_eq!(page.status(), 403);
    let body = page.text().await.unwrap();
    assert!(body.contains("data-reason=\"not_shared\""), "{body}");
    assert!(
        body.contains(
            "ask the app&#39;s owners (olga@tailwindtraders.example, members of the group wiki-admins) to share it with you"
        ),
        "{body}"
    );
    assert!(body.contains("the Tailwind service desk"), "{body}");

    let page = get("de").await.unwrap();
    assert_eq!(page.status(), 403);
    let body = page.text().await.unwrap();
    assert!(body.contains("<html lang=\"de\">"), "{body}");
    assert!(
        body.contains("Diese App wurde nicht für Sie freigegeben"),
        "{body}"
    );
    assert!(
        body.contains(
            "bitten Sie die Verantwortlichen der App (olga@tailwindtraders.example, Mitglieder der Gruppe wiki-admins), sie für Sie freizugeben"
        ),
        "{body}"
    );
    assert!(body.contains("Hilfe:"), "{body}");
    for english in [
        "has not been shared",
        "What you can do",
        "Request id",
        "Your apps",
    ] {
        assert!(!body.contains(english), "{english:?} in {body}");
    }
}

/// The admin API's invitation takes a `language`, and refuses one the
/// gateway does not speak, naming the field.
#[tokio::test]
async fn the_admin_api_invites_in_the_language_asked_and_refuses_an_unknown_one() {
    let env = start_plain().await;
    let admin = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        admin
            .post(format!("http://{}/api/v1/invitations", env.gw.admin))
            .bearer_auth("test-admin-token-0123456789")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let bad = post(serde_json::json!({
        "email": FRANK, "apps": ["wiki"], "inviter": "Alice", "language": "fr"
    }))
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    let text = bad.text().await.unwrap();
    assert!(
        text.contains("language") && text.contains("use en or de"),
        "{text}"
    );
    let ok = post(serde_json::json!({
        "email": FRANK, "apps": ["wiki"], "inviter": "Alice", "language": "de"
    }))
    .await
    .unwrap();
    assert_eq!(ok.status(), 201, "{}", ok.text().await.unwrap());
    let mails = env.wait_for_mails(FRANK, 1).await;
    assert_eq!(mails[0].0, "Alice hat Sie zu Tailwind Traders eingeladen");
}

fn check(dir: &std::path::Path, organisation: &str) -> (bool, String) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/a.yaml"), "").unwrap();
    let config = dir.join("portcullis.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ http: 127.0.0.1:8080 }}\nrules: [\"rules/*.yaml\"]\n{organisation}\
             apps:\n  - {{ name: wiki, hosts: [wiki.test], upstreams: [127.0.0.1:9001] }}\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["check", "--config"])
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run portcullis check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `portcullis check` refuses an accent colour people could not read and a
/// language the gateway does not speak (at the value's line and column),
/// and template overrides with a name no built-in has, a syntax error or
/// a message no catalogue has (at the override's file and line).
#[test]
fn check_refuses_unreadable_colours_unknown_languages_and_broken_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr) = check(
        dir.path(),
        "organisation: { name: T, accent_colour: \"#7a9cc6\", language: fr }\n",
    );
    assert!(!ok, "{stderr}");
    assert!(
        stderr
            .contains("portcullis.yaml:3:41: `organisation.accent_colour` `#7a9cc6` is too light"),
        "{stderr}"
    );
    assert!(stderr.contains("against white"), "{stderr}");
    assert!(
        stderr.contains("portcullis.yaml:3:62: `organisation.language`: `fr` is not a language of the gateway; use en or de"),
        "{stderr}"
    );

    let brand = dir.path().join("brand");
    std::fs::create_dir_all(brand.join("mail")).unwrap();
    std::fs::write(brand.join("sign_inn.html"), "typo").unwrap();
    std::fs::write(
        brand.join("mail/passcode.txt"),
        "{{ code }}\n{% if code %}\nnever closed\n",
    )
    .unwrap();
    std::fs::write(brand.join("apps.html"), "\n{{ t(\"no-such-message\") }}\n").unwrap();
    let (ok, stderr) = check(
        dir.path(),
        "organisation: { name: T, accent_colour: \"#0f6b3a\", templates_dir: brand }\n",
    );
    assert!(!ok, "{stderr}");
    let brand = brand.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{brand}/sign_inn.html:0:0: `sign_inn.html` is not the name of a built-in template"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{brand}/apps.html:2:0: message `no-such-message` is not in the `de` catalogue"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{brand}/mail/passcode.txt:")) && stderr.contains("syntax error"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("accent_colour"),
        "a readable colour: {stderr}"
    );

    // Good overrides and a readable colour pass.
    std::fs::remove_dir_all(dir.path().join("brand")).unwrap();
    std::fs::create_dir_all(dir.path().join("brand/mail")).unwrap();
    std::fs::write(
        dir.path().join("brand/mail/passcode.txt"),
        "{{ t(\"mail-passcode-intro\", org=org) }} {{ code }}\n",
    )
    .unwrap();
    let (ok, stderr) = check(
        dir.path(),
        "organisation: { name: T, accent_colour: \"#0f6b3a\", language: de, templates_dir: brand }\n",
    );
    assert!(ok, "{stderr}");
}
