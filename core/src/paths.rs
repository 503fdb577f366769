//! WeChat Pay's v2 coupon paths: the exact set wxcoupon ever sends, and a strict reader that
//! tells which endpoint a path is — or why it is none.
//!
//! The reader is the gate wherever a path decides what a request may do: the egress proxy
//! forwards only these paths and lends the merchant's client certificate only to
//! `send_coupon`; the outbound client presents the certificate by the same rule; the simulator
//! routes by it. A path is compared **after** strict checks that refuse everything a server or a
//! proxy in between might read differently (`;` parameters, `\` separators, `%` escapes, dot
//! segments, empty segments, non-ASCII), so no spelling reaches another endpoint.

use std::fmt;

use crate::merchant::SANDBOX_PREFIX;
use crate::request::Api;

/// The sandbox key endpoint (`getsignkey`), which exists under the sandbox prefix only.
pub const GET_SIGN_KEY_PATH: &str = "/sandboxnew/pay/getsignkey";

/// An endpoint wxcoupon talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// One of the three coupon APIs.
    Coupon(Api),
    /// `/sandboxnew/pay/getsignkey`: fetches the sandbox key.
    GetSignKey,
}

impl Endpoint {
    /// Whether a request to this endpoint needs the merchant's client certificate: only
    /// `send_coupon` does, so only `send_coupon` is ever given it.
    pub fn needs_client_certificate(self) -> bool {
        matches!(self, Endpoint::Coupon(api) if api.needs_client_certificate())
    }
}

/// A recognised path: the endpoint, and whether it is the sandbox's (`/sandboxnew`) copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WirePath {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Under `/sandboxnew` (WeChat's simulation system, its own stocks and key).
    pub sandbox: bool,
}

/// Why a path is not one of WeChat Pay's coupon paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathRefusal {
    /// Empty, or not starting with `/`.
    NotAbsolute,
    /// A byte outside printable ASCII (control characters, space, non-ASCII).
    NotPrintableAscii,
    /// A `%` escape: WeChat's paths have none, and decoding is where spellings diverge.
    PercentEscape,
    /// A `;` (path parameters, which some servers strip: `/a;x/../b`).
    Semicolon,
    /// A `\`, which some servers read as `/`.
    Backslash,
    /// An empty segment (`//`, a trailing `/`).
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// A well-formed path that is not one of the coupon endpoints.
    Unknown,
}

impl fmt::Display for PathRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathRefusal::NotAbsolute => "the path must start with /",
            PathRefusal::NotPrintableAscii => "the path must be printable ASCII",
            PathRefusal::PercentEscape => "the path must not contain % escapes",
            PathRefusal::Semicolon => "the path must not contain ;",
            PathRefusal::Backslash => "the path must not contain \\",
            PathRefusal::EmptySegment => "the path must not contain empty segments (//)",
            PathRefusal::DotSegment => "the path must not contain . or .. segments",
            PathRefusal::Unknown => "the path is not one of WeChat Pay's v2 coupon endpoints",
        })
    }
}

impl std::error::Error for PathRefusal {}

/// Every path [`classify_path`] accepts, in a fixed order: the three coupon APIs, their sandbox
/// copies, and `getsignkey`.
pub fn known_paths() -> impl Iterator<Item = String> {
    Api::ALL
        .into_iter()
        .map(|api| api.path().to_string())
        .chain(
            Api::ALL
                .into_iter()
                .map(|api| format!("{SANDBOX_PREFIX}{}", api.path())),
        )
        .chain(std::iter::once(GET_SIGN_KEY_PATH.to_string()))
}

/// Reads `path` (no query string, no scheme or authority) strictly, then looks it up among the
/// [`known_paths`]. Matching is exact and case-sensitive.
pub fn classify_path(path: &str) -> Result<WirePath, PathRefusal> {
    check_path_syntax(path)?;
    if path == GET_SIGN_KEY_PATH {
        return Ok(WirePath {
            endpoint: Endpoint::GetSignKey,
            sandbox: true,
        });
    }
    let (sandbox, rest) = match path.strip_prefix(SANDBOX_PREFIX) {
        Some(rest) => (true, rest),
        None => (false, path),
    };
    let api = Api::ALL
        .into_iter()
        .find(|api| api.path() == rest)
        .ok_or(PathRefusal::Unknown)?;
    Ok(WirePath {
        endpoint: Endpoint::Coupon(api),
        sandbox,
    })
}

/// Whether a request to `path` is to be sent with the merchant's client certificate: only when
/// it is `send_coupon` (its production or sandbox path), possibly below a base URL's own path
/// (`/prefix/mmpaymkttransfers/send_coupon`, a simulator or proxy mounted below the root). The
/// path must pass the same strict syntax as [`classify_path`].
pub fn needs_client_certificate(path: &str) -> bool {
    check_path_syntax(path).is_ok() && path.ends_with(Api::SendCoupon.path())
}

/// The syntax rules alone, in the order [`PathRefusal`] lists them.
fn check_path_syntax(path: &str) -> Result<(), PathRefusal> {
    let rest = path.strip_prefix('/').ok_or(PathRefusal::NotAbsolute)?;
    for byte in path.bytes() {
        match byte {
            b'%' => return Err(PathRefusal::PercentEscape),
            b';' => return Err(PathRefusal::Semicolon),
            b'\\' => return Err(PathRefusal::Backslash),
            b'!'..=b'~' => {}
            _ => return Err(PathRefusal::NotPrintableAscii),
        }
    }
    for segment in rest.split('/') {
        match segment {
            "" => return Err(PathRefusal::EmptySegment),
            "." | ".." => return Err(PathRefusal::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seven_paths_and_their_endpoints() {
        let paths: Vec<String> = known_paths().collect();
        assert_eq!(paths.len(), 7);
        for path in &paths {
            let wire = classify_path(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(wire.sandbox, path.starts_with("/sandboxnew"), "{path}");
        }
        assert_eq!(
            classify_path("/mmpaymkttransfers/send_coupon").unwrap(),
            WirePath {
                endpoint: Endpoint::Coupon(Api::SendCoupon),
                sandbox: false
            }
        );
        assert_eq!(
            classify_path("/sandboxnew/pay/getsignkey")
                .unwrap()
                .endpoint,
            Endpoint::GetSignKey
        );
        let with_certificate: Vec<&String> = paths
            .iter()
            .filter(|p| {
                classify_path(p)
                    .unwrap()
                    .endpoint
                    .needs_client_certificate()
            })
            .collect();
        assert_eq!(
            with_certificate,
            [
                "/mmpaymkttransfers/send_coupon",
                "/sandboxnew/mmpaymkttransfers/send_coupon"
            ]
        );
    }

    #[test]
    fn the_certificate_goes_with_send_coupon_only() {
        for path in [
            "/mmpaymkttransfers/send_coupon",
            "/sandboxnew/mmpaymkttransfers/send_coupon",
            "/wechat/mmpaymkttransfers/send_coupon",
        ] {
            assert!(needs_client_certificate(path), "{path}");
        }
        for path in [
            "/mmpaymkttransfers/query_coupon_stock",
            "/mmpaymkttransfers/querycouponsinfo",
            "/sandboxnew/pay/getsignkey",
            "/secapi/pay/refund",
            "/mmpaymkttransfers/promotion/transfers",
            "/x/../mmpaymkttransfers/send_coupon",
            "/mmpaymkttransfers/send_coupon/",
            "/a;b/mmpaymkttransfers/send_coupon",
            "/mmpaymkttransfers/xsend_coupon",
        ] {
            assert!(!needs_client_certificate(path), "{path}");
        }
    }

    #[test]
    fn everything_else_is_refused_with_its_reason() {
        use PathRefusal::*;
        for (path, why) in [
            ("", NotAbsolute),
            ("mmpaymkttransfers/send_coupon", NotAbsolute),
            ("/mmpaymkttransfers/promotion/transfers", Unknown),
            ("/mmpaymkttransfers/sendredpack", Unknown),
            ("/mmpaymkttransfers/gethbinfo", Unknown),
            ("/secapi/pay/refund", Unknown),
            ("/pay/getsignkey", Unknown),
            ("/sandboxnew/secapi/pay/refund", Unknown),
            ("/MMPAYMKTTRANSFERS/send_coupon", Unknown),
            ("/mmpaymkttransfers/..;/secapi/pay/refund", Semicolon),
            ("/mmpaymkttransfers/send_coupon;x=1", Semicolon),
            ("/mmpaymkttransfers\\..\\secapi\\pay\\refund", Backslash),
            ("/mmpaymkttransfers/%2e%2e/secapi/pay/refund", PercentEscape),
            ("/mmpaymkttransfers/send%5fcoupon", PercentEscape),
            ("/mmpaymkttransfers/../secapi/pay/refund", DotSegment),
            ("/mmpaymkttransfers/./send_coupon", DotSegment),
            ("/sandboxnew/..", DotSegment),
            ("/mmpaymkttransfers//send_coupon", EmptySegment),
            ("//mmpaymkttransfers/send_coupon", EmptySegment),
            ("/mmpaymkttransfers/send_coupon/", EmptySegment),
            ("/mmpaymkttransfers/s\u{e9}nd_coupon", NotPrintableAscii),
            ("/mmpaymkttransfers/send coupon", NotPrintableAscii),
            ("/mmpaymkttransfers/send_coupon\t", NotPrintableAscii),
        ] {
            assert_eq!(classify_path(path), Err(why), "{path:?}");
        }
    }
}
