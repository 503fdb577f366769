//! Errors: building the client ([`OutboundError`]), and the deliberate mapping of connection,
//! TLS and HTTP failures to the `wasi:http` error codes the component sees.
//!
//! The mapping walks the whole error chain (hyper-util → hyper → `io::Error` → rustls), looking
//! inside `io::Error`s too (their `source()` skips the wrapped error), and picks the most precise
//! cause:
//!
//! | cause in the chain | `wasi:http` error-code |
//! |---|---|
//! | rustls: bad/unknown server certificate, no certificate | `TLS-certificate-error` |
//! | rustls: alert from the peer (TLS 1.3 `certificate_required` arrives *after* the handshake, as a read error) | `TLS-alert-received` (id + name) |
//! | rustls: anything else | `TLS-protocol-error` |
//! | name resolution failed | `DNS-error` |
//! | `ECONNREFUSED` | `connection-refused` |
//! | reset, aborted, broken pipe, unexpected EOF | `connection-terminated` |
//! | network/host unreachable | `destination-unavailable` |
//! | hyper: message ended early; any connection loss once the response head arrived | `HTTP-response-incomplete` |
//! | hyper: unparsable response, headers too large | `HTTP-protocol-error`, `HTTP-response-header-section-size` |
//! | anything else while connecting / after | `destination-unavailable` / `HTTP-protocol-error` |
//!
//! Timeouts are decided by the client itself (connect → `connection-timeout`, first byte and
//! between bytes → `connection-read-timeout`, as wasmtime's own client does), the allow-list by
//! the hooks (`HTTP-request-denied`), the size cap by the body reader (`HTTP-response-body-size`).

use std::error::Error as StdError;
use std::fmt;
use std::io;

use wasmtime_wasi_http::Error as HttpError;

use super::identity::IdentityError;

/// The outbound client could not be built.
#[derive(Debug)]
pub enum OutboundError {
    /// The client identity is unusable.
    Identity(IdentityError),
    /// The extra CA certificates cannot be used.
    ExtraCa(String),
    /// No trusted root certificate at all: the system store is empty or unreadable and no extra
    /// CA was given.
    NoRoots,
    /// rustls refused the configuration.
    Tls(String),
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboundError::Identity(e) => write!(f, "client identity: {e}"),
            OutboundError::ExtraCa(problem) => write!(f, "extra CA certificates: {problem}"),
            OutboundError::NoRoots => f.write_str(
                "no trusted root certificates: the system store is empty or unreadable and no \
                 extra CA was given",
            ),
            OutboundError::Tls(problem) => write!(f, "TLS configuration: {problem}"),
        }
    }
}

impl StdError for OutboundError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            OutboundError::Identity(e) => Some(e),
            _ => None,
        }
    }
}

impl From<IdentityError> for OutboundError {
    fn from(e: IdentityError) -> Self {
        OutboundError::Identity(e)
    }
}

/// Which step failed: decides the fallback when nothing in the chain is recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Resolving, connecting, the TLS handshake.
    Connect,
    /// Sending the request, reading the response head or body.
    Exchange,
}

/// Every error in a chain, looking inside `io::Error`s (whose `source()` skips the wrapped one).
fn chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut stack = vec![err];
    while let Some(e) = stack.pop() {
        if out.len() > 32 {
            break;
        }
        out.push(e);
        if let Some(next) = e.source() {
            stack.push(next);
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if let Some(inner) = io.get_ref() {
                stack.push(inner);
            }
        }
    }
    out
}

/// Maps a failure of a request (or of its response body) to the `wasi:http` error.
pub(crate) fn classify(err: &(dyn StdError + 'static), phase: Phase) -> HttpError {
    let errors = chain(err);

    // 1. TLS: the most specific cause, and the one a mutual-TLS refusal hides behind.
    for e in &errors {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return tls_error(tls);
        }
    }

    // 2. Name resolution (hyper-util's resolver error reads "dns error: …").
    for e in &errors {
        if e.to_string().starts_with("dns error") {
            return HttpError::DnsError {
                rcode: Some("name resolution failed".into()),
                info_code: None,
            };
        }
    }

    // 3. Socket-level causes.
    for e in &errors {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return HttpError::ConnectionRefused,
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof => return HttpError::ConnectionTerminated,
                io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => {
                    return HttpError::DestinationUnavailable
                }
                io::ErrorKind::AddrNotAvailable => return HttpError::DestinationIpUnroutable,
                io::ErrorKind::TimedOut => {
                    return match phase {
                        Phase::Connect => HttpError::ConnectionTimeout,
                        Phase::Exchange => HttpError::ConnectionReadTimeout,
                    }
                }
                _ => {}
            }
        }
    }

    // 4. HTTP-level causes.
    for e in &errors {
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() {
                return HttpError::HttpResponseIncomplete;
            }
            if h.is_parse_too_large() {
                return HttpError::HttpResponseHeaderSectionSize(None);
            }
            if h.is_parse() || h.is_parse_status() {
                return HttpError::HttpProtocolError;
            }
            if h.is_timeout() {
                return HttpError::HttpResponseTimeout;
            }
            if h.is_canceled() || h.is_closed() {
                return HttpError::ConnectionTerminated;
            }
        }
    }

    // 5. Unrecognised: say which step failed.
    let connect = phase == Phase::Connect
        || errors.iter().any(|e| {
            e.downcast_ref::<hyper_util::client::legacy::Error>()
                .is_some_and(|le| le.is_connect())
        });
    if connect {
        HttpError::DestinationUnavailable
    } else {
        HttpError::HttpProtocolError
    }
}

fn tls_error(e: &rustls::Error) -> HttpError {
    match e {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType
        | rustls::Error::InvalidCertRevocationList(_) => HttpError::TlsCertificateError,
        rustls::Error::AlertReceived(alert) => HttpError::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(alert_name(*alert)),
        },
        _ => HttpError::TlsProtocolError,
    }
}

/// The TLS registry name of an alert (`certificate_required`), from rustls' variant name.
fn alert_name(alert: rustls::AlertDescription) -> String {
    match alert.as_str() {
        Some(name) => {
            let mut out = String::with_capacity(name.len() + 4);
            for (i, c) in name.chars().enumerate() {
                if c.is_ascii_uppercase() {
                    if i > 0 {
                        out.push('_');
                    }
                    out.push(c.to_ascii_lowercase());
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => format!("alert {}", u8::from(alert)),
    }
}

/// A short, secret-free name of a `wasi:http` error for logs.
pub(crate) fn code_name(e: &HttpError) -> String {
    match e {
        HttpError::TlsAlertReceived {
            alert_message: Some(m),
            ..
        } => format!("TLS-alert-received({m})"),
        HttpError::HttpResponseBodySize(Some(n)) => format!("HTTP-response-body-size({n})"),
        other => format!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_follow_the_tls_registry() {
        assert_eq!(
            alert_name(rustls::AlertDescription::CertificateRequired),
            "certificate_required"
        );
        assert_eq!(
            alert_name(rustls::AlertDescription::BadCertificate),
            "bad_certificate"
        );
    }

    #[test]
    fn tls_inside_io_inside_io_is_found() {
        let inner = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        );
        let outer = io::Error::other(inner);
        match classify(&outer, Phase::Exchange) {
            HttpError::TlsAlertReceived { alert_id, .. } => assert_eq!(alert_id, Some(116)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refused_and_reset() {
        let e = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            classify(&e, Phase::Connect),
            HttpError::ConnectionRefused
        ));
        let e = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(matches!(
            classify(&e, Phase::Exchange),
            HttpError::ConnectionTerminated
        ));
    }
}
