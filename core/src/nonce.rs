//! `nonce_str`: the rule it must follow and a way to make one from random bytes.
//!
//! The core has no source of randomness (it does no I/O); callers pass bytes from one
//! (`wasi:random` in the component, the OS in native hosts).

use crate::error::Error;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// How many random bytes [`nonce_from_random`] wants to be sure of 32 characters (it drops bytes
/// that would bias the alphabet).
pub const NONCE_RANDOM_BYTES: usize = 64;

/// Checks a caller-chosen nonce: 1 to 32 ASCII letters or digits.
pub fn check_nonce(nonce: &str) -> Result<(), Error> {
    if nonce.is_empty() {
        return Err(Error::invalid("nonce_str", "must not be empty"));
    }
    let len = nonce.chars().count();
    if len > 32 {
        return Err(Error::invalid(
            "nonce_str",
            format!("at most 32 characters (got {len})"),
        ));
    }
    if !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid("nonce_str", "only ASCII letters and digits"));
    }
    Ok(())
}

/// Makes a nonce of up to 32 characters from `[0-9A-Za-z]`, uniformly, out of random bytes.
/// With [`NONCE_RANDOM_BYTES`] bytes it is 32 characters long but with vanishing probability.
pub fn nonce_from_random(random: &[u8]) -> String {
    random
        .iter()
        // 248 = 4 × 62: bytes at or above it would favour the first characters.
        .filter(|b| **b < 248)
        .take(32)
        .map(|b| ALPHABET[(*b % 62) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_rules() {
        assert!(check_nonce("1417574675").is_ok());
        assert!(check_nonce(&"a".repeat(32)).is_ok());
        assert!(check_nonce(&"a".repeat(33)).is_err());
        assert!(check_nonce("").is_err());
        assert!(check_nonce("a-b").is_err());
        let n = nonce_from_random(&[7u8; NONCE_RANDOM_BYTES]);
        assert_eq!(n.len(), 32);
        assert!(check_nonce(&n).is_ok());
    }
}
