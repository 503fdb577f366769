//! # wxcoupon-core
//!
//! The WeChat Pay v2 coupon protocol (代金券: `send_coupon`, `query_coupon_stock`,
//! `querycouponsinfo`) as plain data transformations, with no I/O: build a signed request, hand it
//! to any HTTP client, parse the answer into a typed result or a precise [`Error`].
//!
//! It builds natively and for `wasm32-wasip2`; the wxcoupon component, the reference host, the
//! simulator and the benchmarks all use it.
//!
//! | module | owns |
//! |---|---|
//! | [`sign`] | MD5 / HMAC-SHA256 signatures, constant-time verification, the redacted [`ApiKey`] |
//! | [`xml`] | writing and reading the flat `<xml>` documents, with limits |
//! | [`merchant`] | merchant settings: ids, key, digest, host, sandbox, signature policy |
//! | [`request`] | the three typed requests, validation, the [`HttpRequest`] each becomes |
//! | [`response`] | typed answers and the three-level classification into success or error |
//! | [`err_code`] | meanings of `err_code` values and retry advice |
//! | [`time`] | Unix-second and `yyyyMMddHHmmss` (UTC+8) times |
//! | [`nonce`] | the `nonce_str` rule, and nonces from caller-supplied random bytes |
//! | [`paths`] | the exact set of coupon paths, read strictly: which endpoint a path is, or why none |
//! | [`settings`] | the `WXPAY_*` settings of every edge: one table, one reader, limits, one error type |
//! | [`error`] | the one error type |
//! | [`v3`] | API v3, being built (issue 12): so far its authentication as data ([`v3::auth`]) |
//! | [`wit_mapping`] | the one table between these types and the WIT bindings' (both sides of the component boundary) |
//!
//! ```
//! use wxcoupon_core::{build_request, ApiKey, CouponRequest, Merchant, SendCouponRequest};
//!
//! let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap();
//! let merchant = Merchant::new("wx5edab3bdfba3dc1c", "10000098", key);
//! let request = CouponRequest::SendCoupon(SendCouponRequest {
//!     coupon_stock_id: "1757".into(),
//!     openid: "onqOjjrXT-776SpHnfexGm1_P7iE".into(),
//!     partner_trade_no: "1000009820141203515766".into(),
//!     ..Default::default()
//! });
//! let http = build_request(&merchant, &request, "1417574675").unwrap();
//! assert_eq!(http.url, "https://api.mch.weixin.qq.com/mmpaymkttransfers/send_coupon");
//! assert!(http.needs_client_certificate);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod err_code;
pub mod error;
pub mod merchant;
pub mod nonce;
pub mod paths;
pub mod request;
pub mod response;
pub mod settings;
pub mod sign;
pub mod time;
pub mod v3;
pub mod wit_mapping;
pub mod xml;

/// A message's fields by name. A `BTreeMap` iterates in byte order of the names, which is the
/// order signatures need.
pub type Fields = std::collections::BTreeMap<String, String>;

pub use error::{
    BusinessError, Error, FieldError, MalformedResponse, RetryAdvice, SignatureError,
    OUTCOME_UNKNOWN_ADVICE,
};
pub use merchant::{ApiHost, Merchant, SignaturePolicy};
pub use nonce::{check_nonce, nonce_from_random, NONCE_RANDOM_BYTES};
pub use request::{
    build_request, signed_fields, Api, CommonOptions, CouponRequest, HttpRequest,
    QueryCouponStockRequest, QueryCouponsInfoRequest, SendCouponRequest,
};
pub use response::{
    answer_text, parse_query_coupon_stock, parse_query_coupons_info, parse_response,
    parse_response_with_limits, parse_send_coupon, CouponInfo, CouponResponse, CouponState,
    CouponStock, SentCoupon, SignatureCheck, StockStatus,
};
pub use sign::{sign, string_to_sign, verify, verify_with, ApiKey, SignType};
pub use time::WechatTime;
pub use wit_mapping::MapInto;
pub use xml::{read_xml, write_xml, XmlLimits};
