//! Secrets stay out of `Debug`: every type of the host's API (and of the simulator it embeds)
//! that holds the APIv2 key, the `.p12` password or the private key is built with known values
//! and formatted with `{:?}` and `{:#?}`; neither output may contain them, in any letter case.
//!
//! The CLI's argument structs live in the binary: `src/main.rs` tests them the same way.

use std::net::SocketAddr;
use std::path::PathBuf;

use wxcoupon::config::{ConfigOverrides, HostConfig};
use wxcoupon::egress::EgressConfig;
use wxcoupon::outbound::ClientIdentity;
use wxcoupon::runtime::wit;
use wxcoupon::serve::ServeConfig;
use wxcoupon_core::{ApiHost, ApiKey, Merchant, SignType, SignaturePolicy};
use wxcoupon_simulator::{Environment, Simulator, SimulatorConfig};

use common::{make_p12, pki, MCH_ID};

mod common;

const APPID: &str = "wx5edab3bdfba3dc1c";
/// WeChat's documented example key.
const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
/// A second key (the simulator's sandbox key).
const SANDBOX_KEY: &str = "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp";
const P12_PASSWORD: &str = "p12-Pa55word-do-not-print";

/// Every secret a value in these tests may hold, as written and in both letter cases.
fn secrets() -> Vec<String> {
    let mut all = Vec::new();
    for s in [KEY, SANDBOX_KEY, P12_PASSWORD] {
        all.extend([s.to_string(), s.to_lowercase(), s.to_uppercase()]);
    }
    // The private key's base64 lines (the PEM body), should a type keep the raw key.
    all.extend(pki().client_key_lines().iter().map(|l| l.to_string()));
    all
}

/// Formats `value` with `{:?}` and `{:#?}` and fails, naming the type, on any secret.
fn assert_redacted<T: std::fmt::Debug>(what: &str, value: &T) {
    let secrets = secrets();
    for text in [format!("{value:?}"), format!("{value:#?}")] {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{what}: Debug shows a secret ({secret}):\n{text}"
            );
        }
    }
}

fn merchant() -> Merchant {
    Merchant {
        appid: APPID.into(),
        mch_id: MCH_ID.into(),
        api_key: ApiKey::new(KEY).unwrap(),
        sign_type: SignType::HmacSha256,
        host: ApiHost::Custom("https://127.0.0.1:9".into()),
        sandbox: false,
        signature_policy: SignaturePolicy::Require,
    }
}

/// A scratch directory holding a `.p12` whose password is [`P12_PASSWORD`], removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("wxcoupon-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("apiclient_cert.p12"), make_p12(P12_PASSWORD)).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_core_merchant_and_its_key_are_redacted() {
    assert_redacted("wxcoupon_core::ApiKey", &ApiKey::new(KEY).unwrap());
    assert_redacted("wxcoupon_core::Merchant", &merchant());
}

#[test]
fn the_wit_merchant_record_is_redacted() {
    // As the runtime builds it for every call…
    let record = wxcoupon::convert::merchant_to_wit(&merchant());
    assert_eq!(
        record.api_key, KEY,
        "the record carries the key to the component"
    );
    assert_redacted(
        "runtime::wit::Merchant (from convert::merchant_out)",
        &record,
    );
    // …and written out by hand.
    let record = wit::Merchant {
        appid: APPID.into(),
        mch_id: MCH_ID.into(),
        api_key: KEY.to_uppercase(),
        sign_type: wit::SignType::Md5,
        host: wit::ApiHost::Production,
        sandbox: true,
        signature_policy: wit::SignaturePolicy::VerifyIfPresent,
    };
    assert_redacted("runtime::wit::Merchant", &record);
}

#[test]
fn host_configuration_types_are_redacted() {
    let scratch = Scratch::new();
    let overrides = ConfigOverrides {
        appid: Some(APPID.into()),
        mch_id: Some(MCH_ID.into()),
        api_key: Some(KEY.into()),
        base_url: Some("https://127.0.0.1:9".into()),
        p12_file: Some(scratch.0.join("apiclient_cert.p12")),
        p12_password: Some(P12_PASSWORD.into()),
        ..ConfigOverrides::default()
    };
    assert_redacted("config::ConfigOverrides", &overrides);
    let no_env: [(&str, &str); 0] = [];
    let config = HostConfig::load(None, no_env, &overrides).unwrap();
    assert_eq!(config.api_key.expose(), KEY);
    assert!(config.identity.is_some());
    assert_redacted("config::HostConfig", &config);
    assert_redacted("HostConfig::merchant()", &config.merchant());
    assert_redacted("outbound::OutboundConfig", &config.outbound());
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let serve = ServeConfig::from_host_config(&config, listen).unwrap();
    assert!(
        serve.component_env.iter().any(|(_, v)| v == KEY),
        "the component's environment carries the key"
    );
    assert_redacted("serve::ServeConfig", &serve);
    assert_redacted(
        "egress::EgressConfig",
        &EgressConfig::from_host_config(&config, listen),
    );

    // The environment layer, and a key that breaks a rule: the errors name it, never show it.
    let env = [("WXPAY_API_KEY", &KEY[..31])];
    let errors = HostConfig::load(None, env, &ConfigOverrides::default()).unwrap_err();
    let short_key = &KEY[..31];
    for text in [
        format!("{errors:?}"),
        format!("{errors:#?}"),
        errors.to_string(),
    ] {
        assert!(!text.contains(short_key), "{text}");
    }
}

#[test]
fn client_identities_are_redacted() {
    let pki = pki();
    let from_pem = ClientIdentity::from_pem(
        pki.client_cert_pem().as_bytes(),
        pki.client_key_pem().as_bytes(),
    )
    .unwrap();
    assert_redacted("outbound::ClientIdentity (PEM)", &from_pem);
    let from_p12 = ClientIdentity::from_pkcs12(&make_p12(P12_PASSWORD), P12_PASSWORD).unwrap();
    assert_redacted("outbound::ClientIdentity (PKCS#12)", &from_p12);
    let err = ClientIdentity::from_pkcs12(&make_p12(P12_PASSWORD), &P12_PASSWORD[1..]).unwrap_err();
    assert_redacted("outbound::IdentityError", &err);
}

#[tokio::test]
async fn simulator_types_are_redacted() {
    let config = SimulatorConfig {
        api_key: KEY.into(),
        sandbox_key: SANDBOX_KEY.into(),
        ..SimulatorConfig::default()
    };
    assert_redacted("wxcoupon_simulator::SimulatorConfig", &config);
    let running = Simulator::start(config).await.unwrap();
    assert_redacted("wxcoupon_simulator::RunningSimulator", &running);
    assert_redacted("RunningSimulator::config()", running.config());
    for environment in [Environment::Production, Environment::Sandbox] {
        let merchant = running.merchant(environment);
        assert_redacted("RunningSimulator::merchant()", &merchant);
        assert_redacted(
            "runtime::wit::Merchant (simulator merchant)",
            &wxcoupon::convert::merchant_to_wit(&merchant),
        );
    }
}

/// API v3: the configuration read from files and the environment, its merchant settings, the
/// opened merchant's signer choice: no `Debug` shows the APIv3 key or any line of the private
/// key.
#[test]
fn v3_configuration_types_are_redacted() {
    let scratch = common::Scratch::new("v3-secrets");
    let key_file = scratch.0.join("apiclient_key.pem");
    let private_key = include_str!("../../tests/fixtures/v3/merchant_key.pem");
    std::fs::write(&key_file, private_key).unwrap();
    let apiv3_key = "TestOnlyApiV3Key0123456789abcdef";
    let config = wxcoupon::config::V3Config::from_env([
        ("WXPAY_MCH_ID", "8956000".to_string()),
        (
            "WXPAY_MERCHANT_SERIAL_NO",
            "7E57C0DE00000000000000000000000000000001".to_string(),
        ),
        ("WXPAY_APIV3_KEY", apiv3_key.to_string()),
        ("WXPAY_PRIVATE_KEY_FILE", key_file.display().to_string()),
    ])
    .unwrap();
    let sign_with = config.sign_with().unwrap();
    let merchant = wxcoupon_core::v3::merchant::Merchant::new(&config.merchant).unwrap();
    let key_lines: Vec<&str> = private_key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for text in [
        format!(
            "{config:?} {:?} {sign_with:?} {merchant:?}",
            config.merchant
        ),
        format!(
            "{config:#?} {:#?} {sign_with:#?} {merchant:#?}",
            config.merchant
        ),
    ] {
        assert!(!text.contains(apiv3_key), "{text}");
        assert!(!text.to_lowercase().contains(&apiv3_key.to_lowercase()));
        for line in &key_lines {
            assert!(!text.contains(line), "a private key line in: {text}");
        }
    }
}
