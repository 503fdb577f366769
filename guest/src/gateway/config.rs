//! The gateway's settings, read from `wasi:cli/environment` on every request (no custom host
//! imports: Spin's `environment = {..}`, `wasmtime serve --env`, `jco serve`'s environment and
//! `wxcoupon serve` all provide it).
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
//!
//! Names and rules are the reference host's (`host/src/config.rs`); the three booleans without a
//! host variable exist here because the environment is the gateway's only configuration. An
//! empty variable counts as unset. Booleans: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`.
//! Every problem is reported, each naming the variable and the rule, never a value.

use std::collections::BTreeMap;

use wxcoupon_core as core;

use crate::client;

/// The largest timeout accepted, in milliseconds (10 minutes), as the reference host.
const MAX_TIMEOUT_MS: u32 = 600_000;
/// The largest response cap accepted (16 MiB), as the reference host.
const MAX_RESPONSE_BYTES: u32 = 16 * 1024 * 1024;

/// Everything a call needs: the merchant and the client's per-call settings.
pub struct Config {
    /// Validated merchant settings.
    pub merchant: core::Merchant,
    connect_timeout_ms: u32,
    first_byte_timeout_ms: u32,
    between_bytes_timeout_ms: u32,
    max_response_bytes: u32,
}

/// What is wrong with the environment: `(variable, rule)` pairs, values never included.
#[derive(Debug)]
pub struct ConfigError(pub Vec<(String, String)>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the gateway is not configured: ")?;
        for (i, (name, rule)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{name}: {rule}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads the settings from the host's environment.
    pub fn from_host() -> Result<Config, ConfigError> {
        Config::from_vars(crate::wasi::cli::environment::get_environment())
    }

    /// Reads the settings from `(name, value)` pairs; later duplicates win, empty values are
    /// unset.
    pub fn from_vars(vars: Vec<(String, String)>) -> Result<Config, ConfigError> {
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(name, value)| name.starts_with("WXPAY_") && !value.trim().is_empty())
            .collect();
        let mut problems = Vec::new();
        let mut required = |name: &str| match vars.get(name) {
            Some(value) => value.trim().to_string(),
            None => {
                problems.push((name.to_string(), "required".to_string()));
                String::new()
            }
        };
        let appid = required("WXPAY_APPID");
        let mch_id = required("WXPAY_MCH_ID");
        // The key is taken as given (no trimming): a stray space is a wrong key, and saying so
        // beats signing with a silently different one.
        let api_key = vars.get("WXPAY_API_KEY").cloned();
        if api_key.is_none() {
            problems.push(("WXPAY_API_KEY".into(), "required".into()));
        }

        let sign_type =
            wxcoupon_api::sign_type_setting(vars.get("WXPAY_SIGN_TYPE").map(|v| v.trim()))
                .unwrap_or_else(|rule| {
                    problems.push(("WXPAY_SIGN_TYPE".into(), rule.into()));
                    core::SignType::Md5
                });
        let mut flag = |name: &str| match vars.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    problems.push((
                        name.to_string(),
                        "must be a boolean (1/0, true/false, yes/no, on/off)".into(),
                    ));
                    false
                }
            },
        };
        let backup_host = flag("WXPAY_BACKUP_HOST");
        let sandbox = flag("WXPAY_SANDBOX");
        let require_signed = flag("WXPAY_REQUIRE_SIGNED_RESPONSES");
        let host = match vars.get("WXPAY_BASE_URL").map(|v| v.trim().to_string()) {
            Some(url) => {
                if backup_host {
                    problems.push((
                        "WXPAY_BACKUP_HOST".into(),
                        "cannot be combined with WXPAY_BASE_URL".into(),
                    ));
                }
                core::ApiHost::Custom(url)
            }
            None if backup_host => core::ApiHost::Backup,
            None => core::ApiHost::Production,
        };

        let mut number = |name: &str, default: u32, max: u32| -> u32 {
            match vars.get(name).map(|v| v.trim()) {
                None => default,
                Some(v) => match v.parse::<u32>() {
                    Ok(n) if (1..=max).contains(&n) => n,
                    _ => {
                        problems.push((name.to_string(), format!("must be a number 1–{max}")));
                        default
                    }
                },
            }
        };
        let connect_timeout_ms = number(
            "WXPAY_CONNECT_TIMEOUT_MS",
            client::DEFAULT_CONNECT_TIMEOUT_MS,
            MAX_TIMEOUT_MS,
        );
        let first_byte_timeout_ms = number(
            "WXPAY_FIRST_BYTE_TIMEOUT_MS",
            client::DEFAULT_FIRST_BYTE_TIMEOUT_MS,
            MAX_TIMEOUT_MS,
        );
        let between_bytes_timeout_ms = number(
            "WXPAY_BETWEEN_BYTES_TIMEOUT_MS",
            client::DEFAULT_BETWEEN_BYTES_TIMEOUT_MS,
            MAX_TIMEOUT_MS,
        );
        let max_response_bytes = number(
            "WXPAY_MAX_RESPONSE_BYTES",
            client::DEFAULT_MAX_RESPONSE_BYTES,
            MAX_RESPONSE_BYTES,
        );

        let Some(api_key) = api_key.and_then(|k| core::ApiKey::new(k).ok()) else {
            return Err(ConfigError(problems));
        };
        let merchant = core::Merchant {
            appid,
            mch_id,
            api_key,
            sign_type,
            host,
            sandbox,
            signature_policy: core::SignaturePolicy::from_required(require_signed),
        };
        // The core's own checks: lengths, key form, sandbox + HMAC, base URL form.
        let merchant =
            wxcoupon_api::checked_merchant(merchant, problems, variable_of).map_err(ConfigError)?;
        Ok(Config {
            merchant,
            connect_timeout_ms,
            first_byte_timeout_ms,
            between_bytes_timeout_ms,
            max_response_bytes,
        })
    }

    /// The client's settings for one call (a fresh random nonce each time).
    pub fn call_options(&self) -> client::CallOptions {
        client::CallOptions {
            connect_timeout_ms: self.connect_timeout_ms,
            first_byte_timeout_ms: self.first_byte_timeout_ms,
            between_bytes_timeout_ms: self.between_bytes_timeout_ms,
            max_response_bytes: self.max_response_bytes,
            nonce: None,
        }
    }
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
    use wxcoupon_api::callers::TOKENS_SETTING as TOKENS;
    let setting = vars
        .into_iter()
        .rev()
        .find(|(name, _)| name == TOKENS)
        .map(|(_, value)| value)
        .unwrap_or_default();
    wxcoupon_api::CallerTokens::parse(&setting).map_err(|rule| {
        wxcoupon_api::ApiError::configuration(
            format!("the gateway is not configured: {TOKENS}: {rule}"),
            500,
        )
    })
}

/// The variable behind one of the core's `merchant.*` field names.
pub fn variable_of(field: &str) -> &str {
    match field {
        "merchant.appid" => "WXPAY_APPID",
        "merchant.mch_id" => "WXPAY_MCH_ID",
        "merchant.api_key" => "WXPAY_API_KEY",
        "merchant.sign_type" => "WXPAY_SIGN_TYPE",
        "merchant.base_url" => "WXPAY_BASE_URL",
        other => other,
    }
}
