//! The one place a decision becomes a response (STYLE.md §4): 302 or 401 for
//! sign-in and step-up (by client type and the app's choice), a 403 page or
//! JSON for a block, with the request id and no policy internals.

use crate::config::{App, OnUnauthenticated};
use crate::html::{encode_component, escape};
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
    /// For a step-up: the MFA strength the policies ask for and the one
    /// the session has (`None` for other answers).
    pub mfa_asked: MfaStrength,
    pub mfa_present: MfaStrength,
}

impl Answer<'_> {
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
                a.request_id,
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
            unauthorized(session, reason, &challenge, a.request_id).await
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

/// 403: access blocked. People get a page that says what to do; API clients
/// get JSON. Neither names the policy.
pub async fn block(session: &mut Session, a: &Answer<'_>) -> Result<u16> {
    if a.client_app == ClientApp::Browser {
        let app = a.app.map_or("this app", |a| a.title.as_str());
        let body = page(
            a.org,
            "Access blocked",
            &format!(
                "<p>Your request to <strong>{}</strong> was blocked by {}'s access policies.</p>\
                 <p>If you need access, contact the person who invited you or {}'s help desk, \
                 and quote this request id.</p>",
                escape(app),
                escape(a.org),
                escape(a.org)
            ),
            a.request_id,
        );
        send(session, 403, "text/html; charset=utf-8", body, &[]).await
    } else {
        let body = json_error("access_blocked", "blocked by access policy", a.request_id);
        send(session, 403, "application/json", body, &[]).await
    }
}

/// A plain error page or JSON (404 unknown host, 400 refused request, 502,
/// 503 when a decision could not be made).
pub async fn error(
    session: &mut Session,
    status: u16,
    a: &Answer<'_>,
    title: &str,
    detail: &str,
) -> Result<u16> {
    if a.client_app == ClientApp::Browser {
        let body = page(
            a.org,
            title,
            &format!("<p>{}</p>", escape(detail)),
            a.request_id,
        );
        send(session, status, "text/html; charset=utf-8", body, &[]).await
    } else {
        let code = title.to_ascii_lowercase().replace(' ', "_");
        send(
            session,
            status,
            "application/json",
            json_error(&code, detail, a.request_id),
            &[],
        )
        .await
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
        &[("location", &location)],
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

/// A 401 for an API client: the `(reason, message)` as JSON, and the
/// `WWW-Authenticate` challenge that says what to present.
async fn unauthorized(
    session: &mut Session,
    (reason, message): (&str, &str),
    challenge: &str,
    request_id: &str,
) -> Result<u16> {
    let body = json_error(reason, message, request_id);
    send(
        session,
        401,
        "application/json",
        body,
        &[("www-authenticate", challenge)],
    )
    .await
}

fn json_error(code: &str, message: &str, request_id: &str) -> Vec<u8> {
    serde_json::to_vec(
        &serde_json::json!({ "error": code, "message": message, "request_id": request_id }),
    )
    .unwrap_or_default()
}

fn page(org: &str, title: &str, body_html: &str, request_id: &str) -> Vec<u8> {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — {org}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b}}\
         code{{background:#f2f2f2;padding:.1rem .3rem}}</style></head>\
         <body><main><h1>{title}</h1>{body_html}<p>Request id: <code>{rid}</code></p></main>\
         <footer><small>{org}</small></footer></body></html>",
        title = escape(title),
        org = escape(org),
        rid = escape(request_id),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn answer(asked: MfaStrength, present: MfaStrength) -> Answer<'static> {
        Answer {
            request_id: "r",
            org: "T",
            app: None,
            client_app: ClientApp::Browser,
            path_and_query: "/pay?x=1",
            token_problem: None,
            mfa_asked: asked,
            mfa_present: present,
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
