// The v3 conformance cases (conformance/cases/v3.json, v3-live.json) in this package's shapes:
// each call by its export name, its arguments from the canonical JSON form of WIT values into
// what jco takes (camelCase keys, `{tag, val}` variants, BigInt for 64-bit integers) and its
// answer back. jco keeps no WIT types at run time, so the few inputs that are not records of
// strings and numbers are converted by their function. Rules: conformance/README.md.
import { readFileSync } from 'node:fs';
import * as wx from 'wxcoupon';
import { v3 } from '../../src/component.js';
import { toV3Error, wit } from '../../src/v3.js';

const camel = (s) => s.replace(/[-_]([a-z0-9])/g, (_, c) => c.toUpperCase());
const snake = (s) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Canonical record keys → jco's camelCase, deep. */
export function camelKeys(value) {
  if (Array.isArray(value)) return value.map(camelKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), camelKeys(v)]));
}

/** A canonical variant → jco's `{tag, val}`; `payload` converts the payload by case. */
function variant(value, payload = (_case, v) => v) {
  if (typeof value === 'string') return { tag: value };
  const [[tag, val]] = Object.entries(value);
  return { tag, val: payload(tag, val) };
}

const refusal = (v) => variant(v, (tag, val) => (tag === 'stale-timestamp' ? BigInt(val) : val));
const v3Error = (v) => variant(v, (tag, val) => (tag === 'answer-not-verified' ? refusal(val) : camelKeys(val)));
const notificationError = (v) => variant(v, (tag, val) => (tag === 'not-verified' ? refusal(val) : camelKeys(val)));

/** What jco lifted → the canonical JSON form. */
export function toCanonical(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (Array.isArray(value)) return value.map(toCanonical);
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.includes('tag') && keys.every((k) => k === 'tag' || k === 'val')) {
      return value.val === undefined ? value.tag : { [value.tag]: toCanonical(value.val) };
    }
    return Object.fromEntries(keys.map((k) => [snake(k), toCanonical(value[k])]));
  }
  return value;
}

const merchants = new Map();

/** The merchant of canonical settings, opened once. */
function merchantOf(settings) {
  const key = JSON.stringify(settings);
  if (!merchants.has(key)) merchants.set(key, v3.Merchant.open({ platformCertificates: [], ...wit(camelKeys(settings)) }));
  return merchants.get(key);
}

/** One argument of `fn`, from its canonical form. */
function argument(fn, index, value) {
  if (fn === 'issue-outcome-unknown') return v3Error(value);
  if (fn === 'notification-http-status') return notificationError(value);
  if (fn === 'read-flow-rows' && index === 1) return new Uint8Array(Buffer.from(value, 'hex'));
  if (typeof value === 'number') return BigInt(value); // the top-level numbers are the s64 clocks
  if (value === null) return undefined;
  return wit(camelKeys(value));
}

/** One call by name (`v3.build-issue-coupon`): canonical arguments in, the canonical answer out. */
export function callByName(name, args) {
  const fn = name.replace(/^v3\./, '');
  try {
    // A merchant that does not open answers the call with `open`'s own error.
    const values = args.map((a, i) => (a !== null && typeof a === 'object' && 'merchant_serial_no' in a ? merchantOf(a) : argument(fn, i, a)));
    return { ok: toCanonical(v3[camel(fn)](...values)) };
  } catch (e) {
    if (e && Object.prototype.hasOwnProperty.call(e, 'payload')) return { error: toCanonical(e.payload) };
    throw e;
  }
}

export function runCase(doc, c) {
  const merchant = { ...doc.merchant, ...(c.merchant ?? {}) };
  const answers = [];
  let prev = null;
  for (const call of c.calls) {
    const args = call.args.map((a) => (a === '$merchant' ? merchant : a === '$prev' ? prev : a));
    const answer = callByName(call.function, args);
    prev = answer.ok ?? null;
    answers.push(answer);
  }
  return answers;
}

const REF = /\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}/g;

function resolve(value, refs) {
  if (typeof value === 'string') return value.replace(REF, (_, step, field) => String(refs[step][field]));
  if (Array.isArray(value)) return value.map((v) => resolve(v, refs));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, refs)]));
  return value;
}

export function mask(answer, paths) {
  const out = JSON.parse(JSON.stringify(answer));
  const walk = (node, parts) => {
    if (Array.isArray(node)) node.forEach((item) => walk(item, parts));
    else if (node && typeof node === 'object' && parts[0] in node) {
      if (parts.length === 1) node[parts[0]] = '<volatile>';
      else walk(node[parts[0]], parts.slice(1));
    }
  };
  if ('ok' in out) for (const p of paths) walk(out.ok, p.split('.'));
  return out;
}

/** RFC 3339 in Beijing time, as WeChat writes it. */
function beijing(unixSeconds) {
  return new Date((unixSeconds + 8 * 3600) * 1000).toISOString().replace(/\.\d{3}Z$/, '+08:00');
}

/** The live steps through this package's v3 calls (Node's https, the simulator's CA as `ca`). */
export async function runLive(doc, sim) {
  const merchant = wx.v3.openMerchant({
    mchid: sim.mch_id,
    merchantSerialNo: sim.v3_merchant_serial_no,
    apiv3Key: doc.merchant.apiv3_key,
    privateKeyPem: readFileSync(sim.v3_merchant_key, 'utf8'),
    wechatpayPublicKeyId: sim.v3_public_key_id,
    wechatpayPublicKeyPem: readFileSync(sim.v3_wechatpay_public_key, 'utf8'),
    baseUrl: sim.https_base_url,
  });
  const options = { ca: readFileSync(sim.ca) };
  const now = Math.floor(Date.now() / 1000);
  const refs = { sim: { mchid: sim.mch_id, appid: sim.appid }, time: { begin: beijing(now - 60), end: beijing(now + 30 * 86400) } };
  const out = [];
  for (const step of doc.steps) {
    const request = camelKeys(resolve(step.request, refs));
    let answer;
    try {
      answer = { ok: toCanonical(await wx.v3[camel(step.call)](merchant, request, options)) };
      refs[step.name] = answer.ok;
    } catch (e) {
      const wire = toV3Error(e);
      if (wire === null) throw e;
      answer = { error: toCanonical(wire) };
      refs[step.name] = {};
    }
    out.push([step, mask(answer, doc.volatile ?? [])]);
  }
  return out;
}
