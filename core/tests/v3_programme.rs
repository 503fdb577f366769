//! The v3 calls of part 2 natively: every endpoint's exact request (method, canonical URL,
//! body), the create-stock rules each naming its field, the unsigned flow answer, and the
//! `COUPON.USE` callback against the shared vectors (test keys only) — the verdict of each, the
//! flipped tag yielding no plaintext, the probe, and a migration where callbacks arrive under
//! the platform certificate and the public key alike.

use serde_json::Value;
use wxcoupon_core::v3::answer::Answer;
use wxcoupon_core::v3::auth::{response_message, AnswerRefusal};
use wxcoupon_core::v3::call::Call;
use wxcoupon_core::v3::callbacks::{GetCallback, SetCallback};
use wxcoupon_core::v3::error::Error;
use wxcoupon_core::v3::favor::{IssueCoupon, ListUserCoupons, QueryCoupon, QueryStock};
use wxcoupon_core::v3::flows::{DownloadFlow, FlowKind};
use wxcoupon_core::v3::merchant::{Merchant, MerchantSettings};
use wxcoupon_core::v3::notification::NotificationError;
use wxcoupon_core::v3::request::Method;
use wxcoupon_core::v3::rsa::MerchantSigner;
use wxcoupon_core::v3::status::{CouponStatus, StockStatus};
use wxcoupon_core::v3::stocks::{
    ChangeStock, CouponUseRule, CreateStock, FixedFaceValue, ListStockItems, ListStockMerchants,
    ListStocks, NewStockUseRule, StockChange, StockListing,
};

fn fixture(name: &str) -> String {
    let path = format!("{}/../tests/fixtures/v3/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn vectors() -> Value {
    serde_json::from_str(&fixture("vectors.json")).unwrap()
}

fn merchant(public_key: bool, certificate: bool) -> Merchant {
    let v = vectors();
    let k = &v["keys"];
    Merchant::new(&MerchantSettings {
        mchid: k["merchant"]["mchid"].as_str().unwrap().into(),
        merchant_serial_no: k["merchant"]["certificate_serial_no"]
            .as_str()
            .unwrap()
            .into(),
        apiv3_key: k["apiv3_key"].as_str().unwrap().into(),
        private_key_pem: Some(fixture("merchant_key.pem")),
        wechatpay_public_key_id: public_key
            .then(|| k["platform"]["public_key_id"].as_str().unwrap().into()),
        wechatpay_public_key_pem: public_key.then(|| fixture("platform_pub.pem")),
        platform_certificates: if certificate {
            vec![fixture("platform_cert.pem")]
        } else {
            vec![]
        },
        base_url: None,
    })
    .unwrap()
}

const NOW: i64 = 1_764_640_800; // 2025-12-02T10:00:00+08:00

fn create() -> CreateStock {
    CreateStock {
        stock_name: "冬季满减".into(),
        comment: None,
        belong_merchant: "8956000".into(),
        available_begin_time: "2025-12-03T00:00:00+08:00".into(),
        available_end_time: "2026-01-31T23:59:59+08:00".into(),
        stock_use_rule: NewStockUseRule {
            max_coupons: 100,
            max_amount: 5000,
            max_amount_by_day: None,
            max_coupons_per_user: 1,
            natural_person_limit: false,
            prevent_api_abuse: false,
        },
        pattern_info: None,
        coupon_use_rule: CouponUseRule {
            fixed_normal_coupon: FixedFaceValue {
                coupon_amount: 50,
                transaction_minimum: 100,
            },
            available_merchants: vec!["8956000".into()],
            ..CouponUseRule::default()
        },
        no_cash: false,
        stock_type: "NORMAL".into(),
        out_request_no: "create-20251202-1".into(),
        ext_info: None,
    }
}

fn listing() -> StockListing {
    StockListing {
        stock_id: "9856000".into(),
        stock_creator_mchid: "8956000".into(),
        offset: 0,
        limit: 10,
    }
}

fn change(change: StockChange) -> ChangeStock {
    ChangeStock {
        change,
        stock_id: "9856000".into(),
        stock_creator_mchid: "8956000".into(),
    }
}

/// A request as (method, canonical URL, body).
type Sent = (Method, String, String);

fn request_of<C: Call>(call: &C) -> Sent {
    let r = call.request_at(NOW).unwrap();
    (r.method, r.url, r.body)
}

#[test]
fn every_endpoint_sends_its_documented_request() {
    use Method::{Get, Post};
    let f = "/v3/marketing/favor";
    let openid = "o4GgauInH_RCEdvrrNGrntXDuXXX";
    let cases: Vec<(Sent, (Method, String, &str))> = vec![
        (
            request_of(&create()),
            (Post, format!("{f}/coupon-stocks"), "{\"stock_name\":\"冬季满减\",\"belong_merchant\":\"8956000\",\"available_begin_time\":\"2025-12-03T00:00:00+08:00\",\"available_end_time\":\"2026-01-31T23:59:59+08:00\",\"stock_use_rule\":{\"max_coupons\":100,\"max_amount\":5000,\"max_coupons_per_user\":1,\"natural_person_limit\":false,\"prevent_api_abuse\":false},\"coupon_use_rule\":{\"fixed_normal_coupon\":{\"coupon_amount\":50,\"transaction_minimum\":100},\"available_merchants\":[\"8956000\"]},\"no_cash\":false,\"stock_type\":\"NORMAL\",\"out_request_no\":\"create-20251202-1\"}"),
        ),
        (
            request_of(&ListStocks {
                offset: 0,
                limit: 10,
                stock_creator_mchid: "8956000".into(),
                create_start_time: Some("2025-12-01T00:00:00+08:00".into()),
                create_end_time: None,
                status: Some(StockStatus::Stopped),
            }),
            (Get, format!("{f}/stocks?offset=0&limit=10&stock_creator_mchid=8956000&create_start_time=2025-12-01T00%3A00%3A00%2B08%3A00&status=stoped"), ""),
        ),
        (
            request_of(&QueryStock { stock_id: "9856000".into(), stock_creator_mchid: "8956000".into() }),
            (Get, format!("{f}/stocks/9856000?stock_creator_mchid=8956000"), ""),
        ),
        (
            request_of(&ListStockMerchants(listing())),
            (Get, format!("{f}/stocks/9856000/merchants?offset=0&limit=10&stock_creator_mchid=8956000"), ""),
        ),
        (
            request_of(&ListStockItems(listing())),
            (Get, format!("{f}/stocks/9856000/items?offset=0&limit=10&stock_creator_mchid=8956000"), ""),
        ),
        (
            request_of(&DownloadFlow { kind: FlowKind::Use, stock_id: "9856000".into() }),
            (Get, format!("{f}/stocks/9856000/use-flow"), ""),
        ),
        (
            request_of(&DownloadFlow { kind: FlowKind::Refund, stock_id: "9856000".into() }),
            (Get, format!("{f}/stocks/9856000/refund-flow"), ""),
        ),
        (
            request_of(&IssueCoupon {
                openid: openid.into(),
                stock_id: "9856000".into(),
                out_request_no: "1".into(),
                appid: "wx233544546545989".into(),
                stock_creator_mchid: "8956000".into(),
                ..IssueCoupon::default()
            }),
            (Post, format!("{f}/users/{openid}/coupons"), "{\"stock_id\":\"9856000\",\"out_request_no\":\"1\",\"appid\":\"wx233544546545989\",\"stock_creator_mchid\":\"8956000\"}"),
        ),
        (
            request_of(&ListUserCoupons {
                openid: openid.into(),
                appid: "wx233544546545989".into(),
                status: Some(CouponStatus::Used),
                creator_mchid: Some("8956000".into()),
                limit: Some(20),
                ..ListUserCoupons::default()
            }),
            (Get, format!("{f}/users/{openid}/coupons?appid=wx233544546545989&status=USED&creator_mchid=8956000&limit=20"), ""),
        ),
        (
            request_of(&QueryCoupon { openid: openid.into(), coupon_id: "9867041".into(), appid: "wx233544546545989".into() }),
            (Get, format!("{f}/users/{openid}/coupons/9867041?appid=wx233544546545989"), ""),
        ),
        (
            request_of(&SetCallback { mchid: "8956000".into(), notify_url: "https://shop.example/wechatpay/coupons".into(), enabled: Some(true) }),
            (Post, format!("{f}/callbacks"), "{\"mchid\":\"8956000\",\"notify_url\":\"https://shop.example/wechatpay/coupons\",\"switch\":true}"),
        ),
        (
            // The mchid goes as `?mchid=…`, name and value (gopay sends `?8956000`).
            request_of(&GetCallback { mchid: "8956000".into() }),
            (Get, format!("{f}/callbacks?mchid=8956000"), ""),
        ),
    ];
    for (got, (method, url, body)) in cases {
        assert_eq!(got, (method, url.clone(), body.to_string()), "{url}");
    }
}

#[test]
fn each_stock_change_goes_to_its_own_path() {
    // WxJava#2338: pause and restart called start.
    let f = "/v3/marketing/favor/stocks/9856000";
    for (c, path) in [
        (StockChange::Start, format!("{f}/start")),
        (StockChange::Pause, format!("{f}/pause")),
        (StockChange::Restart, format!("{f}/restart")),
        (StockChange::Stop, format!("{f}/stop")),
    ] {
        let (method, url, body) = request_of(&change(c));
        assert_eq!(
            (method, url, body.as_str()),
            (Method::Post, path, "{\"stock_creator_mchid\":\"8956000\"}")
        );
    }
    for (answer, time) in [
        (
            "{\"stock_id\":\"9856000\",\"start_time\":\"2025-12-02T10:00:00+08:00\"}",
            "2025-12-02T10:00:00+08:00",
        ),
        (
            "{\"stock_id\":\"9856000\",\"pause_time\":\"2025-12-02T11:00:00+08:00\"}",
            "2025-12-02T11:00:00+08:00",
        ),
        (
            "{\"stock_id\":\"9856000\",\"restart_time\":\"2025-12-02T12:00:00+08:00\"}",
            "2025-12-02T12:00:00+08:00",
        ),
        (
            "{\"stock_id\":\"9856000\",\"stop_time\":\"2025-12-02T13:00:00+08:00\"}",
            "2025-12-02T13:00:00+08:00",
        ),
    ] {
        assert_eq!(ChangeStock::read(answer).unwrap().time, time);
    }
}

fn field_of(result: Result<wxcoupon_core::v3::request::Request, Error>) -> String {
    match result {
        Err(Error::InvalidInput(e)) => e.field,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

#[test]
fn create_stock_rules_each_name_their_field() {
    type Change = fn(&mut CreateStock);
    let cases: &[(Change, &str)] = &[
        (|s| s.stock_name = "x".repeat(21), "stock_name"),
        (|s| s.belong_merchant = "89a".into(), "belong_merchant"),
        (
            |s| s.available_begin_time = "2025-12-03 00:00:00".into(),
            "available_begin_time",
        ),
        (
            |s| s.available_begin_time = "2025-12-01T00:00:00+08:00".into(),
            "available_begin_time",
        ),
        (
            |s| s.available_begin_time = "2027-01-01T00:00:00+08:00".into(),
            "available_begin_time",
        ),
        (
            |s| s.available_end_time = "2025-12-02T23:00:00+08:00".into(),
            "available_end_time",
        ),
        (
            |s| s.available_end_time = "2026-03-31T00:00:00+08:00".into(),
            "available_end_time",
        ),
        (
            |s| {
                s.stock_use_rule.max_coupons = 4;
                s.stock_use_rule.max_amount = 200
            },
            "stock_use_rule.max_coupons",
        ),
        (
            |s| s.stock_use_rule.max_amount = 4999,
            "stock_use_rule.max_amount",
        ),
        (
            |s| s.stock_use_rule.max_amount_by_day = Some(10),
            "stock_use_rule.max_amount_by_day",
        ),
        (
            |s| s.stock_use_rule.max_coupons_per_user = 61,
            "stock_use_rule.max_coupons_per_user",
        ),
        (
            |s| {
                s.coupon_use_rule.fixed_normal_coupon.coupon_amount = 1;
                s.stock_use_rule.max_amount = 100
            },
            "coupon_use_rule.fixed_normal_coupon.coupon_amount",
        ),
        (
            |s| s.coupon_use_rule.fixed_normal_coupon.transaction_minimum = 50,
            "coupon_use_rule.fixed_normal_coupon.transaction_minimum",
        ),
        (
            |s| s.coupon_use_rule.goods_tag = Some(vec!["t".into(); 51]),
            "coupon_use_rule.goods_tag",
        ),
        (
            |s| s.coupon_use_rule.available_items = Some(vec!["i".into(); 51]),
            "coupon_use_rule.available_items",
        ),
        (
            |s| s.coupon_use_rule.available_merchants.clear(),
            "coupon_use_rule.available_merchants",
        ),
        (|s| s.stock_type = "DISCOUNT".into(), "stock_type"),
        (|s| s.out_request_no = "a/b".into(), "out_request_no"),
    ];
    assert!(create().request_at(NOW).is_ok());
    for (change, field) in cases {
        let mut s = create();
        change(&mut s);
        assert_eq!(field_of(s.request_at(NOW)), *field);
    }
}

#[test]
fn list_rules_name_their_field() {
    let stocks = |limit, status| ListStocks {
        offset: 0,
        limit,
        stock_creator_mchid: "8956000".into(),
        status,
        ..ListStocks::default()
    };
    assert_eq!(field_of(stocks(11, None).request_at(NOW)), "limit");
    assert_eq!(
        field_of(stocks(10, Some(StockStatus::Expired)).request_at(NOW)),
        "status"
    );
    let mut l = listing();
    l.limit = 51;
    assert_eq!(
        field_of(ListStockMerchants(l.clone()).request_at(NOW)),
        "limit"
    );
    assert!(ListStockItems(l.clone()).request_at(NOW).is_ok());
    l.offset = 501;
    assert_eq!(field_of(ListStockItems(l).request_at(NOW)), "offset");
    let coupons = ListUserCoupons {
        openid: "o1".into(),
        appid: "wx1".into(),
        ..ListUserCoupons::default()
    };
    assert_eq!(field_of(coupons.request_at(NOW)), "creator_mchid");
    let revoked = ListUserCoupons {
        status: Some(CouponStatus::Revoked),
        sender_mchid: Some("1".into()),
        ..coupons
    };
    assert_eq!(field_of(revoked.request_at(NOW)), "status");
    let set = |url: &str| SetCallback {
        mchid: "8956000".into(),
        notify_url: url.into(),
        enabled: None,
    };
    for bad in [
        "http://shop.example/n",
        "https://",
        "https://shop.example/n?x=1",
    ] {
        assert_eq!(field_of(set(bad).request_at(NOW)), "notify_url", "{bad}");
    }
}

#[test]
fn the_flow_answer_is_accepted_unsigned_and_other_answers_are_not() {
    let m = merchant(true, false);
    let unsigned = Answer {
        status: 200,
        headers: vec![],
        body: "{\"url\":\"https://api.mch.weixin.qq.com/v3/billdownload/file?token=t\",\"hash_value\":\"a9993e364706816aba3e25717850c26c9cd0d89d\",\"hash_type\":\"SHA1\"}".into(),
    };
    let file = m.parse::<DownloadFlow>(&unsigned, NOW).unwrap();
    assert_eq!(file.hash_type, "SHA1");
    let e = m.parse::<ListStocks>(&unsigned, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            Error::AnswerNotVerified {
                refusal: AnswerRefusal::MissingHeader(_)
            }
        ),
        "{e:?}"
    );
    let refused = Answer {
        status: 403,
        headers: vec![],
        body: "{\"code\":\"NO_AUTH\",\"message\":\"非批次创建方\"}".into(),
    };
    match m.parse::<DownloadFlow>(&refused, NOW) {
        Err(Error::Refused(r)) => assert_eq!(r.code.as_deref(), Some("NO_AUTH")),
        other => panic!("{other:?}"),
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

#[test]
fn every_notification_vector_gets_its_verdict() {
    let v = vectors();
    let m = merchant(true, true);
    for case in v["notifications"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let expected = &case["expected"];
        let result = m.read_coupon_use(
            &headers(case),
            case["body"].as_str().unwrap(),
            case["now"].as_i64().unwrap(),
        );
        if expected["decrypt_ok"].as_bool().unwrap() {
            let event = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            let plain: Value =
                serde_json::from_str(expected["plaintext"].as_str().unwrap()).unwrap();
            assert_eq!(
                serde_json::to_value(&event.coupon).unwrap(),
                plain,
                "{name}"
            );
            assert_eq!(event.event_type, "COUPON.USE");
            assert!(event.id.starts_with("EV-"), "{name}");
            let used = event.coupon.consume_information.as_ref().unwrap();
            assert_eq!(
                used.transaction_id.as_deref(),
                plain["consume_information"]["transaction_id"].as_str()
            );
            assert_eq!(event.coupon.state(), Some(CouponStatus::Used));
        } else {
            // The signature holds (it was made over the altered body); only AES-GCM fails.
            assert!(expected["signature_valid"].as_bool().unwrap());
            match result {
                Err(NotificationError::NotDecrypted { problem }) => {
                    assert!(problem.contains("does not authenticate"), "{problem}")
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }
    let single = &v["notifications"][1];
    let event = m
        .read_coupon_use(
            &headers(single),
            single["body"].as_str().unwrap(),
            single["now"].as_i64().unwrap(),
        )
        .unwrap();
    let goods = event
        .coupon
        .consume_information
        .unwrap()
        .goods_detail
        .unwrap();
    assert_eq!(
        (
            goods[0].goods_id.as_deref(),
            goods[0].quantity,
            goods[0].discount_amount
        ),
        (Some("a_goods1"), Some(7), Some(4))
    );
}

#[test]
fn a_probe_is_refused_before_anything_and_a_changed_body_does_not_verify() {
    let v = vectors();
    let m = merchant(true, true);
    let case = &v["notifications"][0];
    let now = case["now"].as_i64().unwrap();
    let body = case["body"].as_str().unwrap();
    let mut probe = headers(case);
    for (k, v) in probe.iter_mut() {
        if k == "Wechatpay-Signature" {
            *v = format!("WECHATPAY/SIGNTEST/{v}");
        }
    }
    assert_eq!(
        m.read_coupon_use(&probe, body, now).unwrap_err(),
        NotificationError::Probe
    );
    assert_eq!(
        m.check_notification(&probe, body, now).unwrap_err(),
        NotificationError::Probe
    );
    let changed = body.replacen("EV-", "EX-", 1);
    assert_eq!(
        m.read_coupon_use(&headers(case), &changed, now)
            .unwrap_err(),
        NotificationError::NotVerified {
            refusal: AnswerRefusal::Signature
        }
    );
    assert_eq!(
        m.read_coupon_use(&headers(case), body, now + 301)
            .unwrap_err(),
        NotificationError::NotVerified {
            refusal: AnswerRefusal::StaleTimestamp { skew_seconds: -303 }
        }
    );
    let e = m
        .read_coupon_use(&headers(case), body, now + 301)
        .unwrap_err();
    assert_eq!(e.http_status(), 401);
    assert!(!format!("{e} {e:?}").contains("TestOnlyApiV3Key"));
}

/// A callback as WeChat would send it, signed under `serial` with the platform key.
fn signed_callback(serial: &str, body: &str, timestamp: i64) -> Vec<(String, String)> {
    let platform = MerchantSigner::from_pkcs8_pem(&fixture("platform_key.pem")).unwrap();
    let nonce = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let signature = platform.sign(&response_message(&timestamp.to_string(), nonce, body));
    vec![
        ("Wechatpay-Timestamp".into(), timestamp.to_string()),
        ("Wechatpay-Nonce".into(), nonce.into()),
        ("Wechatpay-Serial".into(), serial.into()),
        ("Wechatpay-Signature".into(), signature),
        (
            "Wechatpay-Signature-Type".into(),
            "WECHATPAY2-SHA256-RSA2048".into(),
        ),
    ]
}

#[test]
fn during_a_migration_callbacks_verify_under_either_key_by_serial() {
    let v = vectors();
    let case = &v["notifications"][0];
    let body = case["body"].as_str().unwrap();
    let now = case["now"].as_i64().unwrap();
    let certificate = v["keys"]["platform"]["certificate_serial_no"]
        .as_str()
        .unwrap();
    let public_key = v["keys"]["platform"]["public_key_id"].as_str().unwrap();
    let by_certificate = signed_callback(certificate, body, now);
    let by_public_key = signed_callback(public_key, body, now);
    let both = merchant(true, true);
    for h in [&by_certificate, &by_public_key] {
        assert_eq!(
            both.read_coupon_use(h, body, now).unwrap().id,
            "EV-2023111512300500000001"
        );
    }
    // Holding one key only, the other serial is unknown: the combined set is what migrations need.
    let unknown = NotificationError::NotVerified {
        refusal: AnswerRefusal::UnknownSerial,
    };
    assert_eq!(
        merchant(true, false)
            .read_coupon_use(&by_certificate, body, now)
            .unwrap_err(),
        unknown
    );
    assert_eq!(
        merchant(false, true)
            .read_coupon_use(&by_public_key, body, now)
            .unwrap_err(),
        unknown
    );
}
