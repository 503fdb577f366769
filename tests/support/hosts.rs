//! Running the component under other runtimes (`jco serve`, `wasmtime serve`) from a test: finding
//! the tools, free loopback ports, child processes that die with the test, readiness, and a
//! small HTTP/1.1 client for the gateway's JSON API.
//!
//! Tools are installed by `scripts/setup-gateway-hosts`. When one is missing, [`require`] fails
//! the test under `CI=true` and otherwise prints why and lets the test return early.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// The wasmtime-cli version `scripts/install-wasmtime-cli` installs.
pub const WASMTIME_VERSION: &str = "48.0.8";
/// The jco version pinned in `tests/gateway-hosts/package.json`.
pub const JCO_VERSION: &str = "1.35.0";

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// `tests/gateway-hosts/`: the npm project holding jco.
pub fn gateway_hosts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway-hosts")
}

/// Whether this run is CI's (`CI=true`), where a missing tool is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// `Some(path)` when the tool was found; otherwise, under CI, panics with `why`, else prints
/// it and returns `None` (the test then returns without running).
pub fn require(tool: &str, found: Result<PathBuf, String>) -> Option<PathBuf> {
    match found {
        Ok(path) => Some(path),
        Err(why) if in_ci() => panic!(
            "{tool} is required under CI=true: {why}. Run scripts/setup-gateway-hosts first."
        ),
        Err(why) => {
            eprintln!(
                "SKIPPED: {tool} is not available ({why}); run scripts/setup-gateway-hosts to \
                 install it"
            );
            None
        }
    }
}

/// The `jco` of `tests/gateway-hosts/node_modules` (`WXCOUPON_JCO` overrides), checked to be
/// [`JCO_VERSION`] and runnable by the `node` on `PATH`.
pub fn find_jco() -> Result<PathBuf, String> {
    let jco = match std::env::var_os("WXCOUPON_JCO") {
        Some(path) => PathBuf::from(path),
        None => gateway_hosts_dir().join("node_modules/.bin/jco"),
    };
    if !jco.exists() {
        return Err(format!("{} does not exist (npm ci not run)", jco.display()));
    }
    let node = Command::new("node").arg("--version").output();
    match node {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Err(format!("node --version failed: {}", out.status)),
        Err(e) => return Err(format!("node is not on PATH: {e}")),
    }
    let out = Command::new(&jco)
        .arg("--version")
        .output()
        .map_err(|e| format!("{} --version: {e}", jco.display()))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if version != JCO_VERSION {
        return Err(format!(
            "{} is version {version:?}, expected {JCO_VERSION}",
            jco.display()
        ));
    }
    Ok(jco)
}

/// The `wasmtime` `scripts/install-wasmtime-cli` installs (`WXCOUPON_WASMTIME` overrides;
/// `WXCOUPON_TOOLS` moves the cache as for the script), checked to be [`WASMTIME_VERSION`].
/// This never starts the (ten-minute) install itself.
pub fn find_wasmtime() -> Result<PathBuf, String> {
    let wasmtime = match std::env::var_os("WXCOUPON_WASMTIME") {
        Some(path) => PathBuf::from(path),
        None => {
            let root = match std::env::var_os("WXCOUPON_TOOLS") {
                Some(root) => PathBuf::from(root),
                None => match std::env::var_os("HOME") {
                    Some(home) => PathBuf::from(home).join(".cache/wxcoupon/tools"),
                    None => return Err("neither WXCOUPON_TOOLS nor HOME is set".into()),
                },
            };
            root.join("bin/wasmtime")
        }
    };
    if !wasmtime.exists() {
        return Err(format!(
            "{} does not exist (scripts/install-wasmtime-cli not run)",
            wasmtime.display()
        ));
    }
    let out = Command::new(&wasmtime)
        .arg("--version")
        .output()
        .map_err(|e| format!("{} --version: {e}", wasmtime.display()))?;
    let version = String::from_utf8_lossy(&out.stdout).to_string();
    if !version.starts_with(&format!("wasmtime {WASMTIME_VERSION}")) {
        return Err(format!(
            "{} is {:?}, expected wasmtime {WASMTIME_VERSION}",
            wasmtime.display(),
            version.trim()
        ));
    }
    Ok(wasmtime)
}

/// A loopback port free at the time of asking (the listener is closed again: a child process
/// binds it next, so a start may still lose a race — [`HostProcess::start`] callers retry).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A fresh private directory under the system's temporary directory, removed by
/// [`HostProcess`]'s drop when it owns it.
pub fn temp_dir(label: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "wxcoupon-{label}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// A runtime serving the component as a child process in its own process group: the whole
/// group (jco's node spawns another node) is killed on drop, and its working directory
/// removed. Its output goes to files, shown when a test fails.
pub struct HostProcess {
    /// What it is, for messages (`jco serve`, `wasmtime serve`).
    pub label: String,
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl HostProcess {
    /// Starts `command` (already holding its arguments and environment) in a new process group,
    /// stdout and stderr to files in `dir`, then waits until `GET /healthz` answers (any
    /// status) on `addr`, at most `ready_within`. `Err` (with the output so far) when the child
    /// exits or never answers; the child is killed then.
    pub async fn start(
        label: &str,
        mut command: Command,
        addr: SocketAddr,
        dir: PathBuf,
        ready_within: Duration,
    ) -> Result<HostProcess, String> {
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let stdout = File::create(dir.join("stdout.log")).expect("stdout log");
        let stderr = File::create(dir.join("stderr.log")).expect("stderr log");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        let child = command
            .spawn()
            .map_err(|e| format!("{label}: cannot start: {e}"))?;
        let mut process = HostProcess {
            label: label.to_string(),
            addr,
            child,
            dir,
        };
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if let Ok(Some(status)) = process.child.try_wait() {
                return Err(format!(
                    "{label} exited ({status}) before it was ready:\n{}",
                    process.output()
                ));
            }
            if let Ok(Ok(answer)) = tokio::time::timeout(
                Duration::from_secs(5),
                try_request(addr, "GET", "/healthz", None),
            )
            .await
            {
                let _ = answer;
                eprintln!(
                    "{label} ready on {addr} after {} ms ({attempt} attempts)",
                    started.elapsed().as_millis()
                );
                return Ok(process);
            }
            if started.elapsed() > ready_within {
                return Err(format!(
                    "{label} did not answer on {addr} within {} s:\n{}",
                    ready_within.as_secs(),
                    process.output()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the child printed so far (stdout, then stderr).
    pub fn output(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!(
            "--- {} stdout ---\n{}--- {} stderr ---\n{}",
            self.label,
            read("stdout.log"),
            self.label,
            read("stderr.log")
        )
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The child's process id, which is also its process group's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Whether any live (not zombie) process of the group `pgid` remains: read from `/proc` on
/// Linux (a killed grandchild may wait a while for its reaper, which does not matter here),
/// `kill -0` elsewhere.
pub fn process_group_alive(pgid: u32) -> bool {
    if let Ok(entries) = std::fs::read_dir("/proc") {
        return entries.flatten().any(|entry| {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                return false;
            };
            // pid (comm) state ppid pgrp ...: comm may hold spaces, so read after the last ')'.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
        });
    }
    Command::new("kill")
        .args(["-0", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.output());
        }
        #[cfg(unix)]
        {
            // The whole group: `jco serve` runs the component in a second node process.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An answer of the gateway.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body, parsed (`Value::Null` when it is not JSON).
    pub json: Value,
    /// The body as text.
    pub text: String,
}

impl Answer {
    /// The error code of an error answer (`""` when none).
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }

    /// A string field of the body (`""` when absent).
    pub fn field(&self, name: &str) -> &str {
        self.json[name].as_str().unwrap_or("")
    }
}

/// One request on a fresh connection; `Err` when no answer came.
pub async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> Result<Answer, String> {
    try_request_with(addr, method, path, &[], body).await
}

/// [`try_request`] with extra request headers (a `host` among them replaces the default one,
/// the address).
pub async fn try_request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
) -> Result<Answer, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let mut request = hyper::Request::builder().method(method).uri(path);
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request = request.header("host", addr.to_string());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let bytes = match body {
        Some((content_type, bytes)) => {
            request = request.header("content-type", content_type);
            bytes
        }
        None => Vec::new(),
    };
    let request = request
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer {
        status,
        headers,
        json,
        text,
    })
}

/// One request that must be answered within 30 s, with a JSON body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> Answer {
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        try_request(addr, method, path, body),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer to {method} {path} on {addr} within 30 s"))
    .unwrap_or_else(|e| panic!("{method} {path} on {addr}: {e}"));
    assert!(
        !answer.json.is_null(),
        "{method} {path}: not JSON: {} {}",
        answer.status,
        answer.text
    );
    answer
}

/// `GET path`.
pub async fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, None).await
}

/// `POST /v1/coupons` with a JSON body.
pub async fn post_coupon(addr: SocketAddr, body: &Value) -> Answer {
    request(
        addr,
        "POST",
        "/v1/coupons",
        Some(("application/json", body.to_string().into_bytes())),
    )
    .await
}

/// Asserts the API's error shape: status, code, a message and `retryable`.
#[track_caller]
pub fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.code(), code, "{}", answer.text);
    assert!(answer.json["message"].is_string(), "{}", answer.text);
    assert!(answer.json["retryable"].is_boolean(), "{}", answer.text);
}
