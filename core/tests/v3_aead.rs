//! API v3 callbacks end to end as data (feature `ring`), against the shared vectors'
//! notifications: the HTTP signature verified with the combined key set, then the `resource`
//! decrypted with the APIv3 key to the exact COUPON.USE plaintext — and the case with one tag
//! bit flipped refused with no plaintext at all.

use serde_json::Value;
use wxcoupon_core::v3::aead::{decrypt_resource, ApiV3Key, DecryptError};
use wxcoupon_core::v3::auth::check_signed_answer;
use wxcoupon_core::v3::rsa::Verifiers;

fn fixture(name: &str) -> String {
    let path = format!("{}/../tests/fixtures/v3/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key}"))
}

#[test]
fn every_notification_verifies_and_decrypts_as_the_vectors_say() {
    let v: Value = serde_json::from_str(&fixture("vectors.json")).unwrap();
    let platform = &v["keys"]["platform"];
    let keys = Verifiers::new()
        .with_public_key(s(platform, "public_key_id"), &fixture("platform_pub.pem"))
        .unwrap()
        .with_platform_certificate(&fixture("platform_cert.pem"))
        .unwrap();
    let cases = v["notifications"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = s(case, "name");
        let headers = case["headers"].as_object().unwrap();
        let to_verify = check_signed_answer(
            |h| headers.get(h).and_then(Value::as_str),
            s(case, "body"),
            case["now"].as_i64().unwrap(),
            |serial| keys.holds(serial),
        )
        .unwrap();
        assert_eq!(to_verify.message, s(case, "verification_message"), "{name}");
        assert_eq!(
            keys.verify(&to_verify).is_ok(),
            case["expected"]["signature_valid"] == true,
            "{name}"
        );
        // The resource as the body carries it (what a callback handler has), not the copy.
        let body: Value = serde_json::from_str(s(case, "body")).unwrap();
        let resource = &body["resource"];
        assert_eq!(s(resource, "algorithm"), "AEAD_AES_256_GCM");
        let key = ApiV3Key::new(s(case, "apiv3_key")).unwrap();
        let got = decrypt_resource(
            &key,
            s(resource, "nonce"),
            s(resource, "associated_data"),
            s(resource, "ciphertext"),
        );
        match case["expected"]["plaintext"].as_str() {
            Some(plaintext) => assert_eq!(got.as_deref(), Ok(plaintext), "{name}"),
            None => assert_eq!(got, Err(DecryptError::Authentication), "{name}"),
        }
    }
}

#[test]
fn a_wrong_key_or_broken_input_yields_no_plaintext() {
    let v: Value = serde_json::from_str(&fixture("vectors.json")).unwrap();
    let case = &v["notifications"][0];
    let body: Value = serde_json::from_str(s(case, "body")).unwrap();
    let r = &body["resource"];
    let wrong = ApiV3Key::new("TestOnlyApiV3Key0123456789abcdeX").unwrap();
    let (nonce, aad, ct) = (s(r, "nonce"), s(r, "associated_data"), s(r, "ciphertext"));
    assert_eq!(
        decrypt_resource(&wrong, nonce, aad, ct),
        Err(DecryptError::Authentication)
    );
    let key = ApiV3Key::new(s(case, "apiv3_key")).unwrap();
    assert_eq!(
        decrypt_resource(&key, nonce, "other", ct),
        Err(DecryptError::Authentication)
    );
    assert_eq!(
        decrypt_resource(&key, "short", aad, ct),
        Err(DecryptError::Nonce)
    );
    assert_eq!(
        decrypt_resource(&key, nonce, aad, "not base64!"),
        Err(DecryptError::Ciphertext)
    );
    assert_eq!(
        decrypt_resource(&key, nonce, aad, "AAAA"),
        Err(DecryptError::Ciphertext)
    );
    assert_eq!(ApiV3Key::new("short").unwrap_err(), "must be 32 characters");
    assert_eq!(format!("{key:?}"), "ApiV3Key(<redacted>)");
}
