//! The portal's HTML pages: minijinja templates compiled into the binary,
//! every value HTML-escaped (names and e-mails come from IdPs and users).

use minijinja::{AutoEscape, Environment, Value};

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("password.html", include_str!("templates/password.html")),
    ("choose.html", include_str!("templates/choose.html")),
    ("passcode.html", include_str!("templates/passcode.html")),
    ("consent.html", include_str!("templates/consent.html")),
    ("mfa_enroll.html", include_str!("templates/mfa_enroll.html")),
    ("mfa_verify.html", include_str!("templates/mfa_verify.html")),
    ("passkeys.html", include_str!("templates/passkeys.html")),
    ("lost_ask.html", include_str!("templates/lost_ask.html")),
    (
        "lost_review.html",
        include_str!("templates/lost_review.html"),
    ),
    (
        "lost_reenrol.html",
        include_str!("templates/lost_reenrol.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("templates/recovery_codes.html"),
    ),
    ("sign_out.html", include_str!("templates/sign_out.html")),
    ("apps.html", include_str!("templates/apps.html")),
    ("security.html", include_str!("templates/security.html")),
    ("message.html", include_str!("templates/message.html")),
    ("invitation.html", include_str!("templates/invitation.html")),
    ("sign_up.html", include_str!("templates/sign_up.html")),
    (
        "sign_up_form.html",
        include_str!("templates/sign_up_form.html"),
    ),
    (
        "sign_up_idp.html",
        include_str!("templates/sign_up_idp.html"),
    ),
    (
        "sign_up_review.html",
        include_str!("templates/sign_up_review.html"),
    ),
    (
        "manage_apps.html",
        include_str!("templates/manage_apps.html"),
    ),
    ("manage_app.html", include_str!("templates/manage_app.html")),
    (
        "manage_confirm_end.html",
        include_str!("templates/manage_confirm_end.html"),
    ),
];

/// Pieces the pages include (not pages themselves: each is rendered
/// through the pages that include it).
const PARTIALS: &[(&str, &str)] = &[
    ("idp_icon.html", include_str!("templates/idp_icon.html")),
    ("mfa_lost.html", include_str!("templates/mfa_lost.html")),
    (
        "passkey_rename.html",
        include_str!("templates/passkey_rename.html"),
    ),
    (
        "security_passkeys.html",
        include_str!("templates/security_passkeys.html"),
    ),
    (
        "passkey_sign_in.html",
        include_str!("templates/passkey_sign_in.html"),
    ),
    (
        "panel_style.html",
        include_str!("templates/panel_style.html"),
    ),
];

/// The compiled templates.
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub fn new() -> Pages {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        // Escape `& < > " '` (as MarkupSafe does), not `/`: URLs such as the
        // QR code's data URI stay intact.
        env.set_formatter(|out, state, value| match value.as_str() {
            Some(s) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
                out.write_str(&crate::html::escape(s))?;
                Ok(())
            }
            _ => minijinja::escape_formatter(out, state, value),
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        let console = super::console::TEMPLATES;
        for (name, source) in TEMPLATES.iter().chain(PARTIALS).chain(console) {
            // Part of the binary; `every_page_renders` renders each.
            if let Err(e) = env.add_template(name, source) {
                panic!("portal template {name} does not parse: {e}");
            }
        }
        Pages { env }
    }

    /// Renders `name` with `ctx`; a template error becomes a plain page
    /// (logged), never a panic.
    pub fn render(&self, name: &str, ctx: Value) -> Vec<u8> {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(s) => s.into_bytes(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "page did not render");
                b"<!doctype html><title>Error</title><p>This page could not be shown.</p>".to_vec()
            }
        }
    }
}

impl Default for Pages {
    fn default() -> Self {
        Pages::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn every_page_renders_and_escapes() {
        let pages = Pages::new();
        for (name, _) in TEMPLATES {
            let html = String::from_utf8(pages.render(
                name,
                context! {
                    org => "Tailwind <Traders>",
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
        }
    }
}
