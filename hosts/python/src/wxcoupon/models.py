"""The package's data shapes: what you pass in (merchant, requests, call options) and what comes
back (typed results). Amounts are in fen (分)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple, Union

@dataclass(frozen=True)
class Merchant:
    """The merchant settings every call needs (the keys of the Rust CLI's TOML configuration)."""

    appid: str
    """Official Account appid the openids belong to (String(32))."""
    mch_id: str
    """Merchant id (商户号, String(32))."""
    api_key: str = field(repr=False)
    """The 32-character APIv2 key (the sandbox key in the sandbox). Never shown in reprs or errors."""
    sign_type: Literal["MD5", "HMAC-SHA256"] = "MD5"
    base_url: Optional[str] = None
    """Instead of ``https://api.mch.weixin.qq.com``: a simulator, an egress proxy."""
    backup_host: bool = False
    """Use ``https://api2.mch.weixin.qq.com`` (not with ``base_url``)."""
    sandbox: bool = False
    """Prefix every path with ``/sandboxnew`` (MD5 only)."""
    require_signed_responses: bool = False
    """Refuse unsigned answers (real coupon answers are unsigned: off by default)."""


@dataclass(frozen=True)
class SendCouponRequest:
    """Issue one coupon of ``coupon_stock_id`` to ``openid``."""

    coupon_stock_id: str
    openid: str
    partner_trade_no: str
    """Your unique number for this issuance: store it first, reuse it to retry."""
    op_user_id: Optional[str] = None
    device_info: Optional[str] = None
    version: Optional[str] = None
    message_type: Optional[str] = None


@dataclass(frozen=True)
class QueryCouponStockRequest:
    """Read a stock's settings and counters."""

    coupon_stock_id: str
    op_user_id: Optional[str] = None
    device_info: Optional[str] = None
    version: Optional[str] = None
    message_type: Optional[str] = None


@dataclass(frozen=True)
class QueryCouponsInfoRequest:
    """Read one coupon of one user (the stock is sent as ``stock_id``)."""

    coupon_id: str
    openid: str
    stock_id: str
    op_user_id: Optional[str] = None
    device_info: Optional[str] = None
    version: Optional[str] = None
    message_type: Optional[str] = None


@dataclass(frozen=True)
class CallOptions:
    """Per-call settings; ``None`` takes the default.

    ``transport``: ``"native"`` (default) — the component builds and parses, Python's
    ``http.client`` + ``ssl`` sends, presenting ``cert_file``/``key_file`` with send_coupon and
    trusting ``ca_file`` (else the system's CAs). ``"component"`` — the component's own wasi:http
    client on wasmtime (no client certificate; trusts only the public web roots).
    """

    cert_file: Optional[str] = None
    """PEM client certificate (apiclient_cert.pem), or a PEM holding certificate and key."""
    key_file: Optional[str] = None
    """PEM private key (apiclient_key.pem)."""
    key_password: Optional[str] = field(default=None, repr=False)
    """Password of an encrypted key_file."""
    ca_file: Optional[str] = None
    """Trusted CA certificates (PEM) instead of the system's: a simulator's, an egress proxy's."""
    transport: Literal["native", "component"] = "native"
    connect_timeout_ms: Optional[int] = None
    """Default 5000."""
    first_byte_timeout_ms: Optional[int] = None
    """Default 10000."""
    between_bytes_timeout_ms: Optional[int] = None
    """Default 10000."""
    max_response_bytes: Optional[int] = None
    """Default 65536."""
    nonce: Optional[str] = None
    """The ``nonce_str`` (1–32 ASCII letters or digits); default: 32 random characters."""


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request ready to send (``build_request``)."""

    method: str
    url: str
    headers: List[Tuple[str, str]]
    """Never host, content-length or hop-by-hop headers."""
    body: bytes
    """The ``<xml>`` document, UTF-8."""
    needs_client_certificate: bool
    """Present the client certificate: only send_coupon."""


@dataclass(frozen=True)
class WechatTime:
    """A time as WeChat sent it, with the instant when its form is known."""

    raw: str
    unix_seconds: Optional[int]

    @property
    def datetime(self) -> Optional[_dt.datetime]:
        """The instant as an aware UTC datetime, when known."""
        if self.unix_seconds is None:
            return None
        return _dt.datetime.fromtimestamp(self.unix_seconds, tz=_dt.timezone.utc)


SignatureCheck = Literal["verified-md5", "verified-hmac-sha256", "absent"]


@dataclass(frozen=True)
class SentCoupon:
    """A coupon issued by send_coupon."""

    coupon_id: str
    coupon_stock_id: str
    openid: str
    resp_count: Optional[int]
    success_count: Optional[int]
    failed_count: Optional[int]
    signature: SignatureCheck
    fields: Dict[str, str]
    """Every field as received."""
    api = "send_coupon"


@dataclass(frozen=True)
class CouponStock:
    """A stock (批次) as query_coupon_stock reports it."""

    coupon_stock_id: str
    coupon_name: Optional[str]
    coupon_value: int
    coupon_minimum: Optional[int]
    """From whichever of coupon_mininumn / coupon_mininum / coupon_minimum was sent."""
    coupon_type: Optional[int]
    status: Literal["inactive", "under-review", "active", "voided", "sending-stopped", "unknown"]
    status_code: int
    """The wire number (1, 2, 4, 8, 16, or the undocumented value)."""
    coupon_total: int
    max_quota: Optional[int]
    """0 means no limit."""
    is_send_num: Optional[int]
    locked_num: Optional[int]
    used_num: Optional[int]
    coupon_budget: Optional[int]
    begin_time: Optional[WechatTime]
    end_time: Optional[WechatTime]
    create_time: Optional[WechatTime]
    signature: SignatureCheck
    fields: Dict[str, str]
    api = "query_coupon_stock"


@dataclass(frozen=True)
class CouponInfo:
    """One coupon as querycouponsinfo reports it."""

    coupon_id: str
    coupon_stock_id: str
    coupon_value: int
    coupon_minimum: Optional[int]
    coupon_name: Optional[str]
    coupon_desc: Optional[str]
    state: Literal["usable", "used", "expired", "locked", "unknown"]
    state_raw: Optional[str]
    """The value as sent when ``state`` is "unknown"; None otherwise."""
    coupon_use_value: Optional[int]
    coupon_remain_value: Optional[int]
    begin_time: Optional[WechatTime]
    end_time: Optional[WechatTime]
    send_time: Optional[WechatTime]
    send_source: Optional[str]
    is_partial_use: Optional[bool]
    consumer_mch_id: Optional[str]
    signature: SignatureCheck
    fields: Dict[str, str]
    api = "querycouponsinfo"


CouponResponse = Union[SentCoupon, CouponStock, CouponInfo]

VARIANT_PAYLOADS = {"status": "status_code", "state": "state_raw"}
"""The results' WIT variants, flattened: the case goes in the first field, its payload (or the
documented wire number) in the second."""
