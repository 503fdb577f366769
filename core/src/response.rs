//! Typed responses and the classification of an answer into success or a precise error.
//!
//! An answer is read in three levels, as WeChat layers it:
//! 1. `return_code` — did the call get through (`FAIL`: [`Error::Protocol`] with `return_msg`,
//!    or [`Error::Business`] when an `err_code` such as `CA_ERROR` comes with it)?
//! 2. `result_code`/`err_code` — did the business operation succeed ([`Error::Business`])?
//! 3. for `send_coupon`, `ret_code` + `coupon_id` — was the coupon issued to this openid?
//!
//! Between 1 and 2 the signature is checked by the merchant's [`SignaturePolicy`]: verified when
//! `sign` is present — with the merchant's own digest, so an answer cannot downgrade an
//! HMAC-SHA256 merchant to MD5 — and an unsigned answer accepted unless the policy is `Require`.

use crate::error::{BusinessError, Error, MalformedResponse, SignatureError};
use crate::merchant::{Merchant, SignaturePolicy};
use crate::request::Api;
use crate::sign::{verify_with, SignType};
use crate::time::WechatTime;
use crate::xml::{read_xml, XmlLimits};
use crate::Fields;

/// What became of the response's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum SignatureCheck {
    /// `sign` was present and matched, as MD5.
    VerifiedMd5,
    /// `sign` was present and matched, as HMAC-SHA256.
    VerifiedHmacSha256,
    /// The response carried no `sign` (accepted under [`SignaturePolicy::VerifyIfPresent`]).
    Absent,
}

/// A coupon issued by `send_coupon`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SentCoupon {
    /// The new coupon's id.
    pub coupon_id: String,
    /// The stock it came from.
    pub coupon_stock_id: String,
    /// The user it went to.
    pub openid: String,
    /// `resp_count`, when sent.
    pub resp_count: Option<u32>,
    /// `success_count`, when sent.
    pub success_count: Option<u32>,
    /// `failed_count`, when sent.
    pub failed_count: Option<u32>,
    /// The signature check.
    pub signature: SignatureCheck,
    /// Every field as received, unknown ones included.
    pub fields: Fields,
}

/// A stock's state (`coupon_stock_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum StockStatus {
    /// 1 未激活: created, not yet active.
    Inactive,
    /// 2 审批中: under review.
    UnderReview,
    /// 4 已激活: active; coupons can be issued.
    Active,
    /// 8 已作废: voided.
    Voided,
    /// 16 中止发放: issuing stopped.
    SendingStopped,
    /// A value WeChat has not documented.
    Unknown(u32),
}

impl StockStatus {
    /// Reads the wire number.
    pub fn from_code(code: u32) -> StockStatus {
        match code {
            1 => StockStatus::Inactive,
            2 => StockStatus::UnderReview,
            4 => StockStatus::Active,
            8 => StockStatus::Voided,
            16 => StockStatus::SendingStopped,
            other => StockStatus::Unknown(other),
        }
    }

    /// The wire number.
    pub fn code(self) -> u32 {
        match self {
            StockStatus::Inactive => 1,
            StockStatus::UnderReview => 2,
            StockStatus::Active => 4,
            StockStatus::Voided => 8,
            StockStatus::SendingStopped => 16,
            StockStatus::Unknown(other) => other,
        }
    }
}

/// A stock (批次) as `query_coupon_stock` reports it. Amounts are in fen (分).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CouponStock {
    /// The stock id.
    pub coupon_stock_id: String,
    /// Its name.
    pub coupon_name: Option<String>,
    /// Face value of each coupon.
    pub coupon_value: u64,
    /// Minimum spend, from whichever of `coupon_mininumn`, `coupon_mininum`, `coupon_minimum`
    /// was sent.
    pub coupon_minimum: Option<u64>,
    /// `coupon_type`: 1 no threshold, 2 threshold (exclusive), 3 threshold (stackable).
    pub coupon_type: Option<u32>,
    /// The stock's state.
    pub status: StockStatus,
    /// How many coupons the stock holds.
    pub coupon_total: u64,
    /// Most coupons one user may receive; 0 means no limit.
    pub max_quota: Option<u64>,
    /// How many have been issued.
    pub is_send_num: Option<u64>,
    /// How many are locked.
    pub locked_num: Option<u64>,
    /// How many have been used.
    pub used_num: Option<u64>,
    /// The budget.
    pub coupon_budget: Option<u64>,
    /// Validity start (`begin_time`, else its `begin_time_t` twin).
    pub begin_time: Option<WechatTime>,
    /// Validity end.
    pub end_time: Option<WechatTime>,
    /// Creation time.
    pub create_time: Option<WechatTime>,
    /// The signature check.
    pub signature: SignatureCheck,
    /// Every field as received, unknown ones included.
    pub fields: Fields,
}

/// A coupon's state (`coupon_state`): today's strings and the legacy numbers mapped together.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum CouponState {
    /// `SENDED` (legacy `2`, activated): issued and usable.
    Usable,
    /// `USED` (legacy `8`, deducted): spent.
    Used,
    /// `EXPIRED`.
    Expired,
    /// Legacy `4`: locked by a payment in progress.
    Locked,
    /// A value WeChat has not documented, as sent.
    Unknown(String),
}

impl CouponState {
    /// Reads `coupon_state`.
    pub fn parse(raw: &str) -> CouponState {
        match raw.trim() {
            "SENDED" | "2" => CouponState::Usable,
            "USED" | "8" => CouponState::Used,
            "EXPIRED" => CouponState::Expired,
            "4" => CouponState::Locked,
            other => CouponState::Unknown(other.to_string()),
        }
    }
}

/// One coupon as `querycouponsinfo` reports it. Amounts are in fen (分).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CouponInfo {
    /// The coupon id.
    pub coupon_id: String,
    /// Its stock.
    pub coupon_stock_id: String,
    /// Face value.
    pub coupon_value: u64,
    /// Minimum spend, from whichever spelling was sent.
    pub coupon_minimum: Option<u64>,
    /// Name.
    pub coupon_name: Option<String>,
    /// Description.
    pub coupon_desc: Option<String>,
    /// State.
    pub state: CouponState,
    /// Amount used so far.
    pub coupon_use_value: Option<u64>,
    /// Amount left (partial use).
    pub coupon_remain_value: Option<u64>,
    /// Validity start.
    pub begin_time: Option<WechatTime>,
    /// Validity end.
    pub end_time: Option<WechatTime>,
    /// When it was issued.
    pub send_time: Option<WechatTime>,
    /// `send_source`: `NORMAL`, `FULL_SEND`, …
    pub send_source: Option<String>,
    /// Whether partial use is allowed (`is_partial_use` = 1).
    pub is_partial_use: Option<bool>,
    /// The merchant where it was used.
    pub consumer_mch_id: Option<String>,
    /// The signature check.
    pub signature: SignatureCheck,
    /// Every field as received, unknown ones included.
    pub fields: Fields,
}

/// A successful answer of one of the three APIs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "api", rename_all = "snake_case"))]
pub enum CouponResponse {
    /// `send_coupon`.
    SendCoupon(SentCoupon),
    /// `query_coupon_stock`.
    QueryCouponStock(CouponStock),
    /// `querycouponsinfo`.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "querycouponsinfo", alias = "query_coupons_info")
    )]
    QueryCouponsInfo(CouponInfo),
}

/// The three spellings real traffic and the docs use for the minimum-spend field.
pub const MINIMUM_SPELLINGS: [&str; 3] = ["coupon_mininumn", "coupon_mininum", "coupon_minimum"];

/// Reads an answer of `api`: status, XML, the three levels, the signature, typed fields.
pub fn parse_response(
    merchant: &Merchant,
    api: Api,
    status: u16,
    body: &[u8],
) -> Result<CouponResponse, Error> {
    parse_response_with_limits(merchant, api, status, body, &XmlLimits::default())
}

/// [`parse_response`] with explicit XML limits.
pub fn parse_response_with_limits(
    merchant: &Merchant,
    api: Api,
    status: u16,
    body: &[u8],
    limits: &XmlLimits,
) -> Result<CouponResponse, Error> {
    Ok(match api {
        Api::SendCoupon => {
            CouponResponse::SendCoupon(parse_send_coupon(merchant, status, body, limits)?)
        }
        Api::QueryCouponStock => CouponResponse::QueryCouponStock(parse_query_coupon_stock(
            merchant, status, body, limits,
        )?),
        Api::QueryCouponsInfo => CouponResponse::QueryCouponsInfo(parse_query_coupons_info(
            merchant, status, body, limits,
        )?),
    })
}

/// Status, XML, the three levels and the signature of an answer to `api`: its fields and what
/// became of its `sign`, when it reports success.
fn accepted(
    merchant: &Merchant,
    api: Api,
    status: u16,
    body: &[u8],
    limits: &XmlLimits,
) -> Result<(Fields, SignatureCheck), Error> {
    answer_text(status, body, limits)?;
    let fields = read_xml(body, limits)?;
    let signature = classify(merchant, api, &fields)?;
    Ok((fields, signature))
}

/// The first checks of every answer, in the order the parsers make them: the status is 200, the
/// body fits the limit and is UTF-8. Hosts whose boundary carries bodies as text use it to
/// refuse, with the parsers' own error, a body they cannot pass.
pub fn answer_text<'a>(status: u16, body: &'a [u8], limits: &XmlLimits) -> Result<&'a str, Error> {
    if status != 200 {
        return Err(Error::UnexpectedStatus { status });
    }
    Ok(crate::xml::body_text(body, limits)?)
}

/// Reads an answer to `send_coupon`.
pub fn parse_send_coupon(
    merchant: &Merchant,
    status: u16,
    body: &[u8],
    limits: &XmlLimits,
) -> Result<SentCoupon, Error> {
    let (fields, signature) = accepted(merchant, Api::SendCoupon, status, body, limits)?;
    let r = Reader(&fields);
    Ok(SentCoupon {
        coupon_id: r.required("coupon_id")?,
        coupon_stock_id: r.text("coupon_stock_id").unwrap_or_default(),
        openid: r.text("openid").unwrap_or_default(),
        resp_count: r.number("resp_count")?,
        success_count: r.number("success_count")?,
        failed_count: r.number("failed_count")?,
        signature,
        fields,
    })
}

/// Reads an answer to `query_coupon_stock`.
pub fn parse_query_coupon_stock(
    merchant: &Merchant,
    status: u16,
    body: &[u8],
    limits: &XmlLimits,
) -> Result<CouponStock, Error> {
    let (fields, signature) = accepted(merchant, Api::QueryCouponStock, status, body, limits)?;
    let r = Reader(&fields);
    Ok(CouponStock {
        coupon_stock_id: r.required("coupon_stock_id")?,
        coupon_name: r.text("coupon_name"),
        coupon_value: r.required_number("coupon_value")?,
        coupon_minimum: r.minimum()?,
        coupon_type: r.number("coupon_type")?,
        status: StockStatus::from_code(r.required_number("coupon_stock_status")?),
        coupon_total: r.required_number("coupon_total")?,
        max_quota: r.number("max_quota")?,
        is_send_num: r.number("is_send_num")?,
        locked_num: r.number("locked_num")?,
        used_num: r.number("used_num")?,
        coupon_budget: r.number("coupon_budget")?,
        begin_time: r.time("begin_time"),
        end_time: r.time("end_time"),
        create_time: r.time("create_time"),
        signature,
        fields,
    })
}

/// Reads an answer to `querycouponsinfo`.
pub fn parse_query_coupons_info(
    merchant: &Merchant,
    status: u16,
    body: &[u8],
    limits: &XmlLimits,
) -> Result<CouponInfo, Error> {
    let (fields, signature) = accepted(merchant, Api::QueryCouponsInfo, status, body, limits)?;
    let r = Reader(&fields);
    Ok(CouponInfo {
        coupon_id: r.required("coupon_id")?,
        coupon_stock_id: r.required("coupon_stock_id")?,
        coupon_value: r.required_number("coupon_value")?,
        coupon_minimum: r.minimum()?,
        coupon_name: r.text("coupon_name"),
        coupon_desc: r.text("coupon_desc"),
        state: CouponState::parse(&r.required("coupon_state")?),
        coupon_use_value: r.number("coupon_use_value")?,
        coupon_remain_value: r.number("coupon_remain_value")?,
        begin_time: r.time("begin_time"),
        end_time: r.time("end_time"),
        send_time: r.time("send_time"),
        send_source: r.text("send_source"),
        is_partial_use: r.text("is_partial_use").map(|v| v == "1"),
        consumer_mch_id: r.text("consumer_mch_id"),
        signature,
        fields,
    })
}

/// Levels 1–3 and the signature: `Ok` only for an answer that reports success.
fn classify(merchant: &Merchant, api: Api, fields: &Fields) -> Result<SignatureCheck, Error> {
    let r = Reader(fields);
    match r.required("return_code")?.as_str() {
        "SUCCESS" => {}
        // With an err_code beside it (CA_ERROR, SIGN_ERROR…), the code says more than the
        // message: report it as a business error so its meaning and advice come along.
        "FAIL" => {
            return Err(match r.text("err_code") {
                Some(code) => business(&r, Some(code)),
                None => Error::Protocol {
                    return_msg: r.text("return_msg").unwrap_or_default(),
                },
            })
        }
        _ => return Err(MalformedResponse::field("return_code", "must be SUCCESS or FAIL").into()),
    }

    let signature = match r.text("sign") {
        // The digest the request was signed with, never the one the answer's length suggests.
        Some(sign) => {
            verify_with(fields, &merchant.api_key, &sign, merchant.sign_type)?;
            match merchant.sign_type {
                SignType::Md5 => SignatureCheck::VerifiedMd5,
                SignType::HmacSha256 => SignatureCheck::VerifiedHmacSha256,
            }
        }
        None if merchant.signature_policy == SignaturePolicy::Require => {
            return Err(SignatureError::Missing.into())
        }
        None => SignatureCheck::Absent,
    };

    // An answer about another merchant is never ours to act on.
    for (field, expected) in [("appid", &merchant.appid), ("mch_id", &merchant.mch_id)] {
        if let Some(echo) = r.text(field) {
            if echo != expected.trim() {
                return Err(MalformedResponse::field(
                    field,
                    "does not match the merchant's (an answer for another merchant?)",
                )
                .into());
            }
        }
    }

    let err_code = r.text("err_code");
    let result_code = r.required("result_code")?;
    if !matches!(result_code.as_str(), "SUCCESS" | "FAIL") {
        return Err(MalformedResponse::field("result_code", "must be SUCCESS or FAIL").into());
    }
    // The docs show result_code SUCCESS next to an err_code: any err_code is a failure.
    if result_code == "FAIL" || err_code.is_some() {
        return Err(business(&r, err_code));
    }

    if api == Api::SendCoupon {
        match r.required("ret_code")?.as_str() {
            "SUCCESS" => {
                if r.text("coupon_id").is_none() {
                    return Err(MalformedResponse::field(
                        "coupon_id",
                        "empty although ret_code is SUCCESS",
                    )
                    .into());
                }
            }
            // Documented as FAILED; real traffic says FAIL.
            "FAIL" | "FAILED" => return Err(business(&r, None)),
            _ => {
                return Err(
                    MalformedResponse::field("ret_code", "must be SUCCESS, FAIL or FAILED").into(),
                )
            }
        }
    }
    Ok(signature)
}

fn business(r: &Reader<'_>, err_code: Option<String>) -> Error {
    Error::Business(BusinessError::new(
        err_code,
        r.text("err_code_des").or_else(|| r.text("return_msg")),
        r.text("ret_msg"),
    ))
}

/// Typed access to the fields, with errors that name the field.
struct Reader<'a>(&'a Fields);

impl Reader<'_> {
    /// The trimmed value, `None` when absent or empty.
    fn text(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    fn required(&self, name: &str) -> Result<String, Error> {
        self.text(name)
            .ok_or_else(|| MalformedResponse::field(name, "required but absent or empty").into())
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Error> {
        let Some(text) = self.text(name) else {
            return Ok(None);
        };
        let all_digits = text.bytes().all(|b| b.is_ascii_digit());
        match text.parse::<T>() {
            Ok(n) if all_digits => Ok(Some(n)),
            _ => {
                let shown: String = text.chars().take(24).collect();
                Err(MalformedResponse::field(
                    name,
                    format!("must be an unsigned integer (got `{shown}`)"),
                )
                .into())
            }
        }
    }

    fn required_number<T: std::str::FromStr>(&self, name: &str) -> Result<T, Error> {
        self.number(name)?
            .ok_or_else(|| MalformedResponse::field(name, "required but absent or empty").into())
    }

    fn minimum(&self) -> Result<Option<u64>, Error> {
        for name in MINIMUM_SPELLINGS {
            if let Some(n) = self.number(name)? {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }

    /// A time field, falling back to its undocumented `*_t` twin.
    fn time(&self, name: &str) -> Option<WechatTime> {
        self.text(name)
            .or_else(|| self.text(&format!("{name}_t")))
            .map(|raw| WechatTime::parse(&raw))
    }
}
