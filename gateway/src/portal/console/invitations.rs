//! The console's invitations: every invitation with its state (pending,
//! redeemed, withdrawn, expired), filtered by state and address, with
//! resend (admins and the help desk) and withdraw (admins, after a
//! confirmation) — `crate::invitations::resend` and `revoke`, as the
//! admin API (`POST /api/v1/invitations/{id}/resend`,
//! `DELETE /api/v1/invitations/{id}`) and a guest's page call them.

use super::guests::{Refused, done_text};
use super::{GUESTS, INVITATIONS, Role, Staff, when};
use crate::html::encode_component;
use crate::portal::{Handler, Reply};
use minijinja::context;
use std::collections::HashMap;

/// The states a filter may ask for (`Invitation::status`).
const STATES: [&str; 4] = ["pending", "redeemed", "revoked", "expired"];

impl Handler<'_> {
    /// `GET /.portcullis/admin/invitations?state=&q=`.
    pub(super) async fn invitations_page(&self, staff: &Staff) -> Reply {
        let get = |n: &str| {
            self.query(n)
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let (state, q) = (get("state"), get("q"));
        if !state.is_empty() && !STATES.contains(&state.as_str()) {
            return self.console_message(
                staff,
                400,
                &self.t("console-bad-filter"),
                &self.t("console-bad-invitation-state"),
            );
        }
        let now = self.time();
        let all = match self.gateway.store.list_invitations().await {
            Ok(list) => list,
            Err(e) => return self.unavailable("invitations", &e),
        };
        let needle = q.to_lowercase();
        let rows: Vec<minijinja::Value> = all
            .iter()
            .filter(|i| state.is_empty() || i.status(now) == state)
            .filter(|i| needle.is_empty() || i.email.to_lowercase().contains(&needle))
            .map(|i| {
                let status = i.status(now);
                context! {
                    id => i.id,
                    email => i.email,
                    guest_url => format!("{GUESTS}/{}", encode_component(&i.user_id)),
                    apps => i.apps.join(", "),
                    status,
                    // The word a person reads; `revoked` is the stored name.
                    label => if status == "revoked" { self.t("console-withdrawn") } else { status.to_string() },
                    pending => status == "pending",
                    inviter => i.inviter,
                    sent => when(i.created_at),
                    expires => when(i.expires_at),
                    message => i.message.is_some(),
                }
            })
            .collect();
        let notice = self
            .query("done")
            .as_deref()
            .and_then(|d| done_text(self.lang, d));
        self.console_page(
            staff,
            200,
            "console/invitations.html",
            "invitations",
            context! {
                rows, notice, total => all.len(), states => STATES,
                f => context! { state, q },
            },
        )
    }

    /// `POST /.portcullis/admin/invitations`: `resend` or `revoke` (after
    /// its confirmation) the form's `invitation`; back to the list.
    pub(super) async fn invitation_action(
        &self,
        staff: &Staff,
        form: &HashMap<String, String>,
    ) -> Reply {
        let action = form.get("action").map(String::as_str).unwrap_or_default();
        if !matches!(action, "resend" | "revoke") {
            return self.console_message(
                staff,
                400,
                &self.t("console-not-done"),
                &self.t("console-choose-resend-or-withdraw"),
            );
        }
        if action == "revoke" && staff.role != Role::Admin {
            return self.role_refused(staff);
        }
        if action == "revoke" && form.get("confirm").map(String::as_str) != Some("yes") {
            return self.withdraw_confirm(staff, INVITATIONS, form).await;
        }
        match self.console_invitation(staff, action, form).await {
            Ok((done, _)) => Reply::redirect(format!("{INVITATIONS}?done={done}")),
            Err(Refused::Role) => self.role_refused(staff),
            Err(Refused::Missing) => self.console_message(
                staff,
                404,
                &self.t("console-not-found"),
                &self.t("console-invitation-gone"),
            ),
            Err(Refused::Bad(text)) => self.console_page(
                staff,
                400,
                "console/message.html",
                "invitations",
                context! { title => self.t("console-not-done"), text, link => INVITATIONS, link_text => self.t("console-back-to-invitations") },
            ),
            Err(Refused::Failed(what, e)) => self.unavailable(what, &e),
        }
    }

    /// The confirmation of withdrawing the form's `invitation`, posting
    /// back to `post_to` (this list, or the guests' form).
    pub(super) async fn withdraw_confirm(
        &self,
        staff: &Staff,
        post_to: &str,
        form: &HashMap<String, String>,
    ) -> Reply {
        let id = form
            .get("invitation")
            .map(String::as_str)
            .unwrap_or_default();
        let inv = match self.gateway.store.get_invitation(id).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                return self.console_message(
                    staff,
                    404,
                    &self.t("console-not-found"),
                    &self.t("console-invitation-gone"),
                );
            }
            Err(e) => return self.unavailable("invitation", &e),
        };
        let text = crate::i18n::t!(
            self.lang,
            "console-confirm-withdraw-text",
            email = inv.email.as_str()
        );
        let back = if post_to == GUESTS {
            format!("{GUESTS}/{}", encode_component(&inv.user_id))
        } else {
            INVITATIONS.to_string()
        };
        self.console_confirm(
            staff,
            if post_to == GUESTS {
                "guests"
            } else {
                "invitations"
            },
            post_to,
            (
                &self.t("console-confirm-withdraw"),
                &text,
                &self.t("console-confirm-withdraw-button"),
            ),
            &[
                ("action", "revoke"),
                ("invitation", &inv.id),
                ("user", &inv.user_id),
            ],
            &back,
        )
    }
}
