package wxcoupon

// API v3 in the Go package beyond the shared cases: the calls against the simulator over TLS
// (its CA as RootCAs), the errors as types, an issue's unknown outcome judged by the component,
// the COUPON.USE helper over the shared vectors (test keys only), and no key in any print.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func v3Vectors(t testing.TB) map[string]interface{} {
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "tests", "fixtures", "v3", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]interface{}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func fixtureV3Settings(t testing.TB) V3MerchantSettings {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(repoRoot(), "tests", "fixtures", "v3", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	keys := v3Vectors(t)["keys"].(map[string]interface{})
	merchant, platform := keys["merchant"].(map[string]interface{}), keys["platform"].(map[string]interface{})
	return V3MerchantSettings{MchID: merchant["mchid"].(string), MerchantSerialNo: merchant["certificate_serial_no"].(string),
		APIv3Key: keys["apiv3_key"].(string), PrivateKeyPEM: read("merchant_key.pem"),
		WechatpayPublicKeyID: platform["public_key_id"].(string), WechatpayPublicKeyPEM: read("platform_pub.pem")}
}

func simulatorV3Client(t *testing.T, sim *simulator) *V3Client {
	return simulatorV3ClientWith(t, sim, func(*V3MerchantSettings) {})
}

func simulatorV3ClientWith(t *testing.T, sim *simulator, change func(*V3MerchantSettings)) *V3Client {
	rt := testRuntime(t)
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	settings := V3MerchantSettings{MchID: sim.MchID, MerchantSerialNo: sim.V3MerchantSerialNo,
		APIv3Key: fixtureV3Settings(t).APIv3Key, PrivateKeyPEM: read(sim.V3MerchantKey), WechatpayPublicKeyID: sim.V3PublicKeyID,
		WechatpayPublicKeyPEM: read(sim.V3PublicKey), BaseURL: sim.HTTPSBaseURL}
	change(&settings)
	m, err := rt.OpenV3Merchant(settings)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rt.NewV3Client(m, ClientOptions{RootCAs: sim.rootCAs(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestV3StockLifeCycleAgainstTheSimulator(t *testing.T) {
	sim := startSimulator(t, nil)
	c, ctx := simulatorV3Client(t, sim), context.Background()
	now := time.Now().Unix()
	created, err := c.CreateStock(ctx, V3CreateStockRequest{StockName: "go 满2减1", BelongMerchant: sim.MchID,
		AvailableBeginTime: beijing(now - 60), AvailableEndTime: beijing(now + 30*86400),
		StockUseRule:  V3NewStockUseRule{MaxCoupons: 10, MaxAmount: 1000, MaxCouponsPerUser: 1},
		CouponUseRule: V3CouponUseRule{FixedNormalCoupon: V3FixedFaceValue{CouponAmount: 100, TransactionMinimum: 200}, AvailableMerchants: []string{sim.MchID}},
		StockType:     "NORMAL", OutRequestNo: "go-create-1"})
	if err != nil {
		t.Fatal(err)
	}
	ref := V3StockChangeRequest{StockID: created.StockID, StockCreatorMchID: sim.MchID}
	if _, err := c.StartStock(ctx, ref); err != nil {
		t.Fatal(err)
	}
	issue := V3IssueCouponRequest{OpenID: "o-go-1", StockID: created.StockID, OutRequestNo: "go-1", AppID: sim.AppID, StockCreatorMchID: sim.MchID}
	first, err := c.IssueCoupon(ctx, issue)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.IssueCoupon(ctx, issue)
	if err != nil || again.CouponID != first.CouponID {
		t.Fatalf("a repeat must answer the same coupon: %v %v", again, err)
	}
	stock, err := c.QueryStock(ctx, V3QueryStockRequest{StockID: created.StockID, StockCreatorMchID: sim.MchID})
	if err != nil || stock.DistributedCoupons == nil || *stock.DistributedCoupons != 1 {
		t.Fatalf("stock %+v: %v", stock, err)
	}
	// false is sent, not left out: the callback switch can be turned off.
	off := false
	if _, err := c.SetCallback(ctx, V3SetCallbackRequest{MchID: sim.MchID, NotifyURL: "https://merchant.example/cb", Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	setting, err := c.GetCallback(ctx, V3GetCallbackRequest{MchID: sim.MchID})
	if err != nil || setting.Enabled == nil || *setting.Enabled {
		t.Fatalf("the switch should read false: %+v %v", setting, err)
	}

	if _, err := c.PauseStock(ctx, ref); err != nil {
		t.Fatal(err)
	}
	issue.OpenID, issue.OutRequestNo = "o-go-2", "go-2"
	_, err = c.IssueCoupon(ctx, issue)
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Code != "INVALID_REQUEST" || refused.Retryable {
		t.Fatalf("a paused stock must be refused: %v", err)
	}
	if o := OutcomeOf(err); o.OutcomeUnknown || o.PartnerTradeNo != "go-2" {
		t.Fatalf("WeChat said no: nothing was issued, %+v", o)
	}
	issue.OpenID = ""
	var invalid *InvalidInputError
	if _, err := c.IssueCoupon(ctx, issue); !errors.As(err, &invalid) || invalid.Field != "openid" {
		t.Fatalf("an empty openid must be refused by name: %v", err)
	}
}

func TestV3AnswerUnderAnotherKeyAndAClosedPort(t *testing.T) {
	sim := startSimulator(t, nil)
	rt, ctx := testRuntime(t), context.Background()
	c := simulatorV3ClientWith(t, sim, func(s *V3MerchantSettings) { s.WechatpayPublicKeyID = "PUB_KEY_ID_SOMEONE_ELSE" })
	var unsigned *AnswerNotVerifiedError
	if _, err := c.GetCallback(ctx, V3GetCallbackRequest{MchID: sim.MchID}); !errors.As(err, &unsigned) || unsigned.Reason != "unknown-serial" {
		t.Fatalf("an answer under an unknown key must not verify: %v", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	settings := fixtureV3Settings(t)
	settings.BaseURL = closed
	m, err := rt.OpenV3Merchant(settings)
	if err != nil {
		t.Fatal(err)
	}
	c, _ = rt.NewV3Client(m, ClientOptions{})
	_, err = c.IssueCoupon(ctx, V3IssueCouponRequest{OpenID: "o", StockID: "1", OutRequestNo: "go-closed", AppID: "wx1", StockCreatorMchID: "1"})
	var transport *TransportError
	if !errors.As(err, &transport) || transport.MayHaveReachedWeChat || OutcomeOf(err).OutcomeUnknown {
		t.Fatalf("a refused connection sent nothing: %v %+v", err, OutcomeOf(err))
	}
}

func TestV3OutcomeRuleIsTheComponents(t *testing.T) {
	rt := testRuntime(t)
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&TransportError{Message: "reset", MayHaveReachedWeChat: true}, true},
		{&RefusedError{Status: 500, Code: "SYSTEM_ERROR", Advice: Retry}, true},
		{&RefusedError{Status: 400, Code: "PARAM_ERROR", Advice: DoNotRetry}, false},
		{&AnswerNotVerifiedError{Reason: "signature"}, true},
		{errors.New("not ours"), false},
	} {
		if got, err := rt.V3IssueOutcomeUnknown(c.err); err != nil || got != c.want {
			t.Errorf("%v: %v, want %v (%v)", c.err, got, c.want, err)
		}
	}
}

func TestV3CallbackHelper(t *testing.T) {
	rt := testRuntime(t)
	m, err := rt.OpenV3Merchant(fixtureV3Settings(t))
	if err != nil {
		t.Fatal(err)
	}
	notifications := v3Vectors(t)["notifications"].([]interface{})
	read := func(n map[string]interface{}, skew int64) (*V3CouponUseEvent, error) {
		h := http.Header{}
		for k, v := range n["headers"].(map[string]interface{}) {
			h.Set(k, v.(string))
		}
		now := int64(n["now"].(float64)) + skew
		return rt.ReadCouponUse(m, h, []byte(n["body"].(string)), time.Unix(now, 0))
	}
	normal, flipped := notifications[0].(map[string]interface{}), notifications[2].(map[string]interface{})
	event, err := read(normal, 0)
	if err != nil || event.EventType != "COUPON.USE" || event.Coupon.CouponID != "9867041" {
		t.Fatalf("event %+v: %v", event, err)
	}
	var refused *NotificationError
	if _, err := read(flipped, 0); !errors.As(err, &refused) || refused.Kind != "not-decrypted" || refused.Status != 400 || !strings.Contains(refused.FailureBody, "FAIL") {
		t.Fatalf("a flipped tag must not decrypt: %v %+v", err, refused)
	}
	if _, err := read(normal, 3600); !errors.As(err, &refused) || refused.Kind != "not-verified" || refused.Refusal.Reason != "stale-timestamp" || refused.Status != 401 {
		t.Fatalf("a stale callback must be refused: %v", err)
	}
}

func TestV3NoKeyInPrintsOrErrors(t *testing.T) {
	rt := testRuntime(t)
	settings := fixtureV3Settings(t)
	m, err := rt.OpenV3Merchant(settings)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		for _, v := range []interface{}{settings, &settings, m} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, settings.APIv3Key) || strings.Contains(out, "PRIVATE KEY") {
				t.Fatalf("%s of %T prints a key: %s", verb, v, out)
			}
		}
	}
	settings.PrivateKeyPEM = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
	_, err = rt.OpenV3Merchant(settings)
	var invalid *InvalidInputError
	if !errors.As(err, &invalid) || invalid.Field != "merchant.private_key" || strings.Contains(err.Error(), "AAAA") {
		t.Fatalf("a bad key must be refused by name only: %v", err)
	}
}

// v3IssueCycle is the vectors' issue-coupon exchange (tests/fixtures/v3/vectors.json): the
// request WeChat's documentation example makes, with its timestamp and nonce, and the signed
// answer to it with the time it is verified at.
type v3IssueCycle struct {
	request   V3IssueCouponRequest
	timestamp int64
	nonce     string
	message   string // what is signed
	// authorization is the vector's header: PKCS#1 v1.5 is deterministic, so a right signature
	// is this one.
	authorization string
	answer        V3Answer
	now           int64
}

func v3IssueCycleVector(tb testing.TB) v3IssueCycle {
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "tests", "fixtures", "v3", "vectors.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		Requests []struct {
			Name          string `json:"name"`
			Timestamp     string `json:"timestamp"`
			Nonce         string `json:"nonce_str"`
			Body          string `json:"body"`
			CanonicalURL  string `json:"canonical_url"`
			Message       string `json:"signature_message"`
			Authorization string `json:"authorization"`
		} `json:"request_signatures"`
		Responses []struct {
			Name    string            `json:"name"`
			Status  uint16            `json:"status"`
			Now     int64             `json:"now"`
			Headers map[string]string `json:"headers"`
			Body    string            `json:"body"`
		} `json:"response_signatures"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		tb.Fatal(err)
	}
	var c v3IssueCycle
	for _, r := range doc.Requests {
		if r.Name != "send_coupon" {
			continue
		}
		if err := json.Unmarshal([]byte(r.Body), &c.request); err != nil {
			tb.Fatal(err)
		}
		const prefix = "/v3/marketing/favor/users/"
		c.request.OpenID = r.CanonicalURL[len(prefix) : len(r.CanonicalURL)-len("/coupons")]
		if err := json.Unmarshal([]byte(r.Timestamp), &c.timestamp); err != nil {
			tb.Fatal(err)
		}
		c.nonce, c.message, c.authorization = r.Nonce, r.Message, r.Authorization
	}
	for _, r := range doc.Responses {
		if r.Name != "send_coupon-200" {
			continue
		}
		c.answer = V3Answer{Status: r.Status, Body: r.Body, Headers: [][2]string{}}
		for name, value := range r.Headers {
			c.answer.Headers = append(c.answer.Headers, [2]string{name, value})
		}
		c.now = r.Now
	}
	if c.message == "" || c.now == 0 {
		tb.Fatal("the vectors have no send_coupon request and answer")
	}
	return c
}

// run is one cycle through the client, without HTTP: build, sign, authorize; verify, read.
func (c *v3IssueCycle) run(tb testing.TB, v *V3Client) {
	signed, err := v.signedRequest("issue-coupon", c.request, c.timestamp, &c.nonce)
	if err != nil {
		tb.Fatal(err)
	}
	var issued V3IssuedCoupon
	if err := v.readAnswer("issue-coupon", c.answer, c.now, &issued); err != nil {
		tb.Fatal(err)
	}
	if issued.CouponID != "9867041" || len(signed.Headers) == 0 {
		tb.Fatalf("unexpected cycle: %+v %+v", signed, issued)
	}
}

// The request is signed in Go and the answer verified in Go: the vectors' signature comes out,
// a changed answer is refused as the component refuses it, and the private key never reaches
// the component.
func TestV3NativeRSA(t *testing.T) {
	rt, c, settings := testRuntime(t), v3IssueCycleVector(t), fixtureV3Settings
	native, err := rt.OpenV3Merchant(settings(t))
	if err != nil {
		t.Fatal(err)
	}
	if native.signer == nil || native.settings.PrivateKeyPEM != "" {
		t.Fatal("the private key must be parsed in Go and left out of merchant.open")
	}
	inComponent, err := rt.openV3Merchant(settings(t), true)
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*V3Client{}
	for name, m := range map[string]*V3Merchant{"native": native, "in component": inComponent} {
		if clients[name], err = rt.NewV3Client(m, ClientOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for name, v := range clients {
		signed, err := v.signedRequest("issue-coupon", c.request, c.timestamp, &c.nonce)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		authorization := ""
		for _, h := range signed.Headers {
			if strings.EqualFold(h[0], "authorization") {
				authorization = h[1]
			}
		}
		if authorization != c.authorization {
			t.Errorf("%s: authorization %q, want the vector's %q", name, authorization, c.authorization)
		}
		c.run(t, v)
	}

	tampered := c.answer
	tampered.Body = strings.Replace(c.answer.Body, "9867041", "9867042", 1)
	// The component's checks pass (headers, clock, serial): only the signature is wrong.
	var checked V3AnswerSignature
	if err := rt.call(v3Fn("check-answer"), &checked, arg{native, "merchant.", false}, arg{tampered, "", false}, arg{c.now, "now", false}); err != nil {
		t.Fatalf("check-answer: %v", err)
	}
	badSignature := c.answer
	badSignature.Headers = [][2]string{}
	for _, h := range c.answer.Headers {
		if h[0] == "Wechatpay-Signature" {
			h[1] = "A" + h[1][1:]
		}
		badSignature.Headers = append(badSignature.Headers, h)
	}
	for name, v := range clients {
		for what, answer := range map[string]V3Answer{"a changed body": tampered, "a changed signature": badSignature} {
			var issued V3IssuedCoupon
			var refused *AnswerNotVerifiedError
			if err := v.readAnswer("issue-coupon", answer, c.now, &issued); !errors.As(err, &refused) || refused.Reason != "signature" || issued.CouponID != "" {
				t.Errorf("%s: %s must be refused as signature: %v %+v", name, what, err, issued)
			}
		}
	}

	// A key Go refuses is refused as the component refuses it.
	for _, bad := range []string{"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", settings(t).WechatpayPublicKeyPEM, "no PEM"} {
		s := settings(t)
		s.PrivateKeyPEM = bad
		_, goErr := rt.OpenV3Merchant(s)
		_, componentErr := rt.openV3Merchant(s, true)
		var a, b *InvalidInputError
		if !errors.As(goErr, &a) || !errors.As(componentErr, &b) || *a != *b {
			t.Errorf("Go: %v, the component: %v", goErr, componentErr)
		}
	}

	// Without a private key the component refuses to sign, by name.
	keylessSettings := settings(t)
	keylessSettings.PrivateKeyPEM = ""
	keyless, err := rt.OpenV3Merchant(keylessSettings)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := rt.NewV3Client(keyless, ClientOptions{})
	var invalid *InvalidInputError
	if _, err := v.signedRequest("issue-coupon", c.request, c.timestamp, &c.nonce); !errors.As(err, &invalid) || invalid.Field != "merchant.private_key" {
		t.Fatalf("a merchant without its key cannot sign: %v", err)
	}
}
