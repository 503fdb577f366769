//! The `COUPON.USE` callback through the component (`v3.read-coupon-use`), from the reference
//! host, on the shared vectors (test keys only): each notification's verdict at the vector's own
//! time — the flipped tag yields no plaintext — a probe, and the same results as the core
//! natively.

use serde_json::Value;
use wxcoupon::v3::SignWith;
use wxcoupon::Runtime;
use wxcoupon_core::v3::merchant::{Merchant, MerchantSettings};
use wxcoupon_core::v3::notification::NotificationError;

fn fixture(name: &str) -> String {
    let path = format!("{}/../tests/fixtures/v3/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn settings(v: &Value) -> MerchantSettings {
    let k = &v["keys"];
    MerchantSettings {
        mchid: k["merchant"]["mchid"].as_str().unwrap().into(),
        merchant_serial_no: k["merchant"]["certificate_serial_no"]
            .as_str()
            .unwrap()
            .into(),
        apiv3_key: k["apiv3_key"].as_str().unwrap().into(),
        private_key_pem: None,
        wechatpay_public_key_id: Some(k["platform"]["public_key_id"].as_str().unwrap().into()),
        wechatpay_public_key_pem: Some(fixture("platform_pub.pem")),
        platform_certificates: vec![fixture("platform_cert.pem")],
        base_url: None,
    }
}

fn headers(case: &Value) -> Vec<(String, String)> {
    case["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn the_vectors_notifications_read_through_the_component_as_natively() {
    let v: Value = serde_json::from_str(&fixture("vectors.json")).unwrap();
    let settings = settings(&v);
    let native = Merchant::new(&settings).unwrap();
    let mut session = Runtime::new().unwrap().session().await.unwrap();
    let merchant = session
        .open_v3(&settings, SignWith::Component)
        .await
        .unwrap()
        .unwrap();
    for case in v["notifications"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (h, body, now) = (
            headers(case),
            case["body"].as_str().unwrap(),
            case["now"].as_i64().unwrap(),
        );
        let through = session
            .v3_read_coupon_use(&merchant, &h, body, now)
            .await
            .unwrap();
        assert_eq!(through, native.read_coupon_use(&h, body, now), "{name}");
        if case["expected"]["decrypt_ok"].as_bool().unwrap() {
            let event = through.unwrap();
            let plain: Value =
                serde_json::from_str(case["expected"]["plaintext"].as_str().unwrap()).unwrap();
            assert_eq!(
                serde_json::to_value(&event.coupon).unwrap(),
                plain,
                "{name}"
            );
        } else {
            assert!(
                matches!(through, Err(NotificationError::NotDecrypted { .. })),
                "{name}: {through:?}"
            );
        }
    }
    let case = &v["notifications"][0];
    let mut probe = headers(case);
    for (k, value) in probe.iter_mut() {
        if k == "Wechatpay-Signature" {
            *value = format!("WECHATPAY/SIGNTEST/{value}");
        }
    }
    let r = session
        .v3_read_coupon_use(
            &merchant,
            &probe,
            case["body"].as_str().unwrap(),
            case["now"].as_i64().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r, Err(NotificationError::Probe));
}
