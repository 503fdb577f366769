//! The v3 path table and the four endpoints, from request to answer body: authentication (via
//! `auth`), each endpoint's checks, the business rules (via [`crate::state`]), answers built
//! with the core's serde types, and v3 error bodies `{"code","message","detail"?}`. No I/O:
//! the server owns the wire and signs what this returns.
//!
//! Every endpoint, in this order: a forced `err_code` fault (unprocessed), the issuing rate
//! (issue only, counted with v2's `send_coupon` in one window: 429 `FREQUENCY_LIMITED`), a body
//! that is UTF-8 (else 400 `PARAM_ERROR`), the `Authorization` (401 `SIGN_ERROR`), then:
//!
//! - **issue** (`POST {F}/users/{openid}/coupons`): the openid segment decodes (400
//!   `PARAM_ERROR`); the body is an `IssueCouponBody` (400 `PARAM_ERROR`); `out_request_no`
//!   follows WeChat's rule, ≤ 128 letters, digits and `| _ * -` (400 `PARAM_ERROR`); `stock_id`
//!   present; `appid` is the merchant's (400 `PARAM_ERROR` "商户号和APPID不匹配");
//!   `stock_creator_mchid` is the merchant (400 `PARAM_ERROR`); no `coupon_value` /
//!   `coupon_minimum` (the simulator's stocks have fixed values: 400 `PARAM_ERROR`); then the
//!   replay policy — a repeated `out_request_no` with another stock or openid is 400
//!   `INVALID_REQUEST` (WeChat documents nothing for it) — and the rules: unknown stock 404
//!   `RESOURCE_NOT_EXISTS`; stock not active, not started or ended 400 `INVALID_REQUEST`;
//!   exhausted 400 `NOT_ENOUGH` "批次预算耗尽"; the openid's `max_quota` reached 400 `RULE_LIMIT`
//!   "用户已达最大领券次数". Success: 200 `{"coupon_id":"…"}`.
//! - **stock** (`GET {F}/stocks/{stock_id}?stock_creator_mchid=`): the query names the merchant
//!   (missing or another merchant: 400 `PARAM_ERROR`, the code community threads report for a
//!   wrong creator; chosen over 403 `NO_AUTH`); unknown stock 404. Status maps v2's
//!   `coupon_stock_status` to the list filter's lower-case words: 1 `unactivated`, 2 `audit`,
//!   4 `running`, 8 `stoped` (sic), 16 `paused`. `max_coupons_per_user` is left out for a stock
//!   without a per-user limit (`max_quota` 0: v3 has no "unlimited").
//! - **coupon** (`GET {F}/users/{openid}/coupons/{coupon_id}?appid=`): `appid` present (400
//!   `PARAM_ERROR`); another appid, another user's coupon, or an unknown coupon: 404
//!   `RESOURCE_NOT_EXISTS`.
//! - **certificates** (`GET /v3/certificates`): every platform certificate valid now.
//! - **user coupons** (`GET {F}/users/{openid}/coupons?appid=&…`): `appid` present (400
//!   `PARAM_ERROR`) and the merchant's (else an empty page: the openid means nothing under
//!   another appid); one of `creator_mchid`, `sender_mchid`, `available_mchid` (400
//!   `PARAM_ERROR`); `status` `SENDED|USED|EXPIRED`, `offset` (default 0), `limit` 1–20
//!   (default 20) else 400 `PARAM_ERROR`. Every filter given must match: the creator and sender
//!   are the merchant (or the stock's creator), the available merchants are the stock's.
//!   `data` in issue order.
//! - the stock calls are in `stocks`, the flows in `flows`, the callback setting in
//!   `callbacks`.

use std::sync::Mutex;

use serde_json::{json, Map, Value};
use wxcoupon_core::v3::aead::ApiV3Key;
use wxcoupon_core::v3::certificates::CERTIFICATES_PATH;
use wxcoupon_core::v3::favor::{
    check_out_request_no, decode_segment, ConsumeInformation, Coupon, CouponPage,
    FixedNormalCoupon, IssueCouponBody, IssuedCoupon as IssuedAnswer, NormalCouponInformation,
    Stock, StockUseRule, FAVOR_PATH, MAX_USER_COUPONS_LIMIT,
};
use wxcoupon_core::v3::flows::FlowKind;
use wxcoupon_core::v3::status::CouponStatus;
use wxcoupon_core::v3::stocks::StockChange;

use super::auth::MerchantIdentity;
use super::keys::PlatformKeys;
use super::rfc3339_beijing;
use crate::config::SimulatorConfig;
use crate::faults::Faults;
use crate::handlers::random_nonce;
use crate::routes::Endpoint;
use crate::state::{
    ConsumeRecord, IssuedCoupon, RuleBreak, SendRequest, State, StockSnapshot, V3IssueError,
};

/// One call, with its path segments as received (still percent-encoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call<'a> {
    /// Issue a coupon.
    IssueCoupon { openid: &'a str },
    /// One stock.
    QueryStock { stock_id: &'a str },
    /// One coupon of a user.
    QueryCoupon { openid: &'a str, coupon_id: &'a str },
    /// The platform certificates.
    Certificates,
    /// Create a stock.
    CreateStock,
    /// Start, pause, restart or stop a stock.
    ChangeStock {
        stock_id: &'a str,
        change: StockChange,
    },
    /// List the merchant's stocks.
    ListStocks,
    /// A stock's merchants.
    StockMerchants { stock_id: &'a str },
    /// A stock's single items.
    StockItems { stock_id: &'a str },
    /// A stock's use or refund flow.
    Flow { stock_id: &'a str, kind: FlowKind },
    /// A user's coupons.
    ListUserCoupons { openid: &'a str },
    /// Set the notify URL.
    SetCallback,
    /// Read the notify URL.
    GetCallback,
}

/// A recognised v3 path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Route<'a> {
    /// For faults and logs.
    pub endpoint: Endpoint,
    /// The method this call answers.
    pub method: &'static str,
    /// Every method the path answers (the `Allow` of a 405).
    pub allow: &'static str,
    /// What it is.
    pub call: Call<'a>,
}

/// Looks a v3 request path up (without the query); `method` picks between the calls sharing
/// a path (`GET` lists a user's coupons and reads the callback, anything else issues and
/// sets). `None` for anything else.
pub(crate) fn route<'a>(path: &'a str, method: &str) -> Option<Route<'a>> {
    if path == CERTIFICATES_PATH {
        return Some(Route {
            endpoint: Endpoint::V3Certificates,
            method: "GET",
            allow: "GET",
            call: Call::Certificates,
        });
    }
    let rest = path.strip_prefix(FAVOR_PATH)?.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    let get = method == "GET";
    let (endpoint, method, call) = match parts.as_slice() {
        ["users", openid, "coupons"] if !openid.is_empty() && get => (
            Endpoint::V3ListUserCoupons,
            "GET",
            Call::ListUserCoupons { openid },
        ),
        ["users", openid, "coupons"] if !openid.is_empty() => (
            Endpoint::V3IssueCoupon,
            "POST",
            Call::IssueCoupon { openid },
        ),
        ["coupon-stocks"] => (Endpoint::V3CreateStock, "POST", Call::CreateStock),
        ["stocks"] => (Endpoint::V3ListStocks, "GET", Call::ListStocks),
        ["callbacks"] if get => (Endpoint::V3GetCallback, "GET", Call::GetCallback),
        ["callbacks"] => (Endpoint::V3SetCallback, "POST", Call::SetCallback),
        ["stocks", stock_id, action] if !stock_id.is_empty() => {
            let (endpoint, method, call) = match *action {
                "start" | "pause" | "restart" | "stop" => {
                    let change = StockChange::ALL
                        .into_iter()
                        .find(|c| c.as_str() == *action)?;
                    let endpoint = match change {
                        StockChange::Start => Endpoint::V3StartStock,
                        StockChange::Pause => Endpoint::V3PauseStock,
                        StockChange::Restart => Endpoint::V3RestartStock,
                        StockChange::Stop => Endpoint::V3StopStock,
                    };
                    (endpoint, "POST", Call::ChangeStock { stock_id, change })
                }
                "merchants" => (
                    Endpoint::V3StockMerchants,
                    "GET",
                    Call::StockMerchants { stock_id },
                ),
                "items" => (Endpoint::V3StockItems, "GET", Call::StockItems { stock_id }),
                "use-flow" => (
                    Endpoint::V3UseFlow,
                    "GET",
                    Call::Flow {
                        stock_id,
                        kind: FlowKind::Use,
                    },
                ),
                "refund-flow" => (
                    Endpoint::V3RefundFlow,
                    "GET",
                    Call::Flow {
                        stock_id,
                        kind: FlowKind::Refund,
                    },
                ),
                _ => return None,
            };
            (endpoint, method, call)
        }
        ["users", openid, "coupons", coupon_id] if !openid.is_empty() && !coupon_id.is_empty() => (
            Endpoint::V3QueryCoupon,
            "GET",
            Call::QueryCoupon { openid, coupon_id },
        ),
        ["stocks", stock_id] if !stock_id.is_empty() => {
            (Endpoint::V3QueryStock, "GET", Call::QueryStock { stock_id })
        }
        _ => return None,
    };
    let allow = match parts.as_slice() {
        ["users", _, "coupons"] | ["callbacks"] => "GET, POST",
        _ => method,
    };
    Some(Route {
        endpoint,
        method,
        allow,
        call,
    })
}

/// What the handlers need from the running simulator.
pub(crate) struct Context<'a> {
    pub config: &'a SimulatorConfig,
    pub merchant: &'a MerchantIdentity,
    pub apiv3_key: &'a ApiV3Key,
    pub keys: &'a Mutex<PlatformKeys>,
    pub state: &'a Mutex<State>,
    /// The flow files handed out.
    pub flows: &'a Mutex<super::flows::FlowStore>,
    /// The base URL of the listener the request came on (flow file URLs start with it).
    pub base_url: &'a str,
}

/// One request as the handlers see it.
pub(crate) struct Incoming<'a> {
    pub route: Route<'a>,
    /// The method as received.
    pub method: &'a str,
    /// The request-target as received: path and raw query (the signed URL).
    pub request_target: &'a str,
    /// The raw query, without `?`.
    pub query: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
    /// Now, Unix seconds.
    pub now: i64,
}

/// An answer to sign and send, with a one-word outcome for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub status: u16,
    /// JSON, or empty (202, 204).
    pub body: String,
    pub outcome: String,
    pub replayed: bool,
    /// Whether the answer is signed (every one but the flow calls' success).
    pub signed: bool,
}

/// A v3 refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(super) status: u16,
    pub(super) code: String,
    pub(super) message: String,
    /// `detail{field, location, issue}`.
    detail: Option<(String, &'static str, String)>,
}

pub(super) fn refused(status: u16, code: &str, message: impl Into<String>) -> Refused {
    Refused {
        status,
        code: code.to_string(),
        message: message.into(),
        detail: None,
    }
}

/// A 400 `PARAM_ERROR` naming the field (`/body/appid`), where it is, and what is wrong.
pub(super) fn param_error(
    message: impl Into<String>,
    field: &str,
    location: &'static str,
    issue: impl Into<String>,
) -> Refused {
    Refused {
        status: 400,
        code: "PARAM_ERROR".into(),
        message: message.into(),
        detail: Some((
            if field.is_empty() {
                format!("/{location}")
            } else {
                format!("/{location}/{field}")
            },
            location,
            issue.into(),
        )),
    }
}

impl Refused {
    pub(super) fn reply(self) -> Reply {
        let mut body = Map::new();
        body.insert("code".into(), Value::String(self.code.clone()));
        body.insert("message".into(), Value::String(self.message));
        if let Some((field, location, issue)) = self.detail {
            body.insert(
                "detail".into(),
                json!({ "field": field, "location": location, "issue": issue }),
            );
        }
        Reply {
            status: self.status,
            body: Value::Object(body).to_string(),
            outcome: self.code,
            replayed: false,
            signed: true,
        }
    }
}

/// The refusal every authentication failure gets.
fn sign_error() -> Refused {
    refused(401, "SIGN_ERROR", "签名错误")
}

/// The answer of the `status` fault: a body fitting the status (see [`crate::faults`]).
pub(crate) fn status_reply(status: u16) -> Reply {
    let (code, message) = match status {
        400 => ("PARAM_ERROR", "参数错误"),
        401 => ("SIGN_ERROR", "签名错误"),
        403 => ("NO_AUTH", "商户无权限"),
        404 => ("RESOURCE_NOT_EXISTS", "资源不存在"),
        429 => ("RATELIMIT_EXCEEDED", "请求过于频繁"),
        405..=499 => ("INVALID_REQUEST", "请求无效"),
        500 => ("SYSTEM_ERROR", "系统繁忙，请稍后重试"),
        502..=504 => ("SERVICE_UNAVAILABLE", "服务不可用，请稍后重试"),
        501..=599 => ("SYSTEM_ERROR", "系统错误"),
        _ => {
            return Reply {
                status,
                body: String::new(),
                outcome: format!("HTTP {status}"),
                replayed: false,
                signed: true,
            }
        }
    };
    let mut reply = refused(status, code, message).reply();
    reply.outcome = format!("HTTP {status} {code}");
    reply
}

/// The status and default message WeChat's v3 uses with `code` (the forced `err_code` fault).
fn forced(code: &str, message: Option<&str>) -> Refused {
    let (status, default) = match code {
        "SYSTEM_ERROR" => (500, "系统繁忙，请稍后重试"),
        "SERVICE_UNAVAILABLE" => (503, "服务不可用，请稍后重试"),
        "FREQUENCY_LIMITED" => (429, "请求过于频繁"),
        "RATELIMIT_EXCEEDED" => (429, "请求过于频繁"),
        "SIGN_ERROR" => (401, "签名错误"),
        "NO_AUTH" => (403, "商户无权限"),
        "RESOURCE_NOT_EXISTS" => (404, "资源不存在"),
        "NOT_ENOUGH" => (400, "批次预算耗尽"),
        "RULE_LIMIT" => (400, "用户已达最大领券次数"),
        "REQUEST_BLOCKED" => (400, "参数错误,请检查批次参数"),
        "USER_ACCOUNT_ABNORMAL" => (400, "用户非法"),
        "INVALID_REQUEST" => (400, "批次发放规则或核销规则有误"),
        _ => (400, "参数错误,请核对文档要求"),
    };
    refused(status, code, message.unwrap_or(default))
}

/// 404 for a `/v3/` path the simulator does not know (not authenticated first).
pub(crate) fn unknown_path() -> Reply {
    refused(404, "RESOURCE_NOT_EXISTS", "请求的接口不存在").reply()
}

/// 405 for a known path with another method.
pub(crate) fn wrong_method() -> Reply {
    refused(405, "INVALID_REQUEST", "不支持的请求方法").reply()
}

/// 400 for a body longer than the simulator reads.
pub(crate) fn body_too_long() -> Reply {
    param_error("请求体过大", "", "body", "the body is too long").reply()
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Handles one request to a known v3 endpoint. `fault` is what fired for it: `err_code` is
/// answered here; a fault that spoils the answer makes the request run on a throw-away copy of
/// the books; the server applies the rest.
pub(crate) fn handle(ctx: &Context<'_>, req: &Incoming<'_>, fault: Option<&Faults>) -> Reply {
    let throttled = match (req.route.endpoint, ctx.config.send_coupon_per_second) {
        (Endpoint::V3IssueCoupon, Some(limit)) => !lock(ctx.state).admit_send(req.now, limit),
        _ => false,
    };
    if let Some(code) = fault.and_then(|f| f.err_code.as_deref()) {
        let message = fault.and_then(|f| f.err_code_des.as_deref());
        return forced(code, message).reply();
    }
    if throttled {
        return refused(429, "FREQUENCY_LIMITED", "请求过于频繁").reply();
    }
    let scratch;
    let state = if fault.is_some_and(Faults::spoils_answer) {
        scratch = Mutex::new(lock(ctx.state).clone());
        &scratch
    } else {
        ctx.state
    };
    match process(ctx, req, state) {
        Ok(reply) => reply,
        Err(refusal) => refusal.reply(),
    }
}

fn process(ctx: &Context<'_>, req: &Incoming<'_>, state: &Mutex<State>) -> Result<Reply, Refused> {
    let body = std::str::from_utf8(req.body)
        .map_err(|_| param_error("请求体不是UTF-8", "", "body", "must be UTF-8 JSON"))?;
    ctx.merchant
        .authenticate(
            req.authorization,
            req.method,
            req.request_target,
            body,
            req.now,
        )
        .map_err(|failure| {
            tracing::debug!(reason = failure.name(), "v3 request not authenticated");
            sign_error()
        })?;
    match req.route.call {
        Call::IssueCoupon { openid } => issue(ctx, req, state, openid, body),
        Call::QueryStock { stock_id } => query_stock(ctx, req, state, stock_id),
        Call::QueryCoupon { openid, coupon_id } => query_coupon(ctx, req, state, openid, coupon_id),
        Call::Certificates => Ok(certificates(ctx, req)),
        Call::CreateStock => super::stocks::create(ctx, req, state, body),
        Call::ChangeStock { stock_id, change } => {
            super::stocks::change(ctx, req, state, stock_id, change, body)
        }
        Call::ListStocks => super::stocks::list(ctx, req, state),
        Call::StockMerchants { stock_id } => {
            super::stocks::listing(ctx, req, state, stock_id, false)
        }
        Call::StockItems { stock_id } => super::stocks::listing(ctx, req, state, stock_id, true),
        Call::Flow { stock_id, kind } => super::flows::request(ctx, req, state, stock_id, kind),
        Call::ListUserCoupons { openid } => list_user_coupons(ctx, req, state, openid),
        Call::SetCallback => super::callbacks::set(ctx, req, state, body),
        Call::GetCallback => super::callbacks::get(ctx, req, state),
    }
}

pub(super) fn ok(body: String) -> Reply {
    Reply {
        status: 200,
        body,
        outcome: "SUCCESS".into(),
        replayed: false,
        signed: true,
    }
}

/// The JSON of an answer type.
pub(super) fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("the core's answer types serialize")
}

/// A path segment, decoded: present, at most `max` characters, no control characters.
pub(super) fn segment(raw: &str, name: &str, max: usize) -> Result<String, Refused> {
    let value = decode_segment(raw).ok_or_else(|| {
        param_error(
            format!("{name}格式错误"),
            name,
            "path",
            "bad percent-encoding",
        )
    })?;
    let len = value.chars().count();
    if len == 0 || len > max || value.chars().any(char::is_control) {
        return Err(param_error(
            format!("{name}格式错误"),
            name,
            "path",
            format!("1 to {max} characters, no control characters"),
        ));
    }
    Ok(value)
}

/// The decoded value of query parameter `name` (its first occurrence); `None` when absent.
pub(super) fn query_param(query: Option<&str>, name: &str) -> Result<Option<String>, Refused> {
    let Some(query) = query else {
        return Ok(None);
    };
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == name {
            return decode_segment(value).map(Some).ok_or_else(|| {
                param_error(
                    format!("{name}格式错误"),
                    name,
                    "query",
                    "bad percent-encoding",
                )
            });
        }
    }
    Ok(None)
}

pub(super) fn required_query(query: Option<&str>, name: &str) -> Result<String, Refused> {
    match query_param(query, name)? {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(param_error(
            format!("{name}不能为空"),
            name,
            "query",
            "required",
        )),
    }
}

fn issue(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    state: &Mutex<State>,
    raw_openid: &str,
    body: &str,
) -> Result<Reply, Refused> {
    let openid = segment(raw_openid, "openid", 128)?;
    let request: IssueCouponBody = serde_json::from_str(body).map_err(|e| {
        param_error(
            "请求体格式错误",
            "",
            "body",
            format!(
                "not the issue call's JSON body (line {} column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    check_out_request_no(&request.out_request_no).map_err(|e| {
        param_error(
            "out_request_no格式错误",
            "out_request_no",
            "body",
            e.to_string(),
        )
    })?;
    let stock_id = request.stock_id.trim();
    if stock_id.is_empty() || stock_id.chars().count() > 64 {
        return Err(param_error(
            "stock_id格式错误",
            "stock_id",
            "body",
            "1 to 64 characters",
        ));
    }
    if request.appid != ctx.config.appid {
        return Err(param_error(
            "商户号和APPID不匹配",
            "appid",
            "body",
            "not bound to the calling merchant",
        ));
    }
    if request.stock_creator_mchid != ctx.config.mch_id {
        return Err(param_error(
            "参数错误,请核对文档要求",
            "stock_creator_mchid",
            "body",
            "not the stock's creator",
        ));
    }
    if request.coupon_value.is_some() || request.coupon_minimum.is_some() {
        let field = if request.coupon_value.is_some() {
            "coupon_value"
        } else {
            "coupon_minimum"
        };
        return Err(param_error(
            "参数错误,请核对文档要求",
            field,
            "body",
            "the stock has a fixed face value",
        ));
    }
    let outcome = lock(state).issue_v3(
        &SendRequest {
            coupon_stock_id: stock_id,
            openid: &openid,
            partner_trade_no: &request.out_request_no,
        },
        req.now,
    );
    match outcome.result {
        Ok(coupon) => {
            let body = serde_json::to_string(&IssuedAnswer {
                coupon_id: coupon.coupon_id,
            })
            .expect("a struct of strings");
            let mut reply = ok(body);
            reply.replayed = outcome.replayed;
            Ok(reply)
        }
        Err(V3IssueError::OutRequestNoReused) => Err(refused(
            400,
            "INVALID_REQUEST",
            "out_request_no已被使用(批次或openid不同)",
        )),
        Err(V3IssueError::Rule(rule)) => Err(match rule {
            RuleBreak::UnknownStock => refused(404, "RESOURCE_NOT_EXISTS", "批次不存在"),
            RuleBreak::NotActive(status) => refused(
                400,
                "INVALID_REQUEST",
                match status {
                    1 => "批次未激活",
                    2 => "批次审核中",
                    8 => "批次已作废",
                    16 => "批次已暂停发放",
                    _ => "批次状态无效",
                },
            ),
            RuleBreak::NotStarted => refused(400, "INVALID_REQUEST", "批次未开始发放"),
            RuleBreak::Ended => refused(400, "INVALID_REQUEST", "批次已结束"),
            RuleBreak::Exhausted => refused(400, "NOT_ENOUGH", "批次预算耗尽"),
            RuleBreak::UserLimit => refused(400, "RULE_LIMIT", "用户已达最大领券次数"),
        }),
    }
}

/// The v3 stock status word for a v2 `coupon_stock_status`.
pub(super) fn stock_status(status: u32) -> &'static str {
    match status {
        1 => "unactivated",
        2 => "audit",
        4 => "running",
        8 => "stoped",
        16 => "paused",
        _ => "unknown",
    }
}

/// The merchant that created `stock`.
pub(super) fn creator_of<'s>(ctx: &'s Context<'_>, stock: &'s StockSnapshot) -> &'s str {
    stock
        .seed
        .stock_creator_mchid
        .as_deref()
        .unwrap_or(&ctx.config.mch_id)
}

pub(super) fn stock_answer(ctx: &Context<'_>, stock: &StockSnapshot) -> Stock {
    let seed = &stock.seed;
    let v3 = &stock.v3;
    Stock {
        stock_id: seed.coupon_stock_id.clone(),
        stock_creator_mchid: Some(creator_of(ctx, stock).to_string()),
        stock_name: Some(seed.coupon_name.clone()),
        status: Some(stock_status(seed.status).into()),
        create_time: Some(rfc3339_beijing(seed.create_time)),
        description: Some(stock.description()),
        stock_use_rule: Some(StockUseRule {
            max_coupons: Some(seed.coupon_total),
            max_amount: Some(stock.coupon_budget()),
            fixed_normal_coupon: Some(FixedNormalCoupon {
                coupon_amount: Some(seed.coupon_value),
                transaction_minimum: Some(seed.coupon_minimum),
            }),
            max_amount_by_day: v3.max_amount_by_day,
            max_coupons_per_user: (seed.max_quota > 0).then_some(seed.max_quota),
            coupon_type: Some("NORMAL".into()),
            goods_tag: v3.goods_tag.clone(),
            trade_type: v3.trade_type.clone(),
            combine_use: Some(v3.combine_use.unwrap_or(false)),
            ..StockUseRule::default()
        }),
        available_begin_time: Some(rfc3339_beijing(seed.begin_time)),
        available_end_time: Some(rfc3339_beijing(seed.end_time)),
        distributed_coupons: Some(stock.is_send_num),
        no_cash: Some(v3.no_cash),
        start_time: v3.start_time.map(rfc3339_beijing),
        stop_time: v3.stop_time.map(rfc3339_beijing),
        singleitem: Some(!v3.available_items.is_empty()),
        stock_type: Some("NORMAL".into()),
        ..Stock::default()
    }
}

fn query_stock(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    state: &Mutex<State>,
    raw_stock_id: &str,
) -> Result<Reply, Refused> {
    let stock_id = segment(raw_stock_id, "stock_id", 64)?;
    let creator = required_query(req.query, "stock_creator_mchid")?;
    if creator != ctx.config.mch_id {
        return Err(param_error(
            "参数错误,请核对文档要求",
            "stock_creator_mchid",
            "query",
            "not the stock's creator",
        ));
    }
    let stock = lock(state)
        .stock(crate::routes::Environment::Production, &stock_id)
        .ok_or_else(|| refused(404, "RESOURCE_NOT_EXISTS", "批次不存在"))?;
    Ok(ok(
        serde_json::to_string(&stock_answer(ctx, &stock)).expect("the stock serializes")
    ))
}

fn query_coupon(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    state: &Mutex<State>,
    raw_openid: &str,
    raw_coupon_id: &str,
) -> Result<Reply, Refused> {
    let openid = segment(raw_openid, "openid", 128)?;
    let coupon_id = segment(raw_coupon_id, "coupon_id", 64)?;
    let appid = required_query(req.query, "appid")?;
    let not_found = || refused(404, "RESOURCE_NOT_EXISTS", "查询不到代金券信息");
    if appid != ctx.config.appid {
        return Err(not_found());
    }
    let (coupon, stock) = lock(state).coupon_by_id(&coupon_id).ok_or_else(not_found)?;
    if coupon.openid != openid {
        return Err(not_found());
    }
    let used = lock(state).use_of(&coupon.coupon_id);
    let answer = coupon_answer(&ctx.config.mch_id, &coupon, &stock, used.as_ref());
    Ok(ok(to_json(&answer)))
}

/// A coupon as v3 writes it: `SENDED`, or `USED` with `consume_information`. `mchid` is the
/// creator of a stock without one of its own.
pub(crate) fn coupon_answer(
    mchid: &str,
    coupon: &IssuedCoupon,
    stock: &StockSnapshot,
    used: Option<&ConsumeRecord>,
) -> Coupon {
    let seed = &stock.seed;
    Coupon {
        coupon_id: coupon.coupon_id.clone(),
        stock_id: Some(coupon.coupon_stock_id.clone()),
        stock_creator_mchid: Some(seed.stock_creator_mchid.as_deref().unwrap_or(mchid).into()),
        coupon_name: Some(seed.coupon_name.clone()),
        status: Some(
            match used {
                Some(_) => CouponStatus::Used,
                None => CouponStatus::Sended,
            }
            .as_wire()
            .into(),
        ),
        description: Some(stock.description()),
        create_time: Some(rfc3339_beijing(coupon.send_time)),
        coupon_type: Some("NORMAL".into()),
        no_cash: Some(stock.v3.no_cash),
        available_begin_time: Some(rfc3339_beijing(seed.begin_time)),
        available_end_time: Some(rfc3339_beijing(seed.end_time)),
        singleitem: Some(!stock.v3.available_items.is_empty()),
        normal_coupon_information: Some(NormalCouponInformation {
            coupon_amount: Some(seed.coupon_value),
            transaction_minimum: Some(seed.coupon_minimum),
        }),
        consume_information: used.map(|u| ConsumeInformation {
            consume_time: Some(rfc3339_beijing(u.consume_time)),
            consume_mchid: Some(u.consume_mchid.clone()),
            transaction_id: Some(u.transaction_id.clone()),
            goods_detail: u.goods_detail.clone(),
        }),
        ..Coupon::default()
    }
}

/// A query number: absent → `default` (or refused when `None`), else digits within `range`.
pub(super) fn number_query(
    query: Option<&str>,
    name: &str,
    default: Option<u64>,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, Refused> {
    let bad = || {
        param_error(
            format!("{name}取值错误"),
            name,
            "query",
            format!("a number {}–{}", range.start(), range.end()),
        )
    };
    let value = match query_param(query, name)? {
        Some(v) if !v.is_empty() => v.parse::<u64>().map_err(|_| bad())?,
        _ => default
            .ok_or_else(|| param_error(format!("{name}不能为空"), name, "query", "required"))?,
    };
    if !range.contains(&value) {
        return Err(bad());
    }
    Ok(value)
}

fn list_user_coupons(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    state: &Mutex<State>,
    raw_openid: &str,
) -> Result<Reply, Refused> {
    let openid = segment(raw_openid, "openid", 128)?;
    let appid = required_query(req.query, "appid")?;
    let creator = query_param(req.query, "creator_mchid")?.filter(|v| !v.is_empty());
    let sender = query_param(req.query, "sender_mchid")?.filter(|v| !v.is_empty());
    let available = query_param(req.query, "available_mchid")?.filter(|v| !v.is_empty());
    if creator.is_none() && sender.is_none() && available.is_none() {
        return Err(param_error(
            "creator_mchid、sender_mchid、available_mchid至少填写一个",
            "creator_mchid",
            "query",
            "one of creator_mchid, sender_mchid or available_mchid is required",
        ));
    }
    let stock_id = query_param(req.query, "stock_id")?.filter(|v| !v.is_empty());
    let status = match query_param(req.query, "status")?.filter(|v| !v.is_empty()) {
        None => None,
        Some(raw) => match CouponStatus::parse(&raw) {
            s @ (CouponStatus::Sended | CouponStatus::Used | CouponStatus::Expired) => Some(s),
            _ => {
                return Err(param_error(
                    "status取值错误",
                    "status",
                    "query",
                    "SENDED, USED or EXPIRED",
                ))
            }
        },
    };
    let offset = number_query(req.query, "offset", Some(0), 0..=u64::from(u32::MAX))?;
    let limit = number_query(
        req.query,
        "limit",
        Some(u64::from(MAX_USER_COUPONS_LIMIT)),
        1..=u64::from(MAX_USER_COUPONS_LIMIT),
    )?;
    let state = lock(state);
    let mchid = ctx.config.mch_id.as_str();
    let matching: Vec<Coupon> = if appid != ctx.config.appid {
        Vec::new()
    } else {
        state
            .coupons_of(&openid)
            .into_iter()
            .filter(|(coupon, stock)| {
                let stock_creator = stock.seed.stock_creator_mchid.as_deref().unwrap_or(mchid);
                let usable_at = |m: &str| {
                    if stock.v3.available_merchants.is_empty() {
                        m == stock_creator
                    } else {
                        stock.v3.available_merchants.iter().any(|a| a == m)
                    }
                };
                creator.as_deref().is_none_or(|c| c == stock_creator)
                    && sender.as_deref().is_none_or(|s| s == mchid)
                    && available.as_deref().is_none_or(usable_at)
                    && stock_id
                        .as_deref()
                        .is_none_or(|s| s == coupon.coupon_stock_id)
            })
            .map(|(coupon, stock)| {
                let used = state.use_of(&coupon.coupon_id);
                coupon_answer(mchid, &coupon, &stock, used.as_ref())
            })
            .filter(|c| {
                status
                    .as_ref()
                    .is_none_or(|s| c.state().as_ref() == Some(s))
            })
            .collect()
    };
    let total = matching.len() as u64;
    let data = matching
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok(ok(to_json(&CouponPage {
        data,
        total_count: total,
        limit,
        offset,
    })))
}

fn certificates(ctx: &Context<'_>, req: &Incoming<'_>) -> Reply {
    let list = lock(ctx.keys).certificate_list(ctx.apiv3_key, req.now, || {
        random_nonce().chars().take(12).collect()
    });
    ok(serde_json::to_string(&list).expect("the list serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let r = route("/v3/marketing/favor/users/o%2F1/coupons", "POST").unwrap();
        assert_eq!(r.endpoint, Endpoint::V3IssueCoupon);
        assert_eq!((r.method, r.allow), ("POST", "GET, POST"));
        assert_eq!(r.call, Call::IssueCoupon { openid: "o%2F1" });
        let r = route("/v3/marketing/favor/users/o%2F1/coupons", "GET").unwrap();
        assert_eq!(r.call, Call::ListUserCoupons { openid: "o%2F1" });
        // Another method is answered as the issue path (405, Allow: GET, POST).
        let r = route("/v3/marketing/favor/users/o1/coupons", "PUT").unwrap();
        assert_eq!(r.method, "POST");
        let r = route("/v3/marketing/favor/users/o1/coupons/123", "GET").unwrap();
        assert_eq!(
            r.call,
            Call::QueryCoupon {
                openid: "o1",
                coupon_id: "123"
            }
        );
        for (path, method, endpoint) in [
            (
                "/v3/marketing/favor/stocks/1757",
                "GET",
                Endpoint::V3QueryStock,
            ),
            ("/v3/certificates", "GET", Endpoint::V3Certificates),
            (
                "/v3/marketing/favor/coupon-stocks",
                "POST",
                Endpoint::V3CreateStock,
            ),
            ("/v3/marketing/favor/stocks", "GET", Endpoint::V3ListStocks),
            (
                "/v3/marketing/favor/stocks/1/start",
                "POST",
                Endpoint::V3StartStock,
            ),
            (
                "/v3/marketing/favor/stocks/1/pause",
                "POST",
                Endpoint::V3PauseStock,
            ),
            (
                "/v3/marketing/favor/stocks/1/restart",
                "POST",
                Endpoint::V3RestartStock,
            ),
            (
                "/v3/marketing/favor/stocks/1/stop",
                "POST",
                Endpoint::V3StopStock,
            ),
            (
                "/v3/marketing/favor/stocks/1/merchants",
                "GET",
                Endpoint::V3StockMerchants,
            ),
            (
                "/v3/marketing/favor/stocks/1/items",
                "GET",
                Endpoint::V3StockItems,
            ),
            (
                "/v3/marketing/favor/stocks/1/use-flow",
                "GET",
                Endpoint::V3UseFlow,
            ),
            (
                "/v3/marketing/favor/stocks/1/refund-flow",
                "GET",
                Endpoint::V3RefundFlow,
            ),
            (
                "/v3/marketing/favor/callbacks",
                "GET",
                Endpoint::V3GetCallback,
            ),
            (
                "/v3/marketing/favor/callbacks",
                "POST",
                Endpoint::V3SetCallback,
            ),
        ] {
            let r = route(path, method).unwrap();
            assert_eq!((r.endpoint, r.method), (endpoint, method), "{path}");
        }
        assert_eq!(
            route("/v3/marketing/favor/stocks/1/stop", "POST")
                .unwrap()
                .call,
            Call::ChangeStock {
                stock_id: "1",
                change: StockChange::Stop
            }
        );
        for bad in [
            "/v3/marketing/favor/users//coupons",
            "/v3/marketing/favor/users/o/coupons/",
            "/v3/marketing/favor/stocks/",
            "/v3/marketing/favor/stocks/1/other",
            "/v3/marketing/favor/stocks//start",
            "/v3/marketing/favorx/stocks/1",
            "/v3/certificates/",
        ] {
            assert!(route(bad, "GET").is_none(), "{bad}");
        }
    }

    #[test]
    fn fault_bodies_fit_the_status() {
        assert_eq!(status_reply(202).body, "");
        assert_eq!(status_reply(204).body, "");
        for (status, code) in [
            (429, "RATELIMIT_EXCEEDED"),
            (500, "SYSTEM_ERROR"),
            (502, "SERVICE_UNAVAILABLE"),
            (503, "SERVICE_UNAVAILABLE"),
            (403, "NO_AUTH"),
            (418, "INVALID_REQUEST"),
        ] {
            let reply = status_reply(status);
            let body: Value = serde_json::from_str(&reply.body).unwrap();
            assert_eq!(body["code"], code, "{status}");
            assert_eq!(reply.status, status);
        }
        let r = forced("SYSTEM_ERROR", None);
        assert_eq!((r.status, r.code.as_str()), (500, "SYSTEM_ERROR"));
        assert_eq!(forced("WHATEVER", Some("x")).status, 400);
    }

    #[test]
    fn query_parameters_decode() {
        assert_eq!(
            query_param(Some("a=1&appid=wx%261"), "appid").unwrap(),
            Some("wx&1".into())
        );
        assert_eq!(query_param(Some("a=1"), "appid").unwrap(), None);
        assert!(query_param(Some("appid=%zz"), "appid").is_err());
        assert!(required_query(None, "appid").is_err());
    }
}
