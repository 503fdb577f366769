//! The three layers of the host's configuration as settings sources: the TOML file (flattened,
//! relative paths resolved against the file's directory), the `WXPAY_*` environment, the CLI's
//! [`ConfigOverrides`]. Parsing only: no checks beyond the file's syntax and keys, no I/O.

use std::path::{Path, PathBuf};

use wxcoupon_core::settings::{self, unknown_keys, Keys, Kind, Setting, Value, Vars};
use wxcoupon_core::FieldError;

use super::ConfigOverrides;

/// Every setting the host reads: the keys a file may hold.
pub(super) static HOST_SETTINGS: [&Setting; 26] = settings::concat(&[
    &settings::MERCHANT_SETTINGS,
    &settings::CERTIFICATE_SETTINGS,
    &settings::V3_SETTINGS,
    &settings::CALL_LIMIT_SETTINGS,
    &[&settings::ALLOWED_HOSTS],
]);

/// The TOML file's settings; a syntax error (its line, never its text) and unknown keys go to
/// `problems`, named after `label` (`config file wxpay.toml`).
pub(super) fn file(text: &str, base: &Path, label: &str, problems: &mut Vec<FieldError>) -> Keys {
    let mut keys = Keys::new(Some("in the config file"));
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            // The parser's message quotes the offending line, which may hold the key: give
            // only the position.
            let rule = match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("not valid TOML (line {line})")
                }
                None => "not valid TOML".to_string(),
            };
            problems.push(FieldError::new(label, rule));
            return keys;
        }
    };
    for (key, value) in table {
        let is_path = settings::by_key(&key).is_some_and(|s| s.kind == Kind::Path);
        keys.insert(key, value_of(value, is_path.then_some(base)));
    }
    let unknown = keys.unknown(&HOST_SETTINGS);
    problems.extend(unknown_keys(&unknown, &HOST_SETTINGS, |key| {
        format!("{label}: {key}")
    }));
    keys
}

/// A TOML value as a settings value; a path's text is resolved against `base`.
fn value_of(value: toml::Value, base: Option<&Path>) -> Value {
    match value {
        toml::Value::String(s) => match base {
            Some(base) if !s.trim().is_empty() => {
                let p = PathBuf::from(s.trim());
                Value::Path(if p.is_relative() { base.join(p) } else { p })
            }
            _ => Value::Text(s),
        },
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Integer(i) => Value::Int(i),
        toml::Value::Array(items) => {
            let strings: Option<Vec<String>> = items
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Some(s),
                    _ => None,
                })
                .collect();
            strings.map_or(Value::Other, Value::List)
        }
        _ => Value::Other,
    }
}

/// The `WXPAY_*` variables among `env`.
pub(super) fn env(env: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>) -> Vars {
    Vars::new(env).with_origin("in the environment")
}

/// The CLI's flags; `None` and an empty `allowed_hosts` leave an item to the lower layers.
pub(super) fn flags(o: &ConfigOverrides) -> Keys {
    let mut k = Keys::new(Some("from the command line"));
    let text = |s: &Option<String>| s.clone().map(Value::Text);
    let path = |p: &Option<PathBuf>| p.clone().map(Value::Path);
    let flag = |b: Option<bool>| b.map(Value::Bool);
    let int = |n: Option<u64>| n.map(|n| Value::Int(i64::try_from(n).unwrap_or(i64::MAX)));
    k.put(&settings::APPID, text(&o.appid));
    k.put(&settings::MCH_ID, text(&o.mch_id));
    k.put(&settings::API_KEY, text(&o.api_key));
    let sign_type = o.sign_type.map(|t| Value::Text(t.wire_name().to_string()));
    k.put(&settings::SIGN_TYPE, sign_type);
    k.put(&settings::BASE_URL, text(&o.base_url));
    k.put(&settings::BACKUP_HOST, flag(o.backup_host));
    k.put(&settings::SANDBOX, flag(o.sandbox));
    let require_signed = flag(o.require_signed_responses);
    k.put(&settings::REQUIRE_SIGNED_RESPONSES, require_signed);
    k.put(&settings::CERT_FILE, path(&o.cert_file));
    k.put(&settings::KEY_FILE, path(&o.key_file));
    k.put(&settings::P12_FILE, path(&o.p12_file));
    k.put(&settings::P12_PASSWORD, text(&o.p12_password));
    k.put(&settings::CA_FILE, path(&o.ca_file));
    k.put(&settings::CONNECT_TIMEOUT_MS, int(o.connect_timeout_ms));
    k.put(
        &settings::FIRST_BYTE_TIMEOUT_MS,
        int(o.first_byte_timeout_ms),
    );
    let between = int(o.between_bytes_timeout_ms);
    k.put(&settings::BETWEEN_BYTES_TIMEOUT_MS, between);
    k.put(&settings::MAX_RESPONSE_BYTES, int(o.max_response_bytes));
    k.put(&settings::API, text(&o.api));
    k.put(&settings::MERCHANT_SERIAL_NO, text(&o.merchant_serial_no));
    k.put(&settings::PRIVATE_KEY_FILE, path(&o.private_key_file));
    k.put(&settings::APIV3_KEY, text(&o.apiv3_key));
    k.put(
        &settings::WECHATPAY_PUBLIC_KEY_ID,
        text(&o.wechatpay_public_key_id),
    );
    k.put(
        &settings::WECHATPAY_PUBLIC_KEY_FILE,
        path(&o.wechatpay_public_key_file),
    );
    k.put(&settings::PLATFORM_CERT_DIR, path(&o.platform_cert_dir));
    k.put(&settings::V3_SIGN_IN, text(&o.v3_sign_in));
    if !o.allowed_hosts.is_empty() {
        let list = Value::List(o.allowed_hosts.clone());
        k.put(&settings::ALLOWED_HOSTS, Some(list));
    }
    k
}
