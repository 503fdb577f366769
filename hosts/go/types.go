package wxcoupon

import (
	"fmt"
	"io"
	"sort"
	"time"
)

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

// CommonOptions are the optional fields every request may carry; "" (or only spaces) leaves a
// field out.
type CommonOptions struct {
	// OpUserID is `op_user_id`, the operator; WeChat defaults it to the mch_id.
	OpUserID string `wit:"op-user-id,optional"`
	// DeviceInfo is `device_info`.
	DeviceInfo string `wit:"device-info,optional"`
	// Version is `version` ("1.0").
	Version string `wit:"version,optional"`
	// MessageType is the wire field `type`; "XML" is the only accepted value.
	MessageType string `wit:"message-type,optional"`
}

// SendCouponRequest issues one coupon of CouponStockID to OpenID (发放代金券).
type SendCouponRequest struct {
	CouponStockID string `wit:"coupon-stock-id"`
	OpenID        string `wit:"openid"`
	// PartnerTradeNo is the merchant's unique number for this issuance: store it before the
	// call and reuse it to retry; WeChat issues one coupon per number.
	PartnerTradeNo string `wit:"partner-trade-no"`
	CommonOptions  `wit:"options"`
}

// QueryCouponStockRequest reads a stock's settings and counters (查询代金券批次).
type QueryCouponStockRequest struct {
	CouponStockID string `wit:"coupon-stock-id"`
	CommonOptions `wit:"options"`
}

// QueryCouponsInfoRequest reads one coupon of one user (查询代金券信息).
type QueryCouponsInfoRequest struct {
	CouponID string `wit:"coupon-id"`
	OpenID   string `wit:"openid"`
	// StockID is the coupon's stock: `stock_id` on the wire for this API.
	StockID       string `wit:"stock-id"`
	CommonOptions `wit:"options"`
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

// HTTPRequest is a signed request ready to send.
type HTTPRequest struct {
	Method string `wit:"method"`
	URL    string `wit:"url"`
	// Headers never include Host, Content-Length or hop-by-hop headers.
	Headers [][2]string `wit:"headers"`
	// Body is the <xml> document, UTF-8.
	Body []byte `wit:"body"`
	// NeedsClientCertificate is true for send_coupon: present the merchant certificate.
	NeedsClientCertificate bool `wit:"needs-client-certificate"`
}

// SignatureCheck says what became of a response's `sign`.
type SignatureCheck string

const (
	SignatureVerifiedMD5        SignatureCheck = "verified-md5"
	SignatureVerifiedHMACSHA256 SignatureCheck = "verified-hmac-sha256"
	// SignatureAbsent: the answer carried no `sign` (accepted unless RequireSignedResponses).
	SignatureAbsent SignatureCheck = "absent"
)

// WeChatTime is a time as WeChat sent it, with the instant when its form is known.
type WeChatTime struct {
	Raw string `wit:"raw"`
	// UnixSeconds is set when Raw is Unix seconds or yyyyMMddHHmmss (UTC+8).
	UnixSeconds *int64 `wit:"unix-seconds"`
}

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

// SentCoupon is a coupon issued by send_coupon.
type SentCoupon struct {
	CouponID      string         `wit:"coupon-id"`
	CouponStockID string         `wit:"coupon-stock-id"`
	OpenID        string         `wit:"openid"`
	RespCount     *uint32        `wit:"resp-count"`
	SuccessCount  *uint32        `wit:"success-count"`
	FailedCount   *uint32        `wit:"failed-count"`
	Signature     SignatureCheck `wit:"signature"`
	Fields        Fields         `wit:"fields"`
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

// CouponStock is a stock (批次) as query_coupon_stock reports it. Amounts are in fen (分).
type CouponStock struct {
	CouponStockID string  `wit:"coupon-stock-id"`
	CouponName    *string `wit:"coupon-name"`
	CouponValue   uint64  `wit:"coupon-value"`
	// CouponMinimum comes from whichever of the three spellings of the field WeChat sent.
	CouponMinimum *uint64     `wit:"coupon-minimum"`
	CouponType    *uint32     `wit:"coupon-type"`
	Status        StockStatus `wit:"status"`
	CouponTotal   uint64      `wit:"coupon-total"`
	// MaxQuota is the most coupons per user; 0 means no limit.
	MaxQuota     *uint64        `wit:"max-quota"`
	IsSendNum    *uint64        `wit:"is-send-num"`
	LockedNum    *uint64        `wit:"locked-num"`
	UsedNum      *uint64        `wit:"used-num"`
	CouponBudget *uint64        `wit:"coupon-budget"`
	BeginTime    *WeChatTime    `wit:"begin-time"`
	EndTime      *WeChatTime    `wit:"end-time"`
	CreateTime   *WeChatTime    `wit:"create-time"`
	Signature    SignatureCheck `wit:"signature"`
	Fields       Fields         `wit:"fields"`
}

// CouponState is a coupon's state: today's strings and the legacy numbers mapped together.
type CouponState struct {
	// Name is "usable", "used", "expired", "locked" or "unknown".
	Name string `wit:",case"`
	// Raw is the undocumented value as sent when Name is "unknown".
	Raw string `wit:",payload"`
}

// CouponInfo is one coupon as querycouponsinfo reports it. Amounts are in fen (分).
type CouponInfo struct {
	CouponID          string         `wit:"coupon-id"`
	CouponStockID     string         `wit:"coupon-stock-id"`
	CouponValue       uint64         `wit:"coupon-value"`
	CouponMinimum     *uint64        `wit:"coupon-minimum"`
	CouponName        *string        `wit:"coupon-name"`
	CouponDesc        *string        `wit:"coupon-desc"`
	State             CouponState    `wit:"state"`
	CouponUseValue    *uint64        `wit:"coupon-use-value"`
	CouponRemainValue *uint64        `wit:"coupon-remain-value"`
	BeginTime         *WeChatTime    `wit:"begin-time"`
	EndTime           *WeChatTime    `wit:"end-time"`
	SendTime          *WeChatTime    `wit:"send-time"`
	SendSource        *string        `wit:"send-source"`
	IsPartialUse      *bool          `wit:"is-partial-use"`
	ConsumerMchID     *string        `wit:"consumer-mch-id"`
	Signature         SignatureCheck `wit:"signature"`
	Fields            Fields         `wit:"fields"`
}

// CouponResponse is what ParseResponse returns: *SentCoupon, *CouponStock or *CouponInfo.
type CouponResponse interface {
	// API is the wire name of the API that answered.
	API() API
}

func (*SentCoupon) API() API  { return APISendCoupon }
func (*CouponStock) API() API { return APIQueryCouponStock }
func (*CouponInfo) API() API  { return APIQueryCouponsInfo }
