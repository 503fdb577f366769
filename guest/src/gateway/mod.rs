//! Gateway mode: a small JSON coupon API served through `wasi:http/incoming-handler`, calling
//! WeChat Pay through the component's own client (`wasi:http/outgoing-handler`).
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/coupons` `{"stock_id", "openid", "partner_trade_no"?}` | the issued coupon |
//! | `GET /v1/stocks/{stock_id}` | the stock (`query_coupon_stock`) |
//! | `GET /v1/coupons/{coupon_id}?openid=…&stock_id=…` | the coupon (`querycouponsinfo`) |
//! | `GET /healthz` | `{"status": "ok"}` when the configuration is usable, else 503 |
//!
//! Success bodies are the core's serde shapes — what the CLI prints for the same call
//! (`SentCoupon`, `CouponStock`, `CouponInfo`). `POST` extends `SentCoupon` with
//! `partner_trade_no` (the caller's, or the one generated in WeChat's `mch_id` + `yyyyMMdd` +
//! 10-digit form, see [`trade_no`]) and `partner_trade_no_generated`; sending the same body again
//! with that number answers with the same coupon. `stock_id` may be a JSON string or a
//! non-negative integer; unknown fields are refused. Errors are described in [`errors`].
//!
//! The component is stateless: settings are read from `wasi:cli/environment` on every request
//! ([`config`]), and every request may run in a fresh instance. It expects to be mounted at the
//! root of its host (Spin: `route = "/..."`). Bodies are capped at [`MAX_BODY_BYTES`]. Nothing
//! here traps on bad input or a refused outbound request: every failure is a JSON answer.

// `ApiError` is the answer itself, built once per failed request: about 70 bytes on wasm32 (where
// the lint stays quiet), twice that in native test builds. Boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod config;
mod errors;
mod http;
#[cfg(test)]
mod tests;
mod trade_no;

use serde::Serialize;
use serde_json::Value;
use wxcoupon_core as core;

use crate::client;
use crate::wasi::http::types::{IncomingRequest, Method, ResponseOutparam};
use config::Config;
use errors::ApiError;
use http::Reply;

/// The largest request body accepted (the one body, `POST /v1/coupons`, is three short fields).
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// Serves one request.
pub fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let reply = route(&request).unwrap_or_else(Reply::from);
    http::send(out, reply);
}

/// The routes, by path, then method.
fn route(request: &IncomingRequest) -> Result<Reply, ApiError> {
    let target = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let method = request.method();
    let get = matches!(method, Method::Get);
    let post = matches!(method, Method::Post);
    match segments.as_slice() {
        ["healthz"] if get => health(),
        ["healthz"] => Err(not_allowed("GET")),
        ["v1", "coupons"] if post => issue(request),
        ["v1", "coupons"] => Err(not_allowed("POST")),
        ["v1", "stocks", stock_id] if !stock_id.is_empty() => match get {
            true => stock(&segment("stock_id", stock_id)?),
            false => Err(not_allowed("GET")),
        },
        ["v1", "coupons", coupon_id] if !coupon_id.is_empty() => match get {
            true => coupon(&segment("coupon_id", coupon_id)?, query),
            false => Err(not_allowed("GET")),
        },
        _ => Err(ApiError::new(
            404,
            "ROUTE_NOT_FOUND",
            "no such route: POST /v1/coupons, GET /v1/stocks/{stock_id}, \
             GET /v1/coupons/{coupon_id}?openid=..&stock_id=.., GET /healthz",
        )),
    }
}

/// A 405 naming the allowed method (also sent as `allow`).
fn not_allowed(allow: &'static str) -> ApiError {
    ApiError {
        allow: Some(allow),
        ..ApiError::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!("this route only accepts {allow}"),
        )
    }
}

/// A path segment, percent-decoded.
fn segment(field: &str, raw: &str) -> Result<String, ApiError> {
    http::percent_decode(raw, false)
        .ok_or_else(|| ApiError::invalid(field, "must be valid percent-encoded UTF-8"))
}

/// `GET /healthz`: the configuration is checked; WeChat Pay is not called.
fn health() -> Result<Reply, ApiError> {
    Config::from_host().map_err(|e| ApiError::configuration(&e, 503))?;
    json(&Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// `GET /healthz`'s answer.
#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

/// `POST /v1/coupons`.
fn issue(request: &IncomingRequest) -> Result<Reply, ApiError> {
    let config = Config::from_host().map_err(|e| ApiError::configuration(&e, 500))?;
    if let Some(content_type) = http::header(request, "content-type") {
        let media = content_type.split(';').next().unwrap_or("").trim();
        let media = media.to_ascii_lowercase();
        if media != "application/json" && !media.ends_with("+json") {
            return Err(ApiError::new(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "the body must be JSON (content-type: application/json)",
            ));
        }
    }
    let body = http::read_body(request, MAX_BODY_BYTES)?;
    let input = IssueInput::parse(&body)?;
    let (partner_trade_no, generated) = match input.partner_trade_no {
        Some(number) => (number, false),
        None => (trade_no::generate(&config.merchant.mch_id), true),
    };
    let request = core::CouponRequest::SendCoupon(core::SendCouponRequest {
        coupon_stock_id: input.stock_id,
        openid: input.openid,
        partner_trade_no: partner_trade_no.clone(),
        options: core::CommonOptions::default(),
    });
    let sent = match call(&config, &request) {
        Ok(core::CouponResponse::SendCoupon(sent)) => sent,
        Ok(_) => return Err(mismatch()),
        Err(e) => return Err(e.with_trade_no(&partner_trade_no)),
    };
    json(&Issued {
        coupon: &sent,
        partner_trade_no: &partner_trade_no,
        partner_trade_no_generated: generated,
    })
}

/// `GET /v1/stocks/{stock_id}`.
fn stock(stock_id: &str) -> Result<Reply, ApiError> {
    let config = Config::from_host().map_err(|e| ApiError::configuration(&e, 500))?;
    let request = core::CouponRequest::QueryCouponStock(core::QueryCouponStockRequest {
        coupon_stock_id: stock_id.to_string(),
        options: core::CommonOptions::default(),
    });
    match call(&config, &request)? {
        core::CouponResponse::QueryCouponStock(stock) => json(&stock),
        _ => Err(mismatch()),
    }
}

/// `GET /v1/coupons/{coupon_id}?openid=..&stock_id=..`.
fn coupon(coupon_id: &str, query: &str) -> Result<Reply, ApiError> {
    let config = Config::from_host().map_err(|e| ApiError::configuration(&e, 500))?;
    let mut openid = None;
    let mut stock_id = None;
    for (name, value) in http::query_pairs(query)? {
        let slot = match name.as_str() {
            "openid" => &mut openid,
            "stock_id" => &mut stock_id,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(ApiError::invalid(&name, "appears more than once"));
        }
    }
    // Missing parameters become empty strings, which the core refuses by name ("required").
    let request = core::CouponRequest::QueryCouponsInfo(core::QueryCouponsInfoRequest {
        coupon_id: coupon_id.to_string(),
        openid: openid.unwrap_or_default(),
        stock_id: stock_id.unwrap_or_default(),
        options: core::CommonOptions::default(),
    });
    match call(&config, &request)? {
        core::CouponResponse::QueryCouponsInfo(info) => json(&info),
        _ => Err(mismatch()),
    }
}

/// One call through the component's client.
fn call(config: &Config, request: &core::CouponRequest) -> Result<core::CouponResponse, ApiError> {
    client::call(&config.merchant, request, &config.call_options()).map_err(ApiError::from_core)
}

fn mismatch() -> ApiError {
    ApiError::new(
        500,
        "INTERNAL",
        "the client answered with another API's result",
    )
}

/// A 200 answer with `value` as JSON.
fn json<T: Serialize>(value: &T) -> Result<Reply, ApiError> {
    serde_json::to_vec(value)
        .map(Reply::ok)
        .map_err(|_| ApiError::new(500, "INTERNAL", "the answer could not be serialised"))
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

/// `POST /v1/coupons`'s body.
struct IssueInput {
    stock_id: String,
    openid: String,
    /// `None`: generate one.
    partner_trade_no: Option<String>,
}

impl IssueInput {
    const FIELDS: [&'static str; 3] = ["stock_id", "openid", "partner_trade_no"];

    /// Reads the body: a JSON object with exactly the known fields. Field rules (required,
    /// length, characters) are the core's, applied when the request is built.
    fn parse(body: &[u8]) -> Result<IssueInput, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                400,
                "INVALID_JSON",
                format!("the body must be a JSON object: {e}"),
            )
        })?;
        let Value::Object(mut map) = value else {
            return Err(ApiError::new(
                400,
                "INVALID_JSON",
                "the body must be a JSON object",
            ));
        };
        if let Some(unknown) = map.keys().find(|k| !Self::FIELDS.contains(&k.as_str())) {
            return Err(ApiError::invalid(
                unknown,
                "unknown field (expected stock_id, openid, partner_trade_no)",
            ));
        }
        let stock_id = match map.remove("stock_id") {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            None | Some(Value::Null) => return Err(ApiError::invalid("stock_id", "required")),
            Some(_) => {
                return Err(ApiError::invalid(
                    "stock_id",
                    "must be a string or a non-negative integer",
                ))
            }
        };
        let openid = match map.remove("openid") {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => return Err(ApiError::invalid("openid", "required")),
            Some(_) => return Err(ApiError::invalid("openid", "must be a string")),
        };
        let partner_trade_no = match map.remove("partner_trade_no") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(ApiError::invalid(
                    "partner_trade_no",
                    "must not be empty (leave it out to have one generated)",
                ))
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(ApiError::invalid("partner_trade_no", "must be a string")),
        };
        Ok(IssueInput {
            stock_id,
            openid,
            partner_trade_no,
        })
    }
}
