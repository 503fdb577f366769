//! `wxcoupon demo`: a walk through the component's contract with the test merchant, offline.
//!
//! It signs the official vector, builds a `send_coupon` request, and parses answers that show the
//! quirks real traffic has. Everything goes through the component.

use wxcoupon::Runtime;
use wxcoupon_core as core;

const FIXTURES: [(&str, core::Api, &[u8]); 3] = [
    (
        "query_coupon_stock (real traffic: unsigned, coupon_mininumn, Unix times)",
        core::Api::QueryCouponStock,
        include_bytes!("../../tests/fixtures/responses/query_coupon_stock_real_unsigned.xml"),
    ),
    (
        "send_coupon (user already received: ret_code FAIL)",
        core::Api::SendCoupon,
        include_bytes!("../../tests/fixtures/responses/send_coupon_fail_user_al_get_coupon.xml"),
    ),
    (
        "querycouponsinfo (coupon_minimum spelling)",
        core::Api::QueryCouponsInfo,
        include_bytes!("../../tests/fixtures/responses/querycouponsinfo_coupon_minimum.xml"),
    ),
];

/// Runs the walk-through and prints what happens.
pub async fn run(runtime: &Runtime) -> anyhow::Result<()> {
    let merchant = core::Merchant::new(
        "wx5edab3bdfba3dc1c",
        "10000098",
        core::ApiKey::new("192006250b4c09247ec02edce69f6a2d")?,
    );
    let mut session = runtime.session().await?;
    let info = runtime.describe();
    println!(
        "wxcoupon component: {} bytes",
        wxcoupon::COMPONENT_BYTES.len()
    );
    println!("  exports: {}", info.exports.join(", "));
    println!("  imports: {}", info.imports.join(", "));

    let official: Vec<(String, String)> = [
        ("appid", "wxd930ea5d5a258f4f"),
        ("mch_id", "10000100"),
        ("device_info", "1000"),
        ("body", "test"),
        ("nonce_str", "ibuaiVcKdpRxkhJA"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let md5 = session
        .sign(&official, merchant.api_key.expose(), core::SignType::Md5)
        .await??;
    println!("\n1. sign (official vector, MD5): {md5}");

    let request = core::CouponRequest::SendCoupon(core::SendCouponRequest {
        coupon_stock_id: "1757".into(),
        openid: "onqOjjrXT-776SpHnfexGm1_P7iE".into(),
        partner_trade_no: "1000009820141203515766".into(),
        ..Default::default()
    });
    let http = session.build_request(&merchant, &request, None).await??;
    println!(
        "\n2. build-request send_coupon: {} {} (client certificate: {})",
        http.method,
        http.url,
        if http.needs_client_certificate {
            "required"
        } else {
            "no"
        }
    );
    println!("   {}", String::from_utf8_lossy(&http.body));

    println!("\n3. parse-response");
    for (label, api, body) in FIXTURES {
        let outcome = session.parse_response(&merchant, api, 200, body).await?;
        println!("   {label}");
        match outcome {
            Ok(core::CouponResponse::QueryCouponStock(s)) => println!(
                "     -> stock {} {:?}: value {} fen, minimum {:?} fen, issued {:?}/{}, signature {:?}",
                s.coupon_stock_id, s.status, s.coupon_value, s.coupon_minimum, s.is_send_num,
                s.coupon_total, s.signature
            ),
            Ok(core::CouponResponse::QueryCouponsInfo(c)) => println!(
                "     -> coupon {} of stock {}: {:?}, value {} fen, minimum {:?} fen",
                c.coupon_id, c.coupon_stock_id, c.state, c.coupon_value, c.coupon_minimum
            ),
            Ok(core::CouponResponse::SendCoupon(s)) => {
                println!("     -> issued coupon {}", s.coupon_id)
            }
            Err(e) => println!("     -> {e}"),
        }
    }
    Ok(())
}
