package wxcoupon

// Client: one merchant's calls, each one `sendCoupon`-style method whatever the transport.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// Transport chooses who makes the HTTP calls that need no client certificate.
type Transport int

const (
	// TransportNative: Go's net/http with crypto/tls, trusting RootCAs (or the system's roots).
	// The default.
	TransportNative Transport = iota
	// TransportComponent: the component's own wasi:http client on Wasmtime. It trusts the public
	// web roots only (not RootCAs) and cannot present a client certificate.
	TransportComponent
)

// The defaults every host of the component shares: the core's (limits.go is generated from
// wxcoupon_core::settings).
const (
	DefaultConnectTimeout      = defaultConnectTimeoutMs * time.Millisecond
	DefaultFirstByteTimeout    = defaultFirstByteTimeoutMs * time.Millisecond
	DefaultBetweenBytesTimeout = defaultBetweenBytesTimeoutMs * time.Millisecond
	DefaultMaxResponseBytes    = defaultMaxResponseBytes
)

// ClientOptions configures a Client; every zero value takes the default.
type ClientOptions struct {
	// Certificate is the merchant's API certificate (apiclient_cert.pem + apiclient_key.pem,
	// e.g. from tls.LoadX509KeyPair). It is presented only with send_coupon, and only to the URL
	// the component built from the Merchant (WeChat's host, or Merchant.BaseURL).
	Certificate *tls.Certificate
	// RootCAs replaces the system's roots for the native transport (a simulator's CA, an egress
	// proxy's).
	RootCAs *x509.CertPool
	// Transport is who makes the queries; send_coupon always goes through net/http, the only
	// transport here that can present the certificate.
	Transport Transport

	ConnectTimeout      time.Duration
	FirstByteTimeout    time.Duration
	BetweenBytesTimeout time.Duration
	// MaxResponseBytes caps the answer's body (default 64 KiB).
	MaxResponseBytes int
}

// Client makes one merchant's coupon calls. It is safe for concurrent use.
type Client struct {
	rt *Runtime
	// A closure, so that printing a Client under any verb shows an address, never the key: fmt
	// cannot call APIKey's Format through an unexported field, and prints funcs as addresses.
	merchant func() Merchant
	opts     ClientOptions
	// plain presents no certificate; identity presents the merchant's (send_coupon only).
	plain, identity *http.Client
}

// NewClient checks the settings and returns a Client for merchant on rt.
func (rt *Runtime) NewClient(merchant Merchant, opts ClientOptions) (*Client, error) {
	if _, err := merchantRecord(merchant); err != nil {
		return nil, err
	}
	return rt.newClient(func() Merchant { return merchant }, opts)
}

// newClient checks the options; merchant is nil for a v3 client (whose merchant is its own).
func (rt *Runtime) newClient(merchant func() Merchant, opts ClientOptions) (*Client, error) {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"connect_timeout", &opts.ConnectTimeout, DefaultConnectTimeout},
		{"first_byte_timeout", &opts.FirstByteTimeout, DefaultFirstByteTimeout},
		{"between_bytes_timeout", &opts.BetweenBytesTimeout, DefaultBetweenBytesTimeout},
	} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < time.Millisecond || *d.v > time.Duration(^uint32(0))*time.Millisecond:
			return nil, &InvalidInputError{Field: "options." + d.name, Rule: "must be between 1 ms and 2^32-1 ms"}
		}
	}
	switch {
	case opts.MaxResponseBytes == 0:
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	case opts.MaxResponseBytes < 0 || int64(opts.MaxResponseBytes) > int64(^uint32(0)):
		return nil, &InvalidInputError{Field: "options.max_response_bytes", Rule: "must be between 1 and 2^32-1"}
	}
	if opts.Transport != TransportNative && opts.Transport != TransportComponent {
		return nil, &InvalidInputError{Field: "options.transport", Rule: "must be TransportNative or TransportComponent"}
	}
	if opts.Certificate != nil && len(opts.Certificate.Certificate) == 0 {
		return nil, &InvalidInputError{Field: "options.certificate", Rule: "holds no certificate"}
	}
	c := &Client{rt: rt, merchant: merchant, opts: opts}
	c.plain = c.httpClient(nil)
	c.identity = c.plain
	if opts.Certificate != nil {
		c.identity = c.httpClient(opts.Certificate)
	}
	return c, nil
}

func (c *Client) httpClient(cert *tls.Certificate) *http.Client {
	tlsConfig := &tls.Config{RootCAs: c.opts.RootCAs, MinVersion: tls.VersionTLS12}
	if cert != nil {
		tlsConfig.Certificates = []tls.Certificate{*cert}
	}
	dialer := &net.Dialer{Timeout: c.opts.ConnectTimeout}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			TLSClientConfig:       tlsConfig,
			TLSHandshakeTimeout:   c.opts.ConnectTimeout,
			ResponseHeaderTimeout: c.opts.FirstByteTimeout,
			DisableCompression:    true,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       60 * time.Second,
		},
		// WeChat does not redirect; following one could carry the certificate elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Merchant returns the client's merchant settings.
func (c *Client) Merchant() Merchant { return c.merchant() }

// SendCoupon issues one coupon (send_coupon), presenting the certificate. Every typed error
// carries its Outcome: when OutcomeUnknown, the coupon may have been issued; send again with the
// same PartnerTradeNo.
func (c *Client) SendCoupon(ctx context.Context, req SendCouponRequest) (*SentCoupon, error) {
	resp, err := c.do(ctx, req)
	if err != nil {
		return nil, c.withOutcome(err, req.PartnerTradeNo)
	}
	return resp.(*SentCoupon), nil
}

// withOutcome gives a SendCoupon error its Outcome, as the component's rule judges it. Should the
// component not answer (the Runtime closed meanwhile), the outcome is reported unknown: sending
// again with the same number is always safe.
func (c *Client) withOutcome(err error, partnerTradeNo string) error {
	var typed contractError
	if !errors.As(err, &typed) {
		return err
	}
	unknown, verr := c.rt.sendCouponOutcomeUnknown(typed)
	if verr != nil {
		unknown = true
	}
	o := typed.outcome()
	o.PartnerTradeNo = partnerTradeNo
	o.OutcomeUnknown = unknown
	if unknown {
		o.advice = c.rt.advice
	}
	return err
}

// QueryCouponStock reads a stock (query_coupon_stock).
func (c *Client) QueryCouponStock(ctx context.Context, req QueryCouponStockRequest) (*CouponStock, error) {
	resp, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*CouponStock), nil
}

// QueryCouponsInfo reads one coupon of one user (querycouponsinfo).
func (c *Client) QueryCouponsInfo(ctx context.Context, req QueryCouponsInfoRequest) (*CouponInfo, error) {
	resp, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*CouponInfo), nil
}

// do makes one call: send_coupon always natively (the only transport that can present the
// certificate), queries by the client's Transport.
func (c *Client) do(ctx context.Context, req CouponRequest) (CouponResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, &TransportError{Message: "not sent: " + err.Error(), MayHaveReachedWeChat: false}
	}
	// Made once per call: the merchant record serves both build and parse.
	m, err := merchantRecord(c.merchant())
	if err != nil {
		return nil, err
	}
	request, api, err := requestAPI(req)
	if err != nil {
		return nil, err
	}
	exports := apiTable[api]
	if c.opts.Transport == TransportComponent && api != APISendCoupon {
		out := exports.response()
		if err := c.rt.call(exports.call, out, arg{m, "merchant.", false}, arg{request, "", false}, arg{c.callOptions(ctx), "options.", false}); err != nil {
			return nil, err
		}
		return out, nil
	}
	built, err := c.rt.buildRequest(exports.build, m, request, nil)
	if err != nil {
		return nil, err
	}
	status, _, body, err := c.exchange(ctx, built)
	if err != nil {
		return nil, err
	}
	return c.rt.parseResponse(exports, m, status, body)
}

// callOptions is the `call-options` record of the component's own client: Wasmtime cannot be
// interrupted from Go, so a context deadline shortens the timeouts instead.
func (c *Client) callOptions(ctx context.Context) interface{} {
	connect, first, between := c.opts.ConnectTimeout, c.opts.FirstByteTimeout, c.opts.BetweenBytesTimeout
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left < time.Millisecond {
			left = time.Millisecond
		}
		connect, first, between = minDuration(connect, left), minDuration(first, left), minDuration(between, left)
	}
	return struct {
		Connect      uint32 `wit:"connect-timeout-ms,optional"`
		FirstByte    uint32 `wit:"first-byte-timeout-ms,optional"`
		BetweenBytes uint32 `wit:"between-bytes-timeout-ms,optional"`
		MaxResponse  uint32 `wit:"max-response-bytes,optional"`
		Nonce        string `wit:"nonce,optional"`
	}{uint32(connect / time.Millisecond), uint32(first / time.Millisecond), uint32(between / time.Millisecond), uint32(c.opts.MaxResponseBytes), ""}
}

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// exchange sends built and returns the status and body, or a *TransportError (with whether the
// request may have reached WeChat) or a *MalformedResponseError (body over the cap).
func (c *Client) exchange(ctx context.Context, built *HTTPRequest) (int, http.Header, []byte, error) {
	u, err := url.Parse(built.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, nil, nil, &InvalidInputError{Field: "url", Rule: "must be an http or https URL"}
	}
	where := u.Host
	client := c.plain
	if built.NeedsClientCertificate {
		client = c.identity
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wrote int32
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { atomic.StoreInt32(&wrote, 1) },
	})
	req, err := http.NewRequestWithContext(ctx, built.Method, built.URL, bytes.NewReader(built.Body))
	if err != nil {
		return 0, nil, nil, &InvalidInputError{Field: "url", Rule: "must be an http or https URL"}
	}
	for _, h := range built.Headers {
		req.Header.Add(h[0], h[1])
	}
	req.ContentLength = int64(len(built.Body))

	resp, err := client.Do(req)
	if err != nil {
		sent := atomic.LoadInt32(&wrote) == 1
		return 0, nil, nil, &TransportError{Message: describe(err, sent) + " (" + where + ")", MayHaveReachedWeChat: sent}
	}
	defer resp.Body.Close()

	// Between-bytes timeout: every read must complete within the limit, else the request is
	// cancelled.
	var stalled int32
	timer := time.AfterFunc(c.opts.BetweenBytesTimeout, func() {
		atomic.StoreInt32(&stalled, 1)
		cancel()
	})
	defer timer.Stop()
	limit := int64(c.opts.MaxResponseBytes)
	var body bytes.Buffer
	buf := make([]byte, 16*1024)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if int64(body.Len()+n) > limit {
				return 0, nil, nil, &MalformedResponseError{Problem: "body is over the limit of " + strconv.FormatInt(limit, 10) + " bytes"}
			}
			body.Write(buf[:n])
			timer.Reset(c.opts.BetweenBytesTimeout)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			msg := "reading the response failed: " + describe(rerr, true)
			if atomic.LoadInt32(&stalled) == 1 {
				msg = "timed out between response bytes"
			}
			return 0, nil, nil, &TransportError{Message: msg + " (" + where + ")", MayHaveReachedWeChat: true}
		}
	}
	return resp.StatusCode, resp.Header, body.Bytes(), nil
}

// describe says what went wrong in a few words, without the URL's query or the body.
func describe(err error, sent bool) string {
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var invalidCert x509.CertificateInvalidError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		if sent {
			return "timed out waiting for the response"
		}
		return "timed out before the request was sent"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &dnsErr):
		return "DNS lookup failed"
	case errors.As(err, &invalidCert), errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr):
		return "TLS certificate rejected"
	case errors.As(err, &netErr) && netErr.Timeout():
		if sent {
			return "timed out waiting for the response"
		}
		return "connecting timed out"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "connection refused or unreachable"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed before the response ended"
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return fmt.Sprintf("%v", err)
}
