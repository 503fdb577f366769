//! The API's rules, natively: routing, bodies, queries, error mapping, answers.

use serde_json::{json, Value};
use wxcoupon_core as core;

use crate::trade_no::{compose, serial};
use crate::{
    percent_decode, query_pairs, route, sign_type_setting, ApiError, Call, IssueInput, Reply, Route,
};

fn as_is(field: &str) -> &str {
    field
}

fn body(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body).unwrap()
}

#[test]
fn routes() {
    assert_eq!(route("GET", "/healthz").unwrap(), Route::Health);
    assert_eq!(route("POST", "/v1/coupons").unwrap(), Route::Issue);
    assert_eq!(
        route("GET", "/v1/stocks/17%357").unwrap(),
        Route::Stock {
            stock_id: "1757".into()
        }
    );
    assert_eq!(
        route("GET", "/v1/coupons/42?openid=o&stock_id=1").unwrap(),
        Route::Coupon {
            coupon_id: "42".into(),
            query: "openid=o&stock_id=1".into()
        }
    );
    let wrong = route("GET", "/v1/coupons").unwrap_err();
    assert_eq!(
        (wrong.status, wrong.code, wrong.allow),
        (405, "METHOD_NOT_ALLOWED", Some("POST"))
    );
    let reply = Reply::from(route("DELETE", "/v1/stocks/1").unwrap_err());
    assert_eq!(reply.headers, vec![("allow", "GET".to_string())]);
    assert_eq!(route("post", "/v1/coupons").unwrap_err().status, 405);
    assert_eq!(route("POST", "/healthz").unwrap_err().allow, Some("GET"));
    for path in [
        "/",
        "",
        "/v1",
        "/v1/stocks/",
        "/v2/coupons",
        "/v1/stocks/1/x",
    ] {
        assert_eq!(
            route("GET", path).unwrap_err().code,
            "ROUTE_NOT_FOUND",
            "{path}"
        );
    }
    let bad = route("GET", "/v1/stocks/%FF%FE").unwrap_err();
    assert_eq!((bad.status, bad.field.as_deref()), (400, Some("stock_id")));
}

#[test]
fn headers_and_health() {
    let health = crate::health();
    assert_eq!(health.status, 200);
    assert_eq!(
        body(&health),
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );
    assert_eq!(
        health.all_headers()[0],
        ("content-type", "application/json; charset=utf-8")
    );
    // No content-type is not JSON: a browser's `sendBeacon` or a form could issue otherwise.
    let missing = crate::check_content_type(None).unwrap_err();
    assert_eq!(
        (missing.status, missing.code),
        (415, "UNSUPPORTED_MEDIA_TYPE")
    );
    for not_json in [
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        assert_eq!(
            crate::check_content_type(Some(not_json))
                .unwrap_err()
                .status,
            415,
            "{not_json:?}"
        );
    }
    assert!(crate::check_content_type(Some("Application/JSON; charset=utf-8")).is_ok());
    assert!(crate::check_content_type(Some("application/merge-patch+json")).is_ok());
    assert_eq!(
        crate::check_content_type(Some("text/plain"))
            .unwrap_err()
            .status,
        415
    );
    assert!(crate::check_content_length(Some("8192"), 8192).is_ok());
    assert_eq!(
        crate::check_content_length(Some("8193"), 8192)
            .unwrap_err()
            .code,
        "BODY_TOO_LARGE"
    );
    assert_eq!(
        crate::check_content_length(Some("x"), 8192)
            .unwrap_err()
            .field
            .as_deref(),
        Some("content-length")
    );
}

fn sent() -> core::SentCoupon {
    core::SentCoupon {
        coupon_id: "1000000001".into(),
        coupon_stock_id: "1757".into(),
        openid: "o".into(),
        resp_count: Some(1),
        success_count: Some(1),
        failed_count: Some(0),
        signature: core::SignatureCheck::Absent,
        fields: core::Fields::new(),
    }
}

#[test]
fn calls_and_their_answers() {
    let input = IssueInput::parse(br#"{"stock_id":"1757","openid":"o"}"#).unwrap();
    let call = Call::issue(input, || "10000098202611290000000042".into());
    assert_eq!(call.api(), core::Api::SendCoupon);
    assert_eq!(call.partner_trade_no(), Some("10000098202611290000000042"));
    let ok = call.finish(Ok(core::CouponResponse::SendCoupon(sent())), as_is);
    let json = body(&ok);
    assert_eq!(ok.status, 200);
    assert_eq!(json["coupon_id"], "1000000001");
    assert_eq!(json["partner_trade_no"], "10000098202611290000000042");
    assert_eq!(json["partner_trade_no_generated"], true);
    // Errors of a POST carry the number; the caller's own number is not "generated".
    let given =
        IssueInput::parse(br#"{"stock_id":1757,"openid":"o","partner_trade_no":"n1"}"#).unwrap();
    let call = Call::issue(given, || unreachable!());
    let err = call.finish(Err(core::Error::UnexpectedStatus { status: 503 }), as_is);
    assert_eq!(err.status, 502);
    assert_eq!(body(&err)["partner_trade_no"], "n1");
    // After the request may have left, a POST's failure says the coupon may have been issued,
    // carries the number and advises retrying with it — whatever went wrong with the answer.
    for (e, status) in [
        (
            core::Error::Signature {
                problem: core::SignatureError::Mismatch,
            },
            502,
        ),
        (
            core::Error::MalformedResponse(core::MalformedResponse::document(
                "body is over the limit of 65536 bytes",
            )),
            502,
        ),
        (
            core::Error::MalformedResponse(core::MalformedResponse::field(
                "appid",
                "does not match the merchant's",
            )),
            502,
        ),
        (
            core::Error::Transport {
                message: "connection reset".into(),
                may_have_reached_wechat: true,
            },
            502,
        ),
        (core::Error::UnexpectedStatus { status: 503 }, 502),
        (business("SYSTEMERROR"), 502),
    ] {
        let reply = call.finish(Err(e.clone()), as_is);
        let json = body(&reply);
        assert_eq!(reply.status, status, "{e:?}");
        assert_eq!(json["outcome_unknown"], true, "{e:?}: {json}");
        assert_eq!(json["retryable"], true, "{e:?}: {json}");
        assert_eq!(json["partner_trade_no"], "n1", "{e:?}");
        let message = json["message"].as_str().unwrap();
        assert!(
            message.contains("retry with the same partner_trade_no"),
            "{e:?}: {message}"
        );
    }
    // A refusal WeChat answered, or nothing sent: the outcome is known, nothing to add.
    for e in [
        business("USER_AL_GET_COUPON"),
        core::Error::Transport {
            message: "connection refused".into(),
            may_have_reached_wechat: false,
        },
        core::Error::invalid("openid", "required"),
    ] {
        let json = body(&call.finish(Err(e.clone()), as_is));
        assert!(json.get("outcome_unknown").is_none(), "{e:?}: {json}");
    }
    // Queries change nothing: never an unknown outcome.
    let stock = Call::stock("1757").finish(
        Err(core::Error::Signature {
            problem: core::SignatureError::Mismatch,
        }),
        as_is,
    );
    assert!(body(&stock).get("outcome_unknown").is_none());
    // Another API's result is an internal error.
    let wrong = Call::stock("1757").finish(Ok(core::CouponResponse::SendCoupon(sent())), as_is);
    assert_eq!(
        (wrong.status, body(&wrong)["code"].clone()),
        (500, json!("INTERNAL"))
    );
    // Settings the core names `merchant.*` are named the edge's way.
    let named = Call::stock("1757").finish(
        Err(core::Error::invalid("merchant.appid", "required")),
        |f| {
            if f == "merchant.appid" {
                "WXPAY_APPID"
            } else {
                f
            }
        },
    );
    assert_eq!(
        body(&named)["message"],
        "the gateway is not configured: WXPAY_APPID: required"
    );
    // The coupon query: repeated parameters refused, others ignored, missing ones left empty.
    let coupon = Call::coupon("42", "x=1&openid=o%2D1&stock_id=1757").unwrap();
    assert_eq!(
        coupon.request(),
        &core::CouponRequest::QueryCouponsInfo(core::QueryCouponsInfoRequest {
            coupon_id: "42".into(),
            openid: "o-1".into(),
            stock_id: "1757".into(),
            options: core::CommonOptions::default(),
        })
    );
    let twice = Call::coupon("42", "openid=a&openid=b").unwrap_err();
    assert_eq!(twice.message, "openid: appears more than once");
}

#[test]
fn serials_are_uniform_below_the_bound() {
    let mut draws = [u64::MAX, u64::MAX - 5, 10_000_000_123].into_iter();
    // Values in the biased tail are drawn again.
    assert_eq!(serial(|| draws.next().unwrap()), 123);
    assert_eq!(
        crate::trade_no::generate("1", 1_795_883_400, || 7),
        "1202611290000000007"
    );
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
    // Exactly two hex digits: `u8::from_str_radix` alone takes a sign (`%+4` would be 0x04).
    for broken in ["%+4", "%-1", "% 4", "%4 ", "%4+", "%+", "%0x"] {
        assert!(percent_decode(broken, false).is_none(), "{broken:?}");
        assert!(percent_decode(broken, true).is_none(), "{broken:?}");
    }
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
    // A key twice: the last would silently win (`openid` "a" then "b" issues to "b").
    for (body, key) in [
        (
            &br#"{"stock_id":"1","openid":"a","openid":"b"}"#[..],
            "openid",
        ),
        (
            br#"{"stock_id":"1","stock_id":"2","openid":"a"}"#,
            "stock_id",
        ),
        (
            br#"{"stock_id":"1","openid":"a","partner_trade_no":"x","partner_trade_no":null}"#,
            "partner_trade_no",
        ),
        (br#"{"stock_id":"1","openid":"a","x":{"k":1,"k":2}}"#, "k"),
    ] {
        let e = IssueInput::parse(body).err().unwrap();
        assert_eq!(
            (e.status, e.code, e.field.as_deref()),
            (400, "INVALID_JSON", Some(key)),
            "{}",
            String::from_utf8_lossy(body)
        );
        assert!(e.message.contains(key), "{}", e.message);
    }
    for body in [&b""[..], b"[]", b"\"x\"", b"{", b"{\"a\":1}{"] {
        let e = IssueInput::parse(body).err().unwrap();
        assert_eq!((e.status, e.code), (400, "INVALID_JSON"));
    }
}

fn business(code: &str) -> core::Error {
    core::Error::Business(core::BusinessError::new(Some(code.to_string()), None, None))
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
        let e = ApiError::from_core(error, as_is);
        assert_eq!(
            (e.status, e.code, e.retryable),
            (status, code, retryable),
            "{shown}"
        );
        let json: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(json["code"], code);
        assert!(json.get("status").is_none());
    }
    let field = ApiError::from_core(core::Error::invalid("coupon_stock_id", "required"), as_is);
    assert_eq!(field.message, "stock_id: required");
    let quota = ApiError::from_core(business("USER_AL_GET_COUPON"), as_is).with_trade_no("n1");
    let json: serde_json::Value = serde_json::from_slice(&quota.to_json()).unwrap();
    assert_eq!(json["wechat_err_code"], "USER_AL_GET_COUPON");
    assert_eq!(json["partner_trade_no"], "n1");
}

#[test]
fn sign_type_setting_is_md5_by_default_and_any_case() {
    assert_eq!(sign_type_setting(None), Ok(core::SignType::Md5));
    assert_eq!(sign_type_setting(Some("md5")), Ok(core::SignType::Md5));
    assert_eq!(
        sign_type_setting(Some("Hmac-Sha256")),
        Ok(core::SignType::HmacSha256)
    );
    assert_eq!(
        sign_type_setting(Some("SHA1")),
        Err("must be MD5 or HMAC-SHA256")
    );
}
