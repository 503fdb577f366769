//! Running the component: one [`Engine`] and one pre-instantiated component per [`Runtime`]
//! (compiling is the expensive step, done once), a fresh store and instance per [`Session`]
//! (tens of microseconds), so callers never share guest state.

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wxcoupon_core as core;

use crate::convert;

/// Bindings generated from `wit/` for the `codec` world.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "codec",
        exports: { default: async },
        with: { "wasi:random/random": wasmtime_wasi::p2::bindings::random::random },
    });
}

pub use bindings::exports::wxpay::coupon::types as wit;

/// Per-instance host state: WASI (randomness for nonces) and its resource table.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl HostState {
    fn new() -> Self {
        HostState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The compiled component, ready to instantiate. Cheap to clone and share across threads.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    component: Component,
    pre: bindings::CodecPre<HostState>,
}

impl Runtime {
    /// Compiles the embedded component ([`crate::COMPONENT_BYTES`]).
    pub fn new() -> anyhow::Result<Runtime> {
        Runtime::from_bytes(crate::COMPONENT_BYTES)
    }

    /// Compiles a component from its bytes (a `.wasm` file built elsewhere).
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let component = Component::new(&engine, bytes)
            .map_err(|e| anyhow::anyhow!("compile the wxcoupon component: {e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        let pre = bindings::CodecPre::new(linker.instantiate_pre(&component)?).map_err(|e| {
            anyhow::anyhow!("the component does not export the wxpay:coupon codec world: {e}")
        })?;
        Ok(Runtime {
            engine,
            component,
            pre,
        })
    }

    /// A fresh instance of the component.
    pub async fn session(&self) -> anyhow::Result<Session> {
        let mut store = Store::new(&self.engine, HostState::new());
        let codec = self.pre.instantiate_async(&mut store).await?;
        Ok(Session { store, codec })
    }

    /// The names of what the component imports and exports, from its own type information.
    pub fn describe(&self) -> ComponentDescription {
        let ty = self.component.component_type();
        ComponentDescription {
            imports: ty
                .imports(&self.engine)
                .map(|(n, _)| n.to_string())
                .collect(),
            exports: ty
                .exports(&self.engine)
                .map(|(n, _)| n.to_string())
                .collect(),
        }
    }
}

/// What a component imports and exports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ComponentDescription {
    /// Imported interfaces.
    pub imports: Vec<String>,
    /// Exported interfaces.
    pub exports: Vec<String>,
}

/// One instance of the component. The outer `Result` of each call is a host failure (a trap);
/// the inner one is the component's answer.
pub struct Session {
    store: Store<HostState>,
    codec: bindings::Codec,
}

impl Session {
    /// `protocol.sign`.
    pub async fn sign(
        &mut self,
        fields: &Vec<(String, String)>,
        key: &str,
        sign_type: core::SignType,
    ) -> anyhow::Result<Result<String, core::Error>> {
        let r = self
            .codec
            .wxpay_coupon_protocol()
            .call_sign(
                &mut self.store,
                fields,
                key,
                convert::sign_type_out(sign_type),
            )
            .await?;
        Ok(r.map_err(convert::error_in))
    }

    /// `protocol.verify`.
    pub async fn verify(
        &mut self,
        fields: &Vec<(String, String)>,
        key: &str,
    ) -> anyhow::Result<Result<core::SignatureCheck, core::Error>> {
        let r = self
            .codec
            .wxpay_coupon_protocol()
            .call_verify(&mut self.store, fields, key)
            .await?;
        Ok(r.map(convert::signature_in).map_err(convert::error_in))
    }

    /// `protocol.build-request`. `nonce: None` lets the component draw one from `wasi:random`.
    pub async fn build_request(
        &mut self,
        merchant: &core::Merchant,
        request: &core::CouponRequest,
        nonce: Option<&str>,
    ) -> anyhow::Result<Result<core::HttpRequest, core::Error>> {
        let merchant = convert::merchant_out(merchant);
        let request = convert::request_out(request);
        let r = self
            .codec
            .wxpay_coupon_protocol()
            .call_build_request(&mut self.store, &merchant, &request, nonce)
            .await?;
        Ok(r.map(convert::http_request_in).map_err(convert::error_in))
    }

    /// `protocol.parse-response`.
    pub async fn parse_response(
        &mut self,
        merchant: &core::Merchant,
        api: core::Api,
        status: u16,
        body: &[u8],
    ) -> anyhow::Result<Result<core::CouponResponse, core::Error>> {
        let merchant = convert::merchant_out(merchant);
        let r = self
            .codec
            .wxpay_coupon_protocol()
            .call_parse_response(
                &mut self.store,
                &merchant,
                convert::api_out(api),
                status,
                body,
            )
            .await?;
        Ok(r.map(convert::response_in).map_err(convert::error_in))
    }
}
