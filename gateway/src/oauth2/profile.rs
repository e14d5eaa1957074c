//! Reading who signed in from the provider's API, each preset its own way.
//! The requests are in the `async` functions; what counts in an answer is
//! decided by the pure functions below them (unit-tested in `tests.rs`).

use super::config::ClaimPointers;
use super::{Oauth2Error, reqwest, transport};
use serde_json::Value;

/// Larger answers are refused: a profile is a few hundred bytes.
const MAX_PROFILE_BYTES: usize = 64 * 1024;

/// GitHub's REST API version the requests name (its documented header).
const GITHUB_API_VERSION: &str = "2022-11-28";

/// What a provider said, before the e-mail's verification is applied.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Profile {
    pub id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// One GET with the access token; the JSON answer, bounded in size.
/// Transport errors drop the URL: Facebook's carries `appsecret_proof`,
/// which is bound to the access token and must not reach the logs.
async fn get_json(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> Result<Value, Oauth2Error> {
    let mut req = http
        .get(url)
        .bearer_auth(token)
        .header("accept", "application/json");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| Oauth2Error::IdpUnreachable(transport(&e.without_url())))?;
    if !resp.status().is_success() {
        return Err(Oauth2Error::UserinfoFailed(format!(
            "HTTP {}",
            resp.status()
        )));
    }
    if resp
        .content_length()
        .is_some_and(|l| l > MAX_PROFILE_BYTES as u64)
    {
        return Err(Oauth2Error::UserinfoFailed("response too large".into()));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| Oauth2Error::IdpUnreachable(transport(&e.without_url())))?;
    if body.len() > MAX_PROFILE_BYTES {
        return Err(Oauth2Error::UserinfoFailed("response too large".into()));
    }
    serde_json::from_slice(&body).map_err(|_| Oauth2Error::UserinfoFailed("not JSON".into()))
}

/// GitHub: `GET /user` (the numeric `id`, `name`) and `GET /user/emails`
/// (needs the `user:email` scope). `/user`'s own `email` is the public
/// profile address, which need not be verified: never used.
pub(super) async fn github(
    http: &reqwest::Client,
    api_url: &str,
    token: &str,
) -> Result<Profile, Oauth2Error> {
    let headers = [
        ("accept", "application/vnd.github+json"),
        ("x-github-api-version", GITHUB_API_VERSION),
    ];
    let user = get_json(http, &format!("{api_url}/user"), token, &headers).await?;
    let emails = get_json(http, &format!("{api_url}/user/emails"), token, &headers).await?;
    github_profile(&user, &emails)
}

/// The GitHub profile: the id must be a positive integer (logins can be
/// renamed and then registered by someone else); the e-mail is the entry
/// that is both `primary` and `verified`, else none.
pub(super) fn github_profile(user: &Value, emails: &Value) -> Result<Profile, Oauth2Error> {
    let id = user
        .get("id")
        .and_then(Value::as_u64)
        .filter(|id| *id > 0)
        .ok_or(Oauth2Error::MissingId)?;
    let list = emails
        .as_array()
        .ok_or_else(|| Oauth2Error::UserinfoFailed("/user/emails is not a list".into()))?;
    let primary = list
        .iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true));
    let email = primary
        .and_then(|e| e.get("email"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let email_verified = primary
        .and_then(|e| e.get("verified"))
        .and_then(Value::as_bool)
        == Some(true);
    Ok(Profile {
        id: id.to_string(),
        email,
        email_verified,
        name: text(user.get("name")),
    })
}

/// Facebook: `GET /me?fields=id,name,email&appsecret_proof=…`. The proof
/// (HMAC-SHA256 of the access token keyed with the app secret) lets an app
/// turn on "Require App Secret", so a token stolen elsewhere cannot be
/// used against the Graph API as this app.
pub(super) async fn facebook(
    http: &reqwest::Client,
    me_url: &str,
    token: &str,
    app_secret: &str,
) -> Result<Profile, Oauth2Error> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, app_secret.as_bytes());
    let proof: String = aws_lc_rs::hmac::sign(&key, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut url = ::oauth2::url::Url::parse(me_url)
        .map_err(|e| Oauth2Error::Config(format!("userinfo_url: {e}")))?;
    url.query_pairs_mut()
        .append_pair("fields", "id,name,email")
        .append_pair("appsecret_proof", &proof);
    let me = get_json(http, url.as_str(), token, &[]).await?;
    facebook_profile(&me)
}

/// The Facebook profile: `id` is a string of digits; the Graph API
/// returns `email` only for a confirmed address (none for an account made
/// with a phone number, or an address not yet confirmed).
pub(super) fn facebook_profile(me: &Value) -> Result<Profile, Oauth2Error> {
    let id = me
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(Oauth2Error::MissingId)?;
    let email = text(me.get("email"));
    Ok(Profile {
        id: id.to_string(),
        email_verified: email.is_some(),
        email,
        name: text(me.get("name")),
    })
}

/// The generic form: `GET userinfo_url`, read through the pointers.
pub(super) async fn generic(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    claims: &ClaimPointers,
) -> Result<Profile, Oauth2Error> {
    let info = get_json(http, url, token, &[]).await?;
    generic_profile(&info, claims)
}

/// The generic profile: the id a non-empty string or an integer; the
/// e-mail verified only by JSON `true` or the string `"true"`.
pub(super) fn generic_profile(info: &Value, p: &ClaimPointers) -> Result<Profile, Oauth2Error> {
    let id = match info.pointer(&p.id) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 255 => s.clone(),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => return Err(Oauth2Error::MissingId),
    };
    let email_verified = match info.pointer(&p.email_verified) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    Ok(Profile {
        id,
        email: text(info.pointer(&p.email)),
        email_verified,
        name: text(info.pointer(&p.name)),
    })
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The `error` code of a token endpoint's answer that is not a token:
/// GitHub's `{"error": "bad_verification_code"}` (with status 200) or
/// Facebook's `{"error": {"type": "OAuthException", "code": 100}}`. Only
/// a short token-like code is kept.
pub(super) fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = match v.get("error") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("type").and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    code.filter(|c| {
        c.len() <= 64
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
    .unwrap_or_else(|| "unparsable token response".into())
}
