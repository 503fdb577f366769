//! API v3 through the component: a merchant opened once per [`Session`] (the component's
//! `merchant` resource), and the three coupon calls plus the certificate download, signed where
//! the caller chose ([`SignWith`]):
//!
//! - [`SignWith::Host`]: the component builds the request and the exact message to sign
//!   (`v3.build-*`), the host signs it natively with ring (the private key never enters the
//!   component), the component assembles the signed request (`v3.authorize`), the host sends it
//!   through its [`OutboundClient`] (allow-list, timeouts, size cap); the component checks the
//!   answer up to its signature (`v3.check-answer`), the host verifies that natively too (inside
//!   wasm it costs ≈ 400 µs, natively ≈ 20 µs), and the component reads the body (`v3.read-*`);
//! - [`SignWith::Component`]: the component signs and calls itself (`v3-client`, through the same
//!   outbound client as `wasi:http` hooks): what hosts without their own RSA do.
//!
//! The README's five lines for a v3 coupon:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::path::Path;
//! use wxcoupon::config::{wxpay_env_vars, V3Config};
//! use wxcoupon::outbound::OutboundClient;
//! use wxcoupon::Runtime;
//! use wxcoupon_core::v3::favor::IssueCoupon;
//!
//! let config = V3Config::load(Some(Path::new("merchant.toml")), wxpay_env_vars(), &Default::default())?;
//! let mut session = Runtime::new()?.with_outbound(OutboundClient::new(config.outbound())?).session().await?;
//! let merchant = session.open_v3(&config.merchant, config.sign_with()?).await??; // read once, kept in the component
//! let request = IssueCoupon { openid: "oUser…".into(), stock_id: "9856000".into(), out_request_no: "v3-0001".into(), appid: "wx…".into(), stock_creator_mchid: "1900000001".into(), ..Default::default() };
//! let coupon = session.v3_issue_coupon(&merchant, &request, &Default::default()).await??; // again with the same out_request_no: the same coupon
//! # let _ = coupon; Ok(()) }
//! ```

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::component::ResourceAny;
use wxcoupon_core::v3::answer::{Answer, AnswerSignature};
use wxcoupon_core::v3::auth::AnswerRefusal;
use wxcoupon_core::v3::callbacks::{CallbackSetting, CallbackUpdated, GetCallback, SetCallback};
use wxcoupon_core::v3::certificates::{EncryptedResource, PlatformCertificate};
use wxcoupon_core::v3::error::Error;
use wxcoupon_core::v3::favor::{
    Coupon, CouponPage, IssueCoupon, IssuedCoupon, ListUserCoupons, QueryCoupon, QueryStock, Stock,
};
use wxcoupon_core::v3::flows::{DownloadFlow, FlowFile, FlowKind, FlowRow};
use wxcoupon_core::v3::merchant::MerchantSettings;
use wxcoupon_core::v3::notification::{CouponUseEvent, NotificationError};
use wxcoupon_core::v3::request::{Method, SignedRequest, ToSign};
use wxcoupon_core::v3::rsa::{verify_with_public_key_der, MerchantSigner};
use wxcoupon_core::v3::stocks::{
    ChangeStock, CreateStock, CreatedStock, IdPage, ListStockItems, ListStockMerchants, ListStocks,
    StockChange, StockChanged, StockPage,
};
use wxcoupon_core::MapInto;

use crate::error::{HostError, HostResult};
use crate::outbound::OutboundClient;
use crate::runtime::{CallOptions, Session};

/// The `v3-types` bindings and the core's one table over them.
pub mod wit {
    pub use crate::runtime::v3_types;
    wxcoupon_core::v3_wit_mapping!(v3_types);
}

use wit::{v3_error_from_wit, v3_error_to_wit};

/// Where v3 requests are signed.
#[derive(Clone)]
pub enum SignWith {
    /// Natively, by the host (ring): the component never holds the private key.
    Host(Arc<MerchantSigner>),
    /// Inside the component (`v3-client`), with the private key in its merchant.
    Component,
}

impl std::fmt::Debug for SignWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignWith::Host(_) => "Host",
            SignWith::Component => "Component",
        })
    }
}

/// A v3 merchant opened in one session.
#[derive(Debug)]
pub struct V3Merchant {
    handle: ResourceAny,
    sign: SignWith,
}

impl V3Merchant {
    /// Where its requests are signed.
    pub fn sign_with(&self) -> &SignWith {
        &self.sign
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Whether a failed exchange may have reached WeChat: the same rule as the component's client
/// (`guest/src/client.rs`, `transport`): only failures certainly before any byte left do not.
fn reached(code: &wasmtime_wasi_http::Error) -> bool {
    use wasmtime_wasi_http::Error as E;
    !matches!(
        code,
        E::HttpRequestDenied
            | E::HttpRequestUriInvalid
            | E::DnsTimeout
            | E::DnsError { .. }
            | E::DestinationNotFound
            | E::DestinationUnavailable
            | E::DestinationIpProhibited
            | E::DestinationIpUnroutable
            | E::ConnectionRefused
            | E::ConnectionTimeout
            | E::TlsCertificateError
    )
}

fn call_options(options: &CallOptions) -> crate::runtime::V3CallOptions {
    crate::runtime::V3CallOptions {
        connect_timeout_ms: options.connect_timeout_ms,
        first_byte_timeout_ms: options.first_byte_timeout_ms,
        between_bytes_timeout_ms: options.between_bytes_timeout_ms,
        max_response_bytes: options.max_response_bytes,
    }
}

/// Sends a signed request through the outbound client and reads the whole answer.
/// Sends a signed request and reads the answer as text.
async fn send(
    client: &OutboundClient,
    signed: SignedRequest,
    options: &CallOptions,
) -> Result<Answer, Error> {
    let (status, headers, body) = exchange(client, signed, options).await?;
    let body = String::from_utf8(body).map_err(|_| {
        Error::MalformedResponse(wxcoupon_core::MalformedResponse::document(
            "the body is not UTF-8",
        ))
    })?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Sends a request and keeps the answer's bytes (a flow file).
async fn send_bytes(
    client: &OutboundClient,
    request: SignedRequest,
    options: &CallOptions,
) -> Result<(u16, Vec<u8>), Error> {
    let (status, _, body) = exchange(client, request, options).await?;
    Ok((status, body))
}

type Exchanged = (u16, Vec<(String, String)>, Vec<u8>);

/// One request through the outbound client: the status, headers and body (capped).
async fn exchange(
    client: &OutboundClient,
    signed: SignedRequest,
    options: &CallOptions,
) -> Result<Exchanged, Error> {
    let mut builder = http::Request::builder()
        .method(match signed.method {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
        })
        .uri(&signed.url);
    for (name, value) in &signed.headers {
        builder = builder.header(name, value);
    }
    let body = Full::new(Bytes::from(signed.body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let request = builder
        .body(body)
        .map_err(|e| Error::invalid("url", format!("not a request URL: {e}")))?;
    let mut request_options = wasmtime_wasi_http::RequestOptions::default();
    let ms = |v: Option<u32>| v.map(|ms| std::time::Duration::from_millis(u64::from(ms)));
    request_options.connect_timeout = ms(options.connect_timeout_ms);
    request_options.first_byte_timeout = ms(options.first_byte_timeout_ms);
    request_options.between_bytes_timeout = ms(options.between_bytes_timeout_ms);
    let response =
        client
            .send(request, Some(request_options))
            .await
            .map_err(|code| match code {
                wasmtime_wasi_http::Error::HttpRequestDenied => Error::Denied {
                    message: "the host does not allow requests to this destination".into(),
                },
                code => Error::Transport {
                    message: crate::outbound::code_name(&code),
                    may_have_reached_wechat: reached(&code),
                },
            })?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| Error::Transport {
            message: format!("reading the answer failed: {e}"),
            may_have_reached_wechat: true,
        })?
        .to_bytes();
    let max = options
        .max_response_bytes
        .unwrap_or(wxcoupon_core::settings::DEFAULT_MAX_RESPONSE_BYTES) as usize;
    if body.len() > max {
        return Err(wxcoupon_core::MalformedResponse::document(format!(
            "body is over the limit of {max} bytes"
        ))
        .into());
    }
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok((parts.status.as_u16(), headers, body.to_vec()))
}

/// One host-signed call: build → sign natively → authorize → send → parse. `build` and
/// `parse` are the call's own component functions.
macro_rules! host_signed {
    ($self:ident, $merchant:ident, $signer:ident, $options:ident, |$v3:ident, $store:ident| $build:expr, $($how:ident: $finish:ident)?) => {{
        let v3 = $self.coupons.wxpay_coupon_v3();
        let built = {
            let $v3 = v3;
            let $store = &mut $self.store;
            $build.await.map_err(HostError::component)?
        };
        let to_sign: wit::v3_types::ToSign = match built {
            Ok(t) => t,
            Err(e) => return Ok(Err(v3_error_from_wit(e))),
        };
        let signature = $signer.sign(&to_sign.message);
        let signed = v3
            .call_authorize(&mut $self.store, $merchant.handle, &to_sign, &signature)
            .await
            .map_err(HostError::component)?;
        let signed: SignedRequest = match signed {
            Ok(s) => s.map_into(),
            Err(e) => return Ok(Err(v3_error_from_wit(e))),
        };
        let Some(client) = $self.outbound.clone() else {
            return Ok(Err(Error::Denied {
                message: "no outbound client configured".into(),
            }));
        };
        let answer = match send(&client, signed, $options).await {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        $(host_signed!(@$how $self, v3, $merchant, answer, $finish))?
    }};
    // The component verifies and reads (the certificate download, whose first verification
    // needs the certificates it carries).
    (@parse $self:ident, $v3:ident, $merchant:ident, $answer:ident, $parse:ident) => {{
        let r = $v3
            .$parse(&mut $self.store, $merchant.handle, &$answer.map_into(), now())
            .await
            .map_err(HostError::component)?;
        Ok(r.map(MapInto::map_into).map_err(v3_error_from_wit))
    }};
    // The component checks all but the signature, the host verifies it natively, the component
    // reads the verified body.
    (@read $self:ident, $v3:ident, $merchant:ident, $answer:ident, $read:ident) => {{
        let checked = $v3
            .call_check_answer(&mut $self.store, $merchant.handle, &$answer.clone().map_into(), now())
            .await
            .map_err(HostError::component)?;
        let checked: AnswerSignature = match checked {
            Ok(c) => c.map_into(),
            Err(e) => return Ok(Err(v3_error_from_wit(e))),
        };
        if !verify_with_public_key_der(&checked.public_key_der, &checked.message, &checked.signature) {
            return Ok(Err(Error::AnswerNotVerified {
                refusal: AnswerRefusal::Signature,
            }));
        }
        let r = $v3
            .$read(&mut $self.store, &$answer.body)
            .await
            .map_err(HostError::component)?;
        Ok(r.map(MapInto::map_into).map_err(v3_error_from_wit))
    }};
}

impl Session {
    /// Opens a v3 merchant in this session (`v3.merchant.open`). With [`SignWith::Host`] the
    /// private key is left out of what the component receives.
    pub async fn open_v3(
        &mut self,
        settings: &MerchantSettings,
        sign: SignWith,
    ) -> HostResult<Result<V3Merchant, Error>> {
        let mut settings = settings.clone();
        if matches!(sign, SignWith::Host(_)) {
            settings.private_key_pem = None;
        }
        let settings: wit::v3_types::MerchantSettings = settings.map_into();
        let r = self
            .coupons
            .wxpay_coupon_v3()
            .merchant()
            .call_open(&mut self.store, &settings)
            .await
            .map_err(HostError::component)?;
        Ok(r.map(|handle| V3Merchant { handle, sign })
            .map_err(v3_error_from_wit))
    }

    /// Holds a downloaded platform certificate in the merchant (`merchant.add-platform-certificate`).
    pub async fn v3_add_platform_certificate(
        &mut self,
        merchant: &V3Merchant,
        pem: &str,
    ) -> HostResult<Result<String, Error>> {
        let r = self
            .coupons
            .wxpay_coupon_v3()
            .merchant()
            .call_add_platform_certificate(&mut self.store, merchant.handle, pem)
            .await
            .map_err(HostError::component)?;
        Ok(r.map_err(v3_error_from_wit))
    }

    /// The serials the merchant holds (`merchant.serials`).
    pub async fn v3_serials(&mut self, merchant: &V3Merchant) -> HostResult<Vec<String>> {
        self.coupons
            .wxpay_coupon_v3()
            .merchant()
            .call_serials(&mut self.store, merchant.handle)
            .await
            .map_err(HostError::component)
    }

    /// `v3.issue-outcome-unknown`: the component's verdict on whether the coupon may have been
    /// issued after `error`.
    pub async fn v3_issue_outcome_unknown(&mut self, error: &Error) -> HostResult<bool> {
        self.coupons
            .wxpay_coupon_v3()
            .call_issue_outcome_unknown(&mut self.store, &v3_error_to_wit(error.clone()))
            .await
            .map_err(HostError::component)
    }

    /// Downloads and verifies the platform certificates (not yet held: see
    /// [`Session::v3_add_platform_certificate`]).
    pub async fn v3_download_certificates(
        &mut self,
        merchant: &V3Merchant,
        options: &CallOptions,
    ) -> HostResult<Result<Vec<PlatformCertificate>, Error>> {
        match &merchant.sign {
            SignWith::Host(signer) => host_signed!(
                self,
                merchant,
                signer,
                options,
                |v3, store| v3.call_build_download_certificates(store, now(), None),
                parse: call_parse_certificates
            ),
            SignWith::Component => {
                let r = self
                    .coupons
                    .wxpay_coupon_v3_client()
                    .call_download_certificates(
                        &mut self.store,
                        merchant.handle,
                        call_options(options),
                    )
                    .await
                    .map_err(HostError::component)?;
                Ok(r.map(MapInto::map_into).map_err(v3_error_from_wit))
            }
        }
    }

    /// Downloads the certificates and holds every one in the merchant; returns them.
    pub async fn v3_refresh_certificates(
        &mut self,
        merchant: &V3Merchant,
        options: &CallOptions,
    ) -> HostResult<Result<Vec<PlatformCertificate>, Error>> {
        let certificates = match self.v3_download_certificates(merchant, options).await? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        for c in &certificates {
            if let Err(e) = self.v3_add_platform_certificate(merchant, &c.pem).await? {
                return Ok(Err(e));
            }
        }
        Ok(Ok(certificates))
    }
}

/// The `v3` exports that are one call each — arguments converted in, the component's answer
/// mapped out — written once.
macro_rules! sans_io_calls {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty => $wit:expr),*) -> $out:ty = $call:ident;)*) => {
        impl Session {
            $(
                $(#[$doc])*
                pub async fn $name(&mut self, $($arg: $ty),*) -> HostResult<Result<$out, Error>> {
                    let r = self
                        .coupons
                        .wxpay_coupon_v3()
                        .$call(&mut self.store, $($wit),*)
                        .await
                        .map_err(HostError::component)?;
                    Ok(r.map(MapInto::map_into).map_err(v3_error_from_wit))
                }
            )*
        }
    };
}

sans_io_calls! {
    /// `v3.build-issue-coupon`: step one, for callers signing themselves.
    v3_build_issue_coupon(request: &IssueCoupon => &request.clone().map_into(), timestamp: i64 => timestamp, nonce: Option<&str> => nonce) -> ToSign = call_build_issue_coupon;
    /// `v3.build-query-stock`: step one, for callers signing themselves.
    v3_build_query_stock(request: &QueryStock => &request.clone().map_into(), timestamp: i64 => timestamp, nonce: Option<&str> => nonce) -> ToSign = call_build_query_stock;
    /// `v3.build-query-coupon`: step one, for callers signing themselves.
    v3_build_query_coupon(request: &QueryCoupon => &request.clone().map_into(), timestamp: i64 => timestamp, nonce: Option<&str> => nonce) -> ToSign = call_build_query_coupon;
    /// `v3.authorize`: step two with a signature made outside.
    v3_authorize(merchant: &V3Merchant => merchant.handle, to_sign: &ToSign => &to_sign.clone().map_into(), signature: &str => signature) -> SignedRequest = call_authorize;
    /// `v3.sign`: step two inside the component.
    v3_sign(merchant: &V3Merchant => merchant.handle, to_sign: &ToSign => &to_sign.clone().map_into()) -> SignedRequest = call_sign;
    /// `v3.parse-issue-coupon` over an answer received elsewhere.
    v3_parse_issue_coupon(merchant: &V3Merchant => merchant.handle, answer: &Answer => &answer.clone().map_into(), now: i64 => now) -> IssuedCoupon = call_parse_issue_coupon;
    /// `v3.parse-query-stock` over an answer received elsewhere.
    v3_parse_query_stock(merchant: &V3Merchant => merchant.handle, answer: &Answer => &answer.clone().map_into(), now: i64 => now) -> Stock = call_parse_query_stock;
    /// `v3.parse-query-coupon` over an answer received elsewhere.
    v3_parse_query_coupon(merchant: &V3Merchant => merchant.handle, answer: &Answer => &answer.clone().map_into(), now: i64 => now) -> Coupon = call_parse_query_coupon;
    /// `v3.check-answer`: every check of an answer but its signature, and what to verify.
    v3_check_answer(merchant: &V3Merchant => merchant.handle, answer: &Answer => &answer.clone().map_into(), now: i64 => now) -> AnswerSignature = call_check_answer;
    /// `v3.read-issue-coupon`: a body whose signature was verified.
    v3_read_issue_coupon(body: &str => body) -> IssuedCoupon = call_read_issue_coupon;
    /// `v3.decrypt-resource`.
    v3_decrypt_resource(merchant: &V3Merchant => merchant.handle, resource: &EncryptedResource => &resource.clone().map_into()) -> String = call_decrypt_resource;
}

/// The three coupon calls have one shape — the request in, built and signed where the merchant
/// says (natively: build → ring → authorize → send → check → ring → read; in the component: its
/// `v3-client` call), the answer out — so they are written once.
macro_rules! coupon_calls {
    ($($(#[$doc:meta])* $vis:vis $name:ident($request:ty => $wit:ty) -> $out:ty = $build:ident, $how:ident: $read:ident, $client:ident;)*) => {
        impl Session {
            $(
                $(#[$doc])*
                $vis async fn $name(
                    &mut self,
                    merchant: &V3Merchant,
                    request: &$request,
                    options: &CallOptions,
                ) -> HostResult<Result<$out, Error>> {
                    let wit_request: $wit = request.clone().map_into();
                    match &merchant.sign {
                        SignWith::Host(signer) => host_signed!(
                            self,
                            merchant,
                            signer,
                            options,
                            |v3, store| v3.$build(store, &wit_request, now(), None),
                            $how: $read
                        ),
                        SignWith::Component => {
                            let r = self
                                .coupons
                                .wxpay_coupon_v3_client()
                                .$client(&mut self.store, merchant.handle, &wit_request, call_options(options))
                                .await
                                .map_err(HostError::component)?;
                            Ok(r.map(MapInto::map_into).map_err(v3_error_from_wit))
                        }
                    }
                }
            )*
        }
    };
}

coupon_calls! {
    /// Issues one coupon (v3), signed where the merchant was opened to sign.
    pub v3_issue_coupon(IssueCoupon => wit::v3_types::IssueCouponRequest) -> IssuedCoupon = call_build_issue_coupon, read: call_read_issue_coupon, call_issue_coupon;
    /// Reads a stock (v3).
    pub v3_query_stock(QueryStock => wit::v3_types::QueryStockRequest) -> Stock = call_build_query_stock, read: call_read_query_stock, call_query_stock;
    /// Reads one coupon of a user (v3).
    pub v3_query_coupon(QueryCoupon => wit::v3_types::QueryCouponRequest) -> Coupon = call_build_query_coupon, read: call_read_query_coupon, call_query_coupon;
    /// Creates a stock; it starts unactivated. Idempotent on `out_request_no`.
    pub v3_create_stock(CreateStock => wit::v3_types::CreateStockRequest) -> CreatedStock = call_build_create_stock, read: call_read_create_stock, call_create_stock;
    v3_start_stock(ChangeStock => wit::v3_types::StockChangeRequest) -> StockChanged = call_build_start_stock, read: call_read_start_stock, call_start_stock;
    v3_pause_stock(ChangeStock => wit::v3_types::StockChangeRequest) -> StockChanged = call_build_pause_stock, read: call_read_pause_stock, call_pause_stock;
    v3_restart_stock(ChangeStock => wit::v3_types::StockChangeRequest) -> StockChanged = call_build_restart_stock, read: call_read_restart_stock, call_restart_stock;
    v3_stop_stock(ChangeStock => wit::v3_types::StockChangeRequest) -> StockChanged = call_build_stop_stock, read: call_read_stop_stock, call_stop_stock;
    /// A page of the merchant's stocks.
    pub v3_list_stocks(ListStocks => wit::v3_types::ListStocksRequest) -> StockPage = call_build_list_stocks, read: call_read_list_stocks, call_list_stocks;
    /// A page of the merchants where a stock's coupons can be used.
    pub v3_list_stock_merchants(ListStockMerchants => wit::v3_types::StockListingRequest) -> IdPage = call_build_list_stock_merchants, read: call_read_list_stock_merchants, call_list_stock_merchants;
    /// A page of a stock's single items.
    pub v3_list_stock_items(ListStockItems => wit::v3_types::StockListingRequest) -> IdPage = call_build_list_stock_items, read: call_read_list_stock_items, call_list_stock_items;
    // The flow answers are not signed: the component reads them (`parse`), the host has nothing
    // to verify.
    v3_download_use_flow(DownloadFlow => wit::v3_types::FlowRequest) -> FlowFile = call_build_download_use_flow, parse: call_parse_download_use_flow, call_download_use_flow;
    v3_download_refund_flow(DownloadFlow => wit::v3_types::FlowRequest) -> FlowFile = call_build_download_refund_flow, parse: call_parse_download_refund_flow, call_download_refund_flow;
    /// A page of a user's coupons.
    pub v3_list_user_coupons(ListUserCoupons => wit::v3_types::ListUserCouponsRequest) -> CouponPage = call_build_list_user_coupons, read: call_read_list_user_coupons, call_list_user_coupons;
    /// Sets where `COUPON.USE` callbacks go.
    pub v3_set_callback(SetCallback => wit::v3_types::SetCallbackRequest) -> CallbackUpdated = call_build_set_callback, read: call_read_set_callback, call_set_callback;
    /// Reads the callback setting.
    pub v3_get_callback(GetCallback => wit::v3_types::GetCallbackRequest) -> CallbackSetting = call_build_get_callback, read: call_read_get_callback, call_get_callback;
}

impl Session {
    /// Starts, pauses, restarts or stops a stock: the component function the change names.
    pub async fn v3_change_stock(
        &mut self,
        merchant: &V3Merchant,
        request: &ChangeStock,
        options: &CallOptions,
    ) -> HostResult<Result<StockChanged, Error>> {
        match request.change {
            StockChange::Start => self.v3_start_stock(merchant, request, options).await,
            StockChange::Pause => self.v3_pause_stock(merchant, request, options).await,
            StockChange::Restart => self.v3_restart_stock(merchant, request, options).await,
            StockChange::Stop => self.v3_stop_stock(merchant, request, options).await,
        }
    }

    /// Where a stock's use-flow or refund-flow file is (the answer is accepted unsigned).
    pub async fn v3_download_flow(
        &mut self,
        merchant: &V3Merchant,
        request: &DownloadFlow,
        options: &CallOptions,
    ) -> HostResult<Result<FlowFile, Error>> {
        match request.kind {
            FlowKind::Use => self.v3_download_use_flow(merchant, request, options).await,
            FlowKind::Refund => {
                self.v3_download_refund_flow(merchant, request, options)
                    .await
            }
        }
    }

    /// Fetches a flow file (unsigned, through the host's outbound client), and has the
    /// component check its SHA1 and read its rows (`v3.read-flow-rows`).
    pub async fn v3_fetch_flow_rows(
        &mut self,
        file: &FlowFile,
        options: &CallOptions,
    ) -> HostResult<Result<Vec<FlowRow>, Error>> {
        let Some(client) = self.outbound.clone() else {
            return Ok(Err(Error::Denied {
                message: "no outbound client configured".into(),
            }));
        };
        let get = SignedRequest {
            method: Method::Get,
            url: file.url.clone(),
            headers: vec![],
            body: String::new(),
        };
        let contents = match send_bytes(&client, get, options).await {
            Ok((200, bytes)) => bytes,
            Ok((status, bytes)) => {
                return Ok(Err(Error::Refused(Box::new(
                    wxcoupon_core::v3::answer::refusal(status, &String::from_utf8_lossy(&bytes)),
                ))))
            }
            Err(e) => return Ok(Err(e)),
        };
        let r = self
            .coupons
            .wxpay_coupon_v3()
            .call_read_flow_rows(&mut self.store, &file.clone().map_into(), &contents)
            .await
            .map_err(HostError::component)?;
        Ok(r.map(MapInto::map_into).map_err(v3_error_from_wit))
    }

    /// Verifies, decrypts and reads a `COUPON.USE` callback in the component
    /// (`v3.read-coupon-use`).
    pub async fn v3_read_coupon_use(
        &mut self,
        merchant: &V3Merchant,
        headers: &[(String, String)],
        body: &str,
        now: i64,
    ) -> HostResult<Result<CouponUseEvent, NotificationError>> {
        let r = self
            .coupons
            .wxpay_coupon_v3()
            .call_read_coupon_use(&mut self.store, merchant.handle, headers, body, now)
            .await
            .map_err(HostError::component)?;
        Ok(r.map(MapInto::map_into)
            .map_err(wit::notification_error_from_wit))
    }
}
