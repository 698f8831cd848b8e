package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the latchkey command: tests start it as a
// child process with LATCHKEY_TEST_BE_CLI=1, so they exercise the real process
// (exit codes, signals, files) without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("LATCHKEY_TEST_BE_SDK_APP") == "1" {
		os.Exit(sdkApp()) // see run_test.go
	}
	if name := os.Getenv("LATCHKEY_TEST_BE_PRINTENV"); name != "" {
		os.Exit(printEnvApp(name)) // see kvref_test.go
	}
	if os.Getenv("LATCHKEY_TEST_BE_CLI") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// cli is a latchkey child process.
type cli struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan struct{}
}

// startCLI starts latchkey with args and extra environment variables. The child
// sees none of the test's LATCHKEY_* variables.
func startCLI(t *testing.T, env []string, args ...string) *cli {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(cleanEnv(), "LATCHKEY_TEST_BE_CLI=1")
	cmd.Env = append(cmd.Env, env...)
	c := &cli{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.stdout, c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
	})
	return c
}

// wait waits for the child to exit and returns its exit code.
func (c *cli) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("latchkey %v still running after %s; stderr:\n%s", c.cmd.Args[1:], within, c.stderr)
		return -1
	}
}

// runCLI runs latchkey to completion and returns its exit code and output.
func runCLI(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	c := startCLI(t, env, args...)
	code = c.wait(t, 30*time.Second)
	return code, c.stdout.String(), c.stderr.String()
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCHKEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// devInfo mirrors dev.json as a script would read it: by its documented names.
type devInfo struct {
	URL           string `json:"url"`
	CACert        string `json:"caCert"`
	TenantID      string `json:"tenantId"`
	AuthorityHost string `json:"authorityHost"`
}

// waitDevJSON waits for dev.json to appear in dir and returns it.
func waitDevJSON(t *testing.T, c *cli, dir string) devInfo {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(filepath.Join(dir, "dev.json"))
		if err == nil {
			var info devInfo
			if err := json.Unmarshal(b, &info); err != nil {
				t.Fatalf("dev.json: %v\n%s", err, b)
			}
			return info
		}
		select {
		case <-c.done:
			t.Fatalf("latchkey dev exited early (%d); stderr:\n%s", c.cmd.ProcessState.ExitCode(), c.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("dev.json did not appear in %s; stderr:\n%s", dir, c.stderr)
	return devInfo{}
}

// httpsClient trusts only the CA in caPath.
func httpsClient(t *testing.T, caPath string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caPath)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			last = sc.Text()
		}
	}
	return last
}

// lockedBuffer is a bytes.Buffer safe for exec's copying goroutine and the
// reading test.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
