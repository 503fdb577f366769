//! The `client` exports: build with the core, send through `wasi:http/outgoing-handler`, read
//! the answer (capped), parse with the core.

use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use crate::wasi::io::streams::StreamError;
use wxcoupon_core as core;

/// Defaults for `call-options` fields left `none`: the settings' own (`core::settings`).
pub use core::settings::{
    DEFAULT_BETWEEN_BYTES_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_FIRST_BYTE_TIMEOUT_MS,
    DEFAULT_MAX_RESPONSE_BYTES,
};

/// `call-options`, defaults applied.
pub struct CallOptions {
    pub connect_timeout_ms: u32,
    pub first_byte_timeout_ms: u32,
    pub between_bytes_timeout_ms: u32,
    pub max_response_bytes: u32,
    pub nonce: Option<String>,
}

impl CallOptions {
    /// The options of a call, each `None` replaced by its default.
    pub fn with_defaults(
        connect_timeout_ms: Option<u32>,
        first_byte_timeout_ms: Option<u32>,
        between_bytes_timeout_ms: Option<u32>,
        max_response_bytes: Option<u32>,
        nonce: Option<String>,
    ) -> CallOptions {
        CallOptions {
            connect_timeout_ms: connect_timeout_ms.unwrap_or(DEFAULT_CONNECT_TIMEOUT_MS),
            first_byte_timeout_ms: first_byte_timeout_ms.unwrap_or(DEFAULT_FIRST_BYTE_TIMEOUT_MS),
            between_bytes_timeout_ms: between_bytes_timeout_ms
                .unwrap_or(DEFAULT_BETWEEN_BYTES_TIMEOUT_MS),
            max_response_bytes: max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            nonce,
        }
    }
}

/// Builds, sends and parses one call.
pub fn call(
    merchant: &core::Merchant,
    request: &core::CouponRequest,
    options: &CallOptions,
) -> Result<core::CouponResponse, core::Error> {
    let answer = exchange(merchant, request, options)?;
    core::parse_response_with_limits(
        merchant,
        request.api(),
        answer.status,
        &answer.body,
        &answer.limits,
    )
}

/// WeChat's answer to one call, not yet read.
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The whole body.
    pub body: Vec<u8>,
    /// The limits to read it with (the call's response cap).
    pub limits: core::XmlLimits,
}

/// Builds and sends one call; the caller reads the answer with its API's parser.
pub fn exchange(
    merchant: &core::Merchant,
    request: &core::CouponRequest,
    options: &CallOptions,
) -> Result<Answer, core::Error> {
    let nonce = options.nonce.clone().unwrap_or_else(crate::random_nonce);
    let http = core::build_request(merchant, request, &nonce)?;
    let (status, body) = send(&http, options)?;
    let limits = core::XmlLimits {
        max_body_bytes: options.max_response_bytes as usize,
        ..Default::default()
    };
    Ok(Answer {
        status,
        body,
        limits,
    })
}

/// Sends `http` and returns the status and the whole body.
fn send(http: &core::HttpRequest, options: &CallOptions) -> Result<(u16, Vec<u8>), core::Error> {
    send_raw(&http.method, &http.url, &http.headers, &http.body, options)
        .map(|received| (received.status, received.body))
}

/// What came back: the status, every header, the whole body.
pub struct Received {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Sends one request (`GET` or `POST`) and returns the whole answer, its body capped.
pub fn send_raw(
    method: &str,
    url: &str,
    request_headers: &[(String, String)],
    request_body: &[u8],
    options: &CallOptions,
) -> Result<Received, core::Error> {
    let target = Target::parse(url)?;
    let headers = Fields::new();
    for (name, value) in request_headers {
        headers.append(name, value.as_bytes()).map_err(|e| {
            core::Error::invalid(
                format!("header {name}"),
                format!("refused by wasi:http: {e:?}"),
            )
        })?;
    }
    let request = OutgoingRequest::new(headers);
    let refused = |what: &str| core::Error::Transport {
        message: format!("wasi:http refused the request's {what}"),
        may_have_reached_wechat: false,
    };
    let method = match method {
        "GET" => Method::Get,
        _ => Method::Post,
    };
    request
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    request
        .set_scheme(Some(&target.scheme))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(Some(&target.authority))
        .map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(Some(&target.path))
        .map_err(|()| refused("path"))?;
    let body = request.body().map_err(|()| refused("body"))?;

    let request_options = RequestOptions::new();
    // A host may not support every timeout; it then applies its own, which is fine.
    let _ = request_options.set_connect_timeout(Some(ms_to_ns(options.connect_timeout_ms)));
    let _ = request_options.set_first_byte_timeout(Some(ms_to_ns(options.first_byte_timeout_ms)));
    let _ =
        request_options.set_between_bytes_timeout(Some(ms_to_ns(options.between_bytes_timeout_ms)));

    let pending = outgoing_handler::handle(request, Some(request_options))
        .map_err(|code| transport(&code, &target.authority, false))?;

    // A host may refuse the request only on the response future (wasmtime with custom hooks
    // does, allow-list denials included); the body stream then closes under us. When writing
    // fails, the future's error code is the real reason.
    let refusal = |fallback: core::Error| -> core::Error {
        pending.subscribe().block();
        match pending.get() {
            Some(Ok(Err(code))) => transport(&code, &target.authority, false),
            _ => fallback,
        }
    };
    {
        let stream = body.write().map_err(|()| refused("body stream"))?;
        for chunk in request_body.chunks(4096) {
            if let Err(e) = stream.blocking_write_and_flush(chunk) {
                return Err(refusal(core::Error::Transport {
                    message: format!("sending the request body failed: {}", stream_error(&e)),
                    may_have_reached_wechat: false,
                }));
            }
        }
    }
    if let Err(code) = OutgoingBody::finish(body, None) {
        return Err(refusal(transport(&code, &target.authority, false)));
    }

    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(transport(&code, &target.authority, true)),
        Some(Err(())) | None => {
            return Err(core::Error::Transport {
                message: "the host lost the response".into(),
                may_have_reached_wechat: true,
            })
        }
    };
    let status = response.status();
    let response_headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let incoming = response.consume().map_err(|()| core::Error::Transport {
        message: "the response body could not be opened".into(),
        may_have_reached_wechat: true,
    })?;
    let body = read_body(
        &incoming,
        options.max_response_bytes as usize,
        &target.authority,
    )?;
    let _ = IncomingBody::finish(incoming);
    Ok(Received {
        status,
        headers: response_headers,
        body,
    })
}

fn read_body(incoming: &IncomingBody, max: usize, authority: &str) -> Result<Vec<u8>, core::Error> {
    let stream = incoming.stream().map_err(|()| core::Error::Transport {
        message: "the response body stream could not be opened".into(),
        may_have_reached_wechat: true,
    })?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(16 * 1024) {
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                if body.len() > max {
                    return Err(core::MalformedResponse::document(format!(
                        "body is over the limit of {max} bytes"
                    ))
                    .into());
                }
            }
            Err(StreamError::Closed) => return Ok(body),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(match crate::wasi::http::types::http_error_code(&e) {
                    Some(code) => transport(&code, authority, true),
                    None => core::Error::Transport {
                        message: format!("reading the response failed: {}", e.to_debug_string()),
                        may_have_reached_wechat: true,
                    },
                })
            }
        }
    }
}

fn stream_error(e: &StreamError) -> String {
    match e {
        StreamError::Closed => "stream closed".into(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    }
}

fn ms_to_ns(ms: u32) -> u64 {
    u64::from(ms) * 1_000_000
}

/// Maps a wasi:http error code. `sent` says whether the request had been handed over. Once it
/// was, only failures that certainly happened before any byte left — the name did not resolve,
/// the address was unreachable, the connection was refused or never made, WeChat's own
/// certificate was not trusted — leave the request undelivered; everything else (a reset, a TLS
/// alert or protocol error, a timeout, a cut or oversized answer) may have reached WeChat, and
/// the core then calls the outcome unknown (`Error::outcome_unknown`).
fn transport(code: &ErrorCode, authority: &str, sent: bool) -> core::Error {
    use ErrorCode as E;
    let (reached, what) = match code {
        E::HttpRequestDenied => {
            return core::Error::Denied {
                message: format!("the host does not allow requests to {authority}"),
            }
        }
        E::DnsTimeout => (false, "DNS lookup timed out".to_string()),
        E::DnsError(_) => (false, "DNS lookup failed".to_string()),
        E::DestinationNotFound => (false, "destination not found".to_string()),
        E::DestinationUnavailable => (false, "destination unavailable".to_string()),
        E::DestinationIpProhibited | E::DestinationIpUnroutable => {
            (false, "destination address not reachable".to_string())
        }
        E::ConnectionRefused => (false, "connection refused".to_string()),
        E::ConnectionTimeout => (false, "connecting timed out".to_string()),
        E::TlsProtocolError => (true, "TLS failed".to_string()),
        E::TlsCertificateError => (
            false,
            "TLS certificate rejected (the server's, or the client certificate the server requires)"
                .to_string(),
        ),
        E::TlsAlertReceived(alert) => (
            true,
            format!(
                "the server sent TLS alert {} ({}): is the merchant's client certificate configured and accepted?",
                alert.alert_id.map_or("?".to_string(), |id| id.to_string()),
                alert.alert_message.clone().unwrap_or_default()
            ),
        ),
        E::HttpResponseTimeout => (true, "timed out waiting for the response".to_string()),
        E::ConnectionReadTimeout => (true, "timed out between response bytes".to_string()),
        E::ConnectionTerminated => (true, "connection closed before the response ended".to_string()),
        E::HttpResponseIncomplete => (true, "response incomplete".to_string()),
        E::HttpResponseBodySize(_) => (true, "response body over the host's limit".to_string()),
        other => (true, format!("{other:?}")),
    };
    core::Error::Transport {
        message: format!("{what} ({authority})"),
        may_have_reached_wechat: reached && sent,
    }
}

/// The parts of a URL wasi:http wants separately.
struct Target {
    scheme: Scheme,
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, core::Error> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(core::Error::invalid(
                "merchant.base_url",
                "must start with http:// or https://",
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(Target {
            scheme,
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }
}
