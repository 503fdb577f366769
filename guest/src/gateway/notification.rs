//! `POST /v1/notifications/wechatpay`: WeChat Pay's `COUPON.USE` callback, verified, decrypted
//! and forwarded.
//!
//! 1. The settings ([`NotificationConfig`], from `wasi:cli/environment`): the v3 merchant with
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

use wxcoupon_api::Reply;
use wxcoupon_core::settings::{self, Naming, Reader, Vars};
use wxcoupon_core::v3::merchant::{Merchant, MerchantSettings};
use wxcoupon_core::v3::notification::failure_body;

use crate::client;
use crate::wasi::http::types::IncomingRequest;

/// The header the event id is forwarded under, for the receiver's deduplication.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// What the route needs.
pub struct NotificationConfig {
    merchant: Merchant,
    forward_url: String,
}

/// Splits a PEM bundle into its blocks.
fn pem_blocks(bundle: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in bundle.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN ") {
            current.clear();
        }
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END ") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
}

impl NotificationConfig {
    /// Reads the settings from `(name, value)` pairs; every problem names its variable.
    pub fn from_vars(vars: Vec<(String, String)>) -> Result<NotificationConfig, String> {
        let vars = Vars::new(vars).only(&settings::GATEWAY_SETTINGS);
        let mut r = Reader::new(&vars, Naming::Variable);
        let mchid = r.text(&settings::MCH_ID);
        let serial = r.text(&settings::MERCHANT_SERIAL_NO);
        let apiv3_key = r.text(&settings::APIV3_KEY);
        let key_id = r.text(&settings::WECHATPAY_PUBLIC_KEY_ID);
        let key_pem = r.text(&settings::WECHATPAY_PUBLIC_KEY);
        let certificates = r.text(&settings::PLATFORM_CERTIFICATES);
        let forward_url = r.text(&settings::NOTIFY_FORWARD_URL);
        for (value, setting) in [
            (&mchid, &settings::MCH_ID),
            (&serial, &settings::MERCHANT_SERIAL_NO),
            (&apiv3_key, &settings::APIV3_KEY),
            (&forward_url, &settings::NOTIFY_FORWARD_URL),
        ] {
            if value.is_none() {
                r.problem(setting, settings::REQUIRED_RULE);
            }
        }
        if key_pem.is_none() && certificates.is_none() {
            r.problem(
                &settings::WECHATPAY_PUBLIC_KEY,
                "required (or platform certificates): a key to verify callbacks with",
            );
        }
        if key_pem.is_some() && key_id.is_none() {
            r.problem(
                &settings::WECHATPAY_PUBLIC_KEY_ID,
                "required with the public key",
            );
        }
        if let Some(url) = &forward_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                r.problem(&settings::NOTIFY_FORWARD_URL, "must be an http(s) URL");
            }
        }
        r.finish(Some(())).map_err(|e| e.one_line())?;
        let merchant = Merchant::new(&MerchantSettings {
            mchid: mchid.unwrap_or_default(),
            merchant_serial_no: serial.unwrap_or_default(),
            apiv3_key: apiv3_key.unwrap_or_default(),
            private_key_pem: None,
            wechatpay_public_key_id: key_pem.as_ref().and(key_id),
            wechatpay_public_key_pem: key_pem,
            platform_certificates: certificates.as_deref().map(pem_blocks).unwrap_or_default(),
            base_url: None,
        })
        .map_err(|e| e.to_string())?;
        Ok(NotificationConfig {
            merchant,
            forward_url: forward_url.unwrap_or_default(),
        })
    }
}

fn fail(status: u16, message: &str) -> Reply {
    Reply {
        status,
        body: failure_body(message).into_bytes(),
        headers: vec![],
    }
}

/// Handles one delivery; `body` is read already.
pub fn handle(request: &IncomingRequest, body: &[u8], options: &client::CallOptions) -> Reply {
    let config =
        match NotificationConfig::from_vars(crate::wasi::cli::environment::get_environment()) {
            Ok(c) => c,
            // WeChat retries a 500: the event waits for the configuration to be fixed.
            Err(problems) => {
                return fail(500, &format!("the gateway is not configured: {problems}"))
            }
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
    let forward_headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        (IDEMPOTENCY_KEY.to_string(), event.id.clone()),
        ("wechatpay-event-id".to_string(), event.id.clone()),
    ];
    match client::send_raw(
        "POST",
        &config.forward_url,
        &forward_headers,
        &json,
        options,
    ) {
        Ok(answer) if (200..300).contains(&answer.status) => Reply {
            status: 204,
            body: Vec::new(),
            headers: vec![],
        },
        Ok(answer) => fail(
            502,
            &format!(
                "the event was verified, but its forward was answered {}: deliver it again",
                answer.status
            ),
        ),
        Err(e) => fail(
            502,
            &format!("the event was verified, but its forward failed ({e}): deliver it again"),
        ),
    }
}
