// One error class per `coupon-error` case of the WIT contract. Messages never contain the API key.

/** The base class: every failure of this package is a WxCouponError with a `kind`. */
export class WxCouponError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = new.target.name;
    this.kind = kind;
    /**
     * After `sendCoupon`: whether the coupon may have been issued (the component's
     * `outcome-unknown`); if so, send again with the same `partnerTradeNo`. Always false for
     * queries and for the protocol functions.
     */
    this.outcomeUnknown = false;
    /** After `sendCoupon`: the call's `partnerTradeNo`; null otherwise. */
    this.partnerTradeNo = null;
  }

  /** Records a send's outcome; an unknown one ends the message with `advice`. */
  setOutcome(unknown, partnerTradeNo, advice) {
    this.partnerTradeNo = partnerTradeNo;
    this.outcomeUnknown = unknown;
    if (unknown) {
      const before = this.message;
      this.message = `${before} — ${advice}`;
      const head = `${this.name}: ${before}`;
      if (typeof this.stack === 'string' && this.stack.startsWith(head)) {
        this.stack = `${this.name}: ${this.message}${this.stack.slice(head.length)}`;
      }
    }
    return this;
  }
}

/** A request field, a merchant setting or an argument broke a rule. */
export class InvalidInputError extends WxCouponError {
  constructor(field, rule) {
    super('invalid-input', `invalid input: ${field}: ${rule}`);
    this.field = field;
    this.rule = rule;
  }
}

/** The HTTP status was not 200. */
export class UnexpectedStatusError extends WxCouponError {
  constructor(status) {
    super('unexpected-status', `unexpected HTTP status ${status} (WeChat Pay answers v2 calls with 200)`);
    this.status = status;
  }
}

/** The body is not a readable answer. */
export class MalformedResponseError extends WxCouponError {
  constructor(field, problem) {
    super(
      'malformed-response',
      field == null ? `malformed response: ${problem}` : `malformed response: ${field}: ${problem}`,
    );
    this.field = field ?? null;
    this.problem = problem;
  }
}

/** `return_code` FAIL without an `err_code`: WeChat refused the call (`returnMsg`). */
export class ProtocolError extends WxCouponError {
  constructor(returnMsg) {
    super('protocol', `WeChat Pay refused the call (return_code FAIL): ${returnMsg}`);
    this.returnMsg = returnMsg;
  }
}

/** `result_code`/`ret_code` FAIL: the operation was refused. */
export class BusinessError extends WxCouponError {
  constructor({ errCode = null, errCodeDes = null, retMsg = null, meaning = null, advice, retryable }) {
    let message = 'WeChat Pay refused the operation';
    if (errCode != null) message += `: ${errCode}`;
    if (meaning != null) message += ` (${meaning})`;
    const des = errCodeDes ?? retMsg;
    if (des != null) message += ` — ${des}`;
    super('business', message);
    this.errCode = errCode;
    this.errCodeDes = errCodeDes;
    this.retMsg = retMsg;
    this.meaning = meaning;
    /** 'do-not-retry' | 'retry' | 'retry-later' | 'reconcile-first' */
    this.advice = advice;
    this.retryable = retryable;
  }
}

const SIGNATURE_MESSAGES = {
  missing: 'sign: the response is unsigned and the signature policy requires a signature',
  malformed: 'sign: must be 32 (MD5) or 64 (HMAC-SHA256) hexadecimal characters',
  mismatch: 'sign: does not match the response fields and the API key',
};

/** The response signature is missing (strict policy), malformed or wrong. */
export class SignatureError extends WxCouponError {
  constructor(problem) {
    super('signature', SIGNATURE_MESSAGES[problem] ?? `sign: ${problem}`);
    /** 'missing' | 'malformed' | 'mismatch' */
    this.problem = problem;
  }
}

/** Connecting, sending or receiving failed or timed out. */
export class TransportError extends WxCouponError {
  constructor(message, mayHaveReachedWechat) {
    super(
      'transport',
      `transport error: ${message}` +
        (mayHaveReachedWechat ? ' (the request may have reached WeChat Pay: query before retrying)' : ''),
    );
    this.detail = message;
    /** If true, query the stock or the coupon before sending again (same partner_trade_no). */
    this.mayHaveReachedWechat = mayHaveReachedWechat;
  }
}

/** The host refused the outbound request; nothing was sent. */
export class DeniedError extends WxCouponError {
  constructor(message) {
    super('denied', `request denied: ${message}`);
    this.detail = message;
  }
}

/** Maps a WIT `coupon-error` (as jco lifts it: `{tag, val}`) to its class. */
export function fromWitError(e) {
  switch (e.tag) {
    case 'invalid-input':
      return new InvalidInputError(e.val.field, e.val.rule);
    case 'unexpected-status':
      return new UnexpectedStatusError(e.val);
    case 'malformed-response':
      return new MalformedResponseError(e.val.field ?? null, e.val.problem);
    case 'protocol':
      return new ProtocolError(e.val);
    case 'business':
      return new BusinessError({
        errCode: e.val.errCode ?? null,
        errCodeDes: e.val.errCodeDes ?? null,
        retMsg: e.val.retMsg ?? null,
        meaning: e.val.meaning ?? null,
        advice: e.val.advice,
        retryable: e.val.retryable,
      });
    case 'signature':
      return new SignatureError(e.val);
    case 'transport':
      return new TransportError(e.val.message, e.val.mayHaveReachedWechat);
    case 'denied':
      return new DeniedError(e.val);
    default:
      return new WxCouponError(String(e.tag), `unknown coupon-error case ${e.tag}`);
  }
}

/**
 * The WIT `coupon-error` (as jco lowers it) that an error of this package stands for: the inverse
 * of fromWitError, so the component can judge errors the host made itself. Null for anything else.
 */
export function toWitError(e) {
  const opt = (v) => (v === null ? undefined : v);
  if (e instanceof InvalidInputError) return { tag: 'invalid-input', val: { field: e.field, rule: e.rule } };
  if (e instanceof UnexpectedStatusError) return { tag: 'unexpected-status', val: e.status };
  if (e instanceof MalformedResponseError) return { tag: 'malformed-response', val: { field: opt(e.field), problem: e.problem } };
  if (e instanceof ProtocolError) return { tag: 'protocol', val: e.returnMsg };
  if (e instanceof BusinessError) {
    const val = { errCode: opt(e.errCode), errCodeDes: opt(e.errCodeDes), retMsg: opt(e.retMsg), meaning: opt(e.meaning) };
    return { tag: 'business', val: { ...val, advice: e.advice, retryable: e.retryable } };
  }
  if (e instanceof SignatureError) return { tag: 'signature', val: e.problem };
  if (e instanceof TransportError) return { tag: 'transport', val: { message: e.detail, mayHaveReachedWechat: e.mayHaveReachedWechat } };
  if (e instanceof DeniedError) return { tag: 'denied', val: e.detail };
  return null;
}
