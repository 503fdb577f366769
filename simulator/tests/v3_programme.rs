//! API v3 part 2 over real HTTPS on loopback, every request built, signed and every answer read
//! with the core's `Call`s (`C::request_at`, `to_sign`, `Merchant::sign`, `Merchant::parse`):
//! the stock life cycle, stock and coupon lists, merchants and items, flow files, the callback
//! setting, and `COUPON.USE` delivery to a small hyper receiver started by each test.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::Method;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use wxcoupon_core::time::format_rfc3339_beijing;
use wxcoupon_core::v3::answer::Answer as V3Answer;
use wxcoupon_core::v3::call::Call;
use wxcoupon_core::v3::callbacks::{GetCallback, SetCallback};
use wxcoupon_core::v3::favor::{IssueCoupon, ListUserCoupons, QueryCoupon, QueryStock};
use wxcoupon_core::v3::flows::{DownloadFlow, FlowKind};
use wxcoupon_core::v3::merchant::{Merchant as V3Merchant, MerchantSettings};
use wxcoupon_core::v3::notification::{is_probe, NotificationError, PROBE_SIGNATURE_PREFIX};
use wxcoupon_core::v3::request::{Method as V3Method, Request as V3Request};
use wxcoupon_core::v3::status::{CouponStatus, StockStatus};
use wxcoupon_core::v3::stocks::{
    ChangeStock, CouponUseRule, CreateStock, FixedFaceValue, ListStockItems, ListStockMerchants,
    ListStocks, NewStockUseRule, StockChange, StockListing,
};
use wxcoupon_simulator::v3::fixtures;
use wxcoupon_simulator::{CallbackKey, CouponUse, RunningSimulator, SimulatorConfig, StockSeed};

const APPID: &str = "wx5edab3bdfba3dc1c";
const MCHID: &str = "10000098";
const NOTIFY_URL: &str = "https://merchant.example/wx/coupon-notify";

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn merchant(sim: &RunningSimulator) -> V3Merchant {
    V3Merchant::new(&sim.v3_merchant_settings()).expect("the simulator's v3 merchant")
}

/// Signs `request` now, sends it as it is, and returns the answer.
async fn send(
    client: &mut Client,
    sim: &RunningSimulator,
    merchant: &V3Merchant,
    request: V3Request,
) -> V3Answer {
    let signed = merchant
        .sign(request.to_sign(unix_now(), &nonce()).unwrap())
        .unwrap();
    let target = signed
        .url
        .strip_prefix(&sim.https_base_url())
        .expect("the simulator's URL")
        .to_string();
    let method = match signed.method {
        V3Method::Get => Method::GET,
        V3Method::Post => Method::POST,
    };
    let (status, headers, body) = client
        .exchange(method, &target, &signed.headers, signed.body.into_bytes())
        .await
        .expect("an answer");
    V3Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).expect("UTF-8"),
    }
}

/// A call through the core: its request at now, signed, sent, and its answer parsed.
async fn call<C: Call>(
    client: &mut Client,
    sim: &RunningSimulator,
    merchant: &V3Merchant,
    call: &C,
) -> (V3Answer, Result<C::Answer, wxcoupon_core::v3::error::Error>) {
    let answer = send(client, sim, merchant, call.request_at(unix_now()).unwrap()).await;
    let parsed = merchant.parse::<C>(&answer, unix_now());
    (answer, parsed)
}

/// A GET the core would refuse to build (to see the simulator's own refusal).
fn raw_get(url: &str) -> V3Request {
    V3Request {
        method: V3Method::Get,
        url: url.into(),
        body: String::new(),
    }
}

fn raw_post(url: &str, body: &str) -> V3Request {
    V3Request {
        method: V3Method::Post,
        url: url.into(),
        body: body.into(),
    }
}

/// `(status, code, message)` of a refusal.
fn refusal(answer: &V3Answer) -> (u16, String, String) {
    let body: Value = serde_json::from_str(&answer.body).expect("a JSON refusal");
    (
        answer.status,
        body["code"].as_str().unwrap_or("").to_string(),
        body["message"].as_str().unwrap_or("").to_string(),
    )
}

fn new_stock(out_request_no: &str) -> CreateStock {
    let begin = unix_now() - 10;
    CreateStock {
        stock_name: "测试批次".into(),
        belong_merchant: MCHID.into(),
        available_begin_time: format_rfc3339_beijing(begin),
        available_end_time: format_rfc3339_beijing(begin + 30 * 86_400),
        stock_use_rule: NewStockUseRule {
            max_coupons: 10,
            max_amount: 1000,
            max_coupons_per_user: 5,
            ..NewStockUseRule::default()
        },
        coupon_use_rule: CouponUseRule {
            fixed_normal_coupon: FixedFaceValue {
                coupon_amount: 100,
                transaction_minimum: 200,
            },
            available_merchants: vec![MCHID.into()],
            ..CouponUseRule::default()
        },
        stock_type: "NORMAL".into(),
        out_request_no: out_request_no.into(),
        ..CreateStock::default()
    }
}

fn change(stock_id: &str, change: StockChange) -> ChangeStock {
    ChangeStock {
        change,
        stock_id: stock_id.into(),
        stock_creator_mchid: MCHID.into(),
    }
}

fn issue(stock_id: &str, openid: &str) -> IssueCoupon {
    IssueCoupon {
        openid: openid.into(),
        stock_id: stock_id.into(),
        out_request_no: format!("v3p2-{}", trade_no()),
        appid: APPID.into(),
        stock_creator_mchid: MCHID.into(),
        ..IssueCoupon::default()
    }
}

async fn create(client: &mut Client, sim: &RunningSimulator, m: &V3Merchant) -> String {
    let (answer, created) = call(client, sim, m, &new_stock(&trade_no())).await;
    created
        .unwrap_or_else(|e| panic!("{e}: {}", answer.body))
        .stock_id
}

async fn issued(
    client: &mut Client,
    sim: &RunningSimulator,
    m: &V3Merchant,
    stock_id: &str,
) -> String {
    let (answer, coupon) = call(client, sim, m, &issue(stock_id, OPENID)).await;
    coupon
        .unwrap_or_else(|e| panic!("{e}: {}", answer.body))
        .coupon_id
}

async fn stock_status(
    client: &mut Client,
    sim: &RunningSimulator,
    m: &V3Merchant,
    stock_id: &str,
) -> StockStatus {
    let query = QueryStock {
        stock_id: stock_id.into(),
        stock_creator_mchid: MCHID.into(),
    };
    let (_, stock) = call(client, sim, m, &query).await;
    StockStatus::parse(stock.unwrap().status.as_deref().unwrap())
}

#[tokio::test]
async fn a_created_stock_follows_the_life_cycle_and_issues_only_while_running() {
    let sim = start().await;
    let m = merchant(&sim);
    let mut client = Client::https(&sim, false);

    // Idempotent on out_request_no.
    let number = trade_no();
    let (answer, first) = call(&mut client, &sim, &m, &new_stock(&number)).await;
    let first = first.unwrap_or_else(|e| panic!("{e}: {}", answer.body));
    let (_, again) = call(&mut client, &sim, &m, &new_stock(&number)).await;
    assert_eq!(again.unwrap().stock_id, first.stock_id);
    let id = first.stock_id;
    assert_eq!(sim.stock(&id).unwrap().seed.status, 1);
    assert_eq!(
        stock_status(&mut client, &sim, &m, &id).await,
        StockStatus::Unactivated
    );

    // The budget rule and the caller's merchant, refused by the simulator itself.
    let mut wrong_budget = new_stock(&trade_no());
    wrong_budget.stock_use_rule.max_amount = 999;
    let body = serde_json::to_string(&wrong_budget).unwrap();
    let url = "/v3/marketing/favor/coupon-stocks";
    let answer = send(&mut client, &sim, &m, raw_post(url, &body)).await;
    assert_eq!(
        refusal(&answer),
        (
            400,
            "PARAM_ERROR".into(),
            "批次预算等于批次面额乘以发券数".into()
        )
    );
    let mut other = new_stock(&trade_no());
    other.belong_merchant = "10000099".into();
    let (answer, _) = call(&mut client, &sim, &m, &other).await;
    assert_eq!(refusal(&answer).0, 400);
    assert_eq!(refusal(&answer).1, "PARAM_ERROR");

    // Not started: issuing refused.
    let (answer, _) = call(&mut client, &sim, &m, &issue(&id, OPENID)).await;
    assert_eq!(
        refusal(&answer),
        (400, "INVALID_REQUEST".into(), "批次未激活".into())
    );

    let steps = [
        (StockChange::Start, StockStatus::Running, true, "start_time"),
        (StockChange::Pause, StockStatus::Paused, false, "pause_time"),
        (
            StockChange::Restart,
            StockStatus::Running,
            true,
            "restart_time",
        ),
        (StockChange::Stop, StockStatus::Stopped, false, "stop_time"),
    ];
    for (step, state, issues, time_field) in steps {
        let (answer, changed) = call(&mut client, &sim, &m, &change(&id, step)).await;
        let changed = changed.unwrap_or_else(|e| panic!("{step:?}: {e}: {}", answer.body));
        assert_eq!(changed.stock_id, id);
        let raw: Value = serde_json::from_str(&answer.body).unwrap();
        assert!(raw[time_field].is_string(), "{}", answer.body);
        assert_eq!(stock_status(&mut client, &sim, &m, &id).await, state);
        let (answer, coupon) = call(&mut client, &sim, &m, &issue(&id, OPENID)).await;
        if issues {
            coupon.unwrap_or_else(|e| panic!("{step:?}: {e}: {}", answer.body));
        } else {
            let (status, code, message) = refusal(&answer);
            assert_eq!(
                (status, code.as_str()),
                (400, "INVALID_REQUEST"),
                "{step:?}"
            );
            assert!(
                message == "批次已暂停发放" || message == "批次已作废",
                "{message}"
            );
        }
    }
    // A stopped stock cannot restart; a running seed cannot start again.
    let (answer, _) = call(&mut client, &sim, &m, &change(&id, StockChange::Restart)).await;
    assert_eq!(
        refusal(&answer),
        (
            400,
            "INVALID_REQUEST".into(),
            "批次当前状态为STOPED，无法重启".into()
        )
    );
    let (answer, _) = call(&mut client, &sim, &m, &change("1757", StockChange::Start)).await;
    assert_eq!(refusal(&answer).1, "INVALID_REQUEST");
    assert!(refusal(&answer).2.contains("RUNNING"));
    let (answer, _) = call(&mut client, &sim, &m, &change("404404", StockChange::Stop)).await;
    assert_eq!(refusal(&answer).0, 404);
    // Another creator in the body.
    let wrong = ChangeStock {
        stock_creator_mchid: "10000099".into(),
        ..change("1757", StockChange::Pause)
    };
    let (answer, _) = call(&mut client, &sim, &m, &wrong).await;
    assert_eq!(refusal(&answer).1, "PARAM_ERROR");
    // The seeds behave as before: 1757 still issues.
    issued(&mut client, &sim, &m, "1757").await;
    sim.shutdown().await;
}

#[tokio::test]
async fn stock_lists_filter_sort_and_page() {
    let sim = start().await;
    let m = merchant(&sim);
    let mut client = Client::https(&sim, false);
    let created_after = format_rfc3339_beijing(unix_now() - 5);
    let a = create(&mut client, &sim, &m).await;
    let b = create(&mut client, &sim, &m).await;
    let list = |status: Option<StockStatus>, from: Option<String>, offset, limit| ListStocks {
        offset,
        limit,
        stock_creator_mchid: MCHID.into(),
        create_start_time: from,
        create_end_time: None,
        status,
    };
    let (_, page) = call(&mut client, &sim, &m, &list(None, None, 0, 10)).await;
    let page = page.unwrap();
    assert_eq!(page.total_count, 6);
    let ids: Vec<&str> = page.data.iter().map(|s| s.stock_id.as_str()).collect();
    assert_eq!(
        ids,
        ["1757", "1758", "1759", "1760", a.as_str(), b.as_str()]
    );
    let (_, page) = call(&mut client, &sim, &m, &list(None, None, 4, 1)).await;
    let page = page.unwrap();
    assert_eq!((page.total_count, page.offset, page.limit), (6, 4, 1));
    assert_eq!(page.data[0].stock_id, a);
    let (_, page) = call(
        &mut client,
        &sim,
        &m,
        &list(Some(StockStatus::Unactivated), None, 0, 10),
    )
    .await;
    let ids: Vec<String> = page.unwrap().data.into_iter().map(|s| s.stock_id).collect();
    assert_eq!(ids, ["1759".to_string(), a.clone(), b.clone()]);
    let (_, page) = call(
        &mut client,
        &sim,
        &m,
        &list(None, Some(created_after), 0, 10),
    )
    .await;
    assert_eq!(page.unwrap().total_count, 2);

    for bad in [
        "/v3/marketing/favor/stocks?offset=0&limit=11&stock_creator_mchid=10000098",
        "/v3/marketing/favor/stocks?offset=0&limit=10",
        "/v3/marketing/favor/stocks?offset=0&limit=10&stock_creator_mchid=10000098&status=RUNNING",
        "/v3/marketing/favor/stocks?limit=10&stock_creator_mchid=10000098",
    ] {
        let answer = send(&mut client, &sim, &m, raw_get(bad)).await;
        assert_eq!(refusal(&answer).0, 400, "{bad}");
        assert_eq!(refusal(&answer).1, "PARAM_ERROR", "{bad}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn merchants_and_items_come_from_the_use_rule() {
    let sim = start().await;
    let m = merchant(&sim);
    let mut client = Client::https(&sim, false);
    let mut stock = new_stock(&trade_no());
    stock.coupon_use_rule.available_merchants = vec![MCHID.into(), "10000099".into()];
    stock.coupon_use_rule.available_items = Some(vec!["goods-1".into(), "goods-2".into()]);
    let (_, created) = call(&mut client, &sim, &m, &stock).await;
    let id = created.unwrap().stock_id;
    let listing = |stock_id: &str, offset, limit| StockListing {
        stock_id: stock_id.into(),
        stock_creator_mchid: MCHID.into(),
        offset,
        limit,
    };
    let (_, page) = call(
        &mut client,
        &sim,
        &m,
        &ListStockMerchants(listing(&id, 0, 50)),
    )
    .await;
    let page = page.unwrap();
    assert_eq!(page.data, [MCHID, "10000099"]);
    assert_eq!((page.total_count, page.stock_id.as_str()), (2, id.as_str()));
    let (_, page) = call(&mut client, &sim, &m, &ListStockItems(listing(&id, 1, 100))).await;
    let page = page.unwrap();
    assert_eq!(page.data, ["goods-2"]);
    assert_eq!(page.total_count, 2);
    // A seed: usable at the merchant, no single items.
    let (_, page) = call(
        &mut client,
        &sim,
        &m,
        &ListStockMerchants(listing("1757", 0, 10)),
    )
    .await;
    assert_eq!(page.unwrap().data, [MCHID]);
    let (_, page) = call(
        &mut client,
        &sim,
        &m,
        &ListStockItems(listing("1757", 0, 10)),
    )
    .await;
    assert!(page.unwrap().data.is_empty());

    let base = format!("/v3/marketing/favor/stocks/{id}");
    for bad in [
        format!("{base}/merchants?offset=1001&limit=10&stock_creator_mchid={MCHID}"),
        format!("{base}/merchants?offset=0&limit=51&stock_creator_mchid={MCHID}"),
        format!("{base}/items?offset=501&limit=10&stock_creator_mchid={MCHID}"),
        format!("{base}/items?offset=0&limit=101&stock_creator_mchid={MCHID}"),
        format!("{base}/items?offset=0&limit=10&stock_creator_mchid=10000099"),
    ] {
        let answer = send(&mut client, &sim, &m, raw_get(&bad)).await;
        assert_eq!(refusal(&answer).1, "PARAM_ERROR", "{bad}");
    }
    let (answer, _) = call(
        &mut client,
        &sim,
        &m,
        &ListStockItems(listing("404404", 0, 10)),
    )
    .await;
    assert_eq!(refusal(&answer).0, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_users_coupons_list_with_their_state_and_filters() {
    let sim = start().await;
    let m = merchant(&sim);
    let mut client = Client::https(&sim, false);
    let first = issued(&mut client, &sim, &m, "1758").await;
    let second = issued(&mut client, &sim, &m, "1757").await;
    sim.use_coupon(&second, CouponUse::default()).unwrap();
    let list = |status: Option<CouponStatus>, stock_id: Option<&str>| ListUserCoupons {
        openid: OPENID.into(),
        appid: APPID.into(),
        creator_mchid: Some(MCHID.into()),
        status,
        stock_id: stock_id.map(str::to_string),
        ..ListUserCoupons::default()
    };
    let (_, page) = call(&mut client, &sim, &m, &list(None, None)).await;
    let page = page.unwrap();
    assert_eq!((page.total_count, page.offset, page.limit), (2, 0, 20));
    let ids: Vec<&str> = page.data.iter().map(|c| c.coupon_id.as_str()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    let (_, page) = call(&mut client, &sim, &m, &list(Some(CouponStatus::Used), None)).await;
    let page = page.unwrap();
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].coupon_id, second);
    let used = page.data[0].consume_information.as_ref().unwrap();
    assert_eq!(used.consume_mchid.as_deref(), Some(MCHID));
    let (_, page) = call(&mut client, &sim, &m, &list(None, Some("1758"))).await;
    assert_eq!(page.unwrap().data[0].coupon_id, first);
    // The one-coupon query shows the use too.
    let query = QueryCoupon {
        openid: OPENID.into(),
        coupon_id: second.clone(),
        appid: APPID.into(),
    };
    let (_, coupon) = call(&mut client, &sim, &m, &query).await;
    assert_eq!(coupon.unwrap().state(), Some(CouponStatus::Used));

    let base = format!("/v3/marketing/favor/users/{OPENID}/coupons");
    for bad in [
        format!("{base}?appid={APPID}"),
        format!("{base}?creator_mchid={MCHID}"),
        format!("{base}?appid={APPID}&creator_mchid={MCHID}&limit=21"),
        format!("{base}?appid={APPID}&creator_mchid={MCHID}&status=GONE"),
    ] {
        let answer = send(&mut client, &sim, &m, raw_get(&bad)).await;
        assert_eq!(refusal(&answer).0, 400, "{bad}");
        assert_eq!(refusal(&answer).1, "PARAM_ERROR", "{bad}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_callback_setting_round_trips() {
    let sim = start().await;
    let m = merchant(&sim);
    let mut client = Client::https(&sim, false);
    let get = GetCallback {
        mchid: MCHID.into(),
    };
    let (_, setting) = call(&mut client, &sim, &m, &get).await;
    let setting = setting.unwrap();
    assert_eq!(
        (setting.notify_url.as_str(), setting.enabled),
        ("", Some(false))
    );
    let set = SetCallback {
        mchid: MCHID.into(),
        notify_url: NOTIFY_URL.into(),
        enabled: None,
    };
    let (_, updated) = call(&mut client, &sim, &m, &set).await;
    let updated = updated.unwrap();
    assert_eq!(updated.notify_url, NOTIFY_URL);
    assert!(updated.update_time.ends_with("+08:00"));
    let (_, setting) = call(&mut client, &sim, &m, &get).await;
    assert_eq!(setting.unwrap().enabled, Some(true));
    let off = SetCallback {
        enabled: Some(false),
        ..set
    };
    let (answer, _) = call(&mut client, &sim, &m, &off).await;
    assert!(answer.body.contains(NOTIFY_URL));
    let (answer, setting) = call(&mut client, &sim, &m, &get).await;
    assert!(answer.body.contains("\"switch\":false"), "{}", answer.body);
    assert_eq!(setting.unwrap().enabled, Some(false));

    let answer = send(
        &mut client,
        &sim,
        &m,
        raw_get("/v3/marketing/favor/callbacks"),
    )
    .await;
    assert_eq!(
        refusal(&answer),
        (400, "PARAM_ERROR".into(), "mchid不能为空".into())
    );
    let body = format!(r#"{{"mchid":"{MCHID}","notify_url":"http://merchant.example/n"}}"#);
    let answer = send(
        &mut client,
        &sim,
        &m,
        raw_post("/v3/marketing/favor/callbacks", &body),
    )
    .await;
    assert_eq!(refusal(&answer).1, "PARAM_ERROR");
    sim.shutdown().await;
}

#[tokio::test]
async fn flow_files_are_unsigned_checked_by_sha1_and_expire() {
    let mut config = SimulatorConfig {
        flow_url_valid_ms: 300,
        ..SimulatorConfig::default()
    };
    config.stocks.push(StockSeed {
        coupon_stock_id: "1761".into(),
        coupon_name: "合作方批次".into(),
        stock_creator_mchid: Some("10000099".into()),
        ..StockSeed::default()
    });
    let sim = start_with(config).await;
    let m = merchant(&sim);
    let mut client = Client::https(&sim, false);
    let coupon = issued(&mut client, &sim, &m, "1757").await;
    sim.use_coupon(
        &coupon,
        CouponUse {
            transaction_id: Some("4200000000000000000000000042".into()),
            order_amount: Some(1500),
            ..CouponUse::default()
        },
    )
    .unwrap();
    let flow = |kind| DownloadFlow {
        kind,
        stock_id: "1757".into(),
    };
    let (answer, file) = call(&mut client, &sim, &m, &flow(FlowKind::Use)).await;
    assert_eq!(answer.status, 200);
    assert!(
        !answer
            .headers
            .iter()
            .any(|(n, _)| n.to_ascii_lowercase().starts_with("wechatpay-")),
        "{:?}",
        answer.headers
    );
    let file = file.unwrap();
    assert_eq!(file.hash_type, "SHA1");
    let path = file
        .url
        .strip_prefix(&sim.https_base_url())
        .expect("a simulator URL")
        .to_string();
    let mut downloads = Client::https(&sim, false);
    let (status, _, bytes) = downloads
        .exchange(Method::GET, &path, &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(status, 200);
    let rows = file.read_rows(&bytes).expect("the SHA1 matches");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].coupon_id, coupon);
    assert_eq!(rows[0].stock_id, "1757");
    assert_eq!(rows[0].coupon_amount, Some(500));
    assert_eq!(rows[0].order_amount, Some(1500));
    assert_eq!(
        rows[0].transaction_id.as_deref(),
        Some("4200000000000000000000000042")
    );
    // The refund flow: the header alone.
    let (_, refunds) = call(&mut client, &sim, &m, &flow(FlowKind::Refund)).await;
    let refunds = refunds.unwrap();
    let refund_path = refunds.url.strip_prefix(&sim.https_base_url()).unwrap();
    let (_, _, bytes) = downloads
        .exchange(Method::GET, refund_path, &[], Vec::new())
        .await
        .unwrap();
    assert!(refunds.read_rows(&bytes).unwrap().is_empty());
    assert!(String::from_utf8_lossy(&bytes).contains("退款单号"));

    // After its validity: 404 with a v3 body.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, _, bytes) = downloads
        .exchange(Method::GET, &path, &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(status, 404);
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["code"], "RESOURCE_NOT_EXISTS");

    // Only the creator; an unknown stock is 404.
    let partner = DownloadFlow {
        kind: FlowKind::Use,
        stock_id: "1761".into(),
    };
    let (answer, _) = call(&mut client, &sim, &m, &partner).await;
    assert_eq!(refusal(&answer).0, 403);
    assert_eq!(refusal(&answer).1, "NO_AUTH");
    let unknown = DownloadFlow {
        kind: FlowKind::Use,
        stock_id: "404404".into(),
    };
    let (answer, _) = call(&mut client, &sim, &m, &unknown).await;
    assert_eq!(refusal(&answer).0, 404);
    sim.shutdown().await;
}

/// One request a receiver saw: the path, every header, the body.
type Delivery = (String, Vec<(String, String)>, String);
type Seen = Arc<Mutex<Vec<Delivery>>>;

/// A plain-HTTP callback receiver on loopback answering `status(n, headers)` to its n-th
/// request (0 first).
struct Receiver {
    addr: SocketAddr,
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(
        status: impl Fn(usize, &[(String, String)]) -> u16 + Send + Sync + 'static,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let status = Arc::new(status);
        let task = {
            let seen = seen.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    let seen = seen.clone();
                    let status = status.clone();
                    tokio::spawn(async move {
                        let service =
                            service_fn(move |req: http::Request<hyper::body::Incoming>| {
                                let seen = seen.clone();
                                let status = status.clone();
                                async move {
                                    let path = req.uri().to_string();
                                    let headers: Vec<(String, String)> = req
                                        .headers()
                                        .iter()
                                        .map(|(n, v)| {
                                            (n.to_string(), v.to_str().unwrap_or("").to_string())
                                        })
                                        .collect();
                                    let body = req.into_body().collect().await.unwrap().to_bytes();
                                    let body = String::from_utf8_lossy(&body).into_owned();
                                    let n = {
                                        let mut seen = seen.lock().unwrap();
                                        seen.push((path, headers.clone(), body));
                                        seen.len() - 1
                                    };
                                    let mut response = http::Response::new(Full::new(Bytes::new()));
                                    *response.status_mut() =
                                        http::StatusCode::from_u16(status(n, &headers)).unwrap();
                                    Ok::<_, Infallible>(response)
                                }
                            });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(tcp), service)
                            .await;
                    });
                }
            })
        };
        Receiver { addr, seen, task }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A simulator delivering to `receiver`, retrying after 50 ms steps, with the notify URL set
/// through the API (the core refuses http, so the https URL is registered and `notify_via`
/// reroutes it).
async fn delivering(receiver: &Receiver, key: CallbackKey) -> (RunningSimulator, V3Merchant) {
    let sim = start_with(SimulatorConfig {
        notify_via: Some(receiver.base_url()),
        notify_retry_delays_ms: vec![50, 50],
        callback_key: key,
        ..SimulatorConfig::default()
    })
    .await;
    let m = merchant(&sim);
    let mut client = Client::https(&sim, false);
    let set = SetCallback {
        mchid: MCHID.into(),
        notify_url: NOTIFY_URL.into(),
        enabled: Some(true),
    };
    let (answer, updated) = call(&mut client, &sim, &m, &set).await;
    updated.unwrap_or_else(|e| panic!("{e}: {}", answer.body));
    (sim, m)
}

#[tokio::test]
async fn a_failed_callback_is_retried_with_the_same_event_id_and_verifies() {
    let receiver = Receiver::start(|n, _| if n == 0 { 500 } else { 204 }).await;
    let (sim, m) = delivering(&receiver, CallbackKey::PublicKey).await;
    let mut client = Client::https(&sim, false);
    let coupon = issued(&mut client, &sim, &m, "1757").await;
    let event = sim
        .use_coupon(
            &coupon,
            CouponUse {
                transaction_id: Some("4200000000000000000000000007".into()),
                ..CouponUse::default()
            },
        )
        .unwrap();
    let last = sim
        .wait_delivered(&event, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((last.attempt, last.status, last.last), (2, Some(204), true));
    assert!(last.delivered());
    let attempts: Vec<_> = sim
        .notifications()
        .into_iter()
        .filter(|r| r.event_id == event)
        .collect();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status, Some(500));
    assert!(!attempts[0].last);
    let expected_url = format!("{}/wx/coupon-notify", receiver.base_url());
    assert_eq!(attempts[0].url, expected_url);
    assert_eq!(attempts[0].wechatpay_serial, fixtures::PUBLIC_KEY_ID);

    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    let ids: Vec<String> = seen
        .iter()
        .map(|(_, _, body)| serde_json::from_str::<Value>(body).unwrap()["id"].to_string())
        .collect();
    assert_eq!(ids[0], ids[1]);
    let (path, headers, body) = &seen[1];
    assert_eq!(path, "/wx/coupon-notify");
    assert!(headers
        .iter()
        .any(|(n, v)| n == "content-type" && v == "application/json"));
    let used = m
        .read_coupon_use(headers, body, unix_now())
        .expect("the callback verifies and decrypts");
    assert_eq!(used.id, event);
    assert!(used.id.starts_with("EV-"));
    assert_eq!(used.event_type, "COUPON.USE");
    assert_eq!(used.summary, "代金券核销通知");
    assert_eq!(used.coupon.coupon_id, coupon);
    assert_eq!(used.coupon.state(), Some(CouponStatus::Used));
    let info = used.coupon.consume_information.unwrap();
    assert_eq!(
        info.transaction_id.as_deref(),
        Some("4200000000000000000000000007")
    );
    assert_eq!(info.consume_mchid.as_deref(), Some(MCHID));

    // The admin route uses a coupon too; a second use is refused.
    let other = issued(&mut client, &sim, &m, "1758").await;
    let mut admin = Client::https(&sim, false);
    let path = format!("/v3/simulator/coupons/{other}/use");
    let (status, _, bytes) = admin
        .exchange(
            Method::POST,
            &path,
            &[],
            br#"{"transaction_id":"4200000000000000000000000008","order_amount":100}"#.to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let event: Value = serde_json::from_slice(&bytes).unwrap();
    let event = event["event_id"].as_str().unwrap().to_string();
    let last = sim
        .wait_delivered(&event, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((last.attempt, last.status), (1, Some(204)));
    let (status, _, bytes) = admin
        .exchange(Method::POST, &path, &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["code"], "INVALID_REQUEST");
    let (status, _, _) = admin
        .exchange(Method::POST, "/v3/simulator/coupons/1/use", &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_event_is_given_up_after_the_schedule() {
    let receiver = Receiver::start(|_, _| 503).await;
    let (sim, m) = delivering(&receiver, CallbackKey::PublicKey).await;
    let mut client = Client::https(&sim, false);
    let coupon = issued(&mut client, &sim, &m, "1757").await;
    let event = sim.use_coupon(&coupon, CouponUse::default()).unwrap();
    let last = sim
        .wait_delivered(&event, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((last.attempt, last.status, last.last), (3, Some(503), true));
    assert!(!last.delivered());
    assert_eq!(receiver.seen().len(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_probe_carries_signtest_and_is_never_verified() {
    let receiver = Receiver::start(|_, headers| if is_probe(headers) { 401 } else { 204 }).await;
    let (sim, m) = delivering(&receiver, CallbackKey::PublicKey).await;
    assert_eq!(sim.send_probe().await.unwrap(), 401);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    let (_, headers, body) = &seen[0];
    let signature = headers
        .iter()
        .find(|(n, _)| n == "wechatpay-signature")
        .map(|(_, v)| v.as_str())
        .unwrap();
    assert!(signature.starts_with(PROBE_SIGNATURE_PREFIX));
    assert!(matches!(
        m.read_coupon_use(headers, body, unix_now()),
        Err(NotificationError::Probe)
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn callbacks_under_the_platform_certificate_and_in_migration_verify() {
    for (key, serials) in [
        (
            CallbackKey::Certificate,
            [fixtures::PLATFORM_SERIAL_NO, fixtures::PLATFORM_SERIAL_NO],
        ),
        (
            CallbackKey::Migration,
            [fixtures::PUBLIC_KEY_ID, fixtures::PLATFORM_SERIAL_NO],
        ),
    ] {
        let receiver = Receiver::start(|_, _| 200).await;
        let (sim, m) = delivering(&receiver, key).await;
        let mut client = Client::https(&sim, false);
        for expected in serials {
            let coupon = issued(&mut client, &sim, &m, "1758").await;
            let event = sim.use_coupon(&coupon, CouponUse::default()).unwrap();
            let last = sim
                .wait_delivered(&event, Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(last.wechatpay_serial, expected, "{key:?}");
        }
        // Both verify with the merchant the simulator describes (public key and certificates).
        for (_, headers, body) in receiver.seen() {
            m.read_coupon_use(&headers, &body, unix_now())
                .unwrap_or_else(|e| panic!("{key:?}: {e}"));
        }
        // Holding the public key alone, a certificate-signed callback names an unknown key.
        let key_only = V3Merchant::new(&MerchantSettings {
            platform_certificates: Vec::new(),
            ..sim.v3_merchant_settings()
        })
        .unwrap();
        let (_, headers, body) = receiver.seen().pop().unwrap();
        assert!(matches!(
            key_only.read_coupon_use(&headers, &body, unix_now()),
            Err(NotificationError::NotVerified { .. })
        ));
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn no_callback_without_a_notify_url_or_with_the_switch_off() {
    let receiver = Receiver::start(|_, _| 204).await;
    let sim = start_with(SimulatorConfig {
        notify_via: Some(receiver.base_url()),
        notify_retry_delays_ms: vec![50],
        ..SimulatorConfig::default()
    })
    .await;
    let m = merchant(&sim);
    let mut client = Client::https(&sim, false);
    let coupon = issued(&mut client, &sim, &m, "1758").await;
    let event = sim.use_coupon(&coupon, CouponUse::default()).unwrap();
    assert!(sim
        .wait_delivered(&event, Duration::from_millis(200))
        .await
        .is_err());
    assert!(sim.send_probe().await.is_err());
    let off = SetCallback {
        mchid: MCHID.into(),
        notify_url: NOTIFY_URL.into(),
        enabled: Some(false),
    };
    call(&mut client, &sim, &m, &off).await.1.unwrap();
    let coupon = issued(&mut client, &sim, &m, "1758").await;
    let event = sim.use_coupon(&coupon, CouponUse::default()).unwrap();
    assert!(sim
        .wait_delivered(&event, Duration::from_millis(200))
        .await
        .is_err());
    assert!(receiver.seen().is_empty());
    assert!(sim.notifications().is_empty());
    // Using a coupon twice or below its minimum is refused.
    assert!(sim.use_coupon(&coupon, CouponUse::default()).is_err());
    let minimum = issued(&mut client, &sim, &m, "1757").await;
    let low = CouponUse {
        order_amount: Some(999),
        ..CouponUse::default()
    };
    assert!(sim.use_coupon(&minimum, low).is_err());
    sim.shutdown().await;
}
