"""wxcoupon for Python: WeChat Pay v2 merchant coupons (代金券) through the wxcoupon WebAssembly
component, on wasmtime.

The component signs, builds and parses (``v2``) and can make calls itself (``v2-client``, over
wasi:http). ``send_coupon`` needs the merchant's client certificate, which wasi:http cannot carry:
by default every call is built by the component, sent by Python's ``http.client`` + ``ssl`` (with
the certificate for send_coupon) and parsed by the component. ``CallOptions(transport="component")``
runs the component's own client instead.

    import wxcoupon
    merchant = wxcoupon.Merchant(appid="wx…", mch_id="10000098", api_key=key)
    coupon = wxcoupon.send_coupon(
        merchant,
        wxcoupon.SendCouponRequest(coupon_stock_id="1757", openid="o…", partner_trade_no="…"),
        wxcoupon.CallOptions(cert_file="apiclient_cert.pem", key_file="apiclient_key.pem"),
    )
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Tuple, Union

from . import _convert as convert
from ._component import load, runtime
from ._http import exchange
from .errors import (
    BusinessError,
    DeniedError,
    InvalidInputError,
    MalformedResponseError,
    ProtocolError,
    SignatureError,
    TransportError,
    UnexpectedStatusError,
    WxCouponError,
    from_wit_error,
    to_wit_error,
)
from .models import (
    CallOptions,
    CouponInfo,
    CouponResponse,
    CouponStock,
    HttpRequest,
    Merchant,
    QueryCouponsInfoRequest,
    QueryCouponStockRequest,
    SendCouponRequest,
    SentCoupon,
    WechatTime,
)

__version__ = "0.1.0"

__all__ = [
    "v3",
    "load",
    "sign",
    "verify",
    "build_request",
    "parse_response",
    "outcome_unknown",
    "outcome_unknown_advice",
    "send_coupon",
    "query_coupon_stock",
    "query_coupons_info",
    "Merchant",
    "SendCouponRequest",
    "QueryCouponStockRequest",
    "QueryCouponsInfoRequest",
    "CallOptions",
    "HttpRequest",
    "WechatTime",
    "SentCoupon",
    "CouponStock",
    "CouponInfo",
    "CouponResponse",
    "WxCouponError",
    "InvalidInputError",
    "UnexpectedStatusError",
    "MalformedResponseError",
    "ProtocolError",
    "BusinessError",
    "SignatureError",
    "TransportError",
    "DeniedError",
]

Fields = Union[Mapping[str, str], Iterable[Tuple[str, str]]]


def _field_list(fields: Fields) -> list:
    items = fields.items() if isinstance(fields, Mapping) else fields
    try:
        return [(str(k), str(v)) for k, v in items]
    except (TypeError, ValueError):
        raise InvalidInputError("fields", "must be a mapping or pairs of strings") from None


def sign(fields: Fields, key: str, sign_type: str = "MD5") -> str:
    """Signs fields by the v2 rule; returns the upper-case hex signature."""
    wit_type = convert.wit_sign_type(sign_type, "sign_type")
    return runtime().call("sign", _field_list(fields), key if isinstance(key, str) else "", wit_type)


def verify(fields: Fields, key: str) -> str:
    """Verifies the ``sign`` among fields: ``"verified-md5"`` or ``"verified-hmac-sha256"``
    (SignatureError otherwise)."""
    return runtime().call("verify", _field_list(fields), key if isinstance(key, str) else "")


def _merchant(rt: Any, merchant: Any) -> Any:
    """The merchant argument: a Merchant (frozen: its WIT value never changes) is checked and
    lowered once per runtime, then passed pinned; a mapping is converted every time."""
    if type(merchant) is Merchant:
        try:
            return rt.pinned("merchant", merchant, convert.wit_merchant)
        except TypeError:  # an unhashable field value: wit_merchant names it
            pass
    return convert.wit_merchant(merchant)


def _nonce(nonce: Optional[str]) -> Optional[str]:
    if nonce is not None and not isinstance(nonce, str):
        raise InvalidInputError("nonce_str", "must be a string")
    return nonce


def build_request(merchant: Merchant, request: Any, nonce: Optional[str] = None) -> HttpRequest:
    """Validates, signs and serialises a request (a request dataclass, or a mapping with ``api``);
    the nonce defaults to 32 random characters."""
    rt = runtime()
    m = _merchant(rt, merchant)
    api, r = convert.wit_request(request)
    return convert.result(HttpRequest, rt.call("build-" + api, m, r, _nonce(nonce)))


def _parse(api: str, result: type, m: Any, status: int, body: Union[bytes, bytearray, str]) -> Any:
    """The component's ``parse-*`` of a body; bytes that are not UTF-8 cannot cross as a WIT
    string, and get the parsers' own refusal from ``unreadable-body`` instead."""
    rt = runtime()
    if not isinstance(body, str):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            error = rt.call("unreadable-body", status, bytes(body))
            if error is None:
                raise RuntimeError("wxcoupon: the component would read a body that is not UTF-8") from None
            raise from_wit_error(error) from None
    return convert.result(result, rt.call("parse-" + api, m, status, body))


def parse_response(merchant: Merchant, api: str, status: int, body: Union[bytes, str]) -> CouponResponse:
    """Reads WeChat's answer to ``api`` (``"send_coupon"``, ``"query_coupon_stock"``,
    ``"querycouponsinfo"``) into a typed result, or raises the matching WxCouponError."""
    m = _merchant(runtime(), merchant)
    wit_api, _, result = convert.wit_api(api)
    if not isinstance(body, (bytes, bytearray, str)):
        raise InvalidInputError("body", "must be bytes or str")
    if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status <= 65535:
        raise InvalidInputError("status", "must be an HTTP status")
    return _parse(wit_api, result, m, status, body)


def outcome_unknown(api: str, error: WxCouponError) -> bool:
    """Whether, after ``error``, it is unknown if WeChat Pay carried out the call to ``api`` — for
    ``"send_coupon"``, if the coupon was issued. The component's ``send-coupon-outcome-unknown``:
    the one rule every layer applies (unknown once the request may have left, unless WeChat's
    answer says it refused); never for queries, which change nothing. ``send_coupon``'s exceptions
    carry the verdict as ``outcome_unknown``."""
    wit_api = convert.wit_api(api)[0]
    wit = to_wit_error(error)
    if wit is None:
        raise InvalidInputError("error", "must be a WxCouponError of this package")
    return wit_api == "send-coupon" and bool(runtime().call("send-coupon-outcome-unknown", wit))


def outcome_unknown_advice() -> str:
    """What to do after an unknown outcome (the component's ``outcome-unknown-advice``): retry with
    the same ``partner_trade_no``, or query first."""
    return str(runtime().call("outcome-unknown-advice"))


def _trade_no(request: Any) -> Optional[str]:
    number = request.get("partner_trade_no") if isinstance(request, Mapping) else getattr(request, "partner_trade_no", None)
    return number if isinstance(number, str) else None


def _with_outcome(error: WxCouponError, request: Any) -> None:
    """Gives an exception of ``send_coupon`` its outcome, as the component's rule judges it."""
    wit = to_wit_error(error)
    if wit is None:
        return
    rt = runtime()
    unknown = bool(rt.call("send-coupon-outcome-unknown", wit))
    error._set_outcome(unknown, _trade_no(request), rt.call("outcome-unknown-advice") if unknown else None)


_LIMITS = ("connect_timeout_ms", "first_byte_timeout_ms", "between_bytes_timeout_ms", "max_response_bytes")


def _options(options: Optional[CallOptions]) -> CallOptions:
    if options is None:
        return CallOptions()
    if isinstance(options, Mapping):
        try:
            options = CallOptions(**options)
        except TypeError as e:
            raise InvalidInputError("options", str(e)) from None
    if not isinstance(options, CallOptions):
        raise InvalidInputError("options", "must be a wxcoupon.CallOptions")
    if options.transport not in ("native", "component"):
        raise InvalidInputError("options.transport", 'must be "native" or "component"')
    for name in _LIMITS:  # both transports, before anything is sent; the WIT's are u32
        value = getattr(options, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidInputError("options." + name, "must be a positive integer")
        if value is not None and value >= 2**32:
            raise InvalidInputError("options." + name, "must be at most 4294967295")
    _nonce(options.nonce)
    return options


def _call(api: str, merchant: Any, request: Any, options: Optional[CallOptions]) -> Any:
    """One ``v2-client`` call: through the component's own client, or built and parsed by the
    component around the native exchange."""
    _, cls, result = convert.wit_api(api)
    o = _options(options)
    rt = runtime()
    m = _merchant(rt, merchant)
    name, r = convert.wit_request(request, cls)
    if o.transport == "component":
        # call-options' fields are CallOptions attributes of the same names.
        return convert.result(result, rt.call(name, m, r, o))
    built = convert.result(HttpRequest, rt.call("build-" + name, m, r, o.nonce))
    status, body = exchange(built, o)
    return _parse(name, result, m, status, body)


def send_coupon(merchant: Merchant, request: Union[SendCouponRequest, Mapping[str, Any]], options: Optional[CallOptions] = None) -> SentCoupon:
    """Issues one coupon (send_coupon). Give the merchant's API certificate in ``options``:
    ``cert_file`` + ``key_file`` (PEM), and ``ca_file`` for a private CA.

    Every exception carries ``outcome_unknown`` and ``partner_trade_no``: when the outcome is
    unknown the coupon may have been issued; send again with the same ``partner_trade_no``."""
    try:
        return _call("send_coupon", merchant, request, options)
    except WxCouponError as e:
        _with_outcome(e, request)
        raise


def query_coupon_stock(merchant: Merchant, request: Union[QueryCouponStockRequest, Mapping[str, Any]], options: Optional[CallOptions] = None) -> CouponStock:
    """Reads a stock (query_coupon_stock); no certificate needed."""
    return _call("query_coupon_stock", merchant, request, options)


def query_coupons_info(merchant: Merchant, request: Union[QueryCouponsInfoRequest, Mapping[str, Any]], options: Optional[CallOptions] = None) -> CouponInfo:
    """Reads one coupon of one user (querycouponsinfo); no certificate needed."""
    return _call("querycouponsinfo", merchant, request, options)


from . import v3  # noqa: E402  (API v3: wxcoupon.v3)
