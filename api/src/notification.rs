//! `POST /v1/notifications/wechatpay`'s answers and forward, with no I/O: what every edge (the
//! component, the Envoy filter) answers WeChat and sends the merchant's service, so that a
//! verified event is forwarded the same way everywhere and WeChat hears success only after the
//! forward succeeded.

use wxcoupon_core::v3::notification::failure_body;

use crate::Reply;

/// The header the event id is forwarded under, for the receiver's deduplication.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The headers of the forward of event `event_id` (a JSON body).
pub fn forward_headers(event_id: &str) -> [(&'static str, String); 3] {
    [
        ("content-type", "application/json".to_string()),
        (IDEMPOTENCY_KEY, event_id.to_string()),
        ("wechatpay-event-id", event_id.to_string()),
    ]
}

/// A refused or failed delivery, answered to WeChat with `status` and `{"code":"FAIL",…}`:
/// WeChat delivers again.
pub fn refused(status: u16, message: &str) -> Reply {
    Reply {
        status,
        body: failure_body(message).into_bytes(),
        headers: Vec::new(),
    }
}

/// WeChat's answer once the forward ended: `Ok(status)` of the merchant's service, or `Err`
/// with why no answer came. `204` for a 2xx only; otherwise `502`, so the event comes again.
pub fn after_forward(forwarded: Result<u16, String>) -> Reply {
    match forwarded {
        Ok(status) if (200..300).contains(&status) => Reply {
            status: 204,
            body: Vec::new(),
            headers: Vec::new(),
        },
        Ok(status) => refused(
            502,
            &format!(
                "the event was verified, but its forward was answered {status}: deliver it again"
            ),
        ),
        Err(why) => refused(
            502,
            &format!("the event was verified, but its forward failed ({why}): deliver it again"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_only_after_a_2xx_forward() {
        assert_eq!(after_forward(Ok(200)).status, 204);
        assert_eq!(after_forward(Ok(204)).body, b"");
        for failed in [
            after_forward(Ok(500)),
            after_forward(Err("timed out".into())),
        ] {
            assert_eq!(failed.status, 502);
            let body: serde_json::Value = serde_json::from_slice(&failed.body).unwrap();
            assert_eq!(body["code"], "FAIL");
        }
        assert_eq!(
            forward_headers("EV-1")[1],
            (IDEMPOTENCY_KEY, "EV-1".to_string())
        );
    }
}
