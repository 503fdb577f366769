"""The Python peer behind its own HTTP server, for the gateway load comparison (issue 16): what a
Python user without wxcoupon would write to expose a stock query over HTTP — wechatpy's own
``query_coupon_stock`` call (v2, https) against the simulator, served by the standard library's
ThreadingHTTPServer.

    python bench/peers/python_gateway.py --base-url https://127.0.0.1:N --ca ca.pem \\
        --appid wx5edab3bdfba3dc1c --mch-id 10000098 [--api-key KEY | env WXPAY_API_KEY]

``GET /v1/stocks/{stock_id}`` answers 200 JSON with ``coupon_stock_id``, ``coupon_stock_status``
and the other fields WeChat sent, or 502 JSON when wechatpy raises (a WeChat refusal, a transport
failure), 404 for any other path. Listens on 127.0.0.1, a port the OS chooses, and prints
``{"event":"ready","port":N}`` on stdout when it accepts connections; exits when stdin closes.

Kept honest for the comparison: HTTP/1.1 keep-alive toward the load client (``protocol_version``),
and toward the simulator wechatpy's own pooled ``requests.Session`` (one client shared by the
server's threads, as a user would keep one), trusting the simulator's CA through that session.
wechatpy comes from ~/.cache/wxcoupon/bench-venv (bench/peers/requirements.txt), never the project.
"""

import argparse
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wechatpy.exceptions import WeChatPayException
from wechatpy.pay import WeChatPay

STOCK_PATH = re.compile(r"^/v1/stocks/([^/?#]+)$")


def make_client(args: argparse.Namespace) -> WeChatPay:
    client = WeChatPay(appid=args.appid, api_key=args.api_key, mch_id=args.mch_id, timeout=10)
    client.API_BASE_URL = args.base_url.rstrip("/") + "/"  # wechatpy's endpoint root, per client
    # Trust the simulator's CA in the SDK's own session (its pool is kept). requests lets
    # REQUESTS_CA_BUNDLE from the environment override a session's `verify`, so it is set too.
    client._http.verify = args.ca
    os.environ["REQUESTS_CA_BUNDLE"] = args.ca
    return client


def make_handler(client: WeChatPay) -> type:
    class StockHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length

        def do_GET(self) -> None:
            match = STOCK_PATH.match(self.path)
            if match is None:
                return self.answer(404, {"error": "not-found"})
            try:
                stock = client.coupon.query_stock(match.group(1))
            except WeChatPayException as e:
                return self.answer(502, {"error": "wechatpy", "return_code": e.return_code,
                                         "result_code": e.result_code, "errcode": e.errcode, "errmsg": e.errmsg})
            except Exception as e:  # requests' transport errors and anything else the SDK raises
                return self.answer(502, {"error": "wechatpy", "message": type(e).__name__})
            if not isinstance(stock, dict):  # wechatpy hands back the text it could not parse
                return self.answer(502, {"error": "wechatpy", "message": "unparsable answer"})
            self.answer(200, dict(stock))

        def answer(self, status: int, value: dict) -> None:
            body = json.dumps(value, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request on stderr would time the logging, not the SDK

    return StockHandler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="the simulator's https_base_url")
    parser.add_argument("--ca", required=True, help="the simulator's CA (PEM)")
    parser.add_argument("--appid", required=True)
    parser.add_argument("--mch-id", required=True)
    parser.add_argument("--api-key", default=os.environ.get("WXPAY_API_KEY"), help="default: $WXPAY_API_KEY")
    args = parser.parse_args()
    if not args.api_key:
        parser.error("--api-key or WXPAY_API_KEY is required")

    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(make_client(args)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"event": "ready", "port": server.server_address[1]}, separators=(",", ":")), flush=True)
    sys.stdin.read()  # until stdin closes
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
