//! The simulated merchant's books: stocks with their counters, the coupons issued, and the outcome
//! remembered for every `partner_trade_no`. Production and the sandbox keep separate books.
//!
//! The business rules of `send_coupon` live here, in this order: known stock
//! (`COUPON_STOCK_ID_NOT_VALID`), active and started (`STOCK_IS_NOT_VALID`), not ended and not
//! exhausted (`AL_STOCK_OVER`), per-openid quota (`USER_AL_GET_COUPON`).
//!
//! Replay policy (WeChat does not document v2 replay): the first request with a
//! `partner_trade_no` fixes its outcome, an issued coupon or a business refusal. A later request
//! with the same `partner_trade_no`, the same stock and the same openid gets that outcome again
//! (same `coupon_id`, or the same `err_code`) and nothing is issued. The same `partner_trade_no`
//! with another stock or openid is refused with `PARAM_ERROR` and changes nothing. Requests refused
//! before the business rules (signature, parameters, certificate) and faulted requests are not
//! remembered.
//!
//! API v3 issues from the same production books: one stock counter, one coupon list, one
//! per-openid quota, whichever API issues (v3 has no sandbox). Its rules run in the same order,
//! each refusal worded the v3 way (the codes are listed in [`crate::v3`]'s handlers). v3 replay
//! policy, on `out_request_no` (kept apart from v2's `partner_trade_no`): only an issued coupon
//! is remembered. The same
//! `out_request_no` with the same stock and openid answers that coupon again and changes
//! nothing; with another stock or openid it is refused (`INVALID_REQUEST`) and changes nothing.
//! A refused v3 request fixes nothing, so the same number may be tried again later. WeChat
//! documents neither case beyond "the same number answers the same coupon".
//!
//! API v3 part 2 keeps here too: stocks created through v3 (idempotent on their
//! `out_request_no`: the same number answers the stock it created, whatever the rest of the
//! body — WeChat documents only "the same number, the same stock"), their life cycle (the
//! state is the seed's `status` number, so v2 sees it too; the table is in
//! `v3::stock_life_cycle`), coupon use (a production coupon of either API, once; the
//! order must reach the stock's minimum), and the callback setting of each mchid.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use wxcoupon_core::v3::favor::GoodsDetail;

use crate::config::{StockSeed, STATUS_ACTIVE};
use crate::routes::Environment;

/// A stock as it stands now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockSnapshot {
    /// The seed it started from (id, name, amounts, limits, status, times).
    pub seed: StockSeed,
    /// Coupons issued so far (`is_send_num`).
    pub is_send_num: u64,
    /// What API v3 knows beyond the seed (defaults for a seeded stock).
    pub v3: V3StockInfo,
}

/// What API v3 keeps of a stock beyond its [`StockSeed`]: the rules of a stock created through
/// v3 and the times of its life-cycle changes. Times are Unix seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V3StockInfo {
    /// Created through `POST /v3/marketing/favor/coupon-stocks` (not a seed).
    pub created_by_v3: bool,
    /// The `out_request_no` that created it.
    pub out_request_no: Option<String>,
    /// `belong_merchant`.
    pub belong_merchant: Option<String>,
    /// The merchants where its coupons can be used; empty for a seed (the merchant itself).
    pub available_merchants: Vec<String>,
    /// The single items its coupons apply to.
    pub available_items: Vec<String>,
    /// Goods tags.
    pub goods_tag: Option<Vec<String>>,
    /// Trade types.
    pub trade_type: Option<Vec<String>>,
    /// Combines with other offers.
    pub combine_use: Option<bool>,
    /// A no-cash stock.
    pub no_cash: bool,
    /// Budget per day, fen.
    pub max_amount_by_day: Option<u64>,
    /// `pattern_info.description`, shown instead of the generated description.
    pub description: Option<String>,
    /// When it was started (a seed that is not unactivated counts as started at creation).
    pub start_time: Option<i64>,
    /// When it was last paused.
    pub pause_time: Option<i64>,
    /// When it was last restarted.
    pub restart_time: Option<i64>,
    /// When it was stopped.
    pub stop_time: Option<i64>,
}

impl StockSnapshot {
    /// The stock id.
    pub fn coupon_stock_id(&self) -> &str {
        &self.seed.coupon_stock_id
    }

    /// `coupon_budget`: face value × total, in fen.
    pub fn coupon_budget(&self) -> u64 {
        self.seed
            .coupon_value
            .saturating_mul(self.seed.coupon_total)
    }

    /// The description WeChat shows, such as `满10元减5元` or `无门槛减1元` (or the one given
    /// when the stock was created through v3).
    pub fn description(&self) -> String {
        if let Some(description) = &self.v3.description {
            return description.clone();
        }
        let value = yuan(self.seed.coupon_value);
        if self.seed.coupon_minimum == 0 {
            format!("无门槛减{value}元")
        } else {
            format!("满{}元减{value}元", yuan(self.seed.coupon_minimum))
        }
    }
}

fn yuan(fen: u64) -> String {
    if fen.is_multiple_of(100) {
        (fen / 100).to_string()
    } else {
        format!("{}.{:02}", fen / 100, fen % 100)
    }
}

/// Which API issued a coupon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// The v2 `send_coupon` (XML).
    V2,
    /// The v3 `POST /v3/marketing/favor/users/{openid}/coupons` (JSON).
    V3,
}

/// A coupon the simulator issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCoupon {
    /// Its id: a numeric string, increasing with every coupon issued.
    pub coupon_id: String,
    /// The stock it came from.
    pub coupon_stock_id: String,
    /// Its owner.
    pub openid: String,
    /// The merchant number of the request that issued it: `partner_trade_no` (v2) or
    /// `out_request_no` (v3).
    pub partner_trade_no: String,
    /// When it was issued, Unix seconds.
    pub send_time: i64,
    /// Production or sandbox (v3 coupons are always production).
    pub environment: Environment,
    /// The API that issued it.
    pub api: ApiVersion,
}

/// How a coupon is used ([`crate::RunningSimulator::use_coupon`], and the body of the admin
/// route `POST /v3/simulator/coupons/{coupon_id}/use`). Every field may be left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CouponUse {
    /// The payment (`transaction_id`); default a generated `4200…` number.
    pub transaction_id: Option<String>,
    /// Where it was used (`consume_mchid`); default the merchant.
    pub consume_mchid: Option<String>,
    /// The goods it applied to (single-item coupons).
    pub goods_detail: Option<Vec<GoodsDetail>>,
    /// The order's total, fen; default the stock's minimum order (or the face value, for a
    /// stock without one). Must reach the minimum.
    pub order_amount: Option<u64>,
}

/// A coupon's use, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumeRecord {
    /// When, Unix seconds.
    pub consume_time: i64,
    /// Where.
    pub consume_mchid: String,
    /// The payment.
    pub transaction_id: String,
    /// The goods.
    pub goods_detail: Option<Vec<GoodsDetail>>,
    /// The order's total, fen.
    pub order_amount: u64,
}

/// Why a coupon cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UseError {
    /// No production coupon with this id.
    UnknownCoupon,
    /// It was used already.
    AlreadyUsed,
    /// The order is below the stock's minimum (fen).
    BelowMinimum(u64),
}

impl std::fmt::Display for UseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UseError::UnknownCoupon => f.write_str("no such coupon"),
            UseError::AlreadyUsed => f.write_str("the coupon is used already"),
            UseError::BelowMinimum(min) => {
                write!(f, "the order is below the stock's minimum of {min} fen")
            }
        }
    }
}

impl std::error::Error for UseError {}

/// One merchant's callback setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CallbackRecord {
    pub notify_url: String,
    pub enabled: bool,
    pub update_time: i64,
}

/// A v3 stock as created (the fields the state keeps), from `CreateStock`.
pub(crate) struct NewStock {
    pub seed: StockSeed,
    pub v3: V3StockInfo,
}

/// A business refusal: `result_code` FAIL with this code and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub err_code: &'static str,
    pub err_code_des: String,
}

impl Refusal {
    pub(crate) fn new(err_code: &'static str, err_code_des: impl Into<String>) -> Refusal {
        Refusal {
            err_code,
            err_code_des: err_code_des.into(),
        }
    }
}

/// What a `send_coupon` request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SendOutcome {
    /// The coupon, or why not.
    pub result: Result<IssuedCoupon, Refusal>,
    /// Whether this repeats the outcome of an earlier request with the same `partner_trade_no`.
    pub replayed: bool,
}

/// Why a stock issues no coupon to this openid now, in the order the rules run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuleBreak {
    /// No such stock.
    UnknownStock,
    /// The stock's status is not 4 (active): the status.
    NotActive(u32),
    /// Before the stock's `begin_time`.
    NotStarted,
    /// After its `end_time`.
    Ended,
    /// Every coupon is issued.
    Exhausted,
    /// The openid holds `max_quota` coupons of it.
    UserLimit,
}

impl RuleBreak {
    /// The v2 refusal (`err_code`, `err_code_des`).
    pub(crate) fn v2_refusal(self) -> Refusal {
        match self {
            RuleBreak::UnknownStock => {
                Refusal::new("COUPON_STOCK_ID_NOT_VALID", "批次ID信息不正确")
            }
            RuleBreak::NotActive(status) => Refusal::new(
                "STOCK_IS_NOT_VALID",
                match status {
                    1 => "代金券批次未激活",
                    2 => "代金券批次审批中",
                    8 => "代金券批次已作废",
                    16 => "代金券批次已中止发放",
                    _ => "代金券批次状态无效",
                },
            ),
            RuleBreak::NotStarted => Refusal::new("STOCK_IS_NOT_VALID", "活动未开始"),
            RuleBreak::Ended => Refusal::new("AL_STOCK_OVER", "活动已结束"),
            RuleBreak::Exhausted => Refusal::new("AL_STOCK_OVER", "代金券已发放完毕"),
            RuleBreak::UserLimit => Refusal::new("USER_AL_GET_COUPON", "你已领取过该代金券"),
        }
    }
}

/// Why a v3 issue request issued nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum V3IssueError {
    /// A business rule.
    Rule(RuleBreak),
    /// The `out_request_no` already issued a coupon of another stock or to another openid.
    OutRequestNoReused,
}

/// What a v3 issue request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct V3Outcome {
    /// The coupon, or why not.
    pub result: Result<IssuedCoupon, V3IssueError>,
    /// Whether this answers an earlier request with the same `out_request_no` again.
    pub replayed: bool,
}

/// A v3 `out_request_no` that issued a coupon.
#[derive(Clone, Debug)]
struct V3Record {
    stock_id: String,
    openid: String,
    coupon_id: String,
}

#[derive(Clone, Debug)]
struct TradeRecord {
    coupon_stock_id: String,
    openid: String,
    result: Result<String, Refusal>,
}

/// One system's books.
#[derive(Clone, Debug, Default)]
struct Ledger {
    stocks: BTreeMap<String, StockSnapshot>,
    /// Coupons in issue order.
    coupons: Vec<IssuedCoupon>,
    /// coupon_id → index into `coupons`.
    by_id: HashMap<String, usize>,
    trades: HashMap<String, TradeRecord>,
    /// v3 `out_request_no` → what it issued (production only).
    v3_requests: HashMap<String, V3Record>,
    /// v3 create-stock `out_request_no` → the stock it created.
    v3_stock_requests: HashMap<String, String>,
    /// coupon_id → its use.
    uses: HashMap<String, ConsumeRecord>,
    /// Used coupon ids, in use order.
    use_order: Vec<String>,
}

impl Ledger {
    fn seeded(stocks: &[StockSeed]) -> Ledger {
        Ledger {
            stocks: stocks
                .iter()
                .map(|seed| {
                    (
                        seed.coupon_stock_id.clone(),
                        StockSnapshot {
                            seed: seed.clone(),
                            is_send_num: 0,
                            v3: V3StockInfo {
                                start_time: (!matches!(seed.status, 1 | 2))
                                    .then_some(seed.create_time),
                                ..V3StockInfo::default()
                            },
                        },
                    )
                })
                .collect(),
            ..Ledger::default()
        }
    }
}

/// Both systems' books and the coupon id counter.
#[derive(Clone, Debug)]
pub(crate) struct State {
    production: Ledger,
    sandbox: Ledger,
    next_coupon_id: u64,
    /// `send_coupon` requests in the current second: `(unix second, count)`.
    send_window: (i64, u32),
    /// The next v3 stock id to try.
    next_stock_id: u64,
    /// mchid → its callback setting.
    callbacks: BTreeMap<String, CallbackRecord>,
}

/// The first id a stock created through v3 gets.
pub const FIRST_V3_STOCK_ID: u64 = 98_560_001;

/// The first coupon id handed out.
pub const FIRST_COUPON_ID: u64 = 1_000_000_001;

/// A `send_coupon` request that passed the protocol checks.
pub(crate) struct SendRequest<'a> {
    pub coupon_stock_id: &'a str,
    pub openid: &'a str,
    pub partner_trade_no: &'a str,
}

impl State {
    pub(crate) fn new(stocks: &[StockSeed]) -> State {
        State {
            production: Ledger::seeded(stocks),
            sandbox: Ledger::seeded(stocks),
            next_coupon_id: FIRST_COUPON_ID,
            send_window: (0, 0),
            next_stock_id: FIRST_V3_STOCK_ID,
            callbacks: BTreeMap::new(),
        }
    }

    /// Creates a production stock, or answers the one its `out_request_no` created already
    /// (`true`: replayed).
    pub(crate) fn create_stock_v3(&mut self, mut new: NewStock) -> (StockSnapshot, bool) {
        let ledger = &mut self.production;
        if let Some(number) = &new.v3.out_request_no {
            if let Some(id) = ledger.v3_stock_requests.get(number) {
                if let Some(stock) = ledger.stocks.get(id) {
                    return (stock.clone(), true);
                }
            }
        }
        let id = loop {
            let id = self.next_stock_id.to_string();
            self.next_stock_id += 1;
            if !ledger.stocks.contains_key(&id) {
                break id;
            }
        };
        new.seed.coupon_stock_id = id.clone();
        new.v3.created_by_v3 = true;
        let stock = StockSnapshot {
            seed: new.seed,
            is_send_num: 0,
            v3: new.v3,
        };
        if let Some(number) = &stock.v3.out_request_no {
            ledger.v3_stock_requests.insert(number.clone(), id.clone());
        }
        ledger.stocks.insert(id, stock.clone());
        (stock, false)
    }

    /// The production stock a v3 create-stock `out_request_no` created.
    pub(crate) fn stock_by_request(&self, out_request_no: &str) -> Option<StockSnapshot> {
        let ledger = &self.production;
        ledger
            .stocks
            .get(ledger.v3_stock_requests.get(out_request_no)?)
            .cloned()
    }

    /// Every production stock, oldest first (creation time, then id).
    pub(crate) fn stocks_by_creation(&self) -> Vec<StockSnapshot> {
        let mut stocks: Vec<StockSnapshot> = self.production.stocks.values().cloned().collect();
        stocks.sort_by(|a, b| {
            (
                a.seed.create_time,
                a.seed.coupon_stock_id.len(),
                &a.seed.coupon_stock_id,
            )
                .cmp(&(
                    b.seed.create_time,
                    b.seed.coupon_stock_id.len(),
                    &b.seed.coupon_stock_id,
                ))
        });
        stocks
    }

    /// Replaces a production stock's state (its `status` number) and lets `stamp` note the
    /// time of the change. `None` for an unknown stock.
    pub(crate) fn set_stock_status(
        &mut self,
        stock_id: &str,
        status: u32,
        stamp: impl FnOnce(&mut V3StockInfo),
    ) -> Option<StockSnapshot> {
        let stock = self.production.stocks.get_mut(stock_id)?;
        stock.seed.status = status;
        stamp(&mut stock.v3);
        Some(stock.clone())
    }

    /// Every production coupon of `openid`, in issue order, with its stock.
    pub(crate) fn coupons_of(&self, openid: &str) -> Vec<(IssuedCoupon, StockSnapshot)> {
        let ledger = &self.production;
        ledger
            .coupons
            .iter()
            .filter(|c| c.openid == openid)
            .filter_map(|c| Some((c.clone(), ledger.stocks.get(&c.coupon_stock_id)?.clone())))
            .collect()
    }

    /// The use of a production coupon, if it was used.
    pub(crate) fn use_of(&self, coupon_id: &str) -> Option<ConsumeRecord> {
        self.production.uses.get(coupon_id).cloned()
    }

    /// Every use of a coupon of `stock_id`, in use order.
    pub(crate) fn uses_of_stock(&self, stock_id: &str) -> Vec<(IssuedCoupon, ConsumeRecord)> {
        let ledger = &self.production;
        ledger
            .use_order
            .iter()
            .filter_map(|id| {
                let coupon = ledger.coupons.get(*ledger.by_id.get(id)?)?;
                (coupon.coupon_stock_id == stock_id)
                    .then(|| Some((coupon.clone(), ledger.uses.get(id)?.clone())))
                    .flatten()
            })
            .collect()
    }

    /// Marks a production coupon used (once); `default_mchid` is where, when `usage` names
    /// no merchant.
    pub(crate) fn use_coupon(
        &mut self,
        coupon_id: &str,
        usage: CouponUse,
        default_mchid: &str,
        transaction_id: impl FnOnce() -> String,
        now: i64,
    ) -> Result<(IssuedCoupon, StockSnapshot, ConsumeRecord), UseError> {
        let ledger = &mut self.production;
        let coupon = ledger
            .by_id
            .get(coupon_id)
            .and_then(|i| ledger.coupons.get(*i))
            .cloned()
            .ok_or(UseError::UnknownCoupon)?;
        if ledger.uses.contains_key(coupon_id) {
            return Err(UseError::AlreadyUsed);
        }
        let stock = ledger
            .stocks
            .get(&coupon.coupon_stock_id)
            .cloned()
            .ok_or(UseError::UnknownCoupon)?;
        let minimum = stock.seed.coupon_minimum;
        let order_amount = usage
            .order_amount
            .unwrap_or(minimum.max(stock.seed.coupon_value));
        if order_amount < minimum {
            return Err(UseError::BelowMinimum(minimum));
        }
        let record = ConsumeRecord {
            consume_time: now,
            consume_mchid: usage
                .consume_mchid
                .unwrap_or_else(|| default_mchid.to_string()),
            transaction_id: usage.transaction_id.unwrap_or_else(transaction_id),
            goods_detail: usage.goods_detail,
            order_amount,
        };
        ledger.uses.insert(coupon_id.to_string(), record.clone());
        ledger.use_order.push(coupon_id.to_string());
        Ok((coupon, stock, record))
    }

    /// Sets `mchid`'s callback: the URL, and the switch when given (a first setting without
    /// one is on).
    pub(crate) fn set_callback(
        &mut self,
        mchid: &str,
        notify_url: &str,
        enabled: Option<bool>,
        now: i64,
    ) -> CallbackRecord {
        let enabled = enabled
            .or_else(|| self.callbacks.get(mchid).map(|c| c.enabled))
            .unwrap_or(true);
        let record = CallbackRecord {
            notify_url: notify_url.to_string(),
            enabled,
            update_time: now,
        };
        self.callbacks.insert(mchid.to_string(), record.clone());
        record
    }

    /// `mchid`'s callback setting.
    pub(crate) fn callback(&self, mchid: &str) -> Option<CallbackRecord> {
        self.callbacks.get(mchid).cloned()
    }

    /// Counts one `send_coupon` request at `now` against `limit` per second; `false` when the
    /// second's allowance is used up (the request is then refused, not processed).
    pub(crate) fn admit_send(&mut self, now: i64, limit: u32) -> bool {
        if self.send_window.0 != now {
            self.send_window = (now, 0);
        }
        if self.send_window.1 >= limit {
            return false;
        }
        self.send_window.1 += 1;
        true
    }

    fn ledger(&self, env: Environment) -> &Ledger {
        match env {
            Environment::Production => &self.production,
            Environment::Sandbox => &self.sandbox,
        }
    }

    pub(crate) fn stock(&self, env: Environment, id: &str) -> Option<StockSnapshot> {
        self.ledger(env).stocks.get(id).cloned()
    }

    pub(crate) fn coupons(&self, env: Environment) -> Vec<IssuedCoupon> {
        self.ledger(env).coupons.clone()
    }

    /// The coupon `coupon_id` if it belongs to `openid` and `stock_id`.
    pub(crate) fn coupon(
        &self,
        env: Environment,
        coupon_id: &str,
        openid: &str,
        stock_id: &str,
    ) -> Option<(IssuedCoupon, StockSnapshot)> {
        let ledger = self.ledger(env);
        let coupon = ledger.coupons.get(*ledger.by_id.get(coupon_id)?)?;
        if coupon.openid != openid || coupon.coupon_stock_id != stock_id {
            return None;
        }
        let stock = ledger.stocks.get(stock_id)?;
        Some((coupon.clone(), stock.clone()))
    }

    /// A production coupon by id alone, with its stock (for the v3 coupon query, which names
    /// no stock).
    pub(crate) fn coupon_by_id(&self, coupon_id: &str) -> Option<(IssuedCoupon, StockSnapshot)> {
        let ledger = &self.production;
        let coupon = ledger.coupons.get(*ledger.by_id.get(coupon_id)?)?;
        let stock = ledger.stocks.get(&coupon.coupon_stock_id)?;
        Some((coupon.clone(), stock.clone()))
    }

    /// Applies the v3 issue call's replay policy and the business rules (production books;
    /// `req.partner_trade_no` is the `out_request_no`).
    pub(crate) fn issue_v3(&mut self, req: &SendRequest<'_>, now: i64) -> V3Outcome {
        let next_id = self.next_coupon_id;
        let ledger = &mut self.production;
        if let Some(record) = ledger.v3_requests.get(req.partner_trade_no) {
            if record.stock_id != req.coupon_stock_id || record.openid != req.openid {
                return V3Outcome {
                    result: Err(V3IssueError::OutRequestNoReused),
                    replayed: false,
                };
            }
            let coupon = ledger
                .by_id
                .get(&record.coupon_id)
                .and_then(|i| ledger.coupons.get(*i))
                .cloned()
                .expect("a remembered out_request_no names a listed coupon");
            return V3Outcome {
                result: Ok(coupon),
                replayed: true,
            };
        }
        if let Err(rule) = check_rules(ledger, req.coupon_stock_id, req.openid, now) {
            return V3Outcome {
                result: Err(V3IssueError::Rule(rule)),
                replayed: false,
            };
        }
        let coupon = ledger.issue(req, next_id, now, Environment::Production, ApiVersion::V3);
        self.next_coupon_id += 1;
        ledger.v3_requests.insert(
            req.partner_trade_no.to_string(),
            V3Record {
                stock_id: coupon.coupon_stock_id.clone(),
                openid: coupon.openid.clone(),
                coupon_id: coupon.coupon_id.clone(),
            },
        );
        V3Outcome {
            result: Ok(coupon),
            replayed: false,
        }
    }

    /// Applies `send_coupon`'s business rules and the replay policy.
    pub(crate) fn send(
        &mut self,
        env: Environment,
        req: &SendRequest<'_>,
        now: i64,
    ) -> SendOutcome {
        let next_id = self.next_coupon_id;
        let ledger = match env {
            Environment::Production => &mut self.production,
            Environment::Sandbox => &mut self.sandbox,
        };

        if let Some(trade) = ledger.trades.get(req.partner_trade_no) {
            if trade.coupon_stock_id != req.coupon_stock_id || trade.openid != req.openid {
                return SendOutcome {
                    result: Err(Refusal::new(
                        "PARAM_ERROR",
                        "partner_trade_no已被使用(批次或openid不同)",
                    )),
                    replayed: false,
                };
            }
            let result = match &trade.result {
                Ok(coupon_id) => ledger
                    .by_id
                    .get(coupon_id)
                    .and_then(|i| ledger.coupons.get(*i))
                    .cloned()
                    .ok_or_else(|| Refusal::new("SYSTEMERROR", "系统错误")),
                Err(refusal) => Err(refusal.clone()),
            };
            return SendOutcome {
                result,
                replayed: true,
            };
        }

        let result = match check_rules(ledger, req.coupon_stock_id, req.openid, now) {
            Err(rule) => Err(rule.v2_refusal()),
            Ok(()) => {
                let coupon = ledger.issue(req, next_id, now, env, ApiVersion::V2);
                self.next_coupon_id += 1;
                Ok(coupon)
            }
        };
        ledger.trades.insert(
            req.partner_trade_no.to_string(),
            TradeRecord {
                coupon_stock_id: req.coupon_stock_id.to_string(),
                openid: req.openid.to_string(),
                result: result
                    .as_ref()
                    .map(|c| c.coupon_id.clone())
                    .map_err(Clone::clone),
            },
        );
        SendOutcome {
            result,
            replayed: false,
        }
    }
}

impl Ledger {
    /// Issues one coupon (the rules have passed): counted, listed, indexed.
    fn issue(
        &mut self,
        req: &SendRequest<'_>,
        id: u64,
        now: i64,
        env: Environment,
        api: ApiVersion,
    ) -> IssuedCoupon {
        let coupon = IssuedCoupon {
            coupon_id: id.to_string(),
            coupon_stock_id: req.coupon_stock_id.to_string(),
            openid: req.openid.to_string(),
            partner_trade_no: req.partner_trade_no.to_string(),
            send_time: now,
            environment: env,
            api,
        };
        if let Some(stock) = self.stocks.get_mut(req.coupon_stock_id) {
            stock.is_send_num += 1;
        }
        self.by_id
            .insert(coupon.coupon_id.clone(), self.coupons.len());
        self.coupons.push(coupon.clone());
        coupon
    }
}

/// The business rules of issuing, in order (the same for both APIs).
fn check_rules(ledger: &Ledger, stock_id: &str, openid: &str, now: i64) -> Result<(), RuleBreak> {
    let Some(stock) = ledger.stocks.get(stock_id) else {
        return Err(RuleBreak::UnknownStock);
    };
    let seed = &stock.seed;
    if seed.status != STATUS_ACTIVE {
        return Err(RuleBreak::NotActive(seed.status));
    }
    if now < seed.begin_time {
        return Err(RuleBreak::NotStarted);
    }
    if now > seed.end_time {
        return Err(RuleBreak::Ended);
    }
    if stock.is_send_num >= seed.coupon_total {
        return Err(RuleBreak::Exhausted);
    }
    if seed.max_quota > 0 {
        let held = ledger
            .coupons
            .iter()
            .filter(|c| c.coupon_stock_id == stock_id && c.openid == openid)
            .count() as u64;
        if held >= seed.max_quota {
            return Err(RuleBreak::UserLimit);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn req<'a>(stock: &'a str, openid: &'a str, trade: &'a str) -> SendRequest<'a> {
        SendRequest {
            coupon_stock_id: stock,
            openid,
            partner_trade_no: trade,
        }
    }

    /// The `err_code` of a send that must be refused.
    fn refused(outcome: SendOutcome) -> &'static str {
        outcome.result.unwrap_err().err_code
    }

    #[test]
    fn rules_and_replay() {
        let mut state = State::new(&StockSeed::defaults());
        let env = Environment::Production;
        let first = state.send(env, &req("1757", "u1", "t1"), NOW);
        let coupon = first.result.clone().unwrap();
        assert_eq!(coupon.coupon_id, FIRST_COUPON_ID.to_string());
        let again = state.send(env, &req("1757", "u1", "t1"), NOW);
        assert!(again.replayed);
        assert_eq!(again.result.unwrap().coupon_id, coupon.coupon_id);
        assert_eq!(state.stock(env, "1757").unwrap().is_send_num, 1);

        let quota = state.send(env, &req("1757", "u1", "t2"), NOW).result;
        assert_eq!(quota.unwrap_err().err_code, "USER_AL_GET_COUPON");
        let replay = state.send(env, &req("1757", "u1", "t2"), NOW);
        assert!(replay.replayed);
        assert_eq!(replay.result.unwrap_err().err_code, "USER_AL_GET_COUPON");

        let other = state.send(env, &req("1758", "u1", "t1"), NOW).result;
        assert_eq!(other.unwrap_err().err_code, "PARAM_ERROR");

        assert_eq!(
            refused(state.send(env, &req("9", "u", "t3"), NOW)),
            "COUPON_STOCK_ID_NOT_VALID"
        );
        assert_eq!(
            refused(state.send(env, &req("1759", "u", "t4"), NOW)),
            "STOCK_IS_NOT_VALID"
        );
        assert!(state.send(env, &req("1760", "a", "t5"), NOW).result.is_ok());
        assert_eq!(
            refused(state.send(env, &req("1760", "b", "t6"), NOW)),
            "AL_STOCK_OVER"
        );
        assert_eq!(
            refused(state.send(env, &req("1757", "x", "t7"), 4_200_000_000)),
            "AL_STOCK_OVER"
        );
        // The sandbox has its own books.
        assert_eq!(
            state
                .stock(Environment::Sandbox, "1757")
                .unwrap()
                .is_send_num,
            0
        );
        assert!(state.coupons(Environment::Sandbox).is_empty());
        assert!(state.coupon(env, &coupon.coupon_id, "u1", "1757").is_some());
        assert!(state.coupon(env, &coupon.coupon_id, "u2", "1757").is_none());
        assert!(state.coupon(env, &coupon.coupon_id, "u1", "1758").is_none());
    }

    #[test]
    fn v3_shares_the_books_and_replays_on_out_request_no() {
        let mut state = State::new(&StockSeed::defaults());
        let env = Environment::Production;
        let first = state.issue_v3(&req("1757", "u1", "r1"), NOW);
        assert!(!first.replayed);
        let coupon = first.result.unwrap();
        assert_eq!(coupon.api, ApiVersion::V3);
        assert_eq!(coupon.environment, env);
        // The same number again: the same coupon, nothing counted.
        let again = state.issue_v3(&req("1757", "u1", "r1"), NOW);
        assert!(again.replayed);
        assert_eq!(again.result.unwrap().coupon_id, coupon.coupon_id);
        assert_eq!(state.stock(env, "1757").unwrap().is_send_num, 1);
        // Another stock or openid under that number: refused, nothing counted.
        for (stock, openid) in [("1758", "u1"), ("1757", "u2")] {
            let other = state.issue_v3(&req(stock, openid, "r1"), NOW);
            assert_eq!(other.result, Err(V3IssueError::OutRequestNoReused));
        }
        assert_eq!(state.coupons(env).len(), 1);
        // v2 sees the v3 coupon: the per-openid quota counts it.
        assert_eq!(
            refused(state.send(env, &req("1757", "u1", "t1"), NOW)),
            "USER_AL_GET_COUPON"
        );
        // And v3 sees v2's.
        assert!(state
            .send(env, &req("1760", "u3", "t2"), NOW)
            .result
            .is_ok());
        assert_eq!(
            state.issue_v3(&req("1760", "u4", "r2"), NOW).result,
            Err(V3IssueError::Rule(RuleBreak::Exhausted))
        );
        assert_eq!(
            state.issue_v3(&req("1757", "u1", "r3"), NOW).result,
            Err(V3IssueError::Rule(RuleBreak::UserLimit))
        );
        // A refusal is not remembered: the same number may issue later.
        assert!(state.issue_v3(&req("1757", "u5", "r3"), NOW).result.is_ok());
        assert_eq!(
            state.issue_v3(&req("9", "u", "r4"), NOW).result,
            Err(V3IssueError::Rule(RuleBreak::UnknownStock))
        );
        assert_eq!(
            state.issue_v3(&req("1759", "u", "r5"), NOW).result,
            Err(V3IssueError::Rule(RuleBreak::NotActive(1)))
        );
        let (found, stock) = state.coupon_by_id(&coupon.coupon_id).unwrap();
        assert_eq!(found, coupon);
        assert_eq!(stock.coupon_stock_id(), "1757");
        assert!(state.coupon_by_id("1").is_none());
    }

    #[test]
    fn descriptions() {
        let stocks = State::new(&StockSeed::defaults());
        let s = stocks.stock(Environment::Production, "1757").unwrap();
        assert_eq!(s.description(), "满10元减5元");
        assert_eq!(s.coupon_budget(), 50_000);
        let s = stocks.stock(Environment::Production, "1758").unwrap();
        assert_eq!(s.description(), "无门槛减1元");
        assert_eq!(yuan(250), "2.50");
    }
}
