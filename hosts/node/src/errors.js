// One error class per case of the WIT's `protocol-error` (the sans-IO functions' errors) and of
// `call-error`'s own `transport` and `denied`. Messages never contain the API key.

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
  /** A `retryable` passed in is ignored: it follows from `advice`, as in the core (`is_retryable`). */
  constructor({ errCode = null, errCodeDes = null, retMsg = null, meaning = null, advice }) {
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
    /** Whether sending the same request again is sound: the advice is 'retry' or 'retry-later'. */
    this.retryable = advice === 'retry' || advice === 'retry-later';
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

/** Maps a WIT `protocol-error` (as jco lifts it: `{tag, val}`) to its class. */
export function fromProtocolError(e) {
  switch (e.tag) {
    case 'invalid-input':
      return new InvalidInputError(e.val.field, e.val.rule);
    case 'unexpected-status':
      return new UnexpectedStatusError(e.val);
    case 'malformed-response':
      return new MalformedResponseError(e.val.field ?? null, e.val.problem);
    case 'protocol':
      return new ProtocolError(e.val);
    case 'business': {
      const { errCode = null, errCodeDes = null, retMsg = null, meaning = null, advice } = e.val;
      return new BusinessError({ errCode, errCodeDes, retMsg, meaning, advice });
    }
    case 'signature':
      return new SignatureError(e.val);
    default:
      return new WxCouponError(String(e.tag), `unknown protocol-error case ${e.tag}`);
  }
}

/** Maps a WIT `call-error` (the `v2-client` functions' errors) to its class. */
export function fromCallError(e) {
  switch (e.tag) {
    case 'protocol':
      return fromProtocolError(e.val);
    case 'transport':
      return new TransportError(e.val.message, e.val.mayHaveReachedWechat);
    case 'denied':
      return new DeniedError(e.val);
    default:
      return new WxCouponError(String(e.tag), `unknown call-error case ${e.tag}`);
  }
}

/**
 * The WIT `call-error` (as jco lowers it) that an error of this package stands for: the inverse
 * of fromCallError, so the component can judge errors the host made itself. Null for anything else.
 */
export function toCallError(e) {
  const opt = (v) => (v === null ? undefined : v);
  const protocol = (tag, val) => ({ tag: 'protocol', val: { tag, val } });
  if (e instanceof InvalidInputError) return protocol('invalid-input', { field: e.field, rule: e.rule });
  if (e instanceof UnexpectedStatusError) return protocol('unexpected-status', e.status);
  if (e instanceof MalformedResponseError) return protocol('malformed-response', { field: opt(e.field), problem: e.problem });
  if (e instanceof ProtocolError) return protocol('protocol', e.returnMsg);
  if (e instanceof BusinessError) {
    const { errCode, errCodeDes, retMsg, meaning, advice } = e;
    return protocol('business', { errCode: opt(errCode), errCodeDes: opt(errCodeDes), retMsg: opt(retMsg), meaning: opt(meaning), advice });
  }
  if (e instanceof SignatureError) return protocol('signature', e.problem);
  if (e instanceof TransportError) return { tag: 'transport', val: { message: e.detail, mayHaveReachedWechat: e.mayHaveReachedWechat } };
  if (e instanceof DeniedError) return { tag: 'denied', val: e.detail };
  return null;
}
