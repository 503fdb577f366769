//! One-line, human descriptions of answers, for the CLI's text output and the demo.

use wxcoupon_core as core;

/// One line about a stock.
pub fn describe_stock(s: &core::CouponStock) -> String {
    format!(
        "stock {} ({}): {:?}, {} fen off{}, issued {}/{}{}",
        s.coupon_stock_id,
        s.coupon_name.as_deref().unwrap_or("unnamed"),
        s.status,
        s.coupon_value,
        s.coupon_minimum
            .map_or(String::new(), |m| format!(" orders from {m} fen")),
        s.is_send_num.map_or("?".into(), |n| n.to_string()),
        s.coupon_total,
        s.max_quota
            .map_or(String::new(), |q| format!(", at most {q} per user")),
    )
}

/// One line about a coupon.
pub fn describe_coupon(c: &core::CouponInfo) -> String {
    format!(
        "coupon {} of stock {}: {:?}, {} fen off{}{}",
        c.coupon_id,
        c.coupon_stock_id,
        c.state,
        c.coupon_value,
        c.coupon_minimum
            .map_or(String::new(), |m| format!(" orders from {m} fen")),
        c.send_time
            .as_ref()
            .and_then(|t| t.unix_seconds)
            .map_or(String::new(), |t| format!(
                ", issued {} (Beijing time)",
                core::time::format_beijing(t)
            )),
    )
}
