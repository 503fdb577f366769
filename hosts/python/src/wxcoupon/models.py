"""The package's data shapes: what you pass in (merchant, requests, call options) and what comes
back (typed results). Amounts are in fen (分)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional, Union

# The WIT's records (the requests, HttpRequest, the results) are generated from wit/coupon.wit
# by tests/host_types.rs; this module adds what the WIT does not define or Python shapes its own
# way (Merchant, CallOptions) and re-exports them all.
from ._models_gen import (
    VARIANT_PAYLOADS,
    CouponInfo,
    CouponStock,
    HttpRequest,
    QueryCouponsInfoRequest,
    QueryCouponStockRequest,
    SendCouponRequest,
    SentCoupon,
    SignatureCheck,
    WechatTime,
)

__all__ = [
    "Merchant",
    "SendCouponRequest",
    "QueryCouponStockRequest",
    "QueryCouponsInfoRequest",
    "CallOptions",
    "HttpRequest",
    "WechatTime",
    "SignatureCheck",
    "SentCoupon",
    "CouponStock",
    "CouponInfo",
    "CouponResponse",
    "VARIANT_PAYLOADS",
]


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


CouponResponse = Union[SentCoupon, CouponStock, CouponInfo]
