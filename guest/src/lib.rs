//! The wxcoupon component: the `wxpay:coupon` WIT exports, implemented by `wxcoupon-core`.
//!
//! This crate is glue only: it turns WIT values into core values and back (`convert`, the core's
//! one table), and draws nonces from `wasi:random`. Every protocol rule lives in the core.
//!
//! It builds the `gateway` world: the typed exports of `coupons` (`v2`, `v2-client`, `v3`,
//! `v3-client`: [`v3`]) plus
//! `wasi:http/incoming-handler`, which serves the JSON coupon API of [`gateway`] through the same
//! client. Hosts that only call the typed exports ignore the extra export.

mod client;
mod convert;
mod gateway;
mod v3;

wit_bindgen::generate!({
    path: "../wit",
    world: "gateway",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest as IncomingHandler;
use exports::wxpay::coupon::v2::Guest as V2;
use exports::wxpay::coupon::v2_client::{CallOptions, Guest as V2Client};
use exports::wxpay::coupon::v2_types as wit;
use wxcoupon_core::{self as core, MapInto, XmlLimits};

struct Component;

impl V2 for Component {
    fn sign(
        fields: wit::Fields,
        key: String,
        sign_type: wit::SignType,
    ) -> Result<String, wit::ProtocolError> {
        let fields = convert::fields_in(fields)?;
        let key = core::ApiKey::new(key).map_err(convert::protocol_error_out)?;
        Ok(core::sign(&fields, &key, sign_type.map_into()))
    }

    fn verify(fields: wit::Fields, key: String) -> Result<wit::SignatureCheck, wit::ProtocolError> {
        let fields = convert::fields_in(fields)?;
        let key = core::ApiKey::new(key).map_err(convert::protocol_error_out)?;
        let Some(signature) = fields.get("sign") else {
            return Err(wit::ProtocolError::Signature(wit::SignatureError::Missing));
        };
        match core::verify(&fields, &key, signature) {
            Ok(core::SignType::Md5) => Ok(wit::SignatureCheck::VerifiedMd5),
            Ok(core::SignType::HmacSha256) => Ok(wit::SignatureCheck::VerifiedHmacSha256),
            Err(e) => Err(convert::protocol_error_out(e.into())),
        }
    }

    fn build_send_coupon(
        merchant: wit::Merchant,
        request: wit::SendCouponRequest,
        nonce: Option<String>,
    ) -> Result<wit::HttpRequest, wit::ProtocolError> {
        build(
            merchant,
            core::CouponRequest::SendCoupon(request.map_into()),
            nonce,
        )
    }

    fn build_query_coupon_stock(
        merchant: wit::Merchant,
        request: wit::QueryCouponStockRequest,
        nonce: Option<String>,
    ) -> Result<wit::HttpRequest, wit::ProtocolError> {
        build(
            merchant,
            core::CouponRequest::QueryCouponStock(request.map_into()),
            nonce,
        )
    }

    fn build_query_coupons_info(
        merchant: wit::Merchant,
        request: wit::QueryCouponsInfoRequest,
        nonce: Option<String>,
    ) -> Result<wit::HttpRequest, wit::ProtocolError> {
        build(
            merchant,
            core::CouponRequest::QueryCouponsInfo(request.map_into()),
            nonce,
        )
    }

    fn parse_send_coupon(
        merchant: wit::Merchant,
        status: u16,
        body: String,
    ) -> Result<wit::SentCoupon, wit::ProtocolError> {
        parse(merchant, status, &body, core::parse_send_coupon)
    }

    fn parse_query_coupon_stock(
        merchant: wit::Merchant,
        status: u16,
        body: String,
    ) -> Result<wit::CouponStock, wit::ProtocolError> {
        parse(merchant, status, &body, core::parse_query_coupon_stock)
    }

    fn parse_query_coupons_info(
        merchant: wit::Merchant,
        status: u16,
        body: String,
    ) -> Result<wit::CouponInfo, wit::ProtocolError> {
        parse(merchant, status, &body, core::parse_query_coupons_info)
    }

    fn unreadable_body(status: u16, body: Vec<u8>) -> Option<wit::ProtocolError> {
        core::answer_text(status, &body, &XmlLimits::default())
            .err()
            .map(convert::protocol_error_out)
    }

    fn send_coupon_outcome_unknown(error: wit::CallError) -> bool {
        convert::call_error_from_wit(error).outcome_unknown(core::Api::SendCoupon)
    }

    fn outcome_unknown_advice() -> String {
        core::OUTCOME_UNKNOWN_ADVICE.to_string()
    }
}

impl V2Client for Component {
    fn send_coupon(
        merchant: wit::Merchant,
        request: wit::SendCouponRequest,
        options: CallOptions,
    ) -> Result<wit::SentCoupon, wit::CallError> {
        call(
            merchant,
            core::CouponRequest::SendCoupon(request.map_into()),
            options,
            core::parse_send_coupon,
        )
    }

    fn query_coupon_stock(
        merchant: wit::Merchant,
        request: wit::QueryCouponStockRequest,
        options: CallOptions,
    ) -> Result<wit::CouponStock, wit::CallError> {
        call(
            merchant,
            core::CouponRequest::QueryCouponStock(request.map_into()),
            options,
            core::parse_query_coupon_stock,
        )
    }

    fn query_coupons_info(
        merchant: wit::Merchant,
        request: wit::QueryCouponsInfoRequest,
        options: CallOptions,
    ) -> Result<wit::CouponInfo, wit::CallError> {
        call(
            merchant,
            core::CouponRequest::QueryCouponsInfo(request.map_into()),
            options,
            core::parse_query_coupons_info,
        )
    }
}

impl IncomingHandler for Component {
    /// Serves the gateway's JSON API (see [`gateway`]).
    fn handle(
        request: wasi::http::types::IncomingRequest,
        response_out: wasi::http::types::ResponseOutparam,
    ) {
        gateway::handle(request, response_out);
    }
}

/// One `parse-*`: the merchant in, the core's parser of that API, its answer out.
fn parse<C: MapInto<W>, W>(
    merchant: wit::Merchant,
    status: u16,
    body: &str,
    parser: fn(&core::Merchant, u16, &[u8], &XmlLimits) -> Result<C, core::Error>,
) -> Result<W, wit::ProtocolError> {
    let merchant = convert::merchant_in(merchant)?;
    parser(&merchant, status, body.as_bytes(), &XmlLimits::default())
        .map(MapInto::map_into)
        .map_err(convert::protocol_error_out)
}

fn build(
    merchant: wit::Merchant,
    request: core::CouponRequest,
    nonce: Option<String>,
) -> Result<wit::HttpRequest, wit::ProtocolError> {
    let merchant = convert::merchant_in(merchant)?;
    let nonce = nonce.unwrap_or_else(random_nonce);
    core::build_request(&merchant, &request, &nonce)
        .map(MapInto::map_into)
        .map_err(convert::protocol_error_out)
}

/// One call through the client, its answer read by the API's own `parser`.
fn call<C: MapInto<W>, W>(
    merchant: wit::Merchant,
    request: core::CouponRequest,
    options: CallOptions,
    parser: fn(&core::Merchant, u16, &[u8], &XmlLimits) -> Result<C, core::Error>,
) -> Result<W, wit::CallError> {
    let merchant = convert::merchant_in(merchant).map_err(wit::CallError::Protocol)?;
    let options = client::CallOptions::with_defaults(
        options.connect_timeout_ms,
        options.first_byte_timeout_ms,
        options.between_bytes_timeout_ms,
        options.max_response_bytes,
        options.nonce,
    );
    client::exchange(&merchant, &request, &options)
        .and_then(|answer| parser(&merchant, answer.status, &answer.body, &answer.limits))
        .map(MapInto::map_into)
        .map_err(convert::call_error_to_wit)
}

/// 32 characters of `[0-9A-Za-z]` from the host's secure random source.
pub(crate) fn random_nonce() -> String {
    let bytes = wasi::random::random::get_random_bytes(wxcoupon_core::NONCE_RANDOM_BYTES as u64);
    wxcoupon_core::nonce_from_random(&bytes)
}

export!(Component);
