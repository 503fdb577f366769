//! Nothing lost, nothing issued twice: hundreds of concurrent `POST /v1/coupons` through
//! `wxcoupon serve` to the simulator while it injects, in turn, latency beyond the component's
//! timeouts, resets after the request was read, 5xx answers, truncated bodies, wrong signatures
//! and `SYSTEMERROR`. The client retries exactly as each answer advises: with the
//! `partner_trade_no` the answer carries (always the same one for a user), and only when the
//! answer says `retryable` or `outcome_unknown`.
//!
//! At the end every user holds exactly one coupon, the simulator issued exactly as many as there
//! were successes, every success names the coupon the simulator holds for that user, and no
//! request went unanswered. Bounded: 300 users, 32 at a time, at most 40 attempts each.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wxcoupon::outbound::{AllowList, ClientIdentity, OutboundClient, OutboundConfig};
use wxcoupon::serve::ServeConfig;
use wxcoupon_simulator::{Endpoint, Faults, RunningSimulator, Simulator, SimulatorConfig};
use wxcoupon_tests::gateway::{component_env, logs, Gateway};
use wxcoupon_tests::hosts;

const USERS: usize = 300;
const AT_ONCE: usize = 32;
const MAX_ATTEMPTS: usize = 40;
/// The stock without a per-user limit: a second issuance would succeed, so a doubled coupon
/// shows.
const STOCK: &str = "1758";

/// The faults, in turn; each fires for a few `send_coupon` requests, then the next is armed.
fn fault_cycle() -> Vec<Faults> {
    let base = Faults {
        only: Some(Endpoint::SendCoupon),
        times: Some(6),
        ..Faults::default()
    };
    vec![
        // Issued at WeChat, but the answer comes after the component's first-byte timeout.
        Faults {
            latency_ms: 900,
            ..base.clone()
        },
        Faults {
            reset_connection: true,
            ..base.clone()
        },
        Faults {
            status: Some(502),
            ..base.clone()
        },
        Faults {
            status: Some(503),
            ..base.clone()
        },
        Faults {
            truncated_body: true,
            ..base.clone()
        },
        Faults {
            wrong_sign: true,
            ..base.clone()
        },
        Faults {
            err_code: Some("SYSTEMERROR".into()),
            ..base.clone()
        },
    ]
}

/// How one user's issuance ended.
#[derive(Debug)]
struct Outcome {
    openid: String,
    coupon_id: Option<String>,
    attempts: usize,
    /// Every number the user's requests went under (must be one).
    numbers: BTreeSet<String>,
    /// Why it gave up, if it did.
    failure: Option<String>,
}

/// Issues to `openid` until an answer says it is done, retrying as advised.
async fn issue(addr: SocketAddr, openid: String, unknowns: Arc<AtomicU64>) -> Outcome {
    let mut numbers = BTreeSet::new();
    let mut attempts = 0;
    let result = retry_as_advised(addr, &openid, &unknowns, &mut numbers, &mut attempts).await;
    let (coupon_id, failure) = match result {
        Ok(coupon_id) => (coupon_id, None),
        Err(why) => (None, Some(why)),
    };
    Outcome {
        openid,
        coupon_id,
        attempts,
        numbers,
        failure,
    }
}

/// The client's loop: the coupon id of the success, or why it gave up.
async fn retry_as_advised(
    addr: SocketAddr,
    openid: &str,
    unknowns: &AtomicU64,
    numbers: &mut BTreeSet<String>,
    attempts: &mut usize,
) -> Result<Option<String>, String> {
    let mut number: Option<String> = None;
    while *attempts < MAX_ATTEMPTS {
        *attempts += 1;
        let mut body = json!({"stock_id": STOCK, "openid": openid});
        if let Some(n) = &number {
            body["partner_trade_no"] = json!(n);
        }
        let answer = hosts::try_request(
            addr,
            "POST",
            "/v1/coupons",
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
        .map_err(|e| format!("no answer: {e}"))?;
        let json: &Value = &answer.json;
        if let Some(n) = json["partner_trade_no"].as_str() {
            numbers.insert(n.to_string());
            number = Some(n.to_string());
        }
        if answer.status == 200 {
            return Ok(json["coupon_id"].as_str().map(str::to_string));
        }
        let unknown = json["outcome_unknown"] == true;
        if unknown {
            unknowns.fetch_add(1, Ordering::Relaxed);
        }
        if !(unknown || json["retryable"] == true) {
            return Err(format!(
                "refused for good: {} {}",
                answer.status, answer.text
            ));
        }
        if number.is_none() {
            return Err(format!(
                "a retryable answer without the number: {}",
                answer.text
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("too many attempts".into())
}

/// How many times the whole cycle of faults runs; after that the traffic goes clean, so the
/// run ends (a fault armed forever would keep the last users retrying).
const CYCLES: usize = 4;

/// Keeps one fault armed at a time, cycling [`CYCLES`] times, or until `stop`. Returns how
/// many were armed.
async fn drive_faults(sim: Arc<RunningSimulator>, stop: Arc<AtomicBool>) -> usize {
    let cycle = fault_cycle();
    let mut armed = 0;
    while !stop.load(Ordering::Relaxed) && armed < CYCLES * cycle.len() {
        if sim.faults().is_empty() {
            sim.set_faults(cycle[armed % cycle.len()].clone()).unwrap();
            armed += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    armed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_issuance_under_faults_loses_nothing_and_doubles_nothing() {
    logs();
    let sim = Arc::new(
        Simulator::start(SimulatorConfig::default())
            .await
            .expect("start the simulator"),
    );
    let base_url = sim.https_base_url();
    let client = OutboundClient::new(OutboundConfig {
        identity: Some(
            ClientIdentity::from_pem(
                sim.client_cert_pem().as_bytes(),
                sim.client_key_pem().as_bytes(),
            )
            .unwrap(),
        ),
        allow: AllowList::deny_all().with_base_url(&base_url).unwrap(),
        extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
        use_system_roots: false,
        ..OutboundConfig::default()
    })
    .unwrap();
    let gateway = Gateway::start(ServeConfig {
        component_env: component_env(
            &base_url,
            &[
                ("WXPAY_CONNECT_TIMEOUT_MS", "2000"),
                ("WXPAY_FIRST_BYTE_TIMEOUT_MS", "400"),
                ("WXPAY_BETWEEN_BYTES_TIMEOUT_MS", "400"),
            ],
        ),
        hooks: Arc::new(move || Box::new(client.hooks())),
        max_concurrency: 16,
        queue_timeout: Duration::from_millis(500),
        ..ServeConfig::default()
    })
    .await;
    let addr = gateway.addr;

    let stop = Arc::new(AtomicBool::new(false));
    let driver = tokio::spawn(drive_faults(sim.clone(), stop.clone()));
    let unknowns = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    let mut tasks = Vec::new();
    for i in 0..USERS {
        let gate = gate.clone();
        let unknowns = unknowns.clone();
        tasks.push(tokio::spawn(async move {
            let _turn = gate.acquire_owned().await.unwrap();
            issue(addr, format!("o-matrix-{i:04}"), unknowns).await
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(
            tokio::time::timeout(Duration::from_secs(240), task)
                .await
                .expect("every user's issuance ends in time")
                .unwrap(),
        );
    }
    stop.store(true, Ordering::Relaxed);
    let armed = driver.await.unwrap();
    sim.clear_faults();
    let elapsed = started.elapsed();
    gateway.stop().await;

    // Nothing unaccounted: every user ended in a success.
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
    assert!(
        failed.is_empty(),
        "{} users failed: {failed:#?}",
        failed.len()
    );
    // One number per user, every retry under it.
    for o in &outcomes {
        assert_eq!(o.numbers.len(), 1, "{o:?}");
    }
    // Exactly one coupon per user, and it is the one the success named.
    let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for coupon in sim.coupons() {
        assert_eq!(coupon.coupon_stock_id, STOCK);
        held.entry(coupon.openid.clone())
            .or_default()
            .push(coupon.coupon_id.clone());
    }
    assert_eq!(held.len(), USERS, "users holding a coupon");
    for o in &outcomes {
        let coupons = &held[&o.openid];
        assert_eq!(coupons.len(), 1, "{}: {coupons:?}", o.openid);
        assert_eq!(o.coupon_id.as_deref(), Some(coupons[0].as_str()), "{o:?}");
    }
    let successes: BTreeSet<&str> = outcomes
        .iter()
        .filter_map(|o| o.coupon_id.as_deref())
        .collect();
    assert_eq!(successes.len(), USERS);
    assert_eq!(sim.stock(STOCK).unwrap().is_send_num, USERS as u64);
    assert_eq!(sim.coupons().len(), USERS);

    // The faults really fired, and unknown outcomes really happened and were retried.
    let attempts: usize = outcomes.iter().map(|o| o.attempts).sum();
    assert!(
        armed >= fault_cycle().len(),
        "only {armed} faults armed: not every kind fired"
    );
    assert!(
        unknowns.load(Ordering::Relaxed) > 0,
        "no unknown outcome was seen"
    );
    assert!(attempts > USERS, "no request was retried");
    eprintln!(
        "fault matrix: {USERS} users, {attempts} requests, {} unknown outcomes retried, \
         {armed} faults armed, {:.1} s",
        unknowns.load(Ordering::Relaxed),
        elapsed.as_secs_f64()
    );
    match Arc::try_unwrap(sim) {
        Ok(sim) => sim.shutdown().await,
        Err(_) => panic!("the simulator is still shared"),
    }
}
