//! What the end-to-end tests share: one compiled component per test binary, the fixtures, and
//! the test merchant.

use std::sync::OnceLock;

pub mod gateway;
pub mod generated;
pub mod hosts;
pub mod receiver;
pub mod v3_fixtures;
pub mod v3_gateway;

use wxcoupon::Runtime;
use wxcoupon_core::{ApiKey, Fields, Merchant};

/// The test merchant's appid.
pub const APPID: &str = "wx5edab3bdfba3dc1c";
/// The test merchant's mch_id.
pub const MCH_ID: &str = "10000098";
/// The API key of the vectors, fixtures and simulator defaults.
pub const TEST_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// The component, compiled once for the whole test binary.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("compile the wxcoupon component"))
}

/// The merchant every fixture belongs to.
pub fn merchant() -> Merchant {
    Merchant::new(APPID, MCH_ID, ApiKey::new(TEST_KEY).unwrap())
}

/// `tests/fixtures/<path>`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// One case of `vectors.json`.
#[derive(serde::Deserialize)]
pub struct SignatureVector {
    /// Its name.
    pub name: String,
    /// The key.
    pub key: String,
    /// `MD5` or `HMAC-SHA256`.
    pub sign_type: String,
    /// The fields.
    pub fields: Fields,
    /// The expected signature.
    pub sign: String,
}

/// Every signature vector.
pub fn signature_vectors() -> Vec<SignatureVector> {
    #[derive(serde::Deserialize)]
    struct File {
        cases: Vec<SignatureVector>,
    }
    serde_json::from_slice::<File>(&fixture("vectors.json"))
        .expect("parse vectors.json")
        .cases
}

/// A simulator on loopback and the component wired to it through the mutual-TLS client.
pub struct Harness {
    /// The simulator (HTTPS with client certificates, plus a plain-HTTP listener).
    pub sim: wxcoupon_simulator::RunningSimulator,
    /// The outbound client the component's requests go through.
    pub outbound: wxcoupon::outbound::OutboundClient,
    /// The runtime with that client's hooks.
    pub runtime: Runtime,
}

/// What [`Harness::start`] varies.
#[derive(Clone, Copy, Debug, Default)]
pub struct HarnessOptions {
    /// Leave the merchant's client certificate out.
    pub without_identity: bool,
    /// Have the simulator sign its answers.
    pub sign_responses: bool,
    /// A new TLS connection for every request instead of the pool (`OutboundConfig::reuse_connections`).
    pub new_connection_per_call: bool,
}

impl Harness {
    /// Starts a simulator and a runtime whose outbound client trusts its CA, presents its client
    /// certificate (unless told not to) and allows only its HTTPS address.
    pub async fn start(options: HarnessOptions) -> Harness {
        let sim = wxcoupon_simulator::Simulator::start(wxcoupon_simulator::SimulatorConfig {
            plain_http: true,
            sign_responses: options.sign_responses,
            ..Default::default()
        })
        .await
        .expect("start the simulator");
        let identity = (!options.without_identity).then(|| {
            wxcoupon::outbound::ClientIdentity::from_pem(
                sim.client_cert_pem().as_bytes(),
                sim.client_key_pem().as_bytes(),
            )
            .expect("the simulator's client identity")
        });
        let outbound =
            wxcoupon::outbound::OutboundClient::new(wxcoupon::outbound::OutboundConfig {
                identity,
                allow: wxcoupon::outbound::AllowList::default()
                    .with_base_url(&sim.https_base_url())
                    .expect("allow the simulator"),
                extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
                use_system_roots: false,
                reuse_connections: !options.new_connection_per_call,
                ..Default::default()
            })
            .expect("build the outbound client");
        let hooks_client = outbound.clone();
        let runtime = crate::runtime()
            .clone()
            .with_hooks(std::sync::Arc::new(move || Box::new(hooks_client.hooks())));
        Harness {
            sim,
            outbound,
            runtime,
        }
    }

    /// The test merchant, pointed at the simulator's HTTPS address.
    pub fn merchant(&self) -> Merchant {
        let mut m = merchant();
        m.host = wxcoupon_core::ApiHost::Custom(self.sim.https_base_url());
        m
    }
}
