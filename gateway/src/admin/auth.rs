//! The admin API's bearer token: read from `admin.token_file` at start,
//! checked on every path under `/api/` before routing (see the module doc of
//! `admin`). The token is never logged, and compared in constant time.

use super::AdminApp;
use super::response::{json_response, unauthorised};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use tracing::{info, warn};

/// Reads an admin token file: its content without surrounding whitespace.
/// An unreadable or empty file is an error naming the file.
pub fn read_token(path: &Path) -> Result<Arc<[u8]>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "admin.token_file {}: cannot read the admin API token: {e}",
            path.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "admin.token_file {} is empty; put the admin API token in it (e.g. `openssl rand -hex 32`)",
            path.display()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o004 != 0
        {
            warn!(file = %path.display(), "admin.token_file is readable by every user; chmod o-r it");
        }
    }
    Ok(Arc::from(token.as_bytes()))
}

impl AdminApp {
    /// Checks `Authorization: Bearer <token>` against the configured token;
    /// `Some`: the 403 or 401 to send.
    pub(super) fn authorise(&self, path: &str, headers: &HeaderMap) -> Option<Response<Vec<u8>>> {
        let Some(expected) = &self.token else {
            return Some(json_response(
                StatusCode::FORBIDDEN,
                &json!({"error": "the admin API is disabled; set admin.token_file in the configuration to a file holding its bearer token"}),
            ));
        };
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let given = match (values.next(), values.next()) {
            (Some(v), None) => bearer_token(v),
            // Two `Authorization` headers are ambiguous: refuse rather than
            // pick one that a proxy in front may not have checked.
            _ => None,
        };
        let Some(given) = given else {
            info!(path, "admin API request refused: no bearer token");
            return Some(unauthorised(
                "Bearer realm=\"portcullis admin\"",
                "missing bearer token; send `Authorization: Bearer <token>` with the token from admin.token_file",
            ));
        };
        if token_matches(expected, given) {
            None
        } else {
            info!(path, "admin API request refused: wrong bearer token");
            Some(unauthorised(
                "Bearer realm=\"portcullis admin\", error=\"invalid_token\"",
                "invalid bearer token",
            ))
        }
    }
}

/// The token of `Bearer <token>` (scheme in any case), if that is what the
/// header holds.
fn bearer_token(value: &HeaderValue) -> Option<&[u8]> {
    let value = value.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token.as_bytes())
}

/// Compares a presented token with the configured one in constant time.
/// Both are hashed first so that neither a byte-by-byte timing attack nor
/// the time a length mismatch takes can recover the token.
pub(super) fn token_matches(expected: &[u8], given: &[u8]) -> bool {
    use aws_lc_rs::digest::{SHA256, digest};
    let expected = digest(&SHA256, expected);
    let given = digest(&SHA256, given);
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), given.as_ref()).is_ok()
}
