//! What WeChat's `err_code` values mean and whether a retry is sound.
//!
//! Codes are kept as text: real traffic carries symbolic codes (`USER_AL_GET_COUPON`) where the
//! old documentation shows numbers (`268456007`), and future codes must pass through unharmed.

use crate::error::RetryAdvice;

/// The documented meaning of a code and the advice that goes with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrCodeInfo {
    /// The meaning, in English.
    pub meaning: &'static str,
    /// What to do next.
    pub advice: RetryAdvice,
}

use RetryAdvice::{DoNotRetry, ReconcileFirst, Retry, RetryLater};

const TABLE: &[(&str, &str, RetryAdvice)] = &[
    (
        "USER_AL_GET_COUPON",
        "the user has already received the maximum number of coupons of this stock",
        DoNotRetry,
    ),
    (
        "AL_STOCK_OVER",
        "the stock is exhausted or the campaign has ended",
        DoNotRetry,
    ),
    (
        "FREQ_OVER_LIMIT",
        "sending too frequently; slow down",
        RetryLater,
    ),
    (
        "PARAM_ERROR",
        "a parameter failed WeChat's checks",
        DoNotRetry,
    ),
    (
        "SIGN_ERROR",
        "the signature is wrong (check the API key and sign type)",
        DoNotRetry,
    ),
    (
        "CA_ERROR",
        "the client certificate is missing or wrong",
        DoNotRetry,
    ),
    (
        "REQ_PARAM_XML_ERR",
        "the request XML is malformed",
        DoNotRetry,
    ),
    ("COUPON_STOCK_ID_EMPTY", "the stock id is empty", DoNotRetry),
    ("MCH_ID_EMPTY", "the merchant id is empty", DoNotRetry),
    ("CODE_2_ID_ERR", "the merchant id is invalid", DoNotRetry),
    ("OPEN_ID_EMPTY", "the openid is empty", DoNotRetry),
    (
        "ERR_VERIFY_SSL_SERIAL",
        "the client certificate's serial could not be read",
        DoNotRetry,
    ),
    (
        "ERR_VERIFY_SSL_SN",
        "the client certificate's DN could not be read",
        DoNotRetry,
    ),
    (
        "CA_VERIFY_FAILED",
        "the client certificate failed verification",
        DoNotRetry,
    ),
    (
        "STOCK_IS_NOT_VALID",
        "the stock is not valid (not active, voided or stopped)",
        DoNotRetry,
    ),
    (
        "COUPON_STOCK_ID_NOT_VALID",
        "the stock id is wrong or not owned by this merchant",
        DoNotRetry,
    ),
    (
        "GET_COUPON_STOCK_FAIL",
        "WeChat failed to read the stock",
        Retry,
    ),
    (
        "COUPON_STOCK_NOT_FOUND",
        "the stock does not exist",
        DoNotRetry,
    ),
    (
        "COUPON_NOT_FOUND",
        "no such coupon for this openid and stock",
        DoNotRetry,
    ),
    ("NETWORK ERROR", "WeChat's network had a problem", Retry),
    ("NETWORK_ERROR", "WeChat's network had a problem", Retry),
    ("NETWORKERROR", "WeChat's network had a problem", Retry),
    ("SYSTEMERROR", "WeChat had a system error", Retry),
    (
        "INVALID_REQUEST",
        "the request was refused, but the coupon may have been issued anyway",
        ReconcileFirst,
    ),
];

/// Looks a code up. Unknown codes give `None`.
pub fn lookup(err_code: &str) -> Option<ErrCodeInfo> {
    let code = err_code.trim();
    TABLE
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, meaning, advice)| ErrCodeInfo {
            meaning,
            advice: *advice,
        })
}

/// The advice for a code, `DoNotRetry` for unknown codes (the safe default for issuing money).
pub fn advice(err_code: &str) -> RetryAdvice {
    lookup(err_code).map_or(DoNotRetry, |info| info.advice)
}
