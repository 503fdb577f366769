//! What a coupon call costs: the protocol natively, the same through the component (instance
//! creation and each export), and a whole `query_coupon_stock` through the component's client and
//! the mutual-TLS outbound client to the simulator on loopback.
//!
//! `cargo bench -p wxcoupon-tests --bench calls` (release build; numbers in the README).

use criterion::{criterion_group, criterion_main, Criterion};
use wxcoupon::CallOptions;
use wxcoupon_core as core;
use wxcoupon_tests::{fixture, merchant, runtime, Harness, HarnessOptions};

fn send_request() -> core::CouponRequest {
    core::CouponRequest::SendCoupon(core::SendCouponRequest {
        coupon_stock_id: "1757".into(),
        openid: "onqOjjrXT-776SpHnfexGm1_P7iE".into(),
        partner_trade_no: "1000009820141203515766".into(),
        ..Default::default()
    })
}

fn native(c: &mut Criterion) {
    let m = merchant();
    let request = send_request();
    let fields = core::signed_fields(&m, &request, "1417574675").unwrap();
    let stock = fixture("responses/query_coupon_stock_real_unsigned.xml");
    let mut g = c.benchmark_group("native");
    g.bench_function("sign send_coupon (MD5)", |b| {
        b.iter(|| core::sign(&fields, &m.api_key, core::SignType::Md5))
    });
    g.bench_function("build_request send_coupon", |b| {
        b.iter(|| core::build_request(&m, &request, "1417574675").unwrap())
    });
    g.bench_function("parse_response query_coupon_stock", |b| {
        b.iter(|| core::parse_response(&m, core::Api::QueryCouponStock, 200, &stock).unwrap())
    });
    let signed = fixture("responses/send_coupon_success_signed.xml");
    g.bench_function("send_coupon cycle (build + parse the signed answer)", |b| {
        b.iter(|| {
            core::build_request(&m, &request, "1417574675").unwrap();
            core::parse_response(&m, core::Api::SendCoupon, 200, &signed).unwrap()
        })
    });
    g.finish();
}

fn component(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let m = merchant();
    let request = send_request();
    let fields: Vec<(String, String)> = core::signed_fields(&m, &request, "1417574675")
        .unwrap()
        .into_iter()
        .collect();
    let stock = fixture("responses/query_coupon_stock_real_unsigned.xml");
    let runtime = runtime();
    let mut session = rt.block_on(runtime.session()).unwrap();
    let mut g = c.benchmark_group("component");
    g.bench_function("instantiate", |b| {
        b.iter(|| rt.block_on(runtime.session()).unwrap())
    });
    g.bench_function("sign send_coupon (MD5)", |b| {
        b.iter(|| {
            rt.block_on(session.sign(&fields, m.api_key.expose(), core::SignType::Md5))
                .unwrap()
                .unwrap()
        })
    });
    g.bench_function("build_request send_coupon", |b| {
        b.iter(|| {
            rt.block_on(session.build_request(&m, &request, Some("1417574675")))
                .unwrap()
                .unwrap()
        })
    });
    g.bench_function("parse_response query_coupon_stock", |b| {
        b.iter(|| {
            rt.block_on(session.parse_response(&m, core::Api::QueryCouponStock, 200, &stock))
                .unwrap()
                .unwrap()
        })
    });
    // The cycle the Python and Go hosts measure (bench/python_cycles.py, bench/node_cycles.mjs, BenchmarkSendCouponCycle).
    let signed = fixture("responses/send_coupon_success_signed.xml");
    g.bench_function("send_coupon cycle (build + parse the signed answer)", |b| {
        b.iter(|| {
            rt.block_on(async {
                session
                    .build_request(&m, &request, Some("1417574675"))
                    .await
                    .unwrap()
                    .unwrap();
                session
                    .parse_response(&m, core::Api::SendCoupon, 200, &signed)
                    .await
                    .unwrap()
                    .unwrap()
            })
        })
    });
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let request = core::QueryCouponStockRequest {
        coupon_stock_id: "1757".into(),
        options: Default::default(),
    };
    let options = CallOptions::default();
    let mut g = c.benchmark_group("end_to_end");
    // The same call over the pool, then with a new connection (TCP + mutual-TLS handshake) per
    // call: what connection reuse saves.
    for (name, new_connection_per_call) in [
        ("query_coupon_stock, fresh instance, pooled mTLS", false),
        (
            "query_coupon_stock, fresh instance, new mTLS connection per call",
            true,
        ),
    ] {
        let harness = rt.block_on(Harness::start(HarnessOptions {
            new_connection_per_call,
            ..Default::default()
        }));
        let m = harness.merchant();
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut s = harness.runtime.session().await.unwrap();
                    s.query_coupon_stock(&m, &request, &options)
                        .await
                        .unwrap()
                        .unwrap()
                })
            })
        });
        println!(
            "end_to_end ({name}): {} requests over {} TLS handshake(s)",
            harness.outbound.requests_sent(),
            harness.sim.handshakes()
        );
    }
    g.finish();
}

criterion_group!(benches, native, component, end_to_end);
criterion_main!(benches);
