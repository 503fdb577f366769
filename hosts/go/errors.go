package wxcoupon

import (
	"errors"
	"fmt"
)

// Every outcome of the contract that is not a result is one of the error types below (test with
// errors.As). Their messages never contain the API key or the certificate. Other errors (a
// component that fails to load, a trap) are plain errors.

// contractError marks the typed errors; a session that returned one stays usable.
type contractError interface {
	error
	kind() string
	outcome() *Outcome
}

// Outcome is embedded in every error type: after Client.SendCoupon, whether the coupon may have
// been issued. Read it with errors.As on the error's own type (e.OutcomeUnknown) or with
// OutcomeOf(err). Queries and the Runtime's protocol functions leave it zero.
type Outcome struct {
	// OutcomeUnknown: the request may have reached WeChat Pay and no answer says it was refused
	// (a reset, a timeout after sending, a non-200, an unreadable, oversized or badly signed
	// answer, SYSTEMERROR), so the coupon may have been issued. The verdict is the component's
	// `send-coupon-outcome-unknown` (Runtime.OutcomeUnknown), the one rule of every host; the message then
	// ends with Runtime.OutcomeUnknownAdvice: send again with the same PartnerTradeNo (WeChat
	// answers a repeat with the first outcome), or query first.
	OutcomeUnknown bool
	// PartnerTradeNo is the SendCoupon request's number ("" for queries).
	PartnerTradeNo string
	// advice: what the message adds when the outcome is unknown.
	advice string
}

func (o *Outcome) outcome() *Outcome { return o }

// suffix is what an unknown outcome adds to an error's message.
func (o *Outcome) suffix() string {
	if !o.OutcomeUnknown || o.advice == "" {
		return ""
	}
	return " — " + o.advice
}

// OutcomeOf is the Outcome of err (or of the typed error it wraps); zero for other errors.
func OutcomeOf(err error) Outcome {
	var typed contractError
	if errors.As(err, &typed) {
		return *typed.outcome()
	}
	return Outcome{}
}

// InvalidInputError: a request field, a setting or an argument broke a rule. Field is the wire
// name (or the setting's name); the value is never echoed.
type InvalidInputError struct {
	Field string `wit:"field"`
	Rule  string `wit:"rule"`
	Outcome
}

func (e *InvalidInputError) Error() string {
	return fmt.Sprintf("wxcoupon: invalid %s: %s", e.Field, e.Rule) + e.suffix()
}
func (*InvalidInputError) kind() string { return "invalid-input" }

// UnexpectedStatusError: the HTTP status was not 200.
type UnexpectedStatusError struct {
	Status int `wit:",payload"`
	Outcome
}

func (e *UnexpectedStatusError) Error() string {
	return fmt.Sprintf("wxcoupon: WeChat answered HTTP %d", e.Status) + e.suffix()
}
func (*UnexpectedStatusError) kind() string { return "unexpected-status" }

// MalformedResponseError: the body is not a readable answer. Field is "" for document-level
// problems.
type MalformedResponseError struct {
	Field   string `wit:"field,optional"`
	Problem string `wit:"problem"`
	Outcome
}

func (e *MalformedResponseError) Error() string {
	if e.Field == "" {
		return "wxcoupon: malformed response: " + e.Problem + e.suffix()
	}
	return fmt.Sprintf("wxcoupon: malformed response field %s: %s", e.Field, e.Problem) + e.suffix()
}
func (*MalformedResponseError) kind() string { return "malformed-response" }

// ProtocolError: `return_code` FAIL without an `err_code`; WeChat refused the call.
type ProtocolError struct {
	ReturnMsg string `wit:",payload"`
	Outcome
}

func (e *ProtocolError) Error() string {
	return "wxcoupon: WeChat refused the call: " + e.ReturnMsg + e.suffix()
}
func (*ProtocolError) kind() string { return "protocol" }

// RetryAdvice is what WeChat advises after a business error.
type RetryAdvice string

const (
	DoNotRetry RetryAdvice = "do-not-retry"
	Retry      RetryAdvice = "retry"
	// RetryLater: throttled; retry after a pause.
	RetryLater RetryAdvice = "retry-later"
	// ReconcileFirst: the coupon may have been issued anyway; query before retrying.
	ReconcileFirst RetryAdvice = "reconcile-first"
)

// BusinessError: `result_code`/`ret_code` FAIL; the operation was refused.
type BusinessError struct {
	ErrCode    *string `wit:"err-code"`
	ErrCodeDes *string `wit:"err-code-des"`
	RetMsg     *string `wit:"ret-msg"`
	// Meaning is the documented meaning of a known ErrCode.
	Meaning *string     `wit:"meaning"`
	Advice  RetryAdvice `wit:"advice"`
	// Retryable: sending the same request again is sound (Advice is Retry or RetryLater).
	Retryable bool
	Outcome
}

func (e *BusinessError) Error() string { return e.message() + e.suffix() }

func (e *BusinessError) message() string {
	code := "FAIL"
	if e.ErrCode != nil {
		code = *e.ErrCode
	}
	switch {
	case e.Meaning != nil:
		return fmt.Sprintf("wxcoupon: WeChat refused: %s (%s)", code, *e.Meaning)
	case e.ErrCodeDes != nil:
		return fmt.Sprintf("wxcoupon: WeChat refused: %s (%s)", code, *e.ErrCodeDes)
	case e.RetMsg != nil:
		return fmt.Sprintf("wxcoupon: WeChat refused: %s (%s)", code, *e.RetMsg)
	}
	return "wxcoupon: WeChat refused: " + code
}
func (*BusinessError) kind() string { return "business" }

// SignatureProblem says what is wrong with a response's signature.
type SignatureProblem string

const (
	// SignatureMissing: an unsigned answer under RequireSignedResponses.
	SignatureMissing SignatureProblem = "missing"
	// SignatureMalformed: not 32 or 64 hex characters.
	SignatureMalformed SignatureProblem = "malformed"
	// SignatureMismatch: does not match the fields and the key.
	SignatureMismatch SignatureProblem = "mismatch"
)

// SignatureError: the response signature is missing, malformed or wrong.
type SignatureError struct {
	Problem SignatureProblem `wit:",payload"`
	Outcome
}

func (e *SignatureError) Error() string {
	return "wxcoupon: response signature " + string(e.Problem) + e.suffix()
}
func (*SignatureError) kind() string { return "signature" }

// TransportError: connecting, sending or receiving failed or timed out. When
// MayHaveReachedWeChat, query the stock or the coupon before sending again (with the same
// PartnerTradeNo).
type TransportError struct {
	Message              string `wit:"message"`
	MayHaveReachedWeChat bool   `wit:"may-have-reached-wechat"`
	Outcome
}

func (e *TransportError) Error() string { return "wxcoupon: " + e.Message + e.suffix() }
func (*TransportError) kind() string    { return "transport" }

// DeniedError: the host refused the outbound request; nothing was sent.
type DeniedError struct {
	Message string `wit:",payload"`
	Outcome
}

func (e *DeniedError) Error() string {
	return "wxcoupon: outbound request denied: " + e.Message + e.suffix()
}
func (*DeniedError) kind() string { return "denied" }
