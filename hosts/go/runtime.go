package wxcoupon

// The component on the Wasmtime C API: compiled once per Runtime, instantiated into stores that
// are reused one call at a time.

/*
#cgo LDFLAGS: -lwxcoupon_wasmtime -lm -ldl -lpthread
#include <stdlib.h>
#include <wasi.h>
#include <wasmtime.h>

// The message of a Wasmtime error; frees the error.
static wasm_name_t wxc_error_message(wasmtime_error_t *err) {
	wasm_name_t msg;
	wasmtime_error_message(err, &msg);
	wasmtime_error_delete(err);
	return msg;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"unsafe"
)

// export is one function the component exports.
type export int

const (
	fnSign export = iota
	fnVerify
	fnBuildSendCoupon
	fnBuildQueryCouponStock
	fnBuildQueryCouponsInfo
	fnParseSendCoupon
	fnParseQueryCouponStock
	fnParseQueryCouponsInfo
	fnUnreadableBody
	fnSendCouponOutcomeUnknown
	fnOutcomeUnknownAdvice
	fnSendCoupon
	fnQueryCouponStock
	fnQueryCouponsInfo
	exportCount
)

// The component's exported interfaces, as the WIT package names them, and their functions.
const (
	v2Interface       = "wxpay:coupon/v2@0.2.0"
	v2ClientInterface = "wxpay:coupon/v2-client@0.2.0"
)

var exportNames = append([]struct{ iface, name string }{
	{v2Interface, "sign"}, {v2Interface, "verify"},
	{v2Interface, "build-send-coupon"}, {v2Interface, "build-query-coupon-stock"}, {v2Interface, "build-query-coupons-info"},
	{v2Interface, "parse-send-coupon"}, {v2Interface, "parse-query-coupon-stock"}, {v2Interface, "parse-query-coupons-info"},
	{v2Interface, "unreadable-body"}, {v2Interface, "send-coupon-outcome-unknown"}, {v2Interface, "outcome-unknown-advice"},
	{v2ClientInterface, "send-coupon"}, {v2ClientInterface, "query-coupon-stock"}, {v2ClientInterface, "query-coupons-info"},
}, v3ExportNames()...)

// v3Exports are the `v3` functions by name, numbered after the v2 ones.
var v3Exports = map[string]export{}

func init() {
	for i := int(exportCount); i < len(exportNames); i++ {
		v3Exports[exportNames[i].name] = export(i)
	}
}

// v3Fn is the `v3` export name; it panics for a name v3ExportNames does not list (a bug here).
func v3Fn(name string) export {
	fn, ok := v3Exports[name]
	if !ok {
		panic("wxcoupon: no v3 export " + name)
	}
	return fn
}

func (fn export) String() string { return exportNames[fn].name }

// Runtime is the wxcoupon component compiled by Wasmtime, with a linker that provides what it
// imports (WASI 0.2 and wasi:http). It is safe for concurrent use: each call runs in a store of
// its own, taken from a pool of idle ones. Create one per process and Close it when done.
type Runtime struct {
	engine    *C.wasm_engine_t
	component *C.wasmtime_component_t
	linker    *C.wasmtime_component_linker_t
	exports   []*C.wasmtime_component_export_index_t

	// advice is `outcome-unknown-advice`, asked once at load.
	advice string

	mu     sync.Mutex
	idle   []*session
	closed bool
	// Calls in flight: Close waits for them before freeing the component.
	calls sync.WaitGroup
}

// session is one instance of the component in its own store, used by one call at a time, with
// what its calls reuse: the function handles, the arena the arguments are lowered into, and the
// result slot.
type session struct {
	store    *C.wasmtime_store_t
	context  *C.wasmtime_context_t
	instance C.wasmtime_component_instance_t
	funcs    []C.wasmtime_component_func_t
	args     arena
	// result is C memory holding the last call's result, Wasmtime's until the next call
	// overwrites (and frees) it.
	result *cval
	// handles are the v3 merchants opened in this store (merchant.open), each once.
	handles map[*V3Merchant]*C.wasmtime_component_resource_any_t
}

// maxHandles bounds a session's open merchants (a bound, not an LRU: merchants are few).
const maxHandles = 64

// Load reads and compiles the component at path (the `wxcoupon_guest.wasm` that `wxcoupon info`
// names).
func Load(path string) (*Runtime, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wxcoupon: reading the component: %w", err)
	}
	return New(wasm)
}

// New compiles the component from its bytes.
func New(wasm []byte) (*Runtime, error) {
	if len(wasm) == 0 {
		return nil, errors.New("wxcoupon: the component is empty")
	}
	rt := &Runtime{engine: C.wasm_engine_new(), exports: make([]*C.wasmtime_component_export_index_t, len(exportNames))}
	ok := false
	defer func() {
		if !ok {
			rt.free()
		}
	}()
	if err := wasmtimeError(C.wasmtime_component_new(rt.engine, (*C.uint8_t)(unsafe.Pointer(&wasm[0])), C.size_t(len(wasm)), &rt.component)); err != nil {
		return nil, fmt.Errorf("wxcoupon: compiling the component: %w", err)
	}
	rt.linker = C.wasmtime_component_linker_new(rt.engine)
	if err := wasmtimeError(C.wasmtime_component_linker_add_wasip2(rt.linker)); err != nil {
		return nil, fmt.Errorf("wxcoupon: linking WASI: %w", err)
	}
	if err := wasmtimeError(C.wasmtime_component_linker_add_wasi_http(rt.linker)); err != nil {
		return nil, fmt.Errorf("wxcoupon: linking wasi:http: %w", err)
	}
	for fn, name := range exportNames {
		iface := exportIndex(rt.component, nil, name.iface)
		if iface == nil {
			return nil, fmt.Errorf("wxcoupon: the component does not export %s", name.iface)
		}
		rt.exports[fn] = exportIndex(rt.component, iface, name.name)
		C.wasmtime_component_export_index_delete(iface)
		if rt.exports[fn] == nil {
			return nil, fmt.Errorf("wxcoupon: the component does not export %s#%s", name.iface, name.name)
		}
	}
	// Instantiating once up front reports a component whose imports this host cannot satisfy
	// now, not at the first call.
	s, err := rt.newSession()
	if err != nil {
		return nil, err
	}
	rt.idle = append(rt.idle, s)
	if err := rt.invoke(fnOutcomeUnknownAdvice, nil, func(r *cval) error { return lifted(r, &rt.advice) }); err != nil {
		return nil, err
	}
	ok = true
	return rt, nil
}

func exportIndex(component *C.wasmtime_component_t, parent *C.wasmtime_component_export_index_t, name string) *C.wasmtime_component_export_index_t {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.wasmtime_component_get_export_index(component, parent, cname, C.size_t(len(name)))
}

// Close frees the compiled component after the calls in flight have returned. Calls made after
// Close fail.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil
	}
	rt.closed = true
	rt.mu.Unlock()
	rt.calls.Wait()
	rt.free()
	return nil
}

func (rt *Runtime) free() {
	for _, s := range rt.idle {
		s.delete()
	}
	rt.idle = nil
	for fn, index := range rt.exports {
		if index != nil {
			C.wasmtime_component_export_index_delete(index)
			rt.exports[fn] = nil
		}
	}
	if rt.linker != nil {
		C.wasmtime_component_linker_delete(rt.linker)
		rt.linker = nil
	}
	if rt.component != nil {
		C.wasmtime_component_delete(rt.component)
		rt.component = nil
	}
	if rt.engine != nil {
		C.wasm_engine_delete(rt.engine)
		rt.engine = nil
	}
}

func (rt *Runtime) newSession() (*session, error) {
	s := &session{store: C.wasmtime_store_new(rt.engine, nil, nil), funcs: make([]C.wasmtime_component_func_t, len(exportNames))}
	s.context = C.wasmtime_store_context(s.store)
	s.result = (*cval)(C.calloc(1, C.size_t(unsafe.Sizeof(cval{}))))
	// No arguments, environment, preopened directories or stdio: the component needs only
	// randomness (nonces) and, for the client exports, outgoing HTTP.
	if err := wasmtimeError(C.wasmtime_context_set_wasi(s.context, C.wasi_config_new())); err != nil {
		s.delete()
		return nil, fmt.Errorf("wxcoupon: configuring WASI: %w", err)
	}
	C.wasmtime_context_set_wasi_http(s.context)
	if err := wasmtimeError(C.wasmtime_component_linker_instantiate(rt.linker, s.context, rt.component, &s.instance)); err != nil {
		s.delete()
		return nil, fmt.Errorf("wxcoupon: instantiating the component: %w", err)
	}
	for fn, index := range rt.exports {
		if !C.wasmtime_component_instance_get_func(&s.instance, s.context, index, &s.funcs[fn]) {
			s.delete()
			return nil, fmt.Errorf("wxcoupon: the export %s is not a function", export(fn))
		}
	}
	return s, nil
}

func (s *session) delete() {
	for _, h := range s.handles {
		C.wasmtime_component_resource_any_delete(h) // the box only: the store goes below
	}
	s.handles = nil
	if s.result != nil {
		C.wasmtime_component_val_delete(s.result)
		C.free(unsafe.Pointer(s.result))
		s.result = nil
	}
	s.args.free()
	if s.store != nil {
		C.wasmtime_store_delete(s.store)
		s.store = nil
	}
}

var errClosed = errors.New("wxcoupon: the runtime is closed")

func (rt *Runtime) acquire() (*session, error) {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil, errClosed
	}
	rt.calls.Add(1)
	if n := len(rt.idle); n > 0 {
		s := rt.idle[n-1]
		rt.idle = rt.idle[:n-1]
		rt.mu.Unlock()
		return s, nil
	}
	rt.mu.Unlock()
	s, err := rt.newSession()
	if err != nil {
		rt.calls.Done()
	}
	return s, err
}

func (rt *Runtime) release(s *session, reusable bool) {
	rt.mu.Lock()
	if reusable {
		rt.idle = append(rt.idle, s)
	}
	rt.mu.Unlock()
	if !reusable {
		s.delete()
	}
	rt.calls.Done()
}

// arg is one argument of a call, and the name an invalid string in it is reported under: the
// name itself, or name + the record field's wire name when name is "" or ends with ".".
type arg struct {
	value interface{}
	name  string
	// sanitize: replace bytes that are not UTF-8 instead of refusing them (errors this package
	// made itself, which no verdict reads the text of).
	sanitize bool
}

// call runs fn, whose result is `result<T, protocol-error>` or `result<T, call-error>`, and
// lifts the `ok` payload into out (a pointer; nil when T is of no interest) or returns the `err`
// payload as a typed error.
func (rt *Runtime) call(fn export, out interface{}, args ...arg) error {
	return rt.invoke(fn, args, func(r *cval) error {
		if r.kind != C.WASMTIME_COMPONENT_RESULT {
			return fmt.Errorf("wxcoupon: %s returned a value of kind %d, not a result", fn, r.kind)
		}
		res := (*C.wasmtime_component_valresult_t)(unsafe.Pointer(&r.of))
		switch {
		case !bool(res.is_ok) && res.val == nil:
			return fmt.Errorf("wxcoupon: %s failed without an error value", fn)
		case !bool(res.is_ok):
			var e error
			lift(res.val, reflect.ValueOf(&e).Elem())
			return e
		case res.val != nil && out != nil:
			lift(res.val, reflect.ValueOf(out).Elem())
		}
		return nil
	})
}

// lifted lifts a result that is not a `result<…>` into out (a pointer).
func lifted(r *cval, out interface{}) error {
	lift(r, reflect.ValueOf(out).Elem())
	return nil
}

// invoke runs fn with args lowered into a session's arena, and hands its result to read while
// the session is still held (the result lives in the session until its next call).
func (rt *Runtime) invoke(fn export, args []arg, read func(*cval) error) error {
	s, err := rt.acquire()
	if err != nil {
		return err
	}
	trapped, err := s.call(fn, args)
	if err == nil {
		err = readResult(fn, s.result, read)
	}
	// A trap leaves the instance unusable; any other outcome leaves it as good as new.
	rt.release(s, !trapped)
	return err
}

// readResult hands result to read. A component whose function returns another type than the
// WIT says makes the converter panic: that is an error of the call, not of the process.
func readResult(fn export, result *cval, read func(*cval) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("wxcoupon: %s returned a value this host cannot read: %v", fn, r)
		}
	}()
	return read(result)
}

// handle is m's resource in this session's store, opened (`merchant.open`) on first use.
func (s *session) handle(m *V3Merchant) (h *C.wasmtime_component_resource_any_t, trapped bool, err error) {
	if h := s.handles[m]; h != nil {
		return h, false, nil
	}
	if trapped, err := s.call(v3Fn("[static]merchant.open"), []arg{{m.settings, "", false}}); err != nil {
		return nil, trapped, err
	}
	r := s.result
	if r.kind != C.WASMTIME_COMPONENT_RESULT {
		return nil, false, fmt.Errorf("wxcoupon: merchant.open returned a value of kind %d", r.kind)
	}
	res := (*C.wasmtime_component_valresult_t)(unsafe.Pointer(&r.of))
	switch {
	case !bool(res.is_ok) && res.val != nil:
		var e error
		lift(res.val, reflect.ValueOf(&e).Elem())
		return nil, false, e
	case res.val == nil || res.val.kind != C.WASMTIME_COMPONENT_RESOURCE:
		return nil, false, errors.New("wxcoupon: merchant.open returned no merchant")
	}
	// The result's own box goes with the next call's result: keep a copy.
	h = C.wasmtime_component_resource_any_clone(*(**C.wasmtime_component_resource_any_t)(unsafe.Pointer(&res.val.of)))
	if s.handles == nil || len(s.handles) >= maxHandles {
		s.dropHandles()
	}
	s.handles[m] = h
	return h, false, nil
}

// forget drops m's resource from the store (a merchant that did not open after all).
func (s *session) forget(m *V3Merchant) {
	h := s.handles[m]
	if h == nil {
		return
	}
	if err := C.wasmtime_component_resource_any_drop(s.context, h); err != nil {
		C.wasmtime_error_delete(err)
	}
	C.wasmtime_component_resource_any_delete(h)
	delete(s.handles, m)
}

// dropHandles drops every merchant opened in the store (the guest's destructors run).
func (s *session) dropHandles() {
	for _, h := range s.handles {
		if err := C.wasmtime_component_resource_any_drop(s.context, h); err != nil {
			C.wasmtime_error_delete(err)
		}
		C.wasmtime_component_resource_any_delete(h)
	}
	s.handles = map[*V3Merchant]*C.wasmtime_component_resource_any_t{}
}

func (s *session) call(fn export, args []arg) (trapped bool, err error) {
	for i := range args {
		if m, ok := args[i].value.(*V3Merchant); ok {
			h, trapped, err := s.handle(m)
			if err != nil {
				return trapped, err
			}
			args[i].value = resourceHandle{h}
		}
	}
	s.args.reset()
	l := lowerer{arena: &s.args}
	cargs := unsafe.Slice((*cval)(s.args.alloc(len(args)+1, unsafe.Sizeof(cval{}))), len(args)+1)
	for i, a := range args {
		l.sanitize = a.sanitize
		if err := l.lower(&cargs[i], reflect.ValueOf(a.value), "", false); err != nil {
			var invalid *InvalidInputError
			if errors.As(err, &invalid) {
				if invalid.Field == "" {
					invalid.Field = strings.TrimSuffix(a.name, ".")
				} else {
					invalid.Field = a.name + invalid.Field
				}
			}
			return false, err
		}
	}
	// One C call: the handles are the session's, the arguments are in C memory already, and the
	// result slot frees the previous result as Wasmtime writes this one.
	if err := wasmtimeError(C.wasmtime_component_func_call(&s.funcs[fn], s.context, &cargs[0], C.size_t(len(args)), s.result, 1)); err != nil {
		return true, fmt.Errorf("wxcoupon: calling %s: %w", fn, err)
	}
	return false, nil
}

// arena is C memory that one call's arguments are lowered into: Wasmtime only reads (copies)
// them, so the blocks are reset, not freed, between calls.
type arena struct {
	blocks [][]byte // C allocations
	block  int      // the block being filled
	used   int      // bytes used in it
}

const arenaBlock = 16 << 10

// alloc returns n zeroed elements of size bytes, 8-aligned; nil for none.
func (a *arena) alloc(n int, size uintptr) unsafe.Pointer {
	bytes := (n*int(size) + 7) &^ 7
	if bytes == 0 {
		return nil
	}
	for a.block < len(a.blocks) && a.used+bytes > len(a.blocks[a.block]) {
		a.block, a.used = a.block+1, 0
	}
	if a.block == len(a.blocks) {
		size := arenaBlock
		if bytes > size {
			size = bytes
		}
		a.blocks = append(a.blocks, unsafe.Slice((*byte)(C.malloc(C.size_t(size))), size))
	}
	b := a.blocks[a.block][a.used : a.used+bytes]
	a.used += bytes
	for i := range b {
		b[i] = 0
	}
	return unsafe.Pointer(&b[0])
}

func (a *arena) reset() { a.block, a.used = 0, 0 }

func (a *arena) free() {
	for _, b := range a.blocks {
		C.free(unsafe.Pointer(&b[0]))
	}
	a.blocks = nil
	a.reset()
}

// wasmtimeError turns a Wasmtime error into a Go error (nil stays nil) and frees it.
func wasmtimeError(err *C.wasmtime_error_t) error {
	if err == nil {
		return nil
	}
	msg := C.wxc_error_message(err)
	defer C.wasm_byte_vec_delete(&msg)
	return errors.New(goString(&msg))
}

func goString(name *C.wasm_name_t) string {
	if name.size == 0 {
		return ""
	}
	return C.GoStringN((*C.char)(unsafe.Pointer(name.data)), C.int(name.size))
}
