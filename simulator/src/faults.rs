//! Injected failures: what can go wrong on WeChat's side or on the wire, which requests it hits,
//! and how many times.
//!
//! A [`Faults`] value is armed at start ([`crate::SimulatorConfig::faults`]) or at run time
//! ([`crate::RunningSimulator::set_faults`]). It applies to every request of every known endpoint
//! (`only = None`) or to one endpoint (`only = Some(..)`), in production and the sandbox alike; with
//! `times = Some(n)` it fires for the next `n` matching requests and then disarms itself.
//! Unknown paths (404) and wrong methods (405) are never faulted.
//!
//! When several are set they combine in this order: `latency_ms` first (then the request goes on),
//! then the first of `reset_connection`, `status`, `err_code` that is set replaces the answer;
//! `wrong_sign` and `truncated_body` then alter whatever answer is sent. On API v3 the signature
//! faults (`wrong_sign`, `unknown_serial`, `timestamp_offset_seconds`, `missing_signature`) alter
//! the `Wechatpay-*` headers of whatever answer is sent, then `tampered_body` changes its body
//! after signing, then `truncated_body` cuts it.
//!
//! State rule: `latency_ms` only delays a normal answer, so the request still takes effect (that is
//! the point: a client that times out must reconcile before retrying). The request is handled
//! first and the answer then held back, so the effect stays even when the client hangs up
//! before the answer comes. In front of `reset_connection` or `status` the wait comes first. Every other fault replaces
//! or spoils the answer **without** touching state: no coupon is issued, no counter moves, no
//! `partner_trade_no` is remembered. (The answer that `wrong_sign` and `truncated_body` spoil is
//! computed on a throw-away copy of the books, so it may name a coupon id that was never issued.)
//! The v3-only faults (`missing_signature`, `unknown_serial`, `timestamp_offset_seconds`,
//! `tampered_body`) follow the same rule: they spoil the answer of a request handled on a
//! throw-away copy, so nothing is issued and no counter moves.
//!
//! API v3 meaning: `status` answers that status with a signed `{"code","message"}` body fitting
//! it (202, 204 and other 2xx/3xx: empty body; 400 `PARAM_ERROR`, 401 `SIGN_ERROR`, 403
//! `NO_AUTH`, 404 `RESOURCE_NOT_EXISTS`, 429 `RATELIMIT_EXCEEDED`, other 4xx `INVALID_REQUEST`,
//! 500 `SYSTEM_ERROR`, 502/503/504 `SERVICE_UNAVAILABLE`, other 5xx `SYSTEM_ERROR`); `err_code`
//! answers `{"code": err_code, "message": err_code_des}` with the status WeChat uses for that v3
//! code (`SYSTEM_ERROR` 500, `SERVICE_UNAVAILABLE` 503, `FREQUENCY_LIMITED` and
//! `RATELIMIT_EXCEEDED` 429, `SIGN_ERROR` 401, `NO_AUTH` 403, `RESOURCE_NOT_EXISTS` 404, any other
//! code 400), unprocessed; `wrong_sign` signs with a key that is not WeChat Pay's (the test
//! merchant key), under the serial that would have been used. The v3-only faults do nothing to
//! v2 answers (no `Wechatpay-*` headers there), so a fault made only of them never fires (nor
//! counts against `times`) on a v2 endpoint.

use std::sync::Mutex;

use anyhow::bail;
use serde::Deserialize;
use wxcoupon_core::xml::check_field_value;

use crate::routes::Endpoint;

/// The failures to inject. `Default` is "no fault".
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Limit the faults to one endpoint (`send_coupon`, `query_coupon_stock`, `querycouponsinfo`,
    /// `getsignkey`, `v3_issue_coupon`, `v3_query_stock`, `v3_query_coupon`, `v3_certificates`);
    /// `None` means every endpoint.
    pub only: Option<Endpoint>,
    /// Fire for this many matching requests, then disarm; `None` means for every request.
    pub times: Option<u32>,
    /// Wait this long before answering (the request is then handled normally).
    pub latency_ms: u64,
    /// Answer with this HTTP status (200..=599) and a short HTML body instead of XML (API v3: a
    /// signed JSON body fitting the status, see the module doc).
    pub status: Option<u16>,
    /// Read the request, then close the TCP connection abruptly (RST) without answering.
    pub reset_connection: bool,
    /// Announce the full `Content-Length`, send only the first half of the XML, then close.
    pub truncated_body: bool,
    /// Sign the answer with a wrong key (the answer carries a `sign` even when
    /// `sign_responses` is off). Answers with `return_code` FAIL stay unsigned, as WeChat's do.
    /// API v3: every answer is signed with a key that is not WeChat Pay's.
    pub wrong_sign: bool,
    /// Refuse the operation with this `err_code` (`result_code` FAIL), e.g. `SYSTEMERROR`,
    /// `FREQ_OVER_LIMIT`, `NETWORK ERROR`, `INVALID_REQUEST`. The request is not checked or
    /// processed at all. API v3: the answer's `code`, with the status of the module doc.
    pub err_code: Option<String>,
    /// The `err_code_des` to send with `err_code`; a fitting Chinese text when `None`.
    pub err_code_des: Option<String>,
    /// API v3: send the answer without its `Wechatpay-Signature` header (a verifier must refuse
    /// it as a missing header).
    pub missing_signature: bool,
    /// API v3: name a key no one has as `Wechatpay-Serial` ([`UNKNOWN_SERIAL`]); the signature
    /// itself is genuine, so only key selection by serial catches it.
    pub unknown_serial: bool,
    /// API v3: shift `Wechatpay-Timestamp` by this many seconds (e.g. -3600 stale, +3600 in the
    /// future), signed over the shifted value; 0 means no shift.
    pub timestamp_offset_seconds: i64,
    /// API v3: change the body after signing it (a digit of `coupon_id`, else the first digit,
    /// else a trailing space), so the signature no longer covers what is sent.
    pub tampered_body: bool,
}

/// The `Wechatpay-Serial` the `unknown_serial` fault sends.
pub const UNKNOWN_SERIAL: &str = "PUB_KEY_ID_0000UNKNOWN";

/// The largest `timestamp_offset_seconds` either way (ten years).
pub const MAX_TIMESTAMP_OFFSET_SECONDS: i64 = 10 * 366 * 86_400;

impl Faults {
    /// No fault at all.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// Whether nothing is set (the endpoint filter and count do not count).
    pub fn is_empty(&self) -> bool {
        self.latency_ms == 0
            && self.status.is_none()
            && !self.reset_connection
            && !self.truncated_body
            && !self.wrong_sign
            && self.err_code.is_none()
            && !self.has_v3_only()
    }

    /// Whether a fault only API v3 answers can carry is set.
    fn has_v3_only(&self) -> bool {
        self.missing_signature
            || self.unknown_serial
            || self.timestamp_offset_seconds != 0
            || self.tampered_body
    }

    /// Whether the answer is spoiled after the request is handled (so the request must be
    /// handled on a throw-away copy of the books).
    pub(crate) fn spoils_answer(&self) -> bool {
        self.wrong_sign || self.truncated_body || self.has_v3_only()
    }

    /// Whether something is set that acts on `endpoint`'s answers: the v3-only faults do not
    /// act on v2 endpoints.
    fn acts_on(&self, endpoint: Endpoint) -> bool {
        if endpoint.is_v3() {
            return !self.is_empty();
        }
        let v2_part = Faults {
            missing_signature: false,
            unknown_serial: false,
            timestamp_offset_seconds: 0,
            tampered_body: false,
            ..self.clone()
        };
        !v2_part.is_empty()
    }

    /// Checks the values: a status a response can carry, an `err_code` XML can carry, a sane
    /// latency.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(status) = self.status {
            if !(200..=599).contains(&status) {
                bail!("faults.status must be 200..=599 (got {status})");
            }
        }
        if self.latency_ms > 600_000 {
            bail!("faults.latency_ms must be at most 600000 (10 minutes)");
        }
        if self.timestamp_offset_seconds.unsigned_abs()
            > MAX_TIMESTAMP_OFFSET_SECONDS.unsigned_abs()
        {
            bail!(
                "faults.timestamp_offset_seconds must be within ±{MAX_TIMESTAMP_OFFSET_SECONDS} (ten years)"
            );
        }
        if let Some(code) = &self.err_code {
            let len = code.chars().count();
            if len == 0 || len > 32 {
                bail!("faults.err_code must be 1 to 32 characters (WeChat's String(32))");
            }
            check_field_value("faults.err_code", code).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if let Some(des) = &self.err_code_des {
            if des.chars().count() > 128 {
                bail!("faults.err_code_des must be at most 128 characters");
            }
            check_field_value("faults.err_code_des", des).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    }

    fn matches(&self, endpoint: Endpoint) -> bool {
        self.only.is_none_or(|only| only == endpoint)
    }
}

/// The armed faults, shared by every connection.
#[derive(Debug, Default)]
pub(crate) struct FaultSwitch {
    armed: Mutex<Faults>,
}

impl FaultSwitch {
    pub(crate) fn new(faults: Faults) -> FaultSwitch {
        FaultSwitch {
            armed: Mutex::new(faults),
        }
    }

    /// Replaces the armed faults.
    pub(crate) fn set(&self, faults: Faults) {
        *self.lock() = faults;
    }

    /// The armed faults (with `times` counted down so far).
    pub(crate) fn get(&self) -> Faults {
        self.lock().clone()
    }

    /// The faults that fire for one request to `endpoint`, counting it against `times`.
    pub(crate) fn take(&self, endpoint: Endpoint) -> Option<Faults> {
        let mut armed = self.lock();
        if !armed.matches(endpoint) || !armed.acts_on(endpoint) {
            return None;
        }
        let fired = armed.clone();
        match &mut armed.times {
            None => {}
            Some(0) => {
                *armed = Faults::default();
                return None;
            }
            Some(1) => *armed = Faults::default(),
            Some(n) => *n -= 1,
        }
        Some(fired)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.armed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `err_code_des` WeChat-style text for a forced `err_code`.
pub(crate) fn default_err_code_des(err_code: &str) -> &'static str {
    match err_code {
        "SYSTEMERROR" => "系统繁忙，请稍后再试",
        "FREQ_OVER_LIMIT" => "超过频率限制，请稍后再试",
        "NETWORK ERROR" | "NETWORK_ERROR" | "NETWORKERROR" => "网络环境不佳，请重试",
        "INVALID_REQUEST" => "268645892",
        "AL_STOCK_OVER" => "活动已结束",
        "USER_AL_GET_COUPON" => "你已领取过该代金券",
        "STOCK_IS_NOT_VALID" => "代金券批次已失效",
        "GET_COUPON_STOCK_FAIL" => "获取批次信息失败",
        "CA_ERROR" => "证书错误",
        "SIGN_ERROR" => "签名错误",
        "PARAM_ERROR" => "参数错误",
        _ => "系统错误",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_counts_down_and_disarms() {
        let switch = FaultSwitch::new(Faults {
            err_code: Some("SYSTEMERROR".into()),
            only: Some(Endpoint::SendCoupon),
            times: Some(2),
            ..Faults::default()
        });
        assert!(switch.take(Endpoint::QueryCouponStock).is_none());
        assert!(switch.take(Endpoint::SendCoupon).is_some());
        assert_eq!(switch.get().times, Some(1));
        assert!(switch.take(Endpoint::SendCoupon).is_some());
        assert!(switch.take(Endpoint::SendCoupon).is_none());
        assert!(switch.get().is_empty());
    }

    #[test]
    fn v3_only_faults_count_and_fire_on_v3_endpoints_only() {
        for faults in [
            Faults {
                missing_signature: true,
                ..Faults::default()
            },
            Faults {
                unknown_serial: true,
                ..Faults::default()
            },
            Faults {
                timestamp_offset_seconds: -3600,
                ..Faults::default()
            },
            Faults {
                tampered_body: true,
                ..Faults::default()
            },
        ] {
            assert!(!faults.is_empty(), "{faults:?}");
            assert!(faults.spoils_answer());
            faults.validate().unwrap();
            let switch = FaultSwitch::new(Faults {
                times: Some(1),
                ..faults
            });
            assert!(switch.take(Endpoint::SendCoupon).is_none());
            assert_eq!(switch.get().times, Some(1));
            assert!(switch.take(Endpoint::V3IssueCoupon).is_some());
            assert!(switch.take(Endpoint::V3IssueCoupon).is_none());
        }
        // Mixed with a fault v2 has, it fires on v2 too.
        let switch = FaultSwitch::new(Faults {
            missing_signature: true,
            wrong_sign: true,
            ..Faults::default()
        });
        assert!(switch.take(Endpoint::QueryCouponStock).is_some());
        assert!(Faults {
            timestamp_offset_seconds: i64::MIN,
            ..Faults::default()
        }
        .validate()
        .is_err());
        assert!(!Faults {
            latency_ms: 5,
            ..Faults::default()
        }
        .spoils_answer());
    }

    #[test]
    fn empty_never_fires_and_validation() {
        let switch = FaultSwitch::new(Faults::none());
        assert!(switch.take(Endpoint::Getsignkey).is_none());
        assert!(Faults {
            status: Some(99),
            ..Faults::default()
        }
        .validate()
        .is_err());
        assert!(Faults {
            err_code: Some(String::new()),
            ..Faults::default()
        }
        .validate()
        .is_err());
        assert!(Faults {
            status: Some(503),
            ..Faults::default()
        }
        .validate()
        .is_ok());
    }
}
