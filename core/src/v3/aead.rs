//! API v3 encrypted resources (callbacks, the platform-certificate download): AEAD_AES_256_GCM
//! with the merchant's APIv3 key, natively with ring.
//!
//! Key: the 32 ASCII bytes of the APIv3 key. Nonce: the UTF-8 bytes of `resource.nonce` (12).
//! Associated data: the UTF-8 bytes of `resource.associated_data` (may be empty). Input:
//! `resource.ciphertext`, Base64 of the ciphertext followed by its 16-byte tag. A wrong key, a
//! changed byte anywhere or a flipped tag bit yields an error and no plaintext at all.

use std::fmt;

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

/// The merchant's APIv3 key (32 ASCII characters). Its `Debug` shows no key.
#[derive(Clone)]
pub struct ApiV3Key([u8; 32]);

impl fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV3Key(<redacted>)")
    }
}

impl ApiV3Key {
    /// The key, or the rule it breaks (never the key).
    pub fn new(key: &str) -> Result<ApiV3Key, &'static str> {
        let bytes: [u8; 32] = key
            .as_bytes()
            .try_into()
            .map_err(|_| "must be 32 characters")?;
        if !bytes.iter().all(|b| b.is_ascii_graphic()) {
            return Err("must be printable ASCII");
        }
        Ok(ApiV3Key(bytes))
    }
}

/// Why a resource does not decrypt. Deliberately coarse past the input checks: AES-GCM says
/// only that the tag does not match, whatever changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecryptError {
    /// `nonce` is not 12 bytes.
    Nonce,
    /// `ciphertext` is not Base64 or shorter than the tag.
    Ciphertext,
    /// The tag does not match: a wrong key, or the ciphertext, nonce or associated data changed.
    Authentication,
    /// The plaintext is not UTF-8 (WeChat's resources are JSON or PEM).
    NotUtf8,
}

impl fmt::Display for DecryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecryptError::Nonce => "resource.nonce: must be 12 bytes",
            DecryptError::Ciphertext => {
                "resource.ciphertext: must be Base64 of ciphertext and 16-byte tag"
            }
            DecryptError::Authentication => {
                "resource: does not authenticate (wrong APIv3 key, or changed in transit)"
            }
            DecryptError::NotUtf8 => "resource: the plaintext is not UTF-8",
        })
    }
}

impl std::error::Error for DecryptError {}

/// Decrypts one `resource`.
pub fn decrypt_resource(
    key: &ApiV3Key,
    nonce: &str,
    associated_data: &str,
    ciphertext_base64: &str,
) -> Result<String, DecryptError> {
    let nonce: [u8; NONCE_LEN] = nonce
        .as_bytes()
        .try_into()
        .map_err(|_| DecryptError::Nonce)?;
    let mut sealed = base64::engine::general_purpose::STANDARD
        .decode(ciphertext_base64.trim())
        .map_err(|_| DecryptError::Ciphertext)?;
    if sealed.len() < AES_256_GCM.tag_len() {
        return Err(DecryptError::Ciphertext);
    }
    let cipher = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &key.0).expect("a 32-byte key is an AES-256 key"),
    );
    let plain = cipher
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(associated_data.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| DecryptError::Authentication)?;
    String::from_utf8(plain.to_vec()).map_err(|_| DecryptError::NotUtf8)
}

/// Encrypts `plaintext` as a `resource.ciphertext` (Base64 of ciphertext and tag): what WeChat
/// does, for the simulator and tests.
pub fn encrypt_resource(
    key: &ApiV3Key,
    nonce: &str,
    associated_data: &str,
    plaintext: &str,
) -> Result<String, DecryptError> {
    let nonce: [u8; NONCE_LEN] = nonce
        .as_bytes()
        .try_into()
        .map_err(|_| DecryptError::Nonce)?;
    let cipher = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &key.0).expect("a 32-byte key is an AES-256 key"),
    );
    let mut sealed = plaintext.as_bytes().to_vec();
    cipher
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(associated_data.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| DecryptError::Authentication)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}
