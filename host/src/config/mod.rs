//! [`HostConfig`]: everything a call to WeChat Pay needs — merchant ids and key, digest,
//! endpoint, client certificate, extra CA, timeouts, size cap, extra allowed hosts — read from
//! three layers, lowest to highest precedence:
//!
//! 1. a TOML file (keys below; relative paths are relative to the file's directory),
//! 2. `WXPAY_*` environment variables (passed in explicitly — the library never reads the
//!    process environment itself; an empty variable counts as unset),
//! 3. [`ConfigOverrides`], which the CLI fills from its flags.
//!
//! The highest layer that sets an item wins (for `allowed_hosts`, a non-empty list replaces the
//! lower one). Then every item is checked and **all** problems are reported together in
//! [`ConfigErrors`], each naming the item (`WXPAY_MCH_ID / mch_id: required`) and the rule.
//! No message, `Debug` or `Display` ever contains the API key or the PKCS#12 password.
//!
//! | TOML key | variable | value |
//! |---|---|---|
//! | `appid` | `WXPAY_APPID` | required, ≤ 32 characters |
//! | `mch_id` | `WXPAY_MCH_ID` | required, ≤ 32 characters |
//! | `api_key` | `WXPAY_API_KEY` | required, 32 printable ASCII characters (secret) |
//! | `sign_type` | `WXPAY_SIGN_TYPE` | `MD5` (default) or `HMAC-SHA256` |
//! | `base_url` | `WXPAY_BASE_URL` | `http(s)://host[:port][/path]` instead of WeChat's host |
//! | `backup_host` | `WXPAY_BACKUP_HOST` | `true`: `api2.mch.weixin.qq.com` (not with `base_url`) |
//! | `sandbox` | `WXPAY_SANDBOX` | `true`: `/sandboxnew` (MD5 only) |
//! | `require_signed_responses` | `WXPAY_REQUIRE_SIGNED_RESPONSES` | `true`: refuse unsigned answers |
//! | `cert_file` + `key_file` | `WXPAY_CERT_FILE`, `WXPAY_KEY_FILE` | PEM pair (together) |
//! | `p12_file` | `WXPAY_P12_FILE` | `apiclient_cert.p12` (not with the PEM pair) |
//! | `p12_password` | `WXPAY_P12_PASSWORD` | default: the `mch_id` (secret) |
//! | `ca_file` | `WXPAY_CA_FILE` | PEM CA certificates trusted besides the system roots |
//! | `connect_timeout_ms` | `WXPAY_CONNECT_TIMEOUT_MS` | 1–600000, default 5000 |
//! | `first_byte_timeout_ms` | `WXPAY_FIRST_BYTE_TIMEOUT_MS` | 1–600000, default 10000 |
//! | `between_bytes_timeout_ms` | `WXPAY_BETWEEN_BYTES_TIMEOUT_MS` | 1–600000, default 10000 |
//! | `max_response_bytes` | `WXPAY_MAX_RESPONSE_BYTES` | 1–16777216, default 65536 |
//! | `allowed_hosts` | — | list of `host[:port]` / `scheme://host[:port]`, reached without the certificate |
//!
//! Booleans in variables: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`.
//!
//! The settings, their rules and limits are the core's (`wxcoupon_core::settings`), shared with
//! the egress proxy, the component's gateway and the Envoy filter. This module is the host's
//! policy (what a [`HostConfig`] needs, the allow-list checks); `layers` turns the file, the
//! environment and the flags into settings sources; `files` does the I/O.

mod client;
mod files;
mod layers;
mod v3;

use std::fmt;
use std::path::{Path, PathBuf};

use wxcoupon_core::settings::{self, CertificateFiles, Endpoint, Keys, Layers, Naming, Need};
use wxcoupon_core::settings::{Reader, Vars};
use wxcoupon_core::{ApiHost, ApiKey, FieldError, Merchant, SignType, SignaturePolicy};

use crate::outbound::{
    AllowList, ClientIdentity, OutboundConfig, Timeouts, DEFAULT_POOL_IDLE_TIMEOUT,
};

pub(crate) use client::read_client;
pub use files::wxpay_env_vars;
pub use v3::{Api, SignIn, V3Config, CERTIFICATE_REFRESH};

/// Every problem found in a configuration, one [`FieldError`] per item: the settings' one error
/// type.
pub use wxcoupon_core::settings::SettingsError as ConfigErrors;

/// Values the CLI sets from its flags: the highest-precedence layer. `None` (or an empty list)
/// leaves the item to the environment and the file.
#[derive(Clone, Default)]
pub struct ConfigOverrides {
    /// `appid`.
    pub appid: Option<String>,
    /// `mch_id`.
    pub mch_id: Option<String>,
    /// `api_key` (secret).
    pub api_key: Option<String>,
    /// `sign_type`.
    pub sign_type: Option<SignType>,
    /// `base_url`.
    pub base_url: Option<String>,
    /// `backup_host`.
    pub backup_host: Option<bool>,
    /// `sandbox`.
    pub sandbox: Option<bool>,
    /// `require_signed_responses`.
    pub require_signed_responses: Option<bool>,
    /// `cert_file`.
    pub cert_file: Option<PathBuf>,
    /// `key_file`.
    pub key_file: Option<PathBuf>,
    /// `p12_file`.
    pub p12_file: Option<PathBuf>,
    /// `p12_password` (secret).
    pub p12_password: Option<String>,
    /// `ca_file`.
    pub ca_file: Option<PathBuf>,
    /// `connect_timeout_ms`.
    pub connect_timeout_ms: Option<u64>,
    /// `first_byte_timeout_ms`.
    pub first_byte_timeout_ms: Option<u64>,
    /// `between_bytes_timeout_ms`.
    pub between_bytes_timeout_ms: Option<u64>,
    /// `max_response_bytes`.
    pub max_response_bytes: Option<u64>,
    /// `allowed_hosts` (replaces the file's list when non-empty).
    pub allowed_hosts: Vec<String>,
    /// `api` (`v2` or `v3`).
    pub api: Option<String>,
    /// `merchant_serial_no` (v3).
    pub merchant_serial_no: Option<String>,
    /// `private_key_file` (v3).
    pub private_key_file: Option<PathBuf>,
    /// `apiv3_key` (v3, secret).
    pub apiv3_key: Option<String>,
    /// `wechatpay_public_key_id` (v3).
    pub wechatpay_public_key_id: Option<String>,
    /// `wechatpay_public_key_file` (v3).
    pub wechatpay_public_key_file: Option<PathBuf>,
    /// `platform_cert_dir` (v3).
    pub platform_cert_dir: Option<PathBuf>,
    /// `v3_sign_in` (`host` or `component`).
    pub v3_sign_in: Option<String>,
}

impl fmt::Debug for ConfigOverrides {
    /// The items set, secrets as `<redacted>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConfigOverrides")
            .field(&layers::flags(self))
            .finish()
    }
}

/// Where the client identity comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityFiles {
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
    },
}

/// A checked configuration. Build it with [`HostConfig::load`] or
/// [`HostConfig::from_toml_str`]; the files it names have been read and parsed.
#[derive(Clone)]
pub struct HostConfig {
    /// The Official Account appid.
    pub appid: String,
    /// The merchant id.
    pub mch_id: String,
    /// The APIv2 key (redacted in `Debug`).
    pub api_key: ApiKey,
    /// Request signature digest.
    pub sign_type: SignType,
    /// A custom base URL (simulator, egress proxy), if any.
    pub base_url: Option<String>,
    /// Use WeChat's backup host.
    pub backup_host: bool,
    /// Use the `/sandboxnew` system.
    pub sandbox: bool,
    /// Refuse unsigned responses.
    pub require_signed_responses: bool,
    /// The files the identity was loaded from.
    pub identity_files: Option<IdentityFiles>,
    /// The loaded client identity (redacted in `Debug`).
    pub identity: Option<ClientIdentity>,
    /// The extra CA file.
    pub ca_file: Option<PathBuf>,
    /// Its PEM content (checked).
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Default timeouts for outbound requests.
    pub timeouts: Timeouts,
    /// The response size cap.
    pub max_response_bytes: usize,
    /// Extra allowed destinations, reached without the client certificate.
    pub allowed_hosts: Vec<String>,
}

impl fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostConfig")
            .field("appid", &self.appid)
            .field("mch_id", &self.mch_id)
            .field("api_key", &"<redacted>")
            .field("sign_type", &self.sign_type)
            .field("base_url", &self.base_url)
            .field("backup_host", &self.backup_host)
            .field("sandbox", &self.sandbox)
            .field("require_signed_responses", &self.require_signed_responses)
            .field("identity_files", &self.identity_files)
            .field("identity", &self.identity)
            .field("ca_file", &self.ca_file)
            .field("timeouts", &self.timeouts)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

impl HostConfig {
    /// Reads the TOML `file` (if any), then the `WXPAY_*` entries of `env`, then `overrides`,
    /// and checks the result. Pass `std::env::vars()` for the process environment, or a map in
    /// tests.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
        overrides: &ConfigOverrides,
    ) -> Result<HostConfig, ConfigErrors> {
        load_with(file, env, overrides, check)
    }

    /// Like [`HostConfig::load`] with the file's text given; relative paths in it are resolved
    /// against `base_dir`.
    pub fn from_toml_str(
        toml_text: &str,
        base_dir: &Path,
        env: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
        overrides: &ConfigOverrides,
    ) -> Result<HostConfig, ConfigErrors> {
        let file = Some((toml_text, base_dir, "config file"));
        build(file, &layers::env(env), overrides, check)
    }

    /// The merchant settings for the component.
    pub fn merchant(&self) -> Merchant {
        Merchant {
            appid: self.appid.clone(),
            mch_id: self.mch_id.clone(),
            api_key: self.api_key.clone(),
            sign_type: self.sign_type,
            host: match (&self.base_url, self.backup_host) {
                (Some(url), _) => ApiHost::Custom(url.clone()),
                (None, true) => ApiHost::Backup,
                (None, false) => ApiHost::Production,
            },
            sandbox: self.sandbox,
            signature_policy: SignaturePolicy::from_required(self.require_signed_responses),
        }
    }

    /// The outbound client configuration: WeChat's hosts plus the base URL's (both with the
    /// identity), the extra allowed hosts (without), the identity loaded from the files, the
    /// extra CA, timeouts and size cap.
    pub fn outbound(&self) -> OutboundConfig {
        outbound_config(
            self.base_url.as_deref(),
            &self.allowed_hosts,
            self.identity.clone(),
            self.extra_ca_pem.clone(),
            self.timeouts,
            self.max_response_bytes,
        )
    }
}

/// The outbound client of a configuration: WeChat's hosts plus the base URL's (with the
/// identity, when there is one), the extra allowed hosts (without), the trust, timeouts and cap.
/// The base URL and hosts were checked when the configuration was read.
fn outbound_config(
    base_url: Option<&str>,
    allowed_hosts: &[String],
    identity: Option<ClientIdentity>,
    extra_ca_pem: Option<Vec<u8>>,
    timeouts: Timeouts,
    max_response_bytes: usize,
) -> OutboundConfig {
    let mut allow = AllowList::default();
    if let Some(url) = base_url {
        if let Ok(a) = allow.clone().with_base_url(url) {
            allow = a;
        }
    }
    for host in allowed_hosts {
        if let Ok(a) = allow.clone().with_host(host) {
            allow = a;
        }
    }
    OutboundConfig {
        identity,
        allow,
        extra_ca_pem,
        use_system_roots: true,
        max_response_bytes,
        timeouts,
        pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
        reuse_connections: true,
        forward_dedup: None,
    }
}

/// Reads the TOML `file` (if any), then `env`, then `overrides`, and checks them with `check`
/// (the v2 [`HostConfig`]'s or the v3 [`V3Config`]'s). A file that cannot be read is reported
/// with whatever else is wrong without it.
fn load_with<T>(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    overrides: &ConfigOverrides,
    check: fn(&mut Reader<'_>) -> Option<T>,
) -> Result<T, ConfigErrors> {
    let env = layers::env(env);
    let Some(path) = file else {
        return build(None, &env, overrides, check);
    };
    let label = format!("config file {}", path.display());
    match files::read_config_file(path) {
        Ok(text) => {
            let base = path.parent().unwrap_or(Path::new(""));
            build(Some((&text, base, &label)), &env, overrides, check)
        }
        Err(rule) => {
            let mut errors = match build(None, &env, overrides, check) {
                Ok(_) => Vec::new(),
                Err(ConfigErrors(v)) => v,
            };
            errors.insert(0, FieldError::new(label, rule));
            Err(ConfigErrors(errors))
        }
    }
}

/// The three layers read and checked; `file` is the file's text, directory and label.
fn build<T>(
    file: Option<(&str, &Path, &str)>,
    env: &Vars,
    overrides: &ConfigOverrides,
    check: fn(&mut Reader<'_>) -> Option<T>,
) -> Result<T, ConfigErrors> {
    let mut file_problems = Vec::new();
    let file = match file {
        Some((text, base, label)) => layers::file(text, base, label, &mut file_problems),
        None => Keys::default(),
    };
    let flags = layers::flags(overrides);
    let source = Layers::new().over(&file).over(env).over(&flags);
    let mut r = Reader::new(&source, Naming::Both);
    for problem in file_problems {
        r.problem_of(problem.field, problem.rule);
    }
    let config = check(&mut r);
    r.finish(config)
}

/// Reads and checks every item: the merchant (the core's rules), the host's endpoint and
/// allow-list rules, the client identity and CA (their files opened), timeouts and size cap.
fn check(r: &mut Reader<'_>) -> Option<HostConfig> {
    let merchant = settings::read_merchant(r, Endpoint::FromSettings);
    let base_url = match &merchant.host {
        Some(ApiHost::Custom(url)) => match AllowList::deny_all().with_base_url(url) {
            Ok(_) => Some(url.clone()),
            Err(e) => {
                r.problem(&settings::BASE_URL, e.problem);
                None
            }
        },
        _ => None,
    };

    let client = read_client(r, merchant.mch_id.as_deref(), Need::Optional);
    let identity_files = client.files.map(|f| match f {
        CertificateFiles::Pem {
            cert_file,
            key_file,
        } => IdentityFiles::Pem {
            cert_file,
            key_file,
        },
        CertificateFiles::Pkcs12 { p12_file, .. } => IdentityFiles::Pkcs12 { p12_file },
    });

    let mut allowed_hosts = Vec::new();
    for (i, spec) in r
        .list(&settings::ALLOWED_HOSTS)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match AllowList::deny_all().with_host(&spec) {
            Ok(_) => allowed_hosts.push(spec.trim().to_string()),
            Err(e) => r.problem(
                &settings::ALLOWED_HOSTS,
                format!("entry {} ({:?}): {}", i + 1, spec, e.problem),
            ),
        }
    }

    let m = merchant.merchant()?;
    Some(HostConfig {
        appid: m.appid,
        mch_id: m.mch_id,
        api_key: m.api_key,
        sign_type: m.sign_type,
        base_url,
        backup_host: m.host == ApiHost::Backup,
        sandbox: m.sandbox,
        require_signed_responses: m.signature_policy == SignaturePolicy::Require,
        identity_files,
        identity: client.outbound.identity,
        ca_file: client.ca_file,
        extra_ca_pem: client.outbound.extra_ca_pem,
        timeouts: client.outbound.timeouts,
        max_response_bytes: client.outbound.max_response_bytes,
        allowed_hosts,
    })
}
