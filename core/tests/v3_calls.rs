//! The v3 calls natively (feature `v3`) against the shared vectors (test keys only, copied to
//! `tests/fixtures/v3/`): the typed requests produce the vectors' canonical URLs and bodies byte
//! for byte and, signed by the merchant, their `Authorization` headers; every answer vector is
//! read by the merchant (public key and platform certificate held at once) to the vectors'
//! verdict, and the accepted ones into their types.

use serde_json::Value;
use wxcoupon_core::v3::answer::Answer;
use wxcoupon_core::v3::auth::AnswerRefusal;
use wxcoupon_core::v3::error::Error;
use wxcoupon_core::v3::favor::{IssueCoupon, QueryCoupon, QueryStock};
use wxcoupon_core::v3::merchant::{Merchant, MerchantSettings};
use wxcoupon_core::v3::request::Request;
use wxcoupon_core::RetryAdvice;

fn fixture(name: &str) -> String {
    let path = format!("{}/../tests/fixtures/v3/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn vectors() -> Value {
    serde_json::from_str(&fixture("vectors.json")).unwrap()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key}"))
}

fn settings(v: &Value) -> MerchantSettings {
    MerchantSettings {
        mchid: s(&v["keys"]["merchant"], "mchid").into(),
        merchant_serial_no: s(&v["keys"]["merchant"], "certificate_serial_no").into(),
        apiv3_key: s(&v["keys"], "apiv3_key").into(),
        private_key_pem: Some(fixture("merchant_key.pem")),
        wechatpay_public_key_id: Some(s(&v["keys"]["platform"], "public_key_id").into()),
        wechatpay_public_key_pem: Some(fixture("platform_pub.pem")),
        platform_certificates: vec![fixture("platform_cert.pem")],
        base_url: None,
    }
}

/// The typed request each vector was made from (the README's fixed identities).
fn typed(name: &str) -> Request {
    let openid = "o4GgauInH_RCEdvrrNGrntXDuXXX".to_string();
    match name {
        "send_coupon" => IssueCoupon {
            openid,
            stock_id: "9856000".into(),
            out_request_no: "89560002019101000121".into(),
            appid: "wx233544546545989".into(),
            stock_creator_mchid: "8956000".into(),
            ..IssueCoupon::default()
        }
        .request(),
        "query_stock" => QueryStock {
            stock_id: "9856000".into(),
            stock_creator_mchid: "8956000".into(),
        }
        .request(),
        "query_coupon" => QueryCoupon {
            openid,
            coupon_id: "9856888".into(),
            appid: "wx233544546545989".into(),
        }
        .request(),
        other => panic!("no typed request for {other}"),
    }
    .unwrap()
}

#[test]
fn typed_requests_sign_to_the_vectors_authorization() {
    let v = vectors();
    let merchant = Merchant::new(&settings(&v)).unwrap();
    for case in v["request_signatures"].as_array().unwrap() {
        let name = s(case, "name");
        let request = typed(name);
        assert_eq!(request.url, s(case, "canonical_url"), "{name}");
        assert_eq!(request.body, s(case, "body"), "{name}");
        assert_eq!(request.method.as_str(), s(case, "method"), "{name}");
        let to_sign = request
            .to_sign(s(case, "timestamp").parse().unwrap(), s(case, "nonce_str"))
            .unwrap();
        assert_eq!(to_sign.message, s(case, "signature_message"), "{name}");
        let signed = merchant.sign(to_sign.clone()).unwrap();
        let header = |n: &str| {
            signed
                .headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            header("authorization"),
            Some(s(case, "authorization")),
            "{name}"
        );
        assert_eq!(signed.url, s(case, "full_url"), "{name}");
        assert_eq!(
            header("wechatpay-serial"),
            Some(s(&v["keys"]["platform"], "public_key_id")),
            "public-key mode names the public key"
        );
        // The two-step: a signature made elsewhere gives the same request.
        let outside = merchant
            .with_signature(to_sign, s(case, "signature"))
            .unwrap();
        assert_eq!(outside, signed, "{name}");
    }
}

fn answer(case: &Value) -> Answer {
    Answer {
        status: case["status"].as_u64().unwrap() as u16,
        headers: case["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap().to_string()))
            .collect(),
        body: s(case, "body").to_string(),
    }
}

fn reason(e: &Error) -> &'static str {
    match e {
        Error::AnswerNotVerified { refusal } => match refusal {
            AnswerRefusal::Signature => "signature",
            AnswerRefusal::UnknownSerial => "unknown_serial",
            AnswerRefusal::StaleTimestamp { .. } => "stale_timestamp",
            AnswerRefusal::MissingHeader(_) => "missing_header",
            AnswerRefusal::MalformedTimestamp => "malformed_timestamp",
        },
        other => panic!("not a verification refusal: {other:?}"),
    }
}

#[test]
fn every_answer_vector_gets_its_verdict() {
    let v = vectors();
    let merchant = Merchant::new(&settings(&v)).unwrap();
    let cases = v["response_signatures"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["response_negative"].as_array().unwrap());
    let mut checked = 0;
    for case in cases {
        let name = s(case, "name");
        let a = answer(case);
        let now = case["now"].as_i64().unwrap();
        let verdict = merchant.read_answer(&a, now);
        if case["expected"]["valid"] == true {
            if a.status == 400 {
                // Non-2xx answers are refusals, read without verifying (as every SDK does).
                match verdict {
                    Err(Error::Refused(r)) => {
                        assert_eq!(r.code.as_deref(), Some("PARAM_ERROR"));
                        assert_eq!(r.advice, RetryAdvice::DoNotRetry);
                        assert!(r.message.unwrap().contains("stock_id"));
                    }
                    other => panic!("{name}: {other:?}"),
                }
            } else {
                assert_eq!(verdict.unwrap(), a.body, "{name}");
            }
        } else {
            let e = verdict.expect_err(name);
            assert_eq!(reason(&e), s(&case["expected"], "reason"), "{name}");
            assert!(
                e.issue_outcome_unknown(),
                "{name}: a forged 2xx may hide an issue"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 15);
}

#[test]
fn accepted_answers_read_into_their_types() {
    let v = vectors();
    let merchant = Merchant::new(&settings(&v)).unwrap();
    let case = |name: &str| {
        v["response_signatures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    let c = case("send_coupon-200");
    let issued = merchant
        .parse_issue_coupon(&answer(&c), c["now"].as_i64().unwrap())
        .unwrap();
    assert_eq!(issued.coupon_id, "9867041");
    let c = case("query_stock-200");
    let stock = merchant
        .parse_query_stock(&answer(&c), c["now"].as_i64().unwrap())
        .unwrap();
    assert_eq!(stock.stock_id, "9856000");
    assert_eq!(stock.distributed_coupons, Some(4));
    let rule = stock.stock_use_rule.unwrap();
    assert_eq!(rule.fixed_normal_coupon.unwrap().coupon_amount, Some(50));
    assert_eq!(rule.trade_type.unwrap(), ["MICROAPP", "JSAPI"]);
    assert!(stock.extra.is_empty(), "every field of the vector is typed");
    let c = case("query_coupon-200");
    let coupon = merchant
        .parse_query_coupon(&answer(&c), c["now"].as_i64().unwrap())
        .unwrap();
    assert_eq!(coupon.coupon_id, "9856888");
    assert_eq!(coupon.status.as_deref(), Some("SENDED"));
    assert!(coupon.extra.is_empty());
}

#[test]
fn only_the_public_key_or_only_the_certificate_selects_by_serial() {
    let v = vectors();
    let by_cert = v["response_signatures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "send_coupon-200-platform-cert-serial")
        .unwrap()
        .clone();
    let by_key = v["response_signatures"][0].clone();
    let mut key_only = settings(&v);
    key_only.platform_certificates.clear();
    let key_only = Merchant::new(&key_only).unwrap();
    let mut cert_only = settings(&v);
    cert_only.wechatpay_public_key_id = None;
    cert_only.wechatpay_public_key_pem = None;
    let cert_only = Merchant::new(&cert_only).unwrap();
    let now = |c: &Value| c["now"].as_i64().unwrap();
    assert!(key_only.read_answer(&answer(&by_key), now(&by_key)).is_ok());
    assert_eq!(
        reason(
            &key_only
                .read_answer(&answer(&by_cert), now(&by_cert))
                .unwrap_err()
        ),
        "unknown_serial"
    );
    assert!(cert_only
        .read_answer(&answer(&by_cert), now(&by_cert))
        .is_ok());
    assert_eq!(
        reason(
            &cert_only
                .read_answer(&answer(&by_key), now(&by_key))
                .unwrap_err()
        ),
        "unknown_serial"
    );
    // Certificate mode names the certificate in requests.
    assert_eq!(
        cert_only.signer().wechatpay_serial,
        Some(s(&v["keys"]["platform"], "certificate_serial_no"))
    );
}

#[test]
fn refusals_carry_code_status_and_advice() {
    let merchant = Merchant::new(&settings(&vectors())).unwrap();
    let refused = |status, body: &str| match merchant.read_answer(
        &Answer {
            status,
            headers: vec![],
            body: body.into(),
        },
        0,
    ) {
        Err(Error::Refused(r)) => *r,
        other => panic!("{other:?}"),
    };
    let r = refused(
        429,
        r#"{"code":"FREQUENCY_LIMITED","message":"请求过于频繁"}"#,
    );
    assert_eq!((r.status, r.advice), (429, RetryAdvice::RetryLater));
    let r = refused(500, r#"{"code":"SYSTEM_ERROR","message":"系统繁忙"}"#);
    assert_eq!(r.advice, RetryAdvice::Retry);
    assert!(Error::Refused(Box::new(r)).issue_outcome_unknown());
    let r = refused(502, "<html>bad gateway</html>");
    assert_eq!((r.code, r.advice), (None, RetryAdvice::Retry));
    let r = refused(
        400,
        r#"{"code":"PARAM_ERROR","message":"m","detail":{"field":"/body/appid","value":1,"issue":"bad","location":"body"}}"#,
    );
    let d = r.detail.unwrap();
    assert_eq!(
        (
            d.field.as_deref(),
            d.value.as_deref(),
            d.location.as_deref()
        ),
        (Some("/body/appid"), Some("1"), Some("body"))
    );
    let r = refused(202, "");
    assert_eq!(r.advice, RetryAdvice::Retry);
}

#[test]
fn settings_problems_name_the_setting_and_never_the_secret() {
    let v = vectors();
    let key = s(&v["keys"], "apiv3_key").to_string();
    let mut bad = settings(&v);
    bad.private_key_pem =
        Some("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into());
    match Merchant::new(&bad).unwrap_err() {
        Error::InvalidInput(e) => assert_eq!(e.field, "merchant.private_key"),
        other => panic!("{other:?}"),
    }
    let mut bad = settings(&v);
    bad.apiv3_key = "short".into();
    let e = Merchant::new(&bad).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid input: merchant.apiv3_key: must be 32 characters"
    );
    let mut bad = settings(&v);
    bad.wechatpay_public_key_pem = None;
    assert!(Merchant::new(&bad).is_err());
    let merchant = Merchant::new(&settings(&v)).unwrap();
    let debug = format!("{merchant:?} {:?}", settings(&v));
    assert!(!debug.contains(&key), "{debug}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    let mut public_only = settings(&v);
    public_only.private_key_pem = None;
    let m = Merchant::new(&public_only).unwrap();
    let to_sign = typed("query_stock").to_sign(1_700_000_000, "abc").unwrap();
    match m.sign(to_sign).unwrap_err() {
        Error::InvalidInput(e) => assert_eq!(e.field, "merchant.private_key"),
        other => panic!("{other:?}"),
    }
}
