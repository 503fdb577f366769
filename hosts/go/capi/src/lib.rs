//! The Wasmtime C API (`wasmtime-c-api-impl` 48.0.8) linked into one static library,
//! `libwxcoupon_wasmtime.a`, which the Go package in `hosts/go` links through cgo.
//!
//! Nothing of ours lives here: re-exporting the crate keeps its `#[no_mangle]` symbols in the
//! archive. The headers the crate's build script generates are copied next to the archive by
//! `scripts/build-go-capi`.
pub use wasmtime_c_api::*;
