//! rustls client configurations: trusted roots (system store + an optional extra CA) and the two
//! flavours — with the merchant's client certificate and without.
//!
//! Always the `ring` provider, passed explicitly (a second provider in the build would make
//! `ClientConfig::builder()` panic). TLS 1.2 and 1.3. No ALPN: HTTP/1.1 only.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use super::errors::OutboundError;
use super::identity::ClientIdentity;

/// The crypto provider every configuration uses.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses PEM CA certificates and checks each is usable as a trust anchor. The message never
/// quotes the input.
pub(crate) fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "not valid PEM".to_string())?;
    if certs.is_empty() {
        return Err("no PEM CERTIFICATE block found".into());
    }
    let mut probe = RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        probe
            .add(cert.clone())
            .map_err(|_| format!("certificate #{} cannot be used as a trust anchor", i + 1))?;
    }
    Ok(certs)
}

/// How the root store was assembled (for the log line at start-up).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RootsSummary {
    pub system: usize,
    pub system_errors: usize,
    pub extra: usize,
}

/// The system roots (unless disabled) plus the extra CA certificates.
pub(crate) fn root_store(
    extra_ca_pem: Option<&[u8]>,
    use_system_roots: bool,
) -> Result<(RootCertStore, RootsSummary), OutboundError> {
    let mut roots = RootCertStore::empty();
    let mut summary = RootsSummary::default();
    if use_system_roots {
        let native = rustls_native_certs::load_native_certs();
        summary.system_errors = native.errors.len();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        summary.system = added;
    }
    if let Some(pem) = extra_ca_pem {
        let certs = parse_ca_pem(pem).map_err(OutboundError::ExtraCa)?;
        summary.extra = certs.len();
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| OutboundError::ExtraCa(format!("rejected: {e}")))?;
        }
    }
    if roots.is_empty() {
        return Err(OutboundError::NoRoots);
    }
    Ok((roots, summary))
}

/// A client configuration trusting `roots`, presenting `identity` when given.
pub(crate) fn client_config(
    roots: Arc<RootCertStore>,
    identity: Option<&ClientIdentity>,
) -> Result<ClientConfig, OutboundError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| OutboundError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    Ok(match identity {
        // Equivalent to `with_client_auth_cert(chain, key)`: the key was loaded and checked
        // against the certificate when the identity was read, and only the signing key is kept.
        Some(id) => builder.with_client_cert_resolver(Arc::new(
            rustls::sign::SingleCertAndKey::from(id.certified_key()),
        )),
        None => builder.with_no_client_auth(),
    })
}
