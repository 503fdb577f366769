//! API v3 part 2 end to end, on loopback: every cash-coupon endpoint through the component
//! (signed inside it, `v3-client`, and signed by the host natively, `v3.build-*` /
//! `authorize` / `check-answer` / `read-*`) against the simulator, success and the main
//! refusals; then a whole programme — create → start → issue to N users → pause (issuing
//! refused) → restart → a coupon used → the simulator's `COUPON.USE` callback reaches
//! `wxcoupon serve`, is verified, decrypted and forwarded once although WeChat's first delivery
//! fails → the use-flow file lists the use, its SHA1 checked.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use wxcoupon::outbound::{AllowList, OutboundClient, OutboundConfig};
use wxcoupon::serve::ServeConfig;
use wxcoupon::v3::{SignWith, V3Merchant};
use wxcoupon::{CallOptions, Runtime, Session};
use wxcoupon_core::time::format_rfc3339_beijing;
use wxcoupon_core::v3::callbacks::{GetCallback, SetCallback};
use wxcoupon_core::v3::error::Error;
use wxcoupon_core::v3::favor::{IssueCoupon, ListUserCoupons, QueryCoupon, QueryStock};
use wxcoupon_core::v3::flows::{DownloadFlow, FlowKind};
use wxcoupon_core::v3::merchant::MerchantSettings;
use wxcoupon_core::v3::rsa::MerchantSigner;
use wxcoupon_core::v3::status::{CouponStatus, StockStatus};
use wxcoupon_core::v3::stocks::{
    ChangeStock, CouponUseRule, CreateStock, FixedFaceValue, ListStockItems, ListStockMerchants,
    ListStocks, NewStockUseRule, StockChange, StockListing,
};
use wxcoupon_simulator::{CouponUse, RunningSimulator, Simulator, SimulatorConfig};
use wxcoupon_tests::gateway::Gateway;
use wxcoupon_tests::receiver::Receiver;

const APPID: &str = "wx5edab3bdfba3dc1c";
const MCHID: &str = "10000098";
const NOTIFY_URL: &str = "https://shop.example/v1/notifications/wechatpay";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn simulator(notify_via: Option<String>) -> RunningSimulator {
    Simulator::start(SimulatorConfig {
        notify_via,
        notify_retry_delays_ms: vec![100, 100, 100],
        ..SimulatorConfig::default()
    })
    .await
    .expect("start the simulator")
}

async fn session(sim: &RunningSimulator) -> Session {
    let client = OutboundClient::new(OutboundConfig {
        allow: AllowList::default()
            .with_base_url(&sim.https_base_url())
            .unwrap(),
        extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
        use_system_roots: false,
        ..OutboundConfig::default()
    })
    .unwrap();
    Runtime::new()
        .unwrap()
        .with_outbound(client)
        .session()
        .await
        .unwrap()
}

fn sign_with(settings: &MerchantSettings, in_component: bool) -> SignWith {
    if in_component {
        SignWith::Component
    } else {
        SignWith::Host(Arc::new(
            MerchantSigner::from_pkcs8_pem(settings.private_key_pem.as_deref().unwrap()).unwrap(),
        ))
    }
}

fn options() -> CallOptions {
    CallOptions {
        first_byte_timeout_ms: Some(5000),
        ..CallOptions::default()
    }
}

/// A stock of 10 coupons of 1 yuan (orders from 2 yuan), usable from a minute ago for 30 days.
fn new_stock(out_request_no: &str) -> CreateStock {
    let begin = now() - 60;
    CreateStock {
        stock_name: "e2e 满2减1".into(),
        comment: None,
        belong_merchant: MCHID.into(),
        available_begin_time: format_rfc3339_beijing(begin),
        available_end_time: format_rfc3339_beijing(begin + 30 * 86_400),
        stock_use_rule: NewStockUseRule {
            max_coupons: 10,
            max_amount: 1000,
            max_amount_by_day: None,
            max_coupons_per_user: 1,
            natural_person_limit: false,
            prevent_api_abuse: false,
        },
        pattern_info: None,
        coupon_use_rule: CouponUseRule {
            fixed_normal_coupon: FixedFaceValue {
                coupon_amount: 100,
                transaction_minimum: 200,
            },
            available_merchants: vec![MCHID.into()],
            ..CouponUseRule::default()
        },
        no_cash: false,
        stock_type: "NORMAL".into(),
        out_request_no: out_request_no.into(),
        ext_info: None,
    }
}

fn change(change: StockChange, stock_id: &str) -> ChangeStock {
    ChangeStock {
        change,
        stock_id: stock_id.into(),
        stock_creator_mchid: MCHID.into(),
    }
}

fn issue(stock_id: &str, openid: &str, number: &str) -> IssueCoupon {
    IssueCoupon {
        openid: openid.into(),
        stock_id: stock_id.into(),
        out_request_no: number.into(),
        appid: APPID.into(),
        stock_creator_mchid: MCHID.into(),
        ..IssueCoupon::default()
    }
}

fn refused_code(e: Error) -> String {
    match e {
        Error::Refused(r) => r.code.unwrap_or_default(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

struct Open {
    s: Session,
    m: V3Merchant,
}

impl Open {
    async fn new(sim: &RunningSimulator, in_component: bool) -> Open {
        let settings = sim.v3_merchant_settings();
        let mut s = session(sim).await;
        let m = s
            .open_v3(&settings, sign_with(&settings, in_component))
            .await
            .unwrap()
            .unwrap();
        Open { s, m }
    }

    async fn status(&mut self, stock_id: &str) -> StockStatus {
        let q = QueryStock {
            stock_id: stock_id.into(),
            stock_creator_mchid: MCHID.into(),
        };
        let stock = self
            .s
            .v3_query_stock(&self.m, &q, &options())
            .await
            .unwrap()
            .unwrap();
        StockStatus::parse(stock.status.as_deref().unwrap_or(""))
    }

    async fn change(&mut self, c: StockChange, stock_id: &str) -> Result<(), Error> {
        let r = self
            .s
            .v3_change_stock(&self.m, &change(c, stock_id), &options())
            .await
            .unwrap();
        r.map(|changed| assert_eq!(changed.stock_id, stock_id))
    }
}

async fn every_endpoint(in_component: bool) {
    let sim = simulator(None).await;
    let mut o = Open::new(&sim, in_component).await;
    let tag = if in_component { "c" } else { "h" };

    // The callback setting, set and read back (GET sends ?mchid=…).
    let set = SetCallback {
        mchid: MCHID.into(),
        notify_url: NOTIFY_URL.into(),
        enabled: Some(true),
    };
    let updated =
        o.s.v3_set_callback(&o.m, &set, &options())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(updated.notify_url, NOTIFY_URL);
    let got =
        o.s.v3_get_callback(
            &o.m,
            &GetCallback {
                mchid: MCHID.into(),
            },
            &options(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.notify_url.as_str(), got.enabled),
        (NOTIFY_URL, Some(true))
    );

    // Create, and again with the same out_request_no: the same stock.
    let create = new_stock(&format!("e2e-create-{tag}"));
    let created =
        o.s.v3_create_stock(&o.m, &create, &options())
            .await
            .unwrap()
            .unwrap();
    let again =
        o.s.v3_create_stock(&o.m, &create, &options())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(created.stock_id, again.stock_id);
    let stock = created.stock_id.clone();
    assert_eq!(o.status(&stock).await, StockStatus::Unactivated);

    // Not started yet: issuing, pausing and restarting are refused.
    let e =
        o.s.v3_issue_coupon(
            &o.m,
            &issue(&stock, "o-e2e-1", &format!("{tag}-1")),
            &options(),
        )
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused_code(e), "INVALID_REQUEST");
    assert_eq!(
        refused_code(o.change(StockChange::Pause, &stock).await.unwrap_err()),
        "INVALID_REQUEST"
    );

    // Start (twice: refused), issue, pause (issuing refused), restart, issue.
    o.change(StockChange::Start, &stock).await.unwrap();
    assert_eq!(o.status(&stock).await, StockStatus::Running);
    assert_eq!(
        refused_code(o.change(StockChange::Start, &stock).await.unwrap_err()),
        "INVALID_REQUEST"
    );
    let first =
        o.s.v3_issue_coupon(
            &o.m,
            &issue(&stock, "o-e2e-1", &format!("{tag}-1")),
            &options(),
        )
        .await
        .unwrap()
        .unwrap();
    o.change(StockChange::Pause, &stock).await.unwrap();
    assert_eq!(o.status(&stock).await, StockStatus::Paused);
    let e =
        o.s.v3_issue_coupon(
            &o.m,
            &issue(&stock, "o-e2e-2", &format!("{tag}-2")),
            &options(),
        )
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused_code(e), "INVALID_REQUEST");
    o.change(StockChange::Restart, &stock).await.unwrap();
    let second =
        o.s.v3_issue_coupon(
            &o.m,
            &issue(&stock, "o-e2e-2", &format!("{tag}-2")),
            &options(),
        )
        .await
        .unwrap()
        .unwrap();

    // Lists: stocks (with the lower-case filter), merchants, items, a user's coupons.
    let list = ListStocks {
        offset: 0,
        limit: 10,
        stock_creator_mchid: MCHID.into(),
        status: Some(StockStatus::Running),
        ..ListStocks::default()
    };
    let page =
        o.s.v3_list_stocks(&o.m, &list, &options())
            .await
            .unwrap()
            .unwrap();
    assert!(page.data.iter().any(|s| s.stock_id == stock), "{page:?}");
    let listing = StockListing {
        stock_id: stock.clone(),
        stock_creator_mchid: MCHID.into(),
        offset: 0,
        limit: 10,
    };
    let merchants =
        o.s.v3_list_stock_merchants(&o.m, &ListStockMerchants(listing.clone()), &options())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(merchants.data, vec![MCHID.to_string()]);
    let items =
        o.s.v3_list_stock_items(&o.m, &ListStockItems(listing.clone()), &options())
            .await
            .unwrap()
            .unwrap();
    assert!(items.data.is_empty(), "{items:?}");
    let mine = ListUserCoupons {
        openid: "o-e2e-1".into(),
        appid: APPID.into(),
        stock_id: Some(stock.clone()),
        creator_mchid: Some(MCHID.into()),
        ..ListUserCoupons::default()
    };
    let coupons =
        o.s.v3_list_user_coupons(&o.m, &mine, &options())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        coupons
            .data
            .iter()
            .map(|c| c.coupon_id.clone())
            .collect::<Vec<_>>(),
        vec![first.coupon_id.clone()]
    );

    // A use: the coupon shows it, the use-flow file lists it (SHA1 checked), refunds none.
    sim.use_coupon(
        &second.coupon_id,
        CouponUse {
            transaction_id: Some("4200000000000000000000000777".into()),
            ..CouponUse::default()
        },
    )
    .unwrap();
    let q = QueryCoupon {
        openid: "o-e2e-2".into(),
        coupon_id: second.coupon_id.clone(),
        appid: APPID.into(),
    };
    let used =
        o.s.v3_query_coupon(&o.m, &q, &options())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(used.state(), Some(CouponStatus::Used));
    assert_eq!(
        used.consume_information.unwrap().transaction_id.as_deref(),
        Some("4200000000000000000000000777")
    );
    let file =
        o.s.v3_download_flow(
            &o.m,
            &DownloadFlow {
                kind: FlowKind::Use,
                stock_id: stock.clone(),
            },
            &options(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(file.hash_type, "SHA1");
    let rows =
        o.s.v3_fetch_flow_rows(&file, &options())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].coupon_id.as_str(), rows[0].coupon_amount),
        (second.coupon_id.as_str(), Some(100))
    );
    let refunds =
        o.s.v3_download_flow(
            &o.m,
            &DownloadFlow {
                kind: FlowKind::Refund,
                stock_id: stock.clone(),
            },
            &options(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(o
        .s
        .v3_fetch_flow_rows(&refunds, &options())
        .await
        .unwrap()
        .unwrap()
        .is_empty());

    // Stop for good: restarting is refused.
    o.change(StockChange::Stop, &stock).await.unwrap();
    assert_eq!(o.status(&stock).await, StockStatus::Stopped);
    assert_eq!(
        refused_code(o.change(StockChange::Restart, &stock).await.unwrap_err()),
        "INVALID_REQUEST"
    );
    // An unknown stock.
    let e =
        o.s.v3_change_stock(&o.m, &change(StockChange::Start, "99999999"), &options())
            .await
            .unwrap()
            .unwrap_err();
    assert_eq!(refused_code(e), "RESOURCE_NOT_EXISTS");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_signed_in_the_component() {
    every_endpoint(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_signed_by_the_host() {
    every_endpoint(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_programme_with_the_callback_through_the_gateway() {
    // The merchant's service fails its first forward, so WeChat's first delivery fails too.
    let (receiver, receiver_addr) = Receiver::start(&[500]).await;
    // The gateway listens first, so the simulator can be pointed at it.
    let placeholder = simulator(None).await;
    let settings = placeholder.v3_merchant_settings();
    placeholder.shutdown().await;
    let forward = format!("http://{receiver_addr}/coupon-used");
    let gateway = Gateway::start(
        ServeConfig::default()
            .with_notifications(
                OutboundConfig {
                    allow: AllowList::deny_all(),
                    use_system_roots: false,
                    extra_ca_pem: Some(settings.platform_certificates[0].clone().into_bytes()),
                    ..OutboundConfig::default()
                },
                &settings,
                &forward,
            )
            .unwrap(),
    )
    .await;
    let sim = simulator(Some(format!("http://{}", gateway.addr))).await;
    assert_eq!(
        sim.v3_merchant_settings().wechatpay_public_key_pem,
        settings.wechatpay_public_key_pem,
        "the simulator's keys are fixed"
    );
    let mut o = Open::new(&sim, false).await;

    let set = SetCallback {
        mchid: MCHID.into(),
        notify_url: NOTIFY_URL.into(),
        enabled: Some(true),
    };
    o.s.v3_set_callback(&o.m, &set, &options())
        .await
        .unwrap()
        .unwrap();
    let stock =
        o.s.v3_create_stock(&o.m, &new_stock("programme-1"), &options())
            .await
            .unwrap()
            .unwrap()
            .stock_id;
    o.change(StockChange::Start, &stock).await.unwrap();
    let mut coupons = Vec::new();
    for n in 0..5 {
        let issued =
            o.s.v3_issue_coupon(
                &o.m,
                &issue(
                    &stock,
                    &format!("o-programme-{n}"),
                    &format!("programme-{n}"),
                ),
                &options(),
            )
            .await
            .unwrap()
            .unwrap();
        coupons.push(issued.coupon_id);
    }
    o.change(StockChange::Pause, &stock).await.unwrap();
    let e =
        o.s.v3_issue_coupon(
            &o.m,
            &issue(&stock, "o-programme-9", "programme-9"),
            &options(),
        )
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused_code(e), "INVALID_REQUEST");
    o.change(StockChange::Restart, &stock).await.unwrap();

    // A coupon is used: WeChat's callback reaches the gateway.
    let event_id = sim.use_coupon(&coupons[2], CouponUse::default()).unwrap();
    let last = sim
        .wait_delivered(&event_id, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(last.delivered(), "{last:?}");
    assert_eq!(
        last.attempt, 2,
        "the first delivery failed (its forward did), the retry succeeded"
    );
    let deliveries: Vec<_> = sim
        .notifications()
        .into_iter()
        .filter(|d| d.event_id == event_id)
        .collect();
    assert_eq!(
        deliveries.iter().map(|d| d.status).collect::<Vec<_>>(),
        vec![Some(502), Some(204)]
    );
    let seen = receiver.seen();
    let delivered: Vec<&Value> = seen
        .iter()
        .filter(|r| r.status == 204)
        .map(|r| &r.body)
        .collect();
    assert_eq!(delivered.len(), 1, "forwarded once: {seen:?}");
    assert_eq!(delivered[0]["id"], Value::String(event_id.clone()));
    assert_eq!(
        delivered[0]["coupon"]["coupon_id"],
        Value::String(coupons[2].clone())
    );
    assert_eq!(delivered[0]["coupon"]["status"], "USED");

    // The use-flow file lists it, its SHA1 checked.
    let file =
        o.s.v3_download_flow(
            &o.m,
            &DownloadFlow {
                kind: FlowKind::Use,
                stock_id: stock.clone(),
            },
            &options(),
        )
        .await
        .unwrap()
        .unwrap();
    let rows =
        o.s.v3_fetch_flow_rows(&file, &options())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.coupon_id.clone()).collect::<Vec<_>>(),
        vec![coupons[2].clone()]
    );
    let consume = delivered[0]["coupon"]["consume_information"]["transaction_id"]
        .as_str()
        .unwrap();
    assert_eq!(rows[0].transaction_id.as_deref(), Some(consume));
    sim.shutdown().await;
    gateway.stop().await;
}
