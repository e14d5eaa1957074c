//! The JWT compact serialization, taken apart by hand so that every check is
//! ours: which `alg` is allowed, which key is used, and which clock decides.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::SessionError;

/// The longest token we look at, in bytes (16 KiB). Longer ones are rejected
/// before any decoding, so an oversized header costs nothing. Browsers cap a
/// cookie at 4 KiB; IdP access tokens with many groups reach a few KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Default allowance for clock skew between us and an issuer, in seconds.
pub const DEFAULT_LEEWAY_SECS: i64 = 60;

/// The protected header fields we read. Unknown fields are ignored (RFC 7515
/// §4), except `crit`, see [`split`].
#[derive(Deserialize)]
pub(crate) struct RawHeader {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// A token split into its three parts, the header decoded, nothing verified.
pub(crate) struct Parts<'a> {
    pub header: RawHeader,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
}

/// Splits a compact JWS and decodes its header.
///
/// The signature may be empty here (an `alg: none` token has none) so the
/// caller can name the real problem, `AlgorithmNotAllowed`, instead of
/// `Malformed`.
pub(crate) fn split(token: &str) -> Result<Parts<'_>, SessionError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(SessionError::Malformed("token too long"));
    }
    let mut it = token.split('.');
    let (Some(header_b64), Some(payload), Some(signature), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(SessionError::Malformed("not three dot-separated parts"));
    };
    if header_b64.is_empty() || payload.is_empty() {
        return Err(SessionError::Malformed("empty header or payload"));
    }
    if !is_b64url(header_b64) || !is_b64url(payload) || !is_b64url(signature) {
        return Err(SessionError::Malformed("not base64url"));
    }
    let header_json = b64d(header_b64).map_err(|_| SessionError::Malformed("header encoding"))?;
    let header: RawHeader =
        serde_json::from_slice(&header_json).map_err(|_| SessionError::Malformed("header"))?;
    // RFC 7515 §4.1.11: a recipient that does not understand an extension
    // listed in `crit` must reject the token. We understand none.
    if header.crit.is_some() {
        return Err(SessionError::Malformed("unsupported crit header"));
    }
    // `header.payload`: the first two parts and the dot between them.
    let signing_input = token
        .get(..header_b64.len() + 1 + payload.len())
        .ok_or(SessionError::Malformed("not three dot-separated parts"))?;
    Ok(Parts {
        header,
        signing_input,
        payload,
        signature,
    })
}

/// True for the base64url alphabet without padding.
pub(crate) fn is_b64url(s: &str) -> bool {
    s.bytes().all(is_b64url_byte)
}

/// Whether `b` is a base64url digit (`A-Z a-z 0-9 - _`): one table look-up,
/// for the scans of every request's session cookie (issue 21).
pub(crate) fn is_b64url_byte(b: u8) -> bool {
    const TABLE: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let b = i as u8;
            t[i] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            i += 1;
        }
        t
    };
    TABLE[usize::from(b)]
}

pub(crate) fn b64d(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s)
}

pub(crate) fn b64e(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks the time claims against `now` with `leeway` seconds of skew allowed
/// either way. `exp` is exclusive: a token is valid strictly before it.
pub(crate) fn check_times(
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    now: i64,
    leeway: i64,
) -> Result<(), SessionError> {
    if now >= exp.saturating_add(leeway) {
        return Err(SessionError::Expired);
    }
    let latest_start = now.saturating_add(leeway);
    if nbf.is_some_and(|nbf| nbf > latest_start) || iat.is_some_and(|iat| iat > latest_start) {
        return Err(SessionError::NotYetValid);
    }
    Ok(())
}
