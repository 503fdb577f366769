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

/**
 * A v3 merchant (the WIT `merchant` resource): the component holds its settings and WeChat's
 * keys; Node holds its private key.
 */
export interface Merchant {
  mchid(): string;
  /** Whether it signs requests (it was opened with its private key). */
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

/**
 * Opens a merchant: the component reads everything but the private key, which Node reads once
 * and signs with (it never enters the component). Nothing secret can be read back.
 */
export function openMerchant(settings: Numbers<Omit<W.MerchantSettings, 'platformCertificates'>> & { platformCertificates?: string[] }): Merchant;

/** Each call's request and answer, by the call's name. */
export interface Calls {
  issueCoupon: [W.IssueCouponRequest, W.IssuedCoupon];
  queryStock: [W.QueryStockRequest, W.Stock];
  queryCoupon: [W.QueryCouponRequest, W.Coupon];
  createStock: [W.CreateStockRequest, W.CreatedStock];
  startStock: [W.StockChangeRequest, W.StockChanged];
  pauseStock: [W.StockChangeRequest, W.StockChanged];
  restartStock: [W.StockChangeRequest, W.StockChanged];
  stopStock: [W.StockChangeRequest, W.StockChanged];
  listStocks: [W.ListStocksRequest, W.StockPage];
  listStockMerchants: [W.StockListingRequest, W.IdPage];
  listStockItems: [W.StockListingRequest, W.IdPage];
  downloadUseFlow: [W.FlowRequest, W.FlowFile];
  downloadRefundFlow: [W.FlowRequest, W.FlowFile];
  listUserCoupons: [W.ListUserCouponsRequest, W.CouponPage];
  setCallback: [W.SetCallbackRequest, W.CallbackUpdated];
  getCallback: [W.GetCallbackRequest, W.CallbackSetting];
}
/** The name of a call (`'issueCoupon'` …). */
export type CallName = keyof Calls;

type Call<C extends CallName> = (merchant: Merchant, request: Numbers<Calls[C][0]>, options?: V3Options) => Promise<Numbers<Calls[C][1]>>;
export const issueCoupon: Call<'issueCoupon'>;
export const queryStock: Call<'queryStock'>;
export const queryCoupon: Call<'queryCoupon'>;
export const createStock: Call<'createStock'>;
export const startStock: Call<'startStock'>;
export const pauseStock: Call<'pauseStock'>;
export const restartStock: Call<'restartStock'>;
export const stopStock: Call<'stopStock'>;
export const listStocks: Call<'listStocks'>;
export const listStockMerchants: Call<'listStockMerchants'>;
export const listStockItems: Call<'listStockItems'>;
export const downloadUseFlow: Call<'downloadUseFlow'>;
export const downloadRefundFlow: Call<'downloadRefundFlow'>;
export const listUserCoupons: Call<'listUserCoupons'>;
export const setCallback: Call<'setCallback'>;
export const getCallback: Call<'getCallback'>;

/** A request built and signed, ready for any HTTP client (no `host` or `content-length`). */
export interface SignedRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Array<[string, string]>;
  body: string;
}

/** Step one of a call without the HTTP; `timestamp` (Unix seconds) defaults to now, `nonce` to random. */
export function buildRequest<C extends CallName>(call: C, merchant: Merchant, request: Numbers<Calls[C][0]>, at?: { timestamp?: number; nonce?: string }): SignedRequest;

/** Step two without the HTTP: an answer received elsewhere, verified and read; `now` in Unix seconds. */
export function parseResponse<C extends CallName>(
  call: C,
  merchant: Merchant,
  answer: { status: number; headers: Record<string, string | string[]> | Array<[string, string]>; body: string | Uint8Array },
  now?: number,
): Numbers<Calls[C][1]>;

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
