package wxcoupon

// The sans-IO exports through the Go API: Sign and Verify (against the shared vectors),
// BuildRequest (URL, headers, body, signature), input validation (typed InvalidInputError naming
// the field and the rule, strings that are not UTF-8 refused before they reach the component),
// and ParseResponse on the real-traffic fixtures and on bad answers. No network.

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type signVector struct {
	Name     string            `json:"name"`
	Key      string            `json:"key"`
	SignType string            `json:"sign_type"`
	Fields   map[string]string `json:"fields"`
	Sign     string            `json:"sign"`
}

// vectors are the shared signature vectors (tests/fixtures/vectors.json).
func vectors(t testing.TB) []signVector {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "tests", "fixtures", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []signVector `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) == 0 {
		t.Fatal("vectors.json holds no cases")
	}
	return file.Cases
}

func (v signVector) signType(t testing.TB) SignType {
	switch v.SignType {
	case "MD5":
		return MD5
	case "HMAC-SHA256":
		return HMACSHA256
	}
	t.Fatalf("vector %s: unknown sign type %q", v.Name, v.SignType)
	return 0
}

// fixture reads one of the shared real-traffic answers (tests/fixtures/responses).
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(repoRoot(), "tests", "fixtures", "responses", name))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// xmlFields reads a flat <xml> document into its fields (CDATA or text).
func xmlFields(t testing.TB, body []byte) map[string]string {
	t.Helper()
	var doc struct {
		XMLName xml.Name
		Fields  []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("the body is not XML: %v\n%s", err, body)
	}
	if doc.XMLName.Local != "xml" {
		t.Fatalf("the root element is <%s>, not <xml>", doc.XMLName.Local)
	}
	fields := map[string]string{}
	for _, f := range doc.Fields {
		fields[f.XMLName.Local] = f.Value
	}
	return fields
}

func copyFields(f map[string]string) map[string]string {
	c := make(map[string]string, len(f)+1)
	for k, v := range f {
		c[k] = v
	}
	return c
}

// asInvalidInput fails the test unless err is an *InvalidInputError.
func asInvalidInput(t testing.TB, err error) *InvalidInputError {
	t.Helper()
	var invalid *InvalidInputError
	if !errors.As(err, &invalid) {
		t.Fatalf("want *InvalidInputError, got %T: %v", err, err)
	}
	return invalid
}

func sendRequest(stock, openid, tradeNo string) SendCouponRequest {
	return SendCouponRequest{CouponStockID: stock, OpenID: openid, PartnerTradeNo: tradeNo}
}

func TestSignAndVerifyTheSharedVectors(t *testing.T) {
	rt := testRuntime(t)
	for _, v := range vectors(t) {
		v := v
		t.Run(v.Name, func(t *testing.T) {
			got, err := rt.Sign(v.Fields, APIKey(v.Key), v.signType(t))
			if err != nil {
				t.Fatal(err)
			}
			if got != v.Sign {
				t.Fatalf("Sign = %s, want %s", got, v.Sign)
			}
			want := SignatureVerifiedMD5
			if v.signType(t) == HMACSHA256 {
				want = SignatureVerifiedHMACSHA256
			}
			signed := copyFields(v.Fields)
			signed["sign"] = v.Sign
			check, err := rt.Verify(signed, APIKey(v.Key))
			if err != nil {
				t.Fatal(err)
			}
			if check != want {
				t.Fatalf("Verify = %s, want %s", check, want)
			}
		})
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	rt := testRuntime(t)
	fields := map[string]string{
		"appid":           "wx5edab3bdfba3dc1c",
		"mch_id":          "10000098",
		"coupon_stock_id": "1757",
		"nonce_str":       "roundtrip42",
		"coupon_name":     "满20减2",
	}
	for _, tc := range []struct {
		signType SignType
		length   int
		want     SignatureCheck
	}{
		{MD5, 32, SignatureVerifiedMD5},
		{HMACSHA256, 64, SignatureVerifiedHMACSHA256},
	} {
		tc := tc
		t.Run(tc.signType.String(), func(t *testing.T) {
			sign, err := rt.Sign(fields, testKey, tc.signType)
			if err != nil {
				t.Fatal(err)
			}
			if len(sign) != tc.length || strings.ToUpper(sign) != sign {
				t.Fatalf("Sign = %q: want %d upper-case hex characters", sign, tc.length)
			}
			signed := copyFields(fields)
			signed["sign"] = sign
			check, err := rt.Verify(signed, testKey)
			if err != nil || check != tc.want {
				t.Fatalf("Verify = %q, %v; want %q", check, err, tc.want)
			}

			// Any changed field, or another key, is a mismatch.
			changed := copyFields(signed)
			changed["coupon_stock_id"] = "1758"
			_, err = rt.Verify(changed, testKey)
			var sigErr *SignatureError
			if !errors.As(err, &sigErr) || sigErr.Problem != SignatureMismatch {
				t.Fatalf("Verify of a changed field = %T %v; want *SignatureError mismatch", err, err)
			}
			_, err = rt.Verify(signed, "00000000000000000000000000000000")
			if !errors.As(err, &sigErr) || sigErr.Problem != SignatureMismatch {
				t.Fatalf("Verify with another key = %T %v; want *SignatureError mismatch", err, err)
			}
		})
	}

	t.Run("missing and malformed", func(t *testing.T) {
		var sigErr *SignatureError
		_, err := rt.Verify(fields, testKey)
		if !errors.As(err, &sigErr) || sigErr.Problem != SignatureMissing {
			t.Fatalf("Verify without sign = %T %v; want *SignatureError missing", err, err)
		}
		bad := copyFields(fields)
		bad["sign"] = "not-hex"
		_, err = rt.Verify(bad, testKey)
		if !errors.As(err, &sigErr) || sigErr.Problem != SignatureMalformed {
			t.Fatalf("Verify of a short sign = %T %v; want *SignatureError malformed", err, err)
		}
	})

	t.Run("bad sign type", func(t *testing.T) {
		_, err := rt.Sign(fields, testKey, SignType(7))
		if got := asInvalidInput(t, err); got.Field != "sign_type" {
			t.Fatalf("Field = %q, want sign_type", got.Field)
		}
	})
}

func TestBuildRequestWithAFixedNonce(t *testing.T) {
	rt := testRuntime(t)
	// The send_coupon vectors: the same fields, the same nonce, hence the same signature.
	request := SendCouponRequest{
		CouponStockID:  "1757",
		OpenID:         "onqOjjrXT-776SpHnfexGm1_P7iE",
		PartnerTradeNo: "1000009820141203515766",
		CommonOptions:  CommonOptions{OpUserID: "10000098", Version: "1.0", MessageType: "XML"},
	}
	hmac := testMerchant("")
	hmac.SignType = HMACSHA256
	for _, tc := range []struct {
		name     string
		merchant Merchant
		sign     string
	}{
		{"MD5", testMerchant(""), "2668B7C27B88355DAF0D55E7BAC07AA2"},
		{"HMAC-SHA256", hmac, vectorSign(t, "send_coupon-hmac-with-sign_type")},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			built, err := rt.BuildRequest(tc.merchant, request, "1417574675")
			if err != nil {
				t.Fatal(err)
			}
			if built.Method != "POST" {
				t.Errorf("Method = %q, want POST", built.Method)
			}
			if want := "https://api.mch.weixin.qq.com/mmpaymkttransfers/send_coupon"; built.URL != want {
				t.Errorf("URL = %q, want %q", built.URL, want)
			}
			if !built.NeedsClientCertificate {
				t.Error("send_coupon must ask for the client certificate")
			}
			headers := map[string]string{}
			for _, h := range built.Headers {
				headers[strings.ToLower(h[0])] = h[1]
			}
			if headers["content-type"] != "text/xml; charset=utf-8" || headers["accept"] != "text/xml" {
				t.Errorf("Headers = %q: want content-type text/xml; charset=utf-8 and accept text/xml", built.Headers)
			}
			if !strings.HasPrefix(headers["user-agent"], "wxcoupon/") {
				t.Errorf("user-agent = %q, want wxcoupon/<version>", headers["user-agent"])
			}
			for _, forbidden := range []string{"host", "content-length", "connection", "transfer-encoding"} {
				if _, ok := headers[forbidden]; ok {
					t.Errorf("the component set %s, which the HTTP layer owns", forbidden)
				}
			}

			fields := xmlFields(t, built.Body)
			want := map[string]string{
				"appid":            "wx5edab3bdfba3dc1c",
				"mch_id":           "10000098",
				"nonce_str":        "1417574675",
				"coupon_stock_id":  "1757",
				"openid":           "onqOjjrXT-776SpHnfexGm1_P7iE",
				"openid_count":     "1",
				"partner_trade_no": "1000009820141203515766",
				"op_user_id":       "10000098",
				"version":          "1.0",
				"type":             "XML",
				"sign":             tc.sign,
			}
			if tc.merchant.SignType == HMACSHA256 {
				want["sign_type"] = "HMAC-SHA256"
			}
			for name, value := range want {
				if fields[name] != value {
					t.Errorf("body field %s = %q, want %q", name, fields[name], value)
				}
			}
			if len(fields) != len(want) {
				t.Errorf("body fields = %v, want exactly %v", fields, want)
			}
			if _, err := rt.Verify(fields, testKey); err != nil {
				t.Errorf("the body's own signature does not verify: %v", err)
			}
		})
	}
}

func vectorSign(t testing.TB, name string) string {
	for _, v := range vectors(t) {
		if v.Name == name {
			return v.Sign
		}
	}
	t.Fatalf("no vector %s", name)
	return ""
}

func TestBuildRequestURLsAndAPIs(t *testing.T) {
	rt := testRuntime(t)
	sandbox := testMerchant("")
	sandbox.Sandbox = true
	backup := testMerchant("")
	backup.BackupHost = true
	stock := QueryCouponStockRequest{CouponStockID: "1757"}
	info := &QueryCouponsInfoRequest{CouponID: "1565", OpenID: "o-1", StockID: "58818"}
	for _, tc := range []struct {
		name     string
		merchant Merchant
		request  CouponRequest
		url      string
		needs    bool
		field    string
	}{
		{"stock", testMerchant(""), stock, "https://api.mch.weixin.qq.com/mmpaymkttransfers/query_coupon_stock", false, "coupon_stock_id"},
		{"stock pointer", testMerchant(""), &stock, "https://api.mch.weixin.qq.com/mmpaymkttransfers/query_coupon_stock", false, "coupon_stock_id"},
		{"info", testMerchant(""), info, "https://api.mch.weixin.qq.com/mmpaymkttransfers/querycouponsinfo", false, "stock_id"},
		{"send pointer", testMerchant(""), &SendCouponRequest{CouponStockID: "1757", OpenID: "o-1", PartnerTradeNo: "1"}, "https://api.mch.weixin.qq.com/mmpaymkttransfers/send_coupon", true, "partner_trade_no"},
		{"sandbox", sandbox, stock, "https://api.mch.weixin.qq.com/sandboxnew/mmpaymkttransfers/query_coupon_stock", false, "coupon_stock_id"},
		{"backup host", backup, stock, "https://api2.mch.weixin.qq.com/mmpaymkttransfers/query_coupon_stock", false, "coupon_stock_id"},
		{"base URL", testMerchant("http://127.0.0.1:8080/proxy"), stock, "http://127.0.0.1:8080/proxy/mmpaymkttransfers/query_coupon_stock", false, "coupon_stock_id"},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			built, err := rt.BuildRequest(tc.merchant, tc.request, "abc123")
			if err != nil {
				t.Fatal(err)
			}
			if built.URL != tc.url {
				t.Errorf("URL = %q, want %q", built.URL, tc.url)
			}
			if built.NeedsClientCertificate != tc.needs {
				t.Errorf("NeedsClientCertificate = %v, want %v", built.NeedsClientCertificate, tc.needs)
			}
			fields := xmlFields(t, built.Body)
			if fields[tc.field] == "" || fields["nonce_str"] != "abc123" {
				t.Errorf("body fields %v: want %s and nonce_str abc123", fields, tc.field)
			}
		})
	}

	t.Run("random nonce", func(t *testing.T) {
		seen := map[string]bool{}
		for i := 0; i < 3; i++ {
			built, err := rt.BuildRequest(testMerchant(""), stock, "")
			if err != nil {
				t.Fatal(err)
			}
			fields := xmlFields(t, built.Body)
			nonce := fields["nonce_str"]
			if len(nonce) != 32 || strings.Trim(nonce, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
				t.Fatalf("nonce_str = %q, want 32 ASCII letters or digits", nonce)
			}
			if check, err := rt.Verify(fields, testKey); err != nil || check != SignatureVerifiedMD5 {
				t.Fatalf("Verify = %q, %v", check, err)
			}
			seen[nonce] = true
		}
		if len(seen) != 3 {
			t.Fatalf("three random nonces were not all different: %v", seen)
		}
	})
}

func TestInvalidInputNamesTheFieldAndTheRule(t *testing.T) {
	rt := testRuntime(t)
	good := sendRequest("1757", "o-1", "10000098201411280001")
	withMerchant := func(change func(*Merchant)) Merchant {
		m := testMerchant("")
		change(&m)
		return m
	}
	withRequest := func(change func(*SendCouponRequest)) SendCouponRequest {
		r := good
		change(&r)
		return r
	}
	var nilSend *SendCouponRequest
	var nilStock *QueryCouponStockRequest
	var nilInfo *QueryCouponsInfoRequest
	for _, tc := range []struct {
		name     string
		merchant Merchant
		request  CouponRequest
		nonce    string
		field    string
		rule     string // "" checks the field only
	}{
		{"empty openid", testMerchant(""), withRequest(func(r *SendCouponRequest) { r.OpenID = "" }), "n", "openid", "required"},
		{"blank openid", testMerchant(""), withRequest(func(r *SendCouponRequest) { r.OpenID = "   " }), "n", "openid", "required"},
		{"empty stock", testMerchant(""), withRequest(func(r *SendCouponRequest) { r.CouponStockID = "" }), "n", "coupon_stock_id", "required"},
		{"empty partner_trade_no", testMerchant(""), withRequest(func(r *SendCouponRequest) { r.PartnerTradeNo = "" }), "n", "partner_trade_no", "required"},
		{"empty stock_id", testMerchant(""), QueryCouponsInfoRequest{CouponID: "1", OpenID: "o"}, "n", "stock_id", "required"},
		{"type not XML", testMerchant(""), withRequest(func(r *SendCouponRequest) { r.MessageType = "JSON" }), "n", "type", "must be XML, the only format WeChat accepts"},
		{"long device_info", testMerchant(""), withRequest(func(r *SendCouponRequest) { r.DeviceInfo = strings.Repeat("d", 33) }), "n", "device_info", "at most 32 characters (got 33)"},
		{"nil *SendCouponRequest", testMerchant(""), nilSend, "n", "request", "required"},
		{"nil *QueryCouponStockRequest", testMerchant(""), nilStock, "n", "request", "required"},
		{"nil *QueryCouponsInfoRequest", testMerchant(""), nilInfo, "n", "request", "required"},
		{"nil request", testMerchant(""), nil, "n", "request", ""},
		{"wrong request type", testMerchant(""), "send_coupon", "n", "request", ""},
		{"wrong struct", testMerchant(""), struct{ OpenID string }{"o-1"}, "n", "request", ""},
		{"bad nonce", testMerchant(""), good, "not a nonce!", "nonce_str", "only ASCII letters and digits"},
		{"empty appid", withMerchant(func(m *Merchant) { m.AppID = "" }), good, "n", "merchant.appid", "required"},
		{"short key", withMerchant(func(m *Merchant) { m.APIKey = "short-secret" }), good, "n", "merchant.api_key", "must be 32 characters, the APIv2 key's length (got 12)"},
		{"unknown sign type", withMerchant(func(m *Merchant) { m.SignType = SignType(9) }), good, "n", "merchant.sign_type", "must be MD5 or HMAC-SHA256"},
		{"sandbox with HMAC", withMerchant(func(m *Merchant) { m.Sandbox, m.SignType = true, HMACSHA256 }), good, "n", "merchant.sign_type", ""},
		{"ftp base URL", testMerchant("ftp://example.test"), good, "n", "merchant.base_url", "must start with http:// or https://"},
		{"base URL and backup host", withMerchant(func(m *Merchant) { m.BaseURL, m.BackupHost = "https://127.0.0.1:1", true }), good, "n", "merchant.backup_host", ""},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			built, err := rt.BuildRequest(tc.merchant, tc.request, tc.nonce)
			if built != nil {
				t.Errorf("BuildRequest returned a request with the error: %+v", built)
			}
			got := asInvalidInput(t, err)
			if got.Field != tc.field || (tc.rule != "" && got.Rule != tc.rule) {
				t.Fatalf("InvalidInputError{%q, %q}, want {%q, %q}", got.Field, got.Rule, tc.field, tc.rule)
			}
			if got.Rule == "" {
				t.Fatal("the error names no rule")
			}
			if !strings.Contains(got.Error(), tc.field) {
				t.Fatalf("Error() = %q does not name the field", got.Error())
			}
		})
	}
}

func TestStringsThatAreNotUTF8AreRefusedBeforeTheComponent(t *testing.T) {
	rt := testRuntime(t)
	const bad = "o-\xff\xfe"
	for _, tc := range []struct {
		name  string
		call  func() error
		field string // "" when only the type and rule are checked
	}{
		{name: "openid", field: "openid", call: func() error {
			_, err := rt.BuildRequest(testMerchant(""), sendRequest("1757", bad, "1"), "n")
			return err
		}},
		{name: "device_info", field: "device_info", call: func() error {
			r := sendRequest("1757", "o-1", "1")
			r.DeviceInfo = bad
			_, err := rt.BuildRequest(testMerchant(""), &r, "n")
			return err
		}},
		{name: "stock_id", field: "stock_id", call: func() error {
			_, err := rt.BuildRequest(testMerchant(""), QueryCouponsInfoRequest{CouponID: "1", OpenID: "o", StockID: bad}, "n")
			return err
		}},
		{name: "merchant appid", field: "merchant.appid", call: func() error {
			m := testMerchant("")
			m.AppID = bad
			_, err := rt.BuildRequest(m, sendRequest("1757", "o-1", "1"), "n")
			return err
		}},
		{name: "merchant mch_id in ParseResponse", field: "merchant.mch_id", call: func() error {
			m := testMerchant("")
			m.MchID = bad
			_, err := rt.ParseResponse(m, APIQueryCouponStock, 200, fixture(t, "query_coupon_stock_real_unsigned.xml"))
			return err
		}},
		{name: "merchant base URL", field: "merchant.base_url", call: func() error {
			_, err := rt.BuildRequest(testMerchant("http://"+bad), sendRequest("1757", "o-1", "1"), "n")
			return err
		}},
		{name: "Sign field value", field: "fields", call: func() error {
			_, err := rt.Sign(map[string]string{"a": bad}, testKey, MD5)
			return err
		}},
		{name: "Sign field name", field: "fields", call: func() error {
			_, err := rt.Sign(map[string]string{bad: "1"}, testKey, MD5)
			return err
		}},
		{name: "Verify key", field: "key", call: func() error {
			_, err := rt.Verify(map[string]string{"a": "1", "sign": strings.Repeat("0", 32)}, APIKey(bad))
			return err
		}},
		{name: "BuildRequest nonce", field: "nonce_str", call: func() error {
			_, err := rt.BuildRequest(testMerchant(""), sendRequest("1757", "o-1", "1"), bad)
			return err
		}},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			got := asInvalidInput(t, tc.call())
			if got.Rule != "must be valid UTF-8" {
				t.Fatalf("Rule = %q, want must be valid UTF-8", got.Rule)
			}
			if tc.field != "" && got.Field != tc.field {
				t.Fatalf("Field = %q, want %q", got.Field, tc.field)
			}
		})
	}
	// The runtime is still usable afterwards.
	if _, err := rt.Sign(map[string]string{"a": "1"}, testKey, MD5); err != nil {
		t.Fatalf("Sign after the refusals: %v", err)
	}
}

func TestParseResponseRealFixtures(t *testing.T) {
	rt := testRuntime(t)
	m := testMerchant("")

	t.Run("send_coupon signed success", func(t *testing.T) {
		resp, err := rt.ParseResponse(m, APISendCoupon, 200, fixture(t, "send_coupon_success_signed.xml"))
		if err != nil {
			t.Fatal(err)
		}
		sent, ok := resp.(*SentCoupon)
		if !ok {
			t.Fatalf("got %T, want *SentCoupon", resp)
		}
		if sent.API() != APISendCoupon {
			t.Errorf("API() = %s", sent.API())
		}
		if sent.CouponID != "6954" || sent.CouponStockID != "1717" || sent.OpenID != "onqOjjrXT-776SpHnfexGm1_P7iE" {
			t.Errorf("got %+v", sent)
		}
		if sent.SuccessCount == nil || *sent.SuccessCount != 1 || sent.FailedCount == nil || *sent.FailedCount != 0 || sent.RespCount == nil || *sent.RespCount != 1 {
			t.Errorf("counts = %v %v %v, want 1 1 0", sent.RespCount, sent.SuccessCount, sent.FailedCount)
		}
		if sent.Signature != SignatureVerifiedMD5 {
			t.Errorf("Signature = %s, want verified-md5", sent.Signature)
		}
		if sent.Fields["ret_code"] != "SUCCESS" || sent.Fields["nonce_str"] != "1417579335" {
			t.Errorf("Fields = %v", sent.Fields)
		}
	})

	t.Run("query_coupon_stock unsigned with coupon_mininumn", func(t *testing.T) {
		resp, err := rt.ParseResponse(m, APIQueryCouponStock, 200, fixture(t, "query_coupon_stock_real_unsigned.xml"))
		if err != nil {
			t.Fatal(err)
		}
		s, ok := resp.(*CouponStock)
		if !ok {
			t.Fatalf("got %T, want *CouponStock", resp)
		}
		if s.CouponStockID != "8912345" || s.CouponValue != 200 || s.CouponTotal != 10 {
			t.Errorf("id, value, total = %s %d %d", s.CouponStockID, s.CouponValue, s.CouponTotal)
		}
		if s.CouponMinimum == nil || *s.CouponMinimum != 2000 {
			t.Errorf("CouponMinimum = %v, want 2000 (from coupon_mininumn)", s.CouponMinimum)
		}
		if s.Status != (StockStatus{Name: "active", Code: 4}) || !s.Status.Active() {
			t.Errorf("Status = %+v, want active (4)", s.Status)
		}
		if s.MaxQuota == nil || *s.MaxQuota != 1 || s.IsSendNum == nil || *s.IsSendNum != 2 || s.CouponBudget == nil || *s.CouponBudget != 2000 {
			t.Errorf("max_quota, is_send_num, coupon_budget = %v %v %v", s.MaxQuota, s.IsSendNum, s.CouponBudget)
		}
		if s.CouponName == nil || *s.CouponName != "满20减2" {
			t.Errorf("CouponName = %v", s.CouponName)
		}
		if s.BeginTime == nil || s.BeginTime.Raw != "1575820800" {
			t.Fatalf("BeginTime = %+v", s.BeginTime)
		}
		if at, ok := s.BeginTime.Time(); !ok || !at.Equal(time.Date(2019, 12, 8, 16, 0, 0, 0, time.UTC)) {
			t.Errorf("BeginTime.Time() = %v, %v", at, ok)
		}
		if s.EndTime == nil || s.EndTime.UnixSeconds == nil || *s.EndTime.UnixSeconds != 1577203199 {
			t.Errorf("EndTime = %+v", s.EndTime)
		}
		if s.Signature != SignatureAbsent {
			t.Errorf("Signature = %s, want absent", s.Signature)
		}
		if s.Fields["scope"] != "GLOBAL" {
			t.Errorf("unknown fields are not kept: %v", s.Fields)
		}
		if names := s.Fields.Names(); len(names) != len(s.Fields) || names[0] != "appid" {
			t.Errorf("Fields.Names() = %v", names)
		}
	})

	t.Run("querycouponsinfo with coupon_minimum", func(t *testing.T) {
		resp, err := rt.ParseResponse(m, APIQueryCouponsInfo, 200, fixture(t, "querycouponsinfo_coupon_minimum.xml"))
		if err != nil {
			t.Fatal(err)
		}
		c, ok := resp.(*CouponInfo)
		if !ok {
			t.Fatalf("got %T, want *CouponInfo", resp)
		}
		if c.CouponID != "1565" || c.CouponStockID != "58818" || c.CouponValue != 500 {
			t.Errorf("id, stock, value = %s %s %d", c.CouponID, c.CouponStockID, c.CouponValue)
		}
		if c.CouponMinimum == nil || *c.CouponMinimum != 10000 {
			t.Errorf("CouponMinimum = %v, want 10000", c.CouponMinimum)
		}
		if c.State != (CouponState{Name: "usable"}) {
			t.Errorf("State = %+v, want usable (SENDED)", c.State)
		}
		if c.CouponName == nil || *c.CouponName != "满100减5 &amp; more" {
			t.Errorf("CouponName = %v: CDATA is kept as sent", c.CouponName)
		}
		if c.IsPartialUse == nil || !*c.IsPartialUse {
			t.Errorf("IsPartialUse = %v, want true", c.IsPartialUse)
		}
		// One time as Unix seconds, one as yyyyMMddHHmmss in Beijing time.
		if c.BeginTime == nil || c.BeginTime.UnixSeconds == nil || *c.BeginTime.UnixSeconds != 1575820800 {
			t.Errorf("BeginTime = %+v", c.BeginTime)
		}
		if c.EndTime == nil || c.EndTime.Raw != "20191224235959" || c.EndTime.UnixSeconds == nil || *c.EndTime.UnixSeconds != 1577203199 {
			t.Errorf("EndTime = %+v", c.EndTime)
		}
		if c.SendSource == nil || *c.SendSource != "NORMAL" || c.CouponDesc == nil || *c.CouponDesc != "全场通用" {
			t.Errorf("SendSource, CouponDesc = %v %v", c.SendSource, c.CouponDesc)
		}
	})

	t.Run("send_coupon USER_AL_GET_COUPON", func(t *testing.T) {
		_, err := rt.ParseResponse(m, APISendCoupon, 200, fixture(t, "send_coupon_fail_user_al_get_coupon.xml"))
		var b *BusinessError
		if !errors.As(err, &b) {
			t.Fatalf("got %T %v, want *BusinessError", err, err)
		}
		if b.ErrCode == nil || *b.ErrCode != "USER_AL_GET_COUPON" || b.ErrCodeDes == nil || *b.ErrCodeDes != "你已领取过该代金券" {
			t.Errorf("ErrCode, ErrCodeDes = %v %v", b.ErrCode, b.ErrCodeDes)
		}
		if b.Retryable || b.Advice != DoNotRetry || b.Meaning == nil || !strings.Contains(*b.Meaning, "already received") {
			t.Errorf("Retryable, Advice, Meaning = %v %s %v", b.Retryable, b.Advice, b.Meaning)
		}
	})

	t.Run("return_code FAIL", func(t *testing.T) {
		_, err := rt.ParseResponse(m, APIQueryCouponStock, 200, fixture(t, "return_code_fail.xml"))
		var p *ProtocolError
		if !errors.As(err, &p) || p.ReturnMsg != "签名错误" {
			t.Fatalf("got %T %v, want *ProtocolError 签名错误", err, err)
		}
	})

	t.Run("the query_coupons_info alias", func(t *testing.T) {
		resp, err := rt.ParseResponse(m, API("query_coupons_info"), 200, fixture(t, "querycouponsinfo_coupon_minimum.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := resp.(*CouponInfo); !ok {
			t.Fatalf("got %T, want *CouponInfo", resp)
		}
	})
}

func TestParseResponseRefusals(t *testing.T) {
	rt := testRuntime(t)
	stockXML := fixture(t, "query_coupon_stock_real_unsigned.xml")
	signedXML := fixture(t, "send_coupon_success_signed.xml")
	strict := testMerchant("")
	strict.RequireSignedResponses = true
	otherKey := testMerchant("")
	otherKey.APIKey = "ffffffffffffffffffffffffffffffff"
	backupAndBase := testMerchant("https://127.0.0.1:1")
	backupAndBase.BackupHost = true

	for _, tc := range []struct {
		name     string
		merchant Merchant
		api      API
		status   int
		body     []byte
		check    func(t *testing.T, err error)
	}{
		{"status 500", testMerchant(""), APIQueryCouponStock, 500, stockXML, func(t *testing.T, err error) {
			var e *UnexpectedStatusError
			if !errors.As(err, &e) || *e != (UnexpectedStatusError{Status: 500}) {
				t.Fatalf("got %T %v, want *UnexpectedStatusError{500}", err, err)
			}
		}},
		{"status 0", testMerchant(""), APIQueryCouponStock, 0, stockXML, func(t *testing.T, err error) {
			var e *UnexpectedStatusError
			if !errors.As(err, &e) || e.Status != 0 {
				t.Fatalf("got %T %v, want *UnexpectedStatusError{0}", err, err)
			}
		}},
		{"garbage body", testMerchant(""), APIQueryCouponStock, 200, []byte("this is not xml"), isMalformed},
		{"empty body", testMerchant(""), APISendCoupon, 200, nil, isMalformed},
		{"not UTF-8 body", testMerchant(""), APISendCoupon, 200, []byte("<xml><return_code>\xff</return_code></xml>"), isMalformed},
		{"status above 65535", testMerchant(""), APIQueryCouponStock, 70000, stockXML, invalidField("status")},
		{"negative status", testMerchant(""), APIQueryCouponStock, -1, stockXML, invalidField("status")},
		{"unknown API", testMerchant(""), API("refund"), 200, stockXML, invalidField("api")},
		{"BaseURL with BackupHost", backupAndBase, APIQueryCouponStock, 200, stockXML, invalidField("merchant.backup_host")},
		{"unsigned under RequireSignedResponses", strict, APIQueryCouponStock, 200, stockXML, signatureProblem(SignatureMissing)},
		{"signed with another key", otherKey, APISendCoupon, 200, signedXML, signatureProblem(SignatureMismatch)},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			resp, err := rt.ParseResponse(tc.merchant, tc.api, tc.status, tc.body)
			if resp != nil {
				t.Errorf("a response came with the error: %+v", resp)
			}
			tc.check(t, err)
		})
	}
}

func isMalformed(t *testing.T, err error) {
	t.Helper()
	var e *MalformedResponseError
	if !errors.As(err, &e) || e.Problem == "" {
		t.Fatalf("got %T %v, want *MalformedResponseError with a problem", err, err)
	}
}

func invalidField(field string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if got := asInvalidInput(t, err); got.Field != field {
			t.Fatalf("Field = %q, want %q", got.Field, field)
		}
	}
}

func signatureProblem(p SignatureProblem) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *SignatureError
		if !errors.As(err, &e) || e.Problem != p {
			t.Fatalf("got %T %v, want *SignatureError %s", err, err, p)
		}
	}
}
