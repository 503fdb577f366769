//! The path table: which URL paths exist, which endpoint each is, and whether it belongs to
//! production or the sandbox (`/sandboxnew` prefix).

use serde::Deserialize;
use wxcoupon_core::Api;

/// The prefix of WeChat's v2 simulation system (仿真测试系统).
pub const SANDBOX_PREFIX: &str = "/sandboxnew";
/// The sandbox key endpoint (only under the sandbox prefix).
pub const GET_SIGN_KEY_PATH: &str = "/sandboxnew/pay/getsignkey";

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
}

impl Endpoint {
    /// The coupon API this endpoint serves, `None` for `getsignkey`.
    pub fn api(self) -> Option<Api> {
        match self {
            Endpoint::SendCoupon => Some(Api::SendCoupon),
            Endpoint::QueryCouponStock => Some(Api::QueryCouponStock),
            Endpoint::QueryCouponsInfo => Some(Api::QueryCouponsInfo),
            Endpoint::Getsignkey => None,
        }
    }

    /// The name used in logs and in the `only` field of [`crate::Faults`].
    pub fn name(self) -> &'static str {
        match self.api() {
            Some(api) => api.name(),
            None => "getsignkey",
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
    if path == GET_SIGN_KEY_PATH {
        return Some(Route {
            endpoint: Endpoint::Getsignkey,
            environment: Environment::Sandbox,
        });
    }
    let (environment, rest) = match path.strip_prefix(SANDBOX_PREFIX) {
        Some(rest) => (Environment::Sandbox, rest),
        None => (Environment::Production, path),
    };
    let api = Api::ALL.into_iter().find(|api| api.path() == rest)?;
    let endpoint = match api {
        Api::SendCoupon => Endpoint::SendCoupon,
        Api::QueryCouponStock => Endpoint::QueryCouponStock,
        Api::QueryCouponsInfo => Endpoint::QueryCouponsInfo,
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
