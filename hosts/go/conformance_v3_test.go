package wxcoupon

// The shared v3 conformance cases (conformance/cases/v3.json, v3-live.json): every call by its
// export name, canonical JSON arguments decoded into this package's types (the generated V3*
// records carry the canonical names as json tags) and each answer encoded back; the live
// scenario through V3Client against the simulator. Any difference fails.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	merchantType = reflect.TypeOf((*V3Merchant)(nil))
	bytesType    = reflect.TypeOf([]byte(nil))
	int64Type    = reflect.TypeOf(int64(0))
	nonceType    = reflect.TypeOf((*string)(nil))
	stringType   = reflect.TypeOf("")
	headersType  = reflect.TypeOf([][2]string(nil))
)

// v3StemTypes are each call's request and answer types.
var v3StemTypes = map[string][2]interface{}{
	"issue-coupon": {V3IssueCouponRequest{}, V3IssuedCoupon{}}, "query-stock": {V3QueryStockRequest{}, V3Stock{}},
	"query-coupon": {V3QueryCouponRequest{}, V3Coupon{}}, "create-stock": {V3CreateStockRequest{}, V3CreatedStock{}},
	"start-stock": {V3StockChangeRequest{}, V3StockChanged{}}, "pause-stock": {V3StockChangeRequest{}, V3StockChanged{}},
	"restart-stock": {V3StockChangeRequest{}, V3StockChanged{}}, "stop-stock": {V3StockChangeRequest{}, V3StockChanged{}},
	"list-stocks": {V3ListStocksRequest{}, V3StockPage{}}, "list-stock-merchants": {V3StockListingRequest{}, V3IDPage{}},
	"list-stock-items": {V3StockListingRequest{}, V3IDPage{}}, "download-use-flow": {V3FlowRequest{}, V3FlowFile{}},
	"download-refund-flow": {V3FlowRequest{}, V3FlowFile{}}, "list-user-coupons": {V3ListUserCouponsRequest{}, V3CouponPage{}},
	"set-callback": {V3SetCallbackRequest{}, V3CallbackUpdated{}}, "get-callback": {V3GetCallbackRequest{}, V3CallbackSetting{}},
}

type v3Sig struct {
	args   []reflect.Type
	result reflect.Type
	// notification: the error is a notification-error.
	notification bool
}

func v3Signatures() map[string]v3Sig {
	toSign, answer, sig := reflect.TypeOf(V3ToSign{}), reflect.TypeOf(V3Answer{}), reflect.TypeOf(V3AnswerSignature{})
	event := reflect.TypeOf(V3CouponUseEvent{})
	out := map[string]v3Sig{
		"sign":                        {[]reflect.Type{merchantType, toSign}, reflect.TypeOf(V3SignedRequest{}), false},
		"check-answer":                {[]reflect.Type{merchantType, answer, int64Type}, sig, false},
		"build-download-certificates": {[]reflect.Type{int64Type, nonceType}, toSign, false},
		"read-flow-rows":              {[]reflect.Type{reflect.TypeOf(V3FlowFile{}), bytesType}, reflect.TypeOf([]V3FlowRow{}), false},
		"decrypt-resource":            {[]reflect.Type{merchantType, reflect.TypeOf(V3EncryptedResource{})}, stringType, false},
		"read-coupon-use":             {[]reflect.Type{merchantType, headersType, stringType, int64Type}, event, true},
		"check-notification":          {[]reflect.Type{merchantType, headersType, stringType, int64Type}, sig, true},
		"open-coupon-use":             {[]reflect.Type{merchantType, stringType}, event, true},
	}
	for stem, types := range v3StemTypes {
		req, res := reflect.TypeOf(types[0]), reflect.TypeOf(types[1])
		out["build-"+stem] = v3Sig{[]reflect.Type{req, int64Type, nonceType}, toSign, false}
		out["parse-"+stem] = v3Sig{[]reflect.Type{merchantType, answer, int64Type}, res, false}
		out["read-"+stem] = v3Sig{[]reflect.Type{stringType}, res, false}
	}
	return out
}

// canonicalV3 is a Go value in the canonical form: its json encoding, bytes as hex.
func canonicalV3(t *testing.T, v interface{}) interface{} {
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var generic interface{}
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	if o, ok := generic.(map[string]interface{}); ok {
		if der, ok := o["public_key_der"].(string); ok { // []byte encodes as base64
			b, _ := base64.StdEncoding.DecodeString(der)
			o["public_key_der"] = hex.EncodeToString(b)
		}
	}
	return generic
}

func nullIfEmpty(s string) interface{} {
	if s == "" {
		return nil
	}
	return s
}

func canonicalRefusal(e *AnswerNotVerifiedError) interface{} {
	switch e.Reason {
	case "missing-header":
		return object{e.Reason: e.Header}
	case "stale-timestamp":
		return object{e.Reason: e.SkewSeconds}
	}
	return e.Reason
}

func canonicalMalformed(e *MalformedResponseError) object {
	return object{"field": nullIfEmpty(e.Field), "problem": e.Problem}
}

// canonicalV3Error is a typed error as the canonical `v3-error` or `notification-error`.
func canonicalV3Error(t *testing.T, err error) interface{} {
	var (
		invalid   *InvalidInputError
		refused   *RefusedError
		unsigned  *AnswerNotVerifiedError
		malformed *MalformedResponseError
		transport *TransportError
		denied    *DeniedError
		notified  *NotificationError
	)
	switch {
	case errors.As(err, &notified):
		switch notified.Kind {
		case "not-verified":
			return object{notified.Kind: canonicalRefusal(&notified.Refusal)}
		case "not-decrypted", "other-event":
			return object{notified.Kind: notified.Text}
		case "malformed":
			return object{notified.Kind: canonicalMalformed(&notified.Malformed)}
		}
		return notified.Kind
	case errors.As(err, &invalid):
		return object{"invalid-input": object{"field": invalid.Field, "rule": invalid.Rule}}
	case errors.As(err, &refused):
		return object{"refused": object{"status": refused.Status, "code": nullIfEmpty(refused.Code), "message": nullIfEmpty(refused.Message),
			"detail": canonicalV3(t, refused.Detail), "meaning": nullIfEmpty(refused.Meaning), "advice": string(refused.Advice)}}
	case errors.As(err, &unsigned):
		return object{"answer-not-verified": canonicalRefusal(unsigned)}
	case errors.As(err, &malformed):
		return object{"malformed-response": canonicalMalformed(malformed)}
	case errors.As(err, &transport):
		return object{"transport": object{"message": transport.Message, "may_have_reached_wechat": transport.MayHaveReachedWeChat}}
	case errors.As(err, &denied):
		return object{"denied": denied.Message}
	}
	t.Fatalf("not a v3 error: %v", err)
	return nil
}

func refusalFrom(t *testing.T, v interface{}) AnswerNotVerifiedError {
	switch v := v.(type) {
	case string:
		return AnswerNotVerifiedError{Reason: v}
	case map[string]interface{}:
		for reason, payload := range v {
			switch p := payload.(type) {
			case string:
				return AnswerNotVerifiedError{Reason: reason, Header: p}
			case float64:
				return AnswerNotVerifiedError{Reason: reason, SkewSeconds: int64(p)}
			}
		}
	}
	t.Fatalf("not an answer-refusal: %v", v)
	return AnswerNotVerifiedError{}
}

func malformedFrom(v interface{}) MalformedResponseError {
	o := v.(map[string]interface{})
	field, _ := o["field"].(string)
	return MalformedResponseError{Field: field, Problem: o["problem"].(string)}
}

// v3ErrorFrom is a canonical `v3-error` as this package's error.
func v3ErrorFrom(t *testing.T, raw json.RawMessage) error {
	var v map[string]interface{}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	for kind, p := range v {
		switch kind {
		case "invalid-input":
			o := p.(map[string]interface{})
			return &InvalidInputError{Field: o["field"].(string), Rule: o["rule"].(string)}
		case "refused":
			var e RefusedError
			b, _ := json.Marshal(p)
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			return &e
		case "answer-not-verified":
			e := refusalFrom(t, p)
			return &e
		case "malformed-response":
			e := malformedFrom(p)
			return &e
		case "transport":
			o := p.(map[string]interface{})
			return &TransportError{Message: o["message"].(string), MayHaveReachedWeChat: o["may_have_reached_wechat"].(bool)}
		case "denied":
			return &DeniedError{Message: p.(string)}
		}
	}
	t.Fatalf("not a v3-error: %s", raw)
	return nil
}

func notificationErrorFrom(t *testing.T, raw json.RawMessage) *NotificationError {
	var v interface{}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if s, ok := v.(string); ok {
		return &NotificationError{Kind: s}
	}
	for kind, p := range v.(map[string]interface{}) {
		switch kind {
		case "not-verified":
			return &NotificationError{Kind: kind, Refusal: refusalFrom(t, p)}
		case "malformed":
			return &NotificationError{Kind: kind, Malformed: malformedFrom(p)}
		default:
			return &NotificationError{Kind: kind, Text: p.(string)}
		}
	}
	t.Fatalf("not a notification-error: %s", raw)
	return nil
}

// v3Caller calls exports by name, with the merchants it opened.
type v3Caller struct {
	t         *testing.T
	rt        *Runtime
	sigs      map[string]v3Sig
	merchants map[string]*V3Merchant
}

func (c *v3Caller) merchant(raw json.RawMessage) (*V3Merchant, error) {
	if m := c.merchants[string(raw)]; m != nil {
		return m, nil
	}
	var settings V3MerchantSettings
	if err := json.Unmarshal(raw, &settings); err != nil {
		c.t.Fatal(err)
	}
	// The cases call the component's exports by name (`sign`, `parse-*`): it holds every key.
	m, err := c.rt.openV3Merchant(settings, true)
	if err == nil {
		c.merchants[string(raw)] = m
	}
	return m, err
}

func (c *v3Caller) answer(v interface{}, err error) object {
	if err != nil {
		return object{"error": canonicalV3Error(c.t, err)}
	}
	return object{"ok": canonicalV3(c.t, v)}
}

// call runs the export `name` (`v3.…`) with canonical arguments; the canonical answer.
func (c *v3Caller) call(name string, raw []json.RawMessage) object {
	t, rt, fn := c.t, c.rt, strings.TrimPrefix(name, "v3.")
	text := func(i int) string {
		var s string
		if err := json.Unmarshal(raw[i], &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	switch fn {
	case "issue-outcome-unknown":
		unknown, err := rt.V3IssueOutcomeUnknown(v3ErrorFrom(t, raw[0]))
		return c.answer(unknown, err)
	case "issue-outcome-unknown-advice":
		return c.answer(rt.v3Advice(), nil)
	case "notification-http-status":
		var status uint16
		err := rt.invoke(v3Fn(fn), []arg{{notificationErrorFrom(t, raw[0]).variant(), "", false}}, func(r *cval) error { return lifted(r, &status) })
		return c.answer(status, err)
	case "notification-failure-body", "stock-status-of", "coupon-status-of":
		var out string
		err := rt.invoke(v3Fn(fn), []arg{{text(0), "", false}}, func(r *cval) error { return lifted(r, &out) })
		return c.answer(out, err)
	}
	sig, ok := c.sigs[fn]
	if !ok {
		t.Fatalf("no signature for %s", name)
	}
	args := make([]arg, len(raw))
	for i, ty := range sig.args {
		switch ty {
		case merchantType:
			m, err := c.merchant(raw[i])
			if err != nil { // a merchant that does not open: `open`'s error answers the call
				return c.answer(nil, err)
			}
			args[i] = arg{m, "merchant.", false}
		case bytesType:
			b, err := hex.DecodeString(text(i))
			if err != nil {
				t.Fatal(err)
			}
			args[i] = arg{b, "", false}
		default:
			v := reflect.New(ty)
			if err := json.Unmarshal(raw[i], v.Interface()); err != nil {
				t.Fatalf("%s args[%d]: %v", name, i, err)
			}
			args[i] = arg{v.Elem().Interface(), "", false}
		}
	}
	out := reflect.New(sig.result)
	if !sig.notification {
		err := rt.call(v3Fn(fn), out.Interface(), args...)
		return c.answer(out.Interface(), err)
	}
	var refusal *NotificationError
	if err := rt.invoke(v3Fn(fn), args, func(r *cval) error { return liftNotification(r, out.Interface(), &refusal) }); err != nil {
		t.Fatal(err)
	}
	if refusal != nil {
		return c.answer(nil, refusal)
	}
	return c.answer(out.Interface(), nil)
}

func TestConformanceV3(t *testing.T) {
	doc := loadCases(t, "v3")
	c := &v3Caller{t: t, rt: testRuntime(t), sigs: v3Signatures(), merchants: map[string]*V3Merchant{}}
	for _, raw := range doc.Cases {
		var tc struct {
			Name     string `json:"name"`
			Merchant object `json:"merchant"`
			Calls    []struct {
				Function string            `json:"function"`
				Args     []json.RawMessage `json:"args"`
			} `json:"calls"`
			Expected []interface{} `json:"expected"`
		}
		if err := json.Unmarshal(raw, &tc); err != nil {
			t.Fatal(err)
		}
		t.Run(tc.Name, func(t *testing.T) {
			c.t = t
			merchant := object{}
			for k, v := range doc.Merchant {
				merchant[k] = v
			}
			for k, v := range tc.Merchant {
				merchant[k] = v
			}
			merchantRaw, _ := json.Marshal(merchant)
			var answers []interface{}
			var prev interface{}
			for _, call := range tc.Calls {
				args := make([]json.RawMessage, len(call.Args))
				for i, a := range call.Args {
					switch string(a) {
					case `"$merchant"`:
						args[i] = merchantRaw
					case `"$prev"`:
						args[i], _ = json.Marshal(prev)
					default:
						args[i] = a
					}
				}
				answer := c.call(call.Function, args)
				prev = answer["ok"]
				answers = append(answers, answer)
			}
			same(t, answers, tc.Expected)
		})
	}
}

var v3Ref = regexp.MustCompile(`\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}`)

func v3Resolve(v interface{}, refs map[string]map[string]interface{}) interface{} {
	switch v := v.(type) {
	case string:
		return v3Ref.ReplaceAllStringFunc(v, func(m string) string {
			parts := v3Ref.FindStringSubmatch(m)
			return fmt.Sprint(refs[parts[1]][parts[2]])
		})
	case []interface{}:
		out := make([]interface{}, len(v))
		for i, x := range v {
			out[i] = v3Resolve(x, refs)
		}
		return out
	case map[string]interface{}:
		out := map[string]interface{}{}
		for k, x := range v {
			out[k] = v3Resolve(x, refs)
		}
		return out
	}
	return v
}

func v3Mask(v interface{}, parts []string) {
	switch node := v.(type) {
	case []interface{}:
		for _, item := range node {
			v3Mask(item, parts)
		}
	case map[string]interface{}:
		if x, ok := node[parts[0]]; ok {
			if len(parts) == 1 {
				node[parts[0]] = "<volatile>"
			} else {
				v3Mask(x, parts[1:])
			}
		}
	}
}

// beijing is RFC 3339 in Beijing time, as WeChat writes it.
func beijing(unix int64) string {
	return time.Unix(unix, 0).In(time.FixedZone("CST", 8*3600)).Format("2006-01-02T15:04:05+08:00")
}

func TestConformanceV3Live(t *testing.T) {
	doc := loadCases(t, "v3-live")
	rt, sim := testRuntime(t), startSimulator(t, nil)
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	merchant, err := rt.OpenV3Merchant(V3MerchantSettings{MchID: sim.MchID, MerchantSerialNo: sim.V3MerchantSerialNo,
		APIv3Key: doc.Merchant["apiv3_key"].(string), PrivateKeyPEM: read(sim.V3MerchantKey), WechatpayPublicKeyID: sim.V3PublicKeyID,
		WechatpayPublicKeyPEM: read(sim.V3PublicKey), BaseURL: sim.HTTPSBaseURL})
	if err != nil {
		t.Fatal(err)
	}
	client, err := rt.NewV3Client(merchant, ClientOptions{RootCAs: sim.rootCAs(t)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	refs := map[string]map[string]interface{}{
		"sim":  {"mchid": sim.MchID, "appid": sim.AppID},
		"time": {"begin": beijing(now - 60), "end": beijing(now + 30*86400)},
	}
	for _, raw := range doc.Steps {
		var step struct {
			Name     string      `json:"name"`
			Call     string      `json:"call"`
			Request  interface{} `json:"request"`
			Expected interface{} `json:"expected"`
		}
		if err := json.Unmarshal(raw, &step); err != nil {
			t.Fatal(err)
		}
		name := ""
		for _, word := range strings.Split(step.Call, "-") {
			name += strings.ToUpper(word[:1]) + word[1:]
		}
		method := reflect.ValueOf(client).MethodByName(name)
		if !method.IsValid() {
			t.Fatalf("%s: V3Client has no %s", step.Name, name)
		}
		request := reflect.New(method.Type().In(1))
		body, _ := json.Marshal(v3Resolve(step.Request, refs))
		if err := json.Unmarshal(body, request.Interface()); err != nil {
			t.Fatalf("%s: %v", step.Name, err)
		}
		results := method.Call([]reflect.Value{reflect.ValueOf(context.Background()), request.Elem()})
		var answer object
		if err, _ := results[1].Interface().(error); err != nil {
			answer = object{"error": canonicalV3Error(t, err)}
			refs[step.Name] = map[string]interface{}{}
		} else {
			ok := canonicalV3(t, results[0].Interface())
			answer = object{"ok": ok}
			refs[step.Name], _ = ok.(map[string]interface{})
			for _, path := range doc.Volatile {
				v3Mask(ok, strings.Split(path, "."))
			}
		}
		t.Run(step.Name, func(t *testing.T) { same(t, answer, step.Expected) })
	}
}
