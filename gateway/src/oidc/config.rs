//! `idps: - { type: oidc, … }`: the file type as the operator wrote it, and
//! [`OidcIdpConfig`], the checked form [`super::OidcClient`] is built from.

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::path::{Path, PathBuf};

type S<T> = Spanned<T>;

/// One problem in an `oidc` idp entry: `(line, column, message)`, 1-based,
/// positions as in the config file. The caller adds the file name.
pub type OidcConfigError = (u64, u64, String);

/// Scopes requested when the entry names none.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "email", "profile"];

/// The claim read for group names when `groups_claim` is not set.
pub const DEFAULT_GROUPS_CLAIM: &str = "groups";

/// Entra ID's issuer template for multi-tenant apps; `{tenantid}` is the `tid`
/// claim of the ID token.
pub const MICROSOFT_ISSUER_TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
const MICROSOFT_DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/organizations/v2.0";
/// Authorities whose tokens come from many tenants (`{tenantid}` issuer).
const MICROSOFT_MULTI_TENANT: &[&str] = &["common", "organizations"];
/// The tenant of personal Microsoft accounts (Outlook.com, Xbox, …): its
/// users' addresses are the account's own, verified by Microsoft.
pub const MICROSOFT_CONSUMERS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// The issuer the `consumers` authority's discovery document names (a
/// fixed tenant, not the `{tenantid}` template).
pub const MICROSOFT_CONSUMERS_ISSUER: &str =
    "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// An `idps` entry of `type: oidc`, exactly as written (sign-in with a
/// partner's OpenID Provider, authorization code flow with PKCE).
///
/// ```yaml
/// idps:
///   - name: contoso
///     type: oidc
///     issuer: https://login.contoso.example     # exact string, as the IdP's discovery says
///     client_id: portcullis
///     client_secret_file: secrets/contoso.secret  # or client_secret_env: CONTOSO_SECRET
///     scopes: [openid, email, profile]          # the default
///     domains: [contoso.example]                # home-realm discovery; e-mails must be in them
///     groups_claim: groups                      # the default
///     mfa: untrusted                            # trusted: believe the IdP's amr for MFA
///     preset: generic                           # microsoft | google | generic (default)
///     discovery_url: https://…/.well-known/openid-configuration  # default: the issuer's
///     tenants: [<tenant id>]                    # microsoft: tenants allowed (default any)
///     hosted_domains: [fabrikam.com]            # google: Workspace domains only
/// ```
///
/// Fields are public so that `config.rs` can build one from its own idp file
/// type; [`OidcIdpFile::check`] turns it into an [`OidcIdpConfig`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIdpFile {
    /// The idp's name in metrics, logs, `SessionClaims::idp` and callbacks.
    pub name: S<String>,
    /// Must be `oidc`.
    #[serde(rename = "type")]
    pub kind: S<String>,
    /// `microsoft`, `google` or `generic` (default); fills in the issuer and
    /// the issuer/domain checks of those providers.
    #[serde(default)]
    pub preset: Option<S<String>>,
    /// The issuer, byte for byte as the IdP's discovery document says (no
    /// added trailing slash). Optional for the `google` and `microsoft`
    /// presets.
    #[serde(default)]
    pub issuer: Option<S<String>>,
    /// The client id registered at the IdP.
    pub client_id: S<String>,
    /// A file (relative to the config file) holding the client secret.
    #[serde(default)]
    pub client_secret_file: Option<S<String>>,
    /// An environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<S<String>>,
    /// Never accepted: secrets do not belong in a reviewed config file. Read
    /// only to say so at the right line.
    #[serde(default)]
    pub client_secret: Option<S<String>>,
    /// Scopes to request; must include `openid`. Default
    /// [`DEFAULT_SCOPES`].
    #[serde(default)]
    pub scopes: Option<S<Vec<S<String>>>>,
    /// E-mail domains this IdP answers for (home-realm discovery). When set,
    /// a sign-in whose e-mail is in another domain is refused.
    #[serde(default)]
    pub domains: Vec<S<String>>,
    /// The claim holding group names; default [`DEFAULT_GROUPS_CLAIM`].
    #[serde(default)]
    pub groups_claim: Option<S<String>>,
    /// `trusted`: an `amr` with a second factor counts as MFA. `untrusted`
    /// (default): Portcullis asks for its own second factor.
    #[serde(default)]
    pub mfa: Option<S<String>>,
    /// Where the discovery document is read (its whole URL); default the
    /// issuer's (`{issuer}/.well-known/openid-configuration`).
    #[serde(default)]
    pub discovery_url: Option<S<String>>,
    /// `microsoft` preset: the tenant ids whose users may sign in.
    #[serde(default)]
    pub tenants: Vec<S<String>>,
    /// `google` preset: only Workspace accounts with one of these `hd`.
    #[serde(default)]
    pub hosted_domains: Vec<S<String>>,
}

/// Which provider quirks apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Any OpenID Provider; the issuer is exact.
    Generic,
    /// Entra ID. A multi-tenant authority (`common`, `organizations`,
    /// `consumers`) is checked against [`MICROSOFT_ISSUER_TEMPLATE`] with the
    /// token's `tid`.
    Microsoft,
    /// Google. With `hosted_domains`, the ID token's `hd` (Workspace
    /// domain) must be one of them; without, consumer accounts (no `hd`)
    /// sign in too.
    Google,
}

/// Where the client secret comes from; read when the client is built, so a
/// rotated secret is picked up by a reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientSecretSource {
    /// A file; surrounding whitespace is ignored.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl ClientSecretSource {
    /// Reads the secret; the error says which source failed (never the secret).
    pub fn read(&self) -> Result<String, String> {
        let s = match self {
            ClientSecretSource::File(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read client secret file {}: {e}", p.display()))?,
            ClientSecretSource::Env(v) => std::env::var(v)
                .map_err(|_| format!("environment variable `{v}` (client secret) is not set"))?,
        };
        let s = s.trim().to_string();
        if s.is_empty() {
            return Err("the client secret is empty".into());
        }
        Ok(s)
    }
}

/// Whether the IdP's own MFA claims are believed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MfaTrust {
    /// `amr` values naming a second factor make [`super::Identity::mfa`] true.
    Trusted,
    /// `amr` is recorded but never counts as MFA (the default): a partner's
    /// claim about its own MFA is not evidence.
    #[default]
    Untrusted,
}

/// A checked `type: oidc` idp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcIdpConfig {
    /// The configured name.
    pub name: String,
    /// Provider quirks.
    pub preset: Preset,
    /// The discovery document's whole URL (default
    /// `{issuer}/.well-known/openid-configuration`; for Microsoft the
    /// authority's).
    pub discovery_url: String,
    /// The issuer as it must appear in ID tokens and the `iss` response
    /// parameter. For Entra multi-tenant it is [`MICROSOFT_ISSUER_TEMPLATE`]
    /// (`{tenantid}` is replaced with the token's `tid`).
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// Where the client secret is read from.
    pub client_secret: ClientSecretSource,
    /// Scopes requested; always contains `openid`.
    pub scopes: Vec<String>,
    /// Lower-case e-mail domains; empty = any.
    pub domains: Vec<String>,
    /// The claim with group names.
    pub groups_claim: String,
    /// Whether `amr` counts as MFA.
    pub mfa: MfaTrust,
    /// `microsoft`: the lower-case tenant ids allowed; empty = any.
    pub tenants: Vec<String>,
    /// `google`: the Workspace domains (`hd`) allowed; empty = any account.
    pub hosted_domains: Vec<String>,
}

impl OidcIdpConfig {
    /// True when the multi-tenant Entra issuer template is in use.
    pub fn issuer_is_template(&self) -> bool {
        self.issuer.contains("{tenantid}")
    }

    /// Is `iss` this IdP's issuer? For Entra multi-tenant, `iss` must be the
    /// template with the token's `tid` (when `tid` is known) or with some
    /// tenant id (for the `iss` response parameter).
    pub(crate) fn issuer_matches(&self, iss: &str, tid: Option<&str>) -> bool {
        let expected = &self.issuer;
        if self.issuer_is_template() {
            let (prefix, suffix) = expected
                .split_once("{tenantid}")
                .unwrap_or((expected.as_str(), ""));
            let Some(tenant) = iss
                .strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(suffix))
            else {
                return false;
            };
            return is_guid(tenant) && tid.is_none_or(|t| t == tenant);
        }
        if iss == expected {
            // A fixed Microsoft issuer (one tenant, or the consumers
            // tenant) names its tenant too: `tid` must be that one.
            if self.preset == Preset::Microsoft
                && let Some(t) = tid
                && let Some(tenant) = microsoft_tenant_of(iss)
            {
                return tenant.eq_ignore_ascii_case(t);
            }
            return true;
        }
        // Google documents both forms for its ID tokens.
        self.preset == Preset::Google && iss == "accounts.google.com"
    }

    /// Home-realm discovery: does this IdP answer for `email`'s domain?
    /// False when `domains` is empty (such an IdP is chosen by name only).
    pub fn serves_email(&self, email: &str) -> bool {
        email
            .rsplit_once('@')
            .is_some_and(|(_, d)| self.domains.iter().any(|x| x.eq_ignore_ascii_case(d)))
    }
}

/// The client-secret fields of an IdP entry, as written (`type: oidc` and
/// `type: oauth2` alike).
pub struct SecretFields<'a> {
    pub name: &'a S<String>,
    pub inline: Option<&'a S<String>>,
    pub file: Option<&'a S<String>>,
    pub env: Option<&'a S<String>>,
}

impl SecretFields<'_> {
    /// Exactly one of `client_secret_file` (must exist) and
    /// `client_secret_env`; never an inline secret.
    pub(crate) fn check(
        &self,
        dir: &Path,
        errors: &mut Vec<OidcConfigError>,
    ) -> ClientSecretSource {
        let name = &self.name.value;
        if let Some(s) = self.inline {
            errors.push(at(
            s,
            "do not put the client secret in the config file; use `client_secret_file` or `client_secret_env`",
        ));
        }
        match (self.file, self.env) {
            (Some(f), None) => {
                let p = dir.join(&f.value);
                if !p.is_file() {
                    errors.push(at(
                    f,
                    format!(
                        "client secret file `{}` does not exist (paths are relative to the config file)",
                        p.display()
                    ),
                ));
                }
                ClientSecretSource::File(p)
            }
            (None, Some(e)) => {
                let v = e.value.trim();
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    errors.push(at(
                        e,
                        format!("`{v}` is not an environment variable name (letters, digits, _)"),
                    ));
                }
                ClientSecretSource::Env(v.to_string())
            }
            (Some(f), Some(_)) => {
                errors.push(at(
                f,
                format!("idp `{name}`: give one of `client_secret_file` or `client_secret_env`, not both"),
            ));
                ClientSecretSource::Env(String::new())
            }
            (None, None) => {
                if self.inline.is_none() {
                    errors.push(at(
                        self.name,
                        format!("idp `{name}` needs `client_secret_file` or `client_secret_env`"),
                    ));
                }
                ClientSecretSource::Env(String::new())
            }
        }
    }
}

fn at<T>(s: &S<T>, message: impl Into<String>) -> OidcConfigError {
    (s.referenced.line(), s.referenced.column(), message.into())
}

/// The tenant id in a Microsoft v2.0 issuer
/// (`https://login.microsoftonline.com/{tenant}/v2.0`), when it is a GUID.
pub(crate) fn microsoft_tenant_of(iss: &str) -> Option<&str> {
    let (prefix, suffix) = MICROSOFT_ISSUER_TEMPLATE.split_once("{tenantid}")?;
    iss.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(suffix))
        .filter(|t| is_guid(t))
}

/// A GUID as Entra writes tenant ids: 8-4-4-4-12 hex digits.
pub(crate) fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && openidconnect::url::Url::parse(s).is_ok_and(|u| u.host().is_some())
}

impl OidcIdpFile {
    /// Checks the entry and resolves paths against `dir` (the config file's
    /// directory). Returns every problem, not just the first.
    ///
    /// Checked: `type` is `oidc`; exactly one of `client_secret_file` (must
    /// exist) or `client_secret_env` (an inline `client_secret` is an error);
    /// the issuer is an http(s) URL (required for `generic`); `scopes`
    /// include `openid`; `domains` are bare domain names; `mfa` and `preset`
    /// are known words. An environment variable is only read when the client
    /// is built (so `portcullis check` runs without secrets).
    pub fn check(&self, dir: &Path) -> Result<OidcIdpConfig, Vec<OidcConfigError>> {
        let mut errors = Vec::new();
        let name = self.name.value.clone();
        if self.kind.value != "oidc" {
            errors.push(at(
                &self.kind,
                format!(
                    "idp `{name}`: expected `type: oidc`, got `{}`",
                    self.kind.value
                ),
            ));
        }
        let preset = match self.preset.as_ref().map(|p| p.value.as_str()) {
            None | Some("generic") => Preset::Generic,
            Some("microsoft") => Preset::Microsoft,
            Some("google") => Preset::Google,
            Some(other) => {
                let p = self.preset.as_ref().expect("matched Some");
                errors.push(at(
                    p,
                    format!("`{other}` is not a preset (one of: microsoft, google, generic)"),
                ));
                Preset::Generic
            }
        };

        let given = self.issuer.as_ref().map(|i| i.value.trim().to_string());
        if let (Some(i), Some(s)) = (&given, &self.issuer)
            && !is_http_url(i)
        {
            errors.push(at(
                s,
                format!("`{i}` is not an issuer URL; use the IdP's issuer such as https://login.example.com"),
            ));
        }
        let (authority, issuer) = match (preset, given) {
            (Preset::Generic, Some(i)) => (i.clone(), i),
            (Preset::Generic, None) => {
                errors.push(at(
                    &self.name,
                    format!("idp `{name}` needs `issuer` (or a `preset` of microsoft or google)"),
                ));
                (String::new(), String::new())
            }
            (Preset::Google, None) => (GOOGLE_ISSUER.to_string(), GOOGLE_ISSUER.to_string()),
            (Preset::Google, Some(i)) => {
                if i != GOOGLE_ISSUER {
                    let s = self.issuer.as_ref().expect("given");
                    errors.push(at(
                        s,
                        format!("the google preset's issuer is `{GOOGLE_ISSUER}`; remove `issuer` or use that"),
                    ));
                }
                (GOOGLE_ISSUER.to_string(), GOOGLE_ISSUER.to_string())
            }
            (Preset::Microsoft, i) => {
                let authority = i.unwrap_or_else(|| MICROSOFT_DEFAULT_AUTHORITY.to_string());
                let tenant = authority
                    .strip_prefix("https://login.microsoftonline.com/")
                    .and_then(|r| r.strip_suffix("/v2.0"));
                match tenant {
                    Some(t) if MICROSOFT_MULTI_TENANT.contains(&t) => {
                        (authority, MICROSOFT_ISSUER_TEMPLATE.to_string())
                    }
                    // Personal accounts: the document names the fixed
                    // consumers tenant, not the template.
                    Some("consumers") => (authority, MICROSOFT_CONSUMERS_ISSUER.to_string()),
                    Some(t) if !t.is_empty() && !t.contains('/') => (authority.clone(), authority),
                    _ => {
                        let s = self.issuer.as_ref().expect("the default authority parses");
                        errors.push(at(
                            s,
                            "a microsoft issuer is https://login.microsoftonline.com/TENANT/v2.0 (TENANT: a tenant id, organizations, common or consumers)",
                        ));
                        (String::new(), String::new())
                    }
                }
            }
        };

        let discovery_url = match &self.discovery_url {
            Some(d) => {
                let v = d.value.trim().to_string();
                if !is_http_url(&v) {
                    errors.push(at(
                        d,
                        format!("`{v}` is not a URL; give the discovery document's whole URL, such as https://login.example.com/.well-known/openid-configuration"),
                    ));
                }
                v
            }
            None if authority.is_empty() => String::new(),
            None => format!("{}{WELL_KNOWN}", authority.trim_end_matches('/')),
        };

        let mut tenants = Vec::new();
        for t in &self.tenants {
            let v = t.value.trim().to_ascii_lowercase();
            if preset != Preset::Microsoft {
                errors.push(at(t, "`tenants` is for the microsoft preset"));
            } else if !is_guid(&v) {
                errors.push(at(
                    t,
                    format!("`{v}` is not a tenant id; use the directory (tenant) id, a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47"),
                ));
            } else if !tenants.contains(&v) {
                tenants.push(v);
            }
        }
        let mut hosted_domains = Vec::new();
        for d in &self.hosted_domains {
            if preset != Preset::Google {
                errors.push(at(d, "`hosted_domains` is for the google preset"));
                continue;
            }
            match rules::mail_domain(&d.value) {
                Some(v) => hosted_domains.push(v),
                None => errors.push(at(d, rules::mail_domain_error(&d.value))),
            }
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

        let scopes: Vec<String> = match &self.scopes {
            None => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            Some(list) => {
                let mut v = Vec::new();
                for s in &list.value {
                    let t = s.value.trim();
                    if t.is_empty() || t.contains(char::is_whitespace) {
                        errors.push(at(s, format!("`{t}` is not a scope")));
                    } else if !v.iter().any(|x| x == t) {
                        v.push(t.to_string());
                    }
                }
                if !v.iter().any(|s| s == "openid") {
                    errors.push(at(
                        list,
                        "`scopes` must include `openid` (without it there is no ID token)",
                    ));
                }
                v
            }
        };

        let mut domains = Vec::new();
        for d in &self.domains {
            match rules::mail_domain(&d.value) {
                Some(v) => domains.push(v),
                None => errors.push(at(d, rules::mail_domain_error(&d.value))),
            }
        }

        let groups_claim = self
            .groups_claim
            .as_ref()
            .map_or(DEFAULT_GROUPS_CLAIM.to_string(), |g| {
                g.value.trim().to_string()
            });
        if groups_claim.is_empty() {
            let g = self.groups_claim.as_ref().expect("default is not empty");
            errors.push(at(g, "`groups_claim` must not be empty"));
        }

        let mfa = match self.mfa.as_ref().map(|m| m.value.as_str()) {
            None | Some("untrusted") => MfaTrust::Untrusted,
            Some("trusted") => MfaTrust::Trusted,
            Some(other) => {
                let m = self.mfa.as_ref().expect("matched Some");
                errors.push(at(
                    m,
                    format!("`{other}` is not an mfa setting (one of: trusted, untrusted)"),
                ));
                MfaTrust::Untrusted
            }
        };

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(OidcIdpConfig {
            name,
            preset,
            discovery_url,
            issuer,
            client_id,
            client_secret,
            scopes,
            domains,
            groups_claim,
            mfa,
            tenants,
            hosted_domains,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn check(yaml: &str, dir: &Path) -> Result<OidcIdpConfig, Vec<OidcConfigError>> {
        serde_saphyr::from_str::<OidcIdpFile>(yaml)
            .expect("parses")
            .check(dir)
    }

    #[test]
    fn oidc_config_defaults_and_presets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s"), "secret\n").unwrap();
        let c = check(
            "name: p\ntype: oidc\nissuer: http://127.0.0.1:9\nclient_id: c\nclient_secret_file: s\ndomains: [Partner.Example]\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(c.scopes, ["openid", "email", "profile"]);
        assert_eq!(c.issuer, "http://127.0.0.1:9");
        assert_eq!(c.groups_claim, "groups");
        assert_eq!(c.mfa, MfaTrust::Untrusted);
        assert_eq!(c.domains, ["partner.example"]);
        assert!(c.serves_email("bob@PARTNER.example"));
        assert_eq!(c.client_secret.read().unwrap(), "secret");

        let ms = check(
            "name: ms\ntype: oidc\npreset: microsoft\nclient_id: c\nclient_secret_env: MS\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(ms.issuer, MICROSOFT_ISSUER_TEMPLATE);
        assert!(ms.issuer_is_template());
        assert_eq!(
            ms.discovery_url,
            format!("{MICROSOFT_DEFAULT_AUTHORITY}{WELL_KNOWN}")
        );
        let consumers = check(
            "name: msa\ntype: oidc\npreset: microsoft\nissuer: https://login.microsoftonline.com/consumers/v2.0\nclient_id: c\nclient_secret_env: MS\ndiscovery_url: http://127.0.0.1:9/.well-known/openid-configuration\ntenants: [9188040D-6C67-4C5B-B112-36A304B66DAD]\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(consumers.issuer, MICROSOFT_CONSUMERS_ISSUER);
        assert!(!consumers.issuer_is_template());
        assert_eq!(
            consumers.discovery_url,
            "http://127.0.0.1:9/.well-known/openid-configuration"
        );
        assert_eq!(consumers.tenants, [MICROSOFT_CONSUMERS_TENANT]);
        let single = check(
            "name: ms\ntype: oidc\npreset: microsoft\nissuer: https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0\nclient_id: c\nclient_secret_env: MS\n",
            dir.path(),
        )
        .unwrap();
        assert!(!single.issuer_is_template());
        let g = check(
            "name: g\ntype: oidc\npreset: google\nclient_id: c\nclient_secret_env: G\nmfa: trusted\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(g.issuer, GOOGLE_ISSUER);
        assert_eq!(g.mfa, MfaTrust::Trusted);
    }

    #[test]
    fn oidc_config_reports_every_error_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let errs = check(
            "name: p\ntype: oidc\nissuer: login.example\nclient_id: c\nclient_secret: hunter2\nscopes: [email]\ndomains: ['@x.com']\nmfa: maybe\npreset: okta\n",
            dir.path(),
        )
        .unwrap_err();
        let lines: Vec<u64> = errs.iter().map(|e| e.0).collect();
        assert_eq!(lines, [9, 3, 5, 6, 7, 8], "{errs:?}");
        assert!(errs[2].2.contains("client_secret_file"), "{errs:?}");

        let errs = check(
            "name: p\ntype: oidc\nclient_id: c\nclient_secret_file: missing\n",
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].2.contains("needs `issuer`"));
        assert!(errs[1].2.contains("does not exist"));

        let unknown = serde_saphyr::from_str::<OidcIdpFile>(
            "name: p\ntype: oidc\nclient_id: c\nissuers: x\n",
        );
        assert!(unknown.is_err());
    }
}
