//! [`V3Config`]: what an API v3 call needs, read from the same three layers as the v2
//! [`HostConfig`](super::HostConfig) (file < `WXPAY_*` < flags), with the settings v3 shares
//! with v2 (`mch_id`, `appid`, `base_url`, `ca_file`, the call limits) and its own:
//!
//! | TOML key | variable | value |
//! |---|---|---|
//! | `api` | `WXPAY_API` | `v2` or `v3`; unset: `v3` when `apiv3_key` is set and `api_key` is not |
//! | `merchant_serial_no` | `WXPAY_MERCHANT_SERIAL_NO` | required: the merchant API certificate's serial |
//! | `private_key_file` | `WXPAY_PRIVATE_KEY_FILE` | required: `apiclient_key.pem` (PKCS#8); default `key_file` |
//! | `apiv3_key` | `WXPAY_APIV3_KEY` | required, 32 characters (secret) |
//! | `wechatpay_public_key_id` + `_file` | `WXPAY_WECHATPAY_PUBLIC_KEY_ID`, `WXPAY_WECHATPAY_PUBLIC_KEY_FILE` | public-key mode (together) |
//! | `platform_cert_dir` | `WXPAY_PLATFORM_CERT_DIR` | where downloaded platform certificates are kept |
//! | `v3_sign_in` | `WXPAY_V3_SIGN_IN` | `host` (default: natively) or `component` |
//!
//! Keys to verify answers with: the public key, the platform certificates kept in
//! `platform_cert_dir` (downloaded by `wxcoupon certificates`, or on first use), or both (a
//! merchant migrating). The private key and the APIv3 key never appear in a problem or `Debug`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wxcoupon_core::settings::{self, Need, Reader};
use wxcoupon_core::v3::merchant::{Merchant, MerchantSettings};
use wxcoupon_core::v3::rsa::MerchantSigner;

use super::{layers, load_with, ConfigErrors, ConfigOverrides};
use crate::outbound::{AllowList, OutboundConfig, Timeouts};
use crate::v3::SignWith;

/// How old the kept platform certificates may get before the next call downloads them again
/// (12 h, as gopay; wechatpay-go refreshes every 24 h, wechatpay-java every 60 min).
pub const CERTIFICATE_REFRESH: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// Which API the calls use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// XML, the APIv2 key, the client certificate for issuing.
    V2,
    /// JSON, SHA256-RSA.
    V3,
}

impl Api {
    /// Which API the settings choose (`api`, else by which key is set).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
        overrides: &ConfigOverrides,
    ) -> Result<Api, ConfigErrors> {
        load_with(file, env, overrides, |r| {
            settings::read_api(r).map(|api| match api {
                settings::ApiVersion::V2 => Api::V2,
                settings::ApiVersion::V3 => Api::V3,
            })
        })
    }
}

/// Where v3 requests are signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignIn {
    /// Natively by the host (ring); the component never holds the key.
    Host,
    /// Inside the component (`v3-client`).
    Component,
}

/// A checked v3 configuration; its files have been read.
#[derive(Clone)]
pub struct V3Config {
    /// The appid requests carry (issuing and the coupon query need it).
    pub appid: Option<String>,
    /// The merchant's settings for the component (private key included: [`V3Config::sign_with`]
    /// decides whether it goes in).
    pub merchant: MerchantSettings,
    /// Where requests are signed.
    pub sign_in: SignIn,
    /// Where downloaded platform certificates are kept.
    pub platform_cert_dir: Option<PathBuf>,
    /// The extra CA's PEM.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Call timeouts.
    pub timeouts: Timeouts,
    /// The response cap.
    pub max_response_bytes: usize,
}

impl fmt::Debug for V3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V3Config")
            .field("appid", &self.appid)
            .field("merchant", &self.merchant)
            .field("sign_in", &self.sign_in)
            .field("platform_cert_dir", &self.platform_cert_dir)
            .field("timeouts", &self.timeouts)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

impl V3Config {
    /// Reads the file, the environment and the flags; every problem at once.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
        overrides: &ConfigOverrides,
    ) -> Result<V3Config, ConfigErrors> {
        load_with(file, env, overrides, check)
    }

    /// Like [`V3Config::load`] from the environment only (tests, the demo).
    pub fn from_env(
        env: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    ) -> Result<V3Config, ConfigErrors> {
        let vars = layers::env(env);
        super::build(None, &vars, &ConfigOverrides::default(), check)
    }

    /// Where the component's merchant signs, with the native signer when it is the host; a key
    /// that does not load is `invalid-input` naming `private_key_file`.
    pub fn sign_with(&self) -> Result<SignWith, wxcoupon_core::v3::error::Error> {
        use wxcoupon_core::v3::error::Error;
        match self.sign_in {
            SignIn::Component => Ok(SignWith::Component),
            SignIn::Host => {
                let pem = self
                    .merchant
                    .private_key_pem
                    .as_deref()
                    .ok_or_else(|| Error::invalid("private_key_file", "required"))?;
                MerchantSigner::from_pkcs8_pem(pem)
                    .map(|s| SignWith::Host(Arc::new(s)))
                    .map_err(|e| Error::invalid("private_key_file", e.to_string()))
            }
        }
    }

    /// Whether answers can be verified without downloading platform certificates first.
    pub fn holds_a_key(&self) -> bool {
        self.merchant.wechatpay_public_key_id.is_some()
            || !self.merchant.platform_certificates.is_empty()
    }

    /// The outbound client: the base URL's host (or WeChat's), no client certificate, the
    /// extra CA, timeouts, size cap.
    pub fn outbound(&self) -> OutboundConfig {
        super::outbound_config(
            self.merchant.base_url.as_deref(),
            &[],
            None,
            self.extra_ca_pem.clone(),
            self.timeouts,
            self.max_response_bytes,
        )
    }

    /// Whether the kept certificates are due for a refresh: some are kept and the newest file
    /// is older than [`CERTIFICATE_REFRESH`] (WeChat rotates with overlap, so a refresh well
    /// before expiry always finds the next one listed).
    pub fn certificates_due(&self) -> bool {
        let Some(dir) = &self.platform_cert_dir else {
            return false;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        let newest = entries
            .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
            .max();
        newest.is_some_and(|t| t.elapsed().unwrap_or_default() > CERTIFICATE_REFRESH)
    }

    /// Keeps downloaded certificates in `platform_cert_dir` (one `<serial>.pem` each), when
    /// set. Returns how many were written.
    pub fn keep_certificates(&self, pems: &[(String, String)]) -> std::io::Result<usize> {
        let Some(dir) = &self.platform_cert_dir else {
            return Ok(0);
        };
        std::fs::create_dir_all(dir)?;
        for (serial, pem) in pems {
            let name: String = serial.chars().filter(char::is_ascii_hexdigit).collect();
            std::fs::write(dir.join(format!("{name}.pem")), pem)?;
        }
        Ok(pems.len())
    }
}

/// `path`'s text, or the problem named after `setting`.
fn read_pem(r: &mut Reader<'_>, setting: &settings::Setting, path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) => {
            r.problem(setting, format!("cannot be read ({})", e.kind()));
            None
        }
    }
}

/// The `*.pem` files of the certificate cache, oldest name first; a missing directory is
/// empty (nothing downloaded yet).
fn cached_certificates(r: &mut Reader<'_>, dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| read_pem(r, &settings::PLATFORM_CERT_DIR, p))
        .collect()
}

fn check(r: &mut Reader<'_>) -> Option<V3Config> {
    let mchid = r.required_text(&settings::MCH_ID);
    // Optional here: only issuing and the coupon query carry it (their own rules check it).
    let appid = r.text(&settings::APPID);
    let serial = r.required_text(&settings::MERCHANT_SERIAL_NO);
    let apiv3_key = r.required_secret(&settings::APIV3_KEY);
    let key_file = r
        .path(&settings::PRIVATE_KEY_FILE)
        .or_else(|| r.path(&settings::KEY_FILE));
    let private_key_pem = match key_file {
        Some(path) => read_pem(r, &settings::PRIVATE_KEY_FILE, &path),
        None => {
            r.problem(&settings::PRIVATE_KEY_FILE, settings::REQUIRED_RULE);
            None
        }
    };
    let key_id = r.text(&settings::WECHATPAY_PUBLIC_KEY_ID);
    let key_path = r.path(&settings::WECHATPAY_PUBLIC_KEY_FILE);
    let public_key_pem = match (&key_id, key_path) {
        (Some(_), Some(path)) => read_pem(r, &settings::WECHATPAY_PUBLIC_KEY_FILE, &path),
        (Some(_), None) => {
            let rule = r.render("required with {wechatpay_public_key_id}");
            r.problem(&settings::WECHATPAY_PUBLIC_KEY_FILE, rule);
            None
        }
        (None, Some(_)) => {
            let rule = r.render("required with {wechatpay_public_key_file}");
            r.problem(&settings::WECHATPAY_PUBLIC_KEY_ID, rule);
            None
        }
        (None, None) => None,
    };
    let platform_cert_dir = r.path(&settings::PLATFORM_CERT_DIR);
    let platform_certificates = platform_cert_dir
        .as_deref()
        .map(|dir| cached_certificates(r, dir))
        .unwrap_or_default();
    let sign_in = match r.text(&settings::V3_SIGN_IN).as_deref() {
        None | Some("host") => SignIn::Host,
        Some("component") => SignIn::Component,
        Some(_) => {
            r.problem(&settings::V3_SIGN_IN, settings::V3_SIGN_IN.rule);
            SignIn::Host
        }
    };
    let base_url = r.text(&settings::BASE_URL);
    if let Some(url) = &base_url {
        if let Err(e) = AllowList::deny_all().with_base_url(url) {
            r.problem(&settings::BASE_URL, e.problem);
        }
    }
    let client = super::read_client(r, mchid.as_deref(), Need::Optional);

    let merchant = MerchantSettings {
        mchid: mchid?,
        merchant_serial_no: serial?,
        apiv3_key: apiv3_key?,
        private_key_pem: Some(private_key_pem?),
        wechatpay_public_key_id: key_id,
        wechatpay_public_key_pem: public_key_pem,
        platform_certificates,
        base_url,
    };
    // The core's rules for each part (key forms, the serial, the APIv3 key), named after the
    // setting that holds it.
    if let Err(wxcoupon_core::v3::error::Error::InvalidInput(e)) = Merchant::new(&merchant) {
        let setting = match e.field.as_str() {
            "merchant.mchid" => &settings::MCH_ID,
            "merchant.merchant_serial_no" => &settings::MERCHANT_SERIAL_NO,
            "merchant.apiv3_key" => &settings::APIV3_KEY,
            "merchant.private_key" => &settings::PRIVATE_KEY_FILE,
            "merchant.wechatpay_public_key_id" => &settings::WECHATPAY_PUBLIC_KEY_ID,
            "merchant.wechatpay_public_key" => &settings::WECHATPAY_PUBLIC_KEY_FILE,
            "merchant.base_url" => &settings::BASE_URL,
            _ => &settings::PLATFORM_CERT_DIR,
        };
        r.problem(setting, e.rule);
        return None;
    }
    Some(V3Config {
        appid,
        merchant,
        sign_in,
        platform_cert_dir,
        extra_ca_pem: client.outbound.extra_ca_pem,
        timeouts: client.outbound.timeouts,
        max_response_bytes: client.outbound.max_response_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: Option<PathBuf>) -> V3Config {
        V3Config {
            appid: None,
            merchant: MerchantSettings::default(),
            sign_in: SignIn::Host,
            platform_cert_dir: dir,
            extra_ca_pem: None,
            timeouts: Timeouts::default(),
            max_response_bytes: 65536,
        }
    }

    #[test]
    fn kept_certificates_fall_due_after_the_refresh_period() {
        let dir = std::env::temp_dir().join(format!("wxcoupon-due-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = config(Some(dir.clone()));
        assert!(
            !c.certificates_due(),
            "nothing kept: the caller downloads anyway"
        );
        assert!(!config(None).certificates_due());
        c.keep_certificates(&[("7E57C0DEF1".into(), "pem".into())])
            .unwrap();
        assert!(!c.certificates_due(), "just kept");
        let file = std::fs::File::options()
            .write(true)
            .open(dir.join("7E57C0DEF1.pem"))
            .unwrap();
        let old =
            std::time::SystemTime::now() - CERTIFICATE_REFRESH - std::time::Duration::from_secs(60);
        file.set_modified(old).unwrap();
        assert!(c.certificates_due());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
