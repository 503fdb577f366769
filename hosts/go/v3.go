package wxcoupon

// API v3 (`marketing/favor`): every cash-coupon call and the COUPON.USE callback, through the
// component's sans-IO `v3` interface. The component checks and builds each request and the
// message to sign; Go signs it with the merchant's private key (crypto/rsa, v3native.go: the key
// stays in Go, never in wasm memory) and the component puts the signature in (`authorize`). For
// the answer the component runs every check but the signature (`check-answer`), Go verifies the
// signature and the component reads the verified body (`read-*`). Go's net/http carries it
// (ClientOptions: timeouts, limits, RootCAs for a private CA). v3 needs no client certificate.

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const v3Interface = "wxpay:coupon/v3@0.2.0"

// v3Stems are the calls: `build-<stem>`, `parse-<stem>`, `read-<stem>` each.
var v3Stems = []string{"issue-coupon", "query-stock", "query-coupon", "create-stock", "start-stock", "pause-stock",
	"restart-stock", "stop-stock", "list-stocks", "list-stock-merchants", "list-stock-items", "download-use-flow",
	"download-refund-flow", "list-user-coupons", "set-callback", "get-callback"}

// v3ExportNames are the `v3` functions this package calls, after the v2 ones.
func v3ExportNames() []struct{ iface, name string } {
	names := []string{"[static]merchant.open", "sign", "authorize", "check-answer", "build-download-certificates",
		"issue-outcome-unknown", "issue-outcome-unknown-advice", "read-flow-rows", "read-coupon-use",
		"check-notification", "open-coupon-use", "notification-failure-body", "notification-http-status",
		"stock-status-of", "coupon-status-of", "decrypt-resource"}
	for _, stem := range v3Stems {
		names = append(names, "build-"+stem, "parse-"+stem, "read-"+stem)
	}
	out := make([]struct{ iface, name string }, len(names))
	for i, n := range names {
		out[i] = struct{ iface, name string }{v3Interface, n}
	}
	return out
}

// V3MerchantSettings are a v3 merchant's settings (the WIT `merchant-settings`). Printing them
// with fmt shows no key.
type V3MerchantSettings struct {
	MchID            string `wit:"mchid" json:"mchid"`
	MerchantSerialNo string `wit:"merchant-serial-no" json:"merchant_serial_no"`
	// APIv3Key decrypts callbacks and downloaded certificates (secret).
	APIv3Key string `wit:"apiv3-key" json:"apiv3_key"`
	// PrivateKeyPEM is the merchant's API private key (apiclient_key.pem, secret); without it
	// nothing can be signed.
	PrivateKeyPEM         string   `wit:"private-key-pem,optional" json:"private_key_pem"`
	WechatpayPublicKeyID  string   `wit:"wechatpay-public-key-id,optional" json:"wechatpay_public_key_id"`
	WechatpayPublicKeyPEM string   `wit:"wechatpay-public-key-pem,optional" json:"wechatpay_public_key_pem"`
	PlatformCertificates  []string `wit:"platform-certificates" json:"platform_certificates"`
	// BaseURL replaces https://api.mch.weixin.qq.com (a simulator's).
	BaseURL string `wit:"base-url,optional" json:"base_url"`
}

// Format prints the settings without the keys, under every verb.
func (s V3MerchantSettings) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "{MchID:%s MerchantSerialNo:%s APIv3Key:<redacted> PrivateKeyPEM:<redacted> WechatpayPublicKeyID:%s BaseURL:%s}",
		s.MchID, s.MerchantSerialNo, s.WechatpayPublicKeyID, s.BaseURL)
}

// V3Merchant is a v3 merchant the component has read: each store opens it once
// (`merchant.open`) and keeps the public keys and the APIv3 key inside; the private key is
// parsed once, here, and signs in Go. Make it with Runtime.OpenV3Merchant.
type V3Merchant struct {
	// settings are what merchant.open receives: without the private key unless inComponent.
	settings V3MerchantSettings
	// signer signs the requests; nil without a private key (the component's `sign` then refuses
	// by name) or when inComponent.
	signer *rsa.PrivateKey
	// inComponent: the component signs (`sign`) and verifies (`parse-*`) with the keys it holds,
	// the private key included (the shared cases call its exports by name; the benchmarks
	// compare).
	inComponent bool
	// answerKeys are the keys check-answer names, parsed once each.
	answerKeys publicKeys
}

// Format prints the merchant id only.
func (m *V3Merchant) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "V3Merchant{MchID:%s}", m.settings.MchID)
}

// OpenV3Merchant checks the settings by opening them in the component, all but the private key,
// which Go reads (a problem names its setting, never a value). When the key and a later setting
// (a public key, a certificate) are both wrong, the later one is named.
func (rt *Runtime) OpenV3Merchant(settings V3MerchantSettings) (*V3Merchant, error) {
	return rt.openV3Merchant(settings, false)
}

// openV3Merchant opens a merchant; inComponent hands the component the private key too, for
// `sign` and `parse-*`.
func (rt *Runtime) openV3Merchant(settings V3MerchantSettings, inComponent bool) (*V3Merchant, error) {
	if settings.PlatformCertificates == nil {
		settings.PlatformCertificates = []string{}
	}
	m := &V3Merchant{settings: settings, inComponent: inComponent}
	var keyErr error
	if !inComponent && settings.PrivateKeyPEM != "" {
		m.signer, keyErr = parseMerchantKey(settings.PrivateKeyPEM)
		m.settings.PrivateKeyPEM = ""
	}
	s, err := rt.acquire()
	if err != nil {
		return nil, err
	}
	_, trapped, err := s.handle(m)
	if err == nil && keyErr != nil {
		s.forget(m)
		err = keyErr
	}
	rt.release(s, !trapped)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// RefusedError: WeChat refused a v3 call, a non-2xx answer with its `{code, message, detail}`.
// Retryable says whether sending the same request again is sound.
type RefusedError struct {
	Status  int              `wit:"status"`
	Code    string           `wit:"code,optional"`
	Message string           `wit:"message,optional"`
	Detail  *V3RefusalDetail `wit:"detail"`
	// Meaning is the documented meaning of Code.
	Meaning   string      `wit:"meaning,optional"`
	Advice    RetryAdvice `wit:"advice"`
	Retryable bool
	Outcome
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("wxcoupon: WeChat Pay refused the call (HTTP %d)", e.Status)
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Meaning != "" {
		msg += " (" + e.Meaning + ")"
	}
	if e.Message != "" {
		msg += " — " + e.Message
	}
	return msg + e.suffix()
}
func (*RefusedError) kind() string { return "refused" }
func (e *RefusedError) afterLift() { e.Retryable = e.Advice == Retry || e.Advice == RetryLater }

// AnswerNotVerifiedError: a 2xx answer whose v3 signature does not hold; nothing in it was used.
// Reason is "missing-header" (Header names it), "malformed-timestamp", "stale-timestamp"
// (SkewSeconds), "unknown-serial" or "signature".
type AnswerNotVerifiedError struct {
	Reason      string `wit:",case"`
	Header      string `wit:",payload=missing-header"`
	SkewSeconds int64  `wit:",payload=stale-timestamp"`
	Outcome
}

func (e *AnswerNotVerifiedError) Error() string {
	return "wxcoupon: the answer is not verified: " + e.Reason + e.suffix()
}
func (*AnswerNotVerifiedError) kind() string { return "answer-not-verified" }

// refusalVariant is the WIT `answer-refusal` of the error.
func (e *AnswerNotVerifiedError) refusalVariant() variant {
	switch e.Reason {
	case "missing-header":
		return variant{e.Reason, e.Header}
	case "stale-timestamp":
		return variant{e.Reason, e.SkewSeconds}
	}
	return variant{e.Reason, nil}
}

// NotificationError: a COUPON.USE callback that was refused. Answer WeChat with Status and
// FailureBody (the component's rule: WeChat delivers again). Kind is "probe", "not-verified"
// (Refusal), "not-decrypted" or "other-event" (Text), or "malformed" (Malformed).
type NotificationError struct {
	Kind        string                 `wit:",case"`
	Refusal     AnswerNotVerifiedError `wit:",payload=not-verified"`
	Text        string                 `wit:",payload=not-decrypted|other-event"`
	Malformed   MalformedResponseError `wit:",payload=malformed"`
	Status      int
	FailureBody string
}

func (e *NotificationError) Error() string {
	switch e.Kind {
	case "not-verified":
		return "wxcoupon: the callback was refused: not-verified: " + e.Refusal.Reason
	case "not-decrypted", "other-event":
		return "wxcoupon: the callback was refused: " + e.Kind + ": " + e.Text
	case "malformed":
		return "wxcoupon: the callback was refused: malformed: " + e.Malformed.Problem
	}
	return "wxcoupon: the callback was refused: " + e.Kind
}

// variant is the WIT `notification-error` of the error.
func (e *NotificationError) variant() variant {
	switch e.Kind {
	case "not-verified":
		return variant{e.Kind, e.Refusal.refusalVariant()}
	case "not-decrypted", "other-event":
		return variant{e.Kind, e.Text}
	case "malformed":
		return variant{e.Kind, e.Malformed}
	}
	return variant{e.Kind, nil}
}

// v3Error is the WIT `v3-error` a typed error stands for (false for other errors).
func v3Error(err error) (variant, bool) {
	var (
		invalid   *InvalidInputError
		refused   *RefusedError
		unsigned  *AnswerNotVerifiedError
		malformed *MalformedResponseError
		transport *TransportError
		denied    *DeniedError
	)
	switch {
	case errors.As(err, &invalid):
		return variant{"invalid-input", *invalid}, true
	case errors.As(err, &refused):
		return variant{"refused", *refused}, true
	case errors.As(err, &unsigned):
		return variant{"answer-not-verified", unsigned.refusalVariant()}, true
	case errors.As(err, &malformed):
		return variant{"malformed-response", *malformed}, true
	case errors.As(err, &transport):
		return variant{"transport", *transport}, true
	case errors.As(err, &denied):
		return variant{"denied", denied.Message}, true
	}
	return variant{}, false
}

// V3IssueOutcomeUnknown says whether the coupon may have been issued after err (the component's
// `issue-outcome-unknown`, the one rule of every host).
func (rt *Runtime) V3IssueOutcomeUnknown(err error) (bool, error) {
	wire, ok := v3Error(err)
	if !ok {
		return false, nil
	}
	var unknown bool
	return unknown, rt.invoke(v3Fn("issue-outcome-unknown"), []arg{{wire, "", true}}, func(r *cval) error { return lifted(r, &unknown) })
}

// V3Client makes one v3 merchant's calls. It is safe for concurrent use.
type V3Client struct {
	c        *Client
	merchant *V3Merchant
}

// NewV3Client returns a client for merchant; opts as for NewClient (Certificate is not used:
// v3 needs none).
func (rt *Runtime) NewV3Client(merchant *V3Merchant, opts ClientOptions) (*V3Client, error) {
	if merchant == nil {
		return nil, &InvalidInputError{Field: "merchant", Rule: "required (Runtime.OpenV3Merchant)"}
	}
	opts.Certificate = nil
	c, err := rt.newClient(nil, opts)
	if err != nil {
		return nil, err
	}
	return &V3Client{c: c, merchant: merchant}, nil
}

// call makes one call: built by the component and signed, sent by net/http, verified and read
// into out.
func (v *V3Client) call(ctx context.Context, stem string, request, out interface{}) error {
	now := time.Now().Unix()
	signed, err := v.signedRequest(stem, request, now, nil)
	if err != nil {
		return err
	}
	status, headers, body, err := v.c.exchange(ctx, signed)
	if err != nil {
		return err
	}
	answer := V3Answer{Status: uint16(status), Body: string(body), Headers: [][2]string{}}
	for name, values := range headers {
		for _, value := range values {
			answer.Headers = append(answer.Headers, [2]string{name, value})
		}
	}
	return v.readAnswer(stem, answer, now, out)
}

// signedRequest builds the request (`build-<stem>`, nonce nil: the component draws one) and
// signs it: in Go and `authorize`, or the component's `sign` (inComponent, or no private key:
// then its refusal).
func (v *V3Client) signedRequest(stem string, request interface{}, now int64, nonce *string) (*HTTPRequest, error) {
	rt, m := v.c.rt, v.merchant
	var toSign V3ToSign
	if err := rt.call(v3Fn("build-"+stem), &toSign, arg{request, "", false}, arg{now, "timestamp", false}, arg{nonce, "nonce", false}); err != nil {
		return nil, err
	}
	var signed V3SignedRequest
	if m.signer != nil {
		signature, err := signMessage(m.signer, toSign.Message)
		if err != nil {
			return nil, fmt.Errorf("wxcoupon: signing the request: %w", err)
		}
		if err := rt.call(v3Fn("authorize"), &signed, arg{m, "merchant.", false}, arg{toSign, "", false}, arg{signature, "signature", false}); err != nil {
			return nil, err
		}
	} else if err := rt.call(v3Fn("sign"), &signed, arg{m, "merchant.", false}, arg{toSign, "", false}); err != nil {
		return nil, err
	}
	return &HTTPRequest{Method: strings.ToUpper(string(signed.Method)), URL: signed.URL, Headers: signed.Headers, Body: []byte(signed.Body)}, nil
}

// readAnswer verifies answer and reads it into out: `check-answer` (a refusal, headers, clock,
// serial), the signature in Go, then `read-<stem>` of the verified body; or all of it in the
// component's `parse-<stem>` (inComponent).
func (v *V3Client) readAnswer(stem string, answer V3Answer, now int64, out interface{}) error {
	rt, m := v.c.rt, v.merchant
	if m.inComponent {
		return rt.call(v3Fn("parse-"+stem), out, arg{m, "merchant.", false}, arg{answer, "", false}, arg{now, "now", false})
	}
	var checked V3AnswerSignature
	if err := rt.call(v3Fn("check-answer"), &checked, arg{m, "merchant.", false}, arg{answer, "", false}, arg{now, "now", false}); err != nil {
		return err
	}
	if !m.answerKeys.verifies(&checked) {
		return &AnswerNotVerifiedError{Reason: "signature"} // what `parse-*` answers
	}
	return rt.call(v3Fn("read-"+stem), out, arg{answer.Body, "body", false})
}

// IssueCoupon issues one coupon. Every typed error carries its Outcome: when OutcomeUnknown the
// coupon may have been issued; send again with the same OutRequestNo (WeChat answers a repeat
// with the same coupon). Outcome.PartnerTradeNo holds the OutRequestNo.
func (v *V3Client) IssueCoupon(ctx context.Context, req V3IssueCouponRequest) (*V3IssuedCoupon, error) {
	var out V3IssuedCoupon
	if err := v.call(ctx, "issue-coupon", req, &out); err != nil {
		var typed contractError
		if errors.As(err, &typed) {
			unknown, verr := v.c.rt.V3IssueOutcomeUnknown(err)
			o := typed.outcome()
			o.PartnerTradeNo, o.OutcomeUnknown = req.OutRequestNo, unknown || verr != nil
			if o.OutcomeUnknown {
				o.advice = v.c.rt.v3Advice()
			}
		}
		return nil, err
	}
	return &out, nil
}

// v3Advice is `issue-outcome-unknown-advice`.
func (rt *Runtime) v3Advice() string {
	var advice string
	if err := rt.invoke(v3Fn("issue-outcome-unknown-advice"), nil, func(r *cval) error { return lifted(r, &advice) }); err != nil {
		return "send again with the same out_request_no"
	}
	return advice
}

// QueryStock reads one stock.
func (v *V3Client) QueryStock(ctx context.Context, req V3QueryStockRequest) (*V3Stock, error) {
	var out V3Stock
	return &out, v.call(ctx, "query-stock", req, &out)
}

// QueryCoupon reads one coupon of a user.
func (v *V3Client) QueryCoupon(ctx context.Context, req V3QueryCouponRequest) (*V3Coupon, error) {
	var out V3Coupon
	return &out, v.call(ctx, "query-coupon", req, &out)
}

// CreateStock creates a stock; idempotent on OutRequestNo.
func (v *V3Client) CreateStock(ctx context.Context, req V3CreateStockRequest) (*V3CreatedStock, error) {
	var out V3CreatedStock
	return &out, v.call(ctx, "create-stock", req, &out)
}

// StartStock activates a stock.
func (v *V3Client) StartStock(ctx context.Context, req V3StockChangeRequest) (*V3StockChanged, error) {
	var out V3StockChanged
	return &out, v.call(ctx, "start-stock", req, &out)
}

// PauseStock pauses a stock.
func (v *V3Client) PauseStock(ctx context.Context, req V3StockChangeRequest) (*V3StockChanged, error) {
	var out V3StockChanged
	return &out, v.call(ctx, "pause-stock", req, &out)
}

// RestartStock restarts a paused stock.
func (v *V3Client) RestartStock(ctx context.Context, req V3StockChangeRequest) (*V3StockChanged, error) {
	var out V3StockChanged
	return &out, v.call(ctx, "restart-stock", req, &out)
}

// StopStock stops a stock for good.
func (v *V3Client) StopStock(ctx context.Context, req V3StockChangeRequest) (*V3StockChanged, error) {
	var out V3StockChanged
	return &out, v.call(ctx, "stop-stock", req, &out)
}

// ListStocks reads a page of stocks.
func (v *V3Client) ListStocks(ctx context.Context, req V3ListStocksRequest) (*V3StockPage, error) {
	var out V3StockPage
	return &out, v.call(ctx, "list-stocks", req, &out)
}

// ListStockMerchants reads where a stock can be used.
func (v *V3Client) ListStockMerchants(ctx context.Context, req V3StockListingRequest) (*V3IDPage, error) {
	var out V3IDPage
	return &out, v.call(ctx, "list-stock-merchants", req, &out)
}

// ListStockItems reads the single items a stock applies to.
func (v *V3Client) ListStockItems(ctx context.Context, req V3StockListingRequest) (*V3IDPage, error) {
	var out V3IDPage
	return &out, v.call(ctx, "list-stock-items", req, &out)
}

// DownloadUseFlow asks for the use-detail file (fetch it within 30 s with FetchFlowRows).
func (v *V3Client) DownloadUseFlow(ctx context.Context, req V3FlowRequest) (*V3FlowFile, error) {
	var out V3FlowFile
	return &out, v.call(ctx, "download-use-flow", req, &out)
}

// DownloadRefundFlow asks for the refund-detail file.
func (v *V3Client) DownloadRefundFlow(ctx context.Context, req V3FlowRequest) (*V3FlowFile, error) {
	var out V3FlowFile
	return &out, v.call(ctx, "download-refund-flow", req, &out)
}

// ListUserCoupons reads a user's coupons.
func (v *V3Client) ListUserCoupons(ctx context.Context, req V3ListUserCouponsRequest) (*V3CouponPage, error) {
	var out V3CouponPage
	return &out, v.call(ctx, "list-user-coupons", req, &out)
}

// SetCallback sets where COUPON.USE callbacks go.
func (v *V3Client) SetCallback(ctx context.Context, req V3SetCallbackRequest) (*V3CallbackUpdated, error) {
	var out V3CallbackUpdated
	return &out, v.call(ctx, "set-callback", req, &out)
}

// GetCallback reads where COUPON.USE callbacks go.
func (v *V3Client) GetCallback(ctx context.Context, req V3GetCallbackRequest) (*V3CallbackSetting, error) {
	var out V3CallbackSetting
	return &out, v.call(ctx, "get-callback", req, &out)
}

// FetchFlowRows fetches a flow file (WeChat does not sign it) and reads its rows; the component
// checks its SHA1.
func (v *V3Client) FetchFlowRows(ctx context.Context, file V3FlowFile) ([]V3FlowRow, error) {
	status, _, body, err := v.c.exchange(ctx, &HTTPRequest{Method: http.MethodGet, URL: file.URL})
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		advice := DoNotRetry
		if status >= 500 {
			advice = Retry
		}
		return nil, &RefusedError{Status: status, Advice: advice, Retryable: advice == Retry}
	}
	rows := []V3FlowRow{}
	return rows, v.c.rt.call(v3Fn("read-flow-rows"), &rows, arg{file, "", false}, arg{body, "contents", false})
}

// ReadCouponUse reads a COUPON.USE callback: verified (a WECHATPAY/SIGNTEST/ probe refused),
// decrypted with the APIv3 key, typed. A refusal is a *NotificationError, whose Status and
// FailureBody are the answer to give WeChat.
func (rt *Runtime) ReadCouponUse(merchant *V3Merchant, headers http.Header, body []byte, now time.Time) (*V3CouponUseEvent, error) {
	pairs := [][2]string{}
	for name, values := range headers {
		pairs = append(pairs, [2]string{name, strings.Join(values, ", ")})
	}
	var event V3CouponUseEvent
	var refusal *NotificationError
	err := rt.invoke(v3Fn("read-coupon-use"), []arg{{merchant, "merchant.", false}, {pairs, "headers", true}, {string(body), "body", false}, {now.Unix(), "now", false}},
		func(r *cval) error { return liftNotification(r, &event, &refusal) })
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, rt.finishNotificationError(refusal)
	}
	return &event, nil
}

// liftNotification reads a `result<T, notification-error>` into out or *refusal.
func liftNotification(r *cval, out interface{}, refusal **NotificationError) error {
	ok, val, isResult := resultParts(r)
	if !isResult {
		return errors.New("wxcoupon: read-coupon-use returned a value that is not a result")
	}
	if ok {
		if val != nil {
			liftInto(val, out)
		}
		return nil
	}
	*refusal = &NotificationError{}
	if val != nil {
		liftInto(val, *refusal)
	}
	return nil
}

// finishNotificationError asks the component what to answer WeChat with.
func (rt *Runtime) finishNotificationError(e *NotificationError) error {
	var status uint16
	if err := rt.invoke(v3Fn("notification-http-status"), []arg{{e.variant(), "", true}}, func(r *cval) error { return lifted(r, &status) }); err != nil {
		return err
	}
	e.Status = int(status)
	if err := rt.invoke(v3Fn("notification-failure-body"), []arg{{e.Error(), "", true}}, func(r *cval) error { return lifted(r, &e.FailureBody) }); err != nil {
		return err
	}
	return e
}
