"""One v2 `send_coupon` cycle in one Python process: build the signed request, then parse and
verify WeChat's signed answer. The wxcoupon Python host against wechatpy doing the same work
(`WeChatPay._request` and `_handle_result` without the HTTP). Best of 5 runs of N cycles each.

    python bench/python_cycle.py [N]      # needs wasmtime (hosts/python) and wechatpy importable

Prints one JSON line per implementation: {"impl", "us_per_cycle", "cycles"}. The component is
$WXCOUPON_WASM; $WXCOUPON_PYTHON_SRC replaces hosts/python/src (to time another checkout of the
host, e.g. the one before a change, in the same run as wechatpy).
"""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.environ.get("WXCOUPON_PYTHON_SRC") or os.path.join(ROOT, "hosts", "python", "src"))

KEY = "192006250b4c09247ec02edce69f6a2d"  # the fixtures' test key (tests/fixtures/README.md)
APPID, MCH_ID = "wx5edab3bdfba3dc1c", "10000098"
with open(os.path.join(ROOT, "tests", "fixtures", "responses", "send_coupon_success_signed.xml"), "rb") as f:
    ANSWER = f.read()


def best_of(cycle, n, runs=5):
    cycle()  # warm: instances, caches
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(n):
            cycle()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def wxcoupon_cycle():
    import wxcoupon

    merchant = wxcoupon.Merchant(appid=APPID, mch_id=MCH_ID, api_key=KEY)
    request = wxcoupon.SendCouponRequest(
        coupon_stock_id="1717", openid="onqOjjrXT-776SpHnfexGm1_P7iE", partner_trade_no="1000009820141203515766"
    )

    def cycle():
        wxcoupon.build_request(merchant, request, nonce="1417574675")
        sent = wxcoupon.parse_response(merchant, "send_coupon", 200, ANSWER)
        assert sent.coupon_id == "6954" and sent.signature == "verified-md5", sent

    return cycle


def wechatpy_cycle():
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
        answer = xmltodict.parse(ANSWER.decode("utf-8"))["xml"]
        assert answer["return_code"] == "SUCCESS" and answer.get("result_code") == "SUCCESS"
        assert _check_signature(answer, KEY)
        assert answer["coupon_id"] == "6954"

    return cycle


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for name, make in (("wxcoupon-python", wxcoupon_cycle), ("wechatpy", wechatpy_cycle)):
        try:
            cycle = make()
        except ImportError as e:
            print(json.dumps({"impl": name, "error": str(e)}))
            continue
        print(json.dumps({"impl": name, "us_per_cycle": round(best_of(cycle, n), 2), "cycles": n}))


if __name__ == "__main__":
    main()
