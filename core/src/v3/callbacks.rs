//! The merchant's coupon-callback setting (`POST` and `GET /v3/marketing/favor/callbacks`):
//! where WeChat sends `COUPON.USE`, and whether it sends it. Both take the merchant as `mchid`
//! — in the body to set, in the query (`?mchid=…`, name and value) to read.

use serde::{Deserialize, Serialize};

use super::answer::json;
use super::call::Call;
use super::error::Error;
use super::favor::{digits, query_value, text, FAVOR_PATH};
use super::request::{Method, Request};

/// The longest notify URL accepted.
pub const MAX_NOTIFY_URL: usize = 256;

/// Set the notify URL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetCallback {
    /// The merchant.
    pub mchid: String,
    /// Where callbacks go: `https://`, at most 256 characters, no query.
    pub notify_url: String,
    /// Whether callbacks are sent (`switch` on the wire); unchanged when `None`.
    #[serde(
        default,
        rename = "switch",
        alias = "enabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub enabled: Option<bool>,
}

/// The set call's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackUpdated {
    /// When it changed (RFC 3339).
    #[serde(default)]
    pub update_time: String,
    /// The URL now in force.
    #[serde(default)]
    pub notify_url: String,
}

/// Read the notify URL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetCallback {
    /// The merchant.
    pub mchid: String,
}

/// The merchant's callback setting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackSetting {
    /// The merchant.
    #[serde(default)]
    pub mchid: String,
    /// Where callbacks go (empty when none is set).
    #[serde(default)]
    pub notify_url: String,
    /// Whether they are sent (`switch` on the wire).
    #[serde(
        default,
        rename = "switch",
        alias = "enabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub enabled: Option<bool>,
}

impl Call for SetCallback {
    type Answer = CallbackUpdated;
    fn request_at(&self, _now: i64) -> Result<Request, Error> {
        digits("mchid", &self.mchid, 32)?;
        text("notify_url", &self.notify_url, MAX_NOTIFY_URL)?;
        let rest = self.notify_url.strip_prefix("https://").ok_or_else(|| {
            Error::invalid(
                "notify_url",
                "must start with https:// (WeChat calls only https)",
            )
        })?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(Error::invalid("notify_url", "must name a host"));
        }
        if self.notify_url.contains(['?', '#', ' ']) {
            return Err(Error::invalid(
                "notify_url",
                "must not carry a query, a fragment or spaces",
            ));
        }
        Ok(Request {
            method: Method::Post,
            url: format!("{FAVOR_PATH}/callbacks"),
            body: serde_json::to_string(self).expect("a struct of strings"),
        })
    }
    fn read(body: &str) -> Result<CallbackUpdated, Error> {
        json(body)
    }
}

impl Call for GetCallback {
    type Answer = CallbackSetting;
    fn request_at(&self, _now: i64) -> Result<Request, Error> {
        digits("mchid", &self.mchid, 32)?;
        Ok(Request {
            method: Method::Get,
            url: format!("{FAVOR_PATH}/callbacks?mchid={}", query_value(&self.mchid)),
            body: String::new(),
        })
    }
    fn read(body: &str) -> Result<CallbackSetting, Error> {
        json(body)
    }
}
