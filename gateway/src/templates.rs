//! Every template a person sees, in one place: the pages (portal, console,
//! refusal and error pages of the proxy) and the e-mails, compiled into the
//! binary; an organisation's own versions of any of them
//! (`organisation.templates_dir`, [`Overrides`]); and the one environment
//! setup they are all rendered with (escaping, `t()` and `date()` from
//! `crate::i18n`).
//!
//! An override replaces the built-in template of the same relative name
//! (`sign_in.html`, `console/home.html`, `mail/passcode.html`). `check`
//! reads the folder ([`Overrides::load`]): a file whose name is not a
//! built-in's is an error (a typo would otherwise be silently ignored), as
//! is a syntax error (with its line) or a message key no catalogue has.

use crate::i18n::t;
use minijinja::{AutoEscape, Environment, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The pages: the portal's, the console's, and the refusal card the proxy
/// answers with.
pub const PAGES: &[(&str, &str)] = &[
    ("layout.html", include_str!("portal/templates/layout.html")),
    (
        "refusal.html",
        include_str!("portal/templates/refusal.html"),
    ),
    (
        "sign_in.html",
        include_str!("portal/templates/sign_in.html"),
    ),
    (
        "password.html",
        include_str!("portal/templates/password.html"),
    ),
    ("choose.html", include_str!("portal/templates/choose.html")),
    (
        "passcode.html",
        include_str!("portal/templates/passcode.html"),
    ),
    (
        "consent.html",
        include_str!("portal/templates/consent.html"),
    ),
    (
        "mfa_enroll.html",
        include_str!("portal/templates/mfa_enroll.html"),
    ),
    (
        "mfa_verify.html",
        include_str!("portal/templates/mfa_verify.html"),
    ),
    (
        "passkeys.html",
        include_str!("portal/templates/passkeys.html"),
    ),
    (
        "lost_ask.html",
        include_str!("portal/templates/lost_ask.html"),
    ),
    (
        "lost_review.html",
        include_str!("portal/templates/lost_review.html"),
    ),
    (
        "lost_reenrol.html",
        include_str!("portal/templates/lost_reenrol.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("portal/templates/recovery_codes.html"),
    ),
    (
        "sign_out.html",
        include_str!("portal/templates/sign_out.html"),
    ),
    ("apps.html", include_str!("portal/templates/apps.html")),
    (
        "security.html",
        include_str!("portal/templates/security.html"),
    ),
    (
        "message.html",
        include_str!("portal/templates/message.html"),
    ),
    (
        "invitation.html",
        include_str!("portal/templates/invitation.html"),
    ),
    (
        "sign_up.html",
        include_str!("portal/templates/sign_up.html"),
    ),
    (
        "sign_up_form.html",
        include_str!("portal/templates/sign_up_form.html"),
    ),
    (
        "sign_up_idp.html",
        include_str!("portal/templates/sign_up_idp.html"),
    ),
    (
        "sign_up_review.html",
        include_str!("portal/templates/sign_up_review.html"),
    ),
    (
        "manage_apps.html",
        include_str!("portal/templates/manage_apps.html"),
    ),
    (
        "manage_app.html",
        include_str!("portal/templates/manage_app.html"),
    ),
    (
        "manage_confirm_end.html",
        include_str!("portal/templates/manage_confirm_end.html"),
    ),
    (
        "idp_icon.html",
        include_str!("portal/templates/idp_icon.html"),
    ),
    (
        "mfa_lost.html",
        include_str!("portal/templates/mfa_lost.html"),
    ),
    (
        "passkey_rename.html",
        include_str!("portal/templates/passkey_rename.html"),
    ),
    (
        "security_passkeys.html",
        include_str!("portal/templates/security_passkeys.html"),
    ),
    (
        "passkey_sign_in.html",
        include_str!("portal/templates/passkey_sign_in.html"),
    ),
    (
        "panel_style.html",
        include_str!("portal/templates/panel_style.html"),
    ),
    (
        "console/layout.html",
        include_str!("portal/templates/console/layout.html"),
    ),
    (
        "console/home.html",
        include_str!("portal/templates/console/home.html"),
    ),
    (
        "console/message.html",
        include_str!("portal/templates/console/message.html"),
    ),
    (
        "console/guests.html",
        include_str!("portal/templates/console/guests.html"),
    ),
    (
        "console/guest.html",
        include_str!("portal/templates/console/guest.html"),
    ),
    (
        "console/confirm.html",
        include_str!("portal/templates/console/confirm.html"),
    ),
    (
        "console/decisions.html",
        include_str!("portal/templates/console/decisions.html"),
    ),
    (
        "console/decision.html",
        include_str!("portal/templates/console/decision.html"),
    ),
    (
        "console/audit.html",
        include_str!("portal/templates/console/audit.html"),
    ),
    (
        "console/invitations.html",
        include_str!("portal/templates/console/invitations.html"),
    ),
    (
        "console/requests.html",
        include_str!("portal/templates/console/requests.html"),
    ),
    (
        "console/policies.html",
        include_str!("portal/templates/console/policies.html"),
    ),
];

/// Pieces the pages include, not pages of their own (the tests render
/// every other name of [`PAGES`] alone).
pub const PARTIALS: &[&str] = &[
    "idp_icon.html",
    "mfa_lost.html",
    "passkey_rename.html",
    "security_passkeys.html",
    "passkey_sign_in.html",
    "panel_style.html",
    "console/layout.html",
];

/// The e-mails: `KIND.html` and `KIND.txt` on `layout.html`; in an
/// overrides folder they live under `mail/`.
pub const MAILS: &[(&str, &str)] = &[
    ("layout.html", include_str!("mail/templates/layout.html")),
    (
        "passcode.html",
        include_str!("mail/templates/passcode.html"),
    ),
    ("passcode.txt", include_str!("mail/templates/passcode.txt")),
    (
        "invitation.html",
        include_str!("mail/templates/invitation.html"),
    ),
    (
        "invitation.txt",
        include_str!("mail/templates/invitation.txt"),
    ),
    (
        "access_ending.html",
        include_str!("mail/templates/access_ending.html"),
    ),
    (
        "access_ending.txt",
        include_str!("mail/templates/access_ending.txt"),
    ),
    (
        "signup_request.html",
        include_str!("mail/templates/signup_request.html"),
    ),
    (
        "signup_request.txt",
        include_str!("mail/templates/signup_request.txt"),
    ),
    (
        "signup_decision.html",
        include_str!("mail/templates/signup_decision.html"),
    ),
    (
        "signup_decision.txt",
        include_str!("mail/templates/signup_decision.txt"),
    ),
    (
        "mfa_recovery_request.html",
        include_str!("mail/templates/mfa_recovery_request.html"),
    ),
    (
        "mfa_recovery_request.txt",
        include_str!("mail/templates/mfa_recovery_request.txt"),
    ),
    (
        "mfa_recovery_decision.html",
        include_str!("mail/templates/mfa_recovery_decision.html"),
    ),
    (
        "mfa_recovery_decision.txt",
        include_str!("mail/templates/mfa_recovery_decision.txt"),
    ),
];

/// Where the organisation's logo file is served (`reserved::paths::LOGO`).
pub const LOGO_PATH: &str = "/.portcullis/logo";

/// Where the e-mails' overrides live inside `organisation.templates_dir`.
const MAIL_PREFIX: &str = "mail/";

/// `organisation.support`: whom people can ask for help, on refusal and
/// error pages and in e-mails (templates get it as `support`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Support {
    pub email: Option<String>,
    /// An `https://` page.
    pub url: Option<String>,
    /// What to call it ("the Tailwind service desk").
    pub text: Option<String>,
}

/// What every page and e-mail shows around its content: who runs the
/// gateway, its logo and colour, whom to ask for help, and the language it
/// speaks to this person (`<html lang>`, and what `t()` translates into).
/// Templates get each field by name.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Chrome {
    pub lang: crate::i18n::Lang,
    pub org: String,
    /// The logo's URL (`/.portcullis/logo?v=…` or the configured
    /// `https://` one).
    pub logo: Option<String>,
    /// `#rrggbb` for buttons and links; the layout's blue when `None`.
    pub accent: Option<String>,
    pub support: Option<Support>,
}

impl Chrome {
    /// The origin the pages must allow images from for the logo (an
    /// `https://` logo, or the sign-in host's for a page on another
    /// host), for `img-src`.
    pub fn logo_origin(&self) -> Option<String> {
        let logo = self.logo.as_deref()?;
        if logo.starts_with('/') {
            return None;
        }
        openidconnect::url::Url::parse(logo)
            .ok()
            .map(|u| u.origin().ascii_serialization())
    }

    /// A page CSP's `img-src` with the logo's origin added when it is
    /// another host's.
    pub fn csp(&self, csp: &str) -> String {
        match self.logo_origin() {
            Some(origin) => csp.replacen("img-src ", &format!("img-src {origin} "), 1),
            None => csp.to_string(),
        }
    }

    /// Who to name as the help desk, in `lang` ("the Tailwind service
    /// desk (help@…)"), when `support` is set.
    pub fn support_line(&self) -> Option<String> {
        let s = self.support.as_ref()?;
        let name = s
            .text
            .clone()
            .unwrap_or_else(|| t!(self.lang, "support-default", org = &self.org));
        let contact: Vec<&str> = [s.email.as_deref(), s.url.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        Some(if contact.is_empty() {
            name
        } else {
            format!("{name} ({})", contact.join(", "))
        })
    }
}

/// An organisation's own templates: relative name → source. Empty when
/// `organisation.templates_dir` is not set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pages: BTreeMap<String, String>,
    mails: BTreeMap<String, String>,
}

/// A problem with an override file: `file:line: message` (line 0: the
/// whole file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverrideError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for OverrideError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

impl Overrides {
    /// Reads every file under `dir` (recursively). Returns what could be
    /// read, and every problem: an unreadable file, a name that no
    /// built-in template has, a syntax error (with its line), a message
    /// key that a catalogue lacks.
    pub fn load(dir: &Path) -> (Overrides, Vec<OverrideError>) {
        let mut o = Overrides::default();
        let mut errors = Vec::new();
        let mut files = Vec::new();
        if let Err(e) = walk(dir, &mut files) {
            errors.push(OverrideError {
                file: dir.to_path_buf(),
                line: 0,
                message: format!("cannot read the templates folder: {e}"),
            });
            return (o, errors);
        }
        files.sort();
        for file in files {
            let rel = file
                .strip_prefix(dir)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            let source = match std::fs::read_to_string(&file) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(OverrideError {
                        file,
                        line: 0,
                        message: format!("cannot read it: {e}"),
                    });
                    continue;
                }
            };
            let (known, target) = match rel.strip_prefix(MAIL_PREFIX) {
                Some(name) => (MAILS.iter().any(|(n, _)| *n == name), &mut o.mails),
                None => (PAGES.iter().any(|(n, _)| *n == rel), &mut o.pages),
            };
            if !known {
                errors.push(OverrideError {
                    file,
                    line: 0,
                    message: format!(
                        "`{rel}` is not the name of a built-in template, so it would never be used; \
                         the names are listed in docs/branding.md"
                    ),
                });
                continue;
            }
            for (key, line) in crate::i18n::keys_used_in(&source) {
                for lang in crate::i18n::Lang::all() {
                    if !crate::i18n::has(lang, &key) {
                        errors.push(OverrideError {
                            file: file.clone(),
                            line,
                            message: format!(
                                "message `{key}` is not in the `{lang}` catalogue (gateway/locales/{lang}/)"
                            ),
                        });
                    }
                }
            }
            let name = rel.strip_prefix(MAIL_PREFIX).unwrap_or(&rel).to_string();
            target.insert(name, source);
        }
        // Syntax: each file compiled with the built-ins it extends.
        let pages = environment(PAGES, &o.pages, Escape::Html);
        let mails = environment(MAILS, &o.mails, Escape::ByExtension);
        for (compile_errors, names, prefix) in
            [(&pages.1, &o.pages, ""), (&mails.1, &o.mails, MAIL_PREFIX)]
        {
            for e in compile_errors {
                if names.contains_key(&e.0) {
                    errors.push(OverrideError {
                        file: dir.join(format!("{prefix}{}", e.0)),
                        line: e.1,
                        message: e.2.clone(),
                    });
                }
            }
        }
        (o, errors)
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty() && self.mails.is_empty()
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else if !entry.file_name().to_string_lossy().starts_with('.') {
            out.push(path);
        }
    }
    Ok(())
}

/// How a template's output is escaped.
#[derive(Clone, Copy)]
enum Escape {
    /// Every template is HTML.
    Html,
    /// `.html` is HTML, anything else (`.txt`) plain text.
    ByExtension,
}

/// (template, line, message) of a template that did not compile.
type CompileError = (String, usize, String);

/// An environment with `builtins`, each replaced by its override if there
/// is one, and the compile errors of those that did not compile (the
/// built-in then stays in place).
fn environment(
    builtins: &'static [(&'static str, &'static str)],
    overrides: &BTreeMap<String, String>,
    escape: Escape,
) -> (Environment<'static>, Vec<CompileError>) {
    let mut env = Environment::new();
    match escape {
        Escape::Html => env.set_auto_escape_callback(|_| AutoEscape::Html),
        Escape::ByExtension => env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        }),
    }
    // Escape `& < > " '` (as MarkupSafe does), not `/`: links and the QR
    // code's data URI stay intact.
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(s) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            out.write_str(&crate::html::escape(s))?;
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    // Pages: a value a handler does not set is empty. E-mails: an error,
    // so a mistake shows in the tests, not in someone's inbox.
    env.set_undefined_behavior(match escape {
        Escape::Html => minijinja::UndefinedBehavior::Chainable,
        Escape::ByExtension => minijinja::UndefinedBehavior::Strict,
    });
    crate::i18n::add_to(&mut env);
    let mut errors = Vec::new();
    for (name, source) in builtins {
        if let Some(own) = overrides.get(*name) {
            match env.add_template_owned(name.to_string(), own.clone()) {
                Ok(()) => continue,
                Err(e) => errors.push((name.to_string(), e.line().unwrap_or(0), e.to_string())),
            }
        }
        // Part of the binary; the tests render each.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "built-in template does not parse");
        }
    }
    (env, errors)
}

/// The compiled pages and e-mails, with the organisation's overrides.
pub struct Templates {
    pages: Environment<'static>,
    mails: Environment<'static>,
}

impl Templates {
    /// Compiles the built-ins with `overrides` (checked by `check`: one
    /// that does not compile all the same is logged and the built-in used).
    pub fn new(overrides: &Overrides) -> Templates {
        let (pages, page_errors) = environment(PAGES, &overrides.pages, Escape::Html);
        let (mails, mail_errors) = environment(MAILS, &overrides.mails, Escape::ByExtension);
        for (name, line, message) in page_errors.iter().chain(&mail_errors) {
            tracing::error!(template = %name, line, error = %message, "template override does not compile; using the built-in");
        }
        Templates { pages, mails }
    }

    /// Renders page `name` with `ctx` (which carries `lang`); a template
    /// error becomes a plain page (logged), never a panic.
    pub fn page(&self, name: &str, ctx: Value) -> Vec<u8> {
        match self.pages.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(s) => s.into_bytes(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "page did not render");
                b"<!doctype html><title>Error</title><p>This page could not be shown.</p>".to_vec()
            }
        }
    }

    /// Renders e-mail template `name` (`passcode.txt`) with `ctx`.
    pub fn mail(&self, name: &str, ctx: &Value) -> Result<String, minijinja::Error> {
        self.mails.get_template(name).and_then(|t| t.render(ctx))
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new(&Overrides::default())
    }
}

#[cfg(test)]
mod tests;
