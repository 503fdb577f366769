//! Every fault, its scope and count, and the rule that a fault changes no state.

mod common;

use std::time::{Duration, Instant};

use common::*;
use wxcoupon_core::{CouponResponse, Error, Merchant, SignatureError};
use wxcoupon_simulator::{Endpoint, Faults, RunningSimulator, SimulatorConfig};

fn assert_nothing_issued(sim: &RunningSimulator) {
    assert_eq!(sim.stock("1758").unwrap().is_send_num, 0);
    assert!(sim.coupons().is_empty());
}

/// A simulator armed with `faults`, its production merchant and an HTTPS client presenting the
/// client certificate.
async fn armed(faults: Faults) -> (RunningSimulator, Merchant, Client) {
    let sim = start().await;
    sim.set_faults(faults).unwrap();
    let merchant = production(&sim);
    let client = Client::https(&sim, true);
    (sim, merchant, client)
}

/// A plain-HTTP simulator armed with `faults` from its configuration.
async fn plain_armed(faults: Faults) -> RunningSimulator {
    start_with(SimulatorConfig {
        plain_http: true,
        faults,
        ..SimulatorConfig::default()
    })
    .await
}

/// Writes `request` to the plain-HTTP listener and reads until the server closes (at most 5 s):
/// the bytes received and how the read ended.
async fn raw_exchange(sim: &RunningSimulator, request: &[u8]) -> (Vec<u8>, std::io::Result<usize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(sim.http_addr().unwrap())
        .await
        .unwrap();
    tcp.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut raw))
        .await
        .expect("the server closes");
    (raw, read)
}

#[tokio::test]
async fn latency_delays_a_normal_answer() {
    let (sim, merchant, mut client) = armed(Faults {
        latency_ms: 300,
        ..Faults::default()
    })
    .await;
    let started = Instant::now();
    let (_, sent) = client
        .call(&merchant, &send("1758", OPENID, &trade_no()))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Latency alone does not stop the request from taking effect.
    assert!(
        matches!(sent, Ok(CouponResponse::SendCoupon(_))),
        "{sent:?}"
    );
    assert_eq!(sim.stock("1758").unwrap().is_send_num, 1);
}

#[tokio::test]
async fn latency_takes_effect_even_when_the_client_gives_up() {
    let (sim, merchant, mut client) = armed(Faults {
        latency_ms: 5_000,
        ..Faults::default()
    })
    .await;
    let request = send("1758", OPENID, &trade_no());
    let call = client.call(&merchant, &request);
    // The client stops waiting long before the answer and drops the connection.
    assert!(tokio::time::timeout(Duration::from_millis(300), call)
        .await
        .is_err());
    // WeChat may have issued the coupon anyway: the simulator did.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.stock("1758").unwrap().is_send_num == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.stock("1758").unwrap().is_send_num, 1);
    assert_eq!(sim.coupons().len(), 1);
}

#[tokio::test]
async fn http_status_fault() {
    let (sim, merchant, mut client) = armed(Faults {
        status: Some(503),
        ..Faults::default()
    })
    .await;
    let (answer, parsed) = client
        .call(&merchant, &send("1758", OPENID, &trade_no()))
        .await
        .unwrap();
    assert_eq!(answer.status, 503);
    assert!(answer.text().contains("503"));
    assert_eq!(parsed, Err(Error::UnexpectedStatus { status: 503 }));
    assert_nothing_issued(&sim);
}

#[tokio::test]
async fn reset_connection_fault() {
    let (sim, merchant, mut client) = armed(Faults {
        reset_connection: true,
        ..Faults::default()
    })
    .await;
    let result = client
        .call(&merchant, &send("1758", OPENID, &trade_no()))
        .await;
    assert!(
        result.is_err(),
        "expected a transport error, got {result:?}"
    );
    assert_nothing_issued(&sim);

    // Over plain HTTP, read raw: the connection is reset (RST), no byte of an answer comes.
    let sim_plain = plain_armed(Faults {
        reset_connection: true,
        ..Faults::default()
    })
    .await;
    let (raw, read) = raw_exchange(
        &sim_plain,
        b"POST /mmpaymkttransfers/query_coupon_stock HTTP/1.1\r\nhost: x\r\ncontent-length: 7\r\n\r\n<xml/>\n",
    )
    .await;
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    assert_eq!(
        read.map_err(|e| e.kind()).unwrap_err(),
        std::io::ErrorKind::ConnectionReset
    );

    // Disarmed, the same client reconnects and succeeds.
    sim.clear_faults();
    let (_, sent) = client
        .call(&merchant, &send("1758", OPENID, &trade_no()))
        .await
        .unwrap();
    assert!(sent.is_ok(), "{sent:?}");
    assert_eq!(client.connects, 2);
}

#[tokio::test]
async fn truncated_body_fault() {
    let (sim, merchant, mut client) = armed(Faults {
        truncated_body: true,
        ..Faults::default()
    })
    .await;
    let result = client
        .call(&merchant, &send("1758", OPENID, &trade_no()))
        .await;
    assert!(result.is_err(), "expected a truncated body, got {result:?}");
    assert_nothing_issued(&sim);

    // The same over plain HTTP, read byte by byte: a head with Content-Length, half a body, EOF.
    let sim = plain_armed(Faults {
        truncated_body: true,
        ..Faults::default()
    })
    .await;
    let (raw, read) = raw_exchange(
        &sim,
        b"POST /mmpaymkttransfers/query_coupon_stock HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n<xml>",
    )
    .await;
    read.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let declared: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("content-length")
        .parse()
        .unwrap();
    assert!(body.len() < declared, "{body:?} vs {declared}");
    assert!(body.starts_with("<xml>"));
}

#[tokio::test]
async fn wrong_sign_fault() {
    let (sim, merchant, mut client) = armed(Faults {
        wrong_sign: true,
        ..Faults::default()
    })
    .await;
    let (answer, parsed) = client
        .call(&merchant, &send("1758", OPENID, &trade_no()))
        .await
        .unwrap();
    assert_eq!(
        parsed,
        Err(Error::Signature {
            problem: SignatureError::Mismatch
        })
    );
    assert_eq!(answer.fields()["sign"].len(), 32);
    assert_nothing_issued(&sim);
}

#[tokio::test]
async fn forced_err_codes() {
    let sim = start().await;
    let merchant = production(&sim);
    let mut client = Client::https(&sim, true);
    for (code, retryable) in [
        ("SYSTEMERROR", true),
        ("FREQ_OVER_LIMIT", true),
        ("NETWORK ERROR", true),
    ] {
        sim.set_faults(Faults {
            err_code: Some(code.into()),
            ..Faults::default()
        })
        .unwrap();
        let (answer, parsed) = client
            .call(&merchant, &send("1758", OPENID, &trade_no()))
            .await
            .unwrap();
        let err = business(parsed);
        assert_eq!(err.err_code.as_deref(), Some(code));
        assert_eq!(err.retryable, retryable, "{code}");
        let fields = answer.fields();
        assert_eq!(fields["return_code"], "SUCCESS");
        assert_eq!(fields["result_code"], "FAIL");
        assert!(!fields["err_code_des"].is_empty());
        assert_eq!(fields["ret_code"], "FAIL");

        let (_, parsed) = client.call(&merchant, &query_stock("1758")).await.unwrap();
        assert_eq!(business(parsed).err_code.as_deref(), Some(code));
    }
    sim.set_faults(Faults {
        err_code: Some("INVALID_REQUEST".into()),
        err_code_des: Some("自定义描述".into()),
        ..Faults::default()
    })
    .unwrap();
    let (answer, _) = client
        .call(&merchant, &send("1758", OPENID, &trade_no()))
        .await
        .unwrap();
    assert_eq!(answer.fields()["err_code_des"], "自定义描述");
    assert_nothing_issued(&sim);
}

#[tokio::test]
async fn faults_scoped_to_one_endpoint_and_counted() {
    let (sim, merchant, mut client) = armed(Faults {
        only: Some(Endpoint::SendCoupon),
        times: Some(2),
        err_code: Some("SYSTEMERROR".into()),
        ..Faults::default()
    })
    .await;
    // Queries are not affected and do not count.
    let (_, stock) = client.call(&merchant, &query_stock("1758")).await.unwrap();
    assert!(stock.is_ok(), "{stock:?}");
    let trade = trade_no();
    for _ in 0..2 {
        let (_, parsed) = client
            .call(&merchant, &send("1758", OPENID, &trade))
            .await
            .unwrap();
        assert_eq!(business(parsed).err_code.as_deref(), Some("SYSTEMERROR"));
    }
    assert_nothing_issued(&sim);
    assert!(sim.faults().is_empty());
    // The faulted attempts were not remembered: the retry with the same trade number issues.
    let (_, sent) = client
        .call(&merchant, &send("1758", OPENID, &trade))
        .await
        .unwrap();
    assert!(
        matches!(sent, Ok(CouponResponse::SendCoupon(_))),
        "{sent:?}"
    );
    assert_eq!(sim.stock("1758").unwrap().is_send_num, 1);
}

#[tokio::test]
async fn faults_from_the_config_and_on_getsignkey() {
    let sim = start_with(SimulatorConfig {
        faults: Faults {
            only: Some(Endpoint::Getsignkey),
            status: Some(502),
            times: Some(1),
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    })
    .await;
    let key = sim.config().api_key.clone();
    let mut client = Client::https(&sim, false);
    let body = raw_signed(&[("mch_id", "10000098"), ("nonce_str", "abc")], &key);
    let answer = client
        .post("/sandboxnew/pay/getsignkey", body.clone())
        .await
        .unwrap();
    assert_eq!(answer.status, 502);
    let answer = client
        .post("/sandboxnew/pay/getsignkey", body)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.fields()["return_code"], "SUCCESS");
    assert!(sim
        .set_faults(Faults {
            status: Some(42),
            ..Faults::default()
        })
        .is_err());
}

#[tokio::test]
async fn graceful_shutdown_lets_a_slow_request_finish() {
    let sim = start().await;
    sim.set_faults(Faults {
        latency_ms: 400,
        only: Some(Endpoint::QueryCouponStock),
        ..Faults::default()
    })
    .unwrap();
    let merchant = production(&sim);
    let mut client = Client::https(&sim, false);
    let in_flight = tokio::spawn(async move {
        let (_, parsed) = client.call(&merchant, &query_stock("1757")).await.unwrap();
        parsed
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    sim.shutdown().await;
    let parsed = in_flight.await.unwrap();
    assert!(
        matches!(parsed, Ok(CouponResponse::QueryCouponStock(_))),
        "{parsed:?}"
    );
}
