//! Why a request was refused, from DESIGN.md's closed set, and what the
//! person is told: what happened and what to do next, in plain words. The
//! decision log works the reason out (`decision_log::reason_of`); the
//! proxy's answers, the access log and the portal's refusals all say it
//! from here, so the page, the JSON `reason` and the log line never
//! disagree. Nothing here names a policy or its conditions.

use crate::i18n::{Lang, t};
use crate::templates::{Chrome, Templates};
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

    /// The page's heading, in `lang`.
    pub fn title(self, lang: Lang) -> String {
        crate::i18n::translate(lang, &format!("reason-{}-title", self.as_str()), &[])
    }

    /// What happened, in one or two sentences.
    pub fn what_happened(self, f: &Facts<'_>) -> String {
        let this_app = t!(f.lang, "refusal-this-app");
        let app = f.app.unwrap_or(&this_app);
        let key = match (self, f.access_ended) {
            (Reason::AccessEnded, Some(_)) => "reason-access_ended-what-date".to_string(),
            _ => format!("reason-{}-what", self.as_str()),
        };
        let date = f
            .access_ended
            .map(|t| crate::i18n::date(f.lang, t))
            .unwrap_or_default();
        crate::i18n::translate(
            f.lang,
            &key,
            &[("app", app.into()), ("org", f.org.into()), ("date", date.into())],
        )
    }

    /// What to do next (and whom to ask).
    pub fn what_next(self, f: &Facts<'_>) -> String {
        crate::i18n::translate(
            f.lang,
            &format!("reason-{}-next", self.as_str()),
            &[("who", f.whom_to_ask().into())],
        )
    }
}

/// What the words of a refusal may use.
#[derive(Clone, Debug, Default)]
pub struct Facts<'a> {
    pub lang: Lang,
    pub org: &'a str,
    /// The app's title.
    pub app: Option<&'a str>,
    /// When the access ended (`access_ended`).
    pub access_ended: Option<OffsetDateTime>,
    /// Who invited the person, when known.
    pub inviter: Option<&'a str>,
    /// The app's owners: people by e-mail, groups by name.
    pub owners: Vec<Asked<'a>>,
    /// The organisation's help desk ([`crate::templates::Chrome::support_line`]).
    pub support: Option<String>,
}

/// An owner to ask: a person (e-mail) or a directory group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked<'a> {
    Person(&'a str),
    Group(&'a str),
}

impl Facts<'_> {
    /// Whom to ask, most specific first: the inviter, the app's owners,
    /// the help desk; else a form that works for any organisation's name
    /// (no possessive: "Tailwind Traders's" reads wrong).
    pub fn whom_to_ask(&self) -> String {
        let lang = self.lang;
        if let Some(i) = self.inviter.filter(|i| !i.trim().is_empty()) {
            return t!(lang, "ask-inviter", inviter = i);
        }
        let owners: Vec<String> = self
            .owners
            .iter()
            .map(|o| match o {
                Asked::Person(e) => (*e).to_string(),
                Asked::Group(g) => t!(lang, "ask-group", group = *g),
            })
            .collect();
        match owners.len() {
            0 => match &self.support {
                Some(s) => t!(lang, "ask-support", support = s),
                None => t!(lang, "ask-fallback", org = self.org),
            },
            1 => t!(lang, "ask-owner", owners = owners.join(", ")),
            _ => t!(lang, "ask-owners", owners = owners.join(", ")),
        }
    }
}

/// The owners of `app` to name: people by e-mail, groups by name (at
/// most three; a group's members are not looked up).
pub fn owners(app: &crate::config::App) -> Vec<Asked<'_>> {
    app.owners
        .iter()
        .map(|o| match o {
            crate::config::Owner::Email(e) => Asked::Person(e.as_str()),
            crate::config::Owner::Group(g) => Asked::Group(g.as_str()),
        })
        .take(3)
        .collect()
}

/// The owners of `app` who are people (e-mail addresses), for mail links.
pub fn owner_emails(app: &crate::config::App) -> Vec<&str> {
    owners(app)
        .into_iter()
        .filter_map(|o| match o {
            Asked::Person(e) => Some(e),
            Asked::Group(_) => None,
        })
        .collect()
}

/// One refusal or error page: the card of the sign-in pages
/// (`portal/templates/refusal.html` on `layout.html`), for the proxy's
/// answers and the portal's alike.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Page<'a> {
    /// Organisation, logo, colour, help desk and language.
    #[serde(flatten)]
    pub chrome: Chrome,
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
    /// The words for `reason`, in the language of `chrome`.
    pub fn for_reason(
        reason: Reason,
        f: &Facts<'_>,
        request_id: &'a str,
        chrome: Chrome,
    ) -> Page<'a> {
        Page {
            title: reason.title(chrome.lang),
            text: reason.what_happened(f),
            next: Some(reason.what_next(f)),
            reason: Some(reason.as_str()),
            chrome,
            request_id,
            ..Page::default()
        }
    }

    /// The HTML page.
    pub fn html(&self, templates: &Templates) -> Vec<u8> {
        templates.page("refusal.html", minijinja::Value::from_serialize(self))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn de() -> Lang {
        Lang::parse("de").expect("de")
    }

    #[test]
    fn every_reason_round_trips_and_has_words_in_every_language() {
        for lang in Lang::all() {
            let f = Facts {
                lang,
                org: "Tailwind Traders",
                app: Some("Wiki"),
                ..Facts::default()
            };
            for r in Reason::ALL {
                assert_eq!(Reason::parse(r.as_str()), Some(*r));
                for words in [r.title(lang), r.what_happened(&f), r.what_next(&f)] {
                    assert!(!words.is_empty(), "{r:?}");
                    assert!(!words.starts_with("reason-"), "{lang}: {r:?}: {words}");
                }
                assert!(!r.what_next(&f).contains("Traders's"), "{r:?}");
            }
        }
        assert_eq!(Reason::parse("blocked_by_policy"), None);
    }

    #[test]
    fn whom_to_ask_prefers_the_inviter_then_the_owners_then_the_help_desk() {
        let mut f = Facts {
            org: "Tailwind Traders",
            ..Facts::default()
        };
        assert_eq!(
            f.whom_to_ask(),
            "the person who invited you or the help desk of Tailwind Traders"
        );
        f.support = Some("the service desk (help@tailwind.example)".into());
        assert_eq!(f.whom_to_ask(), "the service desk (help@tailwind.example)");
        f.owners = vec![Asked::Person("olga@tailwind.example")];
        assert_eq!(
            f.whom_to_ask(),
            "the owner of the app (olga@tailwind.example)"
        );
        f.owners.push(Asked::Group("wiki-admins"));
        assert_eq!(
            f.whom_to_ask(),
            "the owners of the app (olga@tailwind.example, members of the group wiki-admins)"
        );
        f.lang = de();
        assert_eq!(
            f.whom_to_ask(),
            "die Verantwortlichen der App (olga@tailwind.example, Mitglieder der Gruppe wiki-admins)"
        );
        f.inviter = Some("Alice");
        assert_eq!(f.whom_to_ask(), "Alice, die Person, die Sie eingeladen hat");
    }

    #[test]
    fn the_page_escapes_and_names_no_possessive() {
        let chrome = Chrome {
            org: "Tailwind <Traders>".into(),
            ..Chrome::default()
        };
        let f = Facts {
            org: "Tailwind <Traders>",
            app: Some("Wiki \"x\""),
            ..Facts::default()
        };
        let mut p = Page::for_reason(Reason::PolicyBlock, &f, "r1", chrome);
        p.apps_url = Some("http://auth.test/.portcullis/apps".into());
        let html = String::from_utf8(p.html(&Templates::default())).expect("utf-8");
        assert!(html.contains("Tailwind &lt;Traders&gt;"), "{html}");
        assert!(html.contains("Wiki &quot;x&quot;"), "{html}");
        assert!(html.contains("<code>r1</code>"), "{html}");
        assert!(html.contains("data-reason=\"policy_block\""), "{html}");
        assert!(html.contains("<html lang=\"en\">"), "{html}");
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
    fn access_ended_names_the_date_in_the_language() {
        let mut f = Facts {
            org: "T",
            app: Some("Wiki"),
            access_ended: OffsetDateTime::from_unix_timestamp(1_764_547_200).ok(),
            ..Facts::default()
        };
        assert_eq!(
            Reason::AccessEnded.what_happened(&f),
            "Your access to Wiki ended on 1 December 2025."
        );
        f.lang = de();
        assert_eq!(
            Reason::AccessEnded.what_happened(&f),
            "Ihr Zugriff auf Wiki endete am 1. Dezember 2025."
        );
    }
}
