//! The reference host's gateway (`wxcoupon::serve`) in-process on a loopback port, the test
//! merchant's environment for it, and the capture of every log line of the test binary.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wxcoupon::serve::{ServeConfig, ServeStats, Server};

use crate::{APPID, MCH_ID, TEST_KEY};

/// A buffer tracing writes log lines into.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of the test binary so far (debug level and up, all targets). The first call
/// installs the global subscriber that captures them: call it before anything logs.
pub fn logs() -> String {
    static BUFFER: OnceLock<LogBuffer> = OnceLock::new();
    let buffer = BUFFER.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    });
    buffer.text()
}

/// The component's environment: the test merchant calling `base_url`, plus `extra`.
pub fn component_env(base_url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("WXPAY_APPID".to_string(), APPID.to_string()),
        ("WXPAY_MCH_ID".to_string(), MCH_ID.to_string()),
        ("WXPAY_API_KEY".to_string(), TEST_KEY.to_string()),
        ("WXPAY_BASE_URL".to_string(), base_url.to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// A running gateway of the reference host.
pub struct Gateway {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<wxcoupon::HostResult<ServeStats>>,
}

impl Gateway {
    /// Binds `config` on a free loopback port (whatever its `listen`) and serves it until
    /// [`Gateway::stop`]. Installs the log capture ([`logs`]) first.
    pub async fn start(config: ServeConfig) -> Gateway {
        logs();
        let server = Server::bind(ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        })
        .await
        .expect("bind the gateway");
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        Gateway { addr, stop, task }
    }

    /// Stops it gracefully (within 20 s) and returns its counters.
    pub async fn stop(self) -> ServeStats {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the gateway stops in time")
            .expect("the server task")
            .expect("the server")
    }
}
