//! Which files hold the merchant's client certificate — a PEM pair or a PKCS#12 archive, never
//! both — read from the settings with their combination rules. Opening the files is the
//! host's business (this module does no I/O).

use std::fmt;
use std::path::PathBuf;

use super::read::Reader;
use super::table::{CERT_FILE, KEY_FILE, P12_FILE, P12_PASSWORD};

/// The client certificate's files, as the settings name them.
#[derive(Clone, PartialEq, Eq)]
pub enum CertificateFiles {
    /// `apiclient_cert.pem` + `apiclient_key.pem`.
    Pem {
        /// The certificate chain.
        cert_file: PathBuf,
        /// The private key.
        key_file: PathBuf,
    },
    /// `apiclient_cert.p12`.
    Pkcs12 {
        /// The archive.
        p12_file: PathBuf,
        /// Its password, if given (secret: redacted in `Debug`).
        password: Option<String>,
        /// The merchant id, the default password.
        mch_id: String,
    },
}

impl fmt::Debug for CertificateFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateFiles::Pem {
                cert_file,
                key_file,
            } => f
                .debug_struct("Pem")
                .field("cert_file", cert_file)
                .field("key_file", key_file)
                .finish(),
            CertificateFiles::Pkcs12 {
                p12_file,
                password,
                mch_id,
            } => f
                .debug_struct("Pkcs12")
                .field("p12_file", p12_file)
                .field("password", &password.as_ref().map(|_| "<redacted>"))
                .field("mch_id", mch_id)
                .finish(),
        }
    }
}

/// Whether an edge needs the client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The reference host: without one, `send_coupon` is refused by WeChat Pay, queries work.
    Optional,
    /// The egress proxy, which exists to present it.
    Required,
}

/// Reads [`CERT_FILE`], [`KEY_FILE`], [`P12_FILE`] and [`P12_PASSWORD`]; `mch_id` (a valid
/// one, if any) is the archive's default password. Problems: the PEM pair and the archive
/// together, half a pair, an archive without a password or merchant id, a password without an
/// archive, and nothing at all when `need` is [`Need::Required`].
pub fn read_certificate_files(
    r: &mut Reader<'_>,
    mch_id: Option<&str>,
    need: Need,
) -> Option<CertificateFiles> {
    let cert_file = r.path(&CERT_FILE);
    let key_file = r.path(&KEY_FILE);
    let p12_file = r.path(&P12_FILE);
    let password = r.secret(&P12_PASSWORD);
    let (cert_set, key_set) = (r.is_set(&CERT_FILE), r.is_set(&KEY_FILE));
    let p12_set = r.is_set(&P12_FILE);
    let mut files = None;
    if p12_set && (cert_set || key_set) {
        let rule = r.render(
            "cannot be combined with {cert_file}/{key_file}: give either the PEM pair or the .p12",
        );
        r.problem(&P12_FILE, rule);
    } else if cert_set || key_set {
        if !key_set {
            let rule = r.render("required when {cert_file} is set");
            r.problem(&KEY_FILE, rule);
        }
        if !cert_set {
            let rule = r.render("required when {key_file} is set");
            r.problem(&CERT_FILE, rule);
        }
        if let (Some(cert_file), Some(key_file)) = (cert_file, key_file) {
            files = Some(CertificateFiles::Pem {
                cert_file,
                key_file,
            });
        }
    } else if p12_set {
        match (&password, mch_id) {
            (None, None) => {
                let rule = r.render(
                    "required with {p12_file} unless {mch_id} is set (the default password)",
                );
                r.problem(&P12_PASSWORD, rule);
            }
            (password, mch_id) => {
                files = p12_file.map(|p12_file| CertificateFiles::Pkcs12 {
                    p12_file,
                    password: password.clone(),
                    mch_id: mch_id.unwrap_or_default().to_string(),
                })
            }
        }
    } else if need == Need::Required {
        let rule = r.render(
            "required (with {key_file}), or {p12_file}: the proxy exists to present the client \
             certificate",
        );
        r.problem(&CERT_FILE, rule);
    }
    if r.is_set(&P12_PASSWORD) && !p12_set {
        let rule = r.render("only meaningful with {p12_file}");
        r.problem(&P12_PASSWORD, rule);
    }
    files
}
