package main

import (
	"bytes"
	"database/sql"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver of the second connection that tampers with the file

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/devmode"
)

// The audit and access review commands, driven as a person would: the real
// CLI against a real dev server, whose SQLite file the tests change behind
// its back to prove that verification finds it.

const tokenOperation = "Latchkey.Identity/token/action"

// events runs audit list with args and -o json.
func (d *devCLI) events(args ...string) []client.AuditEvent {
	d.t.Helper()
	return decodeOut[[]client.AuditEvent](d.t, d.ok(append([]string{"audit", "list", "-o", "json"}, args...)...))
}

// apiClient is a client of the dev server signed in as a service principal.
func (d *devCLI) apiClient(appID, secret string) *client.Client {
	d.t.Helper()
	info, err := devmode.ReadInfo(d.data)
	if err != nil {
		d.t.Fatal(err)
	}
	hc, err := httpClient(info.CACert)
	if err != nil {
		d.t.Fatal(err)
	}
	return client.New(info.URL, hc, &client.ClientCredentials{TokenURL: client.TokenURL(info.AuthorityHost, info.TenantID),
		ClientID: appID, Secret: secret, HTTPClient: hc})
}

func TestAuditCLIList(t *testing.T) {
	d := startDevCLI(t)
	d.newVaults()
	info, err := devmode.ReadInfo(d.data)
	if err != nil {
		t.Fatal(err)
	}
	sp := decodeOut[client.CreatedServicePrincipal](t, d.ok("sp", "create", "hub-reader"))
	d.ok("role", "assignment", "create", "--assignee", sp.AppID, "--role", "Reader", "--scope", "/hubs/h")
	d.secret("v", "set", "--name", "db", "--value", "first-value-17")
	start := time.Now()

	// As the hub's Reader: a denial, and what it may and may not list.
	d.ok("login", "--service-principal", "-u", sp.AppID, "-p", sp.Password, "--tenant", info.TenantID)
	d.fails("Forbidden", "role", "assignment", "list", "--scope", "/")
	d.fails("Forbidden", "audit", "list")
	d.fails("Forbidden", "audit", "verify")
	mine := d.events("--scope", "/hubs/h", "--all")
	if len(mine) == 0 {
		t.Error("the hub's Reader lists nothing at /hubs/h")
	}
	for _, ev := range mine {
		if ev.Scope != "/hubs/h" && !strings.HasPrefix(ev.Scope, "/hubs/h/") {
			t.Errorf("the hub's Reader sees an event at %q", ev.Scope)
		}
	}
	d.logout()

	all := d.events("--all")
	if len(all) < 10 {
		t.Fatalf("audit list --all = %d events, want every request so far", len(all))
	}
	for i, ev := range all {
		// Events of no request (dev mode's own grants) have no status.
		fromRequest := ev.CorrelationID != ""
		if ev.Time.IsZero() || ev.Operation == "" || ev.Result == "" || fromRequest && ev.Status == 0 || i > 0 && ev.Seq <= all[i-1].Seq {
			t.Errorf("event %d = %+v: missing fields or out of order", i, ev)
		}
	}
	if !slices.ContainsFunc(all, func(ev client.AuditEvent) bool { return ev.Operation == tokenOperation && ev.Scope == "" }) {
		t.Error("audit list at / lacks the token requests")
	}
	cases := []struct {
		name string
		args []string
		ok   func(client.AuditEvent) bool
		min  int
	}{
		{"denied", []string{"--result", "denied"}, func(ev client.AuditEvent) bool { return ev.Result == "denied" }, 3},
		{"principal", []string{"--principal", sp.AppID}, func(ev client.AuditEvent) bool { return ev.PrincipalID == sp.ID }, 4},
		{"operation", []string{"--operation", "Latchkey.KeyVault/vaults/secrets/set"},
			func(ev client.AuditEvent) bool {
				return ev.Operation == "Latchkey.KeyVault/vaults/secrets/setSecret/action"
			}, 1},
		{"scope", []string{"--scope", "/hubs/h/vaults/v"},
			func(ev client.AuditEvent) bool {
				return strings.HasPrefix(ev.Scope, "/hubs/h/vaults/v/") || ev.Scope == "/hubs/h/vaults/v"
			}, 2},
		{"since a duration", []string{"--since", "1h"}, func(ev client.AuditEvent) bool { return time.Since(ev.Time) < time.Hour }, 10},
		{"since a time", []string{"--since", start.UTC().Format(time.RFC3339Nano), "--result", "denied", "--principal", sp.ID},
			func(ev client.AuditEvent) bool {
				return !ev.Time.Before(start) && ev.Result == "denied" && ev.PrincipalID == sp.ID
			}, 3},
		{"until", []string{"--until", start.UTC().Format(time.RFC3339Nano)}, func(ev client.AuditEvent) bool { return ev.Time.Before(start) }, 5},
	}
	for _, tc := range cases {
		got := d.events(append(tc.args, "--all")...)
		if len(got) < tc.min {
			t.Errorf("%s: %d events, want at least %d", tc.name, len(got), tc.min)
		}
		for _, ev := range got {
			if !tc.ok(ev) {
				t.Errorf("%s: listed %+v", tc.name, ev)
			}
		}
	}
	if got := d.ok("audit", "list", "--since", "2999-01-01", "-o", "json"); strings.TrimSpace(got) != "[]" {
		t.Errorf("audit list in the future = %q, want []", got)
	}
	d.fails("--since", "audit", "list", "--since", "yesterday")
	d.fails("--until", "audit", "list", "--until=-2h")
	d.fails("result", "audit", "list", "--result", "ok")
	d.fails("scope", "audit", "list", "--scope", "hubs/h")
	d.fails("--top", "audit", "list", "--top", "0")

	// --top: the latest events, oldest first.
	latest := d.events("--top", "3")
	if len(latest) != 3 || latest[0].Seq >= latest[1].Seq || latest[1].Seq >= latest[2].Seq || latest[2].Seq < all[len(all)-1].Seq {
		t.Errorf("audit list --top 3 = seqs %v, want the 3 latest, oldest first (the last listing ended at %d)", seqs(latest), all[len(all)-1].Seq)
	}
	// The table: a header, and columns aligned under it.
	code, out, stderr := runCLI(t, d.env, "audit", "list", "--top", "5", "--data", d.data)
	if code != 0 || !strings.Contains(stderr, "the latest 5 events") {
		t.Fatalf("audit list --top 5: exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("audit list --top 5 prints %d lines, want a header, a rule and 5 rows:\n%s", len(lines), out)
	}
	col := strings.Index(lines[0], "Operation")
	for _, h := range []string{"Seq", "Time", "Principal", "ClientIp", "Scope", "Result", "Status"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("the header lacks %s: %q", h, lines[0])
		}
	}
	for _, row := range lines[2:] {
		if len(row) <= col || !strings.HasPrefix(row[col:], "Latchkey.") || row[col-1] != ' ' {
			t.Errorf("the Operation column is not aligned at %d:\n%s\n%s", col, lines[0], row)
		}
	}
}

func seqs(es []client.AuditEvent) []int64 {
	out := make([]int64, len(es))
	for i, ev := range es {
		out[i] = ev.Seq
	}
	return out
}

// TestAuditCLIVerify: verify exits 0 on a clean trail and 1, naming the
// event, after one byte of a stored event changed: in a text of the set's
// event (its correlation id, which no other event shares), in the denial's
// reason, and in the last byte of each of their batches' stored events (the
// last event's hash). internal/audit's TestVerifyChangedByte changes every
// byte of a batch in turn.
func TestAuditCLIVerify(t *testing.T) {
	d := startDevCLI(t)
	d.newVaults()
	d.secret("v", "set", "--name", "db", "--value", "first-value-17")
	sp := decodeOut[client.CreatedServicePrincipal](t, d.ok("sp", "create", "stranger"))
	if _, err := d.apiClient(sp.AppID, sp.Password).Vault(t.Context(), "v"); err == nil { // denied: its event has a reason
		t.Fatal("a principal without roles read a vault")
	}
	out := d.ok("audit", "verify")
	if !strings.HasPrefix(out, "audit trail intact: ") || strings.Count(out, "\n") != 1 || !strings.Contains(out, "head ") {
		t.Fatalf("audit verify on a clean trail printed %q", out)
	}
	set := d.events("--operation", "Latchkey.KeyVault/vaults/secrets/setSecret")
	denied := d.events("--result", "denied", "--principal", sp.AppID)
	if len(set) == 0 || len(denied) == 0 || denied[0].Reason == "" {
		t.Fatalf("audit list found %d set events and %d denials (%+v)", len(set), len(denied), denied)
	}

	raw, err := sql.Open("sqlite", "file:"+filepath.Join(d.data, "latchkey.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := t.Context()
	// batchOf returns the batch that holds seq, its last seq and its stored events.
	batchOf := func(seq int64) (batch, last int64, blob []byte) {
		t.Helper()
		err := raw.QueryRowContext(ctx, `SELECT batch, last_seq, events FROM audit_batches WHERE first_seq <= $1 AND last_seq >= $1`, seq).
			Scan(&batch, &last, &blob)
		if err != nil {
			t.Fatal(err)
		}
		return batch, last, blob
	}
	cases := []struct {
		name string
		seq  int64
		at   func(blob []byte) int // the offset of the byte to change
		last bool                  // the byte is in the batch's last event
	}{
		{"the set's correlation id", set[0].Seq, textAt(t, set[0].CorrelationID), false},
		{"the denial's reason", denied[0].Seq, textAt(t, denied[0].Reason), false},
		{"the last byte of the set's batch", set[0].Seq, func(blob []byte) int { return len(blob) - 1 }, true},
		{"the last byte of the denial's batch", denied[0].Seq, func(blob []byte) int { return len(blob) - 1 }, true},
	}
	for _, c := range cases {
		batch, last, blob := batchOf(c.seq)
		want := c.seq
		if c.last {
			want = last
		}
		changed := append([]byte(nil), blob...)
		changed[c.at(blob)] ^= 1
		if _, err := raw.ExecContext(ctx, `UPDATE audit_batches SET events = $1 WHERE batch = $2`, changed, batch); err != nil {
			t.Fatal(err)
		}
		code, _, line := d.run("audit", "verify")
		name := "event " + strconv.FormatInt(want, 10) + " (batch " + strconv.FormatInt(batch, 10) + ")"
		if code != exitError || !strings.HasPrefix(line, "latchkey: the audit trail is broken at "+name) {
			t.Errorf("audit verify after a byte of %s changed: exit %d, %q; want exit 1 naming %s", c.name, code, line, name)
		}
		if _, err := raw.ExecContext(ctx, `UPDATE audit_batches SET events = $1 WHERE batch = $2`, blob, batch); err != nil {
			t.Fatal(err)
		}
	}
	if out := d.ok("audit", "verify"); !strings.HasPrefix(out, "audit trail intact: ") {
		t.Errorf("audit verify with every byte put back printed %q", out)
	}
}

// textAt returns a function that finds the middle byte of text in a batch's
// stored events, where it must appear once.
func textAt(t *testing.T, text string) func(blob []byte) int {
	return func(blob []byte) int {
		t.Helper()
		if n := bytes.Count(blob, []byte(text)); n != 1 {
			t.Fatalf("%q appears %d times in its batch's stored events, want once", text, n)
		}
		return bytes.Index(blob, []byte(text)) + len(text)/2
	}
}

// TestAccessReviewCLI: an expiring secret and a burst of denials made now
// are found, with their fixes, as JSON and as a table.
func TestAccessReviewCLI(t *testing.T) {
	d := startDevCLI(t)
	d.newVaults()
	soon := time.Now().Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	d.secret("v", "set", "--name", "db", "--value", "first-value-17", "--expires", soon)
	sp := decodeOut[client.CreatedServicePrincipal](t, d.ok("sp", "create", "prober"))
	prober := d.apiClient(sp.AppID, sp.Password)
	for range 22 {
		if _, err := prober.Vault(t.Context(), "v"); err == nil {
			t.Fatal("a principal without roles read a vault")
		}
	}
	// The denials are enqueued: wait until the trail shows them.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if n := len(d.events("--principal", sp.ID, "--result", "denied", "--all")); n >= 22 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%d of 22 denials reached the trail", n)
		}
	}

	fs := decodeOut[[]client.AccessFinding](t, d.ok("access", "review", "--days", "1", "-o", "json"))
	find := func(fs []client.AccessFinding, kind, subject string) *client.AccessFinding {
		for i := range fs {
			if fs[i].Kind == kind && fs[i].Subject == subject {
				return &fs[i]
			}
		}
		return nil
	}
	if f := find(fs, "expiringSecret", "/hubs/h/vaults/v/secrets/db"); f == nil || f.Severity != "medium" ||
		!strings.Contains(f.Suggestion, "latchkey keyvault secret set --vault-name v --name db") {
		t.Errorf("expiringSecret of db = %+v in %+v", f, fs)
	}
	if f := find(fs, "denialBurst", sp.ID); f == nil || f.Severity != "high" || !strings.Contains(f.Detail, "22 denied") ||
		!strings.Contains(f.Suggestion, "latchkey audit list --principal "+sp.ID+" --result denied") {
		t.Errorf("denialBurst of prober = %+v in %+v", f, fs)
	}
	if len(fs) == 0 || fs[0].Severity != "high" {
		t.Errorf("findings not most severe first: %+v", fs)
	}
	scoped := decodeOut[[]client.AccessFinding](t, d.ok("access", "review", "--days", "1", "--scope", "/hubs/h", "-o", "json"))
	if find(scoped, "expiringSecret", "/hubs/h/vaults/v/secrets/db") == nil || find(scoped, "denialBurst", sp.ID) != nil {
		t.Errorf("access review --scope /hubs/h = %+v, want the secret and not the burst (a tenant finding)", scoped)
	}
	table := d.ok("access", "review", "--days", "1")
	for _, want := range []string{"SEVERITY", "KIND", "SCOPE", "SUBJECT", "HIGH", "denialBurst", "MEDIUM", "expiringSecret", "fix: ", "latchkey keyvault secret set --vault-name v --name db", "findings in the last 1 day at /"} {
		if !strings.Contains(table, want) {
			t.Errorf("access review table lacks %q:\n%s", want, table)
		}
	}
	if out := d.ok("access", "review", "--days", "1", "--scope", "/hubs/h/vaults/v2"); !strings.Contains(out, "no findings") {
		t.Errorf("access review of an empty vault:\n%s", out)
	}
	d.fails("--days", "access", "review", "--days", "0")
	d.fails("scope", "access", "review", "--scope", "/hubs/h/keys/k")
}

func TestParseAuditTime(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"2026-01-02T15:04:05Z", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), false},
		{"2026-01-02T15:04:05.5+02:00", time.Date(2026, 1, 2, 13, 4, 5, 5e8, time.UTC), false},
		{"2026-01-02", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"7d", now.Add(-7 * 24 * time.Hour), false},
		{"0d", now, false},
		{"-2h", time.Time{}, true},
		{"-1d", time.Time{}, true},
		{"d", time.Time{}, true},
		{"7 days", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"99999999999d", time.Time{}, true},
		{"2026-13-01", time.Time{}, true},
	}
	for _, tc := range cases {
		got, err := parseAuditTime("since", tc.in, now)
		if (err != nil) != tc.err || !got.Equal(tc.want) {
			t.Errorf("parseAuditTime(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), "--since") {
			t.Errorf("parseAuditTime(%q) error %q does not name the flag", tc.in, err)
		}
	}
}

// FuzzParseAuditTime: any flag value gives a time or an error naming the
// flag, never a panic, and never a time after now from a duration.
func FuzzParseAuditTime(f *testing.F) {
	for _, s := range []string{"24h", "7d", "2026-01-02", "2026-01-02T15:04:05Z", "-1d", "99999999999d", "1e9h"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseAuditTime("until", s, now)
		if err != nil && !strings.Contains(err.Error(), "--until") {
			t.Errorf("parseAuditTime(%q) error %q does not name the flag", s, err)
		}
		if _, perr := time.ParseDuration(s); err == nil && perr == nil && got.After(now) {
			t.Errorf("parseAuditTime(%q) = %v, after now", s, got)
		}
	})
}
