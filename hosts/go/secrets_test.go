package wxcoupon

// The API key stays secret: a Merchant (and a Client) prints without it under every fmt verb,
// and no error of any kind — bad input, refusal, signature, transport — carries it in its
// message or its fields.

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// secretKey is a valid key no simulator knows: searched for in everything printed below.
const secretKey APIKey = "S3cretK3yS3cretK3yS3cretK3y12345"

// fmtVerbs are the verbs a log line uses; oddVerbs are the rest (a mistake, but one that must
// not leak the key either: the README promises a placeholder "under every fmt verb").
var (
	fmtVerbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"}
	oddVerbs = []string{"%d", "%t", "%o", "%b", "%c", "%e", "%U"}
)

// leaks reports whether s shows key, as is or hex-encoded (%x of a raw string).
func leaks(s string, key APIKey) bool {
	k := string(key)
	h := hex.EncodeToString([]byte(k))
	return strings.Contains(s, k) || strings.Contains(strings.ToLower(s), h)
}

func formattedMerchants() map[string]interface{} {
	m := testMerchant("https://127.0.0.1:1")
	m.APIKey = secretKey
	return map[string]interface{}{
		"Merchant":           m,
		"*Merchant":          &m,
		"[]Merchant":         []Merchant{m},
		"map":                map[string]Merchant{"m": m},
		"APIKey":             m.APIKey,
		"struct of Merchant": struct{ M Merchant }{m},
	}
}

func TestMerchantFormattingHidesTheKey(t *testing.T) {
	for name, v := range formattedMerchants() {
		for _, verb := range fmtVerbs {
			if out := fmt.Sprintf(verb, v); leaks(out, secretKey) {
				t.Errorf("%s under %s shows the key: %s", name, verb, out)
			}
		}
	}
	if got := fmt.Sprint(secretKey); got != "APIKey(redacted)" {
		t.Errorf("fmt.Sprint(APIKey) = %q, want APIKey(redacted)", got)
	}
	if got := fmt.Sprintf("%#v", secretKey); got != "wxcoupon.APIKey(redacted)" {
		t.Errorf("%%#v of APIKey = %q, want wxcoupon.APIKey(redacted)", got)
	}
}

func TestMerchantFormattingHidesTheKeyUnderOddVerbs(t *testing.T) {
	leaked := map[string]bool{}
	for _, v := range formattedMerchants() {
		for _, verb := range oddVerbs {
			if out := fmt.Sprintf(verb, v); leaks(out, secretKey) {
				leaked[verb] = true
			}
		}
	}
	if len(leaked) > 0 {
		verbs := make([]string, 0, len(leaked))
		for _, verb := range oddVerbs {
			if leaked[verb] {
				verbs = append(verbs, verb)
			}
		}
		// fmt calls String only for %v %s %x %X %q: APIKey.Format covers the other verbs.
		t.Errorf("the key shows under %v", verbs)
	}
}

func TestClientFormattingHidesTheKey(t *testing.T) {
	m := testMerchant("https://127.0.0.1:1")
	m.APIKey = secretKey
	c, err := testRuntime(t).NewClient(m, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var leaked []string
	for _, verb := range append(append([]string{}, fmtVerbs...), oddVerbs...) {
		if out := fmt.Sprintf(verb, c); leaks(out, secretKey) {
			leaked = append(leaked, verb)
		}
	}
	if len(leaked) > 0 {
		// fmt cannot call APIKey.Format through an unexported field: Client keeps a pointer.
		t.Errorf("a *Client under %v shows the API key", leaked)
	}
	if got := fmt.Sprintf("%v", c.Merchant()); leaks(got, secretKey) {
		t.Errorf("Client.Merchant() shows the key: %s", got)
	}
}

func TestNoErrorCarriesTheKey(t *testing.T) {
	rt := testRuntime(t)
	ctx := callContext(t)
	secret := testMerchant("")
	secret.APIKey = secretKey
	refused := testMerchant("http://" + closedPort(t))
	refused.APIKey = secretKey

	type failing struct {
		name string
		key  APIKey
		call func() error
	}
	cases := []failing{
		{"bad request", secretKey, func() error {
			_, err := rt.BuildRequest(secret, sendRequest("1757", "", "1"), "n")
			return err
		}},
		{"short key", "short-secret-value", func() error {
			m := secret
			m.APIKey = "short-secret-value"
			_, err := rt.BuildRequest(m, sendRequest("1757", "o", "1"), "n")
			return err
		}},
		{"key with a space", "S3cretK3yS3cretK3y S3cretK3y1234", func() error {
			m := secret
			m.APIKey = "S3cretK3yS3cretK3y S3cretK3y1234"
			_, err := rt.ParseResponse(m, APISendCoupon, 200, fixture(t, "send_coupon_success_signed.xml"))
			return err
		}},
		{"key not UTF-8", "S3cretK3yS3cretK3yS3cretK3y1234\xff", func() error {
			m := secret
			m.APIKey = "S3cretK3yS3cretK3yS3cretK3y1234\xff"
			_, err := rt.BuildRequest(m, sendRequest("1757", "o", "1"), "n")
			return err
		}},
		{"Sign with a bad sign type", secretKey, func() error {
			_, err := rt.Sign(map[string]string{"a": "1"}, secretKey, SignType(3))
			return err
		}},
		{"Verify mismatch", secretKey, func() error {
			_, err := rt.Verify(map[string]string{"a": "1", "sign": strings.Repeat("A", 32)}, secretKey)
			return err
		}},
		{"ParseResponse mismatch", secretKey, func() error {
			_, err := rt.ParseResponse(secret, APISendCoupon, 200, fixture(t, "send_coupon_success_signed.xml"))
			return err
		}},
		{"ParseResponse business", secretKey, func() error {
			_, err := rt.ParseResponse(secret, APISendCoupon, 200, fixture(t, "send_coupon_fail_user_al_get_coupon.xml"))
			return err
		}},
		{"NewClient bad options", secretKey, func() error {
			_, err := rt.NewClient(secret, ClientOptions{MaxResponseBytes: -5})
			return err
		}},
		{"native transport", secretKey, func() error {
			c, err := rt.NewClient(refused, ClientOptions{})
			if err != nil {
				return err
			}
			_, err = c.SendCoupon(ctx, sendRequest("1757", "o", "1"))
			return err
		}},
		{"component transport", secretKey, func() error {
			c, err := rt.NewClient(refused, ClientOptions{Transport: TransportComponent})
			if err != nil {
				return err
			}
			_, err = c.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1757"})
			return err
		}},
		{"cancelled", secretKey, func() error {
			c, err := rt.NewClient(refused, ClientOptions{})
			if err != nil {
				return err
			}
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			_, err = c.QueryCouponStock(cancelled, QueryCouponStockRequest{CouponStockID: "1757"})
			return err
		}},
	}

	// Refusals by a simulator, which knows the test key.
	sim := startSimulator(t, nil)
	wrongSign := startSimulator(t, map[string]string{"wrong_sign": "true"})
	cases = append(cases,
		failing{"business CA_ERROR", testKey, func() error {
			_, err := httpsClient(t, sim, func(o *ClientOptions) { o.Certificate = nil }).
				SendCoupon(ctx, sendRequest("1757", "o-go-secret", "1000009820261128011"))
			return err
		}},
		failing{"business unknown stock", testKey, func() error {
			_, err := componentClient(t, sim.HTTPBaseURL, nil).
				QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "424242"})
			return err
		}},
		failing{"signature from the wire", testKey, func() error {
			_, err := httpsClient(t, wrongSign, nil).
				QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1757"})
			return err
		}},
		failing{"TLS refused", testKey, func() error {
			_, err := httpsClient(t, sim, func(o *ClientOptions) { o.RootCAs = nil }).
				SendCoupon(ctx, sendRequest("1757", "o-go-secret", "1000009820261128012"))
			return err
		}},
	)

	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("the call succeeded; it was meant to fail")
			}
			for _, shown := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(shown, string(tc.key)) {
					t.Fatalf("the error shows the key: %s", shown)
				}
			}
		})
	}
}
