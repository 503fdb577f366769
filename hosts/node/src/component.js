// The component, transpiled by jco into ../gen (npm run build). Loading it compiles the core
// wasm once per process; every call below runs in that one instance.
import { fromProtocolError } from './errors.js';

let bindings;
try {
  bindings = await import('../gen/wxcoupon.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('gen/wxcoupon.js')) {
    throw new Error('wxcoupon: the component has not been transpiled: run `npm run build` in the package');
  }
  throw e;
}

/** The sans-IO interface (`wxpay:coupon/v2`) and the client one (`wxpay:coupon/v2-client`). */
export const { v2, v2Client } = bindings;

/** API v3's sans-IO interface (`wxpay:coupon/v3`, with the `merchant` resource). */
export const { v3 } = bindings;

/**
 * Runs a component export; its `err` result (jco throws it as the `payload` of an exception)
 * becomes the matching WxCouponError through `fromError`: `v2` answers `protocol-error`s (the
 * default), `v2-client` `call-error`s.
 */
export function call(fn, fromError = fromProtocolError) {
  try {
    return fn();
  } catch (e) {
    const payload = e && Object.prototype.hasOwnProperty.call(e, 'payload') ? e.payload : undefined;
    if (payload && typeof payload === 'object' && typeof payload.tag === 'string') {
      throw fromError(payload);
    }
    throw e;
  }
}
