#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/: the starting corpus of each fuzz target, from the repository's
fixtures and conformance cases plus a few hand-written inputs. Run from anywhere; the output is
committed (rerun after changing fixtures or the input formats of the targets)."""
import hashlib
import json
import pathlib
import shutil

root = pathlib.Path(__file__).resolve().parent.parent
seeds = root / "fuzz" / "seeds"
API_INDEX = {"send_coupon": 0, "query_coupon_stock": 1, "querycouponsinfo": 2}


def write(target, name, data):
    d = seeds / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


for target in ["xml_reader", "parse_response", "api_request", "egress_path", "settings"]:
    shutil.rmtree(seeds / target, ignore_errors=True)

# XML answers: the fixtures and the conformance bodies (each parse case also as a
# parse_response input: byte 0 = API, digest, policy, status flags; see the target).
for f in sorted((root / "tests/fixtures/responses").glob("*.xml")):
    write("xml_reader", f.stem, f.read_bytes())
parse = json.loads((root / "conformance/cases/parse.json").read_text())
for case in parse["cases"]:
    if case.get("repeat", 1) != 1:
        continue
    body = (root / case["body_file"]).read_bytes() if "body_file" in case else case["body"].encode()
    merchant = case.get("merchant", {})
    flags = API_INDEX[case["api"]]
    if merchant.get("sign_type", "MD5").upper() == "HMAC-SHA256":
        flags |= 0b100
    if merchant.get("signature_policy") == "require":
        flags |= 0b1000
    status = case.get("status", 200)
    head = bytes([flags]) if status == 200 else bytes([flags | 0b10_0000]) + status.to_bytes(2, "big")
    name = case["name"].replace("/", "-")
    write("parse_response", name, head + body)
    if body and "body_file" not in case:
        write("xml_reader", name, body)
build = json.loads((root / "conformance/cases/build.json").read_text())
for case in build["cases"]:
    body = case.get("expected", {}).get("ok", {}).get("body")
    if body:
        write("xml_reader", "request-" + case["name"], body)

# JSON API requests: method, target, content-type, content-length, authorization, host, body.
def request(method, target, body="", content_type="application/json", auth="Bearer t0ken-ops",
            host="127.0.0.1:8080", length=None):
    length = str(len(body.encode())) if length is None else length
    return "\n".join([method, target, content_type, length, auth, host, body])

OPENID = "onqOjjrXT-776SpHnfexGm1_P7iE"
requests = {
    "issue": request("POST", "/v1/coupons", json.dumps({"stock_id": "1757", "openid": OPENID})),
    "issue-trade-no": request("POST", "/v1/coupons", json.dumps(
        {"stock_id": 1757, "openid": OPENID, "partner_trade_no": "1000009820261128000001"})),
    "issue-duplicate-key": request("POST", "/v1/coupons",
                                   '{"stock_id":"1","openid":"a","openid":"b"}'),
    "issue-escapes": request("POST", "/v1/coupons",
                             '{"stock_id":"17\\u0035","openid":"o<![CDATA[]]>&amp;\\ud83d\\ude00"}',
                             content_type="application/problem+json; charset=utf-8", auth="bearer t0ken-ci"),
    "issue-form": request("POST", "/v1/coupons", "stock_id=1&openid=a",
                          content_type="application/x-www-form-urlencoded", auth=""),
    "stock": request("GET", "/v1/stocks/1757", content_type="", length="", host="localhost"),
    "coupon": request("GET", f"/v1/coupons/6954?openid={OPENID}&stock_id=1757", content_type="", length=""),
    "coupon-escaped": request("GET", "/v1/coupons/%E4%B8%AD?openid=a+b%2B&stock_id=1&openid=c",
                              content_type="", length="", host="[::1]:8080"),
    "health": request("GET", "/healthz", content_type="", length="", auth="", host="evil.example"),
    "wrong-method": request("DELETE", "/v1/coupons", length="0"),
}
for name, data in requests.items():
    write("api_request", name, data)

# Request targets at the egress proxy.
targets = [
    "/mmpaymkttransfers/send_coupon",
    "/mmpaymkttransfers/query_coupon_stock",
    "/mmpaymkttransfers/querycouponsinfo",
    "/sandboxnew/mmpaymkttransfers/send_coupon",
    "/sandboxnew/pay/getsignkey",
    "/mmpaymkttransfers/send_coupon?x=1",
    "https://api.mch.weixin.qq.com/sandboxnew/mmpaymkttransfers/querycouponsinfo?a=b",
    "/mmpaymkttransfers/send_coupon;jsessionid=1",
    "/mmpaymkttransfers/x/../send_coupon",
    "/mmpaymkttransfers/%73end_coupon",
    "/mmpaymkttransfers\\send_coupon",
    "//mmpaymkttransfers/send_coupon",
    "/prefix/mmpaymkttransfers/send_coupon",
    "/mmpaymkttransfers/send_coupon/",
]
for i, target in enumerate(targets):
    write("egress_path", f"path-{i:02}", target)

# Envoy plugin configurations.
base = {"appid": "wx5edab3bdfba3dc1c", "mch_id": "10000098", "sign_type": "MD5",
        "send_cluster": "wechat_pay_mtls", "query_cluster": "wechat_pay", "authority": "localhost",
        "timeout_ms": 10000}
token_hash = hashlib.sha256(b"t0ken").hexdigest()
configs = {
    "env-key": {**base, "api_key_env": "WXPAY_API_KEY"},
    "inline-key": {**base, "api_key": "192006250b4c09247ec02edce69f6a2d", "sandbox": True,
                   "require_signed_responses": True, "max_response_bytes": 1024},
    "hmac-callers": {**base, "api_key_env": "WXPAY_API_KEY", "sign_type": "hmac-sha256",
                     "caller_tokens": f"ops:{token_hash}, ci:{token_hash[::-1]}"},
    "short-secret": {**base, "api_key_env": "SHORT_KEY"},
    "space-secret": {**base, "api_key_env": "SPACE_KEY", "query_cluster": None},
    "broken": {"appid": "", "mch_id": 1, "api_key": "x", "api_key_env": "NOPE", "sandbox": "yes",
               "timeout_ms": 0, "max_response_bytes": 99999999, "caller_tokens": "a:b", "extra": 1},
}
for name, config in configs.items():
    write("settings", name, json.dumps(config))
write("settings", "empty", "")
write("settings", "not-an-object", "[1, 2]")
print("seeds written under", seeds)
