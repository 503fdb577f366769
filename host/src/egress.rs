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
//! wxcoupon::egress::run(config).await // until SIGINT / SIGTERM
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
use http::{HeaderMap, HeaderName, Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmtime_wasi_http::Error as HttpError;

use crate::config::HostConfig;
use crate::http_server::{ConnectionLimits, Connections, LogTarget};
use crate::outbound::{AllowList, ClientIdentity, OutboundClient, OutboundConfig, WECHAT_API_HOST};
use crate::outbound::{WasiBody, WECHAT_BACKUP_API_HOST};
use wxcoupon_core::paths::{classify_path, known_paths, PathRefusal};

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

/// Request headers never forwarded: hop-by-hop ones (RFC 9110 §7.6.1), the proxy ones, and those
/// the proxy sets itself (`host` from the upstream, `content-length` from the body read).
const DROPPED_HEADERS: [&str; 12] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
];

/// Everything the proxy needs. [`Default`]: listen on `127.0.0.1:8079`, forward to
/// `https://api.mch.weixin.qq.com`, system roots, **no client identity** (set
/// `outbound.identity`), loopback only, 10 s shutdown grace.
#[derive(Clone)]
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

impl fmt::Debug for EgressConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // OutboundConfig's Debug shows no key material.
        f.debug_struct("EgressConfig")
            .field("listen", &self.listen)
            .field("upstream_base_url", &self.upstream_base_url)
            .field("outbound", &self.outbound)
            .field("allow_non_loopback", &self.allow_non_loopback)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
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

/// The variables [`EgressConfig::from_vars`] reads.
///
/// | variable | value |
/// |---|---|
/// | `WXPAY_EGRESS_LISTEN` | `IP:PORT`, default `127.0.0.1:8079` |
/// | `WXPAY_EGRESS_UPSTREAM` | `https://host[:port][/prefix]`; default WeChat Pay's production host, or the backup host with `WXPAY_BACKUP_HOST=true` |
/// | `WXPAY_EGRESS_ALLOW_NON_LOOPBACK` | boolean: accept a listening address that is not loopback |
/// | `WXPAY_CERT_FILE` + `WXPAY_KEY_FILE` | the client certificate and key, PEM |
/// | `WXPAY_P12_FILE`, `WXPAY_P12_PASSWORD` | or `apiclient_cert.p12`; the password defaults to `WXPAY_MCH_ID` |
/// | `WXPAY_CA_FILE` | extra trusted CA certificates, PEM |
/// | `WXPAY_CONNECT_TIMEOUT_MS`, `WXPAY_FIRST_BYTE_TIMEOUT_MS`, `WXPAY_BETWEEN_BYTES_TIMEOUT_MS` | 1–600000 |
/// | `WXPAY_MAX_RESPONSE_BYTES` | 1–16777216, default 65536 |
///
/// `WXPAY_BASE_URL` is deliberately not read: next to a gateway it names the proxy itself.
/// Neither is `WXPAY_API_KEY`: the proxy signs nothing.
pub const EGRESS_VARIABLES: [&str; 14] = [
    "WXPAY_EGRESS_LISTEN",
    "WXPAY_EGRESS_UPSTREAM",
    "WXPAY_EGRESS_ALLOW_NON_LOOPBACK",
    "WXPAY_BACKUP_HOST",
    "WXPAY_CERT_FILE",
    "WXPAY_KEY_FILE",
    "WXPAY_P12_FILE",
    "WXPAY_P12_PASSWORD",
    "WXPAY_MCH_ID",
    "WXPAY_CA_FILE",
    "WXPAY_CONNECT_TIMEOUT_MS",
    "WXPAY_FIRST_BYTE_TIMEOUT_MS",
    "WXPAY_BETWEEN_BYTES_TIMEOUT_MS",
    "WXPAY_MAX_RESPONSE_BYTES",
];

/// What is wrong with the proxy's settings: `(variable, rule)` pairs, values never included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressConfigError(pub Vec<(String, String)>);

impl fmt::Display for EgressConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the egress proxy is not configured: ")?;
        for (i, (name, rule)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{name}: {rule}")?;
        }
        Ok(())
    }
}

impl std::error::Error for EgressConfigError {}

impl EgressConfig {
    /// The proxy's settings from `WXPAY_*` variables (see [`EGRESS_VARIABLES`]); later
    /// duplicates win, empty values count as unset, other names are ignored. The client
    /// certificate is required. Every problem is reported at once, naming the variable and the
    /// rule, never a value. Pass `std::env::vars()` (with a CLI's flags appended as the same
    /// names, so they win).
    pub fn from_vars<I, K, V>(vars: I) -> Result<EgressConfig, EgressConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        use std::collections::BTreeMap;
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, v)| k.as_ref().starts_with("WXPAY_") && !v.as_ref().trim().is_empty())
            .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().trim().to_string()))
            .collect();
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut problem = |name: &str, rule: String| problems.push((name.to_string(), rule));
        let get = |name: &str| vars.get(name).map(String::as_str);

        let flag = |name: &str, problem: &mut dyn FnMut(&str, String)| match get(name)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("0" | "false" | "no" | "off") => false,
            Some("1" | "true" | "yes" | "on") => true,
            Some(_) => {
                problem(
                    name,
                    "must be a boolean (1/0, true/false, yes/no, on/off)".into(),
                );
                false
            }
        };
        let allow_non_loopback = flag("WXPAY_EGRESS_ALLOW_NON_LOOPBACK", &mut problem);
        let backup_host = flag("WXPAY_BACKUP_HOST", &mut problem);

        let listen = match get("WXPAY_EGRESS_LISTEN") {
            None => DEFAULT_LISTEN,
            Some(text) => text.parse().unwrap_or_else(|_| {
                problem(
                    "WXPAY_EGRESS_LISTEN",
                    "must be IP:PORT (e.g. 127.0.0.1:8079)".into(),
                );
                DEFAULT_LISTEN
            }),
        };
        let upstream_base_url = match get("WXPAY_EGRESS_UPSTREAM") {
            Some(url) => {
                match Upstream::parse(url) {
                    Err(_) => problem(
                        "WXPAY_EGRESS_UPSTREAM",
                        "must be http(s)://host[:port][/prefix], no credentials or query".into(),
                    ),
                    Ok(u) if u.is_address(listen) => problem(
                        "WXPAY_EGRESS_UPSTREAM",
                        "must not be the proxy's own listening address".into(),
                    ),
                    Ok(_) => {}
                }
                url.to_string()
            }
            None if backup_host => format!("https://{WECHAT_BACKUP_API_HOST}"),
            None => format!("https://{WECHAT_API_HOST}"),
        };

        let identity = match (
            get("WXPAY_CERT_FILE"),
            get("WXPAY_KEY_FILE"),
            get("WXPAY_P12_FILE"),
        ) {
            (Some(cert), Some(key), None) => ClientIdentity::from_pem_files(cert, key)
                .map_err(|e| problem("WXPAY_CERT_FILE", e.to_string()))
                .ok(),
            (None, None, Some(p12)) => match (get("WXPAY_P12_PASSWORD"), get("WXPAY_MCH_ID")) {
                (None, None) => {
                    problem(
                        "WXPAY_P12_PASSWORD",
                        "required with WXPAY_P12_FILE unless WXPAY_MCH_ID is set (the \
                             default password)"
                            .into(),
                    );
                    None
                }
                (password, mch_id) => {
                    ClientIdentity::from_pkcs12_file(p12, password, mch_id.unwrap_or(""))
                        .map_err(|e| problem("WXPAY_P12_FILE", e.to_string()))
                        .ok()
                }
            },
            (None, None, None) => {
                problem(
                    "WXPAY_CERT_FILE",
                    "required (with WXPAY_KEY_FILE), or WXPAY_P12_FILE: the proxy exists to \
                     present the client certificate"
                        .into(),
                );
                None
            }
            (_, _, Some(_)) => {
                problem(
                    "WXPAY_P12_FILE",
                    "give either WXPAY_P12_FILE or WXPAY_CERT_FILE + WXPAY_KEY_FILE, not both"
                        .into(),
                );
                None
            }
            (Some(_), None, None) => {
                problem("WXPAY_KEY_FILE", "required with WXPAY_CERT_FILE".into());
                None
            }
            (None, Some(_), None) => {
                problem("WXPAY_CERT_FILE", "required with WXPAY_KEY_FILE".into());
                None
            }
        };

        let extra_ca_pem = get("WXPAY_CA_FILE").and_then(|path| match std::fs::read(path) {
            Ok(pem) => match crate::outbound::tls_parse_ca_pem(&pem) {
                Ok(_) => Some(pem),
                Err(e) => {
                    problem("WXPAY_CA_FILE", e.to_string());
                    None
                }
            },
            Err(e) => {
                problem("WXPAY_CA_FILE", format!("cannot be read: {e}"));
                None
            }
        });

        let mut number = |name: &str, max: u64| -> Option<u64> {
            let text = get(name)?;
            match text.parse::<u64>() {
                Ok(n) if (1..=max).contains(&n) => Some(n),
                _ => {
                    problem(name, format!("must be a number 1–{max}"));
                    None
                }
            }
        };
        let defaults = crate::outbound::Timeouts::default();
        let ms =
            |n: Option<u64>, default: Duration| n.map(Duration::from_millis).unwrap_or(default);
        let timeouts = crate::outbound::Timeouts {
            connect: ms(
                number("WXPAY_CONNECT_TIMEOUT_MS", crate::config::MAX_TIMEOUT_MS),
                defaults.connect,
            ),
            first_byte: ms(
                number("WXPAY_FIRST_BYTE_TIMEOUT_MS", crate::config::MAX_TIMEOUT_MS),
                defaults.first_byte,
            ),
            between_bytes: ms(
                number(
                    "WXPAY_BETWEEN_BYTES_TIMEOUT_MS",
                    crate::config::MAX_TIMEOUT_MS,
                ),
                defaults.between_bytes,
            ),
        };
        let max_response_bytes = number(
            "WXPAY_MAX_RESPONSE_BYTES",
            crate::config::MAX_RESPONSE_BYTES_LIMIT,
        )
        .map(|n| n as usize)
        .unwrap_or(crate::outbound::DEFAULT_MAX_RESPONSE_BYTES);

        if !problems.is_empty() {
            return Err(EgressConfigError(problems));
        }
        Ok(EgressConfig {
            listen,
            upstream_base_url,
            outbound: OutboundConfig {
                identity,
                extra_ca_pem,
                timeouts,
                max_response_bytes,
                ..OutboundConfig::default()
            },
            allow_non_loopback,
            ..EgressConfig::default()
        })
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
struct Counters {
    requests: AtomicU64,
    forwarded: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

/// The upstream, split for joining with request paths.
#[derive(Clone, Debug)]
struct Upstream {
    /// `scheme://authority`.
    origin: String,
    /// The base URL's path without its trailing slash (`""` for none).
    prefix: String,
}

impl Upstream {
    fn parse(url: &str) -> anyhow::Result<Upstream> {
        let trimmed = url.trim();
        let uri: Uri = trimmed
            .parse()
            .map_err(|e| anyhow::anyhow!("upstream_base_url {trimmed:?}: {e}"))?;
        let scheme = uri.scheme_str().unwrap_or("");
        anyhow::ensure!(
            scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http"),
            "upstream_base_url {trimmed:?}: must start with https:// or http://"
        );
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("upstream_base_url {trimmed:?}: no host"))?;
        anyhow::ensure!(
            !authority.as_str().contains('@'),
            "upstream_base_url {trimmed:?}: must not carry user credentials"
        );
        anyhow::ensure!(
            uri.query().is_none(),
            "upstream_base_url {trimmed:?}: must not have a query"
        );
        Ok(Upstream {
            origin: format!("{}://{}", scheme.to_ascii_lowercase(), authority),
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// Whether the upstream is `addr` itself (a loopback host on the same port).
    fn is_address(&self, addr: SocketAddr) -> bool {
        let Ok(uri) = self.origin.parse::<Uri>() else {
            return false;
        };
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let host = uri
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback() || ip == addr.ip());
        loopback && port == addr.port()
    }

    /// Resolves the upstream and refuses it when any of its addresses is the proxy's own
    /// listening address `local` (`127.1`, `[::ffff:127.0.0.1]`, `localhost.` and the like all
    /// resolve to it): the proxy would forward to itself until it ran out of file descriptors.
    /// An upstream that does not resolve now is accepted (WeChat's host from a machine without
    /// DNS yet): [`HOP_HEADER`] stops the loops resolution cannot see.
    async fn refuse_self(&self, local: SocketAddr) -> anyhow::Result<()> {
        let Ok(uri) = self.origin.parse::<Uri>() else {
            return Ok(());
        };
        let default_port = if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        let port = uri.port_u16().unwrap_or(default_port);
        // `localhost.` is `localhost`: the root label changes no name.
        let host = uri
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.');
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => {
                tracing::warn!(
                    target: "wxcoupon::egress",
                    upstream = %self.origin,
                    error = %e,
                    "the upstream does not resolve now; loops are caught by the hop header"
                );
                return Ok(());
            }
        };
        let local_ip = local.ip().to_canonical();
        let loops = addrs.iter().any(|addr| {
            let ip = addr.ip().to_canonical();
            addr.port() == local.port()
                && (ip == local_ip
                    || (local_ip.is_unspecified() && (ip.is_loopback() || ip.is_unspecified())))
        });
        anyhow::ensure!(
            !loops,
            "the egress upstream {} resolves to the proxy's own address {local}: it would \
             forward to itself",
            self.origin
        );
        Ok(())
    }

    fn uri_for(&self, path_and_query: &str) -> Result<Uri, http::uri::InvalidUri> {
        format!("{}{}{}", self.origin, self.prefix, path_and_query).parse()
    }
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

struct Shared {
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
    pub async fn bind(config: EgressConfig) -> anyhow::Result<EgressProxy> {
        anyhow::ensure!(
            config.allow_non_loopback || config.listen.ip().is_loopback(),
            "the egress proxy listens on {} which is not a loopback address: it has no \
             authentication, so anyone reaching it would use the merchant certificate \
             (set allow_non_loopback to accept that)",
            config.listen
        );
        let upstream = Upstream::parse(&config.upstream_base_url)?;
        let mut outbound = config.outbound;
        outbound.allow = AllowList::deny_all()
            .with_base_url(&config.upstream_base_url)
            .map_err(|e| anyhow::anyhow!("upstream_base_url: {e}"))?;
        if outbound.identity.is_none() {
            tracing::warn!(
                "egress proxy without a client certificate: WeChat Pay will refuse send_coupon \
                 (CA_ERROR)"
            );
        }
        let client =
            OutboundClient::new(outbound).map_err(|e| anyhow::anyhow!("outbound client: {e}"))?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("listen on {}: {e}", config.listen))?;
        let local = listener.local_addr()?;
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
    ) -> anyhow::Result<EgressStats> {
        let EgressProxy { listener, shared } = self;
        let mut connections = Connections::new(LogTarget::Egress, EGRESS_CONNECTION_LIMITS);
        connections
            .accept_until(listener, shutdown, |stream, peer, stop| {
                connection(shared.clone(), stream, peer, stop)
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
pub async fn run(config: EgressConfig) -> anyhow::Result<()> {
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

/// One connection (HTTP/1.1, keep-alive) until it ends or shutdown begins.
async fn connection(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(&shared, request, peer).await) }
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
                tracing::debug!(target: "wxcoupon::egress", %peer, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = stop.wait_for(|stop| *stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

type Answer = hyper::Response<Full<Bytes>>;

/// One request: the proxy's rules, then the upstream exchange; one log line.
async fn handle(
    shared: &Shared,
    request: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> Answer {
    let started = Instant::now();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let (answer, forwarded) = match forward(shared, request).await {
        Ok(answer) => {
            shared.counters.forwarded.fetch_add(1, Ordering::Relaxed);
            (answer, true)
        }
        Err(Refusal::Health) => (health(shared), false),
        Err(Refusal::Upstream(e)) => {
            shared.counters.failed.fetch_add(1, Ordering::Relaxed);
            (upstream_failure(&e), true)
        }
        Err(Refusal::Rule(rule)) => {
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            (rule.answer(), false)
        }
    };
    tracing::info!(
        target: "wxcoupon::egress",
        id,
        %peer,
        %method,
        path = %path,
        status = answer.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        forwarded,
        "egress request"
    );
    answer
}

/// Why the proxy answered itself.
enum Refusal {
    /// `GET /healthz`.
    Health,
    /// One of the proxy's rules.
    Rule(Rule),
    /// The upstream exchange failed.
    Upstream(HttpError),
}

/// A request the proxy does not forward.
enum Rule {
    Path(PathRefusal),
    Loop,
    Method,
    TooLarge,
    Unreadable,
}

impl Rule {
    fn answer(self) -> Answer {
        match self {
            Rule::Path(why) => {
                let allowed: Vec<String> = known_paths().collect();
                json(
                    StatusCode::FORBIDDEN,
                    "EGRESS_PATH_REFUSED",
                    &format!(
                        "{why}: the egress proxy forwards these paths only: {}",
                        allowed.join(", ")
                    ),
                )
            }
            Rule::Loop => json(
                StatusCode::LOOP_DETECTED,
                "EGRESS_LOOP",
                "the request already passed an egress proxy: the upstream leads back to one",
            ),
            Rule::Method => {
                let mut answer = json(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "METHOD_NOT_ALLOWED",
                    "the egress proxy forwards POST and GET only",
                );
                answer.headers_mut().insert(
                    http::header::ALLOW,
                    http::HeaderValue::from_static("POST, GET"),
                );
                answer
            }
            Rule::TooLarge => json(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE",
                &format!("the request body is over {MAX_REQUEST_BODY_BYTES} bytes"),
            ),
            Rule::Unreadable => json(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the request body could not be read",
            ),
        }
    }
}

/// The proxy's rules, then the exchange through the outbound client.
async fn forward(
    shared: &Shared,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<Answer, Refusal> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    if path == "/healthz" && parts.method == Method::GET {
        return Err(Refusal::Health);
    }
    if parts.headers.contains_key(HOP_HEADER) {
        return Err(Refusal::Rule(Rule::Loop));
    }
    path_allowed(path).map_err(|why| Refusal::Rule(Rule::Path(why)))?;
    if parts.method != Method::POST && parts.method != Method::GET {
        return Err(Refusal::Rule(Rule::Method));
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(path);
    let uri = shared
        .upstream
        .uri_for(path_and_query)
        .map_err(|_| Refusal::Rule(Rule::Path(PathRefusal::NotPrintableAscii)))?;

    let body = match Limited::new(body, MAX_REQUEST_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(Refusal::Rule(Rule::TooLarge))
        }
        Err(_) => return Err(Refusal::Rule(Rule::Unreadable)),
    };

    let mut upstream = http::Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .version(http::Version::HTTP_11);
    if let Some(headers) = upstream.headers_mut() {
        copy_end_to_end(&parts.headers, headers);
        headers.insert(HOP_HEADER, shared.hop.clone());
    }
    let body: WasiBody = Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync();
    let upstream = upstream
        .body(body)
        .map_err(|_| Refusal::Rule(Rule::Path(PathRefusal::NotPrintableAscii)))?;

    let response = shared
        .client
        .send(upstream, None)
        .await
        .map_err(Refusal::Upstream)?;
    let (head, body) = response.into_parts();
    // The outbound client hands back a complete body: collecting cannot fail or wait.
    let bytes = body.collect().await.map_err(Refusal::Upstream)?.to_bytes();
    let mut answer = hyper::Response::new(Full::new(bytes));
    *answer.status_mut() = head.status;
    copy_end_to_end(&head.headers, answer.headers_mut());
    Ok(answer)
}

/// Copies every header but the hop-by-hop ones, those `connection` names, and those the proxy
/// sets itself.
fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    let named_by_connection: Vec<String> = from
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in from {
        let lower = name.as_str();
        if DROPPED_HEADERS.contains(&lower) || named_by_connection.iter().any(|n| n == lower) {
            continue;
        }
        to.append(HeaderName::clone(name), value.clone());
    }
}

/// `GET /healthz`.
fn health(shared: &Shared) -> Answer {
    let body = serde_json::json!({
        "status": "ok",
        "upstream": shared.upstream.origin,
        "client_certificate": shared.client.has_identity(),
    });
    json_body(StatusCode::OK, &body)
}

/// `502 EGRESS_UPSTREAM_FAILED` or `504 EGRESS_UPSTREAM_TIMEOUT`.
fn upstream_failure(e: &HttpError) -> Answer {
    let timeout = matches!(
        e,
        HttpError::ConnectionTimeout
            | HttpError::ConnectionReadTimeout
            | HttpError::HttpResponseTimeout
            | HttpError::DnsTimeout
    );
    let (status, code) = if timeout {
        (StatusCode::GATEWAY_TIMEOUT, "EGRESS_UPSTREAM_TIMEOUT")
    } else {
        (StatusCode::BAD_GATEWAY, "EGRESS_UPSTREAM_FAILED")
    };
    json(
        status,
        code,
        &format!("the egress proxy's request upstream failed: {e}"),
    )
}

/// A JSON answer of the proxy's own: `{"code", "message"}`.
fn json(status: StatusCode, code: &str, message: &str) -> Answer {
    json_body(
        status,
        &serde_json::json!({ "code": code, "message": message }),
    )
}

fn json_body(status: StatusCode, body: &serde_json::Value) -> Answer {
    let mut answer = hyper::Response::new(Full::new(Bytes::from(body.to_string().into_bytes())));
    *answer.status_mut() = status;
    let headers = answer.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_coupon_paths_are_forwarded() {
        for ok in known_paths() {
            assert_eq!(path_allowed(&ok), Ok(()), "{ok}");
        }
        for refused in [
            "/",
            "/healthz",
            "/pay/unifiedorder",
            "/secapi/pay/refund",
            "/mmpaymkttransfers/promotion/transfers",
            "/mmpaymkttransfers/sendredpack",
            "/mmpaymkttransfers/sendgroupredpack",
            "/sandboxnew/mmpaymkttransfers/promotion/transfers",
            "/sandboxnew/secapi/pay/refund",
            "/mmpaymkttransfers/..;/secapi/pay/refund",
            "/mmpaymkttransfers/send_coupon;/../../secapi/pay/refund",
            "/mmpaymkttransfers\\..\\secapi\\pay\\refund",
            "/mmpaymkttransfers",
            "/mmpaymkttransfers/",
            "/mmpaymkttransfers/../secapi/pay/refund",
            "/mmpaymkttransfers/./send_coupon",
            "/mmpaymkttransfers//send_coupon",
            "/mmpaymkttransfers/%2e%2e/secapi/pay/refund",
            "/mmpaymkttransfers/send_coupon/",
            "/sandboxnew/..",
            "/MMPAYMKTTRANSFERS/send_coupon",
            "/mmpaymkttransfers/s\u{e9}nd",
        ] {
            assert!(path_allowed(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn upstream_urls_join_with_request_paths() {
        let u = Upstream::parse("https://api.mch.weixin.qq.com").unwrap();
        assert_eq!(
            u.uri_for("/mmpaymkttransfers/send_coupon").unwrap(),
            "https://api.mch.weixin.qq.com/mmpaymkttransfers/send_coupon"
        );
        let u = Upstream::parse("http://127.0.0.1:9000/wechat/").unwrap();
        assert_eq!(
            u.uri_for("/sandboxnew/pay/getsignkey?x=1").unwrap(),
            "http://127.0.0.1:9000/wechat/sandboxnew/pay/getsignkey?x=1"
        );
        for bad in [
            "ftp://example.com",
            "api.mch.weixin.qq.com",
            "https://user:pw@api.mch.weixin.qq.com",
            "https://api.mch.weixin.qq.com/?a=b",
        ] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut from = HeaderMap::new();
        for (name, value) in [
            ("content-type", "text/xml"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("host", "evil.example"),
            ("content-length", "12"),
            ("transfer-encoding", "chunked"),
            ("user-agent", "wxcoupon"),
        ] {
            from.append(
                HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            );
        }
        let mut to = HeaderMap::new();
        copy_end_to_end(&from, &mut to);
        let mut names: Vec<&str> = to.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["content-type", "user-agent"]);
    }

    #[test]
    fn settings_from_variables_name_every_problem_never_a_value() {
        let err = EgressConfig::from_vars([
            ("WXPAY_EGRESS_LISTEN", "localhost-8079"),
            ("WXPAY_EGRESS_UPSTREAM", "ftp://secret-host.example"),
            ("WXPAY_EGRESS_ALLOW_NON_LOOPBACK", "perhaps"),
            ("WXPAY_CONNECT_TIMEOUT_MS", "0"),
            ("WXPAY_MAX_RESPONSE_BYTES", "lots"),
            ("WXPAY_API_KEY", "192006250b4c09247ec02edce69f6a2d"),
        ])
        .unwrap_err();
        let names: Vec<&str> = err.0.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "WXPAY_EGRESS_ALLOW_NON_LOOPBACK",
                "WXPAY_EGRESS_LISTEN",
                "WXPAY_EGRESS_UPSTREAM",
                "WXPAY_CERT_FILE",
                "WXPAY_CONNECT_TIMEOUT_MS",
                "WXPAY_MAX_RESPONSE_BYTES",
            ]
        );
        let text = err.to_string();
        for value in ["secret-host", "perhaps", "lots", "192006250b4c"] {
            assert!(!text.contains(value), "{text}");
        }

        let only_cert = EgressConfig::from_vars([("WXPAY_CERT_FILE", "c.pem")]).unwrap_err();
        assert_eq!(only_cert.0[0].0, "WXPAY_KEY_FILE");
        let both = EgressConfig::from_vars([
            ("WXPAY_CERT_FILE", "c.pem"),
            ("WXPAY_KEY_FILE", "k.pem"),
            ("WXPAY_P12_FILE", "a.p12"),
        ])
        .unwrap_err();
        assert_eq!(both.0[0].0, "WXPAY_P12_FILE");
        let p12 = EgressConfig::from_vars([("WXPAY_P12_FILE", "a.p12")]).unwrap_err();
        assert_eq!(p12.0[0].0, "WXPAY_P12_PASSWORD");
        let missing = EgressConfig::from_vars([
            ("WXPAY_CERT_FILE", "/nonexistent/c.pem"),
            ("WXPAY_KEY_FILE", "/nonexistent/k.pem"),
        ])
        .unwrap_err();
        assert_eq!(missing.0[0].0, "WXPAY_CERT_FILE");
        let looped = EgressConfig::from_vars([
            ("WXPAY_EGRESS_LISTEN", "127.0.0.1:8079"),
            ("WXPAY_EGRESS_UPSTREAM", "http://localhost:8079"),
        ])
        .unwrap_err();
        assert_eq!(
            looped.0[0],
            (
                "WXPAY_EGRESS_UPSTREAM".to_string(),
                "must not be the proxy's own listening address".to_string()
            )
        );
    }

    /// A loopback port nothing listens on (bound, then released).
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[tokio::test]
    async fn refuses_an_upstream_that_resolves_to_itself() {
        for upstream in [
            "http://127.1:{port}",
            "http://[::ffff:127.0.0.1]:{port}",
            "http://localhost.:{port}",
            "https://127.0.0.1:{port}/prefix",
        ] {
            let port = free_port();
            let config = EgressConfig {
                listen: format!("127.0.0.1:{port}").parse().unwrap(),
                upstream_base_url: upstream.replace("{port}", &port.to_string()),
                ..EgressConfig::default()
            };
            let err = EgressProxy::bind(config)
                .await
                .err()
                .unwrap_or_else(|| panic!("{upstream} was accepted"));
            assert!(
                err.to_string().contains("forward to itself"),
                "{upstream}: {err}"
            );
        }
        // Another port on the same host is no loop.
        let port = free_port();
        let other = EgressProxy::bind(EgressConfig {
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            upstream_base_url: format!("http://127.1:{}", free_port()),
            ..EgressConfig::default()
        })
        .await;
        assert!(other.is_ok());
    }

    #[tokio::test]
    async fn a_loop_through_a_second_proxy_ends_at_the_first_hop() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (a, b) = (free_port(), free_port());
        let start = |listen: u16, upstream: u16| async move {
            let proxy = EgressProxy::bind(EgressConfig {
                listen: format!("127.0.0.1:{listen}").parse().unwrap(),
                upstream_base_url: format!("http://127.0.0.1:{upstream}"),
                ..EgressConfig::default()
            })
            .await
            .unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(proxy.run_until(async {
                let _ = stopped.await;
            }));
            (stop, task)
        };
        let (stop_a, task_a) = start(a, b).await;
        let (stop_b, task_b) = start(b, a).await;
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", a))
                .await
                .unwrap();
            stream
                .write_all(
                    b"POST /mmpaymkttransfers/query_coupon_stock HTTP/1.1\r\nhost: x\r\n\
                      content-length: 11\r\nconnection: close\r\n\r\n<xml></xml>",
                )
                .await
                .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer
        };
        let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .expect("the loop must end, not run until descriptors run out");
        assert!(answer.starts_with("HTTP/1.1 508"), "{answer}");
        assert!(answer.contains("EGRESS_LOOP"), "{answer}");
        let _ = stop_a.send(());
        let _ = stop_b.send(());
        let (a, b) = (
            task_a.await.unwrap().unwrap(),
            task_b.await.unwrap().unwrap(),
        );
        assert_eq!(
            (a.forwarded, b.forwarded, b.refused),
            (1, 0, 1),
            "{a:?} {b:?}"
        );
    }

    #[tokio::test]
    async fn refuses_a_non_loopback_listener() {
        let config = EgressConfig {
            listen: "0.0.0.0:0".parse().unwrap(),
            ..EgressConfig::default()
        };
        let err = EgressProxy::bind(config).await.err().expect("refused");
        assert!(err.to_string().contains("not a loopback address"), "{err}");
    }
}
