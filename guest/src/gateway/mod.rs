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

use wxcoupon_api::v3::{V3Call, V3Defaults, V3Edge};
use wxcoupon_api::{self as api, ApiError, Call, Reply, Route};
use wxcoupon_core::settings::{ApiVersion, V3Use};
use wxcoupon_core::v3::answer::Answer;
use wxcoupon_core::v3::error::Error as V3Error;

use crate::client;
use crate::wasi::http::types::{IncomingRequest, Method};
use config::{variable_of, Config, V3Config};

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
    let env = crate::wasi::cli::environment::get_environment;
    let broken = |status| move |e| ApiError::configuration(config::not_configured(&e), status);
    if let Route::Notification = route {
        let body = http::read_body(request, api::MAX_BODY_BYTES)?;
        return Ok(notification::handle(request, &body));
    }
    // The three coupon routes call v2 or v3 as the settings choose; the v3-only ones, v3.
    let api = match &route {
        Route::V3(_) => ApiVersion::V3,
        Route::Health => config::api_version(env()).map_err(broken(503))?,
        _ => config::api_version(env()).map_err(broken(500))?,
    };
    if api == ApiVersion::V3 {
        // The settings are checked before anything of the request is read.
        let v3 = V3Config::from_host(V3Use::Calls);
        if let Route::Health = route {
            v3.map_err(broken(503))?;
            return Ok(api::health());
        }
        let v3 = v3.map_err(broken(500))?;
        let d = V3Defaults {
            mchid: v3.merchant.mchid(),
            appid: v3.appid.as_deref(),
        };
        let call = match route {
            Route::V3(route) => {
                let body = match route.has_body() {
                    true => json_body(request)?,
                    false => Vec::new(),
                };
                V3Call::new(route, &body, &d)?
            }
            Route::Issue => {
                let input = api::IssueInput::parse(&json_body(request)?)?;
                let given = http::header(request, api::trade_no::HOST_NUMBER_HEADER);
                V3Call::issue(
                    input,
                    || given.unwrap_or_else(|| generate_trade_no(d.mchid)),
                    &d,
                )?
            }
            Route::Stock { stock_id } => V3Call::stock(&stock_id, &d),
            Route::Coupon { coupon_id, query } => V3Call::coupon(&coupon_id, &query, &d)?,
            Route::Health | Route::Notification => unreachable!("answered above"),
        };
        let mut edge = WasiEdge(v3.call_options());
        return Ok(call.run(&v3.merchant, &mut edge, variable_of));
    }
    // The settings are checked before anything of the request is read.
    let load = |status| Config::from_host().map_err(broken(status));
    let (config, call) = match route {
        Route::Notification | Route::V3(_) => unreachable!("answered above"),
        Route::Health => {
            load(503)?;
            return Ok(api::health());
        }
        Route::Issue => {
            let config = load(500)?;
            let input = api::IssueInput::parse(&json_body(request)?)?;
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

/// A JSON request body: its `content-type` checked, at most [`api::MAX_BODY_BYTES`].
fn json_body(request: &IncomingRequest) -> Result<Vec<u8>, ApiError> {
    api::check_content_type(http::header(request, "content-type").as_deref())?;
    http::read_body(request, api::MAX_BODY_BYTES)
}

/// A v3 call's I/O in the component: `wasi:clocks`, `wasi:random`, and the component's own
/// `wasi:http` client with the gateway's limits.
struct WasiEdge(client::CallOptions);

impl V3Edge for WasiEdge {
    fn now(&self) -> i64 {
        crate::wasi::clocks::wall_clock::now().seconds as i64
    }

    fn nonce(&mut self) -> String {
        crate::random_nonce()
    }

    fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Answer, V3Error> {
        let received =
            client::send_raw(method, url, headers, body, &self.0).map_err(crate::v3::from_http)?;
        let body = String::from_utf8(received.body).map_err(|_| {
            V3Error::MalformedResponse(wxcoupon_core::MalformedResponse::document(
                "the body is not UTF-8",
            ))
        })?;
        Ok(Answer {
            status: received.status,
            headers: received.headers,
            body,
        })
    }
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
