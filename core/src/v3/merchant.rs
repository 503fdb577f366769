//! A v3 merchant, read once from its settings and kept: the identity requests are signed under,
//! the APIv3 key, the WeChat Pay keys answers are verified with, and (when the merchant's private
//! key is given) the signer. Nothing secret can be read back out, and its `Debug` shows only the
//! mchid, the serials and which parts are held.

use std::fmt;

use super::aead::ApiV3Key;
use super::answer::{read_answer, Answer};
use super::error::Error;
use super::request::{SignedRequest, Signer, ToSign};
use super::rsa::{KeyError, MerchantSigner, Verifiers};

/// The production base URL.
pub const BASE_URL: &str = "https://api.mch.weixin.qq.com";

/// A v3 merchant's settings, as given. Read with [`Merchant::new`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MerchantSettings {
    /// `mchid`.
    pub mchid: String,
    /// The merchant API certificate's serial (`serial_no`), hex.
    pub merchant_serial_no: String,
    /// The APIv3 key (32 characters), for downloads and callbacks.
    pub apiv3_key: String,
    /// The merchant API private key, PKCS#8 PEM (`apiclient_key.pem`), when this side signs.
    pub private_key_pem: Option<String>,
    /// The WeChat Pay public key id (`PUB_KEY_ID_…`) …
    pub wechatpay_public_key_id: Option<String>,
    /// … and the key, SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub wechatpay_public_key_pem: Option<String>,
    /// Platform certificates (PEM) already held (downloaded earlier, or configured).
    pub platform_certificates: Vec<String>,
    /// The base URL; [`BASE_URL`] when `None`.
    pub base_url: Option<String>,
}

impl fmt::Debug for MerchantSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerchantSettings")
            .field("mchid", &self.mchid)
            .field("merchant_serial_no", &self.merchant_serial_no)
            .field("apiv3_key", &"<redacted>")
            .field(
                "private_key_pem",
                &self.private_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .field("wechatpay_public_key_id", &self.wechatpay_public_key_id)
            .field("platform_certificates", &self.platform_certificates.len())
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// A v3 merchant, ready for calls.
pub struct Merchant {
    mchid: String,
    serial_no: String,
    apiv3_key: ApiV3Key,
    signer: Option<MerchantSigner>,
    verifiers: Verifiers,
    public_key_id: Option<String>,
    /// The newest platform certificate's serial (the last one added).
    newest_certificate: Option<String>,
    base_url: String,
}

impl fmt::Debug for Merchant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merchant")
            .field("mchid", &self.mchid)
            .field("serial_no", &self.serial_no)
            .field("signs", &self.signer.is_some())
            .field("verifiers", &self.verifiers)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn key_rule(e: KeyError) -> String {
    e.to_string()
}

impl Merchant {
    /// Reads the settings; every problem names its setting (`merchant.…`) and never a value.
    pub fn new(settings: &MerchantSettings) -> Result<Merchant, Error> {
        let mchid = settings.mchid.trim();
        if mchid.is_empty() || mchid.len() > 32 || !mchid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid("merchant.mchid", "must be 1–32 digits"));
        }
        let serial_no = settings.merchant_serial_no.trim().to_ascii_uppercase();
        if serial_no.is_empty()
            || serial_no.len() > 64
            || !serial_no.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Error::invalid(
                "merchant.merchant_serial_no",
                "must be the merchant API certificate's serial, 1–64 hex digits",
            ));
        }
        let apiv3_key = ApiV3Key::new(&settings.apiv3_key)
            .map_err(|rule| Error::invalid("merchant.apiv3_key", rule))?;
        let signer = match &settings.private_key_pem {
            Some(pem) => Some(MerchantSigner::from_pkcs8_pem(pem).map_err(|e| {
                Error::invalid(
                    "merchant.private_key",
                    format!("{} (a PKCS#8 PEM, BEGIN PRIVATE KEY)", key_rule(e)),
                )
            })?),
            None => None,
        };
        let mut verifiers = Verifiers::new();
        let public_key_id = match (
            &settings.wechatpay_public_key_id,
            &settings.wechatpay_public_key_pem,
        ) {
            (Some(id), Some(pem)) => {
                let id = id.trim();
                if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
                    return Err(Error::invalid(
                        "merchant.wechatpay_public_key_id",
                        "must be the key id (PUB_KEY_ID_…), at most 128 characters",
                    ));
                }
                verifiers = verifiers.with_public_key(id, pem).map_err(|e| {
                    Error::invalid(
                        "merchant.wechatpay_public_key",
                        format!("{} (an SPKI PEM, BEGIN PUBLIC KEY)", key_rule(e)),
                    )
                })?;
                Some(id.to_string())
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(Error::invalid(
                    "merchant.wechatpay_public_key",
                    "required with wechatpay_public_key_id",
                ))
            }
            (None, Some(_)) => {
                return Err(Error::invalid(
                    "merchant.wechatpay_public_key_id",
                    "required with wechatpay_public_key",
                ))
            }
        };
        let base_url = settings
            .base_url
            .as_deref()
            .unwrap_or(BASE_URL)
            .trim_end_matches('/')
            .to_string();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(Error::invalid(
                "merchant.base_url",
                "must start with https:// (or http:// for a local test server)",
            ));
        }
        let mut merchant = Merchant {
            mchid: mchid.to_string(),
            serial_no,
            apiv3_key,
            signer,
            verifiers,
            public_key_id,
            newest_certificate: None,
            base_url,
        };
        for (i, pem) in settings.platform_certificates.iter().enumerate() {
            merchant.add_platform_certificate(pem).map_err(|e| {
                Error::invalid(
                    format!("merchant.platform_certificates[{i}]"),
                    format!("{} (a PEM, BEGIN CERTIFICATE)", key_rule(e)),
                )
            })?;
        }
        Ok(merchant)
    }

    /// `mchid`.
    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether this merchant holds its private key (and so can [`Merchant::sign`]).
    pub fn signs(&self) -> bool {
        self.signer.is_some()
    }

    /// The APIv3 key (for decrypting resources).
    pub fn apiv3_key(&self) -> &ApiV3Key {
        &self.apiv3_key
    }

    /// The keys answers are verified with.
    pub fn verifiers(&self) -> &Verifiers {
        &self.verifiers
    }

    /// Adds (or replaces) a platform certificate; it becomes the one requests name. Returns its
    /// serial.
    pub fn add_platform_certificate(&mut self, pem: &str) -> Result<String, KeyError> {
        let serial = self.verifiers.add_platform_certificate(pem)?;
        self.newest_certificate = Some(serial.clone());
        Ok(serial)
    }

    /// The serials of the platform certificates and the public key id held.
    pub fn serials(&self) -> Vec<String> {
        self.verifiers.serials().map(str::to_string).collect()
    }

    /// Who signs, for [`ToSign::signed`]. Requests name the public key when there is one (the
    /// merchant chose public-key mode), else the newest platform certificate.
    pub fn signer(&self) -> Signer<'_> {
        Signer {
            mchid: &self.mchid,
            serial_no: &self.serial_no,
            wechatpay_serial: self
                .public_key_id
                .as_deref()
                .or(self.newest_certificate.as_deref()),
            base_url: &self.base_url,
        }
    }

    /// Signs a request with the merchant's private key, here.
    pub fn sign(&self, to_sign: ToSign) -> Result<SignedRequest, Error> {
        let signer = self.signer.as_ref().ok_or_else(|| {
            Error::invalid(
                "merchant.private_key",
                "not held here: sign the message outside and hand in the signature",
            )
        })?;
        let signature = signer.sign(&to_sign.message);
        to_sign.signed(&self.signer(), &signature)
    }

    /// Takes an outside signature of [`ToSign::message`].
    pub fn with_signature(&self, to_sign: ToSign, signature: &str) -> Result<SignedRequest, Error> {
        to_sign.signed(&self.signer(), signature)
    }

    /// Reads an answer: a refusal from its status and body, or a verified 2xx body.
    pub fn read_answer<'a>(&self, answer: &'a Answer, now: i64) -> Result<&'a str, Error> {
        read_answer(&self.verifiers, answer, now)
    }
}
