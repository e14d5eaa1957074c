//! Why a request was refused, from DESIGN.md's closed set, and what the
//! person is told: what happened and what to do next, in plain words. The
//! decision log works the reason out (`decision_log::reason_of`); the
//! proxy's answers, the access log and the portal's refusals all say it
//! from here, so the page, the JSON `reason` and the log line never
//! disagree. Nothing here names a policy or its conditions.

use time::OffsetDateTime;

/// A refusal's reason (DESIGN.md, "Every refusal also has a reason").
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A guest without an assignment to the app.
    NotShared,
    /// The assignment to the app has ended (the date is in [`Facts`]).
    AccessEnded,
    MfaRequired,
    /// The session's second factor is not strong enough for the app.
    StrongerMfaRequired,
    /// A policy with a location condition blocked.
    Location,
    /// A policy with a device-platform condition blocked.
    DevicePlatform,
    /// Any other block by a policy.
    PolicyBlock,
    AccountBlocked,
    SignInRequired,
    // Invitation links.
    InvitationUsed,
    InvitationExpired,
    InvitationWithdrawn,
    NotInvited,
}

impl Reason {
    pub const ALL: &'static [Reason] = &[
        Reason::NotShared,
        Reason::AccessEnded,
        Reason::MfaRequired,
        Reason::StrongerMfaRequired,
        Reason::Location,
        Reason::DevicePlatform,
        Reason::PolicyBlock,
        Reason::AccountBlocked,
        Reason::SignInRequired,
        Reason::InvitationUsed,
        Reason::InvitationExpired,
        Reason::InvitationWithdrawn,
        Reason::NotInvited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotShared => "not_shared",
            Reason::AccessEnded => "access_ended",
            Reason::MfaRequired => "mfa_required",
            Reason::StrongerMfaRequired => "stronger_mfa_required",
            Reason::Location => "location",
            Reason::DevicePlatform => "device_platform",
            Reason::PolicyBlock => "policy_block",
            Reason::AccountBlocked => "account_blocked",
            Reason::SignInRequired => "sign_in_required",
            Reason::InvitationUsed => "invitation_used",
            Reason::InvitationExpired => "invitation_expired",
            Reason::InvitationWithdrawn => "invitation_withdrawn",
            Reason::NotInvited => "not_invited",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    /// The page's heading.
    pub fn title(self) -> &'static str {
        match self {
            Reason::NotShared => "This app has not been shared with you",
            Reason::AccessEnded => "Your access has ended",
            Reason::MfaRequired => "A second sign-in step is needed",
            Reason::StrongerMfaRequired => "A stronger sign-in is needed",
            Reason::Location => "Not available from where you are",
            Reason::DevicePlatform => "Not available on this device",
            Reason::PolicyBlock => "Access blocked",
            Reason::AccountBlocked => "Your account is blocked",
            Reason::SignInRequired => "Sign in to continue",
            Reason::InvitationUsed => "Invitation already used",
            Reason::InvitationExpired => "Invitation expired",
            Reason::InvitationWithdrawn => "Invitation withdrawn",
            Reason::NotInvited => "This invitation is not for you",
        }
    }

    /// What happened, in one or two sentences.
    pub fn what_happened(self, f: &Facts<'_>) -> String {
        let app = f.app.unwrap_or("this app");
        match self {
            Reason::NotShared => format!("{app} has not been shared with the account you are signed in with."),
            Reason::AccessEnded => match f.access_ended {
                Some(t) => format!("Your access to {app} ended on {}.", crate::invitations::date(t)),
                None => format!("Your access to {app} has ended."),
            },
            Reason::MfaRequired => format!(
                "{app} asks for a second sign-in step, such as a code from an authenticator app."
            ),
            Reason::StrongerMfaRequired => format!(
                "{app} asks for a stronger second step than the one you used, such as a passkey or a security key."
            ),
            Reason::Location => format!(
                "{app} cannot be opened from the network or country you are connecting from."
            ),
            Reason::DevicePlatform => format!("{app} cannot be opened from this kind of device."),
            Reason::PolicyBlock => format!("The access rules of {} do not let this request through to {app}.", f.org),
            Reason::AccountBlocked => format!("Your account can no longer be used to open the apps of {}.", f.org),
            Reason::SignInRequired => format!("You need to sign in to open {app}."),
            Reason::InvitationUsed => "This invitation was already accepted.".into(),
            Reason::InvitationExpired => "This invitation has expired.".into(),
            Reason::InvitationWithdrawn => "This invitation was withdrawn.".into(),
            Reason::NotInvited => "This invitation link is not valid for you: it was not found, or it was sent to another e-mail address.".into(),
        }
    }

    /// What to do next.
    pub fn what_next(self, f: &Facts<'_>) -> String {
        let who = f.whom_to_ask();
        match self {
            Reason::NotShared => format!(
                "If you need it, ask {who} to share it with you. If you have another account that has access, switch to it."
            ),
            Reason::AccessEnded => {
                format!("If you still need it, ask {who} to extend your access.")
            }
            Reason::MfaRequired => {
                "Complete the second step, then you are taken to the app.".into()
            }
            Reason::StrongerMfaRequired => format!(
                "Sign in again with a stronger method. If you do not have one, ask {who} which methods are accepted."
            ),
            Reason::Location => format!(
                "Try again from an allowed place, for example your office network or a VPN, or ask {who}."
            ),
            Reason::DevicePlatform => {
                format!("Try again from another device, such as a computer, or ask {who}.")
            }
            Reason::PolicyBlock => format!(
                "If you think you should have access, ask {who} and quote the request id below."
            ),
            Reason::AccountBlocked => {
                format!("If you think this is a mistake, ask {who} and quote the request id below.")
            }
            Reason::SignInRequired => "Sign in, then try again.".into(),
            Reason::InvitationUsed => "Sign in to see your apps.".into(),
            Reason::InvitationExpired => format!("Ask {who} to send you a new one."),
            Reason::InvitationWithdrawn => format!("Ask {who} if you still need access."),
            Reason::NotInvited => format!(
                "Check that you opened the whole link from the e-mail, and that you are signed in with the address it was sent to. Otherwise, ask {who}."
            ),
        }
    }
}

/// What the words of a refusal may use.
#[derive(Clone, Debug, Default)]
pub struct Facts<'a> {
    pub org: &'a str,
    /// The app's title.
    pub app: Option<&'a str>,
    /// When the access ended (`access_ended`).
    pub access_ended: Option<OffsetDateTime>,
    /// Who invited the person, when known.
    pub inviter: Option<&'a str>,
    /// The app's owners who are people (e-mail addresses).
    pub owners: Vec<&'a str>,
}

impl Facts<'_> {
    /// Whom to ask, most specific first: the inviter, the app's owners,
    /// else a form that works for any organisation's name (no possessive:
    /// "Tailwind Traders's" reads wrong).
    pub fn whom_to_ask(&self) -> String {
        if let Some(i) = self.inviter.filter(|i| !i.trim().is_empty()) {
            return i.to_string();
        }
        match self.owners.as_slice() {
            [] => format!(
                "the person who invited you or the help desk of {}",
                self.org
            ),
            [one] => format!("the app's owner ({one})"),
            many => format!("the app's owners ({})", many.join(", ")),
        }
    }
}

/// The owners of `app` who are people, for "whom to ask" (group owners
/// cannot be named without a directory lookup).
pub fn owner_emails(app: &crate::config::App) -> Vec<&str> {
    app.owners
        .iter()
        .filter_map(|o| match o {
            crate::config::Owner::Email(e) => Some(e.as_str()),
            crate::config::Owner::Group(_) => None,
        })
        .take(3)
        .collect()
}

/// One refusal or error page: the card of the sign-in pages
/// (`portal/templates/refusal.html` on `layout.html`), for the proxy's
/// answers and the portal's alike.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Page<'a> {
    pub org: &'a str,
    /// The organisation's logo (`data:` URI), when the caller has it.
    pub logo: Option<&'a str>,
    pub request_id: &'a str,
    pub title: String,
    /// What happened.
    pub text: String,
    /// What to do next (and whom to ask).
    pub next: Option<String>,
    pub reason: Option<&'static str>,
    /// One way on that fits this page best (e.g. "Sign in again").
    pub link: Option<String>,
    pub link_text: Option<String>,
    pub apps_url: Option<String>,
    pub switch_url: Option<String>,
    pub sign_out_url: Option<String>,
    pub signed_in_as: Option<&'a str>,
}

impl<'a> Page<'a> {
    /// The words for `reason`.
    pub fn for_reason(
        reason: Reason,
        f: &Facts<'_>,
        request_id: &'a str,
        org: &'a str,
    ) -> Page<'a> {
        Page {
            org,
            request_id,
            title: reason.title().into(),
            text: reason.what_happened(f),
            next: Some(reason.what_next(f)),
            reason: Some(reason.as_str()),
            ..Page::default()
        }
    }

    /// The HTML page.
    pub fn html(&self) -> Vec<u8> {
        static ENV: std::sync::LazyLock<minijinja::Environment<'static>> =
            std::sync::LazyLock::new(environment);
        match ENV
            .get_template("refusal.html")
            .and_then(|t| t.render(minijinja::Value::from_serialize(self)))
        {
            Ok(s) => s.into_bytes(),
            Err(e) => {
                tracing::error!(error = %e, "refusal page did not render");
                b"<!doctype html><title>Error</title><p>This page could not be shown.</p>".to_vec()
            }
        }
    }

    /// The JSON answer for API clients: `error` (the status's code),
    /// `reason`, `message` (both sentences) and `request_id`.
    pub fn json(&self, error: &str) -> Vec<u8> {
        let message = match &self.next {
            Some(n) => format!("{} {n}", self.text),
            None => self.text.clone(),
        };
        serde_json::to_vec(&serde_json::json!({
            "error": error,
            "reason": self.reason,
            "message": message,
            "request_id": self.request_id,
        }))
        .unwrap_or_default()
    }
}

/// The two templates, with the portal's escaping (`& < > " '`, not `/`).
fn environment() -> minijinja::Environment<'static> {
    use minijinja::AutoEscape;
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(s) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            out.write_str(&crate::html::escape(s))?;
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    for (name, source) in [
        ("layout.html", include_str!("portal/templates/layout.html")),
        (
            "refusal.html",
            include_str!("portal/templates/refusal.html"),
        ),
    ] {
        // Part of the binary; the tests render it.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "refusal template does not parse");
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_and_has_words() {
        let f = Facts {
            org: "Tailwind Traders",
            app: Some("Wiki"),
            ..Facts::default()
        };
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(*r));
            assert!(!r.title().is_empty());
            assert!(!r.what_happened(&f).is_empty());
            assert!(!r.what_next(&f).is_empty());
            assert!(!r.what_next(&f).contains("Traders's"), "{r:?}");
        }
        assert_eq!(Reason::parse("blocked_by_policy"), None);
    }

    #[test]
    fn whom_to_ask_prefers_the_inviter_then_the_owners() {
        let mut f = Facts {
            org: "Tailwind Traders",
            ..Facts::default()
        };
        assert_eq!(
            f.whom_to_ask(),
            "the person who invited you or the help desk of Tailwind Traders"
        );
        f.owners = vec!["olga@tailwind.example"];
        assert_eq!(f.whom_to_ask(), "the app's owner (olga@tailwind.example)");
        f.inviter = Some("Alice");
        assert_eq!(f.whom_to_ask(), "Alice");
    }

    #[test]
    fn the_page_escapes_and_names_no_possessive() {
        let f = Facts {
            org: "Tailwind <Traders>",
            app: Some("Wiki \"x\""),
            ..Facts::default()
        };
        let mut p = Page::for_reason(Reason::PolicyBlock, &f, "r1", "Tailwind <Traders>");
        p.apps_url = Some("http://auth.test/.portcullis/apps".into());
        let html = String::from_utf8(p.html()).expect("utf-8");
        assert!(html.contains("Tailwind &lt;Traders&gt;"), "{html}");
        assert!(html.contains("Wiki &quot;x&quot;"), "{html}");
        assert!(html.contains("Request id: <code>r1</code>"), "{html}");
        assert!(html.contains("data-reason=\"policy_block\""), "{html}");
        assert!(
            html.contains("href=\"http://auth.test/.portcullis/apps\""),
            "{html}"
        );
        assert!(!html.contains("could not be shown"), "{html}");
        let j: serde_json::Value = serde_json::from_slice(&p.json("access_blocked")).expect("json");
        assert_eq!(j["reason"], "policy_block");
        assert_eq!(j["request_id"], "r1");
    }

    #[test]
    fn access_ended_names_the_date() {
        let f = Facts {
            org: "T",
            app: Some("Wiki"),
            access_ended: OffsetDateTime::from_unix_timestamp(1_764_547_200).ok(),
            ..Facts::default()
        };
        assert_eq!(
            Reason::AccessEnded.what_happened(&f),
            "Your access to Wiki ended on 1 December 2025."
        );
    }
}
