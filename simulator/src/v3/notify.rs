//! Callback delivery (`COUPON.USE`), WeChat's side: the notification body (the used coupon
//! encrypted with the APIv3 key, the core's `NotificationBody`), its signature (the answers'
//! signing, `auth::sign_answer`, under the key [`CallbackKey`] picks), the POST to the notify
//! URL, WeChat's retries, the record of every attempt, and the signature probe.
//!
//! Choices where WeChat documents nothing:
//! - an event's id is `EV-` and 32 random letters and digits; every attempt carries the same
//!   body (same id, same ciphertext) under fresh `Wechatpay-Timestamp/-Nonce/-Signature`;
//! - an attempt succeeds on any 2xx; any other status, a transport error, or no answer within
//!   [`crate::SimulatorConfig::notify_timeout_ms`] is retried after the next delay of
//!   [`crate::SimulatorConfig::notify_retry_delays_ms`]; after the last delay's attempt the
//!   event is given up (its last record is final);
//! - [`CallbackKey::Migration`] alternates per attempt, the public key first;
//! - the target is the registered notify URL, or with [`crate::SimulatorConfig::notify_via`]
//!   that base URL with the registered URL's path and query. An `https://` target is called
//!   over TLS trusting only [`crate::SimulatorConfig::notify_ca_pem`] (without one, the attempt
//!   fails as a transport error); the `Host` header is the target's authority;
//! - deliveries run as tasks on the runtime the simulator started on; shutdown stops them
//!   between attempts (or abandons an attempt in flight), and unfinished events are never
//!   final;
//! - the probe has the body of a `COUPON.USE` event about no coupon (`{}` encrypted) and a
//!   `Wechatpay-Signature` of `WECHATPAY/SIGNTEST/` and random Base64; it is sent once, to the
//!   same target, and not recorded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;
use wxcoupon_core::v3::aead::{encrypt_resource, ApiV3Key};
use wxcoupon_core::v3::auth::SIGNATURE_HEADER;
use wxcoupon_core::v3::favor::Coupon;
use wxcoupon_core::v3::notification::{
    NotificationBody, NotificationResource, COUPON_USE, PROBE_SIGNATURE_PREFIX,
};

use super::auth::{sign_answer, REQUEST_ID_HEADER};
use super::keys::PlatformKeys;
use super::rfc3339_beijing;
use crate::config::{CallbackKey, SimulatorConfig};
use crate::handlers::random_nonce;

/// One delivery attempt of a callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The event (the same on every attempt).
    pub event_id: String,
    /// 1 for the first attempt, 2 for the first retry, …
    pub attempt: u32,
    /// Where it went (after `notify_via`).
    pub url: String,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why there was no answer (connection, TLS, timeout), when there was none.
    pub error: Option<String>,
    /// The `Wechatpay-Serial` it was signed under.
    pub wechatpay_serial: String,
    /// Whether this is the event's last attempt: delivered (2xx) or given up.
    pub last: bool,
}

impl DeliveryRecord {
    /// Whether the receiver took it (a 2xx).
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

#[derive(Default)]
struct Log {
    records: Vec<DeliveryRecord>,
    finals: HashMap<String, DeliveryRecord>,
}

/// Delivers callbacks; shared by the server and its tasks.
pub(crate) struct Notifier {
    keys: Arc<Mutex<PlatformKeys>>,
    public_key_id: String,
    callback_key: CallbackKey,
    via: Option<String>,
    tls: Option<TlsConnector>,
    delays: Vec<Duration>,
    timeout: Duration,
    log: Mutex<Log>,
    changed: watch::Sender<u64>,
    tasks: Mutex<JoinSet<()>>,
    runtime: tokio::runtime::Handle,
    shutdown: watch::Receiver<bool>,
    attempts: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A TLS client trusting only `ca_pem`.
fn tls_connector(ca_pem: &str) -> anyhow::Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.context("notify_ca_pem: not a certificate PEM")?)
            .context("notify_ca_pem")?;
    }
    if roots.is_empty() {
        bail!("notify_ca_pem holds no certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// `(https, authority, path and query)` of an `http(s)://` URL.
fn split_url(url: &str) -> Result<(bool, &str, &str), String> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("not an http(s) URL: {url}"));
    };
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    if authority.is_empty() {
        return Err(format!("no host in {url}"));
    }
    Ok((https, authority, path))
}

/// Where a callback for `notify_url` goes: `via`'s scheme and host with its path and query.
pub(crate) fn target(notify_url: &str, via: Option<&str>) -> Result<String, String> {
    let (_, _, path) = split_url(notify_url)?;
    let path = if path.is_empty() || path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok(match via {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => notify_url.to_string(),
    })
}

/// The body of a `COUPON.USE` event about `coupon` (its JSON encrypted with `key`).
pub(crate) fn coupon_use_body(key: &ApiV3Key, event_id: &str, coupon: &Coupon, now: i64) -> String {
    let plaintext = serde_json::to_string(coupon).expect("the coupon serializes");
    event_body(key, event_id, &plaintext, now)
}

fn event_body(key: &ApiV3Key, event_id: &str, plaintext: &str, now: i64) -> String {
    let nonce: String = random_nonce().chars().take(12).collect();
    let ciphertext =
        encrypt_resource(key, &nonce, "coupon", plaintext).expect("a 12-byte nonce encrypts");
    serde_json::to_string(&NotificationBody {
        id: event_id.to_string(),
        create_time: rfc3339_beijing(now),
        event_type: COUPON_USE.into(),
        resource_type: "encrypt-resource".into(),
        summary: "代金券核销通知".into(),
        resource: NotificationResource {
            original_type: "coupon".into(),
            algorithm: "AEAD_AES_256_GCM".into(),
            ciphertext,
            associated_data: "coupon".into(),
            nonce,
        },
    })
    .expect("the notification serializes")
}

/// A fresh event id.
pub(crate) fn event_id() -> String {
    format!("EV-{}", random_nonce())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Resolves once shutdown is requested (or the simulator is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

impl Notifier {
    /// From validated settings, on the current runtime.
    pub(crate) fn new(
        config: &SimulatorConfig,
        keys: Arc<Mutex<PlatformKeys>>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Notifier> {
        let tls = config
            .notify_ca_pem
            .as_deref()
            .map(tls_connector)
            .transpose()?;
        Ok(Notifier {
            keys,
            public_key_id: config.v3.public_key_id.clone(),
            callback_key: config.callback_key,
            via: config.notify_via.clone(),
            tls,
            delays: config
                .notify_retry_delays_ms
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
            timeout: Duration::from_millis(config.notify_timeout_ms),
            log: Mutex::new(Log::default()),
            changed: watch::channel(0).0,
            tasks: Mutex::new(JoinSet::new()),
            runtime: tokio::runtime::Handle::try_current()
                .context("the simulator must start on a Tokio runtime")?,
            shutdown,
            attempts: AtomicU64::new(0),
        })
    }

    /// Where a callback for `notify_url` goes.
    pub(crate) fn target(&self, notify_url: &str) -> Result<String, String> {
        target(notify_url, self.via.as_deref())
    }

    /// The serial the next attempt is signed under.
    fn next_serial(&self) -> String {
        let certificate = || lock(&self.keys).current().serial.clone();
        match self.callback_key {
            CallbackKey::PublicKey => self.public_key_id.clone(),
            CallbackKey::Certificate => certificate(),
            CallbackKey::Migration => {
                if self
                    .attempts
                    .fetch_add(1, Ordering::Relaxed)
                    .is_multiple_of(2)
                {
                    self.public_key_id.clone()
                } else {
                    certificate()
                }
            }
        }
    }

    /// The headers of one attempt: signed as answers are, under `serial`.
    fn signed_headers(&self, serial: &str, body: &str) -> Vec<(&'static str, String)> {
        let signed = sign_answer(&self.keys, Some(serial), body.to_string(), unix_now(), None);
        signed
            .headers
            .into_iter()
            .filter(|(name, _)| *name != REQUEST_ID_HEADER)
            .collect()
    }

    /// Starts delivering an event (`body`) to `url` in the background.
    pub(crate) fn deliver(self: &Arc<Self>, event_id: String, url: String, body: String) {
        let notifier = self.clone();
        let mut shutdown = self.shutdown.clone();
        let task = async move {
            let attempts = notifier.delays.len() + 1;
            for attempt in 0..attempts {
                if attempt > 0 {
                    tokio::select! {
                        _ = stopped(&mut shutdown) => return,
                        _ = tokio::time::sleep(notifier.delays[attempt - 1]) => {}
                    }
                }
                let serial = notifier.next_serial();
                let headers = notifier.signed_headers(&serial, &body);
                let outcome = tokio::select! {
                    _ = stopped(&mut shutdown) => return,
                    outcome = notifier.post(&url, &headers, &body) => outcome,
                };
                let (status, error) = match outcome {
                    Ok(status) => (Some(status), None),
                    Err(e) => (None, Some(e)),
                };
                let mut record = DeliveryRecord {
                    event_id: event_id.clone(),
                    attempt: u32::try_from(attempt + 1).unwrap_or(u32::MAX),
                    url: url.clone(),
                    status,
                    error,
                    wechatpay_serial: serial,
                    last: false,
                };
                record.last = record.delivered() || attempt + 1 == attempts;
                tracing::info!(
                    event_id = %record.event_id,
                    attempt = record.attempt,
                    url = %record.url,
                    status = ?record.status,
                    error = ?record.error,
                    "v3 callback attempt"
                );
                notifier.record(record.clone());
                if record.last {
                    return;
                }
            }
        };
        lock(&self.tasks).spawn_on(task, &self.runtime);
    }

    fn record(&self, record: DeliveryRecord) {
        {
            let mut log = lock(&self.log);
            if record.last {
                log.finals.insert(record.event_id.clone(), record.clone());
            }
            log.records.push(record);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Every attempt so far, in the order they ended.
    pub(crate) fn records(&self) -> Vec<DeliveryRecord> {
        lock(&self.log).records.clone()
    }

    /// The last attempt of `event_id` once it is delivered or given up, waiting up to `timeout`.
    pub(crate) async fn wait(
        &self,
        event_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<DeliveryRecord> {
        let mut changed = self.changed.subscribe();
        let wait = async {
            loop {
                if let Some(record) = lock(&self.log).finals.get(event_id) {
                    return record.clone();
                }
                if changed.changed().await.is_err() {
                    // The notifier is gone; nothing more will be recorded.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| {
            anyhow!("event {event_id} was neither delivered nor given up within {timeout:?}")
        })
    }

    /// Sends a signature probe to `url`; the receiver's status.
    pub(crate) async fn probe(&self, url: &str, key: &ApiV3Key) -> anyhow::Result<u16> {
        let body = event_body(key, &event_id(), "{}", unix_now());
        let serial = self.next_serial();
        let mut headers = self.signed_headers(&serial, &body);
        let probe = format!("{PROBE_SIGNATURE_PREFIX}{}", random_nonce());
        headers.retain(|(name, _)| *name != SIGNATURE_HEADER);
        headers.push((SIGNATURE_HEADER, probe));
        self.post(url, &headers, &body)
            .await
            .map_err(|e| anyhow!("the probe to {url} got no answer: {e}"))
    }

    /// Waits for the delivery tasks to end (after shutdown was requested), up to `grace`.
    pub(crate) async fn finish(&self, grace: Duration) {
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tasks.abort_all();
        }
    }

    /// Stops every delivery task at once.
    pub(crate) fn abort(&self) {
        lock(&self.tasks).abort_all();
    }

    /// One POST: the status, or why there is none.
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<u16, String> {
        tokio::time::timeout(self.timeout, self.post_once(url, headers, body))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout)))
    }

    async fn post_once(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<u16, String> {
        let (https, authority, path) = split_url(url)?;
        let path = if path.is_empty() || path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && !authority.ends_with(']');
        let address = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:{}", if https { 443 } else { 80 })
        };
        let tcp = TcpStream::connect(&address)
            .await
            .map_err(|e| format!("connecting to {address}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .uri(path)
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "*/*")
            .header(http::header::USER_AGENT, "wxcoupon-simulator (callbacks)");
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| format!("building the request: {e}"))?;
        if https {
            let connector = self
                .tls
                .as_ref()
                .ok_or("an https notify URL needs notify_ca_pem (or notify_via)")?;
            let host = if has_port {
                authority.rsplit_once(':').map_or(authority, |(h, _)| h)
            } else {
                authority
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| format!("server name {host}: {e}"))?;
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {address}: {e}"))?;
            send(TokioIo::new(tls), request).await
        } else {
            send(TokioIo::new(tcp), request).await
        }
    }
}

async fn send<I>(io: I, request: http::Request<Full<Bytes>>) -> Result<u16, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("sending: {e}"))?;
        let status = response.status().as_u16();
        // Read the answer through, so the receiver is not cut off mid-write.
        let _ = response.into_body().collect().await;
        Ok(status)
    }
    .await;
    conn.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_the_path_and_query() {
        assert_eq!(
            target(
                "https://shop.example/wx/notify?a=1",
                Some("http://127.0.0.1:9")
            )
            .unwrap(),
            "http://127.0.0.1:9/wx/notify?a=1"
        );
        assert_eq!(
            target("https://shop.example", Some("http://127.0.0.1:9/")).unwrap(),
            "http://127.0.0.1:9/"
        );
        assert_eq!(
            target("https://shop.example/n", None).unwrap(),
            "https://shop.example/n"
        );
        assert!(target("ftp://x/n", None).is_err());
        assert_eq!(split_url("http://h:1/p?q").unwrap(), (false, "h:1", "/p?q"));
    }

    #[test]
    fn event_bodies_decrypt_to_the_coupon() {
        let key = ApiV3Key::new(crate::v3::fixtures::APIV3_KEY).unwrap();
        let coupon = Coupon {
            coupon_id: "1000000001".into(),
            ..Coupon::default()
        };
        let body = coupon_use_body(&key, "EV-1", &coupon, 1_700_000_000);
        let read: NotificationBody = serde_json::from_str(&body).unwrap();
        assert_eq!(read.id, "EV-1");
        assert_eq!(read.event_type, "COUPON.USE");
        assert_eq!(read.resource.nonce.len(), 12);
        let plain = wxcoupon_core::v3::aead::decrypt_resource(
            &key,
            &read.resource.nonce,
            &read.resource.associated_data,
            &read.resource.ciphertext,
        )
        .unwrap();
        assert_eq!(serde_json::from_str::<Coupon>(&plain).unwrap(), coupon);
        assert!(event_id().starts_with("EV-"));
    }
}
