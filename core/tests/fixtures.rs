//! The real-traffic fixtures in `tests/fixtures/responses`, natively.

use wxcoupon_core::{
    parse_response, Api, ApiKey, CouponResponse, CouponState, Error, Merchant, RetryAdvice,
    SignatureCheck, StockStatus,
};

fn merchant() -> Merchant {
    Merchant::new(
        "wx5edab3bdfba3dc1c",
        "10000098",
        ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap(),
    )
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../tests/fixtures/responses/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn unsigned_stock_query_with_real_quirks() {
    let body = fixture("query_coupon_stock_real_unsigned.xml");
    let CouponResponse::QueryCouponStock(s) =
        parse_response(&merchant(), Api::QueryCouponStock, 200, &body).unwrap()
    else {
        panic!("wrong variant")
    };
    assert_eq!(s.signature, SignatureCheck::Absent);
    assert_eq!(s.coupon_minimum, Some(2000), "coupon_mininumn spelling");
    assert_eq!(s.coupon_value, 200);
    assert_eq!(s.status, StockStatus::Active);
    assert_eq!(
        (s.coupon_total, s.max_quota, s.is_send_num),
        (10, Some(1), Some(2))
    );
    let begin = s.begin_time.unwrap();
    assert_eq!(begin.raw, "1575820800");
    assert_eq!(begin.unix_seconds, Some(1575820800));
    // The *_t twin is the same instant in Beijing time.
    assert_eq!(
        wxcoupon_core::time::parse_beijing(&s.fields["begin_time_t"]),
        Some(1575820800)
    );
    assert_eq!(s.end_time.unwrap().unix_seconds, Some(1577203199));
    assert_eq!(s.fields["scope"], "GLOBAL", "unknown fields are kept");
    assert_eq!(s.coupon_name.as_deref(), Some("满20减2"));
}

#[test]
fn send_coupon_failure_with_ret_code_fail() {
    let body = fixture("send_coupon_fail_user_al_get_coupon.xml");
    let Error::Business(b) = parse_response(&merchant(), Api::SendCoupon, 200, &body).unwrap_err()
    else {
        panic!("expected a business error")
    };
    assert_eq!(b.err_code.as_deref(), Some("USER_AL_GET_COUPON"));
    assert_eq!(b.err_code_des.as_deref(), Some("你已领取过该代金券"));
    assert_eq!(b.ret_msg.as_deref(), Some("你已领取过该代金券"));
    assert_eq!(b.advice, RetryAdvice::DoNotRetry);
    assert!(!b.retryable);
    assert!(b.meaning.unwrap().contains("already received"));
}

#[test]
fn coupon_query_with_coupon_minimum() {
    let body = fixture("querycouponsinfo_coupon_minimum.xml");
    let CouponResponse::QueryCouponsInfo(c) =
        parse_response(&merchant(), Api::QueryCouponsInfo, 200, &body).unwrap()
    else {
        panic!("wrong variant")
    };
    assert_eq!(c.coupon_minimum, Some(10000));
    assert_eq!(c.state, CouponState::Usable);
    assert_eq!(
        c.coupon_name.as_deref(),
        Some("满100减5 &amp; more"),
        "CDATA is not unescaped"
    );
    assert_eq!(c.is_partial_use, Some(true));
    // One time as Unix seconds, one as yyyyMMddHHmmss: both resolve.
    assert_eq!(c.begin_time.unwrap().unix_seconds, Some(1575820800));
    assert_eq!(c.end_time.unwrap().unix_seconds, Some(1577203199));
}

#[test]
fn signed_success_verifies() {
    let body = fixture("send_coupon_success_signed.xml");
    let CouponResponse::SendCoupon(s) =
        parse_response(&merchant(), Api::SendCoupon, 200, &body).unwrap()
    else {
        panic!("wrong variant")
    };
    assert_eq!(s.coupon_id, "6954");
    assert_eq!(s.signature, SignatureCheck::VerifiedMd5);
    assert_eq!((s.success_count, s.failed_count), (Some(1), Some(0)));
}

#[test]
fn return_code_fail_is_a_protocol_error() {
    let body = fixture("return_code_fail.xml");
    assert_eq!(
        parse_response(&merchant(), Api::QueryCouponStock, 200, &body).unwrap_err(),
        Error::Protocol {
            return_msg: "签名错误".into()
        }
    );
}
