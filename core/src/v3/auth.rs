//! API v3 authentication as data: what is signed, what is verified, and in which order the
//! checks run — with no cryptography here.
//!
//! The RSA work stays outside on purpose (a two-step): the caller signs [`request_message`] with
//! the merchant's private key wherever that key lives (natively: ~0.5 ms, against ~7–10 ms inside
//! wasm; or an HSM/KMS that never hands the key out) and hands the Base64 signature to
//! [`authorization`]. For answers and callbacks, [`check_signed_answer`] runs every check before
//! the signature — headers present → clock skew → key chosen by `Wechatpay-Serial` — and returns
//! the [`ToVerify`] message and signature for the caller's SHA256-RSA verification.
//!
//! The rules (`../shared/spec/wxpay-v3-favor.md`, `../shared/spec/v3-vectors/`):
//! - request message `METHOD\nCANONICAL_URL\nTIMESTAMP\nNONCE\nBODY\n`, every line ending in LF,
//!   BODY empty for GET, CANONICAL_URL the path and raw query exactly as sent;
//! - `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",
//!   timestamp="…",serial_no="…"` (the parameters' order carries no meaning);
//! - answer message `Wechatpay-Timestamp\nWechatpay-Nonce\nBODY\n` over the raw body;
//! - an answer's timestamp within [`MAX_CLOCK_SKEW_SECONDS`] of now, both ways (300 s accepted,
//!   301 s refused).

use std::collections::BTreeMap;

/// The scheme word of the `Authorization` header.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// How far an answer's `Wechatpay-Timestamp` may be from the verifier's clock, either way.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

/// The headers of a signed answer or callback, by their canonical names.
pub const TIMESTAMP_HEADER: &str = "Wechatpay-Timestamp";
/// See [`TIMESTAMP_HEADER`].
pub const NONCE_HEADER: &str = "Wechatpay-Nonce";
/// See [`TIMESTAMP_HEADER`].
pub const SERIAL_HEADER: &str = "Wechatpay-Serial";
/// See [`TIMESTAMP_HEADER`].
pub const SIGNATURE_HEADER: &str = "Wechatpay-Signature";

/// The message a request's signature covers.
pub fn request_message(
    method: &str,
    canonical_url: &str,
    timestamp: &str,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{canonical_url}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The part of a URL the request message names: its path and raw query, without scheme and host
/// (`https://api.mch.weixin.qq.com/v3/x?a=1` → `/v3/x?a=1`). A URL that is already a path is
/// returned as it is; no sorting, no re-encoding.
pub fn canonical_url(url: &str) -> &str {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return url;
    };
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    }
}

/// The five parameters of the `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationParams {
    /// The merchant id (`mchid`).
    pub mchid: String,
    /// The request's nonce (`nonce_str`), the one in the signed message.
    pub nonce_str: String,
    /// The Base64 SHA256-RSA signature of [`request_message`].
    pub signature: String,
    /// The request's Unix time in seconds, the one in the signed message.
    pub timestamp: String,
    /// The merchant API certificate's serial, upper-case hex.
    pub serial_no: String,
}

/// The `Authorization` header value.
pub fn authorization(p: &AuthorizationParams) -> String {
    format!(
        "{AUTH_SCHEME} mchid=\"{}\",nonce_str=\"{}\",signature=\"{}\",timestamp=\"{}\",serial_no=\"{}\"",
        p.mchid, p.nonce_str, p.signature, p.timestamp, p.serial_no
    )
}

/// Why an `Authorization` header cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizationError {
    /// It does not start with [`AUTH_SCHEME`] and a space.
    Scheme,
    /// A `key="value"` pair is broken, repeated or unknown, or one of the five is missing: named.
    Parameter(String),
}

/// Reads an `Authorization` header, its parameters in any order (the SDKs each use another).
pub fn parse_authorization(header: &str) -> Result<AuthorizationParams, AuthorizationError> {
    let rest = header
        .strip_prefix(AUTH_SCHEME)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or(AuthorizationError::Scheme)?;
    let mut found: BTreeMap<&str, &str> = BTreeMap::new();
    for pair in rest.split(',') {
        let (key, value) = pair
            .trim()
            .split_once('=')
            .ok_or_else(|| AuthorizationError::Parameter(pair.trim().to_string()))?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| AuthorizationError::Parameter(key.to_string()))?;
        let known = ["mchid", "nonce_str", "signature", "timestamp", "serial_no"];
        if !known.contains(&key) || found.insert(key, value).is_some() {
            return Err(AuthorizationError::Parameter(key.to_string()));
        }
    }
    let mut take = |key: &str| {
        found
            .remove(key)
            .map(str::to_string)
            .ok_or_else(|| AuthorizationError::Parameter(key.to_string()))
    };
    Ok(AuthorizationParams {
        mchid: take("mchid")?,
        nonce_str: take("nonce_str")?,
        signature: take("signature")?,
        timestamp: take("timestamp")?,
        serial_no: take("serial_no")?,
    })
}

/// The canonical name of one of the four signed-answer headers, named in any case (an unknown
/// name reads as the signature header: only those four are ever named missing).
pub fn header_name(name: &str) -> &'static str {
    [
        TIMESTAMP_HEADER,
        NONCE_HEADER,
        SERIAL_HEADER,
        SIGNATURE_HEADER,
    ]
    .into_iter()
    .find(|h| h.eq_ignore_ascii_case(name))
    .unwrap_or(SIGNATURE_HEADER)
}

/// The message an answer's (or a callback's) signature covers.
pub fn response_message(timestamp: &str, nonce: &str, body: &str) -> String {
    format!("{timestamp}\n{nonce}\n{body}\n")
}

/// Why a signed answer is refused before or at its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "check", content = "header", rename_all = "kebab-case")
)]
pub enum AnswerRefusal {
    /// A `Wechatpay-*` header is absent or empty: named.
    MissingHeader(&'static str),
    /// `Wechatpay-Timestamp` is not a number of seconds.
    MalformedTimestamp,
    /// `Wechatpay-Timestamp` is more than [`MAX_CLOCK_SKEW_SECONDS`] from the verifier's clock.
    StaleTimestamp {
        /// The answer's time minus the verifier's, in seconds.
        skew_seconds: i64,
    },
    /// `Wechatpay-Serial` names no key the verifier holds (neither the WeChat Pay public key id
    /// nor a platform certificate serial).
    UnknownSerial,
    /// The signature does not verify with the key chosen (the caller's verdict).
    Signature,
}

/// What is left for the caller's SHA256-RSA verification once every other check has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToVerify {
    /// The key to verify with: the `Wechatpay-Serial` the answer named, which the verifier
    /// holds.
    pub serial: String,
    /// The message the signature covers ([`response_message`]).
    pub message: String,
    /// The Base64 signature.
    pub signature: String,
}

/// The checks of a signed answer before its signature, in the order every SDK runs them:
/// the four headers present → the timestamp within [`MAX_CLOCK_SKEW_SECONDS`] of `now` (Unix
/// seconds) → `holds(serial)`, whether the verifier has that key. `header(name)` looks a header
/// up by its canonical name (case-insensitively, as HTTP names are).
pub fn check_signed_answer<'h>(
    header: impl Fn(&str) -> Option<&'h str>,
    body: &str,
    now: i64,
    holds: impl Fn(&str) -> bool,
) -> Result<ToVerify, AnswerRefusal> {
    let present = |name: &'static str| {
        header(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(AnswerRefusal::MissingHeader(name))
    };
    let timestamp = present(TIMESTAMP_HEADER)?;
    let nonce = present(NONCE_HEADER)?;
    let serial = present(SERIAL_HEADER)?;
    let signature = present(SIGNATURE_HEADER)?;
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| AnswerRefusal::MalformedTimestamp)?;
    let skew_seconds = seconds.saturating_sub(now);
    if skew_seconds.abs() > MAX_CLOCK_SKEW_SECONDS {
        return Err(AnswerRefusal::StaleTimestamp { skew_seconds });
    }
    if !holds(serial) {
        return Err(AnswerRefusal::UnknownSerial);
    }
    Ok(ToVerify {
        serial: serial.to_string(),
        message: response_message(timestamp, nonce, body),
        signature: signature.to_string(),
    })
}
