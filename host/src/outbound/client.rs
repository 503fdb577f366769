//! [`OutboundClient`]: the process-wide HTTP client behind every store's outgoing requests.
//!
//! Two pooled hyper-util clients over hyper-rustls (HTTP/1.1, keep-alive): one whose TLS
//! configuration carries the merchant's identity, for `send_coupon` to identity hosts; one
//! without, for everything else. Without an identity there is only the second. Counters are per client (no
//! globals), for tests and metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::{capture_connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use super::allow::{AllowList, Destination, Scheme};
use super::errors::{classify, code_name, OutboundError, Phase};
use super::hooks::OutboundHooks;
use super::tls;
use super::{OutboundConfig, Timeouts, MAX_REQUEST_BODY_BYTES};

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
type PooledClient = Client<Connector, Full<Bytes>>;

/// The outbound HTTP client: build it once per process and hand [`OutboundClient::hooks`] to
/// every store. Cloning shares the pools and counters.
#[derive(Clone)]
pub struct OutboundClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// Presents the client certificate; `None` without an identity.
    with_identity: Option<PooledClient>,
    /// Presents no certificate.
    plain: PooledClient,
    allow: AllowList,
    timeouts: Timeouts,
    max_response_bytes: usize,
    requests_sent: AtomicU64,
    with_certificate: AtomicU64,
    denied: AtomicU64,
    failed: AtomicU64,
    /// Forwards already delivered, when the configuration asks for it.
    dedup: Option<super::dedup::Memory>,
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClient")
            .field("identity", &self.inner.with_identity.is_some())
            .field("allow", &self.inner.allow)
            .field("timeouts", &self.inner.timeouts)
            .field("max_response_bytes", &self.inner.max_response_bytes)
            .field("requests_sent", &self.requests_sent())
            .field("denied", &self.denied())
            .finish()
    }
}

impl OutboundClient {
    /// Builds the TLS configurations and the connection pools. Fails when the extra CA is
    /// unusable or there is no trusted root at all. Needs no runtime; requests need tokio.
    pub fn new(config: OutboundConfig) -> Result<OutboundClient, OutboundError> {
        let (roots, summary) =
            tls::root_store(config.extra_ca_pem.as_deref(), config.use_system_roots)?;
        if summary.system_errors > 0 {
            tracing::warn!(
                loaded = summary.system,
                errors = summary.system_errors,
                "some system root certificates could not be read"
            );
        }
        let roots = Arc::new(roots);
        let build = |identity| -> Result<PooledClient, OutboundError> {
            let tls = tls::client_config(roots.clone(), identity)?;
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            Ok(Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(config.pool_idle_timeout)
                // hyper-util's way to turn the pool off: no idle connection is ever kept.
                .pool_max_idle_per_host(if config.reuse_connections {
                    usize::MAX
                } else {
                    0
                })
                .build(connector))
        };
        let with_identity = match &config.identity {
            Some(identity) => Some(build(Some(identity))?),
            None => None,
        };
        let plain = build(None)?;
        tracing::info!(
            identity = config.identity.as_ref().map(|i| i.source()),
            system_roots = summary.system,
            extra_roots = summary.extra,
            allowed = config.allow.entries().len(),
            "outbound client ready"
        );
        Ok(OutboundClient {
            inner: Arc::new(Inner {
                with_identity,
                plain,
                allow: config.allow,
                timeouts: config.timeouts,
                max_response_bytes: config.max_response_bytes,
                requests_sent: AtomicU64::new(0),
                with_certificate: AtomicU64::new(0),
                denied: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                dedup: config.forward_dedup.map(super::dedup::Memory::new),
            }),
        })
    }

    /// Hooks for one wasmtime store, sharing this client.
    pub fn hooks(&self) -> OutboundHooks {
        OutboundHooks::new(self.clone())
    }

    /// Requests that passed the allow-list and were handed to a connection pool.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests_sent.load(Ordering::Relaxed)
    }

    /// Sent requests that went with the client certificate (`send_coupon` to an identity host).
    pub fn requests_with_certificate(&self) -> u64 {
        self.inner.with_certificate.load(Ordering::Relaxed)
    }

    /// Requests refused by the allow-list (no connection was attempted).
    pub fn denied(&self) -> u64 {
        self.inner.denied.load(Ordering::Relaxed)
    }

    /// Sent requests that ended in an error instead of a complete response.
    pub fn failed(&self) -> u64 {
        self.inner.failed.load(Ordering::Relaxed)
    }

    /// Whether a client identity is configured.
    pub fn has_identity(&self) -> bool {
        self.inner.with_identity.is_some()
    }

    /// The allow-list in force.
    pub fn allow_list(&self) -> &AllowList {
        &self.inner.allow
    }

    /// The default timeouts.
    pub fn timeouts(&self) -> Timeouts {
        self.inner.timeouts
    }

    /// Sends one request the way the component's `wasi:http/outgoing-handler.handle` does:
    /// allow-list first, then the exchange with the guest's timeouts (or the defaults). The
    /// client certificate is presented only for `send_coupon` to an identity host over TLS
    /// ([`wxcoupon_core::paths::needs_client_certificate`]). The response body is complete (at
    /// most `max_response_bytes`). Errors are the `wasi:http` ones.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        use super::dedup::{Admission, DEDUPLICATED, IDEMPOTENCY_KEY};
        let Some(memory) = &self.inner.dedup else {
            return self.send_now(request, options).await;
        };
        let key = request
            .headers()
            .get(IDEMPOTENCY_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let answered = |status: u16| {
            let body = Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed_unsync();
            let mut response = http::Response::new(body);
            *response.status_mut() =
                http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
            response
                .headers_mut()
                .insert(DEDUPLICATED, http::HeaderValue::from_static("true"));
            response
        };
        match memory.admit(&request.uri().to_string(), key.as_deref()) {
            Admission::Untracked => self.send_now(request, options).await,
            Admission::Delivered(status) => {
                tracing::info!(
                    path = request.uri().path(),
                    "forward already delivered: not sent again"
                );
                Ok(answered(status))
            }
            Admission::InFlight => Ok(answered(409)),
            Admission::First(key) => {
                let result = self.send_now(request, options).await;
                memory.settle(&key, result.as_ref().ok().map(|r| r.status().as_u16()));
                result
            }
        }
    }

    /// [`OutboundClient::send`] without the forward memory.
    async fn send_now(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let started = Instant::now();
        let (mut parts, body) = request.into_parts();
        let method = parts.method.clone();
        let path = parts.uri.path().to_string();

        let userinfo = parts
            .uri
            .authority()
            .is_some_and(|a| a.as_str().contains('@'));
        let Some(dest) = Destination::from_uri(&parts.uri).filter(|_| !userinfo) else {
            self.inner.denied.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                %method,
                path,
                "outbound request denied: no http(s) scheme or host, or user credentials in the URI"
            );
            return Err(HttpError::HttpRequestUriInvalid);
        };
        let Some(entry) = self.inner.allow.find(&dest) else {
            self.inner.denied.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                %method,
                destination = %dest,
                path,
                "outbound request denied: destination not on the allow-list"
            );
            return Err(HttpError::HttpRequestDenied);
        };
        // The certificate goes to identity hosts over TLS only, with `send_coupon` only (the
        // core's rule: the one call WeChat needs it for), and only when there is one.
        let identity_client = self.inner.with_identity.as_ref().filter(|_| {
            entry.identity
                && dest.scheme == Scheme::Https
                && wxcoupon_core::paths::needs_client_certificate(&path)
        });
        let client_cert = identity_client.is_some();
        let client = identity_client.unwrap_or(&self.inner.plain);
        let timeouts = self.inner.timeouts.resolve(options.as_ref());

        let result = async {
            let body = read_request_body(body).await?;
            // hyper-util's legacy client rewrites the URI to origin-form itself (it keeps the
            // absolute form only for proxies); it needs the absolute one to pick the pool.
            parts.version = http::Version::HTTP_11;
            let request = http::Request::from_parts(parts, Full::new(body));
            self.inner.requests_sent.fetch_add(1, Ordering::Relaxed);
            if client_cert {
                self.inner.with_certificate.fetch_add(1, Ordering::Relaxed);
            }
            exchange(client, request, timeouts, self.inner.max_response_bytes).await
        }
        .await;

        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(response) => {
                tracing::info!(
                    %method,
                    host = %dest.host,
                    port = dest.port,
                    path,
                    status = response.status().as_u16(),
                    elapsed_ms,
                    client_cert,
                    "outbound request"
                );
                let (parts, body) = response.into_parts();
                let body = Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync();
                Ok(http::Response::from_parts(parts, body))
            }
            Err(e) => {
                self.inner.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    %method,
                    host = %dest.host,
                    port = dest.port,
                    path,
                    elapsed_ms,
                    client_cert,
                    error = %code_name(&e),
                    "outbound request failed"
                );
                Err(e)
            }
        }
    }
}

/// Reads the guest's request body (bounded).
async fn read_request_body(mut body: WasiBody) -> Result<Bytes, HttpError> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if buf.len() + data.len() > MAX_REQUEST_BODY_BYTES {
                return Err(HttpError::HttpRequestBodySize(Some(
                    (buf.len() + data.len()) as u64,
                )));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Connection, response head, complete body — each step under its own timeout.
async fn exchange(
    client: &PooledClient,
    mut request: http::Request<Full<Bytes>>,
    timeouts: Timeouts,
    max_body: usize,
) -> Result<http::Response<Bytes>, HttpError> {
    let mut capture = capture_connection(&mut request);
    let response = client.request(request);
    tokio::pin!(response);

    // 1. A usable connection (pooled, or new: DNS + TCP + TLS) within the connect timeout.
    let connected = async { capture.wait_for_connection_metadata().await.is_some() };
    let early = tokio::select! {
        biased;
        r = &mut response => Some(r),
        _ = connected => None,
        _ = tokio::time::sleep(timeouts.connect) => return Err(HttpError::ConnectionTimeout),
    };

    // 2. The response head within the first-byte timeout.
    let response = match early {
        Some(r) => {
            let phase = if capture.connection_metadata().is_some() {
                Phase::Exchange
            } else {
                Phase::Connect
            };
            r.map_err(|e| classify(&e, phase))?
        }
        None => match tokio::time::timeout(timeouts.first_byte, &mut response).await {
            Ok(r) => r.map_err(|e| classify(&e, Phase::Exchange))?,
            Err(_) => return Err(HttpError::ConnectionReadTimeout),
        },
    };

    // 3. The body: size cap (declared length first), each chunk within between-bytes.
    if let Some(len) = declared_length(response.headers()) {
        if len > max_body as u64 {
            return Err(HttpError::HttpResponseBodySize(Some(len)));
        }
    }
    let (parts, mut body) = response.into_parts();
    let mut buf = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(timeouts.between_bytes, body.frame()).await {
            Err(_) => return Err(HttpError::ConnectionReadTimeout),
            Ok(None) => break,
            // The head arrived: a connection lost now means a truncated answer.
            Ok(Some(frame)) => frame.map_err(|e| match classify(&e, Phase::Exchange) {
                HttpError::ConnectionTerminated => HttpError::HttpResponseIncomplete,
                other => other,
            })?,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max_body {
                return Err(HttpError::HttpResponseBodySize(None));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(http::Response::from_parts(parts, buf.freeze()))
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_client_can_be_shared_across_threads() {
        fn shared<T: Send + Sync + Clone + 'static>() {}
        shared::<super::OutboundClient>();
        shared::<super::super::OutboundHooks>();
    }
}
