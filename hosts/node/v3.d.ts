// Types of `wxcoupon`'s `v3` namespace (src/v3.js). The wire shapes are jco's, from
// wit/coupon.wit (gen/); this file says only how the package's differ: whole numbers are
// `number`, never BigInt, both ways.
import type * as W from './gen/interfaces/wxpay-coupon-v3-types.js';
import type { WxCouponError } from './index.js';

/** `T` with every BigInt a number, deep. */
export type Numbers<T> = T extends bigint ? number
  : T extends Uint8Array ? T
  : T extends Array<infer E> ? Array<Numbers<E>>
  : T extends object ? { [K in keyof T]: Numbers<T[K]> } : T;

/** A v3 merchant held inside the component (the WIT `merchant` resource). */
export interface Merchant {
  mchid(): string;
  /** Whether it holds the private key. */
  signs(): boolean;
  /** The serials answers are verified by. */
  serials(): string[];
  /** Adds a platform certificate (PEM); returns its serial. */
  addPlatformCertificate(pem: string): string;
}

/** The options of a call: timeouts, the response cap, `ca` (a private CA, PEM), `nonce`. */
export interface V3Options {
  connectTimeoutMs?: number;
  firstByteTimeoutMs?: number;
  betweenBytesTimeoutMs?: number;
  maxResponseBytes?: number;
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  nonce?: string;
}

/** Opens a merchant inside the component; its keys stay there. */
export function openMerchant(settings: Numbers<Omit<W.MerchantSettings, 'platformCertificates'>> & { platformCertificates?: string[] }): Merchant;

type Call<Req, Ans> = (merchant: Merchant, request: Numbers<Req>, options?: V3Options) => Promise<Numbers<Ans>>;
export const issueCoupon: Call<W.IssueCouponRequest, W.IssuedCoupon>;
export const queryStock: Call<W.QueryStockRequest, W.Stock>;
export const queryCoupon: Call<W.QueryCouponRequest, W.Coupon>;
export const createStock: Call<W.CreateStockRequest, W.CreatedStock>;
export const startStock: Call<W.StockChangeRequest, W.StockChanged>;
export const pauseStock: Call<W.StockChangeRequest, W.StockChanged>;
export const restartStock: Call<W.StockChangeRequest, W.StockChanged>;
export const stopStock: Call<W.StockChangeRequest, W.StockChanged>;
export const listStocks: Call<W.ListStocksRequest, W.StockPage>;
export const listStockMerchants: Call<W.StockListingRequest, W.IdPage>;
export const listStockItems: Call<W.StockListingRequest, W.IdPage>;
export const downloadUseFlow: Call<W.FlowRequest, W.FlowFile>;
export const downloadRefundFlow: Call<W.FlowRequest, W.FlowFile>;
export const listUserCoupons: Call<W.ListUserCouponsRequest, W.CouponPage>;
export const setCallback: Call<W.SetCallbackRequest, W.CallbackUpdated>;
export const getCallback: Call<W.GetCallbackRequest, W.CallbackSetting>;

/** A flow file's rows, fetched unsigned and its SHA1 checked. */
export function fetchFlowRows(file: Numbers<W.FlowFile>, options?: V3Options): Promise<Array<Numbers<W.FlowRow>>>;

/** A verified, decrypted COUPON.USE event; throws NotificationError. */
export function readCouponUse(
  merchant: Merchant,
  headers: Record<string, string | string[]> | Array<[string, string]>,
  body: string,
  now?: number,
): Numbers<W.CouponUseEvent>;

/** WeChat refused a v3 call. */
export class RefusedError extends WxCouponError {
  readonly status: number;
  readonly code: string | null;
  readonly wechatMessage: string | null;
  readonly detail: Numbers<W.RefusalDetail> | null;
  readonly meaning: string | null;
  readonly advice: W.RetryAdvice;
  readonly retryable: boolean;
}
/** A 2xx answer whose signature does not hold. */
export class AnswerNotVerifiedError extends WxCouponError {
  readonly refusal: Numbers<W.AnswerRefusal>;
}
/** A refused callback: answer WeChat with `status` and `failureBody`. */
export class NotificationError extends WxCouponError {
  readonly status: number;
  readonly failureBody: string;
}
/** The package's error for a WIT `v3-error`. */
export function fromV3Error(e: W.V3Error): WxCouponError;
