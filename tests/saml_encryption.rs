//! Encrypted assertions (issue 16): an `EncryptedAssertion` made by the
//! `xmlsec1` command line for our SP certificate is decrypted with the SP
//! key (`saml::decrypt`) and then verified as a plain assertion: the
//! assertion inside must carry the IdP's signature. Each refusal names the
//! attack it stands for.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use portcullis::saml::config::SpKey;
use portcullis::saml::{Attributes, Expected, IdpMetadata, MetadataSource, SamlIdp};
use support::saml_idp::{
    self, Encryption, Idp, Key, Sign, Spec, assertion_xml, b64, encrypt_assertion, response_xml,
    strip_decl,
};

const ENTITY: &str = "http://auth.test:8080/.portcullis/saml/fabrikam/metadata";
const ACS: &str = "http://auth.test:8080/.portcullis/saml/fabrikam/acs";
const ANN: &str = "ann@fabrikam.example";
const REQ: &str = "_0123456789abcdef0123456789abcdef";
const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
const OAEP: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const PKCS1_V15: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";

struct Case {
    idp: Idp,
    md: IdpMetadata,
    sp: Key,
    dir: tempfile::TempDir,
}

fn sp_key(k: &Key) -> SpKey {
    let key =
        openssl::pkey::PKey::private_key_from_pem(&std::fs::read(&k.key_pem).unwrap()).unwrap();
    let cert = openssl::x509::X509::from_pem(&std::fs::read(&k.cert_pem).unwrap()).unwrap();
    SpKey {
        key,
        cert_der: cert.to_der().unwrap(),
    }
}

fn case() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let idp = Idp::new(dir.path(), "fabrikam");
    let md = IdpMetadata::parse(&idp.metadata(&[&idp.key])).unwrap();
    let sp = Key::new(dir.path(), "sp");
    Case { idp, md, sp, dir }
}

impl Case {
    fn sp(&self, key: Option<&Key>) -> SamlIdp {
        SamlIdp::new(
            "fabrikam".into(),
            MetadataSource::File(self.dir.path().join("md.xml")),
            Some(self.md.clone()),
            vec!["fabrikam.example".into()],
            Attributes::from_file(None),
            Vec::new(),
            false,
            key.map(sp_key),
        )
    }

    fn verify_with(
        &self,
        key: Option<&Key>,
        xml: &str,
    ) -> Result<portcullis::saml::Verified, String> {
        portcullis::saml::verify::response(
            &b64(xml),
            &self.sp(key),
            &self.md,
            &Expected {
                entity_id: ENTITY,
                acs_url: ACS,
                request_id: Some(REQ),
            },
        )
        .map_err(|e| e.to_string())
    }

    fn verify(&self, xml: &str) -> Result<portcullis::saml::Verified, String> {
        self.verify_with(Some(&self.sp), xml)
    }

    fn spec(&self) -> Spec {
        Spec::new(&self.idp, ENTITY, ACS, Some(REQ), ANN)
    }

    fn encrypt(&self, response: &str, cert: &Key, data: &str, transport: &str) -> String {
        let session_key = if data == AES128_GCM {
            "aes-128"
        } else {
            "aes-256"
        };
        encrypt_assertion(
            self.dir.path(),
            &strip_decl(response),
            &Encryption {
                cert_pem: &cert.cert_pem,
                data,
                session_key,
                transport,
            },
        )
    }
}

/// Signed, then encrypted for our certificate (AD FS's and Entra ID's
/// default: AES-256-CBC, RSA-OAEP): decrypted and read.
#[test]
fn an_encrypted_signed_assertion_is_decrypted_with_the_sp_key() {
    let c = case();
    let spec = c.spec();
    let plain = c.idp.response_raw(&spec, Sign::Assertion);
    for data in [AES256_CBC, AES128_GCM] {
        let encrypted = c.encrypt(&plain, &c.sp, data, OAEP);
        assert!(encrypted.contains("EncryptedAssertion") && !encrypted.contains(ANN));
        let v = c
            .verify(&encrypted)
            .unwrap_or_else(|e| panic!("{data}: {e}\n{encrypted}"));
        assert_eq!(v.email.as_deref(), Some(ANN));
        assert_eq!(v.assertion_id, spec.assertion_id);
        assert_eq!(v.groups, ["Engineers", "Finance"]);
    }
}

/// Without our key nothing is read; encrypted for someone else's key, the
/// session key does not unwrap.
#[test]
fn an_encrypted_assertion_needs_our_key() {
    let c = case();
    let plain = c.idp.response_raw(&c.spec(), Sign::Assertion);
    let encrypted = c.encrypt(&plain, &c.sp, AES256_CBC, OAEP);
    let e = c.verify_with(None, &encrypted).unwrap_err();
    assert!(e.contains("sp_key_file"), "{e}");
    let other = Key::new(c.dir.path(), "other-sp");
    let e = c
        .verify(&c.encrypt(&plain, &other, AES256_CBC, OAEP))
        .unwrap_err();
    assert!(e.contains("could not be decrypted"), "{e}");
}

/// A Response signature covers the ciphertext, not the assertion that is
/// read after decryption: an unsigned assertion inside a signed Response
/// is refused (the decrypted content is "what is signed" only when it
/// carries its own signature; cf. Somorovsky et al., "On Breaking SAML").
#[test]
fn an_unsigned_encrypted_assertion_in_a_signed_response_is_refused() {
    let c = case();
    let spec = c.spec();
    let unsigned = response_xml(&spec, &assertion_xml(&spec, false), true);
    let encrypted = c.encrypt(&unsigned, &c.sp, AES256_CBC, OAEP);
    let signed = c.idp.sign(&encrypted);
    let e = c.verify(&signed).unwrap_err();
    assert!(e.starts_with("not verified"), "{e}");
    // Unsigned throughout: refused too.
    let plain = saml_idp::response_xml(&spec, &assertion_xml(&spec, false), false);
    assert!(
        c.verify(&c.encrypt(&plain, &c.sp, AES256_CBC, OAEP))
            .is_err()
    );
}

/// RSA PKCS#1 v1.5 key transport is refused before any decryption: it is
/// Bleichenbacher's padding oracle, shown against XML Encryption by Jager,
/// Schinzel and Somorovsky ("One Bad Apple", ESORICS 2012).
#[test]
fn pkcs1_v15_key_transport_is_refused() {
    let c = case();
    let plain = c.idp.response_raw(&c.spec(), Sign::Assertion);
    let e = c
        .verify(&c.encrypt(&plain, &c.sp, AES256_CBC, PKCS1_V15))
        .unwrap_err();
    assert!(e.contains("key transport"), "{e}");
}

/// A changed ciphertext (the CBC malleability of "How to Break XML
/// Encryption", CCS 2011) never yields an assertion that verifies.
#[test]
fn a_tampered_ciphertext_is_refused() {
    let c = case();
    let plain = c.idp.response_raw(&c.spec(), Sign::Assertion);
    let encrypted = c.encrypt(&plain, &c.sp, AES256_CBC, OAEP);
    // The last CipherValue is the data's; flip characters in its middle.
    let at = encrypted.rfind("<xenc:CipherValue>").unwrap() + "<xenc:CipherValue>".len() + 40;
    for flip in [b'A', b'B', b'/'] {
        let mut bytes = encrypted.clone().into_bytes();
        if bytes[at] == flip {
            continue;
        }
        bytes[at] = flip;
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(c.verify(&tampered).is_err(), "tampered ciphertext verified");
    }
}

/// An encrypted assertion beside a plain one: the wrapping shape again,
/// refused before any decryption.
#[test]
fn an_encrypted_assertion_beside_a_plain_one_is_refused() {
    let c = case();
    let spec = c.spec();
    let plain = c.idp.response_raw(&spec, Sign::Assertion);
    let encrypted = c.encrypt(&plain, &c.sp, AES256_CBC, OAEP);
    let signed_assertion = strip_decl(&c.idp.sign(&assertion_xml(&spec, true)));
    let both = encrypted.replace(
        "</samlp:Response>",
        &format!("{signed_assertion}</samlp:Response>"),
    );
    let e = c.verify(&both).unwrap_err();
    assert!(e.contains("not exactly one assertion"), "{e}");
}
