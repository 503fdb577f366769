//! `wxcoupon-simulator`: runs the simulator until SIGINT/SIGTERM (or, with
//! `--exit-on-stdin-eof`, until stdin closes), for tests and hosts in any language.
//!
//! When ready it prints one JSON line on stdout with the base URLs and the PEM file paths, e.g.
//! `{"event":"ready","https_base_url":"https://127.0.0.1:41234","http_base_url":null,
//! "cert_dir":"/tmp/...","ca":"/tmp/.../ca.pem","client_cert":"...","client_key":"...",
//! "server_cert":"...","server_key":"...","appid":"wx5edab3bdfba3dc1c","mch_id":"10000098",
//! "v3_public_key_id":"PUB_KEY_ID_…","v3_merchant_serial_no":"7E57…01",
//! "v3_wechatpay_public_key":"/tmp/.../platform_pub.pem","v3_platform_cert":"...",
//! "v3_merchant_key":"...","v3_merchant_cert":"...","pid":1234}` (the v3 files are TEST ONLY
//! material, the merchant key included). Logs go to stderr (`RUST_LOG`, default `info`). Without `--cert-dir` the PEM files
//! go to a fresh private temporary directory that is removed on exit.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use wxcoupon_simulator::{CertFile, RunningSimulator, Simulator, SimulatorConfig};

/// A WeChat Pay coupon API simulator on loopback, API v2 (HTTPS, optional mutual TLS) and
/// API v3 (marketing/favor, signed JSON).
#[derive(Debug, Parser)]
#[command(name = "wxcoupon-simulator", version, about)]
struct Cli {
    /// TOML configuration (appid, mch_id, api_key, sandbox_key, stocks, faults, ...).
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
    /// HTTPS listening address [default: 127.0.0.1:0, a port chosen by the OS].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Write ca.pem, server.pem, server-key.pem, client.pem, client-key.pem (and for v3
    /// platform_pub.pem, platform_cert.pem, merchant_key.pem, merchant_cert.pem) here
    /// [default: a temporary directory removed on exit].
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Also serve plain HTTP (send_coupon then answers CA_ERROR: no client certificate).
    #[arg(long)]
    plain_http: bool,
    /// Plain-HTTP listening address (implies --plain-http).
    #[arg(long, value_name = "ADDR")]
    plain_listen: Option<SocketAddr>,
    /// Sign successful responses (real coupon responses are unsigned).
    #[arg(long)]
    sign_responses: bool,
    /// Stop when stdin reaches end of file (handy when a test harness owns the process).
    #[arg(long)]
    exit_on_stdin_eof: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();

    let mut config = match &cli.config {
        Some(path) => SimulatorConfig::load(path)?,
        None => SimulatorConfig::default(),
    };
    if cli.listen.is_some() {
        config.listen = cli.listen;
    }
    if cli.plain_http {
        config.plain_http = true;
    }
    if cli.plain_listen.is_some() {
        config.plain_http = true;
        config.plain_listen = cli.plain_listen;
    }
    if cli.sign_responses {
        config.sign_responses = true;
    }
    if cli.cert_dir.is_some() {
        config.cert_dir = cli.cert_dir.clone();
    }
    let temp_dir = if config.cert_dir.is_none() {
        let dir = make_temp_dir()?;
        config.cert_dir = Some(dir.clone());
        Some(dir)
    } else {
        None
    };

    let sim = match Simulator::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            if let Some(dir) = &temp_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(e);
        }
    };
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", ready_line(&sim)).context("writing the ready line")?;
        stdout.flush().context("writing the ready line")?;
    }

    wait_for_stop(cli.exit_on_stdin_eof).await;
    sim.shutdown().await;
    if let Some(dir) = &temp_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// Waits for SIGINT, SIGTERM, or (when asked) the end of stdin.
async fn wait_for_stop(watch_stdin: bool) {
    let (stdin_tx, stdin_rx) = tokio::sync::oneshot::channel::<()>();
    if watch_stdin {
        std::thread::spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 1024];
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
            let _ = stdin_tx.send(());
        });
    }
    let stdin_closed = async move {
        if watch_stdin {
            let _ = stdin_rx.await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = terminate() => tracing::info!("SIGTERM: shutting down"),
        _ = stdin_closed => tracing::info!("stdin closed: shutting down"),
    }
}

#[cfg(unix)]
async fn terminate() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut stream) => {
            stream.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn terminate() {
    std::future::pending::<()>().await
}

/// A fresh, private directory under the system temporary directory.
fn make_temp_dir() -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "wxcoupon-simulator-{}-{nanos:09}",
        std::process::id()
    ));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn ready_line(sim: &RunningSimulator) -> String {
    let path = |file: CertFile| match sim.cert_path(file) {
        Some(p) => json_string(&p.to_string_lossy()),
        None => "null".to_string(),
    };
    let http = match sim.http_base_url() {
        Some(url) => json_string(&url),
        None => "null".to_string(),
    };
    let cert_dir = match sim.cert_dir() {
        Some(dir) => json_string(&display(dir)),
        None => "null".to_string(),
    };
    format!(
        "{{\"event\":\"ready\",\"https_base_url\":{},\"http_base_url\":{},\"cert_dir\":{},\
         \"ca\":{},\"client_cert\":{},\"client_key\":{},\"server_cert\":{},\"server_key\":{},\
         \"appid\":{},\"mch_id\":{},\"v3_public_key_id\":{},\"v3_merchant_serial_no\":{},\
         \"v3_wechatpay_public_key\":{},\"v3_platform_cert\":{},\"v3_merchant_key\":{},\
         \"v3_merchant_cert\":{},\"pid\":{}}}",
        json_string(&sim.https_base_url()),
        http,
        cert_dir,
        path(CertFile::Ca),
        path(CertFile::ClientCert),
        path(CertFile::ClientKey),
        path(CertFile::ServerCert),
        path(CertFile::ServerKey),
        json_string(&sim.config().appid),
        json_string(&sim.config().mch_id),
        json_string(sim.v3_public_key_id()),
        json_string(&sim.v3_merchant_settings().merchant_serial_no),
        path(CertFile::WechatpayPublicKey),
        path(CertFile::PlatformCertificate),
        path(CertFile::MerchantApiKey),
        path(CertFile::MerchantApiCertificate),
        std::process::id(),
    )
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
