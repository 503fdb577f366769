//! Typed requests for the three v2 coupon APIs, their validation, and the HTTP request each
//! becomes.

use crate::error::Error;
use crate::merchant::Merchant;
use crate::nonce::check_nonce;
use crate::sign::{sign, SignType};
use crate::xml::{check_field_value, write_xml};
use crate::Fields;

/// Length cap for fields whose length WeChat does not document (`coupon_stock_id`, `openid`,
/// `partner_trade_no`, `coupon_id`): generous, but it stops runaway input.
pub const UNDOCUMENTED_MAX_CHARS: usize = 128;

/// The three v2 coupon APIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Api {
    /// 发放代金券: issue one coupon of a stock to one openid. Needs the client certificate.
    SendCoupon,
    /// 查询代金券批次: a stock's settings and counters.
    QueryCouponStock,
    /// 查询代金券信息: one coupon of one user.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "querycouponsinfo", alias = "query_coupons_info")
    )]
    QueryCouponsInfo,
}

impl Api {
    /// Every API, in a fixed order.
    pub const ALL: [Api; 3] = [
        Api::SendCoupon,
        Api::QueryCouponStock,
        Api::QueryCouponsInfo,
    ];

    /// The path under the base URL (and under the sandbox prefix).
    pub fn path(self) -> &'static str {
        match self {
            Api::SendCoupon => "/mmpaymkttransfers/send_coupon",
            Api::QueryCouponStock => "/mmpaymkttransfers/query_coupon_stock",
            Api::QueryCouponsInfo => "/mmpaymkttransfers/querycouponsinfo",
        }
    }

    /// WeChat's name for the API, the last segment of its path.
    pub fn name(self) -> &'static str {
        match self {
            Api::SendCoupon => "send_coupon",
            Api::QueryCouponStock => "query_coupon_stock",
            Api::QueryCouponsInfo => "querycouponsinfo",
        }
    }

    /// Reads a name as [`Api::name`] gives it.
    pub fn from_name(name: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|api| api.name() == name)
    }

    /// Whether the call must present the merchant's client certificate (mutual TLS). Only
    /// `send_coupon` does.
    pub fn needs_client_certificate(self) -> bool {
        matches!(self, Api::SendCoupon)
    }
}

/// Fields every request may carry. Each is left out of the request when `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct CommonOptions {
    /// `op_user_id`: the operator; WeChat defaults it to the mch_id.
    pub op_user_id: Option<String>,
    /// `device_info`: the terminal's number.
    pub device_info: Option<String>,
    /// `version`: the protocol version, `1.0` when given.
    pub version: Option<String>,
    /// `type`: the message format; `XML` is the only value WeChat accepts.
    pub message_type: Option<String>,
}

/// `send_coupon`: issue one coupon of `coupon_stock_id` to `openid`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct SendCouponRequest {
    /// The stock (批次) to issue from.
    pub coupon_stock_id: String,
    /// The user, as an openid under the merchant's appid.
    pub openid: String,
    /// The merchant's unique number for this issuance; keep it to retry safely.
    pub partner_trade_no: String,
    /// Optional common fields.
    #[cfg_attr(feature = "serde", serde(default, flatten))]
    pub options: CommonOptions,
}

/// `query_coupon_stock`: read a stock's settings and counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct QueryCouponStockRequest {
    /// The stock to read.
    pub coupon_stock_id: String,
    /// Optional common fields.
    #[cfg_attr(feature = "serde", serde(default, flatten))]
    pub options: CommonOptions,
}

/// `querycouponsinfo`: read one coupon of one user. Note the stock field is `stock_id` here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct QueryCouponsInfoRequest {
    /// The coupon.
    pub coupon_id: String,
    /// Its owner.
    pub openid: String,
    /// The stock it belongs to (sent as `stock_id`, not `coupon_stock_id`).
    pub stock_id: String,
    /// Optional common fields.
    #[cfg_attr(feature = "serde", serde(default, flatten))]
    pub options: CommonOptions,
}

/// One of the three requests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "api", rename_all = "snake_case"))]
pub enum CouponRequest {
    /// `send_coupon`.
    SendCoupon(SendCouponRequest),
    /// `query_coupon_stock`.
    QueryCouponStock(QueryCouponStockRequest),
    /// `querycouponsinfo`.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "querycouponsinfo", alias = "query_coupons_info")
    )]
    QueryCouponsInfo(QueryCouponsInfoRequest),
}

impl CouponRequest {
    /// The API this request calls.
    pub fn api(&self) -> Api {
        match self {
            CouponRequest::SendCoupon(_) => Api::SendCoupon,
            CouponRequest::QueryCouponStock(_) => Api::QueryCouponStock,
            CouponRequest::QueryCouponsInfo(_) => Api::QueryCouponsInfo,
        }
    }

    /// Validates the request and returns its fields, unsigned (no `nonce_str`, `sign`).
    pub fn business_fields(&self) -> Result<Fields, Error> {
        let mut f = FieldSet::default();
        let options = match self {
            CouponRequest::SendCoupon(r) => {
                f.required(
                    "coupon_stock_id",
                    &r.coupon_stock_id,
                    UNDOCUMENTED_MAX_CHARS,
                )?;
                f.required("openid", &r.openid, UNDOCUMENTED_MAX_CHARS)?;
                f.required(
                    "partner_trade_no",
                    &r.partner_trade_no,
                    UNDOCUMENTED_MAX_CHARS,
                )?;
                // Only one openid per call exists, whatever the field's name suggests.
                f.fixed("openid_count", "1");
                &r.options
            }
            CouponRequest::QueryCouponStock(r) => {
                f.required(
                    "coupon_stock_id",
                    &r.coupon_stock_id,
                    UNDOCUMENTED_MAX_CHARS,
                )?;
                &r.options
            }
            CouponRequest::QueryCouponsInfo(r) => {
                f.required("coupon_id", &r.coupon_id, UNDOCUMENTED_MAX_CHARS)?;
                f.required("openid", &r.openid, UNDOCUMENTED_MAX_CHARS)?;
                f.required("stock_id", &r.stock_id, 32)?;
                &r.options
            }
        };
        f.optional("op_user_id", &options.op_user_id, 32)?;
        f.optional("device_info", &options.device_info, 32)?;
        f.optional("version", &options.version, 32)?;
        if let Some(t) = &options.message_type {
            if t.trim() != "XML" {
                return Err(Error::invalid(
                    "type",
                    "must be XML, the only format WeChat accepts",
                ));
            }
        }
        f.optional("type", &options.message_type, 32)?;
        Ok(f.0)
    }
}

#[derive(Default)]
struct FieldSet(Fields);

impl FieldSet {
    fn required(&mut self, name: &str, value: &str, max: usize) -> Result<(), Error> {
        if value.trim().is_empty() {
            return Err(Error::invalid(name, "required"));
        }
        self.optional(name, &Some(value.to_string()), max)
    }

    fn optional(&mut self, name: &str, value: &Option<String>, max: usize) -> Result<(), Error> {
        let Some(value) = value else { return Ok(()) };
        let value = value.trim();
        let len = value.chars().count();
        if len > max {
            return Err(Error::invalid(
                name,
                format!("at most {max} characters (got {len})"),
            ));
        }
        check_field_value(name, value)?;
        if !value.is_empty() {
            self.0.insert(name.to_string(), value.to_string());
        }
        Ok(())
    }

    fn fixed(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_string(), value.to_string());
    }
}

/// An HTTP request ready to send: what `build_request` hands to whoever does the I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HttpRequest {
    /// Always `POST` for v2.
    pub method: String,
    /// The full URL.
    pub url: String,
    /// Headers to send (never `host`, `content-length` or hop-by-hop headers: the HTTP layer
    /// owns those).
    pub headers: Vec<(String, String)>,
    /// The `<xml>` body, UTF-8.
    pub body: Vec<u8>,
    /// Whether the merchant's client certificate must be presented (only `send_coupon`).
    pub needs_client_certificate: bool,
}

/// The `user-agent` requests carry.
pub const USER_AGENT: &str = concat!("wxcoupon/", env!("CARGO_PKG_VERSION"));

/// The signed fields of a request: business fields plus `appid`, `mch_id`, `nonce_str`,
/// `sign_type` (HMAC-SHA256 only) and `sign`.
pub fn signed_fields(
    merchant: &Merchant,
    request: &CouponRequest,
    nonce: &str,
) -> Result<Fields, Error> {
    merchant.validate()?;
    check_nonce(nonce)?;
    let mut fields = request.business_fields()?;
    fields.insert("appid".into(), merchant.appid.clone());
    fields.insert("mch_id".into(), merchant.mch_id.clone());
    fields.insert("nonce_str".into(), nonce.to_string());
    if merchant.sign_type == SignType::HmacSha256 {
        fields.insert("sign_type".into(), SignType::HmacSha256.wire_name().into());
    }
    let signature = sign(&fields, &merchant.api_key, merchant.sign_type);
    fields.insert("sign".into(), signature);
    Ok(fields)
}

/// Builds the HTTP request for `request`: validated, signed with `nonce`, serialised.
pub fn build_request(
    merchant: &Merchant,
    request: &CouponRequest,
    nonce: &str,
) -> Result<HttpRequest, Error> {
    let fields = signed_fields(merchant, request, nonce)?;
    let api = request.api();
    Ok(HttpRequest {
        method: "POST".into(),
        url: merchant.url(api.path()),
        headers: vec![
            ("content-type".into(), "text/xml; charset=utf-8".into()),
            ("accept".into(), "text/xml".into()),
            ("user-agent".into(), USER_AGENT.into()),
        ],
        body: write_xml(&fields)?.into_bytes(),
        needs_client_certificate: api.needs_client_certificate(),
    })
}
