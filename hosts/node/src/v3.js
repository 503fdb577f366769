// API v3 for Node: every cash-coupon call and the COUPON.USE callback, through the component's
// sans-IO `v3` interface. The component checks and builds the request and the exact message to
// sign; Node signs it natively (node:crypto, SHA256withRSA: about 1 ms against about 10 ms inside
// wasm) with the merchant's private key, which Node holds and never hands to the component; the
// component puts the signature in (`authorize`). For the answer the component runs every check
// but the signature (`check-answer`: refusal, headers, clock, serial), Node verifies the
// signature natively and the component reads the verified body (`read-*`). Node's `https`
// (src/http.js: timeouts, limits, `ca` for a private CA) carries it. v3 needs no client
// certificate.
//
//   const merchant = wx.v3.openMerchant({ mchid, merchantSerialNo, apiv3Key, privateKeyPem,
//                                         wechatpayPublicKeyId, wechatpayPublicKeyPem });
//   const { couponId } = await wx.v3.issueCoupon(merchant, { openid, stockId, outRequestNo,
//                                                            appid, stockCreatorMchid });
//
// Requests and answers are the WIT records as jco names them (camelCase); whole numbers are
// plain numbers both ways (the WIT's u64 amounts become BigInt only at the component's edge).
import { createPrivateKey, createPublicKey, sign as rsaSign, verify as rsaVerify } from 'node:crypto';
import { v3 } from './component.js';
import {
  DeniedError,
  InvalidInputError,
  MalformedResponseError,
  TransportError,
  WxCouponError,
} from './errors.js';
import { exchange } from './http.js';

/** WeChat refused a v3 call (a non-2xx answer with its `{code, message, detail}`). */
export class RefusedError extends WxCouponError {
  constructor({ status, code = null, message = null, detail = null, meaning = null, advice }) {
    super('refused', `WeChat Pay refused the call (HTTP ${status})${code ? `: ${code}` : ''}${meaning ? ` (${meaning})` : ''}${message ? ` — ${message}` : ''}`);
    this.status = status;
    this.code = code;
    this.wechatMessage = message;
    this.detail = detail;
    this.meaning = meaning;
    /** 'do-not-retry' | 'retry' | 'retry-later' | 'reconcile-first' */
    this.advice = advice;
    this.retryable = advice === 'retry' || advice === 'retry-later';
  }
}

/** A 2xx answer whose v3 signature does not hold: nothing in it is used. */
export class AnswerNotVerifiedError extends WxCouponError {
  constructor(refusal) {
    super('answer-not-verified', `the answer is not verified: ${refusal.tag}${refusal.val === undefined ? '' : ` (${refusal.val})`}`);
    /** `{tag: 'missing-header' | 'malformed-timestamp' | 'stale-timestamp' | 'unknown-serial' | 'signature', val?}` */
    this.refusal = plain(refusal);
  }
}

/** A COUPON.USE callback that was refused; answer WeChat with `status` and `failureBody`. */
export class NotificationError extends WxCouponError {
  constructor(e) {
    super(e.tag, `the callback was refused: ${e.tag}${e.val === undefined ? '' : `: ${JSON.stringify(plain(e.val))}`}`);
    /** The HTTP status to answer WeChat with (it delivers again): the component's rule. */
    this.status = v3.notificationHttpStatus(e);
    this.failureBody = v3.notificationFailureBody(this.message);
  }
}

/** BigInt → number, deep (amounts and counts are far below 2^53); Uint8Array kept. */
function plain(value) {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Uint8Array) return value;
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

// The request fields the WIT types as u64: numbers in, BigInt for the component.
const U64_FIELDS = new Set(['couponValue', 'couponMinimum', 'maxCoupons', 'maxAmount', 'maxAmountByDay', 'maxCouponsPerUser', 'couponAmount', 'transactionMinimum']);

export function wit(value, path = 'request') {
  if (Array.isArray(value)) return value.map((v, i) => wit(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null || v === undefined) continue;
    if (U64_FIELDS.has(k)) {
      if (!(Number.isSafeInteger(v) && v >= 0) && typeof v !== 'bigint') throw new InvalidInputError(`${path}.${k}`, 'must be a non-negative whole number');
      out[k] = BigInt(v);
    } else {
      out[k] = wit(v, `${path}.${k}`);
    }
  }
  return out;
}

/** Maps the WIT `v3-error` (as jco lifts it) to its class. */
export function fromV3Error(e) {
  switch (e.tag) {
    case 'invalid-input':
      return new InvalidInputError(e.val.field, e.val.rule);
    case 'refused':
      return new RefusedError(plain(e.val));
    case 'answer-not-verified':
      return new AnswerNotVerifiedError(e.val);
    case 'malformed-response':
      return new MalformedResponseError(e.val.field ?? null, e.val.problem);
    case 'transport':
      return new TransportError(e.val.message, e.val.mayHaveReachedWechat);
    case 'denied':
      return new DeniedError(e.val);
    default:
      return new WxCouponError(String(e.tag), `unknown v3-error case ${e.tag}`);
  }
}

/** Runs a `v3` export, its error as this package's class (`fromError`: the v3 error). */
function run(fn, fromError = fromV3Error) {
  try {
    return fn();
  } catch (e) {
    const payload = e && Object.prototype.hasOwnProperty.call(e, 'payload') ? e.payload : undefined;
    if (payload && typeof payload === 'object' && typeof payload.tag === 'string') throw fromError(payload);
    throw e;
  }
}

function unixNow() {
  return BigInt(Math.floor(Date.now() / 1000));
}

// The merchants' private keys (node:crypto KeyObjects, read once by openMerchant), by the
// component's merchant handle: the key never enters the component's memory.
const privateKeys = new WeakMap();

// The settings the component checks before the private key (core/src/v3/merchant.rs): a problem
// with one of them is named first, as when the component read the key itself.
const CHECKED_BEFORE_KEY = new Set(['merchant.mchid', 'merchant.merchant_serial_no', 'merchant.apiv3_key']);

const PKCS8_PEM = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]*?)-----END PRIVATE KEY-----/;

/**
 * The merchant API private key as the component would take it (the core's MerchantSigner): the
 * first `PRIVATE KEY` PEM block, PKCS#8, RSA of 2048 to 4096 bits (ring's bounds). Returns
 * `{key}` or `{error}` (the component's InvalidInputError; never the key).
 */
function readPrivateKey(pem) {
  const invalid = (rule) => ({ error: new InvalidInputError('merchant.private_key', `${rule} (a PKCS#8 PEM, BEGIN PRIVATE KEY)`) });
  const block = typeof pem === 'string' ? PKCS8_PEM.exec(pem) : null;
  if (block === null) return invalid('not the PEM block expected');
  let key;
  try {
    key = createPrivateKey({ key: Buffer.from(block[1].replace(/\s+/g, ''), 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    return invalid('not an RSA key of 2048 bits or more');
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== 'rsa' || bits < 2048 || bits > 4096) return invalid('not an RSA key of 2048 bits or more');
  return { key };
}

/**
 * Opens a v3 merchant: `{mchid, merchantSerialNo, apiv3Key, privateKeyPem?,
 * wechatpayPublicKeyId?, wechatpayPublicKeyPem?, platformCertificates?, baseUrl?}`. The
 * component holds everything but the private key (it verifies, decrypts, builds); Node holds the
 * private key (read here, once) and signs with it. Nothing secret can be read back.
 */
export function openMerchant(settings) {
  if (settings === null || typeof settings !== 'object') throw new InvalidInputError('settings', 'must be an object');
  const { privateKeyPem, ...rest } = settings;
  const privateKey = privateKeyPem === undefined || privateKeyPem === null ? null : readPrivateKey(privateKeyPem);
  let merchant;
  try {
    merchant = run(() => v3.Merchant.open({ platformCertificates: [], ...wit(rest, 'settings') }));
  } catch (e) {
    if (privateKey?.error && !(e instanceof InvalidInputError && CHECKED_BEFORE_KEY.has(e.field))) throw privateKey.error;
    throw e;
  }
  if (privateKey?.error) throw privateKey.error;
  if (privateKey) {
    privateKeys.set(merchant, privateKey.key);
    // The component does not hold the key, so its `signs()` says false; this merchant signs.
    Object.defineProperty(merchant, 'signs', { value: () => true });
  }
  return merchant;
}

/** Base64 SHA256withRSA (PKCS#1 v1.5) of the `to-sign` message, with the merchant's key. */
function signNatively(merchant, message) {
  const key = privateKeys.get(merchant);
  if (key === undefined) throw new InvalidInputError('merchant.private_key', 'not given: openMerchant needs privateKeyPem to sign requests');
  return rsaSign('sha256', Buffer.from(message, 'utf8'), key).toString('base64');
}

// WeChat's public keys as check-answer hands them (PKCS#1 RSAPublicKey DER), each read once:
// by the DER's Base64, a KeyObject, or null for a key ring would refuse (not RSA of 2048 to 8192
// bits). A merchant holds a few keys; the bound only stops a process opening many from growing it.
const publicKeys = new Map();
const PUBLIC_KEYS_HELD = 64;

function publicKeyOf(der) {
  const id = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let key = publicKeys.get(id);
  if (key === undefined) {
    try {
      key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'pkcs1' });
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048 || bits > 8192) key = null;
    } catch {
      key = null;
    }
    if (publicKeys.size >= PUBLIC_KEYS_HELD) publicKeys.clear();
    publicKeys.set(id, key);
  }
  return key;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Whether the `answer-signature` check-answer gave holds (the core's rule: strict Base64). */
function verifiesNatively(checked) {
  const key = publicKeyOf(checked.publicKeyDer);
  const signature = checked.signature.trim();
  if (key === null || !BASE64.test(signature)) return false;
  return rsaVerify('sha256', Buffer.from(checked.message, 'utf8'), key, Buffer.from(signature, 'base64'));
}

// Every v3 call: its name here and its WIT functions' stem.
const CALLS = {
  issueCoupon: 'IssueCoupon',
  queryStock: 'QueryStock',
  queryCoupon: 'QueryCoupon',
  createStock: 'CreateStock',
  startStock: 'StartStock',
  pauseStock: 'PauseStock',
  restartStock: 'RestartStock',
  stopStock: 'StopStock',
  listStocks: 'ListStocks',
  listStockMerchants: 'ListStockMerchants',
  listStockItems: 'ListStockItems',
  downloadUseFlow: 'DownloadUseFlow',
  downloadRefundFlow: 'DownloadRefundFlow',
  listUserCoupons: 'ListUserCoupons',
  setCallback: 'SetCallback',
  getCallback: 'GetCallback',
};

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A call's WIT stem by its name here; a name that is not a call is invalid input. */
function stemOf(call) {
  const stem = Object.prototype.hasOwnProperty.call(CALLS, call) ? CALLS[call] : undefined;
  if (stem === undefined) throw new InvalidInputError('call', `must be one of ${Object.keys(CALLS).join(', ')}`);
  return stem;
}

/** Built by the component, signed natively, authorized by the component: ready to send. */
function signedRequest(stem, merchant, request, timestamp, nonce) {
  const toSign = run(() => v3[`build${stem}`](wit(request), timestamp, nonce));
  const signature = signNatively(merchant, toSign.message);
  const signed = run(() => v3.authorize(merchant, toSign, signature));
  return { method: signed.method.toUpperCase(), url: signed.url, headers: signed.headers, body: signed.body };
}

/** Checked by the component, its signature verified natively, read by the component. */
function readAnswer(stem, merchant, answer, now) {
  const checked = run(() => v3.checkAnswer(merchant, answer, now));
  // The component's own refusal when its verification fails (`parse-*`).
  if (!verifiesNatively(checked)) throw new AnswerNotVerifiedError({ tag: 'signature' });
  return plain(run(() => v3[`read${stem}`](answer.body)));
}

/**
 * Step one of a call without the HTTP: the request built, signed (natively) and ready for any
 * client, `{method, url, headers, body}`. `timestamp` (Unix seconds) defaults to now, `nonce` to
 * 32 random characters.
 */
export function buildRequest(call, merchant, request, { timestamp, nonce } = {}) {
  const at = timestamp === undefined || timestamp === null ? unixNow() : BigInt(timestamp);
  return signedRequest(stemOf(call), merchant, request, at, nonce ?? undefined);
}

/**
 * Step two without the HTTP: an answer received elsewhere (`{status, headers, body}`; headers an
 * object or pairs, body text or bytes) verified and read; `now` in Unix seconds, default now.
 */
export function parseResponse(call, merchant, { status, headers, body }, now = Math.floor(Date.now() / 1000)) {
  const stem = stemOf(call);
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers ?? {});
  const list = pairs.map(([k, v]) => [String(k), Array.isArray(v) ? v.join(', ') : String(v)]);
  return readAnswer(stem, merchant, { status, headers: list, body: bodyText(body) }, BigInt(now));
}

function bodyText(body) {
  if (typeof body === 'string') return body;
  try {
    return utf8.decode(body);
  } catch {
    throw new MalformedResponseError(null, 'the body is not UTF-8');
  }
}

/** One call: built and signed (natively), sent by Node, checked, verified (natively) and read. */
async function callV3(stem, merchant, request, options = {}) {
  const now = unixNow();
  const signed = signedRequest(stem, merchant, request, now, options.nonce ?? undefined);
  const { status, headers, body } = await exchange({ method: signed.method, url: signed.url, headers: signed.headers, body: signed.body, needsClientCertificate: false }, options);
  return readAnswer(stem, merchant, { status, headers, body: bodyText(body) }, now);
}

/** Issues a coupon; every error says whether it may have been issued (`outcomeUnknown`). */
export async function issueCoupon(merchant, request, options = {}) {
  try {
    return await callV3(CALLS.issueCoupon, merchant, request, options);
  } catch (e) {
    if (!(e instanceof WxCouponError)) throw e;
    const wire = toV3Error(e);
    const unknown = wire !== null && v3.issueOutcomeUnknown(wire);
    const number = request && typeof request.outRequestNo === 'string' ? request.outRequestNo : null;
    throw e.setOutcome(unknown, number, unknown ? v3.issueOutcomeUnknownAdvice() : null);
  }
}

/** The WIT `v3-error` an error of this package stands for (null for others). */
export function toV3Error(e) {
  if (e instanceof InvalidInputError) return { tag: 'invalid-input', val: { field: e.field, rule: e.rule } };
  if (e instanceof RefusedError) {
    const opt = (v) => (v === null ? undefined : v);
    return { tag: 'refused', val: { status: e.status, code: opt(e.code), message: opt(e.wechatMessage), detail: opt(e.detail), meaning: opt(e.meaning), advice: e.advice } };
  }
  if (e instanceof AnswerNotVerifiedError) {
    const r = e.refusal;
    return { tag: 'answer-not-verified', val: r.tag === 'stale-timestamp' ? { tag: r.tag, val: BigInt(r.val) } : r };
  }
  if (e instanceof MalformedResponseError) return { tag: 'malformed-response', val: { field: e.field ?? undefined, problem: e.problem } };
  if (e instanceof TransportError) return { tag: 'transport', val: { message: e.detail, mayHaveReachedWechat: e.mayHaveReachedWechat } };
  if (e instanceof DeniedError) return { tag: 'denied', val: e.detail };
  return null;
}

export const queryStock = (merchant, request, options) => callV3(CALLS.queryStock, merchant, request, options);
export const queryCoupon = (merchant, request, options) => callV3(CALLS.queryCoupon, merchant, request, options);
export const createStock = (merchant, request, options) => callV3(CALLS.createStock, merchant, request, options);
export const startStock = (merchant, request, options) => callV3(CALLS.startStock, merchant, request, options);
export const pauseStock = (merchant, request, options) => callV3(CALLS.pauseStock, merchant, request, options);
export const restartStock = (merchant, request, options) => callV3(CALLS.restartStock, merchant, request, options);
export const stopStock = (merchant, request, options) => callV3(CALLS.stopStock, merchant, request, options);
export const listStocks = (merchant, request, options) => callV3(CALLS.listStocks, merchant, request, options);
export const listStockMerchants = (merchant, request, options) => callV3(CALLS.listStockMerchants, merchant, request, options);
export const listStockItems = (merchant, request, options) => callV3(CALLS.listStockItems, merchant, request, options);
export const downloadUseFlow = (merchant, request, options) => callV3(CALLS.downloadUseFlow, merchant, request, options);
export const downloadRefundFlow = (merchant, request, options) => callV3(CALLS.downloadRefundFlow, merchant, request, options);
export const listUserCoupons = (merchant, request, options) => callV3(CALLS.listUserCoupons, merchant, request, options);
export const setCallback = (merchant, request, options) => callV3(CALLS.setCallback, merchant, request, options);
export const getCallback = (merchant, request, options) => callV3(CALLS.getCallback, merchant, request, options);

/** A flow file's rows (`downloadUseFlow`'s answer): fetched unsigned, its SHA1 checked. */
export async function fetchFlowRows(file, options = {}) {
  const { status, body } = await exchange({ method: 'GET', url: file.url, headers: [], body: '', needsClientCertificate: false }, options);
  if (status !== 200) throw new RefusedError({ status, advice: status >= 500 ? 'retry' : 'do-not-retry' });
  return plain(run(() => v3.readFlowRows(wit(file), body)));
}

/**
 * Reads a COUPON.USE callback: `headers` as received (an object or pairs), `body` the text.
 * Verified (either key during a migration; a WECHATPAY/SIGNTEST/ probe refused), decrypted, typed.
 * Throws NotificationError, whose `status` and `failureBody` are WeChat's answer.
 */
export function readCouponUse(merchant, headers, body, now = Math.floor(Date.now() / 1000)) {
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers ?? {});
  const list = pairs.map(([k, v]) => [String(k), Array.isArray(v) ? v.join(', ') : String(v)]);
  return plain(run(() => v3.readCouponUse(merchant, list, String(body), BigInt(now)), (e) => new NotificationError(e)));
}
