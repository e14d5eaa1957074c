//! `idps: - { type: saml, … }`: the attribute names as written, and
//! [`SamlIdp`], the checked form the sign-in uses.
//!
//! ```yaml
//! idps:
//!   - name: fabrikam
//!     type: saml
//!     metadata_url: https://adfs.fabrikam.example/FederationMetadata/2007-06/FederationMetadata.xml
//!     domains: [fabrikam.example]       # required: the only e-mail domains it may assert
//!     mfa: trusted                      # AuthnContextClassRef in mfa_authn_contexts counts as MFA
//!     mfa_authn_contexts: [http://schemas.microsoft.com/claims/multipleauthn]
//! ```

use super::SamlError;
use super::metadata::IdpMetadata;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// E-mail attribute names tried when the entry names none (AD FS, Entra ID).
pub const DEFAULT_EMAIL_ATTRIBUTES: &[&str] = &[
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "email",
    "mail",
];
/// Display-name attribute names tried when the entry names none.
pub const DEFAULT_NAME_ATTRIBUTES: &[&str] = &[
    "http://schemas.microsoft.com/identity/claims/displayname",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "displayName",
];
/// Given name and surname, joined when no display name came.
pub const GIVEN_NAME_ATTRIBUTE: &str =
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
pub const SURNAME_ATTRIBUTE: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
/// Group attribute names read when the entry names none (Entra ID, AD FS).
pub const DEFAULT_GROUPS_ATTRIBUTES: &[&str] = &[
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    "http://schemas.xmlsoap.org/claims/Group",
];
/// What counts as MFA with `mfa: trusted` when `mfa_authn_contexts` is not set.
pub const DEFAULT_MFA_AUTHN_CONTEXTS: &[&str] =
    &["http://schemas.microsoft.com/claims/multipleauthn"];

/// How often a `metadata_url` is fetched again.
pub const METADATA_REFRESH: Duration = Duration::from_secs(3600);

/// `attributes:` of a saml idp, as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributesFile {
    /// Attribute names holding the e-mail address, tried in order. Default:
    /// `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress`,
    /// `…/claims/upn`, `email`, `mail`; then an `emailAddress` NameID.
    #[serde(default)]
    pub email: Option<Vec<String>>,
    /// Attribute names holding the display name, tried in order. Default:
    /// `http://schemas.microsoft.com/identity/claims/displayname`,
    /// `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name`,
    /// `displayName`; then `…/claims/givenname` and `…/claims/surname`.
    #[serde(default)]
    pub name: Option<Vec<String>>,
    /// Attribute names holding group values; every value of each is read
    /// (qualified by the idp's name, as for OIDC). Default:
    /// `http://schemas.microsoft.com/ws/2008/06/identity/claims/groups`,
    /// `http://schemas.xmlsoap.org/claims/Group`.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

/// The attribute names read from an assertion.
#[derive(Clone, Debug)]
pub struct Attributes {
    pub email: Vec<String>,
    pub name: Vec<String>,
    pub groups: Vec<String>,
}

impl Attributes {
    pub fn from_file(f: Option<&AttributesFile>) -> Attributes {
        let or = |v: Option<&Vec<String>>, d: &[&str]| match v {
            Some(v) => v.clone(),
            None => d.iter().map(|s| s.to_string()).collect(),
        };
        Attributes {
            email: or(f.and_then(|f| f.email.as_ref()), DEFAULT_EMAIL_ATTRIBUTES),
            name: or(f.and_then(|f| f.name.as_ref()), DEFAULT_NAME_ATTRIBUTES),
            groups: or(f.and_then(|f| f.groups.as_ref()), DEFAULT_GROUPS_ATTRIBUTES),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataSource {
    File(PathBuf),
    Url(String),
}

/// Our optional SP key and certificate (signed AuthnRequests, encrypted
/// assertions).
#[derive(Clone)]
pub struct SpKey {
    pub key: openssl::pkey::PKey<openssl::pkey::Private>,
    pub cert_der: Vec<u8>,
}

/// A checked `type: saml` idp. The metadata of a `metadata_file` is parsed
/// with the config (a bad file fails `check` and reload); a `metadata_url`
/// is fetched when the config is loaded ([`SamlIdp::keep_fresh`]) and every
/// [`METADATA_REFRESH`], keeping the last good copy when a fetch fails.
pub struct SamlIdp {
    pub name: String,
    pub source: MetadataSource,
    /// Lower-case e-mail domains; never empty.
    pub domains: Vec<String>,
    pub attributes: Attributes,
    /// The `AuthnContextClassRef`s that count as MFA; `config::check` makes
    /// them the idp's `trust.mfa_values`, and `crate::trust` decides (with
    /// `mfa: trusted`, which lives only there).
    pub mfa_authn_contexts: Vec<String>,
    pub allow_idp_initiated: bool,
    pub sp_key: Option<SpKey>,
    /// How old a fetched `metadata_url` copy may get ([`METADATA_REFRESH`]).
    refresh: Duration,
    cached: RwLock<Option<(Arc<IdpMetadata>, Instant)>>,
    /// Set once a [`SamlIdp::keep_fresh`] task runs for this idp.
    kept_fresh: AtomicBool,
}

impl std::fmt::Debug for SamlIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlIdp")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("domains", &self.domains)
            .field("sp_key", &self.sp_key.is_some())
            .finish_non_exhaustive()
    }
}

impl SamlIdp {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        source: MetadataSource,
        file_metadata: Option<IdpMetadata>,
        domains: Vec<String>,
        attributes: Attributes,
        mfa_authn_contexts: Vec<String>,
        allow_idp_initiated: bool,
        sp_key: Option<SpKey>,
    ) -> SamlIdp {
        SamlIdp {
            name,
            source,
            domains,
            attributes,
            mfa_authn_contexts,
            allow_idp_initiated,
            sp_key,
            refresh: METADATA_REFRESH,
            cached: RwLock::new(file_metadata.map(|m| (Arc::new(m), Instant::now()))),
            kept_fresh: AtomicBool::new(false),
        }
    }

    /// For a `metadata_url`: fetches the metadata now and again every
    /// refresh interval in the background, for as long as this idp is part
    /// of a loaded config, so that sign-ins rarely wait for a fetch and a
    /// broken URL shows in the log at start. Once per idp; a file's
    /// metadata is already loaded.
    pub fn keep_fresh(self: &Arc<Self>) {
        if !matches!(self.source, MetadataSource::Url(_))
            || self.kept_fresh.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let idp = Arc::downgrade(self);
        tokio::spawn(async move {
            // A replaced config drops its idps, and the task ends with them.
            while let Some(this) = idp.upgrade() {
                if let Err(e) = this.metadata().await {
                    tracing::warn!(idp = %this.name, error = %e, "saml metadata could not be fetched; sign-ins through this idp fail until it can");
                }
                let wait = this.refresh.max(Duration::from_secs(1));
                drop(this);
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// The same idp with another refresh interval for `metadata_url` (tests
    /// use zero: every use fetches again).
    pub fn with_refresh(mut self, refresh: Duration) -> SamlIdp {
        self.refresh = refresh;
        self
    }

    /// Whether `email` is in this IdP's domains (home-realm discovery, and
    /// the only addresses it may assert).
    pub fn serves_email(&self, email: &str) -> bool {
        email
            .rsplit_once('@')
            .is_some_and(|(_, d)| self.domains.iter().any(|x| x.eq_ignore_ascii_case(d)))
    }

    /// The metadata held now (a file's, or the last fetched), without
    /// fetching; `portcullis check` reads it.
    pub fn loaded(&self) -> Option<Arc<IdpMetadata>> {
        self.cached
            .read()
            .ok()
            .and_then(|c| c.as_ref().map(|(m, _)| m.clone()))
    }

    /// The IdP's metadata: the file's, or the URL's (fetched when missing or
    /// older than [`METADATA_REFRESH`]; a failed refresh keeps the last good
    /// copy and is logged).
    pub async fn metadata(&self) -> Result<Arc<IdpMetadata>, SamlError> {
        let current = self.cached.read().ok().and_then(|c| c.clone());
        let url = match &self.source {
            MetadataSource::File(_) => {
                return current
                    .map(|(m, _)| m)
                    .ok_or_else(|| SamlError::Metadata("not loaded".into()));
            }
            MetadataSource::Url(u) => u,
        };
        if let Some((m, at)) = &current
            && at.elapsed() < self.refresh
        {
            return Ok(m.clone());
        }
        match fetch(url).await.and_then(|xml| IdpMetadata::parse(&xml)) {
            Ok(m) => {
                let m = Arc::new(m);
                if let Ok(mut c) = self.cached.write() {
                    *c = Some((m.clone(), Instant::now()));
                }
                Ok(m)
            }
            Err(e) => match current {
                Some((m, _)) => {
                    tracing::warn!(idp = %self.name, error = %e, "saml metadata refresh failed; keeping the last good copy");
                    Ok(m)
                }
                None => Err(e),
            },
        }
    }
}

/// GETs the metadata document (at most 1 MiB, 10 s).
async fn fetch(url: &str) -> Result<String, SamlError> {
    let unreachable = |e: &dyn std::fmt::Display| SamlError::Unreachable(e.to_string());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| unreachable(&e))?;
    let resp = client.get(url).send().await.map_err(|e| unreachable(&e))?;
    if !resp.status().is_success() {
        return Err(SamlError::Unreachable(format!("HTTP {}", resp.status())));
    }
    let body = resp.bytes().await.map_err(|e| unreachable(&e))?;
    if body.len() > 1 << 20 {
        return Err(SamlError::Metadata("larger than 1 MiB".into()));
    }
    String::from_utf8(body.to_vec()).map_err(|_| SamlError::Metadata("not UTF-8".into()))
}

/// One problem in a saml idp entry, at a line and column of the config
/// file (`file: None`; the caller names it) or of the metadata file the
/// entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlConfigError {
    pub file: Option<std::path::PathBuf>,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// The saml fields of an idp entry, as written (built by `config::check`).
pub struct SamlIdpFile<'a> {
    pub name: &'a Spanned<String>,
    pub metadata_url: Option<&'a Spanned<String>>,
    pub metadata_file: Option<&'a Spanned<String>>,
    pub domains: Vec<String>,
    pub domains_at: &'a Spanned<String>,
    pub attributes: Option<&'a AttributesFile>,
    pub mfa_authn_contexts: Option<&'a Vec<Spanned<String>>>,
    pub allow_idp_initiated: bool,
    pub sp_key_file: Option<&'a Spanned<String>>,
    pub sp_cert_file: Option<&'a Spanned<String>>,
}

fn at<T>(s: &Spanned<T>, message: impl Into<String>) -> SamlConfigError {
    SamlConfigError {
        file: None,
        line: s.referenced.line(),
        column: s.referenced.column(),
        message: message.into(),
    }
}

impl SamlIdpFile<'_> {
    /// Checks the entry; `dir` is the config file's folder. Errors in the
    /// metadata file carry that file's path and position in the message.
    pub fn check(self, dir: &std::path::Path) -> Result<SamlIdp, Vec<SamlConfigError>> {
        let mut errors = Vec::new();
        let name = self.name.value.clone();
        if self.domains.is_empty() {
            errors.push(at(
                self.domains_at,
                format!(
                    "idp `{name}` of type saml needs `domains`: the e-mail domains it may assert"
                ),
            ));
        }
        let (source, file_metadata) = match (self.metadata_url, self.metadata_file) {
            (Some(u), None)
                if u.value.starts_with("https://") || u.value.starts_with("http://") =>
            {
                (MetadataSource::Url(u.value.clone()), None)
            }
            (Some(u), None) => {
                errors.push(at(u, "`metadata_url` must be an http(s) URL"));
                return Err(errors);
            }
            (None, Some(f)) => {
                let path = dir.join(&f.value);
                match std::fs::read_to_string(&path) {
                    Ok(xml) => match IdpMetadata::parse_positioned(&xml) {
                        Ok(m) => (MetadataSource::File(path), Some(m)),
                        Err(e) => {
                            // At its place in the metadata file.
                            errors.push(SamlConfigError {
                                file: Some(path),
                                line: u64::from(e.line),
                                column: u64::from(e.column),
                                message: format!("{} (metadata of idp `{name}`)", e.message),
                            });
                            return Err(errors);
                        }
                    },
                    Err(e) => {
                        errors.push(at(
                            f,
                            format!(
                                "metadata file `{}` cannot be read ({e}; paths are relative to the config file)",
                                path.display()
                            ),
                        ));
                        return Err(errors);
                    }
                }
            }
            _ => {
                errors.push(at(
                    self.name,
                    format!("idp `{name}` of type saml needs exactly one of `metadata_url` or `metadata_file`"),
                ));
                return Err(errors);
            }
        };
        let sp_key = match (self.sp_key_file, self.sp_cert_file) {
            (None, None) => None,
            (Some(k), Some(c)) => match load_sp_key(&dir.join(&k.value), &dir.join(&c.value)) {
                Ok(key) => Some(key),
                Err(e) => {
                    errors.push(at(k, e));
                    None
                }
            },
            (Some(k), None) => {
                errors.push(at(k, "`sp_key_file` needs `sp_cert_file`"));
                None
            }
            (None, Some(c)) => {
                errors.push(at(c, "`sp_cert_file` needs `sp_key_file`"));
                None
            }
        };
        let mfa_authn_contexts = match self.mfa_authn_contexts {
            Some(list) => list.iter().map(|s| s.value.clone()).collect(),
            None => DEFAULT_MFA_AUTHN_CONTEXTS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(SamlIdp::new(
            name,
            source,
            file_metadata,
            self.domains,
            Attributes::from_file(self.attributes),
            mfa_authn_contexts,
            self.allow_idp_initiated,
            sp_key,
        ))
    }
}

fn load_sp_key(key: &std::path::Path, cert: &std::path::Path) -> Result<SpKey, String> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("`{}` cannot be read: {e}", p.display()))
    };
    let key_pem = read(key)?;
    let cert_pem = read(cert)?;
    let key = openssl::pkey::PKey::private_key_from_pem(&key_pem)
        .map_err(|_| format!("`{}` is not a PEM private key", key.display()))?;
    let x509 = openssl::x509::X509::from_pem(&cert_pem)
        .map_err(|_| format!("`{}` is not a PEM certificate", cert.display()))?;
    let matches = x509
        .public_key()
        .map(|p| p.public_eq(&key))
        .unwrap_or(false);
    if !matches {
        return Err("`sp_cert_file` is not the certificate of `sp_key_file`".into());
    }
    let cert_der = x509
        .to_der()
        .map_err(|_| format!("`{}` cannot be encoded", cert.display()))?;
    Ok(SpKey { key, cert_der })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn metadata_xml() -> String {
        use base64::Engine as _;
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["idp.test".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.der());
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.test/"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        )
    }

    /// A metadata server on loopback that answers 500 once `fail` is set.
    async fn serve(fail: Arc<AtomicBool>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let body = metadata_xml();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let reply = if fail.load(Ordering::SeqCst) {
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/samlmetadata+xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = sock.write_all(reply.as_bytes()).await;
            }
        });
        format!("http://{addr}/FederationMetadata.xml")
    }

    fn idp(url: &str) -> SamlIdp {
        SamlIdp::new(
            "partner".into(),
            MetadataSource::Url(url.into()),
            None,
            vec!["partner.example".into()],
            Attributes::from_file(None),
            Vec::new(),
            false,
            None,
        )
        .with_refresh(Duration::ZERO)
    }

    #[tokio::test]
    async fn metadata_url_keeps_the_last_good_copy_when_a_refresh_fails() {
        let fail = Arc::new(AtomicBool::new(false));
        let url = serve(fail.clone()).await;
        let fetched = idp(&url);
        let first = fetched.metadata().await.expect("first fetch");
        assert_eq!(first.entity_id, "https://idp.test/");
        fail.store(true, Ordering::SeqCst);
        let kept = fetched.metadata().await.expect("last good copy");
        assert!(Arc::ptr_eq(&first, &kept));
        // Without a good copy, a failed fetch is an error (sign-in refused).
        assert!(matches!(
            idp(&url).metadata().await,
            Err(SamlError::Unreachable(_))
        ));
    }

    /// A `metadata_url` is fetched as soon as the config is loaded, not on
    /// the first sign-in, and the task ends with the idp.
    #[tokio::test]
    async fn keep_fresh_fetches_at_once_and_ends_with_the_idp() {
        let url = serve(Arc::new(AtomicBool::new(false))).await;
        let fetched = Arc::new(idp(&url).with_refresh(METADATA_REFRESH));
        assert!(fetched.loaded().is_none());
        fetched.keep_fresh();
        fetched.keep_fresh(); // a second call starts no second task
        let deadline = Instant::now() + Duration::from_secs(10);
        while fetched.loaded().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            fetched
                .loaded()
                .expect("fetched in the background")
                .entity_id,
            "https://idp.test/"
        );
        let weak = Arc::downgrade(&fetched);
        drop(fetched);
        // The task lets go of the idp as soon as its fetch has returned.
        let deadline = Instant::now() + Duration::from_secs(5);
        while weak.strong_count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            weak.strong_count(),
            0,
            "the task keeps no idp alive while it waits"
        );
    }
}
