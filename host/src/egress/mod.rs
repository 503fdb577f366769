//! The egress proxy: the merchant's client certificate for runtimes that cannot present one.
//!
//! `wasi:http` has no way to carry a client certificate, so under Spin, `wasmtime serve` or
//! `jco serve` the component cannot make WeChat Pay's mutual-TLS call (`send_coupon` answers
//! `CA_ERROR`). The proxy closes that gap: it listens for **plain HTTP on loopback**, and forwards
//! each request — method, path and query, end-to-end headers, body — to one upstream (WeChat Pay,
//! or a simulator) through the host's [`OutboundClient`], which presents the certificate over
//! TLS. The component is then configured with `WXPAY_BASE_URL=http://127.0.0.1:<port>` and its
//! runtime's outbound allow-list holds only that address.
//!
//! ```text
//! component ──http──▶ egress proxy (127.0.0.1) ──https + client certificate──▶ api.mch.weixin.qq.com
//! ```
//!
//! What it refuses, so that it is no open proxy and no general use of the certificate:
//! - every path but the seven of [`wxcoupon_core::paths::known_paths`] (the three v2 coupon
//!   APIs, their `/sandboxnew` copies, `getsignkey`), compared exactly after the core's strict
//!   reading ([`wxcoupon_core::paths::classify_path`]: no `;`, `\`, `%`, `.`/`..` or empty
//!   segments, nothing but printable ASCII) → `403 EGRESS_PATH_REFUSED`, never forwarded;
//! - the client certificate goes with `send_coupon` only (the outbound client's rule, see
//!   [`crate::outbound::OutboundClient::send`]): the queries and `getsignkey` do not need it;
//! - methods other than `POST` and `GET` → `405`;
//! - an upstream that resolves to the proxy's own address (refused at start), and any request
//!   that already carries [`HOP_HEADER`] (`508 EGRESS_LOOP`): no loop through DNS or a second
//!   proxy;
//! - bodies over [`MAX_REQUEST_BODY_BYTES`] → `413`;
//! - the request's own authority (an absolute-form target, a `host` header) is ignored: requests
//!   only ever go to the configured upstream, which is the only entry of the client's allow-list;
//! - a non-loopback listening address, unless [`EgressConfig::allow_non_loopback`] is set (the
//!   listener has no authentication: whoever reaches it uses the certificate).
//!
//! `GET /healthz` answers `{"status":"ok"}` itself (readiness checks); nothing is forwarded.
//!
//! Settings come as an [`EgressConfig`], or from `WXPAY_*` variables through
//! [`EgressConfig::from_vars`] ([`EGRESS_VARIABLES`]: listen address, upstream, certificate files,
//! CA, timeouts — not the API key, which the proxy never needs).
//!
//! | module | owns |
//! |---|---|
//! | this one | [`EgressConfig`], the bound [`EgressProxy`], its run loop and totals |
//! | `settings` | [`EgressConfig::from_vars`]: the `WXPAY_*` variables, through the core's settings |
//! | `upstream` | the upstream base URL: parsing, joining with paths, refusing the proxy itself |
//! | `forward` | one request: the proxy's rules, the exchange, its answers (the connection is `http_server`'s, shared with `serve`) |
//!
//! Failures of the upstream exchange are the proxy's own JSON answers: `504 EGRESS_UPSTREAM_TIMEOUT`
//! (connect, first-byte or between-bytes timeout) or `502 EGRESS_UPSTREAM_FAILED`, with the
//! `wasi:http` error name in the message. The component sees them as an unexpected status
//! (`502 UPSTREAM_BAD_STATUS`, retryable: retry with the same `partner_trade_no`).
//!
//! **Logs** (`tracing`, target `wxcoupon::egress`): one line per request — id, peer, method,
//! path without the query, status, milliseconds, whether it was forwarded. Never a body, a
//! header's value, a key or a certificate (the outbound client adds its own line with the host
//! and whether the certificate was presented).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use wxcoupon::egress::{EgressConfig, EgressProxy};
//! use wxcoupon::outbound::{ClientIdentity, OutboundConfig};
//!
//! let config = EgressConfig {
//!     listen: "127.0.0.1:8079".parse()?,
//!     upstream_base_url: "https://api.mch.weixin.qq.com".into(),
//!     outbound: OutboundConfig {
//!         identity: Some(ClientIdentity::from_pem_files("apiclient_cert.pem", "apiclient_key.pem")?),
//!         ..OutboundConfig::default()
//!     },
//!     ..EgressConfig::default()
//! };
//! wxcoupon::egress::run(config).await?; // until SIGINT / SIGTERM
//! # Ok(()) }
//! ```

mod forward;
mod settings;
#[cfg(test)]
mod tests;
mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::HostConfig;
use crate::error::{HostError, HostResult};
use crate::http_server::{serve_connection, ConnectionLimits, Connections, LogTarget};
use crate::outbound::WECHAT_BACKUP_API_HOST;
use crate::outbound::{AllowList, OutboundClient, OutboundConfig, WECHAT_API_HOST};
use wxcoupon_core::paths::{classify_path, PathRefusal};

use forward::handle;
pub use settings::{EgressConfigError, EGRESS_VARIABLES};
use upstream::Upstream;

/// The largest request body forwarded (the component's signed XML requests are under 2 KiB).
pub const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;

/// The header every forwarded request carries, naming the proxy instance. A request that
/// arrives with it has gone round a loop (the upstream, through DNS or another proxy, leads back
/// to an egress proxy): it is answered `508 EGRESS_LOOP` and not forwarded again.
pub const HOP_HEADER: &str = "x-wxcoupon-egress-hop";

/// The proxy's connection limits: its callers are a few gateway processes on the same machine.
const EGRESS_CONNECTION_LIMITS: ConnectionLimits = ConnectionLimits {
    total: 512,
    per_peer: 512,
};

/// The default listening address.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8079);

/// `outbound.identity`), loopback only, 10 s shutdown grace.
// `Debug`: OutboundConfig's shows no key material.
#[derive(Clone, Debug)]
pub struct EgressConfig {
    /// Where to listen (port 0: one chosen by the system; [`EgressProxy::local_addr`] tells
    /// which). Loopback unless [`EgressConfig::allow_non_loopback`].
    pub listen: SocketAddr,
    /// Where requests go: `https://api.mch.weixin.qq.com`, `https://api2.mch.weixin.qq.com`, or a
    /// simulator's base URL. An optional path is a prefix put before each request's path.
    pub upstream_base_url: String,
    /// The outbound client: the merchant's identity, extra CA, timeouts, response cap, pools.
    /// Its allow-list is **replaced** by the upstream alone (as an identity host).
    pub outbound: OutboundConfig,
    /// Accept a listening address that is not loopback (a sidecar on a private network). The
    /// listener has no authentication: anyone who reaches it issues with the certificate.
    pub allow_non_loopback: bool,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            listen: DEFAULT_LISTEN,
            upstream_base_url: format!("https://{WECHAT_API_HOST}"),
            outbound: OutboundConfig::default(),
            allow_non_loopback: false,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl EgressConfig {
    /// The proxy for a checked host configuration: its identity, extra CA, timeouts and
    /// response cap; the upstream is its `base_url`, else the backup host when chosen, else
    /// WeChat Pay's production host.
    pub fn from_host_config(config: &HostConfig, listen: SocketAddr) -> EgressConfig {
        let upstream_base_url = match (&config.base_url, config.backup_host) {
            (Some(url), _) => url.clone(),
            (None, true) => format!("https://{WECHAT_BACKUP_API_HOST}"),
            (None, false) => format!("https://{WECHAT_API_HOST}"),
        };
        EgressConfig {
            listen,
            upstream_base_url,
            outbound: config.outbound(),
            ..EgressConfig::default()
        }
    }
}

/// What a proxy did, returned when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EgressStats {
    /// Requests received (health checks included).
    pub requests: u64,
    /// Requests forwarded upstream that got an answer (any status).
    pub forwarded: u64,
    /// Requests refused by the proxy's own rules (path, method, size).
    pub refused: u64,
    /// Forwarded requests whose exchange failed (502/504 of the proxy).
    pub failed: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    requests: AtomicU64,
    forwarded: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

/// Whether `path` may be forwarded: exactly one of the coupon paths
/// ([`wxcoupon_core::paths::classify_path`]), or why not.
pub fn path_allowed(path: &str) -> Result<(), PathRefusal> {
    classify_path(path).map(|_| ())
}

/// A bound proxy: the outbound client built, the socket listening.
pub struct EgressProxy {
    listener: TcpListener,
    shared: Arc<Shared>,
}

pub(super) struct Shared {
    client: OutboundClient,
    upstream: Upstream,
    /// This instance's value of [`HOP_HEADER`].
    hop: http::HeaderValue,
    counters: Counters,
    next_id: AtomicU64,
    grace: Duration,
}

impl EgressProxy {
    /// Checks the configuration, builds the outbound client and binds the listener.
    pub async fn bind(config: EgressConfig) -> HostResult<EgressProxy> {
        if !(config.allow_non_loopback || config.listen.ip().is_loopback()) {
            return Err(HostError::Setting(format!(
                "the egress proxy listens on {} which is not a loopback address: it has no \
                 authentication, so anyone reaching it would use the merchant certificate \
                 (set allow_non_loopback to accept that)",
                config.listen
            )));
        }
        let upstream = Upstream::parse(&config.upstream_base_url)?;
        let mut outbound = config.outbound;
        outbound.allow = AllowList::deny_all()
            .with_base_url(&config.upstream_base_url)
            .map_err(|e| HostError::Setting(format!("upstream_base_url: {e}")))?;
        if outbound.identity.is_none() {
            tracing::warn!(
                "egress proxy without a client certificate: WeChat Pay will refuse send_coupon \
                 (CA_ERROR)"
            );
        }
        let client = OutboundClient::new(outbound)?;
        let listen_error = |source| HostError::Listen {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(listen_error)?;
        let local = listener.local_addr().map_err(listen_error)?;
        upstream.refuse_self(local).await?;
        let hop = http::HeaderValue::from_str(&format!("{}-{}", std::process::id(), local))
            .unwrap_or(http::HeaderValue::from_static("wxcoupon"));
        Ok(EgressProxy {
            listener,
            shared: Arc::new(Shared {
                client,
                upstream,
                hop,
                counters: Counters::default(),
                next_id: AtomicU64::new(1),
                grace: config.shutdown_grace,
            }),
        })
    }

    /// The address the proxy listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The outbound client (its counters tell what reached the upstream).
    pub fn client(&self) -> &OutboundClient {
        &self.shared.client
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests in flight finish
    /// within the grace period and returns the totals.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> HostResult<EgressStats> {
        let EgressProxy { listener, shared } = self;
        let mut connections = Connections::new(LogTarget::Egress, EGRESS_CONNECTION_LIMITS);
        connections
            .accept_until(listener, shutdown, |stream, peer, stop| {
                let shared = shared.clone();
                serve_connection(LogTarget::Egress, stream, peer, stop, move |request| {
                    let shared = shared.clone();
                    async move { handle(&shared, request, peer).await }
                })
            })
            .await;
        connections.drain(shared.grace, async {}).await;
        let c = &shared.counters;
        Ok(EgressStats {
            requests: c.requests.load(Ordering::Relaxed),
            forwarded: c.forwarded.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        })
    }
}

/// Binds and serves until SIGINT or SIGTERM (what `wxcoupon egress` runs).
pub async fn run(config: EgressConfig) -> HostResult<()> {
    let upstream = config.upstream_base_url.clone();
    let identity = config.outbound.identity.is_some();
    let proxy = EgressProxy::bind(config).await?;
    tracing::info!(
        target: "wxcoupon::egress",
        addr = %proxy.local_addr(),
        upstream = %upstream,
        client_certificate = identity,
        "egress proxy listening"
    );
    let stats = proxy.run_until(crate::serve::shutdown_signal()).await?;
    tracing::info!(
        target: "wxcoupon::egress",
        requests = stats.requests,
        forwarded = stats.forwarded,
        refused = stats.refused,
        failed = stats.failed,
        "egress proxy stopped"
    );
    Ok(())
}
