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
//! | `send_cluster` | required for v2: the cluster `send_coupon` goes to; its upstream TLS context presents the merchant's client certificate |
//! | `query_cluster` | the cluster of `query_coupon_stock`, `querycouponsinfo` and every v3 call (TLS without a client certificate; default: `send_cluster`) |
//! | `authority` | the `:authority` of WeChat Pay calls, default `api.mch.weixin.qq.com` (`api2.mch.weixin.qq.com` for the backup host) |
//! | `timeout_ms` | 1–600000, default 10000: the whole WeChat Pay call (`dispatch_http_call`'s timeout) |
//! | `max_response_bytes` | 1–16777216, default 65536 |
//! | `api` | `v2` or `v3`; unset: `v3` when `apiv3_key` (or `apiv3_key_env`) is given and `api_key` is not |
//! | `merchant_serial_no` | v3: the merchant API certificate's serial |
//! | `private_key` / `private_key_env` | v3: the merchant API private key, PKCS#8 PEM, inline or the name of a VM environment variable holding it (secret) |
//! | `apiv3_key` / `apiv3_key_env` | v3: the APIv3 key, inline or from a VM environment variable (secret) |
//! | `wechatpay_public_key_id`, `wechatpay_public_key` | v3: the WeChat Pay public key (id, SPKI PEM) … |
//! | `platform_certificates` | v3: … and/or platform certificates, PEM (one or more blocks) |
//! | `notify_cluster`, `notify_forward_url` | v3: where verified `COUPON.USE` events go: the cluster, and the URL whose authority and path the forward carries |
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
const SETTINGS: [&Setting; 24] = [
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
    &settings::API,
    &settings::MERCHANT_SERIAL_NO,
    &settings::PRIVATE_KEY,
    &settings::PRIVATE_KEY_ENV,
    &settings::APIV3_KEY,
    &settings::APIV3_KEY_ENV,
    &settings::WECHATPAY_PUBLIC_KEY_ID,
    &settings::WECHATPAY_PUBLIC_KEY,
    &settings::PLATFORM_CERTIFICATES,
    &settings::NOTIFY_CLUSTER,
    &settings::NOTIFY_FORWARD_URL,
];

/// Which API the filter speaks, with its merchant.
#[derive(Debug)]
pub enum Protocol {
    /// APIv2: ids, key, digest; `host` is `https://{authority}`.
    V2(core::Merchant),
    /// APIv3: the merchant (it signs and verifies), its base URL `https://{authority}`, and the
    /// appid the coupon calls carry.
    V3 {
        /// The merchant.
        merchant: Box<wxcoupon_core::v3::merchant::Merchant>,
        /// The appid, when configured.
        appid: Option<String>,
    },
}

/// Where verified `COUPON.USE` events go.
#[derive(Debug)]
pub struct Forward {
    /// The cluster.
    pub cluster: String,
    /// The `:authority`.
    pub authority: String,
    /// The `:path`.
    pub path: String,
}

/// The checked settings.
#[derive(Debug)]
pub struct Settings {
    /// The API and its merchant.
    pub protocol: Protocol,
    /// v3: where callbacks are forwarded (the notification route is off without it).
    pub forward: Option<Forward>,
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

        // The secrets inline, or from VM environment variables.
        for (secret, from_env) in [
            (&settings::API_KEY, &settings::API_KEY_ENV),
            (&settings::PRIVATE_KEY, &settings::PRIVATE_KEY_ENV),
            (&settings::APIV3_KEY, &settings::APIV3_KEY_ENV),
        ] {
            secret_from_env(&mut r, secret, from_env, &env);
        }
        let api = settings::read_api(&mut r);
        let authority = r
            .text(&settings::AUTHORITY)
            .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
        let host = if authority.contains(['/', '?', '#', '@']) {
            r.problem(&settings::AUTHORITY, settings::AUTHORITY.rule);
            None
        } else {
            Some(core::ApiHost::Custom(format!("https://{authority}")))
        };
        let base_url = format!("https://{authority}");
        let protocol = match api {
            Some(settings::ApiVersion::V3) => {
                // The v3 merchant's base URL is the authority, like v2's host.
                r.supply(&settings::BASE_URL, Value::Text(base_url));
                let appid = r.text(&settings::APPID);
                let merchant = settings::read_v3_merchant(&mut r, settings::V3Use::Calls);
                merchant.and_then(|m| match wxcoupon_core::v3::merchant::Merchant::new(&m) {
                    Ok(merchant) => Some(Protocol::V3 {
                        merchant: Box::new(merchant),
                        appid,
                    }),
                    Err(wxcoupon_core::v3::error::Error::InvalidInput(f)) => {
                        r.problem_of(setting_of(&f.field), f.rule);
                        None
                    }
                    Err(e) => {
                        r.problem_of("v3", e.to_string());
                        None
                    }
                })
            }
            _ => settings::read_merchant(
                &mut r,
                Endpoint::Given {
                    host,
                    setting: &settings::AUTHORITY,
                },
            )
            .merchant()
            .map(Protocol::V2),
        };
        let v3 = api == Some(settings::ApiVersion::V3);
        // v3 needs no client certificate: its calls go to the query cluster.
        let send_cluster = match v3 {
            true => r.text(&settings::SEND_CLUSTER),
            false => r.required_text(&settings::SEND_CLUSTER),
        };
        let query_cluster = match (r.text(&settings::QUERY_CLUSTER), send_cluster.clone()) {
            (Some(cluster), _) | (None, Some(cluster)) => cluster,
            (None, None) => {
                if v3 {
                    r.problem(&settings::QUERY_CLUSTER, settings::REQUIRED_RULE);
                }
                String::new()
            }
        };
        let send_cluster = send_cluster.unwrap_or_default();
        let forward = match (
            r.text(&settings::NOTIFY_CLUSTER),
            r.text(&settings::NOTIFY_FORWARD_URL),
        ) {
            (Some(cluster), Some(url)) => forward_of(&url).map_or_else(
                || {
                    r.problem(
                        &settings::NOTIFY_FORWARD_URL,
                        "must be an http(s) URL with a path",
                    );
                    None
                },
                |(authority, path)| {
                    Some(Forward {
                        cluster,
                        authority,
                        path,
                    })
                },
            ),
            (None, None) => None,
            (Some(_), None) => {
                r.problem(
                    &settings::NOTIFY_FORWARD_URL,
                    "required with notify_cluster",
                );
                None
            }
            (None, Some(_)) => {
                r.problem(
                    &settings::NOTIFY_CLUSTER,
                    "required with notify_forward_url",
                );
                None
            }
        };
        if forward.is_some() && !v3 {
            r.problem(
                &settings::NOTIFY_CLUSTER,
                "needs the v3 settings: callbacks are API v3",
            );
        }
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
            protocol: r.finish(protocol)?,
            forward,
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

    /// The v2 merchant, when the filter speaks v2.
    pub fn v2(&self) -> Option<&core::Merchant> {
        match &self.protocol {
            Protocol::V2(merchant) => Some(merchant),
            Protocol::V3 { .. } => None,
        }
    }

    /// One line for the log: every setting but the keys.
    pub fn summary(&self) -> String {
        let merchant = match &self.protocol {
            Protocol::V2(m) => format!(
                "appid={} mch_id={} sign_type={} sandbox={} require_signed_responses={}",
                m.appid,
                m.mch_id,
                m.sign_type.wire_name(),
                m.sandbox,
                m.signature_policy == core::SignaturePolicy::Require,
            ),
            Protocol::V3 { merchant, appid } => format!(
                "api=v3 appid={} mchid={} verifying_serials={} notifications={}",
                appid.as_deref().unwrap_or("-"),
                merchant.mchid(),
                merchant.serials().join("|"),
                self.forward.as_ref().map_or("off", |f| f.cluster.as_str()),
            ),
        };
        format!(
            "{merchant} send_cluster={} query_cluster={} authority={} timeout_ms={} \
             max_response_bytes={}",
            self.send_cluster,
            self.query_cluster,
            self.authority,
            self.timeout_ms,
            self.max_response_bytes,
        )
    }
}

/// Supplies `secret` from the VM environment variable `from_env` names, when given (not both).
fn secret_from_env(
    r: &mut Reader<'_>,
    secret: &Setting,
    from_env: &Setting,
    env: &impl Fn(&str) -> Option<String>,
) {
    let Some(name) = r.text(from_env) else {
        return;
    };
    if r.is_set(secret) {
        let rule = format!("give {} or {}, not both", secret.key, from_env.key);
        r.problem(secret, rule);
        r.excuse(secret);
        return;
    }
    match env(&name) {
        Some(value) if !value.is_empty() => r.supply(secret, Value::Text(value)),
        _ => {
            r.problem(
                from_env,
                format!(
                    "the VM environment variable {name} is not set (list it in \
                     vm_config.environment_variables)"
                ),
            );
            r.excuse(secret);
        }
    }
}

/// The authority and path of a forward URL.
fn forward_of(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let (authority, path) = rest.split_once('/')?;
    (!authority.is_empty()).then(|| (authority.to_string(), format!("/{path}")))
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
        assert_eq!(s.v2().unwrap().api_key.expose(), KEY);
        assert_eq!(s.v2().unwrap().sign_type, core::SignType::HmacSha256);
        assert_eq!(
            s.v2().unwrap().signature_policy,
            core::SignaturePolicy::Require
        );
        assert_eq!(s.query_cluster, "wechat_pay_mtls");
        assert_eq!(s.cluster(core::Api::SendCoupon), "wechat_pay_mtls");
        assert_eq!(s.authority, DEFAULT_AUTHORITY);
        assert_eq!(
            s.v2().unwrap().url(core::Api::SendCoupon.path()),
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
            s.v2().unwrap().url(core::Api::QueryCouponStock.path()),
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

    #[test]
    fn v3_settings_with_secrets_from_the_vm_environment() {
        let fixture = |name: &str| {
            let path = format!("{}/../tests/fixtures/v3/{name}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(path).unwrap()
        };
        let key = fixture("merchant_key.pem");
        let json = serde_json::json!({
            "appid": "wx5edab3bdfba3dc1c", "mch_id": "1900000001",
            "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            "private_key_env": "WXPAY_PRIVATE_KEY", "apiv3_key_env": "WXPAY_APIV3_KEY",
            "platform_certificates": fixture("platform_cert.pem"),
            "query_cluster": "wechat_pay", "notify_cluster": "orders",
            "notify_forward_url": "http://orders.internal/coupon-used"
        })
        .to_string();
        let env = |name: &str| match name {
            "WXPAY_PRIVATE_KEY" => Some(key.clone()),
            "WXPAY_APIV3_KEY" => Some("0123456789abcdef0123456789abcdef".to_string()),
            _ => None,
        };
        let s = Settings::parse(json.as_bytes(), env).unwrap();
        let Protocol::V3 { merchant, appid } = &s.protocol else {
            panic!("v3 chosen by the keys")
        };
        assert!(merchant.signs());
        assert_eq!(merchant.base_url(), "https://api.mch.weixin.qq.com");
        assert_eq!(appid.as_deref(), Some("wx5edab3bdfba3dc1c"));
        let forward = s.forward.as_ref().unwrap();
        assert_eq!(
            (
                forward.cluster.as_str(),
                forward.authority.as_str(),
                forward.path.as_str()
            ),
            ("orders", "orders.internal", "/coupon-used")
        );
        let summary = s.summary();
        assert!(summary.starts_with("api=v3"), "{summary}");
        assert!(!summary.contains("PRIVATE KEY"), "{summary}");

        // A key that does not load is named by its key, never shown.
        let broken = Settings::parse(json.as_bytes(), |name| {
            (name == "WXPAY_PRIVATE_KEY")
                .then(|| "not a key".to_string())
                .or_else(|| env(name))
        })
        .unwrap_err()
        .to_string();
        assert!(broken.starts_with("private_key: "), "{broken}");
        assert!(!broken.contains("not a key"), "{broken}");
        // No verifying key, no cluster: each named.
        let bare = problems(r#"{"mch_id": "1", "api": "v3"}"#);
        for key in [
            "merchant_serial_no",
            "apiv3_key",
            "private_key",
            "wechatpay_public_key",
            "query_cluster",
        ] {
            assert!(bare.contains(key), "{key}: {bare}");
        }
    }
}
