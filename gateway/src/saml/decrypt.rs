//! Encrypted assertions (`<saml:EncryptedAssertion>`, XML Encryption 1.1),
//! decrypted with our SP key before anything else is read.
//!
//! The decrypted `<saml:Assertion>` is put back where the
//! `EncryptedAssertion` was, and the document then goes through the same
//! verification as a plain one (`verify::response`): so the assertion
//! itself must carry the IdP's signature, as AD FS, Entra ID, Okta,
//! Shibboleth and SimpleSAMLphp send it (sign, then encrypt). A signature
//! on the Response covered the ciphertext, not the assertion we read, and
//! is dropped with it; a Response signed over an unsigned encrypted
//! assertion is refused.
//!
//! Why not samael's own decryption: it panics on a short ciphertext (an
//! unauthenticated input), knows only AES-128, accepts RSA PKCS#1 v1.5 key
//! transport, and returns a parsed assertion whose signature nobody
//! checked. The primitives here are OpenSSL's (the `openssl` crate, as
//! samael uses); only the XML Encryption framing is ours.
//!
//! Refused: RSA PKCS#1 v1.5 key transport (Bleichenbacher's oracle, shown
//! against XML Encryption by Jager, Schinzel and Somorovsky, "One Bad Apple",
//! ESORICS 2012), OAEP with another digest than SHA-1 (the only one of
//! `rsa-oaep-mgf1p`), and any data cipher but AES-CBC and AES-GCM. AES-CBC
//! is malleable ("How to Break XML Encryption", CCS 2011); every failure
//! here gives the same answer to the browser, and what decrypts must still
//! be a signed assertion.

use super::SamlError;
use super::config::SpKey;
use base64::Engine as _;
use openssl::rsa::Padding;
use openssl::symm::Cipher;

const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP_11: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const MGF1_SHA1: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha1";

/// The document with its `EncryptedAssertion` replaced by the decrypted
/// assertion, and the Response's own signature (over the ciphertext)
/// removed; `None` when the Response has no `EncryptedAssertion`. The
/// caller has checked the structure: one assertion, a child of the
/// `Response`, no DTD.
pub fn splice(xml: &str, sp_key: Option<&SpKey>) -> Result<Option<String>, SamlError> {
    let refused = SamlError::Refused;
    let doc = roxmltree::Document::parse(xml).map_err(|_| refused("not well-formed XML"))?;
    let root = doc.root_element();
    let Some(encrypted) = root
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "EncryptedAssertion")
    else {
        return Ok(None);
    };
    let key = sp_key.ok_or(refused(
        "an encrypted assertion, and no `sp_key_file` to decrypt it",
    ))?;
    let plaintext = decrypt(encrypted, &key.key)?;
    let plaintext = String::from_utf8(plaintext).map_err(|_| refused("not UTF-8"))?;
    let plaintext = plaintext.trim();
    // The plaintext is one element (`Type=…#Element`), an XML declaration
    // at most before it.
    let plaintext = match plaintext.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map(|(_, r)| r.trim_start())
            .unwrap_or(""),
        None => plaintext,
    };
    if !plaintext.starts_with('<') {
        return Err(refused("the decrypted content is not an element"));
    }
    let response_signature = root
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "Signature")
        .map(|n| n.range());
    let mut out = String::with_capacity(xml.len() + plaintext.len());
    let enc = encrypted.range();
    match response_signature.clone() {
        Some(sig) if sig.end <= enc.start => {
            out.push_str(&xml[..sig.start]);
            out.push_str(&xml[sig.end..enc.start]);
        }
        _ => out.push_str(&xml[..enc.start]),
    }
    out.push_str(plaintext);
    match response_signature {
        Some(sig) if sig.start >= enc.end => {
            out.push_str(&xml[enc.end..sig.start]);
            out.push_str(&xml[sig.end..]);
        }
        _ => out.push_str(&xml[enc.end..]),
    }
    Ok(Some(out))
}

fn child<'a, 'i>(
    n: roxmltree::Node<'a, 'i>,
    name: &str,
) -> Result<roxmltree::Node<'a, 'i>, SamlError> {
    let mut found = n
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == name);
    match (found.next(), found.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(SamlError::Refused("malformed EncryptedData")),
    }
}

fn cipher_value(n: roxmltree::Node<'_, '_>) -> Result<Vec<u8>, SamlError> {
    let text = child(child(n, "CipherData")?, "CipherValue")?
        .text()
        .unwrap_or("");
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| SamlError::Refused("CipherValue is not base64"))
}

fn algorithm<'a>(n: roxmltree::Node<'a, '_>) -> Result<&'a str, SamlError> {
    child(n, "EncryptionMethod")?
        .attribute("Algorithm")
        .ok_or(SamlError::Refused("no EncryptionMethod Algorithm"))
}

fn decrypt(
    encrypted: roxmltree::Node<'_, '_>,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
) -> Result<Vec<u8>, SamlError> {
    let refused = SamlError::Refused;
    let data = child(encrypted, "EncryptedData")?;
    if data.tag_name().namespace() != Some(XENC) {
        return Err(refused("EncryptedData outside XML Encryption's namespace"));
    }
    // The EncryptedKey sits in the EncryptedData's KeyInfo (AD FS, Entra
    // ID) or beside the EncryptedData (Shibboleth): exactly one either way.
    let keys: Vec<_> = encrypted
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "EncryptedKey")
        .collect();
    let [ekey] = keys.as_slice() else {
        return Err(refused("not exactly one EncryptedKey"));
    };
    let session_key = unwrap_key(*ekey, key)?;
    let ciphertext = cipher_value(data)?;
    let failed = || refused("the assertion could not be decrypted");
    match algorithm(data)? {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => {
            cbc(Cipher::aes_128_cbc(), &session_key, &ciphertext)
        }
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => {
            cbc(Cipher::aes_192_cbc(), &session_key, &ciphertext)
        }
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => {
            cbc(Cipher::aes_256_cbc(), &session_key, &ciphertext)
        }
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => {
            gcm(Cipher::aes_128_gcm(), &session_key, &ciphertext)
        }
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => {
            gcm(Cipher::aes_192_gcm(), &session_key, &ciphertext)
        }
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => {
            gcm(Cipher::aes_256_gcm(), &session_key, &ciphertext)
        }
        _ => return Err(refused("an unsupported data encryption algorithm")),
    }
    .ok_or_else(failed)
}

/// RSA-OAEP (SHA-1, MGF1 with SHA-1) key transport.
fn unwrap_key(
    ekey: roxmltree::Node<'_, '_>,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
) -> Result<Vec<u8>, SamlError> {
    let refused = SamlError::Refused;
    let method = child(ekey, "EncryptionMethod")?;
    match method.attribute("Algorithm") {
        Some(RSA_OAEP_MGF1P | RSA_OAEP_11) => {}
        // PKCS#1 v1.5 among them: see the module's notes.
        _ => return Err(refused("an unsupported key transport algorithm")),
    }
    for c in method.children().filter(|c| c.is_element()) {
        let ok = match c.tag_name().name() {
            "DigestMethod" => c.attribute("Algorithm") == Some(SHA1),
            "MGF" => c.attribute("Algorithm") == Some(MGF1_SHA1),
            _ => false,
        };
        if !ok {
            return Err(refused("OAEP parameters other than SHA-1"));
        }
    }
    let wrapped = cipher_value(ekey)?;
    let rsa = key.rsa().map_err(|_| refused("the SP key is not RSA"))?;
    let mut out = vec![0u8; rsa.size() as usize];
    let n = rsa
        .private_decrypt(&wrapped, &mut out, Padding::PKCS1_OAEP)
        .map_err(|_| refused("the key could not be decrypted"))?;
    out.truncate(n);
    Ok(out)
}

/// AES-CBC with the IV first and XML Encryption's padding (its last byte
/// says how many bytes to drop; the others may be anything, so OpenSSL's
/// PKCS#7 check is off).
fn cbc(cipher: Cipher, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let iv_len = cipher.iv_len()?;
    if key.len() != cipher.key_len() || data.len() < iv_len + cipher.block_size() {
        return None;
    }
    let (iv, body) = data.split_at(iv_len);
    let mut c =
        openssl::symm::Crypter::new(cipher, openssl::symm::Mode::Decrypt, key, Some(iv)).ok()?;
    c.pad(false);
    let mut out = vec![0u8; body.len() + cipher.block_size()];
    let mut n = c.update(body, &mut out).ok()?;
    n += c.finalize(&mut out[n..]).ok()?;
    out.truncate(n);
    let pad = usize::from(*out.last()?);
    if pad == 0 || pad > cipher.block_size() || pad > out.len() {
        return None;
    }
    out.truncate(out.len() - pad);
    Some(out)
}

/// AES-GCM: a 96-bit IV first, the 128-bit tag last.
fn gcm(cipher: Cipher, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    const IV: usize = 12;
    const TAG: usize = 16;
    if key.len() != cipher.key_len() || data.len() < IV + TAG {
        return None;
    }
    let (iv, rest) = data.split_at(IV);
    let (body, tag) = rest.split_at(rest.len() - TAG);
    openssl::symm::decrypt_aead(cipher, key, Some(iv), &[], body, tag).ok()
}
