//! WeChat Pay API v3 (`marketing/favor`), without I/O. Issue 12 builds it up in steps; this step
//! is [`auth`]: the exact messages v3 signs and verifies, the `Authorization` header, and every
//! check of a signed answer that comes before the RSA signature itself.

pub mod auth;
