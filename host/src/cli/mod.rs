//! The `wxcoupon` command line: what each subcommand does (this file), its arguments
//! ([`args`]), how results and errors are printed ([`outcome`]), campaigns ([`campaign`]).
//!
//! Output is JSON on stdout. Errors are one line on stderr (`error: <field>: <rule>`) plus, for
//! errors the component reported, a JSON object `{"error": {...}}` on stdout so scripts can branch
//! on `kind`. Exit codes: 0 success, 1 WeChat Pay or the response refused, 2 bad input, 3 host
//! failure, 4 an unknown outcome (`send`: the coupon may have been issued; the JSON carries
//! `"outcome_unknown": true` and the `partner_trade_no` to retry with).

use std::io::{Read as _, Write as _};
use std::path::PathBuf;

use serde::Serialize;
use wxcoupon::config::{wxpay_env_vars, Api, ConfigErrors, HostConfig};
use wxcoupon::outbound::OutboundClient;
use wxcoupon::Runtime;
use wxcoupon_core as core;

pub use args::Cli;
use args::{Command, ConfigArgs};
use outcome::Failure;
pub use outcome::{run, EXIT_HOST, EXIT_OUTCOME_UNKNOWN, EXIT_REFUSED};

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
            instance_reuse,
            caller_tokens,
            host_names,
            request_timeout_ms,
            notify_forward_url,
        } => {
            // The coupon routes speak the API the settings choose; the v3 settings, when there
            // are any (or the notification route asks for them), serve the v3 routes too. A
            // v3-only merchant needs no APIv2 key.
            let api = config.api()?;
            let v3_required = api == wxcoupon::config::Api::V3 || notify_forward_url.is_some();
            let (mut serve, outbound) = match api {
                wxcoupon::config::Api::V2 => {
                    let host = config.load()?;
                    let outbound = host.outbound();
                    (
                        wxcoupon::serve::ServeConfig::from_host_config(&host, listen)?,
                        Some(outbound),
                    )
                }
                wxcoupon::config::Api::V3 => (
                    wxcoupon::serve::ServeConfig {
                        listen,
                        ..Default::default()
                    },
                    None,
                ),
            };
            // A v2 merchant without (complete) v3 settings serves v2 alone: the v3 routes then
            // answer 500 CONFIGURATION naming what is missing.
            let v3 = match (v3_required, config.load_v3()) {
                (true, loaded) => Some(loaded?),
                (false, loaded) => loaded.ok(),
            };
            if let Some(v3) = v3 {
                let outbound = outbound.unwrap_or_else(|| v3.outbound());
                serve = serve.with_v3(
                    outbound,
                    &v3.merchant,
                    v3.appid.as_deref(),
                    notify_forward_url.as_deref(),
                )?;
            }
            serve.max_concurrency = max_concurrency;
            serve.instance_reuse = instance_reuse;
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
                instances = stats.instances,
                "wxcoupon gateway stopped"
            );
            Ok(String::new())
        }
        Command::Call {
            allow_urls,
            ca_file,
        } => call_by_name(&allow_urls, ca_file.as_deref()).await,
        command => execute_call(&Runtime::new()?, command).await,
    }
}

/// `wxcoupon call`: JSON lines in, one answer line per call out, in one instance.
async fn call_by_name(
    allow_urls: &[String],
    ca_file: Option<&std::path::Path>,
) -> Result<String, Failure> {
    let mut allow = wxcoupon::outbound::AllowList::deny_all();
    for url in allow_urls {
        allow = allow
            .with_base_url(url)
            .map_err(|e| core::Error::invalid("allow_url", e.to_string()))?;
    }
    let extra_ca_pem = match ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| core::Error::invalid("ca_file", format!("cannot be read: {e}")))?,
        ),
        None => None,
    };
    let outbound = wxcoupon::outbound::OutboundClient::new(wxcoupon::outbound::OutboundConfig {
        allow,
        extra_ca_pem,
        ..Default::default()
    })
    .map_err(anyhow::Error::from)?;
    let mut session = Runtime::new()?
        .with_outbound(outbound)
        .dynamic_session()
        .await?;
    // A line answered before the next is read: a caller may build a call from an answer.
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        n += 1;
        let read = std::io::BufRead::read_line(&mut stdin, &mut line)
            .map_err(|e| anyhow::anyhow!("cannot read stdin: {e}"))?;
        if read == 0 {
            return Ok(String::new());
        }
        if line.trim().is_empty() {
            continue;
        }
        let call: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
            core::Error::invalid(format!("stdin line {n}"), format!("must be JSON: {e}"))
        })?;
        let function = call["function"].as_str().unwrap_or_default();
        let args = call["args"].as_array().cloned().unwrap_or_default();
        // A call that cannot be made is answered too: the next line may still be good.
        let answer = match session.call(function, &args).await {
            Ok(answer) => answer,
            Err(e) => serde_json::json!({ "failure": e.to_string() }),
        };
        writeln!(stdout, "{answer}")
            .and_then(|()| stdout.flush())
            .map_err(|e| anyhow::anyhow!("cannot write stdout: {e}"))?;
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
        Command::Serve { .. }
        | Command::Egress { .. }
        | Command::Campaign { .. }
        | Command::Call { .. } => {
            unreachable!("handled by execute")
        }
        Command::Send {
            config,
            stock_id,
            openid,
            partner_trade_no,
            stock_creator_mchid,
            json,
        } => {
            if config.api()? == Api::V3 {
                return v3::send(
                    runtime,
                    &config,
                    stock_id,
                    openid,
                    partner_trade_no,
                    stock_creator_mchid,
                    json,
                )
                .await;
            }
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
            action: Some(action),
            ..
        } => return v3_programme::stock(runtime, action).await,
        Command::Coupons { action } => return v3_programme::coupons(runtime, action).await,
        Command::Callbacks { action } => return v3_programme::callbacks(runtime, action).await,
        Command::Notification { action } => {
            return v3_programme::notification(runtime, action).await
        }
        Command::Stock {
            action: None,
            config,
            stock_id,
            stock_creator_mchid,
            json,
        } => {
            let stock_id = stock_id
                .ok_or_else(|| core::Error::invalid("stock_id", "required (--stock-id)"))?;
            if config.api()? == Api::V3 {
                return v3::stock(runtime, &config, stock_id, stock_creator_mchid, json).await;
            }
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
            if config.api()? == Api::V3 {
                return v3::coupon(runtime, &config, coupon_id, openid, json).await;
            }
            let stock_id =
                stock_id.ok_or_else(|| core::Error::invalid("stock_id", "required (v2)"))?;
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
        Command::Certificates { config, json } => {
            return v3::certificates(runtime, &config, json).await;
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
    wxcoupon::CallOptions::from_limits(&config.timeouts, config.max_response_bytes)
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

pub(crate) fn read_stdin() -> Result<Vec<u8>, Failure> {
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

mod args;
mod campaign;
mod outcome;
#[cfg(test)]
mod tests;
mod v3;
mod v3_programme;
