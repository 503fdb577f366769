//! The merchant's callback setting (`POST` and `GET {F}/callbacks`), read and answered with the
//! core's `SetCallback`, `CallbackUpdated` and `CallbackSetting` (`enabled` is `switch` on the
//! wire). Where callbacks go and how they are delivered is [`super::notify`]'s.
//!
//! Choices where WeChat documents nothing:
//! - set: the body is a `SetCallback` (400 `PARAM_ERROR`); `mchid` is the caller (400
//!   `PARAM_ERROR` "参数错误,请核对文档要求"); `notify_url` is `https://` with a host, at most
//!   256 characters, no query, fragment or space (400 `PARAM_ERROR` "notify_url格式错误", the
//!   core's rule: WeChat calls only https); `switch` left out keeps the current switch (on for a
//!   first setting);
//! - get: `?mchid=` is required (400 `PARAM_ERROR` "mchid不能为空") and the caller (400
//!   `PARAM_ERROR`); a merchant with no setting gets `{"mchid", "notify_url": "",
//!   "switch": false}`.

use std::sync::Mutex;

use wxcoupon_core::v3::callbacks::{CallbackSetting, CallbackUpdated, SetCallback, MAX_NOTIFY_URL};

use super::handlers::{
    lock, ok, param_error, required_query, to_json, Context, Incoming, Refused, Reply,
};
use super::rfc3339_beijing;
use crate::state::State;

fn caller(ctx: &Context<'_>, mchid: &str, location: &'static str) -> Result<(), Refused> {
    if mchid != ctx.config.mch_id {
        return Err(param_error(
            "参数错误,请核对文档要求",
            "mchid",
            location,
            "not the calling merchant",
        ));
    }
    Ok(())
}

/// The core's rule for a notify URL.
fn good_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    !rest.is_empty()
        && !rest.starts_with('/')
        && url.chars().count() <= MAX_NOTIFY_URL
        && !url.contains(['?', '#', ' '])
        && !url.chars().any(char::is_control)
}

pub(super) fn set(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    state: &Mutex<State>,
    body: &str,
) -> Result<Reply, Refused> {
    let request: SetCallback = serde_json::from_str(body).map_err(|e| {
        param_error(
            "请求体格式错误",
            "",
            "body",
            format!(
                "not the callback call's JSON body (line {} column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    caller(ctx, &request.mchid, "body")?;
    if !good_url(&request.notify_url) {
        return Err(param_error(
            "notify_url格式错误",
            "notify_url",
            "body",
            "https://, a host, at most 256 characters, no query, fragment or space",
        ));
    }
    let record = lock(state).set_callback(
        &request.mchid,
        &request.notify_url,
        request.enabled,
        req.now,
    );
    Ok(ok(to_json(&CallbackUpdated {
        update_time: rfc3339_beijing(record.update_time),
        notify_url: record.notify_url,
    })))
}

pub(super) fn get(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    state: &Mutex<State>,
) -> Result<Reply, Refused> {
    let mchid = required_query(req.query, "mchid")?;
    caller(ctx, &mchid, "query")?;
    let setting = match lock(state).callback(&mchid) {
        Some(record) => CallbackSetting {
            mchid,
            notify_url: record.notify_url,
            enabled: Some(record.enabled),
        },
        None => CallbackSetting {
            mchid,
            notify_url: String::new(),
            enabled: Some(false),
        },
    };
    Ok(ok(to_json(&setting)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_urls_follow_the_cores_rule() {
        assert!(good_url("https://example.com/notify"));
        for bad in [
            "http://example.com/n",
            "https://",
            "https:///n",
            "https://e.com/n?x=1",
            "https://e.com/n#f",
            "https://e.com/a b",
        ] {
            assert!(!good_url(bad), "{bad}");
        }
        assert!(!good_url(&format!("https://e.com/{}", "a".repeat(256))));
    }
}
