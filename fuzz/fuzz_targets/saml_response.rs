//! SAML responses against the gateway's verifier (`saml::verify::response`,
//! with `saml::decrypt` for encrypted assertions): the code between an
//! IdP's form post and a signed-in person.
//!
//! At start-up (and again every minute, as the response's instants age)
//! the target makes an IdP key and certificate (OpenSSL), its metadata, and
//! one valid response for our SP, its assertion signed by libxmlsec1
//! (samael's signer), so the happy path is reachable. Inputs
//! (first byte = mode):
//! - 0: the rest as the `SAMLResponse` form value (base64 or not);
//! - 1: the rest as the XML document (base64-encoded for it);
//! - 2: the valid response with letters of its signed text (NameID, the
//!   e-mail, group values, Issuer, Audience) replaced, at positions and by
//!   letters the rest chooses;
//! - 3: the valid response with its assertion swapped for an
//!   `EncryptedAssertion` whose key and data ciphertexts are the rest.
//!
//! Properties:
//! - nothing panics, whatever the bytes;
//! - the untouched valid response verifies (so the others are refused for
//!   what was changed) and reads back the e-mail it was signed with;
//! - any verified document has a `SignatureValue`, no DTD and no comment,
//!   and the e-mail read is in it (read from the document, not made up);
//! - a changed letter in signed text is always refused ("see what is
//!   signed": XSW and the comment-truncation CVE-2017-11427 class);
//! - random ciphertext never verifies.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use portcullis::saml::config::SpKey;
use portcullis::saml::{Attributes, Expected, IdpMetadata, MetadataSource, SamlIdp};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ENTITY: &str = "http://auth.test/.portcullis/saml/fabrikam/metadata";
const ACS: &str = "http://auth.test/.portcullis/saml/fabrikam/acs";
const REQ: &str = "_0123456789abcdef0123456789abcdef";
const IDP: &str = "http://fabrikam.idp.test/adfs/services/trust";
const EMAIL: &str = "ann@fabrikam.example";

struct Fixture {
    idp: SamlIdp,
    md: IdpMetadata,
    /// A valid response (the assertion signed), as XML.
    valid: String,
    /// Byte ranges of signed text in `valid` whose letters mode 2 changes.
    texts: Vec<std::ops::Range<usize>>,
}

fn key_and_cert(
    cn: &str,
) -> (
    openssl::pkey::PKey<openssl::pkey::Private>,
    openssl::x509::X509,
) {
    let rsa = openssl::rsa::Rsa::generate(2048).expect("rsa");
    let key = openssl::pkey::PKey::from_rsa(rsa).expect("pkey");
    let mut name = openssl::x509::X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", cn).expect("cn");
    let name = name.build();
    let mut b = openssl::x509::X509Builder::new().expect("x509");
    b.set_version(2).expect("version");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).expect("time"))
        .expect("not before");
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(30).expect("time"))
        .expect("not after");
    let serial = openssl::bn::BigNum::from_u32(1)
        .and_then(|n| n.to_asn1_integer())
        .expect("serial");
    b.set_serial_number(&serial).expect("serial");
    b.sign(&key, openssl::hash::MessageDigest::sha256())
        .expect("sign");
    (key, b.build())
}

fn instant(offset: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset);
    t.replace_nanosecond(0)
        .expect("ns")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("rfc3339")
}

/// The valid response's instants age: samael refuses an assertion issued
/// more than 90 s ago, so the fixture is made again every minute.
const FIXTURE_AGE: Duration = Duration::from_secs(60);
static FIXTURE: Mutex<Option<(Instant, Arc<Fixture>)>> = Mutex::new(None);

fn fixture() -> Arc<Fixture> {
    let mut held = FIXTURE.lock().unwrap_or_else(|e| e.into_inner());
    match &*held {
        Some((at, f)) if at.elapsed() < FIXTURE_AGE => f.clone(),
        _ => {
            let f = Arc::new(make_fixture());
            *held = Some((Instant::now(), f.clone()));
            f
        }
    }
}

fn make_fixture() -> Fixture {
    let (idp_key, idp_cert) = key_and_cert("fabrikam.idp.test");
    let (sp_key, sp_cert) = key_and_cert("sp.test");
    let cert_b64 =
        base64::engine::general_purpose::STANDARD.encode(idp_cert.to_der().expect("der"));
    let md = IdpMetadata::parse(&format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{IDP}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="http://fabrikam.idp.test/adfs/ls/"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    ))
    .expect("metadata");
    let idp = SamlIdp::new(
        "fabrikam".into(),
        MetadataSource::File("md.xml".into()),
        Some(md.clone()),
        vec!["fabrikam.example".into()],
        Attributes::from_file(None),
        Vec::new(),
        false,
        Some(SpKey {
            key: sp_key,
            cert_der: sp_cert.to_der().expect("der"),
        }),
    );
    let (now, start, end) = (instant(0), instant(-60), instant(3600));
    let assertion = format!(
        r##"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" IssueInstant="{now}" Version="2.0"><saml:Issuer>{IDP}</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_a1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">pidannfabrikam</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="{REQ}" NotOnOrAfter="{end}" Recipient="{ACS}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{start}" NotOnOrAfter="{end}"><saml:AudienceRestriction><saml:Audience>{ENTITY}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AttributeStatement><saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"><saml:AttributeValue>{EMAIL}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"><saml:AttributeValue>Engineers</saml:AttributeValue></saml:Attribute></saml:AttributeStatement><saml:AuthnStatement AuthnInstant="{now}" SessionIndex="_a1"><saml:AuthnContext><saml:AuthnContextClassRef>http://schemas.microsoft.com/claims/multipleauthn</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement></saml:Assertion>"##
    );
    use samael::crypto::CryptoProvider as _;
    let signed =
        samael::crypto::Crypto::sign_xml(&assertion, &idp_key.private_key_to_der().expect("der"))
            .expect("xmlsec signs the assertion");
    let signed = match signed.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map(|(_, r)| r.trim_start().to_string())
            .unwrap_or_default(),
        None => signed,
    };
    let valid = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="{now}" Destination="{ACS}" InResponseTo="{REQ}"><saml:Issuer>{IDP}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{}</samlp:Response>"#,
        signed.trim_end()
    );
    let a = valid.find("<saml:Assertion").expect("assertion");
    let texts = [
        "pidannfabrikam",
        EMAIL,
        "Engineers",
        "fabrikam.idp.test",
        "auth.test",
    ]
    .iter()
    .filter_map(|t| valid[a..].find(t).map(|i| a + i..a + i + t.len()))
    .collect();
    let f = Fixture {
        idp,
        md,
        valid,
        texts,
    };
    let v = verify(&f, &f.valid).expect("the valid response verifies");
    assert_eq!(v.email.as_deref(), Some(EMAIL));
    f
}

fn verify(
    f: &Fixture,
    xml: &str,
) -> Result<portcullis::saml::Verified, portcullis::saml::SamlError> {
    verify_b64(f, &base64::engine::general_purpose::STANDARD.encode(xml))
}

fn verify_b64(
    f: &Fixture,
    form: &str,
) -> Result<portcullis::saml::Verified, portcullis::saml::SamlError> {
    portcullis::saml::verify::response(
        form,
        &f.idp,
        &f.md,
        &Expected {
            entity_id: ENTITY,
            acs_url: ACS,
            request_id: Some(REQ),
        },
    )
}

/// What any verified document must be.
fn check_verified(xml: &str, v: &portcullis::saml::Verified) {
    assert!(
        xml.contains("SignatureValue"),
        "verified without a signature: {xml}"
    );
    let upper = xml.to_ascii_uppercase();
    assert!(
        !upper.contains("<!DOCTYPE") && !xml.contains("<!--"),
        "{xml}"
    );
    if let Some(e) = &v.email {
        assert!(
            xml.contains(e.as_str()),
            "read an e-mail the document does not have: {e}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let f = &*fixture();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let form = String::from_utf8_lossy(rest);
            if let Ok(v) = verify_b64(f, &form) {
                let compact: String = form.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                let xml = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .expect("a verified form value decodes");
                check_verified(&xml, &v);
            }
        }
        1 => {
            let Ok(xml) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(v) = verify(f, xml)
                && !xml.contains("EncryptedAssertion")
            {
                check_verified(xml, &v);
            }
        }
        2 => {
            let mut bytes = f.valid.clone().into_bytes();
            for pair in rest.chunks_exact(3).take(8) {
                let range = &f.texts[usize::from(pair[0]) % f.texts.len()];
                let at = range.start + usize::from(pair[1]) % range.len();
                // Letters for letters: the text stays text, and its
                // canonical form changes with it.
                let new = b'a' + pair[2] % 26;
                if bytes[at].is_ascii_lowercase() {
                    bytes[at] = new;
                }
            }
            // Compared at the end: a later edit may undo an earlier one.
            let changed = bytes != f.valid.as_bytes();
            let xml = String::from_utf8(bytes).expect("ASCII edits");
            match verify(f, &xml) {
                Ok(v) => {
                    assert!(!changed, "changed signed text verified: {xml}");
                    check_verified(&xml, &v);
                }
                Err(e) => assert!(changed, "the valid response was refused: {e}"),
            }
        }
        _ => {
            let (k, d) = rest.split_at(rest.len() / 2);
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            let a = f.valid.find("<saml:Assertion").expect("assertion");
            let end = f.valid.find("</saml:Assertion>").expect("end") + "</saml:Assertion>".len();
            let xml = format!(
                r#"{}<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>{}"#,
                &f.valid[..a],
                b64(k),
                b64(d),
                &f.valid[end..]
            );
            assert!(verify(f, &xml).is_err(), "random ciphertext verified");
        }
    }
});
