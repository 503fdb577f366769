//! `wxcoupon demo`: the main job. Starts the WeChat Pay simulator in-process (HTTPS with its own
//! CA and a merchant client certificate) and, through the component and the mutual-TLS client,
//! issues coupons, shows a refused one and a replayed one, queries the stock and a coupon, and
//! prints a summary. Also the human-readable output of `stock` and `coupon`.

use std::sync::Arc;

use wxcoupon::outbound::{AllowList, ClientIdentity, OutboundClient, OutboundConfig};
use wxcoupon::{CallOptions, Runtime};
use wxcoupon_core as core;
use wxcoupon_simulator::{Simulator, SimulatorConfig};

use crate::describe::{describe_coupon, describe_stock};

/// Runs the demo and prints what happens.
pub async fn run(runtime: &Runtime) -> anyhow::Result<()> {
    let sim = Simulator::start(SimulatorConfig::default()).await?;
    println!(
        "WeChat Pay simulator on {} (mutual TLS, its own CA)",
        sim.https_base_url()
    );

    let outbound = OutboundClient::new(OutboundConfig {
        identity: Some(ClientIdentity::from_pem(
            sim.client_cert_pem().as_bytes(),
            sim.client_key_pem().as_bytes(),
        )?),
        allow: AllowList::default().with_base_url(&sim.https_base_url())?,
        extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
        use_system_roots: false,
        ..Default::default()
    })?;
    let hooks = outbound.clone();
    let runtime = runtime
        .clone()
        .with_hooks(Arc::new(move || Box::new(hooks.hooks())));
    let mut merchant = sim.merchant(wxcoupon_simulator::Environment::Production);
    merchant.host = core::ApiHost::Custom(sim.https_base_url());
    let options = CallOptions::default();
    println!(
        "component {} bytes; merchant appid {} mch_id {}\n",
        wxcoupon::COMPONENT_BYTES.len(),
        merchant.appid,
        merchant.mch_id
    );

    let stock_request = core::QueryCouponStockRequest {
        coupon_stock_id: "1757".into(),
        options: Default::default(),
    };
    let mut session = runtime.session().await?;
    let stock = session
        .query_coupon_stock(&merchant, &stock_request, &options)
        .await??;
    println!("1. query_coupon_stock   {}", describe_stock(&stock));

    let users = ["oUser-Alice-0001", "oUser-Bob-00002", "oUser-Carol-003"];
    let mut issued = Vec::new();
    println!("2. send_coupon (each call a fresh component instance)");
    for (i, openid) in users.iter().enumerate() {
        let request = core::SendCouponRequest {
            coupon_stock_id: "1757".into(),
            openid: (*openid).into(),
            partner_trade_no: format!("{}20261128{:010}", merchant.mch_id, i + 1),
            options: Default::default(),
        };
        let mut session = runtime.session().await?;
        match session.send_coupon(&merchant, &request, &options).await? {
            Ok(sent) => {
                println!(
                    "   {openid}: coupon {} (partner_trade_no {})",
                    sent.coupon_id, request.partner_trade_no
                );
                issued.push((request, sent));
            }
            Err(e) => println!("   {openid}: {e}"),
        }
    }

    let (first_request, first) = issued
        .first()
        .ok_or_else(|| anyhow::anyhow!("the simulator issued no coupon"))?;
    let mut session = runtime.session().await?;
    let replay = session
        .send_coupon(&merchant, first_request, &options)
        .await??;
    println!(
        "3. replay of partner_trade_no {}: coupon {} again ({})",
        first_request.partner_trade_no,
        replay.coupon_id,
        if replay.coupon_id == first.coupon_id {
            "nothing new issued"
        } else {
            "UNEXPECTED: a new coupon"
        }
    );
    let again = core::SendCouponRequest {
        partner_trade_no: format!("{}20261128{:010}", merchant.mch_id, 99),
        ..first_request.clone()
    };
    match session.send_coupon(&merchant, &again, &options).await? {
        Err(core::Error::Business(b)) => println!(
            "4. a second coupon for {}: refused, {} ({}), retryable: {}",
            again.openid,
            b.err_code.unwrap_or_default(),
            b.meaning.unwrap_or_default(),
            b.retryable
        ),
        other => println!("4. a second coupon for {}: {other:?}", again.openid),
    }

    let stock = session
        .query_coupon_stock(&merchant, &stock_request, &options)
        .await??;
    println!("5. query_coupon_stock   {}", describe_stock(&stock));
    let info_request = core::QueryCouponsInfoRequest {
        coupon_id: first.coupon_id.clone(),
        openid: first_request.openid.clone(),
        stock_id: "1757".into(),
        options: Default::default(),
    };
    let coupon = session
        .query_coupons_info(&merchant, &info_request, &options)
        .await??;
    println!("6. querycouponsinfo     {}", describe_coupon(&coupon));

    let v3_issued = v3_side_by_side(&runtime, &sim, &outbound, first_request).await?;

    let stock = session
        .query_coupon_stock(&merchant, &stock_request, &options)
        .await??;
    println!(
        "\nSummary: {} coupons issued by v2 and {} by v3, stock 1757 at {}/{} (one count for both APIs); {} HTTPS requests over {} TLS handshake(s).",
        issued.len(),
        v3_issued,
        stock.is_send_num.unwrap_or_default(),
        stock.coupon_total,
        outbound.requests_sent(),
        sim.handshakes()
    );
    sim.shutdown().await;
    Ok(())
}

/// API v3 on the same simulator and stock: signed natively by the host (the component never
/// holds the private key), then inside the component; answers verified with the WeChat Pay
/// public key. Returns how many coupons v3 issued.
async fn v3_side_by_side(
    runtime: &Runtime,
    sim: &wxcoupon_simulator::RunningSimulator,
    outbound: &OutboundClient,
    v2_request: &core::SendCouponRequest,
) -> anyhow::Result<usize> {
    use wxcoupon::v3::SignWith;
    use wxcoupon_core::v3::favor::{IssueCoupon, QueryCoupon, QueryStock};
    use wxcoupon_core::v3::rsa::MerchantSigner;

    let settings = sim.v3_merchant_settings();
    let signer = MerchantSigner::from_pkcs8_pem(settings.private_key_pem.as_deref().unwrap_or(""))?;
    let mut session = runtime
        .clone()
        .with_outbound(outbound.clone())
        .session()
        .await?;
    let native = session
        .open_v3(&settings, SignWith::Host(Arc::new(signer)))
        .await??;
    let inside = session.open_v3(&settings, SignWith::Component).await??;
    let options = CallOptions::default();
    println!(
        "\nAPI v3 (JSON, SHA256-RSA; answers verified with the WeChat Pay public key {})",
        settings.wechatpay_public_key_id.as_deref().unwrap_or("?")
    );
    let appid = sim
        .merchant(wxcoupon_simulator::Environment::Production)
        .appid;
    let request = IssueCoupon {
        openid: "oUser-Dave-00004".into(),
        stock_id: "1757".into(),
        out_request_no: format!("{}v3demo0001", settings.mchid),
        appid: appid.clone(),
        stock_creator_mchid: settings.mchid.clone(),
        ..IssueCoupon::default()
    };
    let issued = session
        .v3_issue_coupon(&native, &request, &options)
        .await??;
    println!(
        "7. v3 issue, signed by the host:        coupon {} to {} (out_request_no {})",
        issued.coupon_id, request.openid, request.out_request_no
    );
    let again = session
        .v3_issue_coupon(&inside, &request, &options)
        .await??;
    println!(
        "8. the same, signed in the component:   coupon {} again ({})",
        again.coupon_id,
        if again.coupon_id == issued.coupon_id {
            "nothing new issued"
        } else {
            "UNEXPECTED: a new coupon"
        }
    );
    let v2_user = IssueCoupon {
        openid: v2_request.openid.clone(),
        out_request_no: format!("{}v3demo0002", settings.mchid),
        ..request.clone()
    };
    match session.v3_issue_coupon(&native, &v2_user, &options).await? {
        Err(e) => println!(
            "9. v3 issue to {} (v2 already gave one): {e}",
            v2_user.openid
        ),
        Ok(c) => println!(
            "9. v3 issue to {}: UNEXPECTED coupon {}",
            v2_user.openid, c.coupon_id
        ),
    }
    let stock = session
        .v3_query_stock(
            &native,
            &QueryStock {
                stock_id: "1757".into(),
                stock_creator_mchid: settings.mchid.clone(),
            },
            &options,
        )
        .await??;
    println!(
        "10. v3 stock 1757: {}, {} coupons issued by both APIs",
        stock.status.as_deref().unwrap_or("?"),
        stock.distributed_coupons.unwrap_or(0)
    );
    let coupon = session
        .v3_query_coupon(
            &native,
            &QueryCoupon {
                openid: request.openid.clone(),
                coupon_id: issued.coupon_id.clone(),
                appid,
            },
            &options,
        )
        .await??;
    println!(
        "11. v3 coupon {}: {} {}, usable {} – {}",
        coupon.coupon_id,
        coupon.coupon_name.as_deref().unwrap_or("?"),
        coupon.status.as_deref().unwrap_or("?"),
        coupon.available_begin_time.as_deref().unwrap_or("?"),
        coupon.available_end_time.as_deref().unwrap_or("?"),
    );
    Ok(1)
}
