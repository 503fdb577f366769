//! Gateway mode under other runtimes: the **same** component file ([`wxcoupon::COMPONENT_PATH`])
//! served by `jco serve` (Node, preview2-shim) and by `wasmtime serve` (wasmtime-cli), against
//! the WeChat Pay simulator, with the egress proxy ([`wxcoupon::egress`]) holding the merchant
//! certificate — the deployment recommended for Spin. Plus the egress proxy's own rules and the
//! shape of `spin.toml`.
//!
//! ```text
//! test ──http──▶ jco serve / wasmtime serve (component) ──http──▶ egress proxy ──https, client cert──▶ simulator
//! ```
//!
//! The simulator and the proxy run in this process (so faults can be armed and state read); the
//! runtimes are child processes on free loopback ports, killed with their process group on drop.
//! Tools come from `scripts/setup-gateway-hosts`; a missing one fails the test under `CI=true`
//! and skips it (with a message) elsewhere.
//!
//! Denied outbound hosts: `jco serve` has no allow-list of its own; `tests/gateway-hosts/
//! outbound-allow.js` (loaded with `--jco-import`) adds one, and the test checks the 502.
//! `wasmtime serve` 48 has no way to deny an outbound HTTP request (its `-S` network options
//! govern wasi:sockets, not wasi:http), so there the denial is not tested.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wxcoupon::egress::{EgressConfig, EgressProxy, EgressStats};
use wxcoupon::outbound::{AllowList, ClientIdentity, OutboundClient, OutboundConfig};
use wxcoupon::serve::ServeConfig;
use wxcoupon_simulator::{
    CertFile, Endpoint, Faults, RunningSimulator, Simulator, SimulatorConfig,
};
use wxcoupon_tests::gateway::{component_env, logs, Gateway};
use wxcoupon_tests::hosts::{
    self, assert_error, find_jco, find_wasmtime, free_port, get, post_coupon, request, require,
    temp_dir, try_request, HostProcess,
};
use wxcoupon_tests::{APPID, MCH_ID, TEST_KEY as API_KEY};

// ---- the upstream side: simulator + egress proxy ----

/// A simulator (HTTPS with client certificates, plus plain HTTP) and an egress proxy in front
/// of its HTTPS listener holding the merchant certificate.
struct Upstream {
    sim: RunningSimulator,
    egress: SocketAddr,
    egress_client: OutboundClient,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<wxcoupon::HostResult<EgressStats>>,
}

impl Upstream {
    async fn start() -> Upstream {
        logs();
        let sim = Simulator::start(SimulatorConfig {
            plain_http: true,
            ..Default::default()
        })
        .await
        .expect("start the simulator");
        let (egress, egress_client, stop, task) = start_egress(&sim, &sim.https_base_url()).await;
        Upstream {
            sim,
            egress,
            egress_client,
            stop,
            task,
        }
    }

    /// The proxy's base URL: what the component gets as `WXPAY_BASE_URL`.
    fn egress_url(&self) -> String {
        format!("http://{}", self.egress)
    }

    /// The simulator's plain-HTTP base URL (no TLS, so no client certificate).
    fn plain_url(&self) -> String {
        self.sim.http_base_url().expect("plain listener")
    }

    async fn stop(self) -> EgressStats {
        let _ = self.stop.send(());
        let stats = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the proxy stops in time")
            .expect("the proxy task")
            .expect("the proxy");
        self.sim.shutdown().await;
        stats
    }
}

type EgressTask = tokio::task::JoinHandle<wxcoupon::HostResult<EgressStats>>;

/// An egress proxy on a free loopback port forwarding to `upstream` with the simulator's
/// client certificate and CA.
async fn start_egress(
    sim: &RunningSimulator,
    upstream: &str,
) -> (
    SocketAddr,
    OutboundClient,
    tokio::sync::oneshot::Sender<()>,
    EgressTask,
) {
    let identity = ClientIdentity::from_pem(
        sim.client_cert_pem().as_bytes(),
        sim.client_key_pem().as_bytes(),
    )
    .expect("the simulator's client identity");
    let proxy = EgressProxy::bind(EgressConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream_base_url: upstream.to_string(),
        outbound: OutboundConfig {
            identity: Some(identity),
            extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
            use_system_roots: false,
            ..OutboundConfig::default()
        },
        ..EgressConfig::default()
    })
    .await
    .expect("bind the egress proxy");
    let addr = proxy.local_addr();
    let client = proxy.client().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(proxy.run_until(async {
        let _ = stopped.await;
    }));
    (addr, client, stop, task)
}

// ---- the runtimes ----

/// A runtime that serves `wasi:http/incoming-handler` components.
#[derive(Clone, Debug)]
enum Runtime {
    /// `jco serve` (the `jco` script of tests/gateway-hosts/node_modules).
    Jco(PathBuf),
    /// `wasmtime serve` (wasmtime-cli).
    Wasmtime(PathBuf),
}

impl Runtime {
    fn label(&self) -> &'static str {
        match self {
            Runtime::Jco(_) => "jco serve",
            Runtime::Wasmtime(_) => "wasmtime serve",
        }
    }
}

/// Serves the component file under `runtime` on a free loopback port with `env` as its
/// environment. `allowed_outbound`: for jco, the allow-list module with these origins
/// (comma-separated; `""` denies everything); `None` runs the shim as it comes. Retries on
/// another port when the child cannot start (a port taken in between).
async fn serve(
    runtime: &Runtime,
    env: &[(String, String)],
    allowed_outbound: Option<&str>,
) -> HostProcess {
    let component = wxcoupon::COMPONENT_PATH;
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let dir = temp_dir("gateway-host");
        let (mut command, ready_within) = match runtime {
            Runtime::Jco(jco) => {
                let mut command = Command::new(jco);
                command
                    .arg("serve")
                    .arg(component)
                    .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
                    // Its transpiled output goes in our directory, removed on drop even when
                    // the process is killed.
                    .arg("--jco-dir")
                    .arg(dir.join("jco"));
                if let Some(origins) = allowed_outbound {
                    command
                        .arg("--jco-import")
                        .arg(hosts::gateway_hosts_dir().join("outbound-allow.js"))
                        .env("WXCOUPON_ALLOWED_OUTBOUND_HOSTS", origins);
                }
                // Transpiling the component takes a few seconds.
                (command, Duration::from_secs(120))
            }
            Runtime::Wasmtime(wasmtime) => {
                assert!(
                    allowed_outbound.is_none(),
                    "wasmtime serve has no outbound allow-list"
                );
                let mut command = Command::new(wasmtime);
                // A fresh instance per request, as under Spin.
                command.args(["serve", "-Scli", "--addr", &addr.to_string()]);
                for (name, _) in env {
                    // `--env NAME` passes the variable's value from wasmtime's own
                    // environment: no secret on the command line.
                    command.args(["--env", name]);
                }
                command.arg(component);
                (command, Duration::from_secs(120))
            }
        };
        // The component reads every WXPAY_* variable it sees: none may leak in from the shell
        // that runs the tests.
        for (name, _) in std::env::vars() {
            if name.starts_with("WXPAY_") {
                command.env_remove(name);
            }
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        match HostProcess::start(runtime.label(), command, addr, dir, ready_within).await {
            Ok(process) => return process,
            Err(e) => last_error = e,
        }
    }
    panic!("{} could not be started: {last_error}", runtime.label());
}

// ---- the scenario both runtimes go through ----

/// Issue, repeat, queries and every error status, through the proxy. `openid`s are the
/// caller's so logs can be searched for them.
async fn coupon_api(addr: SocketAddr, up: &Upstream, label: &str) {
    let sim = &up.sim;
    let started = Instant::now();

    let health = get(addr, "/healthz").await;
    assert_eq!(health.status, 200, "{label}: {}", health.text);
    assert_eq!(health.json["status"], "ok");

    // Issue: a generated partner_trade_no, the coupon issued over mutual TLS by the proxy.
    let issued = post_coupon(addr, &json!({"stock_id": "1757", "openid": "o-hosts-1"})).await;
    assert_eq!(issued.status, 200, "{label}: {}", issued.text);
    assert_eq!(
        issued.headers["content-type"],
        "application/json; charset=utf-8"
    );
    let coupon_id = issued.field("coupon_id").to_string();
    assert!(!coupon_id.is_empty(), "{}", issued.text);
    assert_eq!(issued.field("coupon_stock_id"), "1757");
    assert_eq!(issued.field("openid"), "o-hosts-1");
    assert_eq!(issued.json["partner_trade_no_generated"], true);
    let trade_no = issued.field("partner_trade_no").to_string();
    assert!(trade_no.starts_with(MCH_ID), "{trade_no}");
    assert_eq!(trade_no.len(), MCH_ID.len() + 8 + 10, "{trade_no}");
    assert_eq!(sim.coupons().len(), 1);

    // The same request with that number: the same coupon, nothing new issued.
    let again = post_coupon(
        addr,
        &json!({"stock_id": 1757, "openid": "o-hosts-1", "partner_trade_no": trade_no}),
    )
    .await;
    assert_eq!(again.status, 200, "{label}: {}", again.text);
    assert_eq!(again.field("coupon_id"), coupon_id);
    assert_eq!(again.json["partner_trade_no_generated"], false);
    assert_eq!(sim.coupons().len(), 1);
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 1);

    // The stock's counter moved.
    let stock = get(addr, "/v1/stocks/1757").await;
    assert_eq!(stock.status, 200, "{label}: {}", stock.text);
    assert_eq!(stock.field("coupon_stock_id"), "1757");
    assert_eq!(stock.json["is_send_num"], 1);
    assert_eq!(stock.json["status"], "active");

    // The coupon.
    let coupon = get(
        addr,
        &format!("/v1/coupons/{coupon_id}?openid=o-hosts-1&stock_id=1757"),
    )
    .await;
    assert_eq!(coupon.status, 200, "{label}: {}", coupon.text);
    assert_eq!(coupon.field("coupon_id"), coupon_id);
    assert_eq!(coupon.json["state"], "usable");

    // 400: bad input, named; not JSON.
    let empty = post_coupon(addr, &json!({})).await;
    assert_error(&empty, 400, "INVALID_INPUT");
    assert_eq!(empty.field("field"), "stock_id");
    let long = post_coupon(
        addr,
        &json!({"stock_id": "1757", "openid": "o".repeat(200)}),
    )
    .await;
    assert_error(&long, 400, "INVALID_INPUT");
    assert_eq!(long.field("field"), "openid");
    let not_json = request(
        addr,
        "POST",
        "/v1/coupons",
        Some(("application/json", b"{stock_id".to_vec())),
    )
    .await;
    assert_error(&not_json, 400, "INVALID_JSON");

    // 404: unknown stock (issue and query), unknown coupon.
    let unknown = post_coupon(addr, &json!({"stock_id": "999999", "openid": "o-hosts-1"})).await;
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
    let missing = get(addr, "/v1/coupons/424242?openid=o-hosts-1&stock_id=1757").await;
    assert_error(&missing, 404, "COUPON_NOT_FOUND");

    // 409: the user's quota of 1757 is used up (a new number, so not a replay).
    let quota = post_coupon(addr, &json!({"stock_id": "1757", "openid": "o-hosts-1"})).await;
    assert_error(&quota, 409, "ALREADY_RECEIVED");
    assert_eq!(quota.field("wechat_err_code"), "USER_AL_GET_COUPON");
    assert_eq!(quota.json["retryable"], false);

    // 405 with `allow`; 404 for an unknown route.
    let wrong = get(addr, "/v1/coupons").await;
    assert_error(&wrong, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(wrong.headers["allow"], "POST");
    let delete = request(addr, "DELETE", "/v1/stocks/1757", None).await;
    assert_error(&delete, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(delete.headers["allow"], "GET");
    assert_error(&get(addr, "/v2/coupons").await, 404, "ROUTE_NOT_FOUND");

    // 429: WeChat's frequency limit (a simulator fault), then a retry with the same number.
    sim.set_faults(Faults {
        only: Some(Endpoint::SendCoupon),
        times: Some(1),
        err_code: Some("FREQ_OVER_LIMIT".into()),
        ..Faults::default()
    })
    .unwrap();
    let limited = post_coupon(addr, &json!({"stock_id": "1758", "openid": "o-hosts-2"})).await;
    assert_error(&limited, 429, "RATE_LIMITED");
    assert_eq!(limited.field("wechat_err_code"), "FREQ_OVER_LIMIT");
    assert_eq!(limited.json["retryable"], true);
    let retried = post_coupon(
        addr,
        &json!({"stock_id": "1758", "openid": "o-hosts-2",
                "partner_trade_no": limited.field("partner_trade_no")}),
    )
    .await;
    assert_eq!(retried.status, 200, "{label}: {}", retried.text);
    assert_eq!(sim.coupons().len(), 2);

    // Every send_coupon went through the proxy, with the certificate (the simulator checks it).
    assert!(up.egress_client.requests_sent() >= 10);
    assert_eq!(up.egress_client.failed(), 0);
    eprintln!(
        "{label}: coupon API scenario in {} ms",
        started.elapsed().as_millis()
    );
}

/// Without the proxy — straight to the simulator's plain-HTTP listener — there is no client
/// certificate: queries work, issuing is refused with CA_ERROR.
async fn without_the_proxy(addr: SocketAddr, label: &str) {
    let stock = get(addr, "/v1/stocks/1758").await;
    assert_eq!(stock.status, 200, "{label}: {}", stock.text);
    let refused = post_coupon(addr, &json!({"stock_id": "1758", "openid": "o-direct"})).await;
    assert_error(&refused, 502, "WECHAT_REFUSED");
    assert_eq!(refused.field("wechat_err_code"), "CA_ERROR");
    assert_eq!(refused.json["retryable"], false);
}

// ---- the tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jco_serve_issues_through_the_egress_proxy() {
    let Some(jco) = require("jco", find_jco()) else {
        return;
    };
    let started = Instant::now();
    let runtime = Runtime::Jco(jco);
    let up = Upstream::start().await;
    let coupons_before = up.sim.coupons().len();

    // Three servers of the same file: through the proxy (allow-list: the proxy only), straight
    // to the plain listener (the shim as it comes), and one whose allow-list lacks the target.
    let allowed = up.egress_url();
    let env_proxy = component_env(&up.egress_url(), &[]);
    let env_plain = component_env(&up.plain_url(), &[]);
    let (proxied, direct, denied) = tokio::join!(
        serve(&runtime, &env_proxy, Some(&allowed)),
        serve(&runtime, &env_plain, None),
        serve(&runtime, &env_plain, Some("https://api.mch.weixin.qq.com")),
    );
    let ready = started.elapsed();

    coupon_api(proxied.addr, &up, "jco serve").await;
    without_the_proxy(direct.addr, "jco serve").await;

    // Denied: the allow-list module refuses the simulator before any connection.
    let seen = up.sim.requests_seen();
    let issue = post_coupon(denied.addr, &json!({"stock_id": "1757", "openid": "o"})).await;
    assert_error(&issue, 502, "OUTBOUND_DENIED");
    assert_eq!(issue.json["retryable"], false);
    assert!(
        issue.field("message").contains("127.0.0.1"),
        "{}",
        issue.text
    );
    let stock = get(denied.addr, "/v1/stocks/1757").await;
    assert_error(&stock, 502, "OUTBOUND_DENIED");
    assert_eq!(up.sim.requests_seen(), seen, "a denied request went out");
    assert!(denied.output().contains("outbound request denied"));

    assert_eq!(up.sim.coupons().len(), coupons_before + 2);
    // jco runs the component in a second node process: the whole group goes on drop.
    tear_down(vec![proxied, direct, denied], up).await;
    eprintln!(
        "jco serve: 3 servers ready in {} ms, whole test {} ms",
        ready.as_millis(),
        started.elapsed().as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmtime_serve_issues_through_the_egress_proxy() {
    let Some(wasmtime) = require("wasmtime", find_wasmtime()) else {
        return;
    };
    let started = Instant::now();
    let runtime = Runtime::Wasmtime(wasmtime);
    let up = Upstream::start().await;

    let env_proxy = component_env(&up.egress_url(), &[]);
    let env_plain = component_env(&up.plain_url(), &[]);
    // The component checks callers itself where its runtime does not (WXPAY_GATEWAY_TOKENS).
    let tokens = format!(
        "batch:{}",
        wxcoupon_api::callers::token_hash_hex("component-caller-token")
    );
    let env_guarded = component_env(&up.plain_url(), &[("WXPAY_GATEWAY_TOKENS", &tokens)]);
    let (proxied, direct, guarded) = tokio::join!(
        serve(&runtime, &env_proxy, None),
        serve(&runtime, &env_plain, None),
        serve(&runtime, &env_guarded, None),
    );
    let ready = started.elapsed();

    coupon_api(proxied.addr, &up, "wasmtime serve").await;
    without_the_proxy(direct.addr, "wasmtime serve").await;
    let refused = get(guarded.addr, "/v1/stocks/1757").await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert_eq!(refused.code(), "UNAUTHORIZED");
    assert!(refused.headers.contains_key("www-authenticate"));
    let health = get(guarded.addr, "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text);
    let allowed = hosts::try_request_with(
        guarded.addr,
        "GET",
        "/v1/stocks/1757",
        &[("authorization", "Bearer component-caller-token")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    // No denial test: wasmtime serve 48 cannot refuse an outbound wasi:http request.

    // `--env NAME` kept the key off the command line.
    let output = proxied.output();
    assert!(
        !output.contains(API_KEY),
        "the API key in wasmtime's output"
    );
    tear_down(vec![proxied, direct, guarded], up).await;
    eprintln!(
        "wasmtime serve: 3 servers ready in {} ms, whole test {} ms",
        ready.as_millis(),
        started.elapsed().as_millis()
    );
}

/// API v3 under both runtimes, straight to the simulator's plain-HTTP listener: v3 needs no
/// client certificate, so no egress proxy. The component holds the v3 settings as PEM text (the
/// reference host's [`ServeConfig::v3_env`]) and checks the caller token itself; the
/// programme is the one `wxcoupon serve` goes through (`wxcoupon_tests::v3_gateway`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_under_jco_serve_and_wasmtime_serve_needs_no_egress_proxy() {
    let jco = require("jco", find_jco());
    let wasmtime = require("wasmtime", find_wasmtime());
    let (Some(jco), Some(wasmtime)) = (jco, wasmtime) else {
        return;
    };
    let started = Instant::now();
    let up = Upstream::start().await;
    let settings = wxcoupon_core::v3::merchant::MerchantSettings {
        base_url: Some(up.plain_url()),
        ..up.sim.v3_merchant_settings()
    };
    let mut env = ServeConfig::v3_env(&settings, Some(APPID), None);
    env.push((
        "WXPAY_GATEWAY_TOKENS".into(),
        wxcoupon_tests::v3_gateway::CALLERS.into(),
    ));
    let (jco, wasmtime) = (Runtime::Jco(jco), Runtime::Wasmtime(wasmtime));
    let (jco_served, wasmtime_served) =
        tokio::join!(serve(&jco, &env, None), serve(&wasmtime, &env, None),);
    let ready = started.elapsed();
    wxcoupon_tests::v3_gateway::programme(jco_served.addr, &up.sim, "jco").await;
    wxcoupon_tests::v3_gateway::programme(wasmtime_served.addr, &up.sim, "wasmtime").await;
    // `--env NAME` kept the keys off wasmtime's command line and out of its output.
    let key = settings.private_key_pem.as_deref().unwrap();
    let key_line = key.lines().nth(1).unwrap();
    for output in [jco_served.output(), wasmtime_served.output()] {
        assert!(
            !output.contains(key_line),
            "the private key in a runtime's output"
        );
        assert!(
            !output.contains(&settings.apiv3_key),
            "the APIv3 key in a runtime's output"
        );
    }
    tear_down(vec![jco_served, wasmtime_served], up).await;
    eprintln!(
        "v3 under jco serve and wasmtime serve: ready in {} ms, whole test {} ms",
        ready.as_millis(),
        started.elapsed().as_millis()
    );
}

/// Kills the runtimes, whose process groups must all be gone, then stops the upstream: the
/// proxy refused nothing, and no secret reached the logs.
async fn tear_down(runtimes: Vec<HostProcess>, up: Upstream) {
    let groups: Vec<u32> = runtimes.iter().map(HostProcess::pid).collect();
    drop(runtimes);
    assert_all_gone(&groups);
    let stats = up.stop().await;
    assert_eq!(stats.refused, 0, "{stats:?}");
    assert_no_secrets_in_logs();
}

/// Every process of these groups has exited (killed processes are reaped at once; their
/// children shortly after).
fn assert_all_gone(groups: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while groups.iter().any(|g| hosts::process_group_alive(*g)) {
        assert!(
            Instant::now() < deadline,
            "a runtime process outlived its test"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// No log line carries the key; the proxy's and the outbound client's carry no body and no
/// openid either.
fn assert_no_secrets_in_logs() {
    let logs = logs();
    assert!(!logs.contains(API_KEY), "the API key in the logs");
    for line in logs
        .lines()
        .filter(|l| l.contains("wxcoupon::egress") || l.contains("wxcoupon::outbound"))
    {
        assert!(!line.contains("<xml"), "a body in the logs: {line}");
        assert!(!line.contains("o-hosts-"), "an openid in the logs: {line}");
    }
}

/// The reference host serving the component (a stand-in for Spin): its outbound client has no
/// certificate and may reach only `base_url` — the proxy supplies the certificate.
struct InProcessGateway(Gateway);

impl InProcessGateway {
    /// `ca_pem`: any CA (never used: the proxy is plain HTTP), as a root store must not be
    /// empty.
    async fn start(base_url: &str, ca_pem: &str) -> InProcessGateway {
        let client = OutboundClient::new(OutboundConfig {
            identity: None,
            allow: AllowList::deny_all().with_base_url(base_url).unwrap(),
            use_system_roots: false,
            extra_ca_pem: Some(ca_pem.as_bytes().to_vec()),
            ..OutboundConfig::default()
        })
        .unwrap();
        InProcessGateway(
            Gateway::start(ServeConfig {
                component_env: component_env(base_url, &[]),
                hooks: Arc::new(move || Box::new(client.hooks())),
                ..ServeConfig::default()
            })
            .await,
        )
    }

    fn addr(&self) -> SocketAddr {
        self.0.addr
    }

    async fn stop(self) {
        let stats = self.0.stop().await;
        assert_eq!(stats.failed, 0, "{stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wxcoupon_serve_issues_through_the_egress_proxy() {
    // Needs no external tool: the same scenario as under jco / wasmtime serve.
    let up = Upstream::start().await;
    let gateway = InProcessGateway::start(&up.egress_url(), up.sim.ca_pem()).await;
    coupon_api(gateway.addr(), &up, "wxcoupon serve").await;
    gateway.stop().await;
    let stats = up.stop().await;
    assert!(stats.forwarded >= 10, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_no_secrets_in_logs();
    // One access line per request at target wxcoupon::egress, with no query string.
    let logs = logs();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("wxcoupon::egress") && l.contains("egress request"))
        .collect();
    assert!(lines
        .iter()
        .any(|l| l.contains("path=/mmpaymkttransfers/send_coupon")));
    assert!(lines.iter().all(|l| !l.contains('?')));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_egress_proxy_from_variables() {
    // What `wxcoupon egress` does: WXPAY_* variables naming certificate files → EgressConfig.
    logs();
    let dir = temp_dir("egress-certs");
    let sim = Simulator::start(SimulatorConfig {
        cert_dir: Some(dir.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let path = |file| sim.cert_path(file).unwrap().display().to_string();
    let config = EgressConfig::from_vars([
        ("WXPAY_EGRESS_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("WXPAY_EGRESS_UPSTREAM".to_string(), sim.https_base_url()),
        ("WXPAY_CERT_FILE".to_string(), path(CertFile::ClientCert)),
        ("WXPAY_KEY_FILE".to_string(), path(CertFile::ClientKey)),
        ("WXPAY_CA_FILE".to_string(), path(CertFile::Ca)),
        (
            "WXPAY_FIRST_BYTE_TIMEOUT_MS".to_string(),
            "4000".to_string(),
        ),
        // Not the proxy's business: ignored.
        ("WXPAY_API_KEY".to_string(), API_KEY.to_string()),
        (
            "WXPAY_BASE_URL".to_string(),
            "http://127.0.0.1:1".to_string(),
        ),
    ])
    .expect("a usable configuration");
    assert!(!format!("{config:?}").contains(API_KEY));
    assert_eq!(
        config.outbound.timeouts.first_byte,
        Duration::from_millis(4000)
    );
    let proxy = EgressProxy::bind(config).await.unwrap();
    let egress = format!("http://{}", proxy.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(proxy.run_until(async {
        let _ = stopped.await;
    }));

    let gateway = InProcessGateway::start(&egress, sim.ca_pem()).await;
    let issued = post_coupon(
        gateway.addr(),
        &json!({"stock_id": "1758", "openid": "o-vars"}),
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    assert_eq!(sim.coupons().len(), 1);
    gateway.stop().await;
    let _ = stop.send(());
    let stats = task.await.unwrap().unwrap();
    assert_eq!(stats.forwarded, 1, "{stats:?}");
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_egress_proxy_forwards_only_wechat_paths() {
    let up = Upstream::start().await;
    let addr = up.egress;

    let health = get(addr, "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json["client_certificate"], true);

    let xml = |body: &str| Some(("text/xml", body.as_bytes().to_vec()));
    for path in [
        "/pay/unifiedorder",
        "/secapi/pay/refund",
        // Transfers and red packets live beside the coupons: never with the certificate.
        "/mmpaymkttransfers/promotion/transfers",
        "/mmpaymkttransfers/sendredpack",
        "/sandboxnew/mmpaymkttransfers/promotion/transfers",
        // `;` path parameters some servers strip (`..;` is `..` to them).
        "/mmpaymkttransfers/..;/secapi/pay/refund",
        "/mmpaymkttransfers/send_coupon;/../../secapi/pay/refund",
        "/mmpaymkttransfers/../secapi/pay/refund",
        "/mmpaymkttransfers/%2e%2e/secapi/pay/refund",
        "/mmpaymkttransfers//send_coupon",
        "/",
    ] {
        let answer = try_request(addr, "POST", path, xml("<xml></xml>"))
            .await
            .unwrap();
        assert_eq!(answer.status, 403, "{path}: {}", answer.text);
        assert_eq!(answer.code(), "EGRESS_PATH_REFUSED", "{path}");
    }
    let put = try_request(addr, "PUT", "/mmpaymkttransfers/send_coupon", None)
        .await
        .unwrap();
    assert_eq!(put.status, 405);
    assert_eq!(put.headers["allow"], "POST, GET");
    let big = "x".repeat(wxcoupon::egress::MAX_REQUEST_BODY_BYTES + 1);
    let too_large = try_request(addr, "POST", "/mmpaymkttransfers/send_coupon", xml(&big))
        .await
        .unwrap();
    assert_eq!(too_large.status, 413);
    assert_eq!(up.sim.requests_seen(), 0, "a refused request went out");

    // An absolute-form target naming another host still goes to the upstream only.
    let absolute = try_request(
        addr,
        "POST",
        "http://evil.invalid/mmpaymkttransfers/query_coupon_stock",
        xml("<xml><appid>x</appid></xml>"),
    )
    .await
    .unwrap();
    assert_eq!(absolute.status, 200, "{}", absolute.text);
    assert!(absolute.text.contains("<return_code>"), "{}", absolute.text);
    assert_eq!(up.sim.requests_seen(), 1);
    // A query needs no certificate, so it went without one.
    assert_eq!(up.egress_client.requests_with_certificate(), 0);

    // `\` separators, which some servers read as `/`, sent raw (no client library would).
    let raw = raw_request(
        addr,
        "POST /mmpaymkttransfers\\..\\secapi\\pay\\refund HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    assert!(
        raw.starts_with("HTTP/1.1 403") || raw.starts_with("HTTP/1.1 400"),
        "{raw}"
    );
    assert_eq!(up.sim.requests_seen(), 1, "a refused request went out");

    let stats = up.stop().await;
    assert_eq!(
        stats.refused,
        13 + u64::from(raw.starts_with("HTTP/1.1 403")),
        "{stats:?}"
    );
    assert_eq!(stats.forwarded, 1, "{stats:?}");
}

/// Writes `request` as it is to `addr` and returns what comes back before the server closes or
/// 2 s pass.
async fn raw_request(addr: SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut out))
        .await
        .map(|r| r.unwrap_or(0))
        .unwrap_or(0);
    String::from_utf8_lossy(&out[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_egress_proxy_answers_502_when_the_upstream_is_down() {
    logs();
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    // A port nothing listens on.
    let dead = format!("https://127.0.0.1:{}", free_port());
    let (addr, _client, stop, task) = start_egress(&sim, &dead).await;
    let answer = try_request(
        addr,
        "POST",
        "/mmpaymkttransfers/send_coupon",
        Some(("text/xml", b"<xml></xml>".to_vec())),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 502, "{}", answer.text);
    assert_eq!(answer.code(), "EGRESS_UPSTREAM_FAILED");
    assert!(
        answer.field("message").contains("refused"),
        "{}",
        answer.text
    );
    let _ = stop.send(());
    let stats = task.await.unwrap().unwrap();
    assert_eq!(stats.failed, 1, "{stats:?}");
    sim.shutdown().await;
}

// ---- spin.toml ----

/// Every `WXPAY_*` name the component reads: the gateway's settings in the core's table (the
/// guest reads no other variable).
fn component_variables() -> std::collections::BTreeSet<String> {
    wxcoupon_core::settings::GATEWAY_SETTINGS
        .iter()
        .filter_map(|s| s.variable)
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_manifest_matches_the_component() {
    let path = hosts::repo_root().join("spin.toml");
    let text = std::fs::read_to_string(&path).expect("spin.toml at the repository root");
    let manifest: toml::Table = toml::from_str(&text).expect("spin.toml is TOML");

    assert_eq!(manifest["spin_manifest_version"].as_integer(), Some(2));
    assert!(manifest["application"]["name"].as_str().is_some());
    let triggers = manifest["trigger"]["http"]
        .as_array()
        .expect("[[trigger.http]]");
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0]["route"].as_str(), Some("/..."));
    let id = triggers[0]["component"].as_str().expect("a component id");
    let component = manifest["component"][id]
        .as_table()
        .expect("the trigger's component");

    // The source is the component's .wasm, as the build command makes it.
    let source = component["source"].as_str().unwrap();
    assert!(source.ends_with("/wxcoupon_guest.wasm"), "{source}");
    let build = component["build"]["command"].as_str().unwrap();
    for part in [
        "-p wxcoupon-guest",
        "--target wasm32-wasip2",
        "--profile component",
    ] {
        assert!(build.contains(part), "{build}");
    }
    let built_into = build
        .split("--target-dir ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("--target-dir");
    assert_eq!(
        source,
        format!("{built_into}/wasm32-wasip2/component/wxcoupon_guest.wasm")
    );

    // Outbound: WeChat Pay's hosts, with schemes, and the egress proxy on loopback.
    let outbound: Vec<&str> = component["allowed_outbound_hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for host in [
        "https://api.mch.weixin.qq.com",
        "https://api2.mch.weixin.qq.com",
    ] {
        assert!(outbound.contains(&host), "{outbound:?}");
    }
    assert!(outbound.iter().all(|h| h.contains("://")), "{outbound:?}");

    // Environment: only names the component reads, the required ones present, strings only.
    let known = component_variables();
    assert!(known.len() >= 12, "{known:?}");
    let environment = component["environment"].as_table().unwrap();
    for (name, value) in environment {
        assert!(known.contains(name), "{name} is not read by the component");
        assert!(value.is_str(), "{name} must be a string");
    }
    for name in ["WXPAY_APPID", "WXPAY_MCH_ID", "WXPAY_API_KEY"] {
        assert!(environment.contains_key(name), "{name} missing");
    }
    // What the reference host passes is a subset of what the component reads.
    let host = wxcoupon::config::HostConfig::load(
        None,
        component_env("https://127.0.0.1:1", &[]),
        &Default::default(),
    )
    .unwrap();
    for (name, _) in ServeConfig::component_env(&host) {
        assert!(known.contains(&name), "{name}");
    }
    // The proxy's address is allowed when the component is pointed at it.
    let base = environment["WXPAY_BASE_URL"].as_str().unwrap();
    assert!(outbound.contains(&base), "{base} not in {outbound:?}");

    // Placeholders, never a key: the file as committed is refused by the component itself...
    let key = environment["WXPAY_API_KEY"].as_str().unwrap();
    assert_ne!(key.len(), 32, "WXPAY_API_KEY looks like a real key");
    let vars: Vec<(String, String)> = environment
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let health = health_with_env(vars.clone()).await;
    assert_eq!(health.status, 503, "{}", health.text);
    assert!(
        health.field("message").contains("WXPAY_API_KEY"),
        "{}",
        health.text
    );
    // ...and with the placeholders filled in, the component accepts every variable.
    let filled: Vec<(String, String)> = vars
        .into_iter()
        .map(|(k, v)| {
            let v = match k.as_str() {
                "WXPAY_APPID" => APPID.to_string(),
                "WXPAY_MCH_ID" => MCH_ID.to_string(),
                "WXPAY_API_KEY" => API_KEY.to_string(),
                _ => v,
            };
            (k, v)
        })
        .collect();
    let health = health_with_env(filled).await;
    assert_eq!(health.status, 200, "{}", health.text);

    // Spin runs components whose imports are all WASI, exporting incoming-handler.
    let description = wxcoupon_tests::runtime().describe();
    assert!(
        description.imports.iter().all(|i| i.starts_with("wasi:")),
        "{:?}",
        description.imports
    );
    assert!(
        description
            .exports
            .iter()
            .any(|e| e.starts_with("wasi:http/incoming-handler@0.2.")),
        "{:?}",
        description.exports
    );
}

/// `GET /healthz` of the component (in the reference host) with `env` as its environment.
async fn health_with_env(env: Vec<(String, String)>) -> hosts::Answer {
    let gateway = Gateway::start(ServeConfig {
        component_env: env,
        ..ServeConfig::default()
    })
    .await;
    let answer = get(gateway.addr, "/healthz").await;
    gateway.stop().await;
    answer
}

#[test]
fn npm_project_pins_exact_versions() {
    let dir = hosts::gateway_hosts_dir();
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).unwrap()).unwrap();
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("package-lock.json")).unwrap())
            .unwrap();
    for (name, version) in [
        ("@bytecodealliance/jco", hosts::JCO_VERSION),
        ("@bytecodealliance/preview2-shim", "0.26.1"),
    ] {
        assert_eq!(package["devDependencies"][name], version, "{name}");
        assert_eq!(
            lock["packages"][format!("node_modules/{name}")]["version"],
            version,
            "{name} in package-lock.json"
        );
    }
}
