"""The canonical JSON form of results and errors (conformance/README.md): the Rust core's serde
form, ``{"ok": ...}`` or ``{"error": {"kind": ...}}``. Every host produces it for the shared cases."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Optional

from .errors import WxCouponError
from .models import CouponInfo, CouponStock, HttpRequest, SentCoupon, WechatTime


def _time(t: Optional[WechatTime]) -> Optional[Dict[str, Any]]:
    return None if t is None else {"raw": t.raw, "unix_seconds": t.unix_seconds}


def canonical_response(r: Any) -> Dict[str, Any]:
    if isinstance(r, SentCoupon):
        return {
            "api": r.api,
            "coupon_id": r.coupon_id,
            "coupon_stock_id": r.coupon_stock_id,
            "openid": r.openid,
            "resp_count": r.resp_count,
            "success_count": r.success_count,
            "failed_count": r.failed_count,
            "signature": r.signature,
            "fields": dict(r.fields),
        }
    if isinstance(r, CouponStock):
        return {
            "api": r.api,
            "coupon_stock_id": r.coupon_stock_id,
            "coupon_name": r.coupon_name,
            "coupon_value": r.coupon_value,
            "coupon_minimum": r.coupon_minimum,
            "coupon_type": r.coupon_type,
            "status": {"unknown": r.status_code} if r.status == "unknown" else r.status,
            "coupon_total": r.coupon_total,
            "max_quota": r.max_quota,
            "is_send_num": r.is_send_num,
            "locked_num": r.locked_num,
            "used_num": r.used_num,
            "coupon_budget": r.coupon_budget,
            "begin_time": _time(r.begin_time),
            "end_time": _time(r.end_time),
            "create_time": _time(r.create_time),
            "signature": r.signature,
            "fields": dict(r.fields),
        }
    if isinstance(r, CouponInfo):
        return {
            "api": r.api,
            "coupon_id": r.coupon_id,
            "coupon_stock_id": r.coupon_stock_id,
            "coupon_value": r.coupon_value,
            "coupon_minimum": r.coupon_minimum,
            "coupon_name": r.coupon_name,
            "coupon_desc": r.coupon_desc,
            "state": {"unknown": r.state_raw} if r.state == "unknown" else r.state,
            "coupon_use_value": r.coupon_use_value,
            "coupon_remain_value": r.coupon_remain_value,
            "begin_time": _time(r.begin_time),
            "end_time": _time(r.end_time),
            "send_time": _time(r.send_time),
            "send_source": r.send_source,
            "is_partial_use": r.is_partial_use,
            "consumer_mch_id": r.consumer_mch_id,
            "signature": r.signature,
            "fields": dict(r.fields),
        }
    raise TypeError(f"not a wxcoupon result: {r!r}")


def canonical_http_request(h: HttpRequest) -> Dict[str, Any]:
    return {
        "method": h.method,
        "url": h.url,
        "headers": [[k, v] for k, v in h.headers],
        "body": h.body.decode("utf-8", errors="replace"),
        "needs_client_certificate": h.needs_client_certificate,
    }


def canonical_error(e: BaseException) -> Dict[str, Any]:
    """A WxCouponError; anything else is not an outcome of the contract and is re-raised."""
    if not isinstance(e, WxCouponError):
        raise e
    k = e.kind
    if k == "invalid-input":
        return {"kind": k, "field": e.field, "rule": e.rule}  # type: ignore[attr-defined]
    if k == "unexpected-status":
        return {"kind": k, "status": e.status}  # type: ignore[attr-defined]
    if k == "malformed-response":
        return {"kind": k, "field": e.field, "problem": e.problem}  # type: ignore[attr-defined]
    if k == "protocol":
        return {"kind": k, "return_msg": e.return_msg}  # type: ignore[attr-defined]
    if k == "business":
        return {
            "kind": k,
            "err_code": e.err_code,  # type: ignore[attr-defined]
            "err_code_des": e.err_code_des,  # type: ignore[attr-defined]
            "ret_msg": e.ret_msg,  # type: ignore[attr-defined]
            "meaning": e.meaning,  # type: ignore[attr-defined]
            "advice": e.advice,  # type: ignore[attr-defined]
            "retryable": e.retryable,  # type: ignore[attr-defined]
        }
    if k == "signature":
        return {"kind": k, "problem": e.problem}  # type: ignore[attr-defined]
    if k == "transport":
        return {"kind": k, "message": e.detail, "may_have_reached_wechat": e.may_have_reached_wechat}  # type: ignore[attr-defined]
    if k == "denied":
        return {"kind": k, "message": e.detail}  # type: ignore[attr-defined]
    raise e


def canonical(fn: Callable[[], Any], to_json: Callable[[Any], Any] = lambda v: v) -> Dict[str, Any]:
    """Runs ``fn`` and returns ``{"ok": to_json(value)}`` or ``{"error": ...}``."""
    try:
        return {"ok": to_json(fn())}
    except WxCouponError as e:
        return {"error": canonical_error(e)}


def stable_dumps(value: Any) -> str:
    """JSON with sorted keys: two canonical values are equal when these strings are."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)
