//! Reading a v3 answer: non-2xx and 202 become a [`Refusal`] from `{code, message, detail}`
//! (not verified: nothing in them is used, as every SDK does), every other 2xx is verified —
//! headers → clock → key by serial → signature — before its body is read into a type.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::auth::{check_signed_answer, ToVerify};
use super::error::{Error, Refusal, RefusalDetail};
use super::favor::{Coupon, IssuedCoupon, Stock};
use super::merchant::Merchant;
use super::rsa::Verifiers;
use crate::error::MalformedResponse;

/// An answer as the HTTP layer received it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// Every header (names in any case).
    pub headers: Vec<(String, String)>,
    /// The body, as text (a body that is not UTF-8 is the HTTP layer's malformed answer).
    pub body: String,
}

impl Answer {
    /// The first header of that name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Deserialize)]
struct RefusalBody {
    code: Option<String>,
    message: Option<String>,
    detail: Option<DetailBody>,
}

#[derive(Deserialize)]
struct DetailBody {
    field: Option<String>,
    value: Option<serde_json::Value>,
    issue: Option<String>,
    location: Option<String>,
}

/// The refusal a non-2xx (or 202) answer stands for.
pub fn refusal(status: u16, body: &str) -> Refusal {
    let parsed: Option<RefusalBody> = serde_json::from_str(body).ok();
    let (code, message, detail) = match parsed {
        Some(b) => (
            b.code,
            b.message,
            b.detail.map(|d| RefusalDetail {
                field: d.field,
                value: d.value.map(|v| match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                }),
                issue: d.issue,
                location: d.location,
            }),
        ),
        None => (None, None, None),
    };
    Refusal::new(status, code, message, detail)
}

/// A non-2xx (or 202) answer as its refusal; every other answer passes. The one status rule of
/// every reader (answers, the certificate download).
pub(crate) fn not_refused(answer: &Answer) -> Result<(), Error> {
    if !(200..300).contains(&answer.status) || answer.status == 202 {
        return Err(Error::Refused(Box::new(refusal(
            answer.status,
            &answer.body,
        ))));
    }
    Ok(())
}

/// The status rule, then every check before the signature, with the merchant's keys.
fn checked(verifiers: &Verifiers, answer: &Answer, now: i64) -> Result<ToVerify, Error> {
    not_refused(answer)?;
    Ok(check_signed_answer(
        |name| answer.header(name),
        &answer.body,
        now,
        |serial| verifiers.holds(serial),
    )?)
}

/// The body of a verified 2xx answer, or why there is none.
pub fn read_answer<'a>(
    verifiers: &Verifiers,
    answer: &'a Answer,
    now: i64,
) -> Result<&'a str, Error> {
    let to_verify = checked(verifiers, answer, now)?;
    verifiers.verify(&to_verify)?;
    Ok(&answer.body)
}

/// An answer checked up to its signature ([`check_answer`]): what a host verifying natively
/// verifies (SHA256withRSA of `message` with `public_key_der`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerSignature {
    /// The serial the answer names (a key held).
    pub serial: String,
    /// `TIMESTAMP\nNONCE\nBODY\n`.
    pub message: String,
    /// The Base64 signature.
    pub signature: String,
    /// The key the serial names, PKCS#1 `RSAPublicKey` DER.
    pub public_key_der: Vec<u8>,
}

/// Every check of an answer but the RSA signature: a refusal from a non-2xx (or 202), else the
/// headers, the clock and the serial; returns what is left to verify. For hosts that verify
/// natively (wasm pays ≈ 400 µs a verification, native code ≈ 20 µs); they then read the body
/// with the `read_*` functions, which do not verify again.
pub fn check_answer(
    verifiers: &Verifiers,
    answer: &Answer,
    now: i64,
) -> Result<AnswerSignature, Error> {
    Ok(signature_of(verifiers, checked(verifiers, answer, now)?)?)
}

/// What is left to verify of a checked answer or callback, with the key its serial names.
pub(crate) fn signature_of(
    verifiers: &Verifiers,
    to_verify: ToVerify,
) -> Result<AnswerSignature, super::auth::AnswerRefusal> {
    let public_key_der = verifiers
        .public_key_der(&to_verify.serial)
        .ok_or(super::auth::AnswerRefusal::UnknownSerial)?
        .to_vec();
    Ok(AnswerSignature {
        serial: to_verify.serial,
        message: to_verify.message,
        signature: to_verify.signature,
        public_key_der,
    })
}

/// A verified body as `T`.
pub fn json<T: DeserializeOwned>(body: &str) -> Result<T, Error> {
    serde_json::from_str(body).map_err(|e| {
        Error::MalformedResponse(MalformedResponse::document(format!(
            "not the JSON answer expected ({} at line {} column {})",
            match e.classify() {
                serde_json::error::Category::Data => "a field is missing or of the wrong type",
                serde_json::error::Category::Eof => "the body ends early",
                _ => "not JSON",
            },
            e.line(),
            e.column()
        )))
    })
}

/// The issue call's answer from a body already verified.
pub fn read_issue_coupon(body: &str) -> Result<IssuedCoupon, Error> {
    let issued: IssuedCoupon = json(body)?;
    if issued.coupon_id.is_empty() {
        return Err(MalformedResponse::field("coupon_id", "empty").into());
    }
    Ok(issued)
}

impl Merchant {
    /// The issue call's answer.
    pub fn parse_issue_coupon(&self, answer: &Answer, now: i64) -> Result<IssuedCoupon, Error> {
        read_issue_coupon(self.read_answer(answer, now)?)
    }

    /// [`check_answer`] with this merchant's keys.
    pub fn check_answer(&self, answer: &Answer, now: i64) -> Result<AnswerSignature, Error> {
        check_answer(self.verifiers(), answer, now)
    }

    /// The stock query's answer.
    pub fn parse_query_stock(&self, answer: &Answer, now: i64) -> Result<Stock, Error> {
        json(self.read_answer(answer, now)?)
    }

    /// The coupon query's answer.
    pub fn parse_query_coupon(&self, answer: &Answer, now: i64) -> Result<Coupon, Error> {
        json(self.read_answer(answer, now)?)
    }
}
