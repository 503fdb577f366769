"""Between the package's dataclasses and the component's WIT values (``_component``: a record is a
dict keyed by its snake_case field names, a variant a ``(case, payload)`` pair), read off the
dataclass fields and their annotations: one rule per shape, not a function per type."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Dict, Mapping, Tuple, Type, TypeVar

from .errors import InvalidInputError
from .models import (
    VARIANT_PAYLOADS, CouponInfo, CouponStock, Merchant, QueryCouponsInfoRequest,
    QueryCouponStockRequest, SendCouponRequest, SentCoupon, WechatTime,
)

APIS = {  # wire name → (WIT function suffix, request class, result class)
    "send_coupon": ("send-coupon", SendCouponRequest, SentCoupon),
    "query_coupon_stock": ("query-coupon-stock", QueryCouponStockRequest, CouponStock),
    "querycouponsinfo": ("query-coupons-info", QueryCouponsInfoRequest, CouponInfo),
}
APIS["query_coupons_info"] = APIS["querycouponsinfo"]
REQUESTS = {cls: api for api, cls, _ in APIS.values()}
OPTIONS = ("op_user_id", "device_info", "version", "message_type")  # common-options, flat in each request
WIRE_NAMES = {"message_type": "type"}  # the names errors give, where not the attribute's
CHECKS = {"str": (str, "must be a string"), "Optional[str]": (str, "must be a string"), "bool": (bool, "must be True or False")}
SIGN_TYPES = {"MD5": "md5", "md5": "md5", None: "md5", "HMAC-SHA256": "hmac-sha256", "hmac-sha256": "hmac-sha256"}
STOCK_CODES = {"inactive": 1, "under-review": 2, "active": 4, "voided": 8, "sending-stopped": 16}
T = TypeVar("T")


def checked(obj: Any, prefix: str = "") -> Dict[str, Any]:
    """A dataclass's fields by name, each of the type its annotation says (an absent ``str`` is
    ``""``, for the component to name the rule) or an InvalidInputError for that field."""
    values = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        kind, rule = CHECKS.get(f.type, (object, ""))  # type: ignore[call-overload]
        if v is not None and not isinstance(v, kind):
            raise InvalidInputError(prefix + WIRE_NAMES.get(f.name, f.name), rule)
        values[f.name] = "" if v is None and f.type == "str" else v
    return values


def _lookup(table: Dict[Any, T], key: Any, field: str, rule: str) -> T:
    try:
        return table[key]
    except (KeyError, TypeError):  # TypeError: an unhashable key
        raise InvalidInputError(field, rule) from None


def wit_api(api: Any) -> Tuple[str, Any, Any]:
    """The (WIT suffix, request class, result class) of a wire name."""
    return _lookup(APIS, api, "api", "must be send_coupon, query_coupon_stock or querycouponsinfo")


def wit_sign_type(value: Any, field: str = "merchant.sign_type") -> str:
    return _lookup(SIGN_TYPES, value, field, "must be MD5 or HMAC-SHA256")


def wit_merchant(m: Any) -> Dict[str, Any]:
    if isinstance(m, Mapping):
        try:
            m = Merchant(**m)
        except TypeError as e:
            raise InvalidInputError("merchant", str(e).replace("__init__() ", "")) from None
    if not isinstance(m, Merchant):
        raise InvalidInputError("merchant", "must be a wxcoupon.Merchant")
    v = checked(m, "merchant.")
    url, backup = v.pop("base_url"), v.pop("backup_host")
    if url is not None and backup:
        raise InvalidInputError("merchant.backup_host", "cannot be combined with base_url: choose one endpoint")
    v["host"] = ("custom", url) if url is not None else "backup" if backup else "production"
    v["sign_type"] = wit_sign_type(v["sign_type"])
    v["signature_policy"] = "require" if v.pop("require_signed_responses") else "verify-if-present"
    return v


def wit_request(request: Any, cls: Any = None) -> Tuple[str, Dict[str, Any]]:
    """(WIT suffix, WIT record) of a request dataclass or of a mapping of its fields (with the
    wire name as ``api`` when ``cls`` is not given)."""
    cls = cls or next((c for c in REQUESTS if isinstance(request, c)), None)
    if cls is None:
        if not isinstance(request, Mapping):
            raise InvalidInputError("request", "must be a request dataclass or a mapping with `api`")
        cls = wit_api(request.get("api"))[1]
    if isinstance(request, Mapping):
        unknown = sorted(set(request) - {f.name for f in fields(cls)} - {"api"})
        if unknown:
            raise InvalidInputError(unknown[0], "is not a field of this request")
        request = cls(**{k: v for k, v in request.items() if k != "api"})
    elif not isinstance(request, cls):
        raise InvalidInputError("request", f"must be a {cls.__name__} or a mapping")
    record = checked(request)
    record["options"] = {n: record.pop(n) for n in OPTIONS}
    return REQUESTS[cls], record


def result(cls: Type[T], record: Dict[str, Any]) -> T:
    """A result dataclass (or HttpRequest) from its lifted WIT record, by the shape of each value:
    a variant gives its case and, in the field ``VARIANT_PAYLOADS`` names, its payload (else its
    wire code); a nested record is a WechatTime; the pairs of ``fields`` a dict; the body bytes."""
    for name, v in list(record.items()):
        kind = type(v)
        if kind is tuple:
            record[name], payload = v
            record[VARIANT_PAYLOADS[name]] = payload if payload is not None else STOCK_CODES.get(v[0])
        elif kind is dict:
            record[name] = WechatTime(**v)
        elif name in ("fields", "body"):
            record[name] = dict(v) if name == "fields" else v.encode("utf-8")
    return cls(**record)  # type: ignore[call-arg]
