"""Between the package's dataclasses and the WIT values wasmtime-py lifts and lowers (records with
kebab-case attribute names, ``Variant`` cases, enum strings)."""

from __future__ import annotations

from dataclasses import fields as dc_fields
from typing import Any, Mapping, Optional, Type, TypeVar, Union

from wasmtime.component import Record, Variant

from . import errors
from .errors import InvalidInputError
from .models import (
    CouponInfo,
    CouponStock,
    HttpRequest,
    Merchant,
    QueryCouponsInfoRequest,
    QueryCouponStockRequest,
    SendCouponRequest,
    SentCoupon,
    WechatTime,
)

API_CASES = {
    "send_coupon": "send-coupon",
    "query_coupon_stock": "query-coupon-stock",
    "querycouponsinfo": "query-coupons-info",
    "query_coupons_info": "query-coupons-info",
}
STOCK_CODES = {"inactive": 1, "under-review": 2, "active": 4, "voided": 8, "sending-stopped": 16}


def record(**values: Any) -> Record:
    r = Record()
    for name, value in values.items():
        setattr(r, name.replace("_", "-"), value)
    return r


def get(r: Any, name: str) -> Any:
    return getattr(r, name.replace("_", "-"))


def wit_api(api: str) -> str:
    try:
        return API_CASES[api]
    except (KeyError, TypeError):
        raise InvalidInputError("api", "must be send_coupon, query_coupon_stock or querycouponsinfo") from None


def _opt_text(value: Any, field: str) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(field, "must be a string")
    return value


def _text(value: Any, field: str) -> str:
    return _opt_text(value, field) or ""


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(field, "must be True or False")
    return value


def wit_sign_type(value: Any, field: str = "merchant.sign_type") -> str:
    if value in ("MD5", "md5", None):
        return "md5"
    if value in ("HMAC-SHA256", "hmac-sha256"):
        return "hmac-sha256"
    raise InvalidInputError(field, "must be MD5 or HMAC-SHA256")


def wit_merchant(m: Any) -> Record:
    if isinstance(m, Mapping):
        try:
            m = Merchant(**m)
        except TypeError as e:
            raise InvalidInputError("merchant", str(e).replace("__init__() ", "")) from None
    if not isinstance(m, Merchant):
        raise InvalidInputError("merchant", "must be a wxcoupon.Merchant")
    base_url = _opt_text(m.base_url, "merchant.base_url")
    backup = _flag(m.backup_host, "merchant.backup_host")
    if base_url is not None and backup:
        raise InvalidInputError("merchant.backup_host", "cannot be combined with base_url: choose one endpoint")
    host = Variant("custom", base_url) if base_url is not None else Variant("backup" if backup else "production")
    return record(
        appid=_text(m.appid, "merchant.appid"),
        mch_id=_text(m.mch_id, "merchant.mch_id"),
        api_key=_text(m.api_key, "merchant.api_key"),
        sign_type=wit_sign_type(m.sign_type),
        host=host,
        sandbox=_flag(m.sandbox, "merchant.sandbox"),
        signature_policy="require" if _flag(m.require_signed_responses, "merchant.require_signed_responses") else "verify-if-present",
    )


T = TypeVar("T")


def coerce(request: Any, cls: Type[T]) -> T:
    """A request dataclass from itself or a mapping of its field names."""
    if isinstance(request, cls):
        return request
    if isinstance(request, Mapping):
        names = {f.name for f in dc_fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(request) - names - {"api"})
        if unknown:
            raise InvalidInputError(unknown[0], "is not a field of this request")
        return cls(**{k: v for k, v in request.items() if k != "api"})
    raise InvalidInputError("request", f"must be a {cls.__name__} or a mapping")


def _options(r: Any) -> Record:
    return record(
        op_user_id=_opt_text(r.op_user_id, "op_user_id"),
        device_info=_opt_text(r.device_info, "device_info"),
        version=_opt_text(r.version, "version"),
        message_type=_opt_text(r.message_type, "type"),
    )


def wit_send_coupon(r: Any) -> Record:
    r = coerce(r, SendCouponRequest)
    return record(
        coupon_stock_id=_text(r.coupon_stock_id, "coupon_stock_id"),
        openid=_text(r.openid, "openid"),
        partner_trade_no=_text(r.partner_trade_no, "partner_trade_no"),
        options=_options(r),
    )


def wit_query_coupon_stock(r: Any) -> Record:
    r = coerce(r, QueryCouponStockRequest)
    return record(coupon_stock_id=_text(r.coupon_stock_id, "coupon_stock_id"), options=_options(r))


def wit_query_coupons_info(r: Any) -> Record:
    r = coerce(r, QueryCouponsInfoRequest)
    return record(
        coupon_id=_text(r.coupon_id, "coupon_id"),
        openid=_text(r.openid, "openid"),
        stock_id=_text(r.stock_id, "stock_id"),
        options=_options(r),
    )


_REQUESTS = {
    "send-coupon": (SendCouponRequest, wit_send_coupon),
    "query-coupon-stock": (QueryCouponStockRequest, wit_query_coupon_stock),
    "query-coupons-info": (QueryCouponsInfoRequest, wit_query_coupons_info),
}


def wit_request(request: Any) -> Variant:
    """A request dataclass, or a mapping with ``api`` (the wire name) and the fields."""
    for tag, (cls, convert) in _REQUESTS.items():
        if isinstance(request, cls):
            return Variant(tag, convert(request))
    if isinstance(request, Mapping):
        tag = wit_api(request.get("api"))
        return Variant(tag, _REQUESTS[tag][1](request))
    raise InvalidInputError("request", "must be a request dataclass or a mapping with `api`")


def wit_call_options(o: Any) -> Record:
    return record(
        connect_timeout_ms=o.connect_timeout_ms,
        first_byte_timeout_ms=o.first_byte_timeout_ms,
        between_bytes_timeout_ms=o.between_bytes_timeout_ms,
        max_response_bytes=o.max_response_bytes,
        nonce=o.nonce,
    )


# --- results ------------------------------------------------------------------------------------


def _time(t: Any) -> Optional[WechatTime]:
    return None if t is None else WechatTime(raw=t.raw, unix_seconds=get(t, "unix_seconds"))


def _result(cls: Type[T], r: Any, **special: Any) -> T:
    """A result dataclass from the lifted WIT record: every field of the same name (a
    ``wechat-time`` as a WechatTime, ``fields`` as a dict), except those given in ``special``."""
    values = {}
    for f in dc_fields(cls):  # type: ignore[arg-type]
        if f.name in special:
            continue
        value = get(r, f.name)
        values[f.name] = dict(value) if f.name == "fields" else _time(value) if f.name.endswith("_time") else value
    return cls(**values, **special)


def sent_coupon(s: Any) -> SentCoupon:
    return _result(SentCoupon, s)


def coupon_stock(s: Any) -> CouponStock:
    status = s.status
    return _result(
        CouponStock,
        s,
        status=status.tag,
        status_code=status.payload if status.tag == "unknown" else STOCK_CODES[status.tag],
    )


def coupon_info(c: Any) -> CouponInfo:
    state = c.state
    return _result(CouponInfo, c, state=state.tag, state_raw=state.payload if state.tag == "unknown" else None)


def coupon_response(v: Variant) -> Union[SentCoupon, CouponStock, CouponInfo]:
    if v.tag == "send-coupon":
        return sent_coupon(v.payload)
    if v.tag == "query-coupon-stock":
        return coupon_stock(v.payload)
    return coupon_info(v.payload)


def http_request(h: Any) -> HttpRequest:
    return HttpRequest(
        method=h.method,
        url=h.url,
        headers=[(k, v) for k, v in h.headers],
        body=bytes(h.body),
        needs_client_certificate=get(h, "needs_client_certificate"),
    )


def wit_error(e: Any) -> Optional[Variant]:
    """The WIT ``coupon-error`` an exception of this package stands for (the inverse of
    ``errors.from_wit_error``), so the component can judge errors the host made itself; None for
    anything else."""
    if isinstance(e, errors.InvalidInputError):
        return Variant("invalid-input", record(field=e.field, rule=e.rule))
    if isinstance(e, errors.UnexpectedStatusError):
        return Variant("unexpected-status", e.status)
    if isinstance(e, errors.MalformedResponseError):
        return Variant("malformed-response", record(field=e.field, problem=e.problem))
    if isinstance(e, errors.ProtocolError):
        return Variant("protocol", e.return_msg)
    if isinstance(e, errors.BusinessError):
        return Variant(
            "business",
            record(
                err_code=e.err_code,
                err_code_des=e.err_code_des,
                ret_msg=e.ret_msg,
                meaning=e.meaning,
                advice=e.advice,
                retryable=e.retryable,
            ),
        )
    if isinstance(e, errors.SignatureError):
        return Variant("signature", e.problem)
    if isinstance(e, errors.TransportError):
        return Variant("transport", record(message=e.detail, may_have_reached_wechat=e.may_have_reached_wechat))
    if isinstance(e, errors.DeniedError):
        return Variant("denied", e.detail)
    return None
