//! Test helpers: a small keep-alive HTTPS client (hyper's HTTP/1.1 client connection over
//! tokio-rustls, reconnecting when the server closed the connection), and request builders that
//! go through `wxcoupon-core` so every test also checks the core and the simulator agree.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use wxcoupon_core::{
    build_request, parse_response, sign, write_xml, Api, ApiKey, CouponRequest, CouponResponse,
    Error, Fields, Merchant, QueryCouponStockRequest, QueryCouponsInfoRequest, SendCouponRequest,
    SignType,
};
use wxcoupon_simulator::{Environment, RunningSimulator, Simulator, SimulatorConfig};

pub const OPENID: &str = "onqOjjrXT-776SpHnfexGm1_P7iE";

pub async fn start() -> RunningSimulator {
    start_with(SimulatorConfig::default()).await
}

pub async fn start_with(config: SimulatorConfig) -> RunningSimulator {
    Simulator::start(config).await.expect("simulator starts")
}

/// A status and body as received.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Answer {
    pub fn fields(&self) -> Fields {
        wxcoupon_core::read_xml(&self.body, &Default::default()).expect("answer is <xml>")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive connection at a time to the simulator, TLS or plain.
pub struct Client {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    sender: Option<SendRequest<Full<Bytes>>>,
    pub connects: u32,
}

pub fn tls_config(sim: &RunningSimulator, with_client_cert: bool) -> Arc<ClientConfig> {
    let identity = with_client_cert.then(|| (sim.client_cert_pem(), sim.client_key_pem()));
    tls_config_from_pem(sim.ca_pem(), identity)
}

/// A client configuration trusting `ca_pem`, presenting `identity` (certificate, key) if given.
pub fn tls_config_from_pem(ca_pem: &str, identity: Option<(&str, &str)>) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM");
    roots.add(ca).expect("CA added");
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => {
            let cert = CertificateDer::from_pem_slice(cert.as_bytes()).expect("client PEM");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key PEM");
            builder
                .with_client_auth_cert(vec![cert], key)
                .expect("client cert")
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

impl Client {
    /// HTTPS to the simulator, by IP (the server certificate carries 127.0.0.1).
    pub fn https(sim: &RunningSimulator, with_client_cert: bool) -> Client {
        let addr = sim.https_addr();
        Client {
            addr,
            tls: Some((
                TlsConnector::from(tls_config(sim, with_client_cert)),
                ServerName::IpAddress(addr.ip().into()),
            )),
            sender: None,
            connects: 0,
        }
    }

    /// HTTPS to any address with a given client configuration.
    pub fn https_to(addr: SocketAddr, config: Arc<ClientConfig>) -> Client {
        Client {
            addr,
            tls: Some((
                TlsConnector::from(config),
                ServerName::IpAddress(addr.ip().into()),
            )),
            sender: None,
            connects: 0,
        }
    }

    /// HTTPS to the simulator by the name `localhost`.
    pub fn https_localhost(sim: &RunningSimulator, with_client_cert: bool) -> Client {
        let mut client = Client::https(sim, with_client_cert);
        if let Some((connector, _)) = client.tls.take() {
            client.tls = Some((connector, ServerName::try_from("localhost").expect("name")));
        }
        client
    }

    /// Plain HTTP to the simulator's HTTP listener.
    pub fn plain(sim: &RunningSimulator) -> Client {
        Client {
            addr: sim.http_addr().expect("plain HTTP listener"),
            tls: None,
            sender: None,
            connects: 0,
        }
    }

    async fn connect(&mut self) -> anyhow::Result<()> {
        let tcp = TcpStream::connect(self.addr).await?;
        self.connects += 1;
        let sender = match &self.tls {
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await?;
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender
            }
            None => {
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender
            }
        };
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends one request, on the kept-alive connection when it is still usable.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Answer> {
        let headers = [(
            "content-type".to_string(),
            "text/xml; charset=utf-8".to_string(),
        )];
        let (status, _, body) = self.exchange(method, path, &headers, body).await?;
        Ok(Answer { status, body })
    }

    /// Sends one request with exactly these headers (and `host`), on the kept-alive connection
    /// when it is still usable: the status, every header (lower-case names) and the body.
    pub async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> anyhow::Result<(u16, Vec<(String, String)>, Bytes)> {
        let usable = match self.sender.as_mut() {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            self.sender = None;
            self.connect().await?;
        }
        let sender = self
            .sender
            .as_mut()
            .ok_or_else(|| anyhow!("no connection"))?;
        let host = self.addr.to_string();
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, host);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.body(Full::new(Bytes::from(body)))?;
        let result = async {
            let response = sender.send_request(request).await?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, headers, body))
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    pub async fn post(&mut self, path: &str, body: Vec<u8>) -> anyhow::Result<Answer> {
        self.send(Method::POST, path, body).await
    }

    /// Builds `request` with the core, posts it, and parses the answer with the core.
    pub async fn call(
        &mut self,
        merchant: &Merchant,
        request: &CouponRequest,
    ) -> anyhow::Result<(Answer, Result<CouponResponse, Error>)> {
        let http = build_request(merchant, request, &nonce()).map_err(|e| anyhow!("{e}"))?;
        let path = path_of(&http.url)?;
        let answer = self.post(&path, http.body).await?;
        let parsed = parse_response(merchant, request.api(), answer.status, &answer.body);
        Ok((answer, parsed))
    }
}

/// The path (with the sandbox prefix, if any) of a URL the core built.
pub fn path_of(url: &str) -> anyhow::Result<String> {
    let uri: http::Uri = url.parse().context("URL")?;
    Ok(uri.path().to_string())
}

pub fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!("nonce{}", N.fetch_add(1, Ordering::Relaxed))
}

pub fn trade_no() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!("1000009820250101{:06}", N.fetch_add(1, Ordering::Relaxed))
}

pub fn send(stock: &str, openid: &str, partner_trade_no: &str) -> CouponRequest {
    CouponRequest::SendCoupon(SendCouponRequest {
        coupon_stock_id: stock.into(),
        openid: openid.into(),
        partner_trade_no: partner_trade_no.into(),
        ..Default::default()
    })
}

pub fn query_stock(stock: &str) -> CouponRequest {
    CouponRequest::QueryCouponStock(QueryCouponStockRequest {
        coupon_stock_id: stock.into(),
        ..Default::default()
    })
}

pub fn query_coupon(coupon_id: &str, openid: &str, stock: &str) -> CouponRequest {
    CouponRequest::QueryCouponsInfo(QueryCouponsInfoRequest {
        coupon_id: coupon_id.into(),
        openid: openid.into(),
        stock_id: stock.into(),
        ..Default::default()
    })
}

pub fn production(sim: &RunningSimulator) -> Merchant {
    sim.merchant(Environment::Production)
}

/// A body of arbitrary fields signed with `key` (MD5), for requests the core would refuse
/// to build.
pub fn raw_signed(pairs: &[(&str, &str)], key: &str) -> Vec<u8> {
    let mut fields: Fields = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let key = ApiKey::new(key).expect("key");
    let signature = sign(&fields, &key, SignType::Md5);
    fields.insert("sign".into(), signature);
    write_xml(&fields).expect("xml").into_bytes()
}

pub fn api_path(api: Api) -> &'static str {
    api.path()
}

/// The business error of a parsed answer, or a panic saying what came instead.
pub fn business(parsed: Result<CouponResponse, Error>) -> wxcoupon_core::BusinessError {
    match parsed {
        Err(Error::Business(b)) => b,
        other => panic!("expected a business error, got {other:?}"),
    }
}

/// The refusal text of a `return_code` FAIL answer. The core reports one with an `err_code`
/// beside it (as the simulator sends) as a business error whose description is kept.
pub fn protocol(parsed: Result<CouponResponse, Error>) -> String {
    match parsed {
        Err(Error::Protocol { return_msg }) => return_msg,
        Err(Error::Business(b)) if b.err_code.is_some() => b.err_code_des.unwrap_or_default(),
        other => panic!("expected return_code FAIL, got {other:?}"),
    }
}
