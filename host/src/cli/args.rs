//! The command line as clap reads it: the subcommands, their flags, and how flags become the
//! host's settings and the core's requests (parsing only: nothing here runs or prints).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wxcoupon::config::{wxpay_env_vars, ConfigOverrides, HostConfig};
use wxcoupon_core as core;

use super::campaign;
use super::Failure;

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
    pub(crate) command: Command,
}

// Parsed once per process: the size of the largest variant (`stock create`'s flags) costs
// nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Call any export of the component by name, with JSON values (the conformance suite's
    /// form, `conformance/README.md`): one `{"function": "v3.build-query-stock", "args": […]}`
    /// per line on stdin, one `{"ok": …}` / `{"error": …}` per line on stdout, all in one
    /// instance (a `borrow<merchant>` argument is its settings object, opened once).
    Call {
        /// A base URL the component's own HTTP client may reach (a simulator's); repeat it.
        /// Everything else is refused.
        #[arg(long = "allow-url")]
        allow_urls: Vec<String>,
        /// PEM CA certificates to trust besides the system's.
        #[arg(long)]
        ca_file: Option<PathBuf>,
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
        /// Your unique number for this issuance (store it first; reuse it to retry safely); v3
        /// calls it out_request_no (at most 128 letters, digits and | _ * -).
        #[arg(long, visible_alias = "out-request-no")]
        partner_trade_no: String,
        /// v3: the merchant that created the stock (default: this merchant).
        #[arg(long)]
        stock_creator_mchid: Option<String>,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Show a stock's state (v2 query_coupon_stock, v3 GET …/stocks/{id}) through the component;
    /// with a subcommand, the v3 stock programme (create, start, pause, restart, stop, list,
    /// merchants, items, use-flow, refund-flow).
    #[command(args_conflicts_with_subcommands = true)]
    Stock {
        #[command(subcommand)]
        action: Option<super::v3_programme::StockCommand>,
        #[command(flatten)]
        config: ConfigArgs,
        /// The stock id.
        #[arg(long)]
        stock_id: Option<String>,
        /// v3: the merchant that created the stock (default: this merchant).
        #[arg(long)]
        stock_creator_mchid: Option<String>,
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
        /// Its stock id (v2 only).
        #[arg(long)]
        stock_id: Option<String>,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// API v3: a user's coupons (`coupons list`).
    Coupons {
        #[command(subcommand)]
        action: super::v3_programme::CouponsCommand,
    },
    /// API v3: where COUPON.USE callbacks go (`callbacks get`, `callbacks set`).
    Callbacks {
        #[command(subcommand)]
        action: super::v3_programme::CallbacksCommand,
    },
    /// API v3: verify and decrypt a captured COUPON.USE callback (`notification verify FILE`).
    Notification {
        #[command(subcommand)]
        action: super::v3_programme::NotificationCommand,
    },
    /// API v3: download the WeChat Pay platform certificates, verify and decrypt them, keep
    /// them in platform_cert_dir, and show their serials and validity.
    Certificates {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Serve the component's JSON coupon API (gateway mode) over HTTP: a fresh instance per
    /// request, outbound calls through the mutual-TLS client, until SIGINT/SIGTERM.
    ///
    /// Routes: POST /v1/coupons, GET /v1/stocks/{id}, GET /v1/coupons/{id}?openid=&stock_id=,
    /// POST /v1/notifications/wechatpay (with --notify-forward-url), GET /healthz. Access log lines go to stderr (no secrets, no query strings).
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Most requests served at once; more wait briefly, then get 503.
        #[arg(long, default_value_t = 64)]
        max_concurrency: u32,
        /// Requests one instance serves, one after another, before it is dropped (1: a fresh
        /// instance per request, so requests share no guest memory).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        instance_reuse: u32,
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
        /// Serve POST /v1/notifications/wechatpay: verified COUPON.USE events go here as JSON
        /// (each once; needs the v3 settings: APIv3 key, public key or platform certificates)
        /// [WXPAY_NOTIFY_FORWARD_URL].
        #[arg(long, env = "WXPAY_NOTIFY_FORWARD_URL")]
        notify_forward_url: Option<String>,
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
pub(crate) enum SignTypeArg {
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
pub(crate) enum ApiArg {
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
pub(crate) struct IdentityArgs {
    /// Client certificate, PEM [WXPAY_CERT_FILE] (with --key-file).
    #[arg(long, value_name = "FILE")]
    pub(crate) cert_file: Option<PathBuf>,
    /// Client private key, PEM [WXPAY_KEY_FILE].
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// Client certificate as apiclient_cert.p12 [WXPAY_P12_FILE].
    #[arg(long, value_name = "FILE")]
    pub(crate) p12_file: Option<PathBuf>,
    /// The .p12 password; default: the mch_id [WXPAY_P12_PASSWORD].
    #[arg(long)]
    pub(crate) p12_password: Option<String>,
    /// Extra CA certificates (PEM) to trust besides the system roots [WXPAY_CA_FILE].
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
}

/// Merchant settings and connection options: flags override `WXPAY_*` variables, which override
/// the `--config` file.
#[derive(Args, Default)]
pub(crate) struct ConfigArgs {
    /// TOML configuration file (keys as in the README); WXPAY_* variables and flags override it.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Official Account appid [WXPAY_APPID].
    #[arg(long)]
    pub(crate) appid: Option<String>,
    /// Merchant id (商户号) [WXPAY_MCH_ID].
    #[arg(long)]
    pub(crate) mch_id: Option<String>,
    /// The 32-character APIv2 key [WXPAY_API_KEY] (prefer the variable: flags show in `ps`).
    #[arg(long)]
    pub(crate) api_key: Option<String>,
    /// Request signature digest [WXPAY_SIGN_TYPE].
    #[arg(long, value_enum)]
    pub(crate) sign_type: Option<SignTypeArg>,
    /// A base URL instead of WeChat Pay's host: a simulator, an egress proxy [WXPAY_BASE_URL].
    #[arg(long)]
    pub(crate) base_url: Option<String>,
    /// Use WeChat Pay's backup host (api2.mch.weixin.qq.com).
    #[arg(long)]
    pub(crate) backup_host: bool,
    /// Use the /sandboxnew simulation system (MD5 only) [WXPAY_SANDBOX].
    #[arg(long)]
    pub(crate) sandbox: bool,
    /// Refuse unsigned answers (real coupon answers are unsigned: off by default).
    #[arg(long)]
    pub(crate) require_signed_responses: bool,
    #[command(flatten)]
    pub(crate) identity: IdentityArgs,
    /// Connect timeout [WXPAY_CONNECT_TIMEOUT_MS].
    #[arg(long, value_name = "MS")]
    pub(crate) connect_timeout_ms: Option<u64>,
    /// First-byte timeout [WXPAY_FIRST_BYTE_TIMEOUT_MS].
    #[arg(long, value_name = "MS")]
    pub(crate) first_byte_timeout_ms: Option<u64>,
    /// Between-bytes timeout [WXPAY_BETWEEN_BYTES_TIMEOUT_MS].
    #[arg(long, value_name = "MS")]
    pub(crate) between_bytes_timeout_ms: Option<u64>,
    /// Largest answer accepted [WXPAY_MAX_RESPONSE_BYTES].
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_response_bytes: Option<u64>,
    /// Another host requests may reach (without the client certificate); repeatable.
    #[arg(long = "allow-host", value_name = "HOST[:PORT]")]
    pub(crate) allowed_hosts: Vec<String>,
    /// Which API: v2 or v3 [WXPAY_API]; default: v3 when only the APIv3 key is set.
    #[arg(long = "api", id = "wxpay_api", value_parser = ["v2", "v3"])]
    pub(crate) api: Option<String>,
    /// v3: the merchant API certificate's serial [WXPAY_MERCHANT_SERIAL_NO].
    #[arg(long)]
    pub(crate) merchant_serial_no: Option<String>,
    /// v3: apiclient_key.pem, which signs requests [WXPAY_PRIVATE_KEY_FILE].
    #[arg(long, value_name = "FILE")]
    pub(crate) private_key_file: Option<PathBuf>,
    /// v3: the 32-character APIv3 key [WXPAY_APIV3_KEY] (prefer the variable).
    #[arg(long)]
    pub(crate) apiv3_key: Option<String>,
    /// v3: the WeChat Pay public key id, PUB_KEY_ID_… [WXPAY_WECHATPAY_PUBLIC_KEY_ID].
    #[arg(long)]
    pub(crate) wechatpay_public_key_id: Option<String>,
    /// v3: the WeChat Pay public key (PEM) [WXPAY_WECHATPAY_PUBLIC_KEY_FILE].
    #[arg(long, value_name = "FILE")]
    pub(crate) wechatpay_public_key_file: Option<PathBuf>,
    /// v3: where downloaded platform certificates are kept [WXPAY_PLATFORM_CERT_DIR].
    #[arg(long, value_name = "DIR")]
    pub(crate) platform_cert_dir: Option<PathBuf>,
    /// v3: sign natively in the host (default) or inside the component [WXPAY_V3_SIGN_IN].
    #[arg(long, value_parser = ["host", "component"])]
    pub(crate) sign_in: Option<String>,
}

impl ConfigArgs {
    /// Reads the file, the environment and the flags; every problem is reported at once.
    pub(crate) fn load(&self) -> Result<HostConfig, Failure> {
        HostConfig::load(self.config.as_deref(), wxpay_env_vars(), &self.overrides())
            .map_err(Failure::Config)
    }

    /// The v3 configuration from the same layers.
    pub(crate) fn load_v3(&self) -> Result<wxcoupon::config::V3Config, Failure> {
        wxcoupon::config::V3Config::load(
            self.config.as_deref(),
            wxpay_env_vars(),
            &self.overrides(),
        )
        .map_err(Failure::Config)
    }

    /// Which API the settings choose.
    pub(crate) fn api(&self) -> Result<wxcoupon::config::Api, Failure> {
        wxcoupon::config::Api::load(self.config.as_deref(), wxpay_env_vars(), &self.overrides())
            .map_err(Failure::Config)
    }

    fn overrides(&self) -> ConfigOverrides {
        ConfigOverrides {
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
            api: self.api.clone(),
            merchant_serial_no: self.merchant_serial_no.clone(),
            private_key_file: self.private_key_file.clone(),
            apiv3_key: self.apiv3_key.clone(),
            wechatpay_public_key_id: self.wechatpay_public_key_id.clone(),
            wechatpay_public_key_file: self.wechatpay_public_key_file.clone(),
            platform_cert_dir: self.platform_cert_dir.clone(),
            v3_sign_in: self.sign_in.clone(),
        }
    }
}

/// Request fields for `build`; which are needed depends on the API.
#[derive(Args, Debug)]
pub(crate) struct RequestArgs {
    /// The stock (批次) id (send, stock, coupon).
    #[arg(long)]
    pub(crate) stock_id: Option<String>,
    /// The user's openid (send, coupon).
    #[arg(long)]
    pub(crate) openid: Option<String>,
    /// The merchant's unique number for this issuance (send).
    #[arg(long)]
    pub(crate) partner_trade_no: Option<String>,
    /// The coupon id (coupon).
    #[arg(long)]
    pub(crate) coupon_id: Option<String>,
    /// op_user_id (defaults to the mch_id at WeChat).
    #[arg(long)]
    pub(crate) op_user_id: Option<String>,
    /// device_info.
    #[arg(long)]
    pub(crate) device_info: Option<String>,
    /// version (e.g. 1.0).
    #[arg(long)]
    pub(crate) version: Option<String>,
    /// The wire field `type` (only XML).
    #[arg(long = "type")]
    pub(crate) message_type: Option<String>,
}

impl RequestArgs {
    /// The request; missing fields become empty strings, which the component reports by name.
    pub(crate) fn request(&self, api: core::Api) -> core::CouponRequest {
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
