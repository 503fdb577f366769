//! The component's client against the simulator, through the reference host's mutual-TLS
//! outbound client: real HTTPS on loopback, real certificates, WeChat's wire format.

use std::sync::Arc;

use wxcoupon::CallOptions;
use wxcoupon_core::{
    CouponState, Error, QueryCouponStockRequest, QueryCouponsInfoRequest, RetryAdvice,
    SendCouponRequest, SignatureCheck, SignatureError,
};
use wxcoupon_simulator::Faults;
use wxcoupon_tests::gateway::LogBuffer;
use wxcoupon_tests::{Harness, HarnessOptions, TEST_KEY};

fn send(stock: &str, openid: &str, trade_no: &str) -> SendCouponRequest {
    SendCouponRequest {
        coupon_stock_id: stock.into(),
        openid: openid.into(),
        partner_trade_no: trade_no.into(),
        ..Default::default()
    }
}

fn stock(id: &str) -> QueryCouponStockRequest {
    QueryCouponStockRequest {
        coupon_stock_id: id.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn issue_then_stock_moves_then_coupon_is_found() {
    let h = Harness::start(HarnessOptions::default()).await;
    let m = h.merchant();
    let mut s = h.runtime.session().await.unwrap();
    let opts = CallOptions::default();

    let before = s
        .query_coupon_stock(&m, &stock("1757"), &opts)
        .await
        .unwrap()
        .unwrap();
    let sent = s
        .send_coupon(
            &m,
            &send("1757", "o-e2e-user-1", "10000098202611280001"),
            &opts,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!sent.coupon_id.is_empty());
    assert_eq!(sent.coupon_stock_id, "1757");
    let after = s
        .query_coupon_stock(&m, &stock("1757"), &opts)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.is_send_num, before.is_send_num.map(|n| n + 1));
    assert_eq!(
        after.coupon_minimum, before.coupon_minimum,
        "coupon_mininumn read"
    );
    assert_eq!(
        after.signature,
        SignatureCheck::Absent,
        "unsigned by default, as in production"
    );

    let info = s
        .query_coupons_info(
            &m,
            &QueryCouponsInfoRequest {
                coupon_id: sent.coupon_id.clone(),
                openid: "o-e2e-user-1".into(),
                stock_id: "1757".into(),
                ..Default::default()
            },
            &opts,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.coupon_id, sent.coupon_id);
    assert_eq!(info.state, CouponState::Usable);
    assert_eq!(info.coupon_value, after.coupon_value);
}

#[tokio::test]
async fn the_same_partner_trade_no_issues_once() {
    let h = Harness::start(HarnessOptions::default()).await;
    let m = h.merchant();
    let mut s = h.runtime.session().await.unwrap();
    let opts = CallOptions::default();
    let request = send("1757", "o-e2e-replay", "10000098202611280002");
    let first = s.send_coupon(&m, &request, &opts).await.unwrap().unwrap();
    let second = s.send_coupon(&m, &request, &opts).await.unwrap().unwrap();
    assert_eq!(first.coupon_id, second.coupon_id);
    assert_eq!(h.sim.coupons().len(), 1, "one coupon issued");
    assert_eq!(h.sim.stock("1757").unwrap().is_send_num, 1);
}

#[tokio::test]
async fn without_the_client_certificate_the_error_says_so() {
    let h = Harness::start(HarnessOptions {
        without_identity: true,
        ..Default::default()
    })
    .await;
    let m = h.merchant();
    let mut s = h.runtime.session().await.unwrap();
    let err = s
        .send_coupon(
            &m,
            &send("1757", "o-e2e-nocert", "10000098202611280003"),
            &CallOptions::default(),
        )
        .await
        .unwrap()
        .unwrap_err();
    match &err {
        Error::Business(b) => {
            assert_eq!(b.err_code.as_deref(), Some("CA_ERROR"));
            assert!(!b.retryable);
        }
        other => panic!("expected CA_ERROR, got {other:?}"),
    }
    assert!(err.to_string().contains("client certificate"), "{err}");
    assert!(h.sim.coupons().is_empty());
    // Queries need no certificate and still work.
    assert!(s
        .query_coupon_stock(&m, &stock("1757"), &CallOptions::default())
        .await
        .unwrap()
        .is_ok());
}

#[tokio::test]
async fn a_host_outside_the_allow_list_is_denied_without_a_connection() {
    let h = Harness::start(HarnessOptions::default()).await;
    // A listener that would see any connection attempt.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let acceptor = tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut m = h.merchant();
    m.host = wxcoupon_core::ApiHost::Custom(format!("https://127.0.0.1:{port}"));
    let mut s = h.runtime.session().await.unwrap();
    let err = s
        .query_coupon_stock(&m, &stock("1757"), &CallOptions::default())
        .await
        .unwrap()
        .unwrap_err();
    match &err {
        Error::Denied { message } => {
            assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}")
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection was made"
    );
    assert_eq!(h.outbound.denied(), 1);
    acceptor.abort();
}

async fn with_fault(faults: Faults, options: CallOptions) -> (Harness, Error) {
    let h = Harness::start(HarnessOptions::default()).await;
    h.sim.set_faults(faults).unwrap();
    let m = h.merchant();
    let mut s = h.runtime.session().await.unwrap();
    let err = s
        .send_coupon(
            &m,
            &send("1757", "o-e2e-fault", "10000098202611280004"),
            &options,
        )
        .await
        .unwrap()
        .unwrap_err();
    (h, err)
}

#[tokio::test]
async fn each_injected_fault_yields_its_typed_error() {
    // Latency beyond the first-byte timeout: the request was sent, so it may have reached WeChat.
    let (_h, err) = with_fault(
        Faults {
            latency_ms: 1500,
            ..Faults::none()
        },
        CallOptions {
            first_byte_timeout_ms: Some(300),
            ..Default::default()
        },
    )
    .await;
    assert!(
        matches!(&err, Error::Transport { may_have_reached_wechat: true, message } if message.contains("timed out")),
        "latency: {err:?}"
    );

    let (h, err) = with_fault(
        Faults {
            status: Some(503),
            ..Faults::none()
        },
        CallOptions::default(),
    )
    .await;
    assert_eq!(err, Error::UnexpectedStatus { status: 503 });
    assert!(h.sim.coupons().is_empty(), "a fault issues nothing");

    // A reset or a cut answer: the request was sent, so it may have reached WeChat.
    let reset = Faults {
        reset_connection: true,
        ..Faults::none()
    };
    let truncated = Faults {
        truncated_body: true,
        ..Faults::none()
    };
    for (label, faults) in [("reset", reset), ("truncated", truncated)] {
        let (_h, err) = with_fault(faults, CallOptions::default()).await;
        assert!(
            matches!(
                err,
                Error::Transport {
                    may_have_reached_wechat: true,
                    ..
                }
            ),
            "{label}: {err:?}"
        );
    }

    let (_h, err) = with_fault(
        Faults {
            wrong_sign: true,
            ..Faults::none()
        },
        CallOptions::default(),
    )
    .await;
    assert_eq!(
        err,
        Error::Signature {
            problem: SignatureError::Mismatch
        },
        "wrong sign"
    );

    for (code, advice) in [
        ("FREQ_OVER_LIMIT", RetryAdvice::RetryLater),
        ("SYSTEMERROR", RetryAdvice::Retry),
    ] {
        let (_h, err) = with_fault(
            Faults {
                err_code: Some(code.into()),
                ..Faults::none()
            },
            CallOptions::default(),
        )
        .await;
        match err {
            Error::Business(b) => {
                assert_eq!(b.err_code.as_deref(), Some(code));
                assert_eq!(b.advice, advice);
                assert!(b.retryable);
            }
            other => panic!("{code}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn signed_answers_verify_end_to_end() {
    let h = Harness::start(HarnessOptions {
        sign_responses: true,
        ..Default::default()
    })
    .await;
    let mut m = h.merchant();
    m.signature_policy = wxcoupon_core::SignaturePolicy::Require;
    let mut s = h.runtime.session().await.unwrap();
    let stock = s
        .query_coupon_stock(&m, &stock("1757"), &CallOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stock.signature, SignatureCheck::VerifiedMd5);
}

#[tokio::test]
async fn sequential_calls_reuse_connections() {
    let h = Harness::start(HarnessOptions::default()).await;
    let m = h.merchant();
    const N: u64 = 20;
    for _ in 0..N {
        // A fresh instance per call, as a gateway does: the pool lives in the host.
        let mut s = h.runtime.session().await.unwrap();
        s.query_coupon_stock(&m, &stock("1757"), &CallOptions::default())
            .await
            .unwrap()
            .unwrap();
    }
    let handshakes = h.sim.handshakes();
    assert!(
        (1..=2).contains(&handshakes),
        "{N} calls took {handshakes} TLS handshakes"
    );
    assert_eq!(h.outbound.requests_sent(), N);
}

#[tokio::test]
async fn without_connection_reuse_every_call_has_its_own_handshake() {
    let h = Harness::start(HarnessOptions {
        new_connection_per_call: true,
        ..Default::default()
    })
    .await;
    let m = h.merchant();
    const N: u64 = 5;
    for _ in 0..N {
        let mut s = h.runtime.session().await.unwrap();
        s.query_coupon_stock(&m, &stock("1757"), &CallOptions::default())
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(h.sim.handshakes(), N, "one TLS handshake per call");
    assert_eq!(h.outbound.requests_sent(), N);
}

#[test]
fn the_api_key_never_appears_in_logs_or_errors() {
    // Every log line of the test (all levels), to search it.
    let captured = LogBuffer::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let errors = runtime.block_on(async {
        let h = Harness::start(HarnessOptions::default()).await;
        let m = h.merchant();
        let mut s = h.runtime.session().await.unwrap();
        let mut errors = Vec::new();
        let opts = CallOptions::default();
        s.send_coupon(
            &m,
            &send("1757", "o-e2e-logs", "10000098202611280005"),
            &opts,
        )
        .await
        .unwrap()
        .unwrap();
        // A business error, a signature error, a denial, an invalid input.
        errors.push(
            s.send_coupon(
                &m,
                &send("1757", "o-e2e-logs", "10000098202611280006"),
                &opts,
            )
            .await
            .unwrap()
            .unwrap_err(),
        );
        h.sim
            .set_faults(Faults {
                wrong_sign: true,
                ..Faults::none()
            })
            .unwrap();
        errors.push(
            s.query_coupon_stock(&m, &stock("1757"), &opts)
                .await
                .unwrap()
                .unwrap_err(),
        );
        let mut elsewhere = m.clone();
        elsewhere.host = wxcoupon_core::ApiHost::Custom("https://127.0.0.1:9".into());
        errors.push(
            s.query_coupon_stock(&elsewhere, &stock("1757"), &opts)
                .await
                .unwrap()
                .unwrap_err(),
        );
        errors.push(
            s.send_coupon(&m, &send("", "o", "t"), &opts)
                .await
                .unwrap()
                .unwrap_err(),
        );
        errors
    });
    assert_eq!(errors.len(), 4);
    for e in &errors {
        let text = format!("{e} {e:?} {}", serde_json::to_string(e).unwrap());
        assert!(!text.contains(TEST_KEY), "key in error: {text}");
    }
    let logs = captured.text();
    assert!(
        logs.contains("send_coupon") || logs.contains("mmpaymkttransfers"),
        "logs were captured: {logs}"
    );
    assert!(!logs.contains(TEST_KEY), "the API key appeared in the logs");
}
