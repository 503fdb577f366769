//! WeChat Pay API v3 (`marketing/favor`), without I/O. Issue 12 builds it up in steps; so far: [`auth`], the exact messages v3 signs and verifies, the `Authorization` header, and every
//! check of a signed answer before the RSA signature; `rsa` (feature `ring`), the signature itself
//! natively; `aead` (feature `ring`), the AES-256-GCM resources of callbacks and downloads.

#[cfg(feature = "ring")]
pub mod aead;
pub mod auth;
#[cfg(feature = "ring")]
pub mod rsa;
