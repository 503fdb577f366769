//! The three coupon APIs and getsignkey over HTTPS: success paths, business rules, protocol
//! refusals, the sandbox, response signing. Requests are built and answers parsed with
//! `wxcoupon-core`.

mod common;

use common::*;
use wxcoupon_core::{
    verify, ApiKey, CouponResponse, CouponState, Error, SignType, SignatureCheck, SignaturePolicy,
    StockStatus,
};
use wxcoupon_simulator::{Environment, SimulatorConfig};

#[tokio::test]
async fn send_counts_and_the_coupon_is_found() {
    let sim = start().await;
    let merchant = production(&sim);
    let mut client = Client::https(&sim, true);

    let (_, before) = client.call(&merchant, &query_stock("1757")).await.unwrap();
    let Ok(CouponResponse::QueryCouponStock(before)) = before else {
        panic!("stock query failed: {before:?}")
    };
    assert_eq!(before.is_send_num, Some(0));

    let (answer, sent) = client
        .call(&merchant, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    let Ok(CouponResponse::SendCoupon(sent)) = sent else {
        panic!("send failed: {sent:?} / {}", answer.text())
    };
    assert!(sent.coupon_id.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(sent.coupon_stock_id, "1757");
    assert_eq!(sent.openid, OPENID);
    assert_eq!(
        (sent.resp_count, sent.success_count, sent.failed_count),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(sent.signature, SignatureCheck::Absent);
    // WeChat's shape: CDATA strings, bare numbers, empty elements, no sign.
    let xml = answer.text();
    assert!(xml.starts_with("<xml>"), "{xml}");
    assert!(xml.contains("<return_code><![CDATA[SUCCESS]]></return_code>"));
    assert!(xml.contains("<resp_count>1</resp_count>"));
    assert!(xml.contains("<device_info></device_info>"));
    assert!(!xml.contains("<sign>"));
    let fields = answer.fields();
    assert_eq!(fields["mch_id"], "10000098");
    assert_eq!(fields["appid"], "wx5edab3bdfba3dc1c");
    assert_eq!(fields["nonce_str"].len(), 32);
    assert_eq!(fields["ret_msg"], "");

    let (answer, after) = client.call(&merchant, &query_stock("1757")).await.unwrap();
    let Ok(CouponResponse::QueryCouponStock(after)) = after else {
        panic!("stock query failed: {after:?}")
    };
    assert_eq!(after.is_send_num, Some(1));
    assert_eq!(after.coupon_value, 500);
    assert_eq!(after.coupon_minimum, Some(1000));
    assert_eq!(after.status, StockStatus::Active);
    assert_eq!(after.coupon_total, 100);
    assert_eq!(after.max_quota, Some(1));
    assert_eq!(after.coupon_budget, Some(50_000));
    let begin = after.begin_time.unwrap();
    assert_eq!(begin.raw, "1704038400");
    let fields = answer.fields();
    assert!(fields.contains_key("coupon_mininumn"));
    assert_eq!(fields["begin_time_t"], "20240101000000");
    assert_eq!(fields["end_time_t"], "20991231235959");
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 1);

    let (_, info) = client
        .call(&merchant, &query_coupon(&sent.coupon_id, OPENID, "1757"))
        .await
        .unwrap();
    let Ok(CouponResponse::QueryCouponsInfo(info)) = info else {
        panic!("coupon query failed: {info:?}")
    };
    assert_eq!(info.coupon_id, sent.coupon_id);
    assert_eq!(info.coupon_stock_id, "1757");
    assert_eq!(info.coupon_value, 500);
    assert_eq!(info.coupon_minimum, Some(1000));
    assert_eq!(info.state, CouponState::Usable);
    assert_eq!(info.coupon_use_value, Some(0));
    assert_eq!(info.coupon_remain_value, Some(500));
    assert_eq!(info.send_source.as_deref(), Some("NORMAL"));
    assert!(info.fields.contains_key("coupon_minimum"));
    assert!(info.send_time.unwrap().unix_seconds.is_some());

    let coupons = sim.coupons();
    assert_eq!(coupons.len(), 1);
    assert_eq!(coupons[0].coupon_id, sent.coupon_id);
    sim.shutdown().await;
}

#[tokio::test]
async fn repeated_partner_trade_no_returns_the_first_coupon() {
    let sim = start().await;
    let merchant = production(&sim);
    let mut client = Client::https(&sim, true);
    let trade = trade_no();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, sent) = client
            .call(&merchant, &send("1758", OPENID, &trade))
            .await
            .unwrap();
        let Ok(CouponResponse::SendCoupon(sent)) = sent else {
            panic!("send failed: {sent:?}")
        };
        ids.push(sent.coupon_id);
    }
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert_eq!(sim.stock("1758").unwrap().is_send_num, 1);
    assert_eq!(sim.coupons().len(), 1);

    // A new trade number issues a new, larger id (1758 has no per-user limit).
    let (_, sent) = client
        .call(&merchant, &send("1758", OPENID, &trade_no()))
        .await
        .unwrap();
    let Ok(CouponResponse::SendCoupon(second)) = sent else {
        panic!("send failed: {sent:?}")
    };
    let first: u64 = ids[0].parse().unwrap();
    assert!(second.coupon_id.parse::<u64>().unwrap() > first);
    assert_eq!(sim.stock("1758").unwrap().is_send_num, 2);

    // The same trade number for another openid is refused and changes nothing.
    let (_, other) = client
        .call(&merchant, &send("1758", "another-openid", &trade))
        .await
        .unwrap();
    assert_eq!(business(other).err_code.as_deref(), Some("PARAM_ERROR"));
    assert_eq!(sim.stock("1758").unwrap().is_send_num, 2);
}

#[tokio::test]
async fn send_without_client_certificate_is_ca_error() {
    let sim = start().await;
    let merchant = production(&sim);
    let mut client = Client::https(&sim, false);
    let (answer, parsed) = client
        .call(&merchant, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    let msg = protocol(parsed);
    assert!(msg.contains("证书"), "{msg}");
    let fields = answer.fields();
    assert_eq!(fields["return_code"], "FAIL");
    assert_eq!(fields["err_code"], "CA_ERROR");
    assert!(!fields.contains_key("sign"));
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 0);

    // The query APIs need no certificate, on the same connection.
    let (_, stock) = client.call(&merchant, &query_stock("1757")).await.unwrap();
    assert!(matches!(stock, Ok(CouponResponse::QueryCouponStock(_))));
    assert_eq!(client.connects, 1);
}

#[tokio::test]
async fn bad_signature_is_sign_error_and_hmac_is_accepted() {
    let sim = start().await;
    let mut wrong = production(&sim);
    wrong.api_key = ApiKey::new("ffffffffffffffffffffffffffffffff").unwrap();
    let mut client = Client::https(&sim, true);
    let (answer, parsed) = client
        .call(&wrong, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    assert!(protocol(parsed).contains("签名错误"));
    assert_eq!(answer.fields()["err_code"], "SIGN_ERROR");

    // A request without sign at all.
    let body = b"<xml><appid>wx5edab3bdfba3dc1c</appid><mch_id>10000098</mch_id><nonce_str>x</nonce_str><coupon_stock_id>1757</coupon_stock_id></xml>".to_vec();
    let answer = client
        .post("/mmpaymkttransfers/query_coupon_stock", body)
        .await
        .unwrap();
    assert_eq!(answer.fields()["err_code"], "SIGN_ERROR");

    let mut hmac = production(&sim);
    hmac.sign_type = SignType::HmacSha256;
    let (_, parsed) = client
        .call(&hmac, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    assert!(
        matches!(parsed, Ok(CouponResponse::SendCoupon(_))),
        "{parsed:?}"
    );
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 1);
}

#[tokio::test]
async fn malformed_xml_is_req_param_xml_err() {
    let sim = start().await;
    let mut client = Client::https(&sim, true);
    for body in [
        &b"<xml><appid>wx</appid>"[..],
        b"not xml at all",
        b"",
        b"<root><a>1</a></root>",
        b"<xml><a><b>nested</b></a></xml>",
    ] {
        let answer = client
            .post("/mmpaymkttransfers/send_coupon", body.to_vec())
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        let fields = answer.fields();
        assert_eq!(fields["return_code"], "FAIL");
        assert_eq!(fields["err_code"], "REQ_PARAM_XML_ERR");
    }
    // Over the 64 KiB body limit.
    let huge = format!("<xml><a>{}</a></xml>", "x".repeat(70 * 1024));
    let answer = client
        .post("/mmpaymkttransfers/query_coupon_stock", huge.into_bytes())
        .await
        .unwrap();
    assert_eq!(answer.fields()["err_code"], "REQ_PARAM_XML_ERR");
}

#[tokio::test]
async fn per_user_quota_is_user_al_get_coupon() {
    let sim = start().await;
    let merchant = production(&sim);
    let mut client = Client::https(&sim, true);
    let (_, first) = client
        .call(&merchant, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    assert!(first.is_ok(), "{first:?}");
    let (answer, second) = client
        .call(&merchant, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    let err = business(second);
    assert_eq!(err.err_code.as_deref(), Some("USER_AL_GET_COUPON"));
    assert_eq!(err.ret_msg.as_deref(), Some("你已领取过该代金券"));
    assert!(!err.retryable);
    let fields = answer.fields();
    assert_eq!(fields["return_code"], "SUCCESS");
    assert_eq!(fields["result_code"], "FAIL");
    assert_eq!(fields["ret_code"], "FAIL");
    assert_eq!(fields["failed_count"], "1");
    assert_eq!(fields["success_count"], "0");
    assert_eq!(fields["resp_count"], "1");
    assert_eq!(fields["coupon_id"], "");
    assert_eq!(fields["openid"], OPENID);
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 1);
}

#[tokio::test]
async fn exhausted_stock_is_al_stock_over() {
    let sim = start().await;
    let merchant = production(&sim);
    let mut client = Client::https(&sim, true);
    let (_, first) = client
        .call(&merchant, &send("1760", "user-a", &trade_no()))
        .await
        .unwrap();
    assert!(first.is_ok(), "{first:?}");
    let (_, second) = client
        .call(&merchant, &send("1760", "user-b", &trade_no()))
        .await
        .unwrap();
    assert_eq!(business(second).err_code.as_deref(), Some("AL_STOCK_OVER"));
    assert_eq!(sim.stock("1760").unwrap().is_send_num, 1);
}

#[tokio::test]
async fn inactive_and_unknown_stocks() {
    let sim = start().await;
    let merchant = production(&sim);
    let mut client = Client::https(&sim, true);
    let (_, inactive) = client
        .call(&merchant, &send("1759", OPENID, &trade_no()))
        .await
        .unwrap();
    assert_eq!(
        business(inactive).err_code.as_deref(),
        Some("STOCK_IS_NOT_VALID")
    );
    let (_, unknown) = client
        .call(&merchant, &send("999999", OPENID, &trade_no()))
        .await
        .unwrap();
    assert_eq!(
        business(unknown).err_code.as_deref(),
        Some("COUPON_STOCK_ID_NOT_VALID")
    );
    let (_, unknown) = client
        .call(&merchant, &query_stock("999999"))
        .await
        .unwrap();
    assert_eq!(
        business(unknown).err_code.as_deref(),
        Some("COUPON_STOCK_ID_NOT_VALID")
    );
    // The inactive stock still answers a query, with its status.
    let (_, stock) = client.call(&merchant, &query_stock("1759")).await.unwrap();
    let Ok(CouponResponse::QueryCouponStock(stock)) = stock else {
        panic!("{stock:?}")
    };
    assert_eq!(stock.status, StockStatus::Inactive);
}

#[tokio::test]
async fn coupon_lookups_that_do_not_match_are_coupon_not_found() {
    let sim = start().await;
    let merchant = production(&sim);
    let mut client = Client::https(&sim, true);
    let (_, sent) = client
        .call(&merchant, &send("1758", OPENID, &trade_no()))
        .await
        .unwrap();
    let Ok(CouponResponse::SendCoupon(sent)) = sent else {
        panic!("{sent:?}")
    };
    for request in [
        query_coupon(&sent.coupon_id, "someone-else", "1758"),
        query_coupon(&sent.coupon_id, OPENID, "1757"),
        query_coupon("123", OPENID, "1758"),
    ] {
        let (_, parsed) = client.call(&merchant, &request).await.unwrap();
        assert_eq!(
            business(parsed).err_code.as_deref(),
            Some("COUPON_NOT_FOUND")
        );
    }
}

/// Extra request fields, the API, the expected err_code.
type Case = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

#[tokio::test]
async fn missing_fields_get_their_empty_codes() {
    let sim = start().await;
    let key = sim.config().api_key.clone();
    let mut client = Client::https(&sim, true);
    let base = [
        ("appid", "wx5edab3bdfba3dc1c"),
        ("mch_id", "10000098"),
        ("nonce_str", "n1"),
    ];
    let cases: [Case; 6] = [
        (
            &[
                ("openid", OPENID),
                ("openid_count", "1"),
                ("partner_trade_no", "t"),
            ],
            "send_coupon",
            "COUPON_STOCK_ID_EMPTY",
        ),
        (
            &[
                ("coupon_stock_id", "1757"),
                ("openid_count", "1"),
                ("partner_trade_no", "t"),
            ],
            "send_coupon",
            "OPEN_ID_EMPTY",
        ),
        (
            &[
                ("coupon_stock_id", "1757"),
                ("openid", OPENID),
                ("openid_count", "2"),
                ("partner_trade_no", "t"),
            ],
            "send_coupon",
            "PARAM_ERROR",
        ),
        (
            &[
                ("coupon_stock_id", "1757"),
                ("openid", OPENID),
                ("openid_count", "1"),
            ],
            "send_coupon",
            "PARAM_ERROR",
        ),
        (&[], "query_coupon_stock", "COUPON_STOCK_ID_EMPTY"),
        (
            &[("coupon_id", "1"), ("openid", OPENID)],
            "querycouponsinfo",
            "COUPON_STOCK_ID_EMPTY",
        ),
    ];
    for (extra, api, code) in cases {
        let pairs: Vec<(&str, &str)> = base.iter().chain(extra.iter()).copied().collect();
        let answer = client
            .post(
                &format!("/mmpaymkttransfers/{api}"),
                raw_signed(&pairs, &key),
            )
            .await
            .unwrap();
        let fields = answer.fields();
        assert_eq!(fields["return_code"], "SUCCESS", "{api} {code}");
        assert_eq!(fields["result_code"], "FAIL", "{api} {code}");
        assert_eq!(fields["err_code"], code, "{api}: {}", answer.text());
    }

    // No mch_id: refused before the signature.
    let answer = client
        .post(
            "/mmpaymkttransfers/query_coupon_stock",
            raw_signed(
                &[("appid", "wx5edab3bdfba3dc1c"), ("coupon_stock_id", "1757")],
                &key,
            ),
        )
        .await
        .unwrap();
    assert_eq!(answer.fields()["err_code"], "MCH_ID_EMPTY");
    assert_eq!(answer.fields()["return_code"], "FAIL");
    // Another merchant.
    let answer = client
        .post(
            "/mmpaymkttransfers/query_coupon_stock",
            raw_signed(
                &[
                    ("appid", "wx5edab3bdfba3dc1c"),
                    ("mch_id", "1"),
                    ("nonce_str", "n"),
                    ("coupon_stock_id", "1757"),
                ],
                &key,
            ),
        )
        .await
        .unwrap();
    assert_eq!(answer.fields()["err_code"], "CODE_2_ID_ERR");
    // Another appid.
    let answer = client
        .post(
            "/mmpaymkttransfers/query_coupon_stock",
            raw_signed(
                &[
                    ("appid", "wxother"),
                    ("mch_id", "10000098"),
                    ("nonce_str", "n"),
                    ("coupon_stock_id", "1757"),
                ],
                &key,
            ),
        )
        .await
        .unwrap();
    assert_eq!(answer.fields()["err_code"], "PARAM_ERROR");
    assert_eq!(answer.fields()["appid"], "wxother");
}

#[tokio::test]
async fn sandbox_key_and_sandbox_calls() {
    let sim = start().await;
    let mut client = Client::https(&sim, true);
    let prod_key = sim.config().api_key.clone();
    let answer = client
        .post(
            "/sandboxnew/pay/getsignkey",
            raw_signed(
                &[
                    ("mch_id", "10000098"),
                    ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
                ],
                &prod_key,
            ),
        )
        .await
        .unwrap();
    let fields = answer.fields();
    assert_eq!(fields["return_code"], "SUCCESS", "{}", answer.text());
    assert_eq!(fields["mch_id"], "10000098");
    let sandbox_key = fields["sandbox_signkey"].clone();
    assert_eq!(sandbox_key.len(), 32);
    assert_ne!(sandbox_key, prod_key);
    assert_eq!(sandbox_key, sim.config().sandbox_key);

    // getsignkey signed with anything but the production key.
    let answer = client
        .post(
            "/sandboxnew/pay/getsignkey",
            raw_signed(&[("mch_id", "10000098"), ("nonce_str", "x")], &sandbox_key),
        )
        .await
        .unwrap();
    assert_eq!(answer.fields()["return_code"], "FAIL");

    let mut sandbox = production(&sim);
    sandbox.sandbox = true;
    sandbox.api_key = ApiKey::new(sandbox_key).unwrap();
    let (_, sent) = client
        .call(&sandbox, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    let Ok(CouponResponse::SendCoupon(sent)) = sent else {
        panic!("sandbox send failed: {sent:?}")
    };
    let (_, info) = client
        .call(&sandbox, &query_coupon(&sent.coupon_id, OPENID, "1757"))
        .await
        .unwrap();
    assert!(
        matches!(info, Ok(CouponResponse::QueryCouponsInfo(_))),
        "{info:?}"
    );
    // The sandbox keeps its own books.
    assert_eq!(
        sim.stock_in(Environment::Sandbox, "1757")
            .unwrap()
            .is_send_num,
        1
    );
    assert_eq!(sim.stock("1757").unwrap().is_send_num, 0);
    assert_eq!(sim.coupons_in(Environment::Sandbox).len(), 1);
    assert!(sim.coupons().is_empty());

    // Sandbox paths refuse the production key, production paths the sandbox key.
    let mut sandbox_with_prod_key = sandbox.clone();
    sandbox_with_prod_key.api_key = ApiKey::new(prod_key).unwrap();
    let (answer, parsed) = client
        .call(&sandbox_with_prod_key, &query_stock("1757"))
        .await
        .unwrap();
    protocol(parsed);
    assert_eq!(answer.fields()["err_code"], "SIGN_ERROR");
    let mut prod_with_sandbox_key = sandbox.clone();
    prod_with_sandbox_key.sandbox = false;
    let (answer, _) = client
        .call(&prod_with_sandbox_key, &query_stock("1757"))
        .await
        .unwrap();
    assert_eq!(answer.fields()["err_code"], "SIGN_ERROR");
    // Same merchant helper for the sandbox.
    let helper = sim.merchant(Environment::Sandbox);
    let (_, ok) = client.call(&helper, &query_stock("1757")).await.unwrap();
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn signed_responses_verify_with_the_core() {
    let sim = start_with(SimulatorConfig {
        sign_responses: true,
        ..SimulatorConfig::default()
    })
    .await;
    let mut merchant = production(&sim);
    merchant.signature_policy = SignaturePolicy::Require;
    let key = ApiKey::new(sim.config().api_key.clone()).unwrap();
    let mut client = Client::https(&sim, true);

    let (answer, sent) = client
        .call(&merchant, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    let Ok(CouponResponse::SendCoupon(sent)) = sent else {
        panic!("{sent:?}")
    };
    assert_eq!(sent.signature, SignatureCheck::VerifiedMd5);
    let fields = answer.fields();
    assert_eq!(verify(&fields, &key, &fields["sign"]), Ok(SignType::Md5));
    assert!(answer.text().ends_with("]]></sign></xml>"));

    for request in [
        query_stock("1757"),
        query_coupon(&sent.coupon_id, OPENID, "1757"),
    ] {
        let (answer, parsed) = client.call(&merchant, &request).await.unwrap();
        assert!(parsed.is_ok(), "{parsed:?}");
        let fields = answer.fields();
        assert_eq!(verify(&fields, &key, &fields["sign"]), Ok(SignType::Md5));
    }

    // Business failures are signed too; refused requests are not.
    let (answer, parsed) = client
        .call(&merchant, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    assert!(matches!(parsed, Err(Error::Business(_))), "{parsed:?}");
    assert!(answer.fields().contains_key("sign"));
    let (answer, _) = client
        .call(&merchant, &send("1757", OPENID, &trade_no()))
        .await
        .map(|(a, p)| (a, p.is_err()))
        .unwrap();
    assert!(verify(&answer.fields(), &key, &answer.fields()["sign"]).is_ok());
    let mut no_cert = Client::https(&sim, false);
    let (answer, _) = no_cert
        .call(&merchant, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    assert!(!answer.fields().contains_key("sign"));

    // An HMAC-SHA256 request gets an HMAC-SHA256 signed answer.
    merchant.sign_type = SignType::HmacSha256;
    let (answer, parsed) = client.call(&merchant, &query_stock("1758")).await.unwrap();
    let Ok(CouponResponse::QueryCouponStock(stock)) = parsed else {
        panic!("{parsed:?}")
    };
    assert_eq!(stock.signature, SignatureCheck::VerifiedHmacSha256);
    assert_eq!(answer.fields()["sign"].len(), 64);
}
