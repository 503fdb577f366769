//! The API's one error shape and how every failure maps to it.
//!
//! ```json
//! {"code": "ALREADY_RECEIVED", "message": "…", "wechat_err_code": "USER_AL_GET_COUPON",
//!  "retryable": false}
//! ```
//!
//! `wechat_err_code` is present when WeChat Pay sent one; `field` names the request field at
//! fault for `INVALID_INPUT`; `partner_trade_no` is on every `POST /v1/coupons` error raised after
//! the number was fixed, so a caller whose number was generated can retry with it;
//! `outcome_unknown: true` says the coupon may have been issued (the request may have reached
//! WeChat Pay and no trustworthy answer came back — the core's one rule,
//! `wxcoupon_core::Error::outcome_unknown`): retry with the same `partner_trade_no`.
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `INVALID_INPUT` | a field broke a rule (the message names field and rule); WeChat's `PARAM_ERROR`, `OPEN_ID_EMPTY`, `COUPON_STOCK_ID_EMPTY` |
//! | 400 | `INVALID_JSON` | the body is not a JSON object, or a key appears twice in one object (`field` names it) |
//! | 401 | `UNAUTHORIZED` | a `/v1/` route without an accepted bearer token, when callers are configured (`www-authenticate` header; see [`crate::callers`]) |
//! | 404 | `ROUTE_NOT_FOUND` | no such route |
//! | 404 | `STOCK_NOT_FOUND` | `COUPON_STOCK_ID_NOT_VALID`, `COUPON_STOCK_NOT_FOUND` |
//! | 404 | `COUPON_NOT_FOUND` | `COUPON_NOT_FOUND` |
//! | 405 | `METHOD_NOT_ALLOWED` | the route exists with another method (`Allow` header) |
//! | 409 | `ALREADY_RECEIVED` | `USER_AL_GET_COUPON`: the user's quota of this stock is used up |
//! | 409 | `STOCK_UNAVAILABLE` | `AL_STOCK_OVER`, `STOCK_IS_NOT_VALID`: exhausted, not active, ended |
//! | 413 | `BODY_TOO_LARGE` | the body is over [`crate::MAX_BODY_BYTES`] |
//! | 421 | `MISDIRECTED_REQUEST` | `wxcoupon serve` on loopback: a `Host` it does not answer to (DNS rebinding) |
//! | 415 | `UNSUPPORTED_MEDIA_TYPE` | a `POST` without a JSON `content-type` (absent included) |
//! | 429 | `RATE_LIMITED` | `FREQ_OVER_LIMIT` |
//! | 500 | `CONFIGURATION` | a setting is missing or wrong (named, never shown): a `WXPAY_*` variable of the component |
//! | 502 | `WECHAT_ERROR` | a passing WeChat failure (`SYSTEMERROR`, `NETWORK_ERROR`, …; retryable) |
//! | 502 | `WECHAT_REFUSED` | any other `err_code` (`SIGN_ERROR`, `CA_ERROR`, `INVALID_REQUEST`, unknown codes) |
//! | 502 | `WECHAT_CALL_REFUSED` | `return_code` FAIL: signature, certificate, parameters |
//! | 502 | `UPSTREAM_BAD_STATUS` | WeChat answered with a status other than 200 |
//! | 502 | `UPSTREAM_MALFORMED` | the answer could not be read |
//! | 502 | `UPSTREAM_BAD_SIGNATURE` | the answer's signature is missing (strict), malformed or wrong |
//! | 502 | `UPSTREAM_UNREACHABLE` | connecting, sending or receiving failed |
//! | 502 | `OUTBOUND_DENIED` | the host refused the outbound request (Spin: `allowed_outbound_hosts`) |
//! | 503 | `CONFIGURATION` | `GET /healthz` with a broken configuration |
//! | 504 | `UPSTREAM_TIMEOUT` | a connect, first-byte or between-bytes timeout |
//!
//! `retryable` is the core's advice for business errors (`FREQ_OVER_LIMIT`: after a pause;
//! `SYSTEMERROR`: yes; `INVALID_REQUEST`: no — query first). Transport failures and timeouts are
//! retryable — for `POST` with the same `partner_trade_no`, so WeChat Pay answers a repeat with
//! the first outcome. A non-200 status is retryable when it is 429 or 5xx. Everything else is not.

use serde::Serialize;
use wxcoupon_core as core;
use wxcoupon_core::v3::error as v3;

/// An error answer: the status and the JSON body.
#[derive(Debug, Serialize)]
pub struct ApiError {
    /// The HTTP status.
    #[serde(skip)]
    pub status: u16,
    /// A stable, upper-case code to branch on.
    pub code: &'static str,
    /// What went wrong, for people. Never contains the API key.
    pub message: String,
    /// WeChat Pay's `err_code`, when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat_err_code: Option<String>,
    /// Whether sending the same request again is sound (possibly after a pause).
    pub retryable: bool,
    /// The request field at fault (`INVALID_INPUT` raised by the gateway or the core).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `POST /v1/coupons`: the number this issuance was sent under; retry with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_trade_no: Option<String>,
    /// `POST /v1/coupons`: the coupon may have been issued (the core's
    /// `Error::outcome_unknown`): retry with the same `partner_trade_no`. Present only when
    /// true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub outcome_unknown: bool,
    /// 405: the method the route accepts, sent as the `allow` header.
    #[serde(skip)]
    pub allow: Option<&'static str>,
    /// 401: the challenge, sent as the `www-authenticate` header.
    #[serde(skip)]
    pub www_authenticate: Option<String>,
}

impl ApiError {
    /// An error with no WeChat code, field or trade number.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            wechat_err_code: None,
            retryable: false,
            field: None,
            partner_trade_no: None,
            outcome_unknown: false,
            allow: None,
            www_authenticate: None,
        }
    }

    /// 400 `INVALID_INPUT` for `field`, with the rule it broke.
    pub fn invalid(field: &str, rule: impl std::fmt::Display) -> ApiError {
        ApiError {
            field: Some(field.to_string()),
            ..ApiError::new(400, "INVALID_INPUT", format!("{field}: {rule}"))
        }
    }

    /// 500 `CONFIGURATION` (503 for the health check, which load balancers read). `problem`
    /// names the settings and rules, never a value.
    pub fn configuration(problem: impl std::fmt::Display, status: u16) -> ApiError {
        ApiError::new(status, "CONFIGURATION", problem.to_string())
    }

    /// 405 naming the method the route accepts (also sent as `allow`).
    pub fn not_allowed(allow: &'static str) -> ApiError {
        ApiError {
            allow: Some(allow),
            ..ApiError::new(
                405,
                "METHOD_NOT_ALLOWED",
                format!("this route only accepts {allow}"),
            )
        }
    }

    /// 413 for a body over `max` bytes (announced or read).
    pub fn body_too_large(max: usize) -> ApiError {
        ApiError::new(
            413,
            "BODY_TOO_LARGE",
            format!("the request body is over the limit of {max} bytes"),
        )
    }

    /// Marks the error with the issuance's `partner_trade_no`.
    pub fn with_trade_no(mut self, partner_trade_no: &str) -> ApiError {
        self.partner_trade_no = Some(partner_trade_no.to_string());
        self
    }

    /// Marks the error as an unknown outcome of `POST /v1/coupons`: retryable, with the core's
    /// advice ([`core::OUTCOME_UNKNOWN_ADVICE`]) appended to the message.
    pub fn outcome_unknown(mut self) -> ApiError {
        self.outcome_unknown = true;
        self.retryable = true;
        self.message = format!("{} — {}", self.message, core::OUTCOME_UNKNOWN_ADVICE);
        self
    }

    /// Maps an error of the core or of the edge's HTTP client. `setting` gives the edge's name of
    /// a merchant setting the core names `merchant.*` (`merchant.api_key` → `WXPAY_API_KEY` in
    /// the component, `api_key` in the Envoy filter).
    pub fn from_core(e: core::Error, setting: fn(&str) -> &str) -> ApiError {
        let message = e.to_string();
        match e {
            core::Error::InvalidInput(f) if f.field.starts_with("merchant.") => ApiError::new(
                500,
                "CONFIGURATION",
                format!(
                    "the gateway is not configured: {}: {}",
                    setting(&f.field),
                    f.rule
                ),
            ),
            core::Error::InvalidInput(f) => ApiError::invalid(api_field(&f.field), f.rule),
            core::Error::UnexpectedStatus { status } => ApiError {
                retryable: status == 429 || status >= 500,
                ..ApiError::new(502, "UPSTREAM_BAD_STATUS", message)
            },
            core::Error::MalformedResponse(_) => ApiError::new(502, "UPSTREAM_MALFORMED", message),
            core::Error::Protocol { .. } => ApiError::new(502, "WECHAT_CALL_REFUSED", message),
            core::Error::Signature { .. } => ApiError::new(502, "UPSTREAM_BAD_SIGNATURE", message),
            core::Error::Business(b) => {
                let (status, code) = business_status(b.err_code.as_deref().unwrap_or(""));
                ApiError {
                    wechat_err_code: b.err_code.clone(),
                    retryable: b.retryable,
                    ..ApiError::new(status, code, message)
                }
            }
            core::Error::Transport { message: what, .. } => transport(&what, message),
            core::Error::Denied { .. } => denied(message),
        }
    }

    /// Marks the error as an unknown outcome of `POST /v1/stocks`: the stock may have been
    /// created; the same body again (same `out_request_no`) answers with it.
    pub fn stock_outcome_unknown(mut self) -> ApiError {
        self.outcome_unknown = true;
        self.retryable = true;
        self.message = format!(
            "{} — the stock may have been created: send the same body again with the same \
             out_request_no (WeChat Pay answers a repeat with the stock already created)",
            self.message
        );
        self
    }

    /// Maps an error of a v3 call. `not_found` is the code of a `RESOURCE_NOT_EXISTS` refusal
    /// on this route (`STOCK_NOT_FOUND`, `COUPON_NOT_FOUND`, …); `setting` names a merchant
    /// setting, as for [`ApiError::from_core`]. A refusal keeps WeChat's `code` as
    /// `wechat_err_code`, names the field WeChat's `detail` names, and is retryable by WeChat's
    /// advice.
    pub fn from_v3(e: &v3::Error, not_found: &'static str, setting: fn(&str) -> &str) -> ApiError {
        let message = e.to_string();
        match e {
            v3::Error::InvalidInput(f) if f.field.starts_with("merchant.") => {
                ApiError::configuration(
                    format!(
                        "the gateway is not configured: {}: {}",
                        setting(&f.field),
                        f.rule
                    ),
                    500,
                )
            }
            v3::Error::InvalidInput(f) => ApiError::invalid(&f.field, &f.rule),
            v3::Error::Refused(r) => {
                let code = r.code.as_deref().unwrap_or("");
                let (status, api_code) = match code {
                    "PARAM_ERROR" => (400, "INVALID_INPUT"),
                    "RESOURCE_NOT_EXISTS" => (404, not_found),
                    "RULE_LIMIT" => (409, "ALREADY_RECEIVED"),
                    "INVALID_REQUEST" | "NOT_ENOUGH" => (409, "STOCK_UNAVAILABLE"),
                    "RATELIMIT_EXCEEDED" | "FREQUENCY_LIMITED" => (429, "RATE_LIMITED"),
                    "SYSTEM_ERROR" | "SERVICE_UNAVAILABLE" | "REQUEST_BLOCKED" => {
                        (502, "WECHAT_ERROR")
                    }
                    "SIGN_ERROR" => (502, "WECHAT_CALL_REFUSED"),
                    "" => (502, "UPSTREAM_BAD_STATUS"),
                    _ => (502, "WECHAT_REFUSED"),
                };
                let field = r
                    .detail
                    .as_ref()
                    .and_then(|d| d.field.as_deref())
                    .map(|f| f.rsplit('/').next().unwrap_or(f).to_string())
                    .filter(|f| !f.is_empty());
                ApiError {
                    wechat_err_code: r.code.clone(),
                    retryable: r.advice.is_retryable(),
                    field,
                    ..ApiError::new(status, api_code, message)
                }
            }
            v3::Error::AnswerNotVerified { .. } => {
                ApiError::new(502, "UPSTREAM_BAD_SIGNATURE", message)
            }
            v3::Error::MalformedResponse(_) => ApiError::new(502, "UPSTREAM_MALFORMED", message),
            v3::Error::Transport { message: what, .. } => transport(what, message),
            v3::Error::Denied { .. } => denied(message),
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"code":"INTERNAL","message":"error serialising the error","retryable":false}"#
                .to_vec()
        })
    }
}

/// A transport failure of either API: retryable; a timeout is 504. Every edge's client words
/// its timeouts "… timed out …" (the component's client.rs, the Envoy filter's upstream.rs and
/// lib.rs).
fn transport(what: &str, message: String) -> ApiError {
    let (status, code) = if what.contains("timed out") {
        (504, "UPSTREAM_TIMEOUT")
    } else {
        (502, "UPSTREAM_UNREACHABLE")
    };
    ApiError {
        retryable: true,
        ..ApiError::new(status, code, message)
    }
}

/// The host refused the outbound request (either API).
fn denied(message: String) -> ApiError {
    ApiError::new(
        502,
        "OUTBOUND_DENIED",
        format!(
            "{message}; allow WeChat Pay's host in the runtime's outbound settings \
             (Spin: allowed_outbound_hosts)"
        ),
    )
}

/// The status and code of a business refusal, by `err_code`.
fn business_status(err_code: &str) -> (u16, &'static str) {
    match err_code.trim() {
        "USER_AL_GET_COUPON" => (409, "ALREADY_RECEIVED"),
        "AL_STOCK_OVER" | "STOCK_IS_NOT_VALID" => (409, "STOCK_UNAVAILABLE"),
        "FREQ_OVER_LIMIT" => (429, "RATE_LIMITED"),
        "COUPON_STOCK_ID_NOT_VALID" | "COUPON_STOCK_NOT_FOUND" => (404, "STOCK_NOT_FOUND"),
        "COUPON_NOT_FOUND" => (404, "COUPON_NOT_FOUND"),
        // The caller's values failed WeChat's checks: merchant-side problems come back as
        // `return_code` FAIL (SIGN_ERROR, CA_ERROR, …), not as these.
        "PARAM_ERROR" | "OPEN_ID_EMPTY" | "COUPON_STOCK_ID_EMPTY" => (400, "INVALID_INPUT"),
        "SYSTEMERROR"
        | "NETWORK ERROR"
        | "NETWORK_ERROR"
        | "NETWORKERROR"
        | "GET_COUPON_STOCK_FAIL" => (502, "WECHAT_ERROR"),
        _ => (502, "WECHAT_REFUSED"),
    }
}

/// The API's name of one of the core's wire field names.
fn api_field(field: &str) -> &str {
    match field {
        "coupon_stock_id" => "stock_id",
        other => other,
    }
}
