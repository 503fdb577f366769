//! What Envoy hands back for a `dispatch_http_call`, read as the component's client reads its
//! `wasi:http` outcome: a status and a body for the core to parse, or a transport error.
//!
//! Envoy reports failures of the call itself in two ways:
//! - no response at all (no headers): the stream was reset (Envoy's `onFailure`);
//! - a response of its own making (a "local reply": `text/plain`, one of a few fixed texts) from
//!   the router that runs the call: `504 upstream request timeout` when the call's timeout
//!   passed, `503 upstream connect error or disconnect/reset before headers. reset reason: …`
//!   when connecting (TCP, TLS) failed or the connection broke before an answer, `503 no healthy
//!   upstream` when the cluster has no usable host.
//!
//! Those become [`core::Error::Transport`] worded as the component's client words them ("timed
//! out waiting for the response (authority)"), so both edges answer `504 UPSTREAM_TIMEOUT` or
//! `502 UPSTREAM_UNREACHABLE` alike. Anything else is WeChat Pay's answer (or an egress proxy's)
//! and goes to the core: a non-200 status is `UPSTREAM_BAD_STATUS` there.

use wxcoupon_core as core;

/// Where a call went, for messages.
pub struct Target<'a> {
    /// The Envoy cluster.
    pub cluster: &'a str,
    /// The `:authority` sent.
    pub authority: &'a str,
}

/// Envoy's answer to a dispatched call.
pub struct Answer<'a> {
    /// `:status`, when any headers came back.
    pub status: Option<u16>,
    /// `content-type`, when sent.
    pub content_type: Option<&'a str>,
    /// The body's full size (it may not have been read beyond the limit).
    pub body_size: usize,
    /// The body, read up to the limit plus one byte.
    pub body: &'a [u8],
}

/// The status and body to parse, or why there are none.
pub fn read(
    answer: &Answer<'_>,
    target: &Target<'_>,
    max_body: usize,
) -> Result<(u16, Vec<u8>), core::Error> {
    let transport = |what: String, reached: bool| core::Error::Transport {
        message: format!("{what} ({})", target.authority),
        may_have_reached_wechat: reached,
    };
    let Some(status) = answer.status else {
        return Err(transport(
            format!(
                "the connection closed before the response ended (Envoy cluster {})",
                target.cluster
            ),
            true,
        ));
    };
    if let Some(failure) = local_reply(answer) {
        return Err(match failure {
            Failure::Timeout => transport("timed out waiting for the response".into(), true),
            Failure::ConnectTimeout => transport("connecting timed out".into(), false),
            Failure::Connect(reason) => transport(
                format!(
                    "connecting failed: {reason} (Envoy cluster {}: check its address and \
                     upstream TLS settings)",
                    target.cluster
                ),
                false,
            ),
            Failure::Reset(reason) => transport(
                format!("the connection broke before the response: {reason}"),
                true,
            ),
            Failure::NoHost => transport(
                format!(
                    "no healthy upstream host in Envoy cluster {}",
                    target.cluster
                ),
                false,
            ),
        });
    }
    if answer.body_size > max_body || answer.body.len() > max_body {
        return Err(core::MalformedResponse::document(format!(
            "body is over the limit of {max_body} bytes"
        ))
        .into());
    }
    Ok((status, answer.body.to_vec()))
}

/// A failure Envoy reported with a local reply.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    Timeout,
    ConnectTimeout,
    Connect(String),
    Reset(String),
    NoHost,
}

/// Recognises Envoy's own answers: `text/plain`, a 503 or 504, and one of the router's texts.
fn local_reply(answer: &Answer<'_>) -> Option<Failure> {
    let plain = answer
        .content_type
        .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("text/plain"));
    if !plain || !matches!(answer.status, Some(503 | 504)) {
        return None;
    }
    let text = std::str::from_utf8(answer.body).ok()?.trim();
    if answer.status == Some(504) {
        return (text == "upstream request timeout").then_some(Failure::Timeout);
    }
    if text == "no healthy upstream" {
        return Some(Failure::NoHost);
    }
    let rest = text.strip_prefix("upstream connect error or disconnect/reset before headers.")?;
    // "reset reason: remote connection failure, transport failure reason: delayed connect
    // error: Connection refused" (Envoy 1.40; older ones say "connection failure").
    let reason = rest
        .trim()
        .strip_prefix("reset reason:")
        .unwrap_or(rest)
        .trim();
    let short: String = reason.chars().take(200).collect();
    if reason.starts_with("connection timeout") {
        Some(Failure::ConnectTimeout)
    } else if reason.starts_with("connection failure")
        || reason.starts_with("local connection failure")
        || reason.starts_with("remote connection failure")
        || reason.starts_with("overflow")
    {
        Some(Failure::Connect(short))
    } else {
        Some(Failure::Reset(short))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Target<'static> = Target {
        cluster: "wechat_pay",
        authority: "api.mch.weixin.qq.com",
    };

    fn answer<'a>(status: u16, content_type: &'a str, body: &'a [u8]) -> Answer<'a> {
        Answer {
            status: Some(status),
            content_type: Some(content_type),
            body_size: body.len(),
            body,
        }
    }

    fn transport(result: Result<(u16, Vec<u8>), core::Error>) -> (String, bool) {
        match result {
            Err(core::Error::Transport {
                message,
                may_have_reached_wechat,
            }) => (message, may_have_reached_wechat),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn envoy_failures_are_transport_errors() {
        let (message, reached) = transport(read(
            &answer(504, "text/plain", b"upstream request timeout"),
            &TARGET,
            100,
        ));
        assert_eq!(
            message,
            "timed out waiting for the response (api.mch.weixin.qq.com)"
        );
        assert!(reached);
        let (message, reached) = transport(read(
            &answer(
                503,
                "text/plain",
                b"upstream connect error or disconnect/reset before headers. reset reason: connection timeout",
            ),
            &TARGET,
            100,
        ));
        assert!(message.starts_with("connecting timed out"), "{message}");
        assert!(!reached);
        let (message, reached) = transport(read(
            &answer(
                503,
                "text/plain",
                b"upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS_error",
            ),
            &TARGET,
            100,
        ));
        assert!(
            message.contains("connecting failed: connection failure"),
            "{message}"
        );
        assert!(!reached);
        let (message, reached) = transport(read(
            &answer(
                503,
                "text/plain",
                b"upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused",
            ),
            &TARGET,
            100,
        ));
        assert!(
            message.contains("connecting failed: remote connection failure"),
            "{message}"
        );
        assert!(!reached);
        let (_, reached) = transport(read(
            &answer(
                503,
                "text/plain",
                b"upstream connect error or disconnect/reset before headers. reset reason: remote reset",
            ),
            &TARGET,
            100,
        ));
        assert!(reached);
        let (message, _) = transport(read(
            &answer(503, "text/plain", b"no healthy upstream"),
            &TARGET,
            100,
        ));
        assert!(message.contains("wechat_pay"), "{message}");
        let (_, reached) = transport(read(
            &Answer {
                status: None,
                content_type: None,
                body_size: 0,
                body: b"",
            },
            &TARGET,
            100,
        ));
        assert!(reached);
    }

    #[test]
    fn other_answers_go_to_the_core() {
        // WeChat's (or a proxy's) own 504 is a status for the core to judge.
        let html = answer(504, "text/html", b"<html>gateway timeout</html>");
        assert_eq!(read(&html, &TARGET, 100).unwrap().0, 504);
        let xml = answer(200, "text/plain", b"<xml></xml>");
        assert_eq!(
            read(&xml, &TARGET, 100).unwrap(),
            (200, b"<xml></xml>".to_vec())
        );
        let big = Answer {
            status: Some(200),
            content_type: None,
            body_size: 101,
            body: &[b'x'; 101],
        };
        assert!(matches!(
            read(&big, &TARGET, 100),
            Err(core::Error::MalformedResponse(_))
        ));
    }
}
