//! The stock calls beyond the one-stock query: create a stock, start / pause / restart / stop
//! it, list the merchant's stocks, and list a stock's merchants and single items. Bodies are
//! read and answers written with the core's types (`CreateStock`, `ChangeStockBody`,
//! `CreatedStock`, `StockPage`, `IdPage`); the rules of the life cycle are
//! `stock_life_cycle`'s.
//!
//! Check order and codes (after the authentication every v3 call has):
//!
//! - **create** (`POST {F}/coupon-stocks`): the body is a `CreateStock` (400 `PARAM_ERROR`);
//!   an `out_request_no` that created a stock before answers that stock again (200, nothing
//!   created, whatever else the body says); `belong_merchant` is the caller (400 `PARAM_ERROR`
//!   "参数错误,请核对文档要求"); `max_amount` = `coupon_amount` × `max_coupons` (400
//!   `PARAM_ERROR` "批次预算等于批次面额乘以发券数"); then every other rule the core's
//!   `CreateStock::check` states (400 `PARAM_ERROR` "参数错误,请核对文档要求", the field in
//!   `detail`). The stock starts `UNACTIVATED`; its id counts up from
//!   [`crate::state::FIRST_V3_STOCK_ID`]. Its issuing window is `available_begin_time` to
//!   `available_end_time` (the seeds' rule: WeChat documents no separate issuing window).
//! - **start / pause / restart / stop** (`POST {F}/stocks/{id}/{change}`): the body is a
//!   `ChangeStockBody` whose `stock_creator_mchid` is the caller (400 `PARAM_ERROR`); unknown
//!   stock 404 `RESOURCE_NOT_EXISTS` "批次不存在"; a stock another merchant created 403
//!   `NO_AUTH` "无权限操作该批次"; a change the life cycle forbids 400 `INVALID_REQUEST`.
//!   Success: `{"stock_id", "<change>_time"}`.
//! - **list** (`GET {F}/stocks`): `offset` (required), `limit` (required, 1–10),
//!   `stock_creator_mchid` (required, the caller) else 400 `PARAM_ERROR`; optional
//!   `create_start_time` (inclusive) and `create_end_time` (exclusive), RFC 3339, and `status`
//!   in the filter's lower-case words (anything else 400 `PARAM_ERROR`). `data` is every
//!   stock of the merchant, oldest first (creation time, then id); `total_count` counts the
//!   filtered stocks.
//! - **merchants / items** (`GET {F}/stocks/{id}/merchants|items`): `offset` ≤ 1000 / ≤ 500,
//!   `limit` 1–50 / 1–100, `stock_creator_mchid` the caller (400 `PARAM_ERROR`); unknown stock
//!   404. Merchants are the stock's `available_merchants` (a seed: the merchant alone); items
//!   its `available_items` (a seed: none).

use std::sync::Mutex;

use serde_json::json;
use wxcoupon_core::time::parse_rfc3339;
use wxcoupon_core::v3::error::Error as CoreError;
use wxcoupon_core::v3::status::StockStatus;
use wxcoupon_core::v3::stocks::{
    ChangeStockBody, CreateStock, CreatedStock, IdPage, StockChange, StockPage, MAX_STOCKS_LIMIT,
};

use super::handlers::{
    creator_of, lock, number_query, ok, param_error, query_param, refused, required_query, segment,
    stock_answer, to_json, Context, Incoming, Refused, Reply,
};
use super::rfc3339_beijing;
use super::stock_life_cycle::{code_of, status_of, transition};
use crate::config::StockSeed;
use crate::state::{NewStock, State, StockSnapshot, V3StockInfo};

const GENERIC: &str = "参数错误,请核对文档要求";

fn body_error(e: &serde_json::Error, what: &str) -> Refused {
    param_error(
        "请求体格式错误",
        "",
        "body",
        format!(
            "not the {what} call's JSON body (line {} column {})",
            e.line(),
            e.column()
        ),
    )
}

/// The stock `raw_stock_id` names, or 404.
fn known_stock(state: &Mutex<State>, raw_stock_id: &str) -> Result<StockSnapshot, Refused> {
    let stock_id = segment(raw_stock_id, "stock_id", 64)?;
    lock(state)
        .stock(crate::routes::Environment::Production, &stock_id)
        .ok_or_else(|| refused(404, "RESOURCE_NOT_EXISTS", "批次不存在"))
}

/// `value` is the calling merchant, else 400 `PARAM_ERROR` naming `field`.
fn is_caller(
    ctx: &Context<'_>,
    value: &str,
    field: &str,
    location: &'static str,
) -> Result<(), Refused> {
    if value != ctx.config.mch_id {
        return Err(param_error(
            GENERIC,
            field,
            location,
            "not the calling merchant",
        ));
    }
    Ok(())
}

pub(super) fn create(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    state: &Mutex<State>,
    body: &str,
) -> Result<Reply, Refused> {
    let request: CreateStock =
        serde_json::from_str(body).map_err(|e| body_error(&e, "create-stock"))?;
    let answer = |stock: &StockSnapshot| CreatedStock {
        stock_id: stock.seed.coupon_stock_id.clone(),
        create_time: rfc3339_beijing(stock.seed.create_time),
    };
    is_caller(ctx, &request.belong_merchant, "belong_merchant", "body")?;
    let rule = &request.stock_use_rule;
    let face = &request.coupon_use_rule.fixed_normal_coupon;
    if rule.max_amount != face.coupon_amount.saturating_mul(rule.max_coupons) {
        return Err(param_error(
            "批次预算等于批次面额乘以发券数",
            "stock_use_rule.max_amount",
            "body",
            "must equal coupon_amount × max_coupons",
        ));
    }
    // A replay is answered before the rules about time: the number created the stock then.
    let known = {
        let state = lock(state);
        state.stock_by_request(&request.out_request_no)
    };
    if let Some(stock) = known {
        let mut reply = ok(to_json(&answer(&stock)));
        reply.replayed = true;
        return Ok(reply);
    }
    request.check(req.now).map_err(|e| match e {
        CoreError::InvalidInput(field) => param_error(GENERIC, &field.field, "body", field.rule),
        other => param_error(GENERIC, "", "body", other.to_string()),
    })?;
    let begin = parse_rfc3339(&request.available_begin_time).unwrap_or(req.now);
    let end = parse_rfc3339(&request.available_end_time).unwrap_or(req.now);
    let use_rule = request.coupon_use_rule;
    let new = NewStock {
        seed: StockSeed {
            coupon_stock_id: String::new(),
            coupon_name: request.stock_name,
            coupon_value: use_rule.fixed_normal_coupon.coupon_amount,
            coupon_minimum: use_rule.fixed_normal_coupon.transaction_minimum,
            coupon_total: rule.max_coupons,
            max_quota: rule.max_coupons_per_user,
            status: code_of(&StockStatus::Unactivated).unwrap_or(1),
            begin_time: begin,
            end_time: end,
            create_time: req.now,
            stock_creator_mchid: None,
        },
        v3: V3StockInfo {
            out_request_no: Some(request.out_request_no),
            belong_merchant: Some(request.belong_merchant),
            available_merchants: use_rule.available_merchants,
            available_items: use_rule.available_items.unwrap_or_default(),
            goods_tag: use_rule.goods_tag,
            trade_type: use_rule.trade_type,
            combine_use: use_rule.combine_use,
            no_cash: request.no_cash,
            max_amount_by_day: rule.max_amount_by_day,
            description: request.pattern_info.map(|p| p.description),
            ..V3StockInfo::default()
        },
    };
    let (stock, replayed) = lock(state).create_stock_v3(new);
    let mut reply = ok(to_json(&answer(&stock)));
    reply.replayed = replayed;
    Ok(reply)
}

pub(super) fn change(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    state: &Mutex<State>,
    raw_stock_id: &str,
    change: StockChange,
    body: &str,
) -> Result<Reply, Refused> {
    let request: ChangeStockBody =
        serde_json::from_str(body).map_err(|e| body_error(&e, change.as_str()))?;
    is_caller(
        ctx,
        &request.stock_creator_mchid,
        "stock_creator_mchid",
        "body",
    )?;
    let stock = known_stock(state, raw_stock_id)?;
    if creator_of(ctx, &stock) != ctx.config.mch_id {
        return Err(refused(403, "NO_AUTH", "无权限操作该批次"));
    }
    let to = transition(&status_of(stock.seed.status), change)
        .map_err(|message| refused(400, "INVALID_REQUEST", message))?;
    let code = code_of(&to).expect("the life cycle only reaches numbered states");
    let now = req.now;
    lock(state).set_stock_status(stock.coupon_stock_id(), code, |v3| match change {
        StockChange::Start => v3.start_time = Some(now),
        StockChange::Pause => v3.pause_time = Some(now),
        StockChange::Restart => v3.restart_time = Some(now),
        StockChange::Stop => v3.stop_time = Some(now),
    });
    let mut answer = serde_json::Map::new();
    answer.insert("stock_id".into(), json!(stock.coupon_stock_id()));
    answer.insert(
        format!("{}_time", change.as_str()),
        json!(rfc3339_beijing(now)),
    );
    Ok(ok(serde_json::Value::Object(answer).to_string()))
}

fn time_query(query: Option<&str>, name: &str) -> Result<Option<i64>, Refused> {
    match query_param(query, name)?.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(raw) => parse_rfc3339(&raw).map(Some).ok_or_else(|| {
            param_error(
                format!("{name}格式错误"),
                name,
                "query",
                "an RFC 3339 time (2026-12-03T00:00:00+08:00)",
            )
        }),
    }
}

pub(super) fn list(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    state: &Mutex<State>,
) -> Result<Reply, Refused> {
    let offset = number_query(req.query, "offset", None, 0..=u64::from(u32::MAX))?;
    let limit = number_query(req.query, "limit", None, 1..=u64::from(MAX_STOCKS_LIMIT))?;
    let creator = required_query(req.query, "stock_creator_mchid")?;
    is_caller(ctx, &creator, "stock_creator_mchid", "query")?;
    let start = time_query(req.query, "create_start_time")?;
    let end = time_query(req.query, "create_end_time")?;
    let status = match query_param(req.query, "status")?.filter(|v| !v.is_empty()) {
        None => None,
        Some(raw) => {
            let status = StockStatus::parse(&raw);
            // Only the filter's own lower-case words.
            if status.as_filter() != Some(raw.as_str()) {
                return Err(param_error(
                    "status取值错误",
                    "status",
                    "query",
                    "unactivated, audit, running, stoped or paused",
                ));
            }
            Some(status)
        }
    };
    let stocks: Vec<StockSnapshot> = lock(state)
        .stocks_by_creation()
        .into_iter()
        .filter(|s| creator_of(ctx, s) == creator)
        .filter(|s| start.is_none_or(|t| s.seed.create_time >= t))
        .filter(|s| end.is_none_or(|t| s.seed.create_time < t))
        .filter(|s| {
            status
                .as_ref()
                .is_none_or(|st| status_of(s.seed.status) == *st)
        })
        .collect();
    let total = stocks.len() as u64;
    let data = stocks
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|s| stock_answer(ctx, s))
        .collect();
    Ok(ok(to_json(&StockPage {
        data,
        total_count: total,
        limit,
        offset,
    })))
}

/// The merchants (`items` false) or single items of a stock.
pub(super) fn listing(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    state: &Mutex<State>,
    raw_stock_id: &str,
    items: bool,
) -> Result<Reply, Refused> {
    let (max_offset, max_limit) = if items { (500, 100) } else { (1000, 50) };
    let offset = number_query(req.query, "offset", None, 0..=max_offset)?;
    let limit = number_query(req.query, "limit", None, 1..=max_limit)?;
    let creator = required_query(req.query, "stock_creator_mchid")?;
    is_caller(ctx, &creator, "stock_creator_mchid", "query")?;
    let stock = known_stock(state, raw_stock_id)?;
    let all: Vec<String> = if items {
        stock.v3.available_items.clone()
    } else if stock.v3.available_merchants.is_empty() {
        vec![creator_of(ctx, &stock).to_string()]
    } else {
        stock.v3.available_merchants.clone()
    };
    let data = all
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .cloned()
        .collect();
    Ok(ok(to_json(&IdPage {
        data,
        total_count: all.len() as u64,
        limit,
        offset,
        stock_id: stock.coupon_stock_id().to_string(),
    })))
}
