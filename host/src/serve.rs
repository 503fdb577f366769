//! `wxcoupon serve`: the reference host as an HTTP server for the component's gateway mode
//! (`wasi:http/incoming-handler`, world `gateway`).
//!
//! - One [`Engine`] with the **pooling allocator** and one [`ProxyPre`] (the component compiled
//!   and linked once); a **fresh store and instance per request**, so requests share no guest
//!   state.
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
//! serve(config).await // until SIGINT / SIGTERM
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::config::HostConfig;
use crate::http_server::{Connections, LogTarget};
use crate::outbound::OutboundClient;
use crate::runtime::{DenyAllHooks, HooksFactory};

/// How often the engine's epoch advances; a running guest yields to the executor at each tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Core wasm instances one instance of the component may create (it has a handful: the Rust
/// module and wit-component's shims); sizes the pool.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Tables one instance of the component may hold (the shims' indirect-call tables).
const TABLES_PER_COMPONENT: u32 = 8;
/// Linear memories one instance of the component may hold (the Rust module's one).
const MEMORIES_PER_COMPONENT: u32 = 2;

/// Everything the server needs. [`Default`]: `127.0.0.1:8080`, no component environment
/// (the component then answers `CONFIGURATION` errors), outbound requests denied, 64 requests
/// at once, 1 s queue, 30 s per request, 10 s grace, 64 MiB per instance.
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
    /// Let the component write to the host's stderr (panic messages); stdout is discarded.
    pub inherit_stderr: bool,
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
            inherit_stderr: true,
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
            .field("inherit_stderr", &self.inherit_stderr)
            .finish_non_exhaustive()
    }
}

impl ServeConfig {
    /// The server for a checked host configuration: the component's environment from it
    /// ([`ServeConfig::component_env`]) and outbound requests through a new
    /// [`OutboundClient`] (allow-list, client certificate, extra CA, pools). Other settings are
    /// the defaults.
    pub fn from_host_config(config: &HostConfig, listen: SocketAddr) -> anyhow::Result<Self> {
        let client = OutboundClient::new(config.outbound())
            .map_err(|e| anyhow::anyhow!("outbound client: {e}"))?;
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

/// What a server did, returned when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// Requests received.
    pub requests: u64,
    /// Requests refused with `503 OVERLOADED`.
    pub overloaded: u64,
    /// Requests the component failed to answer (trap, no response, deadline).
    pub failed: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    overloaded: AtomicU64,
    failed: AtomicU64,
}

/// Binds and serves until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let server = Server::bind(config).await?;
    tracing::info!(addr = %server.local_addr(), "wxcoupon gateway listening");
    let stats = server.run_until(shutdown_signal()).await?;
    tracing::info!(
        requests = stats.requests,
        overloaded = stats.overloaded,
        failed = stats.failed,
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

/// What every request's task shares.
struct Shared {
    engine: Engine,
    pre: ProxyPre<ServeState>,
    config: ServeConfig,
    permits: Arc<Semaphore>,
    counters: Counters,
    next_id: AtomicU64,
}

impl Server {
    /// Compiles the embedded component ([`crate::COMPONENT_BYTES`]) and binds the listener.
    pub async fn bind(config: ServeConfig) -> anyhow::Result<Server> {
        Server::bind_component(config, crate::COMPONENT_BYTES).await
    }

    /// The same with another build of the component (it must export
    /// `wasi:http/incoming-handler@0.2.x`).
    pub async fn bind_component(config: ServeConfig, bytes: &[u8]) -> anyhow::Result<Server> {
        anyhow::ensure!(
            config.max_concurrency > 0,
            "max_concurrency must be at least 1"
        );
        let engine = engine(&config)?;
        let component = Component::new(&engine, bytes)
            .map_err(|e| anyhow::anyhow!("compile the wxcoupon component: {e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let pre = ProxyPre::new(linker.instantiate_pre(&component)?).map_err(|e| {
            anyhow::anyhow!("the component does not export wasi:http/incoming-handler: {e}")
        })?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("listen on {}: {e}", config.listen))?;
        let permits = Arc::new(Semaphore::new(config.max_concurrency as usize));
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                engine,
                pre,
                config,
                permits,
                counters: Counters::default(),
                next_id: AtomicU64::new(1),
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
    ) -> anyhow::Result<ServeStats> {
        let Server { listener, shared } = self;
        let mut connections = Connections::new(LogTarget::Serve);
        let ticker = tokio::spawn(tick_epochs(
            shared.engine.clone(),
            connections.stop_signal(),
        ));
        connections
            .accept_until(listener, shutdown, |stream, peer, stop| {
                connection(shared.clone(), stream, peer, stop)
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
        })
    }
}

/// The engine: async, component model, epoch interruption, pooling allocator sized for
/// `max_concurrency` instances.
fn engine(config: &ServeConfig) -> anyhow::Result<Engine> {
    let n = config.max_concurrency;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(n.saturating_mul(MEMORIES_PER_COMPONENT))
        .total_tables(n.saturating_mul(TABLES_PER_COMPONENT))
        .total_stacks(n)
        .max_memory_size(config.max_instance_memory_bytes);
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&wasm).map_err(|e| anyhow::anyhow!("create the wasmtime engine: {e}"))
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

/// Serves one connection (HTTP/1.1, keep-alive) until it ends or shutdown begins; then the
/// request in progress is finished and the connection closed.
async fn connection(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(shared, request, peer).await) }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(Duration::from_secs(30))
        .timer(hyper_util::rt::TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = stop.wait_for(|stop| *stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "connection ended with an error during shutdown");
    }
}

/// One request: a slot, a fresh instance, the guest's answer (or a JSON error of the host's),
/// one access-log line.
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
    let response = match run_guest(&shared, request, id).await {
        Ok(response) => response,
        Err(failure) => failure.into_response(&shared),
    };
    tracing::info!(
        target: "wxcoupon::access",
        id,
        %peer,
        %method,
        path = %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
    );
    response
}

/// Why the host answered instead of the component.
enum Failure {
    /// No slot within the queue timeout.
    Overloaded,
    /// The request could not be handed to the component (no `host` header, …).
    BadRequest(String),
    /// The component did not answer within the request timeout.
    Deadline,
    /// The component trapped or returned without answering.
    Component,
}

impl Failure {
    fn into_response(self, shared: &Shared) -> hyper::Response<HyperOutgoingBody> {
        let counters = &shared.counters;
        let (status, code, message, retryable) = match self {
            Failure::Overloaded => {
                counters.overloaded.fetch_add(1, Ordering::Relaxed);
                (
                    503,
                    "OVERLOADED",
                    "the gateway is at its concurrency limit; retry shortly".to_string(),
                    true,
                )
            }
            Failure::BadRequest(why) => (400, "BAD_REQUEST", why, false),
            Failure::Deadline => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                (
                    504,
                    "GATEWAY_TIMEOUT",
                    format!(
                        "no answer within {} ms",
                        shared.config.request_timeout.as_millis()
                    ),
                    true,
                )
            }
            Failure::Component => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                (
                    500,
                    "INTERNAL",
                    "the component failed to answer".to_string(),
                    false,
                )
            }
        };
        let body = serde_json::json!({
            "code": code,
            "message": message,
            "retryable": retryable,
        });
        json_response(status, &body, retryable.then_some("1"))
    }
}

/// A JSON answer of the host's own.
fn json_response(
    status: u16,
    body: &serde_json::Value,
    retry_after: Option<&str>,
) -> hyper::Response<HyperOutgoingBody> {
    let bytes = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
    let mut builder = hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .header("cache-control", "no-store");
    if let Some(seconds) = retry_after {
        builder = builder.header("retry-after", seconds);
    }
    let body = Full::new(bytes).map_err(|e| match e {}).boxed_unsync();
    builder
        .body(body)
        .unwrap_or_else(|_| hyper::Response::new(empty_body()))
}

fn empty_body() -> HyperOutgoingBody {
    Full::new(Bytes::new())
        .map_err(|e| match e {})
        .boxed_unsync()
}

/// Runs the component on one request; the permit and the instance live in their own task
/// until the guest returns (it may still be writing the body after answering), at most
/// `request_timeout`.
async fn run_guest(
    shared: &Arc<Shared>,
    request: hyper::Request<hyper::body::Incoming>,
    id: u64,
) -> Result<hyper::Response<HyperOutgoingBody>, Failure> {
    let config = &shared.config;
    if request.uri().authority().is_none() && !request.headers().contains_key(http::header::HOST) {
        return Err(Failure::BadRequest(
            "the request has no host header".to_string(),
        ));
    }
    let permit = tokio::time::timeout(config.queue_timeout, shared.permits.clone().acquire_owned())
        .await
        .map_err(|_| Failure::Overloaded)?
        .map_err(|_| Failure::Overloaded)?;

    let mut store = Store::new(&shared.engine, ServeState::new(config));
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));

    let (sender, receiver) = tokio::sync::oneshot::channel();
    let (req, out) = {
        let mut http = store.data_mut().http();
        let req = http
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| Failure::BadRequest(format!("unusable request: {e}")))?;
        let out = http
            .new_response_outparam(sender)
            .map_err(|_| Failure::Component)?;
        (req, out)
    };

    let pre = shared.pre.clone();
    let lifetime = config.request_timeout;
    let task = tokio::spawn(async move {
        let _permit = permit;
        // The instance lives at most `request_timeout`, even when the client has gone away
        // and nobody waits for its answer any more.
        let run = async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        };
        match tokio::time::timeout(lifetime, run).await {
            Ok(result) => result,
            Err(_) => Err(wasmtime::format_err!("the instance ran out of time")),
        }
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

/// Per-request store state: WASI with the component's environment, wasi:http with the
/// configured hooks.
struct ServeState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: Box<dyn WasiHttpHooks>,
    table: ResourceTable,
}

impl ServeState {
    fn new(config: &ServeConfig) -> ServeState {
        let mut wasi = WasiCtx::builder();
        wasi.envs(&config.component_env);
        if config.inherit_stderr {
            wasi.inherit_stderr();
        }
        ServeState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: (config.hooks)(),
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for ServeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ServeState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: self.hooks.as_mut(),
        }
    }
}
