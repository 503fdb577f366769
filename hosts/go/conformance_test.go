package wxcoupon

// The shared conformance suite (conformance/cases, rules in conformance/README.md): every case
// must give exactly the committed canonical output, which the Rust reference CLI generated. Any
// difference fails.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// --- the canonical form --------------------------------------------------------------------------

type object = map[string]interface{}

// orNull is *p, or JSON null for nil.
func orNull[T any](p *T) interface{} {
	if p == nil {
		return nil
	}
	return *p
}

func canonicalTime(t *WeChatTime) interface{} {
	if t == nil {
		return nil
	}
	return object{"raw": t.Raw, "unix_seconds": orNull(t.UnixSeconds)}
}

func canonicalFields(f Fields) object {
	o := object{}
	for k, v := range f {
		o[k] = v
	}
	return o
}

func canonicalResponse(r CouponResponse) object {
	switch r := r.(type) {
	case *SentCoupon:
		return object{
			"api": string(r.API()), "coupon_id": r.CouponID, "coupon_stock_id": r.CouponStockID,
			"openid": r.OpenID, "resp_count": orNull(r.RespCount), "success_count": orNull(r.SuccessCount),
			"failed_count": orNull(r.FailedCount), "signature": string(r.Signature), "fields": canonicalFields(r.Fields),
		}
	case *CouponStock:
		var status interface{} = r.Status.Name
		if r.Status.Name == "unknown" {
			status = object{"unknown": r.Status.Code}
		}
		return object{
			"api": string(r.API()), "coupon_stock_id": r.CouponStockID, "coupon_name": orNull(r.CouponName),
			"coupon_value": r.CouponValue, "coupon_minimum": orNull(r.CouponMinimum), "coupon_type": orNull(r.CouponType),
			"status": status, "coupon_total": r.CouponTotal, "max_quota": orNull(r.MaxQuota),
			"is_send_num": orNull(r.IsSendNum), "locked_num": orNull(r.LockedNum), "used_num": orNull(r.UsedNum),
			"coupon_budget": orNull(r.CouponBudget), "begin_time": canonicalTime(r.BeginTime),
			"end_time": canonicalTime(r.EndTime), "create_time": canonicalTime(r.CreateTime),
			"signature": string(r.Signature), "fields": canonicalFields(r.Fields),
		}
	case *CouponInfo:
		var state interface{} = r.State.Name
		if r.State.Name == "unknown" {
			state = object{"unknown": r.State.Raw}
		}
		return object{
			"api": string(r.API()), "coupon_id": r.CouponID, "coupon_stock_id": r.CouponStockID,
			"coupon_value": r.CouponValue, "coupon_minimum": orNull(r.CouponMinimum), "coupon_name": orNull(r.CouponName),
			"coupon_desc": orNull(r.CouponDesc), "state": state, "coupon_use_value": orNull(r.CouponUseValue),
			"coupon_remain_value": orNull(r.CouponRemainValue), "begin_time": canonicalTime(r.BeginTime),
			"end_time": canonicalTime(r.EndTime), "send_time": canonicalTime(r.SendTime),
			"send_source": orNull(r.SendSource), "is_partial_use": orNull(r.IsPartialUse),
			"consumer_mch_id": orNull(r.ConsumerMchID), "signature": string(r.Signature), "fields": canonicalFields(r.Fields),
		}
	}
	panic("not a wxcoupon response")
}

func canonicalHTTPRequest(h *HTTPRequest) object {
	headers := []interface{}{}
	for _, kv := range h.Headers {
		headers = append(headers, []interface{}{kv[0], kv[1]})
	}
	return object{
		"method": h.Method, "url": h.URL, "headers": headers, "body": string(h.Body),
		"needs_client_certificate": h.NeedsClientCertificate,
	}
}

// canonicalError is the error's canonical form; an error outside the contract fails the test.
func canonicalError(t *testing.T, err error) object {
	var (
		invalid   *InvalidInputError
		status    *UnexpectedStatusError
		malformed *MalformedResponseError
		protocol  *ProtocolError
		business  *BusinessError
		signature *SignatureError
		transport *TransportError
		denied    *DeniedError
	)
	switch {
	case errors.As(err, &invalid):
		return object{"kind": "invalid-input", "field": invalid.Field, "rule": invalid.Rule}
	case errors.As(err, &status):
		return object{"kind": "unexpected-status", "status": status.Status}
	case errors.As(err, &malformed):
		var field interface{}
		if malformed.Field != "" {
			field = malformed.Field
		}
		return object{"kind": "malformed-response", "field": field, "problem": malformed.Problem}
	case errors.As(err, &protocol):
		return object{"kind": "protocol", "return_msg": protocol.ReturnMsg}
	case errors.As(err, &business):
		return object{
			"kind": "business", "err_code": orNull(business.ErrCode), "err_code_des": orNull(business.ErrCodeDes),
			"ret_msg": orNull(business.RetMsg), "meaning": orNull(business.Meaning),
			"advice": string(business.Advice), "retryable": business.Retryable,
		}
	case errors.As(err, &signature):
		return object{"kind": "signature", "problem": string(signature.Problem)}
	case errors.As(err, &transport):
		return object{"kind": "transport", "message": transport.Message, "may_have_reached_wechat": transport.MayHaveReachedWeChat}
	case errors.As(err, &denied):
		return object{"kind": "denied", "message": denied.Message}
	}
	t.Fatalf("an error outside the contract: %v", err)
	return nil
}

func outcome(t *testing.T, v interface{}, err error) object {
	if err != nil {
		return object{"error": canonicalError(t, err)}
	}
	return object{"ok": v}
}

// stableJSON is the key-sorted serialisation two canonical values are compared by.
func stableJSON(t *testing.T, v interface{}) string {
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	// Through interface{} with json.Number, so expected (decoded) and actual (built) values
	// print numbers and keys the same way.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic interface{}
	if err := dec.Decode(&generic); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(generic); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func same(t *testing.T, actual, expected interface{}) {
	t.Helper()
	if a, e := stableJSON(t, actual), stableJSON(t, expected); a != e {
		t.Errorf("differs from the committed expectation\n--- actual\n%s--- expected\n%s", a, e)
	}
}

// --- the case files -------------------------------------------------------------------------------

type caseFile struct {
	Merchant object            `json:"merchant"`
	Volatile []string          `json:"volatile"`
	Cases    []json.RawMessage `json:"cases"`
	Steps    []json.RawMessage `json:"steps"`
}

func loadCases(t *testing.T, group string) caseFile {
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "conformance", "cases", group+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f caseFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s.json: %v", group, err)
	}
	return f
}

func decodeCase(t *testing.T, raw json.RawMessage, into interface{}) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		t.Fatal(err)
	}
}

// merchantFrom maps the file's merchant keys, with the case's replacing them, to a Merchant.
func merchantFrom(t *testing.T, base, override object) Merchant {
	m := object{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range override {
		m[k] = v
	}
	out := Merchant{
		AppID: m["appid"].(string), MchID: m["mch_id"].(string), APIKey: APIKey(m["api_key"].(string)),
		Sandbox: m["sandbox"].(bool), RequireSignedResponses: m["signature_policy"] == "require",
	}
	switch m["sign_type"] {
	case "MD5":
	case "HMAC-SHA256":
		out.SignType = HMACSHA256
	default:
		t.Fatalf("sign_type %v", m["sign_type"])
	}
	switch host := m["host"].(type) {
	case string:
		out.BackupHost = host == "backup"
	case map[string]interface{}:
		out.BaseURL = host["custom"].(string)
	}
	return out
}

func signTypeFrom(t *testing.T, s string) SignType {
	switch s {
	case "MD5":
		return MD5
	case "HMAC-SHA256":
		return HMACSHA256
	}
	t.Fatalf("sign_type %q", s)
	return 0
}

// requestFrom maps a case's request (the CLI's request JSON) to a request struct.
func requestFrom(t *testing.T, api string, r map[string]string) CouponRequest {
	opts := CommonOptions{OpUserID: r["op_user_id"], DeviceInfo: r["device_info"], Version: r["version"], MessageType: r["message_type"]}
	switch api {
	case "send_coupon":
		return SendCouponRequest{CouponStockID: r["coupon_stock_id"], OpenID: r["openid"], PartnerTradeNo: r["partner_trade_no"], CommonOptions: opts}
	case "query_coupon_stock":
		return QueryCouponStockRequest{CouponStockID: r["coupon_stock_id"], CommonOptions: opts}
	case "querycouponsinfo":
		return QueryCouponsInfoRequest{CouponID: r["coupon_id"], OpenID: r["openid"], StockID: r["stock_id"], CommonOptions: opts}
	}
	t.Fatalf("api %q", api)
	return nil
}

func TestConformanceSign(t *testing.T) {
	rt := testRuntime(t)
	file := loadCases(t, "sign")
	for _, raw := range file.Cases {
		var c struct {
			Name       string            `json:"name"`
			Fields     map[string]string `json:"fields"`
			Key        string            `json:"key"`
			SignType   string            `json:"sign_type"`
			VectorSign string            `json:"vector_sign"`
			Expected   interface{}       `json:"expected"`
		}
		decodeCase(t, raw, &c)
		t.Run(c.Name, func(t *testing.T) {
			sign, err := rt.Sign(c.Fields, APIKey(c.Key), signTypeFrom(t, c.SignType))
			same(t, outcome(t, sign, err), c.Expected)
			if c.VectorSign != "" {
				same(t, object{"ok": c.VectorSign}, c.Expected)
			}
		})
	}
}

func TestConformanceBuild(t *testing.T) {
	rt := testRuntime(t)
	file := loadCases(t, "build")
	for _, raw := range file.Cases {
		var c struct {
			Name     string            `json:"name"`
			Merchant object            `json:"merchant"`
			Request  map[string]string `json:"request"`
			Nonce    string            `json:"nonce"`
			Expected interface{}       `json:"expected"`
		}
		decodeCase(t, raw, &c)
		t.Run(c.Name, func(t *testing.T) {
			m := merchantFrom(t, file.Merchant, c.Merchant)
			built, err := rt.BuildRequest(m, requestFrom(t, c.Request["api"], c.Request), c.Nonce)
			var v interface{}
			if err == nil {
				v = canonicalHTTPRequest(built)
			}
			same(t, outcome(t, v, err), c.Expected)
		})
	}
}

func TestConformanceParse(t *testing.T) {
	rt := testRuntime(t)
	file := loadCases(t, "parse")
	for _, raw := range file.Cases {
		var c struct {
			Name     string      `json:"name"`
			Merchant object      `json:"merchant"`
			API      string      `json:"api"`
			Status   *int        `json:"status"`
			BodyFile string      `json:"body_file"`
			Body     *string     `json:"body"`
			Repeat   *int        `json:"repeat"`
			Expected interface{} `json:"expected"`
		}
		decodeCase(t, raw, &c)
		t.Run(c.Name, func(t *testing.T) {
			m := merchantFrom(t, file.Merchant, c.Merchant)
			var body []byte
			if c.BodyFile != "" {
				var err error
				if body, err = os.ReadFile(filepath.Join(repoRoot(), c.BodyFile)); err != nil {
					t.Fatal(err)
				}
			} else {
				body = []byte(*c.Body)
			}
			if c.Repeat != nil {
				body = bytes.Repeat(body, *c.Repeat)
			}
			status := 200
			if c.Status != nil {
				status = *c.Status
			}
			resp, err := rt.ParseResponse(m, API(c.API), status, body)
			var v interface{}
			if err == nil {
				v = canonicalResponse(resp)
			}
			same(t, outcome(t, v, err), c.Expected)
		})
	}
}

// canonicalErrorCase is a canonical ERROR as a case file holds it: the fields of every kind.
type canonicalErrorCase struct {
	Kind                 string  `json:"kind"`
	Field                *string `json:"field"`
	Rule                 string  `json:"rule"`
	Status               int     `json:"status"`
	Problem              string  `json:"problem"`
	ReturnMsg            string  `json:"return_msg"`
	ErrCode              *string `json:"err_code"`
	ErrCodeDes           *string `json:"err_code_des"`
	RetMsg               *string `json:"ret_msg"`
	Meaning              *string `json:"meaning"`
	Advice               string  `json:"advice"`
	Retryable            bool    `json:"retryable"`
	Message              string  `json:"message"`
	MayHaveReachedWeChat bool    `json:"may_have_reached_wechat"`
}

// errorFrom is this package's error for a canonical ERROR.
func errorFrom(t *testing.T, e canonicalErrorCase) error {
	field := ""
	if e.Field != nil {
		field = *e.Field
	}
	switch e.Kind {
	case "invalid-input":
		return &InvalidInputError{Field: field, Rule: e.Rule}
	case "unexpected-status":
		return &UnexpectedStatusError{Status: e.Status}
	case "malformed-response":
		return &MalformedResponseError{Field: field, Problem: e.Problem}
	case "protocol":
		return &ProtocolError{ReturnMsg: e.ReturnMsg}
	case "business":
		return &BusinessError{ErrCode: e.ErrCode, ErrCodeDes: e.ErrCodeDes, RetMsg: e.RetMsg, Meaning: e.Meaning, Advice: RetryAdvice(e.Advice), Retryable: e.Retryable}
	case "signature":
		return &SignatureError{Problem: SignatureProblem(e.Problem)}
	case "transport":
		return &TransportError{Message: e.Message, MayHaveReachedWeChat: e.MayHaveReachedWeChat}
	case "denied":
		return &DeniedError{Message: e.Message}
	}
	t.Fatalf("unknown error kind %q", e.Kind)
	return nil
}

func TestConformanceOutcome(t *testing.T) {
	rt := testRuntime(t)
	file := loadCases(t, "outcome")
	for _, raw := range file.Cases {
		var c struct {
			Name     string             `json:"name"`
			API      string             `json:"api"`
			Error    canonicalErrorCase `json:"error"`
			Expected interface{}        `json:"expected"`
		}
		decodeCase(t, raw, &c)
		t.Run(c.Name, func(t *testing.T) {
			unknown, err := rt.OutcomeUnknown(API(c.API), errorFrom(t, c.Error))
			same(t, outcome(t, unknown, err), c.Expected)
		})
	}
}

var stepRef = regexp.MustCompile(`\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}`)

// maskVolatile replaces each dotted path of an ok value by "<volatile>" where present.
func maskVolatile(result object, paths []string) object {
	ok, isObject := result["ok"].(object)
	if !isObject {
		return result
	}
	for _, path := range paths {
		parts := strings.Split(path, ".")
		node := ok
		for _, p := range parts[:len(parts)-1] {
			next, _ := node[p].(object)
			node = next
		}
		if node != nil {
			if _, present := node[parts[len(parts)-1]]; present {
				node[parts[len(parts)-1]] = "<volatile>"
			}
		}
	}
	return result
}

// TestConformanceLive runs the live scenario against a fresh simulator, twice: every call
// through net/http (HTTPS, the simulator's CA trusted, the certificate where the step says),
// then the queries through the component's own wasi:http client (on the simulator's plain-HTTP
// listener: the C API's wasi:http trusts only public roots) and the sends through net/http.
func TestConformanceLive(t *testing.T) {
	rt := testRuntime(t)
	file := loadCases(t, "live")
	for _, transport := range []Transport{TransportNative, TransportComponent} {
		name := map[Transport]string{TransportNative: "native", TransportComponent: "component-http"}[transport]
		t.Run(name, func(t *testing.T) {
			sim := startSimulator(t, nil)
			httpsMerchant := merchantFrom(t, file.Merchant, object{"host": object{"custom": sim.HTTPSBaseURL}})
			withCert, err := rt.NewClient(httpsMerchant, ClientOptions{RootCAs: sim.rootCAs(t), Certificate: sim.certificate(t)})
			if err != nil {
				t.Fatal(err)
			}
			withoutCert, err := rt.NewClient(httpsMerchant, ClientOptions{RootCAs: sim.rootCAs(t)})
			if err != nil {
				t.Fatal(err)
			}
			queries := withoutCert
			if transport == TransportComponent {
				plain := merchantFrom(t, file.Merchant, object{"host": object{"custom": sim.HTTPBaseURL}})
				if queries, err = rt.NewClient(plain, ClientOptions{Transport: TransportComponent}); err != nil {
					t.Fatal(err)
				}
			}
			results := map[string]object{}
			for _, raw := range file.Steps {
				var step struct {
					Name        string            `json:"name"`
					Call        string            `json:"call"`
					Request     map[string]string `json:"request"`
					Certificate bool              `json:"certificate"`
					Expected    interface{}       `json:"expected"`
				}
				decodeCase(t, raw, &step)
				for k, v := range step.Request {
					step.Request[k] = stepRef.ReplaceAllStringFunc(v, func(ref string) string {
						m := stepRef.FindStringSubmatch(ref)
						return results[m[1]]["ok"].(object)[m[2]].(string)
					})
				}
				ctx := context.Background()
				var resp CouponResponse
				var err error
				switch r := requestFrom(t, step.Call, step.Request).(type) {
				case SendCouponRequest:
					client := withoutCert
					if step.Certificate {
						client = withCert
					}
					var sent *SentCoupon
					if sent, err = client.SendCoupon(ctx, r); err == nil {
						resp = sent
					}
				case QueryCouponStockRequest:
					var stock *CouponStock
					if stock, err = queries.QueryCouponStock(ctx, r); err == nil {
						resp = stock
					}
				case QueryCouponsInfoRequest:
					var info *CouponInfo
					if info, err = queries.QueryCouponsInfo(ctx, r); err == nil {
						resp = info
					}
				}
				var v interface{}
				if err == nil {
					v = canonicalResponse(resp)
				}
				results[step.Name] = outcome(t, v, err)
				t.Run(step.Name, func(t *testing.T) {
					same(t, maskVolatile(results[step.Name], file.Volatile), step.Expected)
				})
			}
		})
	}
}
