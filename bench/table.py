"""The performance table: every row, its ratio and its target, from the measures bench/collect.py
wrote (one JSON line each: {"measure", "value", "unit"}).

    python3 bench/table.py RESULTS.jsonl [--markdown]

A row compares two measures. "× faster" rows divide the other side's time by ours (above 1: we
are faster); "× slower" rows divide ours by the baseline's (the cost of going through the
component); "× calls/s" rows divide throughputs. A row whose measures are missing says so; a
target that does not hold is marked, never hidden. Exits 0 either way: the table is the report.
"""

import json
import sys

# Per section, rows of (label, ours, theirs, kind, target): theirs may be a list (the best of them is taken:
# the fastest peer). kind: "faster" = theirs/ours (time), "slower" = ours/theirs (time),
# "throughput" = ours/theirs (calls/s). target: the ratio's bound (≥ for faster/throughput,
# ≤ for slower), or None for a figure shown for reference.
V2_PEERS = ["python.v2.wechatpy", "node.v2.tenpay"]
V3_PEERS = ["python.v3.wechatpayv3", "node.v3.wechatpay-axios-plugin"]
SECTIONS = [
    ("native core vs the component (Rust host)", [
        ("v2 sign send_coupon (MD5)",
         "rust.v2.sign.component", "rust.v2.sign.native", "slower", 1.5),
        ("v2 build a signed send_coupon",
         "rust.v2.build.component", "rust.v2.build.native", "slower", 1.5),
        ("v2 parse the real stock answer",
         "rust.v2.parse.component", "rust.v2.parse.native", "slower", 1.5),
        ("v2 send_coupon cycle (build + parse signed answer)",
         "rust.v2.cycle.component", "rust.v2.cycle.native", "slower", 1.5),
        ("v3 issue cycle, RSA in the host (sign + build + verify + parse)",
         "rust.v3.cycle.component", "rust.v3.cycle.native", "slower", 1.5),
        ("v3 issue cycle, RSA inside the component",
         "rust.v3.cycle.in-component", "rust.v3.cycle.native", "slower", None),
        ("a fresh instance vs one v2 cycle",
         "rust.instantiate", "rust.v2.cycle.component", "slower", None),
    ]),
    ("same cycle, same process, vs the best peer", [
        ("Rust host v2 vs the fastest v2 peer",
         "rust.v2.cycle.component", V2_PEERS, "faster", 3.0),
        ("Node host v2 vs tenpay",
         "node.v2.wxcoupon", "node.v2.tenpay", "faster", 3.0),
        ("Python host v2 vs wechatpy",
         "python.v2.wxcoupon", "python.v2.wechatpy", "faster", 1.0),
        ("Go host v2 vs the Rust host",
         "go.v2.wxcoupon", "rust.v2.cycle.component", "faster", None),
        ("Rust host v3 vs the fastest v3 peer",
         "rust.v3.cycle.component", V3_PEERS, "faster", 3.0),
        ("Node host v3 vs wechatpay-axios-plugin",
         "node.v3.wxcoupon", "node.v3.wechatpay-axios-plugin", "faster", 3.0),
        ("Python host v3 vs wechatpayv3",
         "python.v3.wxcoupon", "python.v3.wechatpayv3", "faster", 1.0),
        ("Go host v3 vs Go's crypto/rsa alone",
         "go.v3.wxcoupon", "go.v3.crypto-rsa", "faster", 1.0),
    ]),
    ("gateway under load (wrk, GET /v1/stocks/1757 via the simulator)", [
        ("wxcoupon serve: instance per request vs long-lived",
         "gateway.serve.fresh.calls_per_s", "gateway.serve.reused.calls_per_s", "throughput", 0.8),
        ("wxcoupon serve vs wechatpy behind ThreadingHTTPServer",
         "gateway.serve.fresh.calls_per_s", "gateway.peer.wechatpy.calls_per_s", "throughput", 3.0),
        ("wxcoupon serve vs tenpay behind node:http",
         "gateway.serve.fresh.calls_per_s", "gateway.peer.tenpay.calls_per_s", "throughput", 3.0),
    ]),
    ("connections", [
        ("query_coupon_stock end to end: pooled vs a new mutual-TLS connection per call",
         "rust.e2e.new-connection", "rust.e2e.pooled", "slower-is-better", 5.0),
    ]),
]
ROWS = [(section, *row) for section, rows in SECTIONS for row in rows]


def load(path):
    measures = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                m = json.loads(line)
                measures[m["measure"]] = m
    return measures


def figure(m):
    v, unit = m["value"], m["unit"]
    if unit == "us":
        return f"{v:,.2f} µs" if v < 100 else f"{v:,.0f} µs"
    if unit == "calls/s":
        return f"{v:,.0f} calls/s"
    return f"{v:,.2f} {unit}"


def side(measures, key):
    """The measure for `key`; for a list, the best of those measured (lowest time)."""
    if isinstance(key, list):
        found = [measures[k] for k in key if k in measures]
        return min(found, key=lambda m: m["value"]) if found else None
    return measures.get(key)


def gateway_note(measures, key):
    base = key.rsplit(".", 1)[0]
    p50, p99, failed = (measures.get(f"{base}.{x}") for x in ("p50", "p99", "failed"))
    if not p50:
        return ""
    note = f" (p50 {p50['value']:.2f} ms, p99 {p99['value']:.2f} ms"
    if failed and failed["value"]:
        note += f", {failed['value']:.0f} FAILED"
    return note + ")"


def rows(measures):
    out = []
    for section, label, ours_key, theirs_key, kind, target in ROWS:
        ours, theirs = side(measures, ours_key), side(measures, theirs_key)
        if ours is None or theirs is None:
            out.append((section, label, "not measured", "", "", "", "—"))
            continue
        if kind == "faster":
            ratio, shown, holds = theirs["value"] / ours["value"], "× faster", None
            holds = None if target is None else ratio >= target
            target_text = "" if target is None else f"≥ {target:g}×"
        elif kind == "slower":
            ratio, shown = ours["value"] / theirs["value"], "× the time"
            holds = None if target is None else ratio <= target
            target_text = "" if target is None else f"≤ {target:g}×"
        elif kind == "slower-is-better":  # pooled vs new: how many times the new connection costs
            ratio, shown = ours["value"] / theirs["value"], "× faster pooled"
            holds = ratio >= target
            target_text = f"≥ {target:g}×"
        else:  # throughput
            ratio, shown = ours["value"] / theirs["value"], "× the calls/s"
            holds = ratio >= target
            target_text = f"≥ {target:g}×"
        ours_text = figure(ours) + (gateway_note(measures, ours_key) if ours["unit"] == "calls/s" else "")
        theirs_text = figure(theirs) + (gateway_note(measures, theirs["measure"]) if theirs["unit"] == "calls/s" else "")
        if isinstance(theirs_key, list):
            theirs_text += f" ({theirs['measure'].split('.')[-1]})"
        verdict = "—" if holds is None else ("holds" if holds else "MISSED")
        out.append((section, label, ours_text, theirs_text, f"{ratio:.2f}{shown}", target_text, verdict))
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    measures = load(args[0])
    table = rows(measures)
    header = ("measure", "ours", "baseline", "ratio", "target", "")
    section = None
    lines = []
    for r in table:
        if r[0] != section:
            section = r[0]
            lines.append(f"\n**{section}**\n")
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
        lines.append("| " + " | ".join(r[1:]) + " |")
    print("\n".join(lines).lstrip("\n"))
    missed = sum(1 for r in table if r[6] == "MISSED")
    unmeasured = sum(1 for r in table if r[2] == "not measured")
    print(f"\n{len(table)} rows: {missed} targets missed, {unmeasured} not measured.")


if __name__ == "__main__":
    main()
