package wxcoupon

// What a call costs from Go, through cgo and the Wasmtime C API (not run by `go test`; run
// `go test -run '^$' -bench . -benchtime 2s` with the cgo flags of scripts/test-hosts).

import (
	"context"
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
