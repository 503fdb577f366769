//! Subcommands, their arguments, and how results and errors are printed.
//!
//! Output is JSON on stdout. Errors are one line on stderr (`error: <field>: <rule>`) plus, for
//! errors the component reported, a JSON object `{"error": {...}}` on stdout so scripts can branch
//! on `kind`. Exit codes: 0 success, 1 WeChat Pay or the response refused, 2 bad input, 3 host
//! failure.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use wxcoupon::Runtime;
use wxcoupon_core as core;

/// The exit code for errors WeChat Pay (or its answer) caused.
pub const EXIT_REFUSED: u8 = 1;
/// The exit code for bad input.
pub const EXIT_INPUT: u8 = 2;
/// The exit code for failures of the host itself.
pub const EXIT_HOST: u8 = 3;

/// Issue WeChat Pay merchant coupons (代金券) through the wxcoupon WebAssembly component.
///
/// Every subcommand runs the component on wasmtime: `sign`, `build` and `parse` are its sans-IO
/// functions (you do the HTTP); `info` describes the component.
///
/// Merchant settings come from flags or WXPAY_* environment variables (prefer the environment for
/// the API key: flags are visible in the process list).
///
/// Exit codes: 0 success · 1 WeChat Pay or its answer refused the operation · 2 bad input ·
/// 3 host failure.
#[derive(Parser, Debug)]
#[command(name = "wxcoupon", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
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
        merchant: MerchantArgs,
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
        merchant: MerchantArgs,
        /// Which API the answer belongs to.
        #[arg(value_enum)]
        api: ApiArg,
        /// The HTTP status the answer came with.
        #[arg(long, default_value_t = 200)]
        status: u16,
        /// The file holding the body; stdin when absent.
        file: Option<PathBuf>,
    },
    /// Describe the component: where it is, its size, what it imports and exports.
    Info,
    /// Walk through the component's contract with the test merchant (offline).
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

/// Merchant settings shared by `build` and `parse`.
#[derive(Args, Debug)]
struct MerchantArgs {
    /// Official Account appid.
    #[arg(long, env = "WXPAY_APPID")]
    appid: String,
    /// Merchant id (商户号).
    #[arg(long, env = "WXPAY_MCH_ID")]
    mch_id: String,
    /// The 32-character APIv2 key.
    #[arg(long, env = "WXPAY_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Request signature digest.
    #[arg(long, value_enum, default_value = "md5", env = "WXPAY_SIGN_TYPE")]
    sign_type: SignTypeArg,
    /// A base URL instead of WeChat Pay's production host (a simulator, an egress proxy).
    #[arg(long, env = "WXPAY_BASE_URL", conflicts_with = "backup_host")]
    base_url: Option<String>,
    /// Use WeChat Pay's backup host (api2.mch.weixin.qq.com).
    #[arg(long)]
    backup_host: bool,
    /// Use the /sandboxnew simulation system (MD5 only; the key is the sandbox key).
    #[arg(long)]
    sandbox: bool,
    /// Refuse unsigned responses (real coupon responses are unsigned: off by default).
    #[arg(long)]
    require_signed_responses: bool,
}

impl MerchantArgs {
    fn merchant(&self) -> Result<core::Merchant, core::Error> {
        let api_key = core::ApiKey::new(self.api_key.clone())
            .map_err(|_| core::Error::invalid("merchant.api_key", "required"))?;
        Ok(core::Merchant {
            appid: self.appid.clone(),
            mch_id: self.mch_id.clone(),
            api_key,
            sign_type: self.sign_type.into(),
            host: match (&self.base_url, self.backup_host) {
                (Some(url), _) => core::ApiHost::Custom(url.clone()),
                (None, true) => core::ApiHost::Backup,
                (None, false) => core::ApiHost::Production,
            },
            sandbox: self.sandbox,
            signature_policy: if self.require_signed_responses {
                core::SignaturePolicy::Require
            } else {
                core::SignaturePolicy::VerifyIfPresent
            },
        })
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
    /// The host could not do its part.
    Host(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Host(e)
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
        Err(Failure::Host(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_HOST)
        }
    }
}

async fn execute(command: Command) -> Result<String, Failure> {
    let runtime = Runtime::new()?;
    if let Command::Demo = command {
        crate::demo::run(&runtime).await?;
        return Ok(String::new());
    }
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
            merchant,
            api,
            request,
            nonce,
            json,
        } => {
            let merchant = merchant.merchant()?;
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
            merchant,
            api,
            status,
            file,
        } => {
            let merchant = merchant.merchant()?;
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
        Command::Demo => unreachable!("handled above"),
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
