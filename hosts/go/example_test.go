package wxcoupon_test

// The README's "Issue a coupon", compiled with the tests (it has no Output line, so it does not
// run: it needs WeChat, a merchant certificate and a key).

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"os"

	"example.invalid/wxcoupon"
)

func Example() {
	ctx := context.Background()

	rt, err := wxcoupon.Load("wxcoupon_guest.wasm") // the path `wxcoupon info` prints
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	cert, err := tls.LoadX509KeyPair("apiclient_cert.pem", "apiclient_key.pem")
	if err != nil {
		log.Fatal(err)
	}
	client, err := rt.NewClient(wxcoupon.Merchant{
		AppID:  "wx5edab3bdfba3dc1c",
		MchID:  "10000098",
		APIKey: wxcoupon.APIKey(os.Getenv("WXPAY_API_KEY")),
	}, wxcoupon.ClientOptions{Certificate: &cert})
	if err != nil {
		log.Fatal(err)
	}
	// Store the PartnerTradeNo before the call, and reuse it to retry.
	coupon, err := client.SendCoupon(ctx, wxcoupon.SendCouponRequest{
		CouponStockID:  "1757",
		OpenID:         "onqOjjrXT-776SpHnfexGm1_P7iE",
		PartnerTradeNo: "1000009820261128000001",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(coupon.CouponID)
}
