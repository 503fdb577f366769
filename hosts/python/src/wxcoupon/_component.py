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
import dataclasses
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

INTERFACES = ("wxpay:coupon/v2@0.2.0", "wxpay:coupon/v2-client@0.2.0", "wxpay:coupon/v3@0.2.0",
              "wxpay:coupon/v3-client@0.2.0")
TYPES = "wxpay:coupon/v2-types@0.2.0"
V3_TYPES = "wxpay:coupon/v3-types@0.2.0"
# The v2 exports keep their bare names (``"sign"``); the others are named ``"v3.sign"``,
# ``"v3-client.issue-coupon"``: the interfaces share function names.
BARE = ("wxpay:coupon/v2@0.2.0", "wxpay:coupon/v2-client@0.2.0")

# The C API's layout (wasmtime/component/val.h) on 64-bit hosts: a value is a 1-byte kind and, at
# offset 8, a 24-byte union (read and written here as three words); a record entry is a name
# (size, pointer) followed by a value.
VAL, ENTRY = 32, 48
assert ctypes.sizeof(ctypes.c_void_p) == 8
assert ctypes.sizeof(ffi.wasmtime_component_val_t) == VAL
assert ctypes.sizeof(ffi.wasmtime_component_valrecord_entry_t) == ENTRY
K = {name: getattr(ffi, "WASMTIME_COMPONENT_" + name).value for name in (
    "BOOL", "S8", "U8", "S16", "U16", "S32", "U32", "S64", "U64", "F32", "F64", "CHAR",
    "STRING", "LIST", "RECORD", "TUPLE", "VARIANT", "ENUM", "OPTION", "RESULT", "RESOURCE")}
VALUE = struct.Struct("<B7xQQQ")   # kind, word, word, word
WORDS = struct.Struct("<8xQQQ")    # a value's union
TEXT_PAIR = struct.Struct("<8xQQ8x8xQQ8x")  # tuple<string, string>: (size, pointer) twice
TEXT_PAIR_VALUES = struct.Struct("<B7xQQ8xB7xQQ8x")  # the same, written: kind, size, pointer twice
# (kind name, struct code, bits) of the scalars; their payload is the union's first word.
SCALARS = {wt.Bool: ("BOOL", "?", 8), wt.S8: ("S8", "b", 8), wt.U8: ("U8", "B", 8), wt.S16: ("S16", "h", 16),
           wt.U16: ("U16", "H", 16), wt.S32: ("S32", "i", 32), wt.U32: ("U32", "I", 32), wt.S64: ("S64", "q", 64),
           wt.U64: ("U64", "Q", 64), wt.F32: ("F32", "f", 32), wt.F64: ("F64", "d", 64), wt.Char: ("CHAR", "I", 32)}

# The C functions, declared with plain addresses (new function objects: wasmtime-py's own
# declarations stay as they are).
_call_c = ffi.dll["wasmtime_component_func_call"]
_call_c.restype = ctypes.POINTER(ffi.wasmtime_error_t)
_call_c.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
_val_delete = ffi.dll["wasmtime_component_val_delete"]
_val_delete.restype = None
_val_delete.argtypes = [ctypes.c_void_p]
_resource_clone = ffi.dll["wasmtime_component_resource_any_clone"]
_resource_clone.restype = ctypes.c_void_p
_resource_clone.argtypes = [ctypes.c_void_p]
_resource_delete = ffi.dll["wasmtime_component_resource_any_delete"]
_resource_delete.restype = None
_resource_delete.argtypes = [ctypes.c_void_p]
_resource_drop = ffi.dll["wasmtime_component_resource_any_drop"]
_resource_drop.restype = ctypes.POINTER(ffi.wasmtime_error_t)
_resource_drop.argtypes = [ctypes.c_void_p, ctypes.c_void_p]

# The results wasmtime writes are read through one read-only view of the process's memory: the
# reach of ctypes.string_at, without a foreign call per read.
MEM = memoryview((ctypes.c_char * (1 << 62)).from_address(0)).cast("B").toreadonly()

# lower(arena, arena address, value, offset of its slot, first free offset) -> first free offset;
# lift(word, word, word) -> value.
Lower = Callable[[bytearray, int, Any, int, int], int]
Lift = Callable[[int, int, int], Any]
_names: List[Any] = []  # the static name buffers the codecs point at, kept alive


def _static_name(name: str) -> Tuple[int, int]:
    """(size, address) of a name that lives as long as the process (record fields, cases)."""
    raw = name.encode("utf-8")
    _names.append(ctypes.create_string_buffer(raw, len(raw) + 1))
    return len(raw), ctypes.addressof(_names[-1])


def _reserve(buf: bytearray, top: int, size: int) -> int:
    end = top + size
    if end > len(buf):
        raise BufferError("wxcoupon: the argument arena is full")
    return end


def _text(w1: int, w2: int, w3: int) -> str:
    return MEM[w2 : w2 + w1].tobytes().decode()


class Handle:
    """A resource the component made (an ``own`` result): the C API's boxed
    ``wasmtime_component_resource_any_t``, owned here, valid in its instance only."""

    __slots__ = ("ptr",)

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr


def _lower_handle(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
    if type(v) is not Handle:
        raise TypeError(f"expected a resource handle, got {type(v).__name__}")
    VALUE.pack_into(buf, pos, K["RESOURCE"], v.ptr, 0, 0)  # the C API copies it: a borrow
    return top


def _lift_handle(w1: int, w2: int, w3: int) -> Handle:
    return Handle(_resource_clone(w1))  # the result's own box is freed with the result


# Record classes: a callable from a record type to the class its lifted values are made into
# (None: a dict).
RecordClass = Optional[Callable[[Any], Optional[Callable[..., Any]]]]


def compile_type(ty: Any, classes: RecordClass = None) -> Tuple[Lower, Lift]:
    """The (lower, lift) pair of one WIT type, reflected once; records lift into
    ``classes(record type)`` where that gives a class."""
    cls = type(ty)
    if cls in SCALARS:
        return _scalar(*SCALARS[cls])
    if cls is wt.String:
        return _lower_string, _text
    if isinstance(ty, wt.ListType):
        element = ty.element
        return (_lower_bytes, _lift_bytes) if isinstance(element, wt.U8) else _list(compile_type(element, classes))
    if isinstance(ty, wt.TupleType):
        return _tuple([compile_type(e, classes) for e in ty.elements])
    if isinstance(ty, wt.RecordType):
        return _record(ty.fields, classes, classes(ty) if classes is not None else None)
    if isinstance(ty, wt.VariantType):
        return _variant(ty.cases, classes)
    if isinstance(ty, wt.EnumType):
        return _enum(ty.names)
    if isinstance(ty, wt.OptionType):
        return _option(compile_type(ty.payload, classes))
    if isinstance(ty, wt.ResultType):
        return _result(ty.ok, ty.err, classes)
    if isinstance(ty, (wt.OwnType, wt.BorrowType)):
        return _lower_handle, _lift_handle
    raise TypeError(f"wxcoupon: no codec for the WIT type {ty!r}")


def _scalar(name: str, code: str, bits: int) -> Tuple[Lower, Lift]:
    kind, fmt = K[name], struct.Struct("<B7x" + code)
    py = bool if code == "?" else float if code in "fd" else str if name == "CHAR" else int
    mask, signed = (1 << bits) - 1, code in "bhiq"
    reinterpret = struct.Struct("<Q"), struct.Struct("<" + code + ("4x" if bits == 32 else ""))

    def lower(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
        if type(v) is not py and (not isinstance(v, py) or isinstance(v, bool)):
            raise TypeError(f"expected {py.__name__}, got {type(v).__name__}")
        try:
            fmt.pack_into(buf, pos, kind, ord(v) if py is str else v)
        except (struct.error, TypeError):
            raise ValueError(f"{v!r} is not a WIT {name.lower()}") from None
        return top

    def lift(w1: int, w2: int, w3: int) -> Any:
        w1 &= mask
        if py is int:
            return w1 - (mask + 1) if signed and w1 >> (bits - 1) else w1
        if py is bool:
            return w1 != 0
        return chr(w1) if py is str else reinterpret[1].unpack(reinterpret[0].pack(w1))[0]

    return lower, lift


def _lower_string(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
    if type(v) is not str and not isinstance(v, str):
        raise TypeError(f"expected str, got {type(v).__name__}")
    raw = v.encode("utf-8")
    end = top + len(raw)
    buf[top:end] = raw  # a BufferError when it does not fit: the arena cannot grow while pinned
    VALUE.pack_into(buf, pos, K["STRING"], len(raw), base + top, 0)
    return (end + 7) & ~7


def _lower_bytes(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
    # list<u8> is a list of 32-byte values in the C API: kinds and bytes go in by strided slices.
    n = len(v)
    end = _reserve(buf, top, VAL * n)
    if n:  # CPython takes even an empty strided assignment for a resize of a pinned buffer
        buf[top:end:VAL] = bytes((K["U8"],)) * n
        buf[top + 8 : end : VAL] = bytes(v)
    VALUE.pack_into(buf, pos, K["LIST"], n, base + top, 0)
    return end


def _lift_bytes(w1: int, w2: int, w3: int) -> bytes:
    return bytes(MEM[w2 + 8 : w2 + VAL * w1 : VAL])


def _list(element: Tuple[Lower, Lift]) -> Tuple[Lower, Lift]:
    lower_e, lift_e = element

    def lower(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
        if not isinstance(v, list):
            raise TypeError(f"expected list, got {type(v).__name__}")
        arr, top = top, _reserve(buf, top, VAL * len(v))
        for i, e in enumerate(v):
            top = lower_e(buf, base, e, arr + VAL * i, top)
        VALUE.pack_into(buf, pos, K["LIST"], len(v), base + arr, 0)
        return top

    if lower_e is _lower_text_pair:  # list<tuple<string, string>>, headers and fields: inlined
        lower = _lower_text_pairs
    if lift_e is _lift_text_pair:  # list<tuple<string, string>>, the fields: the hot path, inlined
        def lift(w1: int, w2: int, w3: int) -> List[Any]:
            pairs = []
            for _, _, at, _ in VALUE.iter_unpack(MEM[w2 : w2 + VAL * w1]):
                n1, p1, n2, p2 = TEXT_PAIR.unpack_from(MEM, at)
                pairs.append((MEM[p1 : p1 + n1].tobytes().decode(), MEM[p2 : p2 + n2].tobytes().decode()))
            return pairs
    else:
        def lift(w1: int, w2: int, w3: int) -> List[Any]:
            return [lift_e(a, b, c) for _, a, b, c in VALUE.iter_unpack(MEM[w2 : w2 + VAL * w1])]

    return lower, lift


def _tuple(elements: List[Tuple[Lower, Lift]]) -> Tuple[Lower, Lift]:
    lowers, lifts, n = [e[0] for e in elements], [e[1] for e in elements], len(elements)
    fmt = struct.Struct("<" + "8xQQQ" * n)

    def lower(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
        if not isinstance(v, tuple) or len(v) != n:
            raise TypeError(f"expected a tuple of {n}")
        arr, top = top, _reserve(buf, top, VAL * n)
        for i, (f, e) in enumerate(zip(lowers, v)):
            top = f(buf, base, e, arr + VAL * i, top)
        VALUE.pack_into(buf, pos, K["TUPLE"], n, base + arr, 0)
        return top

    if n == 2 and lifts == [_text, _text]:
        return _lower_text_pair, _lift_text_pair

    def lift(w1: int, w2: int, w3: int) -> Tuple[Any, ...]:
        w = fmt.unpack_from(MEM, w2)
        return tuple([f(w[3 * i], w[3 * i + 1], w[3 * i + 2]) for i, f in enumerate(lifts)])

    return lower, lift


def _lower_text_pair(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
    return _lower_text_pairs(buf, base, [v], pos, top, one=True)


def _lower_text_pairs(buf: bytearray, base: int, v: Any, pos: int, top: int, one: bool = False) -> int:
    """A ``list<tuple<string, string>>`` (or, with ``one``, a single tuple) in one loop: each
    pair's tuple slot, its two string values and their bytes, without a call per value."""
    if not one and not isinstance(v, list):
        raise TypeError(f"expected list, got {type(v).__name__}")
    string, tup = K["STRING"], K["TUPLE"]
    arr = top
    if not one:
        top = _reserve(buf, top, VAL * len(v))
    for i, pair in enumerate(v):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError("expected a tuple of 2")
        first, second = pair
        if not isinstance(first, str) or not isinstance(second, str):
            raise TypeError(f"expected str, got {type(first if not isinstance(first, str) else second).__name__}")
        raw1, raw2 = first.encode("utf-8"), second.encode("utf-8")
        values = top
        at1 = values + 2 * VAL
        at2 = (at1 + len(raw1) + 7) & ~7
        end = _reserve(buf, at2, len(raw2))
        buf[at1 : at1 + len(raw1)] = raw1
        buf[at2:end] = raw2
        TEXT_PAIR_VALUES.pack_into(buf, values, string, len(raw1), base + at1, string, len(raw2), base + at2)
        VALUE.pack_into(buf, pos if one else arr + VAL * i, tup, 2, base + values, 0)
        top = (end + 7) & ~7
    if not one:
        VALUE.pack_into(buf, pos, K["LIST"], len(v), base + arr, 0)
    return top


def _lift_text_pair(w1: int, w2: int, w3: int) -> Tuple[str, str]:
    n1, p1, n2, p2 = TEXT_PAIR.unpack_from(MEM, w2)
    return MEM[p1 : p1 + n1].tobytes().decode(), MEM[p2 : p2 + n2].tobytes().decode()


def _record(fields: List[Tuple[str, Any]], classes: RecordClass = None,
            make: Optional[Callable[..., Any]] = None) -> Tuple[Lower, Lift]:
    names = [name.replace("-", "_") for name, _ in fields]
    pairs = [compile_type(ty, classes) for _, ty in fields]
    # A dict may leave out an option field: it is none.
    optional = frozenset(n for n, (_, ty) in zip(names, fields) if isinstance(ty, wt.OptionType))
    lowers = [(name, ENTRY * i + 16, p[0]) for i, (name, p) in enumerate(zip(names, pairs))]
    lifts = [(name, 3 * i, p[1]) for i, (name, p) in enumerate(zip(names, pairs))]
    # The entries with their names filled in; the values are written over the zeros.
    template = b"".join(struct.pack("<QQ", *_static_name(name)) + bytes(VAL) for name, _ in fields)
    n, size = len(fields), len(template)
    fmt = struct.Struct("<" + "24xQQQ" * n)

    def lower(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
        if type(v) is not dict:  # an object with attributes of the same names (a dataclass)
            v = {name: getattr(v, name) for name in names}
        arr, top = top, _reserve(buf, top, size)
        buf[arr:top] = template
        for name, at, f in lowers:
            if name in v:
                top = f(buf, base, v[name], arr + at, top)
            elif name in optional:
                top = f(buf, base, None, arr + at, top)
            else:
                raise KeyError(name)
        VALUE.pack_into(buf, pos, K["RECORD"], n, base + arr, 0)
        return top

    def lift(w1: int, w2: int, w3: int) -> Dict[str, Any]:
        w = fmt.unpack_from(MEM, w2)
        return {name: f(w[i], w[i + 1], w[i + 2]) for name, i, f in lifts}

    if make is not None:
        def lift_into(w1: int, w2: int, w3: int) -> Any:
            return make(**lift(w1, w2, w3))
        return lower, lift_into
    return lower, lift


def _variant(cases: List[Tuple[str, Any]], classes: RecordClass = None) -> Tuple[Lower, Lift]:
    by_name, by_raw = {}, {}
    for name, ty in cases:
        lower_p, lift_p = compile_type(ty, classes) if ty is not None else (None, None)
        by_name[name] = _static_name(name) + (lower_p,)
        by_raw[name.encode("utf-8")] = (name, lift_p)

    def lower(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
        tag, payload = (v, None) if type(v) is str else v
        size, addr, lower_p = by_name[tag]
        if lower_p is None:
            VALUE.pack_into(buf, pos, K["VARIANT"], size, addr, 0)
            return top
        at, top = top, _reserve(buf, top, VAL)
        top = lower_p(buf, base, payload, at, top)
        VALUE.pack_into(buf, pos, K["VARIANT"], size, addr, base + at)
        return top

    def lift(w1: int, w2: int, w3: int) -> Tuple[str, Any]:
        name, lift_p = by_raw[MEM[w2 : w2 + w1].tobytes()]
        return name, (lift_p(*WORDS.unpack_from(MEM, w3)) if lift_p is not None else None)

    return lower, lift


def _enum(names: List[str]) -> Tuple[Lower, Lift]:
    by_name = {name: _static_name(name) for name in names}
    by_raw = {name.encode("utf-8"): name for name in names}

    def lower(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
        VALUE.pack_into(buf, pos, K["ENUM"], *by_name[v], 0)
        return top

    def lift(w1: int, w2: int, w3: int) -> str:
        return by_raw[MEM[w2 : w2 + w1].tobytes()]

    return lower, lift


def _option(payload: Tuple[Lower, Lift]) -> Tuple[Lower, Lift]:
    lower_p, lift_p = payload

    def lower(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
        if v is None:
            VALUE.pack_into(buf, pos, K["OPTION"], 0, 0, 0)
            return top
        at, top = top, _reserve(buf, top, VAL)
        top = lower_p(buf, base, v, at, top)
        VALUE.pack_into(buf, pos, K["OPTION"], base + at, 0, 0)
        return top

    def lift(w1: int, w2: int, w3: int) -> Any:
        return lift_p(*WORDS.unpack_from(MEM, w1)) if w1 else None

    return lower, lift


def _result(ok: Any, err: Any, classes: RecordClass = None) -> Tuple[Lower, Lift]:
    lift_ok = compile_type(ok, classes)[1] if ok is not None else None
    lift_err = compile_type(err)[1] if err is not None else None  # errors stay tuples and dicts

    def lower(buf: bytearray, base: int, v: Any, pos: int, top: int) -> int:
        raise TypeError("wxcoupon passes no result values to the component")

    def lift(w1: int, w2: int, w3: int) -> Tuple[bool, Any]:
        is_ok = w1 & 0xFF != 0
        f = lift_ok if is_ok else lift_err
        return is_ok, (f(*WORDS.unpack_from(MEM, w2)) if f is not None and w2 else None)

    return lower, lift


class Export:
    """One exported function: its parameters' lowerings and its result's lifting, compiled once."""

    def __init__(self, interface: str, name: str, fty: Any, classes: RecordClass = None) -> None:
        self.interface, self.name = interface, name
        self.params = fty.params
        self.lowers = [compile_type(ty)[0] for _, ty in fty.params]
        result = self.result = fty.result
        self.lift = compile_type(result, classes)[1] if result is not None else None
        self.fallible = isinstance(result, wt.ResultType)

    def lower(self, arena: "_Arena", args: Tuple[Any, ...]) -> None:
        """Writes the arguments into ``arena`` as the C API's value array (at its start)."""
        if len(args) != len(self.lowers):
            raise TypeError(f"{self.name} takes {len(self.lowers)} arguments")
        buf, base = arena.buf, arena.base
        top = _reserve(buf, 0, VAL * len(args))
        for i, (lower, v) in enumerate(zip(self.lowers, args)):
            if type(v) is Pinned:
                VALUE.pack_into(buf, VAL * i, *v.slot)
            else:
                top = lower(buf, base, v, VAL * i, top)


class _Arena:
    """A pinned buffer the arguments are written into: its address is known before writing (no
    pointers to fix up) and stays put (the C API only borrows the arguments, for the call)."""

    DEFAULT = 1 << 16

    def __init__(self, size: int = DEFAULT) -> None:
        self.buf = bytearray(size)
        self._pin = ctypes.c_char.from_buffer(self.buf)  # also forbids resizing
        self.base = ctypes.addressof(self._pin)


class Pinned:
    """A value lowered once into memory of its own, for an argument passed again and again (the
    merchant): passing it then writes one slot. The C API only reads arguments, so every thread
    may pass it; wasmtime type-checks it against the parameter like any argument."""

    def __init__(self, lower: Lower, value: Any) -> None:
        size = 1 << 10
        while True:
            self._arena = _Arena(size)
            try:
                lower(self._arena.buf, self._arena.base, value, 0, VAL)
                break
            except BufferError:
                size *= 2
        self.slot = VALUE.unpack_from(self._arena.buf, 0)


class Opened:
    """An argument the component holds as a resource (a v3 merchant): opened once per instance
    by calling the export ``open_with`` with :meth:`open_args`, then passed as that instance's
    handle. Equal keys share a handle."""

    open_with = ""

    def open_args(self) -> Tuple[Any, ...]:
        raise NotImplementedError

    def open_key(self) -> Any:
        """What makes two of these the same resource (hashable)."""
        raise NotImplementedError

    def refused(self, error: Any) -> Exception:
        """The exception for the opener's ``err`` value."""
        raise NotImplementedError


class _Instance:
    """One thread's instance: the store, its context, the exports' function handles, the arena,
    the result slot and the resources opened in it."""

    MAX_HANDLES = 64  # a bound, not an LRU: merchants are few

    def __init__(self, runtime: "Runtime") -> None:
        self.store = Store(runtime.engine)
        self.store.set_wasi(WasiConfig())
        self.store.set_wasi_http()
        with runtime._lock:
            instance = runtime._linker.instantiate(self.store, runtime.component)
        self.funcs = {}  # name → (Func, address of its wasmtime_component_func_t)
        for name, export in runtime.exports.items():
            iface = instance.get_export_index(self.store, export.interface)
            func = instance.get_func(self.store, instance.get_export_index(self.store, export.name, iface))
            self.funcs[name] = (func, ctypes.addressof(func._func))
        self.context = ctypes.cast(self.store._context(), ctypes.c_void_p).value
        self.arena = _Arena()
        self.result = _Arena(VAL)
        self.handles: Dict[Any, Handle] = {}

    def drop_handles(self) -> None:
        """Drops every resource opened here (the guest's destructors run)."""
        handles, self.handles = self.handles, {}
        for h in handles.values():
            error = _resource_drop(self.context, h.ptr)
            if error:
                WasmtimeError._from_ptr(error)  # freed; a failed drop leaves nothing to undo
            _resource_delete(h.ptr)

    def __del__(self) -> None:
        for h in getattr(self, "handles", {}).values():
            _resource_delete(h.ptr)  # the box only: the store goes with this instance


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
        classes = self._record_classes(exported)
        for iface in INTERFACES:
            if iface in exported:
                short = iface.split("/", 1)[1].split("@", 1)[0]
                v3 = iface not in BARE
                for name, item in exported[iface].ty.exports(self.engine).items():
                    fty = item.ty
                    if isinstance(fty, wt.FuncType):
                        key = name if iface in BARE else f"{short}.{name}"
                        self.exports[key] = Export(iface, name, fty, classes if v3 else None)
        self._types = exported[TYPES].ty.exports(self.engine) if TYPES in exported else {}
        self._pins: Dict[Any, Pinned] = {}

    def _record_classes(self, exported: Dict[str, Any]) -> RecordClass:
        """The v3 records lift into frozen dataclasses named after their WIT records (records of
        the same shape are one type to the component: the first name is theirs)."""
        if V3_TYPES not in exported:
            return None
        named = [(name, item.ty) for name, item in exported[V3_TYPES].ty.exports(self.engine).items()
                 if isinstance(getattr(item, "ty", None), wt.RecordType)]
        made: Dict[str, Any] = {}

        def classes(ty: Any) -> Optional[Callable[..., Any]]:
            for name, nty in named:
                if nty == ty:
                    if name not in made:
                        made[name] = dataclasses.make_dataclass(
                            "".join(w.capitalize() for w in name.split("-")),
                            [(f.replace("-", "_"), Any) for f, _ in ty.fields], frozen=True)
                        made[name].__module__ = "wxcoupon.v3"
                    return made[name]
            return None

        self.record_classes = made
        return classes

    def pin(self, type_name: str, value: Any) -> Pinned:
        """``value`` of the ``v2-types`` type ``type_name``, lowered once (see :class:`Pinned`)."""
        item = self._types.get(type_name)
        if item is None:
            raise RuntimeError(f"wxcoupon: the component at {self.path} has no type {type_name}")
        return Pinned(compile_type(item.ty)[0], value)

    def pinned(self, type_name: str, value: Any, convert: Callable[[Any], Any]) -> Pinned:
        """``convert(value)`` pinned as ``type_name``, once per equal ``value``: for immutable
        values passed again and again (a Merchant). A TypeError when ``value`` is unhashable."""
        key = (type_name, value)
        pin = self._pins.get(key)
        if pin is None:
            if len(self._pins) >= 64:  # a bound, not an LRU: merchants are few
                self._pins.clear()
            pin = self._pins[key] = self.pin(type_name, convert(value))
        return pin

    def _instance(self) -> _Instance:
        inst = getattr(self._local, "instance", None)
        if inst is None:
            inst = self._local.instance = _Instance(self)
        return inst

    def call(self, name: str, *args: Any) -> Any:
        """Calls an export; an ``err`` result raises the matching WxCouponError."""
        value = self.call_result(name, *args)
        if self.exports[name].fallible:
            ok, value = value
            if not ok:
                raise from_wit_error(value)
        return value

    def call_result(self, name: str, *args: Any) -> Any:
        """Calls an export; a ``result`` comes back as ``(is_ok, value)``. An :class:`Opened`
        argument is passed as this thread's handle of it (opened on first use)."""
        export = self.exports.get(name)
        if export is None:
            raise RuntimeError(f"wxcoupon: the component at {self.path} does not export {name}")
        inst = self._instance()
        if any(isinstance(a, Opened) for a in args):
            args = tuple(self._handle(inst, a) if isinstance(a, Opened) else a for a in args)
        return self._invoke(inst, name, export, args)

    def _handle(self, inst: _Instance, source: Opened) -> Handle:
        key = source.open_key()
        handle = inst.handles.get(key)
        if handle is None:
            ok, value = self._invoke(inst, source.open_with, self.exports[source.open_with], source.open_args())
            if not ok:
                raise source.refused(value)
            if len(inst.handles) >= _Instance.MAX_HANDLES:
                inst.drop_handles()
            handle = inst.handles[key] = value
        return handle

    def _invoke(self, inst: _Instance, name: str, export: Export, args: Tuple[Any, ...]) -> Any:
        while True:
            try:
                export.lower(inst.arena, args)
                break
            except BufferError:
                if len(inst.arena.buf) >= 1 << 30:
                    raise
                inst.arena = _Arena(2 * len(inst.arena.buf))
        result = inst.result
        error = _call_c(inst.funcs[name][1], inst.context, inst.arena.base, len(args), result.base, 1)
        if len(inst.arena.buf) > _Arena.DEFAULT:
            inst.arena = _Arena()  # a large body passed: do not keep its arena
        if error:
            # A trap leaves the instance unusable: the next call on this thread makes a new one.
            self._local.instance = None
            exc = WasmtimeError._from_ptr(error)
            maybe_raise_last_exn()
            raise exc
        try:
            return export.lift(*WORDS.unpack_from(MEM, result.base)) if export.lift is not None else None
        finally:
            _val_delete(result.base)
            result.buf[:] = bytes(VAL)  # Bool(false): wasmtime drops what the slot holds before writing


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
