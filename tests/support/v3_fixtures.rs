//! The API v3 test material of `tests/fixtures/v3/` (copies of the shared vectors; **test keys
//! only**): the vectors, the merchant settings they belong to, a notification's headers.

use serde_json::Value;
use wxcoupon_core::v3::merchant::MerchantSettings;

/// `tests/fixtures/v3/<name>` as text.
pub fn text(name: &str) -> String {
    String::from_utf8(crate::fixture(&format!("v3/{name}"))).expect("a text fixture")
}

/// `vectors.json`.
pub fn vectors() -> Value {
    serde_json::from_str(&text("vectors.json")).expect("the vectors are JSON")
}

/// The vectors' merchant, verifying with the public key and the platform certificate at once
/// (a migration), without its private key.
pub fn settings() -> MerchantSettings {
    let v = vectors();
    let k = &v["keys"];
    let s = |v: &Value| v.as_str().expect("a string").to_string();
    MerchantSettings {
        mchid: s(&k["merchant"]["mchid"]),
        merchant_serial_no: s(&k["merchant"]["certificate_serial_no"]),
        apiv3_key: s(&k["apiv3_key"]),
        private_key_pem: None,
        wechatpay_public_key_id: Some(s(&k["platform"]["public_key_id"])),
        wechatpay_public_key_pem: Some(text("platform_pub.pem")),
        platform_certificates: vec![text("platform_cert.pem")],
        base_url: None,
    }
}

/// A vector case's `headers` object as pairs.
pub fn headers(case: &Value) -> Vec<(String, String)> {
    case["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}
