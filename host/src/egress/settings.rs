//! The egress proxy's settings from `WXPAY_*` variables, through the core's settings module
//! (`wxcoupon_core::settings`: the same names, rules and limits as every other edge); the
//! certificate and CA files are opened by the host configuration's own loaders.

use wxcoupon_core::settings::{self, Naming, Need, Reader, Setting, Vars};

use super::{EgressConfig, Upstream, DEFAULT_LISTEN};
use crate::config::read_client;
use crate::outbound::{WECHAT_API_HOST, WECHAT_BACKUP_API_HOST};

/// What is wrong with the proxy's settings: the settings' one error type, `(variable, rule)`
/// problems, values never included.
pub use wxcoupon_core::settings::SettingsError as EgressConfigError;

/// The settings [`EgressConfig::from_vars`] reads, in the order their problems are reported.
const EGRESS_SETTINGS: [&Setting; 14] = [
    &settings::EGRESS_LISTEN,
    &settings::EGRESS_UPSTREAM,
    &settings::EGRESS_ALLOW_NON_LOOPBACK,
    &settings::BACKUP_HOST,
    &settings::CERT_FILE,
    &settings::KEY_FILE,
    &settings::P12_FILE,
    &settings::P12_PASSWORD,
    &settings::MCH_ID,
    &settings::CA_FILE,
    &settings::CONNECT_TIMEOUT_MS,
    &settings::FIRST_BYTE_TIMEOUT_MS,
    &settings::BETWEEN_BYTES_TIMEOUT_MS,
    &settings::MAX_RESPONSE_BYTES,
];

/// The variables [`EgressConfig::from_vars`] reads.
///
/// | variable | value |
/// |---|---|
/// | `WXPAY_EGRESS_LISTEN` | `IP:PORT`, default `127.0.0.1:8079` |
/// | `WXPAY_EGRESS_UPSTREAM` | `https://host[:port][/prefix]`; default WeChat Pay's production host, or the backup host with `WXPAY_BACKUP_HOST=true` |
/// | `WXPAY_EGRESS_ALLOW_NON_LOOPBACK` | boolean: accept a listening address that is not loopback |
/// | `WXPAY_CERT_FILE` + `WXPAY_KEY_FILE` | the client certificate and key, PEM |
/// | `WXPAY_P12_FILE`, `WXPAY_P12_PASSWORD` | or `apiclient_cert.p12`; the password defaults to `WXPAY_MCH_ID` |
/// | `WXPAY_CA_FILE` | extra trusted CA certificates, PEM |
/// | `WXPAY_CONNECT_TIMEOUT_MS`, `WXPAY_FIRST_BYTE_TIMEOUT_MS`, `WXPAY_BETWEEN_BYTES_TIMEOUT_MS` | 1–600000 |
/// | `WXPAY_MAX_RESPONSE_BYTES` | 1–16777216, default 65536 |
///
/// `WXPAY_BASE_URL` is deliberately not read: next to a gateway it names the proxy itself.
/// Neither is `WXPAY_API_KEY`: the proxy signs nothing.
pub const EGRESS_VARIABLES: [&str; 14] = settings::variables(EGRESS_SETTINGS);

/// The rule of an upstream that is the proxy's own listening address.
const UPSTREAM_IS_SELF: &str = "must not be the proxy's own listening address";

impl EgressConfig {
    /// The proxy's settings from `WXPAY_*` variables (see [`EGRESS_VARIABLES`]); later
    /// duplicates win, empty values count as unset, other names are ignored. The client
    /// certificate is required. Every problem is reported at once, naming the variable and the
    /// rule, never a value. Pass `std::env::vars()` (with a CLI's flags appended as the same
    /// names, so they win).
    pub fn from_vars<I, K, V>(vars: I) -> Result<EgressConfig, EgressConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let vars = Vars::new(vars);
        let mut r = Reader::new(&vars, Naming::Variable);
        let allow_non_loopback = r.flag(&settings::EGRESS_ALLOW_NON_LOOPBACK);
        let backup_host = r.flag(&settings::BACKUP_HOST);

        let listen = match r.text(&settings::EGRESS_LISTEN) {
            None => DEFAULT_LISTEN,
            Some(text) => text.parse().unwrap_or_else(|_| {
                r.problem(&settings::EGRESS_LISTEN, settings::EGRESS_LISTEN.rule);
                DEFAULT_LISTEN
            }),
        };
        let upstream_base_url = match r.text(&settings::EGRESS_UPSTREAM) {
            Some(url) => {
                match Upstream::parse(&url) {
                    Err(_) => r.problem(&settings::EGRESS_UPSTREAM, settings::EGRESS_UPSTREAM.rule),
                    Ok(u) if u.is_address(listen) => {
                        r.problem(&settings::EGRESS_UPSTREAM, UPSTREAM_IS_SELF)
                    }
                    Ok(_) => {}
                }
                url
            }
            None if backup_host => format!("https://{WECHAT_BACKUP_API_HOST}"),
            None => format!("https://{WECHAT_API_HOST}"),
        };

        let mch_id = r.text(&settings::MCH_ID);
        let client = read_client(&mut r, mch_id.as_deref(), Need::Required);
        r.finish(Some(EgressConfig {
            listen,
            upstream_base_url,
            outbound: client.outbound,
            allow_non_loopback,
            ..EgressConfig::default()
        }))
    }
}
