//! # wxcoupon-simulator
//!
//! A stand-in for WeChat Pay's v2 coupon endpoints (`send_coupon`, `query_coupon_stock`,
//! `querycouponsinfo`, and the sandbox's `getsignkey`) on loopback: HTTPS with certificates it
//! makes itself, optional mutual TLS, the real paths and field names, WeChat's answer shapes and
//! error codes, stocks with counters, and injectable faults. It signs, verifies and writes XML
//! with `wxcoupon-core`, so it speaks exactly what the core reads.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | [`SimulatorConfig`] and [`StockSeed`]: ids, keys, stocks, listeners (TOML) |
//! | [`certs`] | the CA, server and client certificates; the rustls server configuration |
//! | [`routes`] | the path table: [`Endpoint`], production vs sandbox ([`Environment`]) |
//! | [`state`] | stocks, issued coupons, the business rules and the replay policy |
//! | `handlers` (private) | request checks and answers in WeChat's shape |
//! | [`faults`] | [`Faults`]: latency, HTTP status, reset, truncation, wrong sign, forced err_code |
//! | [`server`] | listeners, TLS, HTTP/1.1 keep-alive, counters, shutdown: [`RunningSimulator`] |
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use wxcoupon_simulator::{Simulator, SimulatorConfig};
//!
//! let sim = Simulator::start(SimulatorConfig::default()).await?;
//! println!("POST {}/mmpaymkttransfers/send_coupon", sim.https_base_url());
//! // Trust sim.ca_pem(); present sim.client_cert_pem() / sim.client_key_pem() for send_coupon.
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Choices where WeChat documents nothing are stated in the module that makes them: the replay
//! policy in [`state`], the fault rules in [`faults`], the refusal shapes below.
//!
//! Refusal shapes: a request that cannot be trusted or read (`CA_ERROR`, `REQ_PARAM_XML_ERR`,
//! `MCH_ID_EMPTY`, `CODE_2_ID_ERR`, `SIGN_ERROR`) gets `return_code` FAIL with the reason in
//! `return_msg` (plus `result_code` FAIL and the `err_code`); every other refusal gets
//! `return_code` SUCCESS, `result_code` FAIL and the `err_code`, as real traffic shows for
//! `USER_AL_GET_COUPON`.

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

pub use config::{AnswerKey, SimulatorConfig, StockSeed, V3Config};
pub use faults::Faults;
pub use routes::{Endpoint, Environment};
pub use server::{CertFile, RunningSimulator, Simulator};
pub use state::{ApiVersion, IssuedCoupon, StockSnapshot};
