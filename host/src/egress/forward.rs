//! One connection and one request of the egress proxy: its rules (path, loop, method, size),
//! the exchange through the outbound client, the end-to-end headers copied, and the proxy's
//! own JSON answers.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use wasmtime_wasi_http::Error as HttpError;

use super::{path_allowed, Shared, HOP_HEADER, MAX_REQUEST_BODY_BYTES};
use crate::outbound::WasiBody;
use wxcoupon_core::paths::{known_paths, PathRefusal};
/// Request headers never forwarded: hop-by-hop ones (RFC 9110 §7.6.1), the proxy ones, and those
/// the proxy sets itself (`host` from the upstream, `content-length` from the body read).
const DROPPED_HEADERS: [&str; 12] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
];

/// Everything the proxy needs. [`Default`]: listen on `127.0.0.1:8079`, forward to
/// `https://api.mch.weixin.qq.com`, system roots, **no client identity** (set
type Answer = hyper::Response<Full<Bytes>>;

/// One request: the proxy's rules, then the upstream exchange; one log line.
pub(super) async fn handle(
    shared: &Shared,
    request: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> Answer {
    let started = Instant::now();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let (answer, forwarded) = match forward(shared, request).await {
        Ok(answer) => {
            shared.counters.forwarded.fetch_add(1, Ordering::Relaxed);
            (answer, true)
        }
        Err(Refusal::Health) => (health(shared), false),
        Err(Refusal::Upstream(e)) => {
            shared.counters.failed.fetch_add(1, Ordering::Relaxed);
            (upstream_failure(&e), true)
        }
        Err(Refusal::Rule(rule)) => {
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            (rule.answer(), false)
        }
    };
    tracing::info!(
        target: "wxcoupon::egress",
        id,
        %peer,
        %method,
        path = %path,
        status = answer.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        forwarded,
        "egress request"
    );
    answer
}

/// Why the proxy answered itself.
enum Refusal {
    /// `GET /healthz`.
    Health,
    /// One of the proxy's rules.
    Rule(Rule),
    /// The upstream exchange failed.
    Upstream(HttpError),
}

/// A request the proxy does not forward.
enum Rule {
    Path(PathRefusal),
    Loop,
    Method,
    TooLarge,
    Unreadable,
}

impl Rule {
    fn answer(self) -> Answer {
        match self {
            Rule::Path(why) => {
                let allowed: Vec<String> = known_paths().collect();
                json(
                    StatusCode::FORBIDDEN,
                    "EGRESS_PATH_REFUSED",
                    &format!(
                        "{why}: the egress proxy forwards these paths only: {}",
                        allowed.join(", ")
                    ),
                )
            }
            Rule::Loop => json(
                StatusCode::LOOP_DETECTED,
                "EGRESS_LOOP",
                "the request already passed an egress proxy: the upstream leads back to one",
            ),
            Rule::Method => {
                let mut answer = json(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "METHOD_NOT_ALLOWED",
                    "the egress proxy forwards POST and GET only",
                );
                answer.headers_mut().insert(
                    http::header::ALLOW,
                    http::HeaderValue::from_static("POST, GET"),
                );
                answer
            }
            Rule::TooLarge => json(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE",
                &format!("the request body is over {MAX_REQUEST_BODY_BYTES} bytes"),
            ),
            Rule::Unreadable => json(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the request body could not be read",
            ),
        }
    }
}

/// The proxy's rules, then the exchange through the outbound client.
async fn forward(
    shared: &Shared,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<Answer, Refusal> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    if path == "/healthz" && parts.method == Method::GET {
        return Err(Refusal::Health);
    }
    if parts.headers.contains_key(HOP_HEADER) {
        return Err(Refusal::Rule(Rule::Loop));
    }
    path_allowed(path).map_err(|why| Refusal::Rule(Rule::Path(why)))?;
    if parts.method != Method::POST && parts.method != Method::GET {
        return Err(Refusal::Rule(Rule::Method));
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(path);
    let uri = shared
        .upstream
        .uri_for(path_and_query)
        .map_err(|_| Refusal::Rule(Rule::Path(PathRefusal::NotPrintableAscii)))?;

    let body = match Limited::new(body, MAX_REQUEST_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(Refusal::Rule(Rule::TooLarge))
        }
        Err(_) => return Err(Refusal::Rule(Rule::Unreadable)),
    };

    let mut upstream = http::Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .version(http::Version::HTTP_11);
    if let Some(headers) = upstream.headers_mut() {
        copy_end_to_end(&parts.headers, headers);
        headers.insert(HOP_HEADER, shared.hop.clone());
    }
    let body: WasiBody = Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync();
    let upstream = upstream
        .body(body)
        .map_err(|_| Refusal::Rule(Rule::Path(PathRefusal::NotPrintableAscii)))?;

    let response = shared
        .client
        .send(upstream, None)
        .await
        .map_err(Refusal::Upstream)?;
    let (head, body) = response.into_parts();
    // The outbound client hands back a complete body: collecting cannot fail or wait.
    let bytes = body.collect().await.map_err(Refusal::Upstream)?.to_bytes();
    let mut answer = hyper::Response::new(Full::new(bytes));
    *answer.status_mut() = head.status;
    copy_end_to_end(&head.headers, answer.headers_mut());
    Ok(answer)
}

/// Copies every header but the hop-by-hop ones, those `connection` names, and those the proxy
/// sets itself.
pub(super) fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    let named_by_connection: Vec<String> = from
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in from {
        let lower = name.as_str();
        if DROPPED_HEADERS.contains(&lower) || named_by_connection.iter().any(|n| n == lower) {
            continue;
        }
        to.append(HeaderName::clone(name), value.clone());
    }
}

/// `GET /healthz`.
fn health(shared: &Shared) -> Answer {
    let body = serde_json::json!({
        "status": "ok",
        "upstream": shared.upstream.origin,
        "client_certificate": shared.client.has_identity(),
    });
    json_body(StatusCode::OK, &body)
}

/// `502 EGRESS_UPSTREAM_FAILED` or `504 EGRESS_UPSTREAM_TIMEOUT`.
fn upstream_failure(e: &HttpError) -> Answer {
    let timeout = matches!(
        e,
        HttpError::ConnectionTimeout
            | HttpError::ConnectionReadTimeout
            | HttpError::HttpResponseTimeout
            | HttpError::DnsTimeout
    );
    let (status, code) = if timeout {
        (StatusCode::GATEWAY_TIMEOUT, "EGRESS_UPSTREAM_TIMEOUT")
    } else {
        (StatusCode::BAD_GATEWAY, "EGRESS_UPSTREAM_FAILED")
    };
    json(
        status,
        code,
        &format!("the egress proxy's request upstream failed: {e}"),
    )
}

/// A JSON answer of the proxy's own: `{"code", "message"}`.
fn json(status: StatusCode, code: &str, message: &str) -> Answer {
    json_body(
        status,
        &serde_json::json!({ "code": code, "message": message }),
    )
}

fn json_body(status: StatusCode, body: &serde_json::Value) -> Answer {
    let mut answer = hyper::Response::new(Full::new(Bytes::from(body.to_string().into_bytes())));
    *answer.status_mut() = status;
    let headers = answer.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    answer
}
