//! Running the component: one [`Engine`] and one pre-instantiated component per [`Runtime`]
//! (compiling is the expensive step, done once), a fresh store and instance per [`Session`]
//! (tens of microseconds), so callers never share guest state.
//!
//! Outbound HTTP from the component goes through the [`WasiHttpHooks`] the runtime's
//! [`HooksFactory`] makes for each store: the mutual-TLS client of [`crate::outbound`], or, by
//! default, hooks that deny every request (a runtime for sans-IO use reaches no network).

use std::sync::Arc;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};
use wxcoupon_core::{self as core, MapInto};

use crate::convert;
use crate::error::{HostError, HostResult};

/// Bindings generated from `wit/` for the `coupons` world.
///
/// The functions take and return the types of [`wit`]: the generated ones, except `merchant`.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "coupons",
        exports: { default: async },
        with: {
            "wasi:random": wasmtime_wasi::p2::bindings::random,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            // Every use of a `v2-types` type goes through `wit`, which replaces `merchant`.
            "wxpay:coupon/v2-types": crate::runtime::wit,
        },
    });
}

pub use bindings::exports::wxpay::coupon::v2_client::CallOptions as WitCallOptions;
pub use bindings::exports::wxpay::coupon::v3_client::CallOptions as V3CallOptions;
/// The generated `wxpay:coupon/v3-types` (mapped to the core by [`crate::v3::wit`]).
pub use bindings::exports::wxpay::coupon::v3_types;

/// The `wxpay:coupon/v2-types` interface as the bindings use it: the generated types, except
/// [`Merchant`](wit::Merchant), whose `Debug` keeps the API key out (the generated record's
/// `Debug` prints every field).
pub mod wit {
    // A local item shadows the glob's item of the same name: `Merchant` below.
    pub use super::bindings::exports::wxpay::coupon::v2_types::*;

    /// `record merchant`: the merchant settings every call needs.
    #[derive(
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower,
        Clone,
    )]
    #[component(record)]
    pub struct Merchant {
        /// Official Account appid the openids belong to (String(32)).
        #[component(name = "appid")]
        pub appid: String,
        /// Merchant id (商户号, String(32)).
        #[component(name = "mch-id")]
        pub mch_id: String,
        /// The 32-character APIv2 key: never shown by `Debug`.
        #[component(name = "api-key")]
        pub api_key: String,
        /// The request signature digest.
        #[component(name = "sign-type")]
        pub sign_type: SignType,
        /// Where requests go.
        #[component(name = "host")]
        pub host: ApiHost,
        /// Prefix every path with `/sandboxnew` (MD5 only).
        #[component(name = "sandbox")]
        pub sandbox: bool,
        /// What to do with a response's `sign`.
        #[component(name = "signature-policy")]
        pub signature_policy: SignaturePolicy,
    }

    impl std::fmt::Debug for Merchant {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Merchant")
                .field("appid", &self.appid)
                .field("mch-id", &self.mch_id)
                .field("api-key", &"<redacted>")
                .field("sign-type", &self.sign_type)
                .field("host", &self.host)
                .field("sandbox", &self.sandbox)
                .field("signature-policy", &self.signature_policy)
                .finish()
        }
    }
}

/// Makes the outbound-HTTP hooks of each new store.
pub type HooksFactory = Arc<dyn Fn() -> Box<dyn WasiHttpHooks> + Send + Sync>;

/// Per-instance host state: WASI (randomness for nonces; the environment in gateway mode),
/// wasi:http with the runtime's hooks, and their resource table. The one state of every store
/// the host makes: [`Runtime`]'s sessions and `serve`'s instances.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: Box<dyn WasiHttpHooks>,
    table: ResourceTable,
}

impl HostState {
    pub(crate) fn new(hooks: Box<dyn WasiHttpHooks>) -> Self {
        HostState::with_wasi(WasiCtx::builder().build(), hooks)
    }

    /// The state with the WASI context given (`serve` sets the environment and stderr).
    pub(crate) fn with_wasi(wasi: WasiCtx, hooks: Box<dyn WasiHttpHooks>) -> Self {
        HostState {
            wasi,
            http: WasiHttpCtx::new(),
            hooks,
            table: ResourceTable::new(),
        }
    }
}

/// The linker of every store the host makes: WASI and wasi:http, nothing else.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    Ok(linker)
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: self.hooks.as_mut(),
        }
    }
}

/// Hooks that refuse every outbound request: the default for a runtime built without an
/// outbound client.
pub struct DenyAllHooks;

impl WasiHttpHooks for DenyAllHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: crate::outbound::IoFuture,
    ) -> crate::outbound::SendRequestFuture {
        tracing::warn!(host = ?request.uri().host(), "outbound request denied: no outbound client configured");
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// Per-call settings of the component's client; `None` takes the component's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallOptions {
    /// Connecting (default 5000 ms).
    pub connect_timeout_ms: Option<u32>,
    /// Waiting for the first byte (default 10000 ms).
    pub first_byte_timeout_ms: Option<u32>,
    /// Waiting between bytes (default 10000 ms).
    pub between_bytes_timeout_ms: Option<u32>,
    /// Largest answer (default 65536 bytes).
    pub max_response_bytes: Option<u32>,
    /// The nonce_str; default random.
    pub nonce: Option<String>,
}

impl CallOptions {
    /// The options of a configured client: its timeouts and response cap, a random nonce.
    pub fn from_limits(
        timeouts: &crate::outbound::Timeouts,
        max_response_bytes: usize,
    ) -> CallOptions {
        let ms = |d: std::time::Duration| u32::try_from(d.as_millis()).ok();
        CallOptions {
            connect_timeout_ms: ms(timeouts.connect),
            first_byte_timeout_ms: ms(timeouts.first_byte),
            between_bytes_timeout_ms: ms(timeouts.between_bytes),
            max_response_bytes: u32::try_from(max_response_bytes).ok(),
            nonce: None,
        }
    }

    fn to_wit(&self) -> WitCallOptions {
        WitCallOptions {
            connect_timeout_ms: self.connect_timeout_ms,
            first_byte_timeout_ms: self.first_byte_timeout_ms,
            between_bytes_timeout_ms: self.between_bytes_timeout_ms,
            max_response_bytes: self.max_response_bytes,
            nonce: self.nonce.clone(),
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
    pub(crate) engine: Engine,
    pub(crate) component: Component,
    pre: bindings::CouponsPre<HostState>,
    pub(crate) hooks: HooksFactory,
    /// The client host-signed v3 calls send through (the hooks' own, when set with
    /// [`Runtime::with_outbound`]).
    outbound: Option<crate::outbound::OutboundClient>,
}

impl Runtime {
    /// Compiles the embedded component ([`crate::COMPONENT_BYTES`]); outbound HTTP denied.
    pub fn new() -> HostResult<Runtime> {
        Runtime::from_bytes(crate::COMPONENT_BYTES)
    }

    /// The same runtime with outbound HTTP through the hooks `factory` makes (one per store).
    pub fn with_hooks(mut self, factory: HooksFactory) -> Runtime {
        self.hooks = factory;
        self
    }

    /// The same runtime with outbound HTTP through `client`: the component's `wasi:http` calls
    /// (as hooks) and the host's own v3 calls alike.
    pub fn with_outbound(mut self, client: crate::outbound::OutboundClient) -> Runtime {
        let hooks = client.clone();
        self.hooks = Arc::new(move || Box::new(hooks.hooks()));
        self.outbound = Some(client);
        self
    }

    /// Compiles a component from its bytes (a `.wasm` file built elsewhere).
    pub fn from_bytes(bytes: &[u8]) -> HostResult<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| HostError::Engine(e.into()))?;
        let component = Component::new(&engine, bytes).map_err(|e| HostError::Compile(e.into()))?;
        let pre = link(&engine, &component).map_err(|e| HostError::Exports {
            expected: "the wxpay:coupon coupons world",
            source: e.into(),
        })?;
        Ok(Runtime {
            engine,
            component,
            pre,
            hooks: Arc::new(|| Box::new(DenyAllHooks)),
            outbound: None,
        })
    }

    /// A fresh instance of the component.
    pub async fn session(&self) -> HostResult<Session> {
        let mut store = Store::new(&self.engine, HostState::new((self.hooks)()));
        let coupons = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(HostError::component)?;
        Ok(Session {
            store,
            coupons,
            outbound: self.outbound.clone(),
        })
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

/// The component pre-instantiated against the host's [`linker`] as the `coupons` world.
fn link(
    engine: &Engine,
    component: &Component,
) -> wasmtime::Result<bindings::CouponsPre<HostState>> {
    bindings::CouponsPre::new(linker(engine)?.instantiate_pre(component)?)
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
    pub(crate) store: Store<HostState>,
    pub(crate) coupons: bindings::Coupons,
    pub(crate) outbound: Option<crate::outbound::OutboundClient>,
}

impl Session {
    /// `v2.sign`.
    pub async fn sign(
        &mut self,
        fields: &Vec<(String, String)>,
        key: &str,
        sign_type: core::SignType,
    ) -> HostResult<Result<String, core::Error>> {
        let r = self
            .coupons
            .wxpay_coupon_v2()
            .call_sign(&mut self.store, fields, key, sign_type.map_into())
            .await
            .map_err(HostError::component)?;
        Ok(r.map_err(convert::protocol_error_from_wit))
    }

    /// `v2.verify`.
    pub async fn verify(
        &mut self,
        fields: &Vec<(String, String)>,
        key: &str,
    ) -> HostResult<Result<core::SignatureCheck, core::Error>> {
        let r = self
            .coupons
            .wxpay_coupon_v2()
            .call_verify(&mut self.store, fields, key)
            .await
            .map_err(HostError::component)?;
        Ok(r.map(MapInto::map_into)
            .map_err(convert::protocol_error_from_wit))
    }

    /// `v2.build-*`: the request's own build function. `nonce: None` lets the component draw
    /// one from `wasi:random`.
    pub async fn build_request(
        &mut self,
        merchant: &core::Merchant,
        request: &core::CouponRequest,
        nonce: Option<&str>,
    ) -> HostResult<Result<core::HttpRequest, core::Error>> {
        let merchant = convert::merchant_to_wit(merchant);
        let v2 = self.coupons.wxpay_coupon_v2();
        let store = &mut self.store;
        let r = match request.clone() {
            core::CouponRequest::SendCoupon(r) => v2
                .call_build_send_coupon(store, &merchant, &r.map_into(), nonce)
                .await
                .map_err(HostError::component)?,
            core::CouponRequest::QueryCouponStock(r) => v2
                .call_build_query_coupon_stock(store, &merchant, &r.map_into(), nonce)
                .await
                .map_err(HostError::component)?,
            core::CouponRequest::QueryCouponsInfo(r) => v2
                .call_build_query_coupons_info(store, &merchant, &r.map_into(), nonce)
                .await
                .map_err(HostError::component)?,
        };
        Ok(r.map(MapInto::map_into)
            .map_err(convert::protocol_error_from_wit))
    }

    /// `v2.parse-*`: the API's own parse function. A body the boundary cannot carry (not
    /// UTF-8, over the size limit) is refused here with the parsers' own error
    /// ([`core::answer_text`]).
    pub async fn parse_response(
        &mut self,
        merchant: &core::Merchant,
        api: core::Api,
        status: u16,
        body: &[u8],
    ) -> HostResult<Result<core::CouponResponse, core::Error>> {
        let body = match core::answer_text(status, body, &core::XmlLimits::default()) {
            Ok(body) => body,
            Err(refused) => return Ok(Err(refused)),
        };
        let merchant = convert::merchant_to_wit(merchant);
        let v2 = self.coupons.wxpay_coupon_v2();
        let store = &mut self.store;
        let r = match api {
            core::Api::SendCoupon => v2
                .call_parse_send_coupon(store, &merchant, status, body)
                .await
                .map_err(HostError::component)?
                .map(|r| core::CouponResponse::SendCoupon(r.map_into())),
            core::Api::QueryCouponStock => v2
                .call_parse_query_coupon_stock(store, &merchant, status, body)
                .await
                .map_err(HostError::component)?
                .map(|r| core::CouponResponse::QueryCouponStock(r.map_into())),
            core::Api::QueryCouponsInfo => v2
                .call_parse_query_coupons_info(store, &merchant, status, body)
                .await
                .map_err(HostError::component)?
                .map(|r| core::CouponResponse::QueryCouponsInfo(r.map_into())),
        };
        Ok(r.map_err(convert::protocol_error_from_wit))
    }

    /// `v2.send-coupon-outcome-unknown`: the component's verdict (the core's
    /// [`core::Error::outcome_unknown`]) on whether `error` leaves the outcome of `api` unknown.
    /// Queries change nothing: their outcome is never unknown.
    pub async fn outcome_unknown(
        &mut self,
        api: core::Api,
        error: &core::Error,
    ) -> HostResult<bool> {
        if api != core::Api::SendCoupon {
            return Ok(false);
        }
        let unknown = self
            .coupons
            .wxpay_coupon_v2()
            .call_send_coupon_outcome_unknown(
                &mut self.store,
                &convert::call_error_to_wit(error.clone()),
            )
            .await
            .map_err(HostError::component)?;
        Ok(unknown)
    }

    /// `v2.outcome-unknown-advice`: the core's [`core::OUTCOME_UNKNOWN_ADVICE`].
    pub async fn outcome_unknown_advice(&mut self) -> HostResult<String> {
        let advice = self
            .coupons
            .wxpay_coupon_v2()
            .call_outcome_unknown_advice(&mut self.store)
            .await
            .map_err(HostError::component)?;
        Ok(advice)
    }
}

/// The `v2-client` calls have one shape — the merchant, the request and the options in; the
/// answer or the call's error out — so they are written once.
macro_rules! client_calls {
    ($($(#[$doc:meta])* $name:ident => $call:ident($request:ty) -> $answer:ty;)*) => {
        impl Session {
            $(
                $(#[$doc])*
                pub async fn $name(
                    &mut self,
                    merchant: &core::Merchant,
                    request: &$request,
                    options: &CallOptions,
                ) -> HostResult<Result<$answer, core::Error>> {
                    let r = self
                        .coupons
                        .wxpay_coupon_v2_client()
                        .$call(
                            &mut self.store,
                            &convert::merchant_to_wit(merchant),
                            &request.clone().map_into(),
                            &options.to_wit(),
                        )
                        .await
            .map_err(HostError::component)?;
                    Ok(r.map(MapInto::map_into).map_err(convert::call_error_from_wit))
                }
            )*
        }
    };
}

client_calls! {
    /// `v2-client.send-coupon`: build, send through the host's outbound client, parse.
    send_coupon => call_send_coupon(core::SendCouponRequest) -> core::SentCoupon;
    /// `v2-client.query-coupon-stock`.
    query_coupon_stock => call_query_coupon_stock(core::QueryCouponStockRequest) -> core::CouponStock;
    /// `v2-client.query-coupons-info`.
    query_coupons_info => call_query_coupons_info(core::QueryCouponsInfoRequest) -> core::CouponInfo;
}
