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
//! `wrong_sign` and `truncated_body` then alter whatever answer is sent.
//!
//! State rule: `latency_ms` only delays a normal answer, so the request still takes effect (that is
//! the point: a client that times out must reconcile before retrying). The request is handled
//! first and the answer then held back, so the effect stays even when the client hangs up
//! before the answer comes. In front of `reset_connection` or `status` the wait comes first. Every other fault replaces
//! or spoils the answer **without** touching state: no coupon is issued, no counter moves, no
//! `partner_trade_no` is remembered. (The answer that `wrong_sign` and `truncated_body` spoil is
//! computed on a throw-away copy of the books, so it may name a coupon id that was never issued.)

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
    /// `getsignkey`); `None` means every endpoint.
    pub only: Option<Endpoint>,
    /// Fire for this many matching requests, then disarm; `None` means for every request.
    pub times: Option<u32>,
    /// Wait this long before answering (the request is then handled normally).
    pub latency_ms: u64,
    /// Answer with this HTTP status (200..=599) and a short HTML body instead of XML.
    pub status: Option<u16>,
    /// Read the request, then close the TCP connection abruptly (RST) without answering.
    pub reset_connection: bool,
    /// Announce the full `Content-Length`, send only the first half of the XML, then close.
    pub truncated_body: bool,
    /// Sign the answer with a wrong key (the answer carries a `sign` even when
    /// `sign_responses` is off). Answers with `return_code` FAIL stay unsigned, as WeChat's do.
    pub wrong_sign: bool,
    /// Refuse the operation with this `err_code` (`result_code` FAIL), e.g. `SYSTEMERROR`,
    /// `FREQ_OVER_LIMIT`, `NETWORK ERROR`, `INVALID_REQUEST`. The request is not checked or
    /// processed at all.
    pub err_code: Option<String>,
    /// The `err_code_des` to send with `err_code`; a fitting Chinese text when `None`.
    pub err_code_des: Option<String>,
}

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
        if armed.is_empty() || !armed.matches(endpoint) {
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
