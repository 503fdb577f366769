//! The `COUPON.USE` callback through the component (`v3.read-coupon-use`), from the reference
//! host, on the shared vectors (test keys only): each notification's verdict at the vector's own
//! time — the flipped tag yields no plaintext — a probe, and the same results as the core
//! natively.

use serde_json::Value;
use wxcoupon::v3::SignWith;
use wxcoupon_core::v3::merchant::Merchant;
use wxcoupon_core::v3::notification::NotificationError;
use wxcoupon_tests::runtime;
use wxcoupon_tests::v3_fixtures::{headers, settings, vectors};

#[tokio::test]
async fn the_vectors_notifications_read_through_the_component_as_natively() {
    let v = vectors();
    let settings = settings();
    let native = Merchant::new(&settings).unwrap();
    let mut session = runtime().session().await.unwrap();
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
