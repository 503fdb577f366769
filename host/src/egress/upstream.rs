//! The egress proxy's upstream: its base URL split for joining with request paths, and the
//! checks that it is no loop back to the proxy itself.

use std::net::SocketAddr;

use http::Uri;

use crate::error::{HostError, HostResult};

/// `Err(Setting(rule))` unless `ok`.
fn ensure(ok: bool, rule: String) -> HostResult<()> {
    if ok {
        Ok(())
    } else {
        Err(HostError::Setting(rule))
    }
}
/// The upstream, split for joining with request paths.
#[derive(Clone, Debug)]
pub(super) struct Upstream {
    /// `scheme://authority`.
    pub(super) origin: String,
    /// The base URL's path without its trailing slash (`""` for none).
    prefix: String,
}

impl Upstream {
    pub(super) fn parse(url: &str) -> HostResult<Upstream> {
        let trimmed = url.trim();
        let uri: Uri = trimmed
            .parse()
            .map_err(|e| HostError::Setting(format!("upstream_base_url {trimmed:?}: {e}")))?;
        let scheme = uri.scheme_str().unwrap_or("");
        ensure(
            scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http"),
            format!("upstream_base_url {trimmed:?}: must start with https:// or http://"),
        )?;
        let authority = uri
            .authority()
            .ok_or_else(|| HostError::Setting(format!("upstream_base_url {trimmed:?}: no host")))?;
        ensure(
            !authority.as_str().contains('@'),
            format!("upstream_base_url {trimmed:?}: must not carry user credentials"),
        )?;
        ensure(
            uri.query().is_none(),
            format!("upstream_base_url {trimmed:?}: must not have a query"),
        )?;
        Ok(Upstream {
            origin: format!("{}://{}", scheme.to_ascii_lowercase(), authority),
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// Whether the upstream is `addr` itself (a loopback host on the same port).
    pub(super) fn is_address(&self, addr: SocketAddr) -> bool {
        let Ok(uri) = self.origin.parse::<Uri>() else {
            return false;
        };
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let host = uri
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback() || ip == addr.ip());
        loopback && port == addr.port()
    }

    /// Resolves the upstream and refuses it when any of its addresses is the proxy's own
    /// listening address `local` (`127.1`, `[::ffff:127.0.0.1]`, `localhost.` and the like all
    /// resolve to it): the proxy would forward to itself until it ran out of file descriptors.
    /// An upstream that does not resolve now is accepted (WeChat's host from a machine without
    /// DNS yet): [`HOP_HEADER`] stops the loops resolution cannot see.
    pub(super) async fn refuse_self(&self, local: SocketAddr) -> HostResult<()> {
        let Ok(uri) = self.origin.parse::<Uri>() else {
            return Ok(());
        };
        let default_port = if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        let port = uri.port_u16().unwrap_or(default_port);
        // `localhost.` is `localhost`: the root label changes no name.
        let host = uri
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.');
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => {
                tracing::warn!(
                    target: "wxcoupon::egress",
                    upstream = %self.origin,
                    error = %e,
                    "the upstream does not resolve now; loops are caught by the hop header"
                );
                return Ok(());
            }
        };
        let local_ip = local.ip().to_canonical();
        let loops = addrs.iter().any(|addr| {
            let ip = addr.ip().to_canonical();
            addr.port() == local.port()
                && (ip == local_ip
                    || (local_ip.is_unspecified() && (ip.is_loopback() || ip.is_unspecified())))
        });
        ensure(
            !loops,
            format!(
                "the egress upstream {} resolves to the proxy's own address {local}: it would \
                 forward to itself",
                self.origin
            ),
        )?;
        Ok(())
    }

    pub(super) fn uri_for(&self, path_and_query: &str) -> Result<Uri, http::uri::InvalidUri> {
        format!("{}{}{}", self.origin, self.prefix, path_and_query).parse()
    }
}
