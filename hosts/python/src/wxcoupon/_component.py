"""The component on wasmtime: compiled once per process, one instance per thread.

The file: the ``component`` argument of :func:`load`, else ``$WXCOUPON_WASM``, else a
``wxcoupon.wasm`` shipped inside this package.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Optional

from wasmtime import Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Variant

from .errors import from_wit_error

PROTOCOL = "wxpay:coupon/protocol@0.1.0"
CLIENT = "wxpay:coupon/client@0.1.0"


def _default_path() -> str:
    env = os.environ.get("WXCOUPON_WASM")
    if env:
        return env
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wxcoupon.wasm")
    if os.path.exists(bundled):
        return bundled
    raise FileNotFoundError(
        "wxcoupon: no component: set WXCOUPON_WASM to the .wasm file (`wxcoupon info` prints its "
        "path) or place it at " + bundled
    )


class Runtime:
    """The compiled component and a wasi:cli + wasi:http linker; instances are per thread."""

    def __init__(self, path: Optional[str] = None) -> None:
        self.path = path or _default_path()
        self.engine = Engine()
        self.component = Component.from_file(self.engine, self.path)
        self._linker = Linker(self.engine)
        self._linker.add_wasip2()
        self._linker.add_wasi_http()
        self._lock = threading.Lock()
        self._local = threading.local()

    def _instance(self) -> Any:
        inst = getattr(self._local, "instance", None)
        if inst is None:
            store = Store(self.engine)
            store.set_wasi(WasiConfig())
            store.set_wasi_http()
            with self._lock:
                instance = self._linker.instantiate(store, self.component)
            funcs = {}
            for iface in (PROTOCOL, CLIENT):
                index = instance.get_export_index(store, iface)
                if index is None:
                    continue
                for name in (
                    ["sign", "verify", "build-request", "parse-response", "outcome-unknown", "outcome-unknown-advice"]
                    if iface == PROTOCOL
                    else ["send-coupon", "query-coupon-stock", "query-coupons-info"]
                ):
                    fidx = instance.get_export_index(store, name, index)
                    if fidx is not None:
                        funcs[name] = instance.get_func(store, fidx)
            inst = (store, funcs)
            self._local.instance = inst
        return inst

    def call(self, name: str, *args: Any) -> Any:
        """Calls an export; an ``err`` result raises the matching WxCouponError."""
        store, funcs = self._instance()
        func = funcs.get(name)
        if func is None:
            raise RuntimeError(f"wxcoupon: the component at {self.path} does not export {name}")
        try:
            result = func(store, *args)
        except Exception:
            # A trap leaves the instance unusable: the next call on this thread makes a new one.
            self._local.instance = None
            raise
        return _unwrap(result)


def _unwrap(value: Any) -> Any:
    # wasmtime-py lifts `result<T, coupon-error>` as Variant("ok"/"err", ...) when T is itself a
    # variant, and as the bare payload otherwise (coupon-error is always a Variant; no ok type is).
    if isinstance(value, Variant):
        if value.tag == "ok":
            return value.payload
        if value.tag == "err":
            raise from_wit_error(value.payload)
        raise from_wit_error(value)
    return value


_runtime: Optional[Runtime] = None
_runtime_lock = threading.Lock()


def load(component: Optional[str] = None) -> Runtime:
    """Loads (once) the component every function of this package uses; call it first to choose
    the file explicitly."""
    global _runtime
    with _runtime_lock:
        if _runtime is None or (component is not None and component != _runtime.path):
            _runtime = Runtime(component)
        return _runtime


def runtime() -> Runtime:
    return _runtime if _runtime is not None else load()

