//! `wxcoupon serve` (`wxcoupon::serve`) in-process against the WeChat Pay simulator, on
//! loopback only: every test starts and stops its own simulator and gateway.
//!
//! The component's JSON API end to end — issue, repeat with the same `partner_trade_no`, stock
//! and coupon queries, every error status — through the mutual-TLS outbound client (HTTPS
//! listener) and over the plain-HTTP listener; plus what the host adds: the concurrency limit,
//! graceful shutdown, access logs. Nothing may ever show the API key: every answer is checked,
//! and so are all log lines, captured for the whole test binary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::net::TcpStream;
use wxcoupon::config::{ConfigOverrides, HostConfig};
use wxcoupon::outbound::{AllowList, ClientIdentity, OutboundClient, OutboundConfig};
use wxcoupon::runtime::HooksFactory;
use wxcoupon::serve::ServeConfig;
use wxcoupon_simulator::{
    CertFile, Endpoint, Faults, RunningSimulator, Simulator, SimulatorConfig,
};
use wxcoupon_tests::gateway::{component_env as env, logs, Gateway};
use wxcoupon_tests::hosts::{self, assert_error, Answer};
use wxcoupon_tests::{APPID, MCH_ID, TEST_KEY as API_KEY};

// ---- servers ----

async fn simulator() -> RunningSimulator {
    logs(); // install the capture before anything logs
    Simulator::start(SimulatorConfig {
        plain_http: true,
        ..Default::default()
    })
    .await
    .expect("start the simulator")
}

/// The host's outbound client: the simulator's CA, the merchant certificate, and an allow-list
/// holding only `allowed` (a base URL).
fn outbound(sim: &RunningSimulator, allowed: &str) -> HooksFactory {
    let identity = ClientIdentity::from_pem(
        sim.client_cert_pem().as_bytes(),
        sim.client_key_pem().as_bytes(),
    )
    .expect("the simulator's client identity");
    let client = OutboundClient::new(OutboundConfig {
        identity: Some(identity),
        allow: AllowList::deny_all().with_base_url(allowed).unwrap(),
        extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
        use_system_roots: false,
        ..OutboundConfig::default()
    })
    .expect("outbound client");
    Arc::new(move || Box::new(client.hooks()))
}

/// The gateway's configuration calling the simulator at `base_url` (and allowed to reach only
/// that), with `extra` variables.
fn config(sim: &RunningSimulator, base_url: &str, extra: &[(&str, &str)]) -> ServeConfig {
    ServeConfig {
        component_env: env(base_url, extra),
        hooks: outbound(sim, base_url),
        ..ServeConfig::default()
    }
}

// ---- client ----

/// Nothing may show the API key: not an answer's body, nor any of its headers.
fn without_key(answer: Answer) -> Answer {
    assert!(
        !answer.text.contains(API_KEY),
        "the API key in an answer: {}",
        answer.text
    );
    for value in answer.headers.values() {
        assert!(!value.to_str().unwrap_or("").contains(API_KEY));
    }
    answer
}

async fn send(addr: SocketAddr, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Answer {
    without_key(hosts::request(addr, method, path, body).await)
}

async fn get(addr: SocketAddr, path: &str) -> Answer {
    without_key(hosts::get(addr, path).await)
}

async fn post(addr: SocketAddr, body: Value) -> Answer {
    without_key(hosts::post_coupon(addr, &body).await)
}

/// Today's date in Beijing time, `yyyyMMdd`.
fn beijing_date() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    wxcoupon_core::time::format_beijing(now)[..8].to_string()
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_and_queries_over_mutual_tls() {
    let sim = simulator().await;
    let gateway = Gateway::start(config(&sim, &sim.https_base_url(), &[])).await;
    let addr = gateway.addr;

    let health = get(addr, "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.json);
    assert_eq!(health.json["status"], "ok");

    // Issue with a generated partner_trade_no: mch_id + yyyyMMdd (Beijing) + 10 digits.
    let before = beijing_date();
    let issued = post(addr, json!({"stock_id": "1757", "openid": "o-gateway-1"})).await;
    let after = beijing_date();
    assert_eq!(issued.status, 200, "{}", issued.json);
    assert_eq!(
        issued.headers["content-type"],
        "application/json; charset=utf-8"
    );
    let coupon_id = issued.field("coupon_id").to_string();
    assert!(!coupon_id.is_empty());
    assert_eq!(issued.field("coupon_stock_id"), "1757");
    assert_eq!(issued.field("openid"), "o-gateway-1");
    assert_eq!(issued.json["signature"], "absent");
    assert_eq!(issued.json["partner_trade_no_generated"], true);
    let trade_no = issued.field("partner_trade_no").to_string();
    assert_eq!(trade_no.len(), MCH_ID.len() + 8 + 10, "{trade_no}");
    assert!(trade_no.bytes().all(|b| b.is_ascii_digit()), "{trade_no}");
    let date = &trade_no[MCH_ID.len()..MCH_ID.len() + 8];
    assert!(trade_no.starts_with(MCH_ID));
    assert!(date == before || date == after, "{trade_no}");
    // The shape is the core's SentCoupon (what the CLI prints), extended.
    let sent: wxcoupon_core::SentCoupon = {
        let mut object = issued.json.as_object().unwrap().clone();
        object.remove("partner_trade_no");
        object.remove("partner_trade_no_generated");
        serde_json::from_value(Value::Object(object)).expect("a SentCoupon")
    };
    assert_eq!(sent.coupon_id, coupon_id);

    // The same request with that number: the same coupon, nothing new issued.
    let again = post(
        addr,
        json!({"stock_id": 1757, "openid": "o-gateway-1", "partner_trade_no": trade_no}),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.json);
    assert_eq!(again.field("coupon_id"), coupon_id);
    assert_eq!(again.field("partner_trade_no"), trade_no);
    assert_eq!(again.json["partner_trade_no_generated"], false);
    assert_eq!(sim.coupons().len(), 1);
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 1);

    // The stock's counter moved.
    let stock = get(addr, "/v1/stocks/1757").await;
    assert_eq!(stock.status, 200, "{}", stock.json);
    assert_eq!(stock.field("coupon_stock_id"), "1757");
    assert_eq!(stock.json["is_send_num"], 1);
    assert_eq!(stock.json["status"], "active");
    let _: wxcoupon_core::CouponStock =
        serde_json::from_value(stock.json.clone()).expect("a CouponStock");

    // The coupon.
    let coupon = get(
        addr,
        &format!("/v1/coupons/{coupon_id}?openid=o-gateway-1&stock_id=1757"),
    )
    .await;
    assert_eq!(coupon.status, 200, "{}", coupon.json);
    assert_eq!(coupon.field("coupon_id"), coupon_id);
    assert_eq!(coupon.json["state"], "usable");
    let _: wxcoupon_core::CouponInfo =
        serde_json::from_value(coupon.json.clone()).expect("a CouponInfo");

    // 409: the user's quota of 1757 is used up (a new number, so not a replay).
    let quota = post(addr, json!({"stock_id": "1757", "openid": "o-gateway-1"})).await;
    assert_error(&quota, 409, "ALREADY_RECEIVED");
    assert_eq!(quota.field("wechat_err_code"), "USER_AL_GET_COUPON");
    assert_eq!(quota.json["retryable"], false);
    assert!(quota.field("partner_trade_no").starts_with(MCH_ID));

    // 404: unknown stock (issue and query) and unknown coupon.
    let unknown = post(addr, json!({"stock_id": "999999", "openid": "o-gateway-1"})).await;
    assert_error(&unknown, 404, "STOCK_NOT_FOUND");
    assert_eq!(
        unknown.field("wechat_err_code"),
        "COUPON_STOCK_ID_NOT_VALID"
    );
    assert_error(
        &get(addr, "/v1/stocks/999999").await,
        404,
        "STOCK_NOT_FOUND",
    );
    let missing = get(addr, "/v1/coupons/424242?openid=o-gateway-1&stock_id=1757").await;
    assert_error(&missing, 404, "COUPON_NOT_FOUND");
    assert_eq!(missing.field("wechat_err_code"), "COUPON_NOT_FOUND");

    // 409: a stock that is not active.
    let inactive = post(addr, json!({"stock_id": "1759", "openid": "o-gateway-1"})).await;
    assert_error(&inactive, 409, "STOCK_UNAVAILABLE");

    // 429: WeChat's frequency limit, retryable after a pause.
    sim.set_faults(Faults {
        only: Some(Endpoint::SendCoupon),
        times: Some(1),
        err_code: Some("FREQ_OVER_LIMIT".into()),
        ..Faults::default()
    })
    .unwrap();
    let limited = post(addr, json!({"stock_id": "1758", "openid": "o-gateway-2"})).await;
    assert_error(&limited, 429, "RATE_LIMITED");
    assert_eq!(limited.field("wechat_err_code"), "FREQ_OVER_LIMIT");
    assert_eq!(limited.json["retryable"], true);
    // Retrying with the number it answered with succeeds.
    let retried = post(
        addr,
        json!({"stock_id": "1758", "openid": "o-gateway-2",
               "partner_trade_no": limited.field("partner_trade_no")}),
    )
    .await;
    assert_eq!(retried.status, 200, "{}", retried.json);

    let stats = gateway.stop().await;
    assert!(stats.requests >= 12, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    sim.shutdown().await;

    // Access log lines: one per request, no query strings, no key anywhere.
    let logs = logs();
    assert!(!logs.contains(API_KEY), "the API key in the logs");
    let access: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("wxcoupon::access"))
        .collect();
    assert!(access.iter().any(|l| l.contains("path=/v1/stocks/1757")));
    assert!(access.iter().any(|l| l.contains("status=409")));
    assert!(access.iter().all(|l| !l.contains("openid=")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_serves_as_many_requests_as_instance_reuse_allows() {
    let sim = simulator().await;
    // Fresh per request (the default), then up to 3 requests per instance.
    for (reuse, expected_instances) in [(1, 7), (3, 3)] {
        let gateway = Gateway::start(ServeConfig {
            instance_reuse: reuse,
            ..config(&sim, &sim.https_base_url(), &[])
        })
        .await;
        for i in 0..7 {
            let stock = get(gateway.addr, "/v1/stocks/1757").await;
            assert_eq!(stock.status, 200, "request {i}: {}", stock.json);
            assert_eq!(stock.field("coupon_stock_id"), "1757");
            // The instance goes back after its guest returns, a moment after the client has
            // the answer: wait for that, so the count below is exact.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A refusal is an answer too: the instance that gave it is still reusable.
        let missing = get(gateway.addr, "/v1/stocks/404404").await;
        assert!(missing.status >= 400, "{}", missing.json);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stats = gateway.stop().await;
        assert_eq!(stats.failed, 0, "{stats:?}");
        assert_eq!(stats.requests, 8, "{stats:?}");
        let expected = if reuse == 1 { 8 } else { expected_instances };
        assert_eq!(
            stats.instances, expected,
            "instance_reuse {reuse}: {stats:?}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_bad_requests() {
    let sim = simulator().await;
    let gateway = Gateway::start(config(&sim, &sim.https_base_url(), &[])).await;
    let addr = gateway.addr;

    // 400, naming the field and the rule.
    let empty = post(addr, json!({})).await;
    assert_error(&empty, 400, "INVALID_INPUT");
    assert_eq!(empty.field("field"), "stock_id");
    assert_eq!(empty.field("message"), "stock_id: required");
    let no_openid = post(addr, json!({"stock_id": "1757"})).await;
    assert_eq!(no_openid.field("message"), "openid: required");
    let blank = post(addr, json!({"stock_id": "1757", "openid": "  "})).await;
    assert_error(&blank, 400, "INVALID_INPUT");
    assert_eq!(blank.field("field"), "openid");
    let long = post(addr, json!({"stock_id": "1757", "openid": "o".repeat(200)})).await;
    assert_error(&long, 400, "INVALID_INPUT");
    assert_eq!(
        long.field("message"),
        "openid: at most 128 characters (got 200)"
    );
    let unknown = post(
        addr,
        json!({"stock_id": "1757", "openid": "o", "amount": 5}),
    )
    .await;
    assert_error(&unknown, 400, "INVALID_INPUT");
    assert_eq!(unknown.field("field"), "amount");
    let typed = post(addr, json!({"stock_id": "1757", "openid": 5})).await;
    assert_eq!(typed.field("message"), "openid: must be a string");
    let empty_no = post(
        addr,
        json!({"stock_id": "1757", "openid": "o", "partner_trade_no": ""}),
    )
    .await;
    assert_eq!(empty_no.field("field"), "partner_trade_no");
    let control = post(
        addr,
        json!({"stock_id": "1757", "openid": "o\u{1}x", "partner_trade_no": "1"}),
    )
    .await;
    assert_error(&control, 400, "INVALID_INPUT");
    assert_eq!(control.field("field"), "openid");
    let not_json = send(
        addr,
        "POST",
        "/v1/coupons",
        Some(("application/json", b"{stock_id".to_vec())),
    )
    .await;
    assert_error(&not_json, 400, "INVALID_JSON");
    let array = post(addr, json!(["1757"])).await;
    assert_error(&array, 400, "INVALID_JSON");
    let no_openid = get(addr, "/v1/coupons/1?stock_id=1757").await;
    assert_error(&no_openid, 400, "INVALID_INPUT");
    assert_eq!(no_openid.field("message"), "openid: required");
    let twice = get(addr, "/v1/coupons/1?openid=a&openid=b&stock_id=1757").await;
    assert_eq!(twice.field("message"), "openid: appears more than once");
    let bad_escape = get(addr, "/v1/stocks/%FF%FE").await;
    assert_error(&bad_escape, 400, "INVALID_INPUT");
    assert_eq!(bad_escape.field("field"), "stock_id");

    // 413 and 415.
    let big = format!(
        r#"{{"stock_id":"1757","openid":"{}"}}"#,
        "o".repeat(9 * 1024)
    );
    let too_large = send(
        addr,
        "POST",
        "/v1/coupons",
        Some(("application/json", big.into_bytes())),
    )
    .await;
    assert_error(&too_large, 413, "BODY_TOO_LARGE");
    let form = send(
        addr,
        "POST",
        "/v1/coupons",
        Some((
            "application/x-www-form-urlencoded",
            b"stock_id=1757".to_vec(),
        )),
    )
    .await;
    assert_error(&form, 415, "UNSUPPORTED_MEDIA_TYPE");

    // 405 with `allow`, 404 for unknown routes.
    let wrong = get(addr, "/v1/coupons").await;
    assert_error(&wrong, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(wrong.headers["allow"], "POST");
    let delete = send(addr, "DELETE", "/v1/stocks/1757", None).await;
    assert_error(&delete, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(delete.headers["allow"], "GET");
    let health = send(addr, "POST", "/healthz", None).await;
    assert_error(&health, 405, "METHOD_NOT_ALLOWED");
    for path in ["/", "/v1", "/v1/stocks/", "/v2/coupons", "/v1/stocks/1/x"] {
        assert_error(&get(addr, path).await, 404, "ROUTE_NOT_FOUND");
    }
    // `GET /v1/stocks` lists stocks with API v3: a v2-only gateway names what it lacks.
    let list = get(addr, "/v1/stocks").await;
    assert_error(&list, 500, "CONFIGURATION");
    assert!(
        list.field("message").contains("WXPAY_PRIVATE_KEY"),
        "{}",
        list.text
    );

    // Nothing reached WeChat Pay's send_coupon.
    assert!(sim.coupons().is_empty());
    gateway.stop().await;
    sim.shutdown().await;
    assert!(!logs().contains(API_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_timeouts_are_504_and_retry_with_the_same_number() {
    let sim = simulator().await;
    let gateway = Gateway::start(config(
        &sim,
        &sim.https_base_url(),
        &[("WXPAY_FIRST_BYTE_TIMEOUT_MS", "300")],
    ))
    .await;
    let addr = gateway.addr;
    sim.set_faults(Faults {
        latency_ms: 1_500,
        times: Some(2),
        ..Faults::default()
    })
    .unwrap();

    let stock = get(addr, "/v1/stocks/1757").await;
    assert_error(&stock, 504, "UPSTREAM_TIMEOUT");
    assert_eq!(stock.json["retryable"], true);

    // The slow send_coupon still took effect at WeChat: retrying with the number the 504
    // carried gets that coupon, not a second one.
    let slow = post(addr, json!({"stock_id": "1758", "openid": "o-slow"})).await;
    assert_error(&slow, 504, "UPSTREAM_TIMEOUT");
    let trade_no = slow.field("partner_trade_no").to_string();
    assert!(trade_no.starts_with(MCH_ID));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let retried = post(
        addr,
        json!({"stock_id": "1758", "openid": "o-slow", "partner_trade_no": trade_no}),
    )
    .await;
    assert_eq!(retried.status, 200, "{}", retried.json);
    let coupons = sim.coupons();
    assert_eq!(coupons.len(), 1);
    assert_eq!(coupons[0].partner_trade_no, trade_no);
    assert_eq!(retried.field("coupon_id"), coupons[0].coupon_id);

    gateway.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_listener() {
    let sim = simulator().await;
    let base = sim.http_base_url().expect("plain listener");
    let gateway = Gateway::start(config(&sim, &base, &[])).await;
    let stock = get(gateway.addr, "/v1/stocks/1758").await;
    assert_eq!(stock.status, 200, "{}", stock.json);
    assert_eq!(stock.json["is_send_num"], 0);
    // No TLS, so no client certificate: WeChat Pay refuses send_coupon (CA_ERROR).
    let refused = post(gateway.addr, json!({"stock_id": "1758", "openid": "o"})).await;
    assert_error(&refused, 502, "WECHAT_REFUSED");
    assert_eq!(refused.field("wechat_err_code"), "CA_ERROR");
    assert_eq!(refused.json["retryable"], false);
    gateway.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_outbound_hosts_are_502() {
    let sim = simulator().await;
    // The host's allow-list does not hold the simulator (Spin's allowed_outbound_hosts).
    let listed = Gateway::start(ServeConfig {
        component_env: env(&sim.https_base_url(), &[]),
        hooks: outbound(&sim, "https://api.mch.weixin.qq.com"),
        ..ServeConfig::default()
    })
    .await;
    // No outbound client at all: the default hooks deny everything.
    let none = Gateway::start(ServeConfig {
        component_env: env(&sim.https_base_url(), &[]),
        ..ServeConfig::default()
    })
    .await;
    for addr in [listed.addr, none.addr] {
        let issue = post(addr, json!({"stock_id": "1757", "openid": "o"})).await;
        assert_error(&issue, 502, "OUTBOUND_DENIED");
        assert_eq!(issue.json["retryable"], false);
        assert!(
            issue.field("message").contains("127.0.0.1"),
            "{}",
            issue.json
        );
        let stock = get(addr, "/v1/stocks/1757").await;
        assert_error(&stock, 502, "OUTBOUND_DENIED");
    }
    assert_eq!(sim.requests_seen(), 0);
    assert_eq!(listed.stop().await.failed, 0);
    assert_eq!(none.stop().await.failed, 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_problems_name_the_variable_not_the_value() {
    logs();
    let unconfigured = Gateway::start(ServeConfig::default()).await;
    let health = get(unconfigured.addr, "/healthz").await;
    assert_error(&health, 503, "CONFIGURATION");
    let message = health.field("message");
    for name in ["WXPAY_APPID", "WXPAY_MCH_ID", "WXPAY_API_KEY"] {
        assert!(message.contains(name), "{message}");
    }
    let issue = post(
        unconfigured.addr,
        json!({"stock_id": "1757", "openid": "o"}),
    )
    .await;
    assert_error(&issue, 500, "CONFIGURATION");
    unconfigured.stop().await;

    let secret = "short-secret-key-value";
    let wrong = Gateway::start(ServeConfig {
        component_env: vec![
            ("WXPAY_APPID".into(), APPID.into()),
            ("WXPAY_MCH_ID".into(), MCH_ID.into()),
            ("WXPAY_API_KEY".into(), secret.into()),
            ("WXPAY_FIRST_BYTE_TIMEOUT_MS".into(), "soon".into()),
        ],
        ..ServeConfig::default()
    })
    .await;
    let health = get(wrong.addr, "/healthz").await;
    assert_error(&health, 503, "CONFIGURATION");
    let message = health.field("message").to_string();
    assert!(message.contains("WXPAY_FIRST_BYTE_TIMEOUT_MS"), "{message}");
    let stock = get(wrong.addr, "/v1/stocks/1757").await;
    assert_error(&stock, 500, "CONFIGURATION");
    assert!(!stock.json.to_string().contains(secret));
    wrong.stop().await;

    let key_only = Gateway::start(ServeConfig {
        component_env: vec![
            ("WXPAY_APPID".into(), APPID.into()),
            ("WXPAY_MCH_ID".into(), MCH_ID.into()),
            ("WXPAY_API_KEY".into(), secret.into()),
        ],
        ..ServeConfig::default()
    })
    .await;
    let health = get(key_only.addr, "/healthz").await;
    assert_error(&health, 503, "CONFIGURATION");
    assert!(health
        .field("message")
        .contains("WXPAY_API_KEY: must be 32 characters"));
    assert!(!health.json.to_string().contains(secret));
    key_only.stop().await;
    assert!(!logs().contains(secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_and_graceful_shutdown() {
    let sim = simulator().await;
    let gateway = Gateway::start(ServeConfig {
        max_concurrency: 1,
        queue_timeout: Duration::from_millis(100),
        ..config(&sim, &sim.https_base_url(), &[])
    })
    .await;
    let addr = gateway.addr;
    sim.set_faults(Faults {
        latency_ms: 2_000,
        times: Some(1),
        ..Faults::default()
    })
    .unwrap();

    // One slow request holds the only slot (it has reached the simulator, which sits on it);
    // a second one waits 100 ms for the slot, then gets 503.
    let slow = tokio::spawn(async move { get(addr, "/v1/stocks/1757").await });
    let waited = std::time::Instant::now();
    while sim.requests_seen() == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "the slow request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = get(addr, "/v1/stocks/1758").await;
    assert_error(&refused, 503, "OVERLOADED");
    assert_eq!(refused.json["retryable"], true);
    assert_eq!(refused.headers["retry-after"], "1");
    // A health check never waits behind calls: it has slots of its own.
    let health = get(addr, "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text);

    // Shutdown while the slow request runs: it still completes.
    let stopping = tokio::spawn(gateway.stop());
    let slow = slow.await.unwrap();
    assert_eq!(slow.status, 200, "{}", slow.json);
    let stats = stopping.await.unwrap();
    assert_eq!(stats.overloaded, 1, "{stats:?}");
    assert_eq!(stats.requests, 3, "{stats:?}");
    // And the listener is gone.
    assert!(TcpStream::connect(addr).await.is_err());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_from_a_host_configuration() {
    // What `wxcoupon serve` does: WXPAY_* variables (certificate files included) → HostConfig →
    // ServeConfig with the mutual-TLS outbound client.
    logs();
    let dir = std::env::temp_dir().join(format!("wxcoupon-serve-test-{}", std::process::id()));
    let sim = Simulator::start(SimulatorConfig {
        cert_dir: Some(dir.clone()),
        ..Default::default()
    })
    .await
    .expect("start the simulator");
    let path = |file| sim.cert_path(file).unwrap().display().to_string();
    let vars = env(
        &sim.https_base_url(),
        &[
            ("WXPAY_CERT_FILE", &path(CertFile::ClientCert)),
            ("WXPAY_KEY_FILE", &path(CertFile::ClientKey)),
            ("WXPAY_CA_FILE", &path(CertFile::Ca)),
        ],
    );
    let host = HostConfig::load(None, vars, &ConfigOverrides::default()).expect("host config");
    let config = ServeConfig::from_host_config(&host, "127.0.0.1:0".parse().unwrap()).unwrap();
    assert!(!format!("{config:?}").contains(API_KEY));
    let names: Vec<&str> = config
        .component_env
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(names.contains(&"WXPAY_BASE_URL"));
    assert!(!names.iter().any(|n| n.contains("FILE")), "{names:?}");

    let gateway = Gateway::start(config).await;
    let issued = post(
        gateway.addr,
        json!({"stock_id": "1758", "openid": "o-host-config"}),
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.json);
    assert_eq!(sim.coupons().len(), 1);
    gateway.stop().await;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_serve_gracefully() {
    // Catch SIGTERM in this process first, so the signal can never kill the test binary.
    let mut own = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    logs();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = tokio::spawn(wxcoupon::serve::serve(ServeConfig {
        listen: addr,
        ..ServeConfig::default()
    }));
    let started = std::time::Instant::now();
    while TcpStream::connect(addr).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve never listened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get(addr, "/healthz").await.status, 503); // no configuration
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    own.recv().await;
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("serve stops after SIGTERM")
        .unwrap()
        .expect("serve returns Ok");
    assert!(TcpStream::connect(addr).await.is_err());
}

// ---- hardening (issue 10): callers, host names, deadlines, slow clients ----

const OPS_TOKEN: &str = "ops-token-0123456789abcdef";

/// `POST /v1/coupons` with extra headers.
async fn post_with(addr: SocketAddr, headers: &[(&str, &str)], body: Value) -> Answer {
    let answer = hosts::try_request_with(
        addr,
        "POST",
        "/v1/coupons",
        headers,
        Some(("application/json", body.to_string().into_bytes())),
    )
    .await
    .unwrap();
    without_key(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_need_a_token_and_are_named_in_the_access_log() {
    let sim = simulator().await;
    let gateway = Gateway::start(ServeConfig {
        callers: wxcoupon_api::CallerTokens::parse(&format!(
            "ops:{},old:{}",
            wxcoupon_api::callers::token_hash_hex(OPS_TOKEN),
            wxcoupon_api::callers::token_hash_hex("retired-token")
        ))
        .unwrap(),
        ..config(&sim, &sim.https_base_url(), &[])
    })
    .await;
    let addr = gateway.addr;
    let issue = json!({"stock_id": "1757", "openid": "o-caller"});
    for headers in [
        &[][..],
        &[("authorization", "Bearer wrong")],
        &[("authorization", "Basic b3BzOm9wcw==")],
    ] {
        let refused = post_with(addr, headers, issue.clone()).await;
        assert_error(&refused, 401, "UNAUTHORIZED");
        assert!(
            refused.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer realm=\"wxcoupon\""),
            "{:?}",
            refused.headers
        );
    }
    // A GET route needs it too; an unknown /v1 route does not tell strangers it is unknown.
    let stock = hosts::try_request_with(addr, "GET", "/v1/stocks/1757", &[], None)
        .await
        .unwrap();
    assert_eq!(stock.status, 401);
    let unknown = hosts::try_request_with(addr, "GET", "/v1/nothing", &[], None)
        .await
        .unwrap();
    assert_eq!(unknown.status, 401);
    assert_eq!(sim.requests_seen(), 0, "a refused caller reached WeChat");
    // /healthz stays open and shows nothing secret.
    let health = get(addr, "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert!(!health.text.contains(OPS_TOKEN));

    let bearer = format!("Bearer {OPS_TOKEN}");
    let issued = post_with(addr, &[("authorization", &bearer)], issue).await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let old = post_with(
        addr,
        &[("authorization", "Bearer retired-token")],
        json!({"stock_id": "1757", "openid": "o-caller-2"}),
    )
    .await;
    assert_eq!(old.status, 200, "{}", old.text);
    gateway.stop().await;
    let logs = logs();
    assert!(logs.contains("caller=ops"), "no caller in the access log");
    assert!(logs.contains("caller=old"), "no caller in the access log");
    assert!(!logs.contains(OPS_TOKEN), "a token in the logs");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_a_json_content_type_issues_nothing() {
    let sim = simulator().await;
    let gateway = Gateway::start(config(&sim, &sim.https_base_url(), &[])).await;
    let body = br#"{"stock_id":"1757","openid":"o-beacon"}"#.to_vec();
    // What `navigator.sendBeacon` or a form sends: no content-type, or a form's.
    let none = hosts::try_request_with(gateway.addr, "POST", "/v1/coupons", &[], None)
        .await
        .unwrap();
    assert_error(&none, 415, "UNSUPPORTED_MEDIA_TYPE");
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let answer = send(
            gateway.addr,
            "POST",
            "/v1/coupons",
            Some((content_type, body.clone())),
        )
        .await;
        assert_error(&answer, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    assert!(sim.coupons().is_empty());
    gateway.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_its_own_host_names_are_answered_on_loopback() {
    let sim = simulator().await;
    let gateway = Gateway::start(ServeConfig {
        host_names: vec!["coupons.internal".into()],
        ..config(&sim, &sim.https_base_url(), &[])
    })
    .await;
    let addr = gateway.addr;
    let port = addr.port().to_string();
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 reaches the port.
    for host in ["evil.example", &format!("evil.example:{port}"), "127.0.0.2"] {
        let answer =
            hosts::try_request_with(addr, "GET", "/v1/stocks/1757", &[("host", host)], None)
                .await
                .unwrap();
        assert_error(&answer, 421, "MISDIRECTED_REQUEST");
    }
    assert_eq!(sim.requests_seen(), 0);
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "coupons.internal".to_string(),
    ] {
        let answer = hosts::try_request_with(addr, "GET", "/healthz", &[("host", &host)], None)
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{host}: {}", answer.text);
    }
    gateway.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_start_exposed_or_with_a_deadline_below_the_components() {
    logs();
    let exposed = wxcoupon::serve::Server::bind(ServeConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..ServeConfig::default()
    })
    .await
    .err()
    .expect("no tokens on 0.0.0.0 must be refused");
    assert!(
        exposed.to_string().contains("without caller tokens"),
        "{exposed}"
    );
    let with_tokens = wxcoupon::serve::Server::bind(ServeConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        callers: wxcoupon_api::CallerTokens::from_tokens([("ops", OPS_TOKEN)]),
        ..ServeConfig::default()
    })
    .await;
    assert!(with_tokens.is_ok());

    let short = wxcoupon::serve::Server::bind(ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        request_timeout: Duration::from_millis(1_000),
        component_env: env(
            "http://127.0.0.1:1",
            &[("WXPAY_FIRST_BYTE_TIMEOUT_MS", "900")],
        ),
        ..ServeConfig::default()
    })
    .await
    .err()
    .expect("a deadline below the component's timeouts must be refused");
    let text = short.to_string();
    assert!(text.contains("request_timeout (1000 ms)"), "{text}");
    assert!(text.contains("WXPAY_FIRST_BYTE_TIMEOUT_MS"), "{text}");
}

/// Hooks whose requests never answer: the component waits on wasi:http until the host's
/// deadline, whatever timeouts it asked for.
#[derive(Debug)]
struct NeverAnswer;

impl wasmtime_wasi_http::WasiHttpHooks for NeverAnswer {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: wxcoupon::outbound::IoFuture,
    ) -> wxcoupon::outbound::SendRequestFuture {
        Box::new(std::future::pending())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_answer_carries_the_number_and_says_the_outcome_is_unknown() {
    let sim = simulator().await;
    let gateway = Gateway::start(ServeConfig {
        hooks: Arc::new(|| Box::new(NeverAnswer)),
        request_timeout: Duration::from_millis(1_500),
        ..config(
            &sim,
            &sim.https_base_url(),
            &[
                ("WXPAY_CONNECT_TIMEOUT_MS", "200"),
                ("WXPAY_FIRST_BYTE_TIMEOUT_MS", "500"),
                ("WXPAY_BETWEEN_BYTES_TIMEOUT_MS", "500"),
            ],
        )
    })
    .await;
    // A generated number: the host fixed it before the component ran.
    let late = post(
        gateway.addr,
        json!({"stock_id": "1757", "openid": "o-late"}),
    )
    .await;
    assert_error(&late, 504, "GATEWAY_TIMEOUT");
    let number = late.field("partner_trade_no");
    assert!(
        number.starts_with(MCH_ID) && number.len() == MCH_ID.len() + 18,
        "{}",
        late.text
    );
    assert_eq!(late.json["outcome_unknown"], true, "{}", late.text);
    assert_eq!(late.json["retryable"], true);
    assert!(late
        .field("message")
        .contains("retry with the same partner_trade_no"));
    // The caller's own number comes back as it was sent.
    let own = post(
        gateway.addr,
        json!({"stock_id": "1757", "openid": "o-late", "partner_trade_no": "mine-1"}),
    )
    .await;
    assert_error(&own, 504, "GATEWAY_TIMEOUT");
    assert_eq!(own.field("partner_trade_no"), "mine-1");
    // A query's deadline has no outcome to speak of.
    let stock = get(gateway.addr, "/v1/stocks/1757").await;
    assert_error(&stock, 504, "GATEWAY_TIMEOUT");
    assert!(stock.json.get("outcome_unknown").is_none());
    gateway.stop().await;
    sim.shutdown().await;
}

/// Opens a connection and sends a request head announcing a body it then trickles, one byte a
/// second, for as long as the connection lives.
async fn trickle(addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    use tokio::io::AsyncWriteExt;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/coupons HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: 4000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::spawn(async move {
        for _ in 0..60 {
            if stream.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_senders_hold_no_slot_and_time_out() {
    let sim = simulator().await;
    let gateway = Gateway::start(ServeConfig {
        max_concurrency: 2,
        queue_timeout: Duration::from_millis(200),
        body_timeout: Duration::from_secs(2),
        ..config(&sim, &sim.https_base_url(), &[])
    })
    .await;
    let addr = gateway.addr;
    let mut slow = Vec::new();
    for _ in 0..16 {
        slow.push(trickle(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Sixteen bodies trickle in; calls and health checks go on.
    let health = get(addr, "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text);
    let stock = get(addr, "/v1/stocks/1757").await;
    assert_eq!(stock.status, 200, "{}", stock.text);
    let issued = post(addr, json!({"stock_id": "1757", "openid": "o-fast"})).await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    // Past the body timeout the trickles are answered 408 and closed.
    let started = std::time::Instant::now();
    for task in slow {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the slow sender's connection is closed after the body timeout")
            .unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let stats = gateway.stop().await;
    assert_eq!(stats.overloaded, 0, "{stats:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_peer() {
    use tokio::io::AsyncReadExt;
    let sim = simulator().await;
    let gateway = Gateway::start(ServeConfig {
        max_connections_per_peer: 3,
        ..config(&sim, &sim.https_base_url(), &[])
    })
    .await;
    let addr = gateway.addr;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The fourth is closed at once: reading gives end-of-stream (or a reset), not a wait.
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), fourth.read(&mut buf))
        .await
        .expect("the connection over the cap is closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // Once one closes, a new connection is served again.
    drop(idle.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = get(addr, "/healthz").await;
    assert_eq!(health.status, 200);
    drop(idle);
    gateway.stop().await;
    sim.shutdown().await;
}
