package wxcoupon

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// The WIT records (the requests, HTTPRequest, the results) are in types_gen.go, generated from
// wit/coupon.wit by tests/host_types.rs; this file holds the rest: what the WIT does not define
// or Go shapes its own way (Merchant), the variants' structs and the methods.

// APIKey is the merchant's 32-character APIv2 key. It prints as a placeholder under every fmt
// verb, so a Merchant can be logged without leaking it.
type APIKey string

// String hides the key.
func (APIKey) String() string { return "APIKey(redacted)" }

// GoString hides the key from %#v.
func (APIKey) GoString() string { return "wxcoupon.APIKey(redacted)" }

// Format hides the key under every verb (fmt calls String only for some of them).
func (k APIKey) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, k.GoString())
		return
	}
	io.WriteString(f, k.String())
}

// SignType is the digest of v2 signatures.
type SignType int

const (
	// MD5 is upper-case hex MD5, what the coupon APIs document; the default.
	MD5 SignType = iota
	// HMACSHA256 is upper-case hex HMAC-SHA256; requests then carry `sign_type`.
	HMACSHA256
)

// String is the wire name: "MD5" or "HMAC-SHA256".
func (t SignType) String() string {
	if t == HMACSHA256 {
		return "HMAC-SHA256"
	}
	return "MD5"
}

// Merchant holds the settings every call needs.
type Merchant struct {
	// AppID is the Official Account appid the openids belong to.
	AppID string
	// MchID is the merchant id (商户号).
	MchID string
	// APIKey is the APIv2 key (the sandbox key in the sandbox).
	APIKey APIKey
	// SignType defaults to MD5.
	SignType SignType
	// BaseURL, when set, replaces https://api.mch.weixin.qq.com: a simulator, an egress proxy.
	BaseURL string
	// BackupHost sends to https://api2.mch.weixin.qq.com instead (not with BaseURL).
	BackupHost bool
	// Sandbox prefixes every path with /sandboxnew (MD5 only).
	Sandbox bool
	// RequireSignedResponses refuses answers without a `sign` (real coupon answers carry none,
	// so the default verifies a signature only when one is present).
	RequireSignedResponses bool
}

// CouponRequest is one of *SendCouponRequest, *QueryCouponStockRequest and
// *QueryCouponsInfoRequest (or the structs themselves).
type CouponRequest interface{}

// API names one of the three v2 coupon APIs by its wire name.
type API string

const (
	APISendCoupon       API = "send_coupon"
	APIQueryCouponStock API = "query_coupon_stock"
	APIQueryCouponsInfo API = "querycouponsinfo"
)

// SignatureCheck says what became of a response's `sign`.
type SignatureCheck string

const (
	SignatureVerifiedMD5        SignatureCheck = "verified-md5"
	SignatureVerifiedHMACSHA256 SignatureCheck = "verified-hmac-sha256"
	// SignatureAbsent: the answer carried no `sign` (accepted unless RequireSignedResponses).
	SignatureAbsent SignatureCheck = "absent"
)

// Time is the instant, when known.
func (t WeChatTime) Time() (time.Time, bool) {
	if t.UnixSeconds == nil {
		return time.Time{}, false
	}
	return time.Unix(*t.UnixSeconds, 0), true
}

// Fields are a message's fields as received, by name.
type Fields map[string]string

// Names returns the field names, sorted.
func (f Fields) Names() []string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// StockStatus is a stock's state (`coupon_stock_status`).
type StockStatus struct {
	// Name is "inactive", "under-review", "active", "voided", "sending-stopped" or "unknown".
	Name string `wit:",case"`
	// Code is the wire number (1, 2, 4, 8, 16, or the undocumented value).
	Code uint32 `wit:",payload"`
}

// Active reports whether coupons can be issued from the stock.
func (s StockStatus) Active() bool { return s.Name == "active" }

// CouponState is a coupon's state: today's strings and the legacy numbers mapped together.
type CouponState struct {
	// Name is "usable", "used", "expired", "locked" or "unknown".
	Name string `wit:",case"`
	// Raw is the undocumented value as sent when Name is "unknown".
	Raw string `wit:",payload"`
}

// CouponResponse is what ParseResponse returns: *SentCoupon, *CouponStock or *CouponInfo.
type CouponResponse interface {
	// API is the wire name of the API that answered.
	API() API
}

func (*SentCoupon) API() API  { return APISendCoupon }
func (*CouponStock) API() API { return APIQueryCouponStock }
func (*CouponInfo) API() API  { return APIQueryCouponsInfo }
