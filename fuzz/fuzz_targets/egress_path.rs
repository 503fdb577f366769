//! Owns the egress proxy's path check, the core's strict path classifier
//! (`wxcoupon_core::paths::classify_path`, which `wxcoupon::egress::path_allowed` calls) and
//! the certificate rule beside it (`paths::needs_client_certificate`).
//!
//! Input: a request target as a client sends it. It is classified twice: as text directly,
//! and the way the proxy sees it (`http::Uri`, hyper's parser, then `uri.path()`).
//!
//! Checks: an accepted path is one of the seven `known_paths`, printable ASCII, without `%`,
//! `;`, `\`, empty, `.` or `..` segments; the certificate goes with `send_coupon` only; and the
//! URL the proxy forwards to (origin + its prefix + the path and query it checked) has exactly
//! the checked path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wxcoupon_core::paths::{classify_path, known_paths, needs_client_certificate, Endpoint};
use wxcoupon_core::Api;

fn check(path: &str) -> bool {
    let certificate = needs_client_certificate(path);
    if certificate {
        assert!(path.ends_with(Api::SendCoupon.path()), "{path:?}");
    }
    let Ok(wire) = classify_path(path) else {
        return false;
    };
    assert!(path.starts_with('/'), "{path:?}");
    assert!(path.bytes().all(|b| b.is_ascii_graphic()), "{path:?}");
    for forbidden in ["%", ";", "\\", "//"] {
        assert!(!path.contains(forbidden), "{path:?} has {forbidden}");
    }
    for segment in path[1..].split('/') {
        assert!(!matches!(segment, "" | "." | ".."), "{path:?}");
    }
    assert!(
        known_paths().any(|known| known == path),
        "{path:?} is not a known path"
    );
    assert_eq!(wire.sandbox, path.starts_with("/sandboxnew/"), "{path:?}");
    assert_eq!(
        wire.endpoint.needs_client_certificate(),
        wire.endpoint == Endpoint::Coupon(Api::SendCoupon),
    );
    assert_eq!(
        certificate,
        wire.endpoint.needs_client_certificate(),
        "{path:?}"
    );
    true
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    let Ok(uri) = http::Uri::try_from(data) else {
        return;
    };
    let path = uri.path();
    if !check(path) {
        return;
    }
    let path_and_query = uri.path_and_query().map_or(path, |pq| pq.as_str());
    let forwarded = format!("https://api.mch.weixin.qq.com/egress-prefix{path_and_query}");
    if let Ok(out) = forwarded.parse::<http::Uri>() {
        assert_eq!(
            out.path(),
            format!("/egress-prefix{path}"),
            "forwarded {forwarded:?}"
        );
    }
});
