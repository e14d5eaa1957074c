//! The round trip to an OAuth 2.0 provider without OpenID Connect
//! (`crate::oauth2`: GitHub, Facebook, generic). As for OIDC, the pending
//! sign-in waits as a single-use ticket under its `state`, bound to this
//! browser's flow cookie; the callback (its own path, so the providers'
//! registrations name it) takes it, has the answer checked and hands a
//! [`SignedIn`] on. These providers vouch for an id and a verified e-mail
//! only: no groups, no MFA.

use crate::i18n::t;
use super::SignedIn;
use super::oidc::reachable;
use super::round_trip::PendingSignIn;
use crate::mail::normalise_email;
use crate::oauth2::{Oauth2Error, PendingOauth2};
use crate::portal::{Handler, Reply, paths};
use openidconnect::url::Url;

/// The ticket kind of pending OAuth 2.0 sign-ins.
const OAUTH2_KIND: &str = "oauth2";

impl PendingSignIn for PendingOauth2 {
    fn idp_name(&self) -> &str {
        &self.idp_name
    }
    fn callback_error(error: &str) -> &'static str {
        Oauth2Error::from_callback(error).as_str()
    }
}

impl Handler<'_> {
    /// To the provider of the oauth2 idp `idp`.
    pub(super) async fn start_oauth2(&self, idp: &str, rd: &str) -> Reply {
        let Some(client) = self.portal.oauth2.get(idp).cloned() else {
            return self.start_again(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-method-not-offered"),
            );
        };
        let callback = format!("{}{}", self.auth_origin(), paths::OAUTH2_CALLBACK);
        let Ok(redirect_uri) = Url::parse(&callback) else {
            return self.message(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-host-invalid"),
            );
        };
        let (url, pending) = match client.authorize_url(&redirect_uri, self.now) {
            Ok(v) => v,
            Err(e) => {
                self.count_sign_in(idp, e.as_str());
                return self.unavailable("identity provider", &e);
            }
        };
        if !reachable(&url).await {
            self.count_sign_in(idp, "idp_unreachable");
            return self.start_again(
                503,
                &self.t("msg-idp-unavailable-title"),
                &t!(
                    self.lang,
                    "msg-brand-unavailable",
                    brand = client.config().brand()
                ),
            );
        }
        let state = pending.state.clone();
        self.to_provider(OAUTH2_KIND, &state, pending, rd, &url)
            .await
    }

    /// The provider sent the browser back: the ticket its `state` names
    /// (taken, so it is used once), the same browser, then the code.
    pub(super) async fn oauth2_callback(&self) -> Reply {
        let (ticket, state, code) =
            match self.back_from_provider::<PendingOauth2>(OAUTH2_KIND).await {
                Ok(back) => back,
                Err(page) => return page,
            };
        let idp = ticket.pending.idp_name.clone();
        let Some(client) = self.portal.oauth2.get(&idp).cloned() else {
            // The idp left the config since the sign-in started.
            return self.start_again(
                400,
                &self.t("msg-sign-in-failed-title"),
                &self.t("msg-method-gone"),
            );
        };
        let id = match client
            .finish(&ticket.pending, &code, &state, self.now)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                self.count_sign_in(&idp, e.as_str());
                tracing::info!(request_id = %self.req.request_id, idp = %idp, error = %e, "sign-in refused");
                if matches!(e, Oauth2Error::IdpUnreachable(_)) {
                    return self.unavailable("identity provider", &e);
                }
                return self.start_again(
                    400,
                    &self.t("msg-sign-in-failed-title"),
                    &self.t("msg-answer-unverified"),
                );
            }
        };
        let brand = client.config().brand();
        let Some(email) = id.email.as_deref().and_then(normalise_email) else {
            self.count_sign_in(&idp, "email_unverified");
            tracing::info!(request_id = %self.req.request_id, idp = %idp, "sign-in refused: the provider gave no verified e-mail");
            return self.start_again(
                403,
                &self.t("msg-email-unconfirmed-title"),
                &t!(self.lang, "msg-brand-email-unconfirmed", brand = brand),
            );
        };
        self.complete(
            SignedIn {
                idp,
                subject: id.subject,
                authoritative: client.config().serves_email(&email),
                email,
                name: id.name,
                // Not a claim these providers make; trust stays with the
                // directory and Portcullis's own MFA.
                groups: Vec::new(),
                amr: Vec::new(),
                acr: None,
                mfa: false,
                auth_time: self.now,
            },
            &ticket.rd,
        )
        .await
    }
}
