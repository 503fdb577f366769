//! The v3 routes with no I/O: routing, what each request becomes, and the answers to what a
//! WeChat Pay answer can be — signed with the test keys of `tests/fixtures/v3` by a
//! [`V3Edge`] that plays WeChat in-process (end to end against the simulator:
//! `tests/gateway_v3.rs`).

use serde_json::{json, Value};
use wxcoupon_core::v3::auth::response_message;
use wxcoupon_core::v3::flows::sha1_hex;
use wxcoupon_core::v3::merchant::MerchantSettings;
use wxcoupon_core::v3::rsa::MerchantSigner;

use super::*;
use crate::{route, Route};

const MCHID: &str = "1900000001";
const APPID: &str = "wx5edab3bdfba3dc1c";

fn fixture(name: &str) -> String {
    let path = format!("{}/../tests/fixtures/v3/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn defaults() -> V3Defaults<'static> {
    V3Defaults {
        mchid: MCHID,
        appid: Some(APPID),
    }
}

fn v3(method: &str, target: &str) -> Result<V3Route, ApiError> {
    match route(method, target)? {
        Route::V3(r) => Ok(r),
        other => panic!("{method} {target}: {other:?}"),
    }
}

fn call(method: &str, target: &str, body: &str) -> Result<V3Call, ApiError> {
    V3Call::new(v3(method, target)?, body.as_bytes(), &defaults())
}

#[test]
fn every_v3_route_and_its_methods() {
    let stock = |change| V3Route::ChangeStock {
        stock_id: "9856000".into(),
        change,
    };
    assert_eq!(v3("POST", "/v1/stocks").unwrap(), V3Route::CreateStock);
    for (action, change) in [
        ("start", StockChange::Start),
        ("pause", StockChange::Pause),
        ("restart", StockChange::Restart),
        ("stop", StockChange::Stop),
    ] {
        let target = format!("/v1/stocks/9856000/{action}");
        assert_eq!(v3("POST", &target).unwrap(), stock(change), "{action}");
        let e = route("GET", &target).unwrap_err();
        assert_eq!((e.status, e.allow), (405, Some("POST")));
    }
    assert_eq!(
        v3("GET", "/v1/stocks?limit=5").unwrap(),
        V3Route::ListStocks {
            query: "limit=5".into()
        }
    );
    assert_eq!(
        v3("GET", "/v1/stocks/9856000/use-flow").unwrap(),
        V3Route::Flow {
            stock_id: "9856000".into(),
            kind: FlowKind::Use
        }
    );
    assert_eq!(
        v3("GET", "/v1/users/o%2Fx/coupons?offset=1").unwrap(),
        V3Route::UserCoupons {
            openid: "o/x".into(),
            query: "offset=1".into()
        }
    );
    assert_eq!(v3("PUT", "/v1/callbacks").unwrap(), V3Route::SetCallback);
    assert!(v3("PUT", "/v1/callbacks").unwrap().has_body());
    assert!(!v3("GET", "/v1/callbacks").unwrap().has_body());
    let e = route("DELETE", "/v1/callbacks").unwrap_err();
    assert_eq!((e.status, e.allow), (405, Some("GET, PUT")));
    let e = route("POST", "/v1/stocks/9856000/merchants").unwrap_err();
    assert_eq!((e.status, e.allow), (405, Some("GET")));
    // The v2 query of one stock keeps its route; an unknown action is no route.
    assert!(matches!(
        route("GET", "/v1/stocks/9856000").unwrap(),
        Route::Stock { .. }
    ));
    let e = route("GET", "/v1/stocks/9856000/nothing").unwrap_err();
    assert_eq!((e.status, e.code), (404, "ROUTE_NOT_FOUND"));
    assert!(e.message.contains("GET|PUT /v1/callbacks"), "{}", e.message);
}

#[test]
fn listings_default_to_the_merchant_and_the_largest_page_and_refuse_unknown_parameters() {
    let V3Call::ListStocks(list) = call("GET", "/v1/stocks?status=paused", "").unwrap() else {
        panic!()
    };
    assert_eq!(
        (list.offset, list.limit, list.stock_creator_mchid.as_str()),
        (0, MAX_STOCKS_LIMIT, MCHID)
    );
    assert_eq!(list.status, Some(StockStatus::Paused));
    let V3Call::StockMerchants(m) = call("GET", "/v1/stocks/1/merchants", "").unwrap() else {
        panic!()
    };
    assert_eq!(m.0.limit, MAX_MERCHANTS_LIMIT);
    let V3Call::StockItems(i) = call("GET", "/v1/stocks/1/items?offset=7", "").unwrap() else {
        panic!()
    };
    assert_eq!((i.0.offset, i.0.limit), (7, MAX_ITEMS_LIMIT));

    let e = call("GET", "/v1/stocks?limt=5", "").unwrap_err();
    assert_eq!((e.status, e.field.as_deref()), (400, Some("limt")));
    assert!(
        e.message
            .contains("unknown parameter (expected offset, limit"),
        "{}",
        e.message
    );
    let e = call("GET", "/v1/stocks?limit=5&limit=6", "").unwrap_err();
    assert_eq!(e.message, "limit: appears more than once");
    let e = call("GET", "/v1/stocks/1/items?limit=ten", "").unwrap_err();
    assert_eq!(e.message, "limit: must be a whole number");
}

#[test]
fn a_users_coupons_are_this_merchants_unless_a_merchant_filter_is_given() {
    let V3Call::UserCoupons(c) = call("GET", "/v1/users/oUser/coupons?status=USED", "").unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (c.appid.as_str(), c.creator_mchid.as_deref()),
        (APPID, Some(MCHID))
    );
    assert_eq!(c.status, Some(CouponStatus::Used));
    let V3Call::UserCoupons(c) = call(
        "GET",
        "/v1/users/oUser/coupons?available_mchid=1900000002",
        "",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(c.creator_mchid, None);
    let no_appid = V3Defaults {
        mchid: MCHID,
        appid: None,
    };
    let e = V3Call::new(v3("GET", "/v1/users/o/coupons").unwrap(), b"", &no_appid).unwrap_err();
    assert_eq!((e.status, e.code), (500, "CONFIGURATION"));
    assert!(e.message.contains("WXPAY_APPID"), "{}", e.message);
}

fn stock_body() -> Value {
    json!({
        "stock_name": "满100减10",
        "available_begin_time": "2026-12-03T00:00:00+08:00",
        "available_end_time": "2026-12-30T00:00:00+08:00",
        "stock_use_rule": {"max_coupons": 100, "max_amount": 1000, "max_coupons_per_user": 1,
                           "natural_person_limit": false, "prevent_api_abuse": false},
        "coupon_use_rule": {"fixed_normal_coupon": {"coupon_amount": 10, "transaction_minimum": 100},
                            "available_merchants": [MCHID]},
        "out_request_no": "create-1"
    })
}

#[test]
fn a_new_stocks_body_is_the_cores_with_the_merchants_defaults_and_nothing_else() {
    let V3Call::CreateStock(c) = call("POST", "/v1/stocks", &stock_body().to_string()).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (c.belong_merchant.as_str(), c.stock_type.as_str(), c.no_cash),
        (MCHID, "NORMAL", false)
    );
    let mut typo = stock_body();
    typo["stock_nmae"] = json!("x");
    let e = call("POST", "/v1/stocks", &typo.to_string()).unwrap_err();
    assert_eq!((e.status, e.field.as_deref()), (400, Some("stock_nmae")));
    assert!(
        e.message.starts_with("stock_nmae: unknown field"),
        "{}",
        e.message
    );
    let mut missing = stock_body();
    missing.as_object_mut().unwrap().remove("out_request_no");
    let e = call("POST", "/v1/stocks", &missing.to_string()).unwrap_err();
    assert_eq!(e.message, "out_request_no: missing field");
    let e = call("POST", "/v1/stocks", "[1]").unwrap_err();
    assert_eq!((e.status, e.code), (400, "INVALID_JSON"));

    let V3Call::SetCallback(s) = call(
        "PUT",
        "/v1/callbacks",
        r#"{"notify_url":"https://m.example/n","enabled":true}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!((s.mchid.as_str(), s.enabled), (MCHID, Some(true)));
    let e = call("PUT", "/v1/callbacks", r#"{"url":"https://m.example/n"}"#).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("url"));
}

/// WeChat in-process: answers each request with the next canned answer; a 200 is signed with the
/// platform key under the public key's id, [`UNSIGNED_200`] is a 200 without signature headers
/// (the flow download's answer, the file itself).
struct FakeWeChat {
    answers: Vec<Result<(u16, String), Error>>,
    sent: Vec<(String, String, String)>,
    signer: MerchantSigner,
    key_id: String,
}

const UNSIGNED_200: u16 = 1200;
const NOW: i64 = 1_796_176_800; // 2026-12-02T10:00:00+08:00

impl FakeWeChat {
    fn new(answers: Vec<Result<(u16, String), Error>>) -> FakeWeChat {
        let v: Value = serde_json::from_str(&fixture("vectors.json")).unwrap();
        FakeWeChat {
            answers,
            sent: Vec::new(),
            signer: MerchantSigner::from_pkcs8_pem(&fixture("platform_key.pem")).unwrap(),
            key_id: v["keys"]["platform"]["public_key_id"]
                .as_str()
                .unwrap()
                .into(),
        }
    }
}

impl V3Edge for FakeWeChat {
    fn now(&self) -> i64 {
        NOW
    }

    fn nonce(&mut self) -> String {
        "0123456789abcdef0123456789abcdef".into()
    }

    fn send(
        &mut self,
        method: &str,
        url: &str,
        _headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Answer, Error> {
        self.sent.push((
            method.into(),
            url.into(),
            String::from_utf8(body.to_vec()).unwrap(),
        ));
        let (status, body) = self.answers.remove(0)?;
        let nonce = "fedcba9876543210fedcba9876543210";
        let signature = self
            .signer
            .sign(&response_message(&NOW.to_string(), nonce, &body));
        let headers = match status {
            200 => vec![
                ("Wechatpay-Timestamp".into(), NOW.to_string()),
                ("Wechatpay-Nonce".into(), nonce.into()),
                ("Wechatpay-Serial".into(), self.key_id.clone()),
                ("Wechatpay-Signature".into(), signature),
            ],
            _ => vec![],
        };
        Ok(Answer {
            status: if status == UNSIGNED_200 { 200 } else { status },
            headers,
            body,
        })
    }
}

fn merchant() -> Merchant {
    let v: Value = serde_json::from_str(&fixture("vectors.json")).unwrap();
    let k = &v["keys"];
    Merchant::new(&MerchantSettings {
        mchid: MCHID.into(),
        merchant_serial_no: k["merchant"]["certificate_serial_no"]
            .as_str()
            .unwrap()
            .into(),
        apiv3_key: k["apiv3_key"].as_str().unwrap().into(),
        private_key_pem: Some(fixture("merchant_key.pem")),
        wechatpay_public_key_id: Some(k["platform"]["public_key_id"].as_str().unwrap().into()),
        wechatpay_public_key_pem: Some(fixture("platform_pub.pem")),
        platform_certificates: vec![],
        base_url: Some("http://wechat.test".into()),
    })
    .unwrap()
}

fn run(call: &V3Call, answers: Vec<Result<(u16, String), Error>>) -> (Reply, FakeWeChat) {
    let mut wechat = FakeWeChat::new(answers);
    let reply = call.run(&merchant(), &mut wechat, |field| field);
    (reply, wechat)
}

fn body(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body).unwrap()
}

#[test]
fn a_change_is_signed_sent_to_its_own_path_and_its_verified_answer_returned() {
    let pause = call("POST", "/v1/stocks/9856000/pause", "").unwrap();
    let answer = r#"{"stock_id":"9856000","pause_time":"2026-12-02T10:00:00+08:00"}"#;
    let (reply, wechat) = run(&pause, vec![Ok((200, answer.into()))]);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(body(&reply)["stock_id"], "9856000");
    let (method, url, sent) = &wechat.sent[0];
    assert_eq!(
        (method.as_str(), url.as_str()),
        (
            "POST",
            "http://wechat.test/v3/marketing/favor/stocks/9856000/pause"
        )
    );
    assert_eq!(sent, &json!({"stock_creator_mchid": MCHID}).to_string());
}

#[test]
fn wechats_refusals_keep_their_code_and_map_to_the_apis_statuses() {
    let start = call("POST", "/v1/stocks/9856000/start", "").unwrap();
    let refusal = |status, code: &str| {
        let body = json!({"code": code, "message": "m", "detail": {"field": "/body/stock_id"}});
        let (reply, _) = run(&start, vec![Ok((status, body.to_string()))]);
        (reply.status, body_of(&reply))
    };
    fn body_of(reply: &Reply) -> (String, String, bool, Option<String>) {
        let b: Value = serde_json::from_slice(&reply.body).unwrap();
        (
            b["code"].as_str().unwrap().into(),
            b["wechat_err_code"].as_str().unwrap_or_default().into(),
            b["retryable"].as_bool().unwrap(),
            b["field"].as_str().map(Into::into),
        )
    }
    let (status, (code, wechat, retryable, field)) = refusal(400, "INVALID_REQUEST");
    assert_eq!(
        (
            status,
            code.as_str(),
            wechat.as_str(),
            retryable,
            field.as_deref()
        ),
        (
            409,
            "STOCK_UNAVAILABLE",
            "INVALID_REQUEST",
            false,
            Some("stock_id")
        )
    );
    assert_eq!(refusal(404, "RESOURCE_NOT_EXISTS").1 .0, "STOCK_NOT_FOUND");
    assert_eq!(refusal(400, "PARAM_ERROR").0, 400);
    let (status, (code, _, retryable, _)) = refusal(429, "FREQUENCY_LIMITED");
    assert_eq!(
        (status, code.as_str(), retryable),
        (429, "RATE_LIMITED", true)
    );
    let (status, (code, _, retryable, _)) = refusal(500, "SYSTEM_ERROR");
    assert_eq!(
        (status, code.as_str(), retryable),
        (502, "WECHAT_ERROR", true)
    );
}

#[test]
fn an_answer_that_does_not_verify_is_refused_and_an_unknown_issue_says_how_to_retry() {
    let list = call("GET", "/v1/stocks", "").unwrap();
    let mut wechat = FakeWeChat::new(vec![Ok((200, "{}".into()))]);
    wechat.key_id = "PUB_KEY_ID_OTHER".into();
    let reply = list.run(&merchant(), &mut wechat, |f| f);
    assert_eq!(
        (reply.status, body(&reply)["code"].clone()),
        (502, json!("UPSTREAM_BAD_SIGNATURE"))
    );

    let input = IssueInput {
        stock_id: "9856000".into(),
        openid: "oUser".into(),
        partner_trade_no: None,
    };
    let issue = V3Call::issue(input, || "190000000120261202abc".into(), &defaults()).unwrap();
    let lost = Error::Transport {
        message: "the connection closed".into(),
        may_have_reached_wechat: true,
    };
    let (reply, _) = run(&issue, vec![Err(lost)]);
    let b = body(&reply);
    assert_eq!(
        (reply.status, &b["code"]),
        (502, &json!("UPSTREAM_UNREACHABLE"))
    );
    assert_eq!(
        (&b["outcome_unknown"], &b["partner_trade_no"]),
        (&json!(true), &json!("190000000120261202abc"))
    );
    let (reply, wechat) = run(&issue, vec![Ok((200, r#"{"coupon_id":"123"}"#.into()))]);
    assert_eq!(
        body(&reply),
        json!({"coupon_id": "123", "coupon_stock_id": "9856000", "openid": "oUser",
               "partner_trade_no": "190000000120261202abc", "partner_trade_no_generated": true})
    );
    let sent: Value = serde_json::from_str(&wechat.sent[0].2).unwrap();
    assert_eq!(
        (
            &sent["out_request_no"],
            &sent["appid"],
            &sent["stock_creator_mchid"]
        ),
        (
            &json!("190000000120261202abc"),
            &json!(APPID),
            &json!(MCHID)
        )
    );
}

#[test]
fn a_flow_is_fetched_unsigned_its_sha1_checked_and_its_rows_read() {
    let flow = call("GET", "/v1/stocks/9856000/use-flow", "").unwrap();
    let csv = "批次id,优惠id,优惠金额（元）\n`9856000,`123,0.50\n".to_string();
    let file = |hash: &str| {
        json!({"url": "http://wechat.test/file/t", "hash_value": hash, "hash_type": "SHA1"})
            .to_string()
    };
    let (reply, wechat) = run(
        &flow,
        vec![
            Ok((UNSIGNED_200, file(&sha1_hex(csv.as_bytes())))),
            Ok((UNSIGNED_200, csv.clone())),
        ],
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let b = body(&reply);
    assert_eq!(b["rows"][0]["coupon_id"], "123");
    assert_eq!(b["rows"][0]["coupon_amount"], 50);
    assert_eq!(wechat.sent[1].1, "http://wechat.test/file/t");
    let (reply, _) = run(
        &flow,
        vec![Ok((UNSIGNED_200, file("00"))), Ok((UNSIGNED_200, csv))],
    );
    assert_eq!(
        (reply.status, body(&reply)["code"].clone()),
        (502, json!("UPSTREAM_MALFORMED"))
    );
}
