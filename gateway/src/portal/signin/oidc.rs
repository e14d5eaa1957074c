//! The round trip to the person's IdP (`crate::oidc`: the authorization
//! code flow with PKCE). The pending sign-in waits as a single-use ticket
//! under its `state`, bound to this browser's flow cookie; the callback
//! takes it, has the answer checked and hands a [`SignedIn`] on.

use super::SignedIn;
use super::round_trip::PendingSignIn;
use crate::mail::normalise_email;
use crate::oidc::{OidcError, PendingAuth, Preset};
use crate::portal::{Handler, Reply, paths};
use openidconnect::url::Url;

/// The ticket kind of pending OIDC sign-ins.
const OIDC_KIND: &str = "oidc";

impl PendingSignIn for PendingAuth {
    fn idp_name(&self) -> &str {
        &self.idp_name
    }
    fn callback_error(error: &str) -> &'static str {
        OidcError::from_callback(error).as_str()
    }
}

impl Handler<'_> {
    /// To the IdP; `reauth` asks it for a fresh sign-in (`prompt=login`),
    /// for apps whose sign-in frequency the session no longer meets.
    pub(super) async fn start_oidc(&self, idp: &str, email: &str, rd: &str, reauth: bool) -> Reply {
        let client = match self.portal.oidc_client(idp).await {
            Ok(c) => c,
            Err(e) => {
                self.count_sign_in(idp, e.as_str());
                return self.unavailable("identity provider discovery", &e);
            }
        };
        let callback = format!("{}{}", self.auth_origin(), paths::CALLBACK);
        let Ok(redirect_uri) = Url::parse(&callback) else {
            return self.message(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-host-invalid"),
            );
        };
        if !reachable(client.metadata().authorization_endpoint().url()).await {
            self.count_sign_in(idp, "idp_unreachable");
            return self.start_again(
                503,
                &self.t("msg-idp-unavailable-title"),
                &self.t("msg-idp-unavailable"),
            );
        }
        let (url, pending) =
            client.authorize_url(&redirect_uri, None, reauth, Some(email), self.now);
        let state = pending.state.clone();
        self.to_provider(OIDC_KIND, &state, pending, rd, &url).await
    }

    pub(super) async fn callback(&self) -> Reply {
        let (ticket, state, code) = match self.back_from_provider::<PendingAuth>(OIDC_KIND).await {
            Ok(back) => back,
            Err(page) => return page,
        };
        let idp = ticket.pending.idp_name.clone();
        let client = match self.portal.oidc_client(&idp).await {
            Ok(c) => c,
            Err(e) => return self.unavailable("identity provider", &e),
        };
        let iss = self.query("iss");
        let id = match client
            .finish(&ticket.pending, &code, &state, iss.as_deref(), self.now)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                self.count_sign_in(&idp, e.as_str());
                tracing::info!(request_id = %self.req.request_id, idp = %idp, error = %e, "sign-in refused");
                if matches!(e, OidcError::IdpUnreachable(_)) {
                    return self.unavailable("identity provider", &e);
                }
                if e == OidcError::TenantNotAllowed {
                    return self.start_again(
                        403,
                        &self.t("msg-tenant-title"),
                        &self.t("msg-tenant"),
                    );
                }
                return self.start_again(
                    400,
                    &self.t("msg-sign-in-failed-title"),
                    &self.t("msg-answer-unverified"),
                );
            }
        };
        let email = match (&id.email, id.email_verified) {
            (Some(e), true) => normalise_email(e),
            _ => None,
        };
        let config = client.config();
        let Some(email) = email else {
            self.count_sign_in(&idp, "email_unverified");
            // The admin's next step, by provider (never the address itself).
            let hint = match config.preset {
                Preset::Microsoft => {
                    "turn on the optional ID token claims `email` and `xms_edov` (or `verified_primary_email`) in the app registration"
                }
                _ => "the identity provider must send `email` with `email_verified: true`",
            };
            tracing::info!(
                request_id = %self.req.request_id,
                idp = %idp,
                has_email = id.email.is_some(),
                hint,
                "sign-in refused: the identity provider did not confirm the e-mail address"
            );
            return self.start_again(
                403,
                &self.t("msg-email-unconfirmed-title"),
                &self.t("msg-email-unconfirmed"),
            );
        };
        if id.groups_overage {
            // No partial list: the token's groups are elsewhere (Entra's
            // overage claim), and the gateway does not call Graph.
            tracing::info!(
                request_id = %self.req.request_id,
                idp = %idp,
                "the identity provider sent the groups by reference (groups overage); signed in without them"
            );
        }
        // Users are keyed per IdP: Entra by tenant + object id (`sub` is
        // per app and `oid` alone repeats across tenants), multi-tenant
        // issuers by issuer + subject, others by subject.
        let subject = match (&id.tenant, &id.object_id) {
            (Some(t), Some(o)) if config.preset == Preset::Microsoft => format!("{t}|{o}"),
            _ if config.issuer_is_template() => format!("{}|{}", id.issuer, id.subject),
            _ => id.subject.clone(),
        };
        self.complete(
            SignedIn {
                idp,
                subject,
                authoritative: config.serves_email(&email),
                email,
                name: id.name,
                groups: id.groups,
                amr: id.amr,
                acr: id.acr,
                // Decided in `complete` from amr/acr and the idp's trust.
                mfa: false,
                auth_time: id.auth_time.unwrap_or(self.now).min(self.now),
            },
            &ticket.rd,
        )
        .await
    }
}

/// Whether a TCP connection to the URL's host opens within 2 s: an IdP
/// that is down is said so on our page, not as a browser error on theirs.
pub(super) async fn reachable(url: &Url) -> bool {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    matches!(
        tokio::time::timeout(
            std::time::Duration::from_secs(2),
            tokio::net::TcpStream::connect((host, port)),
        )
        .await,
        Ok(Ok(_))
    )
}
