package wxcoupon

// Runtime lifecycle: what Load and New refuse, and a closed Runtime refusing every call (on a
// Runtime of its own: the shared one stays open for the other tests).

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadAndNewRefuseWhatIsNotTheComponent(t *testing.T) {
	for _, tc := range []struct {
		name string
		load func() (*Runtime, error)
	}{
		{"missing file", func() (*Runtime, error) {
			return Load(filepath.Join(t.TempDir(), "no-such.wasm"))
		}},
		{"empty file", func() (*Runtime, error) {
			path := filepath.Join(t.TempDir(), "empty.wasm")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return Load(path)
		}},
		{"nil bytes", func() (*Runtime, error) { return New(nil) }},
		{"garbage bytes", func() (*Runtime, error) { return New([]byte("this is not WebAssembly")) }},
		// A core module's header: WebAssembly, but not a component.
		{"core module", func() (*Runtime, error) { return New([]byte("\x00asm\x01\x00\x00\x00")) }},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			rt, err := tc.load()
			if err == nil {
				rt.Close()
				t.Fatal("loaded without an error")
			}
			if rt != nil {
				t.Errorf("a Runtime came with the error %v", err)
			}
			var typed contractError
			if errors.As(err, &typed) {
				t.Errorf("a load failure is a plain error, got %T", err)
			}
		})
	}
}

func TestClosedRuntimeRefusesCalls(t *testing.T) {
	rt, err := Load(componentPath(t))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{"a": "1"}
	if _, err := rt.Sign(fields, testKey, MD5); err != nil {
		t.Fatalf("Sign before Close: %v", err)
	}
	base := "http://" + closedPort(t)
	native, err := rt.NewClient(testMerchant(base), ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	component, err := rt.NewClient(testMerchant(base), ClientOptions{Transport: TransportComponent})
	if err != nil {
		t.Fatal(err)
	}

	if err := rt.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := rt.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}

	ctx := context.Background()
	for name, call := range map[string]func() error{
		"Sign": func() error { _, err := rt.Sign(fields, testKey, MD5); return err },
		"Verify": func() error {
			_, err := rt.Verify(map[string]string{"a": "1", "sign": "0"}, testKey)
			return err
		},
		"BuildRequest": func() error {
			_, err := rt.BuildRequest(testMerchant(""), QueryCouponStockRequest{CouponStockID: "1757"}, "n")
			return err
		},
		"ParseResponse": func() error {
			_, err := rt.ParseResponse(testMerchant(""), APIQueryCouponStock, 200, fixture(t, "query_coupon_stock_real_unsigned.xml"))
			return err
		},
		"native client": func() error {
			_, err := native.SendCoupon(ctx, sendRequest("1757", "o", "1"))
			return err
		},
		"component client": func() error {
			_, err := component.QueryCouponStock(ctx, QueryCouponStockRequest{CouponStockID: "1757"})
			return err
		},
	} {
		if err := call(); !errors.Is(err, errClosed) {
			t.Errorf("%s after Close = %v, want %v", name, err, errClosed)
		}
	}
}
