//! The platform-certificate download (`GET /v3/certificates`): the request, and the answer read
//! into certificates — each decrypted with the APIv3 key (AES-256-GCM), parsed, its serial
//! checked against the one listed — with the download itself verified.
//!
//! Verifying the download: with a key already held when the answer names one (every download
//! after the first, and a merchant in public-key mode); otherwise (the first download) with the
//! downloaded certificate the answer names. That first check is not circular: the certificates
//! only come out of AES-GCM authenticated under the APIv3 key, which only the merchant and
//! WeChat know, so a forged list does not decrypt.

use serde::{Deserialize, Serialize};

use super::aead::decrypt_resource;
use super::answer::{json, not_refused, Answer};
use super::auth::check_signed_answer;
use super::error::Error;
use super::merchant::Merchant;
use super::request::{Method, Request};
use super::rsa::{certificate_serial, Verifiers};
use crate::error::MalformedResponse;

/// The download's path.
pub const CERTIFICATES_PATH: &str = "/v3/certificates";

/// The download request.
pub fn download_request() -> Request {
    Request {
        method: Method::Get,
        url: CERTIFICATES_PATH.to_string(),
        body: String::new(),
    }
}

/// One platform certificate, decrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformCertificate {
    /// Its serial, upper-case hex.
    pub serial_no: String,
    /// From when it is valid (RFC 3339).
    pub effective_time: String,
    /// Until when (RFC 3339): refresh before.
    pub expire_time: String,
    /// The certificate, PEM.
    pub pem: String,
}

/// The encrypted resource of one download entry (and of callbacks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    /// `AEAD_AES_256_GCM`.
    pub algorithm: String,
    /// 12 characters.
    pub nonce: String,
    /// `certificate` here (may be absent in callbacks: then empty).
    #[serde(default)]
    pub associated_data: String,
    /// Base64 of ciphertext and tag.
    pub ciphertext: String,
}

/// One entry of the download, as sent (the simulator writes it with the same type).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateEntry {
    /// The serial.
    pub serial_no: String,
    /// From when.
    pub effective_time: String,
    /// Until when.
    pub expire_time: String,
    /// The certificate, encrypted.
    pub encrypt_certificate: EncryptedResource,
}

/// The download's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateList {
    /// The certificates.
    pub data: Vec<CertificateEntry>,
}

impl Merchant {
    /// Decrypts an encrypted resource (a downloaded certificate, a callback's `resource`) with
    /// the APIv3 key; the problem text names what is wrong, never a key or plaintext.
    pub fn open_resource(&self, resource: &EncryptedResource) -> Result<String, String> {
        if resource.algorithm != "AEAD_AES_256_GCM" {
            return Err("algorithm: must be AEAD_AES_256_GCM".into());
        }
        decrypt_resource(
            self.apiv3_key(),
            &resource.nonce,
            &resource.associated_data,
            &resource.ciphertext,
        )
        .map_err(|e| e.to_string())
    }

    /// Reads a download: verified, decrypted, each certificate's serial checked, sorted by
    /// expiry (the newest last). Does not add them: see [`Merchant::add_platform_certificate`].
    pub fn parse_certificates(
        &self,
        answer: &Answer,
        now: i64,
    ) -> Result<Vec<PlatformCertificate>, Error> {
        not_refused(answer)?;
        let held = self.verifiers();
        // Headers, clock and serial first, whatever key ends up verifying.
        let named = check_signed_answer(|n| answer.header(n), &answer.body, now, |_| true)?;
        let list: CertificateList = json(&answer.body)?;
        let mut certificates = Vec::with_capacity(list.data.len());
        for (i, entry) in list.data.iter().enumerate() {
            let field = |name: &str| format!("data[{i}].{name}");
            let pem = self
                .open_resource(&entry.encrypt_certificate)
                .map_err(|e| MalformedResponse::field(field("encrypt_certificate"), e))?;
            let serial = certificate_serial(&pem).map_err(|e| {
                MalformedResponse::field(field("encrypt_certificate"), e.to_string())
            })?;
            if !serial.eq_ignore_ascii_case(entry.serial_no.trim()) {
                return Err(MalformedResponse::field(
                    field("serial_no"),
                    "is not the serial of the certificate it lists",
                )
                .into());
            }
            certificates.push(PlatformCertificate {
                serial_no: serial,
                effective_time: entry.effective_time.clone(),
                expire_time: entry.expire_time.clone(),
                pem,
            });
        }
        if held.holds(&named.serial) {
            held.verify(&named)?;
        } else {
            let mut downloaded = Verifiers::new();
            for c in &certificates {
                downloaded = downloaded
                    .with_platform_certificate(&c.pem)
                    .map_err(|e| Error::from(MalformedResponse::field("data", e.to_string())))?;
            }
            if !downloaded.holds(&named.serial) {
                return Err(super::auth::AnswerRefusal::UnknownSerial.into());
            }
            downloaded.verify(&named)?;
        }
        certificates.sort_by(|a, b| a.expire_time.cmp(&b.expire_time));
        Ok(certificates)
    }
}
