//! The host side of `wasi:http/outgoing-handler`: how the component's coupon client reaches
//! WeChat Pay.
//!
//! | file | owns |
//! |---|---|
//! | `identity` | [`ClientIdentity`]: the merchant's certificate chain + key (PEM pair or `.p12`) |
//! | `allow` | [`AllowList`]: reachable destinations, and which receive the certificate |
//! | `tls` | rustls configurations: system roots + extra CA, with / without the identity |
//! | `client` | [`OutboundClient`]: pooled HTTP/1.1 clients, timeouts, size cap, counters, logs |
//! | `hooks` | [`OutboundHooks`]: `wasmtime_wasi_http::WasiHttpHooks` for a store |
//! | `errors` | [`OutboundError`] and the mapping of failures to `wasi:http` error codes |
//!
//! One [`OutboundClient`] per process (connection pools, TLS sessions), one [`OutboundHooks`]
//! per wasmtime store:
//!
//! ```no_run
//! # fn demo() -> anyhow::Result<()> {
//! use wxcoupon::outbound::{AllowList, ClientIdentity, OutboundClient, OutboundConfig};
//!
//! let config = OutboundConfig {
//!     identity: Some(ClientIdentity::from_pem_files("apiclient_cert.pem", "apiclient_key.pem")?),
//!     allow: AllowList::default(),
//!     ..OutboundConfig::default()
//! };
//! let client = OutboundClient::new(config)?;   // once
//! let hooks = client.hooks();                   // per store: `WasiHttpCtxView { hooks: &mut hooks, .. }`
//! # let _ = hooks; Ok(()) }
//! ```
//!
//! What a request goes through, in order: the allow-list (denied → `HTTP-request-denied`, no
//! connection); the request body is read (at most [`MAX_REQUEST_BODY_BYTES`]); the connection
//! (pooled, or new within the connect timeout, TLS handshake included); the response head within
//! the first-byte timeout; the body, each chunk within the between-bytes timeout and in total at
//! most `max_response_bytes`. The body is read completely before the response is handed to the
//! component, so every failure reaches it as a precise `wasi:http` error code on the response
//! future (wasmtime 48 gives body-stream errors to guests without a code).

mod allow;
mod client;
pub mod dedup;
mod errors;
mod hooks;
mod identity;
mod tls;

use std::fmt;
use std::time::Duration;

use wxcoupon_core::settings;

pub use allow::{
    AllowList, AllowListError, AllowedHost, Destination, Scheme, WECHAT_API_HOST,
    WECHAT_BACKUP_API_HOST,
};
pub use client::OutboundClient;
pub use errors::OutboundError;
pub use hooks::{IoFuture, OutboundHooks, SendRequestFuture};
pub use identity::{ClientIdentity, IdentityError};
pub use wasmtime_wasi_http::{RequestOptions, WasiBody};

pub(crate) use errors::code_name;
pub(crate) use tls::parse_ca_pem as tls_parse_ca_pem;

/// The default cap on a response body: 64 KiB, the component's own XML limit (the settings'
/// [`wxcoupon_core::settings::DEFAULT_MAX_RESPONSE_BYTES`]).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = settings::DEFAULT_MAX_RESPONSE_BYTES as usize;

/// The cap on a request body (the component's XML requests are well under 2 KiB).
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

/// The default time an idle pooled connection is kept: below common server keep-alive limits
/// (nginx: 75 s), so the server rarely closes a connection the client is about to reuse.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The three `wasi:http` request timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Until a connection is usable: DNS, TCP and the TLS handshake (a pooled connection is
    /// immediate).
    pub connect: Duration,
    /// From a usable connection until the response head arrives.
    pub first_byte: Duration,
    /// Between two chunks of the response body.
    pub between_bytes: Duration,
}

impl Default for Timeouts {
    /// Connect 5 s, first byte 10 s, between bytes 10 s (the settings' defaults).
    fn default() -> Self {
        let ms = |n: u32| Duration::from_millis(u64::from(n));
        Timeouts {
            connect: ms(settings::DEFAULT_CONNECT_TIMEOUT_MS),
            first_byte: ms(settings::DEFAULT_FIRST_BYTE_TIMEOUT_MS),
            between_bytes: ms(settings::DEFAULT_BETWEEN_BYTES_TIMEOUT_MS),
        }
    }
}

impl Timeouts {
    /// The guest's request options where it set them, these defaults elsewhere.
    pub fn resolve(&self, options: Option<&RequestOptions>) -> Timeouts {
        let o = options.copied().unwrap_or_default();
        Timeouts {
            connect: o.connect_timeout.unwrap_or(self.connect),
            first_byte: o.first_byte_timeout.unwrap_or(self.first_byte),
            between_bytes: o.between_bytes_timeout.unwrap_or(self.between_bytes),
        }
    }
}

/// Everything the outbound client needs. Plain data; [`Default`] is WeChat Pay's hosts, system
/// roots, no identity, 64 KiB responses, timeouts 5 s / 10 s / 10 s.
#[derive(Clone)]
pub struct OutboundConfig {
    /// The merchant's client certificate, presented to identity hosts only, with `send_coupon`
    /// only.
    pub identity: Option<ClientIdentity>,
    /// Reachable destinations.
    pub allow: AllowList,
    /// PEM CA certificates trusted in addition to the system roots (a simulator's CA, a TLS
    /// inspecting egress proxy).
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Whether to trust the system's root store (rustls-native-certs). An empty or unreadable
    /// store is only an error when no extra CA is given.
    pub use_system_roots: bool,
    /// The largest response body accepted.
    pub max_response_bytes: usize,
    /// Timeouts used where the guest's request options set none.
    pub timeouts: Timeouts,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// Keep connections open for the next request (the default). `false` opens a new
    /// connection — DNS, TCP and the TLS handshake — for every request: for egress proxies that
    /// mishandle keep-alive, and to measure what the pool saves (`bench/`).
    pub reuse_connections: bool,
    /// Forwards delivered once ([`dedup`]): the gateway's notification forwards.
    pub forward_dedup: Option<dedup::ForwardDedup>,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            identity: None,
            allow: AllowList::default(),
            extra_ca_pem: None,
            use_system_roots: true,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            timeouts: Timeouts::default(),
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            reuse_connections: true,
            forward_dedup: None,
        }
    }
}

impl fmt::Debug for OutboundConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundConfig")
            .field("identity", &self.identity)
            .field("allow", &self.allow)
            .field(
                "extra_ca_pem",
                &self
                    .extra_ca_pem
                    .as_ref()
                    .map(|p| format!("<{} bytes>", p.len())),
            )
            .field("use_system_roots", &self.use_system_roots)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("timeouts", &self.timeouts)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("reuse_connections", &self.reuse_connections)
            .field("forward_dedup", &self.forward_dedup)
            .finish()
    }
}
