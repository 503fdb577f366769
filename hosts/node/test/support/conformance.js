// The shared conformance cases (../../../conformance/cases) in this package's shapes, and the live
// scenario runner. Rules: conformance/README.md.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as wx from 'wxcoupon';
import { canonical, canonicalResponse, stableStringify } from 'wxcoupon/canonical';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../../..');

export function loadCases(group) {
  return JSON.parse(readFileSync(join(ROOT, 'conformance/cases', `${group}.json`), 'utf8'));
}

export function mergedMerchant(doc, c) {
  return { ...(doc.merchant ?? {}), ...(c.merchant ?? {}) };
}

/** A conformance merchant (snake_case, WIT-like host) → this package's merchant object. */
export function merchantFrom(m) {
  const out = {
    appid: m.appid,
    mchId: m.mch_id,
    apiKey: m.api_key,
    signType: m.sign_type,
    sandbox: m.sandbox,
    requireSignedResponses: m.signature_policy === 'require',
  };
  if (m.host === 'backup') out.backupHost = true;
  else if (m.host && typeof m.host === 'object') out.baseUrl = m.host.custom;
  return out;
}

const CAMEL = {
  coupon_stock_id: 'couponStockId',
  partner_trade_no: 'partnerTradeNo',
  coupon_id: 'couponId',
  stock_id: 'stockId',
  op_user_id: 'opUserId',
  device_info: 'deviceInfo',
  message_type: 'messageType',
};

/** A conformance request (the Rust CLI's JSON) → this package's request object. */
export function requestFrom(r) {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [CAMEL[k] ?? k, v]));
}

export function parseBody(c) {
  const one = c.body_file ? readFileSync(join(ROOT, c.body_file)) : Buffer.from(c.body, 'utf8');
  return new Uint8Array(Buffer.concat(Array(c.repeat ?? 1).fill(one)));
}

export function maskVolatile(value, paths) {
  if (!value || typeof value.ok !== 'object' || value.ok === null) return value;
  const out = JSON.parse(JSON.stringify(value));
  for (const path of paths) {
    const parts = path.split('.');
    let node = out.ok;
    for (const p of parts.slice(0, -1)) node = node && typeof node === 'object' ? node[p] : undefined;
    if (node && typeof node === 'object' && parts.at(-1) in node) node[parts.at(-1)] = '<volatile>';
  }
  return out;
}

export function resolveRefs(request, results) {
  return Object.fromEntries(
    Object.entries(request).map(([k, v]) => [
      k,
      typeof v === 'string' ? v.replace(/\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}/g, (_, step, field) => String(results[step].ok[field])) : v,
    ]),
  );
}

/**
 * Runs the live scenario against a running simulator. `mode`:
 * - 'native': every call through Node's https (CA trusted per call, certificate when the step says);
 * - 'component-http': queries and certificate-less sends through the component's own wasi:http
 *   client on the simulator's plain-HTTP listener; sends with the certificate through Node's https;
 * - 'component-https': the same on the HTTPS listener (the process must trust the simulator's CA
 *   through NODE_EXTRA_CA_CERTS, as the shim uses Node's default trust store).
 * Returns {step name: canonical, masked result}.
 */
export async function runScenario(doc, sim, mode) {
  const tlsMerchant = merchantFrom({ ...doc.merchant, host: { custom: sim.https_base_url } });
  const componentMerchant =
    mode === 'component-http' ? merchantFrom({ ...doc.merchant, host: { custom: sim.http_base_url } }) : tlsMerchant;
  const ca = readFileSync(sim.ca);
  const identity = { cert: readFileSync(sim.client_cert), key: readFileSync(sim.client_key) };
  const results = {};
  for (const step of doc.steps) {
    const request = requestFrom(resolveRefs(step.request, results));
    const viaComponent = mode !== 'native' && !step.certificate;
    const merchant = viaComponent ? componentMerchant : tlsMerchant;
    const options = viaComponent ? { transport: 'component' } : { ca, ...(step.certificate ? identity : {}) };
    const fn = {
      send_coupon: wx.sendCoupon,
      query_coupon_stock: wx.queryCouponStock,
      querycouponsinfo: wx.queryCouponsInfo,
    }[step.call];
    results[step.name] = await canonical(() => fn(merchant, request, options), canonicalResponse);
  }
  return Object.fromEntries(Object.entries(results).map(([k, v]) => [k, maskVolatile(v, doc.volatile ?? [])]));
}

/** A canonical ERROR (conformance/README.md) → this package's error object. */
export function errorFrom(e) {
  switch (e.kind) {
    case 'invalid-input':
      return new wx.InvalidInputError(e.field, e.rule);
    case 'unexpected-status':
      return new wx.UnexpectedStatusError(e.status);
    case 'malformed-response':
      return new wx.MalformedResponseError(e.field, e.problem);
    case 'protocol':
      return new wx.ProtocolError(e.return_msg);
    case 'business':
      return new wx.BusinessError({
        errCode: e.err_code,
        errCodeDes: e.err_code_des,
        retMsg: e.ret_msg,
        meaning: e.meaning,
        advice: e.advice,
        retryable: e.retryable,
      });
    case 'signature':
      return new wx.SignatureError(e.problem);
    case 'transport':
      return new wx.TransportError(e.message, e.may_have_reached_wechat);
    case 'denied':
      return new wx.DeniedError(e.message);
    default:
      throw new Error(`unknown error kind ${e.kind}`);
  }
}

export { stableStringify };
