//! WeChat Pay API v3 (`marketing/favor`), without I/O.
//!
//! - [`auth`]: the exact messages v3 signs and verifies, the `Authorization` header, and every
//!   check of a signed answer before its RSA signature (no cryptography, always built);
//! - `rsa`, `aead` (feature `ring`): SHA256withRSA and AES-256-GCM with ring, natively and in the
//!   component alike;
//! - the rest (feature `v3`): [`call`] what every call is (one trait, one generic path),
//!   [`favor`] issuing and querying coupons and the objects, [`stocks`] the stock life cycle and
//!   listings, [`flows`] the use and refund files, [`callbacks`] the notify-URL setting,
//!   [`notification`] the `COUPON.USE` callback, [`status`] the state enums, [`request`] the
//!   two-step request (the message to sign, then the signed request), [`answer`] reading
//!   answers, [`certificates`] the platform-certificate download, [`merchant`] the merchant
//!   read once, [`error`] the error of every v3 call.
//!
//! A call, sans-IO: `favor::IssueCoupon{..}.request()?` → `.to_sign(now, nonce)?` → sign
//! `message` (natively, an HSM, or [`merchant::Merchant::sign`]) →
//! `merchant.with_signature(to_sign, sig)?` → send it → `merchant.parse_issue_coupon(&answer, now)`.

#[cfg(feature = "ring")]
pub mod aead;
#[cfg(feature = "v3")]
pub mod answer;
pub mod auth;
#[cfg(feature = "v3")]
pub mod call;
#[cfg(feature = "v3")]
pub mod callbacks;
#[cfg(feature = "v3")]
pub mod certificates;
#[cfg(feature = "v3")]
pub mod error;
#[cfg(feature = "v3")]
pub mod favor;
#[cfg(feature = "v3")]
pub mod flows;
#[cfg(feature = "v3")]
pub mod merchant;
#[cfg(feature = "v3")]
pub mod notification;
#[cfg(feature = "v3")]
pub mod request;
#[cfg(feature = "ring")]
pub mod rsa;
#[cfg(feature = "v3")]
pub mod status;
#[cfg(feature = "v3")]
pub mod stocks;
