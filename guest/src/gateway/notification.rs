//! `POST /v1/notifications/wechatpay`: WeChat Pay's `COUPON.USE` callback, verified, decrypted
//! and forwarded.
//!
//! 1. The settings ([`V3Config`] for callbacks, from `wasi:cli/environment`): the v3 merchant with
//!    every key callbacks may be signed under (the public key and the platform certificates at
//!    once, for a migration), and the forward URL.
//! 2. The core's `read_coupon_use`: a `WECHATPAY/SIGNTEST/` probe refused, the signature, the
//!    clock, the decryption, the typed event. A refusal is answered with its status and
//!    `{"code":"FAIL",…}`: WeChat delivers again, and nothing unverified goes further.
//! 3. The event as JSON, `POST`ed to `WXPAY_NOTIFY_FORWARD_URL` with `idempotency-key` and
//!    `wechatpay-event-id` set to the event id.
//! 4. WeChat is answered `204` only once the forward answered 2xx; otherwise `502` with a
//!    failure body, so that WeChat's retry carries the event again and none is lost.
//!
//! Deduplication: the component keeps nothing between requests. Under `wxcoupon serve` the host
//! answers a repeated `idempotency-key` already delivered without sending it
//! (`host/src/outbound/dedup.rs`); elsewhere the receiver deduplicates on that header.

use wxcoupon_api::notification::{after_forward, forward_headers, refused as fail};
use wxcoupon_api::Reply;
use wxcoupon_core::settings::{self, V3Use};

use super::config::{not_configured, V3Config};
use crate::client;
use crate::wasi::http::types::IncomingRequest;

/// The forward URL, checked: the route's one setting besides the v3 merchant's.
fn forward_url(config: &V3Config) -> Result<&str, String> {
    let variable = settings::NOTIFY_FORWARD_URL.variable.unwrap_or_default();
    match config.forward_url.as_deref() {
        None => Err(format!("{variable}: {}", settings::REQUIRED_RULE)),
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => Ok(url),
        Some(_) => Err(format!("{variable}: must be an http(s) URL")),
    }
}

/// Handles one delivery; `body` is read already.
pub fn handle(request: &IncomingRequest, body: &[u8]) -> Reply {
    // WeChat retries a 500: the event waits for the configuration to be fixed.
    let config = match V3Config::from_host(V3Use::Callbacks) {
        Ok(c) => c,
        Err(e) => return fail(500, &not_configured(&e)),
    };
    let forward_url = match forward_url(&config) {
        Ok(url) => url,
        Err(problem) => return fail(500, &format!("the gateway is not configured: {problem}")),
    };
    let headers: Vec<(String, String)> = request
        .headers()
        .entries()
        .into_iter()
        .filter_map(|(n, v)| Some((n, String::from_utf8(v).ok()?)))
        .collect();
    let Ok(body) = std::str::from_utf8(body) else {
        return fail(400, "the body is not UTF-8");
    };
    let now = crate::wasi::clocks::wall_clock::now().seconds as i64;
    let event = match config.merchant.read_coupon_use(&headers, body, now) {
        Ok(event) => event,
        Err(e) => return fail(e.http_status(), &e.to_string()),
    };
    let json = serde_json::to_vec(&event).expect("the event serialises");
    let forward_headers: Vec<(String, String)> = forward_headers(&event.id)
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    let forwarded = client::send_raw(
        "POST",
        forward_url,
        &forward_headers,
        &json,
        &config.call_options(),
    );
    after_forward(
        forwarded
            .map(|answer| answer.status)
            .map_err(|e| e.to_string()),
    )
}
