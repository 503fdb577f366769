//! API v3 over real HTTPS on loopback: requests signed and answers verified with
//! `wxcoupon_core::v3` (the merchant key of `tests/fixtures/v3/`, TEST ONLY), the stocks shared
//! with v2, request authentication, the certificate download and rotation, and every v3 fault.

mod common;

use std::time::{Duration, Instant};

use common::*;
use http::Method;
use serde_json::Value;
use wxcoupon_core::v3::answer::Answer as V3Answer;
use wxcoupon_core::v3::auth::{
    check_signed_answer, request_message, AnswerRefusal, MAX_CLOCK_SKEW_SECONDS,
};
use wxcoupon_core::v3::certificates::download_request;
use wxcoupon_core::v3::error::Error as V3Error;
use wxcoupon_core::v3::favor::{IssueCoupon, QueryCoupon, QueryStock};
use wxcoupon_core::v3::merchant::{Merchant as V3Merchant, MerchantSettings};
use wxcoupon_core::v3::request::{Method as V3Method, Request as V3Request, SignedRequest};
use wxcoupon_core::v3::rsa::{MerchantSigner, Verifiers};
use wxcoupon_core::{CouponResponse, CouponState};
use wxcoupon_simulator::v3::fixtures;
use wxcoupon_simulator::{
    AnswerKey, ApiVersion, CertFile, Endpoint, Faults, RunningSimulator, SimulatorConfig, V3Config,
};

const APPID: &str = "wx5edab3bdfba3dc1c";
const MCHID: &str = "10000098";

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn out_request_no() -> String {
    format!("v3-{}", trade_no())
}

/// The simulator's merchant in public-key mode (what `v3_merchant_settings` gives).
fn merchant(sim: &RunningSimulator) -> V3Merchant {
    V3Merchant::new(&sim.v3_merchant_settings()).expect("the simulator's v3 merchant")
}

/// The same merchant holding only these platform certificates (certificate mode).
fn certificate_merchant(sim: &RunningSimulator, pems: &[String]) -> V3Merchant {
    V3Merchant::new(&MerchantSettings {
        wechatpay_public_key_id: None,
        wechatpay_public_key_pem: None,
        platform_certificates: pems.to_vec(),
        ..sim.v3_merchant_settings()
    })
    .expect("a certificate-mode merchant")
}

fn issue(stock: &str, openid: &str, out_request_no: &str) -> V3Request {
    IssueCoupon {
        openid: openid.into(),
        stock_id: stock.into(),
        out_request_no: out_request_no.into(),
        appid: APPID.into(),
        stock_creator_mchid: MCHID.into(),
        ..IssueCoupon::default()
    }
    .request()
    .expect("a valid issue request")
}

fn query_stock_v3(stock: &str) -> V3Request {
    QueryStock {
        stock_id: stock.into(),
        stock_creator_mchid: MCHID.into(),
    }
    .request()
    .unwrap()
}

fn query_coupon_v3(openid: &str, coupon_id: &str) -> V3Request {
    QueryCoupon {
        openid: openid.into(),
        coupon_id: coupon_id.into(),
        appid: APPID.into(),
    }
    .request()
    .unwrap()
}

/// Signs `request` as `merchant` now.
fn signed(merchant: &V3Merchant, request: V3Request) -> SignedRequest {
    let to_sign = request.to_sign(unix_now(), &nonce()).unwrap();
    merchant.sign(to_sign).unwrap()
}

/// Sends a signed request as it is and reads the answer.
async fn send_v3(client: &mut Client, base: &str, request: &SignedRequest) -> V3Answer {
    let target = request.url.strip_prefix(base).expect("the simulator's URL");
    let method = match request.method {
        V3Method::Get => Method::GET,
        V3Method::Post => Method::POST,
    };
    let (status, headers, body) = client
        .exchange(
            method,
            target,
            &request.headers,
            request.body.clone().into_bytes(),
        )
        .await
        .expect("an answer");
    V3Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).expect("UTF-8"),
    }
}

/// Signs and sends `request` as `merchant`.
async fn call(
    client: &mut Client,
    sim: &RunningSimulator,
    merchant: &V3Merchant,
    request: V3Request,
) -> V3Answer {
    send_v3(client, &sim.https_base_url(), &signed(merchant, request)).await
}

/// `(status, code, message)` of a refusal.
fn refusal(answer: &V3Answer) -> (u16, String, String) {
    let body: Value = serde_json::from_str(&answer.body).expect("a JSON refusal");
    (
        answer.status,
        body["code"].as_str().unwrap_or("").to_string(),
        body["message"].as_str().unwrap_or("").to_string(),
    )
}

/// The check of a signed answer that failed, through the core's verification.
fn not_verified(result: Result<impl std::fmt::Debug, V3Error>) -> AnswerRefusal {
    match result {
        Err(V3Error::AnswerNotVerified { refusal }) => refusal,
        other => panic!("expected an unverified answer, got {other:?}"),
    }
}

/// Checks `answer`'s signature with `verifiers` (whatever its status) and returns the serial.
fn assert_signed(answer: &V3Answer, verifiers: &Verifiers) -> String {
    let to_verify = check_signed_answer(
        |n| answer.header(n),
        &answer.body,
        unix_now(),
        |s| verifiers.holds(s),
    )
    .expect("every signed header present, the clock and serial right");
    verifiers.verify(&to_verify).expect("a genuine signature");
    to_verify.serial
}

fn platform_verifiers() -> Verifiers {
    Verifiers::new()
        .with_public_key(fixtures::PUBLIC_KEY_ID, fixtures::PLATFORM_PUBLIC_KEY_PEM)
        .unwrap()
        .with_platform_certificate(fixtures::PLATFORM_CERT_PEM)
        .unwrap()
}

#[tokio::test]
async fn issue_is_idempotent_and_counts_once_for_both_apis() {
    let sim = start().await;
    let v3 = merchant(&sim);
    let v2 = production(&sim);
    let mut client = Client::https(&sim, true);
    let number = out_request_no();

    let answer = call(&mut client, &sim, &v3, issue("1757", OPENID, &number)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let first = v3.parse_issue_coupon(&answer, unix_now()).unwrap();
    // The same out_request_no again: the same coupon, nothing counted.
    let answer = call(&mut client, &sim, &v3, issue("1757", OPENID, &number)).await;
    let again = v3.parse_issue_coupon(&answer, unix_now()).unwrap();
    assert_eq!(again.coupon_id, first.coupon_id);
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 1);
    let coupons = sim.coupons();
    assert_eq!(coupons.len(), 1);
    assert_eq!(coupons[0].coupon_id, first.coupon_id);
    assert_eq!(coupons[0].api, ApiVersion::V3);
    assert_eq!(coupons[0].partner_trade_no, number);
    assert_eq!(coupons[0].openid, OPENID);

    // The same number for another openid or stock: refused, nothing counted.
    for request in [
        issue("1757", "another-openid", &number),
        issue("1758", OPENID, &number),
    ] {
        let answer = call(&mut client, &sim, &v3, request).await;
        assert_eq!(refusal(&answer).0, 400);
        assert_eq!(refusal(&answer).1, "INVALID_REQUEST");
    }
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 1);
    assert_eq!(sim.coupons().len(), 1);

    // v2 counts the v3 coupon once, and finds it.
    let (_, stock) = client.call(&v2, &query_stock("1757")).await.unwrap();
    let Ok(CouponResponse::QueryCouponStock(stock)) = stock else {
        panic!("v2 stock query: {stock:?}")
    };
    assert_eq!(stock.is_send_num, Some(1));
    let (_, info) = client
        .call(&v2, &query_coupon(&first.coupon_id, OPENID, "1757"))
        .await
        .unwrap();
    let Ok(CouponResponse::QueryCouponsInfo(info)) = info else {
        panic!("v2 coupon query: {info:?}")
    };
    assert_eq!(info.state, CouponState::Usable);
    // … and v3 counts it once.
    let answer = call(&mut client, &sim, &v3, query_stock_v3("1757")).await;
    let v3_stock = v3.parse_query_stock(&answer, unix_now()).unwrap();
    assert_eq!(v3_stock.distributed_coupons, Some(1));

    // The per-user limit counts the v3 coupon for v2.
    let (_, refused) = client
        .call(&v2, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    assert_eq!(
        business(refused).err_code.as_deref(),
        Some("USER_AL_GET_COUPON")
    );
    // A v2 coupon shows in v3: counted and found.
    let (_, sent) = client
        .call(&v2, &send("1757", "v2-user", &trade_no()))
        .await
        .unwrap();
    let Ok(CouponResponse::SendCoupon(sent)) = sent else {
        panic!("v2 send: {sent:?}")
    };
    let answer = call(&mut client, &sim, &v3, query_stock_v3("1757")).await;
    let v3_stock = v3.parse_query_stock(&answer, unix_now()).unwrap();
    assert_eq!(v3_stock.distributed_coupons, Some(2));
    let answer = call(
        &mut client,
        &sim,
        &v3,
        query_coupon_v3("v2-user", &sent.coupon_id),
    )
    .await;
    let coupon = v3.parse_query_coupon(&answer, unix_now()).unwrap();
    assert_eq!(coupon.coupon_id, sent.coupon_id);
    let apis: Vec<ApiVersion> = sim.coupons().iter().map(|c| c.api).collect();
    assert_eq!(apis, vec![ApiVersion::V3, ApiVersion::V2]);
    // And v3's per-user limit counts the v2 coupon.
    let answer = call(
        &mut client,
        &sim,
        &v3,
        issue("1757", "v2-user", &out_request_no()),
    )
    .await;
    assert_eq!(
        refusal(&answer),
        (400, "RULE_LIMIT".into(), "用户已达最大领券次数".into())
    );
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 2);
}

#[tokio::test]
async fn stock_and_coupon_queries_answer_the_documented_shapes() {
    let sim = start().await;
    let v3 = merchant(&sim);
    let mut client = Client::https(&sim, false);

    let answer = call(&mut client, &sim, &v3, query_stock_v3("1757")).await;
    let stock = v3.parse_query_stock(&answer, unix_now()).unwrap();
    assert_eq!(stock.stock_id, "1757");
    assert_eq!(stock.stock_creator_mchid.as_deref(), Some(MCHID));
    assert_eq!(stock.stock_name.as_deref(), Some("测试代金券5元"));
    assert_eq!(stock.status.as_deref(), Some("running"));
    assert_eq!(
        stock.create_time.as_deref(),
        Some("2023-12-20T10:30:00+08:00")
    );
    assert_eq!(
        stock.available_begin_time.as_deref(),
        Some("2024-01-01T00:00:00+08:00")
    );
    assert_eq!(
        stock.available_end_time.as_deref(),
        Some("2099-12-31T23:59:59+08:00")
    );
    assert_eq!(stock.distributed_coupons, Some(0));
    assert_eq!(stock.no_cash, Some(false));
    assert_eq!(stock.singleitem, Some(false));
    assert_eq!(stock.stock_type.as_deref(), Some("NORMAL"));
    assert_eq!(stock.description.as_deref(), Some("满10元减5元"));
    let rule = stock.stock_use_rule.unwrap();
    assert_eq!(rule.max_coupons, Some(100));
    assert_eq!(rule.max_amount, Some(50_000));
    assert_eq!(rule.max_coupons_per_user, Some(1));
    assert_eq!(rule.coupon_type.as_deref(), Some("NORMAL"));
    let fixed = rule.fixed_normal_coupon.unwrap();
    assert_eq!(
        (fixed.coupon_amount, fixed.transaction_minimum),
        (Some(500), Some(1000))
    );
    assert!(stock.extra.is_empty(), "{:?}", stock.extra);
    // An inactive stock, and one without a per-user limit.
    let answer = call(&mut client, &sim, &v3, query_stock_v3("1759")).await;
    let inactive = v3.parse_query_stock(&answer, unix_now()).unwrap();
    assert_eq!(inactive.status.as_deref(), Some("unactivated"));
    let answer = call(&mut client, &sim, &v3, query_stock_v3("1758")).await;
    let unlimited = v3.parse_query_stock(&answer, unix_now()).unwrap();
    assert_eq!(unlimited.stock_use_rule.unwrap().max_coupons_per_user, None);

    // Another creator, an unknown stock.
    let other = QueryStock {
        stock_id: "1757".into(),
        stock_creator_mchid: "1900000109".into(),
    }
    .request()
    .unwrap();
    let answer = call(&mut client, &sim, &v3, other).await;
    assert_eq!(refusal(&answer).0, 400);
    assert_eq!(refusal(&answer).1, "PARAM_ERROR");
    let answer = call(&mut client, &sim, &v3, query_stock_v3("999999")).await;
    assert_eq!(refusal(&answer).1, "RESOURCE_NOT_EXISTS");
    assert_eq!(answer.status, 404);
    // Refusals are signed too.
    assert_signed(&answer, &platform_verifiers());

    let answer = call(
        &mut client,
        &sim,
        &v3,
        issue("1757", OPENID, &out_request_no()),
    )
    .await;
    let issued = v3.parse_issue_coupon(&answer, unix_now()).unwrap();
    let answer = call(
        &mut client,
        &sim,
        &v3,
        query_coupon_v3(OPENID, &issued.coupon_id),
    )
    .await;
    let coupon = v3.parse_query_coupon(&answer, unix_now()).unwrap();
    assert_eq!(coupon.coupon_id, issued.coupon_id);
    assert_eq!(coupon.stock_id.as_deref(), Some("1757"));
    assert_eq!(coupon.stock_creator_mchid.as_deref(), Some(MCHID));
    assert_eq!(coupon.coupon_name.as_deref(), Some("测试代金券5元"));
    assert_eq!(coupon.status.as_deref(), Some("SENDED"));
    assert_eq!(coupon.coupon_type.as_deref(), Some("NORMAL"));
    assert_eq!(coupon.no_cash, Some(false));
    assert_eq!(coupon.singleitem, Some(false));
    assert!(coupon.create_time.unwrap().ends_with("+08:00"));
    assert_eq!(
        coupon.available_end_time.as_deref(),
        Some("2099-12-31T23:59:59+08:00")
    );
    let info = coupon.normal_coupon_information.unwrap();
    assert_eq!(
        (info.coupon_amount, info.transaction_minimum),
        (Some(500), Some(1000))
    );
    // Another user's coupon, another appid, an unknown coupon: 404.
    let wrong_appid = QueryCoupon {
        openid: OPENID.into(),
        coupon_id: issued.coupon_id.clone(),
        appid: "wx0000000000000000".into(),
    }
    .request()
    .unwrap();
    for request in [
        query_coupon_v3("someone-else", &issued.coupon_id),
        wrong_appid,
        query_coupon_v3(OPENID, "1"),
    ] {
        let answer = call(&mut client, &sim, &v3, request).await;
        assert_eq!(refusal(&answer).0, 404, "{}", answer.body);
        assert_eq!(refusal(&answer).1, "RESOURCE_NOT_EXISTS");
    }
}

#[tokio::test]
async fn issue_refusals_follow_the_rules() {
    let sim = start().await;
    let v3 = merchant(&sim);
    let mut client = Client::https(&sim, false);
    let base = IssueCoupon {
        openid: OPENID.into(),
        stock_id: "1758".into(),
        out_request_no: out_request_no(),
        appid: APPID.into(),
        stock_creator_mchid: MCHID.into(),
        ..IssueCoupon::default()
    };
    let cases = [
        (
            IssueCoupon {
                appid: "wx0000000000000000".into(),
                ..base.clone()
            },
            (400, "PARAM_ERROR", Some("商户号和APPID不匹配")),
        ),
        (
            IssueCoupon {
                stock_creator_mchid: "1900000109".into(),
                ..base.clone()
            },
            (400, "PARAM_ERROR", None),
        ),
        (
            IssueCoupon {
                coupon_value: Some(100),
                ..base.clone()
            },
            (400, "PARAM_ERROR", None),
        ),
        (
            IssueCoupon {
                stock_id: "999999".into(),
                ..base.clone()
            },
            (404, "RESOURCE_NOT_EXISTS", None),
        ),
        (
            IssueCoupon {
                stock_id: "1759".into(),
                ..base.clone()
            },
            (400, "INVALID_REQUEST", None),
        ),
    ];
    for (request, (status, code, message)) in cases {
        let answer = call(&mut client, &sim, &v3, request.request().unwrap()).await;
        let (s, c, m) = refusal(&answer);
        assert_eq!((s, c.as_str()), (status, code), "{}", answer.body);
        if let Some(message) = message {
            assert_eq!(m, message);
        }
        let refused = v3.parse_issue_coupon(&answer, unix_now()).unwrap_err();
        assert!(matches!(refused, V3Error::Refused(_)), "{refused:?}");
    }

    // out_request_no rules (the core refuses to build these: the request is made by hand).
    for bad in ["has/slash".to_string(), "9".repeat(129), String::new()] {
        let body = format!(
            r#"{{"stock_id":"1758","out_request_no":"{bad}","appid":"{APPID}","stock_creator_mchid":"{MCHID}"}}"#
        );
        let request = V3Request {
            method: V3Method::Post,
            url: format!("/v3/marketing/favor/users/{OPENID}/coupons"),
            body,
        };
        let answer = call(&mut client, &sim, &v3, request).await;
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!((answer.status, &body["code"]), (400, &"PARAM_ERROR".into()));
        assert_eq!(body["detail"]["field"], "/body/out_request_no");
    }
    // 128 characters of every allowed kind pass.
    let longest = format!("a|b_c*d-9{}", "x".repeat(119));
    let answer = call(&mut client, &sim, &v3, issue("1758", OPENID, &longest)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // Exhausted: 1760 holds one coupon.
    let answer = call(
        &mut client,
        &sim,
        &v3,
        issue("1760", "first", &out_request_no()),
    )
    .await;
    assert_eq!(answer.status, 200);
    let answer = call(
        &mut client,
        &sim,
        &v3,
        issue("1760", "second", &out_request_no()),
    )
    .await;
    assert_eq!(
        refusal(&answer),
        (400, "NOT_ENOUGH".into(), "批次预算耗尽".into())
    );
    // The per-user limit of 1757.
    let answer = call(
        &mut client,
        &sim,
        &v3,
        issue("1757", OPENID, &out_request_no()),
    )
    .await;
    assert_eq!(answer.status, 200);
    let answer = call(
        &mut client,
        &sim,
        &v3,
        issue("1757", OPENID, &out_request_no()),
    )
    .await;
    assert_eq!(
        refusal(&answer),
        (400, "RULE_LIMIT".into(), "用户已达最大领券次数".into())
    );
    assert_eq!(sim.coupons().len(), 3);
}

#[tokio::test]
async fn issuing_beyond_the_rate_is_frequency_limited_and_issues_nothing() {
    let sim = start_with(SimulatorConfig {
        send_coupon_per_second: Some(1),
        ..SimulatorConfig::default()
    })
    .await;
    let v3 = merchant(&sim);
    let mut client = Client::https(&sim, false);
    let mut issued = 0;
    let mut limited = 0;
    // Three within milliseconds span at most two one-second windows.
    for _ in 0..3 {
        let answer = call(
            &mut client,
            &sim,
            &v3,
            issue("1758", OPENID, &out_request_no()),
        )
        .await;
        match answer.status {
            200 => issued += 1,
            429 => {
                assert_eq!(refusal(&answer).1, "FREQUENCY_LIMITED");
                limited += 1;
            }
            other => panic!("unexpected {other}: {}", answer.body),
        }
    }
    assert!(limited >= 1);
    assert_eq!(issued + limited, 3);
    assert_eq!(sim.stock("1758").unwrap().is_send_num, issued);
}

#[tokio::test]
async fn requests_without_a_valid_signature_are_sign_error() {
    let sim = start().await;
    let v3 = merchant(&sim);
    let base = sim.https_base_url();
    let mut client = Client::https(&sim, false);
    let expected = (401, "SIGN_ERROR".to_string(), "签名错误".to_string());

    // Signed with a key that is not the merchant's.
    let mut settings = sim.v3_merchant_settings();
    settings.private_key_pem = Some(fixtures::PLATFORM_KEY_PEM.into());
    let impostor = V3Merchant::new(&settings).unwrap();
    let answer = call(
        &mut client,
        &sim,
        &impostor,
        issue("1758", OPENID, &out_request_no()),
    )
    .await;
    assert_eq!(refusal(&answer), expected);
    assert_eq!(answer.body, r#"{"code":"SIGN_ERROR","message":"签名错误"}"#);
    // The refusal is signed, with the platform key under the key id the request named.
    assert_eq!(
        assert_signed(&answer, &platform_verifiers()),
        fixtures::PUBLIC_KEY_ID
    );

    // No Authorization at all.
    let mut request = signed(&v3, issue("1758", OPENID, &out_request_no()));
    request.headers.retain(|(n, _)| n != "authorization");
    assert_eq!(
        refusal(&send_v3(&mut client, &base, &request).await),
        expected
    );

    // A stale timestamp (301 s), signed correctly.
    let stale = issue("1758", OPENID, &out_request_no())
        .to_sign(unix_now() - MAX_CLOCK_SKEW_SECONDS - 1, &nonce())
        .unwrap();
    let request = v3.sign(stale).unwrap();
    assert_eq!(
        refusal(&send_v3(&mut client, &base, &request).await),
        expected
    );

    // The body changed after signing.
    let mut request = signed(&v3, issue("1758", OPENID, &out_request_no()));
    request.body = request.body.replace("1758", "1757");
    assert_eq!(
        refusal(&send_v3(&mut client, &base, &request).await),
        expected
    );

    // Another mchid in the header (signed by the right key).
    let mut settings = sim.v3_merchant_settings();
    settings.mchid = "1900000109".into();
    let stranger = V3Merchant::new(&settings).unwrap();
    let answer = call(&mut client, &sim, &stranger, query_stock_v3("1757")).await;
    assert_eq!(refusal(&answer), expected);

    // The query is signed as received: changing it breaks the signature.
    let mut request = signed(&v3, query_stock_v3("1757"));
    request.url.push_str("&x=1");
    assert_eq!(
        refusal(&send_v3(&mut client, &base, &request).await),
        expected
    );

    // A request signed the way the vectors' SDK orders the pairs still passes.
    let now = unix_now();
    let body = issue("1758", OPENID, &out_request_no()).body;
    let target = format!("/v3/marketing/favor/users/{OPENID}/coupons");
    let signer = MerchantSigner::from_pkcs8_pem(fixtures::MERCHANT_KEY_PEM).unwrap();
    let signature = signer.sign(&request_message(
        "POST",
        &target,
        &now.to_string(),
        "n1",
        &body,
    ));
    let authorization = format!(
        r#"WECHATPAY2-SHA256-RSA2048 serial_no="{}",timestamp="{now}",signature="{signature}",nonce_str="n1",mchid="{MCHID}""#,
        fixtures::MERCHANT_SERIAL_NO
    );
    let (status, _, _) = client
        .exchange(
            Method::POST,
            &target,
            &[
                ("authorization".into(), authorization),
                ("content-type".into(), "application/json".into()),
            ],
            body.into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(sim.coupons().len(), 1);
}

#[tokio::test]
async fn percent_encoded_openids_round_trip() {
    let sim = start().await;
    let v3 = merchant(&sim);
    let mut client = Client::https(&sim, false);
    let openid = "o/é?#&+ x%";
    let request = issue("1758", openid, &out_request_no());
    assert!(request.url.contains("o%2F%C3%A9%3F%23%26%2B%20x%25"));
    let answer = call(&mut client, &sim, &v3, request).await;
    let issued = v3.parse_issue_coupon(&answer, unix_now()).unwrap();
    assert_eq!(sim.coupons()[0].openid, openid);
    let answer = call(
        &mut client,
        &sim,
        &v3,
        query_coupon_v3(openid, &issued.coupon_id),
    )
    .await;
    let coupon = v3.parse_query_coupon(&answer, unix_now()).unwrap();
    assert_eq!(coupon.coupon_id, issued.coupon_id);
    // The v2 query finds it under the decoded openid too.
    let (_, info) = client
        .call(
            &production(&sim),
            &query_coupon(&issued.coupon_id, openid, "1758"),
        )
        .await
        .unwrap();
    assert!(
        matches!(info, Ok(CouponResponse::QueryCouponsInfo(_))),
        "{info:?}"
    );
    // A broken escape is a parameter error, not a crash.
    let request = V3Request {
        method: V3Method::Post,
        url: "/v3/marketing/favor/users/o%zz/coupons".into(),
        body: issue("1758", "o", &out_request_no()).body,
    };
    let answer = call(&mut client, &sim, &v3, request).await;
    assert_eq!(refusal(&answer).1, "PARAM_ERROR");
}

#[tokio::test]
async fn certificates_decrypt_and_rotation_switches_the_signing_key() {
    let sim = start().await;
    let v3 = merchant(&sim);
    let mut client = Client::https(&sim, false);
    assert_eq!(sim.v3_public_key_id(), fixtures::PUBLIC_KEY_ID);
    assert_eq!(
        sim.platform_certificate_serials(),
        vec![fixtures::PLATFORM_SERIAL_NO]
    );

    let answer = call(&mut client, &sim, &v3, download_request()).await;
    let list: Value = serde_json::from_str(&answer.body).unwrap();
    let entry = &list["data"][0]["encrypt_certificate"];
    assert_eq!(entry["algorithm"], "AEAD_AES_256_GCM");
    assert_eq!(entry["associated_data"], "certificate");
    assert_eq!(entry["nonce"].as_str().unwrap().len(), 12);
    let certificates = v3.parse_certificates(&answer, unix_now()).unwrap();
    assert_eq!(certificates.len(), 1);
    assert_eq!(certificates[0].serial_no, fixtures::PLATFORM_SERIAL_NO);
    assert_eq!(certificates[0].pem, fixtures::PLATFORM_CERT_PEM);
    assert_eq!(certificates[0].effective_time, "2023-01-01T08:00:00+08:00");
    assert_eq!(certificates[0].expire_time, "2043-01-01T08:00:00+08:00");

    // A merchant holding the initial certificate is answered under it.
    let old_only = certificate_merchant(&sim, &[fixtures::PLATFORM_CERT_PEM.to_string()]);
    let answer = call(&mut client, &sim, &old_only, query_stock_v3("1757")).await;
    old_only.parse_query_stock(&answer, unix_now()).unwrap();
    assert_eq!(
        answer.header("wechatpay-serial"),
        Some(fixtures::PLATFORM_SERIAL_NO)
    );

    let new_serial = sim.rotate_platform_certificate();
    assert_eq!(new_serial, "7E57C0DE000000000000000000000000000000F2");
    assert_eq!(
        sim.platform_certificate_serials(),
        vec![new_serial.clone(), fixtures::PLATFORM_SERIAL_NO.to_string()]
    );

    // Both are listed; the new one expires later.
    let answer = call(&mut client, &sim, &v3, download_request()).await;
    let certificates = v3.parse_certificates(&answer, unix_now()).unwrap();
    assert_eq!(certificates.len(), 2);
    let newest = certificates.last().unwrap();
    assert_eq!(newest.serial_no, new_serial);
    assert_eq!(newest.pem, sim.platform_certificate_pems()[0]);
    assert!(newest.expire_time > certificates[0].expire_time);
    assert_eq!(certificates[0].pem, fixtures::PLATFORM_CERT_PEM);

    // A client that named the old certificate is answered with the new one: holding only the
    // old one it cannot verify, so it must download again …
    let answer = call(&mut client, &sim, &old_only, query_stock_v3("1757")).await;
    assert_eq!(answer.header("wechatpay-serial"), Some(new_serial.as_str()));
    assert_eq!(
        not_verified(old_only.parse_query_stock(&answer, unix_now())),
        AnswerRefusal::UnknownSerial
    );
    // … and verifies it once it holds the new certificate (its download, the first with an
    // unknown serial, checks itself against the certificates it carries).
    let mut refreshed = certificate_merchant(&sim, &[fixtures::PLATFORM_CERT_PEM.to_string()]);
    let answer = call(&mut client, &sim, &refreshed, download_request()).await;
    for c in refreshed.parse_certificates(&answer, unix_now()).unwrap() {
        refreshed.add_platform_certificate(&c.pem).unwrap();
    }
    let answer = call(&mut client, &sim, &refreshed, query_stock_v3("1757")).await;
    refreshed.parse_query_stock(&answer, unix_now()).unwrap();
    assert_eq!(answer.header("wechatpay-serial"), Some(new_serial.as_str()));
    // The signature is the rotated key's: the new certificate verifies it, the old does not.
    let new_only = Verifiers::new()
        .with_platform_certificate(&sim.platform_certificate_pems()[0])
        .unwrap();
    assert_eq!(assert_signed(&answer, &new_only), new_serial);

    // Public-key mode is not affected by the rotation.
    let answer = call(&mut client, &sim, &v3, query_stock_v3("1757")).await;
    v3.parse_query_stock(&answer, unix_now()).unwrap();
    assert_eq!(
        answer.header("wechatpay-serial"),
        Some(fixtures::PUBLIC_KEY_ID)
    );
}

#[tokio::test]
async fn answer_key_certificate_signs_unnamed_answers_with_the_current_certificate() {
    let sim = start_with(SimulatorConfig {
        v3: V3Config {
            answer_key: AnswerKey::Certificate,
            ..V3Config::default()
        },
        ..SimulatorConfig::default()
    })
    .await;
    let mut client = Client::https(&sim, false);
    // A merchant that holds no WeChat Pay key yet names none: its first download is answered
    // under the current certificate, which the download itself carries.
    let fresh = certificate_merchant(&sim, &[]);
    let answer = call(&mut client, &sim, &fresh, download_request()).await;
    assert_eq!(
        answer.header("wechatpay-serial"),
        Some(fixtures::PLATFORM_SERIAL_NO)
    );
    let certificates = fresh.parse_certificates(&answer, unix_now()).unwrap();
    assert_eq!(certificates[0].serial_no, fixtures::PLATFORM_SERIAL_NO);
    let serial = sim.rotate_platform_certificate();
    let answer = call(&mut client, &sim, &fresh, query_stock_v3("1757")).await;
    assert_eq!(answer.header("wechatpay-serial"), Some(serial.as_str()));
    // Naming the public key id still gets the public key.
    let v3 = merchant(&sim);
    let answer = call(&mut client, &sim, &v3, query_stock_v3("1757")).await;
    v3.parse_query_stock(&answer, unix_now()).unwrap();
    assert_eq!(
        answer.header("wechatpay-serial"),
        Some(fixtures::PUBLIC_KEY_ID)
    );
}

/// A simulator armed with `faults` for v3 issuing only, its merchant and a client.
async fn armed(faults: Faults) -> (RunningSimulator, V3Merchant, Client) {
    let sim = start().await;
    sim.set_faults(Faults {
        only: Some(Endpoint::V3IssueCoupon),
        ..faults
    })
    .unwrap();
    let v3 = merchant(&sim);
    let client = Client::https(&sim, false);
    (sim, v3, client)
}

fn assert_nothing_issued(sim: &RunningSimulator) {
    assert_eq!(sim.stock("1758").unwrap().is_send_num, 0);
    assert!(sim.coupons().is_empty());
}

#[tokio::test]
async fn signature_faults_are_refused_by_the_core_and_issue_nothing() {
    let cases: [(Faults, AnswerRefusal); 6] = [
        (
            Faults {
                missing_signature: true,
                ..Faults::default()
            },
            AnswerRefusal::MissingHeader("Wechatpay-Signature"),
        ),
        (
            Faults {
                unknown_serial: true,
                ..Faults::default()
            },
            AnswerRefusal::UnknownSerial,
        ),
        (
            Faults {
                timestamp_offset_seconds: -3600,
                ..Faults::default()
            },
            AnswerRefusal::StaleTimestamp {
                skew_seconds: -3600,
            },
        ),
        (
            Faults {
                timestamp_offset_seconds: 3600,
                ..Faults::default()
            },
            AnswerRefusal::StaleTimestamp { skew_seconds: 3600 },
        ),
        (
            Faults {
                tampered_body: true,
                ..Faults::default()
            },
            AnswerRefusal::Signature,
        ),
        (
            Faults {
                wrong_sign: true,
                ..Faults::default()
            },
            AnswerRefusal::Signature,
        ),
    ];
    for (faults, expected) in cases {
        let (sim, v3, mut client) = armed(faults.clone()).await;
        let answer = call(
            &mut client,
            &sim,
            &v3,
            issue("1758", OPENID, &out_request_no()),
        )
        .await;
        assert_eq!(answer.status, 200, "{faults:?}: {}", answer.body);
        let sent: Value = serde_json::from_str(&answer.body).unwrap();
        assert!(sent["coupon_id"].is_string(), "{faults:?}");
        // The clock may tick between the answer and this check: compare the skew loosely.
        let refusal = not_verified(v3.parse_issue_coupon(&answer, unix_now()));
        match (&refusal, &expected) {
            (
                AnswerRefusal::StaleTimestamp { skew_seconds: got },
                AnswerRefusal::StaleTimestamp { skew_seconds: want },
            ) => assert!((got - want).abs() <= 2, "{faults:?}: {refusal:?}"),
            _ => assert_eq!(refusal, expected, "{faults:?}"),
        }
        assert_nothing_issued(&sim);
        if faults.unknown_serial {
            // Only the serial is wrong: under the real key id the signature is genuine.
            assert_eq!(
                answer.header("wechatpay-serial"),
                Some("PUB_KEY_ID_0000UNKNOWN")
            );
            let mut renamed = answer.clone();
            for (name, value) in &mut renamed.headers {
                if name == "wechatpay-serial" {
                    *value = fixtures::PUBLIC_KEY_ID.into();
                }
            }
            v3.parse_issue_coupon(&renamed, unix_now()).unwrap();
        }
        if faults.tampered_body {
            // The body sent is not the body signed (a coupon id never issued).
            assert!(sim.coupons().is_empty());
        }
        // Armed for issuing only: the stock query is untouched.
        let answer = call(&mut client, &sim, &v3, query_stock_v3("1758")).await;
        v3.parse_query_stock(&answer, unix_now()).unwrap();
    }
}

#[tokio::test]
async fn status_faults_answer_signed_refusals_and_leave_state_untouched() {
    for (status, code) in [
        (429, Some("RATELIMIT_EXCEEDED")),
        (500, Some("SYSTEM_ERROR")),
        (502, Some("SERVICE_UNAVAILABLE")),
        (503, Some("SERVICE_UNAVAILABLE")),
        (202, None),
    ] {
        let (sim, v3, mut client) = armed(Faults {
            status: Some(status),
            times: Some(1),
            ..Faults::default()
        })
        .await;
        let number = out_request_no();
        let answer = call(&mut client, &sim, &v3, issue("1758", OPENID, &number)).await;
        assert_eq!(answer.status, status);
        match code {
            Some(code) => assert_eq!(refusal(&answer).1, code),
            None => assert_eq!(answer.body, ""),
        }
        assert_signed(&answer, &platform_verifiers());
        let error = v3.parse_issue_coupon(&answer, unix_now()).unwrap_err();
        match &error {
            V3Error::Refused(r) => {
                assert_eq!(r.status, status);
                assert_eq!(r.code.as_deref(), code);
            }
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(error.issue_outcome_unknown(), status != 429);
        assert_nothing_issued(&sim);
        // Retrying with the same out_request_no (the fault fired once) issues once.
        let answer = call(&mut client, &sim, &v3, issue("1758", OPENID, &number)).await;
        v3.parse_issue_coupon(&answer, unix_now()).unwrap();
        assert_eq!(sim.stock("1758").unwrap().is_send_num, 1);
    }
}

#[tokio::test]
async fn forced_codes_resets_and_truncation_issue_nothing() {
    let (sim, v3, mut client) = armed(Faults {
        err_code: Some("SYSTEM_ERROR".into()),
        ..Faults::default()
    })
    .await;
    let answer = call(
        &mut client,
        &sim,
        &v3,
        issue("1758", OPENID, &out_request_no()),
    )
    .await;
    assert_eq!(refusal(&answer).0, 500);
    assert_eq!(refusal(&answer).1, "SYSTEM_ERROR");
    assert_nothing_issued(&sim);

    for faults in [
        Faults {
            reset_connection: true,
            ..Faults::default()
        },
        Faults {
            truncated_body: true,
            ..Faults::default()
        },
    ] {
        let (sim, v3, mut client) = armed(faults.clone()).await;
        let request = signed(&v3, issue("1758", OPENID, &out_request_no()));
        let target = request.url.strip_prefix(&sim.https_base_url()).unwrap();
        let result = client
            .exchange(
                Method::POST,
                target,
                &request.headers,
                request.body.clone().into_bytes(),
            )
            .await;
        assert!(result.is_err(), "{faults:?}: {result:?}");
        assert_nothing_issued(&sim);
    }
}

#[tokio::test]
async fn latency_delays_an_issue_that_takes_effect() {
    let (sim, v3, mut client) = armed(Faults {
        latency_ms: 300,
        times: Some(1),
        ..Faults::default()
    })
    .await;
    let started = Instant::now();
    let answer = call(
        &mut client,
        &sim,
        &v3,
        issue("1758", OPENID, &out_request_no()),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    v3.parse_issue_coupon(&answer, unix_now()).unwrap();
    assert_eq!(sim.stock("1758").unwrap().is_send_num, 1);
    assert_eq!(sim.faults(), Faults::default());
}

#[tokio::test]
async fn unknown_paths_and_methods_are_signed_json() {
    let sim = start().await;
    let mut client = Client::https(&sim, false);
    let (status, headers, body) = client
        .exchange(Method::GET, "/v3/marketing/favor/nothing", &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(status, 404);
    let answer = V3Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    };
    assert_eq!(refusal(&answer).1, "RESOURCE_NOT_EXISTS");
    assert_signed(&answer, &platform_verifiers());
    let (status, headers, _) = client
        .exchange(
            Method::GET,
            "/v3/marketing/favor/coupon-stocks",
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, 405);
    assert!(headers.iter().any(|(n, v)| n == "allow" && v == "POST"));
    // A path two calls share names both methods.
    let (status, headers, _) = client
        .exchange(
            Method::PUT,
            "/v3/marketing/favor/users/o/coupons",
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, 405);
    assert!(headers
        .iter()
        .any(|(n, v)| n == "allow" && v == "GET, POST"));
}

#[tokio::test]
async fn v3_files_are_written_to_cert_dir() {
    let dir = std::env::temp_dir().join(format!("wxcoupon-sim-v3-{}", std::process::id()));
    let sim = start_with(SimulatorConfig {
        cert_dir: Some(dir.clone()),
        ..SimulatorConfig::default()
    })
    .await;
    let read = |file: CertFile| {
        let path = sim.cert_path(file).unwrap();
        assert!(path.starts_with(&dir));
        std::fs::read_to_string(path).unwrap()
    };
    assert_eq!(
        read(CertFile::WechatpayPublicKey).replace("\r\n", "\n"),
        fixtures::PLATFORM_PUBLIC_KEY_PEM
    );
    assert_eq!(
        read(CertFile::PlatformCertificate),
        fixtures::PLATFORM_CERT_PEM
    );
    assert_eq!(read(CertFile::MerchantApiKey), fixtures::MERCHANT_KEY_PEM);
    assert_eq!(
        read(CertFile::MerchantApiCertificate),
        fixtures::MERCHANT_CERT_PEM
    );
    assert_eq!(
        sim.cert_path(CertFile::MerchantApiKey)
            .unwrap()
            .file_name()
            .unwrap(),
        "merchant_key.pem"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sim.cert_path(CertFile::MerchantApiKey).unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A merchant configured from the written files works.
    let settings = MerchantSettings {
        private_key_pem: Some(read(CertFile::MerchantApiKey)),
        wechatpay_public_key_pem: Some(read(CertFile::WechatpayPublicKey)),
        ..sim.v3_merchant_settings()
    };
    let v3 = V3Merchant::new(&settings).unwrap();
    let mut client = Client::https(&sim, false);
    let answer = call(&mut client, &sim, &v3, query_stock_v3("1757")).await;
    v3.parse_query_stock(&answer, unix_now()).unwrap();
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}
