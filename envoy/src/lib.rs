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
use wxcoupon_api::notification::{after_forward, forward_headers, refused as fail};
use wxcoupon_api::v3::{Next, V3Call, V3Defaults, V3Route};
use wxcoupon_api::{self as api, ApiError, Call, Reply, Route};
use wxcoupon_core as core;
use wxcoupon_core::v3::answer::Answer as V3Answer;
use wxcoupon_core::v3::error::Error as V3Error;
use wxcoupon_core::v3::flows::FlowFile;

use config::{setting_of, Protocol, Settings};

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
    /// Buffering the body of a route that has one.
    ReadingBody(BodyFor),
    /// A WeChat Pay call is out.
    Calling { call: Box<Call>, cluster: String },
    /// A v3 call is out, signed at `now`.
    CallingV3 { call: Box<V3Call>, now: i64 },
    /// A v3 flow's file is being fetched.
    FetchingFlow { call: Box<V3Call>, file: FlowFile },
    /// A verified `COUPON.USE` event is being forwarded.
    Forwarding,
    /// The answer was sent.
    Answered,
}

/// What a buffered body is for.
enum BodyFor {
    /// `POST /v1/coupons`.
    Issue,
    /// A v3 route with a body.
    V3(V3Route),
    /// WeChat's `COUPON.USE` callback, with its headers (read in the header phase: Envoy does
    /// not keep them readable once the body flows).
    Notification(Vec<(String, String)>),
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
        let (call, cluster) = match std::mem::replace(&mut self.state, State::Answered) {
            State::Calling { call, cluster } => (call, cluster),
            State::CallingV3 { call, now } => {
                return self.v3_answered(call, now, num_headers, body_size)
            }
            State::FetchingFlow { call, file } => {
                let fetched = self.v3_answer(num_headers, body_size);
                return self.answer(call.finish_flow(file, fetched, setting_of));
            }
            State::Forwarding => return self.forwarded(num_headers),
            _ => return,
        };
        let Some(settings) = self.settings.clone() else {
            return;
        };
        let Some(merchant) = settings.v2() else {
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
            core::parse_response_with_limits(merchant, call.api(), status, &body, &limits)
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
        if matches!(self.state, State::ReadingBody(_)) {
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
        if !matches!(self.state, State::ReadingBody(_)) {
            return Action::Pause;
        }
        if body_size > api::MAX_BODY_BYTES {
            self.answer(ApiError::body_too_large(api::MAX_BODY_BYTES).into());
            return Action::Pause;
        }
        if end_of_stream {
            let body = self.get_http_request_body(0, body_size).unwrap_or_default();
            self.body_read(&body);
        }
        // Not the end: Envoy keeps buffering while the filter pauses.
        Action::Pause
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if matches!(self.state, State::ReadingBody(_)) {
            // The body ended with trailers rather than an end-of-stream body callback.
            let body = self
                .get_http_request_body(0, api::MAX_BODY_BYTES + 1)
                .unwrap_or_default();
            if body.len() > api::MAX_BODY_BYTES {
                self.answer(ApiError::body_too_large(api::MAX_BODY_BYTES).into());
            } else {
                self.body_read(&body);
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
        let Some(settings) = self.settings.clone() else {
            return Ok(());
        };
        let v3 = matches!(settings.protocol, Protocol::V3 { .. });
        match route {
            Route::Health => self.answer(api::health()),
            Route::Issue => {
                api::check_content_type(self.header("content-type").as_deref())?;
                self.read_body(BodyFor::Issue, end_of_stream)?;
            }
            Route::Notification if !v3 => return Err(needs_v3()),
            Route::Notification if settings.forward.is_none() => {
                return Err(ApiError::configuration(
                    "the filter is not configured: notify_cluster and notify_forward_url: \
                     required for the notification route",
                    500,
                ))
            }
            Route::Notification => {
                let headers = self.get_http_request_headers();
                self.read_body(BodyFor::Notification(headers), end_of_stream)?
            }
            Route::V3(_) if !v3 => return Err(needs_v3()),
            Route::V3(route) if route.has_body() => {
                api::check_content_type(self.header("content-type").as_deref())?;
                self.read_body(BodyFor::V3(route), end_of_stream)?;
            }
            Route::V3(route) => {
                let call = V3Call::new(route, b"", &defaults(&settings))?;
                self.call_v3(call);
            }
            Route::Stock { stock_id } if v3 => {
                self.call_v3(V3Call::stock(&stock_id, &defaults(&settings)))
            }
            Route::Coupon { coupon_id, query } if v3 => {
                self.call_v3(V3Call::coupon(&coupon_id, &query, &defaults(&settings))?)
            }
            Route::Stock { stock_id } => self.call(Call::stock(&stock_id)),
            Route::Coupon { coupon_id, query } => self.call(Call::coupon(&coupon_id, &query)?),
        }
        Ok(())
    }

    /// Starts buffering a body (checked against the cap as announced); an empty request is
    /// served at once.
    fn read_body(&mut self, purpose: BodyFor, end_of_stream: bool) -> Result<(), ApiError> {
        api::check_content_length(
            self.header("content-length").as_deref(),
            api::MAX_BODY_BYTES,
        )?;
        self.state = State::ReadingBody(purpose);
        if end_of_stream {
            self.body_read(&[]);
        }
        Ok(())
    }

    /// The whole body is in: serve the route it belongs to.
    fn body_read(&mut self, body: &[u8]) {
        let State::ReadingBody(purpose) = std::mem::replace(&mut self.state, State::Routing) else {
            return;
        };
        let Some(settings) = self.settings.clone() else {
            return;
        };
        let result = match (purpose, &settings.protocol) {
            (BodyFor::Issue, Protocol::V2(_)) => return self.issue(body),
            (BodyFor::Issue, Protocol::V3 { merchant, .. }) => {
                let mchid = merchant.mchid().to_string();
                api::IssueInput::parse(body).and_then(|input| {
                    let mut random_failed = false;
                    let call = V3Call::issue(
                        input,
                        || self.generate_trade_no(&mchid, &mut random_failed),
                        &defaults(&settings),
                    )?;
                    match random_failed {
                        true => Err(ApiError::new(
                            500,
                            "INTERNAL",
                            "the proxy's secure random source failed",
                        )),
                        false => Ok(call),
                    }
                })
            }
            (BodyFor::V3(route), _) => V3Call::new(route, body, &defaults(&settings)),
            (BodyFor::Notification(headers), _) => return self.notification(&headers, body),
        };
        match result {
            Ok(call) => self.call_v3(call),
            Err(e) => self.answer(e.into()),
        }
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
        let Some(merchant) = settings.v2() else {
            return;
        };
        let mut random_failed = false;
        let call = Call::issue(input, || {
            self.generate_trade_no(&merchant.mch_id, &mut random_failed)
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
        let Some(merchant) = settings.v2() else {
            return;
        };
        let http = match core::build_request(merchant, call.request(), &nonce) {
            Ok(http) => http,
            Err(e) => return self.answer(call.finish(Err(e), setting_of)),
        };
        // The core's URL is `https://{authority}{path}`: the cluster decides where it goes.
        let base = merchant.host.base_url();
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

    /// A generated `partner_trade_no` for `mch_id`, dated by the proxy's clock; sets
    /// `random_failed` (and returns a throw-away number) when WASI's random source fails.
    fn generate_trade_no(&self, mch_id: &str, random_failed: &mut bool) -> String {
        api::trade_no::generate(mch_id, self.unix_seconds(), || {
            let mut bytes = [0u8; 8];
            if random_bytes(&mut bytes).is_err() {
                *random_failed = true;
                // Ends the rejection loop; the number is thrown away.
                return 0;
            }
            u64::from_le_bytes(bytes)
        })
    }

    /// Now, Unix seconds, by the proxy's clock.
    fn unix_seconds(&self) -> i64 {
        self.get_current_time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2))
    }

    /// Signs a v3 call in the filter and dispatches it to `query_cluster`.
    fn call_v3(&mut self, call: V3Call) {
        let Some(settings) = self.settings.clone() else {
            return;
        };
        let Protocol::V3 { merchant, .. } = &settings.protocol else {
            return;
        };
        let mut random = [0u8; core::NONCE_RANDOM_BYTES];
        if random_bytes(&mut random).is_err() {
            return self.answer(no_random());
        }
        let now = self.unix_seconds();
        let nonce = core::nonce_from_random(&random);
        let signed = match call.signed_request(merchant, now, &nonce, setting_of) {
            Ok(signed) => signed,
            Err(reply) => return self.answer(reply),
        };
        let path = signed
            .url
            .strip_prefix(merchant.base_url())
            .unwrap_or(&signed.url);
        let mut headers = vec![
            (":method", signed.method.as_str()),
            (":path", path),
            (":authority", settings.authority.as_str()),
        ];
        headers.extend(signed.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let body = signed.body.as_bytes();
        match self.dispatch(&settings, &settings.query_cluster, headers, Some(body)) {
            Ok(()) => {
                self.state = State::CallingV3 {
                    call: Box::new(call),
                    now,
                }
            }
            Err(e) => {
                let reply = match call.respond(merchant, Err(e), now, setting_of) {
                    Next::Reply(reply) => reply,
                    Next::FetchFlow(_) => unreachable!("no answer, no file"),
                };
                self.answer(reply);
            }
        }
    }

    /// `dispatch_http_call` with the configured timeout; Envoy's refusal (an unknown cluster)
    /// as a transport error that never reached WeChat.
    fn dispatch(
        &self,
        settings: &Settings,
        cluster: &str,
        headers: Vec<(&str, &str)>,
        body: Option<&[u8]>,
    ) -> Result<(), V3Error> {
        let timeout = Duration::from_millis(u64::from(settings.timeout_ms));
        self.dispatch_http_call(cluster, headers, body, vec![], timeout)
            .map(|_token| ())
            .map_err(|status| {
                error!(
                    "wxcoupon: Envoy refused a call to cluster {cluster} ({status:?}): is the \
                     cluster defined?"
                );
                V3Error::Transport {
                    message: format!("Envoy refused the call to cluster {cluster} ({status:?})"),
                    may_have_reached_wechat: false,
                }
            })
    }

    /// The answer of the call out, for the v3 core: status, headers, body (at most
    /// `max_response_bytes`). No headers: the call failed or timed out.
    fn v3_answer(&self, num_headers: usize, body_size: usize) -> Result<V3Answer, V3Error> {
        let Some(settings) = &self.settings else {
            return Err(V3Error::Denied {
                message: "not configured".into(),
            });
        };
        let Some(status) = self.call_status(num_headers) else {
            return Err(V3Error::Transport {
                message: format!(
                    "the call via cluster {} failed or timed out after {} ms (no answer)",
                    settings.query_cluster, settings.timeout_ms
                ),
                may_have_reached_wechat: true,
            });
        };
        let max = settings.max_response_bytes as usize;
        if body_size > max {
            return Err(V3Error::MalformedResponse(
                core::MalformedResponse::document(format!(
                    "the answer is over max_response_bytes ({max})"
                )),
            ));
        }
        let body = match body_size {
            0 => Vec::new(),
            n => self.get_http_call_response_body(0, n).unwrap_or_default(),
        };
        let body = String::from_utf8(body).map_err(|_| {
            V3Error::MalformedResponse(core::MalformedResponse::document("the body is not UTF-8"))
        })?;
        Ok(V3Answer {
            status,
            headers: self.get_http_call_response_headers(),
            body,
        })
    }

    /// A v3 call answered: the reply, or the flow file to fetch next (same cluster).
    fn v3_answered(&mut self, call: Box<V3Call>, now: i64, num_headers: usize, body_size: usize) {
        let Some(settings) = self.settings.clone() else {
            return;
        };
        let Protocol::V3 { merchant, .. } = &settings.protocol else {
            return;
        };
        let answer = self.v3_answer(num_headers, body_size);
        match call.respond(merchant, answer, now, setting_of) {
            Next::Reply(reply) => self.answer(reply),
            Next::FetchFlow(file) => {
                // The file is WeChat's, fetched through WeChat's cluster whatever host its URL
                // names (the filter reaches no other host); the URL carries its own token, so
                // the request is not signed.
                let Some(path) = path_of(&file.url) else {
                    let e = V3Error::Transport {
                        message: "the flow file's url has no path".into(),
                        may_have_reached_wechat: false,
                    };
                    return self.answer(call.finish_flow(file, Err(e), setting_of));
                };
                let headers = vec![
                    (":method", "GET"),
                    (":path", path.as_str()),
                    (":authority", settings.authority.as_str()),
                ];
                match self.dispatch(&settings, &settings.query_cluster, headers, None) {
                    Ok(()) => self.state = State::FetchingFlow { call, file },
                    Err(e) => self.answer(call.finish_flow(file, Err(e), setting_of)),
                }
            }
        }
    }

    /// `POST /v1/notifications/wechatpay`: verify and decrypt in the filter, then forward the
    /// typed event to `notify_cluster`; WeChat hears 204 only once the forward answered 2xx.
    fn notification(&mut self, headers: &[(String, String)], body: &[u8]) {
        let Some(settings) = self.settings.clone() else {
            return;
        };
        let (Protocol::V3 { merchant, .. }, Some(forward)) =
            (&settings.protocol, &settings.forward)
        else {
            return;
        };
        let Ok(body) = std::str::from_utf8(body) else {
            return self.answer(fail(400, "the body is not UTF-8"));
        };
        let event = match merchant.read_coupon_use(headers, body, self.unix_seconds()) {
            Ok(event) => event,
            Err(e) => {
                // WeChat delivers again; the log says why (never a key or the body).
                warn!(
                    "wxcoupon: a callback was refused ({}): {e}",
                    e.http_status()
                );
                return self.answer(fail(e.http_status(), &e.to_string()));
            }
        };
        let json = serde_json::to_vec(&event).unwrap_or_default();
        let extra = forward_headers(&event.id);
        let mut headers = vec![
            (":method", "POST"),
            (":path", forward.path.as_str()),
            (":authority", forward.authority.as_str()),
        ];
        headers.extend(extra.iter().map(|(name, value)| (*name, value.as_str())));
        match self.dispatch(&settings, &forward.cluster, headers, Some(&json)) {
            Ok(()) => self.state = State::Forwarding,
            Err(e) => self.answer(fail(
                502,
                &format!("the event was verified, but its forward failed ({e}): deliver it again"),
            )),
        }
    }

    /// The forward of a verified event answered.
    fn forwarded(&mut self, num_headers: usize) {
        let status = self
            .call_status(num_headers)
            .ok_or_else(|| "no answer or a timeout".to_string());
        self.answer(after_forward(status));
    }

    /// The `:status` of the call out that answered; `None` when it failed or timed out (no
    /// headers).
    fn call_status(&self, num_headers: usize) -> Option<u16> {
        (num_headers > 0)
            .then(|| self.get_http_call_response_header(":status"))
            .flatten()
            .and_then(|s| s.trim().parse::<u16>().ok())
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

/// The merchant's defaults for the v3 routes.
fn defaults(settings: &Settings) -> V3Defaults<'_> {
    match &settings.protocol {
        Protocol::V3 { merchant, appid } => V3Defaults {
            mchid: merchant.mchid(),
            appid: appid.as_deref(),
        },
        Protocol::V2(merchant) => V3Defaults {
            mchid: &merchant.mch_id,
            appid: Some(&merchant.appid),
        },
    }
}

/// The path (with its query) of an absolute `http(s)://` URL.
fn path_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    rest.find('/').map(|i| rest[i..].to_string())
}

/// A v3 route asked of a filter configured for v2.
fn needs_v3() -> ApiError {
    ApiError::configuration(
        "the filter is not configured for API v3: set api (v3), merchant_serial_no, \
         private_key or private_key_env, apiv3_key or apiv3_key_env, and wechatpay_public_key_id \
         with wechatpay_public_key or platform_certificates",
        500,
    )
}

/// Fills `buf` from WASI `random_get`.
fn random_bytes(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(buf)
}

fn no_random() -> Reply {
    error!("wxcoupon: WASI random_get failed: no nonce can be made");
    ApiError::new(500, "INTERNAL", "the proxy's secure random source failed").into()
}
