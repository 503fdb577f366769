package wxcoupon

// Component Model values in Go, and their lowering to / lifting from the C API's
// `wasmtime_component_val_t`. Only the kinds the wxcoupon WIT uses are supported.

/*
#include <stdlib.h>
#include <string.h>
#include <wasmtime.h>
*/
import "C"

import (
	"fmt"
	"unicode/utf8"
	"unsafe"
)

type valueKind uint8

// The C API's discriminants (wasmtime/component/val.h).
const (
	kindBool    valueKind = C.WASMTIME_COMPONENT_BOOL
	kindU8      valueKind = C.WASMTIME_COMPONENT_U8
	kindU16     valueKind = C.WASMTIME_COMPONENT_U16
	kindU32     valueKind = C.WASMTIME_COMPONENT_U32
	kindU64     valueKind = C.WASMTIME_COMPONENT_U64
	kindS64     valueKind = C.WASMTIME_COMPONENT_S64
	kindString  valueKind = C.WASMTIME_COMPONENT_STRING
	kindList    valueKind = C.WASMTIME_COMPONENT_LIST
	kindRecord  valueKind = C.WASMTIME_COMPONENT_RECORD
	kindTuple   valueKind = C.WASMTIME_COMPONENT_TUPLE
	kindVariant valueKind = C.WASMTIME_COMPONENT_VARIANT
	kindEnum    valueKind = C.WASMTIME_COMPONENT_ENUM
	kindOption  valueKind = C.WASMTIME_COMPONENT_OPTION
	kindResult  valueKind = C.WASMTIME_COMPONENT_RESULT
)

// value is one component value. Which fields mean something depends on kind:
// bool → flag; integers → num (s64 as its two's complement); string → text and bytes;
// enum → text (the case); variant → text (the case) and payload; option → payload (nil: none);
// result → flag (ok) and payload; list, tuple → items; record → names and items.
type value struct {
	kind    valueKind
	flag    bool
	num     uint64
	text    string
	bytes   []byte // a list<u8> is kept as bytes, not as items
	names   []string
	items   []value
	payload *value
}

func vBool(b bool) value     { return value{kind: kindBool, flag: b} }
func vU16(n uint16) value    { return value{kind: kindU16, num: uint64(n)} }
func vString(s string) value { return value{kind: kindString, text: s} }
func vEnum(c string) value   { return value{kind: kindEnum, text: c} }
func vBytes(b []byte) value  { return value{kind: kindList, bytes: b, flag: true} }
func vNone() value           { return value{kind: kindOption} }
func vSome(v value) value    { return value{kind: kindOption, payload: &v} }
func vTuple(items ...value) value {
	return value{kind: kindTuple, items: items}
}
func vList(items []value) value { return value{kind: kindList, items: items} }
func vVariant(c string, payload *value) value {
	return value{kind: kindVariant, text: c, payload: payload}
}

// vRecord builds a record from name, value pairs.
func vRecord(fields ...interface{}) value {
	r := value{kind: kindRecord}
	for i := 0; i+1 < len(fields); i += 2 {
		r.names = append(r.names, fields[i].(string))
		r.items = append(r.items, fields[i+1].(value))
	}
	return r
}

func vOptionalString(s string) value {
	if s == "" {
		return vNone()
	}
	return vSome(vString(s))
}

func vOptionalU32(n uint32) value {
	if n == 0 {
		return vNone()
	}
	return vSome(value{kind: kindU32, num: uint64(n)})
}

// field returns a record's field by name (a zero value when absent, which the typed readers treat
// as a mismatch with the WIT).
func (v value) field(name string) value {
	for i, n := range v.names {
		if n == name {
			return v.items[i]
		}
	}
	return value{kind: 255}
}

// invalidUTF8 names the first string in v that is not valid UTF-8: component strings must be.
func invalidUTF8(v value, path string) (string, bool) {
	switch v.kind {
	case kindString:
		if !utf8.ValidString(v.text) {
			return path, true
		}
	case kindRecord:
		for i, item := range v.items {
			if p, bad := invalidUTF8(item, v.names[i]); bad {
				return p, true
			}
		}
	case kindList, kindTuple:
		for _, item := range v.items {
			if p, bad := invalidUTF8(item, path); bad {
				return p, true
			}
		}
	case kindVariant, kindOption:
		if v.payload != nil {
			return invalidUTF8(*v.payload, path)
		}
	}
	return "", false
}

// setName copies s into a Wasmtime-owned byte vector.
func setName(dst *C.wasm_name_t, s string) {
	if len(s) == 0 {
		C.wasm_byte_vec_new_empty(dst)
		return
	}
	b := []byte(s)
	C.wasm_byte_vec_new(dst, C.size_t(len(b)), (*C.wasm_byte_t)(unsafe.Pointer(&b[0])))
}

// newVals allocates n zeroed values inside *vec (zero is a valid `bool false`, so a partly
// filled vector can still be deleted).
func newVals(vec *C.wasmtime_component_vallist_t, n int) []C.wasmtime_component_val_t {
	C.wasmtime_component_vallist_new_uninit(vec, C.size_t(n))
	if n == 0 {
		return nil
	}
	C.memset(unsafe.Pointer(vec.data), 0, C.size_t(n)*C.size_t(unsafe.Sizeof(C.wasmtime_component_val_t{})))
	return unsafe.Slice(vec.data, n)
}

// boxed moves v into a Wasmtime heap allocation (the payload of variants, options, results).
func boxed(v *value) *C.wasmtime_component_val_t {
	if v == nil {
		return nil
	}
	var tmp C.wasmtime_component_val_t
	v.lower(&tmp)
	return C.wasmtime_component_val_new(&tmp)
}

// lower writes v into dst, which must be zeroed; the allocations belong to dst afterwards
// (free them with wasmtime_component_val_delete).
func (v value) lower(dst *C.wasmtime_component_val_t) {
	dst.kind = C.wasmtime_component_valkind_t(v.kind)
	of := unsafe.Pointer(&dst.of)
	switch v.kind {
	case kindBool:
		*(*C.bool)(of) = C.bool(v.flag)
	case kindU8:
		*(*C.uint8_t)(of) = C.uint8_t(v.num)
	case kindU16:
		*(*C.uint16_t)(of) = C.uint16_t(v.num)
	case kindU32:
		*(*C.uint32_t)(of) = C.uint32_t(v.num)
	case kindU64:
		*(*C.uint64_t)(of) = C.uint64_t(v.num)
	case kindS64:
		*(*C.int64_t)(of) = C.int64_t(int64(v.num))
	case kindString, kindEnum:
		setName((*C.wasm_name_t)(of), v.text)
	case kindList, kindTuple:
		vec := (*C.wasmtime_component_vallist_t)(of)
		if v.kind == kindList && v.flag {
			vals := newVals(vec, len(v.bytes))
			for i, b := range v.bytes {
				vals[i].kind = C.WASMTIME_COMPONENT_U8
				*(*C.uint8_t)(unsafe.Pointer(&vals[i].of)) = C.uint8_t(b)
			}
			return
		}
		vals := newVals(vec, len(v.items))
		for i := range v.items {
			v.items[i].lower(&vals[i])
		}
	case kindRecord:
		rec := (*C.wasmtime_component_valrecord_t)(of)
		C.wasmtime_component_valrecord_new_uninit(rec, C.size_t(len(v.items)))
		if len(v.items) == 0 {
			return
		}
		C.memset(unsafe.Pointer(rec.data), 0, C.size_t(len(v.items))*C.size_t(unsafe.Sizeof(C.wasmtime_component_valrecord_entry_t{})))
		entries := unsafe.Slice(rec.data, len(v.items))
		for i := range v.items {
			setName(&entries[i].name, v.names[i])
			v.items[i].lower(&entries[i].val)
		}
	case kindVariant:
		variant := (*C.wasmtime_component_valvariant_t)(of)
		setName(&variant.discriminant, v.text)
		variant.val = boxed(v.payload)
	case kindOption:
		*(**C.wasmtime_component_val_t)(of) = boxed(v.payload)
	case kindResult:
		res := (*C.wasmtime_component_valresult_t)(of)
		res.is_ok = C.bool(v.flag)
		res.val = boxed(v.payload)
	default:
		panic(fmt.Sprintf("wxcoupon: lowering an unsupported value kind %d", v.kind))
	}
}

// lift reads a value Wasmtime produced (the caller still owns and frees src).
func lift(src *C.wasmtime_component_val_t) value {
	v := value{kind: valueKind(src.kind)}
	of := unsafe.Pointer(&src.of)
	switch v.kind {
	case kindBool:
		v.flag = bool(*(*C.bool)(of))
	case kindU8:
		v.num = uint64(*(*C.uint8_t)(of))
	case kindU16:
		v.num = uint64(*(*C.uint16_t)(of))
	case kindU32:
		v.num = uint64(*(*C.uint32_t)(of))
	case kindU64:
		v.num = uint64(*(*C.uint64_t)(of))
	case kindS64:
		v.num = uint64(int64(*(*C.int64_t)(of)))
	case kindString, kindEnum:
		v.text = goString((*C.wasm_name_t)(of))
	case kindList, kindTuple:
		vec := (*C.wasmtime_component_vallist_t)(of)
		n := int(vec.size)
		if n == 0 {
			return v
		}
		vals := unsafe.Slice(vec.data, n)
		if v.kind == kindList && vals[0].kind == C.WASMTIME_COMPONENT_U8 {
			v.flag = true
			v.bytes = make([]byte, n)
			for i := range vals {
				v.bytes[i] = byte(*(*C.uint8_t)(unsafe.Pointer(&vals[i].of)))
			}
			return v
		}
		v.items = make([]value, n)
		for i := range vals {
			v.items[i] = lift(&vals[i])
		}
	case kindRecord:
		rec := (*C.wasmtime_component_valrecord_t)(of)
		n := int(rec.size)
		if n == 0 {
			return v
		}
		entries := unsafe.Slice(rec.data, n)
		v.names = make([]string, n)
		v.items = make([]value, n)
		for i := range entries {
			v.names[i] = goString(&entries[i].name)
			v.items[i] = lift(&entries[i].val)
		}
	case kindVariant:
		variant := (*C.wasmtime_component_valvariant_t)(of)
		v.text = goString(&variant.discriminant)
		v.payload = liftBoxed(variant.val)
	case kindOption:
		v.payload = liftBoxed(*(**C.wasmtime_component_val_t)(of))
	case kindResult:
		res := (*C.wasmtime_component_valresult_t)(of)
		v.flag = bool(res.is_ok)
		v.payload = liftBoxed(res.val)
	}
	return v
}

func liftBoxed(p *C.wasmtime_component_val_t) *value {
	if p == nil {
		return nil
	}
	v := lift(p)
	return &v
}
