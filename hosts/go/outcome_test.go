package wxcoupon

// The outcome of SendCoupon: every error carries the component's verdict (`outcome-unknown`, the
// core's one rule) and the trade number; under each fault that leaves the outcome open, a retry
// with the same number issues exactly one coupon; refusals, refused connections and queries are
// known.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestOutcomeUnknownIsTheComponentExport(t *testing.T) {
	rt := testRuntime(t)
	code := func(s string) *string { return &s }
	for _, tc := range []struct {
		api  API
		err  error
		want bool
	}{
		{APISendCoupon, &TransportError{Message: "connection reset", MayHaveReachedWeChat: true}, true},
		{APISendCoupon, &TransportError{Message: "connection refused"}, false},
		{APISendCoupon, &SignatureError{Problem: SignatureMismatch}, true},
		{APISendCoupon, &MalformedResponseError{Problem: "body is over the limit of 100 bytes"}, true},
		{APISendCoupon, &MalformedResponseError{Field: "appid", Problem: "does not match"}, true},
		{APISendCoupon, &UnexpectedStatusError{Status: 502}, true},
		{APISendCoupon, &BusinessError{ErrCode: code("SYSTEMERROR"), Advice: Retry, Retryable: true}, true},
		{APISendCoupon, &BusinessError{ErrCode: code("USER_AL_GET_COUPON"), ErrCodeDes: code("x"), Advice: DoNotRetry}, false},
		{APISendCoupon, &ProtocolError{ReturnMsg: "签名错误"}, false},
		{APISendCoupon, &InvalidInputError{Field: "openid", Rule: "required"}, false},
		{APISendCoupon, &DeniedError{Message: "not allowed"}, false},
		{APISendCoupon, fmt.Errorf("wrapped: %w", &SignatureError{Problem: SignatureMissing}), true},
		{APIQueryCouponStock, &UnexpectedStatusError{Status: 502}, false},
		{APIQueryCouponsInfo, &TransportError{Message: "connection reset", MayHaveReachedWeChat: true}, false},
	} {
		got, err := rt.OutcomeUnknown(tc.api, tc.err)
		if err != nil || got != tc.want {
			t.Errorf("OutcomeUnknown(%s, %v) = %v, %v; want %v", tc.api, tc.err, got, err, tc.want)
		}
	}
	if _, err := rt.OutcomeUnknown(APISendCoupon, errors.New("plain")); asInvalidInput(t, err).Field != "error" {
		t.Fatalf("a plain error: %v, want an invalid error argument", err)
	}
	if advice := rt.OutcomeUnknownAdvice(); !strings.Contains(advice, "retry with the same partner_trade_no") {
		t.Fatalf("OutcomeUnknownAdvice() = %q", advice)
	}
}

// wantOutcome fails unless err (of SendCoupon) carries that verdict and trade number, through
// errors.As on its own type as well as OutcomeOf.
func wantOutcome(t testing.TB, err error, unknown bool, tradeNo string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	o := OutcomeOf(err)
	if o.OutcomeUnknown != unknown || o.PartnerTradeNo != tradeNo {
		t.Fatalf("OutcomeOf(%T %v) = %+v, want unknown %v, trade number %q", err, err, o, unknown, tradeNo)
	}
	advice := " — " + testRuntime(t).OutcomeUnknownAdvice()
	if got := strings.HasSuffix(err.Error(), advice); got != unknown {
		t.Fatalf("the message %q ends with the advice: %v, want %v", err.Error(), got, unknown)
	}
}

func TestSendCouponOutcomeUnknownThenOneCouponOnRetry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults map[string]string
		opts   func(*ClientOptions)
		check  func(error) bool
	}{
		{"wrong sign", map[string]string{"wrong_sign": "true"}, nil, func(err error) bool {
			var e *SignatureError
			return errors.As(err, &e) && e.OutcomeUnknown && e.PartnerTradeNo == "1000009820261128030"
		}},
		{"truncated body", map[string]string{"truncated_body": "true"}, nil, func(err error) bool {
			var e *TransportError
			return errors.As(err, &e) && e.OutcomeUnknown && e.MayHaveReachedWeChat
		}},
		{"connection reset", map[string]string{"reset_connection": "true"}, nil, func(err error) bool {
			var e *TransportError
			return errors.As(err, &e) && e.OutcomeUnknown
		}},
		{"HTTP 502", map[string]string{"status": "502"}, nil, func(err error) bool {
			var e *UnexpectedStatusError
			return errors.As(err, &e) && e.Status == 502 && e.OutcomeUnknown
		}},
		{"latency beyond FirstByteTimeout", map[string]string{"latency_ms": "1500"},
			func(o *ClientOptions) { o.FirstByteTimeout = 300 * time.Millisecond },
			func(err error) bool {
				var e *TransportError
				return errors.As(err, &e) && e.OutcomeUnknown
			}},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			faults := map[string]string{"only": `"send_coupon"`, "times": "1"}
			for k, v := range tc.faults {
				faults[k] = v
			}
			sim := startSimulator(t, faults)
			request := sendRequest("1758", "o-go-outcome", "1000009820261128030")
			_, err := httpsClient(t, sim, tc.opts).SendCoupon(callContext(t), request)
			wantOutcome(t, err, true, request.PartnerTradeNo)
			if !tc.check(err) {
				t.Fatalf("%T %v: not the expected error with its outcome", err, err)
			}
			c := httpsClient(t, sim, nil)
			sent, err := c.SendCoupon(callContext(t), request)
			if err != nil {
				t.Fatalf("the retry with the same number: %v", err)
			}
			if sent.CouponID == "" {
				t.Fatal("no coupon id")
			}
			if got := issued(t, c, "1758"); got != 1 {
				t.Fatalf("is_send_num = %d after the fault and the retry, want 1", got)
			}
		})
	}
}

func TestSendCouponRefusalsAreKnown(t *testing.T) {
	const number = "1000009820261128031"
	sim := startSimulator(t, map[string]string{"err_code": `"USER_AL_GET_COUPON"`, "only": `"send_coupon"`, "times": "1"})
	c := httpsClient(t, sim, nil)
	request := sendRequest("1758", "o-go-known", number)
	_, err := c.SendCoupon(callContext(t), request)
	wantBusiness(t, err, "USER_AL_GET_COUPON")
	wantOutcome(t, err, false, number)

	_, err = httpsClient(t, sim, func(o *ClientOptions) { o.Certificate = nil }).SendCoupon(callContext(t), request)
	wantBusiness(t, err, "CA_ERROR")
	wantOutcome(t, err, false, number)

	// The fault fired once and changed nothing: the same number now issues one coupon.
	if _, err := c.SendCoupon(callContext(t), request); err != nil {
		t.Fatal(err)
	}
	if got := issued(t, c, "1758"); got != 1 {
		t.Fatalf("is_send_num = %d, want 1", got)
	}

	refused, err := testRuntime(t).NewClient(testMerchant("http://"+closedPort(t)), ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = refused.SendCoupon(callContext(t), request)
	wantTransport(t, err, false)
	wantOutcome(t, err, false, number)

	_, err = c.SendCoupon(callContext(t), sendRequest("1758", "", number))
	asInvalidInput(t, err)
	wantOutcome(t, err, false, number)
}

func TestQueriesAreNeverUnknown(t *testing.T) {
	sim := startSimulator(t, map[string]string{"status": "502"})
	for _, c := range []*Client{httpsClient(t, sim, nil), componentClient(t, sim.HTTPBaseURL, nil)} {
		_, err := c.QueryCouponStock(callContext(t), QueryCouponStockRequest{CouponStockID: "1758"})
		var e *UnexpectedStatusError
		if !errors.As(err, &e) {
			t.Fatalf("want *UnexpectedStatusError, got %T: %v", err, err)
		}
		wantOutcome(t, err, false, "")
	}
}
