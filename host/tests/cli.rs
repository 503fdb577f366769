//! The `wxcoupon` binary: JSON out, clear errors, exit codes, no secrets.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use common::Scratch;

mod common;

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

fn wxcoupon(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxcoupon"))
        .args(args)
        .env_clear()
        .env("WXPAY_API_KEY", KEY)
        .env("WXPAY_APPID", "wx5edab3bdfba3dc1c")
        .env("WXPAY_MCH_ID", "10000098")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wxcoupon");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn sign_from_arguments_and_from_stdin() {
    let args = [
        "sign",
        "appid=wxd930ea5d5a258f4f",
        "mch_id=10000100",
        "device_info=1000",
        "body=test",
        "nonce_str=ibuaiVcKdpRxkhJA",
    ];
    let out = wxcoupon(&args, "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["sign"], "9A0A8659F005D6984697E2CA0A9CF3B7");

    let stdin = r#"{"appid":"wxd930ea5d5a258f4f","mch_id":"10000100","device_info":"1000","body":"test","nonce_str":"ibuaiVcKdpRxkhJA"}"#;
    let out = wxcoupon(&["sign", "--sign-type", "hmac-sha256"], stdin);
    assert_eq!(
        json(&out)["sign"],
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    );
}

#[test]
fn build_from_flags_and_from_json() {
    let out = wxcoupon(
        &[
            "build",
            "stock",
            "--stock-id",
            "1757",
            "--nonce",
            "1417575000",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(
        v["url"],
        "https://api.mch.weixin.qq.com/mmpaymkttransfers/query_coupon_stock"
    );
    assert!(v["body"]
        .as_str()
        .unwrap()
        .contains("87069FE951263C9A577A756711070C75"));
    assert_eq!(v["needs_client_certificate"], false);

    let request = r#"{"api":"querycouponsinfo","coupon_id":"1565","openid":"onqOjjrXT-776SpHnfexGm1_P7iE","stock_id":"58818","version":"1.0","message_type":"XML"}"#;
    let out = wxcoupon(&["build", "--json", "--nonce", "1417575784"], request);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(json(&out)["body"]
        .as_str()
        .unwrap()
        .contains("E99B9B61190008DB8D31F9F84F4B1857"));
}

#[test]
fn bad_input_exits_2_naming_field_and_rule_without_the_key() {
    let out = wxcoupon(
        &["build", "send", "--stock-id", "1757", "--openid", "o"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("partner_trade_no: required"), "{stderr}");
    assert_eq!(json(&out)["error"]["kind"], "invalid-input");
    assert_eq!(json(&out)["error"]["field"], "partner_trade_no");
    assert!(!stderr.contains(KEY) && !String::from_utf8_lossy(&out.stdout).contains(KEY));

    let out = wxcoupon(
        &["build", "--json"],
        "{\"api\":\"send_coupon\",\"bogus\":1}",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin: must be a request object"));
}

#[test]
fn parse_reports_business_errors_with_exit_1() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/responses/send_coupon_fail_user_al_get_coupon.xml"
    );
    let out = wxcoupon(&["parse", "send", fixture], "");
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["error"]["kind"], "business");
    assert_eq!(v["error"]["err_code"], "USER_AL_GET_COUPON");
    assert_eq!(v["error"]["retryable"], false);

    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/responses/query_coupon_stock_real_unsigned.xml"
    );
    let out = wxcoupon(&["parse", "stock", fixture], "");
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!(v["coupon_minimum"], 2000);
    assert_eq!(v["status"], "active");
}

#[test]
fn help_hides_the_key_from_the_environment() {
    let out = wxcoupon(&["build", "--help"], "");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("WXPAY_API_KEY"));
    assert!(!help.contains(KEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn send_stock_and_coupon_against_the_simulator() {
    use wxcoupon_simulator::{CertFile, Simulator, SimulatorConfig};
    let scratch = Scratch::new("sim");
    let sim = Simulator::start(SimulatorConfig {
        cert_dir: Some(scratch.0.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let path = |f| sim.cert_path(f).unwrap().display().to_string();
    let (cert, key, ca) = (
        path(CertFile::ClientCert),
        path(CertFile::ClientKey),
        path(CertFile::Ca),
    );
    let base = sim.https_base_url();
    let connection = [
        "--base-url",
        &base,
        "--cert-file",
        &cert,
        "--key-file",
        &key,
        "--ca-file",
        &ca,
    ];
    let run = |args: Vec<&str>| {
        let args: Vec<&str> = args.into_iter().chain(connection).collect();
        tokio::task::block_in_place(|| wxcoupon(&args, ""))
    };

    let out = run(vec![
        "send",
        "--stock-id",
        "1757",
        "--openid",
        "o-cli-1",
        "--partner-trade-no",
        "1000009820261128777",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let coupon_id = json(&out)["coupon_id"].as_str().unwrap().to_string();

    let out = run(vec!["stock", "--stock-id", "1757", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["is_send_num"], 1);

    let out = run(vec![
        "coupon",
        "--coupon-id",
        &coupon_id,
        "--openid",
        "o-cli-1",
        "--stock-id",
        "1757",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(&format!("coupon {coupon_id} of stock 1757: Usable")),
        "{summary}"
    );

    // Without the client certificate WeChat's CA_ERROR comes back, named.
    let out = tokio::task::block_in_place(|| {
        wxcoupon(
            &[
                "send",
                "--stock-id",
                "1757",
                "--openid",
                "o-cli-2",
                "--partner-trade-no",
                "1000009820261128778",
                "--base-url",
                &base,
                "--ca-file",
                &ca,
            ],
            "",
        )
    });
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CA_ERROR"));
    assert_eq!(sim.coupons().len(), 1);

    // WeChat issued, but its answer cannot be trusted (a wrong signature): the outcome is
    // unknown, exit 4, and the JSON says which number to retry with.
    sim.set_faults(wxcoupon_simulator::Faults {
        wrong_sign: true,
        only: Some(wxcoupon_simulator::Endpoint::SendCoupon),
        times: Some(1),
        ..Default::default()
    })
    .unwrap();
    let send_3 = || {
        run(vec![
            "send",
            "--stock-id",
            "1757",
            "--openid",
            "o-cli-3",
            "--partner-trade-no",
            "1000009820261128779",
            "--json",
        ])
    };
    let out = send_3();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unknown = json(&out);
    assert_eq!(unknown["outcome_unknown"], true, "{unknown}");
    assert_eq!(unknown["partner_trade_no"], "1000009820261128779");
    assert_eq!(unknown["error"]["kind"], "signature");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("retry with the same partner_trade_no"),
        "{stderr}"
    );
    // (The simulator's wrong_sign spoils the answer without issuing; either way) the retry
    // with the same number is safe: one coupon for o-cli-3, and a repeat adds none.
    let out = send_3();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sim.coupons().len(), 2);
    assert_eq!(json(&out)["coupon_id"], sim.coupons()[1].coupon_id.as_str());
    assert_eq!(send_3().status.code(), Some(0));
    assert_eq!(sim.coupons().len(), 2, "a repeat issues nothing more");
    sim.shutdown().await;
}

#[test]
fn serve_prints_its_real_address_once_it_listens() {
    use std::io::{BufRead as _, Read as _};
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxcoupon"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("WXPAY_API_KEY", KEY)
        .env("WXPAY_APPID", "wx5edab3bdfba3dc1c")
        .env("WXPAY_MCH_ID", "10000098")
        .env("WXPAY_BASE_URL", "http://127.0.0.1:9")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run wxcoupon serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).expect("one JSON ready line");
    assert_eq!(ready["event"], "ready", "{line}");
    let listen: std::net::SocketAddr = ready["listen"].as_str().unwrap().parse().unwrap();
    assert_ne!(listen.port(), 0, "{line}");
    assert_eq!(ready["url"], format!("http://{listen}"));
    // It is listening already: the health check answers.
    let mut stream = std::net::TcpStream::connect(listen).expect("listening after the ready line");
    stream
        .write_all(
            format!("GET /healthz HTTP/1.1\r\nhost: {listen}\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn every_missing_setting_is_reported_before_anything_is_sent() {
    let out = Command::new(env!("CARGO_BIN_EXE_wxcoupon"))
        .args([
            "stock",
            "--stock-id",
            "1757",
            "--base-url",
            "https://127.0.0.1:9",
            "--cert-file",
            "/nonexistent/cert.pem",
        ])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for item in ["appid", "mch_id", "api_key", "cert_file", "key_file"] {
        assert!(stderr.contains(item), "{item} not reported: {stderr}");
    }
    let v = json(&out);
    assert_eq!(v["error"]["kind"], "invalid-config");
    assert!(v["error"]["problems"].as_array().unwrap().len() >= 4);
}

#[test]
fn egress_without_a_certificate_is_refused_by_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_wxcoupon"))
        .arg("egress")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    assert_eq!(v["error"]["kind"], "invalid-config");
    assert_eq!(v["error"]["problems"][0]["field"], "WXPAY_CERT_FILE");
}

/// The README's main command: the demo walks through v2 and v3 on the embedded simulator and
/// reports no surprise (each replay issues nothing new, both APIs count the stock once).
#[test]
fn the_demo_runs_v2_and_v3_side_by_side() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wxcoupon"))
        .arg("demo")
        .env_clear()
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("UNEXPECTED"), "{stdout}");
    assert_eq!(stdout.matches("nothing new issued").count(), 2, "{stdout}");
    assert!(
        stdout.contains("RULE_LIMIT"),
        "v3 sees v2's coupon: {stdout}"
    );
    assert!(
        stdout.contains("3 coupons issued by v2 and 1 by v3, stock 1757 at 4/100"),
        "{stdout}"
    );
}
