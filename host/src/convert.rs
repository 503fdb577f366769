//! `wxcoupon-core` values ⇄ the component's WIT values, field by field.
//!
//! The host speaks core types to its callers because they serialise to the CLI's JSON and are
//! the same types the simulator and the benches use.

use crate::runtime::wit;
use wxcoupon_core as core;

/// Core → WIT digest.
pub fn sign_type_out(t: core::SignType) -> wit::SignType {
    match t {
        core::SignType::Md5 => wit::SignType::Md5,
        core::SignType::HmacSha256 => wit::SignType::HmacSha256,
    }
}

/// Core → WIT API.
pub fn api_out(api: core::Api) -> wit::Api {
    match api {
        core::Api::SendCoupon => wit::Api::SendCoupon,
        core::Api::QueryCouponStock => wit::Api::QueryCouponStock,
        core::Api::QueryCouponsInfo => wit::Api::QueryCouponsInfo,
    }
}

/// Core → WIT merchant settings.
pub fn merchant_out(m: &core::Merchant) -> wit::Merchant {
    wit::Merchant {
        appid: m.appid.clone(),
        mch_id: m.mch_id.clone(),
        api_key: m.api_key.expose().to_string(),
        sign_type: sign_type_out(m.sign_type),
        host: match &m.host {
            core::ApiHost::Production => wit::ApiHost::Production,
            core::ApiHost::Backup => wit::ApiHost::Backup,
            core::ApiHost::Custom(url) => wit::ApiHost::Custom(url.clone()),
        },
        sandbox: m.sandbox,
        signature_policy: match m.signature_policy {
            core::SignaturePolicy::VerifyIfPresent => wit::SignaturePolicy::VerifyIfPresent,
            core::SignaturePolicy::Require => wit::SignaturePolicy::Require,
        },
    }
}

fn options_out(o: &core::CommonOptions) -> wit::CommonOptions {
    wit::CommonOptions {
        op_user_id: o.op_user_id.clone(),
        device_info: o.device_info.clone(),
        version: o.version.clone(),
        message_type: o.message_type.clone(),
    }
}

/// Core → WIT `send_coupon` request.
pub fn send_coupon_out(r: &core::SendCouponRequest) -> wit::SendCouponRequest {
    wit::SendCouponRequest {
        coupon_stock_id: r.coupon_stock_id.clone(),
        openid: r.openid.clone(),
        partner_trade_no: r.partner_trade_no.clone(),
        options: options_out(&r.options),
    }
}

/// Core → WIT `query_coupon_stock` request.
pub fn query_coupon_stock_out(r: &core::QueryCouponStockRequest) -> wit::QueryCouponStockRequest {
    wit::QueryCouponStockRequest {
        coupon_stock_id: r.coupon_stock_id.clone(),
        options: options_out(&r.options),
    }
}

/// Core → WIT `querycouponsinfo` request.
pub fn query_coupons_info_out(r: &core::QueryCouponsInfoRequest) -> wit::QueryCouponsInfoRequest {
    wit::QueryCouponsInfoRequest {
        coupon_id: r.coupon_id.clone(),
        openid: r.openid.clone(),
        stock_id: r.stock_id.clone(),
        options: options_out(&r.options),
    }
}

/// Core → WIT request.
pub fn request_out(r: &core::CouponRequest) -> wit::CouponRequest {
    match r {
        core::CouponRequest::SendCoupon(r) => wit::CouponRequest::SendCoupon(send_coupon_out(r)),
        core::CouponRequest::QueryCouponStock(r) => {
            wit::CouponRequest::QueryCouponStock(query_coupon_stock_out(r))
        }
        core::CouponRequest::QueryCouponsInfo(r) => {
            wit::CouponRequest::QueryCouponsInfo(query_coupons_info_out(r))
        }
    }
}

/// WIT → core HTTP request.
pub fn http_request_in(r: wit::HttpRequest) -> core::HttpRequest {
    core::HttpRequest {
        method: r.method,
        url: r.url,
        headers: r.headers,
        body: r.body,
        needs_client_certificate: r.needs_client_certificate,
    }
}

/// WIT → core signature check.
pub fn signature_in(s: wit::SignatureCheck) -> core::SignatureCheck {
    match s {
        wit::SignatureCheck::VerifiedMd5 => core::SignatureCheck::VerifiedMd5,
        wit::SignatureCheck::VerifiedHmacSha256 => core::SignatureCheck::VerifiedHmacSha256,
        wit::SignatureCheck::Absent => core::SignatureCheck::Absent,
    }
}

fn fields_in(fields: wit::Fields) -> core::Fields {
    fields.into_iter().collect()
}

fn time_in(t: Option<wit::WechatTime>) -> Option<core::WechatTime> {
    t.map(|t| core::WechatTime {
        raw: t.raw,
        unix_seconds: t.unix_seconds,
    })
}

/// WIT → core issued coupon.
pub fn sent_coupon_in(s: wit::SentCoupon) -> core::SentCoupon {
    core::SentCoupon {
        coupon_id: s.coupon_id,
        coupon_stock_id: s.coupon_stock_id,
        openid: s.openid,
        resp_count: s.resp_count,
        success_count: s.success_count,
        failed_count: s.failed_count,
        signature: signature_in(s.signature),
        fields: fields_in(s.fields),
    }
}

/// WIT → core stock.
pub fn coupon_stock_in(s: wit::CouponStock) -> core::CouponStock {
    core::CouponStock {
        coupon_stock_id: s.coupon_stock_id,
        coupon_name: s.coupon_name,
        coupon_value: s.coupon_value,
        coupon_minimum: s.coupon_minimum,
        coupon_type: s.coupon_type,
        status: match s.status {
            wit::StockStatus::Inactive => core::StockStatus::Inactive,
            wit::StockStatus::UnderReview => core::StockStatus::UnderReview,
            wit::StockStatus::Active => core::StockStatus::Active,
            wit::StockStatus::Voided => core::StockStatus::Voided,
            wit::StockStatus::SendingStopped => core::StockStatus::SendingStopped,
            wit::StockStatus::Unknown(n) => core::StockStatus::Unknown(n),
        },
        coupon_total: s.coupon_total,
        max_quota: s.max_quota,
        is_send_num: s.is_send_num,
        locked_num: s.locked_num,
        used_num: s.used_num,
        coupon_budget: s.coupon_budget,
        begin_time: time_in(s.begin_time),
        end_time: time_in(s.end_time),
        create_time: time_in(s.create_time),
        signature: signature_in(s.signature),
        fields: fields_in(s.fields),
    }
}

/// WIT → core coupon.
pub fn coupon_info_in(c: wit::CouponInfo) -> core::CouponInfo {
    core::CouponInfo {
        coupon_id: c.coupon_id,
        coupon_stock_id: c.coupon_stock_id,
        coupon_value: c.coupon_value,
        coupon_minimum: c.coupon_minimum,
        coupon_name: c.coupon_name,
        coupon_desc: c.coupon_desc,
        state: match c.state {
            wit::CouponState::Usable => core::CouponState::Usable,
            wit::CouponState::Used => core::CouponState::Used,
            wit::CouponState::Expired => core::CouponState::Expired,
            wit::CouponState::Locked => core::CouponState::Locked,
            wit::CouponState::Unknown(s) => core::CouponState::Unknown(s),
        },
        coupon_use_value: c.coupon_use_value,
        coupon_remain_value: c.coupon_remain_value,
        begin_time: time_in(c.begin_time),
        end_time: time_in(c.end_time),
        send_time: time_in(c.send_time),
        send_source: c.send_source,
        is_partial_use: c.is_partial_use,
        consumer_mch_id: c.consumer_mch_id,
        signature: signature_in(c.signature),
        fields: fields_in(c.fields),
    }
}

/// WIT → core response.
pub fn response_in(r: wit::CouponResponse) -> core::CouponResponse {
    match r {
        wit::CouponResponse::SendCoupon(s) => core::CouponResponse::SendCoupon(sent_coupon_in(s)),
        wit::CouponResponse::QueryCouponStock(s) => {
            core::CouponResponse::QueryCouponStock(coupon_stock_in(s))
        }
        wit::CouponResponse::QueryCouponsInfo(c) => {
            core::CouponResponse::QueryCouponsInfo(coupon_info_in(c))
        }
    }
}

/// WIT → core error.
pub fn error_in(e: wit::CouponError) -> core::Error {
    match e {
        wit::CouponError::InvalidInput(f) => core::Error::invalid(f.field, f.rule),
        wit::CouponError::UnexpectedStatus(status) => core::Error::UnexpectedStatus { status },
        wit::CouponError::MalformedResponse(m) => {
            core::Error::MalformedResponse(core::MalformedResponse {
                field: m.field,
                problem: m.problem,
            })
        }
        wit::CouponError::Protocol(return_msg) => core::Error::Protocol { return_msg },
        wit::CouponError::Business(b) => core::Error::Business(core::BusinessError {
            err_code: b.err_code,
            err_code_des: b.err_code_des,
            ret_msg: b.ret_msg,
            meaning: b.meaning,
            advice: match b.advice {
                wit::RetryAdvice::DoNotRetry => core::RetryAdvice::DoNotRetry,
                wit::RetryAdvice::Retry => core::RetryAdvice::Retry,
                wit::RetryAdvice::RetryLater => core::RetryAdvice::RetryLater,
                wit::RetryAdvice::ReconcileFirst => core::RetryAdvice::ReconcileFirst,
            },
            retryable: b.retryable,
        }),
        wit::CouponError::Signature(s) => core::Error::Signature {
            problem: match s {
                wit::SignatureError::Missing => core::SignatureError::Missing,
                wit::SignatureError::Malformed => core::SignatureError::Malformed,
                wit::SignatureError::Mismatch => core::SignatureError::Mismatch,
            },
        },
        wit::CouponError::Transport(t) => core::Error::Transport {
            message: t.message,
            may_have_reached_wechat: t.may_have_reached_wechat,
        },
        wit::CouponError::Denied(message) => core::Error::Denied { message },
    }
}

/// Core → WIT error (to hand an error back to the component, as `outcome-unknown` takes one).
pub fn error_out(e: &core::Error) -> wit::CouponError {
    match e {
        core::Error::InvalidInput(f) => wit::CouponError::InvalidInput(wit::FieldError {
            field: f.field.clone(),
            rule: f.rule.clone(),
        }),
        core::Error::UnexpectedStatus { status } => wit::CouponError::UnexpectedStatus(*status),
        core::Error::MalformedResponse(m) => {
            wit::CouponError::MalformedResponse(wit::MalformedResponse {
                field: m.field.clone(),
                problem: m.problem.clone(),
            })
        }
        core::Error::Protocol { return_msg } => wit::CouponError::Protocol(return_msg.clone()),
        core::Error::Business(b) => wit::CouponError::Business(wit::BusinessError {
            err_code: b.err_code.clone(),
            err_code_des: b.err_code_des.clone(),
            ret_msg: b.ret_msg.clone(),
            meaning: b.meaning.clone(),
            advice: match b.advice {
                core::RetryAdvice::DoNotRetry => wit::RetryAdvice::DoNotRetry,
                core::RetryAdvice::Retry => wit::RetryAdvice::Retry,
                core::RetryAdvice::RetryLater => wit::RetryAdvice::RetryLater,
                core::RetryAdvice::ReconcileFirst => wit::RetryAdvice::ReconcileFirst,
            },
            retryable: b.retryable,
        }),
        core::Error::Signature { problem } => wit::CouponError::Signature(match problem {
            core::SignatureError::Missing => wit::SignatureError::Missing,
            core::SignatureError::Malformed => wit::SignatureError::Malformed,
            core::SignatureError::Mismatch => wit::SignatureError::Mismatch,
        }),
        core::Error::Transport {
            message,
            may_have_reached_wechat,
        } => wit::CouponError::Transport(wit::TransportError {
            message: message.clone(),
            may_have_reached_wechat: *may_have_reached_wechat,
        }),
        core::Error::Denied { message } => wit::CouponError::Denied(message.clone()),
    }
}
