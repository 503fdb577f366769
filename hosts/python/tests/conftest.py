"""Test support: the repository root, the component, and a simulator started per test."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import subprocess
import tempfile
from typing import Any, Dict, Iterator, Optional

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
# $CARGO_TARGET_DIR, else scripts/env.sh's choice: ~/.cache/wxcoupon/target-<checkout id>.
TARGET = pathlib.Path(
    os.environ.get("CARGO_TARGET_DIR")
    or pathlib.Path.home() / ".cache/wxcoupon" / ("target-" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:12])
)
KEY = "192006250b4c09247ec02edce69f6a2d"


def _component_path() -> str:
    if os.environ.get("WXCOUPON_WASM"):
        return os.environ["WXCOUPON_WASM"]
    cli = os.environ.get("WXCOUPON_CLI") or str(TARGET / "debug" / "wxcoupon")
    out = subprocess.run([cli, "info"], check=True, capture_output=True).stdout
    return json.loads(out)["path"]


# Every test uses the component this checkout built (or WXCOUPON_WASM).
os.environ["WXCOUPON_WASM"] = _component_path()


def simulator_path() -> str:
    return os.environ.get("WXCOUPON_SIMULATOR") or str(TARGET / "debug" / "wxcoupon-simulator")


@contextlib.contextmanager
def simulator(faults: Optional[Dict[str, Any]] = None) -> Iterator[Dict[str, Any]]:
    """A wxcoupon-simulator on loopback (HTTPS and plain HTTP); stopped by closing its stdin."""
    with tempfile.TemporaryDirectory(prefix="wxcoupon-py-sim-") as cert_dir:
        args = [simulator_path(), "--exit-on-stdin-eof", "--plain-http", "--cert-dir", cert_dir]
        if faults:
            config = pathlib.Path(cert_dir) / "sim.toml"
            config.write_text("[faults]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in faults.items()))
            args += ["--config", str(config)]
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, RUST_LOG="warn"),
        )
        try:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("the simulator exited before it was ready: " + proc.stderr.read().decode(errors="replace"))
            ready = json.loads(line)
            assert ready["event"] == "ready", ready
            yield ready
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()


@pytest.fixture(params=["native", "in-component"])
def rsa_path(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both places a v3 call's RSA runs (wxcoupon.v3.NATIVE_RSA): in Python with `cryptography`,
    and inside the component. Without `cryptography` the native case is skipped (a failure in
    CI, which installs it from requirements.txt)."""
    from wxcoupon import _rsa, v3

    if request.param == "native" and not _rsa.AVAILABLE:
        if os.environ.get("CI") == "true":
            pytest.fail("cryptography is not importable: requirements.txt installs it")
        pytest.skip("cryptography is not importable")
    monkeypatch.setattr(v3, "NATIVE_RSA", request.param == "native")
    return request.param


@pytest.fixture
def sim() -> Iterator[Dict[str, Any]]:
    with simulator() as ready:
        yield ready
