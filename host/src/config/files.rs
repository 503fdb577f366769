//! The configuration's I/O, and only that: the process's `WXPAY_*` variables, the TOML file's
//! text, the client certificate's files, the extra CA file. Each failure is a rule for a
//! problem, never the content (a key file's lines, a password).

use std::path::Path;

use wxcoupon_core::settings::{CertificateFiles, Setting, CERT_FILE, KEY_FILE, P12_FILE};

use crate::outbound::ClientIdentity;

/// Reads the process's `WXPAY_*` variables, for [`super::HostConfig::load`]: the only place the
/// configuration touches the environment, and only when a caller (the CLI) asks. Values that
/// are not UTF-8 are converted lossily, so such a path shows up as a file that does not exist.
pub fn wxpay_env_vars() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            name.starts_with("WXPAY_")
                .then(|| (name, value.to_string_lossy().into_owned()))
        })
        .collect()
}

/// The configuration file's text, or the rule it breaks (`not found`).
pub(crate) fn read_config_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "not found".to_string(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
        kind => format!("cannot be read ({kind})"),
    })
}

/// Opens the client certificate's files, or names the file at fault and why.
pub(crate) fn load_identity(
    files: &CertificateFiles,
) -> Result<ClientIdentity, (&'static Setting, String)> {
    match files {
        CertificateFiles::Pem {
            cert_file,
            key_file,
        } => ClientIdentity::from_pem_files(cert_file, key_file).map_err(|e| {
            let setting = if e.file_path() == Some(cert_file.as_path()) {
                &CERT_FILE
            } else {
                &KEY_FILE
            };
            (setting, e.to_string())
        }),
        CertificateFiles::Pkcs12 {
            p12_file,
            password,
            mch_id,
        } => ClientIdentity::from_pkcs12_file(p12_file, password.as_deref(), mch_id)
            .map_err(|e| (&P12_FILE, e.to_string())),
    }
}

/// The extra CA file's PEM content (checked), or the rule it breaks, naming the file.
pub(crate) fn read_ca(path: &Path) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| {
        let problem = match e.kind() {
            std::io::ErrorKind::NotFound => "not found".to_string(),
            kind => format!("cannot be read ({kind})"),
        };
        format!("{}: {problem}", path.display())
    })?;
    crate::outbound::tls_parse_ca_pem(&pem)
        .map(|_| pem)
        .map_err(|problem| format!("{}: {problem}", path.display()))
}
