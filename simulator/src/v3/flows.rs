//! A stock's use-flow and refund-flow files: the call (`GET {F}/stocks/{id}/use-flow` and
//! `…/refund-flow`) answers `{url, hash_value, hash_type: "SHA1"}` **unsigned** (no
//! `Wechatpay-*` header at all, as WeChat), and the simulator serves the file itself at that
//! `url`, `{base}/v3/simulator/flows/{token}` (`base` being the listener the call came on),
//! for [`crate::SimulatorConfig::flow_url_valid_ms`] (WeChat: 30 s).
//!
//! The file is the core's `write_flow_csv`: a use flow has a row for every use of a coupon of
//! the stock, in use order; a refund flow has the header alone (the simulator has no refunds).
//! `hash_value` is the lower-case SHA1 of the file's bytes.
//!
//! Choices where WeChat documents nothing:
//! - unknown stock 404 `RESOURCE_NOT_EXISTS` "批次不存在"; a stock another merchant created 403
//!   `NO_AUTH` "仅批次创建方可下载明细" (refusals are signed, as every v3 refusal here);
//! - "available from 10:00 the day after the stock ends" is **not** enforced unless
//!   [`crate::SimulatorConfig::flow_after_stock_end`] is set; then an earlier call is 400
//!   `INVALID_REQUEST` "明细文件尚未生成,请于批次结束次日10点后下载";
//! - the file is served to anyone holding the url (no authentication, as a pre-signed
//!   download), `text/csv; charset=utf-8`, unsigned; an unknown or expired token is 404 with a
//!   v3 body `{"code":"RESOURCE_NOT_EXISTS","message":"文件不存在或已过期"}`, unsigned too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wxcoupon_core::time::format_beijing;
use wxcoupon_core::v3::flows::{sha1_hex, write_flow_csv, FlowFile, FlowKind, FlowRow};

use super::handlers::{creator_of, lock, ok, refused, segment, to_json, Context, Incoming};
use super::handlers::{Refused, Reply};
use crate::handlers::random_nonce;
use crate::state::State;

/// The path the files are served under (followed by `/{token}`).
pub const FLOWS_PATH: &str = "/v3/simulator/flows";

/// The files handed out, by token, with when each stops being served.
#[derive(Debug, Default)]
pub(crate) struct FlowStore {
    files: HashMap<String, (String, Instant)>,
}

impl FlowStore {
    /// Keeps `file` for `valid`; returns its token.
    fn put(&mut self, file: String, valid: Duration) -> String {
        let now = Instant::now();
        self.files.retain(|_, (_, until)| *until > now);
        let token = random_nonce();
        self.files.insert(token.clone(), (file, now + valid));
        token
    }

    /// The file of `token`, while it is valid.
    pub(crate) fn get(&mut self, token: &str) -> Option<String> {
        let now = Instant::now();
        self.files.retain(|_, (_, until)| *until > now);
        self.files.get(token).map(|(file, _)| file.clone())
    }
}

/// The v3 body of a file that is not (or no longer) there.
pub(crate) fn missing_file_body() -> String {
    serde_json::json!({"code": "RESOURCE_NOT_EXISTS", "message": "文件不存在或已过期"}).to_string()
}

/// `yyyy-MM-dd HH:mm:ss`, Beijing time: how the files write times.
fn file_time(unix_seconds: i64) -> String {
    let t = format_beijing(unix_seconds);
    let y = t.len() - 10;
    format!(
        "{}-{}-{} {}:{}:{}",
        &t[..y],
        &t[y..y + 2],
        &t[y + 2..y + 4],
        &t[y + 4..y + 6],
        &t[y + 6..y + 8],
        &t[y + 8..]
    )
}

/// 10:00 Beijing time on the day after `end` (Unix seconds).
pub(crate) fn flow_ready_at(end: i64) -> i64 {
    const DAY: i64 = 86_400;
    const BEIJING: i64 = 8 * 3600;
    let day_start = (end + BEIJING).div_euclid(DAY) * DAY - BEIJING;
    day_start + DAY + 10 * 3600
}

pub(super) fn request(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    state: &Mutex<State>,
    raw_stock_id: &str,
    kind: FlowKind,
) -> Result<Reply, Refused> {
    let stock_id = segment(raw_stock_id, "stock_id", 64)?;
    let (stock, uses) = {
        let state = lock(state);
        let stock = state
            .stock(crate::routes::Environment::Production, &stock_id)
            .ok_or_else(|| refused(404, "RESOURCE_NOT_EXISTS", "批次不存在"))?;
        (stock, state.uses_of_stock(&stock_id))
    };
    if creator_of(ctx, &stock) != ctx.config.mch_id {
        return Err(refused(403, "NO_AUTH", "仅批次创建方可下载明细"));
    }
    if ctx.config.flow_after_stock_end && req.now < flow_ready_at(stock.seed.end_time) {
        return Err(refused(
            400,
            "INVALID_REQUEST",
            "明细文件尚未生成,请于批次结束次日10点后下载",
        ));
    }
    let coupon_type = if stock.v3.available_items.is_empty() {
        "全场代金券"
    } else {
        "单品优惠"
    };
    let rows: Vec<FlowRow> = match kind {
        FlowKind::Refund => Vec::new(),
        FlowKind::Use => uses
            .into_iter()
            .map(|(coupon, used)| FlowRow {
                stock_id: coupon.coupon_stock_id,
                coupon_id: coupon.coupon_id,
                coupon_type: Some(coupon_type.into()),
                coupon_amount: Some(stock.seed.coupon_value),
                order_amount: Some(used.order_amount),
                trade_type: Some("JSAPI".into()),
                transaction_id: Some(used.transaction_id),
                consume_time: Some(file_time(used.consume_time)),
                consume_mchid: Some(used.consume_mchid),
                ..FlowRow::default()
            })
            .collect(),
    };
    let file = write_flow_csv(kind, &rows);
    let hash_value = sha1_hex(file.as_bytes());
    let valid = Duration::from_millis(ctx.config.flow_url_valid_ms);
    let token = lock(ctx.flows).put(file, valid);
    let mut reply = ok(to_json(&FlowFile {
        url: format!("{}{FLOWS_PATH}/{token}", ctx.base_url),
        hash_value,
        hash_type: "SHA1".into(),
    }));
    reply.signed = false;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_expire() {
        let mut store = FlowStore::default();
        let token = store.put("a,b\r\n".into(), Duration::from_secs(60));
        assert_eq!(store.get(&token).as_deref(), Some("a,b\r\n"));
        let gone = store.put("x".into(), Duration::ZERO);
        assert_eq!(store.get(&gone), None);
        assert_eq!(store.get("nope"), None);
    }

    #[test]
    fn ready_the_day_after_at_ten_beijing_time() {
        // 2024-01-01 23:59:59 +08:00 → 2024-01-02 10:00:00 +08:00.
        assert_eq!(flow_ready_at(1_704_124_799), 1_704_160_800);
        // 2024-01-01 00:00:00 +08:00 → the same.
        assert_eq!(flow_ready_at(1_704_038_400), 1_704_160_800);
        assert_eq!(file_time(1_704_038_400), "2024-01-01 00:00:00");
    }
}
