"""The v3 conformance cases (conformance/cases/v3.json, v3-live.json) through this package:
each call by its export name with the canonical JSON form of WIT values, turned into this
package's values by the export's own WIT types, and back. Rules: conformance/README.md."""

from __future__ import annotations

import json
import re
import time
from typing import Any, Dict, List, Tuple

from wxcoupon import WxCouponError, v3
from wxcoupon._component import runtime
from wxcoupon._component import wt  # the WIT type classes the runtime reflected

from conftest import ROOT


FIXTURES = ROOT / "tests" / "fixtures" / "v3"
VECTORS = json.loads((FIXTURES / "vectors.json").read_text(encoding="utf-8"))


def fixture_merchant(**changes: Any) -> v3.Merchant:
    """The vectors' merchant (test keys, the WeChat Pay public key), with `changes` applied."""
    k = VECTORS["keys"]
    settings = dict(mchid=k["merchant"]["mchid"], merchant_serial_no=k["merchant"]["certificate_serial_no"],
                    apiv3_key=k["apiv3_key"], private_key_pem=(FIXTURES / "merchant_key.pem").read_text(),
                    wechatpay_public_key_id=k["platform"]["public_key_id"],
                    wechatpay_public_key_pem=(FIXTURES / "platform_pub.pem").read_text())
    settings.update(changes)
    return v3.Merchant(**settings)


def load(name: str) -> Dict[str, Any]:
    return json.loads((ROOT / "conformance" / "cases" / f"{name}.json").read_text(encoding="utf-8"))


def merchant_of(settings: Dict[str, Any]) -> v3.Merchant:
    return v3.Merchant(**dict(settings, platform_certificates=tuple(settings.get("platform_certificates") or ())))


def from_canonical(ty: Any, value: Any) -> Any:
    """A canonical JSON value as the codec takes it for the WIT type ``ty``."""
    if isinstance(ty, (wt.OwnType, wt.BorrowType)):
        return merchant_of(value)
    if value is None:
        return None
    if isinstance(ty, wt.OptionType):
        return from_canonical(ty.payload, value)
    if isinstance(ty, wt.ListType):
        if isinstance(ty.element, wt.U8):
            return bytes.fromhex(value)
        return [from_canonical(ty.element, v) for v in value]
    if isinstance(ty, wt.TupleType):
        return tuple(from_canonical(t, v) for t, v in zip(ty.elements, value))
    if isinstance(ty, wt.RecordType):
        types = {name.replace("-", "_"): t for name, t in ty.fields}
        return {k: from_canonical(types[k], v) for k, v in value.items()}
    if isinstance(ty, wt.VariantType):
        if isinstance(value, str):
            return value
        (case, payload), = value.items()
        payload_ty = dict(ty.cases)[case]
        return case, from_canonical(payload_ty, payload)
    return value


def to_canonical(ty: Any, value: Any) -> Any:
    """This package's value of the WIT type ``ty`` in the canonical JSON form."""
    if value is None:
        return None
    if isinstance(ty, wt.OptionType):
        return to_canonical(ty.payload, value)
    if isinstance(ty, wt.ListType):
        if isinstance(ty.element, wt.U8):
            return bytes(value).hex()
        return [to_canonical(ty.element, v) for v in value]
    if isinstance(ty, wt.TupleType):
        return [to_canonical(t, v) for t, v in zip(ty.elements, value)]
    if isinstance(ty, wt.RecordType):
        get = value.get if isinstance(value, dict) else lambda k: getattr(value, k)
        return {name.replace("-", "_"): to_canonical(t, get(name.replace("-", "_"))) for name, t in ty.fields}
    if isinstance(ty, wt.VariantType):
        case, payload = (value, None) if isinstance(value, str) else value
        payload_ty = dict(ty.cases)[case]
        return case if payload is None else {case: to_canonical(payload_ty, payload)}
    return value


def call(name: str, args: List[Any]) -> Dict[str, Any]:
    """One call by name: canonical arguments in, the canonical answer out."""
    rt = runtime()
    export = rt.exports[name]
    values = [from_canonical(ty, a) for (_, ty), a in zip(export.params, args)]
    try:
        result = rt.call_result(name, *values)
    except WxCouponError as e:  # a merchant that does not open: `open`'s error answers the call
        return {"error": to_canonical(export.result.err, v3.to_v3_error(e))}
    if isinstance(export.result, wt.ResultType):
        ok, value = result
        ty = export.result.ok if ok else export.result.err
        return {"ok" if ok else "error": to_canonical(ty, value) if ty is not None else None}
    return {"ok": to_canonical(export.result, result)}


def run_case(doc: Dict[str, Any], case: Dict[str, Any]) -> List[Dict[str, Any]]:
    merchant = dict(doc["merchant"], **(case.get("merchant") or {}))
    answers, prev = [], None
    for c in case["calls"]:
        args = [merchant if a == "$merchant" else prev if a == "$prev" else a for a in c["args"]]
        answer = call(c["function"], args)
        prev = answer.get("ok")
        answers.append(answer)
    return answers


_REF = re.compile(r"\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}")


def resolve(value: Any, refs: Dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _REF.sub(lambda m: str(refs[m.group(1)][m.group(2)]), value)
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, refs) for k, v in value.items()}
    return value


def mask(value: Dict[str, Any], paths: List[str]) -> Dict[str, Any]:
    out = json.loads(json.dumps(value))

    def walk(node: Any, parts: List[str]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, parts)
        elif isinstance(node, dict) and parts[0] in node:
            if len(parts) == 1:
                node[parts[0]] = "<volatile>"
            else:
                walk(node[parts[0]], parts[1:])

    if "ok" in out:
        for path in paths:
            walk(out["ok"], path.split("."))
    return out


def beijing(unix_seconds: int) -> str:
    """RFC 3339 in Beijing time, as WeChat writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(unix_seconds + 8 * 3600))


def times() -> Dict[str, str]:
    """``${time.begin}`` (now − 60 s) and ``${time.end}`` (now + 30 days)."""
    now = int(time.time())
    return {"begin": beijing(now - 60), "end": beijing(now + 30 * 86400)}


def live_merchant(doc: Dict[str, Any], sim: Dict[str, Any]) -> v3.Merchant:
    read = lambda key: open(sim[key], encoding="utf-8").read()
    return v3.Merchant(mchid=sim["mch_id"], merchant_serial_no=sim["v3_merchant_serial_no"],
                       apiv3_key=doc["merchant"]["apiv3_key"], private_key_pem=read("v3_merchant_key"),
                       wechatpay_public_key_id=sim["v3_public_key_id"],
                       wechatpay_public_key_pem=read("v3_wechatpay_public_key"), base_url=sim["https_base_url"])


def run_live(doc: Dict[str, Any], sim: Dict[str, Any]) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """The live steps through this package's v3 calls (its own HTTPS client, the simulator's CA
    trusted), each answer or exception in the canonical form."""
    from wxcoupon import CallOptions, WxCouponError

    merchant, options = live_merchant(doc, sim), CallOptions(ca_file=sim["ca"])
    rt = runtime()
    refs: Dict[str, Any] = {"sim": {"mchid": sim["mch_id"], "appid": sim["appid"]}, "time": times()}
    out = []
    for step in doc["steps"]:
        request = resolve(step["request"], refs)
        fn = getattr(v3, step["call"].replace("-", "_"))
        export = rt.exports["v3-client." + step["call"]]
        try:
            value = fn(merchant, request, options)
            answer = {"ok": to_canonical(export.result.ok, value)}
            refs[step["name"]] = answer["ok"]
        except WxCouponError as e:
            wire = v3.to_v3_error(e)
            assert wire is not None, e
            answer = {"error": to_canonical(export.result.err, wire)}
            refs[step["name"]] = {}
        out.append((step, mask(answer, doc.get("volatile", []))))
    return out


def stable(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)

