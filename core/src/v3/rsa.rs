//! API v3 signatures natively: SHA256withRSA (PKCS#1 v1.5) with ring, whose private-key
//! operations are constant-time, and the key sets answers are verified with.
//!
//! - [`MerchantSigner`]: the merchant API private key (PKCS#8 PEM, as `apiclient_key.pem`), which
//!   signs [`auth::request_message`](super::auth::request_message). Its `Debug` shows no key.
//! - [`Verifiers`]: the WeChat Pay keys answers are verified with, by the `Wechatpay-Serial` that
//!   names them — the WeChat Pay public key under its `PUB_KEY_ID_…`, platform certificates under
//!   their serials, or both at once while a merchant migrates.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer, SubjectPublicKeyInfoDer};
use x509_cert::der::Decode;

use super::auth::{AnswerRefusal, ToVerify};

/// Why a key or certificate cannot be used. Never holds key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not the PEM block expected (`PRIVATE KEY`, `PUBLIC KEY` or `CERTIFICATE`).
    Pem,
    /// The block is not an RSA key of 2048 bits or more that ring accepts.
    Rsa,
    /// The certificate's DER does not parse.
    Certificate,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Pem => "not the PEM block expected",
            KeyError::Rsa => "not an RSA key of 2048 bits or more",
            KeyError::Certificate => "not a readable X.509 certificate",
        })
    }
}

impl std::error::Error for KeyError {}

/// The merchant API private key, signing request messages.
pub struct MerchantSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl fmt::Debug for MerchantSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MerchantSigner(<redacted>)")
    }
}

impl MerchantSigner {
    /// From a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, the form of `apiclient_key.pem`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<MerchantSigner, KeyError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| KeyError::Pem)?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|_| KeyError::Rsa)?;
        Ok(MerchantSigner {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The Base64 SHA256withRSA signature of `message` (PKCS#1 v1.5 is deterministic: the same
    /// message always gives the same signature).
    pub fn sign(&self, message: &str) -> String {
        let mut out = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                message.as_bytes(),
                &mut out,
            )
            .expect("the output buffer is the modulus length");
        base64::engine::general_purpose::STANDARD.encode(out)
    }
}

/// One WeChat Pay public key (the RSAPublicKey DER ring verifies with).
#[derive(Clone, PartialEq, Eq)]
struct PublicKey(Vec<u8>);

impl PublicKey {
    fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let spki =
            x509_cert::spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| KeyError::Rsa)?;
        let bits = spki.subject_public_key.raw_bytes();
        Ok(PublicKey(bits.to_vec()))
    }

    fn verifies(&self, message: &str, signature_base64: &str) -> bool {
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature_base64.trim())
        else {
            return false;
        };
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.0)
            .verify(message.as_bytes(), &sig)
            .is_ok()
    }
}

/// The WeChat Pay keys answers and callbacks are verified with, by serial.
#[derive(Clone, Default)]
pub struct Verifiers {
    keys: BTreeMap<String, PublicKey>,
}

impl fmt::Debug for Verifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.keys.keys()).finish()
    }
}

impl Verifiers {
    /// No keys: every answer is refused as `unknown-serial`.
    pub fn new() -> Verifiers {
        Verifiers::default()
    }

    /// Adds the WeChat Pay public key (`-----BEGIN PUBLIC KEY-----`) under its id
    /// (`PUB_KEY_ID_…`, opaque).
    pub fn with_public_key(mut self, key_id: &str, spki_pem: &str) -> Result<Verifiers, KeyError> {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(spki_pem.as_bytes())
            .map_err(|_| KeyError::Pem)?;
        self.keys
            .insert(key_id.to_string(), PublicKey::from_spki_der(der.as_ref())?);
        Ok(self)
    }

    /// Adds a WeChat Pay platform certificate (`-----BEGIN CERTIFICATE-----`) under its serial,
    /// upper-case hex.
    pub fn with_platform_certificate(mut self, pem: &str) -> Result<Verifiers, KeyError> {
        self.add_platform_certificate(pem)?;
        Ok(self)
    }

    /// Adds a platform certificate (replacing one of the same serial) and returns its serial.
    pub fn add_platform_certificate(&mut self, pem: &str) -> Result<String, KeyError> {
        let (serial, key) = read_certificate(pem)?;
        self.keys.insert(serial.clone(), key);
        Ok(serial)
    }

    /// The serials and key ids held.
    pub fn serials(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key goes by `serial` (for [`check_signed_answer`](super::auth::check_signed_answer)).
    pub fn holds(&self, serial: &str) -> bool {
        self.keys.contains_key(serial)
    }

    /// The key `serial` names, as a PKCS#1 `RSAPublicKey` DER (what a host verifying natively
    /// needs).
    pub fn public_key_der(&self, serial: &str) -> Option<&[u8]> {
        self.keys.get(serial).map(|k| k.0.as_slice())
    }

    /// The last check of a signed answer: its signature with the key its serial chose.
    pub fn verify(&self, to_verify: &ToVerify) -> Result<(), AnswerRefusal> {
        let key = self
            .keys
            .get(&to_verify.serial)
            .ok_or(AnswerRefusal::UnknownSerial)?;
        if key.verifies(&to_verify.message, &to_verify.signature) {
            Ok(())
        } else {
            Err(AnswerRefusal::Signature)
        }
    }
}

/// A certificate's serial (upper-case hex, as WeChat writes it) and public key.
fn read_certificate(pem: &str) -> Result<(String, PublicKey), KeyError> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| KeyError::Pem)?;
    let cert = x509_cert::Certificate::from_der(der.as_ref()).map_err(|_| KeyError::Certificate)?;
    let serial: String = cert
        .tbs_certificate
        .serial_number
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let spki = x509_cert::der::Encode::to_der(&cert.tbs_certificate.subject_public_key_info)
        .map_err(|_| KeyError::Certificate)?;
    Ok((serial, PublicKey::from_spki_der(&spki)?))
}

/// The serial of a certificate (`-----BEGIN CERTIFICATE-----`), upper-case hex.
pub fn certificate_serial(pem: &str) -> Result<String, KeyError> {
    read_certificate(pem).map(|(serial, _)| serial)
}

/// Verifies a Base64 SHA256withRSA signature of `message` with a PKCS#1 `RSAPublicKey` DER
/// ([`Verifiers::public_key_der`]): the native half of a host-verified answer.
pub fn verify_with_public_key_der(der: &[u8], message: &str, signature_base64: &str) -> bool {
    PublicKey(der.to_vec()).verifies(message, signature_base64)
}
