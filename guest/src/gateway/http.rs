//! The `wasi:http` side of the gateway: reading a capped request body, writing a JSON answer,
//! and decoding paths and query strings.

use crate::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::wasi::io::streams::StreamError;

use super::errors::ApiError;

/// An answer: status, JSON body, and extra headers (`allow` on 405).
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The JSON document.
    pub body: Vec<u8>,
    /// Headers besides the content type, length and caching ones every answer carries.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            body,
            headers: Vec::new(),
        }
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
        Reply {
            status: e.status,
            body: e.to_json(),
            headers: e
                .allow
                .map(|method| vec![("allow", method.to_string())])
                .unwrap_or_default(),
        }
    }
}

/// Sends `reply` through `out`. Failures past `set` (the client went away) cannot be reported to
/// anyone and are dropped: nothing here traps.
pub fn send(out: ResponseOutparam, reply: Reply) {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        (
            "content-type".into(),
            b"application/json; charset=utf-8".to_vec(),
        ),
        (
            "content-length".into(),
            reply.body.len().to_string().into_bytes(),
        ),
        ("cache-control".into(), b"no-store".to_vec()),
        ("x-content-type-options".into(), b"nosniff".to_vec()),
    ];
    headers.extend(
        reply
            .headers
            .into_iter()
            .map(|(name, value)| (name.to_string(), value.into_bytes())),
    );
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(reply.status);
    let Ok(body) = response.body() else {
        ResponseOutparam::set(out, Ok(response));
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = body.write() {
        for chunk in reply.body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

/// A request header's first value, as text (`None` when absent or not UTF-8).
pub fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    let values = request.headers().get(name);
    values
        .into_iter()
        .next()
        .and_then(|v| String::from_utf8(v).ok())
}

/// Reads the whole body, refusing more than `max` bytes: an announced `content-length` over the
/// cap is refused before reading, a body that grows past it as soon as it does.
pub fn read_body(request: &IncomingRequest, max: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            413,
            "BODY_TOO_LARGE",
            format!("the request body is over the limit of {max} bytes"),
        )
    };
    if let Some(length) = header(request, "content-length") {
        match length.trim().parse::<u64>() {
            Ok(n) if n > max as u64 => return Err(too_large()),
            Ok(_) => {}
            Err(_) => {
                return Err(ApiError::invalid(
                    "content-length",
                    "must be a decimal number",
                ))
            }
        }
    }
    let unreadable = || ApiError::new(400, "INVALID_INPUT", "the request body could not be read");
    let incoming = request.consume().map_err(|()| unreadable())?;
    let mut body = Vec::new();
    {
        let stream = incoming.stream().map_err(|()| unreadable())?;
        loop {
            let want = (max + 1 - body.len()).min(16 * 1024) as u64;
            match stream.blocking_read(want) {
                Ok(chunk) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > max {
                        return Err(too_large());
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => return Err(unreadable()),
            }
        }
    }
    let _ = IncomingBody::finish(incoming);
    Ok(body)
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, for query strings) into UTF-8
/// text; `None` for a broken escape or bytes that are not UTF-8.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The query string as decoded `(name, value)` pairs, in order; an undecodable pair is an error
/// naming the parameter (or `query` when even the name cannot be read).
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = percent_decode(name, true)
            .ok_or_else(|| ApiError::invalid("query", "must be valid percent-encoded UTF-8"))?;
        let value = percent_decode(value, true)
            .ok_or_else(|| ApiError::invalid(&name, "must be valid percent-encoded UTF-8"))?;
        pairs.push((name, value));
    }
    Ok(pairs)
}
