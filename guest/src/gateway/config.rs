//! The gateway's settings, read from `wasi:cli/environment` on every request (no custom host
//! imports: Spin's `environment = {..}`, `wasmtime serve --env`, `jco serve`'s environment and
//! `wxcoupon serve` all provide it), through the core's settings module
//! (`wxcoupon_core::settings`: the one table, rules and limits of every edge).
//!
//! | variable | value |
//! |---|---|
//! | `WXPAY_APPID` | required, ≤ 32 characters |
//! | `WXPAY_MCH_ID` | required, ≤ 32 characters |
//! | `WXPAY_API_KEY` | required, the 32-character APIv2 key (secret: never echoed) |
//! | `WXPAY_SIGN_TYPE` | `MD5` (default) or `HMAC-SHA256` (any case) |
//! | `WXPAY_BASE_URL` | `http(s)://host[:port][/path]` instead of WeChat Pay's host |
//! | `WXPAY_BACKUP_HOST` | boolean: `api2.mch.weixin.qq.com` (not with `WXPAY_BASE_URL`) |
//! | `WXPAY_SANDBOX` | boolean: `/sandboxnew` paths (MD5 only) |
//! | `WXPAY_REQUIRE_SIGNED_RESPONSES` | boolean: refuse unsigned answers |
//! | `WXPAY_CONNECT_TIMEOUT_MS` | 1–600000, default 5000 |
//! | `WXPAY_FIRST_BYTE_TIMEOUT_MS` | 1–600000, default 10000 |
//! | `WXPAY_BETWEEN_BYTES_TIMEOUT_MS` | 1–600000, default 10000 |
//! | `WXPAY_MAX_RESPONSE_BYTES` | 1–16777216, default 65536 |
//! | `WXPAY_GATEWAY_TOKENS` | `name:sha256hex[,…]`: the callers of `/v1/*` (bearer tokens kept as their SHA-256, `wxcoupon_api::callers`); unset: open, for a runtime that only trusted processes reach |
//! | `WXPAY_API` | `v2` or `v3` for the three coupon routes; unset: `v3` when `WXPAY_APIV3_KEY` is set and `WXPAY_API_KEY` is not |
//! | `WXPAY_MERCHANT_SERIAL_NO` | v3: the merchant API certificate's serial |
//! | `WXPAY_PRIVATE_KEY` | v3: the merchant API private key, PKCS#8 PEM text (secret) |
//! | `WXPAY_APIV3_KEY` | v3: the 32-character APIv3 key (secret) |
//! | `WXPAY_WECHATPAY_PUBLIC_KEY_ID`, `WXPAY_WECHATPAY_PUBLIC_KEY` | v3: the WeChat Pay public key (id and SPKI PEM text) |
//! | `WXPAY_PLATFORM_CERTIFICATES` | v3: platform certificates, PEM text (one or more blocks); with the public key during a migration |
//! | `WXPAY_NOTIFY_FORWARD_URL` | where verified `COUPON.USE` events are forwarded ([`super::notification`]) |
//!
//! These are `wxcoupon_core::settings::GATEWAY_SETTINGS` (runtime manifests are checked
//! against that list); no other variable is read. An empty variable counts as unset. Booleans: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`.
//! Every problem is reported, each naming the variable and the rule, never a value.

use wxcoupon_core as core;
use wxcoupon_core::settings::{self, ApiVersion, Endpoint, Naming, Reader, V3Use, Vars};
use wxcoupon_core::v3::merchant::Merchant as V3Merchant;

use crate::client;

/// What is wrong with the environment: the settings' one error type.
pub use wxcoupon_core::settings::SettingsError as ConfigError;

/// Everything a call needs: the merchant and the client's per-call settings.
pub struct Config {
    /// Validated merchant settings.
    pub merchant: core::Merchant,
    limits: CallLimits,
}

impl Config {
    /// Reads the settings from the host's environment.
    pub fn from_host() -> Result<Config, ConfigError> {
        Config::from_vars(crate::wasi::cli::environment::get_environment())
    }

    /// Reads the settings from `(name, value)` pairs; later duplicates win, empty values are
    /// unset.
    pub fn from_vars(vars: Vec<(String, String)>) -> Result<Config, ConfigError> {
        let vars = Vars::new(vars).only(&settings::GATEWAY_SETTINGS);
        let mut r = Reader::new(&vars, Naming::Variable);
        let merchant = settings::read_merchant(&mut r, Endpoint::FromSettings).merchant();
        let limits = CallLimits::read(&mut r);
        Ok(Config {
            merchant: r.finish(merchant)?,
            limits,
        })
    }

    /// The client's settings for one call (a fresh random nonce each time).
    pub fn call_options(&self) -> client::CallOptions {
        self.limits.call_options()
    }
}

/// The limits every WeChat Pay call of the gateway has (v2 and v3 alike).
struct CallLimits([u32; 4]);

impl CallLimits {
    fn read(r: &mut Reader<'_>) -> CallLimits {
        CallLimits([
            r.number(&settings::CONNECT_TIMEOUT_MS),
            r.number(&settings::FIRST_BYTE_TIMEOUT_MS),
            r.number(&settings::BETWEEN_BYTES_TIMEOUT_MS),
            r.number(&settings::MAX_RESPONSE_BYTES),
        ])
    }

    /// The client's settings for one call (a fresh random nonce each time).
    fn call_options(&self) -> client::CallOptions {
        let [connect, first_byte, between_bytes, max_response] = self.0;
        client::CallOptions {
            connect_timeout_ms: connect,
            first_byte_timeout_ms: first_byte,
            between_bytes_timeout_ms: between_bytes,
            max_response_bytes: max_response,
            nonce: None,
        }
    }
}

/// Which API the three coupon routes use (`WXPAY_API`, else by which key is set).
pub fn api_version(vars: Vec<(String, String)>) -> Result<ApiVersion, ConfigError> {
    let vars = Vars::new(vars).only(&settings::GATEWAY_SETTINGS);
    let mut r = Reader::new(&vars, Naming::Variable);
    let api = settings::read_api(&mut r);
    r.finish(api)
}

/// What a v3 route needs: the merchant (its keys checked), the appid and the call limits.
pub struct V3Config {
    /// The merchant, ready to sign (for [`V3Use::Calls`]) and verify.
    pub merchant: V3Merchant,
    /// `WXPAY_APPID`, which issuing and the coupon queries need.
    pub appid: Option<String>,
    /// `WXPAY_NOTIFY_FORWARD_URL`.
    pub forward_url: Option<String>,
    limits: CallLimits,
}

impl V3Config {
    /// Reads the v3 settings from `(name, value)` pairs (the core's
    /// `settings::read_v3_merchant`, one reader for the routes and the notification route),
    /// then makes the merchant; every problem names its variable, never a value.
    pub fn from_vars(vars: Vec<(String, String)>, use_: V3Use) -> Result<V3Config, ConfigError> {
        let vars = Vars::new(vars).only(&settings::GATEWAY_SETTINGS);
        let mut r = Reader::new(&vars, Naming::Variable);
        let merchant = settings::read_v3_merchant(&mut r, use_);
        let appid = r.text(&settings::APPID);
        let forward_url = r.text(&settings::NOTIFY_FORWARD_URL);
        let limits = CallLimits::read(&mut r);
        let merchant = r.finish(merchant)?;
        let merchant = V3Merchant::new(&merchant).map_err(|e| match e {
            wxcoupon_core::v3::error::Error::InvalidInput(f) => {
                ConfigError::one(variable_of(&f.field), f.rule)
            }
            other => ConfigError::one("v3 merchant", other.to_string()),
        })?;
        Ok(V3Config {
            merchant,
            appid,
            forward_url,
            limits,
        })
    }

    /// Reads them from the host's environment.
    pub fn from_host(use_: V3Use) -> Result<V3Config, ConfigError> {
        V3Config::from_vars(crate::wasi::cli::environment::get_environment(), use_)
    }

    /// The client's settings for one call.
    pub fn call_options(&self) -> client::CallOptions {
        self.limits.call_options()
    }
}

/// The message of a 500/503 `CONFIGURATION` answer: every problem on one line.
pub fn not_configured(e: &ConfigError) -> String {
    format!("the gateway is not configured: {}", e.one_line())
}

/// The callers of `/v1/*` from `WXPAY_GATEWAY_TOKENS` (read before anything else of a request; a
/// broken setting refuses every call rather than opening the API).
pub fn callers_from_host() -> Result<wxcoupon_api::CallerTokens, wxcoupon_api::ApiError> {
    callers_from_vars(crate::wasi::cli::environment::get_environment())
}

/// [`callers_from_host`] over `(name, value)` pairs; the last `WXPAY_GATEWAY_TOKENS` wins.
pub fn callers_from_vars(
    vars: Vec<(String, String)>,
) -> Result<wxcoupon_api::CallerTokens, wxcoupon_api::ApiError> {
    let vars = Vars::new(vars).only(&settings::GATEWAY_SETTINGS);
    let mut r = Reader::new(&vars, Naming::Variable);
    let setting = r.text(&settings::CALLER_TOKENS).unwrap_or_default();
    wxcoupon_api::CallerTokens::parse(&setting).map_err(|rule| {
        r.problem(&settings::CALLER_TOKENS, rule);
        let e = ConfigError(r.into_problems());
        wxcoupon_api::ApiError::configuration(not_configured(&e), 500)
    })
}

/// The variable behind one of the core's `merchant.*` field names.
pub fn variable_of(field: &str) -> &str {
    match settings::setting_of_field(field) {
        Some(setting) => Naming::Variable.reference(setting),
        None => field,
    }
}
