"""The canonical JSON form of results and errors (conformance/README.md): the Rust core's serde
form, ``{"ok": ...}`` or ``{"error": {"kind": ...}}``. Every host produces it for the shared cases.
It is read off the same field lists as the conversions: the dataclasses' and the errors' tables."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Callable, Dict

from .errors import KINDS, WxCouponError
from .models import VARIANT_PAYLOADS, CouponInfo, CouponStock, HttpRequest, SentCoupon


def canonical_response(r: Any) -> Dict[str, Any]:
    """A result as ``CouponResponse`` serialises: tagged with its API, the variants folded back."""
    if not isinstance(r, (SentCoupon, CouponStock, CouponInfo)):
        raise TypeError(f"not a wxcoupon result: {r!r}")
    out = asdict(r)
    for case, payload in VARIANT_PAYLOADS.items():
        if case in out:
            code = out.pop(payload)
            if out[case] == "unknown":
                out[case] = {"unknown": code}
    return {"api": r.api, **out}


def canonical_http_request(h: HttpRequest) -> Dict[str, Any]:
    """A built request, the body as text."""
    return dict(asdict(h), body=h.body.decode("utf-8", errors="replace"))


def canonical_error(e: BaseException) -> Dict[str, Any]:
    """A WxCouponError; anything else is not an outcome of the contract and is re-raised."""
    if not isinstance(e, KINDS.get(getattr(e, "kind", None), ())):
        raise e
    extra = {"retryable": e.retryable} if e.kind == "business" else {}  # type: ignore[attr-defined]
    return {"kind": e.kind, **e._values(), **extra}  # type: ignore[attr-defined]


def canonical(fn: Callable[[], Any], to_json: Callable[[Any], Any] = lambda v: v) -> Dict[str, Any]:
    """Runs ``fn`` and returns ``{"ok": to_json(value)}`` or ``{"error": ...}``."""
    try:
        return {"ok": to_json(fn())}
    except WxCouponError as e:
        return {"error": canonical_error(e)}


def stable_dumps(value: Any) -> str:
    """JSON with sorted keys: two canonical values are equal when these strings are."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)
