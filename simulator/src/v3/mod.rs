//! API v3 (`/v3/marketing/favor` and `/v3/certificates`): the same merchant and the same stocks
//! as v2, spoken in v3's JSON with v3's authentication. Wire types, messages, signatures and
//! encryption all come from `wxcoupon_core::v3`, the one source of truth the clients use too.
//!
//! | module | owns |
//! |---|---|
//! | [`fixtures`] | the TEST ONLY key material the defaults embed |
//! | `keys` (private) | WeChat Pay's side: the platform key, the public key id, the platform certificates, rotation, the certificate list |
//! | `auth` (private) | verifying a request's `Authorization`; signing every answer (`Wechatpay-*` headers) and the signature faults |
//! | `handlers` (private) | the path table, the issue and query endpoints and a user's coupon list, v3 error bodies; no I/O |
//! | `stocks` (private) | create, start/pause/restart/stop, list stocks, a stock's merchants and items |
//! | `stock_life_cycle` (private) | the one table of stock state changes |
//! | `flows` (private) | the use-flow and refund-flow calls (unsigned answers) and the files they point at |
//! | `callbacks` (private) | setting and reading the notify URL |
//! | [`notify`] | delivering `COUPON.USE` callbacks: body, signature, retries, records, the probe |
//!
//! Choices where WeChat documents nothing:
//! - every request to a v3 endpoint needs a valid `Authorization` (the certificate download
//!   included); an unknown `mchid` or `serial_no`, a timestamp more than 300 s from the
//!   simulator's clock, or a bad signature are all 401 `SIGN_ERROR` "签名错误";
//! - every answer is signed, refusals and faulted statuses included (WeChat's SDKs verify only
//!   2xx; the vectors sign a 400 too), and so are 404 for an unknown `/v3/` path (code
//!   `RESOURCE_NOT_EXISTS`, not authenticated first) and 405 for a wrong method (code
//!   `INVALID_REQUEST`, with `Allow`);
//! - the key an answer is signed with follows the request's `Wechatpay-Serial`: the public key
//!   id → the platform key under that id; the current platform certificate's serial → its key;
//!   an *older* platform certificate's serial (after a rotation) → the **current** certificate,
//!   so a client holding only the old one must download again; anything else (or no header) →
//!   [`crate::config::AnswerKey`];
//! - the issue call's replay policy is in [`crate::state`]; its check order and codes are in
//!   `handlers`' doc, the other calls' in their modules' docs;
//! - stock objects write their state in the list filter's lower-case words (`running`, as
//!   answers in the wild show); read it with the core's `StockStatus::parse`;
//! - the simulator-only routes under `/v3/simulator/` (a flow file, and
//!   `POST /v3/simulator/coupons/{coupon_id}/use`) are **not** authenticated and not signed:
//!   they stand for WeChat's file server and for a payment using the coupon, not for any API;
//!   both listeners serve them.

pub(crate) mod auth;
pub(crate) mod callbacks;
pub mod fixtures;
pub(crate) mod flows;
pub(crate) mod handlers;
pub(crate) mod keys;
pub mod notify;
pub(crate) mod stock_life_cycle;
pub(crate) mod stocks;

pub use flows::FLOWS_PATH;
pub use notify::DeliveryRecord;

/// The admin route that uses a coupon: `POST {USE_COUPON_PATH}/{coupon_id}/use`.
pub const USE_COUPON_PATH: &str = "/v3/simulator/coupons";

/// File name of the WeChat Pay public key (SPKI PEM) in the certificate directory.
pub const WECHATPAY_PUBLIC_KEY_FILE: &str = "platform_pub.pem";
/// File name of the initial platform certificate.
pub const PLATFORM_CERT_FILE: &str = "platform_cert.pem";
/// File name of the merchant API private key (the TEST ONLY fixture key).
pub const MERCHANT_KEY_FILE: &str = "merchant_key.pem";
/// File name of the merchant API certificate.
pub const MERCHANT_CERT_FILE: &str = "merchant_cert.pem";

/// Unix seconds as RFC 3339 in Beijing time, the form v3 bodies use
/// (`2024-01-01T00:00:00+08:00`): the core's, which the clients read back.
pub(crate) use wxcoupon_core::time::format_rfc3339_beijing as rfc3339_beijing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_in_beijing_time() {
        assert_eq!(rfc3339_beijing(1_700_000_000), "2023-11-15T06:13:20+08:00");
        assert_eq!(
            rfc3339_beijing(crate::config::DEFAULT_BEGIN_TIME),
            "2024-01-01T00:00:00+08:00"
        );
    }
}
