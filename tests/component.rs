//! The component through the reference host: the same results as the core, natively.

use wxcoupon_core::{
    self as core, Api, ApiKey, CouponRequest, Error, FieldError, SendCouponRequest, SignType,
    SignatureCheck, SignatureError, SignaturePolicy,
};
use wxcoupon_tests::{fixture, merchant, runtime, signature_vectors};

#[tokio::test]
async fn every_signature_vector_through_the_component() {
    let mut session = runtime().session().await.unwrap();
    let vectors = signature_vectors();
    assert!(vectors.len() >= 11);
    for v in vectors {
        let sign_type = SignType::from_wire_name(&v.sign_type).unwrap();
        let fields: Vec<(String, String)> = v.fields.clone().into_iter().collect();
        let sign = session.sign(&fields, &v.key, sign_type).await.unwrap();
        assert_eq!(sign.as_deref(), Ok(v.sign.as_str()), "vector {}", v.name);

        let mut signed = fields.clone();
        signed.push(("sign".into(), v.sign.clone()));
        let expected = match sign_type {
            SignType::Md5 => SignatureCheck::VerifiedMd5,
            SignType::HmacSha256 => SignatureCheck::VerifiedHmacSha256,
        };
        assert_eq!(
            session.verify(&signed, &v.key).await.unwrap(),
            Ok(expected),
            "vector {}",
            v.name
        );
    }
}

#[tokio::test]
async fn sign_refuses_duplicate_fields_and_empty_keys() {
    let mut session = runtime().session().await.unwrap();
    let dup = vec![
        ("a".to_string(), "1".to_string()),
        ("a".to_string(), "2".to_string()),
    ];
    assert_eq!(
        session.sign(&dup, "k", SignType::Md5).await.unwrap(),
        Err(Error::InvalidInput(FieldError::new(
            "a",
            "appears more than once"
        )))
    );
    let one = vec![("a".to_string(), "1".to_string())];
    assert_eq!(
        session.sign(&one, "", SignType::Md5).await.unwrap(),
        Err(Error::InvalidInput(FieldError::new("api_key", "required")))
    );
    let mut wrong = one.clone();
    wrong.push(("sign".into(), "0".repeat(32)));
    assert_eq!(
        session.verify(&wrong, "k").await.unwrap(),
        Err(Error::Signature {
            problem: SignatureError::Mismatch
        })
    );
}

fn send_request() -> CouponRequest {
    CouponRequest::SendCoupon(SendCouponRequest {
        coupon_stock_id: "1757".into(),
        openid: "onqOjjrXT-776SpHnfexGm1_P7iE".into(),
        partner_trade_no: "1000009820141203515766".into(),
        options: core::CommonOptions {
            op_user_id: Some("10000098".into()),
            device_info: None,
            version: Some("1.0".into()),
            message_type: Some("XML".into()),
        },
    })
}

#[tokio::test]
async fn build_request_matches_the_core_and_the_vector() {
    let mut session = runtime().session().await.unwrap();
    let m = merchant();
    let built = session
        .build_request(&m, &send_request(), Some("1417574675"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        built,
        core::build_request(&m, &send_request(), "1417574675").unwrap()
    );
    assert_eq!(
        built.url,
        "https://api.mch.weixin.qq.com/mmpaymkttransfers/send_coupon"
    );
    assert!(built.needs_client_certificate);
    let body = String::from_utf8(built.body).unwrap();
    assert!(
        body.contains("<sign><![CDATA[2668B7C27B88355DAF0D55E7BAC07AA2]]></sign>"),
        "{body}"
    );
    assert!(body.contains("<openid_count>1</openid_count>"));

    // Every host and mode: backup, custom base URL, sandbox prefix.
    let mut backup = merchant();
    backup.host = core::ApiHost::Backup;
    backup.sandbox = true;
    let stock = CouponRequest::QueryCouponStock(core::QueryCouponStockRequest {
        coupon_stock_id: "1757".into(),
        options: Default::default(),
    });
    let built = session
        .build_request(&backup, &stock, Some("n1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        built.url,
        "https://api2.mch.weixin.qq.com/sandboxnew/mmpaymkttransfers/query_coupon_stock"
    );
    assert!(!built.needs_client_certificate);
    let mut custom = merchant();
    custom.host = core::ApiHost::Custom("http://127.0.0.1:9/".into());
    let built = session
        .build_request(&custom, &stock, Some("n1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        built.url,
        "http://127.0.0.1:9/mmpaymkttransfers/query_coupon_stock"
    );
}

#[tokio::test]
async fn hmac_requests_carry_sign_type() {
    let mut session = runtime().session().await.unwrap();
    let mut m = merchant();
    m.sign_type = SignType::HmacSha256;
    let built = session
        .build_request(&m, &send_request(), Some("1417574675"))
        .await
        .unwrap()
        .unwrap();
    let body = String::from_utf8(built.body).unwrap();
    assert!(body.contains("<sign_type><![CDATA[HMAC-SHA256]]></sign_type>"));
    // The vector "send_coupon-hmac-with-sign_type" is exactly this request.
    assert!(
        body.contains("18DC0A4365097AFD8B9F39160344ABBDC6E4ECA35855E48F3B4B1D2094BF24EE"),
        "{body}"
    );
}

#[tokio::test]
async fn nonces_come_from_wasi_random_when_not_given() {
    let mut session = runtime().session().await.unwrap();
    let m = merchant();
    let mut nonces = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let built = session
            .build_request(&m, &send_request(), None)
            .await
            .unwrap()
            .unwrap();
        let fields = core::read_xml(&built.body, &Default::default()).unwrap();
        let nonce = fields["nonce_str"].clone();
        assert_eq!(nonce.len(), 32);
        assert!(core::check_nonce(&nonce).is_ok());
        // The signature covers the drawn nonce.
        assert!(core::verify(&fields, &m.api_key, &fields["sign"]).is_ok());
        nonces.insert(nonce);
    }
    assert_eq!(nonces.len(), 3, "three random nonces differ");
}

#[tokio::test]
async fn invalid_input_through_the_component_names_field_and_rule() {
    let mut session = runtime().session().await.unwrap();
    let mut request = send_request();
    if let CouponRequest::SendCoupon(r) = &mut request {
        r.openid.clear();
    }
    assert_eq!(
        session
            .build_request(&merchant(), &request, Some("n"))
            .await
            .unwrap(),
        Err(Error::InvalidInput(FieldError::new("openid", "required")))
    );
    let mut m = merchant();
    m.api_key = ApiKey::new("short-secret").unwrap();
    let err = session
        .build_request(&m, &send_request(), Some("n"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err,
        Error::InvalidInput(FieldError::new(
            "merchant.api_key",
            "must be 32 characters, the APIv2 key's length (got 12)"
        ))
    );
    assert!(!format!("{err} {err:?}").contains("short-secret"));
}

/// Every response fixture parses to exactly what the core parses natively.
#[tokio::test]
async fn fixtures_through_the_component_equal_the_core() {
    let mut session = runtime().session().await.unwrap();
    let cases = [
        (
            "query_coupon_stock_real_unsigned.xml",
            Api::QueryCouponStock,
        ),
        ("send_coupon_fail_user_al_get_coupon.xml", Api::SendCoupon),
        ("querycouponsinfo_coupon_minimum.xml", Api::QueryCouponsInfo),
        ("send_coupon_success_signed.xml", Api::SendCoupon),
        ("return_code_fail.xml", Api::QueryCouponStock),
    ];
    let mut strict = merchant();
    strict.signature_policy = SignaturePolicy::Require;
    for m in [merchant(), strict] {
        for (file, api) in cases {
            let body = fixture(&format!("responses/{file}"));
            let through = session.parse_response(&m, api, 200, &body).await.unwrap();
            let native = core::parse_response(&m, api, 200, &body);
            assert_eq!(through, native, "{file} with {:?}", m.signature_policy);
        }
    }
    // The quirks, spelled out.
    let body = fixture("responses/query_coupon_stock_real_unsigned.xml");
    match session
        .parse_response(&merchant(), Api::QueryCouponStock, 200, &body)
        .await
        .unwrap()
    {
        Ok(core::CouponResponse::QueryCouponStock(s)) => {
            assert_eq!(s.coupon_minimum, Some(2000));
            assert_eq!(s.signature, SignatureCheck::Absent);
            assert_eq!(s.status, core::StockStatus::Active);
        }
        other => panic!("unexpected {other:?}"),
    }
    let body = fixture("responses/send_coupon_fail_user_al_get_coupon.xml");
    match session
        .parse_response(&merchant(), Api::SendCoupon, 200, &body)
        .await
        .unwrap()
    {
        Err(Error::Business(b)) => assert_eq!(b.err_code.as_deref(), Some("USER_AL_GET_COUPON")),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn hostile_bodies_through_the_component() {
    let mut session = runtime().session().await.unwrap();
    let m = merchant();
    let cases: [(&[u8], &str); 4] = [
        (
            b"<!DOCTYPE xml [<!ENTITY x \"y\">]><xml><a>&x;</a></xml>",
            "DOCTYPE is not allowed",
        ),
        (b"<xml><return_code>SUCCESS", "truncated"),
        (b"<xml><a><b/></a></xml>", "nested"),
        (&[0xff; 70_000], "over the limit"),
    ];
    for (body, needle) in cases {
        match session
            .parse_response(&m, Api::SendCoupon, 200, body)
            .await
            .unwrap()
        {
            Err(Error::MalformedResponse(e)) => assert!(e.problem.contains(needle), "{e:?}"),
            other => panic!("expected malformed ({needle}), got {other:?}"),
        }
    }
}

/// `protocol.outcome-unknown` is the core's one rule, not a second copy of it: on a table of
/// errors of every kind, for every API, the component answers what `Error::outcome_unknown`
/// answers natively; `outcome-unknown-advice` is the core's sentence.
#[tokio::test]
async fn outcome_unknown_export_is_the_core_rule() {
    use wxcoupon_core::{err_code, BusinessError, MalformedResponse};
    fn business(code: &str) -> Error {
        let advice = err_code::advice(code);
        Error::Business(BusinessError {
            err_code: Some(code.into()),
            err_code_des: Some("描述".into()),
            ret_msg: None,
            meaning: None,
            advice,
            retryable: advice.is_retryable(),
        })
    }
    let errors = [
        Error::invalid("openid", "required"),
        Error::UnexpectedStatus { status: 502 },
        Error::UnexpectedStatus { status: 404 },
        Error::MalformedResponse(MalformedResponse::document("body is over the limit")),
        Error::MalformedResponse(MalformedResponse::field("appid", "does not match")),
        Error::Protocol {
            return_msg: "签名错误".into(),
        },
        business("SYSTEMERROR"),
        business("INVALID_REQUEST"),
        business("USER_AL_GET_COUPON"),
        business("FREQ_OVER_LIMIT"),
        business("SOMETHING_UNDOCUMENTED"),
        Error::Signature {
            problem: SignatureError::Mismatch,
        },
        Error::Signature {
            problem: SignatureError::Missing,
        },
        Error::Signature {
            problem: SignatureError::Malformed,
        },
        Error::Transport {
            message: "connection reset".into(),
            may_have_reached_wechat: true,
        },
        Error::Transport {
            message: "connection refused".into(),
            may_have_reached_wechat: false,
        },
        Error::Denied {
            message: "example.com is not allowed".into(),
        },
    ];
    let mut session = runtime().session().await.unwrap();
    let mut unknown = 0;
    for e in &errors {
        for api in Api::ALL {
            let verdict = session.outcome_unknown(api, e).await.unwrap();
            assert_eq!(verdict, e.outcome_unknown(api), "{api:?} {e:?}");
            unknown += usize::from(verdict);
        }
    }
    // The table exercises both answers: 10 unknown send_coupon outcomes, no unknown query.
    assert_eq!(unknown, 10);
    assert_eq!(
        session.outcome_unknown_advice().await.unwrap(),
        core::OUTCOME_UNKNOWN_ADVICE
    );
}

/// `conformance/cases/outcome.json`, the verdicts every host must reproduce, is the core's rule:
/// each case's canonical error (the core's serde form) judged natively and through the component.
#[tokio::test]
async fn outcome_conformance_cases_are_the_core_rule() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conformance/cases/outcome.json"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    let mut session = runtime().session().await.unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let api = Api::from_name(case["api"].as_str().unwrap()).unwrap();
        let error: Error = serde_json::from_value(case["error"].clone()).unwrap();
        let expected = case["expected"]["ok"].as_bool().unwrap();
        assert_eq!(error.outcome_unknown(api), expected, "core: {name}");
        assert_eq!(
            session.outcome_unknown(api, &error).await.unwrap(),
            expected,
            "component: {name}"
        );
    }
}
