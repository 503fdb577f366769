//! A v3 request in its two steps: [`Request`] (what a call sends, before signing) and
//! [`Request::to_sign`] (the exact message its signature covers, for a given time and nonce),
//! then [`SignedRequest`] (the same with the `Authorization` header and the rest, ready for any
//! HTTP client). The signature in between is the caller's: made natively, by an HSM, or by
//! [`MerchantSigner`](super::rsa::MerchantSigner).

use super::auth::{authorization, request_message, AuthorizationParams, SERIAL_HEADER};
use super::error::Error;

/// The HTTP methods v3 coupon calls use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Queries.
    Get,
    /// Issuing (and, in part 2, the stock life cycle).
    Post,
}

impl Method {
    /// As it goes on the wire and into the signed message.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// What a call sends, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The canonical URL: the path (segments percent-encoded) and the raw query, as sent.
    pub url: String,
    /// The JSON body, exactly as sent (empty for GET).
    pub body: String,
}

/// A request with the time and nonce of its signature fixed, and the message to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToSign {
    /// The request.
    pub request: Request,
    /// Unix seconds.
    pub timestamp: i64,
    /// The nonce (32 letters and digits, as every SDK sends).
    pub nonce: String,
    /// `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`: sign exactly these bytes.
    pub message: String,
}

impl Request {
    /// Fixes the time and nonce and gives the message to sign. The nonce must be 1–32 letters
    /// or digits (it goes in a quoted header parameter).
    pub fn to_sign(self, timestamp: i64, nonce: &str) -> Result<ToSign, Error> {
        if nonce.is_empty() || nonce.len() > 32 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::invalid("nonce", "must be 1–32 letters or digits"));
        }
        if timestamp <= 0 {
            return Err(Error::invalid(
                "timestamp",
                "must be Unix seconds after 1970",
            ));
        }
        let message = request_message(
            self.method.as_str(),
            &self.url,
            &timestamp.to_string(),
            nonce,
            &self.body,
        );
        Ok(ToSign {
            request: self,
            timestamp,
            nonce: nonce.to_string(),
            message,
        })
    }
}

/// A signed request: what an HTTP client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// The method.
    pub method: Method,
    /// The full URL: the merchant's base URL and the canonical URL.
    pub url: String,
    /// Every header to send (not `host` or `content-length`: the HTTP layer owns those).
    pub headers: Vec<(String, String)>,
    /// The body, the bytes that were signed.
    pub body: String,
}

/// Who signs, for the header: the merchant and its API certificate serial, the key answers are
/// to be signed with, and the base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer<'a> {
    /// `mchid`.
    pub mchid: &'a str,
    /// The merchant API certificate serial, upper-case hex.
    pub serial_no: &'a str,
    /// The WeChat Pay key the merchant verifies with (`Wechatpay-Serial`: WeChat answers with
    /// the key the request names), when one is known.
    pub wechatpay_serial: Option<&'a str>,
    /// `https://api.mch.weixin.qq.com` or the backup, or a test server; no trailing slash.
    pub base_url: &'a str,
}

/// The `user-agent` v3 requests carry.
pub const USER_AGENT: &str = concat!("wxcoupon/", env!("CARGO_PKG_VERSION"), " (API v3)");

impl ToSign {
    /// The request with its `Authorization` header, from the Base64 signature of
    /// [`ToSign::message`]. The signature is checked only for its form (Base64 characters):
    /// a wrong one is WeChat's `401 SIGN_ERROR`.
    pub fn signed(self, signer: &Signer<'_>, signature: &str) -> Result<SignedRequest, Error> {
        let signature = signature.trim();
        if signature.is_empty()
            || !signature
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            return Err(Error::invalid("signature", "must be Base64"));
        }
        let auth = authorization(&AuthorizationParams {
            mchid: signer.mchid.to_string(),
            nonce_str: self.nonce,
            signature: signature.to_string(),
            timestamp: self.timestamp.to_string(),
            serial_no: signer.serial_no.to_string(),
        });
        let mut headers = vec![
            ("authorization".to_string(), auth),
            ("accept".to_string(), "application/json".to_string()),
            ("user-agent".to_string(), USER_AGENT.to_string()),
        ];
        if !self.request.body.is_empty() {
            headers.push(("content-type".to_string(), "application/json".to_string()));
        }
        if let Some(serial) = signer.wechatpay_serial {
            headers.push((SERIAL_HEADER.to_ascii_lowercase(), serial.to_string()));
        }
        Ok(SignedRequest {
            method: self.request.method,
            url: format!("{}{}", signer.base_url, self.request.url),
            headers,
            body: self.request.body,
        })
    }
}
