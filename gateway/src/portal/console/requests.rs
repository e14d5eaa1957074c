//! The console's sign-up requests: partners asking for an app
//! (`apps[].sign_up`), with their answers and state, filtered by state and
//! app; admins approve or deny (after a confirmation) a pending one with
//! `crate::access_requests::decide_request`, the operation an app owner's
//! review page runs — the first decision wins, the partner is told by
//! e-mail, and it is audited with the admin as actor.

use super::guests::done_text;
use super::{GUESTS, REQUESTS, Role, Staff, when};
use crate::access_requests::{self, SignUpError};
use crate::html::encode_component;
use crate::portal::{Handler, Reply};
use crate::store::AccessRequest;
use minijinja::context;
use std::collections::HashMap;

const STATES: [&str; 3] = ["pending", "approved", "denied"];

impl Handler<'_> {
    /// `GET /.portcullis/admin/sign-up-requests?state=&app=`.
    pub(super) async fn requests_page(&self, staff: &Staff) -> Reply {
        let get = |n: &str| {
            self.query(n)
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let (state, app) = (get("state"), get("app"));
        if !state.is_empty() && !STATES.contains(&state.as_str()) {
            return self.console_message(
                staff,
                400,
                &self.t("console-bad-filter"),
                &self.t("console-bad-request-state"),
            );
        }
        let store = &self.gateway.store;
        let all = match store
            .list_access_requests((!app.is_empty()).then_some(app.as_str()))
            .await
        {
            Ok(list) => list,
            Err(e) => return self.unavailable("sign-up requests", &e),
        };
        // The requesters' addresses: one read of the guests, not one per row.
        let emails: HashMap<String, String> =
            match store.list_users(Some(crate::store::UserType::Guest)).await {
                Ok(users) => users.into_iter().map(|u| (u.id, u.email)).collect(),
                Err(e) => return self.unavailable("guests", &e),
            };
        let config = &self.snapshot.config;
        let rows: Vec<minijinja::Value> = all
            .iter()
            .filter(|r| state.is_empty() || r.status.as_str() == state)
            .map(|r| {
                let labels = config
                    .apps
                    .iter()
                    .find(|a| a.name == r.app)
                    .and_then(|a| a.sign_up.as_ref());
                let answers: Vec<minijinja::Value> = r
                    .attributes
                    .iter()
                    .map(|(name, value)| {
                        let label = labels
                            .and_then(|s| s.attributes.iter().find(|a| &a.name == name))
                            .map_or(name.as_str(), |a| a.label.as_str());
                        context! { label, value }
                    })
                    .collect();
                context! {
                    id => r.id,
                    app => r.app,
                    email => emails.get(&r.user_id).cloned().unwrap_or_else(|| r.user_id.clone()),
                    guest_url => format!("{GUESTS}/{}", encode_component(&r.user_id)),
                    answers,
                    status => r.status.as_str(),
                    pending => r.status.as_str() == "pending",
                    asked => when(r.created_at),
                    decided => r.decided_at.map(when),
                    decided_by => r.decided_by,
                }
            })
            .collect();
        let apps: Vec<&str> = config
            .apps
            .iter()
            .filter(|a| a.sign_up.is_some())
            .map(|a| a.name.as_str())
            .collect();
        let notice = self
            .query("done")
            .as_deref()
            .and_then(|d| done_text(self.lang, d));
        self.console_page(
            staff,
            200,
            "console/requests.html",
            "requests",
            context! {
                rows, apps, notice, total => all.len(), states => STATES,
                f => context! { state, app },
            },
        )
    }

    /// `POST /.portcullis/admin/sign-up-requests`: `approve` or `deny`
    /// (after its confirmation) the form's `request`. Admins only.
    pub(super) async fn request_action(
        &self,
        staff: &Staff,
        form: &HashMap<String, String>,
    ) -> Reply {
        if staff.role != Role::Admin {
            return self.role_refused(staff);
        }
        let approve = match form.get("action").map(String::as_str) {
            Some("approve") => true,
            Some("deny") => false,
            _ => {
                return self.console_message(
                    staff,
                    400,
                    &self.t("console-not-done"),
                    &self.t("console-choose-approve-or-deny"),
                );
            }
        };
        let id = form.get("request").map(String::as_str).unwrap_or_default();
        let store = &self.gateway.store;
        let req = match store.get_access_request(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return self.request_missing(staff),
            Err(e) => return self.unavailable("sign-up request", &e),
        };
        if !approve && form.get("confirm").map(String::as_str) != Some("yes") {
            return self.deny_confirm(staff, &req).await;
        }
        let decided = access_requests::decide_request(
            &self.snapshot.config,
            store,
            self.portal.mailer(),
            &self.sign_up_base(),
            &req.id,
            approve,
            &staff.user.email,
            self.time(),
        )
        .await;
        match decided {
            Ok(r) => {
                // An approval granted access: the next request reads it.
                self.gateway.directory.invalidate_user(&r.user_id);
                let done = if approve { "approved" } else { "denied" };
                Reply::redirect(format!("{REQUESTS}?done={done}"))
            }
            Err(SignUpError::AlreadyDecided(r)) => self.console_page(
                staff,
                409,
                "console/message.html",
                "requests",
                context! {
                    title => self.t("console-already-decided"),
                    text => match r.decided_by {
                        Some(who) => crate::i18n::t!(
                            self.lang,
                            "console-already-decided-by-text",
                            status = r.status.as_str(),
                            who = who.as_str()
                        ),
                        None => crate::i18n::t!(
                            self.lang,
                            "console-already-decided-text",
                            status = r.status.as_str()
                        ),
                    },
                    link => REQUESTS, link_text => self.t("console-back-to-requests"),
                },
            ),
            Err(SignUpError::NotFound(_)) => self.request_missing(staff),
            Err(e) => self.unavailable("sign-up decision", &e),
        }
    }

    fn request_missing(&self, staff: &Staff) -> Reply {
        self.console_message(
            staff,
            404,
            &self.t("console-not-found"),
            &self.t("console-no-such-request"),
        )
    }

    async fn deny_confirm(&self, staff: &Staff, req: &AccessRequest) -> Reply {
        let email = match self.gateway.store.get_user(&req.user_id).await {
            Ok(u) => u.map_or_else(|| req.user_id.clone(), |u| u.email),
            Err(e) => return self.unavailable("sign-up request", &e),
        };
        let text = crate::i18n::t!(
            self.lang,
            "console-confirm-deny-text",
            email = email.as_str(),
            app = req.app.as_str()
        );
        self.console_confirm(
            staff,
            "requests",
            REQUESTS,
            (
                &self.t("console-confirm-deny"),
                &text,
                &self.t("console-confirm-deny-button"),
            ),
            &[("action", "deny"), ("request", &req.id)],
            REQUESTS,
        )
    }
}
