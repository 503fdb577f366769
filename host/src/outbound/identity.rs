//! The merchant's client identity (API certificate chain + private key), loaded once and checked.
//!
//! WeChat Pay hands merchants `apiclient_cert.pem` + `apiclient_key.pem`, or `apiclient_cert.p12`
//! whose password is the merchant id. Loading parses the certificates, loads the key with the
//! `ring` provider and checks that the key belongs to the first certificate (any X.509 version:
//! a v1 certificate without extensions, as `openssl x509 -req` makes, works in TLS too), so a
//! broken file is reported when the configuration is read — naming the file and what is wrong —
//! not at the first `send_coupon`. The raw key bytes are dropped after loading; only the
//! provider's signing key stays in memory. Neither `Debug` nor any error shows key material.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use x509_cert::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef, UintRef};
use x509_cert::der::{Decode, Encode, Reader, SliceReader, TagNumber, Tagged};
use x509_cert::spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

/// A client certificate chain and its private key, ready for mutual TLS.
///
/// Cheap to clone (shared). `Debug` shows where it came from and how many certificates it
/// holds — never the key.
#[derive(Clone)]
pub struct ClientIdentity {
    inner: Arc<Inner>,
}

struct Inner {
    key: Arc<CertifiedKey>,
    source: String,
}

impl ClientIdentity {
    /// Loads `apiclient_cert.pem` (one or more `CERTIFICATE` blocks, the merchant's first) and
    /// `apiclient_key.pem` (an unencrypted PKCS#8, PKCS#1 or SEC1 key).
    pub fn from_pem_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<ClientIdentity, IdentityError> {
        let cert_path = cert_path.as_ref();
        let key_path = key_path.as_ref();
        let cert_pem = read_file(cert_path, "certificate file")?;
        let key_pem = read_file(key_path, "private key file")?;
        let chain = parse_chain(&cert_pem).map_err(|p| IdentityError::file(cert_path, p))?;
        let key = parse_key(&key_pem).map_err(|p| IdentityError::file(key_path, p))?;
        let source = format!("{} + {}", cert_path.display(), key_path.display());
        certify(chain, key, source).map_err(|e| match e {
            CertifyError::Key(p) => IdentityError::file(key_path, p),
            CertifyError::Cert(p) => IdentityError::file(cert_path, p),
            CertifyError::Mismatch(how) => IdentityError::file(
                key_path,
                format!(
                    "this private key does not belong to the certificate in {}: {how}",
                    cert_path.display()
                ),
            ),
        })
    }

    /// Loads an identity from PEM text already in memory (certificate chain, then key).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<ClientIdentity, IdentityError> {
        let chain = parse_chain(cert_pem).map_err(|p| IdentityError::memory("certificate", p))?;
        let key = parse_key(key_pem).map_err(|p| IdentityError::memory("private key", p))?;
        certify(chain, key, "PEM data".to_string()).map_err(|e| match e {
            CertifyError::Key(p) => IdentityError::memory("private key", p),
            CertifyError::Cert(p) => IdentityError::memory("certificate", p),
            CertifyError::Mismatch(how) => IdentityError::memory(
                "private key",
                format!("does not belong to the certificate: {how}"),
            ),
        })
    }

    /// Loads `apiclient_cert.p12`. Without a password, the merchant id is used: that is how
    /// WeChat Pay issues the file. Legacy encryption (3DES, RC2-40, SHA-1 MAC) is supported.
    pub fn from_pkcs12_file(
        path: impl AsRef<Path>,
        password: Option<&str>,
        mch_id: &str,
    ) -> Result<ClientIdentity, IdentityError> {
        let path = path.as_ref();
        let der = read_file(path, "PKCS#12 file")?;
        let (password, defaulted) = match password {
            Some(p) => (p, false),
            None => (mch_id, true),
        };
        let (chain, key) =
            parse_pkcs12(&der, password, defaulted).map_err(|p| IdentityError::file(path, p))?;
        certify(chain, key, path.display().to_string()).map_err(|e| match e {
            CertifyError::Key(p) | CertifyError::Cert(p) => IdentityError::file(path, p),
            CertifyError::Mismatch(how) => IdentityError::file(
                path,
                format!("its private key does not belong to its certificate: {how}"),
            ),
        })
    }

    /// Loads a PKCS#12 archive already in memory.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<ClientIdentity, IdentityError> {
        let (chain, key) =
            parse_pkcs12(der, password, false).map_err(|p| IdentityError::memory("PKCS#12", p))?;
        certify(chain, key, "PKCS#12 data".to_string()).map_err(|e| match e {
            CertifyError::Key(p) | CertifyError::Cert(p) => IdentityError::memory("PKCS#12", p),
            CertifyError::Mismatch(how) => IdentityError::memory(
                "PKCS#12",
                format!("its private key does not belong to its certificate: {how}"),
            ),
        })
    }

    /// Where the identity came from (file names, or "PEM data").
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// How many certificates the chain holds (the merchant's first).
    pub fn certificate_count(&self) -> usize {
        self.inner.key.cert.len()
    }

    /// The certificate chain (DER), merchant certificate first. Public data.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.inner.key.cert
    }

    /// The checked chain and signing key, for a rustls client configuration.
    pub(crate) fn certified_key(&self) -> Arc<CertifiedKey> {
        self.inner.key.clone()
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("source", &self.inner.source)
            .field("certificates", &self.certificate_count())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A client identity could not be loaded. Names the file (or "certificate"/"private key" for
/// data in memory) and what is wrong; never contains key bytes or the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityError {
    file: Option<PathBuf>,
    what: &'static str,
    problem: String,
}

impl IdentityError {
    fn file(path: &Path, problem: String) -> IdentityError {
        IdentityError {
            file: Some(path.to_path_buf()),
            what: "",
            problem,
        }
    }

    fn memory(what: &'static str, problem: String) -> IdentityError {
        IdentityError {
            file: None,
            what,
            problem,
        }
    }

    /// The file at fault, when the identity came from files.
    pub fn file_path(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// What is wrong, as a sentence fragment.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(path) => write!(f, "{}: {}", path.display(), self.problem),
            None => write!(f, "client identity ({}): {}", self.what, self.problem),
        }
    }
}

impl std::error::Error for IdentityError {}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, IdentityError> {
    std::fs::read(path).map_err(|e| {
        let problem = match e.kind() {
            std::io::ErrorKind::NotFound => format!("{what} not found"),
            std::io::ErrorKind::PermissionDenied => {
                format!("{what} is not readable (permission denied)")
            }
            _ if path.is_dir() => format!("{what} is a directory"),
            _ => format!("cannot read the {what}: {}", e.kind()),
        };
        IdentityError::file(path, problem)
    })
}

/// Describes a PEM syntax error without echoing the file's content.
fn pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM block has no END line".into(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".into(),
        pem::Error::Base64Decode(_) => "a PEM block is not valid base64".into(),
        pem::Error::SectionTooLarge => "a PEM block is too large".into(),
        _ => "not valid PEM".into(),
    }
}

fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_problem(&e))?;
    if chain.is_empty() {
        if PrivateKeyDer::from_pem_slice(pem).is_ok() || contains(pem, b"PRIVATE KEY-----") {
            return Err(
                "holds a private key, not a certificate (are the certificate and key swapped?)"
                    .into(),
            );
        }
        return Err("no PEM CERTIFICATE block found".into());
    }
    Ok(chain)
}

fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    if contains(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(
            "the private key is encrypted; WeChat's apiclient_key.pem is not \
                    (decrypt it with `openssl pkcs8 -in KEY -out apiclient_key.pem`)"
                .into(),
        );
    }
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            if contains(pem, b"-----BEGIN CERTIFICATE-----") {
                Err(
                    "holds a certificate, not a private key (are the certificate and key swapped?)"
                        .into(),
                )
            } else {
                Err("no PEM PRIVATE KEY block found".into())
            }
        }
        Err(e) => Err(pem_problem(&e)),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn parse_pkcs12(
    der: &[u8],
    password: &str,
    defaulted: bool,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    use p12_keystore::error::Error as P12;
    let store = p12_keystore::KeyStore::from_pkcs12(der, password).map_err(|e| {
        let hint = if defaulted {
            " (no password was given, so the mch_id was tried, as WeChat Pay issues the file)"
        } else {
            ""
        };
        match e {
            P12::MacError(_) | P12::UnpadError | P12::Pkcs5Error(_) => {
                format!("wrong password or damaged file{hint}")
            }
            P12::DerError(_) | P12::InvalidVersion | P12::UnsupportedContentType => {
                "not a PKCS#12 (.p12) file".to_string()
            }
            P12::UnsupportedEncryptionScheme | P12::UnsupportedMacAlgorithm => {
                "uses an encryption or MAC algorithm this host does not support".to_string()
            }
            P12::X509Error(_) | P12::UnsupportedCertificateType => {
                "holds a certificate that cannot be read".to_string()
            }
            _ => "cannot be read as PKCS#12".to_string(),
        }
    })?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| "holds no private key paired with a certificate".to_string())?;
    if chain.chain().is_empty() {
        return Err("holds a private key without its certificate".into());
    }
    let certs = chain
        .chain()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().to_vec()));
    Ok((certs, key))
}

enum CertifyError {
    Key(String),
    Cert(String),
    /// Both parse, but the key is not the certificate's; says how they differ.
    Mismatch(String),
}

/// Loads the key with the `ring` provider and checks it against the merchant's (first)
/// certificate. The certificate is read as any X.509 version — v1 ones without extensions
/// included, as TLS accepts them — only for its public key: the identity is the merchant's own,
/// and whom it proves itself to is checked by WeChat's servers, not here.
fn certify(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    source: String,
) -> Result<ClientIdentity, CertifyError> {
    let provider: CryptoProvider = rustls::crypto::ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| CertifyError::Key(unusable_key(&key)))?;
    drop(key);
    let first = chain
        .first()
        .ok_or_else(|| CertifyError::Cert("holds no certificate".into()))?;
    let certificate = x509_cert::Certificate::from_der(first.as_ref()).map_err(|e| {
        CertifyError::Cert(format!(
            "the first certificate is not a valid DER X.509 certificate ({e})"
        ))
    })?;
    let cert_spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| {
            CertifyError::Cert(format!("the certificate's public key is unreadable ({e})"))
        })?;
    // The ring provider knows the public key of every key it loads.
    if let Some(key_spki) = signing_key.public_key() {
        check_pair(&cert_spki, key_spki.as_ref()).map_err(CertifyError::Mismatch)?;
    }
    Ok(ClientIdentity {
        inner: Arc::new(Inner {
            key: Arc::new(CertifiedKey::new(chain, signing_key)),
            source,
        }),
    })
}

// ---- keys, in words ----

const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");
const X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");
const X448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.111");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");

/// What the ring provider signs with, for messages.
const USABLE_KEYS: &str = "RSA (2048 to 8192 bits), ECDSA P-256/P-384 or Ed25519 expected";

/// `Ok` when the two SubjectPublicKeyInfos hold the same key; else how they differ.
fn check_pair(cert_spki: &[u8], key_spki: &[u8]) -> Result<(), String> {
    let (Ok(cert), Ok(key)) = (
        SubjectPublicKeyInfoRef::from_der(cert_spki),
        SubjectPublicKeyInfoRef::from_der(key_spki),
    ) else {
        return Err("the two public keys cannot be compared".into());
    };
    // RSA parameters are NULL or absent (either is fine); EC parameters name the curve.
    let same_parameters =
        cert.algorithm.oid != EC || cert.algorithm.parameters == key.algorithm.parameters;
    if cert.algorithm.oid == key.algorithm.oid
        && same_parameters
        && cert.subject_public_key == key.subject_public_key
    {
        return Ok(());
    }
    let (cert_kind, key_kind) = (public_key_kind(&cert), public_key_kind(&key));
    Err(if cert_kind == key_kind {
        format!("both are {cert_kind} keys, but different ones")
    } else {
        format!(
            "the certificate holds {} {cert_kind} public key, the private key is {key_kind}",
            article(&cert_kind)
        )
    })
}

/// "RSA 2048-bit", "ECDSA P-256", "Ed25519", …
fn public_key_kind(spki: &SubjectPublicKeyInfoRef<'_>) -> String {
    let oid = spki.algorithm.oid;
    if oid == RSA {
        return match rsa_public_modulus_bits(spki.subject_public_key.raw_bytes()) {
            Some(bits) => format!("RSA {bits}-bit"),
            None => "RSA".into(),
        };
    }
    if oid == EC {
        let curve = spki
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        return ec_kind(curve);
    }
    algorithm_name(oid)
}

fn ec_kind(curve: Option<ObjectIdentifier>) -> String {
    match curve {
        Some(c) if c == P256 => "ECDSA P-256".into(),
        Some(c) if c == P384 => "ECDSA P-384".into(),
        Some(c) if c == P521 => "ECDSA P-521".into(),
        Some(c) if c == SECP256K1 => "ECDSA secp256k1".into(),
        Some(c) => format!("ECDSA (curve {c})"),
        None => "EC (curve not named)".into(),
    }
}

fn algorithm_name(oid: ObjectIdentifier) -> String {
    match oid {
        o if o == RSA => "RSA".into(),
        o if o == RSA_PSS => "RSASSA-PSS".into(),
        o if o == EC => "EC".into(),
        o if o == DSA => "DSA".into(),
        o if o == X25519 => "X25519".into(),
        o if o == X448 => "X448".into(),
        o if o == ED25519 => "Ed25519".into(),
        o if o == ED448 => "Ed448".into(),
        o => format!("OID {o}"),
    }
}

/// "a" or "an" before an initialism or name, as it is read aloud.
fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('A' | 'E' | 'F' | 'H' | 'I' | 'L' | 'M' | 'N' | 'O' | 'R' | 'S' | 'X') => "an",
        _ => "a",
    }
}

/// Why the ring provider refused a private key, as precisely as its DER tells.
fn unusable_key(key: &PrivateKeyDer<'_>) -> String {
    let what = match key {
        PrivateKeyDer::Pkcs8(k) => pkcs8_problem(k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => rsa_problem(k.secret_pkcs1_der(), "PKCS#1 (RSA PRIVATE KEY)"),
        PrivateKeyDer::Sec1(k) => sec1_problem(k.secret_sec1_der()),
        _ => "not a usable private key".into(),
    };
    format!("{what}; {USABLE_KEYS}")
}

/// PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, OCTET STRING, [0] …, [1] … }
fn pkcs8_problem(der: &[u8]) -> String {
    let parsed = SliceReader::new(der).and_then(|mut reader| {
        let parts = reader.sequence(|r| {
            let _version = r.decode::<u8>()?;
            let algorithm = r.decode::<AlgorithmIdentifierRef<'_>>()?;
            let key = r.decode::<OctetStringRef<'_>>()?;
            while !r.is_finished() {
                r.decode::<AnyRef<'_>>()?;
            }
            Ok((algorithm, key))
        })?;
        reader.finish(parts)
    });
    let (algorithm, key) = match parsed {
        Ok(parts) => parts,
        Err(e) => return format!("the private key is not valid PKCS#8 DER ({e})"),
    };
    match algorithm.oid {
        o if o == RSA => rsa_problem(key.as_bytes(), "PKCS#8 RSA"),
        o if o == EC => {
            let curve = algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            ec_problem(curve)
        }
        o if o == ED25519 => "a damaged Ed25519 key".into(),
        o if o == X25519 || o == X448 => format!(
            "an {} key, which is for key agreement and cannot sign",
            algorithm_name(o)
        ),
        o => {
            let name = algorithm_name(o);
            format!("{} {name} key", article(&name))
        }
    }
}

/// RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, … }
fn rsa_problem(der: &[u8], format: &str) -> String {
    let bits = SliceReader::new(der).and_then(|mut reader| {
        let bits = reader.sequence(|r| {
            let _version = r.decode::<u8>()?;
            let modulus = r.decode::<UintRef<'_>>()?;
            while !r.is_finished() {
                r.decode::<AnyRef<'_>>()?;
            }
            Ok(bit_length(modulus.as_bytes()))
        })?;
        reader.finish(bits)
    });
    match bits {
        Err(e) => format!("the private key is not valid {format} DER ({e})"),
        Ok(bits) if !(2048..=8192).contains(&bits) => format!("an RSA key of {bits} bits"),
        Ok(bits) => format!(
            "an RSA key of {bits} bits that cannot be loaded (damaged, or an unusual public \
             exponent)"
        ),
    }
}

/// ECPrivateKey ::= SEQUENCE { version, OCTET STRING, [0] curve OPTIONAL, [1] public key OPTIONAL }
fn sec1_problem(der: &[u8]) -> String {
    let curve = SliceReader::new(der).and_then(|mut reader| {
        let curve = reader.sequence(|r| {
            let _version = r.decode::<u8>()?;
            let _key = r.decode::<OctetStringRef<'_>>()?;
            let mut curve = None;
            while !r.is_finished() {
                let field = r.decode::<AnyRef<'_>>()?;
                if field.tag().is_context_specific() && field.tag().number() == TagNumber::N0 {
                    curve = ObjectIdentifier::from_der(field.value()).ok();
                }
            }
            Ok(curve)
        })?;
        reader.finish(curve)
    });
    match curve {
        Ok(curve) => ec_problem(curve),
        Err(e) => format!("the private key is not valid SEC1 (EC PRIVATE KEY) DER ({e})"),
    }
}

fn ec_problem(curve: Option<ObjectIdentifier>) -> String {
    match curve {
        Some(c) if c == P256 || c == P384 => format!(
            "an {} key that cannot be loaded (damaged, or stored without its public key)",
            ec_kind(Some(c))
        ),
        other => format!("an {} key", ec_kind(other)),
    }
}

/// RSAPublicKey ::= SEQUENCE { modulus, publicExponent }
fn rsa_public_modulus_bits(der: &[u8]) -> Option<usize> {
    let mut reader = SliceReader::new(der).ok()?;
    let bits = reader
        .sequence(|r| {
            let modulus = r.decode::<UintRef<'_>>()?;
            let _exponent = r.decode::<UintRef<'_>>()?;
            Ok(bit_length(modulus.as_bytes()))
        })
        .ok()?;
    reader.finish(bits).ok()
}

/// The bit length of a big-endian unsigned integer without leading zero bytes.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(first) => bytes.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}
