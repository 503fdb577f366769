//! Gateway mode on API v3 under `wxcoupon serve`, in-process, against the simulator on loopback
//! (real TLS, test keys only): the programme of `wxcoupon_tests::v3_gateway` — every v3 route
//! and the three coupon routes answered by v3, the settings having only v3 keys — and a gateway
//! without v3 settings naming the ones its v3 routes lack.

use wxcoupon::outbound::{AllowList, OutboundConfig};
use wxcoupon::serve::ServeConfig;
use wxcoupon_simulator::{Simulator, SimulatorConfig};
use wxcoupon_tests::gateway::{component_env, Gateway};
use wxcoupon_tests::hosts::assert_error;
use wxcoupon_tests::v3_gateway::{call, programme, CALLERS};
use wxcoupon_tests::APPID;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v3_route_through_wxcoupon_serve() {
    let sim = Simulator::start(SimulatorConfig::default())
        .await
        .expect("start the simulator");
    // Only the v3 settings (no APIv2 key): the coupon routes speak v3.
    let config = ServeConfig {
        callers: wxcoupon_api::CallerTokens::parse(CALLERS).unwrap(),
        ..ServeConfig::default()
    }
    .with_v3(
        OutboundConfig {
            allow: AllowList::default()
                .with_base_url(&sim.https_base_url())
                .unwrap(),
            extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
            use_system_roots: false,
            ..OutboundConfig::default()
        },
        &sim.v3_merchant_settings(),
        Some(APPID),
        None,
    )
    .unwrap();
    let gw = Gateway::start(config).await;
    programme(gw.addr, &sim, "serve").await;
    gw.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_gateway_names_the_v3_settings_it_lacks() {
    let gw = Gateway::start(ServeConfig {
        component_env: component_env("http://127.0.0.1:9", &[]),
        ..ServeConfig::default()
    })
    .await;
    let answer = call(gw.addr, "POST", "/v1/stocks/1/start", None).await;
    assert_error(&answer, 500, "CONFIGURATION");
    for variable in [
        "WXPAY_MERCHANT_SERIAL_NO",
        "WXPAY_APIV3_KEY",
        "WXPAY_PRIVATE_KEY",
    ] {
        assert!(
            answer.json["message"].as_str().unwrap().contains(variable),
            "{}",
            answer.text
        );
    }
    assert!(!answer.text.contains(wxcoupon_tests::TEST_KEY));
    // The v2 settings are whole: the health check (which follows WXPAY_API) passes.
    let health = call(gw.addr, "GET", "/healthz", None).await;
    assert_eq!(health.status, 200, "{}", health.text);
    gw.stop().await;
}
