//! Sign-out: a POST (a cross-site link must not sign anyone out) revokes
//! the session on every replica and offers the IdP's own sign-out (OIDC's
//! end-session endpoint, a SAML IdP's SingleLogoutService).

use crate::portal::{Handler, Reply};
use crate::session::cookie;
use minijinja::context;

impl Handler<'_> {
    pub(super) async fn sign_out(&self) -> Reply {
        if self.req.method != "POST" {
            // Signed in: confirm with a POST (no sign-out by a cross-site
            // link). Already revoked (an app host's sign-out): clear.
            if self.auth_session().await.is_some() {
                return self.form_page(200, "sign_out.html", context! { signed_in => true });
            }
            // Signed out on an app host first: the (revoked) cookie still
            // names the SAML idp whose logout we offer.
            let idp_sign_out = match self.session() {
                Some(claims) => self.saml_sign_out_url(&claims).await,
                None => None,
            };
            return self
                .page(
                    200,
                    "sign_out.html",
                    context! { signed_in => false, idp_sign_out },
                )
                .with_cookie(cookie::clear_cookie(self.req.https));
        }
        if let Err(r) = self.form() {
            return r;
        }
        let mut idp_sign_out = None;
        if let Some(claims) = self.session() {
            if let Err(e) = self.revoke(&claims).await {
                return self.unavailable("revoke session", &e);
            }
            // RP-initiated logout at the IdP, when it offers one: a link,
            // so leaving the partner's own session is the person's choice.
            if self.portal.oidc_configs.contains_key(&claims.idp)
                && let Ok(client) = self.portal.oidc_client(&claims.idp).await
            {
                idp_sign_out = client.end_session_url(None, None).map(|u| u.to_string());
            } else {
                idp_sign_out = self.saml_sign_out_url(&claims).await;
            }
        }
        self.page(
            200,
            "sign_out.html",
            context! { signed_in => false, idp_sign_out },
        )
        .with_cookie(cookie::clear_cookie(self.req.https))
    }
}
