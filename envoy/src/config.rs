//! The plugin configuration: a JSON object in the filter's `configuration` (a
//! `google.protobuf.StringValue`), read and checked once, when Envoy configures the plugin.
//!
//! | key | value |
//! |---|---|
//! | `appid` | required, ≤ 32 characters |
//! | `mch_id` | required, ≤ 32 characters |
//! | `api_key` | the 32-character APIv2 key (secret: never logged or echoed) … |
//! | `api_key_env` | … or the name of a VM environment variable holding it (`vm_config.environment_variables`): keeps the key out of the configuration |
//! | `sign_type` | `MD5` (default) or `HMAC-SHA256` (any case) |
//! | `sandbox` | boolean: `/sandboxnew` paths (MD5 only) |
//! | `require_signed_responses` | boolean: refuse unsigned answers |
//! | `send_cluster` | required: the cluster `send_coupon` goes to; its upstream TLS context presents the merchant's client certificate |
//! | `query_cluster` | the cluster of `query_coupon_stock` and `querycouponsinfo` (default: `send_cluster`) |
//! | `authority` | the `:authority` of WeChat Pay calls, default `api.mch.weixin.qq.com` (`api2.mch.weixin.qq.com` for the backup host) |
//! | `timeout_ms` | 1–600000, default 10000: the whole WeChat Pay call (`dispatch_http_call`'s timeout) |
//! | `max_response_bytes` | 1–16777216, default 65536 |
//! | `caller_tokens` | `name:sha256hex[,…]`: the callers of `/v1/*` (bearer tokens, kept as their SHA-256; see `wxcoupon_api::callers`); without it the filter trusts whatever Envoy lets through (put `jwt_authn` or `ext_authz` in front, docs/envoy.md) |
//!
//! Unknown keys are refused (a misspelt key would otherwise be silently ignored). Every problem
//! is reported at once, each naming the key and the rule, never a value. Keys, rules and limits
//! are those of every edge (`wxcoupon_core::settings`); booleans are `true`/`false` or the text
//! `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`, numbers whole numbers or their text.

use serde_json::{Map, Value as Json};
use wxcoupon_core as core;
use wxcoupon_core::settings::{self, Endpoint, Keys, Naming, Reader, Setting, Value};

/// What is wrong with the configuration: the settings' one error type, `(key, rule)` problems,
/// values never included.
pub use wxcoupon_core::settings::SettingsError as ConfigError;

/// The default `:authority`: WeChat Pay's production API host.
pub const DEFAULT_AUTHORITY: &str = "api.mch.weixin.qq.com";

/// The keys of the configuration object, in the order of the documentation.
const SETTINGS: [&Setting; 13] = [
    &settings::APPID,
    &settings::MCH_ID,
    &settings::API_KEY,
    &settings::API_KEY_ENV,
    &settings::SIGN_TYPE,
    &settings::SANDBOX,
    &settings::REQUIRE_SIGNED_RESPONSES,
    &settings::SEND_CLUSTER,
    &settings::QUERY_CLUSTER,
    &settings::AUTHORITY,
    &settings::TIMEOUT_MS,
    &settings::MAX_RESPONSE_BYTES,
    &settings::CALLER_TOKENS,
];

/// The checked settings.
#[derive(Debug)]
pub struct Settings {
    /// The merchant: ids, key, digest; `host` is `https://{authority}`.
    pub merchant: core::Merchant,
    /// Where `send_coupon` goes (mutual TLS).
    pub send_cluster: String,
    /// Where the two queries go.
    pub query_cluster: String,
    /// The `:authority` header.
    pub authority: String,
    /// `dispatch_http_call`'s timeout.
    pub timeout_ms: u32,
    /// The largest answer read.
    pub max_response_bytes: u32,
    /// Who may call `/v1/*` (none: open).
    pub callers: wxcoupon_api::CallerTokens,
}

impl Settings {
    /// Reads the configuration; `env` looks up a VM environment variable (`api_key_env`).
    pub fn parse(
        bytes: &[u8],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let map: Map<String, Json> = match serde_json::from_slice(bytes) {
            Ok(Json::Object(map)) => map,
            // serde_json's syntax errors give a position, never the text.
            Ok(_) | Err(_) if bytes.iter().all(u8::is_ascii_whitespace) => {
                return Err(ConfigError::one(
                    "configuration",
                    "required: a JSON object with appid, mch_id, api_key or api_key_env, \
                     send_cluster",
                ))
            }
            Ok(_) => return Err(ConfigError::one("configuration", "must be a JSON object")),
            Err(e) => {
                return Err(ConfigError::one(
                    "configuration",
                    format!("must be a JSON object ({e})"),
                ))
            }
        };
        let mut keys = Keys::new(None);
        for (key, value) in map {
            // `null` is unset (an unknown key is still reported).
            if !(value.is_null() && SETTINGS.iter().any(|s| s.key == key)) {
                keys.insert(key, value_of(value));
            }
        }
        let mut r = Reader::new(&keys, Naming::Key);
        for problem in settings::unknown_keys(&keys.unknown(&SETTINGS), &SETTINGS, str::to_string) {
            r.problem_of(problem.field, problem.rule);
        }

        // The key inline, or from a VM environment variable.
        let key_env = r.text(&settings::API_KEY_ENV);
        match key_env {
            Some(_) if r.is_set(&settings::API_KEY) => {
                r.problem(&settings::API_KEY, "give api_key or api_key_env, not both");
                r.excuse(&settings::API_KEY);
            }
            Some(name) => match env(&name) {
                Some(key) if !key.is_empty() => r.supply(&settings::API_KEY, Value::Text(key)),
                _ => {
                    r.problem(
                        &settings::API_KEY_ENV,
                        format!(
                            "the VM environment variable {name} is not set (list it in \
                             vm_config.environment_variables)"
                        ),
                    );
                    r.excuse(&settings::API_KEY);
                }
            },
            None => {}
        }
        let authority = r
            .text(&settings::AUTHORITY)
            .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
        let host = if authority.contains(['/', '?', '#', '@']) {
            r.problem(&settings::AUTHORITY, settings::AUTHORITY.rule);
            None
        } else {
            Some(core::ApiHost::Custom(format!("https://{authority}")))
        };
        let merchant = settings::read_merchant(
            &mut r,
            Endpoint::Given {
                host,
                setting: &settings::AUTHORITY,
            },
        )
        .merchant();
        let send_cluster = r.required_text(&settings::SEND_CLUSTER).unwrap_or_default();
        let query_cluster = r
            .text(&settings::QUERY_CLUSTER)
            .unwrap_or_else(|| send_cluster.clone());
        let timeout_ms = r.number(&settings::TIMEOUT_MS);
        let max_response_bytes = r.number(&settings::MAX_RESPONSE_BYTES);
        let callers = match r.text(&settings::CALLER_TOKENS) {
            None => wxcoupon_api::CallerTokens::none(),
            Some(setting) => wxcoupon_api::CallerTokens::parse(&setting).unwrap_or_else(|rule| {
                r.problem(&settings::CALLER_TOKENS, rule);
                wxcoupon_api::CallerTokens::none()
            }),
        };
        Ok(Settings {
            merchant: r.finish(merchant)?,
            send_cluster,
            query_cluster,
            authority,
            timeout_ms,
            max_response_bytes,
            callers,
        })
    }

    /// The cluster a call to `api` goes to.
    pub fn cluster(&self, api: core::Api) -> &str {
        if api.needs_client_certificate() {
            &self.send_cluster
        } else {
            &self.query_cluster
        }
    }

    /// One line for the log: every setting but the key.
    pub fn summary(&self) -> String {
        let m = &self.merchant;
        format!(
            "appid={} mch_id={} sign_type={} sandbox={} require_signed_responses={} \
             send_cluster={} query_cluster={} authority={} timeout_ms={} max_response_bytes={}",
            m.appid,
            m.mch_id,
            m.sign_type.wire_name(),
            m.sandbox,
            m.signature_policy == core::SignaturePolicy::Require,
            self.send_cluster,
            self.query_cluster,
            self.authority,
            self.timeout_ms,
            self.max_response_bytes,
        )
    }
}

/// A JSON value as a settings value (the caller drops a `null`): numbers are whole numbers or
/// wrong for every kind, arrays are lists of strings or wrong.
fn value_of(json: Json) -> Value {
    match json {
        Json::String(s) => Value::Text(s),
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => n.as_i64().map_or(Value::Other, Value::Int),
        Json::Array(items) => {
            let strings: Option<Vec<String>> = items
                .into_iter()
                .map(|item| match item {
                    Json::String(s) => Some(s),
                    _ => None,
                })
                .collect();
            strings.map_or(Value::Other, Value::List)
        }
        Json::Null | Json::Object(_) => Value::Other,
    }
}

/// The configuration key behind one of the core's `merchant.*` field names (the base URL is
/// `https://{authority}`).
pub fn setting_of(field: &str) -> &str {
    match settings::setting_of_field(field) {
        Some(setting) if setting == &settings::BASE_URL => settings::AUTHORITY.key,
        Some(setting) => setting.key,
        None => field,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn parse(json: &str) -> Result<Settings, ConfigError> {
        Settings::parse(json.as_bytes(), |name| {
            (name == "WXPAY_API_KEY").then(|| KEY.to_string())
        })
    }

    fn problems(json: &str) -> String {
        parse(json).expect_err("refused").to_string()
    }

    #[test]
    fn settings_and_defaults() {
        let s = parse(
            r#"{"appid": "wx5edab3bdfba3dc1c", "mch_id": "10000098", "api_key_env": "WXPAY_API_KEY",
                "send_cluster": "wechat_pay_mtls", "sign_type": "hmac-sha256",
                "require_signed_responses": true}"#,
        )
        .unwrap();
        assert_eq!(s.merchant.api_key.expose(), KEY);
        assert_eq!(s.merchant.sign_type, core::SignType::HmacSha256);
        assert_eq!(s.merchant.signature_policy, core::SignaturePolicy::Require);
        assert_eq!(s.query_cluster, "wechat_pay_mtls");
        assert_eq!(s.cluster(core::Api::SendCoupon), "wechat_pay_mtls");
        assert_eq!(s.authority, DEFAULT_AUTHORITY);
        assert_eq!(
            s.merchant.url(core::Api::SendCoupon.path()),
            "https://api.mch.weixin.qq.com/mmpaymkttransfers/send_coupon"
        );
        assert_eq!((s.timeout_ms, s.max_response_bytes), (10_000, 65_536));
        let summary = s.summary();
        assert!(summary.contains("sign_type=HMAC-SHA256"), "{summary}");
        assert!(!summary.contains(KEY));

        let s = parse(&format!(
            r#"{{"appid": "a", "mch_id": "1", "api_key": "{KEY}", "send_cluster": "m",
                 "query_cluster": "q", "authority": "api2.mch.weixin.qq.com", "sandbox": true,
                 "timeout_ms": 300, "max_response_bytes": 1024, "sign_type": null}}"#
        ))
        .unwrap();
        assert_eq!(s.cluster(core::Api::QueryCouponStock), "q");
        assert_eq!(s.cluster(core::Api::QueryCouponsInfo), "q");
        assert_eq!(
            s.merchant.url(core::Api::QueryCouponStock.path()),
            "https://api2.mch.weixin.qq.com/sandboxnew/mmpaymkttransfers/query_coupon_stock"
        );
        assert_eq!((s.timeout_ms, s.max_response_bytes), (300, 1024));
    }

    #[test]
    fn caller_tokens_are_read_and_a_broken_list_is_refused() {
        let hash = wxcoupon_api::callers::token_hash_hex("t0ken");
        let base =
            format!(r#""appid": "a", "mch_id": "1", "api_key": "{KEY}", "send_cluster": "m""#);
        let open = parse(&format!("{{{base}}}")).unwrap();
        assert!(open.callers.is_empty());
        let s = parse(&format!(r#"{{{base}, "caller_tokens": "ops:{hash}"}}"#)).unwrap();
        assert_eq!(
            s.callers.authorize(Some("Bearer t0ken")).unwrap(),
            Some("ops")
        );
        let e = problems(&format!(
            r#"{{{base}, "caller_tokens": "ops:{}"}}"#,
            &hash[1..]
        ));
        assert!(e.contains("caller_tokens: item 1 (ops): the hash"), "{e}");
        assert!(!e.contains(&hash[1..20]), "{e}");
    }

    #[test]
    fn every_problem_is_named_without_its_value() {
        let e = problems("{}");
        for key in [
            "appid: required",
            "mch_id: required",
            "api_key: required",
            "send_cluster: required",
        ] {
            assert!(e.contains(key), "{e}");
        }
        assert!(problems("").contains("configuration: required"));
        assert!(problems("[1]").contains("configuration: must be a JSON object"));
        assert!(problems("{").contains("configuration: must be a JSON object ("));
        let e = problems(
            r#"{"appid": 7, "mch_id": "1", "api_key_env": "NOPE", "send_cluster": "m",
                "sign_type": "SHA1", "sandbox": "maybe", "timeout_ms": 0,
                "max_response_bytes": 99999999, "authority": "https://x/y", "clusters": 1}"#,
        );
        for problem in [
            "clusters: unknown key",
            "appid: must be a string",
            "api_key_env: the VM environment variable NOPE is not set",
            "sign_type: must be MD5 or HMAC-SHA256",
            "sandbox: must be true or false",
            "timeout_ms: must be a number 1–600000",
            "max_response_bytes: must be a number 1–16777216",
            "authority: must be a host",
        ] {
            assert!(e.contains(problem), "{problem}: {e}");
        }
        let both = problems(&format!(
            r#"{{"appid": "a", "mch_id": "1", "api_key": "{KEY}", "api_key_env": "WXPAY_API_KEY",
                 "send_cluster": "m"}}"#
        ));
        assert!(
            both.contains("api_key: give api_key or api_key_env, not both"),
            "{both}"
        );
        assert!(!both.contains(KEY));
        // The core's rules, under the configuration's names.
        let short = "not-the-32-character-key";
        let e = problems(&format!(
            r#"{{"appid": "a", "mch_id": "1", "api_key": "{short}", "send_cluster": "m"}}"#
        ));
        assert!(e.contains("api_key: must be 32 characters"), "{e}");
        assert!(!e.contains(short));
        let e = problems(&format!(
            r#"{{"appid": "a", "mch_id": "1", "api_key": "{KEY}", "send_cluster": "m",
                 "sandbox": true, "sign_type": "HMAC-SHA256"}}"#
        ));
        assert!(e.contains("sign_type: the sandbox accepts MD5"), "{e}");
        let e = problems(r#"{"appid": "a", "mch_id": "1", "api_key": 123, "send_cluster": "m"}"#);
        assert!(e.contains("api_key: must be a string"), "{e}");
        assert!(!e.contains("123"), "{e}");
    }
}
