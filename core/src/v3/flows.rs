//! The use-flow and refund-flow downloads of a stock (`GET …/stocks/{stock_id}/use-flow`,
//! `…/refund-flow`). Two steps: the call answers a file's `url` (valid 30 s), its `hash_value`
//! and `hash_type` — an answer WeChat does **not** sign, accepted unsigned ([`Call::SIGNED`]) —
//! then the file, fetched by the caller, is checked against its SHA1 and read into typed rows.
//!
//! The file is CSV with a header line. Rows are read by header name, so a column WeChat adds or
//! moves is kept in [`FlowRow::extra`] instead of shifting the others; values may carry the
//! leading backquote WeChat's files use to keep spreadsheets from reformatting numbers.

use serde::{Deserialize, Serialize};

use super::answer::json;
use super::call::Call;
use super::error::Error;
use super::favor::{digits, segment, FAVOR_PATH};
use super::request::{Method, Request};
use crate::error::MalformedResponse;

/// How long a file's `url` stays valid after the answer, seconds.
pub const FLOW_URL_VALID_SECONDS: u64 = 30;

/// Which of a stock's flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowKind {
    /// Coupons used (核销明细).
    Use,
    /// Coupons refunded (退款明细).
    Refund,
}

impl FlowKind {
    /// The path's last segment.
    pub fn as_path(self) -> &'static str {
        match self {
            FlowKind::Use => "use-flow",
            FlowKind::Refund => "refund-flow",
        }
    }
}

/// Ask for a stock's flow file. Only the stock's creator may; the file exists from 10:00 the day
/// after the stock ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadFlow {
    /// Which flow.
    pub kind: FlowKind,
    /// The stock.
    pub stock_id: String,
}

/// Where the flow file is and how to check it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowFile {
    /// The file, valid for 30 s.
    pub url: String,
    /// Its digest, hex.
    pub hash_value: String,
    /// `SHA1`.
    pub hash_type: String,
}

impl Call for DownloadFlow {
    type Answer = FlowFile;
    const SIGNED: bool = false;
    fn request_at(&self, _now: i64) -> Result<Request, Error> {
        digits("stock_id", &self.stock_id, 32)?;
        Ok(Request {
            method: Method::Get,
            url: format!(
                "{FAVOR_PATH}/stocks/{}/{}",
                segment(&self.stock_id),
                self.kind.as_path()
            ),
            body: String::new(),
        })
    }
    fn read(body: &str) -> Result<FlowFile, Error> {
        let file: FlowFile = json(body)?;
        if !(file.url.starts_with("https://") || file.url.starts_with("http://")) {
            return Err(MalformedResponse::field("url", "not an http(s) URL").into());
        }
        if !file.hash_type.eq_ignore_ascii_case("SHA1") {
            return Err(MalformedResponse::field("hash_type", "only SHA1 is known").into());
        }
        if file.hash_value.len() != 40 || !file.hash_value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MalformedResponse::field("hash_value", "not 40 hex digits").into());
        }
        Ok(file)
    }
}

/// One row of a flow file. Money is in fen (the file writes yuan, `0.50`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRow {
    /// 批次id.
    pub stock_id: String,
    /// 优惠id.
    pub coupon_id: String,
    /// 优惠类型 (`全场代金券`, `单品优惠`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_type: Option<String>,
    /// 优惠金额, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_amount: Option<u64>,
    /// 订单总金额, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_amount: Option<u64>,
    /// 交易类型.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<String>,
    /// 支付单号: the payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// 消耗时间: when it was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_time: Option<String>,
    /// 消耗商户号: where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_mchid: Option<String>,
    /// 设备号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_no: Option<String>,
    /// 银行流水号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_serial_no: Option<String>,
    /// 退款单号 (refund flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// 退款时间 (refund flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_time: Option<String>,
    /// 退款金额, fen (refund flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<u64>,
    /// Columns not typed here, by header.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<(String, String)>,
}

/// The header of each typed column, as the file writes it (the simulator writes files from
/// this table too).
pub const FLOW_COLUMNS: &[(&str, &str)] = &[
    ("stock_id", "批次id"),
    ("coupon_id", "优惠id"),
    ("coupon_type", "优惠类型"),
    ("coupon_amount", "优惠金额（元）"),
    ("order_amount", "订单总金额（元）"),
    ("trade_type", "交易类型"),
    ("transaction_id", "支付单号"),
    ("consume_time", "消耗时间"),
    ("consume_mchid", "消耗商户号"),
    ("device_no", "设备号"),
    ("bank_serial_no", "银行流水号"),
    ("refund_id", "退款单号"),
    ("refund_time", "退款时间"),
    ("refund_amount", "退款金额（元）"),
];

/// SHA1 of `bytes`, lower-case hex.
pub fn sha1_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Yuan as the file writes it (`12`, `0.5`, `0.50`) → fen.
pub fn yuan_to_fen(yuan: &str) -> Option<u64> {
    let (whole, fraction) = yuan.split_once('.').unwrap_or((yuan, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<u64>().ok()? * 10,
        _ => fraction.parse::<u64>().ok()?,
    };
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// Fen → yuan with two decimals, as the file writes money.
pub fn fen_to_yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Splits CSV text into records: RFC 4180 quoting (`"a,b"`, `""` inside quotes), CRLF or LF,
/// blank lines skipped, a UTF-8 byte-order mark dropped.
fn csv_records(text: &str) -> Result<Vec<Vec<String>>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c)
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                line += 1;
                record.push(std::mem::take(&mut field));
                if !(record.len() == 1 && record[0].is_empty()) {
                    records.push(std::mem::take(&mut record));
                }
                record.clear();
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("a quoted field is not closed (line {line})"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

impl FlowFile {
    /// Checks the downloaded file against `hash_value` and reads its rows. A file whose SHA1
    /// differs is refused whole: nothing of it is read.
    pub fn read_rows(&self, file: &[u8]) -> Result<Vec<FlowRow>, Error> {
        let actual = sha1_hex(file);
        if !actual.eq_ignore_ascii_case(&self.hash_value) {
            return Err(MalformedResponse::field(
                "hash_value",
                "the file's SHA1 differs: it is incomplete or altered",
            )
            .into());
        }
        parse_flow_csv(file)
    }
}

/// Reads a flow file's rows (no digest check: see [`FlowFile::read_rows`]).
pub fn parse_flow_csv(file: &[u8]) -> Result<Vec<FlowRow>, Error> {
    let text = std::str::from_utf8(file)
        .map_err(|_| MalformedResponse::document("the flow file is not UTF-8"))?;
    let records = csv_records(text).map_err(MalformedResponse::document)?;
    let mut records = records.into_iter();
    let Some(header) = records.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let column = |name: &str| -> Option<usize> {
        let title = FLOW_COLUMNS.iter().find(|(n, _)| *n == name)?.1;
        header.iter().position(|h| h == title)
    };
    for required in ["stock_id", "coupon_id"] {
        if column(required).is_none() {
            return Err(MalformedResponse::document(format!(
                "the flow file has no {} column",
                FLOW_COLUMNS
                    .iter()
                    .find(|(n, _)| *n == required)
                    .map_or("", |c| c.1)
            ))
            .into());
        }
    }
    let typed: Vec<usize> = FLOW_COLUMNS.iter().filter_map(|(n, _)| column(n)).collect();
    let mut rows = Vec::new();
    for (i, record) in records.enumerate() {
        let value = |name: &str| -> Option<String> {
            let v = record.get(column(name)?)?.trim();
            let v = v.strip_prefix('`').unwrap_or(v);
            (!v.is_empty()).then(|| v.to_string())
        };
        let money = |name: &str| -> Result<Option<u64>, Error> {
            match value(name) {
                None => Ok(None),
                Some(v) => yuan_to_fen(&v).map(Some).ok_or_else(|| {
                    MalformedResponse::field(
                        format!("row {}.{name}", i + 1),
                        "not an amount in yuan",
                    )
                    .into()
                }),
            }
        };
        let extra = record
            .iter()
            .enumerate()
            .filter(|(j, _)| !typed.contains(j))
            .filter_map(|(j, v)| Some((header.get(j)?.clone(), v.trim().to_string())))
            .collect();
        rows.push(FlowRow {
            stock_id: value("stock_id").unwrap_or_default(),
            coupon_id: value("coupon_id").unwrap_or_default(),
            coupon_type: value("coupon_type"),
            coupon_amount: money("coupon_amount")?,
            order_amount: money("order_amount")?,
            trade_type: value("trade_type"),
            transaction_id: value("transaction_id"),
            consume_time: value("consume_time"),
            consume_mchid: value("consume_mchid"),
            device_no: value("device_no"),
            bank_serial_no: value("bank_serial_no"),
            refund_id: value("refund_id"),
            refund_time: value("refund_time"),
            refund_amount: money("refund_amount")?,
            extra,
        });
    }
    Ok(rows)
}

/// Writes rows as a flow file with the columns `kind` has (the simulator serves these).
pub fn write_flow_csv(kind: FlowKind, rows: &[FlowRow]) -> String {
    let names: Vec<&(&str, &str)> = FLOW_COLUMNS
        .iter()
        .filter(|(n, _)| kind == FlowKind::Refund || !n.starts_with("refund_"))
        .collect();
    let quote = |v: &str| {
        if v.contains([',', '"', '\n']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    };
    let mut out = names.iter().map(|(_, t)| *t).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    for row in rows {
        let cells: Vec<String> = names
            .iter()
            .map(|(n, _)| {
                let text = |v: &Option<String>| v.clone().unwrap_or_default();
                let money = |v: Option<u64>| v.map(fen_to_yuan).unwrap_or_default();
                let v = match *n {
                    "stock_id" => format!("`{}", row.stock_id),
                    "coupon_id" => format!("`{}", row.coupon_id),
                    "coupon_type" => text(&row.coupon_type),
                    "coupon_amount" => money(row.coupon_amount),
                    "order_amount" => money(row.order_amount),
                    "trade_type" => text(&row.trade_type),
                    "transaction_id" => text(&row.transaction_id),
                    "consume_time" => text(&row.consume_time),
                    "consume_mchid" => text(&row.consume_mchid),
                    "device_no" => text(&row.device_no),
                    "bank_serial_no" => text(&row.bank_serial_no),
                    "refund_id" => text(&row.refund_id),
                    "refund_time" => text(&row.refund_time),
                    _ => money(row.refund_amount),
                };
                quote(&v)
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> FlowRow {
        FlowRow {
            stock_id: "9856000".into(),
            coupon_id: "9867041".into(),
            coupon_type: Some("全场代金券".into()),
            coupon_amount: Some(50),
            order_amount: Some(1000),
            trade_type: Some("JSAPI".into()),
            transaction_id: Some("4200000000000000000000000001".into()),
            consume_time: Some("2023-11-15 12:30:00".into()),
            consume_mchid: Some("8956000".into()),
            device_no: Some("dev,1 \"a\"".into()),
            ..FlowRow::default()
        }
    }

    #[test]
    fn a_written_file_reads_back_checked_by_its_sha1() {
        let csv = write_flow_csv(FlowKind::Use, &[row(), row()]);
        let file = FlowFile {
            url: "https://example.test/f".into(),
            hash_value: sha1_hex(csv.as_bytes()).to_uppercase(),
            hash_type: "SHA1".into(),
        };
        let rows = file.read_rows(csv.as_bytes()).unwrap();
        assert_eq!(rows, vec![row(), row()]);
        let mut altered = csv.into_bytes();
        *altered.last_mut().unwrap() = b' ';
        let e = file.read_rows(&altered).unwrap_err();
        assert!(e.to_string().contains("SHA1 differs"), "{e}");
    }

    #[test]
    fn sha1_and_money_follow_their_definitions() {
        // FIPS 180 "abc".
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(yuan_to_fen("0.5"), Some(50));
        assert_eq!(yuan_to_fen("12"), Some(1200));
        assert_eq!(yuan_to_fen("1.05"), Some(105));
        assert_eq!(yuan_to_fen("1.005"), None);
        assert_eq!(yuan_to_fen("-1"), None);
        assert_eq!(fen_to_yuan(105), "1.05");
    }

    #[test]
    fn columns_are_read_by_header_and_unknown_ones_kept() {
        let csv = "优惠id,新列,批次id,优惠金额（元）\n`1,x,`2,0.10\n\n";
        let rows = parse_flow_csv(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].coupon_id, "1");
        assert_eq!(rows[0].stock_id, "2");
        assert_eq!(rows[0].coupon_amount, Some(10));
        assert_eq!(rows[0].extra, vec![("新列".to_string(), "x".to_string())]);
        assert!(parse_flow_csv("a,b\n1,2\n".as_bytes()).is_err());
        assert!(parse_flow_csv("批次id,优惠id\n\"1,2\n".as_bytes()).is_err());
    }
}
