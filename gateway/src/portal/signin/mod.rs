//! The auth host: how a person signs in, one file per step.
//!
//! ```text
//! discovery ─► a method ─────────────► session ─► consent ─► hand-off
//!  "enter      password | oidc |        the user,  guests,    a one-time
//!   your        passcode                the cookie current    code back to
//!   e-mail"     (each ends in SignedIn)            terms      the app host
//! ```
//!
//! - [`discovery`]: the sign-in page; picks the way in for the address
//!   (home-realm discovery), or lets the person choose.
//! - The methods, each ending in a [`SignedIn`] handed to `complete`:
//!   [`password`] (a local IdP), [`oidc`] (the round trip to the person's
//!   IdP), [`oauth2`] (the same with GitHub, Facebook and other OAuth 2.0
//!   providers), [`saml`] (a partner's SAML 2.0 IdP) and [`passcode`] (a
//!   one-time code by e-mail).
//! - [`session`]: `complete` finds the directory user the sign-in is for and
//!   issues the auth host's session; `handoff` sends the person back to the
//!   app host that asked.
//! - [`consent`]: between the two for a guest who has not accepted the
//!   current terms.
//! - [`forms`]: what every step's form shares (the flow cookie binding a
//!   sign-in to one browser, CSRF, return URLs); [`rate_limit`]: what a
//!   client is to the rate limits and the one check a request makes
//!   (passwords, passcodes, sign-up e-mails); [`sign_out`] and
//!   [`landing`] (the signed-in person's apps) close the loop.
//!
//! Every outcome a method can have is counted in
//! `sign_ins_total{idp,result}` (`count_sign_in`).

mod consent;
mod discovery;
mod forms;
pub(super) mod landing;
mod oauth2;
mod oidc;
mod passcode;
mod passkey;
mod password;
mod rate_limit;
mod round_trip;
mod saml;
mod session;
mod sign_out;

use super::{Handler, Reply, paths};

/// The idp name recorded for e-mail passcode sign-ins.
const PASSCODE_IDP: &str = "passcode";
/// The idp name recorded for passkey sign-ins (`sign_in.passkeys.sign_in`).
pub(in crate::portal) const PASSKEY_IDP: &str = "passkey";

/// Someone the IdP (or the password, or the passcode) vouched for.
struct SignedIn {
    pub idp: String,
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
    /// The groups as the IdP asserted them (unqualified); `complete`
    /// qualifies them by the IdP's name (`crate::trust`).
    pub groups: Vec<String>,
    /// The IdP's `amr` values (for SAML: the assertion's
    /// `AuthnContextClassRef`s).
    pub amr: Vec<String>,
    /// The IdP's `acr` (for SAML: none); with `amr`, what `mfa_values` are
    /// compared with.
    pub acr: Option<String>,
    /// A second factor Portcullis itself checked. For an external IdP it
    /// is ignored: `complete` decides from `amr`/`acr` and the idp's
    /// `mfa: trusted` and `mfa_values`.
    pub mfa: bool,
    /// When the person authenticated (the IdP's `auth_time`, else now).
    pub auth_time: i64,
    /// Whether this IdP is the organisation's own for the e-mail's domain
    /// (its `domains` list it): only then may a new member be created.
    pub authoritative: bool,
}

impl Handler<'_> {
    /// Answers a request on the auth host: the step its path names.
    pub(super) async fn auth_host(&self) -> Reply {
        let post = self.req.method == "POST";
        match self.req.path {
            paths::SIGN_IN if !post => self.sign_in_page().await,
            paths::SIGN_IN => self.discover().await,
            paths::SIGN_IN_PASSWORD if post => self.password().await,
            paths::SIGN_IN_CHOOSE if post => self.choose().await,
            paths::SIGN_IN_PASSCODE if post => self.passcode().await,
            paths::SIGN_IN_PASSKEY if post => self.passkey_sign_in().await,
            paths::CALLBACK if !post => self.callback().await,
            paths::OAUTH2_CALLBACK if !post => self.oauth2_callback().await,
            p if p.starts_with(crate::saml::PREFIX) => self.saml().await,
            paths::CONSENT => self.consent().await,
            paths::MFA => self.mfa().await,
            p if p == paths::MFA_LOST || p.starts_with("/.portcullis/mfa/lost/") => {
                self.mfa_recovery().await
            }
            paths::PASSKEYS => self.passkeys_page().await,
            paths::PASSKEYS_JS if !post => self.passkeys_script(),
            paths::SIGN_OUT => self.sign_out().await,
            paths::INVITE => self.invitation().await,
            paths::SECURITY => self.security().await,
            p if p == paths::MANAGE || p.starts_with("/.portcullis/manage/") => self.manage().await,
            p if p == crate::portal::console::ADMIN || p.starts_with("/.portcullis/admin/") => {
                self.console().await
            }
            p if p == paths::SIGN_UP || p.starts_with("/.portcullis/sign-up/") => {
                self.sign_up().await
            }
            "/" | "/.portcullis" | "/.portcullis/" | paths::APPS if !post => self.landing().await,
            _ => self.message(
                404,
                &self.t("error-not-found-title"),
                &self.t("error-nothing-here"),
            ),
        }
    }

    /// Counts one sign-in outcome in `sign_ins_total{idp,result}`.
    fn count_sign_in(&self, idp: &str, result: &str) {
        // Only configured idp names (and `passcode`) become labels.
        let known = idp == PASSCODE_IDP
            || idp == PASSKEY_IDP
            || self.snapshot.config.idps.iter().any(|i| i.name == idp);
        self.gateway
            .metrics
            .sign_ins
            .with_label_values(&[if known { idp } else { "unknown" }, result])
            .inc();
    }
}
