//! The error of every v3 call, and what WeChat's v3 refusals mean.
//!
//! v3 answers a refusal with a non-2xx status and `{code, message, detail}`; this module turns
//! that into the same kinds of error as v2 (a business refusal with a code, its meaning and the
//! advice), keeps the status, and adds what v2 has no equivalent for: an answer whose v3
//! signature does not hold ([`AnswerRefusal`]). Like [`crate::Error`], no variant carries a
//! secret or a request value.

use std::fmt;

use crate::error::{FieldError, MalformedResponse, RetryAdvice};

pub use super::auth::AnswerRefusal;

/// `detail` of a v3 refusal: which part of the request WeChat found wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RefusalDetail {
    /// The field (`/body/stock_id`).
    pub field: Option<String>,
    /// What WeChat saw there, as text.
    pub value: Option<String>,
    /// What is wrong with it.
    pub issue: Option<String>,
    /// Where it is (`body`, `query`, `path`).
    pub location: Option<String>,
}

/// WeChat refused the call: a non-2xx answer, `{code, message}` read from its body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Refusal {
    /// The HTTP status (400, 401, 403, 404, 429, 5xx…).
    pub status: u16,
    /// `code` (`PARAM_ERROR`, `SIGN_ERROR`, `RATELIMIT_EXCEEDED`…); `None` when the body had
    /// none (a 5xx from a proxy, a 202 without a body).
    pub code: Option<String>,
    /// `message`, WeChat's text.
    pub message: Option<String>,
    /// `detail`, when sent.
    pub detail: Option<RefusalDetail>,
    /// The documented meaning of `code`, when it is a known one.
    pub meaning: Option<String>,
    /// What to do next: from the code when it is known, else from the status.
    pub advice: RetryAdvice,
}

impl Refusal {
    /// A refusal with its advice from the code table, else the status.
    pub fn new(
        status: u16,
        code: Option<String>,
        message: Option<String>,
        detail: Option<RefusalDetail>,
    ) -> Refusal {
        let known = code.as_deref().and_then(code_info);
        Refusal {
            status,
            meaning: known.map(|(meaning, _)| meaning.to_string()),
            advice: known.map_or_else(|| status_advice(status), |(_, advice)| advice),
            code,
            message,
            detail,
        }
    }
}

/// Everything that can go wrong in a v3 call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "kebab-case"))]
pub enum Error {
    /// Bad input: a request field or a merchant setting broke a rule. Nothing was sent.
    InvalidInput(FieldError),
    /// WeChat refused the call (a non-2xx answer with its `{code, message}`).
    Refused(Box<Refusal>),
    /// A 2xx answer whose v3 signature does not hold (it may be forged or altered: nothing in it
    /// is used).
    AnswerNotVerified {
        /// Which check failed.
        refusal: AnswerRefusal,
    },
    /// The body is not the answer expected (not JSON, a field missing or of the wrong type,
    /// too large).
    MalformedResponse(MalformedResponse),
    /// Connecting, sending or receiving failed or timed out (the HTTP layer's error).
    Transport {
        /// What failed, without secrets.
        message: String,
        /// Whether the request may have reached WeChat.
        may_have_reached_wechat: bool,
    },
    /// The host refused the outbound request (allow-list); nothing was sent.
    Denied {
        /// Why, naming the refused host.
        message: String,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Error {
        Error::InvalidInput(FieldError::new(field, rule))
    }

    /// What to do next, for any error: the refusal's own advice; `Retry` for a transport
    /// error (a v3 call is safe to repeat: issuing is idempotent on `out_request_no`) and for
    /// an answer that cannot be read or trusted; `DoNotRetry` for bad input and a denial.
    pub fn advice(&self) -> RetryAdvice {
        match self {
            Error::InvalidInput(_) | Error::Denied { .. } => RetryAdvice::DoNotRetry,
            Error::Refused(r) => r.advice,
            Error::AnswerNotVerified { .. }
            | Error::MalformedResponse(_)
            | Error::Transport { .. } => RetryAdvice::Retry,
        }
    }

    /// Whether, after this error, it is unknown whether WeChat issued the coupon (for the issue
    /// call; queries change nothing). Unknown once the request may have left, unless WeChat's
    /// own answer says it refused: a transport error that may have reached WeChat, an answer
    /// that cannot be read or trusted, and the refusals that say "try again" (202, 5xx,
    /// `SYSTEM_ERROR`). The remedy is always [`ISSUE_OUTCOME_UNKNOWN_ADVICE`].
    pub fn issue_outcome_unknown(&self) -> bool {
        match self {
            Error::InvalidInput(_) | Error::Denied { .. } => false,
            Error::Transport {
                may_have_reached_wechat,
                ..
            } => *may_have_reached_wechat,
            Error::AnswerNotVerified { .. } | Error::MalformedResponse(_) => true,
            Error::Refused(r) => r.status == 202 || r.status >= 500,
        }
    }
}

/// What to tell a caller whose v3 issue outcome is unknown ([`Error::issue_outcome_unknown`]).
pub const ISSUE_OUTCOME_UNKNOWN_ADVICE: &str = "the coupon may have been issued: send the same \
     request again with the same out_request_no (WeChat Pay answers a repeat with the coupon \
     already issued, never a second one)";

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Error {
        Error::InvalidInput(e)
    }
}

impl From<MalformedResponse> for Error {
    fn from(e: MalformedResponse) -> Error {
        Error::MalformedResponse(e)
    }
}

impl From<AnswerRefusal> for Error {
    fn from(refusal: AnswerRefusal) -> Error {
        Error::AnswerNotVerified { refusal }
    }
}

impl fmt::Display for AnswerRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerRefusal::MissingHeader(name) => write!(f, "{name}: missing"),
            AnswerRefusal::MalformedTimestamp => {
                write!(f, "Wechatpay-Timestamp: must be Unix seconds")
            }
            AnswerRefusal::StaleTimestamp { skew_seconds } => write!(
                f,
                "Wechatpay-Timestamp: {skew_seconds} s from this clock, more than the {} s allowed",
                super::auth::MAX_CLOCK_SKEW_SECONDS
            ),
            AnswerRefusal::UnknownSerial => write!(
                f,
                "Wechatpay-Serial: names neither the WeChat Pay public key nor a platform certificate held"
            ),
            AnswerRefusal::Signature => write!(
                f,
                "Wechatpay-Signature: does not verify with the key Wechatpay-Serial names"
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput(e) => write!(f, "invalid input: {e}"),
            Error::Refused(r) => {
                write!(f, "WeChat Pay refused the call (HTTP {})", r.status)?;
                if let Some(code) = &r.code {
                    write!(f, ": {code}")?;
                }
                if let Some(meaning) = &r.meaning {
                    write!(f, " ({meaning})")?;
                }
                if let Some(message) = &r.message {
                    write!(f, " — {message}")?;
                }
                Ok(())
            }
            Error::AnswerNotVerified { refusal } => {
                write!(f, "the answer is not verified: {refusal}")
            }
            Error::MalformedResponse(e) => e.fmt(f),
            Error::Transport {
                message,
                may_have_reached_wechat,
            } => {
                write!(f, "transport error: {message}")?;
                if *may_have_reached_wechat {
                    f.write_str(" (the request may have reached WeChat Pay)")?;
                }
                Ok(())
            }
            Error::Denied { message } => write!(f, "outbound request denied: {message}"),
        }
    }
}

impl std::error::Error for Error {}

use RetryAdvice::{DoNotRetry, Retry, RetryLater};

/// The v3 codes seen on `marketing/favor` and what they call for (spec §3). `REQUEST_BLOCKED`
/// is intermittent and later succeeds with the same parameters, so it waits and retries.
const CODES: &[(&str, &str, RetryAdvice)] = &[
    ("PARAM_ERROR", "a parameter failed WeChat's checks", DoNotRetry),
    ("INVALID_REQUEST", "the request does not fit the stock's rules or state", DoNotRetry),
    ("SIGN_ERROR", "WeChat Pay did not accept the request signature: check the merchant serial and private key", DoNotRetry),
    ("NO_AUTH", "the merchant may not do this (product not enabled, or not the stock's creator)", DoNotRetry),
    ("RESOURCE_NOT_EXISTS", "no such stock, coupon or user", DoNotRetry),
    ("NOT_ENOUGH", "the stock's budget is used up", DoNotRetry),
    ("USER_ACCOUNT_ABNORMAL", "the user is blocked by WeChat's anti-abuse checks", DoNotRetry),
    ("RULE_LIMIT", "the user has reached the stock's limit", DoNotRetry),
    ("REQUEST_BLOCKED", "blocked for now; the same request later usually succeeds", RetryLater),
    ("RATELIMIT_EXCEEDED", "too many calls: slow down", RetryLater),
    ("FREQUENCY_LIMITED", "too many calls: slow down", RetryLater),
    ("SYSTEM_ERROR", "WeChat Pay is busy: retry with the same parameters", Retry),
    ("SERVICE_UNAVAILABLE", "WeChat Pay is unavailable: retry with the same parameters", Retry),
];

/// The meaning and advice of a known v3 `code`.
pub fn code_info(code: &str) -> Option<(&'static str, RetryAdvice)> {
    CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, meaning, advice)| (*meaning, *advice))
}

/// The advice for a status whose code is unknown: 202 and 5xx retry with the same parameters,
/// 429 waits first, everything else (400, 401, 403, 404…) never retries unchanged.
pub fn status_advice(status: u16) -> RetryAdvice {
    match status {
        202 | 500..=599 => Retry,
        429 => RetryLater,
        _ => DoNotRetry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_follows_the_code_then_the_status() {
        let r = |status, code: Option<&str>| Refusal::new(status, code.map(Into::into), None, None);
        assert_eq!(r(400, Some("PARAM_ERROR")).advice, DoNotRetry);
        assert_eq!(r(403, Some("NO_AUTH")).advice, DoNotRetry);
        assert_eq!(r(429, Some("RATELIMIT_EXCEEDED")).advice, RetryLater);
        assert_eq!(r(500, Some("SYSTEM_ERROR")).advice, Retry);
        assert_eq!(r(502, None).advice, Retry);
        assert_eq!(r(202, None).advice, Retry);
        assert_eq!(r(429, None).advice, RetryLater);
        assert_eq!(r(400, Some("SOMETHING_NEW")).advice, DoNotRetry);
        assert_eq!(r(503, Some("SOMETHING_NEW")).advice, Retry);
        assert!(r(400, Some("PARAM_ERROR")).meaning.is_some());
    }

    #[test]
    fn an_issue_is_unknown_only_when_wechat_may_have_acted() {
        let refused = |status| Error::Refused(Box::new(Refusal::new(status, None, None, None)));
        assert!(refused(500).issue_outcome_unknown());
        assert!(refused(202).issue_outcome_unknown());
        assert!(!refused(400).issue_outcome_unknown());
        assert!(!refused(429).issue_outcome_unknown());
        assert!(Error::from(AnswerRefusal::Signature).issue_outcome_unknown());
        assert!(!Error::invalid("openid", "required").issue_outcome_unknown());
        let transport = |reached| Error::Transport {
            message: "reset".into(),
            may_have_reached_wechat: reached,
        };
        assert!(transport(true).issue_outcome_unknown());
        assert!(!transport(false).issue_outcome_unknown());
    }
}
