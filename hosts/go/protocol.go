package wxcoupon

// The sans-IO exports (`wxpay:coupon/protocol`): sign, verify, build a request, parse an answer.
// Use them to do the HTTP yourself; Client does it for you.

import (
	"errors"
	"fmt"
	"sort"
)

func sortedFields(fields map[string]string) (value, error) {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	pairs := make([][2]string, len(names))
	for i, n := range names {
		pairs[i] = [2]string{n, fields[n]}
	}
	v := fieldsValue(pairs)
	return v, checkUTF8(v, "fields.")
}

func signTypeValue(t SignType) (value, error) {
	switch t {
	case MD5:
		return vEnum("md5"), nil
	case HMACSHA256:
		return vEnum("hmac-sha256"), nil
	}
	return value{}, &InvalidInputError{Field: "sign_type", Rule: "must be MD5 or HMAC-SHA256"}
}

// Sign signs fields by the v2 rule (drop `sign` and empty values, sort, join, append
// `&key=`, digest) and returns the upper-case hex signature.
func (rt *Runtime) Sign(fields map[string]string, key APIKey, signType SignType) (string, error) {
	f, err := sortedFields(fields)
	if err != nil {
		return "", err
	}
	t, err := signTypeValue(signType)
	if err != nil {
		return "", err
	}
	k := vString(string(key))
	if err := checkUTF8(k, "key"); err != nil {
		return "", err
	}
	out, err := rt.call("sign", f, k, t)
	if err != nil {
		return "", err
	}
	return out.text, nil
}

// Verify checks the `sign` among fields (64 hex characters mean HMAC-SHA256) in constant time.
// A bad or missing signature is a *SignatureError.
func (rt *Runtime) Verify(fields map[string]string, key APIKey) (SignatureCheck, error) {
	f, err := sortedFields(fields)
	if err != nil {
		return "", err
	}
	k := vString(string(key))
	if err := checkUTF8(k, "key"); err != nil {
		return "", err
	}
	out, err := rt.call("verify", f, k)
	if err != nil {
		return "", err
	}
	return SignatureCheck(out.text), nil
}

// BuildRequest validates, signs and serialises request for merchant. nonce is the `nonce_str`
// (1–32 ASCII letters or digits); "" draws 32 random characters inside the component.
func (rt *Runtime) BuildRequest(merchant Merchant, request CouponRequest, nonce string) (*HTTPRequest, error) {
	m, err := merchantValue(merchant)
	if err != nil {
		return nil, err
	}
	r, _, err := requestValue(request)
	if err != nil {
		return nil, err
	}
	n := vOptionalString(nonce)
	if err := checkUTF8(n, "nonce_str"); err != nil {
		return nil, err
	}
	return rt.buildRequest(m, r, n)
}

// buildRequest calls `build-request` with arguments already lowered and checked.
func (rt *Runtime) buildRequest(merchant, request, nonce value) (*HTTPRequest, error) {
	out, err := rt.call("build-request", merchant, request, nonce)
	if err != nil {
		return nil, err
	}
	return httpRequestFrom(out), nil
}

// ParseResponse reads WeChat's answer to api (status, XML, `return_code` → `result_code`/
// `err_code` → `ret_code`, the signature by the merchant's policy) into *SentCoupon,
// *CouponStock or *CouponInfo, or the matching typed error.
func (rt *Runtime) ParseResponse(merchant Merchant, api API, status int, body []byte) (CouponResponse, error) {
	m, err := merchantValue(merchant)
	if err != nil {
		return nil, err
	}
	a, err := apiValue(api)
	if err != nil {
		return nil, err
	}
	return rt.parseResponse(m, a, status, body)
}

// parseResponse calls `parse-response` with the merchant and the `api` enum already lowered.
func (rt *Runtime) parseResponse(merchant, api value, status int, body []byte) (CouponResponse, error) {
	if status < 0 || status > 65535 {
		return nil, &InvalidInputError{Field: "status", Rule: "must be an HTTP status"}
	}
	out, err := rt.call("parse-response", merchant, api, vU16(uint16(status)), vBytes(body))
	if err != nil {
		return nil, err
	}
	return couponResponseFrom(out)
}

// OutcomeUnknown says whether, after err (one of this package's error types, or an error wrapping
// one), it is unknown if WeChat Pay carried out the call to api — for send_coupon, if the coupon
// was issued. It is the component's `outcome-unknown`: the one rule of every host (unknown once
// the request may have left, unless WeChat's answer says it refused; never for queries).
// Client.SendCoupon's errors carry the verdict in their Outcome.
func (rt *Runtime) OutcomeUnknown(api API, err error) (bool, error) {
	a, aerr := apiValue(api)
	if aerr != nil {
		return false, aerr
	}
	var typed contractError
	if !errors.As(err, &typed) {
		return false, &InvalidInputError{Field: "error", Rule: "must be one of this package's error types"}
	}
	return rt.outcomeUnknown(a, typed)
}

// outcomeUnknown asks the component about a typed error, the `api` enum already lowered.
func (rt *Runtime) outcomeUnknown(api value, err contractError) (bool, error) {
	out, ierr := rt.invoke("outcome-unknown", api, errorValue(err))
	if ierr != nil {
		return false, ierr
	}
	if out.kind != kindBool {
		return false, fmt.Errorf("wxcoupon: outcome-unknown returned a %d value, not a bool", out.kind)
	}
	return out.flag, nil
}

// OutcomeUnknownAdvice is what to do after an unknown outcome (the component's
// `outcome-unknown-advice`): retry with the same partner_trade_no, or query first.
func (rt *Runtime) OutcomeUnknownAdvice() string { return rt.advice }
