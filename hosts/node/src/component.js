// The component, transpiled by jco into ../gen (npm run build). Loading it compiles the core
// wasm once per process; every call below runs in that one instance.
import { fromWitError } from './errors.js';

let bindings;
try {
  bindings = await import('../gen/wxcoupon.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('gen/wxcoupon.js')) {
    throw new Error('wxcoupon: the component has not been transpiled: run `npm run build` in the package');
  }
  throw e;
}

export const { protocol, client } = bindings;

/** Runs a component export; its `err` result becomes the matching WxCouponError. */
export function call(fn) {
  try {
    return fn();
  } catch (e) {
    const payload = e && Object.prototype.hasOwnProperty.call(e, 'payload') ? e.payload : undefined;
    if (payload && typeof payload === 'object' && typeof payload.tag === 'string') {
      throw fromWitError(payload);
    }
    throw e;
  }
}
