//! API v3 authentication as data (`wxcoupon_core::v3::auth`) against every case of
//! `tests/fixtures/v3/vectors.json` (a copy of `../shared/spec/v3-vectors/vectors.json`,
//! computed independently with Python `cryptography` and cross-checked with Java and Node):
//! the signed request messages and `Authorization` headers byte for byte, and every answer's
//! checks before its RSA signature, with the verdict the vectors expect.

use serde_json::Value;
use wxcoupon_core::v3::auth::{
    authorization, canonical_url, check_signed_answer, parse_authorization, request_message,
    AnswerRefusal, AuthorizationError, AuthorizationParams,
};

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/v3/vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read v3 vectors")).unwrap()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

#[test]
fn the_fixture_is_the_shared_spec_copy() {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/spec/v3-vectors/vectors.json"
    );
    let ours = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/v3/vectors.json"
    );
    match std::fs::read_to_string(shared) {
        Ok(theirs) => assert_eq!(
            std::fs::read_to_string(ours).unwrap(),
            theirs,
            "tests/fixtures/v3/vectors.json differs from shared/spec/v3-vectors/vectors.json"
        ),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but {shared} is unreadable: {e}")
        }
        Err(_) => eprintln!("shared/spec/v3-vectors not present; comparison not run"),
    }
}

#[test]
fn every_request_message_and_authorization_header_is_byte_exact() {
    let v = vectors();
    let cases = v["request_signatures"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = text(case, "name");
        assert_eq!(
            canonical_url(text(case, "full_url")),
            text(case, "canonical_url"),
            "{name}"
        );
        let message = request_message(
            text(case, "method"),
            text(case, "canonical_url"),
            text(case, "timestamp"),
            text(case, "nonce_str"),
            text(case, "body"),
        );
        assert_eq!(message, text(case, "signature_message"), "{name}");
        let params = AuthorizationParams {
            mchid: text(case, "mchid").into(),
            nonce_str: text(case, "nonce_str").into(),
            signature: text(case, "signature").into(),
            timestamp: text(case, "timestamp").into(),
            serial_no: text(case, "serial_no").into(),
        };
        let header = authorization(&params);
        assert_eq!(header, text(case, "authorization"), "{name}");
        assert_eq!(parse_authorization(&header), Ok(params), "{name}");
    }
}

#[test]
fn authorization_parameters_are_read_in_any_order_and_broken_ones_named() {
    let header = "WECHATPAY2-SHA256-RSA2048 serial_no=\"S\",timestamp=\"1\",signature=\"X\",nonce_str=\"N\",mchid=\"M\"";
    let p = parse_authorization(header).unwrap();
    assert_eq!((p.mchid.as_str(), p.serial_no.as_str()), ("M", "S"));
    assert_eq!(
        parse_authorization("Bearer x"),
        Err(AuthorizationError::Scheme)
    );
    for (broken, named) in [
        ("mchid=\"M\",mchid=\"M\"", "mchid"),
        ("mchid=M", "mchid"),
        ("mchid=\"M\",extra=\"1\"", "extra"),
        (
            "mchid=\"M\",nonce_str=\"N\",signature=\"X\",timestamp=\"1\"",
            "serial_no",
        ),
    ] {
        assert_eq!(
            parse_authorization(&format!("WECHATPAY2-SHA256-RSA2048 {broken}")),
            Err(AuthorizationError::Parameter(named.into())),
            "{broken}"
        );
    }
}

/// The verdict the vectors give for a case whose checks end before the signature, and the
/// message for the ones left to the signature.
fn check(v: &Value, case: &Value) -> Result<String, AnswerRefusal> {
    let keys = &v["keys"]["platform"];
    let held = [
        text(keys, "public_key_id"),
        text(keys, "certificate_serial_no"),
    ];
    let headers = case["headers"].as_object().unwrap();
    check_signed_answer(
        |name| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
        },
        text(case, "body"),
        case["now"].as_i64().unwrap(),
        |serial| held.contains(&serial),
    )
    .map(|to_verify| {
        assert_eq!(
            to_verify.signature,
            headers["Wechatpay-Signature"].as_str().unwrap()
        );
        to_verify.message
    })
}

#[test]
fn every_accepted_answer_passes_the_checks_with_the_exact_message() {
    let v = vectors();
    let cases = v["response_signatures"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        assert_eq!(case["expected"]["valid"], true);
        assert_eq!(
            check(&v, case).as_deref(),
            Ok(text(case, "verification_message")),
            "{}",
            text(case, "name")
        );
    }
}

#[test]
fn every_refused_answer_is_refused_for_the_vectors_reason() {
    let v = vectors();
    let cases = v["response_negative"].as_array().unwrap();
    assert_eq!(cases.len(), 9);
    for case in cases {
        let name = text(case, "name");
        let verdict = check(&v, case);
        match case["expected"]["reason"].as_str() {
            // Accepted at the boundary: 300 s of skew.
            None => assert!(verdict.is_ok(), "{name}: {verdict:?}"),
            Some("missing_header") => assert_eq!(
                verdict,
                Err(AnswerRefusal::MissingHeader("Wechatpay-Signature")),
                "{name}"
            ),
            Some("stale_timestamp") => assert!(
                matches!(verdict, Err(AnswerRefusal::StaleTimestamp { skew_seconds }) if skew_seconds.abs() > 300),
                "{name}: {verdict:?}"
            ),
            Some("unknown_serial") => {
                assert_eq!(verdict, Err(AnswerRefusal::UnknownSerial), "{name}")
            }
            // Every other check passes: the RSA verification (not in this module) refuses it.
            Some("signature") => assert!(verdict.is_ok(), "{name}: {verdict:?}"),
            Some(other) => panic!("{name}: unknown reason {other}"),
        }
    }
}

#[test]
fn the_clock_skew_boundary_is_300_seconds_both_ways() {
    let headers = |ts: &'static str| {
        move |name: &str| match name {
            "Wechatpay-Timestamp" => Some(ts),
            "Wechatpay-Nonce" => Some("n"),
            "Wechatpay-Serial" => Some("k"),
            "Wechatpay-Signature" => Some("s"),
            _ => None,
        }
    };
    let now = 1_700_000_000;
    for (ts, ok) in [
        ("1700000300", true),
        ("1699999700", true),
        ("1700000301", false),
        ("1699999699", false),
    ] {
        assert_eq!(
            check_signed_answer(headers(ts), "", now, |_| true).is_ok(),
            ok,
            "{ts}"
        );
    }
    assert_eq!(
        check_signed_answer(headers("soon"), "", now, |_| true),
        Err(AnswerRefusal::MalformedTimestamp)
    );
}
