//! Recovery codes: made at confirmation, shown once, stored as argon2id
//! hashes, each good for one sign-in.
//!
//! A code is 10 characters from a 32-symbol alphabet without look-alikes
//! (no 0/O or 1/I), so 50 random bits: far beyond guessing under the lockout,
//! and argon2id makes a stolen database slow to reverse as well. Hashing and
//! verifying run on the blocking pool: argon2 is tens of milliseconds of CPU
//! by design and must not stall the async workers.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Argon2, Params};

use super::MfaError;

/// Digits 2-9 and A-Z without I and O (32 symbols, 5 bits each): no 0/O or 1/I
/// to confuse.
const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const CODE_LEN: usize = 10;

/// `count` fresh codes, formatted `ABCDE-FGHJK`.
pub(super) fn generate(count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let bytes: [u8; CODE_LEN] = rand::random();
            let mut code = String::with_capacity(CODE_LEN + 1);
            for (i, b) in bytes.iter().enumerate() {
                if i == CODE_LEN / 2 {
                    code.push('-');
                }
                // 256 is a multiple of 32: masking keeps the choice uniform.
                code.push(char::from(ALPHABET[usize::from(b & 31)]));
            }
            code
        })
        .collect()
}

/// The canonical form of what the user typed (upper case, no blanks or
/// dashes), or `None` when it cannot be a code.
pub(super) fn normalize(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ok = code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b));
    ok.then_some(code)
}

/// argon2id PHC strings of `codes` (normalised first), one random salt each.
pub(super) async fn hash_all(params: &Params, codes: &[String]) -> Result<Vec<String>, MfaError> {
    let params = params.clone();
    let codes: Vec<String> = codes.iter().filter_map(|c| normalize(c)).collect();
    tokio::task::spawn_blocking(move || {
        let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        codes
            .iter()
            .map(|code| {
                let salt_bytes: [u8; 16] = rand::random();
                let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| HASH_FAILED)?;
                argon
                    .hash_password(code.as_bytes(), &salt)
                    .map(|h| h.to_string())
                    .map_err(|_| HASH_FAILED)
            })
            .collect()
    })
    .await
    .map_err(|_| HASH_FAILED)?
}

/// The stored hash that `code` (normalised) matches, if any. Each hash is
/// verified with the cost recorded in it; the comparison is constant time.
pub(super) async fn find_match(
    hashes: Vec<String>,
    code: String,
) -> Result<Option<String>, MfaError> {
    tokio::task::spawn_blocking(move || {
        let argon = Argon2::default();
        hashes.into_iter().find(|phc| {
            // A hash we cannot parse matches nothing (it was not written by us).
            PasswordHash::new(phc).is_ok_and(|h| argon.verify_password(code.as_bytes(), &h).is_ok())
        })
    })
    .await
    .map_err(|_| HASH_FAILED)
}

const HASH_FAILED: MfaError = MfaError::Internal {
    reason: "hashing a recovery code failed",
};
