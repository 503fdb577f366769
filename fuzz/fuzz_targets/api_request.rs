//! Owns the JSON API's request reading in `wxcoupon-api`, in the order an edge applies it:
//! caller authentication (`needs_caller`, `CallerTokens::authorize`), the `Host` check,
//! `route`, then for `POST` `check_content_type`, `check_content_length` and
//! `IssueInput::parse`, for `GET` `Call::stock` / `Call::coupon` (`query_pairs`,
//! `percent_decode`); every call a request becomes is then built with the core
//! (`build_request`), and every error is turned into its answer.
//!
//! Input, split at the first six `\n`: method, target (path and query), `content-type`,
//! `content-length`, `authorization`, `host`, then the body (the rest). A header line that is
//! not UTF-8 or is missing is an absent header, as the edges read them.
//!
//! Checks: an accepted caller presented a configured token; routes match their method; an
//! accepted `content-length` is within the limit; a built request's `<xml>` body reads back as
//! exactly the signed fields and its `sign` verifies (no value from the JSON body can become
//! markup); the certificate goes with `send_coupon` only; every error answer is a JSON object
//! with a `code`, a 4xx/5xx status and header values without CR, LF or NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wxcoupon_api::callers::{check_host, loopback_host_names, needs_caller};
use wxcoupon_api::{
    check_content_length, check_content_type, percent_decode, query_pairs, route, ApiError, Call,
    CallerTokens, IssueInput, Reply, Route, MAX_BODY_BYTES,
};
use wxcoupon_core::{
    build_request, read_xml, signed_fields, verify_with, Api, ApiKey, Merchant, XmlLimits,
};

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
const NONCE: &str = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
const TOKENS: [(&str, &str); 2] = [("ops", "t0ken-ops"), ("ci", "t0ken-ci")];

fn header(line: Option<&[u8]>) -> Option<&str> {
    line.and_then(|l| std::str::from_utf8(l).ok())
}

fn check_reply(e: ApiError) {
    let reply = Reply::from(e);
    assert!(
        (400..600).contains(&reply.status),
        "status {}",
        reply.status
    );
    let body: Value = serde_json::from_slice(&reply.body).expect("an error body is JSON");
    assert!(body.get("code").is_some_and(Value::is_string), "{body}");
    for (name, value) in reply.all_headers() {
        assert!(
            !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "header {name}: {value:?}"
        );
    }
}

fn build(merchant: &Merchant, call: &Call) {
    match build_request(merchant, call.request(), NONCE) {
        Ok(http) => {
            assert_eq!(
                http.needs_client_certificate,
                call.api() == Api::SendCoupon,
                "the certificate with {:?}",
                call.api()
            );
            let expected = signed_fields(merchant, call.request(), NONCE).expect("signed");
            let sent = read_xml(&http.body, &XmlLimits::default())
                .unwrap_or_else(|e| panic!("our own request body does not read back: {e}"));
            assert_eq!(sent, expected, "the body is not the signed fields");
            let sign = sent.get("sign").expect("a sign");
            assert!(verify_with(&sent, &merchant.api_key, sign, merchant.sign_type).is_ok());
            // An answer to it: what an upstream failure becomes.
            let reply = call.finish(
                Err(wxcoupon_core::Error::UnexpectedStatus { status: 502 }),
                |s| s,
            );
            assert!(serde_json::from_slice::<Value>(&reply.body).is_ok());
        }
        Err(e) => check_reply(ApiError::from_core(e, |s| s)),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(7, |&b| b == b'\n');
    let method = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let target = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let content_type = header(lines.next());
    let content_length = header(lines.next());
    let authorization = header(lines.next());
    let host = header(lines.next());
    let body = lines.next().unwrap_or_default();

    let merchant = Merchant::new(
        "wx5edab3bdfba3dc1c",
        "10000098",
        ApiKey::new(KEY).expect("the test key"),
    );

    // Who is calling.
    let callers = CallerTokens::from_tokens(TOKENS);
    assert_eq!(
        CallerTokens::none().authorize(authorization).ok(),
        Some(None)
    );
    if needs_caller(&target) {
        assert!(target.starts_with("/v1"));
        match callers.authorize(authorization) {
            Ok(Some(name)) => {
                let (_, token) = TOKENS.iter().find(|(n, _)| *n == name).expect("a name");
                assert!(authorization.is_some_and(|a| a.contains(token)));
            }
            Ok(None) => panic!("callers are configured, yet no caller was needed"),
            Err(e) => {
                assert_eq!(e.status, 401);
                check_reply(e);
            }
        }
    }
    if let Some(setting) = authorization {
        let _ = CallerTokens::parse(setting);
    }
    match check_host(host, &loopback_host_names("127.0.0.1:8080", &[])) {
        Ok(()) => assert!(host.is_some_and(|h| !h.trim().is_empty())),
        Err(e) => check_reply(e),
    }

    // The headers a POST is read by, whatever the route.
    let content_type_ok = check_content_type(content_type);
    let content_length_ok = check_content_length(content_length, MAX_BODY_BYTES);
    if content_length_ok.is_ok() {
        if let Some(n) = content_length {
            assert!(n
                .trim()
                .parse::<u64>()
                .is_ok_and(|n| n <= MAX_BODY_BYTES as u64));
        }
    }

    match route(&method, &target) {
        Ok(Route::Health) => assert_eq!(method, "GET"),
        // Its body is WeChat's callback, read by the core's notification module (fuzzed with
        // the answers' checks); the route itself takes only POST.
        Ok(Route::Notification) => assert_eq!(method, "POST"),
        Ok(Route::Issue) => {
            assert_eq!(method, "POST");
            if let Err(e) = content_type_ok {
                return check_reply(e);
            }
            if let Err(e) = content_length_ok {
                return check_reply(e);
            }
            if body.len() > MAX_BODY_BYTES {
                return check_reply(ApiError::body_too_large(MAX_BODY_BYTES));
            }
            match IssueInput::parse(body) {
                Ok(input) => {
                    let call = Call::issue(input, || "1000009820261128000001".to_string());
                    assert!(call.partner_trade_no().is_some());
                    build(&merchant, &call);
                }
                Err(e) => check_reply(e),
            }
        }
        Ok(Route::Stock { stock_id }) => {
            assert_eq!(method, "GET");
            build(&merchant, &Call::stock(&stock_id));
        }
        Ok(Route::Coupon { coupon_id, query }) => {
            assert_eq!(method, "GET");
            match Call::coupon(&coupon_id, &query) {
                Ok(call) => build(&merchant, &call),
                Err(e) => check_reply(e),
            }
        }
        // The v3 routes: what the request becomes (signing needs a merchant with keys: the
        // core's v3 calls are fuzzed through their answers' checks).
        Ok(Route::V3(v3_route)) => {
            let body = if v3_route.has_body() { body } else { &[][..] };
            let defaults = wxcoupon_api::v3::V3Defaults {
                mchid: "10000098",
                appid: Some("wx5edab3bdfba3dc1c"),
            };
            if let Err(e) = wxcoupon_api::v3::V3Call::new(v3_route, body, &defaults) {
                check_reply(e);
            }
        }
        Err(e) => check_reply(e),
    }

    // The decoders on their own.
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let _ = query_pairs(query);
    for plus_is_space in [false, true] {
        let decoded = percent_decode(path, plus_is_space);
        if !path.contains('%') && !(plus_is_space && path.contains('+')) {
            assert_eq!(decoded.as_deref(), Some(path), "nothing to decode");
        }
        if let Some(decoded) = decoded {
            assert!(decoded.len() <= path.len());
        }
    }
});
