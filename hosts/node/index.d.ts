// Types of the `wxcoupon` package (hand-written over the jco bindings of wit/coupon.wit).

/** The merchant settings every call needs. */
export interface Merchant {
  /** Official Account appid the openids belong to (String(32)). */
  appid: string;
  /** Merchant id (商户号, String(32)). */
  mchId: string;
  /** The 32-character APIv2 key (the sandbox key in the sandbox). Never echoed in errors. */
  apiKey: string;
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

/** Optional fields every request may carry; left out when absent. */
export interface CommonOptions {
  /** `op_user_id`: the operator; WeChat defaults it to the mch_id. */
  opUserId?: string;
  /** `device_info`. */
  deviceInfo?: string;
  /** `version`, `1.0` when given. */
  version?: string;
  /** The wire field `type`; `XML` is the only accepted value. */
  messageType?: string;
}

export interface SendCouponRequest extends CommonOptions {
  couponStockId: string;
  openid: string;
  /** Your unique number for this issuance: store it first, reuse it to retry. */
  partnerTradeNo: string;
}

export interface QueryCouponStockRequest extends CommonOptions {
  couponStockId: string;
}

export interface QueryCouponsInfoRequest extends CommonOptions {
  couponId: string;
  openid: string;
  /** The coupon's stock (sent as `stock_id`). */
  stockId: string;
}

/** The wire names of the three APIs. */
export type Api = 'send_coupon' | 'query_coupon_stock' | 'querycouponsinfo';

export type CouponRequest =
  | ({ api: 'send_coupon' } & SendCouponRequest)
  | ({ api: 'query_coupon_stock' } & QueryCouponStockRequest)
  | ({ api: 'querycouponsinfo' } & QueryCouponsInfoRequest);

/** Per-call settings. */
export interface CallOptions {
  /**
   * `'native'` (default): the component builds and parses, Node's https sends (client certificate,
   * private CA, keep-alive pool; does not block the event loop). `'component'`: the component's own
   * wasi:http client through jco's shim (no client certificate; trusts Node's default CAs and
   * NODE_EXTRA_CA_CERTS; blocks the event loop while the call runs).
   */
  transport?: 'native' | 'component';
  /** PEM client certificate (apiclient_cert.pem); sent only with send_coupon. */
  cert?: string | Uint8Array;
  /** PEM private key (apiclient_key.pem). */
  key?: string | Uint8Array;
  /** apiclient_cert.p12 instead of cert + key. */
  pfx?: Uint8Array;
  /** The .p12 password (WeChat's default: the mch_id). */
  passphrase?: string;
  /** Trusted CA certificates instead of Node's defaults (a simulator's, an egress proxy's). */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** A custom `http.Agent`/`https.Agent` (native transport); default: a keep-alive pool per TLS setup. */
  agent?: unknown;
  /** Default 5000. */
  connectTimeoutMs?: number;
  /** Default 10000. */
  firstByteTimeoutMs?: number;
  /** Default 10000. */
  betweenBytesTimeoutMs?: number;
  /** Default 65536. */
  maxResponseBytes?: number;
  /** The `nonce_str` (1–32 ASCII letters or digits); default: 32 random characters. */
  nonce?: string;
}

export type SignatureCheck = 'verified-md5' | 'verified-hmac-sha256' | 'absent';

/** A time as WeChat sent it, with the instant when its form is known. */
export interface WechatTime {
  raw: string;
  /** Unix seconds; null when the form is not recognised. */
  unixSeconds: number | null;
}

export interface SentCoupon {
  api: 'send_coupon';
  couponId: string;
  couponStockId: string;
  openid: string;
  respCount: number | null;
  successCount: number | null;
  failedCount: number | null;
  signature: SignatureCheck;
  /** Every field as received. */
  fields: Record<string, string>;
}

export type StockStatus = 'inactive' | 'under-review' | 'active' | 'voided' | 'sending-stopped' | 'unknown';

export interface CouponStock {
  api: 'query_coupon_stock';
  couponStockId: string;
  couponName: string | null;
  /** Amounts are in fen (分). */
  couponValue: number;
  /** From whichever of coupon_mininumn / coupon_mininum / coupon_minimum was sent. */
  couponMinimum: number | null;
  couponType: number | null;
  status: StockStatus;
  /** The wire number (1, 2, 4, 8, 16, or the undocumented value). */
  statusCode: number;
  couponTotal: number;
  /** 0 means no limit. */
  maxQuota: number | null;
  isSendNum: number | null;
  lockedNum: number | null;
  usedNum: number | null;
  couponBudget: number | null;
  beginTime: WechatTime | null;
  endTime: WechatTime | null;
  createTime: WechatTime | null;
  signature: SignatureCheck;
  fields: Record<string, string>;
}

export type CouponState = 'usable' | 'used' | 'expired' | 'locked' | 'unknown';

export interface CouponInfo {
  api: 'querycouponsinfo';
  couponId: string;
  couponStockId: string;
  couponValue: number;
  couponMinimum: number | null;
  couponName: string | null;
  couponDesc: string | null;
  state: CouponState;
  /** The value as sent when `state` is 'unknown'; null otherwise. */
  stateRaw: string | null;
  couponUseValue: number | null;
  couponRemainValue: number | null;
  beginTime: WechatTime | null;
  endTime: WechatTime | null;
  sendTime: WechatTime | null;
  sendSource: string | null;
  isPartialUse: boolean | null;
  consumerMchId: string | null;
  signature: SignatureCheck;
  fields: Record<string, string>;
}

export type CouponResponse = SentCoupon | CouponStock | CouponInfo;

/** An HTTP request ready to send. */
export interface HttpRequest {
  method: string;
  url: string;
  /** Never host, content-length or hop-by-hop headers. */
  headers: Array<[string, string]>;
  /** The `<xml>` document, UTF-8. */
  body: Uint8Array;
  /** Present the client certificate: only send_coupon. */
  needsClientCertificate: boolean;
}

export type Fields = Record<string, string> | Array<[string, string]>;

export function sign(fields: Fields, key: string, signType?: 'MD5' | 'HMAC-SHA256'): string;
export function verify(fields: Fields, key: string): SignatureCheck;
export function buildRequest(merchant: Merchant, request: CouponRequest, nonce?: string): HttpRequest;
export function parseResponse(merchant: Merchant, api: 'send_coupon', status: number, body: Uint8Array | string): SentCoupon;
export function parseResponse(merchant: Merchant, api: 'query_coupon_stock', status: number, body: Uint8Array | string): CouponStock;
export function parseResponse(merchant: Merchant, api: 'querycouponsinfo', status: number, body: Uint8Array | string): CouponInfo;
export function parseResponse(merchant: Merchant, api: Api, status: number, body: Uint8Array | string): CouponResponse;

export function sendCoupon(merchant: Merchant, request: SendCouponRequest, options?: CallOptions): Promise<SentCoupon>;
export function queryCouponStock(merchant: Merchant, request: QueryCouponStockRequest, options?: CallOptions): Promise<CouponStock>;
export function queryCouponsInfo(merchant: Merchant, request: QueryCouponsInfoRequest, options?: CallOptions): Promise<CouponInfo>;

/**
 * Whether, after `error`, it is unknown if WeChat Pay carried out the call to `api` (for
 * send_coupon: if the coupon was issued): the component's one rule. Never true for queries.
 */
export function outcomeUnknown(api: Api, error: WxCouponError): boolean;
/** What to do after an unknown outcome: retry with the same partner_trade_no, or query first. */
export function outcomeUnknownAdvice(): string;

/** Closes the pooled keep-alive connections of the native transport. */
export function closeConnections(): void;

export type ErrorKind =
  | 'invalid-input'
  | 'unexpected-status'
  | 'malformed-response'
  | 'protocol'
  | 'business'
  | 'signature'
  | 'transport'
  | 'denied';

export class WxCouponError extends Error {
  readonly kind: ErrorKind;
  /**
   * After `sendCoupon`: the coupon may have been issued (the component's `outcome-unknown`); send
   * again with the same `partnerTradeNo`. The message then ends with `outcomeUnknownAdvice()`.
   * Always false for queries and the protocol functions.
   */
  readonly outcomeUnknown: boolean;
  /** After `sendCoupon`: the call's `partnerTradeNo`; null otherwise. */
  readonly partnerTradeNo: string | null;
}
export class InvalidInputError extends WxCouponError {
  readonly kind: 'invalid-input';
  readonly field: string;
  readonly rule: string;
}
export class UnexpectedStatusError extends WxCouponError {
  readonly kind: 'unexpected-status';
  readonly status: number;
}
export class MalformedResponseError extends WxCouponError {
  readonly kind: 'malformed-response';
  readonly field: string | null;
  readonly problem: string;
}
export class ProtocolError extends WxCouponError {
  readonly kind: 'protocol';
  readonly returnMsg: string;
}
export type RetryAdvice = 'do-not-retry' | 'retry' | 'retry-later' | 'reconcile-first';
export class BusinessError extends WxCouponError {
  readonly kind: 'business';
  readonly errCode: string | null;
  readonly errCodeDes: string | null;
  readonly retMsg: string | null;
  readonly meaning: string | null;
  readonly advice: RetryAdvice;
  readonly retryable: boolean;
}
export class SignatureError extends WxCouponError {
  readonly kind: 'signature';
  readonly problem: 'missing' | 'malformed' | 'mismatch';
}
export class TransportError extends WxCouponError {
  readonly kind: 'transport';
  readonly detail: string;
  /** If true, query before sending again with the same partner_trade_no. */
  readonly mayHaveReachedWechat: boolean;
}
export class DeniedError extends WxCouponError {
  readonly kind: 'denied';
  readonly detail: string;
}
