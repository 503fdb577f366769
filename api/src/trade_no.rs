//! Generated `partner_trade_no`s in WeChat Pay's documented form: `mch_id` + the date
//! (`yyyyMMdd`, Beijing time) + a 10-digit serial.
//!
//! The edge passes in the clock and a secure random source (the component: `wasi:clocks` and
//! `wasi:random`; the Envoy filter: the proxy's clock and WASI `random_get`). The serial is
//! uniform over 0–9999999999 (rejection sampling, no modulo bias). The gateway keeps no state, so
//! the serial is random rather than counted: two numbers generated the same day for the same
//! merchant collide with probability 10⁻¹⁰ per pair, i.e. about n²/(2·10¹⁰) for n numbers in a
//! day — 5·10⁻⁵ at 1 000 a day, 0.5 % at 10 000, 39 % at 100 000. A collision is not silent:
//! WeChat Pay (and the simulator) answer the second issuance with the first one's outcome or
//! refuse it (`PARAM_ERROR` for another openid or stock). Callers issuing more than a few thousand
//! coupons a day should send their own `partner_trade_no` (from their order numbers).

use wxcoupon_core::time::format_beijing;

/// The request header in which a host that fixes the number before the component runs
/// (`wxcoupon serve`, so that its own answers after a trap or its deadline can carry it) hands
/// it over: the gateway then issues under it, as if generated, when the body names none. A
/// caller who sends it gets what a `partner_trade_no` in the body would give; `wxcoupon serve`
/// removes any the caller sent.
pub const HOST_NUMBER_HEADER: &str = "x-wxcoupon-partner-trade-no";

/// Digits in the serial (WeChat Pay's documented form: "10位一天内不能重复的数字").
pub const SERIAL_DIGITS: u32 = 10;

/// A new number for `mch_id` at `unix_seconds`, its serial drawn from `random_u64`.
pub fn generate(mch_id: &str, unix_seconds: i64, random_u64: impl FnMut() -> u64) -> String {
    compose(mch_id, unix_seconds, serial(random_u64))
}

/// `mch_id` + `yyyyMMdd` (Beijing time of `unix_seconds`) + the serial, zero-padded.
pub fn compose(mch_id: &str, unix_seconds: i64, serial: u64) -> String {
    let stamp = format_beijing(unix_seconds);
    let date = stamp.get(..8).unwrap_or(&stamp);
    format!(
        "{mch_id}{date}{serial:0width$}",
        width = SERIAL_DIGITS as usize
    )
}

/// A uniform number below 10^[`SERIAL_DIGITS`] from uniform 64-bit numbers.
pub fn serial(mut random_u64: impl FnMut() -> u64) -> u64 {
    let bound = 10u64.pow(SERIAL_DIGITS);
    // The largest multiple of `bound` that fits: values at or above it would bias the result.
    let limit = u64::MAX - u64::MAX % bound;
    loop {
        let r = random_u64();
        if r < limit {
            return r % bound;
        }
    }
}
