//! The v3 cash-coupon calls (`/v3/marketing/favor`) as typed requests and answers: what each
//! field must be, the exact path and body each call sends, and every field of the stock and
//! coupon objects (spec §1.2, §1.3) with any field this crate does not know kept in `extra`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::answer::{json, read_issue_coupon};
use super::call::Call;
use super::error::Error;
use super::request::{Method, Request};
use super::status::CouponStatus;

/// The path every favor call starts with.
pub const FAVOR_PATH: &str = "/v3/marketing/favor";

/// The longest `out_request_no` WeChat accepts.
pub const MAX_OUT_REQUEST_NO: usize = 128;

/// Issue one coupon of a stock to a user (`POST /v3/marketing/favor/users/{openid}/coupons`).
/// Idempotent on `out_request_no`: the same number answers the same coupon.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueCoupon {
    /// The user, under `appid` (goes in the path).
    pub openid: String,
    /// The stock.
    pub stock_id: String,
    /// The merchant's number for this issuance: at most 128 letters, digits and `| _ * -`.
    pub out_request_no: String,
    /// The appid bound to the calling merchant (not necessarily the stock creator's).
    pub appid: String,
    /// The merchant that created the stock.
    pub stock_creator_mchid: String,
    /// The face value in fen, for stocks in "designated face value" mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_value: Option<u64>,
    /// The minimum order in fen, with `coupon_value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_minimum: Option<u64>,
}

/// The JSON body of the issue call, in the field order WeChat's documentation (and the
/// vectors) use. The simulator reads it with the same type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueCouponBody {
    /// The stock.
    pub stock_id: String,
    /// The merchant's number for this issuance.
    pub out_request_no: String,
    /// The appid bound to the calling merchant.
    pub appid: String,
    /// The stock's creator.
    pub stock_creator_mchid: String,
    /// The face value in fen ("designated face value" mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_value: Option<u64>,
    /// The minimum order in fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_minimum: Option<u64>,
}

/// One stock (`GET /v3/marketing/favor/stocks/{stock_id}?stock_creator_mchid=`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryStock {
    /// The stock.
    pub stock_id: String,
    /// The merchant that created it.
    pub stock_creator_mchid: String,
}

/// One coupon of a user (`GET /v3/marketing/favor/users/{openid}/coupons/{coupon_id}?appid=`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryCoupon {
    /// The user.
    pub openid: String,
    /// The coupon.
    pub coupon_id: String,
    /// The appid the openid belongs to.
    pub appid: String,
}

/// The issue call's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCoupon {
    /// The coupon issued (for a repeated `out_request_no`, the one issued the first time).
    pub coupon_id: String,
}

/// A fixed face value and the order it needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedNormalCoupon {
    /// Face value, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_amount: Option<u64>,
    /// Minimum order, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_minimum: Option<u64>,
}

/// The rules of a stock.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockUseRule {
    /// Coupons at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_coupons: Option<u64>,
    /// Budget, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount: Option<u64>,
    /// Budget per day, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount_by_day: Option<u64>,
    /// The face value and minimum order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_normal_coupon: Option<FixedNormalCoupon>,
    /// Coupons per user at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_coupons_per_user: Option<u64>,
    /// `NORMAL` or `CUT_TO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_type: Option<String>,
    /// Goods tags the coupon applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_tag: Option<Vec<String>>,
    /// Trade types it applies to (`MICROAPP`, `JSAPI`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<Vec<String>>,
    /// Whether it combines with other offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combine_use: Option<bool>,
    /// Fields this crate does not know, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A "cut to a price" rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutToMessage {
    /// The highest single price it applies to, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_price_max: Option<u64>,
    /// The price cut to, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_to_price: Option<u64>,
}

/// A stock (spec §1.2). Status is as sent (`running` in answers seen, `RUNNING` in the
/// documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stock {
    /// The stock.
    pub stock_id: String,
    /// Its creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_creator_mchid: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_name: Option<String>,
    /// Its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// When it was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_use_rule: Option<StockUseRule>,
    /// When its coupons become usable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_begin_time: Option<String>,
    /// When they stop being usable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_end_time: Option<String>,
    /// Coupons issued so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed_coupons: Option<u64>,
    /// Whether it is a no-cash (预充值) stock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_cash: Option<bool>,
    /// When it was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When it was stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_time: Option<String>,
    /// Its "cut to a price" rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_to_message: Option<CutToMessage>,
    /// Whether it is a single-item coupon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub singleitem: Option<bool>,
    /// `NORMAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_type: Option<String>,
    /// `MULTIUSE` for 消费金 stocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_type: Option<String>,
    /// Fields this crate does not know, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The face value of a normal coupon.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalCouponInformation {
    /// Face value, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_amount: Option<u64>,
    /// Minimum order, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_minimum: Option<u64>,
}

/// One line of goods a used coupon applied to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodsDetail {
    /// The goods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_id: Option<String>,
    /// How many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u64>,
    /// Unit price, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<u64>,
    /// Discount on the line, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_amount: Option<u64>,
}

/// How and where a coupon was used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumeInformation {
    /// When (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_time: Option<String>,
    /// At which merchant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_mchid: Option<String>,
    /// The payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// The goods (single-item coupons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_detail: Option<Vec<GoodsDetail>>,
}

/// A user's coupon (spec §1.3), `coupon_id` and `consume_information` included (the two fields
/// wechatpay-go and wechatpay-java leave out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    /// The coupon.
    pub coupon_id: String,
    /// Its stock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_id: Option<String>,
    /// The stock's creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_creator_mchid: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_name: Option<String>,
    /// `SENDED`, `USED`, `EXPIRED` (and `RECOVER`, `REVOKED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When the user received it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// `NORMAL` or `CUT_TO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_type: Option<String>,
    /// Whether its stock is no-cash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_cash: Option<bool>,
    /// When it becomes usable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_begin_time: Option<String>,
    /// When it stops being usable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_end_time: Option<String>,
    /// Whether it is a single-item coupon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub singleitem: Option<bool>,
    /// Its face value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal_coupon_information: Option<NormalCouponInformation>,
    /// Its "cut to a price" rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_to_message: Option<CutToMessage>,
    /// How it was used, once it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_information: Option<ConsumeInformation>,
    /// What is left on a `MULTIUSE` coupon, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_balance: Option<u64>,
    /// `MULTIUSE` for 消费金.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_type: Option<String>,
    /// Fields this crate does not know, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Whether `c` may stand in `out_request_no`.
fn out_request_no_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '|' | '_' | '*' | '-')
}

/// `value` is present and at most `max` characters; no control characters.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid(field, "required"));
    }
    let len = value.chars().count();
    if len > max {
        return Err(Error::invalid(
            field,
            format!("at most {max} characters (got {len})"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// `value` is present and only ASCII digits.
pub(crate) fn digits(field: &str, value: &str, max: usize) -> Result<(), Error> {
    text(field, value, max)?;
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(field, "must be digits only"));
    }
    Ok(())
}

/// Checks `out_request_no`: the rule WeChat states for it.
pub fn check_out_request_no(value: &str) -> Result<(), Error> {
    const FIELD: &str = "out_request_no";
    if value.is_empty() {
        return Err(Error::invalid(FIELD, "required"));
    }
    if value.len() > MAX_OUT_REQUEST_NO {
        return Err(Error::invalid(
            FIELD,
            format!(
                "at most {MAX_OUT_REQUEST_NO} characters (got {})",
                value.chars().count()
            ),
        ));
    }
    if let Some(c) = value.chars().find(|c| !out_request_no_char(*c)) {
        return Err(Error::invalid(
            FIELD,
            format!("only letters, digits and | _ * - (found {c:?})"),
        ));
    }
    Ok(())
}

impl IssueCoupon {
    /// Checks every field, in wire order.
    pub fn check(&self) -> Result<(), Error> {
        text("openid", &self.openid, 128)?;
        digits("stock_id", &self.stock_id, 32)?;
        check_out_request_no(&self.out_request_no)?;
        text("appid", &self.appid, 32)?;
        digits("stock_creator_mchid", &self.stock_creator_mchid, 32)?;
        if self.coupon_value == Some(0) {
            return Err(Error::invalid("coupon_value", "must be at least 1 fen"));
        }
        if self.coupon_minimum.is_some() && self.coupon_value.is_none() {
            return Err(Error::invalid(
                "coupon_minimum",
                "only together with coupon_value",
            ));
        }
        Ok(())
    }

    /// The request: checked, the openid percent-encoded into the path, the body in wire order.
    pub fn request(&self) -> Result<Request, Error> {
        self.check()?;
        let body = IssueCouponBody {
            stock_id: self.stock_id.clone(),
            out_request_no: self.out_request_no.clone(),
            appid: self.appid.clone(),
            stock_creator_mchid: self.stock_creator_mchid.clone(),
            coupon_value: self.coupon_value,
            coupon_minimum: self.coupon_minimum,
        };
        Ok(Request {
            method: Method::Post,
            url: format!("{FAVOR_PATH}/users/{}/coupons", segment(&self.openid)),
            body: serde_json::to_string(&body).expect("a struct of strings and numbers"),
        })
    }
}

impl QueryStock {
    /// Checks every field.
    pub fn check(&self) -> Result<(), Error> {
        digits("stock_id", &self.stock_id, 32)?;
        digits("stock_creator_mchid", &self.stock_creator_mchid, 32)
    }

    /// The request.
    pub fn request(&self) -> Result<Request, Error> {
        self.check()?;
        Ok(Request {
            method: Method::Get,
            url: format!(
                "{FAVOR_PATH}/stocks/{}?stock_creator_mchid={}",
                segment(&self.stock_id),
                query_value(&self.stock_creator_mchid)
            ),
            body: String::new(),
        })
    }
}

impl QueryCoupon {
    /// Checks every field.
    pub fn check(&self) -> Result<(), Error> {
        text("openid", &self.openid, 128)?;
        digits("coupon_id", &self.coupon_id, 32)?;
        text("appid", &self.appid, 32)
    }

    /// The request.
    pub fn request(&self) -> Result<Request, Error> {
        self.check()?;
        Ok(Request {
            method: Method::Get,
            url: format!(
                "{FAVOR_PATH}/users/{}/coupons/{}?appid={}",
                segment(&self.openid),
                segment(&self.coupon_id),
                query_value(&self.appid)
            ),
            body: String::new(),
        })
    }
}

impl Call for IssueCoupon {
    type Answer = IssuedCoupon;
    fn request_at(&self, _now: i64) -> Result<Request, Error> {
        self.request()
    }
    fn read(body: &str) -> Result<IssuedCoupon, Error> {
        read_issue_coupon(body)
    }
}

impl Call for QueryStock {
    type Answer = Stock;
    fn request_at(&self, _now: i64) -> Result<Request, Error> {
        self.request()
    }
    fn read(body: &str) -> Result<Stock, Error> {
        json(body)
    }
}

impl Call for QueryCoupon {
    type Answer = Coupon;
    fn request_at(&self, _now: i64) -> Result<Request, Error> {
        self.request()
    }
    fn read(body: &str) -> Result<Coupon, Error> {
        json(body)
    }
}

impl Coupon {
    /// [`Coupon::status`] as a [`CouponStatus`].
    pub fn state(&self) -> Option<CouponStatus> {
        self.status.as_deref().map(CouponStatus::parse)
    }
}

/// The most coupons one page of [`ListUserCoupons`] may ask for.
pub const MAX_USER_COUPONS_LIMIT: u32 = 20;

/// A user's coupons (`GET /v3/marketing/favor/users/{openid}/coupons`): under `appid`, of one
/// merchant at least — the creator, the sender or one where they can be used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListUserCoupons {
    /// The user.
    pub openid: String,
    /// The appid the openid belongs to.
    pub appid: String,
    /// Only this stock's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_id: Option<String>,
    /// Only coupons in this state (`SENDED`, `USED` or `EXPIRED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CouponStatus>,
    /// Coupons of stocks this merchant created …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_mchid: Option<String>,
    /// … that this merchant issued …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_mchid: Option<String>,
    /// … or usable at this merchant (at least one of the three).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_mchid: Option<String>,
    /// Where the page starts (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    /// Page size, 1–20 (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One page of a user's coupons.
pub type CouponPage = Page<Coupon>;

/// One page of a list answer: its entries and where they stand in the whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The entries (WeChat leaves `data` out of an empty page).
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    /// How many there are in all.
    #[serde(default)]
    pub total_count: u64,
    /// The page size.
    #[serde(default)]
    pub limit: u64,
    /// Where the page starts.
    #[serde(default)]
    pub offset: u64,
}

/// Appends `&name=value` (percent-encoded) to a query when the value is there.
pub(crate) fn query_pair(query: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        query.push(if query.is_empty() { '?' } else { '&' });
        query.push_str(name);
        query.push('=');
        query.push_str(&query_value(value));
    }
}

impl ListUserCoupons {
    /// Checks every field.
    pub fn check(&self) -> Result<(), Error> {
        text("openid", &self.openid, 128)?;
        text("appid", &self.appid, 32)?;
        if let Some(stock_id) = &self.stock_id {
            digits("stock_id", stock_id, 32)?;
        }
        if let Some(status) = &self.status {
            if !matches!(
                status,
                CouponStatus::Sended | CouponStatus::Used | CouponStatus::Expired
            ) {
                return Err(Error::invalid("status", "must be SENDED, USED or EXPIRED"));
            }
        }
        for (field, value) in [
            ("creator_mchid", &self.creator_mchid),
            ("sender_mchid", &self.sender_mchid),
            ("available_mchid", &self.available_mchid),
        ] {
            if let Some(value) = value {
                digits(field, value, 32)?;
            }
        }
        if self.creator_mchid.is_none()
            && self.sender_mchid.is_none()
            && self.available_mchid.is_none()
        {
            return Err(Error::invalid(
                "creator_mchid",
                "one of creator_mchid, sender_mchid or available_mchid is required",
            ));
        }
        if let Some(limit) = self.limit {
            if !(1..=MAX_USER_COUPONS_LIMIT).contains(&limit) {
                return Err(Error::invalid(
                    "limit",
                    format!("must be 1–{MAX_USER_COUPONS_LIMIT}"),
                ));
            }
        }
        Ok(())
    }

    /// The request: the openid in the path, the filters given, in a fixed order.
    pub fn request(&self) -> Result<Request, Error> {
        self.check()?;
        let mut query = String::new();
        let offset = self.offset.map(|n| n.to_string());
        let limit = self.limit.map(|n| n.to_string());
        let status = self.status.as_ref().map(CouponStatus::as_wire);
        query_pair(&mut query, "appid", Some(&self.appid));
        query_pair(&mut query, "stock_id", self.stock_id.as_deref());
        query_pair(&mut query, "status", status);
        query_pair(&mut query, "creator_mchid", self.creator_mchid.as_deref());
        query_pair(&mut query, "sender_mchid", self.sender_mchid.as_deref());
        query_pair(
            &mut query,
            "available_mchid",
            self.available_mchid.as_deref(),
        );
        query_pair(&mut query, "offset", offset.as_deref());
        query_pair(&mut query, "limit", limit.as_deref());
        Ok(Request {
            method: Method::Get,
            url: format!(
                "{FAVOR_PATH}/users/{}/coupons{query}",
                segment(&self.openid)
            ),
            body: String::new(),
        })
    }
}

impl Call for ListUserCoupons {
    type Answer = CouponPage;
    fn request_at(&self, _now: i64) -> Result<Request, Error> {
        self.request()
    }
    fn read(body: &str) -> Result<CouponPage, Error> {
        json(body)
    }
}

/// Percent-encodes a path segment: everything but RFC 3986's unreserved characters.
pub fn segment(value: &str) -> String {
    encode(value, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
    })
}

/// Percent-encodes a query value the same way (so `+` and `&` cannot change its meaning).
pub fn query_value(value: &str) -> String {
    segment(value)
}

fn encode(value: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reverses [`segment`] (the simulator reads paths with it). `None` for a bad escape or bytes
/// that are not UTF-8.
pub fn decode_segment(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue() -> IssueCoupon {
        IssueCoupon {
            openid: "o4GgauInH_RCEdvrrNGrntXDuXXX".into(),
            stock_id: "9856000".into(),
            out_request_no: "89560002019101000121".into(),
            appid: "wx233544546545989".into(),
            stock_creator_mchid: "8956000".into(),
            ..IssueCoupon::default()
        }
    }

    #[test]
    fn out_request_no_follows_wechats_rule() {
        assert!(check_out_request_no("a|b_c*d-9").is_ok());
        assert!(check_out_request_no(&"9".repeat(128)).is_ok());
        let e = check_out_request_no(&"9".repeat(129)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid input: out_request_no: at most 128 characters (got 129)"
        );
        let e = check_out_request_no("no/slash").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid input: out_request_no: only letters, digits and | _ * - (found '/')"
        );
        assert_eq!(
            check_out_request_no("").unwrap_err(),
            Error::invalid("out_request_no", "required")
        );
    }

    #[test]
    fn every_field_is_checked_by_name() {
        for (change, field) in [
            (
                &(|r: &mut IssueCoupon| r.openid.clear()) as &dyn Fn(&mut IssueCoupon),
                "openid",
            ),
            (&|r: &mut IssueCoupon| r.stock_id = "98a".into(), "stock_id"),
            (&|r: &mut IssueCoupon| r.appid.clear(), "appid"),
            (
                &|r: &mut IssueCoupon| r.stock_creator_mchid.clear(),
                "stock_creator_mchid",
            ),
            (
                &|r: &mut IssueCoupon| r.coupon_value = Some(0),
                "coupon_value",
            ),
            (
                &|r: &mut IssueCoupon| r.coupon_minimum = Some(100),
                "coupon_minimum",
            ),
        ] {
            let mut r = issue();
            change(&mut r);
            match r.request() {
                Err(Error::InvalidInput(e)) => assert_eq!(e.field, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn path_segments_are_percent_encoded_and_decode_back() {
        let mut r = issue();
        r.openid = "o/é?#&+ x".into();
        let url = r.request().unwrap().url;
        assert_eq!(
            url,
            "/v3/marketing/favor/users/o%2F%C3%A9%3F%23%26%2B%20x/coupons"
        );
        assert_eq!(
            decode_segment("o%2F%C3%A9%3F%23%26%2B%20x").unwrap(),
            r.openid
        );
        assert_eq!(decode_segment("%zz"), None);
        let q = QueryCoupon {
            openid: "o+1".into(),
            coupon_id: "9856888".into(),
            appid: "wx&1".into(),
        };
        assert_eq!(
            q.request().unwrap().url,
            "/v3/marketing/favor/users/o%2B1/coupons/9856888?appid=wx%261"
        );
    }

    #[test]
    fn unknown_fields_are_kept() {
        let coupon: Coupon =
            serde_json::from_str(r#"{"coupon_id":"1","status":"USED","new_field":{"a":1}}"#)
                .unwrap();
        assert_eq!(coupon.extra["new_field"]["a"], 1);
        let back = serde_json::to_value(&coupon).unwrap();
        assert_eq!(back["new_field"]["a"], 1);
    }
}
