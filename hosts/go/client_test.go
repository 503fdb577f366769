package wxcoupon

// Client against wxcoupon-simulator on loopback: issuing and querying over HTTPS with the
// simulator's CA and client certificate, idempotent replays, the certificate presented for
// send_coupon only, every transport failure as a typed error with the right
// MayHaveReachedWeChat, injected faults, the body cap, cancellation before and after sending,
// redirects left unfollowed, the component's own wasi:http transport, option checks, and
// concurrent use of one Runtime and Client. Servers other than the simulator are httptest ones.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// A generous bound for calls that should answer at once; only a hang trips it.
const callTimeout = 30 * time.Second

func callContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// httpsClient is a native client on the simulator's HTTPS listener, trusting its CA and holding
// its client certificate; change adjusts the options first.
func httpsClient(t testing.TB, sim *simulator, change func(*ClientOptions)) *Client {
	t.Helper()
	opts := ClientOptions{RootCAs: sim.rootCAs(t), Certificate: sim.certificate(t)}
	if change != nil {
		change(&opts)
	}
	c, err := testRuntime(t).NewClient(testMerchant(sim.HTTPSBaseURL), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// componentClient queries through the component's wasi:http client at baseURL.
func componentClient(t testing.TB, baseURL string, change func(*ClientOptions)) *Client {
	t.Helper()
	opts := ClientOptions{Transport: TransportComponent}
	if change != nil {
		change(&opts)
	}
	c, err := testRuntime(t).NewClient(testMerchant(baseURL), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// issued is the stock's is_send_num.
func issued(t testing.TB, c *Client, stock string) uint64 {
	t.Helper()
	s, err := c.QueryCouponStock(callContext(t), QueryCouponStockRequest{CouponStockID: stock})
	if err != nil {
		t.Fatalf("querying stock %s: %v", stock, err)
	}
	if s.IsSendNum == nil {
		t.Fatalf("stock %s has no is_send_num", stock)
	}
	return *s.IsSendNum
}

// closedPort is a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// wantTransport fails unless err is a *TransportError with that MayHaveReachedWeChat.
func wantTransport(t testing.TB, err error, reached bool) *TransportError {
	t.Helper()
	var e *TransportError
	if !errors.As(err, &e) {
		t.Fatalf("want *TransportError, got %T: %v", err, err)
	}
	if e.MayHaveReachedWeChat != reached {
		t.Fatalf("MayHaveReachedWeChat = %v, want %v (%s)", e.MayHaveReachedWeChat, reached, e.Message)
	}
	return e
}

func wantBusiness(t testing.TB, err error, code string) *BusinessError {
	t.Helper()
	var e *BusinessError
	if !errors.As(err, &e) {
		t.Fatalf("want *BusinessError %s, got %T: %v", code, err, err)
	}
	if e.ErrCode == nil || *e.ErrCode != code {
		t.Fatalf("ErrCode = %v, want %s (%v)", e.ErrCode, code, e)
	}
	return e
}

func TestClientIssuesQueriesAndReplays(t *testing.T) {
	sim := startSimulator(t, nil)
	c := httpsClient(t, sim, nil)
	ctx := callContext(t)

	stock, err := c.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1757"})
	if err != nil {
		t.Fatal(err)
	}
	if !stock.Status.Active() || stock.Status.Code != 4 || stock.CouponValue != 500 || stock.MaxQuota == nil || *stock.MaxQuota != 1 {
		t.Fatalf("stock 1757 = %+v, want active, coupon_value 500, max_quota 1", stock)
	}
	if stock.IsSendNum == nil {
		t.Fatal("no is_send_num")
	}
	before := *stock.IsSendNum

	request := sendRequest("1757", "o-go-issue", "1000009820261128001")
	sent, err := c.SendCoupon(ctx, request)
	if err != nil {
		t.Fatal(err)
	}
	if sent.CouponID == "" || sent.CouponStockID != "1757" || sent.OpenID != "o-go-issue" {
		t.Fatalf("SendCoupon = %+v", sent)
	}
	if got := issued(t, c, "1757"); got != before+1 {
		t.Fatalf("is_send_num = %d after one issue, want %d", got, before+1)
	}

	info, err := c.QueryCouponsInfo(ctx, QueryCouponsInfoRequest{CouponID: sent.CouponID, OpenID: "o-go-issue", StockID: "1757"})
	if err != nil {
		t.Fatal(err)
	}
	if info.CouponID != sent.CouponID || info.CouponStockID != "1757" || info.State.Name != "usable" || info.CouponValue != 500 {
		t.Fatalf("QueryCouponsInfo = %+v, want the coupon, usable, 500 fen", info)
	}

	// The same partner_trade_no: the same coupon, and nothing more issued.
	replay, err := c.SendCoupon(ctx, request)
	if err != nil {
		t.Fatalf("replaying the same partner_trade_no: %v", err)
	}
	if replay.CouponID != sent.CouponID {
		t.Fatalf("replay CouponID = %s, want %s", replay.CouponID, sent.CouponID)
	}
	if got := issued(t, c, "1757"); got != before+1 {
		t.Fatalf("is_send_num = %d after the replay, want %d", got, before+1)
	}

	// A second coupon for the same user breaks max_quota 1.
	_, err = c.SendCoupon(ctx, sendRequest("1757", "o-go-issue", "1000009820261128002"))
	wantBusiness(t, err, "USER_AL_GET_COUPON")
}

func TestClientStockRefusals(t *testing.T) {
	sim := startSimulator(t, nil)
	c := httpsClient(t, sim, nil)
	ctx := callContext(t)

	_, err := c.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "424242"})
	if b := wantBusiness(t, err, "COUPON_STOCK_ID_NOT_VALID"); b.Retryable {
		t.Error("an unknown stock is not retryable")
	}

	inactive, err := c.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1759"})
	if err != nil {
		t.Fatal(err)
	}
	if inactive.Status != (StockStatus{Name: "inactive", Code: 1}) || inactive.Status.Active() {
		t.Fatalf("stock 1759 status = %+v, want inactive (1)", inactive.Status)
	}

	// Invalid input is refused before anything is sent.
	_, err = c.SendCoupon(ctx, sendRequest("1757", "", "1"))
	if got := asInvalidInput(t, err); got.Field != "openid" || got.Rule != "required" {
		t.Fatalf("InvalidInputError = %+v, want openid required", got)
	}
}

func TestSendCouponWithoutCertificateIsCAError(t *testing.T) {
	sim := startSimulator(t, nil)
	c := httpsClient(t, sim, func(o *ClientOptions) { o.Certificate = nil })
	before := issued(t, c, "1757")

	_, err := c.SendCoupon(callContext(t), sendRequest("1757", "o-go-nocert", "1000009820261128003"))
	if b := wantBusiness(t, err, "CA_ERROR"); b.Retryable || b.Advice != DoNotRetry {
		t.Fatalf("CA_ERROR: Retryable %v, Advice %s; want false, do-not-retry", b.Retryable, b.Advice)
	}
	if got := issued(t, c, "1757"); got != before {
		t.Fatalf("is_send_num = %d, want %d: nothing issued", got, before)
	}
}

func TestUntrustedServerCertificateIsRefusedBeforeSending(t *testing.T) {
	sim := startSimulator(t, nil)
	// The system's roots do not include the simulator's CA.
	c := httpsClient(t, sim, func(o *ClientOptions) { o.RootCAs = nil })
	ctx := callContext(t)

	_, err := c.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1757"})
	if e := wantTransport(t, err, false); !strings.Contains(e.Message, "certificate") {
		t.Errorf("Message = %q, want it to say the certificate was rejected", e.Message)
	}
	_, err = c.SendCoupon(ctx, sendRequest("1757", "o-go-untrusted", "1000009820261128004"))
	wantTransport(t, err, false)
	wantOutcome(t, err, false, "1000009820261128004")

	// The component's wasi:http trusts the public web roots only: refused there too. Wasmtime's
	// default wasi:http reports the rejected certificate as tls-protocol-error, which the
	// component's client counts as possibly delivered once the request was handed over (it cannot
	// tell a handshake failure from a TLS failure after sending): a query's outcome is known all
	// the same.
	comp := componentClient(t, sim.HTTPSBaseURL, nil)
	_, err = comp.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1757"})
	if e := wantTransport(t, err, true); !strings.Contains(e.Message, "TLS") {
		t.Errorf("Message = %q, want it to name TLS", e.Message)
	}
	wantOutcome(t, err, false, "")

	trusted := httpsClient(t, sim, nil)
	if got := issued(t, trusted, "1757"); got != 0 {
		t.Fatalf("is_send_num = %d, want 0: nothing reached the simulator", got)
	}
}

func TestConnectionRefusedCannotHaveReachedWeChat(t *testing.T) {
	base := "http://" + closedPort(t)
	for _, tc := range []struct {
		name      string
		transport Transport
	}{{"native", TransportNative}, {"component", TransportComponent}} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			c, err := testRuntime(t).NewClient(testMerchant(base), ClientOptions{Transport: tc.transport})
			if err != nil {
				t.Fatal(err)
			}
			ctx := callContext(t)
			_, err = c.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1757"})
			wantTransport(t, err, false)
			_, err = c.QueryCouponsInfo(ctx, QueryCouponsInfoRequest{CouponID: "1", OpenID: "o", StockID: "1757"})
			wantTransport(t, err, false)
			// send_coupon always goes through net/http.
			_, err = c.SendCoupon(ctx, sendRequest("1757", "o-go-refused", "1000009820261128005"))
			wantTransport(t, err, false)
		})
	}
}

// faultCases: what each simulator fault (or option) must become, on both transports.
var faultCases = []struct {
	name   string
	faults map[string]string
	opts   func(*ClientOptions)
	check  func(testing.TB, error)
}{
	{
		name:   "latency beyond FirstByteTimeout",
		faults: map[string]string{"latency_ms": "1500"},
		opts:   func(o *ClientOptions) { o.FirstByteTimeout = 300 * time.Millisecond },
		check:  func(t testing.TB, err error) { wantTransport(t, err, true) },
	},
	{
		name:   "HTTP 503",
		faults: map[string]string{"status": "503"},
		check: func(t testing.TB, err error) {
			var e *UnexpectedStatusError
			if !errors.As(err, &e) || e.Status != 503 {
				t.Fatalf("want *UnexpectedStatusError{503}, got %T: %v", err, err)
			}
		},
	},
	{
		name:   "connection reset",
		faults: map[string]string{"reset_connection": "true"},
		check:  func(t testing.TB, err error) { wantTransport(t, err, true) },
	},
	{
		name:   "truncated body",
		faults: map[string]string{"truncated_body": "true"},
		check:  func(t testing.TB, err error) { wantTransport(t, err, true) },
	},
	{
		name:   "wrong sign",
		faults: map[string]string{"wrong_sign": "true"},
		check: func(t testing.TB, err error) {
			var e *SignatureError
			if !errors.As(err, &e) || e.Problem != SignatureMismatch {
				t.Fatalf("want *SignatureError mismatch, got %T: %v", err, err)
			}
		},
	},
	{
		name:   "FREQ_OVER_LIMIT",
		faults: map[string]string{"err_code": `"FREQ_OVER_LIMIT"`},
		check: func(t testing.TB, err error) {
			if b := wantBusiness(t, err, "FREQ_OVER_LIMIT"); !b.Retryable || b.Advice != RetryLater {
				t.Fatalf("Retryable %v, Advice %s; want true, retry-later", b.Retryable, b.Advice)
			}
		},
	},
	{
		name: "body over MaxResponseBytes",
		opts: func(o *ClientOptions) { o.MaxResponseBytes = 100 },
		check: func(t testing.TB, err error) {
			var e *MalformedResponseError
			if !errors.As(err, &e) || e.Problem != "body is over the limit of 100 bytes" {
				t.Fatalf("want *MalformedResponseError over the limit of 100 bytes, got %T: %v", err, err)
			}
		},
	},
}

func TestFaultsGiveTheirTypedErrors(t *testing.T) {
	for _, tc := range faultCases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := startSimulator(t, tc.faults)
			native := httpsClient(t, sim, tc.opts)
			_, err := native.SendCoupon(callContext(t), sendRequest("1758", "o-go-fault", "1000009820261128006"))
			if err == nil {
				t.Fatal("native SendCoupon succeeded despite the fault")
			}
			tc.check(t, err)

			comp := componentClient(t, sim.HTTPBaseURL, tc.opts)
			_, err = comp.QueryCouponStock(callContext(t), QueryCouponStockRequest{CouponStockID: "1757"})
			if err == nil {
				t.Fatal("component QueryCouponStock succeeded despite the fault")
			}
			tc.check(t, err)
		})
	}
}

func TestCancelledContextSendsNothing(t *testing.T) {
	sim := startSimulator(t, nil)
	c := httpsClient(t, sim, nil)
	before := issued(t, c, "1757")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.SendCoupon(ctx, sendRequest("1757", "o-go-cancelled", "1000009820261128007"))
	wantTransport(t, err, false)
	_, err = c.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1757"})
	wantTransport(t, err, false)
	comp := componentClient(t, sim.HTTPBaseURL, nil)
	_, err = comp.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1757"})
	wantTransport(t, err, false)

	if got := issued(t, c, "1757"); got != before {
		t.Fatalf("is_send_num = %d, want %d: nothing issued", got, before)
	}
}

func TestCancelledWhileWaitingMayHaveReachedWeChat(t *testing.T) {
	// A server that holds every request until the client gives up: the context is cancelled
	// only once the request has arrived, so the request was certainly sent.
	arrived := make(chan string, 4)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the whole body lets net/http notice the client hanging up.
		io.Copy(io.Discard, r.Body)
		arrived <- r.URL.Path
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	c, err := testRuntime(t).NewClient(testMerchant(srv.URL), ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		call func(context.Context) error
	}{
		{"send_coupon", func(ctx context.Context) error {
			_, err := c.SendCoupon(ctx, sendRequest("1757", "o-go-waiting", "1000009820261128008"))
			return err
		}},
		{"query_coupon_stock", func(ctx context.Context) error {
			_, err := c.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1757"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tc.call(ctx) }()
			select {
			case <-arrived:
			case <-time.After(callTimeout):
				t.Fatal("the request never arrived")
			}
			cancel()
			select {
			case err := <-done:
				wantTransport(t, err, true)
			case <-time.After(callTimeout):
				t.Fatal("the call did not return after its context was cancelled")
			}
		})
	}
}

// TestRedirectsAreNotFollowed: a 302 is an unexpected status, and its target is never asked
// (following it could carry the certificate elsewhere).
func TestRedirectsAreNotFollowed(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	cert := clientCertificate(t, "10000098")
	c, err := testRuntime(t).NewClient(testMerchant(srv.URL), ClientOptions{Certificate: &cert})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendCoupon(callContext(t), sendRequest("1757", "o-go-redirect", "1000009820261128013"))
	var e *UnexpectedStatusError
	if !errors.As(err, &e) || e.Status != http.StatusFound {
		t.Fatalf("got %T %v, want *UnexpectedStatusError{302}", err, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(paths, []string{"/mmpaymkttransfers/send_coupon"}) {
		t.Fatalf("requests = %v, want only the send_coupon one", paths)
	}
}

// TestCertificateOnlyForSendCoupon records, per path, whether the client presented a TLS
// certificate to a server that asks for one but requires none.
func TestCertificateOnlyForSendCoupon(t *testing.T) {
	answers := map[string][]byte{
		"/mmpaymkttransfers/send_coupon":        fixture(t, "send_coupon_success_signed.xml"),
		"/mmpaymkttransfers/query_coupon_stock": fixture(t, "query_coupon_stock_real_unsigned.xml"),
		"/mmpaymkttransfers/querycouponsinfo":   fixture(t, "querycouponsinfo_coupon_minimum.xml"),
	}
	type seen struct {
		path string
		cert string // the subject's common name, "" when none was presented
	}
	var (
		mu   sync.Mutex
		log  []seen
		cert = clientCertificate(t, "10000098")
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{path: r.URL.Path}
		if len(r.TLS.PeerCertificates) > 0 {
			s.cert = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		mu.Lock()
		log = append(log, s)
		mu.Unlock()
		body, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		w.Write(body)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	c, err := testRuntime(t).NewClient(testMerchant(srv.URL), ClientOptions{Certificate: &cert, RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	ctx := callContext(t)
	// Queries before and after the send: the send's connection must not carry over to them.
	if _, err := c.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "8912345"}); err != nil {
		t.Fatal(err)
	}
	sent, err := c.SendCoupon(ctx, sendRequest("1717", "onqOjjrXT-776SpHnfexGm1_P7iE", "1000009820261128009"))
	if err != nil {
		t.Fatal(err)
	}
	if sent.CouponID != "6954" {
		t.Fatalf("CouponID = %s, want the fixture's 6954", sent.CouponID)
	}
	if _, err := c.QueryCouponsInfo(ctx, QueryCouponsInfoRequest{CouponID: "1565", OpenID: "o", StockID: "58818"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "8912345"}); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []seen{
		{"/mmpaymkttransfers/query_coupon_stock", ""},
		{"/mmpaymkttransfers/send_coupon", "10000098"},
		{"/mmpaymkttransfers/querycouponsinfo", ""},
		{"/mmpaymkttransfers/query_coupon_stock", ""},
	}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("requests (path, certificate presented) = %v, want %v", log, want)
	}
}

// clientCertificate is a fresh self-signed ECDSA certificate for TLS client authentication.
func clientCertificate(t testing.TB, commonName string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestComponentTransportMatchesNative(t *testing.T) {
	sim := startSimulator(t, nil)
	native := httpsClient(t, sim, nil)
	comp := componentClient(t, sim.HTTPBaseURL, nil)
	ctx := callContext(t)

	sent, err := native.SendCoupon(ctx, sendRequest("1757", "o-go-both", "1000009820261128010"))
	if err != nil {
		t.Fatal(err)
	}

	// The answers differ only in their random nonce_str.
	stockReq := QueryCouponStockRequest{CouponStockID: "1757"}
	want, err := native.QueryCouponStock(ctx, stockReq)
	if err != nil {
		t.Fatal(err)
	}
	got, err := comp.QueryCouponStock(ctx, stockReq)
	if err != nil {
		t.Fatal(err)
	}
	if got.IsSendNum == nil || *got.IsSendNum != 1 {
		t.Fatalf("component is_send_num = %v, want 1", got.IsSendNum)
	}
	want.Fields, got.Fields = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("component stock = %s\nnative stock    = %s", show(got), show(want))
	}

	infoReq := QueryCouponsInfoRequest{CouponID: sent.CouponID, OpenID: "o-go-both", StockID: "1757"}
	wantInfo, err := native.QueryCouponsInfo(ctx, infoReq)
	if err != nil {
		t.Fatal(err)
	}
	gotInfo, err := comp.QueryCouponsInfo(ctx, infoReq)
	if err != nil {
		t.Fatal(err)
	}
	if gotInfo.State.Name != "usable" || gotInfo.CouponID != sent.CouponID {
		t.Fatalf("component coupon = %s", show(gotInfo))
	}
	wantInfo.Fields, gotInfo.Fields = nil, nil
	if !reflect.DeepEqual(gotInfo, wantInfo) {
		t.Fatalf("component coupon = %s\nnative coupon    = %s", show(gotInfo), show(wantInfo))
	}

	// Business errors come back the same way.
	_, err = comp.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "424242"})
	wantBusiness(t, err, "COUPON_STOCK_ID_NOT_VALID")
	// Invalid input too, before anything is sent.
	_, err = comp.QueryCouponStock(ctx, QueryCouponStockRequest{})
	if got := asInvalidInput(t, err); got.Field != "coupon_stock_id" {
		t.Fatalf("Field = %q, want coupon_stock_id", got.Field)
	}
	_, err = comp.QueryCouponsInfo(ctx, QueryCouponsInfoRequest{CouponID: "1", OpenID: "o-\xff", StockID: "1757"})
	if got := asInvalidInput(t, err); got.Field != "openid" || got.Rule != "must be valid UTF-8" {
		t.Fatalf("InvalidInputError = %+v, want openid must be valid UTF-8", got)
	}
}

// show prints a result with its pointer fields followed.
func show(v interface{}) string {
	rv := reflect.Indirect(reflect.ValueOf(v))
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		if f.Kind() == reflect.Ptr && !f.IsNil() {
			f = f.Elem()
		}
		fmt.Fprintf(&b, " %s:%+v", rv.Type().Field(i).Name, f.Interface())
	}
	return b.String() + " }"
}

func TestNewClientChecksOptions(t *testing.T) {
	rt := testRuntime(t)
	both := testMerchant("https://127.0.0.1:1")
	both.BackupHost = true
	for _, tc := range []struct {
		name     string
		merchant Merchant
		opts     ClientOptions
		field    string
	}{
		{"base URL and backup host", both, ClientOptions{}, "merchant.backup_host"},
		{"unknown sign type", Merchant{AppID: "wx", MchID: "1", APIKey: testKey, SignType: 5}, ClientOptions{}, "merchant.sign_type"},
		{"not UTF-8 mch_id", Merchant{AppID: "wx", MchID: "\xff", APIKey: testKey}, ClientOptions{}, "merchant.mch_id"},
		{"unknown transport", testMerchant(""), ClientOptions{Transport: Transport(7)}, "options.transport"},
		{"negative first-byte timeout", testMerchant(""), ClientOptions{FirstByteTimeout: -time.Second}, "options.first_byte_timeout"},
		{"sub-millisecond connect timeout", testMerchant(""), ClientOptions{ConnectTimeout: time.Microsecond}, "options.connect_timeout"},
		{"between-bytes timeout over 2^32 ms", testMerchant(""), ClientOptions{BetweenBytesTimeout: (1 << 32) * time.Millisecond}, "options.between_bytes_timeout"},
		{"negative body cap", testMerchant(""), ClientOptions{MaxResponseBytes: -1}, "options.max_response_bytes"},
		{"empty certificate", testMerchant(""), ClientOptions{Certificate: &tls.Certificate{}}, "options.certificate"},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			c, err := rt.NewClient(tc.merchant, tc.opts)
			if c != nil {
				t.Error("NewClient returned a client with the error")
			}
			if got := asInvalidInput(t, err); got.Field != tc.field {
				t.Fatalf("Field = %q, want %q (%v)", got.Field, tc.field, got)
			}
		})
	}

	c, err := rt.NewClient(testMerchant("http://127.0.0.1:1"), ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Merchant() != testMerchant("http://127.0.0.1:1") {
		t.Fatalf("Merchant() = %v", c.Merchant())
	}
}

func TestConcurrentCallsOnOneRuntimeAndClient(t *testing.T) {
	const workers = 16
	sim := startSimulator(t, nil)
	rt := testRuntime(t)
	c := httpsClient(t, sim, nil)
	ctx := callContext(t)
	vector := vectors(t)[0]

	type workerResult struct {
		sign     string
		stock    *CouponStock
		couponID string
		err      error
	}
	results := make([]workerResult, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := &results[i]
			if r.sign, r.err = rt.Sign(vector.Fields, APIKey(vector.Key), vector.signType(t)); r.err != nil {
				return
			}
			if r.stock, r.err = c.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1759"}); r.err != nil {
				return
			}
			// Stock 1758 has no per-user quota: every worker gets a coupon of its own.
			sent, err := c.SendCoupon(ctx, sendRequest("1758", fmt.Sprintf("o-go-worker-%d", i), fmt.Sprintf("10000098202611281%02d", i)))
			if err != nil {
				r.err = err
				return
			}
			r.couponID = sent.CouponID
		}(i)
	}
	wg.Wait()

	ids := map[string]bool{}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("worker %d: %v", i, r.err)
		}
		if r.sign != vector.Sign {
			t.Errorf("worker %d: Sign = %s, want %s", i, r.sign, vector.Sign)
		}
		if r.stock.CouponStockID != "1759" || r.stock.CouponValue != 300 || r.stock.Status.Name != "inactive" {
			t.Errorf("worker %d: stock = %s", i, show(r.stock))
		}
		ids[r.couponID] = true
	}
	if len(ids) != workers {
		t.Fatalf("%d distinct coupon ids for %d issues: %v", len(ids), workers, ids)
	}
	if got := issued(t, c, "1758"); got != workers {
		t.Fatalf("stock 1758 is_send_num = %d, want %d", got, workers)
	}
}
