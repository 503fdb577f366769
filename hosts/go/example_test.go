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

// API v3: the README's lines (no Output line: it needs WeChat and a merchant's keys).
func ExampleV3Client_IssueCoupon() {
	rt, err := wxcoupon.Load("wxcoupon_guest.wasm")
	if err != nil {
		log.Fatal(err)
	}
	key, _ := os.ReadFile("apiclient_key.pem")
	pub, _ := os.ReadFile("pub_key.pem")
	merchant, err := rt.OpenV3Merchant(wxcoupon.V3MerchantSettings{MchID: "1900000001", MerchantSerialNo: os.Getenv("WXPAY_MERCHANT_SERIAL_NO"),
		APIv3Key: os.Getenv("WXPAY_APIV3_KEY"), PrivateKeyPEM: string(key), WechatpayPublicKeyID: "PUB_KEY_ID_…", WechatpayPublicKeyPEM: string(pub)})
	if err != nil {
		log.Fatal(err)
	}
	client, err := rt.NewV3Client(merchant, wxcoupon.ClientOptions{})
	if err != nil {
		log.Fatal(err)
	}
	// Store the OutRequestNo before the call, and reuse it to retry: WeChat answers a repeat
	// with the same coupon.
	coupon, err := client.IssueCoupon(context.Background(), wxcoupon.V3IssueCouponRequest{OpenID: "oUser…", StockID: "9856000",
		OutRequestNo: "1900000001-20261202-0001", AppID: "wx5edab3bdfba3dc1c", StockCreatorMchID: "1900000001"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(coupon.CouponID)
}
