//! Who is calling and where to: the merchant's identity, key, digest and endpoint.

use crate::error::Error;
use crate::sign::{ApiKey, SignType};

/// WeChat Pay's production API host.
pub const PRODUCTION_BASE_URL: &str = "https://api.mch.weixin.qq.com";
/// WeChat Pay's backup API host (use it when the production host is unreachable).
pub const BACKUP_BASE_URL: &str = "https://api2.mch.weixin.qq.com";
/// The path prefix of the v2 simulation system (仿真测试系统).
pub const SANDBOX_PREFIX: &str = "/sandboxnew";

/// Which host requests go to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum ApiHost {
    /// `https://api.mch.weixin.qq.com`.
    #[default]
    Production,
    /// `https://api2.mch.weixin.qq.com`.
    Backup,
    /// Any base URL (`http://` or `https://`, no query or fragment): a simulator, an egress proxy.
    Custom(String),
}

impl ApiHost {
    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        match self {
            ApiHost::Production => PRODUCTION_BASE_URL,
            ApiHost::Backup => BACKUP_BASE_URL,
            ApiHost::Custom(url) => url.trim_end_matches('/'),
        }
    }
}

/// What to do with a response's `sign`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum SignaturePolicy {
    /// Verify `sign` when present; accept unsigned responses (real coupon responses omit `sign`).
    #[default]
    VerifyIfPresent,
    /// Refuse unsigned responses too.
    Require,
}

/// The merchant settings every call needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    /// The Official Account appid the openids belong to (String(32)).
    pub appid: String,
    /// The merchant id (商户号, String(32)).
    pub mch_id: String,
    /// The APIv2 key; for the sandbox, the key from `getsignkey`.
    pub api_key: ApiKey,
    /// The digest of request signatures.
    pub sign_type: SignType,
    /// Where requests go.
    pub host: ApiHost,
    /// Whether to put `/sandboxnew` before every path.
    pub sandbox: bool,
    /// What to do with response signatures.
    pub signature_policy: SignaturePolicy,
}

impl Merchant {
    /// A production merchant with MD5 signatures and the default signature policy.
    pub fn new(appid: impl Into<String>, mch_id: impl Into<String>, api_key: ApiKey) -> Self {
        Merchant {
            appid: appid.into(),
            mch_id: mch_id.into(),
            api_key,
            sign_type: SignType::Md5,
            host: ApiHost::Production,
            sandbox: false,
            signature_policy: SignaturePolicy::VerifyIfPresent,
        }
    }

    /// Checks every setting; the first broken rule is returned. Nothing is sent before this
    /// passes.
    pub fn validate(&self) -> Result<(), Error> {
        check_id("merchant.appid", &self.appid)?;
        check_id("merchant.mch_id", &self.mch_id)?;
        let key = self.api_key.expose();
        let len = key.chars().count();
        if len != 32 {
            return Err(Error::invalid(
                "merchant.api_key",
                format!("must be 32 characters, the APIv2 key's length (got {len})"),
            ));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "merchant.api_key",
                "must be printable ASCII without spaces",
            ));
        }
        if self.sandbox && self.sign_type != SignType::Md5 {
            return Err(Error::invalid(
                "merchant.sign_type",
                "the sandbox accepts MD5 signatures only",
            ));
        }
        if let ApiHost::Custom(url) = &self.host {
            check_base_url(url)?;
        }
        Ok(())
    }

    /// The full URL of an API path such as `/mmpaymkttransfers/send_coupon`.
    pub fn url(&self, path: &str) -> String {
        let prefix = if self.sandbox { SANDBOX_PREFIX } else { "" };
        format!("{}{prefix}{path}", self.host.base_url())
    }
}

fn check_id(field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "required"));
    }
    let len = value.chars().count();
    if len > 32 {
        return Err(Error::invalid(
            field,
            format!("at most 32 characters (got {len})"),
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            field,
            "must not contain spaces or control characters",
        ));
    }
    Ok(())
}

/// Checks a custom base URL: `http://` or `https://`, a host, no query, fragment or whitespace.
pub fn check_base_url(url: &str) -> Result<(), Error> {
    const FIELD: &str = "merchant.base_url";
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| Error::invalid(FIELD, "must start with http:// or https://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(Error::invalid(FIELD, "must name a host"));
    }
    if authority.contains('@') {
        return Err(Error::invalid(FIELD, "must not carry user credentials"));
    }
    if url.contains(['?', '#']) {
        return Err(Error::invalid(FIELD, "must not have a query or fragment"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            FIELD,
            "must not contain spaces or control characters",
        ));
    }
    Ok(())
}
