//! # wxcoupon-api
//!
//! Gateway mode's JSON coupon API with no I/O: what a request asks for, how its body and query
//! are read, which WeChat Pay call it becomes, and the answer — success or error — as status,
//! headers and JSON. Every edge that serves the API does only the I/O around it: the component
//! (`wasi:http`, settings from `wasi:cli/environment`, `wasi:random`) and the Envoy filter
//! (proxy-wasm, `dispatch_http_call`, settings from the plugin configuration). Both therefore
//! answer the same input with the same status and body.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/coupons` `{"stock_id", "openid", "partner_trade_no"?}` | the issued coupon |
//! | `GET /v1/stocks/{stock_id}` | the stock (`query_coupon_stock`) |
//! | `GET /v1/coupons/{coupon_id}?openid=…&stock_id=…` | the coupon (`querycouponsinfo`) |
//! | `GET /healthz` | `{"status": "ok", "version"}` when the configuration is usable, else 503 |
//! | `POST /v1/notifications/wechatpay` | WeChat Pay's `COUPON.USE` callback (v3), verified and forwarded |
//! | API v3 only: the stock life cycle, listings, flows, a user's coupons, the callback URL | see [`v3`] |
//!
//! The three coupon routes call v2 or v3 as the merchant's settings choose
//! (`wxcoupon_core::settings::read_api`), with the same bodies and error shape.
//!
//! Success bodies are the core's serde shapes — what the CLI prints for the same call
//! (`SentCoupon`, `CouponStock`, `CouponInfo`). `POST` extends `SentCoupon` with
//! `partner_trade_no` (the caller's, or one generated in WeChat's `mch_id` + `yyyyMMdd` +
//! 10-digit form, see [`trade_no`]) and `partner_trade_no_generated`; sending the same body again
//! with that number answers with the same coupon. `stock_id` may be a JSON string or a
//! non-negative integer; unknown fields are refused. Errors are described in [`errors`].
//!
//! An edge serves a request in this order (the order decides which error wins):
//! 1. [`route`] the method and target (404, 405, or a path segment that is not UTF-8: 400);
//! 2. `GET /healthz`: check the settings, answer [`health`];
//! 3. load the settings (500 `CONFIGURATION` when broken);
//! 4. `POST`: [`check_content_type`], [`check_content_length`], read at most
//!    [`MAX_BODY_BYTES`] (413 [`ApiError::body_too_large`]), [`IssueInput::parse`] and
//!    [`Call::issue`]; `GET`: [`Call::stock`] or [`Call::coupon`];
//! 5. build the WeChat Pay request with the core (`wxcoupon_core::build_request`, a fresh random
//!    nonce), send it, parse the answer with the core, and hand the result to [`Call::finish`].

// `ApiError` is the answer itself, built once per failed request: about 70 bytes on wasm32 (where
// the lint stays quiet), twice that in native builds. Boxing it would buy nothing.
#![allow(clippy::result_large_err)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod callers;
pub mod errors;
mod input;
pub mod notification;
#[cfg(test)]
mod tests;
pub mod trade_no;
pub mod v3;

use serde::Serialize;
use wxcoupon_core as core;

pub use callers::CallerTokens;
pub use errors::ApiError;
pub use input::{
    check_content_length, check_content_type, parse_json, percent_decode, query_pairs, IssueInput,
};

/// The largest request body accepted (the one body, `POST /v1/coupons`, is three short fields).
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// The version `GET /healthz` reports (the workspace's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The headers every answer carries (besides `content-length`, which the edge's HTTP layer
/// writes).
pub const RESPONSE_HEADERS: [(&str, &str); 3] = [
    ("content-type", "application/json; charset=utf-8"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
];

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`.
    Health,
    /// `POST /v1/coupons`: the body is still to be read.
    Issue,
    /// `GET /v1/stocks/{stock_id}`, the segment percent-decoded.
    Stock {
        /// The stock.
        stock_id: String,
    },
    /// `GET /v1/coupons/{coupon_id}?…`, the segment percent-decoded, the query as received.
    Coupon {
        /// The coupon.
        coupon_id: String,
        /// The raw query string (without `?`), read by [`Call::coupon`].
        query: String,
    },
    /// A route only API v3 has (the stock life cycle, the listings, the callback URL).
    V3(v3::V3Route),
    /// `POST /v1/notifications/wechatpay`: a WeChat Pay callback (`COUPON.USE`), authenticated
    /// by its signature, not by a caller token.
    Notification,
}

/// Where WeChat Pay's callbacks reach the gateway (the notify URL to set, behind the
/// merchant's public https front).
pub const NOTIFICATION_PATH: &str = "/v1/notifications/wechatpay";

/// Routes a request by path, then method. `target` is the path with its query (`/` when the
/// host gives none); `method` is the HTTP method as sent (`GET`, `POST`: case matters).
pub fn route(method: &str, target: &str) -> Result<Route, ApiError> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let get = method == "GET";
    let post = method == "POST";
    match segments.as_slice() {
        ["healthz"] if get => Ok(Route::Health),
        ["healthz"] => Err(ApiError::not_allowed("GET")),
        ["v1", "notifications", "wechatpay"] if post => Ok(Route::Notification),
        ["v1", "notifications", "wechatpay"] => Err(ApiError::not_allowed("POST")),
        ["v1", "coupons"] if post => Ok(Route::Issue),
        ["v1", "coupons"] => Err(ApiError::not_allowed("POST")),
        ["v1", "stocks", stock_id] if !stock_id.is_empty() => match get {
            true => Ok(Route::Stock {
                stock_id: segment("stock_id", stock_id)?,
            }),
            false => Err(ApiError::not_allowed("GET")),
        },
        ["v1", "coupons", coupon_id] if !coupon_id.is_empty() => match get {
            true => Ok(Route::Coupon {
                coupon_id: segment("coupon_id", coupon_id)?,
                query: query.to_string(),
            }),
            false => Err(ApiError::not_allowed("GET")),
        },
        other => match v3::route(method, other, query) {
            Some(route) => route.map(Route::V3),
            None => Err(ApiError::new(
                404,
                "ROUTE_NOT_FOUND",
                "no such route: POST /v1/coupons, GET /v1/stocks/{stock_id}, \
                 GET /v1/coupons/{coupon_id}?openid=..&stock_id=.., \
                 POST /v1/notifications/wechatpay, GET /healthz; with API v3: GET|POST /v1/stocks, \
                 POST /v1/stocks/{stock_id}/start|pause|restart|stop, \
                 GET /v1/stocks/{stock_id}/merchants|items|use-flow|refund-flow, \
                 GET /v1/users/{openid}/coupons, GET|PUT /v1/callbacks",
            )),
        },
    }
}

/// A path segment, percent-decoded.
fn segment(field: &str, raw: &str) -> Result<String, ApiError> {
    percent_decode(raw, false)
        .ok_or_else(|| ApiError::invalid(field, "must be valid percent-encoded UTF-8"))
}

/// An answer: status, JSON body, and extra headers (`allow` on 405).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The JSON document.
    pub body: Vec<u8>,
    /// Headers besides [`RESPONSE_HEADERS`] and `content-length`.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            body,
            headers: Vec::new(),
        }
    }

    /// 200 with `value` as JSON (500 `INTERNAL` if it cannot be serialised).
    pub fn json<T: Serialize>(value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply::ok(body),
            Err(_) => ApiError::new(500, "INTERNAL", "the answer could not be serialised").into(),
        }
    }

    /// Every header to send: [`RESPONSE_HEADERS`], then the extra ones (not `content-length`).
    pub fn all_headers(&self) -> Vec<(&str, &str)> {
        RESPONSE_HEADERS
            .iter()
            .copied()
            .chain(
                self.headers
                    .iter()
                    .map(|(name, value)| (*name, value.as_str())),
            )
            .collect()
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
        Reply {
            status: e.status,
            body: e.to_json(),
            headers: e
                .allow
                .map(|method| ("allow", method.to_string()))
                .into_iter()
                .chain(e.www_authenticate.map(|c| ("www-authenticate", c)))
                .collect(),
        }
    }
}

/// An edge's sign-type setting: `MD5` (also when unset) or `HMAC-SHA256`, in any case; anything
/// else is `Err` with the rule (the settings' own, `core::settings::SIGN_TYPE`).
pub fn sign_type_setting(value: Option<&str>) -> Result<core::SignType, &'static str> {
    match value {
        None => Ok(core::SignType::Md5),
        Some(v) => core::SignType::from_wire_name(v).ok_or(core::settings::SIGN_TYPE.rule),
    }
}

/// `GET /healthz`'s answer once the settings checked out.
pub fn health() -> Reply {
    #[derive(Serialize)]
    struct Health {
        status: &'static str,
        version: &'static str,
    }
    Reply::json(&Health {
        status: "ok",
        version: VERSION,
    })
}

/// One WeChat Pay call a request became, and how its outcome is answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    request: core::CouponRequest,
    /// `POST`: the number the coupon is issued under, and whether it was generated.
    trade_no: Option<(String, bool)>,
}

impl Call {
    /// `POST /v1/coupons`: the caller's `partner_trade_no`, or `generate()`'s (see
    /// [`trade_no::compose`]).
    pub fn issue(input: IssueInput, generate: impl FnOnce() -> String) -> Call {
        let (partner_trade_no, generated) = match input.partner_trade_no {
            Some(number) => (number, false),
            None => (generate(), true),
        };
        Call {
            request: core::CouponRequest::SendCoupon(core::SendCouponRequest {
                coupon_stock_id: input.stock_id,
                openid: input.openid,
                partner_trade_no: partner_trade_no.clone(),
                options: core::CommonOptions::default(),
            }),
            trade_no: Some((partner_trade_no, generated)),
        }
    }

    /// `GET /v1/stocks/{stock_id}`.
    pub fn stock(stock_id: &str) -> Call {
        Call {
            request: core::CouponRequest::QueryCouponStock(core::QueryCouponStockRequest {
                coupon_stock_id: stock_id.to_string(),
                options: core::CommonOptions::default(),
            }),
            trade_no: None,
        }
    }

    /// `GET /v1/coupons/{coupon_id}?openid=..&stock_id=..`: other parameters are ignored, a
    /// repeated one is refused. Missing ones become empty strings, which the core refuses by
    /// name ("required") when the request is built.
    pub fn coupon(coupon_id: &str, query: &str) -> Result<Call, ApiError> {
        let mut openid = None;
        let mut stock_id = None;
        for (name, value) in query_pairs(query)? {
            let slot = match name.as_str() {
                "openid" => &mut openid,
                "stock_id" => &mut stock_id,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(ApiError::invalid(&name, "appears more than once"));
            }
        }
        Ok(Call {
            request: core::CouponRequest::QueryCouponsInfo(core::QueryCouponsInfoRequest {
                coupon_id: coupon_id.to_string(),
                openid: openid.unwrap_or_default(),
                stock_id: stock_id.unwrap_or_default(),
                options: core::CommonOptions::default(),
            }),
            trade_no: None,
        })
    }

    /// The request to build and send.
    pub fn request(&self) -> &core::CouponRequest {
        &self.request
    }

    /// The API it calls (`send_coupon` needs the merchant's client certificate).
    pub fn api(&self) -> core::Api {
        self.request.api()
    }

    /// `POST`: the number the coupon is issued under.
    pub fn partner_trade_no(&self) -> Option<&str> {
        self.trade_no.as_ref().map(|(number, _)| number.as_str())
    }

    /// The answer to the call's outcome: building, sending and parsing, as one result. `setting`
    /// names a merchant setting for the edge's configuration (`merchant.appid` →
    /// `WXPAY_APPID`), see [`ApiError::from_core`].
    pub fn finish(
        &self,
        result: Result<core::CouponResponse, core::Error>,
        setting: fn(&str) -> &str,
    ) -> Reply {
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                let unknown = e.outcome_unknown(self.api());
                let error = ApiError::from_core(e, setting);
                let error = match unknown {
                    true => error.outcome_unknown(),
                    false => error,
                };
                return match self.partner_trade_no() {
                    Some(number) => error.with_trade_no(number),
                    None => error,
                }
                .into();
            }
        };
        match (response, &self.trade_no) {
            (core::CouponResponse::SendCoupon(sent), Some((number, generated))) => {
                Reply::json(&Issued {
                    coupon: &sent,
                    partner_trade_no: number,
                    partner_trade_no_generated: *generated,
                })
            }
            (core::CouponResponse::QueryCouponStock(stock), None)
                if self.api() == core::Api::QueryCouponStock =>
            {
                Reply::json(&stock)
            }
            (core::CouponResponse::QueryCouponsInfo(info), None)
                if self.api() == core::Api::QueryCouponsInfo =>
            {
                Reply::json(&info)
            }
            _ => ApiError::new(
                500,
                "INTERNAL",
                "the client answered with another API's result",
            )
            .into(),
        }
    }
}

/// `POST /v1/coupons`'s answer: the core's `SentCoupon` plus the issuance's number.
#[derive(Serialize)]
struct Issued<'a> {
    #[serde(flatten)]
    coupon: &'a core::SentCoupon,
    /// The number the coupon was issued under: send it again to retry safely.
    partner_trade_no: &'a str,
    /// Whether the gateway generated `partner_trade_no` (the caller sent none).
    partner_trade_no_generated: bool,
}
