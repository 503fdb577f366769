package wxcoupon

// Between this package's types and the component values of the wxpay:coupon@0.1.0 WIT.

import (
	"fmt"
	"reflect"
	"strings"
)

func merchantValue(m Merchant) (value, error) {
	host := vVariant("production", nil)
	switch {
	case m.BaseURL != "" && m.BackupHost:
		return value{}, &InvalidInputError{Field: "merchant.backup_host", Rule: "cannot be combined with base_url: choose one endpoint"}
	case m.BaseURL != "":
		u := vString(m.BaseURL)
		host = vVariant("custom", &u)
	case m.BackupHost:
		host = vVariant("backup", nil)
	}
	signType := "md5"
	switch m.SignType {
	case MD5:
	case HMACSHA256:
		signType = "hmac-sha256"
	default:
		return value{}, &InvalidInputError{Field: "merchant.sign_type", Rule: "must be MD5 or HMAC-SHA256"}
	}
	policy := "verify-if-present"
	if m.RequireSignedResponses {
		policy = "require"
	}
	v := vRecord(
		"appid", vString(m.AppID),
		"mch-id", vString(m.MchID),
		"api-key", vString(string(m.APIKey)),
		"sign-type", vEnum(signType),
		"host", host,
		"sandbox", vBool(m.Sandbox),
		"signature-policy", vEnum(policy),
	)
	return v, checkUTF8(v, "merchant.")
}

// checkUTF8 refuses a string that is not UTF-8 before it reaches the component (which could not
// receive it), naming the field: name itself, or name + the record field's wire name when name
// is "" or ends with ".".
func checkUTF8(v value, name string) error {
	field, bad := invalidUTF8(v, "")
	if !bad {
		return nil
	}
	full := name
	switch {
	case field == "":
		full = strings.TrimSuffix(name, ".")
	case name == "" || strings.HasSuffix(name, "."):
		full = name + wireName(field)
	}
	return &InvalidInputError{Field: full, Rule: "must be valid UTF-8"}
}

// wireName turns a WIT field name into the wire (or settings) name the errors use.
func wireName(witField string) string {
	switch witField {
	case "message-type":
		return "type"
	case "host":
		return "base_url"
	}
	return strings.ReplaceAll(witField, "-", "_")
}

func optionsValue(o CommonOptions) value {
	return vRecord(
		"op-user-id", vOptionalString(o.OpUserID),
		"device-info", vOptionalString(o.DeviceInfo),
		"version", vOptionalString(o.Version),
		"message-type", vOptionalString(o.MessageType),
	)
}

func sendCouponValue(r SendCouponRequest) value {
	return vRecord(
		"coupon-stock-id", vString(r.CouponStockID),
		"openid", vString(r.OpenID),
		"partner-trade-no", vString(r.PartnerTradeNo),
		"options", optionsValue(r.CommonOptions),
	)
}

func queryCouponStockValue(r QueryCouponStockRequest) value {
	return vRecord("coupon-stock-id", vString(r.CouponStockID), "options", optionsValue(r.CommonOptions))
}

func queryCouponsInfoValue(r QueryCouponsInfoRequest) value {
	return vRecord(
		"coupon-id", vString(r.CouponID),
		"openid", vString(r.OpenID),
		"stock-id", vString(r.StockID),
		"options", optionsValue(r.CommonOptions),
	)
}

// requestValue is the `coupon-request` variant for any of the request types (or pointers to
// them), and its API.
func requestValue(r CouponRequest) (value, API, error) {
	if rv := reflect.ValueOf(r); rv.Kind() == reflect.Ptr {
		if rv.IsNil() {
			return value{}, "", &InvalidInputError{Field: "request", Rule: "required"}
		}
		r = rv.Elem().Interface()
	}
	var payload value
	var tag string
	var api API
	switch r := r.(type) {
	case SendCouponRequest:
		payload, tag, api = sendCouponValue(r), "send-coupon", APISendCoupon
	case QueryCouponStockRequest:
		payload, tag, api = queryCouponStockValue(r), "query-coupon-stock", APIQueryCouponStock
	case QueryCouponsInfoRequest:
		payload, tag, api = queryCouponsInfoValue(r), "query-coupons-info", APIQueryCouponsInfo
	default:
		return value{}, "", &InvalidInputError{Field: "request", Rule: fmt.Sprintf("must be a SendCouponRequest, QueryCouponStockRequest or QueryCouponsInfoRequest (got %T)", r)}
	}
	if err := checkUTF8(payload, ""); err != nil {
		return value{}, "", err
	}
	return vVariant(tag, &payload), api, nil
}

func apiValue(api API) (value, error) {
	switch api {
	case APISendCoupon:
		return vEnum("send-coupon"), nil
	case APIQueryCouponStock:
		return vEnum("query-coupon-stock"), nil
	case APIQueryCouponsInfo, "query_coupons_info":
		return vEnum("query-coupons-info"), nil
	}
	return value{}, &InvalidInputError{Field: "api", Rule: "must be send_coupon, query_coupon_stock or querycouponsinfo"}
}

func fieldsValue(fields [][2]string) value {
	items := make([]value, len(fields))
	for i, f := range fields {
		items[i] = vTuple(vString(f[0]), vString(f[1]))
	}
	return vList(items)
}

// --- results ------------------------------------------------------------------------------------

// optional lifts an option's payload with get; nil for none.
func optional[T any](v value, get func(value) T) *T {
	if v.payload == nil {
		return nil
	}
	x := get(*v.payload)
	return &x
}

func optString(v value) *string { return optional(v, func(p value) string { return p.text }) }
func optU32(v value) *uint32    { return optional(v, func(p value) uint32 { return uint32(p.num) }) }
func optU64(v value) *uint64    { return optional(v, func(p value) uint64 { return p.num }) }
func optBool(v value) *bool     { return optional(v, func(p value) bool { return p.flag }) }

func optTime(v value) *WeChatTime {
	return optional(v, func(p value) WeChatTime {
		return WeChatTime{Raw: p.field("raw").text, UnixSeconds: optional(p.field("unix-seconds"), func(s value) int64 { return int64(s.num) })}
	})
}

func fieldsFrom(v value) Fields {
	f := make(Fields, len(v.items))
	for _, pair := range v.items {
		if len(pair.items) == 2 {
			f[pair.items[0].text] = pair.items[1].text
		}
	}
	return f
}

func httpRequestFrom(v value) *HTTPRequest {
	h := &HTTPRequest{
		Method:                 v.field("method").text,
		URL:                    v.field("url").text,
		Body:                   v.field("body").bytes,
		NeedsClientCertificate: v.field("needs-client-certificate").flag,
	}
	for _, pair := range v.field("headers").items {
		if len(pair.items) == 2 {
			h.Headers = append(h.Headers, [2]string{pair.items[0].text, pair.items[1].text})
		}
	}
	if h.Body == nil {
		h.Body = []byte{}
	}
	return h
}

func sentCouponFrom(v value) *SentCoupon {
	return &SentCoupon{
		CouponID:      v.field("coupon-id").text,
		CouponStockID: v.field("coupon-stock-id").text,
		OpenID:        v.field("openid").text,
		RespCount:     optU32(v.field("resp-count")),
		SuccessCount:  optU32(v.field("success-count")),
		FailedCount:   optU32(v.field("failed-count")),
		Signature:     SignatureCheck(v.field("signature").text),
		Fields:        fieldsFrom(v.field("fields")),
	}
}

var stockStatusCodes = map[string]uint32{"inactive": 1, "under-review": 2, "active": 4, "voided": 8, "sending-stopped": 16}

func couponStockFrom(v value) *CouponStock {
	status := v.field("status")
	s := StockStatus{Name: status.text, Code: stockStatusCodes[status.text]}
	if status.payload != nil {
		s.Code = uint32(status.payload.num)
	}
	return &CouponStock{
		CouponStockID: v.field("coupon-stock-id").text,
		CouponName:    optString(v.field("coupon-name")),
		CouponValue:   v.field("coupon-value").num,
		CouponMinimum: optU64(v.field("coupon-minimum")),
		CouponType:    optU32(v.field("coupon-type")),
		Status:        s,
		CouponTotal:   v.field("coupon-total").num,
		MaxQuota:      optU64(v.field("max-quota")),
		IsSendNum:     optU64(v.field("is-send-num")),
		LockedNum:     optU64(v.field("locked-num")),
		UsedNum:       optU64(v.field("used-num")),
		CouponBudget:  optU64(v.field("coupon-budget")),
		BeginTime:     optTime(v.field("begin-time")),
		EndTime:       optTime(v.field("end-time")),
		CreateTime:    optTime(v.field("create-time")),
		Signature:     SignatureCheck(v.field("signature").text),
		Fields:        fieldsFrom(v.field("fields")),
	}
}

func couponInfoFrom(v value) *CouponInfo {
	state := v.field("state")
	st := CouponState{Name: state.text}
	if state.payload != nil {
		st.Raw = state.payload.text
	}
	return &CouponInfo{
		CouponID:          v.field("coupon-id").text,
		CouponStockID:     v.field("coupon-stock-id").text,
		CouponValue:       v.field("coupon-value").num,
		CouponMinimum:     optU64(v.field("coupon-minimum")),
		CouponName:        optString(v.field("coupon-name")),
		CouponDesc:        optString(v.field("coupon-desc")),
		State:             st,
		CouponUseValue:    optU64(v.field("coupon-use-value")),
		CouponRemainValue: optU64(v.field("coupon-remain-value")),
		BeginTime:         optTime(v.field("begin-time")),
		EndTime:           optTime(v.field("end-time")),
		SendTime:          optTime(v.field("send-time")),
		SendSource:        optString(v.field("send-source")),
		IsPartialUse:      optBool(v.field("is-partial-use")),
		ConsumerMchID:     optString(v.field("consumer-mch-id")),
		Signature:         SignatureCheck(v.field("signature").text),
		Fields:            fieldsFrom(v.field("fields")),
	}
}

func couponResponseFrom(v value) (CouponResponse, error) {
	if v.kind != kindVariant || v.payload == nil {
		return nil, fmt.Errorf("wxcoupon: parse-response returned a %d value, not a coupon-response", v.kind)
	}
	return responseFrom(v.text, *v.payload)
}

// responseFrom lifts the record of one API's answer; tag is its case in `coupon-response` (also
// the name of the `client` export that returns it).
func responseFrom(tag string, record value) (CouponResponse, error) {
	switch tag {
	case "send-coupon":
		return sentCouponFrom(record), nil
	case "query-coupon-stock":
		return couponStockFrom(record), nil
	case "query-coupons-info":
		return couponInfoFrom(record), nil
	}
	return nil, fmt.Errorf("wxcoupon: unknown coupon-response case %q", tag)
}

// errorFromValue turns a `coupon-error` into its typed Go error.
func errorFromValue(v value) error {
	var p value
	if v.payload != nil {
		p = *v.payload
	}
	switch v.text {
	case "invalid-input":
		return &InvalidInputError{Field: p.field("field").text, Rule: p.field("rule").text}
	case "unexpected-status":
		return &UnexpectedStatusError{Status: int(p.num)}
	case "malformed-response":
		e := &MalformedResponseError{Problem: p.field("problem").text}
		if f := optString(p.field("field")); f != nil {
			e.Field = *f
		}
		return e
	case "protocol":
		return &ProtocolError{ReturnMsg: p.text}
	case "business":
		return &BusinessError{
			ErrCode:    optString(p.field("err-code")),
			ErrCodeDes: optString(p.field("err-code-des")),
			RetMsg:     optString(p.field("ret-msg")),
			Meaning:    optString(p.field("meaning")),
			Advice:     RetryAdvice(p.field("advice").text),
			Retryable:  p.field("retryable").flag,
		}
	case "signature":
		return &SignatureError{Problem: SignatureProblem(p.text)}
	case "transport":
		return &TransportError{Message: p.field("message").text, MayHaveReachedWeChat: p.field("may-have-reached-wechat").flag}
	case "denied":
		return &DeniedError{Message: p.text}
	}
	return fmt.Errorf("wxcoupon: unknown coupon-error case %q", v.text)
}

// errorValue is the `coupon-error` a typed Go error stands for: the inverse of errorFromValue, so
// the component can judge errors this package made itself. Strings are made valid UTF-8 first
// (the component takes nothing else); no verdict depends on a text.
func errorValue(err contractError) value {
	text := func(s string) value { return vString(strings.ToValidUTF8(s, "\uFFFD")) }
	optText := func(s *string) value {
		if s == nil {
			return vNone()
		}
		return vSome(text(*s))
	}
	var payload value
	switch e := err.(type) {
	case *InvalidInputError:
		payload = vRecord("field", text(e.Field), "rule", text(e.Rule))
	case *UnexpectedStatusError:
		payload = vU16(uint16(e.Status))
	case *MalformedResponseError:
		field := vNone()
		if e.Field != "" {
			field = vSome(text(e.Field))
		}
		payload = vRecord("field", field, "problem", text(e.Problem))
	case *ProtocolError:
		payload = text(e.ReturnMsg)
	case *BusinessError:
		payload = vRecord(
			"err-code", optText(e.ErrCode),
			"err-code-des", optText(e.ErrCodeDes),
			"ret-msg", optText(e.RetMsg),
			"meaning", optText(e.Meaning),
			"advice", vEnum(string(e.Advice)),
			"retryable", vBool(e.Retryable),
		)
	case *SignatureError:
		payload = vEnum(string(e.Problem))
	case *TransportError:
		payload = vRecord("message", text(e.Message), "may-have-reached-wechat", vBool(e.MayHaveReachedWeChat))
	case *DeniedError:
		payload = text(e.Message)
	}
	return vVariant(err.kind(), &payload)
}
