// wxcoupon for Node: WeChat Pay v2 merchant coupons through the wxcoupon WebAssembly component.
//
// The component signs, builds and parses (`protocol`) and can make calls itself (`client`, over
// wasi:http through jco's preview2-shim). `send_coupon` needs the merchant's client certificate,
// which wasi:http cannot carry: those calls are built by the component, sent by Node's `https`
// with the certificate, and parsed by the component. Queries take the same native path by
// default (it does not block the event loop); `transport: 'component'` runs the component's own
// client instead.
import { call, client, protocol } from './component.js';
import * as convert from './convert.js';
import { InvalidInputError, toWitError, TransportError, WxCouponError } from './errors.js';
import { exchange } from './http.js';

export * from './errors.js';
export { closeConnections } from './http.js';

function fieldList(fields) {
  if (fields === null || typeof fields !== 'object') throw new InvalidInputError('fields', 'must be an object or a list of pairs');
  const list = Array.isArray(fields) ? fields : Object.entries(fields);
  return list.map(([k, v]) => [String(k), String(v)]);
}

/** Signs fields by the v2 rule; returns the upper-case hex signature. */
export function sign(fields, key, signType = 'MD5') {
  const list = fieldList(fields);
  const type = convert.witSignType(signType, 'sign_type');
  return call(() => protocol.sign(list, typeof key === 'string' ? key : '', type));
}

/** Verifies the `sign` among fields: 'verified-md5' | 'verified-hmac-sha256' | 'absent'. */
export function verify(fields, key) {
  const list = fieldList(fields);
  return call(() => protocol.verify(list, typeof key === 'string' ? key : ''));
}

/** Validates, signs and serialises a request (`{api, ...fields}`); the nonce defaults to random. */
export function buildRequest(merchant, request, nonce) {
  const m = convert.witMerchant(merchant);
  const r = convert.witRequest(request);
  if (nonce !== undefined && nonce !== null && typeof nonce !== 'string') {
    throw new InvalidInputError('nonce_str', 'must be a string');
  }
  return convert.httpRequest(call(() => protocol.buildRequest(m, r, nonce ?? undefined)));
}

/** Reads WeChat's answer to `api` (status and body bytes or text) into a typed result. */
export function parseResponse(merchant, api, status, body) {
  const m = convert.witMerchant(merchant);
  const witApi = convert.witApi(api);
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  if (!(bytes instanceof Uint8Array)) throw new InvalidInputError('body', 'must be a string or a Uint8Array');
  if (!Number.isInteger(status) || status < 0 || status > 65535) throw new InvalidInputError('status', 'must be an HTTP status');
  return convert.couponResponse(call(() => protocol.parseResponse(m, witApi, status, bytes)));
}

/**
 * Whether, after `error` (a WxCouponError), it is unknown if WeChat Pay carried out the call to
 * `api` — for send_coupon, if the coupon was issued. The component's `outcome-unknown`: the one
 * rule every layer applies (unknown once the request may have left, unless WeChat's answer says
 * it refused; never for queries). `sendCoupon`'s errors carry the verdict as `outcomeUnknown`.
 */
export function outcomeUnknown(api, error) {
  const witApi = convert.witApi(api);
  const wit = toWitError(error);
  if (wit === null) throw new InvalidInputError('error', 'must be a WxCouponError of this package');
  return call(() => protocol.outcomeUnknown(witApi, wit));
}

let advice;
/** What to do after an unknown outcome (the component's `outcome-unknown-advice`). */
export function outcomeUnknownAdvice() {
  advice ??= call(() => protocol.outcomeUnknownAdvice());
  return advice;
}

/** Gives an error of `sendCoupon` its outcome, as the component's rule judges it. */
function withOutcome(error, request) {
  const wit = toWitError(error);
  if (wit === null) return error;
  const unknown = call(() => protocol.outcomeUnknown('send-coupon', wit));
  const tradeNo = request !== null && typeof request === 'object' && typeof request.partnerTradeNo === 'string' ? request.partnerTradeNo : null;
  return error.setOutcome(unknown, tradeNo, unknown ? outcomeUnknownAdvice() : null);
}

function transportOf(options) {
  const t = options.transport ?? 'native';
  if (t !== 'native' && t !== 'component') throw new InvalidInputError('options.transport', "must be 'native' or 'component'");
  return t;
}

function callOptions(options) {
  return {
    connectTimeoutMs: options.connectTimeoutMs ?? undefined,
    firstByteTimeoutMs: options.firstByteTimeoutMs ?? undefined,
    betweenBytesTimeoutMs: options.betweenBytesTimeoutMs ?? undefined,
    maxResponseBytes: options.maxResponseBytes ?? undefined,
    nonce: options.nonce ?? undefined,
  };
}

/**
 * Runs one of the component's `client` exports. jco's shim can fail inside its wasi:http
 * implementation with a plain exception (e.g. a response cut short: "invalid variant tag value
 * ... for ErrorCode"); such a call was on the wire, so it becomes a TransportError that may have
 * reached WeChat.
 */
function viaComponent(fn) {
  try {
    return call(fn);
  } catch (e) {
    if (e instanceof WxCouponError) throw e;
    throw new TransportError(`the wasi:http host failed: ${e && e.message ? e.message : e}`, true);
  }
}

/**
 * One `client` call (`method` of the component's `client`, `tag` its `coupon-request` case): through
 * the component's own client (`transport: 'component'`), else built and parsed by the component
 * around Node's `https`.
 */
async function clientCall(tag, method, toWit, fromWit, merchant, request, options) {
  const m = convert.witMerchant(merchant);
  const r = toWit(request);
  if (transportOf(options) === 'component') {
    return fromWit(viaComponent(() => client[method](m, r, callOptions(options))));
  }
  const built = call(() => protocol.buildRequest(m, { tag, val: r }, options.nonce ?? undefined));
  const { status, body } = await exchange(built, options);
  return convert.couponResponse(call(() => protocol.parseResponse(m, tag, status, body)));
}

/**
 * Issues one coupon (send_coupon). Pass the merchant's API certificate in `options`: `cert` + `key`
 * (PEM) or `pfx` (+ `passphrase`, WeChat's default being the mch_id), and `ca` for a private CA.
 * Every error carries `outcomeUnknown` and `partnerTradeNo`: when the outcome is unknown the
 * coupon may have been issued; send again with the same `partnerTradeNo`.
 */
export async function sendCoupon(merchant, request, options = {}) {
  try {
    return await clientCall('send-coupon', 'sendCoupon', convert.witSendCoupon, convert.sentCoupon, merchant, request, options);
  } catch (e) {
    throw withOutcome(e, request);
  }
}

/** Reads a stock (query_coupon_stock); no certificate needed. */
export async function queryCouponStock(merchant, request, options = {}) {
  return clientCall('query-coupon-stock', 'queryCouponStock', convert.witQueryCouponStock, convert.couponStock, merchant, request, options);
}

/** Reads one coupon of one user (querycouponsinfo); no certificate needed. */
export async function queryCouponsInfo(merchant, request, options = {}) {
  return clientCall('query-coupons-info', 'queryCouponsInfo', convert.witQueryCouponsInfo, convert.couponInfo, merchant, request, options);
}
