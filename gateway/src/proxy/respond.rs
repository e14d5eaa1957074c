//! The one place a decision becomes a response (STYLE.md §4): 302 or 401 for
//! sign-in and step-up (by client type and the app's choice), a 403 page or
//! JSON for a block, with the reason (`crate::refusal`), the request id (on
//! the page and in `X-Request-Id`) and no policy internals.

use super::headers::REQUEST_ID;
use crate::config::{App, OnUnauthenticated};
use crate::html::encode_component;
use crate::i18n::{Lang, t};
use crate::refusal::{self, Facts, Page, Reason};
use crate::templates::{Chrome, Templates};
use pingora::Result;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use rules::{ClientApp, Decision, MfaStrength};

pub use crate::reserved::paths;

/// What the response is about, for people and for API clients.
pub struct Answer<'a> {
    pub request_id: &'a str,
    pub org: &'a str,
    pub app: Option<&'a App>,
    pub client_app: ClientApp,
    /// The normalised path and the raw query, for the return URL.
    pub path_and_query: &'a str,
    /// Why an API client's token was refused (`invalid_token` detail), if any.
    pub token_problem: Option<&'a str>,
    /// Why the request is refused (the decision's reason).
    pub reason: Option<Reason>,
    /// The end (unix seconds) of an assignment that has ended.
    pub access_ended: Option<i64>,
    /// `scheme://sign-in-host:port`, when sign-in is configured: where the
    /// apps page is, and the way out of a host that is not an app's.
    pub auth_origin: Option<String>,
    /// The e-mail of the session the request came with.
    pub signed_in_as: Option<&'a str>,
    /// For a step-up: the MFA strength the policies ask for and the one
    /// the session has (`None` for other answers).
    pub mfa_asked: MfaStrength,
    pub mfa_present: MfaStrength,
    /// The language of the page (`Accept-Language`, else the
    /// organisation's) and the organisation's look in it.
    pub chrome: Chrome,
    /// The snapshot's templates.
    pub templates: &'a Templates,
}

impl Answer<'_> {
    fn lang(&self) -> Lang {
        self.chrome.lang
    }

    /// What a refusal's words may use: the app, its owners, the help desk.
    fn facts(&self) -> Facts<'_> {
        Facts {
            lang: self.lang(),
            org: self.org,
            app: self.app.map(|a| a.title.as_str()),
            owners: self.app.map(refusal::owners).unwrap_or_default(),
            support: self.chrome.support_line(),
            ..Facts::default()
        }
    }

    /// Whether this client gets redirects (a person in a browser) rather
    /// than status codes.
    pub fn redirects(&self) -> bool {
        match self
            .app
            .map_or(OnUnauthenticated::Auto, |a| a.on_unauthenticated)
        {
            OnUnauthenticated::Auto => self.client_app == ClientApp::Browser,
            OnUnauthenticated::Redirect => true,
            OnUnauthenticated::Deny => false,
        }
    }
}

/// Answers a decision that is not `Allow`. Returns the status sent.
pub async fn deny(session: &mut Session, decision: Decision, a: &Answer<'_>) -> Result<u16> {
    match decision {
        Decision::Allow => Ok(0),
        Decision::SignIn if a.redirects() => redirect(session, Decision::SignIn, a).await,
        Decision::SignIn => {
            let challenge = match a.token_problem {
                Some(p) => format!(
                    "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"{p}\""
                ),
                None => "Bearer realm=\"portcullis\"".to_string(),
            };
            unauthorized(
                session,
                (
                    "sign_in_required",
                    "sign in or present a valid bearer token",
                ),
                &challenge,
                a,
            )
            .await
        }
        Decision::Mfa if a.redirects() => redirect(session, Decision::Mfa, a).await,
        Decision::Mfa => {
            // RFC 9470: the token is valid, the authentication behind it is
            // too weak. `phr` (OpenID EAP) names phishing-resistant MFA.
            let (reason, acr) = step_up(a);
            let challenge = format!(
                "Bearer realm=\"portcullis\", error=\"insufficient_user_authentication\", \
                 error_description=\"{}\", acr_values=\"{acr}\"",
                reason.1
            );
            unauthorized(session, reason, &challenge, a).await
        }
        Decision::Block => block(session, a).await,
    }
}

/// A step-up's reason (DESIGN.md's closed set) with its message, and the
/// `acr_values` an API client is told to come back with.
fn step_up(a: &Answer<'_>) -> ((&'static str, &'static str), &'static str) {
    match (a.mfa_asked, a.mfa_present) {
        (MfaStrength::PhishingResistant, MfaStrength::Mfa) => (
            (
                "stronger_mfa_required",
                "phishing-resistant multi-factor authentication required",
            ),
            "phr",
        ),
        (MfaStrength::PhishingResistant, _) => (
            (
                "mfa_required",
                "phishing-resistant multi-factor authentication required",
            ),
            "phr",
        ),
        _ => (
            ("mfa_required", "multi-factor authentication required"),
            "mfa",
        ),
    }
}

/// 403: access blocked. People get a page that says why and what to do
/// next; API clients get JSON with the same `reason`. Neither names the
/// policy.
pub async fn block(session: &mut Session, a: &Answer<'_>) -> Result<u16> {
    let reason = a.reason.unwrap_or(Reason::PolicyBlock);
    let facts = Facts {
        access_ended: a
            .access_ended
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()),
        ..a.facts()
    };
    let page = a.ways_on(Page::for_reason(
        reason,
        &facts,
        a.request_id,
        a.chrome.clone(),
    ));
    if a.client_app == ClientApp::Browser {
        send_page(session, 403, a, page.html(a.templates)).await
    } else {
        send_json(session, 403, a, page.json("access_blocked"), &[]).await
    }
}

/// An error page or JSON (404 unknown host, 400 refused request, 502,
/// 503 when a decision could not be made): the refusal card, with the
/// ways on. `code` is the JSON `error` (stable, English); `title` and
/// `detail` are message keys.
pub async fn error(
    session: &mut Session,
    status: u16,
    a: &Answer<'_>,
    code: &str,
    (title, detail): (&str, &str),
) -> Result<u16> {
    let page = a.ways_on(Page {
        chrome: a.chrome.clone(),
        request_id: a.request_id,
        title: t!(a.lang(), title),
        text: t!(a.lang(), detail),
        next: next_step(status, &a.facts()),
        ..Page::default()
    });
    if a.client_app == ClientApp::Browser {
        send_page(session, status, a, page.html(a.templates)).await
    } else {
        send_json(session, status, a, page.json(code), &[]).await
    }
}

/// What a person can do about an error that is not a refusal.
fn next_step(status: u16, facts: &Facts<'_>) -> Option<String> {
    let lang = facts.lang;
    Some(match status {
        404 => t!(lang, "error-next-404"),
        400 | 413 => t!(lang, "error-next-400"),
        500..=599 => {
            let who = facts.support.clone().unwrap_or_else(|| {
                t!(lang, "support-default", org = facts.org)
            });
            t!(lang, "error-next-5xx", who = who)
        }
        _ => return None,
    })
}

impl Answer<'_> {
    /// The links out of a dead end: the apps page, switch account (sign
    /// out, then sign in again) and sign out. On an app host these are its
    /// own reserved paths; elsewhere (a host with no app) the sign-in
    /// host's.
    fn ways_on<'p>(&self, mut page: Page<'p>) -> Page<'p>
    where
        Self: 'p,
    {
        let auth = self.auth_origin.as_deref();
        page.apps_url = auth.map(|o| format!("{o}{}", paths::APPS));
        if self.signed_in_as.is_some() {
            page.signed_in_as = self.signed_in_as;
            if self.app.is_some() {
                page.sign_out_url = Some(paths::SIGN_OUT.into());
                page.switch_url = Some(format!(
                    "{}?switch=1&rd={}",
                    paths::SIGN_OUT,
                    encode_component(self.path_and_query)
                ));
            } else if let Some(o) = auth {
                page.sign_out_url = Some(format!("{o}{}", paths::SIGN_OUT));
                page.switch_url = Some(format!("{o}{}?reauth=1", paths::SIGN_IN));
            }
        }
        page
    }
}

/// Where a person is sent for `decision` (`SignIn` or `Mfa`; `None` for
/// the others): a path on the same host, with the request to come back to.
/// The forward-auth endpoint prefixes the original scheme and host.
pub fn location(decision: Decision, a: &Answer<'_>) -> Option<String> {
    let endpoint = match decision {
        Decision::SignIn => paths::SIGN_IN,
        Decision::Mfa => paths::MFA,
        Decision::Allow | Decision::Block => return None,
    };
    // The return URL is always a path on this same host: never a full URL.
    let mut location = format!("{endpoint}?rd={}", encode_component(a.path_and_query));
    // Which step-up methods to offer. Only a hint for the page: the rules
    // decide again when the person comes back, so changing it gains nothing.
    if decision == Decision::Mfa && a.mfa_asked == MfaStrength::PhishingResistant {
        location.push_str("&strength=phishing_resistant");
    }
    Some(location)
}

async fn redirect(session: &mut Session, decision: Decision, a: &Answer<'_>) -> Result<u16> {
    let location = location(decision, a).unwrap_or_else(|| paths::SIGN_IN.to_string());
    send(
        session,
        302,
        "text/plain; charset=utf-8",
        Vec::new(),
        &[("location", &location), (REQUEST_ID, a.request_id)],
    )
    .await
}

pub async fn send(
    session: &mut Session,
    status: u16,
    content_type: &str,
    body: Vec<u8>,
    extra: &[(&str, &str)],
) -> Result<u16> {
    let mut resp = ResponseHeader::build(status, Some(4 + extra.len()))?;
    resp.insert_header("content-type", content_type)?;
    resp.insert_header("content-length", body.len().to_string())?;
    resp.insert_header("cache-control", "no-store")?;
    for (name, value) in extra {
        resp.insert_header(name.to_string(), *value)?;
    }
    session
        .write_response_header(Box::new(resp), body.is_empty())
        .await?;
    if !body.is_empty() {
        session.write_response_body(Some(body.into()), true).await?;
    }
    Ok(status)
}

/// A 401: the `WWW-Authenticate` challenge that says what to present,
/// and the `(reason, message)` as JSON; a browser of an app that does not
/// redirect (`on_unauthenticated: deny`) gets the refusal page instead,
/// with the way to sign in.
async fn unauthorized(
    session: &mut Session,
    (reason, message): (&str, &str),
    challenge: &str,
    a: &Answer<'_>,
) -> Result<u16> {
    if a.client_app == ClientApp::Browser
        && let Some(r) = Reason::parse(reason)
    {
        let facts = a.facts();
        let mut page = a.ways_on(Page::for_reason(
            r,
            &facts,
            a.request_id,
            a.chrome.clone(),
        ));
        let decision = if r == Reason::SignInRequired {
            Decision::SignIn
        } else {
            Decision::Mfa
        };
        page.link = location(decision, a);
        page.link_text = Some(t!(
            a.lang(),
            if decision == Decision::SignIn {
                "link-sign-in"
            } else {
                "link-second-step"
            }
        ));
        return send(
            session,
            401,
            "text/html; charset=utf-8",
            page.html(a.templates),
            &[
                (REQUEST_ID, a.request_id),
                ("www-authenticate", challenge),
                ("content-security-policy", &a.chrome.csp(PAGE_CSP)),
                ("x-content-type-options", "nosniff"),
            ],
        )
        .await;
    }
    let body = serde_json::to_vec(&serde_json::json!({
        "error": reason,
        "reason": reason,
        "message": message,
        "request_id": a.request_id,
    }))
    .unwrap_or_default();
    send_json(session, 401, a, body, &[("www-authenticate", challenge)]).await
}

/// The refusal pages' own inline styles only; no scripts, no framing.
const PAGE_CSP: &str = "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

async fn send_page(
    session: &mut Session,
    status: u16,
    a: &Answer<'_>,
    body: Vec<u8>,
) -> Result<u16> {
    send(
        session,
        status,
        "text/html; charset=utf-8",
        body,
        &[
            (REQUEST_ID, a.request_id),
            ("content-security-policy", &a.chrome.csp(PAGE_CSP)),
            ("x-content-type-options", "nosniff"),
        ],
    )
    .await
}

async fn send_json(
    session: &mut Session,
    status: u16,
    a: &Answer<'_>,
    body: Vec<u8>,
    extra: &[(&str, &str)],
) -> Result<u16> {
    let mut headers = Vec::with_capacity(extra.len() + 1);
    headers.push((REQUEST_ID, a.request_id));
    headers.extend_from_slice(extra);
    send(session, status, "application/json", body, &headers).await
}

#[cfg(test)]
mod tests {
    use crate::html::escape;

    #[test]
    fn escaping_and_encoding() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}

#[cfg(test)]
mod strength_tests {
    use super::*;

    static TEMPLATES: std::sync::LazyLock<Templates> = std::sync::LazyLock::new(Templates::default);

    fn answer(asked: MfaStrength, present: MfaStrength) -> Answer<'static> {
        Answer {
            request_id: "r",
            org: "T",
            app: None,
            client_app: ClientApp::Browser,
            path_and_query: "/pay?x=1",
            token_problem: None,
            reason: None,
            access_ended: None,
            auth_origin: None,
            signed_in_as: None,
            mfa_asked: asked,
            mfa_present: present,
            chrome: Chrome::default(),
            templates: &TEMPLATES,
        }
    }

    /// Issue 20: the step-up says which strength will do, by redirect and
    /// to API clients, with `stronger_mfa_required` for a session that has
    /// MFA of a weaker kind.
    #[test]
    fn a_step_up_names_the_strength_asked() {
        use MfaStrength::*;
        let a = answer(PhishingResistant, Mfa);
        assert_eq!(
            location(Decision::Mfa, &a).as_deref(),
            Some("/.portcullis/mfa?rd=/pay%3Fx%3D1&strength=phishing_resistant")
        );
        assert_eq!(
            step_up(&a),
            (
                (
                    "stronger_mfa_required",
                    "phishing-resistant multi-factor authentication required"
                ),
                "phr"
            )
        );
        assert_eq!(
            step_up(&answer(PhishingResistant, None)).0.0,
            "mfa_required"
        );
        let plain = answer(Mfa, None);
        assert_eq!(
            location(Decision::Mfa, &plain).as_deref(),
            Some("/.portcullis/mfa?rd=/pay%3Fx%3D1")
        );
        assert_eq!(step_up(&plain).1, "mfa");
        assert_eq!(
            location(Decision::SignIn, &a).as_deref(),
            Some("/.portcullis/sign-in?rd=/pay%3Fx%3D1")
        );
    }
}
