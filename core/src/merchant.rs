//! Who is calling and where to: the merchant's identity, key, digest and endpoint.

use crate::error::{Error, FieldError};
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

impl SignaturePolicy {
    /// The policy a `require_signed_responses`-style setting asks for: [`SignaturePolicy::Require`]
    /// when `true`, else [`SignaturePolicy::VerifyIfPresent`].
    pub fn from_required(required: bool) -> Self {
        if required {
            SignaturePolicy::Require
        } else {
            SignaturePolicy::VerifyIfPresent
        }
    }
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

    /// Checks every setting; the first broken rule is returned (the first of
    /// [`Merchant::problems`]). Nothing is sent before this passes.
    pub fn validate(&self) -> Result<(), Error> {
        match self.problems().into_iter().next() {
            Some(first) => Err(Error::InvalidInput(first)),
            None => Ok(()),
        }
    }

    /// Every broken rule, one per field (the first rule it breaks), in the order `appid`,
    /// `mch_id`, `api_key`, `sign_type` (sandbox + HMAC), `base_url`. Empty when the settings
    /// pass.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        let mut check = |field: &str, rule: Option<String>| {
            problems.extend(rule.map(|rule| FieldError::new(field, rule)));
        };
        check("merchant.appid", id_rule(&self.appid));
        check("merchant.mch_id", id_rule(&self.mch_id));
        check("merchant.api_key", api_key_rule(self.api_key.expose()));
        check(
            "merchant.sign_type",
            sign_type_rule(self.sandbox, self.sign_type).map(str::to_string),
        );
        if let ApiHost::Custom(url) = &self.host {
            check("merchant.base_url", base_url_rule(url).map(str::to_string));
        }
        problems
    }

    /// The full URL of an API path such as `/mmpaymkttransfers/send_coupon`.
    pub fn url(&self, path: &str) -> String {
        let prefix = if self.sandbox { SANDBOX_PREFIX } else { "" };
        format!("{}{prefix}{path}", self.host.base_url())
    }
}

/// The first rule an identifier (appid, mch_id) breaks: required, at most 32 characters, no
/// spaces or control characters.
pub(crate) fn id_rule(value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return Some("required".into());
    }
    let len = value.chars().count();
    if len > 32 {
        return Some(format!("at most 32 characters (got {len})"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must not contain spaces or control characters".into());
    }
    None
}

/// The first rule an APIv2 key breaks: 32 characters, printable ASCII without spaces. Never the
/// key itself, only its length.
pub(crate) fn api_key_rule(key: &str) -> Option<String> {
    let len = key.chars().count();
    if len != 32 {
        return Some(format!(
            "must be 32 characters, the APIv2 key's length (got {len})"
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("must be printable ASCII without spaces".into());
    }
    None
}

/// The rule a digest breaks with the sandbox, which accepts MD5 only.
pub(crate) fn sign_type_rule(sandbox: bool, sign_type: SignType) -> Option<&'static str> {
    (sandbox && sign_type != SignType::Md5).then_some("the sandbox accepts MD5 signatures only")
}

/// The first rule a custom base URL breaks: `http://` or `https://`, a host, no credentials,
/// query, fragment or whitespace.
pub(crate) fn base_url_rule(url: &str) -> Option<&'static str> {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Some("must start with http:// or https://");
    };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Some("must name a host");
    }
    if authority.contains('@') {
        return Some("must not carry user credentials");
    }
    if url.contains(['?', '#']) {
        return Some("must not have a query or fragment");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must not contain spaces or control characters");
    }
    None
}

/// Checks a custom base URL: `http://` or `https://`, a host, no query, fragment or whitespace.
pub fn check_base_url(url: &str) -> Result<(), Error> {
    match base_url_rule(url) {
        Some(rule) => Err(Error::invalid("merchant.base_url", rule)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn merchant() -> Merchant {
        Merchant::new("wx1234567890", "1900000109", ApiKey::new(KEY).unwrap())
    }

    #[test]
    fn from_required_maps_the_flag() {
        assert_eq!(
            SignaturePolicy::from_required(true),
            SignaturePolicy::Require
        );
        assert_eq!(
            SignaturePolicy::from_required(false),
            SignaturePolicy::VerifyIfPresent
        );
    }

    #[test]
    fn problems_is_empty_for_good_settings() {
        let m = merchant();
        assert!(m.problems().is_empty());
        assert!(m.validate().is_ok());
    }

    #[test]
    fn problems_lists_every_broken_rule_and_validate_returns_the_first() {
        let mut m = merchant();
        m.appid = " ".into();
        m.mch_id = "x".repeat(33);
        m.api_key = ApiKey::new("short").unwrap();
        m.sandbox = true;
        m.sign_type = SignType::HmacSha256;
        m.host = ApiHost::Custom("ftp://example.com".into());
        let problems = m.problems();
        assert_eq!(
            problems,
            vec![
                FieldError::new("merchant.appid", "required"),
                FieldError::new("merchant.mch_id", "at most 32 characters (got 33)"),
                FieldError::new(
                    "merchant.api_key",
                    "must be 32 characters, the APIv2 key's length (got 5)"
                ),
                FieldError::new(
                    "merchant.sign_type",
                    "the sandbox accepts MD5 signatures only"
                ),
                FieldError::new("merchant.base_url", "must start with http:// or https://"),
            ]
        );
        assert_eq!(m.validate(), Err(Error::InvalidInput(problems[0].clone())));
    }

    #[test]
    fn problems_reports_one_rule_per_field() {
        let mut m = merchant();
        // Both not 32 characters and not printable: only the first rule is reported.
        m.api_key = ApiKey::new("a b").unwrap();
        assert_eq!(
            m.problems(),
            vec![FieldError::new(
                "merchant.api_key",
                "must be 32 characters, the APIv2 key's length (got 3)"
            )]
        );
        m.api_key = ApiKey::new(" ".repeat(32)).unwrap();
        assert_eq!(
            m.problems(),
            vec![FieldError::new(
                "merchant.api_key",
                "must be printable ASCII without spaces"
            )]
        );
    }
}
