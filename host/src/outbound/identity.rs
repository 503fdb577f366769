//! The merchant's client identity (API certificate chain + private key), loaded once and checked.
//!
//! WeChat Pay hands merchants `apiclient_cert.pem` + `apiclient_key.pem`, or `apiclient_cert.p12`
//! whose password is the merchant id. Loading parses the certificates, loads the key with the
//! `ring` provider and checks that the key belongs to the first certificate, so a broken file is
//! reported when the configuration is read — naming the file and what is wrong — not at the first
//! `send_coupon`. The raw key bytes are dropped after loading; only the provider's signing key
//! stays in memory. Neither `Debug` nor any error shows key material.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

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
            CertifyError::Mismatch => IdentityError::file(
                key_path,
                format!(
                    "this private key does not belong to the certificate in {}",
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
            CertifyError::Mismatch => IdentityError::memory(
                "private key",
                "does not belong to the certificate".to_string(),
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
            CertifyError::Mismatch => IdentityError::file(
                path,
                "its private key does not belong to its certificate".to_string(),
            ),
        })
    }

    /// Loads a PKCS#12 archive already in memory.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<ClientIdentity, IdentityError> {
        let (chain, key) =
            parse_pkcs12(der, password, false).map_err(|p| IdentityError::memory("PKCS#12", p))?;
        certify(chain, key, "PKCS#12 data".to_string()).map_err(|e| match e {
            CertifyError::Key(p) | CertifyError::Cert(p) => IdentityError::memory("PKCS#12", p),
            CertifyError::Mismatch => IdentityError::memory(
                "PKCS#12",
                "its private key does not belong to its certificate".to_string(),
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
    Mismatch,
}

fn certify(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    source: String,
) -> Result<ClientIdentity, CertifyError> {
    let provider: CryptoProvider = rustls::crypto::ring::default_provider();
    let signing_key = provider.key_provider.load_private_key(key).map_err(|_| {
        CertifyError::Key(
            "not a usable private key (RSA, ECDSA P-256/P-384 or Ed25519 expected)".into(),
        )
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(CertifyError::Mismatch)
        }
        Err(_) => {
            return Err(CertifyError::Cert(
                "the certificate cannot be parsed (not an X.509 certificate?)".into(),
            ))
        }
    }
    Ok(ClientIdentity {
        inner: Arc::new(Inner {
            key: Arc::new(certified),
            source,
        }),
    })
}
