//! The test PKI, made with rcgen when a test binary first asks for it (once per binary):
//!
//! - a test CA;
//! - a server certificate for `localhost`, `127.0.0.1` and `::1`, signed by the CA;
//! - the merchant's client certificate (CN = [`MCH_ID`], like WeChat's `apiclient_cert.pem`),
//!   signed by the CA;
//! - a "rogue" client certificate signed by a second, unrelated CA.
//!
//! All keys are ECDSA P-256 (rcgen with `ring` cannot make RSA keys). The host loads them like
//! RSA ones: rustls signs with either, and a PKCS#12 stores the PKCS#8 key as it is.
//!
//! Plus a scratch directory removed on drop. Each test binary uses a different part of this
//! module.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The merchant id: the client certificate's CN and the `.p12` password WeChat uses.
pub const MCH_ID: &str = "10000098";

/// The generated certificates and keys. Key material is never printed.
pub struct TestPki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server_cert_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
    client_cert_pem: String,
    client_cert_der: CertificateDer<'static>,
    client_key_pem: String,
    client_key_der: Vec<u8>,
    rogue_ca_pem: String,
    rogue_cert_pem: String,
    rogue_key_pem: String,
}

/// The PKI of this test binary, generated on first use.
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(TestPki::generate)
}

impl TestPki {
    fn generate() -> TestPki {
        let ca = make_ca("wxcoupon test CA");
        let server_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .unwrap();
        leaf(&mut params, &[(DnType::CommonName, "localhost")]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = params.signed_by(&server_key, &*ca).unwrap();

        let (client_cert, client_key) = make_client(&ca, "wxcoupon test merchant");
        let rogue_ca = make_ca("wxcoupon rogue CA");
        let (rogue_cert, rogue_key) = make_client(&rogue_ca, "wxcoupon rogue merchant");

        TestPki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            server_cert_der: server_cert.der().clone(),
            server_key_der: server_key.serialize_der(),
            client_cert_pem: client_cert.pem(),
            client_cert_der: client_cert.der().clone(),
            client_key_pem: client_key.serialize_pem(),
            client_key_der: client_key.serialize_der(),
            rogue_ca_pem: rogue_ca.pem(),
            rogue_cert_pem: rogue_cert.pem(),
            rogue_key_pem: rogue_key.serialize_pem(),
        }
    }

    /// The test CA certificate (PEM): the trust root for the server and the client.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The test CA certificate (DER).
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca_der.clone()
    }

    /// The server certificate chain for rustls: the server certificate only.
    pub fn server_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.server_cert_der.clone()]
    }

    /// The server's private key for rustls.
    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()))
    }

    /// The merchant certificate (PEM), as `apiclient_cert.pem`.
    pub fn client_cert_pem(&self) -> &str {
        &self.client_cert_pem
    }

    /// The merchant certificate (DER).
    pub fn client_cert_der(&self) -> CertificateDer<'static> {
        self.client_cert_der.clone()
    }

    /// The merchant's private key (PKCS#8 PEM), as `apiclient_key.pem`.
    pub fn client_key_pem(&self) -> &str {
        &self.client_key_pem
    }

    /// The base64 lines of the merchant's private key: text no output may contain.
    pub fn client_key_lines(&self) -> Vec<&str> {
        pem_body(&self.client_key_pem)
    }

    /// The rogue CA certificate (PEM): trusting only it, the test server is untrusted.
    pub fn rogue_ca_pem(&self) -> &str {
        &self.rogue_ca_pem
    }

    /// A client certificate (PEM) the test CA did not sign.
    pub fn rogue_cert_pem(&self) -> &str {
        &self.rogue_cert_pem
    }

    /// The rogue certificate's private key (PKCS#8 PEM).
    pub fn rogue_key_pem(&self) -> &str {
        &self.rogue_key_pem
    }

    /// The base64 lines of the rogue private key.
    pub fn rogue_key_lines(&self) -> Vec<&str> {
        pem_body(&self.rogue_key_pem)
    }
}

/// The merchant certificate and key as a `.p12` the way WeChat issues `apiclient_cert.p12`:
/// legacy PBE-SHA1-3DES encryption and an HMAC-SHA1 MAC.
pub fn make_p12(password: &str) -> Vec<u8> {
    let pki = pki();
    p12_of(
        pki.client_cert_der.as_ref(),
        pki.client_key_der.as_slice(),
        password,
    )
}

/// A `.p12` in WeChat's form holding `cert_der` and its PKCS#8 key `key_der`.
pub fn p12_of(cert_der: &[u8], key_der: &[u8], password: &str) -> Vec<u8> {
    let cert = p12_keystore::Certificate::from_der(cert_der).unwrap();
    let chain = p12_keystore::PrivateKeyChain::new(key_der, [1u8; 20], [cert]);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "apiclient",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    store
        .writer(password)
        .encryption_algorithm(p12_keystore::EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
        .mac_algorithm(p12_keystore::MacAlgorithm::HmacSha1)
        .write()
        .unwrap()
}

/// A scratch directory under the system temp dir, removed on drop.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    /// A new, empty one; `label` and the process id name it.
    pub fn new(label: &str) -> Scratch {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("wxcoupon-test-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pem_body(pem: &str) -> Vec<&str> {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// Valid from the start of last year to the start of the year after next.
fn validity(params: &mut CertificateParams) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let year = 1970 + (secs / 31_556_952) as i32;
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 2, 1, 1);
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::default();
    validity(&mut params);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "wxcoupon tests");
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// An end-entity certificate's common parameters.
fn leaf(params: &mut CertificateParams, dn: &[(DnType, &str)]) {
    validity(params);
    let mut name = DistinguishedName::new();
    for (ty, value) in dn {
        name.push(ty.clone(), *value);
    }
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
}

/// A merchant client certificate (CN = [`MCH_ID`]) signed by `ca`, with its key.
fn make_client(
    ca: &CertifiedIssuer<'static, KeyPair>,
    unit: &str,
) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    leaf(
        &mut params,
        &[
            (DnType::OrganizationName, "Tenpay.com"),
            (DnType::OrganizationalUnitName, unit),
            (DnType::CommonName, MCH_ID),
        ],
    );
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &**ca).unwrap();
    (cert, key)
}
