//! The wire: listeners (HTTPS, optionally plain HTTP), TLS handshakes with optional client
//! certificates, HTTP/1.1 with keep-alive (hyper), routing (v2 paths to `handlers`, `/v3/` paths
//! to [`crate::v3`]), fault injection at the connection and HTTP level, v3 answer signing,
//! counters, and graceful shutdown. [`RunningSimulator`] is the handle to all of it.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};
use wxcoupon_core::v3::aead::ApiV3Key;
use wxcoupon_core::v3::auth::SERIAL_HEADER;
use wxcoupon_core::v3::merchant::MerchantSettings;
use wxcoupon_core::{ApiHost, ApiKey, Merchant};

use crate::certs::{
    write_file, CertBundle, CA_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE, SERVER_CERT_FILE,
    SERVER_KEY_FILE,
};
use crate::config::SimulatorConfig;
use crate::faults::{FaultSwitch, Faults};
use crate::handlers::{self, Context as HandlerContext, Incoming as HandlerIncoming, Keys};
use crate::routes::{route, Environment};
use crate::state::{CouponUse, IssuedCoupon, State, StockSnapshot, UseError};
use crate::v3::auth::{sign_answer, MerchantIdentity};
use crate::v3::flows::FlowStore;
use crate::v3::keys::PlatformKeys;
use crate::v3::notify::{DeliveryRecord, Notifier};
use crate::v3::{
    self, fixtures, FLOWS_PATH, MERCHANT_CERT_FILE, MERCHANT_KEY_FILE, PLATFORM_CERT_FILE,
    USE_COUPON_PATH, WECHATPAY_PUBLIC_KEY_FILE,
};

/// Largest request body read; anything longer is answered as unreadable XML.
pub const MAX_REQUEST_BODY: usize = 64 * 1024;
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send the request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `shutdown` lets in-flight requests finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a truncated answer stays open after its first half, before the close.
const TRUNCATE_LINGER: Duration = Duration::from_millis(100);
/// The `Content-Type` of XML answers. WeChat's exact header is not documented; clients must not
/// depend on it.
const XML_CONTENT_TYPE: &str = "text/plain; charset=UTF-8";
/// The `Content-Type` of the plain-text error pages (404, 405, 400).
const TEXT_CONTENT_TYPE: &str = "text/plain; charset=UTF-8";
/// The `Content-Type` of v3 answers with a body.
const JSON_CONTENT_TYPE: &str = "application/json";

/// API v3's keys: the merchant requests come from, the APIv3 key, WeChat Pay's side.
struct V3Shared {
    merchant: MerchantIdentity,
    apiv3_key: ApiV3Key,
    keys: Arc<Mutex<PlatformKeys>>,
    /// The flow files handed out.
    flows: Mutex<FlowStore>,
    /// Callback delivery.
    notifier: Arc<Notifier>,
}

/// Everything the connections share.
struct Shared {
    config: SimulatorConfig,
    keys: Keys,
    v3: V3Shared,
    state: Mutex<State>,
    faults: FaultSwitch,
    /// `https://127.0.0.1:PORT`.
    https_base: String,
    /// `http://127.0.0.1:PORT`, with a plain listener.
    http_base: Option<String>,
    handshakes: AtomicU64,
    connections: AtomicU64,
    requests: AtomicU64,
}

/// Starts simulators.
#[derive(Debug, Clone, Copy, Default)]
pub struct Simulator;

impl Simulator {
    /// Validates `config`, makes fresh certificates (written to `config.cert_dir` if set), binds
    /// the listeners and starts serving on the current Tokio runtime. The returned handle stops
    /// the simulator when dropped; [`RunningSimulator::shutdown`] stops it gracefully.
    pub async fn start(config: SimulatorConfig) -> anyhow::Result<RunningSimulator> {
        config.validate()?;
        let keys = Keys {
            production: ApiKey::new(config.api_key.clone())
                .map_err(|e| anyhow::anyhow!("api_key: {e}"))?,
            sandbox: ApiKey::new(config.sandbox_key.clone())
                .map_err(|e| anyhow::anyhow!("sandbox_key: {e}"))?,
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let platform_keys = Arc::new(Mutex::new(PlatformKeys::new(&config.v3)?));
        let v3 = V3Shared {
            merchant: MerchantIdentity::new(&config.mch_id, &config.v3.merchant_certificate_pem)?,
            apiv3_key: ApiV3Key::new(&config.v3.apiv3_key)
                .map_err(|rule| anyhow::anyhow!("v3.apiv3_key {rule}"))?,
            notifier: Arc::new(Notifier::new(
                &config,
                platform_keys.clone(),
                shutdown_rx.clone(),
            )?),
            keys: platform_keys,
            flows: Mutex::new(FlowStore::default()),
        };
        let certs = CertBundle::generate(&config.mch_id)?;
        if let Some(dir) = &config.cert_dir {
            certs.write_to(dir)?;
            let public_key_pem = v3.keys.lock().map(|k| k.public_key_pem().to_string());
            let public_key_pem = public_key_pem.unwrap_or_default();
            for (file, contents, private) in [
                (WECHATPAY_PUBLIC_KEY_FILE, public_key_pem.as_str(), false),
                (
                    PLATFORM_CERT_FILE,
                    config.v3.platform_certificate_pem.as_str(),
                    false,
                ),
                (MERCHANT_KEY_FILE, fixtures::MERCHANT_KEY_PEM, true),
                (
                    MERCHANT_CERT_FILE,
                    config.v3.merchant_certificate_pem.as_str(),
                    false,
                ),
            ] {
                write_file(&dir.join(file), contents, private)?;
            }
        }
        let acceptor = TlsAcceptor::from(certs.server_config()?);

        let listen = config
            .listen
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
        let https = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the HTTPS listener on {listen}"))?;
        let https_addr = https.local_addr()?;
        let plain = if config.plain_http || config.plain_listen.is_some() {
            let addr = config
                .plain_listen
                .unwrap_or(SocketAddr::new(https_addr.ip(), 0));
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the plain-HTTP listener on {addr}"))?;
            Some(listener)
        } else {
            None
        };
        let http_addr = plain.as_ref().map(TcpListener::local_addr).transpose()?;

        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(&config.stocks)),
            faults: FaultSwitch::new(config.faults.clone()),
            https_base: format!("https://{}", reachable(https_addr)),
            http_base: http_addr.map(|a| format!("http://{}", reachable(a))),
            keys,
            v3,
            config,
            handshakes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        });
        let mut tasks = vec![tokio::spawn(accept_loop(
            https,
            Some(acceptor),
            shared.clone(),
            shutdown_rx.clone(),
        ))];
        if let Some(listener) = plain {
            tasks.push(tokio::spawn(accept_loop(
                listener,
                None,
                shared.clone(),
                shutdown_rx,
            )));
        }
        info!(
            https = %https_addr,
            http = ?http_addr,
            appid = %shared.config.appid,
            mch_id = %shared.config.mch_id,
            stocks = shared.config.stocks.len(),
            sign_responses = shared.config.sign_responses,
            "wxcoupon simulator listening"
        );
        Ok(RunningSimulator {
            cert_dir: shared.config.cert_dir.clone(),
            shared,
            https_addr,
            http_addr,
            certs,
            shutdown,
            tasks,
        })
    }
}

/// A running simulator. Dropping it stops every listener and connection at once;
/// [`RunningSimulator::shutdown`] lets in-flight requests finish first.
pub struct RunningSimulator {
    shared: Arc<Shared>,
    https_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    certs: CertBundle,
    cert_dir: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSimulator")
            .field("https_addr", &self.https_addr)
            .field("http_addr", &self.http_addr)
            .field("cert_dir", &self.cert_dir)
            .finish_non_exhaustive()
    }
}

/// The address clients should use: loopback in place of an unspecified address.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

impl RunningSimulator {
    /// The HTTPS listener's address.
    pub fn https_addr(&self) -> SocketAddr {
        reachable(self.https_addr)
    }

    /// The plain-HTTP listener's address, when one was opened.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr.map(reachable)
    }

    /// `https://127.0.0.1:PORT` (no trailing slash): the base URL to put in front of the API
    /// paths (and the `/sandboxnew` prefix).
    pub fn https_base_url(&self) -> String {
        format!("https://{}", self.https_addr())
    }

    /// `http://127.0.0.1:PORT` when a plain-HTTP listener was opened.
    pub fn http_base_url(&self) -> Option<String> {
        self.http_addr().map(|a| format!("http://{a}"))
    }

    /// The CA certificate (PEM) that signed the server and client certificates: trust it.
    pub fn ca_pem(&self) -> &str {
        &self.certs.ca_pem
    }

    /// The merchant's client certificate (PEM, CN = mch_id), needed by `send_coupon`.
    pub fn client_cert_pem(&self) -> &str {
        &self.certs.client_pem
    }

    /// The client certificate's private key (PKCS#8 PEM).
    pub fn client_key_pem(&self) -> &str {
        &self.certs.client_key_pem
    }

    /// The directory the PEM files were written to, when `cert_dir` was configured.
    pub fn cert_dir(&self) -> Option<&Path> {
        self.cert_dir.as_deref()
    }

    /// The path of one written PEM file (`ca.pem`, `server.pem`, `server-key.pem`, `client.pem`,
    /// `client-key.pem`, and for v3 `platform_pub.pem`, `platform_cert.pem`, `merchant_key.pem`,
    /// `merchant_cert.pem`), when `cert_dir` was configured.
    pub fn cert_path(&self, file: CertFile) -> Option<PathBuf> {
        self.cert_dir.as_ref().map(|d| d.join(file.file_name()))
    }

    /// The configuration it runs with (its `Debug` output redacts the keys).
    pub fn config(&self) -> &SimulatorConfig {
        &self.shared.config
    }

    /// A [`Merchant`] for this simulator: its appid and mch_id, the production key (or for the
    /// sandbox, the sandbox key with `sandbox` set), and the HTTPS base URL as host.
    pub fn merchant(&self, environment: Environment) -> Merchant {
        let config = &self.shared.config;
        let (key, sandbox) = match environment {
            Environment::Production => (&self.shared.keys.production, false),
            Environment::Sandbox => (&self.shared.keys.sandbox, true),
        };
        let mut merchant = Merchant::new(config.appid.clone(), config.mch_id.clone(), key.clone());
        merchant.host = ApiHost::Custom(self.https_base_url());
        merchant.sandbox = sandbox;
        merchant
    }

    /// The WeChat Pay public key id v3 answers signed with the platform key carry as
    /// `Wechatpay-Serial` (`v3.public_key_id`).
    pub fn v3_public_key_id(&self) -> &str {
        &self.shared.config.v3.public_key_id
    }

    /// The WeChat Pay public key (SPKI PEM, `BEGIN PUBLIC KEY`) of the platform key: what a
    /// merchant in public-key mode verifies answers with (also written as `platform_pub.pem`).
    pub fn v3_public_key_pem(&self) -> String {
        self.lock_v3_keys().public_key_pem().to_string()
    }

    /// The serials of the platform certificates currently listed, the current (newest) one
    /// first, then older ones newest first.
    pub fn platform_certificate_serials(&self) -> Vec<String> {
        self.lock_v3_keys().serials()
    }

    /// The platform certificates (PEM), in the order of
    /// [`RunningSimulator::platform_certificate_serials`].
    pub fn platform_certificate_pems(&self) -> Vec<String> {
        self.lock_v3_keys()
            .certificates()
            .into_iter()
            .map(|c| c.pem)
            .collect()
    }

    /// Rotates the platform certificate: mints one for `v3.rotated_platform_key_pem` with a new
    /// serial (`7E57C0DE…F2`, then `…F3`, …) that expires five years after the current one, and
    /// makes it the current one; the old one stays listed by `/v3/certificates` until it
    /// expires, and answers naming it are signed with the new one. Returns the new serial.
    ///
    /// # Panics
    ///
    /// If rcgen cannot sign the certificate (the key was checked at start, so only on a bug).
    pub fn rotate_platform_certificate(&self) -> String {
        let serial = self
            .lock_v3_keys()
            .rotate(unix_now())
            .expect("minting the rotated platform certificate");
        info!(serial = %serial, "v3 platform certificate rotated");
        serial
    }

    /// Settings for a v3 [`wxcoupon_core::v3::merchant::Merchant`] talking to this simulator:
    /// its mchid, the merchant certificate's serial, the APIv3 key, the fixture merchant private
    /// key (TEST ONLY; it matches the default `v3.merchant_certificate_pem` only), the WeChat
    /// Pay public key and id, the platform certificates listed now (callbacks may come under
    /// either key: see [`crate::CallbackKey`]), and the HTTPS base URL. Requests from it name the
    /// public key, so answers stay signed under the public key id.
    pub fn v3_merchant_settings(&self) -> MerchantSettings {
        let config = &self.shared.config;
        MerchantSettings {
            mchid: config.mch_id.clone(),
            merchant_serial_no: self.shared.v3.merchant.serial().to_string(),
            apiv3_key: config.v3.apiv3_key.clone(),
            private_key_pem: Some(fixtures::MERCHANT_KEY_PEM.to_string()),
            wechatpay_public_key_id: Some(config.v3.public_key_id.clone()),
            wechatpay_public_key_pem: Some(self.v3_public_key_pem()),
            platform_certificates: self.platform_certificate_pems(),
            base_url: Some(self.https_base_url()),
        }
    }

    fn lock_v3_keys(&self) -> std::sync::MutexGuard<'_, PlatformKeys> {
        self.shared
            .v3
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Completed TLS handshakes so far (a client reusing connections keeps this low).
    pub fn handshakes(&self) -> u64 {
        self.shared.handshakes.load(Ordering::Relaxed)
    }

    /// Accepted TCP connections so far, on both listeners.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// HTTP requests received so far, whatever their path or outcome.
    pub fn requests_seen(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Arms `faults` for the following requests, replacing whatever was armed.
    pub fn set_faults(&self, faults: Faults) -> anyhow::Result<()> {
        faults.validate()?;
        self.shared.faults.set(faults);
        Ok(())
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.shared.faults.set(Faults::default());
    }

    /// The armed faults (with `times` counted down so far).
    pub fn faults(&self) -> Faults {
        self.shared.faults.get()
    }

    /// A production stock as it stands now (its counter counts both APIs' coupons).
    pub fn stock(&self, coupon_stock_id: &str) -> Option<StockSnapshot> {
        self.stock_in(Environment::Production, coupon_stock_id)
    }

    /// A stock of either system as it stands now.
    pub fn stock_in(
        &self,
        environment: Environment,
        coupon_stock_id: &str,
    ) -> Option<StockSnapshot> {
        self.lock_state().stock(environment, coupon_stock_id)
    }

    /// The coupons issued in production (by either API), in issue order.
    pub fn coupons(&self) -> Vec<IssuedCoupon> {
        self.coupons_in(Environment::Production)
    }

    /// The coupons issued by either system, in issue order.
    pub fn coupons_in(&self, environment: Environment) -> Vec<IssuedCoupon> {
        self.lock_state().coupons(environment)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Uses a production coupon (issued by either API) as a payment would: marks it `USED`
    /// with `consume_information` (v3 queries and lists show it), adds its row to the stock's
    /// use flow, and — when the stock creator's callback is set with its switch on — starts
    /// delivering a `COUPON.USE` callback in the background (see [`crate::v3::notify`]).
    /// Returns the event id (also when no callback is set: then nothing is delivered).
    ///
    /// Errors: an unknown coupon, one used already, an order below the stock's minimum
    /// ([`UseError`]).
    pub fn use_coupon(&self, coupon_id: &str, usage: CouponUse) -> anyhow::Result<String> {
        Ok(self.shared.use_coupon(coupon_id, usage)?)
    }

    /// Every callback delivery attempt so far, in the order they ended.
    pub fn notifications(&self) -> Vec<DeliveryRecord> {
        self.shared.v3.notifier.records()
    }

    /// Waits up to `timeout` for the event's last attempt — delivered (2xx) or given up after
    /// the retry schedule — and returns it.
    pub async fn wait_delivered(
        &self,
        event_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<DeliveryRecord> {
        self.shared.v3.notifier.wait(event_id, timeout).await
    }

    /// POSTs a signature probe (`Wechatpay-Signature: WECHATPAY/SIGNTEST/…`) to the merchant's
    /// notify URL (through `notify_via`), once, and returns the receiver's status. Errors: no
    /// notify URL set, or no answer.
    pub async fn send_probe(&self) -> anyhow::Result<u16> {
        let shared = &self.shared;
        let setting = self
            .lock_state()
            .callback(&shared.config.mch_id)
            .ok_or_else(|| anyhow::anyhow!("no notify URL is set for {}", shared.config.mch_id))?;
        let url = shared
            .v3
            .notifier
            .target(&setting.notify_url)
            .map_err(|e| anyhow::anyhow!(e))?;
        shared.v3.notifier.probe(&url, &shared.v3.apiv3_key).await
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 seconds), closes idle
    /// keep-alive connections, stops callback deliveries, and returns when everything has
    /// stopped.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        self.shared.v3.notifier.finish(SHUTDOWN_GRACE).await;
        info!("wxcoupon simulator stopped");
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
        self.shared.v3.notifier.abort();
    }
}

impl Shared {
    /// See [`RunningSimulator::use_coupon`].
    fn use_coupon(&self, coupon_id: &str, usage: CouponUse) -> Result<String, UseError> {
        let now = unix_now();
        let mchid = &self.config.mch_id;
        let (coupon, stock, used, callback) = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let (coupon, stock, used) = state.use_coupon(
                coupon_id,
                usage,
                mchid,
                || {
                    let n: u64 = coupon_id.parse().unwrap_or(0);
                    format!("4200000000{n:018}")
                },
                now,
            )?;
            let creator = stock.seed.stock_creator_mchid.as_deref().unwrap_or(mchid);
            let callback = state.callback(creator);
            (coupon, stock, used, callback)
        };
        let event_id = v3::notify::event_id();
        let answer = v3::handlers::coupon_answer(mchid, &coupon, &stock, Some(&used));
        info!(coupon_id, event_id = %event_id, "coupon used");
        match callback {
            Some(setting) if setting.enabled => {
                match self.v3.notifier.target(&setting.notify_url) {
                    Ok(url) => {
                        let body = v3::notify::coupon_use_body(
                            &self.v3.apiv3_key,
                            &event_id,
                            &answer,
                            now,
                        );
                        self.v3.notifier.deliver(event_id.clone(), url, body);
                    }
                    Err(e) => warn!(error = %e, "the notify URL cannot be called"),
                }
            }
            _ => debug!(
                coupon_id,
                "no callback set (or switched off): nothing delivered"
            ),
        }
        Ok(event_id)
    }
}

/// The PEM files written to the certificate directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertFile {
    /// `ca.pem`.
    Ca,
    /// `server.pem`.
    ServerCert,
    /// `server-key.pem`.
    ServerKey,
    /// `client.pem`.
    ClientCert,
    /// `client-key.pem`.
    ClientKey,
    /// `platform_pub.pem`: the WeChat Pay public key (v3).
    WechatpayPublicKey,
    /// `platform_cert.pem`: the initial platform certificate (v3).
    PlatformCertificate,
    /// `merchant_key.pem`: the merchant API private key, the TEST ONLY fixture key (v3), so a
    /// demo can point at a file.
    MerchantApiKey,
    /// `merchant_cert.pem`: the merchant API certificate (v3).
    MerchantApiCertificate,
}

impl CertFile {
    /// The file's name.
    pub fn file_name(self) -> &'static str {
        match self {
            CertFile::Ca => CA_FILE,
            CertFile::ServerCert => SERVER_CERT_FILE,
            CertFile::ServerKey => SERVER_KEY_FILE,
            CertFile::ClientCert => CLIENT_CERT_FILE,
            CertFile::ClientKey => CLIENT_KEY_FILE,
            CertFile::WechatpayPublicKey => WECHATPAY_PUBLIC_KEY_FILE,
            CertFile::PlatformCertificate => PLATFORM_CERT_FILE,
            CertFile::MerchantApiKey => MERCHANT_KEY_FILE,
            CertFile::MerchantApiCertificate => MERCHANT_CERT_FILE,
        }
    }
}

/// Resolves once shutdown is requested (or the handle is gone).
async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown_requested(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    connections.spawn(connection(
                        tcp,
                        peer,
                        tls.clone(),
                        shared.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

/// How the request handler reaches its connection: to close it without an answer.
#[derive(Default)]
struct ConnControl {
    close: Notify,
    reset: AtomicBool,
}

impl ConnControl {
    /// Closes the connection: abortively (RST) when `reset`, else a plain close.
    fn close(&self, reset: bool) {
        if reset {
            self.reset.store(true, Ordering::SeqCst);
        }
        self.close.notify_one();
    }
}

/// What the handler knows about the connection a request came on.
#[derive(Clone, Copy, Debug)]
struct ConnInfo {
    peer: SocketAddr,
    tls: bool,
    client_cert: bool,
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    shared.connections.fetch_add(1, Ordering::Relaxed);
    let _ = tcp.set_nodelay(true);
    // A second handle on the socket, used only to make a `reset_connection` close abortive.
    let std_tcp = match tcp.into_std() {
        Ok(s) => s,
        Err(e) => {
            debug!(%peer, error = %e, "cannot take the socket over");
            return;
        }
    };
    let raw = std_tcp.try_clone().ok();
    let tcp = match TcpStream::from_std(std_tcp) {
        Ok(t) => t,
        Err(e) => {
            debug!(%peer, error = %e, "cannot register the socket");
            return;
        }
    };
    let control = Arc::new(ConnControl::default());
    match tls {
        None => {
            let info = ConnInfo {
                peer,
                tls: false,
                client_cert: false,
            };
            serve(tcp, info, shared, control, raw, shutdown).await;
        }
        Some(acceptor) => {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            shared.handshakes.fetch_add(1, Ordering::Relaxed);
            let client_cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|certs| !certs.is_empty());
            debug!(%peer, client_cert, "TLS handshake completed");
            let info = ConnInfo {
                peer,
                tls: true,
                client_cert,
            };
            serve(stream, info, shared, control, raw, shutdown).await;
        }
    }
}

async fn serve<I>(
    io: I,
    info: ConnInfo,
    shared: Arc<Shared>,
    control: Arc<ConnControl>,
    raw: Option<std::net::TcpStream>,
    mut shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let control = control.clone();
        service_fn(move |req: Request<Incoming>| {
            let shared = shared.clone();
            let control = control.clone();
            async move { Ok::<_, Infallible>(respond(req, shared, info, control).await) }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(peer = %info.peer, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = control.close.notified() => {
                if control.reset.load(Ordering::SeqCst) {
                    if let Some(raw) = raw {
                        if let Ok(socket) = TcpStream::from_std(raw) {
                            let _ = socket.set_zero_linger();
                        }
                    }
                }
                debug!(peer = %info.peer, "connection closed by a fault");
                break;
            }
            _ = shutdown_requested(&mut shutdown), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn simple(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<SimBody> {
    with_body(status, content_type, SimBody::full(body.into()))
}

fn with_body(status: StatusCode, content_type: &'static str, body: SimBody) -> Response<SimBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

async fn respond(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    info: ConnInfo,
    control: Arc<ConnControl>,
) -> Response<SimBody> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if req.uri().path().starts_with("/v3/simulator/") {
        return respond_simulator(req, shared, info).await;
    }
    if req.uri().path().starts_with("/v3/") {
        return respond_v3(req, shared, info, control).await;
    }
    let method = req.method().clone();
    let Some(route) = route(req.uri().path()) else {
        info!(peer = %info.peer, %method, path = %req.uri().path(), "404 unknown path");
        return simple(StatusCode::NOT_FOUND, TEXT_CONTENT_TYPE, "Not Found");
    };
    let endpoint = route.endpoint.name();
    if method != Method::POST {
        info!(peer = %info.peer, %method, endpoint, "405 method not allowed");
        let mut response = simple(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT_CONTENT_TYPE,
            "Method Not Allowed",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }

    let fault = shared.faults.take(route.endpoint);
    let body = match Limited::new(req.into_body(), MAX_REQUEST_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        // Too long: answered as unreadable XML (the empty body is not an <xml> document).
        Err(e) if e.is::<LengthLimitError>() => Bytes::new(),
        Err(e) => {
            debug!(peer = %info.peer, error = %e, "reading the request body failed");
            return simple(StatusCode::BAD_REQUEST, TEXT_CONTENT_TYPE, "Bad Request");
        }
    };

    // Latency in front of a fault that replaces the answer (reset, status) delays that fault, and
    // nothing is issued. Latency alone delays the answer of a request that has already taken
    // effect, as WeChat's may: a client that gives up waiting has still issued the coupon (the
    // handler is dropped when the client hangs up, so the work must come before the wait).
    let latency = fault.as_ref().map_or(0, |f| f.latency_ms);
    let replaced = fault
        .as_ref()
        .is_some_and(|f| f.reset_connection || f.status.is_some());
    if let Some(f) = &fault {
        if latency > 0 && replaced {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if f.reset_connection {
            info!(peer = %info.peer, endpoint, "fault: connection reset");
            control.close(true);
            return std::future::pending().await;
        }
        if let Some(code) = f.status {
            info!(peer = %info.peer, endpoint, status = code, "fault: HTTP status");
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let reason = status.canonical_reason().unwrap_or("Error");
            let html = format!(
                "<html><head><title>{code} {reason}</title></head><body><h1>{code} {reason}</h1></body></html>"
            );
            return simple(status, "text/html; charset=UTF-8", html);
        }
    }

    let ctx = HandlerContext {
        config: &shared.config,
        keys: &shared.keys,
        state: &shared.state,
    };
    let answer = handlers::handle(
        &ctx,
        &HandlerIncoming {
            route,
            body: &body,
            client_cert: info.client_cert,
            now: unix_now(),
            nonce: handlers::random_nonce(),
        },
        fault.as_ref(),
    );
    info!(
        peer = %info.peer,
        tls = info.tls,
        client_cert = info.client_cert,
        endpoint,
        environment = ?route.environment,
        outcome = %answer.outcome,
        replayed = answer.replayed,
        faulted = fault.is_some(),
        "request"
    );
    if latency > 0 && !replaced {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }

    let xml = Bytes::from(answer.xml);
    if fault.as_ref().is_some_and(|f| f.truncated_body) && xml.len() >= 2 {
        let full_len = xml.len();
        let half = xml.slice(..full_len / 2);
        let mut response = with_body(
            StatusCode::OK,
            XML_CONTENT_TYPE,
            SimBody::truncated(half, control),
        );
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(full_len));
        return response;
    }
    simple(StatusCode::OK, XML_CONTENT_TYPE, xml)
}

/// A v3 request: routed, faulted, handled by [`crate::v3`], and every answer signed.
async fn respond_v3(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    info: ConnInfo,
    control: Arc<ConnControl>,
) -> Response<SimBody> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let request_target = parts
        .uri
        .path_and_query()
        .map_or(path, |pq| pq.as_str())
        .to_string();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let requested_serial = header(SERIAL_HEADER);
    let send = |reply: v3::handlers::Reply, fault: Option<&Faults>| {
        v3_response(&shared, requested_serial.as_deref(), reply, fault, &control)
    };
    let Some(route) = v3::handlers::route(path, parts.method.as_str()) else {
        info!(peer = %info.peer, method = %parts.method, path, "v3 404 unknown path");
        return send(v3::handlers::unknown_path(), None);
    };
    let endpoint = route.endpoint.name();
    if parts.method.as_str() != route.method {
        info!(peer = %info.peer, method = %parts.method, endpoint, "v3 405 method not allowed");
        let mut response = send(v3::handlers::wrong_method(), None);
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(route.allow));
        return response;
    }

    let fault = shared.faults.take(route.endpoint);
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => Some(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => None,
        Err(e) => {
            debug!(peer = %info.peer, error = %e, "reading the request body failed");
            return simple(StatusCode::BAD_REQUEST, TEXT_CONTENT_TYPE, "Bad Request");
        }
    };

    // As for v2: latency in front of a replacing fault delays it; latency alone delays the
    // answer of a request that has already taken effect.
    let latency = fault.as_ref().map_or(0, |f| f.latency_ms);
    let replaced = fault
        .as_ref()
        .is_some_and(|f| f.reset_connection || f.status.is_some());
    if let Some(f) = &fault {
        if latency > 0 && replaced {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if f.reset_connection {
            info!(peer = %info.peer, endpoint, "fault: connection reset");
            control.close(true);
            return std::future::pending().await;
        }
        if let Some(code) = f.status {
            info!(peer = %info.peer, endpoint, status = code, "fault: HTTP status");
            return send(v3::handlers::status_reply(code), fault.as_ref());
        }
    }

    let reply = match &body {
        None => v3::handlers::body_too_long(),
        Some(body) => {
            let ctx = v3::handlers::Context {
                config: &shared.config,
                merchant: &shared.v3.merchant,
                apiv3_key: &shared.v3.apiv3_key,
                keys: &shared.v3.keys,
                state: &shared.state,
                flows: &shared.v3.flows,
                base_url: match (&shared.http_base, info.tls) {
                    (Some(http), false) => http,
                    _ => &shared.https_base,
                },
            };
            let query = parts.uri.query();
            let authorization = header(header::AUTHORIZATION.as_str());
            v3::handlers::handle(
                &ctx,
                &v3::handlers::Incoming {
                    route,
                    method: parts.method.as_str(),
                    request_target: &request_target,
                    query,
                    authorization: authorization.as_deref(),
                    body,
                    now: unix_now(),
                },
                fault.as_ref(),
            )
        }
    };
    info!(
        peer = %info.peer,
        tls = info.tls,
        endpoint,
        status = reply.status,
        outcome = %reply.outcome,
        replayed = reply.replayed,
        faulted = fault.is_some(),
        "v3 request"
    );
    if latency > 0 && !replaced {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    send(reply, fault.as_ref())
}

/// A v3 answer on the wire: signed (and spoiled as `fault` says), JSON when it has a body,
/// truncated by the `truncated_body` fault.
fn v3_response(
    shared: &Shared,
    requested_serial: Option<&str>,
    reply: v3::handlers::Reply,
    fault: Option<&Faults>,
    control: &Arc<ConnControl>,
) -> Response<SimBody> {
    let signed = if reply.signed {
        sign_answer(
            &shared.v3.keys,
            requested_serial,
            reply.body,
            unix_now(),
            fault,
        )
    } else {
        v3::auth::SignedAnswer {
            headers: Vec::new(),
            body: reply.body,
        }
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = Bytes::from(signed.body);
    let truncate = fault.is_some_and(|f| f.truncated_body) && body.len() >= 2;
    let full_len = body.len();
    let mut response = if truncate {
        Response::new(SimBody::truncated(
            body.slice(..full_len / 2),
            control.clone(),
        ))
    } else {
        Response::new(SimBody::full(body))
    };
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if full_len > 0 {
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
    }
    if truncate {
        headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(full_len));
    }
    for (name, value) in signed.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            header::HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    response
}

/// A JSON answer of a simulator-only route (never signed).
fn json_answer(status: StatusCode, body: String) -> Response<SimBody> {
    simple(status, JSON_CONTENT_TYPE, body)
}

fn v3_error(status: StatusCode, code: &str, message: &str) -> Response<SimBody> {
    json_answer(
        status,
        serde_json::json!({ "code": code, "message": message }).to_string(),
    )
}

/// The simulator-only routes (see [`crate::v3`]): flow files and using a coupon.
async fn respond_simulator(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    info: ConnInfo,
) -> Response<SimBody> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let wrong_method = |allow: &'static str| {
        let mut response = v3_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "INVALID_REQUEST",
            "不支持的请求方法",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        response
    };
    if let Some(token) = path
        .strip_prefix(FLOWS_PATH)
        .and_then(|t| t.strip_prefix('/'))
    {
        if parts.method != Method::GET {
            return wrong_method("GET");
        }
        let file = shared
            .v3
            .flows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token);
        info!(peer = %info.peer, found = file.is_some(), "flow file");
        return match file {
            Some(file) => simple(StatusCode::OK, "text/csv; charset=utf-8", file),
            None => json_answer(StatusCode::NOT_FOUND, v3::flows::missing_file_body()),
        };
    }
    let coupon_id = path
        .strip_prefix(USE_COUPON_PATH)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.strip_suffix("/use"))
        .filter(|id| !id.is_empty() && !id.contains('/'));
    let Some(coupon_id) = coupon_id else {
        return v3_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "请求的接口不存在",
        );
    };
    if parts.method != Method::POST {
        return wrong_method("POST");
    }
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return v3_error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "请求体无法读取");
        }
    };
    let usage: CouponUse = if body.iter().all(u8::is_ascii_whitespace) {
        CouponUse::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(usage) => usage,
            Err(e) => {
                return v3_error(
                    StatusCode::BAD_REQUEST,
                    "PARAM_ERROR",
                    &format!("请求体格式错误: {e}"),
                )
            }
        }
    };
    let coupon_id = wxcoupon_core::v3::favor::decode_segment(coupon_id).unwrap_or_default();
    match shared.use_coupon(&coupon_id, usage) {
        Ok(event_id) => json_answer(
            StatusCode::OK,
            serde_json::json!({ "event_id": event_id }).to_string(),
        ),
        Err(UseError::UnknownCoupon) => v3_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "查询不到代金券信息",
        ),
        Err(UseError::AlreadyUsed) => {
            v3_error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "代金券已核销")
        }
        Err(UseError::BelowMinimum(_)) => v3_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "订单金额未达到代金券使用门槛",
        ),
    }
}

/// Response bodies: whole, or (the `truncated_body` fault) a first part under a longer
/// `Content-Length`, after which the connection is closed.
struct SimBody {
    data: Option<Bytes>,
    truncate: Option<Truncate>,
}

struct Truncate {
    control: Arc<ConnControl>,
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SimBody {
    fn full(data: Bytes) -> SimBody {
        SimBody {
            data: Some(data),
            truncate: None,
        }
    }

    fn truncated(part: Bytes, control: Arc<ConnControl>) -> SimBody {
        SimBody {
            data: Some(part),
            truncate: Some(Truncate {
                control,
                linger: None,
            }),
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        let Some(truncate) = self.truncate.as_mut() else {
            return Poll::Ready(None);
        };
        // The first part is written and flushed while this waits; then the connection closes
        // and the rest never comes.
        let linger = truncate
            .linger
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(TRUNCATE_LINGER)));
        if linger.as_mut().poll(cx).is_ready() {
            truncate.control.close(false);
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.truncate.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, &self.truncate) {
            // Unknown for a truncated body, so the announced Content-Length stands.
            (_, Some(_)) => SizeHint::default(),
            (Some(data), None) => SizeHint::with_exact(data.len() as u64),
            (None, None) => SizeHint::with_exact(0),
        }
    }
}
