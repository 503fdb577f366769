//! From request body to response body: the protocol checks WeChat makes, the business rules (via
//! [`crate::state`]), and answers in WeChat's shape (root `<xml>`, strings in CDATA, numbers bare,
//! `sign` only when asked for). No I/O here; the server module owns the wire.
//!
//! Two kinds of refusal, as the `mmpaymkttransfers` APIs answer them:
//! - **request refused** — the request cannot be trusted or read: missing client certificate
//!   (`CA_ERROR`), unreadable XML (`REQ_PARAM_XML_ERR`), missing or unknown merchant
//!   (`MCH_ID_EMPTY`, `CODE_2_ID_ERR`), bad signature (`SIGN_ERROR`). Answer: `return_code` FAIL
//!   with a Chinese `return_msg`, plus `result_code` FAIL, `err_code`, `err_code_des` so clients
//!   that only look at `err_code` see the code too. Nothing is echoed and nothing is signed.
//! - **operation refused** — everything else (`PARAM_ERROR`, the `*_EMPTY` codes, stock and quota
//!   rules, `COUPON_NOT_FOUND`, forced faults): `return_code` SUCCESS, `result_code` FAIL with
//!   `err_code`/`err_code_des`, the usual echo (`appid`, `mch_id`, `device_info`, a new
//!   `nonce_str`) and, for `send_coupon`, the per-openid block with `ret_code` FAIL.
//!
//! Check order: certificate (send_coupon only: the gateway refuses before reading), XML, mch_id,
//! signature, appid, nonce_str/type/lengths, then the API's own fields and rules.

use std::sync::Mutex;

use wxcoupon_core::time::format_beijing;
use wxcoupon_core::xml::check_field_value;
use wxcoupon_core::{read_xml, sign, verify, write_xml, Api, ApiKey, Fields, SignType, XmlLimits};

use crate::config::SimulatorConfig;
use crate::faults::{default_err_code_des, Faults};
use crate::routes::{Environment, Route};
use crate::state::{Refusal, SendRequest, State};

/// A key no merchant has: what the `wrong_sign` fault signs with.
const WRONG_KEY: &str = "00000000000000000000000000000000";

/// The answer sent when even the answer cannot be written.
const FALLBACK_XML: &str =
    "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[系统错误]]></return_msg></xml>";

/// The two verification keys.
pub(crate) struct Keys {
    pub production: ApiKey,
    pub sandbox: ApiKey,
}

impl Keys {
    fn for_env(&self, env: Environment) -> &ApiKey {
        match env {
            Environment::Production => &self.production,
            Environment::Sandbox => &self.sandbox,
        }
    }
}

/// What the handlers need from the running simulator.
pub(crate) struct Context<'a> {
    pub config: &'a SimulatorConfig,
    pub keys: &'a Keys,
    pub state: &'a Mutex<State>,
}

/// One request as the handlers see it.
pub(crate) struct Incoming<'a> {
    pub route: Route,
    pub body: &'a [u8],
    /// Whether the connection presented a client certificate that verified against the CA.
    pub client_cert: bool,
    /// Now, Unix seconds.
    pub now: i64,
    /// The response's `nonce_str`.
    pub nonce: String,
}

/// The XML to send and a one-word outcome for the log.
pub(crate) struct Answer {
    pub xml: String,
    pub outcome: String,
    pub replayed: bool,
}

/// How the answer is to be signed.
struct Reply {
    fields: Fields,
    /// `None`: a refused request (`return_code` FAIL), never signed.
    sign_type: Option<SignType>,
    outcome: String,
    replayed: bool,
}

/// A refusal, in one of the two shapes of the module doc.
enum Failure {
    Request {
        err_code: &'static str,
        message: String,
    },
    Operation(Refusal),
}

fn request_refused(err_code: &'static str, message: impl Into<String>) -> Failure {
    Failure::Request {
        err_code,
        message: message.into(),
    }
}

fn operation_refused(err_code: &'static str, des: impl Into<String>) -> Failure {
    Failure::Operation(Refusal::new(err_code, des))
}

/// Handles one request to a known endpoint. `fault` is what fired for it (only `err_code` and
/// `wrong_sign` matter here; the server applies the others).
pub(crate) fn handle(ctx: &Context<'_>, req: &Incoming<'_>, fault: Option<&Faults>) -> Answer {
    let throttled = match ctx.config.send_coupon_per_second {
        Some(limit) if req.route.endpoint.api() == Some(Api::SendCoupon) => {
            !lock(ctx.state).admit_send(req.now, limit)
        }
        _ => false,
    };
    let forced = fault.and_then(|f| {
        f.err_code.as_deref().map(|code| {
            let des = f
                .err_code_des
                .clone()
                .unwrap_or_else(|| default_err_code_des(code).to_string());
            (code.to_string(), des)
        })
    });
    // Over the issuing rate: WeChat's FREQ_OVER_LIMIT, and nothing happens.
    let forced = forced.or_else(|| {
        throttled.then(|| {
            let code = "FREQ_OVER_LIMIT";
            (code.to_string(), default_err_code_des(code).to_string())
        })
    });
    let wrong_sign = fault.is_some_and(|f| f.wrong_sign);
    // A fault that spoils the answer must not let the request take effect: work on a copy of
    // the books and throw it away.
    let dry_run = fault.is_some_and(Faults::spoils_answer);
    let scratch;
    let ctx = if dry_run {
        scratch = Mutex::new(lock(ctx.state).clone());
        &Context {
            config: ctx.config,
            keys: ctx.keys,
            state: &scratch,
        }
    } else {
        ctx
    };
    let env = req.route.environment;
    // The v2 routes only: `route` never yields a v3 endpoint (the server hands `/v3/` to
    // `crate::v3`).
    let (reply, key) = match req.route.endpoint.api() {
        Some(api) => (coupon_api(ctx, req, api, forced), ctx.keys.for_env(env)),
        None => (getsignkey(ctx, req, forced), &ctx.keys.production),
    };
    finish(reply, key, ctx.config.sign_responses, wrong_sign)
}

fn finish(mut reply: Reply, key: &ApiKey, sign_responses: bool, wrong_sign: bool) -> Answer {
    if let Some(sign_type) = reply.sign_type {
        reply.fields.remove("sign");
        if wrong_sign {
            // A constant, valid-looking key: the sign is well-formed and simply wrong.
            if let Ok(wrong) = ApiKey::new(WRONG_KEY) {
                let s = sign(&reply.fields, &wrong, sign_type);
                reply.fields.insert("sign".into(), s);
            }
        } else if sign_responses {
            let s = sign(&reply.fields, key, sign_type);
            reply.fields.insert("sign".into(), s);
        }
    }
    let xml = write_xml(&reply.fields).unwrap_or_else(|_| FALLBACK_XML.to_string());
    Answer {
        xml,
        outcome: reply.outcome,
        replayed: reply.replayed,
    }
}

/// A request value fit to echo back: trimmed, and empty when XML could not carry it.
fn echo(value: Option<&String>) -> String {
    let value = value.map(|v| v.trim()).unwrap_or("");
    if check_field_value("echo", value).is_ok() && value.chars().count() <= 128 {
        value.to_string()
    } else {
        String::new()
    }
}

fn text<'f>(fields: &'f Fields, name: &str) -> &'f str {
    fields.get(name).map(|v| v.trim()).unwrap_or("")
}

fn put(fields: &mut Fields, name: &str, value: impl Into<String>) {
    fields.insert(name.to_string(), value.into());
}

/// The answer of a refused request: `return_code` FAIL and nothing else meaningful.
fn refused_request_reply(err_code: &str, message: String) -> Reply {
    let mut f = Fields::new();
    put(&mut f, "return_code", "FAIL");
    put(&mut f, "return_msg", message.clone());
    put(&mut f, "result_code", "FAIL");
    put(&mut f, "err_code", err_code);
    put(&mut f, "err_code_des", message);
    Reply {
        fields: f,
        sign_type: None,
        outcome: err_code.to_string(),
        replayed: false,
    }
}

/// `return_code` SUCCESS with the usual echo; `result_code` is filled in by the caller.
fn accepted_reply(ctx: &Context<'_>, request: &Fields, nonce: &str) -> Fields {
    let mut f = Fields::new();
    put(&mut f, "return_code", "SUCCESS");
    put(&mut f, "return_msg", "");
    let appid = echo(request.get("appid"));
    put(
        &mut f,
        "appid",
        if appid.is_empty() {
            ctx.config.appid.clone()
        } else {
            appid
        },
    );
    put(&mut f, "mch_id", ctx.config.mch_id.clone());
    put(&mut f, "device_info", echo(request.get("device_info")));
    put(&mut f, "nonce_str", nonce);
    f
}

/// `send_coupon`'s per-openid block for a refusal.
fn send_failure_block(f: &mut Fields, request: &Fields, des: &str) {
    put(f, "coupon_stock_id", echo(request.get("coupon_stock_id")));
    put(f, "resp_count", "1");
    put(f, "success_count", "0");
    put(f, "failed_count", "1");
    put(f, "openid", echo(request.get("openid")));
    put(f, "ret_code", "FAIL");
    put(f, "coupon_id", "");
    put(f, "ret_msg", des);
}

fn operation_refused_reply(
    ctx: &Context<'_>,
    api: Api,
    request: &Fields,
    nonce: &str,
    sign_type: SignType,
    err_code: &str,
    des: &str,
) -> Reply {
    let mut f = accepted_reply(ctx, request, nonce);
    put(&mut f, "result_code", "FAIL");
    put(&mut f, "err_code", err_code);
    put(&mut f, "err_code_des", des);
    if api == Api::SendCoupon {
        send_failure_block(&mut f, request, des);
    }
    Reply {
        fields: f,
        sign_type: Some(sign_type),
        outcome: err_code.to_string(),
        replayed: false,
    }
}

fn parse(body: &[u8]) -> Result<Fields, Failure> {
    read_xml(body, &XmlLimits::default())
        .map_err(|_| request_refused("REQ_PARAM_XML_ERR", "输入参数xml格式有误"))
}

/// Checks the merchant and the signature; returns the digest the request used.
fn authenticate(
    ctx: &Context<'_>,
    fields: &Fields,
    key: &ApiKey,
    sandbox: bool,
) -> Result<SignType, Failure> {
    let mch_id = text(fields, "mch_id");
    if mch_id.is_empty() {
        return Err(request_refused("MCH_ID_EMPTY", "商户号mch_id不能为空"));
    }
    if mch_id != ctx.config.mch_id {
        return Err(request_refused("CODE_2_ID_ERR", "商户号mch_id不存在或无效"));
    }
    let signature = text(fields, "sign");
    if signature.is_empty() {
        return Err(request_refused("SIGN_ERROR", "签名错误：缺少sign参数"));
    }
    let declared = match fields.get("sign_type").map(|v| v.trim()) {
        None | Some("") => None,
        Some(name) => match SignType::from_wire_name(name) {
            Some(t) => Some(t),
            None => return Err(request_refused("SIGN_ERROR", "签名错误：sign_type不支持")),
        },
    };
    let expected = declared.unwrap_or(SignType::Md5);
    if sandbox && expected != SignType::Md5 {
        return Err(request_refused(
            "SIGN_ERROR",
            "签名错误：仿真测试系统仅支持MD5签名",
        ));
    }
    match verify(fields, key, signature) {
        Ok(used) if used == expected => Ok(used),
        _ => Err(request_refused("SIGN_ERROR", "签名错误")),
    }
}

/// The checks every authenticated coupon request goes through after the signature.
fn common_checks(ctx: &Context<'_>, fields: &Fields) -> Result<(), Failure> {
    for (name, value) in fields {
        if check_field_value(name, value).is_err() {
            return Err(operation_refused(
                "PARAM_ERROR",
                format!("{name}含有非法字符"),
            ));
        }
    }
    let appid = text(fields, "appid");
    if appid.is_empty() {
        return Err(operation_refused("PARAM_ERROR", "appid不能为空"));
    }
    if appid != ctx.config.appid {
        return Err(operation_refused("PARAM_ERROR", "appid与商户号不匹配"));
    }
    if text(fields, "nonce_str").is_empty() {
        return Err(operation_refused("PARAM_ERROR", "nonce_str不能为空"));
    }
    let message_type = text(fields, "type");
    if !message_type.is_empty() && message_type != "XML" {
        return Err(operation_refused("PARAM_ERROR", "type只支持XML"));
    }
    for (name, max) in [
        ("nonce_str", 32),
        ("op_user_id", 32),
        ("device_info", 32),
        ("version", 32),
        ("appid", 32),
    ] {
        if text(fields, name).chars().count() > max {
            return Err(operation_refused(
                "PARAM_ERROR",
                format!("{name}长度不能超过{max}"),
            ));
        }
    }
    Ok(())
}

fn check_len(fields: &Fields, name: &str, max: usize) -> Result<(), Failure> {
    if text(fields, name).chars().count() > max {
        Err(operation_refused(
            "PARAM_ERROR",
            format!("{name}长度不能超过{max}"),
        ))
    } else {
        Ok(())
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn coupon_api(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    api: Api,
    forced: Option<(String, String)>,
) -> Reply {
    let env = req.route.environment;
    if let Some((code, des)) = forced {
        // A forced failure replaces the processing altogether; echo what can be read.
        let fields = read_xml(req.body, &XmlLimits::default()).unwrap_or_default();
        let sign_type = fields
            .get("sign_type")
            .and_then(|t| SignType::from_wire_name(t.trim()))
            .unwrap_or_default();
        return operation_refused_reply(ctx, api, &fields, &req.nonce, sign_type, &code, &des);
    }

    let mut request = Fields::new();
    let result = (|| {
        if api.needs_client_certificate() && !req.client_cert {
            return Err(request_refused(
                "CA_ERROR",
                "证书错误：请求未携带有效的商户API证书",
            ));
        }
        request = parse(req.body)?;
        let sign_type = authenticate(
            ctx,
            &request,
            ctx.keys.for_env(env),
            env == Environment::Sandbox,
        )?;
        Ok(sign_type)
    })();
    let sign_type = match result {
        Ok(sign_type) => sign_type,
        Err(Failure::Request { err_code, message }) => {
            return refused_request_reply(err_code, message)
        }
        // Authentication only refuses requests.
        Err(Failure::Operation(r)) => return refused_request_reply(r.err_code, r.err_code_des),
    };

    let processed = common_checks(ctx, &request).and_then(|()| match api {
        Api::SendCoupon => send_coupon(ctx, req, &request, sign_type),
        Api::QueryCouponStock => query_coupon_stock(ctx, req, &request, sign_type),
        Api::QueryCouponsInfo => querycouponsinfo(ctx, req, &request, sign_type),
    });
    match processed {
        Ok(reply) => reply,
        Err(Failure::Request { err_code, message }) => refused_request_reply(err_code, message),
        Err(Failure::Operation(r)) => operation_refused_reply(
            ctx,
            api,
            &request,
            &req.nonce,
            sign_type,
            r.err_code,
            &r.err_code_des,
        ),
    }
}

fn send_coupon(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    request: &Fields,
    sign_type: SignType,
) -> Result<Reply, Failure> {
    let coupon_stock_id = text(request, "coupon_stock_id");
    if coupon_stock_id.is_empty() {
        return Err(operation_refused(
            "COUPON_STOCK_ID_EMPTY",
            "批次号coupon_stock_id不能为空",
        ));
    }
    let openid = text(request, "openid");
    if openid.is_empty() {
        return Err(operation_refused("OPEN_ID_EMPTY", "openid不能为空"));
    }
    match text(request, "openid_count") {
        "" => return Err(operation_refused("PARAM_ERROR", "openid_count不能为空")),
        "1" => {}
        _ => return Err(operation_refused("PARAM_ERROR", "openid_count只支持1")),
    }
    let partner_trade_no = text(request, "partner_trade_no");
    if partner_trade_no.is_empty() {
        return Err(operation_refused("PARAM_ERROR", "partner_trade_no不能为空"));
    }
    check_len(request, "coupon_stock_id", 64)?;
    check_len(request, "openid", 128)?;
    check_len(request, "partner_trade_no", 128)?;

    let outcome = lock(ctx.state).send(
        req.route.environment,
        &SendRequest {
            coupon_stock_id,
            openid,
            partner_trade_no,
        },
        req.now,
    );
    let coupon = match outcome.result {
        Ok(coupon) => coupon,
        Err(refusal) => {
            let mut reply = operation_refused_reply(
                ctx,
                Api::SendCoupon,
                request,
                &req.nonce,
                sign_type,
                refusal.err_code,
                &refusal.err_code_des,
            );
            reply.replayed = outcome.replayed;
            return Ok(reply);
        }
    };
    let mut f = accepted_reply(ctx, request, &req.nonce);
    put(&mut f, "result_code", "SUCCESS");
    put(&mut f, "coupon_stock_id", coupon.coupon_stock_id);
    put(&mut f, "resp_count", "1");
    put(&mut f, "success_count", "1");
    put(&mut f, "failed_count", "0");
    put(&mut f, "openid", coupon.openid);
    put(&mut f, "ret_code", "SUCCESS");
    put(&mut f, "coupon_id", coupon.coupon_id);
    put(&mut f, "ret_msg", "");
    Ok(Reply {
        fields: f,
        sign_type: Some(sign_type),
        outcome: "SUCCESS".into(),
        replayed: outcome.replayed,
    })
}

fn query_coupon_stock(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    request: &Fields,
    sign_type: SignType,
) -> Result<Reply, Failure> {
    let id = text(request, "coupon_stock_id");
    if id.is_empty() {
        return Err(operation_refused(
            "COUPON_STOCK_ID_EMPTY",
            "批次号coupon_stock_id不能为空",
        ));
    }
    let Some(stock) = lock(ctx.state).stock(req.route.environment, id) else {
        return Err(operation_refused(
            "COUPON_STOCK_ID_NOT_VALID",
            "批次ID信息不正确",
        ));
    };
    let seed = &stock.seed;
    let mut f = accepted_reply(ctx, request, &req.nonce);
    put(&mut f, "result_code", "SUCCESS");
    put(&mut f, "coupon_stock_id", seed.coupon_stock_id.clone());
    put(&mut f, "coupon_name", seed.coupon_name.clone());
    put(&mut f, "coupon_stock_desc", stock.description());
    put(&mut f, "coupon_value", seed.coupon_value.to_string());
    // The misspelling real traffic carries.
    put(&mut f, "coupon_mininumn", seed.coupon_minimum.to_string());
    put(&mut f, "coupon_stock_status", seed.status.to_string());
    put(&mut f, "coupon_total", seed.coupon_total.to_string());
    put(&mut f, "max_quota", seed.max_quota.to_string());
    put(&mut f, "is_send_num", stock.is_send_num.to_string());
    put(&mut f, "coupon_budget", stock.coupon_budget().to_string());
    put(&mut f, "scope", "GLOBAL");
    put(&mut f, "favor_type", "COUPON");
    for (name, t) in [
        ("begin_time", seed.begin_time),
        ("end_time", seed.end_time),
        ("create_time", seed.create_time),
    ] {
        put(&mut f, name, t.to_string());
        put(&mut f, &format!("{name}_t"), format_beijing(t));
    }
    Ok(Reply {
        fields: f,
        sign_type: Some(sign_type),
        outcome: "SUCCESS".into(),
        replayed: false,
    })
}

fn querycouponsinfo(
    ctx: &Context<'_>,
    req: &Incoming<'_>,
    request: &Fields,
    sign_type: SignType,
) -> Result<Reply, Failure> {
    let coupon_id = text(request, "coupon_id");
    if coupon_id.is_empty() {
        return Err(operation_refused("PARAM_ERROR", "coupon_id不能为空"));
    }
    let openid = text(request, "openid");
    if openid.is_empty() {
        return Err(operation_refused("OPEN_ID_EMPTY", "openid不能为空"));
    }
    let stock_id = text(request, "stock_id");
    if stock_id.is_empty() {
        return Err(operation_refused(
            "COUPON_STOCK_ID_EMPTY",
            "批次号stock_id不能为空",
        ));
    }
    let env = req.route.environment;
    let found = {
        let state = lock(ctx.state);
        if state.stock(env, stock_id).is_none() {
            return Err(operation_refused(
                "COUPON_STOCK_ID_NOT_VALID",
                "批次ID信息不正确",
            ));
        }
        state.coupon(env, coupon_id, openid, stock_id)
    };
    let Some((coupon, stock)) = found else {
        return Err(operation_refused("COUPON_NOT_FOUND", "查询不到代金券信息"));
    };
    let seed = &stock.seed;
    let mut f = accepted_reply(ctx, request, &req.nonce);
    put(&mut f, "result_code", "SUCCESS");
    put(&mut f, "coupon_stock_id", coupon.coupon_stock_id);
    put(&mut f, "coupon_id", coupon.coupon_id);
    put(&mut f, "coupon_value", seed.coupon_value.to_string());
    put(&mut f, "coupon_minimum", seed.coupon_minimum.to_string());
    put(&mut f, "coupon_name", seed.coupon_name.clone());
    put(&mut f, "coupon_state", "SENDED");
    put(&mut f, "coupon_desc", stock.description());
    put(&mut f, "coupon_use_value", "0");
    put(&mut f, "coupon_remain_value", seed.coupon_value.to_string());
    put(&mut f, "send_source", "NORMAL");
    put(&mut f, "is_partial_use", "0");
    put(&mut f, "begin_time", seed.begin_time.to_string());
    put(&mut f, "end_time", seed.end_time.to_string());
    put(&mut f, "send_time", coupon.send_time.to_string());
    Ok(Reply {
        fields: f,
        sign_type: Some(sign_type),
        outcome: "SUCCESS".into(),
        replayed: false,
    })
}

/// `getsignkey`: fields `mch_id`, `nonce_str`, `sign` (MD5 with the production key). Its
/// refusals carry only `return_code` FAIL and `return_msg`.
fn getsignkey(ctx: &Context<'_>, req: &Incoming<'_>, forced: Option<(String, String)>) -> Reply {
    let fail = |msg: &str, outcome: &str| {
        let mut f = Fields::new();
        put(&mut f, "return_code", "FAIL");
        put(&mut f, "return_msg", msg);
        Reply {
            fields: f,
            sign_type: None,
            outcome: outcome.to_string(),
            replayed: false,
        }
    };
    if let Some((code, des)) = forced {
        return fail(&des, &code);
    }
    let Ok(fields) = read_xml(req.body, &XmlLimits::default()) else {
        return fail("XML格式错误", "REQ_PARAM_XML_ERR");
    };
    let mch_id = text(&fields, "mch_id");
    if mch_id.is_empty() {
        return fail("mch_id参数缺失", "MCH_ID_EMPTY");
    }
    if mch_id != ctx.config.mch_id {
        return fail("商户号mch_id不存在", "CODE_2_ID_ERR");
    }
    match verify(&fields, &ctx.keys.production, text(&fields, "sign")) {
        Ok(SignType::Md5) => {}
        _ => return fail("签名错误", "SIGN_ERROR"),
    }
    if text(&fields, "nonce_str").is_empty() {
        return fail("nonce_str参数缺失", "PARAM_ERROR");
    }
    let mut f = Fields::new();
    put(&mut f, "return_code", "SUCCESS");
    put(&mut f, "return_msg", "ok");
    put(&mut f, "mch_id", ctx.config.mch_id.clone());
    put(&mut f, "sandbox_signkey", ctx.config.sandbox_key.clone());
    Reply {
        fields: f,
        sign_type: Some(SignType::Md5),
        outcome: "SUCCESS".into(),
        replayed: false,
    }
}

/// A new `nonce_str`: 32 characters from `[0-9A-Za-z]`, from the OS's random source (ring).
pub(crate) fn random_nonce() -> String {
    let provider = rustls::crypto::ring::default_provider();
    let mut bytes = [0u8; wxcoupon_core::NONCE_RANDOM_BYTES];
    if provider.secure_random.fill(&mut bytes).is_err() {
        // Nonces only vary the answer; a fixed one is still a valid nonce.
        return "0".repeat(32);
    }
    wxcoupon_core::nonce_from_random(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StockSeed;
    use crate::routes::route;
    use proptest::prelude::*;

    fn keys(config: &SimulatorConfig) -> Keys {
        Keys {
            production: ApiKey::new(config.api_key.clone()).unwrap(),
            sandbox: ApiKey::new(config.sandbox_key.clone()).unwrap(),
        }
    }

    fn signed(config: &SimulatorConfig, pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut f: Fields = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let key = ApiKey::new(config.api_key.clone()).unwrap();
        let s = sign(&f, &key, SignType::Md5);
        f.insert("sign".into(), s);
        write_xml(&f).unwrap().into_bytes()
    }

    fn run(
        config: &SimulatorConfig,
        state: &Mutex<State>,
        path: &str,
        body: &[u8],
        cert: bool,
    ) -> Fields {
        let keys = keys(config);
        let ctx = Context {
            config,
            keys: &keys,
            state,
        };
        let answer = handle(
            &ctx,
            &Incoming {
                route: route(path).unwrap(),
                body,
                client_cert: cert,
                now: 1_750_000_000,
                nonce: "n".into(),
            },
            None,
        );
        read_xml(answer.xml.as_bytes(), &XmlLimits::default()).unwrap()
    }

    #[test]
    fn send_then_query_shapes() {
        let config = SimulatorConfig::default();
        let state = Mutex::new(State::new(&StockSeed::defaults()));
        let body = signed(
            &config,
            &[
                ("appid", "wx5edab3bdfba3dc1c"),
                ("mch_id", "10000098"),
                ("nonce_str", "abc"),
                ("coupon_stock_id", "1757"),
                ("openid", "o1"),
                ("openid_count", "1"),
                ("partner_trade_no", "p1"),
            ],
        );
        let f = run(
            &config,
            &state,
            "/mmpaymkttransfers/send_coupon",
            &body,
            true,
        );
        assert_eq!(f["result_code"], "SUCCESS");
        assert_eq!(f["ret_code"], "SUCCESS");
        assert!(!f.contains_key("sign"));
        let f = run(
            &config,
            &state,
            "/mmpaymkttransfers/send_coupon",
            &body,
            false,
        );
        assert_eq!(f["return_code"], "FAIL");
        assert_eq!(f["err_code"], "CA_ERROR");
        let f = run(
            &config,
            &state,
            "/mmpaymkttransfers/send_coupon",
            b"<xml><a>",
            true,
        );
        assert_eq!(f["err_code"], "REQ_PARAM_XML_ERR");
    }

    #[test]
    fn sandbox_refuses_hmac_and_production_accepts_it() {
        let config = SimulatorConfig::default();
        let state = Mutex::new(State::new(&StockSeed::defaults()));
        for (path, key, expected) in [
            (
                "/sandboxnew/mmpaymkttransfers/query_coupon_stock",
                &config.sandbox_key,
                "FAIL",
            ),
            (
                "/mmpaymkttransfers/query_coupon_stock",
                &config.api_key,
                "SUCCESS",
            ),
        ] {
            let mut f: Fields = [
                ("appid", "wx5edab3bdfba3dc1c"),
                ("mch_id", "10000098"),
                ("nonce_str", "abc"),
                ("coupon_stock_id", "1757"),
                ("sign_type", "HMAC-SHA256"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let s = sign(&f, &ApiKey::new(key.clone()).unwrap(), SignType::HmacSha256);
            f.insert("sign".into(), s);
            let body = write_xml(&f).unwrap().into_bytes();
            let answer = run(&config, &state, path, &body, false);
            assert_eq!(answer["return_code"], expected, "{path}");
            if expected == "FAIL" {
                assert_eq!(answer["err_code"], "SIGN_ERROR");
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512),
                                        path_index in 0usize..7) {
            let paths = [
                "/mmpaymkttransfers/send_coupon",
                "/mmpaymkttransfers/query_coupon_stock",
                "/mmpaymkttransfers/querycouponsinfo",
                "/sandboxnew/mmpaymkttransfers/send_coupon",
                "/sandboxnew/mmpaymkttransfers/query_coupon_stock",
                "/sandboxnew/mmpaymkttransfers/querycouponsinfo",
                "/sandboxnew/pay/getsignkey",
            ];
            let config = SimulatorConfig::default();
            let state = Mutex::new(State::new(&StockSeed::defaults()));
            let f = run(&config, &state, paths[path_index], &body, true);
            prop_assert_eq!(f["return_code"].as_str(), "FAIL");
        }

        #[test]
        fn arbitrary_field_values_never_panic(value in "\\PC{0,40}", name_index in 0usize..5) {
            let names = ["coupon_stock_id", "openid", "partner_trade_no", "device_info", "openid_count"];
            let config = SimulatorConfig::default();
            let state = Mutex::new(State::new(&StockSeed::defaults()));
            let mut pairs = vec![
                ("appid", "wx5edab3bdfba3dc1c"),
                ("mch_id", "10000098"),
                ("nonce_str", "abc"),
                ("coupon_stock_id", "1758"),
                ("openid", "o1"),
                ("openid_count", "1"),
                ("partner_trade_no", "p1"),
            ];
            pairs.retain(|(k, _)| *k != names[name_index]);
            pairs.push((names[name_index], value.as_str()));
            let body = signed(&config, &pairs);
            let f = run(&config, &state, "/mmpaymkttransfers/send_coupon", &body, true);
            prop_assert_eq!(f["return_code"].as_str(), "SUCCESS");
        }
    }
}
