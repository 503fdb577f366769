//! The v3 side of `send`, `stock`, `coupon`, and `certificates`: the configuration read, the
//! merchant opened in the component (signing where `v3_sign_in` says), platform certificates
//! from the cache or downloaded (when none is held, and when the kept ones are older than
//! `CERTIFICATE_REFRESH`), and one refresh when an answer names a certificate not held
//! (WeChat rotated it): the call is then repeated as it was, which is safe (issuing is
//! idempotent on `out_request_no`, queries change nothing).

use serde::Serialize;
use wxcoupon::config::V3Config;
use wxcoupon::outbound::OutboundClient;
use wxcoupon::v3::V3Merchant;
use wxcoupon::{Runtime, Session};
use wxcoupon_core::v3::auth::AnswerRefusal;
use wxcoupon_core::v3::certificates::PlatformCertificate;
use wxcoupon_core::v3::error::Error;
use wxcoupon_core::v3::favor::{IssueCoupon, QueryCoupon, QueryStock};

use super::args::ConfigArgs;
use super::outcome::Failure;
use super::to_json;

/// An open v3 session: the configuration, the session, the merchant in it.
pub(crate) struct V3Session {
    pub(crate) config: V3Config,
    pub(crate) session: Session,
    pub(crate) merchant: V3Merchant,
}

pub(crate) fn call_options(config: &V3Config) -> wxcoupon::CallOptions {
    wxcoupon::CallOptions::from_limits(&config.timeouts, config.max_response_bytes)
}

impl V3Session {
    /// Reads the settings and opens the merchant; downloads the platform certificates first
    /// when no key to verify with is held yet.
    pub(crate) async fn open(runtime: &Runtime, args: &ConfigArgs) -> Result<V3Session, Failure> {
        let config = args.load_v3()?;
        let outbound = OutboundClient::new(config.outbound())
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTPS client: {e}"))?;
        let mut session = runtime.clone().with_outbound(outbound).session().await?;
        let sign = config.sign_with()?;
        let merchant = session.open_v3(&config.merchant, sign).await??;
        let mut opened = V3Session {
            config,
            session,
            merchant,
        };
        if !opened.config.holds_a_key() || opened.config.certificates_due() {
            opened.refresh().await?;
        }
        Ok(opened)
    }

    /// Downloads the certificates, holds them, keeps them on disk.
    pub(crate) async fn refresh(&mut self) -> Result<Vec<PlatformCertificate>, Failure> {
        let options = call_options(&self.config);
        let certificates = self
            .session
            .v3_refresh_certificates(&self.merchant, &options)
            .await??;
        let pems: Vec<(String, String)> = certificates
            .iter()
            .map(|c| (c.serial_no.clone(), c.pem.clone()))
            .collect();
        self.config
            .keep_certificates(&pems)
            .map_err(|e| anyhow::anyhow!("cannot keep the platform certificates: {e}"))?;
        Ok(certificates)
    }

    pub(crate) fn creator(&self, given: Option<String>) -> String {
        given.unwrap_or_else(|| self.config.merchant.mchid.clone())
    }

    pub(crate) fn appid(&self) -> Result<String, Failure> {
        self.config.appid.clone().ok_or_else(|| {
            Failure::V3(Error::invalid(
                "WXPAY_APPID / appid",
                "required for v3 issuing and coupon queries",
            ))
        })
    }
}

/// Whether an answer named a certificate the merchant does not hold (a rotation).
pub(crate) fn rotated(e: &Error) -> bool {
    matches!(
        e,
        Error::AnswerNotVerified {
            refusal: AnswerRefusal::UnknownSerial
        }
    )
}

/// Runs `call` once, and again after a certificate refresh when its answer named a certificate
/// not held.
macro_rules! with_refresh {
    ($s:ident, $call:expr) => {{
        let first = $call.await?;
        match first {
            Err(e) if rotated(&e) => {
                $s.refresh().await?;
                $call.await?
            }
            other => other,
        }
    }};
}

#[derive(Serialize)]
struct Issued<'a> {
    api: &'static str,
    coupon_id: &'a str,
    stock_id: &'a str,
    openid: &'a str,
    out_request_no: &'a str,
}

/// `send --api v3`.
pub(crate) async fn send(
    runtime: &Runtime,
    args: &ConfigArgs,
    stock_id: String,
    openid: String,
    out_request_no: String,
    stock_creator_mchid: Option<String>,
    json: bool,
) -> Result<String, Failure> {
    let mut s = V3Session::open(runtime, args).await?;
    let request = IssueCoupon {
        openid,
        stock_id,
        out_request_no,
        appid: s.appid()?,
        stock_creator_mchid: s.creator(stock_creator_mchid),
        coupon_value: None,
        coupon_minimum: None,
    };
    let options = call_options(&s.config);
    let issued = with_refresh!(
        s,
        s.session.v3_issue_coupon(&s.merchant, &request, &options)
    );
    let issued = match issued {
        Ok(issued) => issued,
        Err(error) => {
            return Err(if s.session.v3_issue_outcome_unknown(&error).await? {
                Failure::V3OutcomeUnknown {
                    error: Box::new(error),
                    out_request_no: request.out_request_no.clone(),
                }
            } else {
                Failure::V3(error)
            })
        }
    };
    Ok(if json {
        to_json(&Issued {
            api: "v3",
            coupon_id: &issued.coupon_id,
            stock_id: &request.stock_id,
            openid: &request.openid,
            out_request_no: &request.out_request_no,
        })
    } else {
        format!(
            "issued coupon {} of stock {} to {} (out_request_no {}, API v3)",
            issued.coupon_id, request.stock_id, request.openid, request.out_request_no
        )
    })
}

/// `stock --api v3`.
pub(crate) async fn stock(
    runtime: &Runtime,
    args: &ConfigArgs,
    stock_id: String,
    stock_creator_mchid: Option<String>,
    json: bool,
) -> Result<String, Failure> {
    let mut s = V3Session::open(runtime, args).await?;
    let request = QueryStock {
        stock_id,
        stock_creator_mchid: s.creator(stock_creator_mchid),
    };
    let options = call_options(&s.config);
    let stock = with_refresh!(s, s.session.v3_query_stock(&s.merchant, &request, &options))?;
    Ok(if json {
        to_json(&stock)
    } else {
        let rule = stock.stock_use_rule.clone().unwrap_or_default();
        format!(
            "stock {} ({}): {}, {} of {} coupons issued (API v3)",
            stock.stock_id,
            stock.stock_name.as_deref().unwrap_or("unnamed"),
            stock.status.as_deref().unwrap_or("status unknown"),
            stock.distributed_coupons.unwrap_or(0),
            rule.max_coupons
                .map_or_else(|| "?".to_string(), |n| n.to_string()),
        )
    })
}

/// `coupon --api v3`.
pub(crate) async fn coupon(
    runtime: &Runtime,
    args: &ConfigArgs,
    coupon_id: String,
    openid: String,
    json: bool,
) -> Result<String, Failure> {
    let mut s = V3Session::open(runtime, args).await?;
    let request = QueryCoupon {
        openid,
        coupon_id,
        appid: s.appid()?,
    };
    let options = call_options(&s.config);
    let coupon = with_refresh!(
        s,
        s.session.v3_query_coupon(&s.merchant, &request, &options)
    )?;
    Ok(if json {
        to_json(&coupon)
    } else {
        format!(
            "coupon {} of stock {}: {} (API v3)",
            coupon.coupon_id,
            coupon.stock_id.as_deref().unwrap_or("?"),
            coupon.status.as_deref().unwrap_or("status unknown"),
        )
    })
}

/// `certificates`.
pub(crate) async fn certificates(
    runtime: &Runtime,
    args: &ConfigArgs,
    json: bool,
) -> Result<String, Failure> {
    let mut s = V3Session::open(runtime, args).await?;
    let certificates = s.refresh().await?;
    #[derive(Serialize)]
    struct Shown<'a> {
        serial_no: &'a str,
        effective_time: &'a str,
        expire_time: &'a str,
    }
    let shown: Vec<Shown<'_>> = certificates
        .iter()
        .map(|c| Shown {
            serial_no: &c.serial_no,
            effective_time: &c.effective_time,
            expire_time: &c.expire_time,
        })
        .collect();
    Ok(if json {
        to_json(&serde_json::json!({
            "certificates": shown,
            "kept_in": s.config.platform_cert_dir,
        }))
    } else {
        let mut out = String::from(
            "serial_no                                 effective_time             expire_time\n",
        );
        for c in &shown {
            out.push_str(&format!(
                "{:<41} {:<26} {}\n",
                c.serial_no, c.effective_time, c.expire_time
            ));
        }
        out.trim_end().to_string()
    })
}
