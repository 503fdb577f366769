//! API v3 signatures natively (`v3::rsa`, feature `ring`) against the shared v3 vectors (test
//! keys only, copied to `tests/fixtures/v3/`): every request signature re-created byte for byte
//! (PKCS#1 v1.5 is deterministic), every answer verified or refused as the vectors say, with the
//! WeChat Pay public key and the platform certificate held at once (a merchant migrating).

use serde_json::Value;
use wxcoupon_core::v3::auth::{check_signed_answer, request_message, AnswerRefusal};
use wxcoupon_core::v3::rsa::{KeyError, MerchantSigner, Verifiers};

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

fn verifiers(v: &Value) -> Verifiers {
    Verifiers::new()
        .with_public_key(
            s(&v["keys"]["platform"], "public_key_id"),
            &fixture("platform_pub.pem"),
        )
        .unwrap()
        .with_platform_certificate(&fixture("platform_cert.pem"))
        .unwrap()
}

#[test]
fn every_request_signature_is_recreated_byte_for_byte() {
    let v = vectors();
    let signer = MerchantSigner::from_pkcs8_pem(&fixture("merchant_key.pem")).unwrap();
    assert_eq!(format!("{signer:?}"), "MerchantSigner(<redacted>)");
    for case in v["request_signatures"].as_array().unwrap() {
        let message = request_message(
            s(case, "method"),
            s(case, "canonical_url"),
            s(case, "timestamp"),
            s(case, "nonce_str"),
            s(case, "body"),
        );
        assert_eq!(
            signer.sign(&message),
            s(case, "signature"),
            "{}",
            s(case, "name")
        );
    }
}

fn verdict(keys: &Verifiers, case: &Value) -> Result<(), AnswerRefusal> {
    let headers = case["headers"].as_object().unwrap();
    let to_verify = check_signed_answer(
        |name| headers.get(name).and_then(Value::as_str),
        s(case, "body"),
        case["now"].as_i64().unwrap(),
        |serial| keys.holds(serial),
    )?;
    keys.verify(&to_verify)
}

#[test]
fn every_answer_is_accepted_or_refused_as_the_vectors_say() {
    let v = vectors();
    let keys = verifiers(&v);
    for case in v["response_signatures"].as_array().unwrap() {
        assert_eq!(verdict(&keys, case), Ok(()), "{}", s(case, "name"));
    }
    let mut by_reason = std::collections::BTreeMap::new();
    for case in v["response_negative"].as_array().unwrap() {
        let name = s(case, "name");
        let got = verdict(&keys, case);
        let want = case["expected"]["reason"].as_str();
        match (want, &got) {
            (None, Ok(())) => {}
            (Some("signature"), Err(AnswerRefusal::Signature))
            | (Some("unknown_serial"), Err(AnswerRefusal::UnknownSerial))
            | (Some("missing_header"), Err(AnswerRefusal::MissingHeader(_)))
            | (Some("stale_timestamp"), Err(AnswerRefusal::StaleTimestamp { .. })) => {}
            _ => panic!("{name}: expected {want:?}, got {got:?}"),
        }
        *by_reason.entry(want.unwrap_or("accepted")).or_insert(0) += 1;
    }
    assert_eq!(by_reason["signature"], 2, "{by_reason:?}");
}

#[test]
fn each_key_set_alone_accepts_only_its_own_serial() {
    let v = vectors();
    let only_public_key = Verifiers::new()
        .with_public_key(
            s(&v["keys"]["platform"], "public_key_id"),
            &fixture("platform_pub.pem"),
        )
        .unwrap();
    let only_certificate = Verifiers::new()
        .with_platform_certificate(&fixture("platform_cert.pem"))
        .unwrap();
    assert!(only_certificate.holds(s(&v["keys"]["platform"], "certificate_serial_no")));
    for case in v["response_signatures"].as_array().unwrap() {
        let serial = s(&case["headers"], "Wechatpay-Serial");
        let by_certificate = serial == s(&v["keys"]["platform"], "certificate_serial_no");
        let (holder, other) = if by_certificate {
            (&only_certificate, &only_public_key)
        } else {
            (&only_public_key, &only_certificate)
        };
        assert_eq!(verdict(holder, case), Ok(()), "{}", s(case, "name"));
        assert_eq!(
            verdict(other, case),
            Err(AnswerRefusal::UnknownSerial),
            "{}",
            s(case, "name")
        );
    }
}

#[test]
fn keys_in_the_wrong_form_are_refused_without_their_contents() {
    assert_eq!(
        MerchantSigner::from_pkcs8_pem(&fixture("platform_pub.pem")).unwrap_err(),
        KeyError::Pem
    );
    let err = Verifiers::new()
        .with_public_key("k", &fixture("merchant_key.pem"))
        .unwrap_err();
    assert_eq!(err, KeyError::Pem);
    assert!(!err.to_string().contains("MII"));
}
