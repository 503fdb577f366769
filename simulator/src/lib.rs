//! # wxcoupon-simulator
//!
//! A stand-in for WeChat Pay's coupon endpoints on loopback, API v2 and API v3 alike, sharing
//! one merchant and one set of stocks (a coupon counts once whichever API issued it):
//!
//! - **v2** (`send_coupon`, `query_coupon_stock`, `querycouponsinfo`, and the sandbox's
//!   `getsignkey`): XML, MD5/HMAC-SHA256 signatures, mutual TLS for `send_coupon`;
//! - **v3** (every cash-coupon endpoint of `/v3/marketing/favor` — create, start, pause,
//!   restart, stop and list stocks, their merchants, items and flow files, issue, query and list
//!   coupons, the callback setting — and `GET /v3/certificates`; `COUPON.USE` callbacks
//!   delivered with WeChat's retries when a coupon is used): JSON, requests
//!   authenticated with the merchant API certificate, every answer signed with WeChat Pay's
//!   platform key (under the public key id or a platform certificate serial), certificates
//!   encrypted with the APIv3 key, rotation on demand.
//!
//! HTTPS with certificates it makes itself, the real paths and field names, WeChat's answer
//! shapes and error codes, stocks with counters, and injectable faults. It signs, verifies and
//! writes both APIs with `wxcoupon-core` (v2, and its `v3` feature), so it speaks exactly what
//! the core reads.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | [`SimulatorConfig`], [`StockSeed`] and [`V3Config`]: ids, keys, stocks, listeners (TOML) |
//! | [`certs`] | the CA, server and client certificates; the rustls server configuration |
//! | [`routes`] | the path table: [`Endpoint`] (v2 and v3), production vs sandbox ([`Environment`]) |
//! | [`state`] | stocks, issued coupons, the business rules and both APIs' replay policies |
//! | `handlers` (private) | v2 request checks and answers in WeChat's shape |
//! | [`v3`] | API v3: authentication, answer signing, platform keys and rotation, every cash-coupon endpoint, flow files, `COUPON.USE` callbacks with retries |
//! | [`faults`] | [`Faults`]: latency, HTTP status, reset, truncation, wrong sign, forced err_code, and v3's missing signature, unknown serial, shifted timestamp, tampered body |
//! | [`server`] | listeners, TLS, HTTP/1.1 keep-alive, counters, shutdown: [`RunningSimulator`] |
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use wxcoupon_simulator::{Simulator, SimulatorConfig};
//!
//! let sim = Simulator::start(SimulatorConfig::default()).await?;
//! println!("POST {}/mmpaymkttransfers/send_coupon", sim.https_base_url());
//! // Trust sim.ca_pem(); present sim.client_cert_pem() / sim.client_key_pem() for send_coupon.
//! println!("POST {}/v3/marketing/favor/users/OPENID/coupons", sim.https_base_url());
//! // v3: sign with the merchant key; sim.v3_merchant_settings() has everything a
//! // wxcoupon_core::v3::merchant::Merchant needs.
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Choices where WeChat documents nothing are stated in the module that makes them: the replay
//! policies in [`state`], the fault rules in [`faults`], v3's in [`v3`], the v2 refusal shapes
//! below.
//!
//! v2 refusal shapes: a request that cannot be trusted or read (`CA_ERROR`, `REQ_PARAM_XML_ERR`,
//! `MCH_ID_EMPTY`, `CODE_2_ID_ERR`, `SIGN_ERROR`) gets `return_code` FAIL with the reason in
//! `return_msg` (plus `result_code` FAIL and the `err_code`); every other refusal gets
//! `return_code` SUCCESS, `result_code` FAIL and the `err_code`, as real traffic shows for
//! `USER_AL_GET_COUPON`. v3 refusals are a status with `{"code","message"}` (spec §3).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod certs;
pub mod config;
pub mod faults;
mod handlers;
pub mod routes;
pub mod server;
pub mod state;
pub mod v3;

pub use config::{AnswerKey, CallbackKey, SimulatorConfig, StockSeed, V3Config};
pub use faults::Faults;
pub use routes::{Endpoint, Environment};
pub use server::{CertFile, RunningSimulator, Simulator};
pub use state::{
    ApiVersion, ConsumeRecord, CouponUse, IssuedCoupon, StockSnapshot, UseError, V3StockInfo,
};
pub use v3::DeliveryRecord;
