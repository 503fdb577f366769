//! What the end-to-end tests share: one compiled component per test binary, the fixtures, and
//! the test merchant.

use std::sync::OnceLock;

use wxcoupon::Runtime;
use wxcoupon_core::{ApiKey, Fields, Merchant};

/// The API key of the vectors, fixtures and simulator defaults.
pub const TEST_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// The component, compiled once for the whole test binary.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("compile the wxcoupon component"))
}

/// The merchant every fixture belongs to.
pub fn merchant() -> Merchant {
    Merchant::new(
        "wx5edab3bdfba3dc1c",
        "10000098",
        ApiKey::new(TEST_KEY).unwrap(),
    )
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
