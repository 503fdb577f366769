//! The wxcoupon component: the `wxpay:coupon` WIT exports, implemented by `wxcoupon-core`.
//!
//! This crate is glue only: it turns WIT values into core values and back (`convert`), and draws
//! nonces from `wasi:random`. Every protocol rule lives in the core.
//!
//! It builds the `gateway` world: the typed exports of `coupons` (`protocol`, `client`) plus
//! `wasi:http/incoming-handler`, which serves the JSON coupon API of [`gateway`] through the same
//! client. Hosts that only call the typed exports ignore the extra export.

mod client;
mod convert;
mod gateway;

wit_bindgen::generate!({
    path: "../wit",
    world: "gateway",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest as IncomingHandler;
use exports::wxpay::coupon::client::{CallOptions, Guest as Client};
use exports::wxpay::coupon::protocol::Guest as Protocol;
use exports::wxpay::coupon::types as wit;

struct Component;

impl Protocol for Component {
    fn sign(
        fields: wit::Fields,
        key: String,
        sign_type: wit::SignType,
    ) -> Result<String, wit::CouponError> {
        let fields = convert::fields_in(fields)?;
        let key = wxcoupon_core::ApiKey::new(key).map_err(convert::error_out)?;
        Ok(wxcoupon_core::sign(
            &fields,
            &key,
            convert::sign_type_in(sign_type),
        ))
    }

    fn verify(fields: wit::Fields, key: String) -> Result<wit::SignatureCheck, wit::CouponError> {
        let fields = convert::fields_in(fields)?;
        let key = wxcoupon_core::ApiKey::new(key).map_err(convert::error_out)?;
        let Some(signature) = fields.get("sign") else {
            return Err(wit::CouponError::Signature(wit::SignatureError::Missing));
        };
        match wxcoupon_core::verify(&fields, &key, signature) {
            Ok(wxcoupon_core::SignType::Md5) => Ok(wit::SignatureCheck::VerifiedMd5),
            Ok(wxcoupon_core::SignType::HmacSha256) => Ok(wit::SignatureCheck::VerifiedHmacSha256),
            Err(e) => Err(convert::error_out(e.into())),
        }
    }

    fn build_request(
        merchant: wit::Merchant,
        request: wit::CouponRequest,
        nonce: Option<String>,
    ) -> Result<wit::HttpRequest, wit::CouponError> {
        let merchant = convert::merchant_in(merchant)?;
        let request = convert::request_in(request);
        let nonce = nonce.unwrap_or_else(random_nonce);
        wxcoupon_core::build_request(&merchant, &request, &nonce)
            .map(convert::http_request_out)
            .map_err(convert::error_out)
    }

    fn parse_response(
        merchant: wit::Merchant,
        api: wit::Api,
        status: u16,
        body: Vec<u8>,
    ) -> Result<wit::CouponResponse, wit::CouponError> {
        let merchant = convert::merchant_in(merchant)?;
        wxcoupon_core::parse_response(&merchant, convert::api_in(api), status, &body)
            .map(convert::response_out)
            .map_err(convert::error_out)
    }

    fn outcome_unknown(api: wit::Api, error: wit::CouponError) -> bool {
        convert::error_in(error).outcome_unknown(convert::api_in(api))
    }

    fn outcome_unknown_advice() -> String {
        wxcoupon_core::OUTCOME_UNKNOWN_ADVICE.to_string()
    }
}

impl Client for Component {
    fn send_coupon(
        merchant: wit::Merchant,
        request: wit::SendCouponRequest,
        options: CallOptions,
    ) -> Result<wit::SentCoupon, wit::CouponError> {
        match call(merchant, wit::CouponRequest::SendCoupon(request), options)? {
            wit::CouponResponse::SendCoupon(sent) => Ok(sent),
            _ => unreachable!("the core answers send_coupon with SendCoupon"),
        }
    }

    fn query_coupon_stock(
        merchant: wit::Merchant,
        request: wit::QueryCouponStockRequest,
        options: CallOptions,
    ) -> Result<wit::CouponStock, wit::CouponError> {
        match call(
            merchant,
            wit::CouponRequest::QueryCouponStock(request),
            options,
        )? {
            wit::CouponResponse::QueryCouponStock(stock) => Ok(stock),
            _ => unreachable!("the core answers query_coupon_stock with QueryCouponStock"),
        }
    }

    fn query_coupons_info(
        merchant: wit::Merchant,
        request: wit::QueryCouponsInfoRequest,
        options: CallOptions,
    ) -> Result<wit::CouponInfo, wit::CouponError> {
        match call(
            merchant,
            wit::CouponRequest::QueryCouponsInfo(request),
            options,
        )? {
            wit::CouponResponse::QueryCouponsInfo(info) => Ok(info),
            _ => unreachable!("the core answers querycouponsinfo with QueryCouponsInfo"),
        }
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

fn call(
    merchant: wit::Merchant,
    request: wit::CouponRequest,
    options: CallOptions,
) -> Result<wit::CouponResponse, wit::CouponError> {
    let merchant = convert::merchant_in(merchant)?;
    let request = convert::request_in(request);
    let options = client::CallOptions {
        connect_timeout_ms: options
            .connect_timeout_ms
            .unwrap_or(client::DEFAULT_CONNECT_TIMEOUT_MS),
        first_byte_timeout_ms: options
            .first_byte_timeout_ms
            .unwrap_or(client::DEFAULT_FIRST_BYTE_TIMEOUT_MS),
        between_bytes_timeout_ms: options
            .between_bytes_timeout_ms
            .unwrap_or(client::DEFAULT_BETWEEN_BYTES_TIMEOUT_MS),
        max_response_bytes: options
            .max_response_bytes
            .unwrap_or(client::DEFAULT_MAX_RESPONSE_BYTES),
        nonce: options.nonce,
    };
    client::call(&merchant, &request, &options)
        .map(convert::response_out)
        .map_err(convert::error_out)
}

/// 32 characters of `[0-9A-Za-z]` from the host's secure random source.
fn random_nonce() -> String {
    let bytes = wasi::random::random::get_random_bytes(wxcoupon_core::NONCE_RANDOM_BYTES as u64);
    wxcoupon_core::nonce_from_random(&bytes)
}

export!(Component);
