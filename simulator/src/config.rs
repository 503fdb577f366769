//! Settings: the merchant the simulator plays WeChat Pay for, its keys, the stocks it starts with,
//! where it listens, and the faults armed at start. Everything here is plain data that reads from
//! TOML; [`SimulatorConfig::validate`] checks it before anything is bound.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;
use wxcoupon_core::v3::aead::ApiV3Key;
use wxcoupon_core::v3::auth::ToVerify;
use wxcoupon_core::v3::rsa::{certificate_serial, MerchantSigner, Verifiers};
use wxcoupon_core::xml::check_field_value;

use crate::faults::Faults;
use crate::v3::fixtures;

/// The appid of WeChat's own documentation samples.
pub const DEFAULT_APPID: &str = "wx5edab3bdfba3dc1c";
/// The mch_id of WeChat's own documentation samples.
pub const DEFAULT_MCH_ID: &str = "10000098";
/// The APIv2 key of WeChat's signature samples (the spec's test vectors use it).
pub const DEFAULT_API_KEY: &str = "192006250b4c09247ec02edce69f6a2d";
/// The key `getsignkey` hands out by default; sandbox requests must be signed with it.
pub const DEFAULT_SANDBOX_KEY: &str = "5f0c3b6a8d1e4f2a9b7c6d5e4f3a2b1c";

/// 2024-01-01 00:00:00 Beijing time, in Unix seconds: the default start of every stock.
pub const DEFAULT_BEGIN_TIME: i64 = 1_704_038_400;
/// 2099-12-31 23:59:59 Beijing time, in Unix seconds: the default end of every stock.
pub const DEFAULT_END_TIME: i64 = 4_102_415_999;
/// 2023-12-20 10:30:00 Beijing time, in Unix seconds: the default creation time of every stock.
pub const DEFAULT_CREATE_TIME: i64 = 1_703_039_400;

/// `coupon_stock_status` of a stock that can issue coupons (已激活).
pub const STATUS_ACTIVE: u32 = 4;
/// Every `coupon_stock_status` WeChat documents: 1 inactive, 2 under review, 4 active, 8 voided,
/// 16 sending stopped.
pub const KNOWN_STATUSES: [u32; 5] = [1, 2, 4, 8, 16];

/// Everything the simulator needs to start. `Default` gives a ready-to-use merchant (the ids and
/// key of WeChat's documentation samples) with four stocks; every field can be set from TOML
/// (missing fields keep their defaults, unknown fields are refused).
///
/// Its `Debug` output redacts both keys.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatorConfig {
    /// The Official Account appid requests must carry.
    pub appid: String,
    /// The merchant id requests must carry; also the CN of the generated client certificate.
    pub mch_id: String,
    /// The production APIv2 key: production paths and `getsignkey` are verified with it.
    pub api_key: String,
    /// The key `getsignkey` returns; `/sandboxnew/...` coupon requests are verified with it.
    pub sandbox_key: String,
    /// Sign successful responses (`sign` over every field). Real coupon responses carry no
    /// `sign`, hence `false` by default.
    pub sign_responses: bool,
    /// The stocks the simulator starts with (the sandbox starts with its own copy of them).
    pub stocks: Vec<StockSeed>,
    /// Where to write the generated PEM files (`ca.pem`, `server.pem`, `server-key.pem`,
    /// `client.pem`, `client-key.pem`); nothing is written when `None`.
    pub cert_dir: Option<PathBuf>,
    /// The HTTPS listening address; `None` means `127.0.0.1:0` (a port chosen by the OS).
    pub listen: Option<SocketAddr>,
    /// Also open a plain-HTTP listener (no TLS, so no client certificate: `send_coupon` answers
    /// `CA_ERROR` there).
    pub plain_http: bool,
    /// The plain-HTTP listening address when `plain_http` is set; `None` means the HTTPS
    /// listener's IP with a port chosen by the OS.
    pub plain_listen: Option<SocketAddr>,
    /// Faults armed from the start (see [`Faults`]); they can be changed at run time.
    pub faults: Faults,
    /// WeChat's issuing rate limit: at most this many `send_coupon` requests per second (a
    /// fixed one-second window, production and sandbox counted together); the ones beyond are
    /// answered `FREQ_OVER_LIMIT` and not processed. `None`: no limit. API v3's issue call
    /// counts in the same window (answered 429 `FREQUENCY_LIMITED` beyond it).
    pub send_coupon_per_second: Option<u32>,
    /// API v3 (`/v3/marketing/favor`, `/v3/certificates`): the merchant's API certificate, the
    /// APIv3 key and WeChat Pay's keys (TOML table `[v3]`). The v3 merchant is this merchant:
    /// v3 `mchid` = `mch_id`, and its appid is `appid`.
    pub v3: V3Config,
    /// Where `COUPON.USE` callbacks really go: a base URL (`http://127.0.0.1:PORT`) that
    /// replaces the registered notify URL's scheme and host, its path and query kept. WeChat
    /// calls only `https://` URLs (and the core refuses to register any other), so a test
    /// receiving on plain-HTTP loopback sets this. `None`: deliver to the registered URL.
    pub notify_via: Option<String>,
    /// The CA (PEM) a delivery to an `https://` notify URL trusts (without `notify_via`);
    /// `None`: such deliveries fail as transport errors (and are retried).
    pub notify_ca_pem: Option<String>,
    /// The delays between a callback's attempts, milliseconds: after a non-2xx answer or a
    /// transport error the event is delivered again, with the same id, after the next delay;
    /// when they are used up the event is given up. Default: WeChat's 15s, 15s, 30s, 3m, 10m,
    /// 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h.
    pub notify_retry_delays_ms: Vec<u64>,
    /// How long a callback receiver may take to answer, milliseconds (WeChat: 5 s); longer
    /// counts as a transport error.
    pub notify_timeout_ms: u64,
    /// Which key signs callbacks.
    pub callback_key: CallbackKey,
    /// How long a flow file's `url` stays valid, milliseconds (WeChat: 30 s).
    pub flow_url_valid_ms: u64,
    /// Refuse flow downloads before 10:00 (Beijing) the day after the stock's
    /// `available_end_time`, as WeChat documents. Off by default, so tests get files at once.
    pub flow_after_stock_end: bool,
}

/// WeChat's callback retry schedule, milliseconds.
pub const WECHAT_RETRY_DELAYS_MS: [u64; 15] = [
    15_000, 15_000, 30_000, 180_000, 600_000, 1_200_000, 1_800_000, 1_800_000, 1_800_000,
    3_600_000, 10_800_000, 10_800_000, 10_800_000, 21_600_000, 21_600_000,
];

/// Which key signs a `COUPON.USE` callback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackKey {
    /// The platform key under the WeChat Pay public key id.
    #[default]
    PublicKey,
    /// The current platform certificate, under its serial.
    Certificate,
    /// A merchant migrating to the public key: attempts alternate, the public key first, then
    /// the current certificate (WeChat switches callbacks over gradually, so a verifier must
    /// hold both).
    Migration,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            appid: DEFAULT_APPID.into(),
            mch_id: DEFAULT_MCH_ID.into(),
            api_key: DEFAULT_API_KEY.into(),
            sandbox_key: DEFAULT_SANDBOX_KEY.into(),
            sign_responses: false,
            stocks: StockSeed::defaults(),
            cert_dir: None,
            listen: None,
            plain_http: false,
            plain_listen: None,
            faults: Faults::default(),
            send_coupon_per_second: None,
            v3: V3Config::default(),
            notify_via: None,
            notify_ca_pem: None,
            notify_retry_delays_ms: WECHAT_RETRY_DELAYS_MS.to_vec(),
            notify_timeout_ms: 5_000,
            callback_key: CallbackKey::default(),
            flow_url_valid_ms: 30_000,
            flow_after_stock_end: false,
        }
    }
}

impl fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("appid", &self.appid)
            .field("mch_id", &self.mch_id)
            .field("api_key", &"<redacted>")
            .field("sandbox_key", &"<redacted>")
            .field("sign_responses", &self.sign_responses)
            .field("stocks", &self.stocks)
            .field("cert_dir", &self.cert_dir)
            .field("listen", &self.listen)
            .field("plain_http", &self.plain_http)
            .field("plain_listen", &self.plain_listen)
            .field("faults", &self.faults)
            .field("send_coupon_per_second", &self.send_coupon_per_second)
            .field("v3", &self.v3)
            .field("notify_via", &self.notify_via)
            .field(
                "notify_ca_pem",
                &self.notify_ca_pem.as_ref().map(|_| "<set>"),
            )
            .field("notify_retry_delays_ms", &self.notify_retry_delays_ms)
            .field("notify_timeout_ms", &self.notify_timeout_ms)
            .field("callback_key", &self.callback_key)
            .field("flow_url_valid_ms", &self.flow_url_valid_ms)
            .field("flow_after_stock_end", &self.flow_after_stock_end)
            .finish()
    }
}

impl SimulatorConfig {
    /// Reads a configuration from TOML text; absent fields keep their defaults.
    pub fn from_toml_str(text: &str) -> anyhow::Result<SimulatorConfig> {
        let config: SimulatorConfig = toml::from_str(text).context("invalid simulator config")?;
        Ok(config)
    }

    /// Reads a configuration from a TOML file.
    pub fn load(path: &Path) -> anyhow::Result<SimulatorConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        SimulatorConfig::from_toml_str(&text)
            .with_context(|| format!("in config file {}", path.display()))
    }

    /// Checks every rule the simulator relies on: ids and keys in WeChat's forms, the two keys
    /// different, stock ids unique, statuses documented, names writable as XML, faults sound.
    pub fn validate(&self) -> anyhow::Result<()> {
        check_id("appid", &self.appid)?;
        check_id("mch_id", &self.mch_id)?;
        check_key("api_key", &self.api_key)?;
        check_key("sandbox_key", &self.sandbox_key)?;
        if self.api_key == self.sandbox_key {
            bail!("sandbox_key must differ from api_key (WeChat's sandbox key is a different one)");
        }
        let mut seen = std::collections::BTreeSet::new();
        for stock in &self.stocks {
            stock.validate()?;
            if !seen.insert(stock.coupon_stock_id.as_str()) {
                bail!("stock {:?} is listed twice", stock.coupon_stock_id);
            }
        }
        self.faults.validate()?;
        self.v3.validate()?;
        if let Some(via) = &self.notify_via {
            let rest = via
                .strip_prefix("http://")
                .or_else(|| via.strip_prefix("https://"))
                .unwrap_or("");
            if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
                bail!("notify_via must be a base URL without a path (http://127.0.0.1:PORT)");
            }
        }
        if self.notify_retry_delays_ms.len() > 100 {
            bail!("notify_retry_delays_ms lists at most 100 delays");
        }
        if self.notify_timeout_ms == 0 {
            bail!("notify_timeout_ms must be at least 1");
        }
        Ok(())
    }
}

/// Which key signs a v3 answer when the request's `Wechatpay-Serial` names neither the WeChat
/// Pay public key nor the current platform certificate (or is absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKey {
    /// The platform key, under the WeChat Pay public key id (`Wechatpay-Serial: PUB_KEY_ID_…`):
    /// what merchants onboarded since about 2024 get.
    #[default]
    PublicKey,
    /// The current (newest) platform certificate, under its serial.
    Certificate,
}

/// API v3 settings. `Default` is the test material of `tests/fixtures/v3/` (TEST ONLY: those
/// keys protect nothing). Its `Debug` output redacts the APIv3 key and the private keys.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct V3Config {
    /// The merchant API certificate (PEM): request signatures are verified with its public key,
    /// under its serial (the `serial_no` of `Authorization`).
    pub merchant_certificate_pem: String,
    /// The APIv3 key (32 ASCII characters): `/v3/certificates` encrypts with it.
    pub apiv3_key: String,
    /// The WeChat Pay public key id (`PUB_KEY_ID_…`, opaque) answers signed with
    /// `platform_key_pem` carry as `Wechatpay-Serial`.
    pub public_key_id: String,
    /// WeChat Pay's platform private key (PKCS#8 PEM): signs answers, under the public key id
    /// and under `platform_certificate_pem`'s serial.
    pub platform_key_pem: String,
    /// The initial platform certificate (PEM) for `platform_key_pem`.
    pub platform_certificate_pem: String,
    /// The key (PKCS#8 PEM) a rotation ([`crate::RunningSimulator::rotate_platform_certificate`])
    /// mints the new platform certificate for.
    pub rotated_platform_key_pem: String,
    /// Which key signs answers whose request names no key the simulator has.
    pub answer_key: AnswerKey,
}

impl Default for V3Config {
    fn default() -> Self {
        V3Config {
            merchant_certificate_pem: fixtures::MERCHANT_CERT_PEM.into(),
            apiv3_key: fixtures::APIV3_KEY.into(),
            public_key_id: fixtures::PUBLIC_KEY_ID.into(),
            platform_key_pem: fixtures::PLATFORM_KEY_PEM.into(),
            platform_certificate_pem: fixtures::PLATFORM_CERT_PEM.into(),
            rotated_platform_key_pem: fixtures::ROTATED_PLATFORM_KEY_PEM.into(),
            answer_key: AnswerKey::default(),
        }
    }
}

impl fmt::Debug for V3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let serial = |pem: &str| certificate_serial(pem).unwrap_or_else(|_| "<unreadable>".into());
        f.debug_struct("V3Config")
            .field(
                "merchant_certificate",
                &serial(&self.merchant_certificate_pem),
            )
            .field("apiv3_key", &"<redacted>")
            .field("public_key_id", &self.public_key_id)
            .field("platform_key_pem", &"<redacted>")
            .field(
                "platform_certificate",
                &serial(&self.platform_certificate_pem),
            )
            .field("rotated_platform_key_pem", &"<redacted>")
            .field("answer_key", &self.answer_key)
            .finish()
    }
}

impl V3Config {
    /// Checks every setting: the certificates readable, the keys RSA PKCS#8, the platform
    /// certificate for the platform key, the APIv3 key's form, an opaque but sane key id that is
    /// no certificate's serial. Errors never show key material.
    pub fn validate(&self) -> anyhow::Result<()> {
        ApiV3Key::new(&self.apiv3_key).map_err(|rule| anyhow::anyhow!("v3.apiv3_key {rule}"))?;
        let merchant_serial = certificate_serial(&self.merchant_certificate_pem)
            .map_err(|e| anyhow::anyhow!("v3.merchant_certificate_pem: {e}"))?;
        let id = &self.public_key_id;
        if id.trim().is_empty()
            || id.trim() != id
            || id.len() > 128
            || !id.bytes().all(|b| b.is_ascii_graphic())
        {
            bail!("v3.public_key_id must be 1 to 128 printable ASCII characters (PUB_KEY_ID_…)");
        }
        let platform = MerchantSigner::from_pkcs8_pem(&self.platform_key_pem)
            .map_err(|e| anyhow::anyhow!("v3.platform_key_pem: {e} (a PKCS#8 PEM)"))?;
        MerchantSigner::from_pkcs8_pem(&self.rotated_platform_key_pem)
            .map_err(|e| anyhow::anyhow!("v3.rotated_platform_key_pem: {e} (a PKCS#8 PEM)"))?;
        let platform_serial = certificate_serial(&self.platform_certificate_pem)
            .map_err(|e| anyhow::anyhow!("v3.platform_certificate_pem: {e}"))?;
        // The certificate must carry the platform key's public half.
        let message = "wxcoupon-simulator: platform key check";
        let verifiers = Verifiers::new()
            .with_platform_certificate(&self.platform_certificate_pem)
            .map_err(|e| anyhow::anyhow!("v3.platform_certificate_pem: {e}"))?;
        let check = ToVerify {
            serial: platform_serial.clone(),
            message: message.into(),
            signature: platform.sign(message),
        };
        if verifiers.verify(&check).is_err() {
            bail!("v3.platform_certificate_pem is not a certificate for v3.platform_key_pem");
        }
        if *id == platform_serial || *id == merchant_serial {
            bail!("v3.public_key_id must differ from the certificates' serials");
        }
        if merchant_serial == platform_serial {
            bail!(
                "v3.merchant_certificate_pem and v3.platform_certificate_pem have the same serial"
            );
        }
        Ok(())
    }
}

fn check_id(field: &str, value: &str) -> anyhow::Result<()> {
    let len = value.chars().count();
    if len == 0 || len > 32 {
        bail!("{field} must be 1 to 32 characters (got {len})");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("{field} must be ASCII letters, digits, '_' or '-'");
    }
    Ok(())
}

fn check_key(field: &str, value: &str) -> anyhow::Result<()> {
    // Never echo the key itself in the error.
    if value.len() != 32 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("{field} must be 32 printable ASCII characters, the APIv2 key's form");
    }
    Ok(())
}

/// One stock (批次) the simulator starts with. Amounts are in fen (分); times in Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StockSeed {
    /// The stock id (digits in real traffic, e.g. `1757`).
    pub coupon_stock_id: String,
    /// Its name.
    pub coupon_name: String,
    /// Face value of each coupon.
    pub coupon_value: u64,
    /// Minimum spend to use a coupon (reported as `coupon_mininumn` / `coupon_minimum`).
    pub coupon_minimum: u64,
    /// How many coupons the stock holds.
    pub coupon_total: u64,
    /// Most coupons one openid may receive; 0 means no limit.
    pub max_quota: u64,
    /// `coupon_stock_status`: 1 inactive, 2 under review, 4 active, 8 voided, 16 sending stopped.
    /// Only 4 issues coupons.
    pub status: u32,
    /// Validity start; sending before it answers `STOCK_IS_NOT_VALID`.
    pub begin_time: i64,
    /// Validity end; sending after it answers `AL_STOCK_OVER` (the campaign has ended).
    pub end_time: i64,
    /// Creation time.
    pub create_time: i64,
    /// The merchant that created it, when not the simulator's merchant (a partner's stock):
    /// API v3 then refuses the simulator's merchant its flow files and life-cycle changes
    /// (403 `NO_AUTH`).
    pub stock_creator_mchid: Option<String>,
}

impl Default for StockSeed {
    fn default() -> Self {
        StockSeed {
            coupon_stock_id: String::new(),
            coupon_name: String::new(),
            coupon_value: 100,
            coupon_minimum: 0,
            coupon_total: 100,
            max_quota: 1,
            status: STATUS_ACTIVE,
            begin_time: DEFAULT_BEGIN_TIME,
            end_time: DEFAULT_END_TIME,
            create_time: DEFAULT_CREATE_TIME,
            stock_creator_mchid: None,
        }
    }
}

impl StockSeed {
    /// The default stocks:
    ///
    /// | id | what | value / minimum | total | max_quota | status |
    /// |---|---|---|---|---|---|
    /// | 1757 | the documentation's stock | 500 / 1000 | 100 | 1 | 4 active |
    /// | 1758 | no per-user limit | 100 / 0 | 1000 | 0 (unlimited) | 4 active |
    /// | 1759 | not activated | 300 / 0 | 100 | 1 | 1 inactive |
    /// | 1760 | nearly exhausted | 200 / 500 | 1 | 1 | 4 active |
    pub fn defaults() -> Vec<StockSeed> {
        vec![
            StockSeed {
                coupon_stock_id: "1757".into(),
                coupon_name: "测试代金券5元".into(),
                coupon_value: 500,
                coupon_minimum: 1000,
                coupon_total: 100,
                max_quota: 1,
                ..StockSeed::default()
            },
            StockSeed {
                coupon_stock_id: "1758".into(),
                coupon_name: "无门槛代金券1元".into(),
                coupon_value: 100,
                coupon_minimum: 0,
                coupon_total: 1000,
                max_quota: 0,
                ..StockSeed::default()
            },
            StockSeed {
                coupon_stock_id: "1759".into(),
                coupon_name: "未激活代金券3元".into(),
                coupon_value: 300,
                coupon_minimum: 0,
                coupon_total: 100,
                max_quota: 1,
                status: 1,
                ..StockSeed::default()
            },
            StockSeed {
                coupon_stock_id: "1760".into(),
                coupon_name: "限量代金券2元".into(),
                coupon_value: 200,
                coupon_minimum: 500,
                coupon_total: 1,
                max_quota: 1,
                ..StockSeed::default()
            },
        ]
    }

    /// Checks the seed: a short id, a documented status, text XML can carry, sane times.
    pub fn validate(&self) -> anyhow::Result<()> {
        let id = &self.coupon_stock_id;
        let len = id.chars().count();
        if len == 0 || len > 32 || id.trim() != id {
            bail!("coupon_stock_id must be 1 to 32 characters without surrounding spaces");
        }
        check_field_value("coupon_stock_id", id).map_err(|e| anyhow::anyhow!("{e}"))?;
        check_field_value("coupon_name", &self.coupon_name)
            .map_err(|e| anyhow::anyhow!("stock {id}: {e}"))?;
        if self.coupon_name.chars().count() > 128 {
            bail!("stock {id}: coupon_name is longer than 128 characters");
        }
        if !KNOWN_STATUSES.contains(&self.status) {
            bail!(
                "stock {id}: status {} is not one of 1, 2, 4, 8, 16",
                self.status
            );
        }
        if self.begin_time < 0 || self.end_time < 0 || self.create_time < 0 {
            bail!("stock {id}: times must be Unix seconds (not negative)");
        }
        if self.end_time < self.begin_time {
            bail!("stock {id}: end_time is before begin_time");
        }
        if self.coupon_value.checked_mul(self.coupon_total).is_none() {
            bail!("stock {id}: coupon_value × coupon_total overflows");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Endpoint;
    use wxcoupon_core::time::{format_beijing, parse_beijing};

    #[test]
    fn default_times_are_the_documented_instants() {
        assert_eq!(parse_beijing("20240101000000"), Some(DEFAULT_BEGIN_TIME));
        assert_eq!(parse_beijing("20991231235959"), Some(DEFAULT_END_TIME));
        assert_eq!(format_beijing(DEFAULT_CREATE_TIME), "20231220103000");
    }

    #[test]
    fn defaults_validate_and_debug_hides_keys() {
        let config = SimulatorConfig::default();
        config.validate().unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains(DEFAULT_API_KEY));
        assert!(!shown.contains(DEFAULT_SANDBOX_KEY));
    }

    #[test]
    fn toml_overrides_and_keeps_defaults() {
        let config = SimulatorConfig::from_toml_str(
            r#"
            mch_id = "1900000109"
            sign_responses = true

            [[stocks]]
            coupon_stock_id = "42"
            coupon_value = 1000
            coupon_total = 3

            [faults]
            err_code = "SYSTEMERROR"
            only = "send_coupon"
            "#,
        )
        .unwrap();
        assert_eq!(config.mch_id, "1900000109");
        assert_eq!(config.appid, DEFAULT_APPID);
        assert!(config.sign_responses);
        assert_eq!(config.stocks.len(), 1);
        assert_eq!(config.stocks[0].max_quota, 1);
        assert_eq!(config.stocks[0].status, STATUS_ACTIVE);
        assert_eq!(config.faults.err_code.as_deref(), Some("SYSTEMERROR"));
        config.validate().unwrap();
        assert!(SimulatorConfig::from_toml_str("nope = 1").is_err());
        for (name, endpoint) in [
            ("send_coupon", Endpoint::SendCoupon),
            ("query_coupon_stock", Endpoint::QueryCouponStock),
            ("querycouponsinfo", Endpoint::QueryCouponsInfo),
            ("getsignkey", Endpoint::Getsignkey),
        ] {
            let config =
                SimulatorConfig::from_toml_str(&format!("[faults]\nonly = \"{name}\"\n")).unwrap();
            assert_eq!(config.faults.only, Some(endpoint));
            assert_eq!(endpoint.name(), name);
        }
    }

    #[test]
    fn v3_settings_read_from_toml_and_are_checked() {
        let config = SimulatorConfig::from_toml_str(
            r#"
            [v3]
            answer_key = "certificate"
            public_key_id = "PUB_KEY_ID_0100000000000000000000000000OTHER"

            [faults]
            only = "v3_issue_coupon"
            tampered_body = true
            timestamp_offset_seconds = -3600
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.v3.answer_key, AnswerKey::Certificate);
        assert_eq!(config.v3.apiv3_key, fixtures::APIV3_KEY);
        assert_eq!(config.faults.only, Some(Endpoint::V3IssueCoupon));
        assert!(config.faults.tampered_body);
        assert_eq!(config.faults.timestamp_offset_seconds, -3600);
        for (name, endpoint) in [
            ("v3_issue_coupon", Endpoint::V3IssueCoupon),
            ("v3_query_stock", Endpoint::V3QueryStock),
            ("v3_query_coupon", Endpoint::V3QueryCoupon),
            ("v3_certificates", Endpoint::V3Certificates),
        ] {
            let config =
                SimulatorConfig::from_toml_str(&format!("[faults]\nonly = \"{name}\"\n")).unwrap();
            assert_eq!(config.faults.only, Some(endpoint));
            assert_eq!(endpoint.name(), name);
            assert!(endpoint.is_v3());
        }
        let shown = format!("{:?}", V3Config::default());
        assert!(!shown.contains(fixtures::APIV3_KEY));
        assert!(!shown.contains("PRIVATE KEY"));
        assert!(shown.contains(fixtures::PLATFORM_SERIAL_NO));

        let bad = |change: &dyn Fn(&mut V3Config)| {
            let mut v3 = V3Config::default();
            change(&mut v3);
            v3.validate().unwrap_err().to_string()
        };
        assert!(bad(&|c| c.apiv3_key = "short".into()).contains("apiv3_key"));
        let err = bad(&|c| c.apiv3_key = "x".repeat(31));
        assert!(!err.contains(&"x".repeat(31)));
        assert!(bad(&|c| c.public_key_id = String::new()).contains("public_key_id"));
        assert!(
            bad(&|c| c.public_key_id = fixtures::PLATFORM_SERIAL_NO.into())
                .contains("public_key_id")
        );
        // The platform certificate must be the platform key's.
        assert!(
            bad(&|c| c.platform_key_pem = fixtures::ROTATED_PLATFORM_KEY_PEM.into())
                .contains("not a certificate for")
        );
        assert!(bad(&|c| c.merchant_certificate_pem = "nope".into()).contains("merchant"));
        assert!(
            bad(&|c| c.rotated_platform_key_pem = fixtures::MERCHANT_CERT_PEM.into())
                .contains("rotated_platform_key_pem")
        );
        assert!(
            bad(&|c| c.platform_certificate_pem = fixtures::MERCHANT_CERT_PEM.into())
                .contains("not a certificate for")
        );
    }

    #[test]
    fn callback_and_flow_settings_read_from_toml_and_are_checked() {
        let defaults = SimulatorConfig::default();
        assert_eq!(defaults.notify_retry_delays_ms, WECHAT_RETRY_DELAYS_MS);
        assert_eq!(defaults.notify_retry_delays_ms[3], 180_000);
        assert_eq!(defaults.flow_url_valid_ms, 30_000);
        assert!(!defaults.flow_after_stock_end);
        let config = SimulatorConfig::from_toml_str(
            r#"
            notify_via = "http://127.0.0.1:8080"
            notify_retry_delays_ms = [50, 50]
            callback_key = "migration"
            flow_url_valid_ms = 200
            flow_after_stock_end = true

            [[stocks]]
            coupon_stock_id = "7"
            stock_creator_mchid = "10000099"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.callback_key, CallbackKey::Migration);
        assert_eq!(config.notify_retry_delays_ms, [50, 50]);
        assert_eq!(
            config.stocks[0].stock_creator_mchid.as_deref(),
            Some("10000099")
        );
        for bad in ["127.0.0.1:1", "http://", "http://h/path", "ftp://h"] {
            let config = SimulatorConfig {
                notify_via: Some(bad.into()),
                ..SimulatorConfig::default()
            };
            assert!(config.validate().is_err(), "{bad}");
        }
        let config = SimulatorConfig {
            notify_timeout_ms: 0,
            ..SimulatorConfig::default()
        };
        assert!(config.validate().is_err());
    }

    #[test]
    fn validation_catches_bad_settings() {
        let mut config = SimulatorConfig {
            sandbox_key: DEFAULT_API_KEY.into(),
            ..SimulatorConfig::default()
        };
        assert!(config.validate().is_err());
        config.sandbox_key = "short".into();
        let err = config.validate().unwrap_err().to_string();
        assert!(!err.contains("short"));
        config.sandbox_key = DEFAULT_SANDBOX_KEY.into();
        config.stocks.push(config.stocks[0].clone());
        assert!(config.validate().is_err());
        config.stocks.pop();
        config.stocks[0].status = 3;
        assert!(config.validate().is_err());
    }
}
