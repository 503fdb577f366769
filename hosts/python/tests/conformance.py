"""The shared conformance cases (conformance/cases) in this package's shapes, and the live
scenario runner. Rules: conformance/README.md."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List

import wxcoupon
from wxcoupon.canonical import canonical, canonical_response

from conftest import ROOT


def load_cases(group: str) -> Dict[str, Any]:
    return json.loads((ROOT / "conformance" / "cases" / f"{group}.json").read_text(encoding="utf-8"))


def merged_merchant(doc: Dict[str, Any], case: Dict[str, Any]) -> Dict[str, Any]:
    m = dict(doc.get("merchant") or {})
    m.update(case.get("merchant") or {})
    return m


def merchant_from(m: Dict[str, Any]) -> wxcoupon.Merchant:
    host = m["host"]
    return wxcoupon.Merchant(
        appid=m["appid"],
        mch_id=m["mch_id"],
        api_key=m["api_key"],
        sign_type=m["sign_type"],
        base_url=host["custom"] if isinstance(host, dict) else None,
        backup_host=host == "backup",
        sandbox=m["sandbox"],
        require_signed_responses=m["signature_policy"] == "require",
    )


def parse_body(case: Dict[str, Any]) -> bytes:
    body = (ROOT / case["body_file"]).read_bytes() if "body_file" in case else case["body"].encode("utf-8")
    return body * case.get("repeat", 1)


def mask_volatile(value: Dict[str, Any], paths: List[str]) -> Dict[str, Any]:
    if not isinstance(value.get("ok"), dict):
        return value
    out = json.loads(json.dumps(value))
    for path in paths:
        parts = path.split(".")
        node: Any = out["ok"]
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and parts[-1] in node:
            node[parts[-1]] = "<volatile>"
    return out


_REF = re.compile(r"\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}")


def resolve_refs(request: Dict[str, Any], results: Dict[str, Any]) -> Dict[str, Any]:
    def one(v: Any) -> Any:
        if not isinstance(v, str):
            return v
        return _REF.sub(lambda m: str(results[m.group(1)]["ok"][m.group(2)]), v)

    return {k: one(v) for k, v in request.items()}


def error_from(e: Dict[str, Any]) -> wxcoupon.WxCouponError:
    """A canonical ERROR (conformance/README.md) → this package's exception."""
    kind = e["kind"]
    if kind == "invalid-input":
        return wxcoupon.InvalidInputError(e["field"], e["rule"])
    if kind == "unexpected-status":
        return wxcoupon.UnexpectedStatusError(e["status"])
    if kind == "malformed-response":
        return wxcoupon.MalformedResponseError(e["field"], e["problem"])
    if kind == "protocol":
        return wxcoupon.ProtocolError(e["return_msg"])
    if kind == "business":
        return wxcoupon.BusinessError(e["err_code"], e["err_code_des"], e["ret_msg"], e["meaning"], e["advice"], e["retryable"])
    if kind == "signature":
        return wxcoupon.SignatureError(e["problem"])
    if kind == "transport":
        return wxcoupon.TransportError(e["message"], e["may_have_reached_wechat"])
    if kind == "denied":
        return wxcoupon.DeniedError(e["message"])
    raise ValueError(f"unknown error kind {kind}")


CALLS = {
    "send_coupon": wxcoupon.send_coupon,
    "query_coupon_stock": wxcoupon.query_coupon_stock,
    "querycouponsinfo": wxcoupon.query_coupons_info,
}


def run_scenario(doc: Dict[str, Any], sim: Dict[str, Any], mode: str) -> Dict[str, Any]:
    """Runs the live scenario. ``mode``: "native" (every call through http.client + ssl, the
    simulator's CA trusted per call, the certificate where the step says), or "component-http"
    (queries and certificate-less sends through the component's own wasi:http client on the
    simulator's plain-HTTP listener — wasmtime-py's wasi:http trusts only public roots)."""
    tls = merchant_from(dict(doc["merchant"], host={"custom": sim["https_base_url"]}))
    plain = merchant_from(dict(doc["merchant"], host={"custom": sim["http_base_url"]}))
    results: Dict[str, Any] = {}
    for step in doc["steps"]:
        request = resolve_refs(step["request"], results)
        if mode == "component-http" and not step.get("certificate"):
            merchant, options = plain, wxcoupon.CallOptions(transport="component")
        elif step.get("certificate"):
            merchant = tls
            options = wxcoupon.CallOptions(ca_file=sim["ca"], cert_file=sim["client_cert"], key_file=sim["client_key"])
        else:
            merchant, options = tls, wxcoupon.CallOptions(ca_file=sim["ca"])
        fn = CALLS[step["call"]]
        results[step["name"]] = canonical(lambda: fn(merchant, request, options), canonical_response)
    return {name: mask_volatile(r, doc.get("volatile", [])) for name, r in results.items()}
