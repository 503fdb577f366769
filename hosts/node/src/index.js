// wxcoupon for Node: WeChat Pay v2 merchant coupons through the wxcoupon WebAssembly component.
//
// The component signs, builds and parses (`v2`) and can make calls itself (`v2-client`, over
// wasi:http through jco's preview2-shim). `send_coupon` needs the merchant's client certificate,
// which wasi:http cannot carry: those calls are built by the component, sent by Node's `https`
// with the certificate, and parsed by the component. Queries take the same native path by
// default (it does not block the event loop); `transport: 'component'` runs the component's own
// client instead.
import { call, v2, v2Client } from './component.js';
import * as convert from './convert.js';
import {
  fromCallError,
  fromProtocolError,
  InvalidInputError,
  MalformedResponseError,
  toCallError,
  TransportError,
  WxCouponError,
} from './errors.js';
import { exchange } from './http.js';

export * from './errors.js';
/** API v3: every cash-coupon call and the COUPON.USE callback (src/v3.js). */
export * as v3 from './v3.js';
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
  return call(() => v2.sign(list, typeof key === 'string' ? key : '', type));
}

/** Verifies the `sign` among fields: 'verified-md5' | 'verified-hmac-sha256' | 'absent'. */
export function verify(fields, key) {
  const list = fieldList(fields);
  return call(() => v2.verify(list, typeof key === 'string' ? key : ''));
}

/** The component's `build-*` of `api`: validates, signs and serialises the WIT request. */
function build(api, merchant, request, nonce) {
  return call(() => v2[`build${api.wit}`](merchant, request, nonce ?? undefined));
}

/** Validates, signs and serialises a request (`{api, ...fields}`); the nonce defaults to random. */
export function buildRequest(merchant, request, nonce) {
  const m = convert.witMerchant(merchant);
  const [api, r] = convert.witRequest(request);
  if (nonce !== undefined && nonce !== null && typeof nonce !== 'string') {
    throw new InvalidInputError('nonce_str', 'must be a string');
  }
  return convert.httpRequest(build(api, m, r, nonce));
}

// Strict, and keeping a byte-order mark: the component must see exactly the bytes received.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The component's `parse-*` of `api` on a body of text or bytes. Bytes that are not UTF-8 cannot
 * cross as a WIT `string`: `unreadable-body` then gives the error the parsers would have given
 * (a status other than 200 first, then the size, then the offending byte).
 */
function parse(api, merchant, status, body) {
  let text = body;
  if (typeof body !== 'string') {
    try {
      text = utf8.decode(body);
    } catch {
      const error = call(() => v2.unreadableBody(status, body));
      // `none` would mean the component reads as UTF-8 what Node refused: not a readable body either.
      throw error ? fromProtocolError(error) : new MalformedResponseError(null, 'body is not UTF-8');
    }
  }
  return convert.result(api, call(() => v2[`parse${api.wit}`](merchant, status, text)));
}

/** Reads WeChat's answer to `api` (status and body bytes or text) into a typed result. */
export function parseResponse(merchant, api, status, body) {
  const m = convert.witMerchant(merchant);
  const entry = convert.apiOf(api);
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) throw new InvalidInputError('body', 'must be a string or a Uint8Array');
  if (!Number.isInteger(status) || status < 0 || status > 65535) throw new InvalidInputError('status', 'must be an HTTP status');
  return parse(entry, m, status, body);
}

/**
 * Whether, after `error` (a WxCouponError), it is unknown if WeChat Pay carried out the call to
 * `api` — for send_coupon, if the coupon was issued. The component's `send-coupon-outcome-unknown`:
 * the one rule every layer applies (unknown once the request may have left, unless WeChat's
 * answer says it refused). Queries change nothing: never. `sendCoupon`'s errors carry the verdict
 * as `outcomeUnknown`.
 */
export function outcomeUnknown(api, error) {
  const entry = convert.apiOf(api);
  const wit = toCallError(error);
  if (wit === null) throw new InvalidInputError('error', 'must be a WxCouponError of this package');
  return entry === convert.APIS.send_coupon && call(() => v2.sendCouponOutcomeUnknown(wit));
}

let advice;
/** What to do after an unknown outcome (the component's `outcome-unknown-advice`). */
export function outcomeUnknownAdvice() {
  advice ??= call(() => v2.outcomeUnknownAdvice());
  return advice;
}

/** Gives an error of `sendCoupon` its outcome, as the component's rule judges it. */
function withOutcome(error, request) {
  const wit = toCallError(error);
  if (wit === null) return error;
  const unknown = call(() => v2.sendCouponOutcomeUnknown(wit));
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
 * Runs one of the component's `v2-client` exports. jco's shim can fail inside its wasi:http
 * implementation with a plain exception (e.g. a response cut short: "invalid variant tag value
 * ... for ErrorCode"); such a call was on the wire, so it becomes a TransportError that may have
 * reached WeChat.
 */
function viaComponent(fn) {
  try {
    return call(fn, fromCallError);
  } catch (e) {
    if (e instanceof WxCouponError) throw e;
    throw new TransportError(`the wasi:http host failed: ${e && e.message ? e.message : e}`, true);
  }
}

/**
 * One call of `api` (an entry of convert.APIS): through the component's own client
 * (`transport: 'component'`), else built and parsed by the component around Node's `https`.
 */
async function clientCall(api, merchant, request, options) {
  const m = convert.witMerchant(merchant);
  const [, r] = convert.witRequest(request, api);
  if (transportOf(options) === 'component') {
    const method = api.wit[0].toLowerCase() + api.wit.slice(1);
    return convert.result(api, viaComponent(() => v2Client[method](m, r, callOptions(options))));
  }
  const { status, body } = await exchange(build(api, m, r, options.nonce), options);
  return parse(api, m, status, body);
}

/**
 * Issues one coupon (send_coupon). Pass the merchant's API certificate in `options`: `cert` + `key`
 * (PEM) or `pfx` (+ `passphrase`, WeChat's default being the mch_id), and `ca` for a private CA.
 * Every error carries `outcomeUnknown` and `partnerTradeNo`: when the outcome is unknown the
 * coupon may have been issued; send again with the same `partnerTradeNo`.
 */
export async function sendCoupon(merchant, request, options = {}) {
  try {
    return await clientCall(convert.APIS.send_coupon, merchant, request, options);
  } catch (e) {
    throw withOutcome(e, request);
  }
}

/** Reads a stock (query_coupon_stock); no certificate needed. */
export async function queryCouponStock(merchant, request, options = {}) {
  return clientCall(convert.APIS.query_coupon_stock, merchant, request, options);
}

/** Reads one coupon of one user (querycouponsinfo); no certificate needed. */
export async function queryCouponsInfo(merchant, request, options = {}) {
  return clientCall(convert.APIS.querycouponsinfo, merchant, request, options);
}
