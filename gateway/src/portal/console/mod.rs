//! `/.portcullis/admin/…` on the auth host: the admin console in the
//! browser, for the people the config names (`console.admins`,
//! `console.helpdesk`).
//!
//! - Who: a member signed in through the portal whose e-mail or directory
//!   group is in a role. Everyone else (guests, app owners, members without
//!   a role) gets a 403 page; signed out, a GET goes to sign-in first.
//! - MFA, always: a session without it is sent through the portal's MFA
//!   step (`/.portcullis/mfa?rd=…`), which comes back here.
//! - Forms: every POST carries the CSRF token and an `Origin` of the auth
//!   host (required here, not only checked when present); a refused form
//!   answers 403 itself. Ending access and removing a guest ask for a
//!   confirmation first.
//! - Every action is the operation the admin API and the CLI use
//!   (`crate::guests`, `crate::invitations`), with the signed-in person's
//!   e-mail as the audit entry's actor (as an invitation's `inviter`).
//!
//! Pages: `guests.rs` (guests and their actions: block, sessions…),
//! `invitations.rs` (every invitation), `requests.rs` (sign-up requests),
//! `decisions.rs` (the decision log, its chart (`chart.rs`) and one
//! decision's trace), `policies.rs` (the rules in force, their counts,
//! what-if and lint), `audit.rs` (the audit log and its CSV export).

mod audit;
mod chart;
mod decisions;
mod guests;
mod invitations;
mod policies;
mod requests;

use super::{Handler, Reply, paths};
use crate::config::Owner;
use crate::html::encode_component;
use crate::session::SessionClaims;
use crate::store::{StoreError, User, UserType};
use minijinja::context;
use std::collections::HashMap;

/// The console's root.
pub const ADMIN: &str = "/.portcullis/admin";
const GUESTS: &str = "/.portcullis/admin/guests";
const DECISIONS: &str = "/.portcullis/admin/decisions";
const AUDIT: &str = "/.portcullis/admin/audit";
const INVITATIONS: &str = "/.portcullis/admin/invitations";
const REQUESTS: &str = "/.portcullis/admin/sign-up-requests";
const POLICIES: &str = "/.portcullis/admin/policies";

/// A console role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Everything.
    Admin,
    /// Read everything; resend invitations and reset MFA only.
    Helpdesk,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Helpdesk => "helpdesk",
        }
    }
}

/// The signed-in person of one console request, with their role.
struct Staff {
    user: User,
    role: Role,
}

/// The role of a member with this e-mail and these groups, the higher one
/// when both match; `None` for anyone else. Only members hold a role: a
/// guest's account is vouched for by a partner.
fn role_of(console: &crate::config::Console, user: &User, groups: &[String]) -> Option<Role> {
    if user.user_type != UserType::Member {
        return None;
    }
    let holds = |list: &[Owner]| list.iter().any(|o| o.matches(&user.email, groups));
    if holds(&console.admins) {
        Some(Role::Admin)
    } else if holds(&console.helpdesk) {
        Some(Role::Helpdesk)
    } else {
        None
    }
}

/// A request id as `X-Request-Id` and the 403 page show it: 32 hex digits
/// (lower-cased); `None` for anything else.
fn request_id(s: &str) -> Option<String> {
    let id = s.trim().to_ascii_lowercase();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// `2026-12-07 11:58 UTC`.
fn when(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

impl Handler<'_> {
    /// Everything under [`ADMIN`].
    pub(super) async fn console(&self) -> Reply {
        let post = self.req.method == "POST";
        let Some((claims, user)) = self.auth_session().await else {
            if post {
                return self.console_refused(&self.t("console-sign-in-first"));
            }
            return Reply::redirect(format!(
                "{}?rd={}",
                paths::SIGN_IN,
                encode_component(&self.console_back())
            ));
        };
        let role = match self.console_role(&claims, &user).await {
            Ok(r) => r,
            Err(e) => return self.unavailable("groups", &e),
        };
        let Some(role) = role else {
            tracing::info!(
                request_id = %self.req.request_id,
                user = %user.id,
                "console refused: no console role"
            );
            return self.console_refused(&self.t("console-no-role"));
        };
        if !claims.mfa() {
            if post {
                return self.console_refused(&self.t("console-mfa-first"));
            }
            return Reply::redirect(format!(
                "{}?rd={}",
                paths::MFA,
                encode_component(&self.console_back())
            ));
        }
        let staff = Staff { user, role };
        let path = self.req.path;
        if post {
            let form = match self.console_form() {
                Ok(f) => f,
                Err(r) => return r,
            };
            return match path {
                GUESTS => self.guest_action(&staff, &form).await,
                INVITATIONS => self.invitation_action(&staff, &form).await,
                REQUESTS => self.request_action(&staff, &form).await,
                _ => self.console_refused(&self.t("console-no-form")),
            };
        }
        match path {
            ADMIN | "/.portcullis/admin/" => self.console_home(&staff),
            GUESTS => self.guests_page(&staff, 200, None).await,
            p if p.starts_with("/.portcullis/admin/guests/") => {
                let id = &p["/.portcullis/admin/guests/".len()..];
                self.guest_page(&staff, id).await
            }
            DECISIONS => self.decisions_page(&staff).await,
            p if p.starts_with("/.portcullis/admin/decisions/") => {
                let id = &p["/.portcullis/admin/decisions/".len()..];
                self.decision_page(&staff, id).await
            }
            AUDIT => self.audit_page(&staff).await,
            INVITATIONS => self.invitations_page(&staff).await,
            REQUESTS => self.requests_page(&staff).await,
            POLICIES => self.policies_page(&staff).await,
            _ => self.console_message(
                &staff,
                404,
                &self.t("console-not-found"),
                &self.t("console-nothing-here"),
            ),
        }
    }

    /// Where to come back to after signing in or the MFA step: this GET.
    fn console_back(&self) -> String {
        match self.req.query {
            Some(q) if self.req.method == "GET" => format!("{}?{q}", self.req.path),
            _ => self.req.path.to_string(),
        }
    }

    /// The role of the signed-in person: from their e-mail, the directory's
    /// groups and the session's bare groups (the local IdP's, which are the
    /// directory's own). A qualified group (`idp:group`) never matches: the
    /// check refuses `:` in console groups.
    async fn console_role(
        &self,
        claims: &SessionClaims,
        user: &User,
    ) -> Result<Option<Role>, StoreError> {
        let mut groups: Vec<String> = self.gateway.store.groups_of(&user.id).await?;
        groups.extend(claims.groups.iter().filter(|g| !g.contains(':')).cloned());
        let groups: Vec<String> = groups.iter().map(|g| g.to_lowercase()).collect();
        Ok(role_of(&self.snapshot.config.console, user, &groups))
    }

    /// The 403 page (no role, or a refused form).
    fn console_refused(&self, text: &str) -> Reply {
        self.message_linked(
            403,
            &self.t("console-not-allowed"),
            text,
            (paths::APPS, &self.t("console-your-apps")),
        )
    }

    /// The posted form, when it carries this browser's CSRF token and an
    /// `Origin` of the auth host. Unlike the sign-in forms, a missing
    /// `Origin` is refused too: every browser the console supports sends it
    /// on a POST.
    fn console_form(&self) -> Result<HashMap<String, String>, Reply> {
        if self.req.headers.get("origin").is_none() {
            tracing::info!(request_id = %self.req.request_id, "console form refused: no Origin");
            return Err(self.console_refused(&self.t("console-form-stale")));
        }
        self.form().map_err(|_| {
            tracing::info!(request_id = %self.req.request_id, "console form refused: CSRF or Origin");
            self.console_refused(&self.t("console-form-stale"))
        })
    }

    /// Every value of `name` in the posted form (checkboxes).
    fn form_all(&self, name: &str) -> Vec<String> {
        openidconnect::url::form_urlencoded::parse(&self.req.body)
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .collect()
    }

    /// A console page: `ctx` plus who is signed in, the navigation and the
    /// CSRF token.
    fn console_page(
        &self,
        staff: &Staff,
        status: u16,
        template: &str,
        section: &str,
        ctx: minijinja::Value,
    ) -> Reply {
        let base = context! {
            staff_email => staff.user.email,
            role => staff.role.as_str(),
            may_change => staff.role == Role::Admin,
            section,
        };
        self.form_page(status, template, context! { ..ctx, ..base })
    }

    /// The confirmation of a destructive action: what will happen, and
    /// the same form again (`fields`) with `confirm=yes`, to `post_to`.
    #[allow(clippy::too_many_arguments)]
    fn console_confirm(
        &self,
        staff: &Staff,
        section: &str,
        post_to: &str,
        (title, text, button): (&str, &str, &str),
        fields: &[(&str, &str)],
        back: &str,
    ) -> Reply {
        let fields: Vec<minijinja::Value> = fields
            .iter()
            .map(|(name, value)| context! { name, value })
            .collect();
        self.console_page(
            staff,
            200,
            "console/confirm.html",
            section,
            context! { title, text, button, post_to, fields, back },
        )
    }

    /// 403 for an action the person's role does not allow.
    fn role_refused(&self, staff: &Staff) -> Reply {
        self.console_page(
            staff,
            403,
            "console/message.html",
            "",
            context! {
                title => self.t("console-not-allowed"),
                text => self.t("console-helpdesk-limits"),
            },
        )
    }

    fn console_message(&self, staff: &Staff, status: u16, title: &str, text: &str) -> Reply {
        self.console_page(
            staff,
            status,
            "console/message.html",
            "",
            context! { title, text },
        )
    }

    /// The start page: the sections, and the owners' pages of each app.
    fn console_home(&self, staff: &Staff) -> Reply {
        let apps: Vec<minijinja::Value> = self
            .snapshot
            .config
            .apps
            .iter()
            .map(|a| {
                context! {
                    name => a.name,
                    title => a.title,
                    owners => !a.owners.is_empty(),
                    manage => format!("/.portcullis/manage/app?name={}", encode_component(&a.name)),
                }
            })
            .collect();
        self.console_page(staff, 200, "console/home.html", "home", context! { apps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Console;
    use crate::store::UserState;

    fn user(email: &str, user_type: UserType) -> User {
        User {
            id: "u_1".into(),
            email: email.into(),
            display_name: None,
            user_type,
            state: UserState::Active,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            identity: None,
        }
    }

    #[test]
    fn roles_go_to_members_by_email_or_group_and_admin_wins() {
        let c = Console {
            admins: vec![Owner::Email("ada@t.example".into())],
            helpdesk: vec![
                Owner::Group("helpdesk".into()),
                Owner::Email("ada@t.example".into()),
            ],
        };
        let member = |e| user(e, UserType::Member);
        assert_eq!(
            role_of(&c, &member("Ada@T.example"), &[]),
            Some(Role::Admin)
        );
        assert_eq!(
            role_of(&c, &member("hal@t.example"), &["helpdesk".into()]),
            Some(Role::Helpdesk)
        );
        assert_eq!(role_of(&c, &member("hal@t.example"), &[]), None);
        // A guest with the right address or group holds no role.
        assert_eq!(
            role_of(&c, &user("ada@t.example", UserType::Guest), &[]),
            None
        );
        assert_eq!(
            role_of(
                &c,
                &user("g@p.example", UserType::Guest),
                &["helpdesk".into()]
            ),
            None
        );
    }

    /// Every console page renders with a minimal context and escapes what
    /// it shows.
    #[test]
    fn every_console_page_renders_and_escapes() {
        let pages = crate::templates::Templates::default();
        let console = crate::templates::PAGES
            .iter()
            .filter(|(n, _)| n.starts_with("console/") && *n != "console/layout.html");
        for (name, _) in console {
            let html = String::from_utf8(pages.page(
                name,
                context! {
                    org => "Tailwind <Traders>",
                    request_id => "r1",
                    staff_email => "a\"b@example.com",
                    csrf => "c", title => "T", text => "x", may_change => true,
                    g => context! { email => "<g>@x.example", id => "u_1" },
                    trace => context! { request_id => "r", decision => "block" },
                    guests => Vec::<String>::new(), apps => ["wiki"], total => 0,
                    sessions => Vec::<String>::new(), rows => Vec::<String>::new(),
                },
            ))
            .expect("utf-8");
            assert!(!html.contains("could not be shown"), "{name}: {html}");
            assert!(html.contains("Tailwind &lt;Traders&gt;"), "{name}: {html}");
            assert!(!html.contains("a\"b@"), "{name} did not escape: {html}");
            assert!(!html.contains("<script"), "{name}: {html}");
        }
    }

    #[test]
    fn request_ids_are_32_hex_digits() {
        assert_eq!(
            request_id(" 0123456789ABCDEF0123456789abcdef "),
            Some("0123456789abcdef0123456789abcdef".into())
        );
        assert_eq!(request_id("0123"), None);
        assert_eq!(request_id("0123456789abcdef0123456789abcdeg"), None);
    }
}
