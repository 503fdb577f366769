// Between this package's JavaScript shapes and the WIT values jco lifts and lowers. The package's shapes are the
// WIT records with camelCase keys, numbers for u64/s64, null for `none`, a variant's case name for the variant,
// `fields` as an object and the request options spread into the request: one table names the three APIs, the
// conversions are generic over the records, and a field added to the WIT needs no code here.
import { InvalidInputError, MalformedResponseError } from './errors.js';

const SNAKE = new Map();
/**
 * The wire (snake_case) name of a camelCase key: what errors and the canonical form call it. Kept per key: every
 * call converts the same few dozen keys (the regular expression was 9 % of the v2 cycle's CPU profile).
 */
export function snake(key) {
  let name = SNAKE.get(key);
  if (name === undefined) {
    name = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (SNAKE.size < 1024) SNAKE.set(key, name); // bounded all the same: the keys come from tables and the WIT
  }
  return name;
}

const STOCK_CODES = { inactive: 1, 'under-review': 2, active: 4, voided: 8, 'sending-stopped': 16 };

/**
 * The APIs by wire name. `wit`: the suffix of their `v2` exports (`build…`, `parse…`) and, with a small first letter,
 * their `v2-client` export; `required`: the request's own fields; `extra`: what the result adds to the WIT record
 * (a stock status's wire number, an undocumented coupon state as sent).
 */
export const APIS = {
  send_coupon: { wit: 'SendCoupon', required: ['couponStockId', 'openid', 'partnerTradeNo'], extra: () => ({}) },
  query_coupon_stock: {
    wit: 'QueryCouponStock', required: ['couponStockId'], extra: ({ status }) => ({ statusCode: status.val ?? STOCK_CODES[status.tag] }),
  },
  querycouponsinfo: { wit: 'QueryCouponsInfo', required: ['couponId', 'openid', 'stockId'], extra: (c) => ({ stateRaw: c.state.val ?? null }) },
};
for (const [name, api] of Object.entries(APIS)) api.name = name;
APIS.query_coupons_info = APIS.querycouponsinfo; // the WIT's spelling, accepted too

/** The API entry of a wire name; InvalidInputError for anything else. */
export function apiOf(name) {
  if (typeof name === 'string' && Object.hasOwn(APIS, name)) return APIS[name];
  throw new InvalidInputError('api', 'must be send_coupon, query_coupon_stock or querycouponsinfo');
}

/** `value` when it is of `type`; undefined when absent; InvalidInputError naming `field` otherwise. */
function optional(value, type, field) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== type) throw new InvalidInputError(field, type === 'string' ? 'must be a string' : 'must be true or false');
  return value;
}

const SIGN_TYPES = { MD5: 'md5', md5: 'md5', 'HMAC-SHA256': 'hmac-sha256', 'hmac-sha256': 'hmac-sha256' };

/** `'MD5'` or `'HMAC-SHA256'` (default MD5) → the WIT `sign-type`. */
export function witSignType(value, field = 'merchant.sign_type') {
  if (value === undefined || value === null) return 'md5';
  if (typeof value === 'string' && Object.hasOwn(SIGN_TYPES, value)) return SIGN_TYPES[value];
  throw new InvalidInputError(field, 'must be MD5 or HMAC-SHA256');
}

/**
 * `{appid, mchId, apiKey, signType?, baseUrl?, backupHost?, sandbox?, requireSignedResponses?}`
 * → the WIT `merchant`. Contents (lengths, URL form, sandbox + HMAC) are the component's to check.
 */
export function witMerchant(m) {
  if (m === null || typeof m !== 'object') throw new InvalidInputError('merchant', 'required');
  const get = (key, type = 'string') => optional(m[key], type, `merchant.${snake(key)}`);
  const [baseUrl, backup] = [get('baseUrl'), get('backupHost', 'boolean')];
  if (baseUrl !== undefined && backup) {
    throw new InvalidInputError('merchant.backup_host', 'cannot be combined with base_url: choose one endpoint');
  }
  return {
    appid: get('appid') ?? '',
    mchId: get('mchId') ?? '',
    apiKey: get('apiKey') ?? '',
    signType: witSignType(m.signType),
    host: baseUrl !== undefined ? { tag: 'custom', val: baseUrl } : { tag: backup ? 'backup' : 'production' },
    sandbox: get('sandbox', 'boolean') ?? false,
    signaturePolicy: get('requireSignedResponses', 'boolean') ? 'require' : 'verify-if-present',
  };
}

/** The WIT `common-options` keys and the wire fields they fill (`messageType` is `type`). */
const OPTIONS = { opUserId: 'op_user_id', deviceInfo: 'device_info', version: 'version', messageType: 'type' };

/** A request (of `api`, else of the API its `api` key names) → `[the API's entry, its WIT record]`. */
export function witRequest(r, api) {
  if (r === null || typeof r !== 'object') throw new InvalidInputError('request', 'required');
  api ??= apiOf(r.api);
  const record = Object.fromEntries(api.required.map((key) => [key, optional(r[key], 'string', snake(key)) ?? '']));
  record.options = Object.fromEntries(Object.entries(OPTIONS).map(([key, field]) => [key, optional(r[key], 'string', field)]));
  return [api, record];
}

/** A WIT result record of `api` → the package's result, tagged with the API's wire name. */
export function result(api, record) {
  return { api: api.name, ...lift(record), ...api.extra(record) };
}

/** A record's values lifted; a nested record's (a time's) errors name the field holding it. */
function lift(record, holder) {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, liftValue(value, holder ?? snake(key))]));
}

function liftValue(value, field) {
  if (value === undefined) return null;
  if (typeof value === 'bigint') {
    if (!Number.isSafeInteger(Number(value))) throw new MalformedResponseError(field, "is beyond JavaScript's safe integer range");
    return Number(value);
  }
  if (Array.isArray(value)) return Object.fromEntries(value); // `fields`, the one list of a result
  if (value !== null && typeof value === 'object') return 'tag' in value ? value.tag : lift(value, field);
  return value;
}

const UTF8 = new TextEncoder();
/** The WIT `http-request` → the package's, whose body is the UTF-8 bytes it promised. */
export function httpRequest(h) {
  return { ...h, body: UTF8.encode(h.body) };
}
