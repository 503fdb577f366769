//! The v3 part of the settings, for every edge: which API the coupon calls use
//! ([`read_api`]), and the v3 merchant as an edge without files gives it — PEM text in
//! variables ([`read_v3_merchant`], the component's gateway; the reference host reads the same
//! keys from files).

use super::read::Reader;
#[cfg_attr(not(feature = "v3"), allow(unused_imports))]
use super::table::{
    Setting, API, APIV3_KEY, API_KEY, BASE_URL, MCH_ID, MERCHANT_SERIAL_NO, PLATFORM_CERTIFICATES,
    PRIVATE_KEY, REQUIRED_RULE, WECHATPAY_PUBLIC_KEY, WECHATPAY_PUBLIC_KEY_ID,
};
#[cfg(feature = "v3")]
use crate::v3::merchant::MerchantSettings;

/// Which generation of WeChat Pay's API the coupon calls use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    /// XML, the APIv2 key, the client certificate for issuing.
    V2,
    /// JSON, SHA256-RSA requests, signed answers.
    V3,
}

/// [`API`]: `v2` or `v3`; unset, `v3` when [`APIV3_KEY`] is set and [`API_KEY`] is not, else
/// `v2` (a merchant onboarded since 2020 has only the APIv3 key). `None` with a problem when the
/// value is neither.
pub fn read_api(r: &mut Reader<'_>) -> Option<ApiVersion> {
    let v3_key = r.is_set(&APIV3_KEY);
    let v2_key = r.is_set(&API_KEY);
    match r.text(&API).as_deref() {
        Some("v2") => Some(ApiVersion::V2),
        Some("v3") => Some(ApiVersion::V3),
        Some(_) => {
            r.problem(&API, API.rule);
            None
        }
        None if v3_key && !v2_key => Some(ApiVersion::V3),
        None => Some(ApiVersion::V2),
    }
}

/// What the v3 merchant is for: calls sign requests (the private key is required), the
/// notification route only verifies (the private key is not read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V3Use {
    /// Signed calls and verified answers.
    Calls,
    /// Verified callbacks only.
    Callbacks,
}

/// Reads the v3 merchant from PEM text, every problem into `r`, each naming its setting and
/// never a value: [`MCH_ID`], [`MERCHANT_SERIAL_NO`], [`APIV3_KEY`], [`PRIVATE_KEY`] (for
/// [`V3Use::Calls`]), a key to verify with ([`WECHATPAY_PUBLIC_KEY`] with
/// [`WECHATPAY_PUBLIC_KEY_ID`], or [`PLATFORM_CERTIFICATES`], or both during a migration), and
/// [`BASE_URL`]. The keys themselves are checked when the core's merchant is made from the
/// result (`Merchant::new`, whose problems name `merchant.*`: see
/// [`super::setting_of_field`]).
#[cfg(feature = "v3")]
pub fn read_v3_merchant(r: &mut Reader<'_>, use_: V3Use) -> Option<MerchantSettings> {
    let mchid = r.required_text(&MCH_ID);
    let serial = r.required_text(&MERCHANT_SERIAL_NO);
    let apiv3_key = r.required_secret(&APIV3_KEY);
    let private_key = match use_ {
        V3Use::Calls => r.required_secret(&PRIVATE_KEY),
        V3Use::Callbacks => None,
    };
    let key_id = r.text(&WECHATPAY_PUBLIC_KEY_ID);
    let key_pem = r.text(&WECHATPAY_PUBLIC_KEY);
    let certificates = r.text(&PLATFORM_CERTIFICATES);
    if key_pem.is_none() && certificates.is_none() {
        let rule = r.render(
            "required (or {platform_certificates}): a key to verify WeChat Pay's signatures with",
        );
        r.problem(&WECHATPAY_PUBLIC_KEY, rule);
    }
    let pair: [(&Option<String>, &Setting, &Setting); 2] = [
        (&key_id, &WECHATPAY_PUBLIC_KEY_ID, &WECHATPAY_PUBLIC_KEY),
        (&key_pem, &WECHATPAY_PUBLIC_KEY, &WECHATPAY_PUBLIC_KEY_ID),
    ];
    for (value, setting, other) in pair {
        if value.is_none() && r.is_set(other) {
            let rule = format!("{REQUIRED_RULE} with {}", r.naming().reference(other));
            r.problem(setting, rule);
        }
    }
    let base_url = r
        .text(&BASE_URL)
        .map(|url| url.trim_end_matches('/').to_string());
    if !r.problems().is_empty() {
        return None;
    }
    Some(MerchantSettings {
        mchid: mchid?,
        merchant_serial_no: serial?,
        apiv3_key: apiv3_key?,
        private_key_pem: private_key,
        wechatpay_public_key_id: key_id,
        wechatpay_public_key_pem: key_pem,
        platform_certificates: certificates.as_deref().map(pem_blocks).unwrap_or_default(),
        base_url,
    })
}

/// The PEM blocks of a bundle (one variable may hold several certificates).
pub fn pem_blocks(bundle: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in bundle.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN ") {
            current.clear();
        }
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END ") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
}

#[cfg(all(test, feature = "v3"))]
mod tests {
    use super::*;
    use crate::settings::{Naming, Vars};

    fn read(vars: &[(&str, &str)], use_: V3Use) -> Result<MerchantSettings, Vec<String>> {
        let vars = Vars::new(vars.iter().copied());
        let mut r = Reader::new(&vars, Naming::Variable);
        let settings = read_v3_merchant(&mut r, use_);
        r.finish(settings)
            .map_err(|e| e.problems().iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn the_api_follows_the_setting_then_the_keys() {
        let api = |vars: &[(&str, &str)]| {
            let vars = Vars::new(vars.iter().copied());
            let mut r = Reader::new(&vars, Naming::Variable);
            (read_api(&mut r), r.problems().len())
        };
        assert_eq!(api(&[]), (Some(ApiVersion::V2), 0));
        assert_eq!(api(&[("WXPAY_APIV3_KEY", "k")]), (Some(ApiVersion::V3), 0));
        let both = [("WXPAY_APIV3_KEY", "k"), ("WXPAY_API_KEY", "k")];
        assert_eq!(api(&both), (Some(ApiVersion::V2), 0));
        assert_eq!(
            api(&[("WXPAY_API", "v3"), ("WXPAY_API_KEY", "k")]),
            (Some(ApiVersion::V3), 0)
        );
        assert_eq!(api(&[("WXPAY_API", "v4")]), (None, 1));
    }

    #[test]
    fn every_missing_setting_is_named_and_the_private_key_only_for_calls() {
        let problems = read(&[], V3Use::Calls).unwrap_err();
        assert_eq!(
            problems,
            [
                "WXPAY_MCH_ID: required",
                "WXPAY_MERCHANT_SERIAL_NO: required",
                "WXPAY_APIV3_KEY: required",
                "WXPAY_PRIVATE_KEY: required",
                "WXPAY_WECHATPAY_PUBLIC_KEY: required (or WXPAY_PLATFORM_CERTIFICATES): a key to \
                 verify WeChat Pay's signatures with",
            ]
        );
        let callbacks = read(&[], V3Use::Callbacks).unwrap_err();
        assert!(!callbacks.iter().any(|p| p.contains("WXPAY_PRIVATE_KEY")));
        let half = read(
            &[("WXPAY_WECHATPAY_PUBLIC_KEY_ID", "PUB_KEY_ID_1")],
            V3Use::Callbacks,
        )
        .unwrap_err();
        assert!(half.contains(
            &"WXPAY_WECHATPAY_PUBLIC_KEY: required with WXPAY_WECHATPAY_PUBLIC_KEY_ID".to_string()
        ));
    }

    #[test]
    fn certificates_are_split_and_the_secrets_kept_out_of_problems() {
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
        let bundle = format!("{cert}\n{cert}\n");
        let settings = read(
            &[
                ("WXPAY_MCH_ID", "1900000001"),
                ("WXPAY_MERCHANT_SERIAL_NO", "ABC"),
                ("WXPAY_APIV3_KEY", "secret-apiv3-key"),
                ("WXPAY_PRIVATE_KEY", "secret-private-key"),
                ("WXPAY_PLATFORM_CERTIFICATES", &bundle),
                ("WXPAY_BASE_URL", "http://127.0.0.1:1/"),
            ],
            V3Use::Calls,
        )
        .unwrap();
        assert_eq!(settings.platform_certificates.len(), 2);
        assert_eq!(settings.base_url.as_deref(), Some("http://127.0.0.1:1"));
        assert!(!format!("{settings:?}").contains("secret"));
    }
}
