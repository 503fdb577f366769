// The canonical JSON form of results and errors (conformance/README.md): the Rust core's serde
// form, `{"ok": …}` or `{"error": {"kind": …}}`. Every host produces it for the shared cases.
import { WxCouponError } from './errors.js';

function time(t) {
  return t === null ? null : { raw: t.raw, unix_seconds: t.unixSeconds };
}

/** A result of sendCoupon / queryCouponStock / queryCouponsInfo / parseResponse. */
export function canonicalResponse(r) {
  switch (r.api) {
    case 'send_coupon':
      return {
        api: r.api,
        coupon_id: r.couponId,
        coupon_stock_id: r.couponStockId,
        openid: r.openid,
        resp_count: r.respCount,
        success_count: r.successCount,
        failed_count: r.failedCount,
        signature: r.signature,
        fields: { ...r.fields },
      };
    case 'query_coupon_stock':
      return {
        api: r.api,
        coupon_stock_id: r.couponStockId,
        coupon_name: r.couponName,
        coupon_value: r.couponValue,
        coupon_minimum: r.couponMinimum,
        coupon_type: r.couponType,
        status: r.status === 'unknown' ? { unknown: r.statusCode } : r.status,
        coupon_total: r.couponTotal,
        max_quota: r.maxQuota,
        is_send_num: r.isSendNum,
        locked_num: r.lockedNum,
        used_num: r.usedNum,
        coupon_budget: r.couponBudget,
        begin_time: time(r.beginTime),
        end_time: time(r.endTime),
        create_time: time(r.createTime),
        signature: r.signature,
        fields: { ...r.fields },
      };
    case 'querycouponsinfo':
      return {
        api: r.api,
        coupon_id: r.couponId,
        coupon_stock_id: r.couponStockId,
        coupon_value: r.couponValue,
        coupon_minimum: r.couponMinimum,
        coupon_name: r.couponName,
        coupon_desc: r.couponDesc,
        state: r.state === 'unknown' ? { unknown: r.stateRaw } : r.state,
        coupon_use_value: r.couponUseValue,
        coupon_remain_value: r.couponRemainValue,
        begin_time: time(r.beginTime),
        end_time: time(r.endTime),
        send_time: time(r.sendTime),
        send_source: r.sendSource,
        is_partial_use: r.isPartialUse,
        consumer_mch_id: r.consumerMchId,
        signature: r.signature,
        fields: { ...r.fields },
      };
    default:
      throw new TypeError(`not a wxcoupon result: ${JSON.stringify(r)}`);
  }
}

/** A buildRequest result; the body as UTF-8 text (invalid sequences replaced). */
export function canonicalHttpRequest(h) {
  return {
    method: h.method,
    url: h.url,
    headers: h.headers.map(([k, v]) => [k, v]),
    body: new TextDecoder('utf-8').decode(h.body),
    needs_client_certificate: h.needsClientCertificate,
  };
}

/** A WxCouponError. Anything else is not an outcome of the contract and is rethrown. */
export function canonicalError(e) {
  if (!(e instanceof WxCouponError)) throw e;
  switch (e.kind) {
    case 'invalid-input':
      return { kind: e.kind, field: e.field, rule: e.rule };
    case 'unexpected-status':
      return { kind: e.kind, status: e.status };
    case 'malformed-response':
      return { kind: e.kind, field: e.field, problem: e.problem };
    case 'protocol':
      return { kind: e.kind, return_msg: e.returnMsg };
    case 'business':
      return {
        kind: e.kind,
        err_code: e.errCode,
        err_code_des: e.errCodeDes,
        ret_msg: e.retMsg,
        meaning: e.meaning,
        advice: e.advice,
        retryable: e.retryable,
      };
    case 'signature':
      return { kind: e.kind, problem: e.problem };
    case 'transport':
      return { kind: e.kind, message: e.detail, may_have_reached_wechat: e.mayHaveReachedWechat };
    case 'denied':
      return { kind: e.kind, message: e.detail };
    default:
      throw e;
  }
}

/** Runs `fn` (sync or async) and returns `{ok: toJson(value)}` or `{error: …}`. */
export async function canonical(fn, toJson = (v) => v) {
  try {
    return { ok: toJson(await fn()) };
  } catch (e) {
    return { error: canonicalError(e) };
  }
}

/** JSON with sorted keys: two canonical values are equal when these strings are. */
export function stableStringify(value) {
  return JSON.stringify(sortKeys(value), null, 1);
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  }
  return v;
}
