//! Sign-out: a POST (a cross-site link must not sign anyone out) revokes
//! the session on every replica and offers the IdP's own sign-out (OIDC's
//! end-session endpoint, a SAML IdP's SingleLogoutService). The signed-out
//! page says so plainly and offers to sign in again: to the app the person
//! was on when it is known (`?app=`, from an app host's sign-out), else to
//! the access panel.

use crate::config::App;
use crate::portal::{Handler, Reply};
use crate::session::cookie;
use minijinja::context;

impl Handler<'_> {
    pub(super) async fn sign_out(&self) -> Reply {
        if self.req.method != "POST" {
            let app = self.signed_out_app(self.query("app"));
            // Signed in: confirm with a POST (no sign-out by a cross-site
            // link). Already revoked (an app host's sign-out): clear.
            if self.auth_session().await.is_some() {
                return self.form_page(200, "sign_out.html", context! { signed_in => true, ..app });
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
                    context! { signed_in => false, idp_sign_out, ..app },
                )
                .with_cookie(cookie::clear_cookie(self.req.https));
        }
        let form = match self.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let app = self.signed_out_app(form.get("app").cloned());
        let mut idp_sign_out = None;
        if let Some(claims) = self.session() {
            if let Err(e) = self.revoke(&claims).await {
                return self.unavailable("revoke session", &e);
            }
            // RP-initiated logout at the IdP, when it offers one: a link,
            // so leaving the partner's own session is the person's choice.
            if self.portal.oidc_configs.contains_key(&*claims.idp)
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
            context! { signed_in => false, idp_sign_out, ..app },
        )
        .with_cookie(cookie::clear_cookie(self.req.https))
    }

    /// The app named `name` (a configured one only), for the page: its
    /// name, title and start URL.
    fn signed_out_app(&self, name: Option<String>) -> minijinja::Value {
        let app: Option<&App> =
            name.and_then(|n| self.snapshot.config.apps.iter().find(|a| a.name == n));
        match app.and_then(|a| Some((a, self.app_url(a)?))) {
            Some((a, url)) => context! { app => a.name, app_title => a.title, app_url => url },
            None => context! {},
        }
    }
}
