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
	"sync"
	"unsafe"
)

// The component's exported interfaces and their functions, as the WIT package names them.
const (
	protocolInterface = "wxpay:coupon/protocol@0.1.0"
	clientInterface   = "wxpay:coupon/client@0.1.0"
)

var exportedFuncs = map[string][]string{
	protocolInterface: {"sign", "verify", "build-request", "parse-response", "outcome-unknown", "outcome-unknown-advice"},
	clientInterface:   {"send-coupon", "query-coupon-stock", "query-coupons-info"},
}

// Runtime is the wxcoupon component compiled by Wasmtime, with a linker that provides what it
// imports (WASI 0.2 and wasi:http). It is safe for concurrent use: each call runs in a store of
// its own, taken from a pool of idle ones. Create one per process and Close it when done.
type Runtime struct {
	engine    *C.wasm_engine_t
	component *C.wasmtime_component_t
	linker    *C.wasmtime_component_linker_t
	exports   map[string]*C.wasmtime_component_export_index_t

	// advice is `outcome-unknown-advice`, asked once at load.
	advice string

	mu     sync.Mutex
	idle   []*session
	closed bool
	// Calls in flight: Close waits for them before freeing the component.
	calls sync.WaitGroup
}

// session is one instance of the component in its own store, used by one call at a time.
type session struct {
	store    *C.wasmtime_store_t
	context  *C.wasmtime_context_t
	instance C.wasmtime_component_instance_t
}

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
	rt := &Runtime{engine: C.wasm_engine_new(), exports: map[string]*C.wasmtime_component_export_index_t{}}
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
	for iface, funcs := range exportedFuncs {
		ifaceIndex := exportIndex(rt.component, nil, iface)
		if ifaceIndex == nil {
			return nil, fmt.Errorf("wxcoupon: the component does not export %s", iface)
		}
		for _, name := range funcs {
			index := exportIndex(rt.component, ifaceIndex, name)
			if index == nil {
				C.wasmtime_component_export_index_delete(ifaceIndex)
				return nil, fmt.Errorf("wxcoupon: the component does not export %s#%s", iface, name)
			}
			rt.exports[name] = index
		}
		C.wasmtime_component_export_index_delete(ifaceIndex)
	}
	// Instantiating once up front reports a component whose imports this host cannot satisfy
	// now, not at the first call.
	s, err := rt.newSession()
	if err != nil {
		return nil, err
	}
	rt.idle = append(rt.idle, s)
	advice, err := rt.invoke("outcome-unknown-advice")
	if err != nil {
		return nil, err
	}
	if advice.kind != kindString {
		return nil, fmt.Errorf("wxcoupon: outcome-unknown-advice returned a %d value, not a string", advice.kind)
	}
	rt.advice = advice.text
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
	for name, index := range rt.exports {
		C.wasmtime_component_export_index_delete(index)
		delete(rt.exports, name)
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
	s := &session{store: C.wasmtime_store_new(rt.engine, nil, nil)}
	s.context = C.wasmtime_store_context(s.store)
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
	return s, nil
}

func (s *session) delete() {
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

// call runs the export `name` with args and returns its single result, which for every wxcoupon
// export but `outcome-unknown*` is `result<T, coupon-error>`: the `ok` payload, or the `err`
// payload as a typed error.
func (rt *Runtime) call(name string, args ...value) (value, error) {
	result, err := rt.invoke(name, args...)
	if err != nil {
		return value{}, err
	}
	if result.kind != kindResult {
		return value{}, fmt.Errorf("wxcoupon: %s returned a %d value, not a result", name, result.kind)
	}
	if !result.flag {
		if result.payload == nil {
			return value{}, fmt.Errorf("wxcoupon: %s failed without an error value", name)
		}
		return value{}, errorFromValue(*result.payload)
	}
	if result.payload == nil {
		return value{}, nil
	}
	return *result.payload, nil
}

// invoke runs the export `name` with args and returns its single result as it is.
func (rt *Runtime) invoke(name string, args ...value) (value, error) {
	s, err := rt.acquire()
	if err != nil {
		return value{}, err
	}
	result, err := rt.callIn(s, name, args)
	// A trap leaves the instance unusable; any other outcome leaves it as good as new.
	rt.release(s, err == nil)
	return result, err
}

func (rt *Runtime) callIn(s *session, name string, args []value) (value, error) {
	index, ok := rt.exports[name]
	if !ok {
		return value{}, fmt.Errorf("wxcoupon: no export %q", name)
	}
	var fn C.wasmtime_component_func_t
	if !C.wasmtime_component_instance_get_func(&s.instance, s.context, index, &fn) {
		return value{}, fmt.Errorf("wxcoupon: the export %q is not a function", name)
	}
	// Lowered arguments live in C memory (Wasmtime owns their nested allocations); the result
	// slot is zeroed, which is a valid value for Wasmtime to overwrite.
	cargs := unsafe.Slice((*C.wasmtime_component_val_t)(C.calloc(C.size_t(len(args)+1), C.size_t(unsafe.Sizeof(C.wasmtime_component_val_t{})))), len(args)+1)
	defer func() {
		for i := range cargs {
			C.wasmtime_component_val_delete(&cargs[i])
		}
		C.free(unsafe.Pointer(&cargs[0]))
	}()
	for i, a := range args {
		a.lower(&cargs[i])
	}
	results := &cargs[len(args)]
	err := wasmtimeError(C.wasmtime_component_func_call(&fn, s.context, &cargs[0], C.size_t(len(args)), results, 1))
	if err == nil {
		err = wasmtimeError(C.wasmtime_component_func_post_return(&fn, s.context))
	}
	if err != nil {
		return value{}, fmt.Errorf("wxcoupon: calling %s: %w", name, err)
	}
	return lift(results), nil
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
