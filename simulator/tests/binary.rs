//! The `wxcoupon-simulator` binary as another language's test harness would use it: start it,
//! read the ready line, call it with the written certificates, close stdin to stop it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use wxcoupon_core::{ApiHost, ApiKey, CouponResponse, Merchant};

/// The string value of `key` in a flat JSON object of strings, numbers and nulls.
fn json_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[start..];
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

/// Kills the child if the test fails before it exits.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn binary_prints_ready_line_serves_and_stops_on_stdin_eof() {
    let child = Command::new(env!("CARGO_BIN_EXE_wxcoupon-simulator"))
        .args(["--exit-on-stdin-eof", "--plain-http", "--sign-responses"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("binary starts");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .expect("a ready line");
    let line = line.trim_end().to_string();
    assert!(line.starts_with("{\"event\":\"ready\""), "{line}");
    let base = json_field(&line, "https_base_url").unwrap();
    assert!(base.starts_with("https://127.0.0.1:"), "{line}");
    assert!(json_field(&line, "http_base_url")
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    let cert_dir = json_field(&line, "cert_dir").unwrap();
    let ca = std::fs::read_to_string(json_field(&line, "ca").unwrap()).unwrap();
    let cert = std::fs::read_to_string(json_field(&line, "client_cert").unwrap()).unwrap();
    let key = std::fs::read_to_string(json_field(&line, "client_key").unwrap()).unwrap();
    assert_eq!(json_field(&line, "mch_id").unwrap(), "10000098");
    // The v3 material a demo points at.
    assert_eq!(
        json_field(&line, "v3_public_key_id").unwrap(),
        wxcoupon_simulator::v3::fixtures::PUBLIC_KEY_ID
    );
    assert_eq!(
        json_field(&line, "v3_merchant_serial_no").unwrap(),
        wxcoupon_simulator::v3::fixtures::MERCHANT_SERIAL_NO
    );
    for (field, expected) in [
        (
            "v3_wechatpay_public_key",
            wxcoupon_simulator::v3::fixtures::PLATFORM_PUBLIC_KEY_PEM,
        ),
        (
            "v3_platform_cert",
            wxcoupon_simulator::v3::fixtures::PLATFORM_CERT_PEM,
        ),
        (
            "v3_merchant_key",
            wxcoupon_simulator::v3::fixtures::MERCHANT_KEY_PEM,
        ),
        (
            "v3_merchant_cert",
            wxcoupon_simulator::v3::fixtures::MERCHANT_CERT_PEM,
        ),
    ] {
        let path = json_field(&line, field).unwrap();
        assert!(path.starts_with(&cert_dir), "{field}: {path}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.replace("\r\n", "\n"), expected, "{field}");
    }

    let addr: std::net::SocketAddr = base.trim_start_matches("https://").parse().unwrap();
    let mut client = Client::https_to(addr, tls_config_from_pem(&ca, Some((&cert, &key))));
    let mut merchant = Merchant::new(
        "wx5edab3bdfba3dc1c",
        "10000098",
        ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap(),
    );
    merchant.host = ApiHost::Custom(base);
    merchant.signature_policy = wxcoupon_core::SignaturePolicy::Require;
    let (_, sent) = client
        .call(&merchant, &send("1757", OPENID, &trade_no()))
        .await
        .unwrap();
    assert!(
        matches!(sent, Ok(CouponResponse::SendCoupon(_))),
        "{sent:?}"
    );

    drop(child.0.stdin.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "exits after stdin closes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success());
    // The temporary certificate directory is cleaned up.
    assert!(!std::path::Path::new(&cert_dir).exists());
}

#[test]
fn binary_refuses_a_bad_config() {
    let dir = std::env::temp_dir().join(format!("wxcoupon-sim-badcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "api_key = \"XYZZYnotakey\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wxcoupon-simulator"))
        .arg("--config")
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("api_key"), "{stderr}");
    assert!(
        !stderr.contains("XYZZY"),
        "the key must not be echoed: {stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
