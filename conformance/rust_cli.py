#!/usr/bin/env python3
"""Runs the conformance cases through the Rust reference CLI (`wxcoupon`) and compares its output
with the committed `expected` values, or (with --write) fills them in.

The CLI is the source of truth the Node and Python hosts are held to: the expected outputs were
generated with `--write` once, reviewed against the spec, and committed. Without --write this is the
Rust side's own conformance check; it needs only Python 3.8+ (standard library) and the two
binaries:

    python3 conformance/rust_cli.py                      # check; exit 1 on any difference
    python3 conformance/rust_cli.py --write              # regenerate every `expected`
    python3 conformance/rust_cli.py --only parse,build   # some groups only

Binaries: --wxcoupon / --simulator, else $CARGO_TARGET_DIR/debug/{wxcoupon,wxcoupon-simulator}
(CARGO_TARGET_DIR defaulting as in scripts/env.sh: ~/.cache/wxcoupon/target-<checkout id>). The live group starts its own simulator on
loopback and stops it by closing its stdin.
"""

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASES = os.path.join(HERE, "cases")
GROUPS = ["sign", "build", "parse", "live", "v3", "v3-live"]


# --- the shared rules (every host implements these same few lines) -------------------------------

def merged_merchant(doc, case):
    """The file's merchant with the case's overrides (shallow)."""
    merchant = dict(doc.get("merchant") or {})
    merchant.update(case.get("merchant") or {})
    return merchant


def parse_body(case):
    """The bytes of a parse case's body."""
    if "body_file" in case:
        with open(os.path.join(ROOT, case["body_file"]), "rb") as f:
            body = f.read()
    else:
        body = case["body"].encode("utf-8")
    return body * case.get("repeat", 1)


def mask_volatile(value, paths):
    """Replaces each dotted path of an ok result by "<volatile>" (where present)."""
    if not isinstance(value, dict) or not isinstance(value.get("ok"), dict):
        return value
    out = json.loads(json.dumps(value))
    for path in paths:
        node = out["ok"]
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and parts[-1] in node:
            node[parts[-1]] = "<volatile>"
    return out


REF = re.compile(r"\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}")


def resolve_refs(request, results):
    """`${step.field}` → the field of that step's ok result."""

    def one(text):
        def sub(m):
            ok = results[m.group(1)]["ok"]
            return str(ok[m.group(2)])

        return REF.sub(sub, text)

    return {k: one(v) if isinstance(v, str) else v for k, v in request.items()}


# --- the CLI ------------------------------------------------------------------------------------

class Cli:
    def __init__(self, binary):
        self.binary = binary
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WXPAY_")}
        self.env["RUST_LOG"] = "off"

    def run(self, args, stdin=b"", api_key=None):
        env = dict(self.env)
        if api_key is not None:
            env["WXPAY_API_KEY"] = api_key
        proc = subprocess.run([self.binary] + args, input=stdin, capture_output=True, env=env)
        if proc.returncode not in (0, 1, 2):
            raise RuntimeError(
                "wxcoupon %s failed (exit %d): %s"
                % (" ".join(args[:1]), proc.returncode, proc.stderr.decode(errors="replace"))
            )
        out = json.loads(proc.stdout.decode("utf-8"))
        if proc.returncode == 0:
            return {"ok": out}
        if set(out) != {"error"}:
            raise RuntimeError("unexpected failure output: %r" % out)
        return out


SIGN_TYPES = {"MD5": "md5", "HMAC-SHA256": "hmac-sha256"}


def merchant_args(m):
    args = ["--appid", m["appid"], "--mch-id", m["mch_id"]]
    args += ["--sign-type", SIGN_TYPES[m["sign_type"]]]
    host = m["host"]
    if host == "backup":
        args.append("--backup-host")
    elif isinstance(host, dict):
        args += ["--base-url", host["custom"]]
    elif host != "production":
        raise ValueError("host %r" % (host,))
    if m["sandbox"]:
        args.append("--sandbox")
    if m["signature_policy"] == "require":
        args.append("--require-signed-responses")
    return args


CLI_API = {"send_coupon": "send", "query_coupon_stock": "stock", "querycouponsinfo": "coupon"}


def run_sign(cli, doc, case):
    fields = json.dumps(case["fields"]).encode()
    out = cli.run(["sign", "--api-key", case["key"], "--sign-type", SIGN_TYPES[case["sign_type"]]], stdin=fields)
    if "ok" in out:
        out = {"ok": out["ok"]["sign"]}
    return out


def run_build(cli, doc, case):
    m = merged_merchant(doc, case)
    args = ["build", "--json", "--nonce", case["nonce"]] + merchant_args(m)
    return cli.run(args, stdin=json.dumps(case["request"]).encode(), api_key=m["api_key"])


def run_parse(cli, doc, case):
    m = merged_merchant(doc, case)
    args = ["parse", CLI_API[case["api"]], "--status", str(case.get("status", 200))]
    args += merchant_args(m)
    return cli.run(args, stdin=parse_body(case), api_key=m["api_key"])


def run_live(cli, simulator, doc):
    """Runs the scenario against a fresh simulator; returns {step name: masked result}."""
    with running_simulator(simulator) as ready:
        m = dict(doc["merchant"], host={"custom": ready["https_base_url"]})
        results = {}
        for step in doc["steps"]:
            request = resolve_refs(step["request"], results)
            args = [CLI_API[step["call"]], "--json"] + merchant_args(m)
            args += ["--ca-file", ready["ca"]]
            if step.get("certificate"):
                args += ["--cert-file", ready["client_cert"], "--key-file", ready["client_key"]]
            if step["call"] == "send_coupon":
                args += ["--stock-id", request["coupon_stock_id"], "--openid", request["openid"],
                         "--partner-trade-no", request["partner_trade_no"]]
            elif step["call"] == "query_coupon_stock":
                args += ["--stock-id", request["coupon_stock_id"]]
            else:
                args += ["--coupon-id", request["coupon_id"], "--openid", request["openid"],
                         "--stock-id", request["stock_id"]]
            out = cli.run(args, api_key=m["api_key"])
            if "ok" in out:
                # `send`/`stock`/`coupon --json` print the record; the canonical form tags it.
                out = {"ok": dict({"api": step["call"]}, **out["ok"])}
            results[step["name"]] = out
        return {name: mask_volatile(r, doc.get("volatile", [])) for name, r in results.items()}


@contextlib.contextmanager
def running_simulator(simulator):
    """A fresh simulator on loopback (its ready line), stopped by closing its stdin."""
    with tempfile.TemporaryDirectory(prefix="wxcoupon-conformance-") as cert_dir:
        proc = subprocess.Popen([simulator, "--exit-on-stdin-eof", "--cert-dir", cert_dir],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, RUST_LOG="warn"))
        try:
            ready = json.loads(proc.stdout.readline().decode())
            assert ready.get("event") == "ready", ready
            yield ready
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- API v3: calls by name in the canonical form of WIT values (README: "v3 cases") -----------

def v3_args(args, merchant, prev):
    """A call's arguments: "$merchant" → the merchant settings, "$prev" → the ok value of the
    case's previous call."""
    return [merchant if a == "$merchant" else prev if a == "$prev" else a for a in args]


V3_REF = re.compile(r"\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}")


def v3_resolve(value, refs):
    """`${sim.mchid}`, `${STEP.FIELD}` in every string of a live request, however deep."""
    if isinstance(value, str):
        return V3_REF.sub(lambda m: str(refs[m.group(1)][m.group(2)]), value)
    if isinstance(value, list):
        return [v3_resolve(v, refs) for v in value]
    if isinstance(value, dict):
        return {k: v3_resolve(v, refs) for k, v in value.items()}
    return value


def v3_mask(value, paths):
    """Each dotted path of an ok value replaced by "<volatile>" where present; a path through a
    list applies to every item."""
    out = json.loads(json.dumps(value))

    def walk(node, parts):
        if isinstance(node, list):
            for item in node:
                walk(item, parts)
        elif isinstance(node, dict) and parts[0] in node:
            if len(parts) == 1:
                node[parts[0]] = "<volatile>"
            else:
                walk(node[parts[0]], parts[1:])

    if isinstance(out, dict) and "ok" in out:
        for path in paths:
            walk(out["ok"], path.split("."))
    return out


def v3_times(now=None):
    """`${time.begin}` (now − 60 s) and `${time.end}` (now + 30 days), RFC 3339 in Beijing time."""
    import time

    now = int(time.time()) if now is None else now
    beijing = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(t + 8 * 3600))
    return {"begin": beijing(now - 60), "end": beijing(now + 30 * 86400)}


def v3_live_merchant(doc, ready):
    """The simulator's v3 merchant, from its ready line."""
    read = lambda key: open(ready[key], encoding="utf-8").read()
    return {
        "mchid": ready["mch_id"],
        "merchant_serial_no": ready["v3_merchant_serial_no"],
        "apiv3_key": doc["merchant"]["apiv3_key"],
        "private_key_pem": read("v3_merchant_key"),
        "wechatpay_public_key_id": ready["v3_public_key_id"],
        "wechatpay_public_key_pem": read("v3_wechatpay_public_key"),
        "platform_certificates": [],
        "base_url": ready["https_base_url"],
    }


class Caller:
    """`wxcoupon call`: one process, one instance, a call per line."""

    def __init__(self, cli, args=()):
        self.proc = subprocess.Popen([cli.binary, "call"] + list(args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=cli.env)

    def call(self, function, args):
        self.proc.stdin.write((json.dumps({"function": function, "args": args}) + "\n").encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("wxcoupon call ended at %s (exit %s)" % (function, self.proc.wait()))
        return json.loads(line.decode("utf-8"))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


V3_REASONS = {"signature": "signature", "unknown_serial": "unknown-serial",
              "stale_timestamp": "stale-timestamp", "missing_header": "missing-header"}


def v3_vector_problems(case, answers):
    """What in a case's answers disagrees with the independent vectors
    (tests/fixtures/v3/vectors.json, computed without any of our code): the request signatures,
    the answer verdicts, the decrypted callbacks. An empty list when nothing does."""
    with open(os.path.join(ROOT, "tests/fixtures/v3/vectors.json"), encoding="utf-8") as f:
        vectors = json.load(f)
    name, problems = case["name"], []
    for v in vectors["request_signatures"]:
        if name == "sign-%s-vector" % v["name"].replace("_", "-").replace("send-coupon", "issue-coupon"):
            to_sign, signed = answers[0].get("ok") or {}, answers[1].get("ok") or {}
            auth = dict(signed.get("headers") or []).get("authorization", "")
            if to_sign.get("message") != v["signature_message"]:
                problems.append("the signed message differs from the vector's")
            if 'signature="%s"' % v["signature"] not in auth:
                problems.append("the signature differs from the vector's")
    for v in vectors["response_signatures"] + vectors["response_negative"]:
        if name == "parse-signed-" + v["name"]:
            error = answers[0].get("error")
            refusal = error.get("answer-not-verified") if isinstance(error, dict) else None
            if v["expected"]["valid"] and refusal is not None:
                problems.append("a valid answer was refused: %s" % refusal)
            if not v["expected"]["valid"]:
                reason = refusal if isinstance(refusal, str) else next(iter(refusal or {}), None)
                if reason != V3_REASONS[v["expected"]["reason"]]:
                    problems.append("verdict %s, the vector says %s" % (refusal, v["expected"]["reason"]))
    for v in vectors["notifications"]:
        if name == "decrypt-" + v["name"]:
            got = answers[0].get("ok")
            want = v["expected"]["plaintext"] if v["expected"]["decrypt_ok"] else None
            if got != want:
                problems.append("decrypted %r, the vector says %r" % (got, want))
    return problems


def run_v3(cli, doc):
    caller = Caller(cli)
    try:
        items = []
        for case in doc["cases"]:
            merchant = merged_merchant(doc, case)
            answers, prev = [], None
            for call in case["calls"]:
                answer = caller.call(call["function"], v3_args(call["args"], merchant, prev))
                prev = answer.get("ok")
                answers.append(answer)
            items.append((case, answers))
        return items
    finally:
        caller.close()


def run_v3_live(cli, simulator, doc):
    """The steps against a fresh simulator, through the component's own wasi:http client."""
    with running_simulator(simulator) as ready:
        merchant = v3_live_merchant(doc, ready)
        caller = Caller(cli, ["--allow-url", ready["https_base_url"], "--ca-file", ready["ca"]])
        refs = {"sim": {"mchid": ready["mch_id"], "appid": ready["appid"]}, "time": v3_times()}
        items = []
        try:
            for step in doc["steps"]:
                request = v3_resolve(step["request"], refs)
                answer = caller.call("v3-client." + step["call"], [merchant, request, {}])
                refs[step["name"]] = answer.get("ok") or {}
                items.append((step, v3_mask(answer, doc.get("volatile", []))))
        finally:
            caller.close()
        return items


# --- driver -------------------------------------------------------------------------------------

def default_target_dir():
    """$CARGO_TARGET_DIR, else scripts/env.sh's choice: ~/.cache/wxcoupon/target-<checkout id>."""
    if os.environ.get("CARGO_TARGET_DIR"):
        return os.environ["CARGO_TARGET_DIR"]
    import hashlib

    checkout = hashlib.sha256(ROOT.encode()).hexdigest()[:12]
    return os.path.expanduser("~/.cache/wxcoupon/target-" + checkout)


def canonical(value):
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="fill in `expected` from the CLI")
    ap.add_argument("--only", default=",".join(GROUPS), help="comma-separated groups")
    target = default_target_dir()
    ap.add_argument("--wxcoupon", default=os.path.join(target, "debug", "wxcoupon"))
    ap.add_argument("--simulator", default=os.path.join(target, "debug", "wxcoupon-simulator"))
    opts = ap.parse_args()
    cli = Cli(opts.wxcoupon)

    passed = failed = 0
    for group in opts.only.split(","):
        path = os.path.join(CASES, group + ".json")
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if group == "live":
            actual = run_live(cli, opts.simulator, doc)
            items = [(s, actual[s["name"]]) for s in doc["steps"]]
        elif group == "v3":
            items = run_v3(cli, doc)
        elif group == "v3-live":
            items = run_v3_live(cli, opts.simulator, doc)
        else:
            runner = {"sign": run_sign, "build": run_build, "parse": run_parse}[group]
            items = [(c, runner(cli, doc, c)) for c in doc["cases"]]
        for case, got in items:
            name = "%s/%s" % (group, case["name"])
            if group == "sign" and "vector_sign" in case and got != {"ok": case["vector_sign"]}:
                print("FAIL %s: the CLI disagrees with the signature vector: %s" % (name, got))
                failed += 1
                continue
            problems = v3_vector_problems(case, got) if group == "v3" else []
            if problems:
                print("FAIL %s: %s" % (name, "; ".join(problems)))
                failed += 1
            elif opts.write and "failure" in json.dumps(got):
                print("FAIL %s: a call could not be made: %s" % (name, json.dumps(got, ensure_ascii=False)))
                failed += 1
            elif opts.write:
                case["expected"] = got
                passed += 1
            elif canonical(got) == canonical(case.get("expected")):
                passed += 1
            else:
                failed += 1
                print("FAIL %s\n--- expected\n%s\n--- got\n%s" % (
                    name, canonical(case.get("expected")), canonical(got)))
        if opts.write:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(doc, f, ensure_ascii=False, indent=1)
                f.write("\n")
            print("wrote %s" % os.path.relpath(path, ROOT))
    print("conformance (Rust CLI): %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
