package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/devmode"
	"github.com/latchkey/latchkey/internal/store/postgres/pgtest"
)

// TestReplicasShareOnePostgres runs two latchkey processes on one PostgreSQL
// schema, a `latchkey dev` (A) and a `latchkey serve` (B) on A's certificate and
// master key, and checks that a change made through one is what the other
// serves on the very next request: neither keeps state of its own that could
// go stale.
func TestReplicasShareOnePostgres(t *testing.T) {
	dsn := os.Getenv("LATCHKEY_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("LATCHKEY_TEST_POSTGRES not set; PostgreSQL replicas test skipped")
	}
	dsn = pgtest.FreshSchema(t, dsn)
	data := filepath.Join(t.TempDir(), "data")
	devProc := startCLI(t, nil, "dev", "--database", dsn, "--data", data, "--addr", "127.0.0.1:0")
	stopOnCleanup(t, devProc)
	waitDevJSON(t, devProc, data)
	info, err := devmode.ReadInfo(data)
	if err != nil {
		t.Fatal(err)
	}
	serveProc := startCLI(t, nil, "serve", "--database", dsn,
		"--tls-cert", filepath.Join(data, devmode.ServerFile), "--tls-key", filepath.Join(data, devmode.ServerKeyFile),
		"--master-key-file", filepath.Join(data, devmode.MasterKeyFile),
		"--addr", "127.0.0.1:0", "--vault-domain", "localhost")
	stopOnCleanup(t, serveProc)
	addrB := waitStarted(t, serveProc)

	hc := replicaHTTPClient(t, info.CACert)
	_, portA, _ := net.SplitHostPort(strings.TrimPrefix(info.URL, "https://"))
	_, portB, _ := net.SplitHostPort(addrB)
	// Both tokens come from A: B must accept what A signed.
	a := newReplica(t, hc, info, "A", portA)
	b := newReplica(t, hc, info, "B", portB)
	const name = "replicated"

	// B first learns that the secret does not exist, then A creates it.
	b.expect(t, "GET", "/secrets/"+name, nil, http.StatusNotFound)
	want := a.set(t, name, "v1")
	b.read(t, name, "v1", want, a)
	a.read(t, name, "v1", want, a)

	// Each round, the writer changes what the other has just read.
	replicas := []*replica{a, b}
	for round := 2; round <= 7; round++ {
		writer, reader := replicas[round%2], replicas[(round+1)%2]
		value := fmt.Sprintf("v%d", round)
		version := writer.set(t, name, value)
		reader.read(t, name, value, version, writer)
		writer.read(t, name, value, version, writer)
	}

	// Attributes and deletion cross over as well.
	last := a.set(t, name, "last")
	b.read(t, name, "last", last, a)
	a.expect(t, "PATCH", "/secrets/"+name+"/"+last, map[string]any{"attributes": map[string]any{"enabled": false}}, http.StatusOK)
	b.expect(t, "GET", "/secrets/"+name, nil, http.StatusForbidden)
	b.expect(t, "PATCH", "/secrets/"+name+"/"+last, map[string]any{"attributes": map[string]any{"enabled": true}}, http.StatusOK)
	a.read(t, name, "last", last, b)
	b.expect(t, "DELETE", "/secrets/"+name, nil, http.StatusOK)
	a.expect(t, "GET", "/secrets/"+name, nil, http.StatusNotFound)
	a.expect(t, "GET", "/deletedsecrets/"+name, nil, http.StatusOK)
	a.expect(t, "POST", "/deletedsecrets/"+name+"/recover", nil, http.StatusOK)
	b.read(t, name, "last", last, a)
}

// replica is one latchkey process's default vault, with a token for it.
type replica struct {
	name  string
	vault string // https://default.vault.localhost:PORT
	token string
	hc    *http.Client
}

// newReplica gets a token from the dev server (A) for the vault resource of
// the server on port.
func newReplica(t *testing.T, hc *http.Client, info devmode.Info, name, port string) *replica {
	t.Helper()
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {info.Admin.ClientID},
		"client_secret": {info.Admin.ClientSecret},
		"scope":         {"https://vault.localhost:" + port + "/.default"},
	}
	resp, err := hc.PostForm(info.URL+"/"+info.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token for %s: %d %s", name, resp.StatusCode, body)
	}
	return &replica{name: name, vault: "https://default.vault.localhost:" + port, token: tok.AccessToken, hc: hc}
}

// kvReply is the part of a Key Vault answer the test reads.
type kvReply struct {
	Value *string `json:"value"`
	ID    string  `json:"id"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// do sends one Key Vault request and returns the status and decoded body.
func (r *replica) do(t *testing.T, method, p string, body any) (int, kvReply, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, r.vault+p+"?api-version=7.6", rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s through %s: %v", method, p, r.name, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out kvReply
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, string(raw)
}

// expect sends a request that must answer status.
func (r *replica) expect(t *testing.T, method, p string, body any, status int) {
	t.Helper()
	if code, _, raw := r.do(t, method, p, body); code != status {
		t.Fatalf("%s %s through %s = %d %s, want %d", method, p, r.name, code, raw, status)
	}
}

// set sets the secret's value and returns the new version.
func (r *replica) set(t *testing.T, name, value string) string {
	t.Helper()
	code, out, raw := r.do(t, "PUT", "/secrets/"+name, map[string]string{"value": value})
	if code != http.StatusOK || out.Value == nil || *out.Value != value {
		t.Fatalf("set %s=%s through %s = %d %s", name, value, r.name, code, raw)
	}
	return path.Base(out.ID)
}

// read gets the secret's latest version, which must be version with value,
// written through writer. On a stale answer it measures how long the reader
// takes to catch up, for the report, and fails.
func (r *replica) read(t *testing.T, name, value, version string, writer *replica) {
	t.Helper()
	got := func() (int, string, string, string) {
		code, out, raw := r.do(t, "GET", "/secrets/"+name, nil)
		v := "<none>"
		if out.Value != nil {
			v = *out.Value
		}
		return code, v, path.Base(out.ID), raw
	}
	code, v, ver, raw := got()
	if code == http.StatusOK && v == value && ver == version {
		return
	}
	start := time.Now()
	caughtUp := "never, within 5s"
	for time.Since(start) < 5*time.Second {
		if c, v2, ver2, _ := got(); c == http.StatusOK && v2 == value && ver2 == version {
			caughtUp = "after " + time.Since(start).Round(time.Millisecond).String()
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("read %s through %s right after %s set it to %s (version %s) = %d value %s version %s (%s); the reader caught up %s",
		name, r.name, writer.name, value, version, code, v, ver, raw, caughtUp)
}

// replicaHTTPClient trusts the dev CA and dials every *.vault.localhost name at
// 127.0.0.1 on the URL's port; TLS still verifies the vault's name.
func replicaHTTPClient(t *testing.T, caPath string) *http.Client {
	t.Helper()
	hc := httpsClient(t, caPath)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	hc.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(host, ".vault.localhost") {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	return hc
}

var startedAddr = regexp.MustCompile(`msg="latchkey started" addr=(\S+)`)

// waitStarted waits for latchkey's "latchkey started" log line and returns the
// address it listens on.
func waitStarted(t *testing.T, c *cli) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := startedAddr.FindStringSubmatch(c.stderr.String()); m != nil {
			return m[1]
		}
		select {
		case <-c.done:
			t.Fatalf("latchkey %v exited early (%d); stderr:\n%s", c.cmd.Args[1:], c.cmd.ProcessState.ExitCode(), c.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("latchkey %v did not log \"latchkey started\"; stderr:\n%s", c.cmd.Args[1:], c.stderr)
	return ""
}

// stopOnCleanup stops c with SIGTERM when the test ends, so that it closes its
// database connections before the schema is dropped.
func stopOnCleanup(t *testing.T, c *cli) {
	t.Cleanup(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			t.Errorf("latchkey %v still running 15s after SIGTERM", c.cmd.Args[1:])
		}
	})
}
