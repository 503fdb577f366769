//! Bad input and bad answers, each with the specific error it must produce.

use wxcoupon_core::{
    build_request, parse_response, read_xml, write_xml, Api, ApiKey, CouponRequest, Error,
    FieldError, Fields, MalformedResponse, Merchant, QueryCouponStockRequest,
    QueryCouponsInfoRequest, SendCouponRequest, SignType, SignatureError, SignaturePolicy,
    XmlLimits,
};

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

fn merchant() -> Merchant {
    Merchant::new("wx5edab3bdfba3dc1c", "10000098", ApiKey::new(KEY).unwrap())
}

fn send(stock: &str, openid: &str, trade_no: &str) -> CouponRequest {
    CouponRequest::SendCoupon(SendCouponRequest {
        coupon_stock_id: stock.into(),
        openid: openid.into(),
        partner_trade_no: trade_no.into(),
        ..Default::default()
    })
}

fn invalid(field: &str, rule: &str) -> Error {
    Error::InvalidInput(FieldError::new(field, rule))
}

fn malformed_doc(e: Result<Fields, MalformedResponse>) -> String {
    e.expect_err("must be refused").problem
}

#[test]
fn malformed_xml_is_refused() {
    let limits = XmlLimits::default();
    assert!(malformed_doc(read_xml(b"<xml><a>1</b></xml>", &limits)).contains("not well-formed"));
    assert!(malformed_doc(read_xml(b"<xml><a>1</a>", &limits)).contains("truncated"));
    assert!(malformed_doc(read_xml(b"<root><a>1</a></root>", &limits)).contains("expected <xml>"));
    assert!(malformed_doc(read_xml(b"", &limits)).contains("no <xml> root"));
    assert!(malformed_doc(read_xml(b"\xff\xfe", &limits)).contains("not UTF-8"));
    let nested = read_xml(b"<xml><a><b>1</b></a></xml>", &limits).unwrap_err();
    assert_eq!(nested.field.as_deref(), Some("a"));
    assert!(nested.problem.contains("nested"));
    let twice = read_xml(b"<xml><a>1</a><a>2</a></xml>", &limits).unwrap_err();
    assert_eq!(twice.field.as_deref(), Some("a"));
    assert_eq!(twice.problem, "appears more than once");
}

#[test]
fn doctype_and_entity_expansion_are_refused() {
    let limits = XmlLimits::default();
    let xxe = b"<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
                <xml><a>&x;</a></xml>";
    assert!(malformed_doc(read_xml(xxe, &limits)).contains("DOCTYPE is not allowed"));
    let bomb =
        b"<!DOCTYPE xml [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><xml><a>&b;</a></xml>";
    assert!(malformed_doc(read_xml(bomb, &limits)).contains("DOCTYPE is not allowed"));
    // Without a DOCTYPE, an undeclared entity is an error, not an empty string.
    assert!(
        malformed_doc(read_xml(b"<xml><a>&x;</a></xml>", &limits)).contains("unknown entity &x;")
    );
}

#[test]
fn oversized_bodies_and_too_many_fields_are_refused() {
    let limits = XmlLimits::default();
    let mut big = b"<xml><a>".to_vec();
    big.extend(std::iter::repeat_n(b'x', limits.max_body_bytes));
    big.extend(b"</a></xml>");
    assert!(malformed_doc(read_xml(&big, &limits)).contains("over the limit of 65536 bytes"));
    let many: String = (0..300).map(|i| format!("<f{i}>1</f{i}>")).collect();
    let doc = format!("<xml>{many}</xml>");
    assert!(malformed_doc(read_xml(doc.as_bytes(), &limits)).contains("more than 256 fields"));
}

#[test]
fn missing_required_fields_are_named() {
    let m = merchant();
    assert_eq!(
        build_request(&m, &send("", "o", "t"), "n").unwrap_err(),
        invalid("coupon_stock_id", "required")
    );
    assert_eq!(
        build_request(&m, &send("1", "  ", "t"), "n").unwrap_err(),
        invalid("openid", "required")
    );
    assert_eq!(
        build_request(&m, &send("1", "o", ""), "n").unwrap_err(),
        invalid("partner_trade_no", "required")
    );
    let info = CouponRequest::QueryCouponsInfo(QueryCouponsInfoRequest {
        coupon_id: "1".into(),
        openid: "o".into(),
        stock_id: "".into(),
        ..Default::default()
    });
    assert_eq!(
        build_request(&m, &info, "n").unwrap_err(),
        invalid("stock_id", "required")
    );
    let mut no_appid = merchant();
    no_appid.appid = String::new();
    assert_eq!(
        build_request(&no_appid, &send("1", "o", "t"), "n").unwrap_err(),
        invalid("merchant.appid", "required")
    );
}

#[test]
fn over_long_fields_are_named_with_their_limit() {
    let m = merchant();
    let stock = CouponRequest::QueryCouponStock(QueryCouponStockRequest {
        coupon_stock_id: "1757".into(),
        options: wxcoupon_core::CommonOptions {
            device_info: Some("d".repeat(33)),
            ..Default::default()
        },
    });
    assert_eq!(
        build_request(&m, &stock, "n").unwrap_err(),
        invalid("device_info", "at most 32 characters (got 33)")
    );
    let mut long_mch = merchant();
    long_mch.mch_id = "1".repeat(40);
    assert_eq!(
        build_request(&long_mch, &send("1", "o", "t"), "n").unwrap_err(),
        invalid("merchant.mch_id", "at most 32 characters (got 40)")
    );
    assert_eq!(
        build_request(&m, &send("1", "o", "t"), &"n".repeat(33)).unwrap_err(),
        invalid("nonce_str", "at most 32 characters (got 33)")
    );
}

#[test]
fn bad_settings_are_named_and_never_echo_the_key() {
    let mut short_key = merchant();
    short_key.api_key = ApiKey::new("secret-but-short").unwrap();
    let err = build_request(&short_key, &send("1", "o", "t"), "n").unwrap_err();
    assert_eq!(
        err,
        invalid(
            "merchant.api_key",
            "must be 32 characters, the APIv2 key's length (got 16)"
        )
    );
    assert!(!err.to_string().contains("secret-but-short"));
    let mut sandbox_hmac = merchant();
    sandbox_hmac.sandbox = true;
    sandbox_hmac.sign_type = SignType::HmacSha256;
    assert_eq!(
        build_request(&sandbox_hmac, &send("1", "o", "t"), "n").unwrap_err(),
        invalid(
            "merchant.sign_type",
            "the sandbox accepts MD5 signatures only"
        )
    );
    let mut bad_url = merchant();
    bad_url.host = wxcoupon_core::ApiHost::Custom("ftp://example".into());
    assert_eq!(
        build_request(&bad_url, &send("1", "o", "t"), "n").unwrap_err(),
        invalid("merchant.base_url", "must start with http:// or https://")
    );
}

#[test]
fn values_xml_cannot_carry_are_refused_by_name() {
    let err = build_request(&merchant(), &send("1", "o\u{1}", "t"), "n").unwrap_err();
    assert_eq!(
        err,
        invalid(
            "openid",
            "contains U+0001, a character XML cannot carry unchanged"
        )
    );
    let mut f = Fields::new();
    f.insert("a".into(), "x\ry".into());
    assert!(matches!(write_xml(&f), Err(Error::InvalidInput(e)) if e.field == "a"));
}

fn signed_stock_answer(key: &str) -> Vec<u8> {
    signed_stock_answer_with(key, SignType::Md5)
}

fn signed_stock_answer_with(key: &str, digest: SignType) -> Vec<u8> {
    let mut f = Fields::new();
    for (k, v) in [
        ("return_code", "SUCCESS"),
        ("result_code", "SUCCESS"),
        ("appid", "wx5edab3bdfba3dc1c"),
        ("mch_id", "10000098"),
        ("coupon_stock_id", "1757"),
        ("coupon_value", "500"),
        ("coupon_stock_status", "4"),
        ("coupon_total", "100"),
    ] {
        f.insert(k.into(), v.into());
    }
    let signature = wxcoupon_core::sign(&f, &ApiKey::new(key).unwrap(), digest);
    f.insert("sign".into(), signature);
    write_xml(&f).unwrap().into_bytes()
}

#[test]
fn wrong_signature_is_refused() {
    let body = signed_stock_answer("00000000000000000000000000000000");
    assert_eq!(
        parse_response(&merchant(), Api::QueryCouponStock, 200, &body).unwrap_err(),
        Error::Signature {
            problem: SignatureError::Mismatch
        }
    );
    let good = signed_stock_answer(KEY);
    assert!(parse_response(&merchant(), Api::QueryCouponStock, 200, &good).is_ok());
}

#[test]
fn an_answer_is_verified_with_the_digest_the_request_used() {
    // An HMAC-SHA256 merchant must not accept an MD5 signature (the weaker digest, chosen by
    // whoever wrote the answer), nor an MD5 merchant an HMAC one: either is a mismatch.
    let mut hmac = merchant();
    hmac.sign_type = SignType::HmacSha256;
    let md5_signed = signed_stock_answer_with(KEY, SignType::Md5);
    let hmac_signed = signed_stock_answer_with(KEY, SignType::HmacSha256);
    let mismatch = Error::Signature {
        problem: SignatureError::Mismatch,
    };
    assert_eq!(
        parse_response(&hmac, Api::QueryCouponStock, 200, &md5_signed).unwrap_err(),
        mismatch
    );
    assert_eq!(
        parse_response(&merchant(), Api::QueryCouponStock, 200, &hmac_signed).unwrap_err(),
        mismatch
    );
    assert_eq!(
        parse_response(&hmac, Api::QueryCouponStock, 200, &hmac_signed)
            .map(|r| match r {
                wxcoupon_core::CouponResponse::QueryCouponStock(s) => s.signature,
                other => panic!("{other:?}"),
            })
            .unwrap(),
        wxcoupon_core::SignatureCheck::VerifiedHmacSha256
    );
    assert!(parse_response(&merchant(), Api::QueryCouponStock, 200, &md5_signed).is_ok());
}

#[test]
fn missing_sign_is_refused_only_in_strict_mode() {
    let unsigned = br#"<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code>
        <coupon_stock_id>1757</coupon_stock_id><coupon_value>500</coupon_value>
        <coupon_stock_status>4</coupon_stock_status><coupon_total>100</coupon_total></xml>"#;
    assert!(parse_response(&merchant(), Api::QueryCouponStock, 200, unsigned).is_ok());
    let mut strict = merchant();
    strict.signature_policy = SignaturePolicy::Require;
    assert_eq!(
        parse_response(&strict, Api::QueryCouponStock, 200, unsigned).unwrap_err(),
        Error::Signature {
            problem: SignatureError::Missing
        }
    );
}

#[test]
fn answer_level_errors_are_precise() {
    let m = merchant();
    assert_eq!(
        parse_response(&m, Api::SendCoupon, 502, b"").unwrap_err(),
        Error::UnexpectedStatus { status: 502 }
    );
    let wrong_number =
        br#"<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code>
        <coupon_stock_id>1</coupon_stock_id><coupon_value>5.00</coupon_value>
        <coupon_stock_status>4</coupon_stock_status><coupon_total>1</coupon_total></xml>"#;
    assert_eq!(
        parse_response(&m, Api::QueryCouponStock, 200, wrong_number).unwrap_err(),
        Error::MalformedResponse(MalformedResponse::field(
            "coupon_value",
            "must be an unsigned integer (got `5.00`)"
        ))
    );
    let other_merchant =
        br#"<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code>
        <mch_id>999</mch_id></xml>"#;
    assert!(matches!(
        parse_response(&m, Api::QueryCouponStock, 200, other_merchant).unwrap_err(),
        Error::MalformedResponse(MalformedResponse { field: Some(f), .. }) if f == "mch_id"
    ));
    let no_coupon = br#"<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code>
        <ret_code>SUCCESS</ret_code><coupon_id></coupon_id></xml>"#;
    assert!(matches!(
        parse_response(&m, Api::SendCoupon, 200, no_coupon).unwrap_err(),
        Error::MalformedResponse(MalformedResponse { field: Some(f), .. }) if f == "coupon_id"
    ));
}

#[test]
fn return_code_fail_with_err_code_keeps_the_code() {
    let body = "<xml><return_code>FAIL</return_code><return_msg><![CDATA[证书错误]]></return_msg>\
                <result_code>FAIL</result_code><err_code>CA_ERROR</err_code></xml>";
    match parse_response(&merchant(), Api::SendCoupon, 200, body.as_bytes()).unwrap_err() {
        Error::Business(b) => {
            assert_eq!(b.err_code.as_deref(), Some("CA_ERROR"));
            assert_eq!(
                b.err_code_des.as_deref(),
                Some("证书错误"),
                "return_msg when no err_code_des"
            );
            assert!(b.meaning.unwrap().contains("client certificate"));
        }
        other => panic!("expected a business error, got {other:?}"),
    }
}

/// `answer_text` is what the parsers refuse before reading: the same error for each body a
/// text boundary cannot carry (hosts use it for bytes they cannot pass as a WIT `string`), and
/// no refusal for a body the parsers read.
#[test]
fn answer_text_refuses_exactly_what_the_parsers_refuse_first() {
    let m = merchant();
    let limits = XmlLimits::default();
    let oversized = vec![b' '; limits.max_body_bytes + 1];
    for (status, body) in [
        (200, &b"<xml>\xff</xml>"[..]),
        (503, &b"<xml>\xff</xml>"[..]),
        (200, &oversized[..]),
        (302, &b""[..]),
    ] {
        let refused = wxcoupon_core::answer_text(status, body, &limits).expect_err("refused");
        for api in [
            Api::SendCoupon,
            Api::QueryCouponStock,
            Api::QueryCouponsInfo,
        ] {
            assert_eq!(parse_response(&m, api, status, body), Err(refused.clone()));
        }
    }
    let body = b"<xml><return_code>SUCCESS</return_code></xml>";
    assert_eq!(
        wxcoupon_core::answer_text(200, body, &limits),
        Ok("<xml><return_code>SUCCESS</return_code></xml>")
    );
}
