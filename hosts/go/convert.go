package wxcoupon

// Between Go values and wxpay:coupon@0.2.0 component values: one converter driven by the Go
// type. struct → record (by `wit` tags, in WIT order), pointer or `,optional` field → option,
// slice → list, array → tuple, Fields → list<tuple<string, string>>, `variant` or a struct with
// a `,case` field → variant, `error` → protocol-error or call-error (errorCases), enumTypes →
// enum. Arguments go straight into the session's C arena, results are read straight from
// Wasmtime's memory: no value tree in between, no C call per value.

/*
#include <wasmtime.h>
*/
import "C"

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

type cval = C.wasmtime_component_val_t

// variant is a variant case to lower; a nil Payload is a case without one.
type variant struct {
	Case    string
	Payload interface{}
}

// resourceHandle is a resource the component made (a v3 merchant), as the C API boxes it: valid
// in its session's store only.
type resourceHandle struct {
	p *C.wasmtime_component_resource_any_t
}

// witEnum is an enum case the Go API spells otherwise (the sign type, the signature policy).
type witEnum string

var (
	variantType, errorType = reflect.TypeOf(variant{}), reflect.TypeOf((*error)(nil)).Elem()
	handleType             = reflect.TypeOf(resourceHandle{})
	// enumTypes are the string types lowered as enums: their values are the cases.
	enumTypes = map[reflect.Type]bool{reflect.TypeOf(witEnum("")): true, reflect.TypeOf(RetryAdvice("")): true, reflect.TypeOf(SignatureProblem("")): true}
	// scalarKinds are the Go kinds lowered as scalars, with their WIT kind (Go's one int is the
	// HTTP status, a u16). A scalar is the first bytes of the value union (little-endian, as
	// every Wasmtime target is); scalarMasks keep those bytes, by WIT kind.
	scalarKinds = map[reflect.Kind]C.wasmtime_component_valkind_t{reflect.Bool: C.WASMTIME_COMPONENT_BOOL, reflect.Uint8: C.WASMTIME_COMPONENT_U8,
		reflect.Int: C.WASMTIME_COMPONENT_U16, reflect.Uint16: C.WASMTIME_COMPONENT_U16, reflect.Uint32: C.WASMTIME_COMPONENT_U32,
		reflect.Uint64: C.WASMTIME_COMPONENT_U64, reflect.Int64: C.WASMTIME_COMPONENT_S64}
	scalarMasks = [C.WASMTIME_COMPONENT_MAP + 1]uint64{C.WASMTIME_COMPONENT_BOOL: 0xff, C.WASMTIME_COMPONENT_U8: 0xff, C.WASMTIME_COMPONENT_U16: 0xffff,
		C.WASMTIME_COMPONENT_U32: 0xffffffff, C.WASMTIME_COMPONENT_U64: ^uint64(0), C.WASMTIME_COMPONENT_S64: ^uint64(0)}
	// errorCases are the Go types of the cases of protocol-error and call-error (whose
	// `protocol` case wraps a protocol-error: a variant payload).
	errorCases = map[string]reflect.Type{}
	plans      sync.Map // reflect.Type → *plan
)

func init() {
	for _, e := range []contractError{&InvalidInputError{}, &UnexpectedStatusError{}, &MalformedResponseError{}, &ProtocolError{}, &BusinessError{}, &SignatureError{}, &TransportError{}, &DeniedError{},
		&RefusedError{}, &AnswerNotVerifiedError{}} {
		errorCases[e.kind()] = reflect.TypeOf(e).Elem()
	}
}

// plan is how a struct type maps onto a record or a variant, read once from its `wit` tags.
type plan struct {
	fields            []planField    // the record's, in WIT order
	byName            map[string]int // WIT name → index in fields
	caseAt, payloadAt int            // the `,case` and `,payload` fields; -1 when none
	payloadByCase     map[string]int // `,payload=a|b`: the field of those cases' payloads
	afterLift         bool           // *T has an afterLift method that finishes a lifted T
}

type planField struct {
	index     int
	wit, wire string // the WIT name; the wire name errors give
	optional  bool   // the zero value is `none`
}

func planOf(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p := &plan{byName: map[string]int{}, caseAt: -1, payloadAt: -1, payloadByCase: map[string]int{}}
	p.afterLift = reflect.PtrTo(t).Implements(reflect.TypeOf((*interface{ afterLift() })(nil)).Elem())
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("wit"), ",")
		f := planField{index: i, wit: tag[0], wire: strings.NewReplacer("message-type", "type", "-", "_").Replace(tag[0])}
		for _, opt := range tag[1:] {
			switch opt {
			case "optional":
				f.optional = true
			case "case":
				p.caseAt = i
			case "payload":
				p.payloadAt = i
			default:
				if cases := strings.TrimPrefix(opt, "payload="); cases != opt {
					for _, c := range strings.Split(cases, "|") {
						p.payloadByCase[c] = i
					}
				}
			}
		}
		if f.wit != "" {
			p.byName[f.wit], p.fields = len(p.fields), append(p.fields, f)
		}
	}
	plans.Store(t, p)
	return p
}

// lowerer writes Go values as component values into a session's arena.
type lowerer struct {
	*arena
	sanitize bool // see arg.sanitize
}

// vals allocates n values in the arena.
func (l *lowerer) vals(n int) *cval { return (*cval)(l.alloc(n, unsafe.Sizeof(cval{}))) }

// name copies s into the arena as dst.
func (l *lowerer) name(dst *C.wasm_name_t, s string) {
	dst.size, dst.data = C.size_t(len(s)), (*C.wasm_byte_t)(l.alloc(len(s), 1))
	copy(unsafe.Slice((*byte)(unsafe.Pointer(dst.data)), len(s)), s)
}

// lower writes v into dst (as `none` when optional and zero). wire names the record field v
// is in ("" at the top): a string that is not UTF-8 is refused under that name.
func (l *lowerer) lower(dst *cval, v reflect.Value, wire string, optional bool) error {
	of, k := unsafe.Pointer(&dst.of), v.Kind()
	switch scalar, isScalar := scalarKinds[k]; {
	case optional || k == reflect.Ptr:
		if dst.kind, *(**cval)(of) = C.WASMTIME_COMPONENT_OPTION, nil; v.IsZero() {
			return nil
		} else if k == reflect.Ptr {
			v = v.Elem()
		}
		*(**cval)(of) = l.vals(1)
		return l.lower(*(**cval)(of), v, wire, false)
	case isScalar && k == reflect.Bool:
		dst.kind, *(*bool)(of) = scalar, v.Bool()
	case isScalar && (k == reflect.Int || k == reflect.Int64):
		dst.kind, *(*int64)(of) = scalar, v.Int()
	case isScalar:
		dst.kind, *(*uint64)(of) = scalar, v.Uint()
	case k == reflect.String:
		s := v.String()
		if dst.kind = C.WASMTIME_COMPONENT_STRING; enumTypes[v.Type()] {
			dst.kind = C.WASMTIME_COMPONENT_ENUM
		} else if !utf8.ValidString(s) && !l.sanitize {
			return &InvalidInputError{Field: wire, Rule: "must be valid UTF-8"}
		} else if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		l.name((*C.wasm_name_t)(of), s)
	case k == reflect.Slice, k == reflect.Array:
		if dst.kind = C.WASMTIME_COMPONENT_LIST; k == reflect.Array {
			dst.kind = C.WASMTIME_COMPONENT_TUPLE
		}
		list := (*C.wasmtime_component_vallist_t)(of)
		list.size, list.data = C.size_t(v.Len()), l.vals(v.Len())
		items := unsafe.Slice(list.data, v.Len())
		for i := range items {
			if err := l.lower(&items[i], v.Index(i), wire, false); err != nil {
				return err
			}
		}
	case v.Type() == handleType: // a resource the session opened: the C API copies it (a borrow)
		dst.kind = C.WASMTIME_COMPONENT_RESOURCE
		*(**C.wasmtime_component_resource_any_t)(of) = v.Interface().(resourceHandle).p
	case v.Type() == variantType:
		vv := (*C.wasmtime_component_valvariant_t)(of)
		dst.kind, vv.val = C.WASMTIME_COMPONENT_VARIANT, nil
		if l.name(&vv.discriminant, v.Field(0).String()); v.Field(1).IsNil() {
			return nil
		}
		vv.val = l.vals(1)
		return l.lower(vv.val, v.Field(1).Elem(), wire, false)
	case planOf(v.Type()).payloadAt >= 0: // an error case whose payload is not a record
		return l.lower(dst, v.Field(planOf(v.Type()).payloadAt), wire, false)
	default: // a record
		p, rec := planOf(v.Type()), (*C.wasmtime_component_valrecord_t)(of)
		dst.kind, rec.size = C.WASMTIME_COMPONENT_RECORD, C.size_t(len(p.fields))
		rec.data = (*C.wasmtime_component_valrecord_entry_t)(l.alloc(len(p.fields), unsafe.Sizeof(C.wasmtime_component_valrecord_entry_t{})))
		entries := unsafe.Slice(rec.data, len(p.fields))
		for i, f := range p.fields {
			l.name(&entries[i].name, f.wit)
			if err := l.lower(&entries[i].val, v.Field(f.index), f.wire, f.optional); err != nil {
				return err
			}
		}
	}
	return nil
}

// text is a Wasmtime string or enum case, valid while the value holding it lives.
func text(n *C.wasm_name_t) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(n.data)), int(n.size)) }

func textOf(v *cval) []byte { return text((*C.wasm_name_t)(unsafe.Pointer(&v.of))) }

// lift reads src (Wasmtime's) into v, which must be settable.
func lift(src *cval, v reflect.Value) {
	of := unsafe.Pointer(&src.of)
	if v.Kind() == reflect.Struct && src.kind != C.WASMTIME_COMPONENT_RECORD && src.kind != C.WASMTIME_COMPONENT_VARIANT {
		v = v.Field(planOf(v.Type()).payloadAt) // an error case whose payload is not a record
	}
	switch src.kind {
	case C.WASMTIME_COMPONENT_STRING, C.WASMTIME_COMPONENT_ENUM:
		if v.Kind() == reflect.Slice {
			v.SetBytes(append([]byte{}, textOf(src)...))
		} else {
			v.SetString(string(textOf(src)))
		}
	case C.WASMTIME_COMPONENT_OPTION:
		if p := *(**cval)(of); p != nil && v.Kind() == reflect.Ptr {
			v.Set(reflect.New(v.Type().Elem()))
			lift(p, v.Elem())
		} else if p != nil {
			lift(p, v)
		}
	case C.WASMTIME_COMPONENT_LIST, C.WASMTIME_COMPONENT_TUPLE:
		list := (*C.wasmtime_component_vallist_t)(of)
		items := unsafe.Slice(list.data, int(list.size))
		if v.Kind() == reflect.Map { // Fields: the tuples' strings read in place
			f := make(Fields, len(items))
			for i := range items {
				kv := unsafe.Slice((*C.wasmtime_component_vallist_t)(unsafe.Pointer(&items[i].of)).data, 2)
				f[string(textOf(&kv[0]))] = string(textOf(&kv[1]))
			}
			v.Set(reflect.ValueOf(f))
			return
		} else if v.Kind() == reflect.Slice {
			v.Set(reflect.MakeSlice(v.Type(), len(items), len(items)))
		}
		for i := range items {
			lift(&items[i], v.Index(i))
		}
	case C.WASMTIME_COMPONENT_RECORD:
		p, rec := planOf(v.Type()), (*C.wasmtime_component_valrecord_t)(of)
		for _, e := range unsafe.Slice(rec.data, int(rec.size)) {
			if i, ok := p.byName[string(text(&e.name))]; ok {
				lift(&e.val, v.Field(p.fields[i].index))
			}
		}
		finish(p, v)
	case C.WASMTIME_COMPONENT_VARIANT:
		vv := (*C.wasmtime_component_valvariant_t)(of)
		switch t, known := errorCases[string(text(&vv.discriminant))]; {
		case v.Type() != errorType: // a `,case` struct
			p, name := planOf(v.Type()), string(text(&vv.discriminant))
			at, byCase := p.payloadByCase[name]
			if !byCase {
				at = p.payloadAt
			}
			if v.Field(p.caseAt).SetString(name); vv.val != nil && at >= 0 {
				lift(vv.val, v.Field(at))
			}
			finish(p, v)
		case string(text(&vv.discriminant)) == "protocol" && vv.val != nil && vv.val.kind == C.WASMTIME_COMPONENT_VARIANT: // call-error.protocol
			lift(vv.val, v)
		case !known:
			v.Set(reflect.ValueOf(fmt.Errorf("wxcoupon: unknown error case %q", text(&vv.discriminant))))
		default:
			e := reflect.New(t)
			if v.Set(e); vv.val != nil {
				lift(vv.val, e.Elem()) // a record, or the `,payload` field's value
			}
		}
	default: // a scalar
		n := *(*uint64)(of) & scalarMasks[src.kind]
		if k := v.Kind(); k == reflect.Bool {
			v.SetBool(n != 0)
		} else if k == reflect.Int || k == reflect.Int64 {
			v.SetInt(int64(n))
		} else {
			v.SetUint(n)
		}
	}
}

// resultParts are a `result`'s case and payload (nil when none); isResult is false for another
// value.
func resultParts(r *cval) (ok bool, val *cval, isResult bool) {
	if r.kind != C.WASMTIME_COMPONENT_RESULT {
		return false, nil, false
	}
	res := (*C.wasmtime_component_valresult_t)(unsafe.Pointer(&r.of))
	return bool(res.is_ok), res.val, true
}

// liftInto lifts v into out (a pointer).
func liftInto(v *cval, out interface{}) { lift(v, reflect.ValueOf(out).Elem()) }

// finish runs the afterLift of a lifted struct that has one.
func finish(p *plan, v reflect.Value) {
	if p.afterLift {
		v.Addr().Interface().(interface{ afterLift() }).afterLift()
	}
}

// callError is the `call-error` a typed Go error stands for, so the component can judge errors
// this package made itself.
func callError(err contractError) variant {
	c := variant{err.kind(), reflect.ValueOf(err).Elem().Interface()}
	if c.Case == "transport" || c.Case == "denied" {
		return c
	}
	return variant{"protocol", c}
}

var stockStatusCodes = map[string]uint32{"inactive": 1, "under-review": 2, "active": 4, "voided": 8, "sending-stopped": 16}

// afterLift gives a documented status its wire number (`unknown` carries its own).
func (s *StockStatus) afterLift() {
	if s.Name != "unknown" {
		s.Code = stockStatusCodes[s.Name]
	}
}

// afterLift derives Retryable from the advice, as the core's is_retryable does.
func (e *BusinessError) afterLift() { e.Retryable = e.Advice == Retry || e.Advice == RetryLater }
