//! The coupon-use callback (`COUPON.USE`), without I/O: what a notify endpoint does with the
//! headers and body WeChat POSTs.
//!
//! 1. A `Wechatpay-Signature` starting with `WECHATPAY/SIGNTEST/` is WeChat's probe: refused as
//!    [`NotificationError::Probe`] before anything else, never treated as verified.
//! 2. The HTTP signature, with the same checks as an answer (headers → clock → key by serial →
//!    signature) and the merchant's whole key set: during a migration to the WeChat Pay public
//!    key, callbacks arrive under either key, so both are held and `Wechatpay-Serial` picks.
//! 3. `resource` decrypted (AES-256-GCM, the APIv3 key): a wrong key or any changed byte yields
//!    no plaintext.
//! 4. The typed event: the coupon with how it was used.
//!
//! Answer WeChat within 5 s: 200/204 once handled, a failure status (with
//! [`failure_body`]) to have it delivered again. Deliveries repeat: be idempotent on
//! [`CouponUseEvent::id`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::answer::{json, signature_of, AnswerSignature};
use super::auth::{check_signed_answer, AnswerRefusal, SIGNATURE_HEADER};
use super::certificates::EncryptedResource;
use super::favor::Coupon;
use super::merchant::Merchant;
use crate::error::MalformedResponse;

/// The prefix of a probe's signature.
pub const PROBE_SIGNATURE_PREFIX: &str = "WECHATPAY/SIGNTEST/";

/// The event type this module reads.
pub const COUPON_USE: &str = "COUPON.USE";

/// A callback's body, as sent (the simulator writes it with the same type).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationBody {
    /// The event's id: the same on every delivery of one event.
    pub id: String,
    /// When the event happened (RFC 3339).
    pub create_time: String,
    /// `COUPON.USE`.
    pub event_type: String,
    /// `encrypt-resource`.
    pub resource_type: String,
    /// WeChat's one-line summary (`代金券核销通知`).
    #[serde(default)]
    pub summary: String,
    /// The event, encrypted.
    pub resource: NotificationResource,
}

/// A callback's encrypted resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationResource {
    /// `coupon`.
    #[serde(default)]
    pub original_type: String,
    /// `AEAD_AES_256_GCM`.
    pub algorithm: String,
    /// Base64 of ciphertext and tag.
    pub ciphertext: String,
    /// The associated data (`coupon`); empty when absent.
    #[serde(default)]
    pub associated_data: String,
    /// 12 characters.
    pub nonce: String,
}

/// A "discount off a single item's price" rule of a used coupon.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SingleitemDiscountOff {
    /// The highest single price it applies to, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_price_max: Option<u64>,
}

/// A "pay only this much" rule of a used coupon.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountTo {
    /// The price paid, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_to_price: Option<u64>,
    /// The highest price it applies to, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<u64>,
}

/// A coupon was used: the event, verified and decrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponUseEvent {
    /// The event's id (deduplicate on it).
    pub id: String,
    /// When it happened.
    pub create_time: String,
    /// `COUPON.USE`.
    pub event_type: String,
    /// WeChat's summary.
    pub summary: String,
    /// The coupon, with `consume_information` (when, where, which payment, which goods).
    pub coupon: Coupon,
    /// Its single-item discount rule, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub singleitem_discount_off: Option<SingleitemDiscountOff>,
    /// Its "pay only this much" rule, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_to: Option<DiscountTo>,
}

/// Why a callback is not handed over. Every case is answered to WeChat with a failure status;
/// none of them carries plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "kebab-case"))]
pub enum NotificationError {
    /// A `WECHATPAY/SIGNTEST/` probe: never verified.
    Probe,
    /// The HTTP signature does not hold.
    NotVerified {
        /// Which check failed.
        refusal: AnswerRefusal,
    },
    /// `resource` does not decrypt (a wrong APIv3 key, or altered): no plaintext.
    NotDecrypted {
        /// What is wrong, without key or plaintext.
        problem: String,
    },
    /// Verified, but not the body or plaintext expected.
    Malformed(MalformedResponse),
    /// Verified, but another event type: named.
    OtherEvent {
        /// The `event_type`.
        event_type: String,
    },
}

impl fmt::Display for NotificationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotificationError::Probe => {
                f.write_str("a WeChat Pay signature probe (WECHATPAY/SIGNTEST/): not verified")
            }
            NotificationError::NotVerified { refusal } => {
                write!(f, "the callback is not verified: {refusal}")
            }
            NotificationError::NotDecrypted { problem } => {
                write!(f, "the callback does not decrypt: {problem}")
            }
            NotificationError::Malformed(m) => write!(f, "the callback is malformed: {m}"),
            NotificationError::OtherEvent { event_type } => {
                write!(f, "the callback is a {event_type} event, not {COUPON_USE}")
            }
        }
    }
}

impl std::error::Error for NotificationError {}

impl From<AnswerRefusal> for NotificationError {
    fn from(refusal: AnswerRefusal) -> Self {
        NotificationError::NotVerified { refusal }
    }
}

impl NotificationError {
    /// The status to answer WeChat with: 401 for what does not verify (a probe included),
    /// 400 for the rest. Any failure status makes WeChat deliver again.
    pub fn http_status(&self) -> u16 {
        match self {
            NotificationError::Probe | NotificationError::NotVerified { .. } => 401,
            _ => 400,
        }
    }
}

/// The body of a failure answer to WeChat (`{"code":"FAIL","message":…}`).
pub fn failure_body(message: &str) -> String {
    serde_json::json!({ "code": "FAIL", "message": message }).to_string()
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether these headers are a probe's.
pub fn is_probe(headers: &[(String, String)]) -> bool {
    header(headers, SIGNATURE_HEADER).is_some_and(|s| s.trim().starts_with(PROBE_SIGNATURE_PREFIX))
}

impl Merchant {
    /// Verifies, decrypts and reads a coupon-use callback: the whole of a notify endpoint's
    /// work but answering. `now` is Unix seconds.
    pub fn read_coupon_use(
        &self,
        headers: &[(String, String)],
        body: &str,
        now: i64,
    ) -> Result<CouponUseEvent, NotificationError> {
        let signature = self.check_notification(headers, body, now)?;
        if !super::rsa::verify_with_public_key_der(
            &signature.public_key_der,
            &signature.message,
            &signature.signature,
        ) {
            return Err(AnswerRefusal::Signature.into());
        }
        self.open_coupon_use(body)
    }

    /// Every check of a callback but the RSA signature (the probe, headers, clock, serial), and
    /// what is left to verify — for hosts that verify natively; then [`Merchant::open_coupon_use`].
    pub fn check_notification(
        &self,
        headers: &[(String, String)],
        body: &str,
        now: i64,
    ) -> Result<AnswerSignature, NotificationError> {
        if is_probe(headers) {
            return Err(NotificationError::Probe);
        }
        let verifiers = self.verifiers();
        let to_verify =
            check_signed_answer(|n| header(headers, n), body, now, |s| verifiers.holds(s))?;
        Ok(signature_of(verifiers, to_verify)?)
    }

    /// Decrypts and reads a callback whose signature is verified. Never hand it a body whose
    /// signature was not.
    pub fn open_coupon_use(&self, body: &str) -> Result<CouponUseEvent, NotificationError> {
        let notification: NotificationBody = json(body).map_err(|e| match e {
            super::error::Error::MalformedResponse(m) => NotificationError::Malformed(m),
            other => NotificationError::Malformed(MalformedResponse::document(other.to_string())),
        })?;
        if notification.event_type != COUPON_USE {
            return Err(NotificationError::OtherEvent {
                event_type: notification.event_type,
            });
        }
        let resource = EncryptedResource {
            algorithm: notification.resource.algorithm,
            nonce: notification.resource.nonce,
            associated_data: notification.resource.associated_data,
            ciphertext: notification.resource.ciphertext,
        };
        let plaintext = self
            .open_resource(&resource)
            .map_err(|problem| NotificationError::NotDecrypted { problem })?;
        let mut coupon: Coupon = serde_json::from_str(&plaintext).map_err(|_| {
            NotificationError::Malformed(MalformedResponse::field(
                "resource",
                "the plaintext is not the coupon expected",
            ))
        })?;
        let take = |coupon: &mut Coupon, name: &str| coupon.extra.remove(name);
        let singleitem_discount_off = take(&mut coupon, "singleitem_discount_off")
            .and_then(|v| serde_json::from_value(v).ok());
        let discount_to =
            take(&mut coupon, "discount_to").and_then(|v| serde_json::from_value(v).ok());
        Ok(CouponUseEvent {
            id: notification.id,
            create_time: notification.create_time,
            event_type: notification.event_type,
            summary: notification.summary,
            coupon,
            singleitem_discount_off,
            discount_to,
        })
    }
}
