//! Loading the merchant's client identity (`wxcoupon::outbound::ClientIdentity`): any X.509
//! certificate whose public key is the private key's is accepted — an X.509 **v1** one too, as
//! `openssl x509 -req` makes without extensions — and every refusal says precisely what is wrong.
//!
//! The v1 certificate is put together here (rcgen writes only v3) around an rcgen key and signed
//! with that key, like `openssl x509 -req -signkey`. A loopback TLS 1.3 server that accepts
//! exactly that certificate (webpki's verifier refuses v1 certificates, so it checks the
//! handshake signature against the certificate's key itself) shows the identity really works.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rcgen::{KeyPair, PublicKeyData, SigningKey};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use wasmtime_wasi_http::WasiHttpHooks;
use wxcoupon::outbound::{AllowList, ClientIdentity, OutboundClient, OutboundConfig};

use common::{p12_of, pki, MCH_ID};

mod common;

const SEND_COUPON: &str = "/mmpaymkttransfers/send_coupon";
const OK_BODY: &str = "<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>";

// ---- the v1 certificate ----

/// A self-signed v1 certificate (no `[0] version`, no extensions) for CN = [`MCH_ID`], with its
/// ECDSA P-256 key.
struct V1Identity {
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    spki_der: Vec<u8>,
}

impl V1Identity {
    fn cert_pem(&self) -> String {
        to_pem("CERTIFICATE", &self.cert_der)
    }

    fn key_pem(&self) -> String {
        to_pem("PRIVATE KEY", &self.key_der)
    }
}

fn v1() -> &'static V1Identity {
    static V1: OnceLock<V1Identity> = OnceLock::new();
    V1.get_or_init(|| {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let spki_der = key.subject_public_key_info();
        // ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters.
        let algorithm = der(
            0x30,
            &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
        );
        // CN (2.5.4.3) as a UTF8String: the subject and, self-signed, the issuer.
        let cn = [der(0x06, &[0x55, 0x04, 0x03]), der(0x0c, MCH_ID.as_bytes())].concat();
        let name = der(0x30, &der(0x31, &der(0x30, &cn)));
        let yy = current_year() % 100;
        let validity = [
            der(0x17, format!("{:02}0101000000Z", yy - 1).as_bytes()),
            der(0x17, format!("{:02}0101000000Z", yy + 2).as_bytes()),
        ]
        .concat();
        let tbs = der(
            0x30,
            &[
                der(0x02, &[0x0a, 0x1b, 0x2c, 0x3d]),
                algorithm.clone(),
                name.clone(),
                der(0x30, &validity),
                name,
                spki_der.clone(),
            ]
            .concat(),
        );
        let signature = [vec![0u8], key.sign(&tbs).unwrap()].concat();
        V1Identity {
            cert_der: der(0x30, &[tbs, algorithm, der(0x03, &signature)].concat()),
            key_der: key.serialize_der(),
            spki_der,
        }
    })
}

/// One DER TLV.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if content.len() < 0x80 {
        out.push(content.len() as u8);
    } else {
        let len: Vec<u8> = content
            .len()
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | len.len() as u8);
        out.extend(len);
    }
    out.extend_from_slice(content);
    out
}

/// A PEM block: base64 in lines of 64 characters.
fn to_pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = Vec::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            text.push(match i <= chunk.len() {
                true => ALPHABET[(n >> (18 - 6 * i) & 63) as usize],
                false => b'=',
            });
        }
    }
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in text.chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem + &format!("-----END {label}-----\n")
}

fn current_year() -> i32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    1970 + (secs / 31_556_952) as i32
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("wxcoupon-identity-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, file: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(file);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- a server that accepts the v1 certificate ----

/// Asks for a client certificate, accepts only the v1 one, and checks the client's TLS 1.3
/// handshake signature with the v1 certificate's public key.
#[derive(Debug)]
struct V1ClientVerifier(Arc<rustls::crypto::CryptoProvider>);

impl ClientCertVerifier for V1ClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match end_entity.as_ref() == v1().cert_der.as_slice() {
            true => Ok(ClientCertVerified::assertion()),
            false => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "this server speaks TLS 1.3 only".into(),
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        _cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(v1().spki_der.as_slice()),
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Serves one TLS 1.3 connection and one request; records the client certificate it saw.
struct V1Server {
    addr: SocketAddr,
    client_certificate: Arc<Mutex<Option<Vec<u8>>>>,
    thread: Option<JoinHandle<()>>,
}

impl V1Server {
    fn start() -> V1Server {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_client_cert_verifier(Arc::new(V1ClientVerifier(provider)))
            .with_single_cert(pki().server_chain(), pki().server_key())
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let client_certificate = Arc::new(Mutex::new(None));
        let seen = client_certificate.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            let sock = loop {
                match listener.accept() {
                    Ok((sock, _)) => break sock,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => return,
                }
            };
            sock.set_nonblocking(false).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            *seen.lock().unwrap() = tls
                .conn
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|c| c.as_ref().to_vec());
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{OK_BODY}",
                OK_BODY.len()
            );
            let _ = tls.write_all(answer.as_bytes());
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        });
        V1Server {
            addr,
            client_certificate,
            thread: Some(thread),
        }
    }
}

impl Drop for V1Server {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---- tests ----

#[test]
fn a_v1_certificate_is_accepted_as_pem_and_pkcs12() {
    let v1 = v1();
    let id = ClientIdentity::from_pem(v1.cert_pem().as_bytes(), v1.key_pem().as_bytes())
        .unwrap_or_else(|e| panic!("PEM data: {e}"));
    assert_eq!(id.certificates()[0].as_ref(), v1.cert_der.as_slice());

    let scratch = Scratch::new("v1");
    let cert = scratch.write("apiclient_cert.pem", v1.cert_pem());
    let key = scratch.write("apiclient_key.pem", v1.key_pem());
    let id = ClientIdentity::from_pem_files(&cert, &key).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(id.certificate_count(), 1);
    assert_eq!(id.certificates()[0].as_ref(), v1.cert_der.as_slice());

    let p12 = p12_of(&v1.cert_der, &v1.key_der, MCH_ID);
    let id = ClientIdentity::from_pkcs12(&p12, MCH_ID).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(id.certificates()[0].as_ref(), v1.cert_der.as_slice());
    let p12 = scratch.write("apiclient_cert.p12", &p12);
    let id = ClientIdentity::from_pkcs12_file(&p12, None, MCH_ID).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(id.certificates()[0].as_ref(), v1.cert_der.as_slice());
}

#[tokio::test]
async fn a_v1_identity_completes_mutual_tls() {
    let v1 = v1();
    let identity =
        ClientIdentity::from_pem(v1.cert_pem().as_bytes(), v1.key_pem().as_bytes()).unwrap();
    let server = V1Server::start();
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    let client = OutboundClient::new(OutboundConfig {
        identity: Some(identity),
        allow: AllowList::default().with_base_url(&base).unwrap(),
        extra_ca_pem: Some(pki().ca_pem().as_bytes().to_vec()),
        use_system_roots: false,
        ..OutboundConfig::default()
    })
    .unwrap();

    let uri: http::Uri = format!("{base}{SEND_COUPON}").parse().unwrap();
    let body = Full::new(Bytes::from_static(b"<xml><mch_id>10000098</mch_id></xml>"))
        .map_err(|never| match never {})
        .boxed_unsync();
    let request = http::Request::builder()
        .method("POST")
        .uri(&uri)
        .header("host", uri.authority().unwrap().as_str())
        .header("content-type", "text/xml")
        .body(body)
        .unwrap();
    let mut hooks = client.hooks();
    let fut = hooks.send_request(request, None, Box::new(async { Ok(()) }));
    let (response, io) = Box::into_pin(fut).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, OK_BODY.as_bytes());
    Box::into_pin(io).await.unwrap();
    let seen = server.client_certificate.lock().unwrap().clone();
    assert_eq!(
        seen.as_deref(),
        Some(v1.cert_der.as_slice()),
        "the server saw the v1 certificate"
    );
}

/// The identity error for a PEM pair written to files, as a message.
fn pem_files_error(scratch: &Scratch, cert: &str, key: &str) -> (String, Option<PathBuf>) {
    let cert_path = scratch.write("cert.pem", cert);
    let key_path = scratch.write("key.pem", key);
    let err = ClientIdentity::from_pem_files(&cert_path, &key_path).unwrap_err();
    (err.to_string(), err.file_path().map(Path::to_path_buf))
}

#[test]
fn a_key_of_another_certificate_is_refused_naming_both_keys() {
    let scratch = Scratch::new("mismatch");
    let v1 = v1();
    let key_path = scratch.0.join("key.pem");

    // The same kind of key, another key.
    let (message, file) = pem_files_error(&scratch, &v1.cert_pem(), pki().client_key_pem());
    assert_eq!(file.as_deref(), Some(key_path.as_path()), "{message}");
    assert!(
        message.contains("does not belong to the certificate"),
        "{message}"
    );
    assert!(
        message.contains("both are ECDSA P-256 keys, but different ones"),
        "{message}"
    );

    // Another kind of key.
    let ed25519 = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let (message, _) = pem_files_error(&scratch, &v1.cert_pem(), &ed25519.serialize_pem());
    assert!(
        message.contains(
            "the certificate holds an ECDSA P-256 public key, the private key is Ed25519"
        ),
        "{message}"
    );
    let err = ClientIdentity::from_pem(
        pki().client_cert_pem().as_bytes(),
        ed25519.serialize_pem().as_bytes(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(
            "the certificate holds an ECDSA P-256 public key, the private key is Ed25519"
        ),
        "{err}"
    );

    // In a .p12.
    let p12 = p12_of(&v1.cert_der, &ed25519.serialize_der(), MCH_ID);
    let err = ClientIdentity::from_pkcs12(&p12, MCH_ID).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
    assert!(err.to_string().contains("Ed25519"), "{err}");
}

#[test]
fn broken_files_are_refused_saying_what_is_wrong() {
    let scratch = Scratch::new("broken");
    let v1 = v1();
    let cert_path = scratch.0.join("cert.pem");
    let key_path = scratch.0.join("key.pem");

    // Not PEM at all.
    let (message, file) = pem_files_error(&scratch, "hello", &v1.key_pem());
    assert_eq!(file.as_deref(), Some(cert_path.as_path()));
    assert!(
        message.contains("no PEM CERTIFICATE block found"),
        "{message}"
    );

    // A CERTIFICATE block that is not DER X.509: where the DER breaks, not a guess.
    let garbage = to_pem("CERTIFICATE", b"\x04\x03abc");
    let (message, file) = pem_files_error(&scratch, &garbage, &v1.key_pem());
    assert_eq!(file.as_deref(), Some(cert_path.as_path()), "{message}");
    assert!(
        message.contains("the first certificate is not a valid DER X.509 certificate"),
        "{message}"
    );
    assert!(
        message.contains("expected SEQUENCE, got OCTET STRING"),
        "{message}"
    );
    // A truncated certificate.
    let truncated = to_pem("CERTIFICATE", &v1.cert_der[..v1.cert_der.len() - 10]);
    let (message, _) = pem_files_error(&scratch, &truncated, &v1.key_pem());
    assert!(
        message.contains("the first certificate is not a valid DER X.509 certificate"),
        "{message}"
    );

    // A PKCS#8 key of a type that cannot sign: X25519 (1.3.101.110).
    let x25519 = der(
        0x30,
        &[
            der(0x02, &[0]),
            der(0x30, &der(0x06, &[0x2b, 0x65, 0x6e])),
            der(0x04, &der(0x04, &[7u8; 32])),
        ]
        .concat(),
    );
    let (message, file) =
        pem_files_error(&scratch, &v1.cert_pem(), &to_pem("PRIVATE KEY", &x25519));
    assert_eq!(file.as_deref(), Some(key_path.as_path()), "{message}");
    assert!(message.contains("an X25519 key"), "{message}");
    assert!(
        message.contains("RSA (2048 to 8192 bits), ECDSA P-256/P-384 or Ed25519 expected"),
        "{message}"
    );

    // A PKCS#1 RSA key of 1024 bits.
    let modulus = [vec![0x00, 0xc3], vec![0x5a; 127]].concat();
    let int = |bytes: &[u8]| der(0x02, bytes);
    let rsa1024 = der(
        0x30,
        &[
            int(&[0]),
            int(&modulus),
            int(&[1, 0, 1]),
            int(&[0x11; 128]),
            int(&[0x33; 64]),
            int(&[0x35; 64]),
            int(&[0x37; 64]),
            int(&[0x39; 64]),
            int(&[0x3b; 64]),
        ]
        .concat(),
    );
    let (message, _) = pem_files_error(
        &scratch,
        &v1.cert_pem(),
        &to_pem("RSA PRIVATE KEY", &rsa1024),
    );
    assert!(message.contains("an RSA key of 1024 bits"), "{message}");

    // A PRIVATE KEY block that is not DER.
    let (message, file) = pem_files_error(
        &scratch,
        &v1.cert_pem(),
        &to_pem("PRIVATE KEY", b"\x30\x05\x02\x01"),
    );
    assert_eq!(file.as_deref(), Some(key_path.as_path()), "{message}");
    assert!(
        message.contains("the private key is not valid PKCS#8 DER"),
        "{message}"
    );
}
