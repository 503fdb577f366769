//! The API v3 routes of the JSON API, with no I/O: the stock life cycle, the listings, the flow
//! files, a user's coupons and the callback URL — which only v3 has — and the three coupon
//! calls of [`crate::Call`] when the merchant's settings choose v3.
//!
//! | route | v3 call | answer |
//! |---|---|---|
//! | `POST /v1/stocks` (the core's `CreateStock`; `belong_merchant` defaults to the merchant, `stock_type` to `NORMAL`, `no_cash` to `false`) | create | `{stock_id, create_time}` |
//! | `POST /v1/stocks/{stock_id}/start` · `/pause` · `/restart` · `/stop` | change the state | `{stock_id, time}` |
//! | `GET /v1/stocks?offset&limit&status&create_start_time&create_end_time` | list stocks | a page of stocks |
//! | `GET /v1/stocks/{stock_id}/merchants?offset&limit` · `/items?offset&limit` | where it can be used | a page of ids |
//! | `GET /v1/stocks/{stock_id}/use-flow` · `/refund-flow` | the flow file, fetched and its SHA1 checked | `{file, rows}` |
//! | `GET /v1/users/{openid}/coupons?stock_id&status&creator_mchid&sender_mchid&available_mchid&offset&limit` | a user's coupons (default: of stocks this merchant created) | a page of coupons |
//! | `GET /v1/callbacks` · `PUT /v1/callbacks` `{"notify_url", "enabled"?}` | the notify URL | the setting |
//!
//! Query parameters other than the route's are refused by name (a misspelt `limt` must not
//! quietly list the default page); so are body fields the request does not have. Paging
//! defaults to the first page at the largest size WeChat allows (the core's `MAX_*` bounds).
//!
//! An edge serves a v3 route by reading the v3 merchant, then [`V3Call::new`] (or
//! [`V3Call::issue`], [`V3Call::stock`], [`V3Call::coupon`]), then [`V3Call::run`] with its
//! I/O behind [`V3Edge`] — or, for an edge whose HTTP is asynchronous (the Envoy filter),
//! [`V3Call::signed_request`], its own exchange, and [`V3Call::respond`]. Errors have the API's one shape ([`ApiError::from_v3`]).

use serde::Serialize;
use serde_json::Value;
use wxcoupon_core::v3::answer::{refusal, Answer};
use wxcoupon_core::v3::call::Call;
use wxcoupon_core::v3::callbacks::{GetCallback, SetCallback};
use wxcoupon_core::v3::error::Error;
use wxcoupon_core::v3::favor::{IssueCoupon, ListUserCoupons, QueryCoupon, QueryStock};
use wxcoupon_core::v3::flows::{DownloadFlow, FlowFile, FlowKind, FlowRow};
use wxcoupon_core::v3::merchant::Merchant;
use wxcoupon_core::v3::request::SignedRequest;
use wxcoupon_core::v3::status::{CouponStatus, StockStatus};
use wxcoupon_core::v3::stocks::{
    ChangeStock, CreateStock, ListStockItems, ListStockMerchants, ListStocks, StockChange,
    StockListing, MAX_ITEMS_LIMIT, MAX_MERCHANTS_LIMIT, MAX_STOCKS_LIMIT,
};

use crate::errors::ApiError;
use crate::input::{parse_json, query_pairs, IssueInput};
use crate::Reply;

/// A route only API v3 has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V3Route {
    /// `POST /v1/stocks`: the body is still to be read.
    CreateStock,
    /// `POST /v1/stocks/{stock_id}/start|pause|restart|stop`.
    ChangeStock {
        /// The stock.
        stock_id: String,
        /// Which change.
        change: StockChange,
    },
    /// `GET /v1/stocks?…`.
    ListStocks {
        /// The raw query.
        query: String,
    },
    /// `GET /v1/stocks/{stock_id}/merchants?…`.
    StockMerchants {
        /// The stock.
        stock_id: String,
        /// The raw query.
        query: String,
    },
    /// `GET /v1/stocks/{stock_id}/items?…`.
    StockItems {
        /// The stock.
        stock_id: String,
        /// The raw query.
        query: String,
    },
    /// `GET /v1/stocks/{stock_id}/use-flow|refund-flow`.
    Flow {
        /// The stock.
        stock_id: String,
        /// Which flow.
        kind: FlowKind,
    },
    /// `GET /v1/users/{openid}/coupons?…`.
    UserCoupons {
        /// The user.
        openid: String,
        /// The raw query.
        query: String,
    },
    /// `GET /v1/callbacks`.
    GetCallback,
    /// `PUT /v1/callbacks`: the body is still to be read.
    SetCallback,
}

impl V3Route {
    /// Whether the route has a JSON body to read (`POST /v1/stocks`, `PUT /v1/callbacks`).
    pub fn has_body(&self) -> bool {
        matches!(self, V3Route::CreateStock | V3Route::SetCallback)
    }
}

/// Routes the v3-only paths: `None` when `segments` is not one of them.
pub(crate) fn route(
    method: &str,
    segments: &[&str],
    query: &str,
) -> Option<Result<V3Route, ApiError>> {
    let only = |allowed: &'static str, route: Result<V3Route, ApiError>| {
        Some(match method == allowed {
            true => route,
            false => Err(ApiError::not_allowed(allowed)),
        })
    };
    let id = |field: &str, raw: &str| crate::segment(field, raw);
    let query = query.to_string();
    match segments {
        ["v1", "stocks"] => Some(match method {
            "POST" => Ok(V3Route::CreateStock),
            "GET" => Ok(V3Route::ListStocks { query }),
            _ => Err(ApiError::not_allowed("GET, POST")),
        }),
        ["v1", "stocks", stock_id, action] if !stock_id.is_empty() => {
            let change = match *action {
                "start" => Some(StockChange::Start),
                "pause" => Some(StockChange::Pause),
                "restart" => Some(StockChange::Restart),
                "stop" => Some(StockChange::Stop),
                _ => None,
            };
            if let Some(change) = change {
                return only(
                    "POST",
                    id("stock_id", stock_id)
                        .map(|stock_id| V3Route::ChangeStock { stock_id, change }),
                );
            }
            let route = |stock_id: String| match *action {
                "merchants" => Some(V3Route::StockMerchants { stock_id, query }),
                "items" => Some(V3Route::StockItems { stock_id, query }),
                "use-flow" => Some(V3Route::Flow {
                    stock_id,
                    kind: FlowKind::Use,
                }),
                "refund-flow" => Some(V3Route::Flow {
                    stock_id,
                    kind: FlowKind::Refund,
                }),
                _ => None,
            };
            match id("stock_id", stock_id) {
                Ok(stock_id) => route(stock_id).and_then(|r| only("GET", Ok(r))),
                Err(e) => Some(Err(e)),
            }
        }
        ["v1", "users", openid, "coupons"] if !openid.is_empty() => only(
            "GET",
            id("openid", openid).map(|openid| V3Route::UserCoupons { openid, query }),
        ),
        ["v1", "callbacks"] => Some(match method {
            "GET" => Ok(V3Route::GetCallback),
            "PUT" => Ok(V3Route::SetCallback),
            _ => Err(ApiError::not_allowed("GET, PUT")),
        }),
        _ => None,
    }
}

/// What the edge's settings give every v3 call: the merchant (the stocks' creator) and the
/// appid the openids belong to.
#[derive(Clone, Copy, Debug)]
pub struct V3Defaults<'a> {
    /// The merchant (`WXPAY_MCH_ID`).
    pub mchid: &'a str,
    /// The appid (`WXPAY_APPID`), which issuing and the coupon queries need.
    pub appid: Option<&'a str>,
}

impl V3Defaults<'_> {
    fn appid(&self) -> Result<String, ApiError> {
        self.appid.map(str::to_string).ok_or_else(|| {
            ApiError::configuration(
                "the gateway is not configured: WXPAY_APPID: required for the coupon calls",
                500,
            )
        })
    }
}

/// Runs `$body` with `$c` bound to the core call of any [`V3Call`].
macro_rules! each_call {
    ($call:expr, $c:ident => $body:expr) => {
        match $call {
            V3Call::CreateStock(boxed) => {
                let $c: &CreateStock = boxed;
                $body
            }
            V3Call::ChangeStock($c) => $body,
            V3Call::ListStocks($c) => $body,
            V3Call::StockMerchants($c) => $body,
            V3Call::StockItems($c) => $body,
            V3Call::Flow($c) => $body,
            V3Call::UserCoupons($c) => $body,
            V3Call::GetCallback($c) => $body,
            V3Call::SetCallback($c) => $body,
            V3Call::Issue { call: $c, .. } => $body,
            V3Call::QueryStock($c) => $body,
            V3Call::QueryCoupon($c) => $body,
        }
    };
}

/// One v3 call a request became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V3Call {
    /// Create a stock (boxed: it is most of the others together).
    CreateStock(Box<CreateStock>),
    /// Start, pause, restart or stop one.
    ChangeStock(ChangeStock),
    /// A page of stocks.
    ListStocks(ListStocks),
    /// A page of the merchants where a stock can be used.
    StockMerchants(ListStockMerchants),
    /// A page of the items it applies to.
    StockItems(ListStockItems),
    /// A flow file, fetched and read.
    Flow(DownloadFlow),
    /// A page of a user's coupons.
    UserCoupons(ListUserCoupons),
    /// The notify URL.
    GetCallback(GetCallback),
    /// Set it.
    SetCallback(SetCallback),
    /// `POST /v1/coupons` under v3: `partner_trade_no` is the `out_request_no`.
    Issue {
        /// The call.
        call: IssueCoupon,
        /// Whether the number was generated (the caller sent none).
        generated: bool,
    },
    /// `GET /v1/stocks/{stock_id}` under v3.
    QueryStock(QueryStock),
    /// `GET /v1/coupons/{coupon_id}?openid=…` under v3.
    QueryCoupon(QueryCoupon),
}

impl V3Call {
    /// The call for a v3-only route; `body` is the request body for a route that
    /// [`V3Route::has_body`] (empty otherwise).
    pub fn new(route: V3Route, body: &[u8], d: &V3Defaults<'_>) -> Result<V3Call, ApiError> {
        let mchid = d.mchid.to_string();
        Ok(match route {
            V3Route::CreateStock => V3Call::CreateStock(Box::new(create_stock(body, d.mchid)?)),
            V3Route::ChangeStock { stock_id, change } => V3Call::ChangeStock(ChangeStock {
                change,
                stock_id,
                stock_creator_mchid: mchid,
            }),
            V3Route::ListStocks { query } => {
                let mut q = Params::read(&query)?;
                let call = ListStocks {
                    offset: q.number("offset")?.unwrap_or(0),
                    limit: q.number("limit")?.unwrap_or(MAX_STOCKS_LIMIT),
                    stock_creator_mchid: mchid,
                    create_start_time: q.text("create_start_time")?,
                    create_end_time: q.text("create_end_time")?,
                    status: q.text("status")?.map(|s| StockStatus::parse(&s)),
                };
                q.finish()?;
                V3Call::ListStocks(call)
            }
            V3Route::StockMerchants { stock_id, query } => V3Call::StockMerchants(
                ListStockMerchants(listing(stock_id, mchid, &query, MAX_MERCHANTS_LIMIT)?),
            ),
            V3Route::StockItems { stock_id, query } => V3Call::StockItems(ListStockItems(listing(
                stock_id,
                mchid,
                &query,
                MAX_ITEMS_LIMIT,
            )?)),
            V3Route::Flow { stock_id, kind } => V3Call::Flow(DownloadFlow { kind, stock_id }),
            V3Route::UserCoupons { openid, query } => {
                let mut q = Params::read(&query)?;
                let mut call = ListUserCoupons {
                    openid,
                    appid: d.appid()?,
                    stock_id: q.text("stock_id")?,
                    status: q.text("status")?.map(|s| CouponStatus::parse(&s)),
                    creator_mchid: q.text("creator_mchid")?,
                    sender_mchid: q.text("sender_mchid")?,
                    available_mchid: q.text("available_mchid")?,
                    offset: q.number("offset")?,
                    limit: q.number("limit")?,
                };
                q.finish()?;
                let no_merchant = call.creator_mchid.is_none()
                    && call.sender_mchid.is_none()
                    && call.available_mchid.is_none();
                if no_merchant {
                    call.creator_mchid = Some(mchid);
                }
                V3Call::UserCoupons(call)
            }
            V3Route::GetCallback => V3Call::GetCallback(GetCallback { mchid }),
            V3Route::SetCallback => {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Body {
                    notify_url: String,
                    #[serde(default, alias = "switch")]
                    enabled: Option<bool>,
                }
                let body: Body = typed(body)?;
                V3Call::SetCallback(SetCallback {
                    mchid,
                    notify_url: body.notify_url,
                    enabled: body.enabled,
                })
            }
        })
    }

    /// `POST /v1/coupons` under v3: the caller's `partner_trade_no` (or `generate()`'s) as the
    /// `out_request_no`, the settings' appid, the merchant as the stock's creator.
    pub fn issue(
        input: IssueInput,
        generate: impl FnOnce() -> String,
        d: &V3Defaults<'_>,
    ) -> Result<V3Call, ApiError> {
        let (out_request_no, generated) = match input.partner_trade_no {
            Some(number) => (number, false),
            None => (generate(), true),
        };
        Ok(V3Call::Issue {
            call: IssueCoupon {
                openid: input.openid,
                stock_id: input.stock_id,
                out_request_no,
                appid: d.appid()?,
                stock_creator_mchid: d.mchid.to_string(),
                coupon_value: None,
                coupon_minimum: None,
            },
            generated,
        })
    }

    /// `GET /v1/stocks/{stock_id}` under v3.
    pub fn stock(stock_id: &str, d: &V3Defaults<'_>) -> V3Call {
        V3Call::QueryStock(QueryStock {
            stock_id: stock_id.to_string(),
            stock_creator_mchid: d.mchid.to_string(),
        })
    }

    /// `GET /v1/coupons/{coupon_id}?openid=…` under v3 (`stock_id`, which v2 needs, is
    /// accepted and not sent; other parameters are ignored, as under v2).
    pub fn coupon(coupon_id: &str, query: &str, d: &V3Defaults<'_>) -> Result<V3Call, ApiError> {
        let mut openid = None;
        for (name, value) in query_pairs(query)? {
            if name == "openid" && openid.replace(value).is_some() {
                return Err(ApiError::invalid("openid", "appears more than once"));
            }
        }
        Ok(V3Call::QueryCoupon(QueryCoupon {
            openid: openid.unwrap_or_default(),
            coupon_id: coupon_id.to_string(),
            appid: d.appid()?,
        }))
    }

    /// `POST /v1/coupons`: the number the coupon is issued under.
    pub fn partner_trade_no(&self) -> Option<&str> {
        match self {
            V3Call::Issue { call, .. } => Some(&call.out_request_no),
            _ => None,
        }
    }

    /// The signed request to send (`now` in Unix seconds, a fresh random `nonce`), or the
    /// answer when the request breaks a rule (nothing is sent then). `setting` names a merchant
    /// setting for the edge's configuration (see [`ApiError::from_v3`]).
    pub fn signed_request(
        &self,
        merchant: &Merchant,
        now: i64,
        nonce: &str,
        setting: fn(&str) -> &str,
    ) -> Result<SignedRequest, Reply> {
        each_call!(self, c => c.request_at(now))
            .and_then(|request| merchant.sign(request.to_sign(now, nonce)?))
            .map_err(|e| self.failure(e, setting))
    }

    /// What follows WeChat's answer to [`V3Call::signed_request`] (or the edge's failure to
    /// get one): the reply, or — for a flow — the file to fetch next.
    pub fn respond(
        &self,
        merchant: &Merchant,
        answer: Result<Answer, Error>,
        now: i64,
        setting: fn(&str) -> &str,
    ) -> Next {
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => return Next::Reply(self.failure(e, setting)),
        };
        let reply = match self {
            V3Call::Flow(_) => match merchant.parse::<DownloadFlow>(&answer, now) {
                Ok(file) => return Next::FetchFlow(file),
                Err(e) => Err(e),
            },
            V3Call::Issue { call, generated } => {
                merchant.parse::<IssueCoupon>(&answer, now).map(|issued| {
                    Reply::json(&Issued {
                        coupon_id: &issued.coupon_id,
                        coupon_stock_id: &call.stock_id,
                        openid: &call.openid,
                        partner_trade_no: &call.out_request_no,
                        partner_trade_no_generated: *generated,
                    })
                })
            }
            other => {
                each_call!(other, c => read(c, merchant, &answer, now).map(|v| Reply::json(&v)))
            }
        };
        Next::Reply(reply.unwrap_or_else(|e| self.failure(e, setting)))
    }

    /// A flow's answer once its file was fetched (unsigned: its URL carries its own token):
    /// the rows, the SHA1 checked.
    pub fn finish_flow(
        &self,
        file: FlowFile,
        fetched: Result<Answer, Error>,
        setting: fn(&str) -> &str,
    ) -> Reply {
        let rows = fetched.and_then(|answer| {
            if answer.status != 200 {
                return Err(Error::Refused(Box::new(refusal(
                    answer.status,
                    &answer.body,
                ))));
            }
            file.read_rows(answer.body.as_bytes())
        });
        match rows {
            Ok(rows) => Reply::json(&Flow { file, rows }),
            Err(e) => self.failure(e, setting),
        }
    }

    /// Makes the call through `edge` and answers with its outcome: [`V3Call::signed_request`],
    /// the exchange, [`V3Call::respond`] (and for a flow the fetch and
    /// [`V3Call::finish_flow`]).
    pub fn run(
        &self,
        merchant: &Merchant,
        edge: &mut dyn V3Edge,
        setting: fn(&str) -> &str,
    ) -> Reply {
        let now = edge.now();
        let nonce = edge.nonce();
        let signed = match self.signed_request(merchant, now, &nonce, setting) {
            Ok(signed) => signed,
            Err(reply) => return reply,
        };
        let answer = edge.send(
            signed.method.as_str(),
            &signed.url,
            &signed.headers,
            signed.body.as_bytes(),
        );
        match self.respond(merchant, answer, now, setting) {
            Next::Reply(reply) => reply,
            Next::FetchFlow(file) => {
                let fetched = edge.send("GET", &file.url, &[], &[]);
                self.finish_flow(file, fetched, setting)
            }
        }
    }

    /// The answer to a failed call: the API's error with this route's `not_found` code; for
    /// issuing, the number and whether the coupon may exist; for creating, whether the stock
    /// may.
    fn failure(&self, e: Error, setting: fn(&str) -> &str) -> Reply {
        let not_found = match self {
            V3Call::QueryCoupon(_) => "COUPON_NOT_FOUND",
            V3Call::Flow(_) => "FLOW_NOT_FOUND",
            V3Call::UserCoupons(_) => "USER_NOT_FOUND",
            _ => "STOCK_NOT_FOUND",
        };
        let unknown = e.issue_outcome_unknown();
        let error = ApiError::from_v3(&e, not_found, setting);
        match self {
            V3Call::Issue { call, .. } => {
                let error = error.with_trade_no(&call.out_request_no);
                match unknown {
                    true => error.outcome_unknown(),
                    false => error,
                }
            }
            V3Call::CreateStock(_) if unknown => error.stock_outcome_unknown(),
            _ => error,
        }
        .into()
    }
}

/// `answer` read as `C`'s (the call's type picks the reader).
fn read<C: Call>(
    _: &C,
    merchant: &Merchant,
    answer: &Answer,
    now: i64,
) -> Result<C::Answer, Error> {
    merchant.parse::<C>(answer, now)
}

/// What follows WeChat's answer.
#[derive(Debug)]
pub enum Next {
    /// The reply to the caller.
    Reply(Reply),
    /// A flow: fetch `url` of the file (`GET`, unsigned), then [`V3Call::finish_flow`].
    FetchFlow(FlowFile),
}

/// `POST /v1/coupons`'s answer under v3: the fields v2's has in common with it.
#[derive(Serialize)]
struct Issued<'a> {
    coupon_id: &'a str,
    coupon_stock_id: &'a str,
    openid: &'a str,
    partner_trade_no: &'a str,
    partner_trade_no_generated: bool,
}

/// A flow file and its rows, the SHA1 checked.
#[derive(Serialize)]
struct Flow {
    file: FlowFile,
    rows: Vec<FlowRow>,
}

/// What an edge does for a v3 call: the clock, nonces, and the HTTP exchange. Signing and
/// verifying stay here, with the merchant.
pub trait V3Edge {
    /// Now, Unix seconds.
    fn now(&self) -> i64;
    /// A fresh random nonce (32 characters).
    fn nonce(&mut self) -> String;
    /// Sends one request and returns the answer (status, headers, body as text).
    fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Answer, Error>;
}

/// `POST /v1/stocks`'s body as the core's `CreateStock`, with the merchant's defaults.
fn create_stock(body: &[u8], mchid: &str) -> Result<CreateStock, ApiError> {
    let Value::Object(mut map) = parse_json(body)? else {
        return Err(not_an_object());
    };
    let defaults = [
        ("belong_merchant", Value::from(mchid)),
        ("stock_type", Value::from("NORMAL")),
        ("no_cash", Value::from(false)),
    ];
    for (field, value) in defaults {
        map.entry(field).or_insert(value);
    }
    from_value(Value::Object(map))
}

fn not_an_object() -> ApiError {
    ApiError::new(400, "INVALID_JSON", "the body must be a JSON object")
}

/// A JSON body as `T`.
fn typed<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value = parse_json(body)?;
    if !value.is_object() {
        return Err(not_an_object());
    }
    from_value(value)
}

/// `value` as `T`, a mismatch as `INVALID_INPUT` naming the field serde names.
fn from_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        let message = e.to_string();
        // serde names fields in back-quotes: "missing field `stock_name`", "unknown field `x`,
        // expected one of …"; a type mismatch names none.
        let field = message
            .split('`')
            .nth(1)
            .filter(|_| {
                message.starts_with("missing field") || message.starts_with("unknown field")
            })
            .unwrap_or("body")
            .to_string();
        ApiError::invalid(&field, message.replace(&format!("`{field}`"), "").trim())
    })
}

/// `offset` and `limit` of a stock's merchants or items.
fn listing(
    stock_id: String,
    mchid: String,
    query: &str,
    default_limit: u32,
) -> Result<StockListing, ApiError> {
    let mut q = Params::read(query)?;
    let listing = StockListing {
        stock_id,
        stock_creator_mchid: mchid,
        offset: q.number("offset")?.unwrap_or(0),
        limit: q.number("limit")?.unwrap_or(default_limit),
    };
    q.finish()?;
    Ok(listing)
}

/// A route's query parameters, each read once by name; [`Params::finish`] refuses the rest.
struct Params {
    pairs: Vec<(String, String)>,
    known: Vec<&'static str>,
}

impl Params {
    fn read(query: &str) -> Result<Params, ApiError> {
        Ok(Params {
            pairs: query_pairs(query)?,
            known: Vec::new(),
        })
    }

    /// The parameter's value; a repeated one is refused.
    fn text(&mut self, name: &'static str) -> Result<Option<String>, ApiError> {
        self.known.push(name);
        let mut values = self.pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        let value = values.next().cloned();
        if values.next().is_some() {
            return Err(ApiError::invalid(name, "appears more than once"));
        }
        Ok(value.filter(|v| !v.is_empty()))
    }

    /// A whole number (the core checks its range when the request is built).
    fn number(&mut self, name: &'static str) -> Result<Option<u32>, ApiError> {
        self.text(name)?
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::invalid(name, "must be a whole number"))
            })
            .transpose()
    }

    /// Refuses a parameter the route does not have.
    fn finish(self) -> Result<(), ApiError> {
        match self
            .pairs
            .iter()
            .find(|(n, _)| !self.known.contains(&n.as_str()))
        {
            Some((name, _)) => Err(ApiError::invalid(
                name,
                format!("unknown parameter (expected {})", self.known.join(", ")),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "v3_tests.rs"]
mod tests;
