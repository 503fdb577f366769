//! Which destinations the component may reach, and which of them receive the client certificate.
//!
//! An entry is a scheme, a host and a port. The default list holds WeChat Pay's API hosts
//! (`https://api.mch.weixin.qq.com:443`, `https://api2.mch.weixin.qq.com:443`), both as
//! identity hosts. A configured base URL (the simulator, an egress proxy) is added as an identity
//! host too: it is the merchant's WeChat endpoint. Extra hosts added with
//! [`AllowList::with_host`] are reachable without the certificate. Everything else is denied
//! before any connection is made.
//!
//! Matching is exact: host names compare case-insensitively (a trailing dot ignored), IP
//! addresses literally, the port must match (default 443 for https, 80 for http), and so must the
//! scheme — allowing `https://h:443` does not allow plaintext `http://h:443`.

use std::fmt;

use http::Uri;

/// WeChat Pay's production API host.
pub const WECHAT_API_HOST: &str = "api.mch.weixin.qq.com";
/// WeChat Pay's backup API host.
pub const WECHAT_BACKUP_API_HOST: &str = "api2.mch.weixin.qq.com";

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP (a loopback simulator, a local proxy).
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// The port a URL without one uses.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// One reachable destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    /// The scheme requests must use.
    pub scheme: Scheme,
    /// The host: a lower-case name, or an IP address (IPv6 without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
    /// Whether requests to it present the merchant's client certificate.
    pub identity: bool,
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_origin(f, self.scheme, &self.host, self.port)
    }
}

/// Where a request wants to go, read from its URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The scheme.
    pub scheme: Scheme,
    /// The normalised host (lower case, no brackets, no trailing dot).
    pub host: String,
    /// The port, explicit or the scheme's default.
    pub port: u16,
}

impl Destination {
    /// Reads the destination of an absolute URI; `None` without a supported scheme or a host.
    pub fn from_uri(uri: &Uri) -> Option<Destination> {
        let scheme = match uri.scheme_str()? {
            s if s.eq_ignore_ascii_case("https") => Scheme::Https,
            s if s.eq_ignore_ascii_case("http") => Scheme::Http,
            _ => return None,
        };
        let host = normalise_host(uri.host()?)?;
        let port = uri.port_u16().unwrap_or(scheme.default_port());
        Some(Destination { scheme, host, port })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_origin(f, self.scheme, &self.host, self.port)
    }
}

/// Writes `scheme://host:port`, bracketing an IPv6 host.
fn write_origin(f: &mut fmt::Formatter<'_>, scheme: Scheme, host: &str, port: u16) -> fmt::Result {
    let scheme = scheme.as_str();
    if host.contains(':') {
        write!(f, "{scheme}://[{host}]:{port}")
    } else {
        write!(f, "{scheme}://{host}:{port}")
    }
}

/// A host or URL that cannot be put on the allow-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowListError {
    /// What was given.
    pub input: String,
    /// What is wrong.
    pub problem: &'static str,
}

impl fmt::Display for AllowListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.input, self.problem)
    }
}

impl std::error::Error for AllowListError {}

/// The destinations outbound requests may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<AllowedHost>,
}

impl Default for AllowList {
    /// WeChat Pay's API hosts (production and backup), https on 443, both with the identity.
    fn default() -> Self {
        let mut list = AllowList::deny_all();
        for host in [WECHAT_API_HOST, WECHAT_BACKUP_API_HOST] {
            list.allow(Scheme::Https, host, 443, true);
        }
        list
    }
}

impl AllowList {
    /// A list that allows nothing.
    pub fn deny_all() -> AllowList {
        AllowList {
            entries: Vec::new(),
        }
    }

    /// Adds the host and port of a configured base URL (e.g. `https://127.0.0.1:8443` or
    /// `http://proxy.internal:8080/wechat`) as an identity host: it is the merchant's WeChat
    /// endpoint.
    pub fn with_base_url(mut self, url: &str) -> Result<AllowList, AllowListError> {
        let dest = parse_spec(url, true)?;
        self.allow(dest.scheme, &dest.host, dest.port, true);
        Ok(self)
    }

    /// Adds an extra destination reached *without* the client certificate: `host`, `host:port`
    /// or `scheme://host[:port]` (https and its port 443 when not given).
    pub fn with_host(mut self, spec: &str) -> Result<AllowList, AllowListError> {
        let dest = parse_spec(spec, false)?;
        self.allow(dest.scheme, &dest.host, dest.port, false);
        Ok(self)
    }

    /// Adds one destination. Adding an existing one again with `identity: true` upgrades it.
    pub fn allow(&mut self, scheme: Scheme, host: &str, port: u16, identity: bool) {
        let Some(host) = normalise_host(host) else {
            return;
        };
        if let Some(existing) = self
            .entries
            .iter_mut()
            .find(|e| e.scheme == scheme && e.host == host && e.port == port)
        {
            existing.identity |= identity;
            return;
        }
        self.entries.push(AllowedHost {
            scheme,
            host,
            port,
            identity,
        });
    }

    /// The entry a request URI matches, if any.
    pub fn check(&self, uri: &Uri) -> Option<&AllowedHost> {
        Destination::from_uri(uri).and_then(|d| self.find(&d))
    }

    /// The entry a destination matches, if any.
    pub fn find(&self, dest: &Destination) -> Option<&AllowedHost> {
        self.entries
            .iter()
            .find(|e| e.scheme == dest.scheme && e.port == dest.port && e.host == dest.host)
    }

    /// Every entry, in the order added.
    pub fn entries(&self) -> &[AllowedHost] {
        &self.entries
    }
}

fn normalise_host(host: &str) -> Option<String> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

fn parse_spec(spec: &str, need_scheme: bool) -> Result<Destination, AllowListError> {
    let err = |problem| AllowListError {
        input: spec.to_string(),
        problem,
    };
    let trimmed = spec.trim();
    if trimmed.is_empty() {
        return Err(err("is empty"));
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err("must not contain spaces or control characters"));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else if need_scheme {
        return Err(err("must start with http:// or https://"));
    } else {
        format!("https://{trimmed}")
    };
    let uri: Uri = with_scheme
        .parse()
        .map_err(|_| err("is not a valid URL or host[:port]"))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(err("must not carry user credentials"));
    }
    if !need_scheme
        && uri
            .path_and_query()
            .is_some_and(|p| p.as_str() != "/" && !p.as_str().is_empty())
    {
        return Err(err(
            "must be host[:port] or scheme://host[:port], without a path",
        ));
    }
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("http") => {}
        _ => return Err(err("must use http:// or https://")),
    }
    Destination::from_uri(&uri).ok_or_else(|| err("must name a host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn default_allows_wechat_hosts_only() {
        let list = AllowList::default();
        let e = list
            .check(&uri(
                "https://api.mch.weixin.qq.com/mmpaymkttransfers/send_coupon",
            ))
            .unwrap();
        assert!(e.identity);
        assert!(list
            .check(&uri("https://API2.mch.weixin.qq.com.:443/x"))
            .is_some());
        assert!(list.check(&uri("http://api.mch.weixin.qq.com/x")).is_none());
        assert!(list
            .check(&uri("https://api.mch.weixin.qq.com:8443/x"))
            .is_none());
        assert!(list.check(&uri("https://example.com/x")).is_none());
        assert!(list
            .check(&uri("https://api.mch.weixin.qq.com.evil.example/x"))
            .is_none());
    }

    #[test]
    fn base_url_and_extra_hosts() {
        let list = AllowList::default()
            .with_base_url("http://127.0.0.1:18080/base")
            .unwrap()
            .with_host("proxy.example:8443")
            .unwrap()
            .with_host("[::1]")
            .unwrap();
        assert!(
            list.check(&uri("http://127.0.0.1:18080/x"))
                .unwrap()
                .identity
        );
        assert!(list.check(&uri("https://127.0.0.1:18080/x")).is_none());
        assert!(
            !list
                .check(&uri("https://proxy.example:8443/"))
                .unwrap()
                .identity
        );
        assert!(list.check(&uri("https://[::1]/")).is_some());
        assert!(AllowList::default().with_base_url("127.0.0.1:1").is_err());
        assert!(AllowList::default().with_host("ftp://x").is_err());
        assert!(AllowList::default().with_host("x/path").is_err());
        assert!(AllowList::default().with_host("u:p@x").is_err());
    }
}
