package wxcoupon

// Test support: the repository root, the component this checkout built, and a simulator started
// per test (stopped by closing its stdin).

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

const testKey APIKey = "192006250b4c09247ec02edce69f6a2d"

// repoRoot is two directories up from this package (hosts/go).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// targetDir is $CARGO_TARGET_DIR, else scripts/env.sh's choice for this checkout.
func targetDir() string {
	if d := os.Getenv("CARGO_TARGET_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	sum := sha256.Sum256([]byte(repoRoot()))
	return filepath.Join(home, ".cache", "wxcoupon", "target-"+hex.EncodeToString(sum[:])[:12])
}

func componentPath(t testing.TB) string {
	if p := os.Getenv("WXCOUPON_WASM"); p != "" {
		return p
	}
	cli := os.Getenv("WXCOUPON_CLI")
	if cli == "" {
		cli = filepath.Join(targetDir(), "debug", "wxcoupon")
	}
	out, err := exec.Command(cli, "info").Output()
	if err != nil {
		t.Fatalf("finding the component with `%s info` (build it with cargo build, or set WXCOUPON_WASM): %v", cli, err)
	}
	var info struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(out, &info); err != nil || info.Path == "" {
		t.Fatalf("`wxcoupon info` printed no path: %s", out)
	}
	return info.Path
}

var (
	sharedRuntime     *Runtime
	sharedRuntimeErr  error
	sharedRuntimeOnce sync.Once
)

// testRuntime is the component compiled once for the whole test binary.
func testRuntime(t testing.TB) *Runtime {
	sharedRuntimeOnce.Do(func() {
		var path string
		func() {
			defer func() {
				if r := recover(); r != nil {
					sharedRuntimeErr = fmt.Errorf("%v", r)
				}
			}()
			path = componentPath(t)
		}()
		if sharedRuntimeErr == nil {
			sharedRuntime, sharedRuntimeErr = Load(path)
		}
	})
	if sharedRuntimeErr != nil {
		t.Fatalf("loading the component: %v", sharedRuntimeErr)
	}
	return sharedRuntime
}

func testMerchant(baseURL string) Merchant {
	return Merchant{AppID: "wx5edab3bdfba3dc1c", MchID: "10000098", APIKey: testKey, BaseURL: baseURL}
}

// simulator is a running wxcoupon-simulator: its ready line.
type simulator struct {
	HTTPSBaseURL string `json:"https_base_url"`
	HTTPBaseURL  string `json:"http_base_url"`
	CA           string `json:"ca"`
	ClientCert   string `json:"client_cert"`
	ClientKey    string `json:"client_key"`
	// API v3: the simulator's merchant.
	MchID              string `json:"mch_id"`
	AppID              string `json:"appid"`
	V3MerchantSerialNo string `json:"v3_merchant_serial_no"`
	V3MerchantKey      string `json:"v3_merchant_key"`
	V3PublicKeyID      string `json:"v3_public_key_id"`
	V3PublicKey        string `json:"v3_wechatpay_public_key"`
}

func (s *simulator) rootCAs(t testing.TB) *x509.CertPool {
	pem, err := os.ReadFile(s.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the simulator's CA is not PEM")
	}
	return pool
}

func (s *simulator) certificate(t testing.TB) *tls.Certificate {
	cert, err := tls.LoadX509KeyPair(s.ClientCert, s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return &cert
}

// startSimulator runs the simulator on loopback (HTTPS and plain HTTP) with optional faults
// (TOML values of its [faults] table) until the test ends.
func startSimulator(t testing.TB, faults map[string]string) *simulator {
	bin := os.Getenv("WXCOUPON_SIMULATOR")
	if bin == "" {
		bin = filepath.Join(targetDir(), "debug", "wxcoupon-simulator")
	}
	dir := t.TempDir()
	args := []string{"--exit-on-stdin-eof", "--plain-http", "--cert-dir", dir}
	if len(faults) > 0 {
		config := "[faults]\n"
		for k, v := range faults {
			config += k + " = " + v + "\n"
		}
		path := filepath.Join(dir, "sim.toml")
		if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "RUST_LOG=warn")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the simulator %s: %v", bin, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		t.Fatalf("the simulator exited before it was ready: %v", err)
	}
	var ready struct {
		Event string `json:"event"`
		simulator
	}
	if err := json.Unmarshal(line, &ready); err != nil || ready.Event != "ready" {
		t.Fatalf("unexpected first line from the simulator: %s", line)
	}
	return &ready.simulator
}
