//! The stock calls beyond the one-stock query: create a stock (every documented rule checked
//! before sending, each naming its field), start / pause / restart / stop it, list stocks, and
//! list the merchants and single items where a stock's coupons can be used.

use serde::{Deserialize, Serialize};

use super::answer::json;
use super::call::Call;
use super::error::Error;
use super::favor::{
    check_out_request_no, digits, query_pair, segment, text, Page, Stock, FAVOR_PATH,
};
use super::request::{Method, Request};
use super::status::StockStatus;
use crate::time::parse_rfc3339;

/// The fewest coupons a stock may hold.
pub const MIN_STOCK_COUPONS: u64 = 5;
/// The most coupons a stock may hold.
pub const MAX_STOCK_COUPONS: u64 = 10_000_000;
/// The largest budget of a stock, fen (¥100,000,000).
pub const MAX_STOCK_AMOUNT: u64 = 10_000_000_000;
/// The most coupons one user may receive of a stock.
pub const MAX_COUPONS_PER_USER: u64 = 60;
/// The largest face value, fen (¥1,000).
pub const MAX_COUPON_AMOUNT: u64 = 100_000;
/// The longest a stock's coupons may be usable.
pub const MAX_VALIDITY_DAYS: i64 = 90;
/// How far ahead a stock may begin.
pub const MAX_START_AHEAD_DAYS: i64 = 365;
/// The most goods tags, and the most single items, a stock may name.
pub const MAX_RULE_ENTRIES: usize = 50;
/// How far a begin time may lie behind this clock and still count as "now" (the v3 clock skew).
pub const START_SLACK_SECONDS: i64 = 300;

/// How many a stock issues, to whom, and with which limits (`stock_use_rule` of a new stock).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStockUseRule {
    /// Coupons in all, 5 – 10,000,000.
    pub max_coupons: u64,
    /// The budget, fen: exactly `coupon_amount × max_coupons`, at most ¥100,000,000.
    pub max_amount: u64,
    /// The budget per day, fen (at least one coupon's face value, at most the budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount_by_day: Option<u64>,
    /// Coupons one user may receive, 1–60.
    pub max_coupons_per_user: u64,
    /// Count a real person once across their accounts.
    pub natural_person_limit: bool,
    /// Refuse users WeChat's anti-abuse checks flag.
    pub prevent_api_abuse: bool,
}

/// How a stock's coupons look to the user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternInfo {
    /// The text shown with the coupon.
    pub description: String,
    /// The merchant's logo (a URL from the image upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_logo: Option<String>,
    /// The merchant's name as shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_name: Option<String>,
    /// `COLOR010`…`COLOR100`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    /// The coupon's image (a URL from the image upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_image: Option<String>,
}

/// A fixed face value and the order it needs, both fen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedFaceValue {
    /// Face value: more than 1 fen, at most ¥1,000.
    pub coupon_amount: u64,
    /// The smallest order it applies to: more than the face value.
    pub transaction_minimum: u64,
}

/// Where and how a stock's coupons can be used (`coupon_use_rule` of a new stock).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponUseRule {
    /// The face value and the order it needs.
    pub fixed_normal_coupon: FixedFaceValue,
    /// Orders carrying one of these goods tags only (at most 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_tag: Option<Vec<String>>,
    /// Payment kinds it applies to (`MICROAPP`, `APPPAY`, `PPAY`, `CARD`, `FACE`, `OTHERPAY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<Vec<String>>,
    /// Whether it combines with other offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combine_use: Option<bool>,
    /// Single items it applies to (at most 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_items: Option<Vec<String>>,
    /// Single items it does not apply to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_items: Option<Vec<String>>,
    /// The merchants where it can be used (at least one).
    pub available_merchants: Vec<String>,
}

/// Create a stock (`POST /v3/marketing/favor/coupon-stocks`). Idempotent on `out_request_no`:
/// the same number answers the same stock. The stock starts `UNACTIVATED`: start it with
/// [`ChangeStock`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
// A misspelt field of a request must not vanish: WeChat would create a stock without it.
#[serde(deny_unknown_fields)]
pub struct CreateStock {
    /// Its name, at most 20 characters.
    pub stock_name: String,
    /// A note for the merchant, at most 20 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The merchant the stock belongs to (usually the caller).
    pub belong_merchant: String,
    /// When coupons become usable: RFC 3339 (`2026-12-03T00:00:00+08:00`), not in the past,
    /// at most 365 days ahead.
    pub available_begin_time: String,
    /// When they stop: after the begin, at most 90 days later.
    pub available_end_time: String,
    /// How many, to whom.
    pub stock_use_rule: NewStockUseRule,
    /// How the coupons look (WeChat's generated SDKs call it `pattern_info`; some
    /// documentation `display_pattern_info`, which is read too).
    #[serde(
        default,
        alias = "display_pattern_info",
        skip_serializing_if = "Option::is_none"
    )]
    pub pattern_info: Option<PatternInfo>,
    /// Where and how they can be used.
    pub coupon_use_rule: CouponUseRule,
    /// A no-cash (预充值) stock.
    pub no_cash: bool,
    /// `NORMAL` (the only type WeChat supports here).
    pub stock_type: String,
    /// The merchant's number for this creation: at most 128 letters, digits and `| _ * -`.
    pub out_request_no: String,
    /// Extra data for the merchant, JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_info: Option<String>,
}

/// The create call's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedStock {
    /// The new stock.
    pub stock_id: String,
    /// When it was created (RFC 3339).
    pub create_time: String,
}

fn time_field(field: &str, value: &str) -> Result<i64, Error> {
    parse_rfc3339(value).ok_or_else(|| {
        Error::invalid(
            field,
            "must be an RFC 3339 time with its offset (2026-12-03T00:00:00+08:00)",
        )
    })
}

fn entries(field: &str, list: &Option<Vec<String>>, max: usize) -> Result<(), Error> {
    if let Some(list) = list {
        if list.len() > max {
            return Err(Error::invalid(
                field,
                format!("at most {max} entries (got {})", list.len()),
            ));
        }
        for (i, entry) in list.iter().enumerate() {
            text(&format!("{field}[{i}]"), entry, 128)?;
        }
    }
    Ok(())
}

impl CreateStock {
    /// Checks every documented rule, in wire order; `now` is Unix seconds.
    pub fn check(&self, now: i64) -> Result<(), Error> {
        text("stock_name", &self.stock_name, 20)?;
        if let Some(comment) = &self.comment {
            text("comment", comment, 20)?;
        }
        digits("belong_merchant", &self.belong_merchant, 32)?;
        let begin = time_field("available_begin_time", &self.available_begin_time)?;
        let end = time_field("available_end_time", &self.available_end_time)?;
        if begin < now - START_SLACK_SECONDS {
            return Err(Error::invalid(
                "available_begin_time",
                "must not be in the past",
            ));
        }
        if begin > now + MAX_START_AHEAD_DAYS * 86_400 {
            return Err(Error::invalid(
                "available_begin_time",
                format!("at most {MAX_START_AHEAD_DAYS} days ahead"),
            ));
        }
        if end <= begin {
            return Err(Error::invalid(
                "available_end_time",
                "must be after available_begin_time",
            ));
        }
        if end - begin > MAX_VALIDITY_DAYS * 86_400 {
            return Err(Error::invalid(
                "available_end_time",
                format!("at most {MAX_VALIDITY_DAYS} days after available_begin_time"),
            ));
        }
        let rule = &self.stock_use_rule;
        let face = &self.coupon_use_rule.fixed_normal_coupon;
        if !(MIN_STOCK_COUPONS..=MAX_STOCK_COUPONS).contains(&rule.max_coupons) {
            return Err(Error::invalid(
                "stock_use_rule.max_coupons",
                format!("must be {MIN_STOCK_COUPONS}–{MAX_STOCK_COUPONS}"),
            ));
        }
        if face.coupon_amount <= 1 || face.coupon_amount > MAX_COUPON_AMOUNT {
            return Err(Error::invalid(
                "coupon_use_rule.fixed_normal_coupon.coupon_amount",
                format!("must be more than 1 fen and at most {MAX_COUPON_AMOUNT} fen"),
            ));
        }
        if rule.max_amount != face.coupon_amount.saturating_mul(rule.max_coupons) {
            return Err(Error::invalid(
                "stock_use_rule.max_amount",
                "must equal coupon_amount × max_coupons",
            ));
        }
        if rule.max_amount > MAX_STOCK_AMOUNT {
            return Err(Error::invalid(
                "stock_use_rule.max_amount",
                format!("at most {MAX_STOCK_AMOUNT} fen"),
            ));
        }
        if let Some(by_day) = rule.max_amount_by_day {
            if by_day < face.coupon_amount || by_day > rule.max_amount {
                return Err(Error::invalid(
                    "stock_use_rule.max_amount_by_day",
                    "must be at least coupon_amount and at most max_amount",
                ));
            }
        }
        if !(1..=MAX_COUPONS_PER_USER).contains(&rule.max_coupons_per_user) {
            return Err(Error::invalid(
                "stock_use_rule.max_coupons_per_user",
                format!("must be 1–{MAX_COUPONS_PER_USER}"),
            ));
        }
        if let Some(pattern) = &self.pattern_info {
            text("pattern_info.description", &pattern.description, 1000)?;
        }
        if face.transaction_minimum <= face.coupon_amount {
            return Err(Error::invalid(
                "coupon_use_rule.fixed_normal_coupon.transaction_minimum",
                "must be more than coupon_amount",
            ));
        }
        let use_rule = &self.coupon_use_rule;
        entries(
            "coupon_use_rule.goods_tag",
            &use_rule.goods_tag,
            MAX_RULE_ENTRIES,
        )?;
        entries("coupon_use_rule.trade_type", &use_rule.trade_type, 16)?;
        entries(
            "coupon_use_rule.available_items",
            &use_rule.available_items,
            MAX_RULE_ENTRIES,
        )?;
        entries(
            "coupon_use_rule.unavailable_items",
            &use_rule.unavailable_items,
            MAX_RULE_ENTRIES,
        )?;
        if use_rule.available_merchants.is_empty() {
            return Err(Error::invalid(
                "coupon_use_rule.available_merchants",
                "at least one merchant",
            ));
        }
        for (i, mchid) in use_rule.available_merchants.iter().enumerate() {
            digits(
                &format!("coupon_use_rule.available_merchants[{i}]"),
                mchid,
                32,
            )?;
        }
        if self.stock_type != "NORMAL" {
            return Err(Error::invalid(
                "stock_type",
                "must be NORMAL (the only type WeChat Pay supports here)",
            ));
        }
        check_out_request_no(&self.out_request_no)?;
        if let Some(ext) = &self.ext_info {
            text("ext_info", ext, 2048)?;
        }
        Ok(())
    }
}

impl Call for CreateStock {
    type Answer = CreatedStock;
    fn request_at(&self, now: i64) -> Result<Request, Error> {
        self.check(now)?;
        Ok(Request {
            method: Method::Post,
            url: format!("{FAVOR_PATH}/coupon-stocks"),
            body: serde_json::to_string(self).expect("a struct of strings and numbers"),
        })
    }
    fn read(body: &str) -> Result<CreatedStock, Error> {
        json(body)
    }
}

/// What [`ChangeStock`] does to a stock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StockChange {
    /// Activate a new stock (`…/start`).
    Start,
    /// Pause a running stock: issuing is refused until restarted (`…/pause`).
    Pause,
    /// Restart a paused stock (`…/restart`).
    Restart,
    /// Stop a stock for good (`…/stop`).
    Stop,
}

impl StockChange {
    /// Every change, in life-cycle order.
    pub const ALL: [StockChange; 4] = [
        StockChange::Start,
        StockChange::Pause,
        StockChange::Restart,
        StockChange::Stop,
    ];

    /// The path's last segment, which is also the name of the answer's time (`start_time`).
    pub fn as_str(self) -> &'static str {
        match self {
            StockChange::Start => "start",
            StockChange::Pause => "pause",
            StockChange::Restart => "restart",
            StockChange::Stop => "stop",
        }
    }
}

/// Start, pause, restart or stop a stock (`POST /v3/marketing/favor/stocks/{stock_id}/{change}`,
/// body `{stock_creator_mchid}`). Each change goes to its own path: the copy-paste bug of
/// WxJava#2338 (pause and restart calling start) is a test here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeStock {
    /// Which change.
    pub change: StockChange,
    /// The stock.
    pub stock_id: String,
    /// Its creator.
    pub stock_creator_mchid: String,
}

/// The body of a change, as sent.
#[derive(Serialize, Deserialize)]
pub struct ChangeStockBody {
    /// The stock's creator.
    pub stock_creator_mchid: String,
}

/// The answer of a change: the stock and when the change took effect (the wire names it
/// `start_time`, `pause_time`, `restart_time` or `stop_time`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockChanged {
    /// The stock.
    pub stock_id: String,
    /// When (RFC 3339).
    #[serde(
        alias = "start_time",
        alias = "pause_time",
        alias = "restart_time",
        alias = "stop_time"
    )]
    pub time: String,
}

impl Call for ChangeStock {
    type Answer = StockChanged;
    fn request_at(&self, _now: i64) -> Result<Request, Error> {
        digits("stock_id", &self.stock_id, 32)?;
        digits("stock_creator_mchid", &self.stock_creator_mchid, 32)?;
        let body = ChangeStockBody {
            stock_creator_mchid: self.stock_creator_mchid.clone(),
        };
        Ok(Request {
            method: Method::Post,
            url: format!(
                "{FAVOR_PATH}/stocks/{}/{}",
                segment(&self.stock_id),
                self.change.as_str()
            ),
            body: serde_json::to_string(&body).expect("a struct of strings"),
        })
    }
    fn read(body: &str) -> Result<StockChanged, Error> {
        json(body)
    }
}

/// The most stocks one page of [`ListStocks`] may ask for.
pub const MAX_STOCKS_LIMIT: u32 = 10;

/// A merchant's stocks, a page at a time (`GET /v3/marketing/favor/stocks`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListStocks {
    /// Where the page starts (0 first).
    pub offset: u32,
    /// Page size, 1–10.
    pub limit: u32,
    /// The merchant whose stocks these are.
    pub stock_creator_mchid: String,
    /// Created at or after (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_start_time: Option<String>,
    /// Created before (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_end_time: Option<String>,
    /// Only stocks in this state (not `Expired`: the filter has no such value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StockStatus>,
}

/// One page of stocks.
pub type StockPage = Page<Stock>;

impl Call for ListStocks {
    type Answer = StockPage;
    fn request_at(&self, _now: i64) -> Result<Request, Error> {
        if !(1..=MAX_STOCKS_LIMIT).contains(&self.limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be 1–{MAX_STOCKS_LIMIT}"),
            ));
        }
        digits("stock_creator_mchid", &self.stock_creator_mchid, 32)?;
        for (field, value) in [
            ("create_start_time", &self.create_start_time),
            ("create_end_time", &self.create_end_time),
        ] {
            if let Some(value) = value {
                time_field(field, value)?;
            }
        }
        let status = match &self.status {
            Some(status) => Some(status.as_filter().ok_or_else(|| {
                Error::invalid(
                    "status",
                    "must be unactivated, audit, running, stoped or paused",
                )
            })?),
            None => None,
        };
        let (offset, limit) = (self.offset.to_string(), self.limit.to_string());
        let mut query = String::new();
        query_pair(&mut query, "offset", Some(&offset));
        query_pair(&mut query, "limit", Some(&limit));
        query_pair(
            &mut query,
            "stock_creator_mchid",
            Some(&self.stock_creator_mchid),
        );
        query_pair(
            &mut query,
            "create_start_time",
            self.create_start_time.as_deref(),
        );
        query_pair(
            &mut query,
            "create_end_time",
            self.create_end_time.as_deref(),
        );
        query_pair(&mut query, "status", status);
        Ok(Request {
            method: Method::Get,
            url: format!("{FAVOR_PATH}/stocks{query}"),
            body: String::new(),
        })
    }
    fn read(body: &str) -> Result<StockPage, Error> {
        json(body)
    }
}

/// The largest page of a stock's merchants.
pub const MAX_MERCHANTS_LIMIT: u32 = 50;
/// The furthest a page of a stock's merchants may start.
pub const MAX_MERCHANTS_OFFSET: u32 = 1000;
/// The largest page of a stock's single items.
pub const MAX_ITEMS_LIMIT: u32 = 100;
/// The furthest a page of a stock's single items may start.
pub const MAX_ITEMS_OFFSET: u32 = 500;

/// A page of what one stock lists: the merchants where its coupons can be used
/// (`GET …/stocks/{stock_id}/merchants`, offset ≤ 1000, limit 1–50) or its single items
/// (`GET …/stocks/{stock_id}/items`, offset ≤ 500, limit 1–100).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockListing {
    /// The stock.
    pub stock_id: String,
    /// Its creator.
    pub stock_creator_mchid: String,
    /// Where the page starts.
    pub offset: u32,
    /// Page size.
    pub limit: u32,
}

/// The merchants where a stock's coupons can be used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListStockMerchants(pub StockListing);

/// The single items a stock's coupons apply to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListStockItems(pub StockListing);

/// A page of ids: merchant ids, or goods ids.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdPage {
    /// The ids (WeChat leaves `data` out of an empty page).
    #[serde(default)]
    pub data: Vec<String>,
    /// How many there are in all.
    #[serde(default)]
    pub total_count: u64,
    /// The page size.
    #[serde(default)]
    pub limit: u64,
    /// Where the page starts.
    #[serde(default)]
    pub offset: u64,
    /// The stock.
    #[serde(default)]
    pub stock_id: String,
}

impl StockListing {
    fn request(&self, what: &str, max_offset: u32, max_limit: u32) -> Result<Request, Error> {
        digits("stock_id", &self.stock_id, 32)?;
        digits("stock_creator_mchid", &self.stock_creator_mchid, 32)?;
        if self.offset > max_offset {
            return Err(Error::invalid("offset", format!("at most {max_offset}")));
        }
        if !(1..=max_limit).contains(&self.limit) {
            return Err(Error::invalid("limit", format!("must be 1–{max_limit}")));
        }
        Ok(Request {
            method: Method::Get,
            url: format!(
                "{FAVOR_PATH}/stocks/{}/{what}?offset={}&limit={}&stock_creator_mchid={}",
                segment(&self.stock_id),
                self.offset,
                self.limit,
                segment(&self.stock_creator_mchid)
            ),
            body: String::new(),
        })
    }
}

impl Call for ListStockMerchants {
    type Answer = IdPage;
    fn request_at(&self, _now: i64) -> Result<Request, Error> {
        self.0
            .request("merchants", MAX_MERCHANTS_OFFSET, MAX_MERCHANTS_LIMIT)
    }
    fn read(body: &str) -> Result<IdPage, Error> {
        json(body)
    }
}

impl Call for ListStockItems {
    type Answer = IdPage;
    fn request_at(&self, _now: i64) -> Result<Request, Error> {
        self.0.request("items", MAX_ITEMS_OFFSET, MAX_ITEMS_LIMIT)
    }
    fn read(body: &str) -> Result<IdPage, Error> {
        json(body)
    }
}
