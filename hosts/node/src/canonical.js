// The canonical JSON form of results and errors (conformance/README.md): the Rust core's serde form, `{"ok": …}`
// or `{"error": {"kind": …}}`, which every host produces for the shared cases. It is the WIT's shapes with snake_case
// keys and null for `none`: results are renamed key by key, errors go through the WIT value they stand for.
import { APIS, snake } from './convert.js';
import { toCallError, WxCouponError } from './errors.js';

/** camelCase keys → snake_case, all the way down but for the wire `fields`; undefined (`none`) → null. */
function snakeKeys(value) {
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), k === 'fields' ? { ...v } : snakeKeys(v)]));
}

/** A result of sendCoupon / queryCouponStock / queryCouponsInfo / parseResponse. */
export function canonicalResponse(r) {
  if (typeof r?.api !== 'string' || !Object.hasOwn(APIS, r.api)) throw new TypeError(`not a wxcoupon result: ${JSON.stringify(r)}`);
  // An undocumented stock status or coupon state shows its wire value inside the variant.
  const { statusCode, stateRaw, ...rest } = r;
  const out = snakeKeys(rest);
  if (out.status === 'unknown') out.status = { unknown: statusCode };
  if (out.state === 'unknown') out.state = { unknown: stateRaw };
  return out;
}

/** A buildRequest result; the body as UTF-8 text (invalid sequences replaced). */
export function canonicalHttpRequest(h) {
  return snakeKeys({ ...h, body: new TextDecoder('utf-8').decode(h.body) });
}

/** The name a case whose WIT payload is one value gives it in the canonical form. */
const SCALAR_PAYLOADS = { 'unexpected-status': 'status', protocol: 'return_msg', signature: 'problem', denied: 'message' };

/** A WxCouponError. Anything else is not an outcome of the contract and is rethrown. */
export function canonicalError(e) {
  const wit = e instanceof WxCouponError ? toCallError(e) : null;
  if (wit === null) throw e;
  const { tag: kind, val } = wit.tag === 'protocol' ? wit.val : wit;
  const payload = typeof val === 'object' ? snakeKeys(val) : { [SCALAR_PAYLOADS[kind]]: val };
  // `retryable` is no longer in the WIT; the core's form still shows it beside `advice`.
  return kind === 'business' ? { kind, ...payload, retryable: e.retryable } : { kind, ...payload };
}

/** Runs `fn` (sync or async) and returns `{ok: toJson(value)}` or `{error: …}`. */
export async function canonical(fn, toJson = (v) => v) {
  return Promise.resolve().then(fn).then(toJson).then((ok) => ({ ok }), (e) => ({ error: canonicalError(e) }));
}

/** JSON with sorted keys: two canonical values are equal when these strings are. */
export function stableStringify(value) {
  const sorted = (v) => Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]));
  return JSON.stringify(value, (_, v) => (v && typeof v === 'object' && !Array.isArray(v) ? sorted(v) : v), 1);
}
