//! A small SAML 2.0 IdP for the tests: it writes its metadata, reads our
//! `AuthnRequest` off the redirect, and answers with a `Response` shaped as
//! AD FS and Entra ID send them (exclusive C14N, RSA-SHA256, the certificate
//! in `KeyInfo`, claim-URI attributes). Signatures are made by the
//! `xmlsec1` command-line tool (Debian's `xmlsec1`), never by the code under
//! test; `scripts/test-deps` installs it.

use base64::Engine as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const EMAIL_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
pub const NAME_CLAIM: &str = "http://schemas.microsoft.com/identity/claims/displayname";
pub const GROUPS_CLAIM: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
pub const MULTIPLE_AUTHN: &str = "http://schemas.microsoft.com/claims/multipleauthn";
pub const PASSWORD_PROTECTED: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";

/// One signing key and its self-signed certificate, as files.
pub struct Key {
    pub key_pem: PathBuf,
    pub cert_pem: PathBuf,
    /// The certificate's DER in base64, as metadata carries it.
    pub cert_b64: String,
}

impl Key {
    /// An RSA-2048 key and a self-signed certificate valid for 2 days
    /// (the `openssl` command line, as an AD FS admin would make one).
    pub fn new(dir: &Path, name: &str) -> Key {
        let key_pem = dir.join(format!("{name}.key.pem"));
        let cert_pem = dir.join(format!("{name}.cert.pem"));
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", &format!("/CN={name}.idp.test")])
            .arg("-keyout")
            .arg(&key_pem)
            .arg("-out")
            .arg(&cert_pem)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = std::fs::read_to_string(&cert_pem).expect("cert");
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        Key {
            key_pem,
            cert_pem,
            cert_b64: b64,
        }
    }
}

/// The IdP: its entity id, its SSO URL and its signing key.
pub struct Idp {
    pub dir: PathBuf,
    pub entity_id: String,
    pub sso: String,
    pub key: Key,
}

/// Where the signature goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sign {
    None,
    Assertion,
    Response,
}

/// What one response says; [`Spec::new`] gives a valid one.
#[derive(Clone, Debug)]
pub struct Spec {
    pub response_id: String,
    pub assertion_id: String,
    pub issuer: String,
    pub in_response_to: Option<String>,
    pub destination: Option<String>,
    pub recipient: String,
    pub audience: String,
    pub name_id: String,
    pub name_id_format: String,
    pub email: String,
    pub groups: Vec<String>,
    pub authn_context: String,
    /// Seconds from now.
    pub not_before: i64,
    pub not_on_or_after: i64,
    pub issue_offset: i64,
    pub status: String,
    /// The attribute statement as `(Name, values)`; `None`: the e-mail,
    /// display-name and groups claims as AD FS sends them; empty: none.
    pub attributes: Option<Vec<(String, Vec<String>)>>,
}

impl Spec {
    pub fn new(
        idp: &Idp,
        entity_id: &str,
        acs: &str,
        request_id: Option<&str>,
        email: &str,
    ) -> Spec {
        Spec {
            response_id: format!("_r{}", hex(16)),
            assertion_id: format!("_a{}", hex(16)),
            issuer: idp.entity_id.clone(),
            in_response_to: request_id.map(str::to_string),
            destination: Some(acs.to_string()),
            recipient: acs.to_string(),
            audience: entity_id.to_string(),
            // Stable per person, as a persistent NameID is.
            name_id: format!(
                "pid-{}",
                email
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ),
            name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into(),
            email: email.to_string(),
            groups: vec!["Engineers".into(), "Finance".into()],
            authn_context: PASSWORD_PROTECTED.into(),
            not_before: -60,
            not_on_or_after: 300,
            issue_offset: 0,
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            attributes: None,
        }
    }
}

fn hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn instant(offset: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset);
    let t = t.replace_nanosecond(0).expect("ns");
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("rfc3339")
}

fn signature_template(reference: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{reference}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data></ds:X509Data></ds:KeyInfo></ds:Signature>"##
    )
}

/// The `<saml:Assertion>` of `s`, with a signature template when `signed`.
pub fn assertion_xml(s: &Spec, signed: bool) -> String {
    let irt = s
        .in_response_to
        .as_ref()
        .map(|i| format!(r#" InResponseTo="{i}""#))
        .unwrap_or_default();
    let attributes = match &s.attributes {
        None => attribute_statement(&[
            (EMAIL_CLAIM.into(), vec![s.email.clone()]),
            (NAME_CLAIM.into(), vec!["Ann Partner".into()]),
            (GROUPS_CLAIM.into(), s.groups.clone()),
        ]),
        Some(a) => attribute_statement(a),
    };
    let sig = if signed {
        signature_template(&s.assertion_id)
    } else {
        String::new()
    };
    format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" IssueInstant="{now}" Version="2.0"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="{nf}">{nameid}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData{irt} NotOnOrAfter="{end}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{start}" NotOnOrAfter="{end}"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>{attributes}<saml:AuthnStatement AuthnInstant="{now}" SessionIndex="{id}"><saml:AuthnContext><saml:AuthnContextClassRef>{ctx}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement></saml:Assertion>"#,
        id = s.assertion_id,
        now = instant(s.issue_offset),
        issuer = s.issuer,
        nf = s.name_id_format,
        nameid = s.name_id,
        end = instant(s.not_on_or_after),
        start = instant(s.not_before),
        recipient = s.recipient,
        aud = s.audience,
        ctx = s.authn_context,
    )
}

/// An `<saml:AttributeStatement>` of `(Name, values)`; nothing when empty
/// (the schema wants at least one attribute in a statement).
fn attribute_statement(attributes: &[(String, Vec<String>)]) -> String {
    if attributes.is_empty() {
        return String::new();
    }
    let body: String = attributes
        .iter()
        .map(|(name, values)| {
            let values: String = values
                .iter()
                .map(|v| format!("<saml:AttributeValue>{v}</saml:AttributeValue>"))
                .collect();
            format!(r#"<saml:Attribute Name="{name}">{values}</saml:Attribute>"#)
        })
        .collect();
    format!("<saml:AttributeStatement>{body}</saml:AttributeStatement>")
}

/// The whole `<samlp:Response>` around `assertion` (already built, maybe
/// already signed), with a signature template when `signed`.
pub fn response_xml(s: &Spec, assertion: &str, signed: bool) -> String {
    let irt = s
        .in_response_to
        .as_ref()
        .map(|i| format!(r#" InResponseTo="{i}""#))
        .unwrap_or_default();
    let dest = s
        .destination
        .as_ref()
        .map(|d| format!(r#" Destination="{d}""#))
        .unwrap_or_default();
    let sig = if signed {
        signature_template(&s.response_id)
    } else {
        String::new()
    };
    format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}"{dest}{irt}><saml:Issuer>{issuer}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{assertion}</samlp:Response>"#,
        id = s.response_id,
        now = instant(s.issue_offset),
        issuer = s.issuer,
        status = s.status,
    )
}

impl Idp {
    pub fn new(dir: &Path, name: &str) -> Idp {
        let dir = dir.join(format!("saml-{name}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let key = Key::new(&dir, name);
        Idp {
            entity_id: format!("http://{name}.idp.test/adfs/services/trust"),
            sso: format!("http://{name}.idp.test/adfs/ls/"),
            key,
            dir,
        }
    }

    /// The IdP's metadata listing `keys` (several during a rollover).
    pub fn metadata(&self, keys: &[&Key]) -> String {
        let kd: String = keys
            .iter()
            .map(|k| {
                format!(
                    r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                    k.cert_b64
                )
            })
            .collect();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{eid}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {kd}
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{sso}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"#,
            eid = self.entity_id,
            sso = self.sso,
        )
    }

    /// Signs the first signature template of `xml` with `key` (xmlsec1).
    pub fn sign_with(&self, xml: &str, key: &Key) -> String {
        let input = self.dir.join(format!("in-{}.xml", hex(6)));
        let output = self.dir.join(format!("out-{}.xml", hex(6)));
        std::fs::write(&input, xml).expect("write template");
        let keys = format!("{},{}", key.key_pem.display(), key.cert_pem.display());
        let out = Command::new("xmlsec1")
            .args(["--sign", "--privkey-pem", &keys])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            ])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            ])
            .arg("--output")
            .arg(&output)
            .arg(&input)
            .output()
            .expect("xmlsec1 (apt-get install xmlsec1; scripts/test-deps does)");
        assert!(
            out.status.success(),
            "xmlsec1: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let signed = std::fs::read_to_string(&output).expect("signed output");
        // xmlsec1 writes an XML declaration; the IdPs we imitate do too.
        signed
    }

    /// Whether the first `<ds:Signature>` of `xml` verifies with this IdP's
    /// certificate (the `xmlsec1` command line, IDs on Assertion and
    /// Response); `Err` carries xmlsec1's complaint. A wrapped or rewritten
    /// document that still verifies shows that its refusal is the wrapping
    /// defence's, not a broken signature's.
    pub fn signature_verifies(&self, xml: &str) -> Result<(), String> {
        let input = self.dir.join(format!("verify-{}.xml", hex(6)));
        std::fs::write(&input, xml).expect("write document");
        let out = Command::new("xmlsec1")
            .arg("--verify")
            .arg("--pubkey-cert-pem")
            .arg(&self.key.cert_pem)
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            ])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            ])
            .arg(&input)
            .output()
            .expect("xmlsec1 (apt-get install xmlsec1; scripts/test-deps does)");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub fn sign(&self, xml: &str) -> String {
        self.sign_with(xml, &self.key)
    }

    /// A complete response, signed where `sign` says, base64 for the form.
    pub fn response(&self, s: &Spec, sign: Sign) -> String {
        b64(&self.response_raw(s, sign))
    }

    pub fn response_raw(&self, s: &Spec, sign: Sign) -> String {
        match sign {
            Sign::None => response_xml(s, &assertion_xml(s, false), false),
            Sign::Assertion => {
                let a = strip_decl(&self.sign(&assertion_xml(s, true)));
                response_xml(s, &a, false)
            }
            Sign::Response => self.sign(&response_xml(s, &assertion_xml(s, false), true)),
        }
    }
}

pub fn strip_decl(xml: &str) -> String {
    match xml.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map(|(_, r)| r.trim_start().to_string())
            .unwrap_or_default(),
        None => xml.to_string(),
    }
    .trim_end()
    .to_string()
}

pub fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// The `AuthnRequest` of a redirect URL: its `ID`, `RelayState`, and
/// `AssertionConsumerServiceURL` and `Issuer` (our ACS and entity id).
pub struct Request {
    pub id: String,
    pub relay_state: Option<String>,
    pub acs: String,
    pub issuer: String,
    pub force_authn: bool,
}

pub fn read_request(url: &reqwest::Url) -> Request {
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(q.get("SAMLRequest").expect("SAMLRequest"))
        .expect("base64");
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .expect("inflate");
    let doc = roxmltree::Document::parse(&xml).expect("request XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "AuthnRequest", "{xml}");
    let issuer = root
        .children()
        .find(|n| n.tag_name().name() == "Issuer")
        .and_then(|n| n.text())
        .unwrap_or_default()
        .to_string();
    Request {
        id: root.attribute("ID").expect("ID").to_string(),
        relay_state: q.get("RelayState").cloned(),
        acs: root
            .attribute("AssertionConsumerServiceURL")
            .unwrap_or_default()
            .to_string(),
        issuer,
        force_authn: root.attribute("ForceAuthn") == Some("true"),
    }
}

/// How [`encrypt_assertion`] encrypts.
pub struct Encryption<'a> {
    /// The SP's certificate (PEM) the session key is wrapped for.
    pub cert_pem: &'a Path,
    /// `EncryptionMethod` of the data, e.g. `…xmlenc#aes256-cbc`.
    pub data: &'a str,
    /// xmlsec1's `--session-key` matching `data` (`aes-256`, `aes-128`).
    pub session_key: &'a str,
    /// Key transport, e.g. `…xmlenc#rsa-oaep-mgf1p`.
    pub transport: &'a str,
}

/// `response` (its declaration stripped) with its `<saml:Assertion>`
/// encrypted by the `xmlsec1` command line and wrapped in
/// `<saml:EncryptedAssertion>`, as AD FS and Entra ID send it.
pub fn encrypt_assertion(dir: &Path, response: &str, e: &Encryption<'_>) -> String {
    let data = dir.join(format!("enc-in-{}.xml", hex(6)));
    let template = dir.join(format!("enc-tmpl-{}.xml", hex(6)));
    let output = dir.join(format!("enc-out-{}.xml", hex(6)));
    std::fs::write(&data, response).expect("write data");
    std::fs::write(
        &template,
        format!(
            r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{}"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="{}"/><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#,
            e.data, e.transport
        ),
    )
    .expect("write template");
    let out = Command::new("xmlsec1")
        .arg("--encrypt")
        .arg("--pubkey-cert-pem")
        .arg(e.cert_pem)
        .args(["--session-key", e.session_key])
        .arg("--xml-data")
        .arg(&data)
        .args(["--node-xpath", "//*[local-name()='Assertion']"])
        .arg("--output")
        .arg(&output)
        .arg(&template)
        .output()
        .expect("xmlsec1 (apt-get install xmlsec1; scripts/test-deps does)");
    assert!(
        out.status.success(),
        "xmlsec1 --encrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let encrypted = strip_decl(&std::fs::read_to_string(&output).expect("encrypted output"));
    let start = encrypted
        .find("<xenc:EncryptedData")
        .expect("EncryptedData");
    let end =
        encrypted.rfind("</xenc:EncryptedData>").expect("end") + "</xenc:EncryptedData>".len();
    format!(
        "{}<saml:EncryptedAssertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">{}</saml:EncryptedAssertion>{}",
        &encrypted[..start],
        &encrypted[start..end],
        &encrypted[end..]
    )
}
