//! Certificates made fresh at every start with rcgen: a CA, a server certificate for `localhost`,
//! `127.0.0.1` and `::1`, and the merchant's client certificate (CN = mch_id), both signed by the
//! CA; the rustls server configuration built from them; and writing them out as PEM files.
//!
//! The CA's private key is never written or exposed: a certificate that verifies against the CA
//! is one this simulator issued.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// File name of the CA certificate in the certificate directory.
pub const CA_FILE: &str = "ca.pem";
/// File name of the server certificate.
pub const SERVER_CERT_FILE: &str = "server.pem";
/// File name of the server's private key.
pub const SERVER_KEY_FILE: &str = "server-key.pem";
/// File name of the merchant client certificate.
pub const CLIENT_CERT_FILE: &str = "client.pem";
/// File name of the merchant client certificate's private key.
pub const CLIENT_KEY_FILE: &str = "client-key.pem";

/// The generated certificates, as PEM text and DER.
pub(crate) struct CertBundle {
    pub ca_pem: String,
    pub server_pem: String,
    pub server_key_pem: String,
    pub client_pem: String,
    pub client_key_pem: String,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
}

impl std::fmt::Debug for CertBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertBundle(<key material redacted>)")
    }
}

fn validity(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
}

impl CertBundle {
    /// Makes the CA, the server certificate and the client certificate for `mch_id`.
    pub(crate) fn generate(mch_id: &str) -> anyhow::Result<CertBundle> {
        let ca_key = KeyPair::generate().context("generating the CA key")?;
        let mut ca_params = CertificateParams::default();
        validity(&mut ca_params);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "wxcoupon simulator CA");
        dn.push(DnType::OrganizationName, "wxcoupon-simulator");
        ca_params.distinguished_name = dn;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .context("signing the CA certificate")?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().context("generating the server key")?;
        let mut server_params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .context("server certificate names")?;
        validity(&mut server_params);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        server_params.distinguished_name = dn;
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server_params.use_authority_key_identifier_extension = true;
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .context("signing the server certificate")?;

        let client_key = KeyPair::generate().context("generating the client key")?;
        let mut client_params = CertificateParams::default();
        validity(&mut client_params);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, mch_id);
        dn.push(
            DnType::OrganizationalUnitName,
            "wxcoupon simulator merchant",
        );
        dn.push(DnType::OrganizationName, "Tenpay.com");
        dn.push(DnType::CountryName, "CN");
        client_params.distinguished_name = dn;
        client_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        client_params.use_authority_key_identifier_extension = true;
        let client_cert = client_params
            .signed_by(&client_key, &issuer)
            .context("signing the client certificate")?;

        Ok(CertBundle {
            ca_pem: ca_cert.pem(),
            server_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
            ca_der: ca_cert.der().clone(),
            server_der: server_cert.der().clone(),
            server_key_der: server_key.serialize_der(),
        })
    }

    /// The rustls server configuration: the server certificate, HTTP/1.1 by ALPN, and a client
    /// certificate verifier rooted in the CA that also lets clients without a certificate in
    /// (the query APIs need none; `send_coupon` checks for one itself).
    pub(crate) fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .context("adding the CA to the client root store")?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .context("building the client certificate verifier")?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.server_der.clone(), self.ca_der.clone()], key)
            .context("installing the server certificate")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Writes the five PEM files into `dir` (created if missing). Private keys get mode 0600 on
    /// Unix.
    pub(crate) fn write_to(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating certificate directory {}", dir.display()))?;
        write_file(&dir.join(CA_FILE), &self.ca_pem, false)?;
        write_file(&dir.join(SERVER_CERT_FILE), &self.server_pem, false)?;
        write_file(&dir.join(SERVER_KEY_FILE), &self.server_key_pem, true)?;
        write_file(&dir.join(CLIENT_CERT_FILE), &self.client_pem, false)?;
        write_file(&dir.join(CLIENT_KEY_FILE), &self.client_key_pem, true)?;
        Ok(())
    }
}

/// Writes one PEM file; `private` ones get mode 0600 on Unix.
pub(crate) fn write_file(path: &Path, contents: &str, private: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_pems_and_a_server_config() {
        let bundle = CertBundle::generate("10000098").unwrap();
        assert!(bundle.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(bundle.client_key_pem.contains("PRIVATE KEY"));
        let config = bundle.server_config().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(!format!("{bundle:?}").contains("PRIVATE"));
    }
}
