// Package wxcoupon issues WeChat Pay v2 merchant coupons (代金券) through the wxcoupon
// WebAssembly component, run by the Wasmtime C API over cgo.
//
// The component signs, builds and parses (the sans-IO Runtime methods Sign, Verify,
// BuildRequest, ParseResponse) and can make calls itself over wasi:http. A Client issues
// send_coupon by BuildRequest → net/http with the merchant's certificate → ParseResponse, since
// wasi:http cannot present a client certificate; queries go the same way, or through the
// component's own client with TransportComponent.
//
//	rt, err := wxcoupon.Load("wxcoupon_guest.wasm")
//	cert, err := tls.LoadX509KeyPair("apiclient_cert.pem", "apiclient_key.pem")
//	client, err := rt.NewClient(wxcoupon.Merchant{AppID: "wx…", MchID: "10000098", APIKey: key}, wxcoupon.ClientOptions{Certificate: &cert})
//	coupon, err := client.SendCoupon(ctx, wxcoupon.SendCouponRequest{CouponStockID: "1757", OpenID: "o…", PartnerTradeNo: "…"})
//	fmt.Println(coupon.CouponID)
//
// Failures of the contract are typed errors (*InvalidInputError, *BusinessError,
// *TransportError, …); none of their messages contains the API key. Each embeds an Outcome:
// after SendCoupon, OutcomeUnknown says the coupon may have been issued (the component's rule),
// and PartnerTradeNo is the number to send again with.
package wxcoupon
