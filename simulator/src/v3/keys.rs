//! WeChat Pay's side of v3 keys: the platform key and its public key id, the platform
//! certificates (the configured one, then one more per rotation), which key signs an answer,
//! and the `/v3/certificates` list encrypted with the APIv3 key.
//!
//! Rotation mints a self-signed certificate with rcgen for `rotated_platform_key_pem` (ring
//! signs with an existing RSA PKCS#8 key): serial `7E57C0DE` followed by 32 hex digits counting
//! up from `…F2`, valid from the rotation's second until five years after the expiry of the
//! certificate it replaces. Every rotation uses that same second key (the simulator has only
//! two); the serial tells the certificates apart. Older certificates stay valid and listed until
//! they expire.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rcgen::{
    date_time_ymd, CertificateParams, DistinguishedName, DnType, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use wxcoupon_core::v3::aead::{encrypt_resource, ApiV3Key};
use wxcoupon_core::v3::certificates::{CertificateEntry, CertificateList, EncryptedResource};
use wxcoupon_core::v3::rsa::{certificate_serial, MerchantSigner};
use x509_cert::der::Decode;

use super::fixtures;
use super::rfc3339_beijing;
use crate::config::{AnswerKey, V3Config};

/// The first four bytes of every minted serial (the fixtures' `7E57C0DE`, "test code").
const SERIAL_PREFIX: [u8; 4] = [0x7E, 0x57, 0xC0, 0xDE];
/// The counter of the first minted serial (`…F2`, after the fixture's `…F1`).
const FIRST_ROTATION_SERIAL: u128 = 0xF2;
/// How much longer each rotated certificate lives than the one it replaces.
const ROTATION_EXTRA_LIFETIME: Duration = Duration::from_secs(5 * 365 * 86_400);

/// A key that signs answers, shared with the requests being answered.
pub(crate) type Signer = Arc<MerchantSigner>;

/// One platform certificate.
#[derive(Clone)]
pub(crate) struct PlatformCertificate {
    pub serial: String,
    pub pem: String,
    pub signer: Signer,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

/// The platform keys and certificates as they stand.
pub(crate) struct PlatformKeys {
    public_key_id: String,
    public_key_pem: String,
    platform: Signer,
    rotated: Signer,
    rotated_key_pem: String,
    answer_key: AnswerKey,
    /// Oldest first; the last is the current one.
    certificates: Vec<PlatformCertificate>,
    next_serial: u128,
    /// Not WeChat Pay's: what the `wrong_sign` fault signs with.
    wrong: Signer,
}

impl std::fmt::Debug for PlatformKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformKeys")
            .field("public_key_id", &self.public_key_id)
            .field("serials", &self.serials())
            .finish_non_exhaustive()
    }
}

/// A certificate's validity in Unix seconds.
fn validity(pem: &str) -> anyhow::Result<(i64, i64)> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).context("not a certificate PEM")?;
    let cert = x509_cert::Certificate::from_der(der.as_ref())
        .map_err(|_| anyhow::anyhow!("unreadable certificate"))?;
    let v = &cert.tbs_certificate.validity;
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    Ok((
        secs(v.not_before.to_unix_duration()),
        secs(v.not_after.to_unix_duration()),
    ))
}

fn signer(pem: &str, what: &str) -> anyhow::Result<Signer> {
    MerchantSigner::from_pkcs8_pem(pem)
        .map(Arc::new)
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

impl PlatformKeys {
    /// From validated settings.
    pub(crate) fn new(config: &V3Config) -> anyhow::Result<PlatformKeys> {
        let platform = signer(&config.platform_key_pem, "v3.platform_key_pem")?;
        let public_key_pem = KeyPair::from_pem(&config.platform_key_pem)
            .context("v3.platform_key_pem")?
            .public_key_pem();
        let serial = certificate_serial(&config.platform_certificate_pem)
            .map_err(|e| anyhow::anyhow!("v3.platform_certificate_pem: {e}"))?;
        let (not_before, not_after) =
            validity(&config.platform_certificate_pem).context("v3.platform_certificate_pem")?;
        // Fail now rather than at the first rotation.
        KeyPair::from_pem(&config.rotated_platform_key_pem)
            .context("v3.rotated_platform_key_pem: rcgen cannot sign with it")?;
        Ok(PlatformKeys {
            public_key_id: config.public_key_id.clone(),
            public_key_pem,
            rotated: signer(
                &config.rotated_platform_key_pem,
                "v3.rotated_platform_key_pem",
            )?,
            rotated_key_pem: config.rotated_platform_key_pem.clone(),
            answer_key: config.answer_key,
            certificates: vec![PlatformCertificate {
                serial,
                pem: config.platform_certificate_pem.clone(),
                signer: platform.clone(),
                not_before,
                not_after,
            }],
            platform,
            next_serial: FIRST_ROTATION_SERIAL,
            wrong: signer(fixtures::MERCHANT_KEY_PEM, "the merchant fixture key")?,
        })
    }

    /// The WeChat Pay public key (SPKI PEM) of the platform key.
    pub(crate) fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// The current (newest) certificate.
    pub(crate) fn current(&self) -> &PlatformCertificate {
        self.certificates
            .last()
            .expect("there is always the configured certificate")
    }

    /// Every certificate, the current one first, then older ones newest first.
    pub(crate) fn certificates(&self) -> Vec<PlatformCertificate> {
        self.certificates.iter().rev().cloned().collect()
    }

    /// Every certificate serial, the current one first.
    pub(crate) fn serials(&self) -> Vec<String> {
        self.certificates
            .iter()
            .rev()
            .map(|c| c.serial.clone())
            .collect()
    }

    /// The `Wechatpay-Serial` and key an answer is signed with, for the request's
    /// `Wechatpay-Serial` (see the module doc of [`crate::v3`]).
    pub(crate) fn choose(&self, requested: Option<&str>) -> (String, Signer) {
        let requested = requested.map(str::trim).filter(|s| !s.is_empty());
        let current = self.current();
        if let Some(serial) = requested {
            if serial == self.public_key_id {
                return (self.public_key_id.clone(), self.platform.clone());
            }
            // A current or older certificate: answered with the current one.
            if self
                .certificates
                .iter()
                .any(|c| c.serial.eq_ignore_ascii_case(serial))
            {
                return (current.serial.clone(), current.signer.clone());
            }
        }
        match self.answer_key {
            AnswerKey::PublicKey => (self.public_key_id.clone(), self.platform.clone()),
            AnswerKey::Certificate => (current.serial.clone(), current.signer.clone()),
        }
    }

    /// The key the `wrong_sign` fault signs with.
    pub(crate) fn wrong_signer(&self) -> Signer {
        self.wrong.clone()
    }

    /// Mints the next certificate for the rotated key, valid from `now`; it becomes the
    /// current one. Returns its serial.
    pub(crate) fn rotate(&mut self, now: i64) -> anyhow::Result<String> {
        let key = KeyPair::from_pem(&self.rotated_key_pem).context("the rotated key")?;
        let (serial_bytes, serial) = loop {
            let mut bytes = SERIAL_PREFIX.to_vec();
            bytes.extend_from_slice(&self.next_serial.to_be_bytes());
            self.next_serial += 1;
            let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
            if !self.certificates.iter().any(|c| c.serial == hex) {
                break (bytes, hex);
            }
        };
        let epoch = date_time_ymd(1970, 1, 1);
        let now_secs = u64::try_from(now).unwrap_or(0);
        let previous_expiry = u64::try_from(self.current().not_after).unwrap_or(0);
        let mut params = CertificateParams::default();
        params.serial_number = Some(SerialNumber::from_slice(&serial_bytes));
        params.not_before = epoch + Duration::from_secs(now_secs);
        params.not_after =
            epoch + Duration::from_secs(previous_expiry.max(now_secs)) + ROTATION_EXTRA_LIFETIME;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "CN");
        dn.push(
            DnType::OrganizationName,
            "TEST ONLY - not issued by WeChat Pay",
        );
        dn.push(
            DnType::OrganizationalUnitName,
            "TEST platform certificate (rotated by wxcoupon-simulator)",
        );
        dn.push(DnType::CommonName, "Tenpay.com TEST platform");
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let pem = params
            .self_signed(&key)
            .context("signing the rotated platform certificate")?
            .pem();
        let read =
            certificate_serial(&pem).map_err(|e| anyhow::anyhow!("the minted certificate: {e}"))?;
        if read != serial {
            bail!("the minted certificate has serial {read}, not {serial}");
        }
        let (not_before, not_after) = validity(&pem)?;
        self.certificates.push(PlatformCertificate {
            serial: serial.clone(),
            pem,
            signer: self.rotated.clone(),
            not_before,
            not_after,
        });
        Ok(serial)
    }

    /// The `/v3/certificates` body: every certificate valid at `now`, the current one first,
    /// each encrypted with the APIv3 key under a fresh 12-character nonce and associated data
    /// `certificate`.
    pub(crate) fn certificate_list(
        &self,
        key: &ApiV3Key,
        now: i64,
        mut nonce: impl FnMut() -> String,
    ) -> CertificateList {
        let data = self
            .certificates
            .iter()
            .rev()
            .filter(|c| c.not_before <= now && now < c.not_after)
            .map(|c| {
                let nonce = nonce();
                let ciphertext = encrypt_resource(key, &nonce, "certificate", &c.pem)
                    .expect("a 12-byte nonce encrypts");
                CertificateEntry {
                    serial_no: c.serial.clone(),
                    effective_time: rfc3339_beijing(c.not_before),
                    expire_time: rfc3339_beijing(c.not_after),
                    encrypt_certificate: EncryptedResource {
                        algorithm: "AEAD_AES_256_GCM".into(),
                        nonce,
                        associated_data: "certificate".into(),
                        ciphertext,
                    },
                }
            })
            .collect();
        CertificateList { data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wxcoupon_core::v3::aead::decrypt_resource;
    use wxcoupon_core::v3::auth::ToVerify;
    use wxcoupon_core::v3::rsa::Verifiers;

    const NOW: i64 = 1_750_000_000;

    #[test]
    fn the_public_key_is_the_fixtures_and_keys_follow_the_serial() {
        let keys = PlatformKeys::new(&V3Config::default()).unwrap();
        assert_eq!(
            keys.public_key_pem().replace("\r\n", "\n"),
            fixtures::PLATFORM_PUBLIC_KEY_PEM
        );
        assert_eq!(keys.serials(), vec![fixtures::PLATFORM_SERIAL_NO]);
        assert_eq!(keys.choose(None).0, fixtures::PUBLIC_KEY_ID);
        assert_eq!(
            keys.choose(Some(fixtures::PLATFORM_SERIAL_NO)).0,
            fixtures::PLATFORM_SERIAL_NO
        );
        assert_eq!(keys.choose(Some("nobody")).0, fixtures::PUBLIC_KEY_ID);
    }

    #[test]
    fn rotation_mints_a_later_certificate_for_the_rotated_key() {
        let mut keys = PlatformKeys::new(&V3Config::default()).unwrap();
        let old = keys.current().clone();
        let serial = keys.rotate(NOW).unwrap();
        assert_eq!(serial, "7E57C0DE000000000000000000000000000000F2");
        let new = keys.current().clone();
        assert_eq!(new.serial, serial);
        assert_eq!(new.not_before, NOW);
        assert!(new.not_after > old.not_after);
        assert_eq!(keys.serials(), vec![serial.clone(), old.serial.clone()]);
        // The old serial is answered with the new certificate.
        assert_eq!(keys.choose(Some(&old.serial)).0, serial);
        // The new certificate verifies what the rotated key signs.
        let (chosen, signer) = keys.choose(Some(&serial));
        let verifiers = Verifiers::new()
            .with_platform_certificate(&new.pem)
            .unwrap();
        let message = "1\nn\n{}\n".to_string();
        verifiers
            .verify(&ToVerify {
                serial: chosen,
                signature: signer.sign(&message),
                message,
            })
            .unwrap();
        // Both are listed and decrypt.
        let key = ApiV3Key::new(fixtures::APIV3_KEY).unwrap();
        let list = keys.certificate_list(&key, NOW, || "0123456789ab".into());
        assert_eq!(list.data.len(), 2);
        assert_eq!(list.data[0].serial_no, serial);
        let r = &list.data[1].encrypt_certificate;
        let pem = decrypt_resource(&key, &r.nonce, &r.associated_data, &r.ciphertext).unwrap();
        assert_eq!(pem, fixtures::PLATFORM_CERT_PEM);
        assert!(list.data[0].expire_time > list.data[1].expire_time);
        assert_eq!(
            keys.rotate(NOW).unwrap(),
            "7E57C0DE000000000000000000000000000000F3"
        );
    }
}
