//! The API v3 programme through gateway mode, one scenario for every runtime that serves the
//! component (`wxcoupon serve` in `tests/gateway_v3.rs`; `jco serve` and `wasmtime serve` in
//! `tests/gateway_hosts.rs`): create a stock, start, issue, query, pause (issuing refused),
//! restart, list stocks, merchants, items and a user's coupons, set and read the callback URL, a
//! coupon used and the use-flow file listing it, stop — each route behind the caller token and
//! with its main refusals in the API's one error shape.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use wxcoupon_core::time::format_rfc3339_beijing;
use wxcoupon_simulator::{CouponUse, RunningSimulator};

use crate::hosts::{assert_error, try_request_with, Answer};
use crate::MCH_ID as MCHID;

/// The callers the gateway is configured with: `sha256("test")`, the token [`TOKEN`] sends.
pub const CALLERS: &str = "ops:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// The caller's `authorization`.
pub const TOKEN: &str = "Bearer test";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One request with the caller token (and a JSON body when given), answered within 30 s.
pub async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Answer {
    let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
    tokio::time::timeout(
        Duration::from_secs(30),
        try_request_with(addr, method, path, &[("authorization", TOKEN)], body),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer to {method} {path} within 30 s"))
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

#[track_caller]
fn ok(answer: &Answer) -> &Value {
    assert_eq!(answer.status, 200, "{}", answer.text);
    &answer.json
}

/// A stock of 10 coupons of 1 yuan (orders from 2 yuan), usable from a minute ago for 30 days:
/// the core's `CreateStock` as JSON, the merchant's defaults left out.
pub fn new_stock(out_request_no: &str) -> Value {
    let begin = now() - 60;
    json!({
        "stock_name": "gateway 满2减1",
        "available_begin_time": format_rfc3339_beijing(begin),
        "available_end_time": format_rfc3339_beijing(begin + 30 * 86_400),
        "stock_use_rule": {"max_coupons": 10, "max_amount": 1000, "max_coupons_per_user": 1,
                           "natural_person_limit": false, "prevent_api_abuse": false},
        "coupon_use_rule": {"fixed_normal_coupon": {"coupon_amount": 100, "transaction_minimum": 200},
                            "available_merchants": [MCHID]},
        "out_request_no": out_request_no,
    })
}

/// The whole programme against the gateway at `addr`, which calls `sim` with API v3 and has
/// [`CALLERS`] configured. `label` keeps one runtime's numbers and users apart from another's.
pub async fn programme(addr: SocketAddr, sim: &RunningSimulator, label: &str) {
    // Callers first: no token, no answer of the route.
    let stranger = try_request_with(addr, "GET", "/v1/stocks", &[], None)
        .await
        .unwrap();
    assert_error(&stranger, 401, "UNAUTHORIZED");

    // Create: a misspelt field is refused by name before anything is sent; then the stock.
    let mut typo = new_stock(&format!("{label}-create-1"));
    typo["stock_nmae"] = json!("x");
    let refused = call(addr, "POST", "/v1/stocks", Some(typo)).await;
    assert_error(&refused, 400, "INVALID_INPUT");
    assert_eq!(refused.field("field"), "stock_nmae");
    let mut too_much = new_stock(&format!("{label}-create-1"));
    too_much["stock_use_rule"]["max_amount"] = json!(999);
    let refused = call(addr, "POST", "/v1/stocks", Some(too_much)).await;
    assert_error(&refused, 400, "INVALID_INPUT");
    assert_eq!(refused.field("field"), "stock_use_rule.max_amount");
    let created = call(
        addr,
        "POST",
        "/v1/stocks",
        Some(new_stock(&format!("{label}-create-1"))),
    )
    .await;
    let stock = ok(&created)["stock_id"].as_str().unwrap().to_string();
    let again = call(
        addr,
        "POST",
        "/v1/stocks",
        Some(new_stock(&format!("{label}-create-1"))),
    )
    .await;
    assert_eq!(
        ok(&again)["stock_id"],
        stock.as_str(),
        "idempotent on out_request_no"
    );

    // Issuing before the start is refused by WeChat, in the API's shape.
    let issue = |openid: &str, number: &str| json!({"stock_id": stock, "openid": openid, "partner_trade_no": number});
    let early = call(
        addr,
        "POST",
        "/v1/coupons",
        Some(issue(&format!("o-{label}-0"), &format!("{label}-0"))),
    )
    .await;
    assert_error(&early, 409, "STOCK_UNAVAILABLE");
    assert_eq!(early.field("wechat_err_code"), "INVALID_REQUEST");
    assert_eq!(early.field("partner_trade_no"), format!("{label}-0"));

    let started = call(addr, "POST", &format!("/v1/stocks/{stock}/start"), None).await;
    assert_eq!(ok(&started)["stock_id"], stock.as_str());
    let restart_running = call(addr, "POST", &format!("/v1/stocks/{stock}/restart"), None).await;
    assert_eq!(restart_running.status, 409, "{}", restart_running.text);

    // The three coupon routes, answered by v3.
    let mut coupons = Vec::new();
    for n in 0..3 {
        let openid = format!("o-{label}-{n}");
        let issued = call(
            addr,
            "POST",
            "/v1/coupons",
            Some(issue(&openid, &format!("{label}-{n}"))),
        )
        .await;
        let body = ok(&issued);
        assert_eq!(
            (&body["openid"], &body["partner_trade_no_generated"]),
            (&json!(openid), &json!(false))
        );
        coupons.push(body["coupon_id"].as_str().unwrap().to_string());
    }
    let generated = call(
        addr,
        "POST",
        "/v1/coupons",
        Some(json!({"stock_id": stock, "openid": format!("o-{label}-generated")})),
    )
    .await;
    assert_eq!(ok(&generated)["partner_trade_no_generated"], true);
    assert!(generated.field("partner_trade_no").starts_with(MCHID));
    let repeat = call(
        addr,
        "POST",
        "/v1/coupons",
        Some(issue(&format!("o-{label}-0"), &format!("{label}-0"))),
    )
    .await;
    assert_eq!(
        ok(&repeat)["coupon_id"],
        coupons[0].as_str(),
        "a repeat answers the first coupon"
    );
    let queried = call(addr, "GET", &format!("/v1/stocks/{stock}"), None).await;
    assert_eq!(ok(&queried)["stock_id"], stock.as_str());
    let coupon = call(
        addr,
        "GET",
        &format!(
            "/v1/coupons/{}?openid=o-{label}-1&stock_id={stock}",
            coupons[1]
        ),
        None,
    )
    .await;
    assert_eq!(ok(&coupon)["coupon_id"], coupons[1].as_str());
    let missing = call(
        addr,
        "GET",
        &format!("/v1/coupons/999999?openid=o-{label}-1"),
        None,
    )
    .await;
    assert_error(&missing, 404, "COUPON_NOT_FOUND");

    // Pause: issuing is refused; restart: it works again.
    ok(&call(addr, "POST", &format!("/v1/stocks/{stock}/pause"), None).await);
    let paused = call(
        addr,
        "POST",
        "/v1/coupons",
        Some(issue(&format!("o-{label}-8"), &format!("{label}-8"))),
    )
    .await;
    assert_error(&paused, 409, "STOCK_UNAVAILABLE");
    let listed = call(addr, "GET", "/v1/stocks?status=paused", None).await;
    let ids: Vec<&Value> = ok(&listed)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["stock_id"])
        .collect();
    assert!(ids.contains(&&json!(stock)), "{}", listed.text);
    ok(&call(addr, "POST", &format!("/v1/stocks/{stock}/restart"), None).await);
    ok(&call(
        addr,
        "POST",
        "/v1/coupons",
        Some(issue(&format!("o-{label}-8"), &format!("{label}-8"))),
    )
    .await);

    // Listings: pages with their bounds; a misspelt parameter is refused by name.
    let page = call(addr, "GET", "/v1/stocks?limit=1", None).await;
    assert_eq!(
        (
            ok(&page)["limit"].clone(),
            page.json["data"].as_array().unwrap().len()
        ),
        (json!(1), 1)
    );
    let too_big = call(addr, "GET", "/v1/stocks?limit=11", None).await;
    assert_error(&too_big, 400, "INVALID_INPUT");
    assert_eq!(too_big.field("field"), "limit");
    let typo = call(addr, "GET", "/v1/stocks?limt=1", None).await;
    assert_error(&typo, 400, "INVALID_INPUT");
    assert_eq!(typo.field("field"), "limt");
    let merchants = call(addr, "GET", &format!("/v1/stocks/{stock}/merchants"), None).await;
    assert_eq!(ok(&merchants)["data"], json!([MCHID]), "{}", merchants.text);
    let items = call(
        addr,
        "GET",
        &format!("/v1/stocks/{stock}/items?offset=0&limit=5"),
        None,
    )
    .await;
    assert!(ok(&items)["total_count"].is_u64(), "{}", items.text);
    let unknown = call(addr, "GET", "/v1/stocks/123456789/merchants", None).await;
    assert_error(&unknown, 404, "STOCK_NOT_FOUND");
    let mine = call(addr, "GET", &format!("/v1/users/o-{label}-1/coupons"), None).await;
    assert_eq!(
        ok(&mine)["data"][0]["coupon_id"],
        coupons[1].as_str(),
        "{}",
        mine.text
    );

    // The callback URL.
    let set = call(
        addr,
        "PUT",
        "/v1/callbacks",
        Some(json!({"notify_url": "https://shop.example/v1/notifications/wechatpay", "enabled": true})),
    )
    .await;
    assert_eq!(
        ok(&set)["notify_url"],
        "https://shop.example/v1/notifications/wechatpay"
    );
    let read = call(addr, "GET", "/v1/callbacks", None).await;
    assert_eq!(
        (&ok(&read)["mchid"], &read.json["notify_url"]),
        (
            &json!(MCHID),
            &json!("https://shop.example/v1/notifications/wechatpay")
        )
    );
    let plain = call(
        addr,
        "PUT",
        "/v1/callbacks",
        Some(json!({"notify_url": "http://shop.example/n"})),
    )
    .await;
    assert_error(&plain, 400, "INVALID_INPUT");
    assert_eq!(plain.field("field"), "notify_url");

    // A coupon is used; the use-flow file lists it, its SHA1 checked by the gateway.
    sim.use_coupon(&coupons[2], CouponUse::default()).unwrap();
    let flow = call(addr, "GET", &format!("/v1/stocks/{stock}/use-flow"), None).await;
    let rows = ok(&flow)["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{}", flow.text);
    assert_eq!(rows[0]["coupon_id"], coupons[2].as_str());
    assert_eq!(flow.json["file"]["hash_type"], "SHA1");
    let refunds = call(
        addr,
        "GET",
        &format!("/v1/stocks/{stock}/refund-flow"),
        None,
    )
    .await;
    assert_eq!(ok(&refunds)["rows"], json!([]));

    // Stop: for good.
    ok(&call(addr, "POST", &format!("/v1/stocks/{stock}/stop"), None).await);
    let stopped = call(addr, "POST", &format!("/v1/stocks/{stock}/restart"), None).await;
    assert_eq!(stopped.status, 409, "{}", stopped.text);
    assert_eq!(stopped.field("wechat_err_code"), "INVALID_REQUEST");
}
