//! v2 signatures: MD5 and HMAC-SHA256 over the sorted `name=value` string.
//!
//! The rule (WeChat Pay 安全规范): drop `sign` and every value that is empty after trimming; sort the
//! rest by name in byte order; join `name=value` with `&` (values trimmed, not URL-encoded); append
//! `&key=<API key>`; hash the UTF-8 bytes with MD5, or HMAC-SHA256 keyed with the same API key;
//! write the digest as upper-case hex.

use std::fmt;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, SignatureError};
use crate::Fields;

/// The digest behind a v2 signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SignType {
    /// Upper-case hex MD5 (32 characters): what the coupon APIs document, and the default.
    #[default]
    #[cfg_attr(feature = "serde", serde(rename = "MD5", alias = "md5"))]
    Md5,
    /// Upper-case hex HMAC-SHA256 (64 characters); sent with a `sign_type=HMAC-SHA256` field.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "HMAC-SHA256", alias = "hmac-sha256")
    )]
    HmacSha256,
}

impl SignType {
    /// The value of the `sign_type` field for this digest.
    pub fn wire_name(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::HmacSha256 => "HMAC-SHA256",
        }
    }

    /// Reads a `sign_type` value (`MD5` or `HMAC-SHA256`, either case).
    pub fn from_wire_name(name: &str) -> Option<SignType> {
        if name.eq_ignore_ascii_case("MD5") {
            Some(SignType::Md5)
        } else if name.eq_ignore_ascii_case("HMAC-SHA256") {
            Some(SignType::HmacSha256)
        } else {
            None
        }
    }

    /// The length of a signature of this type in hex characters.
    pub fn hex_len(self) -> usize {
        match self {
            SignType::Md5 => 32,
            SignType::HmacSha256 => 64,
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

/// The merchant's APIv2 key (API密钥). Its `Debug` output is redacted and it has no `Display`, so it
/// cannot end up in a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key. Signing only needs it non-empty; [`crate::Merchant::validate`] checks the
    /// 32-character form real keys have.
    pub fn new(key: impl Into<String>) -> Result<ApiKey, Error> {
        let key = key.into();
        if key.is_empty() {
            return Err(Error::invalid("api_key", "required"));
        }
        Ok(ApiKey(key))
    }

    /// The key itself, for signing. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The string that is hashed, *without* the `&key=…` suffix: sorted, trimmed, `sign` and empty
/// values left out. Useful to show what was signed; it never contains the key.
pub fn string_to_sign(fields: &Fields) -> String {
    let mut out = String::new();
    // `Fields` is a BTreeMap<String, _>: its iteration order is byte order of the names.
    for (name, value) in fields {
        let value = value.trim();
        if name == "sign" || value.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Signs `fields` with `key`: upper-case hex, 32 characters for MD5, 64 for HMAC-SHA256.
///
/// When signing with HMAC-SHA256 for a request, put `sign_type=HMAC-SHA256` into `fields` first:
/// it is a signed field like any other.
pub fn sign(fields: &Fields, key: &ApiKey, sign_type: SignType) -> String {
    let mut message = string_to_sign(fields);
    if !message.is_empty() {
        message.push('&');
    }
    message.push_str("key=");
    message.push_str(key.expose());
    match sign_type {
        SignType::Md5 => upper_hex(&Md5::digest(message.as_bytes())),
        SignType::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(message.as_bytes());
            upper_hex(&mac.finalize().into_bytes())
        }
    }
}

/// Checks `signature` against `fields` in constant time. The digest is told by the signature's
/// length (64 hex characters mean HMAC-SHA256, 32 mean MD5), as WeChat's own SDKs do. Hex case
/// is ignored.
///
/// Use this only where the digest is not known in advance (a standalone check of a message).
/// An answer to a request is checked with [`verify_with`] and the request's digest: otherwise
/// whoever writes the answer chooses the digest (an MD5 signature accepted by an HMAC-SHA256
/// merchant).
pub fn verify(fields: &Fields, key: &ApiKey, signature: &str) -> Result<SignType, SignatureError> {
    let sign_type = match signature.trim().len() {
        32 => SignType::Md5,
        64 => SignType::HmacSha256,
        _ => return Err(SignatureError::Malformed),
    };
    verify_with(fields, key, signature, sign_type).map(|()| sign_type)
}

/// Checks `signature` against `fields` in constant time with the digest `sign_type`. A
/// well-formed signature of the other digest (32 hex characters where 64 are expected, or the
/// reverse) is a [`SignatureError::Mismatch`]; anything that is not 32 or 64 hexadecimal
/// characters is [`SignatureError::Malformed`]. Hex case is ignored.
pub fn verify_with(
    fields: &Fields,
    key: &ApiKey,
    signature: &str,
    sign_type: SignType,
) -> Result<(), SignatureError> {
    let signature = signature.trim();
    if !matches!(signature.len(), 32 | 64) || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed);
    }
    if signature.len() != sign_type.hex_len() {
        return Err(SignatureError::Mismatch);
    }
    let expected = sign(fields, key, sign_type);
    let given = signature.to_ascii_uppercase();
    if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn upper_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap()
    }

    #[test]
    fn official_vector_string_and_digests() {
        let fields: Fields = [
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            string_to_sign(&fields),
            "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
        );
        assert_eq!(
            sign(&fields, &key(), SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            sign(&fields, &key(), SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    #[test]
    fn key_is_redacted_in_debug() {
        assert_eq!(format!("{:?}", key()), "ApiKey(<redacted>)");
    }

    #[test]
    fn verify_tells_digest_by_length_and_ignores_case() {
        let fields: Fields = [("a".to_string(), "b".to_string())].into_iter().collect();
        let md5 = sign(&fields, &key(), SignType::Md5).to_lowercase();
        assert_eq!(verify(&fields, &key(), &md5), Ok(SignType::Md5));
        let hmac = sign(&fields, &key(), SignType::HmacSha256);
        assert_eq!(verify(&fields, &key(), &hmac), Ok(SignType::HmacSha256));
        assert_eq!(
            verify(&fields, &key(), "ABC"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&fields, &key(), &"Z".repeat(32)),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&fields, &key(), &"0".repeat(32)),
            Err(SignatureError::Mismatch)
        );
    }
}
