//! The gateway's pure parts, natively (`cargo test -p wxcoupon-guest`): the `wasi:http` side is
//! covered end to end by `host/tests/serve.rs`.

use wxcoupon_core as core;

use super::config::Config;
use super::errors::ApiError;
use super::http::{percent_decode, query_pairs};
use super::trade_no::compose;
use super::IssueInput;

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
        "WXPAY_SANDBOX: must be a boolean",
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
fn generated_numbers_have_the_documented_form() {
    // 2026-11-28 16:30 UTC is 2026-11-29 00:30 in Beijing.
    let unix = 1_795_883_400;
    assert_eq!(
        core::time::format_beijing(unix),
        "20261129003000",
        "fixture"
    );
    assert_eq!(compose("10000098", unix, 42), "10000098202611290000000042");
    assert_eq!(
        compose("10000098", unix, 9_999_999_999),
        "10000098202611299999999999"
    );
}

#[test]
fn decoding() {
    assert_eq!(percent_decode("a%20b+c", false).unwrap(), "a b+c");
    assert_eq!(percent_decode("a%20b+c", true).unwrap(), "a b c");
    assert_eq!(percent_decode("%E4%BB%A3", false).unwrap(), "代");
    assert!(percent_decode("%FF", false).is_none());
    assert!(percent_decode("%4", false).is_none());
    assert!(percent_decode("%zz", false).is_none());
    let pairs = query_pairs("openid=o%2Dx&&stock_id=1757&flag").unwrap();
    assert_eq!(
        pairs,
        vec![
            ("openid".to_string(), "o-x".to_string()),
            ("stock_id".to_string(), "1757".to_string()),
            ("flag".to_string(), String::new()),
        ]
    );
    let e = query_pairs("openid=%FF").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("openid"));
}

#[test]
fn issue_bodies() {
    let ok = IssueInput::parse(br#"{"stock_id": 1757, "openid": "o", "partner_trade_no": null}"#)
        .unwrap();
    assert_eq!(ok.stock_id, "1757");
    assert_eq!(ok.openid, "o");
    assert!(ok.partner_trade_no.is_none());
    let given =
        IssueInput::parse(br#"{"stock_id":"1757","openid":"o","partner_trade_no":"n1"}"#).unwrap();
    assert_eq!(given.partner_trade_no.as_deref(), Some("n1"));
    for (body, field) in [
        (&br#"{"openid":"o"}"#[..], "stock_id"),
        (br#"{"stock_id":-1,"openid":"o"}"#, "stock_id"),
        (br#"{"stock_id":1.5,"openid":"o"}"#, "stock_id"),
        (br#"{"stock_id":"1"}"#, "openid"),
        (br#"{"stock_id":"1","openid":["o"]}"#, "openid"),
        (
            br#"{"stock_id":"1","openid":"o","partner_trade_no":" "}"#,
            "partner_trade_no",
        ),
        (
            br#"{"stock_id":"1","openid":"o","partner_trade_no":7}"#,
            "partner_trade_no",
        ),
        (br#"{"stock_id":"1","openid":"o","extra":true}"#, "extra"),
    ] {
        let e = IssueInput::parse(body).err().unwrap();
        assert_eq!((e.status, e.code), (400, "INVALID_INPUT"));
        assert_eq!(
            e.field.as_deref(),
            Some(field),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    for body in [&b""[..], b"[]", b"\"x\"", b"{", b"{\"a\":1}{"] {
        let e = IssueInput::parse(body).err().unwrap();
        assert_eq!((e.status, e.code), (400, "INVALID_JSON"));
    }
}

fn business(code: &str) -> core::Error {
    let advice = core::err_code::advice(code);
    core::Error::Business(core::BusinessError {
        err_code: Some(code.to_string()),
        err_code_des: None,
        ret_msg: None,
        meaning: None,
        advice,
        retryable: advice.is_retryable(),
    })
}

#[test]
fn error_mapping() {
    let cases: Vec<(core::Error, u16, &str, bool)> = vec![
        (
            core::Error::invalid("openid", "required"),
            400,
            "INVALID_INPUT",
            false,
        ),
        (
            core::Error::invalid("merchant.api_key", "required"),
            500,
            "CONFIGURATION",
            false,
        ),
        (
            business("USER_AL_GET_COUPON"),
            409,
            "ALREADY_RECEIVED",
            false,
        ),
        (business("AL_STOCK_OVER"), 409, "STOCK_UNAVAILABLE", false),
        (
            business("STOCK_IS_NOT_VALID"),
            409,
            "STOCK_UNAVAILABLE",
            false,
        ),
        (business("FREQ_OVER_LIMIT"), 429, "RATE_LIMITED", true),
        (
            business("COUPON_STOCK_ID_NOT_VALID"),
            404,
            "STOCK_NOT_FOUND",
            false,
        ),
        (
            business("COUPON_STOCK_NOT_FOUND"),
            404,
            "STOCK_NOT_FOUND",
            false,
        ),
        (business("COUPON_NOT_FOUND"), 404, "COUPON_NOT_FOUND", false),
        (business("PARAM_ERROR"), 400, "INVALID_INPUT", false),
        (business("SYSTEMERROR"), 502, "WECHAT_ERROR", true),
        (business("NETWORK ERROR"), 502, "WECHAT_ERROR", true),
        (business("SIGN_ERROR"), 502, "WECHAT_REFUSED", false),
        (business("INVALID_REQUEST"), 502, "WECHAT_REFUSED", false),
        (business("SOMETHING_NEW"), 502, "WECHAT_REFUSED", false),
        (
            core::Error::Protocol {
                return_msg: "签名错误".into(),
            },
            502,
            "WECHAT_CALL_REFUSED",
            false,
        ),
        (
            core::Error::UnexpectedStatus { status: 503 },
            502,
            "UPSTREAM_BAD_STATUS",
            true,
        ),
        (
            core::Error::UnexpectedStatus { status: 404 },
            502,
            "UPSTREAM_BAD_STATUS",
            false,
        ),
        (
            core::MalformedResponse::document("bad").into(),
            502,
            "UPSTREAM_MALFORMED",
            false,
        ),
        (
            core::SignatureError::Mismatch.into(),
            502,
            "UPSTREAM_BAD_SIGNATURE",
            false,
        ),
        (
            core::Error::Transport {
                message: "timed out waiting for the response (h)".into(),
                may_have_reached_wechat: true,
            },
            504,
            "UPSTREAM_TIMEOUT",
            true,
        ),
        (
            core::Error::Transport {
                message: "connecting timed out (h)".into(),
                may_have_reached_wechat: false,
            },
            504,
            "UPSTREAM_TIMEOUT",
            true,
        ),
        (
            core::Error::Transport {
                message: "connection refused (h)".into(),
                may_have_reached_wechat: false,
            },
            502,
            "UPSTREAM_UNREACHABLE",
            true,
        ),
        (
            core::Error::Denied {
                message: "the host does not allow requests to h".into(),
            },
            502,
            "OUTBOUND_DENIED",
            false,
        ),
    ];
    for (error, status, code, retryable) in cases {
        let shown = format!("{error:?}");
        let e = ApiError::from_core(error);
        assert_eq!(
            (e.status, e.code, e.retryable),
            (status, code, retryable),
            "{shown}"
        );
        let json: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(json["code"], code);
        assert!(json.get("status").is_none());
    }
    let field = ApiError::from_core(core::Error::invalid("coupon_stock_id", "required"));
    assert_eq!(field.message, "stock_id: required");
    let quota = ApiError::from_core(business("USER_AL_GET_COUPON")).with_trade_no("n1");
    let json: serde_json::Value = serde_json::from_slice(&quota.to_json()).unwrap();
    assert_eq!(json["wechat_err_code"], "USER_AL_GET_COUPON");
    assert_eq!(json["partner_trade_no"], "n1");
}
