//! The one rule for unknown outcomes: which errors leave open whether `send_coupon` issued.

use wxcoupon_core::{
    err_code, Api, BusinessError, Error, MalformedResponse, RetryAdvice, SignatureError,
};

fn business(code: &str) -> Error {
    Error::Business(BusinessError::new(Some(code.into()), None, None))
}

#[test]
fn send_coupon_outcomes_are_unknown_once_the_request_may_have_left() {
    let unknown = [
        Error::Transport {
            message: "reset".into(),
            may_have_reached_wechat: true,
        },
        Error::UnexpectedStatus { status: 502 },
        Error::UnexpectedStatus { status: 404 },
        Error::MalformedResponse(MalformedResponse::document("body is over the limit")),
        Error::MalformedResponse(MalformedResponse::field("appid", "does not match")),
        Error::Signature {
            problem: SignatureError::Mismatch,
        },
        Error::Signature {
            problem: SignatureError::Missing,
        },
        business("SYSTEMERROR"),
        business("INVALID_REQUEST"),
    ];
    for e in &unknown {
        assert!(e.outcome_unknown(Api::SendCoupon), "{e:?}");
    }
    let known = [
        Error::invalid("openid", "required"),
        Error::Denied {
            message: "not allowed".into(),
        },
        Error::Transport {
            message: "connection refused".into(),
            may_have_reached_wechat: false,
        },
        Error::Protocol {
            return_msg: "签名错误".into(),
        },
        business("USER_AL_GET_COUPON"),
        business("AL_STOCK_OVER"),
        business("FREQ_OVER_LIMIT"),
        business("SOMETHING_UNDOCUMENTED"),
    ];
    for e in &known {
        assert!(!e.outcome_unknown(Api::SendCoupon), "{e:?}");
    }
    // Queries change nothing: their outcome is never unknown.
    for e in unknown.iter().chain(&known) {
        assert!(!e.outcome_unknown(Api::QueryCouponStock), "{e:?}");
        assert!(!e.outcome_unknown(Api::QueryCouponsInfo), "{e:?}");
    }
    assert_eq!(
        err_code::advice("INVALID_REQUEST"),
        RetryAdvice::ReconcileFirst
    );
}
