//! The path table: which endpoint a URL path is (the core's strict reading,
//! [`wxcoupon_core::paths`]), and whether it belongs to production or the sandbox (`/sandboxnew`
//! prefix). API v3 paths (`/v3/…`) are read by [`crate::v3`]; their [`Endpoint`]s are here so
//! faults can name them.

use serde::Deserialize;
use wxcoupon_core::paths::{classify_path, Endpoint as WireEndpoint};
use wxcoupon_core::Api;

/// An endpoint the simulator answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `/mmpaymkttransfers/send_coupon`.
    SendCoupon,
    /// `/mmpaymkttransfers/query_coupon_stock`.
    QueryCouponStock,
    /// `/mmpaymkttransfers/querycouponsinfo`.
    #[serde(rename = "querycouponsinfo", alias = "query_coupons_info")]
    QueryCouponsInfo,
    /// `/sandboxnew/pay/getsignkey`.
    #[serde(alias = "get_sign_key")]
    Getsignkey,
    /// API v3 `POST /v3/marketing/favor/users/{openid}/coupons`.
    V3IssueCoupon,
    /// API v3 `GET /v3/marketing/favor/stocks/{stock_id}`.
    V3QueryStock,
    /// API v3 `GET /v3/marketing/favor/users/{openid}/coupons/{coupon_id}`.
    V3QueryCoupon,
    /// API v3 `GET /v3/certificates`.
    V3Certificates,
    /// API v3 `POST /v3/marketing/favor/coupon-stocks`.
    V3CreateStock,
    /// API v3 `POST /v3/marketing/favor/stocks/{stock_id}/start`.
    V3StartStock,
    /// API v3 `POST /v3/marketing/favor/stocks/{stock_id}/pause`.
    V3PauseStock,
    /// API v3 `POST /v3/marketing/favor/stocks/{stock_id}/restart`.
    V3RestartStock,
    /// API v3 `POST /v3/marketing/favor/stocks/{stock_id}/stop`.
    V3StopStock,
    /// API v3 `GET /v3/marketing/favor/stocks`.
    V3ListStocks,
    /// API v3 `GET /v3/marketing/favor/stocks/{stock_id}/merchants`.
    V3StockMerchants,
    /// API v3 `GET /v3/marketing/favor/stocks/{stock_id}/items`.
    V3StockItems,
    /// API v3 `GET /v3/marketing/favor/stocks/{stock_id}/use-flow`.
    V3UseFlow,
    /// API v3 `GET /v3/marketing/favor/stocks/{stock_id}/refund-flow`.
    V3RefundFlow,
    /// API v3 `GET /v3/marketing/favor/users/{openid}/coupons`.
    V3ListUserCoupons,
    /// API v3 `POST /v3/marketing/favor/callbacks`.
    V3SetCallback,
    /// API v3 `GET /v3/marketing/favor/callbacks`.
    V3GetCallback,
}

impl Endpoint {
    /// The v2 coupon API this endpoint serves, `None` for `getsignkey` and the v3 endpoints.
    pub fn api(self) -> Option<Api> {
        match self {
            Endpoint::SendCoupon => Some(Api::SendCoupon),
            Endpoint::QueryCouponStock => Some(Api::QueryCouponStock),
            Endpoint::QueryCouponsInfo => Some(Api::QueryCouponsInfo),
            _ => None,
        }
    }

    /// Whether this is an API v3 endpoint.
    pub fn is_v3(self) -> bool {
        !matches!(
            self,
            Endpoint::SendCoupon
                | Endpoint::QueryCouponStock
                | Endpoint::QueryCouponsInfo
                | Endpoint::Getsignkey
        )
    }

    /// The name used in logs and in the `only` field of [`crate::Faults`].
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Getsignkey => "getsignkey",
            Endpoint::V3IssueCoupon => "v3_issue_coupon",
            Endpoint::V3QueryStock => "v3_query_stock",
            Endpoint::V3QueryCoupon => "v3_query_coupon",
            Endpoint::V3Certificates => "v3_certificates",
            Endpoint::V3CreateStock => "v3_create_stock",
            Endpoint::V3StartStock => "v3_start_stock",
            Endpoint::V3PauseStock => "v3_pause_stock",
            Endpoint::V3RestartStock => "v3_restart_stock",
            Endpoint::V3StopStock => "v3_stop_stock",
            Endpoint::V3ListStocks => "v3_list_stocks",
            Endpoint::V3StockMerchants => "v3_stock_merchants",
            Endpoint::V3StockItems => "v3_stock_items",
            Endpoint::V3UseFlow => "v3_use_flow",
            Endpoint::V3RefundFlow => "v3_refund_flow",
            Endpoint::V3ListUserCoupons => "v3_list_user_coupons",
            Endpoint::V3SetCallback => "v3_set_callback",
            Endpoint::V3GetCallback => "v3_get_callback",
            Endpoint::SendCoupon => Api::SendCoupon.name(),
            Endpoint::QueryCouponStock => Api::QueryCouponStock.name(),
            Endpoint::QueryCouponsInfo => Api::QueryCouponsInfo.name(),
        }
    }
}

/// Which of WeChat's two systems a request went to. Each has its own stocks and coupons, as the
/// real sandbox is a separate system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Environment {
    /// The real paths, verified with `api_key`.
    Production,
    /// Paths under `/sandboxnew`, verified with `sandbox_key`.
    Sandbox,
}

/// A recognised path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The system it belongs to.
    pub environment: Environment,
}

/// Looks a request path up (the query string is not part of it). Unknown paths give `None`.
pub fn route(path: &str) -> Option<Route> {
    let wire = classify_path(path).ok()?;
    let endpoint = match wire.endpoint {
        WireEndpoint::GetSignKey => Endpoint::Getsignkey,
        WireEndpoint::Coupon(Api::SendCoupon) => Endpoint::SendCoupon,
        WireEndpoint::Coupon(Api::QueryCouponStock) => Endpoint::QueryCouponStock,
        WireEndpoint::Coupon(Api::QueryCouponsInfo) => Endpoint::QueryCouponsInfo,
    };
    let environment = match wire.sandbox {
        true => Environment::Sandbox,
        false => Environment::Production,
    };
    Some(Route {
        endpoint,
        environment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_v3_name_reads_back_from_toml() {
        for endpoint in [
            Endpoint::V3CreateStock,
            Endpoint::V3StartStock,
            Endpoint::V3PauseStock,
            Endpoint::V3RestartStock,
            Endpoint::V3StopStock,
            Endpoint::V3ListStocks,
            Endpoint::V3StockMerchants,
            Endpoint::V3StockItems,
            Endpoint::V3UseFlow,
            Endpoint::V3RefundFlow,
            Endpoint::V3ListUserCoupons,
            Endpoint::V3SetCallback,
            Endpoint::V3GetCallback,
        ] {
            let read: Endpoint =
                serde_json::from_value(serde_json::Value::String(endpoint.name().into())).unwrap();
            assert_eq!(read, endpoint);
            assert!(endpoint.is_v3());
            assert_eq!(endpoint.api(), None);
        }
    }

    #[test]
    fn paths() {
        let r = route("/mmpaymkttransfers/send_coupon").unwrap();
        assert_eq!(r.endpoint, Endpoint::SendCoupon);
        assert_eq!(r.environment, Environment::Production);
        let r = route("/sandboxnew/mmpaymkttransfers/querycouponsinfo").unwrap();
        assert_eq!(r.endpoint, Endpoint::QueryCouponsInfo);
        assert_eq!(r.environment, Environment::Sandbox);
        assert_eq!(
            route("/sandboxnew/pay/getsignkey").unwrap().endpoint,
            Endpoint::Getsignkey
        );
        assert!(route("/pay/getsignkey").is_none());
        assert!(route("/mmpaymkttransfers/send_coupon/").is_none());
        assert!(route("/sandboxnew").is_none());
        assert!(route("/").is_none());
    }
}
