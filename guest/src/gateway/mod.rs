//! Gateway mode: the JSON coupon API of `wxcoupon-api` served through
//! `wasi:http/incoming-handler`, calling WeChat Pay through the component's own client
//! (`wasi:http/outgoing-handler`).
//!
//! Routes, bodies, error statuses and answers are the API crate's (see its documentation): the
//! Envoy filter serves the same API from the same code. This module is the wasi glue only —
//! reading the incoming request ([`http`]), the settings from `wasi:cli/environment`
//! ([`config`]), `wasi:random` and `wasi:clocks` for generated `partner_trade_no`s, and writing
//! the answer.
//!
//! The component is stateless: settings are read on every request, and every request may run in
//! a fresh instance. It expects to be mounted at the root of its host (Spin: `route = "/..."`).
//! Bodies are capped at [`api::MAX_BODY_BYTES`]. Nothing here traps on bad input or a refused
//! outbound request: every failure is a JSON answer.

// `ApiError` is the answer itself, built once per failed request (see `wxcoupon-api`).
#![allow(clippy::result_large_err)]

mod config;
mod http;
mod notification;
#[cfg(test)]
mod tests;

use wxcoupon_api::{self as api, ApiError, Call, Reply, Route};

use crate::client;
use crate::wasi::http::types::{IncomingRequest, Method};
use config::{variable_of, Config};

/// Serves one request.
pub fn handle(request: IncomingRequest, out: crate::wasi::http::types::ResponseOutparam) {
    let reply = serve(&request).unwrap_or_else(Reply::from);
    http::send(out, reply);
}

/// Routes the request, reads what the route needs, and makes the call.
fn serve(request: &IncomingRequest) -> Result<Reply, ApiError> {
    let target = request.path_with_query().unwrap_or_else(|| "/".into());
    // Callers first: nothing of a /v1 route, not even whether it exists, for strangers.
    if api::callers::needs_caller(&target) {
        config::callers_from_host()?
            .authorize(http::header(request, "authorization").as_deref())?;
    }
    let route = api::route(method_name(&request.method()), &target)?;
    // The settings are checked before anything of the request is read.
    let load = |status| {
        Config::from_host().map_err(|e| ApiError::configuration(config::not_configured(&e), status))
    };
    let (config, call) = match route {
        Route::Notification => {
            let body = http::read_body(request, api::MAX_BODY_BYTES)?;
            let options = client::CallOptions::with_defaults(None, None, None, None, None);
            return Ok(notification::handle(request, &body, &options));
        }
        Route::Health => {
            load(503)?;
            return Ok(api::health());
        }
        Route::Issue => {
            let config = load(500)?;
            api::check_content_type(http::header(request, "content-type").as_deref())?;
            let body = http::read_body(request, api::MAX_BODY_BYTES)?;
            let input = api::IssueInput::parse(&body)?;
            let given = http::header(request, api::trade_no::HOST_NUMBER_HEADER);
            let call = Call::issue(input, || {
                given.unwrap_or_else(|| generate_trade_no(&config.merchant.mch_id))
            });
            (config, call)
        }
        Route::Stock { stock_id } => (load(500)?, Call::stock(&stock_id)),
        Route::Coupon { coupon_id, query } => {
            let config = load(500)?;
            (config, Call::coupon(&coupon_id, &query)?)
        }
    };
    let result = client::call(&config.merchant, call.request(), &config.call_options());
    Ok(call.finish(result, variable_of))
}

/// The method's name as sent.
fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(name) => name,
    }
}

/// A new `partner_trade_no` for `mch_id`, dated by `wasi:clocks/wall-clock`, its serial from
/// `wasi:random/random` (see `wxcoupon_api::trade_no`).
fn generate_trade_no(mch_id: &str) -> String {
    let now = crate::wasi::clocks::wall_clock::now();
    let seconds = i64::try_from(now.seconds).unwrap_or(i64::MAX / 2);
    api::trade_no::generate(mch_id, seconds, crate::wasi::random::random::get_random_u64)
}
