//! `idps: - { type: oauth2, … }`: the file type as the operator wrote it, and
//! [`Oauth2IdpConfig`], the checked form [`super::Oauth2Client`] is built
//! from. Presets fill in the endpoints and say how the profile is read.

use crate::oidc::{ClientSecretSource, SecretFields};
use openidconnect::url::Url;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::net::IpAddr;
use std::path::Path;

type S<T> = Spanned<T>;

/// One problem in an `oauth2` idp entry: `(line, column, message)`, 1-based,
/// positions as in the config file. The caller adds the file name.
pub type Oauth2ConfigError = (u64, u64, String);

/// github.com, when the entry names no `github_url`.
pub const GITHUB_URL: &str = "https://github.com";
/// github.com's REST API (GitHub Enterprise Server's is `HOST/api/v3`).
pub const GITHUB_API_URL: &str = "https://api.github.com";
/// The Graph API version the facebook preset calls. Facebook answers calls
/// to a retired version with the oldest one still served, so a pinned
/// version keeps working after it retires.
pub const FACEBOOK_GRAPH_VERSION: &str = "v23.0";
/// The scope GitHub needs for `GET /user/emails` (the verified e-mail).
pub const GITHUB_EMAIL_SCOPE: &str = "user:email";

/// `claims` of a generic `oauth2` idp: JSON pointers (RFC 6901) into the
/// userinfo answer. A pointer that finds nothing means the claim is absent.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Oauth2ClaimsFile {
    /// (required) The user's stable id: a number or a string, never a name
    /// the user can change. Example: `/id`.
    #[schemars(with = "String", example = "/id")]
    pub id: S<String>,
    /// The e-mail address. Default `/email`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = "/email"))]
    pub email: Option<S<String>>,
    /// `true` (JSON true or the string `"true"`) when the provider has
    /// verified the e-mail; anything else and the e-mail is not used.
    /// Default `/email_verified`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = "/email_verified"))]
    pub email_verified: Option<S<String>>,
    /// The display name. Default `/name`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = "/name"))]
    pub name: Option<S<String>>,
}

/// An `idps` entry of `type: oauth2`, exactly as written: sign-in with an
/// OAuth 2.0 provider that has no OpenID Connect (no ID token).
///
/// ```yaml
/// idps:
///   - { name: github, type: oauth2, preset: github, client_id: Iv1.x,
///       client_secret_file: secrets/github.secret }
///   - { name: fabrikam-ghes, type: oauth2, preset: github,
///       github_url: https://github.fabrikam.example, client_id: x,
///       client_secret_env: GHES_SECRET, domains: [fabrikam.example] }
///   - { name: facebook, type: oauth2, preset: facebook, client_id: "1234",
///       client_secret_file: secrets/facebook.secret }
///   - name: partner-sso
///     type: oauth2
///     authorization_url: https://sso.partner.example/oauth/authorize
///     token_url: https://sso.partner.example/oauth/token
///     userinfo_url: https://sso.partner.example/api/me
///     claims: { id: /data/uid, email: /data/mail, email_verified: /data/mail_ok }
///     client_id: portcullis
///     client_secret_file: secrets/partner.secret
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Oauth2IdpFile {
    pub name: S<String>,
    #[serde(rename = "type")]
    pub kind: S<String>,
    #[serde(default)]
    pub preset: Option<S<String>>,
    #[serde(default)]
    pub github_url: Option<S<String>>,
    #[serde(default)]
    pub authorization_url: Option<S<String>>,
    #[serde(default)]
    pub token_url: Option<S<String>>,
    #[serde(default)]
    pub userinfo_url: Option<S<String>>,
    #[serde(default)]
    pub claims: Option<S<Oauth2ClaimsFile>>,
    pub client_id: S<String>,
    #[serde(default)]
    pub client_secret_file: Option<S<String>>,
    #[serde(default)]
    pub client_secret_env: Option<S<String>>,
    #[serde(default)]
    pub client_secret: Option<S<String>>,
    #[serde(default)]
    pub scopes: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    pub domains: Vec<S<String>>,
}

/// How the provider's answers are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Oauth2Preset {
    /// GitHub or GitHub Enterprise Server: `GET {api}/user` for the numeric
    /// id and `GET {api}/user/emails` for the primary, verified e-mail.
    GitHub {
        /// The REST API's base URL, no trailing slash.
        api_url: String,
    },
    /// Facebook Login: `GET /me?fields=id,name,email` with
    /// `appsecret_proof`; the Graph API returns `email` only when it is
    /// confirmed.
    Facebook,
    /// Any provider: the userinfo answer read through JSON pointers.
    Generic,
}

/// JSON pointers into the userinfo answer (for the generic form; the
/// presets fill in their own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPointers {
    pub id: String,
    pub email: String,
    pub email_verified: String,
    pub name: String,
}

/// A checked `type: oauth2` idp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Oauth2IdpConfig {
    /// The configured name.
    pub name: String,
    /// How answers are read.
    pub preset: Oauth2Preset,
    /// Where the browser is sent.
    pub authorization_url: String,
    /// Where the code is exchanged.
    pub token_url: String,
    /// Where the profile is read with the access token.
    pub userinfo_url: String,
    /// Pointers into the userinfo answer.
    pub claims: ClaimPointers,
    /// The client id.
    pub client_id: String,
    /// Where the client secret is read from.
    pub client_secret: ClientSecretSource,
    /// Scopes requested (may be empty).
    pub scopes: Vec<String>,
    /// Lower-case e-mail domains; empty = any.
    pub domains: Vec<String>,
}

impl Oauth2IdpConfig {
    /// Home-realm discovery: does this IdP answer for `email`'s domain?
    /// False when `domains` is empty (such an IdP is chosen by name only).
    pub fn serves_email(&self, email: &str) -> bool {
        email
            .rsplit_once('@')
            .is_some_and(|(_, d)| self.domains.iter().any(|x| x.eq_ignore_ascii_case(d)))
    }

    /// The provider's name for people: on the sign-in page's button.
    pub fn brand(&self) -> String {
        match &self.preset {
            Oauth2Preset::GitHub { api_url } if api_url == GITHUB_API_URL => "GitHub".into(),
            Oauth2Preset::GitHub { .. } => {
                let host = Url::parse(&self.authorization_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default();
                format!("GitHub Enterprise ({host})")
            }
            Oauth2Preset::Facebook => "Facebook".into(),
            Oauth2Preset::Generic => self.name.clone(),
        }
    }

    /// The icon the sign-in page shows: `github`, `facebook`, or `letter`
    /// (a CSS letter mark of [`Oauth2IdpConfig::brand`]).
    pub fn icon(&self) -> &'static str {
        match self.preset {
            Oauth2Preset::GitHub { .. } => "github",
            Oauth2Preset::Facebook => "facebook",
            Oauth2Preset::Generic => "letter",
        }
    }
}

fn at<T>(s: &S<T>, message: impl Into<String>) -> Oauth2ConfigError {
    (s.referenced.line(), s.referenced.column(), message.into())
}

/// An https URL, or http to a loopback address (tests, a local relay):
/// the code, the client secret and the access token travel over it.
fn endpoint(s: &S<String>, what: &str, errors: &mut Vec<Oauth2ConfigError>) -> String {
    let v = s.value.trim().trim_end_matches('/').to_string();
    let ok = Url::parse(&v).ok().is_some_and(|u| match u.scheme() {
        "https" => u.host().is_some(),
        "http" => match u.host_str() {
            Some("localhost") => true,
            Some(h) => h
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        },
        _ => false,
    }) && !v.contains('#');
    if !ok {
        errors.push(at(
            s,
            format!("`{v}` is not a usable {what}: use an https:// URL (http:// only for a loopback address)"),
        ));
    }
    v
}

/// A JSON pointer: empty (the whole answer) or `/`-separated tokens.
fn pointer(s: &S<String>, errors: &mut Vec<Oauth2ConfigError>) -> String {
    let v = s.value.trim().to_string();
    if !v.starts_with('/') {
        errors.push(at(
            s,
            format!("`{v}` is not a JSON pointer; write it as /field or /outer/inner"),
        ));
    }
    v
}

impl Oauth2IdpFile {
    /// Checks the entry and resolves paths against `dir` (the config file's
    /// directory). Returns every problem, not just the first.
    ///
    /// Checked: `type` is `oauth2`; `preset` is `github`, `facebook` or
    /// `generic` (default); the github preset takes only `github_url`, the
    /// generic form needs the three URLs and `claims.id`; URLs are https
    /// (http only to loopback); `claims` only on the generic form; the
    /// github preset's scopes include `user:email`; one client secret
    /// source; `domains` are bare domain names.
    pub fn check(&self, dir: &Path) -> Result<Oauth2IdpConfig, Vec<Oauth2ConfigError>> {
        let mut errors = Vec::new();
        let name = self.name.value.clone();
        if self.kind.value != "oauth2" {
            errors.push(at(
                &self.kind,
                format!(
                    "idp `{name}`: expected `type: oauth2`, got `{}`",
                    self.kind.value
                ),
            ));
        }
        let preset_word = self.preset.as_ref().map(|p| p.value.trim());
        let mut urls = |field: &Option<S<String>>, what: &str| {
            field.as_ref().map(|s| endpoint(s, what, &mut errors))
        };
        let auth = urls(&self.authorization_url, "authorization_url");
        let token = urls(&self.token_url, "token_url");
        let userinfo = urls(&self.userinfo_url, "userinfo_url");
        let github = urls(&self.github_url, "github_url");

        let defaults = ClaimPointers {
            id: "/id".into(),
            email: "/email".into(),
            email_verified: "/email_verified".into(),
            name: "/name".into(),
        };
        let (preset, authorization_url, token_url, userinfo_url, claims) = match preset_word {
            Some("github") => {
                for (field, set) in [
                    ("authorization_url", &self.authorization_url),
                    ("token_url", &self.token_url),
                    ("userinfo_url", &self.userinfo_url),
                ] {
                    if let Some(s) = set {
                        errors.push(at(
                            s,
                            format!("the github preset takes `github_url` (GitHub Enterprise Server), not `{field}`"),
                        ));
                    }
                }
                let base = github.unwrap_or_else(|| GITHUB_URL.to_string());
                let api_url = if base == GITHUB_URL {
                    GITHUB_API_URL.to_string()
                } else {
                    format!("{base}/api/v3")
                };
                (
                    Oauth2Preset::GitHub {
                        api_url: api_url.clone(),
                    },
                    format!("{base}/login/oauth/authorize"),
                    format!("{base}/login/oauth/access_token"),
                    format!("{api_url}/user"),
                    defaults,
                )
            }
            Some("facebook") => {
                // The URLs may be given (tests, egress proxies); the answers
                // are still read the Facebook way.
                let v = FACEBOOK_GRAPH_VERSION;
                (
                    Oauth2Preset::Facebook,
                    auth.unwrap_or_else(|| format!("https://www.facebook.com/{v}/dialog/oauth")),
                    token.unwrap_or_else(|| {
                        format!("https://graph.facebook.com/{v}/oauth/access_token")
                    }),
                    userinfo.unwrap_or_else(|| format!("https://graph.facebook.com/{v}/me")),
                    defaults,
                )
            }
            None | Some("generic") => {
                let mut need = |v: Option<String>, field: &str| {
                    v.unwrap_or_else(|| {
                        errors.push(at(
                            &self.name,
                            format!(
                                "idp `{name}` needs `{field}` (or a `preset` of github or facebook)"
                            ),
                        ));
                        String::new()
                    })
                };
                let a = need(auth, "authorization_url");
                let t = need(token, "token_url");
                let u = need(userinfo, "userinfo_url");
                let claims = match &self.claims {
                    Some(c) => {
                        let c = &c.value;
                        let or = |p: &Option<S<String>>, d: &str, errors: &mut Vec<_>| {
                            p.as_ref().map_or(d.to_string(), |p| pointer(p, errors))
                        };
                        ClaimPointers {
                            id: pointer(&c.id, &mut errors),
                            email: or(&c.email, "/email", &mut errors),
                            email_verified: or(&c.email_verified, "/email_verified", &mut errors),
                            name: or(&c.name, "/name", &mut errors),
                        }
                    }
                    None => {
                        errors.push(at(
                            &self.name,
                            format!("idp `{name}` needs `claims: {{ id: /… }}`: where the user's stable id is in the userinfo answer"),
                        ));
                        defaults
                    }
                };
                (Oauth2Preset::Generic, a, t, u, claims)
            }
            Some(other) => {
                let p = self.preset.as_ref().map_or(&self.name, |p| p);
                errors.push(at(
                    p,
                    format!(
                        "`{other}` is not an oauth2 preset (one of: github, facebook, generic)"
                    ),
                ));
                (
                    Oauth2Preset::Generic,
                    String::new(),
                    String::new(),
                    String::new(),
                    defaults,
                )
            }
        };
        if let Some(g) = &self.github_url
            && !matches!(preset, Oauth2Preset::GitHub { .. })
        {
            errors.push(at(g, "`github_url` is for the github preset"));
        }
        if let Some(c) = &self.claims
            && preset != Oauth2Preset::Generic
        {
            errors.push(at(
                c,
                "`claims` is for the generic form; a preset reads its provider's own answer",
            ));
        }

        let client_id = self.client_id.value.trim().to_string();
        if client_id.is_empty() {
            errors.push(at(&self.client_id, "`client_id` must not be empty"));
        }
        let client_secret = SecretFields {
            name: &self.name,
            inline: self.client_secret.as_ref(),
            file: self.client_secret_file.as_ref(),
            env: self.client_secret_env.as_ref(),
        }
        .check(dir, &mut errors);

        let mut scopes: Vec<String> = Vec::new();
        match &self.scopes {
            None => scopes.extend(
                match preset {
                    Oauth2Preset::GitHub { .. } => &[GITHUB_EMAIL_SCOPE][..],
                    Oauth2Preset::Facebook => &["email"][..],
                    Oauth2Preset::Generic => &[][..],
                }
                .iter()
                .map(|s| s.to_string()),
            ),
            Some(list) => {
                for s in &list.value {
                    let t = s.value.trim();
                    if t.is_empty() || t.contains(char::is_whitespace) {
                        errors.push(at(s, format!("`{t}` is not a scope")));
                    } else if !scopes.iter().any(|x| x == t) {
                        scopes.push(t.to_string());
                    }
                }
                if matches!(preset, Oauth2Preset::GitHub { .. })
                    && !scopes
                        .iter()
                        .any(|s| s == GITHUB_EMAIL_SCOPE || s == "user")
                {
                    errors.push(at(
                        list,
                        "the github preset's `scopes` must include `user:email`: the verified e-mail comes from GET /user/emails",
                    ));
                }
            }
        }

        let mut domains = Vec::new();
        for d in &self.domains {
            match rules::mail_domain(&d.value) {
                Some(v) => domains.push(v),
                None => errors.push(at(d, rules::mail_domain_error(&d.value))),
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Oauth2IdpConfig {
            name,
            preset,
            authorization_url,
            token_url,
            userinfo_url,
            claims,
            client_id,
            client_secret,
            scopes,
            domains,
        })
    }
}
