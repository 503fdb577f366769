//! The wire: keep-alive and handshake counting, plain HTTP, routing errors, certificate files,
//! shutdown.

mod common;

use bytes::Bytes;
use common::*;
use http::Method;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::rt::TokioExecutor;
use wxcoupon_core::{build_request, parse_response, Api, CouponResponse};
use wxcoupon_simulator::{CertFile, SimulatorConfig};

#[tokio::test]
async fn keep_alive_reuses_one_tls_connection() {
    let sim = start().await;
    let merchant = production(&sim);
    let mut client = Client::https(&sim, true);
    const N: usize = 40;
    for i in 0..N {
        let request = if i % 2 == 0 {
            query_stock("1758")
        } else {
            send("1758", &format!("user-{i}"), &trade_no())
        };
        let (_, parsed) = client.call(&merchant, &request).await.unwrap();
        assert!(parsed.is_ok(), "request {i}: {parsed:?}");
    }
    assert_eq!(sim.requests_seen(), N as u64);
    assert!(sim.handshakes() <= 2, "handshakes: {}", sim.handshakes());
    assert!(sim.connections() <= 2, "connections: {}", sim.connections());
    assert_eq!(client.connects, 1);
    assert_eq!(sim.stock("1758").unwrap().is_send_num, (N / 2) as u64);

    // A fresh client is a new handshake.
    let mut other = Client::https_localhost(&sim, false);
    let (_, parsed) = other.call(&merchant, &query_stock("1757")).await.unwrap();
    assert!(parsed.is_ok());
    assert_eq!(sim.handshakes(), 2);
}

#[tokio::test]
async fn plain_http_with_the_pooled_legacy_client() {
    let sim = start_with(SimulatorConfig {
        plain_http: true,
        ..SimulatorConfig::default()
    })
    .await;
    let base = sim.http_base_url().unwrap();
    assert!(base.starts_with("http://127.0.0.1:"));
    let mut merchant = production(&sim);
    merchant.host = wxcoupon_core::ApiHost::Custom(base);
    let client: LegacyClient<_, Full<Bytes>> =
        LegacyClient::builder(TokioExecutor::new()).build_http();

    const N: usize = 20;
    for _ in 0..N {
        let http = build_request(&merchant, &query_stock("1757"), &nonce()).unwrap();
        let request = http::Request::builder()
            .method(Method::POST)
            .uri(&http.url)
            .body(Full::new(Bytes::from(http.body)))
            .unwrap();
        let response = client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let parsed = parse_response(&merchant, Api::QueryCouponStock, status, &body);
        assert!(
            matches!(parsed, Ok(CouponResponse::QueryCouponStock(_))),
            "{parsed:?}"
        );
    }
    assert_eq!(sim.connections(), 1);
    assert_eq!(sim.handshakes(), 0);

    // No TLS, no client certificate: send_coupon refuses.
    let http = build_request(&merchant, &send("1757", OPENID, &trade_no()), &nonce()).unwrap();
    let request = http::Request::builder()
        .method(Method::POST)
        .uri(&http.url)
        .body(Full::new(Bytes::from(http.body)))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("CA_ERROR"));
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 0);
}

#[tokio::test]
async fn unknown_paths_and_other_methods() {
    let sim = start().await;
    let mut client = Client::https(&sim, false);
    let answer = client
        .post("/mmpaymkttransfers/nope", Vec::new())
        .await
        .unwrap();
    assert_eq!(answer.status, 404);
    let answer = client.post("/pay/getsignkey", Vec::new()).await.unwrap();
    assert_eq!(answer.status, 404);
    let answer = client
        .send(
            Method::GET,
            "/mmpaymkttransfers/query_coupon_stock",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 405);
    let answer = client
        .send(
            Method::PUT,
            "/sandboxnew/mmpaymkttransfers/send_coupon?x=1",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 405);
    // Still one connection after all of these.
    assert_eq!(client.connects, 1);
    assert_eq!(sim.requests_seen(), 4);
}

#[tokio::test]
async fn certificate_files_are_written() {
    let dir = std::env::temp_dir().join(format!("wxcoupon-sim-test-{}", std::process::id()));
    let sim = start_with(SimulatorConfig {
        cert_dir: Some(dir.clone()),
        ..SimulatorConfig::default()
    })
    .await;
    assert_eq!(sim.cert_dir(), Some(dir.as_path()));
    let read = |file: CertFile| std::fs::read_to_string(sim.cert_path(file).unwrap()).unwrap();
    assert_eq!(read(CertFile::Ca), sim.ca_pem());
    assert_eq!(read(CertFile::ClientCert), sim.client_cert_pem());
    assert_eq!(read(CertFile::ClientKey), sim.client_key_pem());
    assert!(read(CertFile::ServerCert).contains("BEGIN CERTIFICATE"));
    assert!(read(CertFile::ServerKey).contains("PRIVATE KEY"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sim.cert_path(CertFile::ClientKey).unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }
    sim.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn shutdown_and_drop_stop_listening() {
    let sim = start().await;
    let addr = sim.https_addr();
    let merchant = production(&sim);
    let mut client = Client::https(&sim, false);
    let (_, parsed) = client.call(&merchant, &query_stock("1757")).await.unwrap();
    assert!(parsed.is_ok());
    // Graceful shutdown closes the idle keep-alive connection too.
    tokio::time::timeout(std::time::Duration::from_secs(10), sim.shutdown())
        .await
        .expect("shutdown completes");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert!(client.call(&merchant, &query_stock("1757")).await.is_err());

    let sim = start().await;
    let addr = sim.https_addr();
    drop(sim);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn fixed_listen_address_and_base_url() {
    // Find a free port, then ask for it.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let sim = start_with(SimulatorConfig {
        listen: Some(addr),
        ..SimulatorConfig::default()
    })
    .await;
    assert_eq!(sim.https_base_url(), format!("https://{addr}"));
    assert_eq!(sim.http_base_url(), None);
}

#[tokio::test]
async fn a_stalled_handshake_does_not_block_others() {
    let sim = start().await;
    // A client that connects and sends nothing.
    let _idle = tokio::net::TcpStream::connect(sim.https_addr())
        .await
        .unwrap();
    let merchant = production(&sim);
    let mut client = Client::https(&sim, false);
    let (_, parsed) = client.call(&merchant, &query_stock("1757")).await.unwrap();
    assert!(parsed.is_ok());
    // And garbage instead of a ClientHello.
    use tokio::io::AsyncWriteExt;
    let mut junk = tokio::net::TcpStream::connect(sim.https_addr())
        .await
        .unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let (_, parsed) = client.call(&merchant, &query_stock("1757")).await.unwrap();
    assert!(parsed.is_ok());
}
