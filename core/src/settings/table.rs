//! The table of settings: each one defined once, with its variable (`WXPAY_MCH_ID`), its key
//! in TOML and JSON (`mch_id`), its kind and its rule text; and how a problem names a setting
//! ([`Naming`]).

use super::limits::{
    DEFAULT_BETWEEN_BYTES_TIMEOUT_MS, DEFAULT_CALL_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS,
    DEFAULT_FIRST_BYTE_TIMEOUT_MS, DEFAULT_MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES_LIMIT,
    MAX_TIMEOUT_MS,
};

/// The rule of every text setting given something else (a number, a boolean, a list).
pub const STRING_RULE: &str = "must be a string";
/// The rule of every boolean setting: the one way booleans are read.
pub const BOOL_RULE: &str = "must be true or false, 1/0, yes/no or on/off";
/// The rule of every path setting given something else than text.
pub const PATH_RULE: &str = "must be a file path";
/// The rule of a path setting given as empty text.
pub const EMPTY_PATH_RULE: &str = "must not be empty";
/// The rule of every list setting given something else than a list of strings.
pub const LIST_RULE: &str = "must be a list of strings";
/// The rule of a required setting that is not set.
pub const REQUIRED_RULE: &str = "required";

/// What a setting holds, which says how a value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text, trimmed; empty counts as unset.
    Text,
    /// An identifier of WeChat Pay (appid, mch_id): text of at most 32 characters, no spaces.
    Id,
    /// A secret (the API key, the PKCS#12 password): text taken as given, never trimmed, never
    /// shown in a problem, `Debug` or `Display`.
    Secret,
    /// A boolean: `true`/`false`, or text `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off` in any
    /// case.
    Bool,
    /// A whole number from `min` to `max`, `default` when unset.
    Number {
        /// The smallest value accepted.
        min: u32,
        /// The largest value accepted.
        max: u32,
        /// The value when unset.
        default: u32,
    },
    /// A file path (relative paths in a file are relative to the file's directory).
    Path,
    /// A list of strings (only in files).
    List,
}

/// One setting. Compare settings by their key (`setting.key == MCH_ID.key`) or with `==`.
#[derive(Debug, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable, if the setting has one (`WXPAY_MCH_ID`).
    pub variable: Option<&'static str>,
    /// The key in a TOML file, an Envoy plugin JSON object, a flag's name (`mch_id`).
    pub key: &'static str,
    /// What the value is.
    pub kind: Kind,
    /// The rule a value breaks when it cannot be read: the one text of this setting's form.
    pub rule: &'static str,
}

impl Setting {
    /// The rule of a value of the wrong type (text where a number was expected, a number where
    /// text was): [`STRING_RULE`] for text kinds, [`PATH_RULE`] for paths, [`LIST_RULE`]
    /// for lists, the setting's own [`Setting::rule`] otherwise.
    pub fn type_rule(&self) -> &'static str {
        match self.kind {
            Kind::Text | Kind::Id | Kind::Secret => STRING_RULE,
            Kind::Path => PATH_RULE,
            Kind::List => LIST_RULE,
            Kind::Bool | Kind::Number { .. } => self.rule,
        }
    }
}

/// How problems name settings: each edge names them the way its users write them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `WXPAY_MCH_ID / mch_id` (the key alone for a setting without a variable); other settings
    /// referred to by key. The reference host, which reads a file and the environment.
    Both,
    /// `WXPAY_MCH_ID` (the key for a setting without a variable). The component and the egress
    /// proxy, which read the environment only.
    Variable,
    /// `mch_id`. The Envoy filter, which reads a JSON object.
    Key,
}

impl Naming {
    /// The name of `setting` at the head of a problem.
    pub fn subject(self, setting: &Setting) -> String {
        match (self, setting.variable) {
            (Naming::Both, Some(variable)) => format!("{variable} / {}", setting.key),
            (Naming::Variable, Some(variable)) => variable.to_string(),
            _ => setting.key.to_string(),
        }
    }

    /// The name of `setting` inside another setting's rule (`required when cert_file is set`).
    pub fn reference(self, setting: &Setting) -> &'static str {
        match (self, setting.variable) {
            (Naming::Variable, Some(variable)) => variable,
            _ => setting.key,
        }
    }

    /// `template` with every `{key}` of a setting in [`ALL`] replaced by its
    /// [`Naming::reference`]: `"required when {cert_file} is set"`.
    pub fn render(self, template: &str) -> String {
        let mut text = template.to_string();
        for setting in ALL {
            let placeholder = format!("{{{}}}", setting.key);
            if text.contains(&placeholder) {
                text = text.replace(&placeholder, self.reference(setting));
            }
        }
        text
    }
}

const fn setting(
    variable: Option<&'static str>,
    key: &'static str,
    kind: Kind,
    rule: &'static str,
) -> Setting {
    Setting {
        variable,
        key,
        kind,
        rule,
    }
}

const fn text(variable: &'static str, key: &'static str, kind: Kind) -> Setting {
    setting(Some(variable), key, kind, STRING_RULE)
}

const fn flag(variable: &'static str, key: &'static str) -> Setting {
    setting(Some(variable), key, Kind::Bool, BOOL_RULE)
}

const fn path(variable: &'static str, key: &'static str) -> Setting {
    setting(Some(variable), key, Kind::Path, PATH_RULE)
}

const fn timeout(variable: Option<&'static str>, key: &'static str, default: u32) -> Setting {
    let kind = Kind::Number {
        min: 1,
        max: MAX_TIMEOUT_MS,
        default,
    };
    setting(variable, key, kind, "must be a number 1–600000")
}

// ---- the merchant ----

/// The Official Account appid the openids belong to.
pub static APPID: Setting = text("WXPAY_APPID", "appid", Kind::Id);
/// The merchant id (商户号); also the PKCS#12 file's default password.
pub static MCH_ID: Setting = text("WXPAY_MCH_ID", "mch_id", Kind::Id);
/// The APIv2 key: 32 printable ASCII characters.
pub static API_KEY: Setting = text("WXPAY_API_KEY", "api_key", Kind::Secret);
/// `MD5` (default) or `HMAC-SHA256`, in any case.
pub static SIGN_TYPE: Setting = setting(
    Some("WXPAY_SIGN_TYPE"),
    "sign_type",
    Kind::Text,
    "must be MD5 or HMAC-SHA256",
);
/// `http(s)://host[:port][/path]` instead of WeChat Pay's host.
pub static BASE_URL: Setting = text("WXPAY_BASE_URL", "base_url", Kind::Text);
/// WeChat Pay's backup host `api2.mch.weixin.qq.com` (not with [`BASE_URL`]).
pub static BACKUP_HOST: Setting = flag("WXPAY_BACKUP_HOST", "backup_host");
/// The `/sandboxnew` simulation system (MD5 only).
pub static SANDBOX: Setting = flag("WXPAY_SANDBOX", "sandbox");
/// Refuse unsigned answers.
pub static REQUIRE_SIGNED_RESPONSES: Setting =
    flag("WXPAY_REQUIRE_SIGNED_RESPONSES", "require_signed_responses");

// ---- the client certificate and the TLS trust ----

/// `apiclient_cert.pem` (with [`KEY_FILE`]).
pub static CERT_FILE: Setting = path("WXPAY_CERT_FILE", "cert_file");
/// `apiclient_key.pem` (with [`CERT_FILE`]).
pub static KEY_FILE: Setting = path("WXPAY_KEY_FILE", "key_file");
/// `apiclient_cert.p12` (not with the PEM pair).
pub static P12_FILE: Setting = path("WXPAY_P12_FILE", "p12_file");
/// The PKCS#12 password; default: the [`MCH_ID`].
pub static P12_PASSWORD: Setting = text("WXPAY_P12_PASSWORD", "p12_password", Kind::Secret);
/// PEM CA certificates trusted besides the system roots.
pub static CA_FILE: Setting = path("WXPAY_CA_FILE", "ca_file");

// ---- timeouts and sizes ----

/// Until a connection is usable.
pub static CONNECT_TIMEOUT_MS: Setting = timeout(
    Some("WXPAY_CONNECT_TIMEOUT_MS"),
    "connect_timeout_ms",
    DEFAULT_CONNECT_TIMEOUT_MS,
);
/// From a usable connection to the response head.
pub static FIRST_BYTE_TIMEOUT_MS: Setting = timeout(
    Some("WXPAY_FIRST_BYTE_TIMEOUT_MS"),
    "first_byte_timeout_ms",
    DEFAULT_FIRST_BYTE_TIMEOUT_MS,
);
/// Between two chunks of the response body.
pub static BETWEEN_BYTES_TIMEOUT_MS: Setting = timeout(
    Some("WXPAY_BETWEEN_BYTES_TIMEOUT_MS"),
    "between_bytes_timeout_ms",
    DEFAULT_BETWEEN_BYTES_TIMEOUT_MS,
);
/// The whole WeChat Pay call, where an edge has a single timeout (the Envoy filter).
pub static TIMEOUT_MS: Setting = timeout(None, "timeout_ms", DEFAULT_CALL_TIMEOUT_MS);
/// The largest answer read.
pub static MAX_RESPONSE_BYTES: Setting = setting(
    Some("WXPAY_MAX_RESPONSE_BYTES"),
    "max_response_bytes",
    Kind::Number {
        min: 1,
        max: MAX_RESPONSE_BYTES_LIMIT,
        default: DEFAULT_MAX_RESPONSE_BYTES,
    },
    "must be a number 1–16777216",
);

// ---- the reference host ----

/// Destinations reached without the certificate: `host[:port]` or `scheme://host[:port]`.
pub static ALLOWED_HOSTS: Setting = setting(None, "allowed_hosts", Kind::List, LIST_RULE);

// ---- API v3 ----

/// Which API the calls use: `v2` or `v3`; unset: `v3` when [`APIV3_KEY`] is set and
/// [`API_KEY`] is not, else `v2`.
pub static API: Setting = setting(Some("WXPAY_API"), "api", Kind::Text, "must be v2 or v3");
/// The merchant API certificate's serial (hex), which v3 requests name.
pub static MERCHANT_SERIAL_NO: Setting =
    text("WXPAY_MERCHANT_SERIAL_NO", "merchant_serial_no", Kind::Text);
/// The merchant API private key, PKCS#8 PEM (`apiclient_key.pem`); default: [`KEY_FILE`], the
/// same file.
pub static PRIVATE_KEY_FILE: Setting = path("WXPAY_PRIVATE_KEY_FILE", "private_key_file");
/// The APIv3 key: 32 characters.
pub static APIV3_KEY: Setting = text("WXPAY_APIV3_KEY", "apiv3_key", Kind::Secret);
/// The WeChat Pay public key id (`PUB_KEY_ID_…`), with [`WECHATPAY_PUBLIC_KEY_FILE`].
pub static WECHATPAY_PUBLIC_KEY_ID: Setting = text(
    "WXPAY_WECHATPAY_PUBLIC_KEY_ID",
    "wechatpay_public_key_id",
    Kind::Text,
);
/// The WeChat Pay public key, SPKI PEM (`pub_key.pem`).
pub static WECHATPAY_PUBLIC_KEY_FILE: Setting = path(
    "WXPAY_WECHATPAY_PUBLIC_KEY_FILE",
    "wechatpay_public_key_file",
);
/// Where downloaded platform certificates are kept between runs.
pub static PLATFORM_CERT_DIR: Setting = path("WXPAY_PLATFORM_CERT_DIR", "platform_cert_dir");
/// Where v3 requests are signed: `host` (natively, default) or `component`.
pub static V3_SIGN_IN: Setting = setting(
    Some("WXPAY_V3_SIGN_IN"),
    "v3_sign_in",
    Kind::Text,
    "must be host or component",
);

/// The v3 merchant's own settings (beside [`MCH_ID`], [`APPID`], [`BASE_URL`], [`CA_FILE`] and
/// the call limits, which it shares with v2).
pub static V3_SETTINGS: [&Setting; 8] = [
    &API,
    &MERCHANT_SERIAL_NO,
    &PRIVATE_KEY_FILE,
    &APIV3_KEY,
    &WECHATPAY_PUBLIC_KEY_ID,
    &WECHATPAY_PUBLIC_KEY_FILE,
    &PLATFORM_CERT_DIR,
    &V3_SIGN_IN,
];

/// The WeChat Pay public key as PEM text, for runtimes that give the component no files (the
/// gateway): the same key as [`WECHATPAY_PUBLIC_KEY_FILE`].
pub static WECHATPAY_PUBLIC_KEY: Setting = text(
    "WXPAY_WECHATPAY_PUBLIC_KEY",
    "wechatpay_public_key",
    Kind::Text,
);
/// The merchant API private key as PEM text (PKCS#8), for runtimes that give the component no
/// files (the gateway): the same key as [`PRIVATE_KEY_FILE`]. Secret: never shown.
pub static PRIVATE_KEY: Setting = text("WXPAY_PRIVATE_KEY", "private_key", Kind::Secret);
/// Platform certificates as PEM text (one or more `BEGIN CERTIFICATE` blocks), for the
/// gateway: what [`PLATFORM_CERT_DIR`] keeps as files.
pub static PLATFORM_CERTIFICATES: Setting = text(
    "WXPAY_PLATFORM_CERTIFICATES",
    "platform_certificates",
    Kind::Text,
);

/// What the gateway's v3 calls need beside [`NOTIFICATION_SETTINGS`] (which verify their
/// answers too): which API the coupon routes use, and the key requests are signed with.
pub static V3_GATEWAY_SETTINGS: [&Setting; 2] = [&API, &PRIVATE_KEY];

/// What the gateway's notification route needs beside [`MCH_ID`]: the v3 identity, the APIv3
/// key, the keys callbacks are verified with, and where verified events go.
pub static NOTIFICATION_SETTINGS: [&Setting; 6] = [
    &MERCHANT_SERIAL_NO,
    &APIV3_KEY,
    &WECHATPAY_PUBLIC_KEY_ID,
    &WECHATPAY_PUBLIC_KEY,
    &PLATFORM_CERTIFICATES,
    &NOTIFY_FORWARD_URL,
];

// ---- gateway mode ----

/// Where the gateway forwards a verified `COUPON.USE` event (JSON, `POST`, with
/// `idempotency-key: <event id>`): the merchant's internal service.
pub static NOTIFY_FORWARD_URL: Setting =
    text("WXPAY_NOTIFY_FORWARD_URL", "notify_forward_url", Kind::Text);

/// The callers of `/v1/*`: `name:sha256hex[,…]` (see `wxcoupon_api::callers`).
pub static CALLER_TOKENS: Setting = text("WXPAY_GATEWAY_TOKENS", "caller_tokens", Kind::Text);

// ---- the egress proxy ----

/// Where the egress proxy listens.
pub static EGRESS_LISTEN: Setting = setting(
    Some("WXPAY_EGRESS_LISTEN"),
    "egress_listen",
    Kind::Text,
    "must be IP:PORT (e.g. 127.0.0.1:8079)",
);
/// Where the egress proxy forwards to.
pub static EGRESS_UPSTREAM: Setting = setting(
    Some("WXPAY_EGRESS_UPSTREAM"),
    "egress_upstream",
    Kind::Text,
    "must be http(s)://host[:port][/prefix], no credentials or query",
);
/// Accept a listening address that is not loopback.
pub static EGRESS_ALLOW_NON_LOOPBACK: Setting = flag(
    "WXPAY_EGRESS_ALLOW_NON_LOOPBACK",
    "egress_allow_non_loopback",
);

// ---- the Envoy filter ----

/// The name of a VM environment variable holding the API key (instead of [`API_KEY`]).
pub static API_KEY_ENV: Setting = setting(None, "api_key_env", Kind::Text, STRING_RULE);
/// The name of a VM environment variable holding the v3 private key (instead of
/// [`PRIVATE_KEY`]).
pub static PRIVATE_KEY_ENV: Setting = setting(None, "private_key_env", Kind::Text, STRING_RULE);
/// The name of a VM environment variable holding the APIv3 key (instead of [`APIV3_KEY`]).
pub static APIV3_KEY_ENV: Setting = setting(None, "apiv3_key_env", Kind::Text, STRING_RULE);
/// The cluster verified `COUPON.USE` events are forwarded to (at [`NOTIFY_FORWARD_URL`]'s
/// authority and path).
pub static NOTIFY_CLUSTER: Setting = setting(None, "notify_cluster", Kind::Text, STRING_RULE);
/// The cluster `send_coupon` goes to (mutual TLS).
pub static SEND_CLUSTER: Setting = setting(None, "send_cluster", Kind::Text, STRING_RULE);
/// The cluster of the two queries (default: [`SEND_CLUSTER`]).
pub static QUERY_CLUSTER: Setting = setting(None, "query_cluster", Kind::Text, STRING_RULE);
/// The `:authority` of WeChat Pay calls.
pub static AUTHORITY: Setting = setting(
    None,
    "authority",
    Kind::Text,
    "must be a host with an optional port (no scheme, path or credentials)",
);

/// The merchant's settings ([`super::read_merchant`] reads them all but an edge's own
/// endpoint).
pub static MERCHANT_SETTINGS: [&Setting; 8] = [
    &APPID,
    &MCH_ID,
    &API_KEY,
    &SIGN_TYPE,
    &BASE_URL,
    &BACKUP_HOST,
    &SANDBOX,
    &REQUIRE_SIGNED_RESPONSES,
];

/// The client certificate's files and the TLS trust.
pub static CERTIFICATE_SETTINGS: [&Setting; 5] =
    [&CERT_FILE, &KEY_FILE, &P12_FILE, &P12_PASSWORD, &CA_FILE];

/// The three timeouts of a WeChat Pay call and the response cap.
pub static CALL_LIMIT_SETTINGS: [&Setting; 4] = [
    &CONNECT_TIMEOUT_MS,
    &FIRST_BYTE_TIMEOUT_MS,
    &BETWEEN_BYTES_TIMEOUT_MS,
    &MAX_RESPONSE_BYTES,
];

/// Every setting, in the order of the documentation.
pub static ALL: [&Setting; 42] = concat(&[
    &MERCHANT_SETTINGS,
    &CERTIFICATE_SETTINGS,
    &V3_SETTINGS,
    &[
        &PRIVATE_KEY,
        &WECHATPAY_PUBLIC_KEY,
        &PLATFORM_CERTIFICATES,
        &NOTIFY_FORWARD_URL,
    ],
    &CALL_LIMIT_SETTINGS,
    &[&TIMEOUT_MS, &ALLOWED_HOSTS, &CALLER_TOKENS],
    &[&EGRESS_LISTEN, &EGRESS_UPSTREAM, &EGRESS_ALLOW_NON_LOOPBACK],
    &[&API_KEY_ENV, &SEND_CLUSTER, &QUERY_CLUSTER, &AUTHORITY],
    &[&PRIVATE_KEY_ENV, &APIV3_KEY_ENV, &NOTIFY_CLUSTER],
]);

/// Every setting the component's gateway reads from `wasi:cli/environment` (and so every
/// variable a runtime's manifest may give it).
pub static GATEWAY_SETTINGS: [&Setting; 21] = concat(&[
    &MERCHANT_SETTINGS,
    &CALL_LIMIT_SETTINGS,
    &[&CALLER_TOKENS],
    &NOTIFICATION_SETTINGS,
    &V3_GATEWAY_SETTINGS,
]);

/// `groups` one after the other, for a `static` list made of smaller ones. Fails to compile
/// (in a `static`) when they do not hold exactly `N` settings.
pub const fn concat<const N: usize>(groups: &[&[&'static Setting]]) -> [&'static Setting; N] {
    let mut out: [&'static Setting; N] = [&APPID; N];
    let (mut n, mut g) = (0, 0);
    while g < groups.len() {
        let mut i = 0;
        while i < groups[g].len() {
            assert!(n < N, "more settings than the list holds");
            out[n] = groups[g][i];
            n += 1;
            i += 1;
        }
        g += 1;
    }
    assert!(n == N, "fewer settings than the list holds");
    out
}

/// The setting with `key`, if any.
pub fn by_key(key: &str) -> Option<&'static Setting> {
    ALL.iter().copied().find(|s| s.key == key)
}

/// The setting with `variable`, if any.
pub fn by_variable(variable: &str) -> Option<&'static Setting> {
    ALL.iter().copied().find(|s| s.variable == Some(variable))
}

/// The variables of `settings`, in order, for a `pub const` list of what an edge reads.
/// Fails to compile (in a `const`) when a setting has no variable.
pub const fn variables<const N: usize>(settings: [&Setting; N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = match settings[i].variable {
            Some(variable) => variable,
            None => panic!("a setting without a variable"),
        };
        i += 1;
    }
    out
}
