//! Owns `wxcoupon_core::parse_response` for each of the three APIs: classification
//! (`return_code` → `result_code`/`err_code` → `ret_code`), signature checks under both
//! policies and both digests, and the typing of every field.
//!
//! Input: byte 0 chooses the call, the rest is the answer body.
//! - bits 0–1: the API (`Api::ALL[b % 3]`);
//! - bit 2: the merchant's digest (MD5 / HMAC-SHA256);
//! - bit 3: the signature policy (verify if present / require);
//! - bit 4: sandbox;
//! - bit 5: the status: 200, or (when set) a big-endian `u16` from bytes 1–2.
//!
//! Checks: an answer is the API's own variant; its signature check is the merchant's digest
//! and the `sign` it kept verifies, or there was no `sign`; `Require` never accepts an unsigned
//! answer; no answer or error shows the API key unless the body itself carried it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wxcoupon_core::{
    parse_response, verify_with, Api, ApiKey, CouponResponse, Merchant, SignType, SignatureCheck,
    SignaturePolicy,
};

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let api = Api::ALL[usize::from(flags & 0b11) % 3];
    let mut merchant = Merchant::new(
        "wx5edab3bdfba3dc1c",
        "10000098",
        ApiKey::new(KEY).expect("the test key"),
    );
    if flags & 0b100 != 0 {
        merchant.sign_type = SignType::HmacSha256;
    }
    if flags & 0b1000 != 0 {
        merchant.signature_policy = SignaturePolicy::Require;
    }
    merchant.sandbox = flags & 0b1_0000 != 0;
    let (status, body) = if flags & 0b10_0000 != 0 {
        match rest {
            [hi, lo, body @ ..] => (u16::from_be_bytes([*hi, *lo]), body),
            _ => return,
        }
    } else {
        (200, rest)
    };

    let result = parse_response(&merchant, api, status, body);
    // Searched only when an answer or error shows the key: a search per input would make
    // every run a few hundred intercepted `memcmp`s.
    let key_in_body = || body.windows(KEY.len()).any(|w| w == KEY.as_bytes());
    match &result {
        Ok(response) => {
            assert_eq!(status, 200);
            let (variant_api, signature, fields) = match response {
                CouponResponse::SendCoupon(r) => (Api::SendCoupon, r.signature, &r.fields),
                CouponResponse::QueryCouponStock(r) => {
                    (Api::QueryCouponStock, r.signature, &r.fields)
                }
                CouponResponse::QueryCouponsInfo(r) => {
                    (Api::QueryCouponsInfo, r.signature, &r.fields)
                }
            };
            assert_eq!(variant_api, api, "an answer of another API");
            let sign = fields.get("sign").map(|s| s.trim()).unwrap_or("");
            match signature {
                SignatureCheck::Absent => {
                    assert!(sign.is_empty(), "a sign was present but not checked");
                    assert_eq!(
                        merchant.signature_policy,
                        SignaturePolicy::VerifyIfPresent,
                        "Require took an unsigned answer"
                    );
                }
                SignatureCheck::VerifiedMd5 | SignatureCheck::VerifiedHmacSha256 => {
                    let digest = match signature {
                        SignatureCheck::VerifiedMd5 => SignType::Md5,
                        _ => SignType::HmacSha256,
                    };
                    assert_eq!(digest, merchant.sign_type, "verified with another digest");
                    assert!(
                        verify_with(fields, &merchant.api_key, sign, digest).is_ok(),
                        "a verified answer whose sign does not verify"
                    );
                }
            }
            let shown = format!("{response:?}");
            assert!(
                !shown.contains(KEY) || key_in_body(),
                "the key in an answer: {shown}"
            );
        }
        Err(e) => {
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains(KEY) || key_in_body(),
                "the key in an error: {shown}"
            );
            let _ = e.outcome_unknown(api);
        }
    }
});
