package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
)

// readEvents decodes the audit events among text's lines (the lines that
// are JSON objects), failing the test on one that is not an event.
func readEvents(t *testing.T, text string) []client.AuditEvent {
	t.Helper()
	var events []client.AuditEvent
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			continue
		}
		var e client.AuditEvent
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %q is not an audit event: %v", sc.Text(), err)
		}
		events = append(events, e)
	}
	return events
}

func readFileEvents(t *testing.T, path string) []client.AuditEvent {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return readEvents(t, string(b))
}

// TestAuditSinksWriteRequests starts `latchkey dev` with a configuration
// file naming three audit sinks: a file for the whole tenant, a file for
// hub "default" and stdout for the same hub. Requests through the client,
// a refused token request among them, leave their events in each sink of
// their scope, in order, while the server runs; after SIGTERM every sink
// holds them all.
func TestAuditSinksWriteRequests(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tenantFile := filepath.Join(dir, "logs", "tenant.jsonl")
	hubFile := filepath.Join(dir, "logs", "hub.jsonl")
	cfg := filepath.Join(dir, "latchkey.yaml")
	if err := os.WriteFile(cfg, []byte(`audit:
  retention: 30d
  sinks:
    - name: tenant
      type: file
      path: `+tenantFile+`
    - name: hub
      type: file
      scope: /hubs/default
      path: `+hubFile+`
    - name: console
      type: stdout
      scope: /hubs/default
`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, info := startDevIn(t, data, "--config", cfg)
	hc := httpsClient(t, info.CACert)
	tokenURL := client.TokenURL(info.AuthorityHost, info.TenantID)
	admin := client.New(info.URL, hc, &client.ClientCredentials{TokenURL: tokenURL, ClientID: info.Admin.ClientID, Secret: info.Admin.ClientSecret, HTTPClient: hc})
	ctx := t.Context()
	if _, err := admin.Hub(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutProject(ctx, "default", "audited"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Hubs(ctx); err != nil {
		t.Fatal(err)
	}
	intruder := &client.ClientCredentials{TokenURL: tokenURL, ClientID: info.Admin.ClientID, Secret: "not-the-secret", HTTPClient: hc}
	if _, err := intruder.Token(ctx); err == nil {
		t.Fatal("a token for a wrong secret")
	}

	// While the server runs, the write's event reaches the file.
	waitFor(t, "the project's event in the tenant file", func() bool {
		return slices.ContainsFunc(readFileEvents(t, tenantFile), func(e client.AuditEvent) bool { return e.Scope == "/hubs/default/projects/audited" })
	})
	// The file is a copy the trail can be checked against: each event has
	// the chain head after it. verify --copy agrees with the copy as it is,
	// and names the first event whose hash, or whose presence, differs.
	home := t.TempDir()
	d := &devCLI{t: t, data: data, home: home, env: []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}}
	if out := d.ok("audit", "verify", "--copy", tenantFile); !strings.Contains(out, "the trail agrees with "+tenantFile) {
		t.Errorf("audit verify --copy of the sink's file printed %q", out)
	}
	copied := readFileEvents(t, tenantFile)
	for _, e := range copied {
		if len(e.Hash) != 64 {
			t.Fatalf("event %d in the file has chain hash %q, want 64 hex digits", e.Seq, e.Hash)
		}
	}
	tamper := func(name string, change func(e *client.AuditEvent)) string {
		t.Helper()
		events := slices.Clone(copied)
		change(&events[len(events)/2])
		var b strings.Builder
		for _, e := range events {
			line, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(append(line, '\n'))
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	mid := copied[len(copied)/2].Seq
	d.fails(fmt.Sprintf("event %d's chain hash in the trail differs from the copy's", mid), "audit", "verify", "--copy",
		tamper("other-hash.jsonl", func(e *client.AuditEvent) { e.Hash = strings.Repeat("0", 64) }))
	d.fails("is in the copy but not in the trail", "audit", "verify", "--copy",
		tamper("lost-event.jsonl", func(e *client.AuditEvent) { e.Seq = 1 << 40 }))
	garbage := filepath.Join(dir, "garbage.jsonl")
	os.WriteFile(garbage, []byte("{\"seq\":1,\"hash\":\"00\"}\nnot json\n"), 0o600)
	d.fails("line 2 is not an audit event", "audit", "verify", "--copy", garbage)

	srv.cmd.Process.Signal(syscall.SIGTERM)
	if code := srv.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("latchkey dev exited %d; stderr:\n%s", code, srv.stderr)
	}

	tenant := readFileEvents(t, tenantFile)
	has := func(events []client.AuditEvent, what string, match func(e client.AuditEvent) bool) {
		t.Helper()
		if !slices.ContainsFunc(events, match) {
			t.Errorf("no event for %s among:\n%+v", what, events)
		}
	}
	token := func(result string) func(e client.AuditEvent) bool {
		return func(e client.AuditEvent) bool {
			return e.Operation == "Latchkey.Identity/token/action" && e.Scope == "" && e.Result == result && e.ClientIP == "127.0.0.1"
		}
	}
	has(tenant, "the admin's token", token("allowed"))
	has(tenant, "the refused token", func(e client.AuditEvent) bool { return token("denied")(e) && e.Status == 401 })
	has(tenant, "reading hub default", func(e client.AuditEvent) bool {
		return e.Scope == "/hubs/default" && e.Result == "allowed" && e.PrincipalID != "" && e.CorrelationID != "" && strings.HasPrefix(e.Operation, "Latchkey.")
	})
	has(tenant, "creating the project", func(e client.AuditEvent) bool {
		return e.Scope == "/hubs/default/projects/audited" && e.Result == "allowed" && e.Status/100 == 2
	})
	// A listing authorizes item by item and names no scope: only a
	// tenant-wide sink gets it.
	has(tenant, "listing hubs", func(e client.AuditEvent) bool {
		return e.Scope == "" && e.AuthMethod == "bearer" && strings.HasSuffix(e.Operation, "/read")
	})
	for i := 1; i < len(tenant); i++ {
		if tenant[i].Seq <= tenant[i-1].Seq {
			t.Errorf("the tenant file has event %d after %d: out of order", tenant[i].Seq, tenant[i-1].Seq)
		}
	}

	var inHub []client.AuditEvent
	for _, e := range tenant {
		if e.Scope == "/hubs/default" || strings.HasPrefix(e.Scope, "/hubs/default/") {
			inHub = append(inHub, e)
		}
	}
	if len(inHub) < 2 {
		t.Fatalf("the tenant file holds %d events of hub default, want at least the read and the write", len(inHub))
	}
	for name, got := range map[string][]client.AuditEvent{"hub file": readFileEvents(t, hubFile), "stdout": readEvents(t, srv.stdout.String())} {
		if !slices.EqualFunc(got, inHub, func(a, b client.AuditEvent) bool {
			return a.Seq == b.Seq && a.Scope == b.Scope && a.Operation == b.Operation
		}) {
			t.Errorf("the %s holds %d events, want the %d of hub default in the tenant file:\n%+v", name, len(got), len(inHub), got)
		}
	}
	for _, f := range []string{tenantFile, hubFile} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v; want mode 0600", f, err)
		}
	}
	if log := srv.stderr.String(); !strings.Contains(log, "audit retention") || !strings.Contains(log, "keep=720h0m0s") {
		t.Errorf("the server did not log its audit retention of 30 days:\n%s", log)
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
