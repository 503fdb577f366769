//! The API v3 test material the defaults embed, from `tests/fixtures/v3/` (copies of
//! `shared/spec/v3-vectors/`). **TEST ONLY**: generated locally, never issued by WeChat Pay,
//! protecting nothing. Never use them outside tests and the simulator.

/// The merchant API private key (PKCS#8 PEM, the form of `apiclient_key.pem`) that signs
/// requests; the simulator holds it only to write `merchant_key.pem` for demos and tests, and
/// to sign answers wrongly (the `wrong_sign` fault).
pub const MERCHANT_KEY_PEM: &str = include_str!("../../../tests/fixtures/v3/merchant_key.pem");
/// The merchant API certificate for [`MERCHANT_KEY_PEM`]: serial [`MERCHANT_SERIAL_NO`].
pub const MERCHANT_CERT_PEM: &str = include_str!("../../../tests/fixtures/v3/merchant_cert.pem");
/// The serial of [`MERCHANT_CERT_PEM`] (upper-case hex), the `serial_no` requests carry.
pub const MERCHANT_SERIAL_NO: &str = "7E57C0DE00000000000000000000000000000001";
/// WeChat Pay's platform private key (PKCS#8 PEM): signs answers.
pub const PLATFORM_KEY_PEM: &str = include_str!("../../../tests/fixtures/v3/platform_key.pem");
/// Its public key (SPKI PEM), the "WeChat Pay public key", id [`PUBLIC_KEY_ID`].
pub const PLATFORM_PUBLIC_KEY_PEM: &str =
    include_str!("../../../tests/fixtures/v3/platform_pub.pem");
/// The WeChat Pay public key id of [`PLATFORM_PUBLIC_KEY_PEM`].
pub const PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0100000000000000000000000000TEST";
/// A platform certificate for [`PLATFORM_KEY_PEM`]: serial [`PLATFORM_SERIAL_NO`].
pub const PLATFORM_CERT_PEM: &str = include_str!("../../../tests/fixtures/v3/platform_cert.pem");
/// The serial of [`PLATFORM_CERT_PEM`].
pub const PLATFORM_SERIAL_NO: &str = "7E57C0DE000000000000000000000000000000F1";
/// A second RSA key: the platform key after a certificate rotation.
pub const ROTATED_PLATFORM_KEY_PEM: &str =
    include_str!("../../../tests/fixtures/v3/rotated_platform_key.pem");
/// The APIv3 key (32 ASCII characters).
pub const APIV3_KEY: &str = "TestOnlyApiV3Key0123456789abcdef";
