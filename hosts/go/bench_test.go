package wxcoupon

// What a call costs from Go, through cgo and the Wasmtime C API (not run by `go test`; run
// `go test -run '^$' -bench . -benchtime 2s` with the cgo flags of scripts/test-hosts), and for
// v3 what Go's own crypto/rsa costs alone, the floor a Go program without us would pay. The
// lead's bench/run reads `-bench 'SendCouponCycle|V3'` by these names: keep them.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

var benchFields = map[string]string{
	"appid": "wx5edab3bdfba3dc1c", "mch_id": "10000098", "coupon_stock_id": "1757", "openid": "onqOjjrXT-776SpHnfexGm1_P7iE",
	"openid_count": "1", "partner_trade_no": "1000009820141203515766", "nonce_str": "1417574675",
}

func BenchmarkSign(b *testing.B) {
	rt := testRuntime(b)
	for i := 0; i < b.N; i++ {
		if _, err := rt.Sign(benchFields, testKey, MD5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildRequest(b *testing.B) {
	rt := testRuntime(b)
	m := testMerchant("")
	req := SendCouponRequest{CouponStockID: "1757", OpenID: "onqOjjrXT-776SpHnfexGm1_P7iE", PartnerTradeNo: "1000009820141203515766"}
	for i := 0; i < b.N; i++ {
		if _, err := rt.BuildRequest(m, req, "1417574675"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseResponse(b *testing.B) {
	rt := testRuntime(b)
	body, err := os.ReadFile(filepath.Join(repoRoot(), "tests", "fixtures", "responses", "query_coupon_stock_real_unsigned.xml"))
	if err != nil {
		b.Fatal(err)
	}
	m := testMerchant("")
	for i := 0; i < b.N; i++ {
		if _, err := rt.ParseResponse(m, APIQueryCouponStock, 200, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryCouponStock is a whole call: build in the component, net/http with a pooled TLS
// connection to the simulator on loopback, parse in the component.
func BenchmarkQueryCouponStock(b *testing.B) {
	rt := testRuntime(b)
	sim := startSimulator(b, nil)
	client, err := rt.NewClient(testMerchant(sim.HTTPSBaseURL), ClientOptions{RootCAs: sim.rootCAs(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	req := QueryCouponStockRequest{CouponStockID: "1757"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := client.QueryCouponStock(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendCouponCycle is one sans-IO send_coupon cycle, the host's share of every issuance:
// build a signed request with a fixed nonce, then parse WeChat's signed answer (verified as MD5).
func BenchmarkSendCouponCycle(b *testing.B) {
	rt := testRuntime(b)
	body, err := os.ReadFile(filepath.Join(repoRoot(), "tests", "fixtures", "responses", "send_coupon_success_signed.xml"))
	if err != nil {
		b.Fatal(err)
	}
	m := testMerchant("")
	req := SendCouponRequest{CouponStockID: "1717", OpenID: "onqOjjrXT-776SpHnfexGm1_P7iE", PartnerTradeNo: "1000009820141203515766"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rt.BuildRequest(m, req, "1417579335"); err != nil {
			b.Fatal(err)
		}
		resp, err := rt.ParseResponse(m, APISendCoupon, 200, body)
		if err != nil {
			b.Fatal(err)
		}
		if sent := resp.(*SentCoupon); sent.Signature != SignatureVerifiedMD5 || sent.CouponID != "6954" {
			b.Fatalf("unexpected answer: %+v", sent)
		}
	}
}

func benchV3IssueCouponCycle(b *testing.B, inComponent bool) {
	rt := testRuntime(b)
	m, err := rt.openV3Merchant(fixtureV3Settings(b), inComponent)
	if err != nil {
		b.Fatal(err)
	}
	v, err := rt.NewV3Client(m, ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	c := v3IssueCycleVector(b)
	c.run(b, v) // the merchant opened in the store, the public key parsed: as in a long-lived client
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.run(b, v)
	}
}

// BenchmarkV3IssueCouponCycle is the host's share of one v3 issuance as V3Client makes it: the
// component builds the request, Go signs its message (crypto/rsa), the component authorizes;
// the component checks the answer, Go verifies its signature, the component reads the body.
func BenchmarkV3IssueCouponCycle(b *testing.B) { benchV3IssueCouponCycle(b, false) }

// BenchmarkV3IssueCouponCycleInComponent is the same cycle with RSA inside wasm (`sign`,
// `parse-issue-coupon`): V3Client before it signed natively.
func BenchmarkV3IssueCouponCycleInComponent(b *testing.B) { benchV3IssueCouponCycle(b, true) }

// BenchmarkV3CryptoRSABaseline is what a Go program without us does for the same cycle at the
// least: sign the same message with the same key, verify the answer's signature, decode the
// answer's JSON (keys parsed once, outside the loop, as such a program would).
func BenchmarkV3CryptoRSABaseline(b *testing.B) {
	settings, c := fixtureV3Settings(b), v3IssueCycleVector(b)
	der := func(pemText string) []byte {
		block, _ := pem.Decode([]byte(pemText))
		if block == nil {
			b.Fatal("no PEM block")
		}
		return block.Bytes
	}
	parsedKey, err := x509.ParsePKCS8PrivateKey(der(settings.PrivateKeyPEM))
	if err != nil {
		b.Fatal(err)
	}
	parsedPlatform, err := x509.ParsePKIXPublicKey(der(settings.WechatpayPublicKeyPEM))
	if err != nil {
		b.Fatal(err)
	}
	key, platform := parsedKey.(*rsa.PrivateKey), parsedPlatform.(*rsa.PublicKey)
	headers := map[string]string{}
	for _, h := range c.answer.Headers {
		headers[h[0]] = h[1]
	}
	answerMessage := headers["Wechatpay-Timestamp"] + "\n" + headers["Wechatpay-Nonce"] + "\n" + c.answer.Body + "\n"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		digest := sha256.Sum256([]byte(c.message))
		// Blinded with crypto/rand, as V3Client signs.
		signature, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
		if err != nil {
			b.Fatal(err)
		}
		_ = base64.StdEncoding.EncodeToString(signature)
		answerSignature, err := base64.StdEncoding.DecodeString(headers["Wechatpay-Signature"])
		if err != nil {
			b.Fatal(err)
		}
		digest = sha256.Sum256([]byte(answerMessage))
		if err := rsa.VerifyPKCS1v15(platform, crypto.SHA256, digest[:], answerSignature); err != nil {
			b.Fatal(err)
		}
		var issued struct {
			CouponID string `json:"coupon_id"`
		}
		if err := json.Unmarshal([]byte(c.answer.Body), &issued); err != nil || issued.CouponID != "9867041" {
			b.Fatalf("%+v %v", issued, err)
		}
	}
}
