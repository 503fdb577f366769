//! The gateway's `POST /v1/notifications/wechatpay` under `wxcoupon serve`, in-process, on
//! loopback: callbacks made here as WeChat makes them (the test platform key signs, the APIv3 key
//! encrypts; test keys only, `tests/fixtures/v3/`), a receiver started here standing in for the
//! merchant's internal service. A verified event is forwarded once — also when the first
//! forward fails and WeChat delivers again, and when WeChat repeats a delivery that succeeded; a
//! probe, a changed body, a stale one and an undecryptable resource are refused and never
//! forwarded; during a migration, callbacks under the platform certificate and the public key
//! both pass; the route needs no caller token while `/v1/coupons` still does.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use wxcoupon::outbound::{AllowList, OutboundConfig};
use wxcoupon::serve::ServeConfig;
use wxcoupon_core::v3::aead::{encrypt_resource, ApiV3Key};
use wxcoupon_core::v3::auth::response_message;
use wxcoupon_core::v3::rsa::MerchantSigner;
use wxcoupon_tests::gateway::Gateway;
use wxcoupon_tests::hosts::{try_request_with, Answer};
use wxcoupon_tests::receiver::Receiver;
use wxcoupon_tests::v3_fixtures::{self, settings, vectors};

const PATH: &str = "/v1/notifications/wechatpay";

fn fixture(name: &str) -> String {
    v3_fixtures::text(name)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A gateway serving only the notification route, forwarding to `receiver`; `callers` set so
/// that `/v1/coupons` needs a token.
async fn gateway(receiver: SocketAddr) -> Gateway {
    let forward = format!("http://{receiver}/coupon-used");
    let config = ServeConfig {
        callers: wxcoupon_api::CallerTokens::parse(
            "ops:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        )
        .unwrap(),
        ..ServeConfig::default()
    }
    .with_notifications(
        OutboundConfig {
            allow: AllowList::deny_all(),
            use_system_roots: false,
            extra_ca_pem: Some(fixture("platform_cert.pem").into_bytes()),
            ..OutboundConfig::default()
        },
        &settings(),
        &forward,
    )
    .unwrap();
    Gateway::start(config).await
}

/// A `COUPON.USE` body for `event_id`, its resource encrypted with the APIv3 key.
fn body(event_id: &str, coupon_id: &str) -> String {
    let plaintext = json!({
        "stock_creator_mchid": "8956000", "stock_id": "9856000", "coupon_id": coupon_id,
        "status": "USED", "coupon_type": "NORMAL", "no_cash": false, "singleitem": false,
        "normal_coupon_information": {"coupon_amount": 50, "transaction_minimum": 100},
        "consume_information": {"consume_time": "2026-12-02T10:00:00+08:00",
            "consume_mchid": "8956000", "transaction_id": "4200000000000000000000009999"}
    })
    .to_string();
    let key = ApiV3Key::new(settings().apiv3_key.as_str()).unwrap();
    let nonce = "n0nce1234567";
    json!({
        "id": event_id, "create_time": "2026-12-02T10:00:01+08:00",
        "resource_type": "encrypt-resource", "event_type": "COUPON.USE", "summary": "代金券核销通知",
        "resource": {"original_type": "coupon", "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": encrypt_resource(&key, nonce, "coupon", &plaintext).unwrap(),
            "associated_data": "coupon", "nonce": nonce}
    })
    .to_string()
}

/// WeChat's headers for `body`, signed now under `serial` with the platform key.
fn headers(serial: &str, body: &str, timestamp: i64) -> Vec<(String, String)> {
    let platform = MerchantSigner::from_pkcs8_pem(&fixture("platform_key.pem")).unwrap();
    let nonce = format!("{:032x}", timestamp as u128 * 7919);
    vec![
        ("wechatpay-timestamp".into(), timestamp.to_string()),
        ("wechatpay-nonce".into(), nonce.clone()),
        ("wechatpay-serial".into(), serial.into()),
        (
            "wechatpay-signature".into(),
            platform.sign(&response_message(&timestamp.to_string(), &nonce, body)),
        ),
        (
            "wechatpay-signature-type".into(),
            "WECHATPAY2-SHA256-RSA2048".into(),
        ),
    ]
}

fn public_key_id() -> String {
    settings().wechatpay_public_key_id.unwrap()
}

fn certificate_serial() -> String {
    vectors()["keys"]["platform"]["certificate_serial_no"]
        .as_str()
        .unwrap()
        .into()
}

async fn deliver(gateway: SocketAddr, headers: &[(String, String)], body: &str) -> Answer {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    try_request_with(
        gateway,
        "POST",
        PATH,
        &headers,
        Some(("application/json", body.as_bytes().to_vec())),
    )
    .await
    .expect("the gateway answers")
}

fn failure(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.json["code"], "FAIL", "{}", answer.text);
    assert!(!answer.text.contains(&settings().apiv3_key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_forwarded_once_though_the_first_forward_fails_and_wechat_repeats() {
    let (receiver, at) = Receiver::start(&[500]).await;
    let gw = gateway(at).await;
    let body = body("EV-2026120210000100000001", "9867041");
    let h = headers(&public_key_id(), &body, now());

    // The receiver fails: WeChat is told to deliver again.
    failure(&deliver(gw.addr, &h, &body).await, 502);
    assert_eq!(receiver.seen().len(), 1);
    // WeChat's retry: forwarded, and now acknowledged.
    let ok = deliver(gw.addr, &h, &body).await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    let (forward_headers, event) = (&seen[1].headers, &seen[1].body);
    assert_eq!(
        forward_headers["idempotency-key"],
        "EV-2026120210000100000001"
    );
    assert_eq!(event["id"], "EV-2026120210000100000001");
    assert_eq!(event["event_type"], "COUPON.USE");
    assert_eq!(event["coupon"]["coupon_id"], "9867041");
    assert_eq!(
        event["coupon"]["consume_information"]["transaction_id"],
        "4200000000000000000000009999"
    );
    // WeChat repeats a delivery that succeeded (a replay, fresh signature): acknowledged, not
    // forwarded again.
    let again = headers(&public_key_id(), &body, now());
    assert_eq!(deliver(gw.addr, &again, &body).await.status, 204);
    assert_eq!(
        receiver.seen().len(),
        2,
        "a replayed event is forwarded once"
    );
    // Another event still goes through.
    let other = self::body("EV-2026120210000100000002", "9867042");
    let h2 = headers(&public_key_id(), &other, now());
    assert_eq!(deliver(gw.addr, &h2, &other).await.status, 204);
    assert_eq!(receiver.seen().len(), 3);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_changed_stale_and_undecryptable_callbacks_are_refused_and_never_forwarded() {
    let (receiver, at) = Receiver::start(&[]).await;
    let gw = gateway(at).await;
    let body = body("EV-2026120210000100000003", "9867043");

    let mut probe = headers(&public_key_id(), &body, now());
    probe[3].1 = format!("WECHATPAY/SIGNTEST/{}", probe[3].1);
    let answer = deliver(gw.addr, &probe, &body).await;
    failure(&answer, 401);
    assert!(answer.text.contains("probe"), "{}", answer.text);

    let changed = body.replacen("EV-", "EX-", 1);
    failure(
        &deliver(gw.addr, &headers(&public_key_id(), &body, now()), &changed).await,
        401,
    );
    failure(
        &deliver(
            gw.addr,
            &headers(&public_key_id(), &body, now() - 400),
            &body,
        )
        .await,
        401,
    );
    failure(
        &deliver(gw.addr, &headers("PUB_KEY_ID_UNKNOWN", &body, now()), &body).await,
        401,
    );

    // The vectors' flipped tag: a valid signature over a resource that does not authenticate.
    let flipped = &vectors()["notifications"][2];
    let flipped_body = flipped["body"].as_str().unwrap();
    let answer = deliver(
        gw.addr,
        &headers(&public_key_id(), flipped_body, now()),
        flipped_body,
    )
    .await;
    failure(&answer, 400);
    assert!(answer.text.contains("does not decrypt"), "{}", answer.text);

    assert!(
        receiver.seen().is_empty(),
        "nothing unverified is forwarded"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_migration_both_keys_pass_and_the_route_needs_no_caller_token() {
    let (receiver, at) = Receiver::start(&[]).await;
    let gw = gateway(at).await;
    let by_certificate = body("EV-2026120210000100000005", "9867045");
    let by_public_key = body("EV-2026120210000100000006", "9867046");
    for (serial, body) in [
        (certificate_serial(), &by_certificate),
        (public_key_id(), &by_public_key),
    ] {
        let answer = deliver(gw.addr, &headers(&serial, body, now()), body).await;
        assert_eq!(answer.status, 204, "{serial}: {}", answer.text);
    }
    let ids: Vec<Value> = receiver
        .seen()
        .into_iter()
        .map(|r| r.body["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![
            json!("EV-2026120210000100000005"),
            json!("EV-2026120210000100000006")
        ]
    );
    // The callers' tokens still guard the coupon API.
    let coupons = try_request_with(gw.addr, "GET", "/v1/stocks/1757", &[], None)
        .await
        .unwrap();
    assert_eq!(coupons.status, 401, "{}", coupons.text);
    gw.stop().await;
}
