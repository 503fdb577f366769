//! The v3 coupon programme on the command line: `stock create|start|pause|restart|stop|list|
//! merchants|items|use-flow|refund-flow`, `coupons list`, `callbacks get|set` and
//! `notification verify`. Each builds the core's typed request from flags (or, for
//! `stock create`, a JSON file), calls it through the component with the session of [`super::v3`]
//! (certificates refreshed on a rotation), and prints JSON with `--json`, else a table or one
//! line. Lists print one page; the footer says where the next starts.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use wxcoupon::Runtime;
use wxcoupon_core::v3::callbacks::{GetCallback, SetCallback};
use wxcoupon_core::v3::favor::{Coupon, ListUserCoupons};
use wxcoupon_core::v3::flows::{DownloadFlow, FlowKind, FlowRow};
use wxcoupon_core::v3::status::{CouponStatus, StockStatus};
use wxcoupon_core::v3::stocks::{
    ChangeStock, CouponUseRule, CreateStock, FixedFaceValue, ListStockItems, ListStockMerchants,
    ListStocks, NewStockUseRule, PatternInfo, StockChange, StockListing,
};

use super::args::ConfigArgs;
use super::outcome::Failure;
use super::to_json;
use super::v3::{call_options, rotated, V3Session};

/// `stock` subcommands (without one, `stock --stock-id` shows a stock).
#[derive(Subcommand)]
pub(crate) enum StockCommand {
    /// Create a stock (v3). It starts unactivated: `stock start` it. Idempotent on
    /// --out-request-no: the same number answers the same stock.
    Create(CreateArgs),
    /// Activate a new stock.
    Start(ChangeArgs),
    /// Pause a running stock: issuing is refused until it is restarted.
    Pause(ChangeArgs),
    /// Restart a paused stock.
    Restart(ChangeArgs),
    /// Stop a stock for good.
    Stop(ChangeArgs),
    /// List this merchant's stocks, one page.
    List {
        #[command(flatten)]
        config: ConfigArgs,
        /// Where the page starts.
        #[arg(long, default_value_t = 0)]
        offset: u32,
        /// Page size, 1–10.
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// Only stocks in this state.
        #[arg(long, value_enum)]
        status: Option<StockStatusArg>,
        /// Created at or after (RFC 3339).
        #[arg(long)]
        created_after: Option<String>,
        /// Created before (RFC 3339).
        #[arg(long)]
        created_before: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the merchants where a stock's coupons can be used, one page.
    Merchants(ListingArgs),
    /// List the single items a stock's coupons apply to, one page.
    Items(ListingArgs),
    /// Download a stock's use-flow file, check its SHA1 and show its rows.
    UseFlow(FlowArgs),
    /// Download a stock's refund-flow file, check its SHA1 and show its rows.
    RefundFlow(FlowArgs),
}

/// A stock's states, as flags take them.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum StockStatusArg {
    Unactivated,
    Audit,
    Running,
    Stopped,
    Paused,
}

impl From<StockStatusArg> for StockStatus {
    fn from(s: StockStatusArg) -> StockStatus {
        match s {
            StockStatusArg::Unactivated => StockStatus::Unactivated,
            StockStatusArg::Audit => StockStatus::Audit,
            StockStatusArg::Running => StockStatus::Running,
            StockStatusArg::Stopped => StockStatus::Stopped,
            StockStatusArg::Paused => StockStatus::Paused,
        }
    }
}

/// `stock create`.
#[derive(Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The whole request as JSON (the core's `CreateStock`; `-` for stdin); the flags below
    /// are then not used.
    #[arg(long, value_name = "FILE")]
    request: Option<PathBuf>,
    /// Its name (at most 20 characters).
    #[arg(long, required_unless_present = "request")]
    name: Option<String>,
    /// When coupons become usable (RFC 3339, `2026-12-03T00:00:00+08:00`).
    #[arg(long, required_unless_present = "request")]
    begin: Option<String>,
    /// When they stop (at most 90 days after the begin).
    #[arg(long, required_unless_present = "request")]
    end: Option<String>,
    /// Coupons in all (5 – 10,000,000).
    #[arg(long, required_unless_present = "request")]
    max_coupons: Option<u64>,
    /// Face value, fen.
    #[arg(long, required_unless_present = "request")]
    amount: Option<u64>,
    /// Smallest order, fen (more than the face value).
    #[arg(long, required_unless_present = "request")]
    minimum: Option<u64>,
    /// Coupons per user (1–60).
    #[arg(long, default_value_t = 1)]
    per_user: u64,
    /// The text shown with the coupon.
    #[arg(long)]
    description: Option<String>,
    /// A note for the merchant.
    #[arg(long)]
    comment: Option<String>,
    /// A merchant where coupons can be used (repeat; default: this merchant).
    #[arg(long = "available-merchant")]
    available_merchants: Vec<String>,
    /// Your unique number for this creation (reuse it to retry safely).
    #[arg(long, required_unless_present = "request")]
    out_request_no: Option<String>,
    /// A no-cash (预充值) stock.
    #[arg(long)]
    no_cash: bool,
    /// Print JSON instead of one line.
    #[arg(long)]
    json: bool,
}

/// `stock start|pause|restart|stop`.
#[derive(Args)]
pub(crate) struct ChangeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The stock.
    #[arg(long)]
    stock_id: String,
    /// The merchant that created it (default: this merchant).
    #[arg(long)]
    stock_creator_mchid: Option<String>,
    /// Print JSON instead of one line.
    #[arg(long)]
    json: bool,
}

/// `stock merchants|items`.
#[derive(Args)]
pub(crate) struct ListingArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The stock.
    #[arg(long)]
    stock_id: String,
    /// The merchant that created it (default: this merchant).
    #[arg(long)]
    stock_creator_mchid: Option<String>,
    /// Where the page starts.
    #[arg(long, default_value_t = 0)]
    offset: u32,
    /// Page size (merchants 1–50, items 1–100).
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `stock use-flow|refund-flow`.
#[derive(Args)]
pub(crate) struct FlowArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The stock (only its creator may download).
    #[arg(long)]
    stock_id: String,
    /// Also write the rows (checked against the file's SHA1) here, in the file's CSV form.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `coupons` subcommands.
#[derive(Subcommand)]
pub(crate) enum CouponsCommand {
    /// List a user's coupons, one page (default: of stocks this merchant created).
    List {
        #[command(flatten)]
        config: ConfigArgs,
        /// The user.
        #[arg(long)]
        openid: String,
        /// Only this stock's.
        #[arg(long)]
        stock_id: Option<String>,
        /// Only coupons in this state.
        #[arg(long, value_enum)]
        status: Option<CouponStatusArg>,
        /// Coupons of stocks this merchant created.
        #[arg(long)]
        creator_mchid: Option<String>,
        /// Coupons this merchant issued.
        #[arg(long)]
        sender_mchid: Option<String>,
        /// Coupons usable at this merchant.
        #[arg(long)]
        available_mchid: Option<String>,
        /// Where the page starts.
        #[arg(long)]
        offset: Option<u32>,
        /// Page size, 1–20.
        #[arg(long)]
        limit: Option<u32>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// A coupon's states, as flags take them.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum CouponStatusArg {
    Sended,
    Used,
    Expired,
}

/// `callbacks` subcommands.
#[derive(Subcommand)]
pub(crate) enum CallbacksCommand {
    /// Show where COUPON.USE callbacks go.
    Get {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print JSON instead of one line.
        #[arg(long)]
        json: bool,
    },
    /// Set where COUPON.USE callbacks go (https only).
    Set {
        #[command(flatten)]
        config: ConfigArgs,
        /// The notify URL.
        #[arg(long)]
        url: String,
        /// Turn callbacks off (default: on).
        #[arg(long)]
        disable: bool,
        /// Print JSON instead of one line.
        #[arg(long)]
        json: bool,
    },
}

/// `notification` subcommands.
#[derive(Subcommand)]
pub(crate) enum NotificationCommand {
    /// Verify, decrypt and show a captured callback: a JSON file `{"headers": {…}, "body":
    /// "…"}` (the request's headers and its body exactly as received).
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
        /// The captured callback.
        file: PathBuf,
        /// Check the timestamp against this Unix time instead of now (a capture older than
        /// 300 s is otherwise refused as stale, as it would be live).
        #[arg(long, value_name = "UNIX_SECONDS")]
        at: Option<i64>,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
impl StockCommand {
    /// The settings the subcommand runs with (the secrets test reads them).
    pub(crate) fn config(&self) -> &ConfigArgs {
        match self {
            StockCommand::Create(a) => &a.config,
            StockCommand::Start(a)
            | StockCommand::Pause(a)
            | StockCommand::Restart(a)
            | StockCommand::Stop(a) => &a.config,
            StockCommand::List { config, .. } => config,
            StockCommand::Merchants(a) | StockCommand::Items(a) => &a.config,
            StockCommand::UseFlow(a) | StockCommand::RefundFlow(a) => &a.config,
        }
    }
}

#[cfg(test)]
impl CouponsCommand {
    /// The settings the subcommand runs with (the secrets test reads them).
    pub(crate) fn config(&self) -> &ConfigArgs {
        let CouponsCommand::List { config, .. } = self;
        config
    }
}

#[cfg(test)]
impl CallbacksCommand {
    /// The settings the subcommand runs with (the secrets test reads them).
    pub(crate) fn config(&self) -> &ConfigArgs {
        match self {
            CallbacksCommand::Get { config, .. } | CallbacksCommand::Set { config, .. } => config,
        }
    }
}

#[cfg(test)]
impl NotificationCommand {
    /// The settings the subcommand runs with (the secrets test reads them).
    pub(crate) fn config(&self) -> &ConfigArgs {
        let NotificationCommand::Verify { config, .. } = self;
        config
    }
}

/// Runs a call once, and again after a certificate refresh when its answer named a
/// certificate not held.
macro_rules! call {
    ($s:ident, $method:ident($request:expr)) => {{
        let options = call_options(&$s.config);
        let first = $s.session.$method(&$s.merchant, $request, &options).await?;
        match first {
            Err(e) if rotated(&e) => {
                $s.refresh().await?;
                $s.session.$method(&$s.merchant, $request, &options).await?
            }
            other => other,
        }
    }};
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn page_footer(shown: usize, offset: u64, total: u64) -> String {
    let next = offset + shown as u64;
    if next < total {
        format!("{shown} of {total} (next page: --offset {next})")
    } else {
        format!("{shown} of {total}")
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(String::new, ToString::to_string)
}

/// `stock <subcommand>`.
pub(crate) async fn stock(runtime: &Runtime, command: StockCommand) -> Result<String, Failure> {
    match command {
        StockCommand::Create(a) => create(runtime, a).await,
        StockCommand::Start(a) => change(runtime, StockChange::Start, a).await,
        StockCommand::Pause(a) => change(runtime, StockChange::Pause, a).await,
        StockCommand::Restart(a) => change(runtime, StockChange::Restart, a).await,
        StockCommand::Stop(a) => change(runtime, StockChange::Stop, a).await,
        StockCommand::List {
            config,
            offset,
            limit,
            status,
            created_after,
            created_before,
            json,
        } => {
            let mut s = V3Session::open(runtime, &config).await?;
            let request = ListStocks {
                offset,
                limit,
                stock_creator_mchid: s.creator(None),
                create_start_time: created_after,
                create_end_time: created_before,
                status: status.map(Into::into),
            };
            let page = call!(s, v3_list_stocks(&request))?;
            if json {
                return Ok(to_json(&page));
            }
            let rows: Vec<Vec<String>> = page
                .data
                .iter()
                .map(|st| {
                    let rule = st.stock_use_rule.clone().unwrap_or_default();
                    vec![
                        st.stock_id.clone(),
                        opt(&st.stock_name),
                        opt(&st.status),
                        format!(
                            "{}/{}",
                            st.distributed_coupons.unwrap_or(0),
                            opt(&rule.max_coupons)
                        ),
                        opt(&st.available_begin_time),
                        opt(&st.available_end_time),
                    ]
                })
                .collect();
            Ok(format!(
                "{}\n{}",
                table(
                    &["stock_id", "name", "status", "issued", "begin", "end"],
                    &rows
                ),
                page_footer(page.data.len(), page.offset, page.total_count)
            ))
        }
        StockCommand::Merchants(a) => listing(runtime, a, false).await,
        StockCommand::Items(a) => listing(runtime, a, true).await,
        StockCommand::UseFlow(a) => flow(runtime, FlowKind::Use, a).await,
        StockCommand::RefundFlow(a) => flow(runtime, FlowKind::Refund, a).await,
    }
}

async fn create(runtime: &Runtime, a: CreateArgs) -> Result<String, Failure> {
    let mut s = V3Session::open(runtime, &a.config).await?;
    let request: CreateStock = match &a.request {
        Some(path) => {
            let bytes = if path.as_os_str() == "-" {
                super::read_stdin()?
            } else {
                std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
            };
            serde_json::from_slice(&bytes).map_err(|e| {
                Failure::V3(wxcoupon_core::v3::error::Error::invalid(
                    "request",
                    format!("not a stock-creation request: {e}"),
                ))
            })?
        }
        None => {
            let me = s.creator(None);
            let (amount, max_coupons) = (a.amount.unwrap_or(0), a.max_coupons.unwrap_or(0));
            CreateStock {
                stock_name: a.name.unwrap_or_default(),
                comment: a.comment,
                belong_merchant: me.clone(),
                available_begin_time: a.begin.unwrap_or_default(),
                available_end_time: a.end.unwrap_or_default(),
                stock_use_rule: NewStockUseRule {
                    max_coupons,
                    max_amount: amount.saturating_mul(max_coupons),
                    max_amount_by_day: None,
                    max_coupons_per_user: a.per_user,
                    natural_person_limit: false,
                    prevent_api_abuse: false,
                },
                pattern_info: a.description.map(|description| PatternInfo {
                    description,
                    ..PatternInfo::default()
                }),
                coupon_use_rule: CouponUseRule {
                    fixed_normal_coupon: FixedFaceValue {
                        coupon_amount: amount,
                        transaction_minimum: a.minimum.unwrap_or(0),
                    },
                    available_merchants: if a.available_merchants.is_empty() {
                        vec![me]
                    } else {
                        a.available_merchants
                    },
                    ..CouponUseRule::default()
                },
                no_cash: a.no_cash,
                stock_type: "NORMAL".into(),
                out_request_no: a.out_request_no.unwrap_or_default(),
                ext_info: None,
            }
        }
    };
    let created = call!(s, v3_create_stock(&request))?;
    Ok(if a.json {
        to_json(&created)
    } else {
        format!(
            "created stock {} ({}) at {}: unactivated until `wxcoupon stock start --stock-id {}`",
            created.stock_id, request.stock_name, created.create_time, created.stock_id
        )
    })
}

async fn change(runtime: &Runtime, change: StockChange, a: ChangeArgs) -> Result<String, Failure> {
    let mut s = V3Session::open(runtime, &a.config).await?;
    let request = ChangeStock {
        change,
        stock_id: a.stock_id,
        stock_creator_mchid: s.creator(a.stock_creator_mchid),
    };
    let changed = call!(s, v3_change_stock(&request))?;
    Ok(if a.json {
        #[derive(Serialize)]
        struct Shown<'a> {
            change: StockChange,
            stock_id: &'a str,
            time: &'a str,
        }
        to_json(&Shown {
            change,
            stock_id: &changed.stock_id,
            time: &changed.time,
        })
    } else {
        format!(
            "stock {}: {} at {}",
            changed.stock_id,
            match change {
                StockChange::Start => "started",
                StockChange::Pause => "paused",
                StockChange::Restart => "restarted",
                StockChange::Stop => "stopped",
            },
            changed.time
        )
    })
}

async fn listing(runtime: &Runtime, a: ListingArgs, items: bool) -> Result<String, Failure> {
    let mut s = V3Session::open(runtime, &a.config).await?;
    let listing = StockListing {
        stock_id: a.stock_id,
        stock_creator_mchid: s.creator(a.stock_creator_mchid),
        offset: a.offset,
        limit: a.limit,
    };
    let page = if items {
        call!(s, v3_list_stock_items(&ListStockItems(listing.clone())))?
    } else {
        call!(
            s,
            v3_list_stock_merchants(&ListStockMerchants(listing.clone()))
        )?
    };
    if a.json {
        return Ok(to_json(&page));
    }
    let rows: Vec<Vec<String>> = page.data.iter().map(|id| vec![id.clone()]).collect();
    Ok(format!(
        "{}\n{}",
        table(&[if items { "goods_id" } else { "mchid" }], &rows),
        page_footer(page.data.len(), page.offset, page.total_count)
    ))
}

async fn flow(runtime: &Runtime, kind: FlowKind, a: FlowArgs) -> Result<String, Failure> {
    let mut s = V3Session::open(runtime, &a.config).await?;
    let request = DownloadFlow {
        kind,
        stock_id: a.stock_id,
    };
    // A spinner on stderr while the file is asked for, fetched and checked (stdout stays the
    // result).
    let progress = indicatif::ProgressBar::new_spinner();
    progress.enable_steady_tick(Duration::from_millis(120));
    progress.set_message(format!("asking for the {} file", kind.as_path()));
    let file = call!(s, v3_download_flow(&request))?;
    progress.set_message(format!("downloading and checking {}", kind.as_path()));
    let options = call_options(&s.config);
    let rows = s.session.v3_fetch_flow_rows(&file, &options).await??;
    progress.finish_and_clear();
    if let Some(path) = &a.save {
        std::fs::write(path, wxcoupon_core::v3::flows::write_flow_csv(kind, &rows))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if a.json {
        return Ok(to_json(&serde_json::json!({
            "kind": kind,
            "sha1": file.hash_value,
            "rows": rows,
        })));
    }
    let shown: Vec<Vec<String>> = rows.iter().map(flow_cells).collect();
    Ok(format!(
        "{}\n{} rows, SHA1 {} checked",
        table(
            &[
                "coupon_id",
                "amount",
                "order",
                "transaction_id",
                "time",
                "mchid"
            ],
            &shown
        ),
        rows.len(),
        file.hash_value
    ))
}

fn flow_cells(r: &FlowRow) -> Vec<String> {
    let money = |v: Option<u64>| {
        v.map(wxcoupon_core::v3::flows::fen_to_yuan)
            .unwrap_or_default()
    };
    vec![
        r.coupon_id.clone(),
        money(r.coupon_amount),
        money(r.order_amount),
        opt(&r.transaction_id),
        opt(&r.consume_time).to_string() + &opt(&r.refund_time),
        opt(&r.consume_mchid),
    ]
}

/// `coupons <subcommand>`.
pub(crate) async fn coupons(runtime: &Runtime, command: CouponsCommand) -> Result<String, Failure> {
    let CouponsCommand::List {
        config,
        openid,
        stock_id,
        status,
        creator_mchid,
        sender_mchid,
        available_mchid,
        offset,
        limit,
        json,
    } = command;
    let mut s = V3Session::open(runtime, &config).await?;
    let creator_mchid =
        if creator_mchid.is_none() && sender_mchid.is_none() && available_mchid.is_none() {
            Some(s.creator(None))
        } else {
            creator_mchid
        };
    let request = ListUserCoupons {
        openid,
        appid: s.appid()?,
        stock_id,
        status: status.map(|s| match s {
            CouponStatusArg::Sended => CouponStatus::Sended,
            CouponStatusArg::Used => CouponStatus::Used,
            CouponStatusArg::Expired => CouponStatus::Expired,
        }),
        creator_mchid,
        sender_mchid,
        available_mchid,
        offset,
        limit,
    };
    let page = call!(s, v3_list_user_coupons(&request))?;
    if json {
        return Ok(to_json(&page));
    }
    let rows: Vec<Vec<String>> = page.data.iter().map(coupon_cells).collect();
    Ok(format!(
        "{}\n{}",
        table(
            &[
                "coupon_id",
                "stock_id",
                "status",
                "amount",
                "received",
                "used"
            ],
            &rows
        ),
        page_footer(page.data.len(), page.offset, page.total_count)
    ))
}

fn coupon_cells(c: &Coupon) -> Vec<String> {
    vec![
        c.coupon_id.clone(),
        opt(&c.stock_id),
        opt(&c.status),
        c.normal_coupon_information
            .as_ref()
            .and_then(|n| n.coupon_amount)
            .map(wxcoupon_core::v3::flows::fen_to_yuan)
            .unwrap_or_default(),
        opt(&c.create_time),
        c.consume_information
            .as_ref()
            .map(|u| opt(&u.consume_time))
            .unwrap_or_default(),
    ]
}

/// `callbacks <subcommand>`.
pub(crate) async fn callbacks(
    runtime: &Runtime,
    command: CallbacksCommand,
) -> Result<String, Failure> {
    match command {
        CallbacksCommand::Get { config, json } => {
            let mut s = V3Session::open(runtime, &config).await?;
            let request = GetCallback {
                mchid: s.creator(None),
            };
            let setting = call!(s, v3_get_callback(&request))?;
            Ok(if json {
                to_json(&setting)
            } else if setting.notify_url.is_empty() {
                format!("merchant {}: no notify URL set", setting.mchid)
            } else {
                format!(
                    "merchant {}: COUPON.USE callbacks {} to {}",
                    setting.mchid,
                    if setting.enabled == Some(false) {
                        "off, would go"
                    } else {
                        "go"
                    },
                    setting.notify_url
                )
            })
        }
        CallbacksCommand::Set {
            config,
            url,
            disable,
            json,
        } => {
            let mut s = V3Session::open(runtime, &config).await?;
            let request = SetCallback {
                mchid: s.creator(None),
                notify_url: url,
                enabled: Some(!disable),
            };
            let updated = call!(s, v3_set_callback(&request))?;
            Ok(if json {
                to_json(&updated)
            } else {
                format!(
                    "COUPON.USE callbacks {} {} (since {})",
                    if disable { "off; URL" } else { "now go to" },
                    updated.notify_url,
                    updated.update_time
                )
            })
        }
    }
}

/// `notification <subcommand>`.
pub(crate) async fn notification(
    runtime: &Runtime,
    command: NotificationCommand,
) -> Result<String, Failure> {
    let NotificationCommand::Verify {
        config,
        file,
        at,
        json,
    } = command;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let bad = |rule: String| {
        Failure::V3(wxcoupon_core::v3::error::Error::invalid(
            file.display().to_string(),
            rule,
        ))
    };
    let captured: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let headers: Vec<(String, String)> = captured["headers"]
        .as_object()
        .ok_or_else(|| bad("must hold \"headers\": an object of strings".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let body = captured["body"]
        .as_str()
        .ok_or_else(|| bad("must hold \"body\": the body as received, a string".into()))?;
    let mut s = V3Session::open(runtime, &config).await?;
    let now = at.unwrap_or_else(wxcoupon::v3::now);
    let event = s
        .session
        .v3_read_coupon_use(&s.merchant, &headers, body, now)
        .await?
        .map_err(Failure::Notification)?;
    Ok(if json {
        to_json(&event)
    } else {
        let used = event.coupon.consume_information.clone().unwrap_or_default();
        format!(
            "verified {} {}: coupon {} of stock {} used at {} by merchant {} (payment {})",
            event.event_type,
            event.id,
            event.coupon.coupon_id,
            opt(&event.coupon.stock_id),
            opt(&used.consume_time),
            opt(&used.consume_mchid),
            opt(&used.transaction_id),
        )
    })
}
