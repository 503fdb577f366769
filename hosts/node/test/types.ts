// Compiled by `tsc` (npm test): the README's usage type-checks against index.d.ts.
import {
  v3,
  BusinessError,
  buildRequest,
  outcomeUnknown,
  outcomeUnknownAdvice,
  parseResponse,
  queryCouponStock,
  queryCouponsInfo,
  sendCoupon,
  sign,
  TransportError,
  verify,
  WxCouponError,
  type Merchant,
} from 'wxcoupon';
import { canonical, canonicalResponse } from 'wxcoupon/canonical';

declare const pem: { cert: string; key: string };
const merchant: Merchant = { appid: 'wx5edab3bdfba3dc1c', mchId: '10000098', apiKey: 'k'.repeat(32) };

export async function usage(): Promise<string> {
  try {
    const coupon = await sendCoupon(
      merchant,
      { couponStockId: '1757', openid: 'o-user', partnerTradeNo: '1000009820261128000001' },
      { cert: pem.cert, key: pem.key },
    );
    const stock = await queryCouponStock(merchant, { couponStockId: coupon.couponStockId });
    const n: number | null = stock.isSendNum;
    const info = await queryCouponsInfo(merchant, { couponId: coupon.couponId, openid: 'o-user', stockId: '1757' }, { transport: 'component' });
    const state: 'usable' | 'used' | 'expired' | 'locked' | 'unknown' = info.state;
    return `${coupon.couponId} ${n} ${state}`;
  } catch (e) {
    if (e instanceof BusinessError && e.retryable) return e.advice;
    if (e instanceof WxCouponError && e.outcomeUnknown) return `retry ${e.partnerTradeNo ?? ''}: ${outcomeUnknownAdvice()}`;
    if (e instanceof TransportError && e.mayHaveReachedWechat) return 'reconcile';
    throw e;
  }
}

const s: string = sign({ a: '1' }, 'k'.repeat(32), 'HMAC-SHA256');
const check: 'verified-md5' | 'verified-hmac-sha256' | 'absent' = verify([['a', '1'], ['sign', s]], 'k');
const req = buildRequest(merchant, { api: 'query_coupon_stock', couponStockId: '1757' }, 'abc');
const body: Uint8Array = req.body;
const parsed = parseResponse(merchant, 'query_coupon_stock', 200, '<xml/>');
const code: number = parsed.statusCode;
void check;
void body;
void code;
declare const failure: WxCouponError;
const unknown: boolean = outcomeUnknown('send_coupon', failure);
void unknown;
void canonical(() => parsed, canonicalResponse);

// API v3: numbers in and out, typed answers and errors.
async function v3Usage(settings: { mchid: string; merchantSerialNo: string; apiv3Key: string; privateKeyPem: string }) {
  const m = v3.openMerchant(settings);
  const issued: { couponId: string } = await v3.issueCoupon(m, { openid: 'o', stockId: '1', outRequestNo: 'n', appid: 'a', stockCreatorMchid: '1', couponValue: 100 });
  const page = await v3.listStocks(m, { offset: 0, limit: 10, stockCreatorMchid: '1' });
  const total: number = page.totalCount;
  try {
    v3.readCouponUse(m, { 'wechatpay-serial': 'x' }, '{}');
  } catch (e) {
    if (e instanceof v3.NotificationError) console.log(e.status, e.failureBody);
  }
  const signed: { method: 'GET' | 'POST'; url: string; headers: Array<[string, string]> } = v3.buildRequest('issueCoupon', m, { openid: 'o', stockId: '1', outRequestNo: 'n', appid: 'a', stockCreatorMchid: '1' }, { timestamp: 1700000000 });
  const read: { couponId: string } = v3.parseResponse('issueCoupon', m, { status: 200, headers: { 'wechatpay-serial': 'x' }, body: '{}' }, 1700000003);
  return [issued, total, signed, read];
}
void v3Usage;
