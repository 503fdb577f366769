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
//! is reported at once, each naming the key and the rule, never a value.

use std::fmt;

use serde_json::{Map, Value};
use wxcoupon_core as core;

/// The default `:authority`: WeChat Pay's production API host.
pub const DEFAULT_AUTHORITY: &str = "api.mch.weixin.qq.com";
/// The default `timeout_ms`.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
/// The default `max_response_bytes` (the component's too).
pub const DEFAULT_MAX_RESPONSE_BYTES: u32 = 64 * 1024;
/// The largest `timeout_ms` (10 minutes), as the component's.
const MAX_TIMEOUT_MS: u32 = 600_000;
/// The largest `max_response_bytes` (16 MiB), as the component's.
const MAX_RESPONSE_BYTES: u32 = 16 * 1024 * 1024;

const KEYS: [&str; 13] = [
    "appid",
    "mch_id",
    "api_key",
    "api_key_env",
    "sign_type",
    "sandbox",
    "require_signed_responses",
    "send_cluster",
    "query_cluster",
    "authority",
    "timeout_ms",
    "max_response_bytes",
    "caller_tokens",
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

/// What is wrong with the configuration: `(key, rule)` pairs, values never included.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub Vec<(String, String)>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, rule)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{key}: {rule}")?;
        }
        Ok(())
    }
}

impl Settings {
    /// Reads the configuration; `env` looks up a VM environment variable (`api_key_env`).
    pub fn parse(
        bytes: &[u8],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();
        let map: Map<String, Value> = match serde_json::from_slice(bytes) {
            Ok(Value::Object(map)) => map,
            // serde_json's syntax errors give a position, never the text.
            Ok(_) | Err(_) if bytes.iter().all(u8::is_ascii_whitespace) => {
                return Err(ConfigError(vec![(
                    "configuration".into(),
                    "required: a JSON object with appid, mch_id, api_key or api_key_env, \
                     send_cluster"
                        .into(),
                )]))
            }
            Ok(_) => {
                return Err(ConfigError(vec![(
                    "configuration".into(),
                    "must be a JSON object".into(),
                )]))
            }
            Err(e) => {
                return Err(ConfigError(vec![(
                    "configuration".into(),
                    format!("must be a JSON object ({e})"),
                )]))
            }
        };
        let mut unknown: Vec<&String> =
            map.keys().filter(|k| !KEYS.contains(&k.as_str())).collect();
        unknown.sort();
        for key in unknown {
            problems.push((
                key.clone(),
                format!("unknown key (expected one of {})", KEYS.join(", ")),
            ));
        }
        let mut reader = Reader {
            map: &map,
            problems: &mut problems,
        };

        let appid = reader.string("appid", true).unwrap_or_default();
        let mch_id = reader.string("mch_id", true).unwrap_or_default();
        let inline_key = reader.raw_string("api_key");
        let key_env = reader.string("api_key_env", false);
        let api_key = match (inline_key, key_env) {
            (Some(_), Some(_)) => {
                reader.problem("api_key", "give api_key or api_key_env, not both");
                None
            }
            (Some(key), None) => Some(key),
            (None, Some(name)) => match env(&name) {
                Some(key) if !key.is_empty() => Some(key),
                _ => {
                    reader.problem(
                        "api_key_env",
                        format!(
                            "the VM environment variable {name} is not set (list it in \
                             vm_config.environment_variables)"
                        ),
                    );
                    None
                }
            },
            (None, None) => {
                if !reader.problems.iter().any(|(key, _)| key == "api_key") {
                    reader.problem("api_key", "required (or api_key_env)");
                }
                None
            }
        };
        let sign_type =
            wxcoupon_api::sign_type_setting(reader.string("sign_type", false).as_deref())
                .unwrap_or_else(|rule| {
                    reader.problem("sign_type", rule);
                    core::SignType::Md5
                });
        let sandbox = reader.flag("sandbox");
        let require_signed = reader.flag("require_signed_responses");
        let send_cluster = reader.string("send_cluster", true).unwrap_or_default();
        let query_cluster = reader
            .string("query_cluster", false)
            .unwrap_or_else(|| send_cluster.clone());
        let authority = reader
            .string("authority", false)
            .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
        if authority.contains(['/', '?', '#', '@']) {
            reader.problem(
                "authority",
                "must be a host with an optional port (no scheme, path or credentials)",
            );
        }
        let timeout_ms = reader.number("timeout_ms", DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS);
        let max_response_bytes = reader.number(
            "max_response_bytes",
            DEFAULT_MAX_RESPONSE_BYTES,
            MAX_RESPONSE_BYTES,
        );

        let callers = match reader.string("caller_tokens", false) {
            None => wxcoupon_api::CallerTokens::none(),
            Some(setting) => wxcoupon_api::CallerTokens::parse(&setting).unwrap_or_else(|rule| {
                reader.problem("caller_tokens", rule);
                wxcoupon_api::CallerTokens::none()
            }),
        };

        let Some(api_key) = api_key.and_then(|k| core::ApiKey::new(k).ok()) else {
            if problems.iter().all(|(key, _)| !key.starts_with("api_key")) {
                problems.push(("api_key".into(), "required".into()));
            }
            return Err(ConfigError(problems));
        };
        let merchant = core::Merchant {
            appid,
            mch_id,
            api_key,
            sign_type,
            host: core::ApiHost::Custom(format!("https://{authority}")),
            sandbox,
            signature_policy: core::SignaturePolicy::from_required(require_signed),
        };
        // The core's own checks: lengths, key form, sandbox + HMAC, the authority's form.
        let merchant =
            wxcoupon_api::checked_merchant(merchant, problems, setting_of).map_err(ConfigError)?;
        Ok(Settings {
            merchant,
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

/// The configuration key behind one of the core's `merchant.*` field names.
pub fn setting_of(field: &str) -> &str {
    match field {
        "merchant.appid" => "appid",
        "merchant.mch_id" => "mch_id",
        "merchant.api_key" => "api_key",
        "merchant.sign_type" => "sign_type",
        "merchant.base_url" => "authority",
        other => other,
    }
}

/// Typed reads of the object's values, problems collected.
struct Reader<'a> {
    map: &'a Map<String, Value>,
    problems: &'a mut Vec<(String, String)>,
}

impl Reader<'_> {
    fn problem(&mut self, key: &str, rule: impl Into<String>) {
        self.problems.push((key.to_string(), rule.into()));
    }

    /// A string as given (the key: no trimming, a stray space is a wrong key); `null` is unset.
    fn raw_string(&mut self, key: &str) -> Option<String> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.problem(key, "must be a string");
                None
            }
        }
    }

    /// A trimmed string; empty counts as unset.
    fn string(&mut self, key: &str, required: bool) -> Option<String> {
        let value = self
            .raw_string(key)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if value.is_none() && required && !self.problems.iter().any(|(k, _)| k == key) {
            self.problem(key, "required");
        }
        value
    }

    fn flag(&mut self, key: &str) -> bool {
        match self.map.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.problem(key, "must be true or false");
                false
            }
        }
    }

    fn number(&mut self, key: &str, default: u32, max: u32) -> u32 {
        match self.map.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n) if (1..=u64::from(max)).contains(&n) => n as u32,
                _ => {
                    self.problem(key, format!("must be a number 1–{max}"));
                    default
                }
            },
            Some(_) => {
                self.problem(key, format!("must be a number 1–{max}"));
                default
            }
        }
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
                "sign_type": "SHA1", "sandbox": "yes", "timeout_ms": 0,
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
