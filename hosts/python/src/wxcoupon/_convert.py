"""Between the package's dataclasses and the component's WIT values (``_component``: a record is a
dict keyed by its snake_case field names, a variant a ``(case, payload)`` pair), derived from the
dataclass fields: one rule per shape, not a function per type."""

from __future__ import annotations

import functools
from dataclasses import fields
from typing import Any, Dict, Mapping, Tuple, Type, TypeVar

from .errors import InvalidInputError
from .models import (
    VARIANT_PAYLOADS, CouponInfo, CouponStock, HttpRequest, Merchant, QueryCouponsInfoRequest,
    QueryCouponStockRequest, SendCouponRequest, SentCoupon, WechatTime,
)

# wire name → (WIT function suffix, request class, result class)
APIS = {
    "send_coupon": ("send-coupon", SendCouponRequest, SentCoupon),
    "query_coupon_stock": ("query-coupon-stock", QueryCouponStockRequest, CouponStock),
    "querycouponsinfo": ("query-coupons-info", QueryCouponsInfoRequest, CouponInfo),
}
APIS["query_coupons_info"] = APIS["querycouponsinfo"]
BY_REQUEST = {cls: api for api, cls, _ in APIS.values()}
OPTIONS = {"op_user_id": "op_user_id", "device_info": "device_info", "version": "version", "message_type": "type"}
"""The ``common-options`` fields every request dataclass carries flat, with their wire names."""
STOCK_CODES = {"inactive": 1, "under-review": 2, "active": 4, "voided": 8, "sending-stopped": 16}
T = TypeVar("T")


def _check(value: Any, field: str, kind: type, rule: str) -> Any:
    if not isinstance(value, kind):
        raise InvalidInputError(field, rule)
    return value


def _text(value: Any, field: str) -> str:
    return "" if value is None else _check(value, field, str, "must be a string")


def _flag(value: Any, field: str) -> bool:
    return _check(value, field, bool, "must be True or False")


def wit_api(api: Any) -> Tuple[str, type, type]:
    """The (WIT suffix, request class, result class) of a wire name."""
    try:
        return APIS[api]
    except (KeyError, TypeError):
        raise InvalidInputError("api", "must be send_coupon, query_coupon_stock or querycouponsinfo") from None


def wit_sign_type(value: Any, field: str = "merchant.sign_type") -> str:
    if value in ("MD5", "md5", None):
        return "md5"
    if value in ("HMAC-SHA256", "hmac-sha256"):
        return "hmac-sha256"
    raise InvalidInputError(field, "must be MD5 or HMAC-SHA256")


def coerce(value: Any, cls: Type[T]) -> T:
    """A request dataclass from itself or from a mapping of its field names (and ``api``)."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise InvalidInputError("request", f"must be a {cls.__name__} or a mapping")
    unknown = sorted(set(value) - {f.name for f in fields(cls)} - {"api"})  # type: ignore[arg-type]
    if unknown:
        raise InvalidInputError(unknown[0], "is not a field of this request")
    return cls(**{k: v for k, v in value.items() if k != "api"})


def wit_merchant(m: Any) -> Dict[str, Any]:
    if isinstance(m, Mapping):
        try:
            m = Merchant(**m)
        except TypeError as e:
            raise InvalidInputError("merchant", str(e).replace("__init__() ", "")) from None
    _check(m, "merchant", Merchant, "must be a wxcoupon.Merchant")
    record: Dict[str, Any] = {n: _text(getattr(m, n), "merchant." + n) for n in ("appid", "mch_id", "api_key")}
    base_url = None if m.base_url is None else _text(m.base_url, "merchant.base_url")
    if base_url is not None and _flag(m.backup_host, "merchant.backup_host"):
        raise InvalidInputError("merchant.backup_host", "cannot be combined with base_url: choose one endpoint")
    record["host"] = ("custom", base_url) if base_url is not None else "backup" if _flag(m.backup_host, "merchant.backup_host") else "production"
    record["sign_type"] = wit_sign_type(m.sign_type)
    record["sandbox"] = _flag(m.sandbox, "merchant.sandbox")
    strict = _flag(m.require_signed_responses, "merchant.require_signed_responses")
    record["signature_policy"] = "require" if strict else "verify-if-present"
    return record


@functools.lru_cache(maxsize=64)
def _pinned_merchant(rt: Any, m: Merchant) -> Any:
    return rt.pin("merchant", wit_merchant(m))


def merchant_arg(rt: Any, m: Any) -> Any:
    """The merchant argument of ``rt``'s calls: a Merchant (frozen, so its WIT value never
    changes) is checked and lowered once and then passed as it is; a mapping every time."""
    if type(m) is Merchant:
        try:
            hash(m)
        except TypeError:  # a field holds something unhashable: wit_merchant names it
            return wit_merchant(m)
        return _pinned_merchant(rt, m)
    return wit_merchant(m)


def wit_request(request: Any, cls: Any = None) -> Tuple[str, Dict[str, Any]]:
    """(WIT suffix, WIT record) of a request dataclass, or of a mapping of its fields (with the
    wire name as ``api`` when ``cls`` is not given)."""
    if cls is None:
        cls = next((c for c in BY_REQUEST if isinstance(request, c)), None)
        if cls is None:
            _check(request, "request", Mapping, "must be a request dataclass or a mapping with `api`")
            cls = wit_api(request.get("api"))[1]
    r = coerce(request, cls)
    record: Dict[str, Any] = {f.name: _text(getattr(r, f.name), f.name) for f in fields(r) if f.name not in OPTIONS}
    record["options"] = {n: None if getattr(r, n) is None else _text(getattr(r, n), wire) for n, wire in OPTIONS.items()}
    return BY_REQUEST[cls], record


def result(cls: Type[T], record: Dict[str, Any]) -> T:
    """A result dataclass from its lifted WIT record, by the shape of each value: a variant gives
    its case and, in the field ``VARIANT_PAYLOADS`` names, its payload (else its wire code); a
    nested record is a WechatTime; a list of pairs (``fields``) a dict."""
    values = {}
    for name, v in record.items():
        kind = type(v)
        if kind is tuple:
            values[name], payload = v
            values[VARIANT_PAYLOADS[name]] = payload if payload is not None else STOCK_CODES.get(v[0])
        else:
            values[name] = WechatTime(**v) if kind is dict else dict(v) if kind is list else v
    return cls(**values)  # type: ignore[call-arg]


def http_request(record: Dict[str, Any]) -> HttpRequest:
    record["body"] = record["body"].encode("utf-8")
    return HttpRequest(**record)
