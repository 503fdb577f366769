//! The one error type of the protocol core.
//!
//! Every variant says *which* field or part of the exchange is at fault and *what rule* it broke.
//! Messages never carry request values, so neither the API key nor any other secret can leak
//! through an error, a log line or a panic message built from one.

use std::fmt;

/// A request field, a merchant setting or a function argument broke a rule.
///
/// `field` uses the WeChat wire name where there is one (`coupon_stock_id`, `openid`) and a dotted
/// path for settings (`merchant.api_key`). `rule` is a short English sentence fragment such as
/// `"required"` or `"at most 32 characters (got 40)"`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FieldError {
    /// The field at fault.
    pub field: String,
    /// The rule it broke.
    pub rule: String,
}

impl FieldError {
    /// A field error from a field name and a rule.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// What WeChat advises doing after a business error (`err_code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum RetryAdvice {
    /// The request will fail the same way again: fix the input or accept the outcome.
    DoNotRetry,
    /// A passing fault: the same request may be sent again.
    Retry,
    /// The merchant is being throttled: send again after a pause.
    RetryLater,
    /// The coupon may have been issued anyway: query before sending again.
    ReconcileFirst,
}

impl RetryAdvice {
    /// Whether sending the same request again is a sound reaction (possibly after a pause).
    pub fn is_retryable(self) -> bool {
        matches!(self, RetryAdvice::Retry | RetryAdvice::RetryLater)
    }
}

/// WeChat accepted the call but refused the business operation (`result_code`/`ret_code` FAIL).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BusinessError {
    /// `err_code` as sent (symbolic, occasionally numeric); `None` when WeChat sent none.
    pub err_code: Option<String>,
    /// `err_code_des` as sent.
    pub err_code_des: Option<String>,
    /// `ret_msg` (send_coupon's per-openid failure text), when present.
    pub ret_msg: Option<String>,
    /// The documented meaning of `err_code`, when it is a known code.
    pub meaning: Option<String>,
    /// What to do next.
    pub advice: RetryAdvice,
    /// Whether sending the same request again is sound (`advice.is_retryable()`).
    pub retryable: bool,
}

impl BusinessError {
    /// A refusal with `err_code` and the texts WeChat sent with it; the documented meaning and
    /// the advice come from the table of known codes ([`crate::err_code`]), `DoNotRetry` for an
    /// unknown or missing code.
    pub fn new(
        err_code: Option<String>,
        err_code_des: Option<String>,
        ret_msg: Option<String>,
    ) -> BusinessError {
        let info = err_code.as_deref().and_then(crate::err_code::lookup);
        let advice = info.map_or(RetryAdvice::DoNotRetry, |i| i.advice);
        BusinessError {
            err_code,
            err_code_des,
            ret_msg,
            meaning: info.map(|i| i.meaning.to_string()),
            advice,
            retryable: advice.is_retryable(),
        }
    }
}

/// What is wrong with a response signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum SignatureError {
    /// The response has no `sign` and the merchant requires signed responses.
    Missing,
    /// `sign` is not 32 (MD5) or 64 (HMAC-SHA256) hexadecimal characters.
    Malformed,
    /// `sign` does not match the fields and the API key.
    Mismatch,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => {
                "sign: the response is unsigned and the signature policy requires a signature"
            }
            SignatureError::Malformed => {
                "sign: must be 32 (MD5) or 64 (HMAC-SHA256) hexadecimal characters"
            }
            SignatureError::Mismatch => "sign: does not match the response fields and the API key",
        })
    }
}

/// A response that cannot be read as the API's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MalformedResponse {
    /// The field at fault, when one is (`None` for document-level problems).
    pub field: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl MalformedResponse {
    /// A problem with the document as a whole.
    pub fn document(problem: impl Into<String>) -> Self {
        Self {
            field: None,
            problem: problem.into(),
        }
    }

    /// A problem with one field.
    pub fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for MalformedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "malformed response: {field}: {}", self.problem),
            None => write!(f, "malformed response: {}", self.problem),
        }
    }
}

/// Everything that can go wrong between a typed request and a typed response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "kebab-case"))]
pub enum Error {
    /// Bad input: a request field, a merchant setting or an argument broke a rule.
    InvalidInput(FieldError),
    /// The HTTP status was not 200 (WeChat answers every v2 call with 200).
    UnexpectedStatus {
        /// The status received.
        status: u16,
    },
    /// The body is not a readable answer (bad XML, oversized, a field of the wrong type…).
    MalformedResponse(MalformedResponse),
    /// `return_code` was FAIL: WeChat refused the call itself (signature, parameters, certificate).
    Protocol {
        /// `return_msg`, WeChat's reason.
        return_msg: String,
    },
    /// `result_code` or `ret_code` was FAIL: the call arrived but the operation was refused.
    Business(BusinessError),
    /// The response signature is missing (strict mode), malformed or wrong.
    Signature {
        /// What is wrong.
        problem: SignatureError,
    },
    /// Connecting, sending or receiving failed or timed out. Produced by the HTTP layer (the
    /// component's client, a host), never by the sans-IO core itself.
    Transport {
        /// What failed, without secrets.
        message: String,
        /// Whether the request may have reached WeChat: if so, query before sending again.
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
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::InvalidInput(FieldError::new(field, rule))
    }

    /// Whether, after this error, it is **unknown** whether WeChat Pay carried the call out —
    /// for `send_coupon`, whether a coupon was issued. The one rule every layer applies (the
    /// component, the CLI, the JSON API, the Envoy filter, the language hosts): an outcome is
    /// unknown once the request bytes may have left, unless WeChat's own answer says the call
    /// was refused.
    ///
    /// | error | unknown? |
    /// |---|---|
    /// | `InvalidInput`, `Denied` | no: nothing was sent |
    /// | `Transport` | when `may_have_reached_wechat` |
    /// | `UnexpectedStatus`, `MalformedResponse`, `Signature` | yes: an answer came that cannot be trusted or read |
    /// | `Protocol` (`return_code` FAIL) | no: WeChat refused the call |
    /// | `Business` | when its advice is `Retry` or `ReconcileFirst` (`SYSTEMERROR`, `INVALID_REQUEST`): WeChat says it may have acted |
    ///
    /// The remedy is always the same, and always safe: send the same request again with the
    /// same `partner_trade_no` (WeChat Pay answers a repeat with the first outcome), or query
    /// first. Queries change nothing, so their outcome is never unknown.
    pub fn outcome_unknown(&self, api: crate::Api) -> bool {
        if api != crate::Api::SendCoupon {
            return false;
        }
        match self {
            Error::InvalidInput(_) | Error::Denied { .. } | Error::Protocol { .. } => false,
            Error::Transport {
                may_have_reached_wechat,
                ..
            } => *may_have_reached_wechat,
            Error::UnexpectedStatus { .. }
            | Error::MalformedResponse(_)
            | Error::Signature { .. } => true,
            Error::Business(b) => {
                matches!(b.advice, RetryAdvice::Retry | RetryAdvice::ReconcileFirst)
            }
        }
    }
}

/// What to tell a caller whose `send_coupon` outcome is unknown ([`Error::outcome_unknown`]).
pub const OUTCOME_UNKNOWN_ADVICE: &str = "the coupon may have been issued: retry with the same \
     partner_trade_no (WeChat Pay answers a repeat with the first outcome, so nothing is issued \
     twice), or query the coupon first";

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::InvalidInput(e)
    }
}

impl From<MalformedResponse> for Error {
    fn from(e: MalformedResponse) -> Self {
        Error::MalformedResponse(e)
    }
}

impl From<SignatureError> for Error {
    fn from(problem: SignatureError) -> Self {
        Error::Signature { problem }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput(e) => write!(f, "invalid input: {e}"),
            Error::UnexpectedStatus { status } => {
                write!(
                    f,
                    "unexpected HTTP status {status} (WeChat Pay answers v2 calls with 200)"
                )
            }
            Error::MalformedResponse(e) => e.fmt(f),
            Error::Protocol { return_msg } => {
                write!(
                    f,
                    "WeChat Pay refused the call (return_code FAIL): {return_msg}"
                )
            }
            Error::Business(b) => {
                write!(f, "WeChat Pay refused the operation")?;
                if let Some(code) = &b.err_code {
                    write!(f, ": {code}")?;
                }
                if let Some(meaning) = &b.meaning {
                    write!(f, " ({meaning})")?;
                }
                if let Some(des) = b.err_code_des.as_ref().or(b.ret_msg.as_ref()) {
                    write!(f, " — {des}")?;
                }
                Ok(())
            }
            Error::Signature { problem } => problem.fmt(f),
            Error::Transport {
                message,
                may_have_reached_wechat,
            } => {
                write!(f, "transport error: {message}")?;
                if *may_have_reached_wechat {
                    write!(
                        f,
                        " (the request may have reached WeChat Pay: query before retrying)"
                    )?;
                }
                Ok(())
            }
            Error::Denied { message } => write!(f, "outbound request denied: {message}"),
        }
    }
}

impl std::error::Error for Error {}
