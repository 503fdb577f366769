//! What an API v3 coupon call costs without the network: the cycle sign + build + verify +
//! parse (the issue request, then the vectors' signed `send_coupon-200` answer), from the
//! reference host runs it (the component builds, authorizes, checks all but the signatures and
//! reads; ring signs and verifies in the host) and with signing inside the component (`v3.sign`), beside the
//! signature alone natively and the whole cycle natively in the core.
//!
//! `cargo bench -p wxcoupon-tests --bench v3` (release build; numbers in the README).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::Value;
use wxcoupon::v3::SignWith;
use wxcoupon_core::v3::answer::Answer;
use wxcoupon_core::v3::favor::IssueCoupon;
use wxcoupon_core::v3::merchant::{Merchant, MerchantSettings};
use wxcoupon_core::v3::rsa::{verify_with_public_key_der, MerchantSigner};
use wxcoupon_tests::runtime;

/// The vectors' nonce of the issue request.
const NONCE: &str = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";

fn v3_fixture(name: &str) -> String {
    let path = format!("{}/fixtures/v3/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn settings(v: &Value) -> MerchantSettings {
    let s = |v: &Value, k: &str| v[k].as_str().unwrap().to_string();
    MerchantSettings {
        mchid: s(&v["keys"]["merchant"], "mchid"),
        merchant_serial_no: s(&v["keys"]["merchant"], "certificate_serial_no"),
        apiv3_key: s(&v["keys"], "apiv3_key"),
        private_key_pem: Some(v3_fixture("merchant_key.pem")),
        wechatpay_public_key_id: Some(s(&v["keys"]["platform"], "public_key_id")),
        wechatpay_public_key_pem: Some(v3_fixture("platform_pub.pem")),
        platform_certificates: vec![],
        base_url: None,
    }
}

fn request() -> IssueCoupon {
    IssueCoupon {
        openid: "o4GgauInH_RCEdvrrNGrntXDuXXX".into(),
        stock_id: "9856000".into(),
        out_request_no: "89560002019101000121".into(),
        appid: "wx233544546545989".into(),
        stock_creator_mchid: "8956000".into(),
        ..IssueCoupon::default()
    }
}

fn answer(v: &Value) -> (Answer, i64) {
    let case = &v["response_signatures"][0];
    assert_eq!(case["name"], "send_coupon-200");
    let answer = Answer {
        status: 200,
        headers: case["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect(),
        body: case["body"].as_str().unwrap().to_string(),
    };
    (answer, case["now"].as_i64().unwrap())
}

fn v3_cycle(c: &mut Criterion) {
    let v: Value = serde_json::from_str(&v3_fixture("vectors.json")).unwrap();
    let settings = settings(&v);
    let (answer, now) = answer(&v);
    let request = request();
    let signer = Arc::new(
        MerchantSigner::from_pkcs8_pem(settings.private_key_pem.as_deref().unwrap()).unwrap(),
    );
    let native = Merchant::new(&settings).unwrap();
    let message = request
        .request()
        .unwrap()
        .to_sign(1_700_000_000, NONCE)
        .unwrap()
        .message;

    let mut g = c.benchmark_group("v3");
    g.bench_function("native: the signature alone (ring)", |b| {
        b.iter(|| signer.sign(&message))
    });
    g.bench_function(
        "native: cycle in the core (sign + build + verify + parse)",
        |b| {
            b.iter(|| {
                let to_sign = request
                    .request()
                    .unwrap()
                    .to_sign(1_700_000_000, NONCE)
                    .unwrap();
                native.sign(to_sign).unwrap();
                native.parse_issue_coupon(&answer, now).unwrap()
            })
        },
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut session = rt.block_on(runtime().session()).unwrap();
    let host_signed = rt
        .block_on(session.open_v3(&settings, SignWith::Host(signer.clone())))
        .unwrap()
        .unwrap();
    let in_component = rt
        .block_on(session.open_v3(&settings, SignWith::Component))
        .unwrap()
        .unwrap();
    g.bench_function(
        "component: build + authorize (the host's signature handed in)",
        |b| {
            let signature = signer.sign(&message);
            b.iter(|| {
                rt.block_on(async {
                    let to_sign = session
                        .v3_build_issue_coupon(&request, 1_700_000_000, Some(NONCE))
                        .await
                        .unwrap()
                        .unwrap();
                    session
                        .v3_authorize(&host_signed, &to_sign, &signature)
                        .await
                        .unwrap()
                        .unwrap()
                })
            })
        },
    );
    g.bench_function("component: verify + parse the answer", |b| {
        b.iter(|| {
            rt.block_on(session.v3_parse_issue_coupon(&host_signed, &answer, now))
                .unwrap()
                .unwrap()
        })
    });
    g.bench_function("native: verify + parse the answer", |b| {
        b.iter(|| native.parse_issue_coupon(&answer, now).unwrap())
    });
    for (name, merchant) in [
        (
            "component, signed natively by the host: cycle",
            &host_signed,
        ),
        (
            "component, signed inside the component: cycle",
            &in_component,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let to_sign = session
                        .v3_build_issue_coupon(&request, 1_700_000_000, Some(NONCE))
                        .await
                        .unwrap()
                        .unwrap();
                    match merchant.sign_with() {
                        // What the reference host does: sign natively, and verify the answer's
                        // signature natively after the component's other checks.
                        SignWith::Host(signer) => {
                            let signature = signer.sign(&to_sign.message);
                            session
                                .v3_authorize(merchant, &to_sign, &signature)
                                .await
                                .unwrap()
                                .unwrap();
                            let checked = session
                                .v3_check_answer(merchant, &answer, now)
                                .await
                                .unwrap()
                                .unwrap();
                            assert!(verify_with_public_key_der(
                                &checked.public_key_der,
                                &checked.message,
                                &checked.signature
                            ));
                            session
                                .v3_read_issue_coupon(&answer.body)
                                .await
                                .unwrap()
                                .unwrap()
                        }
                        SignWith::Component => {
                            session.v3_sign(merchant, &to_sign).await.unwrap().unwrap();
                            session
                                .v3_parse_issue_coupon(merchant, &answer, now)
                                .await
                                .unwrap()
                                .unwrap()
                        }
                    }
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, v3_cycle);
criterion_main!(benches);
