//! The wxcoupon component: the `wxpay:coupon` WIT exports, implemented by `wxcoupon-core`.
//!
//! This crate is glue only: it turns WIT values into core values and back (`convert`), and draws
//! nonces from `wasi:random`. Every protocol rule lives in the core.

mod convert;

wit_bindgen::generate!({
    path: "../wit",
    world: "codec",
    generate_all,
});

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
}

/// 32 characters of `[0-9A-Za-z]` from the host's secure random source.
fn random_nonce() -> String {
    let bytes = wasi::random::random::get_random_bytes(wxcoupon_core::NONCE_RANDOM_BYTES as u64);
    wxcoupon_core::nonce_from_random(&bytes)
}

export!(Component);
