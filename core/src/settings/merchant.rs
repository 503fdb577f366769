//! The merchant part of the settings — appid, mch_id, api_key, sign_type, endpoint (base_url or
//! backup_host, or an edge's own), sandbox, require_signed_responses — read once for every edge
//! into a [`crate::Merchant`], with the core's rules.

use super::read::Reader;
use super::table::{
    Setting, APIV3_KEY, API_KEY, APPID, BACKUP_HOST, BASE_URL, MCH_ID, MERCHANT_SERIAL_NO,
    PLATFORM_CERTIFICATES, PRIVATE_KEY, REQUIRE_SIGNED_RESPONSES, SANDBOX, SIGN_TYPE,
    WECHATPAY_PUBLIC_KEY, WECHATPAY_PUBLIC_KEY_ID,
};
use crate::merchant::{api_key_rule, base_url_rule, sign_type_rule};
use crate::merchant::{ApiHost, Merchant, SignaturePolicy};
use crate::sign::{ApiKey, SignType};

/// Where an edge's requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// From the settings: [`BASE_URL`], else WeChat Pay's backup host with [`BACKUP_HOST`],
    /// else its production host.
    FromSettings,
    /// A host the edge worked out itself (the Envoy filter's `https://{authority}`), checked as
    /// a base URL and blamed on `setting`; `host: None` when the edge already refused it.
    Given {
        /// The host, if the edge's own checks passed.
        host: Option<ApiHost>,
        /// The setting a broken host is reported under.
        setting: &'static Setting,
    },
}

/// The merchant settings as read: each part `None` where it broke a rule (the problem is in
/// the [`Reader`]), so that an edge can go on checking what depends on a part (the PKCS#12
/// password defaults to a valid `mch_id`; the reference host checks the base URL against its
/// allow-list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantSettings {
    /// The appid.
    pub appid: Option<String>,
    /// The merchant id.
    pub mch_id: Option<String>,
    /// The APIv2 key (redacted in `Debug`).
    pub api_key: Option<ApiKey>,
    /// The request digest.
    pub sign_type: Option<SignType>,
    /// Where requests go.
    pub host: Option<ApiHost>,
    /// The `/sandboxnew` system.
    pub sandbox: bool,
    /// What to do with response signatures.
    pub signature_policy: SignaturePolicy,
}

impl MerchantSettings {
    /// The merchant, when every part passed.
    pub fn merchant(&self) -> Option<Merchant> {
        Some(Merchant {
            appid: self.appid.clone()?,
            mch_id: self.mch_id.clone()?,
            api_key: self.api_key.clone()?,
            sign_type: self.sign_type?,
            host: self.host.clone()?,
            sandbox: self.sandbox,
            signature_policy: self.signature_policy,
        })
    }
}

/// Reads the merchant settings, every problem into `r`: the ids, the key (32 printable ASCII
/// characters, never shown), the digest (MD5 also when unset, any case), the endpoint, the two
/// flags, and the sandbox's MD5-only rule.
pub fn read_merchant(r: &mut Reader<'_>, endpoint: Endpoint) -> MerchantSettings {
    let appid = r.id(&APPID);
    let mch_id = r.id(&MCH_ID);
    let api_key = r.required_secret(&API_KEY).and_then(|key| {
        if let Some(rule) = api_key_rule(&key) {
            r.problem(&API_KEY, rule);
            return None;
        }
        ApiKey::new(key).ok()
    });
    let sign_type = match r.text(&SIGN_TYPE) {
        None => Some(SignType::Md5),
        Some(name) => SignType::from_wire_name(&name).or_else(|| {
            r.problem(&SIGN_TYPE, SIGN_TYPE.rule);
            None
        }),
    };
    let sandbox = r.flag(&SANDBOX);
    let require_signed = r.flag(&REQUIRE_SIGNED_RESPONSES);
    let host = match endpoint {
        Endpoint::FromSettings => {
            let backup_host = r.flag(&BACKUP_HOST);
            let base_url = r
                .text(&BASE_URL)
                .map(|url| url.trim_end_matches('/').to_string());
            if backup_host && r.is_set(&BASE_URL) {
                let rule = r.render("cannot be combined with {base_url}: choose one endpoint");
                r.problem(&BACKUP_HOST, rule);
            }
            match base_url {
                Some(url) => checked_url(r, url, &BASE_URL),
                None if r.is_set(&BASE_URL) => None,
                None if backup_host => Some(ApiHost::Backup),
                None => Some(ApiHost::Production),
            }
        }
        Endpoint::Given { host, setting } => match host {
            Some(ApiHost::Custom(url)) => checked_url(r, url, setting),
            other => other,
        },
    };
    if let Some(rule) = sign_type.and_then(|t| sign_type_rule(sandbox, t)) {
        r.problem(&SIGN_TYPE, rule);
    }
    MerchantSettings {
        appid,
        mch_id,
        api_key,
        sign_type,
        host,
        sandbox,
        signature_policy: SignaturePolicy::from_required(require_signed),
    }
}

fn checked_url(r: &mut Reader<'_>, url: String, setting: &Setting) -> Option<ApiHost> {
    match base_url_rule(&url) {
        Some(rule) => {
            r.problem(setting, rule);
            None
        }
        None => Some(ApiHost::Custom(url)),
    }
}

/// The setting behind one of the core's merchant field names (`merchant.api_key` →
/// [`API_KEY`]), for naming a problem the core found while building a request.
pub fn setting_of_field(field: &str) -> Option<&'static Setting> {
    match field {
        "merchant.appid" => Some(&APPID),
        "merchant.mch_id" => Some(&MCH_ID),
        "merchant.api_key" => Some(&API_KEY),
        "merchant.sign_type" => Some(&SIGN_TYPE),
        "merchant.base_url" => Some(&BASE_URL),
        // The v3 merchant's (`wxcoupon_core::v3::merchant::Merchant::new`), as the gateway
        // gives them: PEM text, not files.
        "merchant.mchid" => Some(&MCH_ID),
        "merchant.merchant_serial_no" => Some(&MERCHANT_SERIAL_NO),
        "merchant.apiv3_key" => Some(&APIV3_KEY),
        "merchant.private_key" => Some(&PRIVATE_KEY),
        "merchant.wechatpay_public_key_id" => Some(&WECHATPAY_PUBLIC_KEY_ID),
        "merchant.wechatpay_public_key" => Some(&WECHATPAY_PUBLIC_KEY),
        f if f.starts_with("merchant.platform_certificates") => Some(&PLATFORM_CERTIFICATES),
        _ => None,
    }
}
