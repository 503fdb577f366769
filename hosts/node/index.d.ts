// Types of the `wxcoupon` package. The wire shapes are the TypeScript jco generates from
// wit/coupon.wit (gen/, made by `npm run build` and shipped with the package); this file says only
// how the package's shapes differ from them, and declares what the WIT does not have.
import type * as Wit from './gen/interfaces/wxpay-coupon-v2-types.js';
import type { CallOptions as WitCallOptions } from './gen/interfaces/wxpay-coupon-v2-client.js';

/** API v3: every cash-coupon call and the COUPON.USE callback. */
export * as v3 from './v3.js';

/** The merchant settings every call needs (the WIT `merchant`, with flat endpoint settings). */
export interface Merchant extends Pick<Wit.Merchant, 'appid' | 'mchId' | 'apiKey'> {
  /** Request signature digest; default `'MD5'`. */
  signType?: 'MD5' | 'HMAC-SHA256';
  /** Instead of `https://api.mch.weixin.qq.com`: a simulator, an egress proxy. */
  baseUrl?: string;
  /** Use `https://api2.mch.weixin.qq.com` (not with `baseUrl`). */
  backupHost?: boolean;
  /** Prefix every path with `/sandboxnew` (MD5 only). */
  sandbox?: boolean;
  /** Refuse unsigned answers (real coupon answers are unsigned: off by default). */
  requireSignedResponses?: boolean;
}

/** Optional `op_user_id`, `device_info`, `version` and `type` (`messageType`); left out when absent. */
export type CommonOptions = Wit.CommonOptions;
/** A WIT request record with its common options side by side with its own fields. */
type Flat<R extends { options: Wit.CommonOptions }> = Omit<R, 'options'> & CommonOptions;
/** Issue one coupon; store the `partnerTradeNo` first and reuse it to retry. */
export interface SendCouponRequest extends Flat<Wit.SendCouponRequest> {}
/** Read a stock's settings and counters. */
export interface QueryCouponStockRequest extends Flat<Wit.QueryCouponStockRequest> {}
/** Read one coupon of one user; `stockId` is sent as `stock_id`. */
export interface QueryCouponsInfoRequest extends Flat<Wit.QueryCouponsInfoRequest> {}

/** Each API's request, by the API's wire name. */
interface Requests { send_coupon: SendCouponRequest; query_coupon_stock: QueryCouponStockRequest; querycouponsinfo: QueryCouponsInfoRequest }
/** The wire names of the three APIs. */
export type Api = keyof Requests;
/** A request of any API, tagged with its wire name (`buildRequest`). */
export type CouponRequest = { [A in Api]: { api: A } & Requests[A] }[Api];

/**
 * Per-call settings: the WIT `call-options` (timeouts default to 5000, 10000 and 10000 ms, the
 * answer to 65536 bytes, the `nonce_str` to 32 random characters) and the native transport's.
 */
export interface CallOptions extends WitCallOptions {
  /**
   * `'native'` (default): built and parsed by the component, sent by Node's https (client certificate, private CA,
   * keep-alive pool). `'component'`: the component's own wasi:http client on jco's shim (no client certificate;
   * trusts Node's default CAs and NODE_EXTRA_CA_CERTS; blocks the event loop while the call runs).
   */
  transport?: 'native' | 'component';
  /**
   * The merchant's API certificate, presented only with send_coupon: PEM `cert` + `key` (apiclient_cert.pem,
   * apiclient_key.pem), or `pfx` (apiclient_cert.p12) + `passphrase` (WeChat's default: the mch_id).
   */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  pfx?: Uint8Array;
  passphrase?: string;
  /** Trusted CA certificates instead of Node's defaults (a simulator's, an egress proxy's). */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** A custom `http.Agent`/`https.Agent` (native transport); default: a keep-alive pool per TLS setup. */
  agent?: unknown;
}

/** A WIT value as this package hands it out: u64/s64 as numbers, a variant as its case name. */
type Lifted<T> = T extends bigint ? number : T extends Wit.Fields ? Record<string, string>
  : T extends { tag: infer Case } ? Case : T extends object ? Plain<T> : T;
/** A WIT record as this package hands it out: every key present, `none` as null. */
type Plain<R> = { [K in keyof R]-?: {} extends Pick<R, K> ? Lifted<Exclude<R[K], undefined>> | null : Lifted<R[K]> };

/** What became of a response's `sign`. */
export type SignatureCheck = Wit.SignatureCheck;
/** A time as WeChat sent it (`raw`), with its instant in Unix seconds when the form is known. */
export type WechatTime = Plain<Wit.WechatTime>;
/** A stock's state; `'unknown'` for an undocumented `coupon_stock_status`. */
export type StockStatus = Lifted<Wit.StockStatus>;
/** A coupon's state, today's strings and the legacy numbers mapped together. */
export type CouponState = Lifted<Wit.CouponState>;

/** A coupon issued by send_coupon; `fields` holds every field as received. Amounts are in fen. */
export interface SentCoupon extends Plain<Wit.SentCoupon> { api: 'send_coupon' }
/** A stock as query_coupon_stock reports it. */
export interface CouponStock extends Plain<Wit.CouponStock> {
  api: 'query_coupon_stock';
  /** The wire number (1, 2, 4, 8, 16, or the undocumented value). */
  statusCode: number;
}
/** One coupon as querycouponsinfo reports it. */
export interface CouponInfo extends Plain<Wit.CouponInfo> {
  api: 'querycouponsinfo';
  /** The value as sent when `state` is 'unknown'; null otherwise. */
  stateRaw: string | null;
}
/** A result of any API, tagged with its wire name. */
export type CouponResponse = SentCoupon | CouponStock | CouponInfo;

/** An HTTP request ready to send (never host, content-length or hop-by-hop headers); `body`: the `<xml>`, UTF-8. */
export interface HttpRequest extends Omit<Wit.HttpRequest, 'body'> { body: Uint8Array }

/** Fields to sign or verify: an object, or a list of pairs. */
export type Fields = Record<string, string> | Array<[string, string]>;

export function sign(fields: Fields, key: string, signType?: 'MD5' | 'HMAC-SHA256'): string;
export function verify(fields: Fields, key: string): SignatureCheck;
export function buildRequest(merchant: Merchant, request: CouponRequest, nonce?: string): HttpRequest;
/** The result of `api`: `parseResponse` with a literal `api` returns that API's result type. */
export type ResponseOf<A extends Api> = Extract<CouponResponse, { api: A }>;
export function parseResponse<A extends Api>(merchant: Merchant, api: A, status: number, body: Uint8Array | string): ResponseOf<A>;

export function sendCoupon(merchant: Merchant, request: SendCouponRequest, options?: CallOptions): Promise<SentCoupon>;
export function queryCouponStock(merchant: Merchant, request: QueryCouponStockRequest, options?: CallOptions): Promise<CouponStock>;
export function queryCouponsInfo(merchant: Merchant, request: QueryCouponsInfoRequest, options?: CallOptions): Promise<CouponInfo>;

/** Whether, after `error`, it is unknown if the coupon of a send_coupon was issued (the component's rule); never for queries. */
export function outcomeUnknown(api: Api, error: WxCouponError): boolean;
/** What to do after an unknown outcome: retry with the same partner_trade_no, or query first. */
export function outcomeUnknownAdvice(): string;

/** Closes the pooled keep-alive connections of the native transport. */
export function closeConnections(): void;

/** The `kind` of every error: the cases of the WIT's `protocol-error` and `call-error`. */
export type ErrorKind = Wit.ProtocolError['tag'] | Exclude<Wit.CallError['tag'], 'protocol'>;

export class WxCouponError extends Error {
  readonly kind: ErrorKind;
  /**
   * After `sendCoupon`: the coupon may have been issued (the component's rule); send again with the same
   * `partnerTradeNo`. The message then ends with `outcomeUnknownAdvice()`. False for queries and the protocol functions.
   */
  readonly outcomeUnknown: boolean;
  /** After `sendCoupon`: the call's `partnerTradeNo`; null otherwise. */
  readonly partnerTradeNo: string | null;
}
/** A request field, a merchant setting or an argument broke a rule. */
export class InvalidInputError extends WxCouponError { readonly kind: 'invalid-input' }
export interface InvalidInputError extends Readonly<Wit.FieldError> {}
/** The HTTP status was not 200. */
export class UnexpectedStatusError extends WxCouponError { readonly kind: 'unexpected-status'; readonly status: number }
/** The body is not a readable answer; `field` is null for document-level problems. */
export class MalformedResponseError extends WxCouponError { readonly kind: 'malformed-response' }
export interface MalformedResponseError extends Readonly<Plain<Wit.MalformedResponse>> {}
/** `return_code` FAIL without an `err_code`: WeChat refused the call. */
export class ProtocolError extends WxCouponError { readonly kind: 'protocol'; readonly returnMsg: string }
/** What WeChat advises after a business error. */
export type RetryAdvice = Wit.RetryAdvice;
/** `result_code`/`ret_code` FAIL: the operation was refused; `retryable`: `advice` is 'retry' or 'retry-later'. */
export class BusinessError extends WxCouponError { readonly kind: 'business'; readonly retryable: boolean }
export interface BusinessError extends Readonly<Plain<Wit.BusinessError>> {}
/** The response signature is missing (strict policy), malformed or wrong. */
export class SignatureError extends WxCouponError { readonly kind: 'signature'; readonly problem: Wit.SignatureError }
/** Connecting, sending or receiving failed or timed out; if `mayHaveReachedWechat`, query before sending again. */
export class TransportError extends WxCouponError { readonly kind: 'transport'; readonly detail: string }
export interface TransportError extends Readonly<Pick<Wit.TransportError, 'mayHaveReachedWechat'>> {}
/** The host refused the outbound request; nothing was sent. */
export class DeniedError extends WxCouponError { readonly kind: 'denied'; readonly detail: string }
