//! WIT values ⇄ core values. Field by field, nothing else.

use crate::exports::wxpay::coupon::types as wit;
use wxcoupon_core as core;

pub fn fields_in(fields: wit::Fields) -> Result<core::Fields, wit::CouponError> {
    let mut out = core::Fields::new();
    for (name, value) in fields {
        if out.contains_key(&name) {
            return Err(error_out(core::Error::invalid(
                name,
                "appears more than once",
            )));
        }
        out.insert(name, value);
    }
    Ok(out)
}

fn fields_out(fields: core::Fields) -> wit::Fields {
    fields.into_iter().collect()
}

pub fn sign_type_in(t: wit::SignType) -> core::SignType {
    match t {
        wit::SignType::Md5 => core::SignType::Md5,
        wit::SignType::HmacSha256 => core::SignType::HmacSha256,
    }
}

pub fn api_in(api: wit::Api) -> core::Api {
    match api {
        wit::Api::SendCoupon => core::Api::SendCoupon,
        wit::Api::QueryCouponStock => core::Api::QueryCouponStock,
        wit::Api::QueryCouponsInfo => core::Api::QueryCouponsInfo,
    }
}

pub fn merchant_in(m: wit::Merchant) -> Result<core::Merchant, wit::CouponError> {
    let api_key = core::ApiKey::new(m.api_key)
        .map_err(|_| error_out(core::Error::invalid("merchant.api_key", "required")))?;
    Ok(core::Merchant {
        appid: m.appid,
        mch_id: m.mch_id,
        api_key,
        sign_type: sign_type_in(m.sign_type),
        host: match m.host {
            wit::ApiHost::Production => core::ApiHost::Production,
            wit::ApiHost::Backup => core::ApiHost::Backup,
            wit::ApiHost::Custom(url) => core::ApiHost::Custom(url),
        },
        sandbox: m.sandbox,
        signature_policy: match m.signature_policy {
            wit::SignaturePolicy::VerifyIfPresent => core::SignaturePolicy::VerifyIfPresent,
            wit::SignaturePolicy::Require => core::SignaturePolicy::Require,
        },
    })
}

fn options_in(o: wit::CommonOptions) -> core::CommonOptions {
    core::CommonOptions {
        op_user_id: o.op_user_id,
        device_info: o.device_info,
        version: o.version,
        message_type: o.message_type,
    }
}

pub fn request_in(r: wit::CouponRequest) -> core::CouponRequest {
    match r {
        wit::CouponRequest::SendCoupon(r) => {
            core::CouponRequest::SendCoupon(core::SendCouponRequest {
                coupon_stock_id: r.coupon_stock_id,
                openid: r.openid,
                partner_trade_no: r.partner_trade_no,
                options: options_in(r.options),
            })
        }
        wit::CouponRequest::QueryCouponStock(r) => {
            core::CouponRequest::QueryCouponStock(core::QueryCouponStockRequest {
                coupon_stock_id: r.coupon_stock_id,
                options: options_in(r.options),
            })
        }
        wit::CouponRequest::QueryCouponsInfo(r) => {
            core::CouponRequest::QueryCouponsInfo(core::QueryCouponsInfoRequest {
                coupon_id: r.coupon_id,
                openid: r.openid,
                stock_id: r.stock_id,
                options: options_in(r.options),
            })
        }
    }
}

pub fn http_request_out(r: core::HttpRequest) -> wit::HttpRequest {
    wit::HttpRequest {
        method: r.method,
        url: r.url,
        headers: r.headers,
        body: r.body,
        needs_client_certificate: r.needs_client_certificate,
    }
}

fn signature_out(s: core::SignatureCheck) -> wit::SignatureCheck {
    match s {
        core::SignatureCheck::VerifiedMd5 => wit::SignatureCheck::VerifiedMd5,
        core::SignatureCheck::VerifiedHmacSha256 => wit::SignatureCheck::VerifiedHmacSha256,
        core::SignatureCheck::Absent => wit::SignatureCheck::Absent,
    }
}

fn time_out(t: Option<core::WechatTime>) -> Option<wit::WechatTime> {
    t.map(|t| wit::WechatTime {
        raw: t.raw,
        unix_seconds: t.unix_seconds,
    })
}

pub fn response_out(r: core::CouponResponse) -> wit::CouponResponse {
    match r {
        core::CouponResponse::SendCoupon(s) => wit::CouponResponse::SendCoupon(wit::SentCoupon {
            coupon_id: s.coupon_id,
            coupon_stock_id: s.coupon_stock_id,
            openid: s.openid,
            resp_count: s.resp_count,
            success_count: s.success_count,
            failed_count: s.failed_count,
            signature: signature_out(s.signature),
            fields: fields_out(s.fields),
        }),
        core::CouponResponse::QueryCouponStock(s) => {
            wit::CouponResponse::QueryCouponStock(wit::CouponStock {
                coupon_stock_id: s.coupon_stock_id,
                coupon_name: s.coupon_name,
                coupon_value: s.coupon_value,
                coupon_minimum: s.coupon_minimum,
                coupon_type: s.coupon_type,
                status: match s.status {
                    core::StockStatus::Inactive => wit::StockStatus::Inactive,
                    core::StockStatus::UnderReview => wit::StockStatus::UnderReview,
                    core::StockStatus::Active => wit::StockStatus::Active,
                    core::StockStatus::Voided => wit::StockStatus::Voided,
                    core::StockStatus::SendingStopped => wit::StockStatus::SendingStopped,
                    core::StockStatus::Unknown(n) => wit::StockStatus::Unknown(n),
                },
                coupon_total: s.coupon_total,
                max_quota: s.max_quota,
                is_send_num: s.is_send_num,
                locked_num: s.locked_num,
                used_num: s.used_num,
                coupon_budget: s.coupon_budget,
                begin_time: time_out(s.begin_time),
                end_time: time_out(s.end_time),
                create_time: time_out(s.create_time),
                signature: signature_out(s.signature),
                fields: fields_out(s.fields),
            })
        }
        core::CouponResponse::QueryCouponsInfo(c) => {
            wit::CouponResponse::QueryCouponsInfo(wit::CouponInfo {
                coupon_id: c.coupon_id,
                coupon_stock_id: c.coupon_stock_id,
                coupon_value: c.coupon_value,
                coupon_minimum: c.coupon_minimum,
                coupon_name: c.coupon_name,
                coupon_desc: c.coupon_desc,
                state: match c.state {
                    core::CouponState::Usable => wit::CouponState::Usable,
                    core::CouponState::Used => wit::CouponState::Used,
                    core::CouponState::Expired => wit::CouponState::Expired,
                    core::CouponState::Locked => wit::CouponState::Locked,
                    core::CouponState::Unknown(s) => wit::CouponState::Unknown(s),
                },
                coupon_use_value: c.coupon_use_value,
                coupon_remain_value: c.coupon_remain_value,
                begin_time: time_out(c.begin_time),
                end_time: time_out(c.end_time),
                send_time: time_out(c.send_time),
                send_source: c.send_source,
                is_partial_use: c.is_partial_use,
                consumer_mch_id: c.consumer_mch_id,
                signature: signature_out(c.signature),
                fields: fields_out(c.fields),
            })
        }
    }
}

pub fn error_out(e: core::Error) -> wit::CouponError {
    match e {
        core::Error::InvalidInput(f) => wit::CouponError::InvalidInput(wit::FieldError {
            field: f.field,
            rule: f.rule,
        }),
        core::Error::UnexpectedStatus { status } => wit::CouponError::UnexpectedStatus(status),
        core::Error::MalformedResponse(m) => {
            wit::CouponError::MalformedResponse(wit::MalformedResponse {
                field: m.field,
                problem: m.problem,
            })
        }
        core::Error::Protocol { return_msg } => wit::CouponError::Protocol(return_msg),
        core::Error::Business(b) => wit::CouponError::Business(wit::BusinessError {
            err_code: b.err_code,
            err_code_des: b.err_code_des,
            ret_msg: b.ret_msg,
            meaning: b.meaning,
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
            message,
            may_have_reached_wechat,
        }),
        core::Error::Denied { message } => wit::CouponError::Denied(message),
    }
}

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
        wit::CouponError::Signature(problem) => core::Error::Signature {
            problem: match problem {
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
