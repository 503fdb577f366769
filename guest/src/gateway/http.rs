//! The `wasi:http` side of the gateway: reading headers and a capped request body, writing a
//! JSON answer.

use wxcoupon_api::{self as api, ApiError, Reply};

use crate::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::wasi::io::streams::StreamError;

/// Sends `reply` through `out`. Failures past `set` (the client went away) cannot be reported to
/// anyone and are dropped: nothing here traps.
pub fn send(out: ResponseOutparam, reply: Reply) {
    let mut headers: Vec<(String, Vec<u8>)> = reply
        .all_headers()
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    headers.push((
        "content-length".into(),
        reply.body.len().to_string().into_bytes(),
    ));
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
    api::check_content_length(header(request, "content-length").as_deref(), max)?;
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
                        return Err(ApiError::body_too_large(max));
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
