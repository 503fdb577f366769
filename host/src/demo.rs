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

    println!(
        "\nSummary: {} coupons issued, stock 1757 at {}/{}; {} HTTPS requests over {} TLS handshake(s).",
        issued.len(),
        stock.is_send_num.unwrap_or_default(),
        stock.coupon_total,
        outbound.requests_sent(),
        sim.handshakes()
    );
    sim.shutdown().await;
    Ok(())
}
