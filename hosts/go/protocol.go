package wxcoupon

// The sans-IO exports (`wxpay:coupon/v2`): sign, verify, build a request, parse an answer.
// Use them to do the HTTP yourself; Client does it for you.

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"unicode/utf8"
)

// apiExports are the exports that serve one API, and the record its answer lifts into.
type apiExports struct {
	build, parse, call export
	response           func() CouponResponse
}

var apiTable = map[API]apiExports{
	APISendCoupon:       {fnBuildSendCoupon, fnParseSendCoupon, fnSendCoupon, func() CouponResponse { return new(SentCoupon) }},
	APIQueryCouponStock: {fnBuildQueryCouponStock, fnParseQueryCouponStock, fnQueryCouponStock, func() CouponResponse { return new(CouponStock) }},
	APIQueryCouponsInfo: {fnBuildQueryCouponsInfo, fnParseQueryCouponsInfo, fnQueryCouponsInfo, func() CouponResponse { return new(CouponInfo) }},
}

func apiExportsOf(api API) (apiExports, error) {
	if api == "query_coupons_info" {
		api = APIQueryCouponsInfo
	}
	if e, ok := apiTable[api]; ok {
		return e, nil
	}
	return apiExports{}, &InvalidInputError{Field: "api", Rule: "must be send_coupon, query_coupon_stock or querycouponsinfo"}
}

// requestAPI is the request record (the struct, also behind a pointer) and its API.
func requestAPI(r CouponRequest) (CouponRequest, API, error) {
	if rv := reflect.ValueOf(r); rv.Kind() == reflect.Ptr {
		if rv.IsNil() {
			return nil, "", &InvalidInputError{Field: "request", Rule: "required"}
		}
		r = rv.Elem().Interface()
	}
	switch r.(type) {
	case SendCouponRequest:
		return r, APISendCoupon, nil
	case QueryCouponStockRequest:
		return r, APIQueryCouponStock, nil
	case QueryCouponsInfoRequest:
		return r, APIQueryCouponsInfo, nil
	}
	return nil, "", &InvalidInputError{Field: "request", Rule: fmt.Sprintf("must be a SendCouponRequest, QueryCouponStockRequest or QueryCouponsInfoRequest (got %T)", r)}
}

// merchantRecord is the WIT `merchant` record of m (its strings checked: the component takes
// UTF-8 only), or why m is not a valid merchant.
func merchantRecord(m Merchant) (interface{}, error) {
	host := variant{Case: "production"}
	switch {
	case m.BaseURL != "" && m.BackupHost:
		return nil, &InvalidInputError{Field: "merchant.backup_host", Rule: "cannot be combined with base_url: choose one endpoint"}
	case m.BaseURL != "":
		host = variant{"custom", m.BaseURL}
	case m.BackupHost:
		host = variant{Case: "backup"}
	}
	signType, err := signTypeCase(m.SignType, "merchant.sign_type")
	if err != nil {
		return nil, err
	}
	for _, f := range [...]struct{ name, value string }{{"appid", m.AppID}, {"mch_id", m.MchID}, {"api_key", string(m.APIKey)}, {"base_url", m.BaseURL}} {
		if !utf8.ValidString(f.value) {
			return nil, &InvalidInputError{Field: "merchant." + f.name, Rule: "must be valid UTF-8"}
		}
	}
	policy := witEnum("verify-if-present")
	if m.RequireSignedResponses {
		policy = "require"
	}
	return struct {
		AppID    string  `wit:"appid"`
		MchID    string  `wit:"mch-id"`
		APIKey   string  `wit:"api-key"`
		SignType witEnum `wit:"sign-type"`
		Host     variant `wit:"host"`
		Sandbox  bool    `wit:"sandbox"`
		Policy   witEnum `wit:"signature-policy"`
	}{m.AppID, m.MchID, string(m.APIKey), signType, host, m.Sandbox, policy}, nil
}

// signTypeCase is the `sign-type` case of t; field names t in the error.
func signTypeCase(t SignType, field string) (witEnum, error) {
	switch t {
	case MD5:
		return "md5", nil
	case HMACSHA256:
		return "hmac-sha256", nil
	}
	return "", &InvalidInputError{Field: field, Rule: "must be MD5 or HMAC-SHA256"}
}

// sortedFields are fields as the WIT `fields`: pairs sorted by name.
func sortedFields(fields map[string]string) [][2]string {
	pairs := make([][2]string, 0, len(fields))
	for name, value := range fields {
		pairs = append(pairs, [2]string{name, value})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i][0] < pairs[j][0] })
	return pairs
}

// Sign signs fields by the v2 rule (drop `sign` and empty values, sort, join, append
// `&key=`, digest) and returns the upper-case hex signature.
func (rt *Runtime) Sign(fields map[string]string, key APIKey, signType SignType) (string, error) {
	t, err := signTypeCase(signType, "sign_type")
	if err != nil {
		return "", err
	}
	var sign string
	err = rt.call(fnSign, &sign, arg{sortedFields(fields), "fields.", false}, arg{string(key), "key", false}, arg{t, "", false})
	return sign, err
}

// Verify checks the `sign` among fields (64 hex characters mean HMAC-SHA256) in constant time.
// A bad or missing signature is a *SignatureError.
func (rt *Runtime) Verify(fields map[string]string, key APIKey) (SignatureCheck, error) {
	var check SignatureCheck
	err := rt.call(fnVerify, &check, arg{sortedFields(fields), "fields.", false}, arg{string(key), "key", false})
	return check, err
}

// BuildRequest validates, signs and serialises request for merchant. nonce is the `nonce_str`
// (1–32 ASCII letters or digits); "" draws 32 random characters inside the component.
func (rt *Runtime) BuildRequest(merchant Merchant, request CouponRequest, nonce string) (*HTTPRequest, error) {
	m, err := merchantRecord(merchant)
	if err != nil {
		return nil, err
	}
	r, api, err := requestAPI(request)
	if err != nil {
		return nil, err
	}
	var n *string
	if nonce != "" {
		n = &nonce
	}
	return rt.buildRequest(apiTable[api].build, m, r, n)
}

// buildRequest calls a `build-*` export with the merchant record already made.
func (rt *Runtime) buildRequest(fn export, merchant, request interface{}, nonce *string) (*HTTPRequest, error) {
	built := new(HTTPRequest)
	if err := rt.call(fn, built, arg{merchant, "merchant.", false}, arg{request, "", false}, arg{nonce, "nonce_str", false}); err != nil {
		return nil, err
	}
	return built, nil
}

// ParseResponse reads WeChat's answer to api (status, XML, `return_code` → `result_code`/
// `err_code` → `ret_code`, the signature by the merchant's policy) into *SentCoupon,
// *CouponStock or *CouponInfo, or the matching typed error.
func (rt *Runtime) ParseResponse(merchant Merchant, api API, status int, body []byte) (CouponResponse, error) {
	m, err := merchantRecord(merchant)
	if err != nil {
		return nil, err
	}
	exports, err := apiExportsOf(api)
	if err != nil {
		return nil, err
	}
	return rt.parseResponse(exports, m, status, body)
}

// parseResponse calls a `parse-*` export with the merchant record already made. A body that is
// not UTF-8 cannot be a `string`: `unreadable-body` says which error the parser would give.
func (rt *Runtime) parseResponse(exports apiExports, merchant interface{}, status int, body []byte) (CouponResponse, error) {
	if status < 0 || status > 65535 {
		return nil, &InvalidInputError{Field: "status", Rule: "must be an HTTP status"}
	}
	if !utf8.Valid(body) {
		var refusal error
		if err := rt.invoke(fnUnreadableBody, []arg{{uint16(status), "", false}, {body, "body", false}}, func(r *cval) error { return lifted(r, &refusal) }); err != nil {
			return nil, err
		}
		if refusal == nil {
			refusal = errors.New("wxcoupon: unreadable-body would read a body that is not UTF-8")
		}
		return nil, refusal
	}
	out := exports.response()
	if err := rt.call(exports.parse, out, arg{merchant, "merchant.", false}, arg{uint16(status), "", false}, arg{string(body), "body", false}); err != nil {
		return nil, err
	}
	return out, nil
}

// OutcomeUnknown says whether, after err (one of this package's error types, or an error wrapping
// one), it is unknown if WeChat Pay carried out the call to api — for send_coupon, if the coupon
// was issued. It is the component's `send-coupon-outcome-unknown`: the one rule of every host
// (unknown once the request may have left, unless WeChat's answer says it refused; never for
// queries, which change nothing). Client.SendCoupon's errors carry the verdict in their Outcome.
func (rt *Runtime) OutcomeUnknown(api API, err error) (bool, error) {
	exports, aerr := apiExportsOf(api)
	if aerr != nil {
		return false, aerr
	}
	var typed contractError
	if !errors.As(err, &typed) {
		return false, &InvalidInputError{Field: "error", Rule: "must be one of this package's error types"}
	}
	if exports.build != fnBuildSendCoupon {
		return false, nil
	}
	return rt.sendCouponOutcomeUnknown(typed)
}

// sendCouponOutcomeUnknown asks the component about a typed error of send_coupon.
func (rt *Runtime) sendCouponOutcomeUnknown(err contractError) (bool, error) {
	var unknown bool
	ierr := rt.invoke(fnSendCouponOutcomeUnknown, []arg{{callError(err), "error", true}}, func(r *cval) error { return lifted(r, &unknown) })
	return unknown, ierr
}

// OutcomeUnknownAdvice is what to do after an unknown outcome (the component's
// `outcome-unknown-advice`): retry with the same partner_trade_no, or query first.
func (rt *Runtime) OutcomeUnknownAdvice() string { return rt.advice }
