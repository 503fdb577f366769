"""The component on wasmtime: compiled once per process, one instance per thread, and a codec
that moves WIT values across the boundary itself.

The file: the ``component`` argument of :func:`load`, else ``$WXCOUPON_WASM``, else a
``wxcoupon.wasm`` shipped inside this package.

Why not ``wasmtime.component.Func.__call__``: it reflects the function's type from the C API on
every call (``Func.type`` → ``FuncType.params`` → ``RecordType.fields`` ... one ctypes call and
one Python object per field, per case, per call) and moves each value through three ctypes
wrappers. Here each export's type is reflected once per :class:`Runtime` and compiled into a pair
of closures per WIT type: ``lower`` packs Python values into one ``bytearray`` laid out as the C
API's ``wasmtime_component_val_t`` tree (the C API only borrows the arguments, so they may live in
Python memory), ``lift`` reads the tree wasmtime writes back with ``struct`` and frees it with one
``wasmtime_component_val_delete``.

The Python shapes of WIT values: ``record`` ⇄ ``dict`` keyed by the field names in snake_case;
``variant`` → ``(case, payload-or-None)`` (a bare case name is accepted when lowering); ``enum`` ⇄
case name (kebab-case, as in the WIT); ``option`` ⇄ ``None`` or the value; ``list<u8>`` ⇄
``bytes``; other lists ⇄ ``list``; ``tuple`` ⇄ ``tuple``; ``result`` → ``(is_ok, value)``.
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from wasmtime import Engine, Store, WasiConfig, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import Component, Linker
from wasmtime.component import _types as wt
from wasmtime.component._enter import maybe_raise_last_exn

from .errors import from_wit_error

INTERFACES = ("wxpay:coupon/v2@0.2.0", "wxpay:coupon/v2-client@0.2.0")

# The C API's layout (wasmtime/component/val.h): a value is a 1-byte kind and, at offset 8, a
# 24-byte union; a record entry is a name (size, pointer) followed by a value.
VAL, ENTRY = 32, 48
assert ctypes.sizeof(ffi.wasmtime_component_val_t) == VAL
assert ctypes.sizeof(ffi.wasmtime_component_valrecord_entry_t) == ENTRY
KIND = {name: getattr(ffi, "WASMTIME_COMPONENT_" + name).value for name in (
    "BOOL", "S8", "U8", "S16", "U16", "S32", "U32", "S64", "U64", "F32", "F64", "CHAR",
    "STRING", "LIST", "RECORD", "TUPLE", "VARIANT", "ENUM", "OPTION", "RESULT")}
PRIMITIVES = {wt.Bool: ("BOOL", "?"), wt.S8: ("S8", "b"), wt.U8: ("U8", "B"), wt.S16: ("S16", "h"),
              wt.U16: ("U16", "H"), wt.S32: ("S32", "i"), wt.U32: ("U32", "I"), wt.S64: ("S64", "q"),
              wt.U64: ("U64", "Q"), wt.F32: ("F32", "f"), wt.F64: ("F64", "d")}
HEAD = struct.Struct("<B7xQQ")  # kind, then two words: (size, pointer) of a string/list/record
WORDS = struct.Struct("<QQQ")   # the union read as three words
WORD = struct.Struct("<Q")

# The C functions, declared here with plain addresses (new function objects: wasmtime-py's own
# declarations are left as they are).
_call_c = ffi.dll["wasmtime_component_func_call"]
_call_c.restype = ctypes.POINTER(ffi.wasmtime_error_t)
_call_c.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
_val_delete = ffi.dll["wasmtime_component_val_delete"]
_val_delete.restype = None
_val_delete.argtypes = [ctypes.c_void_p]
_read = ctypes.string_at

Lower = Callable[[bytearray, List[int], Any, int], None]
Lift = Callable[[bytes, int], Any]
_names: List[Any] = []  # the static name buffers the compiled codecs point at, kept alive


def _static_name(name: str) -> Tuple[int, int]:
    """(size, address) of a name that lives as long as the process (record fields, cases)."""
    raw = name.encode("utf-8")
    buf = ctypes.create_string_buffer(raw, len(raw) + 1)
    _names.append(buf)
    return len(raw), ctypes.addressof(buf)


def _alloc(buf: bytearray, size: int) -> int:
    """Reserves ``size`` zeroed bytes at the end of ``buf``, 8-aligned; returns their offset."""
    buf += bytes(-len(buf) & 7)
    offset = len(buf)
    buf += bytes(size)
    return offset


def _string(buf: bytearray, ptrs: List[int], kind: int, raw: bytes, pos: int) -> None:
    offset = len(buf)
    buf += raw
    HEAD.pack_into(buf, pos, kind, len(raw), offset)
    ptrs.append(pos + 16)


def _str(mem: bytes, off: int) -> str:
    size, ptr = struct.unpack_from("<QQ", mem, off + 8)
    return _read(ptr, size).decode("utf-8")


def compile_type(ty: Any) -> Tuple[Lower, Lift]:
    """The (lower, lift) pair of one WIT type, reflected once."""
    cls = type(ty)
    if cls in PRIMITIVES:
        name, code = PRIMITIVES[cls]
        kind, fmt = KIND[name], struct.Struct("<B7x" + code)
        py = bool if cls is wt.Bool else float if code in "fd" else int

        def lower(buf: bytearray, ptrs: List[int], v: Any, pos: int) -> None:
            if not isinstance(v, py) or (py is int and isinstance(v, bool)):
                raise TypeError(f"expected {py.__name__}, got {type(v).__name__}")
            try:
                fmt.pack_into(buf, pos, kind, v)
            except struct.error:
                raise ValueError(f"{v} is out of the range of a WIT {name.lower()}") from None

        return lower, lambda mem, off: fmt.unpack_from(mem, off)[1]
    if cls is wt.String:
        def lower_string(buf: bytearray, ptrs: List[int], v: Any, pos: int) -> None:
            _string(buf, ptrs, KIND["STRING"], v.encode("utf-8"), pos)

        return lower_string, _str
    if isinstance(ty, wt.ListType):
        element = ty.element
        if isinstance(element, wt.U8):
            return _lower_bytes, _lift_bytes
        lower_e, lift_e = compile_type(element)
        return _sequence(KIND["LIST"], [lower_e], lift_e, list)
    if isinstance(ty, wt.TupleType):
        pairs = [compile_type(e) for e in ty.elements]
        return _sequence(KIND["TUPLE"], [p[0] for p in pairs], [p[1] for p in pairs], tuple)
    if isinstance(ty, wt.RecordType):
        return _record(ty.fields)
    if isinstance(ty, wt.VariantType):
        return _variant(ty.cases)
    if isinstance(ty, wt.EnumType):
        return _enum(ty.names)
    if isinstance(ty, wt.OptionType):
        return _option(ty.payload)
    if isinstance(ty, wt.ResultType):
        return _result(ty.ok, ty.err)
    raise TypeError(f"wxcoupon: no codec for the WIT type {ty!r}")


def _lower_bytes(buf: bytearray, ptrs: List[int], v: Any, pos: int) -> None:
    # list<u8> is a list of 32-byte values in the C API: kinds and bytes by strided slices.
    n = len(v)
    arr = _alloc(buf, VAL * n)
    buf[arr : arr + VAL * n : VAL] = bytes((KIND["U8"],)) * n
    buf[arr + 8 : arr + 8 + VAL * n : VAL] = bytes(v)
    HEAD.pack_into(buf, pos, KIND["LIST"], n, arr)
    ptrs.append(pos + 16)


def _lift_bytes(mem: bytes, off: int) -> bytes:
    size, ptr = struct.unpack_from("<QQ", mem, off + 8)
    return _read(ptr, VAL * size)[8::VAL] if size else b""


def _sequence(kind: int, lowers: List[Lower], lifts: Any, make: type) -> Tuple[Lower, Lift]:
    """list<T> (one element codec, any length) or tuple<...> (one codec per element)."""
    fixed = make is tuple

    def lower(buf: bytearray, ptrs: List[int], v: Any, pos: int) -> None:
        if not isinstance(v, make) or (fixed and len(v) != len(lowers)):
            raise TypeError(f"expected a {make.__name__} of {len(lowers) if fixed else 'any'} values")
        arr = _alloc(buf, VAL * len(v))
        for i, e in enumerate(v):
            (lowers[i] if fixed else lowers[0])(buf, ptrs, e, arr + VAL * i)
        HEAD.pack_into(buf, pos, kind, len(v), arr)
        ptrs.append(pos + 16)

    if fixed:
        def lift(mem: bytes, off: int) -> Any:
            size, ptr = struct.unpack_from("<QQ", mem, off + 8)
            chunk = _read(ptr, VAL * size)
            return tuple([f(chunk, VAL * i) for i, f in enumerate(lifts)])
    else:
        def lift(mem: bytes, off: int) -> Any:
            size, ptr = struct.unpack_from("<QQ", mem, off + 8)
            chunk = _read(ptr, VAL * size)
            return [lifts(chunk, i) for i in range(0, VAL * size, VAL)]

    return lower, lift


def _record(fields: List[Tuple[str, Any]]) -> Tuple[Lower, Lift]:
    names = [name.replace("-", "_") for name, _ in fields]
    pairs = [compile_type(ty) for _, ty in fields]
    lowers = [(name, ENTRY * i + 16, p[0]) for i, (name, p) in enumerate(zip(names, pairs))]
    lifts = [(name, ENTRY * i + 16, p[1]) for i, (name, p) in enumerate(zip(names, pairs))]
    # The entries with their names filled in; the values are written over the zeros.
    template = b"".join(struct.pack("<QQ", *_static_name(name)) + bytes(VAL) for name, _ in fields)
    n = len(fields)

    def lower(buf: bytearray, ptrs: List[int], v: Any, pos: int) -> None:
        if type(v) is not dict:  # an object with attributes of the same names (a dataclass)
            v = {name: getattr(v, name) for name, _, _ in lowers}
        buf += bytes(-len(buf) & 7)
        arr = len(buf)
        buf += template
        for name, at, f in lowers:
            f(buf, ptrs, v[name], arr + at)
        HEAD.pack_into(buf, pos, KIND["RECORD"], n, arr)
        ptrs.append(pos + 16)

    def lift(mem: bytes, off: int) -> Dict[str, Any]:
        size, ptr = struct.unpack_from("<QQ", mem, off + 8)
        chunk = _read(ptr, ENTRY * n)
        return {name: f(chunk, at) for name, at, f in lifts}

    return lower, lift


def _variant(cases: List[Tuple[str, Any]]) -> Tuple[Lower, Lift]:
    by_name = {}
    by_raw = {}
    for name, ty in cases:
        size, addr = _static_name(name)
        lower_p, lift_p = compile_type(ty) if ty is not None else (None, None)
        by_name[name] = (size, addr, lower_p)
        by_raw[name.encode("utf-8")] = (name, lift_p)
    fmt = struct.Struct("<B7xQQQ")

    def lower(buf: bytearray, ptrs: List[int], v: Any, pos: int) -> None:
        tag, payload = (v, None) if isinstance(v, str) else v
        size, addr, lower_p = by_name[tag]
        if lower_p is None:
            fmt.pack_into(buf, pos, KIND["VARIANT"], size, addr, 0)
            return
        at = _alloc(buf, VAL)
        lower_p(buf, ptrs, payload, at)
        fmt.pack_into(buf, pos, KIND["VARIANT"], size, addr, at)
        ptrs.append(pos + 24)

    def lift(mem: bytes, off: int) -> Tuple[str, Any]:
        size, ptr, val = WORDS.unpack_from(mem, off + 8)
        name, lift_p = by_raw[_read(ptr, size)]
        return name, (lift_p(_read(val, VAL), 0) if lift_p is not None else None)

    return lower, lift


def _enum(names: List[str]) -> Tuple[Lower, Lift]:
    by_name = {name: _static_name(name) for name in names}
    by_raw = {name.encode("utf-8"): name for name in names}

    def lower(buf: bytearray, ptrs: List[int], v: Any, pos: int) -> None:
        HEAD.pack_into(buf, pos, KIND["ENUM"], *by_name[v])

    def lift(mem: bytes, off: int) -> str:
        size, ptr = struct.unpack_from("<QQ", mem, off + 8)
        return by_raw[_read(ptr, size)]

    return lower, lift


def _option(payload: Any) -> Tuple[Lower, Lift]:
    lower_p, lift_p = compile_type(payload)
    fmt = struct.Struct("<B7xQ")

    def lower(buf: bytearray, ptrs: List[int], v: Any, pos: int) -> None:
        if v is None:
            fmt.pack_into(buf, pos, KIND["OPTION"], 0)
            return
        at = _alloc(buf, VAL)
        lower_p(buf, ptrs, v, at)
        fmt.pack_into(buf, pos, KIND["OPTION"], at)
        ptrs.append(pos + 8)

    def lift(mem: bytes, off: int) -> Any:
        ptr = WORD.unpack_from(mem, off + 8)[0]
        return lift_p(_read(ptr, VAL), 0) if ptr else None

    return lower, lift


def _result(ok: Any, err: Any) -> Tuple[Lower, Lift]:
    lift_ok = compile_type(ok)[1] if ok is not None else None
    lift_err = compile_type(err)[1] if err is not None else None
    fmt = struct.Struct("<B7x?7xQ")

    def lower(buf: bytearray, ptrs: List[int], v: Any, pos: int) -> None:
        raise TypeError("wxcoupon passes no result values to the component")

    def lift(mem: bytes, off: int) -> Tuple[bool, Any]:
        _, is_ok, ptr = fmt.unpack_from(mem, off)
        f = lift_ok if is_ok else lift_err
        return is_ok, (f(_read(ptr, VAL), 0) if f is not None and ptr else None)

    return lower, lift


class Export:
    """One exported function: its parameters' lowerings and its result's lifting, compiled once."""

    def __init__(self, interface: str, name: str, fty: Any) -> None:
        self.interface, self.name = interface, name
        self.lowers = [compile_type(ty)[0] for _, ty in fty.params]
        result = fty.result
        self.lift = compile_type(result)[1] if result is not None else None
        self.fallible = isinstance(result, wt.ResultType)

    def arguments(self, args: Tuple[Any, ...]) -> Tuple[bytearray, int]:
        """The arguments as the C API's value array, pointers made absolute, and its address;
        the caller keeps the buffer alive (and its size unchanged) for the call."""
        if len(args) != len(self.lowers):
            raise TypeError(f"{self.name} takes {len(self.lowers)} arguments")
        buf = bytearray(VAL * len(args))
        ptrs: List[int] = []
        for i, (lower, v) in enumerate(zip(self.lowers, args)):
            lower(buf, ptrs, v, VAL * i)
        buf += bytes(-len(buf) & 7 or 8)  # never empty; whole words for the cast below
        base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        words = memoryview(buf).cast("Q")
        for p in ptrs:
            words[p >> 3] += base
        words.release()
        return buf, base


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
    """The compiled component, its exports' codecs and a wasi:cli + wasi:http linker; instances
    are per thread."""

    def __init__(self, path: Optional[str] = None) -> None:
        self.path = path or _default_path()
        self.engine = Engine()
        self.component = Component.from_file(self.engine, self.path)
        self._linker = Linker(self.engine)
        self._linker.add_wasip2()
        self._linker.add_wasi_http()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.exports: Dict[str, Export] = {}
        exported = self.component.type.exports(self.engine)
        for iface in INTERFACES:
            if iface in exported:
                for name, item in exported[iface].ty.exports(self.engine).items():
                    fty = item.ty
                    if isinstance(fty, wt.FuncType):
                        self.exports[name] = Export(iface, name, fty)

    def _instance(self) -> Tuple[Any, int, Dict[str, Any]]:
        """This thread's (store, context address, export name → wasmtime_component_func_t)."""
        inst = getattr(self._local, "instance", None)
        if inst is None:
            store = Store(self.engine)
            store.set_wasi(WasiConfig())
            store.set_wasi_http()
            with self._lock:
                instance = self._linker.instantiate(store, self.component)
            funcs = {}
            for name, export in self.exports.items():
                func = instance.get_func(store, instance.get_export_index(
                    store, name, instance.get_export_index(store, export.interface)))
                funcs[name] = func._func
            context = ctypes.cast(store._context(), ctypes.c_void_p).value
            inst = (store, context, funcs)
            self._local.instance = inst
        return inst

    def call(self, name: str, *args: Any) -> Any:
        """Calls an export; an ``err`` result raises the matching WxCouponError."""
        export = self.exports.get(name)
        if export is None:
            raise RuntimeError(f"wxcoupon: the component at {self.path} does not export {name}")
        buf, base = export.arguments(args)
        _store, context, funcs = self._instance()
        result = ctypes.create_string_buffer(VAL)
        error = _call_c(ctypes.byref(funcs[name]), context, base, len(args), result, 1)
        if error:
            # A trap leaves the instance unusable: the next call on this thread makes a new one.
            self._local.instance = None
            exc = WasmtimeError._from_ptr(error)
            maybe_raise_last_exn()
            raise exc
        if export.lift is None:
            return None
        try:
            value = export.lift(result.raw, 0)
        finally:
            _val_delete(result)
        if export.fallible:
            ok, value = value
            if not ok:
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
    """The loaded runtime, loading the default component on first use."""
    return _runtime if _runtime is not None else load()
