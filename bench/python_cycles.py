"""The Python side of issue 16's per-language cycles, in one process: the wxcoupon Python host
against the best Python peer doing the same work without HTTP. Best of 5 runs after a warm-up.

- ``python.v2.wxcoupon`` / ``python.v2.wechatpy``: one v2 ``send_coupon`` cycle — build the signed
  request, then parse and verify WeChat's signed answer (wechatpy: ``WeChatPay._request`` and
  ``_handle_result`` without the HTTP, plus its ``_check_signature``).
- ``python.v3.wxcoupon``: one v3 issue-coupon cycle through ``wxcoupon.v3`` — build + sign (natively
  with ``cryptography`` when importable) + authorize, then check-answer + verify + read the signed
  issue-coupon answer of tests/fixtures/v3/vectors.json (``now`` = its timestamp: not stale).
  ``python.v3.wxcoupon-in-component``: the same with RSA inside the component (``v3.NATIVE_RSA``
  off), the figure before native RSA.
- ``python.v3.wechatpayv3``: wechatpayv3 doing the same work — its ``build_authorization`` for the
  request (and the JSON body ``requests`` would send), its ``_verify_signature`` of the same answer
  plus ``json.loads`` — with the same keys.

    ~/.cache/wxcoupon/bench-venv/bin/python bench/python_cycles.py [N] [--quick]

N cycles per run for every measure (default: per measure, about a second a run); ``--quick`` a few
cycles, a smoke check. Prints one JSON line per measure on stdout: {"measure", "value" (µs per
cycle), "unit": "us", "n", "runs": 5}; diagnostics (a peer that is not installed) go to stderr.
The component is $WXCOUPON_WASM; $WXCOUPON_PYTHON_SRC replaces hosts/python/src (to time another
checkout of the host, e.g. the one before a change, in the same run as the peers). Peers:
bench/peers/requirements.txt, in ~/.cache/wxcoupon/bench-venv.
"""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.environ.get("WXCOUPON_PYTHON_SRC") or os.path.join(ROOT, "hosts", "python", "src"))

RUNS = 5
KEY = "192006250b4c09247ec02edce69f6a2d"  # the v2 fixtures' test key (tests/fixtures/README.md)
APPID, MCH_ID = "wx5edab3bdfba3dc1c", "10000098"
with open(os.path.join(ROOT, "tests", "fixtures", "responses", "send_coupon_success_signed.xml"), "rb") as f:
    V2_ANSWER = f.read()

V3_DIR = os.path.join(ROOT, "tests", "fixtures", "v3")
with open(os.path.join(V3_DIR, "vectors.json"), encoding="utf-8") as f:
    VECTORS = json.load(f)
V3_KEYS = VECTORS["keys"]
# The issue-coupon request the vectors sign and the answer WeChat's side signed for it.
V3_REQUEST = next(r for r in VECTORS["request_signatures"] if r["name"] == "send_coupon")
V3_ANSWER = next(r for r in VECTORS["response_signatures"] if r["name"] == "send_coupon-200")
V3_BODY = json.loads(V3_REQUEST["body"])
V3_OPENID = V3_REQUEST["canonical_url"].split("/")[-2]
V3_COUPON_ID = json.loads(V3_ANSWER["body"])["coupon_id"]


def read(name):
    with open(os.path.join(V3_DIR, name), encoding="utf-8") as f:
        return f.read()


def best_of(cycle, n):
    for _ in range(max(1, n // 10)):  # warm: instances, caches, parsed keys
        cycle()
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(n):
            cycle()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def v2_wxcoupon():
    import wxcoupon

    merchant = wxcoupon.Merchant(appid=APPID, mch_id=MCH_ID, api_key=KEY)
    request = wxcoupon.SendCouponRequest(
        coupon_stock_id="1717", openid="onqOjjrXT-776SpHnfexGm1_P7iE", partner_trade_no="1000009820141203515766"
    )

    def cycle():
        wxcoupon.build_request(merchant, request, nonce="1417574675")
        sent = wxcoupon.parse_response(merchant, "send_coupon", 200, V2_ANSWER)
        assert sent.coupon_id == "6954" and sent.signature == "verified-md5", sent

    return cycle


def v2_wechatpy():
    import xmltodict
    from optionaldict import optionaldict
    from wechatpy.pay.utils import _check_signature, calculate_signature, dict_to_xml

    def cycle():
        data = optionaldict(
            {
                "appid": APPID,
                "coupon_stock_id": "1717",
                "openid": "onqOjjrXT-776SpHnfexGm1_P7iE",
                "openid_count": 1,
                "partner_trade_no": "1000009820141203515766",
                "op_user_id": None,
                "device_info": None,
                "version": "1.0",
                "type": "XML",
                "mch_id": MCH_ID,
                "nonce_str": "1417574675",
            }
        )
        dict_to_xml(data, calculate_signature(data, KEY)).encode("utf-8")
        answer = xmltodict.parse(V2_ANSWER.decode("utf-8"))["xml"]
        assert answer["return_code"] == "SUCCESS" and answer.get("result_code") == "SUCCESS"
        assert _check_signature(answer, KEY)
        assert answer["coupon_id"] == "6954"

    return cycle


def v3_wxcoupon(native):
    from wxcoupon import v3

    if native and not v3.NATIVE_RSA:
        raise ImportError("cryptography is not importable: the host signs in the component")
    merchant = v3.Merchant(
        mchid=V3_KEYS["merchant"]["mchid"], merchant_serial_no=V3_KEYS["merchant"]["certificate_serial_no"],
        apiv3_key=V3_KEYS["apiv3_key"], private_key_pem=read("merchant_key.pem"),
        wechatpay_public_key_id=V3_KEYS["platform"]["public_key_id"],
        wechatpay_public_key_pem=read("platform_pub.pem"))
    request = dict(V3_BODY, openid=V3_OPENID)
    timestamp, nonce = int(V3_REQUEST["timestamp"]), V3_REQUEST["nonce_str"]
    headers, now = list(V3_ANSWER["headers"].items()), V3_ANSWER["now"]

    def cycle():
        v3.NATIVE_RSA = native  # each call reads it: set here, the two measures cannot mix
        signed = v3.signed_request("issue-coupon", merchant, request, timestamp, nonce)
        issued = v3.read_answer("issue-coupon", merchant, V3_ANSWER["status"], headers, V3_ANSWER["body"], now)
        assert issued.coupon_id == V3_COUPON_ID, issued
        return signed

    # Once, untimed: the request is the vectors' own, signature and all.
    signed = cycle()
    authorization = dict(signed.headers)["authorization"]
    assert signed.body == V3_REQUEST["body"], signed.body
    assert f'signature="{V3_REQUEST["signature"]}"' in authorization, authorization
    return cycle


def v3_wechatpayv3():
    from requests.structures import CaseInsensitiveDict
    from wechatpayv3 import WeChatPay, WeChatPayType
    from wechatpayv3.utils import build_authorization

    pay = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG, mchid=V3_KEYS["merchant"]["mchid"],
        private_key=read("merchant_key.pem"), cert_serial_no=V3_KEYS["merchant"]["certificate_serial_no"],
        appid=V3_BODY["appid"], apiv3_key=V3_KEYS["apiv3_key"], public_key=read("platform_pub.pem"),
        public_key_id=V3_KEYS["platform"]["public_key_id"])
    core = pay._core
    path = "/v3/marketing/favor/users/%s/coupons" % V3_OPENID
    answer_headers = CaseInsensitiveDict(V3_ANSWER["headers"])  # what requests hands wechatpayv3

    def cycle():
        # marketing_favor_stock_send's params, then Core.request up to the HTTP call.
        params = {"stock_id": V3_BODY["stock_id"], "out_request_no": V3_BODY["out_request_no"],
                  "stock_creator_mchid": V3_BODY["stock_creator_mchid"], "appid": V3_BODY["appid"]}
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": "wechatpay python sdk", "Wechatpay-Serial": core._public_key_id}
        headers["Authorization"] = build_authorization(path, "POST", core._mchid, core._cert_serial_no,
                                                       core._private_key, data=params)
        json.dumps(params).encode("utf-8")  # requests' json= body
        assert core._verify_signature(answer_headers, V3_ANSWER["body"])
        assert json.loads(V3_ANSWER["body"])["coupon_id"] == V3_COUPON_ID

    return cycle


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    counts = [a for a in args if a != "--quick"]
    fixed = int(counts[0]) if counts else None
    # (key, factory, default cycles per run: about half a second each on the 2-core machine)
    measures = (
        ("python.v2.wxcoupon", v2_wxcoupon, 5000),
        ("python.v2.wechatpy", v2_wechatpy, 5000),
        ("python.v3.wxcoupon", lambda: v3_wxcoupon(native=True), 1000),
        ("python.v3.wxcoupon-in-component", lambda: v3_wxcoupon(native=False), 50),
        ("python.v3.wechatpayv3", v3_wechatpayv3, 1000),
    )
    for key, make, default in measures:
        n = 3 if quick else fixed or default
        try:
            cycle = make()
        except ImportError as e:
            print(f"{key}: skipped ({e})", file=sys.stderr)
            continue
        value = best_of(cycle, n)
        print(json.dumps({"measure": key, "value": round(value, 2), "unit": "us", "n": n, "runs": RUNS}), flush=True)


if __name__ == "__main__":
    main()
