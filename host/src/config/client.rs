//! The outbound client's settings, read the same way for the host configuration and the egress
//! proxy: the client certificate (its files opened), the extra CA, the timeouts and the response
//! cap.

use std::path::PathBuf;
use std::time::Duration;

use wxcoupon_core::settings::{self, CertificateFiles, Need, Reader, Setting};

use super::files::{load_identity, read_ca};
use crate::outbound::{OutboundConfig, Timeouts};

/// What [`read_client`] found; each part `None` (or the default) where it broke a rule.
pub(crate) struct ClientSettings {
    /// The certificate's files, when they opened.
    pub files: Option<CertificateFiles>,
    /// The extra CA file.
    pub ca_file: Option<PathBuf>,
    /// The identity, the extra CA's PEM, the timeouts and the response cap; the rest default.
    pub outbound: OutboundConfig,
}

/// Reads the client settings, every problem into `r`; `mch_id` is the PKCS#12 file's default
/// password.
pub(crate) fn read_client(r: &mut Reader<'_>, mch_id: Option<&str>, need: Need) -> ClientSettings {
    let files = settings::read_certificate_files(r, mch_id, need);
    let identity = files.as_ref().and_then(|f| match load_identity(f) {
        Ok(identity) => Some(identity),
        Err((setting, rule)) => {
            r.problem(setting, rule);
            None
        }
    });
    let ca_file = r.path(&settings::CA_FILE);
    let extra_ca_pem = ca_file.as_deref().and_then(|path| match read_ca(path) {
        Ok(pem) => Some(pem),
        Err(rule) => {
            r.problem(&settings::CA_FILE, rule);
            None
        }
    });
    let mut ms = |setting: &Setting| Duration::from_millis(u64::from(r.number(setting)));
    let timeouts = Timeouts {
        connect: ms(&settings::CONNECT_TIMEOUT_MS),
        first_byte: ms(&settings::FIRST_BYTE_TIMEOUT_MS),
        between_bytes: ms(&settings::BETWEEN_BYTES_TIMEOUT_MS),
    };
    let max_response_bytes = r.number(&settings::MAX_RESPONSE_BYTES) as usize;
    ClientSettings {
        files: files.filter(|_| identity.is_some()),
        ca_file,
        outbound: OutboundConfig {
            identity,
            extra_ca_pem,
            timeouts,
            max_response_bytes,
            ..OutboundConfig::default()
        },
    }
}
