//! The WeChat Pay v2 coupon simulator (being built).
