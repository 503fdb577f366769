//! # wxcoupon (reference host)
//!
//! Runs the wxcoupon WebAssembly component on wasmtime and exposes its contract to Rust programs
//! and to the `wxcoupon` CLI.
//!
//! | module | owns |
//! |---|---|
//! | [`runtime`] | the engine, the pre-instantiated component, a [`Session`] per caller |
//! | [`convert`] | WIT values ⇄ `wxcoupon-core` values (which serialise to the CLI's JSON) |
//! | [`dynamic`] | any export called by name with JSON values (`wxcoupon call`, the conformance suite) |
//! | [`outbound`] | `wasi:http` outgoing requests: allow-list, client certificate, pooled TLS client |
//! | [`config`] | [`config::HostConfig`] from a TOML file, `WXPAY_*` variables and overrides |
//! | [`serve`] | `wxcoupon serve`: the component's gateway mode as an HTTP server, an instance per request |
//! | [`egress`] | the egress proxy: plain HTTP on loopback → WeChat Pay with the client certificate |
//! | [`error`] | [`HostError`]: the library's failures around the component (anyhow stays in the CLI) |
//! | [`campaign`] | a stock issued to a list of users: the SQLite journal, the rate, resumable runs |
//!
//! The component is built from this source tree by `build.rs` and embedded in the binary
//! ([`COMPONENT_BYTES`]); [`COMPONENT_PATH`] says where the `.wasm` file is for other hosts.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use wxcoupon::Runtime;
//! let runtime = Runtime::new()?;          // compile once per process
//! let mut session = runtime.session().await?;   // a fresh instance
//! let fields = vec![("appid".to_string(), "wx5edab3bdfba3dc1c".to_string())];
//! let sign = session
//!     .sign(&fields, "192006250b4c09247ec02edce69f6a2d", wxcoupon_core::SignType::Md5)
//!     .await??;
//! assert_eq!(sign.len(), 32);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
#![allow(clippy::ptr_arg)] // bindgen! wants `&Vec` for `list<…>` arguments.

pub mod campaign;
pub mod config;
pub mod convert;
pub mod dynamic;
pub mod egress;
pub mod error;
mod http_server;
pub mod outbound;
pub mod runtime;
pub mod serve;
pub mod v3;

pub use error::{HostError, HostResult};
pub use runtime::{CallOptions, Runtime, Session};

/// The component's bytes, as built from this tree.
pub const COMPONENT_BYTES: &[u8] = include_bytes!(env!("WXCOUPON_COMPONENT_PATH"));

/// Where the component's `.wasm` file was built.
pub const COMPONENT_PATH: &str = env!("WXCOUPON_COMPONENT_PATH");
