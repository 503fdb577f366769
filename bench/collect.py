"""Runs every part of the performance comparison, one after another, and appends each measure to
one JSON-lines file for bench/table.py. bench/run installs and builds what this needs first.

    python3 bench/collect.py OUT.jsonl [--quick] [rust python node go gateway]

Parts (default: all):
- rust: criterion (release), the protocol natively and through the component from the Rust
  host, v2 and v3, and end to end with a pooled or a new TLS connection (tests/benches/);
- python: bench/python_cycles.py in the peers' scratch venv (wxcoupon vs wechatpy, wechatpayv3);
- node: bench/node_cycles.mjs (wxcoupon vs tenpay, wechatpay-axios-plugin);
- go: hosts/go's benchmarks (go test -bench), v2 and v3, and Go's crypto/rsa alone;
- gateway: bench/gateway_load.py (wrk against wxcoupon serve and the peers' servers).

Environment (bench/run sets it): CARGO_TARGET_DIR, WXCOUPON_WASM, WXCOUPON_CLI,
WXCOUPON_SIMULATOR, WXCOUPON_BENCH_PYTHON, WXCOUPON_BENCH_NODE_MODULES, WXCOUPON_CAPI_INCLUDE,
WXCOUPON_CAPI_LIB.
"""

import glob
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# criterion (group, function) → measure: tests/benches/calls.rs and v3.rs.
CRITERION = {
    ("native", "sign send_coupon (MD5)"): "rust.v2.sign.native",
    ("component", "sign send_coupon (MD5)"): "rust.v2.sign.component",
    ("native", "build_request send_coupon"): "rust.v2.build.native",
    ("component", "build_request send_coupon"): "rust.v2.build.component",
    ("native", "parse_response query_coupon_stock"): "rust.v2.parse.native",
    ("component", "parse_response query_coupon_stock"): "rust.v2.parse.component",
    ("native", "send_coupon cycle (build + parse the signed answer)"): "rust.v2.cycle.native",
    ("component", "send_coupon cycle (build + parse the signed answer)"): "rust.v2.cycle.component",
    ("component", "instantiate"): "rust.instantiate",
    ("end_to_end", "query_coupon_stock, fresh instance, pooled mTLS"): "rust.e2e.pooled",
    ("end_to_end", "query_coupon_stock, fresh instance, new mTLS connection per call"): "rust.e2e.new-connection",
    ("v3", "native: the signature alone (ring)"): "rust.v3.rsa-sign.native",
    ("v3", "native: cycle in the core (sign + build + verify + parse)"): "rust.v3.cycle.native",
    ("v3", "component, signed natively by the host: cycle"): "rust.v3.cycle.component",
    ("v3", "component, signed inside the component: cycle"): "rust.v3.cycle.in-component",
    ("v3", "component: build + authorize (the host's signature handed in)"): "rust.v3.build.component",
}

GO = {
    "BenchmarkSendCouponCycle": "go.v2.wxcoupon",
    "BenchmarkV3IssueCouponCycle": "go.v3.wxcoupon",
    "BenchmarkV3IssueCouponCycleInComponent": "go.v3.wxcoupon-in-component",
    "BenchmarkV3CryptoRSABaseline": "go.v3.crypto-rsa",
}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run_json_lines(argv, out, **kw):
    """Runs a part that prints JSON measure lines; appends them to `out`."""
    log("== " + " ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in argv))
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=True, **kw)
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            json.loads(line)
            out.write(line + "\n")
    out.flush()


def rust(out, quick):
    started = time.time()
    timing = ["--warm-up-time", "0.3", "--measurement-time", "0.5", "--sample-size", "10"] if quick else \
        ["--warm-up-time", "1", "--measurement-time", "3", "--sample-size", "20"]
    argv = ["cargo", "bench", "--locked", "--bench", "calls", "--bench", "v3", "--", *timing]
    log("== " + " ".join(argv))
    subprocess.run(argv, cwd=ROOT, check=True, stdout=sys.stderr)
    found = 0
    for bench in glob.glob(os.path.join(os.environ["CARGO_TARGET_DIR"], "criterion", "**", "new", "benchmark.json"),
                           recursive=True):
        estimates = os.path.join(os.path.dirname(bench), "estimates.json")
        if os.path.getmtime(estimates) < started:
            continue  # an older run's
        with open(bench) as f:
            b = json.load(f)
        key = CRITERION.get((b["group_id"], b["function_id"]))
        if key is None:
            continue
        with open(estimates) as f:
            median_ns = json.load(f)["median"]["point_estimate"]
        out.write(json.dumps({"measure": key, "value": median_ns / 1000, "unit": "us", "estimate": "median"}) + "\n")
        found += 1
    out.flush()
    if found != len(CRITERION):
        raise SystemExit(f"criterion: {found} of {len(CRITERION)} benchmarks found")


def python(out, quick):
    run_json_lines([os.environ["WXCOUPON_BENCH_PYTHON"], os.path.join(ROOT, "bench", "python_cycles.py"),
                    *(["--quick"] if quick else [])], out)


def node(out, quick):
    run_json_lines(["node", os.path.join(ROOT, "bench", "node_cycles.mjs"), *(["--quick"] if quick else [])], out,
                   env=dict(os.environ, NODE_PATH=os.environ["WXCOUPON_BENCH_NODE_MODULES"]))


def go(out, quick):
    env = dict(os.environ, CGO_CFLAGS="-I" + os.environ["WXCOUPON_CAPI_INCLUDE"],
               CGO_LDFLAGS="-L" + os.environ["WXCOUPON_CAPI_LIB"], GOPROXY="off", GOFLAGS="-mod=mod")
    argv = ["go", "test", "-run", "^$", "-bench", "SendCouponCycle|V3", "-benchtime",
            "200ms" if quick else "2s", "-count", "1"]
    log("== (hosts/go) " + " ".join(argv))
    text = subprocess.run(argv, cwd=os.path.join(ROOT, "hosts", "go"), env=env, check=True,
                          stdout=subprocess.PIPE, text=True).stdout
    sys.stderr.write(text)
    for name, ns in re.findall(r"^(Benchmark\w+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op", text, re.M):
        if name in GO:
            out.write(json.dumps({"measure": GO[name], "value": float(ns) / 1000, "unit": "us"}) + "\n")
    out.flush()


def gateway(out, quick):
    run_json_lines([sys.executable, os.path.join(ROOT, "bench", "gateway_load.py"), *(["--quick"] if quick else [])],
                   out)


PARTS = {"rust": rust, "python": python, "node": node, "go": go, "gateway": gateway}


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    args = [a for a in args if a != "--quick"]
    path, parts = args[0], args[1:] or list(PARTS)
    for p in parts:
        if p not in PARTS:
            raise SystemExit(f"unknown part {p!r} ({', '.join(PARTS)})")
    with open(path, "a") as out:
        for p in parts:
            PARTS[p](out, quick)


if __name__ == "__main__":
    main()
