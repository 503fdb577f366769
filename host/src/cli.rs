//! Subcommands, their arguments, and how results and errors are printed.
//!
//! Output is JSON on stdout. Errors are one line on stderr (`error: <field>: <rule>`) plus, for
//! errors the component reported, a JSON object `{"error": {...}}` on stdout so scripts can branch
//! on `kind`. Exit codes: 0 success, 1 WeChat Pay or the response refused, 2 bad input, 3 host
//! failure, 4 an unknown outcome (`send`: the coupon may have been issued; the JSON carries
//! `"outcome_unknown": true` and the `partner_trade_no` to retry with).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use wxcoupon::config::{wxpay_env_vars, ConfigErrors, ConfigOverrides, HostConfig};
use wxcoupon::outbound::OutboundClient;
use wxcoupon::Runtime;
use wxcoupon_core as core;

/// The exit code for errors WeChat Pay (or its answer) caused.
pub const EXIT_REFUSED: u8 = 1;
/// The exit code for bad input.
pub const EXIT_INPUT: u8 = 2;
/// The exit code for failures of the host itself.
pub const EXIT_HOST: u8 = 3;
/// The exit code for an unknown outcome: the coupon may have been issued (the core's
/// `Error::outcome_unknown`). Retry with the same `--partner-trade-no`.
pub const EXIT_OUTCOME_UNKNOWN: u8 = 4;

/// Issue WeChat Pay merchant coupons (代金券) through the wxcoupon WebAssembly component.
///
/// Every subcommand runs the component on wasmtime. `send`, `stock` and `coupon` call WeChat Pay
/// (or any compatible endpoint, such as the simulator) through the component's client; the host
/// presents the merchant's client certificate toward the configured WeChat host only and refuses
/// every other host. `sign`, `build` and `parse` are the sans-IO functions (you do the HTTP).
/// `demo` runs everything against an in-process simulator.
///
/// Settings come from a --config TOML file, WXPAY_* environment variables and flags (each
/// overriding the one before); every missing or invalid item is reported before anything is sent.
/// Prefer the environment or the file for the API key: flags are visible in the process list.
///
/// Exit codes: 0 success · 1 WeChat Pay or its answer refused the operation · 2 bad input ·
/// 3 host failure · 4 unknown outcome: the coupon may have been issued (retry `send` with the
/// same --partner-trade-no).
// No `Debug` here nor on the structs below that hold the API key or the .p12 password: a
// derived one would print them (`cli/tests.rs` checks).
#[derive(Parser)]
#[command(name = "wxcoupon", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign fields with the v2 rule and print `{"sign": …}`.
    ///
    /// Fields as NAME=VALUE arguments, or, without any, a JSON object of string values on stdin.
    ///
    /// Example: wxcoupon sign --api-key "$KEY" appid=wx5edab3bdfba3dc1c mch_id=10000098 nonce_str=abc
    Sign {
        /// The API key (or WXPAY_API_KEY).
        #[arg(long, env = "WXPAY_API_KEY", hide_env_values = true)]
        api_key: String,
        /// The digest.
        #[arg(long, value_enum, default_value = "md5", env = "WXPAY_SIGN_TYPE")]
        sign_type: SignTypeArg,
        /// Fields as NAME=VALUE.
        fields: Vec<String>,
    },
    /// Build the signed HTTP request for an API call and print it as JSON.
    ///
    /// Request fields as flags, or with --json a request object on stdin, e.g.
    /// {"api":"send_coupon","coupon_stock_id":"1757","openid":"o…","partner_trade_no":"…"}.
    Build {
        #[command(flatten)]
        config: ConfigArgs,
        /// Which API (ignored with --json, where the object's "api" says it).
        #[arg(value_enum, required_unless_present = "json")]
        api: Option<ApiArg>,
        #[command(flatten)]
        request: RequestArgs,
        /// The nonce_str to use (1–32 letters or digits); default: random from wasi:random.
        #[arg(long)]
        nonce: Option<String>,
        /// Read the request as JSON from stdin.
        #[arg(long)]
        json: bool,
    },
    /// Parse WeChat Pay's answer to an API call (XML from FILE or stdin) and print it as JSON.
    Parse {
        #[command(flatten)]
        config: ConfigArgs,
        /// Which API the answer belongs to.
        #[arg(value_enum)]
        api: ApiArg,
        /// The HTTP status the answer came with.
        #[arg(long, default_value_t = 200)]
        status: u16,
        /// The file holding the body; stdin when absent.
        file: Option<PathBuf>,
    },
    /// Issue one coupon (send_coupon, with the client certificate) through the component.
    Send {
        #[command(flatten)]
        config: ConfigArgs,
        /// The stock (批次) to issue from.
        #[arg(long)]
        stock_id: String,
        /// The user's openid.
        #[arg(long)]
        openid: String,
        /// Your unique number for this issuance (store it first; reuse it to retry safely).
        #[arg(long)]
        partner_trade_no: String,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Show a stock's state (query_coupon_stock) through the component.
    Stock {
        #[command(flatten)]
        config: ConfigArgs,
        /// The stock id.
        #[arg(long)]
        stock_id: String,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Look a coupon up (querycouponsinfo) through the component.
    Coupon {
        #[command(flatten)]
        config: ConfigArgs,
        /// The coupon id.
        #[arg(long)]
        coupon_id: String,
        /// Its owner's openid.
        #[arg(long)]
        openid: String,
        /// Its stock id.
        #[arg(long)]
        stock_id: String,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Serve the component's JSON coupon API (gateway mode) over HTTP: a fresh instance per
    /// request, outbound calls through the mutual-TLS client, until SIGINT/SIGTERM.
    ///
    /// Routes: POST /v1/coupons, GET /v1/stocks/{id}, GET /v1/coupons/{id}?openid=&stock_id=,
    /// GET /healthz. Access log lines go to stderr (no secrets, no query strings).
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Most requests served at once; more wait briefly, then get 503.
        #[arg(long, default_value_t = 64)]
        max_concurrency: u32,
        /// A caller of /v1/*: NAME:SHA256HEX, the hex SHA-256 of its bearer token (`printf %s
        /// "$TOKEN" | sha256sum`); repeat it, or give a comma-separated list. Required on an
        /// address other than loopback [WXPAY_GATEWAY_TOKENS].
        #[arg(
            long = "caller-token",
            env = "WXPAY_GATEWAY_TOKENS",
            value_delimiter = ','
        )]
        caller_tokens: Vec<String>,
        /// A Host name to answer to besides localhost, 127.0.0.1, [::1] and the listen
        /// address (others get 421 on loopback: DNS rebinding); repeat it.
        #[arg(long = "host-name", value_name = "HOST[:PORT]")]
        host_names: Vec<String>,
        /// The host's deadline per request, in ms; must exceed the component's connect +
        /// first-byte + between-bytes timeouts.
        #[arg(long, default_value_t = 30_000)]
        request_timeout_ms: u64,
    },
    /// Run the egress proxy: plain HTTP on loopback → WeChat Pay with the merchant's client
    /// certificate, for hosts whose wasi:http cannot present one (Spin, wasmtime serve, jco
    /// serve). Settings also from WXPAY_EGRESS_LISTEN, WXPAY_EGRESS_UPSTREAM and the certificate
    /// variables; the proxy never needs the API key. See docs/gateway.md.
    Egress {
        /// Address to listen on (loopback unless --allow-non-loopback) [WXPAY_EGRESS_LISTEN].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// WeChat Pay's base URL (default production) [WXPAY_EGRESS_UPSTREAM].
        #[arg(long)]
        upstream: Option<String>,
        /// Allow a non-loopback listen address [WXPAY_EGRESS_ALLOW_NON_LOOPBACK].
        #[arg(long)]
        allow_non_loopback: bool,
        #[command(flatten)]
        identity: IdentityArgs,
        /// Merchant id (the .p12 password's default) [WXPAY_MCH_ID].
        #[arg(long)]
        mch_id: Option<String>,
    },
    /// Issue a stock to a list of users: plan the list into a journal, run it at a set rate,
    /// resume after any crash, never twice to anyone. See `wxcoupon campaign --help`.
    Campaign {
        #[command(subcommand)]
        action: campaign::CampaignCommand,
    },
    /// Describe the component: where it is, its size, what it imports and exports.
    Info,
    /// The main job: start the WeChat Pay simulator in-process and, through the component, issue
    /// coupons, query the stock and a coupon, and show a summary.
    #[cfg(feature = "demo")]
    Demo,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum SignTypeArg {
    #[value(name = "md5", alias = "MD5")]
    Md5,
    #[value(name = "hmac-sha256", alias = "HMAC-SHA256")]
    HmacSha256,
}

impl From<SignTypeArg> for core::SignType {
    fn from(a: SignTypeArg) -> Self {
        match a {
            SignTypeArg::Md5 => core::SignType::Md5,
            SignTypeArg::HmacSha256 => core::SignType::HmacSha256,
        }
    }
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum ApiArg {
    /// send_coupon: issue a coupon (needs the client certificate).
    #[value(name = "send", alias = "send_coupon")]
    Send,
    /// query_coupon_stock: a stock's state.
    #[value(name = "stock", alias = "query_coupon_stock")]
    Stock,
    /// querycouponsinfo: one coupon.
    #[value(name = "coupon", alias = "querycouponsinfo")]
    Coupon,
}

impl From<ApiArg> for core::Api {
    fn from(a: ApiArg) -> Self {
        match a {
            ApiArg::Send => core::Api::SendCoupon,
            ApiArg::Stock => core::Api::QueryCouponStock,
            ApiArg::Coupon => core::Api::QueryCouponsInfo,
        }
    }
}

/// The merchant's client certificate and the CAs to trust: shared by the commands that reach
/// WeChat Pay (`send`, `stock`, `coupon`, `serve`) and by `egress`.
#[derive(Args, Default)]
struct IdentityArgs {
    /// Client certificate, PEM [WXPAY_CERT_FILE] (with --key-file).
    #[arg(long, value_name = "FILE")]
    cert_file: Option<PathBuf>,
    /// Client private key, PEM [WXPAY_KEY_FILE].
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Client certificate as apiclient_cert.p12 [WXPAY_P12_FILE].
    #[arg(long, value_name = "FILE")]
    p12_file: Option<PathBuf>,
    /// The .p12 password; default: the mch_id [WXPAY_P12_PASSWORD].
    #[arg(long)]
    p12_password: Option<String>,
    /// Extra CA certificates (PEM) to trust besides the system roots [WXPAY_CA_FILE].
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

/// Merchant settings and connection options: flags override `WXPAY_*` variables, which override
/// the `--config` file.
#[derive(Args, Default)]
struct ConfigArgs {
    /// TOML configuration file (keys as in the README); WXPAY_* variables and flags override it.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Official Account appid [WXPAY_APPID].
    #[arg(long)]
    appid: Option<String>,
    /// Merchant id (商户号) [WXPAY_MCH_ID].
    #[arg(long)]
    mch_id: Option<String>,
    /// The 32-character APIv2 key [WXPAY_API_KEY] (prefer the variable: flags show in `ps`).
    #[arg(long)]
    api_key: Option<String>,
    /// Request signature digest [WXPAY_SIGN_TYPE].
    #[arg(long, value_enum)]
    sign_type: Option<SignTypeArg>,
    /// A base URL instead of WeChat Pay's host: a simulator, an egress proxy [WXPAY_BASE_URL].
    #[arg(long)]
    base_url: Option<String>,
    /// Use WeChat Pay's backup host (api2.mch.weixin.qq.com).
    #[arg(long)]
    backup_host: bool,
    /// Use the /sandboxnew simulation system (MD5 only) [WXPAY_SANDBOX].
    #[arg(long)]
    sandbox: bool,
    /// Refuse unsigned answers (real coupon answers are unsigned: off by default).
    #[arg(long)]
    require_signed_responses: bool,
    #[command(flatten)]
    identity: IdentityArgs,
    /// Connect timeout [WXPAY_CONNECT_TIMEOUT_MS].
    #[arg(long, value_name = "MS")]
    connect_timeout_ms: Option<u64>,
    /// First-byte timeout [WXPAY_FIRST_BYTE_TIMEOUT_MS].
    #[arg(long, value_name = "MS")]
    first_byte_timeout_ms: Option<u64>,
    /// Between-bytes timeout [WXPAY_BETWEEN_BYTES_TIMEOUT_MS].
    #[arg(long, value_name = "MS")]
    between_bytes_timeout_ms: Option<u64>,
    /// Largest answer accepted [WXPAY_MAX_RESPONSE_BYTES].
    #[arg(long, value_name = "BYTES")]
    max_response_bytes: Option<u64>,
    /// Another host requests may reach (without the client certificate); repeatable.
    #[arg(long = "allow-host", value_name = "HOST[:PORT]")]
    allowed_hosts: Vec<String>,
}

impl ConfigArgs {
    /// Reads the file, the environment and the flags; every problem is reported at once.
    fn load(&self) -> Result<HostConfig, Failure> {
        let overrides = ConfigOverrides {
            appid: self.appid.clone(),
            mch_id: self.mch_id.clone(),
            api_key: self.api_key.clone(),
            sign_type: self.sign_type.map(Into::into),
            base_url: self.base_url.clone(),
            backup_host: self.backup_host.then_some(true),
            sandbox: self.sandbox.then_some(true),
            require_signed_responses: self.require_signed_responses.then_some(true),
            cert_file: self.identity.cert_file.clone(),
            key_file: self.identity.key_file.clone(),
            p12_file: self.identity.p12_file.clone(),
            p12_password: self.identity.p12_password.clone(),
            ca_file: self.identity.ca_file.clone(),
            connect_timeout_ms: self.connect_timeout_ms,
            first_byte_timeout_ms: self.first_byte_timeout_ms,
            between_bytes_timeout_ms: self.between_bytes_timeout_ms,
            max_response_bytes: self.max_response_bytes,
            allowed_hosts: self.allowed_hosts.clone(),
        };
        HostConfig::load(self.config.as_deref(), wxpay_env_vars(), &overrides)
            .map_err(Failure::Config)
    }
}

/// Request fields for `build`; which are needed depends on the API.
#[derive(Args, Debug)]
struct RequestArgs {
    /// The stock (批次) id (send, stock, coupon).
    #[arg(long)]
    stock_id: Option<String>,
    /// The user's openid (send, coupon).
    #[arg(long)]
    openid: Option<String>,
    /// The merchant's unique number for this issuance (send).
    #[arg(long)]
    partner_trade_no: Option<String>,
    /// The coupon id (coupon).
    #[arg(long)]
    coupon_id: Option<String>,
    /// op_user_id (defaults to the mch_id at WeChat).
    #[arg(long)]
    op_user_id: Option<String>,
    /// device_info.
    #[arg(long)]
    device_info: Option<String>,
    /// version (e.g. 1.0).
    #[arg(long)]
    version: Option<String>,
    /// The wire field `type` (only XML).
    #[arg(long = "type")]
    message_type: Option<String>,
}

impl RequestArgs {
    /// The request; missing fields become empty strings, which the component reports by name.
    fn request(&self, api: core::Api) -> core::CouponRequest {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let options = core::CommonOptions {
            op_user_id: self.op_user_id.clone(),
            device_info: self.device_info.clone(),
            version: self.version.clone(),
            message_type: self.message_type.clone(),
        };
        match api {
            core::Api::SendCoupon => core::CouponRequest::SendCoupon(core::SendCouponRequest {
                coupon_stock_id: text(&self.stock_id),
                openid: text(&self.openid),
                partner_trade_no: text(&self.partner_trade_no),
                options,
            }),
            core::Api::QueryCouponStock => {
                core::CouponRequest::QueryCouponStock(core::QueryCouponStockRequest {
                    coupon_stock_id: text(&self.stock_id),
                    options,
                })
            }
            core::Api::QueryCouponsInfo => {
                core::CouponRequest::QueryCouponsInfo(core::QueryCouponsInfoRequest {
                    coupon_id: text(&self.coupon_id),
                    openid: text(&self.openid),
                    stock_id: text(&self.stock_id),
                    options,
                })
            }
        }
    }
}

/// How a subcommand failed.
enum Failure {
    /// The component (or WeChat's answer) reported an error.
    Component(core::Error),
    /// `send` failed after the request may have left: the coupon may have been issued.
    OutcomeUnknown {
        error: Box<core::Error>,
        partner_trade_no: String,
    },
    /// The configuration is incomplete or invalid (every problem listed).
    Config(ConfigErrors),
    /// A campaign run ended short of done: what to print on stdout, the reason, the exit code.
    Campaign(String, String, u8),
    /// The host could not do its part.
    Host(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Host(e)
    }
}

impl From<wxcoupon::HostError> for Failure {
    fn from(e: wxcoupon::HostError) -> Self {
        Failure::Host(e.into())
    }
}

impl From<core::Error> for Failure {
    fn from(e: core::Error) -> Self {
        Failure::Component(e)
    }
}

/// Runs one subcommand and reports its outcome.
pub async fn run(cli: Cli) -> ExitCode {
    match execute(cli.command).await {
        Ok(json) => {
            if !json.is_empty() {
                println!("{json}");
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Component(e)) => {
            eprintln!("error: {e}");
            println!("{}", serde_json::json!({ "error": e }));
            ExitCode::from(match e {
                core::Error::InvalidInput(_) => EXIT_INPUT,
                _ => EXIT_REFUSED,
            })
        }
        Err(Failure::OutcomeUnknown {
            error,
            partner_trade_no,
        }) => {
            eprintln!(
                "error: {error}\n{} (partner_trade_no {partner_trade_no})",
                core::OUTCOME_UNKNOWN_ADVICE
            );
            println!(
                "{}",
                serde_json::json!({
                    "error": error,
                    "outcome_unknown": true,
                    "partner_trade_no": partner_trade_no,
                    "advice": core::OUTCOME_UNKNOWN_ADVICE,
                })
            );
            ExitCode::from(EXIT_OUTCOME_UNKNOWN)
        }
        Err(Failure::Campaign(out, why, code)) => {
            if !out.is_empty() {
                println!("{out}");
            }
            eprintln!("error: {why}");
            ExitCode::from(code)
        }
        Err(Failure::Config(e)) => {
            eprintln!("error: the configuration is incomplete or invalid:\n{e}");
            let problems: Vec<_> =
                e.0.iter()
                    .map(|f| serde_json::json!({"field": f.field, "rule": f.rule}))
                    .collect();
            println!(
                "{}",
                serde_json::json!({ "error": { "kind": "invalid-config", "problems": problems } })
            );
            ExitCode::from(EXIT_INPUT)
        }
        Err(Failure::Host(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_HOST)
        }
    }
}

async fn execute(command: Command) -> Result<String, Failure> {
    if let Command::Egress { .. } = command {
        // The proxy does not run the component.
        return egress(command).await;
    }
    // Compiling the component is the expensive step, done once per process: by `Runtime` for
    // the commands that call it, by `serve::Server::bind` (with its own engine settings) for
    // `serve`, which never needs the other.
    match command {
        #[cfg(feature = "demo")]
        Command::Demo => {
            crate::demo::run(&Runtime::new()?).await?;
            Ok(String::new())
        }
        Command::Campaign { action } => campaign::execute(&Runtime::new()?, action).await,
        Command::Serve {
            config,
            listen,
            max_concurrency,
            caller_tokens,
            host_names,
            request_timeout_ms,
        } => {
            let host = config.load()?;
            let mut serve = wxcoupon::serve::ServeConfig::from_host_config(&host, listen)?;
            serve.max_concurrency = max_concurrency;
            serve.callers =
                wxcoupon_api::CallerTokens::parse(&caller_tokens.join(",")).map_err(|rule| {
                    Failure::Config(ConfigErrors(vec![core::FieldError::new(
                        wxcoupon_api::callers::TOKENS_SETTING,
                        rule,
                    )]))
                })?;
            serve.host_names = host_names;
            serve.request_timeout = std::time::Duration::from_millis(request_timeout_ms);
            init_logging();
            let server = wxcoupon::serve::Server::bind(serve).await?;
            // After the bind, so the port is real even for --listen 127.0.0.1:0.
            println!(
                "{}",
                serde_json::json!({
                    "event": "ready",
                    "listen": server.local_addr().to_string(),
                    "url": format!("http://{}", server.local_addr()),
                })
            );
            let stats = server.run_until(wxcoupon::serve::shutdown_signal()).await?;
            tracing::info!(
                requests = stats.requests,
                overloaded = stats.overloaded,
                failed = stats.failed,
                "wxcoupon gateway stopped"
            );
            Ok(String::new())
        }
        command => execute_call(&Runtime::new()?, command).await,
    }
}

/// `wxcoupon egress`: flags become their WXPAY_* variables, after the environment's (later wins).
async fn egress(command: Command) -> Result<String, Failure> {
    let Command::Egress {
        listen,
        upstream,
        allow_non_loopback,
        identity,
        mch_id,
    } = command
    else {
        unreachable!("called for Egress only")
    };
    let mut vars = wxpay_env_vars();
    let path = |p: Option<PathBuf>| p.map(|p| p.display().to_string());
    for (name, value) in [
        ("WXPAY_EGRESS_LISTEN", listen.map(|a| a.to_string())),
        ("WXPAY_EGRESS_UPSTREAM", upstream),
        (
            "WXPAY_EGRESS_ALLOW_NON_LOOPBACK",
            allow_non_loopback.then(|| "true".to_string()),
        ),
        ("WXPAY_CERT_FILE", path(identity.cert_file)),
        ("WXPAY_KEY_FILE", path(identity.key_file)),
        ("WXPAY_P12_FILE", path(identity.p12_file)),
        ("WXPAY_P12_PASSWORD", identity.p12_password),
        ("WXPAY_MCH_ID", mch_id),
        ("WXPAY_CA_FILE", path(identity.ca_file)),
    ] {
        if let Some(value) = value {
            vars.push((name.to_string(), value));
        }
    }
    let config = wxcoupon::egress::EgressConfig::from_vars(vars).map_err(Failure::Config)?;
    init_logging();
    wxcoupon::egress::run(config).await?;
    Ok(String::new())
}

/// Access and outbound logs on stderr; `RUST_LOG` refines them.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn execute_call(runtime: &Runtime, command: Command) -> Result<String, Failure> {
    let mut session = runtime.session().await?;
    let json = match command {
        Command::Sign {
            api_key,
            sign_type,
            fields,
        } => {
            let fields = if fields.is_empty() {
                fields_from_json(&read_stdin()?)?
            } else {
                fields_from_args(&fields)?
            };
            let sign = session.sign(&fields, &api_key, sign_type.into()).await??;
            to_json(&serde_json::json!({ "sign": sign }))
        }
        Command::Build {
            config,
            api,
            request,
            nonce,
            json,
        } => {
            let merchant = config.load()?.merchant();
            let request = if json {
                serde_json::from_slice::<core::CouponRequest>(&read_stdin()?).map_err(|e| {
                    core::Error::invalid("stdin", format!("must be a request object: {e}"))
                })?
            } else {
                let api = api.ok_or_else(|| core::Error::invalid("api", "required"))?;
                request.request(api.into())
            };
            let http = session
                .build_request(&merchant, &request, nonce.as_deref())
                .await??;
            to_json(&HttpRequestView::from(http))
        }
        Command::Parse {
            config,
            api,
            status,
            file,
        } => {
            let merchant = config.load()?.merchant();
            let body = match file {
                Some(path) => std::fs::read(&path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
                None => read_stdin()?,
            };
            let response = session
                .parse_response(&merchant, api.into(), status, &body)
                .await??;
            to_json(&response)
        }
        #[cfg(feature = "demo")]
        Command::Demo => unreachable!("handled by execute"),
        Command::Serve { .. } | Command::Egress { .. } | Command::Campaign { .. } => {
            unreachable!("handled by execute")
        }
        Command::Send {
            config,
            stock_id,
            openid,
            partner_trade_no,
            json,
        } => {
            let (config, mut session) = client_session(runtime, &config).await?;
            let request = core::SendCouponRequest {
                coupon_stock_id: stock_id,
                openid,
                partner_trade_no,
                options: Default::default(),
            };
            let sent = session
                .send_coupon(&config.merchant(), &request, &call_options(&config))
                .await?
                .map_err(|error| match error.outcome_unknown(core::Api::SendCoupon) {
                    true => Failure::OutcomeUnknown {
                        error: Box::new(error),
                        partner_trade_no: request.partner_trade_no.clone(),
                    },
                    false => Failure::Component(error),
                })?;
            if json {
                to_json(&sent)
            } else {
                format!(
                    "issued coupon {} of stock {} to {} (partner_trade_no {})",
                    sent.coupon_id, sent.coupon_stock_id, sent.openid, request.partner_trade_no
                )
            }
        }
        Command::Stock {
            config,
            stock_id,
            json,
        } => {
            let (config, mut session) = client_session(runtime, &config).await?;
            let request = core::QueryCouponStockRequest {
                coupon_stock_id: stock_id,
                options: Default::default(),
            };
            let stock = session
                .query_coupon_stock(&config.merchant(), &request, &call_options(&config))
                .await??;
            if json {
                to_json(&stock)
            } else {
                crate::describe::describe_stock(&stock)
            }
        }
        Command::Coupon {
            config,
            coupon_id,
            openid,
            stock_id,
            json,
        } => {
            let (config, mut session) = client_session(runtime, &config).await?;
            let request = core::QueryCouponsInfoRequest {
                coupon_id,
                openid,
                stock_id,
                options: Default::default(),
            };
            let coupon = session
                .query_coupons_info(&config.merchant(), &request, &call_options(&config))
                .await??;
            if json {
                to_json(&coupon)
            } else {
                crate::describe::describe_coupon(&coupon)
            }
        }
        Command::Info => {
            let description = runtime.describe();
            to_json(&serde_json::json!({
                "path": wxcoupon::COMPONENT_PATH,
                "size_bytes": wxcoupon::COMPONENT_BYTES.len(),
                "imports": description.imports,
                "exports": description.exports,
            }))
        }
    };
    Ok(json)
}

/// Loads the configuration and opens a session whose outbound requests go through the
/// mutual-TLS client (certificate toward the configured WeChat host only).
async fn client_session(
    runtime: &Runtime,
    args: &ConfigArgs,
) -> Result<(HostConfig, wxcoupon::Session), Failure> {
    let config = args.load()?;
    let outbound = OutboundClient::new(config.outbound())
        .map_err(|e| anyhow::anyhow!("cannot set up the HTTPS client: {e}"))?;
    let runtime = runtime
        .clone()
        .with_hooks(std::sync::Arc::new(move || Box::new(outbound.hooks())));
    let session = runtime.session().await?;
    Ok((config, session))
}

/// The configured timeouts and size cap, for the component's client.
fn call_options(config: &HostConfig) -> wxcoupon::CallOptions {
    let ms = |d: std::time::Duration| u32::try_from(d.as_millis()).ok();
    wxcoupon::CallOptions {
        connect_timeout_ms: ms(config.timeouts.connect),
        first_byte_timeout_ms: ms(config.timeouts.first_byte),
        between_bytes_timeout_ms: ms(config.timeouts.between_bytes),
        max_response_bytes: u32::try_from(config.max_response_bytes).ok(),
        nonce: None,
    }
}

/// An HTTP request as JSON, with the XML body as text.
#[derive(Serialize)]
struct HttpRequestView {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
    needs_client_certificate: bool,
}

impl From<core::HttpRequest> for HttpRequestView {
    fn from(r: core::HttpRequest) -> Self {
        HttpRequestView {
            method: r.method,
            url: r.url,
            headers: r.headers,
            body: String::from_utf8_lossy(&r.body).into_owned(),
            needs_client_certificate: r.needs_client_certificate,
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("our output types serialise")
}

fn read_stdin() -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| anyhow::anyhow!("cannot read stdin: {e}"))?;
    Ok(buf)
}

fn fields_from_args(args: &[String]) -> Result<Vec<(String, String)>, Failure> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some((name, value)) => Ok((name.to_string(), value.to_string())),
            None => Err(core::Error::invalid(arg.clone(), "must be written NAME=VALUE").into()),
        })
        .collect()
}

fn fields_from_json(bytes: &[u8]) -> Result<Vec<(String, String)>, Failure> {
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(bytes).map_err(|e| {
            core::Error::invalid("stdin", format!("must be a JSON object of strings: {e}"))
        })?;
    Ok(map.into_iter().collect())
}

mod campaign;
#[cfg(test)]
mod tests;
