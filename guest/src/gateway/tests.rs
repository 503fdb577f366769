//! The gateway's settings, natively (`cargo test -p wxcoupon-guest`). Routing, bodies, errors
//! and answers are `wxcoupon-api`'s, tested there; the `wasi:http` side is covered end to end by
//! `tests/serve.rs`.

use wxcoupon_core as core;

use super::config::{variable_of, Config};

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

fn vars(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vec![
        ("WXPAY_APPID".to_string(), "wx5edab3bdfba3dc1c".to_string()),
        ("WXPAY_MCH_ID".to_string(), "10000098".to_string()),
        ("WXPAY_API_KEY".to_string(), KEY.to_string()),
    ];
    v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    v
}

#[test]
fn configuration_from_variables() {
    let c = Config::from_vars(vars(&[
        ("WXPAY_SIGN_TYPE", "hmac-sha256"),
        ("WXPAY_BASE_URL", "http://127.0.0.1:9000"),
        ("WXPAY_FIRST_BYTE_TIMEOUT_MS", "300"),
        ("WXPAY_REQUIRE_SIGNED_RESPONSES", "yes"),
        ("WXPAY_SANDBOX", ""), // empty counts as unset
        ("OTHER", "ignored"),
    ]))
    .unwrap();
    assert_eq!(c.merchant.sign_type, core::SignType::HmacSha256);
    assert_eq!(
        c.merchant.host,
        core::ApiHost::Custom("http://127.0.0.1:9000".into())
    );
    assert_eq!(c.merchant.signature_policy, core::SignaturePolicy::Require);
    assert!(!c.merchant.sandbox);
    let o = c.call_options();
    assert_eq!(o.first_byte_timeout_ms, 300);
    assert_eq!(o.connect_timeout_ms, 5_000);

    let backup = Config::from_vars(vars(&[("WXPAY_BACKUP_HOST", "1")])).unwrap();
    assert_eq!(backup.merchant.host, core::ApiHost::Backup);
}

#[test]
fn configuration_problems_are_all_named_without_values() {
    let e = Config::from_vars(vec![]).err().unwrap().to_string();
    for name in ["WXPAY_APPID", "WXPAY_MCH_ID", "WXPAY_API_KEY"] {
        assert!(e.contains(&format!("{name}: required")), "{e}");
    }
    let e = Config::from_vars(vars(&[
        ("WXPAY_SIGN_TYPE", "sha1"),
        ("WXPAY_SANDBOX", "maybe"),
        ("WXPAY_CONNECT_TIMEOUT_MS", "0"),
        ("WXPAY_MAX_RESPONSE_BYTES", "99999999"),
        ("WXPAY_BACKUP_HOST", "true"),
        ("WXPAY_BASE_URL", "http://x"),
    ]))
    .err()
    .unwrap()
    .to_string();
    for name in [
        "WXPAY_SIGN_TYPE: must be MD5 or HMAC-SHA256",
        "WXPAY_SANDBOX: must be true or false",
        "WXPAY_CONNECT_TIMEOUT_MS: must be a number 1–600000",
        "WXPAY_MAX_RESPONSE_BYTES: must be a number 1–16777216",
        "WXPAY_BACKUP_HOST: cannot be combined with WXPAY_BASE_URL",
    ] {
        assert!(e.contains(name), "{e}");
    }
    // The core's checks, reported under the variable's name.
    let short = "not-the-32-character-key";
    let e = Config::from_vars(vec![
        ("WXPAY_APPID".into(), "wx5edab3bdfba3dc1c".into()),
        ("WXPAY_MCH_ID".into(), "10000098".into()),
        ("WXPAY_API_KEY".into(), short.into()),
    ])
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("WXPAY_API_KEY: must be 32 characters"), "{e}");
    assert!(!e.contains(short));
    let e = Config::from_vars(vars(&[
        ("WXPAY_SANDBOX", "on"),
        ("WXPAY_SIGN_TYPE", "HMAC-SHA256"),
    ]))
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("WXPAY_SIGN_TYPE: the sandbox accepts MD5"),
        "{e}"
    );
    let e = Config::from_vars(vars(&[("WXPAY_BASE_URL", "ftp://x")]))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("WXPAY_BASE_URL: must start with http"), "{e}");
}

#[test]
fn merchant_settings_are_named_by_their_variable() {
    assert_eq!(variable_of("merchant.api_key"), "WXPAY_API_KEY");
    assert_eq!(variable_of("merchant.base_url"), "WXPAY_BASE_URL");
    let reply = wxcoupon_api::Call::stock("1757").finish(
        Err(core::Error::invalid("merchant.mch_id", "required")),
        variable_of,
    );
    assert_eq!(reply.status, 500);
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(json["code"], "CONFIGURATION");
    assert_eq!(
        json["message"],
        "the gateway is not configured: WXPAY_MCH_ID: required"
    );
}

#[test]
fn callers_come_from_their_variable_and_a_broken_one_refuses_every_call() {
    use super::config::callers_from_vars;
    let hash = wxcoupon_api::callers::token_hash_hex("t0ken");
    let open = callers_from_vars(vars(&[])).unwrap();
    assert!(open.is_empty());
    let one = callers_from_vars(vars(&[("WXPAY_GATEWAY_TOKENS", &format!("ops:{hash}"))])).unwrap();
    assert_eq!(one.authorize(Some("Bearer t0ken")).unwrap(), Some("ops"));
    let broken = callers_from_vars(vars(&[("WXPAY_GATEWAY_TOKENS", "ops")])).unwrap_err();
    assert_eq!((broken.status, broken.code), (500, "CONFIGURATION"));
    assert!(
        broken.message.contains("WXPAY_GATEWAY_TOKENS"),
        "{}",
        broken.message
    );
}

#[test]
fn the_v3_settings_name_their_variables_even_for_a_key_that_does_not_load() {
    use super::config::{api_version, V3Config};
    use wxcoupon_core::settings::{ApiVersion, V3Use};
    let fixture = |name: &str| {
        let path = format!("{}/../tests/fixtures/v3/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    };
    let v3 = |extra: &[(&str, &str)]| {
        let mut v = vec![
            ("WXPAY_MCH_ID".to_string(), "1900000001".to_string()),
            (
                "WXPAY_MERCHANT_SERIAL_NO".into(),
                "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
            ),
            (
                "WXPAY_APIV3_KEY".into(),
                "0123456789abcdef0123456789abcdef".into(),
            ),
            (
                "WXPAY_PLATFORM_CERTIFICATES".into(),
                fixture("platform_cert.pem"),
            ),
        ];
        v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        v
    };
    let key = fixture("merchant_key.pem");
    let c = V3Config::from_vars(v3(&[("WXPAY_PRIVATE_KEY", &key)]), V3Use::Calls).unwrap();
    assert!(c.merchant.signs());
    assert_eq!(c.call_options().connect_timeout_ms, 5000);
    let e = V3Config::from_vars(v3(&[("WXPAY_PRIVATE_KEY", "not a key")]), V3Use::Calls)
        .err()
        .unwrap();
    assert!(
        e.one_line().starts_with("WXPAY_PRIVATE_KEY: "),
        "{}",
        e.one_line()
    );
    assert!(!e.one_line().contains("not a key"));
    let callbacks = V3Config::from_vars(v3(&[]), V3Use::Callbacks).unwrap();
    assert!(!callbacks.merchant.signs());
    assert_eq!(api_version(v3(&[])).unwrap(), ApiVersion::V3);
    assert_eq!(api_version(vars(&[])).unwrap(), ApiVersion::V2);
}
