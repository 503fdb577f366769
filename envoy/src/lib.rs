//! # wxcoupon-envoy
//!
//! The wxcoupon JSON coupon API as an Envoy HTTP filter: a proxy-wasm module (ABI 0.2.1,
//! `wasm32-wasip1`) that answers `POST /v1/coupons`, `GET /v1/stocks/{id}`,
//! `GET /v1/coupons/{id}` and `GET /healthz` itself, with the same statuses and JSON bodies as
//! the component's gateway mode: routing, bodies, errors and answers are `wxcoupon-api`'s, the
//! protocol is `wxcoupon-core`'s. Only the I/O is Envoy's:
//!
//! - the request is read from the filter callbacks (headers, then the buffered body);
//! - WeChat Pay is called with `dispatch_http_call` to a cluster: `send_coupon` to
//!   `send_cluster`, whose upstream TLS context presents the merchant's client certificate (so
//!   the certificate lives in Envoy's secret handling, never in the filter), the queries to
//!   `query_cluster` ([`upstream`] reads what comes back);
//! - settings come from the plugin configuration, checked once in `on_configure` ([`config`]);
//!   a bad configuration is logged (keys and rules, never values) and refused, so Envoy does not
//!   load the filter;
//! - nonces and generated `partner_trade_no` serials come from WASI `random_get`
//!   (`wasi_snapshot_preview1`; Envoy's wasm host implements it with BoringSSL's `RAND_bytes`)
//!   through `getrandom`;
//!   the date from the proxy's clock. Without a working random source the filter refuses to
//!   start rather than sign with weak nonces.
//!
//! The filter keeps no state between requests; every answer is a local reply (the route behind
//! the filter is never reached).

// `ApiError` is the answer itself, built once per failed request (see `wxcoupon-api`).
#![allow(clippy::result_large_err)]

mod config;
mod upstream;

use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use log::{error, info, warn};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use wxcoupon_api::{self as api, ApiError, Call, Reply, Route};
use wxcoupon_core as core;

use config::{setting_of, Settings};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { settings: None }) });
}}

/// The plugin: reads the configuration, makes one [`Filter`] per request.
struct Root {
    settings: Option<Rc<Settings>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let settings = match Settings::parse(&bytes, |name| std::env::var(name).ok()) {
            Ok(settings) => settings,
            Err(problems) => {
                error!(
                    "wxcoupon: plugin configuration refused: {}",
                    problems.one_line()
                );
                return false;
            }
        };
        if let Err(e) = random_bytes(&mut [0u8; 8]) {
            error!("wxcoupon: no secure random source (WASI random_get failed: {e}); refusing to start");
            return false;
        }
        info!(
            "wxcoupon {}: configured: {}",
            api::VERSION,
            settings.summary()
        );
        self.settings = Some(Rc::new(settings));
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter {
            settings: self.settings.clone(),
            state: State::Routing,
            caller: None,
        }))
    }
}

/// Where a request stands.
enum State {
    /// Waiting for the headers.
    Routing,
    /// `POST /v1/coupons`: buffering the body.
    ReadingBody,
    /// A WeChat Pay call is out.
    Calling { call: Box<Call>, cluster: String },
    /// The answer was sent.
    Answered,
}

/// One request.
struct Filter {
    settings: Option<Rc<Settings>>,
    state: State,
    /// The authenticated caller's name (`caller_tokens`), for the log line of the answer.
    caller: Option<String>,
}

impl Context for Filter {
    fn on_http_call_response(
        &mut self,
        _token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let State::Calling { call, cluster } = std::mem::replace(&mut self.state, State::Answered)
        else {
            return;
        };
        let Some(settings) = self.settings.clone() else {
            return;
        };
        let max = settings.max_response_bytes as usize;
        let status = if num_headers == 0 {
            None
        } else {
            self.get_http_call_response_header_bytes(":status")
                .and_then(|s| std::str::from_utf8(&s).ok()?.trim().parse::<u16>().ok())
        };
        let content_type = self
            .get_http_call_response_header_bytes("content-type")
            .and_then(|v| String::from_utf8(v).ok());
        let body = if body_size > 0 {
            self.get_http_call_response_body(0, body_size.min(max + 1))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let answer = upstream::Answer {
            status,
            content_type: content_type.as_deref(),
            body_size,
            body: &body,
        };
        let target = upstream::Target {
            cluster: &cluster,
            authority: &settings.authority,
        };
        let limits = core::XmlLimits {
            max_body_bytes: max,
            ..Default::default()
        };
        let result = upstream::read(&answer, &target, max).and_then(|(status, body)| {
            core::parse_response_with_limits(&settings.merchant, call.api(), status, &body, &limits)
        });
        if let Err(core::Error::Transport { message, .. }) = &result {
            warn!(
                "wxcoupon: {} via cluster {cluster}: {message}",
                call.api().name()
            );
        }
        self.answer(call.finish(result, setting_of));
    }
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        if let Err(e) = self.start(end_of_stream) {
            self.answer(e.into());
        }
        if matches!(self.state, State::ReadingBody) {
            // Envoy turns a paused header phase into "stop everything", body included: let the
            // headers go on so the body comes to this filter, which holds it (and everything
            // after it) until the answer. The route behind must not answer on headers alone
            // (see envoy.yaml).
            Action::Continue
        } else {
            Action::Pause
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !matches!(self.state, State::ReadingBody) {
            return Action::Pause;
        }
        if body_size > api::MAX_BODY_BYTES {
            self.answer(ApiError::body_too_large(api::MAX_BODY_BYTES).into());
            return Action::Pause;
        }
        if end_of_stream {
            let body = self.get_http_request_body(0, body_size).unwrap_or_default();
            self.issue(&body);
        }
        // Not the end: Envoy keeps buffering while the filter pauses.
        Action::Pause
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if matches!(self.state, State::ReadingBody) {
            // The body ended with trailers rather than an end-of-stream body callback.
            let body = self
                .get_http_request_body(0, api::MAX_BODY_BYTES + 1)
                .unwrap_or_default();
            if body.len() > api::MAX_BODY_BYTES {
                self.answer(ApiError::body_too_large(api::MAX_BODY_BYTES).into());
            } else {
                self.issue(&body);
            }
        }
        Action::Pause
    }
}

impl Filter {
    /// Routes the request; answers what needs no body, starts reading the one that does.
    fn start(&mut self, end_of_stream: bool) -> Result<(), ApiError> {
        let method = self.header(":method").unwrap_or_default();
        let target = self.header(":path").unwrap_or_else(|| "/".into());
        // Callers first: nothing of a /v1 route, not even whether it exists, for strangers.
        if api::callers::needs_caller(&target) {
            if let Some(settings) = &self.settings {
                self.caller = settings
                    .callers
                    .authorize(self.header("authorization").as_deref())?
                    .map(str::to_string);
            }
        }
        let route = api::route(&method, &target)?;
        if self.settings.is_none() {
            // Envoy does not run a plugin whose configuration was refused; just in case.
            let status = if route == Route::Health { 503 } else { 500 };
            return Err(ApiError::configuration(
                "the filter is not configured: see Envoy's log",
                status,
            ));
        }
        match route {
            Route::Health => self.answer(api::health()),
            Route::Issue => {
                api::check_content_type(self.header("content-type").as_deref())?;
                api::check_content_length(
                    self.header("content-length").as_deref(),
                    api::MAX_BODY_BYTES,
                )?;
                self.state = State::ReadingBody;
                if end_of_stream {
                    self.issue(&[]);
                }
            }
            Route::Stock { stock_id } => self.call(Call::stock(&stock_id)),
            Route::Coupon { coupon_id, query } => self.call(Call::coupon(&coupon_id, &query)?),
            // WeChat's callbacks and the v3-only routes are the component's gateway mode for
            // now (v3 in the filter is a later step).
            Route::Notification | Route::V3(_) => return Err(ApiError::new(
                501,
                "NOT_IMPLEMENTED",
                "API v3 (the notification route, the stock life cycle, the listings) is served \
                     by the component's gateway mode, not by this filter yet",
            )),
        }
        Ok(())
    }

    /// `POST /v1/coupons` with its whole body.
    fn issue(&mut self, body: &[u8]) {
        let input = match api::IssueInput::parse(body) {
            Ok(input) => input,
            Err(e) => return self.answer(e.into()),
        };
        let Some(settings) = self.settings.clone() else {
            return;
        };
        let unix_seconds = self
            .get_current_time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2));
        let mut random_failed = false;
        let call = Call::issue(input, || {
            api::trade_no::generate(&settings.merchant.mch_id, unix_seconds, || {
                let mut bytes = [0u8; 8];
                if random_bytes(&mut bytes).is_err() {
                    random_failed = true;
                    // Ends the rejection loop; the number is thrown away below.
                    return 0;
                }
                u64::from_le_bytes(bytes)
            })
        });
        if random_failed {
            return self.answer(no_random());
        }
        self.call(call);
    }

    /// Builds, signs and dispatches the call; the answer comes in `on_http_call_response`.
    fn call(&mut self, call: Call) {
        let Some(settings) = self.settings.clone() else {
            return;
        };
        let mut random = [0u8; core::NONCE_RANDOM_BYTES];
        if random_bytes(&mut random).is_err() {
            return self.answer(no_random());
        }
        let nonce = core::nonce_from_random(&random);
        let http = match core::build_request(&settings.merchant, call.request(), &nonce) {
            Ok(http) => http,
            Err(e) => return self.answer(call.finish(Err(e), setting_of)),
        };
        // The core's URL is `https://{authority}{path}`: the cluster decides where it goes.
        let base = settings.merchant.host.base_url();
        let path = http.url.strip_prefix(base).unwrap_or(&http.url);
        let mut headers = vec![
            (":method", http.method.as_str()),
            (":path", path),
            (":authority", settings.authority.as_str()),
        ];
        headers.extend(http.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let cluster = settings.cluster(call.api()).to_string();
        let timeout = Duration::from_millis(u64::from(settings.timeout_ms));
        match self.dispatch_http_call(&cluster, headers, Some(&http.body), vec![], timeout) {
            Ok(_token) => {
                self.state = State::Calling {
                    call: Box::new(call),
                    cluster,
                }
            }
            Err(status) => {
                error!(
                    "wxcoupon: Envoy refused a call to cluster {cluster} ({status:?}): is the \
                     cluster defined?"
                );
                let e = core::Error::Transport {
                    message: format!(
                        "Envoy refused the call to cluster {cluster} ({status:?}) ({})",
                        settings.authority
                    ),
                    may_have_reached_wechat: false,
                };
                self.answer(call.finish(Err(e), setting_of));
            }
        }
    }

    /// Sends `reply` as a local reply.
    fn answer(&mut self, reply: Reply) {
        self.state = State::Answered;
        if let Some(caller) = &self.caller {
            // Envoy's own access log has no view of the caller: one line per authenticated call.
            info!("wxcoupon: caller {caller} answered {}", reply.status);
        }
        self.send_http_response(
            u32::from(reply.status),
            reply.all_headers(),
            Some(&reply.body),
        );
    }

    /// A request header's first value, as text (`None` when absent or not UTF-8).
    fn header(&self, name: &str) -> Option<String> {
        self.get_http_request_header_bytes(name)
            .and_then(|v| String::from_utf8(v).ok())
    }
}

/// Fills `buf` from WASI `random_get`.
fn random_bytes(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(buf)
}

fn no_random() -> Reply {
    error!("wxcoupon: WASI random_get failed: no nonce can be made");
    ApiError::new(500, "INTERNAL", "the proxy's secure random source failed").into()
}
