//! The one table between the core's types and the types the WIT bindings generate for
//! `wxpay:coupon/v2-types`, used by both sides of the boundary: the component (`wit-bindgen`'s
//! types) and the reference host (`wasmtime::component::bindgen!`'s types).
//!
//! The two generators make distinct Rust types with the same names and fields, so the mapping
//! is written once here as a macro, [`v2_wit_mapping!`], that each side expands over its own
//! bindings module. Every field converts with [`MapInto`]: identity for scalars and strings,
//! element-wise for `Option`, and by the macro's impls for the records, enums and variants. The
//! few types whose shapes differ on purpose (the merchant's redacted key, the errors, which the
//! core keeps in one enum) are mapped by hand next to the expansion.

/// A conversion between two shapes of one value (the core's, a binding's); both directions of
/// every `v2-types` type are implemented by [`v2_wit_mapping!`].
pub trait MapInto<T> {
    /// The value in the other shape.
    fn map_into(self) -> T;
}

macro_rules! identity {
    ($($t:ty),*) => { $(impl MapInto<$t> for $t { fn map_into(self) -> $t { self } })* };
}
identity!(String, bool, u8, u16, u32, u64, i64, Vec<(String, String)>);

impl<A: MapInto<B>, B> MapInto<Option<B>> for Option<A> {
    fn map_into(self) -> Option<B> {
        self.map(MapInto::map_into)
    }
}

/// Fields by name → the WIT's sorted list.
impl MapInto<Vec<(String, String)>> for crate::Fields {
    fn map_into(self) -> Vec<(String, String)> {
        self.into_iter().collect()
    }
}

/// The WIT's list → fields by name (the last of a repeated name wins: callers that must refuse
/// repeats, such as `sign`, check first).
impl MapInto<crate::Fields> for Vec<(String, String)> {
    fn map_into(self) -> crate::Fields {
        self.into_iter().collect()
    }
}

/// A body the core built (always UTF-8: it writes XML from strings) → the WIT's `string`.
impl MapInto<String> for Vec<u8> {
    fn map_into(self) -> String {
        String::from_utf8(self)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// The WIT's `string` body → bytes.
impl MapInto<Vec<u8>> for String {
    fn map_into(self) -> Vec<u8> {
        self.into_bytes()
    }
}

/// Both directions of a record whose fields have the same names on both sides.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_record {
    ($w:ident, $name:ident { $($field:ident),* $(,)? }) => {
        impl $crate::MapInto<$w::$name> for $crate::$name {
            fn map_into(self) -> $w::$name {
                $w::$name { $($field: $crate::MapInto::map_into(self.$field)),* }
            }
        }
        impl $crate::MapInto<$crate::$name> for $w::$name {
            fn map_into(self) -> $crate::$name {
                $crate::$name { $($field: $crate::MapInto::map_into(self.$field)),* }
            }
        }
    };
}

/// Both directions of an enum or variant: cases without a payload, then cases with one.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_cases {
    ($w:ident, $name:ident { $($case:ident),* $(,)? } $(payload { $($with:ident),* $(,)? })?) => {
        impl $crate::MapInto<$w::$name> for $crate::$name {
            fn map_into(self) -> $w::$name {
                match self {
                    $($crate::$name::$case => $w::$name::$case,)*
                    $($($crate::$name::$with(v) => $w::$name::$with($crate::MapInto::map_into(v)),)*)?
                }
            }
        }
        impl $crate::MapInto<$crate::$name> for $w::$name {
            fn map_into(self) -> $crate::$name {
                match self {
                    $($w::$name::$case => $crate::$name::$case,)*
                    $($($w::$name::$with(v) => $crate::$name::$with($crate::MapInto::map_into(v)),)*)?
                }
            }
        }
    };
}

/// Expands, in the calling crate, [`MapInto`] both ways between the core and the bindings
/// module `$w` (an identifier in scope naming the generated `v2-types` module) for every type
/// of `v2-types` whose fields match one to one.
///
/// The shapes that differ on purpose are mapped here too, by hand: `merchant` (the core's key is
/// an [`ApiKey`](crate::ApiKey), so the way in is fallible: `merchant_from_wit`),
/// `business-error` (the WIT leaves out the core's derived `retryable`) and the errors (the core
/// keeps one [`Error`](crate::Error) enum where the WIT has `protocol-error` inside
/// `call-error`: `call_error_to_wit`, `call_error_from_wit`).
#[macro_export]
macro_rules! v2_wit_mapping {
    ($w:ident) => {
        $crate::__wit_cases!($w, SignType { Md5, HmacSha256 });
        $crate::__wit_cases!($w, ApiHost { Production, Backup } payload { Custom });
        $crate::__wit_cases!($w, SignaturePolicy { VerifyIfPresent, Require });
        $crate::__wit_cases!($w, SignatureCheck { VerifiedMd5, VerifiedHmacSha256, Absent });
        $crate::__wit_cases!($w, StockStatus { Inactive, UnderReview, Active, Voided, SendingStopped } payload { Unknown });
        $crate::__wit_cases!($w, CouponState { Usable, Used, Expired, Locked } payload { Unknown });
        $crate::__wit_cases!($w, RetryAdvice { DoNotRetry, Retry, RetryLater, ReconcileFirst });
        $crate::__wit_cases!($w, SignatureError { Missing, Malformed, Mismatch });
        $crate::__wit_record!($w, CommonOptions { op_user_id, device_info, version, message_type });
        $crate::__wit_record!($w, SendCouponRequest { coupon_stock_id, openid, partner_trade_no, options });
        $crate::__wit_record!($w, QueryCouponStockRequest { coupon_stock_id, options });
        $crate::__wit_record!($w, QueryCouponsInfoRequest { coupon_id, openid, stock_id, options });
        $crate::__wit_record!($w, HttpRequest { method, url, headers, body, needs_client_certificate });
        $crate::__wit_record!($w, WechatTime { raw, unix_seconds });
        $crate::__wit_record!($w, SentCoupon {
            coupon_id, coupon_stock_id, openid, resp_count, success_count, failed_count,
            signature, fields,
        });
        $crate::__wit_record!($w, CouponStock {
            coupon_stock_id, coupon_name, coupon_value, coupon_minimum, coupon_type, status,
            coupon_total, max_quota, is_send_num, locked_num, used_num, coupon_budget,
            begin_time, end_time, create_time, signature, fields,
        });
        $crate::__wit_record!($w, CouponInfo {
            coupon_id, coupon_stock_id, coupon_value, coupon_minimum, coupon_name, coupon_desc,
            state, coupon_use_value, coupon_remain_value, begin_time, end_time, send_time,
            send_source, is_partial_use, consumer_mch_id, signature, fields,
        });
        $crate::__wit_record!($w, FieldError { field, rule });
        $crate::__wit_record!($w, MalformedResponse { field, problem });

        impl $crate::MapInto<$w::BusinessError> for $crate::BusinessError {
            fn map_into(self) -> $w::BusinessError {
                $w::BusinessError {
                    err_code: self.err_code,
                    err_code_des: self.err_code_des,
                    ret_msg: self.ret_msg,
                    meaning: self.meaning,
                    advice: $crate::MapInto::map_into(self.advice),
                }
            }
        }

        impl $crate::MapInto<$crate::BusinessError> for $w::BusinessError {
            fn map_into(self) -> $crate::BusinessError {
                let advice: $crate::RetryAdvice = $crate::MapInto::map_into(self.advice);
                $crate::BusinessError {
                    err_code: self.err_code,
                    err_code_des: self.err_code_des,
                    ret_msg: self.ret_msg,
                    meaning: self.meaning,
                    advice,
                    retryable: advice.is_retryable(),
                }
            }
        }

        /// The merchant settings as the WIT carries them (the key in clear: it crosses into the
        /// component, nowhere else).
        #[allow(dead_code)]
        pub fn merchant_to_wit(m: &$crate::Merchant) -> $w::Merchant {
            $w::Merchant {
                appid: m.appid.clone(),
                mch_id: m.mch_id.clone(),
                api_key: m.api_key.expose().to_string(),
                sign_type: $crate::MapInto::map_into(m.sign_type),
                host: $crate::MapInto::map_into(m.host.clone()),
                sandbox: m.sandbox,
                signature_policy: $crate::MapInto::map_into(m.signature_policy),
            }
        }

        /// The merchant settings from the WIT; an empty key is `merchant.api_key: required`.
        #[allow(dead_code)]
        pub fn merchant_from_wit(m: $w::Merchant) -> Result<$crate::Merchant, $crate::Error> {
            let api_key = $crate::ApiKey::new(m.api_key)
                .map_err(|_| $crate::Error::invalid("merchant.api_key", "required"))?;
            Ok($crate::Merchant {
                appid: m.appid,
                mch_id: m.mch_id,
                api_key,
                sign_type: $crate::MapInto::map_into(m.sign_type),
                host: $crate::MapInto::map_into(m.host),
                sandbox: m.sandbox,
                signature_policy: $crate::MapInto::map_into(m.signature_policy),
            })
        }

        /// A core error as the WIT's `call-error` (its sans-IO kinds inside `protocol`).
        #[allow(dead_code)]
        pub fn call_error_to_wit(e: $crate::Error) -> $w::CallError {
            use $w::ProtocolError as P;
            use $crate::Error as E;
            $w::CallError::Protocol(match e {
                E::InvalidInput(f) => P::InvalidInput($crate::MapInto::map_into(f)),
                E::UnexpectedStatus { status } => P::UnexpectedStatus(status),
                E::MalformedResponse(m) => P::MalformedResponse($crate::MapInto::map_into(m)),
                E::Protocol { return_msg } => P::Protocol(return_msg),
                E::Business(b) => P::Business($crate::MapInto::map_into(b)),
                E::Signature { problem } => P::Signature($crate::MapInto::map_into(problem)),
                E::Transport { message, may_have_reached_wechat } => {
                    return $w::CallError::Transport($w::TransportError {
                        message,
                        may_have_reached_wechat,
                    })
                }
                E::Denied { message } => return $w::CallError::Denied(message),
            })
        }

        /// The WIT's `call-error` as the core's one error enum.
        #[allow(dead_code)]
        pub fn call_error_from_wit(e: $w::CallError) -> $crate::Error {
            use $crate::Error as E;
            match e {
                $w::CallError::Protocol(p) => protocol_error_from_wit(p),
                $w::CallError::Transport(t) => E::Transport {
                    message: t.message,
                    may_have_reached_wechat: t.may_have_reached_wechat,
                },
                $w::CallError::Denied(message) => E::Denied { message },
            }
        }

        /// The WIT's `protocol-error` as the core's one error enum.
        #[allow(dead_code)]
        pub fn protocol_error_from_wit(p: $w::ProtocolError) -> $crate::Error {
            use $w::ProtocolError as P;
            use $crate::Error as E;
            match p {
                P::InvalidInput(f) => E::InvalidInput($crate::MapInto::map_into(f)),
                P::UnexpectedStatus(status) => E::UnexpectedStatus { status },
                P::MalformedResponse(m) => E::MalformedResponse($crate::MapInto::map_into(m)),
                P::Protocol(return_msg) => E::Protocol { return_msg },
                P::Business(b) => E::Business($crate::MapInto::map_into(b)),
                P::Signature(problem) => E::Signature { problem: $crate::MapInto::map_into(problem) },
            }
        }
    };
}

/// Both directions of a record whose fields have the same names on both sides, the core type
/// given by its path (`v3` types live below the crate root).
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_record_at {
    ($w:ident, $($core:ident)::+ => $name:ident { $($field:ident),* $(,)? }) => {
        impl $crate::MapInto<$w::$name> for $crate::$($core)::+ {
            fn map_into(self) -> $w::$name {
                $w::$name { $($field: $crate::MapInto::map_into(self.$field)),* }
            }
        }
        impl $crate::MapInto<$crate::$($core)::+> for $w::$name {
            fn map_into(self) -> $crate::$($core)::+ {
                $crate::$($core)::+ { $($field: $crate::MapInto::map_into(self.$field)),* }
            }
        }
    };
}

/// A list, element by element.
impl<A: MapInto<B>, B> MapInto<Vec<B>> for Vec<A> {
    fn map_into(self) -> Vec<B> {
        self.into_iter().map(MapInto::map_into).collect()
    }
}

/// Fields the core does not type (a JSON object) → the WIT's `extra: option<string>`, none when
/// there are none.
#[cfg(feature = "v3")]
impl MapInto<Option<String>> for serde_json::Map<String, serde_json::Value> {
    fn map_into(self) -> Option<String> {
        (!self.is_empty()).then(|| serde_json::Value::Object(self).to_string())
    }
}

/// The WIT's `extra` → the core's map (text that is not a JSON object is dropped: the core
/// made it).
#[cfg(feature = "v3")]
impl MapInto<serde_json::Map<String, serde_json::Value>> for Option<String> {
    fn map_into(self) -> serde_json::Map<String, serde_json::Value> {
        self.and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    }
}

/// Expands, in the calling crate, [`MapInto`] both ways between the core's `v3` types and the
/// bindings module `$w` naming the generated `v3-types` module (whose `field-error`,
/// `retry-advice`, `malformed-response` and `transport-error` are `v2-types`' own, mapped by
/// [`v2_wit_mapping!`]). By hand: `to-sign` (flat in the WIT), the errors (the core boxes its
/// refusal and names missing headers by constant): `v3_error_to_wit`, `v3_error_from_wit`.
#[cfg(feature = "v3")]
#[macro_export]
macro_rules! v3_wit_mapping {
    ($w:ident) => {
        $crate::__wit_record_at!($w, v3::merchant::MerchantSettings => MerchantSettings {
            mchid, merchant_serial_no, apiv3_key, private_key_pem, wechatpay_public_key_id,
            wechatpay_public_key_pem, platform_certificates, base_url,
        });
        $crate::__wit_record_at!($w, v3::favor::IssueCoupon => IssueCouponRequest {
            openid, stock_id, out_request_no, appid, stock_creator_mchid, coupon_value,
            coupon_minimum,
        });
        $crate::__wit_record_at!($w, v3::favor::QueryStock => QueryStockRequest { stock_id, stock_creator_mchid });
        $crate::__wit_record_at!($w, v3::favor::QueryCoupon => QueryCouponRequest { openid, coupon_id, appid });
        $crate::__wit_record_at!($w, v3::favor::IssuedCoupon => IssuedCoupon { coupon_id });
        $crate::__wit_record_at!($w, v3::favor::FixedNormalCoupon => FixedNormalCoupon { coupon_amount, transaction_minimum });
        $crate::__wit_record_at!($w, v3::favor::StockUseRule => StockUseRule {
            max_coupons, max_amount, max_amount_by_day, fixed_normal_coupon, max_coupons_per_user,
            coupon_type, goods_tag, trade_type, combine_use, extra,
        });
        $crate::__wit_record_at!($w, v3::favor::CutToMessage => CutToMessage { single_price_max, cut_to_price });
        $crate::__wit_record_at!($w, v3::favor::Stock => Stock {
            stock_id, stock_creator_mchid, stock_name, status, create_time, description,
            stock_use_rule, available_begin_time, available_end_time, distributed_coupons, no_cash,
            start_time, stop_time, cut_to_message, singleitem, stock_type, business_type, extra,
        });
        $crate::__wit_record_at!($w, v3::favor::NormalCouponInformation => NormalCouponInformation { coupon_amount, transaction_minimum });
        $crate::__wit_record_at!($w, v3::favor::GoodsDetail => GoodsDetail { goods_id, quantity, price, discount_amount });
        $crate::__wit_record_at!($w, v3::favor::ConsumeInformation => ConsumeInformation { consume_time, consume_mchid, transaction_id, goods_detail });
        $crate::__wit_record_at!($w, v3::favor::Coupon => Coupon {
            coupon_id, stock_id, stock_creator_mchid, coupon_name, status, description,
            create_time, coupon_type, no_cash, available_begin_time, available_end_time,
            singleitem, normal_coupon_information, cut_to_message, consume_information,
            available_balance, business_type, extra,
        });
        $crate::__wit_record_at!($w, v3::certificates::PlatformCertificate => PlatformCertificate { serial_no, effective_time, expire_time, pem });
        $crate::__wit_record_at!($w, v3::answer::Answer => Answer { status, headers, body });
        $crate::__wit_record_at!($w, v3::answer::AnswerSignature => AnswerSignature { serial, message, signature, public_key_der });
        $crate::__wit_record_at!($w, v3::certificates::EncryptedResource => EncryptedResource { algorithm, nonce, associated_data, ciphertext });
        $crate::__wit_record_at!($w, v3::request::SignedRequest => SignedRequest { method, url, headers, body });
        $crate::__wit_record_at!($w, v3::error::RefusalDetail => RefusalDetail { field, value, issue, location });
        $crate::__wit_record_at!($w, v3::error::Refusal => Refusal { status, code, message, detail, meaning, advice });

        // Part 2: every cash-coupon API and the callback.
        $crate::__wit_record_at!($w, v3::stocks::NewStockUseRule => NewStockUseRule {
            max_coupons, max_amount, max_amount_by_day, max_coupons_per_user,
            natural_person_limit, prevent_api_abuse,
        });
        $crate::__wit_record_at!($w, v3::stocks::PatternInfo => PatternInfo {
            description, merchant_logo, merchant_name, background_color, coupon_image,
        });
        $crate::__wit_record_at!($w, v3::stocks::FixedFaceValue => FixedFaceValue { coupon_amount, transaction_minimum });
        $crate::__wit_record_at!($w, v3::stocks::CouponUseRule => CouponUseRule {
            fixed_normal_coupon, goods_tag, trade_type, combine_use, available_items,
            unavailable_items, available_merchants,
        });
        $crate::__wit_record_at!($w, v3::stocks::CreateStock => CreateStockRequest {
            stock_name, comment, belong_merchant, available_begin_time, available_end_time,
            stock_use_rule, pattern_info, coupon_use_rule, no_cash, stock_type, out_request_no,
            ext_info,
        });
        $crate::__wit_record_at!($w, v3::stocks::CreatedStock => CreatedStock { stock_id, create_time });
        $crate::__wit_record_at!($w, v3::stocks::StockChanged => StockChanged { stock_id, time });
        $crate::__wit_record_at!($w, v3::stocks::ListStocks => ListStocksRequest {
            offset, limit, stock_creator_mchid, create_start_time, create_end_time, status,
        });
        $crate::__wit_record_at!($w, v3::stocks::StockPage => StockPage { data, total_count, limit, offset });
        $crate::__wit_record_at!($w, v3::stocks::StockListing => StockListingRequest { stock_id, stock_creator_mchid, offset, limit });
        $crate::__wit_record_at!($w, v3::stocks::IdPage => IdPage { data, total_count, limit, offset, stock_id });
        $crate::__wit_record_at!($w, v3::flows::FlowFile => FlowFile { url, hash_value, hash_type });
        $crate::__wit_record_at!($w, v3::flows::FlowRow => FlowRow {
            stock_id, coupon_id, coupon_type, coupon_amount, order_amount, trade_type,
            transaction_id, consume_time, consume_mchid, device_no, bank_serial_no, refund_id,
            refund_time, refund_amount, extra,
        });
        $crate::__wit_record_at!($w, v3::favor::ListUserCoupons => ListUserCouponsRequest {
            openid, appid, stock_id, status, creator_mchid, sender_mchid, available_mchid, offset,
            limit,
        });
        $crate::__wit_record_at!($w, v3::favor::CouponPage => CouponPage { data, total_count, limit, offset });
        $crate::__wit_record_at!($w, v3::callbacks::SetCallback => SetCallbackRequest { mchid, notify_url, enabled });
        $crate::__wit_record_at!($w, v3::callbacks::CallbackUpdated => CallbackUpdated { update_time, notify_url });
        $crate::__wit_record_at!($w, v3::callbacks::GetCallback => GetCallbackRequest { mchid });
        $crate::__wit_record_at!($w, v3::callbacks::CallbackSetting => CallbackSetting { mchid, notify_url, enabled });
        $crate::__wit_record_at!($w, v3::notification::SingleitemDiscountOff => SingleitemDiscountOff { single_price_max });
        $crate::__wit_record_at!($w, v3::notification::DiscountTo => DiscountTo { cut_to_price, max_price });
        $crate::__wit_record_at!($w, v3::notification::CouponUseEvent => CouponUseEvent {
            id, create_time, event_type, summary, coupon, singleitem_discount_off, discount_to,
        });

        // The state enums: an unknown value keeps its text in the core only (the object's
        // `status` string keeps it for WIT users).
        impl $crate::MapInto<$w::StockStatus> for $crate::v3::status::StockStatus {
            fn map_into(self) -> $w::StockStatus {
                use $crate::v3::status::StockStatus as S;
                match self {
                    S::Unactivated => $w::StockStatus::Unactivated,
                    S::Audit => $w::StockStatus::Audit,
                    S::Running => $w::StockStatus::Running,
                    S::Stopped => $w::StockStatus::Stopped,
                    S::Paused => $w::StockStatus::Paused,
                    S::Expired => $w::StockStatus::Expired,
                    S::Unknown(_) => $w::StockStatus::Unknown,
                }
            }
        }
        impl $crate::MapInto<$crate::v3::status::StockStatus> for $w::StockStatus {
            fn map_into(self) -> $crate::v3::status::StockStatus {
                use $crate::v3::status::StockStatus as S;
                match self {
                    $w::StockStatus::Unactivated => S::Unactivated,
                    $w::StockStatus::Audit => S::Audit,
                    $w::StockStatus::Running => S::Running,
                    $w::StockStatus::Stopped => S::Stopped,
                    $w::StockStatus::Paused => S::Paused,
                    $w::StockStatus::Expired => S::Expired,
                    $w::StockStatus::Unknown => S::Unknown(String::new()),
                }
            }
        }
        impl $crate::MapInto<$w::CouponStatus> for $crate::v3::status::CouponStatus {
            fn map_into(self) -> $w::CouponStatus {
                use $crate::v3::status::CouponStatus as S;
                match self {
                    S::Sended => $w::CouponStatus::Sended,
                    S::Used => $w::CouponStatus::Used,
                    S::Expired => $w::CouponStatus::Expired,
                    S::Recover => $w::CouponStatus::Recover,
                    S::Revoked => $w::CouponStatus::Revoked,
                    S::Unknown(_) => $w::CouponStatus::Unknown,
                }
            }
        }
        impl $crate::MapInto<$crate::v3::status::CouponStatus> for $w::CouponStatus {
            fn map_into(self) -> $crate::v3::status::CouponStatus {
                use $crate::v3::status::CouponStatus as S;
                match self {
                    $w::CouponStatus::Sended => S::Sended,
                    $w::CouponStatus::Used => S::Used,
                    $w::CouponStatus::Expired => S::Expired,
                    $w::CouponStatus::Recover => S::Recover,
                    $w::CouponStatus::Revoked => S::Revoked,
                    $w::CouponStatus::Unknown => S::Unknown(String::new()),
                }
            }
        }

        // Requests whose WIT function names what the core keeps in a field (the change, the
        // flow) or wraps (the two listings): the WIT record without it, and back given it.
        impl $crate::MapInto<$w::StockChangeRequest> for $crate::v3::stocks::ChangeStock {
            fn map_into(self) -> $w::StockChangeRequest {
                $w::StockChangeRequest { stock_id: self.stock_id, stock_creator_mchid: self.stock_creator_mchid }
            }
        }
        /// A `stock-change-request` as the core's change the function names.
        #[allow(dead_code)]
        pub fn change_stock(change: $crate::v3::stocks::StockChange, r: $w::StockChangeRequest) -> $crate::v3::stocks::ChangeStock {
            $crate::v3::stocks::ChangeStock { change, stock_id: r.stock_id, stock_creator_mchid: r.stock_creator_mchid }
        }
        impl $crate::MapInto<$w::FlowRequest> for $crate::v3::flows::DownloadFlow {
            fn map_into(self) -> $w::FlowRequest {
                $w::FlowRequest { stock_id: self.stock_id }
            }
        }
        /// A `flow-request` as the core's download of the flow the function names.
        #[allow(dead_code)]
        pub fn download_flow(kind: $crate::v3::flows::FlowKind, r: $w::FlowRequest) -> $crate::v3::flows::DownloadFlow {
            $crate::v3::flows::DownloadFlow { kind, stock_id: r.stock_id }
        }
        impl $crate::MapInto<$w::StockListingRequest> for $crate::v3::stocks::ListStockMerchants {
            fn map_into(self) -> $w::StockListingRequest {
                $crate::MapInto::map_into(self.0)
            }
        }
        impl $crate::MapInto<$w::StockListingRequest> for $crate::v3::stocks::ListStockItems {
            fn map_into(self) -> $w::StockListingRequest {
                $crate::MapInto::map_into(self.0)
            }
        }

        /// A core callback error as the WIT's `notification-error`.
        #[allow(dead_code)]
        pub fn notification_error_to_wit(e: $crate::v3::notification::NotificationError) -> $w::NotificationError {
            use $crate::v3::notification::NotificationError as N;
            match e {
                N::Probe => $w::NotificationError::Probe,
                N::NotVerified { refusal } => $w::NotificationError::NotVerified(answer_refusal_to_wit(refusal)),
                N::NotDecrypted { problem } => $w::NotificationError::NotDecrypted(problem),
                N::Malformed(m) => $w::NotificationError::Malformed($crate::MapInto::map_into(m)),
                N::OtherEvent { event_type } => $w::NotificationError::OtherEvent(event_type),
            }
        }

        /// The WIT's `notification-error` as the core's.
        #[allow(dead_code)]
        pub fn notification_error_from_wit(e: $w::NotificationError) -> $crate::v3::notification::NotificationError {
            use $crate::v3::notification::NotificationError as N;
            match e {
                $w::NotificationError::Probe => N::Probe,
                $w::NotificationError::NotVerified(r) => N::NotVerified { refusal: answer_refusal_from_wit(r) },
                $w::NotificationError::NotDecrypted(problem) => N::NotDecrypted { problem },
                $w::NotificationError::Malformed(m) => N::Malformed($crate::MapInto::map_into(m)),
                $w::NotificationError::OtherEvent(event_type) => N::OtherEvent { event_type },
            }
        }

        /// An answer refusal as the WIT's.
        #[allow(dead_code)]
        pub fn answer_refusal_to_wit(refusal: $crate::v3::auth::AnswerRefusal) -> $w::AnswerRefusal {
            use $crate::v3::auth::AnswerRefusal as A;
            match refusal {
                A::MissingHeader(name) => $w::AnswerRefusal::MissingHeader(name.to_string()),
                A::MalformedTimestamp => $w::AnswerRefusal::MalformedTimestamp,
                A::StaleTimestamp { skew_seconds } => $w::AnswerRefusal::StaleTimestamp(skew_seconds),
                A::UnknownSerial => $w::AnswerRefusal::UnknownSerial,
                A::Signature => $w::AnswerRefusal::Signature,
            }
        }

        /// The WIT's answer refusal as the core's.
        #[allow(dead_code)]
        pub fn answer_refusal_from_wit(refusal: $w::AnswerRefusal) -> $crate::v3::auth::AnswerRefusal {
            use $crate::v3::auth::AnswerRefusal as A;
            match refusal {
                $w::AnswerRefusal::MissingHeader(name) => A::MissingHeader($crate::v3::auth::header_name(&name)),
                $w::AnswerRefusal::MalformedTimestamp => A::MalformedTimestamp,
                $w::AnswerRefusal::StaleTimestamp(skew_seconds) => A::StaleTimestamp { skew_seconds },
                $w::AnswerRefusal::UnknownSerial => A::UnknownSerial,
                $w::AnswerRefusal::Signature => A::Signature,
            }
        }

        impl $crate::MapInto<$w::Method> for $crate::v3::request::Method {
            fn map_into(self) -> $w::Method {
                match self {
                    $crate::v3::request::Method::Get => $w::Method::Get,
                    $crate::v3::request::Method::Post => $w::Method::Post,
                }
            }
        }

        impl $crate::MapInto<$crate::v3::request::Method> for $w::Method {
            fn map_into(self) -> $crate::v3::request::Method {
                match self {
                    $w::Method::Get => $crate::v3::request::Method::Get,
                    $w::Method::Post => $crate::v3::request::Method::Post,
                }
            }
        }

        impl $crate::MapInto<$w::ToSign> for $crate::v3::request::ToSign {
            fn map_into(self) -> $w::ToSign {
                $w::ToSign {
                    method: $crate::MapInto::map_into(self.request.method),
                    url: self.request.url,
                    body: self.request.body,
                    timestamp: self.timestamp,
                    nonce: self.nonce,
                    message: self.message,
                }
            }
        }

        impl $crate::MapInto<$crate::v3::request::ToSign> for $w::ToSign {
            fn map_into(self) -> $crate::v3::request::ToSign {
                $crate::v3::request::ToSign {
                    request: $crate::v3::request::Request {
                        method: $crate::MapInto::map_into(self.method),
                        url: self.url,
                        body: self.body,
                    },
                    timestamp: self.timestamp,
                    nonce: self.nonce,
                    message: self.message,
                }
            }
        }

        /// A core v3 error as the WIT's `v3-error`.
        #[allow(dead_code)]
        pub fn v3_error_to_wit(e: $crate::v3::error::Error) -> $w::V3Error {
            use $crate::v3::error::Error as E;
            match e {
                E::InvalidInput(f) => $w::V3Error::InvalidInput($crate::MapInto::map_into(f)),
                E::Refused(r) => $w::V3Error::Refused($crate::MapInto::map_into(*r)),
                E::AnswerNotVerified { refusal } => $w::V3Error::AnswerNotVerified(answer_refusal_to_wit(refusal)),
                E::MalformedResponse(m) => $w::V3Error::MalformedResponse($crate::MapInto::map_into(m)),
                E::Transport { message, may_have_reached_wechat } => {
                    $w::V3Error::Transport($w::TransportError { message, may_have_reached_wechat })
                }
                E::Denied { message } => $w::V3Error::Denied(message),
            }
        }

        /// The WIT's `v3-error` as the core's.
        #[allow(dead_code)]
        pub fn v3_error_from_wit(e: $w::V3Error) -> $crate::v3::error::Error {
            use $crate::v3::error::Error as E;
            match e {
                $w::V3Error::InvalidInput(f) => E::InvalidInput($crate::MapInto::map_into(f)),
                $w::V3Error::Refused(r) => E::Refused(Box::new($crate::MapInto::map_into(r))),
                $w::V3Error::AnswerNotVerified(r) => E::AnswerNotVerified { refusal: answer_refusal_from_wit(r) },
                $w::V3Error::MalformedResponse(m) => E::MalformedResponse($crate::MapInto::map_into(m)),
                $w::V3Error::Transport(t) => E::Transport {
                    message: t.message,
                    may_have_reached_wechat: t.may_have_reached_wechat,
                },
                $w::V3Error::Denied(message) => E::Denied { message },
            }
        }
    };
}
