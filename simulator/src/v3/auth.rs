//! v3 authentication, both ways: verifying a request's `Authorization`
//! (`WECHATPAY2-SHA256-RSA2048`, read with the core's [`parse_authorization`]) against the
//! merchant API certificate, and signing every answer with the `Wechatpay-*` headers — where
//! the signature faults (`wrong_sign`, `unknown_serial`, `timestamp_offset_seconds`,
//! `missing_signature`, `tampered_body`) take effect.
//!
//! A request is authenticated when, in this order: the header is present and reads; its `mchid`
//! is the merchant; its `serial_no` is the merchant API certificate's (hex case ignored); its
//! `timestamp` is Unix seconds within [`MAX_CLOCK_SKEW_SECONDS`] of now (300 s accepted, 301 s
//! refused, the rule the core applies to answers); and its `signature` verifies over
//! [`request_message`] of the method, the request-target exactly as received, the timestamp
//! and nonce as sent, and the body's bytes.

use std::sync::Mutex;

use wxcoupon_core::v3::auth::{
    parse_authorization, request_message, response_message, ToVerify, AUTH_SCHEME,
    MAX_CLOCK_SKEW_SECONDS, NONCE_HEADER, SERIAL_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use wxcoupon_core::v3::rsa::{certificate_serial, Verifiers};

use super::keys::PlatformKeys;
use crate::faults::{Faults, UNKNOWN_SERIAL};
use crate::handlers::random_nonce;

/// The header naming the signature scheme of an answer.
pub(crate) const SIGNATURE_TYPE_HEADER: &str = "Wechatpay-Signature-Type";
/// The header carrying WeChat's request id.
pub(crate) const REQUEST_ID_HEADER: &str = "Request-ID";

/// The merchant requests must come from, and the key their signatures verify with.
pub(crate) struct MerchantIdentity {
    mchid: String,
    serial: String,
    verifiers: Verifiers,
}

/// Why a request is not authenticated (all answered 401 `SIGN_ERROR`; the name goes to the log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// Not the scheme, a parameter broken or missing, or a timestamp that is not a number.
    Malformed,
    /// `mchid` is not the merchant.
    UnknownMerchant,
    /// `serial_no` is not the merchant API certificate's.
    UnknownSerial,
    /// `timestamp` more than 300 s from now.
    StaleTimestamp,
    /// The signature does not verify.
    Signature,
}

impl AuthFailure {
    /// For the log.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AuthFailure::Missing => "SIGN_ERROR(no Authorization)",
            AuthFailure::Malformed => "SIGN_ERROR(malformed Authorization)",
            AuthFailure::UnknownMerchant => "SIGN_ERROR(unknown mchid)",
            AuthFailure::UnknownSerial => "SIGN_ERROR(unknown serial_no)",
            AuthFailure::StaleTimestamp => "SIGN_ERROR(timestamp)",
            AuthFailure::Signature => "SIGN_ERROR(signature)",
        }
    }
}

impl MerchantIdentity {
    /// The merchant `mchid` with its API certificate (PEM).
    pub(crate) fn new(mchid: &str, certificate_pem: &str) -> anyhow::Result<MerchantIdentity> {
        let serial = certificate_serial(certificate_pem)
            .map_err(|e| anyhow::anyhow!("v3.merchant_certificate_pem: {e}"))?;
        let verifiers = Verifiers::new()
            .with_platform_certificate(certificate_pem)
            .map_err(|e| anyhow::anyhow!("v3.merchant_certificate_pem: {e}"))?;
        Ok(MerchantIdentity {
            mchid: mchid.to_string(),
            serial,
            verifiers,
        })
    }

    /// The merchant API certificate's serial.
    pub(crate) fn serial(&self) -> &str {
        &self.serial
    }

    /// Checks a request (see the module doc).
    pub(crate) fn authenticate(
        &self,
        authorization: Option<&str>,
        method: &str,
        request_target: &str,
        body: &str,
        now: i64,
    ) -> Result<(), AuthFailure> {
        let header = authorization
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(AuthFailure::Missing)?;
        if !header.starts_with(AUTH_SCHEME) {
            return Err(AuthFailure::Malformed);
        }
        let params = parse_authorization(header).map_err(|_| AuthFailure::Malformed)?;
        if params.mchid != self.mchid {
            return Err(AuthFailure::UnknownMerchant);
        }
        if !params.serial_no.eq_ignore_ascii_case(&self.serial) {
            return Err(AuthFailure::UnknownSerial);
        }
        if params.nonce_str.is_empty()
            || params.timestamp.is_empty()
            || !params.timestamp.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(AuthFailure::Malformed);
        }
        let timestamp: i64 = params
            .timestamp
            .parse()
            .map_err(|_| AuthFailure::Malformed)?;
        if timestamp.saturating_sub(now).unsigned_abs() > MAX_CLOCK_SKEW_SECONDS.unsigned_abs() {
            return Err(AuthFailure::StaleTimestamp);
        }
        let message = request_message(
            method,
            request_target,
            &params.timestamp,
            &params.nonce_str,
            body,
        );
        self.verifiers
            .verify(&ToVerify {
                serial: self.serial.clone(),
                message,
                signature: params.signature,
            })
            .map_err(|_| AuthFailure::Signature)
    }
}

/// An answer ready to send: its headers (canonical names) and the body.
#[derive(Debug)]
pub(crate) struct SignedAnswer {
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// Signs `body` at `now` with the key the request's `Wechatpay-Serial` chooses, then applies
/// the signature faults of `fault`.
pub(crate) fn sign_answer(
    keys: &Mutex<PlatformKeys>,
    requested_serial: Option<&str>,
    body: String,
    now: i64,
    fault: Option<&Faults>,
) -> SignedAnswer {
    let (serial, signer, wrong) = {
        let keys = keys.lock().unwrap_or_else(|e| e.into_inner());
        let (serial, signer) = keys.choose(requested_serial);
        (serial, signer, keys.wrong_signer())
    };
    let fault = fault.cloned().unwrap_or_default();
    let timestamp = now
        .saturating_add(fault.timestamp_offset_seconds)
        .to_string();
    let nonce = random_nonce();
    let message = response_message(&timestamp, &nonce, &body);
    let signature = if fault.wrong_sign {
        wrong.sign(&message)
    } else {
        signer.sign(&message)
    };
    let serial = if fault.unknown_serial {
        UNKNOWN_SERIAL.to_string()
    } else {
        serial
    };
    let mut headers = vec![
        (REQUEST_ID_HEADER, random_nonce()),
        (NONCE_HEADER, nonce),
        (SERIAL_HEADER, serial),
        (SIGNATURE_TYPE_HEADER, AUTH_SCHEME.to_string()),
        (TIMESTAMP_HEADER, timestamp),
    ];
    if !fault.missing_signature {
        headers.push((SIGNATURE_HEADER, signature));
    }
    let body = if fault.tampered_body {
        tamper(&body)
    } else {
        body
    };
    SignedAnswer { headers, body }
}

/// The body with one byte changed: a digit of `coupon_id` when there is one, else the first
/// digit, else a trailing space.
fn tamper(body: &str) -> String {
    let mut bytes = body.as_bytes().to_vec();
    const COUPON_ID: &str = "\"coupon_id\":\"";
    let start = body.find(COUPON_ID).map_or(0, |i| i + COUPON_ID.len());
    match bytes[start..].iter().position(u8::is_ascii_digit) {
        Some(offset) => {
            let b = &mut bytes[start + offset];
            *b = b'0' + (*b - b'0' + 1) % 10;
        }
        None => bytes.push(b' '),
    }
    String::from_utf8(bytes).expect("an ASCII digit replaced by another keeps UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v3::fixtures;
    use wxcoupon_core::v3::auth::{authorization, AuthorizationParams};
    use wxcoupon_core::v3::rsa::MerchantSigner;

    const NOW: i64 = 1_700_000_000;

    fn header(mchid: &str, serial: &str, ts: i64, message_url: &str, body: &str) -> String {
        let signer = MerchantSigner::from_pkcs8_pem(fixtures::MERCHANT_KEY_PEM).unwrap();
        let ts = ts.to_string();
        let message = request_message("POST", message_url, &ts, "abc", body);
        authorization(&AuthorizationParams {
            mchid: mchid.into(),
            nonce_str: "abc".into(),
            signature: signer.sign(&message),
            timestamp: ts,
            serial_no: serial.into(),
        })
    }

    #[test]
    fn every_request_check() {
        let id = MerchantIdentity::new("8956000", fixtures::MERCHANT_CERT_PEM).unwrap();
        assert_eq!(id.serial(), fixtures::MERCHANT_SERIAL_NO);
        let url = "/v3/marketing/favor/users/o%2F1/coupons";
        let check = |h: Option<&str>, url: &str, body: &str, now: i64| {
            id.authenticate(h, "POST", url, body, now)
        };
        let good = header("8956000", fixtures::MERCHANT_SERIAL_NO, NOW, url, "{}");
        assert_eq!(check(Some(&good), url, "{}", NOW), Ok(()));
        assert_eq!(check(Some(&good), url, "{}", NOW + 300), Ok(()));
        assert_eq!(
            check(Some(&good), url, "{}", NOW + 301),
            Err(AuthFailure::StaleTimestamp)
        );
        assert_eq!(
            check(Some(&good), url, "{ }", NOW),
            Err(AuthFailure::Signature)
        );
        assert_eq!(
            check(
                Some(&good),
                "/v3/marketing/favor/users/o%2f1/coupons",
                "{}",
                NOW
            ),
            Err(AuthFailure::Signature)
        );
        assert_eq!(check(None, url, "{}", NOW), Err(AuthFailure::Missing));
        assert_eq!(
            check(Some("Bearer x"), url, "{}", NOW),
            Err(AuthFailure::Malformed)
        );
        let other = header("1", fixtures::MERCHANT_SERIAL_NO, NOW, url, "{}");
        assert_eq!(
            check(Some(&other), url, "{}", NOW),
            Err(AuthFailure::UnknownMerchant)
        );
        let other = header("8956000", fixtures::PLATFORM_SERIAL_NO, NOW, url, "{}");
        assert_eq!(
            check(Some(&other), url, "{}", NOW),
            Err(AuthFailure::UnknownSerial)
        );
        let lower = header(
            "8956000",
            &fixtures::MERCHANT_SERIAL_NO.to_ascii_lowercase(),
            NOW,
            url,
            "{}",
        );
        assert_eq!(check(Some(&lower), url, "{}", NOW), Ok(()));
    }

    /// The shared vectors' requests, at their own clock: the three signed ones are accepted and
    /// both `request_negative` cases (a body changed after signing, a signature by another key)
    /// are `SIGN_ERROR(signature)`.
    #[test]
    fn the_vectors_requests_are_accepted_and_their_negatives_refused() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/v3/vectors.json")).unwrap();
        let id = MerchantIdentity::new("8956000", fixtures::MERCHANT_CERT_PEM).unwrap();
        let s = |c: &serde_json::Value, k: &str| c[k].as_str().unwrap().to_string();
        for case in v["request_signatures"].as_array().unwrap() {
            let now: i64 = s(case, "timestamp").parse().unwrap();
            let verdict = id.authenticate(
                Some(&s(case, "authorization")),
                &s(case, "method"),
                &s(case, "canonical_url"),
                &s(case, "body"),
                now,
            );
            assert_eq!(verdict, Ok(()), "{}", s(case, "name"));
        }
        let negatives = v["request_negative"].as_array().unwrap();
        assert_eq!(negatives.len(), 2);
        for case in negatives {
            let verdict = id.authenticate(
                Some(&s(case, "authorization")),
                &s(case, "method"),
                &s(case, "canonical_url"),
                &s(case, "body"),
                NOW,
            );
            assert_eq!(verdict, Err(AuthFailure::Signature), "{}", s(case, "name"));
            assert_eq!(case["expected"]["code"], "SIGN_ERROR");
        }
    }

    #[test]
    fn tampering_changes_the_coupon_id_or_the_body() {
        assert_eq!(
            tamper(r#"{"coupon_id":"1000000009"}"#),
            r#"{"coupon_id":"2000000009"}"#
        );
        assert_eq!(tamper(r#"{"a":"x9"}"#), r#"{"a":"x0"}"#);
        assert_eq!(tamper(""), " ");
    }
}
