//! "Enter your e-mail": the sign-in page and home-realm discovery. A local
//! account listed by address comes first, then the IdP whose `domains`
//! claim the address; anyone else gets the ways in for everyone
//! (`sign_in.idp_order`, then the e-mailed passcode when it is the
//! fallback), and chooses when there is more than one.

use crate::i18n::t;
use super::PASSCODE_IDP;
use crate::config::{Fallback, IdpKind};
use crate::mail::normalise_email;
use crate::oidc::Preset;
use crate::portal::{Handler, Reply};
use minijinja::context;

impl Handler<'_> {
    pub(super) async fn sign_in_page(&self) -> Reply {
        let rd = self.rd(None);
        let reauth = self.query("reauth").as_deref() == Some("1");
        if !reauth && let Some((claims, user)) = self.auth_session().await {
            return self.after_sign_in(&claims, &user, &rd).await;
        }
        // An invitation (or an app) that knows the address pre-fills it.
        let email = self
            .query("login_hint")
            .and_then(|e| normalise_email(&e))
            .unwrap_or_default();
        self.form_page(200, "sign_in.html", context! { rd, reauth, email })
    }

    /// "Enter your e-mail" posted: pick the way in (home-realm discovery).
    pub(super) async fn discover(&self) -> Reply {
        let form = match self.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let rd = self.rd(Some(&form));
        let Some(email) = form.get("email").and_then(|e| normalise_email(e)) else {
            return self.form_page(
                400,
                "sign_in.html",
                context! { rd, email => form.get("email"), error => self.t("msg-email-invalid") },
            );
        };
        let reauth = form.get("reauth").is_some_and(|v| v == "1");
        self.discover_email(&email, &rd, reauth).await
    }

    /// Home-realm discovery for a known address (typed, or the invited
    /// one an accepted invitation carries), then on to that way in.
    pub(in crate::portal) async fn discover_email(
        &self,
        email: &str,
        rd: &str,
        reauth: bool,
    ) -> Reply {
        let (email, rd) = (email.to_string(), rd.to_string());
        let idps = &self.snapshot.config.idps;
        // A listed local account first, then the IdP that claims the domain.
        for idp in idps {
            if let IdpKind::Local(l) = &idp.kind
                && l.knows(&email)
            {
                return self.password_page(200, &idp.name, &email, &rd, None);
            }
        }
        for idp in idps {
            match &idp.kind {
                IdpKind::Oidc(c) if c.serves_email(&email) => {
                    return self.start_oidc(&idp.name, &email, &rd, reauth).await;
                }
                IdpKind::Local(l) if l.serves(&email) => {
                    return self.password_page(200, &idp.name, &email, &rd, None);
                }
                IdpKind::Oauth2(c) if c.serves_email(&email) => {
                    return self.start_oauth2(&idp.name, &rd).await;
                }
                IdpKind::Saml(s) if s.serves_email(&email) => {
                    return self.start_saml(&idp.name, &rd, reauth).await;
                }
                _ => {}
            }
        }
        let options = self.options();
        match options.as_slice() {
            [] => self.start_again(
                403,
                &self.t("msg-no-way-title"),
                &self.t("msg-no-way"),
            ),
            [(name, _)] => self.go(name, &email, &rd).await,
            _ => self.form_page(
                200,
                "choose.html",
                context! {
                    rd, email,
                    options => options.iter().map(|(name, label)| {
                        let (icon, letter) = self.icon(name);
                        context! { name, label, icon, letter }
                    }).collect::<Vec<_>>(),
                },
            ),
        }
    }

    /// The ways in for e-mails no IdP claims: `sign_in.idp_order`, then the
    /// passcode when it is the fallback.
    fn options(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .sign_in
            .idp_order
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    t!(self.lang, "msg-sign-in-with", idp = self.idp_title(n)),
                )
            })
            .collect();
        if self.sign_in.fallback == Fallback::Passcode {
            out.push((
                PASSCODE_IDP.to_string(),
                self.t("msg-email-me-code"),
            ));
        }
        out
    }

    pub(super) async fn choose(&self) -> Reply {
        let form = match self.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let rd = self.rd(Some(&form));
        let (Some(email), Some(method)) = (
            form.get("email").and_then(|e| normalise_email(e)),
            form.get("method"),
        ) else {
            return self.start_again(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-form-incomplete"),
            );
        };
        if !self.options().iter().any(|(n, _)| n == method) {
            return self.start_again(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-method-not-offered"),
            );
        }
        self.go(method, &email, &rd).await
    }

    /// Continues with the IdP (or passcode) `name`.
    pub(in crate::portal) async fn go(&self, name: &str, email: &str, rd: &str) -> Reply {
        if name == PASSCODE_IDP {
            return self.send_passcode(email, rd).await;
        }
        match self
            .snapshot
            .config
            .idps
            .iter()
            .find(|i| i.name == name)
            .map(|i| &i.kind)
        {
            Some(IdpKind::Oidc(_)) => self.start_oidc(name, email, rd, false).await,
            Some(IdpKind::Local(_)) => self.password_page(200, name, email, rd, None),
            Some(IdpKind::Saml(_)) => self.start_saml(name, rd, false).await,
            Some(IdpKind::Oauth2(_)) => self.start_oauth2(name, rd).await,
            _ => self.start_again(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-method-not-offered"),
            ),
        }
    }
}

impl Handler<'_> {
    /// What the choice names an IdP by: an oauth2 provider's own name
    /// (GitHub, Facebook), else the configured name.
    pub(in crate::portal) fn idp_title(&self, name: &str) -> String {
        match self.idp_kind(name) {
            Some(IdpKind::Oauth2(c)) => c.brand(),
            Some(IdpKind::Oidc(c)) => match c.preset {
                Preset::Microsoft => "Microsoft".to_string(),
                Preset::Google => "Google".to_string(),
                Preset::Generic => name.to_string(),
            },
            _ => name.to_string(),
        }
    }

    /// The icon beside an option (`idp_icon.html` draws it; nothing is
    /// fetched): `github`, `facebook`, `microsoft`, `google`, else `letter`
    /// with the letter.
    pub(in crate::portal) fn icon(&self, name: &str) -> (&'static str, String) {
        let icon = match self.idp_kind(name) {
            Some(IdpKind::Oauth2(c)) => c.icon(),
            Some(IdpKind::Oidc(c)) => match c.preset {
                Preset::Microsoft => "microsoft",
                Preset::Google => "google",
                Preset::Generic => "letter",
            },
            _ => "letter",
        };
        let letter = if name == PASSCODE_IDP {
            "@".to_string()
        } else {
            self.idp_title(name)
                .chars()
                .find(|c| c.is_alphanumeric())
                .map(|c| c.to_uppercase().to_string())
                .unwrap_or_else(|| "?".into())
        };
        (icon, letter)
    }

    fn idp_kind(&self, name: &str) -> Option<&IdpKind> {
        self.snapshot
            .config
            .idps
            .iter()
            .find(|i| i.name == name)
            .map(|i| &i.kind)
    }
}
