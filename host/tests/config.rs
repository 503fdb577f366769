//! `wxcoupon::config`: layering (file < environment < overrides), checking that reports every
//! problem at once, and secrets kept out of every message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wxcoupon::config::{ConfigErrors, ConfigOverrides, HostConfig, IdentityFiles};
use wxcoupon::outbound::Scheme;
use wxcoupon_core::{ApiHost, SignType, SignaturePolicy};

use common::{make_p12, pki, MCH_ID};

mod common;

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
const OTHER_KEY: &str = "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp";
const P12_PASSWORD: &str = "p12-Pa55word-do-not-print";

/// A scratch directory with the certificate files, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("wxcoupon-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = pki();
        std::fs::write(dir.join("apiclient_cert.pem"), pki.client_cert_pem()).unwrap();
        std::fs::write(dir.join("apiclient_key.pem"), pki.client_key_pem()).unwrap();
        std::fs::write(dir.join("ca.pem"), pki.ca_pem()).unwrap();
        std::fs::write(dir.join("apiclient_cert.p12"), make_p12(MCH_ID)).unwrap();
        std::fs::write(dir.join("other.p12"), make_p12(P12_PASSWORD)).unwrap();
        Scratch(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.path(file);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn fields(e: &ConfigErrors) -> Vec<String> {
    e.0.iter().map(|f| f.field.clone()).collect()
}

fn minimal_env() -> BTreeMap<String, String> {
    env(&[
        ("WXPAY_APPID", "wx5edab3bdfba3dc1c"),
        ("WXPAY_MCH_ID", MCH_ID),
        ("WXPAY_API_KEY", KEY),
    ])
}

#[test]
fn environment_alone_is_enough_and_defaults_apply() {
    let c = HostConfig::load(None, minimal_env(), &ConfigOverrides::default()).unwrap();
    assert_eq!(c.appid, "wx5edab3bdfba3dc1c");
    assert_eq!(c.sign_type, SignType::Md5);
    assert_eq!(c.timeouts.connect, Duration::from_secs(5));
    assert_eq!(c.timeouts.first_byte, Duration::from_secs(10));
    assert_eq!(c.timeouts.between_bytes, Duration::from_secs(10));
    assert_eq!(c.max_response_bytes, 64 * 1024);
    assert!(c.identity.is_none());
    let m = c.merchant();
    assert_eq!(m.host, ApiHost::Production);
    assert_eq!(m.signature_policy, SignaturePolicy::VerifyIfPresent);
    assert_eq!(m.api_key.expose(), KEY);
    m.validate().unwrap();
    let o = c.outbound();
    assert!(o.identity.is_none());
    assert_eq!(o.allow.entries().len(), 2);
    assert!(o.allow.entries().iter().all(|e| e.identity));
}

#[test]
fn file_then_environment_then_overrides() {
    let dir = Scratch::new("precedence");
    let file = dir.write(
        "wxpay.toml",
        &format!(
            r#"
appid = "wx-from-file"
mch_id = "10000098"
api_key = "{KEY}"
sign_type = "HMAC-SHA256"
base_url = "https://127.0.0.1:8443/"
connect_timeout_ms = 1000
first_byte_timeout_ms = 2000
between_bytes_timeout_ms = 3000
max_response_bytes = 4096
cert_file = "apiclient_cert.pem"   # relative to the file
key_file = "apiclient_key.pem"
ca_file = "ca.pem"
require_signed_responses = true
allowed_hosts = ["proxy.example:8443", "http://127.0.0.1:9000"]
"#
        ),
    );
    let env = env(&[
        ("WXPAY_APPID", "wx-from-env"),
        ("WXPAY_API_KEY", OTHER_KEY),
        ("WXPAY_FIRST_BYTE_TIMEOUT_MS", "2500"),
        ("WXPAY_SIGN_TYPE", "md5"),
        ("WXPAY_BASE_URL", ""), // empty: unset, the file's value stays
        ("PATH", "/usr/bin"),
    ]);
    let overrides = ConfigOverrides {
        appid: Some("wx-from-flag".into()),
        between_bytes_timeout_ms: Some(3500),
        ..ConfigOverrides::default()
    };
    let c = HostConfig::load(Some(&file), env, &overrides).unwrap();
    assert_eq!(c.appid, "wx-from-flag"); // flag > env > file
    assert_eq!(c.api_key.expose(), OTHER_KEY); // env > file
    assert_eq!(c.mch_id, "10000098"); // file only
    assert_eq!(c.sign_type, SignType::Md5);
    assert_eq!(c.timeouts.connect, Duration::from_millis(1000));
    assert_eq!(c.timeouts.first_byte, Duration::from_millis(2500));
    assert_eq!(c.timeouts.between_bytes, Duration::from_millis(3500));
    assert_eq!(c.max_response_bytes, 4096);
    assert_eq!(c.base_url.as_deref(), Some("https://127.0.0.1:8443"));
    assert_eq!(
        c.identity_files,
        Some(IdentityFiles::Pem {
            cert_file: dir.path("apiclient_cert.pem"),
            key_file: dir.path("apiclient_key.pem"),
        })
    );
    assert_eq!(c.identity.as_ref().unwrap().certificate_count(), 1);
    assert_eq!(c.extra_ca_pem.as_deref(), Some(pki().ca_pem().as_bytes()));

    let m = c.merchant();
    assert_eq!(m.host, ApiHost::Custom("https://127.0.0.1:8443".into()));
    assert_eq!(m.signature_policy, SignaturePolicy::Require);

    let o = c.outbound();
    assert!(o.identity.is_some());
    assert_eq!(o.timeouts, c.timeouts);
    assert_eq!(o.max_response_bytes, 4096);
    let find = |host: &str, port: u16| {
        o.allow
            .entries()
            .iter()
            .find(|e| e.host == host && e.port == port)
            .cloned()
    };
    let base = find("127.0.0.1", 8443).unwrap();
    assert!(base.identity && base.scheme == Scheme::Https);
    let proxy = find("proxy.example", 8443).unwrap();
    assert!(!proxy.identity);
    let plain = find("127.0.0.1", 9000).unwrap();
    assert_eq!(plain.scheme, Scheme::Http);
    assert!(find("api.mch.weixin.qq.com", 443).unwrap().identity);
}

#[test]
fn overrides_replace_lists_and_booleans() {
    let dir = Scratch::new("overrides");
    let file = dir.write(
        "wxpay.toml",
        "allowed_hosts = [\"a.example\"]\nsandbox = true\nbackup_host = true\n",
    );
    let overrides = ConfigOverrides {
        allowed_hosts: vec!["b.example:444".into()],
        sandbox: Some(false),
        ..ConfigOverrides::default()
    };
    let c = HostConfig::load(Some(&file), minimal_env(), &overrides).unwrap();
    assert_eq!(c.allowed_hosts, vec!["b.example:444".to_string()]);
    assert!(!c.sandbox);
    assert!(c.backup_host);
    assert_eq!(c.merchant().host, ApiHost::Backup);

    let c = HostConfig::load(
        None,
        env(&[
            ("WXPAY_APPID", "wx1"),
            ("WXPAY_MCH_ID", "1"),
            ("WXPAY_API_KEY", KEY),
            ("WXPAY_SANDBOX", "yes"),
        ]),
        &ConfigOverrides::default(),
    )
    .unwrap();
    assert!(c.sandbox && c.merchant().sandbox);
}

#[test]
fn every_problem_is_reported_at_once() {
    let dir = Scratch::new("errors");
    let file = dir.write(
        "wxpay.toml",
        r#"
appid = "   "
api_key = "too-short-secret-value"
sign_type = "SHA1"
base_url = "ftp://example.com"
backup_host = true
connect_timeout_ms = 0
first_byte_timeout_ms = "soon"
max_response_bytes = 99999999999
cert_file = "apiclient_cert.pem"
ca_file = "missing-ca.pem"
allowed_hosts = ["ok.example", "bad host"]
sandbox = "maybe"
colour = "blue"
"#,
    );
    let env = env(&[("WXPAY_BETWEEN_BYTES_TIMEOUT_MS", "-5")]);
    let err = HostConfig::load(Some(&file), env, &ConfigOverrides::default()).unwrap_err();
    let text = err.to_string();
    let expected = [
        "config file", // unknown key
        "WXPAY_APPID / appid: required",
        "WXPAY_MCH_ID / mch_id: required",
        "WXPAY_API_KEY / api_key: must be 32 characters",
        "WXPAY_SIGN_TYPE / sign_type: must be MD5 or HMAC-SHA256",
        "WXPAY_BASE_URL / base_url: must start with http:// or https://",
        "backup_host: cannot be combined with base_url",
        "WXPAY_SANDBOX / sandbox: must be true or false",
        "WXPAY_KEY_FILE / key_file: required when cert_file is set",
        "WXPAY_CA_FILE / ca_file:",
        "WXPAY_CONNECT_TIMEOUT_MS / connect_timeout_ms: must be a number 1–600000",
        "WXPAY_FIRST_BYTE_TIMEOUT_MS / first_byte_timeout_ms: must be a number 1–600000",
        "WXPAY_BETWEEN_BYTES_TIMEOUT_MS / between_bytes_timeout_ms: must be a number 1–600000",
        "WXPAY_MAX_RESPONSE_BYTES / max_response_bytes: must be a number 1–16777216",
        "allowed_hosts: entry 2",
    ];
    for e in expected {
        assert!(text.contains(e), "missing {e:?} in:\n{text}");
    }
    assert!(text.contains("colour"), "{text}");
    assert!(text.contains("(in the environment)"), "{text}");
    // One line per error.
    assert_eq!(text.lines().count(), err.0.len(), "{text}");
    assert_eq!(err.0.len(), expected.len(), "{text}");
    // The secret is never echoed.
    assert!(!text.contains("too-short-secret-value"), "{text}");
    assert!(!format!("{err:?}").contains("too-short-secret-value"));
}

#[test]
fn nothing_at_all_names_the_three_required_items() {
    let err = HostConfig::load(None, no_env(), &ConfigOverrides::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "WXPAY_APPID / appid: required\nWXPAY_MCH_ID / mch_id: required\nWXPAY_API_KEY / api_key: required"
    );
}

#[test]
fn a_missing_config_file_is_reported_with_the_rest() {
    let missing = Path::new("/nonexistent/wxpay.toml");
    let err = HostConfig::load(Some(missing), no_env(), &ConfigOverrides::default()).unwrap_err();
    let f = fields(&err);
    assert_eq!(f[0], "config file /nonexistent/wxpay.toml");
    assert_eq!(err.0[0].rule, "not found");
    assert!(f.contains(&"WXPAY_MCH_ID / mch_id".to_string()));
}

#[test]
fn broken_toml_gives_a_line_number_not_the_content() {
    let dir = Scratch::new("toml");
    let file = dir.write(
        "wxpay.toml",
        &format!("appid = \"wx1\"\napi_key = \"{KEY}\nmch_id = 1\n"),
    );
    let err = HostConfig::load(Some(&file), no_env(), &ConfigOverrides::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("not valid TOML (line 2)"), "{text}");
    assert!(!text.contains(KEY), "{text}");
}

#[test]
fn identity_rules() {
    let dir = Scratch::new("identity");
    let cert = dir.path("apiclient_cert.pem");
    let key = dir.path("apiclient_key.pem");
    let p12 = dir.path("apiclient_cert.p12");

    // PEM pair and .p12 together: refused.
    let o = ConfigOverrides {
        cert_file: Some(cert.clone()),
        key_file: Some(key.clone()),
        p12_file: Some(p12.clone()),
        ..ConfigOverrides::default()
    };
    let err = HostConfig::load(None, minimal_env(), &o).unwrap_err();
    assert_eq!(fields(&err), vec!["WXPAY_P12_FILE / p12_file"]);
    assert!(err.to_string().contains("either the PEM pair or the .p12"));

    // A key without its certificate.
    let o = ConfigOverrides {
        key_file: Some(key.clone()),
        ..ConfigOverrides::default()
    };
    let err = HostConfig::load(None, minimal_env(), &o).unwrap_err();
    assert_eq!(fields(&err), vec!["WXPAY_CERT_FILE / cert_file"]);

    // Swapped files name the file and the likely mistake.
    let o = ConfigOverrides {
        cert_file: Some(key.clone()),
        key_file: Some(cert.clone()),
        ..ConfigOverrides::default()
    };
    let err = HostConfig::load(None, minimal_env(), &o).unwrap_err();
    assert_eq!(fields(&err), vec!["WXPAY_CERT_FILE / cert_file"]);
    let text = err.to_string();
    assert!(
        text.contains("apiclient_key.pem") && text.contains("swapped"),
        "{text}"
    );
    for line in pki().client_key_lines() {
        assert!(!text.contains(line), "{text}");
    }

    // A missing file.
    let o = ConfigOverrides {
        cert_file: Some(dir.path("nope.pem")),
        key_file: Some(key.clone()),
        ..ConfigOverrides::default()
    };
    let err = HostConfig::load(None, minimal_env(), &o).unwrap_err();
    assert!(
        err.to_string()
            .contains("nope.pem: certificate file not found"),
        "{err}"
    );

    // The .p12 opens with the mch_id by default…
    let o = ConfigOverrides {
        p12_file: Some(p12.clone()),
        ..ConfigOverrides::default()
    };
    let c = HostConfig::load(None, minimal_env(), &o).unwrap();
    assert_eq!(
        c.identity_files,
        Some(IdentityFiles::Pkcs12 { p12_file: p12 })
    );
    assert!(c.identity.is_some() && c.outbound().identity.is_some());

    // …or with its password from the environment.
    let mut e = minimal_env();
    e.insert(
        "WXPAY_P12_FILE".into(),
        dir.path("other.p12").display().to_string(),
    );
    e.insert("WXPAY_P12_PASSWORD".into(), P12_PASSWORD.into());
    HostConfig::load(None, e.clone(), &ConfigOverrides::default()).unwrap();

    // A wrong password is reported without echoing it.
    e.insert("WXPAY_P12_PASSWORD".into(), "wrong-Pa55word-xyz".into());
    let err = HostConfig::load(None, e, &ConfigOverrides::default()).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("wrong password"), "{text}");
    assert!(!text.contains("wrong-Pa55word-xyz"), "{text}");

    // A password without a .p12.
    let mut e = minimal_env();
    e.insert("WXPAY_P12_PASSWORD".into(), P12_PASSWORD.into());
    let err = HostConfig::load(None, e, &ConfigOverrides::default()).unwrap_err();
    assert_eq!(fields(&err), vec!["WXPAY_P12_PASSWORD / p12_password"]);
    assert!(!err.to_string().contains(P12_PASSWORD));
}

#[test]
fn sandbox_requires_md5() {
    let o = ConfigOverrides {
        sandbox: Some(true),
        sign_type: Some(SignType::HmacSha256),
        ..ConfigOverrides::default()
    };
    let err = HostConfig::load(None, minimal_env(), &o).unwrap_err();
    assert_eq!(
        err.to_string(),
        "WXPAY_SIGN_TYPE / sign_type: the sandbox accepts MD5 signatures only"
    );
}

#[test]
fn secrets_never_appear_in_debug_or_display() {
    let dir = Scratch::new("secrets");
    let mut e = minimal_env();
    e.insert(
        "WXPAY_P12_FILE".into(),
        dir.path("other.p12").display().to_string(),
    );
    e.insert("WXPAY_P12_PASSWORD".into(), P12_PASSWORD.into());
    let c = HostConfig::load(None, e, &ConfigOverrides::default()).unwrap();
    let debug = format!("{c:?} {:?} {:?}", c.outbound(), c.merchant());
    assert!(!debug.contains(KEY), "{debug}");
    assert!(!debug.contains(P12_PASSWORD), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");

    let o = ConfigOverrides {
        api_key: Some(KEY.into()),
        p12_password: Some(P12_PASSWORD.into()),
        ..ConfigOverrides::default()
    };
    let debug = format!("{o:?}");
    assert!(
        !debug.contains(KEY) && !debug.contains(P12_PASSWORD),
        "{debug}"
    );

    // A key of the wrong form: the rule, never the value.
    let o = ConfigOverrides {
        api_key: Some(format!("{KEY} ")),
        ..ConfigOverrides::default()
    };
    let err = HostConfig::load(None, minimal_env(), &o).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("WXPAY_API_KEY / api_key"), "{text}");
    assert!(!text.contains(KEY), "{text}");
}
