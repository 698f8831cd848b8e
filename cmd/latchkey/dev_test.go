package main

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/seal"
)

var guidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestDevServesAndRestarts starts `latchkey dev` as a real process, checks what it
// serves and writes, stops it with SIGTERM, and starts it again on the same data.
func TestDevServesAndRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := startCLI(t, nil, "dev", "--data", dir, "--addr", "127.0.0.1:0")
	info := waitDevJSON(t, first, dir)

	u, err := url.Parse(info.URL)
	if err != nil || u.Scheme != "https" || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Port() == "0" {
		t.Errorf("dev.json url = %q, want https://127.0.0.1:<port>", info.URL)
	}
	if info.AuthorityHost != info.URL+"/" {
		t.Errorf("dev.json authorityHost = %q, want %q", info.AuthorityHost, info.URL+"/")
	}
	if !filepath.IsAbs(info.CACert) || info.CACert != filepath.Join(dir, "ca.pem") {
		t.Errorf("dev.json caCert = %q, want the absolute path %s", info.CACert, filepath.Join(dir, "ca.pem"))
	}
	if !guidPattern.MatchString(info.TenantID) {
		t.Errorf("dev.json tenantId = %q, want a GUID", info.TenantID)
	}
	for _, f := range []string{"master.key", "ca-key.pem", "server-key.pem", "dev.json"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, err %v; want 0600", f, fi.Mode().Perm(), err)
		}
	}
	if !strings.Contains(first.stderr.String(), "NOT for production") {
		t.Errorf("first start did not warn about the dev master key; stderr:\n%s", first.stderr)
	}

	client := httpsClient(t, info.CACert)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, body := get(t, client, info.URL+path); code != 200 {
			t.Errorf("GET %s = %d %s, want 200", path, code, body)
		}
	}
	// /metrics exports the services' counters (serve.go registers them), not
	// only the HTTP layer's and the Go runtime's.
	_, metrics := get(t, client, info.URL+"/metrics")
	for _, family := range []string{"latchkey_http_requests_total", "latchkey_tokens_issued_total", "latchkey_access_decisions_total",
		`latchkey_cache_lookups_total{cache="secrets"`, "latchkey_audit_queue_capacity", "go_goroutines", "process_open_fds"} {
		if !strings.Contains(metrics, "\n"+family) {
			t.Errorf("/metrics lacks %s", family)
		}
	}
	// Each vault is its own host under vault.localhost: the certificate must
	// cover it. Dial 127.0.0.1 but verify the vault name.
	verifyName(t, info, "default.vault.localhost")
	if out := first.stdout.String(); !strings.Contains(out, info.URL) || !strings.Contains(out, "Ctrl+C") {
		t.Errorf("the start summary lacks the URL or how to stop:\n%s", out)
	}

	caBefore, _ := os.ReadFile(info.CACert)
	keyBefore, _ := os.ReadFile(filepath.Join(dir, "master.key"))
	first.cmd.Process.Signal(syscall.SIGTERM)
	if code := first.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("after SIGTERM latchkey dev exited %d, want 0; stderr:\n%s", code, first.stderr)
	}

	os.Remove(filepath.Join(dir, "dev.json"))
	second := startCLI(t, nil, "dev", "--data", dir, "--addr", "127.0.0.1:0")
	again := waitDevJSON(t, second, dir)
	if again.TenantID != info.TenantID {
		t.Errorf("tenant changed across restarts: %s then %s", info.TenantID, again.TenantID)
	}
	caAfter, _ := os.ReadFile(info.CACert)
	keyAfter, _ := os.ReadFile(filepath.Join(dir, "master.key"))
	if !bytes.Equal(caBefore, caAfter) || !bytes.Equal(keyBefore, keyAfter) {
		t.Error("the second start replaced the CA or the master key instead of reusing them")
	}
	if strings.Contains(second.stderr.String(), "generated a development master key") {
		t.Error("the second start claims to have generated a master key")
	}
	if code, _ := get(t, httpsClient(t, again.CACert), again.URL+"/healthz"); code != 200 {
		t.Errorf("healthz after restart = %d", code)
	}
	second.cmd.Process.Signal(syscall.SIGINT)
	if code := second.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("after SIGINT latchkey dev exited %d, want 0", code)
	}

	// The same data with another master key must not start.
	other, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, []string{"LATCHKEY_MASTER_KEY=" + other.Encode()}, "dev", "--data", dir, "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(lastLine(stderr), "is not the one this database was sealed with") {
		t.Errorf("wrong master key: exit %d, last line %q", code, lastLine(stderr))
	}
}

// verifyName makes a TLS handshake with the dev server as if it were name,
// verifying the certificate against the dev CA.
func verifyName(t *testing.T, info devInfo, name string) {
	t.Helper()
	u, _ := url.Parse(info.URL)
	client := httpsClient(t, info.CACert)
	cfg := client.Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.ServerName = name
	conn, err := tls.Dial("tcp", u.Host, cfg)
	if err != nil {
		t.Errorf("TLS as %s: %v", name, err)
		return
	}
	conn.Close()
}
