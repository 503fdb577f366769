//! API v3 end to end through the component, from the reference host, against the simulator this
//! test starts (real TLS on loopback, WeChat's v3 wire format): issuing (again with the same
//! `out_request_no`: the same coupon, nothing new), the stock and coupon queries, signed natively
//! by the host and inside the component; platform certificates downloaded, then a rotated one
//! picked up; public-key, certificate and combined modes; each refused answer (tampered body,
//! unknown serial, stale and future timestamps, missing signature) with its own error; 429 and
//! 5xx retryable; and, through the CLI at TRACE, no secret in any output.

use std::process::{Command, Stdio};
use std::sync::Arc;

use wxcoupon::outbound::{AllowList, OutboundClient, OutboundConfig};
use wxcoupon::v3::{SignWith, V3Merchant};
use wxcoupon::{CallOptions, Runtime, Session};
use wxcoupon_core::v3::auth::AnswerRefusal;
use wxcoupon_core::v3::error::Error;
use wxcoupon_core::v3::favor::{IssueCoupon, QueryCoupon, QueryStock};
use wxcoupon_core::v3::merchant::MerchantSettings;
use wxcoupon_core::v3::rsa::MerchantSigner;
use wxcoupon_core::RetryAdvice;
use wxcoupon_simulator::{
    AnswerKey, ApiVersion, CertFile, Endpoint, Faults, RunningSimulator, Simulator,
    SimulatorConfig, V3Config,
};

const APPID: &str = "wx5edab3bdfba3dc1c";
const STOCK: &str = "1758";

async fn simulator(answer_key: AnswerKey) -> RunningSimulator {
    Simulator::start(SimulatorConfig {
        v3: V3Config {
            answer_key,
            ..V3Config::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .expect("start the simulator")
}

/// A session whose outbound client trusts the simulator's CA and reaches only it.
async fn session(sim: &RunningSimulator) -> Session {
    let client = OutboundClient::new(OutboundConfig {
        allow: AllowList::default()
            .with_base_url(&sim.https_base_url())
            .unwrap(),
        extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
        use_system_roots: false,
        ..OutboundConfig::default()
    })
    .unwrap();
    Runtime::new()
        .unwrap()
        .with_outbound(client)
        .session()
        .await
        .unwrap()
}

fn host_signer(settings: &MerchantSettings) -> SignWith {
    SignWith::Host(Arc::new(
        MerchantSigner::from_pkcs8_pem(settings.private_key_pem.as_deref().unwrap()).unwrap(),
    ))
}

async fn open(session: &mut Session, settings: &MerchantSettings, sign: SignWith) -> V3Merchant {
    session.open_v3(settings, sign).await.unwrap().unwrap()
}

fn issue(openid: &str, number: &str) -> IssueCoupon {
    IssueCoupon {
        openid: openid.into(),
        stock_id: STOCK.into(),
        out_request_no: number.into(),
        appid: APPID.into(),
        stock_creator_mchid: "10000098".into(),
        ..IssueCoupon::default()
    }
}

fn options() -> CallOptions {
    CallOptions {
        first_byte_timeout_ms: Some(2000),
        ..CallOptions::default()
    }
}

/// Issue, issue again, query the stock and the coupon: `sign` decides where requests are signed.
async fn issue_twice_and_query(sign_in_component: bool) {
    let sim = simulator(AnswerKey::PublicKey).await;
    let settings = sim.v3_merchant_settings();
    let mut s = session(&sim).await;
    let sign = if sign_in_component {
        SignWith::Component
    } else {
        host_signer(&settings)
    };
    let m = open(&mut s, &settings, sign).await;
    let stock = QueryStock {
        stock_id: STOCK.into(),
        stock_creator_mchid: "10000098".into(),
    };
    let before = s
        .v3_query_stock(&m, &stock, &options())
        .await
        .unwrap()
        .unwrap();
    let request = issue("o-v3-user-1", "v3-e2e-0001");
    let first = s
        .v3_issue_coupon(&m, &request, &options())
        .await
        .unwrap()
        .unwrap();
    let again = s
        .v3_issue_coupon(&m, &request, &options())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.coupon_id, again.coupon_id,
        "same out_request_no, same coupon"
    );
    let coupons = sim.coupons();
    assert_eq!(coupons.len(), 1, "nothing new the second time: {coupons:?}");
    assert_eq!(coupons[0].api, ApiVersion::V3);
    let after = s
        .v3_query_stock(&m, &stock, &options())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.distributed_coupons.unwrap(),
        before.distributed_coupons.unwrap() + 1
    );
    assert_eq!(
        sim.stock(STOCK).unwrap().is_send_num,
        1,
        "v2 sees it once too"
    );
    let coupon = s
        .v3_query_coupon(
            &m,
            &QueryCoupon {
                openid: "o-v3-user-1".into(),
                coupon_id: first.coupon_id.clone(),
                appid: APPID.into(),
            },
            &options(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(coupon.coupon_id, first.coupon_id);
    assert_eq!(coupon.stock_id.as_deref(), Some(STOCK));
    assert_eq!(coupon.status.as_deref(), Some("SENDED"));
    sim.shutdown().await;
}

#[tokio::test]
async fn signed_natively_issue_is_idempotent_and_queries_see_it() {
    issue_twice_and_query(false).await;
}

#[tokio::test]
async fn signed_in_the_component_issue_is_idempotent_and_queries_see_it() {
    issue_twice_and_query(true).await;
}

fn certificate_mode(sim: &RunningSimulator) -> MerchantSettings {
    MerchantSettings {
        wechatpay_public_key_id: None,
        wechatpay_public_key_pem: None,
        platform_certificates: vec![],
        ..sim.v3_merchant_settings()
    }
}

fn refusal(e: &Error) -> &AnswerRefusal {
    match e {
        Error::AnswerNotVerified { refusal } => refusal,
        other => panic!("not a verification refusal: {other:?}"),
    }
}

#[tokio::test]
async fn certificates_are_downloaded_then_a_rotated_one_is_picked_up() {
    let sim = simulator(AnswerKey::Certificate).await;
    let settings = certificate_mode(&sim);
    let mut s = session(&sim).await;
    let m = open(&mut s, &settings, host_signer(&settings)).await;
    let stock = QueryStock {
        stock_id: STOCK.into(),
        stock_creator_mchid: "10000098".into(),
    };
    // No key held: answers cannot be verified yet.
    let e = s
        .v3_query_stock(&m, &stock, &options())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refusal(&e), &AnswerRefusal::UnknownSerial);
    // The first download verifies with the certificate it carries (decrypted under the APIv3 key).
    let certs = s
        .v3_refresh_certificates(&m, &options())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        certs
            .iter()
            .map(|c| c.serial_no.clone())
            .collect::<Vec<_>>(),
        sim.platform_certificate_serials()
    );
    assert_eq!(
        certs[0].pem.trim(),
        sim.platform_certificate_pems()[0].trim()
    );
    s.v3_query_stock(&m, &stock, &options())
        .await
        .unwrap()
        .unwrap();

    // WeChat rotates: answers now come under the new certificate, unknown until refreshed.
    let new_serial = sim.rotate_platform_certificate();
    let e = s
        .v3_query_stock(&m, &stock, &options())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refusal(&e), &AnswerRefusal::UnknownSerial);
    // This download is verified with a certificate already held? No: it is signed by the new
    // one, which it carries; both are listed.
    let certs = s
        .v3_refresh_certificates(&m, &options())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(certs.len(), 2);
    assert_eq!(certs.last().unwrap().serial_no, new_serial, "newest last");
    assert!(s.v3_serials(&m).await.unwrap().contains(&new_serial));
    s.v3_query_stock(&m, &stock, &options())
        .await
        .unwrap()
        .unwrap();
    let issued = s
        .v3_issue_coupon(&m, &issue("o-v3-rotated", "v3-rotated-1"), &options())
        .await
        .unwrap()
        .unwrap();
    assert!(!issued.coupon_id.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn public_key_mode_and_the_combined_mode_both_verify() {
    // Public key only: the simulator's default answers (the request names the key).
    let sim = simulator(AnswerKey::Certificate).await;
    let stock = QueryStock {
        stock_id: STOCK.into(),
        stock_creator_mchid: "10000098".into(),
    };
    let key_only = sim.v3_merchant_settings();
    let mut s = session(&sim).await;
    let m = open(&mut s, &key_only, host_signer(&key_only)).await;
    s.v3_query_stock(&m, &stock, &options())
        .await
        .unwrap()
        .unwrap();
    // Both held (a merchant migrating): answers under the public key and, once the request
    // names the certificate (certificate mode on the same simulator), under the certificate.
    let combined = MerchantSettings {
        platform_certificates: sim.platform_certificate_pems(),
        ..sim.v3_merchant_settings()
    };
    let m = open(&mut s, &combined, host_signer(&combined)).await;
    s.v3_query_stock(&m, &stock, &options())
        .await
        .unwrap()
        .unwrap();
    let cert_only = certificate_mode(&sim);
    let cert_only = MerchantSettings {
        platform_certificates: sim.platform_certificate_pems(),
        ..cert_only
    };
    let m = open(&mut s, &cert_only, host_signer(&cert_only)).await;
    s.v3_query_stock(&m, &stock, &options())
        .await
        .unwrap()
        .unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn every_forged_or_stale_answer_is_refused_with_its_own_error() {
    let sim = simulator(AnswerKey::PublicKey).await;
    let settings = sim.v3_merchant_settings();
    let mut s = session(&sim).await;
    let m = open(&mut s, &settings, host_signer(&settings)).await;
    type Expected = fn(&AnswerRefusal) -> bool;
    let cases: Vec<(Faults, Expected)> = vec![
        (
            Faults {
                tampered_body: true,
                ..Faults::default()
            },
            |r| *r == AnswerRefusal::Signature,
        ),
        (
            Faults {
                unknown_serial: true,
                ..Faults::default()
            },
            |r| *r == AnswerRefusal::UnknownSerial,
        ),
        (
            Faults {
                timestamp_offset_seconds: -3600,
                ..Faults::default()
            },
            |r| matches!(r, AnswerRefusal::StaleTimestamp { skew_seconds } if *skew_seconds < -300),
        ),
        (
            Faults {
                timestamp_offset_seconds: 3600,
                ..Faults::default()
            },
            |r| matches!(r, AnswerRefusal::StaleTimestamp { skew_seconds } if *skew_seconds > 300),
        ),
        (
            Faults {
                missing_signature: true,
                ..Faults::default()
            },
            |r| *r == AnswerRefusal::MissingHeader("Wechatpay-Signature"),
        ),
        (
            Faults {
                wrong_sign: true,
                ..Faults::default()
            },
            |r| *r == AnswerRefusal::Signature,
        ),
    ];
    for (i, (fault, expected)) in cases.into_iter().enumerate() {
        sim.set_faults(Faults {
            only: Some(Endpoint::V3IssueCoupon),
            times: Some(1),
            ..fault.clone()
        })
        .unwrap();
        let request = issue(&format!("o-v3-forged-{i}"), &format!("v3-forged-{i}"));
        let e = s
            .v3_issue_coupon(&m, &request, &options())
            .await
            .unwrap()
            .unwrap_err();
        assert!(expected(refusal(&e)), "{fault:?}: {e:?}");
        assert!(
            s.v3_issue_outcome_unknown(&e).await.unwrap(),
            "{fault:?}: a refused 2xx may hide an issued coupon"
        );
        // The remedy: the same request again, with the same number.
        let retried = s
            .v3_issue_coupon(&m, &request, &options())
            .await
            .unwrap()
            .unwrap();
        let holding: Vec<_> = sim
            .coupons()
            .into_iter()
            .filter(|c| c.openid == request.openid)
            .collect();
        assert_eq!(holding.len(), 1, "{fault:?}");
        assert_eq!(holding[0].coupon_id, retried.coupon_id, "{fault:?}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limits_and_server_errors_come_back_retryable() {
    let sim = simulator(AnswerKey::PublicKey).await;
    let settings = sim.v3_merchant_settings();
    let mut s = session(&sim).await;
    let m = open(&mut s, &settings, SignWith::Component).await;
    for (status, advice, unknown) in [
        (429, RetryAdvice::RetryLater, false),
        (500, RetryAdvice::Retry, true),
        (503, RetryAdvice::Retry, true),
        (202, RetryAdvice::Retry, true),
    ] {
        sim.set_faults(Faults {
            only: Some(Endpoint::V3IssueCoupon),
            times: Some(1),
            status: Some(status),
            ..Faults::default()
        })
        .unwrap();
        let request = issue("o-v3-busy", &format!("v3-busy-{status}"));
        let e = s
            .v3_issue_coupon(&m, &request, &options())
            .await
            .unwrap()
            .unwrap_err();
        match &e {
            Error::Refused(r) => {
                assert_eq!((r.status, r.advice), (status, advice), "{r:?}");
                assert!(r.advice.is_retryable());
            }
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(
            s.v3_issue_outcome_unknown(&e).await.unwrap(),
            unknown,
            "{status}"
        );
    }
    assert!(sim.coupons().is_empty(), "no fault issued anything");
    // Bad input never leaves the host.
    let e = s
        .v3_issue_coupon(&m, &issue("o-v3-busy", "no/slash"), &options())
        .await
        .unwrap()
        .unwrap_err();
    match e {
        Error::InvalidInput(f) => assert_eq!(f.field, "out_request_no"),
        other => panic!("{other:?}"),
    }
    sim.shutdown().await;
}

/// The CLI with v3 settings from `WXPAY_*`, logging at TRACE.
fn cli(sim: &RunningSimulator, args: &[&str], extra: &[(&str, String)]) -> Command {
    let path = |f| sim.cert_path(f).unwrap().display().to_string();
    let mut command = Command::new(env!("CARGO_BIN_EXE_wxcoupon"));
    command
        .args(args)
        .env_clear()
        .env("RUST_LOG", "trace")
        .env("WXPAY_API", "v3")
        .env("WXPAY_APPID", APPID)
        .env("WXPAY_MCH_ID", "10000098")
        .env("WXPAY_BASE_URL", sim.https_base_url())
        .env("WXPAY_CA_FILE", path(CertFile::Ca))
        .env(
            "WXPAY_MERCHANT_SERIAL_NO",
            sim.v3_merchant_settings().merchant_serial_no,
        )
        .env("WXPAY_PRIVATE_KEY_FILE", path(CertFile::MerchantApiKey))
        .env("WXPAY_APIV3_KEY", sim.v3_merchant_settings().apiv3_key)
        .stdin(Stdio::null());
    for (k, v) in extra {
        command.env(k, v);
    }
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_issues_in_v3_and_no_secret_reaches_any_output() {
    let scratch = std::env::temp_dir().join(format!("wxcoupon-v3-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let sim = Simulator::start(SimulatorConfig {
        cert_dir: Some(scratch.join("certs")),
        v3: V3Config {
            answer_key: AnswerKey::Certificate,
            ..V3Config::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let settings = sim.v3_merchant_settings();
    let secrets = [
        settings.apiv3_key.clone(),
        settings.apiv3_key.to_lowercase(),
    ];
    let key_lines: Vec<String> = settings
        .private_key_pem
        .clone()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .map(str::to_string)
        .collect();
    let cert_dir = scratch.join("platform-certs");
    let run = |args: &[&str], extra: Vec<(&str, String)>| {
        let out = tokio::task::block_in_place(|| {
            cli(&sim, args, &extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .output()
                .unwrap()
        });
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for secret in secrets.iter().chain(&key_lines) {
            assert!(
                !all.contains(secret.as_str()),
                "a secret in the output of {args:?}"
            );
        }
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            all,
        )
    };
    let dir = ("WXPAY_PLATFORM_CERT_DIR", cert_dir.display().to_string());
    // Certificate mode: the first call downloads and keeps the certificates.
    let (code, stdout, all) = run(&["certificates", "--json"], vec![dir.clone()]);
    assert_eq!(code, Some(0), "{all}");
    let shown: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        shown["certificates"].as_array().unwrap().len(),
        1,
        "{shown}"
    );
    assert_eq!(std::fs::read_dir(&cert_dir).unwrap().count(), 1);
    let send = [
        "send",
        "--stock-id",
        STOCK,
        "--openid",
        "o-v3-cli",
        "--out-request-no",
        "v3-cli-0001",
        "--json",
    ];
    for sign_in in ["host", "component"] {
        let (code, stdout, all) = run(
            &send,
            vec![dir.clone(), ("WXPAY_V3_SIGN_IN", sign_in.into())],
        );
        assert_eq!(code, Some(0), "{all}");
        let issued: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(issued["api"], "v3");
        assert_eq!(
            sim.coupons().len(),
            1,
            "{sign_in}: the same number issues once"
        );
        assert_eq!(issued["coupon_id"], sim.coupons()[0].coupon_id.as_str());
    }
    // A rotation is picked up by the CLI: one refresh, then the same call again.
    sim.rotate_platform_certificate();
    let (code, stdout, all) = run(&["stock", "--stock-id", STOCK, "--json"], vec![dir.clone()]);
    assert_eq!(code, Some(0), "{all}");
    let stock: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(stock["distributed_coupons"], 1);
    assert_eq!(
        std::fs::read_dir(&cert_dir).unwrap().count(),
        2,
        "the new one is kept"
    );
    // An unknown outcome says so and how to retry.
    sim.set_faults(Faults {
        only: Some(Endpoint::V3IssueCoupon),
        times: Some(1),
        status: Some(500),
        ..Faults::default()
    })
    .unwrap();
    let mut other = send;
    other[4] = "o-v3-cli-2";
    other[6] = "v3-cli-0002";
    let (code, stdout, all) = run(&other, vec![dir.clone()]);
    assert_eq!(code, Some(4), "{all}");
    let out: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(out["outcome_unknown"], true);
    assert_eq!(out["out_request_no"], "v3-cli-0002");
    // A bad setting names itself and not the value.
    let (code, _, all) = run(
        &send,
        vec![dir, ("WXPAY_APIV3_KEY", "short-secret-value".into())],
    );
    assert_eq!(code, Some(2), "{all}");
    assert!(all.contains("WXPAY_APIV3_KEY"), "{all}");
    assert!(!all.contains("short-secret-value"), "{all}");
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&scratch);
}

/// The v3 programme on the command line: create, start, list, issue, a user's coupons, the
/// callback setting, pause (issuing refused, exit 1), the use flow after a use, and a captured
/// callback verified — JSON with `--json`, tables otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_the_coupon_programme() {
    let scratch =
        std::env::temp_dir().join(format!("wxcoupon-v3-programme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let sim = Simulator::start(SimulatorConfig {
        cert_dir: Some(scratch.join("certs")),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let key = (
        "WXPAY_WECHATPAY_PUBLIC_KEY_FILE",
        sim.cert_path(CertFile::WechatpayPublicKey)
            .unwrap()
            .display()
            .to_string(),
    );
    let key_id = (
        "WXPAY_WECHATPAY_PUBLIC_KEY_ID",
        sim.v3_public_key_id().to_string(),
    );
    let run = |args: &[&str]| {
        let out = tokio::task::block_in_place(|| {
            cli(&sim, args, &[key.clone(), key_id.clone()])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .output()
                .unwrap()
        });
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stdout, stderr)
    };
    let json = |(code, stdout, stderr): (Option<i32>, String, String)| -> serde_json::Value {
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    };
    let begin = wxcoupon_core::time::format_rfc3339_beijing(wxcoupon::v3::now() - 60);
    let end = wxcoupon_core::time::format_rfc3339_beijing(wxcoupon::v3::now() + 86_400);
    let created = json(run(&[
        "stock",
        "create",
        "--name",
        "cli 满2减1",
        "--begin",
        &begin,
        "--end",
        &end,
        "--max-coupons",
        "10",
        "--amount",
        "100",
        "--minimum",
        "200",
        "--out-request-no",
        "cli-create-1",
        "--json",
    ]));
    let stock = created["stock_id"].as_str().unwrap().to_string();
    let started = json(run(&["stock", "start", "--stock-id", &stock, "--json"]));
    assert_eq!(started["change"], "start");
    let (code, table, err) = run(&["stock", "list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(table.starts_with("stock_id"), "{table}");
    assert!(table.contains(&stock), "{table}");
    let issued = json(run(&[
        "send",
        "--stock-id",
        &stock,
        "--openid",
        "o-cli-programme",
        "--out-request-no",
        "cli-programme-1",
        "--json",
    ]));
    let coupon = issued["coupon_id"].as_str().unwrap().to_string();
    let (code, table, err) = run(&["coupons", "list", "--openid", "o-cli-programme"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        table.contains(&coupon) && table.contains("SENDED"),
        "{table}"
    );
    let set = json(run(&[
        "callbacks",
        "set",
        "--url",
        "https://shop.example/v1/notifications/wechatpay",
        "--json",
    ]));
    assert_eq!(
        set["notify_url"],
        "https://shop.example/v1/notifications/wechatpay"
    );
    let (code, line, err) = run(&["callbacks", "get"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        line.contains("go to https://shop.example/v1/notifications/wechatpay"),
        "{line}"
    );
    json(run(&["stock", "pause", "--stock-id", &stock, "--json"]));
    let (code, stdout, _) = run(&[
        "send",
        "--stock-id",
        &stock,
        "--openid",
        "o-cli-2",
        "--out-request-no",
        "cli-programme-2",
        "--json",
    ]);
    assert_eq!(
        code,
        Some(1),
        "issuing from a paused stock is WeChat's refusal: {stdout}"
    );
    assert!(stdout.contains("INVALID_REQUEST"), "{stdout}");
    sim.use_coupon(&coupon, wxcoupon_simulator::CouponUse::default())
        .unwrap();
    let flow = json(run(&["stock", "use-flow", "--stock-id", &stock, "--json"]));
    assert_eq!(flow["rows"].as_array().unwrap().len(), 1, "{flow}");
    assert_eq!(flow["rows"][0]["coupon_id"], coupon.as_str());
    // A captured callback (the vectors' first), verified at its own time.
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/v3/vectors.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let case = &vectors["notifications"][0];
    let captured = scratch.join("captured.json");
    std::fs::write(
        &captured,
        serde_json::json!({"headers": case["headers"], "body": case["body"]}).to_string(),
    )
    .unwrap();
    let at = case["now"].to_string();
    let event = json(run(&[
        "notification",
        "verify",
        captured.to_str().unwrap(),
        "--at",
        &at,
        "--json",
    ]));
    assert_eq!(
        event["coupon"]["consume_information"]["transaction_id"],
        "4200000000000000000000000001"
    );
    // Without --at the capture is stale, as it would be live.
    let (code, stdout, _) = run(&["notification", "verify", captured.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("stale-timestamp") || stdout.contains("stale"),
        "{stdout}"
    );
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&scratch);
}
