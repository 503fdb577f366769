//! Who may call the JSON API: named bearer tokens kept as SHA-256 hashes, and the `Host`
//! names a loopback gateway answers to.
//!
//! Every route under `/v1/` needs `authorization: Bearer <token>` once any token is configured;
//! `GET /healthz` never does (it shows nothing secret). Tokens are configured as
//! `name:sha256hex` pairs (the setting `WXPAY_GATEWAY_TOKENS` in the component,
//! `caller_tokens` in the Envoy filter, `--caller-token` / `WXPAY_GATEWAY_TOKENS` for
//! `wxcoupon serve`), several at once so that one can be rotated without downtime: add the new
//! one, move the callers, drop the old one. The gateway never holds a token itself — only its
//! hash — and compares the hash of what it is sent with **every** configured hash in constant
//! time, so neither which token matched nor how much of it did shows in the timing. The name of
//! the token that matched is the caller's name in the access log.
//!
//! The `Host` check defends a gateway on loopback against DNS rebinding: a page on
//! `evil.example` that resolves to 127.0.0.1 reaches the listener, but with `host:
//! evil.example`, which is refused.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::errors::ApiError;

/// The setting that holds the tokens (comma-separated `name:sha256hex`).
pub const TOKENS_SETTING: &str = "WXPAY_GATEWAY_TOKENS";

/// The realm named in `www-authenticate`.
pub const REALM: &str = "wxcoupon";

/// Longest caller name accepted (it goes into log lines).
pub const MAX_CALLER_NAME_CHARS: usize = 64;

/// The configured callers: names and the SHA-256 of their tokens. Its `Debug` shows the names
/// only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CallerTokens {
    callers: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for CallerTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.callers.iter().map(|(name, _)| name))
            .finish()
    }
}

impl CallerTokens {
    /// No callers: the API is open (a gateway reachable only by trusted processes).
    pub fn none() -> CallerTokens {
        CallerTokens::default()
    }

    /// Reads `name:sha256hex[,name:sha256hex…]` (white space around items ignored). The rule
    /// broken is returned as text naming the item by position, never echoing a hash.
    pub fn parse(setting: &str) -> Result<CallerTokens, String> {
        let mut callers: Vec<(String, [u8; 32])> = Vec::new();
        for (i, item) in setting
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let n = i + 1;
            let (name, hex) = item.split_once(':').ok_or_else(|| {
                format!("item {n}: must be NAME:SHA256HEX (the hex SHA-256 of the token)")
            })?;
            let name = name.trim();
            if name.is_empty()
                || name.chars().count() > MAX_CALLER_NAME_CHARS
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
            {
                return Err(format!(
                    "item {n}: the name must be 1–{MAX_CALLER_NAME_CHARS} letters, digits or - _ . @"
                ));
            }
            let hash = parse_sha256_hex(hex.trim()).ok_or_else(|| {
                format!("item {n} ({name}): the hash must be 64 hexadecimal characters (SHA-256)")
            })?;
            if callers.iter().any(|(other, _)| other == name) {
                return Err(format!("item {n}: the name {name} appears more than once"));
            }
            callers.push((name.to_string(), hash));
        }
        Ok(CallerTokens { callers })
    }

    /// From `(name, token)` pairs: hashes the tokens (for tests and programmatic set-up).
    pub fn from_tokens<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> CallerTokens {
        CallerTokens {
            callers: pairs
                .into_iter()
                .map(|(name, token)| (name.to_string(), token_hash(token)))
                .collect(),
        }
    }

    /// Whether no caller is configured (the API is then open).
    pub fn is_empty(&self) -> bool {
        self.callers.is_empty()
    }

    /// The configured names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.callers.iter().map(|(name, _)| name.as_str())
    }

    /// Checks a request's `authorization` header (its first value). `Ok(Some(name))`: the
    /// caller; `Ok(None)`: no callers are configured; otherwise `401 UNAUTHORIZED` with a
    /// `www-authenticate` challenge.
    pub fn authorize(&self, authorization: Option<&str>) -> Result<Option<&str>, ApiError> {
        if self.callers.is_empty() {
            return Ok(None);
        }
        let token = authorization.and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim())
                .filter(|t| !t.is_empty())
        });
        let Some(token) = token else {
            return Err(unauthorized(
                "invalid_request",
                "this route needs authorization: Bearer <token>",
            ));
        };
        let presented = token_hash(token);
        // Every hash is compared, whatever matched before.
        let mut matched: Option<usize> = None;
        for (i, (_, hash)) in self.callers.iter().enumerate() {
            if bool::from(hash.ct_eq(&presented)) {
                matched = Some(i);
            }
        }
        match matched {
            Some(i) => Ok(Some(self.callers[i].0.as_str())),
            None => Err(unauthorized(
                "invalid_token",
                "the bearer token is not accepted",
            )),
        }
    }
}

/// The hex SHA-256 of `token`, as the settings hold it (what `wxcoupon serve` prints for a new
/// token, and `printf %s TOKEN | sha256sum` computes).
pub fn token_hash_hex(token: &str) -> String {
    token_hash(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `401 UNAUTHORIZED` with the RFC 6750 challenge.
fn unauthorized(error: &'static str, message: &str) -> ApiError {
    ApiError {
        www_authenticate: Some(format!("Bearer realm=\"{REALM}\", error=\"{error}\"")),
        ..ApiError::new(401, "UNAUTHORIZED", message)
    }
}

/// Whether the route is one that callers must authenticate for: everything under `/v1`.
pub fn needs_caller(target: &str) -> bool {
    let path = target.split('?').next().unwrap_or(target);
    // WeChat Pay calls the notification route: its signature, not a token, authenticates it.
    path != crate::NOTIFICATION_PATH && (path == "/v1" || path.starts_with("/v1/"))
}

/// Checks a request's `Host` (`host` header or the authority of an absolute target) against
/// `allowed` names (case-insensitive, without port; an entry with a port must match exactly).
/// A missing host is refused too. `421 MISDIRECTED_REQUEST` otherwise.
pub fn check_host(host: Option<&str>, allowed: &[String]) -> Result<(), ApiError> {
    let refused = || {
        ApiError::new(
            421,
            "MISDIRECTED_REQUEST",
            "this gateway does not answer to that host name (wxcoupon serve: add it with --host-name)",
        )
    };
    let host = host
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or_else(refused)?;
    let name = host_name(host);
    let ok = allowed.iter().any(|entry| {
        let entry = entry.trim();
        if entry.eq_ignore_ascii_case(host) {
            return true;
        }
        // An entry without a port allows the name on any port.
        host_name(entry).len() == entry.len() && entry.eq_ignore_ascii_case(name)
    });
    if ok {
        Ok(())
    } else {
        Err(refused())
    }
}

/// `host[:port]` → `host` (`[::1]:8080` → `[::1]`).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// The names a gateway listening on loopback `listen` answers to: `localhost`, `127.0.0.1`,
/// `[::1]`, the listen address itself (`127.0.0.1:8080`), plus `extra`.
pub fn loopback_host_names(listen: &str, extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "[::1]", listen]
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(extra.iter().cloned());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &str = "s3cret-token-of-ops";

    fn tokens() -> CallerTokens {
        CallerTokens::parse(&format!(
            " ops:{} , batch:{}",
            token_hash_hex(OPS),
            token_hash_hex("other")
        ))
        .unwrap()
    }

    #[test]
    fn a_configured_token_names_its_caller() {
        let t = tokens();
        assert_eq!(t.names().collect::<Vec<_>>(), ["ops", "batch"]);
        assert_eq!(
            t.authorize(Some(&format!("Bearer {OPS}"))).unwrap(),
            Some("ops")
        );
        assert_eq!(t.authorize(Some("bearer other")).unwrap(), Some("batch"));
        assert_eq!(CallerTokens::none().authorize(None).unwrap(), None);
    }

    #[test]
    fn anything_else_is_401_with_a_challenge() {
        let t = tokens();
        for header in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic b3BzOnB3"),
            Some("Bearer s3cret-token-of-op"),
            Some("Bearer s3cret-token-of-opsX"),
        ] {
            let e = t.authorize(header).unwrap_err();
            assert_eq!((e.status, e.code), (401, "UNAUTHORIZED"), "{header:?}");
            assert!(e
                .www_authenticate
                .as_deref()
                .unwrap()
                .starts_with("Bearer realm=\"wxcoupon\""));
            assert!(!e.message.contains(OPS));
        }
    }

    #[test]
    fn settings_name_the_broken_item_never_the_hash() {
        let hash = token_hash_hex(OPS);
        for (setting, rule) in [
            ("ops", "item 1: must be NAME:SHA256HEX"),
            (
                &format!("ops:{}", &hash[..63]) as &str,
                "item 1 (ops): the hash",
            ),
            (&format!(":{hash}"), "item 1: the name"),
            (&format!("a b:{hash}"), "item 1: the name"),
            (
                &format!("ops:{hash},ops:{hash}"),
                "item 2: the name ops appears",
            ),
        ] {
            let e = CallerTokens::parse(setting).unwrap_err();
            assert!(e.starts_with(rule), "{setting}: {e}");
            assert!(!e.contains(&hash[..16]), "{e}");
        }
        assert!(CallerTokens::parse(" , ").unwrap().is_empty());
        assert_eq!(format!("{:?}", tokens()), r#"["ops", "batch"]"#);
    }

    #[test]
    fn the_v1_routes_need_a_caller_health_does_not() {
        assert!(needs_caller("/v1/coupons"));
        assert!(needs_caller("/v1/stocks/1?x"));
        assert!(needs_caller("/v1"));
        assert!(!needs_caller("/healthz"));
        assert!(!needs_caller("/v1x"));
    }

    #[test]
    fn hosts_outside_the_list_are_misdirected() {
        let allowed = loopback_host_names("127.0.0.1:8080", &["coupons.internal".to_string()]);
        for ok in [
            "localhost",
            "localhost:8080",
            "LOCALHOST:9",
            "127.0.0.1:8080",
            "[::1]:8080",
            "coupons.internal",
            "coupons.internal:443",
        ] {
            assert!(check_host(Some(ok), &allowed).is_ok(), "{ok}");
        }
        for refused in [
            None,
            Some(""),
            Some("evil.example"),
            Some("evil.example:8080"),
            Some("localhost.evil.example"),
            Some("127.0.0.2:8080"),
        ] {
            let e = check_host(refused, &allowed).unwrap_err();
            assert_eq!(e.status, 421, "{refused:?}");
        }
    }
}
