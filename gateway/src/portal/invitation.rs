//! `/.portcullis/invite` on the auth host: the invitation link's page.
//! Opening it never uses it (mail scanners open links); accepting needs a
//! signed-in person whose e-mail is the invited one, then access starts and
//! the person lands on the (first) app of the invitation.

use super::{Handler, Reply, paths};
use crate::html::encode_component;
use crate::invitations::{self, Refusal};
use crate::i18n::t;
use crate::refusal::{Facts, Reason};
use minijinja::context;

impl Handler<'_> {
    pub(super) async fn invitation(&self) -> Reply {
        let (token, accept) = if self.req.method == "POST" {
            match self.form() {
                Ok(f) => (f.get("token").cloned(), true),
                Err(r) => return r,
            }
        } else {
            (
                self.query("token"),
                self.query("accept").as_deref() == Some("1"),
            )
        };
        let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= 128) else {
            return self.refused(Refusal::NotFound, None);
        };
        let store = &self.gateway.store;
        let inv = match store.invitation_by_token(&token).await {
            Ok(Some(i)) => i,
            Ok(None) => return self.refused(Refusal::NotFound, None),
            Err(e) => return self.unavailable("invitation", &e),
        };
        match inv.status(self.time()) {
            "redeemed" => return self.refused(Refusal::AlreadyUsed, Some(&inv.inviter)),
            "revoked" => return self.refused(Refusal::Revoked, Some(&inv.inviter)),
            "expired" => return self.refused(Refusal::Expired, Some(&inv.inviter)),
            _ => {}
        }
        let session = self.auth_session().await;
        if accept {
            let Some((claims, user)) = session else {
                // Sign in first, then come back here to finish. The invited
                // address goes with it: nobody retypes it.
                let back = format!("/.portcullis/invite?token={token}&accept=1");
                if self.req.method == "POST" {
                    // "Accept and sign in" (a form with CSRF): discovery
                    // with the invited address, straight to its way in.
                    return self.discover_email(&inv.email, &back, false).await;
                }
                return Reply::redirect(format!(
                    "{}?rd={}&login_hint={}",
                    paths::SIGN_IN,
                    encode_component(&back),
                    encode_component(&inv.email)
                ));
            };
            return match invitations::redeem(store, &token, &user, self.time()).await {
                Ok(Ok(_)) => {
                    self.gateway.directory.invalidate_user(&user.id);
                    self.gateway
                        .metrics
                        .invitations
                        .with_label_values(&["redeemed"])
                        .inc();
                    // Straight to the (first) app of the invitation.
                    let first = inv
                        .apps
                        .iter()
                        .find_map(|name| self.snapshot.config.apps.iter().find(|a| &a.name == name))
                        .and_then(|app| self.app_url(app))
                        .unwrap_or_default();
                    self.after_sign_in(&claims, &user, &first).await
                }
                Ok(Err(refusal)) => self.refused(refusal, Some(&inv.inviter)),
                Err(e) => self.unavailable("redeem invitation", &e),
            };
        }
        let apps: Vec<String> = inv
            .apps
            .iter()
            .map(|a| {
                self.snapshot
                    .config
                    .apps
                    .iter()
                    .find(|c| &c.name == a)
                    .map_or_else(|| a.clone(), |c| c.title.clone())
            })
            .collect();
        let access = match (inv.access_until, inv.access_days) {
            (Some(t), _) => t!(
                self.lang,
                "invitation-access-until",
                date = crate::i18n::date(self.lang, t)
            ),
            (None, Some(d)) => t!(self.lang, "invitation-access-days", days = d),
            _ => String::new(),
        };
        let other = session
            .map(|(_, u)| u.email)
            .filter(|e| !e.eq_ignore_ascii_case(&inv.email));
        self.form_page(
            200,
            "invitation.html",
            context! {
                token, apps, access, other,
                inviter => inv.inviter,
                message => inv.message,
                email => inv.email,
            },
        )
    }

    /// A link that cannot be used, with its reason (DESIGN.md): what
    /// happened, what next, and whom to ask (the inviter, when known).
    fn refused(&self, refusal: Refusal, inviter: Option<&str>) -> Reply {
        let facts = Facts {
            inviter,
            ..self.facts()
        };
        let (status, reason) = match refusal {
            Refusal::NotFound => {
                return self.refusal(
                    404,
                    &self.t("invitation-not-found-title"),
                    &self.t("invitation-not-found-text"),
                    None,
                    Some((Reason::NotInvited, Reason::NotInvited.what_next(&facts))),
                );
            }
            Refusal::Expired => (410, Reason::InvitationExpired),
            Refusal::Revoked => (410, Reason::InvitationWithdrawn),
            Refusal::AlreadyUsed => (410, Reason::InvitationUsed),
            Refusal::OtherPerson => {
                let who = facts.whom_to_ask();
                return self.refusal(
                    403,
                    &self.t("invitation-other-person-title"),
                    &t!(self.lang, "invitation-other-person-text", who = who),
                    None,
                    Some((
                        Reason::NotInvited,
                        self.t("invitation-other-person-next"),
                    )),
                );
            }
        };
        let sign_in = self.t("invitation-sign-in-to-apps");
        let link = (refusal == Refusal::AlreadyUsed).then_some((paths::APPS, sign_in.as_str()));
        self.refusal_for(status, reason, &facts, link)
    }
}
