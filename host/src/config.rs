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
//! | `backup_host` | — | `true`: `api2.mch.weixin.qq.com` (not with `base_url`) |
//! | `sandbox` | `WXPAY_SANDBOX` | `true`: `/sandboxnew` (MD5 only) |
//! | `require_signed_responses` | — | `true`: refuse unsigned answers |
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

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wxcoupon_core::{ApiHost, ApiKey, FieldError, Merchant, SignType, SignaturePolicy};

use crate::outbound::{
    AllowList, ClientIdentity, OutboundConfig, Timeouts, DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_POOL_IDLE_TIMEOUT,
};

/// The largest timeout accepted, in milliseconds (10 minutes).
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// The largest response cap accepted (16 MiB).
pub const MAX_RESPONSE_BYTES_LIMIT: u64 = 16 * 1024 * 1024;

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
}

impl fmt::Debug for ConfigOverrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigOverrides")
            .field("appid", &self.appid)
            .field("mch_id", &self.mch_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("sign_type", &self.sign_type)
            .field("base_url", &self.base_url)
            .field("backup_host", &self.backup_host)
            .field("sandbox", &self.sandbox)
            .field("require_signed_responses", &self.require_signed_responses)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("p12_file", &self.p12_file)
            .field(
                "p12_password",
                &self.p12_password.as_ref().map(|_| "<redacted>"),
            )
            .field("ca_file", &self.ca_file)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("first_byte_timeout_ms", &self.first_byte_timeout_ms)
            .field("between_bytes_timeout_ms", &self.between_bytes_timeout_ms)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

/// Every problem found in a configuration, one [`FieldError`] per item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<FieldError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

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
    pub fn load<I, K, V>(
        file: Option<&Path>,
        env: I,
        overrides: &ConfigOverrides,
    ) -> Result<HostConfig, ConfigErrors>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        match file {
            None => Self::build(None, env, overrides),
            Some(path) => {
                let label = format!("config file {}", path.display());
                match std::fs::read_to_string(path) {
                    Ok(text) => {
                        let base = path.parent().unwrap_or(Path::new(""));
                        Self::build(Some((&text, base, &label)), env, overrides)
                    }
                    Err(e) => {
                        let rule = match e.kind() {
                            std::io::ErrorKind::NotFound => "not found".to_string(),
                            std::io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
                            kind => format!("cannot be read ({kind})"),
                        };
                        // Report the file, and whatever else is wrong without it.
                        let mut errors = match Self::build(None, env, overrides) {
                            Ok(_) => Vec::new(),
                            Err(ConfigErrors(v)) => v,
                        };
                        errors.insert(0, FieldError::new(label, rule));
                        Err(ConfigErrors(errors))
                    }
                }
            }
        }
    }

    /// Like [`HostConfig::load`] with the file's text given; relative paths in it are resolved
    /// against `base_dir`.
    pub fn from_toml_str<I, K, V>(
        toml_text: &str,
        base_dir: &Path,
        env: I,
        overrides: &ConfigOverrides,
    ) -> Result<HostConfig, ConfigErrors>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::build(Some((toml_text, base_dir, "config file")), env, overrides)
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
        let mut allow = AllowList::default();
        if let Some(url) = &self.base_url {
            // Checked when the configuration was loaded.
            if let Ok(a) = allow.clone().with_base_url(url) {
                allow = a;
            }
        }
        for host in &self.allowed_hosts {
            if let Ok(a) = allow.clone().with_host(host) {
                allow = a;
            }
        }
        OutboundConfig {
            identity: self.identity.clone(),
            allow,
            extra_ca_pem: self.extra_ca_pem.clone(),
            use_system_roots: true,
            max_response_bytes: self.max_response_bytes,
            timeouts: self.timeouts,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
        }
    }

    fn build<I, K, V>(
        file: Option<(&str, &Path, &str)>,
        env: I,
        overrides: &ConfigOverrides,
    ) -> Result<HostConfig, ConfigErrors>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut errors = Vec::new();
        let mut layers = Layers::default();
        if let Some((text, base, label)) = file {
            layers.file(text, base, label, &mut errors);
        }
        layers.env(env);
        layers.overrides(overrides);
        let config = Checker {
            layers: &layers,
            errors: &mut errors,
        }
        .check();
        match config {
            Some(c) if errors.is_empty() => Ok(c),
            _ => Err(ConfigErrors(errors)),
        }
    }
}

/// Reads the process's `WXPAY_*` variables, for [`HostConfig::load`]: the only place this
/// module touches the environment, and only when a caller (the CLI) asks. Values that are not
/// UTF-8 are converted lossily, so such a path shows up as a file that does not exist.
pub fn wxpay_env_vars() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            name.starts_with("WXPAY_")
                .then(|| (name, value.to_string_lossy().into_owned()))
        })
        .collect()
}

// ---- the items ----

#[derive(Clone, Copy)]
struct Item {
    key: &'static str,
    env: Option<&'static str>,
}

const fn item(key: &'static str, env: &'static str) -> Item {
    Item {
        key,
        env: Some(env),
    }
}

const fn file_only(key: &'static str) -> Item {
    Item { key, env: None }
}

const APPID: Item = item("appid", "WXPAY_APPID");
const MCH_ID: Item = item("mch_id", "WXPAY_MCH_ID");
const API_KEY: Item = item("api_key", "WXPAY_API_KEY");
const SIGN_TYPE: Item = item("sign_type", "WXPAY_SIGN_TYPE");
const BASE_URL: Item = item("base_url", "WXPAY_BASE_URL");
const BACKUP_HOST: Item = file_only("backup_host");
const SANDBOX: Item = item("sandbox", "WXPAY_SANDBOX");
const REQUIRE_SIGNED: Item = file_only("require_signed_responses");
const CERT_FILE: Item = item("cert_file", "WXPAY_CERT_FILE");
const KEY_FILE: Item = item("key_file", "WXPAY_KEY_FILE");
const P12_FILE: Item = item("p12_file", "WXPAY_P12_FILE");
const P12_PASSWORD: Item = item("p12_password", "WXPAY_P12_PASSWORD");
const CA_FILE: Item = item("ca_file", "WXPAY_CA_FILE");
const CONNECT_TIMEOUT: Item = item("connect_timeout_ms", "WXPAY_CONNECT_TIMEOUT_MS");
const FIRST_BYTE_TIMEOUT: Item = item("first_byte_timeout_ms", "WXPAY_FIRST_BYTE_TIMEOUT_MS");
const BETWEEN_BYTES_TIMEOUT: Item =
    item("between_bytes_timeout_ms", "WXPAY_BETWEEN_BYTES_TIMEOUT_MS");
const MAX_RESPONSE_BYTES: Item = item("max_response_bytes", "WXPAY_MAX_RESPONSE_BYTES");
const ALLOWED_HOSTS: Item = file_only("allowed_hosts");

const ITEMS: &[Item] = &[
    APPID,
    MCH_ID,
    API_KEY,
    SIGN_TYPE,
    BASE_URL,
    BACKUP_HOST,
    SANDBOX,
    REQUIRE_SIGNED,
    CERT_FILE,
    KEY_FILE,
    P12_FILE,
    P12_PASSWORD,
    CA_FILE,
    CONNECT_TIMEOUT,
    FIRST_BYTE_TIMEOUT,
    BETWEEN_BYTES_TIMEOUT,
    MAX_RESPONSE_BYTES,
    ALLOWED_HOSTS,
];

impl Item {
    /// `WXPAY_MCH_ID / mch_id`, or `backup_host` for file-only items.
    fn name(self) -> String {
        match self.env {
            Some(env) => format!("{env} / {}", self.key),
            None => self.key.to_string(),
        }
    }
}

// ---- the layers ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    File,
    Env,
    Flag,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Source::File => "in the config file",
            Source::Env => "in the environment",
            Source::Flag => "from the command line",
        }
    }
}

// No `Debug` on `Raw` and `Value`: they hold the API key and the .p12 password as read.
#[derive(Clone)]
enum Raw {
    Text(String),
    Bool(bool),
    Int(i64),
    List(Vec<String>),
    Path(PathBuf),
}

#[derive(Clone)]
struct Value {
    source: Source,
    raw: Raw,
}

/// The merged layers: for each item key, the value of the highest layer that sets it.
#[derive(Default)]
struct Layers {
    values: BTreeMap<&'static str, Value>,
}

impl Layers {
    fn set(&mut self, item: Item, source: Source, raw: Raw) {
        self.values.insert(item.key, Value { source, raw });
    }

    fn file(&mut self, text: &str, base: &Path, label: &str, errors: &mut Vec<FieldError>) {
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                // The parser's message quotes the offending line, which may hold the key: give
                // only the position.
                let rule = match e.span() {
                    Some(span) => {
                        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                        format!("not valid TOML (line {line})")
                    }
                    None => "not valid TOML".to_string(),
                };
                errors.push(FieldError::new(label, rule));
                return;
            }
        };
        for (key, value) in table {
            let Some(item) = ITEMS.iter().copied().find(|i| i.key == key) else {
                errors.push(FieldError::new(
                    format!("{label}: {key}"),
                    "unknown setting",
                ));
                continue;
            };
            let raw = match value {
                toml::Value::String(s) if is_path(item) => {
                    let p = PathBuf::from(s);
                    Raw::Path(if p.is_relative() { base.join(p) } else { p })
                }
                toml::Value::String(s) => Raw::Text(s),
                toml::Value::Boolean(b) => Raw::Bool(b),
                toml::Value::Integer(i) => Raw::Int(i),
                toml::Value::Array(items) => {
                    let mut list = Vec::new();
                    let mut ok = true;
                    for v in items {
                        match v {
                            toml::Value::String(s) => list.push(s),
                            _ => ok = false,
                        }
                    }
                    if !ok {
                        errors.push(FieldError::new(item.name(), "must be a list of strings"));
                        continue;
                    }
                    Raw::List(list)
                }
                _ => {
                    errors.push(FieldError::new(
                        item.name(),
                        "must be a string, a number or a boolean (in the config file)",
                    ));
                    continue;
                }
            };
            self.set(item, Source::File, raw);
        }
    }

    fn env<I, K, V>(&mut self, env: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (name, value) in env {
            let (name, value) = (name.as_ref(), value.as_ref());
            if value.is_empty() {
                continue;
            }
            if let Some(item) = ITEMS.iter().copied().find(|i| i.env == Some(name)) {
                let raw = if is_path(item) {
                    Raw::Path(PathBuf::from(value))
                } else {
                    Raw::Text(value.to_string())
                };
                self.set(item, Source::Env, raw);
            }
        }
    }

    fn overrides(&mut self, o: &ConfigOverrides) {
        let text = |s: &Option<String>| s.clone().map(Raw::Text);
        let flag = Source::Flag;
        let mut put = |item: Item, raw: Option<Raw>| {
            if let Some(raw) = raw {
                self.set(item, flag, raw);
            }
        };
        put(APPID, text(&o.appid));
        put(MCH_ID, text(&o.mch_id));
        put(API_KEY, text(&o.api_key));
        put(
            SIGN_TYPE,
            o.sign_type.map(|t| Raw::Text(t.wire_name().to_string())),
        );
        put(BASE_URL, text(&o.base_url));
        put(BACKUP_HOST, o.backup_host.map(Raw::Bool));
        put(SANDBOX, o.sandbox.map(Raw::Bool));
        put(REQUIRE_SIGNED, o.require_signed_responses.map(Raw::Bool));
        put(CERT_FILE, o.cert_file.clone().map(Raw::Path));
        put(KEY_FILE, o.key_file.clone().map(Raw::Path));
        put(P12_FILE, o.p12_file.clone().map(Raw::Path));
        put(P12_PASSWORD, text(&o.p12_password));
        put(CA_FILE, o.ca_file.clone().map(Raw::Path));
        let int = |v: Option<u64>| v.map(|n| Raw::Int(i64::try_from(n).unwrap_or(i64::MAX)));
        put(CONNECT_TIMEOUT, int(o.connect_timeout_ms));
        put(FIRST_BYTE_TIMEOUT, int(o.first_byte_timeout_ms));
        put(BETWEEN_BYTES_TIMEOUT, int(o.between_bytes_timeout_ms));
        put(MAX_RESPONSE_BYTES, int(o.max_response_bytes));
        if !o.allowed_hosts.is_empty() {
            put(ALLOWED_HOSTS, Some(Raw::List(o.allowed_hosts.clone())));
        }
    }

    fn get(&self, item: Item) -> Option<&Value> {
        self.values.get(item.key)
    }
}

fn is_path(item: Item) -> bool {
    matches!(item.key, "cert_file" | "key_file" | "p12_file" | "ca_file")
}

// ---- checking ----

struct Checker<'a> {
    layers: &'a Layers,
    errors: &'a mut Vec<FieldError>,
}

impl Checker<'_> {
    fn fail(&mut self, item: Item, rule: impl Into<String>) {
        self.errors.push(FieldError::new(item.name(), rule));
    }

    /// A text item. Never echoes the value (it may be a secret).
    fn text(&mut self, item: Item) -> Option<String> {
        let v = self.layers.get(item)?;
        match &v.raw {
            Raw::Text(s) => Some(s.clone()),
            Raw::Int(i) => Some(i.to_string()),
            _ => {
                let rule = format!("must be a string ({})", v.source.describe());
                self.fail(item, rule);
                None
            }
        }
    }

    fn path(&mut self, item: Item) -> Option<PathBuf> {
        let v = self.layers.get(item)?;
        match &v.raw {
            Raw::Path(p) if p.as_os_str().is_empty() => {
                self.fail(item, "must not be empty");
                None
            }
            Raw::Path(p) => Some(p.clone()),
            _ => {
                let rule = format!("must be a file path ({})", v.source.describe());
                self.fail(item, rule);
                None
            }
        }
    }

    fn boolean(&mut self, item: Item) -> bool {
        let Some(v) = self.layers.get(item) else {
            return false;
        };
        let parsed = match &v.raw {
            Raw::Bool(b) => Some(*b),
            Raw::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            let rule = format!(
                "must be true or false, 1/0, yes/no or on/off ({})",
                v.source.describe()
            );
            self.fail(item, rule);
            false
        })
    }

    fn number(&mut self, item: Item, min: u64, max: u64, what: &str) -> Option<u64> {
        let v = self.layers.get(item)?;
        let n = match &v.raw {
            Raw::Int(i) => u64::try_from(*i).ok(),
            Raw::Text(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                let rule = format!(
                    "must be a whole number of {what} from {min} to {max} ({})",
                    v.source.describe()
                );
                self.fail(item, rule);
                None
            }
        }
    }

    fn id(&mut self, item: Item) -> Option<String> {
        let Some(value) = self.text(item) else {
            if self.layers.get(item).is_none() {
                self.fail(item, "required");
            }
            return None;
        };
        if value.trim().is_empty() {
            self.fail(item, "required");
            return None;
        }
        let len = value.chars().count();
        if len > 32 {
            self.fail(item, format!("at most 32 characters (got {len})"));
            return None;
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.fail(item, "must not contain spaces or control characters");
            return None;
        }
        Some(value)
    }

    fn check(mut self) -> Option<HostConfig> {
        let appid = self.id(APPID);
        let mch_id = self.id(MCH_ID);

        let api_key = match self.text(API_KEY) {
            None => {
                if self.layers.get(API_KEY).is_none() {
                    self.fail(API_KEY, "required");
                }
                None
            }
            Some(key) => {
                let len = key.chars().count();
                if key.is_empty() {
                    self.fail(API_KEY, "required");
                    None
                } else if len != 32 {
                    self.fail(
                        API_KEY,
                        format!("must be 32 characters, the APIv2 key's length (got {len})"),
                    );
                    None
                } else if !key.bytes().all(|b| b.is_ascii_graphic()) {
                    self.fail(API_KEY, "must be printable ASCII without spaces");
                    None
                } else {
                    ApiKey::new(key).ok()
                }
            }
        };

        let sign_type = match self.text(SIGN_TYPE) {
            None => Some(SignType::Md5),
            Some(s) => match SignType::from_wire_name(s.trim()) {
                Some(t) => Some(t),
                None => {
                    self.fail(SIGN_TYPE, "must be MD5 or HMAC-SHA256");
                    None
                }
            },
        };

        let backup_host = self.boolean(BACKUP_HOST);
        let sandbox = self.boolean(SANDBOX);
        let require_signed_responses = self.boolean(REQUIRE_SIGNED);

        let base_url = match self.text(BASE_URL) {
            None => None,
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_string();
                match wxcoupon_core::merchant::check_base_url(&url) {
                    Err(wxcoupon_core::Error::InvalidInput(e)) => {
                        self.fail(BASE_URL, e.rule);
                        None
                    }
                    Err(_) => {
                        self.fail(BASE_URL, "is not a usable base URL");
                        None
                    }
                    Ok(()) => match AllowList::deny_all().with_base_url(&url) {
                        Ok(_) => Some(url),
                        Err(e) => {
                            self.fail(BASE_URL, e.problem);
                            None
                        }
                    },
                }
            }
        };
        if backup_host && self.layers.get(BASE_URL).is_some() {
            self.fail(
                BACKUP_HOST,
                "cannot be combined with base_url (WXPAY_BASE_URL): choose one endpoint",
            );
        }
        if sandbox && sign_type == Some(SignType::HmacSha256) {
            self.fail(SIGN_TYPE, "the sandbox accepts MD5 signatures only");
        }

        // The client identity: a PEM pair or a PKCS#12 archive, never both.
        let cert_file = self.path(CERT_FILE);
        let key_file = self.path(KEY_FILE);
        let p12_file = self.path(P12_FILE);
        let p12_password = self.text(P12_PASSWORD);
        let mut identity = None;
        let mut identity_files = None;
        let pem_given = self.layers.get(CERT_FILE).is_some() || self.layers.get(KEY_FILE).is_some();
        if self.layers.get(P12_FILE).is_some() && pem_given {
            self.fail(
                P12_FILE,
                "cannot be combined with cert_file/key_file: give either the PEM pair or the .p12",
            );
        } else if pem_given {
            if self.layers.get(KEY_FILE).is_none() {
                self.fail(KEY_FILE, "required when cert_file is set");
            }
            if self.layers.get(CERT_FILE).is_none() {
                self.fail(CERT_FILE, "required when key_file is set");
            }
            if let (Some(cert), Some(key)) = (cert_file, key_file) {
                match ClientIdentity::from_pem_files(&cert, &key) {
                    Ok(id) => {
                        identity = Some(id);
                        identity_files = Some(IdentityFiles::Pem {
                            cert_file: cert,
                            key_file: key,
                        });
                    }
                    Err(e) => {
                        let item = if e.file_path() == Some(cert.as_path()) {
                            CERT_FILE
                        } else {
                            KEY_FILE
                        };
                        self.fail(item, e.to_string());
                    }
                }
            }
        } else if let Some(p12) = p12_file {
            match (&p12_password, &mch_id) {
                (None, None) => self.fail(
                    P12_FILE,
                    "cannot be opened: no p12_password, and no valid mch_id to use as the default password",
                ),
                (password, mch_id) => {
                    let mch = mch_id.as_deref().unwrap_or_default();
                    match ClientIdentity::from_pkcs12_file(&p12, password.as_deref(), mch) {
                        Ok(id) => {
                            identity = Some(id);
                            identity_files = Some(IdentityFiles::Pkcs12 { p12_file: p12 });
                        }
                        Err(e) => self.fail(P12_FILE, e.to_string()),
                    }
                }
            }
        }
        if self.layers.get(P12_PASSWORD).is_some() && self.layers.get(P12_FILE).is_none() {
            self.fail(P12_PASSWORD, "only meaningful with p12_file");
        }

        let ca_file = self.path(CA_FILE);
        let mut extra_ca_pem = None;
        if let Some(path) = &ca_file {
            match std::fs::read(path) {
                Err(e) => {
                    let problem = match e.kind() {
                        std::io::ErrorKind::NotFound => "not found".to_string(),
                        kind => format!("cannot be read ({kind})"),
                    };
                    self.fail(CA_FILE, format!("{}: {problem}", path.display()));
                }
                Ok(pem) => match crate::outbound::tls_parse_ca_pem(&pem) {
                    Ok(_) => extra_ca_pem = Some(pem),
                    Err(problem) => self.fail(CA_FILE, format!("{}: {problem}", path.display())),
                },
            }
        }

        let defaults = Timeouts::default();
        let ms = |n: Option<u64>, d: Duration| n.map(Duration::from_millis).unwrap_or(d);
        let connect = self.number(CONNECT_TIMEOUT, 1, MAX_TIMEOUT_MS, "milliseconds");
        let first_byte = self.number(FIRST_BYTE_TIMEOUT, 1, MAX_TIMEOUT_MS, "milliseconds");
        let between = self.number(BETWEEN_BYTES_TIMEOUT, 1, MAX_TIMEOUT_MS, "milliseconds");
        let timeouts = Timeouts {
            connect: ms(connect, defaults.connect),
            first_byte: ms(first_byte, defaults.first_byte),
            between_bytes: ms(between, defaults.between_bytes),
        };
        let max_response_bytes = self
            .number(MAX_RESPONSE_BYTES, 1, MAX_RESPONSE_BYTES_LIMIT, "bytes")
            .map(|n| n as usize)
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);

        let mut allowed_hosts = Vec::new();
        if let Some(v) = self.layers.get(ALLOWED_HOSTS) {
            match &v.raw {
                Raw::List(list) => {
                    for (i, spec) in list.iter().enumerate() {
                        match AllowList::deny_all().with_host(spec) {
                            Ok(_) => allowed_hosts.push(spec.trim().to_string()),
                            Err(e) => self.fail(
                                ALLOWED_HOSTS,
                                format!("entry {} ({:?}): {}", i + 1, spec, e.problem),
                            ),
                        }
                    }
                }
                _ => self.fail(ALLOWED_HOSTS, "must be a list of strings"),
            }
        }

        Some(HostConfig {
            appid: appid?,
            mch_id: mch_id?,
            api_key: api_key?,
            sign_type: sign_type?,
            base_url,
            backup_host,
            sandbox,
            require_signed_responses,
            identity_files,
            identity,
            ca_file,
            extra_ca_pem,
            timeouts,
            max_response_bytes,
            allowed_hosts,
        })
    }
}
