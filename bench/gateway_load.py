"""Gateway mode under load: one simulator, then each server in turn answering
`GET /v1/stocks/1757` through it (v2 `query_coupon_stock`, HTTPS), loaded by `wrk` at the same
concurrency for the same time.

    python3 bench/gateway_load.py [--seconds S] [--connections C] [--quick]

Servers, each started and stopped here:
- `wxcoupon serve` with a fresh instance per request (the default) and with one long-lived
  instance per slot (`--instance-reuse 1000000`);
- each peer SDK behind a minimal server in its own language (bench/peers/): wechatpy (Python,
  ThreadingHTTPServer) and tenpay (Node, node:http).

Needs `wrk`, and in the environment WXCOUPON_CLI and WXCOUPON_SIMULATOR (release builds),
WXCOUPON_BENCH_PYTHON (a Python with wechatpy) and WXCOUPON_BENCH_NODE_MODULES (tenpay's
node_modules). Prints one JSON line per measure on stdout ({"measure", "value", "unit"}): calls/s,
p50 and p99 in ms, and the count of failed answers (non-2xx, socket errors), which must be 0.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = "/v1/stocks/1757"


def emit(measure, value, unit):
    print(json.dumps({"measure": measure, "value": value, "unit": unit}), flush=True)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Process:
    """A child that prints one JSON ready line on stdout and stops when its stdin closes (or on
    SIGTERM, for those that do not watch stdin)."""

    def __init__(self, argv, env=None, by_signal=False):
        self.by_signal = by_signal
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))
        line = self.proc.stdout.readline().decode()
        try:
            self.ready = json.loads(line)
        except ValueError:
            self.stop()
            raise RuntimeError(f"{argv[0]} did not start: {line!r}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=0 if self.by_signal else 5)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def check_answer(base):
    """One request before the load: the server answers the stock, through the simulator."""
    with urllib.request.urlopen(base + PATH, timeout=10) as r:
        answer = json.loads(r.read())
    text = json.dumps(answer)
    if "1757" not in text:
        raise RuntimeError(f"{base}{PATH} answered without the stock: {text[:300]}")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(base, seconds, connections):
    """wrk's figures: calls/s, p50 and p99 (ms), failed answers."""
    out = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency",
                          "--timeout", "10s", base + PATH], check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {p: float(v) * UNITS[u] for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    failed = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        failed += sum(int(n) for n in errors.groups())
    return rate, pct["50"], pct["99"], failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--quick", action="store_true", help="2 s per server, for a smoke check")
    args = ap.parse_args()
    seconds = 2 if args.quick else args.seconds

    cli, simulator = os.environ["WXCOUPON_CLI"], os.environ["WXCOUPON_SIMULATOR"]
    python = os.environ.get("WXCOUPON_BENCH_PYTHON")
    node_modules = os.environ.get("WXCOUPON_BENCH_NODE_MODULES")
    quiet = {"RUST_LOG": "warn"}  # no access log: a line per request would be measured too

    with tempfile.TemporaryDirectory(prefix="wxcoupon-bench-") as cert_dir, \
            Process([simulator, "--exit-on-stdin-eof", "--cert-dir", cert_dir], quiet) as sim:
        s = sim.ready
        api_key = "192006250b4c09247ec02edce69f6a2d"  # the simulator's default test key
        peer_args = ["--base-url", s["https_base_url"], "--ca", s["ca"], "--appid", s["appid"],
                     "--mch-id", s["mch_id"]]
        servers = []
        serve_env = dict(quiet, WXPAY_APPID=s["appid"], WXPAY_MCH_ID=s["mch_id"], WXPAY_API_KEY=api_key,
                         WXPAY_BASE_URL=s["https_base_url"], WXPAY_CA_FILE=s["ca"],
                         WXPAY_CERT_FILE=s["client_cert"], WXPAY_KEY_FILE=s["client_key"])
        for name, reuse in (("serve.fresh", "1"), ("serve.reused", "1000000")):
            servers.append((f"gateway.{name}", [cli, "serve", "--listen", "127.0.0.1:0", "--instance-reuse", reuse],
                            serve_env, lambda r: r["url"], True))
        if python:
            servers.append(("gateway.peer.wechatpy", [python, os.path.join(ROOT, "bench", "peers", "python_gateway.py"),
                                                      *peer_args], dict(WXPAY_API_KEY=api_key),
                            lambda r: f"http://127.0.0.1:{r['port']}", False))
        if node_modules:
            servers.append(("gateway.peer.tenpay", ["node", os.path.join(ROOT, "bench", "peers", "node_gateway.mjs"),
                                                    *peer_args], dict(WXPAY_API_KEY=api_key, NODE_PATH=node_modules),
                            lambda r: f"http://127.0.0.1:{r['port']}", False))
        for measure, argv, env, base_of, by_signal in servers:
            with Process(argv, env, by_signal) as server:
                base = base_of(server.ready)
                check_answer(base)
                wrk(base, 1, args.connections)  # warm: connections to the simulator, caches
                rate, p50, p99, failed = wrk(base, seconds, args.connections)
                log(f"{measure}: {rate:.0f} calls/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, {failed} failed")
                emit(f"{measure}.calls_per_s", rate, "calls/s")
                emit(f"{measure}.p50", p50, "ms")
                emit(f"{measure}.p99", p99, "ms")
                emit(f"{measure}.failed", failed, "answers")
            time.sleep(0.5)
    emit("gateway.connections", args.connections, "connections")
    emit("gateway.seconds", seconds, "s")


if __name__ == "__main__":
    main()
