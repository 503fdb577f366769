// Between this package's JavaScript shapes (camelCase, plain numbers, field objects) and the WIT
// values jco lifts and lowers (`{tag, val}` variants, kebab-case enums, bigint u64/s64).
import { InvalidInputError, MalformedResponseError } from './errors.js';

/** The wire names of the three APIs, and the WIT enum cases they stand for. */
const API_CASES = {
  send_coupon: 'send-coupon',
  query_coupon_stock: 'query-coupon-stock',
  querycouponsinfo: 'query-coupons-info',
  query_coupons_info: 'query-coupons-info',
};

export function witApi(api) {
  const wit = API_CASES[api];
  if (!wit) {
    throw new InvalidInputError('api', 'must be send_coupon, query_coupon_stock or querycouponsinfo');
  }
  return wit;
}

function optionalText(value, field) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new InvalidInputError(field, 'must be a string');
  return value;
}

function text(value, field) {
  return optionalText(value, field) ?? '';
}

function flag(value, field) {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new InvalidInputError(field, 'must be true or false');
  return value;
}

export function witSignType(value, field = 'merchant.sign_type') {
  if (value === undefined || value === null) return 'md5';
  switch (value) {
    case 'MD5':
    case 'md5':
      return 'md5';
    case 'HMAC-SHA256':
    case 'hmac-sha256':
      return 'hmac-sha256';
    default:
      throw new InvalidInputError(field, 'must be MD5 or HMAC-SHA256');
  }
}

/**
 * `{appid, mchId, apiKey, signType?, baseUrl?, backupHost?, sandbox?, requireSignedResponses?}`
 * → the WIT `merchant`. Contents (lengths, URL form, sandbox + HMAC) are the component's to check.
 */
export function witMerchant(m) {
  if (m === null || typeof m !== 'object') throw new InvalidInputError('merchant', 'required');
  const baseUrl = optionalText(m.baseUrl, 'merchant.base_url');
  const backup = flag(m.backupHost, 'merchant.backup_host');
  if (baseUrl !== undefined && backup) {
    throw new InvalidInputError('merchant.backup_host', 'cannot be combined with base_url: choose one endpoint');
  }
  return {
    appid: text(m.appid, 'merchant.appid'),
    mchId: text(m.mchId, 'merchant.mch_id'),
    apiKey: text(m.apiKey, 'merchant.api_key'),
    signType: witSignType(m.signType),
    host: baseUrl !== undefined ? { tag: 'custom', val: baseUrl } : { tag: backup ? 'backup' : 'production' },
    sandbox: flag(m.sandbox, 'merchant.sandbox'),
    signaturePolicy: flag(m.requireSignedResponses, 'merchant.require_signed_responses')
      ? 'require'
      : 'verify-if-present',
  };
}

function commonOptions(r) {
  return {
    opUserId: optionalText(r.opUserId, 'op_user_id'),
    deviceInfo: optionalText(r.deviceInfo, 'device_info'),
    version: optionalText(r.version, 'version'),
    messageType: optionalText(r.messageType, 'type'),
  };
}

function requestObject(r) {
  if (r === null || typeof r !== 'object') throw new InvalidInputError('request', 'required');
  return r;
}

export function witSendCoupon(r) {
  requestObject(r);
  return {
    couponStockId: text(r.couponStockId, 'coupon_stock_id'),
    openid: text(r.openid, 'openid'),
    partnerTradeNo: text(r.partnerTradeNo, 'partner_trade_no'),
    options: commonOptions(r),
  };
}

export function witQueryCouponStock(r) {
  requestObject(r);
  return { couponStockId: text(r.couponStockId, 'coupon_stock_id'), options: commonOptions(r) };
}

export function witQueryCouponsInfo(r) {
  requestObject(r);
  return {
    couponId: text(r.couponId, 'coupon_id'),
    openid: text(r.openid, 'openid'),
    stockId: text(r.stockId, 'stock_id'),
    options: commonOptions(r),
  };
}

const REQUESTS = {
  'send-coupon': witSendCoupon,
  'query-coupon-stock': witQueryCouponStock,
  'query-coupons-info': witQueryCouponsInfo,
};

/** `{api, ...fields}` → the WIT `coupon-request` variant. */
export function witRequest(r) {
  requestObject(r);
  const tag = witApi(r.api);
  return { tag, val: REQUESTS[tag](r) };
}

// --- results ---------------------------------------------------------------------------------

function num(value, field) {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new MalformedResponseError(field, "is beyond JavaScript's safe integer range");
    }
    return Number(value);
  }
  return value;
}

function opt(value) {
  return value === undefined ? null : value;
}

function time(t, field) {
  return t ? { raw: t.raw, unixSeconds: num(t.unixSeconds, field) } : null;
}

function fieldsObject(list) {
  return Object.fromEntries(list);
}

const STOCK_CODES = { inactive: 1, 'under-review': 2, active: 4, voided: 8, 'sending-stopped': 16 };

export function sentCoupon(s) {
  return {
    api: 'send_coupon',
    couponId: s.couponId,
    couponStockId: s.couponStockId,
    openid: s.openid,
    respCount: opt(s.respCount),
    successCount: opt(s.successCount),
    failedCount: opt(s.failedCount),
    signature: s.signature,
    fields: fieldsObject(s.fields),
  };
}

export function couponStock(s) {
  return {
    api: 'query_coupon_stock',
    couponStockId: s.couponStockId,
    couponName: opt(s.couponName),
    couponValue: num(s.couponValue, 'coupon_value'),
    couponMinimum: num(s.couponMinimum, 'coupon_minimum'),
    couponType: opt(s.couponType),
    status: s.status.tag,
    statusCode: s.status.tag === 'unknown' ? s.status.val : STOCK_CODES[s.status.tag],
    couponTotal: num(s.couponTotal, 'coupon_total'),
    maxQuota: num(s.maxQuota, 'max_quota'),
    isSendNum: num(s.isSendNum, 'is_send_num'),
    lockedNum: num(s.lockedNum, 'locked_num'),
    usedNum: num(s.usedNum, 'used_num'),
    couponBudget: num(s.couponBudget, 'coupon_budget'),
    beginTime: time(s.beginTime, 'begin_time'),
    endTime: time(s.endTime, 'end_time'),
    createTime: time(s.createTime, 'create_time'),
    signature: s.signature,
    fields: fieldsObject(s.fields),
  };
}

export function couponInfo(c) {
  return {
    api: 'querycouponsinfo',
    couponId: c.couponId,
    couponStockId: c.couponStockId,
    couponValue: num(c.couponValue, 'coupon_value'),
    couponMinimum: num(c.couponMinimum, 'coupon_minimum'),
    couponName: opt(c.couponName),
    couponDesc: opt(c.couponDesc),
    state: c.state.tag,
    stateRaw: c.state.tag === 'unknown' ? c.state.val : null,
    couponUseValue: num(c.couponUseValue, 'coupon_use_value'),
    couponRemainValue: num(c.couponRemainValue, 'coupon_remain_value'),
    beginTime: time(c.beginTime, 'begin_time'),
    endTime: time(c.endTime, 'end_time'),
    sendTime: time(c.sendTime, 'send_time'),
    sendSource: opt(c.sendSource),
    isPartialUse: opt(c.isPartialUse),
    consumerMchId: opt(c.consumerMchId),
    signature: c.signature,
    fields: fieldsObject(c.fields),
  };
}

/** The WIT `coupon-response` variant → the result object of its API. */
export function couponResponse(r) {
  switch (r.tag) {
    case 'send-coupon':
      return sentCoupon(r.val);
    case 'query-coupon-stock':
      return couponStock(r.val);
    default:
      return couponInfo(r.val);
  }
}

export function httpRequest(h) {
  return {
    method: h.method,
    url: h.url,
    headers: h.headers.map(([k, v]) => [k, v]),
    body: h.body,
    needsClientCertificate: h.needsClientCertificate,
  };
}
