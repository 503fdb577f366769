//! The shared v3 vectors (test keys only, `tests/fixtures/v3/`) through the component, as the
//! reference host calls it: every request built and signed inside the component and, in the
//! two-step, with the vector's own signature handed in; every answer verified and read by the
//! component's merchant (the WeChat Pay public key and the platform certificate held at once)
//! to the vector's verdict; every notification's GCM part decrypted (or, flipped, refused with
//! no plaintext). `core/tests/v3_calls.rs` holds the same cases natively.

use serde_json::Value;
use wxcoupon::v3::{SignWith, V3Merchant};
use wxcoupon::{Runtime, Session};
use wxcoupon_core::v3::answer::Answer;
use wxcoupon_core::v3::auth::AnswerRefusal;
use wxcoupon_core::v3::certificates::EncryptedResource;
use wxcoupon_core::v3::error::Error;
use wxcoupon_core::v3::favor::{IssueCoupon, QueryCoupon, QueryStock};
use wxcoupon_core::v3::merchant::MerchantSettings;
use wxcoupon_core::v3::request::ToSign;
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

async fn open(session: &mut Session, v: &Value) -> V3Merchant {
    session
        .open_v3(&settings(v), SignWith::Component)
        .await
        .unwrap()
        .unwrap()
}

async fn build(session: &mut Session, case: &Value) -> ToSign {
    let openid = "o4GgauInH_RCEdvrrNGrntXDuXXX".to_string();
    let timestamp: i64 = s(case, "timestamp").parse().unwrap();
    let nonce = Some(s(case, "nonce_str"));
    match s(case, "name") {
        "send_coupon" => {
            let r = IssueCoupon {
                openid,
                stock_id: "9856000".into(),
                out_request_no: "89560002019101000121".into(),
                appid: "wx233544546545989".into(),
                stock_creator_mchid: "8956000".into(),
                ..IssueCoupon::default()
            };
            session.v3_build_issue_coupon(&r, timestamp, nonce).await
        }
        "query_stock" => {
            let r = QueryStock {
                stock_id: "9856000".into(),
                stock_creator_mchid: "8956000".into(),
            };
            session.v3_build_query_stock(&r, timestamp, nonce).await
        }
        "query_coupon" => {
            let r = QueryCoupon {
                openid,
                coupon_id: "9856888".into(),
                appid: "wx233544546545989".into(),
            };
            session.v3_build_query_coupon(&r, timestamp, nonce).await
        }
        other => panic!("no typed request for {other}"),
    }
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn requests_are_signed_in_the_component_and_in_two_steps_to_the_vectors() {
    let v = vectors();
    let mut session = Runtime::new().unwrap().session().await.unwrap();
    let merchant = open(&mut session, &v).await;
    for case in v["request_signatures"].as_array().unwrap() {
        let name = s(case, "name");
        let to_sign = build(&mut session, case).await;
        assert_eq!(to_sign.message, s(case, "signature_message"), "{name}");
        assert_eq!(to_sign.request.url, s(case, "canonical_url"), "{name}");
        let inside = session.v3_sign(&merchant, &to_sign).await.unwrap().unwrap();
        let auth = inside
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str());
        assert_eq!(auth, Some(s(case, "authorization")), "{name}");
        assert_eq!(inside.url, s(case, "full_url"), "{name}");
        let two_step = session
            .v3_authorize(&merchant, &to_sign, s(case, "signature"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(two_step, inside, "{name}");
    }
}

fn answer(case: &Value) -> Answer {
    Answer {
        status: case["status"].as_u64().unwrap() as u16,
        headers: case["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
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

#[tokio::test]
async fn every_answer_vector_gets_its_verdict_from_the_component() {
    let v = vectors();
    let mut session = Runtime::new().unwrap().session().await.unwrap();
    let merchant = open(&mut session, &v).await;
    let cases: Vec<Value> = v["response_signatures"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["response_negative"].as_array().unwrap())
        .cloned()
        .collect();
    assert_eq!(cases.len(), 15);
    for case in &cases {
        let name = s(case, "name");
        let a = answer(case);
        let now = case["now"].as_i64().unwrap();
        // Every answer through the parser of its call (the vectors' bodies are issue answers
        // unless named otherwise).
        let verdict: Result<(), Error> = if name.starts_with("query_stock") {
            session
                .v3_parse_query_stock(&merchant, &a, now)
                .await
                .unwrap()
                .map(|stock| assert_eq!(stock.distributed_coupons, Some(4)))
        } else if name.starts_with("query_coupon") {
            session
                .v3_parse_query_coupon(&merchant, &a, now)
                .await
                .unwrap()
                .map(|coupon| assert_eq!(coupon.coupon_id, "9856888"))
        } else if name == "empty-204" {
            // No call answers 204 with a body to read: the verdict is the signature's.
            match session
                .v3_parse_issue_coupon(&merchant, &a, now)
                .await
                .unwrap()
            {
                Err(Error::MalformedResponse(_)) => Ok(()),
                other => panic!("{name}: a verified empty body is not a coupon: {other:?}"),
            }
        } else {
            session
                .v3_parse_issue_coupon(&merchant, &a, now)
                .await
                .unwrap()
                .map(|issued| assert_eq!(issued.coupon_id, "9867041"))
        };
        match (case["expected"]["valid"] == true, a.status, verdict) {
            (true, 400, Err(Error::Refused(r))) => {
                assert_eq!(r.code.as_deref(), Some("PARAM_ERROR"), "{name}");
                assert_eq!(r.advice, RetryAdvice::DoNotRetry, "{name}");
            }
            (true, _, Ok(())) => {}
            (false, _, Err(e)) => {
                assert_eq!(reason(&e), s(&case["expected"], "reason"), "{name}");
                assert!(
                    session.v3_issue_outcome_unknown(&e).await.unwrap(),
                    "{name}: a refused 2xx may hide an issued coupon"
                );
            }
            (_, _, other) => panic!("{name}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn notifications_decrypt_in_the_component_and_a_flipped_tag_yields_nothing() {
    let v = vectors();
    let mut session = Runtime::new().unwrap().session().await.unwrap();
    let merchant = open(&mut session, &v).await;
    let cases = v["notifications"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = s(case, "name");
        let r = &case["resource"];
        let resource = EncryptedResource {
            algorithm: s(r, "algorithm").into(),
            nonce: s(r, "nonce").into(),
            associated_data: r["associated_data"].as_str().unwrap_or("").into(),
            ciphertext: s(r, "ciphertext").into(),
        };
        let out = session
            .v3_decrypt_resource(&merchant, &resource)
            .await
            .unwrap();
        if case["expected"]["decrypt_ok"] == true {
            assert_eq!(out.unwrap(), s(&case["expected"], "plaintext"), "{name}");
        } else {
            match out {
                Err(Error::MalformedResponse(m)) => {
                    assert_eq!(m.field.as_deref(), Some("resource"), "{name}");
                    assert!(!m.problem.contains("coupon_id"), "{name}: no plaintext");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn settings_problems_come_back_named_and_without_secrets() {
    let v = vectors();
    let mut session = Runtime::new().unwrap().session().await.unwrap();
    let mut bad = settings(&v);
    bad.apiv3_key = "not the key".into();
    match session.open_v3(&bad, SignWith::Component).await.unwrap() {
        Err(Error::InvalidInput(e)) => {
            assert_eq!(e.field, "merchant.apiv3_key");
            assert!(!e.rule.contains("not the key"));
        }
        other => panic!("{other:?}"),
    }
    // Host signing: the component never receives the private key, so it cannot sign.
    let signer = std::sync::Arc::new(
        wxcoupon_core::v3::rsa::MerchantSigner::from_pkcs8_pem(&fixture("merchant_key.pem"))
            .unwrap(),
    );
    let merchant = session
        .open_v3(&settings(&v), SignWith::Host(signer))
        .await
        .unwrap()
        .unwrap();
    let case = &v["request_signatures"][1];
    let to_sign = build(&mut session, case).await;
    match session.v3_sign(&merchant, &to_sign).await.unwrap() {
        Err(Error::InvalidInput(e)) => assert_eq!(e.field, "merchant.private_key"),
        other => panic!("{other:?}"),
    }
}

/// The answer's two-step (`v3.check-answer`, a native verification, `v3.read-*`) reaches the same
/// verdict on every vector as the component's own `parse-*`.
#[tokio::test]
async fn the_answer_two_step_agrees_with_the_component_on_every_vector() {
    use wxcoupon_core::v3::rsa::verify_with_public_key_der;
    let v = vectors();
    let mut session = Runtime::new().unwrap().session().await.unwrap();
    let merchant = open(&mut session, &v).await;
    let cases: Vec<Value> = v["response_signatures"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["response_negative"].as_array().unwrap())
        .cloned()
        .collect();
    for case in &cases {
        let name = s(case, "name");
        let a = answer(case);
        let now = case["now"].as_i64().unwrap();
        let two_step: Result<(), Error> =
            match session.v3_check_answer(&merchant, &a, now).await.unwrap() {
                Ok(checked) => {
                    if verify_with_public_key_der(
                        &checked.public_key_der,
                        &checked.message,
                        &checked.signature,
                    ) {
                        Ok(())
                    } else {
                        Err(Error::AnswerNotVerified {
                            refusal: AnswerRefusal::Signature,
                        })
                    }
                }
                Err(e) => Err(e),
            };
        let whole = session
            .v3_parse_issue_coupon(&merchant, &a, now)
            .await
            .unwrap()
            .map(|_| ());
        match (&two_step, &whole) {
            (Ok(()), Ok(())) => {
                let issued = session
                    .v3_read_issue_coupon(&a.body)
                    .await
                    .unwrap()
                    .unwrap();
                let body: Value = serde_json::from_str(&a.body).unwrap();
                assert_eq!(issued.coupon_id, s(&body, "coupon_id"), "{name}");
            }
            // A verified body that is not an issue answer (the stock, the coupon, the 204).
            (Ok(()), Err(Error::MalformedResponse(_))) => {}
            (Err(Error::AnswerNotVerified { .. }), Err(Error::AnswerNotVerified { .. })) => {
                assert_eq!(
                    reason(two_step.as_ref().unwrap_err()),
                    reason(whole.as_ref().unwrap_err()),
                    "{name}"
                );
            }
            (Err(Error::Refused(a)), Err(Error::Refused(b))) => assert_eq!(a, b, "{name}"),
            other => panic!("{name}: the two paths disagree: {other:?}"),
        }
    }
}
