//! `wxcoupon serve`: the reference host as an HTTP server for the component's gateway mode
//! (`wasi:http/incoming-handler`, world `gateway`).
//!
//! - One [`Engine`] with the **pooling allocator** and one [`ProxyPre`] (the component compiled
//!   and linked once); a **fresh store and instance per request**, so requests share no guest
//!   state — unless [`ServeConfig::instance_reuse`] lets an instance serve several requests one
//!   after another (it is dropped after a trap, a deadline or its last allowed request).
//! - **Concurrency limit**: at most [`ServeConfig::max_concurrency`] requests run in the component
//!   at once (a tokio [`Semaphore`]; the pool is sized to match). A request that waits longer
//!   than [`ServeConfig::queue_timeout`] for a slot gets `503 OVERLOADED` with `retry-after`.
//! - **Deadline**: a request still unanswered after [`ServeConfig::request_timeout`] gets
//!   `504 GATEWAY_TIMEOUT` and its instance is dropped; epoch interruption makes even a busy
//!   guest give the executor back every [`EPOCH_TICK`].
//! - **Outbound HTTP** goes through the hooks [`ServeConfig::hooks`] makes for each store: the
//!   mutual-TLS [`crate::outbound::OutboundClient`] ([`ServeConfig::from_host_config`] wires
//!   it), or [`DenyAllHooks`] by default — the component then answers `502 OUTBOUND_DENIED`.
//! - **Configuration** reaches the component as environment variables
//!   ([`ServeConfig::component_env`], the `WXPAY_*` names of the gateway) and nothing else; the
//!   host adds no custom imports, so the same `.wasm` runs under Spin, `wasmtime serve` and
//!   `jco serve`.
//! - **Graceful shutdown** ([`serve`]: SIGINT or SIGTERM): stop accepting, let connections finish
//!   their current request (idle keep-alive connections are closed), wait for running instances,
//!   all within [`ServeConfig::shutdown_grace`], then drop what is left.
//! - **Access log**: one `tracing` event per request at target `wxcoupon::access` — request id,
//!   peer, method, path **without the query** (openids stay out of logs), status, milliseconds.
//!   Headers, bodies and the component's environment are never logged.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use wxcoupon::serve::{serve, ServeConfig};
//! let config = ServeConfig {
//!     listen: "127.0.0.1:8080".parse()?,
//!     component_env: vec![
//!         ("WXPAY_APPID".into(), "wx5edab3bdfba3dc1c".into()),
//!         ("WXPAY_MCH_ID".into(), "10000098".into()),
//!         ("WXPAY_API_KEY".into(), std::env::var("WXPAY_API_KEY")?),
//!     ],
//!     ..ServeConfig::default()
//! };
//! serve(config).await?; // until SIGINT / SIGTERM
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use wasmtime::component::Component;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use wxcoupon_api::{self as api, ApiError, CallerTokens, Reply};

use crate::config::HostConfig;
use crate::error::{HostError, HostResult};
use crate::http_server::{serve_connection, ConnectionLimits, Connections, LogTarget};
use crate::outbound::OutboundClient;
use crate::runtime::{DenyAllHooks, HooksFactory, HostState};
use wxcoupon_core::settings;

/// How often the engine's epoch advances; a running guest yields to the executor at each tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Core wasm instances one instance of the component may create (it has a handful: the Rust
/// module and wit-component's shims); sizes the pool.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Tables one instance of the component may hold (the shims' indirect-call tables).
const TABLES_PER_COMPONENT: u32 = 8;
/// Linear memories one instance of the component may hold (the Rust module's one).
const MEMORIES_PER_COMPONENT: u32 = 2;
/// Memory kept resident per pool slot (linear memory, tables, async stack) between requests.
const KEEP_RESIDENT_BYTES: usize = 2 * 1024 * 1024;

/// Everything the server needs. [`Default`]: `127.0.0.1:8080`, no component environment
/// (the component then answers `CONFIGURATION` errors), outbound requests denied, 64 requests
/// at once, 1 s queue, 30 s per request, 10 s grace, 64 MiB per instance, no callers (open: loopback
/// only), 10 s to read a body, 1024 connections (256 per peer).
#[derive(Clone)]
pub struct ServeConfig {
    /// Where to listen (port 0: one chosen by the system; [`Server::local_addr`] tells which).
    pub listen: SocketAddr,
    /// The component's environment (`wasi:cli/environment`): its `WXPAY_*` settings. Values
    /// are never logged or shown by `Debug`.
    pub component_env: Vec<(String, String)>,
    /// Makes the outbound-HTTP hooks of each request's store.
    pub hooks: HooksFactory,
    /// Requests handled by the component at once; also the size of the instance pool.
    pub max_concurrency: u32,
    /// How long a request may wait for a free slot before `503 OVERLOADED`.
    pub queue_timeout: Duration,
    /// How long a request may take until the component answers before `504 GATEWAY_TIMEOUT`.
    /// Keep it above the component's outbound timeouts, which answer first and more precisely.
    pub request_timeout: Duration,
    /// How long shutdown waits for running requests.
    pub shutdown_grace: Duration,
    /// The most linear memory one instance may use.
    pub max_instance_memory_bytes: usize,
    /// Requests one instance serves, one after another, before it is dropped. `1` (the
    /// default): a fresh instance for every request, so no request can see what another left
    /// in the guest's memory. More saves the instantiation (`bench/`: the calls/s either way);
    /// an instance that trapped or ran out of time is never reused, and `GET /healthz` always
    /// gets a fresh one.
    pub instance_reuse: u32,
    /// Let the component write to the host's stderr (panic messages); stdout is discarded.
    pub inherit_stderr: bool,
    /// Who may call `/v1/*` (bearer tokens as SHA-256 hashes, see
    /// [`wxcoupon_api::callers`]). Empty: anyone who reaches the listener — which is then
    /// refused anywhere but on loopback.
    pub callers: CallerTokens,
    /// Host names the gateway answers to besides `localhost`, `127.0.0.1`, `[::1]` and the
    /// listen address (those are always accepted on a loopback listener). A request with any
    /// other `Host` is `421 MISDIRECTED_REQUEST` on loopback (DNS rebinding); on another
    /// address the list is enforced when it is not empty.
    pub host_names: Vec<String>,
    /// How long reading a request body may take; it is read **before** a concurrency slot is
    /// taken, so slow senders hold no slot (`408 BODY_TIMEOUT` past it).
    pub body_timeout: Duration,
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// Open connections from one peer address at most.
    pub max_connections_per_peer: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            component_env: Vec::new(),
            hooks: Arc::new(|| Box::new(DenyAllHooks)),
            max_concurrency: 64,
            queue_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            max_instance_memory_bytes: 64 * 1024 * 1024,
            instance_reuse: 1,
            inherit_stderr: true,
            callers: CallerTokens::none(),
            host_names: Vec::new(),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_peer: 256,
        }
    }
}

impl fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<&str> = self.component_env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("component_env (names only)", &env)
            .field("max_concurrency", &self.max_concurrency)
            .field("queue_timeout", &self.queue_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("max_instance_memory_bytes", &self.max_instance_memory_bytes)
            .field("instance_reuse", &self.instance_reuse)
            .field("inherit_stderr", &self.inherit_stderr)
            .field("callers (names only)", &self.callers)
            .field("host_names", &self.host_names)
            .field("body_timeout", &self.body_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_peer", &self.max_connections_per_peer)
            .finish_non_exhaustive()
    }
}

impl ServeConfig {
    /// The server for a checked host configuration: the component's environment from it
    /// ([`ServeConfig::component_env`]) and outbound requests through a new
    /// [`OutboundClient`] (allow-list, client certificate, extra CA, pools). Other settings are
    /// the defaults.
    pub fn from_host_config(config: &HostConfig, listen: SocketAddr) -> HostResult<Self> {
        let client = OutboundClient::new(config.outbound())?;
        Ok(ServeConfig {
            listen,
            component_env: ServeConfig::component_env(config),
            hooks: Arc::new(move || Box::new(client.hooks())),
            ..ServeConfig::default()
        })
    }

    /// The gateway's `WXPAY_*` variables for `config` (the component reads nothing else).
    /// Files (certificate, CA) stay with the host: the component never sees them.
    pub fn component_env(config: &HostConfig) -> Vec<(String, String)> {
        let mut env = vec![
            ("WXPAY_APPID".to_string(), config.appid.clone()),
            ("WXPAY_MCH_ID".to_string(), config.mch_id.clone()),
            (
                "WXPAY_API_KEY".to_string(),
                config.api_key.expose().to_string(),
            ),
            (
                "WXPAY_SIGN_TYPE".to_string(),
                config.sign_type.wire_name().to_string(),
            ),
            (
                "WXPAY_CONNECT_TIMEOUT_MS".to_string(),
                config.timeouts.connect.as_millis().to_string(),
            ),
            (
                "WXPAY_FIRST_BYTE_TIMEOUT_MS".to_string(),
                config.timeouts.first_byte.as_millis().to_string(),
            ),
            (
                "WXPAY_BETWEEN_BYTES_TIMEOUT_MS".to_string(),
                config.timeouts.between_bytes.as_millis().to_string(),
            ),
            (
                "WXPAY_MAX_RESPONSE_BYTES".to_string(),
                config.max_response_bytes.to_string(),
            ),
        ];
        if let Some(url) = &config.base_url {
            env.push(("WXPAY_BASE_URL".into(), url.clone()));
        }
        for (name, on) in [
            ("WXPAY_BACKUP_HOST", config.backup_host),
            ("WXPAY_SANDBOX", config.sandbox),
            (
                "WXPAY_REQUIRE_SIGNED_RESPONSES",
                config.require_signed_responses,
            ),
        ] {
            if on {
                env.push((name.into(), "true".into()));
            }
        }
        env
    }
}

impl ServeConfig {
    /// Turns on the notification route (`POST /v1/notifications/wechatpay`) alone: the v3
    /// merchant's variables for verifying callbacks, without its private key (the route signs
    /// nothing), and `forward_url`. See [`ServeConfig::with_v3`].
    pub fn with_notifications(
        self,
        outbound: crate::outbound::OutboundConfig,
        v3: &wxcoupon_core::v3::merchant::MerchantSettings,
        forward_url: &str,
    ) -> HostResult<Self> {
        let verify_only = wxcoupon_core::v3::merchant::MerchantSettings {
            private_key_pem: None,
            ..v3.clone()
        };
        self.with_v3(outbound, &verify_only, None, Some(forward_url))
    }

    /// Serves API v3: the v3 merchant's variables added to the component's environment
    /// ([`ServeConfig::v3_env`]: with the private key, the v3 routes and — when the settings
    /// choose v3 — the three coupon routes sign in the component), and the outbound client
    /// rebuilt from `outbound`. With `forward_url`, the notification route too: that URL allowed
    /// and its forwards delivered once ([`crate::outbound::dedup`]).
    pub fn with_v3(
        mut self,
        mut outbound: crate::outbound::OutboundConfig,
        v3: &wxcoupon_core::v3::merchant::MerchantSettings,
        appid: Option<&str>,
        forward_url: Option<&str>,
    ) -> HostResult<Self> {
        if let Some(forward_url) = forward_url {
            // The forward's origin, reached without the client certificate.
            let origin = match forward_url.split_once("://") {
                Some((scheme, rest)) => {
                    format!("{scheme}://{}", rest.split('/').next().unwrap_or(""))
                }
                None => forward_url.to_string(),
            };
            outbound.allow = outbound.allow.with_host(&origin).map_err(|e| {
                crate::error::HostError::Setting(format!("notify_forward_url: {e}"))
            })?;
            outbound.forward_dedup = Some(crate::outbound::dedup::ForwardDedup::new(forward_url));
        }
        let client = OutboundClient::new(outbound)?;
        self.hooks = Arc::new(move || Box::new(client.hooks()));
        self.component_env
            .extend(ServeConfig::v3_env(v3, appid, forward_url));
        Ok(self)
    }

    /// The component's v3 variables (`wxcoupon_core::settings::NOTIFICATION_SETTINGS`,
    /// `V3_GATEWAY_SETTINGS` and the mchid): the v3 identity, the APIv3 key, the private key
    /// when `v3` holds one, every key answers and callbacks are verified with — all as PEM text,
    /// the component reads no files — the appid, the base URL, and the forward URL.
    pub fn v3_env(
        v3: &wxcoupon_core::v3::merchant::MerchantSettings,
        appid: Option<&str>,
        forward_url: Option<&str>,
    ) -> Vec<(String, String)> {
        use wxcoupon_core::settings as s;
        let var = |setting: &s::Setting| setting.variable.expect("a gateway setting").to_string();
        let mut env = vec![
            (var(&s::MCH_ID), v3.mchid.clone()),
            (var(&s::MERCHANT_SERIAL_NO), v3.merchant_serial_no.clone()),
            (var(&s::APIV3_KEY), v3.apiv3_key.clone()),
        ];
        let optional = [
            (&s::NOTIFY_FORWARD_URL, forward_url.map(str::to_string)),
            (&s::APPID, appid.map(str::to_string)),
            (&s::PRIVATE_KEY, v3.private_key_pem.clone()),
            (&s::BASE_URL, v3.base_url.clone()),
        ];
        for (setting, value) in optional {
            if let Some(value) = value {
                env.push((var(setting), value));
            }
        }
        if let (Some(id), Some(pem)) = (&v3.wechatpay_public_key_id, &v3.wechatpay_public_key_pem) {
            env.push((var(&s::WECHATPAY_PUBLIC_KEY_ID), id.clone()));
            env.push((var(&s::WECHATPAY_PUBLIC_KEY), pem.clone()));
        }
        if !v3.platform_certificates.is_empty() {
            env.push((
                var(&s::PLATFORM_CERTIFICATES),
                v3.platform_certificates.join("\n"),
            ));
        }
        env
    }
}

impl ServeConfig {
    /// What [`Server::bind`] refuses, each naming the setting and the rule: no concurrency; no
    /// callers on a listener beyond loopback (anyone on the network could issue coupons); a
    /// deadline that does not exceed the component's own connect + first-byte + between-bytes
    /// timeouts (the component's precise timeout answer, which carries the trade number, would
    /// never arrive first).
    pub fn check(&self) -> HostResult<()> {
        ensure(
            self.max_concurrency > 0,
            "max_concurrency must be at least 1",
        )?;
        ensure(
            self.instance_reuse > 0,
            "instance_reuse must be at least 1 (1: a fresh instance per request)",
        )?;
        ensure(
            self.max_connections > 0 && self.max_connections_per_peer > 0,
            "max_connections and max_connections_per_peer must be at least 1",
        )?;
        ensure(
            self.listen.ip().is_loopback() || !self.callers.is_empty(),
            format_args!(
                "wxcoupon serve refuses to listen on {} without caller tokens: anyone who reaches \
                 it could issue coupons. Configure --caller-token NAME:SHA256 (or {}), or listen \
                 on loopback",
                self.listen,
                api::callers::TOKENS_SETTING
            ),
        )?;
        // The component reads its timeouts from its environment with the gateway's rules: the
        // same reader here (a broken value is the gateway's to report; it then uses the default).
        let vars = settings::Vars::new(self.component_env.iter().cloned());
        let mut reader = settings::Reader::new(&vars, settings::Naming::Variable);
        let component: u128 = [
            &settings::CONNECT_TIMEOUT_MS,
            &settings::FIRST_BYTE_TIMEOUT_MS,
            &settings::BETWEEN_BYTES_TIMEOUT_MS,
        ]
        .into_iter()
        .map(|setting| u128::from(reader.number(setting)))
        .sum();
        ensure(
            self.request_timeout.as_millis() > component,
            format_args!(
                "request_timeout ({} ms) must exceed the component's connect + first-byte + \
                 between-bytes timeouts ({component} ms: WXPAY_CONNECT_TIMEOUT_MS, \
                 WXPAY_FIRST_BYTE_TIMEOUT_MS, WXPAY_BETWEEN_BYTES_TIMEOUT_MS), so that the \
                 component's own timeout answers first",
                self.request_timeout.as_millis()
            ),
        )?;
        Ok(())
    }
}

/// What a server did, returned when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// Requests received.
    pub requests: u64,
    /// Requests refused with `503 OVERLOADED`.
    pub overloaded: u64,
    /// Requests the component failed to answer (trap, no response, deadline).
    pub failed: u64,
    /// Instances created: one per request unless [`ServeConfig::instance_reuse`] is above 1.
    pub instances: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    overloaded: AtomicU64,
    failed: AtomicU64,
    instances: AtomicU64,
}

/// An instance that answered and may serve another request ([`ServeConfig::instance_reuse`]).
struct IdleInstance {
    store: Store<HostState>,
    proxy: Proxy,
    /// Requests it has served.
    served: u32,
}

/// `Err(Setting(rule))` unless `ok`.
fn ensure(ok: bool, rule: impl fmt::Display) -> HostResult<()> {
    if ok {
        Ok(())
    } else {
        Err(HostError::Setting(rule.to_string()))
    }
}

/// Binds and serves until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve(config: ServeConfig) -> HostResult<()> {
    let server = Server::bind(config).await?;
    tracing::info!(addr = %server.local_addr(), "wxcoupon gateway listening");
    let stats = server.run_until(shutdown_signal()).await?;
    tracing::info!(
        requests = stats.requests,
        overloaded = stats.overloaded,
        failed = stats.failed,
        instances = stats.instances,
        "wxcoupon gateway stopped"
    );
    Ok(())
}

/// Resolves at the first SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => interrupt.await,
        }
    }
    #[cfg(not(unix))]
    interrupt.await;
}

/// A bound server: the component compiled and linked, the socket listening.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

/// How much longer than [`ServeConfig::request_timeout`] an instance may run when nobody
/// waits for its answer any more.
const INSTANCE_GRACE: Duration = Duration::from_secs(1);

/// Instances kept for `GET /healthz` beside [`ServeConfig::max_concurrency`]: a health check
/// never waits behind calls, and calls never take these.
pub const HEALTH_SLOTS: u32 = 4;

/// What every request's task shares.
struct Shared {
    engine: Engine,
    pre: ProxyPre<HostState>,
    config: ServeConfig,
    permits: Arc<Semaphore>,
    health_permits: Arc<Semaphore>,
    /// The `Host` names answered to; `None`: any.
    host_names: Option<Vec<String>>,
    counters: Counters,
    next_id: AtomicU64,
    /// Instances waiting for their next request; never more than `max_concurrency` (one is
    /// created only when none waits, so instances never outnumber the permits).
    idle: std::sync::Mutex<Vec<IdleInstance>>,
}

impl Shared {
    /// A `partner_trade_no` in WeChat's form for the configured `WXPAY_MCH_ID` (none without
    /// one: the component then answers the configuration error itself).
    fn generate_trade_no(&self) -> Option<String> {
        let (_, mch_id) = self
            .config
            .component_env
            .iter()
            .rev()
            .find(|(name, value)| name == "WXPAY_MCH_ID" && !value.trim().is_empty())?;
        let random = rustls::crypto::ring::default_provider().secure_random;
        let mut failed = false;
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2));
        let number = api::trade_no::generate(mch_id.trim(), seconds, || {
            let mut bytes = [0u8; 8];
            if random.fill(&mut bytes).is_err() {
                failed = true;
                return 0; // ends the rejection loop; the number is thrown away
            }
            u64::from_le_bytes(bytes)
        });
        (!failed).then_some(number)
    }
}

impl Server {
    /// Compiles the embedded component ([`crate::COMPONENT_BYTES`]) and binds the listener.
    pub async fn bind(config: ServeConfig) -> HostResult<Server> {
        Server::bind_component(config, crate::COMPONENT_BYTES).await
    }

    /// The same with another build of the component (it must export
    /// `wasi:http/incoming-handler@0.2.x`).
    pub async fn bind_component(config: ServeConfig, bytes: &[u8]) -> HostResult<Server> {
        config.check()?;
        let engine = engine(&config)?;
        let component = Component::new(&engine, bytes).map_err(|e| HostError::Compile(e.into()))?;
        let pre = crate::runtime::linker(&engine)
            .and_then(|linker| ProxyPre::new(linker.instantiate_pre(&component)?))
            .map_err(|e| HostError::Exports {
                expected: "wasi:http/incoming-handler",
                source: e.into(),
            })?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| HostError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let permits = Arc::new(Semaphore::new(config.max_concurrency as usize));
        let health_permits = Arc::new(Semaphore::new(HEALTH_SLOTS as usize));
        let listen = listener.local_addr().unwrap_or(config.listen);
        let host_names = if listen.ip().is_loopback() {
            Some(api::callers::loopback_host_names(
                &listen.to_string(),
                &config.host_names,
            ))
        } else {
            (!config.host_names.is_empty()).then(|| config.host_names.clone())
        };
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                engine,
                pre,
                config,
                permits,
                health_permits,
                host_names,
                counters: Counters::default(),
                next_id: AtomicU64::new(1),
                idle: std::sync::Mutex::new(Vec::new()),
            }),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.shared.config.listen)
    }

    /// Serves until `shutdown` resolves, then stops accepting, closes idle connections, lets
    /// running requests finish within the grace period and returns the totals.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> HostResult<ServeStats> {
        let Server { listener, shared } = self;
        let mut connections = Connections::new(
            LogTarget::Serve,
            ConnectionLimits {
                total: shared.config.max_connections,
                per_peer: shared.config.max_connections_per_peer,
            },
        );
        let ticker = tokio::spawn(tick_epochs(
            shared.engine.clone(),
            connections.stop_signal(),
        ));
        connections
            .accept_until(listener, shutdown, |stream, peer, stop| {
                let shared = shared.clone();
                serve_connection(LogTarget::Serve, stream, peer, stop, move |request| {
                    handle(shared.clone(), request, peer)
                })
            })
            .await;
        tracing::info!(
            connections = connections.len(),
            "shutting down: no new connections"
        );
        let grace = shared.config.shutdown_grace;
        connections
            .drain(grace, async {
                // Instances still running (a guest past its response) hold their permits.
                let all = shared.config.max_concurrency;
                let _ = shared.permits.acquire_many(all).await;
            })
            .await;
        ticker.abort();
        let c = &shared.counters;
        Ok(ServeStats {
            requests: c.requests.load(Ordering::Relaxed),
            overloaded: c.overloaded.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            instances: c.instances.load(Ordering::Relaxed),
        })
    }
}

/// The engine: async, component model, epoch interruption, pooling allocator sized for
/// `max_concurrency` instances.
fn engine(config: &ServeConfig) -> HostResult<Engine> {
    let n = config.max_concurrency.saturating_add(HEALTH_SLOTS);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(n.saturating_mul(MEMORIES_PER_COMPONENT))
        .total_tables(n.saturating_mul(TABLES_PER_COMPONENT))
        .total_stacks(n)
        .max_memory_size(config.max_instance_memory_bytes)
        // A slot is reused for the next request: reset what the last one dirtied with memset
        // (pagemap_scan finds those pages) instead of madvise, so the next instance takes no
        // page faults on them (bench/: the calls/s with a fresh instance per request).
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES)
        .async_stack_keep_resident(KEEP_RESIDENT_BYTES)
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&wasm).map_err(|e| HostError::Engine(e.into()))
}

/// Advances the epoch every [`EPOCH_TICK`] until stopped.
async fn tick_epochs(engine: Engine, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(EPOCH_TICK);
    loop {
        tokio::select! {
            _ = interval.tick() => engine.increment_epoch(),
            _ = stop.changed() => return,
        }
    }
}

/// One request: the host's checks (host name, caller, body read within its timeout), a slot,
/// a fresh instance, the guest's answer (or a JSON error of the host's), one access-log line.
async fn handle(
    shared: Arc<Shared>,
    request: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    let started = Instant::now();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let (response, caller) = match admit(&shared, request).await {
        Ok(admitted) => {
            let caller = admitted.caller.clone();
            let trade_no = admitted.trade_no.clone();
            let response = match run_guest(&shared, admitted, id).await {
                Ok(response) => response,
                Err(failure) => failure.into_response(&shared, trade_no.as_deref()),
            };
            (response, caller)
        }
        Err(refused) => (reply_response(refused.into()), None),
    };
    tracing::info!(
        target: "wxcoupon::access",
        id,
        %peer,
        caller = %caller.as_deref().unwrap_or("-"),
        %method,
        path = %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
    );
    response
}

/// A request the host has checked and read, ready for the component.
struct Admitted {
    request: hyper::Request<FullBody>,
    /// `GET /healthz`: served from its own slots, so it never waits behind calls.
    health: bool,
    /// The authenticated caller's name.
    caller: Option<String>,
    /// `POST /v1/coupons`: the number the coupon is issued under (the caller's, or the one the
    /// host generated and hands the component in [`api::trade_no::HOST_NUMBER_HEADER`]).
    trade_no: Option<String>,
}

/// The body the component reads: already complete.
type FullBody = http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// The host's own checks, in order: the `Host` name, the caller (`/v1/*`), then the whole body
/// within [`ServeConfig::body_timeout`] and [`api::MAX_BODY_BYTES`]. Nothing here holds a slot.
async fn admit(
    shared: &Shared,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<Admitted, ApiError> {
    let config = &shared.config;
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| header(request.headers(), http::header::HOST.as_str()));
    if let Some(allowed) = &shared.host_names {
        api::callers::check_host(host.as_deref(), allowed)?;
    } else if host.is_none() {
        return Err(ApiError::new(
            400,
            "BAD_REQUEST",
            "the request has no host header",
        ));
    }
    let target = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_string(),
        |p| p.as_str().to_string(),
    );
    let caller = if api::callers::needs_caller(&target) {
        let authorization = header(request.headers(), http::header::AUTHORIZATION.as_str());
        config
            .callers
            .authorize(authorization.as_deref())?
            .map(str::to_string)
    } else {
        None
    };
    let health = request.method() == http::Method::GET && request.uri().path() == "/healthz";
    let issue = request.method() == http::Method::POST && request.uri().path() == "/v1/coupons";

    let (mut parts, body) = request.into_parts();
    api::check_content_length(
        header(&parts.headers, http::header::CONTENT_LENGTH.as_str()).as_deref(),
        api::MAX_BODY_BYTES,
    )?;
    let read = http_body_util::Limited::new(body, api::MAX_BODY_BYTES).collect();
    let body = match tokio::time::timeout(config.body_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError::body_too_large(api::MAX_BODY_BYTES))
        }
        Ok(Err(_)) => {
            return Err(ApiError::new(
                400,
                "BAD_REQUEST",
                "the request body could not be read",
            ))
        }
        Err(_) => {
            return Err(ApiError::new(
                408,
                "BODY_TIMEOUT",
                format!(
                    "the request body did not arrive within {} ms",
                    config.body_timeout.as_millis()
                ),
            ))
        }
    };

    // The number is fixed here, before the component runs, so that every answer — the
    // component's, or the host's own after a trap or the deadline — can carry it.
    parts.headers.remove(api::trade_no::HOST_NUMBER_HEADER);
    // A body the component cannot read it answers with the precise error itself.
    let input = issue.then(|| api::IssueInput::parse(&body).ok()).flatten();
    let trade_no = input.map(|input| match input.partner_trade_no {
        Some(number) => Some(number),
        None => shared.generate_trade_no().inspect(|number| {
            if let Ok(value) = http::HeaderValue::from_str(number) {
                parts
                    .headers
                    .insert(api::trade_no::HOST_NUMBER_HEADER, value);
            }
        }),
    });
    let trade_no = trade_no.flatten();
    let body: FullBody = Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync();
    Ok(Admitted {
        request: hyper::Request::from_parts(parts, body),
        health,
        caller,
        trade_no,
    })
}

/// A header's first value, as text.
fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Why the host answered instead of the component, after the request was admitted.
enum Failure {
    /// No slot within the queue timeout.
    Overloaded,
    /// The request could not be handed to the component.
    BadRequest(String),
    /// The component did not answer within the request timeout.
    Deadline,
    /// The component trapped or returned without answering.
    Component,
}

impl Failure {
    /// The answer; `trade_no` is the issuance's number on `POST /v1/coupons`. After the
    /// component ran, a call it made may have reached WeChat: the outcome is then unknown.
    fn into_response(
        self,
        shared: &Shared,
        trade_no: Option<&str>,
    ) -> hyper::Response<HyperOutgoingBody> {
        let counters = &shared.counters;
        let (error, ran) = match self {
            Failure::Overloaded => {
                counters.overloaded.fetch_add(1, Ordering::Relaxed);
                let error = ApiError {
                    retryable: true,
                    ..ApiError::new(
                        503,
                        "OVERLOADED",
                        "the gateway is at its concurrency limit; retry shortly",
                    )
                };
                (error, false)
            }
            Failure::BadRequest(why) => (ApiError::new(400, "BAD_REQUEST", why), false),
            Failure::Deadline => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                let error = ApiError {
                    retryable: true,
                    ..ApiError::new(
                        504,
                        "GATEWAY_TIMEOUT",
                        format!(
                            "no answer within {} ms",
                            shared.config.request_timeout.as_millis()
                        ),
                    )
                };
                (error, true)
            }
            Failure::Component => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                (
                    ApiError::new(500, "INTERNAL", "the component failed to answer"),
                    true,
                )
            }
        };
        let error = match trade_no {
            Some(number) if ran => error.outcome_unknown().with_trade_no(number),
            Some(number) => error.with_trade_no(number),
            None => error,
        };
        let retry_after = error.retryable;
        let mut response = reply_response(error.into());
        if retry_after {
            response
                .headers_mut()
                .insert("retry-after", http::HeaderValue::from_static("1"));
        }
        response
    }
}

/// An answer of the host's own, in the JSON API's shape ([`wxcoupon_api::Reply`]).
fn reply_response(reply: Reply) -> hyper::Response<HyperOutgoingBody> {
    let mut builder = hyper::Response::builder().status(reply.status);
    for (name, value) in reply.all_headers() {
        builder = builder.header(name, value);
    }
    let body = Full::new(Bytes::from(reply.body))
        .map_err(|e| match e {})
        .boxed_unsync();
    builder
        .body(body)
        .unwrap_or_else(|_| hyper::Response::new(empty_body()))
}

fn empty_body() -> HyperOutgoingBody {
    Full::new(Bytes::new())
        .map_err(|e| match e {})
        .boxed_unsync()
}

/// Runs the component on one admitted request; the permit and the instance live in their own
/// task until the guest returns (it may still be writing the body after answering), at most
/// `request_timeout`.
async fn run_guest(
    shared: &Arc<Shared>,
    admitted: Admitted,
    id: u64,
) -> Result<hyper::Response<HyperOutgoingBody>, Failure> {
    let config = &shared.config;
    let slots = match admitted.health {
        true => &shared.health_permits,
        false => &shared.permits,
    };
    let permit = tokio::time::timeout(config.queue_timeout, slots.clone().acquire_owned())
        .await
        .map_err(|_| Failure::Overloaded)?
        .map_err(|_| Failure::Overloaded)?;

    let reuse = !admitted.health && config.instance_reuse > 1;
    let waiting = match reuse {
        true => shared
            .idle
            .lock()
            .map(|mut idle| idle.pop())
            .unwrap_or(None),
        false => None,
    };
    let (mut store, kept, served) = match waiting {
        Some(idle) => (idle.store, Some(idle.proxy), idle.served),
        None => {
            let mut store = Store::new(&shared.engine, serve_state(config));
            store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
            (store, None, 0)
        }
    };
    store.set_epoch_deadline(1);

    let (sender, receiver) = tokio::sync::oneshot::channel();
    let (req, out) = {
        let mut http = store.data_mut().http();
        let req = http
            .new_incoming_request(Scheme::Http, admitted.request)
            .map_err(|e| Failure::BadRequest(format!("unusable request: {e}")))?;
        let out = http
            .new_response_outparam(sender)
            .map_err(|_| Failure::Component)?;
        (req, out)
    };

    let task_shared = shared.clone();
    // A little past the deadline: whoever waits for the answer sees the deadline (504) first
    // and aborts the task; the task's own bound is for when nobody waits any more.
    let lifetime = config.request_timeout + INSTANCE_GRACE;
    let task = tokio::spawn(async move {
        let _permit = permit;
        let shared = task_shared;
        // The instance lives at most `request_timeout` (plus the grace), even when the client
        // has gone away and nobody waits for its answer any more.
        let run = async {
            let proxy = match kept {
                Some(proxy) => proxy,
                None => {
                    shared.counters.instances.fetch_add(1, Ordering::Relaxed);
                    shared.pre.instantiate_async(&mut store).await?
                }
            };
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await?;
            Ok::<_, wasmtime::Error>(proxy)
        };
        let proxy = match tokio::time::timeout(lifetime, run).await {
            Ok(result) => result?,
            Err(_) => return Err(wasmtime::format_err!("the instance ran out of time")),
        };
        // Only an instance that answered goes back: a trap or a deadline drops it above.
        let served = served + 1;
        if reuse && served < shared.config.instance_reuse {
            if let Ok(mut idle) = shared.idle.lock() {
                idle.push(IdleInstance {
                    store,
                    proxy,
                    served,
                });
            }
        }
        Ok(())
    });
    let abort = task.abort_handle();

    match tokio::time::timeout(config.request_timeout, receiver).await {
        Ok(Ok(Ok(response))) => Ok(response),
        Ok(Ok(Err(code))) => {
            tracing::warn!(id, error = ?code, "the component answered with an error code");
            Err(Failure::Component)
        }
        Ok(Err(_)) => {
            // The outparam was dropped unanswered: the task says why.
            match task.await {
                Ok(Ok(())) => tracing::error!(id, "the component returned without answering"),
                Ok(Err(e)) => tracing::error!(id, error = %e, "the component trapped"),
                Err(e) => tracing::error!(id, error = %e, "the component's task failed"),
            }
            Err(Failure::Component)
        }
        Err(_) => {
            abort.abort();
            tracing::warn!(id, "the component did not answer in time");
            Err(Failure::Deadline)
        }
    }
}

/// A store's state for one request: [`HostState`] with the component's environment.
fn serve_state(config: &ServeConfig) -> HostState {
    let mut wasi = WasiCtx::builder();
    wasi.envs(&config.component_env);
    if config.inherit_stderr {
        wasi.inherit_stderr();
    }
    HostState::with_wasi(wasi.build(), (config.hooks)())
}
