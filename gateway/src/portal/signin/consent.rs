//! Consent: a guest accepts the current terms (`sign_in.terms`) once per
//! version before the first app; declining signs them out again.

use crate::html::encode_component;
use crate::portal::{Handler, Reply, paths};
use crate::session::{SessionClaims, cookie};
use crate::store::{NewAuditEntry, User, UserType};
use minijinja::context;

/// Terms version recorded when the config names no terms.
const DEFAULT_TERMS_VERSION: &str = "1";

impl Handler<'_> {
    /// A guest who has not accepted the current terms goes to consent;
    /// everyone else back to the app.
    pub(in crate::portal) async fn after_sign_in(
        &self,
        claims: &SessionClaims,
        user: &User,
        rd: &str,
    ) -> Reply {
        if user.user_type == UserType::Guest {
            match self.gateway.store.consent_of(&user.id).await {
                Ok(Some(c)) if c.terms_version == self.terms_version() => {}
                Ok(_) => {
                    return Reply::redirect(format!(
                        "{}?rd={}",
                        paths::CONSENT,
                        encode_component(rd)
                    ));
                }
                Err(e) => return self.unavailable("consent", &e),
            }
        }
        self.handoff(claims, rd).await
    }

    pub(super) fn terms_version(&self) -> &str {
        self.sign_in
            .terms
            .as_ref()
            .map_or(DEFAULT_TERMS_VERSION, |t| t.version.as_str())
    }

    pub(super) async fn consent(&self) -> Reply {
        let form = match self.posted_form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let rd = self.rd(form.as_ref());
        let Some((claims, user)) = self.auth_session().await else {
            return Reply::redirect(format!("{}?rd={}", paths::SIGN_IN, encode_component(&rd)));
        };
        let Some(form) = form else {
            let terms = self.sign_in.terms.as_ref();
            return self.form_page(
                200,
                "consent.html",
                context! {
                    rd,
                    email => user.email,
                    name => user.display_name,
                    terms_url => terms.map(|t| t.url.clone()),
                    terms_version => self.terms_version(),
                },
            );
        };
        if form.get("answer").map(String::as_str) != Some("accept") {
            if let Err(e) = self.revoke(&claims).await {
                return self.unavailable("revoke session", &e);
            }
            return self
                .start_again(
                    200,
                    &self.t("msg-not-signed-in-title"),
                    &self.t("msg-consent-declined"),
                )
                .with_cookie(cookie::clear_cookie(self.req.https));
        }
        let version = self.terms_version().to_string();
        if let Err(e) = self
            .gateway
            .store
            .record_consent(&user.id, &version, self.time())
            .await
        {
            return self.unavailable("consent", &e);
        }
        let _ = self
            .gateway
            .store
            .append_audit(&NewAuditEntry {
                at: self.time(),
                actor: user.id.clone(),
                action: "consent_given".into(),
                subject: Some(user.id.clone()),
                app: None,
                detail: serde_json::json!({ "terms_version": version }),
            })
            .await;
        self.handoff(&claims, &rd).await
    }
}
